"""The README's tour runs as written (so the README cannot drift from the code)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_tour_runs(tmp_path, monkeypatch):
    text = README.read_text(encoding="utf-8")
    m = re.search(r"## A short tour\n\n```python\n(.*?)```", text, re.S)
    assert m, "README.md has no '## A short tour' python block"
    monkeypatch.chdir(tmp_path)  # the tour saves trust.npz in the working folder
    scope: dict = {}
    exec(compile(m.group(1), str(README), "exec"), scope)
    assert (tmp_path / "trust.npz").exists()
    r2, ids = scope["r2"], scope["ids"]
    ds = scope["ds"]
    assert (r2.recommend(ds.user_ids[:100], n=20)[0] == ids).all()
    assert scope["res"].check_quotas().empty  # the simulated messages keep every quota rule
