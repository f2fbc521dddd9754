"""Run the MoE blocks of a Hugging Face transformers model through moec.

    model = transformers.AutoModelForCausalLM.from_pretrained(...)
    patched = moec.torch.patch(model)   # compile every MoE layer, bind the model's weights
    model.generate(...)                 # the MoE blocks now run in moec
    patched.undo()                      # the original forwards again

`patch` saves the model with `save_pretrained` (transformers writes the
published checkpoint layout, its own conversions reverted) into a
temporary folder, imports its config.json with moe-translate (every MoE
layer, one entry each), compiles them into one library and binds each
entry to that checkpoint. Each MoE block is the module whose path is
what its entry's checkpoint names share ("model.layers.3.mlp"); its
forward is replaced by the compiled layer, which takes [..., hidden] in
any dtype and device and gives the output back in them (computed in
float32 on the CPU); a block that also returned router scores or logits
(GPT-OSS) returns None in their place. Where the decoder layer itself
combines the parts (Granite's shared_mlp beside the block, Gemma 4's
norms around its MLP and experts), one part runs the entry and the others
pass its output through. For inference: no gradient flows through moec.

The weights are a snapshot: patch again after changing them.
"""

import tempfile
from pathlib import Path

import moec

__all__ = ["patch", "Patched"]


class Patched:
    """What patch() changed: `blocks` maps each module path to its entry."""

    def __init__(self, library, workdir):
        self.library = library
        self.blocks = {}
        self.layers = {}
        self._originals = []
        self._workdir = workdir

    def _replace(self, module, forward):
        self._originals.append((module, module.__dict__.get("forward")))
        module.forward = forward

    def undo(self):
        """Restores the original forwards and removes the library's files."""
        for module, forward in reversed(self._originals):
            if forward is None:
                del module.forward
            else:
                module.forward = forward
        self._originals = []
        self.blocks = {}
        self.layers = {}
        self.library = None
        self._workdir.cleanup()

    def __repr__(self):
        return f"Patched({len(self.blocks)} MoE blocks: {', '.join(self.blocks)})"


def patch(model, threads=0, weight_type="f32"):
    """Routes every MoE block of `model` through moec; returns a Patched.

    `threads`: OpenMP threads per forward (0: OpenMP's default).
    `weight_type`: moe-compile's --weight-type for the experts' panels:
    "f32" keeps the model's weights exact, "bf16" halves their memory.
    Raises moec.Error when moec cannot import the model's config (the
    message names the key) or an entry's modules are neither a block nor
    a known feed-forward half; the model is then left as it was.
    """
    workdir = tempfile.TemporaryDirectory(prefix="moec-patch-")
    patched = Patched(None, workdir)
    try:
        return _patch(model, patched, threads, weight_type)
    except BaseException:
        patched.undo()
        raise


def _patch(model, patched, threads, weight_type):
    folder = Path(patched._workdir.name)
    model.save_pretrained(folder)
    weights = folder / "model.safetensors"
    if not weights.exists():
        weights = folder / "model.safetensors.index.json"
    library = moec.compile(folder / "config.json", output=folder / "moe.so",
                           weight_type=weight_type)
    patched.library = library
    modules = dict(model.named_modules())
    rename = _checkpoint_to_module_names(model)
    plan = []
    for name in library.entries:
        entry = library.entry(name)
        plan.append((name, _find_block(entry, modules, rename)))
    for name, roles in plan:
        layer = library.bind(weights, entry=name, threads=threads)
        for path, role in roles.items():
            module = modules[path]
            if role == "block":
                extra = _extra_outputs(module, layer.hidden)
                patched._replace(module, _forward(layer, extra))
                patched.blocks[path] = name
                patched.layers[path] = layer
            else:
                patched._replace(module, _STAND_INS[role])
    return patched


def _zeros(hidden_states, *args, **kwargs):
    import torch

    return torch.zeros_like(hidden_states)


def _identity(hidden_states, *args, **kwargs):
    return hidden_states


def _no_routing(hidden_states, *args, **kwargs):
    return None, None, None


# What the other modules of a patched MoE half do, so that the decoder
# layer's own arithmetic passes the block's output through unchanged.
_STAND_INS = {"zeros": _zeros, "identity": _identity, "no routing": _no_routing}

