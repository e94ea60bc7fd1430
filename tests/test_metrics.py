"""Known answers for the ranking metrics, computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from haowurank import metrics as M


def csr(rows, n_items):
    """Test matrix from lists of relevant items per user."""
    data, ind, ptr = [], [], [0]
    for r in rows:
        ind += list(r)
        data += [1.0] * len(r)
        ptr.append(len(ind))
    return sp.csr_matrix((data, ind, ptr), shape=(len(rows), n_items))


D = [1 / math.log2(r + 1) for r in range(1, 30)]  # discount of rank r (1-based) at D[r-1]


def test_metric_name():
    assert M.metric_name("NDCG", 20) == "NDCG@20"


def test_perfect_ranking_scores_one():
    test = csr([[0, 1, 2]], 10)
    rec = np.array([[0, 1, 2, 5, 6]])
    assert M.ndcg_at_k(rec, test, 5)[0] == pytest.approx(1.0)
    assert M.recall_at_k(rec, test, 5)[0] == pytest.approx(1.0)
    assert M.map_at_k(rec, test, 5)[0] == pytest.approx(1.0)
    assert M.hit_rate_at_k(rec, test, 5)[0] == 1.0


def test_reversed_ranking_known_ndcg():
    # relevant items at ranks 3, 4, 5 of a 5-list
    test = csr([[0, 1, 2]], 10)
    rec = np.array([[7, 8, 2, 1, 0]])
    dcg = D[2] + D[3] + D[4]
    idcg = D[0] + D[1] + D[2]
    assert M.ndcg_at_k(rec, test, 5)[0] == pytest.approx(dcg / idcg)
    # AP@5 = (1/3 + 2/4 + 3/5) / 3
    assert M.map_at_k(rec, test, 5)[0] == pytest.approx((1 / 3 + 2 / 4 + 3 / 5) / 3)


def test_partial_and_cutoffs():
    # two relevant of four; hits at ranks 2 and 4
    test = csr([[3, 4, 8, 9]], 10)
    rec = np.array([[0, 3, 1, 9, 2]])
    assert M.recall_at_k(rec, test, 2)[0] == pytest.approx(1 / 4)
    assert M.recall_at_k(rec, test, 5)[0] == pytest.approx(2 / 4)
    assert M.ndcg_at_k(rec, test, 2)[0] == pytest.approx(D[1] / (D[0] + D[1]))
    assert M.ndcg_at_k(rec, test, 5)[0] == pytest.approx(
        (D[1] + D[3]) / (D[0] + D[1] + D[2] + D[3])
    )
    assert M.map_at_k(rec, test, 5)[0] == pytest.approx((1 / 2 + 2 / 4) / 4)
    assert M.hit_rate_at_k(rec, test, 1)[0] == 0.0
    assert M.hit_rate_at_k(rec, test, 2)[0] == 1.0


def test_no_hit_zero_and_no_relevant_nan():
    test = csr([[5], []], 10)
    rec = np.array([[0, 1], [0, 1]])
    nd = M.ndcg_at_k(rec, test, 2)
    assert nd[0] == 0.0 and np.isnan(nd[1])
    assert np.isnan(M.recall_at_k(rec, test, 2)[1])


def test_pads_never_hit_and_multiple_users_vectorised():
    test = csr([[0], [1, 2], [3]], 6)
    rec = np.array([[0, -1, -1], [2, 5, 1], [-1, -1, -1]])
    r = M.recall_at_k(rec, test, 3)
    np.testing.assert_allclose(r, [1.0, 1.0, 0.0])
    h = M.hits_matrix(rec, test)
    np.testing.assert_array_equal(h, [[1, 0, 0], [1, 0, 1], [0, 0, 0]])


def test_zero_values_in_test_are_not_relevant():
    # row 0 stores an explicit zero at item 1 and a negative value at item 2
    test = sp.csr_matrix(([1.0, 0.0, -1.0, 2.0], [0, 1, 2, 1], [0, 3, 4]), shape=(2, 3))
    rec = np.array([[1, 0], [1, 2]])
    np.testing.assert_allclose(M.recall_at_k(rec, test, 2), [1.0, 1.0])
    assert M.hits_matrix(np.array([[2, 1], [0, 0]]), test).sum() == 0
    assert M.ndcg_at_k(rec, test, 1)[0] == 0.0


def test_gini_known_answers():
    assert M.gini(np.ones(7)) == pytest.approx(0.0)
    n = 5
    x = np.zeros(n)
    x[2] = 3.0
    assert M.gini(x) == pytest.approx((n - 1) / n)
    assert M.gini(np.zeros(4)) == 0.0
    # two values 1 and 3: G = sum_i (2i - n - 1) x_i / (n sum) = (-1*1 + 1*3) / (2*4)
    assert M.gini(np.array([3.0, 1.0])) == pytest.approx(2 / 8)
    with pytest.raises(ValueError, match="non-negative"):
        M.gini(np.array([-1.0, 1.0]))


def test_coverage_and_exposure_gini():
    rec = np.array([[0, 1], [0, 2], [0, -1]])
    assert M.coverage(rec, 4) == pytest.approx(3 / 4)
    assert M.coverage(rec, 4, k=1) == pytest.approx(1 / 4)
    e = M.exposure(rec, 4)
    np.testing.assert_allclose(e, [3, 1, 1, 0])
    ew = M.exposure(rec, 4, position_weighted=True)
    np.testing.assert_allclose(ew, [3, D[1], D[1], 0])
    # everyone gets the same single item at k=1: one item holds all exposure
    assert M.exposure_gini(rec, 4, k=1) == pytest.approx(3 / 4)
    uniform = np.array([[0, 1], [2, 3]])
    assert M.exposure_gini(uniform, 4) == pytest.approx(0.0)


def test_merchant_gini():
    rec = np.array([[0, 1], [2, 3]])
    # items 0,1 -> merchant 0; items 2,3 -> merchant 1: equal exposure
    assert M.merchant_gini(rec, np.array([0, 0, 1, 1])) == pytest.approx(0.0)
    # items 0..3 all merchant 0, merchant 1 owns item 4 which is never shown
    assert M.merchant_gini(rec, np.array([0, 0, 0, 0, 1])) == pytest.approx(1 / 2)


def test_novelty():
    pop = np.array([8, 4, 1, 0])  # of 8 users
    rec = np.array([[0, 1], [2, 3], [-1, -1]])
    nov = M.novelty(rec, pop, 8)
    assert nov[0] == pytest.approx((0 + 1) / 2)
    assert nov[1] == pytest.approx((3 + 3) / 2)  # zero popularity clipped to 1 user
    assert np.isnan(nov[2])


def test_summarize_keys_and_values():
    test = csr([[0], [1]], 4)
    rec = np.array([[0, 1], [0, 1]])
    s = M.summarize(rec, test, k=(1, 2), item_users=np.array([2, 1, 1, 1]), n_train_users=2,
                    item_merchant=np.array([0, 1, 1, 1]))
    assert s["NDCG@1"] == pytest.approx(0.5)
    assert s["Recall@2"] == pytest.approx(1.0)
    assert s["NDCG@2"] == pytest.approx((1 + D[1]) / 2)
    assert s["Coverage@1"] == pytest.approx(0.25)
    assert {"Gini@2", "MerchantGini@2", "Novelty@2", "MAP@1", "HitRate@2"} <= set(s)


def test_bad_inputs():
    test = csr([[0]], 3)
    with pytest.raises(ValueError, match="'k' parameter"):
        M.ndcg_at_k(np.array([[0, 1]]), test, 3)
    with pytest.raises(ValueError, match="'k' parameter"):
        M.ndcg_at_k(np.array([[0, 1]]), test, 0)
    with pytest.raises(ValueError, match="2-D"):
        M.ndcg_at_k(np.array([0, 1]), test, 1)
    with pytest.raises(ValueError, match="rows"):
        M.ndcg_at_k(np.array([[0], [1]]), test, 1)
    with pytest.raises(TypeError, match="sparse"):
        M.ndcg_at_k(np.array([[0]]), np.ones((1, 3)), 1)
    with pytest.raises(ValueError, match="outside the catalogue"):
        M.coverage(np.array([[5]]), 3)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 30).flatmap(
        lambda n: st.tuples(
            st.just(n),
            st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True),
            st.permutations(list(range(n))),
        )
    ),
    st.integers(1, 10),
)
def test_properties_against_a_loop(case, k):
    n, rel, perm = case
    k = min(k, n)
    test = csr([rel], n)
    rec = np.array([perm])
    relset = set(rel)
    hits = [1.0 if perm[j] in relset else 0.0 for j in range(k)]
    dcg = sum(h * D[j] for j, h in enumerate(hits))
    idcg = sum(D[j] for j in range(min(k, len(rel))))
    assert M.ndcg_at_k(rec, test, k)[0] == pytest.approx(dcg / idcg)
    assert M.recall_at_k(rec, test, k)[0] == pytest.approx(sum(hits) / len(rel))
    nd = M.ndcg_at_k(rec, test, k)[0]
    assert 0.0 <= nd <= 1.0 + 1e-12
    # the ideal order has NDCG 1
    ideal = np.array([rel + [i for i in range(n) if i not in relset]])
    assert M.ndcg_at_k(ideal, test, k)[0] == pytest.approx(1.0)
