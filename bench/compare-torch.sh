#!/usr/bin/env bash
# SpecNet against the PyTorch reference (shared/bench/torch-tuned) and ONNX Runtime, on identical data and
# settings: the tutorial's pooled and strided models and the residual and depthwise reference models on full
# Fashion-MNIST, batch 64, the programs alternating in one run, several runs, medians and ratios. Training
# images/s, inference at batch 1000 and at batch 1, batch 1's 99th percentile of latency (ONNX Runtime runs SpecNet's
# export of the same model, with 1 and with 2 threads; the better counts), peak memory while training, test accuracy;
# and the CPU.
#
#   bench/compare-torch.sh [RUNS=3] [EPOCHS=1] [MODELS="pool stride resnet mobile"]
#
# ISA=avx2 runs both programs as on a CPU without AVX-512 (an AMD Zen 1, an older Intel), on one that has it: SpecNet with
# DOTNET_EnableAVX512=0, PyTorch with oneDNN, ATen and OpenBLAS capped at AVX2. ONNX Runtime has no such cap, so it is left out.
# A proxy, not that CPU: the same instructions on another core's pipes and caches.
# ISA=specnet-avx2 caps SpecNet alone at AVX2, PyTorch and ONNX Runtime running as they would: a bound from below for a CPU
# that runs AVX-512 on 256-bit units (an AMD Zen 4), where SpecNet's 512-bit code is at least as fast as its 256-bit code and
# the others' 512-bit code runs at half the rate it does here.
#
# Needs: apt-get install python3-torch libopenblas0-pthread dataset-fashion-mnist time
set -euo pipefail
runs=${1:-3}; epochs=${2:-1}; models=${3:-pool stride resnet mobile}
here=$(cd "$(dirname "$0")/.." && pwd)
source "$here/bench/models.sh"
torch=${TORCH_BENCH:-$here/bench/torch-tuned}   # shared/bench/torch-tuned with the core type fitted to this CPU
isa=${ISA:-native}; capped=(); ort=--onnx-runtime
case $isa in
  native) ;;
  avx2) capped=(DOTNET_EnableAVX512=0 ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 OPENBLAS_CORETYPE=Haswell); ort= ;;
  specnet-avx2) capped=(DOTNET_EnableAVX512=0) ;;   # read by .NET alone
  *) echo "ISA=$isa: expected native, avx2 or specnet-avx2" >&2; exit 2 ;;
esac
cpu=$(cpu_name)
case $isa in avx2) cpu="$cpu, both programs capped at AVX2";; specnet-avx2) cpu="$cpu, SpecNet alone capped at AVX2";; esac
out=${RESULTS:-$(mktemp -d)}   # RESULTS=dir: summarise the runs kept there, without running anything
[ -n "${RESULTS:-}" ] || {
dotnet build "$here/src/SpecNet.Cli" -c Release -nologo -v q >/dev/null
specnet=$here/src/SpecNet.Cli/bin/Release/net10.0/specnet

for model in $models; do
  spec=$here/specs/$(spec_of "$model").yaml
  for i in $(seq 1 "$runs"); do
    env "${capped[@]}" /usr/bin/time -v "$torch" --model "$model" --epochs "$epochs" --seed "$i" > "$out/$model-torch-$i.jsonl" 2> "$out/$model-torch-$i.time"
    env "${capped[@]}" /usr/bin/time -v "$specnet" train "$spec" --epochs "$epochs" --seed "$i" --json --output "$out/w.safetensors" > "$out/$model-specnet-$i.jsonl" 2> "$out/$model-specnet-$i.time"
    env "${capped[@]}" "$specnet" bench "$spec" --batch-size 1000 --iterations 10 $ort --json > "$out/$model-infer-$i.json"
  done
done
echo "runs kept in $out" >&2
}

