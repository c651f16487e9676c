#!/usr/bin/env bash
# scheduler = asha in `sweeprun sweep`, end to end on 9 small GECCO trials
# (4 epochs; rungs at 1 and 2 epochs, eta 2):
#  - mpirun -np 2: every trial ends complete (epochs 1..4, each once, a
#    promoted trial's file continued rung after rung) or pruned with
#    stopped_at_rung k (epochs 1..rung's epochs); the journal starts each
#    trial once; the summary counts "stopped at rung k"; status agrees;
#  - one rank, killed with SIGKILL once the journal has rung lines, then
#    rerun: the same decisions in the same order as an uninterrupted
#    one-rank run, the same (trial, status, epochs) and the same
#    parameters bit for bit;
#  - a trial whose final file was written but not its journal line (killed
#    in between) is recorded from its file on the rerun, not retrained;
#  - hyperband on one rank (brackets interleaved, the rung-less bracket
#    trains every epoch); asha with ranks_per_trial = 2; diverging trials
#    dropped from the rule while the others go on;
#  - a rerun of a finished ASHA sweep runs nothing (also after a torn
#    journal line); a journal written for
#    another version of the sweep file is refused (exit 2, nothing written).
# usage: cli_sweep_asha.sh SWEEPRUN_BINARY SOURCE_DIR
source "$(dirname "$0")/cli_lib.sh"

need_mnist
need_mpirun

# sweep_file NAME OUT: the sweep (8,000 training images: about 0.1 s an epoch).
sweep_file() {
  cat >"$work/$1.ini" <<EOF
[sweep]
name = $1
out = $2
scheduler = asha:min_epochs=1,eta=2
[defaults]
model = gecco
epochs = 4
train_subset = 8000
val_split = 200
test_subset = 200
threads = 1
[grid]
lr = 0.001, 0.003, 0.01
dropout = 0.1, 0.3, 0.5
EOF
}

# epoch_rows FILE: its /epochs/epoch as "1,2,...".
epoch_rows() { h5dump -d /epochs/epoch "$1" | sed -n 's/^ *([0-9]*): *//p' | tr -d ' \n'; }

# outcomes OUT: "ID STATUS EPOCHS" per run file, sorted.
outcomes() {
  local f
  for f in "$1"/*.h5; do
    echo "$(attr "$f" trial_id) $(attr "$f" status) $(epoch_rows "$f")"
  done | sort
}

# decisions OUT: the journal's start/rung/promote/drop/finish lines without
# the run numbers (a rerun's header and resume lines aside).
decisions() {
  grep -v '"event":"header"\|"event":"resume"' "$1/asha.jsonl" | sed 's/,"run":[0-9]*//'
}

