#!/usr/bin/env python3
"""Checks the PTX of GPU kernels with ptxas, the cheapest guard of kernel
quality without a GPU.

Reads .ptx files (a `moe-compile --emit=ptx` file holds several modules,
each after a `// kernel module NAME` line) or MLIR text holding
`gpu.binary` ops whose objects carry PTX (`assembly = "..."`, from
gpu-module-to-binary format=isa), runs
`ptxas -v -arch=<arch>` on each, and prints one line per kernel:

  kernel <name>: <N> registers, <B> bytes smem, <S> bytes spill stores, <L> bytes spill loads

It fails (exit 1) on any spill, on any ptxas note or warning of wgmma
serialisation (C7517/C7519/C75xx) and on any ptxas error, printing
ptxas's own lines. `--require PATTERN` (repeatable) fails unless the PTX
contains PATTERN (e.g. `wgmma.mma_async`, `cp.async.bulk.tensor`); with
`--dump DIR` the PTX files are written there.

ptxas is looked up on PATH, then under $CUDA_HOME, $CUDA_PATH, $CUDA_ROOT
and /usr/local/cuda.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile


def find_ptxas():
    found = shutil.which("ptxas")
    if found:
        return found
    for var in ("CUDA_HOME", "CUDA_PATH", "CUDA_ROOT"):
        root = os.environ.get(var)
        if root and os.path.exists(os.path.join(root, "bin", "ptxas")):
            return os.path.join(root, "bin", "ptxas")
    if os.path.exists("/usr/local/cuda/bin/ptxas"):
        return "/usr/local/cuda/bin/ptxas"
    return None


def unescape_mlir_string(text):
    """MLIR prints non-printable bytes of a string attribute as \\XX."""
    out = bytearray()
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt in "\\\"":
                out.append(ord(nxt))
                i += 2
                continue
            if re.match(r"[0-9A-Fa-f]{2}", text[i + 1:i + 3]):
                out.append(int(text[i + 1:i + 3], 16))
                i += 3
                continue
        out.extend(c.encode())
        i += 1
    return out.decode()


def ptx_from_mlir(text):
    """Each PTX object of each gpu.binary: (name, ptx)."""
    found = []
    for match in re.finditer(r'gpu\.binary @(\w+)', text):
        start = match.end()
        end = text.find("gpu.binary @", start)
        chunk = text[start:end if end >= 0 else len(text)]
        for n, obj in enumerate(re.finditer(r'assembly = "((?:[^"\\]|\\.)*)"',
                                            chunk)):
            found.append(("%s_%d" % (match.group(1), n),
                          unescape_mlir_string(obj.group(1))))
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inputs", nargs="+",
                        help=".ptx files or MLIR with gpu.binary ops ('-': stdin)")
    parser.add_argument("--arch", required=True, help="e.g. sm_90a, sm_80")
    parser.add_argument("--require", action="append", default=[],
                        help="text the PTX must contain")
    parser.add_argument("--dump", help="write the PTX files here")
    args = parser.parse_args()

    ptxas = find_ptxas()
    if not ptxas:
        print("check-ptx: error: ptxas not found (PATH, CUDA_HOME, /usr/local/cuda)",
              file=sys.stderr)
        return 1
    sources = []
    for path in args.inputs:
        text = sys.stdin.read() if path == "-" else open(path).read()
        if path.endswith(".ptx") or path == "-" and ".version" in text[:2000] \
                and "gpu.binary" not in text:
            name = os.path.splitext(os.path.basename(path))[0]
            # `moe-compile --emit=ptx` writes every kernel module, each after
            # a `// kernel module NAME` line.
            parts = re.split(r"^// kernel module (\w+)\n", text, flags=re.M)
            if len(parts) > 1:
                sources.extend(zip(parts[1::2], parts[2::2]))
            else:
                sources.append((name, text))
        else:
            sources.extend(ptx_from_mlir(text))
    if not sources:
        print("check-ptx: error: no PTX in the input", file=sys.stderr)
        return 1

    failed = False
    all_ptx = "\n".join(ptx for _, ptx in sources)
    for pattern in args.require:
        if pattern not in all_ptx:
            print("check-ptx: error: the PTX has no '%s'" % pattern)
            failed = True
    with tempfile.TemporaryDirectory() as tmp:
        for name, ptx in sources:
            path = os.path.join(args.dump or tmp, name + ".ptx")
            if args.dump:
                os.makedirs(args.dump, exist_ok=True)
            with open(path, "w") as f:
                f.write(ptx)
            run = subprocess.run(
                [ptxas, "-v", "-arch=" + args.arch, "-o", os.path.join(tmp, name + ".cubin"),
                 path], capture_output=True, text=True)
            log = run.stdout + run.stderr
            if run.returncode != 0:
                print("check-ptx: error: ptxas failed on %s:\n%s" % (name, log))
                failed = True
                continue
            kernel = None
            for line in log.splitlines():
                m = re.search(r"Compiling entry function '(\w+)'", line)
                if m:
                    kernel = m.group(1)
                    regs = smem = stores = loads = 0
                m = re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", line)
                if m:
                    stores, loads = int(m.group(1)), int(m.group(2))
                m = re.search(r"Used (\d+) registers", line)
                if m and kernel:
                    regs = int(m.group(1))
                    s = re.search(r"(\d+) bytes smem", line)
                    smem = int(s.group(1)) if s else 0
                    print("kernel %s: %d registers, %d bytes smem, %d bytes spill "
                          "stores, %d bytes spill loads" % (kernel, regs, smem, stores, loads))
                    if stores or loads:
                        print("check-ptx: error: %s spills registers" % kernel)
                        failed = True
                if re.search(r"C75\d\d", line) or "warning" in line.lower():
                    print("check-ptx: error: ptxas: " + line.strip())
                    failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
