"""Does the offline verdict on a split predict what a strategy does in the simulated loop?

For every world (synthetic worlds at several homophily x social-influence settings and seeds,
plus a world built from a real social graph with ``hr.sim.world_from_dataset``) and every
strategy, two measurements from the same starting state:

- **offline**: the world's initial log is split per user (``hr.split.random_split``), the
  strategy is fitted on the training part and scored on the test part with
  ``hr.evaluation.evaluate``: NDCG@20, Recall@20, Coverage@20 and MerchantGini@20 (Gini of
  merchant exposure in the top-20 lists);
- **simulated**: ``hr.sim.run`` on that same world with the strategy as the platform's ranker
  (the same seed for every strategy, so they share their random numbers); outcomes are the
  run's documented totals (``SimulationResult.summary()`` over ``res.daily``): orders, net
  GMV, repurchase rate, mean cascade size, merchant exposure Gini and long-tail impression
  share.

Then, per world and across strategies, the Kendall tau (tau-b) between each offline metric
and each outcome, both oriented so that larger is better (the two Ginis are negated), so a
positive tau means the offline metric orders the strategies as the simulation does. Intervals:
percentile bootstrap over worlds of the mean tau. Verdict flips: per world, the strategy best
by each offline metric against the strategy best by each outcome.

Run from the repository root::

    nice -n 10 .venv/bin/python experiments/offline_vs_sim/run.py

``--quick`` runs two tiny worlds and four strategies into a folder under ``/tmp`` (or
``--out``); ``--replicate`` simulates every world and strategy of the last run again under
another seed (``replicates.csv``) and adds the simulation's agreement with itself to the
report; ``--render`` rewrites the Markdown and the plot from the CSV files of the last run.
Writes ``results/offline_vs_sim.md``, ``runs.csv`` (one row per world x strategy),
``tau.csv`` (one row per world x metric x outcome) and ``tau_heatmap.png``.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import shlex
import sys
import tempfile
import time
import tomllib
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import kendalltau

import haowurank as hr
from haowurank.datasets import registry
from haowurank.studies import kept_provenance, provenance_lines

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "offline_vs_sim.toml"
log = logging.getLogger("offline_vs_sim")

#: offline metric (column of hr.evaluation.evaluate at k) -> +1 larger is better, -1 smaller
OFFLINE = {"NDCG": 1, "Recall": 1, "Coverage": 1, "MerchantGini": -1}
#: simulated outcome (key of SimulationResult.summary()) -> orientation, label
OUTCOMES = {
    "orders": (1, "orders"),
    "net_gmv": (1, "net GMV"),
    "repurchase_rate": (1, "repurchase rate"),
    "cascade_size_mean": (1, "cascade size"),
    "merchant_exposure_gini": (-1, "merchant exposure Gini"),
    "longtail_impression_share": (1, "long-tail share"),
}

QUICK = {
    "strategies": ["trust", "popularity", "als", "friend_endorsements"],
    "seeds": [0],
    "k": 20,
    "test_fraction": 0.2,
    "bootstrap": 200,
    "sim": {"n_users": 200, "n_items": 80, "days": 4, "refit_every": 2},
    "grid": {"homophily": [0.1, 0.85], "social_influence": [0.3]},
    "real_graph": {"enabled": False},
}


def offline_cols(k: int) -> list[str]:
    """The offline metric columns at cutoff ``k``."""
    return [f"{m}@{k}" for m in OFFLINE]


def orientation(col: str) -> int:
    """+1 when larger is better for a metric or outcome column, -1 when smaller is."""
    if col in OUTCOMES:
        return OUTCOMES[col][0]
    return OFFLINE[col.split("@")[0]]


# ------------------------------------------------------------------------------ worlds
def worlds(cfg: dict, quick: bool):
    """Yield ``(label, settings, dataset)`` for every world of the configuration."""
    base = hr.sim.SimulationConfig(**cfg["sim"])
    grid = cfg["grid"]
    names = list(grid)
    for seed in cfg["seeds"]:
        for values in itertools.product(*(grid[n] for n in names)):
            knobs = dict(zip(names, values, strict=True))
            sc = base.replace(world={**base.world, **knobs})
            ds = hr.datasets.synthetic(n_users=sc.n_users, n_items=sc.n_items, seed=seed,
                                       **sc.world_knobs())
            label = "synthetic " + ", ".join(f"{n}={v}" for n, v in knobs.items()) + f", seed={seed}"
            yield label, {"kind": "synthetic", "seed": seed, **knobs}, ds
    rg = cfg.get("real_graph", {})
    if rg.get("enabled") and not quick:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the loaders' repair notes (duplicates, self-follows)
            src = registry.load(rg["dataset"])
        ds = hr.sim.world_from_dataset(src, n_users=rg["n_users"], max_items=rg["max_items"],
                                       factors=rg["factors"], seed=rg["seed"])
        yield (f"{rg['dataset']} (world_from_dataset), seed={rg['seed']}",
               {"kind": "real graph", "seed": rg["seed"]}, ds)


def run_world(label: str, settings: dict, ds: hr.Dataset, cfg: dict) -> list[dict]:
    """Offline metrics and simulated outcomes of every strategy on one world."""
    import threadpoolctl

    k = cfg["k"]
    seed = settings["seed"]
    train, test = hr.split.random_split(ds, test_fraction=cfg["test_fraction"], seed=seed)
    base = hr.sim.SimulationConfig(seed=seed, **cfg["sim"])
    rows = []
    for s in cfg["strategies"]:
        with threadpoolctl.threadpool_limits(1):
            t0, p0 = time.perf_counter(), time.process_time()
            off = hr.evaluation.evaluate(s, train, test, k=(k,))
            t1, p1 = time.perf_counter(), time.process_time()
            res = hr.sim.run(base.replace(strategy=s), dataset=ds)
            t2, p2 = time.perf_counter(), time.process_time()
        summ = res.summary()
        row = {"world": label, **{f"world_{n}": v for n, v in settings.items()},
               "users": ds.n_users, "items": ds.n_items, "strategy": s}
        row.update({c: float(off[c]) for c in offline_cols(k)})
        row.update({o: float(summ[o]) for o in OUTCOMES})
        row.update({"offline_wall_s": round(t1 - t0, 2), "offline_cpu_s": round(p1 - p0, 2),
                    "sim_wall_s": round(t2 - t1, 2), "sim_cpu_s": round(p2 - p1, 2)})
        rows.append(row)
        log.info("%s | %s: NDCG@%d %.4f, orders %.0f (%.0f s)", label, s, k, row[f"NDCG@{k}"],
                 row["orders"], t2 - t0)
    return rows


def replicate_world(label: str, settings: dict, ds: hr.Dataset, cfg: dict) -> list[dict]:
    """Simulated outcomes of every strategy on one world again, under another seed (the
    world's seed plus ``replicate_seed_offset``): how well the simulation agrees with itself."""
    import threadpoolctl

    seed = settings["seed"] + cfg.get("replicate_seed_offset", 1000)
    base = hr.sim.SimulationConfig(seed=seed, **cfg["sim"])
    rows = []
    for s in cfg["strategies"]:
        with threadpoolctl.threadpool_limits(1):
            t0, p0 = time.perf_counter(), time.process_time()
            summ = hr.sim.run(base.replace(strategy=s), dataset=ds).summary()
            t1, p1 = time.perf_counter(), time.process_time()
        rows.append({"world": label, "strategy": s, "sim_seed": seed,
                     **{o: float(summ[o]) for o in OUTCOMES},
                     "sim_wall_s": round(t1 - t0, 2), "sim_cpu_s": round(p1 - p0, 2)})
        log.info("%s | %s replicate: orders %.0f (%.0f s)", label, s, rows[-1]["orders"], t1 - t0)
    return rows


# ------------------------------------------------------------------------------ analysis
def tau_table(runs: pd.DataFrame, k: int) -> pd.DataFrame:
    """Kendall tau-b per world between each offline metric and each outcome, across the
    strategies of that world, both oriented so that larger is better. Columns: ``world``,
    ``metric``, ``outcome``, ``tau`` (NaN when either side is constant), ``n_strategies``,
    ``strategies`` (the names the tau was computed on, joined by ``,``)."""
    out = []
    for world, g in runs.groupby("world", sort=False):
        g = g.sort_values("strategy")
        names = ",".join(g["strategy"])
        for m in offline_cols(k):
            x = orientation(m) * g[m].to_numpy(float)
            for o in OUTCOMES:
                y = orientation(o) * g[o].to_numpy(float)
                if np.ptp(x) == 0 or np.ptp(y) == 0:
                    tau = float("nan")
                else:
                    tau = float(kendalltau(x, y).statistic)
                out.append({"world": world, "metric": m, "outcome": o, "tau": tau,
                            "n_strategies": len(g), "strategies": names})
    return pd.DataFrame(out)


def mean_tau(taus: pd.DataFrame, n_boot: int, seed: int = 0) -> pd.DataFrame:
    """Mean tau over worlds per (metric, outcome) with a 95% percentile bootstrap interval
    over worlds (worlds resampled with replacement; NaN taus left out of each mean)."""
    g = np.random.default_rng(seed)
    worlds_ = taus["world"].unique()
    out = []
    for (m, o), t in taus.groupby(["metric", "outcome"], sort=False):
        v = t.set_index("world").loc[worlds_, "tau"].to_numpy(float)
        idx = g.integers(0, len(v), size=(n_boot, len(v)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN resamples
            boot = np.nanmean(v[idx], axis=1)
        boot = boot[np.isfinite(boot)]
        lo, hi = (np.quantile(boot, [0.025, 0.975]) if len(boot) else (np.nan, np.nan))
        fin = v[np.isfinite(v)]
        out.append({"metric": m, "outcome": o, "mean_tau": float(fin.mean()) if len(fin) else np.nan,
                    "lo": float(lo), "hi": float(hi), "worlds": int(np.isfinite(v).sum()),
                    "positive_worlds": int((v > 0).sum())})
    return pd.DataFrame(out)


def self_agreement(runs: pd.DataFrame, reps: pd.DataFrame, n_boot: int) -> pd.DataFrame:
    """Per outcome, Kendall tau across strategies between a world's simulated run and its
    replicate under another seed (mean over worlds, bootstrap interval), and the number of
    worlds where no strategy is best in both runs."""
    worlds_ = [w for w in runs["world"].unique() if w in set(reps["world"])]
    taus, flips_ = [], {}
    for w in worlds_:
        a = runs[runs.world == w].set_index("strategy")
        b = reps[reps.world == w].set_index("strategy").loc[a.index]
        for o in OUTCOMES:
            x, y = orientation(o) * a[o].to_numpy(float), orientation(o) * b[o].to_numpy(float)
            tau = (float("nan") if np.ptp(x) == 0 or np.ptp(y) == 0
                   else float(kendalltau(x, y).statistic))
            taus.append({"world": w, "metric": "replicate", "outcome": o, "tau": tau})
            ga, gb = a.reset_index(), b.reset_index()
            flips_[o] = flips_.get(o, 0) + int(not (best(ga, o) & best(gb, o)))
    mt = mean_tau(pd.DataFrame(taus), n_boot)
    mt["flips"] = mt["outcome"].map(flips_)
    mt["compared"] = len(worlds_)
    return mt


def best(g: pd.DataFrame, col: str) -> set[str]:
    """The strategies best on ``col`` in one world (ties: all of them)."""
    v = orientation(col) * g[col].to_numpy(float)
    return set(g["strategy"].to_numpy()[np.isclose(v, v.max(), rtol=1e-12, atol=0)])


def flips(runs: pd.DataFrame, k: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per world, the best strategy by each offline metric and by each outcome; and per
    (metric, outcome) the number of worlds where they differ (no strategy best on both)."""
    per_world, counts = [], {}
    for world, g in runs.groupby("world", sort=False):
        row = {"world": world}
        for c in [*offline_cols(k), *OUTCOMES]:
            row[c] = " / ".join(sorted(best(g, c)))
        per_world.append(row)
        for m in offline_cols(k):
            for o in OUTCOMES:
                flip = not (best(g, m) & best(g, o))
                counts[(m, o)] = counts.get((m, o), 0) + int(flip)
    n = runs["world"].nunique()
    summary = pd.DataFrame([{"metric": m, "outcome": o, "flips": c, "worlds": n}
                            for (m, o), c in counts.items()])
    return pd.DataFrame(per_world), summary


def answer(mt: pd.DataFrame, fl: pd.DataFrame, k: int, sa: pd.DataFrame | None = None) -> str:
    """One sentence: how offline NDCG@k's ranking of strategies relates to the simulated
    orders and net GMV (agrees / reverses / unrelated by the interval), and winner flips;
    with ``sa`` (:func:`self_agreement`) also how far the simulation reproduces its orders
    ranking."""
    def rel(o: str) -> str:
        r = mt[(mt.metric == f"NDCG@{k}") & (mt.outcome == o)].iloc[0]
        word = ("agrees with" if r.lo > 0 else "reverses" if r.hi < 0
                else "is not resolved from")
        return (f"{word} the simulated ranking by {OUTCOMES[o][1]} (mean Kendall tau "
                f"{_signed(r.mean_tau, 2)} [{_signed(r.lo, 2)}, {_signed(r.hi, 2)}])")

    f = fl[(fl.metric == f"NDCG@{k}") & (fl.outcome == "orders")].iloc[0]
    text = (f"Over {int(f.worlds)} worlds, the offline NDCG@{k} ranking of strategies "
            f"{rel('orders')} and {rel('net_gmv')}, and the NDCG@{k} winner was not the "
            f"orders winner in {int(f.flips)} of {int(f.worlds)} worlds")
    if sa is not None:
        r = sa[sa.outcome == "orders"].iloc[0]
        text += (f"; a second simulated run of the same worlds ranks the strategies by orders "
                 f"with tau {_signed(r.mean_tau, 2)} [{_signed(r.lo, 2)}, {_signed(r.hi, 2)}] "
                 f"against the first, and picks another orders winner in {int(r.flips)} of "
                 f"{int(r.compared)}")
    return text


def heatmap(mt: pd.DataFrame, k: int, path: Path) -> None:
    """Mean tau per (offline metric, outcome) as an annotated heatmap (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ms, os_ = offline_cols(k), list(OUTCOMES)
    grid = mt.set_index(["metric", "outcome"])
    z = np.array([[grid.loc[(m, o), "mean_tau"] for o in os_] for m in ms])
    fig, ax = plt.subplots(figsize=(9.5, 4.2))
    im = ax.imshow(z, cmap="RdBu", vmin=-1, vmax=1, aspect="auto")
    ax.set_xticks(range(len(os_)), [OUTCOMES[o][1] for o in os_], rotation=20, ha="right")
    ax.set_yticks(range(len(ms)), [m + (" (negated)" if orientation(m) < 0 else "") for m in ms])
    for i, m in enumerate(ms):
        for j, o in enumerate(os_):
            r = grid.loc[(m, o)]
            ax.text(j, i, f"{_signed(r.mean_tau, 2)}\n[{_signed(r.lo, 2)}, {_signed(r.hi, 2)}]",
                    ha="center",
                    va="center", fontsize=8)
    fig.colorbar(im, ax=ax, label="mean Kendall tau over worlds")
    ax.set_title("Offline metric vs simulated outcome: rank agreement across strategies")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _signed(x: float, d: int = 3) -> str:
    return "n/a" if not np.isfinite(x) else f"{x:+.{d}f}"


def _fmt(x: float, d: int = 4) -> str:
    return "-" if not np.isfinite(x) else f"{x:.{d}f}"


def render(runs: pd.DataFrame, cfg: dict, out: Path, header: list[str],
           reps: pd.DataFrame | None = None) -> str:
    """Write tau.csv, the heatmap and the Markdown report (``header``: its provenance lines;
    ``reps``: replicate runs, see :func:`replicate_world`); return the answer sentence."""
    k = cfg["k"]
    taus = tau_table(runs, k)
    taus.to_csv(out / "tau.csv", index=False)
    mt = mean_tau(taus, cfg["bootstrap"])
    per_world, fl = flips(runs, k)
    heatmap(mt, k, out / "tau_heatmap.png")
    sa = self_agreement(runs, reps, cfg["bootstrap"]) if reps is not None and len(reps) else None
    ans = answer(mt, fl, k, sa)
    sims = cfg["sim"]
    n_worlds = runs["world"].nunique()
    strategies = list(dict.fromkeys(runs["strategy"]))
    lines = [
        "# Offline vs simulated verdicts",
        "",
        *header,
        "",
        "## Answer",
        "",
        "| answer |",
        "|---|",
        f"| {ans}. |",
        "",
        "## Design",
        "",
        f"{n_worlds} worlds x {len(strategies)} strategies ({', '.join(strategies)}). Synthetic "
        f"worlds: `hr.datasets.synthetic` at every combination of "
        + "; ".join(f"`{n}` in {v}" for n, v in cfg["grid"].items())
        + f" for seeds {cfg['seeds']}, with the simulation's world defaults "
        f"(`SimulationConfig.world_knobs()`) and {sims['n_users']:,} users x "
        f"{sims['n_items']:,} items."
        + (f" Real-graph world: `hr.sim.world_from_dataset` on a snowball sample of "
           f"{cfg['real_graph']['dataset']} ({cfg['real_graph']['n_users']:,} users, at most "
           f"{cfg['real_graph']['max_items']:,} items)." if cfg.get("real_graph", {}).get("enabled")
           and (runs["world_kind"] == "real graph").any() else "")
        + f" Worlds are small and runs short ({sims['days']} days, refit every "
        f"{sims['refit_every']} days) so the grid fits on a shared 2-core machine; one simulated "
        "run per world and strategy, all strategies of a world with the same seed (common "
        "random numbers). Every other `SimulationConfig` field at its default.",
        "",
        f"Offline: `hr.split.random_split(world, test_fraction={cfg['test_fraction']}, "
        f"seed=<world seed>)`, `hr.evaluation.evaluate(strategy, train, test, k=({k},))` with "
        "default parameters. Simulated: `hr.sim.run(SimulationConfig(strategy=..., "
        "seed=<world seed>, ...), dataset=world)`, outcomes from `res.summary()` (totals of "
        "`res.daily`; Gini and long-tail share are the mean over days; cascade size is over "
        "cascades grown by the last day).",
        "",
        "Kendall tau-b per world across its strategies, both sides oriented so that larger is "
        "better (MerchantGini and merchant exposure Gini negated): +1 means the offline metric "
        "orders the strategies exactly as the outcome does. NaN (left out) when one side is "
        f"constant in a world. Interval: 95% percentile bootstrap over worlds "
        f"({cfg['bootstrap']} resamples) of the mean tau.",
        "",
        "## Mean Kendall tau (offline metric vs simulated outcome)",
        "",
        "| offline metric | outcome | mean tau | 95% interval | worlds | tau > 0 in |",
        "|---|---|---|---|---|---|",
    ]
    for r in mt.itertuples():
        lines.append(f"| {r.metric} | {OUTCOMES[r.outcome][1]} | {_signed(r.mean_tau)} | "
                     f"[{_signed(r.lo)}, {_signed(r.hi)}] | {r.worlds} | {r.positive_worlds} |")
    if sa is not None:
        lines += [
            "",
            "### The simulation against itself",
            "",
            "The same worlds and strategies simulated again under another seed "
            f"(world seed + {cfg.get('replicate_seed_offset', 1000)}): Kendall tau between the "
            "two runs' outcomes across strategies, and worlds where no strategy is best in both: "
            "how far one run's ranking of the strategies reproduces. Each offline metric is "
            "compared with one such run, so for an outcome the simulation does not reproduce, a "
            "low tau says little about the offline metric.",
            "",
            "| outcome | mean tau (run vs replicate) | 95% interval | worlds | winners differ |",
            "|---|---|---|---|---|",
        ]
        for r in sa.itertuples():
            lines.append(f"| {OUTCOMES[r.outcome][1]} | {_signed(r.mean_tau)} | "
                         f"[{_signed(r.lo)}, {_signed(r.hi)}] | {r.worlds} | "
                         f"{r.flips} / {r.compared} |")
    lines += [
        "",
        "![mean tau heatmap](tau_heatmap.png)",
        "",
        "The heatmap shows the mean Kendall tau over worlds between each offline metric (rows) "
        "and each simulated outcome (columns), with its bootstrap interval: blue cells are "
        "pairs where the offline metric tends to order the strategies as the simulation does, "
        "red cells pairs where it tends to reverse them.",
        "",
        "## Where verdicts flip",
        "",
        "Worlds (of the total) where no strategy is best by both the offline metric and the "
        "outcome:",
        "",
        "| offline metric | " + " | ".join(OUTCOMES[o][1] for o in OUTCOMES) + " |",
        "|---|" + "---|" * len(OUTCOMES),
    ]
    for m in offline_cols(k):
        cells = [f"{int(fl[(fl.metric == m) & (fl.outcome == o)].flips.iloc[0])} / {n_worlds}"
                 for o in OUTCOMES]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    lines += ["", "Best strategy per world (ties joined by /):", "",
              "| world | " + " | ".join([*offline_cols(k), *(OUTCOMES[o][1] for o in OUTCOMES)])
              + " |",
              "|---|" + "---|" * (len(OFFLINE) + len(OUTCOMES))]
    for r in per_world.to_dict("records"):
        lines.append("| " + " | ".join(str(r[c]) for c in
                                       ["world", *offline_cols(k), *OUTCOMES]) + " |")
    lines += ["", "## Per world and strategy", "",
              "Offline metrics and simulated outcomes (`runs.csv` has every column, with wall "
              "and process CPU seconds).", "",
              "| world | strategy | " + " | ".join(offline_cols(k)) + " | "
              + " | ".join(OUTCOMES[o][1] for o in OUTCOMES) + " |",
              "|---|---|" + "---|" * (len(OFFLINE) + len(OUTCOMES))]
    for r in runs.to_dict("records"):
        lines.append(f"| {r['world']} | {r['strategy']} | "
                     + " | ".join(_fmt(r[c]) for c in offline_cols(k)) + " | "
                     + " | ".join(_fmt(r[o], 0 if o in ("orders", "net_gmv") else 3)
                                  for o in OUTCOMES) + " |")
    (out / "offline_vs_sim.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ans




def _load() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=CONFIG)
    ap.add_argument("--quick", action="store_true",
                    help="two tiny worlds, four strategies, into a folder under /tmp (or --out)")
    ap.add_argument("--out", type=Path, default=None, help="results folder")
    ap.add_argument("--render", action="store_true",
                    help="rewrite the Markdown and the plot from runs.csv of the last run")
    ap.add_argument("--replicate", action="store_true",
                    help="simulate every world and strategy again under another seed "
                         "(replicates.csv) and add the simulation's self-agreement")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
    log.setLevel(logging.INFO)
    cfg = dict(QUICK) if args.quick else tomllib.loads(args.config.read_text(encoding="utf-8"))
    out = args.out or (Path(tempfile.mkdtemp(prefix="offline_vs_sim_")) if args.quick
                       else HERE / "results")
    out.mkdir(parents=True, exist_ok=True)
    command = "nice -n 10 .venv/bin/python experiments/offline_vs_sim/run.py" + (
        " " + shlex.join(argv if argv is not None else sys.argv[1:]) if (argv or sys.argv[1:])
        else "")
    rep_csv = out / "replicates.csv"
    if args.render or args.replicate:
        runs = pd.read_csv(out / "runs.csv")
        header = kept_provenance(out / "offline_vs_sim.md")
        if args.replicate:
            load0 = _load()
            t0, p0 = time.perf_counter(), time.process_time()
            rows: list[dict] = []
            for label, settings, ds in worlds(cfg, args.quick):
                rows += replicate_world(label, settings, ds, cfg)
                pd.DataFrame(rows).to_csv(rep_csv, index=False)  # partial results survive
            header += [f"- Replicates: {line[2:]}" for line in provenance_lines(command)[:2]]
            header += [f"- Replicates: load average before {load0}; after {_load()}; "
                       f"{time.perf_counter() - t0:.0f} s wall, "
                       f"{time.process_time() - p0:.0f} s process CPU"]
        reps = pd.read_csv(rep_csv) if rep_csv.is_file() else None
        ans = render(runs, cfg, out, header, reps)
        print(ans)
        return 0
    load0 = _load()
    t0, p0 = time.perf_counter(), time.process_time()
    rows = []
    for label, settings, ds in worlds(cfg, args.quick):
        rows += run_world(label, settings, ds, cfg)
        pd.DataFrame(rows).to_csv(out / "runs.csv", index=False)  # partial results survive
    runs = pd.DataFrame(rows)
    header = [*provenance_lines(command),
              f"- Load average before: {load0}; after: {_load()}",
              f"- Elapsed: {time.perf_counter() - t0:.0f} s wall, "
              f"{time.process_time() - p0:.0f} s process CPU"]
    if rep_csv.is_file():
        rep_csv.unlink()  # replicates of an earlier run's worlds do not belong to this one
    ans = render(runs, cfg, out, header)
    print(f"{ans}.\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
