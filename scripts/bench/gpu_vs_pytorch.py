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

usage: gpu_vs_pytorch.py --bench build/runner/sweeprun-bench --data DIR [--epochs 3] [--out bench.md]
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


def sweeprun(bench, env, model, batch, epochs, graph):
    out = run([bench, "train", f"model={model}", f"batch_size={batch}", f"epochs={epochs}", "device=cuda",
               "optimizer=adam", "lr=0.001", f"cuda_graph={'true' if graph else 'false'}"], env)
    device = re.search(r"^device: (.*)$", out, re.M).group(1)
    rows = [l for l in out.splitlines() if l.startswith("epoch ")]
    secs = [field(l, "train_seconds") for l in rows]
    return device, secs, field(rows[-1], "test_accuracy")


def pytorch(model_name, batch, epochs, data):
    import torch
    import torch.nn.functional as F
    from torch_reference import BaselineCNN, Gecco, evaluate, load

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(0)
    dev = torch.device("cuda")
    xtr, ytr, xte, yte = (t.to(dev) for t in load(data, 0))
    model = (BaselineCNN() if model_name == "baseline_cnn" else Gecco()).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    n, secs = len(xtr), []
    for _ in range(epochs):
        model.train()
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        perm = torch.randperm(n, device=dev)
        for s in range(0, n, batch):
            idx = perm[s:s + batch]
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(xtr[idx]), ytr[idx]).backward()
            opt.step()
        torch.cuda.synchronize()
        secs.append(time.perf_counter() - t0)
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
    a = ap.parse_args()
    env = dict(os.environ, MNIST_DIR=a.data)

    try:
        peak = field(run([a.bench, "peak"], env), "peak_sgemm_flops")
    except RuntimeError as e:
        print(f"peak failed: {e}", flush=True)
        peak = float("nan")
    lines, tver, dev = [], "?", "?"
    for model, batch, with_eager in CONFIGS:
        try:
            flops = field(run([a.bench, "flops", f"model={model}", f"batch_size={batch}"], env), "flops_per_epoch")
            dev, s_graph, acc = sweeprun(a.bench, env, model, batch, a.epochs, True)
            s_eager = sweeprun(a.bench, env, model, batch, a.epochs, False)[1] if with_eager else None
            tdev, tver, s_torch, tacc = pytorch(model, batch, a.epochs, a.data)
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
    head = [f"## sweeprun vs PyTorch {tver} eager, {a.epochs} epochs of full MNIST, Adam lr 1e-3, FP32",
            "",
            f"sweeprun device: {dev}; measured FP32 SGEMM peak {peak / 1e12:.1f} TFLOP/s (8192^3, cuBLAS, no TF32).",
            "Seconds per epoch: training phase only, median of epochs 2.."
            f"{a.epochs}; test accuracy after epoch {a.epochs}.",
            "",
            "| device | model | batch | sweeprun s/epoch (graphs) | sweeprun s/epoch (no graph) | PyTorch s/epoch | "
            "speed-up | sweeprun test acc | PyTorch test acc | TFLOP/epoch | floor (FLOPs/peak) |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    text = "\n".join(head + lines) + "\n"
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    return text


if __name__ == "__main__":
    main()
