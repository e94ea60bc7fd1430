"""Provenance of a run: the command, date, commit, machine and library versions, written once
for the experiment runner and every script under ``experiments/``."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np

__all__ = ["git_commit", "machine", "provenance", "provenance_lines", "versions"]

_ROOT = Path(__file__).resolve().parents[2]


def machine() -> str:
    """One line naming the OS, the CPU, the usable cores and the memory of this machine."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    mem = ""
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        mem = f", {pages / 2**30:.0f} GiB RAM"
    except (ValueError, OSError, AttributeError):
        pass
    return f"{platform.system()} {platform.machine()}, {cpu}, {cores} cores usable{mem}"


def versions(extra: tuple[str, ...] = ()) -> str:
    """Python, numpy, scipy, scikit-learn, implicit, pandas and haowurank versions (plus the
    importable modules named in ``extra``), comma separated."""
    parts = [f"python {platform.python_version()}", f"numpy {np.__version__}"]
    for mod in ("scipy", "sklearn", "implicit", "pandas", *extra):
        try:
            m = __import__(mod)
            parts.append(f"{mod} {m.__version__}")
        except Exception:  # noqa: BLE001 - optional reporting only
            pass
    from .. import __version__

    parts.append(f"haowurank {__version__}")
    return ", ".join(parts)


def git_commit() -> str:
    """Short commit of the repository this package sits in ("unknown" outside a checkout),
    with "+dirty" when tracked files other than experiments' results differ from it (a study
    writes its own results before it records where they come from)."""
    try:
        out = subprocess.run(
            ["git", "-C", str(_ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, timeout=10, check=False,
        )
        commit = out.stdout.strip()
        if not commit:
            return "unknown"
        dirty = subprocess.run(
            ["git", "-C", str(_ROOT), "diff", "--quiet", "HEAD", "--", ".",
             ":(exclude,glob)experiments/**/results/**"],
            capture_output=True, timeout=30, check=False,
        ).returncode
        return commit + ("+dirty" if dirty == 1 else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def provenance(command: str | None = None, extra: tuple[str, ...] = ()) -> dict[str, str]:
    """Where a result comes from: ``command`` (default: this process's command line), ``date``
    (ISO 8601 with the UTC offset), ``commit``, ``machine``, ``load`` (1-minute load average
    when available) and ``versions``."""
    cmd = command or shlex.join([Path(sys.executable).name, *sys.argv])
    try:
        load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    except (AttributeError, OSError):
        load = "n/a"
    return {
        "command": cmd,
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "commit": git_commit(),
        "machine": machine(),
        "load": load,
        "versions": versions(extra),
    }


def kept_provenance(report: Path, section: str = "## Answer") -> list[str]:
    """The provenance list items (``- ...``) above ``section`` in an earlier ``report``, for a
    re-render that keeps how the results were produced; one placeholder item when there is none."""
    if not report.is_file():
        return ["- Provenance: no earlier report in this folder"]
    lines = report.read_text(encoding="utf-8").splitlines()
    return [ln for ln in lines[: lines.index(section)] if ln.startswith("- ")]


def provenance_lines(command: str | None = None, extra: tuple[str, ...] = ()) -> list[str]:
    """:func:`provenance` as Markdown list items (``- Date: ...``), for a results file."""
    p = provenance(command, extra)
    return [
        f"- Command: `{p['command']}`",
        f"- Date: {p['date']}",
        f"- Git: {p['commit']}",
        f"- Machine: {p['machine']} (load average {p['load']})",
        f"- Software: {p['versions']}",
    ]
