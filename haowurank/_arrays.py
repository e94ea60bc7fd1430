"""Sort-based set operations on large integer key arrays, lookups in CSR matrices and sorted
CSR products.

numpy 2.4's hash-based ``np.unique`` / ``np.isin`` are slower than sorting on millions of int64
keys (``experiments/feed_scale/README.md``), so the hot paths (splits, the synthetic world, trust defences) use these.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = [
    "csr_keys", "csr_positions", "isin_sorted", "lexsort_tied", "packed_desc", "sorted_product",
    "sorted_rows", "union_sorted", "unique_sorted",
]

#: query and set sizes from which ``isin_sorted`` sorts its queries first
_SORT_QUERIES = 1 << 16


def unique_sorted(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values of ``values``."""
    s = np.sort(np.asarray(values))
    if len(s) == 0:
        return s
    keep = np.empty(len(s), dtype=bool)
    keep[0] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    return s[keep]


def isin_sorted(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """``np.isin(values, sorted_set)`` for a sorted unique ``sorted_set`` (binary search).

    Many queries into a large set are sorted first: binary searches in query order then walk
    the set's memory forwards (the feed index of a 1M-user world relies on it; timings in
    ``experiments/feed_scale/``).
    """
    values = np.asarray(values)
    if len(sorted_set) == 0 or len(values) == 0:
        return np.zeros(len(values), dtype=bool)
    if len(values) < _SORT_QUERIES or len(sorted_set) < _SORT_QUERIES:
        pos = np.minimum(np.searchsorted(sorted_set, values), len(sorted_set) - 1)
        return sorted_set[pos] == values
    order = np.argsort(values, kind="stable")
    q = values[order]
    pos = np.minimum(np.searchsorted(sorted_set, q), len(sorted_set) - 1)
    out = np.empty(len(values), dtype=bool)
    out[order] = sorted_set[pos] == q
    return out



def union_sorted(keys: np.ndarray, more: np.ndarray) -> np.ndarray:
    """The sorted distinct values of ``keys`` (sorted, distinct) and ``more`` (any order): the
    new values are inserted, the held ones are not sorted again."""
    more = unique_sorted(more)
    more = more[~isin_sorted(more, keys)]
    return np.insert(keys, np.searchsorted(keys, more), more) if len(more) else keys


def packed_desc(key: np.ndarray, values: np.ndarray) -> np.ndarray | None:
    """uint64 keys that sort like ``(key ascending, values descending)``, or None when they do
    not fit: ``key`` integers in [0, 2**32), ``values`` non-negative float32 (no NaN).

    A non-negative float32's bits, read as an unsigned integer, order like the float, so one
    integer sort replaces the two passes of ``np.lexsort((-values, key))``.
    """
    key = np.asarray(key)
    values = np.asarray(values)
    if values.dtype != np.float32 or key.dtype.kind not in "iu":
        return None
    if len(key) and (key.min() < 0 or key.max() >= 1 << 32 or not (values >= 0).all()):
        return None
    bits = (values + np.float32(0)).view(np.uint32)  # + 0 turns -0.0 into 0.0
    return (key.astype(np.uint64) << np.uint64(32)) | (np.uint32(0xFFFFFFFF) - bits)


def lexsort_tied(primary: np.ndarray, ties: tuple[np.ndarray, ...], *,
                 kind: str = "stable") -> np.ndarray:
    """``np.lexsort(ties + (primary,))``: an argsort of ``primary``, then a lexsort of only the
    rows whose primary key is tied.

    ``kind`` is the primary argsort's: ``"stable"`` is fast on the runs of an almost sorted key,
    ``"quicksort"`` on a random one (the rows' positions then break the remaining ties, so the
    result is the same).
    """
    order = np.argsort(primary, kind=kind)
    ps = primary[order]
    eq = ps[1:] == ps[:-1]
    if eq.any():
        tied = np.zeros(len(ps), dtype=bool)
        tied[1:] |= eq
        tied[:-1] |= eq
        idx = np.flatnonzero(tied)
        sub = order[idx]
        keys = tuple(t[sub] for t in ties) + (ps[idx],)
        order[idx] = sub[np.lexsort(keys if kind == "stable" else (sub, *keys))]
    return order


def csr_keys(m) -> np.ndarray:
    """int64 keys ``row * n_cols + col`` of the stored entries of a CSR matrix, in storage
    order (sorted when its indices are)."""
    rows = np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr))
    return rows * np.int64(m.shape[1]) + m.indices.astype(np.int64)


def csr_positions(m, r: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where the (r, c) entries of a canonical CSR ``m`` (sorted indices, no duplicates) are
    stored: ``(pos, hit)`` with ``m.data[pos[k]]`` the value of pair k when ``hit[k]``.

    Only the queried rows' entries are searched, so a lookup for a few rows of a large
    matrix costs those rows, not the whole matrix.
    """
    r = np.asarray(r, dtype=np.int64)
    q = r * np.int64(m.shape[1]) + np.asarray(c, dtype=np.int64)
    miss = np.zeros(len(q), dtype=np.int64), np.zeros(len(q), dtype=bool)
    if m.nnz == 0 or len(q) == 0:
        return miss
    rq = r if r.min() >= 0 and r.max() < m.shape[0] else r[(r >= 0) & (r < m.shape[0])]
    if m.shape[0] <= 16 * len(rq):  # a mask over the rows is cheaper than sorting the queries
        mask = np.zeros(m.shape[0], dtype=bool)
        mask[rq] = True
        rows = np.flatnonzero(mask)
    else:
        rows = unique_sorted(rq)
    indptr = m.indptr.astype(np.int64)
    lens = indptr[rows + 1] - indptr[rows]
    total = int(lens.sum())
    if total == 0:
        return miss
    if 2 * total >= m.nnz:  # most of the matrix: its own keys, no gather
        where, keys = None, csr_keys(m)
    else:  # the storage positions of the queried rows' entries, in storage order
        ends = np.cumsum(lens)
        where = np.arange(total, dtype=np.int64) + np.repeat(indptr[rows] - (ends - lens), lens)
        keys = np.repeat(rows * np.int64(m.shape[1]), lens) + m.indices[where].astype(np.int64)
    j = np.minimum(np.searchsorted(keys, q), len(keys) - 1)
    return (j if where is None else where[j]), keys[j] == q


def sorted_product(a: sp.csr_matrix, b: sp.csr_matrix) -> sp.csr_matrix:
    """``a @ b`` as a canonical CSR matrix (sorted indices, no duplicates).

    scipy's sparse product leaves each row's indices unsorted; sorting them row by row is a
    comparison sort. Two transposes (CSR -> CSC -> CSR) are counting sorts, linear in the
    entries and the columns, and give the same arrays: the product has no duplicates, so the
    sorted order is unique and the values are only moved.
    """
    c = a @ b
    if not sp.issparse(c) or c.format != "csr":
        c = sp.csr_matrix(c)
    return sorted_rows(c)


def sorted_rows(c: sp.csr_matrix) -> sp.csr_matrix:
    """A CSR matrix without duplicate entries (a sparse product) with each row's indices
    sorted, by the two linear transposes of :func:`sorted_product`."""
    if c.has_sorted_indices:
        return c
    return c.tocsc().tocsr()

