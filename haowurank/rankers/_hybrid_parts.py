"""The fitted parts of ``hybrid``: its components and the per-user / per-item tables its features
read, in one typed container (:class:`FittedParts`) built by :func:`build_parts`, plus the
small sparse-array helpers the other ``_hybrid_*`` modules share.

Where the rest of ``hybrid`` lives: :mod:`._hybrid_neighbours` (user-kNN, item-item rows, the
sparse top-n of score rows), :mod:`._hybrid_features` (the feature registry), :mod:`._hybrid_retrieval`
(candidate retrieval), :mod:`._hybrid_model` (the ranking model) and :mod:`._hybrid` (the
ranker that wires them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._arrays import csr_positions
from .._dataset import Dataset
from ._base import arrays_to_csr, csr_to_arrays, topk
from ._hybrid_neighbours import user_neighbours

if TYPE_CHECKING:
    from ._cf import ALSRanker, ItemKNNRanker, RP3BetaRanker
    from ._social import TrustRanker

__all__ = ["FittedParts", "build_parts"]


@dataclass(eq=False)
class FittedParts:
    """The fitted components and the per-user / per-item tables the features need (dense
    indices of the training Dataset; ``n_periods`` time buckets).

    Attributes
    ----------
    als, knn, knn2, rp3, trust
        The fitted components: ALS, item-kNN (binary), item-kNN (second weighting), RP3beta
        (None when ``rp3beta=False``) and the trust ranker.
    binary : csr_matrix of shape (n_users, n_items)
        Training interactions, 0/1.
    popularity : ndarray of shape (n_items,)
        Distinct training users per item.
    ease_idx : ndarray of shape (p,)
        Head items of the EASE component (empty when it is off).
    ease_B : ndarray of shape (p, p)
        EASE weights over the head items.
    friends : csr_matrix of shape (n_users, n_users)
        Followed accounts, blocked ones removed.
    uknn : csr_matrix of shape (n_users, n_users)
        User-kNN neighbours and their similarities.
    category_rate : ndarray of shape (n_items,)
        The item's share of its category's popularity.
    user_period : ndarray of shape (n_users, n_periods)
        Share of each user's rows per period.
    item_period : ndarray of shape (n_items, n_periods)
        Rows per item and period.
    user_time, item_time : ndarray of shapes (n_users,) and (n_items,)
        Mean time, in periods.
    category, merchant : ndarray of shape (n_items,)
        Category and merchant codes, -1 unknown.
    user_category, user_merchant : csr_matrix or None
        Users x groups: share of each user's items per category / merchant (None without
        metadata).
    """

    als: ALSRanker
    knn: ItemKNNRanker
    knn2: ItemKNNRanker
    rp3: RP3BetaRanker | None
    trust: TrustRanker
    binary: sp.csr_matrix
    popularity: np.ndarray
    ease_idx: np.ndarray
    ease_B: np.ndarray
    friends: sp.csr_matrix
    uknn: sp.csr_matrix
    category_rate: np.ndarray
    user_period: np.ndarray
    item_period: np.ndarray
    user_time: np.ndarray
    item_time: np.ndarray
    category: np.ndarray
    merchant: np.ndarray
    user_category: sp.csr_matrix | None
    user_merchant: sp.csr_matrix | None

    @property
    def n_items(self) -> int:
        """Items in the training catalogue."""
        return int(self.binary.shape[1])


def build_parts(
    ds: Dataset, comps: dict, *, ease_items: int, ease_regularization: float, user_knn_k: int,
    n_periods: int,
) -> FittedParts:
    """The tables of ``ds`` around the fitted components ``comps`` (keys ``als``, ``knn``,
    ``knn2``, ``trust`` and optionally ``rp3``).

    Parameters
    ----------
    ds : Dataset
        The data the components were fitted on.
    comps : dict
        Fitted components by key.
    ease_items : int
        EASE over this many most popular items (below 2: no EASE).
    ease_regularization : float
        EASE's ``lambda``.
    user_knn_k : int
        Neighbours per user of user-kNN (0: none).
    n_periods : int
        Equal periods of the training time range (0: no time tables).

    Returns
    -------
    FittedParts
    """
    binary = ds.matrix(weight="binary")
    pop = np.asarray(binary.sum(axis=0)).ravel().astype(np.float32)
    ease_idx, ease_B = head_ease(binary, pop, ease_items, ease_regularization)
    uknn = (user_neighbours(binary, int(user_knn_k)) if user_knn_k
            else sp.csr_matrix((binary.shape[0], binary.shape[0]), dtype=np.float32))
    friends = sp.csr_matrix(ds.social_matrix(weighted=False), dtype=np.float32)
    blocked = ds.block_matrix()
    if blocked.nnz:
        b = sp.csr_matrix(blocked, dtype=np.float32)
        friends = sp.csr_matrix(friends - friends.multiply(b))
        friends.eliminate_zeros()
    cat = group_codes(ds, "category")
    mer = group_codes(ds, "merchant")
    cat_count = np.bincount(cat[cat >= 0], weights=pop[cat >= 0]) if (cat >= 0).any() else (
        np.zeros(0))
    category_rate = np.zeros(len(pop), dtype=np.float32)
    if len(cat_count):
        known = cat >= 0
        category_rate[known] = pop[known] / np.maximum(cat_count[cat[known]], 1.0)
    return FittedParts(
        als=comps["als"], knn=comps["knn"], knn2=comps["knn2"], rp3=comps.get("rp3"),
        trust=comps["trust"], binary=binary,
        popularity=pop, ease_idx=ease_idx, ease_B=ease_B, friends=friends, uknn=uknn,
        category=cat, user_category=share_matrix(binary, cat),
        merchant=mer, user_merchant=share_matrix(binary, mer), category_rate=category_rate,
        **period_tables(ds, n_periods),
    )


def period_tables(ds: Dataset, n_periods: int) -> dict[str, np.ndarray]:
    """Time tables: users' shares and items' counts per period, mean times (in periods);
    empty tables and zero times without timestamps or with ``n_periods=0``."""
    n_u, n_i = ds.n_users, ds.n_items
    p = int(n_periods)
    if not ds.has_timestamps or ds.n_interactions == 0 or p == 0:
        return dict(user_period=np.zeros((n_u, 0), np.float32),
                    item_period=np.zeros((n_i, 0), np.float32),
                    user_time=np.zeros(n_u, np.float32), item_time=np.zeros(n_i, np.float32))
    a = ds.interaction_arrays()
    t = a["timestamp"].astype(np.float64)
    lo, hi = float(t.min()), float(t.max())
    width = (hi - lo) / p if hi > lo else 1.0
    pos = (t - lo) / width  # time in periods
    b = np.minimum(pos.astype(np.int64), p - 1)
    u, i = a["user"].astype(np.int64), a["item"].astype(np.int64)
    up = np.zeros((n_u, p))
    np.add.at(up, (u, b), 1.0)
    up /= np.maximum(up.sum(axis=1, keepdims=True), 1.0)
    ip = np.zeros((n_i, p))
    np.add.at(ip, (i, b), 1.0)
    mean = float(pos.mean())

    def mean_time(idx: np.ndarray, n: int) -> np.ndarray:
        cnt = np.bincount(idx, minlength=n)
        tot = np.bincount(idx, weights=pos, minlength=n)
        return np.where(cnt > 0, tot / np.maximum(cnt, 1), mean).astype(np.float32)

    return dict(user_period=up.astype(np.float32), item_period=ip.astype(np.float32),
                user_time=mean_time(u, n_u), item_time=mean_time(i, n_i))


def head_ease(
    binary: sp.csr_matrix, pop: np.ndarray, ease_items: int, regularization: float
) -> tuple[np.ndarray, np.ndarray]:
    """EASE over the ``ease_items`` most popular items (ties: the lower index): their indices,
    ascending, and the EASE weights among them (empty when fewer than 2 items or no rows)."""
    from ._cf import ease_weights

    p = min(int(ease_items), binary.shape[1])
    if p < 2 or binary.nnz == 0:
        return np.empty(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
    top, _ = topk(np.asarray(pop, dtype=np.float32)[None, :], p)  # ties: the lower index
    idx = np.sort(top[0]).astype(np.int64)
    B = ease_weights(binary[:, idx], float(regularization))
    return idx, B


def share_matrix(binary: sp.csr_matrix, codes: np.ndarray) -> sp.csr_matrix | None:
    """Users x groups: share of each user's items in each group (items with code -1 ignored);
    None when no item has a group."""
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


def group_codes(ds: Dataset, column: str) -> np.ndarray:
    """Integer codes of an item metadata column (-1 where missing; all -1 without it)."""
    values = ds.items[column]
    if values.isna().all():
        return np.full(ds.n_items, -1, dtype=np.int64)
    codes, _ = pd.factorize(values, use_na_sentinel=True)
    return codes.astype(np.int64)


def dense(m: sp.csr_matrix) -> np.ndarray:
    """Dense float32 copy of a CSR matrix (duplicates summed, any index order)."""
    return np.asarray(m.toarray(), dtype=np.float32)


def csr_values(m: sp.csr_matrix, r: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Values of a CSR matrix at (r, c) pairs (0 where nothing is stored), float32."""
    m = sp.csr_matrix(m)
    if not m.has_canonical_format:
        m.sum_duplicates()
    if m.nnz == 0 or len(r) == 0:
        return np.zeros(len(r), dtype=np.float32)
    pos, hit = csr_positions(m, r, c)
    return np.where(hit, m.data[pos], 0).astype(np.float32)


