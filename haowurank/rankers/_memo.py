"""Scores of (user, item) pairs kept between calls while a fitted model is unchanged.

A fitted ranker's score of a pair depends only on its fitted state, so a caller that asks for
the same pairs again (the simulation's feed, rebuilt every day between refits) need not score
them again. :class:`PairMemo` keeps them as sorted keys; :func:`memo_scores` serves a call from
it and scores only the pairs it lacks. The owner of a memo drops it when its state changes
(a refit). Calls of at most :data:`MEMO_MIN_USERS` users (a single request above all) neither
read nor grow it, so a service's requests pay nothing for it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["MEMO_MIN_USERS", "MEMO_PAIRS", "PairMemo", "memo_scores"]

#: Calls of at most this many users neither read nor grow a memo.
MEMO_MIN_USERS = 64
#: Pairs a memo keeps at most by default (about 12 bytes each).
MEMO_PAIRS = 16_000_000


class PairMemo:
    """Scores of (user, item) pairs: sorted keys ``user * n_items + item`` and their float32
    scores. At most ``capacity`` pairs; a store that would pass it starts the memo over.
    Readers take the (keys, scores) tuple whole, so a concurrent store at worst loses pairs,
    which are then scored again."""

    def __init__(self, n_items: int):
        self.n_items = max(int(n_items), 1)
        self.table = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))
        self._state: tuple = ()

    def bound_to(self, *state: object) -> PairMemo:
        """This memo, emptied first unless ``state`` (objects compared by identity: what
        the scores were computed from) is what it was last bound to."""
        if len(state) != len(self._state) or any(a is not b for a, b in zip(state, self._state)):
            self.table = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))
            self._state = state
        return self

    def keys(self, u: np.ndarray, c: np.ndarray) -> np.ndarray:
        return np.asarray(u, dtype=np.int64) * self.n_items + np.asarray(c, dtype=np.int64)

    def get(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(scores, hit) of keys ``q`` (scores NaN where missed)."""
        keys, vals = self.table
        out = np.full(len(q), np.nan, dtype=np.float32)
        if not len(keys) or not len(q):
            return out, np.zeros(len(q), dtype=bool)
        j = np.minimum(np.searchsorted(keys, q), len(keys) - 1)
        hit = keys[j] == q
        out[hit] = vals[j[hit]]
        return out, hit

    def put(self, q: np.ndarray, v: np.ndarray, capacity: int) -> None:
        """Keep scores ``v`` of keys ``q`` (keys not in the memo; repeats keep the first)."""
        q, first = np.unique(q, return_index=True)
        v = np.asarray(v, dtype=np.float32)[first]
        keys, vals = self.table
        if len(keys) + len(q) > capacity:
            keys, vals = keys[:0], vals[:0]
            if len(q) > capacity:
                return
        at = np.searchsorted(keys, q)
        self.table = (np.insert(keys, at, q), np.insert(vals, at, v))


def memo_scores(
    memo: PairMemo | None, capacity: int, uidx: np.ndarray, rows: np.ndarray,
    cols: np.ndarray, score: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
) -> np.ndarray:
    """Scores of the pairs (``uidx[rows]``, ``cols``): those in ``memo`` from it, the others
    by ``score(users, local rows, cols)`` over only the users they need, then kept. With no
    memo, or ``capacity <= 0``, or at most :data:`MEMO_MIN_USERS` users, ``score`` takes the
    call as it is."""
    u = np.asarray(uidx, dtype=np.int64)
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    if memo is None or capacity <= 0 or len(u) <= MEMO_MIN_USERS:
        return np.asarray(score(u, rows, cols), dtype=np.float32)
    q = memo.keys(u[rows], cols)
    out, hit = memo.get(q)
    miss = np.flatnonzero(~hit)
    if len(miss):
        users, r = np.unique(rows[miss], return_inverse=True)
        out[miss] = score(u[users], r, cols[miss])
        memo.put(q[miss], out[miss], capacity)
    return out
