"""The event log: column batches appended day by day, one DataFrame at the end.

Every event has a unique ``event_id`` in log order (the row order is chronological: by day,
then by the phase of the day: logistics, sessions, messages). Ids of orders, forms, opt-ins and
endorsements are the ``event_id`` of the event that created them, so ``ref`` columns point into
one id space. Ids below ``first_event_id`` belong to endorsements of the initial world (before
day 0; see ``SimulationResult.initial_endorsements``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._dataset import VISIBILITIES
from ._messaging import PENALTY_LADDER, QUOTA_KINDS, TEMPLATES

__all__ = ["CHANNELS", "EVENT_COLUMNS", "EVENT_TYPES", "EventLog"]

#: Event types, in code order.
EVENT_TYPES: tuple[str, ...] = (
    "impression", "click", "pay", "ship", "deliver", "refund", "form", "subscribe", "message",
    "recommend", "recommend_after_purchase", "follow", "opt_out", "complaint", "penalty",
    "churn", "adapt",
)
#: Where a click or an order came from.
CHANNELS: tuple[str, ...] = ("feed", "search", "message")
_T = {t: k for k, t in enumerate(EVENT_TYPES)}

# column -> (dtype, default)
_SPEC: dict[str, tuple[type, object]] = {
    "day": (np.int32, 0),
    "type": (np.int8, -1),
    "user": (np.int64, -1),
    "item": (np.int64, -1),
    "merchant": (np.int64, -1),
    "order_id": (np.int64, -1),
    "form_id": (np.int64, -1),
    "optin_id": (np.int64, -1),
    "ref": (np.int64, -1),
    "template": (np.int8, -1),
    "quota": (np.int8, -1),
    "penalty": (np.int8, -1),
    "marketing": (np.bool_, False),
    "source": (np.int16, -1),
    "channel": (np.int8, -1),
    "visibility": (np.int8, -1),
    "amount": (np.float64, np.nan),
    "cascade": (np.int64, -1),
    "depth": (np.int16, -1),
    "rank": (np.int16, -1),
}
#: Columns of ``SimulationResult.events``, in order.
EVENT_COLUMNS: tuple[str, ...] = ("event_id", *_SPEC)


class EventLog:
    """Append-only columnar log. ``add`` returns the event ids of the rows it appended."""

    def __init__(self, first_id: int):
        self.first_id = int(first_id)
        self.next_id = int(first_id)
        self._batches: list[tuple[int, int, str, int, dict[str, np.ndarray]]] = []
        self.counts = np.zeros(len(EVENT_TYPES), dtype=np.int64)

    def next_ids(self, n: int) -> np.ndarray:
        """The ids the next ``add`` of ``n`` rows will get (for rows that refer to themselves)."""
        return np.arange(self.next_id, self.next_id + n, dtype=np.int64)

    def add(self, type_: str, day: int, n: int, **cols: np.ndarray | int | float) -> np.ndarray:
        ids = self.next_ids(n)
        if n == 0:
            return ids
        arrays = {}
        for k, v in cols.items():
            dt = _SPEC[k][0]
            a = np.asarray(v)
            arrays[k] = np.broadcast_to(a, (n,)).astype(dt, copy=False) if a.ndim == 0 else a.astype(
                dt, copy=False)
            if arrays[k].shape != (n,):
                raise ValueError(f"event column {k!r} has shape {arrays[k].shape}, expected ({n},)")
        self._batches.append((self.next_id, n, type_, int(day), arrays))
        self.next_id += n
        self.counts[_T[type_]] += n
        return ids

    def __len__(self) -> int:
        return self.next_id - self.first_id

    def column(self, k: str) -> np.ndarray:
        """One index-level column of the log (e.g. ``"user"``: user indices, -1 where none)."""
        dt, d = _SPEC[k]
        out = np.full(len(self), d, dtype=dt)
        pos = 0
        for _first, m, _type, _day, arrays in self._batches:
            if k in arrays:
                out[pos:pos + m] = arrays[k]
            pos += m
        return out

    def frame(
        self,
        user_ids: np.ndarray,
        item_ids: np.ndarray,
        merchant_names: np.ndarray,
        platforms: np.ndarray,
    ) -> pd.DataFrame:
        """The log as a DataFrame with caller ids and categorical codes decoded."""
        n = len(self)
        cols = {k: np.full(n, d, dtype=dt) for k, (dt, d) in _SPEC.items()}
        pos = 0
        for _first, m, type_, day, arrays in self._batches:
            sl = slice(pos, pos + m)
            cols["type"][sl] = _T[type_]
            cols["day"][sl] = day
            for k, a in arrays.items():
                cols[k][sl] = a
            pos += m
        out = {"event_id": np.arange(self.first_id, self.first_id + n, dtype=np.int64)}
        out["day"] = cols["day"]
        out["type"] = pd.Categorical.from_codes(cols["type"], categories=list(EVENT_TYPES))
        out["user"] = _ids(user_ids, cols["user"])
        out["item"] = _ids(item_ids, cols["item"])
        out["merchant"] = pd.Categorical.from_codes(
            cols["merchant"], categories=[str(x) for x in merchant_names])
        for k in ("order_id", "form_id", "optin_id", "ref"):
            out[k] = cols[k]
        out["template"] = pd.Categorical.from_codes(cols["template"], categories=list(TEMPLATES))
        out["quota"] = pd.Categorical.from_codes(cols["quota"], categories=list(QUOTA_KINDS))
        out["penalty"] = pd.Categorical.from_codes(cols["penalty"], categories=list(PENALTY_LADDER))
        out["marketing"] = cols["marketing"]
        out["source"] = pd.Categorical.from_codes(
            cols["source"].astype(np.int64), categories=[str(x) for x in platforms])
        out["channel"] = pd.Categorical.from_codes(cols["channel"], categories=list(CHANNELS))
        out["visibility"] = pd.Categorical.from_codes(cols["visibility"], categories=list(VISIBILITIES))
        out["amount"] = cols["amount"]
        out["cascade"] = cols["cascade"]
        out["depth"] = cols["depth"]
        out["rank"] = cols["rank"]
        return pd.DataFrame(out)


def _ids(vocab: np.ndarray, idx: np.ndarray) -> pd.Series | np.ndarray:
    """Caller ids for indices; -1 becomes None (str vocabularies) or <NA> (int vocabularies)."""
    missing = idx < 0
    safe = np.where(missing, 0, idx)
    if vocab.dtype == object:
        ids = vocab[safe] if len(vocab) else np.full(len(idx), None, dtype=object)
        if missing.any():
            ids = ids.copy()
            ids[missing] = None
        return ids
    vals = vocab[safe].astype(np.int64) if len(vocab) else np.zeros(len(idx), dtype=np.int64)
    return pd.arrays.IntegerArray(vals, missing)
