"""Expert-parallel scaling of DeepSeek-V3 as the cost model predicts it.

Runs `moe-plan cost` for one DeepSeek-V3 MoE layer
(examples/configs/deepseek-v3: hidden 7168, 256 experts of 2048, top-8,
one shared expert, top-4-of-8 group-limited routing) at EP 8 to 256, 8 GPUs
per node (NVLink inside, InfiniBand across), H800 compute, bf16 rows, for
prefill (4096 tokens per rank) and decode (128), and prints:
  * the scaling table (Markdown);
  * the model beside DeepEP's published H800 figures (github.com/
    deepseek-ai/DeepEP, docs/legacy.md), with DeepEP's traffic: FP8
    dispatch (7168 bytes + 56 f32 scales = 1.03125 bytes an element), BF16
    combine; normal kernels deduplicate per destination, low-latency
    kernels send one row per (token, expert);
and draws predicted tokens/s and exchange time against ranks into
bench/ep-scaling.png.

  /usr/bin/python3 bench/ep_scale.py [--moe-plan build/bin/moe-plan] [--png PATH]

Needs Debian's python3-matplotlib (bench/install-deps.sh) for the plot.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, "examples", "configs", "deepseek-v3", "config.json")
EP_SIZES = [8, 16, 32, 64, 128, 256]
FP8_ROW = 1 + 4 / 128  # bytes per element: e4m3 and one f32 scale per 128

# DeepEP on H800, docs/legacy.md (V1): normal kernels, 4096 tokens, top-4
# groups, top-8 experts: bottleneck bandwidth GB/s (dispatch, combine).
DEEPEP_NORMAL = {8: ("NVLink", 153, 158), 16: ("RDMA", 43, 43),
                 32: ("RDMA", 58, 57), 64: ("RDMA", 51, 50)}
# Low-latency kernels, 128 tokens, top-8: (dispatch us, GB/s, combine us,
# GB/s).
DEEPEP_LOW_LATENCY = {8: (77, 98, 114, 127), 16: (118, 63, 195, 74),
                      32: (155, 48, 273, 53), 64: (173, 43, 314, 46),
                      128: (192, 39, 369, 39), 256: (194, 39, 360, 40)}


def moe_plan(binary, *args):
    """Runs `moe-plan cost` with the common arguments; returns its JSON."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "cost.json")
        command = [binary, "cost", "--config", CONFIG, "--ranks-per-node", "8",
                   "--intra", "nvlink", "--inter", "infiniband",
                   "--compute", "h800", "--json", path, *args]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        with open(path) as f:
            return json.load(f)


def slowest(result):
    return result["ranks"][result["slowest_rank"]]


def fmt_bytes(value):
    for unit in ["B", "kB", "MB", "GB", "TB"]:
        if value < 999.5:
            return f"{value:.3g} {unit}"
        value /= 1000
    return f"{value:.3g} PB"


def fmt_time(seconds):
    if seconds == 0:
        return "0"
    if seconds < 999.5e-6:
        return f"{seconds * 1e6:.3g} us"
    if seconds < 0.9995:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds:.3g} s"


def fmt_count(value):
    for unit in ["", "k", "M", "G"]:
        if value < 999.5:
            return f"{value:.3g}{unit}"
        value /= 1000
    return f"{value:.3g}T"


def scaling(binary, tokens):
    plain = moe_plan(binary, "--ep-sizes", ",".join(map(str, EP_SIZES)),
                     "--tokens-per-rank", str(tokens), "--activation-bytes", "2")
    dedup = moe_plan(binary, "--ep-sizes", ",".join(map(str, EP_SIZES)),
                     "--tokens-per-rank", str(tokens), "--activation-bytes", "2",
                     "--dedup")
    return plain, dedup


