"""The hybrid ranker: the shared contract, its own properties, and a known-answer world."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import haowurank as hr
from haowurank.rankers._hybrid import FEATURES
from haowurank.rankers._hybrid_features import REGISTRY, block_feature, feature_block, pair_features
from haowurank.testing import RankerContract, small_world

try:
    from haowurank.datasets import true_utility
except ImportError:  # not re-exported yet
    from haowurank.datasets._synthetic import true_utility

# a linear score (spline_knots=0), whose identities the first tests check; SPLINE: the default
SMALL = {"als": {"factors": 8, "iterations": 3, "num_threads": 1}, "ease_items": 30,
         "n_candidates": 10, "n_random": 5, "spline_knots": 0}


class TestHybridContract(RankerContract):
    name = "hybrid"
    params = SMALL


@pytest.fixture(scope="module")
def world():
    return small_world()


@pytest.fixture(scope="module")
def fitted(world):
    return hr.rankers.make("hybrid", **SMALL).fit(world)


def test_learned_state(fitted):
    assert fitted.weights_.shape == (len(FEATURES),)
    assert np.isfinite(fitted.weights_).all() and np.isfinite(fitted.intercept_)
    info = fitted.fit_info_
    assert info["rows"] > info["positives"] > 0 and 0.5 < info["auc"] <= 1.0


def test_score_is_intercept_plus_weighted_features(fitted, world):
    users = list(world.user_ids[:3])
    items = list(world.item_ids[:7])
    s = fitted.score(users, items)
    for k, u in enumerate(users):
        f = fitted.feature_values(u, items)
        expect = fitted.intercept_ + f.to_numpy() @ fitted.weights_
        np.testing.assert_allclose(s[k], expect, rtol=1e-4, atol=1e-4)


def test_explanation_contributions(fitted, world):
    u = world.user_ids[4]
    ids, sc = fitted.recommend(u, n=3)
    e = fitted.explain(u, ids[0])
    assert set(e["terms"]) == set(FEATURES) and set(e["features"]) == set(FEATURES)
    # contributions are relative to the average training row: they add up to the score
    base = fitted.intercept_ + float(fitted.feature_mean_ @ fitted.weights_)
    assert base + sum(e["terms"].values()) == pytest.approx(sc[0], rel=1e-4, abs=1e-4)
    assert set(e["friends"]) <= set(world.social.loc[world.social["user"] == u, "friend"])


def test_user_with_only_friends_gets_social_items(world):
    """A known user without interactions is scored by the model; friends' items come first."""
    import pandas as pd

    social = pd.concat([world.social[["user", "friend"]],
                        pd.DataFrame({"user": ["newbie"] * 3, "friend": ["u0", "u2", "u4"]})])
    inter = world.interactions[["user", "item", "kind", "weight", "timestamp"]]
    ds = hr.Dataset.from_frames(inter, social)
    r = hr.rankers.make("hybrid", **SMALL).fit(ds)
    ids, sc = r.recommend("newbie", n=3)
    friend_items = set(inter.loc[inter["user"].isin(["u0", "u2", "u4"]), "item"])
    assert np.isfinite(sc).all() and ids[0] in friend_items


def test_deterministic(world):
    a = hr.rankers.make("hybrid", **SMALL).fit(world)
    b = hr.rankers.make("hybrid", **SMALL).fit(world)
    np.testing.assert_array_equal(a.weights_, b.weights_)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"ease_items": -1}, "ease_items"),
        ({"validation_fraction": 1.0}, "validation_fraction"),
        ({"C": 0}, "'C'"),
        ({"als": {"factors": 0}}, "factors"),
        ({"als": 3}, "'als'"),
        ({"refit": "partial"}, "'refit'"),
        ({"als_choice_iterations": 0}, "als_choice_iterations"),
        ({"rp3beta": None}, "'rp3beta'"),
        ({"rp3beta": {"beta": -1.0}}, "'beta'"),
    ],
)
def test_bad_params(world, params, match):
    with pytest.raises(ValueError, match=match):
        hr.rankers.make("hybrid", **params).fit(world)


# ------------------------------------------------------------------ known answer
@pytest.fixture(scope="module")
def synthetic_world():
    return hr.datasets.synthetic(n_users=800, n_items=300, seed=7)


