"""Which learner should rank `hybrid`'s candidates? A validation-only comparison.

`hybrid` learned a linear score over its 22 features with a pairwise logistic regression (now
``spline_knots=0``; the default adds a spline per feature, see hybrid_validation_splines.md).
This fits that linear `hybrid` on the validation fit part (as experiments/hybrid_ease_bound/run.py does),
keeps the rows its ranking model was trained on, and refits other learners on exactly those
rows: the same pairwise regression, a pointwise logistic regression, and scikit-learn's
HistGradientBoostingClassifier (pointwise; early stopping on a held-out 10% of the rows, or a
shallow fixed-size ensemble), which can learn interactions of the features that a linear score
cannot. Each ranks `hybrid`'s own
candidates for the sampled validation users; NDCG@20 on the validation part. The test part is
never touched.

    .venv/bin/python experiments/hybrid_ranking_model/run.py ciao epinions

writes experiments/hybrid_ranking_model/results/hybrid_ranking_model.md (and .csv).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from haowurank.studies import git_commit, machine

ROOT = Path(__file__).resolve().parent


def _sibling(study: str):
    """The run.py of another study, imported as a module (its helpers are shared here)."""
    spec = importlib.util.spec_from_file_location(study, ROOT.parent / study / "run.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_ease = _sibling("hybrid_ease_bound")  # the same validation setup and recorded training rows
ranking_weights, recording_hybrid = _ease.ranking_weights, _ease.recording_hybrid
ndcg20, validation_setup = _ease.ndcg20, _ease.validation_setup

GBDT = {
    "HistGradientBoosting, 31 leaves, lr 0.1": dict(max_leaf_nodes=31, learning_rate=0.1,
                                                   max_iter=300),
    "HistGradientBoosting, 63 leaves, lr 0.05, 100 per leaf": dict(
        max_leaf_nodes=63, learning_rate=0.05, max_iter=500, min_samples_leaf=100),
    # shallow and slow, no early stopping: closer to a linear score with some interactions
    "HistGradientBoosting, depth 3, lr 0.05, 200 per leaf, 300 trees": dict(
        max_depth=3, learning_rate=0.05, max_iter=300, min_samples_leaf=200,
        early_stopping=False),
}


def run(name: str, n_users: int) -> pd.DataFrame:
    fit_ds, val, users = validation_setup(name, n_users)
    hy = recording_hybrid(spline_knots=0).fit(fit_ds)  # the linear score these compare against
    X, y, groups, _ = hy.training_rows_
    X = X.astype(np.float64)
    RV, CV, XV = hy.candidate_features(users)  # hybrid's retrieval, as `recommend`
    XV = XV.astype(np.float64)
    truth = val[users]

    scores: dict[str, tuple[np.ndarray, float]] = {}
    scores["hybrid as fitted (pairwise logistic regression)"] = (XV @ hy.weights_, float("nan"))
    t0 = time.perf_counter()
    w = ranking_weights(X, y, groups)
    scores["pairwise logistic regression, refitted here"] = (XV @ w, time.perf_counter() - t0)
    t0 = time.perf_counter()
    sc = StandardScaler().fit(X)
    lr = LogisticRegression(C=1.0, max_iter=500).fit(sc.transform(X), y)
    scores["pointwise logistic regression"] = (lr.decision_function(sc.transform(XV)),
                                               time.perf_counter() - t0)
    for label, params in GBDT.items():
        t0 = time.perf_counter()
        params = {"early_stopping": True, "validation_fraction": 0.1, **params}
        gb = HistGradientBoostingClassifier(random_state=0, **params).fit(X, y)
        scores[f"{label} ({gb.n_iter_} trees)"] = (gb.decision_function(XV),
                                                   time.perf_counter() - t0)
    base = ndcg20(RV, CV, scores["hybrid as fitted (pairwise logistic regression)"][0], truth)
    rows = []
    for label, (s, secs) in scores.items():
        v = ndcg20(RV, CV, s, truth)
        rows.append({"data": name, "learner": label, "val NDCG@20": v, "vs hybrid": v / base,
                     "learner fit s": secs, "training rows": len(y),
                     "positives": int(y.sum()), "users": len(users)})
        print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("names", nargs="*", default=["ciao", "epinions"])
    p.add_argument("--users", type=int, default=5000, help="validation users sampled")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    frame = pd.concat([run(n, args.users) for n in args.names], ignore_index=True)
    out = ROOT / "results" / "hybrid_ranking_model"
    frame.to_csv(out.parent / f"{out.name}.csv", index=False)
    lines = [
        "# hybrid: learners for the ranking model (validation only)",
        "",
        f"- Date: {dt.datetime.now().astimezone().isoformat(timespec='seconds')}, git {git_commit()}",
        f"- Machine: {machine()}",
        f"- Command: `.venv/bin/python experiments/hybrid_ranking_model/run.py {' '.join(args.names)} "
        f"--users {args.users}`",
        f"- Wall time: {time.perf_counter() - t0:.0f} s",
        "- Split: the headline split's training part, cut again per user 80/20 (seed 1), as the "
        "runner tunes; sampled validation users (seed 0); every learner is trained on the same "
        "rows (`hybrid`'s own inner split) and ranks the same candidates. The test part is not "
        "used.",
        "",
        "| data | learner | val NDCG@20 | vs hybrid | learner fit s | training rows (positives) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for _, r in frame.iterrows():
        secs = "-" if not np.isfinite(r["learner fit s"]) else f"{r['learner fit s']:.1f}"
        lines.append(f"| {r['data']} | {r['learner']} | {r['val NDCG@20']:.4f} | "
                     f"{r['vs hybrid']:.3f}x | {secs} | {int(r['training rows']):,} "
                     f"({int(r['positives']):,}) |")
    (out.parent / f"{out.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
