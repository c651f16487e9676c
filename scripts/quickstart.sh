#!/usr/bin/env bash
# The main job: set up, build, get MNIST, train GECCO for a few epochs on the
# GPU if there is one (--device auto; until the CUDA ops land that means the
# CPU, with a note when a GPU is present) and print the result.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
bash scripts/fetch-mnist.sh
epochs="${EPOCHS:-3}"
mkdir -p runs
out="runs/quickstart-gecco-$(date +%Y%m%d-%H%M%S).h5"
./build/runner/sweeprun train --model gecco --epochs "$epochs" --device auto --out "$out"
./build/runner/sweeprun eval --run "$out"
echo "quickstart: run file $out"
