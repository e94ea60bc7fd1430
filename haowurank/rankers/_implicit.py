"""The one bridge to the ``implicit`` library (after lkpy's ``lenskit/implicit.py``).

Nothing else in haowurank imports ``implicit``. This module

- builds the user x item confidence matrix of a :class:`~haowurank.Dataset` (interaction kinds
  weighted by ``kind_weights``, then a ``weighting`` scheme: raw, binary, log, BM25 or TF-IDF),
- constructs implicit's models with a plain ``int`` ``random_state`` (derived once with
  :func:`haowurank._random.derive_seed`) and an explicit ``num_threads``,
- wraps them at the index level: dense scores, implicit's own multi-threaded C++ top-k as the fast
  batch ``recommend`` path (with haowurank's padding contract), fold-in of new or changed users
  without a full refit, explanations, and persistence as plain arrays (no pickle).

Callers (``_cf.py``, ``_social_als.py``) work with dense user/item indices; id <-> index mapping
stays in :class:`~haowurank.rankers.Ranker`.

Notes on implicit 0.7 that this module relies on (read from its source):

- ``fit(user_items)`` takes a users x items CSR of confidences; ALS multiplies it by ``alpha``
  (C = alpha * X, preference 1 wherever an entry is stored, so explicit zeros must never be
  stored).
- ``recommend(userids, user_items, N, filter_already_liked_items=..., items=...)`` needs one
  ``user_items`` row per requested user. Filtered items come back with score ``-FLT_MAX`` and an
  arbitrary id; when ``N`` exceeds the number of items the extra slots hold id 0 and score 0.
  :meth:`MFModel.recommend` turns both into haowurank pads (id -1, score -inf).
- ``recommend`` hands the scoring to ``implicit.cpu.topk.topk`` (BLAS product per batch of 100
  users, then a C++ partial sort, batches in parallel); its seen filter reads
  ``user_items[row].indices`` once per user, and that scipy row slice costs more than the top-k
  itself. :meth:`MFModel.recommend` calls the same ``topk`` with a light row view that answers
  ``[row].indices`` directly (same results, tested against ``model.recommend``), and uses
  ``model.recommend`` itself when candidates are restricted (``items=``).
- BPR's factors carry one extra column: a constant 1 in the user factors and the item bias in the
  item factors, so a plain dot product is the full score. BPR fitted with more than one thread is
  Hogwild SGD and not reproducible; ALS is reproducible for any thread count.
- ``ItemItemRecommender`` scores a user as ``x_u @ S`` (S: item x item similarity with K
  neighbours per item); haowurank computes the same product with scipy.
"""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp
from threadpoolctl import ThreadpoolController

from .._dataset import KINDS, Dataset
from ..kinds import CF_KIND_WEIGHTS

__all__ = [
    "WEIGHTINGS",
    "ItemKNNModel",
    "MFModel",
    "Weighting",
    "interaction_matrix",
    "replace_rows",
]

log = logging.getLogger(__name__)

#: Weighting schemes of the CF matrix.
WEIGHTINGS: tuple[str, ...] = ("raw", "binary", "log", "bm25", "tfidf")

_NEG = -np.finfo(np.float32).max


