"""Issue 16 survey, group d: minimax_m3_vl, mistral4, mistral_large4,
muse_spark, nemotron_h, nllb_moe, olmoe, openai_privacy_filter, phimoe,
qwen2_moe, qwen3_5_moe, qwen3_next, qwen3_omni_moe, qwen3_vl_moe, qwen4_exp,
solar_open, step3p7, switch_transformers, unlimited_ocr, zaya
(vitpose_backbone is not an MoE LLM: left out, see
/work/notes/families/group_d.md)."""

from hfcheck import Family

TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, vocab_size=64)

# Tiny Qwen-VL style vision towers (qwen3_vl_moe, qwen3_5_moe, qwen4_exp).
QWEN_VISION = dict(depth=1, hidden_size=32, intermediate_size=32, num_heads=2,
                   out_hidden_size=32, num_position_embeddings=16,
                   patch_size=4, spatial_merge_size=2, temporal_patch_size=2)


NLLB = dict(d_model=32, encoder_layers=2, decoder_layers=2,
            encoder_attention_heads=4, decoder_attention_heads=4,
            encoder_ffn_dim=48, decoder_ffn_dim=48, vocab_size=64,
            num_experts=8, encoder_sparse_step=2, decoder_sparse_step=2,
            max_position_embeddings=64)


def _run_nllb_top2(block, x):
    """NllbMoeSparseMLP with its expert loop as the router means it: every
    kept slot (router_probs[t, e] > 0) runs expert e, weighted, times
    1 - moe_token_dropout. transformers 5.24's NllbMoeExperts one-hots the
    already one-hot top-1 mask instead and only runs experts 0 and 1."""
    import torch

    _, probs, _ = block.router(x)
    out = torch.zeros_like(x)
    for e in range(block.num_experts):
        rows = torch.nonzero(probs[:, e] > 0).flatten()
        if rows.numel():
            y = block.experts[f"expert_{e}"](x[rows]) * probs[rows, e, None]
            out.index_add_(0, rows, y)
    return out * (1 - block.experts.moe_token_dropout)


def _auto(kind):
    def build(config):
        import transformers
        return getattr(transformers, kind).from_config(config)
    return build


def _cls(name):
    def build(config):
        import transformers
        return getattr(transformers, name)(config)
    return build


# Linear-attention (gated delta net) sizes for the Qwen3-Next family.
GDN = dict(linear_num_key_heads=2, linear_num_value_heads=4,
           linear_key_head_dim=8, linear_value_head_dim=8, linear_conv_kernel_dim=4,
           head_dim=8)

