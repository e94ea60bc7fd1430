"""The privacy rule: who may see which endorsement, and what may enter whose ranking.

This module is the only place the rule is written; feed, search, every ranker's social terms and
explanations, the simulation, the HTTP service and the dashboard import it, and the Spark path
(:mod:`haowurank.spark`) states the same rule as joins and is parity-tested against it.

The rule (issue 17; ``../shared/API.md``, "Feed and search"):

- **Who sees an endorsement.** An endorsement is a ``recommend`` or
  ``recommend_after_purchase`` row of endorser ``e``. A viewer ``v`` may see it when ``v`` follows
  ``e`` (a social row v -> e) and it is ``"public"``, or it is ``"friends"`` and ``e`` also lists
  ``v`` (a row e -> v). ``"private"`` is seen by nobody else. Nothing from a user ``v`` has
  blocked (``Dataset`` blocks) or muted (the ``mutes`` argument) is seen. An endorsement with an
  audience list (``Dataset`` audiences) is seen only by listed viewers who also pass the rules
  above: a list only ever narrows. Duplicate rows of one (endorser, item) are each judged on
  their own: ``v`` sees the strongest kind among the rows ``v`` may see. A user's own
  endorsements are never "seen" through this rule (nobody follows themself).
- **Per-person social signals use only what the viewer may see.** Friends' endorsements, trust
  propagation, friend counts and the social terms of a factor model that target ``v`` use only
  endorsements ``v`` may see. Public endorsements (without an audience list) of people ``v``'s
  friends trust may enter multi-hop trust in aggregate, never attributed by name.
- **Everything else only in aggregate models.** Other people's purchases, views and clicks, and
  endorsements ``v`` may not see, may enter only aggregate collaborative models fitted over all
  users (ALS, item-kNN, EASE, popularity counts).
- **Explanations.** An explanation names only people whose endorsement of that item ``v`` may
  see, and never anyone's purchase; aggregate evidence is described without names ("liked by 12
  people with similar taste", "endorsed in your wider circle (3 people)").

:class:`EndorsementGraph` precomputes, once per dataset, everything needed to enumerate the
visible (viewer, endorser, item) triples of a batch of viewers with a few vectorised numpy
operations: the viewer -> endorser edges split into one-way follows and mutual follows (blocked and
muted endorsers removed; :meth:`EndorsementGraph.may_see` gives them as a viewer x endorser
matrix per visibility), the endorsements per endorser that one-way followers may see (public)
and that mutual friends may see (public or friends), and the explicit triples of audience-limited
endorsements. :meth:`EndorsementGraph.visible` returns, for a batch of viewers, the visible
(viewer, endorser, item, kind, timestamp) triples and the viewer x item sparse matrix of visible
endorsement strength; :func:`visible_endorsements` is the same as a frame with caller ids, and
:func:`visible_strength` the matrix. A graph round-trips through plain arrays
(:meth:`EndorsementGraph.to_arrays` / :meth:`EndorsementGraph.from_arrays`) so that a saved
ranker keeps the rule of the data it was fitted on.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ._arrays import csr_keys, isin_sorted, sorted_rows, unique_sorted
from ._dataset import ENDORSEMENT_KINDS, KINDS, VISIBILITIES, Dataset
from ._errors import warn_data
from ._time import seconds
from .kinds import ENDORSEMENT_STRENGTH

__all__ = [
    "ENDORSEMENT_STRENGTH",
    "EndorsementGraph",
    "VisibleEndorsements",
    "check_endorsement_kinds",
    "visible_endorsements",
    "visible_strength",
]

# ENDORSEMENT_STRENGTH (haowurank.kinds) is the strength of one endorsement by kind, the table
# of every per-person social signal; only endorsement kinds appear in it (the rule above).

_K_REC = KINDS.index("recommend")
_K_RAP = KINDS.index("recommend_after_purchase")
_V_PUBLIC = VISIBILITIES.index("public")
_V_FRIENDS = VISIBILITIES.index("friends")


@dataclass(frozen=True)
class _Table:
    """Endorsements grouped by endorser, CSR-like: row ``e`` spans ``indptr[e]:indptr[e+1]``.

    One entry per (endorser, item): the strongest visible kind (ties: the latest row).
    """

    indptr: np.ndarray  # int64 (n_users + 1,)
    item: np.ndarray  # int32
    kind: np.ndarray  # int8 kind code
    ts: np.ndarray  # int64 seconds
    weight: np.ndarray  # float32 kind weight

    @classmethod
    def build(
        cls, e: np.ndarray, i: np.ndarray, k: np.ndarray, ts: np.ndarray, w: np.ndarray, n_users: int
    ) -> _Table:
        if len(e):
            order = np.lexsort((-ts, -w, i, e))
            e, i, k, ts, w = e[order], i[order], k[order], ts[order], w[order]
            first = np.ones(len(e), dtype=bool)
            first[1:] = (e[1:] != e[:-1]) | (i[1:] != i[:-1])
            e, i, k, ts, w = e[first], i[first], k[first], ts[first], w[first]
        indptr = np.zeros(n_users + 1, dtype=np.int64)
        np.cumsum(np.bincount(e, minlength=n_users), out=indptr[1:])
        return cls(
            indptr, i.astype(np.int32), k.astype(np.int8), ts.astype(np.int64), w.astype(np.float32)
        )

    def merged(
        self, e: np.ndarray, i: np.ndarray, k: np.ndarray, ts: np.ndarray, w: np.ndarray
    ) -> _Table:
        """The table of this table's rows followed by more rows (equal to ``build`` on all of
        them), without sorting this table again."""
        nu = len(self.indptr) - 1
        if len(e) == 0:
            return self
        new = _Table.build(e, i, k, ts, w, nu)  # the best new row of each (endorser, item)
        ne = np.repeat(np.arange(nu, dtype=np.int64), np.diff(new.indptr))
        oe = np.repeat(np.arange(nu, dtype=np.int64), np.diff(self.indptr))
        okey = (oe << 32) | self.item.astype(np.int64)
        nkey = (ne << 32) | new.item.astype(np.int64)
        pos = np.searchsorted(okey, nkey)
        hit = pos < len(okey)
        hit[hit] = okey[pos[hit]] == nkey[hit]
        # a repeated (endorser, item) keeps the old entry (earlier rows win ties in ``build``)
        # unless the new one is stronger, or as strong and later
        hp, hn = pos[hit], np.flatnonzero(hit)
        wins = (new.weight[hn] > self.weight[hp]) | (
            (new.weight[hn] == self.weight[hp]) & (new.ts[hn] > self.ts[hp]))
        cols = {}
        add = ~hit
        for name in ("item", "kind", "ts", "weight"):
            a = getattr(self, name).copy()
            b = getattr(new, name)
            a[hp[wins]] = b[hn[wins]]
            cols[name] = np.insert(a, pos[add], b[add])
        indptr = np.zeros(nu + 1, dtype=np.int64)
        np.cumsum(np.diff(self.indptr) + np.bincount(ne[add], minlength=nu), out=indptr[1:])
        return _Table(indptr, cols["item"], cols["kind"], cols["ts"], cols["weight"])


def _has(keys: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Membership of int64 ``query`` keys in the sorted unique ``keys``."""
    return isin_sorted(np.asarray(query), keys)


