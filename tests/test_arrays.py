"""The sort-based set operations of haowurank._arrays equal numpy's."""
from __future__ import annotations

import numpy as np
import pytest

from haowurank._arrays import _SORT_QUERIES, isin_sorted, unique_sorted


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
