"""A/B designs inside one simulated world: per-user arms, designs and estimators (issue 19)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import haowurank as hr

ARMS = {"A": "trust", "B": "popularity"}
OUTCOMES = ["clicks", "orders", "gmv", "refund_amount", "net_gmv", "endorsements"]


def _world(cfg: hr.sim.SimulationConfig) -> hr.Dataset:
    return hr.datasets.synthetic(cfg.n_users, cfg.n_items, seed=cfg.seed, **cfg.world_knobs())


@pytest.fixture(scope="module")
def small():
    cfg = hr.sim.SimulationConfig(n_users=300, n_items=120, days=6, seed=2, strategy="trust",
                                  daily_active_rate=0.3)
    return cfg, _world(cfg)


# ---------------------------------------------------------------------- the run's arms
def test_one_arm_for_everyone_is_the_plain_run(small):
    cfg, ds = small
    plain = hr.sim.run(cfg, dataset=ds)
    everyone_a = pd.Series("A", index=ds.user_ids)
    armed = hr.sim.run(cfg.replace(strategy="popularity"), dataset=ds, arms=ARMS,
                       assignment=everyone_a)
    pd.testing.assert_frame_equal(plain.events, armed.events)
    pd.testing.assert_frame_equal(plain.daily, armed.daily)
    assert plain.arms is None and plain.per_user["arm"].eq("trust").all()
    assert armed.arms == {"A": {"strategy": "trust", "strategy_params": {}},
                          "B": {"strategy": "popularity", "strategy_params": {}}}
    assert set(armed.ranker) == {"A", "B"}
    assert armed.ranker["A"] is not armed.ranker["B"]


def test_per_user_conserves_totals_and_round_trips(small, tmp_path):
    cfg, ds = small
    asg = hr.sim.user_randomised(ds, seed=5)
    res = hr.sim.run(cfg, dataset=ds, arms=ARMS, assignment=asg)
    pu = res.per_user
    assert tuple(pu.columns) == hr.sim.PER_USER_COLUMNS
    assert len(pu) == ds.n_users and pu["user"].is_unique
    assert (pu["arm"].astype(str).to_numpy() == asg.reindex(pu["user"]).to_numpy()).all()
    s = res.summary()
    assert pu["orders"].sum() == s["orders"] > 0
    assert pu["gmv"].sum() == pytest.approx(s["gmv"])
    assert pu["net_gmv"].sum() == pytest.approx(s["net_gmv"])
    assert pu["clicks"].sum() == (res.events["type"] == "click").sum()
    back = hr.sim.SimulationResult.read_parquet(res.to_parquet(tmp_path / "ab"))
    pd.testing.assert_frame_equal(back.per_user, pu)
    assert back.arms == res.arms
    # event types as categorical codes or as plain strings: the same per-user frame
    from haowurank.sim._ab import per_user_frame

    arm = pu["arm"].astype(str).to_numpy()
    assert isinstance(res.events["type"].dtype, pd.CategoricalDtype)
    plain = res.events.assign(type=res.events["type"].astype(str).astype(object))
    pd.testing.assert_frame_equal(per_user_frame(plain, ds.user_ids, arm),
                                  per_user_frame(res.events, ds.user_ids, arm))
    pd.testing.assert_frame_equal(per_user_frame(res.events, ds.user_ids, arm), pu)  # ids
    with pytest.raises(ValueError, match="user_index"):
        per_user_frame(res.events, ds.user_ids, arm, user_index=np.zeros(3, dtype=np.int64))


def test_arm_rankers_see_their_users_only(small):
    """Feed clicks of a user come from the user's arm's feed: under a deterministic exposure the
    run with two arms shows arm A users what the all-A run shows them on day 0 (same state)."""
    cfg, ds = small
    one = cfg.replace(days=1, log_impressions=True)
    asg = hr.sim.user_randomised(ds, seed=3)
    mixed = hr.sim.run(one, dataset=ds, arms=ARMS, assignment=asg)
    all_b = hr.sim.run(one.replace(strategy="popularity"), dataset=ds)
    all_a = hr.sim.run(one, dataset=ds)
    for arm, whole in (("A", all_a), ("B", all_b)):
        users = asg.index[asg == arm]
        got = mixed.impressions[mixed.impressions["user"].isin(users)
                                & (mixed.impressions["surface"] == "feed")]
        want = whole.impressions[whole.impressions["user"].isin(users)
                                 & (whole.impressions["surface"] == "feed")]
        assert len(got) > 0
        assert got[["user", "item", "position"]].reset_index(drop=True).equals(
            want[["user", "item", "position"]].reset_index(drop=True))


@pytest.mark.parametrize("kwargs, match", [
    ({"arms": ARMS}, "go together"),
    ({"assignment": ["A"]}, "go together"),
    ({"arms": {"A": "no_such_ranker", "B": "trust"}, "assignment": "x"}, "must name a ranker"),
    ({"arms": {"A": {"strategy": "trust", "bad": 1}}, "assignment": "x"}, "strategy_params"),
    ({"arms": ARMS, "assignment": ["A", "B"]}, "array of 300 arm names"),
])
def test_run_arms_errors(small, kwargs, match):
    cfg, ds = small
    if kwargs.get("assignment") == "x":
        kwargs["assignment"] = np.full(ds.n_users, "A")
    with pytest.raises(ValueError, match=match):
        hr.sim.run(cfg, dataset=ds, **kwargs)


def test_run_assignment_must_cover_users_with_known_arms(small):
    cfg, ds = small
    partial = pd.Series("A", index=ds.user_ids[:10])
    with pytest.raises(ValueError, match="290 of 300 users have none"):
        hr.sim.run(cfg, dataset=ds, arms=ARMS, assignment=partial)
    with pytest.raises(ValueError, match=r"names arm\(s\) \['C'\]"):
        hr.sim.run(cfg, dataset=ds, arms=ARMS, assignment=np.full(ds.n_users, "C"))


# ---------------------------------------------------------------------- designs
def test_user_randomised_is_balanced_and_deterministic(small):
    _, ds = small
    a = hr.sim.user_randomised(ds, seed=7)
    assert a.index.equals(pd.Index(ds.user_ids))
    assert (a == "A").sum() == (a == "B").sum() == 150
    assert a.equals(hr.sim.user_randomised(ds, seed=7))
    assert not a.equals(hr.sim.user_randomised(ds, seed=8))
    third = hr.sim.user_randomised(ds.user_ids, seed=1, p=1 / 3, arms=("T", "C"))
    assert (third == "T").sum() == 100 and set(third) == {"T", "C"}
    bern = hr.sim.user_randomised(np.arange(4000), seed=1, complete=False)
    assert 1800 < (bern == "A").sum() < 2200 and (bern == "A").sum() != 2000
    with pytest.raises(ValueError, match="'p' parameter of user_randomised"):
        hr.sim.user_randomised(ds, p=1.0)
    with pytest.raises(ValueError, match="two distinct"):
        hr.sim.user_randomised(ds, arms=("A", "A"))


def test_graph_clusters_cover_every_user_once_and_cluster_arms(small):
    _, ds = small
    cl = hr.sim.graph_clusters(ds, seed=0)
    assert cl.index.equals(pd.Index(ds.user_ids)) and cl.index.is_unique
    assert cl.equals(hr.sim.graph_clusters(ds, seed=0))
    sizes = cl.value_counts().sort_index().to_numpy()
    assert (np.diff(sizes) <= 0).all() and cl.nunique() >= 2  # numbered by decreasing size
    # communities hold most friendships (the world has homophily)
    soc = ds.indexed_social
    inside = (cl.to_numpy()[soc["user"].to_numpy()] == cl.to_numpy()[soc["friend"].to_numpy()])
    assert inside.mean() > 0.6
    finer = hr.sim.graph_clusters(ds, seed=0, resolution=4.0)
    assert finer.nunique() > cl.nunique()
    arms = hr.sim.cluster_randomised(cl, seed=3)
    assert arms.index.equals(cl.index)
    assert (pd.DataFrame({"c": cl, "a": arms}).groupby("c")["a"].nunique() == 1).all()
    per_cluster = pd.DataFrame({"c": cl, "a": arms}).groupby("c")["a"].first()
    assert abs((per_cluster == "A").sum() - (per_cluster == "B").sum()) <= 1
    assert arms.equals(hr.sim.cluster_randomised(cl, seed=3))
    with pytest.raises(TypeError, match="'dataset' parameter of graph_clusters"):
        hr.sim.graph_clusters(ds.social)
    with pytest.raises(ValueError, match="'resolution' parameter"):
        hr.sim.graph_clusters(ds, resolution=0)


# ---------------------------------------------------------------------- estimators
def test_estimators_known_answers():
    users = np.arange(12)
    cluster = pd.Series(np.repeat([0, 1, 2, 3], 3), index=users)
    arm = pd.Series(np.where(cluster.to_numpy() < 2, "A", "B"), index=users)
    y = np.where(arm.to_numpy() == "A", 3.0, 1.0) + np.tile([0.0, 1.0, 2.0], 4)
    pu = pd.DataFrame({"user": users, "arm": arm.to_numpy(), "orders": y})
    dim = hr.sim.difference_in_means(pu, "orders")
    assert dim.effect == pytest.approx(2.0) and (dim.n_a, dim.n_b) == (6, 6)
    assert dim.se == pytest.approx(np.sqrt(0.8 / 6 + 0.8 / 6))
    assert dim.low < 2.0 < dim.high
    cr = hr.sim.cluster_difference(pu, cluster, "orders")
    # each cluster's residuals sum to 0: no between-cluster spread, CR1 standard error 0
    assert cr.effect == pytest.approx(2.0) and cr.se == pytest.approx(0.0)
    assert (cr.clusters_a, cr.clusters_b) == (2, 2)
    ht = hr.sim.cluster_difference(pu, cluster, "orders", method="ht")
    assert ht.effect == pytest.approx(2.0)  # equal cluster sizes: HT = difference in means
    # by hand: a cluster shifted by +3 in arm A
    y2 = y.copy()
    y2[:3] += 3.0
    pu2 = pu.assign(orders=y2)
    cr2 = hr.sim.cluster_difference(pu2, cluster, "orders")
    resid = np.array([4.5, -4.5, 0.0, 0.0]) / 6.0  # cluster residual totals / n_arm
    assert cr2.effect == pytest.approx(3.5)
    assert cr2.se == pytest.approx(np.sqrt((resid ** 2).sum() * 4 / 3))
    ht2 = hr.sim.cluster_difference(pu2, cluster, "orders", method="ht")
    units_a = np.array([y2[:3].sum(), y2[3:6].sum()]) * 4 / 12
    assert ht2.se == pytest.approx(np.sqrt(units_a.var(ddof=1) / 2))
    mixed = arm.copy()
    mixed.iloc[0] = "B"
    with pytest.raises(ValueError, match="clusters hold users of both arms"):
        hr.sim.cluster_difference(pu, cluster, "orders", assignment=mixed)
    with pytest.raises(ValueError, match="'metric' parameter of difference_in_means"):
        hr.sim.difference_in_means(pu, "gmv")
    with pytest.raises(ValueError, match="'method' parameter"):
        hr.sim.cluster_difference(pu, cluster, "orders", method="x")


def test_without_spillover_user_randomisation_is_unbiased():
    """No channel from one user to another (no new endorsements, no social terms in clicks, no
    refits, no merchant messages): each user's outcome in the A/B run is exactly the user's
    outcome in the whole-world run of the user's arm, so the difference in means is unbiased
    for the global effect and its interval covers it at about its level."""
    cfg = hr.sim.SimulationConfig(
        n_users=400, n_items=150, days=8, seed=4, daily_active_rate=0.4, recommend_rate=0.0,
        rap_rate=0.0, refit_every=0, messaging="none", click_social=0.0, click_bought=0.0)
    ds = _world(cfg)
    all_a = hr.sim.run(cfg.replace(strategy="trust"), dataset=ds).per_user
    all_b = hr.sim.run(cfg.replace(strategy="popularity"), dataset=ds).per_user
    asg = hr.sim.user_randomised(ds, seed=11)
    ab = hr.sim.run(cfg, dataset=ds, arms=ARMS, assignment=asg).per_user
    is_a = (asg.reindex(ab["user"]) == "A").to_numpy()
    want = np.where(is_a[:, None], all_a[OUTCOMES].to_numpy(), all_b[OUTCOMES].to_numpy())
    np.testing.assert_array_equal(ab[OUTCOMES].to_numpy(), want)
    for metric in ("orders", "net_gmv"):
        truth = all_a[metric].mean() - all_b[metric].mean()
        assert truth != 0  # the strategies differ for some users
        est, cover = [], 0
        for seed in range(150):  # re-randomise: outcomes follow exactly from the two runs
            a = hr.sim.user_randomised(ds, seed=seed)
            first = (a.reindex(all_a["user"]) == "A").to_numpy()
            pu = all_a[["user", metric]].assign(**{metric: np.where(
                first, all_a[metric], all_b[metric])})
            e = hr.sim.difference_in_means(pu, metric, assignment=a)
            est.append(e.effect)
            cover += e.low <= truth <= e.high
        se = np.std(est) / np.sqrt(len(est))
        assert abs(np.mean(est) - truth) < 4 * se + 1e-12
        assert cover / 150 >= 0.88


def test_estimators_arm_names_from_the_data():
    pu = pd.DataFrame({"user": np.arange(6), "arm": list("TTTCCC"),
                       "orders": [2.0, 3.0, 4.0, 1.0, 1.0, 1.0]})
    e = hr.sim.difference_in_means(pu, "orders", arms=None)
    assert e.effect == pytest.approx(-2.0)  # sorted arm names: "C" minus "T"
    assert hr.sim.difference_in_means(pu, "orders", arms=("T", "C")).effect == pytest.approx(2.0)
    with pytest.raises(ValueError, match="needs exactly two arms"):
        hr.sim.difference_in_means(pu.assign(arm=list("TTTCCX")), "orders", arms=None)
    with pytest.raises(ValueError, match="Arm 'A' has none"):
        hr.sim.difference_in_means(pu, "orders")
