"""The simulation runs the product: its feed is ``hr.feed.build`` and its search
``hr.search.SearchIndex.query`` on the platform's state of the day; its defaults run the whole
loop (messages, populated feeds); its metrics are honest (quota use, exposure, intervals)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

import haowurank as hr
from haowurank.sim import SimulationConfig
from haowurank.sim._engine import Engine
from haowurank.sim._world import World

N_USERS, N_ITEMS = 400, 150


@pytest.fixture(scope="module")
def world():
    return hr.datasets.synthetic(n_users=N_USERS, n_items=N_ITEMS, seed=7, **hr.sim.SIM_WORLD)


def cfg(**kw) -> SimulationConfig:
    base = dict(n_users=N_USERS, n_items=N_ITEMS, days=3, seed=3, world_seed=7, refit_every=2,
                daily_active_rate=0.3, log_impressions=True)
    base.update(kw)
    return SimulationConfig(**base)


def _run_days(c: SimulationConfig, world: hr.Dataset) -> tuple[Engine, pd.DataFrame]:
    eng = Engine(c, World.from_dataset(world, c))
    for d in range(c.days):
        eng.step(d)
    events = eng.log.frame(world.user_ids, world.item_ids, eng.world.merchant_names,
                           eng.world.platforms)
    return eng, events


@pytest.mark.parametrize("strategy,feed", [
    ("trust", {}),
    ("popularity", {"diversity": 0.0, "merchant_cap": None, "half_life_days": 7.0}),
    ("als", {"endorsement_weight": 0.2}),
])
def test_simulated_feed_and_search_are_the_product(world, strategy, feed):
    """On the last day (after a refit), every feed session shows exactly ``hr.feed.build`` and
    every search exactly ``SearchIndex.query`` on the day's state, for the same users."""
    c = cfg(strategy=strategy, feed=feed)
    eng, events = _run_days(c, world)
    day = c.days - 1
    s = eng.last_sessions
    assert s["day"] == day and eng.fits == 2  # the initial fit and the refit after day 1
    imp = events[(events["type"] == "impression") & (events["day"] == day)]
    state = eng.feed_dataset

    feed_users = world.user_ids[s["feed_users"]]
    assert len(feed_users) > 0
    want = hr.feed.build(state, eng.ranker, feed_users, n=c.feed_size, now=s["now"],
                         **hr.feed.FeedConfig.from_dict(feed).to_dict())
    got = imp[imp["channel"] == "feed"]
    pdt.assert_frame_equal(
        got[["user", "item", "rank"]].astype({"rank": np.int64}).reset_index(drop=True),
        want[["user", "item"]].assign(rank=want["rank"] - 1).reset_index(drop=True),
        check_dtype=False,
    )

    index = hr.search.SearchIndex(state)
    got = imp[imp["channel"] == "search"]
    n_checked = 0
    for u, q in zip(world.user_ids[s["search_users"]], s["queries"]):
        hits = index.query(q, user=u, n=c.search_size)
        mine = got[got["user"] == u]
        assert mine["item"].tolist() == hits["item"].tolist(), (u, q)
        assert mine["rank"].tolist() == (hits["rank"] - 1).tolist()
        n_checked += len(hits) > 0
    assert n_checked > 0


def test_the_day_state_is_the_world_plus_the_logged_days(world):
    """The state the product reads on day d: the world's rows and every simulated purchase and
    endorsement of the days before d (none of day d itself), and no ground truth."""
    c = cfg(days=3, log_impressions=False)
    eng, events = _run_days(c, world)
    state = eng.feed_dataset
    assert state.truth == {} and eng.platform.truth == {}
    kinds = state.interactions["kind"].astype(str).value_counts()
    before = events[events["day"] < c.days - 1]
    hist = world.interactions["kind"].astype(str).value_counts()
    for kind, event_type in (("purchase", "pay"), ("recommend", "recommend"),
                             ("recommend_after_purchase", "recommend_after_purchase")):
        assert kinds.get(kind, 0) == hist.get(kind, 0) + (before["type"] == event_type).sum(), kind
    assert (before["type"] == "pay").sum() > 0


