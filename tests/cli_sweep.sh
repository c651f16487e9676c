#!/usr/bin/env bash
# `sweeprun sweep` end to end, on tiny trials (GECCO, a few hundred images,
# 1-3 epochs): a dry run prints the table and writes nothing; a bad file
# gives FILE:LINE messages, exit 2 and nothing written (/dev/zero and a
# sweep named .. too); mpirun -np 2 runs every trial exactly once; a rerun
# skips them all; an edited file makes new trials beside the old files; median pruning; diverged trials and
# max_failures; a trial that cannot start is failed and the sweep goes on;
# ranks_per_trial = 2 equals `train --grad-accum 2` bit for bit; one sweep
# at a time per out folder.
# usage: cli_sweep.sh SWEEPRUN_BINARY SOURCE_DIR
source "$(dirname "$0")/cli_lib.sh"

need_mnist
need_mpirun
count() { grep -c -- "$1" "$2"; }   # lines of $2 matching $1

# ---- 1. dry run ----------------------------------------------------------
out="$work/tiny"
cat >"$work/tiny.ini" <<EOF
[sweep]
name = tiny
out = $out
seeds = 0, 1
[defaults]
model = gecco
epochs = 1
train_subset = 256
test_subset = 100
batch_size = 32
threads = 1
[model.gecco]
feature_length = 16
[grid]
lr = 0.001, 0.003
dropout = 0.1, 0.2
EOF
"$bin" sweep "$work/tiny.ini" --dry-run >"$work/dry.out" 2>&1
rc=$?
cat "$work/dry.out"
check "dry run: exit 0" test "$rc" -eq 0
check "dry run: header names 8 trials" grep -q "^sweep tiny: 8 trials (4 configurations x 2 seeds, grid search)" "$work/dry.out"
check "dry run: table header" grep -Eq "^# +trial +model +seed +epochs +lr +dropout +state +run file$" "$work/dry.out"
check "dry run: 8 rows, all new" test "$(grep -Ec '^[1-8] +[0-9a-f]{12} +gecco +[01] +1 +0.00[13] +0.[12] +new +gecco-s[01]-[0-9a-f]{12}.h5$' "$work/dry.out")" -eq 8
check "dry run: row 3 is lr 0.001, dropout 0.2, seed 0" grep -Eq '^3 +[0-9a-f]{12} +gecco +0 +1 +0.001 +0.2 ' "$work/dry.out"
check "dry run: writes nothing" test ! -e "$out"

# ---- 2. a bad file: every problem, exit 2, nothing written -----------------
cat >"$work/bad.ini" <<EOF
[sweep]
name = bad
out = $work/bad-out
[defaults]
model = gecco
lr = fast
[grid]
dropout = 0.1, 2
batch_size =
[extras]
EOF
"${mpi[@]}" "$bin" sweep "$work/bad.ini" >"$work/bad.out" 2>&1
rc=$?
cat "$work/bad.out"
check "bad file: exit 2" test "$rc" -eq 2
check "bad file: lr at line 6" grep -q "^$work/bad.ini:6: lr: expected a number in \[0, 1000\], got 'fast'$" "$work/bad.out"
check "bad file: dropout at line 8" grep -q "^$work/bad.ini:8: dropout: expected a value in \[0, 0.99\], got 2$" "$work/bad.out"
check "bad file: empty list at line 9" grep -q "^$work/bad.ini:9: batch_size: expected a comma-separated list of values, got an empty list$" "$work/bad.out"
check "bad file: unknown section at line 10" grep -q "^$work/bad.ini:10: unknown section \[extras\]" "$work/bad.out"
check "bad file: each printed once under 2 ranks" test "$(count "bad.ini:6:" "$work/bad.out")" -eq 1
check "bad file: says nothing was run" grep -q "sweeprun: sweep: 4 problems in $work/bad.ini; nothing was run" "$work/bad.out"
check "bad file: nothing written" test ! -e "$work/bad-out"

