"""Indices of a growing log extended day by day equal those built from scratch: the visibility
graph (``EndorsementGraph.appended``), the feed's index (``FeedIndex.appended``) and search's
text part (``SearchIndex(text_from=...)``), as the simulation uses them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

import haowurank as hr
from haowurank.visibility import EndorsementGraph

TABLE_FIELDS = ("indptr", "item", "kind", "ts", "weight")


@pytest.fixture(scope="module")
def parts():
    """A world split at random into an old part and new rows appended to it; the new rows
    also repeat old endorsements with the other kind, later (the merge's hard case)."""
    ds = hr.datasets.synthetic(n_users=400, n_items=150, seed=5, **hr.sim.SIM_WORLD)
    rng = np.random.default_rng(0)
    old_mask = rng.random(ds.n_interactions) < 0.7
    old = ds.select_interactions(old_mask)
    rows = ds.interactions[~old_mask]
    inter = old.interactions
    rec = inter[inter["kind"] == "recommend"].head(40)
    again = rec.assign(kind="recommend_after_purchase", timestamp=rec["timestamp"] + 86_400,
                       visibility="public")
    again = again[~again.set_index(["user", "item"]).index.isin(
        inter[inter["kind"] == "recommend_after_purchase"].set_index(["user", "item"]).index)]
    rows = pd.concat([rows[~rows.set_index(["user", "item", "kind"]).index.isin(
        again.set_index(["user", "item", "kind"]).index)], again], ignore_index=True)
    full = old.add_interactions(rows, duplicates="raise")
    assert len(again) > 0
    return old, full


def test_graph_appended_equals_graph_built_on_all_rows(parts):
    old, full = parts
    n0 = old.n_interactions
    f = full.indexed_interactions
    new = {c: f[c].to_numpy()[n0:] for c in ("user", "item", "kind", "timestamp", "visibility")}
    got = EndorsementGraph(old).appended(new)
    want = EndorsementGraph(full)
    assert got.fingerprint == want.fingerprint
    for name in ("public", "friends"):
        for field in TABLE_FIELDS:
            np.testing.assert_array_equal(getattr(getattr(got, name), field),
                                          getattr(getattr(want, name), field))
    viewers = np.arange(full.n_users)
    a, b = got.triples(viewers), want.triples(viewers)
    for c in a:
        np.testing.assert_array_equal(a[c], b[c])
    # a graph read from arrays keeps no audience keys: appended refuses
    with pytest.raises(ValueError, match="from_arrays"):
        EndorsementGraph.from_arrays(want.to_arrays()).appended(new)


def test_feed_index_appended_equals_a_fresh_index(parts):
    old, full = parts
    ranker = hr.rankers.make("popularity").fit(full)
    users = full.user_ids[:120]
    now = int(full.interactions["timestamp"].max())
    got = hr.feed.FeedIndex(old).appended(full)
    want = hr.feed.FeedIndex(full)
    assert got.fingerprint == want.fingerprint and got.default_now == want.default_now
    assert got.ds is full
    pdt.assert_frame_equal(got.build(ranker, users, n=10, now=now),
                           want.build(ranker, users, n=10, now=now))
    # rows removed (not an append): the index is built again, still equal to a fresh one
    fewer = full.select_interactions(np.arange(full.n_interactions) % 3 != 0)
    again = got.appended(fewer)
    assert again.fingerprint == hr.feed.FeedIndex(fewer).fingerprint
    with pytest.raises(TypeError, match="Dataset"):
        got.appended("not a dataset")


def test_search_text_from_another_index_gives_the_same_hits(parts):
    old, full = parts
    first = hr.search.SearchIndex(old)
    got = hr.search.SearchIndex(full, text_from=first)
    want = hr.search.SearchIndex(full)
    assert got.bm25_ is first.bm25_
    np.testing.assert_array_equal(got.n_recommenders_, want.n_recommenders_)
    np.testing.assert_array_equal(got.n_bought_, want.n_bought_)
    queries = [str(c) for c in full.items["category"].dropna().unique()[:5]]
    users = full.user_ids[: len(queries)]
    pdt.assert_frame_equal(got.query_many(queries, users, n=10),
                           want.query_many(queries, users, n=10))
    with pytest.raises(ValueError, match="k1"):
        hr.search.SearchIndex(full, k1=2.0, text_from=first)
    with pytest.raises(TypeError, match="text_from"):
        hr.search.SearchIndex(full, text_from=object())


def test_engine_appends_its_rows_as_add_interactions_would():
    """The simulation appends the day's rows to the product's state without validating them
    again; the Dataset equals ``add_interactions`` of the same rows (order, dtypes, values)."""
    from haowurank.sim._engine import _append_rows, _PlatformLog

    ds = hr.datasets.synthetic(n_users=300, n_items=100, seed=2)
    rng = np.random.default_rng(1)
    log = _PlatformLog()
    t = int(ds.interactions["timestamp"].max()) + 1
    log.add(rng.integers(0, 300, 40), rng.integers(0, 100, 40), "purchase", t,
            order_id=np.arange(1000, 1040), source=np.array(["taobao"] * 40, dtype=object),
            amount=rng.random(40) * 50)
    users = rng.choice(300, 30, replace=False)
    log.add(users, rng.integers(0, 100, 30), "recommend", t + 5,
            visibility=rng.integers(0, 2, 30))
    log.add(users[:10], rng.integers(0, 100, 10), "click", t)
    cols = log.take()
    assert log.take() is None
    got = _append_rows(ds, cols)
    want = ds.add_interactions(_PlatformLog.frame(cols, ds.user_ids, ds.item_ids),
                               duplicates="raise")
    pdt.assert_frame_equal(got.indexed_interactions, want.indexed_interactions)
    pdt.assert_frame_equal(got.interactions, want.interactions)


def test_search_index_appended_equals_a_fresh_index(parts):
    old, full = parts
    first = hr.search.SearchIndex(old)
    want = hr.search.SearchIndex(full)
    queries = [str(c) for c in full.items["category"].dropna().unique()[:5]]
    users = full.user_ids[: len(queries)]
    expected = want.query_many(queries, users, n=10)
    assert (expected["n_friend_recommenders"] > 0).any()
    for graph in (None, EndorsementGraph(full)):
        got = first.appended(full, graph=graph)
        assert got.ds is full and got.bm25_ is first.bm25_
        np.testing.assert_array_equal(got.n_recommenders_, want.n_recommenders_)
        np.testing.assert_array_equal(got.n_bought_, want.n_bought_)
        assert not np.array_equal(got.n_bought_, first.n_bought_)  # the new rows count
        pdt.assert_frame_equal(got.query_many(queries, users, n=10), expected)
    # rows removed (not an append): built again, equal to a fresh index
    fewer = full.select_interactions(np.arange(full.n_interactions) % 3 != 0)
    again = first.appended(full).appended(fewer)
    np.testing.assert_array_equal(again.n_bought_, hr.search.SearchIndex(fewer).n_bought_)
    # an index with mutes is built again with them
    mutes = pd.DataFrame({"user": users[:1], "muted": full.user_ids[-1:]})
    muted = hr.search.SearchIndex(old, mutes=mutes).appended(full)
    pdt.assert_frame_equal(muted.query_many(queries, users, n=10),
                           hr.search.SearchIndex(full, mutes=mutes).query_many(queries, users, n=10))
    with pytest.raises(TypeError, match="Dataset"):
        first.appended("not a dataset")
    with pytest.raises(ValueError, match="graph"):
        first.appended(full, graph=EndorsementGraph(hr.datasets.synthetic(n_users=50, n_items=20)))
