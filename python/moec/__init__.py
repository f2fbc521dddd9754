"""moec from Python: compile MoE layers, bind their weights, run them.

    import moec
    lib = moec.compile("examples/configs/mixtral-tiny/config.json", layer=1)
    layer = lib.bind("weights.safetensors")   # or a dict of numpy arrays / torch tensors
    y = layer(x)                              # x: [tokens, hidden], numpy or torch
    print(layer.routing_stats(x).text)

`compile` runs the installed moe-translate and moe-compile; the rest runs
in this process through the runtime's loader (moec._moec). Every failure is
a moec.Error carrying the tool's or the loader's message.
"""

import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from ._moec import Bound as _Bound
from ._moec import Checkpoint as _Checkpoint
from ._moec import Error
from ._moec import Library as _Library

__all__ = ["Error", "compile", "load", "Library", "Layer", "RoutingStats", "Timing"]
__version__ = "0.1.0"


def _tool(name):
    """A moec tool: $MOEC_BIN, the prefix the package was built against, PATH."""
    for directory in (os.environ.get("MOEC_BIN"), _built_bin_dir()):
        if directory and (Path(directory) / name).is_file():
            return str(Path(directory) / name)
    found = shutil.which(name)
    if not found:
        raise Error(f"{name} not found: set MOEC_BIN to the bin/ of an installed moec")
    return found


def _built_bin_dir():
    try:
        from ._prefix import BIN_DIR
    except ImportError:
        return None
    return BIN_DIR


def _run(args):
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        message = done.stderr.strip() or done.stdout.strip()
        raise Error(message or f"{Path(args[0]).name} failed with status {done.returncode}")
    return done.stdout


def compile(source, layer=None, target="cpu", output=None, weight_type=None, options=()):
    """Compiles MoE layers into a shared library and opens it.

    `source` is a Hugging Face config (a config.json, the folder holding
    it, or the config as a dict), an MLIR file (.mlir) or MLIR text.
    `layer` picks one decoder layer of a config (default: every MoE
    layer, one entry each). `output` is where the library goes (default:
    a temporary folder that lives as long as the Library). `weight_type`
    is moe-compile's --weight-type; `options` more moe-compile flags.
    """
    workdir = None
    if output is None:
        workdir = tempfile.TemporaryDirectory(prefix="moec-")
        output = Path(workdir.name) / "layer.so"
    output = Path(output)
    scratch = Path(workdir.name) if workdir else output.parent
    try:
        mlir = _to_mlir(source, layer, scratch, output.stem)
        args = [_tool("moe-compile"), str(mlir), f"--target={target}", "-o", str(output),
                "--quiet"]
        if weight_type:
            args.append(f"--weight-type={weight_type}")
        _run(args + list(options))
        library = Library(output)
    except BaseException:
        if workdir:
            workdir.cleanup()
        raise
    library._workdir = workdir
    return library


def _to_mlir(source, layer, scratch, stem):
    if isinstance(source, dict):
        config = scratch / f"{stem}-config.json"
        config.write_text(json.dumps(source))
        source = config
    elif isinstance(source, str) and ("func.func" in source or "moe." in source) \
            and not Path(source).exists():
        text = scratch / f"{stem}.mlir"
        text.write_text(source)
        return text
    path = Path(source)
    if not path.exists():
        raise Error(f"{path}: no such file or folder")
    if path.suffix == ".mlir":
        if layer is not None:
            raise Error("layer= picks a layer of a Hugging Face config, not of an MLIR file")
        return path
    mlir = scratch / f"{stem}.mlir"
    args = [_tool("moe-translate"), "--import-hf-config", str(path), "-o", str(mlir)]
    if layer is not None:
        args.append(f"--layer={int(layer)}")
    _run(args)
    return mlir


def load(path):
    """Opens a library moe-compile wrote."""
    return Library(path)


class Library:
    """A compiled library: its forward entries, and bind() to run one."""

    def __init__(self, path):
        self.path = Path(path)
        self._library = _Library.open(str(self.path))
        # compile()'s temporary folder, removed with the library.
        self._workdir = None

    def __del__(self):
        if getattr(self, "_workdir", None) is not None:
            self._workdir.cleanup()

    @property
    def manifest(self):
        return json.loads(self._library.manifest)

    @property
    def entries(self):
        """The forward entries' names."""
        return [e["name"] for e in self._library.entries if e["kind"] == "forward"]

    def entry(self, name=None):
        """The manifest's description of a forward entry (default: the only one)."""
        forward = [e for e in self._library.entries if e["kind"] == "forward"]
        if name is None:
            if len(forward) != 1:
                raise Error(f"{self.path}: {len(forward)} forward entries "
                            f"({', '.join(e['name'] for e in forward)}): name one")
            return forward[0]
        for e in forward:
            if e["name"] == name:
                return e
        raise Error(f"{self.path}: no forward entry '{name}' "
                    f"(it has {', '.join(e['name'] for e in forward)})")

    def bind(self, weights, entry=None, threads=0):
        """Binds an entry's weights and returns the Layer that runs it.

        `weights` is a .safetensors file or shard index, or a dict from
        checkpoint names to arrays (numpy, or torch tensors on any device:
        CPU float32/bfloat16/float16 tensors and C-contiguous numpy arrays
        are read in place, the rest copied once). `threads`: OpenMP threads
        per forward (0: OpenMP's default).
        """
        name = self.entry(entry)["name"]
        checkpoint = _checkpoint(weights)
        return Layer(self, _Bound.bind(self._library, name, checkpoint, int(threads), True))

    def generate_weights(self, path, seed=0, entry=None, dtype=None):
        """Random weights under the checkpoint's names (moe-run --generate-weights)."""
        args = [_tool("moe-run"), str(self.path), "--generate-weights", str(path),
                "--seed", str(int(seed)), "--quiet"]
        if entry:
            args += ["--entry", entry]
        if dtype:
            args += ["--dtype", dtype]
        _run(args)
        return Path(path)


