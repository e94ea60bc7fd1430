"""Tables and figures for people: the offline comparison, simulated comparisons over time, a user's
feed and search side by side. Pure functions over library objects, so the dashboard
(``apps/dashboard.py``) and the notebooks only present what this module returns and can cache it.

Nothing here ranks, evaluates or simulates by itself; there is one compare per concern and
this module formats what it returns: :func:`haowurank.evaluation.compare` (``per_user=True``
for :func:`cold_start_curve`) gives the table :func:`offline_table` formats;
:func:`haowurank.sim.compare` (``keep_daily=True``) gives the runs that :class:`SimStudy` turns
into tables and bands over time; :func:`user_feeds` calls :func:`haowurank.feed.build`.

Example
-------
>>> import haowurank as hr
>>> from haowurank import report
>>> ds = report.load_world("synthetic", n_users=300, n_items=150, seed=1)
>>> train, test = hr.split.random_split(ds, seed=0)
>>> table = hr.evaluation.compare(["popularity", "trust"], train, test, k=(10,))
>>> list(report.offline_table(table, 10)["strategy"])
['popularity', 'trust']
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._dataset import Dataset
from .datasets.registry import data_root
from .datasets.registry import dataset_for_folder as loader_for_folder

# data_root and loader_for_folder are the dataset registry's (one lookup, one folder rule),
# re-exported here for the dashboard and the notebooks.

__all__ = [
    "SIM_CHART_METRICS",
    "SIM_KEY_METRICS",
    "SimStudy",
    "cold_start_curve",
    "data_root",
    "default_query",
    "interesting_users",
    "load_world",
    "loader_for_folder",
    "offline_long",
    "offline_table",
    "search_with_ranker",
    "to_csv_bytes",
    "user_feeds",
]

log = logging.getLogger(__name__)

#: Run-level metrics people read first (``hr.sim.SUMMARY_METRICS`` has them all).
SIM_KEY_METRICS: tuple[str, ...] = (
    "orders", "gmv", "repurchase_rate", "endorsements", "cascade_size_mean",
    "merchant_exposure_gini", "longtail_impression_share", "longtail_gmv_share", "messages_sent",
    "message_orders", "complaints", "opt_outs",
)

#: Daily simulation metrics worth a curve, grouped as the dashboard shows them.
SIM_CHART_METRICS: dict[str, tuple[str, ...]] = {
    "commerce": ("orders", "gmv", "repurchase_rate", "conversion"),
    "word of mouth": ("endorsements", "reshares", "cascade_size_mean", "cascade_size_max"),
    "decentralisation": ("merchant_exposure_gini", "longtail_impression_share",
                         "longtail_gmv_share"),
    "messages": ("messages_sent", "message_orders", "complaints", "opt_outs"),
}


# ------------------------------------------------------------------------------------------
# worlds
# ------------------------------------------------------------------------------------------

def _resolve_folder(path: str | os.PathLike) -> Path:
    p = Path(path).expanduser()
    candidates = [p] if p.is_absolute() else [Path.cwd() / p, data_root() / p,
                                                data_root() / p.name]
    for c in candidates:
        if c.is_dir():
            return c.resolve()
    raise FileNotFoundError(
        f"No data set folder at {str(path)!r}; looked in {[str(c) for c in candidates]}. Give the "
        f"folder that holds the data set's files (e.g. ../shared/data/lastfm-hetrec2011)."
    )


def load_world(
    world: str | os.PathLike = "synthetic",
    *,
    n_users: int = 2000,
    n_items: int = 1000,
    seed: int = 0,
    k_core: int = 0,
    **knobs: Any,
) -> Dataset:
    """The synthetic world or a real data set read from its folder.

    Parameters
    ----------
    world : "synthetic" or path
        ``"synthetic"`` makes :func:`haowurank.datasets.synthetic` with ``n_users``, ``n_items``,
        ``seed`` and ``**knobs``; anything else is a data set folder (absolute, relative to the
        working directory, or relative to :func:`data_root`), read by the loader its name
        names (:func:`loader_for_folder`).
    n_users, n_items, seed : int
        Synthetic world size and seed (ignored for real data).
    k_core : int
        Keep users and items with at least ``k_core`` interactions (0 or 1: everything).
    **knobs
        Synthetic world knobs (e.g. ``homophily=0.9``); loader keyword arguments for real data.

    Returns
    -------
    Dataset
    """
    from . import datasets

    if str(world) == "synthetic":
        ds = datasets.synthetic(n_users=n_users, n_items=n_items, seed=seed, **knobs)
    else:
        folder = _resolve_folder(world)
        loader = getattr(datasets, f"load_{loader_for_folder(folder)}")
        log.info("load_world: %s with %s", folder, loader.__name__)
        ds = loader(folder, **knobs)
    if isinstance(k_core, bool) or not isinstance(k_core, int | np.integer) or k_core < 0:
        raise ValueError(f"The 'k_core' parameter of load_world must be an int >= 0. Got {k_core!r}.")
    if k_core > 1:
        ds = ds.k_core(int(k_core))
    return ds


# ------------------------------------------------------------------------------------------
# offline comparison
# ------------------------------------------------------------------------------------------

def offline_table(table: pd.DataFrame, k: int) -> pd.DataFrame:
    """The columns people read, at one cutoff: accuracy, distribution, cold start and cost.

    Columns (those present): strategy, users, NDCG@k, Recall@k, HitRate@k, Coverage@k, Gini@k,
    MerchantGini@k, Novelty@k, cold_users, cold_NDCG@k, cold_Recall@k, fit_s, users_per_s.
    """
    cols = ["strategy", "users", f"NDCG@{k}", f"Recall@{k}", f"HitRate@{k}", f"Coverage@{k}",
            f"Gini@{k}", f"MerchantGini@{k}", f"Novelty@{k}", "cold_users", f"cold_NDCG@{k}",
            f"cold_Recall@{k}", "fit_s", "users_per_s"]
    missing = [c for c in ("strategy", f"NDCG@{k}") if c not in table]
    if missing:
        raise KeyError(
            f"The 'table' of offline_table lacks the columns {missing}; pass the frame of "
            f"hr.evaluation.compare with {k} among its cutoffs."
        )
    return table[[c for c in cols if c in table]].reset_index(drop=True)


def offline_long(table: pd.DataFrame, k: int) -> pd.DataFrame:
    """Long form for charts: strategy, metric, value, panel ("accuracy", "cold start",
    "distribution")."""
    panels = {
        f"NDCG@{k}": "accuracy", f"Recall@{k}": "accuracy",
        f"cold_NDCG@{k}": "cold start", f"cold_Recall@{k}": "cold start",
        f"Coverage@{k}": "distribution", f"Gini@{k}": "distribution",
        f"MerchantGini@{k}": "distribution",
    }
    cols = [c for c in panels if c in table]
    long = table.melt(id_vars="strategy", value_vars=cols, var_name="metric", value_name="value")
    long["panel"] = long["metric"].map(panels)
    return long.dropna(subset=["value"]).reset_index(drop=True)


_BUCKETS = (0, 2, 5, 10, 20, 50, math.inf)


def cold_start_curve(
    per_user: Mapping[str, pd.DataFrame], k: int, *, min_users: int = 1
) -> pd.DataFrame:
    """Accuracy by length of the training history, per strategy.

    Parameters
    ----------
    per_user : dict strategy -> DataFrame
        The per-user frames of ``haowurank.evaluate(..., per_user=True)``.
    k : int
    min_users : int
        Leave out buckets with fewer test users (their means are noise).

    Returns
    -------
    DataFrame
        strategy, history (bucket label such as "3-5"), users, NDCG@k, Recall@k (means).
    """
    labels = []
    for lo, hi in zip(_BUCKETS[:-1], _BUCKETS[1:]):
        labels.append(f"{lo + 1}-{int(hi)}" if math.isfinite(hi) else f">{lo}")
    labels[0] = f"0-{_BUCKETS[1]}"
    rows = []
    for name, frame in per_user.items():
        b = pd.cut(frame["n_train"], bins=[-1, *_BUCKETS[1:]], labels=labels)
        g = frame.groupby(b, observed=False)
        agg = pd.DataFrame({
            "users": g.size(),
            f"NDCG@{k}": g[f"NDCG@{k}"].mean(),
            f"Recall@{k}": g[f"Recall@{k}"].mean(),
        })
        agg.index.name = "history"
        agg = agg.reset_index()
        agg.insert(0, "strategy", name)
        rows.append(agg)
    out = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    if len(out):
        out["history"] = out["history"].astype(str)
        out = out[out["users"] >= max(1, int(min_users))].reset_index(drop=True)
    return out


# ------------------------------------------------------------------------------------------
# simulation study
# ------------------------------------------------------------------------------------------

@dataclass(eq=False)
class SimStudy:
    """Replicated simulations of several configs, with each run's daily frame.

    Attributes
    ----------
    summary : DataFrame
        As :attr:`haowurank.sim.Comparison.summary` (same values): one row per (config, metric)
        with ``mean``, ``ci_low``, ``ci_high``, ``std``, ``n`` and the paired ``diff`` to the
        first config with its interval.
    runs : DataFrame
        One row per (config, replicate): seed and every summary metric.
    daily : DataFrame
        One row per (config, replicate, day): every daily column of the runs.
    level : float
        Confidence level of the intervals.
    """

    summary: pd.DataFrame
    runs: pd.DataFrame
    daily: pd.DataFrame
    level: float = 0.95

    @classmethod
    def from_comparison(cls, comparison: Any) -> SimStudy:
        """The study of ``hr.sim.compare(..., keep_daily=True)``'s result (no simulation here).

        Raises
        ------
        ValueError
            The comparison was run without ``keep_daily=True``.
        """
        daily = getattr(comparison, "daily", None)
        if daily is None:
            raise ValueError(
                "The 'comparison' of SimStudy.from_comparison must come from "
                "hr.sim.compare(..., keep_daily=True); its 'daily' is None."
            )
        return cls(summary=comparison.summary, runs=comparison.runs, daily=daily,
                   level=comparison.level)

    @property
    def configs(self) -> list[str]:
        return list(dict.fromkeys(self.runs["config"]))

    def table(self, metrics: Sequence[str] | None = None) -> pd.DataFrame:
        """Wide: one row per config, a column per metric mean and its interval bounds."""
        s = self.summary
        if metrics is not None:
            s = s[s["metric"].isin(list(metrics))]
        wide = s.pivot(index="config", columns="metric", values=["mean", "ci_low", "ci_high"])
        mets = list(dict.fromkeys(s["metric"]))
        cols = [(stat, m) for m in mets for stat in ("mean", "ci_low", "ci_high")]
        wide = wide[cols]
        wide.columns = [m if stat == "mean" else f"{m} {stat}" for stat, m in cols]
        return wide.loc[self.configs].reset_index()

    def diff_table(self, metrics: Sequence[str] | None = None) -> pd.DataFrame:
        """Wide: paired difference of each config to the first one, per metric, with its interval.

        Columns ``config`` and, per metric, ``"<metric> diff"``, ``"... diff_ci_low"``,
        ``"... diff_ci_high"``; the first config's row is left out (its differences are 0).
        """
        s = self.summary
        if metrics is not None:
            s = s[s["metric"].isin(list(metrics))]
        first = self.configs[0]
        s = s[s["config"] != first]
        mets = list(dict.fromkeys(s["metric"]))
        stats = ("diff", "diff_ci_low", "diff_ci_high")
        wide = s.pivot(index="config", columns="metric", values=list(stats))
        cols = [(stat, m) for m in mets for stat in stats]
        wide = wide[cols]
        wide.columns = [f"{m} {stat}" for stat, m in cols]
        return wide.loc[[c for c in self.configs if c != first]].reset_index()

    def bands(
        self,
        metrics: Sequence[str],
        *,
        cumulative: bool = False,
        paired_to: str | None = None,
    ) -> pd.DataFrame:
        """Mean and t-interval across replicates per (config, day, metric), for band charts.

        Parameters
        ----------
        metrics : sequence of str
            Daily columns.
        cumulative : bool
            Bands of each replicate's running total (for counts such as orders, GMV).
        paired_to : str, optional
            A config label: bands of each replicate's difference to that config on the same day
            (common random numbers make these much narrower than the bands of the levels, which
            also carry the spread between replicate worlds). The reference config is left out.

        Returns
        -------
        DataFrame
            config, day, metric, mean, ci_low, ci_high, n.
        """
        from .sim import mean_ci

        unknown = [m for m in metrics if m not in self.daily]
        if unknown:
            raise KeyError(f"Unknown daily metric(s) {unknown}; known: {list(self.daily.columns)}.")
        if paired_to is not None and paired_to not in self.configs:
            raise ValueError(
                f"The 'paired_to' parameter of SimStudy.bands must be one of the configs "
                f"{self.configs}. Got {paired_to!r} instead."
            )
        d = self.daily.sort_values(["config", "replicate", "day"])
        rows = []
        for m in metrics:
            vals = d[m].astype(np.float64)
            if cumulative:
                vals = vals.groupby([d["config"], d["replicate"]]).cumsum()
            frame = pd.DataFrame({"config": d["config"], "replicate": d["replicate"],
                                  "day": d["day"], "v": vals})
            if paired_to is not None:
                ref = frame[frame["config"] == paired_to].set_index(["replicate", "day"])["v"]
                frame = frame[frame["config"] != paired_to]
                base = ref.reindex(pd.MultiIndex.from_frame(frame[["replicate", "day"]]))
                frame = frame.assign(v=frame["v"].to_numpy() - base.to_numpy())
            for (cfg, day), g in frame.groupby(["config", "day"], sort=False):
                mu, lo, hi, _ = mean_ci(g["v"].to_numpy(), self.level)
                rows.append((cfg, int(day), m, mu, lo, hi, len(g)))
        return pd.DataFrame(rows, columns=["config", "day", "metric", "mean", "ci_low", "ci_high",
                                           "n"])


# ------------------------------------------------------------------------------------------
# one user: feed and search under strategies
# ------------------------------------------------------------------------------------------

def interesting_users(ds: Dataset, n: int = 50) -> pd.DataFrame:
    """Users worth inspecting: the most visible friends' endorsements first.

    Returns
    -------
    DataFrame
        user, following (users they follow), visible_endorsements (distinct items their friends
        endorsed that they may see), interactions; ``n`` rows, most visible endorsements first,
        then most interactions (so a data set without endorsements still gives users).
    """
    from .feed import EndorsementGraph

    following = np.diff(ds.social_matrix(weighted=False).indptr)
    inter = ds.user_counts()
    vis = np.zeros(ds.n_users, dtype=np.int64)
    if ds.n_users:
        t = EndorsementGraph(ds).triples(np.arange(ds.n_users))
        if len(t["item"]):
            keys = np.unique(t["viewer"].astype(np.int64) * max(ds.n_items, 1) + t["item"])
            vis = np.bincount(keys // max(ds.n_items, 1), minlength=ds.n_users)
    order = np.lexsort((np.arange(ds.n_users), -inter, -vis))[:n]
    return pd.DataFrame({
        "user": ds.user_ids[order],
        "following": following[order].astype(np.int64),
        "visible_endorsements": vis[order].astype(np.int64),
        "interactions": np.asarray(inter)[order].astype(np.int64),
    })


def _with_items(frame: pd.DataFrame, ds: Dataset) -> pd.DataFrame:
    meta = ds.items
    keep = [c for c in ("item", "title", "category", "merchant", "price") if c in meta]
    meta = meta[keep]
    meta = meta.loc[:, [c for c in meta.columns if c == "item" or meta[c].notna().any()]]
    return frame.merge(meta, on="item", how="left")


def user_feeds(
    ds: Dataset,
    rankers: Mapping[str, Any],
    user: Any,
    n: int = 10,
    *,
    index: Any = None,
) -> dict[str, pd.DataFrame]:
    """One page of ``user``'s friends' feed under each ranker (:func:`haowurank.feed.build`).

    Returns
    -------
    dict label -> DataFrame
        rank, item, title / category / merchant / price (those the data has), score, endorsers
        (comma-separated friend ids), kinds, explanation.
    """
    from .feed import build

    out = {}
    for label, ranker in rankers.items():
        f = build(ds, ranker, user, n=n, index=index)
        f = _with_items(f, ds)
        f["endorsers"] = f["endorsers"].map(lambda xs: ", ".join(str(x) for x in xs))
        f["kinds"] = f["kinds"].map(lambda xs: ", ".join(str(x) for x in xs))
        cols = ["rank", "item", *[c for c in ("title", "category", "merchant", "price") if c in f],
                "score", "endorsers", "kinds", "explanation"]
        out[label] = f[cols].reset_index(drop=True)
    return out


def search_with_ranker(
    index: Any,
    ranker: Any,
    text: str,
    user: Any,
    n: int = 10,
    *,
    ranker_weight: float = 0.5,
    pool: int = 100,
) -> pd.DataFrame:
    """Search hits re-ordered by a strategy: the search score blended with the ranker's score.

    The :class:`~haowurank.search.SearchIndex` answers ``pool`` hits for ``text`` personalised for
    ``user`` (text match, recommendation counts, visible friends' endorsements); each hit's
    final score is ``(1 - ranker_weight) * search + ranker_weight * strategy``, both min-max
    scaled to [0, 1] over the pool (the strategy's score: ``ranker.score(user, items)``; items the
    ranker cannot score get 0). ``ranker_weight=0`` is the plain search order.

    Returns
    -------
    DataFrame
        rank, item, title / category / merchant / price, score, search_rank, n_recommenders,
        n_friend_recommenders, explanation (the search's, plus the strategy's rank in the pool).
    """
    if not (isinstance(ranker_weight, int | float) and 0.0 <= ranker_weight <= 1.0):
        raise ValueError(
            f"The 'ranker_weight' parameter of search_with_ranker must be a number in [0, 1]. "
            f"Got {ranker_weight!r} instead."
        )
    hits = index.query(text, user=user, n=max(int(pool), int(n)))
    if hits.empty:
        return _with_items(hits.assign(search_rank=hits["rank"]), index.ds).head(0)

    def scaled(x: np.ndarray) -> np.ndarray:
        x = np.where(np.isfinite(x), x, np.nan)
        if np.all(np.isnan(x)):
            return np.zeros(len(x))
        lo, hi = np.nanmin(x), np.nanmax(x)
        z = (x - lo) / (hi - lo) if hi > lo else np.ones(len(x))
        return np.nan_to_num(z, nan=0.0)

    known = np.isin(hits["item"].to_numpy(), ranker.item_ids_)
    strat = np.full(len(hits), np.nan)
    if known.any():
        strat[known] = ranker.score(user, hits["item"].to_numpy()[known])
    s_search = scaled(hits["score"].to_numpy(dtype=np.float64))
    s_strat = scaled(strat)
    final = (1.0 - ranker_weight) * s_search + ranker_weight * s_strat
    strat_rank = pd.Series(np.nan_to_num(strat, nan=-np.inf)).rank(ascending=False, method="first")
    out = hits.rename(columns={"rank": "search_rank"}).copy()
    out["score"] = final
    out["explanation"] = [
        f"{e}; {ranker.name} ranks it {int(r)} of {len(hits)}"
        for e, r in zip(out["explanation"], strat_rank)
    ]
    out = out.iloc[np.lexsort((out["search_rank"].to_numpy(), -final))].head(n)
    out.insert(0, "rank", np.arange(1, len(out) + 1, dtype=np.int64))
    out = _with_items(out.reset_index(drop=True), index.ds)
    cols = ["rank", "item", *[c for c in ("title", "category", "merchant", "price") if c in out],
            "score", "search_rank", "n_recommenders", "n_friend_recommenders", "explanation"]
    return out[cols]


def default_query(ds: Dataset, user: Any) -> str:
    """A sensible search text for ``user``: the category they interacted with most, else the
    first word of the title of their most frequent item, else the catalogue's top category."""
    items = ds.items
    uidx = int(ds.user_index([user])[0])
    row = ds.matrix(weight="binary")[uidx]
    mine = ds.item_ids[row.indices]
    sub = items[items["item"].isin(mine)] if len(mine) else items.head(0)
    for frame in (sub, items):
        if "category" in frame and frame["category"].notna().any():
            return str(frame["category"].dropna().value_counts().index[0]).replace("_", " ")
        if "title" in frame and frame["title"].notna().any():
            words = frame["title"].dropna().astype(str).str.split().str[0].dropna()
            if len(words):
                return str(words.value_counts().index[0])
    return ""


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """UTF-8 CSV (no index) for downloads."""
    return frame.to_csv(index=False).encode("utf-8")
