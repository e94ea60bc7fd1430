"""Collaborative-filtering rankers: ``als``, ``bpr``, ``item_knn`` (implicit, through the bridge
module ``_implicit``), ``ease`` (EASE^R, closed form, numpy/scipy) and
``rp3beta`` (a random-walk item-item model, scipy.sparse).

All five learn from one user x item confidence matrix built by the bridge. With
``weighting="binary"`` (the default) an entry is the largest kind weight among the user's kinds
for the item (default kind weights: every kind 1, views 0.1, clicks 0.25); with the other schemes
every interaction row counts ``weight * kind_weights[kind]`` and the scheme (``"raw"``, ``"log"``,
``"bm25"``, ``"tfidf"``) is applied to the sums.

Cold start (the base-class contract): an unknown user, or a known user whose CF row is empty
(e.g. only kinds weighted 0), gets the popularity fallback. New users can be folded into a fitted
model without a refit with :meth:`CFRanker.partial_fit_users`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.linalg
import scipy.sparse as sp

from .._checks import is_int, is_real
from .._dataset import KINDS, Dataset
from .._errors import NumericalError, warn_data
from .._random import derive_seed
from ._base import Ranker, arrays_to_csr, csr_to_arrays, sparse_topk
from ._implicit import (
    SIMILARITIES,
    WEIGHTINGS,
    ItemKNNModel,
    MFModel,
    Weighting,
    check_kind_weights,
    interaction_matrix,
    replace_rows,
    rows_from_arrays,
)

__all__ = ["ALSRanker", "BPRRanker", "CFRanker", "EaseRanker", "ItemKNNRanker", "RP3BetaRanker",
           "ease_weights", "rp3beta_weights"]

log = logging.getLogger(__name__)


class CFRanker(Ranker):
    """Shared machinery of the CF rankers: the CF matrix, the empty-row rule, fold-in, persistence.

    Learned state common to all of them:

    ``cf_raw_`` : csr_matrix of shape (n_users, n_items)
        Kind-weighted interaction sums (before ``weighting``).
    ``cf_`` : csr_matrix of shape (n_users, n_items)
        The confidence matrix the model was fitted on (``weighting`` applied); row ``u`` is what
        the model knows about user ``u``.
    ``weighting_`` : :class:`~haowurank.rankers._implicit.Weighting`
        The fitted weighting, reused on folded-in rows.
    """

    batch_size: ClassVar[int] = 1024

    # ---------------------------------------------------------------- parameters
    def _validate_cf_params(self) -> None:
        self._check_param(
            "kind_weights", check_kind_weights(self.kind_weights),
            f"None or a dict from kinds {list(KINDS)} to finite weights >= 0",
        )
        self._check_param("weighting", self.weighting in WEIGHTINGS, f"one of {list(WEIGHTINGS)}")
        self._check_param("bm25_k1", is_real(self.bm25_k1, 0.0), "a finite number >= 0")
        self._check_param("bm25_b", is_real(self.bm25_b, 0.0) and self.bm25_b <= 1,
                          "a number in [0, 1]")

    def _check_seed(self) -> None:
        self._check_param(
            "random_state",
            self.random_state is None or is_int(self.random_state, 0),
            "None or a non-negative int",
        )

    def _seed(self) -> int:
        """The plain int ``random_state`` handed to implicit (None: fresh entropy each fit)."""
        return derive_seed(None if self.random_state is None else int(self.random_state))

    # ---------------------------------------------------------------- the CF matrix
    def _build_cf(self, ds: Dataset) -> None:
        self.cf_raw_ = interaction_matrix(
            ds, self.kind_weights, presence=self.weighting == "binary"
        )
        self.weighting_ = Weighting(self.weighting, K1=self.bm25_k1, B=self.bm25_b)
        self.cf_ = self.weighting_.fit_transform(self.cf_raw_)
        if self.cf_.nnz == 0:
            warn_data(
                f"{type(self).__name__}: the CF matrix is empty (no interaction of a kind with a "
                f"weight > 0 in kind_weights={self.kind_weights!r}); every user gets the "
                f"popularity fallback."
            )

    def _empty_users(self, uidx: np.ndarray) -> np.ndarray:
        """Users whose CF row is empty get the popularity fallback (a factor model has nothing
        to say about them)."""
        return np.diff(self.cf_.indptr)[uidx] == 0

    # ---------------------------------------------------------------- fold-in
    def partial_fit_users(self, interactions: pd.DataFrame) -> CFRanker:
        """Fold new interaction rows into the fitted model without a full refit.

        Parameters
        ----------
        interactions : DataFrame
            Columns ``user``, ``item``; optional ``kind`` (default ``"purchase"``), ``weight``
            (default 1), ``visibility`` and ``timestamp``; validated like
            :meth:`haowurank.Dataset.from_frames`. Rows are *added* to what the model already
            knows about each user (new events, not a replacement of the history).

        Returns
        -------
        self

        Notes
        -----
        - Users not seen in training are appended to the user vocabulary; afterwards they are
          known users (their seen items are filtered, ``recommend`` uses their folded-in state).
        - Items unknown to the model cannot be folded in (that needs a refit); their rows are
          dropped with a :class:`~haowurank.DataWarning` saying how many.
        - Each touched user's row is re-weighted with the statistics of the training matrix
          (``Weighting.transform``) and the user's model state is recomputed with item-side state
          fixed: ALS via implicit's ``recalculate_user`` (the exact least-squares solve), BPR by
          the gradient fold-in of ``MFModel.recalculate_users``; ``item_knn`` and ``ease`` score a
          user from the row alone, so replacing the row is the whole update.
        - Item factors, similarities, ``B`` and the popularity fallback are unchanged: refit
          periodically to learn from the new rows on the item side.
        """
        self._check_fitted()
        new = Dataset.from_frames(interactions)
        arrays = self._map_rows(new)
        if arrays is None:
            return self
        self._apply_rows(arrays)
        self._refresh_rows(np.unique(arrays["user"]))
        return self

    def update_users(self, interactions: pd.DataFrame) -> CFRanker:
        """Alias of :meth:`partial_fit_users`."""
        return self.partial_fit_users(interactions)

    def _grow_users(self, user_ids: np.ndarray) -> np.ndarray:
        """Indices of caller user ids, appending unknown ones to the vocabulary."""
        vocab = self.user_ids_
        if len(user_ids) and len(vocab) and (user_ids.dtype == object) != (vocab.dtype == object):
            raise TypeError(
                f"The 'user' ids of the new rows are {'str' if user_ids.dtype == object else 'int'} "
                f"but the model's user ids are {'str' if vocab.dtype == object else 'int'}."
            )
        uniq, inverse = np.unique(np.asarray(user_ids), return_inverse=True)
        idx = pd.Index(vocab).get_indexer(np.asarray(uniq, dtype=object)).astype(np.int64)
        missing = idx < 0
        if missing.any():
            n0 = len(vocab)
            idx[missing] = n0 + np.arange(int(missing.sum()))
            self.user_ids_ = np.concatenate([vocab, uniq[missing].astype(vocab.dtype)])
            self._grow_user_state(len(self.user_ids_))
            log.info("%s: %d new user(s) folded in", self.name, int(missing.sum()))
        return idx[inverse.ravel()]

    def _grow_user_state(self, n_users: int) -> None:
        def grow(m: sp.csr_matrix) -> sp.csr_matrix:
            if m.shape[0] >= n_users:
                return m
            extra = sp.csr_matrix((n_users - m.shape[0], m.shape[1]), dtype=m.dtype)
            return sp.vstack([m, extra]).tocsr()

        self.seen_ = grow(self.seen_)
        self.cf_raw_ = grow(self.cf_raw_)
        self.cf_ = grow(self.cf_)

    def _map_rows(self, new: Dataset) -> dict[str, np.ndarray] | None:
        a = new.interaction_arrays()
        iidx = pd.Index(self.item_ids_).get_indexer(
            np.asarray(new.item_ids, dtype=object)
        ).astype(np.int64)
        items = iidx[a["item"]] if len(a["item"]) else np.empty(0, dtype=np.int64)
        unknown = items < 0
        if unknown.any():
            warn_data(
                f"{type(self).__name__}.partial_fit_users: dropped {int(unknown.sum())} row(s) "
                f"with item ids unknown to the model (folding in new items needs a refit)."
            )
        keep = ~unknown
        if not keep.any():
            return None
        used_users = np.unique(a["user"][keep])
        uidx_of = np.full(new.n_users, -1, dtype=np.int64)
        uidx_of[used_users] = self._grow_users(new.user_ids[used_users])
        out = {k: np.asarray(v)[keep] for k, v in a.items()}
        out["user"] = uidx_of[out["user"]]
        out["item"] = items[keep]
        return out

    def _apply_rows(self, arrays: dict[str, np.ndarray]) -> None:
        """Add new rows to ``seen_`` and ``cf_raw_`` (``_refresh_rows`` then refolds users)."""
        shape = (len(self.user_ids_), len(self.item_ids_))
        seen = sp.csr_matrix(
            (np.ones(len(arrays["user"]), dtype=np.float32), (arrays["user"], arrays["item"])),
            shape=shape,
        )
        self.seen_ = (self.seen_ + seen).tocsr()
        self.seen_.data[:] = 1.0
        self.seen_.sort_indices()
        presence = self.weighting == "binary"
        delta = rows_from_arrays(
            arrays["user"], arrays["item"], arrays["kind"], arrays["weight"], shape,
            self.kind_weights, presence=presence,
        )
        both = self.cf_raw_.maximum(delta) if presence else self.cf_raw_ + delta
        self.cf_raw_ = sp.csr_matrix(both, dtype=np.float32)
        self.cf_raw_.sort_indices()

    def _refresh_rows(self, users: np.ndarray) -> None:
        """Recompute the model rows of ``users`` from ``cf_raw_`` and fold them in."""
        rows = self.weighting_.transform(self.cf_raw_[users])
        self.cf_ = replace_rows(self.cf_, users, rows)
        self._fold_in(users)

    def _fold_in(self, uidx: np.ndarray) -> None:
        """Recompute the learned per-user state of ``uidx`` from ``cf_`` (subclass hook)."""

    # ---------------------------------------------------------------- persistence
    def _cf_state(self) -> dict[str, np.ndarray]:
        return {
            **csr_to_arrays("cf_raw", self.cf_raw_),
            **csr_to_arrays("cf", self.cf_),
            **self.weighting_.state("weighting"),
        }

    def _set_cf_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.cf_raw_ = arrays_to_csr("cf_raw", arrays)
        self.cf_ = arrays_to_csr("cf", arrays)
        self.weighting_ = Weighting(self.weighting, K1=self.bm25_k1, B=self.bm25_b)
        self.weighting_.set_state("weighting", arrays)

    def _item_label(self, i: int) -> str:
        return repr(self.item_ids_[i].item() if hasattr(self.item_ids_[i], "item") else
                    self.item_ids_[i])


class _MFRanker(CFRanker):
    """Matrix-factorisation rankers: scores are dot products; batch ``recommend`` runs implicit's
    multi-threaded C++ top-k (:meth:`MFModel.recommend`) for known users with a non-empty row, and
    the base class path (popularity fallback) for the rest."""

    has_factors: ClassVar[bool] = True
    # implicit batches internally (100 users per BLAS call); large batches here only save calls
    batch_size: ClassVar[int] = 65536
    #: batch size of the dense fallback path (unknown and empty users)
    fallback_batch_size: ClassVar[int] = 512

    def _score(self, uidx: np.ndarray) -> np.ndarray:
        return self.model_.scores(uidx)

    def latent_factors(self) -> tuple[np.ndarray, np.ndarray]:
        """``(user_factors, item_factors)`` of the implicit model, by user / item index."""
        self._check_fitted()
        return self.model_.user_factors, self.model_.item_factors

    def _recommend_idx(
        self, uidx: np.ndarray, n: int, exclude_seen: bool, cand: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        use = uidx >= 0
        if use.any():
            use[use] = ~self._empty_users(uidx[use])
        items = None if cand is None else np.flatnonzero(cand)
        if use.all():
            return self.model_.recommend(
                uidx, self.seen_[uidx], n, exclude_seen=exclude_seen, items=items
            )
        idx = np.full((len(uidx), n), -1, dtype=np.int64)
        sc = np.full((len(uidx), n), -np.inf, dtype=np.float32)
        if use.any():
            u = uidx[use]
            idx[use], sc[use] = self.model_.recommend(
                u, self.seen_[u], n, exclude_seen=exclude_seen, items=items
            )
        rest = np.flatnonzero(~use)
        step = self.fallback_batch_size
        for s0 in range(0, len(rest), step):
            part = rest[s0 : s0 + step]
            idx[part], sc[part] = super()._recommend_idx(uidx[part], n, exclude_seen, cand)
        return idx, sc

    def _fold_in(self, uidx: np.ndarray) -> None:
        factors = self.model_.recalculate_users(self.cf_[uidx], seed=self._seed())
        self.model_.set_user_factors(uidx, factors)

    def _new_model(self) -> MFModel:
        raise NotImplementedError

    def _state(self) -> dict[str, np.ndarray]:
        return {**self._cf_state(), **self.model_.state("model")}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self._set_cf_state(arrays)
        self.model_ = self._new_model()
        self.model_.set_state("model", arrays)

    def _contributions_text(self, contrib: list[tuple[int, float]], k: int = 3) -> str:
        return ", ".join(f"{self._item_label(j)} ({s:.3g})" for j, s in contrib[:k])


class ALSRanker(_MFRanker):
    """Implicit-feedback matrix factorisation by alternating least squares (implicit's
    ``AlternatingLeastSquares``, conjugate-gradient solver, CPU).

    Parameters
    ----------
    factors : int
        Latent dimension.
    regularization : float
        L2 penalty on user and item factors.
    alpha : float
        Confidence scaling: implicit fits on ``C = alpha * X`` (X the weighted CF matrix).
    iterations : int
        ALS sweeps.
    weighting : {"raw", "binary", "log", "bm25", "tfidf"}
        Weighting of the CF matrix (see :class:`~haowurank.rankers._implicit.Weighting`).
    kind_weights : dict or None
        Weight of each interaction kind in the CF matrix (None: every kind 1, views 0.1,
        clicks 0.25).
    bm25_k1, bm25_b : float
        BM25 parameters (used by ``weighting="bm25"``).
    random_state : int or None
        Seeds the initial factors (a plain int is derived once and passed to implicit); the same
        value gives the same model. None draws fresh entropy on every fit.
    num_threads : int
        Threads for fitting and batch ``recommend`` (0: all cores). Results do not depend on it.

    Attributes
    ----------
    model_ : MFModel
        ``model_.user_factors`` ndarray of shape (n_users, factors), ``model_.item_factors``
        ndarray of shape (n_items, factors), float32.

    References
    ----------
    Y. Hu, Y. Koren, C. Volinsky. Collaborative Filtering for Implicit Feedback Datasets.
    ICDM 2008.
    G. Takacs, I. Pilaszy, D. Tikk. Applications of the Conjugate Gradient Method for Implicit
    Feedback Collaborative Filtering. RecSys 2011.

    Examples
    --------
    >>> from haowurank.testing import small_world
    >>> r = ALSRanker(factors=8, iterations=5).fit(small_world())
    >>> ids, scores = r.recommend("u0", n=3)
    >>> ids.shape
    (3,)
    """

    name = "als"

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 0.1,
        alpha: float = 5.0,
        iterations: int = 15,
        weighting: str = "binary",
        kind_weights: dict[str, float] | None = None,
        bm25_k1: float = 100.0,
        bm25_b: float = 0.8,
        random_state: int | None = 0,
        num_threads: int = 0,
    ):
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.weighting = weighting
        self.kind_weights = kind_weights
        self.bm25_k1 = bm25_k1
        self.bm25_b = bm25_b
        self.random_state = random_state
        self.num_threads = num_threads

    def _validate_params(self) -> None:
        self._check_param("factors", is_int(self.factors, 1), "a positive int")
        self._check_param("regularization", is_real(self.regularization, 0.0), "a finite float >= 0")
        self._check_param("alpha", is_real(self.alpha, 0.0, strict=True), "a finite float > 0")
        self._check_param("iterations", is_int(self.iterations, 1), "a positive int")
        self._check_param("num_threads", is_int(self.num_threads, 0), "an int >= 0 (0: all cores)")
        self._check_seed()
        self._validate_cf_params()

    def _new_model(self) -> MFModel:
        return MFModel.als(
            factors=self.factors, regularization=self.regularization, alpha=self.alpha,
            iterations=self.iterations, random_state=self._seed(), num_threads=self.num_threads,
        )

    def _fit(self, ds: Dataset, *, show_progress: bool, callback: Any) -> None:
        self._build_cf(ds)
        self.model_ = self._new_model().fit(self.cf_, show_progress=show_progress, callback=callback)
        _check_finite(self.model_, type(self).__name__)

    def _explain(self, u: int, i: int) -> dict[str, Any]:
        score = float(self.model_.scores(np.asarray([u]))[0, i])
        e = self.model_.explain(u, self.cf_[u], i)
        contrib = e["contributions"]
        text = f"ALS: user factors . item factors = {score:.3g}."
        if contrib:
            text += f" Your items that weigh most: {self._contributions_text(contrib)}."
        return {
            "terms": {"dot": score, "explained_score": e["explained_score"]},
            "contributions": [(self.item_ids_[j], s) for j, s in contrib],
            "text": text,
        }


class BPRRanker(_MFRanker):
    """Bayesian personalised ranking (implicit's CPU ``BayesianPersonalizedRanking``).

    Parameters
    ----------
    factors : int
        Latent dimension (implicit adds one column: the item bias).
    learning_rate : float
        SGD step size.
    regularization : float
        L2 penalty.
    iterations : int
        Epochs.
    verify_negative_samples : bool
        Resample negatives the user actually interacted with.
    weighting, kind_weights, bm25_k1, bm25_b
        As in :class:`ALSRanker`; BPR reads only which entries exist, so the weighting matters only
        through ``kind_weights`` (a kind weighted 0 contributes no positives).
    random_state : int or None
        Seed (see :class:`ALSRanker`).
    num_threads : int
        Threads for fitting and batch ``recommend``. The default 1 keeps fitting reproducible:
        with more threads implicit runs Hogwild SGD, which is faster but differs run to run.

    References
    ----------
    S. Rendle, C. Freudenthaler, Z. Gantner, L. Schmidt-Thieme. BPR: Bayesian Personalized
    Ranking from Implicit Feedback. UAI 2009.
    """

    name = "bpr"

    def __init__(
        self,
        factors: int = 64,
        learning_rate: float = 0.01,
        regularization: float = 0.01,
        iterations: int = 100,
        verify_negative_samples: bool = True,
        weighting: str = "binary",
        kind_weights: dict[str, float] | None = None,
        bm25_k1: float = 100.0,
        bm25_b: float = 0.8,
        random_state: int | None = 0,
        num_threads: int = 1,
    ):
        self.factors = factors
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.iterations = iterations
        self.verify_negative_samples = verify_negative_samples
        self.weighting = weighting
        self.kind_weights = kind_weights
        self.bm25_k1 = bm25_k1
        self.bm25_b = bm25_b
        self.random_state = random_state
        self.num_threads = num_threads

    def _validate_params(self) -> None:
        self._check_param("factors", is_int(self.factors, 1), "a positive int")
        self._check_param("learning_rate", is_real(self.learning_rate, 0.0, strict=True),
                          "a finite float > 0")
        self._check_param("regularization", is_real(self.regularization, 0.0), "a finite float >= 0")
        self._check_param("iterations", is_int(self.iterations, 1), "a positive int")
        self._check_param("verify_negative_samples", isinstance(self.verify_negative_samples, bool),
                          "a bool")
        self._check_param("num_threads", is_int(self.num_threads, 0), "an int >= 0 (0: all cores)")
        self._check_seed()
        self._validate_cf_params()

    def _new_model(self) -> MFModel:
        return MFModel.bpr(
            factors=self.factors, learning_rate=self.learning_rate,
            regularization=self.regularization, iterations=self.iterations,
            random_state=self._seed(), num_threads=self.num_threads,
            verify_negative_samples=self.verify_negative_samples,
        )

    def _fit(self, ds: Dataset, *, show_progress: bool, callback: Any) -> None:
        self._build_cf(ds)
        self.model_ = self._new_model().fit(self.cf_, show_progress=show_progress, callback=callback)
        _check_finite(self.model_, type(self).__name__)

    def _explain(self, u: int, i: int) -> dict[str, Any]:
        score = float(self.model_.scores(np.asarray([u]))[0, i])
        e = self.model_.explain(u, self.cf_[u], i)
        contrib = e["contributions"]
        text = f"BPR: user factors . item factors = {score:.3g} (item bias {e['item_bias']:.3g})."
        if contrib:
            text += f" Closest to your items {self._contributions_text(contrib)} (cosine)."
        return {
            "terms": {"dot": score, "item_bias": e["item_bias"]},
            "contributions": [(self.item_ids_[j], s) for j, s in contrib],
            "text": text,
        }


def _check_finite(model: MFModel, who: str) -> None:
    if not (np.isfinite(model.user_factors).all() and np.isfinite(model.item_factors).all()):
        raise NumericalError(
            f"{who}: the fitted factors hold NaN or inf. Lower the learning rate or alpha, or raise "
            f"the regularization."
        )


class _RowScoredRanker(CFRanker):
    """Rankers whose score of a user is a function of the user's CF row alone (item-kNN, EASE,
    RP3beta): ``score(u, i) = sum_j x_uj * w_ji``. Subclasses give the item x item weights
    ``w`` and the wording of explanations (``_term``: the term's name; ``_says``: the text
    before the score; ``_lead``: the text before the top items)."""

    _term: ClassVar[str] = ""
    _says: ClassVar[str] = ""
    _lead: ClassVar[str] = ""

    def _weights(self) -> np.ndarray | sp.csr_matrix:
        """The item x item weights ``w`` (dense or CSR)."""
        raise NotImplementedError

    def _row_scores(self, rows: sp.csr_matrix) -> np.ndarray:
        scores = sp.csr_matrix(rows) @ self._weights()
        return np.asarray(scores.toarray() if sp.issparse(scores) else scores, dtype=np.float32)

    def _weights_to(self, i: int) -> np.ndarray:
        """Dense column ``w_{., i}``: every item's weight into item ``i``."""
        col = self._weights()[:, i]
        return np.asarray(col.toarray()).ravel() if sp.issparse(col) else np.asarray(col)

    def _explain(self, u: int, i: int) -> dict[str, Any]:
        contrib = self._contrib(u, self._weights_to(i))
        score = float(self._row_scores(self.cf_[u])[0, i])
        text = f"{self._says} {score:.3g}."
        if contrib:
            text += f" {self._lead} " + ", ".join(
                f"{self._item_label(j)} ({s:.3g})" for j, s in contrib[:3]
            ) + "."
        return {
            "terms": {self._term: score},
            "contributions": [(self.item_ids_[j], s) for j, s in contrib],
            "text": text,
        }

    def _score(self, uidx: np.ndarray) -> np.ndarray:
        out = np.empty((len(uidx), len(self.item_ids_)), dtype=np.float32)
        step = 1024
        for s in range(0, len(uidx), step):
            out[s : s + step] = self._row_scores(self.cf_[uidx[s : s + step]])
        return out

    def _contrib(self, u: int, weights_to_i: np.ndarray, k: int = 5) -> list[tuple[int, float]]:
        """Top ``k`` terms ``x_uj * w_j`` of user ``u``'s score (``w``: column of S or B)."""
        row = self.cf_[u]
        terms = row.data * weights_to_i[row.indices]
        order = np.argsort(-terms, kind="stable")[:k]
        return [(int(row.indices[o]), float(terms[o])) for o in order if terms[o] != 0]


