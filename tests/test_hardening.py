"""Hardening (issue 22): one table of cases per class of failure, each closed at its root.

1. Artifacts cannot be altered unnoticed (``haowurank/rankers/_io.py``: one checksum over
   metadata and arrays, a manifest, headers checked before allocation; ``ranker_from_artifact``:
   parameters validated like ``fit``, arrays checked against the vocabularies).
2. Writes never destroy what is not ours (``haowurank/_atomic.py``, the one writer).
3. ``Dataset.read_parquet`` applies ``from_frames``' column rules and messages.
4. Numbers never wrap (``haowurank/_time.py`` for times, ``_clean_ids`` for ids).
5. Service inputs: see ``tests/test_service.py`` (signed cursors, admin token, 409, fuzz).
6. Errors name what failed (loaders' one text-file check, ``from_toml``, ``update``).
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import haowurank as hr
from haowurank.rankers._io import _encode_str, checksum
from haowurank.testing import small_world


@pytest.fixture(scope="module")
def world():
    return small_world()


@pytest.fixture(scope="module")
def saved(world, tmp_path_factory):
    d = tmp_path_factory.mktemp("art")
    return {
        "popularity": hr.rankers.make("popularity").fit(world).save(d / "pop.npz"),
        "trust": hr.rankers.make("trust").fit(world).save(d / "trust.npz"),
        "als": hr.rankers.make("als", factors=4, iterations=2).fit(world).save(d / "als.npz"),
    }


# ============================================================================ 1. artifacts
def _stored(path) -> tuple[dict, dict]:
    with np.load(path, allow_pickle=False) as z:
        stored = {k: z[k] for k in z.files}
    return json.loads(stored.pop("__meta__").tobytes()), stored


def _zip(stored: dict, meta_bytes: bytes) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **stored, __meta__=np.frombuffer(meta_bytes, dtype=np.uint8))
    return buf.getvalue()


def _set(meta: dict, stored: dict, name: str, value: np.ndarray) -> None:
    """Replace an array and its manifest entry (a careful forger keeps them consistent)."""
    stored[name] = value
    meta["arrays"][name] = {"dtype": value.dtype.str, "shape": list(value.shape)}


def _drop(meta: dict, stored: dict, name: str) -> None:
    stored.pop(name)
    meta["arrays"].pop(name)


def _str_ids(meta: dict, stored: dict, name: str, ids: list[str]) -> None:
    stored.update(_encode_str(name, np.asarray(ids, dtype=object)))
    meta["arrays"][name] = {"dtype": "str", "shape": [len(ids)]}


def _rows7(meta: dict, stored: dict) -> None:
    """The trust transition matrix cut to 7 rows (a valid CSR of neither vocabulary)."""
    _set(meta, stored, "transition.shape", np.asarray([7, 60], dtype=np.int64))
    ip = stored["transition.indptr"]
    keep = int(ip[7])
    _set(meta, stored, "transition.indptr", ip[:8].copy())
    _set(meta, stored, "transition.indices", stored["transition.indices"][:keep].copy())
    _set(meta, stored, "transition.data", stored["transition.data"][:keep].copy())


def _raw(text_edit):
    """A mutation that edits the metadata's JSON text (what a JSON library cannot write)."""
    def mutate(meta, stored):
        return text_edit(json.dumps(meta)).encode()
    return mutate


