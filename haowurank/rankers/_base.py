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
from ._io import read_artifact, read_artifact_bytes, write_artifact

__all__ = [
    "Ranker", "available", "load_ranker", "make", "register", "shared_topk", "sparse_topk", "topk",
]

log = logging.getLogger(__name__)

#: Strategies of users, added by :func:`register` (the built-ins are the plain table
#: ``haowurank.rankers.STRATEGIES``, built in ``haowurank/rankers/__init__.py``).
_REGISTRY: dict[str, type[Ranker]] = {}
PAD_INT = -1
PAD_STR = ""
#: Longest list beyond the catalogue ``recommend`` pads to (``n <= max(n_items, MAX_PAD)``).
MAX_PAD = 10_000


def register(cls: type[Ranker]) -> type[Ranker]:
    """Class decorator for users' own strategies: make ``cls`` available by its ``name``.

    The built-in strategies are not registered this way; they are the table
    ``haowurank.rankers.STRATEGIES``. A registered name shadows a built-in one.
    """
    if not (isinstance(cls, type) and issubclass(cls, Ranker)):
        raise TypeError(f"register expects a subclass of Ranker. Got {cls!r}.")
    if not cls.name:
        raise TypeError(f"{cls.__name__} needs a non-empty class attribute 'name'.")
    _REGISTRY[cls.name] = cls
    return cls


def _strategies(*, loadable: bool = False) -> dict[str, type[Ranker]]:
    """Name -> class of every strategy: the built-in table, then users' registrations; with
    ``loadable`` also those that can be loaded but not fitted here (``LOAD_ONLY``)."""
    from . import LOAD_ONLY, STRATEGIES  # the package's table (this module is imported first)

    return {**(LOAD_ONLY if loadable else {}), **STRATEGIES, **_REGISTRY}


def available() -> list[str]:
    """Names of every strategy that can be made and fitted here (built-in and registered)."""
    return sorted(_strategies())


def make(name: str, **params: Any) -> Ranker:
    """Construct a ranker by name, e.g. ``make("hybrid", n_candidates=200)``."""
    table = _strategies()
    if name not in table:
        raise ValueError(f"Unknown ranker {name!r}. Available: {sorted(table)}.")
    return table[name](**params)


def load_ranker(path: str) -> Ranker:
    """Load a ranker saved by :meth:`Ranker.save` (numpy arrays + JSON; never unpickles)."""
    meta, arrays = read_artifact(path)
    return ranker_from_artifact(meta, arrays, path)


def load_ranker_checked(path: Any) -> tuple[Ranker, str]:
    """A saved ranker and its verified checksum from one read of the artifact file.

    The file's bytes are read once; the checksum is verified over the arrays parsed from those
    bytes and the ranker is restored from the same arrays, so a file rewritten while it is
    being loaded (A, B, A) gives a ranker whose checksum names exactly what it was built from.
    Never unpickles.
    """
    meta, arrays, _ = read_artifact_bytes(path)
    return ranker_from_artifact(meta, arrays, path), str(meta["checksum"])


def ranker_from_artifact(meta: dict, arrays: dict[str, np.ndarray], path: Any = "") -> Ranker:
    """The ranker an artifact's verified (metadata, arrays) describe (see ``read_artifact``).

    The stored parameters pass the same validation as ``fit`` (``validate_params``), and
    every learned array is checked against the vocabularies before use (:meth:`Ranker._restore`);
    any failure is an :class:`~haowurank.ArtifactError` naming the file and the field.
    """
    from .._errors import ArtifactError

    name = meta.get("ranker")
    cls = _strategies(loadable=True).get(name) if isinstance(name, str) else None
    if cls is None:
        raise ArtifactError(f"{path}: field 'ranker': unknown ranker {name!r} in the artifact.")
    params = meta.get("params")
    if not isinstance(params, dict):
        raise ArtifactError(
            f"{path}: field 'params' must be a JSON object. Got {type(params).__name__}."
        )
    valid = cls.param_names()
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ArtifactError(
            f"{path}: field 'params' holds unknown parameter(s) {unknown} of {cls.__name__}; "
            f"valid: {valid}."
        )
    try:
        r = cls(**params)
        r.validate_params()
    except (TypeError, ValueError) as exc:
        raise ArtifactError(f"{path}: field 'params': {exc}") from exc
    try:
        r._restore(meta, dict(arrays))
    except ArtifactError as exc:
        raise ArtifactError(f"{path}: {exc}") from exc
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, RuntimeError) as exc:
        what = f"array {exc.args[0]!r} is missing" if isinstance(exc, KeyError) else str(exc)
        raise ArtifactError(
            f"{path}: the arrays do not fit the {cls.__name__} they claim to be: {what}."
        ) from exc
    return r


