"""The simulated world: agents' static traits as numpy arrays, built from a synthetic Dataset.

Users, items and merchants are rows of arrays indexed by the Dataset's dense indices. Static
traits come from the ground truth of :func:`haowurank.datasets.synthetic` (``ds.truth``); the
few traits the world generator does not make (repurchase cycles, merchants' messaging policies
and main platforms) are derived here from the world seed, so every strategy run on one world
sees the same agents.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .. import Dataset
from ._config import POLICIES, SimulationConfig
from ._streams import Streams

__all__ = ["REQUIRED_TRUTH", "World", "make_dataset"]

log = logging.getLogger(__name__)

#: Ground-truth keys the simulation needs (as made by ``hr.datasets.synthetic``).
REQUIRED_TRUTH: tuple[str, ...] = (
    "user_taste", "item_taste", "item_quality", "item_price", "item_merchant", "merchant_size",
    "user_community", "user_activity", "user_price_sensitivity",
)
DAY_SECONDS = 86_400


def make_dataset(config: SimulationConfig, *, show_progress: bool = False) -> Dataset:
    """The initial world of a run: ``hr.datasets.synthetic`` with the config's size and knobs
    (:meth:`SimulationConfig.world_knobs`)."""
    from ..datasets import synthetic

    seed = config.seed if config.world_seed is None else config.world_seed
    return synthetic(
        n_users=config.n_users, n_items=config.n_items, seed=seed, show_progress=show_progress,
        **config.world_knobs(),
    )


@dataclass(eq=False)
class World:
    """Static arrays of one simulated world (indices are the Dataset's dense indices).

    Attributes
    ----------
    ds : Dataset
        The initial world (history before day 0, social graph, items, truth).
    user_taste : ndarray of shape (n_users, d), float32
    item_taste : ndarray of shape (n_items, d), float32
    quality : ndarray of shape (n_items,), float64
    price : ndarray of shape (n_items,), float64
    log_price_rel : ndarray of shape (n_items,), float64
        ``log(price / median(price))``.
    price_sensitivity : ndarray of shape (n_users,), float64
    p_active : ndarray of shape (n_users,), float64
        Probability of a session on a day (the config's rate scaled by true activity).
    item_merchant, item_category : ndarray of shape (n_items,), int64
    searchable : ndarray of shape (n_items,), bool
    item_cycle : ndarray of shape (n_items,), float64
        Expected repurchase cycle in days.
    category_taste : ndarray of shape (n_categories, d), float32
        Mean item taste per category (the query model).
    category_items : ndarray of shape (n_categories,), object
        The searchable items (int64 arrays) of each category.
    category_query : ndarray of shape (n_categories,), object
        The text a user types to search a category: its name, underscores as spaces.
    merchant_size : ndarray of shape (n_merchants,)
    merchant_policy : ndarray of shape (n_merchants,), int64
        Index into :data:`POLICIES`.
    merchant_platform : ndarray of shape (n_merchants,), int64
        Index into ``platforms``: the source platform its orders sync from.
    longtail : ndarray of shape (n_merchants,), bool
        Merchants outside the largest ``longtail_top_share`` (by number of items).
    longtail_items : ndarray of shape (n_items,), bool
        Items outside the ``longtail_top_share`` most popular items of the initial world (by
        rows of the history; ties by index). Fixed for the run, like ``longtail``.
    util_mean, util_sd : float
        Moments of the true utility over random pairs (to standardise it).
    t0 : int
        Unix seconds of the start of day 0.
    """

    ds: Dataset
    config: SimulationConfig
    user_taste: np.ndarray
    item_taste: np.ndarray
    quality: np.ndarray
    price: np.ndarray
    log_price_rel: np.ndarray
    price_sensitivity: np.ndarray
    p_active: np.ndarray
    item_merchant: np.ndarray
    item_category: np.ndarray
    category_names: np.ndarray
    searchable: np.ndarray
    item_cycle: np.ndarray
    category_taste: np.ndarray
    category_items: np.ndarray
    category_query: np.ndarray
    merchant_size: np.ndarray
    merchant_names: np.ndarray
    merchant_policy: np.ndarray
    merchant_platform: np.ndarray
    platforms: np.ndarray
    longtail: np.ndarray
    longtail_items: np.ndarray
    util_mean: float
    util_sd: float
    t0: int

    @property
    def n_users(self) -> int:
        return self.ds.n_users

    @property
    def n_items(self) -> int:
        return self.ds.n_items

    @property
    def n_merchants(self) -> int:
        return len(self.merchant_size)

    @property
    def n_categories(self) -> int:
        return len(self.category_names)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_dataset(cls, ds: Dataset, config: SimulationConfig) -> World:
        """Build the world's arrays from a Dataset that carries synthetic ground truth.

        Raises
        ------
        ValueError
            The Dataset lacks ground truth keys (see :data:`REQUIRED_TRUTH`) or their shapes do
            not match its vocabularies.
        """
        if not isinstance(ds, Dataset):
            raise TypeError(f"The 'dataset' argument must be a haowurank.Dataset. Got {type(ds).__name__}.")
        missing = [k for k in REQUIRED_TRUTH if k not in ds.truth]
        if missing:
            raise ValueError(
                f"The 'dataset' must carry synthetic ground truth (ds.truth); it lacks {missing}. "
                f"Make the world with hr.datasets.synthetic."
            )
        t = {k: np.asarray(v) for k, v in ds.truth.items()}
        nu, ni = ds.n_users, ds.n_items
        for key, n in (("user_taste", nu), ("user_activity", nu), ("user_price_sensitivity", nu),
                       ("user_community", nu), ("item_taste", ni), ("item_quality", ni),
                       ("item_price", ni), ("item_merchant", ni)):
            if len(t[key]) != n:
                raise ValueError(
                    f"ds.truth[{key!r}] has {len(t[key])} rows; the dataset has "
                    f"{nu if key.startswith('user') else ni}."
                )
        wseed = config.seed if config.world_seed is None else config.world_seed
        ws = Streams(wseed)
        U = t["user_taste"].astype(np.float32)
        V = t["item_taste"].astype(np.float32)
        price = t["item_price"].astype(np.float64)
        price = np.where(np.isfinite(price) & (price > 0), price, np.nanmedian(price))
        logp = np.log(price / np.median(price))
        sens = t["user_price_sensitivity"].astype(np.float64)
        act = np.clip(t["user_activity"].astype(np.float64), 0.0, None)
        act = act / act.mean() if act.mean() > 0 else np.ones(nu)
        p_active = np.clip(config.daily_active_rate * act, 0.0, 1.0)
        quality = t["item_quality"].astype(np.float64)
        merchant = t["item_merchant"].astype(np.int64)
        msize = t["merchant_size"].astype(np.float64)
        n_m = int(max(len(msize), merchant.max() + 1 if ni else 0))
        if len(msize) < n_m:
            msize = np.bincount(merchant, minlength=n_m).astype(np.float64)

        items = ds.items
        names = items["merchant"].to_numpy(dtype=object)
        mnames = np.array([f"m{k}" for k in range(n_m)], dtype=object)
        has = pd.notna(names)
        if has.any():
            pairs = pd.DataFrame({"m": merchant[has], "name": names[has]}).drop_duplicates("m")
            mnames[pairs["m"].to_numpy()] = pairs["name"].to_numpy()
            if len(set(mnames.tolist())) != n_m:  # inconsistent names: fall back to codes
                mnames = np.array([f"m{k}" for k in range(n_m)], dtype=object)

        cat_raw = items["category"].to_numpy(dtype=object)
        if pd.notna(cat_raw).all() and ni:
            cat_names, cat = np.unique(cat_raw.astype(str), return_inverse=True)
            cat_names = cat_names.astype(object)
        else:  # no categories: the item's strongest taste dimension is its category
            cat = np.argmax(V, axis=1) if ni else np.zeros(0, dtype=np.int64)
            cat_names = np.array([f"c{k}" for k in range(V.shape[1])], dtype=object)
        cat = cat.astype(np.int64)
        n_c = len(cat_names)
        cat_query = np.array([str(c).replace("_", " ") for c in cat_names], dtype=object)
        cnt = np.bincount(cat, minlength=n_c).astype(np.float64)
        cat_taste = np.zeros((n_c, V.shape[1]), dtype=np.float64)
        np.add.at(cat_taste, cat, V)
        cat_taste = (cat_taste / np.maximum(cnt, 1)[:, None]).astype(np.float32)
        searchable = items["searchable"].to_numpy(dtype=bool)
        sitems = np.flatnonzero(searchable)
        cat_items = np.empty(n_c, dtype=object)
        for k_c in range(n_c):
            cat_items[k_c] = sitems[cat[sitems] == k_c].astype(np.int64)

        # repurchase cycle: a category level around the median, and item noise
        c_cat = config.repurchase_days * np.exp(0.5 * ws.normal("cycle", 0, np.arange(n_c)))
        cycle = c_cat[cat] * np.exp(0.25 * ws.normal("cycle", 1, np.arange(ni)))
        cycle = np.clip(cycle, 1.0, 365.0)

        # merchants: policy by exact shares over a seeded order; platform from the orders
        shares = config.policy_shares()
        order = np.argsort(ws.uniform("policy", 0, np.arange(n_m)), kind="stable")
        policy = np.zeros(n_m, dtype=np.int64)
        bounds = np.round(np.cumsum([shares[p] for p in shares]) * n_m).astype(int)
        lo = 0
        for p, hi in zip(shares, bounds):
            policy[order[lo:hi]] = POLICIES.index(p)
            lo = hi
        platforms, mplat = _merchant_platforms(ds, merchant, n_m, ws)

        top = max(1, int(np.ceil(config.longtail_top_share * n_m)))
        rank = np.lexsort((np.arange(n_m), -msize))
        longtail = np.ones(n_m, dtype=bool)
        longtail[rank[:top]] = False
        popularity = np.bincount(ds.interaction_arrays()["item"], minlength=ni)
        head = np.lexsort((np.arange(ni), -popularity))[: max(1, int(np.ceil(
            config.longtail_top_share * ni)))]
        longtail_items = np.ones(ni, dtype=bool)
        longtail_items[head] = False

        # moments of the true utility over random pairs (standardise click / buy logits)
        k = min(200_000, max(1000, nu * 4))
        su = (ws.uniform("world_sample", 0, np.arange(k)) * nu).astype(np.int64)
        si = (ws.uniform("world_sample", 1, np.arange(k)) * ni).astype(np.int64)
        raw = (np.einsum("ij,ij->i", U[su], V[si], dtype=np.float64) + quality[si]
               - sens[su] * logp[si])
        mu, sd = float(raw.mean()), float(raw.std()) or 1.0

        ts = ds.interaction_arrays()["timestamp"]
        end = ds.meta.get("end")
        t_end = int(end) if isinstance(end, int | np.integer) else (int(ts.max()) + 1 if len(ts) else 0)
        t0 = (t_end // DAY_SECONDS + 1) * DAY_SECONDS
        return cls(
            ds=ds, config=config, user_taste=U, item_taste=V, quality=quality, price=price,
            log_price_rel=logp, price_sensitivity=sens, p_active=p_active,
            item_merchant=merchant, item_category=cat, category_names=cat_names,
            searchable=searchable, item_cycle=cycle, category_taste=cat_taste,
            category_items=cat_items, category_query=cat_query,
            merchant_size=msize, merchant_names=mnames, merchant_policy=policy,
            merchant_platform=mplat, platforms=platforms, longtail=longtail,
            longtail_items=longtail_items, util_mean=mu, util_sd=sd, t0=t0,
        )

    # ------------------------------------------------------------------ behaviour helpers
    def utility(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """True utility of (user, item) pairs, the quantity of ``hr.datasets.true_utility``:
        ``taste . item_taste + quality - price_sensitivity * log(price / median price)``."""
        if len(users) == 0:
            return np.zeros(0)
        dot = np.einsum("ij,ij->i", self.user_taste[users], self.item_taste[items], dtype=np.float64)
        return dot + self.quality[items] - self.price_sensitivity[users] * self.log_price_rel[items]

    def z_utility(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Standardised true utility (mean 0, sd 1 over random pairs)."""
        return (self.utility(users, items) - self.util_mean) / self.util_sd

    def day_of(self, timestamps: np.ndarray) -> np.ndarray:
        """Simulation day of Unix-second timestamps (history before day 0 is negative)."""
        return np.floor_divide(np.asarray(timestamps, dtype=np.int64) - self.t0, DAY_SECONDS)

    def summary(self) -> dict[str, Any]:
        return {
            "users": self.n_users, "items": self.n_items, "merchants": self.n_merchants,
            "categories": self.n_categories, "social_rows": int(self.ds.n_social),
            "history_interactions": int(self.ds.n_interactions),
            "policies": {p: int((self.merchant_policy == k).sum()) for k, p in enumerate(POLICIES)
                         if (self.merchant_policy == k).any()},
        }


def _merchant_platforms(
    ds: Dataset, merchant: np.ndarray, n_m: int, ws: Streams
) -> tuple[np.ndarray, np.ndarray]:
    """Each merchant's main source platform: the most frequent ``source`` of its past orders."""
    f = ds.interaction_arrays()
    names: list[str] = []
    if "source" in f:
        codes, uniq = pd.factorize(f["source"], sort=True)
        ok = codes >= 0
        if ok.any():
            names = [str(x) for x in uniq]
            m = merchant[f["item"][ok]]
            counts = np.bincount(m * len(names) + codes[ok], minlength=n_m * len(names))
            counts = counts.reshape(n_m, len(names))
    if not names:
        plats = (ds.meta.get("world") or {}).get("platforms") or ["direct"]
        names = [str(p) for p in plats]
        counts = np.zeros((n_m, len(names)), dtype=np.int64)
    pick = np.argmax(counts, axis=1)
    none = counts.sum(axis=1) == 0
    if none.any():
        draw = (ws.uniform("source", 0, np.flatnonzero(none)) * len(names)).astype(np.int64)
        pick[none] = np.minimum(draw, len(names) - 1)
    return np.array(names, dtype=object), pick.astype(np.int64)
