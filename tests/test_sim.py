"""hr.sim: determinism, conservation, cascades, visibility, penalties, compare, config, Parquet."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

import haowurank as hr
from haowurank.sim import SimulationConfig

N_USERS, N_ITEMS = 400, 150


@pytest.fixture(scope="module")
def world():
    return hr.datasets.synthetic(n_users=N_USERS, n_items=N_ITEMS, seed=7, **hr.sim.SIM_WORLD)


def cfg(**kw) -> SimulationConfig:
    base = dict(n_users=N_USERS, n_items=N_ITEMS, days=12, seed=3, world_seed=7, refit_every=4,
                daily_active_rate=0.25)
    base.update(kw)
    return SimulationConfig(**base)


@pytest.fixture(scope="module")
def res(world):
    """One run with every mechanism switched on (spammers and timed merchants)."""
    return hr.sim.run(cfg(messaging={"timed": 0.5, "spammer": 0.5}, days=16), dataset=world)


# ------------------------------------------------------------------------------- determinism
def test_same_config_and_seed_identical(world, res):
    again = hr.sim.run(res.config, dataset=world)
    pdt.assert_frame_equal(res.daily, again.daily)
    pdt.assert_frame_equal(res.events, again.events)


def test_world_from_config_equals_given_world(world):
    c = cfg(days=3)
    a = hr.sim.run(c)  # builds hr.datasets.synthetic(n_users, n_items, seed=world_seed)
    b = hr.sim.run(c, dataset=world)
    pdt.assert_frame_equal(a.events, b.events)


def test_other_seed_differs(world, res):
    other = hr.sim.run(res.config.replace(seed=4), dataset=world)
    assert not res.daily["orders"].equals(other.daily["orders"])


def test_results_do_not_depend_on_feed_batches(world, monkeypatch):
    """The product's feed built in batches of 1 viewer or of all viewers gives the same run."""
    from haowurank.sim import _engine

    c = cfg(strategy="friend_endorsements", days=6, messaging="immediate")
    monkeypatch.setattr(_engine, "FEED_BATCH_SIZE", 1)
    a = hr.sim.run(c, dataset=world)
    monkeypatch.setattr(_engine, "FEED_BATCH_SIZE", 1 << 20)
    b = hr.sim.run(c, dataset=world)
    pdt.assert_frame_equal(a.events, b.events)
    assert a.daily["orders"].sum() > 0


def test_streams_are_order_free():
    s = hr.sim.Streams(11)
    users = np.arange(1000)
    items = (users * 7) % 13
    u = s.uniform("click", 5, users, items)
    perm = np.random.default_rng(0).permutation(1000)
    np.testing.assert_array_equal(s.uniform("click", 5, users[perm], items[perm]), u[perm])
    assert 0.0 <= u.min() and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 0.05
    # other purpose, day or seed: other numbers
    assert not np.array_equal(u, s.uniform("buy", 5, users, items))
    assert not np.array_equal(u, s.uniform("click", 6, users, items))
    assert not np.array_equal(u, hr.sim.Streams(12).uniform("click", 5, users, items))


def test_stream_moments():
    s = hr.sim.Streams(0)
    x = s.normal("world", 0, np.arange(200_000))
    assert abs(x.mean()) < 0.02 and abs(x.std() - 1) < 0.02
    g = s.geometric("ship", 0, 2.5, np.arange(200_000))
    assert g.min() >= 1 and abs(g.mean() - 2.5) < 0.05


# ------------------------------------------------------------------------------- conservation
def test_orders_and_gmv_conserved(res):
    ev, d = res.events, res.daily
    pay = ev[ev["type"] == "pay"]
    assert d["orders"].sum() == len(pay) > 0
    per_user = pay.groupby("user").size()
    assert per_user.sum() == d["orders"].sum()
    assert np.isclose(d["gmv"].sum(), pay["amount"].sum())
    per_day = pay.groupby("day").size().reindex(d["day"], fill_value=0).to_numpy()
    np.testing.assert_array_equal(per_day, d["orders"].to_numpy())
    orders = res.orders()
    assert len(orders) == len(pay) and orders["order_id"].is_unique
    assert np.isclose(orders["amount"].sum(), d["gmv"].sum())
    refunds = ev[ev["type"] == "refund"]
    assert np.isclose(refunds["amount"].sum(), d["refund_amount"].sum())
    assert np.isclose(d["net_gmv"].sum(), d["gmv"].sum() - d["refund_amount"].sum())
    assert (pay["order_id"] == pay["event_id"]).all()
    assert pay["source"].notna().all() and pay["source"].nunique() >= 1


