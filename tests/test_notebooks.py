"""Every notebook runs top to bottom without an error (nbclient, kernel python3 of this venv, cwd
notebooks/), and the notebooks on disk are clean and equal what notebooks/make_notebooks.py
writes."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from pathlib import Path

import pytest
from conftest import DATA

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
NAMES = ["01_quickstart.ipynb", "02_trust_ranking_real_data.ipynb", "03_simulation_study.ipynb",
         "04_ranker_in_a_service.ipynb"]
NEEDS_DATA = {"02_trust_ranking_real_data.ipynb": ["lastfm-hetrec2011", "ciao"]}
CELL_TIMEOUT = 300


def _generator():
    spec = importlib.util.spec_from_file_location("make_notebooks", NOTEBOOKS / "make_notebooks.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_numbered_notebooks_are_all_there():
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_clean_and_generated(name):
    raw = (NOTEBOOKS / name).read_text()
    nb = nbformat.reads(raw, as_version=4)
    nbformat.validate(nb)
    assert json.loads(raw)["metadata"]["kernelspec"]["name"] == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.outputs == [] and c.execution_count is None for c in code)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith(f"# {name[:2]}")
    assert raw == _generator().render(name), "regenerate with notebooks/make_notebooks.py"


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_executes(name, monkeypatch):
    for folder in NEEDS_DATA.get(name, []):
        if not (DATA / folder).is_dir():
            pytest.skip(f"{name} needs the real data set {folder} at {DATA / folder}")
    # the kernel is this interpreter (jupyter_client runs "python" as sys.executable); its
    # folder first on PATH for anything the notebook starts
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    monkeypatch.setenv("HAOWURANK_DATA", str(DATA))
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=CELL_TIMEOUT, kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    t0 = time.perf_counter()
    client.execute()  # raises CellExecutionError, naming the cell, on any error
    seconds = time.perf_counter() - t0
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert not errors
    # plots were drawn where the notebook promises them
    images = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code"
                 for o in c.outputs)
    assert images >= 1
    print(f"{name}: {seconds:.1f} s")
