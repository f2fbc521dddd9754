"""Issue 16 survey, group A: afmoe aria axk1 axk2 bailing_hybrid bamba beam
cohere2_moe dbrx deepseek_ocr2 deepseek_v2 deepseek_v3 deepseek_v32
deepseek_v4 doge dots1 dots3_note diffusion_gemma.

Notes on each family: /work/notes/families/group_a.md (bamba is not MoE and
has no entry). Names with a suffix (deepseek_v2_norm, cohere2_moe_sigmoid,
deepseek_v4_hash, ...) are variants of the same model_type that switch on a
code path the first entry leaves off.
"""

import numpy as np

from hfcheck import Family

TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, vocab_size=64)

# Multi-head latent attention (DeepSeek V2/V3 style) at a tiny size.
MLA = dict(kv_lora_rank=16, q_lora_rank=16, qk_rope_head_dim=4,
           qk_nope_head_dim=4, v_head_dim=8)
# DeepSeek V3.2 style sparse-attention indexer at a tiny size.
INDEXER = dict(index_topk=8, index_head_dim=8, index_n_heads=2)


# DeepSeek-OCR-2's vision tower (SAM + a Qwen2 encoder) at a tiny size.
OCR2_VISION = dict(
    sam_config=dict(hidden_size=16, output_channels=16, num_hidden_layers=2,
                    num_attention_heads=2, image_size=64, patch_size=16,
                    window_size=2, global_attn_indexes=[1]),
    encoder_config=dict(hidden_size=32, intermediate_size=64,
                        num_hidden_layers=1, num_attention_heads=4,
                        num_key_value_heads=4, vocab_size=64))


def _text_layers(model, layer):
    return model.model.language_model.layers[layer].mlp


# --- DeepSeek V4 hash routing: the block needs the token ids. -------------
V4_TOKENS = 37


def _v4_ids():
    return np.arange(V4_TOKENS, dtype=np.int64) * 7 % 64


def _run_v4_hash(block, x):
    import torch

    ids = torch.from_numpy(_v4_ids()).unsqueeze(0)
    return block(x.unsqueeze(0), input_ids=ids).reshape(x.shape)


def _build_v4_hash(config):
    """tid2eid is a buffer that randomize leaves at zero (every token on
    expert 0 twice): give each token k distinct experts."""
    import torch
    import transformers

    model = transformers.AutoModelForCausalLM.from_config(config)
    gen = torch.Generator().manual_seed(5)
    for layer, kind in enumerate(config.mlp_layer_types):
        if kind == "hash_moe":
            gate = model.model.layers[layer].mlp.gate
            table = torch.stack([torch.randperm(gate.num_experts, generator=gen)[:gate.top_k]
                                 for _ in range(config.vocab_size)])
            gate.tid2eid.copy_(table)
    return model


def _v4_hash_args(work):
    np.save(work / "ids.npy", _v4_ids())
    return ["--token-ids", work / "ids.npy"]


# --- Diffusion Gemma: the MoE is not a module of its own. ------------------
def _diffusion_gemma_layer(model, layer):
    # The encoder's text layers are tied to these (saved once, here).
    return model.model.decoder.layers[layer]


def _run_diffusion_gemma(layer, x):
    """The feed-forward half of a (Gemma 4 style) layer, from the residual
    stream x, without the residual: the router reads x, the experts
    pre_feedforward_layernorm_2(x) and post_feedforward_layernorm_2
    normalises their sum; the dense mlp sits between
    pre_feedforward_layernorm and post_feedforward_layernorm_1; and
    post_feedforward_layernorm normalises the two's sum."""
    _, weights, index = layer.router(x)
    moe = layer.post_feedforward_layernorm_2(
        layer.experts(layer.pre_feedforward_layernorm_2(x), index, weights))
    dense = layer.post_feedforward_layernorm_1(
        layer.mlp(layer.pre_feedforward_layernorm(x)))
    return layer.post_feedforward_layernorm(dense + moe)


def _build_text_only(cls_name, module):
    def build(config):
        import importlib

        mod = importlib.import_module(f"transformers.models.{module}.modeling_{module}")
        return getattr(mod, cls_name)(config)

    return build


