"""Known-answer and property tests of haowurank.trust and the social rankers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import haowurank as hr
from haowurank import trust
from haowurank.rankers import Ranker

DAY = 86_400


def graph(edges, n):
    rows, cols = zip(*edges) if edges else ((), ())
    return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))


def world(inter, social=(), blocks=None, visibility="public", **kw):
    """A small Dataset; its endorsements are ``visibility`` (default "public", so a one-way
    follower may see them: these tests are about trust, test_privacy.py about visibility)."""
    cols = ["user", "item", "kind", "timestamp"][: len(inter[0])] if inter else ["user", "item"]
    frame = pd.DataFrame(inter, columns=cols)
    if len(frame):
        frame["visibility"] = visibility
    soc = pd.DataFrame(list(social), columns=["user", "friend"]) if social else None
    blk = pd.DataFrame(blocks, columns=["user", "blocked"]) if blocks else None
    return hr.Dataset.from_frames(frame, soc, blocks=blk, **kw)


# ------------------------------------------------------------------------------------------
# decay, normalisation, pruning
# ------------------------------------------------------------------------------------------

def test_decay_halves_at_the_half_life():
    now = 1_000 * DAY
    w = trust.decay_weights([now, now - 10 * DAY, now - 20 * DAY, now + 5 * DAY], 10, now)
    np.testing.assert_allclose(w, [1.0, 0.5, 0.25, 1.0])
    assert trust.decay_weights([0, 5], None, 10).tolist() == [1.0, 1.0]
    # datetimes work the same as seconds
    ts = np.array(["2020-01-01", "2020-01-31"], dtype="datetime64[s]")
    np.testing.assert_allclose(trust.decay_weights(ts, 30), [0.5, 1.0])


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), "10", True])
def test_decay_rejects_bad_half_life(bad):
    with pytest.raises(ValueError, match="half_life_days"):
        trust.decay_weights([0, 1], bad, 1)


def test_row_normalize_rows_sum_to_one_and_empty_rows_stay_empty():
    m = sp.csr_matrix(np.array([[1.0, 3.0, 0], [0, 0, 0], [0, 2.0, 2.0]]))
    before = m.copy()
    p = trust.row_normalize(m)
    np.testing.assert_allclose(p.toarray(), [[0.25, 0.75, 0], [0, 0, 0], [0, 0.5, 0.5]])
    assert p[1].nnz == 0
    assert (m != before).nnz == 0  # input untouched


def test_prune_rows_top_k_breaks_ties_by_lower_index():
    m = sp.csr_matrix(np.array([[0.5, 0.2, 0.5, 0.1], [0.0, 0.3, 0.3, 0.3]]))
    out = trust.prune_rows(m, top_k=2).toarray()
    np.testing.assert_array_equal(out, [[0.5, 0, 0.5, 0], [0, 0.3, 0.3, 0]])
    out = trust.prune_rows(m, threshold=0.25).toarray()
    np.testing.assert_array_equal(out, [[0.5, 0, 0.5, 0], [0, 0.3, 0.3, 0.3]])


def test_prune_rows_returns_a_new_matrix_when_nothing_is_pruned():
    """Its docstring's promise: writing to the result never changes the input."""
    m = sp.csr_matrix(np.array([[0.5, 0.2], [0.0, 0.3]]))
    out = trust.prune_rows(m)
    assert out.nnz == m.nnz
    out.data[:] = 9.0
    np.testing.assert_array_equal(m.toarray(), [[0.5, 0.2], [0.0, 0.3]])


# ------------------------------------------------------------------------------------------
# tie strength
# ------------------------------------------------------------------------------------------

def test_reciprocity_raises_tie_strength():
    # 0 <-> 1 mutual, 0 -> 2 one way
    s = graph([(0, 1), (1, 0), (0, 2)], 3)
    w = trust.tie_strength(s, reciprocity_weight=1.0)
    assert w[0, 1] == 2.0 and w[0, 2] == 1.0 and w[1, 0] == 2.0
    assert w[2].nnz == 0  # no edge, no trust
    flat = trust.tie_strength(s, reciprocity_weight=0.0)
    assert flat[0, 1] == flat[0, 2] == 1.0
    np.testing.assert_array_equal(trust.reciprocity(s).toarray(), [[0, 1, 0], [1, 0, 0], [0, 0, 0]])