def test_default_run_logs_messages_and_populates_feeds():
    """The default config runs the whole loop: merchants message (a mix of policies), feeds
    have candidates, and the quota rules hold."""
    c = SimulationConfig(n_users=1000, n_items=300, days=8, seed=1)
    assert isinstance(c.messaging, dict) and len(c.policy_shares()) >= 3
    assert c.messages_require_follow is False
    res = hr.sim.run(c)
    d = res.daily
    assert d["messages_sent"].sum() > 0
    assert res.check_quotas().empty
    assert {"feed_candidates_p10", "feed_candidates_median", "feed_candidates_p90",
            "feed_empty_share"} <= set(d.columns)
    assert (d["feed_candidates_p10"] <= d["feed_candidates_median"]).all()
    assert (d["feed_candidates_median"] <= d["feed_candidates_p90"]).all()
    assert d["feed_sessions"].sum() > d["search_sessions"].sum()
    # template messages need no follow: some go to buyers who never followed the merchant
    assert not hr.sim.check_quotas(res.events, require_follow=True).empty
    assert res.config.name == res.config.strategy


@pytest.mark.slow
def test_default_world_median_feed_candidates_at_day_30():
    """Issue 18: with the default world, the median active user has >= 10 feed candidates on
    day 30."""
    res = hr.sim.run(SimulationConfig(days=31, seed=0))
    assert res.daily.loc[30, "feed_candidates_median"] >= 10


def test_follow_is_a_long_term_channel(world):
    """Under templates a follower may opt in through the service account; those one-time
    messages arrive after the template window, and only to followers."""
    c = cfg(days=16, messaging="timed", follow_rate=1.0, optin_rate=1.0, log_impressions=False,
            refit_every=0)
    res = hr.sim.run(c, dataset=world)
    ev = res.events
    msg = ev[(ev["type"] == "message") & (ev["quota"] == "subscription")]
    assert len(msg) > 0
    sub = ev[ev["type"] == "subscribe"].set_index("optin_id")
    gap = msg["day"].to_numpy() - sub.loc[msg["ref"], "day"].to_numpy()
    assert (gap >= hr.sim.PAYMENT_WINDOW_DAYS).all()
    assert res.check_quotas().empty
    # the checker refuses a subscription message in the template regime without a follow
    no_follow = ev[ev["type"] != "follow"]
    bad = hr.sim.check_quotas(no_follow)
    assert (bad["rule"] == "regime").sum() == len(msg)


def test_quota_utilisation_is_sends_used_over_sends_granted(world):
    """A policy that uses every allowed send scores 1; the daily figure is cumulative."""
    res = hr.sim.run(cfg(days=10, messaging="spammer", marketing_rate=0.0, optout_base=-30.0,
                         complaint_base=-30.0, optout_per_message=0.0, form_rate=0.0,
                         optin_rate=0.0, log_impressions=False), dataset=world)
    d = res.daily
    granted = d["quota_granted"].cumsum()
    np.testing.assert_allclose(d["quota_utilisation"], d["messages_sent"].cumsum() / granted)
    assert d["quota_utilisation"].between(0, 1).all()
    # every payment's three sends fall inside the run, except those of the last days
    pay = res.events[res.events["type"] == "pay"]
    early = pay[pay["day"] <= res.config.days - 6]
    msg = res.events[res.events["type"] == "message"]
    used = msg[msg["ref"].isin(early["order_id"])].groupby("ref").size()
    assert (used.reindex(early["order_id"], fill_value=0) == hr.sim.PAYMENT_QUOTA).all()


