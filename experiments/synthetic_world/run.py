"""Time and memory of building synthetic worlds at 10k, 100k and 1M users.

Each size is built in a fresh child process, so its peak resident memory (``ru_maxrss``) is its
own. Items scale as ``n_items = min(n_users // 2, 500_000)``; every other knob is the default of
``haowurank.datasets.SyntheticWorld``. The child also times ``hr.split.random_split`` on the world
(test_fraction=0.2, seed=0), since every experiment splits what it builds.

Run from the repository root::

    .venv/bin/python experiments/synthetic_world/run.py
    .venv/bin/python experiments/synthetic_world/run.py --sizes 10000 100000   # quicker

It prints a Markdown table and writes it to ``experiments/synthetic_world/results/synthetic_world.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from haowurank.studies import provenance_lines

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent  # this study's folder
DEFAULT_OUT = HERE / "results" / "synthetic_world.md"


def n_items_for(n_users: int) -> int:
    return min(n_users // 2, 500_000)


def child(n_users: int, seed: int) -> dict:
    import haowurank as hr
    from haowurank.datasets import synthetic

    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = time.perf_counter()
    ds = synthetic(n_users=n_users, n_items=n_items_for(n_users), seed=seed, show_progress=False)
    build_s = time.perf_counter() - t
    rss_build = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = time.perf_counter()
    train, test = hr.split.random_split(ds, test_fraction=0.2, seed=0)
    split_s = time.perf_counter() - t
    s = ds.summary()
    return {
        "users": ds.n_users,
        "items": ds.n_items,
        "interactions": ds.n_interactions,
        "purchases": s.get("kind:purchase", 0),
        "recommend_after_purchase": s.get("kind:recommend_after_purchase", 0),
        "recommend": s.get("kind:recommend", 0),
        "views": s.get("kind:view", 0),
        "social_rows": ds.n_social,
        "blocks": s["blocks"],
        "social_share": ds.meta["realised"]["social_share"],
        "seconds": build_s,
        "rss_import_mb": rss0,
        "peak_rss_mb": rss_build,
        "split_seconds": split_s,
        "test_rows": test.n_interactions,
        "peak_rss_with_split_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child, args.seed)))
        return

    load_before = os.getloadavg()
    rows = []
    for n in args.sizes:
        print(f"building {n:,} users ...", file=sys.stderr, flush=True)
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(n), "--seed", str(args.seed)],
            check=True, capture_output=True, text=True, cwd=ROOT,
        )
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))

    head = ("| users | items | interactions | purchases | rec. after purchase | recommend | views "
            "| social rows | blocks | social share | build s | peak RSS MB | random_split s "
            "| peak RSS with split MB |")
    sep = "|" + "---:|" * 14
    lines = [head, sep]
    for r in rows:
        lines.append(
            f"| {r['users']:,} | {r['items']:,} | {r['interactions']:,} | {r['purchases']:,} "
            f"| {r['recommend_after_purchase']:,} | {r['recommend']:,} | {r['views']:,} "
            f"| {r['social_rows']:,} | {r['blocks']:,} | {r['social_share']:.3f} "
            f"| {r['seconds']:.1f} | {r['peak_rss_mb']:,.0f} | {r['split_seconds']:.1f} "
            f"| {r['peak_rss_with_split_mb']:,.0f} |"
        )
    table = "\n".join(lines)
    load_after = os.getloadavg()
    sizes = " ".join(str(s) for s in args.sizes)
    cmd = ".venv/bin/python experiments/synthetic_world/run.py"
    if args.sizes != [10_000, 100_000, 1_000_000]:
        cmd += f" --sizes {sizes}"
    if args.seed:
        cmd += f" --seed {args.seed}"
    doc = f"""# Synthetic world: build time and memory

`hr.datasets.synthetic(n_users, n_items=min(n_users // 2, 500_000), seed={args.seed})` with every
other knob at its default (`haowurank.datasets.SyntheticWorld`), each size built in a fresh
process. *Peak RSS* is the process's `ru_maxrss` after the build (it includes the Python
interpreter and imported libraries, about {rows[0]['rss_import_mb']:.0f} MB); *random_split s* times
`hr.split.random_split(ds, test_fraction=0.2, seed=0)` on the built world, and the last column is
the peak with that split held too. *Social share* is the realised share of purchases that copy
a friend's endorsement.

{table}

- Command: `{cmd}` (from the repository root)
{chr(10).join(provenance_lines(cmd)[1:])}
- The machine is shared with other jobs: the 1-minute load average was
  {load_before[0]:.1f} before and {load_after[0]:.1f} after the run, so on a quiet machine times are lower.
"""
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(doc)
    print(table)
    print(f"written to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