def _huge_header(path: Path) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(out, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "fallback.npy":  # 314 bytes claiming 8 TiB
                hdr = io.BytesIO()
                np.lib.format.write_array_header_1_0(
                    hdr, {"descr": "<f8", "fortran_order": False, "shape": (2**40,)})
                data = hdr.getvalue()
            zout.writestr(info.filename, data)
    return out.getvalue()


def _member(path: Path, name: str, data: bytes, compress: int = zipfile.ZIP_STORED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(out, "w") as zout:
        for info in zin.infolist():
            if info.filename != name:
                zout.writestr(info.filename, zin.read(info))
        zout.writestr(name, data, compress_type=compress)
    return out.getvalue()


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, a, allow_pickle=True)
    return buf.getvalue()


# (case, artifact, mutate(meta, stored) -> None | metadata bytes, reseal, match)
ARTIFACT_CASES = [
    ("valid param edited, old checksum", "popularity",
     lambda m, s: m["params"].update(kind_weights={"view": 2.0}), False, "checksum"),
    ("array edited, old checksum", "popularity",
     lambda m, s: s["item_scores"].__setitem__(0, s["item_scores"][0] + 1), False, "checksum"),
    ("ranker name edited, old checksum", "popularity",
     lambda m, s: m.update(ranker="trust"), False, "checksum"),
    ("max_hops out of range", "trust",
     lambda m, s: m["params"].update(max_hops=11), True, "max_hops"),
    ("max_hops a string", "trust",
     lambda m, s: m["params"].update(max_hops="2"), True, "max_hops"),
    ("negative trust_weight", "trust",
     lambda m, s: m["params"].update(trust_weight=-1.0), True, "trust_weight"),
    ("NaN param", "trust",
     _raw(lambda t: t.replace('"trust_weight": 1.0', '"trust_weight": NaN')), True,
     "non-finite"),
    ("1e999 param", "trust",
     _raw(lambda t: t.replace('"trust_weight": 1.0', '"trust_weight": 1e999')), True,
     "float range"),
    ("100,000-digit integer", "trust",
     _raw(lambda t: t.replace('"max_hops": 2', '"max_hops": ' + "9" * 100_000)), True,
     "digits"),
    ("unknown param", "popularity",
     lambda m, s: m["params"].update(no_such_param=1), True, "unknown parameter"),
    ("params not an object", "popularity",
     lambda m, s: m.update(params=[1, 2]), True, "'params' must be a JSON object"),
    ("unknown ranker", "popularity",
     lambda m, s: m.update(ranker="no_such_ranker"), True, "unknown ranker"),
    ("metadata not an object", "popularity", _raw(lambda t: "[1, 2, 3]"), True, "JSON object"),
    ("format version 1", "popularity",
     lambda m, s: m.update(format_version=1), True, "format_version"),
    ("fallback shorter than the catalogue", "popularity",
     lambda m, s: _set(m, s, "fallback", s["fallback"][:5].copy()), True, "fallback"),
    ("fallback with NaN", "popularity",
     lambda m, s: s["fallback"].__setitem__(0, np.nan), True, "fallback"),
    ("5 item scores for 40 items", "popularity",
     lambda m, s: _set(m, s, "item_scores", s["item_scores"][:5].copy()), True,
     "'item_scores' must have 40 rows"),
    ("5 item factor rows for 40 items", "als",
     lambda m, s: _set(m, s, "model.item_factors", s["model.item_factors"][:5].copy()), True,
     "'model.item_factors' must have 40 rows"),
    ("user factors for fewer users", "als",
     lambda m, s: _set(m, s, "model.user_factors", s["model.user_factors"][:3].copy()), True,
     "'model.user_factors' must have 60 rows"),
    ("factor widths that differ", "als",
     lambda m, s: _set(m, s, "model.item_factors", s["model.item_factors"][:, :2].copy()), True,
     "one number of factors"),
    ("trust transition with rows of neither vocabulary", "trust",
     lambda m, s: _rows7(m, s), True, "rows are the users"),
    ("trust item prior for fewer items", "trust",
     lambda m, s: _set(m, s, "prior", s["prior"][:3].copy()), True, "'prior' must have 40 rows"),
    ("endorsement index of the wrong length", "trust",
     lambda m, s: _set(m, s, "visibility.friends.indptr", s["visibility.friends.indptr"][:9].copy()),
     True, "visibility.friends.indptr"),
    ("seen index beyond the catalogue", "popularity",
     lambda m, s: s["seen.indices"].__setitem__(0, 10_000), True, "seen.indices"),
    ("seen indptr not rising", "popularity",
     lambda m, s: s["seen.indptr"].__setitem__(1, 10**6), True, "seen.indptr"),
    ("seen shape against the vocabularies", "popularity",
     lambda m, s: _set(m, s, "seen.shape", np.asarray([60, 41], dtype=np.int64)), True,
     "seen.shape"),
    ("array missing", "popularity", lambda m, s: _drop(m, s, "item_scores"), True,
     "item_scores"),
    ("array not in the manifest", "popularity",
     lambda m, s: s.update(extra=np.arange(3)), True, "not in the manifest"),
    ("manifest lies about a dtype", "popularity",
     lambda m, s: m["arrays"]["item_scores"].update(dtype="<f8"), True, "manifest says"),
    ("user id listed twice", "popularity",
     lambda m, s: _str_ids(m, s, "user_ids", ["u0"] * 60), True, "more than once"),
    ("user ids of the wrong count", "popularity",
     lambda m, s: _str_ids(m, s, "user_ids", ["u0", "u1"]), True, "seen.shape"),
]


@pytest.mark.parametrize("case,which,mutate,reseal,match", ARTIFACT_CASES,
                         ids=[c[0] for c in ARTIFACT_CASES])
def test_artifact_tampering_is_an_artifact_error_naming_file_and_field(
    saved, tmp_path, case, which, mutate, reseal, match
):
    meta, stored = _stored(saved[which])
    raw = mutate(meta, stored)
    if raw is None:
        if reseal:
            meta["checksum"] = checksum(meta, stored)
        raw = json.dumps(meta).encode()
    dst = tmp_path / "forged.npz"
    dst.write_bytes(_zip(stored, raw))
    with pytest.raises(hr.ArtifactError, match=match) as err:
        hr.load_ranker(dst)
    assert str(dst) in str(err.value)


@pytest.mark.parametrize("case,make,match", [
    ("8 TiB declared in a tiny file", lambda p: _huge_header(p), "declares shape"),
    ("object array (pickle)", lambda p: _member(p, "fallback.npy",
                                                _npy(np.asarray([{"x": 1}], dtype=object))),
     "dtype"),
    ("compressed member", lambda p: _member(p, "fallback.npy", _npy(np.zeros(40, np.float32)),
                                            zipfile.ZIP_DEFLATED), "compressed"),
    ("member that is not an array", lambda p: _member(p, "notes.txt", b"hello"),
     "not an array"),
    ("truncated header", lambda p: _member(p, "fallback.npy", b"\x93NUMPY\x01\x00"),
     "fallback"),
])
def test_artifact_sizes_and_dtypes_are_checked_before_allocation(saved, tmp_path, case, make,
                                                                 match):
    dst = tmp_path / "bad.npz"
    dst.write_bytes(make(Path(saved["popularity"])))
    assert dst.stat().st_size < 64_000
    with pytest.raises(hr.ArtifactError, match=match) as err:
        hr.load_ranker(dst)
    assert str(dst) in str(err.value)


def test_artifact_checksum_reads_only_checked_metadata(saved, tmp_path):
    dst = tmp_path / "huge.npz"
    dst.write_bytes(_member(Path(saved["popularity"]), "__meta__.npy", _npy_header_only()))
    with pytest.raises(hr.ArtifactError, match="__meta__"):
        hr.serving.artifact_checksum(dst)
    assert hr.serving.artifact_checksum(saved["popularity"]) == _stored(saved["popularity"])[0][
        "checksum"]


def _npy_header_only() -> bytes:
    hdr = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        hdr, {"descr": "|u1", "fortran_order": False, "shape": (2**43,)})
    return hdr.getvalue()


