#!/usr/bin/env bash
# Imports the real configs in examples/configs at full size and times
# moe-compile on one MoE layer of each and on every MoE layer at once. No
# weights are allocated: compiling needs only the shapes.
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
cd "$(dirname "$0")/.."
bin="$build/bin"
work="$build/full-size"
mkdir -p "$work"
for model in mixtral-8x7b qwen3-30b-a3b deepseek-v3 llama-4-scout-17b-16e; do
  config="examples/configs/$model/config.json"
  "$bin/moe-translate" --import-hf-config "$config" -o "$work/$model.mlir"
  layers=$(grep -c "func.func @" "$work/$model.mlir")
  first=$(sed -nE 's/.*func.func @[a-z0-9_]+_layer([0-9]+)\(.*/\1/p' "$work/$model.mlir" | head -1)
  "$bin/moe-translate" --import-hf-config "$config" --layer="$first" -o "$work/$model-one.mlir"
  start=$(date +%s.%N)
  "$bin/moe-compile" "$work/$model-one.mlir" --target=cpu -o "$work/$model-one.so"
  one=$(awk "BEGIN { print $(date +%s.%N) - $start }")
  start=$(date +%s.%N)
  "$bin/moe-compile" "$work/$model.mlir" --target=cpu -o "$work/$model.so"
  all=$(awk "BEGIN { print $(date +%s.%N) - $start }")
  printf '%-24s layer %-3s %6.2f s   all %3d MoE layers %7.2f s (%.2f s/layer)\n' \
    "$model" "$first" "$one" "$layers" "$all" "$(awk "BEGIN { print $all / $layers }")"
done
