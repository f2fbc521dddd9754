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
root=$(pwd)
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
python3 - "$work/x.npy" $tokens "$hidden" <<'PY'
import struct, sys
path, tokens, hidden = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }" % (tokens, hidden)
header += " " * (63 - (10 + len(header)) % 64) + "\n"
with open(path, "wb") as f:
    f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
    for t in range(tokens):
        f.write(struct.pack("<%df" % hidden, *[((7 * t + 3 * h) % 17 - 8) / 8 for h in range(hidden)]))
PY
"$bin/moe-run" "$work/layer.so" --weights "$work/w.safetensors" --input "$work/x.npy" \
  --output "$work/y.npy" > /dev/null
run=$(python3 - "$work/y.npy" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
length = struct.unpack("<H", data[8:10])[0]
values = struct.unpack("<%df" % ((len(data) - 10 - length) // 4), data[10 + length:])
total = 0.0
for v in values:
    total += v
print("%.17g" % total)
PY
)
echo "  moe-run:            checksum $run"
[ "${cpp##* }" = "$run" ] && [ "${c##* }" = "$run" ] && [ "$cpp" = "$c" ] || {
  echo "check-install: FAILED: the checksums differ" >&2
  exit 1
}
echo "check-install: OK"