# every_file_ended OUT: each run file final (no .tmp), complete with epochs
# 1..4, or pruned at rung 0 (epoch 1) or 1 (epochs 1,2) with its attributes.
every_file_ended() {
  local f rows status
  ls "$1"/*.tmp 2>/dev/null && return 1
  for f in "$1"/*.h5; do
    rows=$(epoch_rows "$f")
    status=$(attr "$f" status)
    case "$status:$rows" in
      complete:1,2,3,4) ;;
      pruned:1) [[ $(attr "$f" stopped_at_rung) == 0 && $(attr "$f" stopped_at_epoch) == 1 ]] || return 1 ;;
      pruned:1,2) [[ $(attr "$f" stopped_at_rung) == 1 && $(attr "$f" stopped_at_epoch) == 2 ]] || return 1 ;;
      *) echo "$f: $status, epochs $rows"; return 1 ;;
    esac
  done
}

# ---- 1. two ranks ------------------------------------------------------------
sweep_file two "$work/two"
"${mpi[@]}" "$bin" sweep "$work/two.ini" --no-live >"$work/two.out" 2>&1
rc=$?
cat "$work/two.out"
check "np 2: exit 0" test "$rc" -eq 0
check "np 2: 9 run files, none unfinished" test "$(ls "$work"/two/*.h5 | wc -l)" -eq 9
check "np 2: each complete with epochs 1..4 once, or pruned at its rung with epochs 1..rung" every_file_ended "$work/two"
check "np 2: journal: a header, then each trial started once, in list order" \
  bash -c "[[ \$(head -1 '$work/two/asha.jsonl') == '{\"event\":\"header\",\"run\":1,'* ]] && [[ \$(grep -o '\"event\":\"start\",\"trial\":[0-9]*' '$work/two/asha.jsonl' | sed 's/.*://' | tr '\n' ' ') == '0 1 2 3 4 5 6 7 8 ' ]]"
check "np 2: journal ends the scheduling once (finish)" test "$(grep -c '"event":"finish"' "$work/two/asha.jsonl")" -eq 1
check "np 2: every promote follows its rung line (promotions on validation results only)" python3 - "$work/two/asha.jsonl" <<'PY'
import json, sys
reached = set()
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["event"] == "rung": reached.add((e["trial"], e["rung"]))
    if e["event"] == "promote": assert (e["trial"], e["from_rung"]) in reached, e
PY
check "np 2: events: a trial_pause at each rung a trial waited at, then its promotion or its end" \
  python3 - "$work/two/events.jsonl" "$work/two/asha.jsonl" <<'PY'
import json, sys
events = [json.loads(l) for l in open(sys.argv[1])]
rungs = [e for e in map(json.loads, open(sys.argv[2])) if e["event"] == "rung"]
pauses = [e for e in events if e["event"] == "trial_pause"]
assert len(pauses) == sum(1 for r in rungs if r["epochs"] < 4) > 0, (len(pauses), len(rungs))
for i, e in enumerate(events):
    if e["event"] != "trial_pause": continue
    after = [x["event"] for x in events[i + 1:] if x.get("trial") == e["trial"] and x["event"] in ("trial_start", "trial_end")]
    assert after and after[0] in ("trial_start", "trial_end"), e
    if after[0] == "trial_start": assert [x for x in events[i + 1:] if x.get("trial") == e["trial"] and x["event"] == "trial_start"][0]["start_epoch"] == e["epoch"], e
PY
complete=$(outcomes "$work/two" | grep -c ' complete ')
stopped0=$(outcomes "$work/two" | grep -c ' pruned 1$')
stopped1=$(outcomes "$work/two" | grep -c ' pruned 1,2$')
check "np 2: summary counts complete and stopped at each rung" \
  bash -c "grep -q '^  complete  $complete\$' '$work/two.out' && grep -q '^  stopped at rung 0  $stopped0\$' '$work/two.out' && grep -q '^  stopped at rung 1  $stopped1\$' '$work/two.out'"
check "np 2: both ranks trained" bash -c "grep -q '^\[rank 0\] trial' '$work/two.out' && grep -q '^\[rank 1\] trial' '$work/two.out'"
"$bin" status "$work/two" >"$work/two-status.txt"
src=$?
cat "$work/two-status.txt"
check "np 2: status: exit 0, 9 done, the stopped ones as pruned" \
  bash -c "[[ $src -eq 0 ]] && grep -q '^9/9 done ($complete complete, $((stopped0 + stopped1)) pruned/stopped' '$work/two-status.txt'"

# ---- 2. one rank, uninterrupted -----------------------------------------------------
sweep_file ref "$work/ref"
"$bin" sweep "$work/ref.ini" --quiet >"$work/ref.out" 2>&1
rc=$?
check "one rank: exit 0" test "$rc" -eq 0
check "one rank: every file ended" every_file_ended "$work/ref"

# ---- 3. one rank, killed with SIGKILL, rerun ----------------------------------------------
sweep_file kill "$work/kill"
"$bin" sweep "$work/kill.ini" --quiet >"$work/kill1.out" 2>&1 &
pid=$!
for _ in $(seq 1 1500); do
  [[ $(grep -c '"event":"rung"' "$work/kill/asha.jsonl" 2>/dev/null) -ge 3 ]] && break
  sleep 0.02
done
kill -9 "$pid"
wait "$pid" 2>/dev/null
check "killed: mid-way (rung lines, no finish)" \
  bash -c "grep -q '\"event\":\"rung\"' '$work/kill/asha.jsonl' && ! grep -q '\"event\":\"finish\"' '$work/kill/asha.jsonl'"
# The last decision before the kill, if nothing followed it, left its trial
# in flight: the rerun must hand that one out first (a resume line).
in_flight=$(tail -1 "$work/kill/asha.jsonl" | sed -n 's/^{"event":"\(start\|promote\)","trial":\([0-9]*\),.*/\2/p')
echo "in flight at the kill: ${in_flight:-none}"
"$bin" sweep "$work/kill.ini" --quiet >"$work/kill2.out" 2>&1
rc=$?
cat "$work/kill2.out"
check "rerun: exit 0" test "$rc" -eq 0
check "rerun: every file ended" every_file_ended "$work/kill"
check "rerun: journal has run 2's header" grep -q '^{"event":"header","run":2,' "$work/kill/asha.jsonl"
# handed_out_first: run 2's header is followed by a resume of the trial in
# flight (and it is the only resume), or, with none in flight, no resume.
handed_out_first() {
  local after resumes
  after=$(sed -n '/"run":2,/{n;p;q}' "$work/kill/asha.jsonl")
  resumes=$(grep -c '"event":"resume"' "$work/kill/asha.jsonl")
  echo "after run 2's header: $after; $resumes resume lines"
  if [[ -n $in_flight ]]; then [[ $after == "{\"event\":\"resume\",\"trial\":$in_flight,"* && $resumes -eq 1 ]]
  else [[ $resumes -eq 0 ]]; fi
}
check "rerun: the trial in flight (${in_flight:-none}) handed out first" handed_out_first
check "killed + rerun: the same decisions, in the same order, as uninterrupted" \
  diff <(decisions "$work/ref") <(decisions "$work/kill")
check "killed + rerun: the same (trial, status, epochs)" diff <(outcomes "$work/ref") <(outcomes "$work/kill")
same_params() {
  local f
  for f in "$work"/ref/*.h5; do
    h5diff "$f" "$work/kill/$(basename "$f")" /checkpoint/params /checkpoint/params || { echo "$f differs"; return 1; }
  done
}
check "killed + rerun: every file's parameters bit for bit" same_params

# ---- 3b. killed after a trial's file was final, before its journal line -------------------
# (the window between the rename and the append): cut the journal's last
# two lines (the last trial's rung and finish); the rerun takes the result
# from the final file instead of training, and records the same line.
sweep_file done "$work/done"
sed -i 's/^scheduler = .*/scheduler = asha:min_epochs=4,eta=2/; s/^dropout = .*/dropout = 0.1/' "$work/done.ini"
"$bin" sweep "$work/done.ini" --quiet >/dev/null 2>&1
cp "$work/done/asha.jsonl" "$work/done-full.jsonl"
head -n -2 "$work/done-full.jsonl" >"$work/done/asha.jsonl"
before=$(ls -l --time-style=+%s.%N "$work"/done/*.h5 | md5sum)
"$bin" sweep "$work/done.ini" --quiet >"$work/done2.out" 2>&1
rc=$?
check "final file, no journal line: rerun exit 0, the run files untouched" \
  bash -c "[[ $rc -eq 0 && '$(ls -l --time-style=+%s.%N "$work"/done/*.h5 | md5sum)' == '$before' ]]"
check "final file, no journal line: the same rung line, recorded from the file" \
  diff <(tail -2 "$work/done-full.jsonl" | head -1) <(grep '"event":"rung"' "$work/done/asha.jsonl" | tail -1)

# ---- 3c. hyperband on one rank; asha on a data-parallel group of 2 ---------------------------
# hyperband:min_epochs=1,eta=2 on 4 epochs: brackets with rungs {1, 2}, {2}
# and none, weights 4 : 3 : 3; trial i goes to the bracket most behind,
# n_b * (i + 1) - count_b * 10 largest (ties to the lower b): by hand,
# 0 1 2 0 1 2 0 1 2 for the first 9 (trial 9 would be the fourth in 0).
sweep_file hb "$work/hb"
sed -i 's/^scheduler = .*/scheduler = hyperband:min_epochs=1,eta=2/' "$work/hb.ini"
"$bin" sweep "$work/hb.ini" --quiet >"$work/hb.out" 2>&1
rc=$?
check "hyperband: exit 0, 9 run files, none unfinished" \
  bash -c "[[ $rc -eq 0 && \$(ls '$work'/hb/*.h5 | wc -l) -eq 9 ]] && ! ls '$work'/hb/*.tmp 2>/dev/null"
check "hyperband: brackets 0 1 2 0 1 2 0 1 2, asha.h's interleaving" \
  test "$(grep -o '"event":"start","trial":[0-9]*,"id":"[0-9a-f]*","bracket":[0-9]' "$work/hb/asha.jsonl" | sed 's/.*://' | tr -d '\n')" = 012012012
check "hyperband: bracket 2 trials (no rung) complete with epochs 1..4" python3 - "$work/hb/asha.jsonl" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
last = [e for e in lines if e["event"] == "start" and e["bracket"] == 2]
for s in last:
    assert s["train_to"] == 4, s
    rungs = [e for e in lines if e["event"] == "rung" and e["trial"] == s["trial"]]
    assert [(e["rung"], e["epochs"]) for e in rungs] == [(0, 4)], rungs
PY
check "hyperband: the summary counts stopped trials per bracket and rung, as the run files say" \
  python3 - "$work/hb.out" "$work/hb/asha.jsonl" <<'PY'
import collections, json, re, sys
said = {(int(b), int(k)): int(n) for k, b, n in re.findall(r"^  stopped at rung (\d+) of bracket (\d+)  (\d+)$", open(sys.argv[1]).read(), re.M)}
lines = [json.loads(l) for l in open(sys.argv[2])]
bracket = {e["trial"]: e["bracket"] for e in lines if e["event"] == "start"}
top = collections.defaultdict(lambda: -1)
for e in lines:
    if e["event"] == "rung": top[e["trial"]] = max(top[e["trial"]], e["rung"])
done = {e["trial"] for e in lines if e["event"] == "rung" and e["epochs"] == 4}
want = collections.Counter((bracket[t], r) for t, r in top.items() if t not in done)
assert said == dict(want) and said, (said, want)
PY
sweep_file dp "$work/dp"
sed -i 's/^\[defaults\]$/ranks_per_trial = 2\n[defaults]/' "$work/dp.ini"
"${mpi[@]}" "$bin" sweep "$work/dp.ini" --quiet >"$work/dp.out" 2>&1
rc=$?
cat "$work/dp.out"
check "asha, ranks_per_trial 2: exit 0, every file ended" bash -c "[[ $rc -eq 0 ]] && grep -q '(2 per trial)' '$work/dp.out'"
check "asha, ranks_per_trial 2: every file ended" every_file_ended "$work/dp"

# ---- 3d. diverging trials are dropped from the rule, the sweep goes on --------------------------
sweep_file dv "$work/dv"
sed -i 's/^lr = .*/lr = 0.001, 0.003, 1000/; s/^model = gecco$/model = gecco\noptimizer = sgd/' "$work/dv.ini"
"$bin" sweep "$work/dv.ini" --quiet >"$work/dv.out" 2>&1
rc=$?
check "diverged: exit 0, the 3 lr=1000 trials dropped as diverged, their files say so" \
  bash -c "[[ $rc -eq 0 ]] && grep -q '^  diverged  3\$' '$work/dv.out' && [[ \$(grep -c '\"event\":\"drop\",\"trial\":[678],\"status\":\"diverged\"' '$work/dv/asha.jsonl') -eq 3 ]] && [[ \$(for f in '$work'/dv/*.h5; do h5dump -a /status \$f | grep -c diverged; done | grep -c 1) -eq 3 ]]"
check "diverged: the other 6 trials ended under the rule" \
  bash -c "[[ \$(grep -c '\"event\":\"rung\",\"trial\":[0-5],\"rung\":0,' '$work/dv/asha.jsonl') -eq 6 ]] && ! ls '$work'/dv/*.tmp 2>/dev/null"

# ---- 4. a finished sweep reruns nothing; another file version is refused -------------------
before=$(ls -l --time-style=+%s.%N "$work"/ref/*.h5 | md5sum)
lines=$(wc -l <"$work/ref/asha.jsonl")
"$bin" sweep "$work/ref.ini" >"$work/again.out" 2>&1
rc=$?
check "finished: rerun exit 0, nothing run, files untouched" \
  bash -c "[[ $rc -eq 0 ]] && grep -q '^0 to run' '$work/again.out' && [[ '$(ls -l --time-style=+%s.%N "$work"/ref/*.h5 | md5sum)' == '$before' ]]"
check "finished: the journal only gained the rerun's header" \
  bash -c "[[ \$(wc -l <'$work/ref/asha.jsonl') -eq $((lines + 1)) ]] && tail -1 '$work/ref/asha.jsonl' | grep -q '\"event\":\"header\",\"run\":2,'"
# A write torn by a kill (no newline) is ended and skipped, on this rerun and the next.
printf '{"event":"start","tri' >>"$work/ref/asha.jsonl"
"$bin" sweep "$work/ref.ini" >"$work/torn1.out" 2>&1
rc1=$?
"$bin" sweep "$work/ref.ini" >"$work/torn2.out" 2>&1
rc2=$?
check "torn last line: two reruns exit 0, nothing run, the torn line ended and kept" \
  bash -c "[[ $rc1 -eq 0 && $rc2 -eq 0 ]] && grep -q '^0 to run' '$work/torn2.out' && grep -qx '{\"event\":\"start\",\"tri' '$work/ref/asha.jsonl' && tail -1 '$work/ref/asha.jsonl' | grep -q '\"run\":4,'"
echo "; edited" >>"$work/ref.ini"
lines=$(wc -l <"$work/ref/asha.jsonl")
"$bin" sweep "$work/ref.ini" >"$work/edited.out" 2>&1
rc=$?
cat "$work/edited.out"
check "edited file: exit 2, the journal named and why" \
  bash -c "[[ $rc -eq 2 ]] && grep -q '^sweeprun: sweep: $work/ref/asha.jsonl was written for another version of $work/ref.ini (the file.s hash differs)' '$work/edited.out'"
check "edited file: nothing written (journal as it was)" test "$(wc -l <"$work/ref/asha.jsonl")" -eq "$lines"

finish
