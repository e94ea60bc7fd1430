"""Injecting attacks: sybil regions, shilling, review padding and refund fraud (see
:mod:`haowurank.attacks` for the threat model). Every injector returns an :class:`AttackResult`
with a new Dataset; the attackers are tagged in ``dataset.meta["attack"]``."""

from __future__ import annotations

import logging
import numbers
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from .._checks import check_choice, check_int
from .._dataset import KINDS, VISIBILITIES, Dataset, merge_duplicates
from .._errors import UnknownIdError
from .._random import SeedLike, rng

log = logging.getLogger(__name__)

#: ``Dataset.meta`` key of the attack log: ``{"attackers": [...], "targets": [...],
#: "injections": [{...}, ...]}``.
ATTACK_KEY = "attack"
#: ``Dataset.meta`` key of the refunded order ids (a list of str).
REFUNDS_KEY = "refunded_orders"
#: Shilling strategies of :func:`shill` (and of :func:`inject`).
STRATEGIES: tuple[str, ...] = ("random", "average", "bandwagon", "relation")
#: Attacks of :func:`inject`: the shilling strategies plus review padding and refund fraud.
ATTACKS: tuple[str, ...] = (*STRATEGIES, "review_padding", "refund")
_DIRECTIONS = ("mutual", "honest_follows", "sybil_follows")
_KIND_CODE = {k: i for i, k in enumerate(KINDS)}
_VIS_CODE = {v: i for i, v in enumerate(VISIBILITIES)}
_DAY = 86_400


@dataclass(frozen=True)
class AttackResult:
    """What an injector returns.

    Attributes
    ----------
    dataset : Dataset
        The attacked dataset (a new object; the input is untouched).
    attackers : ndarray of shape (n_attackers,)
        Caller ids of the accounts this injection created or used.
    target : id or None
        The promoted item.
    attack_edges : DataFrame
        Columns ``honest``, ``sybil``: one row per attack edge (empty when no edges were made).
    info : dict
        Counts of what was added (accounts, social rows, interaction rows, refunds).
    """

    dataset: Dataset
    attackers: np.ndarray
    target: Any = None
    attack_edges: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame({"honest": [], "sybil": []})
    )
    info: dict = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------------

def _check_ds(ds: Any, func: str) -> Dataset:
    if not isinstance(ds, Dataset):
        raise TypeError(
            f"The 'ds' argument of attacks.{func} must be a haowurank Dataset. "
            f"Got {type(ds).__name__} instead."
        )
    return ds


def _check_int(value: Any, name: str, func: str, lo: int = 0) -> int:
    return check_int(value, name, f"attacks.{func}", lo)


def _check_choice(value: Any, name: str, func: str, allowed: Sequence[Any]) -> Any:
    return check_choice(value, name, f"attacks.{func}", allowed)


def _py(x: Any) -> Any:
    return x.item() if isinstance(x, np.generic) else x


def _target_index(ds: Dataset, target: Any, func: str) -> int:
    if target is None:
        raise ValueError(f"The 'target' parameter of attacks.{func} must be an item id. Got None.")
    idx = ds.item_index([target], missing="ignore")[0]
    if idx < 0:
        raise UnknownIdError(
            f"The 'target' parameter of attacks.{func} must be an item of the dataset. "
            f"Got {target!r}, which is not among its {ds.n_items} items."
        )
    return int(idx)


def _user_indices(ds: Dataset, users: Any, name: str, func: str) -> np.ndarray:
    arr = list(users) if not (np.isscalar(users) or isinstance(users, str)) else [users]
    if not arr:
        raise ValueError(f"The {name!r} parameter of attacks.{func} must name at least one account.")
    idx = ds.user_index(arr, missing="ignore")
    if (idx < 0).any():
        bad = [arr[k] for k in np.flatnonzero(idx < 0)[:3]]
        raise UnknownIdError(
            f"The {name!r} parameter of attacks.{func} names {int((idx < 0).sum())} account(s) "
            f"that are not users of the dataset, e.g. {bad}."
        )
    if len(np.unique(idx)) != len(idx):
        raise ValueError(f"The {name!r} parameter of attacks.{func} repeats an account.")
    return idx


