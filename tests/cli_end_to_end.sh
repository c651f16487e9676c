#!/usr/bin/env bash
# End to end through the CLI: train GECCO on a 2,000-image subset for 2
# epochs, check the run file's layout, and that eval reproduces the recorded
# final accuracy exactly.
# usage: cli_end_to_end.sh SWEEPRUN_BINARY SOURCE_DIR
source "$(dirname "$0")/cli_lib.sh"

need_mnist

run="$work/gecco.h5"
"$bin" train --model gecco --epochs 2 --train-subset 2000 --seed 5 --out "$run" >"$work/train.out" 2>&1
rc=$?
cat "$work/train.out"
check "train exits 0" test "$rc" -eq 0
check "run file renamed from .tmp" test -f "$run" -a ! -e "$run.tmp"
check "two epoch lines printed" test "$(grep -c '^epoch ' "$work/train.out")" -eq 2

h5ls -r "$run" >"$work/layout" 2>&1
for path in /epochs/epoch /epochs/train_loss /epochs/train_accuracy /epochs/test_loss \
            /epochs/test_accuracy /epochs/lr /epochs/seconds /test/confusion \
            /test/misclassified_index /test/misclassified_pred /test/misclassified_label \
            /weights/conv1.linear.weight /weights/conv2.lin_key.weight /weights/bn.running_var \
            /weights/bn.num_batches_tracked /weights/fc1.bias /checkpoint; do
  check "layout has $path" grep -q "^$path " "$work/layout"
done
check "epochs has 2 rows" grep -q '^/epochs/test_accuracy *Dataset {2/' "$work/layout"
check "confusion is 10x10" grep -q '^/test/confusion *Dataset {10, 10}' "$work/layout"
check "first linear is 64x784" grep -q '^/weights/conv1.linear.weight *Dataset {64, 784}' "$work/layout"

check "status complete" test "$(attr "$run" status)" = complete
check "model gecco" test "$(attr "$run" model)" = gecco
check "param_count 67466" test "$(attr "$run" param_count)" = 67466
check "epochs_completed 2" test "$(attr "$run" epochs_completed)" = 2
# 2,000 images less the validation split's 166 (auto: 2000 / 12) leave 1,834: 29 batches of 64
check "val_images 166" test "$(attr "$run" val_images)" = 166
check "num_batches_tracked = 2 x 29 batches" test "$(h5dump -d /weights/bn.num_batches_tracked "$run" | grep -m1 '(0)' | sed 's/.*(0): *//')" = 58

"$bin" eval --run "$run" >"$work/eval.out" 2>&1
rc=$?
cat "$work/eval.out"
check "eval exits 0" test "$rc" -eq 0
check "eval reproduces exactly" grep -q "reproduced exactly" "$work/eval.out"

# A seed beyond int64 (2^64 - 1) is recorded exactly, as uint64.
big="$work/bigseed.h5"
"$bin" train --model baseline_cnn --epochs 1 --train-subset 64 --test-subset 64 --seed 18446744073709551615 \
  --quiet --out "$big" >"$work/big.out" 2>&1
check "seed 2^64-1 trains" test "$?" -eq 0
check "seed attribute 2^64-1" test "$(attr "$big" seed)" = 18446744073709551615
check "seed attribute is uint64" grep -q H5T_STD_U64LE <(h5dump -a /seed "$big")

# A loss that becomes NaN/inf: exit code 3, status "diverged", file kept.
div="$work/diverged.h5"
"$bin" train --model baseline_cnn --optimizer sgd --lr 1000 --epochs 2 --train-subset 640 \
  --test-subset 100 --out "$div" >"$work/div.out" 2>&1
rc=$?
check "diverged run exits 3" test "$rc" -eq 3
check "diverged run says so" grep -q "diverged (loss became NaN or infinite); run file kept" "$work/div.out"
check "diverged file kept" test -f "$div" -a ! -e "$div.tmp"
check "diverged status recorded" test "$(attr "$div" status)" = diverged

finish
