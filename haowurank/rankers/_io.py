"""Safe artifacts: one ``.npz`` of plain numpy arrays plus JSON metadata, never pickle.

Layout: every learned array under its own name, and ``__meta__`` holding UTF-8 JSON bytes with
the format name, version, the ranker's name and parameters, and a SHA-256 checksum over every
array's name, dtype, shape and bytes. Loading reads the file's bytes once, verifies the
checksum over the arrays parsed from those bytes and returns exactly those arrays
(``allow_pickle=False``, never two reads of the file); a truncated, tampered, foreign or
wrong-version file raises :class:`~haowurank.ArtifactError`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from .._errors import ArtifactError

FORMAT = "haowurank.ranker"
FORMAT_VERSION = 1

__all__ = [
    "FORMAT", "FORMAT_VERSION", "read_artifact", "read_artifact_bytes", "write_artifact",
]


def _checksum(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(name.encode())
        h.update(str(a.dtype.str).encode())
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def write_artifact(path: str | os.PathLike, meta: dict, arrays: dict[str, np.ndarray]) -> str:
    """Write arrays and metadata atomically; returns the path written."""
    dest = Path(path)
    if dest.suffix != ".npz":
        dest = dest.with_name(dest.name + ".npz") if dest.suffix == "" else dest
    for name, a in arrays.items():
        if np.asarray(a).dtype == object:
            raise TypeError(f"Artifact array {name!r} has dtype object, which needs pickle.")
    full = dict(meta)
    full.update(format=FORMAT, format_version=FORMAT_VERSION, checksum=_checksum(arrays))
    payload = dict(arrays)
    payload["__meta__"] = np.frombuffer(json.dumps(full).encode("utf-8"), dtype=np.uint8)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return str(dest)


def _source_bytes(source: str | os.PathLike | bytes | bytearray | memoryview) -> tuple[bytes, str]:
    """The artifact's bytes, read in one ``read`` call, and a name for error messages."""
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source), "<artifact bytes>"
    if not isinstance(source, str | os.PathLike):
        raise TypeError(
            "An artifact source must be a path or the artifact's bytes. "
            f"Got {type(source).__name__} instead."
        )
    p = Path(source)
    if not p.is_file() and p.with_name(p.name + ".npz").is_file():
        p = p.with_name(p.name + ".npz")
    try:
        with open(p, "rb") as fh:
            data = fh.read()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise FileNotFoundError(f"No ranker artifact at {source}.") from None
    return data, str(p)


def read_artifact_bytes(
    source: str | os.PathLike | bytes | bytearray | memoryview,
) -> tuple[dict, dict[str, np.ndarray], bytes]:
    """Read and verify an artifact from a path or from its bytes; returns (metadata, arrays,
    bytes).

    A path is read once, in full, into memory; the checksum is verified over exactly those
    bytes and the arrays are parsed from the same bytes (``io.BytesIO``, ``allow_pickle=False``),
    so a file rewritten while it is being loaded (A, then B, then A again) can never give
    the arrays of one version with the checksum of another. The bytes are returned so that a
    caller can key a cache on exactly what was loaded.
    """
    data, name = _source_bytes(source)
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, EOFError, ValueError, OSError, KeyError) as exc:
        raise ArtifactError(
            f"{name} is not a readable haowurank artifact (truncated or not an .npz): {exc}"
        ) from exc
    raw = arrays.pop("__meta__", None)
    if raw is None or raw.dtype != np.uint8:
        raise ArtifactError(f"{name} has no haowurank metadata: it is not a haowurank artifact.")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{name}: its metadata is not valid JSON ({exc}).") from exc
    if not isinstance(meta, dict):
        raise ArtifactError(
            f"{name}: its metadata must be a JSON object. Got {type(meta).__name__}."
        )
    if meta.get("format") != FORMAT:
        raise ArtifactError(f"{name}: format {meta.get('format')!r} is not {FORMAT!r}.")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(
            f"{name}: artifact format version {meta.get('format_version')!r}; this haowurank "
            f"reads version {FORMAT_VERSION}. Re-save it with a matching haowurank."
        )
    if _checksum(arrays) != meta.get("checksum"):
        raise ArtifactError(f"{name}: checksum mismatch: the arrays were changed after saving.")
    return meta, arrays, data


def read_artifact(
    path: str | os.PathLike | bytes | bytearray | memoryview,
) -> tuple[dict, dict[str, np.ndarray]]:
    """Read and verify an artifact (a path, or its bytes); returns (metadata, arrays).

    The file is read once; verification and parsing use those same bytes
    (see :func:`read_artifact_bytes`).
    """
    meta, arrays, _ = read_artifact_bytes(path)
    return meta, arrays
