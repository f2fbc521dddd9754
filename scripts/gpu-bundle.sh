#!/usr/bin/env bash
# gpu-bundle.sh - builds here everything the GPU machine needs for
# bench/gpu/run.sh, into .gpu-bundle/ (ignored through .git/info/exclude;
# under 64 MiB, the most a device call carries).
#
#   scripts/gpu-bundle.sh [BUILD]        (default build/, after `make check`)
#   scripts/gpu-bundle.sh --cpu [BUILD]  the same checks on CPU libraries, to
#                                        test bench/gpu here (arch "cpu")
#
# The GPU machine has no LLVM/MLIR, no MPI and no network, so:
#  * tiny families (bench/gpu/configs/*-gpu-tiny: Mixtral, Qwen3-MoE and
#    DeepSeek-V3 routing at H 256) are compiled for sm_90a and sm_80, with
#    seeded bf16 weights, a 512-token input and the output of the CPU
#    library on them (the reference: lib/Reference is its oracle in
#    test/Unit);
#  * the full-size layers of the benchmark (Mixtral-8x7B, Qwen3-30B-A3B,
#    DeepSeek-V3; examples/configs) are compiled for sm_90a; their weights
#    are generated there (bench/gpu/bench.py);
#  * the driver is Python (bench/gpu/moelib.py, ctypes over the C ABI), as
#    the machine's python3 has numpy and torch; nothing to build for it.
# Each CUDA library must need only the C library (ldd is checked), and
# bundle.json lists what was built. Prints "gpu-bundle: STEP: ok|FAILED"
# lines and exits 1 if a step failed.
set -u
cd "$(dirname "$0")/.."
ARCHS="sm_90a sm_80"
TARGET=cuda
if [ "${1:-}" = --cpu ]; then
  ARCHS=cpu
  TARGET=cpu
  shift
fi
BUILD=${1:-build}
BIN=$BUILD/bin
OUT=.gpu-bundle
TOKENS=512
export PATH=/usr/local/cuda/bin:$PATH
export CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
failed=0
# The build machine's cores are shared: everything below runs niced.
renice -n 10 $$ >/dev/null

report() { # STEP STATUS [WHY]
  echo "gpu-bundle: $1: $2${3:+ ($3)}"
  [ "$2" = FAILED ] && failed=1
  return 0
}
run() { # STEP COMMAND...: runs it, reports, returns its status.
  local step=$1
  shift
  if "$@"; then report "$step" ok; else report "$step" FAILED "$*"; return 1; fi
}

for tool in moe-translate moe-compile moe-run; do
  [ -x "$BIN/$tool" ] || { echo "gpu-bundle: no $BIN/$tool: build first (make check)"; exit 1; }
done
if [ "$TARGET" = cuda ] && ! "$BIN/moe-compile" --help | grep -q -- '--gpu-arch'; then
  echo "gpu-bundle: $BIN/moe-compile has no --target=cuda (--gpu-arch) yet"
  exit 1
fi

EXCLUDE=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$EXCLUDE")"
grep -qxF '/.gpu-bundle/' "$EXCLUDE" 2>/dev/null || echo '/.gpu-bundle/' >>"$EXCLUDE"
rm -rf "$OUT"
mkdir -p "$OUT/lib" "$OUT/data" "$OUT/configs"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

compile() { # MLIR ARCH OUT.so
  if [ "$2" = cpu ]; then
    "$BIN/moe-compile" "$1" --target=cpu -o "$3"
  else
    "$BIN/moe-compile" "$1" --target=cuda --gpu-arch="$2" -o "$3"
  fi
}

tiny_json=""
for family in mixtral-gpu-tiny qwen3-moe-gpu-tiny deepseek-v3-gpu-tiny; do
  mlir=$TMP/$family.mlir
  data=$OUT/data/$family
  mkdir -p "$data"
  run "$family: import" "$BIN/moe-translate" --import-hf-config \
    "bench/gpu/configs/$family" -o "$mlir" || continue
  # The reference: the CPU library on the same bf16 weights (the loader
  # widens them exactly) and input.
  run "$family: cpu reference library" "$BIN/moe-compile" "$mlir" \
    --target=cpu -o "$TMP/$family.cpu.so" || continue
  run "$family: weights" "$BIN/moe-run" "$TMP/$family.cpu.so" \
    --generate-weights "$data/weights.safetensors" --seed 15 --dtype bf16 \
    >/dev/null || continue
  run "$family: input" "$BIN/moe-run" "$TMP/$family.cpu.so" \
    --generate-input "$data/x.npy" --tokens $TOKENS --seed 16 >/dev/null || continue
  run "$family: reference output" "$BIN/moe-run" "$TMP/$family.cpu.so" \
    --weights "$data/weights.safetensors" --input "$data/x.npy" \
    --output "$data/y_ref.npy" >/dev/null || continue
  libs=""
  for arch in $ARCHS; do
    so=lib/$family.$arch.so
    run "$family: $arch library" compile "$mlir" "$arch" "$OUT/$so" || continue
    libs="$libs${libs:+, }{\"arch\": \"$arch\", \"path\": \"$so\"}"
  done
  tiny_json="$tiny_json${tiny_json:+,
  }{\"name\": \"$family\", \"data\": \"data/$family\", \"tokens\": $TOKENS, \"libraries\": [$libs]}"
done

# The benchmark's layers: the first MoE layer of each model.
full_json=""
for shape in mixtral-8x7b:0 qwen3-30b-a3b:0 deepseek-v3:3; do
  name=${shape%%:*}
  layer=${shape##*:}
  [ "$TARGET" = cpu ] && break # The CPU build has no use for them.
  mlir=$TMP/$name.mlir
  so=lib/$name.sm_90a.so
  run "$name: import" "$BIN/moe-translate" --import-hf-config \
    "examples/configs/$name" --layer="$layer" -o "$mlir" || continue
  run "$name: sm_90a library" compile "$mlir" sm_90a "$OUT/$so" || continue
  cp "examples/configs/$name/config.json" "$OUT/configs/$name.json"
  full_json="$full_json${full_json:+,
  }{\"name\": \"$name\", \"layer\": $layer, \"arch\": \"sm_90a\", \"path\": \"$so\", \"config\": \"configs/$name.json\"}"
done

# A library that needs more than the C library would not load there.
for so in "$OUT"/lib/*.so; do
  [ -e "$so" ] || continue
  extra=$(ldd "$so" | awk '{print $1}' |
    grep -v -E '^(linux-vdso|/lib64/ld-linux|libc\.so|libdl\.so|libpthread\.so|libm\.so|librt\.so)' || true)
  if [ "$TARGET" = cuda ] && [ -n "$extra" ]; then
    report "ldd $(basename "$so")" FAILED "needs $(echo $extra)"
  fi
done

cat >"$OUT/bundle.json" <<JSON
{"commit": "$(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo +dirty)",
 "built": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
 "target": "$TARGET",
 "tiny": [
  $tiny_json],
 "full": [
  $full_json]}
JSON
python3 -c "import json,sys; json.load(open(sys.argv[1]))" "$OUT/bundle.json" ||
  report bundle.json FAILED "not JSON"

bytes=$(du -sb "$OUT" | cut -f1)
if [ "$bytes" -gt $((60 * 1024 * 1024)) ]; then
  report size FAILED "$bytes bytes; a device call carries 64 MiB with the tree"
else
  report size ok "$((bytes / 1024)) KiB"
fi
exit $failed