def _mean_true_utility(ranker, ds, users_idx, n=10):
    ids, _ = ranker.recommend(list(ds.user_ids[users_idx]), n=n)
    util = true_utility(ds, users_idx)
    idx = ds.item_index(ids.ravel(), missing="ignore").reshape(ids.shape)
    vals = np.take_along_axis(util, np.maximum(idx, 0), axis=1)
    # mean over the items actually listed: a social ranker lists only what the user may see
    # (shorter lists than n for some users)
    return float(np.nanmean(np.where(idx >= 0, vals, np.nan)))


def test_trust_and_hybrid_rank_truly_better_items_than_popularity(synthetic_world):
    ds = synthetic_world
    users_idx = np.flatnonzero(np.diff(ds.matrix(weight="binary").indptr) > 0)[:400]
    pop = hr.rankers.make("popularity").fit(ds)
    tr = hr.rankers.make("trust").fit(ds)
    hy = hr.rankers.make("hybrid", als={"factors": 16, "iterations": 5}).fit(ds)
    u_pop = _mean_true_utility(pop, ds, users_idx)
    u_tr = _mean_true_utility(tr, ds, users_idx)
    u_hy = _mean_true_utility(hy, ds, users_idx)
    # the truly best possible top-10 (seen items excluded) bounds everything
    util = true_utility(ds, users_idx)
    seen = ds.matrix(weight="binary")[users_idx]
    util[seen.nonzero()] = -np.inf
    best = float(np.sort(util, axis=1)[:, -10:].mean())
    assert u_tr > u_pop and u_hy > u_pop
    assert u_hy <= best and u_tr <= best


def test_dense_scores_equal_pair_features_everywhere(fitted, world):
    """The fast dense path is ``intercept + features @ weights`` at every (user, item)."""
    parts = fitted.parts_
    users = np.arange(6)
    blk = feature_block(parts, users)
    r, c = np.divmod(np.arange(len(users) * world.n_items), world.n_items)
    X = pair_features(parts, blk, r, c)
    expect = (fitted.intercept_ + X.astype(np.float64) @ fitted.weights_).reshape(len(users), -1)
    np.testing.assert_allclose(fitted._score(users), expect, rtol=1e-4, atol=1e-4)
    # training rows are feature rows of real pairs
    val = sp.csr_matrix(parts.binary)  # labels do not matter here
    Xt, _, _, _ = fitted._training_rows(parts, val, users, np.random.default_rng(0))
    grid = {tuple(np.round(x, 4)) for x in X}
    assert len(Xt) and all(tuple(np.round(x, 4)) in grid for x in Xt)


def test_every_registered_feature_is_the_same_at_pairs_and_over_a_block(fitted, world):
    """Each feature is defined once: its value over a whole block of users equals its value at
    every pair, feature by feature (EASE head, metadata, time and social features included)."""
    assert tuple(REGISTRY) == FEATURES and all(REGISTRY[f].description for f in FEATURES)
    parts = fitted.parts_
    assert len(parts.ease_idx) and parts.user_category is not None
    users = np.arange(7)
    blk = feature_block(parts, users)
    r, c = np.divmod(np.arange(len(users) * world.n_items), world.n_items)
    X = pair_features(parts, blk, r, c)
    nonzero = 0
    for j, name in enumerate(FEATURES):
        B = block_feature(parts, blk, name)
        assert B.shape == (len(users), world.n_items) and B.dtype == np.float32
        np.testing.assert_allclose(B.ravel(), X[:, j], rtol=1e-5, atol=1e-6, err_msg=name)
        nonzero += bool(np.abs(X[:, j]).max() > 0)
    assert nonzero == len(FEATURES) - 2  # all but rp3 and rp3_norm (the component is off)


def test_artifact_array_names_are_the_saved_format(fitted):
    """Saved artifacts keep their array names (rankers/_io.py format): a linear model with the
    EASE head and item metadata, components under ``<key>/``."""
    csr = lambda name: {f"hy.{name}.{p}" for p in ("data", "indices", "indptr", "shape")}  # noqa: E731
    expect = {
        "hy.als_factors", "hy.category", "hy.category_rate", "hy.coef", "hy.ease_B",
        "hy.ease_idx", "hy.features", "hy.intercept", "hy.item_period", "hy.item_time",
        "hy.mean", "hy.merchant", "hy.popularity", "hy.scale", "hy.user_period", "hy.user_time",
        "hy.weights", *csr("friends"), *csr("uknn"), *csr("user_category"),
        *csr("user_merchant"),
    }
    arrays = fitted.learned_arrays()
    assert {k for k in arrays if k.startswith("hy.")} == expect
    assert {k.split("/")[0] for k in arrays if "/" in k} == {"als", "knn", "knn2", "trust"}


