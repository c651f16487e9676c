#!/usr/bin/env python3
"""PyTorch twins of sweeprun's models, trained with the same recipe, for
speed and accuracy comparisons (scripts/bench/*.sh).

The data are preloaded as one normalised tensor and batches are taken by
index from a per-epoch permutation: the fastest way to feed PyTorch, so the
comparison measures the model's compute, not a DataLoader.

Prints one line per epoch:  epoch N images_per_second X test_accuracy Y
"""
import argparse
import gzip
import os
import struct
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic, count = struct.unpack(">II", data[:8])
    if magic == 2051:
        rows, cols = struct.unpack(">II", data[8:16])
        return np.frombuffer(data, np.uint8, offset=16).reshape(count, 1, rows, cols)
    return np.frombuffer(data, np.uint8, offset=8)


def find(folder, stem):
    for name in (stem, stem + ".gz"):
        if os.path.exists(os.path.join(folder, name)):
            return os.path.join(folder, name)
    raise SystemExit(f"{folder}: no {stem}[.gz]")


def load(folder, train_subset):
    def images(stem):
        x = torch.from_numpy(read_idx(find(folder, stem)).astype(np.float32))
        return (x / 255.0 - 0.5) / 0.5          # ToTensor + Normalize(0.5, 0.5)

    def labels(stem):
        return torch.from_numpy(read_idx(find(folder, stem)).astype(np.int64))

    xtr, ytr = images("train-images-idx3-ubyte"), labels("train-labels-idx1-ubyte")
    xte, yte = images("t10k-images-idx3-ubyte"), labels("t10k-labels-idx1-ubyte")
    if train_subset:
        xtr, ytr = xtr[:train_subset], ytr[:train_subset]
    return xtr, ytr, xte, yte


class BaselineCNN(nn.Module):
    """MODELS.md section 2 (overlapping 3x3/2 pools, 3,390,634 parameters),
    laid out as the reference Net so state_dict names match sweeprun's."""

    def __init__(self, dropout=0.5):
        super().__init__()

        def block(cin, cout):
            return nn.Sequential(
                nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                nn.MaxPool2d(3, stride=2))

        self.conv_block1, self.conv_block2 = block(1, 32), block(32, 64)
        self.fcs = nn.Sequential(
            nn.Linear(2304, 1152), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(1152, 576), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(576, 10))

    def forward(self, x):
        x = self.conv_block2(self.conv_block1(x))
        return self.fcs(x.reshape(x.shape[0], -1))


class Gecco(nn.Module):
    """MODELS.md section 3: the reference model.py with PyG's
    ResGatedGraphConv over its degenerate edge list (B self-loops, each
    repeated B times), written out in plain PyTorch (no torch_geometric
    needed): out = skip(x) + bias + B * sigmoid(key(x) + query(x)) * value(x)."""

    def __init__(self, f=64, dropout=0.15):
        super().__init__()
        self.linear = nn.Linear(784, f)
        nn.init.xavier_uniform_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)
        self.norm = nn.LayerNorm(f)           # registered, unused (as the reference)
        self.key, self.query, self.value = nn.Linear(f, f), nn.Linear(f, f), nn.Linear(f, f)
        self.skip = nn.Linear(f, f, bias=False)
        self.bias = nn.Parameter(torch.zeros(f))
        self.fc1 = nn.Linear(f // 2, 10)
        self.bn = nn.BatchNorm1d(f)
        self.p = dropout

    def forward(self, x):
        b = x.shape[0]
        x = self.linear(x.reshape(b, 784))
        if self.training:
            x = F.dropout(x, self.p)
        x = F.relu(x)
        x = self.skip(x) + self.bias + b * torch.sigmoid(self.key(x) + self.query(x)) * self.value(x)
        x = F.max_pool1d(self.bn(F.relu(x)), 2)
        a = torch.sigmoid(x @ x.t())
        a = a / a.sum(dim=1, keepdim=True)
        return self.fc1(a @ x + x)


def evaluate(model, x, y, batch):
    model.eval()
    correct = 0
    with torch.no_grad():
        for s in range(0, len(x), batch):
            correct += (model(x[s:s + batch]).argmax(1) == y[s:s + batch]).sum().item()
    return correct / len(x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, choices=["baseline_cnn", "gecco"])
    ap.add_argument("--data", required=True)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--train-subset", type=int, default=0)
    ap.add_argument("--max-steps", type=int, default=0, help="stop each epoch early (thread probing)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    xtr, ytr, xte, yte = load(a.data, a.train_subset)
    model = BaselineCNN() if a.model == "baseline_cnn" else Gecco()
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    sched = torch.optim.lr_scheduler.StepLR(opt, 7, 0.1) if a.model == "baseline_cnn" else None
    n = len(xtr)
    for epoch in range(a.epochs):
        model.train()
        perm = torch.randperm(n)
        seen, t0 = 0, time.perf_counter()
        for step, s in enumerate(range(0, n, a.batch_size)):
            if a.max_steps and step >= a.max_steps:
                break
            idx = perm[s:s + a.batch_size]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
            seen += len(idx)
        rate = seen / (time.perf_counter() - t0)
        if sched:
            sched.step()
        acc = evaluate(model, xte, yte, 64) if not a.max_steps else float("nan")
        print(f"epoch {epoch + 1} images_per_second {rate:.1f} test_accuracy {acc:.4f}", flush=True)


if __name__ == "__main__":
    main()
