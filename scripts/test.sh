#!/usr/bin/env bash
# The whole test suite: set up, build (CPU, plus the CUDA backend's compile
# when nvcc is present), get MNIST, run every test with ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
bash scripts/fetch-mnist.sh
export MNIST_DIR="$PWD/data/mnist"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cd build && ctest --output-on-failure -j"$(nproc)"
