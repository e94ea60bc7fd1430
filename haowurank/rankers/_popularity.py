"""Global popularity, optionally weighted by interaction kind."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._dataset import KINDS, Dataset
from ..kinds import POPULARITY_KIND_WEIGHTS
from ._base import Ranker, shared_topk


class PopularityRanker(Ranker):
    """Rank items by how many users interacted with them, weighted by kind.

    Parameters
    ----------
    kind_weights : dict or None
        Weight of each interaction kind; ``None`` uses :data:`~haowurank.kinds.POPULARITY_KIND_WEIGHTS`. Each user
        counts once per (item, kind), so one heavy user cannot make an item popular.
    """

    name = "popularity"
    user_dependent = False
    handles_empty_users = True

    def __init__(self, kind_weights: dict[str, float] | None = None):
        self.kind_weights = kind_weights

    def _validate_params(self) -> None:
        kw = self.kind_weights
        if kw is None:
            return
        self._check_param(
            "kind_weights",
            isinstance(kw, dict) and all(k in KINDS for k in kw)
            and all(isinstance(v, int | float) and np.isfinite(v) and v >= 0 for v in kw.values()),
            f"None or a dict from kinds {list(KINDS)} to finite weights >= 0",
        )

    def _fit(self, ds: Dataset, *, show_progress: bool, callback: Any) -> None:
        kw = self.kind_weights or POPULARITY_KIND_WEIGHTS
        scores = np.zeros(ds.n_items)
        for kind, w in kw.items():
            if w:
                m = ds.matrix(kind, weight="binary")
                scores += w * np.asarray(m.sum(axis=0)).ravel()
        self.item_scores_ = scores.astype(np.float32)

    def shared_scores(self) -> np.ndarray:
        """The weighted popularity every known user gets (``item_scores_``)."""
        self._check_fitted()
        return self.item_scores_

    def _score(self, uidx: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.item_scores_, (len(uidx), len(self.item_scores_))).copy()

    def _recommend_idx(
        self, uidx: np.ndarray, n: int, exclude_seen: bool, cand: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Every known user shares one ranking: :func:`~haowurank.rankers._base.shared_topk`
        walks it and skips each user's seen items instead of building a dense row per user
        (the same lists). Batches with unknown users (whose fallback scores differ) take the
        base class's path."""
        uidx = np.asarray(uidx, dtype=np.int64)
        if (uidx < 0).any():
            return super()._recommend_idx(uidx, n, exclude_seen, cand)
        seen = self.seen_[uidx] if exclude_seen else None
        return shared_topk(self.item_scores_, n, len(uidx), seen, cand)

    def _explain(self, u: int, i: int) -> dict[str, Any]:
        s = float(self.item_scores_[i])
        return {"terms": {"popularity": s}, "text": f"Popular: weighted popularity {s:.3g}."}

    def _state(self) -> dict[str, np.ndarray]:
        return {"item_scores": self.item_scores_}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.item_scores_ = arrays["item_scores"]