def _checkpoint(weights):
    if isinstance(weights, (str, os.PathLike)):
        return _Checkpoint.open(str(weights))
    if not isinstance(weights, dict):
        raise Error("weights must be a safetensors path or a dict of arrays, "
                    f"not {type(weights).__name__}")
    return _Checkpoint.from_buffers([_as_buffer(n, v) for n, v in weights.items()],
                                    "<weights dict>")


_NUMPY_DTYPES = {"float32": "F32", "float16": "F16", "int32": "I32", "int64": "I64"}


def _as_buffer(name, value):
    """(name, safetensors dtype, shape, C-contiguous buffer) of an array."""
    if _is_torch(value):
        import torch

        tensor = value.detach()
        if tensor.device.type != "cpu":
            tensor = tensor.cpu()
        if tensor.dtype == torch.float64:
            tensor = tensor.float()
        tensor = tensor.contiguous()
        if tensor.dtype == torch.bfloat16:
            return (name, "BF16", list(tensor.shape), tensor.view(torch.int16).numpy())
        value = tensor.numpy()
    array = np.asarray(value)
    if array.dtype == np.float64:
        array = array.astype(np.float32)
    array = np.ascontiguousarray(array)
    if array.dtype.name == "bfloat16":  # ml_dtypes
        return (name, "BF16", list(array.shape), array.view(np.uint16))
    dtype = _NUMPY_DTYPES.get(array.dtype.name)
    if dtype is None:
        raise Error(f"weight '{name}': dtype {array.dtype} is not float32, bfloat16, "
                    "float16, int32 or int64")
    return (name, dtype, list(array.shape), array)


def _is_torch(value):
    return type(value).__module__.startswith("torch")


class RoutingStats:
    """What a layer's routing-statistics entry says of one batch."""

    def __init__(self, values):
        self.__dict__.update(values)

    def __repr__(self):
        return (f"RoutingStats(experts={self.experts}, tokens={self.tokens}, "
                f"idle={self.idle_experts}, collapsed={self.collapsed})")

    def plot(self, path, title=None):
        """Writes a PNG of the load per expert (moec.plot)."""
        from .plot import plot_routing

        return plot_routing(self, path, title=title)


class Timing:
    """Times of repeated forwards, after warm-up runs."""

    def __init__(self, times_ms, tokens, warmup, weight_bytes):
        self.runs = len(times_ms)
        self.warmup = warmup
        self.times_ms = list(times_ms)
        self.median_ms = statistics.median(times_ms)
        self.min_ms, self.max_ms = min(times_ms), max(times_ms)
        seconds = self.median_ms / 1000
        self.tokens_per_s = tokens / seconds if seconds > 0 else None
        self.weight_gb_per_s = weight_bytes / seconds / 1e9 if seconds > 0 else None

    def __repr__(self):
        return (f"Timing(median_ms={self.median_ms:.3f}, min_ms={self.min_ms:.3f}, "
                f"runs={self.runs}, warmup={self.warmup})")


class Layer:
    """A bound entry: call it on [tokens, hidden] rows."""

    def __init__(self, library, bound):
        self.library = library
        self._bound = bound
        entry = bound.entry
        self.name = entry["name"]
        self.hidden = entry["hidden"]
        # Ids in [0, this) are needed by a layer that routes by token id.
        self.token_id_bound = entry["token_id_bound"]
        self.weights = entry["weights"]

    @property
    def bind_stats(self):
        """What binding cost: seconds and bytes mapped, read, in place, packed."""
        return self._bound.bind_stats

    def __call__(self, x, token_ids=None):
        """The layer on `x`; `token_ids` (one per row, int) for a layer
        that routes by token id (DeepSeek-V4's hash layers)."""
        rows, restore = self._rows(x)
        if token_ids is not None:
            if _is_torch(token_ids):
                token_ids = token_ids.detach().cpu().numpy()
            token_ids = np.ascontiguousarray(np.asarray(token_ids).reshape(-1), dtype=np.int32)
        return restore(self._bound.forward(rows, token_ids))

    def routing_stats(self, x):
        """The routing statistics of `x`'s tokens (RoutingStats)."""
        rows, _ = self._rows(x)
        return RoutingStats(self._bound.routing_stats(rows))

    def time(self, x, repeat=20, warmup=1):
        """Times `repeat` forwards after `warmup` untimed ones (Timing)."""
        rows, _ = self._rows(x)
        for _ in range(warmup):
            self._bound.forward(rows)
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            self._bound.forward(rows)
            times.append((time.perf_counter() - start) * 1000)
        stats = self.bind_stats
        return Timing(times, rows.shape[0], warmup,
                      stats["in_place_bytes"] + stats["packed_bytes"])

    def _rows(self, x):
        """float32 [tokens, hidden] numpy rows of `x`, and how to give an
        output back in `x`'s kind (torch: its dtype and device; leading
        dimensions restored)."""
        if _is_torch(x):
            import torch

            shape, dtype, device = x.shape, x.dtype, x.device
            rows = x.detach().reshape(-1, shape[-1]).to("cpu", torch.float32).contiguous().numpy()

            def restore(y):
                return torch.from_numpy(y).reshape(shape).to(device=device, dtype=dtype)

            return rows, restore
        array = np.asarray(x)
        shape = array.shape
        if array.ndim < 1:
            raise Error("input must have a hidden dimension")
        rows = np.ascontiguousarray(array.reshape(-1, shape[-1]), dtype=np.float32)
        return rows, lambda y: y.reshape(shape)
