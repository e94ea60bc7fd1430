"""Edge trust (tie strength) and endorsement weighting as pure functions on sparse matrices.

Everything here takes matrices (or a :class:`~haowurank.Dataset`, only to read it) and returns new
matrices; nothing is modified in place and nothing is cached. Conventions:

- a *social* matrix is CSR of shape (n_users, n_users); entry (u, f) > 0 means ``u`` follows /
  trusts ``f`` (``Dataset.social_matrix()``);
- an *interaction* or *endorsement* matrix is CSR of shape (n_users, n_items);
- timestamps are int seconds (``Dataset`` stores datetimes that way), half-lives are in days.

References
----------
.. [1] P. Gupta, A. Goel, J. Lin, A. Sharma, D. Wang, R. Zadeh. "WTF: The Who to Follow Service at
   Twitter". WWW 2013.
.. [2] K. Kamath, A. Sharma, D. Wang, Z. Yin. "RealGraph: User Interaction Prediction at Twitter".
   KDD 2014 (user-engagement workshop). Edge weights from decayed interaction counts.
.. [3] E. Gilbert, K. Karahalios. "Predicting Tie Strength With Social Media". CHI 2009
   (reciprocity and shared context as tie-strength predictors).
"""

from __future__ import annotations

import logging
import numbers
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._dataset import KINDS, VISIBILITIES, Dataset
from .._time import seconds
from ..kinds import TRUST_EVIDENCE_WEIGHTS

__all__ = [
    "SECONDS_PER_DAY",
    "adoption_counts",
    "decay_weights",
    "decode_kinds",
    "edge_dot",
    "endorsement_kinds",
    "event_times",
    "kind_weighted_endorsements",
    "reciprocity",
    "row_normalize",
    "shared_interactions",
    "tie_strength",
]

log = logging.getLogger(__name__)

SECONDS_PER_DAY = 86_400.0

_KIND_CODE = {k: i for i, k in enumerate(KINDS)}
_PRIVATE = VISIBILITIES.index("private")


# --------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------

def _as_csr(m: Any, name: str, *, square: bool = False) -> sp.csr_matrix:
    if not sp.issparse(m):
        raise TypeError(
            f"The {name!r} argument must be a scipy.sparse matrix. Got {type(m).__name__} instead."
        )
    m = sp.csr_matrix(m)
    if square and m.shape[0] != m.shape[1]:
        raise ValueError(f"The {name!r} matrix must be square (n_users, n_users). Got shape {m.shape}.")
    if m.nnz and not np.all(np.isfinite(m.data)):
        raise ValueError(f"The {name!r} matrix must hold finite values. Found NaN or inf.")
    if m.nnz and (m.data < 0).any():
        raise ValueError(f"The {name!r} matrix must be non-negative. Found {float(m.data.min())!r}.")
    if not m.has_sorted_indices:
        m = m.copy()
        m.sort_indices()
    return m


def _check_weight(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) or value < 0:
        raise ValueError(f"The {name!r} parameter must be a finite number >= 0. Got {value!r} instead.")
    return float(value)


def _check_half_life(half_life_days: Any) -> float | None:
    if half_life_days is None:
        return None
    if (
        isinstance(half_life_days, bool)
        or not isinstance(half_life_days, numbers.Real)
        or not np.isfinite(half_life_days)
        or half_life_days <= 0
    ):
        raise ValueError(
            f"The 'half_life_days' parameter must be None or a finite number > 0. "
            f"Got {half_life_days!r} instead."
        )
    return float(half_life_days)


def _to_seconds(values: Any) -> np.ndarray:
    arr = np.asarray(values)
    if np.issubdtype(arr.dtype, np.datetime64):
        return arr.astype("datetime64[s]").astype(np.int64).astype(np.float64)
    if arr.dtype == object:
        return np.asarray(pd.to_datetime(arr).astype("datetime64[s]").astype(np.int64), dtype=np.float64)
    if not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"Timestamps must be int seconds or datetime64. Got dtype {arr.dtype}.")
    return arr.astype(np.float64)


