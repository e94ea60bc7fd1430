"""Ranking strategies behind one interface (see ``_base.Ranker``).

``available()`` lists them, ``make(name, **params)`` builds one, ``load_ranker(path)`` loads a saved
one. Built-in strategies register themselves when ``_load_all`` is imported.
"""

from __future__ import annotations

from ._base import Ranker, available, load_ranker, make, register, topk

__all__ = ["Ranker", "available", "load_ranker", "make", "register", "topk"]


def __getattr__(name: str):
    import importlib

    _load_all = importlib.import_module("haowurank.rankers._load_all")
    if hasattr(_load_all, name):
        return getattr(_load_all, name)
    raise AttributeError(f"module 'haowurank.rankers' has no attribute {name!r}")