def scaling_table(name, tokens, plain, dedup):
    lines = [f"{name}, {tokens} tokens per rank (bf16 rows; the slowest rank; "
             "chunks chosen by the model):", "",
             "| ranks | chunks | sent / rank | of it inter-node | exchange | "
             "compute | hidden | layer | tokens/s | tokens/s with dedup |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r, d in zip(plain["results"], dedup["results"]):
        s = slowest(r)
        sent = s["dispatch_bytes_sent"] + s["combine_bytes_sent"]
        lines.append(
            f"| {r['ep_size']} | {r['chunks']} | {fmt_bytes(sent)} | "
            f"{fmt_bytes(s['inter_bytes_sent'])} | {fmt_time(s['exchange_s'])} | "
            f"{fmt_time(s['compute_s'])} | {fmt_time(s['hidden_s'])} | "
            f"{fmt_time(r['layer_s'])} | {fmt_count(r['tokens_per_s'])} | "
            f"{fmt_count(d['tokens_per_s'])} |")
    return lines


def deepep_tables(binary):
    lines = []
    # Normal kernels: deduplicated FP8 dispatch, BF16 combine, group-limited
    # routing from the config; DeepEP counts the bytes a rank receives, its
    # own tokens included.
    normal = moe_plan(binary, "--ep-sizes", ",".join(map(str, DEEPEP_NORMAL)),
                      "--tokens-per-rank", "4096", "--dedup", "--chunks", "1",
                      "--activation-bytes", str(FP8_ROW), "--combine-bytes", "2")
    lines += ["Normal kernels (4096 tokens per rank, deduplicated per "
              "destination rank, group-limited routing): DeepEP's bottleneck "
              "bandwidth beside the model's link, and the dispatch time of "
              "the tokens a rank receives (its own included, as DeepEP counts "
              "them over NVLink) at DeepEP's rate beside the model's time. "
              "Across nodes DeepEP sends a token once per node and forwards "
              "it over NVLink, which the model does not represent: no time "
              "to compare there.", "",
              "| EP | link | DeepEP dispatch / combine | model link | "
              "tokens received per rank (model) | dispatch at DeepEP's rate | "
              "model dispatch |",
              "| ---: | --- | ---: | ---: | ---: | ---: | ---: |"]
    hidden = normal["layer"]["hidden"]
    for result in normal["results"]:
        n = result["ep_size"]
        kind, d_bw, c_bw = DEEPEP_NORMAL[n]
        rank = slowest(result)
        received = rank["tokens_received"] + rank["tokens_local"]
        model_bw = normal["topology"]["intra" if n <= 8 else "inter"]["bandwidth"]
        deepep_time = received * hidden * FP8_ROW / (d_bw * 1e9)
        model_time = (rank["dispatch_s"] + rank["count_s"] +
                      2 * rank["step_latency_s"])
        if n > 8:
            deepep_time = None  # DeepEP counts per-node RDMA tokens here
        lines.append(
            f"| {n} | {kind} | {d_bw} / {c_bw} GB/s | {model_bw / 1e9:.0f} GB/s | "
            f"{received:.0f} | "
            f"{fmt_time(deepep_time) if deepep_time else '-'} | "
            f"{fmt_time(model_time)} |")
    # Low-latency kernels: one row per (token, expert), no dedup; DeepEP
    # counts all k rows, local ones included.
    low = moe_plan(binary, "--ep-sizes", ",".join(map(str, DEEPEP_LOW_LATENCY)),
                   "--tokens-per-rank", "128", "--chunks", "1",
                   "--activation-bytes", str(FP8_ROW), "--combine-bytes", "2")
    lines += ["", "Low-latency kernels (128 tokens per rank, top-8, one row per "
              "(token, expert)); bandwidth as DeepEP counts it, 128 x 8 rows "
              "over the time:", "",
              "| EP | DeepEP dispatch | model dispatch | model / DeepEP | DeepEP combine | "
              "model combine | model / DeepEP | dispatch GB/s, DeepEP / model |",
              "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    top_k = low["layer"]["top_k"]
    for result in low["results"]:
        n = result["ep_size"]
        d_us, d_bw, c_us, c_bw = DEEPEP_LOW_LATENCY[n]
        rank = slowest(result)
        step = rank["step_latency_s"]
        dispatch = rank["dispatch_s"] + rank["count_s"] + 2 * step
        combine = rank["combine_s"] + step
        logical = 128 * top_k * hidden * FP8_ROW
        lines.append(
            f"| {n} | {d_us} us | {fmt_time(dispatch)} | "
            f"{dispatch / (d_us * 1e-6):.2f} | {c_us} us | {fmt_time(combine)} | "
            f"{combine / (c_us * 1e-6):.2f} | {d_bw} / {logical / dispatch / 1e9:.0f} |")
    return lines


def plot(path, prefill, decode):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for (name, data), marker, color in zip(
            [("prefill, 4096 tokens/rank", prefill),
             ("decode, 128 tokens/rank", decode)], ["o", "s"], ["C0", "C1"]):
        ranks = [r["ep_size"] for r in data["results"]]
        left.plot(ranks, [r["tokens_per_s"] for r in data["results"]],
                  marker + "-", color=color, label=name)
        right.plot(ranks, [slowest(r)["exchange_s"] * 1e3
                           for r in data["results"]], marker + "-",
                   color=color, label=f"exchange, {name}")
        right.plot(ranks, [slowest(r)["compute_s"] * 1e3
                           for r in data["results"]], marker + ":",
                   color=color, markerfacecolor="none",
                   label=f"compute, {name}")
    for axis in (left, right):
        axis.set_xscale("log", base=2)
        axis.set_yscale("log")
        axis.set_xticks(EP_SIZES)
        axis.set_xticklabels([str(n) for n in EP_SIZES])
        axis.set_xlabel("ranks (8 per node: NVLink inside, InfiniBand across)")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=8)
    left.set_ylabel("predicted tokens/s (one MoE layer)")
    right.set_ylabel("ms (slowest rank)")
    left.set_title("DeepSeek-V3 MoE layer on H800s: throughput")
    right.set_title("exchange (dispatch + combine) and compute")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moe-plan", default=os.path.join(ROOT, "build", "bin",
                                                           "moe-plan"))
    parser.add_argument("--png", default=os.path.join(ROOT, "bench",
                                                      "ep-scaling.png"))
    args = parser.parse_args()
    if not os.access(args.moe_plan, os.X_OK):
        sys.exit(f"ep_scale.py: error: {args.moe_plan}: not built "
                 "(ninja -C build moe-plan)")
    prefill, prefill_dedup = scaling(args.moe_plan, 4096)
    decode, decode_dedup = scaling(args.moe_plan, 128)
    lines = scaling_table("Prefill", 4096, prefill, prefill_dedup)
    lines += [""] + scaling_table("Decode", 128, decode, decode_dedup)
    lines += [""] + deepep_tables(args.moe_plan)
    print("\n".join(lines))
    plot(args.png, prefill, decode)
    print(f"\n(plot: {os.path.relpath(args.png, ROOT)})", file=sys.stderr)


if __name__ == "__main__":
    main()
