"""experiments/ is navigable: every study has its README, run.py and results, the committed
index and the README's results table are what experiments/make_index.py writes, and
experiment scripts use the library through public names only (no private module or name
imported, no ``obj._name`` on anything but the script's own ``self``/``cls`` attributes, no
override of a library class's private hook)."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "experiments"

#: The public methods of namedtuples (pandas' ``itertuples`` rows), despite their names.
NAMEDTUPLE_API = {"_asdict", "_fields", "_make", "_field_defaults"}


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


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _private_module(dotted: str) -> bool:
    parts = dotted.split(".")
    return parts[0] == "haowurank" and any(_private(p) for p in parts[1:])


def private_uses(source: str) -> list[str]:
    """Every use of a library private in an experiment script's source, as ``line N: what``.

    Flagged: importing a private module of ``haowurank`` or a ``_name`` from it (also through
    ``importlib.import_module`` / ``__import__``); ``obj._name`` (and ``getattr`` / ``setattr`` /
    ``hasattr`` with a ``"_name"``) unless ``obj`` is ``self`` or ``cls`` and the script itself
    defines or assigns ``_name`` (a helper class of its own); a class deriving from a library
    class that defines a ``_name`` method (an override of a private hook). Dunders and the
    namedtuple methods are public.
    """
    tree = ast.parse(source)
    defined, lib_names, lib_modules = set(), set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            defined.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            defined.add(node.attr)
        elif isinstance(node, ast.Import):
            lib_modules |= {a.asname or a.name.split(".")[0] for a in node.names
                            if a.name.split(".")[0] == "haowurank"}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("haowurank"):
            lib_names |= {a.asname or a.name for a in node.names}

    def from_library(expr: ast.expr) -> bool:
        while isinstance(expr, ast.Attribute):
            expr = expr.value
        return isinstance(expr, ast.Name) and (expr.id in lib_names or expr.id in lib_modules)

    bad = []
    for node in ast.walk(tree):
        where = f"line {getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("haowurank"):
            names = [a.name for a in node.names]
            if _private_module(node.module) or any(_private(n) for n in names):
                bad.append(f"{where}: from {node.module} import {', '.join(names)}")
        elif isinstance(node, ast.Import):
            bad += [f"{where}: import {a.name}" for a in node.names if _private_module(a.name)]
        elif isinstance(node, ast.Attribute) and _private(node.attr):
            if node.attr in NAMEDTUPLE_API:
                continue
            own = isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")
            if not (own and node.attr in defined):
                bad.append(f"{where}: .{node.attr}")
        elif isinstance(node, ast.Call):
            fn = node.func
            fname = fn.id if isinstance(fn, ast.Name) else getattr(fn, "attr", None)
            arg = node.args[1] if fname in ("getattr", "setattr", "hasattr") and \
                len(node.args) > 1 else node.args[0] if fname in ("import_module", "__import__") \
                and node.args else None
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                if fname in ("import_module", "__import__"):
                    if _private_module(arg.value):
                        bad.append(f"{where}: {fname}({arg.value!r})")
                elif _private(arg.value) and arg.value not in NAMEDTUPLE_API:
                    bad.append(f"{where}: {fname}(..., {arg.value!r})")
        elif isinstance(node, ast.ClassDef) and any(from_library(b) for b in node.bases):
            bad += [f"line {f.lineno}: {node.name}.{f.name} overrides a library private"
                    for f in node.body
                    if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef) and _private(f.name)]
    return bad


def test_the_check_catches_what_it_should():
    src = """
import haowurank as hr
import haowurank.rankers._base as b
from haowurank.rankers._hybrid import FEATURES
from haowurank.rankers import _base, HybridRanker
from haowurank import rankers as rk
import importlib

class Mine(HybridRanker):
    def _training_rows(self, *a):
        return super()._training_rows(*a)

class Helper:
    def __init__(self):
        self._t = 1
    def _run(self):
        return self._t, self._missing

def f(r, row, study):
    r._score([0])
    hr.sim._world.make_dataset(None)
    getattr(r, "_seed")()
    importlib.import_module("haowurank.rankers._cf")
    rk.make("als")._seed()
    return row._asdict(), r.__class__, getattr(r, "param_names"), study.public
"""
    found = "\n".join(private_uses(src))
    for what in ("line 3: import haowurank.rankers._base",
                 "line 4: from haowurank.rankers._hybrid import FEATURES",
                 "line 5: from haowurank.rankers import _base, HybridRanker",
                 "Mine._training_rows overrides a library private", "line 11: ._training_rows",
                 "line 17: ._missing", "line 20: ._score", "line 21: ._world",
                 "getattr(..., '_seed')", "import_module('haowurank.rankers._cf')",
                 "line 24: ._seed"):
        assert what in found, f"{what!r} not flagged in:\n{found}"
    tails = {x.split(": ", 1)[1] for x in private_uses(src)}
    assert not tails & {"._t", "._run", "._asdict", ".__class__"} and "param_names" not in found
    assert len(private_uses(src)) == 11


@pytest.mark.parametrize("script", sorted(EXPERIMENTS.rglob("*.py")),
                         ids=lambda p: p.relative_to(EXPERIMENTS).as_posix())
def test_scripts_use_only_public_library_names(script):
    bad = private_uses(script.read_text(encoding="utf-8"))
    assert not bad, f"{script.relative_to(ROOT)} uses library privates:\n" + "\n".join(bad)