def test_pointwise_objective_and_ease_head(world):
    r = hr.rankers.make("hybrid", **{**SMALL, "objective": "pointwise", "ease_items": 20}).fit(world)
    assert np.isfinite(r.weights_).all() and r.parts_.ease_B.shape == (20, 20)
    ids, sc = r.recommend(list(world.user_ids[:4]), n=5)
    assert np.isfinite(sc).all()


def test_user_neighbours_known_answer():
    from haowurank.rankers._hybrid_neighbours import user_neighbours

    X = sp.csr_matrix(np.array([[1, 1, 0, 0], [1, 1, 0, 0], [1, 0, 1, 0], [0, 0, 0, 1]], float))
    S = user_neighbours(X, 1, budget=3).toarray()
    # user 0's nearest is user 1 (identical sets, cosine 1); user 3 shares nothing with anyone
    assert S[0, 1] == pytest.approx(1.0) and S[1, 0] == pytest.approx(1.0)
    assert S[2, 0] == pytest.approx(0.5) and S[2, 1] == 0  # a tie: the lower index is kept
    assert S[3].sum() == 0 and np.diag(S).sum() == 0


def test_fast_recommend_equals_full_ranking_when_retrieval_covers_the_catalogue(fitted, world):
    users = list(world.user_ids[:12]) + ["no-such-user"]
    fast = fitted.recommend(users, n=8)  # 100 candidates per component > 40 items: all of them
    full = hr.rankers.make("hybrid", **{**SMALL, "n_recommend_candidates": 0}).fit(world)
    slow = full.recommend(users, n=8)
    np.testing.assert_array_equal(fast[0], slow[0])
    np.testing.assert_allclose(fast[1], slow[1], rtol=1e-5, atol=1e-5)


def test_save_load_with_defence(world, tmp_path):
    r = hr.rankers.make("hybrid", **SMALL, defence=True).fit(world)
    r2 = hr.load_ranker(r.save(tmp_path / "h.npz"))
    users = list(world.user_ids[:10])
    np.testing.assert_array_equal(r.recommend(users, n=6)[0], r2.recommend(users, n=6)[0])


def test_als_size_is_chosen_on_the_inner_validation_split(world, tmp_path):
    params = {**SMALL, "als": {"iterations": 3, "num_threads": 1}, "als_factors": (2, 16)}
    r = hr.rankers.make("hybrid", **params).fit(world)
    choice = r.fit_info_["als_choice"]
    assert set(choice) == {"2", "16"}
    best = max(choice.items(), key=lambda kv: (kv[1], -int(kv[0])))
    assert r.als_factors_ == int(best[0])
    assert r.parts_.als.model_.user_factors.shape[1] >= r.als_factors_  # refit with that size
    back = hr.load_ranker(r.save(str(tmp_path / "h")))
    assert back.als_factors_ == r.als_factors_
    np.testing.assert_array_equal(back.recommend(world.user_ids[:5], n=5)[0],
                                  r.recommend(world.user_ids[:5], n=5)[0])
    # a caller's size is used as given (no choice)
    fixed = hr.rankers.make("hybrid", **SMALL).fit(world)
    assert fixed.als_factors_ == 8 and fixed.fit_info_["als_choice"] == {}
    with pytest.raises(ValueError, match="als_factors"):
        hr.rankers.make("hybrid", als_factors=()).fit(world)


def test_retrieval_respects_a_candidate_set(fitted, world):
    users = list(world.user_ids[:6])
    subset = list(world.item_ids[::4])
    ids, sc = fitted.recommend(users, n=5, items=subset)
    got = set(ids[np.isfinite(sc)].ravel().tolist())
    assert got and got <= set(subset)
    # retrieving every item: the learned score of every allowed unseen item, as the dense path
    wide = hr.rankers.make("hybrid", **{**SMALL, "n_recommend_candidates": 10_000}).fit(world)
    dense = hr.rankers.make("hybrid", **{**SMALL, "n_recommend_candidates": 0}).fit(world)
    a_ids, a_sc = wide.recommend(users, n=5, items=subset)
    b_ids, b_sc = dense.recommend(users, n=5, items=subset)
    np.testing.assert_allclose(a_sc, b_sc, rtol=1e-4, atol=1e-4)
    assert (a_ids == b_ids).mean() > 0.9  # equal up to ties in float32 rounding


