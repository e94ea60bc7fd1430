"""The production ranker: one thread-safe object that answers recommend, feed and search from an
immutable snapshot (dataset, feed index, search index, ranker artifact) and swaps snapshots
atomically.

Concurrency model
-----------------
Every request reads ``service.snapshot`` once (a single attribute read, atomic in CPython) and
uses only that :class:`Snapshot`: its ranker, dataset and indices never change after
construction. Writers (:meth:`RankerService.swap`, :meth:`RankerService.update`) build a complete
new snapshot off to the side, warm it up, and publish it with one reference assignment under a
writer lock. A request that started before a swap finishes on the old snapshot, one that starts
after uses the new one: readers see old or new, never a mix, and never wait for a writer.

Updating without a full refit
-----------------------------
:meth:`RankerService.update` adds interaction rows (and follows, blocks) to the dataset, rebuilds
the feed and search indices (linear in the data, no training), and updates a *copy* of the
ranker:

- rankers with ``partial_fit_users`` (``als``, ``bpr``, ``item_knn``, ``ease``, ``social_als``)
  fold the new rows in: new and changed users get recomputed user state (implicit's
  ``recalculate_user`` for ALS), item-side state stays as trained;
- rankers whose learned state is a closed-form function of the data (``popularity``,
  ``friend_endorsements``, ``trust``: counts and graph propagation, no iterative training) are
  refitted on the updated dataset, which is the exact update;
- any other ranker keeps its state: new users get its documented cold-start result until the
  next full refit is swapped in (a warning is logged).

Feed cursors name the snapshot they were issued for; after a swap or an update an old cursor
raises :class:`~haowurank.feed.CursorError` (the HTTP service answers 410) rather than serving a
page of a different ranking.
"""

from __future__ import annotations

import copy
import inspect
import logging
import os
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ._dataset import Dataset
from ._errors import DataWarning, UnknownIdError
from .feed import FeedConfig, FeedIndex, FeedPage, ranker_fingerprint
from .rankers import Ranker, load_ranker_checked, read_artifact_meta
from .search import SearchIndex

__all__ = ["RankerService", "Snapshot", "artifact_checksum", "load_artifact"]

log = logging.getLogger(__name__)

#: Rankers whose state is a closed-form function of the data: an update refits them exactly.
CLOSED_FORM_RANKERS = frozenset({"popularity", "friend_endorsements", "trust"})


def artifact_checksum(path: str | os.PathLike | bytes) -> str:
    """The checksum recorded in a ranker artifact's metadata (a path or the artifact's bytes).

    The file is read once and only the ``__meta__`` member is parsed (its header checked
    before anything is allocated); this does *not* verify the arrays (:func:`load_artifact`
    does).
    """
    return str(read_artifact_meta(path)["checksum"])


def load_artifact(path: str | os.PathLike) -> tuple[Ranker, str]:
    """A ranker and its verified checksum from one read of an artifact file.

    The file's bytes are read once; the checksum is verified over the arrays parsed from those
    bytes and the ranker is restored from the same arrays, so a file rewritten while it is
    being loaded (A, B, A) gives a ranker whose checksum names exactly what it was built from.
    Never unpickles.
    """
    return load_ranker_checked(path)


@dataclass(frozen=True)
class Snapshot:
    """Everything one request needs, immutable once published."""

    version: int
    ranker: Ranker
    ranker_key: str
    dataset: Dataset
    feed_index: FeedIndex
    search_index: SearchIndex
    artifact: str | None = None
    loaded_at: float = field(default_factory=time.time)

    def describe(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "ranker": self.ranker.name,
            "ranker_key": self.ranker_key,
            "artifact": self.artifact,
            "loaded_at": self.loaded_at,
            "n_users": self.dataset.n_users,
            "n_items": self.dataset.n_items,
        }


