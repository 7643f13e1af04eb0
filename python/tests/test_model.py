"""The PyTorch decoder against shared/fixtures/hyperconv: output, weighted MSE and every gradient."""

import json
import unittest

import _support
import torch

from dnd_torch.model import HyperConvGenerator, PARAMETER_NAMES, chain_from_parameters, weighted_mse
from dnd_torch.safetensors_io import SafeTensorsFile


class HyperConvFixtureTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        f = lambda n: SafeTensorsFile(_support.fixture("hyperconv", n)).tensors()
        cls.params, cls.inputs, cls.output, cls.grads = f("params.safetensors"), f("input.safetensors"), f("output.safetensors"), f("grads.safetensors")
        with open(_support.fixture("hyperconv", "config.json")) as fh:
            cls.config = json.load(fh)
        with open(_support.fixture("hyperconv", "loss.json")) as fh:
            cls.loss = json.load(fh)["loss"]

    def model(self):
        m = HyperConvGenerator(chain_from_parameters(self.params), self.config["kernel"])
        m.load_dnd_state(self.params, "fixture")
        return m

    def test_parameter_names_and_shapes_are_dnds(self):
        m = HyperConvGenerator(self.config["chain"], self.config["kernel"])
        self.assertEqual(chain_from_parameters(self.params), self.config["chain"])
        self.assertEqual(sorted(m.expected_shapes()), sorted(self.params))
        for name, shape in m.expected_shapes().items():
            self.assertEqual(shape, list(self.params[name].shape), name)
        self.assertEqual({n.split(".", 2)[2] for n in self.params}, set(PARAMETER_NAMES))

    def test_forward_matches_the_fixture(self):
        y = self.model()(self.inputs["x"])
        diff = (y - self.output["y"]).abs().max().item()
        print(f"hyperconv fixture: y max abs difference {diff:.3g}")
        self.assertLess(diff, 1e-5)

    def test_loss_and_every_gradient_match_the_fixture(self):
        m = self.model()
        x = self.inputs["x"].clone().requires_grad_(True)
        loss = weighted_mse(m(x), self.inputs["t"], self.inputs["w"])
        self.assertLess(abs(loss.item() - self.loss) / self.loss, 1e-6)
        loss.backward()
        worst = 0.0
        grads = dict(m.named_parameters())
        for name, ref in self.grads.items():
            got = x.grad if name == "x" else grads[name].grad
            diff = (got - ref).abs().max().item()
            if ref.abs().max().item() == 0:  # channel.bias of inner blocks: exactly 0 (the next LayerNorm removes it)
                self.assertLess(diff, 1e-6, name)
                continue
            rel = diff / ref.abs().max().item()
            worst = max(worst, rel)
            self.assertLess(rel, 1e-4, name)
        print(f"hyperconv fixture: loss {loss.item():.9g} vs {self.loss:.9g}; worst gradient max-abs/max-ref {worst:.3g}")
        self.assertEqual(len(self.grads), 1 + len(grads))

    def test_load_rejects_foreign_tensors(self):
        m = HyperConvGenerator(self.config["chain"], self.config["kernel"])
        bad = dict(self.params)
        bad["blocks.0.extra"] = torch.zeros(1)
        with self.assertRaisesRegex(ValueError, "unexpected tensor blocks.0.extra"):
            m.load_dnd_state(bad, "p")
        bad = dict(self.params)
        bad["blocks.1.bias"] = torch.zeros(2, 2)
        with self.assertRaisesRegex(ValueError, "blocks.1.bias has shape"):
            m.load_dnd_state(bad, "p")

    def test_dnd_initialisation_scheme(self):
        m = HyperConvGenerator([[8, 16, 32], [4, 6, 10]], 3)
        m.reset_parameters_like_dnd(torch.Generator().manual_seed(0))
        b = m.blocks[0]
        self.assertTrue(torch.equal(b.norm.weight, torch.ones(16, 32)))
        self.assertTrue(torch.equal(b.channel.bias, torch.zeros(4)))
        std = b.w_first.weight.std().item()
        self.assertAlmostEqual(std, 1 / (32 * 9) ** 0.5, delta=0.15 / (32 * 9) ** 0.5)


if __name__ == "__main__":
    unittest.main()
