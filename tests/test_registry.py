"""The static strategy registry of haowurank.rankers: a plain table, every class exported."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import haowurank as hr
from haowurank.rankers import Ranker

ROOT = Path(__file__).resolve().parents[1]


def test_every_strategy_class_is_exported_and_in_the_table():
    table = {**hr.rankers.STRATEGIES, **hr.rankers.LOAD_ONLY}
    exported = {n: getattr(hr.rankers, n) for n in hr.rankers.__all__}
    classes = {c for c in exported.values() if isinstance(c, type) and issubclass(c, Ranker)
               and c is not Ranker}
    assert classes == set(table.values())
    for name, cls in table.items():
        assert cls.name == name and getattr(hr.rankers, cls.__name__) is cls
    assert hr.rankers.RP3BetaRanker is hr.rankers.STRATEGIES["rp3beta"]
    assert hr.rankers.HybridRanker().name == "hybrid"
    assert set(hr.rankers.available()) == set(hr.rankers.STRATEGIES)
    for name in ("popularity", "friend_endorsements", "trust", "als", "bpr", "item_knn",
                 "social_als", "hybrid"):  # API.md
        assert name in hr.rankers.available()


def test_no_registration_by_import_side_effect():
    """Built-in strategy modules do not call register(); the table is built in __init__."""
    for path in (ROOT / "haowurank" / "rankers").glob("_*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            calls = [d for d in getattr(node, "decorator_list", [])]
            if isinstance(node, ast.Call):
                calls.append(node.func)
            for f in calls:
                name = getattr(f, "id", getattr(f, "attr", None))
                assert name not in ("register", "register_load_only"), f"{path.name} registers"


def test_register_a_users_own_strategy():
    class Constant(Ranker):
        name = "test_constant_strategy"

        def __init__(self, value: float = 1.0):
            self.value = value

        def _fit(self, ds, *, show_progress, callback):
            pass

        def _score(self, uidx):
            return np.full((len(uidx), len(self.item_ids_)), self.value, dtype=np.float32)

    from haowurank.rankers import _base

    try:
        assert hr.rankers.register(Constant) is Constant
        assert "test_constant_strategy" in hr.rankers.available()
        r = hr.rankers.make("test_constant_strategy", value=2.0)
        assert isinstance(r, Constant) and r.value == 2.0
    finally:
        _base._REGISTRY.pop("test_constant_strategy", None)
    with pytest.raises(TypeError, match="subclass of Ranker"):
        hr.rankers.register(int)
    with pytest.raises(ValueError, match="Unknown ranker 'nope'"):
        hr.rankers.make("nope")
