"""The one writer of haowurank: every file and folder the library writes goes through here.

Two rules, written once:

1. **Atomic.** The output is built beside its destination under a temporary name and renamed
   into place, so a failed write never leaves a half-written file or folder behind nor loses the
   previous version.
2. **Never destroy what is not ours.** An existing destination is replaced only when it is an
   output of the same kind that haowurank wrote (the caller's ``owned`` predicate: a dataset
   folder's ``meta.json``, a ranker artifact's metadata member, ...) or when the caller passes
   ``overwrite=True``. Anything else (a non-empty foreign folder, a file where a folder goes, a
   folder where a file goes) raises :class:`FileExistsError` naming the path and what it holds.

Files and folders are created with the permissions of the process's umask (``0o666`` /
``0o777`` masked), like any ``open`` or ``mkdir``, not the private ``0o600`` / ``0o700`` of
:mod:`tempfile`, so a service running as another user can read what a job wrote.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

__all__ = [
    "atomic_dir",
    "atomic_file",
    "check_destination",
    "has_manifest",
    "write_bytes",
    "write_text",
]

Owned = Callable[[Path], bool]

_UMASK_LOCK = threading.Lock()


def _umask() -> int:
    """The process's umask, read without changing it where the OS allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:  # portable fallback: set and restore
        old = os.umask(0o022)
        os.umask(old)
    return old


def has_manifest(
    *formats: str, manifest: str = "meta.json", files: tuple[str, ...] = ()
) -> Owned:
    """A predicate: a folder holding ``manifest`` (JSON) whose ``format`` is one of ``formats``,
    or (a damaged output of ours) a folder holding ``manifest`` and nothing but ``files``."""

    def owned(path: Path) -> bool:
        try:
            info = json.loads((path / manifest).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            info = None
        if isinstance(info, dict) and info.get("format") in formats:
            return True
        try:
            names = {p.name for p in path.iterdir()}
        except OSError:
            return False
        return bool(files) and manifest in names and names <= {manifest, *files}

    return owned


def _describe(path: Path) -> str:
    if path.is_dir():
        names = sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir())
        shown = ", ".join(names[:5]) + (f", ... ({len(names)} entries)" if len(names) > 5 else "")
        return f"a folder holding {shown}"
    if path.is_file():
        return f"a file of {path.stat().st_size} bytes"
    return "something that is neither a file nor a folder"


def check_destination(
    path: str | os.PathLike,
    *,
    kind: str,
    owned: Owned | None = None,
    overwrite: bool = False,
    what: str = "output",
) -> Path:
    """Refuse to replace ``path`` unless it is absent, ours (``owned``) or ``overwrite`` is set.

    Parameters
    ----------
    path : path
        The destination.
    kind : {"dir", "file"}
        What will be written there.
    owned : callable, optional
        ``owned(path) -> bool``: the existing destination is an output of this kind that
        haowurank wrote, so it may be replaced. None: only an empty folder (``kind="dir"``) is.
    overwrite : bool
        Replace whatever is there.
    what : str
        The output's name for messages ("haowurank dataset", "ranker artifact", ...).

    Raises
    ------
    FileExistsError
        The destination exists and may not be replaced; the message names it and what it holds.
    """
    if not isinstance(overwrite, bool):
        raise TypeError(f"The 'overwrite' parameter must be a bool. Got {overwrite!r} instead.")
    dest = Path(path)
    if overwrite or not (dest.exists() or dest.is_symlink()):
        return dest
    if kind == "dir" and dest.is_dir() and not dest.is_symlink():
        if not any(dest.iterdir()) or (owned is not None and owned(dest)):
            return dest
    elif kind == "file" and dest.is_file() and not dest.is_symlink():
        if owned is not None and owned(dest):
            return dest
    expect = "folder" if kind == "dir" else "file"
    raise FileExistsError(
        f"Refusing to write the {what} to {str(dest)!r}: it exists and is {_describe(dest)}, "
        f"not a {what} {expect} that haowurank wrote. Choose another path, remove it, or pass "
        f"overwrite=True to replace it."
    )


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)


def _publish(tmp: Path, dest: Path) -> None:
    """Rename ``tmp`` onto ``dest``; an existing ``dest`` is moved aside first and put back if
    the rename fails (a folder cannot be renamed over a non-empty folder). A file replaces a
    file in one rename, so readers never see the destination missing."""
    if tmp.is_file() and dest.is_file() and not dest.is_symlink():
        os.replace(tmp, dest)
    elif dest.exists() or dest.is_symlink():
        old = dest.with_name(f".{dest.name}.old-{os.getpid()}-{threading.get_ident()}")
        os.replace(dest, old)
        try:
            os.replace(tmp, dest)
        except BaseException:  # put the previous version back: never lose it
            os.replace(old, dest)
            raise
        _remove(old)
    else:
        os.replace(tmp, dest)


@contextmanager
def atomic_dir(
    path: str | os.PathLike,
    *,
    owned: Owned | None = None,
    overwrite: bool = False,
    what: str = "output",
) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success it replaces ``path`` atomically.

    The destination is checked first (:func:`check_destination`): an existing one is replaced
    only if it is empty, ``owned`` says it is ours, or ``overwrite`` is set. On any error the
    temporary folder is removed and an existing ``path`` is left as it was.
    """
    dest = check_destination(path, kind="dir", owned=owned, overwrite=overwrite, what=what)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        os.chmod(tmp, 0o777 & ~_umask())
        yield tmp
        _publish(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextmanager
def atomic_file(
    path: str | os.PathLike,
    mode: str = "wb",
    *,
    owned: Owned | None = None,
    overwrite: bool = False,
    what: str = "output",
    encoding: str | None = None,
) -> Iterator[IO]:
    """Yield an open temporary file beside ``path``; on success it replaces ``path`` atomically
    (flushed and fsynced first). The destination is checked like :func:`atomic_dir`'s."""
    if mode not in ("w", "wb"):
        raise ValueError(f"The 'mode' parameter must be 'w' or 'wb'. Got {mode!r} instead.")
    dest = check_destination(path, kind="file", owned=owned, overwrite=overwrite, what=what)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    tmp = Path(name)
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        enc = (encoding or "utf-8") if mode == "w" else None
        with os.fdopen(fd, mode, encoding=enc) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        _publish(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes(path: str | os.PathLike, data: bytes, **kwargs) -> Path:
    """Write ``data`` to ``path`` with :func:`atomic_file` (same keywords); returns the path."""
    with atomic_file(path, "wb", **kwargs) as fh:
        fh.write(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str, **kwargs) -> Path:
    """Write ``text`` (UTF-8) to ``path`` with :func:`atomic_file`; returns the path."""
    with atomic_file(path, "w", **kwargs) as fh:
        fh.write(text)
    return Path(path)
