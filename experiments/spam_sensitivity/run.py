"""Spam sensitivity: over a range of fatigue and churn settings, where does spamming stop paying?

Question: with the consequences of messages switched on (opt-outs mute a merchant, complaints
and message fatigue lower a user's activity, complaints churn users), does a world of
merchants that all spam (``messaging="spammer"``) sell more than one where no merchant messages
(``"none"``) and than one where every merchant sends one reminder timed to the repurchase
(``"timed"``), and at which fatigue and churn sizes does spamming stop paying?

Design (``spam_sensitivity.toml``): a grid of ``fatigue_activity_drop`` x
``churn_per_complaint``; every other ``SimulationConfig`` field at its default (the published
opt-out and complaint rates documented in ``SimulationConfig``) unless the TOML's ``[base]``
table sets it. For each replicate seed ``r`` every arm runs the same world (``world_seed=r``)
with the same seed, so the arms share their random numbers (paired replicates). ``"none"``
sends no message, so neither fatigue nor churn can touch it: its one run per replicate serves
every cell (the script checks this on the first cell: a "none" run does not change with the
cell's settings). Per cell the GMV differences spammer - none and spammer - timed are averaged
over replicates with a percentile interval from a paired bootstrap over replicates (the
replicates are resampled together, so each resample keeps the pairs). "Stops paying" means the
interval's upper end is below 0; "still pays" means its lower end is above 0; otherwise the
difference is not resolved. Churn follows only a complaint, so a run without any complaint is
the same run under every churn setting: the script reuses it (``reused`` in the CSV) instead of
running it again.

Run from the repository root (low priority: the machine is shared)::

    nice -n 10 .venv/bin/python experiments/spam_sensitivity/run.py
    nice -n 10 .venv/bin/python experiments/spam_sensitivity/run.py --quick --out /tmp/spam

``--adaptation`` then runs spammers that switch to ``timed`` after k penalties at one cell
and compares them with the main run's arms (``results/adaptation.md``). ``--quick`` runs a
tiny grid on a small world (a smoke test; never written to ``results/``
unless ``--out`` says so); ``--render`` only rewrites the Markdown and the plot from the CSV of
the last run, keeping that run's provenance. Writes ``results/spam_sensitivity.md`` (tables, answer, provenance),
``results/spam_sensitivity.csv`` (one row per run) and ``results/spam_sensitivity.png``.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd

import haowurank as hr
from haowurank.studies import provenance_lines

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "spam_sensitivity.toml"
ARMS = ("spammer", "timed", "none")
QUICK = {
    "n_users": 300, "n_items": 120, "days": 10, "replicates": 2, "bootstrap": 200,
    "fatigue_activity_drop": [0.0, 0.1], "churn_per_complaint": [0.0, 1.0], "base": {},
    "adapt_after_penalties": [1],
}


def load(path: Path) -> dict:
    """The study's TOML as a dict (grid, sizes, replicates, base fields)."""
    with open(path, "rb") as fh:
        cfg = tomllib.load(fh)
    need = ["n_users", "n_items", "days", "replicates", "bootstrap", "fatigue_activity_drop",
            "churn_per_complaint"]
    missing = [k for k in need if k not in cfg]
    if missing:
        raise ValueError(f"{path}: missing key(s) {missing}")
    cfg.setdefault("base", {})
    return cfg


def one_run(study: dict, arm: str, seed: int, fatigue: float, churn: float,
            **fields) -> dict:
    """GMV and message counts of one simulation run (``fields``: further config fields)."""
    config = hr.sim.SimulationConfig(
        n_users=study["n_users"], n_items=study["n_items"], days=study["days"], seed=seed,
        world_seed=seed, messaging=arm, fatigue_activity_drop=fatigue,
        churn_per_complaint=churn, **{**study["base"], **fields})
    wall, cpu = time.perf_counter(), time.process_time()
    res = hr.sim.run(config)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    d = res.daily
    violations = len(res.check_quotas())
    if violations:
        raise RuntimeError(f"{arm} seed {seed}: {violations} quota violations")
    return {
        "arm": arm, "seed": seed, "fatigue_activity_drop": fatigue,
        "churn_per_complaint": churn, "gmv": float(d["gmv"].sum()),
        "orders": int(d["orders"].sum()), "messages": int(d["messages_sent"].sum()),
        "opt_outs": int(d["opt_outs"].sum()), "complaints": int(d["complaints"].sum()),
        "churned": int(d["churned"].sum()), "penalties": int(d["penalties"].sum()),
        "activity_mean_last": float(d["activity_mean"].iloc[-1]),
        "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
    }


