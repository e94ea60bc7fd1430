from __future__ import annotations

from pathlib import Path

import pytest

from haowurank.datasets.registry import data_root

ROOT = Path(__file__).resolve().parents[1]
DATA = data_root()


def data_dir(name: str) -> Path:
    """Folder of a real data set under ../shared/data; the test is skipped if it is absent."""
    p = DATA / name
    if not p.is_dir():
        pytest.skip(f"real data set {name} not found at {p}")
    return p


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return DATA


#: Test tiers (pyproject's markers): whole modules that start Spark, drive a real browser or
#: run notebooks. `make test-fast` deselects them with -m "not spark and not browser and ...".
MODULE_MARKERS = {
    "test_spark.py": "spark",
    "test_dashboard_browser.py": "browser",
    "test_notebooks.py": "notebook",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        marker = MODULE_MARKERS.get(item.path.name)
        if marker:
            item.add_marker(getattr(pytest.mark, marker))
