"""hr.sim.world_from_dataset: a simulation world from a real Dataset (graph, catalogue, history)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import haowurank as hr
from haowurank.sim._world import REQUIRED_TRUTH


@pytest.fixture(scope="module")
def plain() -> hr.Dataset:
    """A small synthetic Dataset stripped of its ground truth (as a loaded data set would be)."""
    return hr.datasets.synthetic(n_users=240, n_items=90, seed=4).replace(truth={})


@pytest.fixture(scope="module")
def world(plain) -> hr.Dataset:
    return hr.sim.world_from_dataset(plain, factors=6, seed=2)


def test_world_carries_the_truth_the_simulation_needs(plain, world):
    assert set(REQUIRED_TRUTH) <= set(world.truth)
    t = world.truth
    assert t["user_taste"].shape == (world.n_users, 6)
    assert t["item_taste"].shape == (world.n_items, 6)
    for key in ("item_quality", "item_price", "item_merchant"):
        assert len(t[key]) == world.n_items, key
    for key in ("user_activity", "user_price_sensitivity", "user_community"):
        assert len(t[key]) == world.n_users, key
    # the data's users, graph and history are kept (every user of the plain world interacted)
    assert list(world.user_ids) == list(plain.user_ids)
    assert world.n_social == plain.n_social
    soc = world.social[["user", "friend"]].sort_values(["user", "friend"]).reset_index(drop=True)
    ref = plain.social[["user", "friend"]].sort_values(["user", "friend"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(soc, ref)
    assert world.n_interactions == plain.n_interactions
    assert world.has_timestamps
    # merchants: every item has one, sizes add up, item metadata names them
    m = t["item_merchant"]
    assert m.min() >= 0 and np.bincount(m).sum() == world.n_items
    assert t["merchant_size"].sum() == world.n_items
    assert (t["merchant_size"] >= 1).all()
    assert world.items["merchant"].notna().all()
    assert world.items["price"].gt(0).all()
    np.testing.assert_allclose(world.items["price"].to_numpy(), t["item_price"])
    # tastes are scaled so the affinity has sd taste_strength over random pairs
    g = np.random.default_rng(0)
    u = g.integers(0, world.n_users, 20_000)
    i = g.integers(0, world.n_items, 20_000)
    dots = np.einsum("ij,ij->i", t["user_taste"][u].astype(np.float64), t["item_taste"][i])
    assert dots.std() == pytest.approx(1.0, rel=0.1)
    assert np.isclose(t["user_activity"].mean(), 1.0)


def test_same_inputs_give_the_same_world(plain, world):
    again = hr.sim.world_from_dataset(plain, factors=6, seed=2)
    assert again.equals(world)
    for key in REQUIRED_TRUTH:
        np.testing.assert_array_equal(np.asarray(again.truth[key]), np.asarray(world.truth[key]))
    other = hr.sim.world_from_dataset(plain, factors=6, seed=3)
    assert not np.array_equal(other.truth["user_price_sensitivity"],
                              world.truth["user_price_sensitivity"])


def test_data_prices_are_kept_and_missing_ones_made_up(plain, world, bare):
    np.testing.assert_allclose(world.items["price"].to_numpy(), plain.items["price"].to_numpy())
    made = hr.sim.world_from_dataset(bare, factors=4, price_median=40.0, seed=0)
    price = made.items["price"].to_numpy()
    assert (price > 0).all() and np.allclose((price * 100).round() % 100, 99)
    assert 20 < np.median(price) < 80


@pytest.fixture(scope="module")
def bare(plain) -> hr.Dataset:
    """The plain world without merchants and prices in its item metadata."""
    items = plain.items.assign(merchant=None, price=np.nan)
    return hr.Dataset.from_frames(plain.interactions, plain.social, items)


def test_data_merchants_are_kept(plain, world):
    assert (world.items["merchant"].to_numpy() == plain.items["merchant"].to_numpy()).all()


def test_assigned_merchants_are_blocks_of_categories(bare):
    """Items sorted by (category, id) are cut into consecutive merchant blocks of Zipf sizes."""
    w = hr.sim.world_from_dataset(bare, factors=4, items_per_merchant=6, seed=0)
    items = w.items.sort_values(["category", "item"], kind="stable")
    m = items["merchant"].to_numpy()
    n_m = len(w.truth["merchant_size"])
    assert n_m == 15
    assert (m[1:] != m[:-1]).sum() == n_m - 1  # each merchant is one run
    sizes = w.truth["merchant_size"]
    assert sizes.max() > 2 * np.median(sizes)
    assert sizes.sum() == w.n_items


def test_equal_merchants_with_exponent_zero(bare):
    w = hr.sim.world_from_dataset(bare, factors=4, items_per_merchant=10,
                                  merchant_size_exponent=0.0, seed=0)
    sizes = w.truth["merchant_size"]
    assert len(sizes) == 9 and sizes.min() == sizes.max() == 10


def test_snowball_sample_keeps_friends_together(plain):
    users = hr.sim.snowball_users(plain, 60, seed=1)
    assert len(users) == 60 and np.all(np.diff(users) > 0)
    w = hr.sim.world_from_dataset(plain, n_users=60, max_items=40, factors=4, seed=1)
    assert w.n_users <= 60 and w.n_items <= 40
    # a random sample of 60 of 240 users keeps few ties; a snowball keeps most users connected
    s = w.social_matrix(weighted=False)
    connected = np.asarray((s + s.T).sum(axis=1)).ravel() > 0
    assert connected.mean() > 0.8
    kept = set(w.social.itertuples(index=False, name=None))
    real = set(plain.social[["user", "friend"]].itertuples(index=False, name=None))
    assert {(a, b) for a, b, *_ in kept} <= real


@pytest.mark.parametrize("strategy", ["trust", "popularity"])
def test_simulation_runs_on_a_world_from_data(world, strategy):
    cfg = hr.sim.SimulationConfig(days=3, strategy=strategy, seed=0)
    res = hr.sim.run(cfg, dataset=world)
    assert len(res.daily) == 3
    assert res.world["users"] == world.n_users and res.world["items"] == world.n_items
    assert res.summary()["orders"] > 0
    assert res.check_quotas().empty
    assert hr.sim.check_quotas(res.events).empty


def test_visibility_can_be_set(plain):
    w = hr.sim.world_from_dataset(plain, factors=4, visibility="public", seed=0)
    endorsed = w.interactions["kind"].isin(hr.ENDORSEMENT_KINDS)
    assert endorsed.any() and (w.interactions.loc[endorsed, "visibility"] == "public").all()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"factors": 0}, "'factors' parameter of world_from_dataset must be an int >= 1"),
        ({"n_users": 1}, "'n_users' parameter of world_from_dataset must be None or an int >= 2"),
        ({"taste_strength": 0.0}, "'taste_strength' .* must be a finite float > 0"),
        ({"price_median": float("nan")}, "'price_median' .* finite float > 0. Got nan"),
        ({"visibility": "everyone"}, "'visibility' .* Got 'everyone'"),
    ],
)
def test_bad_parameters_name_the_parameter(plain, kwargs, match):
    with pytest.raises(ValueError, match=match):
        hr.sim.world_from_dataset(plain, **kwargs)


def test_not_a_dataset():
    with pytest.raises(TypeError, match="'ds' argument of world_from_dataset must be"):
        hr.sim.world_from_dataset(pd.DataFrame({"user": [1], "item": [2]}))


@pytest.mark.data
def test_world_from_epinions_runs_under_trust_and_popularity():
    from conftest import data_dir

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = hr.datasets.load_epinions(data_dir("epinions"))
    w = hr.sim.world_from_dataset(ds, n_users=400, max_items=1500, factors=8, seed=0)
    assert w.n_users == 400 and w.n_items <= 1500
    # the real trust rows between kept users, and nothing else
    kept = set(w.user_ids.tolist())
    soc = ds.social
    real = soc[soc["user"].isin(kept) & soc["friend"].isin(kept)]
    assert w.n_social == len(real) > 0
    # Epinions has ratings: quality follows the mean rating
    inter = w.interactions
    mean_rating = inter.groupby("item")["weight"].mean().reindex(w.item_ids)
    q = pd.Series(w.truth["item_quality"], index=w.item_ids)
    assert np.corrcoef(mean_rating.to_numpy(), q.to_numpy())[0, 1] > 0.5
    for strategy in ("trust", "popularity"):
        res = hr.sim.run(hr.sim.SimulationConfig(days=3, strategy=strategy, seed=0), dataset=w)
        assert res.summary()["orders"] > 0
        assert res.check_quotas().empty, strategy


@pytest.mark.data
def test_world_from_ciao_keeps_the_order_of_times():
    """Ciao has timestamps: the history is moved into ``history_days`` days before the start,
    keeping the order of every user's rows."""
    from conftest import data_dir

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = hr.datasets.load_ciao(data_dir("ciao"))
    w = hr.sim.world_from_dataset(ds, n_users=300, factors=4, history_days=100, seed=1)
    a = w.interactions
    span = a["timestamp"].max() - a["timestamp"].min()
    assert span <= 100 * 86_400
    src = ds.interactions
    src = src[src["user"].isin(set(w.user_ids.tolist()))]
    both = src.merge(a, on=["user", "item", "kind"], suffixes=("_src", "_w"))
    assert len(both) == len(a)
    rank_src = both["timestamp_src"].rank(method="min")
    rank_w = both["timestamp_w"].rank(method="min")
    assert (np.sign(np.diff(rank_src.to_numpy())) == np.sign(np.diff(rank_w.to_numpy()))).all()
