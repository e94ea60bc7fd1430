"""``sbpr`` (Cornac's social BPR, a peer model): the shared contract, learning, the index mapping,
and serving from plain arrays. Skipped when cornac (the ``peers`` extra) is not installed."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

pytest.importorskip("cornac")

import haowurank as hr  # noqa: E402
from haowurank.rankers._cornac import (  # noqa: E402
    factors_in_haowurank_order,
    fit_cornac_sbpr,
    social_items,
)
from haowurank.testing import RankerContract, small_world  # noqa: E402

FAST = {"k": 8, "max_iter": 20, "learning_rate": 0.05, "lambda_reg": 0.01, "random_state": 1}


class TestSBPRContract(RankerContract):
    name = "sbpr"
    params = dict(FAST)


@pytest.fixture(scope="module")
def world():
    return small_world()


@pytest.fixture(scope="module")
def fitted(world):
    return hr.rankers.make("sbpr", **FAST).fit(world)


def test_scores_are_factors_dot_plus_item_bias(fitted, world):
    users = list(world.user_ids)
    got = fitted.score(users)
    want = fitted.user_factors_ @ fitted.item_factors_.T + fitted.item_bias_
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert fitted.user_factors_.shape == (world.n_users, 8)
    assert fitted.item_factors_.shape == (world.n_items, 8)
    assert np.ptp(fitted.item_bias_) > 0  # the biases were learned, not left at zero


def test_index_mapping_matches_cornac_scores(world):
    """Cornac re-indexes ids; the copied arrays must score like cornac's own model."""
    X = world.matrix(weight="binary")
    S = world.social_matrix(weighted=False)
    # feed the pairs in a shuffled order so that cornac's indices differ from ours
    coo = X.tocoo()
    perm = np.random.default_rng(0).permutation(coo.nnz)
    Xp = sp.coo_matrix((coo.data[perm], (coo.row[perm], coo.col[perm])), shape=X.shape)
    model, ts = fit_cornac_sbpr(Xp, S, k=6, max_iter=10, learning_rate=0.05, lambda_reg=0.01,
                                seed=3)
    assert list(ts.iid_map.keys()) != sorted(ts.iid_map.keys())  # the mapping is not the identity
    U, V, b = factors_in_haowurank_order(model, ts, world.n_users, world.n_items)
    for u in [0, 7, 31]:
        ours = U[u] @ V.T + b
        cu = ts.uid_map[u]
        theirs = model.score(cu)  # cornac's item order
        for raw_i, ci in ts.iid_map.items():
            assert np.isclose(ours[raw_i], theirs[ci], rtol=1e-5, atol=1e-6)


def test_social_items_equal_cornacs_definition(world):
    """Our vectorised social positives = cornac's per-user loop (with np.isin for np.in1d)."""
    X = world.matrix(weight="binary")
    S = world.social_matrix(weighted=False)
    model, ts = fit_cornac_sbpr(X, S, k=4, max_iter=1, learning_rate=0.05, lambda_reg=0.01,
                                seed=0)
    ids, counts, indptr = social_items(ts)
    Xc = ts.matrix
    rid, cid, val = ts.user_graph.get_train_triplet(set(ts.uir_tuple[0]), set(ts.uir_tuple[0]))
    Y = sp.csr_matrix((val, (rid, cid)), shape=(ts.num_users, ts.num_users))
    assert Y.nnz > 0
    total = 0
    for u in range(ts.num_users):
        own = np.unique(Xc[u].indices)
        soc, cnt = np.unique(Xc[Y[u].indices].indices, return_counts=True)
        keep = ~np.isin(soc, own)
        np.testing.assert_array_equal(ids[indptr[u]:indptr[u + 1]], soc[keep])
        np.testing.assert_array_equal(counts[indptr[u]:indptr[u + 1]], cnt[keep])
        total += int(keep.sum())
    assert total > 0 and len(ids) == total + 1 and ids[-1] == -1  # the sentinel


def test_learns_something():
    """Beats a random ranking clearly on a synthetic world (test NDCG@20)."""
    ds = hr.datasets.synthetic(n_users=300, n_items=120, seed=4)
    train, test = hr.split.random_split(ds, test_fraction=0.2, seed=0)
    r = hr.rankers.make("sbpr", k=16, max_iter=30, learning_rate=0.05, random_state=0).fit(train)
    got = hr.evaluate(r, train, test, k=[20])
    rng = np.random.default_rng(0)

    class _Random(hr.rankers.Ranker):
        name = "_random_for_test"

        def _fit(self, ds, *, show_progress, callback):
            pass

        def _score(self, uidx):
            return rng.random((len(uidx), len(self.item_ids_))).astype(np.float32)

    base = hr.evaluate(_Random().fit(train), train, test, k=[20])
    assert got["NDCG@20"] > 1.5 * base["NDCG@20"]


