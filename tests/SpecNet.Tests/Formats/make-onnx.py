#!/usr/bin/python3
"""Writes ONNX models with PyTorch (random weights, random batch-norm statistics) for the import tests.

    /usr/bin/python3 make-onnx.py OUTDIR

For each case: OUTDIR/<case>.onnx, OUTDIR/<case>.raw (the 8-bit test images, NHWC, uint8) and
OUTDIR/<case>.json ({"shape": [h, w, c], "count": n, "scale", "mean", "std": how the model reads
pixels, "outputs": PyTorch's outputs on those images, "opset"}). The models are the tutorial's
(../shared/bench/torch_seed_cnn.py: pool, stride, plain, with its channels-last flatten) and the
residual and depthwise reference models, plus small models that reach every op the importer folds.
"""
import json, math, os, sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from randomize import randomize_batch_norm   # beside this script

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
torch.manual_seed(7)
rng = np.random.default_rng(7)


# ---------------------------------------------------------------- the reference models (as torch_seed_cnn.py)
class SeedCNN(nn.Module):
    def __init__(self, variant):
        super().__init__()
        self.variant = variant
        s = 2 if variant == "stride" else 1
        self.conv1 = nn.Conv2d(1, 32, 3, stride=s)
        self.conv2 = nn.Conv2d(32, 64, 3, stride=s)
        self.conv3 = nn.Conv2d(64, 128, 3, stride=s)
        with torch.no_grad():
            flat = self._features(torch.zeros(1, 1, 28, 28)).shape[1]
        self.fc1 = nn.Linear(flat, 128)
        self.fc2 = nn.Linear(128, 10)

    def _features(self, x):
        if self.variant == "pool":
            x = F.max_pool2d(F.relu(self.conv1(x)), 2, 2)
            x = F.max_pool2d(F.relu(self.conv2(x)), 2, 2)
            x = F.max_pool2d(F.relu(self.conv3(x)), 2, 2)
        else:
            x = F.relu(self.conv3(F.relu(self.conv2(F.relu(self.conv1(x))))))
        return x.permute(0, 2, 3, 1).flatten(1)  # Keras's channels-last flatten order

    def forward(self, x):
        return F.softmax(self.fc2(F.relu(self.fc1(self._features(x)))), dim=1)


class SameConv(nn.Module):
    """TensorFlow 'same' padding as an explicit F.pad before the conv (extra row/column at the bottom/right)."""

    def __init__(self, cin, cout, k, stride=1, groups=1):
        super().__init__()
        self.k, self.s = k, stride
        self.conv = nn.Conv2d(cin, cout, k, stride=stride, padding=0, groups=groups, bias=False)

    def forward(self, x):
        h, w = x.shape[-2:]
        ph = max((math.ceil(h / self.s) - 1) * self.s + self.k - h, 0)
        pw = max((math.ceil(w / self.s) - 1) * self.s + self.k - w, 0)
        if ph or pw:
            x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
        return self.conv(x)


class ConvBN(nn.Sequential):
    def __init__(self, cin, cout, k, stride=1, groups=1, relu=True):
        super().__init__(SameConv(cin, cout, k, stride, groups), nn.BatchNorm2d(cout, eps=1e-3), *([nn.ReLU()] if relu else []))


class ResBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.main = nn.Sequential(ConvBN(cin, cout, 3, stride), ConvBN(cout, cout, 3, 1, relu=False))
        self.shortcut = ConvBN(cin, cout, 1, stride, relu=False) if (stride != 1 or cin != cout) else nn.Identity()

    def forward(self, x):
        return F.relu(self.main(x) + self.shortcut(x))


class GraphCNN(nn.Module):
    def __init__(self, variant):
        super().__init__()
        if variant == "resnet":
            self.features = nn.Sequential(ConvBN(1, 16, 3), ResBlock(16, 16, 1), ResBlock(16, 32, 2), ResBlock(32, 64, 2))
            last = 64
        else:
            def sep(cin, cout, s):
                return [ConvBN(cin, cin, 3, s, groups=cin), ConvBN(cin, cout, 1)]
            self.features = nn.Sequential(ConvBN(1, 16, 3), *sep(16, 32, 1), *sep(32, 64, 2), *sep(64, 64, 1), *sep(64, 128, 2))
            last = 128
        self.fc = nn.Linear(last, 10)

    def forward(self, x):
        return self.fc(self.features(x).mean((2, 3)))


