"""haowurank on Apache Spark (placeholder docstring, completed below)."""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "spark_session": "_session",
    "require_pyspark": "_session",
    "SparkDataset": "_dataset",
    "FEED_KIND_WEIGHTS": "_scoring",
    "TRUST_KIND_WEIGHTS": "_scoring",
    "endorsement_table": "_scoring",
    "friend_endorsement_scores": "_scoring",
    "kind_code": "_scoring",
    "kind_weighted_endorsements": "_scoring",
    "popularity": "_scoring",
    "top_n": "_scoring",
    "trust_rows": "_scoring",
    "trust_scores": "_scoring",
    "visible_endorsements": "_scoring",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'haowurank.spark' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
