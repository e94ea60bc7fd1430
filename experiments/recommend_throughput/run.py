"""Fit time and batch-recommend throughput of haowurank's ``als`` against implicit's own
``AlternatingLeastSquares`` on the same matrix and the same factors, in the same process.

For each data set (Last.fm HetRec 2011 from ../shared/data, and a seeded synthetic power-law
matrix):

- fit: haowurank ``ALSRanker.fit(ds)`` (builds the CF matrix from the Dataset, then implicit) vs
  implicit ``AlternatingLeastSquares.fit`` on the very CSR matrix haowurank built, same
  hyperparameters and seed (the factors are checked to be identical);
- recommend: all users, n=20, seen items excluded. haowurank ``ranker.recommend(user_ids)``
  (caller ids in, caller ids out) vs ``model.recommend(np.arange(n_users), seen, N=20,
  filter_already_liked_items=True)`` on the same fitted implicit model (indices in and out).

Runs alternate between the two sides and the table gives medians over ``--repeat`` runs. Run from
the repository root::

    .venv/bin/python experiments/recommend_throughput/run.py

It prints a Markdown table and writes it to ``experiments/recommend_throughput/results/recommend_throughput.md``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

import haowurank as hr
from haowurank import rankers
from haowurank.studies import provenance_lines

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent  # this study's folder
DATA = hr.datasets.data_root()  # $HAOWURANK_DATA or ../shared/data (the registry's lookup)
OUT = HERE / "results" / "recommend_throughput.md"


def load_lastfm() -> hr.Dataset | None:
    folder = DATA / "lastfm-hetrec2011"
    if not folder.is_dir():
        print(f"skipping lastfm: {folder} not found", file=sys.stderr)
        return None
    return hr.datasets.load_lastfm(folder)


def synthetic_matrix(n_users: int, n_items: int, per_user: int, seed: int) -> hr.Dataset:
    """A power-law user x item matrix: item popularity ~ Zipf(1.1), user activity ~ lognormal."""
    rng = np.random.default_rng(seed)
    act = np.clip(rng.lognormal(np.log(per_user), 0.8, n_users).astype(int), 1, n_items // 4)
    pop = 1.0 / np.arange(1, n_items + 1) ** 1.1
    pop /= pop.sum()
    users = np.repeat(np.arange(n_users), act)
    items = rng.choice(n_items, size=len(users), p=pop)
    frame = pd.DataFrame({"user": users, "item": items}).drop_duplicates()
    frame["weight"] = rng.integers(1, 5, len(frame)).astype(float)
    return hr.Dataset.from_frames(frame, meta={"name": "synthetic power-law"})


def bench(name: str, ds: hr.Dataset, params: dict, repeat: int, fit_repeat: int) -> dict:
    import implicit  # the benchmark compares against implicit itself

    print(f"{name}: {ds}", flush=True)
    fit_hr, fit_imp = [], []
    for _ in range(fit_repeat):
        r = rankers.make("als", **params)
        t0 = time.perf_counter()
        r.fit(ds)
        fit_hr.append(time.perf_counter() - t0)
        X = r.cf_
        m = implicit.als.AlternatingLeastSquares(
            factors=params["factors"], regularization=r.regularization, alpha=r.alpha,
            iterations=params["iterations"],
            random_state=r.model_.params["random_state"],  # the seed haowurank handed implicit
            num_threads=params["num_threads"],
        )
        t0 = time.perf_counter()
        with threadpool_limits(1, "blas"):
            m.fit(X, show_progress=False)
        fit_imp.append(time.perf_counter() - t0)
    same_factors = np.array_equal(m.item_factors, r.model_.item_factors) and np.array_equal(
        m.user_factors, r.model_.user_factors
    )
    # recommend throughput: the same fitted implicit model on both sides
    model = r.model_.model
    users = list(ds.user_ids)
    uidx = np.arange(ds.n_users, dtype=np.int32)
    seen = r.seen_
    n = 20
    rec_hr, rec_imp, rec_imp1 = [], [], []
    r.recommend(users[:10], n=n)  # warm-up of both paths
    model.recommend(uidx[:10], seen[:10], N=n)
    for _ in range(repeat):
        t0 = time.perf_counter()
        ids_hr, sc_hr = r.recommend(users, n=n)
        rec_hr.append(time.perf_counter() - t0)
        # implicit as called plainly (BLAS keeps its own thread pool) ...
        t0 = time.perf_counter()
        ids_imp, sc_imp = model.recommend(uidx, seen, N=n, filter_already_liked_items=True)
        rec_imp.append(time.perf_counter() - t0)
        # ... and with one BLAS thread, as haowurank's bridge calls it (implicit's advice for fit)
        t0 = time.perf_counter()
        with threadpool_limits(1, "blas"):
            model.recommend(uidx, seen, N=n, filter_already_liked_items=True)
        rec_imp1.append(time.perf_counter() - t0)
    # same lists? (implicit's ids are indices; ties of equal float32 scores may be ordered apart)
    ids_imp_caller = np.where(sc_imp > -1e37, ds.item_ids[np.clip(ids_imp, 0, None)], -1)
    agree = float(np.mean(ids_hr == ids_imp_caller))
    score_diff = float(np.max(np.abs(np.where(np.isfinite(sc_hr), sc_hr, 0) -
                                     np.where(sc_imp > -1e37, sc_imp, 0))))
    med = statistics.median
    out = {
        "name": name, "users": ds.n_users, "items": ds.n_items, "nnz": r.cf_.nnz,
        "fit_hr": med(fit_hr), "fit_imp": med(fit_imp), "same_factors": same_factors,
        "ups_hr": ds.n_users / med(rec_hr), "ups_imp": ds.n_users / med(rec_imp),
        "ups_imp1": ds.n_users / med(rec_imp1), "agree": agree, "score_diff": score_diff,
    }
    # the target is measured against the faster of the two ways of calling implicit
    out["ratio"] = out["ups_hr"] / max(out["ups_imp"], out["ups_imp1"])
    print(
        f"  fit {out['fit_hr']:.2f}s vs {out['fit_imp']:.2f}s (same factors: {same_factors}); "
        f"recommend {out['ups_hr']:,.0f} vs {out['ups_imp']:,.0f} (plain) / "
        f"{out['ups_imp1']:,.0f} (1 BLAS thread) users/s = {out['ratio']:.2f}x; "
        f"lists agree {agree:.4f}, max score difference {score_diff:.2g}", flush=True,
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7, help="recommend runs per side")
    ap.add_argument("--fit-repeat", type=int, default=3, help="fit runs per side")
    ap.add_argument("--factors", type=int, default=64)
    ap.add_argument("--iterations", type=int, default=15)
    ap.add_argument("--num-threads", type=int, default=0)
    ap.add_argument("--synthetic-users", type=int, default=20_000)
    ap.add_argument("--synthetic-items", type=int, default=10_000)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    warnings.simplefilter("ignore", hr.DataWarning)
    params = dict(factors=args.factors, iterations=args.iterations, num_threads=args.num_threads,
                  random_state=0)
    results = []
    lfm = load_lastfm()
    if lfm is not None:
        results.append(bench("lastfm-hetrec2011", lfm, params, args.repeat, args.fit_repeat))
    syn = synthetic_matrix(args.synthetic_users, args.synthetic_items, 40, seed=0)
    results.append(bench("synthetic power-law", syn, params, args.repeat, args.fit_repeat))


    cmd = " ".join([".venv/bin/python", "experiments/recommend_throughput/run.py", *sys.argv[1:]])
    lines = [
        "# Batch recommend throughput and fit time: haowurank `als` vs implicit",
        "",
        *provenance_lines(cmd),
        f"Model: ALS factors={args.factors}, iterations={args.iterations}, "
        f"num_threads={args.num_threads} (0: all cores), random_state=0, haowurank defaults "
        f"otherwise (weighting='binary' with kind weights, alpha=5, regularization=0.1); "
        f"implicit fitted on the same CSR with the same hyperparameters and seed.  ",
        f"Recommend: every user, n=20, seen items excluded, all items candidates; medians of "
        f"{args.repeat} alternating runs per side (fit: {args.fit_repeat}). haowurank's time "
        f"includes id mapping both ways; implicit's is indices only. implicit is timed as called "
        f"plainly and inside `threadpool_limits(1, 'blas')` (how haowurank's bridge calls it: "
        f"implicit's top-k already runs its batches in parallel, and BLAS threads on top of that "
        f"oversubscribe the cores); the ratio is against the faster of the two. Target: "
        f"haowurank >= 0.7x implicit's users/s.",
        "",
        "| data set | users | items | CF entries | fit s haowurank | fit s implicit | same factors "
        "| users/s haowurank | users/s implicit (plain) | users/s implicit (1 BLAS thread) "
        "| ratio | same item at a rank |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for o in results:
        lines.append(
            f"| {o['name']} | {o['users']:,} | {o['items']:,} | {o['nnz']:,} | {o['fit_hr']:.2f} "
            f"| {o['fit_imp']:.2f} | {'yes' if o['same_factors'] else 'no'} | {o['ups_hr']:,.0f} "
            f"| {o['ups_imp']:,.0f} | {o['ups_imp1']:,.0f} | {o['ratio']:.2f}x "
            f"| {o['agree']:.2%} |"
        )
    lines += [
        "",
        "Synthetic power-law: item popularity Zipf(1.1), user activity lognormal around 40 items, "
        f"{args.synthetic_users:,} x {args.synthetic_items:,}, seed 0. 'Same item at a rank' "
        "compares the two lists position by position (differences come only from equal float32 "
        "scores, which haowurank orders by item index).",
        "",
    ]
    text = "\n".join(lines)
    print()
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
