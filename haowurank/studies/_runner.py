"""The experiment runner: tune on validation, refit on train, evaluate on test, write reports."""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..evaluation import evaluate, expand_grid, tune
from ._config import ExperimentConfig, StrategyConfig, load_config, load_dataset, preprocess
from ._provenance import git_commit
from ._report import write_results

log = logging.getLogger("haowurank.studies")


@dataclass
class ExperimentResult:
    """What a run produced: the result table, the tuning tables and the files written."""

    config: ExperimentConfig
    table: pd.DataFrame
    tuning: pd.DataFrame
    best_params: dict[str, dict[str, Any]]
    data_summary: dict[str, Any]
    files: list[str]
    seconds: float
    reused: list[str] = field(default_factory=list)



def default_out_dir(cfg: ExperimentConfig) -> Path:
    """``results/`` beside the configuration's TOML file, or ``results/`` in the working folder
    for a configuration built in code."""
    return (Path(cfg.source).parent if cfg.source else Path(".")) / "results"


def run_experiment(
    config: ExperimentConfig | str | os.PathLike,
    *,
    out_dir: str | os.PathLike | None = None,
    strategies: Sequence[str] | None = None,
    command: str | None = None,
    show_progress: bool = True,
    callback: Callable[[str, float], None] | None = None,
    write: bool = True,
    reuse: bool = False,
) -> ExperimentResult:
    """Run an experiment: tune each strategy on validation, refit on train, evaluate on test.

    Parameters
    ----------
    config : ExperimentConfig or path of a TOML file
    out_dir : path, optional
        Where ``<name>.md``, ``<name>.csv`` and ``<name>.tuning.csv`` go (with ``write=True``).
        Default: :func:`default_out_dir` (``results/`` beside the TOML file, so
        ``experiments/<study>/<name>.toml`` reports into ``experiments/<study>/results/``).
    strategies : sequence of str, optional
        Run only the strategies with these labels or names (in the config's order).
    command : str, optional
        The command line recorded in the report (default: this process's command line).
    show_progress : bool
        tqdm bars over strategies and grid points.
    callback : callable(stage, fraction), optional
        Progress reports ("tune:<label>", "strategies").
    write : bool
        Write the result files (after every strategy, so a stopped run keeps what it did).
    reuse : bool
        Keep the rows of a previous run of this experiment (read from ``out_dir``) for the
        strategies not selected by ``strategies``; the report marks them as reused, with the
        date and commit of the run that made them.
    """
    t_start = time.perf_counter()
    cfg = load_config(config) if not isinstance(config, ExperimentConfig) else config
    if out_dir is None:
        out_dir = default_out_dir(cfg)
    from .. import split as hsplit
    from ..rankers import available

    chosen = cfg.strategies
    if strategies:
        wanted = list(strategies)
        chosen = [s for s in cfg.strategies if s.display in wanted or s.name in wanted]
        missing = [w for w in wanted if not any(w in (s.display, s.name) for s in chosen)]
        if missing:
            raise ValueError(
                f"The 'strategies' filter names {missing}, which are not in the experiment "
                f"{cfg.name!r}: {[s.display for s in cfg.strategies]}."
            )
    names = available()
    absent_peers = [s for s in chosen if s.peer and s.name not in names]
    if absent_peers:  # e.g. sbpr without the `peers` extra (cornac) installed
        log.warning(
            "experiment %s: skipping peer(s) %s, not installed here (pip install "
            "'haowurank[peers]').", cfg.name, [s.display for s in absent_peers],
        )
        chosen = [s for s in chosen if s not in absent_peers]
    unknown = [s.name for s in chosen if s.name not in names]
    if unknown:
        raise ValueError(f"Unknown strategies {unknown} in {cfg.name!r}. Available: {names}.")

    log.info("experiment %s: loading %s", cfg.name, cfg.dataset.name)
    ds = preprocess(load_dataset(cfg.dataset, cfg.source), cfg.preprocess)
    train, test = hsplit.random_split(ds, test_fraction=cfg.split.test_fraction, seed=cfg.split.seed)
    fit_ds, val_ds = hsplit.validation_split(
        train, fraction=cfg.split.validation_fraction, seed=cfg.split.validation_seed
    )
    n_train = train.user_counts()
    data_summary = {
        "users": ds.n_users,
        "items": ds.n_items,
        "interactions": ds.n_interactions,
        "distinct_pairs": int(ds.matrix(weight="binary").nnz),
        "social_rows": ds.n_social,
        "train_pairs": int(train.matrix(weight="binary").nnz),
        "test_pairs": int(test.matrix(weight="binary").nnz),
        "test_users": int((np.diff(test.matrix(weight="binary").indptr) > 0).sum()),
        "cold_train_users": int(
            ((n_train <= cfg.evaluation.cold_start_max)
             & (np.diff(test.matrix(weight="binary").indptr) > 0)).sum()
        ),
    }
    log.info("experiment %s: %s", cfg.name, data_summary)
    val_users = None
    if cfg.evaluation.validation_users:
        has_val = np.flatnonzero(np.diff(val_ds.matrix(weight="binary").indptr) > 0)
        if len(has_val) > cfg.evaluation.validation_users:
            gen = np.random.default_rng(cfg.split.validation_seed)
            pick = np.sort(gen.choice(has_val, cfg.evaluation.validation_users, replace=False))
            val_users = list(val_ds.user_ids[pick])

    rows, tuning_tables, best_params = [], [], {}
    reused: set[str] = set()
    if reuse and out_dir is not None:
        rows, tuning_tables, best_params, reused = _previous_rows(cfg, out_dir, chosen)
    it = list(enumerate(chosen))
    bar = None
    if show_progress:
        from .._progress import tqdm

        bar = tqdm(total=len(it), desc=f"{cfg.name}", unit="strategy")
    now = _dt.datetime.now().astimezone()
    stamp = now.isoformat(timespec="seconds")
    run_id = f"{now.isoformat(timespec='microseconds')}/{os.getpid()}"  # tells runs apart
    commit = git_commit()

    def _result() -> ExperimentResult:
        order = {s.display: j for j, s in enumerate(cfg.strategies)}
        frame = pd.DataFrame(rows)
        if len(frame):
            frame = frame.sort_values("strategy", key=lambda c: c.map(order), kind="stable")
            frame = _with_ratios(frame.reset_index(drop=True), cfg)
        return ExperimentResult(
            config=cfg, table=frame,
            tuning=pd.concat(tuning_tables, ignore_index=True) if tuning_tables else pd.DataFrame(),
            best_params=best_params, data_summary=data_summary, files=[],
            seconds=time.perf_counter() - t_start, reused=sorted(reused),
        )

    for j, s in it:
        if bar is not None:
            bar.set_postfix_str(s.display)
        combos = expand_grid(s.grid)
        tune_s = 0.0
        try:
            if s.stages:
                t0 = time.perf_counter()
                best, table = _tune_stages(
                    s, fit_ds, val_ds, metric=cfg.evaluation.metric, users=val_users,
                    show_progress=show_progress, callback=callback,
                )
                tune_s = time.perf_counter() - t0
                combos = list(range(len(table)))  # grid_points: every point of every stage
                table.insert(0, "strategy", s.display)
                tuning_tables.append(table)
                val_score = float(table.loc[table["best"], cfg.evaluation.metric].iloc[0])
            elif len(combos) > 1:
                t0 = time.perf_counter()
                best, table = tune(
                    s.name, s.grid, fit_ds, val_ds, metric=cfg.evaluation.metric,
                    params=s.params, users=val_users, show_progress=show_progress,
                    callback=callback,
                )
                tune_s = time.perf_counter() - t0
                table.insert(0, "strategy", s.display)
                tuning_tables.append(table)
                val_score = float(table.loc[table["best"], cfg.evaluation.metric].iloc[0])
            else:
                best = {**s.params, **combos[0]}
                val_score = float("nan")
            res = evaluate(
                s.name, train, test, k=cfg.evaluation.k, params=best,
                cold_start_max=cfg.evaluation.cold_start_max, show_progress=False,
            )
        except (ValueError, ArithmeticError, MemoryError) as exc:
            log.error("experiment %s: %s failed: %s", cfg.name, s.display, exc)
            res = {"strategy": s.display, "error": str(exc)}
            best = {**s.params}
            val_score = float("nan")
        best_params[s.display] = best
        res["strategy"] = s.display
        res["ranker"] = s.name
        res["peer"] = bool(s.peer)
        res["grid_points"] = len(combos)
        res["tune_s"] = tune_s
        res[f"val_{cfg.evaluation.metric}"] = val_score
        res["params"] = json.dumps(best, sort_keys=True)
        res["run_at"] = stamp
        res["run_id"] = run_id
        res["git"] = commit
        rows.append(res)
        log.info(
            "experiment %s: %s %s=%.5f fit %.1fs", cfg.name, s.display, cfg.evaluation.metric,
            res.get(cfg.evaluation.metric, float("nan")), res.get("fit_s", float("nan")),
        )
        if write and out_dir is not None:  # keep what is done if a later strategy is stopped
            write_results(_result(), out_dir, command=command)
        if bar is not None:
            bar.update(1)
        if callback is not None:
            callback("strategies", (j + 1) / len(it))
    if bar is not None:
        bar.close()
    result = _result()
    if write and out_dir is not None:
        result.files = write_results(result, out_dir, command=command)
    return result


