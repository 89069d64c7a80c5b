#!/usr/bin/env bash
# SpecNet against the PyTorch reference (shared/bench/torch-tuned) on identical data and settings:
# the tutorial's models on full Fashion-MNIST, batch 64, alternating the two programs in one run,
# several runs, reporting medians and ratios. Also inference at batch 1000 and 1, and peak memory.
#
#   bench/compare-torch.sh [RUNS=3] [EPOCHS=1] [MODEL=pool|stride]
#
# Needs: apt-get install python3-torch libopenblas0-pthread dataset-fashion-mnist time
set -euo pipefail
runs=${1:-3}; epochs=${2:-1}; model=${3:-pool}
here=$(cd "$(dirname "$0")/.." && pwd)
torch=${TORCH_BENCH:-$here/../shared/bench/torch-tuned}
spec=$here/specs/fashion-cnn.yaml; [ "$model" = stride ] && spec=$here/specs/fashion-strided.yaml
out=$(mktemp -d)
dotnet build "$here/src/SpecNet.Cli" -c Release -nologo -v q >/dev/null
specnet=$here/src/SpecNet.Cli/bin/Release/net10.0/specnet

for i in $(seq 1 "$runs"); do
  /usr/bin/time -v "$torch" --model "$model" --epochs "$epochs" --seed "$i" > "$out/torch-$i.jsonl" 2> "$out/torch-$i.time"
  /usr/bin/time -v "$specnet" train "$spec" --epochs "$epochs" --seed "$i" --json --output "$out/w.safetensors" > "$out/specnet-$i.jsonl" 2> "$out/specnet-$i.time"
  "$specnet" bench "$spec" --batch-size 1000 --iterations 10 --json > "$out/specnet-infer-$i.json"
done

python3 - "$out" "$runs" "$model" <<'PY'
import json, re, statistics, sys
out, runs, model = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def lines(p): return [json.loads(l) for l in open(p) if l.startswith("{")]
def peak(p): return int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(p).read()).group(1)) / 1024
t_train, s_train, t_mem, s_mem, t_acc, s_acc, t_b1000, t_b1, s_b1000, s_b1 = ([] for _ in range(10))
for i in range(1, runs + 1):
    t = lines(f"{out}/torch-{i}.jsonl"); s = lines(f"{out}/specnet-{i}.jsonl")
    te = [e for e in t if e.get("event") == "epoch"]; se = [e for e in s if e.get("event") == "epoch"]
    t_train.append(statistics.median(e["train_img_per_s"] for e in te)); s_train.append(statistics.median(e["images_per_second"] for e in se))
    t_acc.append(te[-1]["test_acc"]); s_acc.append(se[-1]["test_accuracy"])
    inf = [e for e in t if e.get("event") == "inference"]
    for e in inf:
        (t_b1000 if e.get("batch") == 1000 else t_b1).append(e["img_per_s"])
    b = json.load(open(f"{out}/specnet-infer-{i}.json"))
    s_b1000.append(b["inference_images_per_second"]); s_b1.append(1000 / b["single_image_ms"])
    t_mem.append(peak(f"{out}/torch-{i}.time")); s_mem.append(peak(f"{out}/specnet-{i}.time"))
m = statistics.median
def row(name, s, t, unit):
    ratio = f"{m(s) / m(t):.2f}x" if t else "-"
    print(f"{name:<34} {m(s):>10.0f} {m(t) if t else float('nan'):>10.0f} {ratio:>8}  {unit}")
print(f"model {model}, {runs} alternating runs, medians")
print(f"{'':<34} {'SpecNet':>10} {'PyTorch':>10} {'ratio':>8}")
row("training images/s (batch 64)", s_train, t_train, "images/s")
row("inference images/s (batch 1000)", s_b1000, t_b1000, "images/s")
row("inference images/s (batch 1)", s_b1, t_b1, "images/s")
row("peak memory, training (MB)", s_mem, t_mem, "MB (lower is better)")
print(f"{'test accuracy':<34} {m(s_acc):>10.4f} {m(t_acc):>10.4f}")
PY
