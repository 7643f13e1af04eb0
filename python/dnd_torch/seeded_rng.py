"""dnd's seeded random stream (TensorCore `SeededRNG`: xoshiro256**, seeded through SplitMix64), bit for bit.

Used where dnd_torch must make dnd's own random choices: which prompts of a file condition the generator
(`select_prompts`, as `dnd generate` and every daemon job choose them; `head_prompts`, the prompts a prompt head reads) and the per-step streams of `dnd train`
(`step_rng`), against which the exported sample schedule is checked. Bounded integers follow the Swift standard
library's `next(upperBound:)` (Lemire's nearly divisionless method), so the draws equal Swift's.
"""

from __future__ import annotations

from typing import List

MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def _rotl(x: int, k: int) -> int:
    return ((x << k) | (x >> (64 - k))) & MASK


class SeededRNG:
    """xoshiro256** seeded by SplitMix64, as dnd's `SeededRNG(seed:)`."""

    def __init__(self, seed: int):
        x = seed & MASK
        s = []
        for _ in range(4):
            x = (x + GOLDEN) & MASK
            z = x
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
            s.append(z ^ (z >> 31))
        self.s = s

    def next(self) -> int:
        s0, s1, s2, s3 = self.s
        result = (_rotl((s1 * 5) & MASK, 7) * 9) & MASK
        t = (s1 << 17) & MASK
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = _rotl(s3, 45)
        self.s = [s0, s1, s2, s3]
        return result

    def next_below(self, bound: int) -> int:
        """Uniform in 0..<bound: Swift's `next(upperBound:)` for UInt64 (Lemire, 2019)."""
        if bound <= 0:
            raise ValueError("bound must be positive")
        m = self.next() * bound
        low = m & MASK
        if low < bound:
            t = ((1 << 64) - bound) % bound
            while low < t:
                m = self.next() * bound
                low = m & MASK
        return m >> 64

    def sample(self, k: int, n: int) -> List[int]:
        """`k` distinct indices of 0..<n in random order (partial Fisher–Yates), as `SeededRNG.sample(_:from:)`."""
        idx = list(range(n))
        for i in range(k):
            j = i + self.next_below(n - i)
            idx[i], idx[j] = idx[j], idx[i]
        return idx[:k]

    def shuffled(self, a: List[int]) -> List[int]:
        a = list(a)
        for i in range(len(a) - 1, 0, -1):
            j = self.next_below(i + 1)
            a[i], a[j] = a[j], a[i]
        return a


def step_rng(seed: int, step: int) -> SeededRNG:
    """The random stream of `dnd train`'s step `step` (0-based): `HyperConvTrainer.stepRNG`."""
    return SeededRNG((seed + GOLDEN * (step + 1)) & MASK)


def choose_prompts(n: int, p: int, rng: SeededRNG) -> List[int]:
    """N prompt indices of a dataset with P prompts (`ZooSampleSource.choosePrompts`)."""
    if p >= n:
        return rng.sample(n, p)
    idx = rng.shuffled(list(range(p)))
    while len(idx) < n:
        idx.append(rng.next_below(p))
    return idx


def select_prompts(count: int, n: int, seed: int) -> List[int]:
    """Which of `count` records condition a generator of N prompts (`AdapterGeneration.selectPrompts`)."""
    rng = SeededRNG(seed)
    if count > n:
        return sorted(rng.sample(n, count))
    return choose_prompts(n, count, rng)


DEFAULT_HEAD_PROMPTS = 64  # AdapterGeneration.defaultHeadPrompts


def head_prompts(count: int, limit: int, seed: int) -> List[int]:
    """Which distinct records of `count` a prompt head reads (`AdapterGeneration.headPromptIndices`): all of them
    when there are at most `limit`, else `limit` drawn with `select_prompts`'s seed (a superset of its choice)."""
    if limit < 1:
        raise ValueError(f"a prompt head reads at least one prompt, not {limit}")
    if count <= limit:
        return list(range(count))
    return sorted(SeededRNG(seed).sample(limit, count))
