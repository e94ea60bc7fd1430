"""Train / test splits of a :class:`~haowurank.Dataset` that never leak a (user, item) pair.

Every split returns two Datasets that share the vocabularies, the social graph, the blocks, the
item metadata and the ground truth of the input (they are made with
:meth:`Dataset.select_interactions`), so indices computed on one part are valid on the other.

The unit that is held out is a **(user, item) pair**, never a single row: when a pair is held
out, every row of that pair (its purchase, its recommendation, its views, ...) goes to the test
part, so a ranker trained on the train part cannot see a trace of a test pair. The ``kinds``
parameter says which interaction kinds define the *positives* that can be held out: with
``kinds=("purchase",)`` only pairs with a purchase are candidates (a pair that was only viewed
stays in train), but once a pair is held out its rows of every kind move together.

Splits:

- :func:`random_split` - per user, a random share of the user's distinct positive items.
- :func:`temporal_split` - by time: one global cut (a timestamp, or the quantile that puts about
  ``test_fraction`` of the rows after it) or per user the ``last_k`` most recent items.
- :func:`validation_split` - the per-user random rule applied again to a train part, for
  hyperparameter search: ``fit, val = validation_split(train)``.
- k-core filtering is :meth:`Dataset.k_core`.

Each part records how it was made in ``meta["split"]``.

Examples
--------
>>> import haowurank as hr
>>> from haowurank.testing import small_world
>>> ds = small_world()
>>> train, test = hr.split.random_split(ds, test_fraction=0.2, seed=0)
>>> train.n_users == test.n_users == ds.n_users
True
>>> train.n_interactions + test.n_interactions == ds.n_interactions
True
"""

from __future__ import annotations

import logging
import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from ._arrays import isin_sorted as _isin_sorted
from ._arrays import unique_sorted as _unique_sorted
from ._dataset import KINDS, Dataset
from ._random import SeedLike, rng

__all__ = ["random_split", "temporal_split", "validation_split"]

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------

def _check_dataset(ds: Any, func: str) -> None:
    if not isinstance(ds, Dataset):
        raise TypeError(
            f"The 'ds' argument of {func} must be a haowurank Dataset. Got {type(ds).__name__} instead."
        )


def _check_fraction(value: Any, name: str, func: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"The '{name}' parameter of {func} must be a float in the open interval (0, 1). "
            f"Got {value!r} instead."
        )
    f = float(value)
    if not (0.0 < f < 1.0):
        raise ValueError(
            f"The '{name}' parameter of {func} must be a float in the open interval (0, 1). "
            f"Got {value!r} instead."
        )
    return f


def _normalise_kinds(kinds: str | Iterable[str] | None, func: str) -> tuple[str, ...] | None:
    if kinds is None:
        return None
    ks = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    if not ks:
        raise ValueError(
            f"The 'kinds' parameter of {func} must name at least one of {list(KINDS)} or be None. "
            f"Got an empty sequence."
        )
    unknown = [k for k in ks if k not in KINDS]
    if unknown:
        raise ValueError(
            f"The 'kinds' parameter of {func} must be among {list(KINDS)}. Got unknown {unknown}."
        )
    return ks


def _pair_keys(ds: Dataset) -> np.ndarray:
    """One int64 key per interaction row: user * n_items + item (sorted like (user, item))."""
    f = ds.indexed_interactions
    return f["user"].to_numpy().astype(np.int64) * max(ds.n_items, 1) + f["item"].to_numpy()


def _order2(primary: np.ndarray, secondary: np.ndarray) -> np.ndarray:
    """The stable permutation sorting by (primary, secondary), like ``np.lexsort((s, p))``.

    One argsort of a combined int64 key when it fits (several times faster than lexsort on
    millions of rows), else lexsort.
    """
    p = np.asarray(primary, dtype=np.int64)
    s = np.asarray(secondary, dtype=np.int64)
    if len(p) == 0:
        return np.empty(0, dtype=np.int64)
    p_lo, s_lo = int(p.min()), int(s.min())
    p_range, s_range = int(p.max()) - p_lo + 1, int(s.max()) - s_lo + 1
    if p_range * s_range < 2**62:
        return np.argsort((p - p_lo) * s_range + (s - s_lo), kind="stable")
    return np.lexsort((s, p))


def _holdout_counts(n: np.ndarray, fraction: float) -> np.ndarray:
    """Items to hold out per user: round-half-up(fraction * n), at least 1, never all; 0 if n < 2."""
    k = np.floor(fraction * n + 0.5).astype(np.int64)
    k = np.clip(k, 1, np.maximum(n - 1, 1))
    k[n < 2] = 0
    return k