def paired_bootstrap(diff: np.ndarray, n_boot: int, seed: int) -> tuple[float, float, float]:
    """Mean of paired differences and its percentile 95% interval, resampling replicates."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(diff), size=(n_boot, len(diff)))
    means = diff[idx].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(diff.mean()), float(lo), float(hi)


def verdict(lo: float, hi: float) -> str:
    return "stops paying" if hi < 0 else "pays" if lo > 0 else "not resolved"


def summarise(runs: pd.DataFrame, n_boot: int) -> pd.DataFrame:
    """One row per (cell, comparison): mean GMV difference, its interval and the verdict."""
    none = runs[runs["arm"] == "none"].set_index("seed")["gmv"]
    rows = []
    cells = runs[runs["arm"] == "spammer"][["fatigue_activity_drop", "churn_per_complaint"]]
    for k, (f, c) in enumerate(cells.drop_duplicates().itertuples(index=False)):
        cell = runs[(runs["fatigue_activity_drop"] == f) & (runs["churn_per_complaint"] == c)]
        spam = cell[cell["arm"] == "spammer"].set_index("seed")
        timed = cell[cell["arm"] == "timed"].set_index("seed")["gmv"]
        for name, other in (("spammer - none", none), ("spammer - timed", timed)):
            seeds = spam.index.intersection(other.index)
            diff = (spam.loc[seeds, "gmv"] - other.loc[seeds]).to_numpy()
            mean, lo, hi = paired_bootstrap(diff, n_boot, seed=k)
            base = other.loc[seeds].mean()
            rows.append({
                "fatigue_activity_drop": f, "churn_per_complaint": c, "comparison": name,
                "replicates": len(seeds), "gmv_diff": mean, "lo": lo, "hi": hi,
                "diff_pct": 100.0 * mean / base if base else float("nan"),
                "verdict": verdict(lo, hi),
                "spammer_complaints": float(spam.loc[seeds, "complaints"].mean()),
                "spammer_churned": float(spam.loc[seeds, "churned"].mean()),
                "spammer_activity": float(spam.loc[seeds, "activity_mean_last"].mean()),
            })
    return pd.DataFrame(rows)


def threshold(summary: pd.DataFrame, comparison: str) -> str:
    """Where spamming stops paying against ``comparison`` (its interval wholly below 0), per
    churn setting, in words; churn settings with the same answer are named together."""
    s = summary[summary["comparison"] == comparison]
    by: dict[str, list[str]] = {}
    for c, g in s.groupby("churn_per_complaint"):
        stop = g.loc[g["verdict"] == "stops paying", "fatigue_activity_drop"]
        if len(stop) == len(g):
            key = "costs GMV at every fatigue"
        elif len(stop):
            key = f"costs GMV from fatigue {stop.min():g}"
        else:
            key = f"never costs GMV up to fatigue {g['fatigue_activity_drop'].max():g}"
        by.setdefault(key, []).append(f"{c:g}")
    return "; ".join(f"{k} (churn per complaint {', '.join(v)})" for k, v in by.items())


def answer(summary: pd.DataFrame) -> str:
    """The answer in two sentences, written from the summary table (no '|': it is a cell)."""
    out = []
    for comp, other in (("spammer - none", "no messages"), ("spammer - timed", "all-`timed`")):
        s = summary[summary["comparison"] == comp]
        first = s.sort_values(["fatigue_activity_drop", "churn_per_complaint"]).iloc[0]
        d = hr.sim.SimulationConfig()
        at = s[(s["fatigue_activity_drop"] == d.fatigue_activity_drop)
               & (s["churn_per_complaint"] == d.churn_per_complaint)]
        default = (f", {at['gmv_diff'].iloc[0]:+.0f} [{at['lo'].iloc[0]:+.0f}, "
                   f"{at['hi'].iloc[0]:+.0f}] at the defaults (fatigue "
                   f"{d.fatigue_activity_drop:g}, churn {d.churn_per_complaint:g})"
                   if len(at) else "")
        out.append(
            f"All-spammer against {other}: GMV {first['gmv_diff']:+.0f} "
            f"[{first['lo']:+.0f}, {first['hi']:+.0f}] at fatigue "
            f"{first['fatigue_activity_drop']:g} and churn {first['churn_per_complaint']:g}"
            f"{default}; spamming {threshold(summary, comp)}.")
    return " ".join(out)


def plot(summary: pd.DataFrame, path: Path) -> None:
    """GMV difference against fatigue, one line per churn setting, one panel per comparison."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    comps = ["spammer - none", "spammer - timed"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, comp in zip(axes, comps):
        s = summary[summary["comparison"] == comp]
        churns = sorted(s["churn_per_complaint"].unique())
        width = 0.0015 * (len(churns) - 1) if len(churns) > 1 else 0.0
        for j, c in enumerate(churns):
            g = s[s["churn_per_complaint"] == c].sort_values("fatigue_activity_drop")
            x = g["fatigue_activity_drop"].to_numpy() + (
                (j / max(len(churns) - 1, 1) - 0.5) * width)
            y = g["gmv_diff"].to_numpy()
            err = np.vstack([y - g["lo"].to_numpy(), g["hi"].to_numpy() - y])
            ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=f"churn per complaint {c:g}")
        ax.axhline(0.0, color="black", lw=0.8)
        ax.set_title(f"GMV: {comp}")
        ax.set_xlabel("fatigue_activity_drop (activity lost per tiring message)")
    axes[0].set_ylabel("GMV difference (mean, 95% paired bootstrap)")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def render(study: dict, raw: pd.DataFrame, runs: pd.DataFrame, summary: pd.DataFrame,
           load_before: str, provenance: list[str], png: str) -> str:
    lines = ["# Spam sensitivity: where does spamming stop paying?", ""]
    lines += [f"Worlds of {study['n_users']:,} users x {study['n_items']:,} items x "
              f"{study['days']} days, {study['replicates']} paired replicates (seed = world "
              f"seed = 0..{study['replicates'] - 1}), every merchant on one policy per arm; "
              f"other fields at their `SimulationConfig` defaults"
              + (f" except {study['base']}" if study["base"] else "")
              + f". Intervals: 95% percentile bootstrap over replicates, {study['bootstrap']} "
              "resamples, pairs kept. GMV is the sum of paid amounts over the run.", ""]
    lines += ["| answer |", "|---|", f"| {answer(summary)} |", ""]
    lines += [f"![GMV difference against fatigue]({png})", "",
              "The plot shows the mean GMV difference of the all-spammer world against no "
              "messages (left) and against all-`timed` (right) as the activity lost per tiring "
              "message grows, one line per churn-per-complaint setting, with 95% paired "
              "bootstrap intervals; below the zero line spamming costs GMV.", ""]
    lines += ["| fatigue_activity_drop | churn_per_complaint | comparison | GMV diff | 95% "
              "interval | diff % | verdict | spammer complaints | spammer churned | spammer "
              "activity (last day) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in summary.itertuples(index=False):
        lines.append(
            f"| {r.fatigue_activity_drop:g} | {r.churn_per_complaint:g} | {r.comparison} | "
            f"{r.gmv_diff:+.0f} | [{r.lo:+.0f}, {r.hi:+.0f}] | {r.diff_pct:+.1f}% | {r.verdict} "
            f"| {r.spammer_complaints:.1f} | {r.spammer_churned:.1f} | "
            f"{r.spammer_activity:.3f} |")
    means = runs.groupby("arm")[["gmv", "orders", "messages", "opt_outs", "complaints",
                                 "churned", "penalties"]].mean()
    lines += ["", "Mean per run by arm over every cell and replicate:", "",
              "| arm | GMV | orders | messages | opt-outs | complaints | churned | penalties |",
              "|---|---|---|---|---|---|---|---|"]
    for arm, r in means.iterrows():
        lines.append(f"| {arm} | {r['gmv']:.0f} | {r['orders']:.0f} | {r['messages']:.0f} | "
                     f"{r['opt_outs']:.1f} | {r['complaints']:.1f} | {r['churned']:.1f} | "
                     f"{r['penalties']:.1f} |")
    lines += ["", f"{int((~raw['reused']).sum())} simulation runs (`spam_sensitivity.csv`: "
              "one row per arm, replicate and cell, `reused` where a run without complaints "
              "stands for every churn setting; a replicate's \"none\" run stands for every "
              "cell); wall "
              f"{raw['wall_s'].sum():.0f} s, process CPU {raw['cpu_s'].sum():.0f} s in all (under `nice -n 10` on a shared machine). "
              f"Load average before: {load_before}; after: in the provenance below.", ""]
    lines += ["Provenance:", "", *provenance]
    return "\n".join(lines) + "\n"


def adaptation(study: dict, out: Path, command: str) -> pd.DataFrame:
    """Spammers that switch to ``timed`` after k penalties, against the main run's arms.

    Runs the all-spammer world with ``adapt_after_penalties=k`` (``adapt_policy="timed"``) for
    each k in the TOML's ``adapt_after_penalties`` list and each replicate, at one cell of the
    grid (the defaults' fatigue and churn when the grid holds them, else its first cell), and
    writes ``adaptation.md``: the paired GMV differences against the main run's spammer,
    timed and none arms of the same seeds (read from ``spam_sensitivity.csv``)."""
    raw = pd.read_csv(out / "spam_sensitivity.csv")
    d = hr.sim.SimulationConfig()
    cells = list(raw.loc[raw["arm"] == "spammer", ["fatigue_activity_drop", "churn_per_complaint"]]
                 .drop_duplicates().itertuples(index=False, name=None))
    f, c = ((d.fatigue_activity_drop, d.churn_per_complaint)
            if (d.fatigue_activity_drop, d.churn_per_complaint) in cells else cells[0])
    at = raw[(raw["fatigue_activity_drop"] == f) & (raw["churn_per_complaint"] == c)]
    base = {arm: at[at["arm"] == arm].set_index("seed")["gmv"] for arm in ("spammer", "timed")}
    base["none"] = raw[raw["arm"] == "none"].drop_duplicates("seed").set_index("seed")["gmv"]
    rows, lines = [], []
    for k in study.get("adapt_after_penalties", [1]):
        runs = pd.DataFrame([one_run(study, "spammer", s, f, c, adapt_after_penalties=int(k),
                                     adapt_policy="timed")
                             for s in sorted(base["spammer"].index)]).set_index("seed")
        for arm, other in base.items():
            diff = (runs["gmv"] - other.loc[runs.index]).to_numpy()
            mean, lo, hi = paired_bootstrap(diff, int(study["bootstrap"]), seed=int(k))
            rows.append({"adapt_after_penalties": int(k), "against": arm, "gmv_diff": mean,
                         "lo": lo, "hi": hi, "verdict": verdict(lo, hi),
                         "penalties": float(runs["penalties"].mean()),
                         "messages": float(runs["messages"].mean()),
                         "wall_s": float(runs["wall_s"].sum()),
                         "cpu_s": float(runs["cpu_s"].sum())})
    t = pd.DataFrame(rows)
    lines += ["# Spam sensitivity: spammers that adapt after penalties", "",
              f"The all-spammer world of `spam_sensitivity.md` (same sizes and seeds) with "
              f"`adapt_after_penalties = k` and `adapt_policy = \"timed\"`, at fatigue {f:g} "
              f"and churn {c:g}; paired GMV differences against that run's arms of the same "
              f"seeds, 95% percentile bootstrap over {raw['seed'].nunique()} replicates.", "",
              "| adapts after k penalties | against | GMV diff | 95% interval | verdict | "
              "penalties per run | messages per run |", "|---|---|---|---|---|---|---|"]
    for r in t.itertuples(index=False):
        lines.append(f"| {r.adapt_after_penalties} | {r.against} | {r.gmv_diff:+.0f} | "
                     f"[{r.lo:+.0f}, {r.hi:+.0f}] | {r.verdict} | {r.penalties:.1f} | "
                     f"{r.messages:.0f} |")
    per_k = t.drop_duplicates("adapt_after_penalties")
    lines += ["", f"Wall {per_k['wall_s'].sum():.0f} s, process CPU {per_k['cpu_s'].sum():.0f} s "
              "in all (under `nice -n 10` on a shared machine).", "", "Provenance:", "",
              *provenance_lines(command)]
    (out / "adaptation.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=CONFIG)
    ap.add_argument("--quick", action="store_true", help="tiny grid and world (smoke test)")
    ap.add_argument("--adaptation", action="store_true",
                    help="only run the adapting spammers against the last run's arms "
                         "(writes adaptation.md)")
    ap.add_argument("--render", action="store_true",
                    help="only rewrite the Markdown and the plot from the CSV of the last run "
                         "(its provenance and load average kept)")
    ap.add_argument("--out", type=Path, default=None,
                    help="results folder (default: results/ beside this script; with --quick "
                         "a folder under /tmp)")
    args = ap.parse_args(argv)
    study = dict(QUICK) if args.quick else load(args.config)
    out = args.out or (Path("/tmp") / f"spam_sensitivity_quick_{os.getpid()}" if args.quick
                       else HERE / "results")
    out.mkdir(parents=True, exist_ok=True)
    command = " ".join(["nice -n 10 .venv/bin/python experiments/spam_sensitivity/run.py",
                        *(argv if argv is not None else sys.argv[1:])])
    if args.adaptation:
        adaptation(study, out, command)
        return 0
    if args.render:
        raw = pd.read_csv(out / "spam_sensitivity.csv")
        old = (out / "spam_sensitivity.md").read_text(encoding="utf-8")
        load_before = re.search(r"Load average before: ([^;]+);", old).group(1)
        provenance = [x for x in old[old.index("Provenance:"):].splitlines()[1:] if x]
        write(study, raw, out, load_before, provenance)
        return 0
    load_before = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    seeds = range(int(study["replicates"]))
    cells = [(f, c) for f in study["fatigue_activity_drop"] for c in study["churn_per_complaint"]]
    rows = []
    for s in seeds:
        rows.append({**one_run(study, "none", s, *cells[0]), "reused": False})
        if s == 0 and len(cells) > 1:  # "none" sends nothing: the cell's settings cannot matter
            check = one_run(study, "none", s, *cells[-1])
            if check["gmv"] != rows[-1]["gmv"] or check["orders"] != rows[-1]["orders"]:
                raise RuntimeError("a 'none' run changed with the fatigue / churn settings")
        done: dict[tuple[str, float], dict] = {}  # (arm, fatigue) -> its run without churn
        for f, c in cells:
            for arm in ("spammer", "timed"):
                first = done.get((arm, f))
                if first is not None and first["complaints"] == 0:
                    # churn follows only a complaint: a run without any complaint is the same
                    # run under every churn setting (identical up to the first complaint)
                    rows.append({**first, "churn_per_complaint": c, "wall_s": 0.0,
                                 "cpu_s": 0.0, "reused": True})
                else:
                    rows.append({**one_run(study, arm, s, f, c), "reused": False})
                    done.setdefault((arm, f), rows[-1])
                r = rows[-1]
                print(f"seed {s} fatigue {f:g} churn {c:g} {arm}: GMV {r['gmv']:.0f}, "
                      f"{r['messages']} messages, {r['wall_s']} s", flush=True)
    raw = pd.DataFrame(rows)
    raw.to_csv(out / "spam_sensitivity.csv", index=False)
    write(study, raw, out, load_before, provenance_lines(command))
    return 0


def write(study: dict, raw: pd.DataFrame, out: Path, load_before: str,
          provenance: list[str]) -> None:
    """Summary, plot and Markdown from the runs' rows (one per arm, replicate and cell)."""
    cells = list(raw.loc[raw["arm"] != "none", ["fatigue_activity_drop", "churn_per_complaint"]]
                 .drop_duplicates().itertuples(index=False, name=None))
    # the "none" run of each replicate stands for every cell
    none = raw[raw["arm"] == "none"].drop_duplicates("seed")
    runs = pd.concat([raw[raw["arm"] != "none"]] + [
        none.assign(fatigue_activity_drop=f, churn_per_complaint=c) for f, c in cells],
        ignore_index=True)
    summary = summarise(runs, int(study["bootstrap"]))
    plot(summary, out / "spam_sensitivity.png")
    text = render(study, raw, runs, summary, load_before, provenance, "spam_sensitivity.png")
    (out / "spam_sensitivity.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    sys.exit(main())
