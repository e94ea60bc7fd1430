"""Validation-only study of `hybrid`'s defaults on the issue-3 data sets.

For each data set: the headline split (experiments/ranking_quality/<name>.toml: per-user 80/20, seed 0), then the
validation split of its training part (seed 1), exactly as the runner tunes. Every variant is
fitted on the fit part and scored by NDCG@20 on the validation part (over at most
``--users`` sampled validation users, the same sample for every variant). The test part is
never touched: defaults are chosen from these figures only.

    .venv/bin/python experiments/hybrid_validation/run.py lastfm ciao epinions

writes experiments/hybrid_validation/results/hybrid_validation.md (and .csv).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

import haowurank as hr
from haowurank.evaluation import tune
from haowurank.studies import git_commit, load_config, load_dataset, machine, preprocess

ROOT = Path(__file__).resolve().parent  # this study's folder
QUALITY = ROOT.parent / "ranking_quality"  # the headline configs and their results

VARIANTS: dict[str, dict] = {
    "defaults": {},
    "max_train_users=2000 (the earlier default)": {"max_train_users": 2000},
    "n_recommend_candidates=0 (full ranking)": {"n_recommend_candidates": 0},
    "n_recommend_candidates=200": {"n_recommend_candidates": 200},
    # cost levers (issue 3): the ALS size choice after full fits (defaults: after 5 sweeps),
    # fold-in instead of a full refit
    "als_choice_iterations=None (the earlier default: full fits)": {"als_choice_iterations": None},
    "refit=fold_in": {"refit": "fold_in"},
    # EASE over the most popular items as one more feature (its cost is cubic in this number)
    "ease_items=2000": {"ease_items": 2000},
    "ease_items=5000": {"ease_items": 5000},
    "ease_items=8000": {"ease_items": 8000},
    # more training signal for the ranking model: every user with validation items, wider
    # training candidates
    "max_train_users=None (every user)": {"max_train_users": None},
    "n_candidates=100": {"n_candidates": 100},
    "max_train_users=None, n_candidates=100": {"max_train_users": None, "n_candidates": 100},
    # an additive (GAM-style) score: a cubic spline per feature on top of the linear terms
    "spline_knots=3": {"spline_knots": 3},
    "spline_knots=4": {"spline_knots": 4},
    "spline_knots=5": {"spline_knots": 5},
    "spline_knots=6": {"spline_knots": 6},
    # RP3beta (a random-walk item-item model) as one more component and retrieval source
    "rp3beta=True (with RP3beta)": {"rp3beta": True},
    # a more strongly regularised ALS component (factor_frontier.md: ALS alone gained on every
    # data set from regularisation 30-100)
    "als regularization=30": {"als": {"regularization": 30.0}},
    "als regularization=100": {"als": {"regularization": 100.0}},
}


def run(name: str, n_users: int, variants: dict[str, dict]) -> pd.DataFrame:
    cfg = load_config(QUALITY / f"{name}.toml")
    ds = preprocess(load_dataset(cfg.dataset, cfg.source), cfg.preprocess)
    train, _test = hr.split.random_split(ds, cfg.split.test_fraction, seed=cfg.split.seed)
    fit_ds, val_ds = hr.split.validation_split(
        train, fraction=cfg.split.validation_fraction, seed=cfg.split.validation_seed
    )
    has_val = np.flatnonzero(np.diff(val_ds.matrix(weight="binary").indptr) > 0)
    if len(has_val) > n_users:
        has_val = np.sort(np.random.default_rng(0).choice(has_val, n_users, replace=False))
    users = list(val_ds.user_ids[has_val])
    rows = []
    for label, params in variants.items():
        t0 = time.perf_counter()
        _, table = tune("hybrid", None, fit_ds, val_ds, params=params, users=users)
        r = table.iloc[0]
        rows.append({"data": name, "variant": label, "params": json.dumps(params),
                     "val NDCG@20": float(r["NDCG@20"]), "val Recall@20": float(r["Recall@20"]),
                     "fit_s": float(r["fit_s"]), "wall_s": time.perf_counter() - t0})
        print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("names", nargs="*", default=["lastfm", "ciao", "epinions"])
    p.add_argument("--users", type=int, default=5000, help="validation users sampled per data set")
    p.add_argument("--variants", nargs="+", default=None,
                   help="variant labels to run (default: all; 'defaults' is always run)")
    p.add_argument("--out", default="hybrid_validation",
                   help="results file stem under experiments/hybrid_validation/results/")
    args = p.parse_args(argv)
    chosen = {k: v for k, v in VARIANTS.items()
              if args.variants is None or k == "defaults" or k in args.variants}
    unknown = set(args.variants or ()) - set(VARIANTS)
    if unknown:
        p.error(f"unknown variant(s) {sorted(unknown)}; known: {list(VARIANTS)}")
    frame = pd.concat([run(n, args.users, chosen) for n in args.names], ignore_index=True)
    base = frame[frame["variant"] == "defaults"].set_index("data")["val NDCG@20"]
    frame["vs defaults"] = frame["val NDCG@20"] / frame["data"].map(base)
    out = ROOT / "results" / args.out  # a stem: dots in it are kept, not taken for a suffix
    frame.to_csv(out.parent / f"{out.name}.csv", index=False)
    mean = frame.groupby("variant", sort=False)["vs defaults"].mean()
    lines = [
        "# hybrid defaults: validation NDCG@20 (the test parts are not used)",
        "",
        f"- Date: {dt.datetime.now().astimezone().isoformat(timespec='seconds')}, git {git_commit()}",
        f"- Machine: {machine()} (shared with other jobs: fit_s are upper bounds)",
        f"- Command: `.venv/bin/python experiments/hybrid_validation/run.py {' '.join(args.names)} "
        f"--users {args.users}"
        + (f" --variants {' '.join(repr(v) for v in args.variants)}" if args.variants else "")
        + (f" --out {args.out}" if args.out != "hybrid_validation" else "") + "`",
        "- Split: each headline split's training part, cut again per user 80/20 (seed 1), as the "
        "runner tunes; the same sampled validation users for every variant.",
        "",
        "| data | variant | val NDCG@20 | vs defaults | val Recall@20 | fit s |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for _, r in frame.iterrows():
        lines.append(f"| {r['data']} | {r['variant']} | {r['val NDCG@20']:.4f} | "
                     f"{r['vs defaults']:.3f}x | {r['val Recall@20']:.4f} | {r['fit_s']:.1f} |")
    lines += ["", "Mean ratio to the defaults over the data sets:", ""]
    lines += [f"- {v}: {m:.4f}x" for v, m in mean.items()]
    (out.parent / f"{out.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