def _parts(
    ds: Dataset, train_mask: np.ndarray, test_mask: np.ndarray, info: dict[str, Any]
) -> tuple[Dataset, Dataset]:
    train = ds.select_interactions(train_mask)
    test = ds.select_interactions(test_mask)
    for part, name in ((train, "train"), (test, "test")):
        part.meta["split"] = {**info, "part": name}
    logger.info(
        "%s: %d train rows, %d test rows, %d rows dropped",
        info["method"], int(train_mask.sum()), int(test_mask.sum()), info.get("rows_dropped", 0),
    )
    return train, test


def _random_holdout(
    ds: Dataset, fraction: float, seed: SeedLike, kinds: tuple[str, ...] | None
) -> tuple[np.ndarray, dict[str, Any]]:
    """Boolean mask over rows: the rows of the held-out (user, item) pairs."""
    keys = _pair_keys(ds)
    pairs = _unique_sorted(keys[ds.kind_mask(kinds)])  # sorted by (user, item)
    n_items = max(ds.n_items, 1)
    pair_user = pairs // n_items
    n_per_user = np.bincount(pair_user, minlength=ds.n_users)
    k_per_user = _holdout_counts(n_per_user, fraction)
    # a random order of each user's pairs: sort by (user, uniform key); rank within the user
    gen = rng(seed)
    order = _order2(pair_user, (gen.random(len(pairs)) * 2.0**32).astype(np.int64))
    starts = np.concatenate([[0], np.cumsum(n_per_user)[:-1]])
    rank = np.arange(len(pairs)) - starts[pair_user[order]]
    held = np.zeros(len(pairs), dtype=bool)
    held[order] = rank < k_per_user[pair_user[order]]
    test_mask = _isin_sorted(keys, pairs[held])
    info = {
        "pairs": int(len(pairs)),
        "pairs_held_out": int(held.sum()),
        "users_with_test": int((k_per_user > 0).sum()),
    }
    return test_mask, info


# --------------------------------------------------------------------------------------------
# public splits
# --------------------------------------------------------------------------------------------

def random_split(
    ds: Dataset,
    test_fraction: float = 0.2,
    seed: SeedLike = 0,
    *,
    kinds: str | Iterable[str] | None = None,
) -> tuple[Dataset, Dataset]:
    """Per user, hold out a random share of the user's distinct positive items.

    A user with ``n_u >= 2`` distinct items (among rows of ``kinds``) holds out
    ``round(test_fraction * n_u)`` of them (rounding half up), at least 1 and never all ``n_u``;
    a user with one item keeps it in train. All rows of a held-out (user, item) pair, of every
    kind, go to the test part, so no pair is in both parts.

    Parameters
    ----------
    ds : Dataset
        The data to split.
    test_fraction : float in (0, 1), default 0.2
        Share of each user's distinct positive items to hold out.
    seed : int, SeedSequence, Generator or None, default 0
        Randomness (SPEC 7). The same seed on the same dataset gives the same split.
    kinds : str, sequence of str or None, default None
        Interaction kinds that define the positives that can be held out (``None``: all kinds).
        E.g. ``kinds=("purchase", "recommend_after_purchase")`` never holds out a pair that was
        only viewed; such pairs stay in train.

    Returns
    -------
    train, test : Dataset
        Both with the vocabularies, social graph, items and truth of ``ds``; their interactions
        partition those of ``ds``.

    Raises
    ------
    TypeError
        ``ds`` is not a Dataset, or ``test_fraction`` or ``seed`` has the wrong type.
    ValueError
        ``test_fraction`` outside (0, 1), or an unknown kind.
    """
    func = "random_split"
    _check_dataset(ds, func)
    tf = _check_fraction(test_fraction, "test_fraction", func)
    ks = _normalise_kinds(kinds, func)
    test_mask, info = _random_holdout(ds, tf, seed, ks)
    info = {
        "method": "random", "test_fraction": tf, "kinds": list(ks) if ks else None,
        "seed": seed if isinstance(seed, int) else repr(seed), "rows_dropped": 0, **info,
    }
    return _parts(ds, ~test_mask, test_mask, info)


def validation_split(
    train: Dataset,
    fraction: float = 0.2,
    seed: SeedLike = 0,
    *,
    kinds: str | Iterable[str] | None = None,
) -> tuple[Dataset, Dataset]:
    """Split a train part again, per user at random, into ``(fit, val)`` for model selection.

    The same rule as :func:`random_split` with ``test_fraction=fraction``: each user with at
    least two distinct positive items holds out ``round(fraction * n_u)`` of them (at least one,
    never all) to ``val``, with every row of a held-out pair. Use a different ``seed`` from the
    one of the outer split if you want independent draws.

    Parameters
    ----------
    train : Dataset
        Usually the train part of an outer split.
    fraction : float in (0, 1), default 0.2
        Share of each user's distinct positive items moved to the validation part.
    seed : int, SeedSequence, Generator or None, default 0
        Randomness (SPEC 7).
    kinds : str, sequence of str or None
        Kinds that define the positives (see :func:`random_split`).

    Returns
    -------
    fit, val : Dataset
    """
    func = "validation_split"
    _check_dataset(train, func)
    f = _check_fraction(fraction, "fraction", func)
    ks = _normalise_kinds(kinds, func)
    val_mask, info = _random_holdout(train, f, seed, ks)
    info = {
        "method": "validation", "fraction": f, "kinds": list(ks) if ks else None,
        "seed": seed if isinstance(seed, int) else repr(seed), "rows_dropped": 0, **info,
    }
    fit, val = _parts(train, ~val_mask, val_mask, info)
    fit.meta["split"]["part"] = "fit"
    val.meta["split"]["part"] = "val"
    return fit, val


