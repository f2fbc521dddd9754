"""Token ids and expert tables for the moe-run tests of routing by token id.
Standard library only.

usage: token_ids.py check-table W.safetensors NAME EXPERTS
       token_ids.py bad-table W.safetensors NAME OUT.safetensors
       token_ids.py ids IDS.npy OUT.npy int64|int32 [VALUE]
       token_ids.py check-ids IDS.npy ROWS TOKENS
"""
import ast
import json
import struct
import sys


def read_safetensors(path):
    data = open(path, "rb").read()
    (length,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + length]), data[8 + length :], length


def read_npy(path):
    data = open(path, "rb").read()
    assert data[:6] == b"\x93NUMPY", path
    (length,) = struct.unpack("<H", data[8:10])
    header = ast.literal_eval(data[10 : 10 + length].decode())
    return header, data[10 + length :]


def write_npy(path, descr, values):
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (%d,), }" % (
        descr,
        len(values),
    )
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    fmt = "<%d%s" % (len(values), "q" if descr == "<i8" else "i")
    payload = struct.pack(fmt, *values)
    open(path, "wb").write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + payload)


def table_rows(header, payload, name):
    info = header[name]
    assert info["dtype"] == "I32", info
    rows, columns = info["shape"]
    begin, end = info["data_offsets"]
    values = struct.unpack("<%di" % (rows * columns), payload[begin:end])
    return [values[r * columns : (r + 1) * columns] for r in range(rows)]


def main(argv):
    kind = argv[1]
    if kind == "check-table":
        header, payload, _ = read_safetensors(argv[2])
        experts = int(argv[4])
        rows = table_rows(header, payload, argv[3])
        for row in rows:
            assert len(set(row)) == len(row), row
            assert all(0 <= e < experts for e in row), row
        # Random, not one row repeated.
        assert len(set(rows)) > 1, rows
        print("table ok: %d rows of %d distinct experts" % (len(rows), len(rows[0])))
    elif kind == "bad-table":
        header, payload, length = read_safetensors(argv[2])
        begin = header[argv[3]]["data_offsets"][0]
        payload = payload[:begin] + struct.pack("<i", 4) + payload[begin + 4 :]
        text = json.dumps(header).encode()
        open(argv[4], "wb").write(struct.pack("<Q", len(text)) + text + payload)
    elif kind == "ids":
        header, payload = read_npy(argv[2])
        assert header["descr"] == "<i4", header
        values = list(struct.unpack("<%di" % (len(payload) // 4), payload))
        if len(argv) > 5:
            values[-1] = int(argv[5])
        write_npy(argv[3], "<i8" if argv[4] == "int64" else "<i4", values)
    elif kind == "check-ids":
        header, payload = read_npy(argv[2])
        assert header["descr"] == "<i4" and header["shape"] == (int(argv[4]),), header
        values = struct.unpack("<%di" % (len(payload) // 4), payload)
        assert all(0 <= v < int(argv[3]) for v in values), values
        print("ids ok: %d in [0, %s)" % (len(values), argv[3]))
    else:
        sys.exit("unknown kind " + kind)


main(sys.argv)
