"""``compare``: several strategies or configs on identical worlds with common random numbers."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ._config import SimulationConfig
from ._metrics import METRIC_KINDS, SUMMARY_METRICS, mean_ci
from ._run import run
from ._world import make_dataset

__all__ = ["Comparison", "compare"]

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Comparison:
    """Result of :func:`compare`.

    Attributes
    ----------
    summary : DataFrame
        One row per (config, metric): ``mean``, ``ci_low``, ``ci_high`` (an interval at
        ``level`` that respects the metric's range: counts never below 0, rates inside [0, 1];
        see :func:`haowurank.sim._metrics.mean_ci` and :data:`METRIC_KINDS`), ``std``, ``n``
        (replicates), and the paired difference to the first config ``diff``, ``diff_ci_low``,
        ``diff_ci_high`` (t-intervals of the paired differences, which may take either sign;
        common random numbers make these sharp).
    runs : DataFrame
        One row per (config, replicate) with the seed and every summary metric.
    level : float
    daily : DataFrame or None
        With ``compare(..., keep_daily=True)``: one row per (config, replicate, day), columns
        ``config``, ``replicate``, ``seed`` and every daily column of the runs; else None.
    """

    summary: pd.DataFrame
    runs: pd.DataFrame
    level: float = 0.95
    daily: pd.DataFrame | None = None

    def table(self, metrics: Sequence[str] | None = None, *, digits: int = 3) -> pd.DataFrame:
        """Wide table: one row per config, one ``mean [low, high]`` cell per metric."""
        s = self.summary
        if metrics is not None:
            s = s[s["metric"].isin(list(metrics))]

        def cell(r: pd.Series) -> str:
            return f"{r['mean']:.{digits}g} [{r['ci_low']:.{digits}g}, {r['ci_high']:.{digits}g}]"

        s = s.assign(cell=s.apply(cell, axis=1))
        order = list(dict.fromkeys(s["config"]))
        mets = list(dict.fromkeys(s["metric"]))
        return s.pivot(index="config", columns="metric", values="cell").loc[order, mets]

    def to_markdown(self, metrics: Sequence[str] | None = None) -> str:
        t = self.table(metrics)
        head = "| config | " + " | ".join(t.columns) + " |"
        sep = "|" + "---|" * (len(t.columns) + 1)
        rows = [f"| {i} | " + " | ".join(str(v) for v in r) + " |" for i, r in t.iterrows()]
        return "\n".join([head, sep, *rows])


def _as_configs(configs: Any, base: SimulationConfig | None) -> list[tuple[str, SimulationConfig]]:
    base = base if base is not None else SimulationConfig()
    if isinstance(configs, str | SimulationConfig):
        configs = [configs]
    items: list[tuple[str | None, Any]]
    if isinstance(configs, Mapping):
        items = list(configs.items())
    else:
        items = [(None, c) for c in configs]
    if not items:
        raise ValueError("The 'configs' argument of compare must name at least one strategy or config.")
    out = []
    for label, c in items:
        if isinstance(c, str):
            cfg = base.replace(strategy=c, label=None)
        elif isinstance(c, SimulationConfig):
            cfg = c
        elif isinstance(c, Mapping):
            cfg = base.replace(**dict(c))
        else:
            raise TypeError(
                f"The 'configs' argument of compare must hold strategy names, SimulationConfigs or "
                f"dicts of config fields. Got {type(c).__name__}."
            )
        out.append((str(label) if label is not None else cfg.name, cfg))
    seen: dict[str, int] = {}
    named = []
    for label, cfg in out:
        k = seen.get(label, 0)
        seen[label] = k + 1
        named.append((label if k == 0 else f"{label}#{k + 1}", cfg))
    return named


def compare(
    configs: Any,
    *,
    replicates: int = 3,
    base: SimulationConfig | None = None,
    metrics: Sequence[str] | None = None,
    level: float = 0.95,
    show_progress: bool = False,
    callback: Callable[[str, int, dict[str, float]], Any] | None = None,
    keep_daily: bool = False,
) -> Comparison:
    """Run several strategies or configs on identical worlds and compare them.

    Replicate ``r`` draws one seed from the root seed (``base.seed``, or the first config's)
    and gives it to every config: the same synthetic world (unless a config fixes
    ``world_seed``) and the same per-user / per-day random streams (common random numbers), so
    differences between configs are paired.

    Parameters
    ----------
    configs : sequence or dict
        Strategy names (applied to ``base``), :class:`SimulationConfig` objects, or dicts of
        config fields (applied to ``base``); a dict ``{label: ...}`` names them.
    replicates : int
        Replicates per config (>= 1; intervals need >= 2).
    base : SimulationConfig, optional
        The config that strategy names and field dicts modify (default ``SimulationConfig()``).
    metrics : sequence of str, optional
        Summary metrics to report (default :data:`SUMMARY_METRICS`).
    level : float
        Confidence level of the intervals.
    show_progress : bool
        A progress bar per run.
    callback : callable(label, replicate, summary) or None
        Called after each run.
    keep_daily : bool
        Also keep every run's daily frame (:attr:`Comparison.daily`), for curves over time
        with bands across replicates (:class:`haowurank.report.SimStudy`).

    Returns
    -------
    Comparison
    """
    if isinstance(replicates, bool) or not isinstance(replicates, int | np.integer) or replicates < 1:
        raise ValueError(
            f"The 'replicates' parameter of compare must be a positive int. Got {replicates!r} instead."
        )
    if not (isinstance(level, float) and 0.0 < level < 1.0):
        raise ValueError(f"The 'level' parameter of compare must be a float in (0, 1). Got {level!r}.")
    named = _as_configs(configs, base)
    mets = list(metrics) if metrics is not None else list(SUMMARY_METRICS)
    unknown = [m for m in mets if m not in SUMMARY_METRICS]
    if unknown:
        raise ValueError(
            f"The 'metrics' parameter of compare must be among {list(SUMMARY_METRICS)}. Got {unknown}."
        )
    root_seed = (base if base is not None else named[0][1]).seed
    ss = np.random.SeedSequence(root_seed)
    seeds = [int(s.generate_state(1, dtype=np.uint32)[0]) for s in ss.spawn(int(replicates))]
    rows, dailies = [], []
    for r, seed in enumerate(seeds):
        worlds: dict[str, Any] = {}
        for label, cfg in named:
            cfg_r = cfg.replace(seed=seed)
            wkey = json.dumps([cfg_r.n_users, cfg_r.n_items, cfg_r.world,
                               cfg_r.world_seed if cfg_r.world_seed is not None else seed],
                              sort_keys=True, default=str)
            if wkey not in worlds:
                worlds[wkey] = make_dataset(cfg_r)
            res = run(cfg_r, dataset=worlds[wkey], show_progress=show_progress)
            s = res.summary()
            log.info("compare: %s replicate %d: %s", label, r, {k: s[k] for k in mets[:4]})
            rows.append({"config": label, "replicate": r, "seed": seed, **{m: s[m] for m in mets}})
            if keep_daily:
                dailies.append(res.daily.assign(config=label, replicate=r, seed=seed))
            if callback is not None:
                callback(label, r, s)
    runs = pd.DataFrame(rows)
    first = named[0][0]
    out = []
    for label, _ in named:
        a = runs[runs["config"] == label].sort_values("replicate")
        b = runs[runs["config"] == first].sort_values("replicate")
        for m in mets:
            mu, lo, hi, sd = mean_ci(a[m].to_numpy(), level, kind=METRIC_KINDS[m])
            dmu, dlo, dhi, _ = mean_ci(a[m].to_numpy() - b[m].to_numpy(), level)
            out.append({"config": label, "metric": m, "mean": mu, "ci_low": lo, "ci_high": hi,
                        "std": sd, "n": len(a), "diff": dmu, "diff_ci_low": dlo, "diff_ci_high": dhi})
    daily = None
    if keep_daily:
        daily = pd.concat(dailies, ignore_index=True)
        daily = daily[["config", "replicate", "seed",
                       *[c for c in daily.columns if c not in ("config", "replicate", "seed")]]]
    return Comparison(summary=pd.DataFrame(out), runs=runs, level=level, daily=daily)
