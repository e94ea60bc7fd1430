"""The friends' feed: candidates only from visible friends' endorsements, ranked, diversified,
paginated, explained."""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from .._arrays import isin_sorted, lexsort_tied, packed_desc, union_sorted, unique_sorted
from .._checks import check_indices
from .._dataset import KINDS, Dataset
from .._errors import UnknownIdError
from .._time import seconds
from ..visibility import EndorsementGraph
from ._cursor import Cursor, StaleCursorError
from ._defence import _apply_defence, _defence_cache_key
from ._fingerprint import _sample_digest, ranker_fingerprint
from ._paging import FeedPage, _concat, _explain_cached, _index_rows, explanation_text
from ._rerank import greedy_rerank

__all__ = ["FeedConfig", "FeedIndex", "FeedPage", "build", "explanation_text"]

log = logging.getLogger(__name__)

_K_PURCHASE = KINDS.index("purchase")
_K_REC = KINDS.index("recommend")
_K_RAP = KINDS.index("recommend_after_purchase")
_KIND_NAMES = np.asarray(KINDS, dtype=object)
_COLUMNS = ["user", "item", "score", "rank", "endorsers", "kinds", "explanation"]
#: Scoring batch of :meth:`FeedIndex.build` (viewers per vectorised step).
BATCH_SIZE = 1024


@dataclass(frozen=True)
class FeedConfig:
    """Parameters of a feed ranking (all of them enter the cursor's snapshot key).

    Parameters
    ----------
    half_life_days : float or None
        Freshness decay: an entry's relevance is multiplied by ``0.5 ** (age / half_life)``, age
        being the time since the newest endorsement the viewer may see. None: no decay. Relevance
        is then rescaled so that each viewer's most relevant entry scores 1.
    endorsement_weight : float in [0, 1]
        Blend of relevance: ``(1 - w) * ranker score + w * endorsement strength``, both scaled to
        [0, 1] per viewer (ranker scores min-max over the viewer's candidates; strength, the sum
        of kind weight x trust over visible endorsers, divided by the viewer's largest).
    diversity : float in [0, 1]
        MMR trade-off (``lambda = 1 - diversity``); 0 ranks by relevance alone.
    merchant_cap, category_cap : int or None
        At most this many entries of one merchant / category in any ``window`` consecutive
        positions (soft: when no candidate keeps the caps the best is placed anyway).
    window : int
        Length of the caps' sliding window.
    mmr_pool : int
        Number of most relevant unplaced candidates the greedy re-ranker looks at per position.
    repurchasable : tuple of str or None
        Categories whose items stay in the feed after the viewer bought them (a callable or a
        boolean mask can be passed to :func:`build` instead).
    exclude_endorsed : bool
        Drop items the viewer endorsed themself.
    """

    half_life_days: float | None = 14.0
    endorsement_weight: float = 0.5
    diversity: float = 0.3
    merchant_cap: int | None = 2
    category_cap: int | None = 3
    window: int = 10
    mmr_pool: int = 50
    repurchasable: tuple[str, ...] | None = None
    exclude_endorsed: bool = True

    def __post_init__(self) -> None:
        def bad(name: str, expect: str) -> ValueError:
            return ValueError(
                f"The {name!r} parameter of hr.feed.build must be {expect}. "
                f"Got {getattr(self, name)!r} instead."
            )

        def real(v: Any) -> bool:
            return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)

        def count(v: Any, lo: int) -> bool:
            return isinstance(v, int | np.integer) and not isinstance(v, bool) and v >= lo

        h = self.half_life_days
        if h is not None and not (real(h) and h > 0):
            raise bad("half_life_days", "None or a finite number > 0")
        if not (real(self.endorsement_weight) and 0 <= self.endorsement_weight <= 1):
            raise bad("endorsement_weight", "a number in [0, 1]")
        if not (real(self.diversity) and 0 <= self.diversity <= 1):
            raise bad("diversity", "a number in [0, 1]")
        for cap in ("merchant_cap", "category_cap"):
            v = getattr(self, cap)
            if v is not None and not count(v, 1):
                raise bad(cap, "None or an int >= 1")
        if not count(self.window, 1):
            raise bad("window", "an int >= 1")
        if not count(self.mmr_pool, 1):
            raise bad("mmr_pool", "an int >= 1")
        if not isinstance(self.exclude_endorsed, bool):
            raise bad("exclude_endorsed", "a bool")
        r = self.repurchasable
        if r is not None:
            if isinstance(r, str) or not all(isinstance(c, str) for c in r):
                raise bad("repurchasable", "None or a collection of category names")
            object.__setattr__(self, "repurchasable", tuple(sorted(set(r))))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if d["repurchasable"] is not None:
            d["repurchasable"] = list(d["repurchasable"])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeedConfig:
        d = dict(d)
        if d.get("repurchasable") is not None:
            d["repurchasable"] = tuple(d["repurchasable"])
        return cls(**d)


