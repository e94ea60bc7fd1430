"""Diversity re-ranking of feed candidates: greedy MMR with merchant and category caps.

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

Two implementations give identical results (the objective is evaluated in float64 with the same
operations in the same order): a vectorised one over a batch of viewers, and a scalar "lazy"
one for a few viewers that stops scanning the pool as soon as no remaining candidate can beat the
best objective found (``(1 - diversity) * rel`` bounds a candidate's objective and the pool is
sorted by ``rel``), which makes single-user feeds fast.

References
----------
Carbonell, J. and Goldstein, J. (1998). The use of MMR, diversity-based reranking for reordering
documents and producing summaries. SIGIR '98, 335-336.
"""

from __future__ import annotations

import numpy as np

__all__ = ["greedy_rerank"]

_CAP_PENALTY = 4.0


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
    method: str = "auto",
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
    method : {"auto", "vectorised", "lazy"}
        Implementation; "auto" takes the lazy one for fewer than 8 rows without vectors.

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
    if method not in ("auto", "vectorised", "lazy"):
        raise ValueError(f"The 'method' parameter must be 'auto', 'vectorised' or 'lazy'. Got {method!r}.")
    if method == "lazy" or (method == "auto" and b < 8 and vectors is None):
        if vectors is not None:
            raise ValueError("The lazy greedy supports the category/merchant similarity only.")
        out = np.full((b, depth), -1, dtype=np.int64)
        for r in range(b):
            k = int(finite[r].sum())
            picks = _lazy_row(
                rel[r, :k].astype(np.float64).tolist(), category[r, :k].tolist(),
                merchant[r, :k].tolist(), depth, float(diversity), merchant_cap, category_cap,
                window, mmr_pool,
            )
            out[r, : len(picks)] = picks
        return out
    return _vectorised(rel, finite, category, merchant, depth, float(diversity), merchant_cap,
                       category_cap, window, mmr_pool, vectors)


def _lazy_row(
    rel: list[float], cat: list[int], mer: list[int], depth: int, diversity: float,
    merchant_cap: int | None, category_cap: int | None, window: int, mmr_pool: int,
) -> list[int]:
    lam = 1.0 - diversity
    dl = diversity
    n = len(rel)
    taken = [False] * n
    sel_c: set[int] = set()
    sel_m: set[int] = set()
    sel_cm: set[tuple[int, int]] = set()
    mcnt: dict[int, int] = {}
    ccnt: dict[int, int] = {}
    picks: list[int] = []
    for t in range(depth):
        lim = min(n, mmr_pool + t)
        best = -np.inf
        bj = -1
        for k in range(lim):
            if taken[k]:
                continue
            ub = lam * rel[k]
            if ub <= best:
                break  # sorted by rel: no later candidate can beat best
            c, m = cat[k], mer[k]
            if dl:
                pen = 1.0 if (c, m) in sel_cm else (0.5 if (c in sel_c or m in sel_m) else 0.0)
                o = ub - dl * pen
            else:
                o = ub - 0.0
            if (merchant_cap is not None and mcnt.get(m, 0) >= merchant_cap) or (
                category_cap is not None and ccnt.get(c, 0) >= category_cap
            ):
                o = o - _CAP_PENALTY
            if o > best:
                best, bj = o, k
        if bj < 0:
            break
        picks.append(bj)
        taken[bj] = True
        c, m = cat[bj], mer[bj]
        sel_c.add(c)
        sel_m.add(m)
        sel_cm.add((c, m))
        mcnt[m] = mcnt.get(m, 0) + 1
        ccnt[c] = ccnt.get(c, 0) + 1
        old = t - window + 1
        if old >= 0:
            jo = picks[old]
            mcnt[mer[jo]] -= 1
            ccnt[cat[jo]] -= 1
    return picks


