"""moelib.py - drive a moec-compiled library from Python through its C ABI.

The device machine has no LLVM/MLIR and no OpenMPI, so `moe-run` cannot go
there; this module is its stand-in for the GPU checks and the benchmark.
It reads the library's manifest, binds weights (numpy arrays in the slot's
bound shape, or a safetensors checkpoint viewed as the manifest says, as
lib/Runtime/Host/Loader.cpp does) and runs forward. It only needs ctypes and
numpy, so it also runs CPU libraries here, which is how it is tested
(bench/gpu/selftest.py). See include/moe/Runtime/moe_runtime.h.
"""
import ctypes
import json
import struct

import numpy as np

ABI_VERSION = 3
TARGET_CPU, TARGET_CUDA = 0, 1
DTYPE_F32, DTYPE_BF16, DTYPE_F16 = 1, 2, 3
MAX_RANK = 8
STATUS_NAMES = {
    0: "success", 1: "invalid argument", 2: "ABI version mismatch",
    3: "wrong target", 4: "wrong weight count", 5: "wrong weight dtype",
    6: "wrong weight shape", 7: "out of memory", 8: "ranks mismatch",
    9: "communication failed", 10: "device failure",
}


class Context(ctypes.Structure):
    _fields_ = [("abi_version", ctypes.c_int32), ("target", ctypes.c_int32),
                ("device", ctypes.c_int32), ("rank", ctypes.c_int32),
                ("size", ctypes.c_int32), ("num_threads", ctypes.c_int32),
                ("stream", ctypes.c_void_p), ("communicator", ctypes.c_void_p),
                ("alloc", ctypes.c_void_p), ("free", ctypes.c_void_p),
                ("user", ctypes.c_void_p)]


class WeightBuffer(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("dtype", ctypes.c_int32),
                ("rank", ctypes.c_int32), ("shape", ctypes.c_int64 * MAX_RANK)]


class ForwardArgs(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_int64), ("input", ctypes.c_void_p),
                ("output", ctypes.c_void_p), ("tokens", ctypes.c_int64),
                ("token_ids", ctypes.c_void_p),
                ("phase_seconds", ctypes.c_void_p),
                ("io_dtype", ctypes.c_int32), ("io_on_device", ctypes.c_int32)]


class MoeError(RuntimeError):
    pass


class DeviceMemory:
    """Device buffers through the driver API (ctypes on libcuda.so.1), in
    the device's primary context (the one a moec CUDA library binds), for
    io_on_device runs without torch."""

    def __init__(self, device=0):
        self.cu = ctypes.CDLL("libcuda.so.1")
        self._check(self.cu.cuInit(0), "cuInit")
        dev = ctypes.c_int()
        self._check(self.cu.cuDeviceGet(ctypes.byref(dev), device),
                    "cuDeviceGet")
        self.context = ctypes.c_void_p()
        self._check(self.cu.cuDevicePrimaryCtxRetain(
            ctypes.byref(self.context), dev), "cuDevicePrimaryCtxRetain")
        self._check(self.cu.cuCtxSetCurrent(self.context), "cuCtxSetCurrent")

    def _check(self, result, what):
        if result != 0:
            raise MoeError(f"{what} failed: CUresult {result}")

    def alloc(self, nbytes):
        pointer = ctypes.c_uint64()
        self._check(self.cu.cuMemAlloc_v2(ctypes.byref(pointer),
                                          ctypes.c_size_t(max(nbytes, 1))),
                    "cuMemAlloc")
        return pointer.value

    def upload(self, array):
        """A device copy of `array` (C-contiguous); returns its pointer."""
        array = np.ascontiguousarray(array)
        pointer = self.alloc(array.nbytes)
        self._check(self.cu.cuMemcpyHtoD_v2(
            ctypes.c_uint64(pointer), ctypes.c_void_p(array.ctypes.data),
            ctypes.c_size_t(array.nbytes)), "cuMemcpyHtoD")
        return pointer

    def download(self, pointer, out):
        self._check(self.cu.cuMemcpyDtoH_v2(
            ctypes.c_void_p(out.ctypes.data), ctypes.c_uint64(pointer),
            ctypes.c_size_t(out.nbytes)), "cuMemcpyDtoH")
        return out

    def free(self, pointer):
        self._check(self.cu.cuMemFree_v2(ctypes.c_uint64(pointer)),
                    "cuMemFree")


def f32_to_bf16_bits(a):
    """Rounds float32 to bf16 (nearest even), as the loader does: uint16."""
    bits = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)
    bits = bits.astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return rounded.astype(np.uint16)


