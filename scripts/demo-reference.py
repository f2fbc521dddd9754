#!/usr/bin/env python3
"""The demo's check: one MoE block of the demo's three families computed in
float64 numpy from the families' modeling code (transformers' Mixtral,
DeepSeek-V3 and Llama 4 text blocks, written out here by hand, not from
moec's importer), on the demo's own weights and input, against moe-run's
output. Normwise relative error <= 1e-5.

    demo-reference.py CONFIG.json LAYER WEIGHTS.safetensors X.npy Y.npy
"""

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python" / "moec"))
from safetensors_numpy import read_safetensors  # noqa: E402

TOLERANCE = 1e-5


def silu(v):
    return v / (1 + np.exp(-v))


def swiglu(x, gate, up, down):
    """down(silu(gate x) * up x) with [out, in] matrices."""
    return (silu(x @ gate.T) * (x @ up.T)) @ down.T


def mixtral(config, w, p, x):
    logits = x @ w[p + "gate.weight"].T
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    k = config["num_experts_per_tok"]
    y = np.zeros_like(x)
    for t in range(len(x)):
        chosen = np.argsort(-probs[t], kind="stable")[:k]
        weights = probs[t, chosen] / probs[t, chosen].sum()
        for e, weight in zip(chosen, weights):
            e = f"{p}experts.{e}."
            y[t] += weight * swiglu(x[t], w[e + "w1.weight"], w[e + "w3.weight"], w[e + "w2.weight"])
    return y


def deepseek_v3(config, w, p, x):
    """noaux_tc: sigmoid scores, the correction bias for choosing only,
    groups ranked by their top-2 sum, the other groups masked to 0,
    renormalised, times routed_scaling_factor; plus the shared experts."""
    scores = 1 / (1 + np.exp(-(x @ w[p + "gate.weight"].T)))
    choice = scores + w[p + "gate.e_score_correction_bias"]
    experts, groups = config["n_routed_experts"], config["n_group"]
    k, size = config["num_experts_per_tok"], experts // groups
    y = np.zeros_like(x)
    for t in range(len(x)):
        grouped = choice[t].reshape(groups, size)
        group_scores = np.sort(grouped, axis=1)[:, -2:].sum(1)
        kept = np.argsort(-group_scores, kind="stable")[:config["topk_group"]]
        masked = np.zeros(experts)
        for g in kept:
            masked[g * size:(g + 1) * size] = grouped[g]
        chosen = np.argsort(-masked, kind="stable")[:k]
        weights = scores[t, chosen]
        if config.get("norm_topk_prob"):
            weights = weights / (weights.sum() + 1e-20)
        weights = weights * config["routed_scaling_factor"]
        for e, weight in zip(chosen, weights):
            e = f"{p}experts.{e}."
            y[t] += weight * swiglu(x[t], w[e + "gate_proj.weight"], w[e + "up_proj.weight"],
                                    w[e + "down_proj.weight"])
    s = p + "shared_experts."
    return y + swiglu(x, w[s + "gate_proj.weight"], w[s + "up_proj.weight"], w[s + "down_proj.weight"])


def llama4_text(config, w, p, x):
    """Top-k on the logits, sigmoid of the chosen ones scaling each
    expert's input; fused gate_up_proj [E, H, 2F] and down_proj [E, F, H];
    plus the shared expert."""
    logits = x @ w[p + "router.weight"].T
    k = config["num_experts_per_tok"]
    gate_up, down = w[p + "experts.gate_up_proj"], w[p + "experts.down_proj"]
    f = down.shape[1]
    y = np.zeros_like(x)
    for t in range(len(x)):
        for e in np.argsort(-logits[t], kind="stable")[:k]:
            scaled = x[t] / (1 + np.exp(-logits[t, e]))
            h = scaled @ gate_up[e]
            y[t] += (silu(h[:f]) * h[f:]) @ down[e]
    s = p + "shared_expert."
    return y + swiglu(x, w[s + "gate_proj.weight"], w[s + "up_proj.weight"], w[s + "down_proj.weight"])


BLOCKS = {
    "mixtral": (mixtral, "model.layers.{}.block_sparse_moe."),
    "deepseek_v3": (deepseek_v3, "model.layers.{}.mlp."),
    "llama4_text": (llama4_text, "model.layers.{}.feed_forward."),
}


def main():
    config_path, layer, weights, x_path, y_path = sys.argv[1:6]
    config = json.load(open(config_path))
    block, prefix = BLOCKS[config["model_type"]]
    x = np.load(x_path).astype(np.float64)
    tensors = {n: t.astype(np.float64) for n, t in read_safetensors(weights).items()}
    want = block(config, tensors, prefix.format(layer), x)
    got = np.load(y_path).astype(np.float64)
    error = np.linalg.norm(got - want) / np.linalg.norm(want)
    verdict = "matched" if error <= TOLERANCE else "MISMATCH"
    print(f"reference: {verdict}: normwise relative error {error:.2e} against float64 numpy "
          f"of transformers' {config['model_type']} block (tolerance {TOLERANCE:g})")
    return 0 if error <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
