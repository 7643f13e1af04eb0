"""The trainer's pieces that mirror dnd's: the learning-rate schedule, clipping's norm, per-sample noise seeds."""

import math
import unittest

import _support  # noqa: F401
import torch

from dnd_torch.train import global_norm, lr_at, sample_seed


class TrainPiecesTests(unittest.TestCase):
    def test_warmup_then_cosine_like_dnds_lr_schedule(self):
        # LRSchedule(peak: 1e-3, warmupSteps: 4, totalSteps: 20, minFactor: 0.1)
        self.assertAlmostEqual(lr_at(0, 1e-3, 4, 20, 0.1), 2.5e-4)
        self.assertAlmostEqual(lr_at(3, 1e-3, 4, 20, 0.1), 1e-3)
        self.assertAlmostEqual(lr_at(4, 1e-3, 4, 20, 0.1), 1e-3)
        self.assertAlmostEqual(lr_at(12, 1e-3, 4, 20, 0.1), 1e-3 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5))))
        self.assertAlmostEqual(lr_at(20, 1e-3, 4, 20, 0.1), 1e-4)
        self.assertAlmostEqual(lr_at(0, 1e-3, 0, 10, 0.1), 1e-3)

    def test_global_norm_over_every_gradient(self):
        a, b = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(3))
        a.grad, b.grad = torch.tensor([3.0, 0.0]), torch.tensor([0.0, 4.0, 0.0])
        self.assertAlmostEqual(global_norm([("b", b), ("a", a)]), 5.0)

    def test_noise_seeds_depend_on_step_and_sample_only(self):
        self.assertEqual(sample_seed(1, 2, 3), sample_seed(1, 2, 3))
        self.assertEqual(len({sample_seed(1, s, j) for s in range(10) for j in range(10)}), 100)
        self.assertLess(sample_seed(2**63, 5, 7), 2**63)


if __name__ == "__main__":
    unittest.main()
