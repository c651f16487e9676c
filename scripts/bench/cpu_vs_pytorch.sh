#!/usr/bin/env bash
# sweeprun vs PyTorch on this CPU, same model, same recipe, in one run.
# usage: scripts/bench/cpu_vs_pytorch.sh MODEL EPOCHS [TRAIN_SUBSET]
#   e.g. scripts/bench/cpu_vs_pytorch.sh gecco 10
#        scripts/bench/cpu_vs_pytorch.sh baseline_cnn 1
# PyTorch (Debian's python3-torch) gets its best thread count: 1 and all
# cores are probed on 50 steps and the faster one trains. sweeprun uses all
# cores. Prints a per-epoch table: images/second and test accuracy for both
# and the speed ratio.
set -euo pipefail
cd "$(dirname "$0")/../.."
model="${1:?model}"; epochs="${2:?epochs}"; subset="${3:-0}"
py=/usr/bin/python3
$py -c 'import torch' 2>/dev/null || SWEEPRUN_WITH_TORCH=1 bash scripts/setup.sh
[[ -x build/runner/sweeprun ]] || bash scripts/build.sh >/dev/null
bash scripts/fetch-mnist.sh >/dev/null
data="$PWD/data/mnist"
cores="$(nproc)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

best_threads=1 best_rate=0
for t in 1 "$cores"; do
  rate="$($py scripts/bench/torch_reference.py --model "$model" --data "$data" --threads "$t" \
           --max-steps 50 --train-subset "$subset" | awk '{print $4}')"
  echo "probe: PyTorch $t thread(s): $rate images/s"
  if awk -v a="$rate" -v b="$best_rate" 'BEGIN{exit !(a > b)}'; then best_rate="$rate"; best_threads="$t"; fi
done

MNIST_DIR="$data" ./build/runner/sweeprun train --model "$model" --epochs "$epochs" --batch-size 64 \
  --optimizer adam --lr 1e-3 --train-subset "$subset" --threads "$cores" --out "$work/run.h5" \
  | tee "$work/sweeprun.log" | grep '^epoch' >&2 || true
$py scripts/bench/torch_reference.py --model "$model" --data "$data" --threads "$best_threads" \
  --epochs "$epochs" --train-subset "$subset" >"$work/torch.log"

cpu="$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
echo
echo "## $model, $epochs epoch(s), batch 64, Adam 1e-3 — $cpu, $cores cores"
echo "sweeprun: $cores threads; PyTorch $($py -c 'import torch; print(torch.__version__)'): $best_threads thread(s)"
echo
echo "| epoch | sweeprun img/s | sweeprun test acc | PyTorch img/s | PyTorch test acc | speed ratio |"
echo "|---:|---:|---:|---:|---:|---:|"
paste <(grep '^epoch' "$work/sweeprun.log" | sed -E 's/.*acc ([0-9.]+)%.*acc ([0-9.]+)%.*\(([0-9]+) img\/s\)/\3 \2/') \
      <(awk '{print $4, $6}' "$work/torch.log") |
  awk '{printf "| %d | %.0f | %.2f%% | %.0f | %.2f%% | %.2fx |\n", NR, $1, $2, $3, 100*$4, $1/$3}'