def test_short_als_choice_compares_sizes_cheaply_then_fits_the_chosen_size_in_full(world):
    params = {**SMALL, "als": {"iterations": 6, "num_threads": 1}, "als_factors": (2, 16)}
    full = hr.rankers.make("hybrid", **params, als_choice_iterations=None).fit(world)
    short = hr.rankers.make("hybrid", **params, als_choice_iterations=1).fit(world)
    assert set(short.fit_info_["als_choice"]) == {"2", "16"}
    # the sizes were compared after 1 sweep, not 6: other validation scores
    assert short.fit_info_["als_choice"] != full.fit_info_["als_choice"]
    best = max(short.fit_info_["als_choice"].items(), key=lambda kv: (kv[1], -int(kv[0])))
    assert short.als_factors_ == int(best[0])
    # ... and the component that serves is fitted with its own 6 sweeps at the chosen size
    assert short.parts_.als.iterations == 6
    assert short.parts_.als.model_.user_factors.shape[1] >= short.als_factors_


def test_fold_in_refit_keeps_inner_similarities_and_folds_in_every_training_row(world):
    params = {**SMALL, "defence": None}
    full = hr.rankers.make("hybrid", **params).fit(world)
    fold = hr.rankers.make("hybrid", **params, refit="fold_in").fit(world)
    knn_all = hr.rankers.make("item_knn", K=200).fit(world)
    # full refit: the item-kNN component is the one fitted on all training rows
    assert (full.parts_.knn.knn_.similarity != knn_all.knn_.similarity).nnz == 0
    # fold-in: similarities come from the inner fit part (fewer rows), ...
    assert (fold.parts_.knn.knn_.similarity != knn_all.knn_.similarity).nnz > 0
    # ... but every training row is in the components' user rows and seen items
    for key in ("als", "knn", "knn2"):
        comp = getattr(fold.parts_, key)
        assert (comp.seen_ != full.seen_).nnz == 0, key
        other = getattr(full.parts_, key)
        assert (comp.cf_raw_ != other.cf_raw_).nnz == 0, key
        # same pattern; BM25 re-weights folded rows with the fit part's statistics
        assert (comp.cf_.astype(bool) != other.cf_.astype(bool)).nnz == 0, key
    ids, sc = fold.recommend(list(world.user_ids), n=5)
    idx = world.item_index(ids[np.isfinite(sc)].ravel(), missing="ignore")
    rows = np.repeat(np.arange(world.n_users), np.isfinite(sc).sum(axis=1))
    assert not np.asarray(full.seen_[rows, idx]).any()  # seen items never come back


# ---------------------------------------------------------------- spline (GAM-style) scores
SPLINE = {k: v for k, v in SMALL.items() if k != "spline_knots"}  # the default: 3 knots


class TestHybridSplineContract(RankerContract):
    name = "hybrid"
    params = SPLINE


@pytest.fixture(scope="module")
def fitted_spline(world):
    return hr.rankers.make("hybrid", **SPLINE).fit(world)


