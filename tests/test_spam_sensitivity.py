"""experiments/spam_sensitivity: its paired bootstrap and verdicts, and a --quick run end to end."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "spam_sensitivity" / "run.py"


@pytest.fixture(scope="module")
def study():
    spec = importlib.util.spec_from_file_location("spam_sensitivity_run", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_paired_bootstrap_and_verdicts(study):
    mean, lo, hi = study.paired_bootstrap(np.array([-30.0, -10.0, -20.0, -40.0]), 500, seed=0)
    assert mean == pytest.approx(-25.0)
    assert -40.0 <= lo <= mean <= hi <= -10.0
    assert study.verdict(lo, hi) == "stops paying"
    assert study.paired_bootstrap(np.full(5, 7.0), 100, seed=1) == (7.0, 7.0, 7.0)
    assert study.verdict(1.0, 5.0) == "pays"
    assert study.verdict(-1.0, 5.0) == "not resolved"


def test_summary_pairs_replicates_by_seed(study):
    """Differences are taken seed by seed (pairs), not between arm means of other seeds."""
    rows = []
    for fatigue, loss in ((0.0, -10.0), (0.1, 10.0)):
        for seed, base in enumerate([1000.0, 5000.0, 9000.0]):
            common = dict(seed=seed, fatigue_activity_drop=fatigue, churn_per_complaint=0.0,
                          complaints=0, churned=0, activity_mean_last=1.0)
            rows += [dict(arm="none", gmv=base, **common),
                     dict(arm="timed", gmv=base + 5.0, **common),
                     dict(arm="spammer", gmv=base - loss, **common)]
    s = study.summarise(pd.DataFrame(rows), 300)
    s0 = s[s["fatigue_activity_drop"] == 0.0].set_index("comparison")
    # the arms' spread over seeds is large, the paired differences are constant
    assert s0.loc["spammer - none", ["gmv_diff", "lo", "hi"]].tolist() == [10.0, 10.0, 10.0]
    assert s0.loc["spammer - timed", "gmv_diff"] == 5.0
    assert (s0["verdict"] == "pays").all()
    s1 = s[s["fatigue_activity_drop"] == 0.1].set_index("comparison")
    assert s1.loc["spammer - none", "gmv_diff"] == -10.0
    assert (s1["verdict"] == "stops paying").all()
    text = study.answer(s)
    assert "costs GMV from fatigue 0.1 (churn per complaint 0)" in text
    assert "|" not in text and text.count("All-spammer against") == 2


@pytest.mark.slow
def test_quick_run_writes_results(study, tmp_path):
    assert study.main(["--quick", "--out", str(tmp_path)]) == 0
    q = study.QUICK
    cells = len(q["fatigue_activity_drop"]) * len(q["churn_per_complaint"])
    runs = pd.read_csv(tmp_path / "spam_sensitivity.csv")
    assert len(runs) == q["replicates"] * (1 + 2 * cells)
    assert not runs.loc[runs["churn_per_complaint"] == 0, "reused"].any()
    assert set(runs["arm"]) == {"none", "timed", "spammer"}
    assert (runs.loc[runs["arm"] == "none", "messages"] == 0).all()
    assert (runs.loc[runs["arm"] == "spammer", "messages"] > 0).all()
    assert (tmp_path / "spam_sensitivity.png").stat().st_size > 0
    md = (tmp_path / "spam_sensitivity.md").read_text()
    assert "| answer |" in md and "![GMV difference against fatigue](spam_sensitivity.png)" in md
    assert md.count("| spammer - none |") == cells and md.count("| spammer - timed |") == cells
    assert "- Command: `" in md and "Load average before:" in md
    # --render rewrites the same Markdown from the CSV, keeping the run's provenance
    assert study.main(["--quick", "--render", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "spam_sensitivity.md").read_text() == md
    # --adaptation compares adapting spammers with the run's three arms, seed by seed
    t = study.main(["--quick", "--adaptation", "--out", str(tmp_path)])
    assert t == 0
    ad = (tmp_path / "adaptation.md").read_text()
    assert all(f"| 1 | {arm} |" in ad for arm in ("spammer", "timed", "none"))
