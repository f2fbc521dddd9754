#!/usr/bin/env bash
# The benchmark, in one run on this machine: for each shape, the compiled
# layer (moe-run --repeat), this machine's roofline (OpenBLAS sgemm rate and
# read bandwidth) and PyTorch eager on the same weights and input; prints
# the ratios (see report.py) and writes build/bench/results.json; then one
# core's rate in each micro-kernel and instruction set (bench/ukernels.c)
# beside OpenBLAS's on one core.
#
#   bash bench/run.sh [THREADS] [REPEAT]
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}
repeat=${2:-5}
make build > /dev/null
bash bench/install-deps.sh
# OpenBLAS 0.3.21 does not recognise newer Xeons and falls back to its
# Prescott (SSE3) kernels, a fifth of the machine's rate. Name the kernel
# family the CPU supports, for the roofline and for PyTorch alike.
# A family inherited from the environment is kept only if this CPU runs
# it: AVX-512 kernels on an AVX2-only CPU die with SIGILL.
case "${OPENBLAS_CORETYPE:-}" in
  SkylakeX|Cooperlake|SapphireRapids)
    if ! grep -q avx512f /proc/cpuinfo; then
      echo "bench: OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE needs AVX-512, which this CPU lacks; choosing again" >&2
      unset OPENBLAS_CORETYPE
    fi ;;
  Haswell|Zen)
    if ! grep -q avx2 /proc/cpuinfo; then
      echo "bench: OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE needs AVX2, which this CPU lacks; choosing again" >&2
      unset OPENBLAS_CORETYPE
    fi ;;
esac
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
  if grep -q avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX
  elif grep -q avx2 /proc/cpuinfo; then export OPENBLAS_CORETYPE=Haswell
  fi
fi
bin=$PWD/build/bin
work=$PWD/build/bench
mkdir -p "$work"
g++ -O3 -march=native -fopenmp bench/roofline.cpp -o "$work/roofline" -lopenblas
# One ceiling for every shape: the best sgemm rate over large shapes,
# including the prefill expert GEMMs, and the streaming read bandwidth.
sgemm=$("$work/roofline" sgemm "$threads" 1024 1024 1024 512 3584 1024 128 3584 1024 \
  1024 4096 1024)

results="$work/results.jsonl"
: > "$results"
# config  prefix  family  E  K  H  F  Fs
cases=(
  "mixtral-bench model.layers.0.block_sparse_moe. mixtral 8 2 1024 3584 0"
  "deepseek-bench model.layers.0.mlp. deepseek 64 6 1024 512 512"
)
for case in "${cases[@]}"; do
  read -r config prefix family E K H F Fs <<<"$case"
  lib="$work/$config.so"
  "$bin/moe-translate" --import-hf-config "bench/configs/$config/config.json" --layer=0 -o "$work/$config.mlir"
  "$bin/moe-compile" "$work/$config.mlir" --target=cpu -o "$lib"
  [ -f "$work/$config.safetensors" ] ||
    "$bin/moe-run" "$lib" --generate-weights "$work/$config.safetensors" --seed 1 > /dev/null
  # Read bandwidth over a buffer the size of the layer's weights.
  weights_mb=$(( $(stat -c %s "$work/$config.safetensors") / 1000000 ))
  read=$("$work/roofline" read "$threads" "$weights_mb")
  for phase in "prefill 512" "decode 16"; do
    read -r name tokens <<<"$phase"
    x="$work/$config-$tokens.npy"
    "$bin/moe-run" "$lib" --generate-input "$x" --tokens "$tokens" --seed 2 > /dev/null
    "$bin/moe-run" "$lib" --weights "$work/$config.safetensors" --input "$x" \
      --output "$work/$config-$tokens-moec.npy" --threads "$threads" --repeat "$repeat" \
      --timing-json "$work/$config-$tokens-moec.json" --stats-json "$work/$config-$tokens-stats.json" > /dev/null
    load=$(/usr/bin/python3 -c 'import json, sys; print(*json.load(open(sys.argv[1]))["load"])' \
      "$work/$config-$tokens-stats.json")
    torch=$(/usr/bin/python3 bench/pytorch_moe.py --family "$family" --prefix "$prefix" \
      --weights "$work/$config.safetensors" --input "$x" --experts "$E" --top-k "$K" \
      --threads "$threads" --repeat "$repeat" --output "$work/$config-$tokens-torch.npy")
    /usr/bin/python3 bench/report.py record --results "$results" --shape "$config $name" \
      --tokens "$tokens" --experts "$E" --top-k "$K" --hidden "$H" --ffn "$F" --shared "$Fs" \
      --load "$load" --moec "$work/$config-$tokens-moec.json" --sgemm "$sgemm" --read "$read" \
      --torch "$torch" --moec-output "$work/$config-$tokens-moec.npy" \
      --torch-output "$work/$config-$tokens-torch.npy"
  done
done
/usr/bin/python3 bench/report.py table --results "$results" --threads "$threads"

# Where a kernel change shows first: one core, each instruction set.
gcc -O3 -Iinclude bench/ukernels.c lib/Runtime/Embedded/Ukernels.c \
  lib/Runtime/Embedded/Tiles.c lib/Runtime/Embedded/TilePortable.c \
  lib/Runtime/Embedded/TileAvx2.c lib/Runtime/Embedded/TileAvx512.c \
  -o "$work/ukernels" -lm
echo
one=$("$work/roofline" sgemm 1 128 3584 1024 1024 1024 1024)
echo "One core: OpenBLAS sgemm $(sed -nE 's/.*"sgemm_gflops": ([0-9.]+).*/\1/p' <<<"$one") GFLOP/s; moec micro-kernels:"
"$work/ukernels"
