"""Offline evaluation of ranking strategies: one protocol, written down once.

Protocol of :func:`evaluate`

* **Test users**: users with at least one positive in the test part (optionally restricted by
  ``users``).
* **Candidates**: full ranking over every *training item* (an item with at least one training
  interaction); each user's training items are excluded ("seen excluded"). Test positives on
  items that never occur in training cannot be ranked by any strategy; they are removed from
  the test lists and counted in ``test_pairs_untrainable``.
* **Metrics**: Recall@k, NDCG@k, MAP@k, HitRate@k (binary relevance, means over test users),
  catalogue coverage, exposure Gini over items, over merchants when item metadata names
  merchants, and novelty (see :mod:`haowurank.metrics`).
* **Cold start**: the same accuracy metrics over the test users with at most ``cold_start_max``
  distinct training items, under names prefixed ``cold_`` ("cold_NDCG@20").
* **Cost**: ``fit_s`` (wall seconds of ``fit``), ``recommend_s`` and ``users_per_s`` (top-k lists
  for all test users, in the ranker's own batches).

:func:`tune` searches a parameter grid on a fit/validation pair (never the test part) and
returns the best parameters and the whole table; :func:`compare` evaluates several strategies
and returns one row each. :func:`catalogue_intervals` gives intervals for the catalogue metrics
(coverage, exposure Gini, merchant Gini) from the per-user frame; per-user metrics get theirs
from :func:`haowurank.verdict.offline_verdict` (bootstrap over users).
"""

from __future__ import annotations

import logging
import math
import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from . import metrics as M
from ._checks import check_fraction, check_instance, check_int
from ._dataset import Dataset
from .rankers import Ranker, make

__all__ = ["catalogue_intervals", "compare", "evaluate", "expand_grid", "tune"]

log = logging.getLogger(__name__)

Callback = Callable[[str, float], None]


def _check_ks(k: int | Iterable[int], where: str = "evaluate") -> list[int]:
    ks = [k] if isinstance(k, int | np.integer) and not isinstance(k, bool) else list(k)
    if not ks or any(isinstance(x, bool) or not isinstance(x, int | np.integer) or x < 1 for x in ks):
        raise ValueError(
            f"The 'k' parameter of {where} must be a positive int or a non-empty sequence of "
            f"positive ints. Got {k!r} instead."
        )
    return sorted({int(x) for x in ks})


def _resolve_ranker(ranker_or_name: Any, params: Mapping[str, Any] | None) -> Ranker:
    if isinstance(ranker_or_name, str):
        return make(ranker_or_name, **dict(params or {}))
    if isinstance(ranker_or_name, Ranker):
        if params:
            raise ValueError(
                "The 'params' argument of evaluate is for a ranker given by name; set the "
                "parameters on the Ranker instance instead (conflicting options)."
            )
        return ranker_or_name
    raise TypeError(
        f"The 'ranker_or_name' argument of evaluate must be a ranker name or a Ranker. Got "
        f"{type(ranker_or_name).__name__} instead."
    )


def _aligned_test(train: Dataset, test: Dataset, user_ids: np.ndarray, item_ids: np.ndarray):
    """Test positives as CSR over the ranker's (user, item) vocabularies."""
    t = test.matrix(weight="binary").tocoo()
    if np.array_equal(test.user_ids, user_ids) and test.user_ids.dtype == user_ids.dtype:
        rows = t.row.astype(np.int64)
    else:
        rows = pd.Index(user_ids).get_indexer(test.user_ids)[t.row]
    if np.array_equal(test.item_ids, item_ids) and test.item_ids.dtype == item_ids.dtype:
        cols = t.col.astype(np.int64)
    else:
        cols = pd.Index(item_ids).get_indexer(test.item_ids)[t.col]
    unknown_user = rows < 0
    unknown_item = cols < 0
    keep = ~unknown_user & ~unknown_item
    m = sp.csr_matrix(
        (np.ones(int(keep.sum()), dtype=np.float32), (rows[keep], cols[keep])),
        shape=(len(user_ids), len(item_ids)),
    )
    m.sum_duplicates()
    m.data[:] = 1.0
    return m, int(unknown_user.sum()), int((unknown_item & ~unknown_user).sum())


