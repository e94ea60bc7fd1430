"""Splits: no (user, item) pair in both parts, sizes per user, determinism, time order, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import haowurank as hr
from haowurank.split import random_split, temporal_split, validation_split
from haowurank.testing import small_world

KINDS = list(hr.KINDS)


def _pairs(ds: hr.Dataset) -> set[tuple[int, int]]:
    f = ds._inter
    return set(zip(f["user"].tolist(), f["item"].tolist()))


def _distinct_items(ds: hr.Dataset, kinds=None) -> np.ndarray:
    f = ds._inter[ds.kind_mask(kinds)]
    pairs = f[["user", "item"]].drop_duplicates()
    return np.bincount(pairs["user"].to_numpy(), minlength=ds.n_users)


@st.composite
def worlds(draw, timestamps: bool = True):
    n_users = draw(st.integers(1, 8))
    n_items = draw(st.integers(1, 8))
    n_rows = draw(st.integers(1, 40))
    rows = draw(
        st.lists(
            st.tuples(
                st.integers(0, n_users - 1),
                st.integers(0, n_items - 1),
                st.sampled_from(KINDS[:4]),
                st.integers(0, 20),
            ),
            min_size=n_rows,
            max_size=n_rows,
        )
    )
    df = pd.DataFrame(rows, columns=["user", "item", "kind", "timestamp"])
    df["user"] = "u" + df["user"].astype(str)
    df = df.drop_duplicates(["user", "item", "kind"])
    if not timestamps:
        df = df.drop(columns="timestamp")
    return hr.Dataset.from_frames(df)


_fast = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ------------------------------------------------------------------ random split
@_fast
@given(ds=worlds(), tf=st.floats(0.05, 0.95), seed=st.integers(0, 2**16))
def test_random_split_invariants(ds, tf, seed):
    train, test = random_split(ds, test_fraction=tf, seed=seed)
    assert train.n_interactions + test.n_interactions == ds.n_interactions
    assert not (_pairs(train) & _pairs(test))
    assert np.array_equal(train.user_ids, ds.user_ids)
    assert np.array_equal(test.item_ids, ds.item_ids)
    n = _distinct_items(ds)
    n_test = _distinct_items(test)
    expect = np.clip(np.floor(tf * n + 0.5), 1, np.maximum(n - 1, 1)).astype(int)
    expect[n < 2] = 0
    assert np.array_equal(n_test, expect)
    # never all: every user with items keeps at least one in train
    assert np.all(_distinct_items(train)[n > 0] >= 1)


def test_random_split_sizes_known_answer():
    df = pd.DataFrame({"user": ["a"] * 10 + ["b"] * 3 + ["c"], "item": list(range(10)) + [1, 2, 3, 4]})
    ds = hr.Dataset.from_frames(df)
    train, test = random_split(ds, test_fraction=0.2, seed=1)
    per_user = test.interactions.groupby("user").size().to_dict()
    # a: round(2.0) = 2, b: round(0.6) = 1, c: one item stays in train
    assert per_user == {"a": 2, "b": 1}
    assert set(train.interactions.loc[lambda d: d.user == "c", "item"]) == {4}


def test_random_split_moves_all_rows_of_a_pair():
    ds = small_world()
    train, test = random_split(ds, 0.3, seed=3, kinds="purchase")
    held = _pairs(test)
    # every row of the input whose pair is held out is in test, whatever its kind
    f = ds._inter
    n_rows_held = sum((u, i) in held for u, i in zip(f["user"], f["item"]))
    assert n_rows_held == test.n_interactions
    # held-out pairs are purchase pairs
    purchased = _pairs(ds.select_interactions(ds.kind_mask("purchase")))
    assert held <= purchased
    assert test.meta["split"]["part"] == "test" and train.meta["split"]["method"] == "random"


def test_random_split_deterministic_and_seed_dependent():
    ds = small_world()
    a = random_split(ds, 0.25, seed=7)
    b = random_split(ds, 0.25, seed=7)
    assert a[0].equals(b[0]) and a[1].equals(b[1])
    c = random_split(ds, 0.25, seed=8)
    assert not a[1].equals(c[1])
    # a SeedSequence works like its int
    d = random_split(ds, 0.25, seed=np.random.SeedSequence(7))
    assert d[1].equals(a[1])


def test_parts_share_everything_but_interactions():
    ds = small_world()
    train, test = random_split(ds, seed=0)
    for part in (train, test):
        assert part.n_social == ds.n_social
        assert part.items.equals(ds.items)
        assert part.n_users == ds.n_users and part.n_items == ds.n_items


@pytest.mark.parametrize("tf", [0, 1, -0.1, 1.5, float("nan")])
def test_bad_test_fraction(tf):
    with pytest.raises(ValueError, match="test_fraction"):
        random_split(small_world(), test_fraction=tf)


def test_bad_arguments():
    ds = small_world()
    with pytest.raises(TypeError, match="test_fraction"):
        random_split(ds, test_fraction="0.2")
    with pytest.raises(TypeError, match="Dataset"):
        random_split(ds.interactions)
    with pytest.raises(ValueError, match="kinds"):
        random_split(ds, kinds=["bought"])
    with pytest.raises(ValueError, match="kinds"):
        random_split(ds, kinds=[])
    with pytest.raises(TypeError, match="seed"):
        random_split(ds, seed=-1)
    with pytest.raises(ValueError, match="fraction"):
        validation_split(ds, fraction=1.0)


def test_validation_split_is_the_random_rule_on_train():
    ds = small_world()
    train, test = random_split(ds, 0.2, seed=0)
    fit, val = validation_split(train, 0.2, seed=1)
    assert fit.n_interactions + val.n_interactions == train.n_interactions
    assert not (_pairs(fit) & _pairs(val))
    assert not (_pairs(val) & _pairs(test))
    assert val.meta["split"]["part"] == "val"
    again = validation_split(train, 0.2, seed=1)
    assert again[1].equals(val)


# ------------------------------------------------------------------ temporal split
@_fast
@given(ds=worlds(), tf=st.floats(0.1, 0.9))
def test_temporal_quantile_invariants(ds, tf):
    ts = ds._inter["timestamp"].to_numpy()
    if ts.min() == ts.max():
        with pytest.raises(ValueError, match="empty"):
            temporal_split(ds, test_fraction=tf)
        return
    try:
        train, test = temporal_split(ds, test_fraction=tf)
    except ValueError as exc:  # a quantile cut that leaves a part empty is refused, not hidden
        assert "empty" in str(exc)
        return
    assert test.n_interactions > 0 and train.n_interactions > 0
    assert train._inter["timestamp"].max() < test._inter["timestamp"].min()
    assert not (_pairs(train) & _pairs(test))
    cut = test.meta["split"]["cut"]
    assert (train._inter["timestamp"] < cut).all() and (test._inter["timestamp"] >= cut).all()
    dropped = test.meta["split"]["rows_dropped"]
    assert train.n_interactions + test.n_interactions + dropped == ds.n_interactions


@_fast
@given(ds=worlds(), k=st.integers(1, 4))
def test_temporal_last_k_invariants(ds, k):
    train, test = temporal_split(ds, last_k=k)
    assert not (_pairs(train) & _pairs(test))
    tr, te = train._inter, test._inter
    for u, g in te.groupby("user"):
        t_train = tr.loc[tr["user"] == u, "timestamp"]
        assert len(t_train) > 0  # never all
        assert g["timestamp"].min() > t_train.max()
    n = _distinct_items(ds)
    n_test = _distinct_items(test)
    assert np.all(n_test <= np.maximum(n - 1, 0))
    # without ties, exactly min(k, n - 1) pairs per user with >= 2 pairs
    first = ds._inter.groupby(["user", "item"])["timestamp"].min().reset_index()
    no_ties = ~first.duplicated(["user", "timestamp"], keep=False)
    ok_users = set(first["user"]) - set(first.loc[~no_ties, "user"])
    for u in ok_users:
        if n[u] >= 2:
            assert n_test[u] == min(k, n[u] - 1)


def test_temporal_global_cut_values():
    df = pd.DataFrame(
        {
            "user": ["a", "a", "a", "b", "b", "b"],
            "item": [1, 2, 3, 1, 2, 1],
            "kind": ["purchase"] * 6,
            "timestamp": [10, 20, 30, 15, 25, 40],
            "order_id": ["o1", "o2", "o3", "o4", "o5", "o6"],
        }
    )
    ds = hr.Dataset.from_frames(df)
    train, test = temporal_split(ds, cut=25)
    assert sorted(zip(test.interactions.user, test.interactions.item)) == [("a", 3), ("b", 2)]
    # b's repeat purchase of item 1 at t=40 belongs to a train pair: dropped, counted
    assert test.meta["split"]["rows_dropped"] == 1
    assert train.n_interactions == 3
    # datetimes work as cuts
    t2 = temporal_split(ds, cut=pd.Timestamp(25, unit="s"))
    assert t2[1].equals(test)


def test_temporal_last_k_known_answer():
    df = pd.DataFrame(
        {
            "user": ["a"] * 4 + ["b"] * 2 + ["c"],
            "item": [1, 2, 3, 4, 1, 2, 9],
            "timestamp": [1, 2, 3, 4, 5, 5, 1],
        }
    )
    ds = hr.Dataset.from_frames(df)
    train, test = temporal_split(ds, last_k=2)
    got = sorted(zip(test.interactions.user, test.interactions.item))
    # a: items 3 and 4; b: both items tied at t=5 -> nothing (never all); c: one item
    assert got == [("a", 3), ("a", 4)]


def test_temporal_errors():
    ds = small_world()
    with pytest.raises(ValueError, match="at most one"):
        temporal_split(ds, test_fraction=0.2, last_k=1)
    with pytest.raises(ValueError, match="last_k"):
        temporal_split(ds, last_k=0)
    with pytest.raises(ValueError, match="test_fraction"):
        temporal_split(ds, test_fraction=1.2)
    with pytest.raises(ValueError, match="empty"):
        temporal_split(ds, cut=10**12)
    no_ts = hr.Dataset.from_frames(pd.DataFrame({"user": [1, 1], "item": [1, 2]}))
    with pytest.raises(ValueError, match="timestamps"):
        temporal_split(no_ts, last_k=1)


def test_temporal_deterministic():
    ds = small_world()
    a = temporal_split(ds, test_fraction=0.3)
    b = temporal_split(ds, test_fraction=0.3)
    assert a[0].equals(b[0]) and a[1].equals(b[1])
