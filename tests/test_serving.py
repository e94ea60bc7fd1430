"""The production ranker: safe artifacts, thread safety, atomic hot swap, updates without refit."""

from __future__ import annotations

import json
import threading
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import haowurank as hr
from haowurank.feed import CursorError
from haowurank.serving import RankerService
from haowurank.testing import small_world


@pytest.fixture(scope="module")
def world():
    return small_world()


@pytest.fixture(scope="module")
def artifacts(world, tmp_path_factory):
    d = tmp_path_factory.mktemp("art")
    a = hr.rankers.make("popularity").fit(world)
    b = hr.rankers.make("popularity", kind_weights={"view": 5.0, "purchase": 0.1}).fit(world)
    return a, b, a.save(d / "a.npz"), b.save(d / "b.npz")


def _frame_tuple(f: pd.DataFrame) -> tuple:
    return tuple(tuple(map(str, row)) for row in f.itertuples(index=False))


# ----------------------------------------------------------------------------- safe artifacts
def _rewrite(src: str, dst: Path, *, arrays=None, meta=None, reseal=False) -> Path:
    """Rewrite an artifact with some arrays or metadata replaced (a valid zip, no pickle);
    ``reseal``: also recompute the checksum, as a careful attacker would."""
    from haowurank.rankers._io import checksum

    with np.load(src, allow_pickle=False) as z:
        payload = {k: z[k] for k in z.files}
    m = json.loads(payload["__meta__"].tobytes().decode())
    m.update(meta or {})
    payload.update(arrays or {})
    if reseal:
        m["checksum"] = checksum(m, {k: v for k, v in payload.items() if k != "__meta__"})
    payload["__meta__"] = np.frombuffer(json.dumps(m).encode(), dtype=np.uint8)
    with open(dst, "wb") as fh:
        np.savez(fh, **payload)
    return dst


