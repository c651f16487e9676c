#!/usr/bin/env bash
# Runs THERE: on a lent GPU machine (CUDA 13 image with nvcc, cmake, gcc and
# PyTorch, but no MPI, HDF5, inih, OpenBLAS, cmocka or network), from the
# repository root, with the kit made by scripts/gpu/make_kit.sh in .gpukit/.
# One pass, everything written to $OUT (8 files: the most a GPU call returns):
#   env.txt      GPU, driver, toolchain, PyTorch
#   build.log    configure + build of the minimal configuration
#   parity.log   tests/test_cuda_parity (every op CPU vs CUDA, 20-step runs, graph vs eager)
#   ctest.log    the rest of the test suite in this build (CPU ops; models train on the GPU)
#   sanitizer.log compute-sanitizer memcheck (+ initcheck) on a few training steps of each model
#   bench.log    raw output of the benchmarks
#   bench.md     the tables: seconds per epoch, sweeprun vs PyTorch, accuracy, FLOP
#                floor; then issue 7's four models with their own recipes
#   summary.txt  each phase's exit code and duration
# Every phase has its own time limit so the whole run stays well under 10
# minutes on an H100 and the logs come back even when a phase fails.
# usage: OUT=/some/dir bash scripts/gpu/check.sh [EPOCHS]   (default 3)
# CHECK_PHASES=REGEX runs only the phases whose names match (configure and
# build always run), e.g. CHECK_PHASES='bench-issue7' for a second call when
# the first ran out of its budget before the last phase.
set -uo pipefail
cd "$(dirname "$0")/../.."
root="$PWD"
OUT="${OUT:-$root/gpu-out}"
epochs="${1:-3}"
mkdir -p "$OUT"
kit="$root/.gpukit"
summary="$OUT/summary.txt"
: >"$summary"
t_start=$(date +%s)

budget=560   # seconds for the whole script: the GPU call's limit is 600

phase() {  # phase NAME LIMIT_SECONDS LOG COMMAND...: run, record rc and time
  local name="$1" limit="$2" log="$3"
  shift 3
  local t0 rc left
  t0=$(date +%s)
  left=$((budget - (t0 - t_start)))
  if [[ -n "${CHECK_PHASES:-}" && ! "$name" =~ ^(configure|build)$ && ! "$name" =~ ${CHECK_PHASES} ]]; then
    printf '%-28s skipped: not in CHECK_PHASES\n' "$name" >>"$summary"
    return 125
  fi
  if ((left < 15)); then
    printf '%-28s skipped: out of time\n' "$name" >>"$summary"
    return 125
  fi
  ((limit > left)) && limit=$left
  echo "=== $name: $*" >>"$log"
  timeout --kill-after=10 "$limit" "$@" >>"$log" 2>&1
  rc=$?
  printf '%-28s rc %-3d %4ds%s\n' "$name" "$rc" "$(($(date +%s) - t0))" \
    "$([[ $rc -eq 124 || $rc -eq 137 ]] && echo "  (time limit $limit s)")" >>"$summary"
  return $rc
}

if [[ ! -f "$kit/MANIFEST" ]]; then
  echo "check: $kit/MANIFEST missing: run scripts/gpu/make_kit.sh on the build machine and carry .gpukit" | tee -a "$summary"
  exit 2
