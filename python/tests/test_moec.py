"""Tests of the moec Python package: compile, bind (file and dict, numpy
and torch), run against an independent numpy Mixtral block (normwise
relative error <= 1e-5) and against moe-run on the same library and data
(the same bits), routing statistics (loads and the weights' histogram
against the same numpy router), timing, the plot, and that each
failure is a moec.Error carrying the tool's or loader's message.

Run: python -m unittest discover -s python/tests (with moec installed;
MOEC_SOURCE names the repository for its example configs).
"""

import json
import os
import subprocess
import tempfile
import unittest
from pathlib import Path

import numpy as np

import moec

SOURCE = Path(os.environ.get("MOEC_SOURCE", Path(__file__).resolve().parents[2]))
MIXTRAL = SOURCE / "examples" / "configs" / "mixtral-tiny" / "config.json"


def mixtral_routing(x, weights, prefix, top_k):
    """Mixtral's router in float64 numpy: softmax, top-k, renormalised.
    Returns each token's experts and weights, [T, k] each."""
    logits = x.astype(np.float64) @ weights[prefix + "gate.weight"].astype(np.float64).T
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    chosen = np.argsort(-probs, axis=1, kind="stable")[:, :top_k]
    w = np.take_along_axis(probs, chosen, axis=1)
    return chosen, w / w.sum(axis=1, keepdims=True)


def mixtral_reference(x, weights, prefix, experts, top_k):
    """Mixtral's sparse MoE block in float64 numpy: the router above,
    SwiGLU experts (w1 gate, w3 up, w2 down)."""
    x = x.astype(np.float64)
    chosen, routing = mixtral_routing(x, weights, prefix, top_k)
    y = np.zeros_like(x)
    for t in range(x.shape[0]):
        for e, weight in zip(chosen[t], routing[t]):
            w1 = weights[f"{prefix}experts.{e}.w1.weight"].astype(np.float64)
            w3 = weights[f"{prefix}experts.{e}.w3.weight"].astype(np.float64)
            w2 = weights[f"{prefix}experts.{e}.w2.weight"].astype(np.float64)
            g = w1 @ x[t]
            h = g / (1 + np.exp(-g)) * (w3 @ x[t])
            y[t] += weight * (w2 @ h)
    return y


def normwise(expected, actual):
    return np.linalg.norm(expected - actual) / np.linalg.norm(expected)


def random_weights(layer, seed):
    """A dict of float32 arrays for every checkpoint tensor of `layer`."""
    rng = np.random.default_rng(seed)
    weights = {}
    for slot in layer.weights:
        first, last = slot["experts"]
        shape = slot["checkpoint_shape"]
        bound = 1 / np.sqrt(shape[-1])
        names = ([slot["name"].replace("{e}", str(e)) for e in range(first, last)]
                 if slot["stacked"] else [slot["name"]])
        for name in names:
            weights[name] = rng.uniform(-bound, bound, shape).astype(np.float32)
    return weights


class MoecTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dir = Path(cls.tmp.name)
        # f32 panels: the config says its checkpoint is bf16, and the
        # default would round the experts' weights to bf16 at bind time.
        cls.lib = moec.compile(MIXTRAL, layer=1, weight_type="f32")
        cls.config = json.loads(MIXTRAL.read_text())

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_entries_and_manifest(self):
        self.assertEqual(len(self.lib.entries), 1)
        self.assertEqual(self.lib.manifest["target"], "cpu")
        self.assertEqual(self.lib.entry()["hidden"], self.config["hidden_size"])

    def test_dict_of_numpy_matches_reference(self):
        template = self.lib.bind(self.lib.generate_weights(self.dir / "w.safetensors", seed=1))
        weights = random_weights(template, seed=3)
        layer = self.lib.bind(weights, threads=2)
        x = np.random.default_rng(4).standard_normal((37, layer.hidden)).astype(np.float32)
        y = layer(x)
        self.assertEqual(y.shape, x.shape)
        self.assertEqual(y.dtype, np.float32)
        expected = mixtral_reference(x, weights, "model.layers.1.block_sparse_moe.",
                                     self.config["num_local_experts"],
                                     self.config["num_experts_per_tok"])
        self.assertLessEqual(normwise(expected, y), 1e-5)
        # Leading dimensions come back as given.
        self.assertEqual(layer(x.reshape(1, 37, -1)).shape, (1, 37, layer.hidden))
        # Weights are read in place where they lie on a cache line, else
        # packed: either way the bind reports what it read.
        self.assertGreater(layer.bind_stats["read_bytes"], 0)

    def test_file_matches_moe_run_bits(self):
        weights = self.lib.generate_weights(self.dir / "run.safetensors", seed=2)
        layer = self.lib.bind(weights)
        x = np.random.default_rng(5).standard_normal((19, layer.hidden)).astype(np.float32)
        np.save(self.dir / "x.npy", x)
        subprocess.run([moec._tool("moe-run"), str(self.lib.path), "--weights", str(weights),
                        "--input", str(self.dir / "x.npy"), "--output",
                        str(self.dir / "y.npy")], check=True, capture_output=True)
        self.assertTrue(np.array_equal(np.load(self.dir / "y.npy"), layer(x)))

    def test_routing_stats_timing_plot(self):
        template = self.lib.bind(self.lib.generate_weights(self.dir / "s.safetensors", seed=6))
        weights = random_weights(template, seed=9)
        layer = self.lib.bind(weights)
        x = np.random.default_rng(7).standard_normal((64, layer.hidden)).astype(np.float32)
        stats = layer.routing_stats(x)
        self.assertEqual(stats.tokens, 64)
        self.assertEqual(stats.experts, self.config["num_local_experts"])
        top_k = self.config["num_experts_per_tok"]
        self.assertEqual(sum(stats.load), 64 * top_k)
        self.assertEqual(stats.slots, sum(stats.load))
        # The loads and the routing weights' histogram against the float64
        # router: 20 bins over [0, 1] (Mixtral has no scaling factor); a
        # weight within rounding of a bin edge may land in the next bin.
        chosen, routing = mixtral_routing(x, weights, "model.layers.1.block_sparse_moe.", top_k)
        self.assertEqual(stats.load, np.bincount(chosen.ravel(), minlength=stats.experts).tolist())
        self.assertEqual(stats.weight_range, 1.0)
        bins = np.minimum((routing.ravel() * 20).astype(int), 19)
        expected = np.bincount(bins, minlength=20)
        self.assertEqual(sum(stats.weight_histogram), 64 * top_k)
        self.assertLessEqual(np.abs(expected - np.array(stats.weight_histogram)).sum(), 2)
        self.assertIn("routing: selected weights per range (of [0, 1]):", stats.text)
        self.assertIn("routing: ", stats.text)
        self.assertEqual(stats.collapsed, bool(stats.collapse_reason))
        timing = layer.time(x, repeat=5, warmup=2)
        self.assertEqual((timing.runs, timing.warmup), (5, 2))
        self.assertGreater(timing.tokens_per_s, 0)
        self.assertLessEqual(timing.min_ms, timing.median_ms)
        png = stats.plot(self.dir / "routing.png")
        self.assertEqual(png.read_bytes()[:8], b"\x89PNG\r\n\x1a\n")

    def test_errors_carry_messages(self):
        with self.assertRaisesRegex(moec.Error, "no such file"):
            moec.compile(self.dir / "missing.json")
        bad = self.dir / "bad.mlir"
        bad.write_text("func.func @f(")
        with self.assertRaisesRegex(moec.Error, "bad.mlir"):
            moec.compile(bad)
        with self.assertRaisesRegex(moec.Error, "missing weight 'model.layers.1"):
            self.lib.bind({"other": np.zeros(3, np.float32)})
        with self.assertRaisesRegex(moec.Error, "no forward entry 'nope'"):
            self.lib.bind({}, entry="nope")
        layer = self.lib.bind(self.lib.generate_weights(self.dir / "e.safetensors", seed=8))
        with self.assertRaisesRegex(moec.Error, "input must be"):
            layer(np.zeros((3, layer.hidden + 1), np.float32))
        with self.assertRaisesRegex(moec.Error, "does not route by token id"):
            layer(np.zeros((3, layer.hidden), np.float32), token_ids=[1, 2, 3])
        with self.assertRaisesRegex(moec.Error, "dtype complex64"):
            self.lib.bind({"w": np.zeros(2, np.complex64)})

    def test_torch_tensors(self):
        try:
            import torch
        except ImportError:
            self.skipTest("torch is not installed")
        template = self.lib.bind(self.lib.generate_weights(self.dir / "t.safetensors", seed=9))
        weights = random_weights(template, seed=10)
        tensors = {n: torch.from_numpy(a).to(torch.bfloat16) for n, a in weights.items()}
        layer = self.lib.bind(tensors)
        x = torch.randn(2, 5, layer.hidden, dtype=torch.bfloat16)
        y = layer(x)
        self.assertEqual((y.shape, y.dtype), (x.shape, torch.bfloat16))
        rounded = {n: t.float().numpy() for n, t in tensors.items()}
        expected = mixtral_reference(x.float().reshape(-1, layer.hidden).numpy(), rounded,
                                     "model.layers.1.block_sparse_moe.",
                                     self.config["num_local_experts"],
                                     self.config["num_experts_per_tok"])
        actual = layer(x.float()).reshape(-1, layer.hidden).numpy()
        self.assertLessEqual(normwise(expected, actual), 1e-5)


if __name__ == "__main__":
    unittest.main()
