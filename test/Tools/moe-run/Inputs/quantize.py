"""quantize.py - quantised checkpoints and their dequantised float32 twins,
on the standard library alone (CI has no numpy or torch). The
dequantisation here is the tests' second, independent one: each value is
the code's exact value times its scale, rounded once to float32 (Python's
double product of the two is exact), as the formats define it.

  quantize.py fp8 IN OUT OUT_F32 [--seed S] [--scales F32|BF16|E8M0]
      every rank >= 2 float32 tensor of IN whose name holds "experts"
      becomes random F8_E4M3 codes (NaN codes excluded) [..., N, K] and
      `name`_scale_inv [..., ceil(N/128), ceil(K/128)] random block scales
      (DeepSeek-V3's layout); the rest is copied
  quantize.py mxfp4 IN OUT OUT_F32 [--seed S]
      every rank-3 float32 tensor [E, K, N] of IN whose name ends in
      "_proj" (K a multiple of 32) becomes `name`_blocks [E, N, K/32, 16]
      (U8: two E2M1 codes a byte, low nibble first) and `name`_scales
      [E, N, K/32] (U8 E8M0), GPT-OSS's layout; the rest is copied
OUT_F32 holds the same tensors dequantised to float32.
"""
import json
import math
import random
import struct
import sys

SIZES = {"F32": 4, "BF16": 2, "U8": 1, "F8_E4M3": 1}
FP4_VALUES = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0,
              -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0]


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + length])
    header.pop("__metadata__", None)
    tensors = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        tensors[name] = (entry["dtype"], entry["shape"],
                         data[8 + length + begin:8 + length + end])
    return tensors


def write(path, tensors):
    header, offset = {}, 0
    for name in sorted(tensors):
        dtype, shape, payload = tensors[name]
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [offset, offset + len(payload)]}
        offset += len(payload)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little") + text)
        for name in sorted(tensors):
            f.write(tensors[name][2])


def f32(value):
    """Rounds a Python float to float32, nearest even."""
    return struct.unpack("<f", struct.pack("<f", value))[0]


def f32_bytes(values):
    return struct.pack("<%df" % len(values), *values)


def fp8_value(code):
    sign = -1.0 if code & 0x80 else 1.0
    exponent, mantissa = (code >> 3) & 0xf, code & 0x7
    if exponent == 0:
        return sign * mantissa / 8.0 * 2.0 ** -6
    return sign * (1 + mantissa / 8.0) * 2.0 ** (exponent - 7)


def quantize_fp8(name, shape, rng, scale_dtype, out, twin):
    n, k = shape[-2], shape[-1]
    matrices = math.prod(shape[:-2])
    sn, sk = -(-n // 128), -(-k // 128)
    # Codes of magnitude below 4 (exponent field <= 8), so that scales near
    # 1/sqrt(K) keep the layer's activations O(1).
    codes = bytes(rng.choice([s | e << 3 | m for s in (0, 0x80)
                              for e in range(9) for m in range(8)])
                  for _ in range(matrices * n * k))
    scales = []
    for _ in range(matrices * sn * sk):
        if scale_dtype == "E8M0":
            scales.append(rng.randrange(120, 127))
        else:
            s = f32(rng.uniform(0.25, 1.0) / math.sqrt(k))
            if scale_dtype == "BF16":  # keep what the BF16 file holds
                s = struct.unpack("<f", b"\0\0" + struct.pack("<f", s)[2:])[0]
            scales.append(s)
    if scale_dtype == "E8M0":
        payload, dtype = bytes(scales), "U8"
        scales = [2.0 ** (s - 127) for s in scales]
    elif scale_dtype == "BF16":
        payload = b"".join(struct.pack("<f", s)[2:] for s in scales)
        dtype = "BF16"
    else:
        payload, dtype = f32_bytes(scales), "F32"
    values = []
    for i, code in enumerate(codes):
        matrix, row, col = i // (n * k), i // k % n, i % k
        scale = scales[(matrix * sn + row // 128) * sk + col // 128]
        values.append(f32(fp8_value(code) * scale))
    out[name] = ("F8_E4M3", shape, codes)
    out[name + "_scale_inv"] = (dtype, shape[:-2] + [sn, sk], payload)
    twin[name] = ("F32", shape, f32_bytes(values))


def quantize_mxfp4(name, shape, rng, out, twin):
    experts, k, n = shape
    groups = k // 32
    blocks = bytes(rng.randrange(256) for _ in range(experts * n * groups * 16))
    scales = bytes(rng.randrange(118, 126) for _ in range(experts * n * groups))
    values = [0.0] * (experts * k * n)
    for e in range(experts):
        for r in range(n):
            for g in range(groups):
                at = (e * n + r) * groups + g
                scale = 2.0 ** (scales[at] - 127)
                for b in range(16):
                    byte = blocks[at * 16 + b]
                    for half, code in enumerate((byte & 0xf, byte >> 4)):
                        kk = g * 32 + 2 * b + half
                        values[(e * k + kk) * n + r] = FP4_VALUES[code] * scale
    out[name + "_blocks"] = ("U8", [experts, n, groups, 16], blocks)
    out[name + "_scales"] = ("U8", [experts, n, groups], scales)
    twin[name] = ("F32", shape, f32_bytes(values))


def main(argv):
    mode, source, target, target_f32 = argv[1:5]
    options = dict(zip(argv[5::2], argv[6::2]))
    rng = random.Random(int(options.get("--seed", "0")))
    scale_dtype = options.get("--scales", "F32")
    out, twin = {}, {}
    quantized = 0
    for name, (dtype, shape, payload) in sorted(read(source).items()):
        if mode == "fp8" and dtype == "F32" and len(shape) >= 2 and \
                "experts" in name:
            quantize_fp8(name, shape, rng, scale_dtype, out, twin)
        elif mode == "mxfp4" and dtype == "F32" and len(shape) == 3 and \
                name.endswith("_proj") and shape[1] % 32 == 0:
            quantize_mxfp4(name, shape, rng, out, twin)
        else:
            out[name] = twin[name] = (dtype, shape, payload)
            continue
        quantized += 1
    if not quantized:
        sys.exit(f"{source}: no tensor to quantise as {mode}")
    write(target, out)
    write(target_f32, twin)
    print(f"quantised {quantized} tensors as {mode}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