fi
(cd "$kit" && sha256sum --quiet -c MANIFEST) >>"$summary" 2>&1 || echo "check: kit checksums differ (see above)" >>"$summary"
for f in "$kit"/lib/*.gz; do gunzip -kf "$f"; done
export LD_LIBRARY_PATH="$kit/lib:${LD_LIBRARY_PATH:-}"
export MNIST_DIR="$kit/mnist"
export PATH="/usr/local/cuda/bin:$PATH"
if ! command -v compute-sanitizer >/dev/null && [[ -x /usr/local/cuda/compute-sanitizer/compute-sanitizer ]]; then
  export PATH="/usr/local/cuda/compute-sanitizer:$PATH"
fi
py="$(command -v python3)"
[[ -x /opt/torch/bin/python3 ]] && py=/opt/torch/bin/python3

{
  date -u
  nvidia-smi || echo "nvidia-smi failed"
  nvcc --version | tail -2
  cmake --version | head -1
  gcc --version | head -1
  ldd --version | head -1
  command -v ninja && ninja --version
  command -v compute-sanitizer || echo "compute-sanitizer not on PATH"
  "$py" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0))'
  nproc
} >"$OUT/env.txt" 2>&1

gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
build="$root/build-gpu"
phase configure 120 "$OUT/build.log" cmake -S . -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DSWEEPRUN_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DSWEEPRUN_WITH_MPI=OFF -DSWEEPRUN_WITH_HDF5=OFF -DSWEEPRUN_WITH_INIH=OFF \
  -DSWEEPRUN_CBLAS_INCLUDE="$kit/include" -DSWEEPRUN_OPENBLAS_LIBRARY="$kit/lib/libopenblas.so.0" \
  -DSWEEPRUN_CMOCKA_INCLUDE="$kit/include" -DSWEEPRUN_CMOCKA_LIBRARY="$kit/lib/libcmocka.so.0" \
  -DSWEEPRUN_DNNL_INCLUDE="$kit/include" -DSWEEPRUN_DNNL_LIBRARY="$kit/lib/libdnnl.so.2" \
  -DZLIB_INCLUDE_DIR="$kit/include" -DZLIB_LIBRARY="$kit/lib/libz.so.1" -DPKG_CONFIG_EXECUTABLE=/nonexistent
phase build 240 "$OUT/build.log" cmake --build "$build" -j16
if [[ ! -x "$build/runner/sweeprun-bench" || ! -x "$build/tests/test_cuda_parity" ]]; then
  echo "check: build failed, see build.log" >>"$summary"
  tail -40 "$OUT/build.log" >>"$summary"
  exit 1
fi
bench="$build/runner/sweeprun-bench"

# The parity suite: rc 0 = passed, 77 = skipped (no GPU seen), else failed.
phase parity 240 "$OUT/parity.log" "$build/tests/test_cuda_parity"

# compute-sanitizer: eager and graph steps, the partial batch's graph
# (333 = 5 x 64 + 13), grad_accum 2, evaluation.
san=(compute-sanitizer --error-exitcode 9 --print-limit 20)
phase memcheck-gecco 120 "$OUT/sanitizer.log" "${san[@]}" --tool memcheck --leak-check full \
  "$bench" train model=gecco device=cuda epochs=2 train_subset=333 test_subset=200 grad_accum=2
phase memcheck-baseline 150 "$OUT/sanitizer.log" "${san[@]}" --tool memcheck \
  "$bench" train model=baseline_cnn device=cuda epochs=2 train_subset=333 test_subset=100
phase initcheck-gecco 120 "$OUT/sanitizer.log" "${san[@]}" --tool initcheck \
  "$bench" train model=gecco device=cuda epochs=2 train_subset=333 test_subset=200 graph=complete

# sweeprun vs PyTorch, same GPU, same models and batch sizes.
phase bench 240 "$OUT/bench.log" "$py" scripts/bench/gpu_vs_pytorch.py --bench "$bench" --data "$MNIST_DIR" \
  --epochs "$epochs" --out "$OUT/bench.md"

# The rest of the suite in this build (test_models trains on the GPU here).
phase ctest-others 150 "$OUT/ctest.log" ctest --test-dir "$build" -j8 -E test_cuda_parity --output-on-failure

# Issue 7's models, each with its own recipe (augmentation off on both
# sides), against their PyTorch twins: 2 epochs of 10,000 training images,
# scored on the full test set; the table is appended to bench.md. Last, so
# the phases above finish first.
phase bench-issue7 200 "$OUT/bench.log" "$py" scripts/bench/gpu_vs_pytorch.py --bench "$bench" --data "$MNIST_DIR" \
  --recipes gecco_enhanced,spinalnet,resnet,efficient_capsnet --train-subset 10000 --epochs 2 \
  --out "$OUT/bench.md" --append

echo "total $(($(date +%s) - t_start)) s" >>"$summary"
grep -E "PASSED|FAILED|SKIPPED|max rel|rel diff|bitwise" "$OUT/parity.log" | tail -80 >>"$summary" 2>/dev/null
grep -E "ERROR SUMMARY|========= (Invalid|Uninitialized|Program hit)" "$OUT/sanitizer.log" | head -20 >>"$summary"
cat "$OUT/bench.md" >>"$summary" 2>/dev/null
cat "$summary"