# /dev/zero (one endless line) took 7 GB in 20 s; under a 2 GB cap the old
# reader failed, so this checks the refusal, not the machine's memory.
(ulimit -v 2000000; timeout 60 "$bin" sweep /dev/zero --dry-run) >"$work/zero.out" 2>&1
rc=$?
cat "$work/zero.out"
check "/dev/zero: exit 2" test "$rc" -eq 2
check "/dev/zero: not a regular file" grep -q "^/dev/zero: cannot read the sweep file: not a regular file$" "$work/zero.out"
check "/dev/zero: that one problem only (no dataset or model lines)" grep -q "sweeprun: sweep: 1 problem in /dev/zero" "$work/zero.out"

# A sweep named .. without out would write its run files to runs/.. (here).
mkdir -p "$work/dotdot/cwd"
printf '[sweep]\nname = ..\n[defaults]\nmodel = gecco\nepochs = 1\ntrain_subset = 64\ntest_subset = 32\nbatch_size = 32\n' \
  >"$work/dotdot/dotdot.ini"
(cd "$work/dotdot/cwd" && "$bin" sweep ../dotdot.ini) >"$work/dotdot.out" 2>&1
rc=$?
cat "$work/dotdot.out"
check "name ..: exit 2" test "$rc" -eq 2
check "name ..: refused at line 2" grep -q "^../dotdot.ini:2: name: '..' is not allowed" "$work/dotdot.out"
check "name ..: nothing written" test -z "$(ls -A "$work/dotdot/cwd")"

# scheduler = asha: --dry-run prints its plan after the table; rungs that
# do not fit the trials' epochs are refused at the scheduler's line.
sed 's/^seeds = 0, 1$/seeds = 0\nscheduler = asha:min_epochs=1,eta=3/; s/^epochs = 1$/epochs = 9/' "$work/tiny.ini" >"$work/asha.ini"
"$bin" sweep "$work/asha.ini" --dry-run >"$work/asha-dry.out" 2>&1
rc=$?
cat "$work/asha-dry.out"
check "asha dry run: exit 0" test "$rc" -eq 0
check "asha dry run: header names the scheduler" grep -q ", scheduler asha (min_epochs 1, eta 3)$" "$work/asha-dry.out"
check "asha dry run: the plan after the table" diff <(sed -n '/^asha: /,/^  budget/p' "$work/asha-dry.out") - <<'PLAN'
asha: rungs at 1, 3 epochs, then 9 (max_epochs)
  at each rung a trial goes on only if it is in the top 1/3 of the trials that reached it, else it stops there
  a free rank promotes a waiting trial before it starts a new one
  budget: about 2.33 epochs per trial started (26% of 9) if each rung keeps exactly its top 1/3
PLAN
check "asha dry run: plan comes after the last row" bash -c "grep -n '' '$work/asha-dry.out' | grep -A1 '^[0-9]*:4 ' | grep -q ':asha: rungs'"
sed 's/min_epochs=1,eta=3/min_epochs=10,eta=3/' "$work/asha.ini" >"$work/asha-bad.ini"
"$bin" sweep "$work/asha-bad.ini" >"$work/asha-bad.out" 2>&1
rc=$?
cat "$work/asha-bad.out"
check "asha, min_epochs above epochs: exit 2" test "$rc" -eq 2
check "asha, min_epochs above epochs: at the scheduler line" grep -q "^$work/asha-bad.ini:5: scheduler: asha: min_epochs (10) is above epochs (9) (trials of 9 epochs)$" "$work/asha-bad.out"
check "asha, min_epochs above epochs: nothing written" test ! -e "$out"

