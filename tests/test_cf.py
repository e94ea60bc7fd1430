"""Known answers and properties of the collaborative-filtering rankers and the implicit bridge."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import haowurank as hr
from haowurank import rankers
from haowurank.rankers import Ranker, finish_topk, partition_topk, shared_topk, topk
from haowurank.rankers._cf import csr_row_topk, ease_weights, rp3beta_weights
from haowurank.rankers._implicit import ItemKNNModel, MFModel, Weighting
from haowurank.testing import small_world

SMALL = {
    "als": {"factors": 8, "iterations": 10, "regularization": 0.01, "num_threads": 1},
    "bpr": {"factors": 8, "iterations": 60, "learning_rate": 0.05},
    "item_knn": {"K": 20, "num_threads": 1},
    "ease": {"regularization": 5.0},
    "rp3beta": {"alpha": 0.6, "beta": 0.3, "K": 20},
    "social_als": {
        "factors": 8, "iterations": 10, "regularization": 0.01, "social_weight": 0.5,
        "num_threads": 1,
    },
}


def checkerboard(n_per_group: int = 12, held_out: bool = True) -> tuple[hr.Dataset, dict]:
    """Two disjoint user groups x two item groups (implicit's checkerboard test): users of group g
    bought every item of group g except one held-out item each (``held[u]``)."""
    rows, held = [], {}
    g_items = {0: list(range(0, n_per_group)), 1: list(range(n_per_group, 2 * n_per_group))}
    for u in range(2 * n_per_group):
        g = u % 2
        items = g_items[g]
        h = items[(u // 2) % n_per_group]
        held[f"u{u}"] = h
        for it in items:
            if it != h or not held_out:
                rows.append((f"u{u}", it))
    inter = pd.DataFrame(rows, columns=["user", "item"])
    return hr.Dataset.from_frames(inter), held


# -------------------------------------------------------------------------------- known answers

@pytest.mark.filterwarnings("ignore:SocialALSRanker. the data set has no social rows")
@pytest.mark.parametrize("name", ["als", "item_knn", "ease", "rp3beta", "social_als", "bpr"])
def test_checkerboard_precision_at_1(name):
    ds, held = checkerboard()
    params = dict(SMALL[name])
    if name in ("als", "social_als"):
        params["factors"] = 2  # the true rank of the world
    r = rankers.make(name, **params).fit(ds)
    users = list(held)
    ids, _ = r.recommend(users, n=1)
    hits = [ids[k, 0] == held[u] for k, u in enumerate(users)]
    assert np.mean(hits) == 1.0


def test_ease_closed_form_matches_dense_formula():
    X = sp.random(40, 15, density=0.3, random_state=4, format="csr", dtype=np.float64)
    X.data[:] = 1.0
    lam = 7.0
    P = np.linalg.inv(X.T.toarray() @ X.toarray() + lam * np.eye(15))
    expected = np.eye(15) - P / np.diag(P)[None, :]
    B = ease_weights(X, lam)
    np.testing.assert_allclose(B, expected, atol=1e-5)
    assert np.all(np.diag(B) == 0)
    # single precision: the same weights within float32 rounding, and a clear error otherwise
    B32 = ease_weights(X, lam, precision="float32")
    np.testing.assert_allclose(B32, expected, atol=1e-4)
    assert np.all(np.diag(B32) == 0) and not np.array_equal(B32, B)
    with pytest.raises(ValueError, match="precision"):
        ease_weights(X, lam, precision="float16")

def test_rp3beta_weights_match_the_dense_formula():
    """W_ij = sum_u (x_ui/deg_i)^a (x_uj/deg_u)^a / deg_j^b, no self-loops, top K of each row
    (ties: the lower column), against a dense computation."""
    gen = np.random.default_rng(4)
    D = (gen.random((30, 12)) < 0.3).astype(np.float32)
    D[0, :] = 0  # a user without items
    D[:, 3] = 0  # an item without users
    D[:, -1] = 0  # ... also the last one (its row of W is empty)
    X = sp.csr_matrix(D)
    a, b, K = 0.7, 0.4, 5
    D = X.toarray().astype(np.float64)
    du, di = D.sum(1), D.sum(0)
    p_ju = np.divide(D, du[:, None], out=np.zeros_like(D), where=du[:, None] > 0) ** a
    p_ui = np.divide(D.T, di[:, None], out=np.zeros_like(D.T), where=di[:, None] > 0) ** a
    full = (p_ui @ p_ju) / np.maximum(di, 1.0)[None, :] ** b
    np.fill_diagonal(full, 0.0)
    want = np.zeros_like(full)
    for r in range(full.shape[0]):
        nz = np.flatnonzero(full[r])
        keep = nz[np.lexsort((nz, -full[r, nz]))][:K]
        want[r, keep] = full[r, keep]
    W = rp3beta_weights(X, a, b, K)
    assert W.dtype == np.float32 and W.has_sorted_indices
    assert (np.diff(W.indptr) <= K).all()
    np.testing.assert_allclose(W.toarray(), want, rtol=1e-5, atol=1e-7)
    # beta lowers the weight of popular targets: with beta = 0 the column scaling is gone
    W0 = rp3beta_weights(X, a, 0.0, 12).toarray()
    full0 = p_ui @ p_ju
    np.fill_diagonal(full0, 0.0)
    np.testing.assert_allclose(W0, full0, rtol=1e-5, atol=1e-7)



@pytest.mark.parametrize("precision", ["float64", "float32"])
def test_ease_large_matrix_path_matches_the_scipy_path(monkeypatch, precision):
    """Gram matrices over _BLOCKED_INVERSE_BYTES are inverted by blocks (blocked Cholesky, then
    its inverse); forced here on a small matrix with tiny blocks (23 items, blocks of 5)."""
    from haowurank.rankers import _cf

    X = sp.random(60, 23, density=0.3, random_state=5, format="csr", dtype=np.float64)
    X.data[:] = 1.0
    small = ease_weights(X, 3.0, precision=precision)
    monkeypatch.setattr(_cf, "_BLOCKED_INVERSE_BYTES", 0)
    real = _cf._spd_inverse_blocked
    calls = []
    monkeypatch.setattr(_cf, "_spd_inverse_blocked",
                        lambda G: calls.append(G.shape) or real(G, block=5))
    large = ease_weights(X, 3.0, precision=precision)
    assert calls == [(23, 23)]
    np.testing.assert_allclose(large, small, atol=1e-6 if precision == "float64" else 1e-4)
    assert large.dtype == np.float32 and np.all(np.diag(large) == 0)


@pytest.mark.filterwarnings("ignore:Method expects CSR input")
def test_item_knn_scores_equal_implicit_scorer():
    ds = small_world()
    r = rankers.make("item_knn", K=5, weighting="raw").fit(ds)
    from implicit.nearest_neighbours import CosineRecommender  # the test may import implicit

    m = CosineRecommender(K=5)
    m.fit(r.cf_, show_progress=False)
    uidx = np.arange(6)
    ids, sc = m.recommend(uidx, r.cf_[uidx], N=ds.n_items, filter_already_liked_items=False)
    ours = r._score(uidx)
    for k in range(len(uidx)):
        ok = sc[k] > -1e30
        np.testing.assert_allclose(ours[k, ids[k, ok]], sc[k, ok], rtol=1e-5, atol=1e-6)


# -------------------------------------------------------------------------------- determinism

@pytest.mark.parametrize("name", ["als", "bpr", "social_als"])
def test_same_random_state_same_model(name):
    ds = small_world()
    a = rankers.make(name, **SMALL[name], random_state=7).fit(ds)
    b = rankers.make(name, **SMALL[name], random_state=7).fit(ds)
    c = rankers.make(name, **SMALL[name], random_state=8).fit(ds)
    np.testing.assert_array_equal(a.model_.user_factors, b.model_.user_factors)
    np.testing.assert_array_equal(a.model_.item_factors, b.model_.item_factors)
    assert not np.array_equal(a.model_.item_factors, c.model_.item_factors)


def test_als_does_not_depend_on_thread_count():
    ds = small_world()
    p = {k: v for k, v in SMALL["als"].items() if k != "num_threads"}
    a = rankers.make("als", **p, num_threads=1).fit(ds)
    b = rankers.make("als", **p, num_threads=2).fit(ds)
    np.testing.assert_allclose(a.model_.user_factors, b.model_.user_factors, rtol=1e-5, atol=1e-6)


# -------------------------------------------------------------------------------- social_als

def test_social_weight_zero_is_plain_als_exactly():
    ds = small_world()
    p = dict(SMALL["als"], weighting="bm25", random_state=3)
    als = rankers.make("als", **p).fit(ds)
    soc = rankers.make("social_als", **p, social_weight=0.0).fit(ds)
    users = list(ds.user_ids)
    np.testing.assert_array_equal(als.score(users), soc.score(users))
    np.testing.assert_array_equal(als.recommend(users, n=10)[0], soc.recommend(users, n=10)[0])
    # and the friends term really changes the model when it is switched on
    on = rankers.make("social_als", **p, social_weight=1.0).fit(ds)
    assert not np.array_equal(als.score(users), on.score(users))


def _tiny_social():
    # users a, b, c, d, e. a follows b, c, d; b and c follow a back; a blocked d; e follows a.
    inter = pd.DataFrame(
        {
            "user": ["b", "c", "c", "d", "b", "e", "a"],
            "item": [1, 2, 3, 4, 5, 6, 7],
            "kind": ["recommend", "recommend_after_purchase", "recommend", "recommend",
                     "recommend", "recommend", "purchase"],
            "visibility": ["public", "friends", "private", "public", "friends", "public", "friends"],
        }
    )
    social = pd.DataFrame(
        {"user": ["a", "a", "a", "b", "c", "e", "c"], "friend": ["b", "c", "d", "a", "a", "a", "e"]}
    )
    blocks = pd.DataFrame({"user": ["a"], "blocked": ["d"]})
    return hr.Dataset.from_frames(inter, social, blocks=blocks)


def test_social_feedback_follows_visibility_rules_exactly():
    ds = _tiny_social()
    r = rankers.make("social_als", factors=2, iterations=2, social_weight=1.0, num_threads=1).fit(ds)
    T = r.social_term(np.arange(ds.n_users)).toarray()
    a = ds.user_index("a")[0]
    col = {it: ds.item_index(it)[0] for it in range(1, 8)}
    # a follows b, c (d blocked): weights 1/2 each (the blocked edge leaves the denominator)
    assert T[a, col[1]] == pytest.approx(0.5)  # b's public recommend
    assert T[a, col[2]] == pytest.approx(1.0)  # c's friends-only after-purchase (c follows a back), 2 * 1/2
    assert T[a, col[3]] == 0.0  # c's private recommend never enters
    assert T[a, col[4]] == 0.0  # d is blocked
    assert T[a, col[5]] == pytest.approx(0.5)  # b's friends-only recommend, b follows a back
    assert T[a, col[6]] == 0.0  # e is not followed by a (e follows a)
    assert T[a, col[7]] == 0.0  # purchases are not endorsements by default
    e = ds.user_index("e")[0]
    assert T[e, col[5]] == 0.0  # e follows a, a endorsed nothing
    # two hops: e -> a -> {b, c}: public endorsements of b reach e with the decay
    r2 = rankers.make("social_als", factors=2, iterations=2, social_weight=1.0, num_threads=1,
                      hops=2, hop_decay=0.5).fit(ds)
    T2 = r2.social_term(np.arange(ds.n_users)).toarray()
    assert T2[e, col[1]] == pytest.approx(0.5 * 0.5)
    assert T2[e, col[5]] == 0.0  # friends-only endorsements do not travel two hops


def test_social_als_explain_names_only_visible_friends():
    ds = _tiny_social()
    r = rankers.make("social_als", factors=4, iterations=10, social_weight=1.0, num_threads=1).fit(ds)
    e2 = r.explain("a", 2)  # c's friends-only after-purchase recommendation, c follows a back
    assert e2["friends"] == ["c"] and e2["kinds"] == {"recommend_after_purchase": 1}
    assert e2["terms"]["friends_confidence"] > 0
    assert "Endorsed by your friends c" in e2["text"]
    assert r.explain("a", 3)["friends"] == []  # c's private recommendation
    assert r.explain("a", 4)["friends"] == []  # d, whom a blocked
    assert r.explain("a", 6)["friends"] == []  # e follows a, but a does not follow e


def test_social_als_personalises_users_without_own_interactions():
    # group structure: followers of group-A endorsers have no interactions of their own
    rows, soc = [], []
    for u in range(10):
        g = u % 2
        for it in range(g * 6, g * 6 + 6):
            rows.append((f"u{u}", it, "recommend_after_purchase"))
    for k in range(4):
        for u in range(0, 10, 2):  # newcomers n0..n3 follow the group-0 users only
            soc.append((f"n{k}", f"u{u}"))
            soc.append((f"u{u}", f"n{k}"))
    ds = hr.Dataset.from_frames(
        pd.DataFrame(rows, columns=["user", "item", "kind"]),
        pd.DataFrame(soc, columns=["user", "friend"]),
    )
    r = rankers.make("social_als", factors=4, iterations=15, social_weight=1.0,
                     weighting="binary", num_threads=1).fit(ds)
    ids, _ = r.recommend(["n0", "n1"], n=6)
    assert set(ids.ravel().tolist()) == set(range(6))  # exactly their friends' group
    assert not r._empty_users(ds.user_index(["n0"]))[0]
    als = rankers.make("als", factors=4, iterations=15, weighting="binary", num_threads=1).fit(ds)
    assert als._empty_users(ds.user_index(["n0"]))[0]  # plain ALS can only fall back


# -------------------------------------------------------------------------------- the fast path

@pytest.mark.parametrize("name", ["als", "bpr", "social_als"])
def test_implicit_topk_equals_base_path(name):
    ds = small_world()
    r = rankers.make(name, **SMALL[name]).fit(ds)
    r.fallback_batch_size = 2  # several fallback sub-batches
    known = r._user_indices(list(ds.user_ids))[0]
    users = np.concatenate([known[:20], [-1, -1], known[20:], [-1, -1, -1]])
    for n, exclude, cand in [(10, True, None), (50, True, None), (5, False, None),
                             (8, True, np.arange(ds.n_items) % 3 == 0)]:
        fast = r._recommend_idx(users, n, exclude, cand)
        slow = Ranker._recommend_idx(r, users, n, exclude, cand)
        np.testing.assert_allclose(fast[1], slow[1], rtol=1e-5, atol=1e-6)
        same = np.isclose(fast[1], slow[1], rtol=0, atol=1e-6)
        # ids equal except where two scores tie to float32 rounding
        assert (fast[0] == slow[0]).mean() > 0.99 and (fast[0][~same] == -1).sum() == 0
        assert ((fast[0] == -1) == (slow[0] == -1)).all()


@pytest.mark.parametrize("name", ["als", "bpr"])
def test_fast_topk_equals_implicit_model_recommend(name):
    ds = small_world()
    r = rankers.make(name, **SMALL[name]).fit(ds)
    uidx = np.arange(ds.n_users)
    for exclude in (True, False):
        ours = r.model_.recommend(uidx, r.seen_, 12, exclude_seen=exclude)
        ref = finish_topk(*r.model_.model.recommend(
            uidx.astype(np.int32), r.seen_, N=12, filter_already_liked_items=exclude), 12)
        np.testing.assert_array_equal(ours[0], ref[0])
        np.testing.assert_array_equal(ours[1], ref[1])


def test_finish_topk_turns_implicit_filler_into_pads():
    ids = np.array([[3, 1, 7, 0]])
    sc = np.array([[0.5, 0.5, -np.finfo(np.float32).max, 0.0]], dtype=np.float32)
    i, s = finish_topk(ids[:, :3], sc[:, :3], 5)
    np.testing.assert_array_equal(i, [[1, 3, -1, -1, -1]])  # tie ordered by item index
    assert np.isneginf(s[0, 2:]).all()


def test_mfmodel_recommend_with_n_beyond_items_and_candidates():
    X = sp.random(20, 6, density=0.4, random_state=0, format="csr", dtype=np.float32)
    X.data[:] = 1
    m = MFModel.als(factors=3, regularization=0.1, alpha=1.0, iterations=3, random_state=0).fit(X)
    uidx = np.arange(20)
    idx, sc = m.recommend(uidx, X, 10, exclude_seen=True)
    s = m.scores(uidx)
    s[X.toarray() > 0] = -np.inf
    ref_i, ref_s = topk(s, 10)
    np.testing.assert_array_equal(idx == -1, ref_i == -1)
    np.testing.assert_allclose(sc, ref_s, rtol=1e-5, atol=1e-6)
    idx, sc = m.recommend(uidx, X, 4, exclude_seen=False, items=np.array([5, 1]))
    assert set(idx[:, :2].ravel().tolist()) <= {1, 5} and (idx[:, 2:] == -1).all()


@pytest.mark.parametrize("n_drop", [1, 5, 20])
def test_mfmodel_candidates_as_complement_equal_implicit_items_path(n_drop):
    """A candidate set covering at least half the items goes to implicit's top-k as the
    complement (``filter_items``); it must give implicit's own ``items=`` answer, pads
    included when n exceeds what is left."""
    X = sp.random(60, 40, density=0.3, random_state=1, format="csr", dtype=np.float32)
    X.data[:] = 1
    m = MFModel.als(factors=4, regularization=0.1, alpha=1.0, iterations=3, random_state=0).fit(X)
    uidx = np.arange(60)
    items = np.sort(np.random.default_rng(n_drop).choice(40, 40 - n_drop, replace=False))
    for n, exclude in ((5, True), (5, False), (39, True)):
        ours = m.recommend(uidx, X, n, exclude_seen=exclude, items=items)
        ref = finish_topk(*m.model.recommend(
            uidx.astype(np.int32), X, N=min(n, len(items)), filter_already_liked_items=exclude,
            items=items.astype(np.int32)), n)
        np.testing.assert_array_equal(ours[0], ref[0])
        np.testing.assert_allclose(ours[1], ref[1], rtol=1e-6)
        assert np.isin(ours[0][ours[0] >= 0], items).all()


def _sorted_reference(scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Top n by a full sort of every row: score descending, then item index."""
    b, m = scores.shape
    order = np.lexsort((np.broadcast_to(np.arange(m), scores.shape), -scores), axis=1)[:, :n]
    sc = np.take_along_axis(scores, order, axis=1).astype(np.float32)
    idx = np.where(np.isfinite(sc), order, -1)
    pad = max(n - m, 0)
    return (np.pad(idx, ((0, 0), (0, pad)), constant_values=-1),
            np.pad(np.where(np.isfinite(sc), sc, -np.inf), ((0, 0), (0, pad)),
                   constant_values=-np.inf))


@pytest.mark.parametrize("case", ["normal", "ties", "few_finite", "narrow"])
@pytest.mark.parametrize("n", [1, 20, 64])
def test_topk_sampled_bound_equals_a_full_sort(case, n):
    """The sampled-threshold top k (wide blocks) and the partition path give exactly the full
    sort's items and scores, ties broken by the lower index, -1/-inf past the finite scores."""
    gen = np.random.default_rng(3)
    if case == "normal":
        S = gen.normal(size=(40, 6000)).astype(np.float32)
        S[gen.random(S.shape) < 0.01] = -np.inf
    elif case == "ties":  # many equal scores: some rows' bound keeps too much and falls back
        S = np.round(gen.exponential(size=(40, 6000)), 1).astype(np.float32)
        S[:5, :] = 1.0
    elif case == "few_finite":
        S = np.full((40, 6000), -np.inf, dtype=np.float32)
        S[:, 10:13] = gen.normal(size=(40, 3))
        S[::2] = gen.normal(size=(20, 6000))
    else:
        S = gen.normal(size=(40, 30)).astype(np.float32)
    ref_i, ref_s = _sorted_reference(S, n)
    for fn in (topk, partition_topk):
        i, s = fn(S, n)
        np.testing.assert_array_equal(i, ref_i)
        np.testing.assert_array_equal(s, ref_s)


@pytest.mark.parametrize("n", [1, 5, 40])
@pytest.mark.parametrize("with_seen", [False, True])
@pytest.mark.parametrize("with_cand", [False, True])
def test_shared_topk_equals_topk_of_the_dense_rows(n, with_seen, with_cand):
    gen = np.random.default_rng(5)
    scores = np.round(gen.exponential(size=30), 1).astype(np.float32)  # ties
    scores[3] = -np.inf
    b = 12
    seen = sp.random(b, 30, density=0.3, random_state=1, format="csr") if with_seen else None
    cand = (np.arange(30) % 4 != 1) if with_cand else None
    dense = np.tile(scores, (b, 1))
    if cand is not None:
        dense[:, ~cand] = -np.inf
    if seen is not None:
        dense[seen.toarray() > 0] = -np.inf
    want = topk(dense, n)
    got = shared_topk(scores, n, b, seen, cand)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


@pytest.mark.parametrize("name", ["item_knn", "ease", "rp3beta"])
def test_fallback_rows_take_the_shared_path_with_the_dense_paths_result(name):
    """Unknown users and known users without interactions get the fallback through
    shared_topk; the lists equal the dense path's, in a batch mixed with ordinary users."""
    ds = small_world()
    extra = ds.interactions.iloc[:1].assign(user="lonely", kind="view")
    ds2 = hr.Dataset.from_frames(pd.concat([ds.interactions, extra], ignore_index=True),
                                 social=ds.social)
    weights = {k: (0.0 if k == "view" else 1.0) for k in hr.KINDS}
    r = rankers.make(name, **SMALL[name], kind_weights=weights).fit(ds2)
    lonely = int(r._user_indices("lonely")[0][0])
    assert r._fallback_mask(np.array([lonely]))[0]  # no CF interactions: the fallback
    uidx = np.array([0, -1, lonely, 3, -1, 5])
    cand = np.arange(ds2.n_items) % 5 != 2
    for c in (None, cand):
        got = r._recommend_idx(uidx, 10, True, c)
        want = r._dense_recommend_idx(uidx, 10, True, c)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_allclose(got[1], want[1], rtol=1e-6)


# -------------------------------------------------------------------------------- weighting

@pytest.mark.parametrize("scheme", ["raw", "binary", "log", "bm25", "tfidf"])
def test_weighting_transform_reproduces_fit_transform(scheme):
    X = sp.random(30, 25, density=0.2, random_state=2, format="csr", dtype=np.float32)
    X.data = np.ceil(X.data * 9)
    w = Weighting(scheme)
    full = w.fit_transform(X)
    again = w.transform(X[5:12])
    np.testing.assert_allclose(again.toarray(), full[5:12].toarray(), rtol=1e-5, atol=1e-6)
    assert (full.data > 0).all()


def test_kind_weights_feed_the_cf_matrix():
    ds = small_world()
    r = rankers.make("als", **SMALL["als"], weighting="raw",
                     kind_weights={"purchase": 1.0, "view": 0.0}).fit(ds)
    inter = ds.interactions
    allowed = inter[inter["kind"] == "purchase"]
    assert r.cf_.nnz == len(allowed.drop_duplicates(["user", "item"]))
    u0 = allowed.iloc[0]
    ui, ii = ds.user_index(u0["user"])[0], ds.item_index(u0["item"])[0]
    assert r.cf_raw_[ui, ii] == pytest.approx(u0["weight"])


# -------------------------------------------------------------------------------- bad params

BAD = [
    ("als", "factors", 0), ("als", "regularization", -1.0), ("als", "alpha", 0.0),
    ("als", "iterations", 1.5), ("als", "weighting", "idf"), ("als", "random_state", -3),
    ("als", "num_threads", -1), ("als", "kind_weights", {"buy": 1.0}),
    ("als", "kind_weights", {"purchase": -1.0}), ("bpr", "learning_rate", 0.0),
    ("bpr", "verify_negative_samples", "yes"), ("item_knn", "K", 0),
    ("item_knn", "similarity", "jaccard"), ("ease", "regularization", 0.0),
    ("ease", "max_items", 0), ("ease", "precision", "float16"), ("rp3beta", "alpha", 0.0),
    ("rp3beta", "beta", -0.1), ("rp3beta", "K", 0), ("social_als", "social_weight", -0.5),
    ("social_als", "hops", 3), ("social_als", "social_reg", 1.5),
    ("social_als", "endorsement_weights", {"like": 1.0}), ("social_als", "bm25_b", 2.0),
]


@pytest.mark.parametrize("name,param,value", BAD)
def test_bad_params_raise_naming_the_parameter(name, param, value):
    r = rankers.make(name, **{param: value})
    assert getattr(r, param) == value  # __init__ stores, fit validates
    with pytest.raises(ValueError, match=f"'{param}' parameter"):
        r.fit(small_world())


def test_ease_max_items_guard():
    ds = small_world()  # 40 items
    with pytest.raises(ValueError, match="'max_items' guard.*40 items"):
        rankers.make("ease", max_items=39).fit(ds)
    rankers.make("ease", max_items=40).fit(ds)


# -------------------------------------------------------------------------------- fold-in

@pytest.mark.filterwarnings("ignore:SocialALSRanker. the data set has no social rows")
@pytest.mark.parametrize("name", ["als", "bpr", "item_knn", "ease", "rp3beta", "social_als"])
def test_partial_fit_new_user_gets_their_group(name, tmp_path):
    ds, _ = checkerboard()
    params = dict(SMALL[name])
    r = rankers.make(name, **params).fit(ds)
    group1 = list(range(12, 24))
    new = pd.DataFrame({"user": ["newbie"] * 8, "item": group1[:8]})
    with pytest.warns(hr.DataWarning, match="1 row"):
        r.partial_fit_users(pd.concat([new, pd.DataFrame({"user": ["newbie"], "item": [999]})]))
    assert "newbie" in set(r.user_ids_)
    ids, sc = r.recommend("newbie", n=4)
    assert set(ids.tolist()) == set(group1[8:])  # the rest of their group, seen items excluded
    # the folded-in model saves and loads exactly
    r2 = hr.load_ranker(r.save(tmp_path / "r.npz"))
    ids2, sc2 = r2.recommend("newbie", n=4)
    np.testing.assert_array_equal(ids, ids2)
    np.testing.assert_array_equal(sc, sc2)


def test_als_fold_in_equals_recalculate_user():
    ds = small_world()
    r = rankers.make("als", **SMALL["als"]).fit(ds)
    u = ds.user_ids[3]
    extra = pd.DataFrame({"user": [u, u], "item": [ds.item_ids[0], ds.item_ids[1]]})
    r.update_users(extra)
    ui = r._user_indices(u)[0]
    expected = r.model_.model.recalculate_user(ui, r.cf_[ui])
    np.testing.assert_allclose(r.model_.user_factors[ui[0]], expected[0], rtol=1e-5, atol=1e-6)
    seen = set(r.recommend(u, n=40)[0].tolist())
    assert ds.item_ids[0] not in seen and ds.item_ids[1] not in seen


def test_social_als_fold_in_new_user_through_follows_only():
    ds, _ = checkerboard()
    rows = ds.interactions.copy()
    rows["kind"] = "recommend"
    rows["visibility"] = "public"
    soc = pd.DataFrame({"user": ["u0", "u2"], "friend": ["u2", "u0"]})
    ds = hr.Dataset.from_frames(rows[["user", "item", "kind", "visibility"]], soc)
    r = rankers.make("social_als", **SMALL["social_als"], weighting="binary").fit(ds)
    # a newcomer who only follows group-0 users, with one purchase of an unknown item (dropped)
    with pytest.warns(hr.DataWarning):
        r.partial_fit_users(
            pd.DataFrame({"user": ["new"], "item": [999]}),
            social=pd.DataFrame({"user": ["new", "new"], "friend": ["u0", "u2"]}),
        )
    assert not r._empty_users(r._user_indices("new")[0])[0]  # personalised, not the fallback
    ids, _ = r.recommend("new", n=5)
    assert set(ids.tolist()) <= set(range(12))
    e = r.explain("new", ids[0])
    assert set(e["friends"]) <= {"u0", "u2"} and e["friends"]


# -------------------------------------------------------------------------------- explanations

def test_als_explain_cites_the_users_items():
    ds = small_world()
    r = rankers.make("als", **SMALL["als"]).fit(ds)
    u = ds.user_ids[0]
    ids, sc = r.recommend(u, n=1)
    e = r.explain(u, ids[0])
    liked = set(ds.interactions.loc[ds.interactions["user"] == u, "item"])
    assert e["contributions"] and {j for j, _ in e["contributions"]} <= liked
    assert e["score"] == pytest.approx(float(sc[0]), rel=1e-4)


@pytest.mark.parametrize("name", ["item_knn", "ease", "rp3beta"])
def test_row_model_contributions_sum_to_score(name):
    ds = small_world()
    r = rankers.make(name, **SMALL[name]).fit(ds)
    u = ds.user_ids[2]
    ids, sc = r.recommend(u, n=1)
    e = r.explain(u, ids[0])
    total = sum(s for _, s in e["contributions"])
    n_items_user = r.cf_[r._user_indices(u)[0][0]].nnz
    if len(e["contributions"]) == n_items_user:  # all terms shown: they sum to the score
        assert total == pytest.approx(e["score"], rel=1e-4, abs=1e-6)
    assert e["contributions"]
    term, says = {"item_knn": ("similarity_sum", "Item-kNN: "), "ease": ("ease", "EASE: "),
                  "rp3beta": ("rp3beta", "RP3beta: ")}[name]
    assert e["terms"] == {term: pytest.approx(e["score"], rel=1e-5)}
    assert e["text"].startswith(says) and (" from " in e["text"] or " to " in e["text"])


def test_fit_reports_progress():
    seen = []
    rankers.make("als", **SMALL["als"]).fit(small_world(), callback=lambda s, f: seen.append(f))
    assert seen and seen[-1] == pytest.approx(1.0)


def test_item_knn_model_state_roundtrip():
    X = sp.random(20, 8, density=0.4, random_state=1, format="csr", dtype=np.float32)
    m = ItemKNNModel("bm25", K=3).fit(X)
    m2 = ItemKNNModel("bm25", K=3)
    m2.set_state("s", m.state("s"))
    np.testing.assert_array_equal(m.scores(X).view(np.uint32), m2.scores(X).view(np.uint32))


def test_binary_weighting_is_presence_times_strongest_kind():
    inter = pd.DataFrame(
        {
            "user": ["a", "a", "a", "a", "b"],
            "item": [1, 1, 2, 3, 3],
            "kind": ["view", "purchase", "view", "recommend", "click"],
            "weight": [7.0, 3.0, 9.0, 1.0, 2.0],
        }
    )
    ds = hr.Dataset.from_frames(inter)
    r = rankers.make("als", factors=2, iterations=2, num_threads=1).fit(ds)
    X = r.cf_.toarray()
    np.testing.assert_allclose(X, [[1.0, 0.1, 1.0], [0.0, 0.0, 0.25]])
    raw = rankers.make("als", factors=2, iterations=2, num_threads=1, weighting="raw").fit(ds)
    np.testing.assert_allclose(raw.cf_.toarray(), [[3.7, 0.9, 1.0], [0.0, 0.0, 0.5]], rtol=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_csr_row_topk_is_the_kernel_with_its_tie_break(seed):
    """The sparse per-row top-k (RP3beta pruning, hybrid retrieval and user-kNN) keeps what a
    brute-force sort keeps: larger values first, ties to the lower column, only allowed
    entries; stored order does not matter."""
    gen = np.random.default_rng(seed)
    dense = gen.integers(0, 4, size=(30, 25)).astype(np.float64)  # many ties, some zeros
    dense[gen.random(dense.shape) < 0.3] = 0
    m = sp.csr_matrix(dense)
    perm = sp.csr_matrix(m)  # the same entries in a scrambled stored order per row
    for r in range(perm.shape[0]):
        a, b = perm.indptr[r], perm.indptr[r + 1]
        p = gen.permutation(b - a)
        perm.indices[a:b], perm.data[a:b] = perm.indices[a:b][p], perm.data[a:b][p]
    allowed = gen.random(perm.nnz) < 0.8
    for k in (0, 1, 3, 7, 40):
        kept = csr_row_topk(perm, k, allowed)
        assert not (kept & ~allowed).any()
        rows = np.repeat(np.arange(perm.shape[0]), np.diff(perm.indptr))
        for r in range(perm.shape[0]):
            sel = np.flatnonzero((rows == r) & allowed)
            order = np.lexsort((perm.indices[sel], -perm.data[sel]))[:k]
            expect = set(perm.indices[sel][order].tolist())
            assert set(perm.indices[(rows == r) & kept].tolist()) == expect
    assert csr_row_topk(m, 2).sum() == np.minimum(np.diff(m.indptr), 2).sum()