def test_shared_interactions_is_cosine_on_edges_only():
    s = graph([(0, 1), (0, 2)], 3)
    x = sp.csr_matrix(np.array([[1, 1, 1, 0], [1, 1, 0, 0], [0, 0, 0, 1]], dtype=float))
    cos = trust.shared_interactions(s, x).toarray()
    np.testing.assert_allclose(cos[0, 1], 2 / np.sqrt(3 * 2))
    assert cos[0, 2] == 0 and cos[1, 0] == 0  # no overlap / no edge
    jac = trust.shared_interactions(s, x, similarity="jaccard").toarray()
    np.testing.assert_allclose(jac[0, 1], 2 / 3)
    dense = (x @ x.T).toarray() * s.toarray()
    np.testing.assert_allclose(trust.edge_dot(s, x).toarray(), dense)
    w = trust.tie_strength(s, x, reciprocity_weight=0, shared_weight=3.0, adoption_weight=0)
    np.testing.assert_allclose(w[0, 1], 1 + 3 * 2 / np.sqrt(6))
    assert w[0, 2] == 1.0


def test_shared_purchases_raise_tie_strength_on_a_dataset():
    ds = world(
        [("a", "x", "purchase"), ("a", "y", "purchase"), ("b", "x", "purchase"),
         ("b", "y", "purchase"), ("c", "z", "purchase")],
        [("a", "b"), ("a", "c")],
    )
    w = trust.tie_strength(ds.social_matrix(), ds.matrix(weight="binary"), reciprocity_weight=0)
    a, b, c = ds.user_index(["a", "b", "c"])
    assert w[a, b] > w[a, c] == 1.0


def test_adoption_counts_only_after_the_endorsement_and_decay_by_age():
    # u0 follows u1. u1 endorsed items 0 and 1 at t=10 days. u0 bought item 0 at t=20 days
    # (after: counts) and item 1 at t=5 days (before: does not count).
    s = graph([(0, 1)], 2)
    adopt = sp.csr_matrix(np.array([[1.0, 1.0], [0.0, 0.0]]))
    adopt_t = sp.csr_matrix((np.array([20.0, 5.0]) * DAY, adopt.indices, adopt.indptr), shape=(2, 2))
    endorse = sp.csr_matrix(np.array([[0.0, 0.0], [1.0, 1.0]]))
    endorse_t = sp.csr_matrix((np.array([10.0, 10.0]) * DAY, endorse.indices, endorse.indptr), shape=(2, 2))
    plain = trust.adoption_counts(s, adopt, endorse)
    assert plain[0, 1] == 2.0
    ordered = trust.adoption_counts(
        s, adopt, endorse, adopter_times=adopt_t, endorser_times=endorse_t
    )
    assert ordered[0, 1] == 1.0
    decayed = trust.adoption_counts(
        s, adopt, endorse, adopter_times=adopt_t, endorser_times=endorse_t,
        half_life_days=10, now=30 * DAY,
    )
    np.testing.assert_allclose(decayed[0, 1], 0.5)
    with pytest.raises(ValueError, match="both"):
        trust.adoption_counts(s, adopt, endorse, adopter_times=adopt_t)
    with pytest.raises(ValueError, match="sparsity pattern"):
        trust.adoption_counts(s, adopt, endorse, adopter_times=endorse_t, endorser_times=endorse_t)


def test_adoption_with_zero_timestamps_counts_every_common_item():
    ds = world(
        [("a", "x", "purchase", 0), ("a", "y", "purchase", 0), ("b", "x", "recommend", 0),
         ("b", "y", "recommend", 0)],
        [("a", "b")],
    )
    adopter, at = trust.event_times(ds, ["purchase"], how="last")
    endorser, et = trust.event_times(ds, ["recommend"], how="first")
    assert at.nnz == adopter.nnz == 2  # explicit zero timestamps are kept
    a, b = ds.user_index(["a", "b"])
    out = trust.adoption_counts(ds.social_matrix(), adopter, endorser, adopter_times=at, endorser_times=et)
    assert out[a, b] == 2.0


