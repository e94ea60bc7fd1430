"""Per-feature cubic B-spline terms for an additive ranking score (a GAM-style ranker).

A linear ranker scores ``sum_j w_j x_j``. With splines each feature also gets a smooth shape,
``sum_j w_j x_j + f_j(x_j)``, where ``f_j`` is a cubic B-spline with knots at quantiles of the
feature's training values; the model stays additive (each feature's contribution can be read
alone, so explanations stay exact) and is stored as plain arrays (knots and coefficients).

Outside its knot range a feature's spline is constant (its boundary value), as scikit-learn's
``SplineTransformer(extrapolation="constant")``; the knot vector is extended beyond the range by
the end spacings, as there.
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import BSpline, PPoly

__all__ = ["FeatureSplines"]

_DEGREE = 3


class FeatureSplines:
    """Cubic B-spline bases of the columns of a feature matrix.

    Parameters
    ----------
    knots : list of ndarray
        One full knot vector per feature (interior knots extended by three on each side); an
        empty array: that feature has no spline term (e.g. it is constant).
    """

    def __init__(self, knots: list[np.ndarray]):
        self.knots = [np.asarray(t, dtype=np.float64) for t in knots]
        self.sizes = np.asarray([max(len(t) - _DEGREE - 1, 0) for t in self.knots], dtype=np.int64)
        self.offsets = np.r_[0, np.cumsum(self.sizes)].astype(np.int64)

    @classmethod
    def from_quantiles(cls, X: np.ndarray, n_knots: int) -> FeatureSplines:
        """Knots at ``n_knots`` evenly spaced quantiles of each column (duplicates merged; a
        column with fewer than two distinct quantiles gets no spline)."""
        knots = []
        qs = np.linspace(0.0, 1.0, int(n_knots))
        for j in range(X.shape[1]):
            u = np.unique(np.quantile(np.asarray(X[:, j], dtype=np.float64), qs))
            if len(u) < 2:
                knots.append(np.zeros(0))
                continue
            d0, d1 = u[1] - u[0], u[-1] - u[-2]
            lo = u[0] - d0 * np.arange(_DEGREE, 0, -1)
            hi = u[-1] + d1 * np.arange(1, _DEGREE + 1)
            knots.append(np.r_[lo, u, hi])
        return cls(knots)

    @property
    def n_basis(self) -> int:
        """Total number of basis columns over all features."""
        return int(self.offsets[-1])

    def _clipped(self, x: np.ndarray, j: int) -> np.ndarray:
        t = self.knots[j]
        return np.clip(np.asarray(x, dtype=np.float64), t[_DEGREE], t[-_DEGREE - 1])

    def basis(self, X: np.ndarray) -> np.ndarray:
        """Dense (n_rows, n_basis) array of every feature's basis functions at ``X`` (one
        vector-valued spline evaluation per feature; at most 4 of a feature's columns are
        non-zero in a row)."""
        out = np.zeros((len(X), self.n_basis), dtype=np.float64)
        for j, t in enumerate(self.knots):
            if self.sizes[j]:
                a, b = self.offsets[j], self.offsets[j + 1]
                out[:, a:b] = BSpline(t, np.eye(b - a), _DEGREE, extrapolate=False)(
                    self._clipped(X[:, j], j))
        return out

    def terms(self, X: np.ndarray, coef: np.ndarray) -> np.ndarray:
        """(n_rows, n_features) values ``f_j(x_j)`` of each feature's spline with the basis
        coefficients ``coef`` (laid out as :meth:`basis`'s columns); 0 where no spline.

        Each spline is evaluated as its piecewise-polynomial form (``PPoly.from_spline``, an
        exact change of basis, equal to the B-spline sum within float rounding), which scipy
        evaluates faster than the B-spline recursion (timings in
        ``experiments/scoring_paths/``)."""
        out = np.zeros((len(X), len(self.knots)), dtype=np.float64)
        for j in range(len(self.knots)):
            if self.sizes[j]:
                c = np.asarray(coef[self.offsets[j] : self.offsets[j + 1]], dtype=np.float64)
                out[:, j] = self._ppoly(j, c)(self._clipped(X[:, j], j))
        return out

    def _ppoly(self, j: int, c: np.ndarray) -> PPoly:
        """Feature ``j``'s spline with coefficients ``c`` as a PPoly, kept per (j, c) (the
        serving path evaluates the same splines on every request)."""
        cache = self.__dict__.setdefault("_pp_cache", {})
        key = (j, c.tobytes())
        pp = cache.get(key)
        if pp is None:
            if len(cache) > 4 * max(len(self.knots), 1):
                cache.clear()
            pp = cache[key] = PPoly.from_spline(BSpline(self.knots[j], c, _DEGREE),
                                                extrapolate=False)
        return pp

    def to_arrays(self) -> dict[str, np.ndarray]:
        lengths = np.asarray([len(t) for t in self.knots], dtype=np.int64)
        flat = np.concatenate(self.knots) if len(self.knots) else np.zeros(0)
        return {"knots": flat, "knot_ptr": np.r_[0, np.cumsum(lengths)].astype(np.int64)}

    @classmethod
    def from_arrays(cls, knots: np.ndarray, knot_ptr: np.ndarray) -> FeatureSplines:
        return cls([knots[a:b] for a, b in zip(knot_ptr[:-1], knot_ptr[1:])])
