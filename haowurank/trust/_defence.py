"""Defences against fake accounts and fake reviews, as pure functions of a Dataset.

Each step reads a :class:`~haowurank.Dataset` and returns a mask, a vector or a new Dataset;
nothing is modified in place. :func:`defend` composes them into the cleaned training data that
a ranker fits on (``make("trust", defence=True)``, ``make("hybrid", defence=True)``):

1. **Refund handling** (:func:`refunded_rows`): rows whose ``order_id`` is listed in
   ``ds.meta["refunded_orders"]`` (or passed explicitly) are dropped: a refunded order is no
   purchase.
2. **Verified-purchase weighting** (:func:`unverified_rows`): a ``"recommend_after_purchase"``
   with no (kept) purchase of the same item by the same account is demoted to a plain
   ``"recommend"``, so it weighs what an unverified recommendation weighs
   (:data:`haowurank.kinds.TRUST_EVIDENCE_WEIGHTS`: 1 instead of 2); and the endorsements of
   accounts with fewer than ``min_purchases`` kept purchases of any item (accounts that
   recommend without ever buying: review padding) are dropped (:func:`non_buyer_rows`), by
   default only on data whose ``"purchase"`` rows record purchases (not ratings).
3. **Per-account endorsement rate limits** (:func:`rate_limited_rows`): at most
   ``max_endorsements_per_day`` endorsements per account and calendar day (UTC); later ones are
   dropped. :func:`defend` applies it only to data with timestamps.
4. **Trust from honest structure** (:func:`sybil_rank`, :func:`account_trust`): an early
   terminated power iteration of trust along follow edges (u follows f: trust flows from u to
   f) from seed accounts (verified buyers; active accounts on data whose ``"purchase"`` rows
   are ratings or listens), for ``ceil(log2(n_users))`` steps, degree normalised, as in
   SybilRank. A sybil region joined to the honest graph by few attack edges receives little
   trust however many accounts or internal edges it has. Accounts with at least one follower
   whose normalised trust is below ``sybil_threshold`` times the median trust of such accounts
   (capped at the level every account would hold if trust were spread evenly over all follow
   edges; :func:`sybil_cut`) are *suspicious*, and their endorsements (or all their rows,
   ``drop="all"``) are dropped.

Suspicious accounts keep their follow rows and, by default, their purchases and views: they
are still served, only their endorsements no longer count as evidence for anyone else.

A defence exists so that suspicious accounts cannot shape what *other* users see; it need not
blind a ranker to an account's own tastes. So besides the cleaned data shared by everyone
(:attr:`Defence.dataset`), :func:`defend` returns each account's own view
(:attr:`Defence.own`, ``own_history=True``): the cleaned data plus the rows the account-level
steps (non-buyer, rate limit, sybil) withheld from the shared data; refunded orders stay out
(a refunded order is no purchase). A ranker fits everything that reaches other users
(item-side state, neighbour pools, popularity, the trust and endorsement graphs) on the shared
data and only an account's own user-side state on its own view (``hybrid``;
:func:`defended_views`).

References
----------
.. [1] Q. Cao, M. Sirivianos, X. Yang, T. Pregueiro. "Aiding the Detection of Fake Accounts in
   Large Scale Social Online Services" (SybilRank). NSDI 2012.
.. [2] H. Yu, M. Kaminsky, P. B. Gibbons, A. Flaxman. "SybilGuard: Defending Against Sybil
   Attacks via Social Networks". SIGCOMM 2006.
.. [3] B. Mobasher, R. Burke, R. Bhaumik, C. Williams. "Toward Trustworthy Recommender
   Systems: An Analysis of Attack Models and Algorithm Robustness". ACM TOIT 7(4), 2007.

Examples
--------
>>> import haowurank as hr
>>> from haowurank.testing import small_world
>>> atk = hr.attacks.inject(small_world(), target=101, n_sybils=10, attack_edges=1, seed=0)
>>> res = hr.trust.defend(atk.dataset)
>>> bool(res.suspicious[atk.dataset.user_index(atk.attackers)].all())
True
"""

from __future__ import annotations

import logging
import math
import numbers
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._arrays import isin_sorted as _in_sorted
from .._arrays import unique_sorted as _unique_sorted
from .._dataset import ENDORSEMENT_KINDS, KINDS, Dataset, merge_duplicates
from .._errors import DataWarning
from .._random import SeedLike, rng
from ._graph import _as_csr, row_normalize

__all__ = [
    "DEFAULT_DEFENCE",
    "REFUNDS_KEY",
    "Defence",
    "account_trust",
    "defend",
    "defended_training_data",
    "defended_views",
    "item_popularity",
    "non_buyer_rows",
    "rate_limited_rows",
    "refunded_rows",
    "sybil_cut",
    "sybil_rank",
    "trust_seeds",
    "unverified_rows",
    "without_endorsements_of",
]

log = logging.getLogger(__name__)

