"""Issue 16 survey, group C: hy_v4 ... minimax_m2 (see notes/families/group_c.md)."""

from hfcheck import Family

TINY = dict(hidden_size=32, num_attention_heads=4, num_key_value_heads=2,
            vocab_size=64, pad_token_id=0, bos_token_id=1, eos_token_id=2)


def _cond_gen(config):
    """The multimodal model with its generation head (the published layout)."""
    import transformers

    return transformers.AutoModelForImageTextToText.from_config(config)


def _lm(model, layer, attr="mlp"):
    """Block of a multimodal model whose text tower is model.model.language_model."""
    return getattr(model.model.language_model.layers[layer], attr)


# Hy-V4 (Tencent Hunyuan 4): MLA + DSA indexer + hyper-connections; the MoE
# block is DeepSeek-V3 routing (groups kept on here) with clamped SwiGLU experts.
HY_V4_TEXT = dict(
    TINY, num_hidden_layers=3, intermediate_size=48, moe_intermediate_size=16,
    n_routed_experts=8, n_shared_experts=2, num_experts_per_tok=2,
    routed_scaling_factor=2.5, norm_topk_prob=True, n_group=2, topk_group=1,
    q_lora_rank=16, kv_lora_rank=16, qk_nope_head_dim=8, qk_rope_head_dim=8,
    v_head_dim=8, head_dim=8, index_topk=8, index_head_dim=8, index_n_heads=2,
    hc_mult=2, swiglu_limit=1.0, mlp_layer_types=["dense", "sparse", "sparse"])

INKLING_TEXT = dict(
    TINY, num_hidden_layers=2, head_dim=8, swa_num_attention_heads=4,
    swa_num_key_value_heads=2, swa_head_dim=8, sliding_window_size=16,
    d_rel=4, rel_extent=16, intermediate_size=48, moe_intermediate_size=16,
    n_routed_experts=8, n_shared_experts=2, num_experts_per_tok=2,
    route_scale=2.0, mlp_layer_types=["dense", "sparse"])

INKLING2_TEXT = dict(
    TINY, num_hidden_layers=2, head_dim=8, swa_num_attention_heads=4,
    swa_num_key_value_heads=2, swa_head_dim=8, sliding_window_size=16,
    d_rel=4, rel_extent=16, unpadded_vocab_size=64, moe_intermediate_size=16,
    n_routed_experts=8, num_experts_per_tok=2, route_scale=2.0,
    n_layers_per_attn_res_block=1, mlp_gate_softcap=1.0, mlp_up_softcap=1.5,
    log_scaling_n_floor=16)

