#!/usr/bin/env python3
"""PyTorch twins of sweeprun's models, trained with the same recipe, for
speed and accuracy comparisons (scripts/bench/*.sh).

The data are preloaded as one normalised tensor and batches are taken by
index from a per-epoch permutation: the fastest way to feed PyTorch, so the
comparison measures the model's compute, not a DataLoader.

Prints one line per epoch:  epoch N images_per_second X test_accuracy Y
"""
import argparse
import collections
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


def load(folder, train_subset, mean=0.5, std=0.5):
    def images(stem):
        x = torch.from_numpy(read_idx(find(folder, stem)).astype(np.float32))
        return (x / 255.0 - mean) / std         # ToTensor + Normalize(mean, std)

    def labels(stem):
        return torch.from_numpy(read_idx(find(folder, stem)).astype(np.int64))

    xtr, ytr = images("train-images-idx3-ubyte"), labels("train-labels-idx1-ubyte")
    xte, yte = images("t10k-images-idx3-ubyte"), labels("t10k-labels-idx1-ubyte")
    if train_subset:
        xtr, ytr = xtr[:train_subset], ytr[:train_subset]
    return xtr, ytr, xte, yte


class BaselineCNN(nn.Module):
    """docs/models.md section 2 (overlapping 3x3/2 pools, 3,390,634 parameters),
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
    """docs/models.md section 3: the reference model.py with PyG's
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


class GeccoEnhanced(Gecco):
    """docs/models.md section 4 (recommended interpretation): GECCO with dropout
    after the ReLU and the softmax feature gate Linear(F, F) before the
    pool; L2 comes from the optimizer (Adam weight_decay 1e-4)."""

    def __init__(self, f=48, dropout=0.15):
        super().__init__(f, dropout)
        self.gate = nn.Linear(f, f)

    def forward(self, x):
        b = x.shape[0]
        x = F.relu(self.linear(x.reshape(b, 784)))
        if self.training:
            x = F.dropout(x, self.p)
        x = self.skip(x) + self.bias + b * torch.sigmoid(self.key(x) + self.query(x)) * self.value(x)
        x = self.bn(F.relu(x))
        x = F.max_pool1d(x * torch.softmax(self.gate(x), dim=1), 2)
        a = torch.sigmoid(x @ x.t())
        a = a / a.sum(dim=1, keepdim=True)
        return self.fc1(a @ x + x)


def vgg_trunk(module):
    """The VGG-5 trunk of SpinalNet's MNIST_VGG_and_SpinalVGG.py, same
    module names (l1..l4 Sequentials) and the script's conv init."""

    def block(cin, widths):
        layers = []
        for w in widths:
            conv = nn.Conv2d(cin, w, 3, padding=1)
            nn.init.normal_(conv.weight, 0, (2.0 / (9 * w)) ** 0.5)
            layers += [conv, nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
            cin = w
        return nn.Sequential(*layers, nn.MaxPool2d(2, 2))

    module.l1, module.l2 = block(1, [64, 64]), block(64, [128, 128])
    module.l3, module.l4 = block(128, [256] * 3), block(256, [256] * 3)


class SpinalVGG(nn.Module):
    """docs/models.md section 5, SpinalVGG (3,629,770 parameters). Returns the
    logits; the script's log_softmax before CrossEntropyLoss changes
    neither the loss nor the arg-max."""

    def __init__(self, dropout=0.5, half=128, width=128):
        super().__init__()
        vgg_trunk(self)
        self.half = half

        def spinal(n_in):
            return nn.Sequential(nn.Dropout(dropout), nn.Linear(n_in, width), nn.BatchNorm1d(width),
                                 nn.ReLU(inplace=True))

        self.fc_spinal_layer1 = spinal(half)
        self.fc_spinal_layer2 = spinal(half + width)
        self.fc_spinal_layer3 = spinal(half + width)
        self.fc_spinal_layer4 = spinal(half + width)
        self.fc_out = nn.Sequential(nn.Dropout(dropout), nn.Linear(4 * width, 10))

    def forward(self, x):
        x = self.l4(self.l3(self.l2(self.l1(x))))
        x = x.reshape(x.shape[0], -1)
        fa, fb = x[:, :self.half], x[:, self.half:2 * self.half]
        x1 = self.fc_spinal_layer1(fa)
        x2 = self.fc_spinal_layer2(torch.cat([fb, x1], dim=1))
        x3 = self.fc_spinal_layer3(torch.cat([fa, x2], dim=1))
        x4 = self.fc_spinal_layer4(torch.cat([fb, x3], dim=1))
        return self.fc_out(torch.cat([x1, x2, x3, x4], dim=1))


class VGG(nn.Module):
    """docs/models.md section 5, the plain VGG twin (3,646,154 parameters)."""

    def __init__(self, dropout=0.5):
        super().__init__()
        vgg_trunk(self)
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(256, 512), nn.BatchNorm1d(512), nn.ReLU(inplace=True),
            nn.Dropout(dropout), nn.Linear(512, 10))

    def forward(self, x):
        x = self.l4(self.l3(self.l2(self.l1(x))))
        return self.classifier(x.reshape(x.shape[0], -1))