class ItemKNNRanker(_RowScoredRanker):
    """Item-item nearest neighbours (implicit's ``CosineRecommender`` / ``BM25Recommender`` /
    ``TFIDFRecommender``): ``score(u, i) = sum_j x_uj * S[j, i]`` with ``S`` the item-item
    similarity truncated to the ``K`` nearest neighbours of each item.

    Parameters
    ----------
    K : int
        Neighbours kept per item.
    similarity : {"cosine", "bm25", "tfidf"}
        Item-item similarity (implicit's BM25 uses its defaults K1=1.2, B=0.75).
    weighting, kind_weights, bm25_k1, bm25_b
        The CF matrix (see :class:`ALSRanker`); its rows are also the user side of the score.
    num_threads : int
        Threads for the similarity computation (0: all cores).

    Attributes
    ----------
    knn_ : ItemKNNModel
        ``knn_.similarity`` csr_matrix of shape (n_items, n_items), float32.

    References
    ----------
    B. Sarwar, G. Karypis, J. Konstan, J. Riedl. Item-based Collaborative Filtering
    Recommendation Algorithms. WWW 2001.
    """

    name = "item_knn"

    def __init__(
        self,
        K: int = 100,
        similarity: str = "cosine",
        weighting: str = "binary",
        kind_weights: dict[str, float] | None = None,
        bm25_k1: float = 100.0,
        bm25_b: float = 0.8,
        num_threads: int = 0,
    ):
        self.K = K
        self.similarity = similarity
        self.weighting = weighting
        self.kind_weights = kind_weights
        self.bm25_k1 = bm25_k1
        self.bm25_b = bm25_b
        self.num_threads = num_threads

    def _validate_params(self) -> None:
        self._check_param("K", is_int(self.K, 1), "a positive int")
        self._check_param("similarity", self.similarity in SIMILARITIES,
                          f"one of {list(SIMILARITIES)}")
        self._check_param("num_threads", is_int(self.num_threads, 0), "an int >= 0 (0: all cores)")
        self._validate_cf_params()

    def _new_model(self) -> ItemKNNModel:
        return ItemKNNModel(self.similarity, K=self.K, num_threads=self.num_threads)

    def _fit(self, ds: Dataset, *, show_progress: bool, callback: Any) -> None:
        self._build_cf(ds)
        self.knn_ = self._new_model().fit(self.cf_, show_progress=show_progress)
        if callback is not None:
            callback("item_knn: similarity", 1.0)

    _term, _says, _lead = "similarity_sum", "Item-kNN: similarity to your items sums to", "Similar to"

    def _weights(self) -> sp.csr_matrix:
        return self.knn_.similarity

    def _row_scores(self, rows: sp.csr_matrix) -> np.ndarray:
        return self.knn_.scores(rows)

    def _state(self) -> dict[str, np.ndarray]:
        return {**self._cf_state(), **self.knn_.state("similarity")}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self._set_cf_state(arrays)
        self.knn_ = self._new_model()
        self.knn_.set_state("similarity", arrays)


