"""The artifact checksum race: a file rewritten A -> B -> A while a load is in progress.

The old loader read the file three times (checksum, arrays, checksum again): with the file
swapped between the reads it accepted B's arrays under A's checksum, so the service's cursor
key named a ranker it was not serving. The loader now reads the bytes once and verifies and
parses those same bytes.
"""

from __future__ import annotations

import builtins
import io
import os
from pathlib import Path

import numpy as np
import pytest

import haowurank as hr
from haowurank.rankers._io import read_artifact, read_artifact_bytes
from haowurank.serving import RankerService, artifact_checksum, load_artifact
from haowurank.testing import small_world


@pytest.fixture(scope="module")
def world():
    return small_world()


@pytest.fixture(scope="module")
def two(world, tmp_path_factory):
    d = tmp_path_factory.mktemp("race")
    a = hr.rankers.make("popularity").fit(world)
    b = hr.rankers.make("popularity", kind_weights={"view": 5.0, "purchase": 0.1}).fit(world)
    pa, pb = Path(a.save(d / "a.npz")), Path(b.save(d / "b.npz"))
    users = list(world.user_ids[:8])
    ra, rb = a.recommend(users, n=10)[0], b.recommend(users, n=10)[0]
    assert not np.array_equal(ra, rb), "the two artifacts must rank differently"
    return {"A": pa.read_bytes(), "B": pb.read_bytes(), "users": users, "rec": {"A": ra, "B": rb},
            "sum": {artifact_checksum(pa): "A", artifact_checksum(pb): "B"}}


@pytest.fixture
def flipping_file(two, tmp_path, monkeypatch):
    """An artifact path whose content is atomically rewritten (temp file + rename) right after
    each time it is opened for reading: A, then B, then A, then B... Every reader sees one
    consistent version per open, like a reader racing a writer that replaces the file."""
    path = tmp_path / "live.npz"
    path.write_bytes(two["A"])
    state = {"opens": 0, "seq": ["B", "A"]}
    real_open = io.open

    def flipping_open(file, mode="r", *args, **kwargs):
        fh = real_open(file, mode, *args, **kwargs)
        if (isinstance(file, str | os.PathLike) and "r" in mode and "+" not in mode
                and os.path.abspath(os.fspath(file)) == str(path)):
            state["opens"] += 1
            nxt = state["seq"][(state["opens"] - 1) % 2]
            tmp = path.with_name(".live.tmp")
            with real_open(tmp, "wb") as out:
                out.write(two[nxt])
            os.replace(tmp, path)  # the open handle keeps the bytes it opened
        return fh

    monkeypatch.setattr(builtins, "open", flipping_open)
    monkeypatch.setattr(io, "open", flipping_open)
    return path, state


def _version_of(checksum: str, two) -> str:
    return two["sum"][checksum]


def test_service_key_names_the_ranker_it_serves_under_a_b_a_rewrites(world, two, flipping_file):
    path, state = flipping_file
    svc = RankerService(world, path)
    snap = svc.snapshot
    key_version = _version_of(snap.ranker_key.removeprefix("artifact:"), two)
    served = snap.ranker.recommend(two["users"], n=10)[0]
    # the ranker served is exactly the version its key (and so the feed cursors) names
    np.testing.assert_array_equal(served, two["rec"][key_version])
    assert state["opens"] == 1, f"the artifact was opened {state['opens']} times, not once"
    # a reload while the file keeps flipping stays consistent too
    snap2 = svc.reload()
    v2 = _version_of(snap2.ranker_key.removeprefix("artifact:"), two)
    np.testing.assert_array_equal(snap2.ranker.recommend(two["users"], n=10)[0], two["rec"][v2])
    assert v2 != key_version  # the file really changed between the two loads
    assert state["opens"] == 2


def test_load_artifact_checksum_matches_the_arrays_it_returned(world, two, flipping_file):
    path, _ = flipping_file
    r, checksum = load_artifact(path)
    v = _version_of(checksum, two)
    np.testing.assert_array_equal(r.recommend(two["users"], n=10)[0], two["rec"][v])


def test_read_artifact_from_bytes_equals_from_path(two, tmp_path):
    p = tmp_path / "x.npz"
    p.write_bytes(two["A"])
    meta_p, arrays_p = read_artifact(p)
    meta_b, arrays_b, data = read_artifact_bytes(two["A"])
    assert data == two["A"] and meta_p == meta_b and arrays_p.keys() == arrays_b.keys()
    for k in arrays_p:
        np.testing.assert_array_equal(arrays_p[k], arrays_b[k])


def test_truncated_and_foreign_bytes_are_clear_errors(two):
    with pytest.raises(hr.ArtifactError, match="not a readable haowurank artifact"):
        read_artifact_bytes(two["A"][: len(two["A"]) // 2])
    with pytest.raises(hr.ArtifactError, match="not a readable haowurank artifact"):
        read_artifact_bytes(b"this is not a zip file")
    with pytest.raises(TypeError, match="path or the artifact's bytes.*int"):
        read_artifact_bytes(12)
    with pytest.raises(FileNotFoundError, match="No ranker artifact"):
        read_artifact_bytes("/nonexistent/dir/x.npz")
