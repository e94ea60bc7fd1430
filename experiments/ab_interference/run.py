"""A/B designs under network interference: user- and cluster-randomised tests against the global
effect, inside simulated worlds.

For every world (seed) and every setting of social influence (``ab_interference.toml``), four
runs share the seed (common random numbers, so the same user meets the same draws in each):
every user on arm A, every user on arm B (the *global effect* is the difference of their mean
outcome per user), a user-randomised test (``hr.sim.user_randomised``, complete randomisation,
half the users on A) and a cluster-randomised test (``hr.sim.cluster_randomised`` over
``hr.sim.graph_clusters``, half the Louvain communities on A). The tests run in one world
(``hr.sim.run(arms=..., assignment=...)``), so an arm's endorsements reach the other arm's users.

Per world, design and outcome (orders and net GMV per user) it records the estimate, its 95%
interval (``hr.sim.difference_in_means``; ``hr.sim.cluster_difference`` with the cluster-robust
interval and with Horvitz-Thompson), the error against the global effect and its two parts:

- *interference*: ``spill_A - spill_B``, where ``spill_X`` is the mean over the test's arm-X
  users of their outcome in the test minus their outcome in the all-X run (what the other arm's
  presence changed for them; exactly measurable here because the runs share random numbers);
- *randomisation*: the rest (which users fell in which arm), mean zero over assignments.

For the difference of user means (``user`` and ``cluster``) the error is exactly the sum of the
two. The report gives their means over worlds with t-intervals, the error's standard deviation,
the mean standard error and how many intervals contain the global effect.

Run from the repository root::

    nice -n 10 .venv/bin/python experiments/ab_interference/run.py
    nice -n 10 .venv/bin/python experiments/ab_interference/run.py --quick   # tiny, into /tmp
    .venv/bin/python experiments/ab_interference/run.py --render   # report from runs.csv

Writes ``results/ab_interference.md``, ``results/runs.csv``, ``results/summary.csv`` and
``results/ab_interference.png``.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd

import haowurank as hr
from haowurank.studies import kept_provenance, provenance_lines

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "ab_interference.toml"
METRICS = {"orders": "orders per user", "net_gmv": "net GMV per user"}
DESIGNS = {"user": "user-randomised", "cluster": "cluster-randomised (CR1)",
           "cluster_ht": "cluster-randomised (HT)"}
QUICK = {
    "seeds": [0, 1], "level": 0.95, "louvain_resolutions": [1.0, 5.0],
    "arms": {"A": "trust", "B": "popularity"},
    "sim": {"n_users": 300, "n_items": 120, "days": 5, "refit_every": 2,
            "daily_active_rate": 0.3},
    "settings": {"closed": {"recommend_rate": 0.0, "rap_rate": 0.0, "click_social": 0.0,
                            "click_bought": 0.0},
                 "strong": {"recommend_rate": 0.15, "rap_rate": 0.6, "click_social": 1.5,
                            "click_bought": 1.5}},
}
log = logging.getLogger("ab_interference")
_WORLDS: dict = {}  # (seed, n_users, n_items) -> (world, {resolution: clusters}): the latest one


def design_label(design: str) -> str:
    """``user``, ``cluster`` or ``cluster_ht``, with ``@r`` for a Louvain resolution r."""
    base, _, res = design.partition("@")
    return DESIGNS[base] + (f", Louvain resolution {res}" if res else "")


def _designs(cfg: dict) -> list[tuple[str, float | None]]:
    """(design, resolution) pairs: the user design, then both cluster estimators per resolution."""
    out: list[tuple[str, float | None]] = [("user", None)]
    for r in cfg.get("louvain_resolutions", [1.0]):
        out += [(f"{base}@{float(r):g}", float(r)) for base in ("cluster", "cluster_ht")]
    return out


def _load() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def run_world(seed: int, setting: str, changes: dict, cfg: dict) -> list[dict]:
    """The four runs of one world under one setting; one row per design and metric."""
    sim = hr.sim.SimulationConfig(**{**cfg["sim"], **changes, "seed": int(seed)})
    key = (int(seed), sim.n_users, sim.n_items)
    resolutions = sorted({r for _, r in _designs(cfg) if r is not None})
    if key not in _WORLDS:  # the settings change the simulation, not the world
        ds = hr.datasets.synthetic(sim.n_users, sim.n_items, seed=int(seed), **sim.world_knobs())
        _WORLDS.clear()
        _WORLDS[key] = ds, {r: hr.sim.graph_clusters(ds, seed=int(seed), resolution=r)
                            for r in resolutions}
    ds, clusterings = _WORLDS[key]
    arms = dict(cfg["arms"])
    a, b = list(arms)
    assignments = {None: hr.sim.user_randomised(ds, seed=int(seed), arms=(a, b))}
    for r in resolutions:
        assignments[r] = hr.sim.cluster_randomised(clusterings[r], seed=int(seed), arms=(a, b))
    t0, c0 = time.perf_counter(), time.process_time()
    whole = {arm: hr.sim.run(sim.replace(strategy=arms[arm]), dataset=ds).per_user
             for arm in (a, b)}
    tests = {d: hr.sim.run(sim, dataset=ds, arms=arms, assignment=asg).per_user
             for d, asg in assignments.items()}
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    soc = ds.indexed_social
    inside = {}
    for r, clusters in clusterings.items():
        lab = clusters.to_numpy()
        inside[r] = float((lab[soc["user"].to_numpy()] == lab[soc["friend"].to_numpy()]).mean())
    rows = []
    level = float(cfg.get("level", 0.95))
    for metric in METRICS:
        ya, yb = whole[a][metric].to_numpy(float), whole[b][metric].to_numpy(float)
        glob = float(ya.mean() - yb.mean())
        for design, r in _designs(cfg):
            pu, asg = tests[r], assignments[r]
            if r is None:
                est = hr.sim.difference_in_means(pu, metric, arms=(a, b), level=level)
            else:
                est = hr.sim.cluster_difference(
                    pu, clusterings[r], metric, arms=(a, b), level=level,
                    method="ht" if design.startswith("cluster_ht") else "means")
            in_a = (asg.reindex(pu["user"]) == a).to_numpy()
            y = pu[metric].to_numpy(float)
            spill_a = float((y[in_a] - ya[in_a]).mean())
            spill_b = float((y[~in_a] - yb[~in_a]).mean())
            rows.append({
                "setting": setting, "seed": int(seed), "metric": metric, "design": design,
                "global_effect": glob, "mean_all_a": float(ya.mean()),
                "mean_all_b": float(yb.mean()), "estimate": est.effect, "se": est.se,
                "low": est.low, "high": est.high, "error": est.effect - glob,
                "interference": spill_a - spill_b, "spill_a": spill_a, "spill_b": spill_b,
                "covers": bool(est.low <= glob <= est.high), "n_a": est.n_a, "n_b": est.n_b,
                "resolution": r, "clusters": est.clusters_a + est.clusters_b,
                "clusters_a": est.clusters_a, "clusters_b": est.clusters_b,
                "friendships_inside_clusters": np.nan if r is None else inside[r],
                "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
            })
    log.info("%s seed %d: %.0f s wall, %.0f s CPU", setting, seed, wall, cpu)
    return rows


def summarise(runs: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Per (setting, metric, design): means over worlds with t-intervals."""
    out = []
    for (setting, metric, design), g in runs.groupby(["setting", "metric", "design"], sort=False):
        row = {"setting": setting, "metric": metric, "design": design, "worlds": len(g)}
        for col in ("global_effect", "estimate", "error", "interference"):
            m, lo, hi, _ = hr.sim.mean_ci(g[col].to_numpy(float), level=level, kind="real")
            row.update({col: m, f"{col}_low": lo, f"{col}_high": hi})
        row["error_sd"] = float(g["error"].std(ddof=1)) if len(g) > 1 else 0.0
        row["rmse"] = float(np.sqrt((g["error"] ** 2).mean()))
        row["mean_se"] = float(g["se"].mean())
        row["covers"] = int(g["covers"].sum())
        row["relative_bias"] = (row["error"] / abs(row["global_effect"])
                                if row["global_effect"] else float("nan"))
        row["clusters"] = float(g["clusters"].mean())
        row["friendships_inside_clusters"] = float(g["friendships_inside_clusters"].mean())
        out.append(row)
    return pd.DataFrame(out)


