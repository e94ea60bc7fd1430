"""The ranking model of ``hybrid``: its training rows (:func:`training_rows`), the pairs of the
pairwise objective (:func:`pair_index`, :func:`pair_differences`, :func:`with_spline_differences`),
the fit (:func:`fit_ranking_model`) and the score of feature rows (:func:`rank_scores`).

The model is a logistic regression (scikit-learn, L2) on standardised features: pointwise on the
candidate rows, or pairwise on differences of a validation item's features and those of another
candidate of the same user (a RankNet-style loss), optionally with a cubic B-spline per feature
(:class:`~haowurank.rankers._splines.FeatureSplines`) fitted in the same regression. The learned
score of a feature row ``x`` is ``intercept + x @ weights + sum_j f_j(x_j)``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from ._hybrid_features import FEATURES, chunk_size, feature_block, pair_features
from ._hybrid_parts import FittedParts, csr_values
from ._hybrid_retrieval import retrieve
from ._splines import FeatureSplines

__all__ = [
    "RankingModel", "fit_ranking_model", "model_arrays", "model_from_arrays", "pair_differences",
    "pair_index", "rank_scores",
    "training_rows", "with_spline_differences",
]

log = logging.getLogger(__name__)

#: Weights of the standardised features when the inner validation split has one class only.
FALLBACK_COEF: dict[str, float] = {"als": 1.0, "trust_log": 1.0, "popularity": 0.5}


@dataclass(frozen=True, eq=False)
class RankingModel:
    """A fitted ranking model (see :class:`~haowurank.rankers.HybridRanker`'s attributes).

    Attributes
    ----------
    coef : ndarray of shape (n_features,)
        Coefficients on standardised features.
    mean, scale : ndarray of shape (n_features,)
        Standardisation of the training rows.
    weights : ndarray of shape (n_features,)
        Weights of the raw features (``coef / scale``).
    intercept : float
        Score offset on the raw features.
    splines : FeatureSplines or None
        The spline bases (None for a linear score).
    spline_coef : ndarray
        Spline coefficients on the raw feature scale (empty without splines).
    """

    coef: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    intercept: float
    splines: FeatureSplines | None
    spline_coef: np.ndarray

    def scores(self, X: np.ndarray) -> np.ndarray:
        """The model's score of feature rows ``X`` (float64)."""
        return rank_scores(X, self.weights, self.intercept, self.splines, self.spline_coef)


def rank_scores(
    X: np.ndarray, weights: np.ndarray, intercept: float, splines: FeatureSplines | None,
    spline_coef: np.ndarray,
) -> np.ndarray:
    """The ranking model's score of feature rows ``X`` (float64): the linear terms plus, with
    ``splines``, every feature's spline term."""
    out = intercept + np.asarray(X, dtype=np.float64) @ weights
    if splines is not None:
        out += splines.terms(X, spline_coef).sum(axis=1)
    return out


def training_rows(
    parts: FittedParts, val: sp.csr_matrix, users: np.ndarray, gen: np.random.Generator, *,
    n_candidates: int, n_random: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Feature rows, labels, users (groups) and items of the candidates of ``users``.

    Candidates are :func:`~._hybrid_retrieval.retrieve`'s top ``n_candidates`` per component,
    plus ``n_random`` random unseen items per user (drawn with ``gen``); the label says whether
    the item is in the user's row of ``val``.

    Returns
    -------
    X : ndarray of shape (m, len(FEATURES)), float32
    y : bool ndarray of shape (m,)
    groups, items : int64 ndarrays of shape (m,)
    """
    n_items = parts.n_items
    X_parts, y_parts, g_parts, i_parts = [], [], [], []
    bs = chunk_size(n_items)
    for s0 in range(0, len(users), bs):
        u = users[s0 : s0 + bs]
        blk = feature_block(parts, u)
        r, c = retrieve(parts, blk, int(n_candidates))
        if n_random:
            rr = np.repeat(np.arange(len(u)), int(n_random))
            cc = gen.integers(0, n_items, size=len(rr))
            keys = np.unique(np.concatenate([r * n_items + c, rr * n_items + cc]))
            r, c = keys // n_items, keys % n_items
            unseen = csr_values(parts.binary[u], r, c) == 0
            r, c = r[unseen], c[unseen]
        X_parts.append(pair_features(parts, blk, r, c))
        y_parts.append(csr_values(val[u], r, c) > 0)
        g_parts.append(u[r])
        i_parts.append(c)
    if not X_parts:
        empty = np.zeros(0, dtype=np.int64)
        return (np.zeros((0, len(FEATURES)), dtype=np.float32), np.zeros(0, dtype=bool),
                empty, empty)
    return (np.vstack(X_parts), np.concatenate(y_parts), np.concatenate(g_parts),
            np.concatenate(i_parts))


def pair_index(
    y: np.ndarray, groups: np.ndarray, gen: np.random.Generator, n_pairs: int
) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (pos, neg): ``n_pairs`` random negatives of the same user per positive."""
    order = np.argsort(groups, kind="stable")
    g = groups[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    ends = np.r_[starts[1:], len(g)]
    pos_out, neg_out = [], []
    for s0, e0 in zip(starts, ends):
        idx = order[s0:e0]
        pos, neg = idx[y[idx]], idx[~y[idx]]
        if not len(pos) or not len(neg):
            continue
        pick = neg[gen.integers(0, len(neg), size=(len(pos), n_pairs))]
        pos_out.append(np.repeat(pos, n_pairs))
        neg_out.append(pick.ravel())
    if not pos_out:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    return np.concatenate(pos_out), np.concatenate(neg_out)


def pair_differences(
    Z: np.ndarray, y: np.ndarray, groups: np.ndarray, gen: np.random.Generator, n_pairs: int
) -> np.ndarray:
    """Rows ``Z[pos] - Z[neg]`` for ``n_pairs`` random negatives of the same user per positive."""
    pos, neg = pair_index(y, groups, gen, n_pairs)
    return Z[pos] - Z[neg]


def with_spline_differences(
    D: np.ndarray, X: np.ndarray, pos: np.ndarray, neg: np.ndarray, splines: FeatureSplines
) -> tuple[np.ndarray, np.ndarray]:
    """``D`` with the differences of the pairs' spline bases appended (each basis column
    divided by its standard deviation over the rows in pairs), and those deviations."""
    rows = np.unique(np.r_[pos, neg])
    B = splines.basis(X[rows])
    scale = B.std(axis=0)
    scale[scale <= 1e-9] = np.inf  # a column without spread gets no weight
    B /= scale
    at = np.searchsorted(rows, pos), np.searchsorted(rows, neg)
    return np.hstack([D, B[at[0]] - B[at[1]]]), scale


def fit_ranking_model(
    X: np.ndarray, y: np.ndarray, groups: np.ndarray, gen: np.random.Generator, *,
    objective: str, C: float, n_pairs: int, spline_knots: int,
) -> tuple[RankingModel, dict[str, Any]]:
    """Fit the ranking model on training rows (see the module docstring).

    With one class only (no positives or no negatives) the model falls back to fixed weights
    (:data:`FALLBACK_COEF`) and a warning is logged.

    Parameters
    ----------
    X : ndarray of shape (m, len(FEATURES))
    y : bool ndarray of shape (m,)
    groups : int ndarray of shape (m,)
        User of each row (pairs are drawn within a user).
    gen : numpy.random.Generator
        Draws the pairs and their random sign flips.
    objective : {"pairwise", "pointwise"}
    C : float
        Inverse L2 strength.
    n_pairs : int
        Negatives per positive (pairwise).
    spline_knots : int
        0: linear; ``k >= 2``: a spline per feature with ``k`` quantile knots (pairwise).

    Returns
    -------
    model : RankingModel
    info : dict
        ``auc`` (of the model on its training rows; NaN with one class) and ``model_s``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    info: dict[str, Any] = {}
    n_f = len(FEATURES)
    splines, spline_coef = None, np.zeros(0)
    one_class = y.sum() == 0 or y.sum() == len(y)
    if one_class:
        log.warning(
            "hybrid: the inner validation split gave %s; falling back to fixed weights "
            "(ALS + trust + popularity).", "no positives" if y.sum() == 0 else "no negatives",
        )
        coef = np.zeros(n_f)
        for name, w in FALLBACK_COEF.items():
            coef[FEATURES.index(name)] = w
        mean, scale, intercept = np.zeros(n_f), np.ones(n_f), 0.0
        info["auc"] = float("nan")
    else:
        X = X.astype(np.float64)
        mean = X.mean(axis=0)
        scale = X.std(axis=0)
        constant = scale <= 1e-9 * (1.0 + np.abs(mean))
        scale[constant] = 1.0
        Z = (X - mean) / scale
        Z[:, constant] = 0.0
        t2 = time.perf_counter()
        if objective == "pairwise":
            pos, neg = pair_index(y, groups, gen, int(n_pairs))
            D = Z[pos] - Z[neg]
            if spline_knots:
                splines = FeatureSplines.from_quantiles(X, int(spline_knots))
                D, spline_scale = with_spline_differences(D, X, pos, neg, splines)
            flip = gen.random(len(D)) < 0.5
            D[flip] *= -1.0
            # with splines (~150 columns) Newton steps converge in a few iterations where
            # L-BFGS takes hundreds; the linear model keeps its solver
            solver = "newton-cholesky" if spline_knots else "lbfgs"
            lr = LogisticRegression(C=float(C), fit_intercept=False, max_iter=500,
                                    solver=solver)
            with threadpool_limits(1):
                lr.fit(D, ~flip)
            intercept = 0.0
        else:
            lr = LogisticRegression(C=float(C), max_iter=500)
            with threadpool_limits(1):
                lr.fit(Z, y)
            intercept = float(lr.intercept_[0])
        coef = lr.coef_[0][:n_f].astype(np.float64)
        coef[constant] = 0.0
        if splines is not None:
            spline_coef = lr.coef_[0][n_f:].astype(np.float64) / spline_scale
        info["model_s"] = time.perf_counter() - t2
    weights = (coef / scale).astype(np.float64)
    model = RankingModel(
        coef=coef, mean=mean, scale=scale, weights=weights,
        intercept=float(intercept - (mean * weights).sum()), splines=splines,
        spline_coef=spline_coef,
    )
    if not one_class:
        info["auc"] = float(roc_auc_score(y, model.scores(X)))
    return model, info


def model_arrays(model: RankingModel) -> dict[str, np.ndarray]:
    """The model as named arrays of a saved artifact (``hy.coef``, ``hy.mean``, ``hy.scale``,
    ``hy.weights``, ``hy.intercept`` and, with splines, ``hy.spline_*``)."""
    out = {
        "hy.coef": model.coef,
        "hy.mean": model.mean,
        "hy.scale": model.scale,
        "hy.weights": model.weights,
        "hy.intercept": np.asarray([model.intercept]),
    }
    if model.splines is not None:
        out.update({f"hy.spline_{k}": v for k, v in model.splines.to_arrays().items()})
        out["hy.spline_coef"] = model.spline_coef
    return out


def model_from_arrays(arrays: dict[str, np.ndarray]) -> RankingModel:
    """The model :func:`model_arrays` wrote; ``ArtifactError`` when the spline coefficients do
    not match the spline bases."""
    splines, spline_coef = None, np.zeros(0)
    if "hy.spline_coef" in arrays:
        splines = FeatureSplines.from_arrays(arrays["hy.spline_knots"],
                                             arrays["hy.spline_knot_ptr"])
        spline_coef = arrays["hy.spline_coef"]
        if splines.n_basis != len(spline_coef):
            from .._errors import ArtifactError

            raise ArtifactError(
                f"This hybrid artifact has {len(spline_coef)} spline coefficients for "
                f"{splines.n_basis} basis functions."
            )
    return RankingModel(
        coef=arrays["hy.coef"], mean=arrays["hy.mean"], scale=arrays["hy.scale"],
        weights=arrays["hy.weights"], intercept=float(arrays["hy.intercept"][0]),
        splines=splines, spline_coef=spline_coef,
    )
