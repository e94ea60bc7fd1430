"""Social rankers: the plain friends'-circle rule and trust-weighted endorsements.

Both score a user's candidates from what other accounts endorsed, so both score known users who
have no interactions of their own (``handles_empty_users``), and both rank only items that some
endorser the user trusts vouched for (others score -inf).

Cold start (documented contract): an unknown user id, and a known user for whom no trusted
endorser vouched for anything (no friends, or friends who endorsed nothing), get the base class
fallback: item popularity in the training data. Pass ``fallback="none"`` to leave such users
with an empty list instead (what a strict friends-only feed wants).

Blocks are honoured: an account ``u`` blocked never contributes to ``u``'s scores.
"""

from __future__ import annotations

import logging
import numbers
from typing import Any

import numpy as np
import scipy.sparse as sp

from .. import trust
from .._arrays import csr_positions
from .._dataset import ENDORSEMENT_KINDS, KINDS, Dataset
from ..trust._propagation import check_transition, propagate
from ._base import Ranker, arrays_to_csr, csr_to_arrays, register, topk

__all__ = ["FriendEndorsementRanker", "TrustRanker"]

log = logging.getLogger(__name__)

_FALLBACKS = ("popularity", "none")


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
                order = np.lexsort((ci, -v))[:n]
                out_i[known[r], : len(order)] = ci[order]
                out_s[known[r], : len(order)] = v[order]
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


def _resolve_kinds(ds: Dataset, kinds: Any, owner: str) -> tuple[str, ...]:
    if kinds is not None:
        return tuple([kinds] if isinstance(kinds, str) else kinds)
    codes = ds.interaction_arrays()["kind"]
    endorse = [KINDS.index(k) for k in ENDORSEMENT_KINDS]
    if np.isin(codes, endorse).any():
        return tuple(ENDORSEMENT_KINDS)
    log.info(
        "%s: the training data hold no recommendation; counting purchases as endorsements "
        "(pass kinds=... to choose).", owner,
    )
    return ("purchase",)


