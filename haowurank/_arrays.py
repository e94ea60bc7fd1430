"""Sort-based set operations on large integer key arrays.

numpy 2.4's hash-based ``np.unique`` / ``np.isin`` are about 20x slower than sorting on millions
of int64 keys, so the hot paths (splits, the synthetic world, trust defences) use these.
"""

from __future__ import annotations

import numpy as np

__all__ = ["isin_sorted", "unique_sorted"]


def unique_sorted(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values of ``values``."""
    s = np.sort(np.asarray(values))
    if len(s) == 0:
        return s
    keep = np.empty(len(s), dtype=bool)
    keep[0] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    return s[keep]


def isin_sorted(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """``np.isin(values, sorted_set)`` for a sorted unique ``sorted_set`` (binary search)."""
    if len(sorted_set) == 0:
        return np.zeros(len(values), dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_set, values), len(sorted_set) - 1)
    return sorted_set[pos] == values
