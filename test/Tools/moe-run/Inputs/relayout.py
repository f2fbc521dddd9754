"""relayout.py - safetensors tensors stored in another layout, on the
standard library alone (CI has no numpy or torch).

  relayout.py shapes IN
      prints "NAME [shape]" for every tensor of IN, sorted by name
  relayout.py swap IN OUT NAME...
      OUT is IN with each tensor NAME's last two dimensions swapped, its
      elements moved to match (the transpose: a fused expert tensor as the
      published checkpoints store it rather than as transformers 5 saves it)
  relayout.py reshape IN OUT NAME D0,D1,...
      OUT is IN with tensor NAME's header shape set to D0, D1, ... and its
      bytes kept (the shape need not hold its element count)
"""
import sys

from quantize import SIZES, read, write


def swap_last_two(dtype, shape, payload):
    size = SIZES[dtype]
    rows, cols = shape[-2], shape[-1]
    matrices = len(payload) // (size * rows * cols)
    out = bytearray(len(payload))
    for m in range(matrices):
        base = m * rows * cols
        for r in range(rows):
            for c in range(cols):
                src = (base + r * cols + c) * size
                dst = (base + c * rows + r) * size
                out[dst:dst + size] = payload[src:src + size]
    return shape[:-2] + [cols, rows], bytes(out)


def main(argv):
    mode, path = argv[1], argv[2]
    tensors = read(path)
    if mode == "shapes":
        for name in sorted(tensors):
            print(name, "[" + ", ".join(str(d) for d in tensors[name][1]) + "]")
        return 0
    out = argv[3]
    if mode == "swap":
        for name in argv[4:]:
            dtype, shape, payload = tensors[name]
            shape, payload = swap_last_two(dtype, shape, payload)
            tensors[name] = (dtype, shape, payload)
    elif mode == "reshape":
        name, sizes = argv[4], [int(d) for d in argv[5].split(",")]
        dtype, _, payload = tensors[name]
        tensors[name] = (dtype, sizes, payload)
    else:
        print("unknown mode " + mode, file=sys.stderr)
        return 2
    write(out, tensors)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