def test_exposure_normalised_by_catalogue_share(world):
    res = hr.sim.run(cfg(days=4, log_impressions=True), dataset=world)
    ev = res.events
    imp = ev[ev["type"] == "impression"]
    eng_world = World.from_dataset(world, res.config)
    cat = np.bincount(eng_world.item_merchant, minlength=eng_world.n_merchants).astype(float)
    names = [str(x) for x in eng_world.merchant_names]
    for day, g in imp.groupby("day"):
        per_m = g["merchant"].astype(str).value_counts().reindex(names, fill_value=0).to_numpy()
        row = res.daily.loc[day]
        assert row["merchant_exposure_gini"] == pytest.approx(hr.sim.gini(per_m))
        ok = cat > 0
        assert row["merchant_exposure_gini_normalised"] == pytest.approx(
            hr.sim.gini(per_m[ok] / cat[ok]))
        lt = eng_world.longtail
        share = per_m[lt].sum() / per_m.sum()
        assert row["longtail_exposure_ratio"] == pytest.approx(share / (cat[lt].sum() / cat.sum()))
        lti = eng_world.longtail_items[world.item_index(g["item"].tolist())]
        assert row["longtail_item_impression_share"] == pytest.approx(lti.mean())


def test_longtail_heads_are_fixed_by_the_world(world):
    a = World.from_dataset(world, cfg(strategy="popularity"))
    b = World.from_dataset(world, cfg(strategy="trust", seed=9))
    np.testing.assert_array_equal(a.longtail_items, b.longtail_items)
    np.testing.assert_array_equal(a.longtail, b.longtail)
    head = ~a.longtail_items
    assert head.sum() == int(np.ceil(a.config.longtail_top_share * world.n_items))
    pop = np.bincount(world.item_index(world.interactions["item"].tolist()),
                      minlength=world.n_items)
    assert pop[head].min() >= pop[~head].max()


def test_intervals_respect_the_metric_range():
    from haowurank.sim._metrics import mean_ci

    counts = np.array([0.0, 0.0, 1.0])  # complaints: a t-interval would go below 0
    mu, lo, hi, _ = mean_ci(counts, 0.95, kind="count")
    assert lo >= 0 and lo <= mu <= hi
    rates = np.array([0.97, 0.99, 1.0])
    mu, lo, hi, _ = mean_ci(rates, 0.95, kind="rate")
    assert 0 <= lo <= mu <= hi <= 1
    real = np.array([-1.0, 0.5, 2.0])
    mu, lo, hi, _ = mean_ci(real, 0.95, kind="real")
    assert lo < 0 < hi  # a plain t-interval
    with pytest.raises(ValueError, match="kind"):
        mean_ci(real, 0.95, kind="ratio")


def test_compare_intervals_stay_in_range(world):
    base = cfg(days=3, log_impressions=False, messaging="spammer")
    cmp = hr.sim.compare(["popularity", "trust"], replicates=3, base=base)
    s = cmp.summary
    from haowurank.sim import METRIC_KINDS

    for _, r in s.iterrows():
        if METRIC_KINDS[r["metric"]] in ("count", "rate"):
            assert r["ci_low"] >= 0, r["metric"]
            assert r["ci_low"] <= r["mean"] <= r["ci_high"], r["metric"]
        if METRIC_KINDS[r["metric"]] == "rate":
            assert r["ci_high"] <= 1, r["metric"]


