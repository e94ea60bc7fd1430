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
