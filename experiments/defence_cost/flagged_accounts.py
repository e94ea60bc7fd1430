"""Defence cost by account: test NDCG@20 of the accounts the default defence withholds rows from
(flagged accounts) and of everyone else, for `hybrid` with the defence off, with the default
defence (flagged accounts keep their own history for their own lists, ``own_history=True``) and
with ``own_history=False`` (their withheld rows dropped from their own history too).

Same data, preprocessing and split as ``config.toml`` beside this script (Ciao, 5-core, per-user
random 80/20 split, seed 0). Flagged accounts: those with more interaction rows in the defence's
own view (``hr.trust.defend(train).own``) than in the shared data. Writes
``results/ciao_flagged_accounts.md``. Run from the repository root::

    nice -n 10 .venv/bin/python experiments/defence_cost/flagged_accounts.py
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

import haowurank as hr
from haowurank.studies import load_config, load_dataset, preprocess, provenance_lines

HERE = Path(__file__).resolve().parent
ARMS = (("defence off", None), ("defence on (own_history)", True),
        ("defence on, own_history=False", {"own_history": False}))


def flagged_accounts(train: hr.Dataset) -> np.ndarray:
    """Ids of the accounts the default defence withholds rows from."""
    res = hr.trust.defend(train)
    own = res.own if res.own is not None else res.dataset

    def rows(d: hr.Dataset) -> np.ndarray:
        return np.bincount(d.indexed_interactions["user"].to_numpy(), minlength=d.n_users)

    return train.user_ids[rows(own) > rows(res.dataset)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=HERE / "results" / "ciao_flagged_accounts.md")
    args = ap.parse_args(argv)
    load0 = os.getloadavg()
    cfg = load_config(HERE / "config.toml")
    ds = preprocess(load_dataset(cfg.dataset, cfg.source), cfg.preprocess)
    train, test = hr.split.random_split(ds, test_fraction=cfg.split.test_fraction,
                                        seed=cfg.split.seed)
    flagged = flagged_accounts(train)
    lines = []
    for label, defence in ARMS:
        t0, c0 = time.perf_counter(), time.process_time()
        row, per = hr.evaluate("hybrid", train, test, k=[20], params={"defence": defence},
                               per_user=True)
        per = per.set_index("user")
        is_f = per.index.isin(flagged)
        lines.append(
            f"| {label} | {row['NDCG@20']:.4f} | {per.loc[is_f, 'NDCG@20'].mean():.4f} | "
            f"{int(is_f.sum())} | {per.loc[~is_f, 'NDCG@20'].mean():.4f} | {int((~is_f).sum())} | "
            f"{time.perf_counter() - t0:.0f} | {time.process_time() - c0:.0f} |")
    load1 = os.getloadavg()
    text = "\n".join([
        "# Ciao: the defence's cost by account (hybrid, test NDCG@20)", "",
        *provenance_lines(),
        "- Load average (1, 5, 15 min) before: ({:.2f}, {:.2f}, {:.2f}); after: "
        "({:.2f}, {:.2f}, {:.2f})".format(*load0, *load1),
        "",
        f"Same data and split as `config.toml` (Ciao 5-core, random 80/20, seed "
        f"{cfg.split.seed}). Flagged accounts: the {len(flagged)} training accounts the default "
        "defence withholds rows from (`hr.trust.defend(train).own` has more rows for them "
        "than the shared data). NDCG@20 is the mean over the test users of each group.", "",
        "| hybrid | NDCG@20, all | flagged accounts | n | everyone else | n | wall s | CPU s |",
        "|---|---|---|---|---|---|---|---|",
        *lines, ""])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