# --------------------------------------------------------------------------------------------
# attack bookkeeping
# --------------------------------------------------------------------------------------------

def attacker_ids(ds: Dataset) -> np.ndarray:
    """Caller ids of every account an injector of this module added or used (may be empty)."""
    _check_ds(ds, "attacker_ids")
    got = ds.meta.get(ATTACK_KEY, {}).get("attackers", [])
    ids = np.asarray(got, dtype=ds.user_ids.dtype) if len(got) else ds.user_ids[:0]
    return ids


def honest_mask(ds: Dataset) -> np.ndarray:
    """Boolean mask over ``ds.user_ids``: True for accounts that are not attackers."""
    _check_ds(ds, "honest_mask")
    mask = np.ones(ds.n_users, dtype=bool)
    bad = ds.user_index(attacker_ids(ds), missing="ignore")
    mask[bad[bad >= 0]] = False
    return mask


def honest_users(ds: Dataset) -> np.ndarray:
    """Caller ids of the accounts that are not attackers, in vocabulary order."""
    return ds.user_ids[honest_mask(ds)]


def _attack_meta(ds: Dataset, attackers: Iterable[Any], target: Any, entry: dict,
                 refunds: Sequence[str] = ()) -> dict:
    meta = dict(ds.meta)
    old = dict(meta.get(ATTACK_KEY, {}))
    known = [_py(a) for a in old.get("attackers", [])]
    seen = set(known)
    known += [a for a in (_py(x) for x in attackers) if a not in seen]
    targets = [_py(t) for t in old.get("targets", [])]
    if target is not None and _py(target) not in targets:
        targets.append(_py(target))
    meta[ATTACK_KEY] = {
        "attackers": known,
        "targets": targets,
        "injections": [*old.get("injections", []), entry],
    }
    if refunds:
        meta[REFUNDS_KEY] = [*meta.get(REFUNDS_KEY, []), *refunds]
    return meta


def _new_ids(ds: Dataset, n: int, prefix: str) -> np.ndarray:
    """``n`` fresh user ids of the vocabulary's type that collide with nothing."""
    ids = ds.user_ids
    if ids.dtype == object:
        existing = set(ids.tolist())
        start = 1
        while True:
            cand = [f"{prefix}{k:06d}" for k in range(start, start + n)]
            if not existing.intersection(cand):
                return np.asarray(cand, dtype=object)
            start += n
    base = int(ids.max()) + 1 if len(ids) else 0
    return np.arange(base, base + n, dtype=np.int64)


def _attack_time(ds: Dataset) -> int:
    """Timestamp of injected rows: one day after the latest row (the attack is recent)."""
    if not ds.has_timestamps or ds.n_interactions == 0:
        return 0
    return int(ds.interaction_arrays()["timestamp"].max()) + _DAY