RESNET_LAYOUTS = {18: ("basic", [2, 2, 2, 2]), 34: ("basic", [3, 4, 6, 3]), 50: ("bottleneck", [3, 4, 6, 3]),
                  101: ("bottleneck", [3, 4, 23, 3]), 152: ("bottleneck", [3, 8, 36, 3])}


def resnet(depth=101, stem="imagenet", zero_init_residual=False):
    """docs/models.md section 6: torchvision's ResNet with a 1-channel stem and 10
    classes (imagenet stem: 7x7/2 conv + 3x3/2 max-pool; small: 3x3/1 conv,
    no pool). torchvision's own definition and initialisation; only conv1 is
    replaced (and re-initialised the torchvision way)."""
    from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet
    kind, layers = RESNET_LAYOUTS[depth]
    model = ResNet(BasicBlock if kind == "basic" else Bottleneck, layers, num_classes=10,
                   zero_init_residual=zero_init_residual)
    if stem == "imagenet":
        model.conv1 = nn.Conv2d(1, 64, 7, stride=2, padding=3, bias=False)
    else:
        model.conv1 = nn.Conv2d(1, 64, 3, stride=1, padding=1, bias=False)
        model.maxpool = nn.Identity()
    nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    return model


def keras_truncated_normal_(t, std):
    """Keras he_normal / glorot_normal: normal cut at 2 std, std divided by
    0.87962566 so the kept values have the nominal std."""
    s = std / 0.87962566103423978
    return nn.init.trunc_normal_(t, 0.0, s, -2 * s, 2 * s)


def keras_squash(s, eps=1e-20):
    """Efficient-CapsNet's squash, literally as utils/layers.py writes it."""
    n = torch.linalg.norm(s, dim=-1, keepdim=True)
    return (1 - 1 / (torch.exp(n) + eps)) * (s / (n + eps))


class FCCaps(nn.Module):
    """Self-attention routing (docs/models.md 7.2): W [10,16,8,16], log-prior b
    [10,16,1] added after the softmax over the output capsules."""

    def __init__(self, n=10, n_in=16, d_in=8, d=16):
        super().__init__()
        self.W = nn.Parameter(torch.empty(n, n_in, d_in, d))
        self.b = nn.Parameter(torch.zeros(n, n_in, 1))
        keras_truncated_normal_(self.W, (2.0 / (d_in * n * n_in)) ** 0.5)   # fan_in = 8 * 160
        self.d = d

    def forward(self, u):                                          # u [B,16,8]
        u_hat = torch.einsum("bji,kjiz->bkjz", u, self.W)          # [B,10,16,16]
        c = torch.einsum("bkij,bklj->bki", u_hat, u_hat)[..., None] / self.d ** 0.5
        c = torch.softmax(c, dim=1) + self.b
        return keras_squash((u_hat * c).sum(dim=-2))               # [B,10,16]


