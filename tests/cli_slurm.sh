#!/usr/bin/env bash
# The Slurm scripts under a real Slurm: this test starts munged, slurmctld
# and slurmd on this machine (one node, a private state folder, free
# ports, proctrack/linuxproc and task/none: no cgroups) and submits
#  1. scripts/slurm/sweep.sbatch on a 4-trial CPU sweep, 2 ranks
#     (srun --mpi=pmix): the job completes and every trial is complete
#     exactly once;
#  2. the same sweep again into another folder, interrupted twice: once
#     through the time-limit path (`scancel --batch --signal=USR1`: what
#     --signal=B:USR1@60 sends before the limit; the script stops the ranks
#     and requeues the job) and once by `scontrol requeue` (Slurm kills and
#     requeues it). The job runs a third time and completes; every trial is
#     complete exactly once, and every trial, the resumed ones above all,
#     has the parameters and accuracies of run 1 bit for bit;
#  3. scripts/slurm/train_dp.sbatch with 2 tasks on the CPU: the same
#     parameters as `train --grad-accum 2` in one process.
# The squeue and scontrol lines of the requeued job are printed (sacct
# needs slurmdbd and a MySQL server, which this test does not run; it
# prints sacct's refusal too). The daemons, their jobs and every file are
# gone when the test ends, however it ends.
# usage: cli_slurm.sh SWEEPRUN_BINARY SOURCE_DIR
source "$(dirname "$0")/cli_lib.sh"
source "$(dirname "$0")/cluster_lib.sh"
src="$2"

need_mnist
need_root
need_commands munged mungekey slurmctld slurmd sbatch squeue scontrol scancel sinfo srun ss h5dump h5diff

st="$work/slurm"                         # everything the daemons use
conf="$st/slurm.conf"
mark="SWEEPRUN_SLURM_TEST=$work"         # in the environment of the daemons and jobs
node=$(uname -n)
node=${node%%.*}
# Slurm commands against this test's cluster only (SLURM_CONF); jobs
# inherit the submitting environment, marker included.
sl() { env SLURM_CONF="$conf" "$mark" "$@"; }

queue_empty() { [[ -z "$(sl squeue -h 2>/dev/null)" ]]; }
cleanup() {
  if [[ -f "$st/slurmctld.pid" ]]; then
    local jobs
    jobs=$(sl squeue -h -o %i 2>/dev/null)
    [[ -n "$jobs" ]] && sl scancel $jobs
    wait_for 20 queue_empty
  fi
  stop_pid "$(cat "$st/slurmd.pid" 2>/dev/null)"
  stop_pid "$(cat "$st/slurmctld.pid" 2>/dev/null)"
  stop_pid "$(cat "$st/munged.pid" 2>/dev/null)"
  local pid
  for pid in $(pids_with_env "$mark"); do kill -9 "$pid" 2>/dev/null; done   # a stray slurmstepd or rank
  rm -rf "$work"
}
trap cleanup EXIT

