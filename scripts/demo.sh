#!/usr/bin/env bash
# The main job on the CPU default: load each example MoE block, run the
# pipeline available so far (verify, decompose, canonicalize) and print the
# result with a summary of the stages it produced.
set -euo pipefail
build=${1:-build}
moe_opt="$build/bin/moe-opt"
cd "$(dirname "$0")/.."

for model in examples/mixtral-tiny.mlir examples/deepseek-v3-tiny.mlir; do
  echo "=== $model: moe-opt --moe-decompose --canonicalize"
  out=$("$moe_opt" "$model" --moe-decompose --canonicalize)
  echo "$out"
  echo "--- stages:"
  sed -nE 's/.*= ((moe|linalg)\.[a-z_]+|arith\.addf) .*/\1/p' <<<"$out" | sort | uniq -c
  echo
done
echo "demo: OK (execution arrives with the CPU lowering; see README.md)"
