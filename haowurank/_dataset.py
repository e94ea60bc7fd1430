"""The social-commerce dataset: vocabularies, interactions with kinds, orders, a social graph, blocks
and item metadata, with validated construction, fast CSR views and a lossless Parquet round trip.

Data flows one way through haowurank: ``Dataset`` -> trust / CF -> rankers -> feed / search -> sim -> apps.
A ``Dataset`` is immutable after construction; operations that change it (splits, k-core filtering)
return a new one that shares the vocabularies where that is promised.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ._atomic import atomic_dir, has_manifest
from ._errors import UnknownIdError, warn_data
from ._time import check_unit, seconds_column

__all__ = [
    "ENDORSEMENT_KINDS",
    "KINDS",
    "VISIBILITIES",
    "Dataset",
]

#: Interaction kinds, in code order (the code is the position).
KINDS: tuple[str, ...] = ("purchase", "recommend", "recommend_after_purchase", "view", "click", "form")
#: Kinds that are endorsements: they enter friends' feeds.
ENDORSEMENT_KINDS: tuple[str, ...] = ("recommend", "recommend_after_purchase")
#: Who may see an endorsement (see ``haowurank.feed`` for the exact rule).
VISIBILITIES: tuple[str, ...] = ("public", "friends", "private")

_KIND_CODE = {k: i for i, k in enumerate(KINDS)}
_VIS_CODE = {v: i for i, v in enumerate(VISIBILITIES)}
_INTERACTION_COLUMNS = (
    "user", "item", "weight", "timestamp", "kind", "order_id", "source", "visibility", "amount",
)
_ITEM_COLUMNS = ("item", "title", "category", "merchant", "price", "searchable")
_FORMAT_VERSION = 1
_DATASET_FORMAT = "haowurank.Dataset"
#: Every file a dataset folder holds besides ``meta.json``.
_DATASET_FILES = (
    "users.parquet", "item_vocab.parquet", "interactions.parquet", "social.parquet",
    "blocks.parquet", "items.parquet", "audiences.parquet", "truth.npz",
)
_DUPLICATE_POLICIES = ("sum", "max", "last", "first", "raise")
_INT64_MAX = 2**63 - 1


# --------------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------------

def _require_frame(obj: Any, name: str) -> pd.DataFrame:
    if not isinstance(obj, pd.DataFrame):
        raise TypeError(
            f"The '{name}' argument must be a pandas DataFrame. Got {type(obj).__name__} instead."
        )
    dup = obj.columns[obj.columns.duplicated()]
    if len(dup):
        raise ValueError(
            f"The '{name}' frame must have distinct column names. Found {sorted(set(map(str, dup)))} "
            f"more than once in the columns {list(map(str, obj.columns))}."
        )
    return obj


def _require_columns(df: pd.DataFrame, name: str, required: Sequence[str]) -> None:
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(
            f"The '{name}' frame must have the column(s) {list(required)}; missing {missing}. "
            f"Found columns {list(map(str, df.columns))}."
        )


def _first_bad(mask: np.ndarray, index: pd.Index) -> str:
    pos = np.flatnonzero(mask)
    shown = ", ".join(repr(index[p]) for p in pos[:3])
    return f"{len(pos)} row(s), first at index {shown}"


def _clean_ids(values: pd.Series, where: str) -> np.ndarray:
    """Ids as int64 or as Python str objects; NaN/None, bools, mixed and fractional ids are refused."""
    s = values
    isna = s.isna().to_numpy()
    if isna.any():
        raise ValueError(
            f"The column {where} must hold ids (ints or strings) with no missing values. "
            f"Found NaN/None in {_first_bad(isna, s.index)}."
        )
    if len(s) == 0:
        return np.empty(0, dtype=np.int64)
    if pd.api.types.is_bool_dtype(s.dtype):
        raise TypeError(f"The column {where} must hold int or str ids. Got booleans instead.")
    if pd.api.types.is_integer_dtype(s.dtype):
        raw = s.to_numpy()
        if raw.dtype.kind == "u":  # compare before the cast: uint64 above int64 would wrap
            big = raw > np.uint64(_INT64_MAX)
            if big.any():
                raise ValueError(
                    f"The column {where} must hold int ids in the int64 range "
                    f"[-2**63, 2**63 - 1]. Found {int(raw[np.flatnonzero(big)[0]])} in "
                    f"{_first_bad(big, s.index)}."
                )
        return raw.astype(np.int64)
    if pd.api.types.is_float_dtype(s.dtype):
        arr = s.to_numpy(dtype=np.float64)
        bad = ~np.isfinite(arr) | (arr != np.round(arr))
        if bad.any():
            raise TypeError(
                f"The column {where} must hold int or str ids. Found non-integral floats in "
                f"{_first_bad(bad, s.index)}, e.g. {arr[np.flatnonzero(bad)[0]]!r}."
            )
        big = (arr >= 2.0**63) | (arr < -(2.0**63))
        if big.any():
            raise ValueError(
                f"The column {where} must hold int ids in the int64 range [-2**63, 2**63 - 1]. "
                f"Found {arr[np.flatnonzero(big)[0]]!r} in {_first_bad(big, s.index)}."
            )
        return arr.astype(np.int64)
    # object / string dtypes: all str, or all ints
    arr = s.to_numpy(dtype=object)
    kinds = {type(v) for v in arr[: min(len(arr), 10_000)]} | {type(v) for v in arr[-10:]}
    if all(issubclass(k, str) for k in kinds) and all(isinstance(v, str) for v in arr):
        empty = np.fromiter((len(v) == 0 for v in arr), dtype=bool, count=len(arr))
        if empty.any():
            raise ValueError(
                f"The column {where} must hold non-empty ids. Found empty strings in "
                f"{_first_bad(empty, s.index)}."
            )
        return arr
    if all(isinstance(v, int | np.integer) and not isinstance(v, bool | np.bool_) for v in arr):
        big = np.fromiter((not -(2**63) <= int(v) <= _INT64_MAX for v in arr), dtype=bool,
                          count=len(arr))
        if big.any():
            raise ValueError(
                f"The column {where} must hold int ids in the int64 range [-2**63, 2**63 - 1]. "
                f"Found {int(arr[np.flatnonzero(big)[0]])} in {_first_bad(big, s.index)}."
            )
        return arr.astype(np.int64)
    types = sorted({type(v).__name__ for v in arr})
    raise TypeError(
        f"The column {where} must hold ids of one type (all int or all str). Found types {types}."
    )


def _unify_id_kind(arrays: list[tuple[str, np.ndarray]], what: str) -> None:
    kinds = {("str" if a.dtype == object else "int") for _, a in arrays if len(a)}
    if len(kinds) > 1:
        detail = ", ".join(
            f"{name}: {'str' if a.dtype == object else 'int'}" for name, a in arrays if len(a)
        )
        raise TypeError(f"All {what} ids must be of one type (all int or all str). Found {detail}.")


def _positive_finite(values: pd.Series, where: str, *, allow_zero: bool = False) -> np.ndarray:
    try:
        arr = np.array(pd.to_numeric(values, errors="raise"), dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"The column {where} must be numeric. Got dtype {values.dtype}.") from exc
    bad = ~np.isfinite(arr) | ((arr < 0) if allow_zero else (arr <= 0))
    if bad.any():
        expect = "finite and >= 0" if allow_zero else "finite and > 0"
        first = arr[np.flatnonzero(bad)[0]]
        raise ValueError(
            f"The column {where} must be {expect}. Found {float(first)!r} in {_first_bad(bad, values.index)}."
        )
    return arr


def _codes(values: pd.Series, allowed: tuple[str, ...], where: str) -> np.ndarray:
    s = values
    isna = s.isna().to_numpy()
    if isna.any():
        raise ValueError(
            f"The column {where} must be one of {list(allowed)}. Found missing values in "
            f"{_first_bad(isna, s.index)}."
        )
    # not pd.Categorical(values, categories=...): unknown values there are deprecated (pandas 3)
    codes = pd.Index(list(allowed)).get_indexer(s.astype(str).to_numpy())
    bad = codes < 0
    if bad.any():
        unknown = sorted(set(s[bad].astype(str)))[:5]
        raise ValueError(
            f"The column {where} must be one of {list(allowed)}. Found unknown value(s) {unknown} "
            f"in {_first_bad(bad, s.index)}."
        )
    return codes.astype(np.int8)


def _timestamps(values: pd.Series, where: str, time_unit: str = "s") -> np.ndarray:
    """Int64 seconds of a timestamp column: the library's one time rule (:mod:`haowurank._time`)."""
    return seconds_column(values, f"column {where}", time_unit)