def _stage_grid(stage: dict[str, Any], current: dict[str, Any], where: str) -> dict[str, list]:
    """A stage's grid with every ``{times = [...]}`` entry resolved against ``current``."""
    grid: dict[str, list] = {}
    for key, v in stage.items():
        if not isinstance(v, dict):
            grid[key] = list(v)
            continue
        base = current.get(key)
        if not isinstance(base, int | float) or isinstance(base, bool):
            raise ValueError(
                f"{where}: the key {key!r} scales the value found so far ({{times = ...}}), but "
                f"no earlier stage or fixed param gives it a number; got {base!r}."
            )
        vals = [float(f"{base * f:.6g}") for f in v["times"]]  # 0.8 * 0.8 -> 0.64, not 0.64...01
        if isinstance(base, int):
            vals = [max(1, int(round(x))) for x in vals]
        grid[key] = list(dict.fromkeys(vals))  # in order, without repeats
    return grid


def _tune_stages(
    s: StrategyConfig, fit_ds, val_ds, *, metric: str, users, show_progress: bool, callback,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Staged search on validation (see :class:`StrategyConfig`): each stage tunes its grid with
    the fixed params updated by the best point so far; the pick is the best point over all
    stages. The table has one row per point with its ``stage`` and every staged key's value."""
    current = dict(s.params)
    best_score, best_stage = -np.inf, -1
    staged_keys: list[str] = []
    tables = []
    for j, stage in enumerate(s.stages or []):
        where = f"strategy {s.display!r} stage {j}"
        grid = _stage_grid(stage, current, where)
        b, t = tune(s.name, grid, fit_ds, val_ds, metric=metric, params=current, users=users,
                    show_progress=show_progress, callback=callback)
        for key in staged_keys:  # the values this stage inherited from earlier ones
            if f"param:{key}" not in t:
                t[f"param:{key}"] = current.get(key)
        staged_keys += [k for k in grid if k not in staged_keys]
        t.insert(0, "stage", j)
        score = float(t.loc[t["best"], metric].iloc[0])
        log.info("tune %s: %s best %s=%.5f at %s", s.display, where, metric, score,
                 {k: b[k] for k in grid})
        if score > best_score:  # ties: the earlier stage's point
            best_score, best_stage, current = score, j, b
        tables.append(t)
    table = pd.concat(tables, ignore_index=True)
    table["best"] = table["best"].astype(bool) & (table["stage"] == best_stage)
    return current, table


def _previous_rows(cfg: ExperimentConfig, out_dir: str | os.PathLike, chosen: list[StrategyConfig]):
    """Rows, tuning tables and parameters of an earlier run for strategies not rerun now."""
    out = Path(out_dir)
    csv = out / f"{cfg.name}.csv"
    if not csv.is_file():
        return [], [], {}, set()
    rerun = {s.display for s in chosen}
    known = {s.display for s in cfg.strategies}
    old = pd.read_csv(csv)
    keep = old[~old["strategy"].isin(rerun) & old["strategy"].isin(known)]
    rows = [
        {k: v for k, v in r.items() if not (isinstance(v, float) and np.isnan(v))}
        for r in keep.to_dict("records")
    ]
    is_peer = {s.display: bool(s.peer) for s in cfg.strategies}
    for r in rows:  # whether a row is a peer is the configuration's word, not the old run's
        r["peer"] = is_peer[r["strategy"]]
    params = {r["strategy"]: json.loads(r.get("params", "{}")) for r in rows}
    tuning = []
    tcsv = out / f"{cfg.name}.tuning.csv"
    if tcsv.is_file():
        t = pd.read_csv(tcsv)
        t = t[t["strategy"].isin(set(keep["strategy"]))]
        if len(t):
            tuning.append(t)
    return rows, tuning, params, set(keep["strategy"])


def _with_ratios(table: pd.DataFrame, cfg: ExperimentConfig) -> pd.DataFrame:
    """Add ratio columns against the best peer (accuracy) and against ALS (cost)."""
    metric = (cfg.target.metric if cfg.target else None) or cfg.evaluation.metric
    if metric not in table:
        return table
    peers = table[table["peer"].astype(bool) & table[metric].notna()]
    if len(peers):
        best = peers.loc[peers[metric].idxmax()]
        table[f"{metric} / best peer"] = table[metric] / best[metric]
        cold = f"cold_{metric}"
        if cold in peers and peers[cold].notna().any():
            bc = peers.loc[peers[cold].idxmax()]
            table[f"{cold} / best peer"] = table[cold] / bc[cold]
    als = table[(table["ranker"] == "als") & table["fit_s"].notna()] if "fit_s" in table else []
    if len(als):
        ref = als.iloc[0]
        table["fit_s / ALS"] = table["fit_s"] / float(ref["fit_s"])
        table["users_per_s / ALS"] = table["users_per_s"] / float(ref["users_per_s"])
        if "run_at" in table:
            # a time is only compared with ALS's when both were taken in the same run (same
            # load); rows reused from another run get no cost ratio (rows written before
            # run_id existed are told apart by their start time)
            run = table["run_id"].fillna(table["run_at"]) if "run_id" in table else table["run_at"]
            other_run = run != run[als.index[0]]
            table.loc[other_run, ["fit_s / ALS", "users_per_s / ALS"]] = np.nan
    return table


# ------------------------------------------------------------------------------------------
# reports
# ------------------------------------------------------------------------------------------

