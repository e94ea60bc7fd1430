"""Endorsement-weighted search: CJK and English tokenisation, the blend, unsearchable items,
friend boosts that only the searcher gets and only from endorsements they may see."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import haowurank as hr
from haowurank.search import SearchIndex, analyze

ITEMS = pd.DataFrame(
    {
        "item": ["run1", "run2", "tea1", "tea2", "dress", "hidden", "honey", "mixed"],
        "title": [
            "Nike running shoes", "Trail Running Shoe", "西湖龙井绿茶", "有机绿茶 organic green tea",
            "新款连衣裙", "running shoes secret stock", "野生蜂蜜 wild honey",
            "轻便跑步鞋 light running shoes",
        ],
        "category": ["shoes", "shoes", "green_tea", "green_tea", "dress", "shoes", "honey",
                     "shoes"],
        "merchant": ["m1", "m2", "m3", "m3", "m4", "m1", "m5", "m2"],
        "searchable": [True, True, True, True, True, False, True, True],
    }
)


def _world(rec_rows=(), social=(), blocks=()):
    rows = [("buyer", it, "purchase", "friends") for it in ITEMS["item"]]
    rows += list(rec_rows)
    inter = pd.DataFrame(rows, columns=["user", "item", "kind", "visibility"])
    soc = pd.DataFrame(list(social) or [("x", "y")], columns=["user", "friend"])
    blk = pd.DataFrame(list(blocks), columns=["user", "blocked"]) if blocks else None
    return hr.Dataset.from_frames(inter, soc, items=ITEMS, blocks=blk)


def test_analyzer_mixes_cjk_bigrams_and_words():
    toks = analyze("轻便跑步鞋 Light RUNNING Shoes，ｗｉｆｉ")
    assert {"跑步", "步鞋", "跑", "鞋", "light", "running", "shoe", "wifi"} <= set(toks)
    assert analyze("") == [] and analyze("!!!") == []


def test_chinese_query_finds_chinese_titles():
    idx = SearchIndex(_world(), rec_weight=0, friend_weight=0)
    hits = idx.query("绿茶", n=5)
    assert set(hits["item"]) == {"tea1", "tea2"}
    hits = idx.query("跑步鞋", n=3)
    assert hits["item"].iloc[0] == "mixed"
    assert idx.query("龙井", n=5)["item"].tolist() == ["tea1"]


def test_english_query_finds_english_titles():
    idx = SearchIndex(_world(), rec_weight=0, friend_weight=0)
    hits = idx.query("running shoes", n=10)
    assert set(hits["item"]) == {"run1", "run2", "mixed"}  # "hidden" is unsearchable
    assert idx.query("Green Tea", n=5)["item"].iloc[0] == "tea2"
    assert idx.query("honey", n=5)["item"].tolist() == ["honey"]
    # category text is searchable too
    assert set(idx.query("dress", n=5)["item"]) == {"dress"}
    assert len(idx.query("nothing matches this", n=5)) == 0


def test_unsearchable_never_returned():
    recs = [(f"f{k}", "hidden", "recommend", "public") for k in range(20)]
    ds = _world(recs)
    idx = SearchIndex(ds, rec_weight=5.0, min_text_score=0.0)
    for q in ("running shoes", "secret stock", "shoes", "secret"):
        assert "hidden" not in set(idx.query(q, n=20)["item"])
    assert idx.text_scores("secret")[ds.item_index("hidden")[0]] == 0


def test_recommendation_counts_change_the_order():
    base = SearchIndex(_world(), friend_weight=0)
    first = base.query("running shoes", n=3)["item"].tolist()
    assert first[0] == "run1"  # best text match without recommendations
    recs = [(f"f{k}", "run2", "recommend", "public") for k in range(6)]
    recs += [("f0", "run1", "recommend", "private")]  # private: not counted
    idx = SearchIndex(_world(recs), friend_weight=0, rec_weight=1.0)
    hits = idx.query("running shoes", n=3)
    assert hits["item"].iloc[0] == "run2"
    row = hits.set_index("item").loc["run2"]
    assert row["n_recommenders"] == 6
    assert row["explanation"].startswith("6 people recommended, 1 bought")
    assert hits.set_index("item").loc["run1", "n_recommenders"] == 0
    assert hits["score"].is_monotonic_decreasing and hits["rank"].tolist() == [1, 2, 3]
    # rec_weight 0 gives the text order back
    assert SearchIndex(_world(recs), rec_weight=0, friend_weight=0).query(
        "running shoes", n=3
    )["item"].tolist() == first


def test_explanation_says_bought_only_for_purchases():
    """A data set whose purchase rows are listens or ratings says so ("listened", "rated"), as
    its loader records in ``meta["purchase_verb"]``; without it, purchases are "bought"."""
    recs = [(f"f{k}", "run2", "recommend", "public") for k in range(2)]
    ds = _world(recs)
    listened = hr.Dataset.from_frames(ds.interactions, ds.social, ds.items,
                                      meta={"purchase_verb": "listened"})
    text = SearchIndex(listened, friend_weight=0).query("running shoes", n=3)["explanation"]
    assert all(", 1 listened" in t or ", 0 listened" in t for t in text)
    assert not any("bought" in t for t in text)
    assert "bought" in SearchIndex(ds, friend_weight=0).query("running shoes", n=1)[
        "explanation"].iloc[0]


def test_friend_endorsements_boost_only_that_user():
    recs = [("amy", "run2", "recommend", "friends"), ("bob", "run2", "recommend", "public"),
            ("cat", "run2", "recommend", "private"), ("dan", "run2", "recommend", "public")]
    social = [("me", "amy"), ("amy", "me"), ("me", "bob"), ("me", "cat"), ("cat", "me"),
              ("me", "dan"), ("other", "zed")]
    ds = _world(recs, social, blocks=[("me", "dan")])
    idx = SearchIndex(ds, rec_weight=0, friend_weight=1.0)
    mine = idx.query("running shoes", user="me", n=3)
    theirs = idx.query("running shoes", user="other", n=3)
    anon = idx.query("running shoes", n=3)
    assert mine["item"].iloc[0] == "run2"
    assert theirs["item"].tolist() == anon["item"].tolist()
    assert theirs["n_friend_recommenders"].sum() == 0
    row = mine.set_index("item").loc["run2"]
    # amy (friends, mutual) and bob (public) are visible; cat is private; dan is blocked
    assert row["n_friend_recommenders"] == 2
    assert "amy" in row["explanation"] and "bob" in row["explanation"]
    assert "cat" not in row["explanation"] and "dan" not in row["explanation"]
    assert row["n_recommenders"] == 3  # amy, bob, dan (private cat is not counted)
    # a mute hides like a block
    muted = SearchIndex(ds, rec_weight=0, friend_weight=1.0,
                        mutes=pd.DataFrame({"user": ["me"], "muted": ["bob"]}))
    row = muted.query("running shoes", user="me", n=3).set_index("item").loc["run2"]
    assert row["n_friend_recommenders"] == 1 and "bob" not in row["explanation"]


def test_min_text_score_filters_weak_matches():
    idx = SearchIndex(_world(), rec_weight=0, friend_weight=0, min_text_score=0.0)
    loose = set(idx.query("跑步鞋 running", n=20)["item"])
    strict = set(SearchIndex(_world(), min_text_score=0.9).query("跑步鞋 running", n=20)["item"])
    assert strict < loose and "mixed" in strict


def test_bad_arguments():
    idx = SearchIndex(_world())
    with pytest.raises(ValueError, match="'text' parameter"):
        idx.query("  ")
    with pytest.raises(ValueError, match="'n' parameter"):
        idx.query("tea", n=0)
    with pytest.raises(hr.UnknownIdError, match="nobody"):
        idx.query("tea", user="nobody")
    with pytest.raises(ValueError, match="'rec_weight' parameter"):
        SearchIndex(_world(), rec_weight=-1)
    with pytest.raises(ValueError, match="at least one"):
        SearchIndex(_world(), text_weight=0, rec_weight=0, friend_weight=0)
    with pytest.raises(TypeError, match="Dataset"):
        SearchIndex(pd.DataFrame())


def test_items_without_text_and_empty_index():
    inter = pd.DataFrame({"user": ["a"], "item": ["i"], "kind": ["purchase"]})
    idx = SearchIndex(hr.Dataset.from_frames(inter))
    assert len(idx.query("anything")) == 0


def test_synthetic_world_titles():
    ds = hr.datasets.synthetic(n_users=300, n_items=200, seed=3)
    idx = SearchIndex(ds)
    items = ds.items.set_index("item")
    for q in ("绿茶", "green tea"):
        hits = idx.query(q, n=5)
        assert len(hits) > 0
        for it in hits["item"]:
            title = str(items.loc[it, "title"]).lower() + " " + str(items.loc[it, "category"])
            assert any(tok in title for tok in ("绿茶", "green", "tea", "茶"))
            assert bool(items.loc[it, "searchable"])
    assert np.all(np.diff(idx.query("tea", n=20)["score"].to_numpy()) <= 1e-12)


def test_query_indices_are_query_many_as_indices():
    """The simulation's search path: the same rows as query_many, as indices, with and without
    searchers, friends' boosts included."""
    ds = hr.datasets.synthetic(n_users=600, n_items=300, seed=4)
    idx = SearchIndex(ds)
    g = np.random.default_rng(0)
    queries = [str(q) for q in g.choice(["tea", "绿茶", "running shoes", "phone case", "zzz"],
                                         200)]
    users = g.integers(0, ds.n_users, 200)
    for u in (users, None):
        want = idx.query_many(queries, None if u is None else ds.user_ids[u], n=7)
        got = idx.query_indices(queries, u, n=7)
        assert set(got) == {"query", "item", "rank", "score", "n_friend_recommenders"}
        np.testing.assert_array_equal(got["query"], want["query"].to_numpy())
        np.testing.assert_array_equal(ds.item_ids[got["item"]], want["item"].to_numpy())
        np.testing.assert_array_equal(got["rank"], want["rank"].to_numpy())
        np.testing.assert_array_equal(got["score"], want["score"].to_numpy())
        np.testing.assert_array_equal(got["n_friend_recommenders"],
                                      want["n_friend_recommenders"].to_numpy())
    assert (got["n_friend_recommenders"] == 0).all()  # no searcher: no friends' boost
    boosted = idx.query_indices(queries, users, n=7)["n_friend_recommenders"]
    assert boosted.max() > 0  # the case with searchers exercised the boost
    empty = idx.query_indices(["zzz"], None, n=3)
    assert all(len(v) == 0 for v in empty.values())
    with pytest.raises(ValueError, match="'users' parameter of SearchIndex.query_indices"):
        idx.query_indices(queries, ds.user_ids[users], n=7)  # ids, not indices
    with pytest.raises(IndexError, match=r"\[0, 600\)"):
        idx.query_indices(["tea"], [600], n=7)
    with pytest.raises(ValueError, match="1 user indices"):  # one searcher per text
        idx.query_indices(["tea"], [1, 2], n=7)
    with pytest.raises(ValueError, match="'n' parameter of SearchIndex.query_indices"):
        idx.query_indices(["tea"], None, n=0)
