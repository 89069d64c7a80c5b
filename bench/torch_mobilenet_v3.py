# The PyTorch reference (shared/bench/torch_seed_cnn.py: its data, training loop, Keras's Adam and figures) on the model of
# specs/fashion-mobilenet-v3.yaml, with torch-tuned's settings:
#   TORCH_SCRIPT=bench/torch_mobilenet_v3.py bench/torch-tuned --model mobilenet-v3 --epochs 1 --skip-infer
# The optimizer is that script's (Keras's Adam at 0.001), not the spec's 0.002: for speed, not accuracy. Batch norms with
# PyTorch's momentum 0.1, the spec's 0.9 in Keras's terms.
import torch.nn as nn, torch.nn.functional as F
from torch_reference import run

def conv_bn(cin, cout, k=1, stride=1, groups=1):
    return [nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]

class Gate(nn.Module):                      # squeeze-and-excitation: a gate per channel from the pooled map
    def __init__(self, c, hidden):
        super().__init__()
        self.down, self.up = nn.Linear(c, hidden), nn.Linear(hidden, c)
    def forward(self, x):
        s = F.hardsigmoid(self.up(F.relu(self.down(F.adaptive_avg_pool2d(x, 1).flatten(1)))))
        return x * s[:, :, None, None]

class Residual(nn.Module):
    def __init__(self, *layers):
        super().__init__()
        self.body = nn.Sequential(*layers)
    def forward(self, x):
        return x + self.body(x)

class MobileNetV3(nn.Module):
    def __init__(self, variant):
        super().__init__()
        self.features = nn.Sequential(
            *conv_bn(1, 16, 3), nn.Hardswish(),                                                      # 28x28x16
            Residual(*conv_bn(16, 48), nn.ReLU6(), *conv_bn(48, 48, 3, groups=48), nn.ReLU6(), *conv_bn(48, 16)),
            *conv_bn(16, 64), nn.Hardswish(),                                                        # 28x28x64
            *conv_bn(64, 64, 3, stride=2, groups=64), nn.Hardswish(), Gate(64, 16),                  # 14x14x64
            *conv_bn(64, 32),                                                                        # 14x14x32
            Residual(*conv_bn(32, 96), nn.Hardswish(), *conv_bn(96, 96, 3, groups=96), nn.Hardswish(), Gate(96, 24),
                     *conv_bn(96, 32)),
            *conv_bn(32, 128), nn.Hardswish())                                                       # 14x14x128
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(128, 10))
    def forward(self, x):
        return self.head(F.adaptive_avg_pool2d(self.features(x), 1).flatten(1))
    def predict(self, x):
        return F.softmax(self.forward(x), dim=1)

run(MobileNetV3)
