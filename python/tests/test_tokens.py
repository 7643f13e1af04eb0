"""Detokenization against shared/fixtures/lora-tokens: the stored tokens decode to the stored adapters."""

import json
import os
import unittest

import _support
import torch

from dnd_torch import tokens as tk
from dnd_torch.safetensors_io import SafeTensorsFile


def config_of(adapter_dir: str, cw: int) -> dict:
    """The generator.json fields detokenization needs, read off an adapter's own shapes."""
    t = SafeTensorsFile(os.path.join(adapter_dir, "adapter_model.safetensors")).tensors()
    with open(os.path.join(adapter_dir, "adapter_config.json")) as f:
        c = json.load(f)
    shapes, layers = {}, 0
    for key, v in t.items():
        p = key.split(".")
        layers = max(layers, int(p[4]) + 1)
        shapes.setdefault(p[6], [0, 0])
        if p[7] == "lora_A":
            shapes[p[6]][0] = v.shape[1]
        else:
            shapes[p[6]][1] = v.shape[0]
    return {"rank": c["r"], "chunk_width": cw, "layers": layers, "lora_alpha": c["lora_alpha"],
            "module_shapes": [{"name": m, "in_features": i, "out_features": o} for m, (i, o) in shapes.items()]}


class DetokenizeFixtureTests(unittest.TestCase):
    def check(self, adapter: str, tokens_file: str, cw: int):
        folder = _support.fixture("lora-tokens", adapter)
        want = SafeTensorsFile(os.path.join(folder, "adapter_model.safetensors")).tensors()
        got = tk.detokenize(SafeTensorsFile(_support.fixture("lora-tokens", tokens_file)).tensor("tokens"), config_of(folder, cw))
        self.assertEqual(sorted(got), sorted(want))
        worst = max((got[k] - want[k]).abs().max().item() for k in want)
        print(f"lora-tokens {tokens_file}: round trip max abs error {worst:.3g}")
        self.assertLess(worst, 1e-6)

    def test_cw16(self):
        self.check("adapter", "tokens.safetensors", 16)

    def test_cw20_narrow_chunks(self):
        self.check("adapter", "tokens_cw20.safetensors", 20)

    def test_edge_chunks(self):
        self.check("edge_adapter", "tokens_edge.safetensors", 4)

    def test_rejects_wrong_shapes_and_non_finite_tokens(self):
        folder = _support.fixture("lora-tokens", "adapter")
        t = SafeTensorsFile(_support.fixture("lora-tokens", "tokens.safetensors")).tensor("tokens").clone()
        with self.assertRaisesRegex(ValueError, "layout needs"):
            tk.detokenize(t[:-1], config_of(folder, 16))
        t[3, 0, 0] = float("nan")
        with self.assertRaisesRegex(ValueError, "NaN"):
            tk.detokenize(t, config_of(folder, 16))


if __name__ == "__main__":
    unittest.main()
