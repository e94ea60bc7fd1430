"""Diversity re-ranking of feed candidates: greedy MMR with merchant and category caps, vectorised
over a batch of viewers.

The greedy procedure is prefix-consistent: the first ``k`` positions it picks do not depend on how
many positions are asked for, so a feed page computed at depth ``offset + n`` is exactly a slice of
any deeper ranking. That is what makes cursor pagination never repeat or skip an entry.

At position ``t`` the procedure looks at the *pool*: the ``mmr_pool`` most relevant candidates not
yet placed. Among them it picks the one with the highest MMR objective
``(1 - diversity) * rel - diversity * max_sim`` (``max_sim``: the highest similarity to an item
already placed), preferring candidates that keep every cap (at most ``merchant_cap`` items of one
merchant and ``category_cap`` of one category among any ``window`` consecutive positions). When no
pool candidate keeps the caps, the best one is placed anyway: caps reorder, they never drop an
entry. Ties go to the more relevant candidate, then to the lower item index.

References
----------
Carbonell, J. and Goldstein, J. (1998). The use of MMR, diversity-based reranking for reordering
documents and producing summaries. SIGIR '98, 335-336.
"""

from __future__ import annotations

import numpy as np

__all__ = ["greedy_rerank"]


def greedy_rerank(
    rel: np.ndarray,
    category: np.ndarray,
    merchant: np.ndarray,
    depth: int,
    *,
    diversity: float,
    merchant_cap: int | None,
    category_cap: int | None,
    window: int,
    mmr_pool: int,
    vectors: np.ndarray | None = None,
) -> np.ndarray:
    """Greedy diversified order of padded candidate rows.

    Parameters
    ----------
    rel : ndarray of float32 of shape (b, w)
        Relevance in [0, 1] of each viewer's candidates, sorted descending per row (ties by item
        index); ``-inf`` pads the end of short rows.
    category, merchant : ndarray of int of shape (b, w)
        Codes; any two equal codes mean "same". Missing values must be given distinct codes.
    depth : int
        Number of positions to fill.
    diversity : float in [0, 1]
        MMR trade-off; 0 ranks by relevance alone.
    merchant_cap, category_cap : int or None
        Caps per ``window`` consecutive positions (None: no cap).
    window : int
        Length of the sliding window of the caps.
    mmr_pool : int
        Number of most relevant unplaced candidates considered at each position.
    vectors : ndarray of float32 of shape (b, w, d), optional
        Unit item vectors for the similarity (cosine, clipped at 0); default: 0.5 for the same
        category plus 0.5 for the same merchant.

    Returns
    -------
    ndarray of int64 of shape (b, depth)
        Column of the candidate placed at each position; -1 once a row runs out.
    """
    b, w = rel.shape
    finite = np.isfinite(rel)
    if diversity == 0 and merchant_cap is None and category_cap is None:
        out = np.full((b, depth), -1, dtype=np.int64)
        k = min(depth, w)
        cols = np.broadcast_to(np.arange(k), (b, k))
        out[:, :k] = np.where(finite[:, :k], cols, -1)
        return out
    lam = np.float32(1.0 - diversity)
    dl = np.float32(diversity)
    base = np.where(finite, lam * np.where(finite, rel, 0), -np.inf).astype(np.float32)
    pen = np.zeros((b, w), dtype=np.float32)
    mcnt = np.zeros((b, w), dtype=np.int32) if merchant_cap is not None else None
    ccnt = np.zeros((b, w), dtype=np.int32) if category_cap is not None else None
    out = np.full((b, depth), -1, dtype=np.int64)
    rows = np.arange(b)
    capped = mcnt is not None or ccnt is not None
    for t in range(depth):
        lim = min(w, mmr_pool + t)
        obj = base[:, :lim] - dl * pen[:, :lim] if dl else base[:, :lim].copy()
        if capped:
            viol = np.zeros((b, lim), dtype=bool)
            if mcnt is not None:
                viol |= mcnt[:, :lim] >= merchant_cap
            if ccnt is not None:
                viol |= ccnt[:, :lim] >= category_cap
            obj -= np.float32(4.0) * viol
        j = np.argmax(obj, axis=1)
        best = obj[rows, j]
        ok = np.isfinite(best)
        if not ok.any():
            break
        out[:, t] = np.where(ok, j, -1)
        base[rows[ok], j[ok]] = -np.inf
        okc = ok[:, None]
        if dl:
            if vectors is not None:
                sim = np.einsum("bwd,bd->bw", vectors, vectors[rows, j])
                np.maximum(sim, 0, out=sim)
            else:
                sim = 0.5 * (category == category[rows, j][:, None]) + 0.5 * (
                    merchant == merchant[rows, j][:, None]
                )
            np.maximum(pen, np.where(okc, sim, 0).astype(np.float32), out=pen)
        if capped:
            old = t - window + 1
            for cnt, code in ((mcnt, merchant), (ccnt, category)):
                if cnt is None:
                    continue
                cnt += (code == code[rows, j][:, None]) & okc
                if old >= 0 and window > 0:
                    jo = out[:, old]
                    oko = (jo >= 0)[:, None]
                    cnt -= (code == code[rows, np.maximum(jo, 0)][:, None]) & oko
    return out