#: Learned arrays indexed by a vocabulary, by the last part of their name: the dimension that
#: must equal the number of users or items (checked before any ranker uses the array).
_VOCAB_AXES: dict[str, tuple[str, ...]] = {
    "user_factors": ("users",), "item_factors": ("items",), "item_scores": ("items",),
    "item_bias": ("items",), "prior": ("items",),
}


def _check_vocab_dims(arrays: dict[str, np.ndarray], nu: int, ni: int) -> None:
    """Every learned array is checked against the vocabularies before use: each CSR matrix
    (``p.shape`` beside ``p.indptr``) has one row per user or per item, every other
    ``p.indptr`` has one entry per user or item plus one, and the arrays named in
    :data:`_VOCAB_AXES` have a first axis of the vocabulary's size (factor pairs of one model
    share their second axis)."""
    from .._errors import ArtifactError

    size = {"users": nu, "items": ni}
    for name, a in arrays.items():
        base, _, last = name.rpartition(".")
        if last == "shape" and f"{base}.indptr" in arrays and f"{base}.indices" in arrays:
            if a.shape != (2,) or int(a[0]) not in (nu, ni):
                raise ArtifactError(
                    f"field {name!r} must give a matrix whose rows are the users ({nu}) or the "
                    f"items ({ni}). Got {a.tolist()}."
                )
        elif last == "indptr" and f"{base}.shape" not in arrays:
            if a.ndim != 1 or len(a) not in (nu + 1, ni + 1):
                raise ArtifactError(
                    f"field {name!r} must have {nu + 1} (users + 1) or {ni + 1} (items + 1) "
                    f"entries. Got shape {a.shape}."
                )
        elif last in _VOCAB_AXES:
            axis = _VOCAB_AXES[last][0]
            if a.ndim < 1 or a.shape[0] != size[axis]:
                raise ArtifactError(
                    f"field {name!r} must have {size[axis]} rows ({axis}). Got shape {a.shape}."
                )
    for name, a in arrays.items():
        if name.endswith("user_factors"):
            other = arrays.get(name[: -len("user_factors")] + "item_factors")
            if other is not None and (a.ndim != 2 or other.ndim != 2 or a.shape[1] != other.shape[1]):
                raise ArtifactError(
                    f"fields {name!r} and its item_factors must be 2-D with one number of "
                    f"factors. Got shapes {a.shape} and {other.shape}."
                )


def _ids_to_array(ids: np.ndarray) -> np.ndarray:
    """Vocabularies as arrays the artifact writer stores without pickle (str ids losslessly)."""
    if ids.dtype == object:
        return np.asarray(ids, dtype=object)
    return ids.astype(np.int64)


def _array_to_ids(arr: np.ndarray, field: str) -> np.ndarray:
    """A stored vocabulary back as ids: 1-D, unique, int64 or str objects."""
    from .._errors import ArtifactError

    if arr.ndim != 1 or not (arr.dtype == object or arr.dtype.kind in "iu"):
        raise ArtifactError(
            f"field {field!r} must be a 1-D array of int or str ids. Got {arr.dtype} of shape "
            f"{arr.shape}."
        )
    if arr.dtype.kind == "u" and len(arr) and int(arr.max()) > np.iinfo(np.int64).max:
        raise ArtifactError(f"field {field!r} holds ids beyond int64.")
    ids = arr if arr.dtype == object else arr.astype(np.int64)
    if len(pd.unique(ids)) != len(ids):
        raise ArtifactError(f"field {field!r} lists an id more than once.")
    return ids


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
        return partition_topk(scores, n)
    sample = scores[:, ::_SAMPLE_STRIDE]
    thr = np.partition(sample, sample.shape[1] - k, axis=1)[:, sample.shape[1] - k]
    mask = scores >= thr[:, None]
    heavy = mask.sum(axis=1) > 16 * _SAMPLE_STRIDE * k
    if heavy.any():
        mask[heavy] = False
    r, c = np.nonzero(mask)
    idx, sc = sparse_topk(r, c, scores[r, c], b, n)
    if heavy.any():
        idx[heavy], sc[heavy] = partition_topk(scores[heavy], n)
    return idx, sc


