"""Social rankers: the plain friends'-circle rule and trust-weighted endorsements.

Both score a user's candidates from what other accounts endorsed, so both score known users who
have no interactions of their own (``handles_empty_users``), and both rank only items that some
endorser the user trusts vouched for (others score -inf).

Cold start (documented contract): an unknown user id, and a known user for whom no trusted
endorser vouched for anything (no friends, or friends who endorsed nothing), get the base class
fallback: item popularity in the training data. Pass ``fallback="none"`` to leave such users
with an empty list instead (what a strict friends-only feed wants).

Both follow the privacy rule of :mod:`haowurank.visibility`: a user's scores and explanations
use only the endorsements that user may see (public, or "friends" from someone who follows the
user back, within audience lists, nobody the user blocked); multi-hop trust adds other accounts'
public endorsements in aggregate, never by name; nobody's purchases count.
"""

from __future__ import annotations

import logging
import numbers
from typing import Any

import numpy as np
import scipy.sparse as sp

from .. import trust
from .._arrays import csr_positions, sorted_product
from .._dataset import ENDORSEMENT_KINDS, KINDS, Dataset
from ..kinds import ENDORSEMENT_STRENGTH
from ..trust import check_transition, propagate
from ..visibility import (
    EndorsementGraph,
    VisibleEndorsements,
)
from ._base import Ranker, arrays_to_csr, csr_to_arrays, sparse_topk, topk

__all__ = ["FriendEndorsementRanker", "TrustRanker"]

log = logging.getLogger(__name__)

_FALLBACKS = ("popularity", "none")
#: Stored entries of the wider-circle trust rows a fitted :class:`TrustRanker` keeps between
#: fits (about 12 bytes each), so that users scored again are not walked again.
WIDER_ROWS_KEPT = 1 << 25
_TIE_STRENGTHS = ("count", "adoption")


def _strip_blocked(m: sp.csr_matrix, blocked: sp.csr_matrix) -> sp.csr_matrix:
    """``m`` without the entries (u, b) where u blocked b (same shape; zeros dropped)."""
    if blocked.nnz == 0 or m.nnz == 0:
        return m
    b = sp.csr_matrix(blocked, dtype=np.float64)
    b.data[:] = 1.0
    out = sp.csr_matrix(m - m.multiply(b))
    out.eliminate_zeros()
    out.sort_indices()
    return out


