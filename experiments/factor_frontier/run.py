"""How good can a factor model get inside issue 3's cost bars? (validation only)

Issue 3 asks one strategy for three things at once: test NDCG@20 >= 1.05x (LastFM) or 1.10x
(Ciao, Epinions) the best tuned peer, fit time <= 5x tuned ALS's, and recommend throughput
>= 0.7x implicit's batch recommend of tuned ALS. Only factor models, scored by implicit's fused
top-k, come near the throughput bar (experiments/hybrid_cost/results/hybrid_cost.md). This script asks how
far a factor model gets in quality when it is free to leave the peer ALS grid: ``social_als``
(implicit ALS, and optionally its user factors smoothed with friends' factors,
``social_reg``) over a wider grid of sizes and much stronger regularisation. Every point is
fitted on the validation protocol (the headline split's training part cut again 80/20 per
user, seed 1) and scored on the validation part; its fit seconds and users/s (``hr.evaluate``,
as the runner measures them) are divided by those of tuned ALS on the same data in the same
run (timed before, in the middle of and after the grid; medians). The test parts are not used.

    .venv/bin/python experiments/factor_frontier/run.py lastfm ciao epinions

writes experiments/factor_frontier/results/factor_frontier.{md,csv,png} (and prints the summary table).
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import statistics
import sys
import time
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

import haowurank as hr
from haowurank.studies import (
    git_commit,
    load_config,
    load_dataset,
    machine,
    preprocess,
    versions,
)

ROOT = Path(__file__).resolve().parent  # this study's folder
QUALITY = ROOT.parent / "ranking_quality"  # the headline configs and their results
FIT_BAR, THROUGHPUT_BAR = 5.0, 0.7


def _point(strategy: str, params: dict, fit, val) -> dict:
    row = hr.evaluate(strategy, fit, val, k=[20], params=params)
    return {"val NDCG@20": row["NDCG@20"], "fit s": row["fit_s"], "users/s": row["users_per_s"]}


def frontier(name: str, grid: dict[str, list], show_progress: bool) -> tuple[pd.DataFrame, dict]:
    cfg = load_config(QUALITY / f"{name}.toml")
    table = pd.read_csv(QUALITY / "results" / f"{name}.csv").set_index("strategy")
    als_params = json.loads(table.loc["als", "params"])
    ds = preprocess(load_dataset(cfg.dataset, cfg.source), cfg.preprocess)
    train, _ = hr.split.random_split(ds, cfg.split.test_fraction, seed=cfg.split.seed)
    fit, val = hr.split.validation_split(
        train, fraction=cfg.split.validation_fraction, seed=cfg.split.validation_seed
    )
    _point("als", als_params, fit, val)  # warm-up: one-off imports and caches are in no timing
    refs = [_point("als", als_params, fit, val)]
    keys = list(grid)
    combos = list(itertools.product(*grid.values()))
    rows = []
    for j, combo in enumerate(tqdm(combos, desc=f"{name}: grid", disable=not show_progress)):
        params = {"social_weight": 0.0,
                  "weighting": "binary", **dict(zip(keys, combo))}
        rows.append({"data": name, **dict(zip(keys, combo)),
                     **_point("social_als", params, fit, val)})
        if j == len(combos) // 2:
            refs.append(_point("als", als_params, fit, val))
    refs.append(_point("als", als_params, fit, val))
    ref_fit = statistics.median(r["fit s"] for r in refs)
    ref_thr = statistics.median(r["users/s"] for r in refs)
    out = pd.DataFrame(rows)
    out["fit / ALS"] = out["fit s"] / ref_fit
    out["users/s / ALS"] = out["users/s"] / ref_thr
    out["cost bars met"] = (out["fit / ALS"] <= FIT_BAR) & (out["users/s / ALS"] >= THROUGHPUT_BAR)
    peers = table[table["peer"].astype(bool)]["val_NDCG@20"].astype(float)
    best_peer = str(peers.idxmax())
    target = float(cfg.target.ratio) if cfg.target is not None else float("nan")
    info = {
        "data": name, "als params": als_params, "ALS val NDCG@20": refs[0]["val NDCG@20"],
        "ALS fit s": ref_fit, "ALS users/s": ref_thr, "best peer": best_peer,
        "best peer val NDCG@20": float(peers.max()), "target ratio": target,
    }
    return out, info


def summary(out: pd.DataFrame, info: dict) -> dict:
    ok = out[out["cost bars met"]]
    best_ok = ok.loc[ok["val NDCG@20"].idxmax()] if len(ok) else None
    best = out.loc[out["val NDCG@20"].idxmax()]
    peer = info["best peer val NDCG@20"]

    def describe(r) -> str:
        if r is None:
            return "none"
        p = ", ".join(f"{k} {r[k]:g}" for k in ("factors", "regularization", "alpha", "social_reg"))
        return (f"{r['val NDCG@20']:.4f} ({r['val NDCG@20'] / peer:.3f}x; {p}; fit "
                f"{r['fit / ALS']:.2f}x, users/s {r['users/s / ALS']:.2f}x)")

    return {
        "data": info["data"],
        "best peer (val NDCG@20)": f"{info['best peer']} {peer:.4f}",
        "quality bar on validation": f"{info['target ratio'] * peer:.4f} "
                                     f"({info['target ratio']:.2f}x)",
        "tuned ALS (val NDCG@20, fit s, users/s)": (
            f"{info['ALS val NDCG@20']:.4f}, {info['ALS fit s']:.2f} s, "
            f"{info['ALS users/s']:,.0f}"),
        "best factor model within the cost bars": describe(best_ok),
        "best factor model of the grid": describe(best),
    }


def plot(frames: list[pd.DataFrame], infos: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(frames), figsize=(5.2 * len(frames), 4.2), squeeze=False)
    for ax, out, info in zip(axes[0], frames, infos):
        peer = info["best peer val NDCG@20"]
        ok = out["fit / ALS"] <= FIT_BAR
        ax.scatter(out.loc[ok, "users/s / ALS"], out.loc[ok, "val NDCG@20"] / peer, s=18,
                   label=f"fit <= {FIT_BAR:g}x ALS")
        ax.scatter(out.loc[~ok, "users/s / ALS"], out.loc[~ok, "val NDCG@20"] / peer, s=18,
                   marker="x", label=f"fit > {FIT_BAR:g}x ALS")
        ax.axhline(info["target ratio"], color="green", ls="--", lw=1, label="quality bar")
        ax.axhline(1.0, color="grey", ls=":", lw=1, label=f"best peer ({info['best peer']})")
        ax.axvline(THROUGHPUT_BAR, color="red", ls="--", lw=1, label="throughput bar")
        ax.set_xscale("log")
        ax.set_xlabel("users/s / tuned ALS")
        ax.set_ylabel("val NDCG@20 / best peer")
        ax.set_title(info["data"])
        ax.legend(fontsize=7, loc="lower left")
    fig.suptitle("social_als over a wide grid (validation): quality against cost")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",")]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("names", nargs="*", default=["lastfm", "ciao", "epinions"],
                   help="experiment names (experiments/ranking_quality/<name>.toml)")
    p.add_argument("--factors", default="32,64,128,256", help="comma-separated sizes")
    p.add_argument("--regularization", default="1,10,30,100")
    p.add_argument("--alpha", default="5,20")
    p.add_argument("--social-reg", default="0,0.2")
    p.add_argument("--out", default="factor_frontier", help="results file stem")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    grid = {"factors": [int(v) for v in _floats(a.factors)],
            "regularization": _floats(a.regularization), "alpha": _floats(a.alpha),
            "social_reg": _floats(a.social_reg)}
    t0 = time.perf_counter()
    frames, infos = [], []
    for name in a.names:
        out, info = frontier(name, grid, not a.no_progress)
        frames.append(out)
        infos.append(info)
    wall = time.perf_counter() - t0
    res = ROOT / "results"
    allrows = pd.concat(frames, ignore_index=True)
    allrows.to_csv(res / f"{a.out}.csv", index=False)
    plot(frames, infos, res / f"{a.out}.png")
    rows = [summary(o, i) for o, i in zip(frames, infos)]
    # one column per data set: the cells are long
    table = ["| | " + " | ".join(r["data"] for r in rows) + " |",
             "|---|" + "---|" * len(rows)]
    table += ["| " + k + " | " + " | ".join(str(r[k]) for r in rows) + " |"
              for k in rows[0] if k != "data"]
    cmd = "python experiments/factor_frontier/run.py " + " ".join(sys.argv[1:] if argv is None else argv)
    lines = [
        "# Factor models inside the cost bars of issue 3 (validation only)",
        "",
        f"- Date: {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}, git {git_commit()}",
        f"- Machine: {machine()}",
        f"- Software: {versions()}",
        f"- Command: `.venv/bin/{cmd}`",
        f"- Wall time: {wall:.0f} s",
        "- Protocol: the headline split's training part cut again per user 80/20 (seed 1), as the "
        "runner tunes; every grid point is fitted on the 80% and scored on the 20% (NDCG@20, full "
        "ranking, seen items excluded). The test parts are not used.",
        "- Model: `social_als` with `social_weight` 0 (implicit ALS on binary interactions; "
        "`social_reg` > 0 smooths each user's factors toward their friends' after fitting). "
        f"Grid: {json.dumps(grid)}.",
        "- Cost: `fit_s` and `users_per_s` of `hr.evaluate` (as the runner reports them), divided "
        "by the medians of three timings of tuned ALS (its headline parameters) in the same run "
        f"(before, in the middle of and after the grid). Bars: fit <= {FIT_BAR:g}x, users/s >= "
        f"{THROUGHPUT_BAR:g}x.",
        "- Best peer: the highest validation NDCG@20 among the peers of the headline run "
        "(experiments/ranking_quality/results/<name>.csv); the quality bar here is the issue's ratio applied to it "
        "(a validation analogue of the test target).",
        "",
        *table,
        "",
        f"All points: `experiments/factor_frontier/results/{a.out}.csv`; plot: `experiments/factor_frontier/results/{a.out}.png`.",
        "",
    ]
    (res / f"{a.out}.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