@register
class FriendEndorsementRanker(_SocialRanker):
    """The plain friends'-circle rule: score = number of the user's friends who endorsed the item.

    Friends are the users the user follows (social rows ``user -> friend``), minus anyone the
    user blocked. Only items endorsed by at least one friend are candidates; others score -inf.
    Known users with friends but no purchases of their own still get a feed.

    Parameters
    ----------
    kinds : sequence of str or None
        Interaction kinds that count as an endorsement. ``None`` (default): the endorsement kinds
        ("recommend", "recommend_after_purchase") when the training data hold any, otherwise
        purchases (for data sets whose only kind is "purchase", such as LastFM, Ciao, Epinions).
        Rows with visibility "private" never count.
    fallback : {"popularity", "none"}
        What a user whose friends endorsed nothing gets: popularity (default), or nothing.

    Attributes
    ----------
    kinds_ : tuple of str
        The kinds actually counted.
    friends_ : csr_matrix of shape (n_users, n_users)
        0/1 follow matrix used for scoring.
    endorsed_ : csr_matrix of int16, shape (n_users, n_items)
        Bit mask of the kinds each user endorsed each item with.

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

    def __init__(self, kinds: list[str] | tuple[str, ...] | None = None, fallback: str = "popularity"):
        self.kinds = kinds
        self.fallback = fallback

    def _validate_params(self) -> None:
        k = self.kinds
        ok = k is None or (
            isinstance(k, list | tuple | str)
            and len(k) > 0
            and all(isinstance(x, str) and x in KINDS for x in ([k] if isinstance(k, str) else k))
        )
        self._check_param("kinds", ok, f"None or a non-empty list of kinds among {list(KINDS)}")
        self._check_fallback()

    def _fit(self, ds: Dataset, *, show_progress: bool, callback: Any) -> None:
        self.kinds_ = _resolve_kinds(ds, self.kinds, type(self).__name__)
        friends = ds.social_matrix(weighted=False).astype(np.float64)
        self.friends_ = _strip_blocked(friends, ds.block_matrix())
        self.endorsed_ = trust.endorsement_kinds(ds, self.kinds_)
        self._votes = self._binary_votes()
        if callback is not None:
            callback("fit", 1.0)

    def _binary_votes(self) -> sp.csr_matrix:
        e = self.endorsed_
        return sp.csr_matrix((np.ones(e.nnz), e.indices, e.indptr), shape=e.shape)

    def _candidates(self, uidx: np.ndarray) -> sp.csr_matrix:
        return sp.csr_matrix(self.friends_[uidx] @ self._votes)

    def _explain(self, u: int, i: int) -> dict[str, Any]:
        friends = self.friends_[u].indices
        col = self.endorsed_[:, [i]].tocsr()
        masks = np.asarray(col[friends].toarray()).ravel().astype(np.int64)
        who = friends[masks > 0]
        masks = masks[masks > 0]
        if not len(who):
            if self._candidates(np.asarray([u])).nnz == 0:
                return self._fallback_explanation(i, "No friend endorsed anything")
            return {"terms": {"friends": 0.0}, "friends": [], "kinds": {},
                    "text": "No friend endorsed this item."}
        kinds = _kind_counts(masks)
        return {
            "terms": {"friends": float(len(who))},
            "friends": [_py(x) for x in self.user_ids_[who]],
            "kinds": kinds,
            "endorsers": [
                {"user": _py(self.user_ids_[f]), "hop": 1, "kinds": trust.decode_kinds(mk)}
                for f, mk in zip(who, masks)
            ],
            "text": _describe(len(who), kinds),
        }

    def _state(self) -> dict[str, np.ndarray]:
        return {
            "kinds": np.asarray([KINDS.index(k) for k in self.kinds_], dtype=np.int64),
            **csr_to_arrays("friends", self.friends_),
            **csr_to_arrays("endorsed", self.endorsed_),
        }

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.kinds_ = tuple(KINDS[int(c)] for c in arrays["kinds"])
        self.friends_ = arrays_to_csr("friends", arrays)
        self.endorsed_ = arrays_to_csr("endorsed", arrays)
        self._votes = self._binary_votes()


@register
class TrustRanker(_SocialRanker):
    """Trust-weighted endorsements: ``score(u, i) = sum_e trust(u, e) * E[e, i]``.

    Composes the pure functions of :mod:`haowurank.trust`:

    1. edge trust ``W = tie_strength(social, interactions, ...)``: every follow edge u -> f
       weighs ``base + reciprocity_weight * mutual + shared_weight * cosine(I_u, I_f) +
       adoption_weight * log1p(decayed count of u buying what f endorsed before)``, and
       ``P = row_normalize(W)``;
    2. multi-hop trust by truncated personalized PageRank on ``P`` from each user, with hop
       weights ``[0, 1, trust_weight * (1 - alpha), trust_weight * (1 - alpha)^2, ...]``: direct
       friends hold their normalised tie strength, friends-of-friends count ``trust_weight``
       times their walk mass, and accounts with no path of at most ``max_hops`` hops count for
       nothing (so sybils that nobody honest follows buy no exposure);
    3. endorsements ``E = row_normalize(kind_weighted_endorsements(ds, kind_weights,
       half_life_days), power=endorser_norm)``;
    4. ``score = trust_rows @ E + prior_weight * popularity`` over the candidates (items some
       trusted endorser vouched for), where popularity is the kind-weighted endorsement count
       scaled to [0, 1]; it only orders near-ties.

    Parameters
    ----------
    kind_weights : dict of str to float or None
        Weight of each kind as an endorsement; ``None`` uses
        :data:`haowurank.trust.DEFAULT_KIND_WEIGHTS` (recommend_after_purchase 2.0, recommend
        1.0, purchase 0.5). Purchases count so that the ranker works on purchase-only data.
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
        measurable NDCG@20 on clean data, see ``experiments/results/attack_robustness.md``);
        None or False turns it off.

    Attributes
    ----------
    transition_ : csr_matrix of shape (n_users, n_users)
        Row-normalised tie strength.
    endorsements_ : csr_matrix of shape (n_users, n_items)
        E.
    endorsed_ : csr_matrix of int16, shape (n_users, n_items)
        Bit mask of the kinds behind E (for explanations).
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
    >>> r.explain("u0", r.recommend("u0", n=1)[0][0])["endorsers"][0]["hop"] in (1, 2)
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
                isinstance(kw, dict) and all(k in KINDS for k in kw)
                and all(nonneg(v) for v in kw.values()) and any(v > 0 for v in kw.values())
            ),
            f"None or a dict from kinds {list(KINDS)} to finite weights >= 0, one of them > 0",
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
        kw = trust.DEFAULT_KIND_WEIGHTS if self.kind_weights is None else self.kind_weights
        return {k: float(v) for k, v in kw.items() if v > 0}

    def _fit(self, ds: Dataset, *, show_progress: bool, callback: Any) -> None:
        ds, self.defence_report_ = trust.defended_training_data(ds, self.defence)
        if self.defence_report_:
            self.fallback_ = trust.item_popularity(ds)
        kw = self._kind_weights()
        kinds = list(kw)
        blocked = ds.block_matrix()
        social = _strip_blocked(ds.social_matrix(weighted=True).astype(np.float64), blocked)
        now = int(ds.interaction_arrays()["timestamp"].max()) if ds.n_interactions else 0
        timed = ds.has_timestamps
        if self.half_life_days is not None and not timed:
            log.info("TrustRanker: the data carry no timestamps; half_life_days has no effect.")
        # shared term: what each user bought or endorsed; adoption term: u bought what f endorsed
        interactions, _ = trust.event_times(ds, kinds, how="last")
        adoption: dict[str, Any] = {}
        if self.adoption_weight:
            bought = ["purchase", "recommend_after_purchase"]
            adopter, adopter_t = trust.event_times(ds, bought, how="last")
            endorser, endorser_t = trust.event_times(ds, kinds, how="first")
            adoption = dict(adoptions=adopter, endorsements=endorser)
            if timed:
                adoption.update(
                    adoption_times=adopter_t, endorsement_times=endorser_t,
                    half_life_days=self.half_life_days, now=now,
                )
        weights = trust.tie_strength(
            social,
            interactions,
            reciprocity_weight=float(self.reciprocity_weight),
            shared_weight=float(self.shared_weight),
            adoption_weight=float(self.adoption_weight),
            **adoption,
        )
        self.transition_ = trust.row_normalize(weights)
        if callback is not None:
            callback("tie_strength", 0.5)
        votes = trust.kind_weighted_endorsements(
            ds, kw, self.half_life_days if timed else None, now if timed else None
        )
        self.endorsements_ = trust.row_normalize(votes, power=float(self.endorser_norm))
        self.endorsed_ = trust.endorsement_kinds(ds, kinds)
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
        """Trust of the given users (indices) in every account: sparse (len(uidx), n_users)."""
        self._check_fitted()
        uidx = np.asarray(uidx, dtype=np.int64)
        if len(uidx) and (uidx.min() < 0 or uidx.max() >= self.transition_.shape[0]):
            raise ValueError(
                f"The 'uidx' argument must hold user indices in [0, {self.transition_.shape[0]})."
                f" Got values from {int(uidx.min())} to {int(uidx.max())}."
            )
        t = propagate(
            self._checked_transition(), uidx, self._hop_weights(), tol=1e-9,
            top_k=self.max_endorsers, exclude_seeds=True,
        )
        return _strip_blocked(t, self.blocked_[uidx])

    def _checked_transition(self) -> sp.csr_matrix:
        """``transition_`` checked once (``check_transition`` reads the whole matrix: at a
        million users that cost more than a batch's walk when it ran per batch)."""
        held = self.__dict__.get("_transition_checked")
        if held is None or held[0] is not self.transition_:
            held = (self.transition_, check_transition(self.transition_))
            self.__dict__["_transition_checked"] = held
        return held[1]

    def _candidates(self, uidx: np.ndarray) -> sp.csr_matrix:
        return sp.csr_matrix(self.trust_rows(uidx) @ self.endorsements_)

    def _dense_offset(self) -> np.ndarray | None:
        return self.prior_weight * self.prior_ if self.prior_weight else None

    def _fills(self) -> bool:
        return bool(self.fill)

    # ------------------------------------------------------------------ explanations
    def _explain(self, u: int, i: int, top: int = 5) -> dict[str, Any]:
        t = self.trust_rows(np.asarray([u]))
        if t.nnz == 0 or (t @ self.endorsements_).nnz == 0:
            return self._fallback_explanation(i, "No trusted endorser")
        col = self.endorsements_[:, [i]].tocsr()
        e_vals = np.asarray(col[t.indices].toarray()).ravel()
        contrib = t.data * e_vals
        nz = np.flatnonzero(contrib > 0)
        prior = float(self.prior_weight * self.prior_[i])
        if not len(nz):
            return {"terms": {"trust": 0.0, "prior": prior}, "friends": [], "kinds": {},
                    "endorsers": [], "text": "No trusted account endorsed this item."}
        order = nz[np.lexsort((t.indices[nz], -contrib[nz]))]
        who = t.indices[order]
        dist = trust.hop_distances(self.transition_, u, self.max_hops)
        kmask = np.asarray(self.endorsed_[:, [i]].tocsr()[who].toarray()).ravel()
        endorsers = [
            {
                "user": _py(self.user_ids_[e]),
                "hop": int(dist[e]),
                "trust": float(t.data[j]),
                "weight": float(e_vals[j]),
                "contribution": float(contrib[j]),
                "kinds": trust.decode_kinds(mk),
            }
            for e, j, mk in zip(who, order, kmask)
        ]
        friends = [d["user"] for d in endorsers if d["hop"] == 1]
        kinds = _kind_counts(kmask)
        n_fof = len(endorsers) - len(friends)
        total = float(contrib[nz].sum())
        def where(d: dict[str, Any]) -> str:
            return "friend" if d["hop"] == 1 else f"hop {d['hop']}"

        lead = ", ".join(
            f"{d['user']} ({where(d)}: {'/'.join(d['kinds']) or 'endorsed'})"
            for d in endorsers[:top]
        )
        text = _describe(len(endorsers), kinds, "trusted account")
        far = "friends-of-friends" if self.max_hops <= 2 else "further away"
        text += f" {_plural(len(friends), 'friend')} and {n_fof} {far} among them. Top: {lead}."
        return {
            "terms": {"trust": total, "prior": prior},
            "friends": friends,
            "kinds": kinds,
            "endorsers": endorsers[:top],
            "n_endorsers": len(endorsers),
            "text": text,
        }

    # ------------------------------------------------------------------ persistence
    def _state(self) -> dict[str, np.ndarray]:
        return {
            **csr_to_arrays("transition", self.transition_),
            **csr_to_arrays("endorsements", self.endorsements_),
            **csr_to_arrays("endorsed", self.endorsed_),
            **csr_to_arrays("blocked", self.blocked_),
            "prior": self.prior_,
        }

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.transition_ = arrays_to_csr("transition", arrays)
        self.endorsements_ = arrays_to_csr("endorsements", arrays)
        self.endorsed_ = arrays_to_csr("endorsed", arrays)
        self.blocked_ = arrays_to_csr("blocked", arrays)
        self.prior_ = arrays["prior"]
