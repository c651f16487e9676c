#!/usr/bin/env bash
# Stop signals (runner/cli/stop_signals.c): `train` and `sweep` stop after
# the step in flight, write a checkpoint there (inside an epoch), mark the
# run interrupted and exit 143; rerunning the same command continues it,
# and the result is bit for bit the uninterrupted run's: weights, best
# weights, optimizer state, every epoch row but its wall time, the test
# results. Also: a second SIGINT ends at once (130) and a rerun still
# gives the same bits; --stop-signals picks the signals (none: the
# default action); a rerun of another configuration is refused (exit 2,
# the .tmp untouched); data-parallel ranks stop at the same step; a sweep
# stops every group when only one rank got the signal.
# usage: cli_signals.sh SWEEPRUN_BINARY SOURCE_DIR
source "$(dirname "$0")/cli_lib.sh"

need_mnist
need_mpirun
# 172 steps of 64 images per epoch (11,000 images after the validation
# split): 0.1 to 0.4 s an epoch at 1 thread, so a signal sent "after epoch
# 1" could land after the run ended. The runs signalled here hold after
# step 5 of epoch 2 (SWEEPRUN_TEST_HOLD, runner/train/test_hold.h) until a
# stop is wanted, and the signals go once the hold line is out: every stop
# lands at that step, on any machine.
args=(--model gecco --epochs 3 --train-subset 12000 --test-subset 500 --threads 1)
hold=(env SWEEPRUN_TEST_HOLD=2:5)
held='^sweeprun: test hold after step 5 of epoch 2'

# wait_for PATTERN FILE PID: until FILE has a line matching PATTERN (0),
# or PID ended or 60 s passed (1).
wait_for() {
  for _ in $(seq 1 1200); do
    grep -q "$1" "$2" 2>/dev/null && return 0
    kill -0 "$3" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}
# wait_held N FILE PID: until N processes wrote their hold line to FILE.
wait_held() {
  for _ in $(seq 1 1200); do
    [[ $(grep -c "$held" "$2" 2>/dev/null) -ge $1 ]] && return 0
    kill -0 "$3" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}
# ckpt FILE NAME: a /checkpoint attribute.
ckpt() { h5dump -a "/checkpoint/$2" "$1" | grep -m1 '(0)' | sed 's/.*(0): *//'; }
# same_run A B: A and B hold the same training, bit for bit (h5diff
# without tolerance; the epoch rows' wall time aside).
same_run() {
  local d
  for d in /weights /best/weights /checkpoint/params /checkpoint/buffers /checkpoint/state1 /checkpoint/state2 \
           /epochs/epoch /epochs/train_loss /epochs/train_accuracy /epochs/val_loss /epochs/val_accuracy \
           /epochs/test_loss /epochs/test_accuracy /epochs/lr /test/confusion /test/misclassified_index; do
    h5diff "$1" "$2" "$d" "$d" || { echo "$d differs"; return 1; }
  done
  [[ $(ckpt "$1" step) == $(ckpt "$2" step) ]]
}
# mid_epoch TMP: its checkpoint stands inside an epoch (after 1 to
# steps - 1 of its steps), and the .tmp keeps the rows of the epochs before.
mid_epoch() {
  local b e steps rows
  b=$(ckpt "$1" batch); e=$(ckpt "$1" epoch)
  steps=$(( ($(attr "$1" train_images) + 63) / 64 ))
  # values, not lines: h5dump prints several values on one "(i): ..." line
  rows=$(h5dump -d /epochs/epoch "$1" | sed -n 's/^ *([0-9]*): *//p' | tr ',' '\n' | grep -c '[0-9]')
  [[ $e -eq 0 ]] && rows=0
  echo "checkpoint after epoch $e and $b of $steps steps; $rows epoch rows"
  [[ -n "$b" && "$b" -gt 0 && "$b" -lt "$steps" && "$rows" -eq "$e" ]]
}

