#!/usr/bin/env bash
# Kill and resume: a sweep of 6 GECCO trials (6 epochs on 8,000 images)
# runs on 2 ranks; once rank 1 has finished a trial and checkpointed 2
# epochs of its next one, it is killed with SIGKILL (mpirun then ends the
# job; rank 0 goes on until it is stopped).
# Every file left behind opens with the HDF5 tools. Rerunning the same
# command skips the finished trials (their files untouched), continues the
# interrupted ones from their checkpoint, and runs the rest: every trial
# ends complete exactly once, with epochs 1..6 once each, and a resumed
# trial has the same parameters, bit for bit, as the same trial trained
# without interruption.
# usage: cli_sweep_resume.sh SWEEPRUN_BINARY SOURCE_DIR
source "$(dirname "$0")/cli_lib.sh"

need_mnist
need_mpirun
out="$work/runs"
cat >"$work/kr.ini" <<EOF
[sweep]
name = kill-resume
out = $out
seeds = 0, 1
[defaults]
model = gecco
epochs = 6
train_subset = 8000
test_subset = 500
threads = 1
[grid]
lr = 0.001, 0.002, 0.003
EOF
run_sweep() { mpirun -np 2 --oversubscribe --bind-to none "$bin" sweep "$work/kr.ini"; }
# Kill the rank-1 child of mpirun (pid $1) with SIGKILL; prints its pid.
# (From /proc, so the test needs no procps.)
kill_rank1() {
  local stat pid comm state ppid rest
  for stat in /proc/[0-9]*/stat; do
    { read -r pid comm state ppid rest <"$stat"; } 2>/dev/null || continue
    [[ "$ppid" == "$1" ]] || continue
    if tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx OMPI_COMM_WORLD_RANK=1; then
      kill -9 "$pid" && echo "$pid"
    fi
  done
}
attr_of() { h5dump -a "/$2" "$1" | grep -m1 '(0)' | sed 's/.*(0): *//; s/"//g'; }

# ---- run 1, killed --------------------------------------------------------
mpirun -np 2 --oversubscribe --bind-to none "$bin" sweep "$work/kr.ini" --verbose >"$work/run1.out" 2>&1 &
job=$!                                       # mpirun itself: the ranks are its children
killed=""
for _ in $(seq 1 1200); do
  # A trial's epoch line comes after its checkpoint is flushed.
  if [[ $(grep -c '^\[rank 1\] .* epoch 2/6:' "$work/run1.out") -ge 2 ]]; then
    killed=$(kill_rank1 "$job")
    break
  fi
  kill -0 "$job" 2>/dev/null || break
  sleep 0.05
