"""Calibration of the synthetic world against Last.fm, Ciao and Epinions, and a real-graph run.

Question: does the synthetic world the simulation runs on look like real social-commerce data
(social degree, interactions per user and per item, how much of what a user has a friend also
has, repurchase intervals), which knobs put it inside the real range, and does the simulation
run on a real social graph and catalogue (``hr.sim.world_from_dataset``)?

Worlds compared (statistics only, no ranker involved):

* ``default_world``: ``data/default_world.toml`` (the library's embedded world, 2,000 users);
* ``sim_default``: the simulation's default world (``SimulationConfig()``: 2,000 users, 500
  items, ``hr.sim.SIM_WORLD`` knobs);
* ``calibrated``: the knobs of ``sim_calibration.toml`` ``[calibrated]``;
* ``lastfm``, ``ciao``, ``epinions``: the real data sets as loaded by ``hr.datasets``.

Statistics: interactions are the distinct (user, item) pairs of purchase and endorsement rows
(views, clicks and forms left out: the real data sets have none); the social degree is the number
of distinct users a user follows or is followed by (undirected); items per user counts the
items and users with at least one such interaction (a synthetic catalogue has items nobody
bought, a real data set has none); the shared-with-friends share is
the share of a user's items that at least one of those neighbours also has, pooled over users
with at least one neighbour, and the same on a degree-preserving shuffled graph
(``hr.trust.shuffle_social``) as the baseline; the repurchase interval is the gap in days
between a user's consecutive purchases in the same category (worlds with timestamps only).

The real-graph run builds ``hr.sim.world_from_dataset`` on a snowball sample of
``[real_graph]`` and runs ``hr.sim.run`` under each strategy, beside the simulation's default
synthetic world of the same number of users and the calibrated synthetic world (same days,
seed and config otherwise).

Run from the repository root::

    nice -n 10 .venv/bin/python experiments/sim_calibration/run.py
    nice -n 10 .venv/bin/python experiments/sim_calibration/run.py --skip-run   # statistics only

Writes ``results/sim_calibration.md``, ``results/sim_calibration.json`` and the PNG plots.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
import tomllib
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp

import haowurank as hr
from haowurank.datasets import registry
from haowurank.studies import provenance_lines

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
RESULTS = HERE / "results"
CONFIG = HERE / "sim_calibration.toml"
REAL = ("lastfm", "ciao", "epinions")
SYNTH = ("default_world", "sim_default", "calibrated")
BUY_KINDS = ("purchase", *hr.ENDORSEMENT_KINDS)
log = logging.getLogger("sim_calibration")


# ------------------------------------------------------------------------------ worlds
def load_world(name: str, cfg: dict) -> hr.Dataset:
    if name == "default_world":
        kw = registry.read_world(ROOT / "data" / "default_world.toml")
        return hr.datasets.synthetic(**kw)
    if name == "sim_default":
        sc = hr.sim.SimulationConfig(seed=cfg["seed"])
        return hr.datasets.synthetic(n_users=sc.n_users, n_items=sc.n_items, seed=sc.seed,
                                     **sc.world_knobs())
    if name == "calibrated":
        return hr.datasets.synthetic(seed=cfg["seed"], **cfg["calibrated"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the loaders' repair notes (duplicates, self-follows)
        return registry.load(name)


# ------------------------------------------------------------------------------ statistics
def neighbours(ds: hr.Dataset) -> sp.csr_matrix:
    """Undirected, binary user x user adjacency (follow in either direction)."""
    s = ds.social_matrix(weighted=False)
    a = ((s + s.T) > 0).astype(np.float32).tocsr()
    a.setdiag(0)
    a.eliminate_zeros()
    return a


def shared_share(a: sp.csr_matrix, x: sp.csr_matrix, chunk: int = 2000) -> float:
    """Share of (user, item) pairs of users with a neighbour where a neighbour has the item."""
    has_friend = np.diff(a.indptr) > 0
    shared = total = 0
    for s0 in range(0, a.shape[0], chunk):
        rows = np.arange(s0, min(s0 + chunk, a.shape[0]))
        rows = rows[has_friend[rows]]
        if not len(rows):
            continue
        xr = x[rows]
        hit = (a[rows] @ x).multiply(xr)
        shared += hit.nnz
        total += xr.nnz
    return shared / total if total else float("nan")


def summary(v: np.ndarray) -> dict:
    v = np.asarray(v, dtype=np.float64)
    return {"mean": float(v.mean()), "median": float(np.median(v)),
            "p90": float(np.percentile(v, 90)), "max": float(v.max()), "gini": hr.sim.gini(v)}


def repurchase_gaps(ds: hr.Dataset) -> np.ndarray | None:
    """Days between a user's consecutive purchase / endorsement rows in the same category."""
    if not ds.has_timestamps:
        return None
    f = ds.indexed_interactions
    keep = ds.kind_mask(list(BUY_KINDS))
    cat = ds.items["category"].astype(str).to_numpy()
    u = f["user"].to_numpy()[keep].astype(np.int64)
    c = np.unique(cat, return_inverse=True)[1][f["item"].to_numpy()[keep]]
    t = f["timestamp"].to_numpy()[keep].astype(np.int64)
    order = np.lexsort((t, c, u))
    u, c, t = u[order], c[order], t[order]
    same = (u[1:] == u[:-1]) & (c[1:] == c[:-1])
    return (t[1:] - t[:-1])[same] / 86_400.0


