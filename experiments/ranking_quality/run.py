"""Ranking quality: how does `hybrid` compare with the tuned peers on LastFM, Ciao and Epinions?

Runs each data set's experiment (``<name>.toml`` beside this script: every strategy tuned on a
validation split, refitted on train, evaluated once on test; ``haowurank run`` does the same for
one file), then writes one table over them: the best haowurank strategy against the best peer,
from ``results/<name>.csv`` (and the paired cost from
``experiments/hybrid_cost/results/hybrid_cost.md`` when present) to ``results/headline.md``, and
each peer's best validation point with the edges of its search to ``results/peer_grid.md``.

    .venv/bin/python experiments/ranking_quality/run.py                    # all three, then the table
    .venv/bin/python experiments/ranking_quality/run.py --summary-only     # the table only
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from haowurank.studies import load_config, provenance_lines, run_experiment

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
METRIC = "NDCG@20"


def _run(row: pd.Series) -> str:
    """The run a runner row was timed in (rows written before ``run_id`` existed: its start)."""
    rid = row.get("run_id")
    return str(row["run_at"]) if rid is None or pd.isna(rid) else str(rid)


def summarize(name: str) -> dict:
    cfg = load_config(ROOT / f"{name}.toml")
    t = pd.read_csv(RESULTS / f"{name}.csv")
    t = t[t[METRIC].notna()]
    peers = t[t["peer"].astype(bool)]
    ours = t[~t["peer"].astype(bool)]
    bp = peers.loc[peers[METRIC].idxmax()]
    bo = ours.loc[ours[METRIC].idxmax()]
    hy = t[t["strategy"] == "hybrid"]
    hy = hy.iloc[0] if len(hy) else bo
    cold_peer = peers[f"cold_{METRIC}"].max()
    als = t[t["strategy"] == "als"]
    # the runner's times compare only within one run (same load); otherwise see hybrid_cost.md
    same_run = len(als) and str(_run(hy)) == str(_run(als.iloc[0]))
    target = cfg.target.ratio if cfg.target else float("nan")
    ratio = float(bo[METRIC] / bp[METRIC])
    return {
        "data": name,
        "peers run": ", ".join(peers["strategy"]),
        "best peer": f"{bp['strategy']} {bp[METRIC]:.4f}",
        "best haowurank": f"{bo['strategy']} {bo[METRIC]:.4f}",
        "ratio": ratio,
        "target": target,
        "met": "yes" if ratio >= target else "NO",
        "hybrid cold NDCG@20 / best peer's": float(hy[f"cold_{METRIC}"] / cold_peer),
        "hybrid fit s / ALS (runner)": (
            float(hy["fit_s"] / als["fit_s"].iloc[0]) if same_run else float("nan")
        ),
        "hybrid users/s / ALS (runner)": (
            float(hy["users_per_s"] / als["users_per_s"].iloc[0]) if same_run else float("nan")
        ),
    }


def _edge(values: list, best) -> str:
    """Where ``best`` sits among the values a search tried for one parameter."""
    vals = sorted(set(values) | {best})
    if len(vals) == 1:
        return f"fixed at {_fmt(best)}"
    if not all(isinstance(v, int | float) for v in vals):
        return f"{_fmt(best)} of {', '.join(_fmt(v) for v in vals)}"
    j = vals.index(best)
    if j == 0:
        return f"{_fmt(best)}: LOWEST tried (next {_fmt(vals[1])})"
    if j == len(vals) - 1:
        return f"{_fmt(best)}: HIGHEST tried (next lower {_fmt(vals[-2])})"
    return f"{_fmt(best)}: inside ({_fmt(vals[j - 1])} .. {_fmt(vals[j + 1])})"


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _axis(rows: pd.DataFrame, keys: list[str], key: str, best: pd.Series) -> str:
    """Where the best value of ``key`` sits among the values tried with every other parameter
    at its best value (the axis through the best point); where only the best value was tried
    there (a staged search varied ``key`` at an earlier point), among the values of the last
    stage that varied it."""
    same = pd.Series(True, index=rows.index)
    for k in keys:
        if k != key and pd.notna(best[k]):
            same &= rows[k] == best[k]
    vals = list(rows.loc[same, key].dropna())
    if len(set(vals)) > 1 or "stage" not in rows:
        return f"{key[6:]} {_edge(vals, best[key])}"
    varied = [st for st, g in rows.groupby("stage") if g[key].nunique() > 1]
    if not varied:
        return f"{key[6:]} {_edge(vals, best[key])}"
    g = rows[rows["stage"] == varied[-1]]
    return (f"{key[6:]} {_edge(list(g[key].dropna()), best[key])} "
            f"(values of stage {int(varied[-1])}, at another point)")


def peer_grid(names: list[str]) -> list[str]:
    """Markdown lines: each peer's best validation point per data set and where it sits in
    the values its search tried (an edge means the grid may be too narrow there)."""
    lines = [
        "| data | peer | run | points | best validation " + METRIC + " | best point (stage) | "
        "where each parameter's best value sits among the values tried |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in names:
        tpath = RESULTS / f"{name}.tuning.csv"
        if not tpath.is_file():
            continue
        cfg = load_config(ROOT / f"{name}.toml")
        t = pd.read_csv(tpath)
        runs = pd.read_csv(RESULTS / f"{name}.csv").set_index("strategy")["run_at"]
        for s in cfg.strategies:
            if not s.peer:
                continue
            rows = t[t["strategy"] == s.display]
            if not len(rows):
                continue
            best = rows[rows["best"].astype(bool)].iloc[0]
            keys = [c for c in rows.columns if c.startswith("param:") and rows[c].notna().any()]
            stage = (f" (stage {int(best['stage'])})"
                     if "stage" in rows and pd.notna(best.get("stage")) else "")
            point = ", ".join(f"{k[6:]}={_fmt(best[k])}" for k in keys if pd.notna(best[k]))
            where = "; ".join(_axis(rows, keys, k, best) for k in keys if pd.notna(best[k]))
            run = str(runs.get(s.display, "?"))[:10]
            lines.append(f"| {name} | {s.display} | {run} | {len(rows)} | {best[METRIC]:.5f} | "
                         f"{point}{stage} | {where} |")
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", default=["lastfm", "ciao", "epinions"],
                    help="experiments to run and summarise (<name>.toml beside this script)")
    ap.add_argument("--summary-only", action="store_true",
                    help="only rewrite results/headline.md and results/peer_grid.md from the "
                         "existing results")
    args = ap.parse_args(argv)
    names = args.names
    if not args.summary_only:
        for name in names:
            run_experiment(ROOT / f"{name}.toml", out_dir=RESULTS)
    rows = [summarize(n) for n in names if (RESULTS / f"{n}.csv").is_file()]
    cols = list(rows[0]) if rows else []
    lines = [
        "# Headline: best haowurank strategy vs the best peer (test NDCG@20)",
        "",
        "Every peer is tuned on the validation split, never on the test split (grids in each "
        "data set's TOML under experiments/).",
        "",
        *provenance_lines(
            f".venv/bin/python experiments/ranking_quality/run.py --summary-only {' '.join(names)}"
        ),
        "- Source: experiments/ranking_quality/results/<name>.csv and .md (protocol, grids, machine, commands "
        "there); paired cost measurements in experiments/hybrid_cost/results/hybrid_cost.md.",
        "- The runner's cost ratios are given only where `hybrid` and ALS were timed in the same "
        "run (otherwise `nan`: the rows come from runs under different load); the paired "
        "figures below are the measurement of the cost targets.",
        "",
        "| " + " | ".join(cols) + " |",
        "|" + "|".join("---" for _ in cols) + "|",
    ]
    for r in rows:
        cells = [f"{v:.3f}" if isinstance(v, float) else str(v) for v in r.values()]
        lines.append("| " + " | ".join(cells) + " |")
    cost = ROOT.parent / "hybrid_cost" / "results" / "hybrid_cost.md"
    if cost.is_file():
        lines += ["", "## Paired cost (from hybrid_cost.md)", ""]
        cost_md, table = cost.read_text(), []
        for ln in cost_md.splitlines():  # its first table (the others: see the file)
            if ln.startswith("|"):
                table.append(ln)
            elif table:
                break
        lines += table
        if "## Every timed strategy" in cost_md:
            lines += ["", "Every strategy timed against ALS, with its test quality, against the "
                      "bars: the second table and the plot in hybrid_cost.md."]
    text = "\n".join(lines) + "\n"
    (RESULTS / "headline.md").write_text(text)
    print(text)
    grid = [
        "# Peer grids: each peer's best validation point and the edges of its search",
        "",
        "Every point a search tried is in results/<name>.tuning.csv (staged searches: with "
        "their stage; a later stage starts from the best point so far). A best value that is "
        "the LOWEST or HIGHEST value tried is at the edge of the grid: the optimum may lie "
        "beyond it.",
        "",
        *provenance_lines(
            f".venv/bin/python experiments/ranking_quality/run.py --summary-only {' '.join(names)}"
        ),
        "",
        *peer_grid(names),
    ]
    (RESULTS / "peer_grid.md").write_text("\n".join(grid) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
