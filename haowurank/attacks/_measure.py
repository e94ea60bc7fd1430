"""Measuring attacks: whether and how far an attack moves a target item in a ranker's lists
(:func:`target_hits`, :func:`target_ranks`, :func:`exposure`, :func:`evaluate_attack`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .._dataset import Dataset
from .._errors import UnknownIdError
from ._inject import ATTACK_KEY, AttackResult, _check_ds, honest_users


def _ranker_target(ranker: Any, target: Any, func: str) -> int:
    if not hasattr(ranker, "item_ids_"):
        from .._errors import NotFittedError

        raise NotFittedError(f"attacks.{func} needs a fitted ranker. Call 'fit' first.")
    idx = pd.Index(ranker.item_ids_).get_indexer(np.asarray([target], dtype=object))[0]
    if idx < 0:
        raise UnknownIdError(
            f"The 'target' parameter of attacks.{func} must be an item the ranker knows. "
            f"Got {target!r}."
        )
    return int(idx)


def _as_list(users: Any) -> list:
    return [users] if np.isscalar(users) or isinstance(users, str) else list(users)


def target_hits(ranker: Any, users: Any, target: Any, *, n: int = 20,
                exclude_seen: bool = True, batch_size: int = 2048) -> np.ndarray:
    """Whether ``target`` is in each user's top-``n`` list (``ranker.recommend``).

    Returns
    -------
    ndarray of bool, shape (n_users,)
    """
    t = _ranker_target(ranker, target, "target_hits")
    tid = ranker.item_ids_[t]
    ulist = _as_list(users)
    out = np.zeros(len(ulist), dtype=bool)
    for s0 in range(0, len(ulist), batch_size):
        ids, _ = ranker.recommend(ulist[s0 : s0 + batch_size], n=n, exclude_seen=exclude_seen)
        out[s0 : s0 + batch_size] = (np.asarray(ids).reshape(-1, n) == tid).any(axis=1)
    return out


def target_ranks(ranker: Any, users: Any, target: Any, *, exclude_seen: bool = True,
                 batch_size: int = 256) -> np.ndarray:
    """Position (1-based) of ``target`` in each user's full ranking.

    The rank is one plus the number of items that score strictly higher (among the user's
    unseen items when ``exclude_seen``). A target the ranker does not score for a user
    (-inf: not a candidate, or seen) gets rank ``n_items`` (last).

    Returns
    -------
    ndarray of int64, shape (n_users,)
    """
    t = _ranker_target(ranker, target, "target_ranks")
    ulist = _as_list(users)
    m = len(ranker.item_ids_)
    out = np.full(len(ulist), m, dtype=np.int64)
    uidx_all = pd.Index(ranker.user_ids_).get_indexer(np.asarray(ulist, dtype=object))
    for s0 in range(0, len(ulist), batch_size):
        sc = np.array(ranker.score(ulist[s0 : s0 + batch_size]), dtype=np.float32, ndmin=2)
        if exclude_seen:
            ub = uidx_all[s0 : s0 + batch_size]
            known = np.flatnonzero(ub >= 0)
            if len(known):
                sub = ranker.seen_[ub[known]].tocoo()
                sc[known[sub.row], sub.col] = -np.inf
        st = sc[:, t]
        higher = (sc > st[:, None]).sum(axis=1)
        ok = np.isfinite(st)
        out[s0 : s0 + batch_size] = np.where(ok, higher + 1, m)
    return out


def exposure(ranker: Any, target: Any, users: Any, *, n: int = 20, ranks: bool = True,
             exclude_seen: bool = True) -> dict[str, Any]:
    """Hit ratio of ``target`` in the users' top-``n`` lists and its ranks.

    Parameters
    ----------
    ranker : fitted Ranker
    target : item id
    users : sequence of user ids
        Usually :func:`honest_users` of the attacked dataset (or a sample of them).
    n : int
        List length.
    ranks : bool
        Also compute the full-ranking positions (a dense pass over all items).

    Returns
    -------
    dict
        ``users``, ``hits``, ``hit_ratio`` (hits / users), and with ``ranks`` the
        ``median_rank`` and ``mean_rank`` of the target and the per-user ``rank`` array.
    """
    ulist = _as_list(users)
    hits = target_hits(ranker, ulist, target, n=n, exclude_seen=exclude_seen)
    out: dict[str, Any] = {
        "users": len(ulist), "hits": int(hits.sum()),
        "hit_ratio": float(hits.mean()) if len(ulist) else float("nan"),
    }
    if ranks:
        r = target_ranks(ranker, ulist, target, exclude_seen=exclude_seen)
        out.update(rank=r, median_rank=float(np.median(r)) if len(r) else float("nan"),
                   mean_rank=float(r.mean()) if len(r) else float("nan"))
    return out


def evaluate_attack(
    ranker_or_name: Any,
    clean: Dataset,
    attacked: AttackResult | Dataset,
    *,
    target: Any = None,
    users: Sequence[Any] | None = None,
    n: int = 20,
    params: dict[str, Any] | None = None,
    ranks: bool = True,
) -> dict[str, Any]:
    """Fit a strategy on the clean and on the attacked data; measure the target before and after.

    Parameters
    ----------
    ranker_or_name : str or Ranker
        A registered name (built with ``params``) or an unfitted Ranker (copied twice).
    clean : Dataset
    attacked : AttackResult or Dataset
        The attacked data (its ``meta["attack"]`` names the attackers and the target).
    target : item id, optional
        Default: the target of the attack.
    users : sequence of ids, optional
        Honest users to measure (default: every honest user of the clean dataset).
    n : int
        List length.
    ranks : bool
        Also measure full-ranking positions and the rank shift.

    Returns
    -------
    dict
        ``hit_ratio_clean``, ``hit_ratio_attacked``, ``hits_clean``, ``hits_attacked``,
        ``users``; with ``ranks`` also ``median_rank_clean``, ``median_rank_attacked`` and
        ``rank_shift`` (the median over users of clean rank minus attacked rank: how many
        places the attack lifted the target).
    """
    import copy

    from ..rankers import Ranker, make

    ds_att = attacked.dataset if isinstance(attacked, AttackResult) else attacked
    _check_ds(clean, "evaluate_attack")
    _check_ds(ds_att, "evaluate_attack")
    if target is None:
        targets = ds_att.meta.get(ATTACK_KEY, {}).get("targets", [])
        if not targets:
            raise ValueError("attacks.evaluate_attack: pass 'target'; the attacked data name none.")
        target = targets[-1]
    if isinstance(ranker_or_name, str):
        def build() -> Any:
            return make(ranker_or_name, **dict(params or {}))
    elif isinstance(ranker_or_name, Ranker):
        if params:
            raise ValueError("attacks.evaluate_attack: 'params' is for a ranker given by name.")
        def build() -> Any:
            return copy.deepcopy(ranker_or_name)
    else:
        raise TypeError(
            f"The 'ranker_or_name' argument of attacks.evaluate_attack must be a ranker name or a "
            f"Ranker. Got {type(ranker_or_name).__name__}."
        )
    ulist = list(honest_users(clean)) if users is None else list(users)
    before = exposure(build().fit(clean), target, ulist, n=n, ranks=ranks)
    after = exposure(build().fit(ds_att), target, ulist, n=n, ranks=ranks)
    out = {
        "users": len(ulist), "n": n,
        "hits_clean": before["hits"], "hits_attacked": after["hits"],
        "hit_ratio_clean": before["hit_ratio"], "hit_ratio_attacked": after["hit_ratio"],
    }
    if ranks:
        out.update(
            median_rank_clean=before["median_rank"], median_rank_attacked=after["median_rank"],
            rank_shift=float(np.median(before["rank"] - after["rank"])) if ulist else float("nan"),
        )
    return out