@dataclass
class _RankerView:
    """How to score (viewer, item) pairs with one ranker on this index's vocabularies."""

    ranker: Any  # a weak reference (or None): the cache must not keep old rankers alive
    umap: np.ndarray | None  # dataset user index -> ranker user index (-1 unknown); None: same
    imap: np.ndarray | None  # dataset item index -> ranker item index; None: same
    key: str
    extra: dict = field(default_factory=dict)


class FeedIndex:
    """Precomputed feed structures of one Dataset; build feeds for any ranker from it.

    Build it once (it is read-only afterwards, so any number of threads may call :meth:`build`
    at the same time) and keep it while the data does not change.

    Parameters
    ----------
    ds : Dataset
    mutes : DataFrame, optional
        Columns ``user``, ``muted``; a mute hides a user's endorsements from the muter's feed
        exactly like a block (see :class:`~haowurank.feed.EndorsementGraph`).
    kind_weights : dict, optional
        Strength of one endorsement by kind (default ``{"recommend": 1, "recommend_after_purchase":
        2}``).
    defence : None, bool, dict, trust.Defence, boolean mask or collection of user ids
        Endorsements the feed neither shows nor counts, decided once when the index is built
        (never per request):

        - None or False (default): every endorsement counts;
        - True or a dict: :func:`haowurank.trust.defend` is run on ``ds`` with
          :data:`haowurank.trust.DEFAULT_DEFENCE` (a dict overrides some of its keys) and the
          feed reads the endorsements the defended data keeps: those of the suspicious accounts
          (no trust from honest structure: sybils), of accounts that never bought anything
          (review padding), over the daily rate limit or of refunded orders are gone, and an
          unbacked "recommended after buying it" counts as a plain recommendation;
        - a :class:`haowurank.trust.Defence` (the result of ``hr.trust.defend(ds)``, computed
          once and shared): the same, from that result (it must be of ``ds``);
        - a boolean mask of shape (n_users,) or a collection of user ids: these accounts'
          endorsements are dropped, nothing else.

        The accounts themselves still see their own feed; a viewer's own purchases and
        endorsements still leave it.

    Attributes
    ----------
    graph : EndorsementGraph
    fingerprint : str
        Digest of the structures the feed depends on (part of every cursor's snapshot key).
    default_now : int
        The reference time when ``now`` is not given: the latest timestamp in the data (so feeds
        are reproducible); 0 when the data has no timestamps.
    suppressed : ndarray of bool of shape (n_users,) or None
        The accounts whose endorsements the defence removed entirely from the feed (the
        suspicious accounts; None without a defence).
    defence_report : dict
        What the defence did (:attr:`haowurank.trust.Defence.report`; empty without one).
    """

    def __init__(
        self,
        ds: Dataset,
        *,
        mutes: pd.DataFrame | None = None,
        kind_weights: dict[str, float] | None = None,
        defence: Any = None,
    ):
        if not isinstance(ds, Dataset):
            raise TypeError(f"FeedIndex expects a haowurank.Dataset. Got {type(ds).__name__}.")
        t0 = time.perf_counter()
        self.ds = ds
        self._rebuild_args = {"mutes": mutes, "kind_weights": kind_weights, "defence": defence}
        source, self.suppressed, self.defence_report = _apply_defence(ds, defence)
        self.graph = EndorsementGraph(source, mutes=mutes, kind_weights=kind_weights)
        ni = ds.n_items
        f = ds.indexed_interactions
        kind = f["kind"].to_numpy()
        u = f["user"].to_numpy().astype(np.int64)
        i = f["item"].to_numpy().astype(np.int64)
        bought = (kind == _K_PURCHASE) | (kind == _K_RAP)
        self._bought_keys = unique_sorted(u[bought] * ni + i[bought])
        endorsed = (kind == _K_REC) | (kind == _K_RAP)
        self._endorsed_keys = unique_sorted(u[endorsed] * ni + i[endorsed])
        items = ds.item_metadata
        self._category, self._cat_names = _codes(items["category"].to_numpy(dtype=object))
        self._merchant, _ = _codes(items["merchant"].to_numpy(dtype=object))
        ts = f["timestamp"].to_numpy()
        self.default_now = int(ts.max()) if len(ts) and ds.has_timestamps else 0
        self._user_index = pd.Index(ds.user_ids)
        self._str_users = ds.user_ids.dtype == object
        self._user_pa = pa.array(
            ds.user_ids.tolist() if self._str_users else ds.user_ids,
            type=pa.string() if self._str_users else pa.int64(),
        )
        self._user_pos = {u: k for k, u in enumerate(ds.user_ids.tolist())}
        self._kind_pa = pa.array(list(KINDS), type=pa.string())
        self._snapshots: dict[tuple, str] = {}
        self._views: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._views_lock = threading.Lock()
        self._repurch_cache: dict[tuple[str, ...], np.ndarray] = {}
        self.fingerprint = self._digest()
        log.info(
            "FeedIndex: %d users, %d items, built in %.2fs", ds.n_users, ni,
            time.perf_counter() - t0,
        )

    def _digest(self) -> str:
        h = hashlib.blake2b(digest_size=12)
        h.update(self.graph.fingerprint.encode())
        for a in (self._bought_keys, self._endorsed_keys, self._category, self._merchant):
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()

    def appended(self, ds: Dataset) -> FeedIndex:
        """The index of ``ds``, a Dataset holding this index's interaction rows followed by
        new ones (the same users, items, follows, blocks and audiences, e.g. a log that grows
        by :meth:`Dataset.add_interactions`).

        Equal to ``FeedIndex(ds)`` with this index's arguments (same pages, same fingerprint),
        built from this one: the endorsements and keys already held are not sorted again
        (:meth:`EndorsementGraph.appended`). When ``ds`` is not such a Dataset, or this index
        has a defence or mutes, or a new endorsement has an audience list, the index is built
        again from ``ds``.
        """
        if not isinstance(ds, Dataset):
            raise TypeError(f"FeedIndex.appended expects a haowurank.Dataset. Got {type(ds).__name__}.")
        old, args = self.ds, self._rebuild_args
        n0 = old.n_interactions
        same = (
            args["mutes"] is None and args["defence"] is None and 0 < n0 <= ds.n_interactions
            and ds.has_timestamps == old.has_timestamps
            and all(getattr(ds, a) is getattr(old, a) for a in (
                "user_ids", "item_ids", "item_metadata", "indexed_social", "indexed_blocks",
                "indexed_audiences"))
        )
        cols = ("user", "item", "kind", "timestamp", "visibility")
        if same:
            f, f0 = ds.indexed_interactions, old.indexed_interactions
            same = all(np.array_equal(f[c].to_numpy()[:n0], f0[c].to_numpy()) for c in cols)
        graph = None
        if same:
            new = {c: ds.indexed_interactions[c].to_numpy()[n0:] for c in cols}
            try:
                graph = self.graph.appended(new)
            except ValueError:
                graph = None
        if graph is None:
            return FeedIndex(ds, **args)
        out = copy.copy(self)
        out.ds, out.graph = ds, graph
        ni = ds.n_items
        u, i, kind = new["user"].astype(np.int64), new["item"].astype(np.int64), new["kind"]
        bought = (kind == _K_PURCHASE) | (kind == _K_RAP)
        endorsed = (kind == _K_REC) | (kind == _K_RAP)
        out._bought_keys = union_sorted(self._bought_keys, u[bought] * ni + i[bought])
        out._endorsed_keys = union_sorted(self._endorsed_keys, u[endorsed] * ni + i[endorsed])
        if ds.has_timestamps and len(u):
            out.default_now = max(self.default_now, int(new["timestamp"].max()))
        out._snapshots = {}
        out._views = weakref.WeakKeyDictionary()
        out._views_lock = threading.Lock()
        out._repurch_cache = dict(self._repurch_cache)
        out.fingerprint = out._digest()
        return out

    # ------------------------------------------------------------------ ranker plumbing
    def _view(self, ranker: Any, ranker_key: str | None) -> _RankerView:
        if ranker is None:
            return _RankerView(None, None, None, ranker_key or "none")
        if not hasattr(ranker, "score_pairs_at"):
            raise TypeError(
                f"The 'ranker' argument must be a haowurank ranker or None. "
                f"Got {type(ranker).__name__} instead."
            )
        ranker.check_fitted()
        # a refit or an update replaces learned attributes (or the factors): the view is stale
        state = (*(v for k, v in sorted(vars(ranker).items())
                   if k.endswith("_") and not k.startswith("_")),
                 *(ranker.latent_factors() if ranker.has_factors else ()))
        cached = self._views.get(ranker)
        if (
            cached is not None and cached.ranker() is ranker
            and all(a is b for a, b in zip(cached.extra["state"], state))
            and (ranker_key is None or cached.key == ranker_key)
        ):
            return cached
        ds = self.ds

        def mapping(ours: np.ndarray, theirs: np.ndarray) -> np.ndarray | None:
            if ours is theirs or (ours.dtype == theirs.dtype and np.array_equal(ours, theirs)):
                return None
            return pd.Index(theirs).get_indexer(np.asarray(ours, dtype=object)).astype(np.int64)

        view = _RankerView(
            weakref.ref(ranker),
            mapping(ds.user_ids, ranker.user_ids_),
            mapping(ds.item_ids, ranker.item_ids_),
            ranker_key or ranker_fingerprint(ranker),
            extra={"state": state},
        )
        with self._views_lock:
            self._views[ranker] = view
        return view

    def _pair_scores(
        self, r: Any, view: _RankerView, vglob: np.ndarray, items: np.ndarray
    ) -> np.ndarray:
        """Ranker scores of (viewer, item) pairs at dataset indices; NaN where none
        (:meth:`~haowurank.rankers.Ranker.score_pairs_at`: factors or candidate-only scoring,
        the cold-start rule included)."""
        ru = vglob if view.umap is None else view.umap[vglob]
        ri = items.astype(np.int64) if view.imap is None else view.imap[items]
        return r.score_pairs_at(ru, ri)

    def _repurchasable_mask(self, spec: Any, items: np.ndarray) -> np.ndarray:
        if spec is None:
            return np.zeros(len(items), dtype=bool)
        if isinstance(spec, tuple):
            mask = self._repurch_cache.get(spec)
            if mask is None:
                wanted = np.isin(self._cat_names, list(spec))
                mask = np.concatenate([wanted, [False]])[self._category_lookup()]
                self._repurch_cache[spec] = mask
            return mask[items]
        if isinstance(spec, np.ndarray):
            return spec[items]
        sub = self.ds.items.iloc[items]
        res = np.asarray(spec(sub.reset_index(drop=True)), dtype=bool)
        if res.shape != (len(items),):
            raise ValueError(
                f"The 'repurchasable' predicate must return one bool per item row. "
                f"Got shape {res.shape} for {len(items)} rows."
            )
        return res

    def _category_lookup(self) -> np.ndarray:
        c = self._category.copy()
        c[c < 0] = len(self._cat_names)
        return c

    def _normalise_repurchasable(self, spec: Any) -> tuple[Any, str]:
        """(spec usable by _repurchasable_mask, its part of the snapshot key)."""
        if spec is None:
            return None, "none"
        if callable(spec) and not isinstance(spec, np.ndarray):
            name = getattr(spec, "__qualname__", type(spec).__name__)
            return spec, f"callable:{getattr(spec, '__module__', '')}.{name}"
        if isinstance(spec, np.ndarray):
            if spec.dtype != bool or spec.shape != (self.ds.n_items,):
                raise ValueError(
                    f"The 'repurchasable' mask must be a boolean array of shape "
                    f"({self.ds.n_items},). Got dtype {spec.dtype} and shape {spec.shape}."
                )
            return spec, "mask:" + hashlib.blake2b(np.packbits(spec).tobytes(), digest_size=8).hexdigest()
        if isinstance(spec, str) or not isinstance(spec, Iterable):
            raise ValueError(
                f"The 'repurchasable' parameter must be None, a collection of category names, a "
                f"predicate over the items frame or a boolean mask over items. Got {spec!r}."
            )
        cats = tuple(sorted({str(c) for c in spec}))
        return cats, "cats:" + json.dumps(cats)

    # ------------------------------------------------------------------ the feed
    def _prepare(
        self,
        ranker: Any,
        users: Any,
        n: Any,
        cursor: str | None,
        config: FeedConfig | None,
        repurchasable: Any,
        item_vectors: np.ndarray | None,
        now: Any,
        ranker_key: str | None,
        vidx: np.ndarray | None = None,
    ) -> _Request:
        """Validate a request and resolve everything the ranking depends on (``vidx``: the
        viewers' indices, already checked, instead of ``users``)."""
        cfg = config or FeedConfig()
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
            raise ValueError(
                f"The 'n' parameter of hr.feed.build must be a positive int. Got {n!r} instead."
            )
        n = int(n)
        if vidx is None:
            single = np.isscalar(users) or isinstance(users, str)
            ulist = [users] if single else list(users)
            vidx = self._lookup_users(ulist)
        else:
            ulist = []
        rep_spec, rep_key = self._normalise_repurchasable(
            repurchasable if repurchasable is not None else cfg.repurchasable
        )
        vectors = None
        if item_vectors is not None:
            vectors = np.asarray(item_vectors, dtype=np.float32)
            if vectors.ndim != 2 or vectors.shape[0] != self.ds.n_items:
                raise ValueError(
                    f"The 'item_vectors' parameter must have shape (n_items={self.ds.n_items}, d). "
                    f"Got shape {vectors.shape}."
                )
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            vectors = vectors / np.where(norms > 0, norms, 1)
        view = self._view(ranker, ranker_key)
        skey = (view.key, cfg, rep_key)
        snapshot = self._snapshots.get(skey) if vectors is None else None
        if snapshot is None:
            h = hashlib.blake2b(digest_size=12)
            h.update(
                json.dumps([self.fingerprint, view.key, cfg.to_dict(), rep_key], default=str).encode()
            )
            if vectors is not None:
                _sample_digest(h, vectors)
            snapshot = h.hexdigest()
            if vectors is None:
                if len(self._snapshots) > 64:
                    self._snapshots.clear()
                self._snapshots[skey] = snapshot
        now_s = None if now is None else _to_seconds(now)
        if cursor is not None:
            c = Cursor.decode(cursor)
            if c.snapshot != snapshot:
                raise StaleCursorError(
                    "The 'cursor' was issued for a feed that has changed since (new data, ranker "
                    "or parameters); start again without a cursor."
                )
            if now_s is not None and now_s != c.now:
                raise ValueError(
                    f"The 'now' parameter ({now_s}) conflicts with the cursor's reference time "
                    f"({c.now}); pass one of them."
                )
            offset, now_s = c.offset, c.now
        else:
            offset = 0
            if now_s is None:
                now_s = self.default_now
        return _Request(ranker, view, cfg, ulist, vidx, n, offset, offset + n, now_s, snapshot,
                        rep_spec, vectors)

    def _lookup_users(self, ulist: list) -> np.ndarray:
        if len(ulist) <= 64:
            pos = self._user_pos
            vidx = np.fromiter((pos.get(_plain(u), -1) for u in ulist), dtype=np.int64,
                               count=len(ulist))
        else:
            vidx = np.asarray(
                self._user_index.get_indexer(np.asarray(ulist, dtype=object)), dtype=np.int64
            )
        if (vidx < 0).any():
            bad = [ulist[k] for k in np.flatnonzero(vidx < 0)[:5]]
            raise UnknownIdError(
                f"Unknown user id(s) {bad} ({int((vidx < 0).sum())} of {len(ulist)}) in the "
                f"'users' of hr.feed.build: not in the dataset's user vocabulary."
            )
        return vidx

    def build(
        self,
        ranker: Any,
        users: Any,
        n: int = 20,
        *,
        cursor: str | None = None,
        config: FeedConfig | None = None,
        repurchasable: Any = None,
        item_vectors: np.ndarray | None = None,
        now: Any = None,
        ranker_key: str | None = None,
        batch_size: int = BATCH_SIZE,
        show_progress: bool = False,
        callback: Callable[[str, float], None] | None = None,
    ) -> pd.DataFrame:
        """One page of the friends' feed of each user; see :func:`haowurank.feed.build`.

        ``config`` holds the ranking parameters; ``repurchasable`` (a callable or mask) overrides
        ``config.repurchasable``; ``ranker_key`` replaces the ranker's fingerprint in the snapshot
        key (for callers that version their rankers themselves).
        """
        req = self._prepare(ranker, users, n, cursor, config, repurchasable, item_vectors, now,
                            ranker_key)
        parts = []
        more = False
        vidx = req.vidx
        starts = range(0, len(vidx), batch_size)
        if show_progress:
            from .._progress import tqdm

            starts = tqdm(starts, desc="feed", unit="batch")
        for s0 in starts:
            frame, m = self._batch(req, vidx[s0 : s0 + batch_size])
            parts.append(frame)
            more |= m
            if callback is not None:
                callback("feed", min(1.0, (s0 + batch_size) / max(1, len(vidx))))
        out = _concat(parts, req.ulist, self)
        out.attrs["next_cursor"] = req.next_cursor(more)
        out.attrs["snapshot"] = req.snapshot
        out.attrs["now"] = req.now
        out.attrs["offset"] = req.offset
        return out

    def build_indices(
        self,
        ranker: Any,
        users: Any,
        n: int = 20,
        *,
        config: FeedConfig | None = None,
        now: Any = None,
        ranker_key: str | None = None,
        batch_size: int = BATCH_SIZE,
    ) -> dict[str, np.ndarray]:
        """The first page of each user's feed as index arrays: the rows of :meth:`build`
        without id columns, endorser lists or explanation texts, for callers that work in the
        Dataset's indices (the simulator).

        Parameters
        ----------
        ranker, n, config, now, ranker_key, batch_size
            As in :meth:`build` (no cursor: the first page).
        users : array-like of int
            Viewers as user indices of the index's Dataset (positions in ``ds.user_ids``).

        Returns
        -------
        dict of ndarray
            The rows of ``build(ranker, ds.user_ids[users], n, ...)``, in the same order:
            ``user`` and ``item`` (int64 indices), ``score`` (float64), ``rank`` (int64,
            1-based), ``offsets`` (int64, one more than the rows): row k cites the endorsers
            ``endorser[offsets[k]:offsets[k + 1]]`` (user indices, strongest first) with the
            kinds ``kind[offsets[k]:offsets[k + 1]]`` (int8 positions in
            :data:`haowurank.KINDS`).
        """
        vidx = check_indices(users, "users", "FeedIndex.build_indices", self.ds.n_users)
        req = self._prepare(ranker, [], n, None, config, None, None, now, ranker_key, vidx=vidx)
        parts = [self._batch(req, vidx[s0 : s0 + batch_size])[0]
                 for s0 in range(0, len(vidx), batch_size)]
        return _index_rows(parts)

    def page(
        self,
        ranker: Any,
        user: Any,
        n: int = 20,
        *,
        cursor: str | None = None,
        config: FeedConfig | None = None,
        repurchasable: Any = None,
        now: Any = None,
        ranker_key: str | None = None,
    ) -> FeedPage:
        """One page of one user's feed as plain Python lists (the low-latency serving path).

        Exactly the rows :meth:`build` gives for the same arguments (``FeedPage.to_frame()``),
        without building a DataFrame.
        """
        if not (np.isscalar(user) or isinstance(user, str)):
            raise TypeError(
                f"FeedIndex.page takes one user id; use build for many. Got {type(user).__name__}."
            )
        req = self._prepare(ranker, user, n, cursor, config, repurchasable, None, now, ranker_key)
        b, more = self._batch(req, req.vidx)
        uids = self.ds.user_ids
        te, tk = b["endorser"], b["kind"]
        endorsers, kinds = [], []
        for s0, k in zip(b["tstart"].tolist(), b["nf"].tolist()):
            endorsers.append(uids[te[s0 : s0 + k]].tolist())
            kinds.append(_KIND_NAMES[tk[s0 : s0 + k]].tolist())
        return FeedPage(
            user=user,
            items=self.ds.item_ids[b["item"]].tolist(),
            scores=b["score"].astype(np.float64).tolist(),
            ranks=b["rank"].tolist(),
            endorsers=endorsers,
            kinds=kinds,
            explanations=[_explain_cached(a, c) for a, c in zip(b["nf"].tolist(),
                                                                b["nrap"].tolist())],
            next_cursor=req.next_cursor(more),
            snapshot=req.snapshot,
            now=req.now,
            offset=req.offset,
            str_users=self._str_users,
        )

    def _batch(self, req: _Request, vidx: np.ndarray) -> tuple[dict[str, Any], bool]:
        view, cfg, rep_spec, vectors = req.view, req.cfg, req.rep_spec, req.vectors
        offset, depth, now_s = req.offset, req.depth, req.now
        ni = self.ds.n_items
        t = self.graph.triples(vidx)
        te, tk, tts, tw = t["endorser"], t["kind"], t["ts"], t["weight"]
        lkey = t["viewer"] * ni + t["item"].astype(np.int64)
        packed = packed_desc(lkey, tw)  # (pair, weight descending) in one integer key
        order = (np.lexsort((te, -tts, -tw, lkey)) if packed is None
                 else lexsort_tied(packed, (te, -tts)))
        lkey, te, tk, tts, tw = lkey[order], te[order], tk[order], tts[order], tw[order]
        # pairs the viewer endorsed or bought (and may not buy again) leave, with their triples
        st = _starts(lkey)
        pv, pi = lkey[st] // ni, lkey[st] % ni
        gkey = vidx[pv] * ni + pi
        drop = np.zeros(len(st), dtype=bool)
        if cfg.exclude_endorsed:
            drop |= isin_sorted(gkey, self._endorsed_keys)
        bought = isin_sorted(gkey, self._bought_keys)
        if bought.any():
            bought[bought] = ~self._repurchasable_mask(rep_spec, pi[bought])
            drop |= bought
        if drop.any():
            keep = np.repeat(~drop, np.diff(np.append(st, len(lkey))))
            lkey, te, tk, tts, tw = lkey[keep], te[keep], tk[keep], tts[keep], tw[keep]
            st, pv, pi = _starts(lkey), pv[~drop], pi[~drop]
        b = len(vidx)
        if len(st) == 0:
            return _empty_batch(vidx), False
        nf = np.diff(np.append(st, len(lkey)))
        strength = np.add.reduceat(tw.astype(np.float64), st)
        newest = np.maximum.reduceat(tts, st)
        nrap = np.add.reduceat((tk == _K_RAP).astype(np.int64), st)
        # relevance
        vst = _starts(pv)
        seg = np.repeat(np.arange(len(vst)), np.diff(np.append(vst, len(pv))))
        smax = np.maximum.reduceat(strength, vst)[seg]
        sn = strength / np.where(smax > 0, smax, 1.0)
        if req.ranker is not None:
            r = self._pair_scores(req.ranker, view, vidx[pv], pi).astype(np.float64)
            r[~np.isfinite(r)] = np.nan
            rmin = np.fmin.reduceat(r, vst)[seg]
            rmax = np.fmax.reduceat(r, vst)[seg]
            span = rmax - rmin
            with np.errstate(invalid="ignore", divide="ignore"):
                rn = np.where(span > 0, (r - rmin) / span, 1.0)
            rn = np.where(np.isnan(r), 0.0, rn)
        else:
            rn = np.ones(len(pv))
        w = cfg.endorsement_weight
        rel = (1.0 - w) * rn + w * sn
        if cfg.half_life_days is not None:
            # rel * 0.5 ** (age / half_life), rescaled so each viewer's best is 1, in log space
            # so that old worlds do not underflow to ties
            age = np.maximum(now_s - newest, 0).astype(np.float64)
            with np.errstate(divide="ignore"):
                logr = np.log(rel) - age * (math.log(2.0) / (cfg.half_life_days * 86400.0))
            top = np.maximum.reduceat(logr, vst)[seg]
            rel = np.where(np.isfinite(top), np.exp(logr - np.where(np.isfinite(top), top, 0)), 0)
        else:
            top = np.maximum.reduceat(rel, vst)[seg]
            rel = np.where(top > 0, rel / np.where(top > 0, top, 1), 0)
        rel = rel.astype(np.float32)
        # sort each viewer's candidates by relevance, pad to (b, width)
        packed = packed_desc(pv, rel)  # the pairs are in (viewer, item) order: stable keeps it
        order = (np.lexsort((pi, -rel, pv)) if packed is None
                 else np.argsort(packed, kind="stable"))
        counts = np.bincount(pv, minlength=b)
        width = int(min(counts.max(), cfg.mmr_pool + depth)) if len(counts) else 0
        cstart = np.cumsum(counts) - counts
        pos = np.arange(len(order)) - cstart[pv[order]]
        fit = pos < width
        ob, opos, opair = pv[order][fit], pos[fit], order[fit]
        grid = np.full((b, width), -1, dtype=np.int64)
        grid[ob, opos] = opair
        valid = grid >= 0
        g0 = np.where(valid, grid, 0)
        rel2 = np.where(valid, rel[g0], -np.inf).astype(np.float32)
        cols = np.arange(width)
        cat2 = np.where(valid, self._category[pi[g0]], -2 - cols)
        cat2 = np.where(cat2 == -1, -2 - cols - width, cat2)
        mer2 = np.where(valid, self._merchant[pi[g0]], -2 - cols)
        mer2 = np.where(mer2 == -1, -2 - cols - width, mer2)
        vec2 = vectors[pi[g0]] if vectors is not None else None
        placed = greedy_rerank(
            rel2, cat2, mer2, min(depth, width),  # no more positions than candidates (huge n)
            diversity=float(cfg.diversity), merchant_cap=cfg.merchant_cap,
            category_cap=cfg.category_cap, window=int(cfg.window), mmr_pool=int(cfg.mmr_pool),
            vectors=vec2,
        )
        more = bool((counts > depth).any())
        page = placed[:, offset:depth]
        rows_b, rows_p = np.nonzero(page >= 0)
        sel = grid[rows_b, page[rows_b, rows_p]]
        return {
            "viewer": rows_b,
            "pair": sel,
            "rank": offset + rows_p + 1,
            "item": pi[sel],
            "score": rel[sel],
            "nf": nf[sel],
            "nrap": nrap[sel],
            "tstart": st[sel],
            "endorser": te,
            "kind": tk,
            "vidx": vidx,
        }, more