def test_logistics_lifecycle(res):
    ev = res.events
    life = ev[ev["type"].isin(["pay", "ship", "deliver", "refund"])]
    assert not life.duplicated(["order_id", "type"]).any()  # each step at most once per order
    wide = life.pivot(index="order_id", columns="type", values="event_id")
    days = life.pivot(index="order_id", columns="type", values="day")
    assert wide["pay"].notna().all()
    for step in ("ship", "deliver", "refund"):
        has = wide[step].notna()
        assert (wide.loc[has, step] > wide.loc[has, "pay"]).all(), f"{step} before pay"
        assert (days.loc[has, step] > days.loc[has, "pay"]).all()
    has_d = wide["deliver"].notna()
    assert wide.loc[has_d, "ship"].notna().all(), "delivered without shipping"
    assert (wide.loc[has_d, "deliver"] > wide.loc[has_d, "ship"]).all()
    has_r = wide["refund"].notna() & wide["ship"].notna()
    assert (wide.loc[has_r, "ship"] < wide.loc[has_r, "refund"]).all(), "shipped after a refund"
    # a refund after shipping is a return: only after delivery
    assert wide.loc[has_r, "deliver"].notna().all()
    assert has_d.sum() > 0 and wide["refund"].notna().sum() > 0


def test_recommend_after_purchase_needs_earlier_delivery(res):
    ev = res.events
    rap = ev[ev["type"] == "recommend_after_purchase"]
    assert len(rap) > 0
    dl = ev[ev["type"] == "deliver"][["user", "item", "event_id", "order_id"]]
    m = rap[["event_id", "user", "item", "order_id"]].merge(
        dl, on=["user", "item"], suffixes=("", "_d"))
    ok = m[m["event_id_d"] < m["event_id"]].groupby("event_id").size()
    assert set(ok.index) == set(rap["event_id"])
    # the order named on the endorsement is a delivered order of that user and item
    named = rap.merge(dl, left_on=["order_id", "user", "item"], right_on=["order_id", "user", "item"])
    assert len(named) == len(rap)


def test_endorsement_counts_and_uniqueness(res):
    ev, d = res.events, res.daily
    for kind in ("recommend", "recommend_after_purchase"):
        per_day = ev[ev["type"] == kind].groupby("day").size().reindex(d["day"], fill_value=0)
        np.testing.assert_array_equal(per_day.to_numpy(), d[kind].to_numpy())
    end = ev[ev["type"].isin(["recommend", "recommend_after_purchase"])]
    assert not end.duplicated(["user", "item", "type"]).any()
    # nobody endorses again what they endorsed before day 0 with the same kind
    init = res.initial_endorsements
    both = end.assign(kind=end["type"].astype(str)).merge(
        init.assign(kind=init["kind"].astype(str)), on=["user", "item", "kind"])
    assert both.empty


def test_cascades_are_consistent(res):
    ev = res.events
    end = ev[ev["type"].isin(["recommend", "recommend_after_purchase"])].set_index("event_id")
    init = res.initial_endorsements.set_index("id")
    assert len(end) and (end["depth"] >= 0).all()
    roots = end["ref"] < 0
    assert (end.loc[roots, "depth"] == 0).all()
    assert (end.loc[roots, "cascade"] == end.index[roots]).all()
    child = end[~roots]
    assert len(child) > 0, "no word-of-mouth reshare happened"
    from_init = child["ref"] < res.first_event_id
    assert child.loc[from_init, "ref"].isin(init.index).all()
    assert (child.loc[from_init, "depth"] == 1).all()
    assert (child.loc[from_init, "cascade"] == child.loc[from_init, "ref"]).all()
    sim_parent = child[~from_init]
    assert sim_parent["ref"].isin(end.index).all()
    assert (sim_parent.index > sim_parent["ref"]).all()
    par = end.loc[sim_parent["ref"]]
    np.testing.assert_array_equal(sim_parent["depth"].to_numpy(), par["depth"].to_numpy() + 1)
    np.testing.assert_array_equal(sim_parent["cascade"].to_numpy(), par["cascade"].to_numpy())
    # the parent endorsed the same item, and the daily cascade metrics match the log
    assert (par["item"].to_numpy() == sim_parent["item"].to_numpy()).all()
    sizes = pd.concat([child["cascade"]]).value_counts() + 1
    last = res.daily.iloc[-1]
    assert last["cascade_size_max"] == sizes.max()
    assert last["cascades_grown"] == len(sizes)
    assert last["cascade_depth_max"] == end["depth"].max()