def _vectorised(
    rel: np.ndarray, finite: np.ndarray, category: np.ndarray, merchant: np.ndarray, depth: int,
    diversity: float, merchant_cap: int | None, category_cap: int | None, window: int,
    mmr_pool: int, vectors: np.ndarray | None,
) -> np.ndarray:
    b, w = rel.shape
    lam = 1.0 - diversity
    dl = diversity
    # Rows in order of their number of candidates, longest first: a row with c candidates is
    # done after c positions, so position t works on the first rows only (views, no copies).
    # This needs each row's candidates first and its pads last, as the contract says.
    n_cand = finite.sum(axis=1)
    perm = None
    if b > 1 and w > 1 and bool((finite[:, 1:] <= finite[:, :-1]).all()):
        perm = np.argsort(-n_cand, kind="stable")
        rel, finite, n_cand = rel[perm], finite[perm], n_cand[perm]
        category, merchant = category[perm], merchant[perm]
        if vectors is not None:
            vectors = vectors[perm]
    base = np.where(finite, lam * np.where(finite, rel, 0).astype(np.float64), -np.inf)
    # the penalty: with vectors a float similarity; else the level 0, 1 or 2 (same category,
    # same merchant, both) of the most similar placed item, read through ``dl * level / 2``
    pen = np.zeros((b, w), dtype=np.float64 if vectors is not None else np.int8)
    pen_of = np.array([0.0, dl * 0.5, dl * 1.0])
    mcnt = np.zeros((b, w), dtype=np.int32) if merchant_cap is not None else None
    ccnt = np.zeros((b, w), dtype=np.int32) if category_cap is not None else None
    out = np.full((b, depth), -1, dtype=np.int64)
    capped = mcnt is not None or ccnt is not None
    desc = -n_cand  # ascending
    for t in range(depth):
        a = b if perm is None else int(np.searchsorted(desc, -t, side="left"))  # rows with > t
        if a == 0:
            break
        rows = np.arange(a)
        lim = min(w, mmr_pool + t)
        if not dl:
            obj = base[:a, :lim] - 0.0
        elif vectors is not None:
            obj = base[:a, :lim] - dl * pen[:a, :lim]
        else:
            obj = base[:a, :lim] - pen_of[pen[:a, :lim]]
        if capped:
            viol = np.zeros((a, lim), dtype=bool)
            if mcnt is not None:
                viol |= mcnt[:a, :lim] >= merchant_cap
            if ccnt is not None:
                viol |= ccnt[:a, :lim] >= category_cap
            obj = np.where(viol, obj - _CAP_PENALTY, obj)
        j = np.argmax(obj, axis=1)
        ok = np.isfinite(obj[rows, j])
        if not ok.any():
            break
        every = bool(ok.all())
        out[:a, t] = j if every else np.where(ok, j, -1)
        base[rows[ok], j[ok]] = -np.inf
        okc = ok[:, None]
        same_cat = same_mer = None
        if dl or capped:
            same_cat = category[:a] == category[rows, j][:, None]
            same_mer = merchant[:a] == merchant[rows, j][:, None]
            if not every:
                same_cat &= okc
                same_mer &= okc
        if dl:
            if vectors is not None:
                sim = np.einsum("bwd,bd->bw", vectors[:a], vectors[rows, j]).astype(np.float64)
                np.maximum(sim, 0, out=sim)
                np.maximum(pen[:a], sim if every else np.where(okc, sim, 0.0), out=pen[:a])
            else:
                level = same_cat.view(np.int8) + same_mer.view(np.int8)
                np.maximum(pen[:a], level, out=pen[:a])
        if capped:
            old = t - window + 1
            for cnt, code, same in ((mcnt, merchant, same_mer), (ccnt, category, same_cat)):
                if cnt is None:
                    continue
                cnt[:a] += same
                if old >= 0:
                    jo = out[:a, old]
                    oko = (jo >= 0)[:, None]
                    code = code[:a]
                    cnt[:a] -= (code == code[rows, np.maximum(jo, 0)][:, None]) & oko
    if perm is not None:
        unsorted = np.empty_like(out)
        unsorted[perm] = out
        out = unsorted
    return out
