"""Stochastic exposure policies over a slate's candidate scores, and the impression log.

An *exposure policy* turns the product's candidates for one slate (the feed's or the search's
top entries with their scores, the *pool*) into the slate a user sees. It fills the slate slot by
slot; at each slot it gives every candidate not yet shown a probability:

``"deterministic"``
    The remaining candidate with the highest score (ties: the earlier candidate in the pool).
    Inside the simulation this policy is the product itself: the slate is the product's own
    order (which, with the feed's diversity re-ranking, need not be sorted by score).
``"plackett_luce"``
    A softmax over the remaining candidates of ``z / temperature``, where ``z`` is the score
    standardised within the pool (mean 0, standard deviation 1; all 0 when the scores are
    equal). Filling slots one after another this way is a Plackett-Luce draw of the slate.
``"epsilon"``
    With probability ``epsilon`` a uniform draw among the remaining candidates, else the
    deterministic choice.

The probability of a realised slate prefix (the items in slots ``0..k``) is the product of the
slot probabilities of its items given the items above them (the product formula); it is exact,
and it is what the impression log records as ``propensity``. Inside the simulation the draws are
Gumbel-top-k: each candidate gets a Gumbel variable keyed by (day, user, surface, item) from the
run's counter-based streams, so a slate is a pure function of the seed, and two runs that differ
only in the temperature use the same noise (common random numbers).

References
----------
Plackett (1975), "The analysis of permutations", Applied Statistics 24(2). Luce (1959),
"Individual choice behavior". Kool, van Hoof and Welling (2019), "Stochastic beams and where to
find them: the Gumbel-top-k trick for sampling sequences without replacement", ICML.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ._events import CHANNELS

__all__ = [
    "CANDIDATE_COLUMNS",
    "EXPOSURES",
    "IMPRESSION_COLUMNS",
    "SURFACES",
    "ExposurePolicy",
    "ImpressionLog",
    "pad_groups",
]

#: Exposure policies (see the module docstring).
EXPOSURES: tuple[str, ...] = ("deterministic", "plackett_luce", "epsilon")
#: Surfaces an impression is logged on: the event log's channels (feed, search, message).
SURFACES: tuple[str, ...] = CHANNELS
#: Columns of ``SimulationResult.impressions``.
IMPRESSION_COLUMNS: tuple[str, ...] = (
    "slate", "day", "user", "item", "surface", "position", "score", "propensity",
    "slot_propensity", "click", "order",
)
#: Columns of ``SimulationResult.candidates``.
CANDIDATE_COLUMNS: tuple[str, ...] = ("slate", "item", "score", "pool_rank")


def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


@dataclass(frozen=True)
class ExposurePolicy:
    """A slot-by-slot policy over a pool of scored candidates (see the module docstring).

    Parameters
    ----------
    kind : {"deterministic", "plackett_luce", "epsilon"}
    temperature : float > 0
        Temperature of ``"plackett_luce"`` on standardised scores (ignored otherwise).
    epsilon : float in [0, 1]
        Exploration share of ``"epsilon"`` (ignored otherwise); 1 is a uniformly random slate.

    Examples
    --------
    >>> import numpy as np
    >>> p = ExposurePolicy("epsilon", epsilon=0.5)
    >>> scores = np.array([[3.0, 2.0, 1.0]])
    >>> p.slot_distribution(scores, np.ones((1, 3), bool), np.zeros((1, 3), bool)).round(3)
    array([[0.667, 0.167, 0.167]])
    """

    kind: str = "deterministic"
    temperature: float = 1.0
    epsilon: float = 0.1

    def __post_init__(self) -> None:
        if self.kind not in EXPOSURES:
            raise ValueError(
                f"The 'kind' of ExposurePolicy must be one of {list(EXPOSURES)}. "
                f"Got {self.kind!r} instead."
            )
        if not (_num(self.temperature) and self.temperature > 0):
            raise ValueError(
                f"The 'temperature' of ExposurePolicy must be a finite float > 0. "
                f"Got {self.temperature!r} instead."
            )
        if not (_num(self.epsilon) and 0.0 <= self.epsilon <= 1.0):
            raise ValueError(
                f"The 'epsilon' of ExposurePolicy must be a probability in [0, 1]. "
                f"Got {self.epsilon!r} instead."
            )

    @property
    def name(self) -> str:
        """A short label: ``deterministic``, ``pl(T=0.5)`` or ``eps(0.1)``."""
        if self.kind == "plackett_luce":
            return f"pl(T={self.temperature:g})"
        if self.kind == "epsilon":
            return f"eps({self.epsilon:g})"
        return "deterministic"

    # ------------------------------------------------------------------ probabilities
    def logits(self, scores: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Plackett-Luce logits: scores standardised per row over ``valid``, over the
        temperature; ``-inf`` where not valid. Shapes ``(n_slates, pool)``."""
        s = np.where(valid, scores, 0.0).astype(np.float64)
        n = np.maximum(valid.sum(axis=1, keepdims=True), 1)
        mean = s.sum(axis=1, keepdims=True) / n
        var = (np.where(valid, (s - mean) ** 2, 0.0)).sum(axis=1, keepdims=True) / n
        sd = np.sqrt(var)
        z = np.where(sd > 1e-12, (s - mean) / np.where(sd > 1e-12, sd, 1.0), 0.0)
        return np.where(valid, z / self.temperature, -np.inf)

    def slot_distribution(
        self, scores: np.ndarray, valid: np.ndarray, taken: np.ndarray
    ) -> np.ndarray:
        """Probability of each candidate at the next slot, given the ones already ``taken``.

        Parameters
        ----------
        scores : ndarray of shape (n_slates, pool)
        valid : bool ndarray of shape (n_slates, pool)
            Real candidates (False: padding).
        taken : bool ndarray of shape (n_slates, pool)
            Candidates already shown in the slots above.

        Returns
        -------
        ndarray of shape (n_slates, pool)
            Rows sum to 1 where a candidate remains, else to 0.
        """
        remaining = valid & ~taken
        n_left = remaining.sum(axis=1, keepdims=True)
        if self.kind == "plackett_luce":
            lg = np.where(remaining, self.logits(scores, valid), -np.inf)
            top = np.max(lg, axis=1, keepdims=True)
            top = np.where(np.isfinite(top), top, 0.0)
            e = np.where(remaining, np.exp(lg - top), 0.0)
            tot = e.sum(axis=1, keepdims=True)
            return e / np.where(tot > 0, tot, 1.0)
        masked = np.where(remaining, scores.astype(np.float64), -np.inf)
        best = np.argmax(masked, axis=1)  # first maximum: ties go to the earlier candidate
        greedy = np.zeros(scores.shape, dtype=np.float64)
        rows = np.flatnonzero(n_left[:, 0] > 0)
        greedy[rows, best[rows]] = 1.0
        if self.kind == "deterministic":
            return greedy
        uniform = np.where(remaining, 1.0 / np.maximum(n_left, 1), 0.0)
        return (1.0 - self.epsilon) * greedy + self.epsilon * uniform

    def slot_propensities(
        self, scores: np.ndarray, valid: np.ndarray, shown: np.ndarray
    ) -> np.ndarray:
        """Probability of each shown candidate in its slot given the candidates above it.

        Parameters
        ----------
        scores, valid : ndarray of shape (n_slates, pool)
        shown : int ndarray of shape (n_slates, n)
            Pool column of the candidate in each slot; -1 for an empty slot.

        Returns
        -------
        ndarray of shape (n_slates, n)
            NaN at empty slots. The prefix probability of slot ``k`` is the product over slots
            ``0..k`` (``np.cumprod`` along axis 1).
        """
        out = np.full(shown.shape, np.nan)
        taken = np.zeros(scores.shape, dtype=bool)
        rows = np.arange(len(shown))
        for k in range(shown.shape[1]):
            col = shown[:, k]
            ok = col >= 0
            if not ok.any():
                break
            dist = self.slot_distribution(scores, valid, taken)
            out[ok, k] = dist[rows[ok], col[ok]]
            taken[rows[ok], col[ok]] = True
        return out

    def sample(
        self, scores: np.ndarray, valid: np.ndarray, n: int, gumbel: np.ndarray,
        explore: np.ndarray | None = None,
    ) -> np.ndarray:
        """Draw a slate of up to ``n`` candidates per row.

        Parameters
        ----------
        scores, valid : ndarray of shape (n_slates, pool)
        n : int
            Slate length; a row with fewer valid candidates shows them all.
        gumbel : ndarray of shape (n_slates, pool)
            Standard Gumbel noise per candidate (Plackett-Luce: logits plus noise, top ``n``;
            epsilon: the uniform pick is the remaining candidate with the largest noise).
        explore : ndarray of shape (n_slates, n) or None
            Uniform [0, 1) draws per slot deciding exploration (``"epsilon"`` only).

        Returns
        -------
        int ndarray of shape (n_slates, n)
            Pool column per slot, -1 where the slot stays empty.
        """
        m = len(scores)
        out = np.full((m, n), -1, dtype=np.int64)
        if m == 0 or n == 0:
            return out
        if self.kind == "plackett_luce":
            key = np.where(valid, self.logits(scores, valid) + gumbel, -np.inf)
            order = np.argsort(-key, axis=1, kind="stable")[:, :n]
            kept = np.take_along_axis(valid, order, axis=1)
            out[:, : order.shape[1]] = np.where(kept, order, -1)
            return out
        taken = np.zeros(scores.shape, dtype=bool)
        rows = np.arange(m)
        for k in range(n):
            remaining = valid & ~taken
            has = remaining.any(axis=1)
            if not has.any():
                break
            greedy = np.argmax(np.where(remaining, scores, -np.inf), axis=1)
            if self.kind == "epsilon":
                if explore is None:
                    raise ValueError("ExposurePolicy.sample: 'explore' is needed for 'epsilon'.")
                pick = np.argmax(np.where(remaining, gumbel, -np.inf), axis=1)
                greedy = np.where(explore[:, k] < self.epsilon, pick, greedy)
            out[has, k] = greedy[has]
            taken[rows[has], greedy[has]] = True
        return out