# ---- 1. train: SIGUSR1 mid-epoch, rerun --------------------------------------------
"$bin" train "${args[@]}" --quiet --out "$work/ref.h5" >/dev/null 2>&1
check "reference run: complete" test "$(attr "$work/ref.h5" status)" = complete

"${hold[@]}" "$bin" train "${args[@]}" --out "$work/a.h5" >"$work/a1.out" 2>&1 &
pid=$!
wait_for "$held" "$work/a1.out" "$pid" && kill -USR1 "$pid"
wait "$pid"
rc=$?
echo "=== train, SIGUSR1 at step 5 of epoch 2: exit $rc"; cat "$work/a1.out"
check "SIGUSR1: exit 143" test "$rc" -eq 143
check "SIGUSR1: says where it stopped and how to continue" \
  grep -q "sweeprun: train: stopped by SIGUSR1 after step 5 of epoch 2; checkpoint written to $work/a.h5.tmp (status interrupted); run the same command again to continue" "$work/a1.out"
check "SIGUSR1: no final file, the .tmp marked interrupted" \
  bash -c "[[ ! -e '$work/a.h5' && \$(h5dump -a /status '$work/a.h5.tmp' | grep -m1 '(0)') == *interrupted* ]]"
check "SIGUSR1: the checkpoint stands inside an epoch, the rows before it kept" mid_epoch "$work/a.h5.tmp"
check "SIGUSR1: the .tmp opens with h5ls" h5ls -r "$work/a.h5.tmp"
"$bin" train "${args[@]}" --out "$work/a.h5" >"$work/a2.out" 2>&1
rc=$?
cat "$work/a2.out"
check "rerun: exit 0, continued (no epoch 1 again), resumes 1" \
  bash -c "[[ $rc -eq 0 ]] && ! grep -q '^epoch 1/3' '$work/a2.out' && grep -q '^epoch 3/3' '$work/a2.out' && [[ '$(attr "$work/a.h5" resumes)' == 1 ]]"
check "rerun: status complete, epochs 1..3" \
  bash -c "[[ '$(attr "$work/a.h5" status)' == complete && \$(h5dump -d /epochs/epoch '$work/a.h5' | grep '(0)' | sed 's/.*(0): *//') == '1, 2, 3' ]]"
check "interrupted mid-epoch + rerun = uninterrupted, bit for bit" same_run "$work/ref.h5" "$work/a.h5"

# ---- 1b. --train-until: paused at an epoch's end, continued later ---------------------------
# (what an ASHA rung does to a sweep trial): the configuration keeps its 3
# epochs, so pausing after 1 and 2 and then finishing is the straight run.
"$bin" train "${args[@]}" --quiet --train-until 1 --out "$work/p.h5" >"$work/p1.out" 2>&1
rc=$?
cat "$work/p1.out"
check "--train-until 1: exit 0, says paused and how to continue" \
  bash -c "[[ $rc -eq 0 ]] && grep -q '^paused after epoch 1 of 3: $work/p.h5.tmp (status paused); the same command with a larger --train-until, or without it, continues$' '$work/p1.out'"
check "--train-until 1: .tmp with status paused, paused_after_epoch 1, one epoch row" \
  bash -c "[[ ! -e '$work/p.h5' && '$(attr "$work/p.h5.tmp" status)' == paused && '$(attr "$work/p.h5.tmp" paused_after_epoch)' == 1 && \$(h5dump -d /epochs/epoch '$work/p.h5.tmp' | grep '(0)' | sed 's/.*(0): *//') == 1 ]]"
"$bin" train "${args[@]}" --quiet --train-until 2 --out "$work/p.h5" >/dev/null 2>&1
check "--train-until 2: paused after epoch 2, rows 1, 2" \
  bash -c "[[ '$(attr "$work/p.h5.tmp" status)' == paused && \$(h5dump -d /epochs/epoch '$work/p.h5.tmp' | grep '(0)' | sed 's/.*(0): *//') == '1, 2' ]]"
