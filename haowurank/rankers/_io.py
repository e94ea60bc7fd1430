"""Safe artifacts: one ``.npz`` of plain numpy arrays plus JSON metadata, never pickle.

Layout (format version 2): every learned array under its own name, and ``__meta__`` holding
UTF-8 JSON bytes with the format name and version, the ranker's name and parameters, a manifest
of every array (``arrays``: name -> dtype and shape) and one SHA-256 ``checksum`` over the
metadata (canonical JSON, every field but the checksum) and every array's name, dtype, shape and
bytes. Arrays of strings are stored losslessly as UTF-8 bytes plus one length per string (numpy's
``<U`` arrays strip trailing NULs, so ``"a"`` and ``"a\\x00"`` would come back equal).

Loading reads the file's bytes once and parses everything from those bytes. Before any array is
allocated, each member's ``.npy`` header is read and its declared size checked against the
bytes actually stored, so a tiny file cannot claim terabytes; only plain numeric and boolean
dtypes are accepted (``allow_pickle=False``); JSON integers longer than
:data:`MAX_INT_DIGITS` digits and non-finite numbers are refused; every array is checked
against the manifest and every CSR group (``p.data``, ``p.indices``, ``p.indptr``,
``p.shape``) for a valid structure. Every failure is :class:`~haowurank.ArtifactError` naming
the file and the field. Version 1 artifacts (whose checksum did not cover the metadata) are
refused with a message saying to re-save them.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_file
from .._errors import ArtifactError

FORMAT = "haowurank.ranker"
FORMAT_VERSION = 2
#: Longest JSON integer accepted in artifact metadata (int64 has 19 digits).
MAX_INT_DIGITS = 20
#: Largest metadata member accepted, in bytes.
MAX_META_BYTES = 16 << 20
#: dtype kinds an artifact may hold: bool, signed and unsigned ints, floats.
_KINDS = "biuf"
_STR = "str"  # manifest dtype of a string array (stored as UTF-8 bytes + lengths)

__all__ = [
    "FORMAT", "FORMAT_VERSION", "MAX_INT_DIGITS", "artifact_owned", "checksum",
    "read_artifact", "read_artifact_bytes", "read_artifact_meta", "write_artifact",
]


# ------------------------------------------------------------------------------ encoding
def _is_str_array(a: np.ndarray) -> bool:
    if a.dtype.kind == "U":
        return True
    return a.dtype == object and all(isinstance(v, str) for v in a.ravel().tolist())


def _encode_str(name: str, a: np.ndarray) -> dict[str, np.ndarray]:
    values = [str(v) for v in a.ravel().tolist()]
    raw = [v.encode("utf-8", "surrogatepass") for v in values]
    return {
        f"{name}.__utf8__": np.frombuffer(b"".join(raw), dtype=np.uint8),
        f"{name}.__len__": np.asarray([len(b) for b in raw], dtype=np.int64),
    }


def _canonical(meta: dict) -> bytes:
    body = {k: v for k, v in meta.items() if k != "checksum"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def checksum(meta: dict, stored: dict[str, np.ndarray]) -> str:
    """SHA-256 over the metadata (every field but ``checksum``) and the stored arrays."""
    h = hashlib.sha256()
    h.update(_canonical(meta))
    for name in sorted(stored):
        a = np.ascontiguousarray(stored[name])
        h.update(b"\0" + name.encode("utf-8") + b"\0")
        h.update(a.dtype.str.encode())
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _stored_arrays(arrays: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict]:
    """(arrays as stored in the zip, manifest name -> {dtype, shape})."""
    stored: dict[str, np.ndarray] = {}
    manifest: dict[str, dict] = {}
    for name, value in arrays.items():
        if not isinstance(name, str) or not name or name.startswith("__") or "__" in name:
            raise ValueError(f"Artifact array name {name!r} is not allowed.")
        a = np.asarray(value)
        if _is_str_array(a):
            if a.ndim != 1:
                raise TypeError(f"Artifact string array {name!r} must be 1-D. Got shape {a.shape}.")
            stored.update(_encode_str(name, a))
            manifest[name] = {"dtype": _STR, "shape": [len(a)]}
            continue
        if a.dtype.kind not in _KINDS:
            raise TypeError(
                f"Artifact array {name!r} has dtype {a.dtype}; only bool, int, uint and float "
                f"arrays (and 1-D arrays of str) are stored (no pickle)."
            )
        stored[name] = np.ascontiguousarray(a)
        manifest[name] = {"dtype": a.dtype.str, "shape": list(a.shape)}
    return stored, manifest


def artifact_owned(path: Path) -> bool:
    """Whether an existing file is a haowurank artifact (a zip with a ``__meta__`` member), so
    :func:`write_artifact` may replace it."""
    try:
        with zipfile.ZipFile(path) as zf:
            return "__meta__.npy" in zf.namelist()
    except (OSError, zipfile.BadZipFile, ValueError):
        return False


def write_artifact(
    path: str | os.PathLike, meta: dict, arrays: dict[str, np.ndarray], *, overwrite: bool = False
) -> str:
    """Write arrays and metadata atomically with the library's one writer; returns the path.

    A missing ``.npz`` suffix is added. An existing file is replaced only when it is a
    haowurank artifact; anything else raises ``FileExistsError`` unless ``overwrite=True``.
    """
    dest = Path(path)
    if dest.suffix != ".npz":
        dest = dest.with_name(dest.name + ".npz") if dest.suffix == "" else dest
    stored, manifest = _stored_arrays(arrays)
    full = dict(meta)
    full.update(format=FORMAT, format_version=FORMAT_VERSION, arrays=manifest)
    try:
        full["checksum"] = checksum(full, stored)
    except ValueError as exc:  # NaN / inf in the parameters
        raise ValueError(f"Artifact metadata must be finite JSON: {exc}") from exc
    payload = dict(stored)
    payload["__meta__"] = np.frombuffer(
        json.dumps(full, allow_nan=False).encode("utf-8"), dtype=np.uint8
    )
    with atomic_file(dest, "wb", owned=artifact_owned, overwrite=overwrite,
                     what="ranker artifact") as fh:
        np.savez(fh, **payload)
    return str(dest)


# ------------------------------------------------------------------------------ reading
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


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, total: int) -> np.ndarray:
    """One ``.npy`` member, its header checked before anything is allocated."""
    field = info.filename[:-4]
    if info.compress_type != zipfile.ZIP_STORED:
        raise ArtifactError(f"{name}: array {field!r} is compressed; artifacts store arrays as is.")
    if info.file_size > total:
        raise ArtifactError(
            f"{name}: array {field!r} declares {info.file_size} bytes in a file of {total} bytes."
        )
    with zf.open(info) as fh:
        try:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
            elif version in ((2, 0), (3, 0)):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
            else:
                raise ValueError(f"unsupported .npy version {version}")
        except (ValueError, OSError, EOFError, SyntaxError, TypeError) as exc:
            raise ArtifactError(f"{name}: array {field!r} has a malformed header ({exc}).") from exc
        if dtype.kind not in _KINDS or dtype.hasobject or dtype.fields is not None:
            raise ArtifactError(
                f"{name}: array {field!r} has dtype {dtype}; only bool, int, uint and float "
                f"arrays are accepted (no pickle)."
            )
        header = fh.tell()
        n = 1
        for d in shape:
            n *= int(d)
        need = n * dtype.itemsize
        if need != info.file_size - header:
            raise ArtifactError(
                f"{name}: array {field!r} declares shape {tuple(shape)} of {dtype} "
                f"({need} bytes) but stores {info.file_size - header} bytes."
            )
        data = fh.read(need)
    if len(data) != need:
        raise ArtifactError(f"{name}: array {field!r} is truncated.")
    a = np.frombuffer(bytearray(data), dtype=dtype)  # writable, owns its memory
    return a.reshape(shape, order="F" if fortran else "C")


def _no_constant(token: str) -> Any:
    raise ValueError(f"non-finite number {token} is not allowed")


def _bounded_int(token: str) -> int:
    digits = len(token.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise ValueError(f"an integer of {digits} digits exceeds the limit of {MAX_INT_DIGITS}")
    return int(token)


def _finite_float(token: str) -> float:
    v = float(token)
    if not np.isfinite(v):
        raise ValueError(f"number {token[:40]} is out of the float range")
    return v


def _parse_meta(raw: np.ndarray, name: str) -> dict:
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise ArtifactError(f"{name}: field '__meta__' must be 1-D uint8 JSON bytes.")
    try:
        meta = json.loads(
            raw.tobytes().decode("utf-8"), parse_int=_bounded_int, parse_float=_finite_float,
            parse_constant=_no_constant,
        )
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ArtifactError(f"{name}: field '__meta__' is not valid artifact JSON ({exc}).") from exc
    if not isinstance(meta, dict):
        raise ArtifactError(
            f"{name}: field '__meta__' must be a JSON object. Got {type(meta).__name__}."
        )
    return meta


def _check_csr_groups(arrays: dict[str, np.ndarray], name: str) -> None:
    """Every ``p.data / p.indices / p.indptr / p.shape`` group is a valid CSR matrix."""
    for p in sorted(k[: -len(".indptr")] for k in arrays if k.endswith(".indptr")):
        parts = {s: arrays.get(f"{p}.{s}") for s in ("data", "indices", "indptr", "shape")}
        if any(a is None for a in parts.values()):
            continue  # not a CSR group (its ranker checks it)
        shape, indptr, indices, data = parts["shape"], parts["indptr"], parts["indices"], parts["data"]
        if shape.shape != (2,) or shape.dtype.kind not in "iu" or (shape < 0).any():
            raise ArtifactError(f"{name}: field '{p}.shape' must be 2 ints >= 0. Got {shape!r}.")
        rows, cols = int(shape[0]), int(shape[1])
        if indptr.ndim != 1 or indptr.dtype.kind not in "iu" or len(indptr) != rows + 1:
            raise ArtifactError(
                f"{name}: field '{p}.indptr' must be {rows + 1} ints for {rows} rows. "
                f"Got shape {indptr.shape} of {indptr.dtype}."
            )
        nnz = len(indices)
        if indices.ndim != 1 or indices.dtype.kind not in "iu" or data.shape != (nnz,):
            raise ArtifactError(
                f"{name}: fields '{p}.indices' and '{p}.data' must be 1-D of one length "
                f"(ints and numbers). Got shapes {indices.shape} and {data.shape}."
            )
        if indptr[0] != 0 or indptr[-1] != nnz or (np.diff(indptr) < 0).any():
            raise ArtifactError(
                f"{name}: field '{p}.indptr' must rise from 0 to {nnz} (the number of entries)."
            )
        if nnz and (indices.min() < 0 or indices.max() >= cols):
            raise ArtifactError(
                f"{name}: field '{p}.indices' holds column indices outside [0, {cols})."
            )


def _decode(meta: dict, stored: dict[str, np.ndarray], name: str) -> dict[str, np.ndarray]:
    """Arrays as the ranker saved them, each checked against the manifest."""
    manifest = meta.get("arrays")
    if not isinstance(manifest, dict):
        raise ArtifactError(f"{name}: field 'arrays' (the manifest) must be a JSON object.")
    out: dict[str, np.ndarray] = {}
    used: set[str] = set()
    for field, spec in manifest.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("shape"), list) or not all(
            isinstance(d, int) and d >= 0 for d in spec["shape"]
        ) or not isinstance(spec.get("dtype"), str):
            raise ArtifactError(f"{name}: field 'arrays.{field}' must give a dtype and a shape.")
        shape = tuple(spec["shape"])
        if spec["dtype"] == _STR:
            raw, lens = stored.get(f"{field}.__utf8__"), stored.get(f"{field}.__len__")
            if raw is None or lens is None:
                raise ArtifactError(f"{name}: string array {field!r} is missing.")
            used |= {f"{field}.__utf8__", f"{field}.__len__"}
            if (raw.dtype != np.uint8 or raw.ndim != 1 or lens.ndim != 1
                    or lens.dtype.kind not in "iu" or (len(shape) != 1) or len(lens) != shape[0]
                    or (lens < 0).any() or int(lens.sum()) != len(raw)):
                raise ArtifactError(
                    f"{name}: string array {field!r} does not match its manifest {spec}."
                )
            buf = raw.tobytes()
            ends = np.cumsum(lens)
            try:
                vals = [buf[e - n: e].decode("utf-8", "surrogatepass")
                        for e, n in zip(ends.tolist(), lens.tolist(), strict=True)]
            except UnicodeDecodeError as exc:
                raise ArtifactError(f"{name}: string array {field!r} is not UTF-8 ({exc}).") from exc
            arr = np.empty(len(vals), dtype=object)
            arr[:] = vals
            out[field] = arr
            continue
        a = stored.get(field)
        if a is None:
            raise ArtifactError(f"{name}: array {field!r} listed in the manifest is missing.")
        used.add(field)
        if a.dtype.str != spec["dtype"] or a.shape != shape:
            raise ArtifactError(
                f"{name}: array {field!r} is {a.dtype.str} of shape {a.shape}; the manifest "
                f"says {spec['dtype']} of shape {shape}."
            )
        out[field] = a
    extra = sorted(set(stored) - used)
    if extra:
        raise ArtifactError(f"{name}: array(s) {extra[:5]} are not in the manifest.")
    _check_csr_groups(out, name)
    return out


def read_artifact_bytes(
    source: str | os.PathLike | bytes | bytearray | memoryview,
) -> tuple[dict, dict[str, np.ndarray], bytes]:
    """Read and verify an artifact from a path or from its bytes; returns (metadata, arrays,
    bytes).

    A path is read once, in full, into memory; the checksum is verified over exactly those
    bytes and the arrays are parsed from the same bytes, so a file rewritten while it is being
    loaded (A, then B, then A again) can never give the arrays of one version with the checksum
    of another. The bytes are returned so that a caller can key a cache on exactly what was
    loaded. Every failure raises :class:`~haowurank.ArtifactError` naming the file and field.
    """
    data, name = _source_bytes(source)
    stored: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            if len(infos) > 100_000:
                raise ArtifactError(f"{name}: {len(infos)} members is more than an artifact holds.")
            for info in infos:
                if not info.filename.endswith(".npy"):
                    raise ArtifactError(f"{name}: member {info.filename!r} is not an array.")
                field = info.filename[:-4]
                if field == "__meta__" and info.file_size > MAX_META_BYTES:
                    raise ArtifactError(
                        f"{name}: field '__meta__' declares {info.file_size} bytes (limit "
                        f"{MAX_META_BYTES})."
                    )
                stored[field] = _read_member(zf, info, name, len(data))
    except ArtifactError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, OSError, KeyError,
            NotImplementedError, OverflowError, MemoryError) as exc:
        raise ArtifactError(
            f"{name} is not a readable haowurank artifact (truncated or not an .npz): {exc}"
        ) from exc
    raw = stored.pop("__meta__", None)
    if raw is None:
        raise ArtifactError(f"{name} has no haowurank metadata: it is not a haowurank artifact.")
    meta = _parse_meta(raw, name)
    if meta.get("format") != FORMAT:
        raise ArtifactError(f"{name}: field 'format' is {meta.get('format')!r}, not {FORMAT!r}.")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(
            f"{name}: field 'format_version' is {meta.get('format_version')!r}; this haowurank "
            f"reads artifact format version {FORMAT_VERSION}. Re-save it (fit and save) with "
            f"this haowurank."
        )
    if not isinstance(meta.get("checksum"), str) or checksum(meta, stored) != meta["checksum"]:
        raise ArtifactError(
            f"{name}: field 'checksum' does not match: the metadata or the arrays were changed "
            f"after saving."
        )
    return meta, _decode(meta, stored, name), data


def read_artifact_meta(source: str | os.PathLike | bytes | bytearray | memoryview) -> dict:
    """The metadata of an artifact (a path or its bytes) without reading its arrays; its
    ``checksum`` field is returned as recorded, not verified. ``ArtifactError`` when there is
    no readable metadata."""
    data, name = _source_bytes(source)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            info = zf.getinfo("__meta__.npy")
            if info.file_size > MAX_META_BYTES:
                raise ArtifactError(
                    f"{name}: field '__meta__' declares {info.file_size} bytes (limit "
                    f"{MAX_META_BYTES})."
                )
            raw = _read_member(zf, info, name, len(data))
    except ArtifactError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, OSError, KeyError,
            NotImplementedError, OverflowError, MemoryError) as exc:
        raise ArtifactError(f"{name} is not a readable haowurank artifact: {exc}") from exc
    meta = _parse_meta(raw, name)
    if not isinstance(meta.get("checksum"), str):
        raise ArtifactError(f"{name}: field 'checksum' is missing.")
    return meta


def read_artifact(
    path: str | os.PathLike | bytes | bytearray | memoryview,
) -> tuple[dict, dict[str, np.ndarray]]:
    """Read and verify an artifact (a path, or its bytes); returns (metadata, arrays).

    The file is read once; verification and parsing use those same bytes
    (see :func:`read_artifact_bytes`).
    """
    meta, arrays, _ = read_artifact_bytes(path)
    return meta, arrays
