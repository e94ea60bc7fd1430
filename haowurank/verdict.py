"""Verdicts for people: which strategy is best, by how much against a baseline, and whether the
interval of that change excludes zero; human labels and a glossary for the metrics.

The dashboard (``apps/dashboard.py``) and the notebooks show these tables; they compute nothing
themselves. Offline intervals come from a paired bootstrap over test users (every strategy is
resampled with the same users, so the differences are paired); simulated intervals are the
t-intervals over replicates of :func:`haowurank.sim.compare` (paired through common random
numbers).

Example
-------
>>> import pandas as pd
>>> from haowurank import verdict
>>> per_user = {"a": pd.DataFrame({"user": [1, 2, 3, 4], "NDCG@10": [0.1, 0.2, 0.1, 0.3]}),
...             "b": pd.DataFrame({"user": [1, 2, 3, 4], "NDCG@10": [0.2, 0.4, 0.2, 0.5]})}
>>> v = verdict.offline_verdict(per_user, "NDCG@10", baseline="a", n_resamples=200)
>>> verdict.best(v)["strategy"]
'b'
>>> verdict.label("NDCG@10")
'ranking accuracy (NDCG@10)'
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "COUNT_METRICS",
    "GLOSSARY",
    "RATE_METRICS",
    "best",
    "bootstrap_mean_ci",
    "glossary_table",
    "higher_is_better",
    "label",
    "offline_verdict",
    "sentence",
    "sim_verdict",
    "valid_range",
]

#: metric family -> (human label, what it means, higher is better). ``@k`` families are keyed
#: without the cutoff ("NDCG" for "NDCG@20"); ``cold_`` variants reuse their family.
GLOSSARY: dict[str, tuple[str, str, bool]] = {
    "NDCG": ("ranking accuracy", "Normalised discounted cumulative gain of the top k: held-out "
             "items near the top count more. 1 is a perfect list, 0 finds nothing.", True),
    "Recall": ("share of held-out items found", "Share of each user's held-out items that appear "
               "in their top k, averaged over users.", True),
    "HitRate": ("users with at least one hit", "Share of users whose top k holds at least one of "
                "their held-out items.", True),
    "MAP": ("mean average precision", "Precision at every hit position, averaged; rewards hits "
            "near the top.", True),
    "Coverage": ("catalogue coverage", "Share of the catalogue that appears in anyone's top k.",
                 True),
    "Gini": ("exposure concentration (items)", "Gini coefficient of how often each item is shown: "
             "0 spreads exposure evenly, 1 shows one item to everyone.", False),
    "MerchantGini": ("exposure concentration (merchants)", "Gini coefficient of how often each "
                     "merchant's items are shown; lower is more decentralised.", False),
    "Novelty": ("novelty", "Mean self-information (-log2 popularity) of the recommended items: "
                "higher shows less popular items.", True),
    "orders": ("orders", "Orders placed over the simulated days.", True),
    "gmv": ("gross merchandise value", "Money spent on orders over the simulated days.", True),
    "net_gmv": ("net GMV", "GMV minus refunds.", True),
    "conversion": ("conversion", "Orders per session.", True),
    "ctr": ("click-through rate", "Clicks per impression.", True),
    "repurchase_rate": ("repurchase rate", "Share of orders from a buyer who bought that item "
                        "before.", True),
    "endorsements": ("endorsements", "推荐 and 购买后推荐 posted over the run.", True),
    "reshares": ("reshares", "Endorsements that passed on a friend's endorsement.", True),
    "reshare_share": ("reshare share", "Share of endorsements that are reshares.", True),
    "cascade_size_mean": ("mean cascade size", "Mean number of endorsements in one word-of-mouth "
                          "cascade.", True),
    "cascade_size_max": ("largest cascade", "Endorsements in the largest cascade.", True),
    "merchant_exposure_gini": ("merchant exposure concentration", "Gini of impressions over "
                               "merchants; lower is more decentralised.", False),
    "longtail_impression_share": ("long-tail impressions", "Share of impressions that go to "
                                  "long-tail items.", True),
    "longtail_gmv_share": ("long-tail GMV", "Share of GMV from long-tail items.", True),
    "messages_sent": ("merchant messages", "Messages merchants sent to buyers.", False),
    "message_orders": ("orders from messages", "Orders that followed a merchant message.", True),
    "quota_utilisation": ("message quota used", "Share of the message quota merchants used.",
                          False),
    "message_conversion": ("message conversion", "Orders per merchant message.", True),
    "complaints": ("complaints", "Buyers' complaints about messages.", False),
    "opt_outs": ("opt-outs", "Buyers who opted out of a merchant's messages.", False),
    "penalties": ("penalties", "Penalties the platform gave merchants.", False),
    "bans": ("bans", "Merchants banned from messaging.", False),
    "refund_rate": ("refund rate", "Share of orders refunded.", False),
}

#: Simulation metrics that are counts (never below 0).
COUNT_METRICS: frozenset[str] = frozenset({
    "orders", "gmv", "net_gmv", "endorsements", "reshares", "cascade_size_mean", "cascade_size_max",
    "cascade_depth_max", "messages_sent", "message_orders", "complaints", "opt_outs", "penalties",
    "bans",
})

#: Simulation metrics that are shares or rates (in [0, 1]).
RATE_METRICS: frozenset[str] = frozenset({
    "conversion", "ctr", "repurchase_rate", "reshare_share", "merchant_exposure_gini",
    "longtail_impression_share", "longtail_gmv_share", "quota_utilisation", "message_conversion",
    "refund_rate",
})

_AT_K = re.compile(r"^(cold_)?([A-Za-z]+)@(\d+)$")


def _family(metric: str) -> tuple[str, str | None, bool]:
    m = _AT_K.match(metric)
    if m:
        return m.group(2), m.group(3), bool(m.group(1))
    return metric, None, False


def label(metric: str) -> str:
    """Human label of a metric: ``"NDCG@20"`` -> ``"ranking accuracy (NDCG@20)"``,
    ``"cold_NDCG@20"`` -> ``"ranking accuracy, short histories (NDCG@20)"``, ``"gmv"`` ->
    ``"gross merchandise value"``; an unknown name is returned unchanged."""
    fam, k, cold = _family(metric)
    if fam not in GLOSSARY:
        return metric
    text = GLOSSARY[fam][0] + (", short histories" if cold else "")
    return f"{text} ({fam}@{k})" if k is not None else text


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of ``metric`` is better (unknown metrics: True)."""
    fam, _, _ = _family(metric)
    return GLOSSARY.get(fam, ("", "", True))[2]


