"""Issue 16 survey, group b: ernie4_5_moe .. hy_v3 (notes in
/work/notes/families/group_b.md)."""

from hfcheck import Family

TINY = dict(hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
            num_key_value_heads=2, vocab_size=64)


def _auto_image_text(config):
    import transformers
    return transformers.AutoModelForImageTextToText.from_config(config)


# DeepSeek-V3 style routers (sigmoid, correction bias, groups): 16 experts in
# 4 groups of 4, 2 groups kept, top-4.
DSV3_ROUTING = dict(n_routed_experts=16, num_experts_per_tok=4, n_group=4,
                    topk_group=2, norm_topk_prob=True,
                    routed_scaling_factor=2.5, n_shared_experts=2)

# MLA attention for the GLM lite / DSA models, tiny.
MLA = dict(kv_lora_rank=16, q_lora_rank=24, qk_rope_head_dim=8,
           qk_nope_head_dim=8, v_head_dim=8)


def _granite_shared_run(block, x):
    """MoE block plus the decoder layer's shared_mlp, as the layer adds them
    (residual and residual_multiplier excluded)."""
    h = x.unsqueeze(0)
    out = block.block_sparse_moe(h)
    if block.shared_mlp is not None:
        out = out + block.shared_mlp(h)
    return out.reshape(x.shape)


def _gemma4_run(layer, x):
    """Gemma 4's feed-forward half of a decoder layer, without the residual:
    post_ffn_norm(post_ffn_norm_1(mlp(pre_ffn_norm(x)))
                  + post_ffn_norm_2(experts(pre_ffn_norm_2(x), router(x))))."""
    h1 = layer.post_feedforward_layernorm_1(layer.mlp(layer.pre_feedforward_layernorm(x)))
    _, w, idx = layer.router(x)
    h2 = layer.post_feedforward_layernorm_2(
        layer.experts(layer.pre_feedforward_layernorm_2(x), idx, w))
    return layer.post_feedforward_layernorm(h1 + h2)


def _ernie_vl_run(block, x):
    """Text tokens only (moe_mm_token_type_ids None -> text_moe)."""
    out, _ = block(x.unsqueeze(0), None)
    return out.reshape(x.shape)


