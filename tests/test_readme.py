"""The README's code runs as written (so the README cannot drift from the code)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parents[1] / "README.md"


def _block(section: str, n: int = 0) -> str:
    """The n-th python code block under a '## <section>' heading of the README."""
    text = README.read_text(encoding="utf-8")
    m = re.search(rf"^## {re.escape(section)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert m, f"README.md has no '## {section}' section"
    blocks = re.findall(r"```python\n(.*?)```", m.group(1), re.S)
    assert len(blocks) > n, f"README.md's '## {section}' has fewer than {n + 1} python blocks"
    return blocks[n]


def test_readme_tour_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the tour saves trust.npz in the working folder
    scope: dict = {}
    exec(compile(_block("A short tour"), str(README), "exec"), scope)
    assert (tmp_path / "trust.npz").exists()
    r2, ids = scope["r2"], scope["ids"]
    ds = scope["ds"]
    assert (r2.recommend(ds.user_ids[:100], n=20)[0] == ids).all()
    assert scope["res"].check_quotas().empty  # the simulated messages keep every quota rule


def test_readme_ranker_example_runs_and_follows_the_contract():
    scope: dict = {}
    exec(compile(_block("Adding a ranker"), str(README), "exec"), scope)
    co, items = scope["co"], scope["items"]
    assert items.shape == (3, 5)
    seen = co.seen_[:3].toarray().astype(bool)
    pos = {item: k for k, item in enumerate(co.item_ids_)}
    for row, user_seen in zip(items, seen, strict=True):  # seen items are excluded
        assert not any(user_seen[pos[item]] for item in row)
    # batch equals single, and the stored parameter is the one given
    single = [co.recommend(u, n=5)[0] for u in co.user_ids_[:3]]
    np.testing.assert_array_equal(np.vstack(single), items)
    assert type(co)(shrink=2.5).get_params() == {"shrink": 2.5}


def test_readme_contract_snippet_names_the_mixin():
    snippet = _block("Adding a ranker", 1)
    assert "from haowurank.testing import RankerContract" in snippet
    from haowurank.testing import RankerContract  # noqa: F401 - the import the README shows
