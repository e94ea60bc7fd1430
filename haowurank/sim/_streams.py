"""Counter-based random streams: every random number is a pure function of its coordinates.

A draw is ``uniform(purpose, day, user, item, ...)``: the root key (from the run's seed), a
purpose code (activity, click, purchase, ...), the day and the agent coordinates are hashed with
the SplitMix64 finaliser, chained one coordinate at a time. Nothing depends on the order in which
agents are processed or on how many other draws were made, so

* results do not depend on processing order or batching, and
* two runs with the same seed but different ranking strategies use the same number for the same
  (purpose, day, user, item): common random numbers, which make paired comparisons sharp.

References
----------
Salmon, Moraes, Dror and Shaw (2011), "Parallel random numbers: as easy as 1, 2, 3", SC'11
(counter-based generators). Steele, Lea and Flood (2014), "Fast splittable pseudorandom number
generators", OOPSLA (SplitMix64).
"""

from __future__ import annotations

import numpy as np

from .._random import SeedLike, seed_sequence

__all__ = ["PURPOSES", "Streams"]

_MASK = (1 << 64) - 1
_G = 0x9E3779B97F4A7C15
_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB
_U30, _U27, _U31 = np.uint64(30), np.uint64(27), np.uint64(31)
_UM1, _UM2 = np.uint64(_M1), np.uint64(_M2)

#: Purpose codes; appending new ones never changes existing streams.
PURPOSES: dict[str, int] = {
    name: k + 1
    for k, name in enumerate(
        [
            "world", "active", "session", "query", "click", "buy", "recommend", "form",
            "follow", "optin", "source", "qty", "cancel", "cancel_day", "ship", "transit",
            "satisfied", "return", "return_day", "rap", "visibility", "policy", "marketing",
            "response", "optout", "complaint", "audit", "optin_asks", "cycle", "world_sample",
            "churn", "exposure", "explore",
        ]
    )
}


def _mix_int(x: int) -> int:
    x &= _MASK
    x ^= x >> 30
    x = (x * _M1) & _MASK
    x ^= x >> 27
    x = (x * _M2) & _MASK
    x ^= x >> 31
    return x


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser on a uint64 array, in place (wrap-around arithmetic)."""
    x ^= x >> _U30
    x *= _UM1
    x ^= x >> _U27
    x *= _UM2
    x ^= x >> _U31
    return x


class Streams:
    """Stateless random numbers keyed by (purpose, day, coordinates...).

    Parameters
    ----------
    seed : int, SeedSequence or Generator
        The run's root seed; converted once to a 64-bit key.
    """

    def __init__(self, seed: SeedLike):
        self.key = int(seed_sequence(seed).generate_state(1, dtype=np.uint64)[0])

    def _prefix(self, purpose: str, day: int) -> int:
        code = PURPOSES[purpose]
        h = _mix_int(self.key ^ _mix_int(code * _G))
        return _mix_int(h ^ ((int(day) + (1 << 20)) * _G))

    def bits(self, purpose: str, day: int, *coords: np.ndarray | int) -> np.ndarray:
        """64-bit hashes, one per element of the broadcast coordinates (non-negative ints)."""
        arrays = [np.asarray(c) for c in coords]
        shape = np.broadcast_shapes(*(a.shape for a in arrays)) if arrays else ()
        h = np.full(shape, self._prefix(purpose, day), dtype=np.uint64)
        for a in arrays:
            h ^= np.broadcast_to(a, shape).astype(np.uint64) * np.uint64(_G)
            _mix(h)
        return h

    def uniform(self, purpose: str, day: int, *coords: np.ndarray | int) -> np.ndarray:
        """Uniform floats in [0, 1) (53 bits)."""
        h = self.bits(purpose, day, *coords)
        return (h >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))

    def normal(self, purpose: str, day: int, *coords: np.ndarray | int) -> np.ndarray:
        """Standard normal draws (Box-Muller on two hashed uniforms)."""
        h = self.bits(purpose, day, *coords)
        u1 = ((h >> np.uint64(11)).astype(np.float64) + 0.5) * (1.0 / (1 << 53))
        h2 = _mix(h ^ np.uint64(_G))
        u2 = (h2 >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))
        return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)

    def geometric(self, purpose: str, day: int, mean: float, *coords: np.ndarray | int) -> np.ndarray:
        """Integers >= 1 with the given mean (geometric), as int64."""
        u = self.uniform(purpose, day, *coords)
        if mean <= 1.0:
            return np.ones(u.shape, dtype=np.int64)
        p = 1.0 / mean
        return 1 + np.floor(np.log1p(-u) / np.log1p(-p)).astype(np.int64)

    def choice(self, purpose: str, day: int, probs: np.ndarray, *coords: np.ndarray | int) -> np.ndarray:
        """Index drawn from ``probs`` (rows of a 2-D array, or one 1-D vector for all)."""
        u = self.uniform(purpose, day, *coords)
        probs = np.asarray(probs, dtype=np.float64)
        if probs.ndim == 1:
            c = np.cumsum(probs / probs.sum())
            return np.minimum(np.searchsorted(c, u, side="right"), len(c) - 1)
        c = np.cumsum(probs / probs.sum(axis=1, keepdims=True), axis=1)
        return np.minimum((c < u[:, None]).sum(axis=1), probs.shape[1] - 1)

    def gumbel_argmax(
        self, purpose: str, day: int, logits: np.ndarray, rows: np.ndarray
    ) -> np.ndarray:
        """Categorical draw per row of ``logits`` (softmax), keyed by ``rows`` ids."""
        n, k = logits.shape
        u = self.uniform(purpose, day, rows[:, None], np.arange(k)[None, :])
        g = -np.log(-np.log(np.clip(u, 1e-300, None)))
        return np.argmax(logits + g, axis=1)
