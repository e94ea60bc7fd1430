"""friend_endorsements(tie_strength="adoption"): friends whose endorsements the user shares weigh
more; the default ("count") is unchanged; parameters are checked; save/load keeps the option."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import haowurank as hr


def _world() -> hr.Dataset:
    """u follows f1 and f2 mutually; u has f1's endorsed a, b, c and none of f2's d, e; f1 also
    endorsed x, f2 also endorsed y (both new to u)."""
    rows = [("u", "a", "purchase"), ("u", "b", "purchase"), ("u", "c", "purchase")]
    rows += [("f1", i, "recommend") for i in ("a", "b", "c", "x")]
    rows += [("f2", i, "recommend") for i in ("d", "e", "y")]
    rows += [("z", i, "purchase") for i in ("y", "d", "e", "x")]  # a fourth user, for popularity
    inter = pd.DataFrame(rows, columns=["user", "item", "kind"])
    social = pd.DataFrame([("u", "f1"), ("f1", "u"), ("u", "f2"), ("f2", "u")],
                          columns=["user", "friend"])
    return hr.Dataset.from_frames(interactions=inter, social=social)


def test_adoption_weighs_the_friend_the_user_agrees_with():
    ds = _world()
    count = hr.rankers.make("friend_endorsements").fit(ds)
    ids, sc = count.recommend("u", n=4)
    assert set(ids) == {"x", "y", "d", "e"} and np.allclose(sc, 1.0)  # one friend each
    r = hr.rankers.make("friend_endorsements", tie_strength="adoption", adoption_prior=5.0).fit(ds)
    ids, sc = r.recommend("u", n=4)
    assert ids[0] == "x"
    np.testing.assert_allclose(sc, [(3 + 1) / (4 + 5), 1 / (3 + 5), 1 / (3 + 5), 1 / (3 + 5)],
                               rtol=1e-6)
    # batch equals single
    both, _ = r.recommend(["u", "f1"], n=4)
    assert list(both[0]) == list(ids)


def test_adoption_survives_save_and_load(tmp_path):
    ds = _world()
    r = hr.rankers.make("friend_endorsements", tie_strength="adoption", adoption_prior=2.0).fit(ds)
    r.save(tmp_path / "r")
    r2 = hr.load_ranker(tmp_path / "r")
    a, sa = r.recommend(["u", "f1", "f2"], n=3)
    b, sb = r2.recommend(["u", "f1", "f2"], n=3)
    assert (a == b).all() and np.array_equal(sa, sb)
    assert r2.get_params()["tie_strength"] == "adoption"


@pytest.mark.parametrize("params, match", [
    ({"tie_strength": "learned"}, "'tie_strength' parameter of FriendEndorsementRanker"),
    ({"tie_strength": "adoption", "adoption_prior": 0.0}, "'adoption_prior'"),
    ({"adoption_prior": float("nan")}, "'adoption_prior'"),
    ({"adoption_prior": True}, "'adoption_prior'"),
])
def test_bad_parameters_are_named(params, match):
    with pytest.raises(ValueError, match=match):
        hr.rankers.make("friend_endorsements", **params).fit(_world())