def _extend(
    ds: Dataset,
    new_users: np.ndarray,
    rows: pd.DataFrame | None,
    social: pd.DataFrame | None,
    meta: dict,
) -> Dataset:
    """``ds`` plus new accounts, interaction rows and social rows, built at the index level.

    ``rows`` has columns ``user`` (caller id), ``item`` (item index), ``kind`` (code), ``weight``,
    ``timestamp``, ``visibility`` (code) and optionally ``order_id``; ``social`` has ``user``,
    ``friend`` (caller ids) and ``weight``. The result is what :meth:`Dataset.from_frames` would
    build from the combined frames (tested), without re-validating millions of existing rows.
    """
    old_ids = ds.user_ids
    if len(new_users):
        allv = np.concatenate([old_ids, np.asarray(new_users, dtype=old_ids.dtype)])
        if allv.dtype == object:
            vocab = np.array(sorted(set(allv.tolist())), dtype=object)
        else:
            vocab = np.unique(allv)
        if len(vocab) != len(allv):
            raise ValueError("internal: new attacker ids collide with existing users")
    else:
        vocab = old_ids
    vix = pd.Index(vocab)
    old_map = vix.get_indexer(old_ids).astype(np.int32) if len(new_users) else None

    def remap(frame: pd.DataFrame, cols: Sequence[str]) -> pd.DataFrame:
        if old_map is None or not len(frame):
            return frame
        out = frame.copy()
        for c in cols:
            out[c] = old_map[out[c].to_numpy()].astype(np.int32)
        return out

    inter = remap(ds.indexed_interactions, ("user",))
    if rows is not None and len(rows):
        add = pd.DataFrame({
            "user": vix.get_indexer(np.asarray(rows["user"], dtype=object)).astype(np.int32),
            "item": rows["item"].to_numpy().astype(np.int32),
            "kind": rows["kind"].to_numpy().astype(np.int8),
            "weight": rows["weight"].to_numpy().astype(np.float64),
            "timestamp": rows["timestamp"].to_numpy().astype(np.int64),
            "visibility": rows["visibility"].to_numpy().astype(np.int8),
        })
        if (add["user"].to_numpy() < 0).any():
            raise ValueError("internal: an injected row names an unknown account")
        if "order_id" in rows and "order_id" not in inter:
            inter = inter.copy()
            inter["order_id"] = pd.Series([None] * len(inter), index=inter.index, dtype=object)
        for col in inter.columns:
            if col in add:
                continue
            if col == "order_id" and "order_id" in rows:
                add[col] = pd.Series(rows["order_id"].to_numpy(dtype=object), dtype=object)
            elif col in ("order_id", "source"):
                add[col] = pd.Series([None] * len(add), dtype=object)
            else:  # amount
                add[col] = np.nan
        add = add[list(inter.columns)]
        new_u = add["user"].to_numpy()
        if np.isin(new_u, inter["user"].to_numpy()).any():
            inter = merge_duplicates(pd.concat([inter, add], ignore_index=True), "max")
        else:
            # accounts with no earlier rows: the canonical order (user, timestamp, item, ...) is
            # the old order and the new rows' own order, interleaved by user (a stable sort)
            add = merge_duplicates(add, "max")
            both = pd.concat([inter, add], ignore_index=True)
            order = np.argsort(both["user"].to_numpy(), kind="stable")
            inter = both.iloc[order].reset_index(drop=True)
    soc = remap(ds.indexed_social, ("user", "friend"))
    if social is not None and len(social):
        add_s = pd.DataFrame({
            "user": vix.get_indexer(np.asarray(social["user"], dtype=object)).astype(np.int32),
            "friend": vix.get_indexer(np.asarray(social["friend"], dtype=object)).astype(np.int32),
            "weight": social["weight"].to_numpy().astype(np.float64),
        })
        if (add_s[["user", "friend"]].to_numpy() < 0).any():
            raise ValueError("internal: an injected social row names an unknown account")
        if (add_s["user"].to_numpy() == add_s["friend"].to_numpy()).any():
            raise ValueError("internal: an injected social row is a self-follow")
        soc = pd.concat([soc, add_s], ignore_index=True)
        soc = soc.groupby(["user", "friend"], as_index=False, sort=False)["weight"].max()
        soc = soc.sort_values(["user", "friend"], kind="stable").reset_index(drop=True)
        soc["user"] = soc["user"].astype(np.int32)
        soc["friend"] = soc["friend"].astype(np.int32)
    truth = dict(ds.truth)
    if old_map is not None:
        for k, v in ds.truth.items():
            a = np.asarray(v)
            if k.startswith("user") and a.ndim >= 1 and a.shape[0] == len(old_ids):
                fill = np.nan if np.issubdtype(a.dtype, np.floating) else -1
                out = np.full((len(vocab), *a.shape[1:]), fill, dtype=a.dtype)
                out[old_map] = a
                truth[k] = out
    return ds.replace(
        user_ids=vocab,
        indexed_interactions=inter,
        indexed_social=soc,
        indexed_blocks=remap(ds.indexed_blocks, ("user", "blocked")),
        indexed_audiences=remap(ds.indexed_audiences, ("user", "viewer")),
        meta=meta,
        truth=truth,
    )


# --------------------------------------------------------------------------------------------
# item choices
# --------------------------------------------------------------------------------------------