"$bin" train "${args[@]}" --quiet --out "$work/p.h5" >/dev/null 2>&1
rc=$?
check "then to the end: exit 0, complete, epochs 1..3" \
  bash -c "[[ $rc -eq 0 && '$(attr "$work/p.h5" status)' == complete && \$(h5dump -d /epochs/epoch '$work/p.h5' | grep '(0)' | sed 's/.*(0): *//') == '1, 2, 3' ]]"
check "paused at 1 and 2, then finished = straight, bit for bit" same_run "$work/ref.h5" "$work/p.h5"
"$bin" train "${args[@]}" --train-until 4 --out "$work/q.h5" >"$work/q.out" 2>&1
rc=$?
check "--train-until above --epochs: exit 2, said, nothing written" \
  bash -c "[[ $rc -eq 2 && ! -e '$work/q.h5.tmp' ]] && grep -q '^sweeprun: train: --train-until: 4 is above --epochs 3 (a run trains at most its epochs)$' '$work/q.out'"

# ---- 2. SIGTERM; a rerun of another configuration is refused ---------------------------
"${hold[@]}" "$bin" train "${args[@]}" --out "$work/b.h5" >"$work/b1.out" 2>&1 &
pid=$!
wait_for "$held" "$work/b1.out" "$pid" && kill -TERM "$pid"
wait "$pid"
rc=$?
check "SIGTERM: exit 143, checkpoint inside an epoch" \
  bash -c "$(declare -f attr ckpt mid_epoch); [[ $rc -eq 143 ]] && mid_epoch '$work/b.h5.tmp'"
md5=$(md5sum <"$work/b.h5.tmp")
"$bin" train "${args[@]}" --lr 0.002 --out "$work/b.h5" >"$work/b2.out" 2>&1
rc=$?
cat "$work/b2.out"
check "other configuration: exit 2" test "$rc" -eq 2
check "other configuration: one line naming the file and the key" \
  bash -c "[[ \$(wc -l <'$work/b2.out') -eq 1 ]] && grep -q \"^sweeprun: train: $work/b.h5.tmp holds an interrupted run of another configuration (lr: 0.001 there, 0.002 here)\" '$work/b2.out'"
check "other configuration: the .tmp untouched, no final file" \
  bash -c "[[ \$(md5sum <'$work/b.h5.tmp') == '$md5' && ! -e '$work/b.h5' ]]"
"$bin" train "${args[@]}" --quiet --out "$work/b.h5" >/dev/null 2>&1
check "SIGTERM + rerun = uninterrupted, bit for bit" same_run "$work/ref.h5" "$work/b.h5"

# ---- 3. a second SIGINT stops at once ------------------------------------------------------
# Two signals of one kind sent together may merge into one delivery, so
# the second follows 10 ms later; the hold keeps the run 0.2 s more after
# the first, so the second comes before the first's checkpoint is written.
"${hold[@]}" "$bin" train "${args[@]}" --out "$work/c.h5" >"$work/c1.out" 2>&1 &
pid=$!
wait_for "$held" "$work/c1.out" "$pid" && kill -INT "$pid" && sleep 0.01 && kill -INT "$pid"
wait "$pid"
rc=$?
check "two SIGINTs: exit 130" test "$rc" -eq 130
check "two SIGINTs: no 'stopped' message (nothing written after them)" bash -c "! grep -q 'stopped by' '$work/c1.out'"
"$bin" train "${args[@]}" --quiet --out "$work/c.h5" >/dev/null 2>&1
check "two SIGINTs + rerun = uninterrupted, bit for bit" same_run "$work/ref.h5" "$work/c.h5"

