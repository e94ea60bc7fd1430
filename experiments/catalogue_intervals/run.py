"""Does a bootstrap over users give valid intervals for catalogue-level metrics?

Coverage and exposure Gini are computed from the union of every user's top-k list, not as a mean
of per-user values. This study fits a few strategies on a seeded synthetic world, computes each
metric on all users' lists, and draws percentile-bootstrap resamples of the users (with
replacement, as the dashboard does for per-user metrics). It reports whether the bootstrap
interval contains the estimate itself. Run from the repository root::

    .venv/bin/python experiments/catalogue_intervals/run.py

It prints a Markdown table and writes it to
``experiments/catalogue_intervals/results/catalogue_intervals.md``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import haowurank as hr
from haowurank import metrics
from haowurank.studies import provenance_lines

HERE = Path(__file__).resolve().parent
OUT = HERE / "results" / "catalogue_intervals.md"
METRICS = {
    "Coverage@20": lambda rec, n: metrics.coverage(rec, n, 20),
    "Gini@20": lambda rec, n: metrics.exposure_gini(rec, n, 20),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--items", type=int, default=1000)
    ap.add_argument("--resamples", type=int, default=200)
    ap.add_argument("--strategies", nargs="+", default=["popularity", "als", "trust", "hybrid"])
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()

    ds = hr.datasets.synthetic(n_users=args.users, n_items=args.items, seed=0)
    train, _ = hr.split.random_split(ds, test_fraction=0.2, seed=0)
    pos = {item: j for j, item in enumerate(train.item_ids)}
    rows = []
    for name in args.strategies:
        ranker = hr.rankers.make(name).fit(train)
        ids, _ = ranker.recommend(list(train.user_ids), n=20)
        rec = np.array([[pos.get(x, -1) for x in row] for row in ids], dtype=np.int64)
        rng = np.random.default_rng(0)
        draws = rng.integers(0, len(rec), size=(args.resamples, len(rec)))
        for metric, fn in METRICS.items():
            est = fn(rec, train.n_items)
            boot = np.array([fn(rec[d], train.n_items) for d in draws])
            lo, hi = np.quantile(boot, [0.025, 0.975])
            rows.append(f"| {name} | {metric} | {est:.4f} | {lo:.4f} | {hi:.4f} | "
                        f"{'yes' if lo <= est <= hi else 'no'} |")
    command = (f".venv/bin/python experiments/catalogue_intervals/run.py --users {args.users} "
               f"--items {args.items} --resamples {args.resamples} "
               f"--strategies {' '.join(args.strategies)}")
    text = "\n".join([
        "# Bootstrap over users for catalogue-level metrics",
        "",
        *provenance_lines(command),
        "",
        f"Synthetic world ({args.users} users, {args.items} items, seed 0), 80/20 random split "
        f"(seed 0); every training user's top-20 list; {args.resamples} percentile-bootstrap "
        "resamples of the users with replacement.",
        "",
        "| strategy | metric | on all users | bootstrap 2.5% | bootstrap 97.5% | contains the estimate |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
    ])
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
