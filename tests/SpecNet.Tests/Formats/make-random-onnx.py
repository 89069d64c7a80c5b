#!/usr/bin/python3
"""Writes random PyTorch models as ONNX for the import tests: what users bring after the tutorial, in layouts no one chose.

    /usr/bin/python3 make-random-onnx.py OUTDIR COUNT

For each i < COUNT: OUTDIR/m<i>.onnx (opset 11, 13 or 17, batch dynamic) and OUTDIR/m<i>.txt (the opset, the input and the
model as PyTorch prints it). Stacks of convolutions (strided, dilated, grouped, depthwise, padded or not), batch norms with
random statistics, every activation the importer knows, max and average pooling with and without padding, residual blocks
and concatenated branches, then a flatten or a global average pool and one or two linear layers. Seeded: the same files
every run.
"""
import os, random, sys

import torch
import torch.nn as nn

from randomize import randomize_batch_norm   # beside this script

out, count = sys.argv[1], int(sys.argv[2])
os.makedirs(out, exist_ok=True)
ACTIVATIONS = [nn.ReLU, nn.ReLU6, nn.Hardswish, nn.Hardsigmoid, nn.SiLU, nn.GELU, nn.Tanh, nn.Sigmoid,
               lambda: nn.LeakyReLU(0.1), lambda: nn.ELU(0.7)]


class Residual(nn.Module):
    def __init__(self, body, shortcut, activation):
        super().__init__()
        self.body, self.shortcut, self.activation = body, shortcut, activation

    def forward(self, x):
        y = self.body(x) + (self.shortcut(x) if self.shortcut is not None else x)
        return self.activation(y) if self.activation is not None else y


class Branches(nn.Module):
    def __init__(self, a, b):
        super().__init__()
        self.a, self.b = a, b

    def forward(self, x):
        return torch.cat([self.a(x), self.b(x)], 1)


def size(n, k, stride, pad, dilation=1):
    return (n + 2 * pad - dilation * (k - 1) - 1) // stride + 1


def model(r, c, h, w):
    layers = []
    for _ in range(r.randint(1, 6)):
        kind = r.choice(["conv", "conv", "conv", "depthwise", "bn", "activation", "max", "avg", "residual", "branches"])
        if kind in ("conv", "depthwise"):
            k, stride = r.choice([1, 3, 3, 5]), r.choice([1, 1, 2])
            dilation = 2 if stride == 1 and k > 1 and r.random() < 0.2 else 1
            pad = r.choice([0, (k - 1) // 2 * dilation])
            if size(h, k, stride, pad, dilation) < 1 or size(w, k, stride, pad, dilation) < 1:
                continue
            if kind == "depthwise":
                filters, groups = c * r.choice([1, 2]), c
            else:
                filters = r.choice([4, 8, 12, 16, 20, 32])
                groups = r.choice([g for g in (1, 2, 4) if c % g == 0 and filters % g == 0])
            layers.append(nn.Conv2d(c, filters, k, stride=stride, padding=pad, dilation=dilation, groups=groups, bias=r.random() < 0.6))
            c, h, w = filters, size(h, k, stride, pad, dilation), size(w, k, stride, pad, dilation)
            if r.random() < 0.5:
                layers.append(nn.BatchNorm2d(c))
            if r.random() < 0.7:
                layers.append(r.choice(ACTIVATIONS)())
        elif kind == "bn":
            layers.append(nn.BatchNorm2d(c))
        elif kind == "activation":
            layers.append(r.choice(ACTIVATIONS)())
        elif kind in ("max", "avg"):
            k = r.choice([2, 3])
            stride, pad = r.choice([1, 2, k]), r.choice([0, 1]) if k == 3 else 0
            if size(h, k, stride, pad) < 1 or size(w, k, stride, pad) < 1:
                continue
            layers.append(nn.MaxPool2d(k, stride, pad) if kind == "max" else nn.AvgPool2d(k, stride, pad, count_include_pad=r.random() < 0.5))
            h, w = size(h, k, stride, pad), size(w, k, stride, pad)
        elif kind == "residual":
            body = nn.Sequential(nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(),
                                 nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
            shortcut = nn.Sequential(nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c)) if r.random() < 0.4 else None
            layers.append(Residual(body, shortcut, nn.ReLU() if r.random() < 0.7 else None))
        else:
            a, b = r.randint(1, 12), r.randint(1, 12)
            layers.append(Branches(nn.Sequential(nn.Conv2d(c, a, 1), nn.ReLU()), nn.Sequential(nn.Conv2d(c, b, 3, padding=1), nn.ReLU())))
            c = a + b
    if r.random() < 0.5:
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        features = c
    else:
        layers.append(nn.Flatten())
        features = c * h * w
    if r.random() < 0.5:
        layers += [nn.Linear(features, 16), r.choice(ACTIVATIONS)()]
        features = 16
    if r.random() < 0.3:
        layers.append(nn.Dropout(0.2))
    layers.append(nn.Linear(features, r.randint(2, 10)))
    if r.random() < 0.5:
        layers.append(nn.Softmax(dim=1))
    return nn.Sequential(*layers)


for i in range(count):
    r = random.Random(i)
    torch.manual_seed(i)
    c, h, w = r.choice([1, 3, r.randint(2, 16)]), r.randint(6, 24), r.randint(6, 24)
    m = model(r, c, h, w)
    randomize_batch_norm(m)
    m.eval()
    opset = r.choice([11, 13, 17])
    torch.onnx.export(m, torch.rand(2, c, h, w), os.path.join(out, f"m{i}.onnx"), opset_version=opset, input_names=["image"],
                      output_names=["scores"], dynamic_axes={"image": {0: "batch"}, "scores": {0: "batch"}})
    with open(os.path.join(out, f"m{i}.txt"), "w") as f:
        f.write(f"opset {opset}, input {h}x{w}x{c}\n{m}\n")