def _item_users(ds: Dataset) -> np.ndarray:
    """Distinct users per item (any kind), int64 of shape (n_items,)."""
    return np.diff(ds.matrix(weight="binary").tocsc().indptr).astype(np.int64)


def pick_target(ds: Dataset, how: Literal["cold", "median", "popular"] = "cold",
                seed: SeedLike = 0) -> Any:
    """Choose a target item id.

    Parameters
    ----------
    ds : Dataset
    how : {"cold", "median", "popular"}
        ``"cold"``: a random item among those with at least one and at most the 10th
        percentile of distinct users (a real but barely known item: the attacker's own);
        ``"median"``: a random item at the median popularity; ``"popular"``: the most popular.
    seed : int, SeedSequence or Generator

    Returns
    -------
    id
        An item id of ``ds``.
    """
    _check_ds(ds, "pick_target")
    _check_choice(how, "how", "pick_target", ("cold", "median", "popular"))
    counts = _item_users(ds)
    has = np.flatnonzero(counts > 0)
    if not len(has):
        raise ValueError("attacks.pick_target needs a dataset with at least one interaction.")
    if how == "popular":
        return _py(ds.item_ids[int(np.lexsort((np.arange(len(counts)), -counts))[0])])
    if how == "cold":
        hi = max(1, int(np.percentile(counts[has], 10)))
        pool = has[counts[has] <= hi]
    else:
        med = int(np.median(counts[has]))
        pool = has[counts[has] == med]
        if not len(pool):
            pool = has[np.argsort(np.abs(counts[has] - med), kind="stable")[:1]]
    return _py(ds.item_ids[int(rng(seed).choice(pool))])


def _fillers(
    ds: Dataset,
    strategy: str,
    filler: str | None,
    n_attackers: int,
    n_filler: int,
    target: int,
    friends_items: list[np.ndarray] | None,
    gen: np.random.Generator,
) -> list[np.ndarray]:
    """Filler item indices per attacker (never the target, no repeats within an attacker)."""
    if n_filler == 0:
        return [np.empty(0, dtype=np.int64)] * n_attackers
    counts = _item_users(ds).astype(np.float64)
    m = ds.n_items
    pool_all = np.setdiff1d(np.arange(m), [target])
    k = min(n_filler, len(pool_all))
    how = filler or {"random": "random", "average": "average", "bandwagon": "popular",
                     "relation": "friends"}[strategy]
    order = np.lexsort((np.arange(m), -counts))
    popular = order[order != target][: max(2 * n_filler, 50)]
    out = []
    for a in range(n_attackers):
        if how == "random":
            out.append(gen.choice(pool_all, k, replace=False))
        elif how == "popular":
            out.append(gen.choice(popular, min(k, len(popular)), replace=False))
        elif how == "average":
            p = counts[pool_all] + 1e-12
            out.append(gen.choice(pool_all, k, replace=False, p=p / p.sum()))
        else:  # friends: copy what the victims have, then popular items
            own = friends_items[a] if friends_items is not None else np.empty(0, dtype=np.int64)
            own = np.setdiff1d(own, [target])
            take = gen.permutation(own)[:k]
            if len(take) < k:
                rest = popular[~np.isin(popular, take)]
                take = np.concatenate([take, rest[: k - len(take)]])
            out.append(take)
    return [np.asarray(x, dtype=np.int64) for x in out]


# --------------------------------------------------------------------------------------------
# injectors
# --------------------------------------------------------------------------------------------