# ---- 4. --stop-signals ------------------------------------------------------------------------
"${hold[@]}" "$bin" train "${args[@]}" --stop-signals usr2 --out "$work/d.h5" >"$work/d1.out" 2>&1 &
pid=$!
wait_for "$held" "$work/d1.out" "$pid" && kill -USR2 "$pid"
wait "$pid"
check "--stop-signals usr2: SIGUSR2 stops with 143" test $? -eq 143
"${hold[@]}" "$bin" train "${args[@]}" --stop-signals none --out "$work/e.h5" >"$work/e1.out" 2>&1 &
pid=$!
wait_for "$held" "$work/e1.out" "$pid" && kill -USR1 "$pid"
wait "$pid"
check "--stop-signals none: SIGUSR1 kills as by default (138)" test $? -eq 138
"$bin" train "${args[@]}" --stop-signals TERM,FOO --out "$work/f.h5" >"$work/f1.out" 2>&1
rc=$?
check "--stop-signals TERM,FOO: exit 2, one line, nothing written" \
  bash -c "[[ $rc -eq 2 && \$(wc -l <'$work/f1.out') -eq 1 ]] && grep -q \"^sweeprun: train: --stop-signals: expected a comma-separated list of TERM, INT, USR1, USR2, HUP, QUIT, XCPU (or none), got 'TERM,FOO'\" '$work/f1.out' && ! ls '$work'/f.h5* 2>/dev/null"
env SWEEPRUN_TEST_HOLD=2:x "$bin" train "${args[@]}" --epochs 1 --quiet --out "$work/h.h5" >"$work/h.out" 2>&1
rc=$?
check "SWEEPRUN_TEST_HOLD malformed: named once, the run not held" \
  bash -c "[[ $rc -eq 0 && \$(grep -c 'SWEEPRUN_TEST_HOLD: expected EPOCH:STEP\[:RELEASE_FILE\]' '$work/h.out') -eq 1 ]] && ! grep -q 'test hold after' '$work/h.out'"
check "train --help lists --stop-signals and exit code 143" \
  bash -c "'$bin' train --help | grep -q -- '--stop-signals LIST' && '$bin' train --help | grep -q '^143 stopped by a stop signal'"

# ---- 5. data-parallel train: both ranks stop after the same step --------------------------------
dpargs=("${args[@]}")
"${mpi[@]}" "$bin" train "${dpargs[@]}" --quiet --data-parallel --out "$work/dpref.h5" >/dev/null 2>&1
"${hold[@]}" "${mpi[@]}" "$bin" train "${dpargs[@]}" --data-parallel --out "$work/dp.h5" >"$work/dp1.out" 2>&1 &
job=$!
wait_held 2 "$work/dp1.out" "$job" && kill -USR1 "$job"   # mpirun forwards SIGUSR1
wait "$job"
rc=$?
check "data-parallel, SIGUSR1 to mpirun: exit 143, checkpoint after step 5 of epoch 2" \
  bash -c "$(declare -f attr ckpt mid_epoch); [[ $rc -eq 143 ]] && mid_epoch '$work/dp.h5.tmp' && [[ \$(ckpt '$work/dp.h5.tmp' batch) == 5 ]]"
"$bin" train "${dpargs[@]}" --data-parallel --out "$work/dp.h5" >"$work/dp2.out" 2>&1
rc=$?
check "data-parallel .tmp continued on 1 rank: refused (exit 2, names the ranks)" \
  bash -c "[[ $rc -eq 2 ]] && grep -q 'another configuration (2 data-parallel ranks there, 1 here)' '$work/dp2.out'"
"${mpi[@]}" "$bin" train "${dpargs[@]}" --quiet --data-parallel --out "$work/dp.h5" >/dev/null 2>&1
check "data-parallel: interrupted + rerun = uninterrupted, bit for bit" same_run "$work/dpref.h5" "$work/dp.h5"

