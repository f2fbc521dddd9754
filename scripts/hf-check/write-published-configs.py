#!/usr/bin/env python3
"""Writes examples/configs/<model>/config.json for every family moec imports.

For our own use (needs transformers; CI never runs it): its output is
committed, and test/Import/published*.test and test/Unit/HFFamilyTest.cpp
read that.

Published configs (`examples/configs/<published-model-name>/`): this
machine cannot reach the Hugging Face hub, so each is the config class's
defaults, which transformers copies from the flagship checkpoint its
docstring names ("defaults will yield a similar configuration to that of
<model>"), written as save_pretrained writes them, with `architectures` and
`dtype: bfloat16` (the dtype of most released checkpoints; the FP8 releases'
quantization_config is not reproduced). Where a default is null (the class leaves
a key to the checkpoint) or we know the published config differs, PUBLISHED
below fixes it by hand and says why. Four folders are not written here: they
were transcribed from the published config.json by hand before (mixtral-8x7b,
qwen3-30b-a3b, deepseek-v3, llama-4-scout-17b-16e, which covers llama4_text
too). Every published size is within include/moe/Support/Limits.h, so no
family is left out.

Tiny configs (`examples/configs/<family>-tiny/`): the checker entry of each
family (scripts/hf-check/families/*.py: hidden 32, 8 or 16 experts, the
family's features on; TINY_CHANGES below) saved through transformers, so the
keys are what save_pretrained writes, with `dtype: bfloat16` (HFFamilyTest
stores its checkpoints so).
The six tiny configs from before issue 16 (mixtral, qwen2-moe, qwen3-moe,
deepseek-v2, deepseek-v3, llama4) are hand-written and left alone.

    /work/venv-hf/bin/python scripts/hf-check/write-published-configs.py
"""

import copy
import os
import pathlib
import sys

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CONFIGS = ROOT / "examples" / "configs"

