"""Writes a small, valid Hugging Face config with some keys changed.

    config.py FAMILY OUT [KEY=JSON ...] [-KEY ...]

FAMILY is mixtral, qwen2_moe, deepseek_v3, llama4_text or llama4 (nested
text_config). KEY=JSON replaces a key's value in place (or adds it before the
closing brace) with JSON text written verbatim, so that values Python's json
would normalise (9223372036854775808, 4096.0, 1e999) reach the importer as
written; -KEY removes a key. One key per line: the base config's keys from
line 2, column 3, in the order below; added keys follow them. llama4 puts
the llama4_text keys but model_type into "text_config" (line 3), from line
4, column 5.
"""

import sys

BASE = {
    "mixtral": [
        ("model_type", '"mixtral"'),
        ("hidden_size", "64"),
        ("intermediate_size", "96"),
        ("num_hidden_layers", "2"),
        ("num_local_experts", "4"),
        ("num_experts_per_tok", "2"),
    ],
    "qwen2_moe": [
        ("model_type", '"qwen2_moe"'),
        ("hidden_size", "48"),
        ("moe_intermediate_size", "24"),
        ("shared_expert_intermediate_size", "80"),
        ("num_hidden_layers", "4"),
        ("num_experts", "8"),
        ("num_experts_per_tok", "2"),
        ("decoder_sparse_step", "1"),
        ("mlp_only_layers", "[0]"),
    ],
    "deepseek_v3": [
        ("model_type", '"deepseek_v3"'),
        ("hidden_size", "48"),
        ("moe_intermediate_size", "16"),
        ("num_hidden_layers", "3"),
        ("first_k_dense_replace", "1"),
        ("n_routed_experts", "16"),
        ("n_shared_experts", "1"),
        ("num_experts_per_tok", "4"),
        ("n_group", "4"),
        ("topk_group", "2"),
        ("routed_scaling_factor", "2.5"),
        ("norm_topk_prob", "true"),
    ],
    "llama4_text": [
        ("model_type", '"llama4_text"'),
        ("hidden_size", "48"),
        ("intermediate_size", "32"),
        ("num_hidden_layers", "4"),
        ("interleave_moe_layer_step", "2"),
        ("num_local_experts", "8"),
        ("num_experts_per_tok", "1"),
    ],
}


def render(keys, indent):
    return ",\n".join(f'{indent}"{key}": {value}' for key, value in keys)


def main():
    family, out, edits = sys.argv[1], sys.argv[2], sys.argv[3:]
    nested = family == "llama4"
    keys = list(BASE["llama4_text" if nested else family])
    for edit in edits:
        if edit.startswith("-"):
            keys = [(k, v) for k, v in keys if k != edit[1:]]
            continue
        key, value = edit.split("=", 1)
        names = [k for k, _ in keys]
        if key in names:
            keys[names.index(key)] = (key, value)
        else:
            keys.append((key, value))
    if nested:
        text = ('{\n  "model_type": "llama4",\n  "text_config": {\n'
                + render(keys[1:], "    ") + "\n  }\n}\n")
    else:
        text = "{\n" + render(keys, "  ") + "\n}\n"
    with open(out, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
