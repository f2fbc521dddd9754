"""Tests moec.torch.patch on a tiny random-weight model of each family moec
imports: the tiny configs and builders are scripts/hf-check's (no
download). For each family, the patched model's logits are within 1e-4
(max |difference| over max |logit|) of the unpatched model's, and
greedy generation gives the same tokens for 4 steps. Families whose MoE
block patch cannot replace (PATCH_REFUSES) must refuse with a moec.Error
naming why, and the families moec does not import with moe-translate's
message. Skipped where torch or transformers
is not installed.

    python -m unittest test_torch_patch            # every family
    MOEC_PATCH_FAMILIES=mixtral,qwen2_moe python -m unittest test_torch_patch
"""

import copy
import os
import sys
import unittest
from pathlib import Path

import moec

SOURCE = Path(os.environ.get("MOEC_SOURCE", Path(__file__).resolve().parents[2]))
TOLERANCE = 1e-4
STEPS = 4
# Families moec imports whose MoE half patch cannot replace yet.
PATCH_REFUSES = set()

# What running the whole model needs beyond scripts/hf-check's block-level
# set-up (attention and embedding details, never the MoE block's):
# multi-head latent attention in transformers' SDPA path wants as many
# key/value heads as query heads; DBRX's clip_qkv None fails in
# torch.clamp; Mistral 4's head_dim is qk_rope + qk_nope; GLM-4V's
# mrope sections must fill its rotary half; Step-3.7's sliding layers need
# a window.
SAME_KV_HEADS = {"axk2", "axk2_nogroup", "bailing_hybrid", "deepseek_v32", "kimi_linear",
                 "longcat_flash"}
CONFIG_FIXES = {
    "dbrx": lambda c: c["attn_config"].update(clip_qkv=8.0),
    "dbrx_p2": lambda c: c["attn_config"].update(clip_qkv=8.0),
    "mistral4": lambda c: c.update(head_dim=16),
    "glm4v_moe": lambda c: c["text_config"]["rope_parameters"].update(mrope_section=[0, 1, 1]),
    # Its text layers' default layer types ask for a sliding window.
    "step3p7": lambda c: c["text_config"].update(sliding_window=16),
    # The thinker's rope indexing reads these special tokens.
    "qwen3_omni_moe": lambda c: c["thinker_config"].update(
        vision_start_token_id=60, image_token_id=61, video_token_id=62, audio_token_id=63,
        audio_start_token_id=59, position_id_per_seconds=25),
}
# The model that takes input_ids: Qwen3-Omni's thinker; Llama 4's text
# model (the multimodal one fails on text alone in transformers 5.24).
RUN_ON = {"qwen3_omni_moe": lambda model: model.thinker}
TEXT_ONLY = {"llama4"}
# Compare the logits alone: a token classifier has no generate(); Diffusion
# Gemma's generate unmasks by confidence over random draws, not greedily.
LOGITS_ONLY = {"openai_privacy_filter", "diffusion_gemma"}
SEQ2SEQ = {"nllb_moe", "nllb_moe_hf", "switch_transformers"}


def fix_nllb_encoder(hfcheck, model):
    """transformers 5.24's NllbMoeExperts runs experts 0 and 1 only: in the
    reference, the encoder's MoE blocks (those moec replaces) mix HF's own
    router and experts as the router means, as scripts/hf-check's nllb_moe
    entry does. The decoder's stay as they are, patched or not."""
    from families.group_d import _run_nllb_top2

    for layer in model.model.encoder.layers:
        block = layer.ffn
        if hasattr(block, "router"):
            def forward(hidden_states, padding_mask=None, block=block):
                rows = hidden_states.reshape(-1, hidden_states.shape[-1])
                return _run_nllb_top2(block, rows).reshape(hidden_states.shape)

            block.forward = forward


# The reference: the unpatched model, mended where transformers is wrong.
REFERENCE_FIXES = {"nllb_moe": fix_nllb_encoder, "nllb_moe_hf": fix_nllb_encoder}

