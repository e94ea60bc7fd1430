"""Candidate retrieval of ``hybrid``: the union of each component's top ``k`` unseen items for a
batch of users, which the ranking model then orders (:func:`retrieve`), and the whole unseen
catalogue as candidates (:func:`unseen_pairs`)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ._base import topk
from ._hybrid_features import FeatureBlock
from ._hybrid_neighbours import row_topn
from ._hybrid_parts import FittedParts, dense

__all__ = ["popular_items", "retrieve", "unseen_pairs"]


def popular_items(parts: FittedParts, n: int, allowed: np.ndarray | None = None) -> np.ndarray:
    """The ``n`` most popular training items (among ``allowed``), by
    :func:`~._base.topk` (ties: the lower index); a retrieval source of ``hybrid``."""
    n = min(int(n), parts.n_items)
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    pop = np.asarray(parts.popularity, dtype=np.float64)[None, :]
    if allowed is not None:
        pop = np.where(np.asarray(allowed, dtype=bool)[None, :], pop, -np.inf)
    idx, _ = topk(pop, n)
    return idx[0][idx[0] >= 0]


def retrieve(
    parts: FittedParts, blk: FeatureBlock, k: int, allowed: np.ndarray | None = None,
    n_popular: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Candidate pairs (local rows, items) of a batch: the union of the top ``k`` unseen items
    of ALS (implicit's own top k), item-kNN, trust, user-kNN, RP3beta (and the head EASE), among
    the ``allowed`` items (a boolean mask over items; None: all).

    Parameters
    ----------
    parts : FittedParts
    blk : FeatureBlock
        The batch's feature sources (its sparse rows are the retrieval sources).
    k : int
        Items per component (at most the catalogue).
    allowed : bool ndarray of shape (n_items,), optional
    n_popular : int
        Also the ``n_popular`` most popular items (:func:`popular_items`), seen ones left out.

    Returns
    -------
    rows, items : int ndarrays of shape (m,)
        Position in ``blk.uidx`` and item index of each candidate, ascending by row then item.
    """
    u = blk.uidx
    n_items = parts.n_items
    k = min(int(k), n_items)
    seen = dense(parts.binary[u]) > 0
    if allowed is not None:
        seen |= ~np.asarray(allowed, dtype=bool)[None, :]
    cand = np.zeros((len(u), n_items), dtype=bool)
    top, _ = parts.als._recommend_idx(u, k, True, allowed)
    rows = np.broadcast_to(np.arange(len(u))[:, None], top.shape)
    cand[rows[top >= 0], top[top >= 0]] = True
    sources = [blk.knn_sp, blk.trust_sp, blk.uknn_sp]
    if blk.rp3_sp is not None:
        sources.append(blk.rp3_sp)
    if len(parts.ease_idx):
        e = np.zeros((len(u), n_items), dtype=np.float32)
        e[:, parts.ease_idx] = blk.ease
        sources.append(sp.csr_matrix(e))
    for m in sources:
        rr, cc = row_topn(m, k, drop=seen)  # seen items out before the top k is taken
        cand[rr, cc] = True
    if n_popular:
        cand[:, popular_items(parts, n_popular, allowed)] = True
    cand &= ~seen
    return np.nonzero(cand)


def unseen_pairs(parts: FittedParts, blk: FeatureBlock) -> tuple[np.ndarray, np.ndarray]:
    """Every unseen item of every user of the batch as (local rows, items), ascending."""
    return np.nonzero(dense(parts.binary[blk.uidx]) == 0)
