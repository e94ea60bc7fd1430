"""The seeded synthetic world: determinism, truth shapes, graph structure, causal order, knobs."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

import haowurank as hr
from haowurank.datasets import SyntheticWorld, synthetic
from haowurank.datasets._synthetic import TRUTH_KEYS, true_utility


@pytest.fixture(scope="module")
def world() -> hr.Dataset:
    return synthetic(n_users=3000, n_items=1200, seed=3)


def test_deterministic_and_seed_dependent():
    a = synthetic(400, 200, seed=5)
    b = synthetic(400, 200, seed=5)
    assert a.equals(b)
    for k in TRUTH_KEYS:
        assert np.array_equal(a.truth[k], b.truth[k])
    c = synthetic(400, 200, seed=6)
    assert not a.equals(c)
    assert not np.array_equal(a.truth["user_taste"], c.truth["user_taste"])
    # a SeedSequence gives the world of its int
    assert synthetic(400, 200, seed=np.random.SeedSequence(5)).equals(a)


def test_truth_shapes_and_types(world):
    t = world.truth
    assert set(t) == set(TRUTH_KEYS)
    n, m, d = world.n_users, world.n_items, 16
    assert t["user_taste"].shape == (n, d) and t["user_taste"].dtype == np.float32
    assert t["item_taste"].shape == (m, d) and t["item_taste"].dtype == np.float32
    for k in ("item_quality", "item_price", "item_merchant"):
        assert t[k].shape == (m,)
    for k in ("user_community", "user_activity", "user_price_sensitivity"):
        assert t[k].shape == (n,)
    assert t["item_merchant"].dtype.kind == "i" and t["user_community"].dtype.kind == "i"
    n_merchants = len(t["merchant_size"])
    assert t["item_merchant"].max() < n_merchants
    assert np.array_equal(np.bincount(t["item_merchant"], minlength=n_merchants), t["merchant_size"])
    assert (t["merchant_size"] >= 1).all()
    assert np.allclose(world.items["price"].to_numpy(), t["item_price"])
    # merchant column names the merchant of the truth
    names = world.items["merchant"].to_numpy()
    assert all(int(names[i][1:]) - 1 == t["item_merchant"][i] for i in range(0, m, 97))


def test_ids_and_metadata(world):
    assert world.user_ids[0] == "u000001" and world.user_ids[-1] == "u003000"
    assert world.item_ids[0] == "i000001"
    items = world.items
    assert set(items.columns) >= {"item", "title", "category", "merchant", "price", "searchable"}
    assert (items["price"] > 0).all()
    assert 0 < (~items["searchable"]).sum() < 0.1 * len(items)
    titles = items["title"]
    has_cn = titles.str.contains(r"[\u4e00-\u9fff]")
    has_en = titles.str.contains(r"[a-z]{3,}")
    assert (has_cn & has_en).mean() > 0.3 and (has_en & ~has_cn).any() and (has_cn & ~has_en).any()
    assert titles.str.contains("跑步鞋 ").any() or titles.str.contains("running shoes").any()


def test_rebuilding_through_from_frames_gives_the_same_dataset():
    ds = synthetic(500, 300, seed=2)
    again = hr.Dataset.from_frames(ds.interactions, ds.social, items=ds.items, blocks=ds.blocks)
    assert again.equals(ds)


def test_parquet_round_trip_keeps_truth(tmp_path):
    ds = synthetic(300, 150, seed=1)
    back = hr.Dataset.read_parquet(ds.to_parquet(tmp_path / "w"))
    assert back.equals(ds)
    for k in TRUTH_KEYS:
        assert np.array_equal(back.truth[k], ds.truth[k])
    assert back.meta["world"] == ds.meta["world"]


def test_degrees_are_heavy_tailed(world):
    deg = np.diff(world.social_matrix().indptr)
    assert deg.max() >= 8 * np.median(deg)
    assert 6 <= deg.mean() <= 13


def test_friendships_are_mostly_mutual_and_homophilous(world):
    s = world._social
    keys = set(zip(s["user"].tolist(), s["friend"].tolist()))
    mutual = np.mean([(f, u) in keys for u, f in keys])
    assert 0.8 < mutual < 0.99
    c = world.truth["user_community"]
    within = (c[s["user"].to_numpy()] == c[s["friend"].to_numpy()]).mean()
    random_expectation = ((np.bincount(c) / len(c)) ** 2).sum()
    assert within > 0.7 and within > 4 * random_expectation


def test_merchants_are_long_tailed(world):
    size = np.sort(world.truth["merchant_size"])[::-1]
    assert size[0] >= 10 * np.median(size)
    # the top 10% of merchants sell far more than 10% of the items
    top = size[: max(1, len(size) // 10)].sum() / size.sum()
    assert top > 0.3


def test_purchases_heavy_tailed_per_user(world):
    n_p = np.bincount(world._inter.loc[world.kind_mask("purchase"), "user"], minlength=world.n_users)
    assert n_p.min() >= 1
    assert n_p.max() >= 5 * np.median(n_p)
    act = world.truth["user_activity"]
    assert np.corrcoef(act, n_p)[0, 1] > 0.5


def test_every_recommend_after_purchase_follows_a_purchase(world):
    f = world.interactions
    p = f[f["kind"] == "purchase"].groupby(["user", "item"])["timestamp"].min()
    r = f[f["kind"] == "recommend_after_purchase"]
    assert len(r) > 0.1 * len(p)
    first_buy = p.reindex(pd.MultiIndex.from_frame(r[["user", "item"]])).to_numpy()
    assert not np.isnan(first_buy).any()
    assert (r["timestamp"].to_numpy() > first_buy).all()
    # and carries the order id of a purchase of that pair
    orders = f[f["kind"] == "purchase"].set_index("order_id")
    assert (orders.loc[r["order_id"], "item"].to_numpy() == r["item"].to_numpy()).all()
    # plain recommendations never duplicate a pair per kind
    for kind in ("recommend", "recommend_after_purchase"):
        g = f[f["kind"] == kind]
        assert not g.duplicated(["user", "item"]).any()


def test_orders_sources_amounts_visibility(world):
    o = world.orders
    assert o["order_id"].is_unique
    assert set(o["source"]) <= {"weidian", "youzan", "taobao", "shopify"}
    assert len(set(o["source"])) >= 3
    price = world.items.set_index("item")["price"]
    assert np.allclose(o["amount"].to_numpy(), price.loc[o["item"]].to_numpy())
    f = world.interactions
    endo = f[f["kind"].isin(["recommend", "recommend_after_purchase"])]
    share = endo["visibility"].value_counts(normalize=True)
    assert share["friends"] > 0.6 and 0.05 < share["public"] < 0.3 and 0 < share["private"] < 0.15
    ts = f["timestamp"]
    assert ts.min() >= world.meta["start"] and ts.max() < world.meta["end"]
    assert 0 < len(world.blocks) < world.n_users


def test_social_influence_share_and_friend_copies():
    no = synthetic(1500, 600, seed=4, social_influence=0.0)
    yes = synthetic(1500, 600, seed=4, social_influence=0.6)
    assert no.meta["realised"]["social_share"] == 0.0
    assert yes.meta["realised"]["social_share"] > 0.3

    def friend_endorsed_share(ds):
        # share of purchases whose item a followed friend had endorsed before
        f = ds._inter
        endo = f[ds.kind_mask(["recommend", "recommend_after_purchase"])]
        first_endo = endo.groupby(["user", "item"])["timestamp"].min()
        s = ds._social.merge(first_endo.rename("t").reset_index(), left_on="friend", right_on="user",
                             suffixes=("", "_e"))
        p = f[ds.kind_mask("purchase")].merge(s, on=["user", "item"])
        hit = p[p["t"] < p["timestamp"]][["user", "item", "timestamp"]].drop_duplicates()
        return len(hit) / int(ds.kind_mask("purchase").sum())

    assert friend_endorsed_share(yes) > friend_endorsed_share(no) + 0.2


def test_purchases_follow_true_utility(world):
    u = np.arange(200)
    util = true_utility(world, u)
    assert util.shape == (200, world.n_items) and util.dtype == np.float32
    m = world.matrix("purchase", weight="binary")[:200].toarray() > 0
    assert util[m].mean() > util.mean() + 0.5
    with pytest.raises(ValueError, match="truth"):
        true_utility(hr.testing.small_world(), [0])


def test_satisfied_buyers_recommend_more(world):
    f = world._inter
    buys = f[world.kind_mask("purchase")][["user", "item"]].drop_duplicates()
    raps = f[world.kind_mask("recommend_after_purchase")][["user", "item"]].assign(rec=True)
    b = buys.merge(raps, on=["user", "item"], how="left")
    b["rec"] = b["rec"].fillna(False).astype(bool)
    t = world.truth
    util = (t["user_taste"][b["user"]] * t["item_taste"][b["item"]]).sum(1) + t["item_quality"][b["item"]]
    assert util[b["rec"].to_numpy()].mean() > util[~b["rec"].to_numpy()].mean() + 0.2


def test_friends_share_tastes(world):
    s = world._social
    ut = world.truth["user_taste"]
    friends = (ut[s["user"]] * ut[s["friend"]]).sum(1).mean()
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, world.n_users, (2, 20_000))
    assert friends > (ut[a] * ut[b]).sum(1).mean() + 0.3


def test_config_round_trips_through_json():
    cfg = SyntheticWorld(n_users=50, n_items=30, homophily=0.5, visibility_mix=(0.2, 0.7, 0.1))
    back = SyntheticWorld.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert back == cfg
    assert cfg.build(seed=1).equals(synthetic(50, 30, seed=1, homophily=0.5,
                                              visibility_mix=(0.2, 0.7, 0.1)))


def test_progress_callback_sees_every_stage():
    seen = []
    synthetic(60, 40, seed=0, callback=lambda stage, k, n: seen.append((stage, k, n)))
    assert [k for _, k, _ in seen] == list(range(1, len(seen) + 1)) and seen[-1][1] == seen[-1][2]


def test_tiny_worlds_work():
    ds = synthetic(2, 1, seed=0)
    assert ds.n_users == 2 and ds.n_items == 1
    ds = synthetic(30, 5, seed=0, n_candidates=2, community_pool=1, influence_rounds=3)
    assert ds.n_interactions > 0


def test_unknown_knob_is_a_type_error_naming_it():
    with pytest.raises(TypeError, match="homophilly"):
        synthetic(100, 50, homophilly=0.5)
    with pytest.raises(TypeError, match="nope"):
        SyntheticWorld.from_dict({"nope": 1})


@pytest.mark.parametrize(
    ("knobs", "name"),
    [
        ({"n_users": -5}, "n_users"),
        ({"n_items": 0}, "n_items"),
        ({"n_merchants": -1}, "n_merchants"),
        ({"n_communities": 0}, "n_communities"),
        ({"mean_degree": -1.0}, "mean_degree"),
        ({"homophily": 1.5}, "homophily"),
        ({"degree_exponent": 1.5}, "degree_exponent"),
        ({"social_influence": -0.1}, "social_influence"),
        ({"time_span_days": 0}, "time_span_days"),
        ({"visibility_mix": (0.5, 0.6, 0.1)}, "visibility_mix"),
        ({"platform_mix": (1.0,)}, "platform_mix"),
        ({"n_merchants": 10_000}, "n_merchants"),
        ({"purchases_per_user": 0.5}, "purchases_per_user"),
        ({"price_median": float("nan")}, "price_median"),
    ],
)
def test_bad_knobs_are_value_errors(knobs, name):
    kw = {"n_users": 100, "n_items": 50, **knobs}
    with pytest.raises(ValueError, match=re.escape(f"'{name}'")):
        synthetic(**kw)


def test_wrong_knob_types_are_type_errors():
    with pytest.raises(TypeError, match="taste_dim"):
        synthetic(100, 50, taste_dim=2.5)
    with pytest.raises(TypeError, match="seed"):
        synthetic(100, 50, seed="x")