def _merchant_codes(ds: Dataset, item_ids: np.ndarray) -> np.ndarray | None:
    items = ds.items
    if "merchant" not in items or items["merchant"].isna().all():
        return None
    codes, _ = pd.factorize(items["merchant"], use_na_sentinel=True)
    pos = pd.Index(items["item"]).get_indexer(item_ids)
    out = np.where(pos >= 0, codes[np.maximum(pos, 0)], -1)
    return out.astype(np.int64)


def evaluate(
    ranker_or_name: str | Ranker,
    train: Dataset,
    test: Dataset,
    *,
    k: int | Iterable[int] = (10, 20),
    users: Sequence[Any] | None = None,
    cold_start_max: int = 5,
    params: Mapping[str, Any] | None = None,
    show_progress: bool = False,
    callback: Callback | None = None,
    per_user: bool = False,
    refit: bool | None = None,
    position_weighted: bool = False,
) -> dict[str, Any] | tuple[dict[str, Any], pd.DataFrame]:
    """Fit (if needed) and evaluate one strategy on a train/test pair.

    Parameters
    ----------
    ranker_or_name : str or Ranker
        A registered name (built with ``params``) or a Ranker instance.
    train, test : Dataset
        The two parts of a split (e.g. :func:`haowurank.split.random_split`).
    k : int or sequence of int, default (10, 20)
        Cutoffs; lists of length ``max(k)`` are produced.
    users : sequence of ids, optional
        Evaluate only these users (those of them with test positives).
    cold_start_max : int, default 5
        Users with at most this many distinct training items are "cold" and get their own rows.
    params : mapping, optional
        Parameters for a ranker given by name.
    show_progress : bool
        tqdm progress bars for fitting and recommending.
    callback : callable(stage, fraction), optional
        Called with ``("recommend", fraction_done)`` after every batch.
    per_user : bool
        Also return a DataFrame with one row per test user: ``user``, ``n_train``, ``cold``,
        the accuracy metrics and ``top_items`` (the user's list as a tuple of item ids, best
        first, ``max(k)`` long or shorter when fewer items could be ranked), from which
        :func:`catalogue_intervals` recomputes the catalogue metrics on resamples of users.
    refit : bool or None
        ``None`` fits an unfitted ranker and evaluates a fitted one as it is (``fit_s`` NaN);
        ``True`` always fits on ``train``; ``False`` requires a fitted ranker.
    position_weighted : bool
        Exposure Gini with position weights ``1 / log2(rank + 1)``.

    Returns
    -------
    dict
        ``strategy``, ``users``, ``cold_users``, every ``{Recall,NDCG,MAP,HitRate}@k``,
        ``Coverage@k``, ``Gini@k``, ``MerchantGini@k`` (when merchants are known),
        ``Novelty@k``, the ``cold_`` accuracy metrics, ``fit_s``, ``recommend_s``,
        ``users_per_s`` and ``test_pairs_untrainable``. With ``per_user=True`` a tuple
        ``(dict, DataFrame)``.

    Examples
    --------
    >>> import haowurank as hr
    >>> from haowurank.testing import small_world
    >>> train, test = hr.split.random_split(small_world(), seed=0)
    >>> row = hr.evaluate("popularity", train, test, k=(5, 10))
    >>> 0.0 <= row["NDCG@10"] <= 1.0
    True
    """
    ks = _check_ks(k)
    for name, ds in (("train", train), ("test", test)):
        check_instance(ds, Dataset, name, "evaluate", "a haowurank Dataset")
    check_int(cold_start_max, "cold_start_max", "evaluate", 0)
    if refit not in (None, True, False):
        raise ValueError(f"The 'refit' parameter must be None, True or False. Got {refit!r}.")
    ranker = _resolve_ranker(ranker_or_name, params)
    fitted = hasattr(ranker, "item_ids_")
    fit_s = float("nan")
    if refit or (refit is None and not fitted):
        log.info("evaluate: fitting %r on %r", ranker, train)
        t0 = time.perf_counter()
        ranker.fit(train, show_progress=show_progress)
        fit_s = time.perf_counter() - t0
    elif not fitted:
        raise ValueError("evaluate(refit=False) needs a fitted ranker; this one is not fitted.")

    user_ids, item_ids = ranker.user_ids_, ranker.item_ids_
    test_m, lost_users, lost_items = _aligned_test(train, test, user_ids, item_ids)
    if lost_users:
        log.warning("evaluate: %d test pairs of users unknown to the ranker are left out", lost_users)
    # training items: at least one training interaction, in the ranker's item order
    train_bin = train.matrix(weight="binary")
    item_users_train = np.asarray(train_bin.sum(axis=0)).ravel()
    if np.array_equal(train.item_ids, item_ids):
        item_users = item_users_train
    else:
        pos = pd.Index(train.item_ids).get_indexer(item_ids)
        item_users = np.where(pos >= 0, item_users_train[np.maximum(pos, 0)], 0)
    trainable = item_users > 0
    untrainable = int(test_m[:, ~trainable].nnz) + lost_items
    if (~trainable).any():
        test_m = test_m.multiply(trainable[None, :].astype(np.float32)).tocsr()
        test_m.eliminate_zeros()
    n_train = np.diff(train_bin.indptr)
    if np.array_equal(train.user_ids, user_ids):
        n_train_u = n_train
    else:
        pos = pd.Index(train.user_ids).get_indexer(user_ids)
        n_train_u = np.where(pos >= 0, n_train[np.maximum(pos, 0)], 0)

    has_test = np.diff(test_m.indptr) > 0
    if users is not None:
        wanted = pd.Index(user_ids).get_indexer(np.asarray(list(users), dtype=object))
        sel = np.zeros(len(user_ids), dtype=bool)
        sel[wanted[wanted >= 0]] = True
        has_test &= sel
    uidx = np.flatnonzero(has_test)
    n = max(ks)
    cand = None if trainable.all() else trainable

    # recommend, timed, in the ranker's batches
    bs = max(1, int(getattr(ranker, "batch_size", 512)))
    starts = range(0, len(uidx), bs)
    if show_progress:
        from ._progress import tqdm

        starts = tqdm(starts, desc=f"{ranker.name}: recommend", unit="batch", leave=False)
    parts = []
    t0 = time.perf_counter()
    for s0 in starts:
        idx, _ = ranker.recommend_at(uidx[s0 : s0 + bs], n, exclude_seen=True, candidates=cand)
        parts.append(np.asarray(idx, dtype=np.int64))
        if callback is not None:
            callback("recommend", min(1.0, (s0 + bs) / max(1, len(uidx))))
    rec_s = time.perf_counter() - t0
    rec = np.concatenate(parts) if parts else np.empty((0, n), dtype=np.int64)

    test_rows = test_m[uidx]
    merchants = _merchant_codes(train, item_ids)
    n_train_users = int((n_train > 0).sum()) or 1
    out: dict[str, Any] = {
        "strategy": ranker.name,
        "users": len(uidx),
    }
    cold = n_train_u[uidx] <= cold_start_max
    out["cold_users"] = int(cold.sum())
    if len(uidx):
        out.update(
            M.summarize(
                rec, test_rows, ks, item_users=item_users, n_train_users=n_train_users,
                item_merchant=merchants, position_weighted=position_weighted,
            )
        )
        per = M.per_user_metrics(rec, test_rows, ks)
    else:
        per = {}
        log.warning("evaluate: no test user has a positive on a training item; metrics are NaN")
    for fam in M.ACCURACY_METRICS:
        for kk in ks:
            name = M.metric_name(fam, kk)
            out.setdefault(name, float("nan"))
            vals = per.get(name, np.empty(0))[cold] if per else np.empty(0)
            out[f"cold_{name}"] = float(np.nanmean(vals)) if np.isfinite(vals).any() else float("nan")
    out["fit_s"] = fit_s
    out["recommend_s"] = rec_s
    out["users_per_s"] = len(uidx) / rec_s if rec_s > 0 else float("nan")
    out["test_pairs_untrainable"] = untrainable
    if not per_user:
        return out
    frame = pd.DataFrame({"user": user_ids[uidx], "n_train": n_train_u[uidx], "cold": cold})
    for name, arr in per.items():
        frame[name] = arr
    frame["top_items"] = _top_items(rec, item_ids)
    return out, frame


