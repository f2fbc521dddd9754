"""PyTorch eager peer for the moec benchmark.

Runs the Hugging Face MoE block algorithms in eager PyTorch on the same
safetensors weights and .npy input moe-run used, and prints the median time
(ms) of the forward pass as JSON. The forward follows the published modeling
code step by step (router linear, softmax, top-k, renormalisation or
scaling, a loop over the experts that received tokens gathering their rows
and index-adding the weighted outputs, plus a shared expert); it is written
here because Debian ships PyTorch but not transformers.

usage: pytorch_moe.py --family mixtral|deepseek --prefix P --weights W
                      --input X --experts E --top-k K --threads N --repeat R
                      [--output Y]
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python" / "moec"))
from safetensors_numpy import read_safetensors  # noqa: E402


def load_safetensors(path):
    """name -> float32 tensor."""
    return {name: torch.from_numpy(array.astype(np.float32))
            for name, array in read_safetensors(path).items()}


class Mlp(torch.nn.Module):
    """SwiGLU: down(silu(gate x) * up x), weights in nn.Linear [out, in]."""

    def __init__(self, gate, up, down):
        super().__init__()
        self.gate, self.up, self.down = gate, up, down

    def forward(self, x):
        return F.linear(F.silu(F.linear(x, self.gate)) * F.linear(x, self.up), self.down)


class SparseMoeBlock(torch.nn.Module):
    def __init__(self, family, tensors, prefix, experts, top_k):
        super().__init__()
        self.family, self.top_k, self.num_experts = family, top_k, experts
        if family == "mixtral":
            self.router = tensors[prefix + "gate.weight"]
            names = ("w1", "w3", "w2")
            self.experts = [
                Mlp(*(tensors[f"{prefix}experts.{e}.{n}.weight"] for n in names))
                for e in range(experts)
            ]
            self.shared = None
        else:
            self.router = tensors[prefix + "gate.weight"]
            names = ("gate_proj", "up_proj", "down_proj")
            self.experts = [
                Mlp(*(tensors[f"{prefix}experts.{e}.{n}.weight"] for n in names))
                for e in range(experts)
            ]
            self.shared = Mlp(*(tensors[f"{prefix}shared_experts.{n}.weight"] for n in names))

    def forward(self, hidden):
        logits = F.linear(hidden, self.router)
        probs = F.softmax(logits, dim=1, dtype=torch.float)
        weights, selected = torch.topk(probs, self.top_k, dim=-1)
        if self.family == "mixtral":
            weights = weights / weights.sum(dim=-1, keepdim=True)
        out = torch.zeros_like(hidden)
        # [E, K, T]: which (slot, token) pairs each expert serves.
        mask = F.one_hot(selected, num_classes=self.num_experts).permute(2, 1, 0)
        for e in range(self.num_experts):
            slot, token = torch.where(mask[e])
            if token.numel() == 0:
                continue
            rows = self.experts[e](hidden[token])
            out.index_add_(0, token, rows * weights[token, slot, None])
        if self.shared is not None:
            out = out + self.shared(hidden)
        return out


def main():
    parser = argparse.ArgumentParser()
    for flag in ("--family", "--prefix", "--weights", "--input", "--output"):
        parser.add_argument(flag)
    for flag in ("--experts", "--top-k", "--threads", "--repeat"):
        parser.add_argument(flag, type=int)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tensors = load_safetensors(args.weights)
    block = SparseMoeBlock(args.family, tensors, args.prefix, args.experts, args.top_k)
    x = torch.from_numpy(np.load(args.input))
    with torch.no_grad():
        block(x)  # warm-up
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            y = block(x)
            times.append((time.perf_counter() - start) * 1e3)
    if args.output:
        np.save(args.output, y.numpy())
    print(json.dumps({"median_ms": float(np.median(times)), "min_ms": min(times),
                      "torch": torch.__version__, "threads": args.threads}))


if __name__ == "__main__":
    main()
