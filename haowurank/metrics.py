"""Top-k ranking metrics, vectorised over users.

Every function works on a **recommendation matrix** ``rec`` of item indices, shape
``(n_users, n)`` (best first, ``-1`` pads short lists), and, for accuracy metrics, a **test
matrix** ``test``: a CSR matrix of shape ``(n_users, n_items)`` whose row ``r`` holds the
relevant items of the user in row ``r`` of ``rec`` (any stored value > 0 counts as relevant;
relevance is binary). Rows of ``rec`` and ``test`` are aligned; nothing loops over users in
Python.

Accuracy (per user, ``k`` is the cutoff)

* ``Recall@k``   = |top-k ∩ relevant| / |relevant|
* ``NDCG@k``     = DCG@k / IDCG@k with binary gains and ``1 / log2(rank + 1)`` discounts
  (rank 1-based); IDCG puts ``min(k, |relevant|)`` hits first.
* ``MAP@k``      = sum over hit ranks r <= k of Precision@r, divided by ``min(k, |relevant|)``.
* ``HitRate@k``  = 1 if any relevant item is in the top k, else 0.

Users with no relevant items get NaN for these (they are not evaluable); the means skip NaN.

Beyond accuracy (over the whole list set)

* ``Coverage@k``: share of the catalogue that appears in at least one top-k list.
* ``Gini@k``: Gini coefficient of item exposure over all ``n_items`` (0 = every item equally
  exposed, ``(n-1)/n`` = one item takes all exposure). Exposure counts appearances, or with
  ``position_weighted=True`` sums ``1 / log2(rank + 1)`` so that rank 1 weighs more.
* ``MerchantGini@k``: the same over merchants (item exposure summed per merchant).
* ``Novelty@k``: mean self-information ``-log2(p_i)`` of the recommended items, where ``p_i`` is
  the share of training users who interacted with item ``i`` (at least one user is assumed so
  an item nobody touched has the highest, finite novelty ``log2(n_train_users)``).

Metric names carry their cutoff ("NDCG@20"), see :func:`metric_name`.

References
----------
.. [1] K. Järvelin and J. Kekäläinen, "Cumulated gain-based evaluation of IR techniques",
   ACM TOIS 20(4), 2002.
.. [2] T. Zhou et al., "Solving the apparent diversity-accuracy dilemma of recommender systems",
   PNAS 107(10), 2010 (novelty as self-information).
.. [3] A. Singh and T. Joachims, "Fairness of exposure in rankings", KDD 2018 (position-weighted
   exposure).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import scipy.sparse as sp

__all__ = [
    "ACCURACY_METRICS",
    "coverage",
    "exposure",
    "exposure_gini",
    "gini",
    "hit_rate_at_k",
    "hits_matrix",
    "map_at_k",
    "merchant_gini",
    "metric_name",
    "ndcg_at_k",
    "novelty",
    "per_user_metrics",
    "recall_at_k",
    "summarize",
]

#: Accuracy metric families computed per user.
ACCURACY_METRICS: tuple[str, ...] = ("Recall", "NDCG", "MAP", "HitRate")


def metric_name(family: str, k: int) -> str:
    """``metric_name("NDCG", 20) == "NDCG@20"``."""
    return f"{family}@{int(k)}"


# ------------------------------------------------------------------------------------------
# input checks
# ------------------------------------------------------------------------------------------

def _check_rec(rec: np.ndarray, n_items: int | None = None) -> np.ndarray:
    rec = np.asarray(rec)
    if rec.ndim != 2:
        raise ValueError(
            f"The 'rec' argument must be a 2-D array of item indices (n_users, n). "
            f"Got an array of shape {rec.shape} instead."
        )
    if rec.size and not np.issubdtype(rec.dtype, np.integer):
        raise TypeError(f"The 'rec' argument must hold integer item indices. Got dtype {rec.dtype}.")
    rec = rec.astype(np.int64, copy=False)
    if rec.size:
        lo = int(rec.min())
        if lo < -1:
            raise ValueError(
                f"The 'rec' argument must hold item indices >= 0 or -1 for padding. Found {lo}."
            )
        if n_items is not None and int(rec.max()) >= n_items:
            raise ValueError(
                f"The 'rec' argument holds item index {int(rec.max())}, outside the catalogue of "
                f"{n_items} items."
            )
    return rec


def _check_k(k: int, n: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"The 'k' parameter must be a positive int. Got {k!r} instead.")
    if k > n:
        raise ValueError(
            f"The 'k' parameter ({k}) is larger than the recommendation lists (length {n}); "
            f"recommend at least k items."
        )
    return int(k)


def _check_test(test: sp.spmatrix, rec: np.ndarray) -> sp.csr_matrix:
    if not sp.issparse(test):
        raise TypeError(
            f"The 'test' argument must be a scipy sparse matrix (n_users, n_items). "
            f"Got {type(test).__name__} instead."
        )
    test = sp.csr_matrix(test)
    if test.shape[0] != rec.shape[0]:
        raise ValueError(
            f"The 'test' matrix has {test.shape[0]} rows but 'rec' has {rec.shape[0]}; "
            f"row r of both must be the same user."
        )
    return test


# ------------------------------------------------------------------------------------------
# the core: which recommended items are relevant
# ------------------------------------------------------------------------------------------

def hits_matrix(rec: np.ndarray, test: sp.spmatrix) -> np.ndarray:
    """Boolean matrix (n_users, n): whether ``rec[u, j]`` is a relevant item of user ``u``.

    Vectorised by encoding (row, item) pairs as one int64 key and a sorted search.
    """
    rec = _check_rec(rec)
    test = _check_test(test, rec)
    n_items = test.shape[1]
    t = _binary(test)
    rows = np.repeat(np.arange(t.shape[0], dtype=np.int64), np.diff(t.indptr))
    keys = rows * n_items + t.indices.astype(np.int64)  # sorted: CSR with sorted indices
    if rec.size == 0 or keys.size == 0:
        return np.zeros(rec.shape, dtype=bool)
    qrows = np.arange(rec.shape[0], dtype=np.int64)[:, None]
    q = qrows * n_items + np.where(rec >= 0, rec, 0)
    pos = np.searchsorted(keys, q.ravel()).reshape(rec.shape)
    pos = np.minimum(pos, keys.size - 1)
    return (keys[pos] == q) & (rec >= 0)


def _binary(test: sp.csr_matrix) -> sp.csr_matrix:
    """Relevance as a 0/1 CSR with sorted indices (stored values <= 0 are not relevant)."""
    t = sp.csr_matrix(test, copy=True)
    t.data = (t.data > 0).astype(np.int8)
    t.eliminate_zeros()
    t.sort_indices()
    return t


def _n_relevant(test: sp.csr_matrix) -> np.ndarray:
    return np.diff(_binary(test).indptr)


def _discounts(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))


def _per_user(rec, test, k, hits=None):
    rec = _check_rec(rec)
    test = _check_test(test, rec)
    k = _check_k(k, rec.shape[1])
    if hits is None:
        hits = hits_matrix(rec, test)
    n_rel = _n_relevant(test).astype(np.float64)
    return hits[:, :k], n_rel, k


def _nan_where_empty(values: np.ndarray, n_rel: np.ndarray) -> np.ndarray:
    out = values.astype(np.float64)
    out[n_rel == 0] = np.nan
    return out


def recall_at_k(rec: np.ndarray, test: sp.spmatrix, k: int, *, hits=None) -> np.ndarray:
    """Per-user Recall@k, ndarray of shape (n_users,) (NaN for users with no relevant item)."""
    h, n_rel, _ = _per_user(rec, test, k, hits)
    with np.errstate(invalid="ignore", divide="ignore"):
        return _nan_where_empty(h.sum(axis=1) / n_rel, n_rel)


def ndcg_at_k(rec: np.ndarray, test: sp.spmatrix, k: int, *, hits=None) -> np.ndarray:
    """Per-user NDCG@k with binary gains, ndarray of shape (n_users,)."""
    h, n_rel, k = _per_user(rec, test, k, hits)
    disc = _discounts(k)
    dcg = h.astype(np.float64) @ disc
    ideal = np.concatenate([[0.0], np.cumsum(disc)])[np.minimum(n_rel, k).astype(np.int64)]
    with np.errstate(invalid="ignore", divide="ignore"):
        return _nan_where_empty(dcg / ideal, n_rel)


def map_at_k(rec: np.ndarray, test: sp.spmatrix, k: int, *, hits=None) -> np.ndarray:
    """Per-user average precision at k (the mean over users is MAP@k)."""
    h, n_rel, k = _per_user(rec, test, k, hits)
    hf = h.astype(np.float64)
    prec = np.cumsum(hf, axis=1) / np.arange(1, k + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return _nan_where_empty((prec * hf).sum(axis=1) / np.minimum(n_rel, k), n_rel)


def hit_rate_at_k(rec: np.ndarray, test: sp.spmatrix, k: int, *, hits=None) -> np.ndarray:
    """Per-user HitRate@k: 1.0 if any of the top k is relevant, else 0.0 (NaN if none relevant)."""
    h, n_rel, _ = _per_user(rec, test, k, hits)
    return _nan_where_empty(h.any(axis=1), n_rel)


_FUNCS = {"Recall": recall_at_k, "NDCG": ndcg_at_k, "MAP": map_at_k, "HitRate": hit_rate_at_k}


def per_user_metrics(
    rec: np.ndarray,
    test: sp.spmatrix,
    k: int | Iterable[int] = (10, 20),
    metrics: Sequence[str] = ACCURACY_METRICS,
) -> dict[str, np.ndarray]:
    """Per-user accuracy arrays for every metric family and cutoff, e.g. ``{"NDCG@20": ...}``."""
    ks = [k] if isinstance(k, int | np.integer) else list(k)
    bad = [m for m in metrics if m not in _FUNCS]
    if bad:
        raise ValueError(f"The 'metrics' parameter must be among {list(_FUNCS)}. Got {bad}.")
    rec = _check_rec(rec)
    hits = hits_matrix(rec, test)
    out: dict[str, np.ndarray] = {}
    for m in metrics:
        for kk in ks:
            out[metric_name(m, kk)] = _FUNCS[m](rec, test, kk, hits=hits)
    return out


# ------------------------------------------------------------------------------------------
# beyond accuracy
# ------------------------------------------------------------------------------------------

def exposure(
    rec: np.ndarray, n_items: int, k: int | None = None, *, position_weighted: bool = False
) -> np.ndarray:
    """Exposure of every item in the top ``k`` of all lists, float64 of shape (n_items,).

    Counts appearances, or with ``position_weighted`` sums ``1 / log2(rank + 1)``.
    """
    rec = _check_rec(rec, n_items)
    k = rec.shape[1] if k is None else _check_k(k, rec.shape[1])
    top = rec[:, :k]
    w = np.broadcast_to(_discounts(k) if position_weighted else np.ones(k), top.shape)
    valid = top >= 0
    return np.bincount(top[valid], weights=w[valid], minlength=n_items).astype(np.float64)


def gini(values: np.ndarray) -> float:
    """Gini coefficient of non-negative values: 0 when all equal, (n-1)/n when one holds all.

    Returns NaN for an empty array and 0.0 when every value is zero (nothing to be unequal about).
    """
    x = np.sort(np.asarray(values, dtype=np.float64).ravel())
    n = x.size
    if n == 0:
        return float("nan")
    if (x < 0).any() or not np.isfinite(x).all():
        raise ValueError("gini needs finite, non-negative values.")
    total = x.sum()
    if total == 0:
        return 0.0
    i = np.arange(1, n + 1, dtype=np.float64)
    return float(((2 * i - n - 1) * x).sum() / (n * total))


def coverage(rec: np.ndarray, n_items: int, k: int | None = None) -> float:
    """Share of the ``n_items`` catalogue that appears in at least one top-``k`` list."""
    if isinstance(n_items, bool) or not isinstance(n_items, int | np.integer) or n_items < 1:
        raise ValueError(f"The 'n_items' parameter must be a positive int. Got {n_items!r} instead.")
    e = exposure(rec, n_items, k)
    return float((e > 0).sum() / n_items)


def exposure_gini(
    rec: np.ndarray, n_items: int, k: int | None = None, *, position_weighted: bool = False
) -> float:
    """Gini of item exposure over the whole catalogue (items never shown count as 0)."""
    return gini(exposure(rec, n_items, k, position_weighted=position_weighted))


def merchant_gini(
    rec: np.ndarray,
    item_merchant: np.ndarray,
    k: int | None = None,
    *,
    position_weighted: bool = False,
) -> float:
    """Gini of exposure summed per merchant.

    Parameters
    ----------
    item_merchant : ndarray of int, shape (n_items,)
        Merchant code of every item, ``-1`` where unknown (those items are left out). Every
        merchant code present counts, including merchants that got no exposure.
    """
    codes = np.asarray(item_merchant)
    if codes.ndim != 1 or not np.issubdtype(codes.dtype, np.integer):
        raise TypeError("The 'item_merchant' argument must be a 1-D int array of merchant codes.")
    e = exposure(rec, len(codes), k, position_weighted=position_weighted)
    known = codes >= 0
    if not known.any():
        return float("nan")
    per = np.bincount(codes[known], weights=e[known])
    present = np.bincount(codes[known]) > 0
    return gini(per[present])


def novelty(
    rec: np.ndarray, item_users: np.ndarray, n_train_users: int, k: int | None = None
) -> np.ndarray:
    """Per-user novelty: mean self-information ``-log2(p_i)`` over the top-``k`` items.

    Parameters
    ----------
    item_users : ndarray of shape (n_items,)
        Number of training users who interacted with each item (clipped below at 1).
    n_train_users : int
        Number of training users.

    Returns
    -------
    ndarray of shape (n_users,)
        NaN for an empty list.
    """
    pop = np.asarray(item_users, dtype=np.float64)
    rec = _check_rec(rec, len(pop))
    k = rec.shape[1] if k is None else _check_k(k, rec.shape[1])
    if n_train_users < 1:
        raise ValueError(f"The 'n_train_users' parameter must be >= 1. Got {n_train_users!r}.")
    info = -np.log2(np.clip(pop, 1.0, None) / float(n_train_users))
    top = rec[:, :k]
    valid = top >= 0
    vals = np.where(valid, info[np.where(valid, top, 0)], 0.0)
    cnt = valid.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = vals.sum(axis=1) / cnt
    out[cnt == 0] = np.nan
    return out


def summarize(
    rec: np.ndarray,
    test: sp.spmatrix,
    k: int | Iterable[int] = (10, 20),
    *,
    item_users: np.ndarray | None = None,
    n_train_users: int | None = None,
    item_merchant: np.ndarray | None = None,
    position_weighted: bool = False,
) -> dict[str, float]:
    """Mean accuracy metrics plus coverage, exposure Gini, merchant Gini and novelty.

    Means are over users with at least one relevant item. Beyond-accuracy metrics are computed
    over every row of ``rec``. Novelty needs ``item_users`` and ``n_train_users``; merchant Gini
    needs ``item_merchant``; each is left out when its input is missing.
    """
    ks = [k] if isinstance(k, int | np.integer) else list(k)
    rec = _check_rec(rec, test.shape[1])
    per = per_user_metrics(rec, test, ks)
    out: dict[str, float] = {}
    for name, arr in per.items():
        out[name] = float(np.nanmean(arr)) if np.isfinite(arr).any() else float("nan")
    n_items = test.shape[1]
    for kk in ks:
        out[metric_name("Coverage", kk)] = coverage(rec, n_items, kk)
        out[metric_name("Gini", kk)] = exposure_gini(
            rec, n_items, kk, position_weighted=position_weighted
        )
        if item_merchant is not None:
            out[metric_name("MerchantGini", kk)] = merchant_gini(
                rec, item_merchant, kk, position_weighted=position_weighted
            )
        if item_users is not None and n_train_users:
            nov = novelty(rec, item_users, n_train_users, kk)
            out[metric_name("Novelty", kk)] = (
                float(np.nanmean(nov)) if np.isfinite(nov).any() else float("nan")
            )
    return out
