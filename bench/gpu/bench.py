"""bench.py - the GPU benchmark of bench/gpu/run.sh: moec's CUDA libraries
against their peers in the same process, on one GPU.

Shapes: the full-size layers of .gpu-bundle/bundle.json ("full": Mixtral-
8x7B, Qwen3-30B-A3B, DeepSeek-V3), at --tokens (1, 16, 128, 2048, 8192).
Weights are generated on the device (seeded, nn.Linear-scaled, bf16) in each
slot's bound shape; moec binds them (init copies them to the GPU) and the
peers use the same tensors. Per shape and token count:
  moec        wall time of forward (pinned f32 input copied in, output
              copied back, synchronized), median; io_ms: the two copies'
              time alone, measured with torch, to subtract
  cublas      one bf16 GEMM [T*(K+S), H] x [H, 3F] (S shared experts): the
              layer's expert FLOPs on cuBLAS (torch.matmul), the compute roof
  copy roof   bytes the layer must read (the experts the routing hits, the
              shared experts, the router) over the device-copy bandwidth
  hf_eager    the Hugging Face block (transformers' class, random init at
              full size; the faithful formulation below if it cannot be
              built) in eager PyTorch, bf16
  hf_compile  the same under torch.compile
  grouped_mm  the formulation with torch._grouped_mm for the expert GEMMs
and, at one token count, moec's output against the formulation on the same
weights (relative L2: bf16 activations in the formulation). Every number
goes to --json after each measurement; --deadline bounds the run (later
work is skipped and says so). --smoke runs the tiny families of a CPU
bundle on torch's CPU (scripts/gpu-bundle.sh --cpu) to test this file.
"""
import argparse
import contextlib
import json
import math
import os
import signal
import sys
import time
import traceback

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import moelib  # noqa: E402

START = time.time()
DEV = "cuda" if torch.cuda.is_available() else "cpu"


def log(msg):
    print(time.strftime("%H:%M:%S"), f"[{time.time() - START:6.1f}s]", msg,
          flush=True)


class TimeBox(Exception):
    pass


@contextlib.contextmanager
def time_box(seconds):
    """Interrupts Python work (a torch.compile) after `seconds`."""
    def expire(signum, frame):
        raise TimeBox(f"over its {seconds:.0f} s time box")
    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 1))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def sync():
    if DEV == "cuda":
        torch.cuda.synchronize()


def median_ms(fn, budget_s=2.0, max_runs=30, warmup=2, wall=False):
    """Median time of fn() in ms, with as many runs as fit in budget_s (at
    least 3): CUDA events on torch's stream on the GPU, or the wall clock
    (wall: for calls that synchronize their own stream, as moec's do)."""
    for _ in range(warmup):
        fn()
    sync()
    times = []
    deadline = time.time() + budget_s
    while len(times) < max_runs and (len(times) < 3 or time.time() < deadline):
        if DEV == "cuda" and not wall:
            begin, end = (torch.cuda.Event(enable_timing=True) for _ in "ab")
            begin.record()
            fn()
            end.record()
            end.synchronize()
            times.append(begin.elapsed_time(end))
        else:
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(times))


# --- The layer: sizes and routing from the Hugging Face config. ---------

def layer_spec(config):
    kind = config["model_type"]
    spec = {"family": kind, "H": config["hidden_size"]}
    if kind == "mixtral":
        spec.update(E=config["num_local_experts"], K=config["num_experts_per_tok"],
                    F=config["intermediate_size"], Fs=0, norm=True,
                    scoring="softmax")
    elif kind in ("qwen3_moe", "qwen2_moe"):
        spec.update(E=config["num_experts"], K=config["num_experts_per_tok"],
                    F=config["moe_intermediate_size"], Fs=0,
                    norm=config.get("norm_topk_prob", False), scoring="softmax")
    elif kind in ("deepseek_v3",):
        spec.update(E=config["n_routed_experts"], K=config["num_experts_per_tok"],
                    F=config["moe_intermediate_size"],
                    Fs=config.get("n_shared_experts", 0) *
                    config["moe_intermediate_size"],
                    norm=config.get("norm_topk_prob", True), scoring="sigmoid",
                    groups=config.get("n_group", 1),
                    topk_groups=config.get("topk_group", 1),
                    scale=config.get("routed_scaling_factor", 1.0))
    else:
        raise ValueError(f"no benchmark formulation for model_type {kind}")
    return spec