# Gemma 4's decoder layer computes its feed-forward half itself:
#   post_ff(post_ff_1(mlp(pre_ff(x))) + post_ff_2(experts(pre_ff_2(x), router(x))))
# The entry holds all of it, so mlp becomes the entry and the rest pass it
# through: the norms are identities, the experts add zeros, the router is
# not run.
_DECODER_LAYER_FORMS = {
    frozenset({"pre_feedforward_layernorm", "mlp", "post_feedforward_layernorm_1", "router",
               "pre_feedforward_layernorm_2", "experts", "post_feedforward_layernorm_2",
               "post_feedforward_layernorm"}): {
        "mlp": "block", "experts": "zeros", "router": "no routing",
        "pre_feedforward_layernorm": "identity", "post_feedforward_layernorm_1": "identity",
        "pre_feedforward_layernorm_2": "identity", "post_feedforward_layernorm_2": "identity",
        "post_feedforward_layernorm": "identity"},
}


def _forward(layer, extra):
    def forward(hidden_states, *args, **kwargs):
        ids = None
        if layer.token_id_bound:
            # Hash layers (DeepSeek-V4) get the token ids from their
            # decoder layer, as the block they replace does.
            ids = kwargs.get("input_ids")
            if ids is None:
                raise moec.Error(f"{layer.name} routes by token id, and its caller "
                                 "passed no input_ids")
        y = layer(hidden_states, token_ids=ids)
        return (y,) + (None,) * extra if extra else y

    return forward


def _extra_outputs(module, hidden):
    """How many outputs the block gives after its hidden states: GPT-OSS's
    returns (hidden, router scores), which its decoder layer drops. The
    patched block gives None for them (moec does not return router
    scores); learnt by running the block on one zero token."""
    import torch

    parameter = next(module.parameters(), None)
    dtype = parameter.dtype if parameter is not None else torch.float32
    device = parameter.device if parameter is not None else "cpu"
    try:
        with torch.no_grad():
            out = module(torch.zeros(1, 1, hidden, dtype=dtype, device=device))
    except Exception:  # a block that needs more than hidden states
        return 0
    return len(out) - 1 if isinstance(out, (tuple, list)) else 0


def _checkpoint_to_module_names(model):
    """Maps a checkpoint key to the model's own name for it: transformers'
    renamings on load (Mixtral's block_sparse_moe is the module `mlp`),
    where this transformers has them."""
    try:
        from transformers.conversion_mapping import get_model_conversion_mapping

        transforms = get_model_conversion_mapping(model)
    except Exception:  # an older transformers: names as saved
        return lambda key: key

    def rename(key):
        for transform in transforms:
            try:
                key, _ = transform.rename_source_key(key)
            except Exception:
                pass
        return key

    return rename


def _find_block(entry, modules, rename):
    """The modules an entry replaces, by path, with their roles: "block"
    (runs the entry), or a stand-in (_STAND_INS). What its checkpoint names
    share (as the model names them) is the block; where that is a whole
    decoder layer, its one child that is not a shared MLP is, and the
    shared ones beside it add zeros, or its children are a known form of
    feed-forward half (_DECODER_LAYER_FORMS). Found in the model as named
    or by the part from "layers." on (a checkpoint's prefix may differ from
    the module tree's)."""
    names = [rename(w["name"].replace("{e}", "0")).split(".") for w in entry["weights"]]
    common = []
    for parts in zip(*names):
        if len(set(parts)) != 1:
            break
        common.append(parts[0])
    if not (common and common[-1].isdigit()):
        return {_module_path(".".join(common), modules, entry): "block"}
    children = sorted({n[len(common)] for n in names if len(n) > len(common) + 1})
    roles = _DECODER_LAYER_FORMS.get(frozenset(children))
    if roles is None:
        blocks = [c for c in children if not c.startswith("shared")]
        if len(blocks) != 1:
            raise moec.Error(
                f"entry '{entry['name']}': its weights are the decoder layer's "
                f"{', '.join(children)}: moec.torch.patch replaces an MoE block "
                "(and shared MLPs beside it) or a known feed-forward half, not this")
        roles = {c: "block" if c == blocks[0] else "zeros" for c in children}
    layer = ".".join(common)
    return {_module_path(f"{layer}.{c}", modules, entry): role for c, role in roles.items()}


def _module_path(path, modules, entry):
    if path in modules:
        return path
    parts = path.split(".")
    if "layers" in parts:
        tail = ".".join(parts[parts.index("layers"):])
        found = [m for m in modules if m == tail or m.endswith("." + tail)]
        if len(found) == 1:
            return found[0]
    raise moec.Error(f"entry '{entry['name']}': no module of the model is its MoE "
                     f"block '{path}'")
