"""The head screen's pieces: its head-only adapter is what predict's path adds for a head, its refit is dnd's
PromptHead formula, its variant parser; and Normalization's feature of a head of sentences."""

import os
import tempfile
import unittest

import _support  # noqa: F401
import torch

from dnd_torch.head_screen import (head_adapter, kernel_weights, left_out_weights, match_kernel, parse_variant, ridge_projection,
                                   split_sentences, weighted)
from dnd_torch.normalization import Normalization
from dnd_torch.safetensors_io import save

KA = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"
KB = "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"


class HeadScreenTests(unittest.TestCase):
    def normalization(self, folder: str, n: int = 3, h: int = 5, feature: str = "") -> Normalization:
        g = torch.Generator().manual_seed(7)
        f = 2 * h if feature == "sentences" else h
        save({"mean." + KB: torch.randn(6, 2, generator=g), "shared." + KA: torch.randn(2, 4, generator=g),
              "head.feature_mean": torch.randn(f, generator=g), "head.projection": torch.randn(n, f, generator=g),
              "head." + KB: torch.randn(n, 6, 2, generator=g)}, os.path.join(folder, "normalization.safetensors"),
             metadata={"head_feature": feature} if feature else None)
        return Normalization(folder)

    def test_head_of_sentences_reads_both_means(self):
        with tempfile.TemporaryDirectory() as d:
            norm = self.normalization(d, feature="sentences")
            self.assertEqual(norm.head_feature, "sentences")
            g = torch.Generator().manual_seed(4)
            pooled, sentences = torch.randn(8, 5, generator=g), torch.randn(8, 5, generator=g)
            f = norm.feature(pooled, sentences)
            self.assertEqual(list(f.shape), [10])
            self.assertTrue(torch.equal(f[:5], pooled.double().mean(0).float()))
            self.assertTrue(torch.equal(f[5:], sentences.double().mean(0).float()))
            alpha = norm.head_projection.double() @ (f.double() - norm.head_mean.double())
            got = norm.adapter({KA: torch.zeros(2, 4), KB: torch.zeros(6, 2)}, pooled, sentences=sentences)
            self.assertLess((got[KB] - head_adapter(norm, alpha)[KB]).abs().max().item(), 1e-6)
            with self.assertRaisesRegex(ValueError, "mean sentence embeddings"):
                norm.adapter({KA: torch.zeros(2, 4), KB: torch.zeros(6, 2)}, pooled)
        with tempfile.TemporaryDirectory() as d:
            self.assertEqual(self.normalization(d).head_feature, "prompts")   # a file from before the key
        with tempfile.TemporaryDirectory() as d:
            with self.assertRaisesRegex(ValueError, "'tokens' is not one of prompts, sentences"):
                self.normalization(d, feature="tokens")

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

    def test_left_out_weights_give_the_head_and_mean_of_the_other_datasets(self):
        g = torch.Generator().manual_seed(3)
        means = torch.randn(4, 6, generator=g, dtype=torch.float64)   # the datasets' mean adapters
        zoo_mean = means.mean(0)
        y = means - zoo_mean                                            # the stored centred residuals
        alpha = torch.randn(3, generator=g, dtype=torch.float64)
        for i in range(4):
            others = torch.cat([means[:i], means[i + 1:]])
            expected = others.mean(0) + 1.5 * alpha @ (others - others.mean(0))
            got = zoo_mean + left_out_weights(alpha, i, 1.5) @ y
            self.assertLess((got - expected).abs().max().item(), 1e-12)

    def test_sentence_split_is_dnds(self):
        # The cases of dnd's PromptHeadTests.testSentencesSplitAfterAnEndMarkAndWhiteSpace.
        self.assertEqual(split_sentences("What is the plural of cat? Put the answer in square brackets."),
                         ["What is the plural of cat?", "Put the answer in square brackets."])
        self.assertEqual(split_sentences("Reply in the form Answer: <answer>."), ["Reply in the form Answer: <answer>."])
        self.assertEqual(split_sentences("  no end mark \n"), ["no end mark"])
        self.assertEqual(split_sentences("One.\r\n\tTwo!  Three?Four 3.5 five."), ["One.", "Two!", "Three?Four 3.5 five."])
        self.assertEqual(split_sentences("Café.\u3000Naïve\u00a0text.\u2029End"), ["Café.", "Naïve\u00a0text.", "End"])
        self.assertEqual(split_sentences(" \t "), [""])
        self.assertEqual(split_sentences("..."), ["..."])
        self.assertEqual(split_sentences("Stop.\x1cNext"), ["Stop.\x1cNext"], "a file separator is not White_Space")

    def test_dual_kernel_ridge_is_the_heads_formula(self):
        g = torch.Generator().manual_seed(5)
        x = torch.randn(6, 9, generator=g, dtype=torch.float64)
        f = torch.randn(9, generator=g, dtype=torch.float64)
        for ridge in (1e-3, 0.5):
            mean, projection = ridge_projection(x, ridge)
            dual = kernel_weights(x @ x.T, x @ f, ridge)
            self.assertLess((dual - projection @ (f - mean)).abs().max().item(), 1e-9)

    def test_match_kernel(self):
        e = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [0.6, 0.8]], dtype=torch.float64), dim=1)
        a = (e[:1], torch.tensor([1.0], dtype=torch.float64))
        b = (e, torch.tensor([0.25, 0.75], dtype=torch.float64))
        self.assertAlmostEqual(match_kernel(a, a, 0.2), 1.0)
        self.assertAlmostEqual(match_kernel(a, b, 0.2), 0.25 + 0.75 * torch.exp(torch.tensor(-0.4 / 0.2)).item())
        self.assertAlmostEqual(match_kernel(b, a, 0.5), match_kernel(a, b, 0.5))

    def test_variants(self):
        self.assertEqual(parse_variant("both*1.3"), ("both", 1.3, 1.0, 1.0, None))
        self.assertEqual(parse_variant("whole"), ("whole", 1.0, 1.0, 1.0, None))
        self.assertEqual(parse_variant("both@0.5*2"), ("both", 2.0, 0.5, 1.0, None))
        self.assertEqual(parse_variant("both@2^0.6*1.1"), ("both", 1.1, 2.0, 0.6, None))
        self.assertEqual(parse_variant("whole^1.25"), ("whole", 1.0, 1.0, 1.25, None))
        self.assertEqual(parse_variant("both@2~0.1^0.5*1.2"), ("both", 1.2, 2.0, 0.5, 0.1))
        self.assertEqual(parse_variant("match"), ("match", 1.0, 0.2, 1.0, None))
        self.assertEqual(parse_variant("mix@0.5^2"), ("mix", 1.0, 0.5, 2.0, None))
        f = {"whole": torch.ones(2, dtype=torch.float64), "sentences": torch.full((2,), 2.0, dtype=torch.float64)}
        self.assertEqual(weighted("both", 4.0, f).tolist(), [1.0, 1.0, 4.0, 4.0])
        self.assertEqual(weighted("whole", 4.0, f).tolist(), [1.0, 1.0])
        with self.assertRaisesRegex(ValueError, "only both takes a sentence weight"):
            parse_variant("whole@2")
        with self.assertRaisesRegex(ValueError, "the weight must be a positive number"):
            parse_variant("both@x")
        with self.assertRaisesRegex(ValueError, "must be one of whole, sentences, both, match, mix"):
            parse_variant("tokens")
        with self.assertRaisesRegex(ValueError, "positive"):
            parse_variant("whole*-1")
        with self.assertRaisesRegex(ValueError, "the scale must be a positive number"):
            parse_variant("both^0")
        with self.assertRaisesRegex(ValueError, "the ridge must be a positive number"):
            parse_variant("whole~-1")


if __name__ == "__main__":
    unittest.main()