def _starts(sorted_keys: np.ndarray) -> np.ndarray:
    """Positions where a new run of equal values begins in a sorted array."""
    if len(sorted_keys) == 0:
        return np.empty(0, dtype=np.int64)
    flag = np.empty(len(sorted_keys), dtype=bool)
    flag[0] = True
    np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=flag[1:])
    return np.flatnonzero(flag)


def _empty_batch(vidx: np.ndarray) -> dict[str, Any]:
    z = np.empty(0, dtype=np.int64)
    return {"viewer": z, "pair": z, "rank": z, "item": z, "score": np.empty(0, np.float32),
            "nf": z, "nrap": z, "tstart": z, "endorser": z, "kind": np.empty(0, np.int8),
            "vidx": vidx}


def _codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    isna = pd.isna(values)
    codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
    codes = codes.astype(np.int64)
    codes[isna] = -1
    return codes, np.asarray(uniques, dtype=object)


def _to_seconds(now: Any) -> int:
    """``now`` as int seconds by the library's one time rule (NaN, NaT, inf refused)."""
    return seconds(now, "'now' parameter of hr.feed.build")


@dataclass(frozen=True)
class _Request:
    ranker: Any
    view: _RankerView
    cfg: FeedConfig
    ulist: list
    vidx: np.ndarray
    n: int
    offset: int
    depth: int
    now: int
    snapshot: str
    rep_spec: Any
    vectors: np.ndarray | None

    def next_cursor(self, more: bool) -> str | None:
        return Cursor(self.depth, self.now, self.snapshot).encode() if more else None