try:
    import torch
    import transformers  # noqa: F401
    import moec.torch
except ImportError:
    torch = None


def families():
    sys.path.insert(0, str(SOURCE / "scripts" / "hf-check"))
    import hfcheck

    return hfcheck, hfcheck.load_families()


def build(hfcheck, name, family):
    family = copy.copy(family)
    family.config = copy.deepcopy(family.config)
    if name in SAME_KV_HEADS:
        family.config["num_key_value_heads"] = family.config["num_attention_heads"]
    if name in CONFIG_FIXES:
        CONFIG_FIXES[name](family.config)
    if name in TEXT_ONLY:
        family.build = lambda config: transformers.AutoModelForCausalLM.from_config(
            config.get_text_config())
    return hfcheck.build_model(family)


def outputs(name, model, ids):
    """The logits, and the greedy tokens of STEPS steps (None for a model
    without generate)."""
    runner = RUN_ON.get(name, lambda m: m)(model)
    # The same random draws in both runs (Diffusion Gemma's forward draws).
    torch.manual_seed(1234)
    with torch.no_grad():
        if name in SEQ2SEQ:
            logits = runner(input_ids=ids, decoder_input_ids=ids[:, :3]).logits
        else:
            logits = runner(input_ids=ids).logits
        if name in LOGITS_ONLY:
            return logits, None
        # An encoder-decoder's decoder starts from token 0 where its config
        # names none (the tiny Switch config).
        start = {"decoder_start_token_id": 0} if name in SEQ2SEQ else {}
        tokens = runner.generate(ids, max_new_tokens=STEPS, min_new_tokens=STEPS,
                                 do_sample=False, **start)
    # Diffusion Gemma's generate returns an output object.
    return logits, getattr(tokens, "sequences", tokens)


def check_family(hfcheck, name, family, seed=0):
    """(max |Δlogits| / max |logits|, same greedy tokens, blocks patched)."""
    torch.manual_seed(seed)
    model = build(hfcheck, name, family)
    hfcheck.randomize(model, seed)
    if name in REFERENCE_FIXES:
        REFERENCE_FIXES[name](hfcheck, model)
    vocab = model.config.get_text_config().vocab_size
    ids = torch.randint(0, vocab, (2, 7), generator=torch.Generator().manual_seed(seed + 1))
    want, want_tokens = outputs(name, model, ids)
    patched = moec.torch.patch(model)
    blocks = len(patched.layers)
    try:
        got, got_tokens = outputs(name, model, ids)
    finally:
        patched.undo()
    error = float((got - want).abs().max() / want.abs().max())
    same = want_tokens is None or bool(torch.equal(got_tokens, want_tokens))
    return error, same, blocks


@unittest.skipIf(torch is None, "torch and transformers are not installed")
class TorchPatchTest(unittest.TestCase):
    def test_families(self):
        hfcheck, known = families()
        chosen = os.environ.get("MOEC_PATCH_FAMILIES")
        names = chosen.split(",") if chosen else sorted(known)
        for name in names:
            with self.subTest(family=name):
                try:
                    error, same, blocks = check_family(hfcheck, name, known[name])
                except moec.Error as e:
                    message = str(e).splitlines()[0]
                    print(f"{name:24} refused  {message}", flush=True)
                    if name in PATCH_REFUSES:
                        self.assertIn("moec.torch.patch replaces", message)
                    else:
                        # Only moe-translate may refuse: a family moec does
                        # not import (its message names the config key).
                        self.assertRegex(message, r"config\.json:\d+:\d+: error: ")
                    continue
                self.assertNotIn(name, PATCH_REFUSES)
                print(f"{name:24} {blocks} blocks, logits {error:.2e}, "
                      f"tokens {'same' if same else 'DIFFER'}", flush=True)
                self.assertGreater(blocks, 0)
                self.assertLessEqual(error, TOLERANCE)
                self.assertTrue(same)


if __name__ == "__main__":
    unittest.main()