def test_tie_strength_rejects_bad_input():
    s = graph([(0, 1)], 2)
    with pytest.raises(ValueError, match="shared_weight"):
        trust.tie_strength(s, shared_weight=-1)
    with pytest.raises(ValueError, match="square"):
        trust.tie_strength(sp.csr_matrix(np.ones((2, 3))))
    with pytest.raises(TypeError, match="scipy.sparse"):
        trust.tie_strength(np.ones((2, 2)))
    with pytest.raises(ValueError, match="non-negative"):
        trust.tie_strength(sp.csr_matrix(np.array([[0, -1.0], [0, 0]])))


# ------------------------------------------------------------------------------------------
# endorsements
# ------------------------------------------------------------------------------------------

def test_kind_weighted_endorsements_order_kinds_decay_and_privacy():
    t = 100 * DAY
    ds = hr.Dataset.from_frames(
        pd.DataFrame(
            {
                "user": ["a", "a", "a", "b", "b", "c"],
                "item": ["x", "y", "z", "x", "x", "x"],
                "kind": ["recommend_after_purchase", "recommend", "purchase", "recommend",
                         "recommend", "recommend"],
                "timestamp": [t, t, t, t - 30 * DAY, t - 10 * DAY, t],
                "visibility": ["friends", "public", "friends", "friends", "friends", "private"],
                "order_id": [None, None, "o1", None, "2", None],
            }
        )
    )
    e = trust.kind_weighted_endorsements(ds)
    a, b, c = ds.user_index(["a", "b", "c"])
    x, y, z = ds.item_index(["x", "y", "z"])
    assert e[a, x] == 2.0 and e[a, y] == 1.0 and e[a, z] == 0.5
    assert e[b, x] == 1.0  # one vote per (user, item): max, not sum
    assert e[c].nnz == 0  # private rows never count
    assert trust.kind_weighted_endorsements(ds, aggregate="sum")[b, x] == 2.0
    d = trust.kind_weighted_endorsements(ds, half_life_days=10)
    np.testing.assert_allclose(d[b, x], 0.5)  # freshest of b's two endorsements: 10 days old
    np.testing.assert_allclose(d[a, x], 2.0)
    only = trust.kind_weighted_endorsements(ds, {"recommend": 1.0})
    assert only[a, x] == 0 and only[a, y] == 1.0
    mask = trust.endorsement_kinds(ds, ["recommend", "recommend_after_purchase", "purchase"])
    assert trust.decode_kinds(mask[a, x]) == ["recommend_after_purchase"]
    assert trust.decode_kinds(mask[b, x]) == ["recommend"]
    with pytest.raises(ValueError, match="kind_weights"):
        trust.kind_weighted_endorsements(ds, {"likes": 1.0})


# ------------------------------------------------------------------------------------------
# personalized PageRank
# ------------------------------------------------------------------------------------------

def test_chain_trust_needs_two_hops_and_unreachable_is_exactly_zero():
    # a -> b -> c, d isolated, e -> a (e trusts a, a does not trust e)
    p = trust.row_normalize(graph([(0, 1), (1, 2), (4, 0)], 5))
    one = trust.personalized_pagerank(p, [0], max_hops=1)
    two = trust.personalized_pagerank(p, [0], max_hops=2)
    three = trust.personalized_pagerank(p, [0], max_hops=3)
    assert one[0, 1] > 0 and one[0, 2] == 0
    assert two[0, 2] > 0 and three[0, 2] == two[0, 2]
    alpha = 0.15
    np.testing.assert_allclose(two[0, 1], alpha * (1 - alpha))
    np.testing.assert_allclose(two[0, 2], alpha * (1 - alpha) ** 2)
    for r in (one, two, three):
        assert r[0, 3] == 0 and r[0, 4] == 0 and r[0, 0] == 0  # no path, no self trust
        assert set(r.indices) <= {1, 2}
    keep = trust.personalized_pagerank(p, [0], max_hops=2, exclude_seeds=False)
    np.testing.assert_allclose(keep[0, 0], alpha)


