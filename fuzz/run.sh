#!/usr/bin/env bash
# Run one libFuzzer target for a fixed time: run.sh BINARY SEEDS WORK SECONDS [FLAGS...]
#   SEEDS  the seed corpus in the repository (read only)
#   WORK   a folder for this run: the inputs it finds (WORK/corpus, kept
#          between runs, so a longer run continues from the last one), a
#          crashing input (WORK/crash-*, ...) and the log (WORK/log)
# Exit status: the fuzzer's (0 = nothing found). On a find it prints the
# report and the reproducer: BINARY WORK/crash-...
# Limits: -rss_limit_mb=2048 (also the largest single malloc), 10 s per
# input. UBSan reports stop the run like ASan's (halt_on_error=1).
set -uo pipefail
bin="$1" seeds="$2" work="$3" seconds="$4"
shift 4
mkdir -p "$work/corpus"
# clang's sanitizer runtimes symbolize stacks with llvm-symbolizer (Debian: llvm-14)
if [[ -z "${ASAN_SYMBOLIZER_PATH:-}" && -x /usr/lib/llvm-14/bin/llvm-symbolizer ]]; then
  export ASAN_SYMBOLIZER_PATH=/usr/lib/llvm-14/bin/llvm-symbolizer
fi
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
"$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
  -artifact_prefix="$work/" "$@" "$work/corpus" "$seeds" >"$work/log" 2>&1
rc=$?
name="$(basename "$bin")"
if [[ $rc -ne 0 ]]; then
  tail -n 80 "$work/log"
  echo "$name: FOUND A PROBLEM (exit $rc); reproduce with: $bin $(ls -t "$work"/crash-* "$work"/leak-* "$work"/oom-* "$work"/timeout-* 2>/dev/null | head -1)"
  exit $rc
fi
# The final stats: executions, their rate, coverage reached.
grep -E '^stat::number_of_executed_units|^stat::average_exec_per_sec|^stat::peak_rss_mb' "$work/log" |
  sed "s/^/$name /"
grep -E '^#[0-9]+[[:space:]]+DONE' "$work/log" | tail -1 | sed "s/^/$name /"
grep -E '^#[0-9]+: cov' "$work/log" | tail -1 | sed "s/^/$name (-fork) /"   # -fork=N runs print this instead
grep -E '^Done [0-9]+ runs' "$work/log" | sed "s/^/$name: /"
exit 0
