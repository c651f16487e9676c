#!/usr/bin/env python3
"""sweeprun vs PyTorch eager on one GPU, in one run (issue 3's benchmark).

For each (model, batch size): seconds per epoch of the training phase for
sweeprun (sweeprun-bench train, CUDA graphs on; also with --no-graph where
listed) and for PyTorch eager with the twin model of torch_reference.py,
both with the whole dataset already in GPU memory, Adam lr 1e-3, the model's
default dropout, FP32 products (PyTorch's TF32 switched off for matmul and
cuDNN, as sweeprun's default). Reported: the median over epochs 2..E (epoch 1
holds warm-up: CUDA graph capture, cuDNN/cuBLAS heuristics), the test
accuracy after the last epoch, and the floor: the model's matrix-product
FLOPs per epoch (counted by sweeprun-bench flops) over the GPU's measured
FP32 SGEMM peak. Every row names the device.

With --recipes M1,M2,... (issue 7's models) it compares instead each model
trained with its OWN default recipe (optimizer, lr, schedule, batch size, loss:
the capsule net's margin + reconstruction) against the PyTorch twin trained
the same way, on the first --train-subset training images; augmentation is
off on both sides (the twins have none), so the timings compare the same
work.

usage: gpu_vs_pytorch.py --bench build/runner/sweeprun-bench --data DIR [--epochs 3] [--out bench.md]
       gpu_vs_pytorch.py --bench ... --data DIR --recipes gecco_enhanced,spinalnet --train-subset 10000
                         [--epochs 2] [--out bench.md --append]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

CONFIGS = [("baseline_cnn", 32, False), ("baseline_cnn", 64, True), ("gecco", 64, True)]
# The recipes' batch sizes (sweeprun models), for --recipes.
RECIPE_BATCH = {"gecco_enhanced": 64, "spinalnet": 100, "resnet": 64, "efficient_capsnet": 16}


def run(cmd, env):
    print("$", " ".join(cmd), flush=True)
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    print(p.stdout, end="")
    print(p.stderr, end="", file=sys.stderr)
    if p.returncode:
        raise RuntimeError(f"{cmd[0]} exited with {p.returncode}: {p.stderr.strip()[-400:]}")
    return p.stdout


def field(text, name):
    m = re.search(rf"{name} ([0-9.eE+-]+)", text)
    return float(m.group(1)) if m else float("nan")


def sweeprun(bench, env, keys, epochs, graph):
    """keys: the run's settings as KEY=VALUE strings."""
    out = run([bench, "train", *keys, f"epochs={epochs}", "device=cuda",
               f"cuda_graph={'true' if graph else 'false'}"], env)
    device = re.search(r"^device: (.*)$", out, re.M).group(1)
    rows = [l for l in out.splitlines() if l.startswith("epoch ")]
    secs = [field(l, "train_seconds") for l in rows]
    return device, secs, field(rows[-1], "test_accuracy")


def pytorch(model_name, batch, epochs, data, recipe=False, train_subset=0):
    """The twin on the GPU, data on the GPU. recipe=False: Adam lr 1e-3,
    constant (issue 3's rows); True: the model's own recipe (torch_reference.MODELS)."""
    import torch
    from torch_reference import MODELS, evaluate, load, loss_function

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(0)
    dev = torch.device("cuda")
    twin = MODELS[model_name]
    xtr, ytr, xte, yte = (t.to(dev) for t in load(data, train_subset, *twin.norm))
    model = twin.build({}).to(dev)
    if recipe:
        opt = twin.optimizer(model.parameters(), twin.lr)
        sched = twin.schedule(opt, twin.lr) if twin.schedule else None
    else:
        opt, sched = torch.optim.Adam(model.parameters(), lr=1e-3), None
    loss_of = loss_function(model)
    n, secs = len(xtr), []
    for _ in range(epochs):
        model.train()
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        perm = torch.randperm(n, device=dev)
        for s in range(0, n, batch):
            idx = perm[s:s + batch]
            opt.zero_grad(set_to_none=True)
            loss_of(model(xtr[idx]), xtr[idx], ytr[idx]).backward()
            opt.step()
        torch.cuda.synchronize()
        secs.append(time.perf_counter() - t0)
        if sched:
            sched.step()
        print(f"pytorch {model_name} batch {batch} epoch {len(secs)} train_seconds {secs[-1]:.4f}", flush=True)
    acc = evaluate(model, xte, yte, 64)
    return torch.cuda.get_device_name(0), torch.__version__, secs, acc