done
wait "$job"
rc=$?
echo "=== run 1 (rank 1, pid ${killed:-none}, killed with SIGKILL): exit $rc"
cat "$work/run1.out"
check "rank 1 was killed mid-sweep" test -n "$killed"
check "the killed job failed" test "$rc" -ne 0
finals=$(ls "$out"/*.h5 2>/dev/null | wc -l)
tmps=$(ls "$out"/*.h5.tmp 2>/dev/null | wc -l)
echo "left behind: $finals finished, $tmps interrupted"
check "some trials finished before the kill" test "$finals" -ge 1
check "some trials were interrupted" test "$tmps" -ge 1
bad=0
for f in "$out"/*.h5 "$out"/*.h5.tmp; do
  [[ -e "$f" ]] || continue
  h5ls -r "$f" >/dev/null 2>&1 && h5dump -H "$f" >/dev/null 2>&1 || { echo "unreadable: $f"; bad=$((bad + 1)); }
done
check "every file left behind opens with h5ls and h5dump" test "$bad" -eq 0
# A .tmp continues from its checkpoint when that stands after a finished
# epoch (/checkpoint epoch >= 1) or inside one (batch >= 1: rank 0, sent
# SIGTERM by mpirun once rank 1 died, may stop mid-epoch and checkpoint there).
with_epochs=0; checkpointed=0
for f in "$out"/*.h5.tmp; do
  e=$(h5dump -a /checkpoint/epoch "$f" 2>/dev/null | grep -m1 '(0)' | sed 's/.*(0): *//')
  b=$(h5dump -a /checkpoint/batch "$f" 2>/dev/null | grep -m1 '(0)' | sed 's/.*(0): *//')
  [[ "${e:-0}" -ge 1 ]] && with_epochs=$((with_epochs + 1))
  [[ "${e:-0}" -ge 1 || "${b:-0}" -ge 1 ]] && checkpointed=$((checkpointed + 1))
done
check "an interrupted trial has finished epochs to continue from" test "$with_epochs" -ge 1
stat -c '%n %i %Y %s' "$out"/*.h5 >"$work/finished-before"
md5sum "$out"/*.h5 >"$work/md5-before"

# ---- run 2: the same command ------------------------------------------------
run_sweep >"$work/run2.out" 2>&1
rc=$?
echo "=== run 2 (the same command): exit $rc"
cat "$work/run2.out"
check "rerun: exit 0" test "$rc" -eq 0
check "rerun: 6 run files, no .tmp" bash -c "[[ \$(ls '$out'/*.h5 | wc -l) -eq 6 ]] && ! ls '$out'/*.tmp 2>/dev/null"
check "rerun: skipped the $finals finished trials" grep -q "^  skipped   $finals (finished by an earlier run: $finals complete)$" "$work/run2.out"
check "rerun: trained the other $((6 - finals))" grep -q "^  complete  $((6 - finals))$" "$work/run2.out"
check "rerun: finished files untouched" bash -c "stat -c '%n %i %Y %s' \$(awk '{print \$1}' '$work/finished-before') | cmp - '$work/finished-before' && md5sum -c --quiet '$work/md5-before'"
rerun_twice=0
for f in $(awk '{print $1}' "$work/finished-before"); do
  id=$(attr_of "$f" trial_id)
  grep -q "$id" "$work/run2.out" && rerun_twice=$((rerun_twice + 1))
done
check "rerun: no finished trial trained again" test "$rerun_twice" -eq 0
ok_files=0; resumed=0
for f in "$out"/*.h5; do
  rows=$(h5dump -d /epochs/epoch "$f" | grep '(0)' | sed 's/.*(0): *//')
  id=$(attr_of "$f" trial_id)
  starts=$(grep -cE "trial [0-9]/6 $id: .*(starting at|resuming after)" "$work/run2.out")
  if [[ $(attr_of "$f" status) == complete && "$rows" == "1, 2, 3, 4, 5, 6" && $starts -le 1 ]] && h5ls -r "$f" >/dev/null; then
    ok_files=$((ok_files + 1))
  fi
  if [[ $(attr_of "$f" resumes) == 1 ]]; then resumed=$((resumed + 1)); last_resumed=$f; fi
done
check "every trial complete exactly once, epochs 1..6 once each" test "$ok_files" -eq 6
check "rerun: $checkpointed trial(s) continued from the checkpoint" test "$resumed" -eq "$checkpointed"
check "rerun: the summary counts them" grep -q "^  resumed   $resumed (continued from their checkpoint)$" "$work/run2.out"

# A resumed trial is the trial trained without interruption, bit for bit.
if [[ -n "${last_resumed:-}" ]]; then
  "$bin" train --model gecco --epochs 6 --train-subset 8000 --test-subset 500 --threads 1 --quiet \
    --lr "$(attr_of "$last_resumed" lr)" --seed "$(attr_of "$last_resumed" seed)" --out "$work/uninterrupted.h5" >/dev/null 2>&1
  check "resumed trial = uninterrupted run: parameters" h5diff "$last_resumed" "$work/uninterrupted.h5" /checkpoint/params /checkpoint/params
  check "resumed trial = uninterrupted run: test accuracies" h5diff "$last_resumed" "$work/uninterrupted.h5" /epochs/test_accuracy /epochs/test_accuracy
  check "resumed trial = uninterrupted run: validation accuracies" h5diff "$last_resumed" "$work/uninterrupted.h5" /epochs/val_accuracy /epochs/val_accuracy
  check "resumed trial = uninterrupted run: validation images" h5diff "$last_resumed" "$work/uninterrupted.h5" /validation/indices /validation/indices
  check "resumed trial = uninterrupted run: best epoch" test "$(attr_of "$last_resumed" best_epoch)" = "$(attr_of "$work/uninterrupted.h5" best_epoch)"
  check "resumed trial = uninterrupted run: best weights" h5diff "$last_resumed" "$work/uninterrupted.h5" /best/weights /best/weights
  check "resumed trial: eval --weights best reproduces its best epoch" "$bin" eval --run "$last_resumed" --weights best --threads 1
fi

# ---- a data-parallel trial (ranks_per_trial = 2), killed and resumed ----------
# Resuming a group restores the checkpoint on its first rank and broadcasts
# parameters, buffers and optimizer state: the result is still the one of
# `train --grad-accum 2` without interruption.
cat >"$work/dp.ini" <<EOF
[sweep]
name = dp-resume
out = $work/dp
ranks_per_trial = 2
[defaults]
model = gecco
epochs = 8
train_subset = 12000
test_subset = 300
threads = 1
EOF
mpirun -np 2 --oversubscribe --bind-to none "$bin" sweep "$work/dp.ini" --verbose >"$work/dp1.out" 2>&1 &
job=$!
killed=""
for _ in $(seq 1 1200); do
  if grep -q 'epoch 2/8' "$work/dp1.out"; then
    killed=$(kill_rank1 "$job")
    break
  fi
  kill -0 "$job" 2>/dev/null || break
  sleep 0.05
done
wait "$job"
echo "=== data-parallel run 1: rank 1 (pid ${killed:-none}) killed with SIGKILL"
check "data-parallel: killed mid-trial, .tmp left" bash -c "[[ -n '$killed' ]] && ls '$work'/dp/*.h5.tmp >/dev/null"
mpirun -np 2 --oversubscribe --bind-to none "$bin" sweep "$work/dp.ini" >"$work/dp2.out" 2>&1
rc=$?
cat "$work/dp2.out"
dp=$(ls "$work"/dp/*.h5 2>/dev/null | head -1)
check "data-parallel rerun: exit 0, resumed once" bash -c "[[ $rc -eq 0 ]] && grep -q '^  resumed   1 ' '$work/dp2.out'"
check "data-parallel rerun: complete, epochs 1..8 once each" bash -c "[[ '$(attr_of "$dp" status)' == complete && '$(h5dump -d /epochs/epoch "$dp" | grep '(0)' | sed 's/.*(0): *//')' == '1, 2, 3, 4, 5, 6, 7, 8' ]]"
"$bin" train --model gecco --epochs 8 --train-subset 12000 --test-subset 300 --threads 1 --grad-accum 2 --quiet \
  --out "$work/accum2.h5" >/dev/null 2>&1
check "data-parallel resumed trial = uninterrupted --grad-accum 2: parameters" \
  h5diff "$dp" "$work/accum2.h5" /checkpoint/params /checkpoint/params

finish
