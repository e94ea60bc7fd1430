"""Parts talk through public names only: an AST walk of ``haowurank/`` and ``apps/``.

The rule
--------
The code is cut into *units*: each subpackage of ``haowurank`` (``rankers``, ``feed``, ``sim``,
``spark``, ``trust``, ``datasets``) is one unit, each top-level module of ``haowurank``
(``evaluation.py``, ``search.py``, ``serving.py``, ``report.py``, ``visibility.py``, ...) is one
unit, and ``apps/`` is one unit. Inside a unit anything goes. Across units only public names
(no leading underscore; dunders are fine) may be used:

(a) ``obj._name`` is an error when ``obj`` is not ``self`` / ``cls`` and no class, function,
    method or attribute called ``_name`` is defined in the unit doing the access (a ranker
    calling another ranker's ``_score`` inside ``rankers`` is fine; the feed calling it is not).
    The public methods of ``collections.namedtuple`` (``_asdict``, ``_fields``, ``_make``) are
    public API despite their names; ``_replace`` is not exempt, because ``Dataset._replace``
    shares the name (use ``Dataset.replace``).
(b) importing a private module of another subpackage (``from haowurank.rankers._base import
    ...``, ``from ..rankers._base import ...``), or importing a ``_name`` from another unit.

Root-level private modules (``haowurank/_dataset.py``, ``_errors.py``, ``_arrays.py``,
``_atomic.py``, ``_progress.py``, ``_random.py``) are the library's shared internals: every unit
may import them by module path, but only their public names (``from .._dataset import
Dataset``, ``from .._arrays import csr_positions``). Anything another unit needs from them has a
public name; their ``_helpers`` stay theirs. Each of them is a unit of its own.

What a subpackage offers other units is what its ``__init__`` exports; import it from there.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "haowurank"
NAMEDTUPLE_API = {"_asdict", "_fields", "_make", "_field_defaults"}


def _files() -> list[Path]:
    return sorted([*PKG.rglob("*.py"), *(ROOT / "apps").rglob("*.py")])


def _unit(path: Path) -> str:
    parts = path.relative_to(ROOT).parts
    if parts[0] == "apps":
        return "apps"
    if len(parts) > 2:  # haowurank/<subpackage>/...
        return parts[1]
    return parts[1].removesuffix(".py")


def _module(path: Path) -> list[str]:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def _unit_of_module(dotted: list[str]) -> str | None:
    """Unit of an absolute module path inside ``haowurank`` (None outside it)."""
    if not dotted or dotted[0] != "haowurank":
        return "apps" if dotted and dotted[0] == "apps" else None
    if len(dotted) == 1:
        return "__init__"
    if (PKG / dotted[1]).is_dir():
        return dotted[1]
    return dotted[1]


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _defined_names() -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for f in _files():
        names = out[_unit(f)]
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.alias):
                names.add(node.asname or node.name.split(".")[0])
            elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "setattr" \
                    and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant):
                names.add(str(node.args[1].value))
    return out


def _resolve(path: Path, module: str | None, level: int) -> list[str]:
    if level == 0:
        return (module or "").split(".")
    base = _module(path)
    if path.name != "__init__.py":
        base = base[:-1]
    base = base[: len(base) - (level - 1)]
    return base + (module.split(".") if module else [])


def violations() -> list[str]:
    """Every cross-unit use of a private name, as ``path:line: what``."""
    defined = _defined_names()
    found = []
    for f in _files():
        unit = _unit(f)
        rel = f.relative_to(ROOT)
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            if isinstance(node, ast.Attribute) and _private(node.attr):
                owner = node.value
                if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                    continue
                if node.attr in NAMEDTUPLE_API or node.attr in defined[unit]:
                    continue
                found.append(f"{rel}:{node.lineno}: .{node.attr} (not defined in {unit})")
            elif isinstance(node, ast.ImportFrom | ast.Import):
                if isinstance(node, ast.Import):
                    targets = [(a.name.split("."), None) for a in node.names]
                else:
                    mod = _resolve(f, node.module, node.level)
                    targets = [(mod, a.name) for a in node.names]
                for mod, name in targets:
                    other = _unit_of_module(mod)
                    if other is None or other == unit:
                        continue
                    if any(_private(p) for p in mod[2:]):  # haowurank.<pkg>._mod
                        found.append(f"{rel}:{node.lineno}: imports {'.'.join(mod)} "
                                     f"(a private module of {other})")
                        continue
                    if name is not None and _private(name):
                        target = mod + [name]
                        is_module = (PKG.parent.joinpath(*target).with_suffix(".py").is_file()
                                     and len(target) == 2)
                        if not is_module:
                            found.append(f"{rel}:{node.lineno}: imports {name} from "
                                         f"{'.'.join(mod)} (private to {other})")
    return found


def test_the_walk_sees_the_code():
    units = {_unit(f) for f in _files()}
    assert {"rankers", "feed", "sim", "apps", "evaluation", "_dataset"} <= units
    defined = _defined_names()
    assert "_score" in defined["rankers"] and "_score" not in defined["apps"]


def test_the_walk_catches_what_it_should(tmp_path):
    """The checker flags a private attribute, a private module and a private name across units."""
    fake_root = tmp_path
    pkg = fake_root / "haowurank"
    (pkg / "rankers").mkdir(parents=True)
    (pkg / "feed").mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "_dataset.py").write_text("class Dataset:\n    def _replace_x(self): pass\n")
    (pkg / "rankers" / "__init__.py").write_text("")
    (pkg / "rankers" / "_base.py").write_text(
        "class Ranker:\n    def _score(self):\n        return self._score2()\n"
        "def _helper(): pass\n")
    (pkg / "feed" / "__init__.py").write_text("")
    (pkg / "feed" / "_build.py").write_text(
        "from .._dataset import Dataset\n"
        "from ..rankers._base import Ranker\n"
        "from ..rankers import _base\n"
        "from .._dataset import _private_thing\n"
        "def f(r, ds, t):\n    r._score()\n    ds._replace_x()\n    t._asdict()\n"
        "    return self._ok\n")
    globals_ = globals()
    old = globals_["ROOT"], globals_["PKG"]
    globals_["ROOT"], globals_["PKG"] = fake_root, pkg
    try:
        (fake_root / "apps").mkdir()
        found = violations()
    finally:
        globals_["ROOT"], globals_["PKG"] = old
    text = "\n".join(found)
    assert "haowurank/feed/_build.py:2: imports haowurank.rankers._base" in text
    assert "haowurank/feed/_build.py:3: imports haowurank.rankers._base" not in text
    assert "imports _base from haowurank.rankers (private to rankers)" in text
    assert "imports _private_thing from haowurank._dataset" in text
    assert "haowurank/feed/_build.py:6: ._score (not defined in feed)" in text
    assert "haowurank/feed/_build.py:7: ._replace_x (not defined in feed)" in text
    assert "._asdict" not in text and "._ok" not in text
    assert len(found) == 5


def test_no_cross_unit_private_access():
    found = violations()
    assert not found, "cross-unit use of private names:\n" + "\n".join(found)