# model_type -> (folder, hand fixes applied to the language model's config,
# why). The folder is the docstring's model, lower-cased, unless said.
PUBLISHED = {
    "qwen2_moe": ("qwen1.5-moe-a2.7b", {}, ""),
    "qwen3_next": ("qwen3-next-80b-a3b-instruct", {}, ""),
    "qwen3_5_moe": ("qwen3.5-35b-a3b", {}, ""),
    "qwen4_exp": ("qwen4-exp", {}, ""),
    "deepseek_v2": (
        "deepseek-v2-lite",
        dict(hidden_size=2048, intermediate_size=10944, moe_intermediate_size=1408,
             num_hidden_layers=27, num_attention_heads=16, num_key_value_heads=16,
             num_experts_per_tok=6, first_k_dense_replace=1, n_group=1,
             topk_group=1, kv_lora_rank=512, q_lora_rank=None,
             qk_nope_head_dim=128, qk_rope_head_dim=64, v_head_dim=128,
             vocab_size=102400),
        "the defaults are a Llama-7B shape with num_experts_per_tok null; "
        "DeepSeek-V2-Lite's published sizes instead"),
    "glm4_moe": ("glm-4.5-air", {},
                 "the defaults are GLM-4.5-Air's (hidden 4096, 128 experts), "
                 "not GLM-4.5's (5120, 160) that the docstring names"),
    "glm4v_moe": ("glm-4.5v", {}, ""),
    "glm4_moe_lite": ("glm-4.7-flash", {},
                      "the docstring names GLM-4.5; the defaults are "
                      "GLM-4.7-Flash's (the model this class was added for)"),
    "glm_moe_dsa": ("glm-5", {}, ""),
    "exaone_moe": ("k-exaone-236b-a23b", {}, ""),
    "kimi_linear": ("kimi-linear-48b-a3b-instruct", {}, ""),
    "mimo_v2_flash": ("mimo-v2-flash", {}, ""),
    "minimax_m2": ("minimax-m2", {},
                   "the docstring names MiniMax-Text-01; the defaults are "
                   "MiniMax-M2's"),
    "dots1": ("dots.llm1.base",
              dict(n_routed_experts=128, num_experts_per_tok=6,
                   n_shared_experts=2),
              "the class leaves the expert counts null; dots.llm1's 128 "
              "routed, top-6, 2 shared"),
    "dots3_note": ("dots3-note-prev", {}, ""),
    "deepseek_v32": ("deepseek-v3.2-exp", {}, ""),
    "solar_open": ("solar-open-100b", {}, ""),
    "bailing_hybrid": ("ling-3.0-flash", {}, ""),
    "beam": ("beam-1.0-501b-a23b", {}, ""),
    "afmoe": ("afmoe-defaults", {},
              "the docstring names no model: the class defaults as they are"),
    "deepseek_ocr2": (
        "deepseek-ocr-2",
        dict(hidden_size=1280, intermediate_size=6848, moe_intermediate_size=896,
             num_hidden_layers=12, num_experts_per_tok=6,
             mlp_layer_types=["dense"] + ["sparse"] * 11),
        "the text defaults leave num_experts_per_tok and mlp_layer_types "
        "null; DeepSeek-OCR's 3B-MoE decoder (as unlimited_ocr's defaults)"),
    "unlimited_ocr": ("unlimited-ocr", {}, ""),
    "flex_olmo": ("flexolmo-7x7b-1t", {}, ""),
    "jamba": ("jamba-v0.1", {}, ""),
    "lara_mini": ("lara-4-mini-base", {}, ""),
    "mellum": ("mellum2-12b-a2.5b-base", {}, ""),
    "minimax": ("minimax-text-01-hf",
                dict(hidden_size=6144, intermediate_size=9216,
                     num_local_experts=32, num_hidden_layers=80),
                "the defaults are Mixtral's sizes; MiniMax-Text-01's are hidden "
                "6144, 32 experts of 9216, 80 layers"),
    "olmoe": ("olmoe-1b-7b-0924", {}, ""),
    "flint": ("flint", {}, ""),
    "hunyuan_v1_moe": (
        "hunyuan-a13b-instruct",
        dict(num_experts=64, moe_topk=8, intermediate_size=3072),
        "the defaults are one expert of Llama-7B's width; Hunyuan-A13B's 64 "
        "experts, top-8, 3072 wide (as its model card gives them, not "
        "checked against the hub)"),
    "hy_v3": ("hy3-preview", {}, ""),
    "mistral4": ("mistral-small-4-119b-2603", {}, ""),
    "mistral_large4": ("mistral-large-4-1t-a52b", {}, ""),
    "qwen3_omni_moe": ("qwen3-omni-30b-a3b-instruct", {}, ""),
    "granitemoe": (
        "granite-3.0-3b-a800m",
        dict(hidden_size=1536, intermediate_size=512, num_local_experts=40,
             num_experts_per_tok=8, num_attention_heads=24,
             num_key_value_heads=8),
        "the docstring names a dense speech model with Llama-7B defaults; "
        "granite-3.0-3b-a800m's 40 experts, top-8, 512 wide"),
    "granitemoeshared": ("granitemoeshared-defaults", {},
                         "the docstring names no MoE model: the class "
                         "defaults as they are"),
    "granitemoehybrid": ("granitemoehybrid-defaults", {},
                         "the docstring names no MoE model: the class "
                         "defaults as they are"),
    "granitemoe_swa": ("granite-swash-3b-a600m", {}, ""),
    "aria": ("aria", {}, ""),
    "cohere2_moe": ("command-a-plus-05-2026", {}, ""),
    "lfm2_moe": ("lfm2-8b-a1b", {}, ""),
    "phimoe": ("phi-3.5-moe-instruct", {}, ""),
    "nemotron_h": ("nemotron-h-defaults", {},
                   "the class defaults (4 layers, one MoE layer); the "
                   "Nemotron-3-Nano checkpoint the docstring names uses "
                   "latent projections, which moec refuses"),
    "minimax_m3_vl": ("minimax-m3", {}, ""),
    "gpt_oss": ("gpt-oss-120b", {},
                "the defaults are gpt-oss-120b's sizes (36 layers, 128 "
                "experts), not the docstring's gpt-oss-20b"),
    "openai_privacy_filter": ("privacy-filter", {}, ""),
    "jetmoe": ("jetmoe-8b", {}, ""),
    "switch_transformers": ("switch-base-8", {}, ""),
    "dbrx": ("dbrx-instruct",
             dict(d_model=6144, n_heads=48, n_layers=40, max_seq_len=32768,
                  vocab_size=100352,
                  attn_config=dict(clip_qkv=8.0, kv_n_heads=8,
                                   rope_theta=500000.0),
                  ffn_config=dict(ffn_hidden_size=10752, moe_num_experts=16,
                                  moe_top_k=4, moe_jitter_eps=0.01,
                                  moe_loss_weight=0.05,
                                  moe_normalize_expert_weights=1.0,
                                  ffn_act_fn=dict(name="silu"))),
             "the defaults are a small test shape (4 experts, top-1); "
             "DBRX-Instruct's published sizes instead"),
    "ernie4_5_moe": ("ernie-4.5-21b-a3b-pt", {}, ""),
    "qwen3_vl_moe": ("qwen3-vl-30b-a3b-instruct",
                     dict(intermediate_size=6144, moe_intermediate_size=768,
                          num_experts=128, num_experts_per_tok=8,
                          num_hidden_layers=48, num_attention_heads=32,
                          num_key_value_heads=4, head_dim=128,
                          max_position_embeddings=262144),
                     "the text defaults are Qwen1.5-MoE's sizes (60 experts "
                     "of 1408); Qwen3-VL-30B-A3B's are 128 of 768, top-8, "
                     "48 layers"),
    "glm5_next": ("glm-5.3-flash", {}, ""),
    "deepseek_v4": ("deepseek-v4-flash-base", {}, ""),
    "gemma4": ("gemma-4-26b-a4b-it",
               dict(hidden_size=2816, intermediate_size=2112, num_hidden_layers=30,
                  enable_moe_block=True, num_experts=128, top_k_experts=8,
                  moe_intermediate_size=704),
               "the docstring names gemma-4-e2b-it, which has no MoE; Gemma "
               "4 26B-A4B's sizes (as recalled from its config.json, not "
               "checked against the hub)"),
    "diffusion_gemma": ("diffusiongemma-26b-a4b-it",
                        dict(hidden_size=2816, intermediate_size=2112,
                             num_experts=128, top_k_experts=8,
                             moe_intermediate_size=704),
                        "the class leaves the MoE sizes null; Gemma 4 "
                        "26B-A4B's (as recalled, not checked against the "
                        "hub)"),
    "nllb-moe": (
        "nllb-moe-54b",
        dict(d_model=2048, encoder_layers=24, decoder_layers=24,
             encoder_ffn_dim=8192, decoder_ffn_dim=8192,
             encoder_attention_heads=16, decoder_attention_heads=16,
             vocab_size=256206),
        "the defaults are a 1024-wide, 12-layer shape; NLLB-MoE-54B's 2048 "
        "wide, 24 + 24 layers, experts of 8192 (as recalled from its "
        "config.json, not checked against the hub)"),
    "hy_v4": ("hy4-preview", {}, ""),
    "hy_v4_vl": ("hy4", {}, ""),
    "step3p7": (
        "step-3.7-flash",
        dict(swiglu_limits=[0.0] * 43 + [7.0] * 2,
             swiglu_limits_shared=[0.0] * 43 + [16.0] * 2),
        "the class leaves swiglu_limits null; Step-3.7-Flash clamps layers "
        "43-44 (routed 7, shared 16), as modeling_step3p7's notes say"),
    "longcat_flash": ("longcat-flash-chat", {}, ""),
}

