#!/usr/bin/env python3
"""Load a sweeprun run file's weights into the PyTorch twin of its model
(strict: every name and shape must match) and re-score the test set in
PyTorch, in the same batches: the accuracy, every image's prediction and the
test loss (Efficient-CapsNet: margin + reconstruction, the decoder fed the
longest capsule) must agree with what sweeprun recorded. That shows the run
file really is a PyTorch state_dict and both forwards compute the same.

usage: check_pytorch_load.py RUN.h5 MNIST_DIR"""
import sys

import h5py
import numpy as np
import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from torch_reference import MODELS, classifier_param_count, load, loss_function  # noqa: E402


def main():
    path, data = sys.argv[1], sys.argv[2]
    with h5py.File(path, "r") as f:
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
        state = {k: torch.from_numpy(np.array(v[()])) for k, v in f["weights"].items()}
        recorded_loss = float(f["epochs/test_loss"][-1])
        mis_index = np.array(f["test/misclassified_index"][()])
        mis_pred = np.array(f["test/misclassified_pred"][()])
    name = attrs["model"]
    model = MODELS[name].build(attrs)
    # Parameter counts: the twin's, as sweeprun counts them (decoder apart).
    twin, aux = classifier_param_count(model), sum(p.numel() for p in model.parameters()) - classifier_param_count(model)
    print(f"parameters: twin {twin} + {aux} training-only, run file {attrs['param_count']} + {attrs.get('aux_param_count', 0)}")
    if twin != attrs["param_count"] or aux != attrs.get("aux_param_count", 0):
        return 1
    if name in ("gecco", "gecco_enhanced"):   # the twin's module names differ; map them
        rename = {"conv1.linear": "linear", "conv1.norm": "norm", "conv2.lin_key": "key",
                  "conv2.lin_query": "query", "conv2.lin_value": "value", "conv2.lin_skip": "skip",
                  "conv2.bias": "bias"}
        state = {next((v + k[len(p):] for p, v in rename.items() if k.startswith(p)), k): t
                 for k, t in state.items()}
    state = {k: (t.reshape(()) if k.endswith("num_batches_tracked") else t) for k, t in state.items()}
    print(model.load_state_dict(state, strict=True))
    _, _, xte, yte = load(data, 0, *MODELS[name].norm)
    n = int(attrs.get("test_subset") or 0) or len(xte)
    xte, yte = xte[:n], yte[:n]
    model.eval()
    batch = int(attrs.get("eval_batch_size", 64))
    preds, loss_sum, loss_of = [], 0.0, loss_function(model)
    with torch.no_grad():
        for s in range(0, n, batch):
            x, y = xte[s:s + batch], yte[s:s + batch]
            scores = model(x)
            loss = loss_of(scores, x, y)
            loss_sum += loss.item() * len(y)
            preds.append(scores.argmax(1))
    pred = torch.cat(preds).numpy()
    acc = float((pred == yte.numpy()).mean())
    # sweeprun's prediction of every image: the label, except where recorded as misclassified.
    ours = yte.numpy().copy()
    ours[mis_index] = mis_pred
    differ = int((ours != pred).sum())
    rel = abs(loss_sum / n - recorded_loss) / max(abs(recorded_loss), 1e-12)
    print(f"{path}: PyTorch re-scored {acc:.4%}, sweeprun recorded {attrs['final_test_accuracy']:.4%}; "
          f"{differ} of {n} predictions differ; test loss {loss_sum / n:.6f} vs {recorded_loss:.6f} "
          f"(relative difference {rel:.1e})")
    return 0 if abs(acc - attrs["final_test_accuracy"]) <= 2 / n and differ <= 2 and rel < 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
