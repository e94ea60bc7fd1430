"""Randomness per SPEC 7: accept int / SeedSequence / Generator, convert once, derive streams."""

from __future__ import annotations

import numpy as np

SeedLike = int | np.random.SeedSequence | np.random.Generator | None

__all__ = ["SeedLike", "derive_seed", "rng", "seed_sequence", "spawn"]


def seed_sequence(seed: SeedLike) -> np.random.SeedSequence:
    """A SeedSequence from an int, a SeedSequence, a Generator or None (fresh entropy)."""
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, np.random.Generator):
        return np.random.SeedSequence(int(seed.integers(0, 2**63 - 1)))
    if seed is None:
        return np.random.SeedSequence()
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or int(seed) < 0:
        raise TypeError(
            f"The 'seed' parameter must be a non-negative int, a numpy SeedSequence or Generator, "
            f"or None. Got {seed!r} instead."
        )
    return np.random.SeedSequence(int(seed))


def rng(seed: SeedLike) -> np.random.Generator:
    """A Generator from any seed-like value (a Generator is returned as is)."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed_sequence(seed))


def spawn(seed: SeedLike, n: int) -> list[np.random.Generator]:
    """``n`` independent generators derived from one root seed."""
    return [np.random.default_rng(s) for s in seed_sequence(seed).spawn(n)]


def derive_seed(seed: SeedLike) -> int:
    """A plain int for libraries such as ``implicit`` that want ``random_state=int``."""
    return int(seed_sequence(seed).generate_state(1, dtype=np.uint32)[0])