show_logs() {
  echo "--- daemon logs"
  tail -n 30 "$st"/log/* 2>/dev/null
}

# ---- the cluster -----------------------------------------------------------
mkdir -p "$st/ctld" "$st/spool" "$st/log"
# munged refuses a socket in a folder that not everyone may enter.
chmod 711 "$work"
chmod 755 "$st"
ctld_port=$(free_port)
d_port=$(free_port)
while [[ "$d_port" == "$ctld_port" ]]; do d_port=$(free_port); done
# Two CPUs even on a one-core machine: config_overrides takes the node as
# configured rather than as found.
cpus=$(nproc)
((cpus < 2)) && cpus=2
cat >"$conf" <<EOF
ClusterName=sweepruntest
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$st/munge.sock
CredType=cred/munge
StateSaveLocation=$st/ctld
SlurmdSpoolDir=$st/spool
SlurmctldPidFile=$st/slurmctld.pid
SlurmdPidFile=$st/slurmd.pid
SlurmctldLogFile=$st/log/slurmctld.log
SlurmdLogFile=$st/log/slurmd.log
SlurmdParameters=config_overrides
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
JobRequeue=1
ReturnToService=2
KillWait=5
MinJobAge=600
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$st/jobcomp.txt
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=ci Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
started=1
mungekey --create --keyfile="$st/munge.key" || started=0
((started)) && env "$mark" munged --socket="$st/munge.sock" --key-file="$st/munge.key" \
  --log-file="$st/log/munged.log" --pid-file="$st/munged.pid" --seed-file="$st/munged.seed" || started=0
((started)) && sl slurmctld || started=0
((started)) && sl slurmd -N "$node" || started=0
node_idle() { [[ "$(sl sinfo -h -n "$node" -o %T 2>/dev/null)" == idle ]]; }
if ((!started)) || ! wait_for 30 node_idle; then
  echo "FAIL: the one-node Slurm did not come up"
  sl sinfo
  show_logs
  exit 1
fi
echo "slurm $(sl sinfo -V | awk '{print $2}'): node $node idle, slurmctld port $ctld_port, slurmd port $d_port"
check "srun knows PMIx (Open MPI's ranks get their world through it)" bash -c "env SLURM_CONF='$conf' srun --mpi=list 2>&1 | grep -qx '[[:space:]]*pmix'"

submit() { sl sbatch --parsable --chdir="$work" "$@"; }   # prints the job id
job_gone() { [[ -z "$(sl squeue -h -j "$1" 2>/dev/null)" ]]; }
job_field() { sl scontrol show job "$1" | grep -o "\b$2=[^ ]*" | head -1 | cut -d= -f2; }
queue_line() { sl squeue -h -j "$1" -O 'JobID:6,Name:16,State:10,Reason:12,RestartCnt:4,TimeUsed:8,NodeList' 2>/dev/null; }
# A CPU sweep on 2 ranks of one node: options that override the script's
# GPU defaults.
cpu_ranks=(--gpus-per-task=0 --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 --time=10)
export SWEEPRUN="$(realpath "$bin")"   # the jobs run in $work
private_mpi_files "$work/mpi"

# ---- 1. a sweep --------------------------------------------------------------
# 4 GECCO trials of 3 epochs on 20,000 images: about a second an epoch, so
# part 2 can stop the job in the middle of a trial.
sweep_file() {  # sweep_file NAME: the sweep, its run files in $work/NAME
  cat >"$work/$1.ini" <<EOF
[sweep]
name = $1
out = $work/$1
seeds = 0, 1
[defaults]
model = gecco
epochs = 3
train_subset = 20000
test_subset = 300
threads = 1
[grid]
lr = 0.001, 0.002
EOF
}
sweep_file plain
"$bin" sweep "$work/plain.ini" --dry-run >"$work/dry.out" 2>&1
ids=$(grep -Eo '^[1-4] +[0-9a-f]{12}' "$work/dry.out" | awk '{print $2}')
job=$(submit "${cpu_ranks[@]}" -o "$work/plain.out" "$src/scripts/slurm/sweep.sbatch" "$work/plain.ini")
wait_for 150 job_gone "$job"
echo "=== job $job (sweep.sbatch):"
cat "$work/plain.out"
check "sweep: the job completed" test "$(job_field "$job" JobState) $(job_field "$job" ExitCode)" = "COMPLETED 0:0"
check "sweep: 2 ranks through srun" grep -q "^sweep plain: 4 trials on 2 ranks" "$work/plain.out"
check "sweep: both ranks took trials" bash -c "grep -q '^\[rank 0\] trial' '$work/plain.out' && grep -q '^\[rank 1\] trial' '$work/plain.out'"

# Every dry-run id once: one final run file, complete, epochs 1..3, and one
# "complete" line in the whole job output (all stints).
every_trial_once() {  # every_trial_once FOLDER JOB_OUTPUT
  local id f ok=0
  for id in $ids; do
    f=$(ls "$1"/*-"$id".h5 2>/dev/null)
    [[ -n "$f" && "$(attr "$f" status)" == complete && "$(attr "$f" trial_id)" == "$id" ]] || continue
    [[ "$(h5dump -d /epochs/epoch "$f" | grep '(0)' | sed 's/.*(0): *//')" == "1, 2, 3" ]] || continue
    [[ $(grep -c "$id complete:" "$2") -eq 1 ]] && ok=$((ok + 1))
  done
  echo "$ok of 4 trials complete exactly once in $1"
  [[ $ok -eq 4 && $(ls "$1"/*.h5 | wc -l) -eq 4 ]] && ! ls "$1"/*.tmp 2>/dev/null
}
check "sweep: every trial complete exactly once" every_trial_once "$work/plain" "$work/plain.out"

# ---- 2. the same sweep, requeued twice ---------------------------------------
sweep_file requeued
out="$work/requeued.out"
# Its trials hold after step 1 of epoch 2 (runner/train/test_hold.h) until
# a stop comes or the test, after the second requeue, releases them: an
# epoch here can take 0.2 s, and a stint that ends before its signal does
# not test a requeue.
job=$(SWEEPRUN_TEST_HOLD="2:1:$work/requeued.release" \
      submit "${cpu_ranks[@]}" -o "$out" "$src/scripts/slurm/sweep.sbatch" "$work/requeued.ini" --verbose)
stint_lines() { sed -n "/, stint $1,/,\$p" "$out" 2>/dev/null; }
epoch_in_stint() { stint_lines "$1" | grep -q ' epoch [1-3]/3:'; }
requeued() { [[ "$(job_field "$job" JobState)" == PENDING && "$(job_field "$job" Restarts)" == "$1" ]]; }
# Slurm holds a requeued job for about two minutes (BeginTime); start it
# now, but not within the second of the requeue: slurmd refuses the new
# launch while that second's revocation of the old credential holds ("Job
# credential revoked"), which costs a restart and a minute.
# Nor while the last stint's step daemon still holds its PMIx socket
# (spool/stepd.slurm.pmix.JOB.0): the new step's daemon cannot bind() it
# ("Address already in use"), its launch fails, and srun says nothing
# worse than "launch failed" (seen when a stint ended within seconds).
step_socket_gone() { ! ls "$st"/spool/stepd.slurm.pmix."$job".* >/dev/null 2>&1; }
release() {
  wait_for 30 requeued "$1" && echo "after requeue $1: $(queue_line "$job")" && wait_for 30 step_socket_gone &&
    sleep 2 && sl scontrol update JobId="$job" StartTime=now
}
echo "squeue -O JobID,Name,State,Reason,RestartCnt,TimeUsed,NodeList -j $job:"
wait_for 60 epoch_in_stint 1 && echo "stint 1 running: $(queue_line "$job")"
sl scancel --batch --signal=USR1 "$job"        # the time-limit warning, now
release 1
wait_for 60 epoch_in_stint 2 && echo "stint 2 running: $(queue_line "$job")"
sl scontrol requeue "$job"
touch "$work/requeued.release"
release 2
wait_for 150 job_gone "$job"
echo "=== job $job (sweep.sbatch, requeued twice):"
cat "$out"
echo "=== the requeued job, as Slurm saw it at the end:"
sl scontrol show job "$job" | grep -E "JobId=|JobState=|Restarts=|RunTime=|SubmitTime=" | tee "$work/job.txt"
echo "=== jobcomp (jobcomp/filetxt), job $job:"
grep "^JobId=$job " "$st/jobcomp.txt" | cut -c1-200
echo "=== sacct:"
sl sacct -j "$job" 2>&1 | head -3
check "requeue: the time-limit signal reached the script" grep -q "time limit near (SIGUSR1); stopping the ranks to requeue" "$out"
check "requeue: the script requeued the job" grep -q "step ended with [0-9]*; requeueing" "$out"
check "requeue: Slurm's requeue stopped stint 2" grep -q "DUE TO JOB REQUEUE" "$out"
check "requeue: three stints" bash -c "grep -c ', stint [123],' '$out' | grep -qx 3"
check "requeue: the job completed" grep -q "JobState=COMPLETED " "$work/job.txt"
check "requeue: Slurm counts 2 restarts" grep -q "Restarts=2 " "$work/job.txt"
stint_lines 3 >"$work/stint3.out"
check "requeue: the third stint finished the sweep" grep -q "the sweep is finished" "$work/stint3.out"
check "requeue: every trial complete exactly once" every_trial_once "$work/requeued" "$out"
resumed=0; same=0
for f in "$work"/requeued/*.h5; do
  [[ "$(attr "$f" resumes)" -ge 1 ]] && resumed=$((resumed + 1))
  g="$work/plain/$(basename "$f")"
  h5diff -q "$f" "$g" /checkpoint/params /checkpoint/params && h5diff -q "$f" "$g" /epochs/test_accuracy /epochs/test_accuracy \
    && h5diff -q "$f" "$g" /epochs/val_accuracy /epochs/val_accuracy && h5diff -q "$f" "$g" /best/weights /best/weights \
    && same=$((same + 1))
done
echo "requeue: $resumed trial(s) continued from a checkpoint; $same of 4 equal the uninterrupted run"
check "requeue: some trials were continued from their checkpoint" test "$resumed" -ge 1
check "requeue: every trial = the uninterrupted run, bit for bit (parameters, accuracies, best weights)" test "$same" -eq 4

# ---- 2b. a stint whose tasks never started, srun exiting 0 -----------------------
# (what a failed step launch looked like here): the script asks `sweeprun
# status` before it believes the sweep finished, and requeues.
cat >"$work/launch-fails-once" <<EOF
#!/usr/bin/env bash
if [[ \$1 == sweep && \${SLURM_RESTART_COUNT:-0} == 0 ]]; then exit 0; fi
exec "$SWEEPRUN" "\$@"
EOF
chmod +x "$work/launch-fails-once"
sweep_file nolaunch
out="$work/nolaunch.out"
job=$(SWEEPRUN="$work/launch-fails-once" submit "${cpu_ranks[@]}" -o "$out" "$src/scripts/slurm/sweep.sbatch" "$work/nolaunch.ini")
release 1
wait_for 150 job_gone "$job"
echo "=== job $job (sweep.sbatch, stint 1 launched nothing):"
cat "$out"
check "no launch: not taken for finished, requeued" \
  grep -q "the step ended with 0 but \`sweeprun status\` says the sweep is not finished (exit [0-9]*); requeueing" "$out"
check "no launch: stint 2 finished the sweep, every trial once" \
  bash -c "$(declare -f every_trial_once attr); ids='$ids'; grep -q ', stint 2,' '$out' && grep -q 'the sweep is finished' '$out' && every_trial_once '$work/nolaunch' '$out'"

# ---- 3. the data-parallel example, 2 tasks -----------------------------------
common=(--model gecco --epochs 1 --train-subset 640 --val-split 64 --test-subset 200 --batch-size 32 --dropout 0 --seed 7)
mkdir -p "$work/dp"
job=$(submit --gpus-per-node=0 --gpus-per-task=0 --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 --time=5 \
  -o "$work/dp.out" "$src/scripts/slurm/train_dp.sbatch" "${common[@]}" --out "$work/dp/run.h5")
wait_for 120 job_gone "$job"
echo "=== job $job (train_dp.sbatch):"
cat "$work/dp.out"
"$bin" train "${common[@]}" --threads 1 --grad-accum 2 --quiet --out "$work/accum2.h5" >/dev/null 2>&1
check "data-parallel: the job completed" test "$(job_field "$job" JobState) $(job_field "$job" ExitCode)" = "COMPLETED 0:0"
check "data-parallel: 2 ranks trained one model" test "$(attr "$work/dp/run.h5" world_size)/$(attr "$work/dp/run.h5" data_parallel)" = 2/true
check "data-parallel: local ranks of this node (0 of 2 wrote)" test "$(attr "$work/dp/run.h5" local_rank)/$(attr "$work/dp/run.h5" local_size)" = 0/2
check "data-parallel: = --grad-accum 2 in one process, bit for bit" h5diff "$work/dp/run.h5" "$work/accum2.h5" /checkpoint/params /checkpoint/params

((failures)) && show_logs
finish