# ---------------------------------------------------------------------------------------------
# EASE
# ---------------------------------------------------------------------------------------------

#: Dense matrices of at least this many bytes are inverted by :func:`_spd_inverse_blocked`
#: instead of one LAPACK call: scipy's ``spotrf`` and numpy's ``cholesky`` both crashed
#: (segmentation fault) on the 30,738-item Epinions Gram matrix (3.8 GB, float32) here.
_BLOCKED_INVERSE_BYTES = 2**31


def _spd_inverse_blocked(G: np.ndarray, block: int = 2048) -> np.ndarray:
    """Inverse of a symmetric positive definite matrix by blocks, each step a small LAPACK call
    or a matrix product (numpy), so no single call sees the whole matrix.

    1. Right-looking blocked Cholesky ``G = L L^T`` in place in ``G``'s lower triangle.
    2. ``L^-1`` by block forward substitution (a second ``n x n`` array).
    3. ``P = L^-T L^-1`` by column blocks that skip ``L^-1``'s zero upper part, written over
       ``G`` (``L`` is no longer needed).

    About ``2 n^3`` flops and two ``n x n`` arrays. ``G`` is overwritten and returned as ``P``
    (pass a copy to keep it). Raises ``np.linalg.LinAlgError`` if ``G`` is not positive
    definite.
    """
    n = G.shape[0]
    for k0 in range(0, n, block):  # 1. Cholesky, lower triangle of G (upper blocks left as is)
        k1 = min(n, k0 + block)
        lkk = np.linalg.cholesky(G[k0:k1, k0:k1])
        G[k0:k1, k0:k1] = lkk
        if k1 < n:
            panel = G[k1:, k0:k1] @ np.linalg.inv(lkk).T
            G[k1:, k0:k1] = panel
            for j0 in range(k1, n, block):  # trailing update of the lower part only
                j1 = min(n, j0 + block)
                G[j0:, j0:j1] -= panel[j0 - k1 :] @ panel[j0 - k1 : j1 - k1].T
    Li = np.zeros_like(G)
    for i0 in range(0, n, block):  # 2. L^-1, block rows
        i1 = min(n, i0 + block)
        d_inv = np.tril(np.linalg.inv(G[i0:i1, i0:i1]))
        Li[i0:i1, i0:i1] = d_inv
        if i0:
            Li[i0:i1, :i0] = -(d_inv @ (G[i0:i1, :i0] @ Li[:i0, :i0]))
    P = G  # 3. column blocks of L^-T L^-1, over L's storage
    for j0 in range(0, n, block):
        j1 = min(n, j0 + block)
        P[:, j0:j1] = Li[j0:, :].T @ Li[j0:, j0:j1]  # rows k < j0 of L^-1[:, j0:j1] are zero
    return P


