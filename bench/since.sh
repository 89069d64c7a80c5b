#!/usr/bin/env bash
# How much faster this checkout's code runs than an earlier commit's, on this CPU: both builds alternating, `specnet bench`
# on each model (a training step at batch 64, inference at batch 1000, a single image), several runs, medians of the runs'
# own ratios (old time over new: above 1 is faster now). The models are the same spec files (this checkout's) for both.
#
#   bench/since.sh REV [RUNS=3] [MODELS="pool stride resnet mobile"]
#
# What it is for: a figure measured on a CPU this session cannot reach (compare-torch.sh's, at REV) moves by about this
# ratio when PyTorch and ONNX Runtime stay as they were. Run it on the code paths that CPU takes:
# ISA=avx2 as on a CPU without AVX-512 (an AMD Zen 1; DOTNET_EnableAVX512=0); ISA=half as on a Zen 4, whose AVX-512 runs at
# AVX2's rate of multiply-adds (SPECNET_FMA512=half: training's Winograd rules for that rate; builds from before 07a60c8 have no
# such choice and take the 512-bit rules, as they did on a Zen 4). The same instructions on another core's pipes and caches:
# a projection, not that CPU's measurement.
set -euo pipefail
rev=${1:?usage: bench/since.sh REV [RUNS] [MODELS]}; runs=${2:-3}; models=${3:-pool stride resnet mobile}
here=$(cd "$(dirname "$0")/.." && pwd)
source "$here/bench/models.sh"
case ${ISA:-native} in
  native) capped=() ;;
  avx2) capped=(DOTNET_EnableAVX512=0) ;;
  half) capped=(SPECNET_FMA512=half) ;;
  *) echo "ISA=$ISA: expected native, avx2 or half" >&2; exit 2 ;;
esac
out=$(mktemp -d)
git -C "$here" worktree add -q --detach "$out/src" "$rev"
trap 'git -C "$here" worktree remove --force "$out/src"' EXIT
dotnet build "$out/src/src/SpecNet.Cli" -c Release -nologo -v q -o "$out/old" >/dev/null
dotnet build "$here/src/SpecNet.Cli" -c Release -nologo -v q -o "$out/new" >/dev/null
for model in $models; do
  spec=$here/specs/$(spec_of "$model").yaml
  for i in $(seq 1 "$runs"); do
    for build in old new; do
      env "${capped[@]}" "$out/$build/specnet" bench "$spec" --iterations 100 --json > "$out/$model-$build-$i-train.json"
      env "${capped[@]}" "$out/$build/specnet" bench "$spec" --batch-size 1000 --iterations 10 --json > "$out/$model-$build-$i-infer.json"
    done
  done
done

python3 - "$out" "$runs" "$rev" "${ISA:-native}" "$(cpu_name)" $models <<'PY'
import json, statistics, sys
out, runs, rev, isa, cpu, models = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6:]
load = lambda model, build, i, kind: json.load(open(f"{out}/{model}-{build}-{i}-{kind}.json"))
print(f"CPU: {cpu}; ISA={isa}; {rev} against this checkout, {runs} alternating runs; speed-up: old time over new, the median of the runs' own")
print(f"{'model':<8} {'measure':<22} {'old':>10} {'new':>10} {'speed-up':>9}  runs")
for model in models:
    for name, kind, key, unit in [("training step", "train", "step_ms", "ms"), ("inference, batch 1000", "infer", "inference_images_per_second", "img/s"),
                                  ("single image", "infer", "single_image_ms", "ms")]:
        old = [load(model, "old", i, kind)[key] for i in range(1, runs + 1)]
        new = [load(model, "new", i, kind)[key] for i in range(1, runs + 1)]
        ratios = [o / n if unit == "ms" else n / o for o, n in zip(old, new)]
        f = ".4f" if unit == "ms" else ",.0f"
        print(f"{model:<8} {name:<22} {statistics.median(old):>10{f}} {statistics.median(new):>10{f}} {statistics.median(ratios):>8.2f}x  "
              + " ".join(f"{r:.2f}" for r in ratios))
PY
