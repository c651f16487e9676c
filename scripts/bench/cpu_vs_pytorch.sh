#!/usr/bin/env bash
# sweeprun vs PyTorch on this CPU: every model, both sides, in one run.
#
# usage: scripts/bench/cpu_vs_pytorch.sh [options]
#   --python PY       the Python whose PyTorch is compared (default: python3);
#                     e.g. a venv with PyPI's torch:
#                       python3 -m venv DIR && DIR/bin/pip install torch torchvision numpy h5py
#   --python2 PY      a second PyTorch, shown as a second column (e.g. Debian's
#                     python3-torch 1.13: /usr/bin/python3)
#   --repeats K       measurements per side and model, interleaved (default 3);
#                     the table shows the best of K
#   --models "A B"    which models (default: all six)
#   --scale F         multiply the timed steps (default 1)
#   --profile "A B"   per-layer profiles of these models, both sides (default:
#                     baseline_cnn)
#   --no-profile      no per-layer profile
#   --no-scaling      skip the batch-size scaling (baseline_cnn, gecco: 32..256)
#   --before BENCH    another build's sweeprun-bench (e.g. of the commit before
#                     a change), measured in the same repeats: a "before" column,
#                     and its profile next to this build's
#
# What is measured: training throughput (images/second of the training
# phase: forward, loss, backward, optimizer; no evaluation) at batch 64 with
# each model's optimizer recipe (`sweeprun models`), augmentation off, on
# MNIST held in memory on both sides. sweeprun: sweeprun-bench train, all
# cores. PyTorch: scripts/bench/torch_reference.py (the project's twins),
# at 1 and at all cores; its better one counts. Each side trains two short
# epochs of the same images and the second is timed (the first pays for
# oneDNN's primitive creation on both sides, arena growth, allocator
# warm-up). The machine may be shared: each repeat runs sweeprun, PyTorch at
# 1 thread and PyTorch at all cores back to back, and the best of the
# repeats is kept per side, so a burst of load elsewhere hits one sample,
# not one side.
set -euo pipefail
cd "$(dirname "$0")/../.."
py=python3 py2="" repeats=3 models="gecco gecco_enhanced baseline_cnn spinalnet efficient_capsnet resnet"
scale=1 profile_models=baseline_cnn do_scaling=1 before=""
while (($#)); do
  case "$1" in
    --python) py="$2"; shift 2 ;;
    --python2) py2="$2"; shift 2 ;;
    --repeats) repeats="$2"; shift 2 ;;
    --models) models="$2"; shift 2 ;;
    --scale) scale="$2"; shift 2 ;;
    --profile) profile_models="$2"; shift 2 ;;
    --no-profile) profile_models=""; shift ;;
    --no-scaling) do_scaling=0; shift ;;
    --before) before="$2"; shift 2 ;;
    *) echo "cpu_vs_pytorch.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
for p in "$py" ${py2:+"$py2"}; do
  "$p" -c 'import torch, torchvision' 2>/dev/null ||
    { echo "cpu_vs_pytorch.sh: $p has no torch/torchvision (see --python)" >&2; exit 2; }
done
[[ -x build/runner/sweeprun-bench ]] || bash scripts/build.sh >/dev/null
bash scripts/fetch-mnist.sh >/dev/null
data="$PWD/data/mnist"
[[ -d "$data" ]] || data="${MNIST_DIR:?no data/mnist; set MNIST_DIR}"
cores="$(nproc)"
bench=./build/runner/sweeprun-bench

# Timed steps per model at batch 64 (a few seconds each on 2 cores).
steps_of() {
  local s
  case "$1" in
    gecco|gecco_enhanced) s=300 ;;
    baseline_cnn|efficient_capsnet) s=20 ;;
    spinalnet) s=8 ;;
    resnet) s=4 ;;
  esac
  awk -v s="$s" -v f="$scale" 'BEGIN { n = int(s * f); print (n < 2 ? 2 : n) }'
}

# sweeprun: images/s of the second epoch over `steps` batches.
sweeprun_rate() {  # model batch steps [bench]
  MNIST_DIR="$data" "${4:-$bench}" train model="$1" batch_size="$2" train_subset=$(($2 * $3)) test_subset=64 \
    epochs=2 augment=none val_split=0 threads="$cores" | awk '/^epoch 2 / {print $8}'
}

# PyTorch: the same, second of two epochs cut at `steps` batches.
torch_rate() {  # python model batch steps threads
  "$1" scripts/bench/torch_reference.py --model "$2" --data "$data" --batch-size "$3" --max-steps "$4" \
    --threads "$5" --epochs 2 2>/dev/null | awk '/^epoch 2 / {print $4}'
}

