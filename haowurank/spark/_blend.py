"""The hybrid blend of the Spark path, as a plain numpy function (no pyspark): the reference the
Spark implementation is tested against, and what a single-machine caller can apply to the same
component scores.
"""

from __future__ import annotations

import numpy as np

__all__ = ["linear_blend"]


def linear_blend(
    cf: np.ndarray,
    trust: np.ndarray,
    cf_top: np.ndarray,
    trust_top: np.ndarray,
    trust_weight: float,
) -> np.ndarray:
    """``(1 - trust_weight) * cf / cf_top + trust_weight * trust / trust_top``, per pair.

    Parameters
    ----------
    cf : ndarray of shape (n_pairs,)
        Collaborative-filtering score (user factors . item factors).
    trust : ndarray of shape (n_pairs,)
        Trust score (0 where no trusted account endorsed the item).
    cf_top, trust_top : ndarray of shape (n_pairs,)
        Per-user scales of the pair's user: a bound of the user's CF scores (the Spark path uses
        ``||u|| * max_i ||v_i||``) and the user's largest trust score; a value <= 0 counts as 1
        (no scaling). Both are per-user constants, so a pair's blended score does not depend on
        which other items are ranked: recommendations, feeds and single pairs agree.
    trust_weight : float in [0, 1]
        Share of the trust term.

    Returns
    -------
    ndarray of float64, shape (n_pairs,)
    """
    w = float(trust_weight)
    cf_s = np.where(cf_top > 0, cf_top, 1.0)
    tr_s = np.where(trust_top > 0, trust_top, 1.0)
    return (1.0 - w) * np.asarray(cf, dtype=np.float64) / cf_s + w * np.asarray(
        trust, dtype=np.float64
    ) / tr_s
