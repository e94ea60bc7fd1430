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
from .._arrays import isin_sorted as _in_sorted
from .._arrays import unique_sorted as _unique_sorted
from .._dataset import KINDS, Dataset
from ._base import arrays_to_csr, csr_to_arrays, topk
from ._cf import csr_row_topk
from ._hybrid_neighbours import user_neighbours
from ._implicit import replace_rows

if TYPE_CHECKING:
    from ._cf import ALSRanker, ItemKNNRanker, RP3BetaRanker
    from ._social import TrustRanker

__all__ = ["FittedParts", "build_parts", "fold_in_own_history", "own_neighbours",
           "withheld_rows"]


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
        Training interactions, 0/1: each user's own rows (its seen items, activity, the rows
        EASE scores from; a defence's own view, :func:`haowurank.trust.defended_views`).
    popularity : ndarray of shape (n_items,)
        Distinct training users per item (shared data).
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
    pool : csr_matrix of shape (n_users, n_items) or None
        The shared training interactions, 0/1, that user-kNN reads its neighbours' items from,
        when they differ from ``binary`` (a defence withheld rows of some accounts from
        everyone else); None: ``binary``. :attr:`neighbour_rows` is the one to read.
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
    pool: sp.csr_matrix | None = None

    @property
    def n_items(self) -> int:
        """Items in the training catalogue."""
        return int(self.binary.shape[1])

    @property
    def neighbour_rows(self) -> sp.csr_matrix:
        """The 0/1 rows user-kNN reads a neighbour's items from: the shared data (``pool``),
        never a row a defence withheld from everyone but its own account."""
        return self.binary if self.pool is None else self.pool


