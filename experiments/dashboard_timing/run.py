"""How long the dashboard and the notebooks take: the numbers quoted about them come from here.

Measures, in one fresh process:

- the dashboard's default view (synthetic world of 2,000 users) with ``streamlit.testing``:
  the first run of a fresh server process (imports + world + evaluation + inspector), a new
  session on the warm process (caches filled), and a rerun after a widget change (another k);
- the default simulation (3 strategies x 3 replicates x 30 days, 1,000 users) behind the button;
- each notebook executed top to bottom with nbclient (``--notebooks``).

Run::

    .venv/bin/python experiments/dashboard_timing/run.py --notebooks

and it writes ``experiments/dashboard_timing/results/dashboard_timing.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent  # this study's folder
APP = str(ROOT / "apps" / "dashboard.py")


def bench_dashboard() -> list[tuple[str, float]]:
    from streamlit.testing.v1 import AppTest

    rows = []
    t0 = time.perf_counter()
    at = AppTest.from_file(APP, default_timeout=600).run()
    rows.append(("default view, first run of a fresh process (imports included)",
                 time.perf_counter() - t0))
    assert not at.exception, at.exception
    t0 = time.perf_counter()
    at2 = AppTest.from_file(APP, default_timeout=600).run()
    rows.append(("default view, new session on a warm process", time.perf_counter() - t0))
    assert not at2.exception
    t0 = time.perf_counter()
    at2.sidebar.selectbox(key="k").set_value(10).run()
    rows.append(("rerun after choosing k = 10 (3 new evaluations)", time.perf_counter() - t0))
    t0 = time.perf_counter()
    at2.button[0].click().run()
    rows.append(("default simulation: 3 strategies x 3 replicates x 30 days, 1,000 users",
                 time.perf_counter() - t0))
    assert not at2.exception
    return rows


def bench_notebooks() -> list[tuple[str, float]]:
    import nbclient
    import nbformat

    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]
    rows = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                         resources={"metadata": {"path": str(path.parent)}})
        t0 = time.perf_counter()
        client.execute()
        rows.append((f"notebooks/{path.name} (kernel start included)", time.perf_counter() - t0))
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--notebooks", action="store_true", help="also execute every notebook")
    p.add_argument("--out", default=str(HERE / "results" / "dashboard_timing.md"))
    args = p.parse_args(argv)
    rows = bench_dashboard()
    if args.notebooks:
        rows += bench_notebooks()
    from haowurank.studies import machine  # after the timings: they include the imports
    lines = [
        "# Dashboard and notebooks: wall time",
        "",
        f"- Date: {dt.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- Machine: {machine()} (shared with other jobs while measured)",
        f"- Command: `{' '.join([Path(sys.executable).name, *sys.argv])}`",
        "- Dashboard measured with streamlit.testing.v1.AppTest (the script run, no browser "
        "rendering); notebooks with nbclient, cwd notebooks/.",
        "",
        "| what | seconds |",
        "|---|---|",
        *[f"| {what} | {sec:.1f} |" for what, sec in rows],
        "",
    ]
    text = "\n".join(lines)
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