def test_same_random_state_same_model(world):
    a = hr.rankers.make("sbpr", **FAST).fit(world)
    b = hr.rankers.make("sbpr", **FAST).fit(world)
    np.testing.assert_array_equal(a.user_factors_, b.user_factors_)
    np.testing.assert_array_equal(a.item_factors_, b.item_factors_)
    np.testing.assert_array_equal(a.item_bias_, b.item_bias_)
    c = hr.rankers.make("sbpr", **{**FAST, "random_state": 2}).fit(world)
    assert not np.array_equal(a.item_factors_, c.item_factors_)


@pytest.mark.parametrize(
    "field,value",
    [("k", 0), ("k", 2.5), ("max_iter", 0), ("learning_rate", 0.0), ("learning_rate", float("nan")),
     ("lambda_reg", -1.0), ("lambda_reg", "0.1"), ("random_state", -1), ("random_state", True)],
)
def test_bad_params_name_the_field(world, field, value):
    r = hr.rankers.make("sbpr", **{**FAST, field: value})
    with pytest.raises(ValueError, match=f"'{field}' parameter"):
        r.fit(world)


def test_explain_names_model_terms_and_followees(fitted, world):
    """The explanation names exactly the friends whose endorsement of the item the user may see
    (haowurank.visibility); it used to name every followee with any interaction, purchases too."""
    X = world.matrix(weight="binary")
    every = hr.visibility.visible_endorsements(world)
    seen = {(world.user_ids[u], world.item_ids[i]) for u, i in zip(*X.nonzero())}
    vis = every[[(v, i) not in seen for v, i in zip(every["viewer"], every["item"])]]
    v, item = vis["viewer"].iloc[0], vis["item"].iloc[0]
    e = fitted.explain(v, item)
    assert np.isclose(e["score"], e["terms"]["dot"] + e["terms"]["item_bias"], rtol=1e-4,
                      atol=1e-5)
    assert len(e["factor_terms"]) == 5 and e["contributions"]
    want = set(vis.loc[(vis["viewer"] == v) & (vis["item"] == item), "endorser"])
    assert set(e["friends"]) == want and want
    assert "SBPR" in e["text"]
    # a followee's purchase is never named
    S = world.social_matrix(weighted=False)
    C = sp.csr_matrix(S @ X)
    for u in np.flatnonzero(np.diff(C.indptr))[:20]:
        for i in C[u].indices[:3]:
            named = set(fitted.explain(world.user_ids[u], world.item_ids[i])["friends"])
            mine = every[(every["viewer"] == world.user_ids[u])
                         & (every["item"] == world.item_ids[i])]
            assert named <= set(mine["endorser"])


@pytest.mark.parametrize("installed", [True, False])
def test_saved_model_serves_without_cornac(fitted, world, tmp_path, installed):
    """A saved model serves without importing cornac; where cornac is not installed at all,
    ``sbpr`` is not offered for fitting but the saved model still loads and serves."""
    path = fitted.save(tmp_path / "sbpr.npz")
    users = list(world.user_ids[:5])
    ids, _ = fitted.recommend(users, n=5)
    block = "" if installed else "sys.modules['cornac'] = None  # no peers extra\n"
    listed = "in" if installed else "not in"
    code = (
        f"import sys\n{block}import numpy as np, haowurank as hr\n"
        f"assert ('sbpr' in hr.rankers.available()) is {installed}, {listed!r}\n"
        f"r = hr.load_ranker({str(path)!r})\n"
        f"ids, sc = r.recommend({users!r}, n=5)\n"
        "r.explain(r.user_ids_[0], ids[0][0]); r.score(list(r.user_ids_[:3]))\n"
        "assert 'cornac' not in sys.modules or sys.modules['cornac'] is None, 'cornac imported'\n"
        "print(ids.tolist())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == str(ids.tolist())


def test_fits_without_a_social_graph():
    """No follow edges: every user trains on the plain BPR path; unknown users get popularity."""
    inter = pd.DataFrame({"user": ["a", "a", "b", "b", "c", "c"], "item": [1, 2, 2, 3, 1, 3]})
    ds = hr.Dataset.from_frames(inter)
    r = hr.rankers.make("sbpr", k=4, max_iter=5).fit(ds)
    ids, sc = r.recommend(["a", "zz"], n=3)
    assert ids[0].tolist() == [3, -1, -1] and np.isfinite(sc[0][0])
    assert ids[1].tolist() == [1, 2, 3]  # popularity fallback, ties by item index
