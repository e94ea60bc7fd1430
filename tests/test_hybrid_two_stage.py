"""Two-stage serving of ``hybrid``: retrieval from sparse sources, then the learned ranking of the
candidates only; the service serves it; no dense (users, items) block on the serving path."""

from __future__ import annotations

import numpy as np
import pytest

import haowurank as hr
from haowurank.rankers import _hybrid
from haowurank.serving import RankerService
from haowurank.testing import small_world

# few candidates per component against 150 items, so retrieval really selects
PARAMS = {"als": {"factors": 8, "iterations": 3, "num_threads": 1}, "ease_items": 20,
          "rp3beta": True, "n_candidates": 10, "n_recommend_candidates": 5}


@pytest.fixture(scope="module")
def world():
    return small_world(n_users=80, n_items=150)


@pytest.fixture(scope="module", params=[
    {"spline_knots": 0}, {"spline_knots": 3}, {"spline_knots": 3, "n_popular_candidates": 12},
], ids=["linear", "splines", "popular"])
def fitted(world, request):
    return hr.rankers.make("hybrid", **request.param, **PARAMS).fit(world)


def test_popular_items_are_retrieved(world):
    r = hr.rankers.make("hybrid", n_popular_candidates=12, **PARAMS).fit(world)
    rows, items, _ = r.candidate_features(np.arange(len(r.user_ids_)))
    head = np.argsort(-r.parts_.popularity, kind="stable")[:12]
    seen = r.seen_
    for u in range(len(r.user_ids_)):
        want = set(head.tolist()) - set(seen[u].indices.tolist())
        assert want <= set(items[rows == u].tolist())


