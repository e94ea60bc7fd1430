"""The numbered notebooks: jupytext percent-format sources (``notebooks/0N_name.py``) paired with
``.ipynb`` files committed with their outputs, so a reader on the repository page sees the plots.

``make notebooks`` executes every source into its notebook. The fast tests check that the
committed notebooks are current for their sources (same cells, every code cell executed, in
order), that every notebook has a figure, that no cell failed or printed a TqdmWarning, and that
every result is followed by a sentence that interprets it. The slow test executes the sources top
to bottom.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
from conftest import DATA

nbformat = pytest.importorskip("nbformat")
jupytext = pytest.importorskip("jupytext")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
NAMES = ["01_quickstart", "02_trust_ranking_real_data", "03_simulation_study",
         "04_ranker_in_a_service", "05_research_instruments"]
NEEDS_DATA = {"02_trust_ranking_real_data": ["lastfm-hetrec2011", "ciao"]}
CELL_TIMEOUT = 600


def _cells(nb) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


def test_every_source_has_its_notebook():
    assert sorted(p.stem for p in NOTEBOOKS.glob("0*.py")) == NAMES
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == NAMES
    assert not (NOTEBOOKS / "make_notebooks.py").exists()


@pytest.mark.parametrize("name", NAMES)
def test_committed_outputs_are_current_for_the_source(name):
    source = jupytext.read(NOTEBOOKS / f"{name}.py")
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    nbformat.validate(nb)
    assert _cells(nb) == _cells(source), f"run `make notebooks` to execute {name}.py again"
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith(f"# {name[:2]}")
    code = [c for c in nb.cells if c.cell_type == "code"]
    # executed top to bottom in one kernel
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1))
    outputs = [o for c in code for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    # the loaders' DataWarnings say what they repaired and stay; tooling noise does not
    noise = [o.text for o in outputs if o.output_type == "stream" and o.name == "stderr"
             and ("TqdmWarning" in o.text or "Traceback" in o.text)]
    assert not noise, noise
    assert any("image/png" in o.get("data", {}) for o in outputs), "no figure"
    # every result is followed by a sentence that interprets it
    for j, c in enumerate(nb.cells):
        if c.cell_type == "code" and c.outputs:
            nxt = nb.cells[j + 1] if j + 1 < len(nb.cells) else None
            assert nxt is not None and nxt.cell_type == "markdown", (
                f"{name}: the result of code cell {c.execution_count} has no interpretation")
    # no placeholder left behind and no numpy reprs of endorser lists
    text = " ".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "TODO" not in text and "XXX" not in text
    shown = " ".join(str(o.get("data", {}).get("text/plain", "")) for o in outputs)
    assert "array([" not in shown and "['u0" not in shown


@pytest.mark.slow
@pytest.mark.notebook
@pytest.mark.parametrize("name", NAMES)
def test_notebook_executes(name, monkeypatch):
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    for folder in NEEDS_DATA.get(name, []):
        if not (DATA / folder).is_dir():
            pytest.skip(f"{name} needs the real data set {folder} at {DATA / folder}")
    # the kernel is this interpreter (jupyter_client runs "python" as sys.executable); its
    # folder first on PATH for anything the notebook starts
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    monkeypatch.setenv("HAOWURANK_DATA", str(DATA))
    nb = jupytext.read(NOTEBOOKS / f"{name}.py")
    client = nbclient.NotebookClient(
        nb, timeout=CELL_TIMEOUT, kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    t0 = time.perf_counter()
    client.execute()  # raises CellExecutionError, naming the cell, on any error
    seconds = time.perf_counter() - t0
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs)
    print(f"{name}: {seconds:.1f} s")