class EfficientCapsNet(nn.Module):
    """docs/models.md section 7 in PyTorch: conv-ReLU-BN x4 (Keras BN: momentum
    0.99, eps 1e-3), depthwise 9x9 primary capsules, squash, FCCaps, lengths.
    forward() returns the capsule lengths (the class scores) and keeps the
    capsules in self.capsules for loss(). 161,824 parameters outside
    `decoder` (1,411,344)."""

    def __init__(self, reconstruction=0.392):
        super().__init__()
        widths, kernels = [1, 32, 64, 64, 128], [5, 3, 3, 3]
        for i in range(4):
            conv = nn.Conv2d(widths[i], widths[i + 1], kernels[i], stride=2 if i == 3 else 1)
            keras_truncated_normal_(conv.weight, (2.0 / (widths[i] * kernels[i] ** 2)) ** 0.5)
            nn.init.zeros_(conv.bias)
            setattr(self, f"conv{i + 1}", conv)
            setattr(self, f"bn{i + 1}", nn.BatchNorm2d(widths[i + 1], eps=1e-3, momentum=0.01))
        self.primary_caps = nn.Conv2d(128, 128, 9, groups=128)
        limit = (6.0 / (81 * 128 + 81)) ** 0.5                    # glorot_uniform, Keras fans
        nn.init.uniform_(self.primary_caps.weight, -limit, limit)
        nn.init.zeros_(self.primary_caps.bias)
        self.fc_caps = FCCaps()
        self.decoder = nn.Sequential(nn.Linear(160, 512), nn.ReLU(), nn.Linear(512, 1024), nn.ReLU(),
                                     nn.Linear(1024, 784), nn.Sigmoid())
        for layer, init in ((self.decoder[0], "he"), (self.decoder[2], "he"), (self.decoder[4], "glorot")):
            fan_in, fan_out = layer.in_features, layer.out_features
            keras_truncated_normal_(layer.weight, (2.0 / (fan_in if init == "he" else fan_in + fan_out)) ** 0.5)
            nn.init.zeros_(layer.bias)
        self.reconstruction = reconstruction

    def forward(self, x):
        h = x
        for i in range(1, 5):
            h = getattr(self, f"bn{i}")(F.relu(getattr(self, f"conv{i}")(h)))
        u = keras_squash(self.primary_caps(h).reshape(-1, 16, 8))
        self.capsules = self.fc_caps(u)
        return torch.sqrt((self.capsules ** 2).sum(-1) + 1e-7)

    def loss(self, lengths, x, y):
        t = F.one_hot(y, 10).float()
        margin = (t * F.relu(0.9 - lengths) ** 2 + 0.5 * (1 - t) * F.relu(lengths - 0.1) ** 2).sum(1).mean()
        if not self.reconstruction:
            return margin
        pick = y if self.training else lengths.argmax(1)
        masked = (self.capsules * F.one_hot(pick, 10).float()[..., None]).reshape(-1, 160)
        return margin + self.reconstruction * F.mse_loss(self.decoder(masked), x.reshape(-1, 784))


Twin = collections.namedtuple("Twin", "build norm lr optimizer schedule")


def adam(weight_decay=0.0, eps=1e-8):
    return lambda params, lr: torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, eps=eps)


def steplr(step):
    return lambda opt, lr: torch.optim.lr_scheduler.StepLR(opt, step, 0.1)


# Each model as sweeprun's recipe trains it: constructor from run-file
# attributes (a dict), input normalisation x = (pixel/255 - mean) / std,
# default lr, optimizer and per-epoch LR schedule (None = constant).
MODELS = {
    "baseline_cnn": Twin(lambda a: BaselineCNN(), (0.5, 0.5), 1e-3, adam(), steplr(7)),
    "gecco": Twin(lambda a: Gecco(int(a.get("feature_length", 64))), (0.5, 0.5), 1e-3, adam(), None),
    "gecco_enhanced": Twin(lambda a: GeccoEnhanced(int(a.get("feature_length", 48))), (0.5, 0.5), 1e-3,
                           adam(1e-4), None),
    "spinalnet": Twin(lambda a: VGG() if a.get("head") == "plain" else SpinalVGG(), (0.1307, 0.3081), 5e-3,
                      adam(), None),
    # SGD momentum 0.9, wd 1e-4, step 10 x0.1 (sweeprun's recipe)
    "resnet": Twin(lambda a: resnet(int(a.get("depth", 101)), a.get("stem", "imagenet")), (0.1307, 0.3081), 0.1,
                   lambda params, lr: torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=1e-4), steplr(10)),
    # Keras reference: pixel / 256; Adam with Keras' eps; x0.97 per epoch, floor 5e-5
    "efficient_capsnet": Twin(lambda a: EfficientCapsNet(), (0.0, 256.0 / 255.0), 5e-4, adam(eps=1e-7),
                              lambda opt, lr: torch.optim.lr_scheduler.LambdaLR(
                                  opt, lambda e: max(0.97 ** e, 5e-5 / lr))),
}


