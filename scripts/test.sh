#!/usr/bin/env bash
# The whole test suite: set up, build (CPU, plus the CUDA backend's compile
# when nvcc is present), get MNIST, run every test with ctest; then the
# sanitizer suite (scripts/test_sanitize.sh: ASan + UBSan build, ctest) and
# the fuzzers (scripts/fuzz.sh: each libFuzzer target for a fixed time).
# All three parts run even when one fails; the exit status is 1 if any did.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
bash scripts/fetch-mnist.sh
export MNIST_DIR="$PWD/data/mnist"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
failed=()
(cd build && ctest --output-on-failure -j"$(nproc)") || failed+=("ctest (build/)")
bash scripts/test_sanitize.sh || failed+=("sanitizer suite (build-asan/)")
bash scripts/fuzz.sh || failed+=("fuzzers (build-fuzz/)")
if ((${#failed[@]})); then
  echo "test.sh: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "test.sh: all passed"