def test_truncated_artifact(artifacts, tmp_path):
    raw = Path(artifacts[2]).read_bytes()
    for cut in (10, len(raw) // 2, len(raw) - 5):
        p = tmp_path / f"cut{cut}.npz"
        p.write_bytes(raw[:cut])
        with pytest.raises(hr.ArtifactError):
            hr.load_ranker(p)


def test_flipped_byte_in_an_array(artifacts, tmp_path):
    raw = bytearray(Path(artifacts[2]).read_bytes())
    with zipfile.ZipFile(artifacts[2]) as zf:
        info = zf.getinfo("item_scores.npy")
    # the member is stored uncompressed: flip the last byte of its data (an array value)
    assert info.compress_type == zipfile.ZIP_STORED
    h = info.header_offset
    name_len = int.from_bytes(raw[h + 26 : h + 28], "little")
    extra_len = int.from_bytes(raw[h + 28 : h + 30], "little")
    pos = h + 30 + name_len + extra_len + info.file_size - 1
    raw[pos] ^= 0xFF
    p = tmp_path / "flip.npz"
    p.write_bytes(bytes(raw))
    with pytest.raises(hr.ArtifactError):
        hr.load_ranker(p)


def test_changed_array_with_a_valid_zip_fails_the_checksum(artifacts, tmp_path):
    a = artifacts[0]
    scores = a.item_scores_.copy()
    scores[0] += 1.0
    p = _rewrite(artifacts[2], tmp_path / "t.npz", arrays={"item_scores": scores})
    with pytest.raises(hr.ArtifactError, match="checksum"):
        hr.load_ranker(p)


def test_wrong_version_and_foreign_files(artifacts, tmp_path):
    p = _rewrite(artifacts[2], tmp_path / "v.npz", meta={"format_version": 999})
    with pytest.raises(hr.ArtifactError, match="version"):
        hr.load_ranker(p)
    p = _rewrite(artifacts[2], tmp_path / "f.npz", meta={"format": "something.else"})
    with pytest.raises(hr.ArtifactError, match="format"):
        hr.load_ranker(p)
    p = _rewrite(artifacts[2], tmp_path / "n.npz", meta={"ranker": "no_such_ranker"})
    with pytest.raises(hr.ArtifactError, match="checksum"):
        hr.load_ranker(p)
    p = _rewrite(artifacts[2], tmp_path / "n.npz", meta={"ranker": "no_such_ranker"}, reseal=True)
    with pytest.raises(hr.ArtifactError, match="unknown ranker"):
        hr.load_ranker(p)
    txt = tmp_path / "plain.npz"
    txt.write_text("this is not an npz file at all")
    with pytest.raises(hr.ArtifactError):
        hr.load_ranker(txt)
    other = tmp_path / "other.npz"
    np.savez(other, x=np.arange(3))
    with pytest.raises(hr.ArtifactError, match="metadata"):
        hr.load_ranker(other)


class _Boom:
    """Unpickling this writes a marker file: proof that code ran."""

    marker = ""

    def __reduce__(self):
        return (Path.write_text, (Path(self.marker), "executed"))


def test_pickle_payload_is_never_executed(artifacts, tmp_path):
    marker = tmp_path / "pwned.txt"
    boom = _Boom()
    boom.marker = str(marker)
    evil = np.empty(1, dtype=object)
    evil[0] = boom
    with np.load(artifacts[2], allow_pickle=False) as z:
        payload = {k: z[k] for k in z.files}
    payload["item_scores"] = evil
    p = tmp_path / "evil.npz"
    np.savez(p, **payload)  # object arrays are pickled inside the npz
    with pytest.raises(hr.ArtifactError):
        hr.load_ranker(p)
    with pytest.raises(hr.ArtifactError):
        RankerService(small_world(), p)
    assert not marker.exists()


@pytest.mark.parametrize(
    "name,params",
    [
        ("popularity", {}),
        ("als", {"factors": 8, "iterations": 3, "random_state": 0}),
        ("item_knn", {}),
        ("friend_endorsements", {}),
        ("trust", {}),
    ],
)
def test_loaded_ranker_recommends_exactly_the_same(world, tmp_path, name, params):
    if name not in hr.rankers.available():
        pytest.skip(f"{name} not available")
    r = hr.rankers.make(name, **params).fit(world)
    r2 = hr.load_ranker(r.save(tmp_path / f"{name}.npz"))
    users = list(world.user_ids) + ["never-seen"]
    a, b = r.recommend(users, n=10), r2.recommend(users, n=10)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    fa = hr.feed.build(world, r, list(world.user_ids[:10]), n=5)
    fb = hr.feed.build(world, r2, list(world.user_ids[:10]), n=5)
    pd.testing.assert_frame_equal(fa, fb)


# ----------------------------------------------------------------------------- the service
def test_service_from_paths_answers_like_the_ranker(world, artifacts, tmp_path):
    a, _, pa, _ = artifacts
    world.to_parquet(tmp_path / "ds")
    svc = RankerService.from_paths(pa, tmp_path / "ds")
    users = list(world.user_ids[:5])
    pd.testing.assert_frame_equal(svc.recommend(users, n=7), a.recommend_frame(users, n=7))
    f = svc.feed(users, n=4)
    ref = hr.feed.build(world, a, users, n=4)
    pd.testing.assert_frame_equal(f, ref)
    for u in users:
        pd.testing.assert_frame_equal(
            svc.feed_page(u, n=4).to_frame(), ref[ref["user"] == u].reset_index(drop=True)
        )
    h = svc.health()
    assert h["status"] == "ok" and h["ranker"] == "popularity" and h["artifact"] == str(pa)
    with pytest.raises(hr.UnknownIdError, match="nobody"):
        svc.recommend("nobody")
    with pytest.raises(ValueError, match="'n' parameter"):
        svc.recommend(users[0], n=0)
    with pytest.raises(ValueError, match="'n' parameter"):
        svc.feed(users[0], n=10**6)


def _requests(world):
    users = list(world.user_ids[:30])
    reqs = []
    for k, u in enumerate(users):
        reqs.append(("recommend", u, 5 + k % 4))
        reqs.append(("feed", u, 3 + k % 3))
        reqs.append(("feed_batch", tuple(users[k : k + 7]), 4))
        if k % 5 == 0:
            reqs.append(("search", ("tea", "shoes")[k % 2], 6))
    return reqs


def _answer(svc, req):
    kind, arg, n = req
    if kind == "recommend":
        return _frame_tuple(svc.recommend(arg, n=n))
    if kind == "feed":
        return _frame_tuple(svc.feed(arg, n=n))
    if kind == "feed_batch":
        return _frame_tuple(svc.feed(list(arg), n=n))
    return _frame_tuple(svc.search(arg, user=world_user(svc), n=n))


def world_user(svc):
    return svc.snapshot.dataset.user_ids[3]


@pytest.mark.parametrize("name", ["popularity", "als"])
def test_concurrent_requests_equal_serial_results(world, name):
    if name not in hr.rankers.available():
        pytest.skip(f"{name} not available")
    params = {"factors": 8, "iterations": 3, "random_state": 0} if name == "als" else {}
    svc = RankerService(world, hr.rankers.make(name, **params).fit(world))
    reqs = _requests(world)
    serial = [_answer(svc, r) for r in reqs]
    with ThreadPoolExecutor(max_workers=8) as pool:
        parallel = list(pool.map(lambda r: _answer(svc, r), reqs))
    assert parallel == serial
    # the library function itself, straight on a shared ranker and dataset
    r = svc.snapshot.ranker
    users = list(world.user_ids[:30])
    want = [(_frame_tuple(r.recommend_frame(u, n=5)), _frame_tuple(hr.feed.build(world, r, u, n=5)))
            for u in users]
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(
            lambda u: (_frame_tuple(r.recommend_frame(u, n=5)),
                       _frame_tuple(hr.feed.build(world, r, u, n=5))), users))
    assert got == want