def _full_ranking_restricted(r, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Known answer: the dense score of every item (``score``), restricted to the retrieved
    candidates (``candidate_features``, the dense retrieval, with recommend's per-component
    ``max(n_recommend_candidates, n)``), best first, ties to the lower index."""
    users = np.arange(len(r.user_ids_))
    rows, items, _ = r.candidate_features(users, max(r.n_recommend_candidates, n))
    dense = r.score(list(r.user_ids_))
    out = np.full((len(users), n), -1, dtype=np.int64)
    for u in users:
        c = items[rows == u]
        s = dense[u, c]
        order = np.lexsort((c, -s))[:n]
        out[u, : len(order)] = c[order]
    return out, dense


def test_two_stage_equals_full_ranking_on_the_candidates(fitted):
    n = 8
    want, dense = _full_ranking_restricted(fitted, n)
    got_i, got_s = fitted.recommend_at(np.arange(len(fitted.user_ids_)), n)
    short = (want < 0).any(axis=1)  # fewer than n candidates: the dense fallback ranks those
    assert not short.all()
    np.testing.assert_array_equal(got_i[~short], want[~short])
    ref = np.take_along_axis(dense, np.where(got_i >= 0, got_i, 0), axis=1)
    np.testing.assert_allclose(got_s[~short], ref[~short], rtol=1e-4, atol=1e-4)
    # every recommended item is unseen and retrieved
    rows, items, _ = fitted.candidate_features(np.arange(len(fitted.user_ids_)), n)
    cand = set(zip(rows.tolist(), items.tolist()))
    assert all((u, i) in cand for u in np.flatnonzero(~short) for i in got_i[u])


def test_two_stage_matches_the_dense_retrieval_path(fitted):
    users = np.arange(len(fitted.user_ids_))
    every = np.ones(len(fitted.item_ids_), dtype=bool)  # items= takes the dense-block path
    a_i, a_s = fitted.recommend_at(users, 10)
    b_i, b_s = fitted.recommend_at(users, 10, candidates=every)
    np.testing.assert_array_equal(a_i, b_i)
    np.testing.assert_allclose(a_s, b_s, rtol=1e-5, atol=1e-5)
    c_ids, _ = fitted.candidates(list(fitted.user_ids_), n=10)
    np.testing.assert_array_equal(c_ids, fitted._idx_to_ids(a_i))


def test_score_pairs_reads_the_sparse_sources(fitted):
    rng = np.random.default_rng(0)
    u = rng.integers(0, len(fitted.user_ids_), 300)
    i = rng.integers(0, len(fitted.item_ids_), 300)
    dense = fitted.score_rows(u)[np.arange(300), i]
    np.testing.assert_allclose(fitted.score_pairs_at(u, i), dense, rtol=1e-4, atol=1e-4)


def test_serving_path_builds_no_dense_block(fitted, world, monkeypatch):
    svc = RankerService(world, fitted)

    def refuse(*args, **kwargs):
        raise AssertionError("the serving path built a dense (users, items) block")

    monkeypatch.setattr(_hybrid, "feature_block", refuse)
    user = fitted.user_ids_[3]
    frame = svc.recommend(user, n=6)
    ids, scores = fitted.recommend(user, n=6)
    assert frame["item"].tolist() == list(ids)
    np.testing.assert_allclose(frame["score"].to_numpy(), scores)
    page = svc.feed_page(user, n=5)  # the feed scores its items through score_pairs_at
    assert page is not None
    fitted.recommend(list(fitted.user_ids_[:10]), n=6)


def test_cold_and_unknown_users_still_answered(fitted, world):
    known = fitted.user_ids_[0]
    ids, scores = fitted.recommend([known, "nobody"], n=5)
    assert ids.shape == (2, 5) and np.isfinite(scores[1]).all()


@pytest.mark.parametrize("field", ["n_recommend_candidates", "n_popular_candidates"])
@pytest.mark.parametrize("bad", [-1, 2.5, True, "100"])
def test_bad_candidate_counts_name_the_field(world, field, bad):
    params = {**PARAMS, field: bad}
    with pytest.raises(ValueError, match=f"'{field}' parameter of HybridRanker"):
        hr.rankers.make("hybrid", **params).fit(world)


def test_bad_n_names_the_field(fitted, world):
    with pytest.raises(ValueError, match="'n' parameter"):
        fitted.recommend(fitted.user_ids_[0], n=0)
    svc = RankerService(world, fitted, max_n=50)
    with pytest.raises(ValueError, match="'n' parameter must be an int in \\[1, 50\\]"):
        svc.recommend(fitted.user_ids_[0], n=51)


def test_http_service_serves_the_two_stage_list(world, tmp_path, monkeypatch):
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    import sys
    from pathlib import Path

    from fastapi.testclient import TestClient

    root = str(Path(__file__).resolve().parents[1])
    if root not in sys.path:
        sys.path.insert(0, root)
    import apps.service as service

    r = hr.rankers.make("hybrid", **PARAMS).fit(world)
    world.to_parquet(tmp_path / "ds")
    app = service.create_app(r.save(tmp_path / "hy.npz"), tmp_path / "ds", max_n=50)
    with TestClient(app, raise_server_exceptions=False) as c:
        monkeypatch.setattr(_hybrid, "feature_block", lambda *a, **k: 1 / 0)  # no dense block
        got = c.get("/recommend", params={"user": "u5", "n": 6})
        bad = c.get("/recommend", params={"user": "u5", "n": 0})
        feed = c.get("/feed", params={"user": "u5", "n": 5})
    assert got.status_code == 200 and feed.status_code == 200
    ids, scores = r.recommend("u5", n=6)
    assert [x["item"] for x in got.json()["items"]] == list(ids)
    np.testing.assert_allclose([x["score"] for x in got.json()["items"]], scores, rtol=1e-6)
    assert bad.status_code == 422 and "'n'" in bad.json()["detail"]


def test_small_batches_give_the_large_batch_lists(fitted):
    """A single user (dense rows gathered with numpy, social rows computed once) gets the
    same list and scores as the same user inside a batch (blocks of ``small_batch`` users
    with scipy's products and one partition for ALS), and pair scores of a few users equal
    the dense scores."""
    from haowurank.rankers._hybrid_pairs import small_batch

    users = np.arange(len(fitted.user_ids_))
    assert len(users) > small_batch(len(fitted.item_ids_)) > 16  # a block of > 16 users
    big_i, big_s = fitted.recommend_at(users, 8)
    for u in users:
        ids, scores = fitted.recommend(fitted.user_ids_[u], n=8)
        np.testing.assert_array_equal(ids, fitted._idx_to_ids(big_i[u]))
        np.testing.assert_allclose(scores, big_s[u], rtol=1e-5, atol=1e-5)
    pairs_u = np.repeat(users[:3], 40)
    pairs_i = np.tile(np.arange(40), 3)
    np.testing.assert_allclose(fitted.score_pairs_at(pairs_u, pairs_i),
                               fitted.score_rows(users[:3])[:, :40].ravel(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("knots", [3, 6])
def test_spline_table_equals_the_feature_splines(knots):
    """The serving path's spline table gives scipy's piecewise-polynomial values (values on
    knots, outside the range and constant columns included)."""
    from haowurank.rankers._hybrid_model import SplineTable
    from haowurank.rankers._splines import FeatureSplines

    rng = np.random.default_rng(knots)
    X = rng.standard_normal((500, 6))
    X[:, 2] = 1.0  # constant: no spline
    X[:, 4] = rng.integers(0, 3, 500)  # few distinct values: knots merge
    splines = FeatureSplines.from_quantiles(X, knots)
    coef = rng.standard_normal(splines.n_basis)
    Y = 3 * rng.standard_normal((400, 6))
    on_knots = [t[3 + (i % max(len(t) - 7, 1))] if len(t) else 0.0
                for i, t in enumerate(splines.knots)]
    Y[:5] = on_knots
    Y[5:10] = [t[-4] if len(t) else 0.0 for t in splines.knots]
    got = SplineTable(splines, coef).terms(Y)
    np.testing.assert_array_equal(got, splines.terms(Y, coef))
    assert np.all(got[:, 2] == 0) and np.any(got[:, 0] != 0)


@pytest.mark.parametrize("threads", [2, 5])
def test_threaded_batches_give_the_single_threaded_lists(fitted, monkeypatch, threads):
    """Blocks spread over ``serve_threads`` threads give exactly the lists and scores of the
    same blocks run one after the other (and the same lists as the default block size)."""
    users = np.arange(len(fitted.user_ids_))
    want_i, _ = fitted.recommend_at(users, 8)
    monkeypatch.setattr(fitted, "serve_batch_size", 7)  # 12 blocks of 7 users (the last 3)
    monkeypatch.setattr(fitted, "serve_threads", 1)
    one_i, one_s = fitted.recommend_at(users, 8)
    monkeypatch.setattr(fitted, "serve_threads", threads)
    many_i, many_s = fitted.recommend_at(users, 8)
    np.testing.assert_array_equal(many_i, one_i)
    np.testing.assert_array_equal(many_s, one_s)
    np.testing.assert_array_equal(many_i, want_i)
    assert (many_i >= 0).all()


@pytest.mark.parametrize("k", [0, 1, 3, 7, 40])
def test_top_mask_is_the_k_largest_valid_entries_ties_to_the_lower_column(k):
    """Known answer: per row, the valid entries sorted by value (descending) then column, the
    first ``k`` kept (rows with at most ``k`` valid entries keep them all); the compact
    variant finds the same entries."""
    from haowurank.rankers._hybrid_pairs import _top_flat, _top_mask

    rng = np.random.default_rng(k)
    values = rng.integers(0, 6, (30, 40)).astype(np.float32)  # many ties
    valid = rng.random((30, 40)) < 0.6
    valid[3] = False
    valid[4, :2] = True
    valid[4, 2:] = False
    got = _top_mask(values, valid, k)
    want = np.zeros_like(valid)
    for r in range(30):
        cols = np.flatnonzero(valid[r])
        order = cols[np.lexsort((cols, -values[r, cols]))][:k]
        want[r, order] = True
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(_top_flat(values, valid, k), np.flatnonzero(want))


def test_fitted_ease_weights_are_c_ordered(world):
    """The head-EASE weights a fit leaves are C-ordered (as after a load): the serving path's
    sparse-times-dense product would copy any other layout on every call."""
    r = hr.rankers.make("hybrid", **PARAMS).fit(world)
    assert r.parts_.ease_B.shape == (20, 20)
    assert r.parts_.ease_B.flags.c_contiguous


@pytest.mark.parametrize("seed,dtype", [(0, np.float32), (1, np.float32), (2, np.float64),
                                        (3, np.float32)])
def test_product_pairs_equal_the_sparse_product_bit_for_bit(seed, dtype):
    """Values read at pairs sum the terms in scipy's order, so they equal the product's
    stored entries exactly (0 where it stores nothing), for pairs in any order, repeated."""
    import scipy.sparse as sp

    from haowurank.rankers._hybrid_pairs import ProductPairs

    rng = np.random.default_rng(seed)
    a = sp.random(40, 300, density=0.05, format="csr", dtype=np.float32, random_state=seed)
    a = sp.csr_matrix(sp.diags((np.arange(40) != 3).astype(np.float32)) @ a)  # row 3 empty
    a.eliminate_zeros()
    assert a.indptr[3] == a.indptr[4]
    w = sp.random(300, 200, density=0.08, format="csr", dtype=dtype, random_state=seed + 9)
    full = sp.csr_matrix(a @ w, dtype=np.float32).toarray()  # as the product's rows are kept
    r = rng.integers(0, 40, 2_000)
    c = rng.integers(0, 200, 2_000)
    got = ProductPairs(a, w).at(r, c)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, full[r, c])
    np.testing.assert_array_equal(ProductPairs(a, w).at(r[:0], c[:0]), np.zeros(0))


def test_pair_scores_are_kept_between_calls_and_equal_the_block_path(fitted, monkeypatch):
    """Batches of more than ``small_batch`` users read their sources at the pairs and keep
    the scores in the fitted parts' memo: the scores equal the block path's, a second call
    scores nothing again, and a memo too small to keep the pairs changes no score."""
    from haowurank.rankers import _hybrid_pairs

    rng = np.random.default_rng(1)
    n_u, n_i = len(fitted.user_ids_), len(fitted.item_ids_)
    u = np.repeat(np.arange(n_u), 12)
    i = rng.integers(0, n_i, len(u))
    assert n_u > _hybrid_pairs.small_batch(n_i)
    first = fitted.score_pairs_at(u, i)
    monkeypatch.setattr(type(fitted), "score_memo_pairs", 0)  # the dense-row block path
    block = fitted.score_pairs_at(u, i)
    np.testing.assert_allclose(first, block, rtol=1e-5, atol=1e-6)
    monkeypatch.undo()

    def refuse(*args, **kwargs):
        raise AssertionError("a kept pair was scored again")

    with monkeypatch.context() as m:
        m.setattr(_hybrid, "pair_sources", refuse)
        np.testing.assert_array_equal(fitted.score_pairs_at(u[::-1], i[::-1]), first[::-1])
    with monkeypatch.context() as m:  # a memo of 5 pairs starts over at every store
        m.setattr(type(fitted), "score_memo_pairs", 5)
        m.setattr(_hybrid_pairs, "_MEMOS", type(_hybrid_pairs._MEMOS)())
        # scored in other batches than ``first``: ALS's products may round differently
        np.testing.assert_allclose(fitted.score_pairs_at(u, i), first, rtol=1e-5, atol=1e-6)
        assert len(_hybrid_pairs.pair_memo(fitted.parts_).table[0]) <= 5


def test_a_refit_does_not_read_the_last_fits_kept_scores(world):
    """The memo belongs to the fitted parts: a refit on other data scores afresh."""
    r = hr.rankers.make("hybrid", **PARAMS)
    u = np.repeat(np.arange(len(world.user_ids)), 3)
    i = np.tile(np.arange(3), len(world.user_ids))
    before = r.fit(world).score_pairs_at(u, i)
    keep = np.zeros(world.n_interactions, dtype=bool)
    keep[: world.n_interactions // 2] = True
    fewer = world.select_interactions(keep)
    fresh = hr.rankers.make("hybrid", **PARAMS).fit(fewer).score_pairs_at(u, i)
    np.testing.assert_array_equal(r.fit(fewer).score_pairs_at(u, i), fresh)
    assert not np.allclose(before, fresh)


def test_kept_pair_scores_follow_a_changed_ranking_model(world):
    """The memo is bound to the ranking model too: new weights give new scores."""
    r = hr.rankers.make("hybrid", **PARAMS).fit(world)
    u = np.repeat(np.arange(len(world.user_ids)), 3)
    i = np.tile(np.arange(3), len(world.user_ids))
    before = r.score_pairs_at(u, i)
    r.weights_ = r.weights_ * 2.0
    r.intercept_ = r.intercept_ * 2.0
    after = r.score_pairs_at(u, i)
    if r.splines_ is None:  # linear: every score doubles
        np.testing.assert_allclose(after, 2.0 * before, rtol=1e-5, atol=1e-5)
    assert not np.allclose(after, before)