def test_ids_round_trip_losslessly(tmp_path):
    ids = ["a", "a\x00", "\x00", "é", "a b", "日本"]
    inter = pd.DataFrame({"user": ids, "item": ids[::-1]})
    ds = hr.Dataset.from_frames(inter)
    r = hr.rankers.make("popularity").fit(ds)
    back = hr.load_ranker(r.save(tmp_path / "ids.npz"))
    assert back.user_ids_.tolist() == r.user_ids_.tolist()
    assert back.item_ids_.tolist() == r.item_ids_.tolist()
    assert len(set(back.user_ids_.tolist())) == len(ids)
    for u in ids:
        np.testing.assert_array_equal(back.recommend(u, n=3)[0], r.recommend(u, n=3)[0])


def test_params_that_fit_refuses_are_refused_at_save_and_load(world, tmp_path):
    r = hr.rankers.make("trust").fit(world)
    r.trust_weight = float("nan")
    with pytest.raises(ValueError, match="finite"):
        r.save(tmp_path / "nan.npz")


# ============================================================================ 2. writes
@pytest.fixture(scope="module")
def writers(world):
    res = hr.sim.run(hr.sim.SimulationConfig(n_users=30, n_items=15, days=2, seed=0,
                                             strategy="popularity"))
    r = hr.rankers.make("popularity").fit(world)
    cfg = hr.sim.SimulationConfig(n_users=30, n_items=15, days=2)
    return {
        "dataset": (lambda p, **kw: world.to_parquet(p, **kw), "dir"),
        "ranker artifact": (lambda p, **kw: r.save(p, **kw), "file"),
        "simulation result": (lambda p, **kw: res.to_parquet(p, **kw), "dir"),
        "config json": (lambda p, **kw: cfg.to_json(p, **kw), "file"),
        "config toml": (lambda p, **kw: cfg.to_toml(p, **kw), "file"),
    }