# Changes to a checker entry's config (in text_config where it has one): a
# feature the entry leaves at its neutral value, switched on.
# Checker entries whose tiny config is the family's, under the family's
# folder name (the plain entry turns on what moec refuses).
TINY_FOLDER = {
    "hy_v3_nobias": "hy-v3-tiny",
    "nemotron_h_nolatent": "nemotron-h-tiny",
}

TINY_CHANGES = {
    # routed_scaling_factor 1 would leave the scaling untested.
    "deepseek_ocr2": dict(routed_scaling_factor=2.0),
}

# Checker entry -> tiny folder (the entry's model_type, '-' for '_').
TINY = ["qwen3_next", "qwen3_5_moe", "qwen4_exp", "glm4_moe", "glm4v_moe",
        "glm4_moe_lite", "glm_moe_dsa", "exaone_moe", "kimi_linear",
        "mimo_v2_flash", "minimax_m2", "dots1", "dots3_note", "deepseek_v32",
        "solar_open", "bailing_hybrid", "beam", "afmoe", "deepseek_ocr2",
        "unlimited_ocr", "flex_olmo", "jamba", "lara_mini", "mellum",
        "minimax", "olmoe", "flint", "hunyuan_v1_moe", "hy_v3_nobias", "mistral4",
        "mistral_large4", "qwen3_omni_moe", "granitemoe", "granitemoeshared",
        "granitemoehybrid", "granitemoe_swa", "aria", "cohere2_moe_sigmoid",
        "lfm2_moe", "phimoe", "nemotron_h_nolatent", "minimax_m3_vl",
        "gpt_oss", "openai_privacy_filter", "jetmoe", "switch_transformers",
        "dbrx", "ernie4_5_moe", "qwen3_vl_moe",
        "glm5_next", "hy_v4", "hy_v4_vl", "step3p7", "cohere2_moe",
        "deepseek_v4", "nllb_moe", "gemma4", "gemma4_text", "diffusion_gemma",
        "longcat_flash"]


