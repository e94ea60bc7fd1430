"""Robustness of the ranking strategies to sybil promotion and fake reviews (issue 8).

Scenario (the issue's target): ``n_sybils`` fake accounts, densely connected among themselves,
hold ``attack_edges`` friendships with honest users in all; each sybil endorses one cold
target item plus ``n_filler`` popular items (``hr.attacks.inject(attack="bandwagon")``). For
every strategy the script fits on the clean and on the attacked data and measures the
target's **hit ratio** (share of honest users with the target in their top-``n``) and its
**rank** in the full ranking of a fixed sample of honest users (rank shift = median over
those users of clean rank minus attacked rank). It then repeats the measurement for every
attack of ``hr.attacks`` (random, average, bandwagon, relation, review padding, refund
fraud), draws the curve as the number of attack edges grows, and measures what the defences
cost on clean data (NDCG@20 on a random 80/20 split with defences off and on).

Strategy labels: ``trust``/``hybrid`` are the rankers at their defaults (``defence=True`` since
the defaults changed), ``trust (defence off)``/``hybrid (defence off)`` pass ``defence=None``.

Measured users: on LastFM every honest user. On the 100k-user synthetic world, every honest
user within two follow hops of a sybil (the *attack region*: the only users the trust walk
can carry a sybil's endorsement to) plus a uniform sample of the other honest users, each
sampled user standing for ``|rest| / sample`` users; the hit ratio is that weighted mean and
``se`` its standard error (from the sampled part). Clean hit ratios use the uniform sample.

Run from the repository root (the machine is shared: nice it)::

    nice -n 10 .venv/bin/python experiments/attack_robustness/run.py
    nice -n 10 .venv/bin/python experiments/attack_robustness/run.py --quick   # small smoke run

It prints every table and writes ``experiments/attack_robustness/results/attack_robustness.md`` (+ ``.csv``,
``.png``) with the command, the machine and the date.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import shlex
import sys
import time
import tomllib
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import haowurank as hr
from haowurank.studies import git_commit, provenance_lines

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent  # this study's folder
DATA = hr.datasets.data_root()  # $HAOWURANK_DATA or ../shared/data (the registry's lookup)
OUT = HERE / "results"
CONFIG = HERE / "config.toml"

T0 = time.perf_counter()


def say(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:7.1f}s] {msg}", flush=True)


# --------------------------------------------------------------------------------------------
# strategies and data
# --------------------------------------------------------------------------------------------

#: Companion runs written beside the main report (other configs), named in its "See also".
SEE_ALSO = {
    "attack_robustness_knn.md": "the 100k synthetic world with the hybrid at its default "
    "`user_knn_k` (the main run turns the user-kNN feature off there), defence off and on "
    "(config `experiments/attack_robustness/knn.toml`)",
    "attack_robustness_threshold.md": "the buyer-sybil case with the SybilRank threshold raised "
    "from 0.25 to 0.5 (config `experiments/attack_robustness/threshold.toml`)",
    "attack_robustness_cut.md": "the buyer-sybil curve at the SybilRank cut of issue 20 (in units "
    "of the median judged account; accounts nobody follows not judged) on LastFM and Ciao "
    "(config `experiments/attack_robustness/cut.toml`)",
    "../../defence_flags/results/defence_flags.md": "how many accounts each threshold flags on clean data, "
    "real and synthetic (`experiments/defence_flags/run.py`): the cost of a higher "
    "threshold",
}

#: Label suffix of a strategy fitted with its defence explicitly off (``defence=None``).
OFF = " (defence off)"


def parse_strategy(s: str) -> tuple[str, dict[str, Any]]:
    """``"trust"``: the ranker at its defaults (``trust`` and ``hybrid`` default to
    ``defence=True``); ``"trust (defence off)"``: ``defence=None``; ``"trust+defence"``:
    ``defence=True`` explicitly."""
    if s.endswith(OFF):
        return s[: -len(OFF)], {"defence": None}
    name, _, extra = s.partition("+")
    if extra not in ("", "defence"):
        raise ValueError(f"Unknown strategy suffix in {s!r}: only '+defence' and "
                         f"'{OFF.strip()}' are known.")
    return name, ({"defence": True} if extra else {})


def defence_on(s: str) -> bool:
    """Whether strategy ``s`` fits with a defence (explicit, or its ranker's default)."""
    name, params = parse_strategy(s)
    if "defence" in params:
        return bool(params["defence"])
    r = hr.rankers.make(name)
    return bool(r.get_params().get("defence")) if "defence" in type(r).param_names() else False


#: Per-dataset parameter overrides (``[datasets.params]`` of the TOML), by ranker name. Only the
#: parameters a ranker accepts are applied; what was applied is written to the report.
OVERRIDES: dict[str, dict[str, Any]] = {}
APPLIED: dict[str, dict[str, Any]] = {}


def make(s: str) -> hr.rankers.Ranker:
    name, params = parse_strategy(s)
    cls = type(hr.rankers.make(name))
    extra = {k: v for k, v in OVERRIDES.get(name, {}).items() if k in cls.param_names()}
    if extra:
        APPLIED[name] = extra
    return hr.rankers.make(name, **extra, **params)


def load(cfg: dict[str, Any]) -> hr.Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", hr.DataWarning)
        kind = cfg.get("kind", cfg["name"])
        if kind == "lastfm":
            return hr.datasets.load_lastfm(DATA / cfg["data_dir"])
        if kind in ("ciao", "epinions"):  # rating data: the headline protocol's 5-core
            loader = hr.datasets.load_ciao if kind == "ciao" else hr.datasets.load_epinions
            return loader(DATA / cfg["data_dir"]).k_core(int(cfg.get("k_core", 5)))
        if kind == "synthetic":
            return hr.datasets.synthetic(n_users=int(cfg["n_users"]), n_items=int(cfg["n_items"]),
                                         seed=int(cfg.get("world_seed", 0)), show_progress=False)
    raise ValueError(f"unknown dataset {cfg['name']!r}")


def attack_region(ds: hr.Dataset, attackers: np.ndarray, hops: int = 2) -> np.ndarray:
    """Honest users with a follow path of at most ``hops`` edges to an attacker."""
    s = ds.social_matrix(weighted=False)
    reach = np.zeros(ds.n_users, dtype=bool)
    reach[ds.user_index(attackers)] = True
    frontier = reach.copy()
    for _ in range(hops):
        # users who follow someone in the frontier
        frontier = np.asarray(s @ frontier.astype(np.float32)).ravel() > 0
        frontier &= ~reach
        reach |= frontier
    return reach & hr.attacks.honest_mask(ds)


class Population:
    """The honest users a hit ratio is measured on, with the weight each one stands for."""

    def __init__(self, ids: np.ndarray, weights: np.ndarray, n_honest: int, n_sampled: int,
                 rest_share: float):
        self.ids, self.weights = ids, weights
        self.n_honest, self.n_sampled, self.rest_share = n_honest, n_sampled, rest_share

    @classmethod
    def exact(cls, ids: np.ndarray) -> Population:
        return cls(ids, np.ones(len(ids)), len(ids), 0, 0.0)

    @classmethod
    def stratified(cls, honest: np.ndarray, region: np.ndarray, m: int,
                   gen: np.random.Generator) -> Population:
        rest = honest[~np.isin(honest, region)]
        if m <= 0 or m >= len(rest):
            return cls.exact(honest)
        sample = np.sort(gen.choice(rest, m, replace=False))
        ids = np.concatenate([region, sample])
        w = np.concatenate([np.ones(len(region)), np.full(m, len(rest) / m)])
        return cls(ids, w, len(honest), m, len(rest) / len(honest))

    def estimate(self, hits: np.ndarray) -> tuple[float, float]:
        ratio = float((self.weights * hits).sum() / self.n_honest)
        if not self.n_sampled:
            return ratio, 0.0
        p = float(hits[-self.n_sampled:].mean())
        return ratio, self.rest_share * math.sqrt(max(p * (1 - p), 0.0) / self.n_sampled)


# --------------------------------------------------------------------------------------------
# one dataset
# --------------------------------------------------------------------------------------------

def fit(strategy: str, ds: hr.Dataset) -> tuple[hr.rankers.Ranker, float]:
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", hr.DataWarning)
        r = make(strategy).fit(ds)
    return r, time.perf_counter() - t


def run_dataset(dcfg: dict[str, Any], acfg: dict[str, Any]) -> dict[str, Any]:
    name = dcfg["name"]
    OVERRIDES.clear()
    OVERRIDES.update({k: dict(v) for k, v in dict(dcfg.get("params", {})).items()})
    APPLIED.clear()
    say(f"{name}: loading")
    ds = load(dcfg)
    gen = np.random.default_rng(int(acfg["seed"]))
    target = hr.attacks.pick_target(ds, acfg["target"], seed=int(acfg["seed"]))
    t_idx = ds.item_index([target])[0]
    t_users = int(np.diff(ds.matrix(weight="binary").tocsc().indptr)[t_idx])
    say(f"{name}: {ds}; target {target!r} ({t_users} users)")
    honest = ds.user_ids
    rank_ids = np.sort(gen.choice(honest, min(int(dcfg["rank_users"]), len(honest)), replace=False))
    m = int(dcfg.get("sample_users", 0))
    clean_pop = (Population.exact(honest) if m <= 0 or m >= len(honest)
                 else Population.stratified(honest, honest[:0], m, gen))
    n = int(acfg["n"])
    head_e = int(acfg["attack_edges"])
    head_a = acfg["strategy"]
    # scenarios: (attack, edges, cover purchases per sybil) -> strategies
    scen: dict[tuple[str, int, int], list[str]] = {}

    def add(key: tuple[str, int, int], strategies: list[str]) -> None:
        cur = scen.setdefault(key, [])
        cur += [s for s in strategies if s not in cur]

    add((head_a, head_e, 0), list(dcfg["strategies"]))
    for a in acfg["attacks"]:
        add((a, head_e, 0), list(dcfg["attack_strategies"]))
    for e in acfg["curve"]:
        add((head_a, int(e), 0), list(dcfg["curve_strategies"]))
    for s, edges in dict(dcfg.get("curve_extra", {})).items():
        for e in edges:
            add((head_a, int(e), 0), [s])
    # buyer sybils: each also keeps real purchases, so only the structural defence is left
    cover = int(acfg.get("cover_purchases", 0))
    if cover:
        for e in acfg["curve"]:
            add((head_a, int(e), cover), list(dcfg.get("buyer_strategies", [])))
        for s, edges in dict(dcfg.get("buyer_extra", {})).items():
            for e in edges:
                add((head_a, int(e), cover), [s])
    all_strategies = []
    for v in scen.values():
        all_strategies += [s for s in v if s not in all_strategies]

    # --- clean fits: the baseline hit ratio and ranks
    defended_clean = hr.trust.defend(ds, **hr.trust.DEFAULT_DEFENCE)
    same_clean = defended_clean.dataset.equals(ds)
    clean: dict[str, dict[str, Any]] = {}
    clean_only = dcfg.get("clean_strategies")
    for s in all_strategies:
        base, params = parse_strategy(s)
        if clean_only is not None and s not in clean_only:
            clean[s] = {"hit_ratio": float("nan"), "se": 0.0, "ranks": None, "fit_s": float("nan")}
            say(f"{name}: clean {s}: not fitted (time; see the report)")
            continue
        off = base + OFF
        if defence_on(s) and same_clean and off in clean and clean[off].get("ranks") is not None:
            clean[s] = dict(clean[off], note="defence changed no training row: same model")
            say(f"{name}: clean {s}: identical to {off} (the defence changed no row)")
            continue
        r, fit_s = fit(s, ds)
        hits = hr.attacks.target_hits(r, clean_pop.ids, target, n=n)
        ratio, se = clean_pop.estimate(hits)
        ranks = hr.attacks.target_ranks(r, rank_ids, target)
        clean[s] = {"hit_ratio": ratio, "se": se, "ranks": ranks, "fit_s": fit_s}
        say(f"{name}: clean {s}: hit ratio {ratio:.4%}, median rank {np.median(ranks):.0f}, "
            f"fit {fit_s:.1f}s")
        del r
        gc.collect()

    # --- attacked fits
    rows = []
    defence_reports = {"clean": defended_clean.report}
    for (attack, edges, cov), strategies in scen.items():
        if not strategies:
            continue
        t = time.perf_counter()
        atk = hr.attacks.inject(
            ds, target, attack=attack, n_sybils=int(acfg["n_sybils"]), attack_edges=edges,
            n_filler=int(acfg["n_filler"]), kind=acfg["kind"], cover_purchases=cov,
            seed=int(acfg["seed"]),
        )
        region = _region_ids(atk, honest)
        pop = (Population.exact(honest) if m <= 0 or m >= len(honest)
               else Population.stratified(honest, region, m,
                                          np.random.default_rng([int(acfg["seed"]), edges])))
        say(f"{name}: {attack} with {edges} attack edges injected in {time.perf_counter() - t:.1f}s "
            f"(region {len(region)} users, measuring {len(pop.ids)})")
        if (attack, edges, cov) == (head_a, head_e, 0):
            defence_reports["attacked"] = hr.trust.defend(atk.dataset, **hr.trust.DEFAULT_DEFENCE).report
        if (attack, edges, cov) == (head_a, head_e, cover) and cover:
            defence_reports["attacked, buyer sybils"] = hr.trust.defend(atk.dataset, **hr.trust.DEFAULT_DEFENCE).report
        for s in strategies:
            r, fit_s = fit(s, atk.dataset)
            hits = hr.attacks.target_hits(r, pop.ids, target, n=n)
            ratio, se = pop.estimate(hits)
            ranks = hr.attacks.target_ranks(r, rank_ids, target)
            c = clean[s]
            row = {
                "dataset": name, "attack": attack, "attack_edges": edges,
                "strategy": s if not cov else f"{s} [buyer sybils]", "cover_purchases": cov,
                "hit_ratio_clean": c["hit_ratio"], "hit_ratio": ratio, "se": se,
                "hits_region": int(hits[: len(pop.ids) - pop.n_sampled].sum()) if pop.n_sampled
                else int(hits.sum()),
                "region_users": len(region), "measured_users": len(pop.ids),
                "honest_users": pop.n_honest,
                "median_rank_clean": nan_stat(np.median, c["ranks"]),
                "median_rank": float(np.median(ranks)),
                "rank_shift": nan_stat(np.median, c["ranks"], ranks),
                "mean_rank_shift": nan_stat(np.mean, c["ranks"], ranks),
                "target_share": float(dcfg["target_share"]),
                "fit_s": fit_s,
            }
            rows.append(row)
            say(f"{name}: {attack:>14} e={edges:<5} {row['strategy']:<15} hit ratio {ratio:8.4%} "
                f"(clean {c['hit_ratio']:.4%}), median rank {row['median_rank']:.0f} "
                f"(clean {row['median_rank_clean']:.0f}), fit {fit_s:.1f}s")
            del r
            gc.collect()
        del atk
        gc.collect()

    # --- what the defences cost on clean data
    cost_rows = clean_cost(ds, dcfg, name)
    return {"name": name, "ds": repr(ds), "target": target, "target_users": t_users,
            "params": dict(APPLIED), "clean_strategies": clean_only,
            "rows": rows, "cost": cost_rows, "defence": defence_reports,
            "measured": {"clean_sample": int(len(clean_pop.ids)), "rank_users": len(rank_ids),
                         "sample_users": m}}


def nan_stat(f: Any, clean_ranks: np.ndarray | None, ranks: np.ndarray | None = None) -> float:
    """``f(clean_ranks - ranks)`` (or ``f(clean_ranks)``); NaN without clean ranks."""
    if clean_ranks is None:
        return float("nan")
    return float(f(clean_ranks if ranks is None else clean_ranks - ranks))


def _region_ids(atk: hr.attacks.AttackResult, honest: np.ndarray) -> np.ndarray:
    mask = attack_region(atk.dataset, atk.attackers)
    ids = atk.dataset.user_ids[mask]
    return np.sort(ids[np.isin(ids, honest)])


def clean_cost(ds: hr.Dataset, dcfg: dict[str, Any], name: str) -> list[dict[str, Any]]:
    out = []
    if not dcfg.get("clean_cost"):
        return out
    train, test = hr.split.random_split(ds, test_fraction=0.2, seed=0)
    users = None
    k_users = int(dcfg.get("clean_cost_users", 0))
    if k_users:
        has = np.diff(test.matrix(weight="binary").indptr) > 0
        cand = test.user_ids[has]
        users = np.sort(np.random.default_rng(0).choice(cand, min(k_users, len(cand)), replace=False))
    same = hr.trust.defend(train, **hr.trust.DEFAULT_DEFENCE).dataset.equals(train)
    seeds_of = dict(dcfg.get("clean_cost_seeds", {}))
    for base in dcfg["clean_cost"]:
        seeds = list(seeds_of.get(base, [None]))
        per_seed = []
        for seed in seeds:
            res = {}
            for s in (base + OFF, base):
                if s == base and same:
                    res[s] = dict(res[base + OFF])
                    res[s]["note"] = "defence changed no training row: same model"
                    continue
                t = time.perf_counter()
                r = make(s)
                if seed is not None:
                    r.set_params(random_state=int(seed))
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", hr.DataWarning)
                    row = hr.evaluate(r, train, test, k=20, users=users)
                res[s] = {"NDCG@20": row["NDCG@20"], "Recall@20": row["Recall@20"],
                          "users": row["users"], "fit_s": row["fit_s"]}
                say(f"{name}: clean split {s}" + (f" (random_state {seed})" if seed is not None
                                                   else "")
                    + f": NDCG@20 {row['NDCG@20']:.4f} ({time.perf_counter() - t:.1f}s)")
            per_seed.append(res)
        off = float(np.mean([r[base + OFF]["NDCG@20"] for r in per_seed]))
        on = float(np.mean([r[base]["NDCG@20"] for r in per_seed]))
        rel = [(r[base]["NDCG@20"] - r[base + OFF]["NDCG@20"]) / r[base + OFF]["NDCG@20"]
               for r in per_seed]
        note = per_seed[0][base].get("note", "")
        if len(seeds) > 1:
            note = (f"mean of {len(seeds)} random_state values {seeds}; per-seed change from "
                    f"{100 * min(rel):+.2f}% to {100 * max(rel):+.2f}%") + (f"; {note}" if note else "")
        out.append({
            "dataset": name, "strategy": base, "NDCG@20_off": off, "NDCG@20_on": on,
            "relative_change": (on - off) / off if off else float("nan"),
            "Recall@20_off": float(np.mean([r[base + OFF]["Recall@20"] for r in per_seed])),
            "Recall@20_on": float(np.mean([r[base]["Recall@20"] for r in per_seed])),
            "users": per_seed[0][base]["users"], "note": note,
        })
    return out


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------

def pct(x: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{100 * x:.3f}%" if 0 < x < 0.001 else f"{100 * x:.2f}%"


def num(x: float) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.0f}"


def table(frame: pd.DataFrame) -> str:
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, r in frame.iterrows():
        lines.append("| " + " | ".join(str(r[c]) for c in cols) + " |")
    return "\n".join(lines)


def summary(results: list[dict[str, Any]], acfg: dict[str, Any]) -> list[str]:
    """Bullet points read off the tables (nothing here is typed by hand)."""
    head_e, head_a = int(acfg["attack_edges"]), acfg["strategy"]
    out = []
    for res in results:
        rows = pd.DataFrame(res["rows"])
        if not len(rows):
            continue
        share = float(rows["target_share"].iloc[0])
        head = rows[(rows["attack"] == head_a) & (rows["attack_edges"] == head_e)]
        got = {r["strategy"]: r["hit_ratio"] for _, r in head.iterrows()}
        variants = ("trust", "hybrid", "trust" + OFF, "hybrid" + OFF)
        parts = [f"`{s}` {pct(got[s])}" for s in variants if s in got]
        fails = [s for s in ("trust", "hybrid") if s in got and got[s] > share]
        off_fails = [s for s in ("trust" + OFF, "hybrid" + OFF) if s in got and got[s] > share]
        measured = [f"`{s}`" for s in ("trust", "hybrid") if s in got]
        verdict = (("met by " + " and ".join(measured) + " at the defaults") if not fails else
                   "**not met** by " + ", ".join(f"`{s}`" for s in fails))
        if off_fails:
            verdict += "; with the defence off **not met** by " + ", ".join(
                f"`{s}`" for s in off_fails)
        out.append(f"- {res['name']}, {head_e} attack edges: {', '.join(parts)} of honest users "
                   f"get the target (issue target <= {pct(share)}: {verdict}).")
        curve = rows[(rows["attack"] == head_a)]
        for s in ("trust", "trust [buyer sybils]", "hybrid", "hybrid [buyer sybils]",
                  "trust" + OFF, "hybrid" + OFF):
            c = curve[curve["strategy"] == s].sort_values("attack_edges")
            if len(c) < 2:
                continue
            over = c[c["hit_ratio"] > share]
            if not len(over):
                out.append(f"  - curve, `{s}`: within the target at every point measured "
                           f"(up to {int(c['attack_edges'].max())} attack edges).")
                continue
            first = over.iloc[0]
            below = c[c["attack_edges"] < first["attack_edges"]]
            upto = int(below["attack_edges"].max()) if len(below) else 0
            out.append(f"  - curve, `{s}`: within the target up to {upto} attack edges; "
                       f"{pct(float(first['hit_ratio']))} at {int(first['attack_edges'])}.")
        for c in res["cost"]:
            out.append(f"  - clean cost, `{c['strategy']}`: NDCG@20 {c['NDCG@20_off']:.4f} -> "
                       f"{c['NDCG@20_on']:.4f} ({100 * c['relative_change']:+.2f}%).")
    for res in results:
        if not res["rows"] and res["cost"]:
            for c in res["cost"]:
                out.append(f"- {res['name']} clean cost, `{c['strategy']}`: NDCG@20 "
                           f"{c['NDCG@20_off']:.4f} -> {c['NDCG@20_on']:.4f} "
                           f"({100 * c['relative_change']:+.2f}%).")
    return out


def render(results: list[dict[str, Any]], acfg: dict[str, Any], cmd: str, wall: float,
           load_before: tuple[float, ...], png: Path | None, git: str = "",
           load_after: float | None = None) -> str:
    head_e, head_a = int(acfg["attack_edges"]), acfg["strategy"]
    parts = [
        "# Attack robustness: sybil promotion and fake reviews",
        "",
        f"Scenario: {acfg['n_sybils']} sybils (a complete graph among themselves) holding "
        f"{head_e} attack edges in all (mutual friendships with random honest users); each sybil "
        f"endorses one cold target item (kind `{acfg['kind']}`) plus {acfg['n_filler']} filler "
        f"endorsements of popular items (`hr.attacks.inject(attack=\"{head_a}\")`). Hit ratio: "
        f"share of honest users with the target in their top-{acfg['n']} (seen items excluded). "
        "Rank: position of the target in the full ranking of a fixed sample of honest users "
        "(a target the strategy does not score is last); rank shift = median over those users of "
        "clean rank minus attacked rank. `trust` and `hybrid` are the rankers at their "
        "defaults, which since the defaults changed means `defence=True`; "
        "`trust (defence off)` and `hybrid (defence off)` are `defence=None`. The defence "
        f"(`hr.trust.DEFAULT_DEFENCE` = `{hr.trust.DEFAULT_DEFENCE}`): refunded orders dropped, "
        "unbacked purchase claims demoted, endorsement rate limit, and the endorsements of "
        "accounts with SybilRank trust below the threshold dropped, before fitting. "
        f"`[buyer sybils]`: the same attack by sybils that each also keep "
        f"{acfg.get('cover_purchases', 0)} real purchase(s) of popular items, so the rule "
        "against accounts that recommend without ever buying does not apply and only the "
        "structural defence (SybilRank-style account trust, and the personalised trust walk of "
        "`trust`) is left."
        + (f" **This run overrides the defence defaults**: `{acfg['defence']}` (the rest as in "
           "`hr.trust.DEFAULT_DEFENCE` of the commit below)." if acfg.get("defence") else ""),
        "",
        "## Summary",
        "",
        *summary(results, acfg),
        "",
    ]
    for res in results:
        name = res["name"]
        rows = pd.DataFrame(res["rows"])
        share = rows["target_share"].iloc[0] if len(rows) else float("nan")
        parts += [f"## {name}: {res['ds']}", ""]
        if len(rows):
            parts.append(f"Target item `{res['target']}` ({res['target_users']} users before the "
                         f"attack); issue target: hit ratio <= {pct(share)} under `trust` and "
                         "`hybrid`.")
        if res.get("params"):
            parts.append(f"Parameter overrides on this dataset (all else at defaults): "
                         f"`{res['params']}`.")
        if res.get("clean_strategies") is not None:
            parts.append(f"Clean (unattacked) fits only for {res['clean_strategies']} (time): the "
                         "others have no clean hit ratio or rank shift here (n/a).")
        ms = res["measured"]
        if not len(rows):
            parts.append("No attack measured on this dataset (clean cost only).")
        elif ms["sample_users"]:
            parts.append(
                f"Measured users: the attack region (honest users within two follow hops of a "
                f"sybil) plus a uniform sample of {ms['sample_users']} other honest users (hit "
                f"ratio = weighted estimate, `se` its standard error); clean hit ratios from a "
                f"uniform sample of {ms['clean_sample']}; ranks on {ms['rank_users']} users.")
        else:
            parts.append(f"Measured users: every honest user; ranks on {ms['rank_users']} users.")
        parts.append("")
        if not len(rows):
            rows = pd.DataFrame(columns=["attack", "attack_edges", "strategy", "hit_ratio"])
        head = rows[(rows["attack"] == head_a) & (rows["attack_edges"] == head_e)]
        if len(head):
            t = pd.DataFrame({
                "strategy": head["strategy"],
                "hit ratio clean": head["hit_ratio_clean"].map(pct),
                "hit ratio attacked": [
                    pct(h) + (f" ± {pct(1.96 * s)}" if s else "") for h, s in zip(head["hit_ratio"], head["se"])],
                "users hit in region": head["hits_region"],
                f"<= {pct(share)}": np.where(head["hit_ratio"] <= share, "yes", "**no**"),
                "median rank clean": head["median_rank_clean"].map(num),
                "median rank attacked": head["median_rank"].map("{:.0f}".format),
                "rank shift": head["rank_shift"].map(num),
                "mean rank shift": head["mean_rank_shift"].map(num),
                "fit s": head["fit_s"].map("{:.1f}".format),
            })
            parts += [f"### Headline: {head_a}, {head_e} attack edges", "", table(t), ""]
        per = rows[(rows["attack_edges"] == head_e)]
        if per["attack"].nunique() > 1:
            piv = per.pivot_table(index="strategy", columns="attack", values="hit_ratio",
                                  aggfunc="first", dropna=False)
            piv = piv[[a for a in acfg["attacks"] if a in piv.columns]]
            shift = per.pivot_table(index="strategy", columns="attack", values="rank_shift",
                                    aggfunc="first", dropna=False)
            shift = shift[[a for a in acfg["attacks"] if a in shift.columns]]
            order = [s for s in rows["strategy"].unique() if s in set(per["strategy"])]
            disp = piv.reindex(order).map(pct).reset_index()
            disp2 = shift.reindex(index=order, columns=piv.columns).map(num).reset_index()
            parts += [f"### Per attack, {head_e} attack edges: hit ratio", "", table(disp), "",
                      f"### Per attack, {head_e} attack edges: rank shift (median places gained)",
                      "", table(disp2), ""]
        curve = rows[rows["attack"] == head_a]
        if curve["attack_edges"].nunique() > 1:
            piv = curve.pivot_table(index="attack_edges", columns="strategy", values="hit_ratio",
                                    aggfunc="first")
            order = [s for s in rows["strategy"].unique() if s in piv.columns]
            disp = piv.reindex(columns=order).map(pct).reset_index()
            parts += [f"### Curve: hit ratio as attack edges grow ({head_a})", "", table(disp), ""]
        if res["cost"]:
            c = pd.DataFrame(res["cost"])
            t = pd.DataFrame({
                "strategy": c["strategy"],
                "NDCG@20 off": c["NDCG@20_off"].map("{:.4f}".format),
                "NDCG@20 on": c["NDCG@20_on"].map("{:.4f}".format),
                "relative change": c["relative_change"].map(lambda x: f"{100 * x:+.2f}%"),
                "cost <= 2%": np.where(c["relative_change"] >= -0.02, "yes", "**no**"),
                "Recall@20 off": c["Recall@20_off"].map("{:.4f}".format),
                "Recall@20 on": c["Recall@20_on"].map("{:.4f}".format),
                "test users": c["users"],
                "note": c["note"],
            })
            parts += ["### What the defences cost on clean data",
                      "", "Random per-user 80/20 split (`hr.split.random_split`, seed 0), full "
                      "ranking over training items, seen items excluded, NDCG@20 (`hr.evaluate`).",
                      "", table(t), ""]
        rep = res["defence"]
        parts += ["### What the defence did (`hr.trust.defend` with the defaults)", ""]
        parts += [f"- {k} ({head_a}, {head_e} edges): `{v}`" if k != "clean"
                  else f"- clean data: `{v}`" for k, v in rep.items()]
        parts.append("")
    if png is not None:
        parts += [f"![hit ratio vs attack edges]({png.name})", ""]
    if png is None or png.with_suffix(".md").name == "attack_robustness.md":
        parts += ["## See also", ""]
        parts += [f"- [{name}]({name}): {what}" for name, what in SEE_ALSO.items()
                  if (OUT / name).exists()]
        parts.append("")
    after = f"{load_after:.1f}" if load_after is not None else "not recorded"
    parts += [
        "## Run",
        "",
        *provenance_lines(cmd),
        f"- Config: `{'as in the command' if '--config' in cmd else 'experiments/attack_robustness/config.toml'}`; "
        f"wall time {wall / 60:.1f} min; 1-minute load average {load_before[0]:.1f} before, "
        f"{after} after (shared with other jobs).",
        "- Rankers at their defaults (`hr.rankers.make(name)`; `(defence off)`: "
        "`hr.rankers.make(name, defence=None)`), fitted on the whole (clean or attacked) "
        "dataset; the CSV beside this file has every row.",
        f"- Code: {git}" if git else "",
    ]
    return "\n".join(parts) + "\n"


def plot(results: list[dict[str, Any]], acfg: dict[str, Any], path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover
        print("matplotlib not available: no plot", file=sys.stderr)
        return None
    results = [r for r in results if r["rows"]]
    if not results:
        return None
    fig, axes = plt.subplots(1, len(results), figsize=(6.5 * len(results), 4.5), squeeze=False)
    for ax, res in zip(axes[0], results):
        rows = pd.DataFrame(res["rows"])
        curve = rows[rows["attack"] == acfg["strategy"]]
        markers = iter("osD^vP*Xh")
        for s in curve["strategy"].unique():
            c = curve[curve["strategy"] == s].sort_values("attack_edges")
            ax.errorbar(c["attack_edges"], 100 * c["hit_ratio"], yerr=196 * c["se"],
                        marker=next(markers, "o"), capsize=2, label=s, alpha=0.85,
                        markersize=5 if OFF in s else 7,
                        linestyle=":" if "buyer" in s else "-" if OFF in s else "--")
        share = float(rows["target_share"].iloc[0])
        ax.axhline(100 * share, color="grey", linestyle=":", label=f"target {100 * share:g}%")
        ax.axvline(int(acfg["attack_edges"]), color="lightgrey", linewidth=0.8)
        ax.set_xscale("log")
        ax.set_yscale("symlog", linthresh=0.1)
        ax.set_ylim(bottom=0)
        ax.set_xlabel("attack edges (honest-sybil friendships, in all)")
        ax.set_ylabel(f"honest users with the target in top-{acfg['n']} (%)")
        ax.set_title(f"{res['name']}: {acfg['n_sybils']} sybils, {acfg['strategy']} attack")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# --------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------

QUICK_OVERRIDES = {
    "attack": {"curve": [1, 10, 100], "attacks": ["bandwagon", "review_padding", "refund"]},
    "datasets": [{
        "name": "synthetic", "n_users": 5000, "n_items": 2500, "world_seed": 0,
        "target_share": 0.005, "sample_users": 1000, "rank_users": 100,
        "strategies": ["trust" + OFF, "trust", "hybrid" + OFF, "hybrid", "popularity"],
        "attack_strategies": ["trust" + OFF, "trust", "popularity"],
        "curve_strategies": ["trust" + OFF, "trust", "popularity"], "curve_extra": {},
        "clean_cost": ["trust"], "clean_cost_users": 1000,
        "clean_strategies": ["trust" + OFF, "trust", "popularity"],
        "buyer_strategies": ["trust"], "params": {"hybrid": {"user_knn_k": 0}},
    }],
}


def _git_state() -> str:
    """The commit when the run started (``+dirty``: tracked files differed from it)."""
    return f"commit {git_commit()}"


def _plain(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", type=Path, default=CONFIG,
                    help="config.toml (the main run) or a variant beside it (knn.toml, threshold.toml)")
    ap.add_argument("--datasets", nargs="*", help="only these dataset names of the config")
    ap.add_argument("--quick", action="store_true", help="small smoke run (5k synthetic world)")
    ap.add_argument("--out", type=Path, default=None,
                    help="report path (default: results/attack_robustness.md for config.toml, "
                    "results/attack_robustness_<variant>.md for a variant)")
    ap.add_argument("--render", action="store_true",
                    help="only rewrite the .md/.png from the .json of the last run")
    args = ap.parse_args(argv)
    if args.out is None:
        stem = "" if args.config.stem == "config" else f"_{args.config.stem}"
        args.out = OUT / f"attack_robustness{stem}.md"
    cfg = tomllib.loads(args.config.read_text())
    acfg = dict(cfg["attack"])
    dsets = list(cfg["datasets"])
    if acfg.get("defence"):
        # a run measuring other defence parameters: what defence=True (the default of trust and
        # hybrid) means for this run only; the report says so
        bad = sorted(set(acfg["defence"]) - set(hr.trust.DEFAULT_DEFENCE))
        if bad:
            raise ValueError(f"Unknown keys {bad} in [attack] defence of {args.config}.")
        hr.trust.DEFAULT_DEFENCE.update(acfg["defence"])
    if args.quick:
        acfg.update(QUICK_OVERRIDES["attack"])
        dsets = QUICK_OVERRIDES["datasets"]
        if args.out == OUT / "attack_robustness.md":
            args.out = Path("/tmp") / f"attack_robustness_quick_{os.getpid()}.md"
    if args.datasets:
        dsets = [d for d in dsets if d["name"] in args.datasets]
    if args.render:
        saved = json.loads(args.out.with_suffix(".json").read_text())
        png = plot(saved["results"], saved["attack"], args.out.with_suffix(".png"))
        text = render(saved["results"], saved["attack"], saved["command"], saved["wall"],
                      tuple(saved["load_before"]), png, saved.get("git", ""),
                      saved.get("load_after"))
        args.out.write_text(text)
        print(text)
        return 0
    load_before = os.getloadavg()
    git = _git_state()
    t0 = time.perf_counter()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    csv_path = args.out.with_suffix(".csv")
    results = []
    for d in dsets:  # the raw rows are written after each dataset (a crash keeps them)
        results.append(run_dataset(d, acfg))
        frames = [pd.DataFrame(r["rows"]) for r in results]
        pd.concat(frames, ignore_index=True).to_csv(csv_path, index=False)
        cost = pd.DataFrame([c for r in results for c in r["cost"]])
        if len(cost):
            cost.to_csv(args.out.with_name(f"{args.out.stem}_cost.csv"), index=False)
    wall = time.perf_counter() - t0
    cmd = "nice -n 10 .venv/bin/python experiments/attack_robustness/run.py " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    load_after = os.getloadavg()[0]
    args.out.with_suffix(".json").write_text(json.dumps(
        {"results": results, "attack": acfg, "command": cmd.strip(), "wall": wall,
         "load_before": list(load_before), "load_after": load_after, "git": git},
        default=_plain, indent=1))
    png = plot(results, acfg, args.out.with_suffix(".png"))
    text = render(results, acfg, cmd.strip(), wall, load_before, png, git, load_after)
    args.out.write_text(text)
    print(text)
    print(f"wrote {args.out}, {csv_path}" + (f", {png}" if png else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