def _scipy_spd_inverse(G: np.ndarray, potrf: Any, potri: Any) -> np.ndarray:
    """In-place inverse of a symmetric positive definite matrix by scipy's LAPACK ``potrf`` +
    ``potri`` (one ``n x n`` array), both triangles filled."""
    n = G.shape[0]
    c, info = potrf(G, lower=False, clean=False, overwrite_a=True)
    if info != 0:
        raise NumericalError(
            f"EASE: the Gram matrix is not positive definite (LAPACK potrf info={info}); raise "
            f"the 'regularization' parameter."
        )
    P, info = potri(c, lower=False, overwrite_c=True)
    if info != 0:
        raise NumericalError(f"EASE: inverting the Gram matrix failed (LAPACK potri info={info}).")
    del c
    # potri fills the upper triangle; mirror it to the lower one block by block (no n^2 index arrays)
    step = 1024
    for r0 in range(0, n, step):
        r1 = min(n, r0 + step)
        P[r0:r1, :r0] = P[:r0, r0:r1].T
        blk = P[r0:r1, r0:r1]
        P[r0:r1, r0:r1] = np.triu(blk) + np.triu(blk, 1).T
    return P


def ease_weights(
    X: sp.spmatrix,
    regularization: float,
    *,
    callback: Callable[[str, float], None] | None = None,
    precision: str = "float64",
) -> np.ndarray:
    """The EASE^R item-item weight matrix in closed form.

    ``P = (X^T X + lambda I)^-1``, ``B = I - P diag(1 / diag(P))``, i.e. ``B_ij = -P_ij / P_jj``
    off the diagonal and ``B_jj = 0``.

    Parameters
    ----------
    X : sparse matrix of shape (n_users, n_items)
    regularization : float
        ``lambda`` > 0.
    precision : {"float64", "float32"}, default "float64"
        Floating type of the factorisation. float32 halves memory and runs faster (LAPACK
        ``spotrf``/``spotri``); the ridge ``lambda`` keeps the system well conditioned.

    Returns
    -------
    ndarray of shape (n_items, n_items), float32
        Scores of a user are ``x_u @ B``.

    Notes
    -----
    The Gram matrix is inverted by a Cholesky factorisation and its in-place inverse (LAPACK
    ``potrf``/``potri``), so peak memory is about ``12 * n_items**2`` bytes in float64 (about
    half in float32).

    References
    ----------
    H. Steck. Embarrassingly Shallow Autoencoders for Sparse Data. WWW 2019.
    """
    if precision not in ("float64", "float32"):
        raise ValueError(f"ease_weights: 'precision' must be 'float64' or 'float32'. Got {precision!r}.")
    single = precision == "float32"
    potrf = scipy.linalg.lapack.spotrf if single else scipy.linalg.lapack.dpotrf
    potri = scipy.linalg.lapack.spotri if single else scipy.linalg.lapack.dpotri
    X = sp.csr_matrix(X, dtype=np.float64)
    n = X.shape[1]
    t0 = time.perf_counter()
    G = sp.csr_matrix(X.T @ X)  # float64 sums; binary counts stay exact in float32
    G = (G.astype(np.float32) if single else G).toarray()
    G[np.diag_indices(n)] += float(regularization)
    if callback is not None:
        callback("ease: gram matrix", 0.2)
    if G.nbytes >= _BLOCKED_INVERSE_BYTES:
        try:
            P = _spd_inverse_blocked(G)
        except np.linalg.LinAlgError as exc:
            raise NumericalError(
                f"EASE: the Gram matrix is not positive definite ({exc}); raise the "
                f"'regularization' parameter."
            ) from exc
        del G
    else:
        P = _scipy_spd_inverse(G, potrf, potri)
    if callback is not None:
        callback("ease: inverse", 0.9)
    d = np.diag(P).copy()
    P /= -d[None, :]  # B_ij = -P_ij / P_jj
    P[np.diag_indices(n)] = 0.0
    B = P.astype(np.float32, copy=False)
    log.info("ease: closed form over %d items in %.2fs", n, time.perf_counter() - t0)
    return B


