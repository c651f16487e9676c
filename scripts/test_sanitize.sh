#!/usr/bin/env bash
# The test suite again, built with AddressSanitizer (+ LeakSanitizer) and
# UndefinedBehaviorSanitizer (gcc, CPU only) into build-asan/, every ctest
# test included. The sanitizer options and suppressions come with each test
# from tests/CMakeLists.txt (SWEEPRUN_SANITIZE): a report fails the test.
# Run after scripts/setup.sh and scripts/fetch-mnist.sh (scripts/test.sh
# does both). Extra arguments go to ctest (e.g. -R test_runfile).
set -euo pipefail
cd "$(dirname "$0")/.."
export MNIST_DIR="${MNIST_DIR:-$PWD/data/mnist}"   # baked into the tests at configure time
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DSWEEPRUN_CUDA=OFF -DSWEEPRUN_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$(nproc)"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cd build-asan && ctest --output-on-failure -j"$(nproc)" "$@"
