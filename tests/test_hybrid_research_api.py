"""HybridRanker's public names for studying its ranking model (what experiments/ uses):
``keep_training_rows`` / ``training_rows_``, ``candidate_features`` and ``pair_differences``."""

from __future__ import annotations

import numpy as np
import pytest

import haowurank as hr
from haowurank.rankers import HybridRanker, sparse_topk
from haowurank.rankers._hybrid import FEATURES
from haowurank.rankers._hybrid_features import feature_block, pair_features
from haowurank.rankers._hybrid_model import pair_differences as _pair_differences
from haowurank.rankers._hybrid_retrieval import retrieve
from haowurank.testing import small_world

SMALL = {"als": {"factors": 8, "iterations": 3, "num_threads": 1}, "n_candidates": 10,
         "n_recommend_candidates": 5, "spline_knots": 0}


class _Recorder(HybridRanker):
    """Keeps the training rows through the public flag and, to compare, the private hook."""

    keep_training_rows = True

    def _training_rows(self, parts, val, users, gen):
        self.hook_rows = super()._training_rows(parts, val, users, gen)
        return self.hook_rows


@pytest.fixture(scope="module")
def world():
    return small_world()


@pytest.fixture(scope="module")
def recorded(world):
    return _Recorder(**SMALL).fit(world)


def test_training_rows_are_the_rows_the_model_was_fitted_on(recorded, world):
    X, y, groups, items = recorded.training_rows_
    assert X.shape == (len(y), len(FEATURES)) and X.dtype == np.float32 and y.dtype == bool
    assert len(groups) == len(items) == len(y) == recorded.fit_info_["rows"]
    assert int(y.sum()) == recorded.fit_info_["positives"] > 0
    assert groups.max() < world.n_users and items.max() < world.n_items
    for got, hook in zip(recorded.training_rows_, recorded.hook_rows):
        np.testing.assert_array_equal(got, hook)


def test_training_rows_are_kept_only_on_request_and_replaced_by_a_refit(world):
    plain = hr.rankers.make("hybrid", **SMALL)
    assert HybridRanker.keep_training_rows is False
    plain.fit(world)
    assert not hasattr(plain, "training_rows_")
    plain.keep_training_rows = True  # on an instance
    plain.fit(world)
    assert len(plain.training_rows_[0]) == plain.fit_info_["rows"]


def test_candidate_features_are_what_recommend_ranks(recorded, world):
    users = np.arange(min(12, world.n_users))
    rows, items, X = recorded.candidate_features(users)
    assert X.shape == (len(rows), len(FEATURES)) and X.dtype == np.float32
    assert rows.dtype == items.dtype == np.int64
    assert np.all(np.diff(rows * world.n_items + items) > 0)  # by row, then item; no repeats
    seen = recorded.parts_.binary[users].toarray() > 0
    assert not seen[rows, items].any()
    # the same as the private path the studies used before, in one batch
    parts = recorded.parts_
    blk = feature_block(parts, users)
    r, c = retrieve(parts, blk, recorded.n_recommend_candidates)
    np.testing.assert_array_equal(rows, r)
    np.testing.assert_array_equal(items, c)
    np.testing.assert_array_equal(X, pair_features(parts, blk, r, c))
    # the linear score of these rows, top n: recommend_at's lists (users with >= n candidates)
    n = 3
    sc = (recorded.intercept_ + X.astype(np.float64) @ recorded.weights_).astype(np.float32)
    top, _ = sparse_topk(rows, items, sc, len(users), n)
    full = np.bincount(rows, minlength=len(users)) >= n
    assert full.sum() >= 3
    got, _ = recorded.recommend_at(users, n)
    np.testing.assert_array_equal(top[full], got[full])


def test_candidate_features_do_not_depend_on_batching(recorded, world, monkeypatch):
    users = np.arange(min(10, world.n_users))
    whole = recorded.candidate_features(users, 4)
    import haowurank.rankers._hybrid as hybrid_module

    monkeypatch.setattr(hybrid_module, "chunk_size", lambda n_items: 3)
    rows, items, X = recorded.candidate_features(users, 4)
    np.testing.assert_array_equal(rows, whole[0])
    np.testing.assert_array_equal(items, whole[1])
    # float32 products of a different block shape may round differently in the last bit
    np.testing.assert_allclose(X, whole[2], rtol=1e-5, atol=1e-7)


def test_candidate_features_zero_is_every_unseen_item(recorded, world):
    users = np.array([0, 2, 5])
    rows, items, X = recorded.candidate_features(users, 0)
    unseen = world.n_items - np.diff(recorded.parts_.binary.indptr)[users]
    np.testing.assert_array_equal(np.bincount(rows, minlength=3), unseen)
    e = recorded.candidate_features(np.zeros(0, dtype=np.int64))
    assert e[0].shape == (0,) and e[2].shape == (0, len(FEATURES))


