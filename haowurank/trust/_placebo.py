"""Graph placebos: the same Dataset with a degree-preserving random social graph, or none.

A placebo answers "does the *identity* of a user's friends carry signal, or only how many
friends the user has?". :func:`shuffle_social` rewires the follow graph at random while every
user keeps their number of follows and followers; :func:`drop_social` removes the graph. Both
keep the vocabularies, interactions, audiences, blocks and item metadata unchanged, so a ranker
fitted on the placebo sees exactly the same purchases and endorsements as on the real data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._dataset import Dataset
from .._random import SeedLike, rng

__all__ = ["drop_social", "shuffle_social"]

#: Random partners tried for one self-loop or repeated edge before giving up.
_MAX_TRIES = 2000


def _check_dataset(ds: object, func: str) -> None:
    if not isinstance(ds, Dataset):
        raise TypeError(
            f"The 'ds' argument of {func} must be a haowurank Dataset. Got {type(ds).__name__} instead."
        )


def drop_social(ds: Dataset) -> Dataset:
    """The same Dataset with an empty social graph ("no graph" arm of an ablation).

    Parameters
    ----------
    ds : Dataset

    Returns
    -------
    Dataset
        Same users, items, interactions, audiences and blocks; no social rows.

    Examples
    --------
    >>> import haowurank as hr
    >>> from haowurank.testing import small_world
    >>> hr.trust.drop_social(small_world()).n_social
    0
    """
    _check_dataset(ds, "drop_social")
    return ds.replace(indexed_social=ds.indexed_social.iloc[:0].copy())


def _repair_undirected(a: np.ndarray, b: np.ndarray, gen: np.random.Generator) -> None:
    """Remove self-loops and repeated pairs from an undirected edge list in place by random
    endpoint swaps with other edges (every node keeps its degree)."""
    m = len(a)
    key = lambda x, y: (x, y) if x < y else (y, x)  # noqa: E731
    count: dict[tuple[int, int], int] = {}
    for x, y in zip(a.tolist(), b.tolist(), strict=True):
        k = key(x, y)
        count[k] = count.get(k, 0) + 1
    bad = [i for i in range(m) if a[i] == b[i] or count[key(int(a[i]), int(b[i]))] > 1]
    for i in bad:
        ai, bi = int(a[i]), int(b[i])
        if ai != bi and count[key(ai, bi)] == 1:
            continue  # fixed by an earlier swap
        for _ in range(_MAX_TRIES):
            j = int(gen.integers(m))
            if j == i:
                continue
            aj, bj = int(a[j]), int(b[j])
            if gen.random() < 0.5:
                aj, bj = bj, aj  # either orientation of the partner edge
            e1, e2 = (ai, bj), (aj, bi)
            if e1[0] == e1[1] or e2[0] == e2[1] or key(*e1) == key(*e2):
                continue
            count[key(ai, bi)] -= 1
            count[key(aj, bj)] -= 1
            if count.get(key(*e1), 0) or count.get(key(*e2), 0):
                count[key(ai, bi)] += 1
                count[key(aj, bj)] += 1
                continue
            count[key(*e1)] = 1
            count[key(*e2)] = 1
            a[i], b[i], a[j], b[j] = e1[0], e1[1], e2[0], e2[1]
            break
        else:
            raise ValueError(
                "shuffle_social could not rewire the mutual follows without self-loops or "
                f"repeated pairs after {_MAX_TRIES} tries (the graph is too dense to shuffle)."
            )


def _repair_directed(
    u: np.ndarray, f: np.ndarray, mutual: set[tuple[int, int]], no_reverse: bool,
    gen: np.random.Generator,
) -> None:
    """Remove self-loops, repeated edges, edges onto a mutual pair and (with ``no_reverse``)
    edges whose reverse is also present, in place, by swapping targets with random other edges
    (every node keeps its out- and in-degree)."""
    m = len(u)
    count: dict[tuple[int, int], int] = {}
    for x, y in zip(u.tolist(), f.tolist(), strict=True):
        count[(x, y)] = count.get((x, y), 0) + 1

    def invalid(x: int, y: int) -> bool:
        return (
            x == y
            or count.get((x, y), 0) > 0
            or (x, y) in mutual
            or (y, x) in mutual
            or (no_reverse and count.get((y, x), 0) > 0)
        )

    def broken(i: int) -> bool:
        x, y = int(u[i]), int(f[i])
        count[(x, y)] -= 1
        bad = invalid(x, y)
        count[(x, y)] += 1
        return bad

    bad = [i for i in range(m) if broken(i)]
    for i in bad:
        if not broken(i):
            continue  # fixed by an earlier swap
        ui, fi = int(u[i]), int(f[i])
        for _ in range(_MAX_TRIES):
            j = int(gen.integers(m))
            if j == i:
                continue
            uj, fj = int(u[j]), int(f[j])
            count[(ui, fi)] -= 1
            count[(uj, fj)] -= 1
            e1, e2 = (ui, fj), (uj, fi)
            ok = not invalid(*e1)
            if ok:
                count[e1] = count.get(e1, 0) + 1
                ok = not invalid(*e2)
                count[e1] -= 1
            if not ok:
                count[(ui, fi)] += 1
                count[(uj, fj)] += 1
                continue
            count[e1] = count.get(e1, 0) + 1
            count[e2] = count.get(e2, 0) + 1
            f[i], f[j] = fj, fi
            break
        else:
            raise ValueError(
                "shuffle_social could not rewire the follows without self-loops or repeated "
                f"edges after {_MAX_TRIES} tries (the graph is too dense to shuffle)."
            )


def shuffle_social(ds: Dataset, seed: SeedLike = 0, *, keep_reciprocity: bool = True) -> Dataset:
    """The same Dataset with a degree-preserving random social graph (a placebo graph).

    Every user keeps their number of follows (out-degree) and of followers (in-degree) and the
    weights of their own follow rows; who they follow is random. The rewiring is a
    configuration model (Molloy and Reed 1995; Newman, Strogatz and Watts 2001): follow stubs
    are matched to follower stubs by a random permutation, then each self-loop or repeated edge
    is removed by swapping its end with a random other edge, which keeps every degree.

    With ``keep_reciprocity`` (the default) mutual follows (rows ``u -> f`` and ``f -> u``) and
    one-way follows are rewired separately: mutual pairs become random mutual pairs (each
    user keeps their number of mutual friends), one-way rows become random one-way rows (each
    user keeps their one-way out- and in-degree), and no new mutual pair arises. Reciprocity
    matters here because an endorsement with visibility "friends" reaches only mutual
    followers (:mod:`haowurank.visibility`); a shuffle that broke mutual pairs would hide most
    endorsements and test visibility, not friend identity. With ``keep_reciprocity=False``
    all rows are rewired as one directed graph (in- and out-degrees kept, reciprocity not).

    Parameters
    ----------
    ds : Dataset
    seed : int, SeedSequence or Generator, default 0
        The same seed and graph give the same shuffled graph.
    keep_reciprocity : bool, default True

    Returns
    -------
    Dataset
        Same vocabularies, interactions, audiences, blocks and items; a new social frame with
        as many rows, no self-follows and no repeated rows.

    Raises
    ------
    ValueError
        When the graph is so dense that no simple rewiring was found (e.g. a complete graph).

    Notes
    -----
    Cost: ``O(S log S)`` for ``S`` social rows plus a Python loop over the few rows that the
    random matching makes self-loops or repeats.

    References
    ----------
    M. Molloy, B. Reed. "A critical point for random graphs with a given degree sequence".
    Random Structures & Algorithms 6 (1995). M. E. J. Newman, S. H. Strogatz, D. J. Watts.
    "Random graphs with arbitrary degree distributions and their applications". Phys. Rev. E 64
    (2001).

    Examples
    --------
    >>> import numpy as np
    >>> import haowurank as hr
    >>> from haowurank.testing import small_world
    >>> ds = small_world()
    >>> placebo = hr.trust.shuffle_social(ds, seed=1)
    >>> S, P = ds.social_matrix(), placebo.social_matrix()
    >>> bool((S.getnnz(axis=1) == P.getnnz(axis=1)).all() and (S.getnnz(axis=0) == P.getnnz(axis=0)).all())
    True
    >>> placebo.indexed_interactions.equals(ds.indexed_interactions)
    True
    """
    _check_dataset(ds, "shuffle_social")
    if not isinstance(keep_reciprocity, bool | np.bool_):
        raise TypeError(
            "The 'keep_reciprocity' parameter of shuffle_social must be a bool. "
            f"Got {keep_reciprocity!r} instead."
        )
    gen = rng(seed)
    soc = ds.indexed_social
    if len(soc) == 0:
        return ds.replace(indexed_social=soc.copy())
    user = soc["user"].to_numpy().astype(np.int64)
    friend = soc["friend"].to_numpy().astype(np.int64)
    weight = soc["weight"].to_numpy()
    n = max(ds.n_users, 1)
    if keep_reciprocity:
        keys = user * n + friend
        rev = np.isin(friend * n + user, keys)
    else:
        rev = np.zeros(len(user), dtype=bool)
    parts_u, parts_f, parts_w = [], [], []
    mutual: set[tuple[int, int]] = set()
    if rev.any():
        # mutual layer: each pair once (u < f), rewired as an undirected configuration model
        mu, mf = user[rev], friend[rev]
        once = mu < mf
        stubs = np.concatenate([mu[once], mf[once]])[gen.permutation(2 * int(once.sum()))]
        half = len(stubs) // 2
        na, nb = stubs[:half].copy(), stubs[half:].copy()
        _repair_undirected(na, nb, gen)
        # each user hands out the weights of their own mutual rows
        pool: dict[int, list[float]] = {}
        for x, w in zip(mu.tolist(), weight[rev].tolist(), strict=True):
            pool.setdefault(x, []).append(w)
        wa = np.array([pool[x].pop() for x in na.tolist()], dtype=float)
        wb = np.array([pool[x].pop() for x in nb.tolist()], dtype=float)
        parts_u += [na, nb]
        parts_f += [nb, na]
        parts_w += [wa, wb]
        mutual = set(zip(na.tolist(), nb.tolist(), strict=True))
        mutual |= {(y, x) for x, y in mutual}
    one = ~rev
    if one.any():
        ou, of, ow = user[one], friend[one].copy(), weight[one]
        of = of[gen.permutation(len(of))]
        _repair_directed(ou, of, mutual, keep_reciprocity, gen)
        parts_u.append(ou)
        parts_f.append(of)
        parts_w.append(ow)
    out = pd.DataFrame({
        "user": np.concatenate(parts_u).astype(soc["user"].dtype),
        "friend": np.concatenate(parts_f).astype(soc["friend"].dtype),
        "weight": np.concatenate(parts_w).astype(soc["weight"].dtype),
    })
    out = out.sort_values(["user", "friend"], kind="stable").reset_index(drop=True)
    return ds.replace(indexed_social=out)

