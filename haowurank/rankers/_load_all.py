"""Imports every built-in strategy so that it registers itself; re-exports the classes."""

from ._popularity import PopularityRanker

__all__ = ["PopularityRanker"]
