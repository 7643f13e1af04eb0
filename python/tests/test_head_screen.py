"""The head screen's pieces: its head-only adapter is what predict's path adds for a head, its refit is dnd's
PromptHead formula, its sentence split and variant parser."""

import os
import tempfile
import unittest

import _support  # noqa: F401
import torch

from dnd_torch.head_screen import head_adapter, parse_variant, ridge_projection, sentences
from dnd_torch.normalization import Normalization
from dnd_torch.safetensors_io import save

KA = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"
KB = "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"


class HeadScreenTests(unittest.TestCase):
    def normalization(self, folder: str, n: int = 3, h: int = 5) -> Normalization:
        g = torch.Generator().manual_seed(7)
        save({"mean." + KB: torch.randn(6, 2, generator=g), "shared." + KA: torch.randn(2, 4, generator=g),
              "head.feature_mean": torch.randn(h, generator=g), "head.projection": torch.randn(n, h, generator=g),
              "head." + KB: torch.randn(n, 6, 2, generator=g)}, os.path.join(folder, "normalization.safetensors"))
        return Normalization(folder)

    def test_head_only_adapter_is_predicts_adapter_of_zero_tokens(self):
        with tempfile.TemporaryDirectory() as d:
            norm = self.normalization(d)
            pooled = torch.randn(8, 5, generator=torch.Generator().manual_seed(3))
            expected = norm.adapter({KA: torch.zeros(2, 4), KB: torch.zeros(6, 2)}, pooled)
            alpha = norm.head_projection.double() @ (pooled.double().mean(0) - norm.head_mean.double())
            got = head_adapter(norm, alpha)
            self.assertEqual(sorted(got), sorted([KA, KB]))
            self.assertLess((got[KB] - expected[KB]).abs().max().item(), 1e-5)
            self.assertTrue(torch.equal(got[KA], expected[KA]))
            doubled = head_adapter(norm, alpha, strength=2.0)
            self.assertLess((doubled[KB] - 2 * got[KB]).abs().max().item(), 1e-5)
            self.assertTrue(torch.equal(doubled[KA], got[KA]))   # a shared A is never scaled

    def test_ridge_projection_interpolates_its_datasets(self):
        x = torch.randn(4, 9, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
        mean, p = ridge_projection(x, 1e-9)
        self.assertLess((mean - x.mean(0)).abs().max().item(), 1e-12)
        for i in range(4):
            alpha = p @ (x[i] - mean)
            target = torch.full((4,), -0.25, dtype=torch.float64)
            target[i] += 1
            self.assertLess((alpha - target).abs().max().item(), 1e-6)
        _, shrunk = ridge_projection(x, 1.0)
        self.assertLess((shrunk @ (x[0] - mean))[0].item(), 0.75 - 0.1)   # a real ridge shrinks toward the mean

    def test_sentences_and_variants(self):
        self.assertEqual(sentences("What is the plural of cat? Put the answer in square brackets."),
                         ["What is the plural of cat?", "Put the answer in square brackets."])
        self.assertEqual(sentences("Reply in the form Answer: <answer>."), ["Reply in the form Answer: <answer>."])
        self.assertEqual(sentences("  no end mark "), ["no end mark"])
        self.assertEqual(parse_variant("both*1.3"), ("both", 1.3))
        self.assertEqual(parse_variant("whole"), ("whole", 1.0))
        with self.assertRaisesRegex(ValueError, "must be one of whole, sentences, both"):
            parse_variant("tokens")
        with self.assertRaisesRegex(ValueError, "positive"):
            parse_variant("whole*-1")


if __name__ == "__main__":
    unittest.main()
