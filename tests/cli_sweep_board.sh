#!/usr/bin/env bash
# The pruning board (acc[epoch][trial] on rank 0) is allocated before the
# first epoch: it keeps only the epochs a pruning decision reads, none
# without pruning, and a sweep whose board would pass
# PRUNE_BOARD_MAX_BYTES is refused with the sweep file's other problems
# (exit 2, nothing run) instead of taking gigabytes (2,000 trials x
# 100,000 epochs took 1.6 GB).
# usage: cli_sweep_board.sh SWEEPRUN_BINARY SOURCE_DIR
source "$(dirname "$0")/cli_lib.sh"

need_mnist
write_sweep() {  # write_sweep FILE PRUNE_LINE: 40 seeds x 5 x 10 = 2000 trials
  cat >"$1" <<EOF2
[sweep]
name = board
out = $work/runs
seeds = $(seq -s ', ' 0 39)
$2
[defaults]
model = gecco
epochs = 100000
train_subset = 256
test_subset = 100
[grid]
lr = 0.001, 0.002, 0.003, 0.004, 0.005
batch_size = 32, 40, 48, 56, 64, 72, 80, 88, 96, 104
EOF2
}
write_sweep "$work/pruned.ini" "prune = median:warmup=3"
"$bin" sweep "$work/pruned.ini" --dry-run >"$work/pruned.out" 2>&1
rc=$?
cat "$work/pruned.out" | tail -3
check "a board of 2000 trials x 99997 epochs: exit 2" test "$rc" -eq 2
check "the message names the prune line, the size and the limit" \
  grep -qE "pruned.ini:5: prune: the pruning board would keep 2000 trials x 99997 epochs of accuracies \(1526 MB\) on rank 0, more than 256 MB" "$work/pruned.out"
check "nothing was written" test ! -e "$work/runs"

write_sweep "$work/unpruned.ini" ""
"$bin" sweep "$work/unpruned.ini" --dry-run >"$work/unpruned.out" 2>&1
rc=$?
check "no pruning, no board: the same sweep is accepted" test "$rc" -eq 0

finish