def build_parts(
    ds: Dataset, comps: dict, *, ease_items: int, ease_regularization: float, user_knn_k: int,
    n_periods: int, own: Dataset | None = None,
) -> FittedParts:
    """The tables of ``ds`` around the fitted components ``comps`` (keys ``als``, ``knn``,
    ``knn2``, ``trust`` and optionally ``rp3``).

    Parameters
    ----------
    ds : Dataset
        The data the components were fitted on (the shared data).
    own : Dataset, optional
        Each account's own view (:func:`haowurank.trust.defended_views`: the vocabularies of
        ``ds`` and more rows for some accounts). The user-side tables of the accounts with more
        rows there (their ``binary`` rows, category, merchant and period shares, mean time,
        their own user-kNN neighbours) come from it; everything another user's scores read
        (popularity, EASE weights, item tables, every other user's neighbours, the neighbour
        rows ``pool``) from ``ds``. None: ``ds`` for everything.
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
    shared = ds.matrix(weight="binary")
    pop = np.asarray(shared.sum(axis=0)).ravel().astype(np.float32)
    ease_idx, ease_B = head_ease(shared, pop, ease_items, ease_regularization)
    uknn = (user_neighbours(shared, int(user_knn_k)) if user_knn_k
            else sp.csr_matrix((shared.shape[0], shared.shape[0]), dtype=np.float32))
    binary, pool = shared, None
    changed = own_users(ds, own)
    if len(changed):
        binary = replace_rows(shared, changed, own.matrix(weight="binary")[changed])
        binary.data[:] = 1.0
        pool = shared
        if user_knn_k:
            uknn = replace_rows(uknn, changed, own_neighbours(binary[changed], changed, shared,
                                                              int(user_knn_k)))
            uknn.sort_indices()
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
    tables = period_tables(ds, n_periods)
    user_category, user_merchant = share_matrix(shared, cat), share_matrix(shared, mer)
    if len(changed):
        own_tables = period_tables(ds, n_periods, users_of=own)
        for name in ("user_period", "user_time"):
            tables[name][changed] = own_tables[name][changed]
        own_rows = binary[changed]
        if user_category is not None:
            user_category = replace_rows(user_category, changed, share_matrix(own_rows, cat))
        if user_merchant is not None:
            user_merchant = replace_rows(user_merchant, changed, share_matrix(own_rows, mer))
    return FittedParts(
        als=comps["als"], knn=comps["knn"], knn2=comps["knn2"], rp3=comps.get("rp3"),
        trust=comps["trust"], binary=binary,
        popularity=pop, ease_idx=ease_idx, ease_B=ease_B, friends=friends, uknn=uknn,
        category=cat, user_category=user_category,
        merchant=mer, user_merchant=user_merchant, category_rate=category_rate,
        pool=pool, **tables,
    )


# ------------------------------------------------------------------------------ own history
def own_users(ds: Dataset, own: Dataset | None) -> np.ndarray:
    """Indices (ascending) of the accounts with rows in ``own`` that the shared data ``ds``
    lacks (empty when ``own`` is None or ``ds`` itself)."""
    if own is None or own is ds:
        return np.empty(0, dtype=np.int64)
    rows = withheld_mask(own, ds)
    return np.unique(own.interaction_arrays()["user"][rows]).astype(np.int64)


def withheld_mask(own: Dataset, ds: Dataset) -> np.ndarray:
    """Rows of ``own`` (bool, shape (own.n_interactions,)) whose (user, item, kind) is not in
    ``ds`` (same vocabularies)."""
    def keys(d: Dataset) -> np.ndarray:
        a = d.interaction_arrays()
        return ((a["user"].astype(np.int64) * max(d.n_items, 1) + a["item"]) * len(KINDS)
                + a["kind"])

    return ~_in_sorted(keys(own), _unique_sorted(keys(ds)))


def withheld_rows(own: Dataset, ds: Dataset) -> pd.DataFrame:
    """The rows of ``own`` that the shared data ``ds`` lacks, with caller ids (columns
    ``user``, ``item``, ``kind``, ``weight``, ``visibility`` and ``timestamp`` when present):
    what :meth:`~haowurank.rankers.CFRanker.partial_fit_users` folds into their accounts."""
    if own is ds:
        return own.interactions.iloc[:0]
    frame = own.interactions[withheld_mask(own, ds)].reset_index(drop=True)
    return frame[[c for c in ("user", "item", "kind", "weight", "visibility", "timestamp")
                  if c in frame]]


def fold_in_own_history(comps: dict, own: Dataset | None, ds: Dataset) -> int:
    """Fold the rows ``own`` has beyond the shared data ``ds`` into the user side of the CF
    components in ``comps`` (``als``, ``knn``, ``knn2``, ``rp3``: user factors re-solved with
    item factors fixed, item-item rows replaced with similarities kept; their item side and
    every other user's state unchanged). Returns the number of rows folded in."""
    if own is None or own is ds:
        return 0
    rows = withheld_rows(own, ds)
    if len(rows):
        for key in ("als", "knn", "knn2", "rp3"):
            if comps.get(key) is not None:
                comps[key].partial_fit_users(rows)
    return int(len(rows))


def own_neighbours(
    rows: sp.csr_matrix, users: np.ndarray, pool: sp.csr_matrix, k: int, *, chunk: int = 512
) -> sp.csr_matrix:
    """User-kNN rows of ``users`` from their own item sets ``rows`` (shape (len(users),
    n_items)) against the neighbour pool ``pool`` (every user's shared rows): cosine of item
    sets, the ``k`` most similar other users (never the user itself), ties at the k-th place
    to the lower user index, as :func:`~._hybrid_neighbours.user_neighbours`.

    Returns
    -------
    csr_matrix of shape (len(users), n_users), float32
    """
    def normalised(m: sp.csr_matrix) -> sp.csr_matrix:
        x = sp.csr_matrix(m, dtype=np.float32)
        x.data[:] = 1.0
        norms = np.sqrt(np.diff(x.indptr)).astype(np.float32)
        return sp.csr_matrix(sp.diags(1.0 / np.where(norms > 0, norms, 1.0)) @ x,
                             dtype=np.float32)

    n = pool.shape[0]
    users = np.asarray(users, dtype=np.int64)
    k = min(int(k), max(n - 1, 0))
    XT = sp.csr_matrix(normalised(pool).T)
    Q = normalised(rows)
    data, cols, out_rows = [], [], []
    for s0 in range(0, len(users), chunk):
        S = sp.csr_matrix(Q[s0 : s0 + chunk] @ XT)
        local = np.repeat(np.arange(S.shape[0], dtype=np.int64), np.diff(S.indptr))
        if k > 0 and S.nnz:
            kept = csr_row_topk(S, k, (S.indices != users[s0 + local]) & (S.data > 0))
            out_rows.append(s0 + local[kept])
            cols.append(S.indices[kept])
            data.append(S.data[kept])
    if not out_rows:
        return sp.csr_matrix((len(users), n), dtype=np.float32)
    out = sp.csr_matrix((np.concatenate(data), (np.concatenate(out_rows), np.concatenate(cols))),
                        shape=(len(users), n), dtype=np.float32)
    out.sort_indices()
    return out


def period_tables(ds: Dataset, n_periods: int, *, users_of: Dataset | None = None
                  ) -> dict[str, np.ndarray]:
    """Time tables: users' shares and items' counts per period, mean times (in periods);
    empty tables and zero times without timestamps or with ``n_periods=0``. With ``users_of``
    (an own view of ``ds``: same vocabularies), the user tables count its rows, in the periods
    of ``ds``'s time range (rows outside it fall in the first or last period)."""
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
    ip = np.zeros((n_i, p))
    np.add.at(ip, (i, b), 1.0)
    mean = float(pos.mean())

    def mean_time(idx: np.ndarray, at: np.ndarray, n: int) -> np.ndarray:
        cnt = np.bincount(idx, minlength=n)
        tot = np.bincount(idx, weights=at, minlength=n)
        return np.where(cnt > 0, tot / np.maximum(cnt, 1), mean).astype(np.float32)

    item_time = mean_time(i, pos, n_i)
    if users_of is not None and users_of.has_timestamps:
        ua = users_of.interaction_arrays()
        pos = (ua["timestamp"].astype(np.float64) - lo) / width
        b = np.clip(np.floor(pos).astype(np.int64), 0, p - 1)
        u = ua["user"].astype(np.int64)
    up = np.zeros((n_u, p))
    np.add.at(up, (u, b), 1.0)
    up /= np.maximum(up.sum(axis=1, keepdims=True), 1.0)
    return dict(user_period=up.astype(np.float32), item_period=ip.astype(np.float32),
                user_time=mean_time(u, pos, n_u), item_time=item_time)


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
    # C order, as a loaded ranker has it: scipy's sparse-times-dense product of serving copies
    # any other layout into C order on every call
    return idx, np.ascontiguousarray(B)


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
    from ``seen`` (the ranker's ``seen_``: a defence removed rows, say), ``hy.pool`` only when
    there is one."""
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
    if parts.pool is not None:
        out.update(csr_to_arrays("hy.pool", parts.pool))
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
        pool=optional_csr("pool"),
        **{name: arrays[f"hy.{name}"] for name in (*_DENSE_TABLES, *_DENSE_TABLES_2)},
    )
