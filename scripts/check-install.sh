#!/usr/bin/env bash
# `make check-install`: install the build into a fresh prefix, then use it
# as a program outside the tree would, with nothing of the build tree:
#   * the installed moe-translate and moe-compile build a layer (linking the
#     prefix's embedded runtime), the installed moe-run writes its weights;
#   * examples/cpp builds with find_package(moec) against the prefix,
#     examples/c with pkg-config;
#   * both run the layer, and their checksums must equal each other and
#     that of the installed moe-run's output on the same input.
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
cd "$(dirname "$0")/.."
work=$(mktemp -d "${TMPDIR:-/tmp}/moec-check-install.XXXXXX")
trap 'rm -rf "$work"' EXIT
prefix="$work/prefix"

cmake --install "$build" --prefix "$prefix" > "$work/install.log"
echo "check-install: installed into a fresh prefix ($(find "$prefix" -type f | wc -l) files)"
# The installed moe-compile links the prefix's lib/moec archives.
bin="$prefix/bin"
config=examples/configs/mixtral-tiny/config.json
"$bin/moe-translate" --import-hf-config "$config" --layer=1 -o "$work/layer.mlir"
"$bin/moe-compile" "$work/layer.mlir" --target=cpu -o "$work/layer.so"
"$bin/moe-run" "$work/layer.so" --generate-weights "$work/w.safetensors" --seed 3 > /dev/null

cmake -S examples/cpp -B "$work/cpp" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_BUILD_TYPE=Release > "$work/cpp-configure.log"
cmake --build "$work/cpp" > "$work/cpp-build.log"
PKG_CONFIG_PATH="$prefix/lib/pkgconfig" cc -std=c11 -O2 examples/c/run_layer.c \
  $(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs moec) \
  -o "$work/run_layer_c"

tokens=37
cpp=$("$work/cpp/run_layer" "$work/layer.so" "$work/w.safetensors" $tokens 2> /dev/null)
c=$("$work/run_layer_c" "$work/layer.so" "$work/w.safetensors" $tokens)
echo "  C++ (find_package): $cpp"
echo "  C   (pkg-config):   $c"

# moe-run on the same input the examples build.
hidden=$(sed -nE 's/.*"hidden": *([0-9]+).*/\1/p' <("$bin/moe-run" "$work/layer.so" --print-manifest) | head -1)
# Debian's python3 has numpy (scripts/install-deps.sh).
/usr/bin/python3 - "$work/x.npy" $tokens "$hidden" <<'PY'
import sys
import numpy as np
path, tokens, hidden = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
t, h = np.meshgrid(np.arange(tokens), np.arange(hidden), indexing="ij")
np.save(path, (((7 * t + 3 * h) % 17 - 8) / 8).astype(np.float32))
PY
"$bin/moe-run" "$work/layer.so" --weights "$work/w.safetensors" --input "$work/x.npy" \
  --output "$work/y.npy" > /dev/null
# The examples' checksum: the outputs summed in row-major order, in double.
run=$(/usr/bin/python3 - "$work/y.npy" <<'PY'
import sys
import numpy as np
print("%.17g" % sum(np.load(sys.argv[1]).ravel().tolist()))
PY
)
echo "  moe-run:            checksum $run"
[ "${cpp##* }" = "$run" ] && [ "${c##* }" = "$run" ] && [ "$cpp" = "$c" ] || {
  echo "check-install: FAILED: the checksums differ" >&2
  exit 1
}
echo "check-install: OK"
