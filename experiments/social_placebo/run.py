"""Do friends' identities carry signal beyond collaborative filtering? A placebo-controlled ablation.

Every social strategy is fitted with the real social graph, with no graph
(``hr.trust.drop_social``) and with several degree-preserving shuffled graphs
(``hr.trust.shuffle_social``: every user keeps their follow, follower and mutual-friend counts,
friends are random), over several per-user random 80/20 splits, on LastFM, Ciao and Epinions.
Interactions, splits and parameters (the validation picks of ``experiments/ranking_quality``;
nothing is tuned here) are the same in every arm, so a difference between the real and the
shuffled arm is what the identity of friends adds. Test NDCG@20 per user comes from
``hr.evaluate(per_user=True)``; intervals are a paired percentile bootstrap over the test users
(resampled within each split, the same draw for every arm), for all users and for cold-start
users (at most ``cold_start_max`` training items) separately. Run from the repository root::

    nice -n 10 .venv/bin/python experiments/social_placebo/run.py

It runs the data sets one at a time, keeps each arm's per-user scores in ``--work-dir`` (a
second run reuses them; ``--report-only`` only rewrites the report), prints the table and writes
``experiments/social_placebo/results/social_placebo.{md,csv,png}`` and ``.runs.csv`` (one row per
data set, strategy, split and arm). ``--quick`` runs a small synthetic world in seconds (for the
test).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd

import haowurank as hr
from haowurank.studies import load_config, load_dataset, preprocess, provenance_lines

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "social_placebo.toml"
BAR = 0.02  # issue 20: real over shuffled by at least 2% NDCG@20, interval excluding 0
MIN_USERS = 20  # fewer users in a population (per split): no lifts or intervals for it

log = logging.getLogger("social_placebo")

QUICK = {
    "split_seeds": [0],
    "shuffle_seeds": [101, 102],
    "keep_reciprocity": True,
    "k": 20,
    "cold_start_max": 5,
    "bootstrap": 50,
    "bootstrap_seed": 0,
    "datasets": {
        "synthetic": {
            "synthetic": {"n_users": 300, "n_items": 150, "seed": 0},
            "strategies": {
                "friend_endorsements": {},
                "trust": {"max_hops": 2, "trust_weight": 1.0},
                "als": {"social": False, "factors": 8, "iterations": 3},
            },
        }
    },
}


# ------------------------------------------------------------------------------------------
# running the arms
# ------------------------------------------------------------------------------------------
def _load(name: str, spec: dict, config_dir: Path) -> tuple[hr.Dataset, dict]:
    """The data set and its split protocol (test fraction, validation fraction and seed)."""
    if "synthetic" in spec:
        split = {"test_fraction": 0.2, "validation_fraction": 0.2, "validation_seed": 1}
        return hr.datasets.synthetic(**spec["synthetic"]), split
    cfg = load_config(config_dir / spec["config"])
    split = {"test_fraction": cfg.split.test_fraction,
             "validation_fraction": cfg.split.validation_fraction,
             "validation_seed": cfg.split.validation_seed}
    return preprocess(load_dataset(cfg.dataset, cfg.source), cfg.preprocess), split


def _part(settings: dict) -> str:
    """Folder name prefix of a split's arms: test parts ("split") or validation parts ("val")."""
    return "val" if settings.get("validation", False) else "split"


def _arms(settings: dict, social: bool) -> list[str]:
    if not social:
        return ["real"]
    return ["real", "none", *[f"shuffle:{s}" for s in settings["shuffle_seeds"]]]


def _graph(train: hr.Dataset, arm: str, keep_reciprocity: bool) -> hr.Dataset:
    if arm == "real":
        return train
    if arm == "none":
        return hr.trust.drop_social(train)
    return hr.trust.shuffle_social(train, seed=int(arm.split(":")[1]),
                                   keep_reciprocity=keep_reciprocity)