def slot_role(slot):
    name = slot["name"]
    if "e_score_correction_bias" in name:
        return "bias"
    proj = next((r for key, r in (("w1", "gate"), ("gate_proj", "gate"),
                                  ("w3", "up"), ("up_proj", "up"),
                                  ("w2", "down"), ("down_proj", "down"))
                 if f".{key}." in name), None)
    if proj is None:
        return "router"
    return ("shared_" if "shared_expert" in name else "") + proj


VIEW_KEYS = ("source_shape", "slice", "transpose", "pack")


def math_shape(spec, role):
    """A role's tensor as the checkpoint (nn.Linear) holds it."""
    E, H, F_, Fs = spec["E"], spec["H"], spec["F"], spec["Fs"]
    return {"router": [E, H], "bias": [E], "gate": [E, F_, H],
            "up": [E, F_, H], "down": [E, H, F_], "shared_gate": [Fs, H],
            "shared_up": [Fs, H], "shared_down": [H, Fs]}[role]


def make_weights(slots, spec, seed):
    """({role: bf16 tensor as the checkpoint holds it}, [bound array per
    slot]): random, nn.Linear-scaled, generated on the device."""
    gen = torch.Generator(device=DEV).manual_seed(seed)
    roles, bound = {}, []
    for slot in slots:
        role = slot_role(slot)
        shape = math_shape(spec, role)
        if role == "bias":
            t = torch.rand(shape, generator=gen, device=DEV) * 0.01
        else:
            limit = 1.0 / math.sqrt(shape[-1])
            t = (torch.rand(shape, generator=gen, device=DEV) * 2 - 1) * limit
        t = t.to(torch.bfloat16)
        roles[role] = t
        if list(shape) == list(slot["shape"]) and slot["dtype"] == "bf16" and \
                not any(k in slot for k in VIEW_KEYS):
            # The CUDA libraries' rows: the bits as they are.
            bound.append(t.view(torch.int16).cpu().numpy().view(np.uint16))
        else:
            # A packed or viewed slot (the CPU libraries of --smoke).
            if slot.get("source_shape", shape) != shape:
                raise ValueError(f"slot {slot['name']}: source "
                                 f"{slot.get('source_shape')} is not {shape}")
            bound.append(moelib.apply_view(slot, t.float().cpu().numpy()))
    return roles, bound