def _plain(u: Any) -> Any:
    """numpy scalars as Python values, for dict lookups."""
    return u.item() if isinstance(u, np.generic) else u


_INDEX_CACHE_KEY = "haowurank.feed.FeedIndex"


def index_for(
    ds: Dataset, kind_weights: dict[str, float] | None = None, defence: Any = None
) -> FeedIndex:
    """The FeedIndex of ``ds`` (no mutes), cached on the dataset.

    With ``defence`` True or a dict the defended index is cached too (the defence runs once per
    dataset and parameters); with a precomputed result, a mask or ids build a
    :class:`FeedIndex` once and pass it as ``index``.
    """
    dkey = _defence_cache_key(ds, defence)
    if dkey is None:
        return FeedIndex(ds, kind_weights=kind_weights, defence=defence)
    key = (_INDEX_CACHE_KEY, tuple(sorted((kind_weights or {}).items()))) + dkey
    return ds.cached(key, lambda: FeedIndex(ds, kind_weights=kind_weights, defence=defence))


def build(
    ds: Dataset,
    ranker: Any,
    users: Any,
    n: int = 20,
    *,
    cursor: str | None = None,
    half_life_days: float | None = 14.0,
    endorsement_weight: float = 0.5,
    diversity: float = 0.3,
    merchant_cap: int | None = 2,
    category_cap: int | None = 3,
    window: int = 10,
    mmr_pool: int = 50,
    repurchasable: Any = None,
    exclude_endorsed: bool = True,
    item_vectors: np.ndarray | None = None,
    mutes: pd.DataFrame | None = None,
    kind_weights: dict[str, float] | None = None,
    now: Any = None,
    index: FeedIndex | None = None,
    show_progress: bool = False,
    callback: Callable[[str, float], None] | None = None,
    defence: Any = None,
) -> pd.DataFrame:
    """One page of each user's friends' feed.

    Candidates are only items endorsed (``recommend`` / ``recommend_after_purchase``) by users the
    viewer follows, through endorsements the viewer may see (:mod:`haowurank.feed` states the
    rule). Each item appears once, citing every visible endorsing friend. Relevance blends the
    ranker's score for the candidates with endorsement strength and decays with the age of the
    newest visible endorsement; a greedy MMR re-ranker with merchant and category caps diversifies
    the order (:class:`FeedConfig` documents every parameter).

    Parameters
    ----------
    ds : Dataset
        The world the feed reads endorsements, follows, blocks, audiences and purchases from.
    ranker : Ranker or None
        Any fitted haowurank ranker; its score for each candidate enters the relevance (users or
        items unknown to it: its cold-start fallback; items it cannot score rank last among
        equals). None: rank by endorsement strength and freshness alone.
    users : id or sequence of ids
        Viewers (caller ids); unknown ids raise :class:`~haowurank.UnknownIdError`.
    n : int
        Page length per user.
    cursor : str, optional
        ``feed.attrs["next_cursor"]`` of the previous page; None for the first page.
    half_life_days, endorsement_weight, diversity, merchant_cap, category_cap, window, mmr_pool,
    exclude_endorsed
        See :class:`FeedConfig`.
    repurchasable : None, collection of str, callable or ndarray of bool
        Items the viewer bought (``purchase`` or ``recommend_after_purchase``) leave the feed
        unless repurchasable: a set of categories, a predicate ``f(items_frame) -> bool array``
        called with the metadata rows (``ds.items`` columns) of the bought candidates, or a
        boolean mask of shape (n_items,).
    item_vectors : ndarray of shape (n_items, d), optional
        Item vectors (e.g. a CF model's item factors) whose cosine similarity the MMR term uses
        instead of "same category / same merchant".
    mutes : DataFrame, optional
        Columns ``user``, ``muted``; a mute hides like a block.
    kind_weights : dict, optional
        Strength of one endorsement by kind.
    now : int seconds or datetime, optional
        Reference time of the freshness decay (default: the latest timestamp of ``ds``); carried
        by the cursor to later pages.
    index : FeedIndex, optional
        A prebuilt index of ``ds`` (otherwise one is built and cached on ``ds``; with ``mutes`` a
        fresh one is built).
    defence : None, bool, dict, trust.Defence, mask or user ids, optional
        Endorsements the feed neither shows nor counts (sybils' and other fake endorsements);
        see :class:`FeedIndex`. Default None (off). True runs :func:`haowurank.trust.defend`
        once per dataset (the index is cached); for a precomputed ``hr.trust.defend`` result,
        build ``FeedIndex(ds, defence=result)`` once and pass it as ``index``.

    Returns
    -------
    DataFrame
        Columns ``user``, ``item``, ``score`` (relevance in [0, 1], 1 for the viewer's most
        relevant entry; with diversity > 0 not necessarily decreasing), ``rank`` (1-based position in the user's whole feed), ``endorsers``
        (list of the visible endorsing friends' ids, strongest first), ``kinds`` (list, the kind of
        each endorser's endorsement, aligned with ``endorsers``), ``explanation`` (str). Rows are
        grouped by user in input order, by rank within a user. ``attrs["next_cursor"]``: the cursor
        of the next page (None when no user has more entries); ``attrs["snapshot"]``, ``attrs["now"]``
        and ``attrs["offset"]`` describe the page.

    Raises
    ------
    CursorError
        The cursor is malformed; :class:`StaleCursorError` (a subclass) when it belongs to a feed
        that changed since (new data, ranker or parameters).

    Examples
    --------
    >>> import haowurank as hr
    >>> from haowurank.testing import small_world
    >>> ds = small_world()
    >>> ranker = hr.rankers.make("popularity").fit(ds)
    >>> page = hr.feed.build(ds, ranker, "u0", n=3)
    >>> list(page.columns)
    ['user', 'item', 'score', 'rank', 'endorsers', 'kinds', 'explanation']
    >>> nxt = hr.feed.build(ds, ranker, "u0", n=3, cursor=page.attrs["next_cursor"])
    >>> set(page["item"]).isdisjoint(nxt["item"])
    True
    """
    cfg = FeedConfig(
        half_life_days=half_life_days, endorsement_weight=endorsement_weight,
        diversity=diversity, merchant_cap=merchant_cap, category_cap=category_cap, window=window,
        mmr_pool=mmr_pool, exclude_endorsed=exclude_endorsed,
    )
    if index is not None:
        if mutes is not None or kind_weights is not None or defence is not None:
            raise ValueError(
                "Pass 'mutes', 'kind_weights' and 'defence' when building the FeedIndex, not "
                "together with 'index'."
            )
        if index.ds is not ds:
            raise ValueError("The 'index' was built for another Dataset than 'ds'.")
        idx = index
    elif mutes is not None:
        idx = FeedIndex(ds, mutes=mutes, kind_weights=kind_weights, defence=defence)
    else:
        idx = index_for(ds, kind_weights, defence)
    return idx.build(
        ranker, users, n, cursor=cursor, config=cfg, repurchasable=repurchasable,
        item_vectors=item_vectors, now=now, show_progress=show_progress, callback=callback,
    )
