"""Paired cost of `hybrid` against tuned ALS: fit seconds and recommend throughput.

The headline runs measure every strategy once, minutes apart, on a shared machine whose load
changes; this script times tuned ALS (its parameters read from experiments/ranking_quality/results/<name>.csv)
and `hybrid` (defaults) back to back on the same training part, alternating, ``--repeats``
times each, and reports medians. Recommend throughput is top-20 lists for every test user in
batches (ALS through implicit's batch recommend, as in the runner).

    .venv/bin/python experiments/hybrid_cost/run.py lastfm ciao epinions

writes experiments/hybrid_cost/results/hybrid_cost.md (and prints it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

import haowurank as hr
from haowurank.studies import (
    git_commit,
    load_config,
    load_dataset,
    machine,
    preprocess,
    versions,
)
from haowurank.testing import small_world

ROOT = Path(__file__).resolve().parent  # this study's folder
QUALITY = ROOT.parent / "ranking_quality"  # the headline configs and their results


def _throughput(ranker, users: np.ndarray) -> float:
    t0 = time.perf_counter()
    bs = ranker.batch_size
    for s in range(0, len(users), bs):
        ranker.recommend_at(users[s : s + bs], 20)
    return len(users) / (time.perf_counter() - t0)


def warm_up(hybrid_params: dict, references: list[str]) -> None:
    """One tiny fit + recommend of each strategy, so that neither timed fit pays the one-off
    imports (scikit-learn and scipy.stats alone take about a second on this machine)."""
    ds = small_world()
    runs = [("als", {"factors": 4, "iterations": 2}), ("hybrid", hybrid_params)]
    for strat, params in runs + [(ref, {}) for ref in references]:
        r = hr.rankers.make(strat, **params).fit(ds)
        r.recommend_at(np.arange(ds.n_users), 3)


def bench(name: str, repeats: int, hybrid_params: dict, references: list[str]) -> dict:
    cfg = load_config(QUALITY / f"{name}.toml")
    table = pd.read_csv(QUALITY / "results" / f"{name}.csv")

    def tuned(strategy: str) -> dict:
        return json.loads(table.loc[table["strategy"] == strategy, "params"].iloc[0])

    als_params = tuned("als")
    ds = preprocess(load_dataset(cfg.dataset, cfg.source), cfg.preprocess)
    train, test = hr.split.random_split(ds, cfg.split.test_fraction, seed=cfg.split.seed)
    users = np.flatnonzero(np.diff(test.matrix(weight="binary").indptr) > 0)
    references = [ref for ref, only in (_reference(r) for r in references)
                  if only is None or name in only]
    runs = [("als", als_params), ("hybrid", hybrid_params)]
    runs += [(ref, tuned(ref)) for ref in references]
    fits: dict[str, list[float]] = {s: [] for s, _ in runs}
    stages: dict[str, list[float]] = {}
    als_sizes: set[int] = set()
    tput: dict[str, list[float]] = {s: [] for s, _ in runs}
    for _ in range(repeats):
        for strat, params in runs:
            r = hr.rankers.make(strat, **params)
            t0 = time.perf_counter()
            r.fit(train)
            fits[strat].append(time.perf_counter() - t0)
            tput[strat].append(_throughput(r, users))
            if strat == "hybrid":
                als_sizes.add(int(r.als_factors_))
                for k in ("inner_fit_s", "features_s", "model_s", "refit_s"):
                    stages.setdefault(k, []).append(float(r.fit_info_.get(k, float("nan"))))
    med = {k: statistics.median(v) for k, v in fits.items()}
    thr = {k: statistics.median(v) for k, v in tput.items()}
    refs = {
        ref: f"fit {med[ref]:.2f} s ({med[ref] / med['als']:.2f}x), {thr[ref]:,.0f} users/s "
             f"({thr[ref] / thr['als']:.2f}x)"
        for ref in references
    }
    ndcg = table.set_index("strategy")["NDCG@20 / best peer"].astype(float)
    frontier = [
        {"data": name, "strategy": s, "fit s": med[s], "fit / ALS": med[s] / med["als"],
         "users/s": thr[s], "users/s / ALS": thr[s] / thr["als"],
         "test NDCG@20 / best peer": float(ndcg.get(s, float("nan")))}
        for s, _ in runs
    ]
    return {
        "frontier": frontier,
        "peers, tuned (vs ALS)": "; ".join(f"{k}: {v}" for k, v in refs.items()) or "-",
        "data": name, "als params": json.dumps(als_params, sort_keys=True),
        "ALS fit s": med["als"], "hybrid fit s": med["hybrid"],
        "fit ratio": med["hybrid"] / med["als"],
        "ALS users/s": thr["als"], "hybrid users/s": thr["hybrid"],
        "throughput ratio": thr["hybrid"] / thr["als"],
        "hybrid ALS size": ", ".join(str(v) for v in sorted(als_sizes)),
        "hybrid stages s": ", ".join(
            f"{k[:-2]} {statistics.median(v):.2f}" for k, v in stages.items()
        ),
    }


def _reference(spec: str) -> tuple[str, set[str] | None]:
    """``strategy`` or ``strategy:data+data`` (timed only on those data sets)."""
    name, _, only = spec.partition(":")
    return name, (set(only.split("+")) if only else None)


FIT_BAR, THROUGHPUT_BAR = 5.0, 0.7


def frontier_table(rows: list[dict], targets: dict[str, float]) -> list[str]:
    """Markdown rows: every timed strategy's paired cost and its headline test quality, and
    which of issue 3's bars it clears."""
    cols = ["data", "strategy", "fit s", "fit / ALS", "users/s", "users/s / ALS",
            "test NDCG@20 / best peer", "cost bars met", "quality bar met"]
    out = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for r in rows:
        cost = r["fit / ALS"] <= FIT_BAR and r["users/s / ALS"] >= THROUGHPUT_BAR
        q = r["test NDCG@20 / best peer"]
        quality = q >= targets[r["data"]]
        out.append(
            f"| {r['data']} | {r['strategy']} | {r['fit s']:.2f} | {r['fit / ALS']:.2f} | "
            f"{r['users/s']:,.0f} | {r['users/s / ALS']:.2f} | {q:.3f} | "
            f"{'yes' if cost else 'no'} | {'yes' if quality else 'no'} |")
    return out