#: ``Dataset.meta`` key holding the refunded order ids (list of str).
REFUNDS_KEY = "refunded_orders"
#: The parameters of :func:`defend` that ``defence=True`` means.
DEFAULT_DEFENCE: dict[str, Any] = {
    "refunds": True,
    "verify": True,
    "min_purchases": "auto",
    "max_endorsements_per_day": 50,
    "sybil_threshold": 0.2,
    "sybil_reference": "median",
    "seeds": "auto",
    "n_seeds": None,
    "iterations": None,
    "drop": "endorsements",
    "own_history": True,
    "seed": 0,
}

_KIND_CODE = {k: i for i, k in enumerate(KINDS)}
_ENDORSE = np.asarray([_KIND_CODE[k] for k in ENDORSEMENT_KINDS])
_DAY = 86_400


@dataclass(frozen=True)
class Defence:
    """The result of :func:`defend`.

    Attributes
    ----------
    dataset : Dataset
        The cleaned data (same vocabularies, social graph, blocks and items).
    suspicious : ndarray of bool, shape (n_users,)
        Accounts whose endorsements were dropped for lack of trust from honest structure
        (never an account nobody follows: the trust walk cannot reach it, so its trust of 0 is
        no evidence about it).
    account_trust : ndarray of float64, shape (n_users,)
        Degree-normalised SybilRank trust in units of the even-spread level (NaN when the
        step was off).
    report : dict
        Counts of what each step did.
    own : Dataset or None
        Each account's own view: ``dataset`` plus the rows the account-level steps
        (:func:`non_buyer_rows`, :func:`rate_limited_rows`, the sybil step) withheld from it,
        with the same demotions; refunded orders stay out. ``dataset`` itself when nothing was
        withheld; None with ``own_history=False``. A consumer may read an account's own rows
        from it for that account's own state only (what it may recommend to that account),
        never for anything another user sees.
    """

    dataset: Dataset
    suspicious: np.ndarray
    account_trust: np.ndarray
    report: dict = field(default_factory=dict)
    own: Dataset | None = None


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------

def _check_ds(ds: Any, func: str) -> Dataset:
    if not isinstance(ds, Dataset):
        raise TypeError(
            f"The 'ds' argument of trust.{func} must be a haowurank Dataset. "
            f"Got {type(ds).__name__} instead."
        )
    return ds


def _keep_mask(ds: Dataset, keep: Any, func: str) -> np.ndarray:
    if keep is None:
        return np.ones(ds.n_interactions, dtype=bool)
    k = np.asarray(keep)
    if k.dtype != bool or k.shape != (ds.n_interactions,):
        raise ValueError(
            f"The 'keep' parameter of trust.{func} must be a boolean array of shape "
            f"({ds.n_interactions},). Got dtype {k.dtype} and shape {k.shape}."
        )
    return k


def item_popularity(ds: Dataset) -> np.ndarray:
    """Distinct users per item (any kind), float32 of shape (n_items,): the rankers' fallback."""
    _check_ds(ds, "item_popularity")
    return np.asarray(ds.matrix(weight="binary").sum(axis=0)).ravel().astype(np.float32)


# --------------------------------------------------------------------------------------------
# row-level defences
# --------------------------------------------------------------------------------------------

def refunded_rows(ds: Dataset, refunded_orders: Iterable[Any] | None = None) -> np.ndarray:
    """Rows whose ``order_id`` was refunded.

    Parameters
    ----------
    ds : Dataset
    refunded_orders : iterable of order ids, optional
        Default ``ds.meta["refunded_orders"]`` (empty when absent).

    Returns
    -------
    ndarray of bool, shape (n_interactions,)
    """
    _check_ds(ds, "refunded_rows")
    orders = ds.meta.get(REFUNDS_KEY, []) if refunded_orders is None else refunded_orders
    if isinstance(orders, str | bytes):
        raise TypeError(
            "The 'refunded_orders' parameter of trust.refunded_rows must be an iterable of order "
            f"ids, not a single string. Got {orders!r}."
        )
    orders = [str(o) for o in orders]
    arr = ds.interaction_arrays()
    if not orders or "order_id" not in arr:
        return np.zeros(ds.n_interactions, dtype=bool)
    oid = pd.Series(arr["order_id"], dtype=object)
    return oid.isin(set(orders)).to_numpy() & oid.notna().to_numpy()


def unverified_rows(ds: Dataset, keep: np.ndarray | None = None) -> np.ndarray:
    """``"recommend_after_purchase"`` rows with no kept purchase of that item by that account.

    Parameters
    ----------
    ds : Dataset
    keep : ndarray of bool, shape (n_interactions,), optional
        Rows that still count (e.g. not refunded); a purchase outside ``keep`` verifies nothing.

    Returns
    -------
    ndarray of bool, shape (n_interactions,)
        True for kept ``"recommend_after_purchase"`` rows that no kept purchase backs.
    """
    _check_ds(ds, "unverified_rows")
    keep = _keep_mask(ds, keep, "unverified_rows")
    arr = ds.interaction_arrays()
    kind = arr["kind"]
    key = arr["user"].astype(np.int64) * max(ds.n_items, 1) + arr["item"]
    bought = _unique_sorted(key[keep & (kind == _KIND_CODE["purchase"])])
    rap = np.flatnonzero(keep & (kind == _KIND_CODE["recommend_after_purchase"]))
    out = np.zeros(len(kind), dtype=bool)
    out[rap] = ~_in_sorted(key[rap], bought)  # only these rows are looked up
    return out