class RankerService:
    """A thread-safe holder of the production ranker and the structures around it.

    Parameters
    ----------
    dataset : Dataset
        The live world: feed and search read endorsements, follows, blocks and item metadata
        from it; its user vocabulary defines which user ids the service knows.
    ranker : Ranker, str or path
        A fitted ranker, or the path of a saved artifact (loaded with
        :func:`haowurank.load_ranker`: no pickle, verified checksum).
    feed_config : FeedConfig, optional
        Feed parameters (default :class:`~haowurank.feed.FeedConfig()`).
    search_params : dict, optional
        Keyword arguments of :class:`~haowurank.search.SearchIndex` (blend weights...).
    mutes : DataFrame, optional
        Columns ``user``, ``muted`` (hide like blocks in feed and search).
    max_n : int
        Largest list length a request may ask for.
    feed_defence : None, bool or dict
        The feed's and search's defence against fake endorsements (see
        :class:`~haowurank.feed.FeedIndex`): None (default) counts every endorsement; True (or a
        dict of :func:`haowurank.trust.defend` parameters) runs the defence once per published
        dataset (at construction and on each :meth:`update`, never per request) and the feed
        neither shows nor counts the endorsements it drops (suspicious accounts' and others).

    Examples
    --------
    >>> import haowurank as hr
    >>> from haowurank.testing import small_world
    >>> ds = small_world()
    >>> svc = hr.serving.RankerService(ds, hr.rankers.make("popularity").fit(ds))
    >>> list(svc.recommend("u0", n=3).columns)
    ['user', 'item', 'score', 'rank']
    """

    def __init__(
        self,
        dataset: Dataset,
        ranker: Ranker | str | os.PathLike,
        *,
        feed_config: FeedConfig | None = None,
        search_params: dict[str, Any] | None = None,
        mutes: pd.DataFrame | None = None,
        max_n: int = 1000,
        feed_defence: bool | dict | None = None,
    ):
        if not isinstance(dataset, Dataset):
            raise TypeError(
                f"RankerService expects a haowurank.Dataset. Got {type(dataset).__name__}."
            )
        if isinstance(max_n, bool) or not isinstance(max_n, int) or max_n < 1:
            raise ValueError(f"The 'max_n' parameter must be a positive int. Got {max_n!r}.")
        if feed_defence is not None and not isinstance(feed_defence, bool | dict):
            raise TypeError(
                "The 'feed_defence' parameter of RankerService must be None, a bool or a dict of "
                f"trust.defend parameters. Got {type(feed_defence).__name__} instead."
            )
        self.feed_defence = feed_defence
        self.feed_config = feed_config or FeedConfig()
        self.search_params = dict(search_params or {})
        self.mutes = mutes
        self.max_n = max_n
        self._write_lock = threading.Lock()
        self._updates = 0
        feed_index, search_index = self._indices(dataset)
        r, key, art = self._resolve(ranker)
        snap = Snapshot(1, r, key, dataset, feed_index, search_index, art)
        self._warm(snap)
        self._snapshot = snap

    @classmethod
    def from_paths(
        cls, artifact_path: str | os.PathLike, dataset_path: str | os.PathLike, **kwargs: Any
    ) -> RankerService:
        """A service from a ranker artifact and a dataset folder written by ``Dataset.to_parquet``."""
        return cls(Dataset.read_parquet(dataset_path), artifact_path, **kwargs)

    # ------------------------------------------------------------------ snapshot plumbing
    @property
    def snapshot(self) -> Snapshot:
        """The snapshot requests use now (read it once per request)."""
        return self._snapshot

    def _indices(self, ds: Dataset) -> tuple[FeedIndex, SearchIndex]:
        fi = FeedIndex(ds, mutes=self.mutes, defence=self.feed_defence)
        si = SearchIndex(ds, graph=fi.graph, **self.search_params)
        return fi, si

    @staticmethod
    def _resolve(ranker: Any) -> tuple[Ranker, str, str | None]:
        if isinstance(ranker, Ranker):
            ranker.check_fitted()
            return ranker, "obj:" + ranker_fingerprint(ranker), None
        if isinstance(ranker, str | os.PathLike):
            path = str(ranker)
            # one read of the file: checksum, arrays and key all come from the same bytes
            r, checksum = load_artifact(path)
            return r, "artifact:" + checksum, path
        raise TypeError(
            f"The 'ranker' argument must be a fitted haowurank ranker or an artifact path. "
            f"Got {type(ranker).__name__} instead."
        )

    def _warm(self, snap: Snapshot) -> None:
        """Exercise every path once so the first real request pays no setup cost."""
        ds = snap.dataset
        if ds.n_users == 0:
            return
        u = ds.user_ids[0]
        snap.ranker.recommend(u, n=1)
        snap.feed_index.build(snap.ranker, u, n=1, config=self.feed_config,
                              ranker_key=snap.ranker_key)

    def _publish(self, **changes: Any) -> Snapshot:
        old = self._snapshot
        fields = dict(
            ranker=old.ranker, ranker_key=old.ranker_key, dataset=old.dataset,
            feed_index=old.feed_index, search_index=old.search_index, artifact=old.artifact,
        )
        fields.update(changes)
        snap = Snapshot(version=old.version + 1, **fields)
        self._warm(snap)
        self._snapshot = snap  # the one atomic step readers can observe
        log.info("RankerService: published snapshot v%d (%s)", snap.version, snap.ranker_key)
        return snap

    def swap(self, ranker: Ranker | str | os.PathLike) -> Snapshot:
        """Load a new ranker (object or artifact path) and publish it atomically.

        The new artifact is loaded, verified and warmed up before anything changes; on any error
        the service keeps serving the old one and the error propagates.
        """
        with self._write_lock:
            r, key, art = self._resolve(ranker)
            return self._publish(ranker=r, ranker_key=key, artifact=art)

    def reload(self) -> Snapshot:
        """Re-read the current artifact path (after a new file was written over it)."""
        art = self._snapshot.artifact
        if art is None:
            raise ValueError("This service was given a ranker object, not an artifact path.")
        return self.swap(art)

    def update(
        self,
        interactions: pd.DataFrame | None = None,
        *,
        social: pd.DataFrame | None = None,
        blocks: pd.DataFrame | None = None,
    ) -> Snapshot:
        """Add rows to the live world and update the ranker without a full refit.

        Parameters
        ----------
        interactions : DataFrame, optional
            New interaction rows (the columns of :meth:`Dataset.from_frames`); new user ids
            become known users.
        social, blocks : DataFrame, optional
            New follow rows and block rows.

        Returns
        -------
        Snapshot
            The published snapshot. See the module docstring for how each ranker is updated.
        """
        with self._write_lock:
            old = self._snapshot
            ds = old.dataset
            new_ds = _extend(ds, interactions, social, blocks)
            r = copy.deepcopy(old.ranker)
            how = "kept"
            new_rows = interactions if interactions is not None else pd.DataFrame(
                columns=["user", "item"]
            )
            if hasattr(r, "partial_fit_users") and (len(new_rows) or social is not None):
                kwargs = {}
                if social is not None and "social" in inspect.signature(
                    r.partial_fit_users
                ).parameters:
                    kwargs["social"] = social
                if len(new_rows):
                    r.partial_fit_users(new_rows, **kwargs)
                    how = "partial_fit_users"
            elif r.name in CLOSED_FORM_RANKERS:
                r.fit(new_ds)
                how = "refit (closed form)"
            else:
                log.warning(
                    "RankerService.update: %s has no partial update; its state is unchanged and "
                    "new users get its cold-start result until a refitted artifact is swapped in.",
                    r.name,
                )
            self._updates += 1
            feed_index, search_index = self._indices(new_ds)
            key = f"{old.ranker_key}+update{self._updates}:{ranker_fingerprint(r)}"
            log.info("RankerService.update: ranker %s (%s)", r.name, how)
            return self._publish(
                ranker=r, ranker_key=key, dataset=new_ds, feed_index=feed_index,
                search_index=search_index,
            )

    # ------------------------------------------------------------------ requests
    def _check_n(self, n: Any) -> int:
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or not 1 <= n <= self.max_n:
            raise ValueError(
                f"The 'n' parameter must be an int in [1, {self.max_n}]. Got {n!r} instead."
            )
        return int(n)

    def _check_users(self, snap: Snapshot, users: list) -> None:
        idx = snap.dataset.user_index(users, missing="ignore")
        if (idx < 0).any():
            bad = [users[k] for k in np.flatnonzero(idx < 0)[:5]]
            raise UnknownIdError(f"Unknown user id(s) {bad}: not in the service's dataset.")

    def recommend(
        self, users: Any, n: int = 20, *, exclude_seen: bool = True,
        snapshot: Snapshot | None = None,
    ) -> pd.DataFrame:
        """Top-``n`` items of the ranker for one user id or a sequence of them.

        Returns the ranker's ``recommend_frame`` (columns user, item, score, rank): the ranker's
        own serving path, so ``hybrid`` answers in two stages (sparse retrieval, then its
        learned ranking of the candidates; :class:`~haowurank.rankers.HybridRanker`). Ids must be
        users of the service's dataset (unknown ids raise :class:`~haowurank.UnknownIdError`);
        users the ranker never saw get its documented cold-start result. ``snapshot``: answer
        from this snapshot (one a request read once) instead of the current one.
        """
        snap = snapshot or self._snapshot
        n = self._check_n(n)
        ulist = [users] if np.isscalar(users) or isinstance(users, str) else list(users)
        self._check_users(snap, ulist)
        return snap.ranker.recommend_frame(ulist, n=n, exclude_seen=exclude_seen)

    def feed(
        self, users: Any, n: int = 20, *, cursor: str | None = None,
        snapshot: Snapshot | None = None,
    ) -> pd.DataFrame:
        """One page of the friends' feed (see :func:`haowurank.feed.build`)."""
        snap = snapshot or self._snapshot
        n = self._check_n(n)
        return snap.feed_index.build(
            snap.ranker, users, n, cursor=cursor, config=self.feed_config,
            ranker_key=snap.ranker_key,
        )

    def feed_page(
        self, user: Any, n: int = 20, *, cursor: str | None = None,
        snapshot: Snapshot | None = None,
    ) -> FeedPage:
        """One page of one user's feed as plain lists (the low-latency path of the HTTP
        service); the same rows as :meth:`feed` (``FeedPage.to_frame()``)."""
        snap = snapshot or self._snapshot
        n = self._check_n(n)
        return snap.feed_index.page(
            snap.ranker, user, n, cursor=cursor, config=self.feed_config,
            ranker_key=snap.ranker_key,
        )

    def search(
        self, text: str, user: Any = None, n: int = 20, *, snapshot: Snapshot | None = None
    ) -> pd.DataFrame:
        """Search hits (see :meth:`haowurank.search.SearchIndex.query`)."""
        snap = snapshot or self._snapshot
        n = self._check_n(n)
        return snap.search_index.query(text, user=user, n=n)

    def parse_user(self, raw: str, *, snapshot: Snapshot | None = None) -> Any:
        """A user id from its text form (query strings): int for int vocabularies."""
        ids = (snapshot or self._snapshot).dataset.user_ids
        if ids.dtype == object:
            return raw
        try:
            value = int(raw)
        except (TypeError, ValueError):
            value = None
        if value is None or not -(2**63) <= value < 2**63:
            raise ValueError(
                f"The 'user' parameter must be an integer id (int64) in this service. "
                f"Got {raw!r:.80}."
            )
        return value

    def health(self) -> dict[str, Any]:
        return {"status": "ok", **self._snapshot.describe()}