def _implicit():
    """Import implicit lazily (it checks the BLAS configuration on import of its models).

    implicit imports ``tqdm.auto``; in a notebook without ipywidgets that falls back to text bars
    with a TqdmWarning, which is not shown (as in :func:`haowurank._progress.tqdm`).
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="IProgress not found")
        import implicit.als
        import implicit.bpr
        import implicit.nearest_neighbours

    return implicit


_CONTROLLER: list = []


def _blas_controller() -> ThreadpoolController:
    """One ThreadpoolController for the process: ``threadpool_limits`` rescans every loaded
    library on each call (milliseconds, far more than a single-user recommend)."""
    if not _CONTROLLER:
        _implicit()  # its BLAS libraries are loaded before the controller looks for them
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0]


@contextlib.contextmanager
def _quiet_blas():
    """One BLAS thread (implicit's own recommendation: parallelism comes from its OpenMP loops,
    and a BLAS thread pool on top of it slows fitting down severely) and no CSR-conversion
    chatter from implicit."""
    with _blas_controller().limit(limits=1, user_api="blas"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Method expects CSR input")
        warnings.filterwarnings("ignore", message=".*configured to use .* threads")
        yield


# ---------------------------------------------------------------------------------------------
# the CF matrix
# ---------------------------------------------------------------------------------------------

def check_kind_weights(value: Any) -> bool:
    """Whether ``value`` is None or a dict from known kinds to finite weights >= 0."""
    if value is None:
        return True
    return (
        isinstance(value, dict)
        and all(k in KINDS for k in value)
        and all(
            isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v) and v >= 0
            for v in value.values()
        )
    )


def interaction_matrix(
    ds: Dataset, kind_weights: dict[str, float] | None = None, *, presence: bool = False
) -> sp.csr_matrix:
    """Users x items CSR (float32) of kind-weighted interactions.

    Parameters
    ----------
    ds : Dataset
    kind_weights : dict, optional
        Weight of each kind; kinds not named count 0. ``None`` uses
        :data:`~haowurank.kinds.CF_KIND_WEIGHTS`.
    presence : bool
        False: the sum over a user's rows for an item of ``weight * kind_weights[kind]`` (row
        weights such as play counts or quantities add up). True: the largest
        ``kind_weights[kind]`` among the kinds the user has for the item (row weights and repeats
        ignored), which is what ``weighting="binary"`` uses.

    Returns
    -------
    csr_matrix of shape (n_users, n_items)
        No stored zeros.
    """
    a = ds.interaction_arrays()
    return rows_from_arrays(
        a["user"], a["item"], a["kind"], a["weight"], (ds.n_users, ds.n_items), kind_weights,
        presence=presence,
    )


def rows_from_arrays(
    users: np.ndarray,
    items: np.ndarray,
    kinds: np.ndarray,
    weights: np.ndarray,
    shape: tuple[int, int],
    kind_weights: dict[str, float] | None,
    *,
    presence: bool = False,
) -> sp.csr_matrix:
    """:func:`interaction_matrix` from index-level arrays (``kinds`` as codes into
    :data:`~haowurank.KINDS`)."""
    kw = CF_KIND_WEIGHTS if kind_weights is None else kind_weights
    table = np.zeros(len(KINDS))
    for k, w in kw.items():
        table[KINDS.index(k)] = w
    kinds = np.asarray(kinds, dtype=np.int64)
    users = np.asarray(users, dtype=np.int64)
    items = np.asarray(items, dtype=np.int64)
    kv = table[kinds]
    if presence:
        keep = kv > 0
        users, items, kv = users[keep], items[keep], kv[keep]
        # max per (user, item): sort by key then value, keep the last of each key
        key = users * shape[1] + items
        order = np.lexsort((kv, key))
        key, kv = key[order], kv[order]
        last = np.ones(len(key), dtype=bool)
        last[:-1] = key[1:] != key[:-1]
        users, items, vals = key[last] // shape[1], key[last] % shape[1], kv[last]
    else:
        vals = np.asarray(weights, dtype=np.float64) * kv
    m = sp.csr_matrix((vals, (users, items)), shape=shape, dtype=np.float64)
    m.sum_duplicates()
    m.eliminate_zeros()
    m = m.astype(np.float32)
    m.sort_indices()
    return m


class Weighting:
    """A weighting scheme of the CF matrix, fitted on the training matrix and reusable on new rows.

    Parameters
    ----------
    scheme : {"raw", "binary", "log", "bm25", "tfidf"}
        ``raw``: the kind-weighted sums as they are; ``binary``: presence, i.e. the largest kind
        weight of the user's kinds for the item (1 for a purchase or an endorsement with the
        default kind weights, 0.1 for an item only viewed), the input built by
        :func:`interaction_matrix` with ``presence=True`` and left as it is;
        ``log``: ``log1p``; ``bm25``: implicit's ``bm25_weight`` applied to the items x users
        matrix (items are the documents, users the terms; this is how implicit's own examples
        weight play counts); ``tfidf``: implicit's ``tfidf_weight`` the same way.
    K1, B : float
        BM25 parameters (implicit's ``bm25_weight(X, K1=100, B=0.8)`` defaults).

    Notes
    -----
    BM25 and TF-IDF depend on statistics of the whole matrix. :meth:`fit_transform` calls
    implicit on the training matrix and stores the statistics (number of items, per-item length
    norm); :meth:`transform` applies the same formula to new rows with those stored statistics,
    which is what folding a new user in needs. Entries that a scheme maps to a value <= 0 (BM25 of a
    user who touched nearly every item) are dropped, because implicit reads any stored entry as a
    positive.
    """

    def __init__(self, scheme: str = "raw", K1: float = 100.0, B: float = 0.8):
        self.scheme = scheme
        self.K1 = float(K1)
        self.B = float(B)
        self.n_items_ = 0
        self.length_norm_: np.ndarray | None = None

    def fit_transform(self, X: sp.csr_matrix) -> sp.csr_matrix:
        X = sp.csr_matrix(X, dtype=np.float32)
        self.n_items_ = X.shape[1]
        if self.scheme in ("raw", "binary", "log"):
            return self.transform(X)
        nn = _implicit().nearest_neighbours
        if self.scheme == "bm25":
            item_sums = np.asarray(X.sum(axis=0), dtype=np.float64).ravel()
            avg = item_sums.mean() if len(item_sums) else 1.0
            self.length_norm_ = (1.0 - self.B) + self.B * item_sums / (avg if avg > 0 else 1.0)
            W = nn.bm25_weight(X.T.tocoo(), K1=self.K1, B=self.B).T
        elif self.scheme == "tfidf":
            W = nn.tfidf_weight(X.T.tocoo()).T
        else:
            raise ValueError(f"Unknown weighting {self.scheme!r}; expected one of {list(WEIGHTINGS)}.")
        return _clean(sp.csr_matrix(W, dtype=np.float32))

    def transform(self, rows: sp.csr_matrix) -> sp.csr_matrix:
        """Weight new user rows (n, n_items) with the statistics of the training matrix."""
        X = sp.csr_matrix(rows, dtype=np.float32, copy=True)
        s = self.scheme
        if s == "raw":
            pass
        elif s == "binary":
            pass  # presence with kind weights is built upstream (interaction_matrix(presence=True))
        elif s == "log":
            X.data = np.log1p(X.data)
        elif s in ("bm25", "tfidf"):
            counts = np.diff(X.indptr).astype(np.float64)
            idf = np.log(float(self.n_items_)) - np.log1p(counts)
            row = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
            x = X.data.astype(np.float64)
            if s == "bm25":
                ln = self.length_norm_[X.indices]
                X.data = (x * (self.K1 + 1.0) / (self.K1 * ln + x) * idf[row]).astype(np.float32)
            else:
                X.data = (np.sqrt(x) * idf[row]).astype(np.float32)
        else:
            raise ValueError(f"Unknown weighting {s!r}; expected one of {list(WEIGHTINGS)}.")
        return _clean(X)

    def state(self, prefix: str) -> dict[str, np.ndarray]:
        out = {f"{prefix}.n_items": np.asarray([self.n_items_], dtype=np.int64)}
        if self.length_norm_ is not None:
            out[f"{prefix}.length_norm"] = self.length_norm_
        return out

    def set_state(self, prefix: str, arrays: dict[str, np.ndarray]) -> None:
        self.n_items_ = int(arrays[f"{prefix}.n_items"][0])
        self.length_norm_ = arrays.get(f"{prefix}.length_norm")


def _clean(X: sp.csr_matrix) -> sp.csr_matrix:
    X = sp.csr_matrix(X, dtype=np.float32)
    if X.nnz and (X.data <= 0).any():
        X.data[X.data < 0] = 0.0
        X.eliminate_zeros()
    X.sort_indices()
    return X


def replace_rows(M: sp.csr_matrix, rows: np.ndarray, new: sp.csr_matrix) -> sp.csr_matrix:
    """A copy of CSR ``M`` whose rows ``rows`` are replaced by the rows of ``new``.

    ``M`` is first grown with empty rows when ``rows`` reaches past its end.
    """
    rows = np.asarray(rows, dtype=np.int64)
    n = max(M.shape[0], int(rows.max()) + 1 if len(rows) else 0)
    M = sp.csr_matrix(M)
    if n > M.shape[0]:
        M = sp.vstack([M, sp.csr_matrix((n - M.shape[0], M.shape[1]), dtype=M.dtype)]).tocsr()
    keep = np.ones(n, dtype=bool)
    keep[rows] = False
    coo = M.tocoo()
    sel = keep[coo.row]
    new = sp.csr_matrix(new).tocoo()
    r = np.concatenate([coo.row[sel], rows[new.row]])
    c = np.concatenate([coo.col[sel], new.col])
    v = np.concatenate([coo.data[sel], new.data.astype(M.dtype)])
    out = sp.csr_matrix((v, (r, c)), shape=(n, M.shape[1]), dtype=M.dtype)
    out.sort_indices()
    return out


# ---------------------------------------------------------------------------------------------
# progress callbacks
# ---------------------------------------------------------------------------------------------

def _epoch_callback(
    label: str, total: int, callback: Callable[[str, float], None] | None
) -> Callable[..., None] | None:
    """implicit calls ``callback(epoch, seconds, loss)``; haowurank's is ``callback(stage, fraction)``."""
    if callback is None:
        return None

    def cb(epoch: int, elapsed: float, *rest: Any) -> None:
        callback(f"{label}: iteration {epoch + 1}/{total}", (epoch + 1) / max(1, total))

    return cb


# ---------------------------------------------------------------------------------------------
# matrix factorisation models (ALS, BPR)
# ---------------------------------------------------------------------------------------------

class MFModel:
    """An implicit matrix-factorisation model (ALS or BPR) at the index level.

    Build it with :meth:`als` or :meth:`bpr`, then :meth:`fit`. ``user_factors`` and
    ``item_factors`` are float32 numpy arrays of shape (n_users, k) and (n_items, k), where
    k = factors for ALS and factors + 1 for BPR (user column of ones, item bias column).
    """

    def __init__(self, kind: str, model: Any, params: dict[str, Any]):
        self.kind = kind
        self.model = model
        self.params = params

    # ---------------------------------------------------------------- construction
    @classmethod
    def als(
        cls,
        *,
        factors: int,
        regularization: float,
        alpha: float,
        iterations: int,
        random_state: int,
        num_threads: int = 0,
        use_cg: bool = True,
    ) -> MFModel:
        """implicit's ``AlternatingLeastSquares`` (Hu, Koren & Volinsky 2008; CG solver of
        Takacs, Pilaszy & Tikk 2011), float32, CPU."""
        imp = _implicit()
        params = dict(
            factors=int(factors), regularization=float(regularization), alpha=float(alpha),
            iterations=int(iterations), random_state=int(random_state),
            num_threads=int(num_threads), use_cg=bool(use_cg),
        )
        with _quiet_blas():
            model = imp.als.AlternatingLeastSquares(
                factors=params["factors"], regularization=params["regularization"],
                alpha=params["alpha"], iterations=params["iterations"], dtype=np.float32,
                use_native=True, use_cg=params["use_cg"], calculate_training_loss=False,
                num_threads=params["num_threads"], random_state=params["random_state"],
            )
        return cls("als", model, params)

    @classmethod
    def bpr(
        cls,
        *,
        factors: int,
        learning_rate: float,
        regularization: float,
        iterations: int,
        random_state: int,
        num_threads: int = 1,
        verify_negative_samples: bool = True,
    ) -> MFModel:
        """implicit's CPU ``BayesianPersonalizedRanking`` (Rendle et al. 2009), float32."""
        import implicit.cpu.bpr as cpu_bpr

        params = dict(
            factors=int(factors), learning_rate=float(learning_rate),
            regularization=float(regularization), iterations=int(iterations),
            random_state=int(random_state), num_threads=int(num_threads),
            verify_negative_samples=bool(verify_negative_samples),
        )
        model = cpu_bpr.BayesianPersonalizedRanking(
            factors=params["factors"], learning_rate=params["learning_rate"],
            regularization=params["regularization"], dtype=np.float32,
            iterations=params["iterations"], num_threads=params["num_threads"],
            verify_negative_samples=params["verify_negative_samples"],
            random_state=params["random_state"],
        )
        return cls("bpr", model, params)

    # ---------------------------------------------------------------- fitting
    def fit(
        self,
        X: sp.csr_matrix,
        *,
        show_progress: bool = False,
        callback: Callable[[str, float], None] | None = None,
    ) -> MFModel:
        """Fit on a users x items CSR of confidences (float32, no stored zeros)."""
        X = sp.csr_matrix(X, dtype=np.float32)
        self.model.user_factors = None
        self.model.item_factors = None
        t0 = time.perf_counter()
        with _quiet_blas():
            self.model.fit(
                X,
                show_progress=show_progress,
                callback=_epoch_callback(self.kind, self.params["iterations"], callback),
            )
        log.info(
            "%s: fitted %d x %d matrix (%d entries) in %.2fs", self.kind, X.shape[0], X.shape[1],
            X.nnz, time.perf_counter() - t0,
        )
        self._reset_caches()
        return self

    def _reset_caches(self) -> None:
        m = self.model
        m._user_norms = m._item_norms = None
        if hasattr(m, "_YtY"):
            m._YtY = None
            m._XtX = None

    @property
    def user_factors(self) -> np.ndarray:
        return self.model.user_factors

    @property
    def item_factors(self) -> np.ndarray:
        return self.model.item_factors

    @property
    def num_threads(self) -> int:
        return self.params["num_threads"]

    # ---------------------------------------------------------------- scoring
    def scores(self, uidx: np.ndarray) -> np.ndarray:
        """Dense scores (len(uidx), n_items), float32: user factor . item factor."""
        return np.asarray(self.user_factors[uidx] @ self.item_factors.T, dtype=np.float32)

    def recommend(
        self,
        uidx: np.ndarray,
        user_items: sp.csr_matrix,
        n: int,
        *,
        exclude_seen: bool,
        items: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """implicit's C++ top-k for a batch of known users, with haowurank's padding contract.

        Parameters
        ----------
        uidx : ndarray of int, shape (b,)
            User indices, all within the model.
        user_items : csr_matrix of shape (b, n_items)
            Row ``k`` holds the items to filter for ``uidx[k]`` (its seen items).
        n : int
            List length.
        exclude_seen : bool
            Filter the items of ``user_items``.
        items : ndarray of int, optional
            Restrict candidates to these item indices.

        Returns
        -------
        idx : ndarray of int64, shape (b, n)
            Item indices, best first; -1 pads.
        scores : ndarray of float32, shape (b, n)
            -inf at pads. Equal scores are ordered by item index.
        """
        b = len(uidx)
        n_cand = self.item_factors.shape[0] if items is None else len(items)
        k = min(n, n_cand)
        if b == 0 or k == 0:
            return np.full((b, n), -1, dtype=np.int64), np.full((b, n), -np.inf, dtype=np.float32)
        user_items = sp.csr_matrix(user_items)
        n_items = self.item_factors.shape[0]
        with _quiet_blas():
            if _cpu_topk() is not None and (items is None or 2 * len(items) >= n_items):
                # implicit's own C++ top-k (what model.recommend calls), with the seen filter
                # handed over as a light row view instead of one scipy CSR slice per user; a
                # candidate set covering most items is passed as its complement, masked to
                # -inf inside the top-k (filtered slots come back as pads), instead of
                # implicit's ``items=`` path, which copies the factor rows of the candidates
                # and remaps every seen row on each call (timings in
                # experiments/scoring_paths/)
                drop = None
                if items is not None:
                    keep = np.zeros(n_items, dtype=bool)
                    keep[np.asarray(items, dtype=np.int64)] = True
                    drop = np.flatnonzero(~keep).astype(np.int32)
                ids, sc = _cpu_topk()(
                    self.item_factors,
                    self.user_factors[np.asarray(uidx, dtype=np.int64)],
                    k if drop is None else min(n, n_items),
                    filter_query_items=_RowView(user_items) if exclude_seen else None,
                    filter_items=drop if drop is not None and len(drop) else None,
                    num_threads=self.num_threads,
                )
            else:
                ids, sc = self.model.recommend(
                    np.asarray(uidx, dtype=np.int32),
                    user_items,
                    N=k,
                    filter_already_liked_items=bool(exclude_seen),
                    items=None if items is None else np.asarray(items, dtype=np.int32),
                )
        return finish_topk(ids, sc, n)

    # ---------------------------------------------------------------- fold-in
    def recalculate_users(self, rows: sp.csr_matrix, *, seed: int = 0) -> np.ndarray:
        """Factors of users with these confidence rows, item factors held fixed.

        ALS: implicit's ``recalculate_user`` (the exact least-squares solve of one ALS half-step).
        BPR: implicit has no fold-in for BPR, so this runs gradient ascent on the BPR objective
        for the user vector alone (item factors and biases fixed): ``iterations`` steps, each the
        sum of one epoch of implicit's per-sample updates (one sampled negative per positive,
        the model's learning rate and regularization), seeded by ``seed``.
        """
        rows = sp.csr_matrix(rows, dtype=np.float32)
        if self.kind == "als":
            with _quiet_blas():
                uf = self.model.recalculate_user(np.arange(rows.shape[0]), rows)
            return np.asarray(uf, dtype=np.float32).reshape(rows.shape[0], -1)
        return self._bpr_fold_in(rows, seed)

    def _bpr_fold_in(self, rows: sp.csr_matrix, seed: int) -> np.ndarray:
        V = self.item_factors.astype(np.float64)
        n_items, k = V.shape
        lr = self.params["learning_rate"]
        reg = self.params["regularization"]
        rng = np.random.default_rng(seed)
        out = np.zeros((rows.shape[0], k), dtype=np.float32)
        out[:, -1] = 1.0
        for r in range(rows.shape[0]):
            pos = rows.indices[rows.indptr[r] : rows.indptr[r + 1]]
            u = np.zeros(k)
            u[-1] = 1.0
            u[:-1] = (rng.random(k - 1) - 0.5) / (k - 1)
            if len(pos) == 0 or len(pos) >= n_items:
                out[r, :-1] = 0.0
                continue
            liked = np.zeros(n_items, dtype=bool)
            liked[pos] = True
            for _ in range(max(1, self.params["iterations"])):
                neg = rng.integers(0, n_items, size=len(pos))
                neg = np.where(liked[neg], rng.integers(0, n_items, size=len(pos)), neg)
                ok = ~liked[neg]
                d = V[pos[ok]] - V[neg[ok]]
                z = np.clip(d @ u, -30, 30)
                g = 1.0 / (1.0 + np.exp(z))
                # one epoch of implicit's per-sample updates u += lr (g d - reg u), applied at once
                grad = (g[:, None] * d).sum(axis=0) - reg * len(d) * u
                u[:-1] += lr * grad[:-1]
            out[r] = u.astype(np.float32)
        return out

    def set_user_factors(self, uidx: np.ndarray, factors: np.ndarray) -> None:
        """Store factors for users (the array grows with zero rows for new indices)."""
        uidx = np.asarray(uidx, dtype=np.int64)
        U = self.model.user_factors
        need = int(uidx.max()) + 1 if len(uidx) else 0
        if need > U.shape[0]:
            pad = np.zeros((need - U.shape[0], U.shape[1]), dtype=U.dtype)
            if self.kind == "bpr":
                pad[:, -1] = 1.0
            U = np.concatenate([U, pad])
        U[uidx] = factors
        self.model.user_factors = U
        self._reset_caches()

    # ---------------------------------------------------------------- explanations
    def explain(self, u: int, row: sp.csr_matrix, i: int, n: int = 5) -> dict[str, Any]:
        """Terms of user ``u``'s score for item ``i``.

        ALS: implicit's ``explain`` (Hu, Koren & Volinsky 2008, section 5): the score of the exact
        least-squares user vector decomposes into one term per liked item j,
        ``c_uj * y_i^T W_u y_j``; the top ``n`` of them are returned with that total. BPR: the item
        bias and the liked items whose factors are most similar (cosine) to item ``i``.
        """
        out: dict[str, Any] = {}
        if self.kind == "als":
            row = sp.csr_matrix(row, dtype=np.float32)
            with _quiet_blas():
                total, top, _ = self.model.explain(0, row, int(i), N=n)
            out["explained_score"] = float(total)
            out["contributions"] = [(int(j), float(s)) for j, s in top]
        else:
            V = self.item_factors
            liked = sp.csr_matrix(row).indices
            out["item_bias"] = float(V[i, -1])
            if len(liked):
                a = V[liked, :-1]
                b = V[i, :-1]
                cos = (a @ b) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b) + 1e-12)
                order = np.argsort(-cos, kind="stable")[:n]
                out["contributions"] = [(int(liked[o]), float(cos[o])) for o in order]
            else:
                out["contributions"] = []
        return out

    # ---------------------------------------------------------------- persistence
    def state(self, prefix: str) -> dict[str, np.ndarray]:
        return {
            f"{prefix}.user_factors": np.ascontiguousarray(self.user_factors),
            f"{prefix}.item_factors": np.ascontiguousarray(self.item_factors),
        }

    def set_state(self, prefix: str, arrays: dict[str, np.ndarray]) -> None:
        self.model.user_factors = np.ascontiguousarray(arrays[f"{prefix}.user_factors"])
        self.model.item_factors = np.ascontiguousarray(arrays[f"{prefix}.item_factors"])
        self._reset_caches()


