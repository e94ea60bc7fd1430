"""Two-stage serving of ``hybrid`` without dense (users, items) blocks.

:func:`pair_block` gathers a batch's feature sources as sparse rows (item-kNN, BM25 item-kNN,
RP3beta, user-kNN, trust and visible-friend rows are sparse by construction) and ALS as factors;
the per-user maxima the features divide by come from those rows' stored entries and, for ALS,
from implicit's fused top-k (the best unseen item) and the user's seen items, so no
``n_items``-wide row is built for a user with a non-empty ALS row. :func:`retrieve_pairs` is stage
1: the same candidate pairs as :func:`~._hybrid_retrieval.retrieve` (the union of each
component's top ``k`` unseen items), found in the sparse rows. Stage 2 is the registry's
:func:`~._hybrid_features.pair_features` at those pairs through :class:`SparsePairInputs`, then
the learned model, in :class:`~._hybrid.HybridRanker`.

The values equal the dense path's (:func:`~._hybrid_features.feature_block`) except for the
float32 rounding of the ALS dot products (a per-pair sum here, a matrix product there).

Cost per user: the stored entries of its sparse rows, ALS's top-k over the catalogue (implicit's
C++ kernel) and ``O(candidates x features)`` for the features.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .._arrays import csr_positions
from ._cf import csr_row_topk
from ._hybrid_features import PairInputs
from ._hybrid_neighbours import item_rows, user_knn_rows
from ._hybrid_parts import FittedParts, csr_values
from ._hybrid_retrieval import popular_items

__all__ = ["FactorRows", "PairBlock", "SparsePairInputs", "pair_block", "retrieve_pairs"]


@dataclass(frozen=True, eq=False)
class FactorRows:
    """ALS scores of a batch as factors: the score of (row ``r``, item ``c``) is
    ``user[r] . item[c]``."""

    user: np.ndarray
    item: np.ndarray

    def at(self, r: np.ndarray, c: np.ndarray) -> np.ndarray:
        if not len(r):
            return np.zeros(0, dtype=np.float32)
        return np.einsum("ij,ij->i", self.user[r], self.item[c]).astype(np.float32)


@dataclass(frozen=True, eq=False)
class PairBlock:
    """The feature sources of a batch of users ``uidx`` in sparse form (built by
    :func:`pair_block`); the attribute names are :class:`~._hybrid_features.FeatureBlock`'s.

    Attributes
    ----------
    uidx : ndarray of shape (b,)
    als : FactorRows
    knn, knn2, uknn, trust, friends : csr_matrix of shape (b, n_items), float32
        Item-kNN (both), user-kNN, trust (clipped at 0) and visible-friend counts.
    rp3 : csr_matrix of shape (b, n_items) or None
    ease : ndarray of shape (b, p)
    als_top : ndarray of shape (b, k)
        ALS's top-k unseen items (implicit's kernel; -1 pads), for retrieval.
    als_max, knn_max, knn2_max, rp3_max, uknn_max, n_friends, activity, user_time
        Per-user statistics, as in :class:`~._hybrid_features.FeatureBlock`.
    user_category, user_merchant, user_period
        As in :class:`~._hybrid_features.FeatureBlock`.
    """

    uidx: np.ndarray
    als: FactorRows
    als_top: np.ndarray
    als_max: np.ndarray
    knn: sp.csr_matrix
    knn_max: np.ndarray
    knn2: sp.csr_matrix
    knn2_max: np.ndarray
    rp3: sp.csr_matrix | None
    rp3_max: np.ndarray
    ease: np.ndarray
    trust: sp.csr_matrix
    friends: sp.csr_matrix
    uknn: sp.csr_matrix
    uknn_max: np.ndarray
    n_friends: np.ndarray
    activity: np.ndarray
    user_category: sp.csr_matrix | None
    user_merchant: sp.csr_matrix | None
    user_period: np.ndarray
    user_time: np.ndarray


def _canonical(m: sp.spmatrix) -> sp.csr_matrix:
    if not (isinstance(m, sp.csr_matrix) and m.dtype == np.float32):
        m = sp.csr_matrix(m, dtype=np.float32)
    if not m.has_canonical_format:
        m.sum_duplicates()
    return m


def _row_max(m: sp.csr_matrix) -> np.ndarray:
    """Per-row maximum of the dense rows (unstored entries are 0), clipped at 0, then 1 where 0
    (the dense path's ``at_least_one(_positive_max(...))``)."""
    mx = np.zeros(m.shape[0], dtype=np.float32)
    full = np.flatnonzero(np.diff(m.indptr) > 0)
    if len(full):  # clipped at 0, so unstored zeros need no care
        mx[full] = np.maximum(np.maximum.reduceat(m.data, m.indptr[full]), 0)
    return np.where(mx > 0, mx, 1.0).astype(np.float32)


def _als_max(parts: FittedParts, u: np.ndarray, f: FactorRows, top: np.ndarray) -> np.ndarray:
    """The best ALS score of each user over every item: the better of its best unseen item
    (``top[:, 0]``, implicit's top-k) and its seen items; users with an empty ALS row (whose
    top-k is the popularity fallback) take the maximum of their dense score row."""
    b = len(u)
    out = np.full(b, -np.inf, dtype=np.float32)
    if parts.n_items == 0:
        return np.zeros(b, dtype=np.float32)
    als = parts.als
    empty = als._empty_users(u)
    ok = np.flatnonzero(~empty & (top[:, 0] >= 0))
    out[ok] = f.at(ok, top[ok, 0])
    seen = sp.csr_matrix(als.seen_[u])
    r = np.repeat(np.arange(b), np.diff(seen.indptr))
    if len(r):
        np.maximum.at(out, r, f.at(r, seen.indices.astype(np.int64)))
    if empty.any():
        e = np.flatnonzero(empty)
        out[e] = np.asarray(als._score(u[e]), dtype=np.float32).max(axis=1)
    return out


def pair_block(parts: FittedParts, uidx: np.ndarray, k: int = 1) -> PairBlock:
    """The sparse feature sources of known users ``uidx`` (no -1), with ALS's top ``k`` unseen
    items (``k >= 1``) kept for retrieval.

    Parameters
    ----------
    parts : FittedParts
    uidx : int ndarray of shape (b,)
    k : int
        ALS items retrieved per user (at most the catalogue).

    Returns
    -------
    PairBlock
    """
    u = np.asarray(uidx, dtype=np.int64)
    k = max(1, min(int(k), parts.n_items))
    U, V = parts.als.latent_factors()
    f = FactorRows(np.asarray(U[u], dtype=np.float32), np.asarray(V, dtype=np.float32))
    if parts.n_items:
        top, _ = parts.als._recommend_idx(u, k, True, None)
    else:
        top = np.full((len(u), 1), -1, dtype=np.int64)
    kp, kp2 = _canonical(item_rows(parts.knn, u)), _canonical(item_rows(parts.knn2, u))
    rp = None if parts.rp3 is None else _canonical(item_rows(parts.rp3, u))
    if len(parts.ease_idx):
        ease = np.asarray(parts.binary[u][:, parts.ease_idx] @ parts.ease_B, dtype=np.float32)
    else:
        ease = np.zeros((len(u), 0), dtype=np.float32)
    tr = sp.csr_matrix(parts.trust._candidates(u), dtype=np.float32)
    tr.data = np.maximum(tr.data, 0)
    tr = _canonical(tr)
    uk = _canonical(user_knn_rows(parts.uknn, parts.binary, u))
    ones = np.ones(len(u), dtype=np.float32)
    return PairBlock(
        uidx=u, als=f, als_top=np.asarray(top, dtype=np.int64), als_max=_als_max(parts, u, f, top),
        knn=kp, knn_max=_row_max(kp), knn2=kp2, knn2_max=_row_max(kp2),
        rp3=rp, rp3_max=ones if rp is None else _row_max(rp), ease=ease,
        trust=tr, friends=_canonical(parts.trust.graph_.visible(u).counts()),
        uknn=uk, uknn_max=_row_max(uk),
        n_friends=np.maximum(np.diff(parts.friends.indptr)[u], 1).astype(np.float32),
        activity=np.log1p(np.diff(parts.binary.indptr)[u]).astype(np.float32),
        user_category=None if parts.user_category is None else parts.user_category[u],
        user_merchant=None if parts.user_merchant is None else parts.user_merchant[u],
        user_period=parts.user_period[u], user_time=parts.user_time[u],
    )


class SparsePairInputs(PairInputs):
    """:class:`~._hybrid_features.PairInputs` over a :class:`PairBlock`: a per-pair source is
    looked up in the sparse rows (0 where nothing is stored), ALS is a dot product of factors."""

    def _rows(self, rows: sp.csr_matrix | FactorRows) -> np.ndarray:
        if isinstance(rows, FactorRows):
            return rows.at(self.r, self.c)
        return csr_values(rows, self.r, self.c)


def _seen_at(seen: sp.csr_matrix, r: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Whether each (row, item) pair is seen (a positive stored entry of canonical ``seen``)."""
    if seen.nnz == 0:
        return np.zeros(len(r), dtype=bool)
    pos, hit = csr_positions(seen, r, c)
    return hit & (seen.data[np.where(hit, pos, 0)] > 0)


def retrieve_pairs(
    parts: FittedParts, blk: PairBlock, k: int, n_popular: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Stage 1: the candidate pairs (local rows, items) of :func:`~._hybrid_retrieval.retrieve`
    (the union of the top ``k`` unseen items of ALS, item-kNN, trust, user-kNN, RP3beta and the
    head EASE, and the ``n_popular`` most popular items; no allowed-items mask), from the
    sparse rows of ``blk``.

    ALS's top ``k`` is ``blk.als_top`` (build the block with at least this ``k``).

    Returns
    -------
    rows, items : int64 ndarrays of shape (m,)
        Ascending by row, then item.
    """
    u = blk.uidx
    b, n_items = len(u), parts.n_items
    k = min(int(k), n_items)
    seen = _canonical(parts.binary[u])
    top = blk.als_top[:, :k]
    rr = [np.broadcast_to(np.arange(b)[:, None], top.shape)[top >= 0]]
    cc = [top[top >= 0]]
    sources = [blk.knn, blk.trust, blk.uknn]
    if blk.rp3 is not None:
        sources.append(blk.rp3)
    if len(parts.ease_idx):
        er = np.repeat(np.arange(b), len(parts.ease_idx))
        ec = np.tile(np.asarray(parts.ease_idx, dtype=np.int64), b)
        sources.append(_canonical(sp.csr_matrix(
            (blk.ease.ravel(), (er, ec)), shape=(b, n_items))))
    for m in sources:
        rows = np.repeat(np.arange(b, dtype=np.int64), np.diff(m.indptr))
        keep = m.data > 0
        if len(rows):
            keep &= ~_seen_at(seen, rows, m.indices)
        kept = csr_row_topk(m, k, keep)
        rr.append(rows[kept])
        cc.append(m.indices[kept].astype(np.int64))
    if n_popular:
        head = popular_items(parts, n_popular)
        rr.append(np.repeat(np.arange(b, dtype=np.int64), len(head)))
        cc.append(np.tile(head, b))
    r = np.concatenate(rr).astype(np.int64)
    c = np.concatenate(cc).astype(np.int64)
    if len(r):  # ALS already excluded seen items; the same rule for every source
        fresh = ~_seen_at(seen, r, c)
        r, c = r[fresh], c[fresh]
    key = np.unique(r * np.int64(max(n_items, 1)) + c)
    return key // max(n_items, 1), key % max(n_items, 1)