def _optional_str(values: pd.Series) -> np.ndarray:
    """Strings (or None) as an object array; numbers are kept as their string form."""
    arr = values.to_numpy(dtype=object).copy()
    isna = pd.isna(values).to_numpy()
    arr[isna] = None
    for i in np.flatnonzero(~isna):
        if not isinstance(arr[i], str):
            arr[i] = str(arr[i])
    return arr


def _vocab(parts: list[np.ndarray]) -> np.ndarray:
    """Sorted unique ids: the vocabulary does not depend on row order."""
    nonempty = [p for p in parts if len(p)]
    if not nonempty:
        return np.empty(0, dtype=np.int64)
    allv = np.concatenate(nonempty)
    if allv.dtype == object:
        return np.array(sorted(set(allv.tolist())), dtype=object)
    return np.unique(allv)


def _index_of(vocab_index: pd.Index, ids: np.ndarray) -> np.ndarray:
    return vocab_index.get_indexer(ids).astype(np.int32)


# --------------------------------------------------------------------------------------------
# the dataset
# --------------------------------------------------------------------------------------------

@dataclass(eq=False, repr=False)
class Dataset:
    """A validated social-commerce dataset with dense internal indices.

    Build it with :meth:`from_frames` (validating) rather than the constructor. Users and items are
    kept in vocabularies (``user_ids``, ``item_ids``) that map the caller's ids (ints or strings) to
    dense indices ``0..n-1``; all matrices are indexed by those. Users that appear only in the
    social graph or in blocks are kept as users with no interactions; items that appear only in the
    item metadata are kept as items with no interactions.

    Attributes
    ----------
    user_ids : ndarray of shape (n_users,)
        Caller user ids, sorted (int64 or object array of str).
    item_ids : ndarray of shape (n_items,)
        Caller item ids, sorted.
    has_timestamps : bool
        Whether the interactions carried timestamps (otherwise every timestamp is 0).
    meta : dict
        Free-form provenance (name, source, citation, filtering applied).
    truth : dict of str to ndarray
        Ground truth of synthetic worlds (latent tastes, item quality, ...); empty for real data.
        Arrays indexed by user or item index; kept by splits, saved by :meth:`to_parquet`.
    """

    user_ids: np.ndarray
    item_ids: np.ndarray
    _inter: pd.DataFrame
    _social: pd.DataFrame
    _blocks: pd.DataFrame
    _items: pd.DataFrame
    has_timestamps: bool = False
    meta: dict = field(default_factory=dict)
    truth: dict = field(default_factory=dict)
    _audiences: pd.DataFrame = field(default_factory=lambda: _audience_frame())
    _cache: dict = field(default_factory=dict)

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_frames(
        cls,
        interactions: pd.DataFrame,
        social: pd.DataFrame | None = None,
        items: pd.DataFrame | None = None,
        blocks: pd.DataFrame | None = None,
        audiences: pd.DataFrame | None = None,
        *,
        duplicates: Literal["sum", "max", "last", "first", "raise"] = "sum",
        self_loops: Literal["raise", "drop"] = "raise",
        meta: dict | None = None,
        time_unit: Literal["s", "ms", "us", "ns"] = "s",
    ) -> Dataset:
        """Validate caller frames and build a Dataset.

        Parameters
        ----------
        interactions : DataFrame
            Columns ``user``, ``item``; optional ``weight`` (float > 0, default 1), ``timestamp``
            (int seconds or datetime64), ``kind`` (one of :data:`KINDS`, default ``"purchase"``),
            ``order_id``, ``source`` (platform the order was synced from), ``amount`` (>= 0),
            ``visibility`` (one of :data:`VISIBILITIES`, default ``"friends"``).
        social : DataFrame, optional
            Columns ``user``, ``friend``; optional ``weight`` (> 0). A row means ``user`` follows /
            trusts ``friend``; mutual friendship is two rows. Users that appear only here are kept.
        items : DataFrame, optional
            Columns ``item``; optional ``title``, ``category``, ``merchant``, ``price`` (>= 0),
            ``searchable`` (bool, default True).
        blocks : DataFrame, optional
            Columns ``user``, ``blocked``: ``user`` never sees what ``blocked`` endorsed.
        audiences : DataFrame, optional
            Columns ``user``, ``item``, ``viewer``: the endorsement of ``item`` by ``user`` is
            limited to the listed viewers (an audience list only ever narrows the visibility rule
            of ``haowurank.feed``). Rows whose (user, item) has no endorsement are dropped with a
            warning; viewers that appear only here are kept as users.
        duplicates : {"sum", "max", "last", "first", "raise"}
            How rows with the same (user, item, kind, order_id) are merged: their weights summed,
            the max weight kept, the latest (by timestamp, then row order) or the first kept.
            Merging warns with the number of rows merged.
        self_loops : {"raise", "drop"}
            A social row ``user == friend`` raises, or is dropped with a warning.
        time_unit : {"s", "ms", "us", "ns"}
            Unit of numeric timestamps (datetimes need none). Times must fall in the years
            1425 to 2514 once in seconds, so milliseconds passed as seconds are refused with a
            hint instead of being read as the year 55,800 (see :mod:`haowurank._time`).

        Raises
        ------
        TypeError
            A frame is not a DataFrame, or ids are of mixed or unsupported types.
        ValueError
            A missing column, a NaN id, a non-positive or non-finite weight, an unknown kind or
            visibility, a self-follow (with ``self_loops="raise"``), duplicated item metadata.
        """
        if duplicates not in _DUPLICATE_POLICIES:
            raise ValueError(
                f"The 'duplicates' parameter must be one of {list(_DUPLICATE_POLICIES)}. "
                f"Got {duplicates!r} instead."
            )
        if self_loops not in ("raise", "drop"):
            raise ValueError(
                f"The 'self_loops' parameter must be 'raise' or 'drop'. Got {self_loops!r} instead."
            )
        check_unit(time_unit, "Dataset.from_frames")
        inter = _require_frame(interactions, "interactions")
        _require_columns(inter, "interactions", ("user", "item"))
        extra = [c for c in inter.columns if c not in _INTERACTION_COLUMNS]
        if extra:
            warn_data(
                f"interactions: ignoring unknown column(s) {list(map(str, extra))}; "
                f"known columns are {list(_INTERACTION_COLUMNS)}."
            )
        n = len(inter)
        u_raw = _clean_ids(inter["user"], "'user' of interactions")
        i_raw = _clean_ids(inter["item"], "'item' of interactions")
        weight = (
            _positive_finite(inter["weight"], "'weight' of interactions")
            if "weight" in inter else np.ones(n)
        )
        has_ts = "timestamp" in inter
        ts = _timestamps(inter["timestamp"], "'timestamp' of interactions", time_unit) if has_ts else np.zeros(
            n, dtype=np.int64
        )
        kind = (
            _codes(inter["kind"], KINDS, "'kind' of interactions")
            if "kind" in inter else np.zeros(n, dtype=np.int8)
        )
        vis = (
            _codes(inter["visibility"], VISIBILITIES, "'visibility' of interactions")
            if "visibility" in inter else np.full(n, _VIS_CODE["friends"], dtype=np.int8)
        )
        amount = (
            _positive_finite(inter["amount"].fillna(0.0), "'amount' of interactions", allow_zero=True)
            if "amount" in inter else None
        )
        if amount is not None:
            amount[inter["amount"].isna().to_numpy()] = np.nan
        order_id = _optional_str(inter["order_id"]) if "order_id" in inter else None
        source = _optional_str(inter["source"]) if "source" in inter else None

        # social
        if social is not None:
            soc = _require_frame(social, "social")
            _require_columns(soc, "social", ("user", "friend"))
            su = _clean_ids(soc["user"], "'user' of social")
            sf = _clean_ids(soc["friend"], "'friend' of social")
            sw = (
                _positive_finite(soc["weight"], "'weight' of social")
                if "weight" in soc else np.ones(len(soc))
            )
            same = su == sf
            if same.any():
                if self_loops == "raise":
                    raise ValueError(
                        f"The 'social' frame must not contain self-follows (user == friend). Found "
                        f"{_first_bad(same, soc.index)}. Pass self_loops='drop' to drop them."
                    )
                warn_data(f"social: dropped {int(same.sum())} self-follow row(s) (user == friend).")
                su, sf, sw = su[~same], sf[~same], sw[~same]
        else:
            su = sf = np.empty(0, dtype=u_raw.dtype if len(u_raw) else np.int64)
            sw = np.empty(0)

        # blocks
        if blocks is not None:
            blk = _require_frame(blocks, "blocks")
            _require_columns(blk, "blocks", ("user", "blocked"))
            bu = _clean_ids(blk["user"], "'user' of blocks")
            bb = _clean_ids(blk["blocked"], "'blocked' of blocks")
            same = bu == bb
            if same.any():
                raise ValueError(
                    f"The 'blocks' frame must not contain a user blocking themself. Found "
                    f"{_first_bad(same, blk.index)}."
                )
        else:
            bu = bb = np.empty(0, dtype=np.int64)

        # audiences: an endorsement limited to a list of viewers
        if audiences is not None:
            aud = _require_frame(audiences, "audiences")
            _require_columns(aud, "audiences", ("user", "item", "viewer"))
            au = _clean_ids(aud["user"], "'user' of audiences")
            ai = _clean_ids(aud["item"], "'item' of audiences")
            av = _clean_ids(aud["viewer"], "'viewer' of audiences")
        else:
            au = av = np.empty(0, dtype=np.int64)
            ai = np.empty(0, dtype=np.int64)

        # item metadata
        if items is not None:
            itf = _require_frame(items, "items")
            _require_columns(itf, "items", ("item",))
            it_ids = _clean_ids(itf["item"], "'item' of items")
            dup = pd.Series(it_ids).duplicated().to_numpy()
            if dup.any():
                raise ValueError(
                    f"The 'items' frame must list each item once. Found duplicated item ids in "
                    f"{_first_bad(dup, itf.index)}."
                )
        else:
            itf = None
            it_ids = np.empty(0, dtype=i_raw.dtype if len(i_raw) else np.int64)

        _unify_id_kind(
            [("interactions.user", u_raw), ("social.user", su), ("social.friend", sf),
             ("blocks.user", bu), ("blocks.blocked", bb), ("audiences.user", au),
             ("audiences.viewer", av)], "user",
        )
        _unify_id_kind(
            [("interactions.item", i_raw), ("items.item", it_ids), ("audiences.item", ai)], "item"
        )
        if len(i_raw) or len(it_ids):
            allitems = np.concatenate([i_raw, it_ids]) if len(it_ids) else i_raw
            pad = -1 if allitems.dtype != object else ""
            if (allitems == pad).any():
                raise ValueError(
                    f"Item id {pad!r} is reserved as the padding id of short recommendation lists. "
                    f"Rename that item."
                )

        user_ids = _vocab([u_raw, su, sf, bu, bb, av])
        item_ids = _vocab([i_raw, it_ids])
        uix = pd.Index(user_ids)
        iix = pd.Index(item_ids)

        frame = pd.DataFrame(
            {
                "user": _index_of(uix, u_raw),
                "item": _index_of(iix, i_raw),
                "kind": kind,
                "weight": weight,
                "timestamp": ts,
                "visibility": vis,
            }
        )
        if order_id is not None:
            frame["order_id"] = order_id
        if source is not None:
            frame["source"] = source
        if amount is not None:
            frame["amount"] = amount
        frame = merge_duplicates(frame, duplicates)

        soc_frame = pd.DataFrame(
            {"user": _index_of(uix, su), "friend": _index_of(uix, sf), "weight": sw}
        )
        dup = soc_frame.duplicated(["user", "friend"])
        if dup.any():
            warn_data(
                f"social: merged {int(dup.sum())} duplicated (user, friend) row(s), keeping the max weight."
            )
            soc_frame = soc_frame.groupby(["user", "friend"], as_index=False, sort=False)["weight"].max()
        soc_frame = soc_frame.sort_values(["user", "friend"], kind="stable").reset_index(drop=True)

        blk_frame = pd.DataFrame({"user": _index_of(uix, bu), "blocked": _index_of(uix, bb)})
        dup = blk_frame.duplicated()
        if dup.any():
            warn_data(f"blocks: dropped {int(dup.sum())} duplicated (user, blocked) row(s).")
            blk_frame = blk_frame[~dup.to_numpy()]
        blk_frame = blk_frame.sort_values(["user", "blocked"], kind="stable").reset_index(drop=True)

        items_frame = _item_metadata(itf, it_ids, iix, len(item_ids))
        aud_frame = _audience_frame(au, ai, av, uix, iix, frame)
        return cls(
            user_ids=user_ids,
            item_ids=item_ids,
            _inter=frame,
            _social=soc_frame,
            _blocks=blk_frame,
            _items=items_frame,
            has_timestamps=has_ts,
            meta=dict(meta or {}),
            _audiences=aud_frame,
        )

    # ---------------------------------------------------------------- sizes and vocab
    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_interactions(self) -> int:
        return len(self._inter)

    @property
    def n_social(self) -> int:
        return len(self._social)

    def _vocab_index(self, which: str) -> pd.Index:
        key = f"index:{which}"
        if key not in self._cache:
            self._cache[key] = pd.Index(self.user_ids if which == "user" else self.item_ids)
        return self._cache[key]

    def _lookup(self, which: str, ids: Any, missing: str) -> np.ndarray:
        scalar = np.isscalar(ids) or isinstance(ids, str)
        arr = np.asarray([ids] if scalar else list(ids), dtype=object)
        idx = self._vocab_index(which).get_indexer(arr) if len(arr) else np.empty(0, dtype=np.intp)
        if missing == "raise" and (idx < 0).any():
            bad = arr[idx < 0][:5].tolist()
            raise UnknownIdError(
                f"Unknown {which} id(s) {bad} ({int((idx < 0).sum())} of {len(arr)}): not in this "
                f"dataset's {which} vocabulary of {len(self._vocab_index(which))} ids."
            )
        return idx.astype(np.int64)

    def user_index(self, ids: Any, missing: Literal["raise", "ignore"] = "raise") -> np.ndarray:
        """Dense indices of caller user ids; unknown ids raise ``UnknownIdError`` or give -1."""
        return self._lookup("user", ids, missing)

    def item_index(self, ids: Any, missing: Literal["raise", "ignore"] = "raise") -> np.ndarray:
        """Dense indices of caller item ids; unknown ids raise ``UnknownIdError`` or give -1."""
        return self._lookup("item", ids, missing)

    # ---------------------------------------------------------------- frames with caller ids
    @property
    def interactions(self) -> pd.DataFrame:
        """Interactions with caller ids and string kinds (a new frame each call)."""
        f = self._inter
        out = pd.DataFrame(
            {
                "user": self.user_ids[f["user"].to_numpy()],
                "item": self.item_ids[f["item"].to_numpy()],
                "kind": pd.Categorical.from_codes(f["kind"].to_numpy(), categories=list(KINDS)),
                "weight": f["weight"].to_numpy(),
            }
        )
        if self.has_timestamps:
            out["timestamp"] = f["timestamp"].to_numpy()
        out["visibility"] = pd.Categorical.from_codes(
            f["visibility"].to_numpy(), categories=list(VISIBILITIES)
        )
        for col in ("order_id", "source", "amount"):
            if col in f:
                out[col] = f[col].to_numpy()
        return out

    @property
    def social(self) -> pd.DataFrame:
        """Social rows (user follows friend) with caller ids."""
        f = self._social
        return pd.DataFrame(
            {
                "user": self.user_ids[f["user"].to_numpy()],
                "friend": self.user_ids[f["friend"].to_numpy()],
                "weight": f["weight"].to_numpy(),
            }
        )

    @property
    def blocks(self) -> pd.DataFrame:
        f = self._blocks
        return pd.DataFrame(
            {
                "user": self.user_ids[f["user"].to_numpy()],
                "blocked": self.user_ids[f["blocked"].to_numpy()],
            }
        )

    @property
    def audiences(self) -> pd.DataFrame:
        """Audience lists (endorser ``user``, ``item``, allowed ``viewer``) with caller ids."""
        f = self._audiences
        return pd.DataFrame(
            {
                "user": self.user_ids[f["user"].to_numpy()],
                "item": self.item_ids[f["item"].to_numpy()],
                "viewer": self.user_ids[f["viewer"].to_numpy()],
            }
        )

    @property
    def items(self) -> pd.DataFrame:
        """Item metadata for every item in the vocabulary (missing fields are NA)."""
        out = self._items.copy()
        out.insert(0, "item", self.item_ids)
        return out.reset_index(drop=True)

    @property
    def orders(self) -> pd.DataFrame:
        """Purchase rows with order id, source platform and amount (NA where not given)."""
        f = self._inter[self._inter["kind"].to_numpy() == _KIND_CODE["purchase"]]
        out = pd.DataFrame(
            {
                "order_id": f["order_id"].to_numpy() if "order_id" in f else None,
                "user": self.user_ids[f["user"].to_numpy()],
                "item": self.item_ids[f["item"].to_numpy()],
                "source": f["source"].to_numpy() if "source" in f else None,
                "amount": f["amount"].to_numpy() if "amount" in f else np.nan,
                "timestamp": f["timestamp"].to_numpy(),
            }
        )
        return out

    # ---------------------------------------------------------------- index-level arrays
    def interaction_arrays(self) -> dict[str, np.ndarray]:
        """Index-level interaction columns (user, item, kind codes, weight, timestamp, visibility)."""
        return {c: self._inter[c].to_numpy() for c in self._inter.columns}

    # The index-level frames below are the Dataset's own storage, shared with the library's
    # other parts without a copy: read them, never modify them in place (derive a new Dataset
    # with :meth:`replace` instead).

    @property
    def indexed_interactions(self) -> pd.DataFrame:
        """Interactions with dense indices: ``user``, ``item`` (indices), ``kind`` (codes into
        ``KINDS``), ``weight``, ``timestamp``, ``visibility`` (codes into ``VISIBILITIES``)
        and, where given, ``order_id``, ``source``, ``amount``. Read-only."""
        return self._inter

    @property
    def indexed_social(self) -> pd.DataFrame:
        """Social rows with dense indices: ``user``, ``friend``, ``weight``; sorted. Read-only."""
        return self._social

    @property
    def indexed_blocks(self) -> pd.DataFrame:
        """Blocks with dense indices: ``user``, ``blocked``; sorted. Read-only."""
        return self._blocks

    @property
    def indexed_audiences(self) -> pd.DataFrame:
        """Audience lists with dense indices: endorser ``user``, ``item``, allowed ``viewer``.
        Read-only."""
        return self._audiences

    @property
    def item_metadata(self) -> pd.DataFrame:
        """Item metadata in item-index order (row ``i`` is item index ``i``; no id column).
        Read-only."""
        return self._items

    def cached(self, key: Any, make: Callable[[], Any]) -> Any:
        """A structure derived from this (immutable) Dataset, built once by ``make()`` and kept
        under ``key`` for the Dataset's lifetime (e.g. the feed's index)."""
        hit = self._cache.get(key)
        if hit is None:
            hit = self._cache[key] = make()
        return hit

    def kind_mask(self, kinds: str | Iterable[str] | None) -> np.ndarray:
        """Boolean mask over interaction rows of the given kind(s) (None: all)."""
        codes = self._inter["kind"].to_numpy()
        if kinds is None:
            return np.ones(len(codes), dtype=bool)
        ks = [kinds] if isinstance(kinds, str) else list(kinds)
        unknown = [k for k in ks if k not in _KIND_CODE]
        if unknown:
            raise ValueError(f"The 'kind' parameter must be among {list(KINDS)}. Got {unknown}.")
        return np.isin(codes, [_KIND_CODE[k] for k in ks])

    # ---------------------------------------------------------------- sparse views
    def matrix(
        self,
        kind: str | Iterable[str] | None = None,
        *,
        weight: Literal["weight", "count", "binary"] = "weight",
        kind_weights: dict[str, float] | None = None,
    ) -> sp.csr_matrix:
        """User x item CSR matrix (float32) of the chosen kind(s).

        ``weight="weight"`` sums row weights, ``"count"`` counts rows, ``"binary"`` gives 1 where any
        row exists. ``kind_weights`` multiplies each row by the weight of its kind (kinds not named
        count 0). The result is cached; do not modify it in place.
        """
        if weight not in ("weight", "count", "binary"):
            raise ValueError(
                f"The 'weight' parameter must be 'weight', 'count' or 'binary'. Got {weight!r}."
            )
        kw_key = tuple(sorted(kind_weights.items())) if kind_weights else None
        kind_key = kind if isinstance(kind, str) or kind is None else tuple(kind)
        key = ("matrix", kind_key, weight, kw_key)
        if key in self._cache:
            return self._cache[key]
        mask = self.kind_mask(kind)
        f = self._inter
        rows = f["user"].to_numpy()[mask]
        cols = f["item"].to_numpy()[mask]
        if weight == "weight":
            vals = f["weight"].to_numpy()[mask].astype(np.float64)
        else:
            vals = np.ones(len(rows))
        if kind_weights:
            bad = [k for k in kind_weights if k not in _KIND_CODE]
            if bad:
                raise ValueError(f"The 'kind_weights' keys must be among {list(KINDS)}. Got {bad}.")
            table = np.zeros(len(KINDS))
            for k, w in kind_weights.items():
                table[_KIND_CODE[k]] = w
            vals = vals * table[f["kind"].to_numpy()[mask]]
        m = sp.csr_matrix(
            (vals, (rows, cols)), shape=(self.n_users, self.n_items), dtype=np.float64
        )
        m.sum_duplicates()
        if weight == "binary":
            m.data[:] = 1.0
        m.eliminate_zeros()
        m = m.astype(np.float32)
        m.sort_indices()
        self._cache[key] = m
        return m

    def social_matrix(self, *, weighted: bool = True) -> sp.csr_matrix:
        """User x user CSR (float32): entry (u, f) is the weight of ``u`` follows ``f``."""
        key = ("social", weighted)
        if key not in self._cache:
            f = self._social
            vals = f["weight"].to_numpy() if weighted else np.ones(len(f))
            m = sp.csr_matrix(
                (vals, (f["user"].to_numpy(), f["friend"].to_numpy())),
                shape=(self.n_users, self.n_users),
            ).astype(np.float32)
            m.sort_indices()
            self._cache[key] = m
        return self._cache[key]

    def block_matrix(self) -> sp.csr_matrix:
        """User x user boolean CSR: entry (u, b) means ``u`` blocked ``b``."""
        if "blocks" not in self._cache:
            f = self._blocks
            m = sp.csr_matrix(
                (np.ones(len(f), dtype=bool), (f["user"].to_numpy(), f["blocked"].to_numpy())),
                shape=(self.n_users, self.n_users),
            )
            m.sort_indices()
            self._cache["blocks"] = m
        return self._cache["blocks"]

    def user_counts(self) -> np.ndarray:
        """Number of distinct items each user interacted with (any kind)."""
        return np.diff(self.matrix(weight="binary").indptr)

    # ---------------------------------------------------------------- derived datasets
    def replace(
        self,
        *,
        user_ids: np.ndarray | None = None,
        indexed_interactions: pd.DataFrame | None = None,
        indexed_audiences: pd.DataFrame | None = None,
        indexed_social: pd.DataFrame | None = None,
        indexed_blocks: pd.DataFrame | None = None,
        meta: dict | None = None,
        truth: dict | None = None,
        has_timestamps: bool | None = None,
    ) -> Dataset:
        """A Dataset with the same item vocabulary and metadata and the given parts replaced.

        Parameters
        ----------
        user_ids : ndarray, optional
            A new user vocabulary (sorted, unique) that every index-level frame indexes; e.g.
            the old one with new users appended (then pass every frame re-indexed).
        indexed_interactions, indexed_audiences, indexed_social, indexed_blocks : DataFrame
            Index-level frames with the columns of the properties of the same name, indexed by
            this Dataset's vocabularies (not validated again: derive them from this Dataset).
        meta, truth : dict
        has_timestamps : bool

        Returns
        -------
        Dataset
        """
        changes: dict[str, Any] = {}
        for name, value in (("user_ids", user_ids), ("_inter", indexed_interactions), ("_audiences", indexed_audiences),
                            ("_social", indexed_social), ("_blocks", indexed_blocks),
                            ("meta", meta), ("truth", truth),
                            ("has_timestamps", has_timestamps)):
            if value is not None:
                changes[name] = value
        return self._replace(**changes)

    def _replace(self, **changes: Any) -> Dataset:
        fields = dict(
            user_ids=self.user_ids, item_ids=self.item_ids, _inter=self._inter,
            _social=self._social, _blocks=self._blocks, _items=self._items,
            has_timestamps=self.has_timestamps, meta=dict(self.meta), truth=self.truth,
            _audiences=self._audiences,
        )
        fields.update(changes)
        return Dataset(**fields)

    def select_interactions(self, mask: np.ndarray) -> Dataset:
        """A Dataset with the same vocabularies, social graph and items, and only masked rows."""
        mask = np.asarray(mask)
        if mask.dtype != bool or mask.shape != (self.n_interactions,):
            raise ValueError(
                f"The 'mask' must be a boolean array of shape ({self.n_interactions},). "
                f"Got dtype {mask.dtype} and shape {mask.shape}."
            )
        return self._replace(_inter=self._inter[mask].reset_index(drop=True))

    def add_interactions(
        self,
        interactions: pd.DataFrame,
        *,
        duplicates: Literal["sum", "max", "last", "first", "raise"] = "sum",
    ) -> Dataset:
        """A Dataset with more interaction rows: same vocabularies, social graph, blocks,
        audiences, items, meta and truth.

        The new rows are validated exactly as :meth:`from_frames` validates interactions (same
        columns, same messages); their users and items must already be in the vocabularies. A
        new row that repeats an existing (user, item, kind, order_id) is merged with it by the
        ``duplicates`` policy, as :meth:`from_frames` would merge the concatenated rows.
        Appending ``r`` rows to ``n`` costs ``O(r log r + n)`` when no row repeats.

        Raises
        ------
        UnknownIdError
            A user or item of ``interactions`` is not in the vocabularies.
        ValueError
            Bad rows (as :meth:`from_frames`), or timestamps given to a dataset without them
            (or missing from rows added to a dataset with them).
        """
        new = Dataset.from_frames(interactions, duplicates=duplicates)
        if new.n_interactions == 0:
            return self._replace()
        if self.n_interactions and new.has_timestamps != self.has_timestamps:
            have = "has" if self.has_timestamps else "has no"
            raise ValueError(
                f"The 'interactions' of add_interactions must {'' if self.has_timestamps else 'not '}"
                f"carry a 'timestamp' column: the dataset {have} timestamps. Got columns "
                f"{list(map(str, interactions.columns))}."
            )
        for which, ids in (("user", new.user_ids), ("item", new.item_ids)):
            idx = self._lookup(which, ids, "ignore")
            if (idx < 0).any():
                bad = ids[idx < 0][:5].tolist()
                raise UnknownIdError(
                    f"Unknown {which} id(s) {bad} ({int((idx < 0).sum())} in all) in the "
                    f"'interactions' of add_interactions: not in the dataset's {which} vocabulary."
                )
        add = new._inter.copy()
        add["user"] = self.user_index(new.user_ids)[add["user"].to_numpy()].astype(np.int32)
        add["item"] = self.item_index(new.item_ids)[add["item"].to_numpy()].astype(np.int32)
        old = self._inter
        frame = pd.concat([old, add], ignore_index=True)
        for col in ("order_id", "source"):
            if col in frame and (col not in old or col not in add):
                frame[col] = _objects(frame[col])
            elif col in frame:  # both parts are already object columns with None for missing
                frame[col] = pd.concat([old[col], _objects(add[col])], ignore_index=True)
        # rows that may repeat an existing key: same (user, item, kind), then order_id; the
        # sorted keys of the rows are kept in the cache, so appending costs O(r log n + n)
        ni = max(self.n_items, 1)

        def key(f: pd.DataFrame) -> np.ndarray:
            return (f["user"].to_numpy().astype(np.int64) * ni
                    + f["item"].to_numpy().astype(np.int64)) * len(KINDS) + f["kind"].to_numpy()

        def member(values: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
            if len(sorted_keys) == 0:
                return np.zeros(len(values), dtype=bool)
            pos = np.minimum(np.searchsorted(sorted_keys, values), len(sorted_keys) - 1)
            return sorted_keys[pos] == values

        old_sorted = self._cache.get(("row_keys",))
        if old_sorted is None:
            old_sorted = np.sort(key(old))
        add_keys = key(add)
        cand = member(add_keys, old_sorted)
        merged = False
        if cand.any():
            oid = "order_id" in frame
            cols = ["user", "item", "kind"] + (["order_id"] if oid else [])
            a = frame.iloc[len(old):][cand][cols].astype(object).fillna("\0na")
            before = frame.iloc[:len(old)]  # the old rows, with every column the union has
            o = before[member(key(old), np.unique(add_keys[cand]))][cols].astype(object).fillna("\0na")
            if pd.MultiIndex.from_frame(a).isin(pd.MultiIndex.from_frame(o)).any():
                frame = merge_duplicates(frame, duplicates)
                merged = True
        frame["user"] = frame["user"].astype(np.int32)
        frame["item"] = frame["item"].astype(np.int32)
        out = self._replace(_inter=frame, has_timestamps=self.has_timestamps or new.has_timestamps)
        if not merged:
            new_sorted = np.sort(add_keys)
            out._cache[("row_keys",)] = np.insert(
                old_sorted, np.searchsorted(old_sorted, new_sorted), new_sorted)
        return out

    def k_core(self, k: int) -> Dataset:
        """Iteratively keep users and items with at least ``k`` distinct interactions.

        The vocabularies shrink to surviving users and items; social and block rows between
        surviving users are kept; item metadata of surviving items is kept.
        """
        if not isinstance(k, int | np.integer) or k < 1:
            raise ValueError(f"The 'k' parameter must be a positive int. Got {k!r} instead.")
        f = self._inter
        u = f["user"].to_numpy()
        i = f["item"].to_numpy()
        keep = np.ones(len(f), dtype=bool)
        while True:
            pairs = pd.DataFrame({"u": u[keep], "i": i[keep]}).drop_duplicates()
            uc = np.bincount(pairs["u"].to_numpy(), minlength=self.n_users)
            ic = np.bincount(pairs["i"].to_numpy(), minlength=self.n_items)
            new_keep = keep & (uc[u] >= k) & (ic[i] >= k)
            if new_keep.sum() == keep.sum():
                break
            keep = new_keep
        users_kept = np.unique(u[keep])
        items_kept = np.unique(i[keep])
        umap = np.full(self.n_users, -1, dtype=np.int64)
        umap[users_kept] = np.arange(len(users_kept))
        imap = np.full(self.n_items, -1, dtype=np.int64)
        imap[items_kept] = np.arange(len(items_kept))
        inter = f[keep].copy()
        inter["user"] = umap[inter["user"].to_numpy()].astype(np.int32)
        inter["item"] = imap[inter["item"].to_numpy()].astype(np.int32)
        soc = self._social
        sk = (umap[soc["user"].to_numpy()] >= 0) & (umap[soc["friend"].to_numpy()] >= 0)
        soc = soc[sk].copy()
        soc["user"] = umap[soc["user"].to_numpy()].astype(np.int32)
        soc["friend"] = umap[soc["friend"].to_numpy()].astype(np.int32)
        blk = self._blocks
        bk = (umap[blk["user"].to_numpy()] >= 0) & (umap[blk["blocked"].to_numpy()] >= 0)
        blk = blk[bk].copy()
        blk["user"] = umap[blk["user"].to_numpy()].astype(np.int32)
        blk["blocked"] = umap[blk["blocked"].to_numpy()].astype(np.int32)
        aud = self._audiences
        ak = (
            (umap[aud["user"].to_numpy()] >= 0) & (umap[aud["viewer"].to_numpy()] >= 0)
            & (imap[aud["item"].to_numpy()] >= 0)
        )
        aud = aud[ak].copy()
        for col, m in (("user", umap), ("item", imap), ("viewer", umap)):
            aud[col] = m[aud[col].to_numpy()].astype(np.int32)
        meta = dict(self.meta)
        meta["k_core"] = int(k)
        return Dataset(
            user_ids=self.user_ids[users_kept],
            item_ids=self.item_ids[items_kept],
            _inter=inter.reset_index(drop=True),
            _social=soc.reset_index(drop=True),
            _blocks=blk.reset_index(drop=True),
            _items=self._items.iloc[items_kept].reset_index(drop=True),
            has_timestamps=self.has_timestamps,
            meta=meta,
            _audiences=aud.reset_index(drop=True),
        )

    # ---------------------------------------------------------------- comparison and display
    def equals(self, other: Dataset) -> bool:
        """True when both datasets hold exactly the same data (vocabularies, rows, metadata)."""
        if not isinstance(other, Dataset):
            return False
        return (
            np.array_equal(self.user_ids, other.user_ids)
            and self.user_ids.dtype == other.user_ids.dtype
            and np.array_equal(self.item_ids, other.item_ids)
            and self.item_ids.dtype == other.item_ids.dtype
            and self.has_timestamps == other.has_timestamps
            and _frames_equal(self._inter, other._inter)
            and _frames_equal(self._social, other._social)
            and _frames_equal(self._blocks, other._blocks)
            and _frames_equal(self._items, other._items)
            and _frames_equal(self._audiences, other._audiences)
        )

    def summary(self) -> dict[str, Any]:
        """Counts: users, items, interactions per kind, social rows, blocks, density."""
        kinds = np.bincount(self._inter["kind"].to_numpy(), minlength=len(KINDS))
        return {
            "users": self.n_users,
            "items": self.n_items,
            "interactions": self.n_interactions,
            **{f"kind:{k}": int(c) for k, c in zip(KINDS, kinds) if c},
            "social_rows": self.n_social,
            "blocks": len(self._blocks),
            "density": self.n_interactions / max(1, self.n_users * self.n_items),
        }

    def __repr__(self) -> str:
        name = self.meta.get("name", "")
        return (
            f"Dataset({name + ': ' if name else ''}{self.n_users} users, {self.n_items} items, "
            f"{self.n_interactions} interactions, {self.n_social} social rows)"
        )

    # ---------------------------------------------------------------- parquet round trip
    def to_parquet(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the dataset to a folder of Parquet files plus ``meta.json``, atomically.

        The folder is written beside its destination under a temporary name and renamed into
        place, so a failed write leaves no half-written dataset. An existing destination is
        replaced only when it is a haowurank dataset (its ``meta.json``) or an empty folder;
        anything else raises ``FileExistsError`` unless ``overwrite=True``.
        """
        dest = Path(path)
        with atomic_dir(dest, owned=has_manifest(_DATASET_FORMAT, files=_DATASET_FILES),
                        overwrite=overwrite, what="haowurank dataset") as tmp:
            _vocab_frame(self.user_ids).to_parquet(tmp / "users.parquet", index=False)
            _vocab_frame(self.item_ids).to_parquet(tmp / "item_vocab.parquet", index=False)
            self._inter.to_parquet(tmp / "interactions.parquet", index=False)
            self._social.to_parquet(tmp / "social.parquet", index=False)
            self._blocks.to_parquet(tmp / "blocks.parquet", index=False)
            self._items.to_parquet(tmp / "items.parquet", index=False)
            self._audiences.to_parquet(tmp / "audiences.parquet", index=False)
            info = {
                "format": _DATASET_FORMAT,
                "format_version": _FORMAT_VERSION,
                "has_timestamps": self.has_timestamps,
                "user_id_type": "str" if self.user_ids.dtype == object else "int",
                "item_id_type": "str" if self.item_ids.dtype == object else "int",
                "meta": self.meta,
            }
            (tmp / "meta.json").write_text(json.dumps(info, indent=1, default=str))
            if self.truth:
                np.savez(tmp / "truth.npz", **{k: np.asarray(v) for k, v in self.truth.items()})
        return dest

    @classmethod
    def read_parquet(cls, path: str | os.PathLike) -> Dataset:
        """Read a dataset written by :meth:`to_parquet` (no pickle is involved)."""
        src = Path(path)
        meta_file = src / "meta.json"
        if not meta_file.is_file():
            raise FileNotFoundError(f"No haowurank dataset at {src}: {meta_file.name} is missing.")
        try:
            info = json.loads(meta_file.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{meta_file} is not valid JSON: {exc}") from exc
        if info.get("format") != "haowurank.Dataset":
            raise ValueError(f"{src} is not a haowurank dataset (format={info.get('format')!r}).")
        if info.get("format_version") != _FORMAT_VERSION:
            raise ValueError(
                f"{src} has dataset format version {info.get('format_version')!r}; this haowurank "
                f"reads version {_FORMAT_VERSION}."
            )
        try:
            return cls._from_stored(src, info)
        except (ValueError, TypeError, KeyError) as exc:
            msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            kind = TypeError if isinstance(exc, TypeError) else ValueError
            raise kind(f"{src}: {msg}") from exc

    @classmethod
    def _from_stored(cls, src: Path, info: dict) -> Dataset:
        """The dataset a folder holds, validated with the column rules of :meth:`from_frames`."""
        tables = {}
        for name in ("users", "item_vocab", "interactions", "social", "blocks", "items",
                     "audiences"):
            f = src / f"{name}.parquet"
            if name == "audiences" and not f.is_file():
                tables[name] = _audience_frame()
                continue
            try:
                tables[name] = pd.read_parquet(f)
            except (OSError, ValueError) as exc:
                raise ValueError(f"Could not read the dataset at {src}: {f.name}: {exc}") from exc
            _require_frame(tables[name], f"{name}.parquet")
        users = _stored_vocab(tables["users"], info, "user")
        items = _stored_vocab(tables["item_vocab"], info, "item")
        inter, social, blocks = tables["interactions"], tables["social"], tables["blocks"]
        item_meta, audiences = tables["items"], tables["audiences"]
        for frame, name, cols in (
            (inter, "interactions", ("user", "item", "kind", "weight", "timestamp", "visibility")),
            (social, "social", ("user", "friend", "weight")),
            (blocks, "blocks", ("user", "blocked")),
            (item_meta, "items", _ITEM_COLUMNS[1:]),
            (audiences, "audiences", ("user", "item", "viewer")),
        ):
            _require_columns(frame, f"{name}.parquet", cols)
            for c in cols:
                if c in ("user", "item", "friend", "blocked", "viewer") and not (
                    pd.api.types.is_integer_dtype(frame[c].dtype)
                    and not pd.api.types.is_bool_dtype(frame[c].dtype)
                ):
                    raise TypeError(
                        f"The column {c!r} of {name}.parquet must hold int indices. Got dtype "
                        f"{frame[c].dtype}."
                    )
        # the column rules of from_frames, with its messages
        _positive_finite(inter["weight"], "'weight' of interactions")
        _timestamps(inter["timestamp"], "'timestamp' of interactions")
        _codes(_decode_codes(inter["kind"], KINDS), KINDS, "'kind' of interactions")
        _codes(_decode_codes(inter["visibility"], VISIBILITIES), VISIBILITIES,
               "'visibility' of interactions")
        if "amount" in inter:
            _positive_finite(inter["amount"].fillna(0.0), "'amount' of interactions",
                             allow_zero=True)
        _positive_finite(social["weight"], "'weight' of social")
        _positive_finite(item_meta["price"].fillna(0.0), "'price' of items", allow_zero=True)
        s = item_meta["searchable"]
        if s.isna().any() or not pd.api.types.is_bool_dtype(s.dtype):
            raise TypeError(
                f"The column 'searchable' of items must be boolean with no missing values. "
                f"Got dtype {s.dtype}."
            )
        for col in ("order_id", "source"):
            if col in inter:
                inter[col] = _objects(inter[col])
        for col in ("title", "category", "merchant"):
            item_meta[col] = _objects(item_meta[col])
        for col in ("kind", "visibility"):
            inter[col] = inter[col].astype(np.int8)
        truth = {}
        if (src / "truth.npz").is_file():
            truth = _read_truth(src / "truth.npz")
        has_ts = info.get("has_timestamps")
        if not isinstance(has_ts, bool):
            raise TypeError(f"meta.json: 'has_timestamps' must be true or false. Got {has_ts!r}.")
        meta = info.get("meta", {})
        if not isinstance(meta, dict):
            raise TypeError(f"meta.json: 'meta' must be an object. Got {type(meta).__name__}.")
        ds = cls(
            user_ids=users, item_ids=items, _inter=inter, _social=social, _blocks=blocks,
            _items=item_meta, has_timestamps=has_ts, meta=meta, truth=truth, _audiences=audiences,
        )
        ds._check_indices()
        return ds

    def _check_indices(self) -> None:
        for name, frame, cols, n in (
            ("interactions", self._inter, ("user",), self.n_users),
            ("interactions", self._inter, ("item",), self.n_items),
            ("social", self._social, ("user", "friend"), self.n_users),
            ("blocks", self._blocks, ("user", "blocked"), self.n_users),
            ("audiences", self._audiences, ("user", "viewer"), self.n_users),
            ("audiences", self._audiences, ("item",), self.n_items),
        ):
            for c in cols:
                v = frame[c].to_numpy()
                if len(v) and (v.min() < 0 or v.max() >= n):
                    raise ValueError(f"Corrupt dataset: {name}.{c} holds indices outside [0, {n}).")
        if len(self._items) != self.n_items:
            raise ValueError("Corrupt dataset: item metadata does not cover the item vocabulary.")


# --------------------------------------------------------------------------------------------
# module helpers
# --------------------------------------------------------------------------------------------

def merge_duplicates(frame: pd.DataFrame, policy: str) -> pd.DataFrame:
    """Merge index-level interaction rows that repeat (user, item, kind[, order_id]) by
    ``policy`` (as ``Dataset.from_frames``'s ``duplicates``), warning how many were merged."""
    keys = ["user", "item", "kind"] + (["order_id"] if "order_id" in frame else [])
    # a total order once keys are unique, so the row order of the input does not matter
    order = ["user", "timestamp", "item", "kind"] + (["order_id"] if "order_id" in frame else [])
    frame = frame.sort_values(order, kind="stable")
    dup = frame.duplicated(keys, keep=False).to_numpy()
    n_dup_rows = int(frame.duplicated(keys).sum())
    if n_dup_rows:
        if policy == "raise":
            raise ValueError(
                f"interactions: {n_dup_rows} row(s) repeat an earlier (user, item, kind"
                f"{', order_id' if 'order_id' in frame else ''}); pass duplicates='sum'|'max'|'last'|'first' "
                f"to merge them."
            )
        warn_data(
            f"interactions: merged {n_dup_rows} duplicated (user, item, kind"
            f"{', order_id' if 'order_id' in frame else ''}) row(s) with duplicates={policy!r}.",
            stacklevel=4,
        )
        single = frame[~dup]
        multi = frame[dup]
        g = multi.groupby(keys, sort=False, dropna=False)
        if policy in ("last", "first"):
            merged = g.tail(1) if policy == "last" else g.head(1)
        else:
            merged = g.tail(1).copy()  # latest row's other fields
            agg = g["weight"].sum() if policy == "sum" else g["weight"].max()
            merged = merged.set_index(keys)
            merged["weight"] = agg.reindex(merged.index).to_numpy()
            merged = merged.reset_index()[frame.columns]
        frame = pd.concat([single, merged], ignore_index=True)
        frame = frame.sort_values(order, kind="stable")
    frame = frame.reset_index(drop=True)
    for col in ("order_id", "source"):  # groupby keys turn None into NaN; missing is None
        if col in frame:
            frame[col] = _objects(frame[col])
    frame["user"] = frame["user"].astype(np.int32)
    frame["item"] = frame["item"].astype(np.int32)
    return frame


def _item_metadata(itf: pd.DataFrame | None, it_ids: np.ndarray, iix: pd.Index, n: int) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            "title": np.full(n, None, dtype=object),
            "category": np.full(n, None, dtype=object),
            "merchant": np.full(n, None, dtype=object),
            "price": np.full(n, np.nan),
            "searchable": np.ones(n, dtype=bool),
        }
    )
    if itf is None or not len(itf):
        return out
    pos = _index_of(iix, it_ids)
    for col in ("title", "category", "merchant"):
        if col in itf:
            out.loc[pos, col] = _optional_str(itf[col])
    if "price" in itf:
        price = itf["price"]
        notna = price.notna().to_numpy()
        vals = _positive_finite(price.fillna(0.0), "'price' of items", allow_zero=True)
        vals[~notna] = np.nan
        out.loc[pos, "price"] = vals
    if "searchable" in itf:
        s = itf["searchable"]
        if s.isna().any() or not pd.api.types.is_bool_dtype(s.dtype):
            raise TypeError(
                f"The column 'searchable' of items must be boolean with no missing values. "
                f"Got dtype {s.dtype}."
            )
        out.loc[pos, "searchable"] = s.to_numpy(dtype=bool)
    return out


def _audience_frame(
    au: np.ndarray | None = None,
    ai: np.ndarray | None = None,
    av: np.ndarray | None = None,
    uix: pd.Index | None = None,
    iix: pd.Index | None = None,
    inter: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Index-level audience rows (user, item, viewer), int32, sorted and unique.

    Without arguments: the empty frame. Rows whose (user, item) has no endorsement row in
    ``inter`` are dropped with a warning; duplicated rows are dropped with a warning.
    """
    empty = pd.DataFrame({c: np.empty(0, dtype=np.int32) for c in ("user", "item", "viewer")})
    if au is None or not len(au):
        return empty
    f = pd.DataFrame(
        {"user": _index_of(uix, au), "item": _index_of(iix, ai), "viewer": _index_of(uix, av)}
    )
    endorse = np.isin(inter["kind"].to_numpy(), [_KIND_CODE[k] for k in ENDORSEMENT_KINDS])
    n_items = max(len(iix), 1)
    have = np.unique(
        inter["user"].to_numpy()[endorse].astype(np.int64) * n_items
        + inter["item"].to_numpy()[endorse]
    )
    key = f["user"].to_numpy().astype(np.int64) * n_items + np.maximum(f["item"].to_numpy(), 0)
    ok = (f["item"].to_numpy() >= 0) & np.isin(key, have)
    if not ok.all():
        warn_data(
            f"audiences: dropped {int((~ok).sum())} row(s) whose (user, item) has no "
            f"endorsement ({list(ENDORSEMENT_KINDS)}) in the interactions."
        )
        f = f[ok]
    dup = f.duplicated().to_numpy()
    if dup.any():
        warn_data(f"audiences: dropped {int(dup.sum())} duplicated (user, item, viewer) row(s).")
        f = f[~dup]
    return f.sort_values(["user", "item", "viewer"], kind="stable").reset_index(drop=True)


def _vocab_frame(ids: np.ndarray) -> pd.DataFrame:
    if ids.dtype == object:
        return pd.DataFrame({"id": pd.array(ids.tolist(), dtype="string")})
    return pd.DataFrame({"id": ids.astype(np.int64)})


def _stored_vocab(frame: pd.DataFrame, info: dict, which: str) -> np.ndarray:
    """A stored vocabulary, checked like caller ids (:func:`_clean_ids`), against the id type
    ``meta.json`` declares, and for repeated ids."""
    file = "users.parquet" if which == "user" else "item_vocab.parquet"
    _require_columns(frame, file, ("id",))
    declared = info.get(f"{which}_id_type")
    if declared not in ("int", "str"):
        raise ValueError(
            f"meta.json: '{which}_id_type' must be 'int' or 'str'. Got {declared!r} instead."
        )
    col = frame["id"]
    if pd.api.types.is_integer_dtype(col.dtype) or pd.api.types.is_float_dtype(col.dtype):
        found = "int"
    elif pd.api.types.is_bool_dtype(col.dtype):
        found = "bool"
    else:
        col = _objects(col)
        found = "str"
    if found != declared:
        raise TypeError(
            f"meta.json declares {which}_id_type {declared!r}, but the column 'id' of {file} "
            f"holds {found} ids (dtype {frame['id'].dtype})."
        )
    ids = _clean_ids(col, f"'id' of {file}")
    dup = pd.Series(ids).duplicated().to_numpy()
    if dup.any():
        raise ValueError(
            f"The column 'id' of {file} must list each {which} id once. Found duplicated ids "
            f"in {_first_bad(dup, frame.index)}, e.g. {ids[np.flatnonzero(dup)[0]]!r}."
        )
    return ids


def _read_truth(path: Path) -> dict[str, np.ndarray]:
    """The ground-truth arrays of a synthetic world: plain numeric arrays only (no pickle),
    each member's declared size checked against the bytes stored before it is read."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                with zf.open(info) as fh:
                    version = np.lib.format.read_magic(fh)
                    read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                            else np.lib.format.read_array_header_2_0)
                    shape, _, dtype = read(fh)
                    need = int(np.prod(shape, dtype=object)) * dtype.itemsize
                    if dtype.hasobject or need != info.file_size - fh.tell():
                        raise ValueError(
                            f"array {info.filename!r} declares shape {shape} of {dtype} "
                            f"({need} bytes) but stores {info.file_size - fh.tell()} bytes"
                        )
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, SyntaxError, zipfile.BadZipFile) as exc:
        raise ValueError(f"Could not read {path.name} as plain numpy arrays: {exc}") from exc