# ---------------------------------------------------------------- models that reach the other ops
class Mlp(nn.Module):
    """Flatten, Linear, Dropout, Sigmoid/Tanh, a Linear written as MatMul + Add, Softmax."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 64)
        self.fc2 = nn.Linear(64, 32)
        self.w = nn.Parameter(torch.randn(32, 10) * 0.3)
        self.b = nn.Parameter(torch.randn(10) * 0.1)

    def forward(self, x):
        x = F.dropout(torch.tanh(self.fc1(nn.Flatten()(x))), 0.5, self.training)
        x = torch.sigmoid(self.fc2(x))
        return F.softmax(x @ self.w + self.b, dim=1)


class Branches(nn.Module):
    """RGB input; symmetric padding (=Keras 'same' at stride 1), padding 1 at stride 2 (not 'same': explicit zero padding),
    grouped conv, branches joined by Concat, Mul, Sub, LeakyReLU, ELU, silu, padded average and max pooling, global pooling,
    view(N, -1) as Shape/Gather/Unsqueeze/Concat/Reshape."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.down = nn.Conv2d(8, 8, 3, stride=2, padding=1)
        self.left = nn.Conv2d(8, 8, 1)
        self.right = nn.Conv2d(8, 8, 3, padding=1, groups=2)
        self.gate = nn.Conv2d(8, 8, 1)
        self.bn = nn.BatchNorm2d(16)
        self.head = nn.Linear(16, 5)

    def forward(self, x):
        x = F.leaky_relu(self.stem(x), 0.2)
        x = F.elu(self.down(x))
        a = F.silu(self.left(x))
        b = self.right(x) * torch.sigmoid(self.gate(x)) - a
        x = F.avg_pool2d(self.bn(torch.cat([a, b], dim=1)), 2)
        # padded pooling: zeros averaged in (a Pad before the pool), only the cells inside (Keras's 'same'), max
        x = F.avg_pool2d(x, 3, 1, 1) + F.avg_pool2d(x, 3, 1, 1, count_include_pad=False) + F.max_pool2d(x, 3, 1, 1)
        x = F.adaptive_avg_pool2d(x, 1)
        return self.head(x.view(x.size(0), -1))


