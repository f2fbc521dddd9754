"""selftest.py - tests bench/gpu/moelib.py where no GPU is (lit:
test/Integration/CUDA/moelib.test).

  selftest.py cpu LIB.so W.safetensors X.npy Y.npy
      binds a CPU library through moelib (the loader's view: stacking,
      packing, bf16 rounding) and runs X: prints "identical" when the
      output has the bits moe-run wrote to Y.npy; then bf16 I/O: prints
      "bf16 io: identical" when the bf16 output is the f32 run on the
      rounded input, rounded; and the library's refusal of device pointers
  selftest.py cuda LIB.so
      binds the test suite's fake CUDA library (entry "scale": output =
      input * weight) and runs two tokens, then asks for device 7: prints
      the output or the library's reason for failing
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import moelib  # noqa: E402


def main(argv):
    library = moelib.Library(argv[2])
    print("target", library.target)
    if argv[1] == "cpu":
        entry = library.bind_checkpoint(argv[3], threads=1)
        y = entry.forward(np.load(argv[4]))
        same = y.tobytes() == np.load(argv[5]).tobytes()
        print("identical" if same else "different")
        xb = moelib.f32_to_bf16_bits(np.load(argv[4]))
        yb = entry.forward_bf16(xb)
        rounded = moelib.f32_to_bf16_bits(
            entry.forward(moelib.bf16_bits_to_f32(xb)))
        bf16_same = yb.tobytes() == rounded.tobytes()
        print("bf16 io:", "identical" if bf16_same else "different")
        try:
            entry.forward_ptr(xb.ctypes.data, yb.ctypes.data, len(xb), None,
                              moelib.DTYPE_BF16, on_device=True)
            print("io_on_device: accepted")
        except moelib.MoeError as e:
            print("io_on_device:", e)
        return 0 if same and bf16_same else 1
    weight = moelib.f32_to_bf16_bits(np.array([1, 2, 3, 0.5], np.float32))
    for device in (0, 7):
        try:
            entry = library.bind([weight], device=device)
            x = np.arange(8, dtype=np.float32).reshape(2, 4)
            print("output", entry.forward(x).tolist())
            entry.close()
        except moelib.MoeError as e:
            print("error:", e)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
