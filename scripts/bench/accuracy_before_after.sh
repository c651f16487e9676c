#!/usr/bin/env bash
# Test accuracy before and after a change to the CPU kernels: the same
# models, seeds, images and epochs trained by two sweeprun-bench builds,
# side by side (issue 18's "no loss of accuracy": a faster kernel that
# rounds differently, e.g. Winograd convolutions, must land within seed
# noise of the old one).
#
# usage: scripts/bench/accuracy_before_after.sh --before BENCH [options]
#   --before BENCH    the other build's sweeprun-bench (e.g. a worktree of
#                     the commit before the change)
#   --after BENCH     this build's (default ./build/runner/sweeprun-bench)
#   --models "A B"    default: baseline_cnn spinalnet efficient_capsnet
#   --seeds "0 1 2"   one run per seed and side
#   --epochs N        default 3
#   --train N         training images (default 12000; the validation split
#                     is off, nothing is chosen on the test set: the last
#                     epoch's test accuracy is reported)
# MNIST_DIR: the dataset (default data/mnist). Threads: all cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
before="" after=./build/runner/sweeprun-bench
models="baseline_cnn spinalnet efficient_capsnet" seeds="0 1 2" epochs=3 train=12000
while (($#)); do
  case "$1" in
    --before) before="$2"; shift 2 ;;
    --after) after="$2"; shift 2 ;;
    --models) models="$2"; shift 2 ;;
    --seeds) seeds="$2"; shift 2 ;;
    --epochs) epochs="$2"; shift 2 ;;
    --train) train="$2"; shift 2 ;;
    *) echo "accuracy_before_after.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[[ -n "$before" ]] || { echo "accuracy_before_after.sh: --before BENCH is required" >&2; exit 2; }
export MNIST_DIR="${MNIST_DIR:-data/mnist}"
cores=$(nproc)

# final test accuracy (%) of one run
acc() {  # bench model seed
  "$1" train model="$2" seed="$3" epochs="$epochs" train_subset="$train" test_subset=10000 val_split=0 \
    augment=none threads="$cores" | awk -v e="$epochs" '$1 == "epoch" && $2 == e {printf "%.2f\n", 100 * $NF}'
}
stats() { awk '{s += $1; q += $1 * $1; n++} END {m = s / n; v = n > 1 ? (q - n * m * m) / (n - 1) : 0; printf "%.2f ± %.2f", m, sqrt(v < 0 ? 0 : v)}'; }

echo "| model | seed | before: test acc % | after: test acc % |"
echo "|---|---:|---:|---:|"
summary=""
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
for m in $models; do
  : >"$tmp/b"; : >"$tmp/a"
  for s in $seeds; do
    b=$(acc "$before" "$m" "$s"); a=$(acc "$after" "$m" "$s")
    echo "$b" >>"$tmp/b"; echo "$a" >>"$tmp/a"
    echo "| $m | $s | $b | $a |"
  done
  summary+="| $m | $(stats <"$tmp/b") | $(stats <"$tmp/a") |"$'\n'
done
echo
echo "$epochs epochs on $train images, test accuracy on the 10,000 test images after the last epoch; mean ± sd over seeds $seeds:"
echo
echo "| model | before | after |"
echo "|---|---:|---:|"
printf '%s' "$summary"