def _binary(m: sp.csr_matrix) -> sp.csr_matrix:
    b = m.copy()
    b.data = np.ones(len(b.data), dtype=np.float64)
    return b


def _edge_rows(s: sp.csr_matrix) -> np.ndarray:
    return np.repeat(np.arange(s.shape[0], dtype=np.int64), np.diff(s.indptr))


def _chunks(n_edges: int, a: sp.csr_matrix, budget: int = 2_000_000) -> range:
    per_row = max(1, a.nnz // max(1, a.shape[0]))
    step = max(1, budget // per_row)
    return range(0, n_edges, step)


# --------------------------------------------------------------------------------------------
# generic sparse operations
# --------------------------------------------------------------------------------------------

def row_normalize(m: sp.spmatrix, *, power: float = 1.0, copy: bool = True) -> sp.csr_matrix:
    """Divide every row by its sum raised to ``power``; empty rows stay empty.

    With ``power=1`` (default) rows sum to 1: a row-stochastic transition matrix. With
    ``power=0.5`` an endorsement matrix gives each account a vote that grows with the square root
    of its activity, so an account that endorses thousands of items does not outweigh
    one that endorses a few carefully (the usual damping of heavy users in neighbourhood
    methods).

    Parameters
    ----------
    m : sparse matrix of shape (n_rows, n_cols)
        Non-negative weights.
    power : float >= 0
        Exponent of the row sum (0 returns a copy of ``m``).
    copy : bool
        Ignored when ``m`` is not CSR float64 (a new matrix is made anyway).

    Returns
    -------
    csr_matrix of float64, shape (n_rows, n_cols)
        With ``power=1``, rows with positive sum sum to 1; all-zero rows keep no entry (a
        dangling node: a walk that reaches it stops there).
    """
    m = _as_csr(m, "m")
    p = _check_weight(power, "power")
    out = m.astype(np.float64, copy=copy)
    out.eliminate_zeros()
    sums = np.asarray(out.sum(axis=1)).ravel()
    scale = np.divide(1.0, sums ** p, out=np.zeros_like(sums), where=sums > 0)
    out.data *= np.repeat(scale, np.diff(out.indptr))
    return out


def decay_weights(
    timestamps: Any, half_life_days: float | None, now: Any = None
) -> np.ndarray:
    """Exponential time decay: an event ``half_life_days`` old weighs 1/2, twice that 1/4.

    Parameters
    ----------
    timestamps : array-like of shape (n,)
        Int seconds (or datetime64).
    half_life_days : float or None
        Half-life in days; ``None`` means no decay (all weights 1).
    now : int seconds, datetime64 or None
        Reference time; ``None`` uses the latest timestamp. Events after ``now`` weigh 1 (age is
        clipped at 0).

    Returns
    -------
    ndarray of float64, shape (n,)
        ``0.5 ** (max(now - t, 0) / (half_life_days * 86400))``, in (0, 1].

    Examples
    --------
    >>> decay_weights([0, 86400 * 30, 86400 * 60], half_life_days=30).tolist()
    [0.25, 0.5, 1.0]
    """
    h = _check_half_life(half_life_days)
    t = _to_seconds(timestamps).ravel()
    if h is None or len(t) == 0:
        return np.ones(len(t), dtype=np.float64)
    ref = float(t.max()) if now is None else float(seconds(now, "'now' parameter"))
    age_days = np.maximum(ref - t, 0.0) / SECONDS_PER_DAY
    return np.exp2(-age_days / h)


def edge_dot(social: sp.spmatrix, a: sp.spmatrix, b: sp.spmatrix | None = None) -> sp.csr_matrix:
    """Row-wise dot products ``a[u] . b[f]`` for the stored edges (u, f) of ``social`` only.

    This is ``(a @ b.T)`` restricted to the pattern of ``social``, computed edge-chunk by
    edge-chunk so that no (n_users, n_users) product is ever formed.

    Parameters
    ----------
    social : sparse matrix of shape (n_users, n_users)
        The edges to evaluate (values ignored).
    a, b : sparse matrices of shape (n_users, n_items)
        ``b`` defaults to ``a``.

    Returns
    -------
    csr_matrix of float64, shape (n_users, n_users)
        Entry (u, f) = sum_i a[u, i] * b[f, i] on the edges of ``social`` (zeros dropped).
    """
    s = _as_csr(social, "social", square=True)
    vals = _edge_values(s, _as_csr(a, "a"), None if b is None else _as_csr(b, "b"))
    out = sp.csr_matrix((vals, s.indices.copy(), s.indptr.copy()), shape=s.shape)
    out.eliminate_zeros()
    return out


def _edge_values(s: sp.csr_matrix, a: sp.csr_matrix, b: sp.csr_matrix | None) -> np.ndarray:
    """Edge-aligned (CSR order of ``s``) values of ``a[u] . b[f]``."""
    b = a if b is None else b
    if a.shape[0] != s.shape[0] or b.shape[0] != s.shape[0] or a.shape[1] != b.shape[1]:
        raise ValueError(
            f"Shapes do not match: social {s.shape}, a {a.shape}, b {b.shape}; expected "
            f"(n_users, n_users) and two (n_users, n_items) matrices."
        )
    rows = _edge_rows(s)
    cols = s.indices.astype(np.int64)
    out = np.zeros(s.nnz, dtype=np.float64)
    a64 = a.astype(np.float64)
    b64 = b.astype(np.float64)
    steps = _chunks(s.nnz, a)
    for start in steps:
        sl = slice(start, min(start + steps.step, s.nnz))
        prod = a64[rows[sl]].multiply(b64[cols[sl]])
        out[sl] = np.asarray(prod.sum(axis=1)).ravel()
    return out


def reciprocity(social: sp.spmatrix) -> sp.csr_matrix:
    """Mutual edges: entry (u, f) = 1 where u follows f and f follows u.

    Parameters
    ----------
    social : sparse matrix of shape (n_users, n_users)

    Returns
    -------
    csr_matrix of float64, shape (n_users, n_users)
        A 0/1 matrix with the pattern of the mutual part of ``social``.
    """
    s = _binary(_as_csr(social, "social", square=True))
    out = sp.csr_matrix(s.multiply(s.T))
    out.eliminate_zeros()
    out.sort_indices()
    return out


def shared_interactions(
    social: sp.spmatrix,
    interactions: sp.spmatrix,
    *,
    similarity: Literal["cosine", "jaccard", "count"] = "cosine",
) -> sp.csr_matrix:
    """Overlap of what u and f interacted with (bought or endorsed), on the edges of ``social``.

    Parameters
    ----------
    social : sparse matrix of shape (n_users, n_users)
    interactions : sparse matrix of shape (n_users, n_items)
        Binarised: only whether a user touched an item matters.
    similarity : {"cosine", "jaccard", "count"}
        ``count`` = |I_u & I_f|; ``cosine`` = count / sqrt(|I_u| |I_f|);
        ``jaccard`` = count / |I_u | I_f|.

    Returns
    -------
    csr_matrix of float64, shape (n_users, n_users)
        On the edges of ``social`` (zeros dropped).
    """
    s = _as_csr(social, "social", square=True)
    x = _binary(_as_csr(interactions, "interactions"))
    vals = _shared_values(s, x, similarity)
    out = sp.csr_matrix((vals, s.indices.copy(), s.indptr.copy()), shape=s.shape)
    out.eliminate_zeros()
    return out


def _shared_values(s: sp.csr_matrix, x: sp.csr_matrix, similarity: str) -> np.ndarray:
    if similarity not in ("cosine", "jaccard", "count"):
        raise ValueError(
            f"The 'similarity' parameter must be 'cosine', 'jaccard' or 'count'. Got {similarity!r}."
        )
    count = _edge_values(s, x, None)
    if similarity == "count":
        return count
    deg = np.diff(x.indptr).astype(np.float64)
    du = deg[_edge_rows(s)]
    df = deg[s.indices]
    if similarity == "cosine":
        den = np.sqrt(du * df)
    else:
        den = du + df - count
    return np.divide(count, den, out=np.zeros_like(count), where=den > 0)


def adoption_counts(
    social: sp.spmatrix,
    adopter: sp.spmatrix,
    endorser: sp.spmatrix | None = None,
    *,
    adopter_times: sp.spmatrix | None = None,
    endorser_times: sp.spmatrix | None = None,
    half_life_days: float | None = None,
    now: Any = None,
) -> sp.csr_matrix:
    """Decayed counts of "u adopted what f had endorsed before", on the edges (u, f) of ``social``.

    In the spirit of RealGraph [2]_: an edge is as strong as the interactions flowing over it.
    Here the interaction is an adoption: u bought (``adopter``) an item that the followed user f
    endorsed (``endorser``). With times, only adoptions at or after f's endorsement count and each
    weighs by its age (exponential decay with ``half_life_days``).

    Parameters
    ----------
    social : sparse matrix of shape (n_users, n_users)
    adopter : sparse matrix of shape (n_users, n_items)
        Adoptions (e.g. purchases); the stored values are the weights of each adoption.
    endorser : sparse matrix of shape (n_users, n_items), optional
        Endorsements (binarised); defaults to ``adopter``.
    adopter_times, endorser_times : sparse matrices, optional
        Timestamps (int seconds) with exactly the sparsity pattern of ``adopter`` / ``endorser``
        (see :func:`event_times`): when u adopted (latest) and when f endorsed (earliest). Both
        or neither.
    half_life_days : float, optional
        Decay of an adoption by its age at ``now`` (needs ``adopter_times``).
    now : int seconds, optional
        Reference time; default the latest adoption time.

    Returns
    -------
    csr_matrix of float64, shape (n_users, n_users)
        On the edges of ``social`` (zeros dropped).

    References
    ----------
    .. [2] K. Kamath, A. Sharma, D. Wang, Z. Yin. "RealGraph: User Interaction Prediction at
       Twitter". KDD 2014.
    """
    s = _as_csr(social, "social", square=True)
    a = _as_csr(adopter, "adopter").astype(np.float64)
    e = _binary(_as_csr(endorser if endorser is not None else adopter, "endorser"))
    h = _check_half_life(half_life_days)
    if (adopter_times is None) != (endorser_times is None):
        raise ValueError("Pass both 'adopter_times' and 'endorser_times', or neither.")
    if adopter_times is None:
        if h is not None:
            raise ValueError("The 'half_life_days' parameter needs 'adopter_times' to decay by age.")
        vals = _edge_values(s, a, e)
    else:
        at = _same_pattern(adopter_times, a, "adopter_times", "adopter")
        et = _same_pattern(endorser_times, e, "endorser_times", "endorser")
        vals = _ordered_adoptions(s, a, e, at, et, h, now)
    out = sp.csr_matrix((vals, s.indices.copy(), s.indptr.copy()), shape=s.shape)
    out.eliminate_zeros()
    return out


def _same_pattern(t: Any, m: sp.csr_matrix, name: str, ref: str) -> sp.csr_matrix:
    if not sp.issparse(t):
        raise TypeError(f"The {name!r} argument must be a scipy.sparse matrix. Got {type(t).__name__}.")
    t = sp.csr_matrix(t)
    if not t.has_sorted_indices:
        t = t.copy()
        t.sort_indices()
    if (
        t.shape != m.shape
        or not np.array_equal(t.indptr, m.indptr)
        or not np.array_equal(t.indices, m.indices)
    ):
        raise ValueError(
            f"The {name!r} matrix must have exactly the sparsity pattern of {ref!r} "
            f"(build both with event_times)."
        )
    return t


def _ordered_adoptions(
    s: sp.csr_matrix,
    a: sp.csr_matrix,
    e: sp.csr_matrix,
    at: sp.csr_matrix,
    et: sp.csr_matrix,
    h: float | None,
    now: Any,
) -> np.ndarray:
    t_a = at.data.astype(np.float64)
    t_e = et.data.astype(np.float64)
    ref = (float(t_a.max()) if len(t_a) else 0.0) if now is None else float(_to_seconds([now])[0])
    t0 = min(t_a.min() if len(t_a) else 0.0, t_e.min() if len(t_e) else 0.0) - 1.0
    # shift times so every stored time is >= 1: products then keep the exact common pattern
    ta_s = sp.csr_matrix((t_a - t0, a.indices, a.indptr), shape=a.shape)
    te_s = sp.csr_matrix((t_e - t0, e.indices, e.indptr), shape=e.shape)
    ab = _binary(a)
    rows = _edge_rows(s)
    cols = s.indices.astype(np.int64)
    out = np.zeros(s.nnz, dtype=np.float64)
    steps = _chunks(s.nnz, a)
    for start in steps:
        sl = slice(start, min(start + steps.step, s.nnz))
        r, c = rows[sl], cols[sl]
        w = sp.csr_matrix(a[r].multiply(e[c]))  # adoption weight on common items
        tu = sp.csr_matrix(ta_s[r].multiply(e[c]))  # u's adoption time there
        tf = sp.csr_matrix(ab[r].multiply(te_s[c]))  # f's endorsement time there
        for m in (w, tu, tf):
            m.sort_indices()
        if not (np.array_equal(tu.indptr, tf.indptr) and np.array_equal(tu.indptr, w.indptr)):
            raise AssertionError("internal: adoption patterns are not aligned")  # pragma: no cover
        ok = tu.data >= tf.data
        val = w.data * ok
        if h is not None:
            age_days = np.maximum(ref - (tu.data + t0), 0.0) / SECONDS_PER_DAY
            val = val * np.exp2(-age_days / h)
        seg = np.repeat(np.arange(len(r)), np.diff(tu.indptr))
        out[sl] = np.bincount(seg, weights=val, minlength=len(r))
    return out


# --------------------------------------------------------------------------------------------
# tie strength
# --------------------------------------------------------------------------------------------

def tie_strength(
    social: sp.spmatrix,
    interactions: sp.spmatrix | None = None,
    *,
    adoptions: sp.spmatrix | None = None,
    endorsements: sp.spmatrix | None = None,
    base_weight: float = 1.0,
    reciprocity_weight: float = 1.0,
    shared_weight: float = 1.0,
    adoption_weight: float = 1.0,
    similarity: Literal["cosine", "jaccard", "count"] = "cosine",
    adoption_times: sp.spmatrix | None = None,
    endorsement_times: sp.spmatrix | None = None,
    half_life_days: float | None = None,
    now: Any = None,
    normalize: bool = False,
) -> sp.csr_matrix:
    """Edge trust from reciprocity, shared purchases/endorsements and decayed adoptions.

    For every stored edge (u, f) of ``social`` (u follows f) with social weight s_uf::

        w(u, f) = s_uf * (base_weight
                          + reciprocity_weight * [f follows u]
                          + shared_weight      * overlap(I_u, I_f)
                          + adoption_weight    * log1p(adoptions(u <- f)))

    where ``overlap`` is the ``similarity`` of the item sets u and f interacted with
    (:func:`shared_interactions`) and ``adoptions`` counts how often u bought what f endorsed
    before, decayed by ``half_life_days`` (:func:`adoption_counts`). Only existing edges get
    trust: tie strength never creates an edge, so an account nobody follows gets none.

    Parameters
    ----------
    social : sparse matrix of shape (n_users, n_users)
        Follow graph; values are social weights (1 for a plain follow).
    interactions : sparse matrix of shape (n_users, n_items), optional
        What each user bought or endorsed (binarised) for the shared term. Without it (and
        without ``adoptions``) the shared and adoption terms are 0.
    adoptions : sparse matrix of shape (n_users, n_items), optional
        What each user bought (the "u adopted" side of adoptions; values are weights); default
        ``interactions``.
    endorsements : sparse matrix of shape (n_users, n_items), optional
        What each user endorsed (the "f endorsed" side of adoptions); default ``interactions``.
    base_weight, reciprocity_weight, shared_weight, adoption_weight : float >= 0
        Weights of the terms. With ``base_weight=0`` an edge with no other evidence carries no
        trust (it is dropped from the result).
    similarity : {"cosine", "jaccard", "count"}
        Overlap measure of the shared term.
    adoption_times, endorsement_times : sparse matrices, optional
        Timestamps with the patterns of ``adoptions`` / ``endorsements`` (:func:`event_times`):
        adoptions then count only when u's purchase is not earlier than f's endorsement.
    half_life_days : float, optional
        Decay of adoptions by age (needs the times).
    now : int seconds, optional
        Reference time of the decay.
    normalize : bool
        Return :func:`row_normalize` of the result (a transition matrix).

    Returns
    -------
    csr_matrix of float64, shape (n_users, n_users)
        Edge trust on (a subset of) the pattern of ``social``.

    References
    ----------
    .. [1] P. Gupta et al. "WTF: The Who to Follow Service at Twitter". WWW 2013.
    .. [2] K. Kamath et al. "RealGraph: User Interaction Prediction at Twitter". KDD 2014.
    .. [3] E. Gilbert, K. Karahalios. "Predicting Tie Strength With Social Media". CHI 2009.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> s = sp.csr_matrix([[0, 1, 1], [1, 0, 0], [0, 0, 0]], dtype=float)
    >>> tie_strength(s).toarray().tolist()  # u0 <-> u1 is mutual, u0 -> u2 is not
    [[0.0, 2.0, 1.0], [2.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    """
    s = _as_csr(social, "social", square=True).astype(np.float64)
    s.eliminate_zeros()
    bw = _check_weight(base_weight, "base_weight")
    rw = _check_weight(reciprocity_weight, "reciprocity_weight")
    sw = _check_weight(shared_weight, "shared_weight")
    aw = _check_weight(adoption_weight, "adoption_weight")
    total = np.full(s.nnz, bw)
    if rw:
        mutual = _binary(s).multiply(_binary(s).T)
        # align with s's pattern: s + 0 * mutual keeps s's pattern and order
        m = sp.csr_matrix(mutual)
        m.sort_indices()
        total += rw * _aligned(s, m)
    for name, m in (("interactions", interactions), ("adoptions", adoptions),
                    ("endorsements", endorsements)):
        if m is not None and m.shape[0] != s.shape[0]:
            raise ValueError(
                f"The {name!r} matrix must have {s.shape[0]} rows (one per user). "
                f"Got shape {m.shape}."
            )
    if sw and interactions is not None:
        x = _as_csr(interactions, "interactions")
        total += sw * _shared_values(s, _binary(x), similarity)
    adopter = adoptions if adoptions is not None else interactions
    if aw and adopter is not None:
        endorser = endorsements if endorsements is not None else interactions
        adopt = adoption_counts(
            s, adopter, endorser, adopter_times=adoption_times,
            endorser_times=endorsement_times, half_life_days=half_life_days, now=now,
        )
        total += aw * np.log1p(_aligned(s, adopt))
    out = sp.csr_matrix((s.data * total, s.indices.copy(), s.indptr.copy()), shape=s.shape)
    out.eliminate_zeros()
    return row_normalize(out, copy=False) if normalize else out


def _aligned(s: sp.csr_matrix, m: sp.csr_matrix) -> np.ndarray:
    """Values of ``m`` at the stored positions of ``s`` (CSR order of ``s``), 0 where absent."""
    rows = _edge_rows(s)
    key_s = rows * s.shape[1] + s.indices
    mc = sp.csr_matrix(m)
    mc.sort_indices()
    key_m = _edge_rows(mc) * mc.shape[1] + mc.indices
    pos = np.searchsorted(key_m, key_s)
    pos_c = np.minimum(pos, max(len(key_m) - 1, 0))
    hit = (pos < len(key_m)) & (key_m[pos_c] == key_s) if len(key_m) else np.zeros(len(key_s), bool)
    out = np.zeros(s.nnz, dtype=np.float64)
    out[hit] = mc.data[pos_c[hit]]
    return out


# --------------------------------------------------------------------------------------------
# endorsements from a Dataset
# --------------------------------------------------------------------------------------------

def _kind_codes(kinds: Iterable[str], name: str) -> np.ndarray:
    ks = [kinds] if isinstance(kinds, str) else list(kinds)
    bad = [k for k in ks if k not in _KIND_CODE]
    if bad:
        raise ValueError(f"The {name!r} parameter must name kinds among {list(KINDS)}. Got {bad}.")
    return np.asarray([_KIND_CODE[k] for k in ks], dtype=np.int64)


def _rows(ds: Dataset, codes: np.ndarray, include_private: bool) -> dict[str, np.ndarray]:
    if not isinstance(ds, Dataset):
        raise TypeError(f"Expected a haowurank.Dataset. Got {type(ds).__name__} instead.")
    arr = ds.interaction_arrays()
    mask = np.isin(arr["kind"], codes)
    if not include_private:
        mask &= arr["visibility"] != _PRIVATE
    return {k: arr[k][mask] for k in ("user", "item", "kind", "timestamp")}


def _reduce_pairs(
    user: np.ndarray, item: np.ndarray, vals: np.ndarray, shape: tuple[int, int], how: str
) -> sp.csr_matrix:
    """CSR with one entry per (user, item), reducing duplicate values with max/min/sum/or.

    Explicit zeros are kept (the pattern is exactly the set of pairs present).
    """
    n_items = shape[1]
    key = user.astype(np.int64) * n_items + item.astype(np.int64)
    order = np.argsort(key, kind="stable")
    key, vals = key[order], vals[order]
    if len(key):
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        ufunc = {"max": np.maximum, "min": np.minimum, "sum": np.add, "or": np.bitwise_or}[how]
        red = ufunc.reduceat(vals, starts)
        ukey = key[starts]
    else:
        red = vals
        ukey = key
    rows = ukey // n_items
    cols = (ukey % n_items).astype(np.int32)
    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=shape[0]), out=indptr[1:])
    return sp.csr_matrix((red, cols, indptr), shape=shape)