def _top_items(rec: np.ndarray, item_ids: np.ndarray) -> list[tuple]:
    """Each row of ``rec`` as a tuple of item ids, best first, without the ``-1`` pads."""
    ids = item_ids[np.where(rec >= 0, rec, 0)]
    valid = rec >= 0
    if valid.all():
        return [tuple(row) for row in ids.tolist()]
    return [tuple(r[v].tolist()) for r, v in zip(ids, valid)]


# ------------------------------------------------------------------------------------------
# intervals for the catalogue metrics
# ------------------------------------------------------------------------------------------

#: How :func:`catalogue_intervals` computes each family's interval.
CATALOGUE_METHODS: dict[str, str] = {
    "Coverage": "jackknife over users (normal)",
    "Gini": "bootstrap over users (bias-corrected percentile)",
    "MerchantGini": "bootstrap over users (bias-corrected percentile)",
}


def _lists_matrix(per_user: pd.DataFrame, item_ids: np.ndarray, width: int) -> np.ndarray:
    """The ``top_items`` column as a matrix of item positions (n_users, width), ``-1`` pads."""
    if not isinstance(per_user, pd.DataFrame):
        raise TypeError(
            f"The 'per_user' argument of catalogue_intervals must be the per-user DataFrame of "
            f"evaluate(..., per_user=True). Got {type(per_user).__name__} instead."
        )
    if "top_items" not in per_user:
        raise KeyError(
            f"The 'per_user' frame of catalogue_intervals lacks the column 'top_items' (each "
            f"user's list of item ids, from evaluate(..., per_user=True)). Has "
            f"{list(per_user.columns)}."
        )
    lists = per_user["top_items"].tolist()
    bad = next((x for x in lists if isinstance(x, str) or not isinstance(x, Sequence | np.ndarray)),
               None)
    if bad is not None:
        raise TypeError(
            f"The 'top_items' column of 'per_user' must hold one sequence of item ids per user. "
            f"Got {type(bad).__name__} ({bad!r}) instead."
        )
    lengths = np.array([min(len(x), width) for x in lists], dtype=np.int64)
    flat = [i for x in lists for i in list(x)[:width]]
    pos = pd.Index(item_ids).get_indexer(pd.Index(flat, dtype=object)) if flat else \
        np.empty(0, dtype=np.int64)
    if (pos < 0).any():
        unknown = flat[int(np.flatnonzero(pos < 0)[0])]
        raise ValueError(
            f"The 'top_items' column of 'per_user' names item {unknown!r}, which is not an item "
            f"of 'train' ({int((pos < 0).sum())} such entries); pass the training part the lists "
            f"were evaluated on."
        )
    rec = np.full((len(lists), width), -1, dtype=np.int64)
    rows = np.repeat(np.arange(len(lists)), lengths)
    cols = np.arange(len(flat)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    rec[rows, cols] = pos
    srt = np.sort(rec, axis=1)
    dup = (srt[:, 1:] == srt[:, :-1]) & (srt[:, 1:] >= 0)
    if dup.any():
        r = int(np.flatnonzero(dup.any(axis=1))[0])
        raise ValueError(
            f"The 'top_items' column of 'per_user' repeats an item within one list (row {r}: "
            f"{lists[r]!r}); a top-k list names each item once."
        )
    return rec


def _gini_columns(x: np.ndarray) -> np.ndarray:
    """Gini coefficient of every column of a non-negative matrix (as :func:`metrics.gini`)."""
    m = x.shape[0]
    if m == 0:
        return np.full(x.shape[1], np.nan)
    x = np.sort(x, axis=0)
    total = x.sum(axis=0)
    w = 2.0 * np.arange(1, m + 1, dtype=np.float64) - m - 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        g = (w @ x) / (m * total)
    return np.where(total > 0, g, 0.0)


def _coverage_jackknife(rec: np.ndarray, n_items: int, kk: int) -> float:
    """Delete-one jackknife standard error of Coverage@kk.

    Leaving user ``u`` out removes exactly the items no other user has in the top ``kk``, so the
    ``n`` leave-one-out values are ``estimate - singletons_u / n_items`` (exact, no refits).
    """
    n = rec.shape[0]
    if n < 2:
        return float("nan")
    top = rec[:, :kk]
    valid = top >= 0
    users_per_item = np.bincount(top[valid], minlength=n_items)
    single = valid & (users_per_item[np.where(valid, top, 0)] == 1)
    drop = single.sum(axis=1) / n_items
    return float(np.sqrt((n - 1) / n * ((drop - drop.mean()) ** 2).sum()))


def catalogue_intervals(
    per_user: pd.DataFrame,
    train: Dataset,
    k: int | Iterable[int] = 20,
    *,
    level: float = 0.95,
    n_resamples: int = 1000,
    seed: int | np.random.SeedSequence | np.random.Generator | None = 0,
    position_weighted: bool = False,
) -> pd.DataFrame:
    """Intervals for the catalogue metrics Coverage@k, Gini@k and MerchantGini@k.

    These metrics are computed from the union of all users' top-k lists, not as a mean of
    per-user values, and they depend on how many users there are (more users cover more items).
    The interval is for the value expected from another sample of as many users from the same
    population, centred on the estimate from these users:

    * **Coverage**: delete-one jackknife over users, ``estimate +- z * se``. Leaving a user out
      removes exactly the items only that user was shown, so the ``n`` leave-one-out values
      are exact and cheap. (A percentile bootstrap over users is biased low for coverage: a
      resample holds about 63% distinct users, and duplicates cover no new items.)
    * **Gini, MerchantGini**: bootstrap over users with replacement, bias-corrected: the
      percentile interval of the resamples shifted by ``estimate - mean(resamples)`` (the
      resamples' ties inflate inequality, so the plain percentile interval sits off-centre).

    ``experiments/catalogue_intervals`` compares these with other methods and checks how often
    the intervals contain the population value by simulation. Intervals are clipped to
    ``[0, 1]``.

    Parameters
    ----------
    per_user : DataFrame
        The per-user frame of :func:`evaluate` (``per_user=True``); its ``top_items`` column
        holds each user's list of item ids, best first.
    train : Dataset
        The training part the lists were evaluated on; its items are the catalogue and its item
        metadata names the merchants.
    k : int or sequence of int, default 20
        Cutoffs (at most the lists' length as evaluated).
    level : float, default 0.95
        Confidence level, in (0, 1).
    n_resamples : int, default 1000
        Bootstrap resamples for the Gini family.
    seed : int, SeedSequence or Generator, default 0
        Randomness of the bootstrap; the same draws serve every cutoff and metric.
    position_weighted : bool
        Position-weighted exposure for the Gini family, as in :func:`evaluate`.

    Returns
    -------
    DataFrame
        One row per metric and cutoff: ``metric`` ("Coverage@20"), ``estimate`` (equal to
        :func:`evaluate`'s value on the same users), ``ci_low``, ``ci_high``, ``method`` and
        ``users``. MerchantGini rows appear when the items name merchants. The interval is NaN
        with fewer than two users.

    Examples
    --------
    >>> import haowurank as hr
    >>> from haowurank.testing import small_world
    >>> train, test = hr.split.random_split(small_world(), seed=0)
    >>> row, users = hr.evaluate("popularity", train, test, k=10, per_user=True)
    >>> ci = hr.evaluation.catalogue_intervals(users, train, k=10, n_resamples=200)
    >>> c = ci.set_index("metric").loc["Coverage@10"]
    >>> bool(c["ci_low"] <= c["estimate"] == row["Coverage@10"] <= c["ci_high"])
    True
    """
    ks = _check_ks(k, "catalogue_intervals")
    check_instance(train, Dataset, "train", "catalogue_intervals", "a haowurank Dataset")
    check_fraction(level, "level", "catalogue_intervals")
    check_int(n_resamples, "n_resamples", "catalogue_intervals", 1)
    item_ids = train.item_ids
    n_items = len(item_ids)
    rec = _lists_matrix(per_user, item_ids, max(ks))
    merchants = _merchant_codes(train, item_ids)
    n = rec.shape[0]
    z = statistics.NormalDist().inv_cdf(0.5 + level / 2.0)
    a = (1.0 - level) / 2.0

    # estimates, exactly as evaluate computes them
    est: dict[tuple[str, int], float] = {}
    for kk in ks:
        est["Coverage", kk] = M.coverage(rec, n_items, kk) if n else float("nan")
        est["Gini", kk] = (M.exposure_gini(rec, n_items, kk, position_weighted=position_weighted)
                           if n else float("nan"))
        if merchants is not None:
            est["MerchantGini", kk] = (
                M.merchant_gini(rec, merchants, kk, position_weighted=position_weighted)
                if n else float("nan")
            )

    # bootstrap of the Gini family: one set of resamples for every cutoff and metric
    boot: dict[tuple[str, int], list[np.ndarray]] = {key: [] for key in est if key[0] != "Coverage"}
    if n >= 2:
        rng = np.random.default_rng(seed)
        ex = {}
        for kk in ks:
            top = rec[:, :kk]
            valid = top >= 0
            w = M.exposure(np.arange(kk)[None, :], kk, kk, position_weighted=position_weighted)
            rows = np.broadcast_to(np.arange(n)[:, None], top.shape)[valid]
            ex[kk] = sp.csr_matrix(
                (np.broadcast_to(w, top.shape)[valid], (top[valid], rows)), shape=(n_items, n)
            )
        to_merchant = None  # (merchants with an item, n_items): sums item exposure per merchant
        if merchants is not None and (merchants >= 0).any():
            known = np.flatnonzero(merchants >= 0)
            to_merchant = sp.csr_matrix(
                (np.ones(len(known)), (merchants[known], known)),
                shape=(int(merchants.max()) + 1, n_items),
            )
            to_merchant = to_merchant[np.flatnonzero(np.diff(to_merchant.indptr) > 0)]
        chunk = max(1, 4_000_000 // max(n, n_items))
        for start in range(0, n_resamples, chunk):
            b = min(chunk, n_resamples - start)
            draws = rng.integers(0, n, size=(b, n))
            weights = np.bincount((np.arange(b)[:, None] * n + draws).ravel(),
                                  minlength=b * n).reshape(b, n).T.astype(np.float64)
            for kk in ks:
                exposure = ex[kk] @ weights  # (n_items, b)
                boot["Gini", kk].append(_gini_columns(exposure))
                if merchants is not None:
                    boot["MerchantGini", kk].append(
                        _gini_columns(to_merchant @ exposure) if to_merchant is not None
                        else np.full(b, np.nan)
                    )

    rows_out = []
    for (family, kk), value in est.items():
        lo = hi = float("nan")
        if n >= 2 and np.isfinite(value):
            if family == "Coverage":
                se = _coverage_jackknife(rec, n_items, kk)
                lo, hi = value - z * se, value + z * se
            else:
                draws_v = np.concatenate(boot[family, kk])
                draws_v = draws_v[np.isfinite(draws_v)]
                if len(draws_v):
                    q_lo, q_hi = np.quantile(draws_v, [a, 1.0 - a])
                    shift = value - float(draws_v.mean())
                    lo, hi = q_lo + shift, q_hi + shift
            lo, hi = max(0.0, float(lo)), min(1.0, float(hi))
        rows_out.append({
            "metric": M.metric_name(family, kk), "estimate": value, "ci_low": lo, "ci_high": hi,
            "method": CATALOGUE_METHODS[family], "users": n,
        })
    order = {"Coverage": 0, "Gini": 1, "MerchantGini": 2}
    rows_out.sort(key=lambda r: (int(r["metric"].split("@")[1]),
                                 order[r["metric"].split("@")[0]]))
    return pd.DataFrame(rows_out, columns=["metric", "estimate", "ci_low", "ci_high", "method",
                                           "users"])


# ------------------------------------------------------------------------------------------
# grids and tuning
# ------------------------------------------------------------------------------------------

def expand_grid(grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Sequence[Any]]] | None):
    """All parameter combinations of a grid (a dict of lists, or a list of such dicts).

    The order is deterministic: the first key varies slowest. An empty or ``None`` grid gives one
    empty combination (the defaults).
    """
    if not grid:
        return [{}]
    grids = [grid] if isinstance(grid, Mapping) else list(grid)
    combos: list[dict[str, Any]] = []
    for g in grids:
        if not isinstance(g, Mapping):
            raise TypeError(f"A parameter grid must be a dict of lists. Got {type(g).__name__}.")
        keys = list(g)
        values = []
        for key in keys:
            v = g[key]
            if isinstance(v, str) or not isinstance(v, Sequence):
                raise TypeError(
                    f"The grid entry {key!r} must be a list of values. Got {v!r} instead."
                )
            if len(v) == 0:
                raise ValueError(f"The grid entry {key!r} is an empty list.")
            values.append(list(v))
        combos_g: list[dict[str, Any]] = [{}]
        for key, vals in zip(keys, values):
            combos_g = [{**c, key: v} for c in combos_g for v in vals]
        combos.extend(combos_g)
    return combos