def test_feed_clicks_come_from_visible_friend_endorsements(world, res):
    """A feed click's ref is an endorsement the clicker may see (the rule of hr.feed)."""
    ev = res.events
    clicks = ev[(ev["type"] == "click") & (ev["channel"] == "feed")]
    assert len(clicks) > 0 and (clicks["ref"] >= 0).all()
    end = ev[ev["type"].isin(["recommend", "recommend_after_purchase"])][
        ["event_id", "user", "item", "visibility"]]
    init = res.initial_endorsements.rename(columns={"id": "event_id"})
    vis0 = world.interactions
    vis0 = vis0[vis0["kind"].isin(["recommend", "recommend_after_purchase"])]
    init = init.assign(kind=init["kind"].astype(str)).merge(
        vis0.assign(kind=vis0["kind"].astype(str))[["user", "item", "kind", "visibility"]],
        on=["user", "item", "kind"])[["event_id", "user", "item", "visibility"]]
    allend = pd.concat([end, init], ignore_index=True).rename(columns={"user": "endorser"})
    m = clicks[["event_id", "user", "item", "ref"]].merge(
        allend, left_on="ref", right_on="event_id", suffixes=("", "_e"))
    assert len(m) == len(clicks)
    assert (m["item"] == m["item_e"]).all()
    soc = world.social
    follows = set(zip(soc["user"], soc["friend"]))
    blocks = set(zip(world.blocks["user"], world.blocks["blocked"]))
    for u, e, v in zip(m["user"], m["endorser"], m["visibility"].astype(str)):
        assert (u, e) in follows and (u, e) not in blocks
        assert v != "private"
        if v == "friends":
            assert (e, u) in follows


def test_feed_candidates_match_hr_feed_visibility(world):
    """On day 0 each user's feed candidates are the items of ``hr.visibility``'s visible
    endorsements of the initial world, less what the user bought or endorsed."""
    from haowurank.sim._engine import Engine
    from haowurank.sim._world import World
    from haowurank.visibility import visible_endorsements

    c = cfg(days=1)
    eng = Engine(c, World.from_dataset(world, c))
    eng.prepare_product(0)
    users = np.arange(world.n_users)
    ours = eng.feed_candidates(users)
    vis = visible_endorsements(world)
    inter = world.interactions
    own = inter[inter["kind"].isin(["purchase", "recommend", "recommend_after_purchase"])]
    own = set(zip(own["user"], own["item"]))
    pairs = {(v, i) for v, i in zip(vis["viewer"], vis["item"]) if (v, i) not in own}
    want = pd.Series([p[0] for p in pairs]).value_counts()
    want = want.reindex(world.user_ids, fill_value=0).to_numpy()
    np.testing.assert_array_equal(ours, want)
    assert want.sum() > 0


def test_repurchase_rate_is_measured(res):
    ev = res.events
    pay = ev[ev["type"] == "pay"].sort_values("event_id")
    rep = pay.duplicated(["user", "item"])
    # a repurchase of an item bought before day 0 also counts; so the log gives a lower bound
    assert res.daily["repurchases"].sum() >= rep.sum()
    assert 0 <= res.summary()["repurchase_rate"] <= 1


def test_daily_metric_ranges(res):
    d = res.daily
    assert list(d["day"]) == list(range(res.config.days))
    for col in ("ctr", "conversion", "repurchase_rate", "reshare_share", "merchant_exposure_gini",
                "longtail_impression_share", "longtail_gmv_share", "quota_utilisation"):
        assert d[col].between(0, 1).all(), col
    assert (d["clicks"] <= d["impressions"]).all()
    assert (d["feed_sessions"] + d["search_sessions"] == d["active_users"]).all()
    assert (d["messages_sent"] <= d["quota_available"]).all()


