#!/usr/bin/env bash
# The main job on the CPU default: for each example MoE block, show the
# decomposed stages, compile it into a shared library, generate seeded
# random weights under its checkpoint names and a 37-token input, run it,
# and print the output summary and timing.
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
cd "$(dirname "$0")/.."
bin="$build/bin"
work="$build/demo"
mkdir -p "$work"

for model in examples/mixtral-tiny.mlir examples/deepseek-v3-tiny.mlir; do
  name=$(basename "$model" .mlir)
  echo "=== $model"
  echo "--- stages after moe-decompose:"
  "$bin/moe-opt" "$model" --moe-decompose --canonicalize |
    sed -nE 's/.*= ((moe|linalg)\.[a-z_]+|arith\.addf) .*/\1/p' | sort | uniq -c
  echo "--- moe-compile $model --target=cpu -o $work/$name.so"
  "$bin/moe-compile" "$model" --target=cpu -o "$work/$name.so"
  "$bin/moe-run" "$work/$name.so" --generate-weights "$work/$name.safetensors" --seed 1
  "$bin/moe-run" "$work/$name.so" --generate-input "$work/$name-x.npy" --tokens 37 --seed 1
  echo "--- moe-run"
  "$bin/moe-run" "$work/$name.so" --weights "$work/$name.safetensors" \
    --input "$work/$name-x.npy" --output "$work/$name-y.npy" --repeat 20
  echo
done
echo "demo: OK (outputs in $work)"