def frontier_plot(rows: list[dict], targets: dict[str, float], path: Path) -> None:
    """Two panels: test quality against the throughput ratio and against the fit ratio (log
    scales), the bars drawn; one marker per strategy, one colour per data set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datas = list(dict.fromkeys(r["data"] for r in rows))
    strategies = list(dict.fromkeys(r["strategy"] for r in rows))
    markers = dict(zip(strategies, "o*sD^v<>pXh"))
    colours = dict(zip(datas, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    fig, axes = plt.subplots(1, 2, figsize=(12, 5), sharey=True)
    for ax, key, bar, better in ((axes[0], "users/s / ALS", THROUGHPUT_BAR, "right"),
                                 (axes[1], "fit / ALS", FIT_BAR, "left")):
        for r in rows:
            ax.scatter(r[key], r["test NDCG@20 / best peer"], marker=markers[r["strategy"]],
                       color=colours[r["data"]], s=70, edgecolor="black", linewidth=0.4)
        ax.axvline(bar, color="grey", linestyle="--")
        for d, t in targets.items():
            ax.axhline(t, color=colours[d], linestyle=":", linewidth=1)
        ax.set_xscale("log")
        ax.set_xlabel(f"{key} (paired, median; the target bar dashed, better to the {better})")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test NDCG@20 / best tuned peer (headline run; targets dotted)")
    handles = [plt.Line2D([], [], marker=markers[s], linestyle="", color="grey", label=s)
               for s in strategies]
    handles += [plt.Line2D([], [], marker="s", linestyle="", color=colours[d], label=d)
                for d in datas]
    axes[1].legend(handles=handles, fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.suptitle("Issue 3's bars: quality against cost, every strategy timed against ALS")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("names", nargs="*", default=["lastfm", "ciao", "epinions"],
                   help="experiment names (experiments/ranking_quality/<name>.toml)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--hybrid-params", default="{}",
                   help="JSON parameters of hybrid (default: its defaults)")
    p.add_argument("--out", default="hybrid_cost", help="results file stem")
    p.add_argument("--note", default="",
                   help="what else ran on the machine meanwhile, for the report")
    p.add_argument("--references", nargs="*", default=["item_knn"],
                   help="peers timed in the same alternation with their tuned parameters from "
                        "experiments/ranking_quality/results/<name>.csv, for scale (default: item_knn); "
                        "'name:data+data' times a peer on those data sets only")
    args = p.parse_args(argv)
    hybrid_params = json.loads(args.hybrid_params)
    warm_up(hybrid_params, [_reference(r)[0] for r in args.references])
    rows = [bench(n, args.repeats, hybrid_params, args.references) for n in args.names]
    cols = ["data", "ALS fit s", "hybrid fit s", "fit ratio", "ALS users/s", "hybrid users/s",
            "throughput ratio", "hybrid ALS size", "hybrid stages s", "peers, tuned (vs ALS)",
            "als params"]
    lines = [
        f"# Paired cost: hybrid ({'defaults' if not hybrid_params else json.dumps(hybrid_params)})"
        " vs tuned ALS",
        "",
        f"- Date: {dt.datetime.now().astimezone().isoformat(timespec='seconds')}, git "
        f"{git_commit()}",
        f"- Machine: {machine()}; medians of {args.repeats} alternating runs"
        + (f" ({args.note})" if args.note else ""),
        f"- Software: {versions()}",
        f"- Command: `.venv/bin/python experiments/hybrid_cost/run.py {' '.join(args.names)} "
        f"--repeats {args.repeats}"
        + (f" --hybrid-params '{args.hybrid_params}'" if hybrid_params else "")
        + (f" --out {args.out}" if args.out != "hybrid_cost" else "")
        + (f" --references {' '.join(args.references)}" if args.references != ["item_knn"]
           else "") + "`",
        "- Fit on the 80% training part of the headline split (seed 0); throughput: top-20 lists "
        "for every test user, seen items excluded, in each ranker's batches. A tiny warm-up fit "
        "of each strategy runs first, so one-off imports are in neither time.",
        "- *hybrid stages s*: medians of `fit_info_`: inner components (incl. the ALS size "
        "choice), feature rows, ranking model, refit on all training data (the rest of the fit "
        "is the defence and bookkeeping).",
        "- *hybrid ALS size*: the factors its inner choice (`als_factors_`) picked, in every "
        "repeat.",
        "- Targets (issue 3): fit ratio <= 5, throughput ratio >= 0.7.",
        "- *peers, tuned*: other strategies timed in the same alternation with the parameters "
        "the headline run tuned for them, for scale: what the same bars mean for a peer.",
        "",
        "| " + " | ".join(cols) + " |",
        "|" + "|".join("---" for _ in cols) + "|",
    ]
    for r in rows:
        cells = []
        for c in cols:
            v = r[c]
            if isinstance(v, float):
                cells.append(f"{v:,.0f}" if "users/s" in c else f"{v:.2f}")
            else:
                cells.append(f"`{v}`" if c == "als params" else str(v))
        lines.append("| " + " | ".join(cells) + " |")
    out = ROOT / "results" / f"{args.out}.md"
    if args.references:
        targets = {n: float(load_config(QUALITY / f"{n}.toml").target.ratio) for n in args.names}
        frontier = [f for r in rows for f in r["frontier"]]
        lines += [
            "",
            "## Every timed strategy against the bars",
            "",
            "Cost: the paired medians above (fit / ALS <= 5 and users/s / ALS >= 0.7 for the "
            "cost bars); quality: test NDCG@20 over the best tuned peer, from the headline run "
            "(experiments/ranking_quality/results/<name>.csv), against each data set's target "
            f"({', '.join(f'{n} {t:.2f}x' for n, t in targets.items())}).",
            "",
            *frontier_table(frontier, targets),
            "",
            f"![quality against cost]({out.with_suffix('.png').name})",
        ]
        frontier_plot(frontier, targets, out.with_suffix(".png"))
    text = "\n".join(lines) + "\n"
    out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
