"""Ranking quality: how does `hybrid` compare with the tuned peers on LastFM, Ciao and Epinions?

Runs each data set's experiment (``<name>.toml`` beside this script: every strategy tuned on a
validation split, refitted on train, evaluated once on test; ``haowurank run`` does the same for
one file), then writes one table over them: the best haowurank strategy against the best peer,
from ``results/<name>.csv`` (and the paired cost from
``experiments/hybrid_cost/results/hybrid_cost.md`` when present) to ``results/headline.md``.

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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", default=["lastfm", "ciao", "epinions"],
                    help="experiments to run and summarise (<name>.toml beside this script)")
    ap.add_argument("--summary-only", action="store_true",
                    help="only rewrite results/headline.md from the existing results")
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