def _key(params: dict, settings: dict) -> str:
    text = json.dumps({"params": params, "k": settings["k"], "cold": settings["cold_start_max"],
                       "recip": settings["keep_reciprocity"]}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def run_dataset(name: str, spec: dict, settings: dict, work: Path, config_dir: Path,
                seeds: list[int], only: list[str] | None = None) -> None:
    """Evaluate every (strategy, arm) of one data set and the given split seeds not yet in
    ``work`` (only the strategies named in ``only`` when given)."""
    ds, split = _load(name, spec, config_dir)
    log.info("%s: %s", name, ds)
    for seed in seeds:
        train, test = hr.split.random_split(ds, test_fraction=split["test_fraction"], seed=seed)
        if settings.get("validation", False):  # fit and score inside the training part
            train, test = hr.split.validation_split(
                train, fraction=split["validation_fraction"], seed=split["validation_seed"])
        for strategy, raw in spec["strategies"].items():
            if only and strategy not in only:
                continue
            ranker = raw.get("ranker", strategy)
            params = {k: v for k, v in raw.items() if k not in ("social", "ranker")}
            key = _key(params if ranker == strategy else {"ranker": ranker, **params}, settings)
            for arm in _arms(settings, raw.get("social", True)):
                path = (work / name / strategy / f"{_part(settings)}{seed}"
                        / f"{arm.replace(':', '_')}.npz")
                meta_path = path.with_suffix(".json")
                if meta_path.exists() and json.loads(meta_path.read_text())["key"] == key:
                    continue
                t0, c0 = time.perf_counter(), time.process_time()
                arm_train = _graph(train, arm, settings["keep_reciprocity"])
                row, per = hr.evaluate(ranker, arm_train, test, k=[settings["k"]],
                                       params=params, cold_start_max=settings["cold_start_max"],
                                       per_user=True)
                wall, cpu = time.perf_counter() - t0, time.process_time() - c0
                metric = f"NDCG@{settings['k']}"
                path.parent.mkdir(parents=True, exist_ok=True)
                np.savez(path, users=np.asarray(per["user"].astype(str).to_numpy(), dtype=str),
                         ndcg=per[metric].to_numpy(dtype=np.float64),
                         cold=per["cold"].to_numpy(dtype=bool))
                meta = {"key": key, "params": params, "fit_s": row["fit_s"], "wall_s": wall,
                        "cpu_s": cpu, "social_rows": arm_train.n_social, metric: row[metric],
                        f"cold_{metric}": row[f"cold_{metric}"]}
                meta_path.write_text(json.dumps(meta, indent=1))
                log.info("%s %s split %d %s: %s %.4f (%.1f s wall, %.1f s CPU)", name, strategy,
                         seed, arm, metric, row[metric], wall, cpu)


# ------------------------------------------------------------------------------------------
# analysis
# ------------------------------------------------------------------------------------------
def _read(work: Path, name: str, strategy: str, seed: int, arm: str, part: str = "split"):
    path = work / name / strategy / f"{part}{seed}" / f"{arm.replace(':', '_')}.npz"
    if not path.exists():
        return None
    with np.load(path, allow_pickle=False) as z:
        data = {k: z[k] for k in z.files}
    data["meta"] = json.loads(path.with_suffix(".json").read_text())
    return data


def _interval(values: np.ndarray) -> tuple[float, float]:
    values = np.where(np.isfinite(values), values, np.nan)
    if np.isnan(values).mean() > 0.025:  # an undefined ratio in over 2.5% of the resamples
        return float("nan"), float("nan")
    lo, hi = np.nanquantile(values, [0.025, 0.975])
    return float(lo), float(hi)


def analyse(settings: dict, datasets: dict, work: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Summary rows (data set, strategy, population) and run rows (one per arm and split)."""
    rows, runs = [], []
    gen = np.random.default_rng(settings["bootstrap_seed"])
    B = int(settings["bootstrap"])
    shuffles = [f"shuffle:{s}" for s in settings["shuffle_seeds"]]
    for name, spec in datasets.items():
        for strategy, raw in spec["strategies"].items():
            social = raw.get("social", True)
            per_seed = []
            for seed in settings["split_seeds"]:
                arms = {a: _read(work, name, strategy, seed, a, _part(settings))
                        for a in _arms(settings, social)}
                if any(v is None for v in arms.values()):
                    continue
                ref = arms["real"]
                for arm, v in arms.items():
                    if not np.array_equal(v["users"], ref["users"]):
                        raise ValueError(f"{name} {strategy} split {seed}: arm {arm} has other "
                                         "test users than the real arm")
                    runs.append({"dataset": name, "strategy": strategy, "split_seed": seed,
                                 "arm": arm, "users": len(v["ndcg"]),
                                 "cold_users": int(v["cold"].sum()),
                                 "NDCG@20": float(np.mean(v["ndcg"])),
                                 "cold_NDCG@20": float(np.mean(v["ndcg"][v["cold"]]))
                                 if v["cold"].any() else float("nan"),
                                 "social_rows": v["meta"]["social_rows"],
                                 "fit_s": v["meta"]["fit_s"], "wall_s": v["meta"]["wall_s"],
                                 "cpu_s": v["meta"]["cpu_s"]})
                mat = {"real": ref["ndcg"]}
                if social:
                    mat["none"] = arms["none"]["ndcg"]
                    mat["shuffled"] = np.mean([arms[a]["ndcg"] for a in shuffles], axis=0)
                    for a in shuffles:
                        mat[a] = arms[a]["ndcg"]
                per_seed.append((mat, ref["cold"]))
            if not per_seed:
                continue
            for population in ("all", "cold"):
                sel = [(m, np.ones_like(c) if population == "all" else c) for m, c in per_seed]
                n = [int(s.sum()) for _, s in sel]
                row = {"dataset": name, "strategy": strategy, "population": population,
                       "users": sum(n), "splits": len(sel), "shuffles": len(shuffles) if social else 0}
                if min(n) < MIN_USERS:
                    rows.append(row)
                    continue
                arms_here = list(sel[0][0])
                point = {a: float(np.mean([m[a][s].mean() for m, s in sel])) for a in arms_here}
                boot = {a: np.zeros(B) for a in arms_here}
                for m, s in sel:  # paired: one draw of users per split for every arm
                    idx_users = np.flatnonzero(s)
                    draws = gen.integers(0, len(idx_users), size=(B, len(idx_users)))
                    for a in arms_here:
                        vals = m[a][idx_users]
                        boot[a] += vals[draws].mean(axis=1) / len(sel)
                for a in ("real", "none", "shuffled"):
                    if a in point:
                        row[a] = point[a]
                        row[f"{a}_lo"], row[f"{a}_hi"] = _interval(boot[a])
                if social:
                    each = [point[a] for a in shuffles]
                    row["shuffle_min"], row["shuffle_max"] = min(each), max(each)
                    for ref_arm in ("shuffled", "none"):
                        lift = point["real"] / point[ref_arm] - 1 if point[ref_arm] > 0 else np.nan
                        with np.errstate(divide="ignore", invalid="ignore"):
                            b = boot["real"] / boot[ref_arm] - 1
                        row[f"lift_vs_{ref_arm}"] = lift
                        row[f"lift_vs_{ref_arm}_lo"], row[f"lift_vs_{ref_arm}_hi"] = _interval(b)
                    row["meets_bar"] = bool(row["lift_vs_shuffled"] >= BAR
                                            and row["lift_vs_shuffled_lo"] > 0)
                rows.append(row)
    return pd.DataFrame(rows), pd.DataFrame(runs)


# ------------------------------------------------------------------------------------------
# report
# ------------------------------------------------------------------------------------------
def _ci(row: pd.Series, col: str, pct: bool = False) -> str:
    if col not in row or pd.isna(row.get(col)):
        return "-"
    if pd.isna(row.get(col + "_lo")):
        return f"{100 * row[col]:+.1f}%" if pct else f"{row[col]:.4f}"
    if pct:
        return (f"{100 * row[col]:+.1f}% [{100 * row[col + '_lo']:+.1f}, "
                f"{100 * row[col + '_hi']:+.1f}]")
    return f"{row[col]:.4f} [{row[col + '_lo']:.4f}, {row[col + '_hi']:.4f}]"


def table(summary: pd.DataFrame, population: str) -> list[str]:
    lines = ["| data set | strategy | splits | users | real graph | no graph | shuffled (mean) | "
             "shuffles min-max | real / shuffled | real / no graph | >= +2%, CI > 0 |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for _, r in summary[summary["population"] == population].iterrows():
        spread = (f"{r['shuffle_min']:.4f}-{r['shuffle_max']:.4f}"
                  if "shuffle_min" in r and pd.notna(r.get("shuffle_min")) else "-")
        bar = ("-" if pd.isna(r.get("meets_bar", np.nan)) or pd.isna(r.get("lift_vs_shuffled"))
               else "yes" if r["meets_bar"] else "no")
        lines.append(f"| {r['dataset']} | {r['strategy']} | {r['splits']} | {r['users']} | "
                     f"{_ci(r, 'real')} | "
                     f"{_ci(r, 'none')} | {_ci(r, 'shuffled')} | {spread} | "
                     f"{_ci(r, 'lift_vs_shuffled', True)} | {_ci(r, 'lift_vs_none', True)} | "
                     f"{bar} |")
    return lines


def plot(summary: pd.DataFrame, path: Path) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = summary[summary["lift_vs_shuffled"].notna()] if "lift_vs_shuffled" in summary else None
    if data is None or data.empty:
        return None
    names = list(dict.fromkeys(data["dataset"]))
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.2), sharey=False,
                             squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        d = data[data["dataset"] == name]
        strategies = list(dict.fromkeys(d["strategy"]))
        for off, population, marker, colour in ((-0.12, "all", "o", "C0"),
                                                (0.12, "cold", "s", "C3")):
            part = d[d["population"] == population].set_index("strategy")
            ys = [i + off for i, s in enumerate(strategies) if s in part.index]
            got = [s for s in strategies if s in part.index]
            if not got:
                continue
            x = 100 * part.loc[got, "lift_vs_shuffled"].to_numpy()
            lo = 100 * part.loc[got, "lift_vs_shuffled_lo"].to_numpy()
            hi = 100 * part.loc[got, "lift_vs_shuffled_hi"].to_numpy()
            ax.errorbar(x, ys, xerr=[x - lo, hi - x], fmt=marker, color=colour, capsize=3,
                        label=f"{population} users")
        ax.axvline(0, color="grey", lw=1)
        ax.axvline(100 * BAR, color="grey", lw=1, ls="--")
        ax.set_yticks(range(len(strategies)), strategies)
        ax.invert_yaxis()
        ax.set_title(name)
        ax.set_xlabel("NDCG@20, real over shuffled graph (%)")
    for ax in axes[0]:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def report(summary: pd.DataFrame, runs: pd.DataFrame, settings: dict, command: str,
           timing: dict, out: Path, quick: bool) -> str:
    out.parent.mkdir(parents=True, exist_ok=True)
    png = plot(summary, out.with_suffix(".png"))
    summary.to_csv(out.with_suffix(".csv"), index=False)
    runs.to_csv(out.with_suffix(".runs.csv"), index=False)
    strategies = sorted({s for s in summary["strategy"]}) if len(summary) else []
    done = sorted({int(x) for x in runs["split_seed"]}) if len(runs) else []
    val = settings.get("validation", False)
    part = "validation" if val else "test"
    title = settings.get("title", "Placebo-controlled social ablation")
    protocol = (
        f"Per-user random 80/20 splits with seeds {done} of {settings['split_seeds']} (data, "
        "filtering and split fraction of `experiments/ranking_quality/<name>.toml`; the "
        "`splits` column says how many splits a row averages)"
        + (", each training part cut again into fit and validation parts (the validation "
           "fraction and seed of the same file); every arm is fitted on the fit part and scored "
           "on the validation part, the test parts are not used. " if val else ". ")
        + "Each strategy runs with the parameters of "
        f"`{settings.get('config_name', 'social_placebo.toml')}` ("
        + settings.get("params_note", "the validation picks of `ranking_quality`, chosen on "
                       "split seed 0's validation part; `hybrid` with its defaults; nothing "
                       "tuned on test")
        + ") and is fitted once per split and arm "
        "with: the real social graph; no graph (`hr.trust.drop_social`); and shuffled graphs "
        f"(`hr.trust.shuffle_social`, seeds {settings['shuffle_seeds']}, keep_reciprocity="
        f"{settings['keep_reciprocity']}: every user keeps their follow, follower and "
        "mutual-friend counts and their rows' weights; friends are random; a configuration "
        "model with self-loops and repeats swapped away). Interactions and endorsements are the "
        "same in every arm. Every training item is ranked, seen items excluded, "
        f"NDCG@{settings['k']} per {part} user. \"Shuffled\" is each user's mean over the "
        "shuffles; lifts are ratios of means over users, averaged over splits. Intervals: 95% "
        f"percentile, {settings['bootstrap']} paired bootstrap resamples of the {part} users "
        "within each split (the same draw for every arm); they do not include the variation "
        "between placebo graphs (see the min-max column) or between splits beyond the users "
        f"drawn. Cold users: at most {settings['cold_start_max']} training items; a population "
        f"with fewer than {MIN_USERS} users in a split gets no intervals or lifts. Strategies: "
        f"{', '.join(strategies)}; a strategy marked `social = false` ignores the graph and is a "
        "no-social reference (real arm only). The last column is issue 20's bar: real over "
        f"shuffled by at least {100 * BAR:.0f}% with the interval above 0."
    )
    lines = [
        f"# {title}" + (" (quick: synthetic world)" if quick else ""),
        "",
        *provenance_lines(command),
        f"- Load average (1, 5, 15 min) before: {timing['load_before']}; after: "
        f"{timing['load_after']}",
        f"- This run: {timing['wall_s']:.0f} s wall, {timing['cpu_s']:.0f} s CPU (arms reused "
        f"from the work folder count nothing); the arms' own wall and CPU seconds are in "
        f"`{out.with_suffix('.runs.csv').name}`",
        f"- Arms in this report: {len(runs)} fits and evaluations, "
        f"{runs['wall_s'].sum() if len(runs) else 0:.0f} s wall and "
        f"{runs['cpu_s'].sum() if len(runs) else 0:.0f} s CPU in all (when they ran)",
        "",
        "## Protocol",
        "",
        protocol,
        "",
        f"## All {part} users (NDCG@{settings['k']}, 95% intervals)",
        "",
        *table(summary, "all"),
        "",
        f"## Cold-start {part} users",
        "",
        *table(summary, "cold"),
        "",
    ]
    if png is not None:
        lines += [f"![lift of the real graph over shuffled graphs]({png.name})", "",
                  "The forest plot shows, per data set and strategy, how much higher NDCG@20 is "
                  "with the real social graph than with degree-preserving shuffled graphs (mean "
                  f"of the shuffles), with 95% paired-bootstrap intervals, for all {part} users "
                  "(circles) and cold-start users (squares); the dashed line is the +2% bar.", ""]
    text = "\n".join(lines)
    out.write_text(text, encoding="utf-8")
    return text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=CONFIG)
    ap.add_argument("--datasets", nargs="+", help="only these data sets of the config")
    ap.add_argument("--strategies", nargs="+", help="run only these strategies (the report "
                    "still shows every stored one)")
    ap.add_argument("--splits", nargs="+", type=int, help="run only these split seeds")
    ap.add_argument("--quick", action="store_true", help="a small synthetic world (for the test)")
    ap.add_argument("--out", type=Path, default=None, help="report path (default: results/<config name>.md)")
    ap.add_argument("--work-dir", type=Path,
                    default=Path(tempfile.gettempdir()) / "haowurank-social_placebo",
                    help="per-arm per-user scores (reused by a later run)")
    ap.add_argument("--report-only", action="store_true", help="only rewrite the report")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    log.setLevel(logging.INFO)

    if args.quick:
        settings, config_dir = json.loads(json.dumps(QUICK)), HERE
        work = args.work_dir / "quick"
    else:
        settings = tomllib.loads(args.config.read_text(encoding="utf-8"))
        config_dir = args.config.resolve().parent
        work = args.work_dir
        settings["config_name"] = args.config.name
    out = args.out or (work / "social_placebo_quick.md" if args.quick
                       else HERE / "results" / f"{args.config.stem}.md")
    datasets = settings["datasets"]
    chosen = args.datasets or list(datasets)
    unknown = [d for d in chosen if d not in datasets]
    if unknown:
        raise SystemExit(f"--datasets names {unknown}; the config has {list(datasets)}")
    load_before = tuple(round(x, 2) for x in os.getloadavg())
    t0, c0 = time.perf_counter(), time.process_time()
    if not args.report_only:
        # split by split, so that a stopped run has whole splits of every data set; within a
        # split the data sets run one at a time
        for seed in args.splits or settings["split_seeds"]:
            for name in chosen:
                run_dataset(name, datasets[name], settings, work, config_dir, [seed],
                            args.strategies)
    summary, runs = analyse(settings, {d: datasets[d] for d in datasets}, work)
    timing = {"load_before": load_before, "load_after": tuple(round(x, 2) for x in os.getloadavg()),
              "wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0}
    given = sys.argv[1:] if argv is None else list(argv)
    command = " ".join(["nice -n 10 .venv/bin/python experiments/social_placebo/run.py", *given])
    print(report(summary, runs, settings, command, timing, out, args.quick))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
