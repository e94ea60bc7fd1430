"""Parameter checks shared by every part: one wording for "expected X, got Y".

Each ``check_*`` raises with the message ``The '<name>' parameter of <where> must be <what>. Got
<value!r> instead.``; ``where`` is the public function or class the caller offers (e.g.
``"evaluate"``, ``"attacks.sybil_attack"``). The ``is_*`` predicates answer the same questions
without raising, for callers that compose their own message.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "check_choice",
    "check_fraction",
    "check_indices",
    "check_instance",
    "check_int",
    "check_real",
    "is_int",
    "is_real",
    "param_error",
]


def is_int(v: Any, lo: int | None = None) -> bool:
    """True for an integer (Python or NumPy, never a bool) that is ``>= lo`` when ``lo`` is set."""
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        return False
    return lo is None or int(v) >= lo


def is_real(v: Any, lo: float | None = None, *, strict: bool = False) -> bool:
    """True for a finite real number (int or float, never a bool) above ``lo`` (``> lo`` if
    ``strict``, else ``>= lo``) when ``lo`` is set."""
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
        return False
    return lo is None or (v > lo if strict else v >= lo)


def param_error(name: str, where: str, what: str, value: Any) -> ValueError:
    """The error for parameter ``name`` of ``where`` that must be ``what`` and got ``value``."""
    return ValueError(f"The {name!r} parameter of {where} must be {what}. Got {value!r} instead.")


def check_int(value: Any, name: str, where: str, lo: int = 0, *, allow_none: bool = False) -> Any:
    """``value`` as an ``int`` if it is an integer ``>= lo`` (or None when ``allow_none``)."""
    if value is None and allow_none:
        return None
    if not is_int(value, lo):
        what = f"an int >= {lo}"
        raise param_error(name, where, f"None or {what}" if allow_none else what, value)
    return int(value)


def check_indices(values: Any, name: str, where: str, n: int, *, length: int | None = None,
                  what: str = "user") -> np.ndarray:
    """``values`` as int64 if they are a 1-d array of integer indices in ``[0, n)`` (of
    ``length`` entries when set); ValueError for the shape or dtype, IndexError for the range."""
    a = np.asarray(values)
    shape_ok = a.ndim == 1 and (length is None or len(a) == length)
    if not shape_ok or (len(a) and a.dtype.kind not in "iu"):
        count = "" if length is None else f"{length} "
        raise ValueError(
            f"The {name!r} parameter of {where} must be a 1-d array of {count}{what} indices. "
            f"Got an array of dtype {a.dtype} and shape {a.shape} instead."
        )
    a = a.astype(np.int64)
    if len(a) and (a.min() < 0 or a.max() >= n):
        raise IndexError(
            f"The {name!r} parameter of {where} must hold {what} indices in [0, {n}). "
            f"Got values from {int(a.min())} to {int(a.max())} instead."
        )
    return a


def check_real(value: Any, name: str, where: str, lo: float, *, strict: bool = False) -> float:
    """``value`` as a ``float`` if it is finite and ``> lo`` (``strict``) or ``>= lo``."""
    if not is_real(value, lo, strict=strict):
        raise param_error(name, where, f"a finite float {'>' if strict else '>='} {lo:g}", value)
    return float(value)


def check_fraction(value: Any, name: str, where: str) -> float:
    """``value`` as a ``float`` strictly between 0 and 1 (a level, a share)."""
    if not is_real(value, 0.0, strict=True) or not value < 1.0:
        raise param_error(name, where, "a float in (0, 1)", value)
    return float(value)


def check_choice(value: Any, name: str, where: str, allowed: Sequence[Any]) -> Any:
    """``value`` if it is one of ``allowed``."""
    if isinstance(value, bool) and not any(isinstance(a, bool) for a in allowed):
        raise param_error(name, where, f"one of {list(allowed)}", value)
    try:
        ok = value in allowed
    except TypeError:  # an unhashable value against a set
        ok = False
    if not ok:
        raise param_error(name, where, f"one of {list(allowed)}", value)
    return value


def check_instance(value: Any, cls: type | tuple[type, ...], name: str, where: str,
                   what: str) -> Any:
    """``value`` if it is an instance of ``cls``; else a TypeError naming ``what`` was expected."""
    if not isinstance(value, cls):
        raise TypeError(
            f"The {name!r} argument of {where} must be {what}. Got {type(value).__name__} instead."
        )
    return value