def kind_weighted_endorsements(
    ds: Dataset,
    kind_weights: Mapping[str, float] | None = None,
    half_life_days: float | None = None,
    now: Any = None,
    *,
    aggregate: Literal["max", "sum"] = "max",
    include_private: bool = False,
) -> sp.csr_matrix:
    """Endorsement matrix E: how strongly each user vouches for each item.

    Every interaction row of a kind with a positive weight contributes
    ``kind_weights[kind] * decay(age)``; rows of one (user, item) are reduced with ``aggregate``.
    The default ``max`` gives each account one vote per item (its strongest, freshest
    endorsement), so repeating an endorsement does not buy weight. Row weights (e.g. listen
    counts) are ignored on purpose: an endorsement is a vote, not a volume.

    Parameters
    ----------
    ds : Dataset
    kind_weights : dict of str to float, optional
        Weight per kind; kinds not named weigh 0. Default :data:`~haowurank.kinds.TRUST_EVIDENCE_WEIGHTS`
        (recommend_after_purchase 2.0, recommend 1.0, purchase 0.5).
    half_life_days : float, optional
        Exponential decay of each row by its age at ``now`` (no decay when ``None`` or when the
        data carry no timestamps).
    now : int seconds or datetime, optional
        Reference time; default the latest timestamp in ``ds``.
    aggregate : {"max", "sum"}
    include_private : bool
        Count rows with visibility "private" (default: no; a private endorsement is seen by nobody,
        so it must not move anyone else's ranking).

    Returns
    -------
    csr_matrix of float64, shape (n_users, n_items)
    """
    kw = dict(TRUST_EVIDENCE_WEIGHTS if kind_weights is None else kind_weights)
    for k, w in kw.items():
        _check_weight(w, f"kind_weights[{k!r}]")
    if aggregate not in ("max", "sum"):
        raise ValueError(f"The 'aggregate' parameter must be 'max' or 'sum'. Got {aggregate!r}.")
    active = [k for k, w in kw.items() if w > 0]
    codes = _kind_codes(active, "kind_weights")
    r = _rows(ds, codes, include_private)
    table = np.zeros(len(KINDS))
    for k in active:
        table[_KIND_CODE[k]] = kw[k]
    vals = table[r["kind"]]
    h = _check_half_life(half_life_days)
    if h is not None and ds.has_timestamps and len(vals):
        ref = now if now is not None else int(ds.interaction_arrays()["timestamp"].max())
        vals = vals * decay_weights(r["timestamp"], h, ref)
    out = _reduce_pairs(r["user"], r["item"], vals, (ds.n_users, ds.n_items), aggregate)
    out.eliminate_zeros()
    return out


