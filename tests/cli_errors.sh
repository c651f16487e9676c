#!/usr/bin/env bash
# Bad input through the CLI: one clear message, exit code 2, no run file.
# usage: cli_errors.sh SWEEPRUN_BINARY SOURCE_DIR
source "$(dirname "$0")/cli_lib.sh"

# expect_bad NAME EXPECTED_SUBSTRING ARGS...
expect_bad() {
  local name="$1" want="$2"
  shift 2
  local out="$work/$name.h5"
  "$bin" "$@" --out "$out" >"$work/stdout" 2>"$work/stderr"
  local rc=$?
  local msg
  msg="$(cat "$work/stderr")"
  if [[ $rc -ne 2 ]]; then
    echo "FAIL $name: exit code $rc, expected 2 (stderr: $msg)"; failures=$((failures + 1)); return
  fi
  if [[ "$msg" != *"$want"* ]]; then
    echo "FAIL $name: message '$msg' lacks '$want'"; failures=$((failures + 1)); return
  fi
  if [[ $(wc -l <"$work/stderr") -ne 1 ]]; then
    echo "FAIL $name: expected exactly one line on stderr, got: $msg"; failures=$((failures + 1)); return
  fi
  if ls "$work"/"$name".h5* >/dev/null 2>&1; then
    echo "FAIL $name: a run file was left behind"; failures=$((failures + 1)); return
  fi
  echo "ok   $name: $msg"
  passed=$((passed + 1))
}

# Two checks, so the message's list may grow with the registry.
expect_bad unknown_model "model: expected one of baseline_cnn, gecco, " train --model lenet
expect_bad unknown_model_named "got 'lenet'" train --model lenet
expect_bad no_model "no model given" train --epochs 2
expect_bad bad_lr "lr: expected a number" train --model gecco --lr fast
# the validation split and early stopping (need MNIST for the size check)
expect_bad negative_val_split "val_split: expected auto or a whole number of images" train --model gecco --val-split -1
expect_bad bad_early_stop "early_stop: expected patience:P, min_delta:D or on:val_loss|val_accuracy, got 'after:3'" \
  train --model gecco --set early_stop=after:3
expect_bad early_stop_without_split "early_stop: decides on the validation split, and val_split = 0 has none" \
  train --model gecco --val-split 0 --set early_stop=patience:2
if [[ -d "${MNIST_DIR:-}" ]]; then
  expect_bad val_split_too_big "val_split: 2000 images held out of 1000 training images leaves fewer than 2 to train on" \
    train --model gecco --train-subset 1000 --val-split 2000
fi
expect_bad negative_epochs "epochs: expected a whole number in [1, " train --model gecco --epochs -3
expect_bad bad_batch "batch_size: expected a whole number" train --model gecco --batch-size 6.5
expect_bad bad_optimizer "optimizer: expected sgd, adam or adamw, got 'rmsprop'" train --model gecco --optimizer rmsprop
expect_bad bad_schedule "schedule:" train --model gecco --schedule step:0:0.1
expect_bad bad_graph "graph: expected one of selfloop|complete, got 'star'" train --model gecco --set graph=star
expect_bad odd_features "feature_length: expected an even number, got 33" train --model gecco --set feature_length=33
expect_bad option_of_other_model "dropout" train --model gecco --dropout 1.5
expect_bad unknown_key "colour: unknown key for model gecco" train --model gecco --set colour=blue
expect_bad bad_set "--set: expected KEY=VALUE" train --model gecco --set lr
expect_bad missing_value "--epochs: expected a value" train --model gecco --epochs
expect_bad missing_dataset "is neither mnist, fashion-mnist nor an existing folder" train --model gecco --dataset /nonexistent/mnist
expect_bad empty_dataset_dir "train-images-idx3-ubyte" train --model gecco --dataset "$work"
expect_bad bad_device "device: expected auto, cpu, cuda or cuda:N, got 'tpu'" train --model gecco --device tpu
expect_bad accum_divides "grad_accum: 3 does not divide batch_size 64" train --model gecco --grad-accum 3
expect_bad unknown_command "unknown command 'fly'" fly

# expect_bad_no_out NAME EXPECTED_SUBSTRING ARGS...: as expect_bad, for
# commands without --out (eval, predict).
expect_bad_no_out() {
  local name="$1" want="$2"
  shift 2
  "$bin" "$@" >"$work/stdout" 2>"$work/stderr"
  local rc=$? msg
  msg="$(cat "$work/stderr")"
  if [[ $rc -ne 2 || "$msg" != *"$want"* || $(wc -l <"$work/stderr") -ne 1 || -s "$work/stdout" ]]; then
    echo "FAIL $name: exit code $rc (expected 2), stderr '$msg' (expected one line with '$want'), stdout $(head -c 200 "$work/stdout")"
    failures=$((failures + 1)); return
  fi
  echo "ok   $name: $msg"
  passed=$((passed + 1))
}

expect_bad seed_beyond_64_bits "seed: expected a whole number in [0, 18446744073709551615], got '18446744073709551616'" \
  train --model gecco --seed 18446744073709551616 --epochs 1 --train-subset 64 --test-subset 64