def test_hot_swap_readers_see_old_or_new_never_a_mix(world, artifacts):
    a, b, pa, pb = artifacts
    svc = RankerService(world, pa)
    users = list(world.user_ids[:20])
    expected = {
        "a": (_frame_tuple(a.recommend_frame(users, n=10)),
              _frame_tuple(hr.feed.build(world, a, users, n=6))),
        "b": (_frame_tuple(b.recommend_frame(users, n=10)),
              _frame_tuple(hr.feed.build(world, b, users, n=6))),
    }
    assert expected["a"] != expected["b"]
    stop = threading.Event()
    seen: dict[str, int] = {"a": 0, "b": 0}
    errors: list[BaseException] = []

    def reader():
        while not stop.is_set():
            try:
                snap = svc.snapshot  # what a request reads once
                rec = _frame_tuple(snap.ranker.recommend_frame(users, n=10))
                fd = _frame_tuple(snap.feed_index.build(
                    snap.ranker, users, 6, config=svc.feed_config, ranker_key=snap.ranker_key))
                got = (rec, fd)
                match = [k for k, v in expected.items() if v == got]
                assert len(match) == 1, "a response mixed two rankers"
                seen[match[0]] += 1
                # the public methods too: each answer is one of the two
                one = _frame_tuple(svc.recommend(users, n=10))
                assert one in (expected["a"][0], expected["b"][0])
            except BaseException as exc:  # noqa: BLE001 - collected and re-raised below
                errors.append(exc)
                return

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    swaps = 0
    try:
        for k in range(400):
            svc.swap(pb if k % 2 == 0 else pa)
            swaps += 1
            if k >= 11 and min(seen.values()) >= 3 or errors:
                break
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert not errors, errors[0]
    assert svc.snapshot.version == 1 + swaps
    assert min(seen.values()) >= 3, seen  # readers really ran across swaps


def test_failed_swap_keeps_serving_the_old_ranker(world, artifacts, tmp_path):
    a, _, pa, _ = artifacts
    svc = RankerService(world, pa)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(Path(pa).read_bytes()[:100])
    before = svc.snapshot
    with pytest.raises(hr.ArtifactError):
        svc.swap(bad)
    assert svc.snapshot is before
    with pytest.raises(FileNotFoundError):
        svc.swap(tmp_path / "missing.npz")
    assert svc.snapshot is before