def non_buyer_rows(ds: Dataset, min_purchases: int = 1, *, keep: np.ndarray | None = None
                   ) -> np.ndarray:
    """Endorsements by accounts with fewer than ``min_purchases`` distinct items bought.

    Parameters
    ----------
    ds : Dataset
    min_purchases : int >= 1
        Distinct items an account must have bought (kept ``"purchase"`` rows) for its
        endorsements to count.
    keep : ndarray of bool, optional
        Rows that count (a refunded purchase is no purchase).

    Returns
    -------
    ndarray of bool, shape (n_interactions,)
        True for kept endorsement rows of accounts below the bar.
    """
    _check_ds(ds, "non_buyer_rows")
    if isinstance(min_purchases, bool) or not isinstance(min_purchases, numbers.Integral) or (
        min_purchases < 1
    ):
        raise ValueError(
            f"The 'min_purchases' parameter of trust.non_buyer_rows must be an int >= 1. "
            f"Got {min_purchases!r} instead."
        )
    keep = _keep_mask(ds, keep, "non_buyer_rows")
    arr = ds.interaction_arrays()
    n = max(ds.n_items, 1)
    buy = keep & (arr["kind"] == _KIND_CODE["purchase"])
    pairs = _unique_sorted(arr["user"][buy].astype(np.int64) * n + arr["item"][buy])
    bought = np.bincount(pairs // n, minlength=ds.n_users)
    return keep & np.isin(arr["kind"], _ENDORSE) & (bought[arr["user"]] < int(min_purchases))


def rate_limited_rows(
    ds: Dataset,
    max_per_day: int,
    *,
    kinds: Iterable[str] = ENDORSEMENT_KINDS,
    keep: np.ndarray | None = None,
) -> np.ndarray:
    """Endorsements beyond ``max_per_day`` per account and calendar day (UTC).

    Within an (account, day) the earliest rows are kept (ties: the lower item index). Without
    timestamps every row falls on one day, so the limit is a total per account.

    Parameters
    ----------
    ds : Dataset
    max_per_day : int >= 1
    kinds : iterable of str
        Kinds the limit applies to (default the endorsement kinds).
    keep : ndarray of bool, optional
        Rows still counted (dropped rows neither count nor are returned).

    Returns
    -------
    ndarray of bool, shape (n_interactions,)
        True for the rows over the limit.
    """
    _check_ds(ds, "rate_limited_rows")
    if isinstance(max_per_day, bool) or not isinstance(max_per_day, numbers.Integral) or max_per_day < 1:
        raise ValueError(
            f"The 'max_per_day' parameter of trust.rate_limited_rows must be an int >= 1. "
            f"Got {max_per_day!r} instead."
        )
    ks = [kinds] if isinstance(kinds, str) else list(kinds)
    bad = [k for k in ks if k not in _KIND_CODE]
    if bad:
        raise ValueError(f"The 'kinds' parameter must name kinds among {list(KINDS)}. Got {bad}.")
    keep = _keep_mask(ds, keep, "rate_limited_rows")
    arr = ds.interaction_arrays()
    rows = np.flatnonzero(keep & np.isin(arr["kind"], [_KIND_CODE[k] for k in ks]))
    out = np.zeros(ds.n_interactions, dtype=bool)
    if not len(rows):
        return out
    day = np.floor_divide(arr["timestamp"][rows], _DAY)
    order = np.lexsort((arr["item"][rows], arr["timestamp"][rows], day, arr["user"][rows]))
    r = rows[order]
    grp = np.r_[True, (arr["user"][r][1:] != arr["user"][r][:-1]) | (day[order][1:] != day[order][:-1])]
    starts = np.flatnonzero(grp)
    pos = np.arange(len(r)) - np.repeat(starts, np.diff(np.r_[starts, len(r)]))
    out[r[pos >= max_per_day]] = True
    return out


# --------------------------------------------------------------------------------------------
# account-level defence: trust from honest structure
# --------------------------------------------------------------------------------------------

def sybil_rank(
    social: sp.spmatrix,
    seeds: Any,
    *,
    iterations: int | None = None,
) -> np.ndarray:
    """Degree-normalised trust after an early-terminated power iteration from seed accounts.

    Trust starts evenly on the seeds (total 1) and flows along follow edges: every step each
    account passes its trust, split evenly, to the accounts it follows (``T <- T @ P`` with
    ``P = row_normalize(binary(social))``). After ``iterations`` steps each account's trust is
    divided by its in-degree (number of followers) and expressed in units of the even-spread
    level ``sum(T) / sum(in-degree)``; on an undirected (all mutual) graph this is exactly
    SybilRank [1]_, where honest accounts approach 1 and a sybil region behind few attack edges
    stays far below.

    Parameters
    ----------
    social : sparse matrix of shape (n_users, n_users)
        Follow graph (entry (u, f) > 0: u follows f). Values are ignored (a follow is a follow:
        weights are the follower's own choice and a sybil could inflate them).
    seeds : array-like of int
        Indices of trusted accounts.
    iterations : int, optional
        Power-iteration steps; default ``ceil(log2(n_users))`` (SybilRank's O(log n)).

    Returns
    -------
    ndarray of float64, shape (n_users,)
        Normalised trust (0 for accounts nobody follows or no walk reached).

    References
    ----------
    .. [1] Q. Cao et al. "Aiding the Detection of Fake Accounts in Large Scale Social Online
       Services". NSDI 2012.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> ring = sp.csr_matrix(([1.0] * 6, ([0, 1, 1, 2, 2, 0], [1, 0, 2, 1, 0, 2])), shape=(4, 4))
    >>> sybil_rank(ring, [0], iterations=12).round(2).tolist()  # account 3 is unreachable
    [1.0, 1.0, 1.0, 0.0]
    """
    s = _as_csr(social, "social", square=True)
    n = s.shape[0]
    seeds = np.unique(np.asarray(seeds, dtype=np.int64).ravel())
    if len(seeds) == 0:
        raise ValueError("The 'seeds' parameter of trust.sybil_rank must hold at least one account.")
    if seeds.min() < 0 or seeds.max() >= n:
        raise ValueError(
            f"The 'seeds' parameter of trust.sybil_rank must hold user indices in [0, {n}). "
            f"Got values from {int(seeds.min())} to {int(seeds.max())}."
        )
    if iterations is None:
        iterations = max(1, math.ceil(math.log2(max(n, 2))))
    if isinstance(iterations, bool) or not isinstance(iterations, numbers.Integral) or iterations < 1:
        raise ValueError(
            f"The 'iterations' parameter of trust.sybil_rank must be an int >= 1. Got {iterations!r}."
        )
    b = s.copy()
    b.data = np.ones(len(b.data))
    b.eliminate_zeros()
    p = row_normalize(b)
    pt = sp.csr_matrix(p.T)
    t = np.zeros(n)
    t[seeds] = 1.0 / len(seeds)
    for _ in range(int(iterations)):
        t = pt @ t
    indeg = np.diff(sp.csc_matrix(b).indptr).astype(np.float64)
    total = t.sum()
    level = total / indeg.sum() if indeg.sum() > 0 and total > 0 else 0.0
    if level == 0:
        return np.zeros(n)
    return np.divide(t, indeg * level, out=np.zeros(n), where=indeg > 0)


def trust_seeds(
    ds: Dataset,
    n_seeds: int | None = None,
    *,
    keep: np.ndarray | None = None,
    seed: SeedLike = 0,
) -> np.ndarray:
    """Seed accounts for :func:`sybil_rank`: verified buyers picked at random.

    Eligible are accounts with at least one follower whose number of distinct items bought
    (kept ``"purchase"`` rows: refunded orders do not count) is at least the median among
    buyers; ``n_seeds`` of them are drawn at random. An attacker must out-buy the median honest
    buyer with real, kept orders to be eligible at all, and even then is drawn with probability
    ``n_seeds / n_eligible``. Data with no purchase fall back to activity of any kind (logged:
    those seeds are not verified), and so do data whose ``"purchase"`` rows are not purchases
    (``ds.meta["purchase_verb"]`` present and not ``"bought"``: ratings of 1-3 on Ciao and
    Epinions, listens on Last.fm): there distinct items of any kind count.

    Parameters
    ----------
    ds : Dataset
    n_seeds : int, optional
        Default ``max(10, n_users // 100)``.
    keep : ndarray of bool, optional
        Rows that count.
    seed : int, SeedSequence or Generator

    Returns
    -------
    ndarray of int64
        Sorted user indices.
    """
    _check_ds(ds, "trust_seeds")
    keep = _keep_mask(ds, keep, "trust_seeds")
    if n_seeds is None:
        n_seeds = max(10, ds.n_users // 100)
    if isinstance(n_seeds, bool) or not isinstance(n_seeds, numbers.Integral) or n_seeds < 1:
        raise ValueError(f"The 'n_seeds' parameter must be None or an int >= 1. Got {n_seeds!r}.")
    arr = ds.interaction_arrays()
    if not _purchases_are_purchases(ds):
        # rating or listening data: a "purchase" row is a rating (Ciao, Epinions: 1-3 stars) or a
        # listen, so no row verifies a purchase; activity of any kind is the only evidence
        log.info("trust_seeds: the data's 'purchase' rows are not purchases (meta purchase_verb "
                 "%r); seeds are chosen by activity of any kind.",
                 (ds.meta or {}).get("purchase_verb"))
        buy = keep
    else:
        buy = keep & (arr["kind"] == _KIND_CODE["purchase"])
        if not buy.any():
            log.warning("trust_seeds: the data hold no purchase; seeds are chosen by activity of "
                        "any kind and are not verified buyers.")
            buy = keep
    pairs = _unique_sorted(arr["user"][buy].astype(np.int64) * max(ds.n_items, 1) + arr["item"][buy])
    counts = np.bincount(pairs // max(ds.n_items, 1), minlength=ds.n_users)
    followed = np.diff(sp.csc_matrix(ds.social_matrix(weighted=False)).indptr) > 0
    buyers = counts > 0
    if not (buyers & followed).any():
        return np.empty(0, dtype=np.int64)
    med = np.median(counts[buyers & followed])
    pool = np.flatnonzero(buyers & followed & (counts >= med))
    k = min(int(n_seeds), len(pool))
    return np.sort(rng(seed).choice(pool, k, replace=False)).astype(np.int64)


def account_trust(
    ds: Dataset,
    seeds: Literal["auto"] | Iterable[Any] = "auto",
    *,
    n_seeds: int | None = None,
    iterations: int | None = None,
    keep: np.ndarray | None = None,
    seed: SeedLike = 0,
) -> np.ndarray:
    """:func:`sybil_rank` of every account of ``ds`` from ``seeds``.

    Parameters
    ----------
    ds : Dataset
    seeds : "auto" or iterable of user ids
        Trusted accounts (caller ids), or ``"auto"`` for :func:`trust_seeds`.
    n_seeds, keep, seed
        Passed to :func:`trust_seeds` with ``"auto"``.
    iterations : int, optional
        See :func:`sybil_rank`.

    Returns
    -------
    ndarray of float64, shape (n_users,)
        Normalised trust (about 1 for well-connected honest accounts).
    """
    _check_ds(ds, "account_trust")
    if isinstance(seeds, str):
        if seeds != "auto":
            raise ValueError(
                f"The 'seeds' parameter must be 'auto' or a sequence of user ids. Got {seeds!r}."
            )
        idx = trust_seeds(ds, n_seeds, keep=keep, seed=seed)
    else:
        idx = ds.user_index(list(seeds))
    if not len(idx):
        log.warning("account_trust: no seed account (nobody is followed); every account gets 0.")
        return np.zeros(ds.n_users)
    return sybil_rank(ds.social_matrix(weighted=False), idx, iterations=iterations)


# --------------------------------------------------------------------------------------------
# everything together
# --------------------------------------------------------------------------------------------

def _purchases_are_purchases(ds: Dataset) -> bool:
    """Whether the ``"purchase"`` rows of ``ds`` record purchases (``meta["purchase_verb"]``
    absent or ``"bought"``), not ratings or listens."""
    return str((ds.meta or {}).get("purchase_verb", "bought")) == "bought"


def _has_follower(ds: Dataset) -> np.ndarray:
    """Accounts with at least one follower (bool, shape (n_users,)): the only accounts the trust
    walk can reach, since trust flows from follower to followee."""
    b = sp.csc_matrix(ds.social_matrix(weighted=False))
    b.eliminate_zeros()
    return np.diff(b.indptr) > 0


def sybil_cut(trust: np.ndarray, judged: np.ndarray, threshold: float,
              reference: Literal["median", "even"] = "median") -> float:
    """The normalised-trust level below which :func:`defend` calls a judged account suspicious.

    Parameters
    ----------
    trust : ndarray of float, shape (n_users,)
        :func:`sybil_rank` trust (units of the even-spread level).
    judged : ndarray of bool, shape (n_users,)
        Accounts the walk can judge (at least one follower).
    threshold : float >= 0
        The cut in units of ``reference``.
    reference : {"median", "even"}
        ``"even"``: the even-spread level (1). ``"median"``: the median trust of the judged
        accounts, capped at the even-spread level, so the cut follows a typical account of the
        graph: where the walk mixes (mutual friendships) the median is close to 1 and both
        references agree; on sparse one-way trust graphs honest accounts sit far below the
        even-spread level and an absolute cut would flag most of them.

    Returns
    -------
    float
        ``threshold * level``; 0 (no account is below it) when no account is judged.
    """
    if reference == "even":
        return float(threshold)
    t = np.asarray(trust, dtype=np.float64)[np.asarray(judged, dtype=bool)]
    if not len(t):
        return 0.0
    return float(threshold) * min(float(np.median(t)), 1.0)


def _check_params(p: Mapping[str, Any]) -> None:
    unknown = sorted(set(p) - set(DEFAULT_DEFENCE))
    if unknown:
        raise ValueError(
            f"Unknown defence parameter(s) {unknown}. Valid: {sorted(DEFAULT_DEFENCE)}."
        )
    for name in ("refunds", "verify"):
        if not isinstance(p[name], bool | np.bool_):
            raise ValueError(f"The {name!r} defence parameter must be a bool. Got {p[name]!r}.")
    mp = p["min_purchases"]
    if mp is not None and not (isinstance(mp, str) and mp == "auto") and (
        isinstance(mp, bool) or not isinstance(mp, numbers.Integral) or mp < 1
    ):
        raise ValueError(
            f"The 'min_purchases' defence parameter must be None, 'auto' or an int >= 1. "
            f"Got {mp!r}."
        )
    m = p["max_endorsements_per_day"]
    if m is not None and (isinstance(m, bool) or not isinstance(m, numbers.Integral) or m < 1):
        raise ValueError(
            f"The 'max_endorsements_per_day' defence parameter must be None or an int >= 1. "
            f"Got {m!r}."
        )
    t = p["sybil_threshold"]
    if t is not None and (isinstance(t, bool) or not isinstance(t, numbers.Real)
                          or not np.isfinite(t) or t < 0):
        raise ValueError(
            f"The 'sybil_threshold' defence parameter must be None or a finite number >= 0. "
            f"Got {t!r}."
        )
    if p["sybil_reference"] not in ("median", "even"):
        raise ValueError(
            f"The 'sybil_reference' defence parameter must be 'median' or 'even'. "
            f"Got {p['sybil_reference']!r}."
        )
    if not isinstance(p["own_history"], bool | np.bool_):
        raise ValueError(
            f"The 'own_history' defence parameter must be a bool. Got {p['own_history']!r}."
        )
    if p["drop"] not in ("endorsements", "all"):
        raise ValueError(
            f"The 'drop' defence parameter must be 'endorsements' or 'all'. Got {p['drop']!r}."
        )


def defend(
    ds: Dataset,
    *,
    refunds: bool = True,
    verify: bool = True,
    min_purchases: int | Literal["auto"] | None = "auto",
    max_endorsements_per_day: int | None = 50,
    sybil_threshold: float | None = 0.2,
    sybil_reference: Literal["median", "even"] = "median",
    seeds: Literal["auto"] | Iterable[Any] = "auto",
    n_seeds: int | None = None,
    iterations: int | None = None,
    drop: Literal["endorsements", "all"] = "endorsements",
    own_history: bool = True,
    seed: SeedLike = 0,
) -> Defence:
    """Clean training data of refunded orders, unverified claims, bursts and sybil endorsements.

    Parameters
    ----------
    ds : Dataset
    refunds : bool
        Drop rows of refunded orders (``ds.meta["refunded_orders"]``).
    verify : bool
        Demote unbacked ``"recommend_after_purchase"`` rows to ``"recommend"``.
    min_purchases : int, "auto" or None
        Drop the endorsements of accounts with fewer kept purchases (None: step off). 1 drops
        recommendations by accounts that never bought anything; a platform where such
        recommendations are normal should pass None. The default ``"auto"`` is 1 where the
        data's ``"purchase"`` rows are purchases (``ds.meta["purchase_verb"]`` absent or
        ``"bought"``) and None elsewhere: on rating data (Ciao, Epinions: a ``"purchase"`` row is
        a rating of 1-3 and a rating of 4-5 is a ``"recommend"``) an account that never rated
        anything below 4 is no evidence of review padding. ``report["min_purchases"]`` holds
        the value used.
    max_endorsements_per_day : int or None
        Per-account daily endorsement limit (None: no limit). Applied only to data with
        timestamps (``ds.has_timestamps``): without them there are no days, and a per-day limit
        would become a lifetime cap on every account's endorsements (on Epinions it would drop
        the reviews of every prolific reviewer); ``report["rate_limit"]`` then says it was off.
    sybil_threshold : float or None
        Accounts with at least one follower whose normalised SybilRank trust is below
        ``sybil_threshold`` times the reference level (:func:`sybil_cut`) are suspicious (None:
        step off). ``report["sybil_cut"]`` holds the cut in units of the even-spread level. A
        dense sybil region behind ``g`` attack edges holds about ``g * iterations / (its number
        of internal follow rows)`` of the even-spread level (SybilRank's bound), so it is caught
        until its attack edges approach the region's own size; no threshold stops a region
        whose attack edges approach its own size. Accounts nobody follows are not judged
        (``report["unjudged_accounts"]``): the walk, which flows from follower to followee,
        cannot reach them, so their trust of 0 says nothing about them (an account with no
        follow row at all is the same case), and when the walk reaches no account (no follow
        row or no seed) no account is judged. The default 0.2 was chosen on validation data
        against the attack-edge curve; the trade-off is recorded in
        ``experiments/attack_robustness/`` (``cut.toml``), ``experiments/defence_flags/`` and
        ``experiments/defence_cost/``.
    sybil_reference : {"median", "even"}
        The unit of ``sybil_threshold``: the median trust of the judged accounts, capped at the
        even-spread level (default), or the even-spread level itself. Where the walk mixes
        (mutual friendships: Last.fm, the synthetic worlds) the two agree; on sparse one-way
        trust graphs (Epinions) a typical honest account holds a fraction of the even-spread
        level, and a cut in those units would flag most of them.
    seeds, n_seeds, iterations, seed
        See :func:`account_trust`.
    drop : {"endorsements", "all"}
        What a suspicious account loses: its endorsements, or every interaction row.
    own_history : bool
        Also build each account's own view (:attr:`Defence.own`: the cleaned data plus the
        rows withheld from that account by the non-buyer, rate-limit and sybil steps;
        ``report["own_history_rows"]`` counts them). False: ``Defence.own`` is None.

    Returns
    -------
    Defence
        The cleaned dataset (``meta["defence"]`` holds the report), the suspicious accounts,
        their trust, the report and the accounts' own view.
    """
    _check_ds(ds, "defend")
    params = dict(refunds=refunds, verify=verify, min_purchases=min_purchases,
                  max_endorsements_per_day=max_endorsements_per_day,
                  sybil_threshold=sybil_threshold, sybil_reference=sybil_reference,
                  seeds=seeds, n_seeds=n_seeds,
                  iterations=iterations, drop=drop, own_history=own_history, seed=seed)
    _check_params(params)
    arr = ds.interaction_arrays()
    keep = np.ones(ds.n_interactions, dtype=bool)
    report: dict[str, Any] = {"rows_in": int(ds.n_interactions)}
    if refunds:
        ref = refunded_rows(ds)
        keep &= ~ref
        report["refunded_rows"] = int(ref.sum())
    own_keep = keep.copy()  # an account's own view: everything but refunded orders
    demote = unverified_rows(ds, keep) if verify else np.zeros(ds.n_interactions, dtype=bool)
    report["demoted_unverified"] = int(demote.sum())
    if isinstance(min_purchases, str):  # "auto"
        min_purchases = 1 if _purchases_are_purchases(ds) else None
    report["min_purchases"] = min_purchases
    if min_purchases is not None:
        nb = non_buyer_rows(ds, int(min_purchases), keep=keep)
        keep &= ~nb
        report["non_buyer_rows_dropped"] = int(nb.sum())
    if max_endorsements_per_day is not None and not ds.has_timestamps:
        # no timestamps, no days: a per-day limit would become a lifetime cap per account
        report["rate_limited_rows"] = 0
        report["rate_limit"] = "off: the data carry no timestamps"
    elif max_endorsements_per_day is not None:
        lim = rate_limited_rows(ds, int(max_endorsements_per_day), keep=keep)
        keep &= ~lim
        report["rate_limited_rows"] = int(lim.sum())
    suspicious = np.zeros(ds.n_users, dtype=bool)
    trust_vec = np.full(ds.n_users, np.nan)
    if sybil_threshold is not None:
        trust_vec = account_trust(ds, seeds, n_seeds=n_seeds, iterations=iterations, keep=keep,
                                  seed=seed)
        judged = _has_follower(ds)
        if not trust_vec.any():  # no follow edge, or no seed: the walk is no evidence at all
            log.warning("trust.defend: the trust walk reached no account (no follow edge or no "
                        "seed); the sybil step cannot judge and flags no account.")
            judged[:] = False
        cut = sybil_cut(trust_vec, judged, float(sybil_threshold), sybil_reference)
        suspicious = judged & (trust_vec < cut)
        report["unjudged_accounts"] = int((~judged).sum())
        report["sybil_cut"] = cut
        who = suspicious[arr["user"]]
        if drop == "endorsements":
            who &= np.isin(arr["kind"], _ENDORSE)
        dropped = keep & who
        keep &= ~who
        report["suspicious_accounts"] = int(suspicious.sum())
        report["suspicious_rows_dropped"] = int(dropped.sum())
    withheld = own_keep & ~keep
    frame, changed = _cleaned_rows(ds, keep, demote)
    report["rows_out"] = int(len(frame))
    if own_history:
        report["own_history_rows"] = int(withheld.sum())
    meta = dict(ds.meta)
    meta["defence"] = dict(report)
    out = ds.replace(indexed_interactions=frame, meta=meta,
                     indexed_audiences=_kept_audiences(ds, frame)) if changed \
        else ds.replace(meta=meta)
    own: Dataset | None = None
    if own_history:
        own = out
        if withheld.any():
            own_frame, _ = _cleaned_rows(ds, own_keep, demote)
            own = ds.replace(indexed_interactions=own_frame, meta=meta,
                             indexed_audiences=_kept_audiences(ds, own_frame))
    log.info("trust.defend: %s", report)
    return Defence(out, suspicious, trust_vec, report, own)


def _cleaned_rows(ds: Dataset, keep: np.ndarray, demote: np.ndarray) -> tuple[pd.DataFrame, bool]:
    """The indexed interaction rows of ``ds`` in ``keep`` with the ``demote`` rows turned into
    plain ``"recommend"`` rows (duplicates merged), and whether anything changed."""
    inter = ds.indexed_interactions
    changed = bool((~keep).any() or demote.any())
    if not changed:
        return inter, False
    frame = inter.copy()
    if demote.any():
        kind = frame["kind"].to_numpy().copy()
        kind[demote] = _KIND_CODE["recommend"]
        frame["kind"] = kind.astype(np.int8)
    frame = frame[keep].reset_index(drop=True)
    if demote.any():  # a demoted row may meet a plain recommend (one vote) or move
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)
            frame = merge_duplicates(frame, "max")
    # else: dropping rows keeps the canonical order, nothing to merge
    return frame, True


def _kept_audiences(ds: Dataset, frame: pd.DataFrame) -> pd.DataFrame:
    """Audience rows whose (user, item) still has an endorsement in ``frame``."""
    aud = ds.indexed_audiences
    if not len(aud):
        return aud
    n = max(ds.n_items, 1)
    e = np.isin(frame["kind"].to_numpy(), _ENDORSE)
    have = _unique_sorted(frame["user"].to_numpy()[e].astype(np.int64) * n + frame["item"].to_numpy()[e])
    key = aud["user"].to_numpy().astype(np.int64) * n + aud["item"].to_numpy()
    return aud[_in_sorted(key, have)].reset_index(drop=True)


def without_endorsements_of(ds: Dataset, accounts: np.ndarray) -> Dataset:
    """``ds`` without the endorsements (``recommend``, ``recommend_after_purchase`` rows, and
    their audience lists) of the accounts in the boolean mask ``accounts`` (shape (n_users,)).

    Every other row, the vocabularies, the social graph and the blocks are kept: this is what
    a consumer that reads endorsements directly (the friends' feed) uses to stop showing and
    counting the endorsements of the :attr:`Defence.suspicious` accounts.
    """
    _check_ds(ds, "without_endorsements_of")
    acc = np.asarray(accounts)
    if acc.dtype != bool or acc.shape != (ds.n_users,):
        raise ValueError(
            "The 'accounts' parameter of trust.without_endorsements_of must be a boolean array "
            f"of shape ({ds.n_users},). Got dtype {acc.dtype} and shape {acc.shape}."
        )
    inter = ds.indexed_interactions
    if not acc.any() or not len(inter):
        return ds
    u = inter["user"].to_numpy()
    drop = acc[u] & np.isin(inter["kind"].to_numpy(), _ENDORSE)
    if not drop.any():
        return ds
    frame = inter[~drop].reset_index(drop=True)
    return ds.replace(indexed_interactions=frame, indexed_audiences=_kept_audiences(ds, frame))


def defended_training_data(ds: Dataset, defence: bool | Mapping[str, Any] | None) -> tuple[Dataset, dict]:
    """The ranker hook: ``defence`` (None/False: off, True: :data:`DEFAULT_DEFENCE`, or a dict
    overriding some of its keys) applied to training data.

    Returns
    -------
    (Dataset, dict)
        The data to fit on and the defence report (empty when off). The accounts' own view is
        not built (:func:`defended_views` returns it).
    """
    shared, _, report = _defended(ds, defence, own=False)
    return shared, report


def defended_views(
    ds: Dataset, defence: bool | Mapping[str, Any] | None
) -> tuple[Dataset, Dataset, dict]:
    """:func:`defended_training_data` with each account's own view (:attr:`Defence.own`).

    Parameters
    ----------
    ds : Dataset
        Training data.
    defence : bool, dict or None
        None/False: off; True: :data:`DEFAULT_DEFENCE`; a dict overrides some of its keys
        (``"own_history": False`` makes the own view the shared data).

    Returns
    -------
    (Dataset, Dataset, dict)
        The shared data (what everything another user sees is fitted on), the own view (the
        shared data plus the rows withheld from each account, for that account's own state
        only; the same object as the shared data when nothing was withheld or
        ``own_history`` is False) and the defence report (empty when off; then both data are
        ``ds``).
    """
    return _defended(ds, defence, own=True)


def _defended(
    ds: Dataset, defence: bool | Mapping[str, Any] | None, *, own: bool
) -> tuple[Dataset, Dataset, dict]:
    if defence is None or defence is False:
        return ds, ds, {}
    if defence is True:
        params: dict[str, Any] = {}
    elif isinstance(defence, Mapping):
        params = dict(defence)
    else:
        raise TypeError(
            f"The 'defence' parameter must be None, a bool or a dict of trust.defend parameters. "
            f"Got {type(defence).__name__}."
        )
    full = {**DEFAULT_DEFENCE, **params}
    _check_params(full)
    if not own:
        full["own_history"] = False
    res = defend(ds, **full)
    return res.dataset, (res.own if res.own is not None else res.dataset), res.report
