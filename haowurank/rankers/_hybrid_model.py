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
    "RankingModel", "SplineTable", "fit_ranking_model", "model_arrays", "model_from_arrays",
    "pair_differences", "pair_index", "rank_scores", "spline_table", "training_rows",
    "unused_features", "with_spline_differences",
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


#: Rows up to which :func:`rank_scores` evaluates the splines through :class:`SplineTable`.
TABLE_ROWS = 4096


class SplineTable:
    """Every feature's spline term as one table of cubic pieces, evaluated for all features at
    once (:meth:`terms`; what :meth:`FeatureSplines.terms` gives, without one scipy call per
    feature).

    Feature ``j``'s pieces are those of ``PPoly.from_spline`` of its B-spline (breakpoints:
    its knots; 4 coefficients per piece); a value is clipped to the knot range, its piece is
    the last breakpoint at or below it, and the cubic is summed in scipy's order
    (``c3 + c2 s + c1 s^2 + c0 s^3``), so the terms equal scipy's evaluation.
    """

    def __init__(self, splines: FeatureSplines, coef: np.ndarray):
        n_f = len(splines.knots)
        has = np.asarray(splines.sizes > 0)
        width = max([len(t) for t, h in zip(splines.knots, has) if h] or [1])
        self.has = has
        self.lo = np.zeros(n_f)
        self.hi = np.zeros(n_f)
        self.bp = np.full((n_f, width), np.inf)  # breakpoints, +inf padded
        self.n_pieces = np.ones(n_f, dtype=np.int64)
        self.c = np.zeros((4, n_f, width))
        for j in np.flatnonzero(has):
            t = splines.knots[j]
            pp = splines._ppoly(j, np.asarray(coef[splines.offsets[j] : splines.offsets[j + 1]],
                                              dtype=np.float64))
            self.lo[j], self.hi[j] = t[3], t[-4]
            self.bp[j, : len(pp.x)] = pp.x
            self.n_pieces[j] = len(pp.x) - 1
            self.c[:, j, : pp.c.shape[1]] = pp.c
        self.bp[~has, 0] = 0.0  # no spline: x = lo = 0 sits at its first breakpoint
        self.width = width

    def terms(self, X: np.ndarray) -> np.ndarray:
        """(n_rows, n_features) float64 spline terms of feature rows ``X`` (0 where a feature
        has no spline)."""
        m, n_f = X.shape[0], len(self.has)
        out = np.zeros((m, n_f), dtype=np.float64)
        cols = np.flatnonzero(self.has)
        if not len(cols) or not m:
            return out
        x = np.clip(np.asarray(X[:, cols], dtype=np.float64), self.lo[cols], self.hi[cols])
        # x lies in [t[3], t[-4]]: the first 4 breakpoints are at or below it and only the
        # breakpoints from t[4] to t[-4] need comparing (x == t[-4] takes the piece that
        # starts there, as scipy's interval search does)
        idx = np.full(x.shape, 3, dtype=np.int64)
        bp = self.bp[cols]
        for p in range(4, self.width - 3):
            idx += x >= bp[:, p]
        idx = np.minimum(idx, self.n_pieces[cols] - 1)
        flat = idx + cols * self.width
        s = x - self.bp.ravel()[flat]
        c = self.c.reshape(4, -1)
        z1 = s
        z2 = z1 * s
        z3 = z2 * s
        v = c[3][flat] + c[2][flat] * z1
        v = v + c[1][flat] * z2
        v = v + c[0][flat] * z3
        out[:, cols] = v
        return out


def spline_table(splines: FeatureSplines, coef: np.ndarray) -> SplineTable:
    """The :class:`SplineTable` of ``splines`` with coefficients ``coef``, kept on ``splines``
    for the last ``coef`` (the serving path scores with the same model on every request)."""
    key = np.asarray(coef, dtype=np.float64).tobytes()
    held = splines.__dict__.get("_spline_table")
    if held is None or held[0] != key:
        held = (key, SplineTable(splines, coef))
        splines.__dict__["_spline_table"] = held
    return held[1]


def unused_features(model: RankingModel) -> np.ndarray:
    """Bool mask of the features whose weight is 0 and whose spline term is absent or has
    only zero coefficients: their values cannot change a score."""
    unused = np.asarray(model.weights) == 0
    if model.splines is not None:
        sp_ = model.splines
        for j in np.flatnonzero(unused & (sp_.sizes > 0)):
            unused[j] = not np.any(model.spline_coef[sp_.offsets[j] : sp_.offsets[j + 1]])
    return unused


def rank_scores(
    X: np.ndarray, weights: np.ndarray, intercept: float, splines: FeatureSplines | None,
    spline_coef: np.ndarray, *, table: bool = False,
) -> np.ndarray:
    """The ranking model's score of feature rows ``X`` (float64): the linear terms plus, with
    ``splines``, every feature's spline term (:class:`SplineTable` for at most
    :data:`TABLE_ROWS` rows, or with ``table`` for any number, in slices of that many rows;
    the same values either way)."""
    out = intercept + np.asarray(X, dtype=np.float64) @ weights
    if splines is not None:
        # a few rows (one request): the table's few array operations; many rows: scipy's
        # per-feature evaluation, which streams through memory better, unless ``table``: the
        # table's numpy operations release the GIL, scipy's evaluation holds it (what the
        # two-stage path's threads want)
        if len(X) <= TABLE_ROWS or table:
            tab = spline_table(splines, spline_coef)
            for s0 in range(0, len(X), TABLE_ROWS):
                out[s0 : s0 + TABLE_ROWS] += tab.terms(X[s0 : s0 + TABLE_ROWS]).sum(axis=1)
        else:
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
