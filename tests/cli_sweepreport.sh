#!/usr/bin/env bash
# sweepreport through its command line on real run files: two tiny GECCO
# runs (dropout 0.1 and 0.2) and a corrupt file. Checks the exit codes,
# the warnings, --out, every format, and that --figures writes PNGs and
# index.html. (The numbers themselves are checked in test_report.c.)
# usage: cli_sweepreport.sh SWEEPRUN_BINARY SOURCE_DIR
source "$(dirname "$0")/cli_lib.sh"
report="$(dirname "$bin")/../results/sweepreport"

need_mnist

runs="$work/runs"
mkdir -p "$runs"
for seed in 1 2; do
  "$bin" train --model gecco --epochs 2 --train-subset 500 --test-subset 200 --seed $seed \
    --set dropout=0.$seed --quiet --out "$runs/gecco-s$seed.h5" >/dev/null 2>&1
  check "train seed $seed" test -f "$runs/gecco-s$seed.h5"
done
echo "not a run file" > "$runs/broken.h5"

"$report" "$runs" >"$work/md" 2>"$work/err"
rc=$?
cat "$work/md" "$work/err"
check "exit 0 despite the corrupt file" test $rc -eq 0
check "warning names the corrupt file" grep -q "warning: $runs/broken.h5: not an HDF5 file" "$work/err"
check "one gecco row with 2 of 2 trials" grep -q '^| gecco | 2/2 |' "$work/md"
check "best trial's hyperparameters name dropout and seed" grep -q 'dropout=0\.[12], seed=[12] |$' "$work/md"
check "caption says final" grep -q -- '--metric final: the test accuracy after the last epoch' "$work/md"
check "the last-epoch column names its split" grep -q '| test acc, last epoch |' "$work/md"

"$report" "$runs" --format csv --out "$work/t.csv" 2>/dev/null
check "--out writes the CSV" grep -q '^model,complete,trials,.*test_last_mean_pct' "$work/t.csv"
check "--out leaves no .tmp" test ! -e "$work/t.csv.tmp"
"$report" "$runs" --format json 2>/dev/null | grep -q '"metric": "final"'
check "json" test $? -eq 0
"$report" "$runs" --format latex 2>/dev/null | grep -q '^\\begin{tabular}'
check "latex" test $? -eq 0
"$report" "$runs" --marginal dropout 2>/dev/null | grep -q '^| model | dropout=0.1 | dropout=0.2 |$'
check "marginal" test $? -eq 0
"$report" "$runs" --group-by dropout --sort dropout 2>/dev/null | grep -A1 '| gecco | 0.1 |' | grep -q '| gecco | 0.2 |'
check "group-by and sort" test $? -eq 0

"$report" "$runs" --figures "$work/fig" >/dev/null 2>"$work/fig.err"
check "figures exit 0" test $? -eq 0
cat "$work/fig.err"
for f in curves-gecco.png confusion-gecco.png misclassified-gecco.png; do
  check "$f is a PNG" test "$(head -c 8 "$work/fig/$f" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a
done
check "index.html shows the figures" grep -q '<img src="misclassified-gecco.png"' "$work/fig/index.html"

# --reference: the shipped Table II file gives reported / difference / CI / params columns per source.
"$report" "$runs" --reference "$2/sweeps/examples/table2_reported.csv" >"$work/ref.md" 2>"$work/ref.err"
check "--reference exits 0" test $? -eq 0
check "--reference columns" grep -q '| source report Table II: reported | source report Table II: measured - reported (points) |' "$work/ref.md"
check "--reference cells" grep -q '| 99.32 mean, 99.10 best, 50,800 params | [-+][0-9.]* | \(yes\|no\) | no | 98.04 mean |' "$work/ref.md"
check "--reference notes" grep -q '^- source report Table II, gecco: the mean (99.32) is above the best' "$work/ref.md"
"$report" "$runs" --select-on-test >/dev/null 2>&1
check "--select-on-test takes no value" test $? -eq 0
printf 'model,source,mean_accuracy_pct,best_accuracy_pct,param_count,notes\ngecco,x,high,,,\n' >"$work/bad.csv"
"$report" "$runs" --reference "$work/bad.csv" --out "$work/never.md" >/dev/null 2>"$work/e6"; rc=$?
check "bad --reference exits 2" test $rc -eq 2
check "bad --reference names file:line" grep -q "$work/bad.csv:2: expected mean_accuracy_pct" "$work/e6"
check "bad --reference writes nothing" test ! -e "$work/never.md"