def loss_function(model):
    """The model's own objective (capsule net) or cross-entropy."""
    return model.loss if hasattr(model, "loss") else (lambda scores, x, y: F.cross_entropy(scores, y))


def classifier_param_count(model):
    """Trainable parameters as sweeprun's param_count counts them (the
    Efficient-CapsNet decoder apart)."""
    return sum(p.numel() for n, p in model.named_parameters() if not n.startswith("decoder."))


def evaluate(model, x, y, batch):
    model.eval()
    correct = 0
    with torch.no_grad():
        for s in range(0, len(x), batch):
            correct += (model(x[s:s + batch]).argmax(1) == y[s:s + batch]).sum().item()
    return correct / len(x)


def profile(model, opt, loss_of, xtr, ytr, batch, steps):
    """Per-op CPU times of `steps` training steps (torch.profiler, grouped by
    op and input shapes), in ms per step, and the step time itself."""
    from torch.profiler import ProfilerActivity, profile as torch_profile
    model.train()
    idx = torch.arange(batch) % len(xtr)

    def step():
        opt.zero_grad(set_to_none=True)
        loss_of(model(xtr[idx]), xtr[idx], ytr[idx]).backward()
        opt.step()

    for _ in range(3):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    plain = (time.perf_counter() - t0) / steps
    with torch_profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        for _ in range(steps):
            step()
    rows = [e for e in prof.key_averages(group_by_input_shape=True) if e.self_cpu_time_total > 0]
    rows.sort(key=lambda e: -e.self_cpu_time_total)
    print(f"step {1e3 * plain:.3f} ms without the profiler ({batch / plain:.0f} images/s), {steps} steps")
    print(f"{'self ms/step':>12} {'share':>6}  op  input shapes")
    total = sum(e.self_cpu_time_total for e in rows)
    for e in rows[:40]:
        shapes = str(e.input_shapes)[:90]
        print(f"{e.self_cpu_time_total / 1e3 / steps:12.3f} {100 * e.self_cpu_time_total / total:5.1f}%  {e.key}  {shapes}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, choices=sorted(MODELS))
    ap.add_argument("--head", default="spinal", choices=["spinal", "plain"], help="spinalnet head")
    ap.add_argument("--depth", type=int, default=101, help="resnet depth")
    ap.add_argument("--stem", default="imagenet", choices=["imagenet", "small"], help="resnet stem")
    ap.add_argument("--data", required=True)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=None, help="default: the model's recipe")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--train-subset", type=int, default=0)
    ap.add_argument("--max-steps", type=int, default=0, help="stop each epoch early (thread probing)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--profile", type=int, default=0, metavar="STEPS",
                    help="instead of training: profile STEPS steps (after 3 untimed) and print the ops' times")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    twin = MODELS[a.model]
    lr = a.lr or twin.lr
    xtr, ytr, xte, yte = load(a.data, a.train_subset, *twin.norm)
    model = twin.build({"head": a.head, "depth": a.depth, "stem": a.stem})
    opt = twin.optimizer(model.parameters(), lr)
    sched = twin.schedule(opt, lr) if twin.schedule else None
    loss_of = loss_function(model)
    n = len(xtr)
    if a.profile:
        profile(model, opt, loss_of, xtr, ytr, a.batch_size, a.profile)
        return
    for epoch in range(a.epochs):
        model.train()
        perm = torch.randperm(n)
        seen, t0 = 0, time.perf_counter()
        for step, s in enumerate(range(0, n, a.batch_size)):
            if a.max_steps and step >= a.max_steps:
                break
            idx = perm[s:s + a.batch_size]
            opt.zero_grad(set_to_none=True)
            loss = loss_of(model(xtr[idx]), xtr[idx], ytr[idx])
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
