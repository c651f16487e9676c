#!/usr/bin/env bash
# Watching a sweep: the live view under a pseudo-terminal (each redrawn
# frame checked, the final screen checked with pyte, a terminal emulator),
# plain output in a file (no ANSI codes, no per-epoch lines), `sweeprun
# status` during and after a running 2-rank sweep and after kill -9, and the
# event log read by Python's json module against the run files.
source "$(dirname "$0")/cli_lib.sh"
need_mnist
need_mpirun
# Debian's python3 has python3-pyte; a python3 earlier on PATH (pyenv, a venv) may not.
py=python3
python3 -c 'import pyte' 2>/dev/null || py=/usr/bin/python3
if ! command -v script >/dev/null || ! "$py" -c 'import pyte' 2>/dev/null; then
  echo "needs script (bsdutils) and python3-pyte: run scripts/setup.sh"
  exit 1
fi

# sweep NAME EPOCHS TRAIN_SUBSET: a 4-trial gecco sweep file (2 lr x 2 seeds).
sweep() {
  cat >"$work/$1.ini" <<EOF
[sweep]
name = $1
out = $work/$1
seeds = 0, 1

[defaults]
model = gecco
epochs = $2
train_subset = $3
test_subset = 300
threads = 1

[grid]
lr = 0.001, 0.003
EOF
}

# ---- 1. not a terminal: one line per trial start and end, no ANSI, no epochs ----
sweep plain 2 3000
"${mpi[@]}" "$bin" sweep "$work/plain.ini" --status-every 0.2 >"$work/plain.out" 2>&1
rc=$?
cat "$work/plain.out"
check "plain: exit 0" test "$rc" -eq 0
check "plain: no ANSI escape codes" bash -c "! grep -q $'\x1b' '$work/plain.out'"
check "plain: no per-epoch lines" bash -c "! grep -Eq ' epoch [0-9]+/[0-9]+:' '$work/plain.out'"
check "plain: 4 start lines" test "$(grep -Ec '^\[rank [01]\] trial [1-4]/4 [0-9a-f]{12}: gecco seed [01], starting at epoch 1 of 2 \(lr=0.00[13]\) on .* cpu$' "$work/plain.out")" -eq 4
check "plain: 4 end lines" test "$(grep -Ec '^\[rank [01]\] trial [1-4]/4 [0-9a-f]{12} complete: test accuracy' "$work/plain.out")" -eq 4
check "plain: the summary" grep -q '^  complete  4$' "$work/plain.out"

sweep verbose 2 3000
"${mpi[@]}" "$bin" sweep "$work/verbose.ini" --verbose >"$work/verbose.out" 2>&1
check "--verbose: one line per epoch of each trial (8)" test "$(grep -Ec '^\[rank [01]\] [0-9a-f]{12} epoch [12]/2: train loss' "$work/verbose.out")" -eq 8
check "--quiet and --verbose together: refused, exit 2" bash -c "'$bin' sweep '$work/plain.ini' --quiet --verbose; [[ \$? -eq 2 ]]"
check "--status-every: bad value refused, exit 2" bash -c "'$bin' sweep '$work/plain.ini' --status-every soon 2>&1 | grep -q 'status-every: expected seconds'"