def stats(name: str, ds: hr.Dataset, seed: int) -> tuple[dict, dict]:
    t = time.perf_counter()
    x = ds.matrix(list(BUY_KINDS), weight="binary")
    a = neighbours(ds)
    deg = np.diff(a.indptr)
    per_user = np.diff(x.indptr)
    per_item = np.diff(x.tocsc().indptr)
    active_users = per_user > 0
    shuffled = hr.trust.shuffle_social(ds, seed=seed)
    share = shared_share(a, x)
    base = shared_share(neighbours(shuffled), x)
    gaps = repurchase_gaps(ds)
    row = {
        "world": name, "users": int(ds.n_users), "items": int(ds.n_items),
        "pairs": int(x.nnz), "social_rows": int(ds.n_social),
        "items_per_user": round(int((per_item > 0).sum()) / max(int(active_users.sum()), 1), 2),
        "degree": summary(deg), "no_friend_share": float((deg == 0).mean()),
        "reciprocity": _reciprocity(ds),
        "per_user": summary(per_user[active_users]), "per_item": summary(per_item[per_item > 0]),
        "shared_share": share, "shared_share_shuffled": base,
        "shared_lift": share / base if base else float("nan"),
        "timestamps": bool(ds.has_timestamps),
        "repurchase": None if gaps is None or not len(gaps) else {
            **summary(gaps), "same_day_share": float((gaps < 1).mean()), "n": int(len(gaps))},
        "seconds": round(time.perf_counter() - t, 1),
    }
    curves = {"degree": deg[deg > 0], "per_user": per_user[active_users],
              "per_item": per_item[per_item > 0], "gaps": gaps}
    return row, curves


def _reciprocity(ds: hr.Dataset) -> float:
    s = ds.social_matrix(weighted=False)
    s = (s > 0).astype(np.float32)
    return float(s.multiply(s.T).nnz / s.nnz) if s.nnz else float("nan")