def test_ppr_rows_sum_to_at_most_one_and_batch_equals_single():
    rng = np.random.default_rng(0)
    a = sp.random(80, 80, density=0.08, random_state=rng, format="csr")
    a.setdiag(0)
    a.eliminate_zeros()
    p = trust.row_normalize(a)
    seeds = np.arange(80)
    full = trust.personalized_pagerank(p, seeds, max_hops=6, exclude_seeds=False, tol=0)
    sums = np.asarray(full.sum(axis=1)).ravel()
    assert (sums <= 1 + 1e-12).all() and sums.max() > 0.5
    batch = trust.personalized_pagerank(p, seeds, max_hops=4, top_k=10)
    for s in (0, 17, 79):
        single = trust.personalized_pagerank(p, [s], max_hops=4, top_k=10)
        np.testing.assert_array_equal(single.toarray()[0], batch.toarray()[s])
    assert np.diff(batch.indptr).max() <= 10  # sparsity bounded by top_k
    assert (batch.diagonal() == 0).all()


def test_ppr_matches_dense_power_series():
    rng = np.random.default_rng(1)
    a = sp.random(30, 30, density=0.2, random_state=rng, format="csr")
    p = trust.row_normalize(a)
    dense = p.toarray()
    alpha, hops = 0.2, 3
    expect = sum(alpha * (1 - alpha) ** k * np.linalg.matrix_power(dense, k) for k in range(hops + 1))
    got = trust.personalized_pagerank(p, np.arange(30), alpha=alpha, max_hops=hops, tol=0,
                                      exclude_seeds=False)
    np.testing.assert_allclose(got.toarray(), expect, atol=1e-12)


def test_sybil_region_behind_one_attack_edge_gets_little_trust():
    rng = np.random.default_rng(3)
    n_honest, n_sybil = 60, 60
    edges = []
    for u in range(n_honest):  # honest: each trusts 6 random honest users
        for f in rng.choice(np.delete(np.arange(n_honest), u), 6, replace=False):
            edges.append((u, int(f)))
    for u in range(n_honest, n_honest + n_sybil):  # sybils: a dense clique
        edges += [(u, f) for f in range(n_honest, n_honest + n_sybil) if f != u]
        edges.append((u, int(rng.integers(n_honest))))  # sybils follow honest users freely
    edges.append((0, n_honest))  # the one attack edge: honest 0 follows sybil 60
    p = trust.row_normalize(graph(edges, n_honest + n_sybil))
    r = trust.personalized_pagerank(p, np.arange(n_honest), max_hops=3).toarray()
    to_sybil = r[:, n_honest:].sum(axis=1)
    to_honest = r[:, :n_honest].sum(axis=1)
    # half of all accounts are sybils, but they receive well under 1% of the trust mass
    assert to_sybil.mean() < 0.01 * to_honest.mean()
    # only walks through the attack edge reach them: most honest users give them exactly 0
    assert (to_sybil == 0).mean() > 0.5


def test_ppr_validates_its_input():
    p = trust.row_normalize(graph([(0, 1)], 2))
    with pytest.raises(ValueError, match="row-"):
        trust.personalized_pagerank(graph([(0, 1), (0, 0)], 2) * 2, [0])
    with pytest.raises(ValueError, match="'alpha'"):
        trust.personalized_pagerank(p, [0], alpha=0)
    with pytest.raises(ValueError, match="'seeds'"):
        trust.personalized_pagerank(p, [5])
    with pytest.raises(TypeError, match="'seeds'"):
        trust.personalized_pagerank(p, [0.5])
    with pytest.raises(ValueError, match="'weights'"):
        trust.personalized_pagerank(p, [0], max_hops=2, weights=[0, 1])