def _expand(indptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For CSR row ids ``rows``: (position of each entry's row in ``rows``, entry positions)."""
    if len(rows) == 1:
        r = int(rows[0])
        pos = np.arange(indptr[r], indptr[r + 1], dtype=np.int64)
        return np.zeros(len(pos), dtype=np.int64), pos
    starts = indptr[rows]
    lens = indptr[rows + 1] - starts
    total = int(lens.sum())
    owner = np.repeat(np.arange(len(rows), dtype=np.int64), lens)
    if total == 0:
        return owner, np.empty(0, dtype=np.int64)
    offs = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(lens) - lens, lens)
    return owner, np.repeat(starts, lens) + offs


def _kind_table(kind_weights: dict[str, float]) -> np.ndarray:
    """float64 weight per kind code (kinds not named, and non-endorsement kinds, weigh 0)."""
    check_endorsement_kinds(kind_weights, "kind_weights")
    table = np.zeros(len(KINDS), dtype=np.float64)
    for k, w in kind_weights.items():
        table[KINDS.index(k)] = float(w)
    return table


def _decay(ts: np.ndarray, half_life_days: float | None, now: int | None) -> np.ndarray:
    if half_life_days is None or len(ts) == 0:
        return np.ones(len(ts), dtype=np.float64)
    ref = float(ts.max()) if now is None else float(seconds(now, "'now' parameter"))
    age = np.maximum(ref - ts.astype(np.float64), 0.0) / 86_400.0
    return np.power(0.5, age / float(half_life_days))


def check_endorsement_kinds(kind_weights: Any, name: str = "kind_weights") -> dict[str, float]:
    """Check a per-person kind-weight table: endorsement kinds only, finite weights >= 0.

    Other people's purchases, views and clicks are never a per-person signal (the rule above),
    so a table naming them is refused rather than silently narrowed.

    Raises
    ------
    ValueError
        Names the parameter ``name``, what was expected and what came.
    """
    ok = isinstance(kind_weights, dict) and all(
        isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v) and v >= 0
        for v in kind_weights.values()
    )
    if not ok:
        raise ValueError(
            f"The {name!r} parameter must map endorsement kinds {list(ENDORSEMENT_KINDS)} to "
            f"finite weights >= 0. Got {kind_weights!r} instead."
        )
    bad = [k for k in kind_weights if k not in ENDORSEMENT_KINDS]
    if bad:
        raise ValueError(
            f"The {name!r} parameter may name only the endorsement kinds "
            f"{list(ENDORSEMENT_KINDS)}: other people's purchases, views and clicks may enter "
            f"only aggregate models (the privacy rule, haowurank.visibility). Got {bad}."
        )
    return {k: float(v) for k, v in kind_weights.items()}