# ---- 2. a terminal: the live view ---------------------------------------------------
sweep live 4 6000
script -qfec "stty cols 100 rows 40; ${mpi[*]} '$bin' sweep '$work/live.ini'" "$work/live.typescript" >/dev/null 2>&1
rc=$?
check "live: exit 0" test "$rc" -eq 0
cat >"$work/frames.py" <<'PY'
import re, sys, pyte
raw = open(sys.argv[1], 'rb').read().decode()
raw = raw[raw.index('\n') + 1:]                 # script's own first line
raw = re.sub(r'\r?\nScript done.*$', '', raw, flags=re.S)
# Each redraw starts with "cursor up N lines, clear to the end": split there.
frames = re.split(r'\x1b\[\d+F\x1b\[J', raw)
checked = 0
for f in frames:
    lines = f.replace('\r', '').split('\n')
    totals = [l for l in lines if re.match(r'^\d+/\d+ done \(', l)]
    if not totals:
        continue
    m = re.match(r'^(\d+)/(\d+) done \((\d+) complete, (\d+) pruned/stopped, (\d+) diverged, (\d+) failed\), '
                 r'(\d+) running, (\d+) queued', totals[0])
    assert m, totals[0]
    done, total, c, p, d, fl, running, queued = map(int, m.groups())
    assert total == 4 and done == c + p + d + fl and done + running + queued == 4, totals[0]
    head = [i for i, l in enumerate(lines) if l.startswith('trial ') and ' model ' in l]
    rows = lines[head[0] + 1:head[0] + 1 + running] if head else []
    assert len(rows) == running and all(re.match(r'^[0-9a-f]{12} +gecco ', r) for r in rows), (running, rows)
    if running == 0:
        assert not head, 'a table with no running trial'
        checked += 1
        continue
    cols = lines[head[0]].split()
    ranks = {r.split()[cols.index('ranks')] for r in rows}
    assert ranks <= {'0', '1'} and (running < 2 or ranks == {'0', '1'}), ranks
    block = next(i for i, l in enumerate(lines) if re.match(r'^sweep live: .* elapsed', l))
    assert all(len(l) < 100 for l in lines[block:]), 'a table line as wide as the terminal (it would wrap)'
    checked += 1
screen = pyte.Screen(100, 40)
pyte.Stream(screen).feed(raw.replace('\n', '\r\n'))
shown = [l.rstrip() for l in screen.display]
assert any(l == '  complete  4' for l in shown), shown
assert not any(l.startswith('trial ') and ' model ' in l for l in shown), 'the table was not cleared'
assert sum(1 for l in shown if re.match(r'^\[rank [01]\] trial [1-4]/4 [0-9a-f]{12} complete', l)) == 4, shown
print(f'{checked} frames checked; final screen:')
print('\n'.join(l for l in shown if l))
PY
check "live: every frame's totals add up, running rows name ranks 0 and 1; final screen is the summary" \
  "$py" "$work/frames.py" "$work/live.typescript"
cat "$work/check.out"

# ---- 3. sweeprun status during and after a running 2-rank sweep ---------------------
json_field() { "$py" -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }
sweep st 4 12000
# Each trial holds after step 1 of epoch 2 (runner/train/test_hold.h) until
# the test has seen it mid-way and releases it: an epoch can take 0.1 s,
# and a sweep that ends between two looks has no "during".
env SWEEPRUN_TEST_HOLD="2:1:$work/st.release" "${mpi[@]}" "$bin" sweep "$work/st.ini" >"$work/st.out" 2>&1 &
job=$!
midway=""
for _ in $(seq 1 600); do
  "$bin" status "$work/st" --json >"$work/st.json" 2>/dev/null
  src=$?
  if [[ $src -eq 5 ]] && json_field "$work/st.json" \
      "any(0 < t['epoch'] < t['epochs'] for t in d['trials_in_flight'])" | grep -q True; then
    midway=yes
    "$bin" status "$work/st" >"$work/st-during.txt"
    break
  fi
  kill -0 "$job" 2>/dev/null || break
  sleep 0.1
done
touch "$work/st.release"
wait "$job"
cat "$work/st-during.txt" 2>/dev/null
check "status during: exit 5 with a trial mid-way" test -n "$midway"
check "status during: says running, ranks 0/1, totals add up" json_field "$work/st.json" \
  "d['running'] and {t['ranks'] for t in d['trials_in_flight']} <= {'0','1'} and sum(d['totals'][k] for k in ('complete','pruned','stopped_early','diverged','failed','running','queued')) == 4 or sys.exit(1)"
check "status during: the text view has the running table" grep -Eq '^[0-9a-f]{12} +gecco +0.00[13] +[01] ' "$work/st-during.txt"
"$bin" status "$work/st" --json >"$work/st-after.json"
check "status after: exit 0, finished, 4 complete" bash -c "'$bin' status '$work/st' >/dev/null; [[ \$? -eq 0 ]]"
check "status after: json says finished" json_field "$work/st-after.json" "d['finished'] and d['totals']['complete'] == 4 or sys.exit(1)"
check "status of the sweep file = of its folder" bash -c "diff <('$bin' status '$work/st.ini') <('$bin' status '$work/st')"

