"""The one base class of every ranking strategy: the whole contract lives in this file.

A ranker is configured by keyword arguments (stored unchanged by ``__init__``), learns from a
:class:`~haowurank.Dataset` in ``fit`` (learned state ends in ``_``), scores users against items
at the index level in ``_score``, and leaves ranking, seen-item filtering, cold start, id mapping,
explanations and persistence to this base class.

Cold start (documented contract): a user id that is not in the training vocabulary gets the
``fallback_`` ranking, which is item popularity in the training data (number of distinct users who
interacted with the item). Known users with no interactions are scored by the ranker itself when it
can (social rankers use their friends), otherwise by the same fallback.
"""

from __future__ import annotations

import importlib
import inspect
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._arrays import csr_positions
from .._dataset import Dataset
from .._errors import NotFittedError
from ._io import read_artifact, write_artifact

__all__ = ["Ranker", "available", "load_ranker", "make", "register"]

log = logging.getLogger(__name__)

_REGISTRY: dict[str, type[Ranker]] = {}
#: Rankers that can be loaded and served but not fitted here (e.g. ``sbpr`` without cornac).
_LOAD_ONLY: dict[str, type[Ranker]] = {}
PAD_INT = -1
PAD_STR = ""
#: Longest list beyond the catalogue ``recommend`` pads to (``n <= max(n_items, MAX_PAD)``).
MAX_PAD = 10_000


def register(cls: type[Ranker]) -> type[Ranker]:
    """Class decorator: make a ranker available by its ``name``."""
    if not cls.name:
        raise TypeError(f"{cls.__name__} needs a non-empty class attribute 'name'.")
    _REGISTRY[cls.name] = cls
    return cls


def register_load_only(cls: type[Ranker]) -> type[Ranker]:
    """Make a ranker loadable by :func:`load_ranker` without listing it in :func:`available`
    (its fitting needs an optional dependency that is not installed)."""
    _LOAD_ONLY[cls.name] = cls
    return cls


def available() -> list[str]:
    """Names of every registered ranking strategy."""
    importlib.import_module("haowurank.rankers._load_all")  # registers the built-in strategies

    return sorted(_REGISTRY)


def make(name: str, **params: Any) -> Ranker:
    """Construct a ranker by name, e.g. ``make("hybrid", n_candidates=200)``."""
    names = available()
    if name not in _REGISTRY:
        raise ValueError(f"Unknown ranker {name!r}. Available: {names}.")
    return _REGISTRY[name](**params)


def load_ranker(path: str) -> Ranker:
    """Load a ranker saved by :meth:`Ranker.save` (numpy arrays + JSON; never unpickles)."""
    meta, arrays = read_artifact(path)
    return ranker_from_artifact(meta, arrays, path)


def ranker_from_artifact(meta: dict, arrays: dict[str, np.ndarray], path: Any = "") -> Ranker:
    """The ranker an artifact's verified (metadata, arrays) describe (see ``read_artifact``)."""
    from .._errors import ArtifactError

    available()
    name = meta.get("ranker")
    cls = _REGISTRY.get(name) or _LOAD_ONLY.get(name)
    if cls is None:
        raise ArtifactError(f"{path}: unknown ranker {name!r} in the artifact.")
    params = meta.get("params")
    if not isinstance(params, dict):
        raise ArtifactError(
            f"{path}: the artifact's 'params' must be a JSON object. Got {type(params).__name__}."
        )
    r = cls(**params)
    r._restore(meta, arrays)
    return r


def _ids_to_array(ids: np.ndarray) -> np.ndarray:
    """Vocabularies as arrays that np.savez stores without pickle."""
    if ids.dtype == object:
        return np.asarray(ids.tolist(), dtype=str) if len(ids) else np.empty(0, dtype="<U1")
    return ids.astype(np.int64)


def _array_to_ids(arr: np.ndarray) -> np.ndarray:
    if arr.dtype.kind == "U":
        return np.asarray(arr.tolist(), dtype=object)
    return arr.astype(np.int64)


def csr_to_arrays(prefix: str, m: sp.csr_matrix) -> dict[str, np.ndarray]:
    """Split a CSR matrix into plain arrays for an artifact."""
    m = sp.csr_matrix(m)
    return {
        f"{prefix}.data": m.data,
        f"{prefix}.indices": m.indices,
        f"{prefix}.indptr": m.indptr,
        f"{prefix}.shape": np.asarray(m.shape, dtype=np.int64),
    }


