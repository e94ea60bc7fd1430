"""Load every real data set in ../shared/data and report its counts, repairs and load time.

Each loader runs ``--repeat`` times in this process (the first run includes file-cache warm-up);
the table gives the best and the first wall time. Run from the repository root::

    .venv/bin/python experiments/loaders/run.py

It prints a Markdown table and writes it to ``experiments/loaders/results/loaders.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import haowurank as hr
from haowurank.studies import provenance_lines

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent  # this study's folder
DATA = hr.datasets.data_root()  # $HAOWURANK_DATA or ../shared/data (the registry's lookup)
OUT = HERE / "results" / "loaders.md"

LOADERS = [
    ("lastfm-hetrec2011", "load_lastfm"),
    ("ciao", "load_ciao"),
    ("epinions", "load_epinions"),
    ("filmtrust", "load_filmtrust"),
    ("ciaodvd", "load_ciaodvd"),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    rows = []
    for folder, fn in LOADERS:
        if not (DATA / folder).is_dir():
            print(f"skipping {folder}: not found under {DATA}", file=sys.stderr)
            continue
        loader = getattr(hr.datasets, fn)
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            with warnings.catch_warnings(record=True) as rec:
                warnings.simplefilter("always")
                ds = loader(DATA / folder)
            times.append(time.perf_counter() - t0)
        c = ds.meta["cleaning"]
        repairs = [str(w.message) for w in rec if issubclass(w.category, hr.DataWarning)]
        rows.append(
            f"| {folder} | `{fn}` | {ds.n_users:,} | {ds.n_items:,} | {ds.n_interactions:,} | "
            f"{ds.n_social:,} | {c['social_only_users']:,} | {'yes' if ds.has_timestamps else 'no'}"
            f" | {'<br>'.join(repairs) or 'none'} | {min(times):.2f} | {times[0]:.2f} |"
        )
    lines = [
        "# Real-data loaders: counts after repairs, and load time",
        "",
        *provenance_lines(f".venv/bin/python experiments/loaders/run.py --repeat {args.repeat}"),
        f"- Data: {DATA}",
        "",
        "Default loader arguments (rating sets: duplicates='max'; Last.fm: without tags).",
        "",
        "| data set | loader | users | items | interactions | social rows | social-only users "
        "| timestamps | repairs (DataWarning) | best s | first s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
