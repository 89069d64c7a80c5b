# The PyTorch reference (shared/bench/torch_seed_cnn.py: its data, training loop, Keras's Adam and figures) on the model of
# specs/fashion-convnext.yaml, with torch-tuned's settings:
#   TORCH_SCRIPT=bench/torch_convnext.py bench/torch-tuned --model convnext --epochs 1 --skip-infer
# The optimizer is that script's (Keras's Adam at 0.001), not the spec's AdamW schedule: for speed, not accuracy.
import torch, torch.nn as nn, torch.nn.functional as F
from torch_reference import run

class LayerNorm2d(nn.LayerNorm):     # ConvNeXt's: each position's channels, channels-last
    def forward(self, x):
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)

class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dw, self.norm = nn.Conv2d(c, c, 7, padding=3, groups=c), LayerNorm2d(c, eps=1e-6)
        self.up, self.down = nn.Conv2d(c, 4 * c, 1), nn.Conv2d(4 * c, c, 1)
    def forward(self, x):
        return x + self.down(F.gelu(self.up(self.norm(self.dw(x)))))

class ConvNext(nn.Module):
    def __init__(self, variant):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 32, 2, stride=2), LayerNorm2d(32, eps=1e-6), Block(32), Block(32),
                                      LayerNorm2d(32, eps=1e-6), nn.Conv2d(32, 64, 2, stride=2), Block(64), Block(64))
        self.norm, self.head = nn.LayerNorm(64, eps=1e-6), nn.Linear(64, 10)
    def forward(self, x):
        return self.head(self.norm(F.adaptive_avg_pool2d(self.features(x), 1).flatten(1)))
    def predict(self, x):
        return F.softmax(self.forward(x), dim=1)

run(ConvNext)