class Hard(nn.Module):
    """MobileNetV3's activations: Hardswish (HardSwish from opset 14, x * HardSigmoid(x) before), ReLU6 (Clip to [0, 6]),
    Hardsigmoid, a Clip to [0, none] (relu), and GELU (Erf and its arithmetic before opset 20) in the head."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 8, 3, stride=2, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.pw = nn.Conv2d(8, 12, 1)
        self.fc1 = nn.Linear(12, 16)
        self.fc2 = nn.Linear(16, 5)
        with torch.no_grad():   # larger weights: inputs past +-3 and 6, where the activations' pieces meet
            for conv in (self.stem, self.dw, self.pw):
                conv.weight.mul_(4)

    def forward(self, x):
        x = F.hardswish(self.bn(self.stem(x)))
        x = F.relu6(self.dw(x))
        x = F.hardsigmoid(self.pw(x)) + torch.clamp(self.pw(x), min=0)
        x = F.gelu(self.fc1(F.adaptive_avg_pool2d(x, 1).flatten(1)))
        return self.fc2(x)


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation gates: torchvision's (1x1 Conv2d of the pooled map, sigmoid, or MobileNetV3's hardsigmoid) and
    the Linear form (x.mean, Linear, then view(N, C, 1, 1)); each multiplies the map's channels."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 8, 3, padding=1)
        self.fc1, self.fc2 = nn.Conv2d(8, 4, 1), nn.Conv2d(4, 8, 1)
        self.conv = nn.Conv2d(8, 6, 3, stride=2, padding=1)
        self.lin1, self.lin2 = nn.Linear(6, 3), nn.Linear(3, 6)
        self.head = nn.Linear(6, 4)

    def forward(self, x):
        x = F.relu(self.stem(x))
        x = x * torch.sigmoid(self.fc2(F.relu(self.fc1(F.adaptive_avg_pool2d(x, 1)))))
        x = F.hardswish(self.conv(x))
        s = F.hardsigmoid(self.lin2(F.relu(self.lin1(x.mean((2, 3))))))
        x = s.view(-1, 6, 1, 1) * x
        return self.head(F.adaptive_avg_pool2d(x, 1).flatten(1))


class LayerNorm2d(nn.LayerNorm):
    """ConvNeXt's (torchvision's): nn.LayerNorm over each position's channels, on a channels-last view."""

    def forward(self, x):
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ConvNext(nn.Module):
    """ConvNeXt's pieces: a patchify stem and LayerNorm2d; a block (7x7 depthwise, LayerNorm2d, 1x1 up, GELU, 1x1 down, added to
    its input); a LayerNorm2d and a 2x2 stride-2 convolution to downsample; nn.LayerNorm over the pooled features before the head."""

    def __init__(self):
        super().__init__()
        self.stem, self.stem_norm = nn.Conv2d(1, 8, 2, stride=2), LayerNorm2d(8, eps=1e-6)
        self.dw, self.norm = nn.Conv2d(8, 8, 7, padding=3, groups=8), LayerNorm2d(8, eps=1e-6)
        self.up, self.down = nn.Conv2d(8, 32, 1), nn.Conv2d(32, 8, 1)
        self.reduce_norm, self.reduce = LayerNorm2d(8), nn.Conv2d(8, 16, 2, stride=2)
        self.head_norm, self.head = nn.LayerNorm(16), nn.Linear(16, 5)

    def forward(self, x):
        x = self.stem_norm(self.stem(x))
        x = x + self.down(F.gelu(self.up(self.norm(self.dw(x)))))
        x = self.reduce(self.reduce_norm(x))
        return self.head(self.head_norm(F.adaptive_avg_pool2d(x, 1).flatten(1)))


class Permute(nn.Module):
    def __init__(self, dims):
        super().__init__()
        self.dims = dims

    def forward(self, x):
        return x.permute(*self.dims)


class CNBlock(nn.Module):
    """torchvision's ConvNeXt block: a 7x7 depthwise Conv2d, a Permute to channels-last, LayerNorm, Linear to 4C (a MatMul of the
    4-D tensor), GELU, Linear back, a Permute back, times a learned layer scale of shape (C, 1, 1), added to the block's input
    (stochastic depth is the identity in eval)."""

    def __init__(self, c):
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(c, c, 7, padding=3, groups=c), Permute([0, 2, 3, 1]), nn.LayerNorm(c, eps=1e-6),
                                   nn.Linear(c, 4 * c), nn.GELU(), nn.Linear(4 * c, c), Permute([0, 3, 1, 2]))
        self.layer_scale = nn.Parameter(torch.rand(c, 1, 1) + 0.5)

    def forward(self, x):
        return x + self.layer_scale * self.block(x)


class TorchvisionConvNext(nn.Module):
    """torchvision's ConvNeXt, small: its stem (Conv2d, LayerNorm2d), CNBlocks, its downsampling (LayerNorm2d, 2x2 stride-2
    Conv2d) and its classifier (AdaptiveAvgPool2d, LayerNorm2d of the pooled [N, C, 1, 1], Flatten, Linear)."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Sequential(nn.Conv2d(1, 8, 2, stride=2), LayerNorm2d(8, eps=1e-6)), CNBlock(8),
                                      nn.Sequential(LayerNorm2d(8, eps=1e-6), nn.Conv2d(8, 16, 2, stride=2)), CNBlock(16))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(LayerNorm2d(16, eps=1e-6), nn.Flatten(1), nn.Linear(16, 5))

    def forward(self, x):
        return self.classifier(self.avgpool(self.features(x)))


class Stem(nn.Module):
    """torchvision's ResNet stem (a 7x7 convolution by 2, batch norm, relu, a 3x3 max pool by 2 with a pixel of padding on each
    side, which Keras's 'same' puts after only), then a convolution with its relu and the same pooling."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 16, 3, padding=1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        x = F.max_pool2d(F.relu(self.conv2(x)), 3, 2, 1)
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