# ---- 4. kill -9 mid-sweep: status reports the interrupted trials ----------------------
sweep kill 3 12000
# The trials hold after step 1 of epoch 2, with no release: the kill finds
# both mid-way, however fast the machine.
env SWEEPRUN_TEST_HOLD=2:1 "${mpi[@]}" "$bin" sweep "$work/kill.ini" >"$work/kill.out" 2>&1 &
job=$!
for _ in $(seq 1 600); do
  "$bin" status "$work/kill" --json >"$work/kill.json" 2>/dev/null
  if json_field "$work/kill.json" "sum(0 < t['epoch'] for t in d['trials_in_flight']) == 2" 2>/dev/null | grep -q True; then
    pkill -9 -f "sweeprun sweep $work/kill.ini"
    kill -9 "$job" 2>/dev/null
    break
  fi
  sleep 0.1
done
wait "$job" 2>/dev/null
for _ in $(seq 1 100); do   # the killed ranks are gone (their lock with them)
  pgrep -f "sweeprun sweep $work/kill.ini" >/dev/null || break
  sleep 0.1
done
"$bin" status "$work/kill" >"$work/kill-status.txt"
src=$?
"$bin" status "$work/kill" --json >"$work/kill-status.json"
cat "$work/kill-status.txt"
tmps=$(ls "$work"/kill/*.h5.tmp 2>/dev/null | wc -l)
check "after kill -9: status exit 6 (unfinished, not running)" test "$src" -eq 6
check "after kill -9: interrupted = the .tmp files left ($tmps, both trials in flight)" json_field "$work/kill-status.json" \
  "d['totals']['interrupted'] == $tmps == 2 and not d['running'] or sys.exit(1)"
check "after kill -9: the text says so" grep -q "interrupted" "$work/kill-status.txt"
printf '{"v":1,"t":1,"event":"epo' >>"$work/kill/events.jsonl"   # as if killed mid-write
"${mpi[@]}" "$bin" sweep "$work/kill.ini" >"$work/kill2.out" 2>&1
check "rerun: status exit 0, 4 complete, 2 runs in the log" bash -c "'$bin' status '$work/kill' --json >'$work/kill-end.json'; [[ \$? -eq 0 ]]"
check "rerun: json (the torn line ended and skipped, the rerun counted)" json_field "$work/kill-end.json" "d['runs'] == 2 and d['totals']['complete'] == 4 and d['unparsable_lines'] == 1 or sys.exit(1)"

# ---- 5. the event log, read with Python's json module ---------------------------------
printf '{"v":1,"t":1,"event":"trial_e' >>"$work/st/events.jsonl"   # a writer killed mid-line
cat >"$work/events.py" <<'PY'
import glob, json, sys
out = sys.argv[1]
lines = open(out + '/events.jsonl').read().split('\n')
complete, torn = lines[:-1], lines[-1]          # the text after the last newline is a torn line
events = [json.loads(l) for l in complete]
assert all(e['v'] == 1 and isinstance(e['t'], float | int) for e in events)
kinds = [e['event'] for e in events]
assert kinds[0] == 'sweep_start' and kinds.count('sweep_end') == kinds.count('sweep_start'), kinds
ends = {e['trial']: e['status'] for e in events if e['event'] == 'trial_end'}
files = glob.glob(out + '/*.h5')
assert len(ends) == len(files) == 4 and set(ends.values()) == {'complete'}, (ends, files)
for f in files:
    assert any(f.endswith(t + '.h5') for t in ends), f
epochs = [e for e in events if e['event'] == 'epoch']
assert len(epochs) == 4 * 4 and all(0 <= e['val_accuracy'] <= 1 for e in epochs)
print(f'{len(events)} events, {len(ends)} trials, torn tail of {len(torn)} bytes ignored')
PY
check "events.jsonl: parses with json, trial ends = run files" "$py" "$work/events.py" "$work/st"
cat "$work/check.out"
"$bin" status "$work/st" >"$work/st-torn.txt"
check "status: a torn last line is noted and ignored" grep -q "last line is incomplete" "$work/st-torn.txt"
check "status: no event log, exit 2" bash -c "'$bin' status '$work' 2>&1 | grep -q 'events.jsonl'; [[ \${PIPESTATUS[0]} -eq 2 ]]"

finish