# --compare: two dropout rows of one seed each are too few for a t-test.
"$report" "$runs" --group-by dropout --compare dropout=0.1,dropout=0.2 --out "$work/never.md" >/dev/null 2>"$work/e7"; rc=$?
check "--compare with 1 run per group exits 2" test $rc -eq 2
check "--compare names the group" grep -q "group 'gecco+dropout=0.1' has 1 complete run" "$work/e7"
check "--compare writes nothing" test ! -e "$work/never.md"
"$report" "$runs" --compare gecco,resnet >/dev/null 2>"$work/e8"; rc=$?
check "--compare unknown group exits 2" test $rc -eq 2
check "--compare unknown group message" grep -q "no group 'resnet'; the groups are: gecco" "$work/e8"
"$report" "$runs" --compare all --format csv >"$work/all.csv" 2>/dev/null
check "--compare all exits 0 (one row: no pairs)" test $? -eq 0
check "--compare CSV header" grep -q '^a,b,n_a,n_b,mean_a_pct,mean_b_pct,diff_pct,ci_low_pct,ci_high_pct,t,df,p' "$work/all.csv"

# Bad input: exit 2, one message.
"$report" "$runs" --format xml >/dev/null 2>"$work/e1"; rc=$?
check "bad --format exits 2" test $rc -eq 2
check "bad --format message" grep -q "format: expected markdown, csv, latex, json or html, got 'xml'" "$work/e1"
"$report" "$work/nonexistent" >/dev/null 2>"$work/e2"; rc=$?
check "missing folder exits 2" test $rc -eq 2
check "missing folder named" grep -q "$work/nonexistent: No such file or directory" "$work/e2"
mkdir -p "$work/empty"
"$report" "$work/empty" >/dev/null 2>"$work/e3"; rc=$?
check "no run files exits 2" test $rc -eq 2
check "no run files message" grep -q "no readable run files" "$work/e3"
"$report" "$runs" --sort colour >/dev/null 2>"$work/e4"; rc=$?
check "bad --sort exits 2" test $rc -eq 2
"$report" "$runs" --bogus x >/dev/null 2>"$work/e5"; rc=$?
check "unknown option exits 2" test $rc -eq 2

# objectives = ...: `sweeprun sweep` ends with the Pareto front, the same
# trials in the same order as sweepreport --pareto on its run files.
cat >"$work/front.ini" <<EOF
[sweep]
name = front
out = $work/front
objectives = val_acc:max, params:min
[defaults]
model = gecco
epochs = 1
train_subset = 2000
test_subset = 200
threads = 1
[grid]
feature_length = 8, 16, 32
dropout = 0.1, 0.3
EOF
# front_ids FILE: the trial ids of the front table in FILE (its rows
# follow the caption and the header, up to an empty or non-table line).
front_ids() { sed -n '/^Pareto front/,/^[0-9]* to run/p' "$1" | awk 'NR > 2 && length($1) == 12 && $1 ~ /^[0-9a-f]+$/ {print $1}'; }
"$bin" sweep "$work/front.ini" --quiet >"$work/front.out" 2>&1
rc=$?
cat "$work/front.out"
check "sweep with objectives: exit 0" test $rc -eq 0
check "sweep ends with the front's caption" \
  grep -q '^Pareto front (val_acc:max, params:min): [1-6] of 6 complete trials' "$work/front.out"
front_ids "$work/front.out" >"$work/front.ids"
"$report" "$work/front" --pareto val_acc:max,params:min 2>/dev/null | awk -F' [|] ' '/^[|] gecco /{print $2}' >"$work/report.ids"
check "the sweep's front = sweepreport --pareto's (same trials, same order)" \
  bash -c "[[ -s '$work/front.ids' ]] && diff '$work/front.ids' '$work/report.ids'"
"$bin" sweep "$work/front.ini" --dry-run >"$work/front.dry" 2>&1
front_ids "$work/front.dry" >"$work/dry.ids"
check "--dry-run shows the front of the trials complete so far" diff "$work/dry.ids" "$work/front.ids"
sed -i 's/^objectives = .*/objectives = val_acc:max, test_acc:max/' "$work/front.ini"
"$bin" sweep "$work/front.ini" >"$work/front.bad" 2>&1
rc=$?
check "objectives naming the test set: exit 2, at its line" \
  bash -c "[[ $rc -eq 2 ]] && grep -qF \"$work/front.ini:4: objectives: unknown metric 'test_acc' (known: val_acc, val_loss, params, s_per_epoch)\" '$work/front.bad'"

finish