WRITERS = ["dataset", "ranker artifact", "simulation result", "config json", "config toml"]


def _foreign_folder(p: Path) -> None:
    p.mkdir()
    (p / "notes.txt").write_text("my notes")
    (p / "photos").mkdir()
    (p / "photos" / "cat.jpg").write_bytes(b"\xff\xd8")


def _foreign_file(p: Path) -> None:
    p.write_text("an unrelated file")


def _dest(tmp_path: Path, writer: str) -> Path:
    return tmp_path / ("out.npz" if writer == "ranker artifact" else "out")


@pytest.mark.parametrize("writer", WRITERS)
@pytest.mark.parametrize("setup", [_foreign_folder, _foreign_file],
                         ids=["non-empty foreign folder", "existing foreign file"])
def test_writers_refuse_to_replace_what_is_not_theirs(writers, tmp_path, writer, setup):
    write, _ = writers[writer]
    dest = _dest(tmp_path, writer)
    setup(dest)
    before = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    with pytest.raises(FileExistsError, match="overwrite=True") as err:
        write(dest)
    assert str(dest) in str(err.value)
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == before
    write(dest, overwrite=True)  # the caller's explicit choice
    assert not (dest / "notes.txt").exists() if dest.is_dir() else True


@pytest.mark.parametrize("writer", WRITERS)
def test_writers_replace_their_own_previous_output(writers, tmp_path, writer):
    write, kind = writers[writer]
    dest = _dest(tmp_path, writer)
    write(dest)
    write(dest)  # a second run replaces the first
    assert dest.is_dir() if kind == "dir" else dest.is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == [dest.name]


@pytest.mark.parametrize("writer", WRITERS)
@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_writers_honour_the_umask(writers, tmp_path, writer, umask):
    write, kind = writers[writer]
    dest = _dest(tmp_path, writer)
    old = os.umask(umask)
    try:
        write(dest)
    finally:
        os.umask(old)
    want = (0o777 if kind == "dir" else 0o666) & ~umask
    assert dest.stat().st_mode & 0o777 == want
    if kind == "dir":
        for f in dest.iterdir():
            assert f.stat().st_mode & 0o777 == 0o666 & ~umask


