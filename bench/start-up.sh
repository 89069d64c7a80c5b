#!/usr/bin/env bash
# What a user waits for from the shell, each command in a cold process: `specnet check`, `eval` (Fashion-MNIST's 10,000 test
# images) and `predict` (one image), for the tutorial's pooled and strided models and the residual and depthwise reference
# models; the median of RUNS runs, in milliseconds, wall clock. With BASE=another clone of SpecNet, that clone's CLI runs
# too, turn by turn with this one (the same weights, the same host state), for a before and after.
#
#   bench/start-up.sh [RUNS=5] [MODELS="pool stride resnet mobile"]
#   BASE=/tmp/old bench/start-up.sh 5 "pool resnet"
#
# Needs: apt-get install dataset-fashion-mnist. Each model first trains one epoch (its weights only have to fit its spec).
set -euo pipefail
runs=${1:-5}; models=${2:-pool stride resnet mobile}
here=$(cd "$(dirname "$0")/.." && pwd)
source "$here/bench/models.sh"
out=$(mktemp -d)
builds=("$here")
[ -n "${BASE:-}" ] && builds+=("$(cd "$BASE" && pwd)")
for b in "${builds[@]}"; do dotnet build "$b/src/SpecNet.Cli" -c Release -nologo -v q > /dev/null; done
ms() { local t0 t1; t0=$(date +%s%N); "$@" > /dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }; t1=$(date +%s%N); echo $(( (t1 - t0) / 1000000 )); }
median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

echo "CPU: $(cpu_name); $runs runs each, medians, ms"
printf '%-8s %-8s' model command; for b in "${builds[@]}"; do printf ' %14s' "$(cd "$b" && git rev-parse --short HEAD)"; done; echo
for model in $models; do
  spec=$here/specs/$(spec_of "$model").yaml
  weights=$out/$model.safetensors
  "$here/src/SpecNet.Cli/bin/Release/net10.0/specnet" train "$spec" --epochs 1 --output "$weights" --quiet > /dev/null
  declare -A t=()
  for i in $(seq 1 "$runs"); do
    for b in "${!builds[@]}"; do
      cli=${builds[$b]}/src/SpecNet.Cli/bin/Release/net10.0/specnet
      t[check,$b]+=" $(ms "$cli" check "$spec")"
      t[eval,$b]+=" $(ms "$cli" eval "$spec" --weights "$weights")"
      t[predict,$b]+=" $(ms "$cli" predict "$spec" --weights "$weights" "$here/samples/digits/3.png")"
    done
  done
  for command in check eval predict; do
    printf '%-8s %-8s' "$model" "$command"
    for b in "${!builds[@]}"; do printf ' %14s' "$(echo "${t[$command,$b]}" | median)"; done
    echo
  done
  unset t
done
rm -rf "$out"
