"""Expert parallelism under mpirun on this machine, beside the cost model.

For a Mixtral-style and a DeepSeek-style bench layer (bench/configs), at a
prefill-like (512) and a decode-like (16) token count, compiles the layer
for 1, 2 and 4 ranks (contiguous placement; 1 and 2 chunks), runs each
under mpirun with one thread a rank, several launches interleaved round by
round (the machine is shared: drifting load then hits every case alike),
and takes the median over launches of the slowest rank's median forward
time, with the spread (min-max over launches). It also times the exchange
alone (bench/ep_alltoall.c: MPI_Ialltoallv completed as moec's
communicator completes it) at 2 and 4 ranks, fits a link (latency per
step, bandwidth per rank) to it, and tests whether MPI moves bytes while a
rank computes without calling it (the overlap test).

Then `moe-plan cost` predicts each case twice:
  * "preset": the `shm` link preset, one core per rank;
  * "calibrated": the measured link, the input's measured routing (moe-run
    --stats-json), and each rank the share of a core
    that busy processes launched as the ranks are get, against one such
    process (2 and 4 ranks on 2 cores are oversubscribed, and on a shared
    machine Linux's autogroup gives a session's processes together a fair
    share, not a core each);
both with a `cpu` compute model at moec's own one-rank rate on this layer
(FLOP/s from the one-rank prefill run, weight-read bandwidth from the
one-rank decode run), so the one-rank rows agree by construction and the
others test the scaling and the exchange. Prints Markdown tables and writes
every figure to build/bench/ep_mpi.json.

  ninja -C build moe-translate moe-compile moe-run moe-plan
  nice /usr/bin/python3 bench/ep_mpi.py [--launches 5] [--cores 2]

Needs OpenMPI's mpirun and mpicc, and NumPy (bench/install-deps.sh) for the
check that every rank count gives the one-rank output.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MPIRUN = ["mpirun", "--oversubscribe", "--allow-run-as-root", "--bind-to",
          "none"]
# config folder under bench/configs, what it is
LAYERS = [("mixtral-bench", "Mixtral-style: H 1024, 8 experts of 3584, top-2"),
          ("deepseek-bench", "DeepSeek-style: H 1024, 64 experts of 512, "
           "top-6, shared 512")]
PHASES = [("prefill", 512), ("decode", 16)]
# ranks, chunks
CASES = [(1, 1), (2, 1), (2, 2), (4, 1), (4, 2)]
# Bytes per peer of the link calibration: the layers' exchanges lie between
# (decode, 4 ranks: a few rows of 4 kB) and (prefill, 2 ranks: ~3 MB).
LINK_SIZES = [4096, 16384, 65536, 262144, 1048576, 4194304]


def fail(message):
    print(f"ep_mpi: error: {message}", file=sys.stderr)
    sys.exit(1)


def run(command, **kwargs):
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        fail(f"{' '.join(command)}: exit {result.returncode}\n"
             f"{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return result.stdout


def load_average():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def fmt_ms(seconds):
    return f"{seconds * 1e3:.3g}"


def prepare(bin_dir, work):
    """Layers, libraries, weights and inputs; the all-to-all timer."""
    files = {}
    for name, _ in LAYERS:
        mlir = os.path.join(work, f"{name}.mlir")
        run([os.path.join(bin_dir, "moe-translate"), "--import-hf-config",
             os.path.join(ROOT, "bench", "configs", name, "config.json"),
             "--layer=0", "-o", mlir])
        for ranks, chunks in CASES:
            lib = os.path.join(work, f"{name}-ep{ranks}-c{chunks}.so")
            # One rank: the library a single process runs.
            ep = [f"--ep-size={ranks}", "--placement=contiguous",
                  f"--chunks={chunks}"] if ranks > 1 else []
            run([os.path.join(bin_dir, "moe-compile"), mlir, "--target=cpu"] +
                ep + ["-o", lib])
            files[(name, ranks, chunks)] = lib
        first = files[(name, 1, 1)]
        weights = os.path.join(work, f"{name}.safetensors")
        if not os.path.exists(weights):
            run([os.path.join(bin_dir, "moe-run"), first, "--generate-weights",
                 weights, "--seed", "1"])
        files[(name, "weights")] = weights
        for _, tokens in PHASES:
            x = os.path.join(work, f"{name}-{tokens}.npy")
            run([os.path.join(bin_dir, "moe-run"), first, "--generate-input", x,
                 "--tokens", str(tokens), "--seed", "2"])
            files[(name, tokens)] = x
            # The routing of this input: the calibrated model's loads.
            stats = os.path.join(work, f"{name}-{tokens}-stats.json")
            run([os.path.join(bin_dir, "moe-run"), first, "--weights", weights,
                 "--input", x, "--threads", "1", "--stats-json", stats])
            files[(name, tokens, "stats")] = stats
    timer = os.path.join(work, "ep_alltoall")
    run(["mpicc", "-O2", os.path.join(ROOT, "bench", "ep_alltoall.c"), "-o",
         timer])
    files["timer"] = timer
    return files


def time_layer(bin_dir, files, name, tokens, ranks, chunks, repeat, output):
    """One launch: the slowest rank's median forward seconds, per rank
    figures, and the phases if this moe-run reports them."""
    timing = os.path.join(os.path.dirname(files["timer"]), "timing.json")
    command = MPIRUN + ["-np", str(ranks), os.path.join(bin_dir, "moe-run"),
                        files[(name, ranks, chunks)], "--weights",
                        files[(name, "weights")], "--input",
                        files[(name, tokens)], "--threads", "1", "--repeat",
                        str(repeat), "--timing-json", timing]
    if output:
        command += ["--output", output]
    before = load_average()
    run(command)
    with open(timing) as f:
        report = json.load(f)
    rank_reports = report["ranks"]
    if len(rank_reports) != ranks:
        fail(f"{timing}: {len(rank_reports)} rank reports for {ranks} ranks")
    slowest = max(r["median_ms"] for r in rank_reports) / 1e3
    return {"layer_s": slowest, "load": [before, load_average()],
            "ranks": rank_reports}


def time_link(timer, ranks, repeat):
    out = run(MPIRUN + ["-np", str(ranks), timer, str(repeat)] +
              [str(s) for s in LINK_SIZES] + ["--overlap-ms", "20"])
    return [json.loads(line) for line in out.splitlines() if line.strip()]


# One process's share of a core over a second of busy arithmetic.
PROBE = ("import time\n"
         "w, c = time.perf_counter(), time.process_time()\n"
         "while time.perf_counter() - w < 1: sum(range(1000))\n"
         "share = (time.process_time() - c) / (time.perf_counter() - w)\n"
         # One write, spaces around: mpirun may join the ranks' lines.
         "import os; os.write(1, f' {share} \\n'.encode())")


def core_share(ranks):
    """The mean share of a core each of `ranks` busy processes, launched as
    the ranks are, gets: on a shared machine less than cores / ranks (Linux
    shares the CPU between sessions before processes, autogroup)."""
    out = run(MPIRUN + ["-np", str(ranks), sys.executable, "-c", PROBE])
    shares = [float(word) for word in out.split()]
    if len(shares) != ranks:
        fail(f"core share probe: {len(shares)} answers from {ranks} ranks: {out!r}")
    return sum(shares) / len(shares)


def fit_link(rows):
    """Latency: moec's wait at the small sizes (the least); bandwidth per
    rank: the least-squares slope of the large sizes' time beyond it
    against the bytes each rank sends."""
    poll = [r for r in rows if r["mode"] == "poll"]
    latency = min(r["median_s"] for r in poll if r["bytes_per_peer"] <= 16384)
    big = [r for r in poll if r["bytes_per_peer"] >= 65536]
    num = sum(r["sent_bytes"] ** 2 for r in big)
    den = sum(r["sent_bytes"] * (r["median_s"] - latency) for r in big)
    if den <= 0 or num / den > 1e12:
        fail(f"the exchange timings are too noisy to fit a link: {poll}")
    return latency, num / den


def moe_plan(bin_dir, work, name, ranks, tokens, chunks, link, flops,
             bandwidth):
    path = os.path.join(work, "cost.json")
    command = [os.path.join(bin_dir, "moe-plan"), "cost", "--config",
               os.path.join(ROOT, "bench", "configs", name, "config.json"),
               "--ep-size", str(ranks), "--tokens-per-rank",
               str(tokens // ranks), "--chunks", str(chunks),
               "--placement", "contiguous", "--weight-bytes", "4",
               "--compute", "cpu", "--flops", repr(flops), "--mem-bandwidth",
               repr(bandwidth), "--json", path] + link
    run(command)
    with open(path) as f:
        result = json.load(f)["results"][0]
    slow = result["ranks"][result["slowest_rank"]]
    return {"layer_s": result["layer_s"], "exchange_s": slow["exchange_s"],
            "compute_s": slow["compute_s"], "hidden_s": slow["hidden_s"],
            "flops": slow["flops"], "weight_bytes_read": slow["weight_bytes_read"],
            "sent_bytes": slow["dispatch_bytes_sent"] + slow["combine_bytes_sent"]}


def compare_outputs(paths):
    try:
        import numpy
    except ImportError:
        return None
    base = numpy.load(paths[0])
    return max(float(numpy.max(numpy.abs(numpy.load(p) - base)))
               for p in paths[1:])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default=os.path.join(ROOT, "build"))
    parser.add_argument("--launches", type=int, default=5,
                        help="launches per case, interleaved (default: 5)")
    parser.add_argument("--repeat-prefill", type=int, default=5)
    parser.add_argument("--repeat-decode", type=int, default=30)
    parser.add_argument("--link-repeat", type=int, default=30)
    parser.add_argument("--cores", type=int, default=os.cpu_count(),
                        help="cores the ranks share (default: this machine's)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    for key in ["launches", "repeat_prefill", "repeat_decode", "link_repeat",
                "cores"]:
        value = getattr(args, key)
        if not 1 <= value <= 1000:
            fail(f"--{key.replace('_', '-')}: {value} is not in [1, 1000]")
    bin_dir = os.path.join(args.build, "bin")
    for tool in ["moe-translate", "moe-compile", "moe-run", "moe-plan"]:
        if not os.access(os.path.join(bin_dir, tool), os.X_OK):
            fail(f"{bin_dir}/{tool}: not built (ninja -C build {tool})")
    for tool in ["mpirun", "mpicc"]:
        if not shutil.which(tool):
            fail(f"{tool}: not found (apt-get install openmpi-bin libopenmpi-dev)")
    work = os.path.join(args.build, "bench", "ep_mpi")
    os.makedirs(work, exist_ok=True)
    files = prepare(bin_dir, work)

    # Interleaved launches: round r runs every case once, starting at a
    # different case each round.
    keys = [(name, phase, tokens, ranks, chunks) for name, _ in LAYERS
            for phase, tokens in PHASES for ranks, chunks in CASES]
    runs = {k: [] for k in keys}
    links = {2: [], 4: []}
    shares = {1: [], 2: [], 4: []}
    outputs = {}
    started = time.time()
    for r in range(args.launches):
        for ranks in links:
            links[ranks].append(time_link(files["timer"], ranks, args.link_repeat))
        for ranks in shares:
            shares[ranks].append(core_share(ranks))
        order = keys[r * len(keys) // args.launches:] + \
            keys[:r * len(keys) // args.launches]
        for key in order:
            name, phase, tokens, ranks, chunks = key
            output = None
            if r == 0:
                output = os.path.join(work, f"{name}-{tokens}-ep{ranks}-c{chunks}.npy")
                outputs.setdefault((name, tokens), []).append(output)
            repeat = args.repeat_prefill if phase == "prefill" else args.repeat_decode
            runs[key].append(time_layer(bin_dir, files, name, tokens, ranks,
                                        chunks, repeat, output))
        print(f"ep_mpi: round {r + 1}/{args.launches} done "
              f"({time.time() - started:.0f} s)", file=sys.stderr)

    # The link: each round's fit, and the median over rounds of each figure.
    link_fit, link_rows = {}, {}
    for ranks, rounds in links.items():
        fits = [fit_link(rows) for rows in rounds]
        link_fit[ranks] = (statistics.median(f[0] for f in fits),
                           statistics.median(f[1] for f in fits))
        merged = {}
        for rows in rounds:
            for row in rows:
                merged.setdefault((row["mode"], row["bytes_per_peer"]), []).append(row)
        link_rows[ranks] = {
            k: {f: statistics.median(row[f] for row in v)
                for f in v[0] if isinstance(v[0][f], float)}
            for k, v in merged.items()}

    results = []
    for name, _ in LAYERS:
        # moec's one-rank rates on this layer.
        measured1 = {tokens: statistics.median(x["layer_s"] for x in
                                               runs[(name, phase, tokens, 1, 1)])
                     for phase, tokens in PHASES}
        shape = {tokens: moe_plan(bin_dir, work, name, 1, tokens, 1,
                                  ["--intra", "shm", "--stats",
                                   files[(name, tokens, "stats")]], 1e11, 1e11)
                 for _, tokens in PHASES}
        flops = shape[512]["flops"] / measured1[512]
        bandwidth = shape[16]["weight_bytes_read"] / measured1[16]
        for phase, tokens in PHASES:
            for ranks, chunks in CASES:
                launches = runs[(name, phase, tokens, ranks, chunks)]
                times = [x["layer_s"] for x in launches]
                # Each rank's share of a core, against the one rank's.
                share = min(1.0, args.cores / ranks,
                            statistics.median(shares[ranks]) /
                            statistics.median(shares[1]))
                preset = moe_plan(bin_dir, work, name, ranks, tokens, chunks,
                                  ["--intra", "shm"], flops, bandwidth)
                if ranks > 1:
                    latency, link_bw = link_fit[ranks]
                    link = ["--link-bandwidth", repr(link_bw),
                            "--link-latency", repr(latency)]
                else:
                    link = ["--intra", "shm"]
                calibrated = moe_plan(
                    bin_dir, work, name, ranks, tokens, chunks,
                    link + ["--stats", files[(name, tokens, "stats")]],
                    flops * share, bandwidth * share)
                # The lead's per-phase breakdown, where moe-run gives it:
                # every rank's, each launch.
                phases = [[rank.get("phases") for rank in x["ranks"]]
                          for x in launches]
                results.append({
                    "layer": name, "phase": phase, "tokens": tokens,
                    "ranks": ranks, "chunks": chunks,
                    "measured_s": statistics.median(times),
                    "measured_min_s": min(times), "measured_max_s": max(times),
                    "launches": launches, "preset": preset,
                    "calibrated": calibrated, "core_share": share,
                    "flop_rate": flops, "mem_bandwidth": bandwidth,
                    "phases": phases if any(any(p) for p in phases) else None})
    diffs = {f"{name} {tokens}": compare_outputs(paths)
             for (name, tokens), paths in outputs.items()}

    loads = [l for k in keys for x in runs[k] for l in x["load"]]
    report = {"cores": args.cores, "launches": args.launches,
              "core_share": {str(n): statistics.median(v)
                             for n, v in shares.items()},
              "load_average": [min(loads), statistics.median(loads), max(loads)],
              "link_fit": {str(n): {"latency_s": l, "bandwidth": b}
                           for n, (l, b) in link_fit.items()},
              "link": {str(n): [dict(mode=k[0], bytes_per_peer=k[1], **v)
                                for k, v in rows.items()]
                       for n, rows in link_rows.items()},
              "max_abs_diff_vs_one_rank": diffs, "results": results}
    json_path = args.json or os.path.join(args.build, "bench", "ep_mpi.json")
    with open(json_path, "w") as f:
        json.dump(report, f, indent=1)
    print_tables(report)


def print_tables(report):
    print(f"{report['cores']} cores; load average during the runs "
          f"{report['load_average'][0]:.1f}-{report['load_average'][2]:.1f} "
          f"(median {report['load_average'][1]:.1f}); "
          f"{report['launches']} launches a case; a core per busy process, "
          f"launched as the ranks are: " +
          ", ".join(f"{v:.2f} at {n}" for n, v in report["core_share"].items()))
    print()
    print("The exchange alone (ep_alltoall, median over rounds of the median "
          "of the slowest rank; sent: bytes each rank sends to the others):")
    print()
    print("| ranks | per peer | sent / rank | MPI_Wait | moec's wait | GB/s (moec's wait) |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for n, rows in report["link"].items():
        by = {(r["mode"], r["bytes_per_peer"]): r for r in rows}
        for size in LINK_SIZES:
            wait, poll = by[("wait", size)], by[("poll", size)]
            sent = size * (int(n) - 1)
            print(f"| {n} | {size // 1024} kB | {sent / 1e6:.3g} MB | "
                  f"{wait['median_s'] * 1e6:.0f} us | {poll['median_s'] * 1e6:.0f} us | "
                  f"{sent / poll['median_s'] / 1e9:.2f} |")
    for n, rows in report["link"].items():
        over = next(r for r in rows if r["mode"] == "overlap")
        fit = report["link_fit"][n]
        print(f"\n{n} ranks: fitted link {fit['bandwidth'] / 1e9:.2f} GB/s per rank, "
              f"{fit['latency_s'] * 1e6:.0f} us per step; overlap test "
              f"({over['bytes_per_peer'] // 1024} kB per peer): the wait after "
              f"{over['compute_s'] * 1e3:.0f} ms of computing takes "
              f"{over['wait_median_s'] * 1e3:.2f} ms, the exchange alone "
              f"{over['alone_median_s'] * 1e3:.2f} ms (the start call "
              f"{over['start_median_s'] * 1e3:.2f} ms)")
    print()
    print("Layer time in ms (slowest rank; measured: median over launches "
          "[min-max]; preset: shm link, a core per rank; calibrated: "
          "measured link, cores shared):")
    print()
    print("| layer | tokens | ranks | chunks | measured | speedup | preset | "
          "calibrated | measured / calibrated | calibrated exchange |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    one = {(r["layer"], r["tokens"]): r["measured_s"] for r in report["results"]
           if r["ranks"] == 1}
    for r in report["results"]:
        cal, pre = r["calibrated"], r["preset"]
        print(f"| {r['layer']} | {r['tokens']} | {r['ranks']} | {r['chunks']} | "
              f"{fmt_ms(r['measured_s'])} [{fmt_ms(r['measured_min_s'])}-"
              f"{fmt_ms(r['measured_max_s'])}] | "
              f"{one[(r['layer'], r['tokens'])] / r['measured_s']:.2f} | "
              f"{fmt_ms(pre['layer_s'])} | {fmt_ms(cal['layer_s'])} | "
              f"{r['measured_s'] / cal['layer_s']:.2f} | "
              f"{fmt_ms(cal['exchange_s'])} |")
    print()
    for r in report["results"]:
        if r["ranks"] == 1 and r["tokens"] == 512:
            print(f"{r['layer']}: moec one rank, one thread: "
                  f"{r['flop_rate'] / 1e9:.1f} GFLOP/s (prefill), "
                  f"weights read at {r['mem_bandwidth'] / 1e9:.1f} GB/s (decode)")
    for k, v in report["max_abs_diff_vs_one_rank"].items():
        print(f"{k} tokens: largest |difference| from one rank over the rank "
              f"counts and chunks: {v if v is None else f'{v:.3g}'}")


if __name__ == "__main__":
    main()
