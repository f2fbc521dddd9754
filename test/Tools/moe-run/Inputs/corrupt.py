"""Writes a malformed copy of a safetensors or .npy file, a shard set, or a
compiled library with an edited manifest, for the moe-run bad-input tests.
Standard library only.

usage: corrupt.py KIND SRC DST
       corrupt.py npy-big|npy-trailing|npy-rank|npy-dim|npy-length - DST
       corrupt.py shards SRC DIR [swap|dotdot|absolute|drop|fifo]
       corrupt.py manifest LIB.so OUT.so PATH=JSON...
"""
import json
import os
import re
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


def write_npy(path, shape_text, body, length=None):
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }" % shape_text
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    n = len(header) if length is None else length
    open(path, "wb").write(b"\x93NUMPY\x01\x00" + struct.pack("<H", n) + header.encode() + body)


def npy(kind, dst):
    if kind == "npy-big":
        # 1 KiB whose header claims 100000000 x 64 floats (25.6 GB).
        write_npy(dst, "(100000000, 64)", b"\0" * 1024)
    elif kind == "npy-trailing":
        write_npy(dst, "(2, 8)", b"\0" * (16 * 4 + 3))
    elif kind == "npy-rank":
        write_npy(dst, "(" + "1, " * 9 + ")", b"\0" * 4)
    elif kind == "npy-dim":
        write_npy(dst, "(99999999999999999, 0)", b"")
    elif kind == "npy-length":
        write_npy(dst, "(1, 8)", b"\0" * 32, length=60000)
    else:
        sys.exit(f"unknown kind {kind}")


def shards(src, out_dir, mode=None):
    """Splits SRC into two shards and an index in OUT_DIR; MODE breaks the
    index (or the set) in one way."""
    header, payload = read_safetensors(src)
    names = sorted(k for k in header if k != "__metadata__")
    if mode == "drop":
        names = names[1:]
    files = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    os.makedirs(out_dir, exist_ok=True)
    weight_map = {}
    for i, shard in enumerate(files):
        part = {}
        data = b""
        for name in names[i::2]:
            begin, end = header[name]["data_offsets"]
            part[name] = dict(header[name], data_offsets=[len(data), len(data) + end - begin])
            data += payload[begin:end]
            weight_map[name] = shard
        write_safetensors(os.path.join(out_dir, shard), part, data)
    first = names[0]
    if mode == "swap":
        weight_map[first] = files[1]
    elif mode == "dotdot":
        weight_map[first] = "../" + os.path.basename(src)
    elif mode == "absolute":
        weight_map[first] = os.path.abspath(src)
    elif mode == "fifo":
        os.mkfifo(os.path.join(out_dir, "fifo.safetensors"))
        weight_map["extra"] = "fifo.safetensors"
    elif mode not in (None, "drop"):
        sys.exit(f"unknown mode {mode}")
    index = {"metadata": {}, "weight_map": weight_map}
    open(os.path.join(out_dir, "model.safetensors.index.json"), "w").write(json.dumps(index))


def manifest(src, dst, edits):
    """Rewrites the manifest text inside a compiled library in place:
    PATH=JSON sets a value (PATH like entries.0.weights.1.pack), PATH=
    deletes it. The text keeps its length (JSON spaces pad it), so the
    library stays loadable; slots' default "dtype": "f32" is dropped to make
    room."""
    blob = open(src, "rb").read()
    start = blob.index(b'{"entries":')
    end = blob.index(b"\0", start)
    doc = json.loads(blob[start:end])
    for entry in doc["entries"]:
        for slot in entry["weights"]:
            if slot.get("dtype") == "f32":
                del slot["dtype"]
    for edit in edits:
        path, value = edit.split("=", 1)
        keys = [int(k) if re.fullmatch(r"\d+", k) else k for k in path.split(".")]
        target = doc
        for key in keys[:-1]:
            target = target[key]
        if value == "":
            del target[keys[-1]]
        else:
            target[keys[-1]] = json.loads(value)
    text = json.dumps(doc, separators=(",", ":")).encode()
    if len(text) > end - start:
        sys.exit("edited manifest is longer than the original")
    text += b" " * (end - start - len(text))
    open(dst, "wb").write(blob[:start] + text + blob[end:])
    os.chmod(dst, 0o755)


def main(kind, src, dst, *rest):
    if kind.startswith("npy-"):
        npy(kind, dst)
        return
    if kind == "shards":
        shards(src, dst, *rest)
        return
    if kind == "manifest":
        manifest(src, dst, rest)
        return
    if kind in ("nan", "inf"):
        # NaN in token 0; +inf and -inf in token 1 (hidden 8).
        data = bytearray(open(src, "rb").read())
        header_len = struct.unpack("<H", data[8:10])[0]
        if kind == "nan":
            values = {0: float("nan")}
        else:
            values = {8: float("inf"), 9: float("-inf")}
        for i, v in values.items():
            at = 10 + header_len + 4 * i
            data[at : at + 4] = struct.pack("<f", v)
        open(dst, "wb").write(bytes(data))
        return
    if kind == "hidden":
        # A valid float32 array of 5 tokens whose hidden size (7) is wrong.
        write_npy(dst, "(5, 7)", struct.pack("<35f", *([0.5] * 35)))
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
