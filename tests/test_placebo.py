"""Graph placebos (hr.trust.shuffle_social, hr.trust.drop_social): degrees kept, friends random,
everything but the social graph untouched, deterministic per seed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import haowurank as hr


def _world() -> hr.Dataset:
    return hr.datasets.synthetic(n_users=300, n_items=200, seed=4)


def _mixed() -> hr.Dataset:
    """A graph with mutual pairs, one-way rows, a hub and unequal weights."""
    gen = np.random.default_rng(0)
    rows = set()
    for u in range(60):
        for f in gen.choice(60, size=gen.integers(1, 8), replace=False):
            if f != u:
                rows.add((u, int(f)))
                if gen.random() < 0.4:
                    rows.add((int(f), u))
    rows |= {(u, 0) for u in range(1, 40)}  # a hub many follow
    social = pd.DataFrame(sorted(rows), columns=["user", "friend"])
    social["weight"] = 1.0 + (social["user"] % 3)
    inter = pd.DataFrame({"user": np.arange(60) % 60, "item": np.arange(60) % 7})
    return hr.Dataset.from_frames(interactions=inter, social=social)


def _degrees(ds: hr.Dataset):
    S = ds.social_matrix(weighted=False)
    M = S.multiply(S.T).tocsr()
    return S.getnnz(axis=1), S.getnnz(axis=0), M.getnnz(axis=1)


@pytest.mark.parametrize("make", [_world, _mixed])
@pytest.mark.parametrize("keep_reciprocity", [True, False])
def test_shuffle_keeps_degrees_and_is_simple(make, keep_reciprocity):
    ds = make()
    out = hr.trust.shuffle_social(ds, seed=7, keep_reciprocity=keep_reciprocity)
    s = out.indexed_social
    assert len(s) == ds.n_social > 0
    assert not (s["user"] == s["friend"]).any(), "self-follow"
    assert not s.duplicated(["user", "friend"]).any(), "repeated row"
    out_deg, in_deg, mutual_deg = _degrees(ds)
    o2, i2, m2 = _degrees(out)
    np.testing.assert_array_equal(o2, out_deg)
    np.testing.assert_array_equal(i2, in_deg)
    if keep_reciprocity:
        np.testing.assert_array_equal(m2, mutual_deg)
    # friends are new: most rows are not the real ones
    S, P = ds.social_matrix(weighted=False), out.social_matrix(weighted=False)
    assert S.multiply(P).nnz < 0.5 * S.nnz
    # each user keeps the weights of their own rows (as a multiset)
    for frame_a, frame_b in ((ds.indexed_social, s),):
        a = frame_a.groupby("user")["weight"].apply(sorted)
        b = frame_b.groupby("user")["weight"].apply(sorted)
        assert a.equals(b)


def test_shuffle_leaves_everything_else_untouched():
    ds = _world()
    out = hr.trust.shuffle_social(ds, seed=1)
    assert out.indexed_interactions.equals(ds.indexed_interactions)
    assert np.array_equal(out.user_ids, ds.user_ids) and np.array_equal(out.item_ids, ds.item_ids)
    assert out.indexed_blocks.equals(ds.indexed_blocks)
    assert out.indexed_audiences.equals(ds.indexed_audiences)
    assert out.item_metadata.equals(ds.item_metadata)
    assert (out.matrix(weight="binary") != ds.matrix(weight="binary")).nnz == 0
    assert not out.indexed_social.equals(ds.indexed_social)
    assert ds.indexed_social.equals(_world().indexed_social), "input mutated"


def test_shuffle_is_deterministic_per_seed():
    ds = _mixed()
    a = hr.trust.shuffle_social(ds, seed=3).indexed_social
    b = hr.trust.shuffle_social(ds, seed=3).indexed_social
    c = hr.trust.shuffle_social(ds, seed=4).indexed_social
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)
    g = hr.trust.shuffle_social(ds, seed=np.random.default_rng(3)).indexed_social
    assert len(g) == len(a)


def test_shuffle_makes_no_new_mutual_pairs_when_keeping_reciprocity():
    ds = _mixed()
    out = hr.trust.shuffle_social(ds, seed=11)
    S, P = ds.social_matrix(weighted=False), out.social_matrix(weighted=False)
    assert P.multiply(P.T).nnz == S.multiply(S.T).nnz


def test_drop_social():
    ds = _world()
    out = hr.trust.drop_social(ds)
    assert out.n_social == 0 and out.social_matrix().nnz == 0
    assert out.indexed_interactions.equals(ds.indexed_interactions)
    assert out.n_users == ds.n_users and ds.n_social > 0
    assert hr.trust.shuffle_social(out, seed=0).n_social == 0


def test_bad_input_is_named():
    with pytest.raises(TypeError, match="'ds' argument of shuffle_social"):
        hr.trust.shuffle_social(pd.DataFrame(), seed=0)
    with pytest.raises(TypeError, match="'ds' argument of drop_social"):
        hr.trust.drop_social(None)
    with pytest.raises(TypeError, match="'keep_reciprocity'"):
        hr.trust.shuffle_social(_world(), keep_reciprocity="yes")
    with pytest.raises(TypeError, match="'seed'"):
        hr.trust.shuffle_social(_world(), seed=-1)


def test_complete_graph_comes_back_complete():
    users = np.arange(4)
    social = pd.DataFrame([(u, f) for u in users for f in users if u != f], columns=["user", "friend"])
    inter = pd.DataFrame({"user": users, "item": users})
    ds = hr.Dataset.from_frames(interactions=inter, social=social)
    # every mutual pair already exists: a rewiring can only give the same graph back
    out = hr.trust.shuffle_social(ds, seed=0)
    assert out.social_matrix(weighted=False).nnz == 12