def typical(secs):
    later = secs[1:] if len(secs) > 1 else secs
    return statistics.median(later)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--out", default="")
    ap.add_argument("--append", action="store_true", help="add the table to --out instead of replacing it")
    ap.add_argument("--recipes", default="", help="comma-separated models to run with their own recipes")
    ap.add_argument("--train-subset", type=int, default=0, help="with --recipes: first N training images")
    a = ap.parse_args()
    env = dict(os.environ, MNIST_DIR=a.data)
    a.prefix = open(a.out).read() if a.append and a.out and os.path.exists(a.out) else ""

    try:
        peak = field(run([a.bench, "peak"], env), "peak_sgemm_flops")
    except RuntimeError as e:
        print(f"peak failed: {e}", flush=True)
        peak = float("nan")
    if a.recipes:
        configs = [(m, RECIPE_BATCH[m], False) for m in a.recipes.split(",")]
    else:
        configs = CONFIGS
    lines, tver, dev = [], "?", "?"
    for model, batch, with_eager in configs:
        keys = [f"model={model}", f"batch_size={batch}"]
        if a.recipes:   # the recipe as registered, minus augmentation (the twins have none)
            keys += ["augment=none", f"train_subset={a.train_subset}"]
        else:
            keys += ["optimizer=adam", "lr=0.001"]
        try:
            flops = field(run([a.bench, "flops", *keys], env), "flops_per_epoch")
            dev, s_graph, acc = sweeprun(a.bench, env, keys, a.epochs, True)
            s_eager = sweeprun(a.bench, env, keys, a.epochs, False)[1] if with_eager else None
            tdev, tver, s_torch, tacc = pytorch(model, batch, a.epochs, a.data, bool(a.recipes), a.train_subset)
        except Exception as e:  # keep the other rows
            lines.append(f"| ? | {model} | {batch} | failed: {str(e)[:200]} |")
            print(f"row failed: {e}", flush=True)
            continue
        sg, st = typical(s_graph), typical(s_torch)
        eager_col = f"{typical(s_eager):.3f}" if s_eager else "-"
        lines.append(f"| {tdev} | {model} | {batch} | {sg:.3f} | {eager_col} | {st:.3f} | {st / sg:.2f}x | "
                     f"{100 * acc:.2f}% | {100 * tacc:.2f}% | {flops / 1e12:.3f} | {1e3 * flops / peak:.1f} ms |")
        print(f"row: {lines[-1]}", flush=True)
        write_table(a, peak, dev, tver, lines)   # after every row: a killed run keeps the rows so far
    print(write_table(a, peak, dev, tver, lines))


def write_table(a, peak, dev, tver, lines):
    if a.recipes:
        what = (f"## Issue 7's models with their own recipes: sweeprun vs PyTorch {tver} eager, {a.epochs} epochs "
                f"of the first {a.train_subset or 60000} MNIST training images, no augmentation, FP32")
    else:
        what = f"## sweeprun vs PyTorch {tver} eager, {a.epochs} epochs of full MNIST, Adam lr 1e-3, FP32"
    head = [what,
            "",
            f"sweeprun device: {dev}; measured FP32 SGEMM peak {peak / 1e12:.1f} TFLOP/s (8192^3, cuBLAS, no TF32).",
            "Seconds per epoch: training phase only, median of epochs 2.."
            f"{a.epochs}; test accuracy (full test set) after epoch {a.epochs}.",
            "",
            "| device | model | batch | sweeprun s/epoch (graphs) | sweeprun s/epoch (no graph) | PyTorch s/epoch | "
            "speed-up | sweeprun test acc | PyTorch test acc | TFLOP/epoch | floor (FLOPs/peak) |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    text = a.prefix + ("\n" if a.prefix else "") + "\n".join(head + lines) + "\n"
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    return text


if __name__ == "__main__":
    main()
