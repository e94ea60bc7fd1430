"""How many accounts the SybilRank step of ``hr.trust.defend`` flags on clean data, per cut.

A cut is ``sybil_threshold`` in units of ``sybil_reference``: ``"median"`` (the default: the
median trust of the accounts the walk can judge, those with a follower, capped at the
even-spread level) or ``"even"`` (the even-spread level itself, the unit before issue 20). The
attack side of the trade is ``experiments/attack_robustness/``; this script measures the honest
accounts each cut flags on the real data sets and the synthetic worlds (their endorsements would
be dropped from training data and, with the feed's defence on, from the feed).

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
#: (sybil_threshold, sybil_reference); the first is the default of hr.trust.DEFAULT_DEFENCE.
CUTS = tuple(dict.fromkeys([
    (hr.trust.DEFAULT_DEFENCE["sybil_threshold"], hr.trust.DEFAULT_DEFENCE["sybil_reference"]),
    (0.25, "median"), (0.1, "median"), (0.25, "even"), (0.5, "median"),
]))


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
        res = {c: hr.trust.defend(ds, **{**hr.trust.DEFAULT_DEFENCE, "sybil_threshold": c[0],
                                         "sybil_reference": c[1]})
               for c in CUTS}
        default = res[CUTS[0]].dataset
        med = float(np.median(res[CUTS[0]].account_trust[followed])) if followed.any() else 0.0
        for c in CUTS:
            s = res[c].suspicious
            rows.append({
                "dataset": name, "users": ds.n_users, "judged": int(followed.sum()),
                "median_trust": med, "threshold": c[0], "reference": c[1],
                "cut": float(res[c].report.get("sybil_cut", float("nan"))),
                "flagged": int(s.sum()), "flagged_share_judged": float(s.sum() / max(followed.sum(), 1)),
                "flagged_endorsers": int((s & endorsers).sum()),
                "endorsement_rows_dropped": int(res[c].report.get("suspicious_rows_dropped", 0)),
                "endorsement_rows": int(endorse.sum()),
                "same_as_default": res[c].dataset.equals(default),
            })
            print(rows[-1], flush=True)
    lines = [
        "# SybilRank cut: accounts flagged on clean data",
        "",
        "`hr.trust.defend` with `hr.trust.DEFAULT_DEFENCE` and the cut `sybil_threshold` x "
        "`sybil_reference`: *median* (the default) is the median normalised trust of the judged "
        "accounts capped at 1, *even* the even-spread level (1). *judged*: accounts with at "
        "least one follower (the only ones the trust walk can reach); *median trust*: their "
        "median normalised trust; *cut*: the trust level below which an account is flagged; "
        "*flagged*: judged accounts below the cut (their endorsements are dropped); *endorsers*: "
        "of those, accounts with endorsement rows in the data; *same as default*: the cleaned "
        "training data equal those of the default cut.",
        "",
        "| dataset | users | judged | median trust | threshold | reference | cut | flagged | "
        "share of judged | flagged endorsers | endorsement rows dropped | same as default |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['users']} | {r['judged']} | {r['median_trust']:.3f} | "
            f"{r['threshold']} | {r['reference']} | {r['cut']:.3f} | {r['flagged']} | "
            f"{100 * r['flagged_share_judged']:.2f}% | {r['flagged_endorsers']} | "
            f"{r['endorsement_rows_dropped']} of {r['endorsement_rows']} | "
            f"{'yes' if r['same_as_default'] else 'no'} |")
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