def test_feature_splines_equal_their_basis_and_sklearn():
    """terms() is the basis times the coefficients, constant outside the knots, and the basis
    equals scikit-learn's SplineTransformer on the same knots (a feature without spread: none)."""
    from sklearn.preprocessing import SplineTransformer

    from haowurank.rankers._splines import FeatureSplines

    gen = np.random.default_rng(0)
    X = np.c_[gen.exponential(size=500), gen.normal(size=500), np.zeros(500)]
    fs = FeatureSplines.from_quantiles(X, 5)
    assert list(fs.sizes) == [7, 7, 0] and fs.n_basis == 14
    coef = gen.normal(size=fs.n_basis)
    Xq = np.r_[X[:50], [[-5.0, -50.0, 1.0], [50.0, 50.0, -1.0]]]  # two rows outside the knots
    B = fs.basis(Xq)
    T = fs.terms(Xq, coef)
    np.testing.assert_allclose(T[:, 0], B[:, :7] @ coef[:7], atol=1e-10)
    np.testing.assert_allclose(T[:, 1], B[:, 7:] @ coef[7:], atol=1e-10)
    assert (T[:, 2] == 0).all()
    lo, hi = X.min(axis=0), X.max(axis=0)
    np.testing.assert_allclose(T[-2, :2], fs.terms(lo[None, :], coef)[0, :2])
    np.testing.assert_allclose(T[-1, :2], fs.terms(hi[None, :], coef)[0, :2])
    knots = np.quantile(X[:, :2], np.linspace(0, 1, 5), axis=0)
    st = SplineTransformer(knots=knots, degree=3, extrapolation="constant").fit(X[:, :2])
    np.testing.assert_allclose(B[:50], st.transform(Xq[:50, :2]), atol=1e-10)
    again = FeatureSplines.from_arrays(**fs.to_arrays())
    np.testing.assert_array_equal(again.terms(Xq, coef), T)


def test_spline_scores_equal_pair_features_and_explanations_add_up(fitted_spline, world):
    r = fitted_spline
    assert r.splines_ is not None and len(r.spline_coef_) == r.splines_.n_basis > 0
    assert np.abs(r.spline_coef_).max() > 0
    parts, users = r.parts_, np.arange(5)
    blk = feature_block(parts, users)
    rr, cc = np.divmod(np.arange(len(users) * world.n_items), world.n_items)
    X = pair_features(parts, blk, rr, cc).astype(np.float64)
    expect = (r.intercept_ + X @ r.weights_
              + r.splines_.terms(X, r.spline_coef_).sum(axis=1)).reshape(len(users), -1)
    np.testing.assert_allclose(r._score(users), expect, rtol=1e-4, atol=1e-4)
    # the spline terms change the ranking: the linear part alone orders the pairs differently
    linear = (r.intercept_ + X @ r.weights_).reshape(len(users), -1)
    assert not np.allclose(linear, expect)
    u = world.user_ids[3]
    ids, sc = r.recommend(u, n=3)
    e = r.explain(u, ids[0])
    mean = r.feature_mean_[None, :]
    base = (r.intercept_ + float(r.feature_mean_ @ r.weights_)
            + r.splines_.terms(mean, r.spline_coef_).sum())
    assert base + sum(e["terms"].values()) == pytest.approx(sc[0], rel=1e-4, abs=1e-4)
    assert "feature shapes" in e["text"]


def test_spline_save_load_and_determinism(fitted_spline, world, tmp_path):
    r2 = hr.load_ranker(fitted_spline.save(tmp_path / "hs.npz"))
    users = list(world.user_ids[:10])
    a, b = fitted_spline.recommend(users, n=6), r2.recommend(users, n=6)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_allclose(a[1], b[1], rtol=1e-6)
    again = hr.rankers.make("hybrid", **SPLINE).fit(world)
    np.testing.assert_array_equal(again.spline_coef_, fitted_spline.spline_coef_)


@pytest.mark.parametrize("params, match", [
    ({"spline_knots": 1}, "spline_knots"),
    ({"objective": "pointwise"}, "spline_knots"),  # the default splines need pairs
])
def test_bad_spline_params(world, params, match):
    with pytest.raises(ValueError, match=match):
        hr.rankers.make("hybrid", **params).fit(world)


def test_spline_state_whose_coefficients_do_not_fit_the_knots_is_refused(fitted_spline):
    import copy

    arrays = dict(fitted_spline._state())
    arrays["hy.spline_coef"] = arrays["hy.spline_coef"][:-1]
    with pytest.raises(hr.ArtifactError, match="spline coefficients"):
        copy.deepcopy(fitted_spline)._set_state(arrays)


# ---------------------------------------------------------------- the optional RP3beta component
RP3 = {**SMALL, "rp3beta": {"K": 20}, "defence": None}


class TestHybridRP3Contract(RankerContract):
    name = "hybrid"
    params = RP3


