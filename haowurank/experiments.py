"""The experiments runner: a TOML file names the data, the split, the strategies and their grids.

Every strategy is tuned on a validation split carved from the training part (never on the
test part), refitted on the whole training part with its best parameters, and evaluated on the
test part with :func:`haowurank.evaluate`. The runner writes ``<out_dir>/<name>.md`` (the table,
the protocol, the chosen hyperparameters, targets, date, machine and the exact command),
``<name>.csv`` (one row per strategy) and ``<name>.tuning.csv`` (every grid point).

A configuration file looks like this::

    name = "lastfm"
    description = "Last.fm HetRec 2011: every user-artist pair is a positive"

    [dataset]
    name = "lastfm"                      # lastfm | ciao | epinions | filmtrust | ciaodvd | synthetic
    data_dir = "lastfm-hetrec2011"       # relative: cwd, then the TOML's folder, then the data root
    # params = {min_rating = 1}          # loader keyword arguments / synthetic world knobs

    [preprocess]
    k_core = 0                           # keep users and items with >= k interactions
    min_weight = 0                       # positive threshold on the interaction weight (0: all)

    [split]
    method = "random"                    # per-user random holdout
    test_fraction = 0.2
    seed = 0
    validation_fraction = 0.2            # carved from train for tuning
    validation_seed = 1

    [evaluation]
    k = [10, 20]
    metric = "NDCG@20"                   # what tuning maximises
    cold_start_max = 5

    [target]
    metric = "NDCG@20"
    ratio = 1.05                         # best haowurank strategy / best peer

    [[strategies]]
    name = "als"
    peer = true                          # a baseline the target is measured against
    params = {iterations = 15}
    grid = {factors = [32, 64, 128], regularization = [0.01, 0.1, 1.0]}

The data root for relative ``data_dir`` values is
:func:`haowurank.datasets.registry.data_root` (``$HAOWURANK_DATA`` or ``../shared/data``).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import logging
import os
import platform
import sys
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._dataset import Dataset
from .datasets.registry import DATASETS, data_root
from .evaluation import evaluate, expand_grid, tune

__all__ = [
    "DatasetConfig",
    "EvaluationConfig",
    "ExperimentConfig",
    "ExperimentResult",
    "PreprocessConfig",
    "SplitConfig",
    "StrategyConfig",
    "TargetConfig",
    "load_config",
    "load_dataset",
    "run_experiment",
]

log = logging.getLogger(__name__)

_DATASETS = (*DATASETS, "synthetic")


def _known_keys(cls, raw: Mapping[str, Any], where: str) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise TypeError(f"The [{where}] section must be a table. Got {type(raw).__name__}.")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = [k for k in raw if k not in names]
    if unknown:
        raise ValueError(
            f"Unknown key(s) {unknown} in the [{where}] section; known keys: {sorted(names)}."
        )
    return dict(raw)


@dataclass
class DatasetConfig:
    """Which data: a real data set read from ``data_dir``, or the synthetic world."""

    name: str = "synthetic"
    data_dir: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.name not in _DATASETS:
            raise ValueError(
                f"The dataset 'name' must be one of {list(_DATASETS)}. Got {self.name!r} instead."
            )


@dataclass
class PreprocessConfig:
    """Positive threshold and k-core filtering, applied before the split."""

    min_weight: float = 0.0
    k_core: int = 0

    def __post_init__(self):
        if not isinstance(self.k_core, int) or isinstance(self.k_core, bool) or self.k_core < 0:
            raise ValueError(f"The 'k_core' key must be an int >= 0. Got {self.k_core!r} instead.")
        if not isinstance(self.min_weight, int | float) or self.min_weight < 0:
            raise ValueError(
                f"The 'min_weight' key must be a number >= 0. Got {self.min_weight!r} instead."
            )


@dataclass
class SplitConfig:
    """The outer per-user random split and the validation split carved from its train part."""

    method: str = "random"
    test_fraction: float = 0.2
    seed: int = 0
    validation_fraction: float = 0.2
    validation_seed: int = 1

    def __post_init__(self):
        if self.method != "random":
            raise ValueError(
                f"The split 'method' must be 'random' (per-user random holdout). "
                f"Got {self.method!r} instead."
            )


@dataclass
class EvaluationConfig:
    k: list[int] = field(default_factory=lambda: [10, 20])
    metric: str = "NDCG@20"
    cold_start_max: int = 5
    #: Validate on at most this many users when tuning (a seeded sample); 0: all.
    validation_users: int = 0


@dataclass
class TargetConfig:
    metric: str = "NDCG@20"
    ratio: float = 1.0


@dataclass
class StrategyConfig:
    """One strategy: a registered ranker name, fixed params and an optional grid."""

    name: str
    label: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, list[Any]] | list[dict[str, list[Any]]] | None = None
    peer: bool = False

    @property
    def display(self) -> str:
        return self.label or self.name


@dataclass
class ExperimentConfig:
    """A whole experiment (see the module docstring for the TOML layout)."""

    name: str
    description: str = ""
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    target: TargetConfig | None = None
    strategies: list[StrategyConfig] = field(default_factory=list)
    notes: str = ""
    source: str | None = None  # the TOML file it came from

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], source: str | None = None) -> ExperimentConfig:
        raw = _known_keys(cls, raw, "top level")
        if "name" not in raw:
            raise ValueError("An experiment needs a 'name' (used for the result file names).")
        strategies = raw.get("strategies", [])
        if not isinstance(strategies, list) or not strategies:
            raise ValueError("An experiment needs at least one [[strategies]] entry.")
        return cls(
            name=str(raw["name"]),
            description=str(raw.get("description", "")),
            dataset=DatasetConfig(**_known_keys(DatasetConfig, raw.get("dataset", {}), "dataset")),
            preprocess=PreprocessConfig(
                **_known_keys(PreprocessConfig, raw.get("preprocess", {}), "preprocess")
            ),
            split=SplitConfig(**_known_keys(SplitConfig, raw.get("split", {}), "split")),
            evaluation=EvaluationConfig(
                **_known_keys(EvaluationConfig, raw.get("evaluation", {}), "evaluation")
            ),
            target=(
                TargetConfig(**_known_keys(TargetConfig, raw["target"], "target"))
                if "target" in raw else None
            ),
            strategies=[
                StrategyConfig(**_known_keys(StrategyConfig, s, "strategies")) for s in strategies
            ],
            notes=str(raw.get("notes", "")),
            source=source or raw.get("source"),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data that round-trips through :meth:`from_dict` (and JSON)."""
        d = dataclasses.asdict(self)
        if d["target"] is None:
            d.pop("target")
        return d