def route(x, spec, w):
    """(weights [T, K] f32, experts [T, K]) as the family's HF block does."""
    logits = (x @ w["router"].to(x.dtype).t()).float()
    K = spec["K"]
    if spec["scoring"] == "softmax":
        probs = torch.softmax(logits, dim=-1)
        weights, experts = torch.topk(probs, K, dim=-1)
        if spec["norm"]:
            weights = weights / weights.sum(-1, keepdim=True)
        return weights, experts
    scores = torch.sigmoid(logits)
    choice = scores + w["bias"].float() if "bias" in w else scores
    T, E, G = x.shape[0], spec["E"], spec["groups"]
    group_scores = choice.view(T, G, E // G).topk(2, dim=-1)[0].sum(-1)
    groups = torch.topk(group_scores, spec["topk_groups"], dim=-1)[1]
    mask = torch.zeros_like(group_scores).scatter_(1, groups, 1)
    mask = mask.unsqueeze(-1).expand(T, G, E // G).reshape(T, E)
    experts = torch.topk(choice.masked_fill(mask == 0, 0.0), K, dim=-1)[1]
    weights = scores.gather(1, experts)
    if spec["norm"]:
        weights = weights / (weights.sum(-1, keepdim=True) + 1e-20)
    return weights * spec["scale"], experts


def shared(x, w):
    if "shared_gate" not in w:
        return 0
    g, u, d = (w[k].to(x.dtype) for k in ("shared_gate", "shared_up",
                                          "shared_down"))
    return (F.silu(x @ g.t()) * (x @ u.t())) @ d.t()


def eager_formulation(x, spec, w):
    """The HF blocks' algorithm: a loop over the experts that got tokens,
    in x's dtype (f32 x: the bf16 weights widened, the check's reference;
    it matches the CPU libraries to 1e-7)."""
    weights, experts = route(x, spec, w)
    y = torch.zeros_like(x)
    for e in torch.unique(experts).tolist():
        tok, k = torch.where(experts == e)
        xe = x[tok]
        g, u, d = (w[r][e].to(x.dtype) for r in ("gate", "up", "down"))
        h = F.silu(xe @ g.t()) * (xe @ u.t())
        out = (h @ d.t()) * weights[tok, k, None].to(x.dtype)
        y.index_add_(0, tok, out)
    return y + shared(x, w)


def grouped_formulation(x, spec, w):
    """The same with one torch._grouped_mm per projection."""
    weights, experts = route(x, spec, w)
    flat = experts.reshape(-1)
    order = torch.argsort(flat, stable=True)
    counts = torch.bincount(flat, minlength=spec["E"])
    offsets = torch.cumsum(counts, 0).to(torch.int32)
    tok = order // spec["K"]
    xs = x[tok]
    gate = torch._grouped_mm(xs, w["gate"].transpose(-1, -2), offs=offsets)
    up = torch._grouped_mm(xs, w["up"].transpose(-1, -2), offs=offsets)
    out = torch._grouped_mm(F.silu(gate) * up, w["down"].transpose(-1, -2),
                            offs=offsets)
    out = out * weights.reshape(-1)[order, None].to(x.dtype)
    y = torch.zeros_like(x).index_add_(0, tok, out)
    return y + shared(x, w)


def hf_block(config, spec):
    """transformers' MoE block of the family at full size, random bf16."""
    import transformers
    kind = config["model_type"]
    if kind == "mixtral":
        from transformers.models.mixtral import modeling_mixtral as m
        cfg, cls = transformers.MixtralConfig(**config), m.MixtralSparseMoeBlock
    elif kind == "qwen3_moe":
        from transformers.models.qwen3_moe import modeling_qwen3_moe as m
        cfg, cls = transformers.Qwen3MoeConfig(**config), m.Qwen3MoeSparseMoeBlock
    elif kind == "deepseek_v3":
        from transformers.models.deepseek_v3 import modeling_deepseek_v3 as m
        cfg, cls = transformers.DeepseekV3Config(**config), m.DeepseekV3MoE
    else:
        raise ValueError(kind)
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        with torch.device(DEV):
            block = cls(cfg)
    finally:
        torch.set_default_dtype(old)
    # Classes may leave parameters to the model's init: fill them here.
    with torch.no_grad():
        for p in block.parameters():
            p.normal_(0, 0.02)
        for name, b in block.named_buffers():
            if b.is_floating_point():
                b.zero_()
    block.eval()
    impl = getattr(cfg, "_experts_implementation", None)
    return block, f"transformers {transformers.__version__} {cls.__name__}" + (
        f" (experts: {impl})" if impl else "")


def first(out):
    return out[0] if isinstance(out, tuple) else out


# --- The run. -------------------------------------------------------------

def copy_bandwidth():
    n = (1 << 30) if DEV == "cuda" else (1 << 24)
    src = torch.empty(n, dtype=torch.uint8, device=DEV)
    dst = torch.empty_like(src)
    ms = median_ms(lambda: dst.copy_(src), budget_s=1.0)
    return 2 * n / (ms * 1e-3)  # Bytes read and written per second.


def bench_shape(shape, args, results, deadline):
    with open(shape["config_path"]) as f:
        config = json.load(f)
    spec = layer_spec(config)
    name = shape["name"]
    log(f"{name}: {spec}")
    library = moelib.Library(shape["library_path"])
    slots = library.forward_entry()["weights"]
    roles, arrays = make_weights(slots, spec, seed=15)
    t0 = time.time()
    entry = library.bind(arrays, device=args.device)
    bind_s = time.time() - t0
    if library.target == "cuda":
        entry.arrays = []  # init copied them to the device.
    del arrays
    log(f"{name}: bound in {bind_s:.1f} s")
    results["shapes"][name] = {"spec": spec, "bind_s": bind_s, "points": []}
    hf = None
    try:
        hf, hf_source = hf_block(config, spec)
    except Exception as e:
        hf_source = f"formulation (transformers block unavailable: {e})"
    results["shapes"][name]["hf_source"] = hf_source
    log(f"{name}: HF peer: {hf_source}")
    eager = (lambda x: first(hf(x[None]))[0]) if hf is not None else (
        lambda x: eager_formulation(x, spec, roles))
    compiled_fn = None
    if hasattr(torch, "compile") and not args.no_compile:
        compiled_fn = torch.compile(hf if hf is not None else
                                    (lambda x: eager_formulation(x, spec, roles)),
                                    dynamic=True)
    gemm_weight = torch.cat([roles["gate"][0], roles["up"][0],
                             roles["down"][0].t()], 0).t().contiguous()
    H, K, E = spec["H"], spec["K"], spec["E"]
    S = spec["Fs"] // spec["F"] if spec["Fs"] else 0
    for T in args.tokens:
        if time.time() > deadline:
            log(f"{name} T={T}: skipped (time box)")
            results["shapes"][name]["points"].append({"tokens": T,
                                                      "skipped": "time box"})
            continue
        point = {"tokens": T}
        results["shapes"][name]["points"].append(point)
        gen = torch.Generator(device=DEV).manual_seed(T)
        x = torch.randn((T, H), generator=gen, device=DEV)
        xb = x.to(torch.bfloat16)
        flops = 2 * T * (K * 3 * H * spec["F"] + 3 * H * spec["Fs"] + H * E)
        point["gflop"] = flops / 1e9

        def measure(key, fn, budget=1.5, wall=False):
            try:
                point[key] = median_ms(fn, budget_s=budget, wall=wall)
            except Exception as e:
                point[key + "_error"] = f"{type(e).__name__}: {e}"[:300]
            log(f"{name} T={T}: {key} = {point.get(key, point.get(key + '_error'))}")
            write(results, args.json)

        # moec, from pinned host memory (the ABI's host pointers).
        pin = DEV == "cuda"
        x_host = x.cpu().pin_memory() if pin else x.cpu().contiguous()
        y_host = torch.empty(x_host.shape, pin_memory=pin)
        measure("moec_ms", lambda: entry.forward_ptr(
            x_host.data_ptr(), y_host.data_ptr(), T), wall=True)
        measure("io_ms", lambda: (x.copy_(x_host, non_blocking=True),
                                  y_host.copy_(x, non_blocking=True)))
        # The roofs.
        a = torch.randn((T * (K + S), H), device=DEV).to(torch.bfloat16)
        measure("cublas_ms", lambda: a @ gemm_weight)
        _, experts = route(xb, spec, roles)
        hit = int(torch.unique(experts).numel())
        weight_bytes = 2 * (hit * 3 * H * spec["F"] + 3 * H * spec["Fs"] + E * H)
        point["experts_hit"] = hit
        point["weight_bytes"] = weight_bytes
        point["copy_roof_ms"] = (weight_bytes + 8 * T * H) / results["copy_bytes_per_s"] * 1e3
        # The peers.
        with torch.no_grad():
            measure("hf_eager_ms", lambda: eager(xb))
            if hasattr(torch, "_grouped_mm"):
                measure("grouped_mm_ms", lambda: grouped_formulation(xb, spec, roles))
            if T == args.check_tokens:
                # f32 activations, the same bf16 weights: what moec computes
                # but for its bf16 rounding of the GEMMs' inputs.
                ref = eager_formulation(x, spec, roles)
                y = torch.from_numpy(entry.forward(x.cpu().numpy())).to(DEV)
                point["moec_vs_formulation_rel_l2"] = float(
                    (y - ref).norm() / ref.norm())
                log(f"{name} T={T}: moec vs formulation rel L2 "
                    f"{point['moec_vs_formulation_rel_l2']:.2e}")
            if compiled_fn is not None:
                left = deadline - time.time()
                if left < 20:
                    point["hf_compile_error"] = "skipped (time box)"
                else:
                    try:
                        with time_box(min(left - 10, args.compile_box)):
                            t0 = time.time()
                            compiled_fn(xb[None] if hf is not None else xb)
                            sync()
                            point["compile_s"] = time.time() - t0
                        measure("hf_compile_ms", lambda: compiled_fn(
                            xb[None] if hf is not None else xb))
                    except Exception as e:
                        point["hf_compile_error"] = f"{type(e).__name__}: {e}"[:300]
                        log(f"{name} T={T}: torch.compile: {point['hf_compile_error']}")
        moec = point.get("moec_ms")
        if moec:
            if "cublas_ms" in point:
                point["moec_vs_cublas_rate"] = point["cublas_ms"] / moec
            point["roof_vs_moec"] = point["copy_roof_ms"] / moec
            if "hf_compile_ms" in point:
                point["compile_vs_moec"] = point["hf_compile_ms"] / moec
        write(results, args.json)
    entry.close()


def write(results, path):
    with open(path + ".tmp", "w") as f:
        json.dump(results, f, indent=1)
    os.replace(path + ".tmp", path)


def fmt(v, digits=3):
    if v is None:
        return "-"
    return f"{v:.{digits}g}" if isinstance(v, float) else str(v)


def table(results):
    rows = ["| shape | tokens | moec ms | io ms | cuBLAS ms | moec/cuBLAS rate "
            "| copy roof ms | roof/moec | HF eager ms | HF compile ms "
            "| grouped_mm ms | compile/moec |",
            "|" + " --- |" * 12]
    for name, shape in results["shapes"].items():
        for p in shape["points"]:
            if "skipped" in p:
                rows.append(f"| {name} | {p['tokens']} | skipped |" + " |" * 9)
                continue
            cells = [p.get(k) for k in (
                "moec_ms", "io_ms", "cublas_ms", "moec_vs_cublas_rate",
                "copy_roof_ms", "roof_vs_moec", "hf_eager_ms", "hf_compile_ms",
                "grouped_mm_ms", "compile_vs_moec")]
            rows.append(f"| {name} | {p['tokens']} | " +
                        " | ".join(fmt(c) for c in cells) + " |")
    return "\n".join(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default=".gpu-bundle")
    parser.add_argument("--json", required=True)
    parser.add_argument("--table", help="also write the Markdown table here")
    parser.add_argument("--device", type=int, default=0)
    parser.add_argument("--tokens", default="1,16,128,2048,8192")
    parser.add_argument("--shapes", help="comma-separated names (default: all)")
    parser.add_argument("--deadline", type=float, default=300,
                        help="seconds for the whole run")
    parser.add_argument("--compile-box", type=float, default=90,
                        help="seconds one torch.compile may take")
    parser.add_argument("--check-tokens", type=int, default=128)
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--smoke", action="store_true",
                        help="the bundle's tiny families (a CPU bundle here)")
    args = parser.parse_args()
    args.tokens = [int(t) for t in args.tokens.split(",")]
    with open(os.path.join(args.bundle, "bundle.json")) as f:
        bundle = json.load(f)
    here = os.path.dirname(os.path.abspath(__file__))
    if args.smoke:
        shapes = [{"name": t["name"],
                   "config_path": os.path.join(here, "configs", t["name"],
                                               "config.json"),
                   "library_path": os.path.join(args.bundle,
                                                t["libraries"][0]["path"])}
                  for t in bundle["tiny"]]
    else:
        shapes = [{"name": s["name"],
                   "config_path": os.path.join(args.bundle, s["config"]),
                   "library_path": os.path.join(args.bundle, s["path"])}
                  for s in bundle["full"]]
    if args.shapes:
        keep = args.shapes.split(",")
        shapes = [s for s in shapes if s["name"] in keep]
    if not shapes:
        log("no layers to run: the bundle has none (see scripts/gpu-bundle.sh)")
        return 1
    results = {"device": torch.cuda.get_device_name(args.device)
               if DEV == "cuda" else "cpu", "torch": torch.__version__,
               "bundle": bundle.get("commit"), "shapes": {}}
    end = START + args.deadline
    results["copy_bytes_per_s"] = copy_bandwidth()
    log(f"device copy: {results['copy_bytes_per_s'] / 1e12:.2f} TB/s "
        f"(read + written)")
    failed = False
    for i, shape in enumerate(shapes):
        # An equal share of what is left for each remaining shape.
        share = (end - time.time()) / (len(shapes) - i)
        try:
            bench_shape(shape, args, results, time.time() + share)
        except Exception as e:
            failed = True
            results["shapes"].setdefault(shape["name"], {})["error"] = str(e)
            log(f"{shape['name']}: FAILED {e}\n{traceback.format_exc()}")
        write(results, args.json)
        if DEV == "cuda":
            torch.cuda.empty_cache()
    text = table(results)
    print(text, flush=True)
    if args.table:
        with open(args.table, "w") as f:
            f.write(text + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