def bf16_bits_to_f32(a):
    return (np.asarray(a, dtype=np.uint16).astype(np.uint32) << 16).view(
        np.float32)


def read_safetensors(path):
    """{name: array} memory-mapped; BF16 tensors come back as uint16 bits."""
    with open(path, "rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(size))
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + size)
    kinds = {"F32": np.float32, "BF16": np.uint16, "F16": np.float16}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        out[name] = (data[begin:end].view(kinds[info["dtype"]])
                     .reshape(info["shape"]), info["dtype"])
    return out


def view_slot(slot, tensors):
    """The slot's bound tensor from checkpoint tensors ({name: (array,
    dtype)}): stack, then apply_view; as the loader does."""
    name = slot["name"]
    if slot["layout"] == "stacked":
        begin, end = slot["experts"]
        parts = [tensors[name.replace("{e}", str(e))] for e in range(begin, end)]
        kind = parts[0][1]
        src = np.stack([p[0] for p in parts])
    else:
        src, kind = tensors[name]
    if kind == "BF16":
        src = bf16_bits_to_f32(src)
    return apply_view(slot, src)


def apply_view(slot, src):
    """Reshapes to "source_shape", slices, transposes, packs and converts a
    slot's (stacked) checkpoint tensor into its bound array."""
    src = np.asarray(src, dtype=np.float32)
    source = slot.get("source_shape", slot["shape"])
    # Stored with the last two dimensions swapped (the loader decides by
    # shape; it refuses the square case, which is read as it lies here).
    if slot.get("either_orientation") and list(src.shape) != list(source) and \
            list(src.shape[:-2]) + [src.shape[-1], src.shape[-2]] == list(source):
        src = np.swapaxes(src, -1, -2)
    # "stored_shape": each tensor is a reshape of the source's.
    if "source_shape" in slot or "stored_shape" in slot:
        src = src.reshape(source)
    if "slice" in slot:
        dim, offset, size = slot["slice"]
        index = [slice(None)] * src.ndim
        index[dim] = slice(offset, offset + size)
        src = src[tuple(index)]
    if "transpose" in slot:
        src = np.transpose(src, slot["transpose"])
    if "pack" in slot:
        dim, panel = slot["pack"]
        n = src.shape[dim]
        padded = -(-n // panel) * panel
        pad = [(0, 0)] * src.ndim
        pad[dim] = (0, padded - n)
        src = np.pad(src, pad)
        shape = list(src.shape)
        shape[dim:dim + 1] = [padded // panel, panel]
        src = np.moveaxis(src.reshape(shape), dim + 1, -1)
    src = np.ascontiguousarray(src)
    if list(src.shape) != list(slot["shape"]):
        raise MoeError(f"slot {slot['name']}: viewed shape {list(src.shape)} "
                       f"is not the manifest's {slot['shape']}")
    if slot["dtype"] == "bf16":
        return f32_to_bf16_bits(src)
    return src


class Library:
    """A compiled library: its manifest and entries."""

    def __init__(self, path):
        self.path = path
        self.lib = ctypes.CDLL(path, mode=ctypes.RTLD_LOCAL)
        manifest = self.lib.moe_module_manifest
        manifest.restype = ctypes.c_char_p
        self.manifest = json.loads(manifest().decode())
        self.target = self.manifest["target"]
        self.error_message = None
        if hasattr(self.lib, "moe_error_message"):
            self.error_message = self.lib.moe_error_message
            self.error_message.restype = ctypes.c_char_p

    def forward_entry(self, name=None):
        entries = [e for e in self.manifest["entries"]
                   if e["kind"] == "forward" and (name is None or
                                                   e["name"] == name)]
        if len(entries) != 1:
            raise MoeError(f"{self.path}: {len(entries)} forward entries "
                           f"match {name!r}")
        return entries[0]

    def why(self, status):
        text = STATUS_NAMES.get(status, f"status {status}")
        if self.error_message is not None:
            detail = self.error_message().decode()
            if detail:
                text += ": " + detail
        return text

    def bind(self, arrays, entry=None, device=0, threads=0):
        """A BoundEntry over `arrays`, one per slot in manifest order, each
        in the slot's bound shape (bf16 slots: uint16 bits)."""
        return BoundEntry(self, self.forward_entry(entry), arrays, device,
                          threads)

    def bind_checkpoint(self, path, entry=None, **kw):
        tensors = read_safetensors(path)
        slots = self.forward_entry(entry)["weights"]
        return self.bind([view_slot(s, tensors) for s in slots], entry, **kw)


class BoundEntry:
    def __init__(self, library, entry, arrays, device, threads):
        self.library, self.entry = library, entry
        self.hidden = entry["hidden"]
        lib = library.lib
        symbols = entry["symbols"]
        self._init = getattr(lib, symbols["init"])
        self._forward = getattr(lib, symbols["forward"])
        self._destroy = getattr(lib, symbols["destroy"])
        self._init.restype = self._forward.restype = ctypes.c_int32
        self._destroy.restype = None
        slots = entry["weights"]
        if len(arrays) != len(slots):
            raise MoeError(f"{len(arrays)} arrays for {len(slots)} slots")
        self.arrays = []  # Kept alive: the CPU state points into them.
        buffers = (WeightBuffer * len(slots))()
        for i, (slot, a) in enumerate(zip(slots, arrays)):
            want = np.uint16 if slot["dtype"] == "bf16" else np.float32
            a = np.ascontiguousarray(a, dtype=want)
            if list(a.shape) != list(slot["shape"]):
                raise MoeError(f"slot {slot['name']}: shape {list(a.shape)}, "
                               f"manifest {slot['shape']}")
            self.arrays.append(a)
            buffers[i].data = a.ctypes.data
            buffers[i].dtype = DTYPE_BF16 if want is np.uint16 else DTYPE_F32
            buffers[i].rank = a.ndim
            for d, n in enumerate(a.shape):
                buffers[i].shape[d] = n
        ctx = Context(abi_version=ABI_VERSION, rank=0, size=1,
                      num_threads=threads)
        if library.target == "cuda":
            ctx.target, ctx.device = TARGET_CUDA, device
        else:
            ctx.target, ctx.device = TARGET_CPU, 0
        self.state = ctypes.c_void_p()
        status = self._init(ctypes.byref(ctx), buffers, len(slots),
                            ctypes.byref(self.state))
        if status != 0:
            raise MoeError(f"init of {entry['name']}: {library.why(status)}")

    def forward(self, x, out=None):
        """Runs the entry on float32 [tokens, hidden]; returns the output
        (into `out` when given: pinned host memory saves copy time)."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.hidden:
            raise MoeError(f"input shape {x.shape}, hidden {self.hidden}")
        if out is None:
            out = np.empty_like(x)
        return self.forward_ptr(x.ctypes.data, out.ctypes.data, x.shape[0],
                                out)

    def forward_bf16(self, x_bits, device_memory=None):
        """Runs the entry with bf16 activations in and out (io_dtype): x_bits
        is uint16 [tokens, hidden] (f32_to_bf16_bits); returns uint16 bits.
        With a DeviceMemory, input and output are device buffers
        (io_on_device): copied there and back by the caller, not the
        library."""
        x_bits = np.ascontiguousarray(x_bits, dtype=np.uint16)
        if x_bits.ndim != 2 or x_bits.shape[1] != self.hidden:
            raise MoeError(f"input shape {x_bits.shape}, hidden {self.hidden}")
        out = np.empty_like(x_bits)
        if device_memory is None:
            return self.forward_ptr(x_bits.ctypes.data, out.ctypes.data,
                                    x_bits.shape[0], out, DTYPE_BF16)
        dev_in = device_memory.upload(x_bits)
        dev_out = device_memory.alloc(out.nbytes)
        try:
            self.forward_ptr(dev_in, dev_out, x_bits.shape[0], None,
                             DTYPE_BF16, on_device=True)
            return device_memory.download(dev_out, out)
        finally:
            device_memory.free(dev_in)
            device_memory.free(dev_out)

    def forward_f32_on_device(self, x, device_memory):
        """forward() with device buffers (io_on_device, f32 I/O)."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        out = np.empty_like(x)
        dev_in = device_memory.upload(x)
        dev_out = device_memory.alloc(out.nbytes)
        try:
            self.forward_ptr(dev_in, dev_out, x.shape[0], None, DTYPE_F32,
                             on_device=True)
            return device_memory.download(dev_out, out)
        finally:
            device_memory.free(dev_in)
            device_memory.free(dev_out)

    def forward_ptr(self, input_ptr, output_ptr, tokens, result=None,
                    io_dtype=DTYPE_F32, on_device=False):
        args = ForwardArgs(struct_size=ctypes.sizeof(ForwardArgs),
                           input=input_ptr, output=output_ptr, tokens=tokens,
                           io_dtype=io_dtype, io_on_device=int(on_device))
        status = self._forward(self.state, ctypes.byref(args))
        if status != 0:
            raise MoeError(f"forward of {self.entry['name']}: "
                           f"{self.library.why(status)}")
        return result

    def close(self):
        if getattr(self, "state", None):
            self._destroy(self.state)
            self.state = ctypes.c_void_p()

    def __del__(self):
        self.close()