class EaseRanker(_RowScoredRanker):
    """EASE^R (Steck 2019): a linear item-item model with a zero diagonal, fitted in closed form.

    ``score(u, i) = sum_j x_uj * B[j, i]`` with ``B = I - P diag(1/diag(P))`` and
    ``P = (X^T X + lambda I)^-1`` (see :func:`ease_weights`). Dense item x item: cubic time and
    ``n_items**2`` memory, hence the ``max_items`` guard. It is the strong peer baseline.

    Parameters
    ----------
    regularization : float
        ``lambda`` > 0 (Steck uses a few hundred on binary data).
    max_items : int
        Refuse to fit when the data set has more items (the dense float64 Gram matrix alone needs
        ``8 * n_items**2`` bytes); filter items (``Dataset.k_core``) or raise the guard.
    precision : {"float64", "float32"}, default "float64"
        Floating type of the closed-form inverse (see :func:`ease_weights`); float32 for large
        catalogues (half the memory, faster).
    weighting, kind_weights, bm25_k1, bm25_b
        The CF matrix (see :class:`ALSRanker`); EASE is meant for ``"binary"``.

    Attributes
    ----------
    B_ : ndarray of shape (n_items, n_items), float32

    References
    ----------
    H. Steck. Embarrassingly Shallow Autoencoders for Sparse Data. WWW 2019.
    """

    name = "ease"

    def __init__(
        self,
        regularization: float = 500.0,
        max_items: int = 20_000,
        precision: str = "float64",
        weighting: str = "binary",
        kind_weights: dict[str, float] | None = None,
        bm25_k1: float = 100.0,
        bm25_b: float = 0.8,
    ):
        self.regularization = regularization
        self.max_items = max_items
        self.precision = precision
        self.weighting = weighting
        self.kind_weights = kind_weights
        self.bm25_k1 = bm25_k1
        self.bm25_b = bm25_b

    def _validate_params(self) -> None:
        self._check_param("regularization", is_real(self.regularization, 0.0, strict=True),
                          "a finite float > 0")
        self._check_param("max_items", is_int(self.max_items, 1), "a positive int")
        self._check_param("precision", self.precision in ("float64", "float32"),
                          "'float64' or 'float32'")
        self._validate_cf_params()

    def _fit(self, ds: Dataset, *, show_progress: bool, callback: Any) -> None:
        n = ds.n_items
        if n > self.max_items:
            gib = (12 if self.precision == "float64" else 6) * n * n / 2**30
            raise ValueError(
                f"The 'max_items' guard of EaseRanker is {self.max_items}, but the data set has "
                f"{n} items: EASE's dense item x item inverse would need about {gib:.1f} GiB. "
                f"Filter items (e.g. Dataset.k_core) or raise max_items."
            )
        self._build_cf(ds)
        self.B_ = ease_weights(self.cf_, self.regularization, callback=callback,
                               precision=self.precision)

    _term, _says, _lead = "ease", "EASE: weighted sum over your items =", "Mostly from"

    def _weights(self) -> np.ndarray:
        return self.B_

    def _state(self) -> dict[str, np.ndarray]:
        return {**self._cf_state(), "B": self.B_}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self._set_cf_state(arrays)
        self.B_ = np.ascontiguousarray(arrays["B"])