class _Row:
    __slots__ = ("indices",)

    def __init__(self, indices: np.ndarray):
        self.indices = indices


class _RowView:
    """``view[r].indices`` = the column indices of row ``r`` of a CSR matrix: all that implicit's
    ``topk`` reads from ``filter_query_items``, at a fraction of the cost of a CSR row slice."""

    __slots__ = ("indices", "indptr")

    def __init__(self, m: sp.csr_matrix):
        self.indptr = m.indptr
        self.indices = m.indices

    def __getitem__(self, r: int) -> _Row:
        return _Row(self.indices[self.indptr[r] : self.indptr[r + 1]])


_TOPK: list = []


def _cpu_topk():
    """implicit's C++ ``topk`` (``implicit.cpu.topk.topk``), or None if this implicit lacks it."""
    if not _TOPK:
        try:
            from implicit.cpu.topk import topk as fn
        except ImportError:  # pragma: no cover - other implicit layouts use model.recommend
            fn = None
        _TOPK.append(fn)
    return _TOPK[0]


def finish_topk(ids: np.ndarray, sc: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """implicit's top-k output -> haowurank's: filtered slots become (-1, -inf), equal scores are
    ordered by item index, rows padded to ``n``."""
    ids = np.asarray(ids, dtype=np.int64).reshape(-1, np.shape(ids)[-1])
    sc = np.asarray(sc, dtype=np.float32).reshape(ids.shape)
    bad = ~np.isfinite(sc) | (sc <= _NEG)
    ids = np.where(bad, -1, ids)
    sc = np.where(bad, np.float32(-np.inf), sc)
    if ids.shape[1] > 1:
        # stable order for ties: score descending, then item index (pads last)
        key_idx = np.where(bad, np.iinfo(np.int64).max, ids)
        order = np.lexsort((key_idx, -sc.astype(np.float64)), axis=-1)
        ids = np.take_along_axis(ids, order, axis=1)
        sc = np.take_along_axis(sc, order, axis=1)
    k = ids.shape[1]
    if k < n:
        ids = np.pad(ids, ((0, 0), (0, n - k)), constant_values=-1)
        sc = np.pad(sc, ((0, 0), (0, n - k)), constant_values=-np.inf)
    return ids, sc


# ---------------------------------------------------------------------------------------------
# item-item nearest neighbours
# ---------------------------------------------------------------------------------------------

SIMILARITIES: tuple[str, ...] = ("cosine", "bm25", "tfidf")


class ItemKNNModel:
    """implicit's item-item nearest-neighbour models (``CosineRecommender``, ``BM25Recommender``,
    ``TFIDFRecommender``): K neighbours per item; a user's score for item i is
    ``sum_j x_uj * S[j, i]`` over the user's items j (implicit's ``NearestNeighboursScorer``
    computes exactly this; haowurank evaluates it as a sparse product so every item gets a
    score, 0 where no liked item has it as a neighbour).
    """

    def __init__(self, similarity: str = "cosine", K: int = 100, K1: float = 1.2, B: float = 0.75,
                 num_threads: int = 0):
        self.similarity_kind = similarity
        self.K = int(K)
        self.K1 = float(K1)
        self.B = float(B)
        self.num_threads = int(num_threads)
        self.similarity: sp.csr_matrix | None = None

    def fit(self, X: sp.csr_matrix, *, show_progress: bool = False) -> ItemKNNModel:
        nn = _implicit().nearest_neighbours
        if self.similarity_kind == "cosine":
            model = nn.CosineRecommender(K=self.K, num_threads=self.num_threads)
        elif self.similarity_kind == "bm25":
            model = nn.BM25Recommender(K=self.K, K1=self.K1, B=self.B, num_threads=self.num_threads)
        elif self.similarity_kind == "tfidf":
            model = nn.TFIDFRecommender(K=self.K, num_threads=self.num_threads)
        else:
            raise ValueError(
                f"Unknown similarity {self.similarity_kind!r}; expected one of {list(SIMILARITIES)}."
            )
        t0 = time.perf_counter()
        with _quiet_blas():
            model.fit(sp.csr_matrix(X, dtype=np.float32), show_progress=show_progress)
        S = sp.csr_matrix(model.similarity, dtype=np.float32)
        S.sort_indices()
        self.similarity = S
        log.info("item_knn: %s similarity over %d items in %.2fs", self.similarity_kind,
                 S.shape[0], time.perf_counter() - t0)
        return self

    def scores(self, rows: sp.csr_matrix) -> np.ndarray:
        """Dense scores (n_rows, n_items), float32, of user rows (n_rows, n_items)."""
        return np.asarray((sp.csr_matrix(rows) @ self.similarity).toarray(), dtype=np.float32)

    def state(self, prefix: str) -> dict[str, np.ndarray]:
        S = self.similarity
        return {
            f"{prefix}.data": S.data, f"{prefix}.indices": S.indices,
            f"{prefix}.indptr": S.indptr, f"{prefix}.shape": np.asarray(S.shape, dtype=np.int64),
        }

    def set_state(self, prefix: str, arrays: dict[str, np.ndarray]) -> None:
        shape = tuple(int(x) for x in arrays[f"{prefix}.shape"])
        self.similarity = sp.csr_matrix(
            (arrays[f"{prefix}.data"], arrays[f"{prefix}.indices"], arrays[f"{prefix}.indptr"]),
            shape=shape,
        )
