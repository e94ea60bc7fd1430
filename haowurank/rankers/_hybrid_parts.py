"""The building blocks of ``hybrid``: neighbourhoods (user-kNN, sparse top-n rows), the per-user
and per-item tables its features read (category and merchant shares), and the typed containers
of the fitted parts (:class:`_FittedParts`) and of one batch's feature blocks
(:class:`_FeatureBlock`). :mod:`haowurank.rankers._hybrid` holds the features, the candidate
retrieval, the ranking model and the ranker."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._arrays import csr_positions
from .._dataset import Dataset
from ._base import Ranker

__all__ = ["user_neighbours"]


def _share_matrix(binary: sp.csr_matrix, codes: np.ndarray) -> sp.csr_matrix | None:
    """Users x groups: share of each user's items in each group (items with code -1 ignored)."""
    known = codes >= 0
    if not known.any():
        return None
    n_groups = int(codes[known].max()) + 1
    onehot = sp.csr_matrix(
        (np.ones(int(known.sum())), (np.flatnonzero(known), codes[known])),
        shape=(binary.shape[1], n_groups),
    )
    counts = sp.csr_matrix(binary @ onehot)
    totals = np.maximum(np.diff(binary.indptr), 1).astype(np.float64)
    out = sp.diags(1.0 / totals) @ counts
    out = sp.csr_matrix(out, dtype=np.float32)
    out.sort_indices()
    return out


def _item_rows(comp: Any, u: np.ndarray) -> sp.csr_matrix:
    """Scores of users ``u`` under a sparse item-item component (item-kNN, RP3beta) as CSR (the
    dense scores' stored entries; indices unsorted, no duplicates: scipy's product never
    repeats a column within a row)."""
    return sp.csr_matrix(comp.cf_[u] @ comp._weights(), dtype=np.float32)


def _dense(m: sp.csr_matrix) -> np.ndarray:
    """Dense float32 copy of a CSR matrix (duplicates summed, any index order)."""
    return np.asarray(m.toarray(), dtype=np.float32)


