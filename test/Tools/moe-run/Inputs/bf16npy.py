"""bf16npy.py - bfloat16 .npy files as ml_dtypes saves them, on the standard
library alone (the Python running lit may have no numpy): descr '<V2', each
element the bf16 bits little-endian.

  bf16npy.py to-bf16 IN.npy OUT.npy   float32 IN rounded to bf16 (nearest
                                      even, NaN kept quiet)
  bf16npy.py to-f32 IN.npy OUT.npy    bf16 IN widened to float32 (exact)
"""
import array
import ast
import sys


def load(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:6] != b"\x93NUMPY":
        sys.exit(f"{path}: not a .npy file")
    size_bytes = 2 if data[6] == 1 else 4
    size = int.from_bytes(data[8:8 + size_bytes], "little")
    start = 8 + size_bytes
    header = ast.literal_eval(data[start:start + size].decode("latin1"))
    if header["fortran_order"]:
        sys.exit(f"{path}: not in C order")
    return header["descr"], tuple(header["shape"]), data[start + size:]


def save(path, descr, shape, payload):
    header = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (
        descr, repr(tuple(shape)))
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little"))
        f.write(header.encode("latin1") + payload)


def main(argv):
    mode, source, target = argv[1], argv[2], argv[3]
    descr, shape, payload = load(source)
    if mode == "to-bf16":
        if descr != "<f4":
            sys.exit(f"{source}: not float32")
        bits = array.array("I")
        bits.frombytes(payload)
        halves = array.array("H")
        for b in bits:
            if (b & 0x7fffffff) > 0x7f800000:
                halves.append((b >> 16) | 0x40)
            else:
                halves.append(((b + 0x7fff + ((b >> 16) & 1)) >> 16) & 0xffff)
        save(target, "<V2", shape, halves.tobytes())
        return 0
    if mode == "to-f32":
        if descr not in ("<V2", "|V2"):
            sys.exit(f"{source}: not bf16 ('<V2'), got '{descr}'")
        halves = array.array("H")
        halves.frombytes(payload)
        save(target, "<f4", shape, array.array("I", (h << 16 for h in halves))
             .tobytes())
        return 0
    sys.exit(f"unknown mode '{mode}'")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