@dataclass(frozen=True)
class VisibleEndorsements:
    """The endorsements a batch of viewers may see (:meth:`EndorsementGraph.visible`).

    Attributes
    ----------
    viewers : ndarray of int64 of shape (b,)
        The viewers' user indices; ``viewer`` below indexes into it.
    viewer, endorser, item, kind, ts : ndarray of shape (t,)
        One row per visible (viewer, endorser, item): position of the viewer in ``viewers``,
        the endorser's user index, the item index, the strongest kind code the viewer may see
        and its timestamp.
    weight : ndarray of float32 of shape (t,)
        The graph's kind weight times ``trust``.
    trust : ndarray of float32 of shape (t,)
        The social weight of the follow viewer -> endorser.
    n_items : int
    """

    viewers: np.ndarray
    viewer: np.ndarray
    endorser: np.ndarray
    item: np.ndarray
    kind: np.ndarray
    ts: np.ndarray
    weight: np.ndarray
    trust: np.ndarray
    n_items: int

    def __len__(self) -> int:
        return len(self.viewer)

    def values(
        self,
        kind_weights: dict[str, float] | None = None,
        *,
        trust: bool = False,
        half_life_days: float | None = None,
        now: int | None = None,
    ) -> np.ndarray:
        """float64 strength of each triple: ``kind_weights[kind]`` (default
        :data:`ENDORSEMENT_STRENGTH`), times the follow's weight when ``trust``, times
        ``0.5 ** (age_days / half_life_days)`` when a half-life is given."""
        table = _kind_table(ENDORSEMENT_STRENGTH if kind_weights is None else kind_weights)
        v = table[self.kind]
        if trust:
            v = v * self.trust.astype(np.float64)
        return v * _decay(self.ts, half_life_days, now)

    def strength(
        self,
        kind_weights: dict[str, float] | None = None,
        *,
        trust: bool = False,
        half_life_days: float | None = None,
        now: int | None = None,
        endorser_weights: np.ndarray | None = None,
    ) -> sp.csr_matrix:
        """Viewer x item matrix of visible endorsement strength: the sum over the visible
        endorsers of :meth:`values` (times ``endorser_weights`` per triple when given).

        Returns
        -------
        csr_matrix of float64, shape (b, n_items); zeros dropped.
        """
        v = self.values(kind_weights, trust=trust, half_life_days=half_life_days, now=now)
        if endorser_weights is not None:
            v = v * np.asarray(endorser_weights, dtype=np.float64)
        m = sp.csr_matrix(
            (v, (self.viewer, self.item.astype(np.int64))), shape=(len(self.viewers), self.n_items)
        )
        m.sum_duplicates()
        m.eliminate_zeros()
        m.sort_indices()
        return m

    def counts(self, kinds: Any = None) -> sp.csr_matrix:
        """Viewer x item matrix of the number of visible endorsers (of the given kinds, default
        every endorsement kind)."""
        kinds = ENDORSEMENT_KINDS if kinds is None else kinds
        return self.strength({k: 1.0 for k in kinds})


def _hidden_pairs(ds: Dataset, mutes: pd.DataFrame | None) -> sp.csr_matrix:
    """Boolean viewer x endorser CSR of blocked or muted pairs."""
    b = ds.block_matrix().astype(bool)
    if mutes is None or len(mutes) == 0:
        return b
    if not isinstance(mutes, pd.DataFrame):
        raise TypeError(
            f"The 'mutes' argument must be a DataFrame with columns user, muted. "
            f"Got {type(mutes).__name__} instead."
        )
    missing = [c for c in ("user", "muted") if c not in mutes.columns]
    if missing:
        raise ValueError(
            f"The 'mutes' frame must have the columns ['user', 'muted']; missing {missing}. "
            f"Found columns {list(map(str, mutes.columns))}."
        )
    u = ds.user_index(mutes["user"].tolist(), missing="ignore")
    m = ds.user_index(mutes["muted"].tolist(), missing="ignore")
    ok = (u >= 0) & (m >= 0)
    if not ok.all():
        warn_data(
            f"mutes: ignored {int((~ok).sum())} row(s) naming users that are not in the dataset."
        )
    mm = sp.csr_matrix(
        (np.ones(int(ok.sum()), dtype=bool), (u[ok], m[ok])), shape=(ds.n_users, ds.n_users)
    )
    out = (b + mm).astype(bool).tocsr()
    out.sort_indices()
    return out


