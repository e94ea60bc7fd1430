"""Reports of an experiment run: Markdown tables, the targets, the result files."""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._atomic import write_text
from ._provenance import git_commit, machine, versions

if TYPE_CHECKING:
    from ._runner import ExperimentResult

log = logging.getLogger("haowurank.studies")

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
                "given here. Time both in one run (e.g. experiments/hybrid_cost/run.py)."
            )
        elif "fit_s / ALS" in table and np.isfinite(best.get("fit_s / ALS", np.nan)):
            fr, tr = float(best["fit_s / ALS"]), float(best["users_per_s / ALS"])
            fit_bar, tp_bar = cfg.target.max_fit_ratio, cfg.target.min_throughput_ratio
            fit_note = (f" (limit {fit_bar:g}x: {'met' if fr <= fit_bar else 'NOT met'})"
                        if fit_bar is not None else "")
            tp_note = (f" (target >= {tp_bar:g}x: {'met' if tr >= tp_bar else 'NOT met'})"
                       if tp_bar is not None else "")
            lines.append(
                f"Its fit time is {fr:.2f}x tuned ALS's{fit_note}; its recommend throughput is "
                f"{tr:.2f}x ALS's batch recommend{tp_note}."
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
        f"- Machine: {machine()}",
        f"- Software: {versions()}, git {git_commit()}",
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
    grids = [s for s in cfg.strategies
             if (s.grid or s.stages) and s.display in set(table["strategy"])]
    if grids:
        lines += ["Grids searched (a staged search's later stages start from the best point "
                  "so far; `times`: factors on that point's value):", ""]
        for s in grids:
            if s.stages:
                lines.append(f"- {s.display}, in stages: " + "; then ".join(
                    f"`{json.dumps(g)}`" for g in s.stages))
            else:
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


def _is_results_file(path: Path) -> bool:
    """An existing file that a previous :func:`write_results` wrote (ours to replace)."""
    try:
        with open(path, encoding="utf-8") as fh:
            head = fh.read(4096)
    except (OSError, UnicodeDecodeError):
        return False
    if path.suffix == ".csv":
        return head.startswith(("strategy,", "combo,"))
    return head.startswith("# ") and "- Command: `" in head


def write_results(
    result: ExperimentResult, out_dir: str | os.PathLike, *, command: str | None = None,
    overwrite: bool = False,
) -> list[str]:
    """Write ``<name>.md``, ``<name>.csv`` and (when tuned) ``<name>.tuning.csv``.

    Each file is written atomically by the library's one writer; an existing file is replaced
    only when a previous run wrote it (anything else raises ``FileExistsError`` unless
    ``overwrite=True``).
    """
    out = Path(out_dir)
    name = result.config.name
    kw = {"owned": _is_results_file, "overwrite": overwrite, "what": "results file"}
    files = []
    csv = out / f"{name}.csv"
    write_text(csv, result.table.to_csv(index=False, float_format="%.6g"), **kw)
    files.append(str(csv))
    if len(result.tuning):
        tcsv = out / f"{name}.tuning.csv"
        tuning = result.tuning.copy()
        for c in tuning.columns:
            if tuning[c].dtype == object:
                tuning[c] = tuning[c].map(
                    lambda v: json.dumps(v) if isinstance(v, dict | list) else v
                )
        write_text(tcsv, tuning.to_csv(index=False, float_format="%.6g"), **kw)
        files.append(str(tcsv))
    md = out / f"{name}.md"
    write_text(md, render_markdown(result, command=command), **kw)
    files.append(str(md))
    log.info("experiment %s: wrote %s", name, files)
    return files