def tune(
    name: str,
    grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Sequence[Any]]] | None,
    fit_ds: Dataset,
    val_ds: Dataset,
    metric: str = "NDCG@20",
    *,
    params: Mapping[str, Any] | None = None,
    k: int | Iterable[int] | None = None,
    users: Sequence[Any] | None = None,
    show_progress: bool = False,
    callback: Callback | None = None,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Grid search of one strategy on a fit/validation pair (never pass the test part here).

    Parameters
    ----------
    name : str
        Registered ranker name.
    grid : dict of lists, list of such dicts, or None
        Parameter values to try (see :func:`expand_grid`); ``None`` evaluates the defaults.
    fit_ds, val_ds : Dataset
        E.g. ``hr.split.validation_split(train)``.
    metric : str, default "NDCG@20"
        Metric to maximise, with its cutoff.
    params : mapping, optional
        Fixed parameters added to every combination (the grid wins on conflicts).
    k : int or sequence, optional
        Cutoffs to compute; by default the metric's own cutoff.
    users : sequence of ids, optional
        Validate on these users only (e.g. a sample, for speed).

    Returns
    -------
    best_params : dict
        Fixed parameters merged with the best combination (ties: the first in grid order).
    table : DataFrame
        One row per combination: its parameters, the validation metrics and ``fit_s``, sorted
        best first.
    """
    if "@" not in metric:
        raise ValueError(
            f"The 'metric' parameter of tune must name a metric with its cutoff, e.g. 'NDCG@20'. "
            f"Got {metric!r} instead."
        )
    family, cut = metric.split("@", 1)
    if family not in M.ACCURACY_METRICS or not cut.isdigit() or int(cut) < 1:
        raise ValueError(
            f"The 'metric' parameter of tune must be one of {list(M.ACCURACY_METRICS)} with a "
            f"positive cutoff, e.g. 'NDCG@20'. Got {metric!r} instead."
        )
    ks = _check_ks(int(cut) if k is None else k)
    if int(cut) not in ks:
        ks = sorted({*ks, int(cut)})
    combos = expand_grid(grid)
    fixed = dict(params or {})
    rows = []
    it = enumerate(combos)
    if show_progress:
        from ._progress import tqdm

        it = tqdm(it, total=len(combos), desc=f"tune {name}", unit="fit")
    for j, combo in it:
        p = {**fixed, **combo}
        row = {"combo": j, **{f"param:{key}": v for key, v in combo.items()}}
        try:
            res = evaluate(name, fit_ds, val_ds, k=ks, params=p, users=users)
        except (ValueError, ArithmeticError, MemoryError) as exc:
            # one bad grid point (a numerical failure, a guard) must not end a long search
            log.warning("tune %s %s failed: %s", name, combo, exc)
            row.update({metric: float("nan"), "fit_s": float("nan"), "error": str(exc)})
            rows.append(row)
            continue
        row.update({key: res[key] for key in res if "@" in key and not key.startswith("cold_")})
        row["fit_s"] = res["fit_s"]
        rows.append(row)
        log.info("tune %s %s: %s=%.5f (fit %.1fs)", name, combo, metric, res[metric], res["fit_s"])
        if callback is not None:
            callback(f"tune:{name}", (j + 1) / len(combos))
    table = pd.DataFrame(rows)
    score = table[metric].to_numpy(dtype=np.float64)
    score = np.where(np.isfinite(score), score, -math.inf)
    if not np.isfinite(score).any():
        raise ValueError(
            f"tune {name}: every one of the {len(combos)} grid points failed or scored NaN; "
            f"see the 'error' column: {table.get('error', pd.Series(dtype=str)).dropna().tolist()[:3]}"
        )
    best = int(np.argmax(score))  # first maximum: ties go to the earlier combination
    best_params = {**fixed, **combos[best]}
    table["best"] = False
    table.loc[best, "best"] = True
    table = table.sort_values([metric, "combo"], ascending=[False, True], kind="stable")
    return best_params, table.reset_index(drop=True)


def compare(
    strategies: Mapping[str, Mapping[str, Any]] | Sequence[str],
    train: Dataset,
    test: Dataset,
    *,
    k: int | Iterable[int] = (10, 20),
    cold_start_max: int = 5,
    show_progress: bool = False,
    callback: Callback | None = None,
    per_user: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Evaluate several strategies (name -> params, or a list of names) into one table.

    Parameters
    ----------
    strategies : list of names or dict name -> params
    train, test : Dataset
    k, cold_start_max
        As in :func:`evaluate`.
    show_progress : bool
        A progress bar over the strategies.
    callback : callable(stage, fraction_done), optional
        Called with ``("compare", fraction)`` after each strategy.
    per_user : bool
        Also return each strategy's per-user frame (``evaluate(..., per_user=True)``).

    Returns
    -------
    DataFrame
        One row per strategy, in the order given: every column :func:`evaluate` returns.
    dict strategy -> DataFrame
        With ``per_user=True``: the per-user frames.
    """
    items = (
        list(strategies.items()) if isinstance(strategies, Mapping)
        else [(s, {}) for s in strategies]
    )
    rows, frames = [], {}
    it = items
    if show_progress:
        from ._progress import tqdm

        it = tqdm(items, desc="compare", unit="strategy")
    for j, (name, p) in enumerate(it):
        res = evaluate(name, train, test, k=k, params=p, cold_start_max=cold_start_max,
                       show_progress=False, per_user=per_user)
        if per_user:
            res, frames[name] = res
        rows.append(res)
        if callback is not None:
            callback("compare", (j + 1) / len(items))
    table = pd.DataFrame(rows)
    return (table, frames) if per_user else table
