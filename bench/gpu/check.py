"""check.py - the GPU correctness checks of bench/gpu/run.sh.

For each tiny family in the bundle (.gpu-bundle/bundle.json) and each
library built for it:
  * accuracy: the output on the carried input against the reference the
    CPU library computed here from the same bf16 weights (TOKEN_TOLERANCE
    below says why that tolerance);
  * batch invariance: each of a few tokens run alone (1 token) gives the
    same bits as in a batch of 4096 tokens;
  * determinism: two runs of the 4096-token batch give identical bytes;
  * bf16-io: bf16 activations in and out (io_dtype): the output is, bit
    for bit, the f32 run on the bf16-rounded input rounded to bf16 (the
    conversions are exact widening and one rounding to nearest even), and
    within TOKEN_TOLERANCE of the reference like the f32 output (the input
    rounding adds a relative 2^-9);
  * io-on-device (CUDA libraries): device pointers (io_on_device, buffers
    from cuMemAlloc) give the host-pointer run's bits, f32 and bf16.
Writes one JSON record per check to --json and prints one line per check
("check: NAME: ok|FAILED|skipped ..."); keeps going after a failure and
exits 1 if any check failed.
"""
import argparse
import json
import os
import sys
import time
import traceback

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import moelib  # noqa: E402

# The GPU kernels round the gathered activations and the SwiGLU product to
# bf16 before each tensor-core GEMM (f32 accumulation); the CPU reference
# keeps them f32. Both see the same bf16 weights. Each rounding is a
# relative 2^-9; summed over the depth the output's error is a few 1e-3
# per token, so a token's relative L2 error above TOKEN_TOLERANCE is a bug.
# A token whose top-k is a near tie may pick another expert on the GPU
# (router logits summed in another order): at most TIE_FRACTION of the
# tokens may exceed the tolerance, and their number is reported.
TOKEN_TOLERANCE = 1.5e-2
MEDIAN_TOLERANCE = 5e-3
TIE_FRACTION = 0.005
INVARIANCE_TOKENS = 4096
INVARIANCE_PROBES = (0, 1, 777, 2048, 4095)


def log(msg):
    print(time.strftime("%H:%M:%S"), msg, flush=True)


def token_errors(y, ref):
    diff = np.linalg.norm((y - ref).astype(np.float64), axis=1)
    norm = np.linalg.norm(ref.astype(np.float64), axis=1)
    return diff / np.maximum(norm, 1e-30)


def check_accuracy(entry, x, ref):
    y = entry.forward(x)
    if not np.all(np.isfinite(y)):
        return False, {"why": "non-finite output"}
    err = token_errors(y, ref)
    over = int(np.sum(err > TOKEN_TOLERANCE))
    allowed = int(np.ceil(TIE_FRACTION * len(err)))
    info = {"tokens": len(err), "max_token_rel_l2": float(err.max()),
            "median_token_rel_l2": float(np.median(err)),
            "tokens_over_tolerance": over, "allowed_over": allowed,
            "token_tolerance": TOKEN_TOLERANCE,
            "max_abs_diff": float(np.abs(y - ref).max())}
    ok = over <= allowed and info["median_token_rel_l2"] <= MEDIAN_TOLERANCE
    return ok, info


def check_invariance(entry, big):
    y_big = entry.forward(big)
    mismatched = []
    for t in INVARIANCE_PROBES:
        y_one = entry.forward(big[t:t + 1])
        if y_one.tobytes() != y_big[t:t + 1].tobytes():
            mismatched.append(t)
    return not mismatched, {"batch": len(big), "probes": list(INVARIANCE_PROBES),
                            "mismatched": mismatched}, y_big


def check_determinism(entry, big, first):
    again = entry.forward(big)
    same = again.tobytes() == first.tobytes()
    return same, {"batch": len(big),
                  "differing_elements": int(np.sum(again != first))}