def _check_new_rows(
    ds: Dataset,
    interactions: pd.DataFrame | None,
    social: pd.DataFrame | None,
    blocks: pd.DataFrame | None,
) -> None:
    """Validate the caller's new rows on their own, before they meet the dataset's rows, so
    every message names the caller's own rows and columns (never a value the caller did not
    pass, such as the missing timestamps of old rows)."""
    empty = pd.DataFrame({"user": pd.Series([], dtype=object), "item": pd.Series([], dtype=object)})
    inter = empty if interactions is None else interactions
    if isinstance(inter, pd.DataFrame) and "timestamp" in inter and not ds.has_timestamps:
        raise ValueError(
            "The new 'interactions' of RankerService.update have a 'timestamp' column, but the "
            "service's dataset has no timestamps; drop that column."
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)
            new = Dataset.from_frames(inter, social, blocks=blocks)
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"RankerService.update: the new rows are invalid: {exc}") from exc
    for which, have in (("user", ds.user_ids), ("item", ds.item_ids)):
        got = new.user_ids if which == "user" else new.item_ids
        if len(got) and len(have) and (got.dtype == object) != (have.dtype == object):
            kind = "str" if got.dtype == object else "int"
            raise TypeError(
                f"RankerService.update: the new rows have {kind} {which} ids (e.g. {got[0]!r}); "
                f"the service's dataset has {'str' if have.dtype == object else 'int'} {which} "
                f"ids (e.g. {have[0]!r})."
            )


