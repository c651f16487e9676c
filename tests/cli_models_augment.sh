#!/usr/bin/env bash
# gecco_enhanced and spinalnet through the CLI with augmentation: the run
# file records the model, its exact parameter count and the augment spec in
# canonical form, and eval (which reads the configuration back from the
# file) reproduces the recorded accuracy.
# usage: cli_models_augment.sh SWEEPRUN_BINARY SOURCE_DIR
source "$(dirname "$0")/cli_lib.sh"

need_mnist

# train_and_eval NAME ARGS...: train into $work/NAME.h5, then eval it.
train_and_eval() {
  local name="$1"; shift
  local run="$work/$name.h5"
  "$bin" train --epochs 1 --seed 2 --out "$run" "$@" >"$work/$name.out" 2>&1
  local rc=$?
  tail -n 2 "$work/$name.out"
  check "$name: train exits 0" test "$rc" -eq 0
  "$bin" eval --run "$run" >"$work/$name.eval" 2>&1
  rc=$?
  check "$name: eval reproduces exactly" grep -q "reproduced exactly" "$work/$name.eval"
  check "$name: eval exits 0" test "$rc" -eq 0
}

train_and_eval spinal --model spinalnet --set train_subset=200 --set test_subset=200
check "spinalnet: recipe augment recorded" test "$(attr "$work/spinal.h5" augment)" = "rotate:10,shift:2,scale:0.1"
check "spinalnet: param_count 3629770" test "$(attr "$work/spinal.h5" param_count)" = 3629770
check "spinalnet: head spinal" test "$(attr "$work/spinal.h5" head)" = spinal
h5ls -r "$work/spinal.h5" >"$work/spinal.layout"
check "spinalnet: fc_spinal_layer4.1.weight is 128x256" \
  grep -q '^/weights/fc_spinal_layer4.1.weight *Dataset {128, 256}' "$work/spinal.layout"

train_and_eval plain --model spinalnet --set head=plain --set augment=none --set train_subset=100 --set test_subset=100
check "spinalnet plain: param_count 3646154" test "$(attr "$work/plain.h5" param_count)" = 3646154
check "spinalnet plain: augment none" test "$(attr "$work/plain.h5" augment)" = none

train_and_eval enhanced --model gecco_enhanced --set augment=erase:4,shift:2 --set l2_scope=fc \
  --set train_subset=2000 --set test_subset=1000
check "gecco_enhanced: augment canonical" test "$(attr "$work/enhanced.h5" augment)" = "shift:2,erase:4"
check "gecco_enhanced: param_count 49882" test "$(attr "$work/enhanced.h5" param_count)" = 49882
check "gecco_enhanced: l2_scope fc" test "$(attr "$work/enhanced.h5" l2_scope)" = fc
check "gecco_enhanced: weight_decay 0.0001" test "$(attr "$work/enhanced.h5" weight_decay)" = 0.0001

finish
