"""How many accounts the SybilRank step of ``hr.trust.defend`` flags on clean data, per threshold.

The issue-8 buyer-sybil case (sybils that keep a real purchase, 300 attack edges on LastFM)
passes the default threshold 0.25 and is stopped by 0.5
(``experiments/attack_robustness/results/attack_robustness_threshold.md``). This script measures the other side
of that trade: the honest accounts each threshold flags on the real data sets and the
synthetic worlds (their endorsements would be dropped from training data and, with the feed's
defence on, from the feed), and whether the cleaned training data differ.

Run from the repository root (the machine is shared: nice it)::

    nice -n 10 .venv/bin/python experiments/defence_flags/run.py

Writes ``experiments/defence_flags/results/defence_flags.md``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

import haowurank as hr
from haowurank.studies import provenance_lines

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent  # this study's folder
DATA = hr.datasets.data_root()  # $HAOWURANK_DATA or ../shared/data (the registry's lookup)
OUT = HERE / "results" / "defence_flags.md"
THRESHOLDS = (0.25, 0.5)


def worlds():
    yield "lastfm", lambda: hr.datasets.load_lastfm(DATA / "lastfm-hetrec2011")
    yield "ciao", lambda: hr.datasets.load_ciao(DATA / "ciao")
    yield "epinions", lambda: hr.datasets.load_epinions(DATA / "epinions")
    yield "filmtrust", lambda: hr.datasets.load_filmtrust(DATA / "filmtrust")
    yield "synthetic-20k", lambda: hr.datasets.synthetic(n_users=20000, n_items=10000, seed=0,
                                                         show_progress=False)
    yield "synthetic-100k", lambda: hr.datasets.synthetic(n_users=100000, n_items=50000, seed=0,
                                                          show_progress=False)


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    rows = []
    for name, load in worlds():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", hr.DataWarning)
            ds = load()
        social = ds.social_matrix(weighted=False).tocsc()
        followed = np.diff(social.indptr) > 0
        inter = ds.interaction_arrays()
        endorse = np.isin(inter["kind"], [hr.KINDS.index(k) for k in hr.ENDORSEMENT_KINDS])
        endorsers = np.zeros(ds.n_users, dtype=bool)
        endorsers[inter["user"][endorse]] = True
        res = {t: hr.trust.defend(ds, **{**hr.trust.DEFAULT_DEFENCE, "sybil_threshold": t})
               for t in THRESHOLDS}
        same = res[THRESHOLDS[0]].dataset.equals(res[THRESHOLDS[1]].dataset)
        for t in THRESHOLDS:
            s = res[t].suspicious
            rows.append({
                "dataset": name, "users": ds.n_users, "threshold": t,
                "flagged": int(s.sum()), "flagged_share": float(s.mean()),
                "flagged_followed": int((s & followed).sum()),
                "flagged_endorsers": int((s & endorsers).sum()),
                "endorsement_rows_dropped": int(res[t].report.get("suspicious_rows_dropped", 0)),
                "same_training_data": same,
            })
            print(rows[-1], flush=True)
    lines = [
        "# SybilRank threshold: accounts flagged on clean data",
        "",
        "`hr.trust.defend` with `hr.trust.DEFAULT_DEFENCE` and `sybil_threshold` 0.25 (the "
        "default) or 0.5. *flagged*: accounts below the threshold (their endorsements are "
        "dropped); *followed*: of those, accounts someone follows (only those can reach a feed); "
        "*endorsers*: of those, accounts with endorsement rows in the data; *same training "
        "data*: the two thresholds give identical cleaned datasets (so identical models).",
        "",
        "| dataset | users | threshold | flagged | share | flagged and followed | flagged "
        "endorsers | endorsement rows dropped | same training data |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['users']} | {r['threshold']} | {r['flagged']} | "
            f"{100 * r['flagged_share']:.2f}% | {r['flagged_followed']} | "
            f"{r['flagged_endorsers']} | {r['endorsement_rows_dropped']} | "
            f"{'yes' if r['same_training_data'] else 'no'} |")
    la = os.getloadavg()
    lines += [
        "",
        "## Run",
        "",
        *provenance_lines("nice -n 10 .venv/bin/python experiments/defence_flags/run.py"),
        f"- Wall time {(time.perf_counter() - t0) / 60:.1f} min; 1-minute load average "
        f"{load_before[0]:.1f} before, {la[0]:.1f} after (shared with other jobs).",
    ]
    OUT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