# ------------------------------------------------------------------------------ persistence
#: Dense tables of :class:`FittedParts` saved under ``hy.<name>`` (the artifact's names).
_DENSE_TABLES = ("ease_idx", "ease_B", "category", "merchant")
_DENSE_TABLES_2 = ("category_rate", "popularity", "user_period", "item_period", "user_time",
                   "item_time")


def table_arrays(parts: FittedParts, seen: sp.csr_matrix) -> dict[str, np.ndarray]:
    """The tables of ``parts`` as named arrays of a saved artifact (``hy.<table>``; CSR tables
    as ``hy.<table>.data/.indices/.indptr/...``). ``hy.binary`` is saved only when it differs
    from ``seen`` (the ranker's ``seen_``: a defence removed rows, say)."""
    out: dict[str, np.ndarray] = {f"hy.{name}": getattr(parts, name) for name in _DENSE_TABLES}
    out.update(csr_to_arrays("hy.friends", parts.friends))
    out.update(csr_to_arrays("hy.uknn", parts.uknn))
    out.update({f"hy.{name}": getattr(parts, name) for name in _DENSE_TABLES_2})
    seen = sp.csr_matrix(seen)
    b = parts.binary
    same = (b.shape == seen.shape and b.nnz == seen.nnz
            and np.array_equal(b.indptr, seen.indptr) and np.array_equal(b.indices, seen.indices))
    if not same:
        out.update(csr_to_arrays("hy.binary", b))
    for name in ("user_category", "user_merchant"):
        m = getattr(parts, name)
        if m is not None:
            out.update(csr_to_arrays(f"hy.{name}", m))
    return out


def saved_binary(arrays: dict[str, np.ndarray], seen: sp.csr_matrix) -> sp.csr_matrix:
    """The training interactions the components saw: ``hy.binary`` when saved, else ``seen``."""
    return arrays_to_csr("hy.binary", arrays) if "hy.binary.data" in arrays else seen


def parts_from_arrays(
    comps: dict, binary: sp.csr_matrix, arrays: dict[str, np.ndarray]
) -> FittedParts:
    """:class:`FittedParts` from restored components ``comps`` and the arrays
    :func:`table_arrays` wrote."""

    def optional_csr(name: str) -> sp.csr_matrix | None:
        return arrays_to_csr(f"hy.{name}", arrays) if f"hy.{name}.data" in arrays else None

    return FittedParts(
        als=comps["als"], knn=comps["knn"], knn2=comps["knn2"], rp3=comps.get("rp3"),
        trust=comps["trust"], binary=binary,
        friends=arrays_to_csr("hy.friends", arrays), uknn=arrays_to_csr("hy.uknn", arrays),
        user_category=optional_csr("user_category"), user_merchant=optional_csr("user_merchant"),
        **{name: arrays[f"hy.{name}"] for name in (*_DENSE_TABLES, *_DENSE_TABLES_2)},
    )
