"""Quality and speed of the social rankers (``friend_endorsements``, ``trust``) against
``popularity`` on the real social data sets, with the issue-3 protocol.

Protocol: per-user random 80/20 split (``hr.split.random_split``, seed 0); LastFM: every
user-artist pair is a positive; Ciao and Epinions: every rating is a positive (the loaders drop
ratings of 0), then 5-core. ``trust`` is tuned on a validation split carved from the training part
(``hr.split.validation_split``, seed 1) over a small grid, refitted on the whole training part
and evaluated once on the test part. Full ranking over all items, seen (training) items excluded,
n = 20. Cold-start users: <= 5 training interactions.

Run from the repository root::

    .venv/bin/python experiments/trust_rankers/run.py                 # lastfm ciao epinions
    .venv/bin/python experiments/trust_rankers/run.py --datasets lastfm ciao

It prints a Markdown table and writes it to ``experiments/trust_rankers/results/trust_rankers.md`` (and .csv).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import haowurank as hr
from haowurank.studies import provenance_lines

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent  # this study's folder
DATA = hr.datasets.data_root()  # $HAOWURANK_DATA or ../shared/data (the registry's lookup)
OUT = HERE / "results" / "trust_rankers.md"

#: Validation grid of the tuned ``trust`` (all other parameters at their defaults, fill=True).
GRID = {"trust_weight": [0.3, 1.0], "prior_weight": [0.05, 0.5]}
N = 20


def load(name: str) -> hr.Dataset | None:
    folder = {"lastfm": "lastfm-hetrec2011", "ciao": "ciao", "epinions": "epinions"}[name]
    path = DATA / folder
    if not path.is_dir():
        print(f"skipping {name}: {path} not found", file=sys.stderr)
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", hr.DataWarning)
        if name == "lastfm":
            return hr.datasets.load_lastfm(path)
        loader = hr.datasets.load_ciao if name == "ciao" else hr.datasets.load_epinions
        return loader(path).k_core(5)


def evaluate(ranker: hr.rankers.Ranker, train: hr.Dataset, test: hr.Dataset) -> dict:
    truth_all = test.matrix(weight="binary")
    users = np.flatnonzero(np.diff(truth_all.indptr) > 0)
    truth = truth_all[users]
    t0 = time.perf_counter()
    ranker.fit(train)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ids, _ = ranker.recommend(train.user_ids[users], n=N, exclude_seen=True)
    rec_s = time.perf_counter() - t0
    rec = pd.Index(train.item_ids).get_indexer(ids.ravel()).reshape(ids.shape)
    cold = train.user_counts()[users] <= 5
    out = {}
    for k in (10, 20):
        out[f"NDCG@{k}"] = float(np.nanmean(hr.metrics.ndcg_at_k(rec, truth, k)))
        out[f"Recall@{k}"] = float(np.nanmean(hr.metrics.recall_at_k(rec, truth, k)))
    out["Coverage@20"] = hr.metrics.coverage(rec, train.n_items, 20)
    out["cold NDCG@20"] = (
        float(np.nanmean(hr.metrics.ndcg_at_k(rec[cold], truth[cold], 20))) if cold.any() else np.nan
    )
    out["cold users"] = int(cold.sum())
    out["fit s"] = fit_s
    out["users/s"] = len(users) / rec_s
    return out


def tune(train: hr.Dataset) -> tuple[dict, list[tuple[dict, float]]]:
    fit, val = hr.split.validation_split(train, seed=1)
    scores = []
    for values in itertools.product(*GRID.values()):
        params = dict(zip(GRID, values), fill=True)
        res = evaluate(hr.rankers.make("trust", **params), fit, val)
        scores.append((params, res["NDCG@20"]))
        print(f"  validation {params}: NDCG@20 {res['NDCG@20']:.4f}", flush=True)
    best = max(scores, key=lambda s: s[1])[0]
    return best, scores


def markdown(frame: pd.DataFrame) -> str:
    cols = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=["lastfm", "ciao", "epinions"])
    args = ap.parse_args()
    rows, notes = [], []
    for name in args.datasets:
        ds = load(name)
        if ds is None:
            continue
        train, test = hr.split.random_split(ds, test_fraction=0.2, seed=0)
        print(f"{name}: {ds}", flush=True)
        best, _ = tune(train)
        notes.append(f"- {name}: {ds!r}; tuned trust = {best}")
        configs = [
            ("popularity", {}),
            ("friend_endorsements", {}),
            ("trust", {}),
            ("trust", {"fill": True}),
            ("trust", best),
        ]
        for strat, params in configs:
            res = evaluate(hr.rankers.make(strat, **params), train, test)
            label = strat + (" (tuned)" if params is best else f" {params}" if params else "")
            rows.append({"dataset": name, "strategy": label, **res})
            print(f"  {label}: NDCG@20 {res['NDCG@20']:.4f}  users/s {res['users/s']:.0f}", flush=True)
    table = pd.DataFrame(rows)
    fmt = {c: "{:.4f}" for c in table.columns if "@" in c}
    fmt.update({"fit s": "{:.2f}", "users/s": "{:.0f}"})
    shown = table.copy()
    for c, f in fmt.items():
        shown[c] = shown[c].map(f.format)
    md = markdown(shown)
    header = (
        "# Social rankers vs popularity (issue 3 protocol)\n\n"
        + "\n".join(provenance_lines(
            f".venv/bin/python experiments/trust_rankers/run.py --datasets {' '.join(args.datasets)}"
        )) + "\n\n"
        "Split: per-user random 80/20 (seed 0); LastFM all pairs positive; Ciao/Epinions all "
        "ratings positive, 5-core. Full ranking over all training items, seen items excluded, "
        f"n = {N}. Cold = users with <= 5 training interactions. `trust (tuned)`: best NDCG@20 "
        f"on a validation split of the training part (seed 1) over {GRID} with fill=True.\n\n"
        + "\n".join(notes) + "\n\n"
    )
    print(md)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(header + md + "\n")
    table.to_csv(OUT.with_suffix(".csv"), index=False)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