def test_hop_distances():
    g = graph([(0, 1), (1, 2), (2, 3), (4, 0)], 5)
    assert trust.hop_distances(g, 0).tolist() == [0, 1, 2, 3, -1]
    assert trust.hop_distances(g, 0, max_hops=2).tolist() == [0, 1, 2, -1, -1]


# ------------------------------------------------------------------------------------------
# rankers
# ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def circle():
    """me follows f1, f2, f3; f1 follows g (a friend of a friend); s is followed by nobody."""
    inter = [
        ("f1", "shoes", "recommend_after_purchase"),
        ("f2", "shoes", "recommend_after_purchase"),
        ("f3", "shoes", "recommend"),
        ("f2", "tea", "recommend"),
        ("g", "book", "recommend"),
        ("s", "spam", "recommend"),
        ("s", "spam2", "recommend_after_purchase"),
        ("me", "lamp", "view"),
        ("x", "spam", "purchase"),
        ("y", "spam", "purchase"),
        ("z", "spam", "purchase"),
    ]
    social = [("me", "f1"), ("me", "f2"), ("me", "f3"), ("f1", "g"), ("s", "me"), ("lonely", "x")]
    return world(inter, social)


def test_friend_endorsements_counts_friends_and_explains(circle):
    r = hr.rankers.make("friend_endorsements").fit(circle)
    ids, sc = r.recommend("me", n=5)
    assert ids[:2].tolist() == ["shoes", "tea"] and sc[:2].tolist() == [3.0, 1.0]
    assert not np.isfinite(sc[2:]).any()  # book (friend of friend) and spam are no candidates
    e = r.explain("me", "shoes")
    assert sorted(e["friends"]) == ["f1", "f2", "f3"]
    assert e["kinds"] == {"recommend": 1, "recommend_after_purchase": 2}
    assert e["text"] == "3 friends recommended this; 2 after buying it."
    assert r.explain("me", "book")["friends"] == []


def test_friend_endorsements_fallback_for_users_without_endorsing_friends(circle):
    r = hr.rankers.make("friend_endorsements").fit(circle)
    ids, sc = r.recommend("lonely", n=3)  # follows x, who only purchased
    assert np.isfinite(sc).all() and ids[0] == "spam"  # popularity
    assert r.explain("lonely", "spam")["fallback"] is True
    strict = hr.rankers.make("friend_endorsements", fallback="none").fit(circle)
    ids, sc = strict.recommend("lonely", n=3)
    assert not np.isfinite(sc).any()
    # a friend's purchases are never counted as endorsements (the privacy rule)
    with pytest.raises(ValueError, match="privacy rule"):
        hr.rankers.make("friend_endorsements", kinds=["purchase"]).fit(circle)


def test_trust_reaches_friends_of_friends_and_ignores_the_untrusted(circle):
    r = hr.rankers.make("trust", max_hops=2, trust_weight=0.5, defence=None).fit(circle)
    ids, sc = r.recommend("me", n=6)
    fin = ids[np.isfinite(sc)].tolist()
    assert fin[0] == "shoes" and set(fin) == {"shoes", "tea", "book"}
    assert "spam" not in fin and "spam2" not in fin  # s follows me; I do not trust s
    e = r.explain("me", "book")  # g is no friend of me: counted, never named
    assert e["endorsers"] == [] and e["friends"] == [] and e["n_wider_circle"] == 1
    assert "g" not in e["text"] and "wider circle (1 person)" in e["text"]
    e = r.explain("me", "shoes")
    assert set(e["friends"]) == {"f1", "f2", "f3"}
    assert e["kinds"]["recommend_after_purchase"] == 2
    assert np.isclose(sum(e["terms"].values()), e["score"], rtol=1e-5)
    direct = hr.rankers.make("trust", max_hops=2, trust_weight=0.0, defence=None).fit(circle)
    ids, sc = direct.recommend("me", n=6)
    assert set(ids[np.isfinite(sc)].tolist()) == {"shoes", "tea"}


