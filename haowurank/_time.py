"""Time values, one rule for the whole library: timestamps and reference times are int seconds.

A timestamp column (``Dataset.from_frames``, ``read_parquet``) and a reference time ``now``
(the feed, trust decay) are converted here and nowhere else. Numbers are read in ``time_unit``
(seconds by default; ``"ms"``, ``"us"``, ``"ns"`` are divided down) and must lie in
[:data:`MIN_SECONDS`, :data:`MAX_SECONDS`] (years 1425 to 2514) once in seconds, so values
that would wrap around int64 (``1e30``, uint64 ``2**64 - 1``) and milliseconds passed as seconds
(year 55,800) are refused with a message naming the column or parameter instead of being
read as a garbage time. NaN, NaT, infinities and booleans are refused.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["MAX_SECONDS", "MIN_SECONDS", "TIME_UNITS", "seconds", "seconds_column"]

#: Divisor from each accepted unit to seconds.
TIME_UNITS: dict[str, int] = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
#: Accepted range of a time in seconds since 1970 (about the years 1425 to 2514).
MIN_SECONDS = -(2**34)
MAX_SECONDS = 2**34


def check_unit(time_unit: Any, where: str) -> int:
    """The divisor of ``time_unit``; ``ValueError`` naming ``where`` otherwise."""
    if not isinstance(time_unit, str) or time_unit not in TIME_UNITS:
        raise ValueError(
            f"The 'time_unit' parameter of {where} must be one of {list(TIME_UNITS)}. "
            f"Got {time_unit!r} instead."
        )
    return TIME_UNITS[time_unit]


def _year(sec: float) -> str:
    y = 1970 + sec / 31_556_952
    return f"{y:,.0f}" if abs(y) >= 10_000 else f"{y:.0f}"


def _range_error(where: str, value: Any, unit: str, detail: str = "") -> ValueError:
    hint = (
        " If the values are milliseconds (or us, ns), pass time_unit='ms' (or 'us', 'ns')."
        if unit == "s" else ""
    )
    return ValueError(
        f"The {where} must be a time in [{MIN_SECONDS}, {MAX_SECONDS}] seconds (the years "
        f"{_year(MIN_SECONDS)} to {_year(MAX_SECONDS)}) once read in {unit!r}. Found {value!r}"
        f"{detail}.{hint}"
    )


def seconds(value: Any, where: str, time_unit: str = "s") -> int:
    """One time (int, float, datetime, ``datetime64``, ``pd.Timestamp``, ISO string) as int
    seconds; NaN, NaT, inf, booleans and out-of-range values raise naming ``where`` (e.g.
    ``"'now' parameter of hr.feed.build"``)."""
    div = check_unit(time_unit, where)
    if isinstance(value, bool | np.bool_):
        raise TypeError(f"The {where} must be int seconds or a datetime. Got {value!r}.")
    if isinstance(value, numbers.Integral):
        v = int(value)
        s = v // div
    elif isinstance(value, numbers.Real):
        f = float(value)
        if not math.isfinite(f):
            raise ValueError(f"The {where} must be a finite time. Got {value!r} instead.")
        s = math.floor(f / div) if abs(f) < 1e300 else f
    else:
        try:
            ts = pd.Timestamp(value)
        except (TypeError, ValueError, OverflowError) as exc:
            raise TypeError(
                f"The {where} must be int seconds or a datetime. Got {value!r} instead."
            ) from exc
        if ts is pd.NaT or pd.isna(ts):
            raise ValueError(f"The {where} must be a time, not NaT/NaN. Got {value!r} instead.")
        if ts.tzinfo is not None:
            ts = ts.tz_convert("UTC").tz_localize(None)
        s = int(ts.value // 1_000_000_000)
    if not MIN_SECONDS <= s <= MAX_SECONDS:
        raise _range_error(where, value, time_unit, f" (year {_year(float(s))} as seconds)")
    return int(s)


def seconds_column(values: pd.Series, where: str, time_unit: str = "s") -> np.ndarray:
    """A timestamp column as int64 seconds (datetimes, ints or floats in ``time_unit``).

    Missing values, non-finite floats, other dtypes and times outside the accepted range raise
    an error naming ``where`` (e.g. ``"column 'timestamp' of interactions"``), the bad value and
    its first row.
    """
    div = check_unit(time_unit, where)
    s = values
    isna = s.isna().to_numpy()
    if isna.any():
        raise ValueError(
            f"The {where} must hold int seconds or datetimes with no missing values. "
            f"Found missing values in {_first_bad(isna, s.index)}."
        )
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        if getattr(s.dt, "tz", None) is not None:
            s = s.dt.tz_convert("UTC").dt.tz_localize(None)
        return s.astype("datetime64[s]").to_numpy().astype(np.int64)
    if pd.api.types.is_bool_dtype(s.dtype):
        raise TypeError(f"The {where} must hold int seconds or datetime64 values. Got booleans.")
    if pd.api.types.is_integer_dtype(s.dtype):
        raw = s.to_numpy()
        if raw.dtype.kind == "u":  # compare before any cast: uint64 above int64 would wrap
            big = raw > np.uint64(MAX_SECONDS * div)
            if big.any():
                k = int(np.flatnonzero(big)[0])
                raise _range_error(where, int(raw[k]), time_unit,
                                   f" in {_first_bad(big, s.index)}")
            raw = raw.astype(np.int64)
        arr = raw.astype(np.int64) // div
    elif pd.api.types.is_float_dtype(s.dtype):
        f = s.to_numpy(dtype=np.float64)
        bad = ~np.isfinite(f)
        if bad.any():
            raise ValueError(
                f"The {where} must be finite. Found {float(f[np.flatnonzero(bad)[0]])!r} in "
                f"{_first_bad(bad, s.index)}."
            )
        f = np.floor(f / div)
        big = (f < MIN_SECONDS) | (f > MAX_SECONDS)
        if big.any():
            k = int(np.flatnonzero(big)[0])
            raise _range_error(where, float(s.iloc[k]), time_unit,
                               f" in {_first_bad(big, s.index)}")
        arr = f.astype(np.int64)
    else:
        raise TypeError(
            f"The {where} must hold int seconds or datetime64 values. Got dtype {s.dtype}."
        )
    big = (arr < MIN_SECONDS) | (arr > MAX_SECONDS)
    if big.any():
        k = int(np.flatnonzero(big)[0])
        raise _range_error(where, int(s.iloc[k]), time_unit, f" in {_first_bad(big, s.index)}")
    return arr


def _first_bad(mask: np.ndarray, index: pd.Index) -> str:
    pos = np.flatnonzero(mask)
    shown = ", ".join(repr(index[p]) for p in pos[:3])
    return f"{len(pos)} row(s), first at index {shown}"
