"""Stochastic exposure in the simulation and its impression log (res.impressions / candidates)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import haowurank as hr
from haowurank.sim import CANDIDATE_COLUMNS, IMPRESSION_COLUMNS, ExposurePolicy, SimulationConfig

BASE = dict(n_users=400, n_items=150, days=3, seed=2)


@pytest.fixture(scope="module")
def pl_run():
    return hr.sim.run(SimulationConfig(**BASE, log_impressions=True, exposure="plackett_luce",
                                       exposure_temperature=0.7))


def test_default_is_deterministic_and_logging_changes_nothing():
    plain = hr.sim.run(SimulationConfig(**BASE))
    logged = hr.sim.run(SimulationConfig(**BASE, log_impressions=True))
    assert plain.impressions is None and plain.candidates is None
    # the event count differs by the "impression" events; nothing else does
    pd.testing.assert_frame_equal(plain.daily.drop(columns="events"),
                                  logged.daily.drop(columns="events"))
    imp, cand = logged.impressions, logged.candidates
    assert tuple(imp.columns) == IMPRESSION_COLUMNS
    assert tuple(cand.columns) == CANDIDATE_COLUMNS
    assert (imp["propensity"] == 1.0).all() and (imp["slot_propensity"] == 1.0).all()
    slates = imp[imp["surface"] != "message"]
    # the deterministic pool is the slate itself
    assert sorted(zip(slates["slate"], slates["item"])) == sorted(
        zip(cand[cand["slate"].isin(slates["slate"])]["slate"],
            cand[cand["slate"].isin(slates["slate"])]["item"]))
    # the log agrees with the event log and the daily metrics
    ev = logged.events
    assert len(slates) == int((ev["type"] == "impression").sum())
    assert int(slates["click"].sum()) == int((ev["type"] == "click").sum())
    pays = ev[(ev["type"] == "pay") & ev["channel"].astype(str).isin(["feed", "search"])]
    assert int(slates["order"].sum()) == len(pays)
    assert int(slates["click"].sum()) == int(logged.daily["clicks"].sum())


def test_stochastic_log_is_consistent(pl_run):
    imp, cand = pl_run.impressions, pl_run.candidates
    s = imp[imp["surface"] != "message"]
    assert ((s["propensity"] > 0) & (s["propensity"] <= 1)).all()
    assert (s["propensity"] < 1).any()  # the slates are drawn
    # propensity is the running product of slot propensities
    prod = s.groupby("slate")["slot_propensity"].cumprod()
    np.testing.assert_allclose(prod, s["propensity"], rtol=1e-12)
    # positions 0..n-1 within each slate, every shown item among the slate's candidates
    pos = s.groupby("slate").cumcount()
    assert (pos.to_numpy() == s["position"].to_numpy()).all()
    merged = s.merge(cand, on=["slate", "item"], how="left", suffixes=("", "_cand"))
    assert merged["score_cand"].notna().all()
    np.testing.assert_allclose(merged["score"], merged["score_cand"])
    # one user per slate, no item twice in a slate
    assert (s.groupby("slate")["user"].nunique() == 1).all()
    assert not s.duplicated(["slate", "item"]).any()
    # outcomes agree with the event log: clicks per (day, user, item)
    ev = pl_run.events
    clicks = ev[ev["type"] == "click"]
    assert int(s["click"].sum()) == len(clicks)
    assert set(zip(s[s["click"]]["day"], s[s["click"]]["user"], s[s["click"]]["item"])) == set(
        zip(clicks["day"], clicks["user"], clicks["item"]))
    assert (s["order"] <= s["click"]).all()


def test_logged_propensities_are_the_policy_recomputed_from_candidates(pl_run):
    """hr.ope recomputes the logging policy's prefix probability from the candidate pools: it
    equals what the engine logged (so a target's probabilities are on the same footing)."""
    imp, cand = pl_run.impressions, pl_run.candidates
    policy = ExposurePolicy("plackett_luce", temperature=0.7)
    tp = hr.ope.target_propensities(imp, cand, policy, surfaces=["feed", "search"])
    logged = imp.loc[tp.index, "propensity"]
    np.testing.assert_allclose(tp, logged, rtol=1e-9)
    est = hr.ope.estimate(imp, cand, policy, n_boot=50).set_index("estimator")["value"]
    assert est["ips"] == pytest.approx(est["logged"], rel=1e-9)
    assert est["snips"] == pytest.approx(est["logged"], rel=1e-9)


def test_same_seed_same_log_and_parquet_round_trip(pl_run, tmp_path):
    again = hr.sim.run(pl_run.config)
    pd.testing.assert_frame_equal(pl_run.impressions, again.impressions)
    pd.testing.assert_frame_equal(pl_run.candidates, again.candidates)
    pl_run.to_parquet(tmp_path / "res")
    back = hr.sim.SimulationResult.read_parquet(tmp_path / "res")
    pd.testing.assert_frame_equal(pl_run.impressions, back.impressions)
    pd.testing.assert_frame_equal(pl_run.candidates, back.candidates)
    assert back.config == pl_run.config


def test_epsilon_one_is_uniform_over_the_pool():
    res = hr.sim.run(SimulationConfig(**{**BASE, "days": 1}, log_impressions=True,
                                      exposure="epsilon", exposure_epsilon=1.0))
    imp, cand = res.impressions, res.candidates
    s = imp[imp["surface"] != "message"]
    pool = cand.groupby("slate").size()
    n_left = pool.loc[s["slate"]].to_numpy() - s["position"].to_numpy()
    np.testing.assert_allclose(s["slot_propensity"], 1.0 / n_left)


@pytest.mark.parametrize("field, value", [
    ("exposure", "softmax"), ("exposure_temperature", 0.0), ("exposure_epsilon", 2.0),
    ("exposure_pool", 0),
])
def test_config_errors_name_the_field(field, value):
    with pytest.raises(ValueError, match=f"'{field}'"):
        SimulationConfig(**{field: value})


def test_config_round_trip_keeps_exposure():
    cfg = SimulationConfig(exposure="epsilon", exposure_epsilon=0.2, exposure_pool=2)
    assert SimulationConfig.from_toml(cfg.to_toml()) == cfg
    assert SimulationConfig.from_json(cfg.to_json()) == cfg


def test_another_strategys_scores_as_the_target(pl_run):
    """A target strategy scores the logged candidates (hr.ope.ranker_scores); the estimate is
    finite and equals the one from the same column written by hand."""
    imp, cand = pl_run.impressions, pl_run.candidates
    ranker = pl_run.ranker  # the logging run's fitted ranker, as another strategy would be
    scored = hr.ope.ranker_scores(imp, cand, ranker)
    assert list(scored.columns) == [*cand.columns, "target_score"]
    owner = imp.drop_duplicates("slate").set_index("slate")["user"]
    raw = ranker.score_pairs(cand["slate"].map(owner).tolist(), cand["item"].tolist())
    ok = np.isfinite(raw)
    np.testing.assert_allclose(scored["target_score"][ok], raw[ok])
    assert np.isfinite(scored["target_score"]).all()
    target = ExposurePolicy("deterministic")
    est = hr.ope.estimate(imp, scored, target, score="target_score", n_boot=0)
    assert np.isfinite(est["value"]).all()
    by_hand = hr.ope.estimate(imp, cand.assign(target_score=scored["target_score"]), target,
                              score="target_score", n_boot=0)
    pd.testing.assert_frame_equal(est, by_hand)
    with pytest.raises(ValueError, match="'user'"):
        hr.ope.ranker_scores(imp.drop(columns="user"), cand, ranker)
    with pytest.raises(TypeError, match="'ranker'"):
        hr.ope.ranker_scores(imp, cand, "als")
