#!/usr/bin/env bash
# Build the libFuzzer targets (clang, ASan + UBSan) into build-fuzz/ and run them.
#   scripts/fuzz.sh                   every target for SWEEPRUN_FUZZ_SECONDS
#                                     (default 30) under ctest -L fuzz: what CI runs
#   scripts/fuzz.sh TARGET SECONDS [LIBFUZZER FLAGS...]
#                                     one target longer, e.g. scripts/fuzz.sh runfile 3600 -jobs=4 -workers=4
# TARGET: sweep_file, idx, image or runfile (fuzz/fuzz_TARGET.c). Inputs found
# accumulate in build-fuzz/fuzz/work/TARGET/corpus (each run continues from
# them); a crash is saved there as crash-* with the command to reproduce it.
# Run after scripts/setup.sh (scripts/test.sh does both).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds_ci="${SWEEPRUN_FUZZ_SECONDS:-30}"
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DSWEEPRUN_CUDA=OFF -DSWEEPRUN_FUZZ=ON \
  -DSWEEPRUN_TESTS=OFF -DSWEEPRUN_FUZZ_SECONDS="$seconds_ci" >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target fuzzers

if (($# == 0)); then
  rc=0
  (cd build-fuzz && ctest --output-on-failure -j"$(nproc)" -L fuzz) || rc=$?
  # ctest shows only the failures' output: each target's executions and coverage
  for log in build-fuzz/fuzz/work/*/log; do
    echo "$(basename "$(dirname "$log")"): $(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1)"
  done
  exit $rc
fi
target="$1" seconds="${2:?usage: scripts/fuzz.sh [TARGET SECONDS [LIBFUZZER FLAGS...]]}"
shift 2
[[ -f fuzz/fuzz_$target.c ]] || { echo "fuzz.sh: no target '$target' (fuzz/fuzz_$target.c)" >&2; exit 2; }
dict=()
[[ -f fuzz/$target.dict ]] && dict=(-dict="$PWD/fuzz/$target.dict")
exec bash fuzz/run.sh "build-fuzz/fuzz/fuzz_$target" "fuzz/corpus/$target" \
  "build-fuzz/fuzz/work/$target" "$seconds" "${dict[@]}" "$@"
