"""experiments/ is navigable: every study has its README, run.py and results, the committed
index and the README's results table are what experiments/make_index.py writes, and no
experiment script imports a private module of the library."""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "experiments"

#: Scripts that time or refit a library internal against its public path, and why.
PRIVATE_IMPORTS_ALLOWED = {
    ("scoring_paths", "haowurank.rankers._base"): "times topk against its reference partition",
    ("scoring_paths", "haowurank.rankers._implicit"): "times the bridge's top-k finishing step",
    ("hybrid_ease_bound", "haowurank.rankers._hybrid"): "refits hybrid's own pairwise rows",
}


def _make_index():
    spec = importlib.util.spec_from_file_location("make_index", EXPERIMENTS / "make_index.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_index_and_readme_results_table_are_current():
    mod = _make_index()
    assert (EXPERIMENTS / "README.md").read_text(encoding="utf-8") == mod.render_index(), (
        "experiments/README.md is stale: run `make index`"
    )
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme == mod.readme_with_glance(readme), "README.md's results table is stale: run `make index`"


def test_every_study_has_a_question_a_command_and_no_loose_files():
    mod = _make_index()
    studies = mod.studies()
    assert len(studies) >= 10
    loose = [p.name for p in EXPERIMENTS.iterdir()
             if p.is_file() and p.name not in ("README.md", "make_index.py")]
    assert loose == [], f"files outside a study folder: {loose}"
    for s in studies:
        d = mod.describe(s)
        assert not d["question"].startswith("-"), f"{s.name}/README.md states no 'Question:'"
        assert d["command"].split()[-1] != "" and f"experiments/{s.name}/" in d["command"]
        assert "." not in s.name and s.name.isidentifier(), f"study folder {s.name!r}"
        for f in (s / "results").glob("*") if (s / "results").is_dir() else []:
            assert f.suffix != ".log", f"raw run log {f.relative_to(ROOT)}"


def test_headlines_come_from_the_results_tables():
    mod = _make_index()
    text, path = mod.HEADLINES["ranking_quality"](EXPERIMENTS / "ranking_quality")
    table = mod._table_with(Path(path), "ratio")
    for row in table:
        assert f"{float(row['ratio']):.3f}x" in text


def test_last_run_is_the_latest_date_line(tmp_path):
    mod = _make_index()
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "a.md").write_text("- Date: 2026-11-28T10:00:00\n")
    (tmp_path / "results" / "b.md").write_text("Date: 2026-11-29; wall time 1 min\n")
    assert mod.last_run(tmp_path) == "2026-11-29"


@pytest.mark.parametrize("script", sorted(EXPERIMENTS.glob("*/run.py")), ids=lambda p: p.parent.name)
def test_scripts_import_no_library_privates(script):
    tree = ast.parse(script.read_text(encoding="utf-8"))
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("haowurank"):
            private_module = any(part.startswith("_") for part in node.module.split("."))
            private_names = [a.name for a in node.names if a.name.startswith("_")]
            if private_module or private_names:
                if (script.parent.name, node.module) not in PRIVATE_IMPORTS_ALLOWED:
                    bad.append(f"line {node.lineno}: from {node.module} import "
                               f"{', '.join(a.name for a in node.names)}")
        elif isinstance(node, ast.Import):
            bad += [f"line {node.lineno}: import {a.name}" for a in node.names
                    if a.name.startswith("haowurank") and re.search(r"\._", a.name)]
    assert not bad, f"{script.relative_to(ROOT)} imports library privates:\n" + "\n".join(bad)