def test_results_files_are_written_by_the_one_writer(tmp_path):
    from haowurank.studies._report import _is_results_file

    (tmp_path / "r.csv").write_text("strategy,NDCG@20\nals,0.1\n")
    (tmp_path / "other.csv").write_text("name,age\nx,1\n")
    assert _is_results_file(tmp_path / "r.csv")
    assert not _is_results_file(tmp_path / "other.csv")


# ============================================================================ 3. read_parquet
def _set_col(table: str, col: str, values):
    def mutate(folder: Path) -> None:
        f = folder / f"{table}.parquet"
        df = pd.read_parquet(f)
        v = values(df) if callable(values) else values
        df[col] = v
        df.to_parquet(f, index=False)
    return mutate


def _drop_col(table: str, col: str):
    def mutate(folder: Path) -> None:
        f = folder / f"{table}.parquet"
        pd.read_parquet(f).drop(columns=[col]).to_parquet(f, index=False)
    return mutate


def _meta_json(**changes):
    def mutate(folder: Path) -> None:
        info = json.loads((folder / "meta.json").read_text())
        info.update(changes)
        (folder / "meta.json").write_text(json.dumps(info))
    return mutate


def _first(values, v):
    return lambda df: np.r_[np.asarray([v], dtype=np.asarray(df[values]).dtype),
                            df[values].to_numpy()[1:]]


# (case, mutate(folder), exception, message shared with from_frames)
READ_CASES = [
    ("negative weight", _set_col("interactions", "weight", _first("weight", -1.0)),
     ValueError, r"The column 'weight' of interactions must be finite and > 0"),
    ("NaN weight", _set_col("interactions", "weight", _first("weight", np.nan)),
     ValueError, r"The column 'weight' of interactions must be finite and > 0"),
    ("kind code 42", _set_col("interactions", "kind", _first("kind", 42)),
     ValueError, r"The column 'kind' of interactions must be one of .*<code 42>"),
    ("visibility code 9", _set_col("interactions", "visibility", _first("visibility", 9)),
     ValueError, r"The column 'visibility' of interactions must be one of"),
    ("timestamp 1e30", _set_col("interactions", "timestamp",
                                lambda df: np.r_[1e30, df["timestamp"].to_numpy()[1:]]),
     ValueError, r"column 'timestamp' of interactions must be a time"),
    ("social weight 0", _set_col("social", "weight", _first("weight", 0.0)),
     ValueError, r"The column 'weight' of social must be finite and > 0"),
    ("negative price", _set_col("items", "price", lambda df: np.r_[-5.0, df["price"][1:]]),
     ValueError, r"The column 'price' of items must be finite and >= 0"),
    ("searchable not bool", _set_col("items", "searchable", 1),
     TypeError, r"'searchable' of items must be boolean"),
    ("duplicate user vocabulary ids",
     _set_col("users", "id", lambda df: np.r_[df["id"][1:2], df["id"][1:]].astype(object)),
     ValueError, r"must list each user id once"),
    ("user id type flipped in meta.json", _meta_json(user_id_type="int"),
     TypeError, r"declares user_id_type 'int'"),
    ("item id type flipped in meta.json", _meta_json(item_id_type="str"),
     TypeError, r"declares item_id_type 'str'"),
    ("missing title column", _drop_col("items", "title"),
     ValueError, r"items\.parquet.*missing \['title'\]"),
    ("missing weight column", _drop_col("interactions", "weight"),
     ValueError, r"interactions\.parquet.*missing \['weight'\]"),
    ("user index beyond the vocabulary", _set_col("interactions", "user", _first("user", 999)),
     ValueError, r"Corrupt dataset: interactions\.user"),
    ("user column of strings", _set_col("interactions", "user", "u0"),
     TypeError, r"'user' of interactions\.parquet must hold int indices"),
    ("has_timestamps not a bool", _meta_json(has_timestamps="yes"),
     TypeError, r"has_timestamps"),
]