def _to_seconds(cut: Any) -> int:
    """``cut`` as int seconds (floats rounded up) in the int64 range (compared with int64
    timestamps: a larger value would overflow, any value inside it gives a clear split or an
    "empty part" error)."""
    s = _cut_seconds(cut)
    if not -(2**63) <= s < 2**63:
        raise ValueError(
            f"The 'cut' parameter of temporal_split must be a time in int64 seconds. "
            f"Got {cut!r} instead."
        )
    return s


def _cut_seconds(cut: Any) -> int:
    if isinstance(cut, bool):
        raise TypeError(f"The 'cut' parameter of temporal_split must be a timestamp. Got {cut!r}.")
    if isinstance(cut, numbers.Integral):
        return int(cut)
    if isinstance(cut, numbers.Real):
        if not np.isfinite(cut):
            raise ValueError(
                f"The 'cut' parameter of temporal_split must be finite. Got {cut!r} instead."
            )
        return int(np.ceil(cut))
    try:
        ts = pd.Timestamp(cut)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            "The 'cut' parameter of temporal_split must be int seconds, a datetime, a "
            f"numpy datetime64 or an ISO date string. Got {cut!r} instead."
        ) from exc
    if ts is pd.NaT:
        raise ValueError("The 'cut' parameter of temporal_split must not be NaT.")
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return int(ts.asm8.astype("datetime64[s]").astype(np.int64))