# ------------------------------------------------------------------------------- strategies
@pytest.fixture(scope="module")
def tiny_world():
    return hr.datasets.synthetic(n_users=200, n_items=80, seed=2)


@pytest.mark.parametrize("name", hr.rankers.available())
def test_every_ranker_can_run_the_platform(tiny_world, name):
    """Any registered strategy ranks the feeds and search (fitted once on the world)."""
    c = cfg(strategy=name, days=2, refit_every=0, n_users=200, n_items=80, world_seed=2,
            daily_active_rate=0.5)
    r = hr.sim.run(c, dataset=tiny_world)
    assert r.daily["impressions"].sum() > 0
    assert r.daily["orders"].sum() > 0
    assert r.ranker.name == name


@pytest.mark.parametrize("name", ["popularity", "friend_endorsements", "als"])
def test_refit_learns_from_the_simulated_log(tiny_world, name):
    c = cfg(strategy=name, days=4, refit_every=2, n_users=200, n_items=80, world_seed=2,
            daily_active_rate=0.5)
    r = hr.sim.run(c, dataset=tiny_world)
    ev = r.events
    # the last refit (end of day 1) saw the world's history plus days 0-1 of the simulation
    pays = ev[(ev["type"] == "pay") & (ev["day"] <= 1)]
    assert len(pays) > 0
    u = tiny_world.user_index(pays["user"].tolist())
    i = tiny_world.item_index(pays["item"].tolist())
    assert (np.asarray(r.ranker.seen_[u, i]).ravel() > 0).all()
    history = np.asarray(tiny_world.matrix(weight="binary")[u, i]).ravel()
    assert (history == 0).any()  # some of those purchases are new to the ranker


def test_policies_and_messages(world):
    none = hr.sim.run(cfg(messaging="none"), dataset=world)
    timed = hr.sim.run(cfg(messaging="timed"), dataset=world)
    imm = hr.sim.run(cfg(messaging="immediate"), dataset=world)
    assert none.daily["messages_sent"].sum() == 0
    assert (none.events["type"] != "message").all()
    for r in (timed, imm):
        assert r.daily["messages_sent"].sum() > 0
        assert r.check_quotas().empty
        msg = r.events[r.events["type"] == "message"]
        assert not msg["marketing"].any()
    # same seed, same world: sessions before any message are identical (common random numbers)
    pdt.assert_frame_equal(none.daily.loc[:0, ["active_users", "clicks"]],
                           timed.daily.loc[:0, ["active_users", "clicks"]])
    t = timed.events[timed.events["type"] == "message"]
    # timed merchants remind at the repurchase time and answer forms the next day
    assert set(t["template"].astype(str)) <= {"repurchase_reminder", "form_reply"}
    assert (t.loc[t["quota"] != "form", "template"] == "repurchase_reminder").all()


def test_subscription_regime(world):
    r = hr.sim.run(cfg(messaging="immediate", subscription_from_day=5), dataset=world)
    ev = r.events
    msg = ev[ev["type"] == "message"]
    assert (msg.loc[msg["day"] < 5, "quota"] != "subscription").all()
    assert (msg.loc[msg["day"] >= 5, "quota"] == "subscription").all()
    assert (msg["day"] >= 5).any() and (ev["type"] == "subscribe").any()
    sub = ev[ev["type"] == "subscribe"]
    assert (sub["optin_id"] == sub["event_id"]).all()
    # before day 5 only followers of the service account are asked to opt in
    early = sub[sub["day"] < 5]
    follows = ev[ev["type"] == "follow"]
    first_follow = follows.groupby(["user", "merchant"], observed=True)["event_id"].min()
    keys = list(zip(early["user"], early["merchant"]))
    assert all(k in first_follow.index and first_follow[k] < e
               for k, e in zip(keys, early["event_id"]))
    assert r.check_quotas().empty