FAMILIES = {
    "ernie4_5_moe": Family(
        "ernie4_5_moe",
        dict(TINY, intermediate_size=64, moe_intermediate_size=48,
             moe_num_experts=8, moe_k=2, moe_num_shared_experts=2,
             moe_layer_start_index=1, moe_layer_interval=1, use_bias=False),
        layer=1,
        notes="softmax; top-k on scores + [1, E] bias; / max(sum, moe_norm_min); "
              "ungated shared MLP"),
    "ernie4_5_moe_bias": Family(
        "ernie4_5_moe",
        dict(TINY, intermediate_size=64, moe_intermediate_size=48,
             moe_num_experts=8, moe_k=2, moe_num_shared_experts=2,
             moe_layer_start_index=1, moe_layer_interval=1, use_bias=True),
        layer=1,
        notes="use_bias: the shared MLP's biases (refused; no published config)"),
    "ernie4_5_vl_moe": Family(
        "ernie4_5_vl_moe",
        dict(text_config=dict(TINY, intermediate_size=64,
                              moe_intermediate_size=[48, 16], moe_num_experts=8,
                              moe_k=2, moe_num_shared_experts=2, use_bias=True,
                              rope_parameters={"rope_type": "default",
                                               "rope_theta": 500000.0,
                                               "mrope_section": [1, 1, 2]}),
             vision_config=dict(depth=1, hidden_size=16, num_heads=2,
                                intermediate_size=32)),
        layer=1,
        build=_auto_image_text,
        block=lambda m, l: m.model.language_model.layers[l].mlp,
        run=_ernie_vl_run,
        notes="text tokens only; vision tokens use the vision_moe experts"),
    "exaone_moe": Family(
        "exaone_moe",
        dict(TINY, intermediate_size=64, moe_intermediate_size=48,
             num_experts=16, num_experts_per_tok=4, n_group=4, topk_group=2,
             num_shared_experts=2, routed_scaling_factor=2.5,
             norm_topk_prob=True, first_k_dense_replace=1),
        layer=1),
    "flex_olmo": Family(
        "flex_olmo",
        dict(TINY, intermediate_size=48, num_experts=8, num_experts_per_tok=2,
             norm_topk_prob=True, pad_token_id=None),
        layer=1),
    "flint": Family(
        "flint",
        dict(TINY, intermediate_size=64, moe_intermediate_size=48,
             shared_expert_intermediate_size=40, num_experts=8,
             num_experts_per_tok=2, norm_topk_prob=True, head_dim=8,
             mlp_only_layers=[0], sliding_window=16),
        layer=1),
    "gemma4": Family(
        "gemma4",
        dict(text_config=dict(TINY, intermediate_size=64, head_dim=8,
                              global_head_dim=8, enable_moe_block=True,
                              num_experts=8, top_k_experts=2,
                              moe_intermediate_size=48,
                              hidden_size_per_layer_input=0,
                              vocab_size_per_layer_input=64,
                              sliding_window=16),
             vision_config=None, audio_config=None),
        layer=1,
        build=_auto_image_text,
        block=lambda m, l: m.model.language_model.layers[l],
        run=_gemma4_run,
        notes="the MoE lives in the decoder layer (router/experts beside a "
              "dense mlp); compared: the feed-forward half without residual"),
    "gemma4_text": Family(
        "gemma4_text",
        dict(TINY, intermediate_size=64, head_dim=8, global_head_dim=8,
             enable_moe_block=True, num_experts=8, top_k_experts=2,
             moe_intermediate_size=48, hidden_size_per_layer_input=0,
             vocab_size_per_layer_input=64, sliding_window=16),
        layer=1,
        block=lambda m, l: m.model.layers[l],
        run=_gemma4_run,
        notes="text-only Gemma 4 (model.layers.{L}.): the feed-forward half as gemma4"),
    "glm4_moe": Family(
        "glm4_moe",
        dict(TINY, intermediate_size=64, moe_intermediate_size=48,
             first_k_dense_replace=1, **DSV3_ROUTING),
        layer=1),
    "glm4_moe_lite": Family(
        "glm4_moe_lite",
        dict(TINY, intermediate_size=64, moe_intermediate_size=48,
             num_key_value_heads=4, **MLA, **DSV3_ROUTING),
        layer=1),
    "glm4v_moe": Family(
        "glm4v_moe",
        dict(text_config=dict(TINY, intermediate_size=64,
                              moe_intermediate_size=48, first_k_dense_replace=1,
                              rope_parameters={"rope_type": "default",
                                               "rope_theta": 10000.0,
                                               "partial_rotary_factor": 0.5,
                                               "mrope_section": [1, 1, 2]},
                              **DSV3_ROUTING),
             vision_config=dict(depth=1, hidden_size=16, num_heads=2,
                                intermediate_size=32, out_hidden_size=32)),
        layer=1,
        build=_auto_image_text,
        block=lambda m, l: m.model.language_model.layers[l].mlp),
    "glm5_next": Family(
        "glm5_next",
        dict(text_config=dict(TINY, num_hidden_layers=4, intermediate_size=64,
                              moe_intermediate_size=48, num_key_value_heads=4,
                              kv_lora_rank=16, q_lora_rank=24,
                              qk_rope_head_dim=0, qk_nope_head_dim=8,
                              v_head_dim=8, index_topk=16, index_head_dim=8,
                              index_n_heads=2, index_kpool=4,
                              linear_head_dim=8, linear_num_heads=4,
                              hc_mult=2, swiglu_limit=1.0, pad_token_id=None,
                              mlp_layer_types=["dense", "sparse", "sparse",
                                               "sparse"],
                              **DSV3_ROUTING),
             vision_config=dict(depth=1, hidden_size=16, num_heads=2,
                                intermediate_size=32, out_hidden_size=32)),
        layer=1,
        build=_auto_image_text,
        block=lambda m, l: m.model.language_model.layers[l].mlp,
        notes="swiglu_limit=1.0 so that the clamps bite on the random input"),
    "glm_moe_dsa": Family(
        "glm_moe_dsa",
        dict(TINY, intermediate_size=64, moe_intermediate_size=48,
             num_key_value_heads=4, first_k_dense_replace=1, index_topk=16,
             index_head_dim=8, index_n_heads=2, head_dim=8, **MLA,
             **DSV3_ROUTING),
        layer=1),
    "gpt_oss": Family(
        "gpt_oss",
        dict(TINY, intermediate_size=48, head_dim=8, num_local_experts=8,
             num_experts_per_tok=2, swiglu_limit=1.0, sliding_window=16),
        layer=1,
        notes="swiglu_limit=1.0 so that the clamps bite on the random input"),
    "granitemoe": Family(
        "granitemoe",
        dict(TINY, intermediate_size=48, num_local_experts=8,
             num_experts_per_tok=2),
        layer=1,
        block=lambda m, l: m.model.layers[l].block_sparse_moe),
    "granitemoe_swa": Family(
        "granitemoe_swa",
        dict(TINY, intermediate_size=48, num_local_experts=8,
             num_experts_per_tok=2, shared_intermediate_size=40,
             sliding_window=16),
        layer=1,
        block=lambda m, l: m.model.layers[l],
        run=_granite_shared_run,
        notes="shared_mlp sits in the decoder layer beside block_sparse_moe"),
    "granitemoehybrid": Family(
        "granitemoehybrid",
        dict(TINY, intermediate_size=48, num_local_experts=8,
             num_experts_per_tok=2, shared_intermediate_size=40,
             layer_types=["linear_attention", "attention", "linear_attention"],
             mamba_n_heads=4, mamba_d_state=8, mamba_d_head=16,
             mamba_chunk_size=16),
        layer=1,
        block=lambda m, l: m.model.layers[l],
        run=_granite_shared_run,
        notes="shared_mlp sits in the decoder layer beside block_sparse_moe"),
    "granitemoeshared": Family(
        "granitemoeshared",
        dict(TINY, intermediate_size=48, num_local_experts=8,
             num_experts_per_tok=2, shared_intermediate_size=40),
        layer=1,
        block=lambda m, l: m.model.layers[l],
        run=_granite_shared_run,
        notes="shared_mlp sits in the decoder layer beside block_sparse_moe"),
    "hunyuan_v1_moe": Family(
        "hunyuan_v1_moe",
        dict(TINY, intermediate_size=48, num_experts=8, moe_topk=2,
             head_dim=8),
        layer=1),
    "hy_v3": Family(
        "hy_v3",
        dict(TINY, intermediate_size=64, moe_intermediate_size=48,
             num_experts=8, num_experts_per_tok=2, num_shared_experts=2,
             router_scaling_factor=2.826, mlp_bias=True, head_dim=8),
        layer=1),
    # The published HY-V3 has no MLP biases.
    "hy_v3_nobias": Family(
        "hy_v3",
        dict(TINY, intermediate_size=64, moe_intermediate_size=48,
             num_experts=8, num_experts_per_tok=2, num_shared_experts=2,
             router_scaling_factor=2.826, mlp_bias=False, head_dim=8),
        layer=1),
}