@pytest.mark.parametrize("case,mutate,exc,match", READ_CASES, ids=[c[0] for c in READ_CASES])
def test_read_parquet_refuses_what_from_frames_refuses(world, tmp_path, case, mutate, exc,
                                                        match):
    folder = world.to_parquet(tmp_path / "ds")
    mutate(folder)
    with pytest.raises(exc, match=match) as err:
        hr.Dataset.read_parquet(folder)
    assert str(folder) in str(err.value)


def _huge_truth(folder: Path) -> None:
    hdr = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        hdr, {"descr": "<f8", "fortran_order": False, "shape": (2**40,)})
    with zipfile.ZipFile(folder / "truth.npz", "w") as zf:
        zf.writestr("taste.npy", hdr.getvalue())


def test_read_parquet_checks_truth_sizes_before_allocation(tmp_path):
    ds = hr.datasets.synthetic(n_users=30, n_items=15, seed=0)
    folder = ds.to_parquet(tmp_path / "w")
    assert (folder / "truth.npz").is_file()
    assert set(hr.Dataset.read_parquet(folder).truth) == set(ds.truth)
    _huge_truth(folder)
    with pytest.raises(ValueError, match=r"truth\.npz.*declares shape"):
        hr.Dataset.read_parquet(folder)


@pytest.mark.parametrize("column,value", [("weight", -1.0), ("weight", np.nan),
                                          ("kind", "code 42")])
def test_from_frames_gives_the_same_message(column, value):
    inter = pd.DataFrame({"user": ["a", "b"], "item": ["x", "y"], column: [value, value]})
    with pytest.raises(ValueError, match=f"The column '{column}' of interactions must be"):
        hr.Dataset.from_frames(inter)


# ============================================================================ 4. numbers
def _ids(col, values, **kw):
    inter = pd.DataFrame({"user": ["a", "b"], "item": ["x", "y"]})
    inter[col] = values
    return lambda: hr.Dataset.from_frames(inter, **kw)


NUMBER_CASES = [
    ("uint64 user id 2**63", _ids("user", np.asarray([2**63, 1], dtype=np.uint64)),
     ValueError, r"'user' of interactions must hold int ids in the int64 range"),
    ("uint64 item id 2**64-1", _ids("item", np.asarray([2**64 - 1, 1], dtype=np.uint64)),
     ValueError, r"'item' of interactions must hold int ids in the int64 range"),
    ("float id 1e19", _ids("user", [1e19, 1.0]),
     ValueError, r"'user' of interactions must hold int ids in the int64 range"),
    ("float id -1e19", _ids("item", [-1e19, 1.0]),
     ValueError, r"'item' of interactions must hold int ids in the int64 range"),
    ("object id 2**70", _ids("user", pd.Series([2**70, 1], dtype=object)),
     ValueError, r"'user' of interactions must hold int ids in the int64 range"),
    ("timestamp 1e30", _ids("timestamp", [1e30, 0.0]),
     ValueError, r"column 'timestamp' of interactions must be a time"),
    ("timestamp uint64 2**64-1", _ids("timestamp", np.asarray([2**64 - 1, 0], dtype=np.uint64)),
     ValueError, r"column 'timestamp' of interactions must be a time"),
    ("timestamp int64 max", _ids("timestamp", np.asarray([2**63 - 1, 0], dtype=np.int64)),
     ValueError, r"column 'timestamp' of interactions must be a time"),
    ("milliseconds taken as seconds", _ids("timestamp", [1_700_000_000_000, 1_700_000_000_500]),
     ValueError, r"time_unit='ms'"),
    ("nanoseconds with time_unit='ms'",
     _ids("timestamp", [1_700_000_000_000_000_000] * 2, time_unit="ms"),
     ValueError, r"once read in 'ms'"),
    ("unknown time_unit", _ids("timestamp", [0, 1], time_unit="hours"),
     ValueError, r"'time_unit' parameter of Dataset.from_frames"),
]