best() { sort -g | tail -1; }
ver() { "$1" -c 'import torch; print(torch.__version__)'; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# One model at one batch size: best-of-K for sweeprun and each PyTorch at
# 1 and all cores; prints "sweeprun torch torch_threads [torch2 torch2_threads]".
measure() {  # model batch steps
  local m="$1" b="$2" s="$3" f="$work/$1-$2"
  : >"$f.s"; : >"$f.t1"; : >"$f.tn"; : >"$f.u1"; : >"$f.un"; : >"$f.b"
  for ((r = 1; r <= repeats; r++)); do
    sweeprun_rate "$m" "$b" "$s" >>"$f.s"
    [[ -z "$before" ]] || sweeprun_rate "$m" "$b" "$s" "$before" >>"$f.b"
    torch_rate "$py" "$m" "$b" "$s" 1 >>"$f.t1"
    torch_rate "$py" "$m" "$b" "$s" "$cores" >>"$f.tn"
    if [[ -n "$py2" ]]; then
      torch_rate "$py2" "$m" "$b" "$s" 1 >>"$f.u1"
      torch_rate "$py2" "$m" "$b" "$s" "$cores" >>"$f.un"
    fi
  done
  local s1 t1 tn out
  s1="$(best <"$f.s")"; t1="$(best <"$f.t1")"; tn="$(best <"$f.tn")"
  out="$s1 $(awk -v a="$t1" -v b="$tn" -v c="$cores" 'BEGIN { if (a >= b) print a, 1; else print b, c }')"
  if [[ -n "$py2" ]]; then
    local u1 un
    u1="$(best <"$f.u1")"; un="$(best <"$f.un")"
    out="$out $(awk -v a="$u1" -v b="$un" -v c="$cores" 'BEGIN { if (a >= b) print a, 1; else print b, c }')"
  else
    out="$out 0 0"
  fi
  echo "$out $(best <"$f.b")"
}

goal_of() { case "$1" in gecco|gecco_enhanced) echo 3.0 ;; *) echo 1.5 ;; esac; }

cpu="$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
v1="$(ver "$py")"
echo "# sweeprun vs PyTorch, CPU training throughput — $(date -u +%Y-%m-%d)"
echo
echo "Machine: $cpu, $cores cores ($(uname -m)); batch 64, each model's optimizer recipe, augmentation off."
echo "sweeprun $(git rev-parse --short HEAD) on $cores threads (oneDNN $(dpkg-query -W -f='${Version}' libdnnl2 2>/dev/null || echo '?'))."
echo "PyTorch $v1 ($py) at its best of 1 and $cores threads${py2:+; second column: PyTorch $(ver "$py2") ($py2)}."
echo "Best of $repeats interleaved runs per side; timed: the second of two epochs of N steps."
echo
hdr="| model | steps | sweeprun img/s | PyTorch $v1 img/s (threads) | ratio | goal |"
sep="|---|---:|---:|---:|---:|---:|"
if [[ -n "$before" ]]; then
  hdr="$hdr before img/s | before ratio |"
  sep="$sep---:|---:|"
fi
if [[ -n "$py2" ]]; then
  hdr="$hdr PyTorch $(ver "$py2") img/s (threads) | ratio |"
  sep="$sep---:|---:|"
fi
table="$hdr"$'\n'"$sep"
for m in $models; do
  s="$(steps_of "$m")"
  read -r sr tr tt ur ut br <<<"$(measure "$m" 64 "$s")"
  row="$(awk -v m="$m" -v s="$s" -v a="$sr" -v b="$tr" -v t="$tt" -v g="$(goal_of "$m")" \
    'BEGIN { printf "| %s | %d | %.0f | %.0f (%d) | %.2fx | %.1fx |", m, s, a, b, t, a / b, g }')"
  if [[ -n "$before" ]]; then
    row="$row$(awk -v a="$br" -v b="$tr" 'BEGIN { printf " %.0f | %.2fx |", a, a / b }')"
  fi
  if [[ -n "$py2" ]]; then
    row="$row$(awk -v a="$sr" -v b="$ur" -v t="$ut" 'BEGIN { printf " %.0f (%d) | %.2fx |", b, t, a / b }')"
  fi
  table="$table"$'\n'"$row"
  echo "$row" >&2
done
echo "$table"

for m in $profile_models; do
  ps="$(steps_of "$m")"
  echo
  echo "## Where $m's step goes (batch 64, $cores threads)"
  echo
  echo "sweeprun (sweeprun-bench profile: each tape entry's forward and backward, ms per step):"
  echo '```'
  "$bench" profile model="$m" batch_size=64 threads="$cores" steps="$ps" augment=none
  echo '```'
  if [[ -n "$before" ]]; then
    echo
    echo "sweeprun before ($before):"
    echo '```'
    "$before" profile model="$m" batch_size=64 threads="$cores" steps="$ps" augment=none
    echo '```'
  fi
  echo
  echo "PyTorch $v1 (torch.profiler, self CPU time per op and input shapes, ms per step; $cores threads):"
  echo '```'
  "$py" scripts/bench/torch_reference.py --model "$m" --data "$data" --threads "$cores" --profile "$ps" 2>/dev/null
  echo '```'
done

if ((do_scaling)); then
  echo
  echo "## Cost against batch size (img/s; best of $repeats)"
  echo
  echo "| model | batch | steps | sweeprun img/s | PyTorch $v1 img/s (threads) | ratio |"
  echo "|---|---:|---:|---:|---:|---:|"
  for m in baseline_cnn gecco; do
    for b in 32 64 128 256; do
      s="$(( $(steps_of "$m") * 64 / b ))"
      ((s >= 2)) || s=2
      read -r sr tr tt _ <<<"$(measure "$m" "$b" "$s")"
      awk -v m="$m" -v bb="$b" -v s="$s" -v a="$sr" -v r="$tr" -v t="$tt" \
        'BEGIN { printf "| %s | %d | %d | %.0f | %.0f (%d) | %.2fx |\n", m, bb, s, a, r, t, a / r }'
    done
  done
fi
