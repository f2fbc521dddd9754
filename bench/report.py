"""Ratios for the moec benchmark.

record: one shape's measurements into a JSON line, with
  roofline_ms = max(active FLOPs / sgemm rate, bytes of touched weights /
                    read bandwidth)
  active FLOPs = 2·T·H·E (router) + 6·T·K·H·F (experts) + 6·T·H·Fs (shared)
  touched bytes = 4·(E·H + 3·H·F·experts_with_tokens + 3·H·Fs)
table: a Markdown table of every recorded shape.
"""
import argparse
import json
import sys

import numpy as np


def record(args):
    moec = json.load(open(args.moec))
    roof = {**json.loads(args.sgemm), **json.loads(args.read)}
    torch = json.loads(args.torch)
    load = [int(v) for v in args.load.split()]
    T, E, K, H, F, Fs = args.tokens, args.experts, args.top_k, args.hidden, args.ffn, args.shared
    touched = sum(1 for v in load if v > 0)
    flops = 2 * T * H * E + 6 * T * K * H * F + 6 * T * H * Fs
    weight_bytes = 4 * (E * H + 3 * H * F * touched + 3 * H * Fs)
    compute_ms = flops / (roof["sgemm_gflops"] * 1e9) * 1e3
    memory_ms = weight_bytes / (roof["read_gbps"] * 1e9) * 1e3
    roofline_ms = max(compute_ms, memory_ms)
    y_moec = np.load(args.moec_output)
    y_torch = np.load(args.torch_output)
    agreement = float(np.max(np.abs(y_moec - y_torch)) / max(np.max(np.abs(y_torch)), 1e-30))
    row = {
        "shape": args.shape, "tokens": T, "experts": E, "top_k": K, "hidden": H,
        "ffn": F, "shared_ffn": Fs, "experts_touched": touched,
        "gflop": flops / 1e9, "weight_mb": weight_bytes / 1e6,
        "sgemm_gflops": roof["sgemm_gflops"], "sgemm_shape": roof["sgemm_shape"],
        "read_gbps": roof["read_gbps"], "roofline_ms": roofline_ms,
        "bound": "compute" if compute_ms >= memory_ms else "memory",
        "moec_ms": moec["median_ms"], "torch_ms": torch["median_ms"],
        "torch_version": torch["torch"],
        "moec_vs_roofline": moec["median_ms"] / roofline_ms,
        "torch_vs_roofline": torch["median_ms"] / roofline_ms,
        "torch_over_moec": torch["median_ms"] / moec["median_ms"],
        "moec_vs_torch_max_rel_diff": agreement,
    }
    with open(args.results, "a") as out:
        out.write(json.dumps(row) + "\n")


def table(args):
    rows = [json.loads(line) for line in open(args.results)]
    print(f"\n{args.threads} threads; time = median; roofline = max(active FLOPs at the "
          "sgemm rate, touched expert weights at the read bandwidth)\n")
    print("| shape | T | GFLOP | weights MB | bound | sgemm GFLOP/s | read GB/s | roofline ms "
          "| moec ms | moec / roofline | PyTorch ms | PyTorch / roofline | PyTorch / moec | max rel diff |")
    print("|" + " --- |" * 14)
    for r in rows:
        print(f"| {r['shape']} | {r['tokens']} | {r['gflop']:.2f} | {r['weight_mb']:.0f} | {r['bound']} "
              f"| {r['sgemm_gflops']:.1f} | {r['read_gbps']:.1f} | {r['roofline_ms']:.2f} "
              f"| {r['moec_ms']:.2f} | {r['moec_vs_roofline']:.2f} | {r['torch_ms']:.2f} "
              f"| {r['torch_vs_roofline']:.2f} | {r['torch_over_moec']:.2f} "
              f"| {r['moec_vs_torch_max_rel_diff']:.1e} |")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["record", "table"])
    parser.add_argument("--results")
    parser.add_argument("--shape")
    for flag in ("--tokens", "--experts", "--top-k", "--hidden", "--ffn", "--shared", "--threads"):
        parser.add_argument(flag, type=int)
    for flag in ("--load", "--moec", "--sgemm", "--read", "--torch", "--moec-output", "--torch-output"):
        parser.add_argument(flag)
    args = parser.parse_args()
    record(args) if args.mode == "record" else table(args)


if __name__ == "__main__":
    sys.exit(main())
