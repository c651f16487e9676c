#!/usr/bin/env python3
"""Load a sweeprun run file's weights into the PyTorch twin of its model
(strict: every name and shape must match) and re-score the test set in
PyTorch, in the same batches. Agreement with the recorded accuracy shows the
run file really is a PyTorch state_dict and both forwards compute the same.

usage: check_pytorch_load.py RUN.h5 MNIST_DIR"""
import sys

import h5py
import numpy as np
import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from torch_reference import MODELS, load  # noqa: E402


def main():
    path, data = sys.argv[1], sys.argv[2]
    with h5py.File(path, "r") as f:
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
        state = {k: torch.from_numpy(np.array(v[()])) for k, v in f["weights"].items()}
        recorded_loss = float(f["epochs/test_loss"][-1])
        wrong = dict(zip(np.array(f["test/misclassified_index"]), np.array(f["test/misclassified_pred"])))
    build, norm, _ = MODELS[attrs["model"]]
    model = build(attrs)
    if attrs["model"] in ("gecco", "gecco_enhanced"):   # the twin's module names differ; map them
        rename = {"conv1.linear": "linear", "conv1.norm": "norm", "conv2.lin_key": "key",
                  "conv2.lin_query": "query", "conv2.lin_value": "value", "conv2.lin_skip": "skip",
                  "conv2.bias": "bias"}
        state = {next((v + k[len(p):] for p, v in rename.items() if k.startswith(p)), k): t
                 for k, t in state.items()}
    state = {k: (t.reshape(()) if k.endswith("num_batches_tracked") else t) for k, t in state.items()}
    print(model.load_state_dict(state, strict=True))
    _, _, xte, yte = load(data, 0, *norm)
    n = int(attrs.get("test_subset") or 0) or len(xte)
    xte, yte = xte[:n], yte[:n]
    model.eval()
    batch = int(attrs.get("eval_batch_size", 64))
    with torch.no_grad():
        logits = torch.cat([model(xte[s:s + batch]) for s in range(0, n, batch)])
    pred = logits.argmax(1)
    acc = (pred == yte).float().mean().item()
    loss = torch.nn.functional.cross_entropy(logits.double(), yte).item()
    # sweeprun's prediction of every image: the recorded one where it was
    # wrong, else the label.
    theirs = torch.tensor([int(wrong.get(i, yte[i].item())) for i in range(n)])
    differ = (pred != theirs).sum().item()
    print(f"{path}: PyTorch re-scored {acc:.4%}, sweeprun recorded {attrs['final_test_accuracy']:.4%}; "
          f"test loss {loss:.6f} vs {recorded_loss:.6f}; {differ} of {n} predictions differ")
    return 0 if abs(acc - attrs["final_test_accuracy"]) <= 2 / n else 1


if __name__ == "__main__":
    sys.exit(main())
