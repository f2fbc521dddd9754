"""Helpers of the expert-parallel tests under mpirun. Standard library only.

usage: ep.py compare A.npy B.npy TOL        max |a - b| <= TOL, same shape
       ep.py split X.npy N OUT_PREFIX         the token shares of N ranks
       ep.py concat OUT.npy IN.npy...         rows of the inputs, in order
       ep.py drop SRC.safetensors DST NAME    a copy without tensor NAME
       ep.py fault kill|stop RANK TIMEOUT -- MPIRUN ARGS...
           runs the command, and once it has run for a second kills
           (SIGKILL) or stops (SIGSTOP) the rank's process; prints the
           command's stderr, its exit status and whether it ended within
           TIMEOUT seconds
"""
import json
import os
import signal
import struct
import subprocess
import sys
import time


def read_npy(path):
    data = open(path, "rb").read()
    (length,) = struct.unpack("<H", data[8:10])
    header = data[10 : 10 + length].decode()
    shape = tuple(int(v) for v in header.split("'shape': (")[1].split(")")[0].split(",") if v.strip())
    assert "'<f4'" in header, header
    body = data[10 + length :]
    return shape, list(struct.unpack("<%df" % (len(body) // 4), body))


def write_npy(path, shape, values):
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % "".join(
        "%d, " % d for d in shape)
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
        f.write(struct.pack("<%df" % len(values), *values))


def compare(a, b, tol):
    sa, va = read_npy(a)
    sb, vb = read_npy(b)
    assert sa == sb, (sa, sb)
    worst = max((abs(x - y) for x, y in zip(va, vb)), default=0.0)
    print("max |diff| %.3g over %d values: %s" % (worst, len(va), "ok" if worst <= float(tol) else "FAIL"))
    return 0 if worst <= float(tol) else 1


def split(path, ranks, prefix):
    (tokens, hidden), values = read_npy(path)
    ranks = int(ranks)
    first = 0
    for r in range(ranks):
        count = tokens // ranks + (1 if r < tokens % ranks else 0)
        write_npy("%s%d.npy" % (prefix, r), (count, hidden), values[first * hidden : (first + count) * hidden])
        first += count
    return 0


def concat(out, inputs):
    rows, hidden, values = 0, None, []
    for path in inputs:
        (t, h), v = read_npy(path)
        rows, hidden = rows + t, h
        values += v
    write_npy(out, (rows, hidden), values)
    return 0


def drop(src, dst, name):
    data = open(src, "rb").read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    del header[name]
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    open(dst, "wb").write(struct.pack("<Q", len(text)) + text + data[8 + length :])
    return 0


def rank_pid(root, rank):
    """The pid of the descendant of `root` that MPI started as `rank`."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            environ = open("/proc/%s/environ" % pid, "rb").read().split(b"\0")
            stat = open("/proc/%s/stat" % pid).read()
        except OSError:
            continue
        if b"OMPI_COMM_WORLD_RANK=%d" % rank not in environ:
            continue
        if b"MOE_FAULT_TEST=%d" % root in environ and "moe-run" in stat:
            return int(pid)
    return None


def fault(how, rank, timeout, command):
    env = dict(os.environ, MOE_FAULT_TEST=str(os.getpid()))
    start = time.monotonic()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    time.sleep(1.0)
    pid = None
    while pid is None and time.monotonic() - start < 30 and proc.poll() is None:
        pid = rank_pid(os.getpid(), int(rank))
        time.sleep(0.1)
    if pid is None:
        proc.kill()
        print("no process of rank %s found" % rank)
        return 1
    os.kill(pid, signal.SIGKILL if how == "kill" else signal.SIGSTOP)
    try:
        _, err = proc.communicate(timeout=float(timeout))
        ended = True
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        ended = False
    if how == "stop":
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    sys.stdout.write(err.decode(errors="replace"))
    print("exit status %s; ended within %s s: %s" % (proc.returncode, timeout, ended))
    return 0


def main(argv):
    kind = argv[1]
    if kind == "compare":
        return compare(*argv[2:5])
    if kind == "split":
        return split(*argv[2:5])
    if kind == "concat":
        return concat(argv[2], argv[3:])
    if kind == "drop":
        return drop(*argv[2:5])
    if kind == "fault":
        sep = argv.index("--")
        return fault(argv[2], argv[3], argv[4], argv[sep + 1 :])
    raise SystemExit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
