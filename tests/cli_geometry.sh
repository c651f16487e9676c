#!/usr/bin/env bash
# Job geometry that cannot work is bad input: one message naming the
# problem, printed once (by one rank), exit 2, and nothing written (no run
# file, no out folder), for `train --data-parallel` and `sweep` under
# mpirun: more ranks per trial than ranks, ranks per trial not dividing
# the job, a batch the group cannot share, NCCL the job cannot use (no
# NCCL in this build, or two ranks on one GPU).
# usage: cli_geometry.sh SWEEPRUN_BINARY SOURCE_DIR
source "$(dirname "$0")/cli_lib.sh"

need_mnist
need_mpirun
mpi() { local n=$1; shift; timeout 120 mpirun -np "$n" --oversubscribe --bind-to none "$bin" "$@"; }
small=(--model gecco --epochs 1 --train-subset 640 --test-subset 100 --threads 1 --quiet)
# bad NAME PATTERN: the last command exited 2, printed one sweeprun line
# matching PATTERN, and left nothing under $work/out.
bad() {
  local rc=$? name=$1 pattern=$2
  echo "--- $name: exit $rc"; sed 's/^/    /' "$work/err"
  check "$name: exit 2" test "$rc" -eq 2
  check "$name: one message, once" \
    bash -c "[[ \$(grep -c '^sweeprun: ' '$work/err') -eq 1 ]] && grep -q -- \"$pattern\" '$work/err'"
  check "$name: nothing written" bash -c "! ls -A '$work/out' 2>/dev/null | grep -q ."
}
sweep_file() {  # sweep_file RANKS_PER_TRIAL [KEY = VALUE ...]: $work/s.ini
  local k=$1; shift
  printf '[sweep]\nname = geometry\nout = %s\nranks_per_trial = %s\n[defaults]\nmodel = gecco\nepochs = 1\ntrain_subset = 640\ntest_subset = 100\nthreads = 1\n' \
    "$work/out/sweep" "$k" >"$work/s.ini"
  local line
  for line in "$@"; do echo "$line" >>"$work/s.ini"; done
}
mkdir -p "$work/out"

# ---- sweep ----------------------------------------------------------------------------------
sweep_file 4
mpi 2 sweep "$work/s.ini" >/dev/null 2>"$work/err"
bad "sweep, ranks_per_trial 4 on 2 ranks" "s.ini:4: ranks_per_trial: 4 needs a job of at least 4 ranks"
sweep_file 2
mpi 3 sweep "$work/s.ini" >/dev/null 2>"$work/err"
bad "sweep, ranks_per_trial 2 on 3 ranks" "s.ini:4: ranks_per_trial: 2 does not divide the 3 ranks of this job"
sweep_file 2 "batch_size = 31"
mpi 2 sweep "$work/s.ini" >/dev/null 2>"$work/err"
bad "sweep, batch 31 over groups of 2" "batch_size 31 is not divisible by 2 ranks x grad_accum 1"

# ---- train --data-parallel -------------------------------------------------------------------------
mpi 2 train "${small[@]}" --data-parallel --batch-size 31 --out "$work/out/a.h5" >/dev/null 2>"$work/err"
bad "train, batch 31 over 2 ranks" "batch_size 31 is not divisible by 2 ranks x grad_accum 1"
mpi 3 train "${small[@]}" --data-parallel --out "$work/out/b.h5" >/dev/null 2>"$work/err"
bad "train, batch 64 over 3 ranks" "batch_size 64 is not divisible by 3 ranks x grad_accum 1"

# ---- NCCL the job cannot use (a machine with 2 GPUs could) ------------------------------------------
if [[ $(nvidia-smi -L 2>/dev/null | wc -l) -lt 2 ]]; then
  mpi 2 train "${small[@]}" --data-parallel --allreduce nccl --out "$work/out/c.h5" >/dev/null 2>"$work/err"
  bad "train, allreduce nccl unusable" "train: allreduce nccl: "
  sweep_file 2 "allreduce = nccl"
  mpi 2 sweep "$work/s.ini" >/dev/null 2>"$work/err"
  bad "sweep, allreduce nccl unusable" "sweep: allreduce nccl: "
fi

finish
