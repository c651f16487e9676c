#!/usr/bin/env bash
# The main job: set up, build, get MNIST, train GECCO for a few epochs
# (--device auto: the GPU when a usable one exists, else the CPU with a
# note), re-score the run file, and turn it into the comparison table and
# figures with sweepreport.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
bash scripts/fetch-mnist.sh
epochs="${EPOCHS:-3}"
dir="runs/quickstart"
mkdir -p "$dir"
out="$dir/gecco-$(date +%Y%m%d-%H%M%S).h5"
./build/runner/sweeprun train --model gecco --epochs "$epochs" --device auto --out "$out"
./build/runner/sweeprun eval --run "$out"
./build/results/sweepreport "$dir" --figures "$dir/figures"
echo "quickstart: run file $out; table and figures: $dir/figures/index.html"