def test_rp3beta_component_features_retrieval_and_state(world, tmp_path):
    """With ``rp3beta`` set, the rp3 features are the component's own scores, the linear
    dense path still equals the pair features, save/load and fold-in keep it; without it the
    features are 0 and no component is stored."""
    r = hr.rankers.make("hybrid", **RP3).fit(world)
    rp3 = hr.rankers.make("rp3beta", K=20).fit(world)
    assert (r.parts_.rp3.W_ != rp3.W_).nnz == 0  # refitted on all the training data
    parts, users = r.parts_, np.arange(6)
    blk = feature_block(parts, users)
    rr, cc = np.divmod(np.arange(len(users) * world.n_items), world.n_items)
    X = pair_features(parts, blk, rr, cc)
    own = rp3._score(users).ravel()
    np.testing.assert_allclose(X[:, FEATURES.index("rp3")], own, rtol=1e-5, atol=1e-7)
    assert (X[:, FEATURES.index("rp3")] > 0).any()
    expect = (r.intercept_ + X.astype(np.float64) @ r.weights_).reshape(len(users), -1)
    np.testing.assert_allclose(r._score(users), expect, rtol=1e-4, atol=1e-4)
    again = hr.load_ranker(r.save(tmp_path / "rp3.npz"))
    a, b = r.recommend(list(world.user_ids[:8]), n=5), again.recommend(list(world.user_ids[:8]), n=5)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_allclose(a[1], b[1], rtol=1e-6)
    fold = hr.rankers.make("hybrid", **RP3, refit="fold_in").fit(world)
    assert (fold.parts_.rp3.seen_ != r.seen_).nnz == 0  # every training row folded in
    off = hr.rankers.make("hybrid", **SMALL).fit(world)
    assert off.parts_.rp3 is None and not any(k.startswith("rp3/") for k in off._state())
    Xo = pair_features(off.parts_, feature_block(off.parts_, users), rr, cc)
    assert (Xo[:, FEATURES.index("rp3")] == 0).all()


def test_artifact_without_a_component_it_needs_is_refused(world, tmp_path):
    off = hr.rankers.make("hybrid", **SMALL).fit(world)
    arrays = off._state()
    on = hr.rankers.make("hybrid", **RP3)
    on.user_ids_, on.item_ids_, on.seen_ = off.user_ids_, off.item_ids_, off.seen_
    on.fallback_ = off.fallback_
    with pytest.raises(hr.ArtifactError, match="'rp3' component"):
        on._set_state(arrays)


def test_social_als_component_features_state_and_size_choice(world, tmp_path):
    """An ``als`` dict naming a social_als parameter makes the ALS component social ALS: the
    als feature is its score (friends' factors smooth the user's), save/load, fold-in and the
    size choice keep it; without one the component stays plain ALS."""
    social = {**SMALL["als"], "social_reg": 0.5, "social_weight": 0.0}
    r = hr.rankers.make("hybrid", **{**SMALL, "als": social}).fit(world)
    assert isinstance(r.parts_.als, hr.rankers.SocialALSRanker)
    assert r.parts_.als.social_reg == 0.5
    plain = hr.rankers.make("hybrid", **SMALL).fit(world)
    assert type(plain.parts_.als) is hr.rankers.ALSRanker
    own = hr.rankers.make("social_als", **social, alpha=20.0, regularization=100.0).fit(world)
    np.testing.assert_allclose(r.parts_.als._score(np.arange(5)), own._score(np.arange(5)),
                               rtol=1e-4, atol=1e-6)
    assert not np.allclose(plain.parts_.als._score(np.arange(5)), own._score(np.arange(5)))
    users = list(world.user_ids[:8])
    back = hr.load_ranker(r.save(tmp_path / "sals.npz"))
    assert isinstance(back.parts_.als, hr.rankers.SocialALSRanker)
    np.testing.assert_array_equal(back.recommend(users, n=5)[0], r.recommend(users, n=5)[0])
    fold = hr.rankers.make("hybrid", **{**SMALL, "als": social}, refit="fold_in").fit(world)
    assert isinstance(fold.parts_.als, hr.rankers.SocialALSRanker)
    choose = {**SMALL, "als": {"iterations": 3, "num_threads": 1, "social_reg": 0.5},
              "als_factors": (2, 8)}
    c = hr.rankers.make("hybrid", **choose).fit(world)
    assert set(c.fit_info_["als_choice"]) == {"2", "8"}
    assert isinstance(c.parts_.als, hr.rankers.SocialALSRanker)
    with pytest.raises(ValueError, match="'social_reg' parameter of SocialALSRanker"):
        hr.rankers.make("hybrid", als={"social_reg": 2.0}).fit(world)
