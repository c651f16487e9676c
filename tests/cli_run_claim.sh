#!/usr/bin/env bash
# Who writes a run file, through the command line: a `train` whose --out
# another process is writing (its .tmp locked, as a running `train` holds
# it) stops with exit 2 and leaves that .tmp as it was (it used to truncate
# it, and the first run then ended "complete" with an unreadable file); a
# symbolic link planted at the .tmp name, or at the name sweepreport --out
# writes beside its output, is never written through.
# usage: cli_run_claim.sh SWEEPRUN_BINARY SOURCE_DIR
source "$(dirname "$0")/cli_lib.sh"
report="$(dirname "$bin")/../results/sweepreport"

need_mnist
train() { "$bin" train --model gecco --epochs 1 --train-subset 500 --test-subset 100 --device cpu --quiet "$@"; }

# ---- a run another process is writing ---------------------------------------
run="$work/busy.h5"
train --out "$work/first.h5" >/dev/null 2>&1
cp "$work/first.h5" "$run.tmp"          # a run in progress: its .tmp, locked by its writer
cp "$run.tmp" "$work/before"
flock -x "$run.tmp" "$bin" train --model gecco --epochs 1 --train-subset 500 --test-subset 100 \
  --device cpu --quiet --out "$run" >"$work/busy.out" 2>&1
rc=$?
check "second writer exits 2 (not $rc)" test "$rc" -eq 2
check "second writer names the file and why" \
  grep -q "busy.h5.tmp: another process is writing this run" "$work/busy.out"
check "the running run's .tmp is untouched" cmp -s "$run.tmp" "$work/before"
check "no final file appears" test ! -e "$run"
# once nobody holds it, the stale .tmp is replaced as before
train --out "$run" >/dev/null 2>&1
check "an idle stale .tmp is replaced" test "$(attr "$run" status)" = complete

# ---- symbolic links -----------------------------------------------------------
echo precious >"$work/victim"
ln -s "$work/victim" "$work/linked.h5.tmp"
train --out "$work/linked.h5" >"$work/linked.out" 2>&1
rc=$?
check "train with a linked .tmp exits 2 (not $rc)" test "$rc" -eq 2
check "train names the link" grep -q "linked.h5.tmp: is a symbolic link" "$work/linked.out"
check "the link's target is untouched" test "$(cat "$work/victim")" = precious
check "no final file appears through the link" test ! -e "$work/linked.h5"

mkdir "$work/runs"
mv "$work/first.h5" "$work/runs/"
ln -s "$work/victim" "$work/table.csv.tmp"   # where sweepreport used to write first
"$report" "$work/runs" --format csv --out "$work/table.csv" 2>/dev/null
check "sweepreport --out writes the table" grep -q '^model,' "$work/table.csv"
check "sweepreport leaves the planted link's target alone" test "$(cat "$work/victim")" = precious
check "sweepreport leaves nothing beside its output" \
  test "$(ls "$work" | grep -c '^table\.csv\.')" -eq 1   # only the planted link

finish
