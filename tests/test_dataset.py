"""The Dataset: Hypothesis properties (Parquet round trip, vocabularies, CSR sums, row-order
invariance, select_interactions), a table of bad inputs with the error each must give, duplicate
policies, self-follows, social-only users and k-core filtering."""

from __future__ import annotations

import tempfile
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import haowurank as hr
from haowurank import DataWarning, UnknownIdError

KINDS = list(hr.KINDS)
VIS = list(hr.VISIBILITIES)
_settings = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow],
)


def build(**kwargs) -> hr.Dataset:
    """from_frames with repair warnings silenced (properties are about the result)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return hr.Dataset.from_frames(**kwargs)


# ------------------------------------------------------------------------------ strategies

INT_USERS = st.integers(-3, 30)
INT_ITEMS = st.integers(0, 25)  # -1 is the reserved padding item id
STR_USERS = st.text(alphabet="abcé漢", min_size=1, max_size=3)
STR_ITEMS = st.text(alphabet="xyzü", min_size=1, max_size=3)
EXACT_WEIGHTS = st.integers(1, 400).map(lambda k: k / 4)  # sums are exact in any order
SECONDS = st.integers(-10**9, 2 * 10**9)


@st.composite
def frames(draw, unique_keys: bool = False) -> dict:
    """Caller frames with int or str ids, any subset of the optional columns, and optional
    social, items and blocks frames (ids drawn from the same pools, plus some of their own)."""
    str_ids = draw(st.booleans())
    uid, iid = (STR_USERS, STR_ITEMS) if str_ids else (INT_USERS, INT_ITEMS)
    n = draw(st.integers(0, 25))
    cols: dict = {
        "user": draw(st.lists(uid, min_size=n, max_size=n)),
        "item": draw(st.lists(iid, min_size=n, max_size=n)),
    }
    optional = draw(st.sets(st.sampled_from(
        ["weight", "timestamp", "kind", "visibility", "order_id", "source", "amount"]
    )))
    col = lambda s: draw(st.lists(s, min_size=n, max_size=n))  # noqa: E731
    if "weight" in optional:
        cols["weight"] = col(EXACT_WEIGHTS)
    if "timestamp" in optional:
        secs = col(SECONDS)
        as_datetime = draw(st.booleans())
        cols["timestamp"] = pd.to_datetime(secs, unit="s") if as_datetime else secs
    if "kind" in optional:
        cols["kind"] = col(st.sampled_from(KINDS))
    if "visibility" in optional:
        cols["visibility"] = col(st.sampled_from(VIS))
    if "order_id" in optional:
        cols["order_id"] = col(st.one_of(st.none(), st.sampled_from(["o1", "o2", "ü3"])))
    if "source" in optional:
        cols["source"] = col(st.one_of(st.none(), st.sampled_from(["weidian", "youzan"])))
    if "amount" in optional:
        cols["amount"] = col(st.one_of(st.just(np.nan), st.floats(0, 1e4)))
    inter = pd.DataFrame(cols)
    if n == 0:
        inter = inter.astype({"user": object, "item": object})
    if unique_keys:
        keys = ["user", "item"] + [c for c in ("kind", "order_id") if c in inter]
        inter = inter.drop_duplicates(keys).reset_index(drop=True)
    out: dict = {"interactions": inter}
    user_pool = st.one_of(st.sampled_from(cols["user"]), uid) if n else uid
    if draw(st.booleans()):
        pairs = draw(st.lists(st.tuples(user_pool, user_pool), max_size=15))
        pairs = [(a, b) for a, b in pairs if a != b]
        soc = pd.DataFrame(pairs, columns=["user", "friend"]).astype(object if str_ids else int)
        if draw(st.booleans()):
            soc["weight"] = draw(st.lists(EXACT_WEIGHTS, min_size=len(soc), max_size=len(soc)))
        out["social"] = soc
    if draw(st.booleans()):
        pairs = draw(st.lists(st.tuples(user_pool, user_pool), max_size=5))
        pairs = [(a, b) for a, b in pairs if a != b]
        out["blocks"] = pd.DataFrame(pairs, columns=["user", "blocked"]).astype(
            object if str_ids else int
        )
    if n and draw(st.booleans()):
        # audience lists: some on endorsements, some on rows that are not (dropped with a warning)
        triples = draw(st.lists(
            st.tuples(st.sampled_from(cols["user"]), st.sampled_from(cols["item"]), user_pool),
            max_size=6,
        ))
        out["audiences"] = pd.DataFrame(triples, columns=["user", "item", "viewer"]).astype(
            object if str_ids else int
        )
    if draw(st.booleans()):
        item_pool = st.one_of(st.sampled_from(cols["item"]), iid) if n else iid
        ids = draw(st.lists(item_pool, max_size=10, unique=True))
        m = len(ids)
        it = pd.DataFrame({"item": pd.Series(ids, dtype=object if str_ids else int)})
        text = st.one_of(st.none(), st.text(alphabet="ab é", max_size=6))
        for c in draw(st.sets(st.sampled_from(["title", "category", "merchant"]))):
            it[c] = draw(st.lists(text, min_size=m, max_size=m))
        if draw(st.booleans()):
            it["price"] = draw(st.lists(st.one_of(st.just(np.nan), st.floats(0, 1e5)),
                                        min_size=m, max_size=m))
        if draw(st.booleans()):
            it["searchable"] = pd.Series(
                draw(st.lists(st.booleans(), min_size=m, max_size=m)), dtype=bool
            )
        out["items"] = it
    return out


def _input_users(fr: dict) -> set:
    s = set(fr["interactions"]["user"].tolist())
    if "social" in fr:
        s |= set(fr["social"]["user"].tolist()) | set(fr["social"]["friend"].tolist())
    if "blocks" in fr:
        s |= set(fr["blocks"]["user"].tolist()) | set(fr["blocks"]["blocked"].tolist())
    if "audiences" in fr:
        s |= set(fr["audiences"]["viewer"].tolist())
    return s


# ------------------------------------------------------------------------------ properties

@_settings
@given(fr=frames(), policy=st.sampled_from(["sum", "max", "last", "first"]))
def test_parquet_round_trip_loses_nothing(fr, policy):
    ds = build(**fr, duplicates=policy, meta={"name": "prop", "n": 3, "note": "é"})
    with tempfile.TemporaryDirectory() as d:
        back = hr.Dataset.read_parquet(ds.to_parquet(Path(d) / "ds"))
    assert back.equals(ds)
    assert back.meta == ds.meta
    assert back.user_ids.dtype == ds.user_ids.dtype
    assert back.has_timestamps == ds.has_timestamps
    pd.testing.assert_frame_equal(back.interactions, ds.interactions)
    pd.testing.assert_frame_equal(back.items, ds.items)
    pd.testing.assert_frame_equal(back.social, ds.social)
    pd.testing.assert_frame_equal(back.blocks, ds.blocks)
    pd.testing.assert_frame_equal(back.audiences, ds.audiences)


@_settings
@given(fr=frames())
def test_vocabularies_consistent(fr):
    ds = build(**fr)
    assert np.array_equal(ds.user_index(ds.user_ids), np.arange(ds.n_users))
    assert np.array_equal(ds.item_index(ds.item_ids), np.arange(ds.n_items))
    # sorted and unique, so the vocabulary does not depend on row order
    assert list(ds.user_ids) == sorted(set(ds.user_ids.tolist()))
    assert list(ds.item_ids) == sorted(set(ds.item_ids.tolist()))
    assert set(ds.user_ids.tolist()) == _input_users(fr)
    items = set(fr["interactions"]["item"].tolist())
    if "items" in fr:
        items |= set(fr["items"]["item"].tolist())
    assert set(ds.item_ids.tolist()) == items
    # caller-id frames map back to the input rows' ids
    inter = ds.interactions
    assert set(zip(inter["user"], inter["item"])) == set(
        zip(fr["interactions"]["user"], fr["interactions"]["item"])
    )
    assert len(ds.items) == ds.n_items


@_settings
@given(fr=frames())
def test_matrix_sums_equal_row_weights(fr):
    ds = build(**fr)
    f = ds._inter
    m = ds.matrix()
    assert m.shape == (ds.n_users, ds.n_items) and m.dtype == np.float32
    expect = np.bincount(f["user"], weights=f["weight"], minlength=ds.n_users)
    np.testing.assert_allclose(np.asarray(m.sum(axis=1)).ravel(), expect, rtol=1e-5)
    assert ds.matrix(weight="count").sum() == ds.n_interactions
    distinct = len(f[["user", "item"]].drop_duplicates())
    assert ds.matrix(weight="binary").nnz == distinct
    per_kind = sum(ds.matrix(k).sum() for k in KINDS)
    np.testing.assert_allclose(per_kind, m.sum(), rtol=1e-5)
    kw = {"purchase": 2.0, "recommend": 0.5}
    expect_kw = sum(w * ds.matrix(k).sum() for k, w in kw.items())
    np.testing.assert_allclose(ds.matrix(kind_weights=kw).sum(), expect_kw, rtol=1e-5)


def _merge_reference(inter: pd.DataFrame, policy: str) -> dict:
    f = pd.DataFrame(
        {
            "user": inter["user"].tolist(),
            "item": inter["item"].tolist(),
            "kind": inter["kind"].astype(str).tolist() if "kind" in inter else "purchase",
            "order_id": (inter["order_id"].fillna("<NA>").tolist() if "order_id" in inter
                         else "<NA>"),
            "weight": inter["weight"].tolist() if "weight" in inter else 1.0,
        }
    )
    return f.groupby(["user", "item", "kind", "order_id"])["weight"].agg(policy).to_dict()


@_settings
@given(fr=frames(), policy=st.sampled_from(["sum", "max"]))
def test_merged_weights_match_groupby(fr, policy):
    """Whatever the duplicates, each (user, item, kind, order_id) keeps the sum / max weight."""
    ds = build(**fr, duplicates=policy)
    got = ds.interactions
    if "order_id" not in got:
        got = got.assign(order_id=None)
    assert _merge_reference(got, policy) == _merge_reference(fr["interactions"], policy)
    assert ds.n_interactions == len(_merge_reference(fr["interactions"], policy))


@_settings
@given(data=st.data())
def test_row_order_does_not_matter(data):
    fr = data.draw(frames(unique_keys=True))
    shuffled = {}
    for name, df in fr.items():
        perm = data.draw(st.permutations(range(len(df))))
        shuffled[name] = df.iloc[list(perm)].reset_index(drop=True)
    a, b = build(**fr), build(**shuffled)
    assert a.equals(b)


@_settings
@given(data=st.data())
def test_select_interactions_keeps_vocabularies(data):
    ds = build(**data.draw(frames()))
    mask = np.array(
        data.draw(st.lists(st.booleans(), min_size=ds.n_interactions,
                           max_size=ds.n_interactions)),
        dtype=bool,
    )
    sub = ds.select_interactions(mask)
    assert sub.user_ids is ds.user_ids and sub.item_ids is ds.item_ids
    assert sub.n_interactions == int(mask.sum())
    pd.testing.assert_frame_equal(sub._inter, ds._inter[mask].reset_index(drop=True))
    assert sub.interactions[["user", "item"]].values.tolist() == (
        ds.interactions[["user", "item"]][mask].values.tolist()
    )
    pd.testing.assert_frame_equal(sub.social, ds.social)
    pd.testing.assert_frame_equal(sub.items, ds.items)
    assert ds.n_interactions == len(mask)  # the original is untouched


def _peel(pairs: set, k: int) -> set:
    """k-core by removing one under-connected node at a time (a different order from k_core)."""
    pairs = set(pairs)
    while True:
        udeg, ideg = defaultdict(int), defaultdict(int)
        for u, i in pairs:
            udeg[u] += 1
            ideg[i] += 1
        weak = next(((u, i) for u, i in sorted(pairs) if udeg[u] < k or ideg[i] < k), None)
        if weak is None:
            return pairs
        u, i = weak
        node_is_user = udeg[u] < k
        pairs = {(a, b) for a, b in pairs if (a != u if node_is_user else b != i)}


@settings(max_examples=40, deadline=None)
@given(
    pairs=st.lists(st.tuples(st.integers(0, 7), st.integers(0, 7)), max_size=40),
    k=st.integers(1, 4),
)
def test_k_core_matches_peeling(pairs, k):
    df = pd.DataFrame(pairs, columns=["user", "item"], dtype=int)
    ds = build(interactions=df)
    core = ds.k_core(k)
    got = set(zip(core.interactions["user"].tolist(), core.interactions["item"].tolist()))
    assert got == _peel(set(pairs), k)
    assert set(core.user_ids.tolist()) == {u for u, _ in got}
    assert set(core.item_ids.tolist()) == {i for _, i in got}


# ------------------------------------------------------------------------------ bad inputs

def _inter(**cols) -> pd.DataFrame:
    base = {"user": [1, 2, 3], "item": [10, 11, 12]}
    base.update(cols)
    return pd.DataFrame(base)


GOOD_SOCIAL = pd.DataFrame({"user": [1, 2], "friend": [2, 1]})

BAD = [
    # ids
    ("nan-user", lambda: dict(interactions=_inter(user=[1.0, np.nan, 3.0])),
     ValueError, r"'user' of interactions .*NaN"),
    ("none-item", lambda: dict(interactions=_inter(item=[10, None, 12])),
     ValueError, r"'item' of interactions .*NaN/None"),
    ("mixed-int-str-user", lambda: dict(interactions=_inter(user=[1, "b", 3])),
     TypeError, r"'user' of interactions .*one type.*\['int', 'str'\]"),
    ("bool-user", lambda: dict(interactions=_inter(user=[True, False, True])),
     TypeError, r"'user' of interactions .*Got booleans"),
    ("bool-in-object-item", lambda: dict(interactions=_inter(item=[True, 11, 12])),
     TypeError, r"'item' of interactions .*\['bool', 'int'\]"),
    ("fractional-item", lambda: dict(interactions=_inter(item=[10.0, 11.5, 12.0])),
     TypeError, r"'item' of interactions .*non-integral"),
    ("inf-item", lambda: dict(interactions=_inter(item=[10.0, np.inf, 12.0])),
     TypeError, r"'item' of interactions"),
    ("empty-string-user", lambda: dict(interactions=_inter(user=["a", "", "c"])),
     ValueError, r"'user' of interactions .*non-empty"),
    ("user-types-across-frames",
     lambda: dict(interactions=_inter(), social=pd.DataFrame({"user": ["a"], "friend": ["b"]})),
     TypeError, r"user ids .*interactions.user: int, social.user: str"),
    ("item-types-across-frames",
     lambda: dict(interactions=_inter(), items=pd.DataFrame({"item": ["x"]})),
     TypeError, r"item ids .*items.item: str"),
    ("pad-item-int", lambda: dict(interactions=_inter(item=[10, -1, 12])),
     ValueError, r"Item id -1 is reserved"),
    ("pad-item-in-items", lambda: dict(interactions=_inter(), items=pd.DataFrame({"item": [-1]})),
     ValueError, r"Item id -1 is reserved"),
    ("pad-item-str", lambda: dict(interactions=_inter(item=["x", "", "z"])),
     ValueError, r"'item' of interactions .*non-empty"),
    # weights
    ("negative-weight", lambda: dict(interactions=_inter(weight=[1.0, -2.0, 1.0])),
     ValueError, r"'weight' of interactions must be finite and > 0\. Found -2\.0"),
    ("zero-weight", lambda: dict(interactions=_inter(weight=[1.0, 0.0, 1.0])),
     ValueError, r"'weight' of interactions must be finite and > 0\. Found 0\.0"),
    ("inf-weight", lambda: dict(interactions=_inter(weight=[1.0, np.inf, 1.0])),
     ValueError, r"'weight' of interactions .*inf"),
    ("nan-weight", lambda: dict(interactions=_inter(weight=[1.0, np.nan, 1.0])),
     ValueError, r"'weight' of interactions .*nan"),
    ("text-weight", lambda: dict(interactions=_inter(weight=["a", "b", "c"])),
     TypeError, r"'weight' of interactions must be numeric"),
    ("zero-social-weight",
     lambda: dict(interactions=_inter(), social=GOOD_SOCIAL.assign(weight=[1.0, 0.0])),
     ValueError, r"'weight' of social"),
    ("negative-amount", lambda: dict(interactions=_inter(amount=[1.0, -5.0, 2.0])),
     ValueError, r"'amount' of interactions must be finite and >= 0"),
    # categorical columns
    ("unknown-kind", lambda: dict(interactions=_inter(kind=["purchase", "like", "view"])),
     ValueError, r"'kind' of interactions .*unknown value\(s\) \['like'\]"),
    ("missing-kind", lambda: dict(interactions=_inter(kind=["purchase", None, "view"])),
     ValueError, r"'kind' of interactions .*missing"),
    ("unknown-visibility", lambda: dict(interactions=_inter(visibility=["public", "all", "x"])),
     ValueError, r"'visibility' of interactions .*\['all', 'x'\]"),
    # timestamps
    ("nan-timestamp", lambda: dict(interactions=_inter(timestamp=[1.0, np.nan, 3.0])),
     ValueError, r"'timestamp' of interactions .*missing"),
    ("nat-timestamp",
     lambda: dict(interactions=_inter(timestamp=pd.to_datetime(["2020-01-01", None, "2020-01-02"]))),
     ValueError, r"'timestamp' of interactions .*missing"),
    ("inf-timestamp", lambda: dict(interactions=_inter(timestamp=[1.0, np.inf, 3.0])),
     ValueError, r"'timestamp' of interactions must be finite"),
    ("text-timestamp", lambda: dict(interactions=_inter(timestamp=["2020", "x", "y"])),
     TypeError, r"'timestamp' of interactions .*datetime64"),
    # missing columns
    ("no-item-column", lambda: dict(interactions=pd.DataFrame({"user": [1]})),
     ValueError, r"'interactions' frame .*missing \['item'\]"),
    ("no-user-column", lambda: dict(interactions=pd.DataFrame({"item": [1]})),
     ValueError, r"'interactions' frame .*missing \['user'\]"),
    ("no-friend-column",
     lambda: dict(interactions=_inter(), social=pd.DataFrame({"user": [1], "follows": [2]})),
     ValueError, r"'social' frame .*missing \['friend'\]"),
    ("no-blocked-column",
     lambda: dict(interactions=_inter(), blocks=pd.DataFrame({"user": [1], "friend": [2]})),
     ValueError, r"'blocks' frame .*missing \['blocked'\]"),
    ("no-item-in-items",
     lambda: dict(interactions=_inter(), items=pd.DataFrame({"id": [10], "title": ["t"]})),
     ValueError, r"'items' frame .*missing \['item'\]"),
    # not frames
    ("interactions-dict", lambda: dict(interactions={"user": [1], "item": [2]}),
     TypeError, r"'interactions' argument must be a pandas DataFrame\. Got dict"),
    ("social-list", lambda: dict(interactions=_inter(), social=[(1, 2)]),
     TypeError, r"'social' argument must be a pandas DataFrame\. Got list"),
    ("items-series", lambda: dict(interactions=_inter(), items=pd.Series([10])),
     TypeError, r"'items' argument must be a pandas DataFrame\. Got Series"),
    ("blocks-array", lambda: dict(interactions=_inter(), blocks=np.array([[1, 2]])),
     TypeError, r"'blocks' argument must be a pandas DataFrame\. Got ndarray"),
    # graph rules
    ("self-follow",
     lambda: dict(interactions=_inter(), social=pd.DataFrame({"user": [1, 2], "friend": [1, 3]})),
     ValueError, r"'social' frame must not contain self-follows .*self_loops='drop'"),
    ("nan-friend",
     lambda: dict(interactions=_inter(), social=pd.DataFrame({"user": [1], "friend": [np.nan]})),
     ValueError, r"'friend' of social"),
    ("self-block",
     lambda: dict(interactions=_inter(), blocks=pd.DataFrame({"user": [1], "blocked": [1]})),
     ValueError, r"'blocks' frame must not contain a user blocking themself"),
    # item metadata
    ("duplicate-item-rows",
     lambda: dict(interactions=_inter(), items=pd.DataFrame({"item": [10, 10], "title": ["a", "b"]})),
     ValueError, r"'items' frame must list each item once"),
    ("negative-price",
     lambda: dict(interactions=_inter(), items=pd.DataFrame({"item": [10], "price": [-1.0]})),
     ValueError, r"'price' of items must be finite and >= 0"),
    ("text-searchable",
     lambda: dict(interactions=_inter(), items=pd.DataFrame({"item": [10], "searchable": ["yes"]})),
     TypeError, r"'searchable' of items must be boolean"),
    ("missing-searchable",
     lambda: dict(interactions=_inter(),
                  items=pd.DataFrame({"item": [10, 11], "searchable": [True, None]})),
     TypeError, r"'searchable' of items"),
    # parameters
    ("bad-duplicates", lambda: dict(interactions=_inter(), duplicates="mean"),
     ValueError, r"'duplicates' parameter must be one of .*Got 'mean'"),
    ("bad-self-loops", lambda: dict(interactions=_inter(), self_loops="keep"),
     ValueError, r"'self_loops' parameter must be 'raise' or 'drop'\. Got 'keep'"),
    ("duplicates-raise",
     lambda: dict(interactions=pd.DataFrame({"user": [1, 1], "item": [2, 2]}), duplicates="raise"),
     ValueError, r"1 row\(s\) repeat an earlier \(user, item, kind\); pass duplicates="),
]


@pytest.mark.parametrize("make, exc, match", [pytest.param(*c[1:], id=c[0]) for c in BAD])
def test_bad_input(make, exc, match):
    with pytest.raises(exc, match=match):
        hr.Dataset.from_frames(**make())


def test_bad_input_table_is_large_and_distinct():
    assert len(BAD) >= 20
    assert len({c[0] for c in BAD}) == len(BAD)


# ------------------------------------------------------------------------------ duplicates

DUP = pd.DataFrame(
    {
        "user": ["u1", "u1", "u1", "u2"],
        "item": ["i1", "i1", "i1", "i1"],
        "weight": [1.0, 4.0, 2.0, 1.0],
        "timestamp": [10, 20, 30, 5],
        "visibility": ["public", "private", "friends", "public"],
    }
)


@pytest.mark.parametrize(
    "policy, weight, ts, vis",
    [
        ("sum", 7.0, 30, "friends"),  # merged weight, the latest row's other fields
        ("max", 4.0, 30, "friends"),
        ("last", 2.0, 30, "friends"),  # the latest by timestamp
        ("first", 1.0, 10, "public"),
    ],
)
def test_duplicate_policies(policy, weight, ts, vis):
    shuffled = DUP.iloc[[2, 0, 3, 1]]  # "last" and "first" go by timestamp, not row order
    for frame in (DUP, shuffled):
        with pytest.warns(DataWarning, match=rf"merged 2 duplicated .*duplicates='{policy}'"):
            ds = hr.Dataset.from_frames(frame, duplicates=policy)
        row = ds.interactions.set_index("user").loc["u1"]
        assert (row["weight"], row["timestamp"], row["visibility"]) == (weight, ts, vis)
        assert ds.n_interactions == 2
        assert ds.interactions.set_index("user").loc["u2", "weight"] == 1.0


def test_duplicates_raise_counts_rows():
    with pytest.raises(ValueError, match=r"2 row\(s\) repeat"):
        hr.Dataset.from_frames(DUP, duplicates="raise")


def test_distinct_kinds_and_orders_are_not_duplicates():
    df = pd.DataFrame(
        {
            "user": [1, 1, 1, 1],
            "item": [2, 2, 2, 2],
            "kind": ["purchase", "purchase", "recommend", "purchase"],
            "order_id": ["o1", "o2", None, "o1"],
        }
    )
    with pytest.warns(DataWarning, match=r"merged 1 duplicated \(user, item, kind, order_id\)"):
        ds = hr.Dataset.from_frames(df)
    assert ds.n_interactions == 3
    assert sorted(ds.orders["order_id"].tolist()) == ["o1", "o2"]
    assert ds.orders.set_index("order_id").loc["o1", "user"] == 1


def test_duplicate_warning_points_at_caller():
    with pytest.warns(DataWarning, match="merged 2 duplicated") as rec:
        hr.Dataset.from_frames(DUP)
    assert Path(rec[0].filename).resolve() == Path(__file__).resolve()


def test_social_and_block_duplicates_merged_with_count():
    soc = pd.DataFrame({"user": [1, 1, 2, 1], "friend": [2, 2, 1, 2], "weight": [1.0, 3.0, 1.0, 2.0]})
    blk = pd.DataFrame({"user": [1, 1], "blocked": [3, 3]})
    with pytest.warns(DataWarning) as rec:
        ds = hr.Dataset.from_frames(_inter(), social=soc, blocks=blk)
    msgs = " | ".join(str(w.message) for w in rec)
    assert "social: merged 2 duplicated (user, friend) row(s), keeping the max weight" in msgs
    assert "blocks: dropped 1 duplicated (user, blocked) row(s)" in msgs
    assert ds.n_social == 2 and len(ds.blocks) == 1
    s = ds.social_matrix()
    assert s[ds.user_index(1)[0], ds.user_index(2)[0]] == 3.0


# ------------------------------------------------------------------------------ graph rules

def test_self_follows_dropped_with_count():
    soc = pd.DataFrame({"user": [1, 2, 3, 2], "friend": [1, 1, 3, 3]})
    with pytest.warns(DataWarning, match=r"social: dropped 2 self-follow row\(s\)"):
        ds = hr.Dataset.from_frames(_inter(), social=soc, self_loops="drop")
    assert ds.n_social == 2
    assert ds.social_matrix().diagonal().sum() == 0


def test_social_edges_to_unknown_users_kept_as_users_without_interactions():
    soc = pd.DataFrame({"user": [1, 99], "friend": [98, 1]})
    blk = pd.DataFrame({"user": [2], "blocked": [97]})
    ds = hr.Dataset.from_frames(_inter(), social=soc, blocks=blk)
    assert ds.user_ids.tolist() == [1, 2, 3, 97, 98, 99]
    counts = ds.user_counts()
    assert counts[ds.user_index([97, 98, 99])].tolist() == [0, 0, 0]
    assert ds.matrix()[ds.user_index(99)[0]].nnz == 0
    s = ds.social_matrix()
    assert s[ds.user_index(99)[0], ds.user_index(1)[0]] == 1.0  # 99 follows 1
    assert s[ds.user_index(1)[0], ds.user_index(99)[0]] == 0.0  # not mutual
    assert ds.block_matrix()[ds.user_index(2)[0], ds.user_index(97)[0]]


def test_items_only_in_metadata_are_kept():
    items = pd.DataFrame({"item": [10, 50], "title": ["ten", "fifty"], "price": [1.5, np.nan],
                          "searchable": [True, False]})
    ds = hr.Dataset.from_frames(_inter(), items=items)
    assert ds.item_ids.tolist() == [10, 11, 12, 50]
    meta = ds.items.set_index("item")
    assert meta.loc[50, "title"] == "fifty" and not meta.loc[50, "searchable"]
    assert meta.loc[11, "title"] is None and meta.loc[11, "searchable"]
    assert np.isnan(meta.loc[50, "price"]) and meta.loc[10, "price"] == 1.5
    assert np.asarray(ds.matrix().sum(axis=0)).ravel()[ds.item_index(50)[0]] == 0


def test_unknown_column_warns_and_is_ignored():
    with pytest.warns(DataWarning, match=r"ignoring unknown column\(s\) \['rating'\]"):
        ds = hr.Dataset.from_frames(_inter(rating=[1, 2, 3]))
    assert "rating" not in ds.interactions


# ------------------------------------------------------------------------------ timestamps

def test_timestamps_datetime_and_seconds_agree():
    secs = [0, 86_400, 1_600_000_000]
    a = hr.Dataset.from_frames(_inter(timestamp=secs))
    b = hr.Dataset.from_frames(_inter(timestamp=pd.to_datetime(secs, unit="s")))
    tz = pd.to_datetime(secs, unit="s").tz_localize("UTC").tz_convert("Asia/Shanghai")
    c = hr.Dataset.from_frames(_inter(timestamp=tz))
    assert a.equals(b) and a.equals(c)
    assert a.interactions["timestamp"].tolist() == secs
    assert a.has_timestamps
    no_ts = hr.Dataset.from_frames(_inter())
    assert not no_ts.has_timestamps and "timestamp" not in no_ts.interactions


# ------------------------------------------------------------------------------ k-core

def test_k_core_small_example():
    # z has one user, so it goes; then C has one item and goes; A and B keep x and y.
    df = pd.DataFrame(
        {"user": ["A", "A", "B", "B", "C", "C", "D"],
         "item": ["x", "y", "x", "y", "x", "z", "x"],
         "kind": ["purchase"] * 6 + ["view"]}
    )
    soc = pd.DataFrame({"user": ["A", "A", "C"], "friend": ["B", "C", "A"]})
    items = pd.DataFrame({"item": ["x", "y", "z"], "title": ["X", "Y", "Z"]})
    blk = pd.DataFrame({"user": ["B", "B"], "blocked": ["A", "D"]})
    ds = hr.Dataset.from_frames(df, social=soc, items=items, blocks=blk, meta={"name": "toy"})
    core = ds.k_core(2)
    assert core.user_ids.tolist() == ["A", "B"]
    assert core.item_ids.tolist() == ["x", "y"]
    assert core.n_interactions == 4
    assert core.social.values.tolist() == [["A", "B", 1.0]]
    assert core.blocks.values.tolist() == [["B", "A"]]
    assert core.items["title"].tolist() == ["X", "Y"]
    assert core.meta == {"name": "toy", "k_core": 2}
    assert (core.user_counts() >= 2).all()
    # k=1 keeps every user and item that has an interaction; D (one view) stays
    assert ds.k_core(1).user_ids.tolist() == ["A", "B", "C", "D"]
    assert ds.k_core(3).n_users == 0
    with pytest.raises(ValueError, match=r"'k' parameter must be a positive int\. Got 0"):
        ds.k_core(0)


# ------------------------------------------------------------------------------ lookups, views

def test_lookups_and_view_errors():
    ds = hr.Dataset.from_frames(_inter(kind=["purchase", "recommend", "view"]))
    assert ds.user_index(2).tolist() == [1]
    with pytest.raises(UnknownIdError, match=r"Unknown user id\(s\) \[7\]"):
        ds.user_index([1, 7])
    assert ds.item_index([12, 99], missing="ignore").tolist() == [2, -1]
    with pytest.raises(KeyError):
        ds.item_index("nope")
    with pytest.raises(ValueError, match=r"'kind' parameter must be among"):
        ds.matrix("like")
    with pytest.raises(ValueError, match=r"'weight' parameter must be"):
        ds.matrix(weight="rating")
    with pytest.raises(ValueError, match=r"'kind_weights' keys must be among"):
        ds.matrix(kind_weights={"like": 1.0})
    with pytest.raises(ValueError, match=r"'mask' must be a boolean array of shape \(3,\)"):
        ds.select_interactions(np.ones(2, dtype=bool))
    assert ds.matrix("recommend").nnz == 1
    assert ds.matrix(["purchase", "view"]).nnz == 2


def test_equals_detects_changes():
    a = hr.Dataset.from_frames(_inter(weight=[1.0, 2.0, 3.0]))
    assert a.equals(hr.Dataset.from_frames(_inter(weight=[1.0, 2.0, 3.0])))
    assert not a.equals(hr.Dataset.from_frames(_inter(weight=[1.0, 2.0, 3.5])))
    assert not a.equals(hr.Dataset.from_frames(_inter(weight=[1.0, 2.0, 3.0], kind=["view"] * 3)))
    assert not a.equals(hr.Dataset.from_frames(_inter(user=["1", "2", "3"],
                                                      weight=[1.0, 2.0, 3.0])))
    assert not a.equals("a dataset")


def test_read_parquet_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"meta\.json is missing"):
        hr.Dataset.read_parquet(tmp_path / "none")
    ds = hr.Dataset.from_frames(_inter(), social=GOOD_SOCIAL)
    path = ds.to_parquet(tmp_path / "ds")
    meta = path / "meta.json"
    text = meta.read_text()
    meta.write_text(text.replace('"format_version": 1', '"format_version": 99'))
    with pytest.raises(ValueError, match=r"format version 99"):
        hr.Dataset.read_parquet(path)
    meta.write_text("{not json")
    with pytest.raises(ValueError, match=r"not valid JSON"):
        hr.Dataset.read_parquet(path)
    # overwrite in place, then corrupt an index
    ds.to_parquet(path)
    assert hr.Dataset.read_parquet(path).equals(ds)
    pd.DataFrame({"user": [0, 7], "friend": [1, 0], "weight": [1.0, 1.0]}).to_parquet(
        path / "social.parquet", index=False
    )
    with pytest.raises(ValueError, match=r"Corrupt dataset: social\.user"):
        hr.Dataset.read_parquet(path)


def test_add_interactions_with_order_ids_onto_a_dataset_without_them():
    """Rows with an ``order_id`` that repeat a (user, item, kind) of a Dataset that has no
    ``order_id`` column are new orders, kept beside the old rows; a repeat of the same order
    still merges."""
    base = hr.Dataset.from_frames(pd.DataFrame({
        "user": ["a", "a", "b"], "item": ["x", "y", "x"], "timestamp": [1, 2, 3],
        "kind": ["purchase", "purchase", "view"]}))
    assert "order_id" not in base.interactions
    add = pd.DataFrame({"user": ["a", "b"], "item": ["x", "y"], "timestamp": [5, 6],
                        "kind": ["purchase", "purchase"], "order_id": ["o1", "o2"]})
    grown = base.add_interactions(add)
    assert grown.n_interactions == 5
    f = grown.interactions
    assert sorted(f["order_id"].dropna()) == ["o1", "o2"]
    with pytest.warns(hr.DataWarning, match="merged 1 duplicated"):
        again = grown.add_interactions(add.iloc[:1])
    assert again.n_interactions == 5