def arrays_to_csr(prefix: str, arrays: dict[str, np.ndarray]) -> sp.csr_matrix:
    shape = tuple(int(x) for x in arrays[f"{prefix}.shape"])
    return sp.csr_matrix(
        (arrays[f"{prefix}.data"], arrays[f"{prefix}.indices"], arrays[f"{prefix}.indptr"]),
        shape=shape,
    )


_SAMPLE_STRIDE = 4


def topk(scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise top ``n`` of a dense score block; -inf entries are never candidates.

    Returns indices (int64, -1 where a row has fewer than ``n`` finite scores) and scores
    (-inf there). Ties are broken by the lower item index, so results do not depend on batching.

    Exact, and faster than a full ``argpartition`` on wide blocks (timings in
    ``experiments/scoring_paths/``): the ``n``-th
    largest score of every 4th column is a lower bound of the row's ``n``-th largest, so only
    the entries at or above it (about ``4 n`` per row) are sorted. Rows where that bound keeps
    too many entries (ties, or fewer than ``n`` finite scores) take the full partition.
    """
    b, m = scores.shape
    k = min(n, m)
    if b == 0 or k == 0 or m < 16 * _SAMPLE_STRIDE * k:
        return _topk_partition(scores, n)
    sample = scores[:, ::_SAMPLE_STRIDE]
    thr = np.partition(sample, sample.shape[1] - k, axis=1)[:, sample.shape[1] - k]
    mask = scores >= thr[:, None]
    heavy = mask.sum(axis=1) > 16 * _SAMPLE_STRIDE * k
    if heavy.any():
        mask[heavy] = False
    r, c = np.nonzero(mask)
    v = scores[r, c]
    order = np.lexsort((c, -v, r))
    r, c, v = r[order], c[order], v[order]
    cnt = np.bincount(r, minlength=b)
    rank = np.arange(len(r)) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    sel = rank < k
    idx = np.full((b, n), -1, dtype=np.int64)
    sc = np.full((b, n), -np.inf, dtype=np.float32)
    idx[r[sel], rank[sel]] = c[sel]
    sc[r[sel], rank[sel]] = v[sel]
    bad = ~np.isfinite(sc)
    idx[bad] = -1
    sc[bad] = -np.inf
    if heavy.any():
        idx[heavy], sc[heavy] = _topk_partition(scores[heavy], n)
    return idx, sc


def shared_topk(
    scores: np.ndarray, n: int, b: int, seen: sp.csr_matrix | None = None,
    cand: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`topk` of ``b`` rows that all share the score vector ``scores`` (popularity, the
    cold-start fallback), without building them: walk the items in score order (ties: the
    lower index) and skip each row's ``seen`` items (a CSR matrix with ``b`` rows; None: none)
    and the items outside ``cand``. Same result as ``topk`` on the dense rows."""
    scores = np.asarray(scores, dtype=np.float32)
    order = np.lexsort((np.arange(len(scores)), -scores))
    order = order[np.isfinite(scores[order])]
    if cand is not None:
        order = order[np.asarray(cand, dtype=bool)[order]]
    idx = np.full((b, n), -1, dtype=np.int64)
    sc = np.full((b, n), -np.inf, dtype=np.float32)
    if b == 0 or n == 0:
        return idx, sc
    if seen is not None:
        seen = sp.csr_matrix(seen)
        seen.sum_duplicates()  # canonical (sorted indices) for the lookup
    extra = int(np.diff(seen.indptr).max()) if seen is not None and seen.nnz else 0
    top = order[: min(len(order), n + extra)]
    ok = np.ones((b, len(top)), dtype=bool)
    if extra and len(top):
        _, hit = csr_positions(seen, np.repeat(np.arange(b), len(top)), np.tile(top, b))
        ok = ~hit.reshape(b, len(top))
    rank = np.cumsum(ok, axis=1) - 1
    r, c = np.nonzero(ok & (rank < n))
    idx[r, rank[r, c]] = top[c]
    sc[r, rank[r, c]] = scores[top[c]]
    return idx, sc


def _topk_partition(scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`topk` by a full ``argpartition`` of every row (the reference path)."""
    b, m = scores.shape
    k = min(n, m)
    if k == 0:
        return np.full((b, n), -1, dtype=np.int64), np.full((b, n), -np.inf, dtype=np.float32)
    if k < m:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        # include all ties of the k-th value so the tie-break by index is exact
        cut = np.take_along_axis(scores, part, axis=1).min(axis=1, keepdims=True)
        cand_mask = scores >= cut
        idx_rows = []
        for r in range(b):
            cand = np.flatnonzero(cand_mask[r])
            order = np.lexsort((cand, -scores[r, cand]))[:k]
            idx_rows.append(cand[order])
        idx = np.stack(idx_rows) if b else np.empty((0, k), dtype=np.int64)
    else:
        idx = np.lexsort((np.broadcast_to(np.arange(m), scores.shape), -scores), axis=1)
    sc = np.take_along_axis(scores, idx, axis=1).astype(np.float32)
    idx = idx.astype(np.int64)
    bad = ~np.isfinite(sc)
    idx[bad] = -1
    sc[bad] = -np.inf
    if k < n:
        idx = np.pad(idx, ((0, 0), (0, n - k)), constant_values=-1)
        sc = np.pad(sc, ((0, 0), (0, n - k)), constant_values=-np.inf)
    return idx, sc


class Ranker:
    """Base class of ranking strategies.

    Subclasses set ``name``, define ``__init__`` with explicit keyword arguments that are stored
    unchanged, and implement ``_fit(ds)`` and ``_score(uidx)``. They may override ``_explain``,
    ``_state``/``_set_state`` (persistence of learned arrays) and ``_recommend_idx`` (a faster
    path, e.g. implicit's own top-k).
    """

    name: ClassVar[str] = ""
    #: Whether the ranker scores known users that have no interactions by itself.
    handles_empty_users: ClassVar[bool] = False
    batch_size: ClassVar[int] = 512

    # ------------------------------------------------------------------ parameters
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [
            p.name for p in sig.parameters.values()
            if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        ]

    def get_params(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self._param_names()}

    def set_params(self, **params: Any) -> Ranker:
        valid = self._param_names()
        for k, v in params.items():
            if k not in valid:
                raise ValueError(f"{type(self).__name__} has no parameter {k!r}. Valid: {valid}.")
            setattr(self, k, v)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # ------------------------------------------------------------------ validation helpers
    def _check_param(self, name: str, ok: bool, expect: str) -> None:
        if not ok:
            raise ValueError(
                f"The {name!r} parameter of {type(self).__name__} must be {expect}. "
                f"Got {getattr(self, name)!r} instead."
            )

    def _check_fitted(self) -> None:
        if not hasattr(self, "item_ids_"):
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet. Call 'fit' with a Dataset first."
            )

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        ds: Dataset,
        *,
        show_progress: bool = False,
        callback: Callable[[str, float], None] | None = None,
    ) -> Ranker:
        """Learn from a training Dataset and return ``self``.

        A second ``fit`` equals a fresh one: all learned state is replaced.
        """
        if not isinstance(ds, Dataset):
            raise TypeError(
                f"{type(self).__name__}.fit expects a haowurank.Dataset. Got {type(ds).__name__}."
            )
        if ds.n_items == 0:
            raise ValueError(f"{type(self).__name__}.fit needs at least one item; the dataset has none.")
        self._validate_params()
        for k in [k for k in vars(self) if k.endswith("_") and not k.startswith("__")]:
            delattr(self, k)
        self.user_ids_ = ds.user_ids
        self.item_ids_ = ds.item_ids
        self.seen_ = ds.matrix(weight="binary")
        counts = np.asarray(self.seen_.sum(axis=0)).ravel().astype(np.float32)
        self.fallback_ = counts
        self._fit(ds, show_progress=show_progress, callback=callback)
        return self

    def _validate_params(self) -> None:
        """Check hyperparameters (called by ``fit``); subclasses extend it."""

    def _fit(self, ds: Dataset, *, show_progress: bool, callback: Any) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ scoring
    def _score(self, uidx: np.ndarray) -> np.ndarray:
        """Scores of known users (indices) against all items: float32 (len(uidx), n_items).

        Items that are not candidates for a user score -inf.
        """
        raise NotImplementedError

    def _score_at(self, uidx: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """``self._score(uidx)[rows, cols]``: float32 scores of given (row of ``uidx``, item)
        pairs. Rankers with sparse candidates override it to skip the dense block."""
        return self._score(uidx)[rows, cols]

    def _score_at_users(self) -> int:
        """How many users one ``_score_at`` call should take (a dense block of 64 MiB)."""
        return max(1, (1 << 24) // max(1, len(self.item_ids_)))

    def _fallback_rows(self, k: int) -> np.ndarray:
        return np.broadcast_to(self.fallback_, (k, len(self.fallback_))).astype(np.float32)

    def _empty_users(self, uidx: np.ndarray) -> np.ndarray:
        """Mask of known users with no training interactions."""
        return np.diff(self.seen_.indptr)[uidx] == 0

    def _fallback_mask(self, uidx: np.ndarray) -> np.ndarray:
        """Rows that get the fallback: unknown users (-1), and known users without training
        interactions unless the ranker scores those itself (``handles_empty_users``)."""
        known = uidx >= 0
        use_model = known.copy()
        if not self.handles_empty_users:
            use_model &= ~self._empty_users(np.where(known, uidx, 0))
        return ~use_model

    def _score_block(self, uidx: np.ndarray) -> np.ndarray:
        """``_score`` with the cold-start contract applied (uidx may hold -1 for unknown users)."""
        out = np.empty((len(uidx), len(self.item_ids_)), dtype=np.float32)
        use_model = ~self._fallback_mask(uidx)
        if use_model.any():
            out[use_model] = self._score(uidx[use_model])
        if (~use_model).any():
            out[~use_model] = self._fallback_rows(int((~use_model).sum()))
        return out

    def _id_index(self, which: str) -> pd.Index:
        """pd.Index of the user or item vocabulary, cached while the vocabulary array is the same
        object (building it costs O(vocabulary size), too much for every single-user call)."""
        ids = self.user_ids_ if which == "user" else self.item_ids_
        cache = self.__dict__.setdefault("_id_index_cache", {})
        hit = cache.get(which)
        if hit is None or hit[0] is not ids:
            hit = (ids, pd.Index(ids))
            cache[which] = hit
        return hit[1]

    def _user_indices(self, users: Any) -> tuple[np.ndarray, bool]:
        self._check_fitted()
        single = np.isscalar(users) or isinstance(users, str)
        if not single and (users is None or not hasattr(users, "__iter__")):
            raise TypeError(
                f"The 'users' parameter of {type(self).__name__} must be a user id or a sequence "
                f"of user ids. Got {users!r} instead."
            )
        arr = [users] if single else list(users)
        if 0 < len(arr) <= 16:  # a dict beats pandas' per-call overhead for a few ids
            pos = self._id_positions("user")
            idx = np.fromiter(
                (-1 if isinstance(u, bool | np.bool_) else
                 pos.get(u.item() if isinstance(u, np.generic) else u, -1) for u in arr),
                dtype=np.int64, count=len(arr),
            )
            return idx, single
        idx = self._id_index("user").get_indexer(np.asarray(arr, dtype=object)) if arr else np.empty(
            0, dtype=np.int64
        )
        return np.asarray(idx, dtype=np.int64), single

    def _id_positions(self, which: str) -> dict:
        """{id: index} of the user or item vocabulary, cached like :meth:`_id_index`."""
        ids = self.user_ids_ if which == "user" else self.item_ids_
        cache = self.__dict__.setdefault("_id_index_cache", {})
        hit = cache.get(which + ":dict")
        if hit is None or hit[0] is not ids:
            hit = (ids, {u: k for k, u in enumerate(ids.tolist())})
            cache[which + ":dict"] = hit
        return hit[1]

    def _check_n(self, n: Any, where: str) -> int:
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
            raise ValueError(
                f"The 'n' parameter of {type(self).__name__}.{where} must be a positive int. "
                f"Got {n!r} instead."
            )
        cap = max(len(getattr(self, "item_ids_", ())), MAX_PAD)
        if n > cap:  # lists are padded to n: a huge n would allocate (n_users, n) arrays
            raise ValueError(
                f"The 'n' parameter of {type(self).__name__}.{where} must be at most "
                f"max(n_items, {MAX_PAD}) = {cap}. Got {n!r} instead."
            )
        return int(n)

    def _candidate_mask(self, items: Any) -> np.ndarray | None:
        if items is None:
            return None
        arr = np.asarray(list(items), dtype=object)
        idx = self._id_index("item").get_indexer(arr)
        if (idx < 0).any():
            from .._errors import UnknownIdError

            raise UnknownIdError(
                f"The 'items' parameter holds {int((idx < 0).sum())} id(s) unknown to the ranker, "
                f"e.g. {arr[idx < 0][:3].tolist()}."
            )
        mask = np.zeros(len(self.item_ids_), dtype=bool)
        mask[idx] = True
        return mask

    def score(self, users: Any, items: Any = None) -> np.ndarray:
        """Raw scores of users against items (all items by default), with the cold-start rule.

        Returns float32 of shape (n_items,) for one user, (n_users, n_items) for a sequence.
        Non-candidates score -inf. Seen items are not masked here (ranking and filtering are
        separate steps).
        """
        uidx, single = self._user_indices(users)
        cand = self._candidate_mask(items)
        s = self._score_block(uidx)
        if cand is not None:
            order = pd.Index(self.item_ids_).get_indexer(np.asarray(list(items), dtype=object))
            s = s[:, order]
        return s[0] if single else s

    def _recommend_idx(
        self, uidx: np.ndarray, n: int, exclude_seen: bool, cand: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Index-level top-n: (item indices with -1 pads, scores with -inf pads).

        Rows that get the cold-start fallback (unknown users, and known users without
        interactions unless the ranker scores them) share one score vector, so they take
        :func:`shared_topk` instead of a dense row each (a known user's seen items are still
        skipped: a CF ranker falls back for users whose interactions all weigh 0)."""
        uidx = np.asarray(uidx, dtype=np.int64)
        fb = self._fallback_mask(uidx)
        if fb.any():
            seen = None
            if exclude_seen:
                rows = uidx[fb]
                seen = sp.csr_matrix(sp.diags((rows >= 0).astype(np.float32))
                                     @ self.seen_[np.maximum(rows, 0)])
                seen.eliminate_zeros()
            idx, sc = shared_topk(self.fallback_, n, int(fb.sum()), seen, cand)
            if fb.all():
                return idx, sc
            out_i = np.empty((len(uidx), n), dtype=np.int64)
            out_s = np.empty((len(uidx), n), dtype=np.float32)
            out_i[fb], out_s[fb] = idx, sc
            out_i[~fb], out_s[~fb] = self._dense_recommend_idx(uidx[~fb], n, exclude_seen, cand)
            return out_i, out_s
        return self._dense_recommend_idx(uidx, n, exclude_seen, cand)

    def _dense_recommend_idx(
        self, uidx: np.ndarray, n: int, exclude_seen: bool, cand: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-n from a dense score row per user (:meth:`_score_block`, then :func:`topk`)."""
        s = self._score_block(uidx)
        if cand is not None:
            s[:, ~cand] = -np.inf
        if exclude_seen:
            known = np.flatnonzero(uidx >= 0)
            if len(known):
                sub = self.seen_[uidx[known]].tocoo()
                s[known[sub.row], sub.col] = -np.inf
        return topk(s, n)

    def recommend(
        self,
        users: Any,
        n: int = 20,
        *,
        exclude_seen: bool = True,
        items: Sequence[Any] | None = None,
        show_progress: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` item ids and scores for one user id or a sequence of user ids.

        Parameters
        ----------
        users : id or sequence of ids
            Caller user ids. Unknown ids get the cold-start fallback (popularity).
        n : int
            List length, at most ``max(n_items, MAX_PAD)`` (10,000); ``ValueError`` otherwise.
        exclude_seen : bool
            Drop items the user interacted with in training.
        items : sequence of ids, optional
            Restrict candidates to these items.

        Returns
        -------
        ids : ndarray of shape (n,) or (n_users, n)
            Item ids, best first. Short lists are padded with id -1 (int vocabularies) or ""
            (str vocabularies) and score -inf.
        scores : ndarray of float32, same shape
        """
        n = self._check_n(n, "recommend")
        uidx, single = self._user_indices(users)
        cand = self._candidate_mask(items)
        idx_parts, sc_parts = [], []
        bs = self.batch_size
        starts = range(0, len(uidx), bs)
        if show_progress:
            from .._progress import tqdm

            starts = tqdm(starts, desc=f"{self.name}: recommend", unit="batch")
        for s0 in starts:
            i, sc = self._recommend_idx(uidx[s0 : s0 + bs], n, exclude_seen, cand)
            idx_parts.append(i)
            sc_parts.append(sc)
        idx = np.concatenate(idx_parts) if idx_parts else np.empty((0, n), dtype=np.int64)
        sc = np.concatenate(sc_parts) if sc_parts else np.empty((0, n), dtype=np.float32)
        ids = self._idx_to_ids(idx)
        if single:
            return ids[0], sc[0]
        return ids, sc

    def _idx_to_ids(self, idx: np.ndarray) -> np.ndarray:
        vocab = self.item_ids_
        safe = np.where(idx >= 0, idx, 0)
        ids = vocab[safe] if len(vocab) else np.empty(idx.shape, dtype=vocab.dtype)
        if (idx < 0).any():
            ids = ids.copy()
            ids[idx < 0] = PAD_STR if vocab.dtype == object else PAD_INT
        return ids

    def recommend_frame(
        self, users: Any, n: int = 20, *, exclude_seen: bool = True, items: Any = None
    ) -> pd.DataFrame:
        """Recommendations as a long DataFrame: user, item, score, rank (1-based); no pads."""
        single = np.isscalar(users) or isinstance(users, str)
        ulist = [users] if single else list(users)
        ids, sc = self.recommend(ulist, n=n, exclude_seen=exclude_seen, items=items)
        ids = np.asarray(ids).reshape(len(ulist), n)
        sc = np.asarray(sc).reshape(len(ulist), n)
        valid = np.isfinite(sc)
        rank = np.broadcast_to(np.arange(1, n + 1), sc.shape)
        users_rep = np.repeat(np.asarray(ulist, dtype=object), n).reshape(len(ulist), n)
        frame = pd.DataFrame(
            {
                "user": users_rep[valid],
                "item": ids[valid],
                "score": sc[valid].astype(np.float64),
                "rank": rank[valid].astype(np.int64),
            }
        )
        if self.user_ids_.dtype != object and len(frame):
            frame["user"] = frame["user"].astype(np.int64)
        return frame

    # ------------------------------------------------------------------ explanations
    def explain(self, user: Any, item: Any) -> dict[str, Any]:
        """Why ``item`` scores what it does for ``user``: score, model terms, friends, kinds, text."""
        uidx, _ = self._user_indices(user)
        iidx = pd.Index(self.item_ids_).get_indexer(np.asarray([item], dtype=object))[0]
        if iidx < 0:
            from .._errors import UnknownIdError

            raise UnknownIdError(f"Unknown item id {item!r} for {type(self).__name__}.explain.")
        u = int(uidx[0])
        score = float(self._score_block(np.asarray([u]))[0, iidx])
        out: dict[str, Any] = {"user": user, "item": item, "ranker": self.name, "score": score}
        if u < 0 or (not self.handles_empty_users and self._empty_users(np.asarray([u]))[0]):
            out.update(
                terms={"popularity": float(self.fallback_[iidx])},
                friends=[], kinds={},
                text=f"New user: ranked by popularity ({int(self.fallback_[iidx])} users).",
                fallback=True,
            )
            return out
        out.update(fallback=False, friends=[], kinds={})
        out.update(self._explain(u, int(iidx)))
        out.setdefault("terms", {"score": score})
        out.setdefault("text", f"{self.name} score {score:.3g}.")
        return out

    def _explain(self, u: int, i: int) -> dict[str, Any]:
        return {}

    # ------------------------------------------------------------------ persistence
    def _state(self) -> dict[str, np.ndarray]:
        """Learned arrays of the subclass (beyond the common ones)."""
        return {}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        pass

    def save(self, path: str) -> str:
        """Save the fitted ranker as one ``.npz`` of plain arrays with JSON metadata.

        The write is atomic (temporary file, then rename). Load it with
        :func:`haowurank.load_ranker`; nothing is pickled.
        """
        self._check_fitted()
        arrays = {
            "user_ids": _ids_to_array(self.user_ids_),
            "item_ids": _ids_to_array(self.item_ids_),
            "fallback": self.fallback_,
            **csr_to_arrays("seen", self.seen_),
            **self._state(),
        }
        params = self.get_params()
        try:
            json.dumps(params)
        except TypeError as exc:
            raise TypeError(f"{type(self).__name__} parameters must be JSON-serialisable: {exc}") from exc
        meta = {"ranker": self.name, "params": params}
        return write_artifact(path, meta, arrays)

    def _restore(self, meta: dict, arrays: dict[str, np.ndarray]) -> None:
        self.user_ids_ = _array_to_ids(arrays.pop("user_ids"))
        self.item_ids_ = _array_to_ids(arrays.pop("item_ids"))
        self.fallback_ = arrays.pop("fallback")
        self.seen_ = arrays_to_csr("seen", arrays)
        self._set_state(arrays)