def load_config(path: str | os.PathLike) -> ExperimentConfig:
    """Read an experiment TOML file."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"No experiment file at {p}.")
    with open(p, "rb") as fh:
        try:
            raw = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{p} is not valid TOML: {exc}") from exc
    return ExperimentConfig.from_dict(raw, source=str(p))


# ------------------------------------------------------------------------------------------
# data
# ------------------------------------------------------------------------------------------

def _resolve_dir(cfg: DatasetConfig, source: str | None) -> Path:
    folder = cfg.data_dir or DATASETS[cfg.name].folder
    p = Path(folder).expanduser()
    candidates = [p] if p.is_absolute() else [
        Path.cwd() / p,
        *([Path(source).resolve().parent / p] if source else []),
        data_root() / p,
    ]
    for c in candidates:
        if c.is_dir():
            return c
    raise FileNotFoundError(
        f"Data folder for {cfg.name!r} not found; looked in {[str(c) for c in candidates]}. "
        f"Pass data_dir (or --data-dir) pointing at the folder that holds its files."
    )


def load_dataset(cfg: DatasetConfig, source: str | None = None) -> Dataset:
    """Load a real data set from its folder or make the synthetic world."""
    from . import datasets

    if cfg.name == "synthetic":
        world = datasets.synthetic(**cfg.params)
        return world if isinstance(world, Dataset) else world.dataset
    path = _resolve_dir(cfg, source)
    loader = getattr(datasets, f"load_{cfg.name}")
    return loader(path, **cfg.params)


def preprocess(ds: Dataset, cfg: PreprocessConfig) -> Dataset:
    """Apply the positive threshold, then k-core filtering."""
    if cfg.min_weight > 0:
        keep = ds.interaction_arrays()["weight"] >= cfg.min_weight
        log.info("preprocess: %d of %d rows have weight >= %s", keep.sum(), len(keep), cfg.min_weight)
        ds = ds.select_interactions(keep)
    if cfg.k_core > 1:
        ds = ds.k_core(cfg.k_core)
    return ds


# ------------------------------------------------------------------------------------------
# running
# ------------------------------------------------------------------------------------------

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


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    mem = ""
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        mem = f", {pages / 2**30:.0f} GiB RAM"
    except (ValueError, OSError, AttributeError):
        pass
    return f"{platform.system()} {platform.machine()}, {cpu}, {cores} cores usable{mem}"


def _versions() -> str:
    parts = [f"python {platform.python_version()}", f"numpy {np.__version__}"]
    for mod in ("scipy", "sklearn", "implicit", "pandas"):
        try:
            m = __import__(mod)
            parts.append(f"{mod} {m.__version__}")
        except Exception:  # pragma: no cover - optional reporting only
            pass
    from . import __version__

    parts.append(f"haowurank {__version__}")
    return ", ".join(parts)


def _git_commit() -> str:
    head = Path(__file__).resolve().parents[1] / ".git"
    try:
        import subprocess

        out = subprocess.run(
            ["git", "-C", str(head.parent), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, timeout=10, check=False,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def run_experiment(
    config: ExperimentConfig | str | os.PathLike,
    *,
    out_dir: str | os.PathLike | None = "experiments/results",
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
    out_dir : path, default "experiments/results"
        Where ``<name>.md``, ``<name>.csv`` and ``<name>.tuning.csv`` go (with ``write=True``).
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
    from . import split as hsplit
    from .rankers import available

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
        from ._progress import tqdm

        bar = tqdm(total=len(it), desc=f"{cfg.name}", unit="strategy")
    now = _dt.datetime.now().astimezone()
    stamp = now.isoformat(timespec="seconds")
    run_id = f"{now.isoformat(timespec='microseconds')}/{os.getpid()}"  # tells runs apart
    commit = _git_commit()

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
            if len(combos) > 1:
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
    for r in rows:
        r["peer"] = bool(r.get("peer", False))
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

MAIN_COLUMNS = (
    "Recall@10", "Recall@20", "NDCG@10", "NDCG@20", "Coverage@20", "Gini@20", "fit_s",
    "users_per_s",
)
COLD_COLUMNS = ("cold_Recall@10", "cold_Recall@20", "cold_NDCG@10", "cold_NDCG@20")


def main_columns(ks: Sequence[int]) -> list[str]:
    """Recall@k and NDCG@k for every cutoff, coverage and Gini at the largest, then cost."""
    ks = sorted(ks)
    top = ks[-1]
    return [
        *[f"Recall@{k}" for k in ks], *[f"NDCG@{k}" for k in ks], f"Coverage@{top}",
        f"Gini@{top}", "fit_s", "users_per_s",
    ]


def cold_columns(ks: Sequence[int]) -> list[str]:
    ks = sorted(ks)
    return [*[f"cold_Recall@{k}" for k in ks], *[f"cold_NDCG@{k}" for k in ks]]


def _fmt(v: Any, col: str) -> str:
    if isinstance(v, bool | np.bool_):
        return "yes" if v else ""
    if isinstance(v, int | np.integer):
        return f"{int(v)}"
    if isinstance(v, float | np.floating):
        if not np.isfinite(v):
            return "-"
        if col.endswith("users_per_s"):
            return f"{v:,.0f}"
        if col.endswith("_s"):
            return f"{v:.2f}"
        if "/" in col:
            return f"{v:.3f}x"
        return f"{v:.4f}"
    return str(v)


def format_table(table: pd.DataFrame, columns: Sequence[str]) -> str:
    """A Markdown table of the chosen columns (those present), first column the strategy."""
    cols = ["strategy", *[c for c in columns if c in table]]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, r in table.iterrows():
        lines.append("| " + " | ".join(_fmt(r[c], c) for c in cols) + " |")
    return "\n".join(lines)


def summary_columns(
    table: pd.DataFrame, metric: str = "NDCG@20", ks: Sequence[int] = (10, 20)
) -> list[str]:
    """Columns for the printed table: the main metrics, ratios and the cold-start NDCG."""
    cols = main_columns(ks)
    for extra in (f"{metric} / best peer", "fit_s / ALS", "cold_users", f"cold_{metric}",
                  f"cold_{metric} / best peer"):
        if extra in table:
            cols.append(extra)
    return cols


def _target_lines(result: ExperimentResult) -> list[str]:
    cfg, table = result.config, result.table
    if cfg.target is None:
        return []
    metric = cfg.target.metric
    col = f"{metric} / best peer"
    if col not in table or not table["peer"].astype(bool).any():
        return ["No peer strategy ran, so the target ratio is not measured."]
    peers = table[table["peer"].astype(bool) & table[metric].notna()]
    ours = table[~table["peer"].astype(bool) & table[metric].notna()]
    best_peer = peers.loc[peers[metric].idxmax()]
    lines = [
        f"Best peer by test {metric}: **{best_peer['strategy']}** ({best_peer[metric]:.4f}).",
    ]
    if len(ours):
        best = ours.loc[ours[metric].idxmax()]
        ratio = float(best[col])
        ok = ratio >= cfg.target.ratio
        lines.append(
            f"Best haowurank strategy: **{best['strategy']}** ({best[metric]:.4f}), "
            f"{ratio:.3f}x the best peer; target >= {cfg.target.ratio:.2f}x: "
            f"**{'met' if ok else 'NOT met'}**."
        )
        # both timed in this run, or a ratio would compare runs made under different load
        mixed = bool({best["strategy"], "als"} & set(result.reused))
        if "fit_s / ALS" in table and mixed:
            lines.append(
                "Its fit time and recommend throughput were timed in a different run from "
                "tuned ALS's (see Reused rows), under different load, so no cost ratio is "
                "given here. Time both in one run (e.g. experiments/bench_hybrid_cost.py)."
            )
        elif "fit_s / ALS" in table and np.isfinite(best.get("fit_s / ALS", np.nan)):
            fr = float(best["fit_s / ALS"])
            lines.append(
                f"Its fit time is {fr:.2f}x tuned ALS's (limit 5x: "
                f"{'met' if fr <= 5 else 'NOT met'}); its recommend throughput is "
                f"{float(best['users_per_s / ALS']):.2f}x ALS's batch recommend (target >= 0.7x: "
                f"{'met' if float(best['users_per_s / ALS']) >= 0.7 else 'NOT met'})."
            )
        cold = f"cold_{metric} / best peer"
        if cold in table and np.isfinite(best.get(cold, np.nan)):
            lines.append(
                f"Cold-start users (<= {cfg.evaluation.cold_start_max} training items): "
                f"{best['strategy']} reaches {float(best[f'cold_{metric}']):.4f}, "
                f"{float(best[cold]):.3f}x the best peer on those users."
            )
    return lines


def render_markdown(result: ExperimentResult, command: str | None = None) -> str:
    cfg, table = result.config, result.table
    metric = cfg.evaluation.metric
    ks = ", ".join(str(k) for k in cfg.evaluation.k)
    cmd = command or " ".join([Path(sys.executable).name, *sys.argv])
    ds = result.data_summary
    pre = []
    if cfg.preprocess.min_weight > 0:
        pre.append(f"interactions with weight >= {cfg.preprocess.min_weight} are positives")
    else:
        pre.append("every interaction the loader keeps is a positive")
    if cfg.preprocess.k_core > 1:
        pre.append(f"{cfg.preprocess.k_core}-core filtering (users and items with >= "
                   f"{cfg.preprocess.k_core} interactions)")
    lines = [
        f"# {cfg.name}: {cfg.description}".rstrip(": "),
        "",
        f"- Date: {_dt.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- Machine: {_machine()}",
        f"- Software: {_versions()}, git {_git_commit()}",
        f"- Command: `{cmd}`",
        f"- Configuration: `{cfg.source}`" if cfg.source else "- Configuration: built in code",
        f"- Wall time of the whole run: {result.seconds:.0f} s",
        "",
        "## Data and protocol",
        "",
        f"- Data set: {cfg.dataset.name}"
        + (f" (loader params {json.dumps(cfg.dataset.params)})" if cfg.dataset.params else ""),
        f"- Preprocessing: {'; '.join(pre)}.",
        f"- After preprocessing: {ds['users']:,} users, {ds['items']:,} items, "
        f"{ds['distinct_pairs']:,} distinct user-item pairs, {ds['social_rows']:,} social rows.",
        f"- Split: per-user random holdout of {cfg.split.test_fraction:.0%} of each user's distinct "
        f"items (seed {cfg.split.seed}): {ds['train_pairs']:,} train pairs, {ds['test_pairs']:,} test "
        f"pairs, {ds['test_users']:,} test users.",
        f"- Tuning: a validation split of {cfg.split.validation_fraction:.0%} per user carved from "
        f"the train part (seed {cfg.split.validation_seed}); each grid point is fitted on the rest "
        f"and scored by validation {metric}; the best is refitted on the whole train part and "
        f"evaluated once on test. The test part is never used for tuning.",
        f"- Candidates: full ranking over all training items, each user's training items excluded; "
        f"lists of length {max(cfg.evaluation.k)}; k = {ks}.",
        f"- Cold-start users: test users with <= {cfg.evaluation.cold_start_max} training items "
        f"({int(table['cold_users'].iloc[0]) if len(table) else 0:,} of the "
        f"{int(table['users'].iloc[0]) if len(table) else 0:,} evaluated test users; test pairs "
        f"on items absent from training cannot be ranked and are left out: "
        f"{int(table['test_pairs_untrainable'].iloc[0]) if len(table) else 0:,} pairs).",
        "- fit_s: wall seconds of one fit on the train part; users_per_s: test users per second "
        "of top-k recommendation (batched).",
        "",
        "## Results (test part)",
        "",
        format_table(table, summary_columns(table, metric, cfg.evaluation.k)),
        "",
        "## Cold-start users",
        "",
        format_table(
            table, ["cold_users", *cold_columns(cfg.evaluation.k), f"cold_{metric} / best peer"]
        ),
        "",
    ]
    targets = _target_lines(result)
    if targets:
        lines += ["## Targets", "", *[f"- {t}" for t in targets], ""]
    lines += ["## Chosen hyperparameters", "",
              "| strategy | grid points | validation " + metric + " | parameters |",
              "|---|---|---|---|"]
    for _, r in table.iterrows():
        lines.append(
            f"| {r['strategy']} | {int(r['grid_points'])} | "
            f"{_fmt(r[f'val_{metric}'], 'x')} | `{r['params']}` |"
        )
    lines.append("")
    grids = [s for s in cfg.strategies if s.grid and s.display in set(table["strategy"])]
    if grids:
        lines += ["Grids searched:", ""]
        for s in grids:
            lines.append(f"- {s.display}: `{json.dumps(s.grid)}`")
        lines.append("")
    if "error" in table and table["error"].notna().any():
        lines += ["## Failures", ""]
        for _, r in table[table["error"].notna()].iterrows():
            lines.append(f"- {r['strategy']}: {r['error']}")
        lines.append("")
    if result.reused:
        lines += [
            "## Reused rows", "",
            "These rows come from an earlier run of the same configuration (rerun with "
            "`--strategies` for the others):", "",
        ]
        for _, r in table[table["strategy"].isin(result.reused)].iterrows():
            lines.append(f"- {r['strategy']}: run at {r.get('run_at', '?')}, git {r.get('git', '?')}")
        lines.append("")
    if cfg.notes:
        lines += ["## Notes", "", cfg.notes.strip(), ""]
    return "\n".join(lines)


def write_results(
    result: ExperimentResult, out_dir: str | os.PathLike, *, command: str | None = None
) -> list[str]:
    """Write ``<name>.md``, ``<name>.csv`` and (when tuned) ``<name>.tuning.csv``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    name = result.config.name
    files = []
    csv = out / f"{name}.csv"
    result.table.to_csv(csv, index=False, float_format="%.6g")
    files.append(str(csv))
    if len(result.tuning):
        tcsv = out / f"{name}.tuning.csv"
        tuning = result.tuning.copy()
        for c in tuning.columns:
            if tuning[c].dtype == object:
                tuning[c] = tuning[c].map(
                    lambda v: json.dumps(v) if isinstance(v, dict | list) else v
                )
        tuning.to_csv(tcsv, index=False, float_format="%.6g")
        files.append(str(tcsv))
    md = out / f"{name}.md"
    md.write_text(render_markdown(result, command=command))
    files.append(str(md))
    log.info("experiment %s: wrote %s", name, files)
    return files