def _extend(
    ds: Dataset,
    interactions: pd.DataFrame | None,
    social: pd.DataFrame | None,
    blocks: pd.DataFrame | None,
) -> Dataset:
    """``ds`` with rows appended, validated like any Dataset (vocabularies grow as needed)."""
    if interactions is None and social is None and blocks is None:
        raise ValueError("RankerService.update needs at least one of interactions, social, blocks.")
    _check_new_rows(ds, interactions, social, blocks)
    inter = ds.interactions
    if not ds.has_timestamps:
        inter = inter.drop(columns=["timestamp"], errors="ignore")
    if interactions is not None and len(interactions):
        add = interactions.copy()
        if "timestamp" in inter and "timestamp" not in add:
            raise ValueError(
                "The new 'interactions' need a 'timestamp' column: the dataset has timestamps."
            )
        defaults = {"weight": 1.0, "kind": "purchase", "visibility": "friends"}
        for col, value in defaults.items():
            if col not in add:
                add[col] = value
        inter = pd.concat([inter.astype({"kind": str, "visibility": str}), add], ignore_index=True)
    soc = ds.social
    if social is not None and len(social):
        social = social.copy()
        if "weight" not in social:
            social["weight"] = 1.0
        soc = pd.concat([soc, social], ignore_index=True).drop_duplicates(
            ["user", "friend"], keep="last"
        )
    blk = ds.blocks
    if blocks is not None and len(blocks):
        blk = pd.concat([blk, blocks], ignore_index=True).drop_duplicates()
    items = ds.items
    new = Dataset.from_frames(
        inter, soc, items=items, blocks=blk, audiences=ds.audiences if len(ds.audiences) else None,
        meta=dict(ds.meta, updated=True),
    )
    return new
