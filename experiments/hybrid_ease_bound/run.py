"""How much could an EASE feature lift `hybrid`? A validation-only upper bound.

EASE (Steck 2019) is the best single peer on Epinions, and its cubic fit is what `hybrid` must
not pay. Before an approximation of it (e.g. SANSA's sparse approximate inverse) is worth
building, this measures what the exact model would add as a feature of `hybrid`'s ranking model:

1. The headline split of the data set (experiments/ranking_quality/<name>.toml), then the validation split of its
   training part (seed 1), as the runner tunes; ``--users`` validation users sampled (seed 0).
2. `hybrid` with a linear score (``spline_knots=0``, the default when this ran) is fitted on
   the fit part; its ranking model's training rows
   (candidates of its own inner split, features, labels) are recorded.
3. EASE (float32, ``--regularization``) is fitted twice: on `hybrid`'s inner fit part (for the
   features of those training rows) and on the whole fit part (for the validation rows).
4. Variants, all scored by NDCG@20 on the validation part over the sampled users:
   `hybrid` as fitted; EASE alone (its full ranking); the ranking model refitted (same pairwise
   logistic regression) with two EASE features added, ranking `hybrid`'s candidates, or those
   plus EASE's own top 100.

The test part is never touched. Two EASE fits at 30k items take about 6 minutes each and
about 12 GB.

    .venv/bin/python experiments/hybrid_ease_bound/run.py epinions

writes experiments/hybrid_ease_bound/results/hybrid_ease_bound_<name>.md (and .csv).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression

import haowurank as hr
from haowurank.metrics import ndcg_at_k
from haowurank.rankers import HybridRanker, make
from haowurank.studies import git_commit, load_config, load_dataset, machine, preprocess

ROOT = Path(__file__).resolve().parent  # this study's folder
QUALITY = ROOT.parent / "ranking_quality"  # the headline configs and their results


def recording_hybrid(**params) -> HybridRanker:
    """`hybrid` that keeps the rows its ranking model was trained on (``training_rows_``)."""
    hy = HybridRanker(**params)
    hy.keep_training_rows = True
    return hy


def ease_rows(model, users: np.ndarray) -> np.ndarray:
    """EASE's model scores of known users (row index) against every item: their CF rows times
    the learned item x item weights ``B_``, float32 (no cold-start rule: an empty row scores 0)."""
    return np.asarray(sp.csr_matrix(model.cf_[users]) @ model.B_, dtype=np.float32)


def _ease_features(model, binary, users: np.ndarray, items: np.ndarray) -> np.ndarray:
    """(EASE score, score / the user's best unseen score) at the (user, item) pairs."""
    out = np.zeros((len(users), 2), dtype=np.float64)
    uq, inv = np.unique(users, return_inverse=True)
    for b0 in range(0, len(uq), 1000):
        ub = uq[b0 : b0 + 1000]
        s = ease_rows(model, ub)
        best = np.where(binary[ub].toarray() > 0, -np.inf, s).max(axis=1)
        rows = np.flatnonzero((inv >= b0) & (inv < b0 + len(ub)))
        local = inv[rows] - b0
        out[rows, 0] = s[local, items[rows]]
        out[rows, 1] = out[rows, 0] / np.maximum(best[local], 1e-9)
    return out


def ranking_weights(X: np.ndarray, y: np.ndarray, groups: np.ndarray, seed: int = 0) -> np.ndarray:
    """Weights of `hybrid`'s pairwise logistic regression (standardised features, 20 negatives
    per positive, C=1), on the raw feature scale."""
    gen = np.random.default_rng(seed)
    mean, scale = X.mean(axis=0), X.std(axis=0)
    scale[scale < 1e-9] = 1.0
    D = HybridRanker.pair_differences((X - mean) / scale, y, groups, gen, 20)
    flip = gen.random(len(D)) < 0.5
    D[flip] *= -1.0
    lr = LogisticRegression(C=1.0, fit_intercept=False, max_iter=500).fit(D, ~flip)
    return lr.coef_[0] / scale


def validation_setup(name: str, n_users: int):
    """(fit part, validation matrix, sampled validation users) of the headline split's training
    part, cut as the runner tunes."""
    cfg = load_config(QUALITY / f"{name}.toml")
    ds = preprocess(load_dataset(cfg.dataset, cfg.source), cfg.preprocess)
    train, _test = hr.split.random_split(ds, cfg.split.test_fraction, seed=cfg.split.seed)
    fit_ds, val_ds = hr.split.validation_split(
        train, fraction=cfg.split.validation_fraction, seed=cfg.split.validation_seed
    )
    val = val_ds.matrix(weight="binary").tocsr()
    users = np.flatnonzero(np.diff(val.indptr) > 0)
    if len(users) > n_users:
        users = np.sort(np.random.default_rng(0).choice(users, n_users, replace=False))
    return fit_ds, val, users


def ndcg20(rows: np.ndarray, items: np.ndarray, scores: np.ndarray, truth) -> float:
    """Mean NDCG@20 over ``truth``'s rows of the top 20 candidates (``rows``, ``items``) of each
    row by ``scores`` (ties: the smaller item index)."""
    order = np.lexsort((items, -scores, rows))
    r, c = rows[order], items[order]
    n = truth.shape[0]
    cnt = np.bincount(r, minlength=n)
    rank = np.arange(len(r)) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    top = np.full((n, 20), -1, dtype=np.int64)
    keep = rank < 20
    top[r[keep], rank[keep]] = c[keep]
    return float(np.nanmean(ndcg_at_k(top, truth, 20)))


def run(name: str, n_users: int, regularization: float) -> pd.DataFrame:
    fit_ds, val, users = validation_setup(name, n_users)
    t0 = time.perf_counter()
    hy = recording_hybrid(spline_knots=0).fit(fit_ds)  # the linear score these compare against
    hybrid_s = time.perf_counter() - t0
    X, y, groups, items = hy.training_rows_
    inner_fit, _ = hr.split.validation_split(
        fit_ds, fraction=hy.validation_fraction, seed=int(hy.random_state) + 1
    )

    t0 = time.perf_counter()
    ease = make("ease", regularization=regularization, precision="float32",
                max_items=40_000).fit(inner_fit)
    ease_inner_s = time.perf_counter() - t0
    F = _ease_features(ease, inner_fit.matrix(weight="binary").tocsr(), groups, items)
    del ease
    gc.collect()
    t0 = time.perf_counter()
    ease = make("ease", regularization=regularization, precision="float32",
                max_items=40_000).fit(fit_ds)
    ease_s = time.perf_counter() - t0

    # validation rows: hybrid's retrieval (top 100 per source, as `recommend`) plus EASE's top 100
    binary = hy.parts_.binary  # hybrid's training matrix (after its defence)
    XV, RV, CV, FROM_HY = [], [], [], []
    for s0 in range(0, len(users), 1000):
        u = users[s0 : s0 + 1000]
        r, c, _ = hy.candidate_features(u)  # hybrid's retrieval, as `recommend`
        seen = binary[u].toarray() > 0
        s = np.where(seen, -np.inf, ease_rows(ease, u))
        top = np.argpartition(-s, 100, axis=1)[:, :100]
        cand = np.zeros(seen.shape, dtype=bool)
        cand[np.arange(len(u))[:, None], top] = True
        from_hy = np.zeros(seen.shape, dtype=bool)
        from_hy[r, c] = True
        r, c = np.nonzero((cand | from_hy) & ~seen)
        XV.append(hy.pair_features_at(u[r], c))
        RV.append(r + s0)
        CV.append(c)
        FROM_HY.append(from_hy[r, c])
    XV = np.vstack(XV).astype(np.float64)
    RV, CV, FROM_HY = np.concatenate(RV), np.concatenate(CV), np.concatenate(FROM_HY)
    FV = _ease_features(ease, binary, users[RV], CV)
    truth = val[users]
    label = np.asarray(val[users[RV], CV]).ravel() > 0

    def at(scores: np.ndarray, mask: np.ndarray) -> float:
        return ndcg20(RV[mask], CV[mask], scores[mask], truth)

    both = np.ones(len(RV), dtype=bool)
    w_plain = ranking_weights(X.astype(np.float64), y, groups)
    w_ease = ranking_weights(np.c_[X.astype(np.float64), F], y, groups)
    rows = [
        ("hybrid as fitted (its candidates)", at(XV @ hy.weights_, FROM_HY), FROM_HY),
        ("hybrid's ranking model refitted here (its candidates)", at(XV @ w_plain, FROM_HY),
         FROM_HY),
        ("EASE alone (full ranking)", at(FV[:, 0], both), both),
        ("hybrid + EASE features (its candidates)", at(np.c_[XV, FV] @ w_ease, FROM_HY),
         FROM_HY),
        ("hybrid + EASE features (its candidates + EASE top 100)",
         at(np.c_[XV, FV] @ w_ease, both), both),
    ]
    base = rows[0][1]
    n_truth = truth.nnz
    return pd.DataFrame([
        {"data": name, "variant": v, "val NDCG@20": s, "vs hybrid": s / base,
         "candidate recall": label[m].sum() / n_truth, "users": len(users),
         "ease_regularization": regularization, "hybrid_fit_s": hybrid_s,
         "ease_inner_fit_s": ease_inner_s, "ease_fit_s": ease_s,
         "ease_weights": f"{w_ease[-2]:.3g}, {w_ease[-1]:.3g}"}
        for v, s, m in rows
    ])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("name", nargs="?", default="epinions")
    p.add_argument("--users", type=int, default=5000, help="validation users sampled")
    p.add_argument("--regularization", type=float, default=100.0,
                   help="EASE's lambda (default: the value the runner chose on Epinions)")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    frame = run(args.name, args.users, args.regularization)
    out = ROOT / "results" / f"hybrid_ease_bound_{args.name}"
    frame.to_csv(out.parent / f"{out.name}.csv", index=False)
    r0 = frame.iloc[0]
    lines = [
        f"# {args.name}: what an exact EASE feature would add to hybrid (validation only)",
        "",
        f"- Date: {dt.datetime.now().astimezone().isoformat(timespec='seconds')}, git {git_commit()}",
        f"- Machine: {machine()}",
        f"- Command: `.venv/bin/python experiments/hybrid_ease_bound/run.py {args.name} "
        f"--users {args.users} --regularization {args.regularization:g}`",
        f"- Wall time: {time.perf_counter() - t0:.0f} s (hybrid fit {r0['hybrid_fit_s']:.1f} s; "
        f"EASE fits {r0['ease_inner_fit_s']:.0f} s and {r0['ease_fit_s']:.0f} s)",
        "- Split: the headline split's training part, cut again per user 80/20 (seed 1), as the "
        f"runner tunes; {int(r0['users']):,} sampled validation users (seed 0). The test part is "
        "not used.",
        "- EASE features: the score, and the score divided by the user's best unseen score; "
        f"their learned weights (raw scale): {r0['ease_weights']}.",
        "- Candidate recall: the share of the sampled users' validation items among the ranked "
        "candidates (the most any ranking of them can find).",
        "",
        "| variant | val NDCG@20 | vs hybrid | candidate recall |",
        "|---|---:|---:|---:|",
    ]
    for _, r in frame.iterrows():
        lines.append(f"| {r['variant']} | {r['val NDCG@20']:.4f} | {r['vs hybrid']:.3f}x | "
                     f"{r['candidate recall']:.4f} |")
    (out.parent / f"{out.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