# ---------------------------------------------------------------------------------------------
# RP3beta
# ---------------------------------------------------------------------------------------------

def csr_row_topk(m: sp.csr_matrix, k: int, keep: np.ndarray | None = None) -> np.ndarray:
    """The ``k`` largest stored entries of each row of ``m``, as a mask over ``m.data``.

    Selection is :func:`~haowurank.rankers.sparse_topk`'s, so it breaks ties like every ranked
    list: the larger value first, then the lower column. Only entries where ``keep`` is true
    compete (None: all); rows with at most ``k`` of them keep them all, and each longer row is
    first cut to the entries at or above its ``k``-th largest value (a partial sort), so the
    kernel only orders about ``k`` entries per row.

    Parameters
    ----------
    m : csr_matrix
        No duplicate entries; indices in any order.
    k : int
        Entries kept per row (>= 0).
    keep : bool ndarray of shape (m.nnz,), optional
        The entries that may be kept.

    Returns
    -------
    bool ndarray of shape (m.nnz,)
        The kept entries (a subset of ``keep``).
    """
    indptr, indices, data = m.indptr, m.indices, m.data
    rows = np.repeat(np.arange(m.shape[0]), np.diff(indptr))
    out = np.ones(len(data), dtype=bool) if keep is None else np.array(keep, dtype=bool)
    counts = np.bincount(rows[out], minlength=m.shape[0])
    heavy = np.flatnonzero(counts > k)
    if not len(heavy):
        return out
    in_heavy = np.zeros(m.shape[0], dtype=bool)
    in_heavy[heavy] = True
    if k <= 0:
        out[in_heavy[rows]] = False
        return out
    pos_parts = []
    for r in heavy:
        a = indptr[r]
        pos = a + np.flatnonzero(out[a : indptr[r + 1]])
        d = data[pos]
        kth = np.partition(d, len(d) - k)[len(d) - k]  # the k-th largest value
        pos_parts.append(pos[d >= kth])
    pos = np.concatenate(pos_parts)
    out[in_heavy[rows]] = False
    local = np.searchsorted(heavy, rows[pos])
    idx, _ = sparse_topk(local, indices[pos], data[pos], len(heavy), k)
    # back from (row, column) to positions in ``data``
    width = np.int64(m.shape[1])
    keys = local.astype(np.int64) * width + indices[pos]
    order = np.argsort(keys)
    sel_r, sel_j = np.nonzero(idx >= 0)
    wanted = sel_r.astype(np.int64) * width + idx[sel_r, sel_j]
    out[pos[order[np.searchsorted(keys[order], wanted)]]] = True
    return out


