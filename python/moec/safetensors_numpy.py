"""Reads a .safetensors file into numpy arrays with the standard library
alone: for the package, and for scripts that run without it installed
(scripts/demo-reference.py, bench/pytorch_moe.py put this folder on
sys.path). BF16 widens exactly to float32.
"""

import json
import struct

import numpy as np

_DTYPES = {"F32": "<f4", "F16": "<f2", "F64": "<f8", "I32": "<i4", "I64": "<i8", "U8": "u1"}


def read_safetensors(path):
    """name -> numpy array (float32 for BF16), in the file's shapes."""
    data = open(path, "rb").read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    base = 8 + length
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        raw = data[base + begin:base + end]
        if info["dtype"] == "BF16":
            values = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
        elif info["dtype"] in _DTYPES:
            values = np.frombuffer(raw, _DTYPES[info["dtype"]])
        else:
            raise ValueError(f"{path}: tensor {name}: dtype {info['dtype']} is not read here")
        tensors[name] = values.reshape(info["shape"])
    return tensors