python3 - "$out" "$runs" "$cpu" $models <<'PY'
import json, re, statistics, sys
out, runs, cpu, models = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
def lines(p): return [json.loads(l) for l in open(p) if l.startswith("{")]
def peak(p): return int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(p).read()).group(1)) / 1024
m = statistics.median
print(f"CPU: {cpu}; {runs} alternating runs per model, medians; ratios: SpecNet over the other, the median of the runs' own ratios (memory and the 99th percentile: lower is better)")
print(f"{'model':<8} {'measure':<30} {'SpecNet':>10} {'PyTorch':>10} {'ratio':>7} {'ORT':>10} {'ratio':>7}")
for model in models:
    v = {k: [] for k in "s_train t_train s_b1000 t_b1000 o_b1000 s_b1 t_b1 o_b1 s_p99 o_p99 s_mem t_mem s_acc t_acc".split()}
    for i in range(1, runs + 1):
        t = lines(f"{out}/{model}-torch-{i}.jsonl"); s = lines(f"{out}/{model}-specnet-{i}.jsonl")
        te = [e for e in t if e.get("event") == "epoch"]; se = [e for e in s if e.get("event") == "epoch"]
        v["t_train"].append(m(e["train_img_per_s"] for e in te)); v["s_train"].append(m(e["images_per_second"] for e in se))
        v["t_acc"].append(te[-1]["test_acc"]); v["s_acc"].append(se[-1]["test_accuracy"])
        for e in (e for e in t if e.get("event") == "inference"):
            (v["t_b1000"] if e.get("batch") == 1000 else v["t_b1"]).append(e["img_per_s"])
        b = json.load(open(f"{out}/{model}-infer-{i}.json"))
        v["s_b1000"].append(b["inference_images_per_second"]); v["s_b1"].append(1000 / b["single_image_ms"])
        if "single_image_p99_ms" in b: v["s_p99"].append(b["single_image_p99_ms"])   # runs from before d1d8a03 have none
        ort = b.get("onnx_runtime") or []
        if ort:
            v["o_b1000"].append(max(x["inference_images_per_second"] for x in ort)); v["o_b1"].append(max(1000 / x["single_image_ms"] for x in ort))
            if all("single_image_p99_ms" in x for x in ort): v["o_p99"].append(min(x["single_image_p99_ms"] for x in ort))
        v["t_mem"].append(peak(f"{out}/{model}-torch-{i}.time")); v["s_mem"].append(peak(f"{out}/{model}-specnet-{i}.time"))
    def row(name, s, t, o=None, f=".0f"):
        # The programs alternate, so each run's pair shares the host's state: the ratio is the median of the runs' own ratios
        # (a host that slows down between runs moves both of a pair), and each run's ratio is printed to show the spread.
        r = lambda a, b: f"{m(x / y for x, y in zip(a, b)):.2f}x" if b else "-"
        pairs = lambda a, b: " ".join(f"{x / y:.2f}" for x, y in zip(a, b)) if b else ""
        ov = f"{m(o):>10{f}} {r(s, o):>7}" if o else f"{'-':>10} {'-':>7}"
        runs = f"  runs: {pairs(s, t) or '-'}" + (f" | {pairs(s, o)}" if o else "")
        tv = f"{m(t):>10{f}}" if t else f"{'-':>10}"
        print(f"{model:<8} {name:<30} {m(s):>10{f}} {tv} {r(s, t):>7} {ov}{runs}")
    row("training images/s (batch 64)", v["s_train"], v["t_train"])
    row("inference images/s, batch 1000", v["s_b1000"], v["t_b1000"], v["o_b1000"])
    row("inference images/s, batch 1", v["s_b1"], v["t_b1"], v["o_b1"])
    if v["s_p99"]: row("batch 1, 99th percentile (ms)", v["s_p99"], [], v["o_p99"], f=".4f")
    row("peak memory training (MB)", v["s_mem"], v["t_mem"])
    print(f"{model:<8} {'test accuracy':<30} {m(v['s_acc']):>10.4f} {m(v['t_acc']):>10.4f}")
PY