def _keep_top_k_per_row(W: sp.csr_matrix, K: int) -> sp.csr_matrix:
    """``W`` (square CSR without duplicates, any index order) without its diagonal and stored
    zeros, and with only the ``K`` largest entries of each row kept (:func:`csr_row_topk`: ties
    go to the lower column, so the result does not depend on how the product ordered them);
    sorted indices."""
    rows = np.repeat(np.arange(W.shape[0]), np.diff(W.indptr))
    keep = csr_row_topk(W, K, (W.indices != rows) & (W.data != 0))
    indptr = np.r_[0, np.cumsum(np.bincount(rows[keep], minlength=W.shape[0]))]
    out = sp.csr_matrix((W.data[keep], W.indices[keep], indptr.astype(W.indptr.dtype)),
                        shape=W.shape)
    out.sort_indices()
    return out


def rp3beta_weights(X: sp.spmatrix, alpha: float, beta: float, K: int) -> sp.csr_matrix:
    """The RP3beta item-item weight matrix (Paudel et al. 2017), sparse.

    A three-step random walk item -> user -> item on the bipartite interaction graph, each step's
    transition probabilities raised to ``alpha``, divided by the target item's popularity to the
    power ``beta`` (which lets less popular items through), self-loops removed, and the ``K``
    largest weights of each row kept:

    ``W_ij = (sum_u P(u | i)^alpha P(j | u)^alpha) / pop_j^beta``, ``P(u | i) = x_ui / deg(i)``,
    ``P(j | u) = x_uj / deg(u)``.

    Parameters
    ----------
    X : sparse matrix of shape (n_users, n_items)
        Binary (or weighted) interactions; rows and columns are normalised to probabilities.
    alpha : float
        > 0; below 1 flattens the transition probabilities.
    beta : float
        >= 0; the popularity penalty of the target item.
    K : int
        Neighbours kept per item.

    Returns
    -------
    csr_matrix of shape (n_items, n_items), float32
        Scores of a user are ``x_u @ W``.

    References
    ----------
    B. Paudel, F. Christoffel, C. Newell, A. Bernstein. Updatable, Accurate, Diverse, and
    Scalable Recommendations for Interactive Applications. ACM TiiS 7(1), 2017.
    """
    X = sp.csr_matrix(X, dtype=np.float64)
    X.eliminate_zeros()
    du = np.asarray(X.sum(axis=1)).ravel()
    di = np.asarray(X.sum(axis=0)).ravel()
    p_ju = sp.csr_matrix(sp.diags(1.0 / np.maximum(du, 1e-12)) @ X)  # P(j | u), users x items
    p_ui = sp.csr_matrix(sp.diags(1.0 / np.maximum(di, 1e-12)) @ X.T.tocsr())  # P(u | i)
    if alpha != 1.0:
        p_ju.data **= alpha
        p_ui.data **= alpha
    W = sp.csr_matrix(p_ui @ p_ju)  # no duplicate entries; indices in any order
    if beta:
        W.data *= (1.0 / np.maximum(di, 1.0) ** beta)[W.indices]
    return _keep_top_k_per_row(W, int(K)).astype(np.float32)  # no self-loops