def valid_range(metric: str) -> tuple[float, float]:
    """The values a simulation metric can take: [0, 1] for rates, [0, inf) for counts, else
    unbounded (used to clip interval bands to what can happen)."""
    if metric in RATE_METRICS:
        return 0.0, 1.0
    if metric in COUNT_METRICS:
        return 0.0, np.inf
    return -np.inf, np.inf


def glossary_table(metrics: Sequence[str]) -> pd.DataFrame:
    """One row per metric: metric, label, meaning, better ("higher" / "lower")."""
    rows = []
    for m in metrics:
        fam, _, _ = _family(m)
        if fam in GLOSSARY:
            _, meaning, up = GLOSSARY[fam]
            rows.append({"metric": m, "label": label(m), "meaning": meaning,
                         "better": "higher" if up else "lower"})
    return pd.DataFrame(rows, columns=["metric", "label", "meaning", "better"])


def _check_level(level: float, where: str) -> None:
    if not (isinstance(level, float) and 0.0 < level < 1.0):
        raise ValueError(f"The 'level' parameter of {where} must be a float in (0, 1). "
                         f"Got {level!r} instead.")


def _check_resamples(n: int, where: str) -> None:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"The 'n_resamples' parameter of {where} must be a positive int. "
                         f"Got {n!r} instead.")