def test_penalties_escalate(world):
    r = hr.sim.run(cfg(messaging="spammer", marketing_rate=1.0, audit_rate=1.0, days=40,
                       messages_require_follow=False, follow_rate=1.0), dataset=world)
    pen = r.events[r.events["type"] == "penalty"]
    assert len(pen) > 0
    ladder = list(hr.sim.PENALTY_LADDER)
    reached = 0
    for _m, g in pen.sort_values("event_id").groupby("merchant", observed=True):
        seq = g["penalty"].astype(str).tolist()
        assert seq == ladder[: len(seq)], seq
        days = g["day"].to_numpy()
        assert (np.diff(days) > 0).all()
        reached = max(reached, len(seq))
        if len(seq) >= 2:  # the 7-day ban: no message in the 7 days after it
            ban_day = int(days[1])
            msgs = r.events[(r.events["type"] == "message") & (r.events["merchant"] == _m)]
            assert not msgs["day"].between(ban_day + 1, ban_day + 7).any()
    assert reached >= 3
    assert r.check_quotas().empty
    assert r.daily["bans_active"].max() > 0


# ------------------------------------------------------------------------------- compare
def test_compare_confidence_intervals(world):
    base = cfg(days=5, n_users=300, n_items=120, world_seed=None)
    cmp = hr.sim.compare(["popularity", "friend_endorsements"], replicates=3, base=base,
                         metrics=["orders", "gmv", "conversion", "reshare_share"])
    runs, s = cmp.runs, cmp.summary
    assert len(runs) == 6 and set(runs["config"]) == {"popularity", "friend_endorsements"}
    # common random numbers: the same seeds (worlds and streams) for both strategies
    seeds = runs.pivot(index="replicate", columns="config", values="seed")
    assert (seeds["popularity"] == seeds["friend_endorsements"]).all()
    assert seeds["popularity"].nunique() == 3
    for _, row in s.iterrows():
        vals = runs.loc[runs["config"] == row["config"], row["metric"]]
        assert np.isclose(row["mean"], vals.mean())
        assert row["ci_low"] <= row["mean"] <= row["ci_high"]
        assert row["n"] == 3
    first = s[s["config"] == "popularity"]
    assert (first["diff"] == 0).all()
    t = cmp.table()
    assert list(t.index) == ["popularity", "friend_endorsements"]
    assert "|" in cmp.to_markdown()


def test_compare_ci_is_t_based():
    from scipy import stats

    x = np.array([1.0, 2.0, 4.0, 7.0])
    mu, lo, hi, sd = hr.sim._metrics.mean_ci(x)
    half = stats.t.ppf(0.975, 3) * x.std(ddof=1) / 2.0
    assert np.isclose(lo, mu - half) and np.isclose(hi, mu + half)


def test_compare_bad_arguments():
    with pytest.raises(ValueError, match="'replicates'"):
        hr.sim.compare(["popularity"], replicates=0)
    with pytest.raises(ValueError, match="'metrics'"):
        hr.sim.compare(["popularity"], replicates=1, metrics=["nope"])
    with pytest.raises(ValueError, match="'strategy'"):
        hr.sim.compare(["no_such_ranker"], replicates=1)


# ------------------------------------------------------------------------------- config
@pytest.mark.parametrize(
    "field,value",
    [("n_users", 1), ("days", 0), ("days", 2.5), ("seed", -1), ("strategy", "nope"),
     ("refit_every", -1), ("feed_size", 0), ("daily_active_rate", 0.0), ("feed_share", 1.5),
     ("cancel_rate", -0.1), ("messaging", "loud"), ("messaging", {"spammer": -1}),
     ("subscription_from_day", -2), ("click_base", float("nan")), ("log_impressions", 1),
     ("world", {"seed": 3}), ("world", {"no_such_knob": 1}), ("strategy_params", []),
     ("longtail_top_share", 1.0)],
)
def test_bad_config_field_names_the_field(field, value):
    f = "world" if field == "world" else field
    with pytest.raises(ValueError, match=f"'{f}'"):
        SimulationConfig(**{field: value})


def test_unknown_config_field():
    with pytest.raises(ValueError, match="nope"):
        SimulationConfig.from_dict({"nope": 1})