# ---- 6. a sweep on 2 ranks -----------------------------------------------------------------------
cat >"$work/s.ini" <<EOF
[sweep]
name = signals
out = $work/runs
seeds = 0, 1
[defaults]
model = gecco
epochs = 3
train_subset = 12000
test_subset = 500
threads = 1
[grid]
lr = 0.001, 0.002
EOF
"${hold[@]}" "${mpi[@]}" "$bin" sweep "$work/s.ini" --verbose >"$work/s1.out" 2>&1 &
job=$!
wait_held 2 "$work/s1.out" "$job" && kill -USR1 "$job"
wait "$job"
rc=$?
echo "=== sweep, SIGUSR1 to mpirun: exit $rc"; cat "$work/s1.out"
check "sweep: exit 143" test "$rc" -eq 143
check "sweep: both trials in flight interrupted, the other two not started" \
  bash -c "grep -q '^  interrupted 2 (stopped by a signal, checkpoint written: rerun the same command to continue them)$' '$work/s1.out' && grep -q '^  not run   2 (stopped by a signal before they started' '$work/s1.out'"
check "sweep: each says where it stopped" test "$(grep -c 'interrupted after step 5 of epoch 2: checkpoint written, a rerun continues it' "$work/s1.out")" -eq 2
check "sweep: two .tmp marked interrupted, no final file" \
  bash -c "[[ \$(ls '$work'/runs/*.h5.tmp | wc -l) -eq 2 ]] && ! ls '$work'/runs/*.h5 2>/dev/null && for f in '$work'/runs/*.tmp; do h5dump -a /status \"\$f\" | grep -q interrupted || exit 1; done"
"$bin" status "$work/runs" --json >"$work/status.json" 2>&1
rc=$?
check "status after the signal: exit 6 (unfinished), 2 interrupted in the event log" \
  bash -c "[[ $rc -eq 6 && \$(grep -c '\"event\":\"trial_end\".*\"status\":\"interrupted\".*\"stopped_step\"' '$work/runs/events.jsonl') -eq 2 ]] && tr -d ' \\t\\n' <'$work/status.json' | grep -q '\"interrupted\":2'"
"$bin" sweep "$work/s.ini" --dry-run >"$work/dry.out" 2>&1
check "sweep --dry-run: both listed as unfinished" test "$(grep -c 'unfinished' "$work/dry.out")" -eq 2
"${mpi[@]}" "$bin" sweep "$work/s.ini" >"$work/s2.out" 2>&1
rc=$?
check "sweep rerun: exit 0, 4 complete, 2 resumed" \
  bash -c "[[ $rc -eq 0 ]] && grep -q '^  complete  4$' '$work/s2.out' && grep -q '^  resumed   2 ' '$work/s2.out'"
resumed=$(ls "$work"/runs/gecco-s0-*.h5 | while read -r f; do [[ $(attr "$f" lr) == 0.001 ]] && echo "$f"; done)
check "sweep: the interrupted trial lr 0.001 seed 0 = train's uninterrupted run, bit for bit" same_run "$work/ref.h5" "$resumed"

# ---- 7. a signal that reaches one rank stops the whole sweep --------------------------------------
# Rank 1 alone gets SIGUSR1; it sets the queue's stop mark and rank 0's
# trial stops too, within a step of reading the mark (every 0.05 s).
rank_pid() {  # rank_pid MPIRUN_PID RANK
  local stat pid comm state ppid rest
  for stat in /proc/[0-9]*/stat; do
    { read -r pid comm state ppid rest <"$stat"; } 2>/dev/null || continue
    [[ "$ppid" == "$1" ]] || continue
    tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2" && echo "$pid"
  done
}
sed "s|^out = .*|out = $work/runs7|" "$work/s.ini" >"$work/s7.ini"
"${hold[@]}" "${mpi[@]}" "$bin" sweep "$work/s7.ini" --verbose >"$work/s7.out" 2>&1 &
job=$!
wait_held 2 "$work/s7.out" "$job" && kill -USR1 "$(rank_pid "$job" 1)"
wait "$job"
rc=$?
cat "$work/s7.out"
check "signal to rank 1 only: exit 143, rank 0's trial interrupted too" \
  bash -c "[[ $rc -eq 143 ]] && grep -q '^\[rank 0\] trial .* interrupted after step 5 of epoch 2' '$work/s7.out' && grep -q '^\[rank 1\] trial .* interrupted after step 5 of epoch 2' '$work/s7.out'"

finish