def test_trust_and_hybrid_defend_by_default(circle):
    """The default defence drops the endorsements of accounts that never bought anything
    (review padding): in ``circle`` only x, y and z bought, so "me" gets no friend's pick."""
    for name, kw in (("trust", {}), ("hybrid", {"als": {"factors": 4, "iterations": 2}})):
        r = hr.rankers.make(name, **kw)
        assert r.defence is True
        r.fit(circle)
        assert r.defence_report_["non_buyer_rows_dropped"] > 0, name
    plain = hr.rankers.make("trust", defence=None).fit(circle)
    assert plain.recommend("me", n=1)[0][0] == "shoes"
    assert sorted(plain.explain("me", "shoes")["friends"]) == ["f1", "f2", "f3"]
    defended = hr.rankers.make("trust").fit(circle)
    assert defended.recommend("me", n=1)[0][0] == "spam"  # the popularity fallback
    e = defended.explain("me", "shoes")
    assert e["fallback"] is True and e["friends"] == []


def test_blocked_accounts_never_contribute():
    inter = [("f1", "a", "recommend"), ("f2", "b", "recommend"), ("f2", "a", "recommend")]
    social = [("me", "f1"), ("me", "f2")]
    ds = world(inter, social, blocks=[("me", "f2")])
    for name in ("friend_endorsements", "trust"):
        r = hr.rankers.make(name, **({"defence": None} if name == "trust" else {})).fit(ds)
        ids, sc = r.recommend("me", n=3)
        assert ids[np.isfinite(sc)].tolist() == ["a"], name
        assert "f2" not in r.explain("me", "a")["friends"]


def test_sparse_top_n_equals_the_dense_path():
    ds = hr.testing.small_world(seed=4)
    users = np.concatenate([np.arange(ds.n_users), [-1]])
    cand = np.zeros(ds.n_items, dtype=bool)
    cand[::3] = True
    for name, params in (("friend_endorsements", {}), ("trust", {"max_hops": 3}),
                         ("trust", {"prior_weight": 0.0, "trust_weight": 0.0}),
                         ("trust", {"fill": True}), ("trust", {"fill": True, "prior_weight": 0.0}),
                         ("trust", {"fill": True, "prior_weight": 5.0, "fallback": "none"})):
        r = hr.rankers.make(name, **params).fit(ds)
        for excl, c in ((True, None), (False, None), (True, cand)):
            fast = r._recommend_idx(users, 9, excl, c)
            slow = Ranker._recommend_idx(r, users, 9, excl, c)
            np.testing.assert_array_equal(fast[0], slow[0])
            np.testing.assert_array_equal(fast[1], slow[1])


def test_social_rankers_never_count_friends_purchases():
    """On purchase-only data the social rankers have no endorsement to use: a friend's purchases
    are no per-person signal (the privacy rule), so every user gets the documented fallback
    (this test used to assert that a friend's purchase was recommended)."""
    ds = world(
        [("f", "x", "purchase"), ("f", "y", "purchase"), ("me", "y", "purchase"),
         ("g", "z", "purchase")],
        [("me", "f"), ("f", "me")],
    )
    for name in ("friend_endorsements", "trust"):
        r = hr.rankers.make(name, fallback="none").fit(ds)
        ids, sc = r.recommend("me", n=3)
        assert not np.isfinite(sc).any(), name
        assert r.explain("me", "x")["friends"] == [], name


def test_trust_rejects_bad_params(circle):
    for params, match in (({"alpha": 0}, "'alpha'"), ({"max_hops": 0}, "'max_hops'"),
                          ({"kind_weights": {"likes": 1}}, "'kind_weights'"),
                          ({"trust_weight": -1}, "'trust_weight'"),
                          ({"fallback": "random"}, "'fallback'")):
        with pytest.raises(ValueError, match=match):
            hr.rankers.make("trust", **params).fit(circle)
    with pytest.raises(ValueError, match="'kinds'"):
        hr.rankers.make("friend_endorsements", kinds=["likes"]).fit(circle)