def temporal_split(
    ds: Dataset,
    *,
    test_fraction: float | None = None,
    cut: Any = None,
    last_k: int | None = None,
    kinds: str | Iterable[str] | None = None,
) -> tuple[Dataset, Dataset]:
    """Split by time: a global cut, or per user the most recent items.

    Give at most one of ``test_fraction``, ``cut`` and ``last_k`` (none given means
    ``test_fraction=0.2``).

    - ``cut`` (global): train holds every row before ``cut``. A (user, item) pair goes to test
      when it has a row of ``kinds`` at or after the cut and no row of any kind before it; all
      its rows go to test. Every test timestamp is >= every train timestamp.
    - ``test_fraction`` (global): the cut is the ``1 - test_fraction`` quantile of the timestamps
      of the rows of ``kinds``, so about that share of those rows lies at or after it.
    - ``last_k`` (per user): a user's pairs of ``kinds`` are ordered by the time of their first
      row; the ``last_k`` most recent are held out (pairs tied with the k-th are held out with it,
      so time order holds) and never all: a user with one pair, or whose pairs all start at the
      same moment, stays in train. For each user every test timestamp is >= every train
      timestamp of that user.

    Rows at or after a (global or per-user) cut whose pair is not held out - a repeat purchase
    of an item already bought before the cut, a later view of a train item, a pair with rows
    only of kinds outside ``kinds`` - go to neither part: keeping them in train would put future
    rows in train, keeping them in test would put a train pair in test. Their count is logged
    and recorded in ``meta["split"]["rows_dropped"]`` of both parts.

    Parameters
    ----------
    ds : Dataset
        Must have timestamps (``ds.has_timestamps``).
    test_fraction : float in (0, 1), optional
        Global cut at the quantile that leaves about this share of rows of ``kinds`` for test.
    cut : int seconds, datetime, datetime64 or ISO date string, optional
        Global cut: rows with timestamp >= cut are after it.
    last_k : int >= 1, optional
        Per-user: hold out each user's ``last_k`` most recent distinct positive items.
    kinds : str, sequence of str or None, default None
        Interaction kinds that define the positives that can be held out (``None``: all).

    Returns
    -------
    train, test : Dataset

    Raises
    ------
    ValueError
        The dataset has no timestamps; more than one of ``test_fraction``, ``cut``, ``last_k``;
        ``test_fraction`` outside (0, 1); ``last_k < 1``; an unknown kind; a global cut that
        leaves the train or the test part empty.
    """
    func = "temporal_split"
    _check_dataset(ds, func)
    given = [n for n, v in (("test_fraction", test_fraction), ("cut", cut), ("last_k", last_k))
             if v is not None]
    if len(given) > 1:
        raise ValueError(
            f"Give at most one of 'test_fraction', 'cut' and 'last_k' to {func}. Got {given}."
        )
    if not ds.has_timestamps:
        raise ValueError(
            f"{func} needs timestamps, but this dataset has none (its interactions had no "
            "'timestamp' column). Use random_split instead."
        )
    ks = _normalise_kinds(kinds, func)
    if not given:
        test_fraction = 0.2
    f = ds.indexed_interactions
    ts = f["timestamp"].to_numpy()
    users = f["user"].to_numpy()
    keys = _pair_keys(ds)
    pos_mask = ds.kind_mask(ks)
    if not pos_mask.any():
        raise ValueError(f"{func}: the dataset has no interactions of kinds {list(ks or KINDS)}.")

    # the first timestamp of each (user, item) pair, over rows of any kind
    uniq_keys, inverse = np.unique(keys, return_inverse=True)
    first_ts = np.full(len(uniq_keys), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first_ts, inverse, ts)
    is_pos_pair = np.zeros(len(uniq_keys), dtype=bool)
    is_pos_pair[inverse[pos_mask]] = True
    info: dict[str, Any] = {"method": "temporal", "kinds": list(ks) if ks else None}

    if last_k is None:
        if cut is not None:
            cut_s = _to_seconds(cut)
            info["cut"] = cut_s
        else:
            tf = _check_fraction(test_fraction, "test_fraction", func)
            cut_s = int(np.quantile(ts[pos_mask], 1.0 - tf, method="higher"))
            info.update(test_fraction=tf, cut=cut_s)
        user_cut = np.full(ds.n_users, cut_s, dtype=np.int64)
    else:
        if isinstance(last_k, bool) or not isinstance(last_k, numbers.Integral) or last_k < 1:
            raise ValueError(
                f"The 'last_k' parameter of {func} must be an int >= 1. Got {last_k!r} instead."
            )
        info["last_k"] = int(last_k)
        user_cut = _per_user_cut(
            uniq_keys[is_pos_pair] // max(ds.n_items, 1), first_ts[is_pos_pair], int(last_k),
            ds.n_users,
        )

    row_cut = user_cut[users]
    train_mask = ts < row_cut
    pair_user = uniq_keys // max(ds.n_items, 1)
    held_pair = is_pos_pair & (first_ts >= user_cut[pair_user])
    test_mask = held_pair[inverse]
    dropped = int((~train_mask & ~test_mask).sum())
    info["rows_dropped"] = dropped
    info["pairs_held_out"] = int(held_pair.sum())
    if last_k is None:
        if not train_mask.any() or not test_mask.any():
            which = "train" if not train_mask.any() else "test"
            raise ValueError(
                f"The cut {info['cut']} of {func} leaves the {which} part empty: timestamps "
                f"run from {int(ts.min())} to {int(ts.max())}."
            )
    if dropped:
        logger.info(
            "%s: %d row(s) at or after the cut belong to pairs not held out (repeats, later "
            "rows of train pairs, other kinds) and go to neither part", func, dropped,
        )
    return _parts(ds, train_mask, test_mask, info)


def _per_user_cut(
    pair_user: np.ndarray, pair_time: np.ndarray, k: int, n_users: int
) -> np.ndarray:
    """Per user, the time of the k-th most recent pair, raised so that never all pairs are held out.

    Users with fewer than two pairs, or whose pairs all start at the same time, get a cut after
    every timestamp (nothing held out).
    """
    never = np.iinfo(np.int64).max
    out = np.full(n_users, never, dtype=np.int64)
    if len(pair_user) == 0:
        return out
    order = _order2(pair_user, -pair_time)  # per user, most recent first
    u = pair_user[order]
    t = pair_time[order]
    counts = np.bincount(u, minlength=n_users)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    has = counts >= 2
    kk = np.minimum(k, counts - 1)  # never all
    # candidate cut: time of the kk-th most recent pair
    cand = np.full(n_users, never, dtype=np.int64)
    cand[has] = t[starts[has] + kk[has] - 1]
    # the oldest pair time of each user: a cut at or below it would hold out everything
    oldest = np.full(n_users, never, dtype=np.int64)
    oldest[has] = t[starts[has] + counts[has] - 1]
    ok = has & (cand > oldest)
    out[ok] = cand[ok]
    # where ties reach the oldest pair, move the cut up to the next later distinct time
    bad = np.flatnonzero(has & ~ok)
    if len(bad):
        # smallest pair time strictly greater than the oldest, per user (vectorised via masking)
        sel = np.isin(u, bad)
        uu, tt = u[sel], t[sel]
        later = tt > oldest[uu]
        nxt = np.full(n_users, never, dtype=np.int64)
        np.minimum.at(nxt, uu[later], tt[later])
        out[bad] = nxt[bad]
    return out
