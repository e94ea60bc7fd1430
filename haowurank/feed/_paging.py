"""One page of a feed: its rows assembled from the ranked batches, the :class:`FeedPage` object
services return, and the explanation text of an entry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

if TYPE_CHECKING:
    from ._build import FeedIndex

def explanation_text(n_friends: int, n_after_purchase: int) -> str:
    """``"3 friends recommended this; 2 after buying it"`` (singular and all-bought forms too)."""
    who = f"{n_friends} friend{'s' if n_friends != 1 else ''} recommended this"
    if n_after_purchase == 0:
        return who
    if n_friends == 1:
        return f"{who} after buying it"
    if n_after_purchase == n_friends:
        return f"{who}; all {n_friends} after buying it"
    return f"{who}; {n_after_purchase} after buying it"


def _concat(parts: list[dict[str, Any]], ulist: list, index: FeedIndex) -> pd.DataFrame:
    """Assemble the page frame from per-batch selections (rows grouped by user in input order)."""
    users_out, items, scores, ranks, nfs, nraps, flat_e, flat_k = ([] for _ in range(8))
    base = 0
    for p in parts:
        if len(p["item"]):
            users_out.append(p["viewer"] + base)
            items.append(p["item"])
            scores.append(p["score"])
            ranks.append(p["rank"])
            nfs.append(p["nf"])
            nraps.append(p["nrap"])
            lens = p["nf"]
            offs = np.arange(int(lens.sum())) - np.repeat(np.cumsum(lens) - lens, lens)
            epos = np.repeat(p["tstart"], lens) + offs
            flat_e.append(p["endorser"][epos])
            flat_k.append(p["kind"][epos])
        base += len(p["vidx"])

    def cat(chunks: list[np.ndarray], dtype: Any) -> np.ndarray:
        return np.concatenate(chunks) if chunks else np.empty(0, dtype=dtype)

    uo, it = cat(users_out, np.int64), cat(items, np.int64)
    nf, nrap = cat(nfs, np.int64), cat(nraps, np.int64)
    fe, fk = cat(flat_e, np.int64), cat(flat_k, np.int8)
    offsets = pa.array(np.r_[0, np.cumsum(nf)].astype(np.int32))
    endorsers = pa.ListArray.from_arrays(offsets, index._user_pa.take(pa.array(fe)))
    kinds = pa.ListArray.from_arrays(offsets, index._kind_pa.take(pa.array(fk.astype(np.int64))))
    if len(nf):
        keys = nf * (int(nrap.max()) + 1) + nrap
        uniq, inv = np.unique(keys, return_inverse=True)
        width = int(nrap.max()) + 1
        texts = np.asarray(
            [_explain_cached(int(k // width), int(k % width)) for k in uniq], dtype=object
        )[inv]
    else:
        texts = np.empty(0, dtype=object)
    user_col = np.asarray(ulist, dtype=object)[uo] if len(ulist) else np.empty(0, dtype=object)
    if not index._str_users:
        user_col = user_col.astype(np.int64)
    return pd.DataFrame(
        {
            "user": user_col,
            "item": index.ds.item_ids[it],
            "score": cat(scores, np.float32).astype(np.float64),
            "rank": cat(ranks, np.int64).astype(np.int64),
            "endorsers": pd.arrays.ArrowExtensionArray(endorsers),
            "kinds": pd.arrays.ArrowExtensionArray(kinds),
            "explanation": texts,
        }
    )


def _index_rows(parts: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """The rows of :func:`_concat` as index arrays (``FeedIndex.build_indices``)."""
    users, items, scores, ranks, nfs, flat_e, flat_k = ([] for _ in range(7))
    for p in parts:
        if len(p["item"]):
            users.append(p["vidx"][p["viewer"]])
            items.append(p["item"])
            scores.append(p["score"])
            ranks.append(p["rank"])
            nfs.append(p["nf"])
            lens = p["nf"]
            offs = np.arange(int(lens.sum())) - np.repeat(np.cumsum(lens) - lens, lens)
            epos = np.repeat(p["tstart"], lens) + offs
            flat_e.append(p["endorser"][epos])
            flat_k.append(p["kind"][epos])

    def cat(chunks: list[np.ndarray], dtype: Any) -> np.ndarray:
        return np.concatenate(chunks).astype(dtype) if chunks else np.empty(0, dtype=dtype)

    nf = cat(nfs, np.int64)
    return {
        "user": cat(users, np.int64),
        "item": cat(items, np.int64),
        "score": cat(scores, np.float32).astype(np.float64),
        "rank": cat(ranks, np.int64),
        "offsets": np.r_[0, np.cumsum(nf)].astype(np.int64),
        "endorser": cat(flat_e, np.int64),
        "kind": cat(flat_k, np.int8),
    }


@dataclass
class FeedPage:
    """One page of one user's feed as plain lists (JSON-ready); ``to_frame()`` gives the rows
    :func:`build` returns."""

    user: Any
    items: list
    scores: list[float]
    ranks: list[int]
    endorsers: list[list]
    kinds: list[list[str]]
    explanations: list[str]
    next_cursor: str | None
    snapshot: str
    now: int
    offset: int
    str_users: bool = True

    def __len__(self) -> int:
        return len(self.items)

    def records(self) -> list[dict[str, Any]]:
        """One dict per entry: item, score, rank, endorsers, kinds, explanation."""
        return [
            {"item": i, "score": s, "rank": r, "endorsers": e, "kinds": k, "explanation": x}
            for i, s, r, e, k, x in zip(self.items, self.scores, self.ranks, self.endorsers,
                                        self.kinds, self.explanations)
        ]

    def to_frame(self) -> pd.DataFrame:
        ut = pa.string() if self.str_users else pa.int64()
        f = pd.DataFrame(
            {
                "user": np.asarray([self.user] * len(self.items), dtype=object)
                if self.str_users else np.full(len(self.items), self.user, dtype=np.int64),
                "item": np.asarray(self.items) if self.items else np.empty(0, dtype=object),
                "score": np.asarray(self.scores, dtype=np.float64),
                "rank": np.asarray(self.ranks, dtype=np.int64),
                "endorsers": pd.arrays.ArrowExtensionArray(
                    pa.array(self.endorsers, type=pa.list_(ut))),
                "kinds": pd.arrays.ArrowExtensionArray(
                    pa.array(self.kinds, type=pa.list_(pa.string()))),
                "explanation": np.asarray(self.explanations, dtype=object),
            }
        )
        f.attrs.update(next_cursor=self.next_cursor, snapshot=self.snapshot, now=self.now,
                       offset=self.offset)
        return f


_EXPLAIN: dict[tuple[int, int], str] = {}


def _explain_cached(n_friends: int, n_after_purchase: int) -> str:
    key = (n_friends, n_after_purchase)
    text = _EXPLAIN.get(key)
    if text is None:
        text = explanation_text(n_friends, n_after_purchase)
        if len(_EXPLAIN) < 100_000:
            _EXPLAIN[key] = text
    return text