# ------------------------------------------------------------------------------ real-graph run
def real_graph_runs(cfg: dict) -> list[dict]:
    import threadpoolctl

    rg = cfg["real_graph"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        src = registry.load(rg["dataset"])
    t = time.perf_counter()
    world = hr.sim.world_from_dataset(src, n_users=rg["n_users"], max_items=rg["max_items"],
                                      factors=rg["factors"], seed=cfg["seed"])
    build = time.perf_counter() - t
    knobs = dict(cfg["calibrated"])
    calibrated = {"n_users": knobs.pop("n_users"), "n_items": knobs.pop("n_items"), "world": knobs}
    rows = []
    for strategy in rg["strategies"]:
        for label, kw, fields in (
            (f"{rg['dataset']} (world_from_dataset)", {"dataset": world}, {}),
            ("sim default synthetic", {}, {"n_users": rg["n_users"]}),
            ("calibrated synthetic", {}, calibrated),
        ):
            sc = hr.sim.SimulationConfig(days=rg["days"], strategy=strategy, seed=cfg["seed"],
                                         **fields)
            with threadpoolctl.threadpool_limits(1):
                t0, p0 = time.perf_counter(), time.process_time()
                res = hr.sim.run(sc, **kw)
                wall, cpu = time.perf_counter() - t0, time.process_time() - p0
            s = res.summary()
            rows.append({
                "world": label, "strategy": strategy, "users": res.world["users"],
                "items": res.world["items"], "merchants": res.world["merchants"],
                "social_rows": res.world["social_rows"],
                "history": res.world["history_interactions"],
                **{k: float(s[k]) for k in ("orders", "gmv", "endorsements", "messages_sent",
                                            "feed_candidates_median", "feed_empty_share",
                                            "merchant_exposure_gini", "longtail_gmv_share",
                                            "conversion", "churned_users")},
                "quota_violations": int(len(res.check_quotas())),
                "seconds": round(wall, 1), "cpu_seconds": round(cpu, 1),
                "world_build_seconds": round(build, 1) if kw else None,
            })
            log.info("%s", rows[-1])
    return rows


# ------------------------------------------------------------------------------ report
def ccdf_plot(curves: dict, key: str, title: str, xlabel: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for name, c in curves.items():
        v = c[key]
        if v is None or not len(v):
            continue
        v = np.sort(np.asarray(v, dtype=np.float64))
        if key == "gaps":
            v = v[v >= 1]  # log axis: same-day gaps are reported in the table
        y = 1.0 - np.arange(len(v)) / len(v)
        style = "-" if name in REAL else "--"
        ax.step(v, y, where="post", ls=style, label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("share of values >= x (CCDF)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def shared_plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    names = [r["world"] for r in rows]
    xs = np.arange(len(rows))
    ax.bar(xs - 0.2, [r["shared_share"] for r in rows], 0.4, label="social graph")
    ax.bar(xs + 0.2, [r["shared_share_shuffled"] for r in rows], 0.4,
           label="degree-preserving shuffle")
    ax.set_xticks(xs, names, rotation=20)
    ax.set_ylabel("share of a user's items a friend also has")
    ax.set_title("Shared with friends (homophily) vs shuffled graph")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _f(v: float, nd: int = 1) -> str:
    return "n/a" if v is None or (isinstance(v, float) and not np.isfinite(v)) else f"{v:,.{nd}f}"


def render(out: dict, command: str) -> str:
    rows = out["stats"]
    lines = ["# Calibration of the synthetic world against Last.fm, Ciao and Epinions", "",
             "Written by `experiments/sim_calibration/run.py` (see its docstring for what each "
             "statistic is). Interactions: distinct (user, item) pairs of purchase and endorsement "
             "rows; degree: distinct neighbours, either direction; Gini over users (items) with at "
             "least one interaction or neighbour.", ""]
    lines += ["## Summary statistics per world", "",
              "| world | users | items | items/user | pairs | degree median | p90 | Gini | "
              "no friend | reciprocity | per user median | p90 | Gini | per item median | p90 | "
              "Gini | shared | shuffled | lift |",
              "|---|" + "---|" * 18]
    for r in rows:
        d, pu, pi = r["degree"], r["per_user"], r["per_item"]
        lines.append(
            f"| {r['world']} | {r['users']:,} | {r['items']:,} | {r['items_per_user']} | "
            f"{r['pairs']:,} | {_f(d['median'], 0)} | {_f(d['p90'], 0)} | {d['gini']:.2f} | "
            f"{r['no_friend_share']:.2f} | {r['reciprocity']:.2f} | {_f(pu['median'], 0)} | "
            f"{_f(pu['p90'], 0)} | {pu['gini']:.2f} | {_f(pi['median'], 0)} | {_f(pi['p90'], 0)} | "
            f"{pi['gini']:.2f} | {r['shared_share']:.3f} | {r['shared_share_shuffled']:.3f} | "
            f"{_f(r['shared_lift'], 2)} |")
    lines += ["", "Real range (min to max over Last.fm, Ciao, Epinions) and whether each synthetic "
              "world falls inside it:", ""]
    checks = out["checks"]
    lines += ["| statistic | real min | real max | " + " | ".join(SYNTH) + " |",
              "|---|---|---|" + "---|" * len(SYNTH)]
    for c in checks:
        cells = " | ".join(f"{_f(c['values'][w], 2)} {'in' if c['inside'][w] else 'OUT'}"
                           for w in SYNTH)
        lines.append(f"| {c['stat']} | {_f(c['lo'], 2)} | {_f(c['hi'], 2)} | {cells} |")
    lines += ["", "## Repurchase intervals", "",
              "Gap in days between a user's consecutive purchase or endorsement rows in the same "
              "category. Last.fm (listen counts) and this copy of Epinions have no timestamps, so "
              "they have no interval; Ciao's timestamps have a resolution of one day.", "",
              "| world | gaps | same-day share | median days | p90 days | Gini |",
              "|---|---|---|---|---|---|"]
    for r in rows:
        g = r["repurchase"]
        if g is None:
            lines.append(f"| {r['world']} | no timestamps | | | | |")
        else:
            lines.append(f"| {r['world']} | {g['n']:,} | {g['same_day_share']:.2f} | "
                         f"{_f(g['median'])} | {_f(g['p90'])} | {g['gini']:.2f} |")
    lines += ["", "## Plots", ""]
    for png, what in out["plots"]:
        lines += [f"![{png}]({png})", "", what, ""]
    if out.get("runs"):
        rg = out["real_graph"]
        lines += ["## Real-graph run", "",
                  f"`hr.sim.world_from_dataset` on a snowball sample of {rg['dataset']} "
                  f"({rg['n_users']:,} users, at most {rg['max_items']:,} items, ALS with "
                  f"{rg['factors']} factors, seed {out['seed']}), the simulation's default "
                  f"synthetic world of {rg['n_users']:,} users and the calibrated synthetic world "
                  f"(its `n_users`, `n_items` and `world` knobs from `[calibrated]`); "
                  f"`SimulationConfig(days={rg['days']}, strategy=..., seed={out['seed']})`, every "
                  "other field at its default; single-threaded BLAS; one run each (no replicates, "
                  "so differences between strategies here are not resolved).", "",
                  "| world | strategy | users | items | merchants | social rows | history | orders "
                  "| GMV | endorsements | messages | feed cand. median | feed empty | merchant "
                  "exposure Gini | long-tail GMV share | quota violations | seconds (cpu) |",
                  "|---|" + "---|" * 16]
        for r in out["runs"]:
            lines.append(
                f"| {r['world']} | {r['strategy']} | {r['users']:,} | {r['items']:,} | "
                f"{r['merchants']:,} | {r['social_rows']:,} | {r['history']:,} | "
                f"{r['orders']:,.0f} | {r['gmv']:,.0f} | {r['endorsements']:,.0f} | "
                f"{r['messages_sent']:,.0f} | {r['feed_candidates_median']:.1f} | "
                f"{r['feed_empty_share']:.3f} | {r['merchant_exposure_gini']:.3f} | "
                f"{r['longtail_gmv_share']:.3f} | {r['quota_violations']} | "
                f"{r['seconds']} ({r['cpu_seconds']}) |")
    lines += ["", "## Provenance", "", *out["provenance"],
              f"- Load average before: {out['load_before']}; after: {out['load_after']}",
              f"- Calibrated knobs: `{CONFIG.relative_to(ROOT)}` `[calibrated]`: "
              f"`{json.dumps(out['calibrated'])}`", ""]
    return "\n".join(lines)


def range_checks(rows: list[dict]) -> list[dict]:
    by = {r["world"]: r for r in rows}
    getters = {
        "degree median": lambda r: r["degree"]["median"],
        "degree p90": lambda r: r["degree"]["p90"],
        "degree Gini": lambda r: r["degree"]["gini"],
        "per user median": lambda r: r["per_user"]["median"],
        "per user p90": lambda r: r["per_user"]["p90"],
        "per user Gini": lambda r: r["per_user"]["gini"],
        "per item median": lambda r: r["per_item"]["median"],
        "per item p90": lambda r: r["per_item"]["p90"],
        "per item Gini": lambda r: r["per_item"]["gini"],
        "items per user": lambda r: r["items_per_user"],
        "shared share": lambda r: r["shared_share"],
        "shared lift": lambda r: r["shared_lift"],
    }
    out = []
    for stat, get in getters.items():
        vals = [get(by[w]) for w in REAL if w in by]
        if not vals:
            continue
        lo, hi = float(min(vals)), float(max(vals))
        values = {w: float(get(by[w])) for w in SYNTH if w in by}
        out.append({"stat": stat, "lo": lo, "hi": hi, "values": values,
                    "inside": {w: bool(lo <= v <= hi) for w, v in values.items()}})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default=str(CONFIG))
    ap.add_argument("--skip-run", action="store_true", help="statistics only, no simulation run")
    ap.add_argument("--worlds", nargs="*", default=[*SYNTH, *REAL])
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    cfg = tomllib.loads(Path(args.config).read_text())
    load_before = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    rows, curves = [], {}
    for name in args.worlds:
        ds = load_world(name, cfg)
        row, cur = stats(name, ds, cfg["seed"])
        rows.append(row)
        curves[name] = cur
        log.info("%s: %s", name, json.dumps(row))
    RESULTS.mkdir(parents=True, exist_ok=True)
    plots = []
    for key, title, xlabel, png, what in (
        ("degree", "Social degree", "distinct neighbours (either direction)", "degree_ccdf.png",
         "CCDF of the social degree (users with at least one neighbour), log-log: real data sets "
         "solid, synthetic worlds dashed."),
        ("per_user", "Interactions per user", "distinct items (purchases and endorsements)",
         "per_user_ccdf.png",
         "CCDF of distinct items per user (users with at least one), log-log; Last.fm's cap at "
         "50 artists per user shows as the vertical drop."),
        ("per_item", "Interactions per item", "distinct users", "per_item_ccdf.png",
         "CCDF of distinct users per item (items with at least one), log-log."),
        ("gaps", "Repurchase interval (same category)", "days between consecutive purchases",
         "repurchase_ccdf.png",
         "CCDF of the gap in days between a user's consecutive purchases in one category, for "
         "the worlds with timestamps (Ciao and the synthetic worlds; same-day gaps left out of "
         "the log axis and given in the table)."),
    ):
        ccdf_plot(curves, key, title, xlabel, RESULTS / png)
        plots.append((png, what))
    shared_plot(rows, RESULTS / "shared_with_friends.png")
    plots.append(("shared_with_friends.png",
                  "Share of a user's items that at least one friend also has, on the real graph "
                  "and on a degree-preserving shuffle of it (the baseline that degree and "
                  "popularity alone give)."))
    out = {"seed": cfg["seed"], "calibrated": cfg["calibrated"], "stats": rows,
           "checks": range_checks(rows), "plots": plots, "real_graph": cfg["real_graph"]}
    if not args.skip_run:
        out["runs"] = real_graph_runs(cfg)
    out["load_before"] = load_before
    out["load_after"] = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    command = "nice -n 10 .venv/bin/python experiments/sim_calibration/run.py" + (
        " --skip-run" if args.skip_run else "")
    out["provenance"] = provenance_lines(command)
    (RESULTS / "sim_calibration.json").write_text(json.dumps(out, indent=1, default=float) + "\n")
    md = render(out, command)
    (RESULTS / "sim_calibration.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
