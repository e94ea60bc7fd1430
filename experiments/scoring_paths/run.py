"""Exact fast paths of scoring against the paths they replace, timed in the same run.

Each row times a new path and the reference it must equal (the equality is asserted here too,
and in the unit tests), medians of ``--repeats`` alternating runs:

- ``topk``: the sampled-threshold top 20 against a full ``argpartition`` of every row, on a
  256 x 10,685 block of normal scores (Ciao's catalogue width);
- spline terms: the piecewise-polynomial form (``PPoly.from_spline``) against the B-spline
  recursion, per value, on 2 million values of one 3-knot cubic spline;
- the cold-start fallback: ``recommend_at`` (which walks ``shared_topk``'s one score order)
  against a dense row per user (``score_rows``, seen items masked, then ``topk``), item-kNN on
  LastFM's training part, 5,000 unknown users, top 20, in batches of 256;
- ``popularity`` recommend for every LastFM training user: ``recommend_at`` (the shared walk)
  against the dense path, in batches of the ranker's ``batch_size``;
- ALS recommend with a candidate set (the runner's trainable items) on Epinions' training
  part, tuned ALS, every training user: the complement handed to implicit's top-k as
  ``filter_items`` against implicit's ``items=`` path (its output turned into haowurank's
  padded, tie-ordered lists here).

The references are written here with public names only (numpy, implicit, and the rankers'
public members): a full ``argpartition`` top-k, the dense recommend path and the conversion of
implicit's lists.

    .venv/bin/python experiments/scoring_paths/run.py

writes experiments/scoring_paths/results/scoring_paths.md (and prints it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import time
import warnings
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.interpolate import BSpline, PPoly

import haowurank as hr
from haowurank.rankers import finish_topk, partition_topk, topk
from haowurank.studies import (
    git_commit,
    load_config,
    load_dataset,
    machine,
    preprocess,
    versions,
)

ROOT = Path(__file__).resolve().parent  # this study's folder
QUALITY = ROOT.parent / "ranking_quality"  # the headline configs and their results


def _paired(new, old, repeats: int, atol: float = 0.0) -> tuple[float, float]:
    """Median seconds of ``new()`` and ``old()``, alternating; their results (tuples of
    arrays) must be equal (within ``atol``)."""
    for x, y in zip(new(), old()):
        np.testing.assert_allclose(x, y, rtol=0, atol=atol)
    tn, to = [], []
    for _ in range(repeats):
        for fn, acc in ((new, tn), (old, to)):
            t0 = time.perf_counter()
            fn()
            acc.append(time.perf_counter() - t0)
    return statistics.median(tn), statistics.median(to)


def _batched(fn, users: np.ndarray, bs: int):
    return lambda: tuple(np.concatenate(p) for p in zip(*(
        fn(users[s : s + bs], 20, True, None) for s in range(0, len(users), bs))))


def dense_recommend(ranker, uidx: np.ndarray, n: int, exclude_seen: bool, cand=None):
    """The dense reference of ``recommend_at``: a score row per user (``score_rows``, with the
    cold-start rule), non-candidates and seen items at -inf, then ``topk``."""
    s = ranker.score_rows(uidx)
    if cand is not None:
        s[:, ~cand] = -np.inf
    if exclude_seen:
        known = np.flatnonzero(uidx >= 0)
        if len(known):
            sub = ranker.seen_[uidx[known]].tocoo()
            s[known[sub.row], sub.col] = -np.inf
    return topk(s, n)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    gen = np.random.default_rng(0)
    rows = []

    S = gen.normal(size=(256, 10_685)).astype(np.float32)
    tn, to = _paired(lambda: topk(S, 20), lambda: partition_topk(S, 20), args.repeats)
    rows.append(("topk of a 256 x 10,685 block, n = 20", "ms per block", tn * 1e3, to * 1e3))

    t = np.r_[[-3.0, -2.0, -1.0], [0.0, 0.5, 1.0], [2.0, 3.0, 4.0]]
    c = gen.normal(size=len(t) - 4)
    x = np.clip(gen.normal(size=2_000_000) * 0.6 + 0.5, 0.0, 1.0)
    pp = PPoly.from_spline(BSpline(t, c, 3), extrapolate=False)
    bs_ = BSpline(t, c, 3, extrapolate=False)
    tn, to = _paired(lambda: (pp(x),), lambda: (bs_(x),), args.repeats, atol=1e-12)
    rows.append(("one cubic spline term, 2M values", "ns per value", tn / len(x) * 1e9,
                 to / len(x) * 1e9))

    cfg = load_config(QUALITY / "lastfm.toml")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = preprocess(load_dataset(cfg.dataset, cfg.source), cfg.preprocess)
    train, _ = hr.split.random_split(ds, cfg.split.test_fraction, seed=cfg.split.seed)
    knn = hr.rankers.make("item_knn", K=200).fit(train)
    unknown = -np.ones(5000, dtype=np.int64)
    tn, to = _paired(
        _batched(lambda u, n, ex, _: knn.recommend_at(u, n, exclude_seen=ex), unknown, 256),
        _batched(partial(dense_recommend, knn), unknown, 256), args.repeats)
    rows.append(("item-kNN fallback, 5,000 unknown users (LastFM)", "users/s",
                 len(unknown) / tn, len(unknown) / to))

    pop = hr.rankers.make("popularity").fit(train)
    users = np.arange(train.n_users)
    tn, to = _paired(
        _batched(lambda u, n, ex, _: pop.recommend_at(u, n, exclude_seen=ex), users,
                 pop.batch_size),
        _batched(partial(dense_recommend, pop), users, pop.batch_size), args.repeats)
    rows.append((f"popularity, all {len(users):,} LastFM training users", "users/s",
                 len(users) / tn, len(users) / to))

    cfg = load_config(QUALITY / "epinions.toml")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = preprocess(load_dataset(cfg.dataset, cfg.source), cfg.preprocess)
    train, _ = hr.split.random_split(ds, cfg.split.test_fraction, seed=cfg.split.seed)
    params = json.loads(pd.read_csv(QUALITY / "results" / "epinions.csv")
                        .set_index("strategy").loc["als", "params"])
    als = hr.rankers.make("als", **params).fit(train)
    model, seen = als.model_, als.seen_
    cand = np.flatnonzero(np.diff(train.matrix(weight="binary").tocsc().indptr) > 0)
    users = np.arange(train.n_users)
    bs = als.batch_size

    tn, to = _paired(
        _batched(lambda u, n, ex, _: model.recommend(u, seen[u], n, exclude_seen=ex,
                                                     items=cand), users, bs),
        _batched(lambda u, n, ex, _: finish_topk(*model.model.recommend(
            u.astype(np.int32), seen[u], N=n, filter_already_liked_items=ex,
            items=cand.astype(np.int32)), n), users, bs),
        args.repeats, atol=1e-6)
    rows.append((f"ALS with {len(cand):,} of {train.n_items:,} items as candidates, all "
                 f"{len(users):,} Epinions training users", "users/s", len(users) / tn,
                 len(users) / to))

    lines = [
        "# Exact fast paths of scoring against the paths they replace",
        "",
        f"- Date: {dt.datetime.now().astimezone().isoformat(timespec='seconds')}, git "
        f"{git_commit()}",
        f"- Machine: {machine()}; medians of {args.repeats} alternating runs",
        f"- Software: {versions()}",
        "- Command: `.venv/bin/python experiments/scoring_paths/run.py"
        + (f" --repeats {args.repeats}" if args.repeats != 5 else "") + "`",
        "- Each new path's output was checked equal to the reference's in this run (the spline "
        "terms within 1e-12, the ALS scores within 1e-6).",
        "",
        "| what | unit | new path | reference | ratio (new over reference) |",
        "|---|---|---:|---:|---:|",
    ]
    for what, unit, new, old in rows:
        lines.append(f"| {what} | {unit} | {new:,.1f} | {old:,.1f} | {new / old:.2f}x |")
    text = "\n".join(lines) + "\n"
    (ROOT / "results" / "scoring_paths.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
