#!/usr/bin/env bash
# Configure and build sweeprun into build/ (CUDA backend when nvcc is found).
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -x /usr/local/cuda/bin/nvcc ]] && export PATH="/usr/local/cuda/bin:$PATH"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DSWEEPRUN_CUDA="${SWEEPRUN_CUDA:-AUTO}" >/dev/null
cmake --build build -j"$(nproc)"
