"""experiments/social_placebo in --quick mode: every arm runs, the report, tables and plot are
written, the intervals hold their estimates, and a second run reuses the stored arms."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "experiments" / "social_placebo" / "run.py"


def _module():
    spec = importlib.util.spec_from_file_location("social_placebo_run", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_quick_run_writes_a_consistent_report(tmp_path, capsys):
    mod = _module()
    out = tmp_path / "placebo.md"
    args = ["--quick", "--work-dir", str(tmp_path / "work"), "--out", str(out)]
    assert mod.main(args) == 0
    text = out.read_text()
    assert "real / shuffled" in text and "Command:" in text and "placebo.png" in text
    assert out.with_suffix(".png").stat().st_size > 1000
    summary = pd.read_csv(out.with_suffix(".csv"))
    runs = pd.read_csv(out.with_suffix(".runs.csv"))
    strategies = list(mod.QUICK["datasets"]["synthetic"]["strategies"])
    assert sorted(summary["strategy"].unique()) == sorted(strategies)
    assert set(summary["population"]) == {"all", "cold"}
    # social strategies: real, none and every shuffle per split; als (no graph) only real
    n_arms = 2 + len(mod.QUICK["shuffle_seeds"])
    counts = runs.groupby("strategy")["arm"].nunique()
    assert counts["als"] == 1 and counts["trust"] == n_arms == counts["friend_endorsements"]
    assert (runs.loc[runs["arm"] == "none", "social_rows"] == 0).all()
    shuffled = runs[runs["arm"].str.startswith("shuffle")]
    real = runs[runs["arm"] == "real"]
    assert set(shuffled["social_rows"]) == set(real["social_rows"])
    social = summary[summary["strategy"] != "als"]
    for col in ("real", "none", "shuffled", "lift_vs_shuffled", "lift_vs_none"):
        assert social[col].notna().all()
        assert (social[f"{col}_lo"] <= social[col] + 1e-12).all()
        assert (social[col] <= social[f"{col}_hi"] + 1e-12).all()
    # the shuffled arm is the mean of the shuffles, and the lift is its ratio to the real arm
    row = social[(social["strategy"] == "trust") & (social["population"] == "all")].iloc[0]
    each = runs[(runs["strategy"] == "trust") & runs["arm"].str.startswith("shuffle")]["NDCG@20"]
    assert np.isclose(row["shuffled"], each.mean())
    assert np.isclose(row["lift_vs_shuffled"], row["real"] / row["shuffled"] - 1)
    assert row["shuffle_min"] <= row["shuffled"] <= row["shuffle_max"]
    # a second run reuses every stored arm and gives the same table
    capsys.readouterr()
    stored = {p: p.stat().st_mtime_ns for p in (tmp_path / "work").rglob("*.npz")}
    assert len(stored) == len(runs)
    assert mod.main(args) == 0
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "work").rglob("*.npz")} == stored
    again = pd.read_csv(out.with_suffix(".csv"))
    pd.testing.assert_frame_equal(summary, again)


def test_validation_mode_scores_the_validation_part(tmp_path):
    mod = _module()
    settings = {**mod.QUICK, "validation": True, "shuffle_seeds": [101]}
    spec = {"synthetic": mod.QUICK["datasets"]["synthetic"]["synthetic"],
            "strategies": {"friend_endorsements": {},
                           "fe adoption": {"ranker": "friend_endorsements",
                                           "tie_strength": "adoption"}}}
    mod.run_dataset("synthetic", spec, settings, tmp_path, tmp_path, [0])
    stored = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.npz"))
    assert stored and all("/val0/" in p for p in stored) and len(stored) == 2 * 3
    summary, runs = mod.analyse(settings, {"synthetic": spec}, tmp_path)
    test_summary, _ = mod.analyse({**settings, "validation": False}, {"synthetic": spec}, tmp_path)
    assert len(test_summary) == 0  # nothing stored for the test parts
    assert set(summary["strategy"]) == {"friend_endorsements", "fe adoption"}
    a = runs[(runs["strategy"] == "fe adoption") & (runs["arm"] == "real")]["NDCG@20"].iloc[0]
    b = runs[(runs["strategy"] == "friend_endorsements") & (runs["arm"] == "real")]["NDCG@20"].iloc[0]
    assert a != b  # the ranker label's parameters were used
