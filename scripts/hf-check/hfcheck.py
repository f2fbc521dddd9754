#!/usr/bin/env python3
"""Checks moec's import of each transformers MoE family against transformers.

For our own use (CI has no torch): where `transformers` and `torch` are
installed, each family's model is built from a tiny config with random
weights, saved with `save_pretrained` (transformers 5 writes the published
on-disk layout), and one of its MoE blocks is run on a random input. Then
moec's user path runs on the same files:

    moe-translate --import-hf-config DIR/config.json --layer L -o L.mlir
    moe-compile L.mlir -o L.so
    moe-run L.so --weights DIR/model.safetensors --input x.npy --output y.npy

and the normwise relative error ||y_moec - y_hf|| / ||y_hf|| is printed per
family. A family moec refuses prints the first line of its error.

    python3 scripts/hf-check/hfcheck.py --bin build/bin [FAMILY ...]

The families are in scripts/hf-check/families/*.py: each module defines
FAMILIES, a dict from a name (usually the model_type) to a Family.
"""

import argparse
import dataclasses
import importlib
import math
import os
import pathlib
import subprocess
import sys
import tempfile
from typing import Callable, Optional

import numpy as np

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


@dataclasses.dataclass
class Family:
    """One transformers family, as the checker builds it."""

    model_type: str
    # Keyword arguments of the config class: a tiny model (2 layers, hidden
    # 32 or so, 4 to 16 experts). Sizes must keep the routing meaningful.
    config: dict
    # The decoder layer whose MoE block is compared (an MoE layer).
    layer: int = 0
    # Returns the MoE block module of `layer` from the built model.
    block: Callable = lambda model, layer: model.model.layers[layer].mlp
    # Builds the model from the config (default: AutoModelForCausalLM).
    build: Optional[Callable] = None
    # Runs the block on x [T, H] and returns [T, H] (default: calls it on
    # [1, T, H] and takes the first output of a tuple).
    run: Optional[Callable] = None
    # Extra moe-run arguments (e.g. --token-ids) given the work folder.
    moe_run_args: Optional[Callable] = None
    # Tokens in the random input.
    tokens: int = 37
    # Free text for the report: what transformers does that the original
    # code does not, and the like.
    notes: str = ""


def randomize(model, seed):
    """Random weights with spread enough that routing is not degenerate:
    matrices uniform in +-2/sqrt(fan_in), vectors (biases, correction
    biases) normal(0, 0.3), norm scales 1 + normal(0, 0.1)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                bound = 2.0 / math.sqrt(p.shape[-1])
                p.copy_((torch.rand(p.shape, generator=gen) * 2 - 1) * bound)
            elif "norm" in name:
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.3 * torch.randn(p.shape, generator=gen))
        for name, b in model.named_buffers():
            if "e_score_correction_bias" in name or "expert_bias" in name:
                b.copy_(0.3 * torch.randn(b.shape, generator=gen))


def build_model(fam: Family):
    import transformers

    config = transformers.AutoConfig.for_model(fam.model_type, **fam.config)
    if fam.build:
        model = fam.build(config)
    else:
        model = transformers.AutoModelForCausalLM.from_config(config)
    return model.float().eval()


def run_block(fam: Family, block, x):
    import torch

    with torch.no_grad():
        if fam.run:
            return fam.run(block, x)
        out = block(x.unsqueeze(0))
        if isinstance(out, tuple):
            out = out[0]
        return out.reshape(x.shape)


def run_moec(bindir: pathlib.Path, work: pathlib.Path, fam: Family, x):
    """moec's user path on the saved checkpoint; returns the output or
    raises RuntimeError with moec's message."""

    def tool(*args):
        proc = subprocess.run([str(a) for a in args], capture_output=True,
                              text=True)
        if proc.returncode != 0:
            first = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
            raise RuntimeError(first[0] if first else f"{args[0]} failed")
        return proc.stdout

    mlir = work / "layer.mlir"
    lib = work / "layer.so"
    np.save(work / "x.npy", x.numpy().astype(np.float32))
    tool(bindir / "moe-translate", "--import-hf-config",
         work / "model" / "config.json", f"--layer={fam.layer}", "-o", mlir)
    tool(bindir / "moe-compile", mlir, "-o", lib)
    weights = work / "model" / "model.safetensors"
    if not weights.exists():
        weights = work / "model" / "model.safetensors.index.json"
    extra = fam.moe_run_args(work) if fam.moe_run_args else []
    tool(bindir / "moe-run", lib, "--weights", weights, "--input",
         work / "x.npy", "--output", work / "y.npy", *extra)
    return np.load(work / "y.npy")


def check(fam: Family, bindir: pathlib.Path, seed: int, keep: Optional[str]):
    import torch

    torch.manual_seed(seed)
    model = build_model(fam)
    randomize(model, seed)
    block = fam.block(model, fam.layer)
    hidden = model.config.get_text_config().hidden_size
    x = torch.randn(fam.tokens, hidden, generator=torch.Generator().manual_seed(seed + 1))
    want = run_block(fam, block, x).float().numpy()
    work = pathlib.Path(keep) / fam.model_type if keep else pathlib.Path(
        tempfile.mkdtemp(prefix=f"hfcheck-{fam.model_type}-"))
    work.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(work / "model")
    got = run_moec(bindir, work, fam, x)
    return float(np.linalg.norm(got - want) / np.linalg.norm(want))


def load_families():
    here = pathlib.Path(__file__).resolve().parent
    sys.path.insert(0, str(here))
    families = {}
    for path in sorted((here / "families").glob("*.py")):
        module = importlib.import_module(f"families.{path.stem}")
        families.update(getattr(module, "FAMILIES", {}))
    return families


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", default="build/bin", type=pathlib.Path,
                        help="folder with moe-translate, moe-compile, moe-run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tolerance", type=float, default=1e-5)
    parser.add_argument("--keep", help="keep each family's files under this folder")
    parser.add_argument("families", nargs="*", help="names (default: all)")
    args = parser.parse_args()
    families = load_families()
    names = args.families or sorted(families)
    failed = 0
    counts = {"ok": 0, "MISMATCH": 0, "refused": 0, "ERROR": 0}
    print(f"{'family':24} {'result':8} rel. error / message")
    for name in names:
        if name not in families:
            print(f"{name:24} unknown   (known: {', '.join(sorted(families))})")
            failed += 1
            continue
        try:
            err = check(families[name], args.bin, args.seed, args.keep)
            ok = err <= args.tolerance
            failed += not ok
            counts["ok" if ok else "MISMATCH"] += 1
            print(f"{name:24} {'ok' if ok else 'MISMATCH':8} {err:.3e}")
        except RuntimeError as e:
            counts["refused"] += 1
            print(f"{name:24} refused  {e}")
        except Exception as e:  # transformers itself failed to build or run
            failed += 1
            counts["ERROR"] += 1
            print(f"{name:24} ERROR    {type(e).__name__}: {e}")
        sys.stdout.flush()
    print(", ".join(f"{n} {k}" for k, n in counts.items()))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
