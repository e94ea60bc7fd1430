"""Neighbourhoods of the ``hybrid`` ranker: user-kNN (:func:`user_neighbours`), the rows of its
item-item components for a batch of users (:func:`item_rows`), the user-kNN rows
(:func:`user_knn_rows`) and the largest stored entries of sparse score rows (:func:`row_topn`,
which retrieval uses)."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from ._cf import csr_row_topk

__all__ = ["item_rows", "row_topn", "user_knn_rows", "user_neighbours"]


def item_rows(comp: Any, u: np.ndarray) -> sp.csr_matrix:
    """Scores of users ``u`` under a sparse item-item component (item-kNN, RP3beta) as CSR (the
    dense scores' stored entries; indices unsorted, no duplicates: scipy's product never
    repeats a column within a row)."""
    return sp.csr_matrix(comp.cf_[u] @ comp._weights(), dtype=np.float32)


def user_knn_rows(uknn: sp.csr_matrix, binary: sp.csr_matrix, u: np.ndarray) -> sp.csr_matrix:
    """User-kNN scores of users ``u`` as CSR: the similarity-weighted count of each user's
    neighbours (rows of ``uknn``) who have the item (``binary``)."""
    return sp.csr_matrix(uknn[u] @ binary, dtype=np.float32)


def row_topn(
    m: sp.csr_matrix, n: int, drop: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of up to ``n`` largest positive stored entries of each row of ``m`` (no
    duplicates, any index order), leaving out entries where the dense boolean ``drop`` is
    true; ties at the ``n``-th place go to the lower column (:func:`~._cf.csr_row_topk`, the
    kernel's tie-break)."""
    rows = np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr))
    keep = m.data > 0
    if drop is not None and len(keep):
        keep &= ~drop[rows, m.indices]
    kept = csr_row_topk(m, int(n), keep)
    return rows[kept], m.indices[kept].astype(np.int64)


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
        place go to the lower user index: :func:`~._cf.csr_row_topk`, the kernel's
        tie-break).
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
        local = np.repeat(np.arange(e0 - s0, dtype=np.int64), np.diff(S.indptr))
        # no self-similarity, positive similarities only
        kept = csr_row_topk(S, k, (S.indices != s0 + local) & (S.data > 0))
        rows_out.append(s0 + local[kept])
        cols.append(S.indices[kept])
        data.append(S.data[kept])
        s0 = e0
    if not rows_out:
        return sp.csr_matrix((n, n), dtype=np.float32)
    out = sp.csr_matrix(
        (np.concatenate(data), (np.concatenate(rows_out), np.concatenate(cols))),
        shape=(n, n), dtype=np.float32,
    )
    out.sort_indices()
    return out
