"""cProfile of one single-machine feed build: ``hr.feed.build`` for a random sample of users.

Builds ``hr.datasets.synthetic(users, n_items=users // 2, seed=0)``, fits ``trust``
(``defence=None``) and profiles ``hr.feed.build(ds, ranker, sample, n=20)`` for ``sample``
users drawn at random (seed 0), index build included; prints the 30 most expensive calls.

Run from the repository root::

    python experiments/feed_profile/run.py 1000000 2000
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import haowurank as hr  # noqa: E402


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("users", type=int, nargs="?", default=1_000_000, help="world size")
    ap.add_argument("sample", type=int, nargs="?", default=2_000, help="feeds profiled")
    args = ap.parse_args(argv)
    n, k = args.users, args.sample
    t = time.perf_counter()
    ds = hr.datasets.synthetic(n, n_items=n // 2, seed=0)
    print(f"world {time.perf_counter() - t:.1f} s", flush=True)
    t = time.perf_counter()
    r = hr.rankers.make("trust", defence=None).fit(ds)
    print(f"trust fit {time.perf_counter() - t:.1f} s", flush=True)
    pick = np.sort(np.random.default_rng(0).choice(ds.n_users, k, replace=False))
    who = list(ds.user_ids[pick])
    prof = cProfile.Profile()
    t = time.perf_counter()
    prof.enable()
    feed = hr.feed.build(ds, r, who, n=20)
    prof.disable()
    print(f"feed.build for {k:,} users (index included): {time.perf_counter() - t:.1f} s, "
          f"{len(feed):,} rows", flush=True)
    pstats.Stats(prof).sort_stats("cumulative").print_stats(30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
