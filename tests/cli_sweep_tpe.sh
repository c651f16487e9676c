#!/usr/bin/env bash
# search = tpe in `sweeprun sweep`, end to end on 14 small GECCO trials
# (1 epoch, lr and dropout from [random]; the sampler's startup is 10):
#  - one rank: the first 10 trials are random search's draws (the same
#    ids as search = random with the same seed); trials 11-14 are proposed
#    (one propose line each, before their result) with ids that are their
#    run files'; every trial complete; the same file in another folder
#    gives the same proposals (one rank: a pure function of the file);
#  - a rerun of the finished sweep runs nothing;
#  - killed with SIGKILL after its first proposal and rerun: every trial
#    proposed once, the proposals made before the kill kept, all complete;
#  - mpirun -np 2: 14 distinct trials, each proposed at most once, all
#    complete, the journal's results one per trial.
# usage: cli_sweep_tpe.sh SWEEPRUN_BINARY SOURCE_DIR
source "$(dirname "$0")/cli_lib.sh"

need_mnist
need_mpirun

# sweep_file NAME OUT SEARCH: 14 trials of 1 epoch on 3,000 images.
sweep_file() {
  cat >"$work/$1.ini" <<EOF
[sweep]
name = $1
out = $2
search = $3
trials = 14
random_seed = 3
[defaults]
model = gecco
epochs = 1
train_subset = 3000
val_split = 300
test_subset = 200
threads = 1
[random]
lr = loguniform(1e-4, 1e-2)
dropout = uniform(0.05, 0.5)
EOF
}
# ids FILE.ini: the trial ids of its --dry-run table, in order.
ids() { "$bin" sweep "$1" --dry-run | awk '$1 ~ /^[0-9]+$/ && length($2) == 12 {print $2}'; }
# lines OUT EVENT: the journal's lines of one event.
lines() { grep "\"event\":\"$2\"" "$1/tpe.jsonl"; }
# proposed_first OUT: every proposed trial's propose line comes before its result line.
proposed_first() {
  local t p r
  for t in $(lines "$1" propose | sed 's/.*"trial":\([0-9]*\),.*/\1/'); do
    p=$(grep -n "\"propose\",\"trial\":$t," "$1/tpe.jsonl" | cut -d: -f1)
    r=$(grep -n "\"result\",\"trial\":$t," "$1/tpe.jsonl" | cut -d: -f1)
    [[ -n "$p" && -n "$r" && $p -lt $r ]] || return 1
  done
}
# complete_ids OUT: the trial_id of every complete run file, sorted.
complete_ids() {
  local f
  for f in "$1"/*.h5; do [[ "$(attr "$f" status)" == complete ]] && attr "$f" trial_id; done | sort
}
# proposals OUT: "TRIAL VALUES" per propose line, sorted by trial.
proposals() { lines "$1" propose | sed 's/.*"trial":\([0-9]*\),"id":"[0-9a-f]*","values":\(.*\)}/\1 \2/' | sort -n; }

# The checks below run in `bash -c`: they need the helpers and $bin.
export bin
export -f ids lines complete_ids proposals proposed_first attr

# ---- 1. one rank -----------------------------------------------------------------------
sweep_file one "$work/one" tpe
sweep_file rnd "$work/rnd" random
"$bin" sweep "$work/one.ini" --quiet >"$work/one.out" 2>&1
rc=$?
cat "$work/one.out"
check "one rank: exit 0, 14 complete" bash -c "[[ $rc -eq 0 ]] && grep -q '^  complete  14$' '$work/one.out'"
check "the first 10 trials are random search's draws" \
  diff <(ids "$work/one.ini" | head -10) <(ids "$work/rnd.ini" | head -10)
check "trials 11-14 proposed, once each, not the random draws" \
  bash -c "[[ \$(lines '$work/one' propose | wc -l) -eq 4 ]] && [[ \"\$(proposals '$work/one' | cut -d' ' -f1 | tr '\n' ' ')\" == '10 11 12 13 ' ]] \
           && [[ -z \"\$(comm -12 <(ids '$work/one.ini' | tail -4 | sort) <(ids '$work/rnd.ini' | tail -4 | sort))\" ]]"
check "each proposal comes before its result; 14 results" \
  bash -c "[[ \$(lines '$work/one' result | wc -l) -eq 14 ]] && proposed_first '$work/one'"
check "every trial id of the list has a complete run file" \
  diff <(ids "$work/one.ini" | sort) <(complete_ids "$work/one")
check "the proposals' ids are their run files' trial ids" \
  bash -c "for id in \$(lines '$work/one' propose | sed 's/.*\"id\":\"\\([0-9a-f]*\\)\".*/\\1/'); do ls '$work/one'/*-\$id.h5 >/dev/null || exit 1; done"
sweep_file two "$work/two" tpe
"$bin" sweep "$work/two.ini" --quiet >/dev/null 2>&1
check "one rank, same file elsewhere: the same proposals" diff <(proposals "$work/one") <(proposals "$work/two")

# tpe_startup = 12: trials 1-12 random draws, 13-14 proposed.
sweep_file late "$work/late" tpe
sed -i 's/^trials = 14$/trials = 14\ntpe_startup = 12/' "$work/late.ini"
"$bin" sweep "$work/late.ini" --quiet >/dev/null 2>&1
check "tpe_startup = 12: the first 12 are random search's draws, 2 proposed" \
  bash -c "diff <(ids '$work/late.ini' | head -12) <(ids '$work/rnd.ini' | head -12) \
           && [[ \"\$(proposals '$work/late' | cut -d' ' -f1 | tr '\n' ' ')\" == '12 13 ' ]]"

# A space of 4 configurations, all in the list: TPE's redraws repeat other
# trials, so a trial keeps its random draw; every trial still runs, once.
cat >"$work/tiny.ini" <<EOF
[sweep]
name = tiny
out = $work/tiny
search = tpe
trials = 12
tpe_startup = 2
[defaults]
model = gecco
epochs = 1
train_subset = 1200
val_split = 100
test_subset = 100
threads = 1
[random]
lr = choice(0.001, 0.002)
dropout = choice(0.1, 0.2)
EOF
"$bin" sweep "$work/tiny.ini" --quiet >"$work/tiny.out" 2>&1
rc=$?
check "4 configurations: every trial complete once; a repeated proposal falls back to the random draw" \
  bash -c "[[ $rc -eq 0 ]] && grep -q '^  complete  4$' '$work/tiny.out' && [[ \$(complete_ids '$work/tiny' | uniq | wc -l) -eq 4 ]] \
           && grep -q '\"from\":\"random draw\"' '$work/tiny/tpe.jsonl'"

# ---- 2. a rerun runs nothing ------------------------------------------------------------
"$bin" sweep "$work/one.ini" --quiet >"$work/again.out" 2>&1
check "rerun of a finished TPE sweep: exit 0, nothing run, no new line" \
  bash -c "[[ $? -eq 0 ]] && grep -q '^  skipped   14' '$work/again.out' && [[ \$(wc -l <'$work/one/tpe.jsonl') -eq 18 ]]"

# A trial whose run file was finished by a run killed before its result
# line: the rerun writes the line from the file, trains nothing.
cp -r "$work/one" "$work/lost"
sed "s|$work/one|$work/lost|" "$work/one.ini" >"$work/lost.ini"
grep '"result","trial":12,' "$work/lost/tpe.jsonl" >"$work/lost.want"
sed -i '/"result","trial":12,/d' "$work/lost/tpe.jsonl"
"$bin" sweep "$work/lost.ini" --quiet >"$work/lost.out" 2>&1
check "a result line lost by a kill: written again from the run file, nothing retrained" \
  bash -c "grep -q '^  skipped   14' '$work/lost.out' && diff '$work/lost.want' <(grep '\"result\",\"trial\":12,' '$work/lost/tpe.jsonl') \
           && [[ \$(lines '$work/lost' result | wc -l) -eq 14 ]]"

# A damaged proposal line: refused at its journal line, exit 2, nothing
# run or written (the journal and the run files stay as they were).
cp -r "$work/one" "$work/bad"
sed "s|$work/one|$work/bad|" "$work/one.ini" >"$work/bad.ini"
sed -i 's/\("propose","trial":11,"id":"[0-9a-f]*","values":\)\["[^"]*",/\1[/' "$work/bad/tpe.jsonl"
line=$(grep -n '"propose","trial":11,' "$work/bad/tpe.jsonl" | cut -d: -f1)
before=$(cat "$work"/bad/* 2>/dev/null | md5sum)
"$bin" sweep "$work/bad.ini" >"$work/bad.out" 2>&1
rc=$?
check "a damaged proposal: exit 2 naming the journal's line, nothing written" \
  bash -c "[[ $rc -eq 2 ]] && grep -q '$work/bad/tpe.jsonl:$line: a proposal without one value per swept key' '$work/bad.out' \
           && [[ \"\$(cat '$work'/bad/* 2>/dev/null | md5sum)\" == '$before' ]]"

# ---- 3. kill -9 after the first proposal, rerun -------------------------------------------
sweep_file kill "$work/kill" tpe
"$bin" sweep "$work/kill.ini" --quiet >"$work/kill1.out" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
  grep -q '"propose"' "$work/kill/tpe.jsonl" 2>/dev/null && break
  kill -0 $pid 2>/dev/null || break
  sleep 0.02
done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
proposals "$work/kill" >"$work/before"
"$bin" sweep "$work/kill.ini" --quiet >"$work/kill2.out" 2>&1
rc=$?
check "killed, rerun: exit 0, every trial complete" \
  bash -c "[[ $rc -eq 0 ]] && diff <(ids '$work/kill.ini' | sort) <(complete_ids '$work/kill')"
check "killed, rerun: each trial proposed once, the earlier proposals kept" \
  bash -c "[[ \$(proposals '$work/kill' | cut -d' ' -f1 | uniq -d | wc -l) -eq 0 ]] && [[ \$(lines '$work/kill' propose | wc -l) -eq 4 ]] \
           && [[ -s '$work/before' ]] && diff '$work/before' <(proposals '$work/kill' | head -\$(wc -l <'$work/before'))"

# ---- 4. two ranks --------------------------------------------------------------------------
sweep_file mpi "$work/mpi" tpe
"${mpi[@]}" "$bin" sweep "$work/mpi.ini" --quiet >"$work/mpi.out" 2>&1
rc=$?
cat "$work/mpi.out"
check "2 ranks: exit 0, 14 complete" bash -c "[[ $rc -eq 0 ]] && grep -q '^  complete  14$' '$work/mpi.out'"
check "2 ranks: 14 distinct complete trials = the list" \
  bash -c "[[ \$(complete_ids '$work/mpi' | uniq | wc -l) -eq 14 ]] && diff <(ids '$work/mpi.ini' | sort) <(complete_ids '$work/mpi')"
check "2 ranks: each trial proposed once, one result each" \
  bash -c "[[ \$(lines '$work/mpi' propose | wc -l) -eq 4 && \$(lines '$work/mpi' result | wc -l) -eq 14 ]]"

finish
