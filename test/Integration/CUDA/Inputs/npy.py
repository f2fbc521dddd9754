"""npy.py - float32 .npy helpers of the CUDA integration tests, on the
standard library alone (the Python running lit may have no numpy).

  npy.py compare OUT.npy REF.npy --tolerance T --tie-fraction P
      each row's relative L2 error against REF <= T, but for at most a
      fraction P of the rows (top-k near ties); prints the summary
  npy.py rows IN.npy BEGIN END OUT.npy      rows [BEGIN, END) of IN
  npy.py same-rows A.npy B.npy ROW          A's only row has the bits of B's
                                            row ROW
  npy.py bf16 IN.npy OUT.npy                IN's values rounded to bf16
                                            (nearest even), as float32
"""
import array
import ast
import math
import sys


def load(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:6] != b"\x93NUMPY":
        sys.exit(f"{path}: not a .npy file")
    major = data[6]
    size_bytes = 2 if major == 1 else 4
    size = int.from_bytes(data[8:8 + size_bytes], "little")
    start = 8 + size_bytes
    header = ast.literal_eval(data[start:start + size].decode("latin1"))
    if header["descr"] != "<f4" or header["fortran_order"] or \
            len(header["shape"]) != 2:
        sys.exit(f"{path}: not a float32 [rows, columns] C-order array")
    rows, columns = header["shape"]
    values = array.array("f")
    values.frombytes(data[start + size:start + size + 4 * rows * columns])
    return rows, columns, values, data[:start + size]


def save(path, rows, columns, values):
    header = ("{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }"
              % (rows, columns))
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little"))
        f.write(header.encode("latin1"))
        f.write(values.tobytes())


def main(argv):
    mode = argv[1]
    if mode == "compare":
        out, ref = load(argv[2]), load(argv[3])
        tolerance, fraction = float(argv[5]), float(argv[7])
        if out[:2] != ref[:2]:
            sys.exit(f"shapes differ: {out[:2]} vs {ref[:2]}")
        rows, columns = ref[0], ref[1]
        over, worst = 0, 0.0
        for r in range(rows):
            row = slice(r * columns, (r + 1) * columns)
            d = math.sqrt(sum((a - b) ** 2 for a, b in
                              zip(out[2][row], ref[2][row])))
            n = math.sqrt(sum(b * b for b in ref[2][row])) or 1e-30
            if not math.isfinite(d) or d / n > tolerance:
                over += 1
            worst = max(worst, d / n) if math.isfinite(d) else math.inf
        allowed = math.ceil(fraction * rows)
        print(f"rows {rows}, over tolerance {over} (allowed {allowed}), "
              f"worst relative L2 {worst:.3g}")
        return 0 if over <= allowed else 1
    if mode == "rows":
        rows, columns, values, _ = load(argv[2])
        begin, end = int(argv[3]), int(argv[4])
        save(argv[5], end - begin, columns,
             values[begin * columns:end * columns])
        return 0
    if mode == "same-rows":
        a, b, row = load(argv[2]), load(argv[3]), int(argv[4])
        columns = b[1]
        same = a[2].tobytes() == b[2][row * columns:(row + 1) * columns].tobytes()
        print("identical" if same else "different")
        return 0 if same else 1
    if mode == "bf16":
        rows, columns, values, _ = load(argv[2])
        bits = array.array("I")
        bits.frombytes(values.tobytes())
        for i, b in enumerate(bits):
            if (b & 0x7f800000) == 0x7f800000 and b & 0x7fffff:
                bits[i] = (b | 0x400000) & 0xffff0000  # NaN stays NaN
            else:
                bits[i] = ((b + 0x7fff + ((b >> 16) & 1)) & 0xffff0000) \
                    & 0xffffffff
        rounded = array.array("f")
        rounded.frombytes(bits.tobytes())
        save(argv[3], rows, columns, rounded)
        return 0
    sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