class RP3BetaRanker(_RowScoredRanker):
    """RP3beta (Paudel et al. 2017): item-item weights from a three-step random walk on the
    user-item graph with a popularity penalty; ``score(u, i) = sum_j x_uj * W[j, i]`` (see
    :func:`rp3beta_weights`). Sparse and cheap to fit (one sparse product, where EASE's fit is
    cubic in the number of items); its test quality against the peers is in
    ``experiments/ranking_quality/``.

    Parameters
    ----------
    alpha : float
        Exponent of the transition probabilities (> 0).
    beta : float
        Popularity penalty of the recommended item (>= 0).
    K : int
        Neighbours kept per item.
    weighting, kind_weights, bm25_k1, bm25_b
        The CF matrix (see :class:`ALSRanker`); RP3beta is meant for ``"binary"``.

    Attributes
    ----------
    W_ : csr_matrix of shape (n_items, n_items), float32

    References
    ----------
    B. Paudel, F. Christoffel, C. Newell, A. Bernstein. Updatable, Accurate, Diverse, and
    Scalable Recommendations for Interactive Applications. ACM TiiS 7(1), 2017.
    """

    name = "rp3beta"

    def __init__(
        self,
        alpha: float = 0.4,
        beta: float = 0.3,
        K: int = 1000,
        weighting: str = "binary",
        kind_weights: dict[str, float] | None = None,
        bm25_k1: float = 100.0,
        bm25_b: float = 0.8,
    ):
        self.alpha = alpha
        self.beta = beta
        self.K = K
        self.weighting = weighting
        self.kind_weights = kind_weights
        self.bm25_k1 = bm25_k1
        self.bm25_b = bm25_b

    def _validate_params(self) -> None:
        self._check_param("alpha", is_real(self.alpha, 0.0, strict=True), "a finite float > 0")
        self._check_param("beta", is_real(self.beta, 0.0), "a finite float >= 0")
        self._check_param("K", is_int(self.K, 1), "a positive int")
        self._validate_cf_params()

    def _fit(self, ds: Dataset, *, show_progress: bool, callback: Any) -> None:
        self._build_cf(ds)
        self.W_ = rp3beta_weights(self.cf_, float(self.alpha), float(self.beta), int(self.K))
        if callback is not None:
            callback("rp3beta: random-walk weights", 1.0)

    _term, _says, _lead = "rp3beta", "RP3beta: random-walk weight from your items =", "Mostly from"

    def _weights(self) -> sp.csr_matrix:
        return self.W_

    def _state(self) -> dict[str, np.ndarray]:
        return {**self._cf_state(), **csr_to_arrays("W", self.W_)}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self._set_cf_state(arrays)
        self.W_ = arrays_to_csr("W", arrays)