class EndorsementGraph:
    """Index-level structures that enumerate the endorsements each viewer may see.

    Parameters
    ----------
    ds : Dataset
        Endorsements are its ``recommend`` / ``recommend_after_purchase`` rows; follows its social
        rows (their weights are the viewer's trust in the endorser); its blocks and audiences.
    mutes : DataFrame, optional
        Columns ``user``, ``muted``: for feed and search a mute is the same as a block (nothing
        from a muted user reaches the viewer), kept apart because it is a viewer preference that
        changes often, not part of the data. Unknown ids are ignored with a warning.
    kind_weights : dict, optional
        Strength of one endorsement by kind (default :data:`~haowurank.kinds.ENDORSEMENT_STRENGTH`).

    Attributes
    ----------
    one_way : csr_matrix of shape (n_users, n_users)
        ``(v, e)`` stored when ``v`` follows ``e``, ``e`` does not follow ``v`` and ``e`` is
        neither blocked nor muted by ``v``; value: the social weight (trust).
    mutual : csr_matrix of shape (n_users, n_users)
        The same for mutual follows.
    fingerprint : str
        A digest of every structure, used by feed cursors to detect a changed world.
    """

    def __init__(
        self,
        ds: Dataset,
        *,
        mutes: pd.DataFrame | None = None,
        kind_weights: dict[str, float] | None = None,
    ):
        f = ds.indexed_interactions
        kind = f["kind"].to_numpy()
        isend = (kind == _K_REC) | (kind == _K_RAP)
        aud = ds.indexed_audiences
        self._build(
            ds.n_users, ds.n_items, social=ds.social_matrix(weighted=True),
            hidden=_hidden_pairs(ds, mutes),
            endorsements={
                "user": f["user"].to_numpy()[isend], "item": f["item"].to_numpy()[isend],
                "kind": kind[isend], "timestamp": f["timestamp"].to_numpy()[isend],
                "visibility": f["visibility"].to_numpy()[isend],
            },
            audiences={c: aud[c].to_numpy() for c in ("user", "item", "viewer")},
            kind_weights=kind_weights,
        )

    @classmethod
    def from_parts(
        cls,
        n_users: int,
        n_items: int,
        *,
        social: sp.spmatrix,
        blocks: sp.spmatrix | None,
        endorsements: dict[str, np.ndarray],
        audiences: dict[str, np.ndarray] | None = None,
        kind_weights: dict[str, float] | None = None,
    ) -> EndorsementGraph:
        """The graph of index-level parts instead of a Dataset (for models that keep only those).

        Parameters
        ----------
        n_users, n_items : int
        social : sparse matrix of shape (n_users, n_users)
            Follow weights (entry (v, e) > 0: v follows e).
        blocks : sparse matrix of shape (n_users, n_users) or None
            Entry (v, b) != 0: v blocked (or muted) b.
        endorsements : dict of arrays
            ``user``, ``item``, ``kind`` (kind codes), ``timestamp``, ``visibility`` (codes);
            rows of other kinds are ignored.
        audiences : dict of arrays, optional
            ``user``, ``item``, ``viewer``: an endorsement limited to a list of viewers.
        kind_weights : dict, optional
            As in the constructor.
        """
        g = cls.__new__(cls)
        kind = np.asarray(endorsements["kind"])
        isend = (kind == _K_REC) | (kind == _K_RAP)
        hidden = sp.csr_matrix((n_users, n_users), dtype=bool) if blocks is None else blocks
        hidden = sp.csr_matrix(hidden, dtype=bool)
        hidden.eliminate_zeros()
        hidden.sort_indices()
        empty = np.zeros(0, dtype=np.int64)
        g._build(
            n_users, n_items, social=sp.csr_matrix(social), hidden=hidden,
            endorsements={c: np.asarray(endorsements[c])[isend]
                          for c in ("user", "item", "kind", "timestamp", "visibility")},
            audiences=audiences or {"user": empty, "item": empty, "viewer": empty},
            kind_weights=kind_weights,
        )
        return g

    def _build(
        self,
        nu: int,
        ni: int,
        *,
        social: sp.csr_matrix,
        hidden: sp.csr_matrix,
        endorsements: dict[str, np.ndarray],
        audiences: dict[str, np.ndarray],
        kind_weights: dict[str, float] | None,
    ) -> None:
        kw = dict(ENDORSEMENT_STRENGTH if kind_weights is None else kind_weights)
        bad = [k for k in kw if k not in ENDORSEMENT_KINDS]
        vals_ok = all(
            isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v) and v > 0
            for v in kw.values()
        )
        if bad or not vals_ok or set(kw) != set(ENDORSEMENT_KINDS):
            raise ValueError(
                f"The 'kind_weights' parameter must map each of {list(ENDORSEMENT_KINDS)} to a "
                f"finite weight > 0. Got {kind_weights!r} instead."
            )
        self.kind_weights = kw
        self.n_users, self.n_items = nu, ni
        table = np.zeros(len(KINDS), dtype=np.float32)
        for k, w in kw.items():
            table[KINDS.index(k)] = w

        # follows, split into one-way and mutual, hidden endorsers removed
        F = sp.csr_matrix(social, dtype=np.float64)
        F.sum_duplicates()
        F.eliminate_zeros()
        F.sort_indices()
        fkeys = csr_keys(F)
        coo = F.tocoo()
        fv, fe, fw = coo.row.astype(np.int64), coo.col.astype(np.int64), coo.data
        self._follow_keys = fkeys  # every follow, hidden or not
        self._hidden_keys = csr_keys(hidden)
        hide = _has(self._hidden_keys, fkeys)
        # v -> e is mutual when e -> v is a follow: the transpose's keys, in storage order
        # (a linear counting sort), are sorted, and so are the queries
        back = _has(csr_keys(sorted_rows(F.T.tocsr())), fkeys)

        def graph(mask: np.ndarray) -> sp.csr_matrix:
            g = sp.csr_matrix((fw[mask], (fv[mask], fe[mask])), shape=(nu, nu), dtype=np.float32)
            g.sort_indices()
            return g

        self.one_way = graph(~hide & ~back)
        self.mutual = graph(~hide & back)

        # endorsement rows
        e = np.asarray(endorsements["user"]).astype(np.int64)
        i = np.asarray(endorsements["item"]).astype(np.int64)
        k = np.asarray(endorsements["kind"]).astype(np.int64)
        ts = np.asarray(endorsements["timestamp"]).astype(np.int64)
        vis = np.asarray(endorsements["visibility"])
        w = table[k]
        aud = {c: np.asarray(audiences[c]).astype(np.int64) for c in ("user", "item", "viewer")}
        rkeys = unique_sorted(aud["user"] * ni + aud["item"])
        self._limited_keys = rkeys  # (endorser, item) keys with an audience list
        limited = _has(rkeys, e * ni + i)
        pub = (vis == _V_PUBLIC) & ~limited
        frd = ((vis == _V_PUBLIC) | (vis == _V_FRIENDS)) & ~limited
        self.public = _Table.build(e[pub], i[pub], k[pub], ts[pub], w[pub], nu)
        self.friends = _Table.build(e[frd], i[frd], k[frd], ts[frd], w[frd], nu)

        # audience-limited endorsements: explicit (viewer, endorser, item) triples
        lim = limited & (vis != VISIBILITIES.index("private"))
        rows = pd.DataFrame(
            {"user": e[lim], "item": i[lim], "kind": k[lim], "ts": ts[lim], "w": w[lim],
             "vis": vis[lim]}
        )
        a = pd.DataFrame({"user": aud["user"], "item": aud["item"], "viewer": aud["viewer"]})
        j = a.merge(rows, on=["user", "item"], how="inner")
        av, ae = j["viewer"].to_numpy(), j["user"].to_numpy()
        pair = av * nu + ae
        follows = _has(fkeys, pair)
        mutual = follows & _has(fkeys, ae * nu + av)
        ok = ~_has(self._hidden_keys, pair) & (
            ((j["vis"].to_numpy() == _V_PUBLIC) & follows)
            | ((j["vis"].to_numpy() == _V_FRIENDS) & mutual)
        )
        j = j[ok]
        # trust weight of the follow v -> e
        trust = np.ones(len(j), dtype=np.float32)
        if len(j):
            pos = np.searchsorted(fkeys, j["viewer"].to_numpy() * nu + j["user"].to_numpy())
            trust = F.data[pos].astype(np.float32)
        # viewer-major table (endorser stored in 'item' slot's companion array)
        jv = j["viewer"].to_numpy()
        order = np.lexsort((-j["ts"].to_numpy(), -j["w"].to_numpy(), j["item"].to_numpy(),
                            j["user"].to_numpy(), jv))
        jv, je = jv[order], j["user"].to_numpy()[order]
        ji, jk = j["item"].to_numpy()[order], j["kind"].to_numpy()[order]
        jts, jw, trust = j["ts"].to_numpy()[order], j["w"].to_numpy()[order], trust[order]
        first = np.ones(len(jv), dtype=bool)
        first[1:] = (jv[1:] != jv[:-1]) | (je[1:] != je[:-1]) | (ji[1:] != ji[:-1])
        self._aud_indptr = np.zeros(nu + 1, dtype=np.int64)
        np.cumsum(np.bincount(jv[first], minlength=nu), out=self._aud_indptr[1:])
        self._aud = {
            "endorser": je[first].astype(np.int64), "item": ji[first].astype(np.int32),
            "kind": jk[first].astype(np.int8), "ts": jts[first].astype(np.int64),
            "weight": (jw[first] * trust[first]).astype(np.float32),
            "trust": trust[first].astype(np.float32),
        }
        self.fingerprint = self._digest()

    def appended(self, endorsements: dict[str, np.ndarray]) -> EndorsementGraph:
        """The graph with more endorsement rows: same follows, blocks, mutes and audiences.

        Equal to the graph built on this one's rows followed by ``endorsements`` (same
        triples, same fingerprint), without sorting the endorsements already held (for a log
        that grows, e.g. the simulation's, day by day).

        Parameters
        ----------
        endorsements : dict of arrays
            ``user``, ``item``, ``kind`` (kind codes), ``timestamp``, ``visibility`` (codes);
            rows of other kinds are ignored.

        Raises
        ------
        ValueError
            A new endorsement has an audience list, or the graph was read by
            :meth:`from_arrays` (which keeps no audience keys): build the graph again instead.
        """
        limited_keys = getattr(self, "_limited_keys", None)
        if limited_keys is None:
            raise ValueError(
                "EndorsementGraph.appended needs a graph built from data (from_arrays keeps no "
                "audience keys); build the graph again instead.")
        kind = np.asarray(endorsements["kind"]).astype(np.int64)
        isend = (kind == _K_REC) | (kind == _K_RAP)
        e = np.asarray(endorsements["user"])[isend].astype(np.int64)
        i = np.asarray(endorsements["item"])[isend].astype(np.int64)
        k = kind[isend]
        ts = np.asarray(endorsements["timestamp"])[isend].astype(np.int64)
        vis = np.asarray(endorsements["visibility"])[isend]
        if _has(limited_keys, e * self.n_items + i).any():
            raise ValueError(
                "The 'endorsements' of EndorsementGraph.appended hold an endorsement with an "
                "audience list; build the graph again instead.")
        table = np.zeros(len(KINDS), dtype=np.float32)
        for name, weight in self.kind_weights.items():
            table[KINDS.index(name)] = weight
        w = table[k]
        pub = vis == _V_PUBLIC
        frd = pub | (vis == _V_FRIENDS)
        g = copy.copy(self)
        g.public = self.public.merged(e[pub], i[pub], k[pub], ts[pub], w[pub])
        g.friends = self.friends.merged(e[frd], i[frd], k[frd], ts[frd], w[frd])
        g.fingerprint = g._digest()
        return g

    # ------------------------------------------------------------------ persistence
    def to_arrays(self, prefix: str = "visibility") -> dict[str, np.ndarray]:
        """Every structure of the graph as named plain arrays (for ``np.savez``, no pickle).

        :meth:`from_arrays` rebuilds an equal graph (same triples, same fingerprint).
        """
        out: dict[str, np.ndarray] = {
            f"{prefix}.shape": np.asarray([self.n_users, self.n_items], dtype=np.int64),
            f"{prefix}.kind_weights": np.asarray(
                [self.kind_weights[k] for k in ENDORSEMENT_KINDS], dtype=np.float64
            ),
            f"{prefix}.follow_keys": self._follow_keys,
            f"{prefix}.hidden_keys": self._hidden_keys,
            f"{prefix}.aud_indptr": self._aud_indptr,
        }
        for name in ("one_way", "mutual"):
            g = getattr(self, name)
            out.update({f"{prefix}.{name}.indptr": g.indptr, f"{prefix}.{name}.indices": g.indices,
                        f"{prefix}.{name}.data": g.data})
        for name in ("public", "friends"):
            tab = getattr(self, name)
            for f in ("indptr", "item", "kind", "ts", "weight"):
                out[f"{prefix}.{name}.{f}"] = getattr(tab, f)
        for k, a in self._aud.items():
            out[f"{prefix}.aud.{k}"] = a
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str = "visibility") -> EndorsementGraph:
        """The graph that :meth:`to_arrays` wrote."""
        g = cls.__new__(cls)
        nu, ni = (int(x) for x in arrays[f"{prefix}.shape"])
        g.n_users, g.n_items = nu, ni
        g.kind_weights = {
            k: float(w) for k, w in zip(ENDORSEMENT_KINDS, arrays[f"{prefix}.kind_weights"])
        }
        g._follow_keys = np.asarray(arrays[f"{prefix}.follow_keys"], dtype=np.int64)
        g._hidden_keys = np.asarray(arrays[f"{prefix}.hidden_keys"], dtype=np.int64)
        g._aud_indptr = np.asarray(arrays[f"{prefix}.aud_indptr"], dtype=np.int64)
        for name in ("one_way", "mutual"):
            m = sp.csr_matrix(
                (arrays[f"{prefix}.{name}.data"], arrays[f"{prefix}.{name}.indices"],
                 arrays[f"{prefix}.{name}.indptr"]), shape=(nu, nu),
            )
            setattr(g, name, m)
        for name in ("public", "friends"):
            setattr(g, name, _Table(*(arrays[f"{prefix}.{name}.{f}"]
                                      for f in ("indptr", "item", "kind", "ts", "weight"))))
        g._aud = {k: arrays[f"{prefix}.aud.{k}"]
                  for k in ("endorser", "item", "kind", "ts", "weight", "trust")}
        g.fingerprint = g._digest()
        return g

    # ------------------------------------------------------------------ queries
    def triples(self, viewers: np.ndarray) -> dict[str, np.ndarray]:
        """Every endorsement the given viewers may see, as flat arrays.

        Parameters
        ----------
        viewers : ndarray of int of shape (b,)
            Viewer (user) indices.

        Returns
        -------
        dict with arrays of equal length t:
            ``viewer`` (position in ``viewers``, int64), ``endorser`` (user index), ``item``,
            ``kind`` (kind code), ``ts`` (timestamp of the endorsement), ``weight`` (kind weight
            times the viewer's trust in the endorser, float32), ``trust`` (the social weight of
            the follow viewer -> endorser, float32). Each (viewer, endorser, item) appears once.
        """
        viewers = np.asarray(viewers, dtype=np.int64)
        parts = []
        for g, tab in ((self.one_way, self.public), (self.mutual, self.friends)):
            owner, pos = _expand(g.indptr, viewers)
            ends = g.indices[pos].astype(np.int64)
            trust = g.data[pos]
            o2, p2 = _expand(tab.indptr, ends)
            parts.append(
                (owner[o2], ends[o2], tab.item[p2], tab.kind[p2], tab.ts[p2],
                 tab.weight[p2] * trust[o2], trust[o2].astype(np.float32))
            )
        if self._aud_indptr[-1]:
            owner, pos = _expand(self._aud_indptr, viewers)
            a = self._aud
            parts.append(
                (owner, a["endorser"][pos], a["item"][pos], a["kind"][pos], a["ts"][pos],
                 a["weight"][pos], a["trust"][pos])
            )
        cols = ("viewer", "endorser", "item", "kind", "ts", "weight", "trust")
        return {c: np.concatenate([p[k] for p in parts]) for k, c in enumerate(cols)}

    def visible(self, viewers: Any) -> VisibleEndorsements:
        """The endorsements a batch of viewers may see, as triples and sparse matrices.

        Parameters
        ----------
        viewers : array-like of int of shape (b,)
            Viewer (user) indices.

        Returns
        -------
        VisibleEndorsements
        """
        viewers = np.asarray(viewers, dtype=np.int64).reshape(-1)
        if len(viewers) and (viewers.min() < 0 or viewers.max() >= self.n_users):
            raise ValueError(
                f"The 'viewers' argument must hold user indices in [0, {self.n_users}). "
                f"Got values from {int(viewers.min())} to {int(viewers.max())}."
            )
        t = self.triples(viewers)
        return VisibleEndorsements(viewers=viewers, n_items=self.n_items, **t)

    def may_see(self, visibility: str = "public") -> sp.csr_matrix:
        """Viewer x endorser matrix: who may see whose endorsements of one visibility.

        Parameters
        ----------
        visibility : {"public", "friends", "private"}
            ``"public"``: ``v`` follows ``e`` (one way or mutual); ``"friends"``: mutual follows;
            ``"private"``: nobody (an empty matrix). Blocked and muted endorsers are left out.
            Endorsements with an audience list are narrower still (see :meth:`visible`).

        Returns
        -------
        csr_matrix of bool, shape (n_users, n_users)
        """
        if visibility not in VISIBILITIES:
            raise ValueError(
                f"The 'visibility' parameter must be one of {list(VISIBILITIES)}. "
                f"Got {visibility!r} instead."
            )
        if visibility == "private":
            return sp.csr_matrix((self.n_users, self.n_users), dtype=bool)
        m = self.mutual if visibility == "friends" else self.one_way + self.mutual
        out = sp.csr_matrix(m, dtype=bool)
        out.sort_indices()
        return out

    def public_endorsements(
        self,
        kind_weights: dict[str, float] | None = None,
        *,
        half_life_days: float | None = None,
        now: int | None = None,
    ) -> sp.csr_matrix:
        """Endorser x item strength of the endorsements every follower of the endorser may see.

        These are the "public" endorsements without an audience list: what may enter multi-hop
        trust in aggregate (the rule above). One entry per (endorser, item): the strongest public
        kind's weight, times ``0.5 ** (age_days / half_life_days)`` when a half-life is given.

        Parameters
        ----------
        kind_weights : dict, optional
            Weight per endorsement kind (default: the graph's own ``kind_weights``).
        half_life_days : float, optional
            Exponential decay by age at ``now``.
        now : int seconds, optional
            Reference time of the decay (default: the latest public endorsement).

        Returns
        -------
        csr_matrix of float64, shape (n_users, n_items)
        """
        tab = self.public
        vals = _kind_table(self.kind_weights if kind_weights is None else kind_weights)[tab.kind]
        vals = vals * _decay(tab.ts, half_life_days, now)
        m = sp.csr_matrix((vals, tab.item.copy(), tab.indptr.copy()),
                          shape=(self.n_users, self.n_items))
        m.sort_indices()
        m.eliminate_zeros()
        return m

    def public_events(self, kinds: Any = None) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """Who publicly endorsed what, and when: the pattern of :meth:`public_endorsements`
        restricted to the given endorsement kinds (default both).

        Returns
        -------
        events : csr_matrix of float64, shape (n_users, n_items)
            1 where the endorser's strongest public endorsement of the item is of those kinds.
        times : csr_matrix of float64, shape (n_users, n_items)
            Its timestamp (seconds, explicit zeros kept), same pattern.
        """
        kinds = ENDORSEMENT_KINDS if kinds is None else kinds
        check_endorsement_kinds({k: 1.0 for k in kinds}, "kinds")
        tab = self.public
        keep = np.isin(tab.kind, [KINDS.index(k) for k in kinds])
        rows = np.repeat(np.arange(self.n_users, dtype=np.int64), np.diff(tab.indptr))[keep]
        indptr = np.zeros(self.n_users + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=self.n_users), out=indptr[1:])
        shape = (self.n_users, self.n_items)
        cols = tab.item[keep].astype(np.int32)
        times = sp.csr_matrix((tab.ts[keep].astype(np.float64), cols, indptr), shape=shape)
        events = sp.csr_matrix((np.ones(len(cols)), cols.copy(), indptr.copy()), shape=shape)
        return events, times

    def can_see(self, viewer: int, endorser: int) -> bool:
        """Whether ``viewer`` follows ``endorser`` and has not blocked or muted them."""
        key = np.asarray([viewer * self.n_users + endorser], dtype=np.int64)
        return bool(_has(self._follow_keys, key)[0] and not _has(self._hidden_keys, key)[0])

    def _digest(self) -> str:
        # the follows and audiences come first: their part of the hash is kept for the graphs
        # ``appended`` makes, which share them and hash only the endorsement tables again
        fixed = getattr(self, "_fixed_hash", None)
        if fixed is None:
            fixed = _Hash()
            _hash_arrays(fixed.h, [
                self.one_way.indptr, self.one_way.indices, self.one_way.data,
                self.mutual.indptr, self.mutual.indices, self.mutual.data, self._aud_indptr,
                *self._aud.values(),
            ])
            self._fixed_hash = fixed
        h = fixed.h.copy()
        _hash_arrays(h, [a for tab in (self.public, self.friends)
                         for a in (tab.indptr, tab.item, tab.kind, tab.ts, tab.weight)])
        h.update(repr(sorted(self.kind_weights.items())).encode())
        return h.hexdigest()


