"""The port of dnd's SeededRNG against values dnd (Swift) printed for the same seeds."""

import unittest

import _support  # noqa: F401

from dnd_torch.seeded_rng import SeededRNG, choose_prompts, head_prompts, select_prompts, step_rng


class SeededRNGTests(unittest.TestCase):
    def test_matches_dnds_stream(self):
        # Swift: var r = SeededRNG(seed: 12345); r.int(below:) for 1, 2, 3, 7, 10, 1000, 2^40; r.sample(5, from: 9);
        # r.shuffled(Array(0..<6)); SeededRNG(seed: 0x9E3779B97F4A7C15 &* 3).next().
        r = SeededRNG(12345)
        self.assertEqual([r.next_below(b) for b in (1, 2, 3, 7, 10, 1000, 1 << 40)], [0, 0, 2, 0, 5, 10, 175677001708])
        self.assertEqual(r.sample(5, 9), [2, 4, 8, 7, 6])
        self.assertEqual(r.shuffled(list(range(6))), [1, 3, 2, 0, 4, 5])
        self.assertEqual(step_rng(0, 2).next(), 10273792864060154340)

    def test_prompt_choice_rules(self):
        idx = select_prompts(10, 4, seed=0)
        self.assertEqual(idx, sorted(idx))              # more records than N: N of them, in file order
        self.assertEqual(len(set(idx)), 4)
        few = select_prompts(3, 8, seed=1)               # fewer: every prompt once, the rest drawn again
        self.assertEqual(sorted(set(few)), [0, 1, 2])
        self.assertEqual(len(few), 8)
        exact = choose_prompts(5, 5, SeededRNG(7))       # as many: a permutation
        self.assertEqual(sorted(exact), list(range(5)))

    def test_head_reads_a_superset_of_the_decoders_prompts(self):
        # Swift: AdapterGeneration.headPromptIndices(count: 100, limit: 16, seed: 3) and selectPrompts(count: 100, n: 8, seed: 3)
        # (PipelineEndToEndTests.testPromptHeadReadsUpToItsLimitOfDistinctPrompts asserts the same lists).
        head, decoder = head_prompts(100, 16, 3), select_prompts(100, 8, 3)
        self.assertEqual(head, [23, 24, 25, 26, 42, 44, 54, 64, 68, 69, 71, 72, 73, 78, 93, 94])
        self.assertEqual(decoder, [23, 25, 42, 44, 54, 64, 69, 73])
        self.assertTrue(set(decoder) <= set(head))
        self.assertEqual(head_prompts(6, 64, 0), list(range(6)))   # a short file: every prompt once
        self.assertEqual(head_prompts(40, 40, 9), list(range(40)))
        with self.assertRaises(ValueError):
            head_prompts(10, 0, 0)


if __name__ == "__main__":
    unittest.main()
