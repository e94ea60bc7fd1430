"""Reusable contract tests that every ranker passes (after implicit's ``RecommenderBaseTestMixin``,
lkpy's ``ScorerTests`` and scikit-learn's ``estimator_checks``).

Use it in a test module::

    class TestMyRanker(RankerContract):
        name = "my_ranker"
        params = {"factors": 8}

``small_world()`` builds the small, fully known Dataset the contract runs on.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest

from ._dataset import Dataset
from ._errors import NotFittedError

__all__ = ["RankerContract", "small_world"]


def small_world(seed: int = 0, n_users: int = 60, n_items: int = 40) -> Dataset:
    """A small social-commerce world with two taste communities, friends inside each community,
    purchases, endorsements of both kinds, views, timestamps and item metadata.
    """
    rng = np.random.default_rng(seed)
    users = [f"u{k}" for k in range(n_users)]
    items = list(range(100, 100 + n_items))
    group_u = np.arange(n_users) % 2
    group_i = np.arange(n_items) % 2
    rows = []
    for u in range(n_users):
        liked = np.flatnonzero(group_i == group_u[u])
        other = np.flatnonzero(group_i != group_u[u])
        picks = np.concatenate([rng.choice(liked, 6, replace=False), rng.choice(other, 1)])
        for j, it in enumerate(picks):
            kind = ("purchase", "recommend_after_purchase", "recommend", "view")[j % 4]
            rows.append((users[u], items[it], kind, float(1 + rng.integers(3)), int(1000 + u * 10 + j)))
    inter = pd.DataFrame(rows, columns=["user", "item", "kind", "weight", "timestamp"])
    soc = []
    for u in range(n_users):
        same = np.flatnonzero((group_u == group_u[u]) & (np.arange(n_users) != u))
        for f in rng.choice(same, 3, replace=False):
            soc.append((users[u], users[f]))
            soc.append((users[f], users[u]))
    social = pd.DataFrame(soc, columns=["user", "friend"]).drop_duplicates()
    meta = pd.DataFrame(
        {
            "item": items,
            "title": [f"item {i} {'shoes' if i % 2 else 'tea'}" for i in items],
            "category": ["shoes" if i % 2 else "tea" for i in items],
            "merchant": [f"m{i % 5}" for i in items],
            "price": [10.0 + i % 7 for i in items],
        }
    )
    return Dataset.from_frames(inter, social, items=meta)


class RankerContract:
    """Shared contract every strategy passes. Subclasses set ``name`` and ``params``."""

    name: ClassVar[str] = ""
    params: ClassVar[dict[str, Any]] = {}

    @classmethod
    def make(cls):
        from . import rankers

        return rankers.make(cls.name, **copy.deepcopy(cls.params))

    @pytest.fixture(scope="class")
    @classmethod
    def world(cls) -> Dataset:
        return small_world()

    @pytest.fixture(scope="class")
    @classmethod
    def fitted(cls, world):
        return cls.make().fit(world)

    def test_in_available(self):
        from . import rankers

        assert self.name in rankers.available()

    def test_defaults_construct(self):
        from . import rankers

        r = rankers.make(self.name)
        assert r.name == self.name

    def test_init_stores_params_unchanged(self):
        r = self.make()
        for k, v in self.params.items():
            assert getattr(r, k) == v

    def test_fit_returns_self_and_keeps_params(self, world):
        r = self.make()
        before = copy.deepcopy(r.get_params())
        assert r.fit(world) is r
        assert r.get_params() == before

    def test_not_fitted_error(self, world):
        r = self.make()
        with pytest.raises(NotFittedError, match="not fitted"):
            r.recommend(world.user_ids[0], n=5)

    def test_bad_n(self, fitted, world):
        with pytest.raises(ValueError, match="'n' parameter"):
            fitted.recommend(world.user_ids[0], n=0)

    def test_shapes_sorted_and_unique(self, fitted, world):
        ids, sc = fitted.recommend(list(world.user_ids[:10]), n=7)
        assert ids.shape == (10, 7) and sc.shape == (10, 7)
        for row_ids, row in zip(ids, sc):
            fin = np.isfinite(row)
            assert np.all(np.diff(row[fin]) <= 1e-6)
            assert len(set(row_ids[fin].tolist())) == int(fin.sum())
            # pads only at the end
            assert not fin[np.argmin(fin):].any() or fin.all()

    def test_batch_equals_single(self, fitted, world):
        users = list(world.user_ids[:8])
        ids, sc = fitted.recommend(users, n=6)
        for k, u in enumerate(users):
            i1, s1 = fitted.recommend(u, n=6)
            np.testing.assert_array_equal(i1, ids[k])
            np.testing.assert_allclose(s1, sc[k], rtol=1e-5, atol=1e-6)

    def test_exclude_seen(self, fitted, world):
        users = list(world.user_ids[:10])
        ids, sc = fitted.recommend(users, n=10, exclude_seen=True)
        inter = world.interactions
        for k, u in enumerate(users):
            seen = set(inter.loc[inter["user"] == u, "item"].tolist())
            assert not (set(ids[k][np.isfinite(sc[k])].tolist()) & seen)

    def test_unknown_user_gets_fallback(self, fitted):
        ids, sc = fitted.recommend("no-such-user", n=5)
        assert ids.shape == (5,)
        assert np.isfinite(sc).all()

    def test_recommend_frame(self, fitted, world):
        users = list(world.user_ids[:3])
        f = fitted.recommend_frame(users, n=4)
        assert list(f.columns) == ["user", "item", "score", "rank"]
        assert set(f["user"]) <= set(users)
        assert (f.groupby("user")["rank"].min() == 1).all()

    def test_second_fit_equals_fresh_fit(self, world):
        r = self.make().fit(world)
        a = r.recommend(list(world.user_ids[:5]), n=5)
        r.fit(world)
        b = r.recommend(list(world.user_ids[:5]), n=5)
        np.testing.assert_array_equal(a[0], b[0])

    def test_save_load_identical(self, fitted, world, tmp_path):
        from . import rankers

        path = fitted.save(tmp_path / "r.npz")
        r2 = rankers.load_ranker(path)
        users = list(world.user_ids) + ["no-such-user"]
        a = fitted.recommend(users, n=8)
        b = r2.recommend(users, n=8)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])

    def test_explain(self, fitted, world):
        u = world.user_ids[0]
        ids, sc = fitted.recommend(u, n=3)
        e = fitted.explain(u, ids[0])
        assert e["item"] == ids[0] and isinstance(e["text"], str) and e["text"]
        assert np.isclose(e["score"], sc[0], rtol=1e-4, atol=1e-5)

    def test_restrict_items(self, fitted, world):
        allowed = list(world.item_ids[:5])
        ids, sc = fitted.recommend(world.user_ids[0], n=5, items=allowed, exclude_seen=False)
        assert set(ids[np.isfinite(sc)].tolist()) <= set(allowed)

    def test_frame_matches_arrays(self, fitted, world):
        u = world.user_ids[1]
        ids, sc = fitted.recommend(u, n=5)
        f = fitted.recommend_frame(u, n=5)
        fin = np.isfinite(sc)
        assert f["item"].tolist() == ids[fin].tolist()
        assert isinstance(f, pd.DataFrame)

    # ------------------------------------------------------------------ the public contract
    def test_capabilities_are_declared_booleans(self):
        from . import rankers

        cls = type(self.make())
        assert cls is rankers.STRATEGIES.get(self.name, cls)
        for attr in ("user_dependent", "has_factors", "uses_social", "handles_empty_users"):
            assert isinstance(getattr(cls, attr), bool), attr
        assert set(cls.param_names()) == set(self.make().get_params())

    def test_check_fitted(self, fitted, world):
        fitted.check_fitted()
        with pytest.raises(NotFittedError, match="not fitted"):
            self.make().check_fitted()
        with pytest.raises(NotFittedError, match="not fitted"):
            self.make().score_pairs([world.user_ids[0]], [world.item_ids[0]])

    def test_score_pairs_equal_dense_scores(self, fitted, world):
        users = [*world.user_ids[:6], "no-such-user"]
        dense = np.asarray(fitted.score(users), dtype=np.float32)
        rng = np.random.default_rng(0)
        cols = rng.integers(0, world.n_items, size=(len(users), 5))
        u = np.repeat(np.arange(len(users)), 5)
        pairs = fitted.score_pairs([users[k] for k in u], world.item_ids[cols.ravel()].tolist())
        want = dense[u, cols.ravel()]
        np.testing.assert_allclose(pairs, want, rtol=1e-4, atol=1e-5)
        assert np.isnan(fitted.score_pairs([users[0]], ["no-such-item"]))[0]
        with pytest.raises(ValueError, match="same length"):
            fitted.score_pairs(users[:2], world.item_ids[:3].tolist())

    def test_index_level_methods_equal_id_level(self, fitted, world):
        users = list(world.user_ids[:6])
        uidx = np.r_[np.arange(6), -1]
        rows = fitted.score_rows(uidx)
        np.testing.assert_allclose(rows[:6], fitted.score(users), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(rows[6], fitted.score("no-such-user"), rtol=1e-5, atol=1e-6)
        iidx = np.arange(world.n_items)
        for k, u in enumerate(uidx):
            np.testing.assert_allclose(
                fitted.score_pairs_at(np.full(world.n_items, u), iidx), rows[k],
                rtol=1e-4, atol=1e-5)
        idx, sc = fitted.recommend_at(uidx, 5)
        ids, sc2 = fitted.recommend([*users, "no-such-user"], n=5)
        np.testing.assert_array_equal(fitted.item_ids_[np.maximum(idx, 0)][idx >= 0],
                                      ids[idx >= 0])
        np.testing.assert_allclose(sc, sc2, rtol=1e-5, atol=1e-6)
        with pytest.raises(IndexError, match=r"\[-1, "):
            fitted.score_rows(np.asarray([len(world.user_ids) + 5]))

    def test_candidates_are_the_top_of_the_ranking(self, fitted, world):
        users = list(world.user_ids[:4])
        ids, sc = fitted.candidates(users, n=6)
        ref_ids, ref_sc = fitted.recommend(users, n=6)
        assert ids.shape == (4, 6)
        np.testing.assert_allclose(sc, ref_sc, rtol=1e-5, atol=1e-6)

    def test_declared_capabilities_hold(self, fitted, world):
        uidx = np.flatnonzero(np.diff(fitted.seen_.indptr) > 0)[:8]
        rows = fitted.score_rows(uidx)
        f = fitted.latent_factors()
        assert (f is not None) == fitted.has_factors
        if fitted.has_factors:
            uf, itf = f
            assert uf.shape[0] == len(fitted.user_ids_) and itf.shape[0] == len(fitted.item_ids_)
            np.testing.assert_allclose(uf[uidx] @ itf.T, rows, rtol=1e-4, atol=1e-5)
        shared = fitted.shared_scores()
        assert (shared is None) == fitted.user_dependent
        if not fitted.user_dependent:
            np.testing.assert_array_equal(rows, np.broadcast_to(shared, rows.shape))

    def test_learned_arrays_are_arrays(self, fitted):
        arrays = fitted.learned_arrays()
        assert "fallback" in arrays and all(isinstance(a, np.ndarray) for a in arrays.values())