class _Hash:
    """A blake2b hash state that deep copies (a bare one cannot be copied by ``copy``)."""

    def __init__(self, h: Any = None):
        self.h = hashlib.blake2b(digest_size=12) if h is None else h

    def __deepcopy__(self, memo: dict) -> _Hash:
        return _Hash(self.h.copy())


def _hash_arrays(h: Any, arrays: list[np.ndarray]) -> None:
    """Feed each array's dtype, shape and bytes to the hash ``h``."""
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())


def visible_endorsements(
    ds: Dataset, viewers: Any = None, *, mutes: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The endorsements each viewer may see, with caller ids.

    Parameters
    ----------
    ds : Dataset
    viewers : id or sequence of ids, optional
        Viewers (default: every user).
    mutes : DataFrame, optional
        Columns ``user``, ``muted`` (treated as blocks).

    Returns
    -------
    DataFrame
        Columns ``viewer``, ``endorser``, ``item``, ``kind`` (the strongest kind the viewer may
        see), ``timestamp``; one row per visible (viewer, endorser, item).
    """
    g = EndorsementGraph(ds, mutes=mutes)
    vidx = np.arange(ds.n_users) if viewers is None else ds.user_index(viewers)
    t = g.triples(vidx)
    return pd.DataFrame(
        {
            "viewer": ds.user_ids[vidx[t["viewer"]]] if len(vidx) else ds.user_ids[:0],
            "endorser": ds.user_ids[t["endorser"]],
            "item": ds.item_ids[t["item"]],
            "kind": np.asarray(KINDS, dtype=object)[t["kind"]],
            "timestamp": t["ts"],
        }
    )


def visible_strength(
    ds: Dataset,
    viewers: Any = None,
    *,
    mutes: pd.DataFrame | None = None,
    kind_weights: dict[str, float] | None = None,
) -> sp.csr_matrix:
    """Viewer x item sparse matrix of the endorsement strength each viewer may see.

    Entry (k, i) is the sum, over the endorsers of ``i`` whom viewer ``viewers[k]`` may see
    (the rule above), of ``kind_weights[kind]`` of the strongest kind the viewer may see.

    Parameters
    ----------
    ds : Dataset
    viewers : id or sequence of ids, optional
        Viewers (default: every user), in the order of the rows.
    mutes : DataFrame, optional
        Columns ``user``, ``muted`` (treated as blocks).
    kind_weights : dict, optional
        Weight per endorsement kind (default :data:`ENDORSEMENT_STRENGTH`).

    Returns
    -------
    csr_matrix of float64, shape (n_viewers, n_items)
    """
    g = EndorsementGraph(ds, mutes=mutes)
    vidx = np.arange(ds.n_users) if viewers is None else np.atleast_1d(ds.user_index(viewers))
    return g.visible(vidx).strength(kind_weights)