class ExamplesMnist(nn.Module):
    """pytorch/examples' MNIST network, trained with NLLLoss: it ends in log_softmax (imported as softmax, its outputs' exp)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv2(F.relu(self.conv1(x)))), 2)
        x = self.dropout2(F.relu(self.fc1(torch.flatten(self.dropout1(x), 1))))
        return F.log_softmax(self.fc2(x), dim=1)


# (case, model, (h, w, c), opset, fold batch norm into the convs, scale, mean, std)
cases = [
    ("tutorial-pool", SeedCNN("pool"), (28, 28, 1), 11, True, 1 / 255, [0.0], [1.0]),
    ("tutorial-stride", SeedCNN("stride"), (28, 28, 1), 13, True, 1 / 255, [0.0], [1.0]),
    ("tutorial-plain", SeedCNN("plain"), (28, 28, 1), 17, True, 1 / 255, [0.0], [1.0]),
    ("resnet-folded", GraphCNN("resnet"), (28, 28, 1), 13, True, 1 / 255, [0.2860], [0.3530]),
    ("resnet-batchnorm", GraphCNN("resnet"), (28, 28, 1), 11, False, 1 / 255, [0.0], [1.0]),
    ("mobile", GraphCNN("mobile"), (28, 28, 1), 12, True, 1 / 255, [0.0], [1.0]),
    ("mobile-opset16", GraphCNN("mobile"), (28, 28, 1), 16, False, 1 / 255, [0.0], [1.0]),
    ("mlp", Mlp(), (28, 28, 1), 14, True, 1 / 255, [0.0], [1.0]),
    ("branches-rgb", Branches(), (16, 16, 3), 15, False, 1 / 255, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
    ("hard-opset13", Hard(), (12, 12, 1), 13, True, 1 / 255, [0.5], [0.25]),
    ("hard-opset17", Hard(), (12, 12, 1), 17, False, 1 / 255, [0.5], [0.25]),
    ("squeeze-excite", SqueezeExcite(), (10, 10, 1), 13, True, 1 / 255, [0.0], [1.0]),
    ("convnext", ConvNext(), (12, 12, 1), 17, False, 1 / 255, [0.5], [0.25]),
    ("convnext-torchvision", TorchvisionConvNext(), (12, 12, 1), 17, False, 1 / 255, [0.5], [0.25]),
    ("resnet-stem", Stem(), (32, 32, 3), 13, True, 1 / 255, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
    ("examples-mnist", ExamplesMnist(), (28, 28, 1), 13, True, 1 / 255, [0.1307], [0.3081]),
]
log_outputs = {"examples-mnist"}   # what predict reports for these is the exp of the model's outputs

count = 6
for name, model, (h, w, c), opset, fold, scale, mean, std in cases:
    randomize_batch_norm(model)
    model.eval()
    raw = rng.integers(0, 256, size=(count, h, w, c), dtype=np.uint8)
    x = (raw.astype(np.float32) * np.float32(scale) - np.array(mean, np.float32)) / np.array(std, np.float32)
    x = torch.tensor(x).permute(0, 3, 1, 2).contiguous()
    with torch.no_grad():
        y = model(x)
    torch.onnx.export(model, x, os.path.join(out, name + ".onnx"), opset_version=opset, input_names=["image"], output_names=["scores"],
                      dynamic_axes={"image": {0: "batch"}, "scores": {0: "batch"}}, do_constant_folding=fold,
                      training=torch.onnx.TrainingMode.EVAL if fold else torch.onnx.TrainingMode.PRESERVE)
    raw.tofile(os.path.join(out, name + ".raw"))
    with open(os.path.join(out, name + ".json"), "w") as f:
        json.dump({"shape": [h, w, c], "count": count, "opset": opset, "scale": scale, "mean": mean, "std": std, "folded": fold,
                   "parameters": sum(p.numel() for n, p in model.named_parameters() if "layer_scale" not in n),   # a layer scale is folded into the weights before it
                   "outputs": (y.exp() if name in log_outputs else y).numpy().astype(float).tolist()}, f)


# ---------------------------------------------------------------- what PyTorch itself never writes, written with onnx.helper
# AveragePool with pads and count_include_pad=1 (PyTorch writes a Pad node instead); PyTorch computes the expected outputs.
import onnx
from onnx import helper, TensorProto
pool = helper.make_node("AveragePool", ["image"], ["pooled"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1)
flat = helper.make_node("Flatten", ["pooled"], ["scores"], axis=1)
graph = helper.make_graph([pool, flat], "count_pad", [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, 7, 7])],
                          [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", 48])])
onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="onnx.helper"), os.path.join(out, "avgpool-count-pad.onnx"))
raw = rng.integers(0, 256, size=(count, 7, 7, 3), dtype=np.uint8)
x = torch.tensor(raw.astype(np.float32) / np.float32(255)).permute(0, 3, 1, 2)
y = F.avg_pool2d(x, 3, 2, 1, count_include_pad=True).flatten(1)
raw.tofile(os.path.join(out, "avgpool-count-pad.raw"))
with open(os.path.join(out, "avgpool-count-pad.json"), "w") as f:
    json.dump({"shape": [7, 7, 3], "count": count, "opset": 13, "scale": 1 / 255, "mean": [0.0], "std": [1.0], "folded": False, "parameters": 0,
               "outputs": y.numpy().astype(float).tolist()}, f)
cases.append(("avgpool-count-pad",))

# TensorFlow's layout as tf2onnx writes it: an NHWC input transposed to NCHW at once, a Transpose back before the flatten, a
# LayerNormalization of the flat features (in channels-last order: its gamma and beta follow them), MatMul + Add.
w1 = torch.randn(6, 3, 3, 3) * 0.3
b1 = torch.randn(6) * 0.1
w2 = torch.randn(6 * 6 * 6, 4) * 0.1
b2 = torch.randn(4) * 0.1
g, b = torch.rand(216) + 0.5, torch.rand(216) - 0.5
nodes = [helper.make_node("Transpose", ["image"], ["nchw"], perm=[0, 3, 1, 2]),
         helper.make_node("Conv", ["nchw", "w1", "b1"], ["conv"], kernel_shape=[3, 3]),
         helper.make_node("Relu", ["conv"], ["relu"]),
         helper.make_node("Transpose", ["relu"], ["nhwc"], perm=[0, 2, 3, 1]),
         helper.make_node("Reshape", ["nhwc", "flat_shape"], ["flat"]),
         helper.make_node("LayerNormalization", ["flat", "g", "b"], ["normed"], axis=-1, epsilon=1e-5),
         helper.make_node("MatMul", ["normed", "w2"], ["mm"]),
         helper.make_node("Add", ["mm", "b2"], ["logits"]),
         helper.make_node("Softmax", ["logits"], ["scores"], axis=-1)]
inits = [helper.make_tensor(n, TensorProto.FLOAT, t.shape, t.flatten().tolist()) for n, t in [("w1", w1), ("b1", b1), ("w2", w2), ("b2", b2), ("g", g), ("b", b)]]
inits.append(helper.make_tensor("flat_shape", TensorProto.INT64, [2], [-1, 6 * 6 * 6]))
graph = helper.make_graph(nodes, "tf", [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 8, 8, 3])],
                          [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", 4])], inits)
onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="tf2onnx-like"), os.path.join(out, "tensorflow-nhwc.onnx"))
raw = rng.integers(0, 256, size=(count, 8, 8, 3), dtype=np.uint8)
x = torch.tensor(raw.astype(np.float32) / np.float32(255))
h = F.relu(F.conv2d(x.permute(0, 3, 1, 2), w1, b1)).permute(0, 2, 3, 1).reshape(count, -1)
y = F.softmax(F.layer_norm(h, (216,), g, b, 1e-5) @ w2 + b2, dim=-1)
raw.tofile(os.path.join(out, "tensorflow-nhwc.raw"))
with open(os.path.join(out, "tensorflow-nhwc.json"), "w") as f:
    json.dump({"shape": [8, 8, 3], "count": count, "opset": 17, "scale": 1 / 255, "mean": [0.0], "std": [1.0], "folded": False, "parameters": 6 * 27 + 6 + 216 * 4 + 4 + 2 * 216,
               "outputs": y.numpy().astype(float).tolist()}, f)
cases.append(("tensorflow-nhwc",))

# ---------------------------------------------------------------- models SpecNet must refuse (no layer computes them)
class Upsample(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)

    def forward(self, x):
        return F.interpolate(self.conv(x), scale_factor=2.0, mode="nearest").flatten(1)


class ConvThen(nn.Module):
    """A convolution, then the module refused after it."""

    def __init__(self, then):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.then = then

    def forward(self, x):
        return self.then(self.conv(x)).flatten(1)


# A vector of features, not pixels (a tabular model): the importer takes its values as given, scale 1. The inputs are float32
# rows, written as CSV for `specnet predict` (repr keeps every float's digits).
features = nn.Sequential(nn.Linear(5, 12), nn.ReLU(), nn.Dropout(0.2), nn.Linear(12, 3), nn.Softmax(dim=1)).eval()
rows = torch.tensor(rng.normal(0, 3, size=(count, 5)).astype(np.float32))
with torch.no_grad():
    y = features(rows)
torch.onnx.export(features, rows, os.path.join(out, "features.onnx"), opset_version=13, input_names=["x"], output_names=["scores"],
                  dynamic_axes={"x": {0: "batch"}, "scores": {0: "batch"}})
with open(os.path.join(out, "features.csv"), "w") as f:
    f.write("a,b,c,d,e\n" + "".join(",".join(repr(float(v)) for v in row) + "\n" for row in rows.numpy()))
with open(os.path.join(out, "features.json"), "w") as f:
    json.dump({"count": count, "outputs": y.numpy().astype(float).tolist()}, f)

refused = [
    ("unsupported-hardtanh", ConvThen(nn.Hardtanh())),                       # a Clip to [-1, 1]: no layer clips there
    ("unsupported-gelu-tanh", ConvThen(nn.GELU(approximate="tanh"))),        # SpecNet's gelu is the exact one
    ("unsupported-resize", Upsample()),
    ("unsupported-ceil", ConvThen(nn.MaxPool2d(2, ceil_mode=True))),      # Keras rounds the output size down
    ("unsupported-pool-pads", ConvThen(nn.AvgPool2d(2, stride=2, padding=1, count_include_pad=False))),  # pads that are not Keras's 'same'
    ("unsupported-max-pool-pads", nn.Sequential(nn.Conv2d(1, 4, 2), nn.MaxPool2d(3, 2, 1), nn.Flatten())),  # the same, over values that can be negative
    ("unsupported-log-softmax-inside", ConvThen(nn.LogSoftmax(dim=1))),     # log probabilities fed on: no layer computes them
    ("unsupported-layer-norm-chw", ConvThen(nn.LayerNorm([4, 7, 7])), 17),   # over channels, height and width: not each position's channels
    ("unsupported-layer-norm-opset13", ConvThen(LayerNorm2d(4))),            # written out in arithmetic before opset 17
]
for name, model, *opset in refused:
    model.eval()
    torch.onnx.export(model, torch.zeros(1, 1, 9, 9), os.path.join(out, name + ".onnx"), opset_version=(opset or [13])[0], input_names=["image"], output_names=["scores"])
print(" ".join([c[0] for c in cases + refused] + ["features"]))
