#!/usr/bin/env bash
# The main job on the CPU default: for small versions of three model
# families (Hugging Face config.json files in examples/configs), import one
# MoE layer with moe-translate, show the stages moe-decompose makes of it
# and what moe-fuse-experts leaves of them, compile it into a shared library, generate seeded random weights under the
# checkpoint's own names and a 37-token input, run it, and print the output
# summary, the routing statistics and the median time of 20 runs; check the
# output against a float64 numpy block written from the family's modeling
# code (scripts/demo-reference.py) and draw the routing as a PNG
# (python/moec/plot.py). Then the DeepSeek-V3 layer again, expert parallel
# on 2 ranks under mpirun (each rank's experts and time per phase), against
# the single process. Debian's python3 runs the checks (its numpy and
# matplotlib).
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
cd "$(dirname "$0")/.."
bin="$build/bin"
work="$build/demo"
mkdir -p "$work"

run_model() {
  local name=$1 layer=$2
  local config="examples/configs/$name/config.json"
  echo "=== $config, layer $layer"
  "$bin/moe-translate" --import-hf-config "$config" --layer="$layer" -o "$work/$name.mlir"
  local stages='s/.*= ((moe|linalg)\.[a-z_]+|arith\.addf) .*/\1/p'
  echo "--- stages after moe-decompose:"
  "$bin/moe-opt" "$work/$name.mlir" --moe-decompose --canonicalize |
    sed -nE "$stages" | sort | uniq -c
  echo "--- after moe-fuse-experts:"
  "$bin/moe-opt" "$work/$name.mlir" --moe-decompose --moe-fuse-experts --canonicalize |
    sed -nE "$stages" | sort | uniq -c
  "$bin/moe-compile" "$work/$name.mlir" --target=cpu -o "$work/$name.so"
  "$bin/moe-run" "$work/$name.so" --generate-weights "$work/$name.safetensors" --seed 1
  "$bin/moe-run" "$work/$name.so" --generate-input "$work/$name-x.npy" --tokens 37 --seed 1
  echo "--- moe-run --stats"
  "$bin/moe-run" "$work/$name.so" --weights "$work/$name.safetensors" \
    --input "$work/$name-x.npy" --output "$work/$name-y.npy" --repeat 20 --stats \
    --stats-json "$work/$name-stats.json"
  /usr/bin/python3 scripts/demo-reference.py "$config" "$layer" "$work/$name.safetensors" \
    "$work/$name-x.npy" "$work/$name-y.npy"
  /usr/bin/python3 python/moec/plot.py "$work/$name-stats.json" "$work/$name-routing.png"
  echo
}

run_model mixtral-tiny 1
run_model deepseek-v3-tiny 1
run_model llama4-tiny 3

echo "=== expert parallelism: deepseek-v3-tiny layer 1 on 2 ranks (round-robin, 2 chunks)"
name=deepseek-v3-tiny
"$bin/moe-compile" "$work/$name.mlir" --ep-size=2 --placement=round-robin --chunks=2 \
  -o "$work/$name-ep2.so"
root=()
[ "$(id -u)" -eq 0 ] && root=(--allow-run-as-root)
mpirun --oversubscribe "${root[@]}" -np 2 "$bin/moe-run" "$work/$name-ep2.so" \
  --weights "$work/$name.safetensors" --input "$work/$name-x.npy" \
  --output "$work/$name-y-ep2.npy" --repeat 20
python3 test/Integration/MPI/Inputs/ep.py compare "$work/$name-y.npy" "$work/$name-y-ep2.npy" 1e-5
echo
echo "demo: OK (outputs in $work)"