def test_cursor_from_before_a_swap_is_refused(world, artifacts):
    _, _, pa, pb = artifacts
    svc = RankerService(world, pa)
    u = world.user_ids[0]
    page = svc.feed(u, n=2)
    nxt = svc.feed(u, n=2, cursor=page.attrs["next_cursor"])
    assert nxt["rank"].tolist()[0] == 3
    svc.swap(pb)
    with pytest.raises(CursorError, match="changed"):
        svc.feed(u, n=2, cursor=page.attrs["next_cursor"])
    # reloading the same bytes keeps cursors valid (the key is the artifact checksum)
    svc.swap(pa)
    assert svc.feed(u, n=2, cursor=page.attrs["next_cursor"])["rank"].tolist()[0] == 3


def test_update_new_user_without_refit(world):
    if "als" not in hr.rankers.available():
        pytest.skip("als not available")
    r = hr.rankers.make("als", factors=8, iterations=5, random_state=0).fit(world)
    svc = RankerService(world, r)
    old = svc.snapshot
    friend = world.user_ids[0]
    friends_items = world.interactions.query("user == @friend")["item"].tolist()
    rows = pd.DataFrame(
        {"user": ["newbie"] * 3, "item": friends_items[:3], "kind": ["purchase"] * 3,
         "timestamp": [5000, 5001, 5002]}
    )
    social = pd.DataFrame({"user": ["newbie", friend], "friend": [friend, "newbie"]})
    snap = svc.update(rows, social=social)
    assert snap.version == old.version + 1 and snap.dataset.n_users == world.n_users + 1
    # the new user has a personal list, not the popularity fallback, and their seen items go
    rec = svc.recommend("newbie", n=5)
    fallback = old.ranker.recommend_frame("newbie", n=5)
    assert rec["item"].tolist() != fallback["item"].tolist()
    assert not set(rec["item"]) & set(friends_items[:3])
    # the friend's (friends-only) endorsements reach the new user's feed now that they are mutual
    feed = svc.feed("newbie", n=50)
    assert len(feed) > 0 and all(list(e) == [friend] for e in feed["endorsers"])
    # the old snapshot and the original ranker are untouched
    assert len(old.ranker.user_ids_) == world.n_users and r is old.ranker
    assert old.dataset.n_users == world.n_users


def test_update_closed_form_ranker(world):
    svc = RankerService(world, hr.rankers.make("popularity").fit(world))
    item = world.item_ids[-1]
    before = float(svc.snapshot.ranker.item_scores_[-1])
    rows = pd.DataFrame({"user": [f"x{k}" for k in range(30)], "item": [item] * 30,
                         "kind": ["purchase"] * 30, "timestamp": [9000] * 30})
    svc.update(rows)
    assert svc.snapshot.ranker.item_scores_[-1] == pytest.approx(before + 30)
    assert svc.recommend("x0", n=3, exclude_seen=False)["item"].iloc[0] == item
    with pytest.raises(ValueError, match="at least one"):
        svc.update()
    with pytest.raises(ValueError, match="timestamp"):
        svc.update(pd.DataFrame({"user": ["y"], "item": [item]}))


def test_small_and_large_id_lookups_agree(world):
    """Ranker id lookup: a dict for a few ids, pandas for many; both give the same indices."""
    r = hr.rankers.make("popularity").fit(world)
    many = list(world.user_ids[:30]) + ["never-seen", np.str_(world.user_ids[3])]
    big, _ = r._user_indices(many)
    small = np.concatenate([r._user_indices(u)[0] for u in many])
    np.testing.assert_array_equal(big, small)
    assert small[-2] == -1 and small[-1] == 3
    inter = pd.DataFrame({"user": [1, 2, 3], "item": [7, 8, 9]})
    ri = hr.rankers.make("popularity").fit(hr.Dataset.from_frames(inter))
    np.testing.assert_array_equal(ri._user_indices([np.int64(2), 3, 99, True])[0], [1, 2, -1, -1])
