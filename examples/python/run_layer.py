"""Compile, bind and run a layer from Python (pip install ./python first).

    python examples/python/run_layer.py [config.json] [weights.safetensors]
"""
import sys

import numpy as np

import moec

config = sys.argv[1] if len(sys.argv) > 1 else "examples/configs/mixtral-tiny/config.json"
lib = moec.compile(config, layer=1)                       # moe-translate + moe-compile
weights = sys.argv[2] if len(sys.argv) > 2 else lib.generate_weights("/tmp/moec-example.safetensors", seed=1)
layer = lib.bind(weights)                                 # a path, or a dict of numpy arrays / torch tensors
x = np.random.default_rng(0).standard_normal((37, layer.hidden), dtype=np.float32)
y = layer(x)
print(f"{layer.name}: {x.shape} -> {y.shape}, |y| mean {np.abs(y).mean():.6f}")
print(layer.routing_stats(x).text, end="")