def endorsement_kinds(
    ds: Dataset, kinds: Iterable[str], *, include_private: bool = False
) -> sp.csr_matrix:
    """Which kinds each user used on each item, as a bit mask (bit ``KINDS.index(kind)``).

    Parameters
    ----------
    ds : Dataset
    kinds : iterable of str
        Kinds to record.
    include_private : bool
        Record rows with visibility "private" too.

    Returns
    -------
    csr_matrix of int16, shape (n_users, n_items)
        Entry (u, i) = OR of ``1 << KINDS.index(kind)`` over u's rows on i; decode with
        :func:`decode_kinds`.
    """
    codes = _kind_codes(kinds, "kinds")
    r = _rows(ds, codes, include_private)
    bits = (np.int16(1) << r["kind"].astype(np.int16)).astype(np.int16)
    return _reduce_pairs(r["user"], r["item"], bits, (ds.n_users, ds.n_items), "or")


def decode_kinds(mask: int) -> list[str]:
    """Kind names of a bit mask made by :func:`endorsement_kinds`."""
    return [k for b, k in enumerate(KINDS) if int(mask) >> b & 1]


def event_times(
    ds: Dataset,
    kinds: Iterable[str],
    *,
    how: Literal["first", "last"] = "last",
    include_private: bool = False,
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Per (user, item): a 0/1 matrix of who did it and, with the same pattern, when.

    Parameters
    ----------
    ds : Dataset
    kinds : iterable of str
    how : {"first", "last"}
        Earliest or latest timestamp of the user's rows on the item.
    include_private : bool

    Returns
    -------
    events : csr_matrix of float64, shape (n_users, n_items)
        1 where the user has a row of those kinds.
    times : csr_matrix of float64, shape (n_users, n_items)
        Timestamps (int seconds as float; explicit zeros kept) with the pattern of ``events``.
    """
    if how not in ("first", "last"):
        raise ValueError(f"The 'how' parameter must be 'first' or 'last'. Got {how!r}.")
    codes = _kind_codes(kinds, "kinds")
    r = _rows(ds, codes, include_private)
    times = _reduce_pairs(
        r["user"], r["item"], r["timestamp"].astype(np.float64), (ds.n_users, ds.n_items),
        "min" if how == "first" else "max",
    )
    events = sp.csr_matrix(
        (np.ones(times.nnz), times.indices.copy(), times.indptr.copy()), shape=times.shape
    )
    return events, times