def test_config_round_trips(tmp_path):
    c = SimulationConfig(n_users=123, days=9, messaging={"timed": 0.7, "spammer": 0.3},
                         subscription_from_day=4, world={"homophily": 0.7},
                         strategy_params={"kind_weights": {"purchase": 2.0}}, label="x")
    assert SimulationConfig.from_dict(json.loads(json.dumps(c.to_dict()))) == c
    assert SimulationConfig.from_json(c.to_json()) == c
    assert SimulationConfig.from_toml(c.to_toml()) == c
    c.to_toml(tmp_path / "c.toml")
    assert SimulationConfig.from_toml(tmp_path / "c.toml") == c
    d = SimulationConfig()
    assert SimulationConfig.from_toml(d.to_toml()) == d


def test_dataset_without_truth_is_refused():
    from haowurank.testing import small_world

    with pytest.raises(ValueError, match="ground truth"):
        hr.sim.run(cfg(days=1), dataset=small_world())


# ------------------------------------------------------------------------------- I/O, hooks
def test_parquet_round_trip(res, tmp_path):
    out = res.to_parquet(tmp_path / "run")
    back = hr.sim.SimulationResult.read_parquet(out)
    pdt.assert_frame_equal(back.daily, res.daily)
    pdt.assert_frame_equal(back.events, res.events)
    assert back.config == res.config and back.first_event_id == res.first_event_id
    res.to_parquet(tmp_path / "run")  # replacing an existing result leaves no temporary folder
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert back.check_quotas().empty


def test_callback_per_day_and_early_stop(world):
    seen = []

    def cb(day, metrics):
        seen.append((day, metrics["orders"]))
        return day < 2

    r = hr.sim.run(cfg(days=8), dataset=world, callback=cb, show_progress=True)
    assert [d for d, _ in seen] == [0, 1, 2]
    assert len(r.daily) == 3
    assert [o for _, o in seen] == r.daily["orders"].tolist()


def test_gini_known_answers():
    assert hr.sim.gini(np.ones(10)) == pytest.approx(0.0)
    assert hr.sim.gini(np.r_[np.zeros(9), 1.0]) == pytest.approx(0.9)
    assert hr.sim.gini(np.zeros(4)) == 0.0


def test_feed_window_drops_old_endorsements_from_the_product_state(world):
    """With a window, the feed's state holds no endorsement older than it; purchases stay."""
    from haowurank.sim._engine import Engine
    from haowurank.sim._world import World

    c = cfg(feed_window_days=3, days=6, messaging="immediate")
    eng = Engine(c, World.from_dataset(world, c))
    for d in range(c.days):
        eng.step(d)
    state = eng.feed_dataset.interactions
    days = eng.world.day_of(state["timestamp"].to_numpy())
    endorsed = state["kind"].isin(["recommend", "recommend_after_purchase"]).to_numpy()
    assert endorsed.any() and (days[endorsed] >= c.days - 1 - 3).all()
    platform = eng.platform.interactions  # also holds the last day's rows
    before = eng.world.day_of(platform["timestamp"].to_numpy()) < c.days - 1
    assert ((platform["kind"] == "purchase") & before).sum() == (state["kind"] == "purchase").sum()
    assert eng.platform.n_interactions > state.shape[0]


def test_world_without_endorsements_runs():
    c = cfg(days=4, n_users=200, n_items=80, world_seed=1, messaging="timed",
            world={"p_recommend_after_purchase": 0.0, "p_plain_recommend": 0.0})
    r = hr.sim.run(c)
    assert r.first_event_id == 0 and len(r.initial_endorsements) == 0
    assert r.daily["feed_sessions"].iloc[0] == 0  # nothing to show in any feed on day 0
    assert r.daily["orders"].sum() > 0


def test_impressions_can_be_logged(world):
    r = hr.sim.run(cfg(days=3, log_impressions=True), dataset=world)
    imp = r.events[r.events["type"] == "impression"]
    per_day = imp.groupby("day").size().reindex(r.daily["day"], fill_value=0).to_numpy()
    np.testing.assert_array_equal(per_day, r.daily["impressions"].to_numpy())
    assert (imp["rank"] >= 0).all() and imp["channel"].notna().all()
    # every click was an impression of that day
    clicks = r.events[r.events["type"] == "click"][["day", "user", "item"]]
    both = clicks.merge(imp[["day", "user", "item"]], how="left", indicator=True)
    assert (both["_merge"] == "both").all()
    feed = imp[imp["channel"] == "feed"]
    assert feed.groupby(["day", "user"]).size().max() <= r.config.feed_size
