"""Friends' feed: the visibility rule (known answers and Hypothesis properties against a plain
reference implementation), ranking, freshness, exclusions, diversity and cursor pagination."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import haowurank as hr
from haowurank.feed import CursorError, FeedIndex
from haowurank.testing import small_world

STRENGTH = {"recommend": 1, "recommend_after_purchase": 2}


# ----------------------------------------------------------------------------- reference rule
def reference_visible(ds: hr.Dataset, mutes: pd.DataFrame | None = None) -> dict:
    """viewer -> item -> {endorser: strongest visible kind}, straight from API.md, with sets."""
    inter = ds.interactions
    follows = set(zip(ds.social["user"], ds.social["friend"]))
    hidden = set(zip(ds.blocks["user"], ds.blocks["blocked"]))
    if mutes is not None:
        hidden |= set(zip(mutes["user"], mutes["muted"]))
    aud: dict = {}
    for e, i, v in zip(ds.audiences["user"], ds.audiences["item"], ds.audiences["viewer"]):
        aud.setdefault((e, i), set()).add(v)
    out: dict = {}
    endorse = inter[inter["kind"].isin(["recommend", "recommend_after_purchase"])]
    for v in ds.user_ids:
        for e, i, k, vis in zip(endorse["user"], endorse["item"], endorse["kind"],
                                endorse["visibility"]):
            if e == v or (v, e) in hidden or (v, e) not in follows:
                continue
            if vis == "private":
                continue
            if vis == "friends" and (e, v) not in follows:
                continue
            if (e, i) in aud and v not in aud[(e, i)]:
                continue
            cur = out.setdefault(v, {}).setdefault(i, {})
            if e not in cur or STRENGTH[k] > STRENGTH[cur[e]]:
                cur[e] = k
    return out


def excluded_items(ds: hr.Dataset) -> dict:
    """viewer -> items they bought or endorsed themselves (never in their feed)."""
    out: dict = {}
    inter = ds.interactions
    for u, i, k in zip(inter["user"], inter["item"], inter["kind"]):
        if k in ("purchase", "recommend", "recommend_after_purchase"):
            out.setdefault(u, set()).add(i)
    return out


# ----------------------------------------------------------------------------- random worlds
@st.composite
def worlds(draw):
    n_users = draw(st.integers(2, 7))
    n_items = draw(st.integers(1, 6))
    users = [f"u{k}" for k in range(n_users)]
    pairs = [(a, b) for a in users for b in users if a != b]
    social = draw(st.lists(st.sampled_from(pairs), max_size=len(pairs), unique=True))
    blocks = draw(st.lists(st.sampled_from(pairs), max_size=4, unique=True))
    mutes = draw(st.lists(st.sampled_from(pairs), max_size=3, unique=True))
    kinds = ["purchase", "recommend", "recommend_after_purchase", "view"]
    rows = draw(
        st.lists(
            st.tuples(
                st.sampled_from(users), st.integers(0, n_items - 1), st.sampled_from(kinds),
                st.sampled_from(["public", "friends", "private"]), st.integers(0, 40 * 86400),
            ),
            min_size=1, max_size=30, unique_by=lambda r: (r[0], r[1], r[2]),
        )
    )
    inter = pd.DataFrame(rows, columns=["user", "item", "kind", "visibility", "timestamp"])
    endorse = inter[inter["kind"].isin(["recommend", "recommend_after_purchase"])]
    aud_rows = []
    if len(endorse):
        for e, i in draw(st.lists(st.sampled_from(list(zip(endorse["user"], endorse["item"]))),
                                  max_size=3, unique=True)):
            for v in draw(st.lists(st.sampled_from(users), max_size=3, unique=True)):
                aud_rows.append((e, i, v))
    items = pd.DataFrame(
        {
            "item": range(n_items),
            "title": [f"thing {i}" for i in range(n_items)],
            "category": [draw(st.sampled_from(["tea", "shoes", None])) for _ in range(n_items)],
            "merchant": [draw(st.sampled_from(["m0", "m1", "m2"])) for _ in range(n_items)],
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", hr.DataWarning)
        ds = hr.Dataset.from_frames(
            inter,
            pd.DataFrame(social, columns=["user", "friend"]),
            items=items,
            blocks=pd.DataFrame(blocks, columns=["user", "blocked"]),
            audiences=pd.DataFrame(aud_rows, columns=["user", "item", "viewer"]),
        )
    mute_frame = pd.DataFrame(mutes, columns=["user", "muted"])
    return ds, mute_frame


feed_params = st.fixed_dictionaries(
    {
        "diversity": st.sampled_from([0.0, 0.3, 1.0]),
        "merchant_cap": st.sampled_from([None, 1, 2]),
        "category_cap": st.sampled_from([None, 1]),
        "window": st.integers(1, 4),
        "mmr_pool": st.integers(1, 5),
        "half_life_days": st.sampled_from([None, 3.0]),
        "endorsement_weight": st.sampled_from([0.0, 0.5, 1.0]),
    }
)

pytestmark = pytest.mark.filterwarnings("ignore::haowurank.DataWarning")

SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def _full_feed(ds, ranker, mutes, params, users=None):
    users = list(ds.user_ids) if users is None else users
    return hr.feed.build(ds, ranker, users, n=1000, mutes=mutes, **params)


@SETTINGS
@given(worlds(), feed_params, st.booleans())
def test_feed_cites_exactly_the_visible_friends(world, params, use_ranker):
    ds, mutes = world
    ranker = hr.rankers.make("popularity").fit(ds) if use_ranker else None
    feed = _full_feed(ds, ranker, mutes, params)
    ref = reference_visible(ds, mutes)
    follows = set(zip(ds.social["user"], ds.social["friend"]))
    hidden = set(zip(ds.blocks["user"], ds.blocks["blocked"])) | set(
        zip(mutes["user"], mutes["muted"])
    )
    private_only: dict = {}
    inter = ds.interactions
    for e, i, k, vis in zip(inter["user"], inter["item"], inter["kind"], inter["visibility"]):
        if k in ("recommend", "recommend_after_purchase"):
            private_only[(e, i)] = private_only.get((e, i), True) and vis == "private"
    excluded = excluded_items(ds)
    for v, i, ends, kinds in zip(feed["user"], feed["item"], feed["endorsers"], feed["kinds"]):
        visible = ref.get(v, {}).get(i, {})
        # every cited endorsement is one the viewer may see, and all of them are cited
        assert set(ends) == set(visible), (v, i, ends, visible)
        assert len(ends) == len(set(ends)) >= 1
        for e, k in zip(ends, kinds):
            assert (v, e) in follows, "cited a non-friend"
            assert (v, e) not in hidden, "cited a blocked or muted user"
            assert not private_only[(e, i)], "a private endorsement leaked"
            assert k == visible[e]
    # completeness: every item with a visible endorser is in the feed unless excluded
    groups = {v: g for v, g in feed.groupby("user", sort=False)}
    for v in ds.user_ids:
        g = groups.get(v)
        got = [] if g is None else g["item"].tolist()
        assert len(got) == len(set(got)), "an item appears twice"
        expect = set(ref.get(v, {})) - excluded.get(v, set())
        assert set(got) == expect
        ranks = [] if g is None else g["rank"].tolist()
        assert ranks == list(range(1, len(ranks) + 1))


@SETTINGS
@given(worlds(), feed_params, st.integers(1, 4))
def test_pagination_concatenates_to_the_full_feed(world, params, page):
    ds, mutes = world
    ranker = hr.rankers.make("popularity").fit(ds)
    index = FeedIndex(ds, mutes=mutes)
    cfg = hr.feed.FeedConfig(**params)
    for v in ds.user_ids:
        full = index.build(ranker, v, n=1000, config=cfg)
        pages, cursor = [], None
        for _ in range(1000):
            p = index.build(ranker, v, n=page, config=cfg, cursor=cursor)
            pages.append(p)
            cursor = p.attrs["next_cursor"]
            if cursor is None:
                break
        got = pd.concat(pages, ignore_index=True)
        assert got["item"].tolist() == full["item"].tolist()
        assert got["rank"].tolist() == full["rank"].tolist()
        assert not got["item"].duplicated().any()
        np.testing.assert_allclose(got["score"].to_numpy(), full["score"].to_numpy())


@settings(max_examples=20, deadline=None)
@given(worlds())
def test_visible_endorsements_matches_reference(world):
    ds, mutes = world
    got = hr.feed.visible_endorsements(ds, mutes=mutes)
    ref = reference_visible(ds, mutes)
    flat = {(v, i, e, k) for v, d in ref.items() for i, es in d.items() for e, k in es.items()}
    assert set(zip(got["viewer"], got["item"], got["endorser"], got["kind"])) == flat
    assert len(got) == len(flat)


# ----------------------------------------------------------------------------- known answers
def _tiny(extra_inter=(), audiences=None, **kw):
    """v follows a (mutual), b (one way), c (blocked), d (mutual; muted in some tests)."""
    inter = pd.DataFrame(
        [
            ("a", "x", "recommend", "public", 100),
            ("a", "y", "recommend_after_purchase", "friends", 100),
            ("a", "p", "recommend", "private", 100),
            ("b", "z", "recommend", "friends", 100),  # b does not follow v: invisible
            ("b", "w", "recommend", "public", 100),
            ("c", "x", "recommend", "public", 100),  # blocked: x must cite only a
            ("c", "q", "recommend", "public", 100),  # blocked is the only endorser: q is out
            ("d", "r", "recommend", "friends", 100),
            ("e", "s", "recommend", "public", 100),  # v does not follow e
            ("a", "lim", "recommend", "friends", 100),
            ("a", "lim2", "recommend", "friends", 100),
            *extra_inter,
        ],
        columns=["user", "item", "kind", "visibility", "timestamp"],
    )
    social = pd.DataFrame(
        [("v", "a"), ("a", "v"), ("v", "b"), ("v", "c"), ("c", "v"), ("v", "d"), ("d", "v"),
         ("e", "v")],
        columns=["user", "friend"],
    )
    aud = audiences if audiences is not None else pd.DataFrame(
        [("a", "lim", "v"), ("a", "lim2", "d")], columns=["user", "item", "viewer"]
    )
    return hr.Dataset.from_frames(
        inter, social, blocks=pd.DataFrame([("v", "c")], columns=["user", "blocked"]),
        audiences=aud, **kw,
    )


def test_known_answer_visibility():
    ds = _tiny()
    feed = hr.feed.build(ds, None, "v", n=50)
    got = {i: list(e) for i, e in zip(feed["item"], feed["endorsers"])}
    assert got == {"x": ["a"], "y": ["a"], "w": ["b"], "r": ["d"], "lim": ["a"]}
    # a mute hides d exactly like a block
    muted = hr.feed.build(ds, None, "v", n=50, mutes=pd.DataFrame({"user": ["v"], "muted": ["d"]}))
    assert "r" not in set(muted["item"])
    # nobody else sees v's world: e follows v but v endorsed nothing; a sees nothing from v
    assert len(hr.feed.build(ds, None, "e", n=50)) == 0


def test_explanation_and_kinds():
    inter = pd.DataFrame(
        [("f1", "i", "recommend_after_purchase"), ("f2", "i", "recommend_after_purchase"),
         ("f3", "i", "recommend"), ("f1", "j", "recommend")],
        columns=["user", "item", "kind"],
    )
    social = pd.DataFrame([("v", f) for f in ("f1", "f2", "f3")], columns=["user", "friend"])
    social = pd.concat([social, social.rename(columns={"user": "friend", "friend": "user"})])
    ds = hr.Dataset.from_frames(inter, social)
    feed = hr.feed.build(ds, None, "v", n=5)
    row = feed[feed["item"] == "i"].iloc[0]
    assert row["explanation"] == "3 friends recommended this; 2 after buying it"
    # strongest first, kinds aligned with endorsers
    assert list(row["endorsers"]) == ["f1", "f2", "f3"]
    assert list(row["kinds"]) == ["recommend_after_purchase"] * 2 + ["recommend"]
    assert feed.iloc[0]["item"] == "i"  # 3 endorsers beat 1
    assert hr.feed.explanation_text(1, 1) == "1 friend recommended this after buying it"
    assert hr.feed.explanation_text(1, 0) == "1 friend recommended this"


def _two_item_world(ts_x, ts_y, **kw):
    inter = pd.DataFrame(
        [("f", "x", "recommend", ts_x), ("f", "y", "recommend", ts_y), ("v", "old", "purchase", 0)],
        columns=["user", "item", "kind", "timestamp"],
    )
    social = pd.DataFrame([("v", "f"), ("f", "v")], columns=["user", "friend"])
    return hr.Dataset.from_frames(inter, social, **kw)


def test_freshness_decay_orders_and_scales():
    day = 86400
    ds = _two_item_world(100 * day, 86 * day)
    feed = hr.feed.build(ds, None, "v", n=5, half_life_days=14.0)
    assert feed["item"].tolist() == ["x", "y"]
    sx, sy = feed["score"].tolist()
    assert sy == pytest.approx(sx / 2, rel=1e-5)  # one half-life older
    flat = hr.feed.build(ds, None, "v", n=5, half_life_days=None)
    assert flat["score"].nunique() == 1
    assert sx == pytest.approx(1.0)  # the viewer's best entry scores 1
    # 'now' before the newest endorsement: ages clip at 0, so x and y tie again
    early = hr.feed.build(ds, None, "v", n=5, half_life_days=14.0, now=80 * day)
    assert early["score"].tolist() == [1.0, 1.0]
    # a very old world does not underflow into ties
    old = _two_item_world(100 * day, 99 * day)
    f = hr.feed.build(old, None, "v", n=5, half_life_days=1.0, now=100_000 * day)
    assert f["item"].tolist() == ["x", "y"] and f["score"].iloc[1] == pytest.approx(0.5)


def test_bought_items_excluded_unless_repurchasable():
    inter = pd.DataFrame(
        [("f", "tea1", "recommend"), ("f", "shoe1", "recommend"), ("v", "tea1", "purchase"),
         ("v", "shoe1", "purchase"), ("f", "own", "recommend"), ("v", "own", "recommend")],
        columns=["user", "item", "kind"],
    )
    items = pd.DataFrame({"item": ["tea1", "shoe1", "own"], "category": ["tea", "shoes", "x"]})
    social = pd.DataFrame([("v", "f"), ("f", "v")], columns=["user", "friend"])
    ds = hr.Dataset.from_frames(inter, social, items=items)
    assert len(hr.feed.build(ds, None, "v")) == 0
    assert hr.feed.build(ds, None, "v", repurchasable={"tea"})["item"].tolist() == ["tea1"]
    pred = hr.feed.build(ds, None, "v", repurchasable=lambda f: f["category"] == "shoes")
    assert pred["item"].tolist() == ["shoe1"]
    mask = np.array([i in ("tea1", "shoe1") for i in ds.item_ids])
    assert set(hr.feed.build(ds, None, "v", repurchasable=mask)["item"]) == {"tea1", "shoe1"}
    own = hr.feed.build(ds, None, "v", exclude_endorsed=False)
    assert own["item"].tolist() == ["own"]


def _merchant_world(n_items=12):
    """One friend endorses many items; merchant m0 holds the most-endorsed half."""
    rows = []
    for k in range(n_items):
        for f in range(n_items - k):  # item k has n_items - k endorsers
            rows.append((f"f{f}", f"i{k:02d}", "recommend"))
    inter = pd.DataFrame(rows, columns=["user", "item", "kind"])
    friends = sorted(set(inter["user"]))
    social = pd.DataFrame([("v", f) for f in friends] + [(f, "v") for f in friends],
                          columns=["user", "friend"])
    items = pd.DataFrame(
        {
            "item": [f"i{k:02d}" for k in range(n_items)],
            "merchant": ["m0" if k < n_items // 2 else f"m{k}" for k in range(n_items)],
            "category": ["c0" if k % 3 == 0 else f"c{k}" for k in range(n_items)],
        }
    )
    return hr.Dataset.from_frames(inter, social, items=items)


def test_merchant_cap_holds_in_every_window():
    ds = _merchant_world()
    plain = hr.feed.build(ds, None, "v", n=12, diversity=0, merchant_cap=None, category_cap=None)
    assert plain["score"].is_monotonic_decreasing
    assert plain["item"].tolist()[:3] == ["i00", "i01", "i02"]
    capped = hr.feed.build(
        ds, None, "v", n=12, diversity=0, merchant_cap=1, category_cap=None, window=3,
        mmr_pool=12,
    )
    merch = dict(zip(ds.items["item"], ds.items["merchant"]))
    seq = [merch[i] for i in capped["item"]]
    assert sorted(capped["item"]) == sorted(plain["item"])  # caps reorder, never drop
    for s in range(0, 6):  # while alternatives remain the cap holds
        window = seq[s : s + 3]
        assert window.count("m0") <= 1, seq


def test_category_cap_and_mmr_diversify_top():
    ds = _merchant_world()
    cat = dict(zip(ds.items["item"], ds.items["category"]))

    def distinct_top(**kw):
        f = hr.feed.build(ds, None, "v", n=4, **kw)
        return len({cat[i] for i in f["item"]}), f

    base, _ = distinct_top(diversity=0, merchant_cap=None, category_cap=None)
    mmr, f = distinct_top(diversity=0.9, merchant_cap=None, category_cap=None, mmr_pool=12)
    assert mmr > base or base == 4
    capped = hr.feed.build(ds, None, "v", n=12, diversity=0, merchant_cap=None, category_cap=1,
                           window=12, mmr_pool=12)
    cats = [cat[i] for i in capped["item"]]
    assert cats[:cats.index("c0") + 1].count("c0") == 1
    assert cats.count("c0") == 4  # soft: later c0 items still appear


def test_item_vectors_similarity():
    ds = _merchant_world()
    vec = np.zeros((ds.n_items, 2), dtype=np.float32)
    vec[:, 0] = 1
    vec[ds.item_index(["i05", "i06"]), :] = [0, 1]
    f = hr.feed.build(ds, None, "v", n=2, diversity=0.8, merchant_cap=None, category_cap=None,
                      item_vectors=vec, mmr_pool=12)
    assert f["item"].iloc[0] == "i00" and f["item"].iloc[1] in {"i05", "i06"}
    with pytest.raises(ValueError, match="item_vectors"):
        hr.feed.build(ds, None, "v", item_vectors=np.ones((3, 2)))


def test_ranker_scores_change_the_order():
    ds = _merchant_world()
    base = hr.feed.build(ds, None, "v", n=12, diversity=0, merchant_cap=None, category_cap=None,
                         endorsement_weight=1.0)

    class Reverse(hr.rankers.make("popularity").__class__):
        name = "reverse_for_test"

        def _score(self, uidx):
            s = np.arange(len(self.item_ids_), dtype=np.float32)
            return np.broadcast_to(s, (len(uidx), len(s))).copy()

    r = Reverse().fit(ds)
    by_ranker = hr.feed.build(ds, r, "v", n=12, diversity=0, merchant_cap=None,
                              category_cap=None, endorsement_weight=0.0)
    assert by_ranker["item"].tolist() == base["item"].tolist()[::-1]


def test_batch_equals_single_and_users_grouped():
    ds = small_world()
    r = hr.rankers.make("popularity").fit(ds)
    users = list(ds.user_ids[:12])
    batch = hr.feed.build(ds, r, users, n=6)
    assert batch["user"].drop_duplicates().tolist() == [u for u in users if u in set(batch["user"])]
    for u in users:
        one = hr.feed.build(ds, r, u, n=6)
        part = batch[batch["user"] == u].reset_index(drop=True)
        pd.testing.assert_frame_equal(one.reset_index(drop=True), part)
    # small batches give the same frame
    idx = hr.feed.index_for(ds)
    small = idx.build(r, users, n=6, batch_size=5)
    pd.testing.assert_frame_equal(small, batch)


def test_ranker_trained_on_other_vocabulary():
    ds = small_world()
    train, _ = hr.split.random_split(ds, test_fraction=0.3, seed=0)
    sub = train.k_core(2)  # a smaller vocabulary than ds
    r = hr.rankers.make("popularity").fit(sub)
    f = hr.feed.build(ds, r, list(ds.user_ids[:5]), n=5)
    assert len(f) > 0 and f["score"].between(0, 1).all()


def test_cf_ranker_pair_scores_equal_dense_scores():
    if "als" not in hr.rankers.available():
        pytest.skip("als ranker not available")
    ds = small_world()
    r = hr.rankers.make("als", factors=8, iterations=3, random_state=0).fit(ds)
    idx = hr.feed.index_for(ds)
    view = idx._view(r, None)
    assert r.has_factors and r.latent_factors() is not None  # declared, not probed
    users = np.repeat(np.arange(10), 4)
    items = np.tile(np.arange(4), 10)
    got = idx._pair_scores(r, view, users, items)
    dense = r.score(list(ds.user_ids[:10]))[:, :4].ravel()
    np.testing.assert_allclose(got, dense, rtol=1e-4, atol=1e-5)
    f = hr.feed.build(ds, r, list(ds.user_ids[:3]), n=5)
    assert len(f) > 0


def test_cursor_errors_and_stale_snapshot():
    ds = small_world()
    r = hr.rankers.make("popularity").fit(ds)
    page = hr.feed.build(ds, r, "u0", n=2)
    cur = page.attrs["next_cursor"]
    assert cur is not None and page.attrs["offset"] == 0
    with pytest.raises(CursorError, match="cursor"):
        hr.feed.build(ds, r, "u0", n=2, cursor="not-a-cursor")
    with pytest.raises(CursorError, match="cursor"):
        hr.feed.build(ds, r, "u0", n=2, cursor=cur[:-3] + ("A" if cur[-3] != "A" else "B") + cur[-2:])
    with pytest.raises(CursorError, match="changed"):
        hr.feed.build(ds, r, "u0", n=2, cursor=cur, diversity=0.9)
    r2 = hr.rankers.make("popularity", kind_weights={"purchase": 5.0}).fit(ds)
    with pytest.raises(CursorError, match="changed"):
        hr.feed.build(ds, r2, "u0", n=2, cursor=cur)
    with pytest.raises(ValueError, match="now"):
        hr.feed.build(ds, r, "u0", n=2, cursor=cur, now=123)
    nxt = hr.feed.build(ds, r, "u0", n=2, cursor=cur)
    assert nxt["rank"].tolist() == [3, 4] and nxt.attrs["offset"] == 2


def test_bad_arguments():
    ds = small_world()
    with pytest.raises(hr.UnknownIdError, match="no-such"):
        hr.feed.build(ds, None, "no-such")
    with pytest.raises(ValueError, match="'n' parameter"):
        hr.feed.build(ds, None, "u0", n=0)
    with pytest.raises(ValueError, match="'diversity' parameter"):
        hr.feed.build(ds, None, "u0", diversity=1.5)
    with pytest.raises(ValueError, match="'merchant_cap' parameter"):
        hr.feed.build(ds, None, "u0", merchant_cap=0)
    with pytest.raises(TypeError, match="ranker"):
        hr.feed.build(ds, object(), "u0")
    with pytest.raises(hr.NotFittedError):
        hr.feed.build(ds, hr.rankers.make("popularity"), "u0")
    with pytest.raises(ValueError, match="kind_weights"):
        hr.feed.FeedIndex(ds, kind_weights={"recommend": -1})


def test_empty_feed_has_the_columns():
    ds = _tiny()
    f = hr.feed.build(ds, None, ["e", "b"], n=5)
    assert list(f.columns) == ["user", "item", "score", "rank", "endorsers", "kinds",
                               "explanation"]
    assert len(f) == 0 and f.attrs["next_cursor"] is None


def test_config_round_trips_json():
    import json

    cfg = hr.feed.FeedConfig(diversity=0.2, repurchasable=("tea", "rice"))
    assert hr.feed.FeedConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 5), st.integers(1, 12), st.integers(1, 15), st.data(),
    st.sampled_from([0.0, 0.25, 0.5, 1.0]), st.sampled_from([None, 1, 2]),
    st.sampled_from([None, 1, 3]), st.integers(1, 5), st.integers(1, 6),
)
def test_lazy_and_vectorised_greedy_agree(b, w, depth, data, div, mcap, ccap, window, pool):
    from haowurank.feed import greedy_rerank

    rel = np.full((b, w), -np.inf, dtype=np.float32)
    cat = np.zeros((b, w), dtype=np.int64)
    mer = np.zeros((b, w), dtype=np.int64)
    for r in range(b):
        k = data.draw(st.integers(0, w))
        vals = data.draw(st.lists(st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0]), min_size=k,
                                  max_size=k))
        rel[r, :k] = sorted(vals, reverse=True)
        cat[r] = data.draw(st.lists(st.integers(0, 2), min_size=w, max_size=w))
        mer[r] = data.draw(st.lists(st.integers(0, 2), min_size=w, max_size=w))
    kw = dict(diversity=div, merchant_cap=mcap, category_cap=ccap, window=window, mmr_pool=pool)
    lazy = greedy_rerank(rel, cat, mer, depth, method="lazy", **kw)
    vec = greedy_rerank(rel, cat, mer, depth, method="vectorised", **kw)
    np.testing.assert_array_equal(lazy, vec)
    # prefix consistency: a deeper run starts with the shallower one
    deeper = greedy_rerank(rel, cat, mer, depth + 3, method="vectorised", **kw)
    np.testing.assert_array_equal(deeper[:, :depth], vec)
    # every finite candidate is placed at most once, and all of them once depth allows
    for r in range(b):
        placed = vec[r][vec[r] >= 0].tolist()
        assert len(placed) == len(set(placed)) == min(depth, int(np.isfinite(rel[r]).sum()))


def test_users_without_feed_in_a_batch_keep_row_labels():
    ds = _tiny()
    idx = FeedIndex(ds)
    f = idx.build(None, ["e", "b", "v", "e"], n=10, batch_size=1)
    assert set(f["user"]) == {"v"}
    pd.testing.assert_frame_equal(
        f.reset_index(drop=True), idx.build(None, "v", n=10).reset_index(drop=True)
    )


def test_page_equals_build():
    ds = small_world()
    r = hr.rankers.make("popularity").fit(ds)
    idx = hr.feed.index_for(ds)
    for u in ds.user_ids[:10]:
        page = idx.page(r, u, n=4)
        frame = idx.build(r, u, n=4)
        pd.testing.assert_frame_equal(page.to_frame(), frame)
        assert page.next_cursor == frame.attrs["next_cursor"]
        nxt = idx.page(r, u, n=4, cursor=page.next_cursor)
        assert nxt.ranks[:1] == [5] or len(nxt) == 0
        assert [x["item"] for x in page.records()] == page.items


@pytest.mark.parametrize("ranker", [None, "popularity", "trust"])
def test_build_indices_equals_build(ranker):
    ds = small_world()
    r = None if ranker is None else hr.rankers.make(ranker).fit(ds)
    idx = hr.feed.index_for(ds)
    users = np.array([3, 0, 7, 7, 1, 5, 2, 4, 6], dtype=np.int64) % ds.n_users
    frame = idx.build(r, ds.user_ids[users], n=5, batch_size=4)
    got = idx.build_indices(r, users, n=5, batch_size=4)
    assert len(frame) > 5 and len(got["user"]) == len(frame)
    assert got["user"].dtype == np.int64 and got["kind"].dtype == np.int8
    assert list(ds.user_ids[got["user"]]) == list(frame["user"])
    assert list(ds.item_ids[got["item"]]) == list(frame["item"])
    assert got["score"].tobytes() == frame["score"].to_numpy().tobytes()
    assert np.array_equal(got["rank"], frame["rank"].to_numpy())
    off = got["offsets"]
    assert [list(ds.user_ids[got["endorser"][a:b]]) for a, b in zip(off[:-1], off[1:])] == [
        list(e) for e in frame["endorsers"]]
    assert [[hr.KINDS[k] for k in got["kind"][a:b]] for a, b in zip(off[:-1], off[1:])] == [
        list(k) for k in frame["kinds"]]
    empty = idx.build_indices(r, np.empty(0, dtype=np.int64), n=5)
    assert len(empty["user"]) == 0 and list(empty["offsets"]) == [0]
    with pytest.raises(IndexError, match="users"):
        idx.build_indices(r, np.array([ds.n_users]), n=5)
    with pytest.raises(ValueError, match="user indices"):
        idx.build_indices(r, ds.user_ids[:2], n=5)


def test_refit_in_place_is_seen_by_the_feed():
    if "als" not in hr.rankers.available():
        pytest.skip("als ranker not available")
    ds = small_world()
    users = list(ds.user_ids[:8])
    r = hr.rankers.make("als", factors=4, iterations=2, random_state=0).fit(ds)
    idx = hr.feed.index_for(ds)
    idx.build(r, users, n=5)  # caches a view of r
    assert r in idx._views
    r.set_params(random_state=7, factors=6).fit(ds)  # same object, new factors
    fresh = hr.rankers.make("als", factors=6, iterations=2, random_state=7).fit(ds)
    pd.testing.assert_frame_equal(
        idx.build(r, users, n=5), idx.build(fresh, users, n=5)
    )

    # the cache does not keep rankers alive
    import gc

    del r, fresh
    gc.collect()
    assert len(idx._views) == 0
