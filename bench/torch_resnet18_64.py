# PyTorch's twin of bench/resnet18-64.yaml: a training step at batch 64 (Adam) and inference at batch 256 on random 64x64
# images, 2 threads, channels-last; the median of three timings. Run with Debian's /usr/bin/python3 (python3-torch).
import torch, time, torch.nn as nn, torch.nn.functional as F
torch.set_num_threads(2)
class Block(nn.Module):
    def __init__(s, i, o, st):
        super().__init__()
        s.c1, s.b1 = nn.Conv2d(i, o, 3, st, 1, bias=False), nn.BatchNorm2d(o)
        s.c2, s.b2 = nn.Conv2d(o, o, 3, 1, 1, bias=False), nn.BatchNorm2d(o)
        s.sc = nn.Sequential(nn.Conv2d(i, o, 1, st, bias=False), nn.BatchNorm2d(o)) if st != 1 or i != o else nn.Identity()
    def forward(s, x): return F.relu(s.sc(x) + s.b2(s.c2(F.relu(s.b1(s.c1(x))))))
m = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1),
    Block(64, 64, 1), Block(64, 64, 1), Block(64, 128, 2), Block(128, 128, 1), Block(128, 256, 2), Block(256, 256, 1),
    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(256, 10)).to(memory_format=torch.channels_last)
opt = torch.optim.Adam(m.parameters(), 1e-3)
x = torch.randn(64, 3, 64, 64).to(memory_format=torch.channels_last); y = torch.randint(0, 10, (64,))
def step():
    opt.zero_grad(); F.cross_entropy(m(x), y).backward(); opt.step()
for _ in range(5): step()
ts = []
for r in range(3):
    t = time.perf_counter()
    for _ in range(10): step()
    ts.append((time.perf_counter() - t) / 10 * 1e3)
m.eval()
xb = torch.randn(256, 3, 64, 64).to(memory_format=torch.channels_last)
with torch.no_grad():
    for _ in range(3): m(xb)
    t = time.perf_counter()
    for _ in range(5): m(xb)
    inf = (time.perf_counter() - t) / 5
print(f"torch step ms {sorted(ts)[1]:.1f}  ({64000 / sorted(ts)[1]:.0f} img/s); inference batch 256 {256 / inf:.0f} img/s")
