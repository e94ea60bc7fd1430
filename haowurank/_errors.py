"""Exceptions and warnings of haowurank, in one place (as lkpy's ``diagnostics``)."""

from __future__ import annotations

import warnings

__all__ = [
    "ArtifactError",
    "DataWarning",
    "NotFittedError",
    "NumericalError",
    "UnknownIdError",
    "warn_data",
]


class NotFittedError(ValueError, AttributeError):
    """A ranker or index was used before ``fit``."""


class UnknownIdError(KeyError):
    """A caller id that is not in the vocabulary."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class ArtifactError(ValueError):
    """A saved artifact is truncated, tampered with, of a wrong version or not ours."""


class NumericalError(ArithmeticError):
    """A numerical failure (non-finite factors, diverging iteration)."""


class DataWarning(UserWarning):
    """Input data was repaired (rows merged or dropped); the message says how many and why."""


def warn_data(message: str, stacklevel: int = 3) -> None:
    warnings.warn(message, DataWarning, stacklevel=stacklevel)
