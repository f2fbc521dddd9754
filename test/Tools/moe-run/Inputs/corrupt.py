"""Writes a malformed copy of a safetensors or .npy file, for the moe-run
bad-input tests. Standard library only.

usage: corrupt.py KIND SRC DST
"""
import json
import struct
import sys


def read_safetensors(path):
    data = open(path, "rb").read()
    (length,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + length]), data[8 + length :]


def write_safetensors(path, header, payload, length=None):
    text = json.dumps(header).encode() if isinstance(header, dict) else header
    n = len(text) if length is None else length
    open(path, "wb").write(struct.pack("<Q", n) + text + payload)


def first_tensor(header):
    return sorted(k for k in header if k != "__metadata__")[0]


def main(kind, src, dst):
    if kind == "nan":
        data = bytearray(open(src, "rb").read())
        header_len = struct.unpack("<H", data[8:10])[0]
        data[10 + header_len : 14 + header_len] = struct.pack("<f", float("nan"))
        open(dst, "wb").write(bytes(data))
        return
    if kind == "hidden":
        # A valid float32 array of 5 tokens whose hidden size (7) is wrong.
        header = "{'descr': '<f4', 'fortran_order': False, 'shape': (5, 7), }"
        header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
        body = struct.pack("<35f", *([0.5] * 35))
        open(dst, "wb").write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + body)
        return

    header, payload = read_safetensors(src)
    name = first_tensor(header)
    if kind == "missing":
        del header[name]
    elif kind == "shape":
        count = 1
        for d in header[name]["shape"]:
            count *= d
        header[name]["shape"] = [1, count]
    elif kind == "dtype":
        header[name]["dtype"] = "I32"
    elif kind == "truncated":
        open(dst, "wb").write(open(src, "rb").read()[:5])
        return
    elif kind == "header-length":
        write_safetensors(dst, header, payload, length=10**9)
        return
    elif kind == "offsets":
        begin, end = header[name]["data_offsets"]
        size = end - begin
        header[name]["data_offsets"] = [len(payload), len(payload) + size]
    elif kind == "overlap":
        names = sorted(k for k in header if k != "__metadata__")
        a, b = header[names[0]], header[names[1]]
        # Make b start inside a while keeping its length.
        size = b["data_offsets"][1] - b["data_offsets"][0]
        start = a["data_offsets"][0] + 4
        b["data_offsets"] = [start, start + size]
    elif kind == "not-json":
        write_safetensors(dst, b"{this is not json", payload)
        return
    else:
        sys.exit(f"unknown kind {kind}")
    write_safetensors(dst, header, payload)


if __name__ == "__main__":
    main(*sys.argv[1:])
