"""A seeded synthetic social-commerce world whose ground truth is known.

The world has the structure that makes trust-weighted ranking meaningful:

- **Friendship graph** with communities, homophily and heavy-tailed degrees: a degree-corrected
  stochastic block model sampled configuration-style (each user draws a heavy-tailed number of
  friendship stubs; a share ``homophily`` of them are paired inside the user's community, the
  rest across communities). Most ties are mutual (two social rows); a share ``p_one_way`` are
  one-way follows. Each tie has a strength in (0.05, 1] (the social ``weight``).
- **Users** with latent tastes (their community's centre plus individual noise), a heavy-tailed
  activity level and a price sensitivity.
- **Items** with a category (whose centre shapes the item's taste vector), a merchant, a price
  (log-normal around a per-category level) and a latent quality (merchant quality plus item
  noise). **Merchants** have very different sizes (Zipf-like number of items), a main category
  and the platform their orders sync from.
- **Purchases**: an *own* purchase chooses among a browse set of candidate items (half from
  what the user's community likes, half by exposure, which favours big merchants and good
  items) by a softmax of the ground-truth utility ``taste . item_taste + quality - price term``;
  a *social* purchase (share ``social_influence``) copies an item a friend endorsed, a friend
  chosen by tie strength, after a delay, again choosing by utility among a few such
  endorsements. Influence runs in ``influence_rounds`` waves so endorsements cascade.
- **Endorsements**: ``recommend_after_purchase`` after a purchase, more likely when the buyer
  was satisfied (high utility), and plain ``recommend`` without a purchase (less often), each
  with a visibility drawn from ``visibility_mix`` (mostly friends, some public, few private).
- **Views** of browsed candidates and of items before buying them (weight = number of views),
  order ids, source platforms, amounts (= price), timestamps over ``time_span_days``, a few
  blocks, and item metadata with titles in English and Chinese (``"跑步鞋 running shoes"``).

Everything is vectorised numpy (no per-user Python loop), so a world of 1,000,000 users builds
in minutes on two cores. The same seed gives the same world (``Dataset.equals``); each stage
draws from its own stream derived from the root seed (SPEC 7), so changing a knob of one stage
does not reshuffle the others.

Ids: users are strings ``"u000001"``.. and items ``"i000001"``.. (zero-padded, so sorted order is
creation order and the dense index of ``"u000001"`` is 0); merchants are ``"m00001"``..; order
ids ``"o00000001"``.. run in time order.

The returned Dataset carries the ground truth in ``ds.truth`` (see :func:`synthetic`) and the
world's configuration in ``ds.meta["world"]``; :func:`true_utility` gives the utility of every
item for some users, so rankers can be checked against the truth.

References
----------
.. [1] B. Karrer and M. E. J. Newman, "Stochastic blockmodels and community structure in
   networks", Physical Review E 83, 016107 (2011). (Degree-corrected block model.)
.. [2] M. E. J. Newman, "The structure and function of complex networks", SIAM Review 45(2),
   167-256 (2003). (Configuration model.)
.. [3] M. McPherson, L. Smith-Lovin and J. M. Cook, "Birds of a feather: homophily in social
   networks", Annual Review of Sociology 27, 415-444 (2001).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import numbers
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .._arrays import isin_sorted as _isin_sorted
from .._arrays import lexsort_tied
from .._arrays import unique_sorted as _unique_sorted
from .._dataset import KINDS, VISIBILITIES, Dataset
from .._random import SeedLike, seed_sequence

__all__ = ["TRUTH_KEYS", "SyntheticWorld", "synthetic", "true_utility"]

logger = logging.getLogger(__name__)

#: The keys of ``Dataset.truth`` of a synthetic world (others build on these names).
TRUTH_KEYS: tuple[str, ...] = (
    "user_taste", "item_taste", "item_quality", "item_price", "item_merchant", "merchant_size",
    "user_community", "user_activity", "user_price_sensitivity",
)

_DAY = 86_400
_CHUNK = 1 << 13  # events per chunk of the choice model (fixed: results must not depend on it)

# (category slug, Chinese product word, English product words)
_CATEGORIES: tuple[tuple[str, str, str], ...] = (
    ("running_shoes", "跑步鞋", "running shoes"),
    ("green_tea", "绿茶", "green tea"),
    ("face_mask", "面膜", "face mask"),
    ("earphones", "蓝牙耳机", "bluetooth earphones"),
    ("phone_case", "手机壳", "phone case"),
    ("backpack", "双肩包", "backpack"),
    ("coffee", "咖啡豆", "coffee beans"),
    ("snacks", "零食", "snacks"),
    ("skincare", "护肤品", "skincare set"),
    ("dress", "连衣裙", "summer dress"),
    ("tshirt", "T恤", "cotton t-shirt"),
    ("kitchen_knife", "菜刀", "kitchen knife"),
    ("rice_cooker", "电饭煲", "rice cooker"),
    ("baby_formula", "奶粉", "baby formula"),
    ("toys", "玩具", "building blocks toy"),
    ("books", "图书", "picture book"),
    ("lipstick", "口红", "lipstick"),
    ("yoga_mat", "瑜伽垫", "yoga mat"),
    ("bedding", "四件套", "bedding set"),
    ("honey", "蜂蜜", "wild honey"),
    ("sunscreen", "防晒霜", "sunscreen"),
    ("watch", "手表", "watch"),
    ("pet_food", "猫粮", "cat food"),
    ("fruit", "水果", "fresh fruit"),
    ("tea_set", "茶具", "tea set"),
    ("umbrella", "雨伞", "umbrella"),
    ("jacket", "羽绒服", "down jacket"),
    ("vitamins", "维生素", "vitamins"),
)
_ADJ_EN = ("classic", "lightweight", "organic", "premium", "new", "handmade", "mini", "pro",
           "eco", "soft", "deluxe", "travel")
_ADJ_CN = ("新款", "经典", "有机", "轻便", "进口", "手工", "加厚", "便携", "网红", "家用")

# stage keys of the seed streams
_S_USERS, _S_ITEMS, _S_GRAPH, _S_OWN, _S_ENDORSE, _S_PLAIN, _S_SOCIAL, _S_VIEWS, _S_BLOCKS, \
    _S_FALLBACK = range(10)


# --------------------------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SyntheticWorld:
    """Configuration of a synthetic social-commerce world (all knobs, with defaults).

    Build the world with :meth:`build` or :func:`synthetic`. Round-trips through JSON with
    :meth:`to_dict` / :meth:`from_dict`.

    Parameters
    ----------
    n_users, n_items : int
        World size (>= 2 users, >= 1 item).
    n_communities : int or None
        Taste communities of the friendship graph; ``None``: ``round(sqrt(n_users) / 4)``
        clipped to [2, 1000] (11 for 2,000 users, 250 for 1,000,000).
    homophily : float in [0, 1]
        Share of each user's friendship stubs paired inside the user's community (the rest are
        paired across the whole world, so the realised within-community share is a bit higher).
    mean_degree : float > 0
        Mean number of friends (distinct neighbours) per user before the graph is simplified
        (self-loops and repeated pairs removed, which loses a few per cent).
    degree_exponent : float > 2
        Power-law exponent of the degree distribution's tail, P(k) ~ k^-exponent (heavy tail;
        social networks have 2-3).
    max_degree : int or None
        Cap on a user's expected degree; ``None``: ``min(n_users - 1, max(50, 5 * sqrt(n_users)))``.
    p_one_way : float in [0, 1]
        Share of ties that are one-way follows (one social row) instead of mutual (two rows).
    taste_dim : int >= 1
        Dimension of the latent taste space.
    taste_strength : float > 0
        Standard deviation of the taste affinity ``user_taste . item_taste``.
    community_spread : float in [0, 1]
        How far a user's taste strays from the community centre (0: all members alike, 1: the
        community says nothing about taste).
    n_categories : int >= 1
        Item categories (each with a taste centre and a price level). Up to 28 have distinct
        product words; more reuse them with a numbered category name.
    category_spread : float in [0, 1]
        How far an item's taste strays from its category centre.
    n_merchants : int or None
        Merchants; ``None``: ``n_items // 20`` clipped to [1, 20000]. At most ``n_items``.
    merchant_size_exponent : float >= 0
        Zipf exponent of the merchants' item counts (0: equal sizes; 1: a classic long tail).
    merchant_focus : float in [0, 1]
        Probability that an item is in its merchant's main category.
    quality_sd : float >= 0
        Standard deviation of merchant quality and of item quality around it.
    price_median : float > 0
        Median item price (before rounding to shop prices such as 59.99).
    price_sigma : float >= 0
        Log-normal spread of prices within a category (category levels spread by 0.6 in log).
    price_sensitivity : float >= 0
        Mean of the users' price sensitivity (log-normal across users).
    p_unsearchable : float in [0, 1]
        Share of items marked ``searchable=False``.
    purchases_per_user : float >= 1
        Mean purchases per user; every user buys at least once and the count is Poisson around
        the user's (heavy-tailed) activity.
    activity_sigma : float >= 0
        Log-normal spread of user activity (mean 1): 1.0 gives a heavy tail of power buyers.
    n_candidates : int >= 2
        Size of the browse set an own purchase chooses from.
    community_pool : int >= 1
        Items each community likes best (by taste and quality); candidates are drawn from it.
    p_community_candidate : float in [0, 1]
        Share of the browse set drawn from the community pool (the rest by exposure).
    choice_temperature : float > 0
        Softmax temperature of choices by utility (lower: users pick their best candidate).
    social_influence : float in [0, 1]
        Share of purchases (after each user's first) that copy an item a friend endorsed.
        Where no visible endorsement of a friend fits in time, the purchase is made as an own
        purchase instead; ``meta["realised"]["social_share"]`` gives the realised share.
    influence_rounds : int >= 1
        Waves of social purchases: wave ``r`` copies endorsements made before it, so influence
        cascades ``influence_rounds`` steps.
    influence_delay_days : float > 0
        Mean delay between a friend's endorsement and the copying purchase.
    p_recommend_after_purchase : float in [0, 1]
        Mean probability that a purchase is followed by ``recommend_after_purchase`` (once per
        user and item), rising with the buyer's satisfaction (utility).
    satisfaction_slope : float >= 0
        How strongly satisfaction drives that probability (0: independent of utility).
    recommend_delay_days : float > 0
        Mean delay between a purchase and its recommendation.
    p_plain_recommend : float >= 0
        Plain recommendations (no purchase) per purchase, on average.
    views_per_purchase : float >= 0
        Mean browsed-but-not-bought candidates viewed per own purchase.
    p_view_before_purchase : float in [0, 1]
        Probability that a purchase is preceded by a view of the item.
    visibility_mix : tuple of 3 floats
        Probabilities of ``("public", "friends", "private")`` for endorsements; sums to 1.
    blocks_rate : float >= 0
        Blocks per user (half of them block a friend, half a random user).
    platforms : tuple of str
        Source platforms orders are synced from; each merchant uses one.
    platform_mix : tuple of float
        Probabilities of ``platforms`` across merchants; sums to 1.
    time_span_days : float > 0
        Length of the observed period.
    start : str
        Start of the period (ISO date, UTC).
    """

    n_users: int = 2000
    n_items: int = 1000
    # social graph
    n_communities: int | None = None
    homophily: float = 0.85
    mean_degree: float = 12.0
    degree_exponent: float = 2.3
    max_degree: int | None = None
    p_one_way: float = 0.1
    # tastes
    taste_dim: int = 16
    taste_strength: float = 1.0
    community_spread: float = 0.5
    # items and merchants
    n_categories: int = 24
    category_spread: float = 0.6
    n_merchants: int | None = None
    merchant_size_exponent: float = 1.1
    merchant_focus: float = 0.7
    quality_sd: float = 0.5
    price_median: float = 60.0
    price_sigma: float = 0.6
    price_sensitivity: float = 0.5
    p_unsearchable: float = 0.02
    # behaviour
    purchases_per_user: float = 6.0
    activity_sigma: float = 1.0
    n_candidates: int = 24
    community_pool: int = 300
    p_community_candidate: float = 0.5
    choice_temperature: float = 0.5
    social_influence: float = 0.3
    influence_rounds: int = 2
    influence_delay_days: float = 5.0
    p_recommend_after_purchase: float = 0.3
    satisfaction_slope: float = 1.5
    recommend_delay_days: float = 2.0
    p_plain_recommend: float = 0.1
    views_per_purchase: float = 2.0
    p_view_before_purchase: float = 0.5
    visibility_mix: tuple[float, float, float] = (0.15, 0.80, 0.05)
    blocks_rate: float = 0.002
    platforms: tuple[str, ...] = ("weidian", "youzan", "taobao", "shopify")
    platform_mix: tuple[float, ...] = (0.4, 0.3, 0.2, 0.1)
    time_span_days: float = 365.0
    start: str = "2024-01-01"

    def __post_init__(self) -> None:
        def integer(name: str, lo: int, *, optional: bool = False) -> None:
            v = getattr(self, name)
            if v is None and optional:
                return
            if isinstance(v, bool) or not isinstance(v, numbers.Integral):
                raise TypeError(f"The '{name}' knob of SyntheticWorld must be an int >= {lo}. Got {v!r}.")
            if v < lo:
                raise ValueError(f"The '{name}' knob of SyntheticWorld must be an int >= {lo}. Got {v!r}.")

        def real(name: str, lo: float, hi: float = math.inf, *, open_lo: bool = False) -> None:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Real):
                raise TypeError(f"The '{name}' knob of SyntheticWorld must be a number. Got {v!r}.")
            bad = not math.isfinite(v) or v > hi or (v <= lo if open_lo else v < lo)
            if bad:
                rng_txt = f"{'>' if open_lo else '>='} {lo}" + (f" and <= {hi}" if hi < math.inf else "")
                raise ValueError(f"The '{name}' knob of SyntheticWorld must be {rng_txt}. Got {v!r}.")

        integer("n_users", 2)
        integer("n_items", 1)
        integer("n_communities", 1, optional=True)
        integer("max_degree", 1, optional=True)
        integer("taste_dim", 1)
        integer("n_categories", 1)
        integer("n_merchants", 1, optional=True)
        integer("n_candidates", 2)
        integer("community_pool", 1)
        integer("influence_rounds", 1)
        for name in ("homophily", "p_one_way", "community_spread", "category_spread",
                     "merchant_focus", "p_unsearchable", "p_community_candidate",
                     "social_influence", "p_recommend_after_purchase", "p_view_before_purchase"):
            real(name, 0.0, 1.0)
        for name in ("mean_degree", "taste_strength", "price_median", "choice_temperature",
                     "influence_delay_days", "recommend_delay_days", "time_span_days"):
            real(name, 0.0, open_lo=True)
        for name in ("merchant_size_exponent", "quality_sd", "price_sigma", "price_sensitivity",
                     "activity_sigma", "satisfaction_slope", "p_plain_recommend",
                     "views_per_purchase", "blocks_rate"):
            real(name, 0.0)
        real("degree_exponent", 2.0, open_lo=True)
        real("purchases_per_user", 1.0)
        if self.n_communities is not None and self.n_communities > self.n_users:
            raise ValueError(
                f"The 'n_communities' knob of SyntheticWorld must be <= n_users ({self.n_users}). "
                f"Got {self.n_communities}."
            )
        if self.n_merchants is not None and self.n_merchants > self.n_items:
            raise ValueError(
                f"The 'n_merchants' knob of SyntheticWorld must be <= n_items ({self.n_items}) so "
                f"every merchant sells something. Got {self.n_merchants}."
            )
        object.__setattr__(self, "visibility_mix", tuple(float(x) for x in self.visibility_mix))
        object.__setattr__(self, "platform_mix", tuple(float(x) for x in self.platform_mix))
        object.__setattr__(self, "platforms", tuple(self.platforms))
        _check_mix("visibility_mix", self.visibility_mix, 3)
        if not self.platforms or not all(isinstance(p, str) and p for p in self.platforms):
            raise ValueError(
                f"The 'platforms' knob of SyntheticWorld must be a non-empty tuple of non-empty "
                f"strings. Got {self.platforms!r}."
            )
        _check_mix("platform_mix", self.platform_mix, len(self.platforms))
        try:
            pd.Timestamp(self.start)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"The 'start' knob of SyntheticWorld must be an ISO date. Got {self.start!r}."
            ) from exc

    # ---------------------------------------------------------------- derived sizes
    @property
    def communities(self) -> int:
        """The number of communities actually used."""
        if self.n_communities is not None:
            return int(self.n_communities)
        return int(min(self.n_users, np.clip(round(math.sqrt(self.n_users) / 4), 2, 1000)))

    @property
    def merchants(self) -> int:
        """The number of merchants actually used."""
        if self.n_merchants is not None:
            return int(self.n_merchants)
        return int(np.clip(self.n_items // 20, 1, 20_000))

    @property
    def degree_cap(self) -> int:
        """The cap on expected degrees actually used."""
        if self.max_degree is not None:
            return int(min(self.max_degree, self.n_users - 1))
        return int(min(self.n_users - 1, max(50, 5 * math.sqrt(self.n_users))))

    # ---------------------------------------------------------------- JSON round trip
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict of every knob (tuples become lists)."""
        return {
            f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
            for f in dataclasses.fields(self)
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SyntheticWorld:
        """Inverse of :meth:`to_dict`; unknown keys raise ``TypeError`` naming them."""
        _check_knobs(d)
        fix = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        return cls(**fix)

    def build(
        self,
        seed: SeedLike = 0,
        *,
        show_progress: bool | None = None,
        callback: Callable[[str, int, int], Any] | None = None,
    ) -> Dataset:
        """Generate the world (see :func:`synthetic` for what the Dataset holds)."""
        return _Builder(self, seed, show_progress, callback).run()


def _check_mix(name: str, mix: tuple[float, ...], n: int) -> None:
    arr = np.asarray(mix, dtype=float)
    if arr.shape != (n,) or not np.all(np.isfinite(arr)) or (arr < 0).any() \
            or not math.isclose(arr.sum(), 1.0, abs_tol=1e-6):
        raise ValueError(
            f"The '{name}' knob of SyntheticWorld must be {n} non-negative probabilities summing "
            f"to 1. Got {mix!r}."
        )


def _check_knobs(knobs: dict[str, Any]) -> None:
    names = {f.name for f in dataclasses.fields(SyntheticWorld)}
    unknown = sorted(set(knobs) - names)
    if unknown:
        raise TypeError(
            f"Unknown synthetic world knob(s) {unknown}. Known knobs: {sorted(names)}."
        )


def synthetic(
    n_users: int = 2000,
    n_items: int = 1000,
    seed: SeedLike = 0,
    *,
    show_progress: bool | None = None,
    callback: Callable[[str, int, int], Any] | None = None,
    **world: Any,
) -> Dataset:
    """Make a seeded synthetic social-commerce world with known ground truth.

    Parameters
    ----------
    n_users, n_items : int
        World size.
    seed : int, SeedSequence, Generator or None, default 0
        Randomness (SPEC 7). The same seed and knobs give an identical Dataset.
    show_progress : bool or None
        A tqdm bar over the build stages; ``None``: shown for worlds of >= 100,000 users.
    callback : callable(stage, step, n_steps) or None
        Called after each build stage with its name.
    **world
        Any knob of :class:`SyntheticWorld` (an unknown name raises ``TypeError``).

    Returns
    -------
    Dataset
        Interactions of kinds purchase (with ``order_id``, ``source`` and ``amount`` = price),
        recommend_after_purchase (with the ``order_id`` and ``source`` of its purchase; always
        after a purchase of the same user and item), recommend, view (``weight`` = number of
        views, ``timestamp`` = the first); endorsements carry a visibility. A social graph
        (``weight`` = tie strength), blocks and item metadata (title, category, merchant, price,
        searchable). ``ds.truth`` holds:

        - ``user_taste`` : float32 ndarray of shape (n_users, taste_dim)
        - ``item_taste`` : float32 ndarray of shape (n_items, taste_dim)
        - ``item_quality`` : float32 ndarray of shape (n_items,)
        - ``item_price`` : float64 ndarray of shape (n_items,) (as in the item metadata)
        - ``item_merchant`` : int64 ndarray of shape (n_items,) (merchant index; ``"m00001"`` is 0)
        - ``merchant_size`` : int64 ndarray of shape (n_merchants,) (items per merchant)
        - ``user_community`` : int64 ndarray of shape (n_users,)
        - ``user_activity`` : float32 ndarray of shape (n_users,) (mean 1)
        - ``user_price_sensitivity`` : float32 ndarray of shape (n_users,)

        all indexed by the Dataset's user / item index. ``ds.meta["world"]`` is the config and
        ``ds.meta["realised"]`` measured shares (social purchase share, endorsement rates).

    Raises
    ------
    TypeError
        An unknown knob, or a knob of the wrong type.
    ValueError
        A knob out of its range (e.g. a negative size).

    Examples
    --------
    >>> from haowurank.datasets import synthetic
    >>> ds = synthetic(n_users=300, n_items=150, seed=1)
    >>> ds.n_users, ds.n_items, ds.truth["user_taste"].shape
    (300, 150, (300, 16))
    """
    _check_knobs(world)
    cfg = SyntheticWorld(n_users=n_users, n_items=n_items, **world)
    return cfg.build(seed, show_progress=show_progress, callback=callback)


def true_utility(ds: Dataset, users_idx: Any) -> np.ndarray:
    """Ground-truth utility of every item for some users of a synthetic world.

    ``utility[u, i] = user_taste[u] . item_taste[i] + item_quality[i]
    - user_price_sensitivity[u] * log(item_price[i] / median(item_price))``, the quantity the
    world's users choose by.

    Parameters
    ----------
    ds : Dataset
        A synthetic world (or a split of one: splits keep ``truth``).
    users_idx : int or array-like of int
        Dense user indices (``ds.user_index(ids)`` converts caller ids).

    Returns
    -------
    ndarray of shape (len(users_idx), n_items), float32
    """
    truth = getattr(ds, "truth", None) or {}
    missing = [k for k in ("user_taste", "item_taste", "item_quality", "item_price",
                           "user_price_sensitivity") if k not in truth]
    if missing:
        raise ValueError(
            f"true_utility needs a synthetic world's ground truth; ds.truth lacks {missing}."
        )
    u = np.atleast_1d(np.asarray(users_idx))
    if u.dtype.kind not in "iu" or u.ndim != 1:
        raise TypeError(
            f"The 'users_idx' argument of true_utility must be int indices. Got dtype {u.dtype}."
        )
    n = len(truth["user_taste"])
    if len(u) and (u.min() < 0 or u.max() >= n):
        raise IndexError(f"The 'users_idx' argument of true_utility must lie in [0, {n}).")
    return _utility_matrix(
        np.asarray(truth["user_taste"])[u], np.asarray(truth["user_price_sensitivity"])[u],
        np.asarray(truth["item_taste"]), np.asarray(truth["item_quality"]),
        _log_price_rel(np.asarray(truth["item_price"])),
    )


def _log_price_rel(price: np.ndarray) -> np.ndarray:
    return np.log(price / np.median(price)).astype(np.float32)


def _utility_matrix(ut, sens, it, quality, logp) -> np.ndarray:
    out = ut.astype(np.float32) @ it.astype(np.float32).T
    out += quality.astype(np.float32)[None, :]
    out -= sens.astype(np.float32)[:, None] * logp[None, :]
    return out


# --------------------------------------------------------------------------------------------
# the builder
# --------------------------------------------------------------------------------------------

def _order(primary: np.ndarray, secondary: np.ndarray) -> np.ndarray:
    """The permutation that sorts by (primary, secondary, position), deterministically.

    Same result as ``np.lexsort((arange, secondary, primary))`` but several times faster on
    tens of millions of rows: an unstable argsort on the primary key, then a lexsort of only
    the rows whose primary key is tied.
    """
    return lexsort_tied(primary, (secondary,), kind="quicksort")


class _GuideTable:
    """Inverse-CDF sampling with a guide table (Chen and Asau, 1974): ``draw(u)`` equals
    ``np.searchsorted(cdf, u)`` but costs a few array reads per draw instead of a binary search
    through a large array, which matters for tens of millions of draws from 500,000 items.
    """

    def __init__(self, cdf: np.ndarray) -> None:
        self.cdf = cdf
        self.n_buckets = len(cdf)
        edges = np.arange(self.n_buckets + 1) / self.n_buckets
        self.guide = np.minimum(np.searchsorted(cdf, edges), len(cdf) - 1)

    def draw(self, u: np.ndarray) -> np.ndarray:
        out = self.guide[np.minimum((u * self.n_buckets).astype(np.int64), self.n_buckets - 1)]
        active = np.flatnonzero(self.cdf[out] < u)
        while len(active):  # walk forward inside the bucket (usually 0-2 steps)
            out[active] += 1
            active = active[self.cdf[out[active]] < u[active]]
        return out


def _first_per_key(keys: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Positions of the earliest row of each distinct key (ties: the first in input order)."""
    if len(keys) == 0:
        return np.empty(0, dtype=np.int64)
    order = _order(keys, times)
    ks = keys[order]
    first = np.ones(len(ks), dtype=bool)
    first[1:] = ks[1:] != ks[:-1]
    return np.sort(order[first])


def _cat(parts: list[np.ndarray], dtype: Any) -> np.ndarray:
    return np.concatenate(parts) if parts else np.empty(0, dtype)


class _Builder:
    STAGES = ("users", "items", "graph", "own purchases", "plain recommendations",
              "social purchases", "views and blocks", "assemble")

    def __init__(self, cfg: SyntheticWorld, seed: SeedLike, show_progress, callback) -> None:
        self.cfg = cfg
        self.root = seed_sequence(seed)
        self.seed_repr = seed if isinstance(seed, int) else repr(seed)
        if show_progress is None:
            show_progress = cfg.n_users >= 100_000
        self.show_progress = bool(show_progress)
        self.callback = callback
        self.t0 = pd.Timestamp(cfg.start)
        if self.t0.tzinfo is not None:
            self.t0 = self.t0.tz_convert("UTC").tz_localize(None)
        self.start = int(self.t0.value // 1_000_000_000)
        self.end = self.start + int(round(cfg.time_span_days * _DAY))

    def gen(self, *key: int) -> np.random.Generator:
        ss = np.random.SeedSequence(self.root.entropy, spawn_key=tuple(self.root.spawn_key) + key)
        return np.random.default_rng(ss)

    # ------------------------------------------------------------ driver
    def run(self) -> Dataset:
        steps = [self._users, self._items, self._graph, self._own, self._plain, self._social,
                 self._views_blocks, self._assemble]
        bar = None
        if self.show_progress:
            from .._progress import tqdm

            bar = tqdm(total=len(steps), desc="synthetic world", unit="stage")
        t_all = time.perf_counter()
        try:
            for k, (name, step) in enumerate(zip(self.STAGES, steps)):
                if bar is not None:
                    bar.set_postfix_str(name)
                t = time.perf_counter()
                step()
                logger.debug("synthetic world: %s done in %.1f s", name, time.perf_counter() - t)
                if bar is not None:
                    bar.update(1)
                if self.callback is not None:
                    self.callback(name, k + 1, len(steps))
        finally:
            if bar is not None:
                bar.close()
        logger.info("synthetic world: %r built in %.1f s", self.ds, time.perf_counter() - t_all)
        return self.ds

    # ------------------------------------------------------------ users
    def _users(self) -> None:
        c, g = self.cfg, self.gen(_S_USERS)
        n, d, k = c.n_users, c.taste_dim, c.communities
        sizes = g.lognormal(0.0, 0.5, k)
        self.user_comm = g.choice(k, size=n, p=sizes / sizes.sum()).astype(np.int64)
        # per-dimension sd so that the affinity of two independent vectors has sd taste_strength
        self.sigma = (c.taste_strength**2 / d) ** 0.25
        self.centres = g.normal(0.0, self.sigma, (k, d))
        s = c.community_spread
        self.user_taste = (
            math.sqrt(1 - s * s) * self.centres[self.user_comm] + s * g.normal(0, self.sigma, (n, d))
        ).astype(np.float32)
        act = g.lognormal(0.0, c.activity_sigma, n)
        self.activity = (act / act.mean()).astype(np.float32)
        self.sens = (c.price_sensitivity * g.lognormal(-0.125, 0.5, n)).astype(np.float32)

    # ------------------------------------------------------------ items and merchants
    def _items(self) -> None:
        c, g = self.cfg, self.gen(_S_ITEMS)
        n, d, kc, m = c.n_items, c.taste_dim, c.n_categories, c.merchants
        cat_pop = np.arange(1, kc + 1, dtype=float) ** -0.8
        cat_pop /= cat_pop.sum()
        cat_centres = g.normal(0.0, self.sigma, (kc, d))
        cat_price = g.lognormal(0.0, 0.6, kc)
        cat_price /= np.exp(np.log(cat_price).mean())  # geometric mean 1
        # merchants: Zipf-like weights; every merchant sells at least one item
        w = np.arange(1, m + 1, dtype=float) ** -c.merchant_size_exponent
        w /= w.sum()
        owner = np.concatenate([np.arange(m), g.choice(m, size=n - m, p=w)])
        owner = owner[g.permutation(n)]
        self.item_merchant = owner.astype(np.int64)
        self.merchant_size = np.bincount(owner, minlength=m).astype(np.int64)
        merchant_cat = g.choice(kc, size=m, p=cat_pop)
        focus = g.random(n) < c.merchant_focus
        self.item_cat = np.where(focus, merchant_cat[owner], g.choice(kc, size=n, p=cat_pop))
        s = c.category_spread
        self.item_taste = (
            math.sqrt(1 - s * s) * cat_centres[self.item_cat] + s * g.normal(0, self.sigma, (n, d))
        ).astype(np.float32)
        merchant_q = g.normal(0.0, c.quality_sd, m)
        self.quality = (merchant_q[owner] + g.normal(0.0, c.quality_sd, n)).astype(np.float32)
        raw = cat_price[self.item_cat] * g.lognormal(0.0, c.price_sigma, n)
        raw *= c.price_median / np.median(raw)
        self.price = np.maximum(1.0, np.round(raw)) - 0.01  # shop prices: 59.99
        self.logp = _log_price_rel(self.price)
        self.item_feat = np.hstack(
            [self.item_taste, self.quality[:, None], self.logp[:, None]]).astype(np.float32)
        self.user_feat = np.hstack(
            [self.user_taste, np.ones((c.n_users, 1), np.float32), -self.sens[:, None]]
        ).astype(np.float32)
        self.merchant_platform = g.choice(len(c.platforms), size=m, p=c.platform_mix)
        self.searchable = g.random(n) >= c.p_unsearchable
        # exposure: big merchants and good items are shown more
        expo = np.sqrt(self.merchant_size[owner]) * np.exp(0.5 * self.quality.astype(float))
        cdf = np.cumsum(expo / expo.sum())
        cdf[-1] = 1.0
        self.exposure = _GuideTable(cdf)
        # titles: both scripts, English only or Chinese only
        style = g.choice(3, size=n, p=[0.6, 0.25, 0.15])
        adj_en = g.integers(0, len(_ADJ_EN), n)
        adj_cn = g.integers(0, len(_ADJ_CN), n)
        model = g.integers(100, 1000, n)
        letter = g.integers(0, 26, n)
        names = [_CATEGORIES[k % len(_CATEGORIES)] for k in range(kc)]
        self.cat_names = [
            slug if k < len(_CATEGORIES) else f"{slug}_{k // len(_CATEGORIES)}"
            for k, (slug, _, _) in enumerate(names)
        ]
        titles = []
        for i in range(n):
            _, cn, en = names[self.item_cat[i]]
            mdl = f"{chr(65 + letter[i])}{model[i]}"
            st = style[i]
            if st == 0:
                titles.append(f"{_ADJ_CN[adj_cn[i]]}{cn} {_ADJ_EN[adj_en[i]]} {en} {mdl}")
            elif st == 1:
                titles.append(f"{_ADJ_EN[adj_en[i]]} {en} {mdl}")
            else:
                titles.append(f"{_ADJ_CN[adj_cn[i]]}{cn} {mdl}")
        self.titles = np.array(titles, dtype=object)
        # each community's pool: the items its centre likes best (taste and quality)
        pool_n = min(c.community_pool, n)
        k = len(self.centres)
        pools = np.empty((k, pool_n), dtype=np.int64)
        centre = (math.sqrt(1 - c.community_spread**2) * self.centres).astype(np.float32)
        step = max(1, (1 << 24) // max(n, 1))
        for a in range(0, k, step):
            sc = centre[a:a + step] @ self.item_taste.T + self.quality[None, :]
            if pool_n < n:
                pools[a:a + step] = np.argpartition(-sc, pool_n - 1, axis=1)[:, :pool_n]
            else:
                pools[a:a + step] = np.arange(n)[None, :]
        self.pools = pools

    # ------------------------------------------------------------ friendship graph
    def _graph(self) -> None:
        c, g = self.cfg, self.gen(_S_GRAPH)
        n = c.n_users
        theta = 1.0 + g.pareto(c.degree_exponent - 1.0, n)
        cap = c.degree_cap
        exp_deg = c.mean_degree * theta / theta.mean()
        for _ in range(3):  # renormalise the mean after capping
            exp_deg = np.minimum(exp_deg, cap)
            exp_deg *= c.mean_degree / exp_deg.mean()
        exp_deg = np.minimum(exp_deg, cap)
        stubs = g.poisson(exp_deg)
        within = g.binomial(stubs, c.homophily)
        cross = stubs - within
        # within-community pairing: sort stubs by (community, random), pair neighbours in a block
        owners = np.repeat(np.arange(n), within)
        comm = self.user_comm[owners]
        order = np.argsort(comm * (1 << 40) + g.integers(0, 1 << 40, len(owners)))
        owners, comm = owners[order], comm[order]
        size = np.bincount(comm, minlength=len(self.centres))
        start = np.concatenate([[0], np.cumsum(size)[:-1]])
        pos = np.arange(len(owners)) - start[comm]
        left = np.flatnonzero((pos % 2 == 0) & (pos + 1 < size[comm]))
        a1, b1 = owners[left], owners[left + 1]
        # cross pairing: a random matching of all cross stubs
        owners = np.repeat(np.arange(n), cross)
        owners = owners[g.permutation(len(owners))]
        owners = owners[: len(owners) // 2 * 2].reshape(-1, 2)
        a = np.concatenate([a1, owners[:, 0]])
        b = np.concatenate([b1, owners[:, 1]])
        keep = a != b
        lo, hi = np.minimum(a[keep], b[keep]), np.maximum(a[keep], b[keep])
        key = _unique_sorted(lo * n + hi)
        lo, hi = key // n, key % n
        e = len(key)
        strength = 0.05 + 0.95 * g.beta(2.0, 3.0, e)
        one_way = g.random(e) < c.p_one_way
        forward = g.random(e) < 0.5
        su = np.concatenate([lo[~one_way | forward], hi[~one_way | ~forward]])
        sf = np.concatenate([hi[~one_way | forward], lo[~one_way | ~forward]])
        sw = np.concatenate([strength[~one_way | forward], strength[~one_way | ~forward]])
        order = np.argsort(su * n + sf)  # unique keys
        self.soc_user = su[order].astype(np.int64)
        self.soc_friend = sf[order].astype(np.int64)
        self.soc_weight = sw[order]
        self.soc_indptr = np.concatenate([[0], np.cumsum(np.bincount(self.soc_user, minlength=n))])
        self.soc_cumw = np.cumsum(self.soc_weight)
        self.edge_keys = self.soc_user * n + self.soc_friend  # sorted

    # ------------------------------------------------------------ choice model
    def _utility(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Utility of items (m, k) for users (m,), float32 (same formula as true_utility)."""
        # one gather of packed rows: [taste, quality, log price] . [taste, 1, -sensitivity]
        return np.einsum("md,mkd->mk", self.user_feat[users], self.item_feat[items])

    def _choose_own(self, users: np.ndarray, stage: int, with_views: bool):
        """Own choices of ``users`` (one event each): chosen items, utilities, browsed views."""
        c = self.cfg
        nc = c.n_candidates
        n_comm = int(round(nc * c.p_community_candidate))
        pool_n = self.pools.shape[1]
        p_view = min(1.0, c.views_per_purchase / (nc - 1))
        items, utils, v_ev, v_item = [], [], [], []
        for k, a in enumerate(range(0, len(users), _CHUNK)):
            g = self.gen(stage, k)
            u = users[a:a + _CHUNK]
            m = len(u)
            cand = np.empty((m, nc), dtype=np.int64)
            cand[:, :n_comm] = self.pools[self.user_comm[u][:, None], g.integers(0, pool_n, (m, n_comm))]
            cand[:, n_comm:] = self.exposure.draw(g.random((m, nc - n_comm)).ravel()).reshape(
                m, nc - n_comm)
            util = self._utility(u, cand)
            score = util / c.choice_temperature - np.log(-np.log(g.random((m, nc)) + 1e-300))
            pick = np.argmax(score, axis=1)
            rows = np.arange(m)
            items.append(cand[rows, pick])
            utils.append(util[rows, pick])
            if with_views:
                seen = g.random((m, nc)) < p_view
                seen[rows, pick] = False
                r, col = np.nonzero(seen)
                v_ev.append(r + a)
                v_item.append(cand[r, col])
        return (_cat(items, np.int64), _cat(utils, np.float32), _cat(v_ev, np.int64),
                _cat(v_item, np.int64))

    def _endorse(self, users, items, times, utils, purchase_idx, stage: int):
        """recommend_after_purchase rows for purchases (before de-duplication per pair)."""
        c = self.cfg
        g = self.gen(_S_ENDORSE, stage)
        z = (utils - self.util_mu) / self.util_sd
        p = np.minimum(1.0, c.p_recommend_after_purchase * 2.0 / (1.0 + np.exp(-c.satisfaction_slope * z)))
        rec = g.random(len(users)) < p
        delay = 1 + np.floor(g.exponential(c.recommend_delay_days * _DAY, len(users))).astype(np.int64)
        t = times + delay
        rec &= t < self.end
        vis = g.choice(3, size=int(rec.sum()), p=c.visibility_mix).astype(np.int8)
        return {"user": users[rec], "item": items[rec], "time": t[rec], "vis": vis,
                "purchase": purchase_idx[rec]}

    # ------------------------------------------------------------ purchases
    def _own(self) -> None:
        c, g = self.cfg, self.gen(_S_OWN)
        n = c.n_users
        n_p = 1 + g.poisson((c.purchases_per_user - 1.0) * self.activity.astype(float))
        self.n_purchases = n_p
        n_soc = g.binomial(n_p - 1, c.social_influence)
        own = n_p - n_soc
        self.social_users = np.repeat(np.arange(n), n_soc)
        users = np.repeat(np.arange(n), own)
        times = g.integers(self.start, self.end, len(users))
        items, utils, v_ev, v_item = self._choose_own(users, _S_OWN, with_views=True)
        self.util_mu = float(utils.mean())
        self.util_sd = float(utils.std()) or 1.0
        self.p_user, self.p_item, self.p_time, self.p_util = [users], [items], [times], [utils]
        self.p_social = [np.zeros(len(users), dtype=bool)]
        self.n_p_rows = len(users)
        self.views = [(users[v_ev], v_item, times[v_ev], _S_OWN)]
        raps = self._endorse(users, items, times, utils, np.arange(len(users)), 0)
        self.raps = [raps]

    def _plain(self) -> None:
        c, g = self.cfg, self.gen(_S_PLAIN)
        cnt = g.poisson(c.p_plain_recommend * self.n_purchases)
        users = np.repeat(np.arange(c.n_users), cnt)
        items, _, _, _ = self._choose_own(users, _S_PLAIN, with_views=False)
        times = g.integers(self.start, self.end, len(users))
        n_i = c.n_items
        bought = _unique_sorted(self.p_user[0] * n_i + self.p_item[0])
        keep = ~_isin_sorted(users * n_i + items, bought)
        users, items, times = users[keep], items[keep], times[keep]
        first = _first_per_key(users * n_i + items, times)
        users, items, times = users[first], items[first], times[first]
        vis = g.choice(3, size=len(users), p=c.visibility_mix).astype(np.int8)
        self.plain = {"user": users, "item": items, "time": times, "vis": vis}

    def _social(self) -> None:
        c, g = self.cfg, self.gen(_S_SOCIAL)
        n = c.n_users
        users_all = self.social_users
        wave = g.integers(1, c.influence_rounds + 1, len(users_all))
        fallback = []
        k_cand = 3
        for r in range(1, c.influence_rounds + 1):
            users = users_all[wave == r]
            # the endorsements visible so far (not private), indexed by endorser
            pool = [self.plain] + self.raps
            e_user = np.concatenate([p["user"] for p in pool])
            e_item = np.concatenate([p["item"] for p in pool])
            e_time = np.concatenate([p["time"] for p in pool])
            e_vis = np.concatenate([p["vis"] for p in pool])
            ok = e_vis != VISIBILITIES.index("private")
            e_user, e_item, e_time, e_vis = e_user[ok], e_item[ok], e_time[ok], e_vis[ok]
            order = np.argsort(e_user, kind="stable")
            e_user, e_item, e_time, e_vis = e_user[order], e_item[order], e_time[order], e_vis[order]
            e_count = np.bincount(e_user, minlength=n)
            e_start = np.concatenate([[0], np.cumsum(e_count)[:-1]])
            out_u, out_i, out_t, out_util = [], [], [], []
            for k, a in enumerate(range(0, len(users), _CHUNK)):
                gg = self.gen(_S_SOCIAL, r, k)
                u = users[a:a + _CHUNK]
                m = len(u)
                lo, hi = self.soc_indptr[u], self.soc_indptr[u + 1]
                has_friend = hi > lo
                base = np.where(lo > 0, self.soc_cumw[np.maximum(lo - 1, 0)], 0.0)
                total = np.where(has_friend, self.soc_cumw[np.maximum(hi - 1, 0)] - base, 0.0)
                target = base[:, None] + gg.random((m, k_cand)) * total[:, None]
                fidx = np.searchsorted(self.soc_cumw, target, side="right")
                fidx = np.clip(fidx, lo[:, None], np.maximum(hi - 1, lo)[:, None])
                friend = self.soc_friend[np.minimum(fidx, len(self.soc_friend) - 1)]
                cnt = e_count[friend]
                valid = has_friend[:, None] & (cnt > 0)
                eidx = e_start[friend] + np.floor(gg.random((m, k_cand)) * cnt).astype(np.int64)
                eidx = np.where(valid, eidx, 0)
                if len(e_item) == 0:
                    valid[:] = False
                    eidx[:] = 0
                    item = np.zeros((m, k_cand), dtype=np.int64)
                    etime = np.zeros((m, k_cand), dtype=np.int64)
                    evis = np.zeros((m, k_cand), dtype=np.int8)
                else:
                    item, etime, evis = e_item[eidx], e_time[eidx], e_vis[eidx]
                # "friends" visibility needs the endorser to follow the viewer back
                back = _isin_sorted(friend * n + u[:, None], self.edge_keys)
                valid &= (evis == VISIBILITIES.index("public")) | back
                t = etime + 1 + np.floor(
                    gg.exponential(c.influence_delay_days * _DAY, (m, k_cand))).astype(np.int64)
                valid &= t < self.end
                util = self._utility(u, item)
                score = util / c.choice_temperature - np.log(-np.log(gg.random((m, k_cand)) + 1e-300))
                score = np.where(valid, score, -np.inf)
                pick = np.argmax(score, axis=1)
                got = valid.any(axis=1)
                rows = np.flatnonzero(got)
                out_u.append(u[rows])
                out_i.append(item[rows, pick[rows]])
                out_t.append(t[rows, pick[rows]])
                out_util.append(util[rows, pick[rows]])
                fallback.append(u[~got])
            su, si = _cat(out_u, np.int64), _cat(out_i, np.int64)
            st, sut = _cat(out_t, np.int64), _cat(out_util, np.float32)
            idx = np.arange(self.n_p_rows, self.n_p_rows + len(su))
            self.n_p_rows += len(su)
            self.p_user.append(su)
            self.p_item.append(si)
            self.p_time.append(st)
            self.p_util.append(sut)
            self.p_social.append(np.ones(len(su), dtype=bool))
            self.raps.append(self._endorse(su, si, st, sut, idx, r))
        # social purchases that found no fitting endorsement become own purchases
        fb = np.sort(_cat(fallback, np.int64))
        gf = self.gen(_S_FALLBACK)
        times = gf.integers(self.start, self.end, len(fb))
        items, utils, v_ev, v_item = self._choose_own(fb, _S_FALLBACK, with_views=True)
        idx = np.arange(self.n_p_rows, self.n_p_rows + len(fb))
        self.n_p_rows += len(fb)
        self.p_user.append(fb)
        self.p_item.append(items)
        self.p_time.append(times)
        self.p_util.append(utils)
        self.p_social.append(np.zeros(len(fb), dtype=bool))
        self.views.append((fb[v_ev], v_item, times[v_ev], _S_FALLBACK))
        self.raps.append(self._endorse(fb, items, times, utils, idx, c.influence_rounds + 1))

    # ------------------------------------------------------------ views and blocks
    def _views_blocks(self) -> None:
        c = self.cfg
        n, n_i = c.n_users, c.n_items
        g = self.gen(_S_VIEWS)
        pu = np.concatenate(self.p_user)
        pi = np.concatenate(self.p_item)
        pt = np.concatenate(self.p_time)
        before = g.random(len(pu)) < c.p_view_before_purchase
        vu, vi, vt = [pu[before]], [pi[before]], [pt[before]]
        vt[0] = vt[0] - 1 - np.floor(g.exponential(_DAY, int(before.sum()))).astype(np.int64)
        for users, items, times, stage in self.views:
            gv = self.gen(_S_VIEWS, stage)
            vu.append(users)
            vi.append(items)
            vt.append(times - 1 - np.floor(gv.exponential(_DAY / 4, len(users))).astype(np.int64))
        vu, vi, vt = np.concatenate(vu), np.concatenate(vi), np.concatenate(vt)
        vt = np.maximum(vt, self.start)
        keys = vu * n_i + vi
        order = _order(keys, vt)
        ks = keys[order]
        first = np.ones(len(ks), dtype=bool)
        first[1:] = ks[1:] != ks[:-1]
        starts = np.flatnonzero(first)
        counts = np.diff(np.append(starts, len(ks)))
        pos = order[starts]
        self.view_rows = {"user": vu[pos], "item": vi[pos], "time": vt[pos],
                          "weight": counts.astype(np.float64)}
        # blocks: half against a friend, half against anyone
        gb = self.gen(_S_BLOCKS)
        nb = int(gb.binomial(n, min(1.0, c.blocks_rate))) if c.blocks_rate <= 1 else int(
            gb.poisson(c.blocks_rate * n))
        bu = gb.integers(0, n, nb)
        lo, hi = self.soc_indptr[bu], self.soc_indptr[bu + 1]
        pick_friend = (gb.random(nb) < 0.5) & (hi > lo)
        fpos = lo + np.floor(gb.random(nb) * (hi - lo)).astype(np.int64)
        rand_user = gb.integers(0, n, nb)
        bb = rand_user
        if len(self.soc_friend):
            friend = self.soc_friend[np.minimum(fpos, len(self.soc_friend) - 1)]
            bb = np.where(pick_friend, friend, rand_user)
        keep = bu != bb
        key = _unique_sorted(bu[keep] * n + bb[keep])
        self.block_user, self.block_blocked = key // n, key % n

    # ------------------------------------------------------------ assemble the Dataset
    def _assemble(self) -> None:
        c = self.cfg
        n, n_i = c.n_users, c.n_items
        pu = np.concatenate(self.p_user)
        pi = np.concatenate(self.p_item)
        pt = np.concatenate(self.p_time)
        psoc = np.concatenate(self.p_social)
        # order numbers in time order
        o = _order((pt - self.start) * n + pu, pi)
        order_no = np.empty(len(pu), dtype=np.int64)
        order_no[o] = np.arange(len(pu))
        # endorsements after purchase: one per (user, item), the earliest
        ru = np.concatenate([r["user"] for r in self.raps])
        ri = np.concatenate([r["item"] for r in self.raps])
        rt = np.concatenate([r["time"] for r in self.raps])
        rv = np.concatenate([r["vis"] for r in self.raps])
        rp = np.concatenate([r["purchase"] for r in self.raps])
        first = _first_per_key(ru * n_i + ri, rt)
        ru, ri, rt, rv, rp = ru[first], ri[first], rt[first], rv[first], rp[first]
        pl = self.plain
        vw = self.view_rows
        friends = np.int8(VISIBILITIES.index("friends"))
        kind_code = {k: np.int8(i) for i, k in enumerate(KINDS)}
        parts = [
            (pu, pi, kind_code["purchase"], np.ones(len(pu)), pt, np.full(len(pu), friends),
             order_no),
            (ru, ri, kind_code["recommend_after_purchase"], np.ones(len(ru)), rt, rv,
             order_no[rp]),
            (pl["user"], pl["item"], kind_code["recommend"], np.ones(len(pl["user"])), pl["time"],
             pl["vis"], np.full(len(pl["user"]), -1)),
            (vw["user"], vw["item"], kind_code["view"], vw["weight"], vw["time"],
             np.full(len(vw["user"]), friends), np.full(len(vw["user"]), -1)),
        ]
        user = np.concatenate([p[0] for p in parts])
        item = np.concatenate([p[1] for p in parts])
        kind = np.concatenate([np.full(len(p[0]), p[2], dtype=np.int8) for p in parts])
        weight = np.concatenate([p[3] for p in parts]).astype(np.float64)
        ts = np.concatenate([p[4] for p in parts]).astype(np.int64)
        vis = np.concatenate([p[5] for p in parts]).astype(np.int8)
        ono = np.concatenate([p[6] for p in parts]).astype(np.int64)
        del parts
        srt = _order(user * (self.end - self.start + 1) + (ts - self.start), item * 8 + kind)
        user, item, kind, weight, ts, vis, ono = (
            user[srt], item[srt], kind[srt], weight[srt], ts[srt], vis[srt], ono[srt])
        has_order = ono >= 0
        width = max(8, len(str(len(pu))))
        order_str = np.array([f"o{k + 1:0{width}d}" for k in range(len(pu))], dtype=object)
        order_id = np.full(len(user), None, dtype=object)
        order_id[has_order] = order_str[ono[has_order]]
        plat = np.array(c.platforms, dtype=object)
        source = np.full(len(user), None, dtype=object)
        source[has_order] = plat[self.merchant_platform[self.item_merchant[item[has_order]]]]
        amount = np.full(len(user), np.nan)
        is_p = kind == kind_code["purchase"]
        amount[is_p] = self.price[item[is_p]]
        inter = pd.DataFrame({
            "user": user.astype(np.int32), "item": item.astype(np.int32), "kind": kind,
            "weight": weight, "timestamp": ts, "visibility": vis,
            # object columns as Dataset.from_frames makes them (pandas 3 would infer Arrow strings)
            "order_id": pd.Series(order_id, dtype=object),
            "source": pd.Series(source, dtype=object), "amount": amount,
        })
        social = pd.DataFrame({
            "user": self.soc_user.astype(np.int32), "friend": self.soc_friend.astype(np.int32),
            "weight": self.soc_weight.astype(np.float64),
        })
        blocks = pd.DataFrame({
            "user": self.block_user.astype(np.int32), "blocked": self.block_blocked.astype(np.int32),
        })
        mw = max(5, len(str(c.merchants)))
        mnames = np.array([f"m{k + 1:0{mw}d}" for k in range(c.merchants)], dtype=object)
        cnames = np.array(self.cat_names, dtype=object)
        items = pd.DataFrame({
            "title": pd.Series(self.titles, dtype=object),
            "category": pd.Series(cnames[self.item_cat], dtype=object),
            "merchant": pd.Series(mnames[self.item_merchant], dtype=object),
            "price": self.price.astype(np.float64),
            "searchable": self.searchable.astype(bool),
        })
        uw = max(6, len(str(n)))
        iw = max(6, len(str(n_i)))
        user_ids = np.array([f"u{k + 1:0{uw}d}" for k in range(n)], dtype=object)
        item_ids = np.array([f"i{k + 1:0{iw}d}" for k in range(n_i)], dtype=object)
        n_rap = len(ru)
        realised = {
            "purchases": int(len(pu)),
            "social_share": float(psoc.mean()) if len(psoc) else 0.0,
            "recommend_after_purchase_per_purchase": n_rap / max(1, len(pu)),
            "plain_recommend_per_purchase": len(pl["user"]) / max(1, len(pu)),
            "mean_friends": float(len(self.soc_user) / n),
            "blocks": int(len(self.block_user)),
            "communities": c.communities,
            "merchants": c.merchants,
            "degree_cap": c.degree_cap,
        }
        truth = {
            "user_taste": self.user_taste,
            "item_taste": self.item_taste,
            "item_quality": self.quality,
            "item_price": self.price.astype(np.float64),
            "item_merchant": self.item_merchant,
            "merchant_size": self.merchant_size,
            "user_community": self.user_comm,
            "user_activity": self.activity,
            "user_price_sensitivity": self.sens,
        }
        meta = {
            "name": "synthetic",
            "seed": self.seed_repr,
            "world": c.to_dict(),
            "realised": realised,
            "start": self.start,
            "end": self.end,
        }
        self.ds = Dataset(
            user_ids=user_ids, item_ids=item_ids, _inter=inter, _social=social, _blocks=blocks,
            _items=items, has_timestamps=True, meta=meta, truth=truth,
        )