# eval and predict take --threads in train's range (the config table's row).
touch "$work/none.h5"
expect_bad_no_out eval_threads_negative "eval: threads: expected a whole number in [0, 1024], got '-5'" \
  eval --run "$work/none.h5" --threads -5
expect_bad_no_out eval_threads_huge "eval: threads: expected a whole number in [0, 1024], got '1000000'" \
  eval --threads 1000000 --run "$work/none.h5"
expect_bad_no_out predict_threads_negative "predict: threads: expected a whole number in [0, 1024], got '-5'" \
  predict --run "$work/none.h5" --threads -5 "$work/none.png"
expect_bad_no_out predict_threads_text "predict: threads: expected a whole number in [0, 1024], got 'all'" \
  predict --run "$work/none.h5" --threads all "$work/none.png"
expect_bad_no_out predict_bad_polarity "predict: --polarity: expected auto, dark-on-light or light-on-dark, got 'red'" \
  predict --run "$work/none.h5" --polarity red "$work/none.png"
expect_bad_no_out predict_bad_frame "predict: --frame: expected digit or whole, got 'crop'" \
  predict --run "$work/none.h5" --frame crop "$work/none.png"

# train without --out in a folder it may not write to: the default run file
# goes under runs/, and the message names the step that failed (mkdir runs)
# and its real cause, not the "No such file" of the file open after it.
# Root ignores permissions: as root the command runs as nobody (setpriv).
readonly_dir="$work/readonly"
mkdir "$readonly_dir" && chmod 755 "$work" && chmod 555 "$readonly_dir"
as_user=()
if [[ $(id -u) -eq 0 ]]; then as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups); fi
if [[ $(id -u) -eq 0 ]] && ! command -v setpriv >/dev/null; then
  echo "skip train_readonly_dir: running as root without setpriv"
else
  (cd "$readonly_dir" && "${as_user[@]}" "$bin" train --model gecco --epochs 1 --train-subset 64 --test-subset 64 >"$work/stdout" 2>"$work/stderr")
  rc=$?
  msg="$(cat "$work/stderr")"
  if [[ $rc -eq 2 && "$msg" == *"train: cannot create the folder runs/ for the run file: Permission denied"* \
        && $(wc -l <"$work/stderr") -eq 1 && ! -e "$readonly_dir/runs" ]]; then
    echo "ok   train_readonly_dir: $msg"; passed=$((passed + 1))
  else
    echo "FAIL train_readonly_dir: rc $rc, stderr $msg"; failures=$((failures + 1))
  fi
fi

# A file that exists is never overwritten, and stays untouched.
echo "precious" >"$work/existing.h5"
"$bin" train --model gecco --out "$work/existing.h5" >/dev/null 2>"$work/stderr"
rc=$?
if [[ $rc -eq 2 && "$(cat "$work/existing.h5")" == precious && "$(cat "$work/stderr")" == *"already exists"* ]]; then
  echo "ok   existing_out: $(cat "$work/stderr")"; passed=$((passed + 1))
else
  echo "FAIL existing_out: rc $rc, stderr $(cat "$work/stderr")"; failures=$((failures + 1))
fi

# eval on something that is not a run file.
echo "not hdf5" >"$work/fake.h5"
"$bin" eval --run "$work/fake.h5" >/dev/null 2>"$work/stderr"
rc=$?
if [[ $rc -eq 2 && "$(cat "$work/stderr")" == *"$work/fake.h5"* ]]; then
  echo "ok   eval_not_hdf5: $(cat "$work/stderr")"; passed=$((passed + 1))
else
  echo "FAIL eval_not_hdf5: rc $rc, stderr $(cat "$work/stderr")"; failures=$((failures + 1))
fi

# The GPU path CI can check: without a usable GPU, --device cuda is refused
# with one message (exit 2, nothing written), and auto trains on the CPU
# with a one-line note. Skipped where a GPU is usable.
if nvidia-smi -L >/dev/null 2>&1; then
  echo "skip cuda_without_gpu: a GPU is present"
else
  expect_bad cuda_without_gpu "train: device cuda: " train --model gecco --device cuda
  expect_bad cuda1_without_gpu "train: device cuda:1: " train --model gecco --device cuda:1
  need_mnist
  "$bin" train --model gecco --epochs 1 --train-subset 128 --test-subset 64 \
    --out "$work/auto.h5" >"$work/auto.out" 2>"$work/auto.err"
  rc=$?
  if [[ $rc -eq 0 && "$(grep -c '^note: no usable GPU (.*); training on the CPU$' "$work/auto.out")" == 1 \
        && "$(grep -c '^device: cpu: ' "$work/auto.out")" == 1 && ! -s "$work/auto.err" ]]; then
    echo "ok   auto_falls_back: $(head -1 "$work/auto.out")"; passed=$((passed + 1))
  else
    echo "FAIL auto_falls_back: rc $rc, stdout $(head -3 "$work/auto.out"), stderr $(cat "$work/auto.err")"
    failures=$((failures + 1))
  fi
fi

finish