# ---- 3. mpirun -np 2: every trial complete, exactly once --------------------
"${mpi[@]}" "$bin" sweep "$work/tiny.ini" >"$work/run1.out" 2>&1
rc=$?
cat "$work/run1.out"
check "np 2: exit 0" test "$rc" -eq 0
check "np 2: 8 run files" test "$(ls "$out"/*.h5 | wc -l)" -eq 8
check "np 2: no .tmp left" bash -c "! ls '$out'/*.tmp 2>/dev/null"
check "np 2: summary: 8 complete" grep -q "^  complete  8$" "$work/run1.out"
check "np 2: summary: where the files are" grep -q "^run files: $out/ (8 finished, 0 unfinished)$" "$work/run1.out"
ids=$(grep -Eo '^[1-8] +[0-9a-f]{12}' "$work/dry.out" | awk '{print $2}')
once=0
for id in $ids; do
  f=$(ls "$out"/*-"$id".h5 2>/dev/null)
  [[ -n "$f" && "$(attr "$f" status)" == complete && "$(attr "$f" trial_id)" == "$id" \
     && "$(count "$id complete:" "$work/run1.out")" -eq 1 && "$(count "$id: gecco" "$work/run1.out")" -eq 1 ]] && once=$((once + 1))
done
check "np 2: each dry-run id trained once, its file complete" test "$once" -eq 8
check "np 2: both ranks took trials" bash -c "grep -q '^\[rank 0\] trial' '$work/run1.out' && grep -q '^\[rank 1\] trial' '$work/run1.out'"
check "np 2: run file records the sweep" test "$(attr "$f" sweep)" = tiny
stat -c '%n %i %Y %s' "$out"/*.h5 >"$work/stat1"

# ---- 4. rerun: all skipped, nothing rewritten ---------------------------------
"${mpi[@]}" "$bin" sweep "$work/tiny.ini" >"$work/run2.out" 2>&1
rc=$?
check "rerun: exit 0" test "$rc" -eq 0
check "rerun: 8 skipped" grep -q "^  skipped   8 (finished by an earlier run: 8 complete)$" "$work/run2.out"
check "rerun: no trial trained" bash -c "! grep -q 'starting at epoch' '$work/run2.out'"
stat -c '%n %i %Y %s' "$out"/*.h5 >"$work/stat2"
check "rerun: files untouched" cmp "$work/stat1" "$work/stat2"

# ---- 5. an edited file: new ids, old files kept ---------------------------------
sed 's/^epochs = 1$/epochs = 2/' "$work/tiny.ini" >"$work/tiny2.ini"
"$bin" sweep "$work/tiny2.ini" --quiet >"$work/run3.out" 2>&1
rc=$?
check "edited: exit 0" test "$rc" -eq 0
check "edited: 8 new trials, 0 skipped" bash -c "grep -q '^  complete  8$' '$work/run3.out' && grep -q '^  skipped   0$' '$work/run3.out'"
check "edited: 16 files side by side" test "$(ls "$out"/*.h5 | wc -l)" -eq 16
check "edited: old files untouched" bash -c "stat -c '%n %i %Y %s' $(echo $(awk '{print $1}' "$work/stat1")) | cmp - '$work/stat2'"

# ---- 6. median pruning (one process: a deterministic order) ---------------------
# Two epochs: a trial is never pruned after its last epoch, so the only
# verdicts are at epoch 1, where lr 0 (chance accuracy) is far below any
# trained trial whatever the seed's shuffle; min_trials=2 spares the two
# good trials (the first has no peer, the second one). Pruning compares
# validation accuracies (the split auto holds out 166 of the 2,000 images).
cat >"$work/prune.ini" <<EOF
[sweep]
name = prune
out = $work/prune
seeds = 0, 1
prune = median:warmup=1:min_trials=2
[defaults]
model = gecco
epochs = 2
train_subset = 2000
test_subset = 300
threads = 1
[grid]
lr = 0.003, 0
EOF
"$bin" sweep "$work/prune.ini" >"$work/prune.out" 2>&1
rc=$?
cat "$work/prune.out"
check "prune: exit 0" test "$rc" -eq 0
check "prune: 2 complete, 2 pruned" bash -c "grep -q '^  complete  2$' '$work/prune.out' && grep -q '^  pruned    2$' '$work/prune.out'"
pruned=0; kept=0
for f in "$work"/prune/*.h5; do
  lr=$(attr "$f" lr); st=$(attr "$f" status); n=$(h5dump -d /epochs/epoch "$f" | grep -c '(0)')
  rows=$(h5dump -d /epochs/epoch "$f" | grep '(0)' | sed 's/.*(0): *//')
  if [[ "$lr" == 0 && "$st" == pruned && "$rows" == 1 && "$(attr "$f" epochs_completed)" == 1 ]]; then pruned=$((pruned + 1)); fi
  if [[ "$lr" != 0 && "$st" == complete && "$rows" == "1, 2" ]]; then kept=$((kept + 1)); fi
done
check "prune: lr 0 trials stopped after epoch 1, files kept" test "$pruned" -eq 2
check "prune: the others ran both epochs" test "$kept" -eq 2
# The first pruned trial compared with the two good ones: the mean of their
# validation accuracies at epoch 1.
median=$(for f in "$work"/prune/*.h5; do [[ $(attr "$f" lr) != 0 ]] && h5dump -d /epochs/val_accuracy "$f" | grep '(0)' | sed 's/.*(0): *//; s/,.*//'; done \
         | awk '{ s += $1 } END { printf "%.2f", 50 * s }')
echo "median of the two good trials' validation accuracy after epoch 1: $median%"
check "prune: first pruned trial names the median ($median%)" grep -q "validation accuracy [0-9.]*% is below the median $median% of the other gecco trials" "$work/prune.out"

# Pruning needs a validation split, and a split must leave images to train on:
# both refused at their line, nothing run.
cat >"$work/noval.ini" <<EOF
[sweep]
name = noval
out = $work/noval
prune = median:warmup=1
[defaults]
model = gecco
train_subset = 1000
val_split = 0
[grid]
lr = 0.001, 0.002
EOF
"$bin" sweep "$work/noval.ini" >"$work/noval.out" 2>&1
rc=$?
check "prune without a validation split: exit 2" test "$rc" -eq 2
check "prune without a validation split: says so at the val_split line" \
  grep -q "noval.ini:8: val_split: pruning decides on the validation split, and val_split = 0 has none" "$work/noval.out"
check "prune without a validation split: nothing run" test ! -e "$work/noval"
sed -e 's/^val_split = 0$/val_split = 5000/' -e 's/^prune = .*$/; no pruning/' -e "s|^out = .*|out = $work/bigval|" "$work/noval.ini" >"$work/bigval.ini"
"$bin" sweep "$work/bigval.ini" >"$work/bigval.out" 2>&1
rc=$?
check "val_split beyond the training set: exit 2" test "$rc" -eq 2
check "val_split beyond the training set: says so at its line" \
  grep -q "bigval.ini:8: val_split: 5000 images held out of 1000 training images" "$work/bigval.out"

# ---- 7. diverged trials and max_failures; a trial that cannot start -------------
cat >"$work/div.ini" <<EOF
[sweep]
name = div
out = $work/div
seeds = 0, 1, 2
max_failures = 1
[defaults]
model = baseline_cnn
optimizer = sgd
lr = 1000
epochs = 2
train_subset = 640
test_subset = 100
threads = 1
EOF
"$bin" sweep "$work/div.ini" >"$work/div.out" 2>&1
rc=$?
cat "$work/div.out"
check "max_failures: exit 1 (stopped early)" test "$rc" -eq 1
check "max_failures: 2 diverged, 1 not run" bash -c "grep -q '^  diverged  2$' '$work/div.out' && grep -q '^  not run   1 (stopped: more than max_failures = 1' '$work/div.out'"
check "max_failures: diverged files kept with their status" test "$(for f in "$work"/div/*.h5; do attr "$f" status; done | grep -c diverged)" -eq 2
"$bin" sweep "$work/div.ini" --quiet >"$work/div2.out" 2>&1
rc=$?
check "max_failures rerun: the last trial runs, the sweep ends: exit 0" test "$rc" -eq 0
check "max_failures rerun: 1 diverged, 2 skipped" bash -c "grep -q '^  diverged  1$' '$work/div2.out' && grep -q '^  skipped   2 (finished by an earlier run: 2 diverged)$' '$work/div2.out'"

# A trial whose run file cannot be created (a folder sits at its .tmp name)
# fails; the others complete.
victim=$(grep -Eo 'gecco-s1-[0-9a-f]{12}\.h5' "$work/dry.out" | head -1)
sed "s|^out = .*|out = $work/fail|" "$work/tiny.ini" >"$work/fail.ini"
mkdir -p "$work/fail/$victim.tmp"
"$bin" sweep "$work/fail.ini" --quiet >"$work/fail.out" 2>&1
rc=$?
cat "$work/fail.out"
check "failed trial: exit 1" test "$rc" -eq 1
check "failed trial: 7 complete, 1 failed" bash -c "grep -q '^  complete  7$' '$work/fail.out' && grep -q '^  failed    1$' '$work/fail.out'"
check "failed trial: names the trial and the file" grep -Eq "trial [0-9]/8 ${victim:9:12} failed: .*$victim.tmp" "$work/fail.out"

# ---- 8. ranks_per_trial = 2: data-parallel trials = train --grad-accum 2 ----------
cat >"$work/dp.ini" <<EOF
[sweep]
name = dp
out = $work/dp
ranks_per_trial = 2
[defaults]
model = gecco
epochs = 1
train_subset = 320
; 256 images left to train on: 8 whole batches of 32, 4 images per rank x micro-batch even at 4 ranks
val_split = 64
test_subset = 100
batch_size = 32
threads = 1
lr = 0.003
EOF
"${mpi[@]}" "$bin" sweep "$work/dp.ini" >"$work/dp.out" 2>&1
rc=$?
cat "$work/dp.out"
dp=$(ls "$work"/dp/*.h5 2>/dev/null | head -1)
check "ranks_per_trial 2: exit 0" test "$rc" -eq 0
check "ranks_per_trial 2: one group of 2 ranks" grep -q "1 group of 2 ranks" "$work/dp.out"
check "ranks_per_trial 2: recorded" bash -c "[[ '$(attr "$dp" ranks_per_trial)' == 2 && '$(attr "$dp" world_size)' == 2 ]]"
"$bin" train --model gecco --epochs 1 --train-subset 320 --val-split 64 --test-subset 100 --batch-size 32 --threads 1 \
  --lr 0.003 --grad-accum 2 --quiet --out "$work/accum2.h5" >/dev/null 2>&1
check "ranks_per_trial 2: same parameters as --grad-accum 2" h5diff "$dp" "$work/accum2.h5" /checkpoint/params /checkpoint/params
"${mpi[@]}" "$bin" sweep "$work/dp.ini" >/dev/null 2>&1   # nothing left to do: fine
sed -e 's/^ranks_per_trial = 2$/ranks_per_trial = 4/' -e "s|^out = .*|out = $work/dp4|" "$work/dp.ini" >"$work/dp4.ini"
"${mpi[@]}" "$bin" sweep "$work/dp4.ini" >"$work/dp4.out" 2>&1
rc=$?
check "ranks_per_trial 4 on 2 ranks: exit 2" test "$rc" -eq 2
check "ranks_per_trial 4 on 2 ranks: says why, with the line, once" \
  test "$(count "dp4.ini:4: ranks_per_trial: 4 needs a job of at least 4 ranks" "$work/dp4.out")" -eq 1
check "ranks_per_trial 4 on 2 ranks: nothing written" test ! -e "$work/dp4"

# ---- 9. the example sweep files are valid -------------------------------------------
for ex in "$2"/sweeps/examples/*.ini; do
  check "example $(basename "$ex"): --dry-run accepts it" "$bin" sweep "$ex" --dry-run
done
# Table II: the six models, 5 seeds each, in both blocks (report / repositories)
for t in table2 table2_repos; do
  "$bin" sweep "$2/sweeps/examples/$t.ini" --dry-run >"$work/$t.out" 2>&1
  check "example $t.ini: 30 trials, 6 configurations x 5 seeds" \
    grep -q "^sweep $t: 30 trials (6 configurations x 5 seeds, grid search)" "$work/$t.out"
  for m in baseline_cnn gecco gecco_enhanced spinalnet resnet efficient_capsnet; do
    check "example $t.ini: 5 trials of $m" test "$(grep -Ec "^[0-9]+ +[0-9a-f]{12} +$m +[0-4] " "$work/$t.out")" -eq 5
  done
done

# ---- 10. one sweep at a time per out folder ---------------------------------------------
flock "$out/.sweeprun.lock" sleep 5 &
holder=$!
sleep 0.5
"$bin" sweep "$work/tiny.ini" >"$work/lock.out" 2>&1
rc=$?
kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null
check "busy out folder: exit 2" test "$rc" -eq 2
check "busy out folder: says so" grep -q "another sweep is running in $out" "$work/lock.out"

finish
