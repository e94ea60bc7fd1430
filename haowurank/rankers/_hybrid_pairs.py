"""Two-stage serving of ``hybrid`` without the dense feature block of the whole batch.

Small batches (:func:`small_batch` users, what the two-stage path batches by; a single-user
request above all) take :func:`_small_block`: each source is a scratch row per user, gathered
with numpy from the stored rows (up to :data:`GATHER_USERS` users; scipy's product above), ALS
its score rows, trust and visible friends read from :func:`social_rows` (computed once per fit).
Larger batches (the two-stage ``recommend`` of many users) take the sparse block below.

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

Pair scores (:meth:`~._hybrid.HybridRanker.score_pairs_at`, what the feed reads) of more than
:func:`small_batch` users take :func:`pair_sources`: each item-item and user-kNN source read at
the requested pairs only (:class:`ProductPairs`, equal to the products' entries bit for bit),
the per-user maxima computed once per fitted parts (:func:`user_maxima`), and the scores kept
per fitted parts (:func:`pair_memo`, a :class:`~._memo.PairMemo`).

Cost per user: the stored entries of its sparse rows, ALS's top-k over the catalogue (implicit's
C++ kernel) and ``O(candidates x features)`` for the features.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from .._arrays import csr_positions, sorted_rows
from ._cf import csr_row_topk
from ._hybrid_features import FEATURES, FeatureBlock, PairInputs
from ._hybrid_neighbours import item_rows, user_knn_rows
from ._hybrid_parts import FittedParts, csr_values, dense
from ._hybrid_retrieval import popular_items
from ._memo import PairMemo

__all__ = [
    "FactorRows", "PairBlock", "ProductPairs", "SocialRows", "SparsePairInputs",
    "pair_block", "pair_memo", "pair_sources", "ranked_features", "retrieve_pairs",
    "small_batch", "social_rows", "user_maxima",
]


@dataclass(frozen=True, eq=False)
class FactorRows:
    """ALS scores of a batch as factors: the score of (row ``r``, item ``c``) is
    ``user[r] . item[c]``."""

    user: np.ndarray
    item: np.ndarray

    def at(self, r: np.ndarray, c: np.ndarray) -> np.ndarray:
        """Scores of the pairs; pairs sorted by row (retrieval's order) take one
        matrix-vector product per row over that row's items."""
        if not len(r):
            return np.zeros(0, dtype=np.float32)
        r = np.asarray(r)
        if len(r) > 1 and np.any(r[1:] < r[:-1]):
            return np.einsum("ij,ij->i", self.user[r], self.item[c]).astype(np.float32)
        out = np.empty(len(r), dtype=np.float32)
        starts = np.flatnonzero(np.r_[True, r[1:] != r[:-1]])
        ends = np.r_[starts[1:], len(r)]
        for a, e in zip(starts.tolist(), ends.tolist()):
            out[a:e] = self.item[c[a:e]] @ self.user[r[a]]
        return out


@dataclass(frozen=True, eq=False)
class PairBlock:
    """The feature sources of a batch of users ``uidx`` in sparse form (built by
    :func:`pair_block`); the attribute names are :class:`~._hybrid_features.FeatureBlock`'s.

    Attributes
    ----------
    uidx : ndarray of shape (b,)
    als : FactorRows or ndarray of shape (b, n_items)
        ALS scores: factors (large batches) or the dense score rows (small batches).
    knn, knn2, uknn, trust, friends : csr_matrix or ndarray of shape (b, n_items), float32
        Item-kNN (both), user-kNN, trust (clipped at 0) and visible-friend counts: stored
        entries (large batches) or dense rows (at most :func:`small_batch` users).
    rp3 : csr_matrix or ndarray of shape (b, n_items), or None
    ease : ndarray of shape (b, p)
    als_top : ndarray of shape (b, k), or bool ndarray of shape (b, n_items)
        ALS's top-k unseen items, for retrieval: best first (-1 pads), or in small-batch
        blocks a mask of those items (the set only).
    als_max, knn_max, knn2_max, rp3_max, uknn_max, n_friends, activity, user_time
        Per-user statistics, as in :class:`~._hybrid_features.FeatureBlock`.
    user_category, user_merchant, user_period
        As in :class:`~._hybrid_features.FeatureBlock` (the group shares dense for small
        batches).
    seen : csr_matrix or ndarray of shape (b, n_items)
        The users' training items (canonical CSR, or a dense boolean block for small batches).
    """

    uidx: np.ndarray
    als: FactorRows | np.ndarray
    als_top: np.ndarray
    als_max: np.ndarray
    knn: sp.csr_matrix | np.ndarray
    knn_max: np.ndarray
    knn2: sp.csr_matrix | np.ndarray
    knn2_max: np.ndarray
    rp3: sp.csr_matrix | np.ndarray | None
    rp3_max: np.ndarray
    ease: np.ndarray
    trust: sp.csr_matrix | np.ndarray
    friends: sp.csr_matrix | np.ndarray
    uknn: sp.csr_matrix | np.ndarray
    uknn_max: np.ndarray
    n_friends: np.ndarray
    activity: np.ndarray
    user_category: sp.csr_matrix | np.ndarray | None
    user_merchant: sp.csr_matrix | np.ndarray | None
    user_period: np.ndarray
    user_time: np.ndarray
    seen: sp.csr_matrix | np.ndarray


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


#: The most users :func:`pair_block` serves through dense rows (:func:`small_batch`).
SMALL_BATCH = 64
#: Cells (users x items) per source of a small-batch block at most (:func:`small_batch`): a
#: block's scratch rows stay a few MB each, which the allocator keeps for the next block
#: instead of returning them to the OS and page-faulting them in again.
SMALL_CELLS = 1_000_000
#: Small batches of at most this many users gather the item-item and user-kNN rows with
#: numpy; larger ones take scipy's product.
GATHER_USERS = 16


def small_batch(n_items: int) -> int:
    """The most users :func:`pair_block` serves through dense rows (a scratch block per
    source, at most :data:`SMALL_BATCH` users and :data:`SMALL_CELLS` cells): what the
    two-stage path of ``hybrid`` batches its users by."""
    return int(max(1, min(SMALL_BATCH, SMALL_CELLS // max(n_items, 1))))


@dataclass(frozen=True, eq=False)
class SocialRows:
    """Every user's trust row (clipped at 0) and visible-friend counts, as canonical float32
    CSR of shape (n_users, n_items): the trust ranker's :meth:`_candidates` and the visibility
    graph's counts, computed once per fitted parts (:func:`social_rows`) instead of one walk
    over the social graph per request."""

    trust: sp.csr_matrix
    friends: sp.csr_matrix


_SOCIAL: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _trust_rows(parts: FittedParts, u: np.ndarray) -> sp.csr_matrix:
    tr = sp.csr_matrix(parts.trust._candidates(u), dtype=np.float32)
    tr.data = np.maximum(tr.data, 0)
    return _canonical(tr)


def social_rows(parts: FittedParts, batch: int = 1024) -> SocialRows:
    """The :class:`SocialRows` of ``parts``, computed on first use (in batches of ``batch``
    users) and kept while ``parts`` lives. ``parts`` is never modified after the fit, so the
    rows equal what the trust ranker and the visibility graph give for any batch."""
    got = _SOCIAL.get(parts)
    if got is None:
        n_users = parts.binary.shape[0]
        tr, fr = [], []
        for s0 in range(0, n_users, batch):
            u = np.arange(s0, min(n_users, s0 + batch), dtype=np.int64)
            tr.append(_trust_rows(parts, u))
            fr.append(_canonical(parts.trust.graph_.visible(u).counts()))
        if n_users:
            got = SocialRows(_canonical(sp.vstack(tr, format="csr")),
                             _canonical(sp.vstack(fr, format="csr")))
        else:
            empty = sp.csr_matrix((0, parts.n_items), dtype=np.float32)
            got = SocialRows(empty, empty)
        _SOCIAL[parts] = got
    return got


def _ranges(starts: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """The positions ``starts[j] + 0 .. lens[j] - 1`` of every segment ``j``, concatenated."""
    lens = np.asarray(lens, dtype=np.int64)
    total = int(lens.sum())
    if not total:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(lens)
    return np.repeat(np.asarray(starts, dtype=np.int64) - ends + lens, lens) + np.arange(total)


def _dense_rows(m: sp.csr_matrix, u: np.ndarray) -> np.ndarray:
    """Rows ``u`` of a CSR matrix as a dense float32 block, from its arrays."""
    out = np.zeros((len(u), m.shape[1]), dtype=np.float32)
    lens = m.indptr[u + 1] - m.indptr[u]
    pos = _ranges(m.indptr[u], lens)
    if len(pos):
        out[np.repeat(np.arange(len(u)), lens), m.indices[pos]] = m.data[pos]
    return out


def _gather_product(A: sp.csr_matrix, u: np.ndarray, W: sp.csr_matrix) -> np.ndarray:
    """Dense rows ``(A[u] @ W)`` (float32, shape (len(u), W.shape[1])) by numpy: every stored
    entry ``(u, i, a)`` of ``A``'s rows adds ``a * W[i]``, summed in float64 (what a
    single-user request needs without scipy's per-call overhead)."""
    b, n = len(u), W.shape[1]
    lens = A.indptr[u + 1] - A.indptr[u]
    ent = _ranges(A.indptr[u], lens)
    if not len(ent) or not W.nnz:
        return np.zeros((b, n), dtype=np.float32)
    items = A.indices[ent]
    wl = (W.indptr[items + 1] - W.indptr[items]).astype(np.int64)
    pos = _ranges(W.indptr[items], wl)
    row = np.repeat(np.arange(b, dtype=np.int64) * n, lens)
    key = np.repeat(row, wl) + W.indices[pos]
    val = np.repeat(np.asarray(A.data[ent], dtype=np.float64), wl) * W.data[pos]
    return np.bincount(key, weights=val, minlength=b * n).reshape(b, n).astype(np.float32)


def _dense_max(m: np.ndarray) -> np.ndarray:
    """Per-row maximum clipped at 0, then 1 where 0 (as :func:`_row_max`), of dense rows."""
    mx = np.maximum(m.max(axis=1), 0) if m.shape[1] else np.zeros(len(m), dtype=np.float32)
    return np.where(mx > 0, mx, 1.0).astype(np.float32)


def _small_block(parts: FittedParts, u: np.ndarray, k: int) -> PairBlock:
    """:func:`pair_block` for at most :func:`small_batch` users: each source a dense row
    gathered with numpy from the stored rows (item-item and user-kNN products as gathers of
    the weight rows, trust and friends from :func:`social_rows`), ALS as its dense score rows
    (``als._score``, the dense path's values) with the top ``k`` unseen items taken from them
    (ties to the lower item, as implicit's kernel orders them)."""
    b, n_items = len(u), parts.n_items
    seen = _dense_rows(parts.binary, u) > 0
    sa = np.asarray(parts.als._score(u), dtype=np.float32)
    top = np.zeros((b, n_items), dtype=bool)  # ALS's top k unseen items, as a mask
    if n_items:
        empty = parts.als._empty_users(u)
        ok = np.flatnonzero(~empty)
        if len(ok) == b:
            top = _top_mask(sa, ~seen, k)
        elif len(ok):
            top[ok] = _top_mask(sa[ok], ~seen[ok], k)
        if empty.any():  # the popularity fallback, as implicit's path gives it
            e = np.flatnonzero(empty)
            t, _ = parts.als._recommend_idx(u[e], k, True, None)
            rows = np.broadcast_to(e[:, None], t.shape)
            top[rows[t >= 0], t[t >= 0]] = True
    als_max = sa.max(axis=1) if n_items else np.zeros(b, dtype=np.float32)

    gather = b <= GATHER_USERS  # else scipy's product (its per-call cost is amortised)

    def product(comp) -> np.ndarray:
        w = comp._weights()
        if gather and sp.issparse(w):
            return _gather_product(comp.cf_, u, sp.csr_matrix(w))
        return dense(item_rows(comp, u))

    kp, kp2 = product(parts.knn), product(parts.knn2)
    rp = None if parts.rp3 is None else product(parts.rp3)
    ease = _head_ease(parts, u)
    social = social_rows(parts)
    uk = (_gather_product(parts.uknn, u, parts.neighbour_rows) if gather
          else dense(user_knn_rows(parts.uknn, parts.neighbour_rows, u)))
    ones = np.ones(b, dtype=np.float32)
    return PairBlock(
        uidx=u, als=sa, als_top=top, als_max=als_max,
        knn=kp, knn_max=_dense_max(kp), knn2=kp2, knn2_max=_dense_max(kp2),
        rp3=rp, rp3_max=ones if rp is None else _dense_max(rp), ease=ease,
        trust=_dense_rows(social.trust, u), friends=_dense_rows(social.friends, u),
        uknn=uk, uknn_max=_dense_max(uk),
        n_friends=np.maximum(np.diff(parts.friends.indptr)[u], 1).astype(np.float32),
        activity=np.log1p(np.diff(parts.binary.indptr)[u]).astype(np.float32),
        user_category=None if parts.user_category is None
        else _dense_rows(parts.user_category, u),
        user_merchant=None if parts.user_merchant is None
        else _dense_rows(parts.user_merchant, u),
        user_period=parts.user_period[u], user_time=parts.user_time[u], seen=seen,
    )


def _head_ease(parts: FittedParts, u: np.ndarray) -> np.ndarray:
    """EASE scores of users ``u`` over the head items (float32, shape (len(u), len(ease_idx)))."""
    if len(parts.ease_idx):
        return np.asarray(parts.binary[u][:, parts.ease_idx] @ parts.ease_B, dtype=np.float32)
    return np.zeros((len(u), 0), dtype=np.float32)


def _sparse_user_fields(parts: FittedParts, u: np.ndarray) -> dict:
    """The :class:`PairBlock` fields the two sparse layouts (:func:`pair_block`'s large batches
    and :func:`pair_sources`) take alike: EASE, trust and friends, per-user statistics."""
    social = social_rows(parts)
    return dict(
        uidx=u, ease=_head_ease(parts, u),
        trust=_canonical(social.trust[u]), friends=_canonical(social.friends[u]),
        n_friends=np.maximum(np.diff(parts.friends.indptr)[u], 1).astype(np.float32),
        activity=np.log1p(np.diff(parts.binary.indptr)[u]).astype(np.float32),
        user_category=None if parts.user_category is None else parts.user_category[u],
        user_merchant=None if parts.user_merchant is None else parts.user_merchant[u],
        user_period=parts.user_period[u], user_time=parts.user_time[u],
        seen=_canonical(parts.binary[u]),
    )


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
    if len(u) <= small_batch(parts.n_items):
        return _small_block(parts, u, k)
    U, V = parts.als.latent_factors()
    f = FactorRows(np.asarray(U[u], dtype=np.float32), np.asarray(V, dtype=np.float32))
    if parts.n_items:
        top, _ = parts.als._recommend_idx(u, k, True, None)
    else:
        top = np.full((len(u), 1), -1, dtype=np.int64)
    # products' rows sorted by transposes, not by sum_duplicates' comparison sort of each row
    kp = _canonical(sorted_rows(item_rows(parts.knn, u)))
    kp2 = _canonical(sorted_rows(item_rows(parts.knn2, u)))
    rp = None if parts.rp3 is None else _canonical(sorted_rows(item_rows(parts.rp3, u)))
    uk = _canonical(sorted_rows(user_knn_rows(parts.uknn, parts.neighbour_rows, u)))
    ones = np.ones(len(u), dtype=np.float32)
    return PairBlock(
        als=f, als_top=np.asarray(top, dtype=np.int64), als_max=_als_max(parts, u, f, top),
        knn=kp, knn_max=_row_max(kp), knn2=kp2, knn2_max=_row_max(kp2),
        rp3=rp, rp3_max=ones if rp is None else _row_max(rp),
        uknn=uk, uknn_max=_row_max(uk), **_sparse_user_fields(parts, u),
    )


@dataclass(frozen=True, eq=False)
class ProductPairs:
    """The product ``a @ w`` read only at pairs, without building its rows.

    The value of (row ``r``, item ``c``) sums ``a[r, j] * w[j, c]`` over the stored entries
    ``j`` of ``a``'s row in storage order, each product and each partial sum rounded to the
    product's dtype: the order in which scipy's sparse product accumulates an entry, so the
    values equal the stored entries of ``a @ w`` bit for bit (0 where the product stores
    nothing). Each pair costs its row's stored entries, each a binary search in a row of
    ``w`` (scipy's ``w[rows, cols]``).

    Attributes
    ----------
    a : csr_matrix of shape (b, m)
        The batch's rows.
    w : csr_matrix of shape (m, n_items)
        Canonical (sorted indices, no duplicates). The terms take the product's dtype, the
        values are then rounded to float32 (as the product's entries are).
    """

    a: sp.csr_matrix
    w: sp.csr_matrix

    def at(self, r: np.ndarray, c: np.ndarray) -> np.ndarray:
        """Values at the pairs (float32)."""
        r = np.asarray(r, dtype=np.int64)
        c = np.asarray(c, dtype=np.int64)
        a, w = self.a, self.w
        lens = (a.indptr[r + 1] - a.indptr[r]).astype(np.int64)
        pos = _ranges(a.indptr[r], lens)
        dtype = np.result_type(a.dtype, w.dtype)
        if not len(pos) or not w.nnz:
            return np.zeros(len(r), dtype=np.float32)
        wv = np.asarray(w[a.indices[pos], np.repeat(c, lens)], dtype=dtype).ravel()
        terms = a.data[pos].astype(dtype, copy=False) * wv
        ptr = np.zeros(len(r) + 1, dtype=np.int64)
        np.cumsum(lens, out=ptr[1:])
        # one column, repeated: scipy's matrix-vector product sums each row in storage order
        per_pair = sp.csr_matrix((terms, np.zeros(len(terms), dtype=np.int32), ptr),
                                 shape=(len(r), 1))
        return np.asarray(per_pair @ np.ones(1, dtype=dtype)).astype(np.float32, copy=False)


def _product_pairs(a: sp.csr_matrix, w: Any) -> ProductPairs | sp.csr_matrix:
    """The rows ``a`` times ``w`` as :class:`ProductPairs` when ``w`` is sparse, else their
    product's stored entries (canonical CSR)."""
    if sp.issparse(w):
        w = sp.csr_matrix(w)
        if not w.has_canonical_format:
            w = w.copy()
            w.sum_duplicates()
        return ProductPairs(sp.csr_matrix(a), w)
    return _canonical(sp.csr_matrix(a @ w, dtype=np.float32))


#: Per-user maxima of :func:`pair_sources`, in this order (rows of the cache).
_MAXIMA = ("als_max", "knn_max", "knn2_max", "rp3_max", "uknn_max")
_USER_MAXIMA: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def user_maxima(parts: FittedParts, u: np.ndarray, batch: int = 1024) -> np.ndarray:
    """The per-user maxima of :data:`_MAXIMA` (float32, shape (5, len(u))), as the large
    batches of :func:`pair_block` compute them: each user's whole item-kNN, BM25 item-kNN,
    RP3beta and user-kNN rows and its best ALS score, computed once per user (in batches of
    ``batch``) and kept while ``parts`` lives (``parts`` is never modified after the fit)."""
    u = np.asarray(u, dtype=np.int64)
    got = _USER_MAXIMA.get(parts)
    if got is None:
        got = np.full((len(_MAXIMA), parts.binary.shape[0]), np.nan, dtype=np.float32)
        _USER_MAXIMA[parts] = got
    need = np.unique(u[np.isnan(got[0, u])])
    for s0 in range(0, len(need), batch):
        new = need[s0 : s0 + batch]
        if parts.n_items:
            U, V = parts.als.latent_factors()
            f = FactorRows(np.asarray(U[new], dtype=np.float32), np.asarray(V, dtype=np.float32))
            top, _ = parts.als._recommend_idx(new, 1, True, None)
            als_max = _als_max(parts, new, f, np.asarray(top, dtype=np.int64))
        else:
            als_max = np.zeros(len(new), dtype=np.float32)
        ones = np.ones(len(new), dtype=np.float32)
        # the row maxima ignore the order of a row's entries: the products stay unsorted
        vals = (
            als_max,
            _row_max(item_rows(parts.knn, new)),
            _row_max(item_rows(parts.knn2, new)),
            ones if parts.rp3 is None else _row_max(item_rows(parts.rp3, new)),
            _row_max(user_knn_rows(parts.uknn, parts.neighbour_rows, new)),
        )
        for row in range(1, len(vals)):  # the ALS maximum last: it marks the user as done
            got[row, new] = vals[row]
        got[0, new] = vals[0]
    return got[:, u]


def pair_sources(parts: FittedParts, uidx: np.ndarray) -> PairBlock:
    """The feature sources of known users ``uidx`` read at given pairs only (what
    :meth:`~._hybrid.HybridRanker.score_pairs_at` needs): the item-kNN, BM25 item-kNN,
    RP3beta and user-kNN values as :class:`ProductPairs` (equal to :func:`pair_block`'s
    stored entries), ALS as factors, the per-user maxima from :func:`user_maxima`. Its
    ``als_top`` is empty: the block serves no retrieval.

    Cost per pair: the stored entries of the user's history and neighbour rows; per user,
    once per fit, the whole rows behind its maxima."""
    u = np.asarray(uidx, dtype=np.int64)
    mx = user_maxima(parts, u)
    U, V = parts.als.latent_factors()
    f = FactorRows(np.asarray(U[u], dtype=np.float32), np.asarray(V, dtype=np.float32))
    return PairBlock(
        als=f, als_top=np.zeros((len(u), 0), dtype=np.int64), als_max=mx[0],
        knn=_product_pairs(parts.knn.cf_[u], parts.knn._weights()), knn_max=mx[1],
        knn2=_product_pairs(parts.knn2.cf_[u], parts.knn2._weights()), knn2_max=mx[2],
        rp3=None if parts.rp3 is None
        else _product_pairs(parts.rp3.cf_[u], parts.rp3._weights()),
        rp3_max=mx[3],
        uknn=_product_pairs(parts.uknn[u], parts.neighbour_rows), uknn_max=mx[4],
        **_sparse_user_fields(parts, u),
    )


_MEMOS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def pair_memo(parts: FittedParts) -> PairMemo:
    """The :class:`PairMemo` of ``parts`` (created on first use, kept while it lives)."""
    got = _MEMOS.get(parts)
    if got is None:
        got = _MEMOS.setdefault(parts, PairMemo(parts.n_items))
    return got


def ranked_features(
    parts: FittedParts, blk: PairBlock | FeatureBlock, r: np.ndarray, c: np.ndarray,
    skip: np.ndarray, inputs_type: type[PairInputs] = PairInputs,
) -> np.ndarray:
    """:func:`~._hybrid_features.pair_features` without the columns ``skip`` marks (left 0):
    the features the ranking model gives no weight and no spline term, which cannot change a
    score (another feature that reads one still computes it)."""
    inputs = inputs_type(parts, blk, np.asarray(r), np.asarray(c))
    X = np.zeros((len(r), len(FEATURES)), dtype=np.float32)
    for j, name in enumerate(FEATURES):
        if not skip[j]:
            X[:, j] = inputs.value(name)
    return X


class SparsePairInputs(PairInputs):
    """:class:`~._hybrid_features.PairInputs` over a :class:`PairBlock`: a per-pair source is
    looked up in the sparse rows (0 where nothing is stored), ALS is a dot product of factors."""

    def _rows(self, rows: sp.csr_matrix | FactorRows | np.ndarray) -> np.ndarray:
        if isinstance(rows, (FactorRows, ProductPairs)):
            return rows.at(self.r, self.c)
        if isinstance(rows, np.ndarray):
            return rows[self.r, self.c]
        return csr_values(rows, self.r, self.c)

    def _group_share(self, share: sp.csr_matrix | np.ndarray, codes: np.ndarray) -> np.ndarray:
        if not isinstance(share, np.ndarray):
            return super()._group_share(share, codes)
        cc = codes[self.c]
        if not share.shape[1]:
            return self._zeros()
        return np.where(cc >= 0, share[self.r, np.maximum(cc, 0)], 0).astype(np.float32)


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

    ALS's top ``k`` is ``blk.als_top`` (build the block with this ``k``).

    Returns
    -------
    rows, items : int64 ndarrays of shape (m,)
        Ascending by row, then item.
    """
    u = blk.uidx
    b, n_items = len(u), parts.n_items
    k = min(int(k), n_items)
    if isinstance(blk.seen, np.ndarray):
        return _retrieve_dense(parts, blk, k, n_popular)
    seen = blk.seen
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


def _top_mask(values: np.ndarray, valid: np.ndarray, k: int) -> np.ndarray:
    """Bool mask of the ``k`` largest ``values`` (finite) among the ``valid`` entries of each
    row of a dense block, ties at the ``k``-th place to the lower column
    (:func:`~._cf.csr_row_topk`'s rule): one partition of the negated block (invalid entries
    +inf) at ``k - 1``; rows with at most ``k`` valid entries keep them all unpartitioned."""
    b, n = valid.shape
    if k <= 0:
        return np.zeros((b, n), dtype=bool)
    over = np.flatnonzero(np.count_nonzero(valid, axis=1) > k)
    if not len(over):
        return valid.copy()
    whole = len(over) == b
    v, ok = (values, valid) if whole else (values[over], valid[over])
    neg = np.where(ok, -v, np.inf)  # the k-th smallest of neg is the k-th largest value
    kth = np.partition(neg, k - 1, axis=1)[:, k - 1 : k]
    top = neg < kth
    tie = neg == kth
    need = k - np.count_nonzero(top, axis=1)
    many = np.flatnonzero(np.count_nonzero(tie, axis=1) > need)  # rows that drop some ties
    if len(many):
        t = tie[many]
        tie[many] = t & (np.cumsum(t, axis=1) <= need[many, None])
    top |= tie
    if whole:
        return top
    out = valid.copy()
    out[over] = top
    return out


def _top_flat(values: np.ndarray, valid: np.ndarray, k: int) -> np.ndarray:
    """Flat positions (ascending) of :func:`_top_mask`'s entries, found among the valid
    entries only: one partition of a block padded to the longest row's valid count instead of
    the catalogue (for sources with few valid entries per row)."""
    b, n = valid.shape
    flat = np.flatnonzero(valid)
    if k <= 0:
        return flat[:0]
    rows = flat // n
    cnt = np.bincount(rows, minlength=b)
    over = cnt > k
    if not over.any():
        return flat
    neg = -values.ravel()[flat]
    start = np.cumsum(cnt) - cnt
    pos = np.arange(len(flat)) - np.repeat(start, cnt)
    ov = np.flatnonzero(over)
    at = over[rows]
    pad = np.full((len(ov), int(cnt[ov].max())), np.inf, dtype=neg.dtype)
    pad[(np.cumsum(over) - 1)[rows[at]], pos[at]] = neg[at]
    thr = np.full(b, np.inf, dtype=neg.dtype)  # rows with at most k entries keep them all
    thr[ov] = np.partition(pad, k - 1, axis=1)[:, k - 1]
    t = thr[rows]
    keep = neg < t
    tie = neg == t  # ties at the k-th place: the lower columns (entries ascend by column)
    if tie.any():
        need = k - np.bincount(rows[keep], minlength=b)
        cs = np.cumsum(tie)
        before = np.r_[0, cs][start]
        keep |= tie & (cs - np.repeat(before, cnt) <= need[rows])
    return flat[keep]


def _mask_pairs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, columns) of the true entries of a 2-D mask, ascending by row then column
    (``np.nonzero``'s, from one flat scan)."""
    flat = np.flatnonzero(mask)
    return flat // mask.shape[1], flat % mask.shape[1]


def _retrieve_dense(
    parts: FittedParts, blk: PairBlock, k: int, n_popular: int
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`retrieve_pairs` for a small-batch block (dense rows and seen block): the same
    rule (each source's top ``k`` positive unseen entries, ties to the lower item), as one
    candidate mask of the block (``blk.als_top`` is ALS's mask)."""
    b, n_items = len(blk.uidx), parts.n_items
    unseen = ~blk.seen
    cand = np.array(blk.als_top, dtype=bool, order="C")
    sources = [blk.knn, blk.trust, blk.uknn]
    if blk.rp3 is not None:
        sources.append(blk.rp3)
    if len(parts.ease_idx):
        e = np.zeros((b, n_items), dtype=np.float32)
        e[:, parts.ease_idx] = blk.ease
        sources.append(e)
    flat = cand.reshape(-1)  # a view: cand is a fresh C-ordered block
    for m in sources:  # sparse in practice: the top k among the valid entries only
        flat[_top_flat(m, (m > 0) & unseen, k)] = True
    if n_popular:
        cand[:, popular_items(parts, n_popular)] = True
    cand &= unseen
    return _mask_pairs(cand)
