"""The feed's defence masks: which accounts' endorsements a feed index neither shows nor counts
(``FeedIndex(ds, defence=...)``), from ``hr.trust.defend`` or from given accounts."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import numpy as np

from .._dataset import Dataset
from .._errors import UnknownIdError


def _defence_mask(ds: Dataset, defence: Any) -> np.ndarray:
    """A boolean mask of shape (n_users,) from a mask or a collection of user ids."""
    if isinstance(defence, np.ndarray) and defence.dtype == bool:
        if defence.shape != (ds.n_users,):
            raise ValueError(
                f"The 'defence' mask of the feed must have shape (n_users={ds.n_users},). "
                f"Got shape {defence.shape}."
            )
        return defence.copy()
    if isinstance(defence, str | bytes | dict) or not isinstance(defence, Iterable):
        raise TypeError(
            "The 'defence' parameter of the feed must be None, a bool, a dict of trust.defend "
            "parameters, a trust.Defence, a boolean mask over users or a collection of user ids. "
            f"Got {type(defence).__name__} instead."
        )
    ids = list(defence)
    idx = ds.user_index(ids, missing="ignore") if ids else np.empty(0, dtype=np.int64)
    if (np.asarray(idx) < 0).any():
        bad = [ids[k] for k in np.flatnonzero(np.asarray(idx) < 0)[:5]]
        raise UnknownIdError(
            f"Unknown user id(s) {bad} in the 'defence' accounts of the feed: not in the dataset."
        )
    mask = np.zeros(ds.n_users, dtype=bool)
    mask[np.asarray(idx, dtype=np.int64)] = True
    return mask


def _apply_defence(ds: Dataset, defence: Any) -> tuple[Dataset, np.ndarray | None, dict]:
    """(the dataset whose endorsements the feed reads, suppressed accounts, report)."""
    from .. import trust
    from ..trust import without_endorsements_of

    if defence is None or defence is False:
        return ds, None, {}
    if defence is True or isinstance(defence, dict):
        params = {**trust.DEFAULT_DEFENCE, **(defence if isinstance(defence, dict) else {})}
        res = trust.defend(ds, **params)
    elif isinstance(defence, trust.Defence):
        res = defence
        d = res.dataset
        if not (
            d.n_users == ds.n_users and d.n_items == ds.n_items
            and np.array_equal(d.user_ids, ds.user_ids) and np.array_equal(d.item_ids, ds.item_ids)
        ):
            raise ValueError(
                f"The 'defence' result was computed on another dataset ({d.n_users} users, "
                f"{d.n_items} items) than the feed's ({ds.n_users} users, {ds.n_items} items); "
                "run hr.trust.defend on the feed's dataset."
            )
    else:
        mask = _defence_mask(ds, defence)
        return without_endorsements_of(ds, mask), mask, {"suspicious_accounts": int(mask.sum())}
    # the defended data keeps the follows, blocks and vocabularies of ds: only endorsements differ
    return res.dataset, np.asarray(res.suspicious, dtype=bool).copy(), dict(res.report)


def _defence_cache_key(ds: Dataset, defence: Any) -> tuple | None:
    """A hashable key of ``defence`` for the index cache (None: do not cache)."""
    if defence is None or defence is False:
        return ()
    if defence is True:
        return ("defence", "default")
    if isinstance(defence, dict):
        return ("defence", json.dumps(defence, sort_keys=True, default=repr))
    return None
