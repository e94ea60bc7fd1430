"""The sort-based set operations of haowurank._arrays equal numpy's."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from haowurank._arrays import (
    _SORT_QUERIES,
    csr_keys,
    csr_positions,
    isin_sorted,
    lexsort_tied,
    packed_desc,
    sorted_product,
    sorted_rows,
    union_sorted,
    unique_sorted,
)


@pytest.mark.parametrize("n_set, n_query", [
    (0, 10), (10, 0), (1, 1), (50, 1000),
    # both sizes past the threshold: the queries are sorted first
    (_SORT_QUERIES + 5, 3 * _SORT_QUERIES),
    (3 * _SORT_QUERIES, _SORT_QUERIES - 1),
])
def test_isin_sorted_equals_numpy(n_set, n_query):
    g = np.random.default_rng(n_set + n_query)
    space = max(4 * (n_set + n_query), 10)
    keys = unique_sorted(g.integers(0, space, n_set))
    # queries in random order, with repeats, hits, misses and values past both ends
    q = g.integers(-5, space + 5, n_query)
    got = isin_sorted(q, keys)
    np.testing.assert_array_equal(got, np.isin(q, keys))
    if n_set >= 50 and n_query >= 50:
        assert got.any() and not got.all()


def test_unique_sorted_equals_numpy():
    g = np.random.default_rng(0)
    for n in (0, 1, 7, 100_000):
        a = g.integers(-1000, 1000, n)
        np.testing.assert_array_equal(unique_sorted(a), np.unique(a))


@pytest.mark.parametrize("n_rows, n_cols, n_query, n_query_rows", [
    (50, 40, 3000, 50),  # most of the matrix queried: its own keys
    (2000, 300, 100, 30),  # a few rows of many, the rows sorted from the queries
    (2000, 300, 600, 200),  # a few rows, the rows marked in a mask
])
def test_csr_positions_find_stored_entries_and_only_those(n_rows, n_cols, n_query, n_query_rows):
    m = sp.random(n_rows, n_cols, density=0.2, format="csr", random_state=0, dtype=np.float64)
    m.sum_duplicates()
    m.data[m.indptr[7]:m.indptr[8]] = 0  # an empty row among the queried ones
    m.eliminate_zeros()
    keys = csr_keys(m)
    assert (np.diff(keys) > 0).all()  # canonical CSR: strictly increasing keys
    g = np.random.default_rng(1)
    r = np.r_[7, g.choice(n_rows, n_query_rows - 1, replace=False)][g.integers(0, n_query_rows, n_query)]
    c = g.integers(0, n_cols, n_query)
    pos, hit = csr_positions(m, r, c)
    dense = m.toarray()
    np.testing.assert_array_equal(hit, dense[r, c] != 0)
    np.testing.assert_array_equal(m.data[pos[hit]], dense[r, c][hit])
    assert ((pos >= 0) & (pos < m.nnz)).all()  # misses point inside the arrays too
    pos, hit = csr_positions(sp.csr_matrix((3, 4)), [0, 2], [1, 3])
    assert not hit.any()
    pos, hit = csr_positions(m, [7, 7], [0, 1])  # only empty rows queried
    assert not hit.any()
    pos, hit = csr_positions(m, [-1, n_rows, r[0]], [0, 0, c[0]])  # rows outside: misses
    np.testing.assert_array_equal(hit, [False, False, dense[r[0], c[0]] != 0])


@pytest.mark.parametrize("shape", [(0, 7, 5), (40, 60, 50), (300, 400, 500), (3, 60, 5000)])
def test_sorted_product_equals_sorted_matmul(shape):
    """The same arrays as scipy's product with its rows sorted, marked sorted."""
    b_rows, n, m = shape
    g = np.random.default_rng(b_rows)
    a = sp.random(b_rows, n, density=0.05, format="csr", random_state=g)
    b = sp.random(n, m, density=0.05, format="csr", random_state=g)
    want = a @ b
    want.sort_indices()
    got = sorted_product(a, b)
    assert got.format == "csr" and got.has_sorted_indices
    for attr in ("indptr", "indices", "data"):
        np.testing.assert_array_equal(getattr(got, attr), getattr(want, attr))


@pytest.mark.parametrize("n_keys, n_more", [(0, 0), (0, 50), (40, 0), (200, 300), (5_000, 70_000)])
def test_union_sorted_equals_numpy(n_keys, n_more):
    g = np.random.default_rng(n_keys + n_more)
    keys = unique_sorted(g.integers(0, 10_000, n_keys).astype(np.int64))
    more = g.integers(0, 10_000, n_more).astype(np.int64)  # unsorted, with repeats
    got = union_sorted(keys, more)
    np.testing.assert_array_equal(got, np.union1d(keys, more))
    assert got.dtype == np.int64


def test_sorted_rows_equals_sort_indices_on_a_float32_product():
    g = np.random.default_rng(5)
    a = sp.random(30, 200, density=0.1, format="csr", random_state=g, dtype=np.float32)
    b = sp.random(200, 500, density=0.1, format="csr", random_state=g, dtype=np.float32)
    got = sorted_rows(sp.csr_matrix(a @ b))
    want = sp.csr_matrix(a @ b)
    want.sort_indices()
    assert got.has_sorted_indices and got.dtype == np.float32
    for attr in ("indptr", "indices", "data"):
        np.testing.assert_array_equal(getattr(got, attr), getattr(want, attr))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_packed_desc_and_lexsort_tied_equal_lexsort(seed):
    g = np.random.default_rng(seed)
    n = 5_000
    key = np.sort(g.integers(0, 300, n))  # runs, like the feed's viewer-major triples
    w = g.choice(np.array([0.0, -0.0, 0.25, 0.5, 1.0, 3.5e-39], dtype=np.float32), n)
    ts = g.integers(0, 50, n)
    e = g.integers(0, 40, n)
    packed = packed_desc(key, w)
    assert packed.dtype == np.uint64
    np.testing.assert_array_equal(np.argsort(packed, kind="stable"), np.lexsort((-w, key)))
    np.testing.assert_array_equal(lexsort_tied(packed, (e, -ts)),
                                  np.lexsort((e, -ts, -w, key)))
    shuffled = g.permutation(n)  # a random primary key: the quicksort path gives the same
    np.testing.assert_array_equal(
        lexsort_tied(packed[shuffled], (e[shuffled],), kind="quicksort"),
        np.lexsort((e[shuffled], packed[shuffled])))


def test_packed_desc_declines_what_does_not_fit():
    ok_key = np.arange(3)
    assert packed_desc(ok_key, np.array([0.5, -0.25, 1.0], dtype=np.float32)) is None
    assert packed_desc(ok_key, np.array([0.5, np.nan, 1.0], dtype=np.float32)) is None
    assert packed_desc(ok_key, np.array([0.5, 0.25, 1.0])) is None  # float64
    assert packed_desc(np.array([0, 1, 1 << 32]), np.ones(3, dtype=np.float32)) is None
    assert packed_desc(np.array([-1, 0, 1]), np.ones(3, dtype=np.float32)) is None
    assert len(packed_desc(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32))) == 0
