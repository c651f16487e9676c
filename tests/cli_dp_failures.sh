#!/usr/bin/env bash
# Data-parallel failure paths and launch modes: a rank with a bad input
# (its dataset is missing) ends the whole job quickly, non-zero, with that
# rank's message and no run file; a multi-rank job without --data-parallel
# is refused; --data-parallel also works without mpirun (a group of one)
# and under mpirun -np 1.
# usage: cli_dp_failures.sh SWEEPRUN_BINARY SOURCE_DIR
source "$(dirname "$0")/cli_lib.sh"

need_mnist
need_mpirun
small=(--model gecco --epochs 1 --train-subset 640 --test-subset 200 --batch-size 32 --threads 1 --quiet)
now() { date +%s.%N; }

# 1. Rank 1 cannot find its dataset (MPMD launch: different arguments per rank).
out="$work/mpmd.h5"
t0=$(now)
timeout 60 mpirun --oversubscribe --bind-to none \
  -np 1 "$bin" train "${small[@]}" --data-parallel --out "$out" : \
  -np 1 "$bin" train "${small[@]}" --data-parallel --out "$out" --dataset "$work/no-such-mnist" \
  >"$work/stdout" 2>"$work/stderr"
rc=$?
secs=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
echo "rank 1 without its dataset: exit $rc after $secs s; stderr:"; sed 's/^/    /' "$work/stderr"
check "missing dataset on one rank: non-zero exit" test "$rc" -ne 0
check "missing dataset on one rank: not a timeout (no hang)" test "$rc" -ne 124
check "missing dataset on one rank: within 20 s" awk -v s="$secs" 'BEGIN { exit !(s < 20) }'
check "the message names rank 1 and the cause" \
  grep -q "sweeprun: rank 1: train: dataset: '$work/no-such-mnist' is neither" "$work/stderr"
check "rank 0 reports nothing of its own" bash -c "! grep -q 'rank 0:' '$work/stderr'"
check "no run file left behind" bash -c "! ls '$out'* 2>/dev/null"

# 2. Every rank has the same bad flag: one message, exit code 2.
timeout 60 mpirun -np 2 --oversubscribe --bind-to none "$bin" train "${small[@]}" --data-parallel \
  --lr fast --out "$work/badflag.h5" >"$work/stdout" 2>"$work/stderr"
rc=$?
check "bad flag on every rank: exit 2" test "$rc" -eq 2
check "bad flag on every rank: printed once" test "$(grep -c 'sweeprun: train: lr: expected a number' "$work/stderr")" -eq 1

# 3. Several ranks without --data-parallel: refused, nothing written.
timeout 60 mpirun -np 2 --oversubscribe --bind-to none "$bin" train "${small[@]}" --out "$work/nodp.h5" \
  >"$work/stdout" 2>"$work/stderr"
rc=$?
check "no --data-parallel under mpirun -np 2: exit 2" test "$rc" -eq 2
check "no --data-parallel: says why" grep -q "this job has 2 MPI ranks but --data-parallel was not given" "$work/stderr"
check "no --data-parallel: no run file" bash -c "! ls '$work/nodp.h5'* 2>/dev/null"

# 4. A global batch the ranks cannot share equally.
timeout 60 mpirun -np 2 --oversubscribe --bind-to none "$bin" train "${small[@]}" --data-parallel \
  --batch-size 31 --out "$work/odd.h5" >"$work/stdout" 2>"$work/stderr"
rc=$?
check "batch 31 over 2 ranks: exit 2" test "$rc" -eq 2
check "batch 31 over 2 ranks: says why" grep -q "batch_size 31 is not divisible by 2 ranks" "$work/stderr"

# 5. The first rank's run file exists already: refused, file untouched.
echo precious >"$work/existing.h5"
timeout 60 mpirun -np 2 --oversubscribe --bind-to none "$bin" train "${small[@]}" --data-parallel \
  --out "$work/existing.h5" >"$work/stdout" 2>"$work/stderr"
rc=$?
check "existing run file: exit 2" test "$rc" -eq 2
check "existing run file: untouched" test "$(cat "$work/existing.h5")" = precious

# 6. Without mpirun: --data-parallel is a group of one.
"$bin" train "${small[@]}" --data-parallel --out "$work/single.h5" >"$work/stdout" 2>"$work/stderr"
rc=$?
check "singleton --data-parallel: exit 0" test "$rc" -eq 0
check "singleton: world_size 1" test "$(attr "$work/single.h5" world_size)" = 1
check "singleton: ranks_per_trial 1" test "$(attr "$work/single.h5" ranks_per_trial)" = 1
"$bin" train "${small[@]}" --out "$work/plain.h5" >/dev/null 2>&1
check "singleton: same parameters as a plain run" h5diff "$work/single.h5" "$work/plain.h5" /checkpoint/params /checkpoint/params

# 7. mpirun -np 1 --data-parallel: MPI initialised, one rank.
timeout 60 mpirun -np 1 --bind-to none "$bin" train "${small[@]}" --data-parallel --out "$work/np1.h5" \
  >"$work/stdout" 2>"$work/stderr"
rc=$?
check "mpirun -np 1: exit 0" test "$rc" -eq 0
check "mpirun -np 1: same parameters as a plain run" h5diff "$work/np1.h5" "$work/plain.h5" /checkpoint/params /checkpoint/params

finish