def architecture(model_type):
    """The class a checkpoint of `model_type` names (published configs carry
    `architectures`; a config saved alone does not)."""
    from transformers.models.auto import modeling_auto as auto

    for mapping in (auto.MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES,
                    auto.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
                    auto.MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES):
        if model_type in mapping:
            return [mapping[model_type]]
    return None


def write(config, folder):
    config.architectures = architecture(config.model_type)
    config.dtype = "bfloat16"
    if hasattr(config, "text_config"):
        config.text_config.dtype = "bfloat16"
    out = CONFIGS / folder
    out.mkdir(parents=True, exist_ok=True)
    config.save_pretrained(out)
    # save_pretrained may add a generation_config.json: only config.json.
    for extra in out.iterdir():
        if extra.name != "config.json":
            extra.unlink()
    print(f"wrote {out.relative_to(ROOT)}/config.json")


def main():
    import transformers

    for model_type, (folder, fixes, why) in PUBLISHED.items():
        if why:
            print(f"{folder}: {why}")
        # Fixes go to the constructor, so derived keys (layer_types, ...)
        # follow them.
        nested = "text_config" in transformers.AutoConfig.for_model(model_type)
        kwargs = dict(text_config=fixes) if nested and fixes else fixes
        write(transformers.AutoConfig.for_model(model_type, **kwargs), folder)

    sys.path.insert(0, str(HERE))
    from hfcheck import load_families

    families = load_families()
    for name in TINY:
        entry = families[name]
        kwargs = copy.deepcopy(entry.config)
        changes = TINY_CHANGES.get(name, {})
        (kwargs["text_config"] if "text_config" in kwargs else kwargs).update(changes)
        config = transformers.AutoConfig.for_model(entry.model_type, **kwargs)
        write(config, TINY_FOLDER.get(name, name.replace("_", "-") + "-tiny"))


if __name__ == "__main__":
    main()
