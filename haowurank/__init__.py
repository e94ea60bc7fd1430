"""haowurank: social-trust-weighted ranking, feeds, search and simulation for social commerce.

Data flows one way: ``Dataset`` -> ``trust`` / collaborative filtering -> ``rankers`` ->
``feed`` / ``search`` -> ``sim`` -> apps. Submodules are imported on first use, so
``import haowurank`` stays light and never imports streamlit, jupyter or pyspark.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._dataset import ENDORSEMENT_KINDS, KINDS, VISIBILITIES, Dataset
from ._errors import ArtifactError, DataWarning, NotFittedError, NumericalError, UnknownIdError

__version__ = "0.1.0"

_SUBMODULES = {
    "datasets", "split", "metrics", "trust", "rankers", "evaluation", "feed", "search", "sim",
    "studies", "testing", "attacks", "report", "serving", "visibility", "verdict", "ope",
}
_FUNCTIONS = {
    "evaluate": ("evaluation", "evaluate"),
    "load_ranker": ("rankers", "load_ranker"),
}

__all__ = [
    "ENDORSEMENT_KINDS",
    "KINDS",
    "VISIBILITIES",
    "ArtifactError",
    "DataWarning",
    "Dataset",
    "NotFittedError",
    "NumericalError",
    "UnknownIdError",
    "__version__",
    *sorted(_SUBMODULES),
    *sorted(_FUNCTIONS),
]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _FUNCTIONS:
        mod, attr = _FUNCTIONS[name]
        return getattr(importlib.import_module(f".{mod}", __name__), attr)
    raise AttributeError(f"module 'haowurank' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _SUBMODULES | set(_FUNCTIONS))