def pad_groups(group: np.ndarray, *columns: np.ndarray, fill: Any = 0
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray]]:
    """Lay out rows that come grouped (consecutive equal ``group`` values) as a padded matrix.

    Returns ``(starts, lengths, valid, padded)``: each group's first row and row count, a bool
    matrix of shape ``(n_groups, max_length)`` and one padded matrix per column.
    """
    group = np.asarray(group)
    if len(group) == 0:
        z = np.empty(0, dtype=np.int64)
        return z, z, np.zeros((0, 0), bool), [np.zeros((0, 0), np.asarray(c).dtype) for c in columns]
    cut = np.flatnonzero(group[1:] != group[:-1]) + 1
    starts = np.concatenate([[0], cut]).astype(np.int64)
    lengths = np.diff(np.concatenate([starts, [len(group)]])).astype(np.int64)
    width = int(lengths.max())
    valid = np.arange(width)[None, :] < lengths[:, None]
    idx = np.where(valid, starts[:, None] + np.arange(width)[None, :], 0)
    padded = [np.where(valid, np.asarray(c)[idx], fill) for c in columns]
    return starts, lengths, valid, padded


class ImpressionLog:
    """The simulation's exposure step and impression log (one per run; see ``Engine``).

    ``expose`` turns each surface's candidate pools into slates under the run's policy and keeps
    their propensities; ``outcomes`` records the day's impressions with their clicks and orders;
    ``messages`` records message impressions (propensity 1: merchants' plans are not the
    ranker's). ``frames`` returns ``impressions`` and ``candidates`` with caller ids.
    """

    def __init__(self, config: Any, streams: Any):
        self.policy = ExposurePolicy(config.exposure, config.exposure_temperature,
                                     config.exposure_epsilon)
        self.pool_factor = int(config.exposure_pool)
        self.enabled = bool(config.log_impressions)
        self.streams = streams
        self.next_slate = 0
        self._pending: list[dict[str, np.ndarray]] = []
        self._rows: list[dict[str, np.ndarray]] = []
        self._cands: list[dict[str, np.ndarray]] = []

    @property
    def deterministic(self) -> bool:
        return self.policy.kind == "deterministic"

    def pool_size(self, n: int) -> int:
        """Candidates the product is asked for to fill a slate of ``n``."""
        return n if self.deterministic else n * self.pool_factor

    def expose(self, day: int, surface: str, slates: dict[str, np.ndarray], n: int
               ) -> dict[str, np.ndarray]:
        """The shown rows of ``slates`` (rows grouped by user, in pool order, with ``score``),
        with ``rank`` the slot (0-based); the deterministic policy keeps the first ``n``."""
        if self.deterministic and not self.enabled:
            return slates
        users = slates["user"]
        s_code = SURFACES.index(surface)
        starts, lengths, valid, (scores, pool_pos) = pad_groups(
            users, slates["score"].astype(np.float64), np.arange(len(users)), fill=0)
        m = len(starts)
        if self.deterministic:
            shown = np.where(np.arange(min(n, valid.shape[1]))[None, :] < lengths[:, None],
                             np.arange(min(n, valid.shape[1]))[None, :], -1)
            slot_p = np.where(shown >= 0, 1.0, np.nan)
        else:
            first_user = users[starts] if m else users[:0]
            items = np.where(valid, slates["item"][pool_pos], 0)
            u = self.streams.uniform("exposure", day, first_user[:, None], s_code, items)
            gumbel = -np.log(-np.log(np.clip(u, 1e-300, None)))
            explore = self.streams.uniform("explore", day, first_user[:, None], s_code,
                                           np.arange(n)[None, :]) if m else None
            shown = self.policy.sample(scores, valid, n, gumbel, explore)
            slot_p = self.policy.slot_propensities(scores, valid, shown)
        ok = shown >= 0
        slate_ids = self.next_slate + np.arange(m)
        self.next_slate += m
        rows_idx = np.where(ok, np.take_along_axis(pool_pos, np.maximum(shown, 0), axis=1), -1)
        sel = rows_idx[ok]  # row-major: slates in order, slots in order
        if self.deterministic:  # the product's slate, unchanged
            out = slates
        else:
            out = {k: np.asarray(v)[sel] for k, v in slates.items()}
            out["rank"] = np.nonzero(ok)[1].astype(np.int64)
        if self.enabled:
            prefix = np.cumprod(np.where(ok, slot_p, 1.0), axis=1)
            self._pending.append({
                "slate": np.repeat(slate_ids, ok.sum(axis=1)), "surface": np.full(len(sel), s_code),
                "score": out["score"].astype(np.float64), "propensity": prefix[ok],
                "slot_propensity": slot_p[ok],
            })
            self._cands.append({
                "slate": np.repeat(slate_ids, lengths), "item": slates["item"].astype(np.int64),
                "score": slates["score"].astype(np.float64),
                "pool_rank": np.arange(len(users)) - np.repeat(starts, lengths),
            })
        return out

    def outcomes(self, day: int, users: np.ndarray, items: np.ndarray, ranks: np.ndarray,
                 click: np.ndarray, buy: np.ndarray) -> None:
        """Record the day's session impressions (the rows of today's ``expose`` calls, in call
        order) with their clicks and orders (``buy``: one flag per click); a no-op unless
        impressions are logged."""
        order = np.zeros(len(click), dtype=bool)
        order[np.flatnonzero(click)[np.asarray(buy, dtype=bool)]] = True
        if not self.enabled:
            self._pending = []
            return
        parts, self._pending = self._pending, []
        if not parts:
            return
        cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        if len(cols["slate"]) != len(users):
            raise RuntimeError(
                f"ImpressionLog.outcomes: {len(users)} impressions for "
                f"{len(cols['slate'])} exposed rows."
            )
        self._rows.append({**cols, "day": np.full(len(users), day), "user": users, "item": items,
                           "position": ranks, "click": click, "order": order})

    def messages(self, day: int, users: np.ndarray, items: np.ndarray,
                 respond: np.ndarray) -> None:
        """Record delivered messages as impressions on the "message" surface (position 0,
        propensity 1); ``click`` and ``order`` are both the response (a purchase, one per user,
        item and day)."""
        n = len(users)
        if not self.enabled or n == 0:
            return
        slate_ids = self.next_slate + np.arange(n)
        self.next_slate += n
        order = np.zeros(n, dtype=bool)
        r = np.flatnonzero(respond)
        if len(r):
            key = users[r].astype(np.int64) * (int(items.max()) + 1) + items[r]
            order[r[np.unique(key, return_index=True)[1]]] = True
        self._rows.append({
            "slate": slate_ids, "surface": np.full(n, SURFACES.index("message")),
            "score": np.full(n, np.nan), "propensity": np.ones(n), "slot_propensity": np.ones(n),
            "day": np.full(n, day), "user": users, "item": items, "position": np.zeros(n, np.int64),
            "click": np.asarray(respond, bool), "order": order,
        })
        self._cands.append({"slate": slate_ids, "item": items.astype(np.int64),
                            "score": np.full(n, np.nan), "pool_rank": np.zeros(n, np.int64)})

    def frames(self, user_ids: np.ndarray, item_ids: np.ndarray
               ) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
        """``(impressions, candidates)`` with caller ids, sorted by slate and position (None
        when impressions are not logged)."""
        if not self.enabled:
            return None, None
        types = {"slate": np.int64, "day": np.int64, "user": np.int64, "item": np.int64,
                 "surface": np.int8, "position": np.int64, "score": np.float64,
                 "propensity": np.float64, "slot_propensity": np.float64, "click": bool,
                 "order": bool}
        cols = {k: (np.concatenate([np.asarray(p[k]) for p in self._rows]).astype(t)
                    if self._rows else np.empty(0, t)) for k, t in types.items()}
        imp = pd.DataFrame({
            "slate": cols["slate"], "day": cols["day"], "user": user_ids[cols["user"]],
            "item": item_ids[cols["item"]],
            "surface": pd.Categorical.from_codes(cols["surface"], categories=list(SURFACES)),
            "position": cols["position"], "score": cols["score"],
            "propensity": cols["propensity"], "slot_propensity": cols["slot_propensity"],
            "click": cols["click"], "order": cols["order"],
        })
        imp = imp.sort_values(["slate", "position"], kind="stable").reset_index(drop=True)
        ctypes = {"slate": np.int64, "item": np.int64, "score": np.float64, "pool_rank": np.int64}
        cc = {k: (np.concatenate([np.asarray(p[k]) for p in self._cands]).astype(t)
                  if self._cands else np.empty(0, t)) for k, t in ctypes.items()}
        cand = pd.DataFrame({"slate": cc["slate"], "item": item_ids[cc["item"]],
                             "score": cc["score"], "pool_rank": cc["pool_rank"]})
        cand = cand.sort_values(["slate", "pool_rank"], kind="stable").reset_index(drop=True)
        return imp, cand