def forest(summary: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    settings = list(dict.fromkeys(summary["setting"]))
    per = summary.groupby("setting").size().max() // len(METRICS) + 1
    fig, axes = plt.subplots(1, len(METRICS), figsize=(7.0 * len(METRICS), 0.8 + 0.4 * len(
        settings) * per), squeeze=False)
    colours = {"global": "black", "user": "tab:blue", "cluster": "tab:orange",
               "cluster_ht": "tab:green"}
    for ax, metric in zip(axes[0], METRICS):
        ticks, labels, y = [], [], 0.0
        for setting in settings:
            s = summary[(summary["setting"] == setting) & (summary["metric"] == metric)]
            g = s.iloc[0]
            ax.errorbar(g["global_effect"], y, xerr=[[g["global_effect"] - g["global_effect_low"]],
                                                     [g["global_effect_high"] - g["global_effect"]]],
                        fmt="s", color=colours["global"], capsize=3)
            ticks.append(y)
            labels.append(f"{setting}: global effect")
            y -= 1
            for _, r in s.iterrows():
                ax.errorbar(r["estimate"], y, xerr=[[r["estimate"] - r["estimate_low"]],
                                                    [r["estimate_high"] - r["estimate"]]],
                            fmt="o" if "@" not in r["design"] or r["design"].endswith("@1")
                            else "D", color=colours[r["design"].partition("@")[0]], capsize=3)
                ticks.append(y)
                labels.append(f"{setting}: {design_label(r['design'])}")
                y -= 1
            y -= 0.5
        ax.axvline(0.0, color="grey", lw=0.8, ls="--")
        ax.set_yticks(ticks, labels, fontsize=8)
        ax.set_xlabel("A minus B: mean over worlds, 95% interval")
        ax.set_title(METRICS[metric])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _fmt(x: float, d: int = 4) -> str:
    return "nan" if not np.isfinite(x) else f"{x:+.{d}f}"


def _ci(r: pd.Series, col: str, d: int = 4) -> str:
    return f"{_fmt(r[col], d)} [{_fmt(r[col + '_low'], d)}, {_fmt(r[col + '_high'], d)}]"


def answer(summary: pd.DataFrame, runs: pd.DataFrame, cfg: dict) -> str:
    """The study's answer in a sentence, from the summary table (settings in the config's
    order, the last one the strongest social influence; cluster designs with the difference of
    user means and the CR1 interval): net GMV per user in full, orders per user under the
    strongest setting."""
    arms = cfg["arms"]
    a, b = list(arms)
    settings = list(dict.fromkeys(summary["setting"]))
    last = settings[-1]
    s = summary[summary["metric"] == "net_gmv"].set_index(["setting", "design"])
    glob = ", ".join(f"{k} {_ci(s.loc[(k, 'user')], 'global_effect', 2)}" for k in settings)
    user = ", ".join(f"{k} {_ci(s.loc[(k, 'user')], 'interference', 2)}" for k in settings)
    u = s.loc[(last, "user")]
    share = (f" ({u['interference'] / u['global_effect']:+.0%} of the global effect)"
             if u["global_effect"] else "")
    cl = []
    for design in [d for d in s.loc[last].index if d.startswith("cluster@")]:
        c = s.loc[(last, design)]
        sd = c["error_sd"] / u["error_sd"] if u["error_sd"] else float("nan")
        cl.append(f"{c['clusters']:.0f} communities {_fmt(c['interference'], 2)} at {sd:.1f}x "
                  f"the error sd")
    o = summary[(summary["metric"] == "orders") & (summary["setting"] == last)
                & (summary["design"] == "user")].iloc[0]
    n = runs["seed"].nunique()
    return (f"Over {n} worlds, `{arms[a]}` against `{arms[b]}`, net GMV per user: global effect "
            f"{glob}; interference bias of a user-randomised test {user}{share}; under `{last}` "
            f"cluster-randomised tests over " + ", ".join(cl) + f". Orders per user under "
            f"`{last}`: global effect {_ci(o, 'global_effect', 3)}, user-randomised "
            f"interference bias {_ci(o, 'interference', 3)}")


def render(runs: pd.DataFrame, cfg: dict, out: Path, header: list[str]) -> str:
    summary = summarise(runs, float(cfg.get("level", 0.95)))
    summary.to_csv(out / "summary.csv", index=False)
    forest(summary, out / "ab_interference.png")
    ans = answer(summary, runs, cfg)
    arms = cfg["arms"]
    a, b = list(arms)
    lines = ["# A/B designs under network interference", "", *header, "",
             "## Answer", "", "| answer |", "|---|", f"| {ans} |", "",
             f"Arms: A = `{arms[a]}` (treatment), B = `{arms[b]}` (control). Worlds: "
             f"{len(runs['seed'].unique())} seeds x {len(runs['setting'].unique())} settings; "
             f"simulation fields {cfg['sim']}; settings "
             + "; ".join(f"`{k}` {v or '(defaults)'}" for k, v in cfg["settings"].items()) + ".",
             "",
             "Global effect: mean outcome per user with every user on A minus with every user on "
             "B (two whole-world runs, same seed). Error: estimate minus global effect, per "
             "world. Interference: the part of the error due to the other arm's presence "
             "(`spill_A - spill_B`, each the mean change of an arm's users against the whole-world "
             "run of their arm); for the difference of user means (user design and CR1) error = "
             "interference + randomisation exactly. Means over worlds with 95% t-intervals; "
             "`covers`: worlds whose 95% interval contains that world's global effect.", ""]
    for metric in METRICS:
        lines += [f"### {METRICS[metric]}", "",
                  "| setting | design | global effect | estimate | error (bias) | interference "
                  "| error sd | RMSE | mean se | covers |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for _, r in summary[summary["metric"] == metric].iterrows():
            lines.append(
                f"| {r['setting']} | {design_label(r['design'])} | {_ci(r, 'global_effect')} | "
                f"{_ci(r, 'estimate')} | {_ci(r, 'error')} | {_ci(r, 'interference')} | "
                f"{r['error_sd']:.4f} | {r['rmse']:.4f} | {r['mean_se']:.4f} | "
                f"{r['covers']} / {r['worlds']} |")
        lines.append("")
    lines += ["![forest plot](ab_interference.png)", "",
              "The forest plot shows, per setting, the global effect (black squares) and each "
              "design's estimate (circles; diamonds for the finer Louvain resolutions), as means "
              "over worlds with 95% t-intervals over worlds: a design whose marker sits away from "
              "the square is biased against what switching every user would do, and the width "
              "of its interval is the price of the design in precision.", "",
              "Per world (`runs.csv` has every column, with the seconds each world's runs "
              "took):", "",
              "| setting | seed | metric | design | global | estimate | interval | interference "
              "| clusters (A/B) | friendships inside clusters |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for _, r in runs.iterrows():
        lines.append(
            f"| {r['setting']} | {r['seed']} | {r['metric']} | {r['design']} | "
            f"{_fmt(r['global_effect'])} | {_fmt(r['estimate'])} | [{_fmt(r['low'])}, "
            f"{_fmt(r['high'])}] | {_fmt(r['interference'])} | "
            f"{r['clusters']} ({r['clusters_a']}/{r['clusters_b']}) | "
            f"{'' if pd.isna(r['friendships_inside_clusters']) else format(r['friendships_inside_clusters'], '.2f')} |")
    (out / "ab_interference.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ans




def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=CONFIG)
    ap.add_argument("--quick", action="store_true",
                    help="two tiny worlds, two settings, into a folder under /tmp (or --out)")
    ap.add_argument("--out", type=Path, default=None, help="results folder")
    ap.add_argument("--render", action="store_true",
                    help="rewrite the report and the plot from runs.csv of the last run")
    ap.add_argument("--note", default="",
                    help="with --render of a run without a report: how runs.csv was made")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
    log.setLevel(logging.INFO)
    cfg = dict(QUICK) if args.quick else tomllib.loads(args.config.read_text(encoding="utf-8"))
    out = args.out or (Path(tempfile.mkdtemp(prefix="ab_interference_")) if args.quick
                       else HERE / "results")
    out.mkdir(parents=True, exist_ok=True)
    given = argv if argv is not None else sys.argv[1:]
    command = "nice -n 10 .venv/bin/python experiments/ab_interference/run.py" + (
        " " + shlex.join(given) if given else "")
    if args.render:
        runs = pd.read_csv(out / "runs.csv")
        header = kept_provenance(out / "ab_interference.md")
        if header[0].startswith("- Provenance: no earlier report"):  # a run stopped early
            whole = runs.groupby("seed")["setting"].nunique() == len(cfg["settings"])
            runs = runs[runs["seed"].isin(whole[whole].index)]  # seeds with every setting
            first = runs.drop_duplicates(["setting", "seed"])
            base = "nice -n 10 .venv/bin/python experiments/ab_interference/run.py"
            header = [*provenance_lines(base), f"- Report: `{command}`",
                      f"- Rendered from runs.csv: {len(first)} world x setting cases (seeds "
                      f"{sorted(runs['seed'].unique().tolist())}, each with every setting)"
                      + (f"; {args.note}" if args.note else "")
                      + f"; the cases took {first['wall_s'].sum():.0f} s wall, "
                      f"{first['cpu_s'].sum():.0f} s process CPU; load average at rendering "
                      f"{_load()}"]
        ans = render(runs, cfg, out, header)
        print(ans)
        return 0
    load0 = _load()
    t0, p0 = time.perf_counter(), time.process_time()
    rows: list[dict] = []
    for seed in cfg["seeds"]:
        for setting, changes in cfg["settings"].items():
            rows += run_world(seed, setting, dict(changes), cfg)
            pd.DataFrame(rows).to_csv(out / "runs.csv", index=False)  # partial results survive
    runs = pd.DataFrame(rows)
    header = [*provenance_lines(command),
              f"- Load average before: {load0}; after: {_load()}",
              f"- Elapsed: {time.perf_counter() - t0:.0f} s wall, "
              f"{time.process_time() - p0:.0f} s process CPU"]
    ans = render(runs, cfg, out, header)
    print(f"{ans}.\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
