"""experiments/offline_vs_sim: Kendall tau per world, bootstrap over worlds, verdict flips,
and a --quick run end to end."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "offline_vs_sim" / "run.py"
K = 20


@pytest.fixture(scope="module")
def study():
    spec = importlib.util.spec_from_file_location("offline_vs_sim_run", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _runs(study, worlds: dict[str, list[float]]) -> pd.DataFrame:
    """A runs frame: per world, NDCG@20 = 1, 2, 3, ... over strategies a, b, c, ... and every
    outcome set from the given values (orders) or from NDCG (the rest)."""
    rows = []
    for world, orders in worlds.items():
        for i, o in enumerate(orders):
            r = {"world": world, "strategy": "abcdefg"[i]}
            r.update({c: float(i + 1) for c in study.offline_cols(K)})
            r[f"MerchantGini@{K}"] = -float(i + 1)  # smaller is better: b is better than a
            r.update({c: float(i + 1) for c in study.OUTCOMES})
            r["merchant_exposure_gini"] = float(i + 1)  # larger is worse: reversed verdicts
            r["orders"] = o
            rows.append(r)
    return pd.DataFrame(rows)


def test_tau_orientation_and_known_values(study):
    runs = _runs(study, {"w1": [1, 2, 3, 4], "w2": [4, 3, 2, 1]})
    t = study.tau_table(runs, K).set_index(["world", "metric", "outcome"])["tau"]
    assert t[("w1", f"NDCG@{K}", "orders")] == pytest.approx(1.0)
    assert t[("w2", f"NDCG@{K}", "orders")] == pytest.approx(-1.0)
    # MerchantGini is negated, so smaller Gini = better = agrees with larger net GMV
    assert t[("w1", f"MerchantGini@{K}", "net_gmv")] == pytest.approx(1.0)
    # merchant exposure Gini is negated: a larger simulated Gini is a worse verdict
    assert t[("w1", f"NDCG@{K}", "merchant_exposure_gini")] == pytest.approx(-1.0)


def test_constant_side_gives_nan_and_is_left_out(study):
    runs = _runs(study, {"w1": [5, 5, 5], "w2": [1, 2, 3]})
    taus = study.tau_table(runs, K)
    w1 = taus[(taus.world == "w1") & (taus.outcome == "orders")]
    assert w1["tau"].isna().all()
    mt = study.mean_tau(taus, 200).set_index(["metric", "outcome"])
    r = mt.loc[(f"NDCG@{K}", "orders")]
    assert r["worlds"] == 1 and r["mean_tau"] == pytest.approx(1.0)


def test_bootstrap_interval_brackets_mean(study):
    runs = _runs(study, {"w1": [1, 2, 3, 4], "w2": [4, 3, 2, 1], "w3": [1, 3, 2, 4],
                         "w4": [2, 1, 3, 4]})
    taus = study.tau_table(runs, K)
    mt = study.mean_tau(taus, 500)
    r = mt[(mt.metric == f"NDCG@{K}") & (mt.outcome == "orders")].iloc[0]
    expected = taus[(taus.metric == f"NDCG@{K}") & (taus.outcome == "orders")]["tau"].mean()
    assert r.mean_tau == pytest.approx(expected)
    assert -1.0 <= r.lo <= r.mean_tau <= r.hi <= 1.0
    assert r.lo < r.hi


def test_flips_count_worlds_where_winners_differ(study):
    runs = _runs(study, {"w1": [1, 2, 3, 4], "w2": [4, 3, 2, 1], "w3": [1, 2, 4, 4]})
    per_world, fl = study.flips(runs, K)
    f = fl[(fl.metric == f"NDCG@{K}") & (fl.outcome == "orders")].iloc[0]
    assert (f.flips, f.worlds) == (1, 3)  # only w2: d is NDCG-best, a orders-best
    assert per_world.set_index("world").loc["w3", "orders"] == "c / d"  # a tie lists both


@pytest.mark.slow
def test_quick_run_end_to_end(study, tmp_path):
    assert study.main(["--quick", "--out", str(tmp_path)]) == 0
    runs = pd.read_csv(tmp_path / "runs.csv")
    taus = pd.read_csv(tmp_path / "tau.csv")
    strategies = study.QUICK["strategies"]
    n_worlds = runs["world"].nunique()
    assert n_worlds == 2 and len(runs) == n_worlds * len(strategies)
    # every world ran every strategy, and each tau was computed on exactly those strategies
    for _, g in runs.groupby("world"):
        assert sorted(g["strategy"]) == sorted(strategies)
    assert set(taus["strategies"]) == {",".join(sorted(strategies))}
    assert (taus["n_strategies"] == len(strategies)).all()
    assert len(taus) == n_worlds * len(study.OFFLINE) * len(study.OUTCOMES)
    tau = taus["tau"].dropna().to_numpy()
    assert len(tau) > 0 and np.all((tau >= -1.0) & (tau <= 1.0))
    for c in study.offline_cols(K):
        assert runs[c].between(0, 1).all()
    assert (runs["orders"] >= 0).all()
    md = (tmp_path / "offline_vs_sim.md").read_text(encoding="utf-8")
    assert "| answer |" in md and "Kendall tau" in md
    assert (tmp_path / "tau_heatmap.png").stat().st_size > 1000
    # --replicate: the same worlds and strategies under another seed, added to the report
    assert study.main(["--quick", "--out", str(tmp_path), "--replicate"]) == 0
    reps = pd.read_csv(tmp_path / "replicates.csv")
    assert sorted(zip(reps["world"], reps["strategy"])) == sorted(zip(runs["world"],
                                                                      runs["strategy"]))
    assert (reps["sim_seed"] != 0).all()
    md2 = (tmp_path / "offline_vs_sim.md").read_text(encoding="utf-8")
    assert "The simulation against itself" in md2
    assert md2.split("## Answer")[0].startswith(md.split("## Answer")[0].rstrip())  # kept
