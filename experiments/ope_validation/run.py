"""Off-policy estimates against on-policy simulated truth, as the two policies diverge.

In one synthetic world, a *logging* exposure policy runs ``--seeds`` seeded one-day simulations
with logged impressions; from each log, ``hr.ope.estimate`` (IPS, SNIPS, DR) estimates the click
and order rate per impression of several *target* policies. Each target's truth is its own
on-policy value: the mean click (order) rate per feed and search impression over ``--seeds``
further one-day runs with the target as the exposure policy (other seeds, same world). One day,
so the logged and the target's sessions come from the same state (no feedback through the
log); the targets are functions of the same candidate scores, so the deterministic target is
``exposure="epsilon"`` with ``exposure_epsilon=0`` (the best remaining candidate by score).

Reported per (logging, target, estimator, outcome): the mean estimate, the truth with its
standard error, bias (mean estimate - truth), relative bias, RMSE, the share of runs whose 95%
bootstrap interval (over users) contains the truth, and the mean effective sample size of the
importance weights as a share of the impressions (how far the policies diverge).

Run from the repository root::

    nice -n 10 .venv/bin/python experiments/ope_validation/run.py
    nice -n 10 .venv/bin/python experiments/ope_validation/run.py --seeds 10   # quick

Writes ``experiments/ope_validation/results/ope_validation.{md,json,png}``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging as _logging
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

import haowurank as hr
from haowurank.sim import ExposurePolicy
from haowurank.studies import provenance_lines

HERE = Path(__file__).resolve().parent
OUT = HERE / "results" / "ope_validation.md"
OUTCOMES = ("click", "order")
ESTIMATORS = ("ips", "snips", "dr")
LEVEL = 0.95
#: evaluated slots: every slot of a slate, or the first five only (``hr.ope.estimate(slots=5)``)
SLOTS = {"all": None, "top 5": 5}

#: exposure policies by label: the config fields of a run and the policy hr.ope evaluates
POLICIES = {
    "pl(T=2)": ({"exposure": "plackett_luce", "exposure_temperature": 2.0},
                ExposurePolicy("plackett_luce", temperature=2.0)),
    "pl(T=1)": ({"exposure": "plackett_luce", "exposure_temperature": 1.0},
                ExposurePolicy("plackett_luce", temperature=1.0)),
    "pl(T=0.7)": ({"exposure": "plackett_luce", "exposure_temperature": 0.7},
                  ExposurePolicy("plackett_luce", temperature=0.7)),
    "pl(T=0.5)": ({"exposure": "plackett_luce", "exposure_temperature": 0.5},
                  ExposurePolicy("plackett_luce", temperature=0.5)),
    "pl(T=0.35)": ({"exposure": "plackett_luce", "exposure_temperature": 0.35},
                   ExposurePolicy("plackett_luce", temperature=0.35)),
    "pl(T=0.25)": ({"exposure": "plackett_luce", "exposure_temperature": 0.25},
                   ExposurePolicy("plackett_luce", temperature=0.25)),
    "greedy": ({"exposure": "epsilon", "exposure_epsilon": 0.0},
               ExposurePolicy("deterministic")),
    "eps(0.3)": ({"exposure": "epsilon", "exposure_epsilon": 0.3},
                 ExposurePolicy("epsilon", epsilon=0.3)),
    "eps(0.1)": ({"exposure": "epsilon", "exposure_epsilon": 0.1},
                 ExposurePolicy("epsilon", epsilon=0.1)),
}
#: logging policy -> targets, ordered from the logging policy outwards
PAIRS = {
    "pl(T=1)": ["pl(T=1)", "pl(T=2)", "pl(T=0.7)", "pl(T=0.5)", "pl(T=0.35)", "pl(T=0.25)",
                "greedy"],
    "eps(0.3)": ["eps(0.3)", "eps(0.1)", "greedy", "pl(T=0.5)"],
}


def base_config(args) -> hr.sim.SimulationConfig:
    return hr.sim.SimulationConfig(
        n_users=args.users, n_items=args.items, days=1, seed=0, world_seed=0,
        strategy=args.strategy, log_impressions=True,
    )


def session_rows(imp: pd.DataFrame, slots: int | None = None) -> pd.DataFrame:
    rows = imp[imp["surface"].astype(str).isin(["feed", "search"])]
    return rows if slots is None else rows[rows["position"] < slots]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=50, help="logged runs and truth runs per policy")
    ap.add_argument("--users", type=int, default=3000)
    ap.add_argument("--items", type=int, default=400)
    ap.add_argument("--strategy", default="popularity")
    ap.add_argument("--n-boot", type=int, default=300)
    ap.add_argument("--render", action="store_true",
                    help="rewrite the report and plot from ope_validation.json without rerunning")
    args = ap.parse_args(argv)
    _logging.getLogger("haowurank.ope").setLevel(_logging.ERROR)  # the ESS warning, per call
    if args.render:
        data = json.loads(OUT.with_suffix(".json").read_text())
        summary = pd.DataFrame(data["summary"])
        plot(summary, OUT.with_suffix(".png"))
        head, _, tail = OUT.read_text().partition("\n- Command:")
        table = render(summary, data["truth"], argparse.Namespace(**data["args"]), 0, 0,
                       (0, 0, 0), (0, 0, 0)).partition("\n- Command:")[0]
        OUT.write_text(table + "\n- Command:" + tail)
        return 0
    load_before = os.getloadavg()
    t_wall, t_cpu = time.perf_counter(), time.process_time()
    cfg0 = base_config(args)
    ds = hr.datasets.synthetic(n_users=cfg0.n_users, n_items=cfg0.n_items, seed=0,
                               **cfg0.world_knobs())

    # ---- truth: each target's on-policy value per impression (other seeds)
    targets = sorted({t for ts in PAIRS.values() for t in ts}, key=list(POLICIES).index)
    truth: dict[str, dict[str, float]] = {}
    for t in targets:
        vals = {(sl, o): [] for sl in SLOTS for o in OUTCOMES}
        for s in range(args.seeds):
            res = hr.sim.run(cfg0.replace(seed=10_000 + s, **POLICIES[t][0]), dataset=ds)
            for sl, k in SLOTS.items():
                imp = session_rows(res.impressions, k)
                for o in OUTCOMES:
                    vals[sl, o].append(float(imp[o].mean()))
        for sl in SLOTS:
            key = f"{t}|{sl}"
            truth[key] = {o: float(np.mean(vals[sl, o])) for o in OUTCOMES}
            truth[key].update({f"{o}_se": float(np.std(vals[sl, o], ddof=1)
                                                / np.sqrt(args.seeds)) for o in OUTCOMES})
        print(f"truth {t}: " + ", ".join(f"{o} {truth[t + '|all'][o]:.4f}" for o in OUTCOMES),
              flush=True)

    # ---- estimates from the logging policies' runs
    rows = []
    for logging, ts in PAIRS.items():
        for s in range(args.seeds):
            res = hr.sim.run(cfg0.replace(seed=s, **POLICIES[logging][0]), dataset=ds)
            for t in ts:
                for (sl, k), o in itertools.product(SLOTS.items(), OUTCOMES):
                    est = hr.ope.estimate(res.impressions, res.candidates, POLICIES[t][1],
                                          outcome=o, slots=k, level=LEVEL, n_boot=args.n_boot,
                                          seed=s)
                    for r in est.itertuples():
                        rows.append({"logging": logging, "target": t, "slots": sl, "seed": s,
                                     "outcome": o, "estimator": r.estimator, "value": r.value,
                                     "low": r.low, "high": r.high,
                                     "ess_share": r.ess / r.n_impressions,
                                     "n_impressions": r.n_impressions})
        print(f"estimated from {logging}", flush=True)
    raw = pd.DataFrame(rows)
    summary = summarise(raw, truth)
    wall, cpu = time.perf_counter() - t_wall, time.process_time() - t_cpu
    load_after = os.getloadavg()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.with_suffix(".json").write_text(json.dumps(
        {"truth": truth, "summary": summary.to_dict(orient="records"),
         "args": vars(args)}, indent=1))
    plot(summary, OUT.with_suffix(".png"))
    OUT.write_text(render(summary, truth, args, wall, cpu, load_before, load_after))
    print(summary.to_string(index=False))
    return 0


def summarise(raw: pd.DataFrame, truth: dict) -> pd.DataFrame:
    out = []
    for (logging, target, slots, outcome, est), g in raw.groupby(
            ["logging", "target", "slots", "outcome", "estimator"], sort=False):
        if est == "logged":
            continue
        key = f"{target}|{slots}"
        tv = truth[key][outcome]
        err = g["value"] - tv
        out.append({
            "logging": logging, "target": target, "slots": slots, "outcome": outcome,
            "estimator": est, "ess_share": g["ess_share"].mean(), "truth": tv,
            "truth_se": truth[key][f"{outcome}_se"], "mean_estimate": g["value"].mean(),
            "bias": err.mean(), "rel_bias": err.mean() / tv if tv else float("nan"),
            "bias_se": err.std(ddof=1) / np.sqrt(len(err)), "rmse": float(np.sqrt((err ** 2).mean())),
            "coverage": float(((g["low"] <= tv) & (tv <= g["high"])).mean()), "runs": len(g),
        })
    return pd.DataFrame(out)


def plot(summary: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharex=True)
    colours = {"ips": "C0", "snips": "C1", "dr": "C2"}
    for j, outcome in enumerate(OUTCOMES):
        s = summary[(summary["logging"] == "pl(T=1)") & (summary["outcome"] == outcome)]
        for (slots, est), g in s.groupby(["slots", "estimator"], sort=False):
            g = g.sort_values("ess_share")
            se = np.sqrt(g["bias_se"] ** 2 + g["truth_se"] ** 2)
            style = dict(color=colours[est], ls="-" if slots == "all" else ":",
                         marker="o" if slots == "all" else "s", label=f"{est}, {slots} slots")
            axes[0, j].errorbar(g["ess_share"], g["rel_bias"], yerr=2 * se / g["truth"],
                                capsize=2, **style)
            axes[1, j].plot(g["ess_share"], g["coverage"], **style)
        axes[0, j].axhline(0, color="grey", lw=0.8)
        axes[1, j].axhline(LEVEL, color="grey", lw=0.8, ls="--")
        axes[0, j].set_title(f"{outcome} rate: logging pl(T=1)")
        axes[0, j].set_ylabel("relative bias (mean estimate / truth - 1)")
        axes[1, j].set_ylabel("95% interval coverage")
        axes[1, j].set_xlabel("effective sample size / impressions (1: same policy)")
        axes[1, j].set_xscale("log")
        axes[1, j].set_ylim(0, 1.02)
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _f(v: float, d: int = 4) -> str:
    return f"{v:.{d}f}"


def render(summary, truth, args, wall, cpu, load_before, load_after) -> str:
    cols = ["logging", "target", "slots", "outcome", "estimator", "ess_share", "truth",
            "mean_estimate", "bias", "rel_bias", "rmse", "coverage"]
    head = "| " + " | ".join(cols) + " |"
    sep = "|" + "|".join("---" if c in ("logging", "target", "slots", "outcome", "estimator")
                         else "---:" for c in cols) + "|"
    body = []
    for r in summary.itertuples():
        body.append("| " + " | ".join([
            r.logging, r.target, r.slots, r.outcome, r.estimator, _f(r.ess_share, 3),
            f"{r.truth:.4f} ± {r.truth_se:.4f}", _f(r.mean_estimate),
            f"{r.bias:+.4f} ± {np.hypot(r.bias_se, r.truth_se):.4f}", f"{r.rel_bias:+.1%}",
            _f(r.rmse),
            f"{r.coverage:.2f}"]) + " |")
    command = ".venv/bin/python experiments/ope_validation/run.py" + (
        f" --seeds {args.seeds}" if args.seeds != 50 else "")
    return "\n".join([
        "# Off-policy estimates against simulated truth",
        "",
        f"World: `hr.datasets.synthetic({args.users} users, {args.items} items, seed 0)` with the "
        f"simulation's world knobs; strategy `{args.strategy}`; one simulated day per run (no "
        "feedback through the log); feed 20 and search 10 slots drawn from the product's top 60 "
        "and 30 candidates (`exposure_pool` 3); only feed and search impressions (messages are "
        "not ranked slates). "
        f"Each logging policy ran {args.seeds} seeds (0..{args.seeds - 1}); each target's truth "
        f"is the mean per-impression rate of {args.seeds} on-policy runs (seeds 10000..) ± its "
        "standard error. `ess_share` is the effective sample size of the prefix weights over "
        "the number of impressions (1 when target = logging); `bias` is the mean estimate minus "
        "the truth ± the standard error of that difference (the estimates' mean and the "
        "truth); `coverage` is the share of runs whose 95% "
        f"percentile bootstrap interval over users ({args.n_boot} resamples) contains the truth. "
        "`greedy` is the best remaining candidate by score (`exposure=\"epsilon\"`, "
        "`exposure_epsilon=0`). `slots`: every slot of a slate, or its first five only "
        "(`hr.ope.estimate(slots=5)`, against the truth over the first five slots).",
        "",
        head, sep, *body,
        "",
        "![bias and coverage against divergence](ope_validation.png)",
        "",
        "The figure shows, for logs of the Plackett-Luce policy at temperature 1, the relative "
        "bias (with two standard errors) and the 95% interval coverage of each estimator for "
        "the click rate (left) and the order rate (right), over every slot (solid) and over "
        "the first five slots (dotted), against the effective sample size share of the "
        "importance weights: the further right, the closer the target is to the logging "
        "policy.",
        "",
        *provenance_lines(command),
        f"- Run time: {wall:.0f} s wall, {cpu:.0f} s process CPU; load average before "
        f"{load_before[0]:.1f} / {load_before[1]:.1f} / {load_before[2]:.1f}, after "
        f"{load_after[0]:.1f} / {load_after[1]:.1f} / {load_after[2]:.1f}",
        "",
    ])


if __name__ == "__main__":
    raise SystemExit(main())