def sparse_topk(
    rows: np.ndarray, cols: np.ndarray, scores: np.ndarray, n_rows: int, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise top ``n`` of scored (row, column) triples: the one top-k kernel.

    :func:`topk` (dense blocks) and the strategies that score sparse candidate sets call it, so
    every ranked list breaks ties the same way: score descending, then the lower column.

    Parameters
    ----------
    rows, cols : int arrays of shape (k,)
        Row in ``[0, n_rows)`` and column (item index) of each candidate; a (row, column) pair
        appears at most once.
    scores : float array of shape (k,)
        Non-finite scores are never candidates.
    n_rows, n : int

    Returns
    -------
    idx : ndarray of shape (n_rows, n), int64
        Columns, best first; -1 pads rows with fewer than ``n`` finite candidates.
    sc : ndarray of shape (n_rows, n), float32
        Their scores; -inf at the pads.
    """
    r = np.asarray(rows, dtype=np.int64)
    c = np.asarray(cols, dtype=np.int64)
    v = np.asarray(scores)
    ok = np.isfinite(v)
    if not ok.all():
        r, c, v = r[ok], c[ok], v[ok]
    order = np.lexsort((c, -v, r))
    r, c, v = r[order], c[order], v[order]
    cnt = np.bincount(r, minlength=n_rows)
    rank = np.arange(len(r)) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    sel = rank < n
    idx = np.full((n_rows, n), -1, dtype=np.int64)
    sc = np.full((n_rows, n), -np.inf, dtype=np.float32)
    idx[r[sel], rank[sel]] = c[sel]
    sc[r[sel], rank[sel]] = v[sel]
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


def partition_topk(scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
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
    """Base class of ranking strategies: the whole public ranker contract.

    Everything outside :mod:`haowurank.rankers` (feed, search, simulation, evaluation, serving,
    Spark, apps) uses rankers through the public members below only.

    **Configure and fit.** ``__init__`` stores keyword arguments unchanged; :meth:`get_params`,
    :meth:`set_params`, :meth:`param_names` and :meth:`validate_params` (run by ``fit``) work on
    them. :meth:`fit` learns from a :class:`~haowurank.Dataset` and returns ``self``; learned
    state ends in ``_`` (``user_ids_``, ``item_ids_``: the vocabularies; ``seen_``: the binary
    user x item training matrix; ``fallback_``: the cold-start scores). :meth:`check_fitted`
    raises :class:`~haowurank.NotFittedError` before ``fit``.

    **Rank and score, by caller ids.** :meth:`recommend` / :meth:`recommend_frame` (top-``n``
    lists), :meth:`candidates` (candidate retrieval for a batch of users), :meth:`score` (users
    against all items or a candidate set), :meth:`score_pairs` (arbitrary (user, item) pairs) and
    :meth:`explain`.

    **Rank and score, by index** (positions in ``user_ids_`` / ``item_ids_``; user index -1 is
    an unknown user), for callers that keep their own id mapping: :meth:`recommend_at`,
    :meth:`score_rows` (dense rows) and :meth:`score_pairs_at` (pairs, no dense row).

    **Declared capabilities** (class attributes; read them instead of probing scores):

    - ``user_dependent``: whether a known user's scores depend on who the user is. When False,
      every known user gets :meth:`shared_scores` (popularity).
    - ``has_factors``: whether a known user's model scores are exactly
      ``user_factors[u] . item_factors[i]`` of :meth:`latent_factors` (matrix factorisation), so a
      caller may score candidate pairs from the factors.
    - ``uses_social``: whether the scores read the social graph or friends' endorsements (then
      they obey the visibility rule of :mod:`haowurank.visibility`).
    - ``handles_empty_users``: whether known users without training interactions are scored by
      the ranker itself (otherwise they get the cold-start fallback).

    **Persist.** :meth:`save` writes one ``.npz`` of plain arrays with JSON metadata;
    :func:`load_ranker` reads it back; :meth:`learned_arrays` lists the learned arrays.

    **Cold start.** An unknown user id gets ``fallback_``: item popularity in the training data
    (the number of distinct users who interacted with the item). Known users with no
    interactions get it too unless ``handles_empty_users``.

    **Writing a strategy.** Subclass, set ``name`` and the capability attributes, define
    ``__init__`` with explicit keyword arguments stored unchanged, and implement ``_fit(ds, *,
    show_progress, callback)`` and ``_score(uidx)`` (dense float32 rows of known users, -inf for
    non-candidates). Optional overrides: ``_validate_params``, ``_explain``, ``_state`` /
    ``_set_state`` (persistence of learned arrays), ``_score_at`` (pairs without a dense row),
    ``_recommend_idx`` (a faster top-n path), :meth:`latent_factors` and :meth:`shared_scores`. Add it
    to the table in :mod:`haowurank.rankers` or call :func:`register`; check it with
    :class:`haowurank.testing.RankerContract`.
    """

    name: ClassVar[str] = ""
    #: Whether a known user's scores depend on the user (False: :meth:`shared_scores`).
    user_dependent: ClassVar[bool] = True
    #: Whether a known user's model scores are the dot products of :meth:`latent_factors`.
    has_factors: ClassVar[bool] = False
    #: Whether the scores read the social graph or friends' endorsements.
    uses_social: ClassVar[bool] = False
    #: Whether the ranker scores known users that have no interactions by itself.
    handles_empty_users: ClassVar[bool] = False
    batch_size: ClassVar[int] = 512

    # ------------------------------------------------------------------ parameters
    @classmethod
    def param_names(cls) -> list[str]:
        """Names of the hyperparameters (the keyword arguments of ``__init__``)."""
        sig = inspect.signature(cls.__init__)
        return [
            p.name for p in sig.parameters.values()
            if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        ]

    _param_names = param_names  # the name the strategies' own code uses

    def validate_params(self) -> None:
        """Check the hyperparameters as ``fit`` does; ``ValueError`` / ``TypeError`` naming the
        parameter, the expectation and the value."""
        self._validate_params()

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

    def check_fitted(self) -> None:
        """Raise :class:`~haowurank.NotFittedError` unless ``fit`` (or a load) has run."""
        self._check_fitted()

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

    def score_pairs(self, users: Sequence[Any], items: Sequence[Any]) -> np.ndarray:
        """Scores of arbitrary (user, item) pairs by caller id, without dense rows.

        Parameters
        ----------
        users, items : sequences of ids of equal length
            Pair ``k`` is ``(users[k], items[k])``.

        Returns
        -------
        ndarray of shape (len(users),), float32
            The score :meth:`score` gives the pair. Unknown users get the cold-start fallback;
            an unknown item gives NaN; an item that is not a candidate for the user gives -inf.
        """
        self._check_fitted()
        u = [users] if np.isscalar(users) or isinstance(users, str) else list(users)
        i = [items] if np.isscalar(items) or isinstance(items, str) else list(items)
        if len(u) != len(i):
            raise ValueError(
                f"The 'users' and 'items' parameters of {type(self).__name__}.score_pairs must "
                f"have the same length. Got {len(u)} and {len(i)}."
            )
        uidx = self._id_index("user").get_indexer(np.asarray(u, dtype=object)) if u else []
        iidx = self._id_index("item").get_indexer(np.asarray(i, dtype=object)) if i else []
        return self.score_pairs_at(uidx, iidx)

    def _pair_arrays(self, uidx: Any, iidx: Any, where: str) -> tuple[np.ndarray, np.ndarray]:
        """``uidx`` and ``iidx`` as checked index arrays of one length (pair ``k`` is
        (``uidx[k]``, ``iidx[k]``)); ``where`` names the calling method in errors."""
        u = self._index_array(uidx, len(self.user_ids_), "uidx", where)
        i = self._index_array(iidx, len(self.item_ids_), "iidx", where)
        if len(u) != len(i):
            raise ValueError(
                f"The 'uidx' and 'iidx' parameters of {type(self).__name__}.{where} must "
                f"have the same length. Got {len(u)} and {len(i)}."
            )
        return u, i

    def _index_array(self, idx: Any, size: int, what: str, where: str) -> np.ndarray:
        arr = np.asarray(idx)
        if arr.size == 0:
            return np.empty(0, dtype=np.int64)
        if arr.ndim != 1 or arr.dtype.kind not in "iu":
            raise TypeError(
                f"The {what!r} parameter of {type(self).__name__}.{where} must be a 1-D int "
                f"array. Got {arr.dtype} of shape {arr.shape}."
            )
        arr = arr.astype(np.int64, copy=False)
        if len(arr) and (arr.min() < -1 or arr.max() >= size):
            raise IndexError(
                f"The {what!r} parameter of {type(self).__name__}.{where} must hold indices in "
                f"[-1, {size}). Got values from {arr.min()} to {arr.max()}."
            )
        return arr

    def score_pairs_at(self, uidx: Any, iidx: Any) -> np.ndarray:
        """Scores of (user index, item index) pairs, without dense rows.

        Parameters
        ----------
        uidx : int array of shape (k,)
            Positions in ``user_ids_``; -1 is an unknown user (cold-start fallback).
        iidx : int array of shape (k,)
            Positions in ``item_ids_``; -1 gives NaN.

        Returns
        -------
        ndarray of shape (k,), float32
            Equal to ``score_rows(uidx)[k, iidx[k]]`` pair by pair. Rankers with
            ``has_factors`` score the pairs from :meth:`latent_factors` (O(k x factors)); the others
            through ``_score_at``, a block of users at a time.
        """
        self._check_fitted()
        uidx, iidx = self._pair_arrays(uidx, iidx, "score_pairs_at")
        out = np.full(len(iidx), np.nan, dtype=np.float32)
        ok = iidx >= 0
        fb = self._fallback_mask(uidx)
        out[ok & fb] = self.fallback_[iidx[ok & fb]]
        m = ok & ~fb
        if not m.any():
            return out
        f = self.latent_factors() if self.has_factors else None
        if f is not None:
            uf, itf = f
            out[m] = np.einsum("ij,ij->i", uf[uidx[m]], itf[iidx[m]])
            return out
        users, inv = np.unique(uidx[m], return_inverse=True)
        im = iidx[m]
        res = np.empty(len(im), dtype=np.float32)
        step = self._score_at_users()
        for s0 in range(0, len(users), step):
            sel = (inv >= s0) & (inv < s0 + step)
            res[sel] = self._score_at(users[s0 : s0 + step], inv[sel] - s0, im[sel])
        out[m] = res
        return out

    def score_rows(self, uidx: Any) -> np.ndarray:
        """Dense scores of users (by index) against every item, with the cold-start rule.

        Parameters
        ----------
        uidx : int array of shape (k,)
            Positions in ``user_ids_``; -1 is an unknown user.

        Returns
        -------
        ndarray of shape (k, n_items), float32
            Non-candidates score -inf; seen items are not masked. O(k x n_items) memory: callers
            with many users take them in blocks (or use :meth:`score_pairs_at`).
        """
        self._check_fitted()
        return self._score_block(self._index_array(uidx, len(self.user_ids_), "uidx",
                                                   "score_rows"))

    def candidates(
        self, users: Any, n: int = 100, *, exclude_seen: bool = True, items: Any = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Candidate retrieval for one user or a batch: the ``n`` best items and their scores.

        Same arguments and result as :meth:`recommend` (a strategy with a cheaper retrieval
        stage may override it); callers re-rank, filter or page the candidates themselves.
        """
        return self.recommend(users, n=n, exclude_seen=exclude_seen, items=items)

    def recommend_at(
        self, uidx: Any, n: int = 20, *, exclude_seen: bool = True,
        candidates: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` by index, for callers that map ids themselves (evaluation, Spark).

        Parameters
        ----------
        uidx : int array of shape (k,)
            Positions in ``user_ids_``; -1 is an unknown user.
        n : int
        exclude_seen : bool
        candidates : bool array of shape (n_items,), optional
            Items that may be recommended (None: all).

        Returns
        -------
        idx : ndarray of shape (k, n), int64
            Item indices, best first; -1 pads short lists.
        scores : ndarray of shape (k, n), float32
            -inf at the pads.
        """
        self._check_fitted()
        n = self._check_n(n, "recommend_at")
        uidx = self._index_array(uidx, len(self.user_ids_), "uidx", "recommend_at")
        if candidates is not None:
            candidates = np.asarray(candidates)
            if candidates.dtype != bool or candidates.shape != (len(self.item_ids_),):
                raise ValueError(
                    f"The 'candidates' parameter of {type(self).__name__}.recommend_at must be a "
                    f"boolean mask of shape ({len(self.item_ids_)},). Got {candidates.dtype} of "
                    f"shape {candidates.shape}."
                )
        parts = [self._recommend_idx(uidx[s0 : s0 + self.batch_size], n, exclude_seen, candidates)
                 for s0 in range(0, len(uidx), self.batch_size)]
        if not parts:
            return np.empty((0, n), dtype=np.int64), np.empty((0, n), dtype=np.float32)
        return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))

    def latent_factors(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``(user_factors, item_factors)`` of shapes (n_users, f) and (n_items, f) when
        ``has_factors`` (a known user's model score is their dot product), else None."""
        return None

    def shared_scores(self) -> np.ndarray | None:
        """The float32 scores of shape (n_items,) every known user gets when ``user_dependent``
        is False, else None."""
        return None

    def learned_arrays(self) -> dict[str, np.ndarray]:
        """The fitted arrays a saved artifact holds (besides the vocabularies), by name."""
        self._check_fitted()
        return {"fallback": self.fallback_, **csr_to_arrays("seen", self.seen_), **self._state()}

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

    def save(self, path: str, *, overwrite: bool = False) -> str:
        """Save the fitted ranker as one ``.npz`` of plain arrays with JSON metadata.

        The write is atomic (temporary file, then rename). An existing file is replaced only
        when it is a haowurank artifact; anything else raises ``FileExistsError`` unless
        ``overwrite=True``. Load it with :func:`haowurank.load_ranker`; nothing is pickled.
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
        return write_artifact(path, meta, arrays, overwrite=overwrite)

    def _restore(self, meta: dict, arrays: dict[str, np.ndarray]) -> None:
        """Set learned state from verified artifact arrays, checking each against the
        vocabularies before use; then score a few users (first, last, unknown) so arrays that
        do not fit the ranker fail here, not at the first request."""
        from .._errors import ArtifactError

        self.user_ids_ = _array_to_ids(arrays.pop("user_ids"), "user_ids")
        self.item_ids_ = _array_to_ids(arrays.pop("item_ids"), "item_ids")
        nu, ni = len(self.user_ids_), len(self.item_ids_)
        fb = arrays.pop("fallback")
        if fb.shape != (ni,) or fb.dtype.kind != "f" or not np.isfinite(fb).all():
            raise ArtifactError(
                f"field 'fallback' must be {ni} finite floats (one per item). Got {fb.dtype} of "
                f"shape {fb.shape}"
                f"{'' if fb.dtype.kind != 'f' or np.isfinite(fb).all() else ' with non-finite values'}."
            )
        self.fallback_ = fb
        self.seen_ = arrays_to_csr("seen", arrays)
        if self.seen_.shape != (nu, ni):
            raise ArtifactError(
                f"field 'seen.shape' must be ({nu}, {ni}) (users x items). Got {self.seen_.shape}."
            )
        _check_vocab_dims(arrays, nu, ni)
        self._set_state(arrays)
        self._probe_restored()

    def _probe_restored(self) -> None:
        """Score the first and last known user and an unknown one; a failure or a block of the
        wrong shape means the artifact's arrays do not fit together."""
        from .._errors import ArtifactError

        nu, ni = len(self.user_ids_), len(self.item_ids_)
        probe = np.unique(np.asarray([0, nu - 1, -1] if nu else [-1], dtype=np.int64))
        with np.errstate(all="ignore"):
            block = self._score_block(probe)
            idx, _ = self._recommend_idx(probe, min(3, max(ni, 1)), True, None)
        if block.shape != (len(probe), ni) or idx.shape[0] != len(probe):
            raise ArtifactError(
                f"the arrays give scores of shape {block.shape} for {len(probe)} users and "
                f"{ni} items."
            )
        if ((idx < -1) | (idx >= ni)).any():
            raise ArtifactError("the arrays give item indices outside the item vocabulary.")