@pytest.mark.parametrize("uidx, n, match", [
    (np.array([0, -1]), None, "'uidx'.*known users"),
    (np.array([0]), -2, "'n_candidates'.*int >= 0.*-2"),
    (np.array([0]), 2.5, "'n_candidates'"),
])
def test_candidate_features_name_bad_arguments(recorded, uidx, n, match):
    with pytest.raises(ValueError, match=match):
        recorded.candidate_features(uidx, n)


def test_pair_differences_pair_positives_with_negatives_of_their_group():
    Z = np.arange(14, dtype=np.float64).reshape(7, 2) ** 2
    y = np.array([True, False, False, True, False, True, True])
    groups = np.array([0, 0, 0, 1, 1, 2, 2])  # group 2 has no negative: no rows
    D = HybridRanker.pair_differences(Z, y, groups, np.random.default_rng(3), 4)
    assert D.shape == (8, 2)
    allowed = {tuple(Z[p] - Z[q]) for p, q in [(0, 1), (0, 2), (3, 4)]}
    assert {tuple(d) for d in D} <= allowed
    assert sum(tuple(d) == tuple(Z[3] - Z[4]) for d in D) == 4
    np.testing.assert_array_equal(
        D, _pair_differences(Z, y, groups, np.random.default_rng(3), 4))


def test_pair_features_at_equal_feature_values_in_any_order(recorded, world):
    gen = np.random.default_rng(0)
    u = gen.integers(0, world.n_users, 40)
    i = gen.integers(0, world.n_items, 40)
    X = recorded.pair_features_at(u, i)
    assert X.shape == (40, len(FEATURES)) and X.dtype == np.float32
    for k in (0, 7, 39):
        f = recorded.feature_values(world.user_ids[u[k]], [world.item_ids[i[k]]])
        np.testing.assert_allclose(X[k], f.to_numpy()[0], rtol=1e-5, atol=1e-6)
    rows, items, Xc = recorded.candidate_features(np.array([3, 1]))
    np.testing.assert_allclose(recorded.pair_features_at(np.array([3, 1])[rows], items), Xc,
                               rtol=1e-5, atol=1e-7)
    assert recorded.pair_features_at([], []).shape == (0, len(FEATURES))


@pytest.mark.parametrize("uidx, iidx, match", [
    (np.array([0, 1]), np.array([0]), "same length.*2 and 1"),
    (np.array([-1]), np.array([0]), "known users and items.*1 user"),
])
def test_pair_features_at_name_bad_arguments(recorded, uidx, iidx, match):
    with pytest.raises(ValueError, match=match):
        recorded.pair_features_at(uidx, iidx)


def test_candidates_are_the_retrieval_stage_ranked(recorded, world, monkeypatch):
    """``candidates`` is the retrieval stage of the public contract: the union of the
    components' top items (``candidate_features``' pairs), ordered by the learned score, with
    no dense ranking of the catalogue for any user."""
    users = list(recorded.user_ids_[:12])
    n = 3
    k = max(recorded.n_recommend_candidates, n)
    rows, items, X = recorded.candidate_features(np.arange(len(users)), k)
    sc = (recorded.intercept_ + X.astype(np.float64) @ recorded.weights_).astype(np.float32)
    top, top_sc = sparse_topk(rows, items, sc, len(users), n)

    def no_dense(*args, **kwargs):
        raise AssertionError("candidates ranked the whole catalogue")

    with monkeypatch.context() as m:
        m.setattr(recorded, "_score", no_dense)
        ids, got_sc = recorded.candidates(users, n=n)
        # a candidate set smaller than n (3 items, some seen): only retrieved items, padded
        few = list(recorded.item_ids_[:3])
        few_ids, few_sc = recorded.candidates(users, n=n, items=few)
    assert ids.shape == (len(users), n)
    np.testing.assert_array_equal(ids, recorded.item_ids_[top])
    np.testing.assert_allclose(got_sc, top_sc, rtol=1e-5, atol=1e-6)
    retrieved = {(int(r), recorded.item_ids_[c]) for r, c in zip(rows, items)}
    assert all((r, i) in retrieved for r in range(len(users)) for i in ids[r])
    seen = recorded.seen_[: len(users), :3].toarray() > 0
    for r in range(len(users)):
        expect = {few[j] for j in range(3) if not seen[r, j]}
        valid = np.isfinite(few_sc[r])
        assert set(few_ids[r][valid]) == expect and valid.sum() == len(expect)
    assert (~np.isfinite(few_sc)).any()  # some rows are short
    # where retrieval fills the list it is recommend's list; unknown users get the fallback
    rec_ids, rec_sc = recorded.recommend(users, n=n)
    np.testing.assert_array_equal(ids, rec_ids)
    cold_ids, _ = recorded.candidates(["no-such-user"], n=n)
    np.testing.assert_array_equal(cold_ids, recorded.recommend(["no-such-user"], n=n)[0])
    # without a retrieval stage it is the base class's candidates (recommend)
    all_ids, _ = recorded.candidates(users, n=n, exclude_seen=False)
    np.testing.assert_array_equal(all_ids, recorded.recommend(users, n=n, exclude_seen=False)[0])
