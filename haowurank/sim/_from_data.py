"""A simulation world built from a real Dataset: its users, social graph, items and history.

:func:`world_from_dataset` turns a loaded data set (Epinions' or Ciao's trust network with its
rated products, Last.fm's friends and artists) into a Dataset that carries the ground truth the
simulation needs (:data:`haowurank.sim._world.REQUIRED_TRUTH`), so ``hr.sim.run(config,
dataset=world)`` runs the loop on the real graph and catalogue instead of the generator's. What
the data has is kept; what it lacks is made up by documented, seeded rules:

- **users and graph**: the data's users and social rows (a snowball sample of ``n_users`` users
  when asked: breadth-first over the undirected graph from seeded start users, so the sample
  keeps friends together), every social row between kept users;
- **history**: the kept users' interactions with their kinds, weights and visibility; times are
  moved into the ``history_days`` days before the simulation starts (with timestamps: a linear
  map that keeps their order and relative spacing; without: seeded uniform times);
- **tastes**: user and item factors of the project's own ALS
  (:class:`haowurank.rankers.ALSRanker`, :meth:`~haowurank.rankers.ALSRanker.latent_factors`)
  fitted on that history, rescaled so the taste affinity ``user_taste . item_taste`` has standard
  deviation ``taste_strength`` over random pairs (the synthetic world's convention);
- **quality**: with ratings (``ds.meta["weight"] == "rating"``) the item's mean rating shrunk
  towards the overall mean by 5 pseudo-ratings, otherwise ``log(1 + distinct users)``;
  standardised and scaled to ``quality_sd``;
- **categories**: the data's; items without one get ``"taste_k"``, k the strongest dimension of
  the item's factors;
- **merchants**: the data's when it names every item's merchant; otherwise assigned
  deterministically: items sorted by (category, item index) are cut into
  consecutive blocks, one per merchant, whose sizes follow a Zipf law of exponent
  ``merchant_size_exponent`` (``ceil(n_items / items_per_merchant)`` merchants, sizes in a seeded
  order), so most merchants sell within one category and a few large ones sell much;
- **prices**: the data's where it has them, otherwise log-normal, a per-category level
  (``price_median`` times ``exp(0.6 z)``) times item noise ``exp(price_sigma z)``, rounded to
  shop prices (``x.99``);
- **activity**: interactions per user divided by the mean (users without any get a quarter of
  the smallest non-zero activity); **price sensitivity** ``price_sensitivity`` times a
  log-normal of spread 0.5 and mean 1; **community**: the strongest dimension of the user's
  factors.

The same Dataset, parameters and seed give the same world.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
from scipy.sparse.csgraph import breadth_first_order

from .._checks import check_int, check_real
from .._dataset import KINDS, VISIBILITIES, Dataset
from .._random import SeedLike, spawn

__all__ = ["world_from_dataset"]

log = logging.getLogger(__name__)

DAY_SECONDS = 86_400
#: Platforms the merchants of a world from data sync their orders from (the synthetic world's).
PLATFORMS: tuple[str, ...] = ("weidian", "youzan", "taobao", "shopify")
_START = int(pd.Timestamp("2024-01-01", tz="UTC").timestamp())
_SHRINK = 5.0  # pseudo-ratings of the quality's shrinkage towards the overall mean


def snowball_users(ds: Dataset, n_users: int, seed: SeedLike = 0) -> np.ndarray:
    """Indices of ``n_users`` users reached breadth-first over the undirected social graph.

    Start users are taken in a seeded random order; each start adds its connected component in
    breadth-first order (users already taken are skipped) until ``n_users`` are taken, the last
    component cut in its breadth-first order.

    Returns
    -------
    ndarray of shape (n_users,), int64
        Sorted user indices.
    """
    n = ds.n_users
    if n_users >= n:
        return np.arange(n, dtype=np.int64)
    s = ds.social_matrix(weighted=False)
    adj = (s + s.T).tocsr()
    (g,) = spawn(seed, 1)
    starts = g.permutation(n)
    taken = np.zeros(n, dtype=bool)
    out: list[np.ndarray] = []
    count = 0
    for start in starts:
        if count >= n_users:
            break
        if taken[start]:
            continue
        order = breadth_first_order(adj, int(start), directed=False, return_predecessors=False)
        order = order[~taken[order]][: n_users - count]
        taken[order] = True
        out.append(order)
        count += len(order)
    return np.sort(np.concatenate(out).astype(np.int64))


def _zipf_blocks(n_items: int, n_merchants: int, exponent: float, g: np.random.Generator) -> np.ndarray:
    """Block sizes (each >= 1, summing to n_items) proportional to a Zipf law, in seeded order."""
    w = (np.arange(1, n_merchants + 1, dtype=np.float64)) ** -exponent
    extra = n_items - n_merchants
    sizes = np.ones(n_merchants, dtype=np.int64)
    if extra > 0:
        raw = w / w.sum() * extra
        base = np.floor(raw).astype(np.int64)
        rest = extra - int(base.sum())
        frac_order = np.lexsort((np.arange(n_merchants), -(raw - base)))
        base[frac_order[:rest]] += 1
        sizes += base
    return sizes[g.permutation(n_merchants)]


def world_from_dataset(
    ds: Dataset,
    *,
    n_users: int | None = None,
    max_items: int | None = None,
    factors: int = 16,
    iterations: int = 15,
    regularization: float = 0.1,
    taste_strength: float = 1.0,
    quality_sd: float = 0.5,
    items_per_merchant: int = 20,
    merchant_size_exponent: float = 1.1,
    price_median: float = 60.0,
    price_sigma: float = 0.6,
    price_sensitivity: float = 0.5,
    history_days: int = 365,
    visibility: str | None = None,
    seed: SeedLike = 0,
) -> Dataset:
    """A simulation world from a real Dataset (its graph, catalogue and history; fitted tastes).

    The rules for what the data lacks are in the module docstring
    (:mod:`haowurank.sim._from_data`). Run the simulation on it with
    ``hr.sim.run(config, dataset=world)``; the config's ``n_users``, ``n_items``, ``world`` and
    ``world_seed`` are then not used.

    Parameters
    ----------
    ds : Dataset
        A loaded data set (``hr.datasets.load_epinions(...)``, ``load_ciao``, ``load_lastfm``) or
        any Dataset with interactions.
    n_users : int or None
        Keep a snowball sample of this many users (see :func:`snowball_users`); None keeps all.
    max_items : int or None
        Keep only the most interacted items (distinct users; ties by index); None keeps every
        item the kept users interacted with.
    factors, iterations, regularization : int, int, float
        The ALS fit that gives the tastes (``factors`` is the taste dimension).
    taste_strength : float > 0
        Standard deviation of ``user_taste . item_taste`` over random pairs.
    quality_sd : float >= 0
        Standard deviation of item quality.
    items_per_merchant : int >= 1
        Mean items per merchant when merchants are assigned (the number of merchants is
        ``ceil(n_items / items_per_merchant)``).
    merchant_size_exponent : float >= 0
        Zipf exponent of the assigned merchants' sizes (0: equal sizes).
    price_median, price_sigma : float > 0, float >= 0
        Median and log spread of the made-up prices (data prices are kept where present).
    price_sensitivity : float >= 0
        Mean of the users' price sensitivity.
    history_days : int >= 1
        The history is placed in this many days before the simulation starts.
    visibility : {"public", "friends", "private"} or None
        Set the visibility of every endorsement of the history (None keeps the data's).
    seed : int, SeedSequence or Generator
        Seeds the sample, the ALS fit, merchants, prices, sensitivities and made-up times.

    Returns
    -------
    Dataset
        Users, social rows, interactions (``timestamp`` set) and items (``category``,
        ``merchant``, ``price``, ``searchable``, ``title``) with ``truth`` holding the keys the
        simulation needs; ``meta["world_from_data"]`` records the source and these parameters.

    Raises
    ------
    TypeError
        ``ds`` is not a Dataset.
    ValueError
        A parameter is out of range, or the kept users have no interactions.

    Examples
    --------
    >>> import haowurank as hr
    >>> ds = hr.datasets.synthetic(n_users=200, n_items=80, seed=1)
    >>> world = hr.sim.world_from_dataset(ds.replace(truth={}), factors=4, seed=0)
    >>> sorted(world.truth)[:3]
    ['item_merchant', 'item_price', 'item_quality']
    >>> res = hr.sim.run(hr.sim.SimulationConfig(days=2, strategy="popularity"), dataset=world)
    >>> len(res.daily)
    2
    """
    from ..rankers import ALSRanker

    if not isinstance(ds, Dataset):
        raise TypeError(
            f"The 'ds' argument of world_from_dataset must be a haowurank.Dataset. "
            f"Got {type(ds).__name__} instead."
        )
    check_int(n_users, "n_users", "world_from_dataset", 2, allow_none=True)
    check_int(max_items, "max_items", "world_from_dataset", 2, allow_none=True)
    check_int(factors, "factors", "world_from_dataset", 1)
    check_int(iterations, "iterations", "world_from_dataset", 1)
    check_int(items_per_merchant, "items_per_merchant", "world_from_dataset", 1)
    check_int(history_days, "history_days", "world_from_dataset", 1)
    check_real(regularization, "regularization", "world_from_dataset", 0.0)
    check_real(taste_strength, "taste_strength", "world_from_dataset", 0.0, strict=True)
    check_real(quality_sd, "quality_sd", "world_from_dataset", 0.0)
    check_real(merchant_size_exponent, "merchant_size_exponent", "world_from_dataset", 0.0)
    check_real(price_median, "price_median", "world_from_dataset", 0.0, strict=True)
    check_real(price_sigma, "price_sigma", "world_from_dataset", 0.0)
    check_real(price_sensitivity, "price_sensitivity", "world_from_dataset", 0.0)
    if visibility is not None and visibility not in VISIBILITIES:
        raise ValueError(
            f"The 'visibility' parameter of world_from_dataset must be None or one of "
            f"{list(VISIBILITIES)}. Got {visibility!r} instead."
        )
    g_sample, g_als, g_merchant, g_price, g_user, g_time = spawn(seed, 6)

    # ---- users: all, or a snowball sample
    users = (np.arange(ds.n_users, dtype=np.int64) if n_users is None
             else snowball_users(ds, n_users, g_sample))
    keep_u = np.zeros(ds.n_users, dtype=bool)
    keep_u[users] = True
    a = ds.interaction_arrays()
    rows = keep_u[a["user"]]
    if not rows.any():
        raise ValueError(
            "world_from_dataset: the kept users have no interactions "
            f"({len(users)} users of {ds.n_users}); a world needs a history to fit tastes on."
        )
    # ---- items: those the kept users interacted with, at most max_items by distinct users
    pairs = np.unique(a["user"][rows].astype(np.int64) * ds.n_items + a["item"][rows])
    n_by_item = np.bincount(pairs % ds.n_items, minlength=ds.n_items)
    items = np.flatnonzero(n_by_item > 0)
    if max_items is not None and len(items) > max_items:
        items = _top_items(n_by_item, max_items)
    keep_i = np.zeros(ds.n_items, dtype=bool)
    keep_i[items] = True
    rows &= keep_i[a["item"]]

    # ---- history rows, with times placed before the simulation's start
    ru, ri = a["user"][rows], a["item"][rows]
    t_end = _START + history_days * DAY_SECONDS
    span = history_days * DAY_SECONDS - DAY_SECONDS
    if ds.has_timestamps:
        t = a["timestamp"][rows].astype(np.float64)
        lo, hi = float(t.min()), float(t.max())
        frac = (t - lo) / (hi - lo) if hi > lo else np.ones(len(t))
    else:
        frac = g_time.random(len(ru))
    ts = (_START + np.floor(frac * span)).astype(np.int64)
    vis = a["visibility"][rows]
    vis_names = np.asarray(VISIBILITIES, dtype=object)[vis.astype(np.int64)]
    if visibility is not None:
        vis_names = np.full(len(ru), visibility, dtype=object)
    inter = pd.DataFrame({
        "user": ds.user_ids[ru], "item": ds.item_ids[ri],
        "kind": np.asarray(KINDS, dtype=object)[a["kind"][rows].astype(np.int64)],
        "weight": a["weight"][rows].astype(np.float64), "timestamp": ts,
        "visibility": vis_names,
    })
    for col in ("order_id", "source"):  # repeated orders of one pair stay apart; platforms kept
        if col in a and a[col] is not None:
            inter[col] = a[col][rows]
    if "order_id" not in inter:  # the simulation appends rows with order ids to this history
        inter["order_id"] = None
    soc = ds.indexed_social
    sk = keep_u[soc["user"].to_numpy()] & keep_u[soc["friend"].to_numpy()]
    social = pd.DataFrame({
        "user": ds.user_ids[soc["user"].to_numpy()[sk]],
        "friend": ds.user_ids[soc["friend"].to_numpy()[sk]],
    })
    if "weight" in soc.columns:
        social["weight"] = soc["weight"].to_numpy()[sk]

    # ---- items: category, merchant, price, title (by position in `items`)
    meta_items = ds.items.iloc[items].reset_index(drop=True)
    ni = len(items)
    base = Dataset.from_frames(inter, social, meta={"name": "history"})
    als = ALSRanker(factors=factors, iterations=iterations, regularization=regularization,
                    random_state=int(g_als.integers(0, 2**31 - 1)))
    als.fit(base)
    uf, vf = als.latent_factors()
    uf = np.asarray(uf, dtype=np.float64)
    vf = np.asarray(vf, dtype=np.float64)
    pos_i = base.item_index(ds.item_ids[items])  # factor row of each kept item

    cat_raw = meta_items["category"].to_numpy(dtype=object)
    missing = pd.isna(cat_raw)
    cats = cat_raw.copy()
    if missing.any():
        strongest = np.argmax(vf[pos_i[missing]], axis=1) if vf.shape[1] else np.zeros(
            int(missing.sum()), dtype=np.int64)
        cats[missing] = np.array([f"taste_{k}" for k in strongest], dtype=object)
    cats = cats.astype(str)
    cat_names, cat_code = np.unique(cats, return_inverse=True)

    data_merchant = meta_items["merchant"].to_numpy(dtype=object)
    if ni and pd.notna(data_merchant).all():  # the data names every item's merchant: keep it
        merchant_names, merchant = np.unique(data_merchant.astype(str), return_inverse=True)
        merchant_names = merchant_names.astype(object)
        merchant = merchant.astype(np.int64)
        n_m = len(merchant_names)
        g_merchant.random()  # the other streams do not depend on this branch (separate spawns)
    else:
        n_m = max(1, math.ceil(ni / items_per_merchant))
        sizes = _zipf_blocks(ni, n_m, merchant_size_exponent, g_merchant)
        order = np.lexsort((items, cat_code))
        merchant = np.empty(ni, dtype=np.int64)
        merchant[order] = np.repeat(np.arange(n_m), sizes)
        width = max(5, len(str(n_m)))
        merchant_names = np.array([f"m{k + 1:0{width}d}" for k in range(n_m)], dtype=object)

    price = pd.to_numeric(meta_items["price"], errors="coerce").to_numpy(dtype=np.float64).copy()
    no_price = ~(np.isfinite(price) & (price > 0))
    if no_price.any():
        level = price_median * np.exp(0.6 * g_price.standard_normal(len(cat_names)))
        made = level[cat_code] * np.exp(price_sigma * g_price.standard_normal(ni))
        made = np.maximum(np.ceil(made) - 0.01, 0.99)
        price[no_price] = made[no_price]

    titles = meta_items["title"].to_numpy(dtype=object)
    titles = np.where(pd.isna(titles), cats.astype(object), titles)
    searchable = meta_items["searchable"].to_numpy(dtype=bool)
    items_frame = pd.DataFrame({
        "item": ds.item_ids[items], "title": titles, "category": cats.astype(object),
        "merchant": merchant_names[merchant], "price": price, "searchable": searchable,
    })
    meta = {
        "name": f"world_from_{ds.meta.get('name', 'dataset')}",
        "world": {"platforms": list(PLATFORMS)},
        "end": int(t_end),
        "world_from_data": {
            "source": ds.meta.get("name"), "n_users": n_users, "max_items": max_items,
            "factors": factors, "iterations": iterations, "regularization": regularization,
            "taste_strength": taste_strength, "quality_sd": quality_sd,
            "items_per_merchant": items_per_merchant,
            "merchant_size_exponent": merchant_size_exponent, "price_median": price_median,
            "price_sigma": price_sigma, "price_sensitivity": price_sensitivity,
            "history_days": history_days, "visibility": visibility,
            "seed": seed if isinstance(seed, int) else None,
        },
    }
    out = Dataset.from_frames(inter, social, items_frame, meta=meta)

    # ---- truth, in the order of out's vocabularies
    ou = base.user_index(out.user_ids)
    oi_pos = pd.Index(ds.item_ids[items]).get_indexer(out.item_ids)  # position in `items`
    U = uf[ou]
    V = vf[base.item_index(out.item_ids)]
    k = min(200_000, max(1000, 4 * out.n_users))
    su = g_user.integers(0, out.n_users, k)
    si = g_user.integers(0, out.n_items, k)
    sd = float(np.einsum("ij,ij->i", U[su], V[si]).std())
    scale = math.sqrt(taste_strength / sd) if sd > 0 else 1.0
    U, V = U * scale, V * scale

    oa = out.interaction_arrays()
    if ds.meta.get("weight") == "rating":
        s = np.bincount(oa["item"], weights=oa["weight"], minlength=out.n_items)
        c = np.bincount(oa["item"], minlength=out.n_items).astype(np.float64)
        overall = s.sum() / max(c.sum(), 1.0)
        q = (s + _SHRINK * overall) / (c + _SHRINK)
    else:
        ip = np.unique(oa["user"].astype(np.int64) * out.n_items + oa["item"])
        q = np.log1p(np.bincount(ip % out.n_items, minlength=out.n_items).astype(np.float64))
    q_sd = q.std()
    quality = (q - q.mean()) / q_sd * quality_sd if q_sd > 0 else np.zeros(out.n_items)

    act = np.bincount(oa["user"], minlength=out.n_users).astype(np.float64)
    if (act == 0).any():
        act[act == 0] = 0.25 * act[act > 0].min()
    act /= act.mean()
    sens = price_sensitivity * g_user.lognormal(-0.125, 0.5, out.n_users)
    community = (np.argmax(np.abs(U), axis=1) if U.shape[1] else np.zeros(out.n_users)).astype(
        np.int64)
    out_merchant = merchant[oi_pos]
    out.truth = {
        "user_taste": U.astype(np.float32), "item_taste": V.astype(np.float32),
        "item_quality": quality.astype(np.float64), "item_price": price[oi_pos].astype(np.float64),
        "item_merchant": out_merchant, "merchant_size": np.bincount(out_merchant, minlength=n_m
                                                                    ).astype(np.float64),
        "user_community": community, "user_activity": act, "user_price_sensitivity": sens,
    }
    log.info("world_from_dataset: %d users, %d items, %d merchants, %d interactions, %d social rows "
             "from %s", out.n_users, out.n_items, n_m, out.n_interactions, out.n_social,
             ds.meta.get("name"))
    return out


def _top_items(n_by_item: np.ndarray, k: int) -> np.ndarray:
    """The k items with the most distinct users (ties by index), sorted by index."""
    cand = np.flatnonzero(n_by_item > 0)
    best = np.lexsort((cand, -n_by_item[cand]))[:k]
    return np.sort(cand[best])