def _sparse_topn(
    m: sp.csr_matrix, n: int, drop: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of up to ``n`` largest positive stored entries of each row of ``m`` (any
    index order); entries where the dense boolean ``drop`` is true are left out first."""
    indptr, indices, data = m.indptr, m.indices, m.data
    if drop is not None and len(data):
        rows = np.repeat(np.arange(m.shape[0]), np.diff(indptr))
        data = np.where(drop[rows, indices], 0, data)
    rows_out, cols_out = [], []
    for r in range(m.shape[0]):
        a, b = indptr[r], indptr[r + 1]
        if a == b:
            continue
        vals = data[a:b]
        idx = indices[a:b]
        if b - a > n:
            part = np.argpartition(-vals, n - 1)[:n]
            vals, idx = vals[part], idx[part]
        idx = idx[vals > 0]
        rows_out.append(np.full(len(idx), r, dtype=np.int64))
        cols_out.append(idx)
    if not rows_out:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(rows_out), np.concatenate(cols_out).astype(np.int64)


def _csr_values(m: sp.csr_matrix, r: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Values of a canonical CSR matrix at (r, c) pairs (0 where nothing is stored), float32."""
    m = sp.csr_matrix(m)
    if not m.has_canonical_format:
        m.sum_duplicates()
    if m.nnz == 0 or len(r) == 0:
        return np.zeros(len(r), dtype=np.float32)
    pos, hit = csr_positions(m, r, c)
    return np.where(hit, m.data[pos], 0).astype(np.float32)


def user_neighbours(
    binary: sp.csr_matrix, k: int, *, budget: int = 20_000_000
) -> sp.csr_matrix:
    """Cosine similarity of users' item sets, the ``k`` most similar other users per row.

    Parameters
    ----------
    binary : csr_matrix of shape (n_users, n_items)
    k : int
    budget : int
        Rows are processed in chunks whose sparse similarity products hold at most about this
        many entries (estimated from item degrees), so memory stays bounded for any number of
        users (a single very connected user may exceed it).

    Returns
    -------
    csr_matrix of shape (n_users, n_users), float32
        Row ``u``: its ``k`` nearest neighbours with positive similarity (ties at the k-th
        place are broken by a partial sort: arbitrary but deterministic).
    """
    X = sp.csr_matrix(binary, dtype=np.float32)
    X.data[:] = 1.0
    n = X.shape[0]
    norms = np.sqrt(np.diff(X.indptr)).astype(np.float32)
    Xn = sp.csr_matrix(sp.diags(1.0 / np.where(norms > 0, norms, 1.0)) @ X, dtype=np.float32)
    XT = sp.csr_matrix(Xn.T)
    k = min(int(k), max(n - 1, 0))
    # estimated product entries per row: sum of the degrees of the row's items
    deg = np.diff(XT.indptr).astype(np.int64)
    est = np.asarray(X @ deg.astype(np.float64)).ravel() if X.nnz else np.zeros(n)
    data, cols, rows_out = [], [], []
    s0 = 0
    while s0 < n and k > 0:
        cum = np.cumsum(est[s0:])
        e0 = s0 + max(1, int(np.searchsorted(cum, budget, side="right")))
        S = sp.csr_matrix(Xn[s0:e0] @ XT)
        for j in range(e0 - s0):
            a, b = S.indptr[j], S.indptr[j + 1]
            v, c = S.data[a:b], S.indices[a:b]
            other = c != s0 + j  # no self-similarity
            v, c = v[other], c[other]
            if len(v) > k:
                part = np.argpartition(-v, k - 1)[:k]
                v, c = v[part], c[part]
            ok = v > 0
            rows_out.append(np.full(int(ok.sum()), s0 + j, dtype=np.int64))
            cols.append(c[ok])
            data.append(v[ok])
        s0 = e0
    if not rows_out:
        return sp.csr_matrix((n, n), dtype=np.float32)
    out = sp.csr_matrix(
        (np.concatenate(data), (np.concatenate(rows_out), np.concatenate(cols))),
        shape=(n, n), dtype=np.float32,
    )
    out.sort_indices()
    return out


def _group_codes(ds: Dataset, column: str) -> np.ndarray:
    values = ds.items[column]
    if values.isna().all():
        return np.full(ds.n_items, -1, dtype=np.int64)
    codes, _ = pd.factorize(values, use_na_sentinel=True)
    return codes.astype(np.int64)


@dataclass(eq=False)
class _FittedParts:
    """The fitted components and the per-user / per-item tables the features need (dense
    indices of the training Dataset; ``n_periods`` time buckets)."""

    als: Ranker  # ALSRanker
    knn: Ranker  # ItemKNNRanker (cosine)
    knn2: Ranker  # ItemKNNRanker (second similarity)
    rp3: Ranker | None  # RP3BetaRanker, None when rp3beta=False
    trust: Ranker  # TrustRanker
    binary: sp.csr_matrix  # (n_users, n_items) training interactions, 0/1
    popularity: np.ndarray  # (n_items,) distinct users per item
    ease_idx: np.ndarray  # (p,) head items of the EASE component
    ease_B: np.ndarray  # (p, p) EASE weights over the head items
    friends: sp.csr_matrix  # (n_users, n_users) visible friends
    uknn: sp.csr_matrix  # (n_users, n_users) user-kNN neighbours
    category_rate: np.ndarray  # (n_items,) item's share of its category's popularity
    user_period: np.ndarray  # (n_users, n_periods) share of a user's rows per period
    item_period: np.ndarray  # (n_items, n_periods) rows per period
    user_time: np.ndarray  # (n_users,) mean time, in periods
    item_time: np.ndarray  # (n_items,) mean time, in periods
    category: np.ndarray  # (n_items,) category codes, -1 unknown
    merchant: np.ndarray  # (n_items,) merchant codes, -1 unknown
    user_category: sp.csr_matrix | None  # (n_users, n_categories) shares
    user_merchant: sp.csr_matrix | None  # (n_users, n_merchants) shares


@dataclass(eq=False)
class _FeatureBlock:
    """Per-batch building blocks of the features for the users ``uidx`` (see
    :meth:`HybridRanker._blocks`): dense (len(uidx), n_items) float32 score rows, per-user
    maxima and statistics, and the sparse rows kept for retrieval (``*_sp``)."""

    uidx: np.ndarray
    als: np.ndarray
    als_max: np.ndarray
    knn: np.ndarray
    knn_max: np.ndarray
    ease: np.ndarray  # (len(uidx), p) EASE scores over the head items
    knn2: np.ndarray
    knn2_max: np.ndarray
    rp3: np.ndarray | None
    rp3_max: np.ndarray
    rp3_sp: sp.csr_matrix | None
    trust: np.ndarray
    friends: np.ndarray
    uknn: np.ndarray
    uknn_max: np.ndarray
    knn_sp: sp.csr_matrix
    trust_sp: sp.csr_matrix
    uknn_sp: sp.csr_matrix
    n_friends: np.ndarray
    activity: np.ndarray
    user_category: sp.csr_matrix | None
    user_merchant: sp.csr_matrix | None
    user_period: np.ndarray
    user_time: np.ndarray