# ------------------------------------------------------------------------------------------
# properties
# ------------------------------------------------------------------------------------------

@st.composite
def social_worlds(draw):
    n_users = draw(st.integers(3, 9))
    n_items = draw(st.integers(2, 8))
    kinds = ["purchase", "recommend", "recommend_after_purchase", "view"]
    rows = draw(
        st.lists(
            st.tuples(st.integers(0, n_users - 1), st.integers(0, n_items - 1), st.sampled_from(kinds)),
            min_size=1, max_size=30,
        )
    )
    edges = draw(
        st.lists(st.tuples(st.integers(0, n_users - 1), st.integers(0, n_users - 1)), max_size=25)
    )
    edges = sorted({(u, f) for u, f in edges if u != f})
    inter = pd.DataFrame(
        [(f"u{u}", f"i{i}", k) for u, i, k in rows], columns=["user", "item", "kind"]
    ).drop_duplicates()
    soc = pd.DataFrame([(f"u{u}", f"u{f}") for u, f in edges], columns=["user", "friend"])
    return hr.Dataset.from_frames(inter, soc if len(soc) else None)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ds=social_worlds())
def test_friend_endorsements_never_recommends_what_no_friend_endorsed(ds):
    r = hr.rankers.make("friend_endorsements", fallback="none").fit(ds)
    ids, sc = r.recommend(list(ds.user_ids), n=ds.n_items, exclude_seen=False)
    assert set(r.kinds_) == {"recommend", "recommend_after_purchase"}  # never purchases
    vis = hr.visibility.visible_endorsements(ds)
    for row, u in enumerate(ds.user_ids):
        mine = vis[vis["viewer"] == u]
        allowed = set(mine["item"])
        got = set(ids[row][np.isfinite(sc[row])].tolist())
        assert got == allowed
        for item in got:
            assert set(r.explain(u, item)["friends"]) == set(mine.loc[mine["item"] == item,
                                                                      "endorser"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ds=social_worlds())
def test_trust_weight_zero_is_plain_direct_friend_scoring(ds):
    kw = {"recommend": 1.0, "recommend_after_purchase": 1.0}
    r = hr.rankers.make(
        "trust", trust_weight=0.0, max_hops=3, prior_weight=0.0, kind_weights=kw,
        reciprocity_weight=0.0, shared_weight=0.0, adoption_weight=0.0, endorser_norm=0.0,
        fallback="none", defence=None,
    ).fit(ds)
    fe = hr.rankers.make("friend_endorsements", kinds=list(kw), fallback="none").fit(ds)
    users = list(ds.user_ids)
    s_trust = r.score(users)
    s_friends = fe.score(users)
    deg = np.diff(ds.social_matrix().indptr).astype(np.float32)
    # direct trust = 1/deg per friend, so trust scores are friend counts divided by the degree
    for row in range(len(users)):
        fin = np.isfinite(s_friends[row])
        np.testing.assert_array_equal(fin, np.isfinite(s_trust[row]))
        np.testing.assert_allclose(s_trust[row][fin], s_friends[row][fin] / deg[row], rtol=1e-6)
    # and with weighted kinds it equals T @ E with T the normalised follow matrix
    r2 = hr.rankers.make("trust", trust_weight=0.0, prior_weight=0.0, fallback="none").fit(ds)
    t = r2.trust_rows(np.arange(ds.n_users))
    np.testing.assert_allclose(t.toarray(), r2.transition_.toarray(), atol=1e-12)


@pytest.mark.parametrize("name, params", [
    ("trust", {"defence": None}),
    ("trust", {"defence": None, "fill": True}),
    ("trust", {"defence": None, "fallback": "none"}),
    ("friend_endorsements", {}),
    ("friend_endorsements", {"fallback": "none"}),
])
def test_score_at_equals_the_dense_block(name, params):
    """The sparse pair scoring the feed uses gives exactly the dense block's values, for
    candidates, non-candidates and users without any candidate (fallback rows)."""
    ds = hr.datasets.synthetic(n_users=200, n_items=150, seed=5)
    r = hr.rankers.make(name, **params).fit(ds)
    uidx = np.arange(ds.n_users)
    dense = r._score(uidx)
    c = r._candidates(uidx)
    assert (np.diff(c.indptr) == 0).any() and c.nnz  # both kinds of rows are exercised
    gen = np.random.default_rng(0)
    rows = gen.integers(0, len(uidx), 5000)
    cols = gen.integers(0, ds.n_items, 5000)
    # and every stored candidate
    cr = np.repeat(np.arange(len(uidx)), np.diff(c.indptr))
    rows, cols = np.concatenate([rows, cr]), np.concatenate([cols, c.indices])
    got = r._score_at(uidx, rows, cols)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, dense[rows, cols])