def test_add_interactions_equals_from_frames_on_all_rows():
    """The simulated platform grows its Dataset day by day with ``add_interactions``; that
    equals building it from every row at once (and keeps the vocabularies and truth)."""
    import warnings

    ds = hr.datasets.synthetic(n_users=200, n_items=60, seed=5)
    inter = ds.interactions
    half = len(inter) // 2
    full = hr.Dataset.from_frames(inter, social=ds.social, items=ds.items, blocks=ds.blocks)
    grown = full.select_interactions(np.arange(full.n_interactions) < half)  # same vocabularies
    rest = full.interactions.iloc[half:]
    for chunk in np.array_split(np.arange(len(rest)), 3):
        grown = grown.add_interactions(rest.iloc[chunk])

    def canon(d):
        f = d.interactions.astype({"order_id": object, "source": object})
        return f.sort_values(["user", "item", "kind", "timestamp", "order_id"]).reset_index(drop=True)

    pdt.assert_frame_equal(canon(grown), canon(full))
    np.testing.assert_array_equal(grown.user_ids, full.user_ids)
    # a repeated (user, item, kind, order_id) merges with duplicates="sum" and warns
    with pytest.warns(hr.DataWarning, match="merged 3 duplicated"):
        again = grown.add_interactions(inter.iloc[:3])
    assert again.n_interactions == grown.n_interactions
    with pytest.raises(ValueError, match="repeat an earlier"):
        grown.add_interactions(inter.iloc[:3], duplicates="raise")
    with pytest.raises(hr.UnknownIdError, match="'interactions' of add_interactions"):
        grown.add_interactions(pd.DataFrame({"user": ["nobody"], "item": [ds.item_ids[0]],
                                             "timestamp": [0]}))
    with pytest.raises(ValueError, match="timestamp"):
        grown.add_interactions(pd.DataFrame({"user": [ds.user_ids[0]], "item": [ds.item_ids[0]]}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = ds.add_interactions(pd.DataFrame({"user": [ds.user_ids[0]], "item": [ds.item_ids[0]],
                                              "timestamp": [1], "kind": ["click"]}))
    assert t.truth is ds.truth and t.n_interactions == ds.n_interactions + 1


def test_search_query_many_equals_one_query_per_row(world):
    """The simulation searches in batches; each batch row is exactly ``SearchIndex.query``."""
    index = hr.search.SearchIndex(world)
    cats = sorted(world.items["category"].unique().tolist())
    rng = np.random.default_rng(1)
    texts = [cats[k].replace("_", " ") for k in rng.integers(0, len(cats), 40)]
    texts += ["no such words at all", texts[0]]
    users = world.user_ids[rng.integers(0, world.n_users, len(texts))].tolist()
    many = index.query_many(texts, users, n=7)
    assert many["query"].is_monotonic_increasing
    for k, (text, user) in enumerate(zip(texts, users)):
        one = index.query(text, user=user, n=7)
        got = many[many["query"] == k].drop(columns="query").reset_index(drop=True)
        if len(one):
            pdt.assert_frame_equal(got, one)
        else:
            assert len(got) == 0
    assert (many["n_friend_recommenders"] > 0).any()
    anonymous = index.query_many(texts[:3], n=4)
    pdt.assert_frame_equal(anonymous[anonymous["query"] == 1].drop(columns="query")
                           .reset_index(drop=True), index.query(texts[1], n=4))
    with pytest.raises(ValueError, match="one searcher per text"):
        index.query_many(texts[:2], users[:1])
    with pytest.raises(hr.UnknownIdError, match="query_many"):
        index.query_many(texts[:1], ["nobody"])


def test_own_endorsements_keep_both_kinds_of_one_item(world):
    """A user who both recommended and recommended-after-purchase an item before day 0 makes
    neither again (the platform's log would repeat a row)."""
    c = cfg(days=1)
    eng = Engine(c, World.from_dataset(world, c))
    inter = world.interactions
    both = (inter[inter["kind"].isin(["recommend", "recommend_after_purchase"])]
            .groupby(["user", "item"], observed=True)["kind"].nunique())
    for kinds_seen, bits in ((1, None), (2, 3)):
        pairs = both[both == kinds_seen].index[:50]
        if len(pairs) == 0:
            continue
        u = world.user_index([p[0] for p in pairs])
        i = world.item_index([p[1] for p in pairs])
        got = np.asarray(eng.own_endorsed[u, i]).ravel().astype(int)
        if bits is None:
            assert set(got) <= {1, 2}
        else:
            assert (got == bits).all()


def test_complaints_and_fatigue_lower_activity_and_churn(world):
    """Consequences: complaints churn users (no session or order after it) and, with fatigue,
    lower activity; without them the same seed gives more sessions."""
    base = dict(days=14, messaging="spammer", marketing_rate=0.0, log_impressions=False,
                refit_every=0, follow_rate=1.0, optin_rate=1.0)
    harsh = hr.sim.run(cfg(complaint_base=0.0, churn_per_complaint=0.5,
                           complaint_activity_drop=0.5, fatigue_activity_drop=0.2,
                           fatigue_free_messages=0, **base), dataset=world)
    mild = hr.sim.run(cfg(complaint_base=0.0, churn_per_complaint=0.0,
                          complaint_activity_drop=0.0, fatigue_activity_drop=0.0, **base),
                      dataset=world)
    ev = harsh.events
    churn = ev[ev["type"] == "churn"]
    assert len(churn) > 0 and churn["user"].is_unique
    assert harsh.daily["churned"].sum() == len(churn)
    assert harsh.daily["churned_users"].iloc[-1] == len(churn)
    gone = churn.set_index("user")["day"]
    acts = ev[ev["type"].isin(["click", "pay"]) & ev["user"].isin(gone.index)]
    assert (acts["day"].to_numpy() <= gone.loc[acts["user"]].to_numpy()).all()
    # churn refers to the complained-about message
    msgs = ev[ev["type"] == "message"].set_index("event_id")
    assert (msgs.loc[churn["ref"], "user"].to_numpy() == churn["user"].to_numpy()).all()
    assert harsh.daily["activity_mean"].iloc[-1] < 1.0 == mild.daily["activity_mean"].iloc[-1]
    assert harsh.daily["fatigued_messages"].sum() > 0
    assert harsh.daily["active_users"].sum() < mild.daily["active_users"].sum()
    assert (harsh.daily["active_users"] <= mild.daily["active_users"]).all()  # common numbers
    assert harsh.check_quotas().empty


def test_product_state_reads_like_the_whole_log(world):
    """The product's state keeps only the kinds feed and search read (``PRODUCT_KINDS``): on the
    last day, ``hr.feed.build`` and ``SearchIndex`` on the platform's whole log of the finished
    days (views and clicks included) give the same pages."""
    from haowurank.sim._engine import PRODUCT_KINDS

    c = cfg(strategy="trust", log_impressions=False)
    eng, _ = _run_days(c, world)
    s = eng.last_sessions
    platform = eng.platform
    days = eng.world.day_of(platform.interaction_arrays()["timestamp"])
    full = platform.select_interactions(days < s["day"])
    state = eng.feed_dataset
    assert set(state.interactions["kind"].astype(str)) <= set(PRODUCT_KINDS)
    assert full.n_interactions > state.n_interactions  # the log holds other kinds too
    users = world.user_ids[np.r_[s["feed_users"], s["search_users"]]]
    kw = dict(n=c.feed_size, now=s["now"], **hr.feed.FeedConfig.from_dict(c.feed).to_dict())
    pdt.assert_frame_equal(hr.feed.build(full, eng.ranker, users, **kw),
                           hr.feed.build(state, eng.ranker, users, **kw))
    queries = list(s["queries"])
    searchers = world.user_ids[s["search_users"]]
    assert len(queries) > 0
    pdt.assert_frame_equal(hr.search.SearchIndex(full).query_many(queries, searchers, n=10),
                           hr.search.SearchIndex(state).query_many(queries, searchers, n=10))


def test_search_rows_without_friend_boost_rank_by_the_plain_blend(world):
    """Rows of a batch that no friend boosts share one ranking: score descending, then the lower
    item, as a full sort of the blend gives, whatever boosted rows the batch also holds."""
    index = hr.search.SearchIndex(world)
    cats = sorted(world.items["category"].unique().tolist())
    text = cats[0].replace("_", " ")
    users = world.user_ids.tolist()
    many = index.query_many([text] * len(users), users, n=9)
    boosted = many.groupby("query")["n_friend_recommenders"].max() > 0
    assert boosted.any() and (~boosted).any()
    ts = index.text_scores(text)
    best = float(ts.max())
    hits = np.flatnonzero((ts > 0) & (ts >= index.min_text_score * best))
    base = index.text_weight * ts[hits].astype(np.float64) / best
    base += index.rec_weight * np.log1p(index.n_recommenders_[hits]) / index._rec_norm
    want = world.item_ids[hits[np.lexsort((hits, -base))][:9]]
    for q in boosted.index[~boosted.to_numpy()][:20]:
        assert list(many.loc[many["query"] == q, "item"]) == list(want)