def bootstrap_mean_ci(
    values: Any, *, level: float = 0.95, n_resamples: int = 1000, seed: int = 0
) -> tuple[float, float, float]:
    """Mean of ``values`` and its percentile-bootstrap interval (NaNs left out).

    Returns
    -------
    (mean, ci_low, ci_high) : tuple of float
        NaN for no values; the interval is the value itself for one value.
    """
    _check_level(level, "bootstrap_mean_ci")
    _check_resamples(n_resamples, "bootstrap_mean_ci")
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return np.nan, np.nan, np.nan
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(x), size=(int(n_resamples), len(x)))
    means = x[idx].mean(axis=1)
    a = (1.0 - level) / 2.0
    return float(x.mean()), float(np.quantile(means, a)), float(np.quantile(means, 1.0 - a))


_VERDICT_COLUMNS = ["strategy", "users", "mean", "ci_low", "ci_high", "diff", "diff_ci_low",
                    "diff_ci_high", "change_pct", "change_ci_low_pct", "change_ci_high_pct",
                    "excludes_zero"]


def offline_verdict(
    per_user: Mapping[str, pd.DataFrame],
    metric: str,
    *,
    baseline: str,
    level: float = 0.95,
    n_resamples: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Each strategy's mean of a per-user metric and its change against ``baseline``, with
    paired bootstrap intervals over the test users.

    Users are matched by id across the strategies' frames (those present in every frame with a
    finite value); each of ``n_resamples`` resamples draws users with replacement once and is
    applied to every strategy, so differences and ratios are paired.

    Parameters
    ----------
    per_user : dict strategy -> DataFrame
        Per-user frames of ``haowurank.evaluation.evaluate(..., per_user=True)`` (columns ``user``
        and ``metric``).
    metric : str
        A per-user column such as ``"NDCG@20"``.
    baseline : str
        The strategy the changes are measured against (a key of ``per_user``).
    level : float, default 0.95
    n_resamples : int, default 1000
    seed : int, default 0

    Returns
    -------
    DataFrame
        One row per strategy in the order of ``per_user``: strategy, users, mean, ci_low,
        ci_high, diff, diff_ci_low, diff_ci_high (against the baseline), change_pct,
        change_ci_low_pct, change_ci_high_pct (``100 * (mean / baseline mean - 1)``; NaN when the
        baseline's mean is 0) and excludes_zero (the interval of the difference excludes 0; False
        for the baseline itself).
    """
    _check_level(level, "offline_verdict")
    _check_resamples(n_resamples, "offline_verdict")
    if baseline not in per_user:
        raise ValueError(f"The 'baseline' parameter of offline_verdict must be one of "
                         f"{list(per_user)}. Got {baseline!r} instead.")
    for name, frame in per_user.items():
        missing = [c for c in ("user", metric) if c not in frame]
        if missing:
            raise KeyError(f"The per-user frame of {name!r} lacks the columns {missing} "
                           f"(has {list(frame.columns)}).")
    names = list(per_user)
    wide = None
    for name in names:
        col = per_user[name][["user", metric]].rename(columns={metric: name})
        wide = col if wide is None else wide.merge(col, on="user", how="inner")
    vals = wide[names].to_numpy(dtype=np.float64)
    vals = vals[np.isfinite(vals).all(axis=1)]
    n = len(vals)
    a = (1.0 - level) / 2.0
    rows = []
    if n:
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, n, size=(int(n_resamples), n))
        boot = np.stack([vals[:, j][idx].mean(axis=1) for j in range(len(names))], axis=1)
    b = names.index(baseline)
    for j, name in enumerate(names):
        if not n:
            rows.append([name, 0, *([np.nan] * 9), False])
            continue
        mu = float(vals[:, j].mean())
        base_mu = float(vals[:, b].mean())
        lo, hi = np.quantile(boot[:, j], [a, 1.0 - a])
        d = boot[:, j] - boot[:, b]
        dlo, dhi = np.quantile(d, [a, 1.0 - a])
        if base_mu > 0:
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = 100.0 * (boot[:, j] / boot[:, b] - 1.0)
            ratio = ratio[np.isfinite(ratio)]
            clo, chi = np.quantile(ratio, [a, 1.0 - a]) if len(ratio) else (np.nan, np.nan)
            change = 100.0 * (mu / base_mu - 1.0)
        else:
            change, clo, chi = np.nan, np.nan, np.nan
        excl = bool(j != b and (dlo > 0 or dhi < 0))
        rows.append([name, n, mu, float(lo), float(hi), mu - base_mu, float(dlo), float(dhi),
                     change, float(clo), float(chi), excl])
    return pd.DataFrame(rows, columns=_VERDICT_COLUMNS)


def sim_verdict(summary: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The verdict table of a simulated comparison for one run-level metric.

    Parameters
    ----------
    summary : DataFrame
        :attr:`haowurank.sim.Comparison.summary` (config, metric, mean, ci_low, ci_high, n,
        diff, diff_ci_low, diff_ci_high); the first config is the baseline of the paired
        differences.
    metric : str

    Returns
    -------
    DataFrame
        The columns of :func:`offline_verdict` with ``strategy`` holding the config labels and
        ``users`` the number of replicates; the change in percent is the paired difference (and
        its interval) over the baseline's mean.
    """
    s = summary[summary["metric"] == metric]
    if s.empty:
        raise KeyError(f"The simulation summary has no metric {metric!r}; it has "
                       f"{sorted(set(summary['metric']))}.")
    base_mu = float(s["mean"].iloc[0])
    rows = []
    for j, r in enumerate(s.itertuples(index=False)):
        scale = 100.0 / base_mu if base_mu > 0 else np.nan
        excl = bool(j > 0 and (r.diff_ci_low > 0 or r.diff_ci_high < 0))
        rows.append([r.config, int(r.n), float(r.mean), float(r.ci_low), float(r.ci_high),
                     float(r.diff), float(r.diff_ci_low), float(r.diff_ci_high),
                     float(r.diff) * scale, float(r.diff_ci_low) * scale,
                     float(r.diff_ci_high) * scale, excl])
    return pd.DataFrame(rows, columns=_VERDICT_COLUMNS)