def test_ranker_trust_rows_equal_the_checked_public_walk():
    """TrustRanker checks its transition matrix once, then walks per batch: the rows equal
    personalized_pagerank's, in any batching, also after a refit on other data; bad indices
    are refused."""
    ds = hr.datasets.synthetic(n_users=300, n_items=200, seed=3)
    r = hr.rankers.make("trust", defence=None).fit(ds)
    ref = trust.personalized_pagerank(
        r.transition_, np.arange(ds.n_users), alpha=r.alpha, max_hops=r.max_hops, tol=1e-9,
        top_k=r.max_endorsers, weights=r._hop_weights(), exclude_seeds=True,
    )
    assert ref.nnz > 0 and not r.blocked_.nnz
    got = sp.vstack([r.trust_rows(np.arange(a, min(a + 7, ds.n_users)))
                     for a in range(0, ds.n_users, 7)])
    assert (got != ref).nnz == 0
    other = hr.datasets.synthetic(n_users=120, n_items=80, seed=4)
    r.fit(other)
    ref2 = trust.personalized_pagerank(
        r.transition_, np.arange(other.n_users), alpha=r.alpha, max_hops=r.max_hops, tol=1e-9,
        top_k=r.max_endorsers, weights=r._hop_weights(), exclude_seeds=True,
    )
    assert r.blocked_.nnz  # this world has blocks: their entries are removed
    ref2 = sp.csr_matrix(ref2 - ref2.multiply(r.blocked_ > 0))
    ref2.eliminate_zeros()
    assert (r.trust_rows(np.arange(other.n_users)) != ref2).nnz == 0
    with pytest.raises(ValueError, match="uidx"):
        r.trust_rows(np.array([other.n_users]))
    # the public function still checks what it is given
    bad = r.transition_.copy()
    bad.data[:] = 2.0
    with pytest.raises(ValueError, match="row-"):
        trust.personalized_pagerank(bad, [0])


# ------------------------------------------------------------------------------------------
# real data
# ------------------------------------------------------------------------------------------

def _lastfm():
    from conftest import data_dir

    path = data_dir("lastfm-hetrec2011")
    try:
        from haowurank.datasets import load_lastfm
    except ImportError:
        pytest.skip("haowurank.datasets.load_lastfm is not available yet")
    return load_lastfm(path)


@pytest.mark.slow
def test_social_rankers_fall_back_on_lastfm():
    ds = _lastfm()
    train, test = hr.split.random_split(ds, test_fraction=0.2, seed=0)
    users = np.flatnonzero(np.diff(test.matrix(weight="binary").indptr) > 0)
    truth = test.matrix(weight="binary")[users]

    def ndcg(r):
        idx, _ = r._recommend_idx(users, 20, True, None)
        return float(np.nanmean(hr.metrics.ndcg_at_k(idx, truth, 20)))

    # LastFM holds listens only: no endorsement, so friends' listens never reach a user's
    # social scores (the privacy rule) and the social rankers give their popularity fallback
    pop = ndcg(hr.rankers.make("popularity").fit(train))
    tr = ndcg(hr.rankers.make("trust", fill=True).fit(train))
    fe = ndcg(hr.rankers.make("friend_endorsements").fit(train))
    assert tr == pytest.approx(pop) and fe == pytest.approx(pop), (tr, fe, pop)