def _decode_codes(codes: pd.Series, names: tuple[str, ...]) -> pd.Series:
    """Stored int codes as the names ``from_frames`` accepts; an unknown code stays visible
    as ``"<code 42>"`` so the shared rule reports it."""
    c = codes.to_numpy()
    if not pd.api.types.is_integer_dtype(codes.dtype):
        return codes.astype(str)
    table = np.asarray(names, dtype=object)
    ok = (c >= 0) & (c < len(names))
    out = np.empty(len(c), dtype=object)
    out[ok] = table[c[ok].astype(np.int64)]
    out[~ok] = [f"<code {int(v)}>" for v in c[~ok]]
    return pd.Series(out, index=codes.index, dtype=object)


def _objects(s: pd.Series) -> pd.Series:
    """Strings with None for missing, as an object Series (pandas 3 would infer ``str`` from an
    object array and turn None into NaN)."""
    arr = s.to_numpy(dtype=object).copy()
    arr[pd.isna(s).to_numpy()] = None
    return pd.Series(arr, index=s.index, dtype=object)


def _frames_equal(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    if list(a.columns) != list(b.columns) or len(a) != len(b):
        return False
    for c in a.columns:
        x, y = a[c].to_numpy(), b[c].to_numpy()
        if x.dtype == object or y.dtype == object:
            xs = pd.Series(x, dtype=object)
            ys = pd.Series(y, dtype=object)
            if not ((xs == ys) | (xs.isna() & ys.isna())).all():
                return False
        elif not np.array_equal(x, y, equal_nan=np.issubdtype(x.dtype, np.floating)):
            return False
    return True