def check_bf16_io(entry, x, ref):
    xb = moelib.f32_to_bf16_bits(x)
    yb = entry.forward_bf16(xb)
    expected = moelib.f32_to_bf16_bits(
        entry.forward(moelib.bf16_bits_to_f32(xb)))
    y = moelib.bf16_bits_to_f32(yb)
    err = token_errors(y, ref)
    over = int(np.sum(err > TOKEN_TOLERANCE))
    allowed = int(np.ceil(TIE_FRACTION * len(err)))
    differing = int(np.sum(yb != expected))
    info = {"tokens": len(err), "max_token_rel_l2": float(err.max()),
            "median_token_rel_l2": float(np.median(err)),
            "tokens_over_tolerance": over, "allowed_over": allowed,
            "token_tolerance": TOKEN_TOLERANCE,
            "differing_from_rounded_f32_run": differing}
    ok = (differing == 0 and over <= allowed and
          info["median_token_rel_l2"] <= MEDIAN_TOLERANCE)
    return ok, info


def check_on_device(entry, x, device_memory):
    host = entry.forward(x)
    dev = entry.forward_f32_on_device(x, device_memory)
    xb = moelib.f32_to_bf16_bits(x)
    host_b = entry.forward_bf16(xb)
    dev_b = entry.forward_bf16(xb, device_memory)
    info = {"tokens": len(x),
            "f32_differing_elements": int(np.sum(host != dev)),
            "bf16_differing_elements": int(np.sum(host_b != dev_b))}
    return host.tobytes() == dev.tobytes() and \
        host_b.tobytes() == dev_b.tobytes(), info


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default=".gpu-bundle")
    parser.add_argument("--json", required=True)
    parser.add_argument("--device", type=int, default=0)
    parser.add_argument("--arch", action="append",
                        help="only libraries of this arch (default: all)")
    parser.add_argument("--deadline", type=float, default=150,
                        help="seconds; later checks are skipped")
    args = parser.parse_args()
    start = time.time()
    with open(os.path.join(args.bundle, "bundle.json")) as f:
        bundle = json.load(f)
    records, failed = [], False

    def record(name, ok, info):
        nonlocal failed
        status = "skipped" if ok is None else ("ok" if ok else "FAILED")
        failed |= ok is False
        records.append({"check": name, "status": status, **info})
        log(f"check: {name}: {status} {json.dumps(info)}")
        with open(args.json, "w") as f:
            json.dump({"checks": records}, f, indent=1)

    rng = np.random.default_rng(15)
    device_memory = None
    for family in bundle["tiny"]:
        data = os.path.join(args.bundle, family["data"])
        x = np.load(os.path.join(data, "x.npy"))
        ref = np.load(os.path.join(data, "y_ref.npy"))
        big = rng.standard_normal((INVARIANCE_TOKENS, x.shape[1]),
                                  dtype=np.float32)
        for lib in family["libraries"]:
            if args.arch and lib["arch"] not in args.arch:
                continue
            tag = f"{family['name']}.{lib['arch']}"
            if time.time() - start > args.deadline:
                record(tag, None, {"why": "time box"})
                continue
            try:
                library = moelib.Library(os.path.join(args.bundle, lib["path"]))
                entry = library.bind_checkpoint(
                    os.path.join(data, "weights.safetensors"),
                    device=args.device)
            except Exception as e:  # Keep going: report and move on.
                record(f"{tag}.bind", False, {"why": str(e)})
                continue
            for name, run in (("accuracy", lambda: check_accuracy(entry, x, ref)),
                              ("bf16-io", lambda: check_bf16_io(entry, x, ref)),
                              ("batch-invariance",
                               lambda: check_invariance(entry, big))):
                try:
                    ok, info, *rest = run()
                    record(f"{tag}.{name}", ok, info)
                except Exception as e:
                    record(f"{tag}.{name}", False,
                           {"why": str(e), "trace": traceback.format_exc(-1)})
                    rest = None
            try:
                if rest:
                    ok, info = check_determinism(entry, big, rest[0])
                    record(f"{tag}.determinism", ok, info)
            except Exception as e:
                record(f"{tag}.determinism", False, {"why": str(e)})
            if library.target == "cuda":
                try:
                    if device_memory is None:
                        device_memory = moelib.DeviceMemory(args.device)
                    ok, info = check_on_device(entry, x, device_memory)
                    record(f"{tag}.io-on-device", ok, info)
                except Exception as e:
                    record(f"{tag}.io-on-device", False, {"why": str(e)})
            entry.close()
    log(f"checks: {sum(r['status'] == 'ok' for r in records)} ok, "
        f"{sum(r['status'] == 'FAILED' for r in records)} failed, "
        f"{sum(r['status'] == 'skipped' for r in records)} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