def add_sybils(
    ds: Dataset,
    n_sybils: int,
    attack_edges: int,
    *,
    density: float = 1.0,
    direction: Literal["mutual", "honest_follows", "sybil_follows"] = "mutual",
    victims: Literal["random", "hubs"] | Sequence[Any] = "random",
    prefix: str = "sybil",
    seed: SeedLike = 0,
) -> AttackResult:
    """Add a region of ``n_sybils`` fake accounts joined to the honest graph by ``attack_edges``.

    Parameters
    ----------
    ds : Dataset
    n_sybils : int >= 1
    attack_edges : int >= 0
        Number of (honest, sybil) friendships in all, spread round-robin over the sybils (with 100
        sybils and 10 edges, 10 sybils hold one edge each), each to a distinct honest user as
        long as there are enough.
    density : float in [0, 1]
        Probability that two sybils are friends (mutual); 1 (default) is a complete graph.
    direction : {"mutual", "honest_follows", "sybil_follows"}
        Social rows of an attack edge: both directions (2 rows), honest -> sybil or
        sybil -> honest (1 row).
    victims : {"random", "hubs"} or sequence of ids
        Honest users that get the attack edges: uniform at random, or with probability
        proportional to their number of followers plus one (befriending popular accounts), or
        exactly these users (cycled over if fewer than ``attack_edges``).
    prefix : str
        Id prefix of the sybils in a vocabulary of strings (``"sybil000001"``...); int
        vocabularies get ids after the largest one.
    seed : int, SeedSequence or Generator

    Returns
    -------
    AttackResult
        ``attackers`` are the sybils; ``attack_edges`` lists the (honest, sybil) pairs.
    """
    func = "add_sybils"
    _check_ds(ds, func)
    n_sybils = _check_int(n_sybils, "n_sybils", func, 1)
    attack_edges = _check_int(attack_edges, "attack_edges", func, 0)
    if isinstance(density, bool) or not isinstance(density, numbers.Real) or not 0 <= density <= 1:
        raise ValueError(
            f"The 'density' parameter of attacks.{func} must be a number in [0, 1]. Got {density!r}."
        )
    _check_choice(direction, "direction", func, _DIRECTIONS)
    honest = np.flatnonzero(honest_mask(ds))
    if attack_edges and not len(honest):
        raise ValueError(f"attacks.{func}: the dataset has no honest user to attach attack edges to.")
    if attack_edges > len(honest) * n_sybils:
        raise ValueError(
            f"The 'attack_edges' parameter of attacks.{func} must be at most n_honest * n_sybils = "
            f"{len(honest) * n_sybils}. Got {attack_edges}."
        )
    gen = rng(seed)
    sybils = _new_ids(ds, n_sybils, prefix)
    # sybil region: each unordered pair with probability `density`, as two rows
    iu, ju = np.triu_indices(n_sybils, k=1)
    keep = gen.random(len(iu)) < density if density < 1 else np.ones(len(iu), dtype=bool)
    a, b = iu[keep], ju[keep]
    src = np.concatenate([sybils[a], sybils[b]])
    dst = np.concatenate([sybils[b], sybils[a]])
    # attack edges
    owner = np.arange(attack_edges) % n_sybils
    if isinstance(victims, str):
        _check_choice(victims, "victims", func, ("random", "hubs"))
        if victims == "hubs":
            indeg = np.bincount(ds.indexed_social["friend"].to_numpy(), minlength=ds.n_users)[honest]
            p = (indeg + 1.0) / (indeg + 1.0).sum()
        else:
            p = None
        reps = -(-attack_edges // max(len(honest), 1))
        picks = [gen.choice(honest, min(attack_edges, len(honest)), replace=False, p=p)
                 for _ in range(reps)]
        vict = np.concatenate(picks)[:attack_edges] if picks else np.empty(0, dtype=np.int64)
    else:
        vidx = _user_indices(ds, victims, "victims", func)
        if not honest_mask(ds)[vidx].all():
            raise ValueError(f"The 'victims' parameter of attacks.{func} names attacker accounts.")
        vict = np.resize(vidx, attack_edges)
    # with more edges than honest users a sybil may draw the same victim twice: re-draw those
    if attack_edges > len(honest):
        key = owner.astype(np.int64) * ds.n_users + vict
        while True:
            _, first = np.unique(key, return_index=True)
            dup = np.setdiff1d(np.arange(attack_edges), first)
            if not len(dup):
                break
            vict[dup] = gen.choice(honest, len(dup))
            key = owner.astype(np.int64) * ds.n_users + vict
    victim_ids = ds.user_ids[vict] if attack_edges else ds.user_ids[:0]
    sybil_of_edge = sybils[owner]
    parts_src, parts_dst = [src], [dst]
    if direction in ("mutual", "honest_follows"):
        parts_src.append(victim_ids)
        parts_dst.append(sybil_of_edge)
    if direction in ("mutual", "sybil_follows"):
        parts_src.append(sybil_of_edge)
        parts_dst.append(victim_ids)
    s_user = np.concatenate([np.asarray(p, dtype=object) for p in parts_src])
    s_friend = np.concatenate([np.asarray(p, dtype=object) for p in parts_dst])
    social = pd.DataFrame({"user": s_user, "friend": s_friend, "weight": np.ones(len(s_user))})
    edges = pd.DataFrame({"honest": victim_ids, "sybil": sybil_of_edge})
    entry = {
        "type": "sybils", "n_sybils": n_sybils, "attack_edges": attack_edges,
        "density": float(density), "direction": direction,
        "sybil_rows": int(2 * len(a)), "social_rows": int(len(social)),
    }
    meta = _attack_meta(ds, sybils, None, entry)
    out = _extend(ds, sybils, None, social, meta)
    log.info("attacks.add_sybils: %d sybils, %d attack edges, %d social rows",
             n_sybils, attack_edges, len(social))
    return AttackResult(out, sybils, None, edges, dict(entry))


def _endorse(
    ds: Dataset,
    func: str,
    target: Any,
    attackers: Any,
    *,
    strategy: str,
    n_filler: int,
    filler: str | None,
    kind: str,
    visibility: str,
    purchase: Literal["none", "kept", "refunded"],
    seed: SeedLike,
    cover_purchases: int = 0,
) -> AttackResult:
    _check_ds(ds, func)
    cover_purchases = _check_int(cover_purchases, "cover_purchases", func, 0)
    t = _target_index(ds, target, func)
    n_filler = _check_int(n_filler, "n_filler", func, 0)
    _check_choice(strategy, "strategy", func, STRATEGIES)
    _check_choice(filler, "filler", func, (None, "random", "popular"))
    _check_choice(kind, "kind", func, ("recommend", "recommend_after_purchase"))
    _check_choice(visibility, "visibility", func, ("public", "friends"))
    aidx = _user_indices(ds, attackers, "attackers", func)
    gen = rng(seed)
    friends_items = None
    if strategy == "relation":
        soc = ds.social_matrix(weighted=False)
        binm = ds.matrix(weight="binary")
        friends_items = []
        honest = honest_mask(ds)
        for a in aidx:
            nb = soc[a].indices
            nb = nb[honest[nb]]
            friends_items.append(np.unique(binm[nb].indices) if len(nb) else np.empty(0, np.int64))
    fill = _fillers(ds, strategy, filler, len(aidx), n_filler, t, friends_items, gen)
    cover = _fillers(ds, "random", "popular", len(aidx), cover_purchases, t, None, gen)
    # average: each filler row weighs the item's mean row weight
    mean_w = None
    if strategy == "average":
        arr = ds.interaction_arrays()
        s = np.bincount(arr["item"], weights=arr["weight"], minlength=ds.n_items)
        c = np.bincount(arr["item"], minlength=ds.n_items)
        mean_w = np.divide(s, c, out=np.ones(ds.n_items), where=c > 0)
    t0 = _attack_time(ds)
    users, items, kinds, weights, times, orders = [], [], [], [], [], []
    refunds: list[str] = []
    n_orders = 0
    prefix = f"atk{len(ds.meta.get(ATTACK_KEY, {}).get('injections', []))}-"
    for k, a in enumerate(aidx):
        uid = ds.user_ids[a]
        for c, it in enumerate(cover[k]):  # camouflage: real, kept orders of popular items
            n_orders += 1
            users.append(uid), items.append(it), kinds.append(_KIND_CODE["purchase"])
            weights.append(1.0), times.append(t0 - 10 - c if ds.has_timestamps else 0)
            orders.append(f"{prefix}o{n_orders:07d}")
        its = np.concatenate([[t], fill[k]])
        for j, it in enumerate(its):
            ts = t0 + (j + 1) if ds.has_timestamps else 0
            if j == 0 and purchase != "none":
                n_orders += 1
                oid = f"{prefix}o{n_orders:07d}"
                users.append(uid), items.append(it), kinds.append(_KIND_CODE["purchase"])
                weights.append(1.0), times.append(ts - 1 if ds.has_timestamps else 0)
                orders.append(oid)
                if purchase == "refunded":
                    refunds.append(oid)
            users.append(uid), items.append(it), kinds.append(_KIND_CODE[kind])
            weights.append(float(mean_w[it]) if (mean_w is not None and j) else 1.0)
            times.append(ts), orders.append(None)
    rows = pd.DataFrame({
        "user": np.asarray(users, dtype=object), "item": np.asarray(items, dtype=np.int64),
        "kind": np.asarray(kinds, dtype=np.int8), "weight": np.asarray(weights),
        "timestamp": np.asarray(times, dtype=np.int64),
        "visibility": np.full(len(users), _VIS_CODE[visibility], dtype=np.int8),
    })
    if purchase != "none" or cover_purchases:
        rows["order_id"] = pd.Series(orders, dtype=object)
    entry = {
        "type": func, "strategy": strategy, "target": _py(ds.item_ids[t]),
        "n_attackers": int(len(aidx)), "n_filler": n_filler, "filler": filler, "kind": kind,
        "visibility": visibility, "purchase": purchase,
        "endorsement_rows": int(len(aidx) * (1 + n_filler)), "purchase_rows": n_orders,
        "refunds": len(refunds), "cover_purchases": cover_purchases,
    }
    att_ids = ds.user_ids[aidx]
    meta = _attack_meta(ds, att_ids, ds.item_ids[t], entry, refunds)
    out = _extend(ds, np.empty(0, dtype=ds.user_ids.dtype), rows, None, meta)
    return AttackResult(out, att_ids, _py(ds.item_ids[t]), info=dict(entry))


def shill(
    ds: Dataset,
    target: Any,
    attackers: Any,
    *,
    strategy: str = "bandwagon",
    n_filler: int = 10,
    filler: Literal["random", "popular"] | None = None,
    kind: Literal["recommend", "recommend_after_purchase"] = "recommend",
    visibility: Literal["public", "friends"] = "public",
    cover_purchases: int = 0,
    seed: SeedLike = 0,
) -> AttackResult:
    """Fake endorsements: every attacker endorses ``target`` plus ``n_filler`` filler items.

    Parameters
    ----------
    ds : Dataset
    target : item id
    attackers : sequence of user ids
        Accounts that endorse (usually the sybils of :func:`add_sybils`); they are tagged as
        attackers.
    strategy : {"random", "average", "bandwagon", "relation"}
        How fillers are chosen (see the module docstring).
    n_filler : int >= 0
        Filler endorsements per attacker.
    filler : {"random", "popular"} or None
        Override the strategy's filler choice.
    kind : {"recommend", "recommend_after_purchase"}
        Kind of every injected endorsement (no purchase rows are added).
    visibility : {"public", "friends"}
    cover_purchases : int >= 0
        Camouflage: every attacker also makes this many real, kept purchases of popular items
        (so it is no longer an account that recommends without ever buying).
    seed : int, SeedSequence or Generator

    Returns
    -------
    AttackResult
        ``info["endorsement_rows"] == len(attackers) * (1 + n_filler)``.
    """
    return _endorse(ds, "shill", target, attackers, strategy=strategy, n_filler=n_filler,
                    filler=filler, kind=kind, visibility=visibility, purchase="none", seed=seed,
                    cover_purchases=cover_purchases)


def review_padding(
    ds: Dataset,
    target: Any,
    attackers: Any,
    *,
    n_filler: int = 0,
    filler: Literal["random", "popular"] | None = "popular",
    visibility: Literal["public", "friends"] = "public",
    cover_purchases: int = 0,
    seed: SeedLike = 0,
) -> AttackResult:
    """Accounts that "recommend after purchase" without buying: no purchase row backs the claim.

    Same parameters as :func:`shill`; the kind is ``"recommend_after_purchase"``.
    """
    return _endorse(ds, "review_padding", target, attackers, strategy="random",
                    n_filler=n_filler, filler=filler, kind="recommend_after_purchase",
                    visibility=visibility, purchase="none", seed=seed,
                    cover_purchases=cover_purchases)


def refund_fraud(
    ds: Dataset,
    target: Any,
    attackers: Any,
    *,
    n_filler: int = 0,
    filler: Literal["random", "popular"] | None = "popular",
    visibility: Literal["public", "friends"] = "public",
    cover_purchases: int = 0,
    seed: SeedLike = 0,
) -> AttackResult:
    """Buy the target, "recommend after purchase", then refund the order.

    Each attacker gets a ``"purchase"`` row of the target with a fresh order id and a
    ``"recommend_after_purchase"`` row; every such order id is appended to
    ``dataset.meta["refunded_orders"]``. The endorsement looks verified until refunds are
    taken into account (:func:`haowurank.trust.defend`).
    """
    return _endorse(ds, "refund_fraud", target, attackers, strategy="random", n_filler=n_filler,
                    filler=filler, kind="recommend_after_purchase", visibility=visibility,
                    purchase="refunded", seed=seed, cover_purchases=cover_purchases)


def inject(
    ds: Dataset,
    target: Any = "cold",
    *,
    attack: str = "bandwagon",
    n_sybils: int = 100,
    attack_edges: int = 10,
    n_filler: int = 10,
    filler: Literal["random", "popular"] | None = None,
    kind: Literal["recommend", "recommend_after_purchase"] = "recommend",
    density: float = 1.0,
    direction: Literal["mutual", "honest_follows", "sybil_follows"] = "mutual",
    victims: Literal["random", "hubs"] | Sequence[Any] = "random",
    cover_purchases: int = 0,
    seed: SeedLike = 0,
) -> AttackResult:
    """Sybils that promote one target: :func:`add_sybils` then one attack by every sybil.

    Parameters
    ----------
    ds : Dataset
    target : item id or {"cold", "median", "popular"}
        The promoted item, or how to pick it (:func:`pick_target`).
    attack : {"random", "average", "bandwagon", "relation", "review_padding", "refund"}
        A shilling strategy (:func:`shill`), :func:`review_padding` or :func:`refund_fraud`.
    n_sybils, attack_edges, density, direction, victims
        See :func:`add_sybils`.
    n_filler, filler, kind, cover_purchases
        See :func:`shill` (``kind`` applies to the shilling strategies only).
    seed : int, SeedSequence or Generator
        One root seed; the sybil region and the endorsements draw from independent streams.

    Returns
    -------
    AttackResult
        The sybils as ``attackers``, the target, the attack edges, and ``info`` merging both
        steps.
    """
    func = "inject"
    _check_ds(ds, func)
    _check_choice(attack, "attack", func, ATTACKS)
    from .._random import spawn

    g_target, g_sybils, g_endorse = spawn(seed, 3)
    if isinstance(target, str) and target in ("cold", "median", "popular") and (
        ds.item_ids.dtype != object or target not in set(ds.item_ids.tolist())
    ):
        target = pick_target(ds, target, seed=g_target)
    _target_index(ds, target, func)
    syb = add_sybils(ds, n_sybils, attack_edges, density=density, direction=direction,
                     victims=victims, seed=g_sybils)
    if attack in STRATEGIES:
        end = shill(syb.dataset, target, syb.attackers, strategy=attack, n_filler=n_filler,
                    filler=filler, kind=kind, cover_purchases=cover_purchases, seed=g_endorse)
    elif attack == "review_padding":
        end = review_padding(syb.dataset, target, syb.attackers, n_filler=n_filler,
                             filler=filler or "popular", cover_purchases=cover_purchases,
                             seed=g_endorse)
    else:
        end = refund_fraud(syb.dataset, target, syb.attackers, n_filler=n_filler,
                           filler=filler or "popular", cover_purchases=cover_purchases,
                           seed=g_endorse)
    info = {**syb.info, **{k: v for k, v in end.info.items() if k != "type"}, "attack": attack}
    return AttackResult(end.dataset, syb.attackers, end.target, syb.attack_edges, info)