FAMILIES = {
    "afmoe": Family("afmoe", dict(
        TINY, head_dim=8, intermediate_size=64, moe_intermediate_size=16,
        num_experts=8, num_experts_per_tok=2, num_shared_experts=2,
        route_scale=2.5, num_dense_layers=1, global_attn_every_n_layers=2,
        sliding_window=16), layer=1,
        notes="sigmoid + expert_bias selection, renorm (+1e-20), route_scale"),
    "aria": Family("aria", dict(
        text_config=dict(TINY, intermediate_size=16, moe_num_experts=8,
                         moe_topk=2, moe_num_shared_experts=2),
        vision_config=dict(hidden_size=32, intermediate_size=64,
                           num_hidden_layers=1, num_attention_heads=4,
                           image_size=28, patch_size=14),
        projector_patch_to_query_dict={4: 4}),
        layer=1, block=_text_layers,
        build=lambda c: __import__("transformers").AriaForConditionalGeneration(c),
        notes="selection on logits, softmax over the k selected logits"),
    "axk1": Family("axk1", dict(
        TINY, **MLA, intermediate_size=64, moe_intermediate_size=16,
        n_routed_experts=8, num_experts_per_tok=2, n_shared_experts=1,
        n_group=4, topk_group=2, routed_scaling_factor=2.5,
        norm_topk_prob=True, first_k_dense_replace=1), layer=1,
        notes="DeepSeek-V3 block followed by an RMSNorm of its output"),
    "axk2": Family("axk2", dict(
        TINY, **MLA, **INDEXER, head_dim=8, gated_norm_rank=4,
        intermediate_size=64, moe_intermediate_size=16, n_routed_experts=8,
        num_experts_per_tok=2, n_shared_experts=1, n_group=4, topk_group=2,
        routed_scaling_factor=2.5, norm_topk_prob=True,
        first_k_dense_replace=1), layer=1,
        notes="DeepSeek-V3 routing; masked groups filled with 0.0, not -inf"),
    "axk2_nogroup": Family("axk2", dict(
        TINY, **MLA, **INDEXER, head_dim=8, gated_norm_rank=4,
        intermediate_size=64, moe_intermediate_size=16, n_routed_experts=8,
        num_experts_per_tok=2, n_shared_experts=1, n_group=None,
        topk_group=None, routed_scaling_factor=2.5, norm_topk_prob=True,
        first_k_dense_replace=1), layer=1,
        notes="n_group null: no group limit (the released 'light' configs)"),
    "bailing_hybrid": Family("bailing_hybrid", dict(
        TINY, **dict(MLA, q_lora_rank=None), head_dim=8, intermediate_size=64,
        moe_intermediate_size=16, num_experts=8, num_experts_per_tok=2,
        num_shared_experts=1, num_expert_group=4, topk_group=2,
        routed_scaling_factor=2.5, moe_renormalize=True,
        first_k_dense_replace=1, layer_group_size=2, pad_token_id=0),
        layer=1, notes="DeepSeek-V3 noaux_tc block under Bailing key names"),
    "beam": Family("beam", dict(
        TINY, num_hidden_layers=4, head_dim=8, intermediate_size=64,
        moe_intermediate_size=16, num_experts=8, num_experts_per_tok=2,
        n_group=4, topk_group=2, routed_scaling_factor=2.5,
        norm_topk_prob=True, sliding_window=16), layer=3,
        notes="DeepSeek-V3 noaux_tc routing, no shared expert; first 3 layers dense"),
    "cohere2_moe": Family("cohere2_moe", dict(
        TINY, head_dim=8, intermediate_size=16, num_experts=8,
        num_experts_per_tok=2, num_shared_experts=1,
        shared_expert_combination_strategy="average",
        expert_selection_fn="softmax", first_k_dense_replace=1,
        prefix_dense_intermediate_size=64, sliding_window=16), layer=1,
        notes="softmax over the k selected logits; (routed + shared) / 2"),
    "cohere2_moe_sigmoid": Family("cohere2_moe", dict(
        TINY, head_dim=8, intermediate_size=16, num_experts=8,
        num_experts_per_tok=2, num_shared_experts=2,
        shared_expert_combination_strategy="sum",
        expert_selection_fn="sigmoid", norm_topk_prob=True,
        first_k_dense_replace=1, prefix_dense_intermediate_size=64,
        sliding_window=16), layer=1,
        notes="sigmoid of the k selected logits, renormalised (no eps); routed + shared"),
    "dbrx": Family("dbrx", dict(
        d_model=32, n_heads=4, n_layers=2, vocab_size=64,
        attn_config=dict(kv_n_heads=2, rope_theta=10000.0),
        ffn_config=dict(ffn_hidden_size=16, moe_num_experts=8, moe_top_k=2,
                        moe_normalize_expert_weights=1.0)),
        layer=1, block=lambda m, l: m.transformer.blocks[l].ffn,
        notes="softmax, top-k, divide by the p-norm (p = moe_normalize_expert_weights)"),
    "dbrx_p2": Family("dbrx", dict(
        d_model=32, n_heads=4, n_layers=2, vocab_size=64,
        attn_config=dict(kv_n_heads=2, rope_theta=10000.0),
        ffn_config=dict(ffn_hidden_size=16, moe_num_experts=8, moe_top_k=4,
                        moe_normalize_expert_weights=2.0)),
        layer=1, block=lambda m, l: m.transformer.blocks[l].ffn,
        notes="p = 2: weights divided by their Euclidean norm"),
    "deepseek_ocr2": Family("deepseek_ocr2", dict(
        text_config=dict(TINY, intermediate_size=64, moe_intermediate_size=16,
                         n_routed_experts=8, num_experts_per_tok=2,
                         n_shared_experts=2, routed_scaling_factor=1.0,
                         topk_method="greedy",
                         mlp_layer_types=["dense", "sparse"]),
        vision_config=OCR2_VISION),
        layer=1, block=_text_layers,
        build=lambda c: __import__("transformers").DeepseekOcr2ForConditionalGeneration(c),
        notes="DeepSeek-V2 greedy softmax routing, MHA attention, nested text_config"),
    "deepseek_v2": Family("deepseek_v2", dict(
        TINY, **MLA, intermediate_size=64, moe_intermediate_size=16,
        n_routed_experts=8, num_experts_per_tok=2, n_shared_experts=2,
        n_group=4, topk_group=2, topk_method="group_limited_greedy",
        routed_scaling_factor=2.0, norm_topk_prob=False,
        first_k_dense_replace=1), layer=1),
    "deepseek_v2_norm": Family("deepseek_v2", dict(
        TINY, **MLA, intermediate_size=64, moe_intermediate_size=16,
        n_routed_experts=8, num_experts_per_tok=2, n_shared_experts=2,
        topk_method="greedy", routed_scaling_factor=2.0, norm_topk_prob=True,
        first_k_dense_replace=1), layer=1,
        notes="transformers ignores norm_topk_prob (never renormalises, always scales)"),
    "deepseek_v3": Family("deepseek_v3", dict(
        TINY, **MLA, intermediate_size=64, moe_intermediate_size=16,
        n_routed_experts=8, num_experts_per_tok=2, n_shared_experts=1,
        n_group=4, topk_group=2, routed_scaling_factor=2.5,
        norm_topk_prob=True, first_k_dense_replace=1), layer=1),
    "deepseek_v32": Family("deepseek_v32", dict(
        TINY, **MLA, **INDEXER, head_dim=8, intermediate_size=64,
        moe_intermediate_size=16, n_routed_experts=8, num_experts_per_tok=2,
        n_shared_experts=1, n_group=4, topk_group=2,
        routed_scaling_factor=2.5, norm_topk_prob=True,
        first_k_dense_replace=1), layer=1,
        notes="MoE identical to deepseek_v3; layer rule from mlp_layer_types"),
    "deepseek_v4": Family("deepseek_v4", dict(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=1, head_dim=16, qk_rope_head_dim=4,
        q_lora_rank=16, vocab_size=64, moe_intermediate_size=16,
        n_routed_experts=8, num_experts_per_tok=2, n_shared_experts=1,
        scoring_func="sqrtsoftplus", routed_scaling_factor=1.5,
        swiglu_limit=0.5, mlp_layer_types=["hash_moe", "moe"],
        layer_types=["compressed_sparse_attention", "heavily_compressed_attention"],
        compress_rates={"compressed_sparse_attention": 2,
                        "heavily_compressed_attention": 4},
        hc_mult=2, hc_sinkhorn_iters=3, sliding_window=8, o_groups=2,
        o_lora_rank=8, index_n_heads=2, index_head_dim=8, index_topk=4),
        layer=1,
        notes="sqrtsoftplus + correction bias, renorm, scale; clamped SwiGLU (also shared)"),
    "deepseek_v4_hash": Family("deepseek_v4", dict(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=1, head_dim=16, qk_rope_head_dim=4,
        q_lora_rank=16, vocab_size=64, moe_intermediate_size=16,
        n_routed_experts=8, num_experts_per_tok=2, n_shared_experts=1,
        scoring_func="sqrtsoftplus", routed_scaling_factor=1.5,
        swiglu_limit=0.5, mlp_layer_types=["hash_moe", "moe"],
        layer_types=["compressed_sparse_attention", "heavily_compressed_attention"],
        compress_rates={"compressed_sparse_attention": 2,
                        "heavily_compressed_attention": 4},
        hc_mult=2, hc_sinkhorn_iters=3, sliding_window=8, o_groups=2,
        o_lora_rank=8, index_n_heads=2, index_head_dim=8, index_topk=4),
        layer=0, run=_run_v4_hash, moe_run_args=_v4_hash_args,
        build=_build_v4_hash,
        tokens=V4_TOKENS,
        notes="hash layer: experts from tid2eid[token id]; weights from the scores"),
    "doge": Family("doge", dict(
        TINY, intermediate_size=64, is_moe=True, num_experts=16,
        num_experts_per_tok=4, norm_topk_prob=False, keep_window_size=16),
        layer=1, notes="product-key routing over sqrt(E)^2 single-neuron experts"),
    "dots1": Family("dots1", dict(
        TINY, intermediate_size=64, moe_intermediate_size=16,
        n_routed_experts=8, num_experts_per_tok=2, n_shared_experts=1,
        n_group=2, topk_group=1, routed_scaling_factor=2.5,
        norm_topk_prob=True, first_k_dense_replace=1, sliding_window=16),
        layer=1, notes="same as deepseek_v3 (noaux_tc)"),
    "dots3_note": Family("dots3_note_text", dict(
        **dict(TINY, num_key_value_heads=4), **MLA, **INDEXER, head_dim=8, intermediate_size=64,
        moe_intermediate_size=16, shared_experts_intermediate_size=24,
        n_routed_experts=8, num_experts_per_tok=2, n_shared_experts=1,
        n_group=2, topk_group=1, routed_scaling_factor=2.5,
        norm_topk_prob=True, first_k_dense_replace=1, pad_token_id=0,
        bos_token_id=1, eos_token_id=2), layer=1,
        notes="deepseek_v3 block; shared width from shared_experts_intermediate_size"),
    "diffusion_gemma": Family("diffusion_gemma", dict(
        text_config=dict(TINY, head_dim=8, intermediate_size=64,
                         moe_intermediate_size=16, num_experts=8,
                         top_k_experts=2, sliding_window=16,
                         layer_types=["sliding_attention", "full_attention"]),
        vision_config=dict(hidden_size=32, intermediate_size=64,
                           num_hidden_layers=1, num_attention_heads=4,
                           num_key_value_heads=4, head_dim=8)),
        layer=1, block=_diffusion_gemma_layer, run=_run_diffusion_gemma,
        build=lambda c: __import__("transformers").DiffusionGemmaForBlockDiffusion(c),
        notes="Gemma 4's feed-forward half: router-input RMSNorm*scale/sqrt(H), "
              "per-expert scale, gelu_tanh experts and dense mlp, their norms"),
}