FAMILIES = {
    "qwen2_moe": Family(
        "qwen2_moe",
        dict(TINY, num_hidden_layers=3, moe_intermediate_size=48, intermediate_size=64,
             shared_expert_intermediate_size=40, num_experts=8, num_experts_per_tok=2,
             norm_topk_prob=False, decoder_sparse_step=1, mlp_only_layers=[0]),
        layer=1),
    "olmoe": Family(
        "olmoe",
        dict(TINY, intermediate_size=48, num_experts=8, num_experts_per_tok=2,
             norm_topk_prob=False),
        layer=1),
    "phimoe": Family(
        "phimoe",
        dict(TINY, intermediate_size=48, num_local_experts=8, num_experts_per_tok=2),
        layer=1,
        notes="sparsemixer top-2 (eval path); num_experts_per_tok is ignored"),
    "qwen3_next": Family(
        "qwen3_next",
        dict(TINY, num_hidden_layers=3, **GDN, moe_intermediate_size=48,
             intermediate_size=64, shared_expert_intermediate_size=40, num_experts=8,
             num_experts_per_tok=2, norm_topk_prob=True, decoder_sparse_step=1,
             mlp_only_layers=[0],
             layer_types=["linear_attention", "linear_attention", "full_attention"]),
        layer=1),
    "qwen3_5_moe": Family(
        "qwen3_5_moe",
        dict(text_config=dict(TINY, **GDN, moe_intermediate_size=48,
                              shared_expert_intermediate_size=40, num_experts=8,
                              num_experts_per_tok=2,
                              layer_types=["linear_attention", "full_attention"]),
             vision_config=QWEN_VISION),
        layer=1,
        build=_auto("AutoModelForImageTextToText"),
        block=lambda m, l: m.model.language_model.layers[l].mlp),
    "qwen3_vl_moe": Family(
        "qwen3_vl_moe",
        dict(text_config=dict(TINY, head_dim=8, moe_intermediate_size=48,
                              intermediate_size=64, num_experts=8, num_experts_per_tok=2,
                              decoder_sparse_step=1, mlp_only_layers=[0]),
             vision_config=dict(QWEN_VISION, deepstack_visual_indexes=[0])),
        layer=1,
        build=_auto("AutoModelForImageTextToText"),
        block=lambda m, l: m.model.language_model.layers[l].mlp),
    "qwen3_omni_moe": Family(
        "qwen3_omni_moe",
        dict(enable_audio_output=False,
             thinker_config=dict(
                 text_config=dict(TINY, head_dim=8, moe_intermediate_size=48,
                                  intermediate_size=64, num_experts=8,
                                  num_experts_per_tok=2, norm_topk_prob=True,
                                  decoder_sparse_step=1, mlp_only_layers=[0]),
                 vision_config=dict(QWEN_VISION, deepstack_visual_indexes=[0]),
                 audio_config=dict(d_model=32, encoder_layers=1, encoder_attention_heads=2,
                                   encoder_ffn_dim=32, output_dim=32, num_mel_bins=16,
                                   downsample_hidden_size=8, max_source_positions=64,
                                   n_window=8, n_window_infer=16, conv_chunksize=16))),
        layer=1,
        build=_cls("Qwen3OmniMoeForConditionalGeneration"),
        block=lambda m, l: m.thinker.model.language_model.layers[l].mlp,
        notes="thinker text MoE (qwen3_moe block); talker not built (enable_audio_output=False)"),
    "qwen4_exp": Family(
        "qwen4_exp",
        dict(text_config=dict(TINY, **GDN, moe_intermediate_size=48,
                              shared_expert_intermediate_size=40, num_experts=8,
                              num_experts_per_tok=2, norm_topk_prob=True,
                              hc_count=2, hc_lowrank=8, indexer_n_heads=2,
                              indexer_kv_heads=1, indexer_head_dim=8, indexer_budget=8,
                              indexer_compress_ratio=4,
                              layer_types=["linear_attention", "indexed_attention"]),
             vision_config=QWEN_VISION),
        layer=1,
        build=_auto("AutoModelForImageTextToText"),
        block=lambda m, l: m.model.language_model.layers[l].mlp),
    "mistral4": Family(
        "mistral4",
        dict(TINY, num_key_value_heads=4, kv_lora_rank=16, q_lora_rank=16,
             qk_rope_head_dim=8, qk_nope_head_dim=8, v_head_dim=8, head_dim=8,
             moe_intermediate_size=48, intermediate_size=64, n_routed_experts=8,
             n_shared_experts=2, n_group=2, topk_group=1, num_experts_per_tok=2,
             first_k_dense_replace=1, norm_topk_prob=True, routed_scaling_factor=2.0),
        layer=1,
        build=_cls("Mistral4ForCausalLM")),
    "mistral_large4": Family(
        "mistral_large4",
        dict(text_config=dict(TINY, num_key_value_heads=4, kv_lora_rank=16, q_lora_rank=16,
                              qk_rope_head_dim=8, qk_nope_head_dim=8, v_head_dim=8,
                              head_dim=8, moe_intermediate_size=48, intermediate_size=64,
                              n_routed_experts=8, n_shared_experts=2, n_group=2,
                              topk_group=1, num_experts_per_tok=2,
                              first_k_dense_replace=1, routed_scaling_factor=2.0,
                              index_topk=8, index_head_dim=8, index_n_heads=2),
             vision_config=dict(model_type="pixtral", hidden_size=32, intermediate_size=32,
                                num_hidden_layers=1, num_attention_heads=2, head_dim=16,
                                image_size=32, patch_size=8)),
        layer=1,
        build=_auto("AutoModelForImageTextToText"),
        block=lambda m, l: m.model.language_model.layers[l].mlp),
    "solar_open": Family(
        "solar_open",
        dict(TINY, head_dim=8, moe_intermediate_size=48, n_routed_experts=8,
             n_shared_experts=2, n_group=2, topk_group=1, num_experts_per_tok=2,
             norm_topk_prob=True, routed_scaling_factor=2.5),
        layer=1),
    "minimax_m3_vl": Family(
        "minimax_m3_vl",
        dict(text_config=dict(TINY, head_dim=8, rotary_dim=4, intermediate_size=48,
                              dense_intermediate_size=64, shared_intermediate_size=40,
                              num_local_experts=8, num_experts_per_tok=2,
                              routed_scaling_factor=2.0, swiglu_limit=1.0,
                              mlp_layer_types=["dense", "sparse"],
                              index_n_heads=2, index_head_dim=8, index_block_size=4,
                              index_topk_blocks=2),
             vision_config=dict(hidden_size=32, intermediate_size=32, num_hidden_layers=1,
                                num_attention_heads=2, image_size=56, patch_size=14),
             projector_hidden_size=32, merged_hidden_size=128),
        layer=1,
        build=_auto("AutoModelForImageTextToText"),
        block=lambda m, l: m.model.language_model.layers[l].mlp,
        notes="swiglu_limit lowered to 1.0 so the clamps bite on random weights"),
    "muse_spark": Family(
        "muse_spark",
        dict(text_config=dict(TINY, head_dim=8, intermediate_size=64,
                              moe_intermediate_size=48, moe_hidden_size=16,
                              num_local_experts=8, num_experts_per_tok=2,
                              routed_scaling_factor=2.0, sliding_window=16,
                              layer_types=["sliding_attention", "full_attention"],
                              layer_rope_theta=[10000.0, 0],
                              mlp_layer_types=["dense", "sparse"]),
             vision_config=dict(hidden_size=32, intermediate_size=32, num_hidden_layers=1,
                                num_attention_heads=2, pos_emb_height=4, pos_emb_width=4),
             audio_config=dict(hidden_sizes=[8, 8, 8, 8], depths=[1, 1, 1, 1],
                               out_hidden_size=32),
             out_hidden_size=32, projector_hidden_size=32),
        layer=1,
        build=_auto("AutoModelForImageTextToText"),
        block=lambda m, l: m.model.language_model.layers[l].mlp),
    "step3p7": Family(
        "step3p7",
        dict(text_config=dict(TINY, head_dim=8, intermediate_size=64,
                              moe_intermediate_size=48, share_expert_dim=40,
                              n_routed_experts=8, num_experts_per_tok=2,
                              moe_router_scaling_factor=2.0,
                              mlp_layer_types=["dense", "sparse"],
                              swiglu_limits=[0.0, 0.5], swiglu_limits_shared=[0.0, 0.75]),
             vision_config=dict(hidden_size=32, intermediate_size=32, num_hidden_layers=1,
                                num_attention_heads=2, image_size=56, patch_size=14)),
        layer=1,
        build=_auto("AutoModelForImageTextToText"),
        block=lambda m, l: m.model.language_model.layers[l].mlp,
        notes="swiglu limits lowered (0.5 / 0.75) so the clamps bite on random weights"),
    "unlimited_ocr": Family(
        "unlimited_ocr",
        dict(text_config=dict(TINY, moe_intermediate_size=48, intermediate_size=64,
                              n_routed_experts=8, n_shared_experts=2,
                              num_experts_per_tok=2, topk_method="group_limited_greedy",
                              n_group=2, topk_group=1, routed_scaling_factor=2.0,
                              mlp_layer_types=["dense", "sparse"])),
        layer=1,
        build=_auto("AutoModelForImageTextToText"),
        block=lambda m, l: m.model.language_model.layers[l].mlp),
    "nemotron_h": Family(
        "nemotron_h",
        dict(hidden_size=32, vocab_size=64, num_attention_heads=4, num_key_value_heads=2,
             head_dim=8, layers_block_type=["linear_attention", "moe", "full_attention"],
             mamba_num_heads=4, mamba_head_dim=16, ssm_state_size=8, n_groups=2,
             chunk_size=16, use_mamba_kernels=False, intermediate_size=64,
             moe_intermediate_size=48, moe_shared_expert_intermediate_size=40,
             moe_latent_size=16, n_routed_experts=8, num_experts_per_tok=2,
             n_group=2, topk_group=1, norm_topk_prob=True, routed_scaling_factor=2.0),
        layer=1,
        block=lambda m, l: m.model.layers[l].mixer),
    # Without the latent projections (Nemotron-3 Nano's shape).
    "nemotron_h_nolatent": Family(
        "nemotron_h",
        dict(hidden_size=32, vocab_size=64, num_attention_heads=4, num_key_value_heads=2,
             head_dim=8, layers_block_type=["linear_attention", "moe", "full_attention"],
             mamba_num_heads=4, mamba_head_dim=16, ssm_state_size=8, n_groups=2,
             chunk_size=16, use_mamba_kernels=False, intermediate_size=64,
             moe_intermediate_size=48, moe_shared_expert_intermediate_size=40,
             n_routed_experts=8, num_experts_per_tok=2,
             n_group=2, topk_group=1, norm_topk_prob=True, routed_scaling_factor=2.0),
        layer=1,
        block=lambda m, l: m.model.layers[l].mixer),
    "nllb_moe": Family(
        "nllb-moe",
        dict(NLLB, moe_eval_capacity_token_fraction=0.25, router_bias=True),
        layer=1,
        build=_auto("AutoModelForSeq2SeqLM"),
        block=lambda m, l: m.model.encoder.layers[l].ffn,
        run=_run_nllb_top2,
        notes="encoder layer 1; HF's router (top-2, capacity ceil(0.25 T) with first "
              "choices queued first, renormalised after dropping) and HF's expert "
              "modules, mixed as the router means (see _run_nllb_top2)"),
    "nllb_moe_hf": Family(
        "nllb-moe",
        NLLB,
        layer=1,
        build=_auto("AutoModelForSeq2SeqLM"),
        block=lambda m, l: m.model.encoder.layers[l].ffn,
        notes="transformers 5.24's block as it is: NllbMoeExperts indexes experts by the "
              "one-hot top-1 mask (see notes), so it runs experts 0 and 1 only and "
              "reads MISMATCH against moec's top-2 mixture"),
    "switch_transformers": Family(
        "switch_transformers",
        dict(d_model=32, d_ff=48, d_kv=8, num_heads=4, num_layers=2, num_decoder_layers=2,
             num_sparse_encoder_layers=1, num_sparse_decoder_layers=1, num_experts=8,
             expert_capacity=6, vocab_size=64),
        layer=1,
        build=_auto("AutoModelForSeq2SeqLM"),
        block=lambda m, l: m.encoder.block[l].layer[-1].mlp,
        notes="encoder block 1; expert_capacity 6 with 37 tokens over 8 experts, so tokens drop"),
    "openai_privacy_filter": Family(
        "openai_privacy_filter",
        dict(TINY, head_dim=8, intermediate_size=48, num_local_experts=8,
             num_experts_per_tok=2, sliding_window=16, swiglu_limit=1.0,
             pad_token_id=0, eos_token_id=0),
        layer=1,
        build=_auto("AutoModelForTokenClassification"),
        notes="bidirectional encoder (token classification); swiglu_limit lowered to 1.0"),
    "zaya": Family(
        "zaya",
        dict(TINY, head_dim=8, moe_intermediate_size=48, num_experts=8,
             num_experts_per_tok=1, router_hidden_size=16, pad_token_id=0,
             bos_token_id=1, eos_token_id=2,
             layer_types=["hybrid", "hybrid"]),
        layer=0,
        notes="top-1 only (config validator); layer 0 only: layers >= 1 add the previous "
              "layer's router state (EDA)"),
}
