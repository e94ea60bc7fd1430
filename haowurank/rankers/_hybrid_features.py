"""The features of ``hybrid``, each defined once, in the registry :data:`REGISTRY`.

A :class:`Feature` is a name, a description and one function of a :class:`FeatureInputs`: the
inputs are the score rows of a batch of users (a :class:`FeatureBlock`, built by
:func:`feature_block`) and the fitted tables (:class:`~._hybrid_parts.FittedParts`). The same
function gives

- the values at arbitrary (user, item) pairs (:func:`pair_features`: training rows, retrieved
  candidates, explanations, :meth:`HybridRanker.pair_features_at`), through
  :class:`PairInputs`, where a per-pair source is a vector over the pairs, a per-user statistic
  is indexed by the pair's user and a per-item table by its item; and
- the values at every (user, item) pair of the batch (:func:`block_feature`, the dense linear
  score :func:`linear_block_scores`), through :class:`BlockInputs`, where the same sources are
  (users, items) arrays, per-user statistics a column and per-item tables a row, so numpy's
  broadcasting does the rest.

Both evaluate the same expression on the same float32 inputs, so the dense scores and the pair
features agree to float32 rounding of the weighted sum.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ._hybrid_neighbours import item_rows, user_knn_rows
from ._hybrid_parts import FittedParts, csr_values, dense

__all__ = [
    "FEATURES", "REGISTRY", "BlockInputs", "Feature", "FeatureBlock", "FeatureInputs",
    "PairInputs", "block_feature", "chunk_size", "feature_block", "linear_block_scores",
    "pair_features",
]


@dataclass(frozen=True, eq=False)
class FeatureBlock:
    """The feature sources of one batch of users ``uidx`` (built by :func:`feature_block`).

    Attributes
    ----------
    uidx : ndarray of shape (b,)
        User indices of the batch.
    als, knn, knn2, uknn, trust, friends : ndarray of shape (b, n_items), float32
        Dense score rows: ALS, item-kNN (both), user-kNN, trust (clipped at 0) and the number of
        friends whose endorsement of the item the user may see.
    rp3 : ndarray of shape (b, n_items) or None
        RP3beta scores (None without the component).
    ease : ndarray of shape (b, p)
        EASE scores over the head items ``FittedParts.ease_idx``.
    als_max, knn_max, knn2_max, rp3_max, uknn_max : ndarray of shape (b,)
        Per-user maxima (ALS: the best score; the others: the best positive score, 1 when none).
    n_friends : ndarray of shape (b,)
        Friends (followed accounts), at least 1.
    activity : ndarray of shape (b,)
        ``log1p`` of the user's number of training items.
    user_category, user_merchant : csr_matrix of shape (b, n_groups) or None
        The users' shares of items per category / merchant.
    user_period : ndarray of shape (b, n_periods)
    user_time : ndarray of shape (b,)
    knn_sp, trust_sp, uknn_sp, rp3_sp : csr_matrix of shape (b, n_items)
        The item-kNN, trust, user-kNN and RP3beta (None without it) rows as stored entries,
        for retrieval.
    """

    uidx: np.ndarray
    als: np.ndarray
    als_max: np.ndarray
    knn: np.ndarray
    knn_max: np.ndarray
    ease: np.ndarray
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


def chunk_size(n_items: int) -> int:
    """Users per block: about 6 dense float32 (users, items) arrays within ~200 MB."""
    return int(max(1, min(256, 8_000_000 // max(n_items, 1))))


def _positive_max(s: np.ndarray, zeros: np.ndarray) -> np.ndarray:
    """Per-row maximum clipped at 0 (``zeros`` for an empty catalogue)."""
    return np.maximum(s.max(axis=1), 0) if s.shape[1] else zeros


def feature_block(parts: FittedParts, uidx: np.ndarray) -> FeatureBlock:
    """The feature sources of users ``uidx``.

    Dense (len(uidx), n_items) float32 arrays of the ALS, item-kNN (both), user-kNN, trust and
    friend scores, dense EASE scores over the head items, and per-user statistics; the sparse
    item-kNN, trust, user-kNN and RP3beta rows are kept too (``*_sp``), for retrieval. Callers
    bound ``len(uidx) * n_items`` (see :func:`chunk_size`).
    """
    u = np.asarray(uidx, dtype=np.int64)
    sa = np.asarray(parts.als._score(u), dtype=np.float32)
    kp, kp2 = item_rows(parts.knn, u), item_rows(parts.knn2, u)
    sk, sk2 = dense(kp), dense(kp2)
    zeros = np.zeros(len(u), dtype=np.float32)
    kmax, k2max = _positive_max(sk, zeros), _positive_max(sk2, zeros)
    if parts.rp3 is not None:
        rp = item_rows(parts.rp3, u)
        srp = dense(rp)
        rpmax = _positive_max(srp, zeros)
    else:  # rp3beta=False: the features are 0
        rp, srp, rpmax = None, None, zeros
    if len(parts.ease_idx):
        ease = np.asarray(parts.binary[u][:, parts.ease_idx] @ parts.ease_B, dtype=np.float32)
    else:
        ease = np.zeros((len(u), 0), dtype=np.float32)
    tr = sp.csr_matrix(parts.trust._candidates(u), dtype=np.float32)
    tr.data = np.maximum(tr.data, 0)
    uk = user_knn_rows(parts.uknn, parts.neighbour_rows, u)
    ukd = dense(uk)
    ukmax = _positive_max(ukd, zeros)

    def at_least_one(m: np.ndarray) -> np.ndarray:
        return np.where(m > 0, m, 1.0).astype(np.float32)

    return FeatureBlock(
        uidx=u, als=sa, als_max=sa.max(axis=1) if sa.shape[1] else np.zeros(len(u)),
        knn=sk, knn_max=at_least_one(kmax), ease=ease,
        knn2=sk2, knn2_max=at_least_one(k2max),
        rp3=srp, rp3_max=at_least_one(rpmax), rp3_sp=rp,
        trust=dense(tr), friends=dense(parts.trust.graph_.visible(u).counts()), uknn=ukd,
        uknn_max=at_least_one(ukmax),
        knn_sp=kp, trust_sp=tr, uknn_sp=uk,
        n_friends=np.maximum(np.diff(parts.friends.indptr)[u], 1).astype(np.float32),
        activity=np.log1p(np.diff(parts.binary.indptr)[u]).astype(np.float32),
        user_category=None if parts.user_category is None else parts.user_category[u],
        user_merchant=None if parts.user_merchant is None else parts.user_merchant[u],
        user_period=parts.user_period[u], user_time=parts.user_time[u],
    )


# ---------------------------------------------------------------------------------- inputs
#: Per-pair sources: dense score rows of the block (None: the component is off, values 0).
_ROWS = ("als", "knn", "knn2", "rp3", "uknn", "trust", "friends")
#: Per-user statistics: attributes of the block, and ``cold`` = 1 / (1 + activity).
_USER = ("als_max", "knn_max", "knn2_max", "rp3_max", "uknn_max", "n_friends", "activity",
         "user_time", "cold")
#: Per-item tables of :class:`FittedParts`.
_ITEM = ("popularity", "category_rate", "item_time")


class FeatureInputs:
    """What a feature reads, for a batch of users (:class:`FeatureBlock`) and the fitted tables.

    ``pair(name)``: a per-(user, item) source, one of ``als``, ``knn``, ``knn2``, ``rp3``,
    ``uknn``, ``trust``, ``friends`` (the block's score rows), ``ease`` (the head EASE scores,
    0 outside the head), ``category`` / ``merchant`` (the user's share of items in the item's
    category / merchant, 0 when unknown) and ``period`` (``sum_b P(period b | user) *
    count(item, period b)``). ``user(name)``: a per-user statistic (:data:`_USER`). ``item(name)``:
    a per-item table (:data:`_ITEM`). ``feature(name)``: another feature's value (computed
    once per inputs). Subclasses give the values at pairs or at every pair of the block.
    """

    def __init__(self, parts: FittedParts, blk: FeatureBlock):
        self.parts, self.blk = parts, blk
        self._cache: dict[str, np.ndarray] = {}

    def pair(self, name: str) -> np.ndarray:
        if name in _ROWS:
            rows = getattr(self.blk, name)
            return self._zeros() if rows is None else self._rows(rows)
        if name == "ease":
            return self._ease()
        if name in ("category", "merchant"):
            share = getattr(self.blk, f"user_{name}")
            codes = getattr(self.parts, name)
            return self._zeros() if share is None else self._group_share(share, codes)
        if name == "period":
            if not self.parts.item_period.shape[1]:
                return self._zeros()
            return self._period()
        raise KeyError(f"Unknown per-pair feature source {name!r}.")

    def user(self, name: str) -> np.ndarray:
        if name == "cold":
            return self._user(1.0 / (1.0 + self.blk.activity))
        if name not in _USER:
            raise KeyError(f"Unknown per-user feature source {name!r}.")
        return self._user(getattr(self.blk, name))

    def item(self, name: str) -> np.ndarray:
        if name not in _ITEM:
            raise KeyError(f"Unknown per-item feature source {name!r}.")
        return self._item(getattr(self.parts, name))

    def feature(self, name: str) -> np.ndarray:
        """Another feature's value, computed once and kept (features that others read)."""
        if name not in self._cache:
            self._cache[name] = REGISTRY[name].value(self)
        return self._cache[name]

    def value(self, name: str) -> np.ndarray:
        """A feature's value, kept only if another feature asked for it already."""
        got = self._cache.get(name)
        return REGISTRY[name].value(self) if got is None else got

    # the two layouts
    def _zeros(self) -> np.ndarray:
        raise NotImplementedError

    def _rows(self, rows: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _user(self, v: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _item(self, v: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _ease(self) -> np.ndarray:
        raise NotImplementedError

    def _group_share(self, share: sp.csr_matrix, codes: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _period(self) -> np.ndarray:
        raise NotImplementedError


class PairInputs(FeatureInputs):
    """Feature inputs at the pairs ``(blk.uidx[r], c)``: every value is a vector over the pairs
    (each source is gathered once, and every feature is kept once computed)."""

    def __init__(self, parts: FittedParts, blk: FeatureBlock, r: np.ndarray, c: np.ndarray):
        super().__init__(parts, blk)
        self.r, self.c = r, c
        self._sources: dict[tuple[str, str], np.ndarray] = {}

    def _once(self, kind: str, name: str, get: Callable[[str], np.ndarray]) -> np.ndarray:
        key = (kind, name)
        if key not in self._sources:
            self._sources[key] = get(name)
        return self._sources[key]

    def pair(self, name: str) -> np.ndarray:
        return self._once("pair", name, super().pair)

    def user(self, name: str) -> np.ndarray:
        return self._once("user", name, super().user)

    def item(self, name: str) -> np.ndarray:
        return self._once("item", name, super().item)

    def value(self, name: str) -> np.ndarray:
        return self.feature(name)

    def _zeros(self) -> np.ndarray:
        return np.zeros(len(self.r), dtype=np.float32)

    def _rows(self, rows: np.ndarray) -> np.ndarray:
        return rows[self.r, self.c]

    def _user(self, v: np.ndarray) -> np.ndarray:
        return v[self.r]

    def _item(self, v: np.ndarray) -> np.ndarray:
        return v[self.c]

    def _ease(self) -> np.ndarray:
        out = self._zeros()
        idx = self.parts.ease_idx
        if len(idx):
            pos = np.full(self.parts.n_items, -1, dtype=np.int64)
            pos[idx] = np.arange(len(idx))
            pc = pos[self.c]
            head = pc >= 0
            out[head] = self.blk.ease[self.r[head], pc[head]]
        return out

    def _group_share(self, share: sp.csr_matrix, codes: np.ndarray) -> np.ndarray:
        out = self._zeros()
        cc = codes[self.c]
        ok = cc >= 0
        out[ok] = csr_values(share, self.r[ok], cc[ok])
        return out

    def _period(self) -> np.ndarray:
        return np.einsum("ij,ij->i", self.blk.user_period[self.r],
                         self.parts.item_period[self.c])


class BlockInputs(FeatureInputs):
    """Feature inputs at every (user, item) pair of the block: per-pair sources are (b, n_items)
    arrays, per-user statistics (b, 1) columns, per-item tables (1, n_items) rows."""

    def _zeros(self) -> np.ndarray:
        return np.zeros((1, 1), dtype=np.float32)

    def _rows(self, rows: np.ndarray) -> np.ndarray:
        return rows

    def _user(self, v: np.ndarray) -> np.ndarray:
        return np.asarray(v)[:, None]

    def _item(self, v: np.ndarray) -> np.ndarray:
        return np.asarray(v)[None, :]

    def _ease(self) -> np.ndarray:
        idx = self.parts.ease_idx
        if not len(idx):
            return self._zeros()
        out = np.zeros((len(self.blk.uidx), self.parts.n_items), dtype=np.float32)
        out[:, idx] = self.blk.ease
        return out

    def _group_share(self, share: sp.csr_matrix, codes: np.ndarray) -> np.ndarray:
        known = np.flatnonzero(codes >= 0)
        full = np.asarray(share.toarray(), dtype=np.float32)
        out = np.zeros((len(self.blk.uidx), self.parts.n_items), dtype=np.float32)
        out[:, known] = full[:, codes[known]]
        return out

    def _period(self) -> np.ndarray:
        return self.blk.user_period @ self.parts.item_period.T


# -------------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class Feature:
    """One feature of ``hybrid``: its name, what it means and how it is computed.

    Attributes
    ----------
    name : str
    description : str
    value : callable
        ``value(inputs) -> array``: the feature from a :class:`FeatureInputs` (a vector over the
        pairs for :class:`PairInputs`, an array broadcastable to (b, n_items) for
        :class:`BlockInputs`).
    """

    name: str
    description: str
    value: Callable[[FeatureInputs], np.ndarray]


def _ratio(source: str, stat: str) -> Callable[[FeatureInputs], np.ndarray]:
    return lambda v: v.pair(source) / v.user(stat)


_F32_1E4 = np.float32(1e-4)

#: Every feature, in the order of the learned weights (the columns of the feature rows).
REGISTRY: dict[str, Feature] = {f.name: f for f in (
    Feature("als", "ALS score (user factors . item factors)", lambda v: v.pair("als")),
    Feature("als_gap", "ALS score minus the user's best ALS score",
            lambda v: v.pair("als") - v.user("als_max")),
    Feature("knn", "item-kNN score (similarity to the user's items)", lambda v: v.pair("knn")),
    Feature("knn_norm", "item-kNN score divided by the user's best item-kNN score",
            _ratio("knn", "knn_max")),
    Feature("knn2", "item-kNN score on BM25-weighted interaction weights",
            lambda v: v.pair("knn2")),
    Feature("knn2_norm", "knn2 divided by the user's best knn2 score",
            _ratio("knn2", "knn2_max")),
    Feature("rp3", "RP3beta score (0 unless rp3beta is set)", lambda v: v.pair("rp3")),
    Feature("rp3_norm", "rp3 divided by the user's best rp3 score", _ratio("rp3", "rp3_max")),
    Feature("ease", "EASE score restricted to the popular head (0 outside it)",
            lambda v: v.pair("ease")),
    Feature("uknn", "user-kNN score: similarity-weighted count of the user's nearest "
            "neighbours (cosine over item sets) who have the item", lambda v: v.pair("uknn")),
    Feature("uknn_norm", "uknn divided by the user's best uknn score",
            _ratio("uknn", "uknn_max")),
    Feature("trust", "trust-weighted endorsement score (0 if no trusted account endorsed it)",
            lambda v: v.pair("trust")),
    Feature("trust_log", "log1p(10 * trust)", lambda v: np.log1p(10.0 * v.pair("trust"))),
    Feature("friends", "log1p of the number of friends whose endorsement of the item the user "
            "may see (haowurank.visibility; never their purchases)", lambda v: np.log1p(v.pair("friends"))),
    Feature("friend_share", "that number divided by the user's number of friends (followed "
            "accounts)",
            _ratio("friends", "n_friends")),
    Feature("popularity", "log1p of the number of training users who have the item",
            lambda v: np.log1p(v.item("popularity"))),
    Feature("popularity_cold", "popularity / (1 + log1p(number of the user's items))",
            lambda v: v.feature("popularity") / (1.0 + v.user("activity"))),
    Feature("category", "share of the user's items in the item's category (0 without metadata)",
            lambda v: v.pair("category")),
    Feature("merchant", "share of the user's items from the item's merchant (0 without "
            "metadata)",
            lambda v: v.pair("merchant")),
    Feature("category_popularity", "log(1e-4 + P(category | user) * P(item | category)), both "
            "shares of training interactions (a category-aware popularity)",
            lambda v: np.log(_F32_1E4 + v.feature("category") * v.item("category_rate"))),
    Feature("period_popularity", "log1p(sum_b P(period b | user) * count(item, period b)) over "
            "n_periods equal periods of the training time range: what was popular when the user "
            "was active (0 without timestamps)",
            lambda v: np.log1p(v.pair("period"))),
    Feature("time_gap", "log1p(|mean time of the user - mean time of the item|) in periods",
            lambda v: np.log1p(np.abs(v.user("user_time") - v.item("item_time")))),
    Feature("trust_cold", "trust_log / (1 + log1p(number of the user's items)): lets the social "
            "signal weigh more for users with few interactions",
            lambda v: v.feature("trust_log") * v.user("cold")),
    Feature("friends_cold", "friends / (1 + log1p(number of the user's items))",
            lambda v: v.feature("friends") * v.user("cold")),
)}

#: Feature names, in the order of the learned weights.
FEATURES: tuple[str, ...] = tuple(REGISTRY)


def feature_table() -> str:
    """The registry as a reStructuredText table (name, description), for docstrings."""
    rows = [(f"``{f.name}``", f.description) for f in REGISTRY.values()]
    w = max(len(n) for n, _ in rows)
    rule = "=" * w + "  " + "=" * 70
    lines = [rule]
    for name, text in rows:
        words, line = text.split(), ""
        first = True
        for word in words:
            if line and len(line) + 1 + len(word) > 70:
                lines.append((name if first else "").ljust(w) + "  " + line)
                first, line = False, word
            else:
                line = f"{line} {word}" if line else word
        lines.append((name if first else "").ljust(w) + "  " + line)
    return "\n".join([*lines, rule])


def pair_features(
    parts: FittedParts, blk: FeatureBlock, r: np.ndarray, c: np.ndarray,
    inputs_type: type[PairInputs] = PairInputs,
) -> np.ndarray:
    """Features (len(r), len(FEATURES)) float32 of the pairs (blk.uidx[r], c): what training,
    retrieval's ranking, explanations and the research API read. ``inputs_type`` reads the
    block (:class:`~._hybrid_pairs.SparsePairInputs` for the sparse serving block)."""
    inputs = inputs_type(parts, blk, np.asarray(r), np.asarray(c))
    X = np.zeros((len(r), len(FEATURES)), dtype=np.float32)
    for j, name in enumerate(FEATURES):
        X[:, j] = inputs.value(name)
    return X


def block_feature(parts: FittedParts, blk: FeatureBlock, name: str) -> np.ndarray:
    """One feature at every (user, item) pair of the block, shape (b, n_items), float32."""
    value = REGISTRY[name].value(BlockInputs(parts, blk))
    return np.broadcast_to(value, (len(blk.uidx), parts.n_items)).astype(np.float32)


def linear_block_scores(
    parts: FittedParts, blk: FeatureBlock, weights: np.ndarray, intercept: float
) -> np.ndarray:
    """``intercept + sum_j weights[j] * feature_j`` at every (user, item) pair of the block,
    (b, n_items) float32; features of weight 0 are skipped."""
    inputs = BlockInputs(parts, blk)
    out = np.full((len(blk.uidx), parts.n_items), np.float32(intercept), dtype=np.float32)
    for j, name in enumerate(FEATURES):
        w = np.float32(weights[j])
        if w:
            out += w * inputs.value(name)
    return out