class _SocialRanker(Ranker):
    """Shared machinery: sparse candidate scores, the fallback rule, a sparse top-n path."""

    uses_social = True
    handles_empty_users = True
    fallback: str

    # subclasses: sparse (len(uidx), n_items) candidate scores, float64, pattern = candidates
    def _candidates(self, uidx: np.ndarray) -> sp.csr_matrix:
        raise NotImplementedError

    def _dense_offset(self) -> np.ndarray | None:
        """Per-item value added to every candidate score (e.g. a popularity prior)."""
        return None

    def _fills(self) -> bool:
        """Whether non-candidates get the offset instead of -inf."""
        return False

    def _check_fallback(self) -> None:
        self._check_param("fallback", self.fallback in _FALLBACKS, f"one of {list(_FALLBACKS)}")

    def _candidate_values(self, c: sp.csr_matrix) -> np.ndarray:
        """float32 scores of the stored candidates of ``c`` (the same in dense and sparse paths)."""
        off = self._dense_offset()
        vals = c.data.astype(np.float64)
        if off is not None:
            vals = vals + off[c.indices]
        return vals.astype(np.float32)

    def _fill_values(self) -> np.ndarray:
        """float32 score of a non-candidate when filling: the offset (0 without one)."""
        off = self._dense_offset()
        m = len(self.item_ids_)
        return np.zeros(m, dtype=np.float32) if off is None else off.astype(np.float32)

    def _score(self, uidx: np.ndarray) -> np.ndarray:
        c = self._candidates(uidx)
        m = len(self.item_ids_)
        if self._fills():
            out = np.broadcast_to(self._fill_values(), (len(uidx), m)).copy()
        else:
            out = np.full((len(uidx), m), -np.inf, dtype=np.float32)
        rows = np.repeat(np.arange(len(uidx)), np.diff(c.indptr))
        out[rows, c.indices] = self._candidate_values(c)
        empty = np.diff(c.indptr) == 0
        if empty.any():
            out[empty] = self._no_candidate_rows(int(empty.sum()))
        return out

    def _score_at(self, uidx: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """``_score(uidx)[rows, cols]`` from the sparse candidates, without the dense block
        (its cost grows with the catalogue: at 500k items it was most of a feed's time)."""
        c = sp.csr_matrix(self._candidates(uidx))
        c.sum_duplicates()  # canonical (sorted, no duplicates), as csr_positions needs
        rows = np.asarray(rows, dtype=np.int64)
        cols = np.asarray(cols, dtype=np.int64)
        if self._fills():
            out = self._fill_values()[cols].astype(np.float32)
        else:
            out = np.full(len(rows), -np.inf, dtype=np.float32)
        pos, hit = csr_positions(c, rows, cols)
        out[hit] = self._candidate_values(c)[pos[hit]]
        empty = (np.diff(c.indptr) == 0)[rows]
        if empty.any():
            out[empty] = self._no_candidate_rows(1)[0, cols[empty]]
        return out

    def _score_at_users(self) -> int:
        return 1024

    def _no_candidate_rows(self, k: int) -> np.ndarray:
        if self.fallback == "popularity":
            return self._fallback_rows(k)
        return np.full((k, len(self.item_ids_)), -np.inf, dtype=np.float32)

    def _recommend_idx(
        self, uidx: np.ndarray, n: int, exclude_seen: bool, cand: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-n straight from the sparse candidate scores (no dense (users, items) block).

        Gives exactly what the base class's dense path gives: same float32 scores, same
        tie-break by the lower item index, same padding.
        """
        b = len(uidx)
        out_i = np.full((b, n), -1, dtype=np.int64)
        out_s = np.full((b, n), -np.inf, dtype=np.float32)
        known = np.flatnonzero(uidx >= 0)
        c = self._candidates(uidx[known]) if len(known) else sp.csr_matrix((0, len(self.item_ids_)))
        has = np.diff(c.indptr) > 0
        # rows without candidates (and unknown users): the dense fallback path of the base class
        dense_rows = np.concatenate([np.flatnonzero(uidx < 0), known[~has]])
        if len(dense_rows):
            block = np.empty((len(dense_rows), len(self.item_ids_)), dtype=np.float32)
            unknown = uidx[dense_rows] < 0
            if unknown.any():
                block[unknown] = self._fallback_rows(int(unknown.sum()))
            if (~unknown).any():
                block[~unknown] = self._no_candidate_rows(int((~unknown).sum()))
            if cand is not None:
                block[:, ~cand] = -np.inf
            if exclude_seen:
                kn = np.flatnonzero(~unknown)
                if len(kn):
                    sub = self.seen_[uidx[dense_rows[kn]]].tocoo()
                    block[kn[sub.row], sub.col] = -np.inf
            i, s = topk(block, n)
            out_i[dense_rows], out_s[dense_rows] = i, s
        if has.any():
            cols = c.indices
            vals = self._candidate_values(c)
            ptr = c.indptr
            seen = self.seen_
            fills = self._fills()
            if fills:  # non-candidates in their global order (value desc, index asc)
                base = self._fill_values()
                gorder = np.lexsort((np.arange(len(base)), -base))
                if cand is not None:
                    gorder = gorder[cand[gorder]]
                mark = np.zeros(len(base), dtype=bool)  # scratch: this row's exclusions
            t_rows, t_cols, t_vals = [], [], []
            for r in np.flatnonzero(has):
                lo, hi = ptr[r], ptr[r + 1]
                v, ci = vals[lo:hi], cols[lo:hi]
                u = uidx[known[r]]
                seen_u = seen.indices[seen.indptr[u] : seen.indptr[u + 1]]
                all_ci = ci
                if cand is not None:
                    k = cand[ci]
                    v, ci = v[k], ci[k]
                if exclude_seen:
                    k = ~np.isin(ci, seen_u)
                    v, ci = v[k], ci[k]
                if fills:
                    pre = gorder[: n + len(all_ci) + (len(seen_u) if exclude_seen else 0)]
                    mark[all_ci] = True
                    if exclude_seen:
                        mark[seen_u] = True
                    extra = pre[~mark[pre]][:n]
                    mark[all_ci] = False
                    mark[seen_u] = False
                    v = np.concatenate([v, base[extra]])
                    ci = np.concatenate([ci, extra])
                if len(v) > n:  # the n-th largest value, then every tie of it
                    cut = np.partition(v, len(v) - n)[len(v) - n]
                    sel = v >= cut
                    v, ci = v[sel], ci[sel]
                t_rows.append(np.full(len(v), known[r], dtype=np.int64))
                t_cols.append(ci)
                t_vals.append(v)
            rows_has = known[np.flatnonzero(has)]
            i, s = sparse_topk(np.concatenate(t_rows), np.concatenate(t_cols),
                               np.concatenate(t_vals), b, n)
            out_i[rows_has], out_s[rows_has] = i[rows_has], s[rows_has]
        return out_i, out_s

    def _fallback_explanation(self, i: int, why: str) -> dict[str, Any]:
        if self.fallback == "popularity":
            pop = float(self.fallback_[i])
            text = f"{why}: ranked by popularity ({int(pop)} users)."
        else:
            pop = float("-inf")
            text = f"{why}: nothing to recommend (fallback='none')."
        return {"terms": {"popularity": pop}, "friends": [], "kinds": {}, "text": text,
                "fallback": True}


def _py(x: Any) -> Any:
    """A plain Python scalar (JSON-friendly) from a numpy one."""
    return x.item() if isinstance(x, np.generic) else x


def _plural(k: int, word: str) -> str:
    return f"{k} {word}{'' if k == 1 else 's'}"


def _kind_counts(masks: np.ndarray) -> dict[str, int]:
    out: dict[str, int] = {}
    for b, k in enumerate(KINDS):
        cnt = int(np.count_nonzero(masks.astype(np.int64) >> b & 1))
        if cnt:
            out[k] = cnt
    return out


def _describe(n: int, kinds: dict[str, int], who: str = "friend") -> str:
    rec = sum(v for k, v in kinds.items() if k in ENDORSEMENT_KINDS)
    after = kinds.get("recommend_after_purchase", 0)
    bought = kinds.get("purchase", 0)
    if rec:
        parts = [f"{_plural(n, who)} recommended this"]
        if after:
            parts.append(f"{after} after buying it")
        if bought and kinds.keys() - set(ENDORSEMENT_KINDS):
            parts.append(f"{bought} bought it")
        return "; ".join(parts) + "."
    if bought:
        return f"{_plural(n, who)} bought this."
    return f"{_plural(n, who)} endorsed this."


class FriendEndorsementRanker(_SocialRanker):
    """The plain friends'-circle rule: score = number of friends whose endorsement of the item
    the user may see.

    Visibility is :mod:`haowurank.visibility`'s rule: the user follows the endorser and the
    endorsement is "public", or "friends" from someone who follows the user back, within its
    audience list if it has one, and nobody the user blocked. Only items with at least one such
    endorsement are candidates; others score -inf. Known users with friends but no interactions
    of their own still get a feed. Friends' purchases are never counted (they are no
    endorsement).

    Parameters
    ----------
    kinds : sequence of str or None
        Endorsement kinds that count, among "recommend" and "recommend_after_purchase" (None:
        both). Other kinds raise ``ValueError``: other people's purchases, views and clicks may
        enter only aggregate models (the privacy rule).
    fallback : {"popularity", "none"}
        What a user with no visible endorsement from a friend gets: popularity (default), or
        nothing.
    tie_strength : {"count", "adoption"}
        How much one friend's endorsement weighs. ``"count"`` (default): 1 per friend.
        ``"adoption"``: a tie strength learned from co-interaction, the smoothed share of the
        friend's endorsements that the user may see and also has in their own training history,
        ``w(u, f) = (a + 1) / (n + adoption_prior)`` with ``n`` those endorsements (of the
        counted kinds) and ``a`` the ones among them the user interacted with; score =
        ``sum_f w(u, f)`` over the friends who endorsed the item. It reads only the user's own
        history and endorsements the user may see (the privacy rule); without timestamps it
        cannot tell adoption after the endorsement from agreement before it.
    adoption_prior : float, default 5.0
        Pseudo-count of the ``"adoption"`` tie strength (> 0): a friend with no shared item
        weighs ``1 / (n + adoption_prior)``.

    Attributes
    ----------
    kinds_ : tuple of str
        The kinds actually counted.
    friends_ : csr_matrix of shape (n_users, n_users)
        0/1 matrix of the endorsers each user may see public endorsements of (follows without
        blocked accounts).
    graph_ : EndorsementGraph
        The visibility structures of the training data (:mod:`haowurank.visibility`).

    Examples
    --------
    >>> import haowurank as hr
    >>> from haowurank.testing import small_world
    >>> ds = small_world()
    >>> r = hr.rankers.make("friend_endorsements").fit(ds)
    >>> ids, scores = r.recommend("u0", n=3)
    >>> bool(scores[0] >= scores[-1])
    True
    """

    name = "friend_endorsements"

    def __init__(
        self,
        kinds: list[str] | tuple[str, ...] | None = None,
        fallback: str = "popularity",
        tie_strength: str = "count",
        adoption_prior: float = 5.0,
    ):
        self.kinds = kinds
        self.fallback = fallback
        self.tie_strength = tie_strength
        self.adoption_prior = adoption_prior

    def _validate_params(self) -> None:
        k = self.kinds
        ok = k is None or (
            isinstance(k, list | tuple | str)
            and len(k) > 0
            and all(isinstance(x, str) and x in ENDORSEMENT_KINDS
                    for x in ([k] if isinstance(k, str) else k))
        )
        self._check_param(
            "kinds", ok,
            f"None or a non-empty list of endorsement kinds among {list(ENDORSEMENT_KINDS)} "
            "(other people's purchases, views and clicks may enter only aggregate models: the "
            "privacy rule of haowurank.visibility)",
        )
        self._check_fallback()
        self._check_param("tie_strength", self.tie_strength in _TIE_STRENGTHS,
                          f"one of {list(_TIE_STRENGTHS)}")
        p = self.adoption_prior
        self._check_param(
            "adoption_prior",
            isinstance(p, numbers.Real) and not isinstance(p, bool) and np.isfinite(p) and p > 0,
            "a finite number > 0",
        )

    def _fit(self, ds: Dataset, *, show_progress: bool, callback: Any) -> None:
        k = self.kinds
        self.kinds_ = tuple(ENDORSEMENT_KINDS if k is None else ([k] if isinstance(k, str) else k))
        self.graph_ = EndorsementGraph(ds)
        self.friends_ = sp.csr_matrix(self.graph_.may_see("public"), dtype=np.float64)
        if callback is not None:
            callback("fit", 1.0)

    def _visible(self, uidx: np.ndarray) -> VisibleEndorsements:
        return self.graph_.visible(uidx)

    def _candidates(self, uidx: np.ndarray) -> sp.csr_matrix:
        v = self._visible(uidx)
        if self.tie_strength == "count":
            return v.counts(self.kinds_)
        return v.strength({k: 1.0 for k in self.kinds_}, endorser_weights=self._adoption(uidx, v))

    def _adoption(self, uidx: np.ndarray, v: VisibleEndorsements) -> np.ndarray:
        """Per visible triple: the ``"adoption"`` tie strength of its (viewer, endorser) pair."""
        counted = np.isin(v.kind, [KINDS.index(k) for k in self.kinds_]).astype(np.float64)
        seen = sp.csr_matrix(self.seen_[np.asarray(uidx, dtype=np.int64)])
        seen.sum_duplicates()
        _, hit = csr_positions(seen, v.viewer.astype(np.int64), v.item.astype(np.int64))
        pair = v.viewer.astype(np.int64) * len(self.user_ids_) + v.endorser.astype(np.int64)
        _, inv = np.unique(pair, return_inverse=True)
        n = np.bincount(inv, weights=counted)
        a = np.bincount(inv, weights=counted * hit)
        return ((a + 1.0) / (n + float(self.adoption_prior)))[inv]

    def _explain(self, u: int, i: int) -> dict[str, Any]:
        v = self._visible(np.asarray([u]))
        keep = (v.item == i) & np.isin(v.kind, [KINDS.index(k) for k in self.kinds_])
        order = np.argsort(v.endorser[keep], kind="stable")
        who = v.endorser[keep][order]
        kcodes = v.kind[keep][order].astype(np.int64)
        if not len(who):
            if not np.isin(v.kind, [KINDS.index(k) for k in self.kinds_]).any():
                return self._fallback_explanation(i, "No friend endorsed anything you may see")
            return {"terms": {"friends": 0.0}, "friends": [], "kinds": {},
                    "text": "No friend endorsed this item."}
        kinds = _kind_counts(np.left_shift(1, kcodes))
        return {
            "terms": {"friends": float(len(who))},
            "friends": [_py(x) for x in self.user_ids_[who]],
            "kinds": kinds,
            "endorsers": [
                {"user": _py(self.user_ids_[f]), "hop": 1, "kinds": [KINDS[int(c)]]}
                for f, c in zip(who, kcodes)
            ],
            "text": _describe(len(who), kinds),
        }

    def _state(self) -> dict[str, np.ndarray]:
        return {
            "kinds": np.asarray([KINDS.index(k) for k in self.kinds_], dtype=np.int64),
            **self.graph_.to_arrays(),
        }

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.kinds_ = tuple(KINDS[int(c)] for c in arrays["kinds"])
        self.graph_ = EndorsementGraph.from_arrays(arrays)
        self.friends_ = sp.csr_matrix(self.graph_.may_see("public"), dtype=np.float64)


class TrustRanker(_SocialRanker):
    """Trust-weighted endorsements: ``score(u, i) = sum_e trust(u, e) * E[e, i]``.

    Composes the pure functions of :mod:`haowurank.trust` under the privacy rule of
    :mod:`haowurank.visibility`:

    1. edge trust ``W = tie_strength(social, public, ...)``: every follow edge u -> f (blocked
       accounts removed) weighs ``base + reciprocity_weight * mutual + shared_weight *
       cosine(public endorsements of u and f) + adoption_weight * log1p(decayed count of u
       publicly recommending after buying what f publicly endorsed before)``, and
       ``P = row_normalize(W)``; only the follow graph and public endorsements enter, so a
       walk through other people's edges never carries their purchases or hidden endorsements;
    2. direct trust: ``score_1(u, i) = sum_f P[u, f] * w(f, i)`` over the direct follows ``f``
       whose endorsement of ``i`` ``u`` may see, ``w`` its kind weight times the decay (divided by
       the total of what ``u`` sees of ``f`` to the power ``endorser_norm``);
    3. wider circle: truncated personalized PageRank on ``P`` from each user over paths of 2 to
       ``max_hops`` follows, with hop weights ``trust_weight * (1 - alpha)^(k - 1)``; those
       accounts' public endorsements (without audience list) ``E_pub`` enter in aggregate:
       ``score_2 = T_wide @ row_normalize(E_pub, power=endorser_norm)``; accounts with no path
       count for nothing (so sybils that nobody honest follows buy no exposure);
    4. ``score = score_1 + score_2 + prior_weight * popularity`` over the candidates (items with
       ``score_1 + score_2 > 0``), where popularity is the kind-weighted endorsement count over
       all users (an aggregate) scaled to [0, 1]; it only orders near-ties.

    Explanations name only the direct follows whose endorsement of the item the user may see
    and give the wider circle as a count ("endorsed in your wider circle (3 people)").

    Parameters
    ----------
    kind_weights : dict of str to float or None
        Weight of each endorsement kind; ``None`` uses
        :data:`haowurank.kinds.ENDORSEMENT_STRENGTH` (recommend_after_purchase 2.0,
        recommend 1.0). Other kinds raise ``ValueError``: purchases are nobody else's signal.
    half_life_days : float or None
        Time decay of endorsements and adoptions (None: no decay).
    reciprocity_weight, shared_weight, adoption_weight : float >= 0
        Tie-strength terms (the bare edge weighs 1).
    alpha : float in (0, 1]
        Restart probability of the personalized PageRank (decay per extra hop is ``1 - alpha``).
    max_hops : int >= 1
        Longest trust path.
    trust_weight : float >= 0
        Weight of multi-hop (friend-of-friend) trust relative to direct trust; 0 gives plain
        direct-friend scoring, 1 (default) makes trust rows exactly proportional to the
        truncated personalized PageRank (a friend-of-friend reached by one path of two edges of
        tie strength 0.1 gets ``0.85 * 0.1 * 0.1``: an order of magnitude below a friend).
    max_endorsers : int or None
        Keep at most this many trusted accounts per user (the largest trust), bounding memory.
    endorser_norm : float >= 0
        Each endorser's row of E is divided by its total endorsement weight to this power
        (:func:`haowurank.trust.row_normalize`): 0 counts every endorsement fully, 1 gives each
        account one vote to spread (so an account endorsing thousands of items does not drown
        the careful ones). Default 0: on LastFM, Ciao and Epinions damping did not help.
    prior_weight : float >= 0
        Weight of the popularity prior added to candidate scores (trust scores are of order 1:
        direct trust sums to 1 per user and endorsements weigh 0.5 to 2).
    fill : bool
        Make every item a candidate (non-endorsed items get the prior only) instead of -inf.
    fallback : {"popularity", "none"}
        What a user with no trusted endorser gets.
    defence : bool, dict or None
        Clean the training data with :func:`haowurank.trust.defend` first (refunds, unverified
        purchase claims, endorsement rate limits, SybilRank-style account trust); ``True`` uses
        :data:`haowurank.trust.DEFAULT_DEFENCE`, a dict overrides some of its keys. The
        popularity fallback then counts the cleaned data too. Default True (on: it costs no
        measurable NDCG@20 on clean data, see ``experiments/attack_robustness/``);
        None or False turns it off.

    Attributes
    ----------
    transition_ : csr_matrix of shape (n_users, n_users)
        Row-normalised tie strength.
    endorsements_ : csr_matrix of shape (n_users, n_items)
        ``E_pub``, row-normalised with ``endorser_norm`` (the wider circle's evidence).
    graph_ : EndorsementGraph
        The visibility structures of the training data (direct trust and explanations).
    prior_ : ndarray of shape (n_items,)
        Popularity in [0, 1].

    References
    ----------
    .. [1] P. Gupta et al. "WTF: The Who to Follow Service at Twitter". WWW 2013.
    .. [2] K. Kamath et al. "RealGraph: User Interaction Prediction at Twitter". KDD 2014.
    .. [3] G. Jeh, J. Widom. "Scaling Personalized Web Search". WWW 2003.
    .. [4] Q. Cao et al. "Aiding the Detection of Fake Accounts in Large Scale Social Online
       Services" (SybilRank). NSDI 2012.

    Examples
    --------
    >>> import haowurank as hr
    >>> from haowurank.testing import small_world
    >>> r = hr.rankers.make("trust", max_hops=2).fit(small_world())
    >>> e = r.explain("u0", r.recommend("u0", n=1)[0][0])
    >>> all(d["hop"] == 1 for d in e["endorsers"])
    True
    """

    name = "trust"

    def __init__(
        self,
        kind_weights: dict[str, float] | None = None,
        half_life_days: float | None = None,
        reciprocity_weight: float = 1.0,
        shared_weight: float = 4.0,
        adoption_weight: float = 1.0,
        alpha: float = 0.15,
        max_hops: int = 2,
        trust_weight: float = 1.0,
        max_endorsers: int | None = 2000,
        endorser_norm: float = 0.0,
        prior_weight: float = 0.05,
        fill: bool = False,
        fallback: str = "popularity",
        defence: bool | dict | None = True,
    ):
        self.kind_weights = kind_weights
        self.half_life_days = half_life_days
        self.reciprocity_weight = reciprocity_weight
        self.shared_weight = shared_weight
        self.adoption_weight = adoption_weight
        self.alpha = alpha
        self.max_hops = max_hops
        self.trust_weight = trust_weight
        self.max_endorsers = max_endorsers
        self.endorser_norm = endorser_norm
        self.prior_weight = prior_weight
        self.fill = fill
        self.fallback = fallback
        self.defence = defence

    # ------------------------------------------------------------------ validation
    def _validate_params(self) -> None:
        def nonneg(v: Any) -> bool:
            return not isinstance(v, bool) and isinstance(v, numbers.Real) and bool(np.isfinite(v)) and v >= 0

        kw = self.kind_weights
        self._check_param(
            "kind_weights",
            kw is None or (
                isinstance(kw, dict) and all(k in ENDORSEMENT_KINDS for k in kw)
                and all(nonneg(v) for v in kw.values()) and any(v > 0 for v in kw.values())
            ),
            f"None or a dict from endorsement kinds {list(ENDORSEMENT_KINDS)} to finite weights "
            ">= 0, one of them > 0 (other people's purchases, views and clicks may enter only "
            "aggregate models: the privacy rule of haowurank.visibility)",
        )
        h = self.half_life_days
        self._check_param("half_life_days", h is None or (nonneg(h) and h > 0), "None or a number > 0")
        for p in ("reciprocity_weight", "shared_weight", "adoption_weight", "trust_weight",
                  "endorser_norm", "prior_weight"):
            self._check_param(p, nonneg(getattr(self, p)), "a finite number >= 0")
        a = self.alpha
        self._check_param("alpha", nonneg(a) and 0 < a <= 1, "a number in (0, 1]")
        mh = self.max_hops
        self._check_param(
            "max_hops",
            isinstance(mh, numbers.Integral) and not isinstance(mh, bool) and 1 <= mh <= 10,
            "an int in [1, 10]",
        )
        me = self.max_endorsers
        self._check_param(
            "max_endorsers",
            me is None or (isinstance(me, numbers.Integral) and not isinstance(me, bool) and me >= 1),
            "None or an int >= 1",
        )
        self._check_param("fill", isinstance(self.fill, bool | np.bool_), "a bool")
        self._check_param("defence", self.defence is None or isinstance(self.defence, bool | dict),
                          "None, a bool or a dict of haowurank.trust.defend parameters")
        self._check_fallback()

    # ------------------------------------------------------------------ fitting
    def _kind_weights(self) -> dict[str, float]:
        kw = ENDORSEMENT_STRENGTH if self.kind_weights is None else self.kind_weights
        return {k: float(v) for k, v in kw.items() if v > 0}

    def _fit(self, ds: Dataset, *, show_progress: bool, callback: Any) -> None:
        ds, self.defence_report_ = trust.defended_training_data(ds, self.defence)
        if self.defence_report_:
            self.fallback_ = trust.item_popularity(ds)
        kw = self._kind_weights()
        blocked = ds.block_matrix()
        social = _strip_blocked(ds.social_matrix(weighted=True).astype(np.float64), blocked)
        now = int(ds.interaction_arrays()["timestamp"].max()) if ds.n_interactions else 0
        timed = ds.has_timestamps
        if self.half_life_days is not None and not timed:
            log.info("TrustRanker: the data carry no timestamps; half_life_days has no effect.")
        half_life = self.half_life_days if timed else None
        self.graph_ = EndorsementGraph(ds)
        self.now_, self.timed_ = now, bool(timed)
        # tie strength from the follow graph and public endorsements only: a walk through
        # other people's edges must not carry their purchases or hidden endorsements
        public = self.graph_.public_endorsements(kw)
        shared = sp.csr_matrix(public, dtype=np.float64)
        shared.data[:] = 1.0
        adoption: dict[str, Any] = {}
        if self.adoption_weight:
            adopter, adopter_t = self.graph_.public_events(["recommend_after_purchase"])
            endorser, endorser_t = self.graph_.public_events(list(kw))
            adoption = dict(adoptions=adopter, endorsements=endorser)
            if timed:
                adoption.update(
                    adoption_times=adopter_t, endorsement_times=endorser_t,
                    half_life_days=self.half_life_days, now=now,
                )
        weights = trust.tie_strength(
            social,
            shared,
            reciprocity_weight=float(self.reciprocity_weight),
            shared_weight=float(self.shared_weight),
            adoption_weight=float(self.adoption_weight),
            **adoption,
        )
        self.transition_ = trust.row_normalize(weights)
        if callback is not None:
            callback("tie_strength", 0.5)
        decayed = self.graph_.public_endorsements(kw, half_life_days=half_life, now=now)
        self.endorsements_ = trust.row_normalize(decayed, power=float(self.endorser_norm))
        # the prior is an aggregate popularity count over every (non-private) endorsement
        votes = trust.kind_weighted_endorsements(ds, kw, half_life, now if timed else None)
        pop = np.asarray(votes.sum(axis=0)).ravel()
        self.prior_ = pop / pop.max() if pop.size and pop.max() > 0 else np.zeros(ds.n_items)
        self.blocked_ = sp.csr_matrix(blocked, dtype=np.float64)
        if callback is not None:
            callback("fit", 1.0)

    # ------------------------------------------------------------------ scoring
    def _hop_weights(self) -> np.ndarray:
        k = np.arange(self.max_hops + 1, dtype=np.float64)
        w = self.trust_weight * (1.0 - self.alpha) ** (k - 1)
        w[0] = 0.0
        w[1] = 1.0
        return w

    def trust_rows(self, uidx: np.ndarray) -> sp.csr_matrix:
        """Trust of the given users (indices) in every account: sparse (len(uidx), n_users).

        Direct follows hold their normalised tie strength, accounts further away
        ``trust_weight`` times their walk mass (the truncated personalized PageRank);
        blocked accounts are removed.
        """
        self._check_fitted()
        uidx = self._checked_uidx(uidx)
        t = propagate(
            self._checked_transition(), uidx, self._hop_weights(), tol=1e-9,
            top_k=self.max_endorsers, exclude_seeds=True,
        )
        return _strip_blocked(t, self.blocked_[uidx])

    def _checked_uidx(self, uidx: np.ndarray) -> np.ndarray:
        uidx = np.asarray(uidx, dtype=np.int64)
        if len(uidx) and (uidx.min() < 0 or uidx.max() >= self.transition_.shape[0]):
            raise ValueError(
                f"The 'uidx' argument must hold user indices in [0, {self.transition_.shape[0]})."
                f" Got values from {int(uidx.min())} to {int(uidx.max())}."
            )
        return uidx

    def _wider_rows(self, uidx: np.ndarray) -> sp.csr_matrix:
        """Multi-hop trust (paths of 2 to ``max_hops`` follows only), blocked accounts removed:
        the accounts whose public endorsements enter in aggregate.

        Each user's row depends only on the fitted walk, so the rows computed since the last
        fit are kept (up to :data:`WIDER_ROWS_KEPT` stored entries in all) and a user scored
        again, e.g. a feed viewer on another day, is not walked again.
        """
        w = self._hop_weights()
        w[1] = 0.0
        n = self.transition_.shape[0]
        if len(w) < 3 or not w.any():
            return sp.csr_matrix((len(uidx), n))
        uidx = np.asarray(uidx, dtype=np.int64)
        key = (self.transition_, self.blocked_, tuple(w.tolist()), self.max_endorsers)
        held = self.__dict__.get("_wider_kept")
        if (held is None or held[0][0] is not key[0] or held[0][1] is not key[1]
                or held[0][2:] != key[2:]):
            held = (key, {}, [0])  # (what the rows depend on, user -> row, entries kept)
            self.__dict__["_wider_kept"] = held
        kept, size = held[1], held[2]
        users = uidx.tolist()
        fresh: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        missing = np.unique(np.asarray([u for u in users if u not in kept], dtype=np.int64))
        if len(missing):
            t = propagate(
                self._checked_transition(), missing, w, tol=1e-9, top_k=self.max_endorsers,
                exclude_seeds=True,
            )
            t = sp.csr_matrix(_strip_blocked(t, self.blocked_[missing]))
            ptr, ind, dat = t.indptr, t.indices, t.data
            for r, u in enumerate(missing.tolist()):
                row = (ind[ptr[r]:ptr[r + 1]].copy(), dat[ptr[r]:ptr[r + 1]].copy())
                fresh[u] = row
                if size[0] + len(row[0]) <= WIDER_ROWS_KEPT:
                    kept[u] = row
                    size[0] += len(row[0])
        parts = [kept.get(u) or fresh[u] for u in users]
        indptr = np.zeros(len(users) + 1, dtype=np.int64)
        np.cumsum([len(p[0]) for p in parts], out=indptr[1:])
        if not parts:
            return sp.csr_matrix((0, n))
        return sp.csr_matrix((np.concatenate([p[1] for p in parts]),
                              np.concatenate([p[0] for p in parts]), indptr), shape=(len(users), n))

    def _checked_transition(self) -> sp.csr_matrix:
        """``transition_`` checked once (``check_transition`` reads the whole matrix: at a
        million users that cost more than a batch's walk when it ran per batch)."""
        held = self.__dict__.get("_transition_checked")
        if held is None or held[0] is not self.transition_:
            held = (self.transition_, check_transition(self.transition_))
            self.__dict__["_transition_checked"] = held
        return held[1]

    def _direct(self, uidx: np.ndarray) -> tuple[VisibleEndorsements, np.ndarray]:
        """The endorsements of direct follows the users may see, and each triple's
        contribution: tie strength x kind weight x decay (x the endorser's normalisation over
        what this viewer sees)."""
        v = self.graph_.visible(uidx)
        if not len(v):
            return v, np.zeros(0)
        kw = self._kind_weights()
        h = self.half_life_days if self.timed_ else None
        vals = v.values(kw, half_life_days=h, now=self.now_)
        pos, hit = csr_positions(self.transition_, uidx[v.viewer], v.endorser)
        tie = np.zeros(len(v))
        tie[hit] = self.transition_.data[pos[hit]]
        if self.endorser_norm:
            pair = v.viewer.astype(np.int64) * self.transition_.shape[0] + v.endorser
            _, inv = np.unique(pair, return_inverse=True)
            tot = np.bincount(inv, weights=vals)[inv]
            vals = np.where(tot > 0, vals / np.power(np.maximum(tot, 1e-300), self.endorser_norm), 0)
        return v, tie * vals

    def _candidates(self, uidx: np.ndarray) -> sp.csr_matrix:
        uidx = np.asarray(uidx, dtype=np.int64)
        v, contrib = self._direct(uidx)
        n_items = self.endorsements_.shape[1]
        direct = sp.csr_matrix(
            (contrib, (v.viewer, v.item.astype(np.int64))), shape=(len(uidx), n_items)
        )
        direct.sum_duplicates()
        direct.eliminate_zeros()
        wider = self._wider_rows(uidx)
        # both canonical: the sum comes out sorted (no comparison sort of the rows)
        out = (sp.csr_matrix(direct + sorted_product(wider, self.endorsements_)) if wider.nnz
               else direct)
        out.sort_indices()
        return out

    def _dense_offset(self) -> np.ndarray | None:
        return self.prior_weight * self.prior_ if self.prior_weight else None

    def _fills(self) -> bool:
        return bool(self.fill)

    # ------------------------------------------------------------------ explanations
    def _explain(self, u: int, i: int, top: int = 5) -> dict[str, Any]:
        uidx = np.asarray([u], dtype=np.int64)
        if self._candidates(uidx).nnz == 0:
            return self._fallback_explanation(i, "No trusted endorser")
        v, contrib = self._direct(uidx)
        keep = np.flatnonzero((v.item == i) & (contrib > 0))
        order = keep[np.lexsort((v.endorser[keep], -contrib[keep]))]
        pos, hit = csr_positions(self.transition_, np.full(len(order), u), v.endorser[order])
        tie = np.where(hit, self.transition_.data[pos] if len(pos) else 0.0, 0.0)
        endorsers = [
            {
                "user": _py(self.user_ids_[v.endorser[j]]),
                "hop": 1,
                "trust": float(t),
                "contribution": float(contrib[j]),
                "kinds": [KINDS[int(v.kind[j])]],
            }
            for j, t in zip(order, tie)
        ]
        named = set(int(e) for e in v.endorser[order])
        wider = self._wider_rows(uidx)
        col = self.endorsements_[:, [i]].tocsr()
        e_vals = np.asarray(col[wider.indices].toarray()).ravel() if wider.nnz else np.zeros(0)
        wc = wider.data * e_vals if wider.nnz else np.zeros(0)
        circle = [int(a) for a, c in zip(wider.indices, wc) if c > 0 and int(a) not in named]
        direct_total = float(contrib[keep].sum())
        wider_total = float(wc.sum())
        prior = float(self.prior_weight * self.prior_[i])
        friends = [d["user"] for d in endorsers]
        kinds = _kind_counts(np.left_shift(1, v.kind[order].astype(np.int64)))
        if not endorsers and not circle:
            return {"terms": {"trust": 0.0, "wider_circle": 0.0, "prior": prior}, "friends": [],
                    "kinds": {}, "endorsers": [], "n_endorsers": 0, "n_wider_circle": 0,
                    "text": "No trusted account endorsed this item."}
        parts = []
        if endorsers:
            lead = ", ".join(f"{d['user']} ({d['kinds'][0]})" for d in endorsers[:top])
            parts.append(_describe(len(endorsers), kinds) + f" Top: {lead}.")
        if circle:
            parts.append(f"Endorsed in your wider circle ({_plural(len(circle), 'person')}"
                         .replace("persons", "people") + ").")
        return {
            "terms": {"trust": direct_total, "wider_circle": wider_total, "prior": prior},
            "friends": friends,
            "kinds": kinds,
            "endorsers": endorsers[:top],
            "n_endorsers": len(endorsers),
            "n_wider_circle": len(circle),
            "text": " ".join(parts),
        }

    # ------------------------------------------------------------------ persistence
    def _state(self) -> dict[str, np.ndarray]:
        return {
            **csr_to_arrays("transition", self.transition_),
            **csr_to_arrays("endorsements", self.endorsements_),
            **csr_to_arrays("blocked", self.blocked_),
            "prior": self.prior_,
            "now": np.asarray([self.now_, int(self.timed_)], dtype=np.int64),
            **self.graph_.to_arrays(),
        }

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.transition_ = arrays_to_csr("transition", arrays)
        self.endorsements_ = arrays_to_csr("endorsements", arrays)
        self.blocked_ = arrays_to_csr("blocked", arrays)
        self.prior_ = arrays["prior"]
        self.now_, self.timed_ = int(arrays["now"][0]), bool(arrays["now"][1])
        self.graph_ = EndorsementGraph.from_arrays(arrays)