@pytest.mark.parametrize("case,call,exc,match", NUMBER_CASES, ids=[c[0] for c in NUMBER_CASES])
def test_numbers_that_would_wrap_are_refused_naming_the_column(case, call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_time_unit_reads_milliseconds():
    ms = pd.DataFrame({"user": ["a", "b"], "item": ["x", "y"],
                       "timestamp": [1_700_000_000_123, 1_700_000_100_999]})
    s = ms.assign(timestamp=[1_700_000_000, 1_700_000_100])
    a = hr.Dataset.from_frames(ms, time_unit="ms")
    b = hr.Dataset.from_frames(s)
    assert a.interactions["timestamp"].tolist() == b.interactions["timestamp"].tolist()


@pytest.mark.parametrize("now,exc,match", [
    (float("nan"), ValueError, "finite"),
    (np.datetime64("NaT"), ValueError, "NaT"),
    (pd.NaT, ValueError, "NaT"),
    (float("inf"), ValueError, "finite"),
    (1e30, ValueError, "must be a time"),
    (2**64 - 1, ValueError, "must be a time"),
    (True, TypeError, "int seconds"),
])
def test_feed_refuses_a_garbage_now(world, now, exc, match):
    with pytest.raises(exc, match=f"'now' parameter of hr.feed.build.*{match}|{match}.*'now'"):
        hr.feed.build(world, None, "u0", n=3, now=now)


@pytest.mark.parametrize("cut", [1e30, 2**64, -(2**70)])
def test_temporal_split_refuses_a_cut_that_would_wrap(world, cut):
    with pytest.raises(ValueError, match="'cut' parameter of temporal_split must be a time in int64"):
        hr.split.temporal_split(world, cut=cut)


def test_trust_decay_refuses_a_nan_now():
    with pytest.raises(ValueError, match="'now' parameter"):
        hr.trust.decay_weights([0, 86400], half_life_days=1.0, now=float("nan"))


# ============================================================================ 6. errors
def _lastfm(folder: Path) -> Path:
    folder.mkdir()
    (folder / "user_artists.dat").write_text("userID\tartistID\tweight\n1\t10\t5\n2\t11\t3\n")
    (folder / "user_friends.dat").write_text("userID\tfriendID\n1\t2\n2\t1\n")
    (folder / "artists.dat").write_text("id\tname\turl\tpictureURL\n10\tBjörk\tu\tp\n11\tABBA\tu\tp\n")
    return folder


def _filmtrust(folder: Path) -> Path:
    folder.mkdir()
    (folder / "ratings.txt").write_text("1 10 3.5\n2 11 4.0\n")
    (folder / "trust.txt").write_text("1 2 1\n")
    return folder


LOADER_CASES = [
    ("UTF-16 file", "lastfm", "user_artists.dat",
     lambda p: p.write_bytes(p.read_text().encode("utf-16")), "byte-order mark"),
    ("UTF-16 without a BOM", "lastfm", "user_friends.dat",
     lambda p: p.write_bytes(p.read_text().encode("utf-16-le")), "NUL byte"),
    ("Latin-1 where UTF-8 is expected", "lastfm", "artists.dat",
     lambda p: p.write_bytes(p.read_text().encode("latin-1")), "must be utf-8 text; byte"),
    ("UTF-8 BOM", "lastfm", "artists.dat",
     lambda p: p.write_bytes(b"\xef\xbb\xbf" + p.read_bytes()), "UTF-8 byte-order mark"),
    ("zero-byte file", "lastfm", "user_friends.dat", lambda p: p.write_bytes(b""),
     r"is empty \(0 bytes\)"),
    ("duplicate column names", "lastfm", "user_artists.dat",
     lambda p: p.write_text("userID\tartistID\tartistID\n1\t10\t5\n"),
     r"distinct header column names. Found \['artistID'\]"),
    ("zero-byte text file", "filmtrust", "ratings.txt", lambda p: p.write_bytes(b""),
     r"is empty \(0 bytes\)"),
    ("UTF-16 ratings", "filmtrust", "trust.txt",
     lambda p: p.write_bytes(p.read_text().encode("utf-16")), "byte-order mark"),
    ("Latin-1 in an ASCII file", "filmtrust", "ratings.txt",
     lambda p: p.write_bytes("1 10 3.5 é\n".encode("latin-1")), "must be ascii text"),
]


@pytest.mark.parametrize("case,which,file,damage,match", LOADER_CASES,
                         ids=[c[0] for c in LOADER_CASES])
def test_loader_errors_name_the_file_and_what_was_found(tmp_path, case, which, file, damage,
                                                        match):
    folder = (_lastfm if which == "lastfm" else _filmtrust)(tmp_path / which)
    load = hr.datasets.load_lastfm if which == "lastfm" else hr.datasets.load_filmtrust
    load(folder)  # the undamaged folder loads
    damage(folder / file)
    with pytest.raises(ValueError, match=match) as err:
        load(folder)
    assert file in str(err.value)


def test_from_frames_duplicate_column_names_name_the_column():
    inter = pd.DataFrame([["a", "x", "y"]], columns=["user", "item", "item"])
    with pytest.raises(ValueError, match=r"distinct column names. Found \['item'\]"):
        hr.Dataset.from_frames(inter)


def test_from_toml_treats_an_existing_path_as_a_path(tmp_path, monkeypatch):
    cfg = hr.sim.SimulationConfig(n_users=30, n_items=15, days=2)
    monkeypatch.chdir(tmp_path)
    cfg.to_toml("run=1.toml")
    assert hr.sim.SimulationConfig.from_toml("run=1.toml") == cfg
    assert hr.sim.SimulationConfig.from_toml(tmp_path / "run=1.toml") == cfg
    with pytest.raises(FileNotFoundError, match="no file at 'missing=2.toml'"):
        hr.sim.SimulationConfig.from_toml("missing=2.toml")
    assert hr.sim.SimulationConfig.from_toml("days = 3\nn_users = 20\n").days == 3
    with pytest.raises(ValueError, match="not valid TOML"):
        hr.sim.SimulationConfig.from_toml("days = = 3\n")
    cfg.to_json("{odd}.json")
    assert hr.sim.SimulationConfig.from_json("{odd}.json") == cfg
    assert hr.sim.SimulationConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(FileNotFoundError, match="no file at 'nope.json'"):
        hr.sim.SimulationConfig.from_json("nope.json")


@pytest.mark.parametrize("case,kwargs,exc,match", [
    ("timestamp column the dataset lacks", {"ts": False, "interactions": pd.DataFrame(
        {"user": ["u0"], "item": [100], "timestamp": [5]})}, ValueError,
     r"have a 'timestamp' column, but the service's dataset has no timestamps"),
    ("NaN user in the new rows", {"interactions": pd.DataFrame(
        {"user": [None], "item": [100], "timestamp": [5]})}, ValueError,
     r"new rows are invalid: .*'user' of interactions.*first at index 0"),
    ("str items for int vocabulary", {"interactions": pd.DataFrame(
        {"user": ["u0"], "item": ["x"], "timestamp": [5]})}, TypeError,
     r"new rows have str item ids"),
    ("bad kind in the new rows", {"interactions": pd.DataFrame(
        {"user": ["u0"], "item": [100], "timestamp": [5], "kind": ["like"]})}, ValueError,
     r"'kind' of interactions must be one of .*\['like'\] in 1 row\(s\), first at index 0"),
])
def test_update_reports_only_what_the_caller_passed(world, case, kwargs, exc, match):
    kwargs = dict(kwargs)
    ds = world
    if not kwargs.pop("ts", True):
        inter = world.interactions.drop(columns=["timestamp"])
        ds = hr.Dataset.from_frames(inter, world.social)
    svc = hr.serving.RankerService(ds, hr.rankers.make("popularity").fit(ds))
    with pytest.raises(exc, match=match) as err:
        svc.update(**kwargs)
    assert "missing values" not in str(err.value) or "None" in case or "NaN" in case
    assert svc.snapshot.version == 1
