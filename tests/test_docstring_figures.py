"""Docstrings and comments in ``haowurank/`` describe behaviour; measured figures live in results.

Timings, throughputs, speed-up ratios and metric values to three or more decimals go stale with
every rerun, so they belong in ``experiments/<study>/results/`` (a docstring may link there).
This test reads every docstring (ast) and comment (tokenize) of the package and fails on such
figures, naming the file, line and text.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "haowurank"

#: Each pattern is a kind of measured figure; a paragraph (docstring) or comment block is checked
#: as one text so that a figure split over lines is still found. The last two count only in a
#: text that names a metric or a data set (CONTEXT): elsewhere "20%" or "0.125" is a parameter.
FIGURES: dict[str, re.Pattern[str]] = {
    "timing": re.compile(
        r"\b\d[\d.,]*\s?(?:ms|ns|µs|us)\b"
        r"|\b\d[\d.,]*\s(?:s|sec|secs|seconds|minutes|hours)\b(?!\w)"
    ),
    "throughput": re.compile(
        r"\b\d[\d.,]*\s*(?:users|items|rows|requests|queries)/s\b|\b\d[\d.,]*\s\w+ per second\b"
    ),
    "ratio": re.compile(r"\b\d+(?:\.\d+)?x\b"),
    "percentage of a metric": re.compile(r"[+-]?\b\d+(?:\.\d+)?%"),
    "metric value": re.compile(r"\b\d\.\d{3,}\b"),
}


CONTEXT = {
    "percentage of a metric": re.compile(r"\b(?:NDCG|Recall|HitRate|MAP|LastFM|Ciao|Epinions|FilmTrust)\b"),
    "metric value": re.compile(r"\b(?:NDCG|Recall|HitRate|MAP|validation|test)\b"),
}


def _paragraphs(text: str, first_line: int) -> list[tuple[int, str]]:
    """Blank-line separated paragraphs of a docstring with their first line numbers; doctest
    examples (``>>>`` and their output) are code, not prose, and are left out."""
    out: list[tuple[int, str]] = []
    lines: list[str] = []
    start = first_line
    in_doctest = False
    for i, line in enumerate(text.splitlines()):
        s = line.strip()
        if s.startswith((">>>", "...")):
            in_doctest = True
        if not s:
            if lines and not in_doctest:
                out.append((start, "\n".join(lines)))
            lines, in_doctest = [], False
            start = first_line + i + 1
            continue
        if not in_doctest:
            lines.append(s)
    if lines and not in_doctest:
        out.append((start, "\n".join(lines)))
    return out


def _texts(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every docstring paragraph and comment block of one module."""
    src = path.read_text(encoding="utf-8")
    texts: list[tuple[int, str]] = []
    block: list[str] = []
    block_start = prev = -1
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type != tokenize.COMMENT:
            continue
        line = tok.start[0]
        if block and line != prev + 1:
            texts.append((block_start, "\n".join(block)))
            block = []
        if not block:
            block_start = line
        block.append(tok.string.lstrip("#: ").strip())
        prev = line
    if block:
        texts.append((block_start, "\n".join(block)))
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                texts.extend(_paragraphs(doc, node.body[0].lineno))
        # attribute docstrings: a string expression right after an assignment
        body = getattr(node, "body", None)
        if isinstance(body, list):
            for a, b in zip(body, body[1:], strict=False):
                if (isinstance(a, ast.Assign | ast.AnnAssign) and isinstance(b, ast.Expr)
                        and isinstance(b.value, ast.Constant) and isinstance(b.value.value, str)):
                    texts.extend(_paragraphs(b.value.value, b.lineno))
    return texts


def find_figures(path: Path) -> list[str]:
    """Every measured figure in one module's docstrings and comments, as 'file:line: kind: text'."""
    name = path.relative_to(PACKAGE.parent) if path.is_relative_to(PACKAGE.parent) else path
    src = path.read_text(encoding="utf-8")
    if not any(pattern.search(src) for pattern in FIGURES.values()):
        return []  # nothing figure-like anywhere in the file: skip tokenizing it
    found = []
    for line, text in _texts(path):
        for kind, pattern in FIGURES.items():
            if kind in CONTEXT and not CONTEXT[kind].search(text):
                continue
            m = pattern.search(text)
            if m:
                snippet = " ".join(text[max(0, m.end() - 80) : m.end() + 20].split())
                found.append(f"{name}:{line}: {kind}: ...{snippet}...")
    return found


def test_no_measured_figures_in_library_docstrings_or_comments():
    found = [f for p in sorted(PACKAGE.rglob("*.py")) for f in find_figures(p)]
    assert not found, (
        "measured figures belong in experiments/<study>/results/, not in haowurank/ docstrings "
        "or comments (link the results file instead):\n" + "\n".join(found)
    )


@pytest.mark.parametrize(
    "text",
    [
        "about 2x faster (13.9 ms against 30.5 ms on 256 x 10,685)",
        "evaluates in 17 ns per value",
        "12,742 against 7,401 users/s on Epinions",
        "it scored 0.981x EASE's test NDCG@20",
        "Validation NDCG@20: LastFM\n0.2243 against 0.2129",
        "it lost 1.0-4.1% validation NDCG@20 on Ciao",
        "took the feed index from 36.8 s to 8.6 s",
    ],
)
def test_detector_catches_figures(tmp_path, text):
    in_doc, in_comment = tmp_path / "doc.py", tmp_path / "comment.py"
    in_doc.write_text(f'def f():\n    """{text}"""\n')
    in_comment.write_text("".join(f"# {line}\n" for line in text.splitlines()) + "x = 1\n")
    assert find_figures(in_doc), text
    assert find_figures(in_comment), text


@pytest.mark.parametrize(
    "text",
    [
        "Returns an ndarray of shape (n_users, factors); O(n k) per sweep.",
        "Defaults: alpha 0.4, beta 0.3, 1,000 neighbours; 20% of each user's items held out.",
        ">>> topk(np.array([[0.125, 0.5]]), 1)\n(array([[1]]), array([[0.5]]))",
        "Cold start: the 2-hop frontier of each user; `n` the list length.",
    ],
)
def test_detector_leaves_behaviour_alone(tmp_path, text):
    mod = tmp_path / "m.py"
    mod.write_text(f'def f():\n    """{text}"""\n')
    assert find_figures(mod) == []