def best(table: pd.DataFrame, metric: str | None = None) -> pd.Series:
    """The row of a verdict table with the best mean (largest, or smallest where lower is better
    for ``metric``); ties go to the earlier row."""
    if table.empty:
        raise ValueError("The verdict table is empty: there is no best strategy.")
    means = table["mean"].to_numpy(dtype=np.float64)
    if metric is not None and not higher_is_better(metric):
        means = -means
    means = np.where(np.isfinite(means), means, -np.inf)
    return table.iloc[int(np.argmax(means))]


def sentence(table: pd.DataFrame, metric: str, baseline: str, *, level: float = 0.95,
             unit: str = "test users") -> str:
    """One sentence that states the verdict of a table of :func:`offline_verdict` or
    :func:`sim_verdict`: the best strategy, its change against the baseline with the interval,
    and whether the interval excludes zero."""
    top = best(table, metric)
    name = label(metric)
    if top["strategy"] == baseline:
        return (f"{baseline} (the baseline) is best by {name}: {top['mean']:.4g}; no other "
                f"strategy beats it.")
    if np.isfinite(top["change_pct"]):
        change = (f"{top['change_pct']:+.1f}% against {baseline} ({level:.0%} interval "
                  f"{top['change_ci_low_pct']:+.1f}% to {top['change_ci_high_pct']:+.1f}%, "
                  f"{int(top['users'])} {unit})")
    else:
        change = (f"{top['diff']:+.4g} against {baseline} ({level:.0%} interval "
                  f"{top['diff_ci_low']:+.4g} to {top['diff_ci_high']:+.4g})")
    resolved = ("the interval excludes zero, so the difference is resolved" if top["excludes_zero"]
                else "the interval includes zero, so this difference is not resolved")
    return f"{top['strategy']} is best by {name}: {top['mean']:.4g}, {change}; {resolved}."
