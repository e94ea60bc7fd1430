"""Single-machine friends' feeds at scale: ``hr.feed.build`` for every user of a large world.

For each size: ``hr.datasets.synthetic(users, n_items=users // 2, seed=0)`` (the worlds of
``bench_spark.py``), a ``trust`` ranker with ``defence=None`` (as the Spark path scores), then
``hr.feed.build(ds, ranker, users, n=20)`` for every user in chunks of ``--chunk`` users. The
first chunk also builds the feed index (visibility graph and exclusion keys), timed apart.

Prints and writes ``results/feed_scale.md`` / ``.csv``: index seconds, feed seconds for all
users, milliseconds per user (median over chunks and overall), rows, peak RSS.

Run from the repository root::

    python experiments/feed_scale/run.py --sizes 100000 1000000
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent  # this study's folder
sys.path.insert(0, str(ROOT))

from tqdm.auto import tqdm  # noqa: E402

import haowurank as hr  # noqa: E402
from haowurank.studies import provenance_lines  # noqa: E402

OUT = HERE / "results" / "feed_scale"


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_size(n_users: int, chunk: int, n: int, limit: int | None) -> dict:
    t = time.perf_counter()
    ds = hr.datasets.synthetic(n_users, n_items=n_users // 2, seed=0)
    world_s = time.perf_counter() - t
    t = time.perf_counter()
    r = hr.rankers.make("trust", defence=None).fit(ds)
    fit_s = time.perf_counter() - t
    users = ds.user_ids if limit is None else ds.user_ids[:limit]
    t = time.perf_counter()
    hr.feed.index_for(ds)
    index_s = time.perf_counter() - t
    per_chunk, rows = [], 0
    t_all = time.perf_counter()
    for a in tqdm(range(0, len(users), chunk), desc=f"feeds {n_users:,}", unit="chunk"):
        who = list(users[a:a + chunk])
        t = time.perf_counter()
        rows += len(hr.feed.build(ds, r, who, n=n))
        per_chunk.append((time.perf_counter() - t) / len(who) * 1000)
    feed_s = time.perf_counter() - t_all
    return {
        "users": n_users, "items": ds.n_items, "interactions": ds.n_interactions,
        "social_rows": ds.n_social, "feed_users": len(users), "world_s": world_s,
        "trust_fit_s": fit_s, "index_s": index_s, "feeds_s": feed_s,
        "ms_per_user": feed_s / len(users) * 1000,
        "ms_per_user_median_chunk": float(np.median(per_chunk)), "rows": rows,
        "peak_rss_mb": _rss_mb(),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--chunk", type=int, default=10_000)
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--limit", type=int, default=None,
                    help="feeds for the first LIMIT users only (default: every user)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    rows = []
    for size in args.sizes:
        res = run_size(size, args.chunk, args.n, args.limit)
        print(res, flush=True)
        rows.append(res)
    df = pd.DataFrame(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out.with_suffix(".csv"), index=False)
    cmd = "python experiments/feed_scale/run.py " + " ".join(sys.argv[1:])
    lines = [
        "# Single-machine friends' feeds for every user of a large world", "",
        *provenance_lines(cmd.strip()),
        "- The machine is shared with other jobs, so times are upper bounds.",
        f"- `hr.feed.build(ds, trust ranker (defence=None), users, n={args.n})` in chunks of "
        f"{args.chunk:,} users; *index s* is the one-off feed index (visibility graph, "
        f"exclusion keys) built before the first chunk; *peak RSS* is the process's.", "",
        "| users | items | social rows | trust fit s | index s | feeds s | ms / user | "
        "median chunk ms / user | feed rows | peak RSS MB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        who = "" if r["feed_users"] == r["users"] else f" (first {r['feed_users']:,})"
        lines.append(
            f"| {r['users']:,}{who} | {r['items']:,} | {r['social_rows']:,} | "
            f"{r['trust_fit_s']:.1f} | {r['index_s']:.1f} | {r['feeds_s']:.1f} | "
            f"{r['ms_per_user']:.3f} | {r['ms_per_user_median_chunk']:.3f} | {r['rows']:,} | "
            f"{r['peak_rss_mb']:,.0f} |"
        )
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
