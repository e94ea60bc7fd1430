"""Does the popular retrieval source (``n_popular_candidates``) close two-stage `hybrid`'s gap
to full ranking on the VALIDATION split (never the test part)?

Splits the headline training part again (``hr.split.validation_split``, 20% per user, seed 1),
fits `hybrid` (defaults) on the fit part, and compares validation NDCG@20 of the two-stage
lists with ``n_popular_candidates`` in ``--popular`` against the full ranking of every item by
the same fitted model, on ``--users`` sampled validation users.

    nice -n 10 .venv/bin/python experiments/two_stage_serving/popular_validation.py epinions

writes experiments/two_stage_serving/results/popular_validation.md.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import warnings
from pathlib import Path

import numpy as np

import haowurank as hr
from haowurank.studies import load_config, load_dataset, preprocess, provenance_lines

ROOT = Path(__file__).resolve().parent
QUALITY = ROOT.parent / "ranking_quality"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("names", nargs="*", default=["epinions"])
    p.add_argument("--users", type=int, default=2000, help="sampled validation users")
    p.add_argument("--popular", type=int, nargs="*", default=[0, 100, 200, 400])
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    warnings.simplefilter("ignore", hr.DataWarning)
    cmd = (f"nice -n {os.nice(0)} .venv/bin/python experiments/two_stage_serving/"
           "popular_validation.py " + shlex.join(sys.argv[1:] if argv is None else argv))
    load_before = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = ["# Popular retrieval source on the validation split", ""]
    body = []
    for name in args.names:
        cfg = load_config(QUALITY / f"{name}.toml")
        ds = preprocess(load_dataset(cfg.dataset, cfg.source), cfg.preprocess)
        train, _ = hr.split.random_split(ds, cfg.split.test_fraction, seed=cfg.split.seed)
        fit_ds, val_ds = hr.split.validation_split(train, fraction=0.2, seed=1)
        val = val_ds.matrix(weight="binary")
        hy = hr.rankers.make("hybrid").fit(fit_ds)
        users = np.flatnonzero(np.diff(val.indptr) > 0)
        rng = np.random.default_rng(args.seed)
        q = np.sort(rng.choice(users, size=min(args.users, len(users)), replace=False))
        two = {}
        for npop in args.popular:
            hy.set_params(n_popular_candidates=int(npop))
            top = hy.recommend_at(q, 20)[0]
            two[npop] = float(np.nanmean(hr.metrics.ndcg_at_k(top, val[q], 20)))
        hy.set_params(n_recommend_candidates=0, n_popular_candidates=0)
        full = float(np.nanmean(hr.metrics.ndcg_at_k(hy.recommend_at(q, 20)[0], val[q], 20)))
        body += [f"## {name}", "", f"Validation users sampled: {len(q)}; full ranking NDCG@20 "
                 f"{full:.5f}.", "", "| n_popular_candidates | two-stage NDCG@20 | loss % |",
                 "|---|---|---|"]
        body += [f"| {k} | {v:.5f} | {100 * (full - v) / full:.2f} |" for k, v in two.items()]
        body.append("")
    load_after = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    lines += [*provenance_lines(cmd),
              f"- Load average (1 / 5 / 15 min) before: {load_before}; after: {load_after}.", "",
              *body]
    text = "\n".join(lines) + "\n"
    out = ROOT / "results" / "popular_validation.md"
    out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
