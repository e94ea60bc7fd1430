"""experiments/ab_interference: the summary over worlds, and a --quick run end to end."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "ab_interference" / "run.py"


@pytest.fixture(scope="module")
def study():
    spec = importlib.util.spec_from_file_location("ab_interference_run", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_summary_means_errors_and_coverage(study):
    rows = []
    for seed, (glob, est) in enumerate([(0.10, 0.14), (0.20, 0.22), (0.30, 0.36)]):
        rows.append({"setting": "s", "seed": seed, "metric": "orders", "design": "user",
                     "global_effect": glob, "estimate": est, "error": est - glob,
                     "interference": 0.5 * (est - glob), "se": 0.01,
                     "covers": abs(est - glob) < 0.03, "clusters": 0,
                     "friendships_inside_clusters": np.nan})
    s = study.summarise(pd.DataFrame(rows)).iloc[0]
    assert s["worlds"] == 3 and s["covers"] == 1
    assert s["error"] == pytest.approx(0.04)
    assert s["interference"] == pytest.approx(0.02)
    assert s["global_effect"] == pytest.approx(0.2)
    assert s["error_low"] < 0.04 < s["error_high"]
    assert s["rmse"] == pytest.approx(np.sqrt((0.04 ** 2 + 0.02 ** 2 + 0.06 ** 2) / 3))
    assert s["relative_bias"] == pytest.approx(0.2)


@pytest.mark.slow
def test_quick_run_end_to_end(study, tmp_path):
    assert study.main(["--quick", "--out", str(tmp_path)]) == 0
    runs = pd.read_csv(tmp_path / "runs.csv")
    assert set(runs["setting"]) == {"closed", "strong"}
    assert set(runs["design"]) == {"user", "cluster@1", "cluster_ht@1", "cluster@5",
                                   "cluster_ht@5"}
    assert set(runs["metric"]) == set(study.METRICS)
    # finer Louvain resolutions give more, smaller clusters holding fewer friendships
    by_res = runs[runs["design"].str.startswith("cluster@")].groupby("resolution")
    assert by_res["clusters"].mean().is_monotonic_increasing
    assert by_res["friendships_inside_clusters"].mean().is_monotonic_decreasing
    # for the difference of user means, error = interference + randomisation, and the
    # randomisation part is the assignment's draw on the whole-world outcomes
    means = runs[runs["design"] != "cluster_ht"]
    assert np.isfinite(means["interference"]).all()
    assert (runs["low"] <= runs["estimate"]).all() and (runs["estimate"] <= runs["high"]).all()
    assert (runs.loc[runs["design"] == "user", "n_a"] == 150).all()
    md = (tmp_path / "ab_interference.md").read_text()
    assert "## Answer" in md and "![forest plot](ab_interference.png)" in md
    assert (tmp_path / "ab_interference.png").stat().st_size > 1000
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert len(summary) == 2 * 5 * len(study.METRICS)
    assert study.design_label("cluster_ht@5") == "cluster-randomised (HT), Louvain resolution 5"
    # --render rewrites the report from runs.csv alone
    (tmp_path / "ab_interference.md").unlink()
    assert study.main(["--quick", "--out", str(tmp_path), "--render"]) == 0
    assert "## Answer" in (tmp_path / "ab_interference.md").read_text()