FAMILIES = {
    "hy_v4": Family("hy_v4", HY_V4_TEXT, layer=1),
    "hy_v4_vl": Family(
        "hy_v4_vl",
        dict(text_config=dict(HY_V4_TEXT, rope_parameters=dict(
                 rope_type="default", rope_theta=10000.0, mrope_section=[2, 1, 1])),
             vision_config=dict(hidden_size=16, intermediate_size=32,
                                num_attention_heads=2, num_hidden_layers=1,
                                out_hidden_size=32, patch_size=4)),
        layer=1, build=_cond_gen, block=_lm),
    "inkling": Family(
        "inkling_mm_model",
        dict(text_config=INKLING_TEXT,
             # patch 2 x temporal 2 gives 3 scales: 3 vision layers avoid
             # plan_out_scales' scipy path.
             vision_config=dict(hidden_size=16, num_hidden_layers=3,
                                num_attention_heads=2, patch_size=2,
                                temporal_patch_size=2),
             audio_config=dict()),
        layer=1, build=_cond_gen, block=_lm),
    "inkling2": Family(
        "inkling2",
        dict(text_config=INKLING2_TEXT,
             vision_config=dict(hidden_size=16, num_hidden_layers=1,
                                num_attention_heads=2, patch_size=4,
                                posemb_grid_size=4, projection_hidden_dim=32,
                                text_hidden_size=32)),
        layer=1, build=_cond_gen, block=_lm),
    "inkling2_loop": Family(
        "inkling2_loop",
        dict(text_config=dict(INKLING2_TEXT, num_hidden_layers=4,
                              loop_layer_index_start=1, loop_layer_index_end=3,
                              loop_num_passes=2, loop_gate_rank=4),
             vision_config=dict(hidden_size=16, num_hidden_layers=1,
                                num_attention_heads=2, patch_size=4,
                                posemb_grid_size=4, projection_hidden_dim=32,
                                text_hidden_size=32)),
        layer=1, build=_cond_gen, block=_lm),
    "jamba": Family(
        "jamba",
        dict(TINY, num_hidden_layers=4, intermediate_size=48, num_experts=8,
             num_experts_per_tok=2, expert_layer_period=2, expert_layer_offset=1,
             attn_layer_period=2, attn_layer_offset=0, use_mamba_kernels=False,
             mamba_d_state=4, mamba_expand=2),
        layer=1, block=lambda m, l: m.model.layers[l].feed_forward),
    "jetmoe": Family(
        "jetmoe",
        dict(hidden_size=32, num_key_value_heads=2, kv_channels=8, vocab_size=64,
             num_hidden_layers=2, intermediate_size=24, num_local_experts=8,
             num_experts_per_tok=2),
        layer=1),
    "kimi_linear": Family(
        "kimi_linear",
        dict(TINY, num_hidden_layers=3, intermediate_size=48,
             moe_intermediate_size=16, num_experts=8, num_shared_experts=2,
             num_experts_per_token=2, num_expert_group=2, topk_group=1,
             moe_renormalize=True, routed_scaling_factor=2.5, kv_lora_rank=16,
             qk_rope_head_dim=8, qk_nope_head_dim=8, v_head_dim=8,
             linear_head_dim=8, linear_num_heads=4,
             mlp_layer_types=["dense", "sparse", "sparse"],
             layer_types=["linear_attention", "full_attention", "linear_attention"]),
        layer=1),
    "kolibri1": Family(
        "kolibri1",
        dict(TINY, num_hidden_layers=2, head_dim=8, moe_intermediate_size=16,
             num_experts=8, num_experts_per_tok=2, norm_topk_prob=True,
             shared_expert_intermediate_size=24, sliding_window=16),
        layer=1),
    "laguna": Family(
        "laguna",
        dict(TINY, num_hidden_layers=2, head_dim=8, intermediate_size=48,
             moe_intermediate_size=16, shared_expert_intermediate_size=24,
             num_experts=8, num_experts_per_tok=2, sliding_window=16,
             moe_routed_scaling_factor=2.5, moe_router_logit_softcapping=2.0,
             mlp_layer_types=["dense", "sparse"]),
        layer=1),
    "lara_mini": Family(
        "lara_mini",
        dict(TINY, num_hidden_layers=2, head_dim=8, linear_key_head_dim=8,
             linear_value_head_dim=8, linear_num_key_heads=2,
             linear_num_value_heads=4, moe_intermediate_size=16,
             shared_expert_intermediate_size=24, num_experts=8,
             num_experts_per_tok=2, norm_topk_prob=True, sliding_window=16,
             layer_types=["linear_attention", "full_attention"]),
        layer=1),
    "lfm2_moe": Family(
        "lfm2_moe",
        dict(TINY, num_hidden_layers=3, intermediate_size=48,
             moe_intermediate_size=16, num_dense_layers=1, num_experts=8,
             num_experts_per_tok=2, use_expert_bias=True,
             routed_scaling_factor=2.5, norm_topk_prob=True,
             layer_types=["conv", "full_attention", "conv"]),
        layer=1, block=lambda m, l: m.model.layers[l].feed_forward),
    "llama4": Family(
        "llama4",
        dict(text_config=dict(TINY, num_hidden_layers=2, head_dim=8,
                              intermediate_size=16, intermediate_size_mlp=48,
                              num_local_experts=8, num_experts_per_tok=1,
                              interleave_moe_layer_step=2),
             vision_config=dict(hidden_size=16, intermediate_size=32,
                                num_hidden_layers=1, num_attention_heads=2,
                                image_size=16, patch_size=4,
                                vision_output_dim=16, projector_input_dim=16,
                                projector_output_dim=16)),
        layer=1, build=_cond_gen,
        block=lambda m, l: m.language_model.model.layers[l].feed_forward),
    "longcat_flash": Family(
        "longcat_flash",
        dict(TINY, num_layers=2, ffn_hidden_size=48, expert_ffn_hidden_size=16,
             n_routed_experts=8, zero_expert_num=4, moe_topk=3,
             routed_scaling_factor=2.5, q_lora_rank=16, kv_lora_rank=16,
             qk_nope_head_dim=8, qk_rope_head_dim=8, head_dim=8, v_head_dim=8),
        layer=1),
    "mellum": Family(
        "mellum",
        dict(TINY, num_hidden_layers=2, head_dim=8, intermediate_size=48,
             moe_intermediate_size=16, num_experts=8, num_experts_per_tok=2,
             norm_topk_prob=True, sliding_window=16,
             mlp_layer_types=["dense", "sparse"]),
        layer=1),
    "mimo_v2_flash": Family(
        "mimo_v2_flash",
        dict(TINY, num_hidden_layers=2, head_dim=8, v_head_dim=8,
             intermediate_size=48, moe_intermediate_size=16, n_routed_experts=8,
             num_experts_per_tok=2, n_group=2, topk_group=1,
             routed_scaling_factor=2.5, norm_topk_prob=True, sliding_window=16),
        layer=1),
    "minimax": Family(
        "minimax",
        dict(TINY, num_hidden_layers=2, head_dim=8, intermediate_size=16,
             num_local_experts=8, num_experts_per_tok=2, block_size=16),
        layer=1),
    "minimax_m2": Family(
        "minimax_m2",
        dict(TINY, num_hidden_layers=2, head_dim=8, intermediate_size=16,
             num_local_experts=8, num_experts_per_tok=2),
        layer=1),
}
