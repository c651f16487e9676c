#!/usr/bin/env bash
# Data-parallel scaling on this machine: training images/second of one
# sweeprun process against `mpirun -np 2 sweeprun train --data-parallel`
# (CPU ranks, gradients summed with MPI_Allreduce), same model, same global
# batch, same epoch. And, where a GPU and the NCCL build are present, a
# single-rank run whose gradients are summed with NCCL on the GPU, checked
# against the MPI run: the losses and parameters must be identical.
# usage: scripts/bench/dp_scaling.sh [MODEL...]      (default: gecco baseline_cnn)
# env:   SWEEPRUN_BIN   the binary (default build/runner/sweeprun, built if missing)
#        GECCO_IMAGES, BASELINE_IMAGES   training images per measurement (60000, 6400)
set -euo pipefail
cd "$(dirname "$0")/../.."
models=("$@")
((${#models[@]})) || models=(gecco baseline_cnn)
bin="${SWEEPRUN_BIN:-build/runner/sweeprun}"
[[ -x "$bin" ]] || bash scripts/build.sh >/dev/null
bash scripts/fetch-mnist.sh >/dev/null
export MNIST_DIR="$PWD/data/mnist"
[[ $(id -u) -eq 0 ]] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cores="$(nproc)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# images/second of the (single) training epoch, from the epoch line
rate() { sed -nE 's/^epoch .*\(([0-9]+) img\/s\).*/\1/p' "$1" | tail -1; }

cpu="$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
echo "## Data-parallel scaling — $cpu, $cores cores"
echo
echo "One epoch, global batch 64, Adam 1e-3, 1,000 test images; training images/second"
echo "(wall time of the epoch's training steps, all ranks together)."
echo
per_rank=$((cores / 2 > 0 ? cores / 2 : 1))
echo "| model | images | 1 rank x 1 thread | 1 rank x $cores threads | 2 ranks x $per_rank thread(s) | 2 ranks vs 1 rank x 1 thread |"
echo "|---|---:|---:|---:|---:|---:|"
for model in "${models[@]}"; do
  case "$model" in
    baseline_cnn) images="${BASELINE_IMAGES:-6400}" ;;
    *) images="${GECCO_IMAGES:-60000}" ;;
  esac
  common=(--model "$model" --epochs 1 --batch-size 64 --optimizer adam --lr 1e-3
          --train-subset "$images" --test-subset 1000)
  "$bin" train "${common[@]}" --threads 1 --out "$work/$model-1x1.h5" >"$work/1x1.log"
  "$bin" train "${common[@]}" --threads "$cores" --out "$work/$model-1xN.h5" >"$work/1xN.log"
  mpirun -np 2 --bind-to none "$bin" train "${common[@]}" --data-parallel --threads "$per_rank" \
    --out "$work/$model-2x.h5" >"$work/2x.log"
  r1="$(rate "$work/1x1.log")" rn="$(rate "$work/1xN.log")" r2="$(rate "$work/2x.log")"
  echo "| $model | $images | $r1 | $rn | $r2 | $(awk -v a="$r2" -v b="$r1" 'BEGIN { printf "%.2fx", a / b }') |"
done

echo
gpus="$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)"
if [[ "${gpus:-0}" -gt 0 ]]; then
  model="${models[0]}"
  common=(--model "$model" --epochs 2 --batch-size 64 --train-subset 6400 --test-subset 1000 --seed 3)
  "$bin" train "${common[@]}" --data-parallel --out "$work/mpi.h5" >"$work/mpi.log"
  if "$bin" train "${common[@]}" --data-parallel --set allreduce=nccl --out "$work/nccl.h5" >"$work/nccl.log" 2>&1; then
    same=no
    if h5diff "$work/mpi.h5" "$work/nccl.h5" /epochs/train_loss /epochs/train_loss >/dev/null \
       && h5diff "$work/mpi.h5" "$work/nccl.h5" /checkpoint/params /checkpoint/params >/dev/null; then same=yes; fi
    echo "NCCL, 1 rank on $(nvidia-smi -L | head -1 | sed 's/ (UUID.*//'): $model, 2 epochs of 6,400 images;"
    echo "train losses MPI $(h5dump -m %.6f -d /epochs/train_loss "$work/mpi.h5" | grep '(0)' | sed 's/.*(0): //'),"
    echo "NCCL $(h5dump -m %.6f -d /epochs/train_loss "$work/nccl.h5" | grep '(0)' | sed 's/.*(0): //');"
    echo "identical losses and parameters: $same; NCCL run $(rate "$work/nccl.log") img/s, MPI run $(rate "$work/mpi.log") img/s."
  else
    echo "NCCL run failed: $(tail -1 "$work/nccl.log")"
  fi
else
  echo "No GPU here: the NCCL run was skipped."
fi
