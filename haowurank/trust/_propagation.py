"""Multi-hop trust: truncated, sparse personalized PageRank batched over seed users.

Trust starts at a seed user and flows along follow edges (u -> f: u trusts f), weighted by the
transition matrix, for at most ``max_hops`` steps. Because the walk is short and starts at the
seed, trust that reaches a region of the graph is bounded by the transition mass on the few
edges into it: a sybil region joined to the honest graph by a handful of attack edges receives
little trust however many accounts it holds (the argument of SybilGuard / SybilRank), and an
account with no path from the seed gets exactly 0.

References
----------
.. [1] L. Page, S. Brin, R. Motwani, T. Winograd. "The PageRank Citation Ranking: Bringing Order
   to the Web". Stanford InfoLab, 1999.
.. [2] G. Jeh, J. Widom. "Scaling Personalized Web Search". WWW 2003.
.. [3] H. Yu, M. Kaminsky, P. B. Gibbons, A. Flaxman. "SybilGuard: Defending Against Sybil
   Attacks via Social Networks". SIGCOMM 2006.
.. [4] Q. Cao, M. Sirivianos, X. Yang, T. Pregueiro. "Aiding the Detection of Fake Accounts in
   Large Scale Social Online Services" (SybilRank). NSDI 2012. Early-terminated power iteration.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from .._arrays import sorted_product
from ._graph import _as_csr

__all__ = ["hop_distances", "hop_weights", "personalized_pagerank", "prune_rows"]


def prune_rows(
    m: sp.spmatrix, *, threshold: float = 0.0, top_k: int | None = None
) -> sp.csr_matrix:
    """Keep, per row, the entries ``>= threshold`` and at most the ``top_k`` largest.

    Ties at the ``top_k`` boundary are broken by the lower column index, so the result does not
    depend on how rows are batched.

    Parameters
    ----------
    m : sparse matrix of shape (n_rows, n_cols)
    threshold : float
        Entries below it are dropped (entries equal to 0 always are).
    top_k : int, optional

    Returns
    -------
    csr_matrix of shape (n_rows, n_cols)
        A new matrix with sorted indices.
    """
    out = _pruned(m, threshold=threshold, top_k=top_k)
    # sp.csr_matrix(m) views a CSR input's arrays: copy them when nothing was pruned
    return out.copy() if sp.issparse(m) and np.may_share_memory(out.data, m.data) else out


def _pruned(m: sp.spmatrix, *, threshold: float, top_k: int | None) -> sp.csr_matrix:
    """:func:`prune_rows`, sharing ``m``'s arrays when nothing is pruned (for callers that
    own ``m`` and do not modify either)."""
    m = sp.csr_matrix(m)
    if not m.has_sorted_indices:  # canonical order: sums downstream do not depend on batching
        m = m.copy()
        m.sort_indices()
    counts = np.diff(m.indptr)
    keep = (m.data >= threshold) & (m.data != 0)
    if top_k is not None and len(counts) and counts.max() > top_k:
        # only over-full rows need a selection; it keeps sorted order (a mask, no re-sort)
        row_of = np.repeat(np.arange(m.shape[0]), counts)
        kept = np.bincount(row_of[keep], minlength=m.shape[0])
        for r in np.flatnonzero(kept > top_k):
            lo, hi = m.indptr[r], m.indptr[r + 1]
            v = np.where(keep[lo:hi], m.data[lo:hi], -np.inf)
            cut = np.partition(v, len(v) - top_k)[len(v) - top_k]
            above = v > cut
            ties = np.flatnonzero(v == cut)[: top_k - int(above.sum())]
            row_keep = above
            row_keep[ties] = True  # ties at the boundary: the lower column indices (sorted)
            keep[lo:hi] = row_keep
    if keep.all():
        return m  # nothing to prune
    rows = np.repeat(np.arange(m.shape[0]), counts)[keep]
    indptr = np.zeros(m.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=m.shape[0]), out=indptr[1:])
    return sp.csr_matrix((m.data[keep], m.indices[keep], indptr), shape=m.shape)


def hop_weights(alpha: float, max_hops: int) -> np.ndarray:
    """Personalized PageRank weight of walks of each length: ``alpha * (1 - alpha) ** k``.

    Parameters
    ----------
    alpha : float in (0, 1]
        Restart (teleport) probability.
    max_hops : int >= 0

    Returns
    -------
    ndarray of float64, shape (max_hops + 1,)
        Index k is the weight of the mass that is exactly k hops from the seed.
    """
    _check_alpha(alpha)
    _check_hops(max_hops)
    return alpha * (1.0 - alpha) ** np.arange(max_hops + 1, dtype=np.float64)


def _check_alpha(alpha: Any) -> None:
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0 < alpha <= 1:
        raise ValueError(f"The 'alpha' parameter must be a number in (0, 1]. Got {alpha!r} instead.")


def _check_hops(max_hops: Any) -> None:
    if isinstance(max_hops, bool) or not isinstance(max_hops, numbers.Integral) or max_hops < 0:
        raise ValueError(f"The 'max_hops' parameter must be an int >= 0. Got {max_hops!r} instead.")


def _seed_indices(seeds: Any, n: int) -> np.ndarray:
    s = np.atleast_1d(np.asarray(seeds))
    if s.ndim != 1 or (len(s) and not np.issubdtype(s.dtype, np.integer)):
        raise TypeError(
            f"The 'seeds' parameter must be a 1-D array of user indices (ints). "
            f"Got dtype {s.dtype} and shape {s.shape}."
        )
    if len(s) and (s.min() < 0 or s.max() >= n):
        raise ValueError(
            f"The 'seeds' parameter must hold user indices in [0, {n}). "
            f"Got values from {int(s.min())} to {int(s.max())}."
        )
    return s.astype(np.int64)


def personalized_pagerank(
    P: sp.spmatrix,
    seeds: Any,
    *,
    alpha: float = 0.15,
    max_hops: int = 3,
    tol: float = 1e-6,
    top_k: int | None = None,
    weights: Sequence[float] | None = None,
    exclude_seeds: bool = True,
) -> sp.csr_matrix:
    """Truncated personalized PageRank of many seed users at once, as sparse matrix products.

    With ``X_0`` the one-hot rows of the seeds and ``X_k = X_{k-1} @ P`` (pruned), returns::

        R = sum_{k=0..max_hops} weights[k] * X_k

    which for the default ``weights[k] = alpha (1 - alpha)^k`` is the personalized PageRank
    vector of each seed truncated to walks of at most ``max_hops`` steps (the power iteration
    started at the seed and stopped early). Every row is computed independently of the other
    rows, so batching does not change results.

    Parameters
    ----------
    P : sparse matrix of shape (n_users, n_users)
        Transition matrix: non-negative, each row summing to at most 1 (e.g.
        ``row_normalize(tie_strength(social))``). Rows summing to less leak mass (a dangling
        node keeps what reached it but passes nothing on).
    seeds : array-like of int, shape (n_seeds,)
        User indices to start from.
    alpha : float in (0, 1]
        Restart probability; ``1 - alpha`` is the decay per hop.
    max_hops : int >= 0
        Longest walk. ``max_hops=1`` is direct trust only.
    tol : float
        Frontier entries (walk probabilities) below ``tol`` are dropped after each hop, and
        result entries below ``tol`` at the end.
    top_k : int, optional
        Keep at most ``top_k`` entries per row of the frontier after each hop and of the
        result (ties broken by the lower index): memory O(n_seeds * top_k).
    weights : sequence of float, shape (max_hops + 1,), optional
        Weight of the mass at each hop count, overriding the PageRank weights
        (:func:`hop_weights`); e.g. ``[0, 1, 0.3]`` is direct trust plus 0.3 times two-hop trust.
    exclude_seeds : bool
        Set each seed's own entry to 0 (self trust is not trust). With ``False`` the seed keeps
        its restart mass ``weights[0]`` plus walks that return to it.

    Returns
    -------
    csr_matrix of float64, shape (n_seeds, n_users)
        Row r is the trust of ``seeds[r]`` in every user; users with no path of at most
        ``max_hops`` hops from the seed are exactly 0 (not stored). With PageRank weights and a
        (sub-)stochastic ``P`` each row sums to at most 1 (``1 - alpha`` without the seed).

    References
    ----------
    .. [1] L. Page et al. "The PageRank Citation Ranking: Bringing Order to the Web". 1999.
    .. [2] G. Jeh, J. Widom. "Scaling Personalized Web Search". WWW 2003.
    .. [3] H. Yu et al. "SybilGuard". SIGCOMM 2006.
    .. [4] Q. Cao et al. "Aiding the Detection of Fake Accounts in Large Scale Social Online
       Services" (SybilRank). NSDI 2012.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> chain = sp.csr_matrix([[0, 1, 0], [0, 0, 1], [0, 0, 0]], dtype=float)  # a -> b -> c
    >>> personalized_pagerank(chain, [0], alpha=0.5, max_hops=2).toarray().tolist()
    [[0.0, 0.25, 0.125]]
    >>> personalized_pagerank(chain, [0], alpha=0.5, max_hops=1).toarray().tolist()
    [[0.0, 0.25, 0.0]]
    """
    p = check_transition(P)
    _check_hops(max_hops)
    if weights is None:
        w = hop_weights(alpha, max_hops)
    else:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (max_hops + 1,) or not np.all(np.isfinite(w)) or (w < 0).any():
            raise ValueError(
                f"The 'weights' parameter must hold max_hops + 1 = {max_hops + 1} finite numbers "
                f">= 0. Got {list(np.atleast_1d(w))!r}."
            )
    if isinstance(tol, bool) or not isinstance(tol, numbers.Real) or not 0 <= tol < 1:
        raise ValueError(f"The 'tol' parameter must be a number in [0, 1). Got {tol!r} instead.")
    if top_k is not None and (
        isinstance(top_k, bool) or not isinstance(top_k, numbers.Integral) or top_k < 1
    ):
        raise ValueError(f"The 'top_k' parameter must be None or an int >= 1. Got {top_k!r}.")
    return propagate(p, _seed_indices(seeds, p.shape[0]), w, tol=tol, top_k=top_k,
                     exclude_seeds=exclude_seeds)


def check_transition(P: sp.spmatrix) -> sp.csr_matrix:
    """``P`` as :func:`personalized_pagerank` needs it: CSR, float64, sorted indices, finite,
    non-negative and row-(sub)stochastic; a clear error otherwise.

    A ranker checks its transition matrix once and then calls :func:`propagate` per batch of
    seeds: the checks read all of ``P``, which at a million users costs more than a batch's walk.
    """
    # no copy when P is float64 already: a ranker holds this beside its transition_
    p = _as_csr(P, "P", square=True).astype(np.float64, copy=False)
    if p.nnz:
        sums = np.asarray(p.sum(axis=1)).ravel()
        if sums.max() > 1 + 1e-6:
            raise ValueError(
                f"The transition matrix 'P' must be row-(sub)stochastic (rows sum to <= 1). "
                f"A row sums to {float(sums.max()):.6g}; use row_normalize first."
            )
    return p


def propagate(
    p: sp.csr_matrix, s: np.ndarray, w: np.ndarray, *, tol: float, top_k: int | None,
    exclude_seeds: bool,
) -> sp.csr_matrix:
    """The walk of :func:`personalized_pagerank` without its checks: ``p`` from
    :func:`check_transition`, ``s`` int64 seed indices, ``w`` the hop weights (length
    ``max_hops + 1``); ``tol`` and ``top_k`` as there."""
    n = p.shape[0]
    max_hops = len(w) - 1
    b = len(s)
    frontier = sp.csr_matrix(
        (np.ones(b), s, np.arange(b + 1, dtype=np.int64)), shape=(b, n)
    )
    # hops of weight 0 add nothing: the sum starts at the first weighted hop (the values
    # are the same: scipy's sum of an entry stored in one operand only is that entry)
    result = frontier * w[0] if w[0] else None
    for k in range(1, max_hops + 1):
        if frontier.nnz == 0:
            break
        frontier = _pruned(sorted_product(frontier, p), threshold=tol, top_k=top_k)
        if w[k]:
            term = frontier * w[k]
            result = term if result is None else result + term
    result = sp.csr_matrix((b, n)) if result is None else sp.csr_matrix(result)
    if exclude_seeds and result.nnz:
        rows = np.repeat(np.arange(b), np.diff(result.indptr))
        result.data[result.indices == s[rows]] = 0.0
    return _pruned(result, threshold=tol, top_k=top_k)


def hop_distances(social: sp.spmatrix, seed: int, max_hops: int | None = None) -> np.ndarray:
    """Fewest follow hops from ``seed`` to every user (breadth-first search on the sparse graph).

    Parameters
    ----------
    social : sparse matrix of shape (n_users, n_users)
        Entry (u, f) > 0: an edge u -> f.
    seed : int
        User index.
    max_hops : int, optional
        Stop after this many hops.

    Returns
    -------
    ndarray of int64, shape (n_users,)
        0 for the seed, k for users first reached after k hops, -1 for users not reached.
    """
    g = _as_csr(social, "social", square=True)
    n = g.shape[0]
    (seed,) = _seed_indices([seed], n)
    dist = np.full(n, -1, dtype=np.int64)
    dist[seed] = 0
    frontier = np.asarray([seed])
    k = 0
    while len(frontier) and (max_hops is None or k < max_hops):
        k += 1
        sub = g[frontier]
        reach = np.unique(sub.indices[sub.data > 0])
        new = reach[dist[reach] < 0]
        dist[new] = k
        frontier = new
    return dist
