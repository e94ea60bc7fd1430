"""Concurrency and determinism (issue 8).

- Many threads call the public service methods (recommend, feed, feed_page, search), for one user
  and for batches, while the writer swaps artifacts of *different* strategies, reloads a path
  that another thread rewrites on disk, or applies an update: every answer equals, as a whole,
  the answer of one published snapshot (never a mix of two, never an error).
- Shared fitted rankers and a shared FeedIndex answer the same from 1, 2 or 8 threads as
  serially, for every strategy.
- Fitting is deterministic where it is promised: same seed, same model (every strategy); ALS and
  social ALS give the same model with 1 or 2 threads; the hybrid does not depend on the BLAS
  thread count; attack injection and the defences are deterministic.
"""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

import haowurank as hr
from haowurank.serving import RankerService
from haowurank.testing import small_world

SMALL = {
    "popularity": {},
    "friend_endorsements": {},
    "trust": {},
    "als": {"factors": 8, "iterations": 4, "random_state": 0},
    "bpr": {"factors": 8, "iterations": 5, "random_state": 0, "num_threads": 1},
    "item_knn": {"K": 10},
    "ease": {},
    "social_als": {"factors": 8, "iterations": 4, "random_state": 0},
    "hybrid": {"als": {"factors": 8, "iterations": 3}, "n_candidates": 10, "n_random": 5,
               "random_state": 0},
}


@pytest.fixture(scope="module")
def world():
    return small_world()


@pytest.fixture(scope="module")
def fitted(world):
    return {name: hr.rankers.make(name, **p).fit(world) for name, p in SMALL.items()}


def _rows(frame: pd.DataFrame) -> tuple:
    return tuple(tuple(map(str, r)) for r in frame.itertuples(index=False))


def _page(p) -> tuple:
    return tuple((str(r["item"]), r["score"], r["rank"], tuple(map(str, r["endorsers"])),
                  tuple(r["kinds"])) for r in p.records())


def _requests(ds: hr.Dataset) -> list[tuple]:
    users = list(ds.user_ids[:12])
    return [
        ("recommend", users[0], 10), ("recommend", tuple(users), 8),
        ("feed", users[1], 6), ("feed", tuple(users[2:9]), 5),
        ("page", users[3], 6), ("page", users[4], 3),
        ("search", "shoes", users[5]), ("search", "tea", None),
    ]


def _answer(svc: RankerService, req: tuple) -> tuple:
    kind, arg, n = req
    if kind == "recommend":
        return _rows(svc.recommend(list(arg) if isinstance(arg, tuple) else arg, n=n))
    if kind == "feed":
        return _rows(svc.feed(list(arg) if isinstance(arg, tuple) else arg, n=n))
    if kind == "page":
        return _page(svc.feed_page(arg, n=n))
    return _rows(svc.search(arg, user=n, n=10))


def _hammer(svc: RankerService, requests: list[tuple], expected: list[dict[str, tuple]],
            writer, n_readers: int = 6) -> dict[str, int]:
    """Readers answer requests until the writer is done; each answer must be one of the
    expected versions (as a whole). Returns how often each version was seen."""
    stop = threading.Event()
    seen: dict[str, int] = {}
    errors: list[BaseException] = []
    lock = threading.Lock()

    def reader(k: int) -> None:
        for j in itertools.count(k):
            if stop.is_set():
                return
            i = j % len(requests)
            try:
                got = _answer(svc, requests[i])
                match = [v for v, ans in expected[i].items() if ans == got]
                assert match, f"request {requests[i]} got an answer of no published version"
                with lock:
                    for v in match:
                        seen[v] = seen.get(v, 0) + 1
            except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
                errors.append(exc)
                stop.set()
                return

    threads = [threading.Thread(target=reader, args=(k,)) for k in range(n_readers)]
    for t in threads:
        t.start()
    try:
        writer(stop)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=120)
    assert not errors, repr(errors[0])
    return seen


def _expected(world, rankers: dict[str, hr.rankers.Ranker], requests) -> list[dict[str, tuple]]:
    out = []
    services = {v: RankerService(world, r) for v, r in rankers.items()}
    for req in requests:
        out.append({v: _answer(s, req) for v, s in services.items()})
    return out


def test_swapping_strategies_under_load_gives_old_or_new_never_a_mix(world, fitted, tmp_path):
    a, b = fitted["trust"], fitted["als"]
    pa, pb = a.save(tmp_path / "a.npz"), b.save(tmp_path / "b.npz")
    reqs = _requests(world)
    exp = _expected(world, {"trust": hr.load_ranker(pa), "als": hr.load_ranker(pb)}, reqs)
    differs = [i for i, e in enumerate(exp) if e["trust"] != e["als"]]
    assert len(differs) >= 5  # the two strategies really answer differently
    svc = RankerService(world, pa)
    swaps = []

    def writer(stop):
        for k in range(60):
            if stop.is_set():
                return
            svc.swap(pb if k % 2 == 0 else pa)
            swaps.append(k)

    seen = _hammer(svc, reqs, exp, writer)
    assert len(swaps) == 60 and svc.snapshot.version == 61
    assert seen.get("trust", 0) > 0 and seen.get("als", 0) > 0, seen


def test_reload_while_the_file_is_rewritten(world, fitted, tmp_path):
    """A writer thread rewrites the artifact path (atomic rename) while the service reloads it:
    a reload either publishes one complete artifact or fails cleanly (ArtifactError: changed
    while loading) and keeps serving; readers never see an error or a mix."""
    a, b = fitted["popularity"], fitted["trust"]
    path = tmp_path / "live.npz"
    a.save(path)
    reqs = _requests(world)
    exp = _expected(world, {"a": a, "b": b}, reqs)
    svc = RankerService(world, path)
    outcomes = {"published": 0, "refused": 0}

    def writer(stop):
        done = threading.Event()

        def rewriter():
            for k in range(40):
                (b if k % 2 == 0 else a).save(path)
            done.set()

        t = threading.Thread(target=rewriter)
        t.start()
        while not done.is_set() and not stop.is_set():
            try:
                svc.reload()
                outcomes["published"] += 1
            except hr.ArtifactError:
                outcomes["refused"] += 1
        t.join()
        svc.reload()  # the file is stable now: this one must work
        outcomes["published"] += 1

    _hammer(svc, reqs, exp, writer, n_readers=4)
    assert outcomes["published"] >= 1
    final = hr.load_ranker(path)
    assert _rows(svc.recommend(list(world.user_ids[:5]), n=5)) == _rows(
        RankerService(world, final).recommend(list(world.user_ids[:5]), n=5))


def test_update_under_load_gives_before_or_after(world, fitted):
    r = fitted["trust"]
    item = world.item_ids[-1]
    friend = world.user_ids[0]
    rows = pd.DataFrame({"user": [friend, world.user_ids[1]], "item": [item, item],
                         "kind": ["recommend_after_purchase", "recommend"],
                         "visibility": ["public", "public"], "timestamp": [9000, 9001]})
    reqs = _requests(world)
    after = RankerService(world, r)
    after.update(rows)
    before = RankerService(world, r)
    exp = [{"before": _answer(before, q), "after": _answer(after, q)} for q in reqs]
    assert any(e["before"] != e["after"] for e in exp)
    svc = RankerService(world, r)

    def writer(stop):
        svc.update(rows)

    seen = _hammer(svc, reqs, exp, writer, n_readers=4)
    assert svc.snapshot.version == 2 and seen
    assert [_answer(svc, q) for q in reqs] == [e["after"] for e in exp]


@pytest.mark.parametrize("name", list(SMALL))
def test_threads_answer_like_serial(world, fitted, name):
    r = fitted[name]
    users = list(world.user_ids) + ["never-seen"]
    chunks = [users[k : k + 7] for k in range(0, len(users), 7)]
    index = hr.feed.index_for(world)
    known = [u for u in users if u != "never-seen"]

    def job(chunk):
        ids, scores = r.recommend(chunk, n=6)
        feed = index.build(r, [u for u in chunk if u in known], n=4)
        return ids.tolist(), scores.tolist(), _rows(feed)

    serial = [job(c) for c in chunks]
    for workers in (1, 2, 8):
        with ThreadPoolExecutor(max_workers=workers) as pool:
            assert list(pool.map(job, chunks)) == serial, f"{name} with {workers} threads"
    # one batch equals the per-user answers
    ids, _ = r.recommend(users, n=6)
    assert ids.tolist() == [r.recommend(u, n=6)[0].tolist() for u in users]


# ------------------------------------------------------------------------------------------
# determinism
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(SMALL))
def test_same_seed_same_model(world, fitted, name):
    again = hr.rankers.make(name, **SMALL[name]).fit(world)
    users = list(world.user_ids)
    a, b = fitted[name].recommend(users, n=8), again.recommend(users, n=8)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize("name", ["als", "social_als"])
def test_als_does_not_depend_on_the_thread_count(world, name):
    p = {k: v for k, v in SMALL[name].items()}
    one = hr.rankers.make(name, **p, num_threads=1).fit(world)
    two = hr.rankers.make(name, **p, num_threads=2).fit(world)
    users = list(world.user_ids)
    np.testing.assert_array_equal(one.recommend(users, n=10)[0], two.recommend(users, n=10)[0])
    np.testing.assert_allclose(one.score(users), two.score(users), rtol=1e-5, atol=1e-6)


def test_hybrid_does_not_depend_on_blas_threads(world):
    users = list(world.user_ids)
    out = []
    for limit in (1, 2):
        with threadpool_limits(limit):
            r = hr.rankers.make("hybrid", **SMALL["hybrid"]).fit(world)
            out.append(r.recommend(users, n=8)[0])
    np.testing.assert_array_equal(out[0], out[1])


def test_attacks_and_defences_are_deterministic(world):
    a = hr.attacks.inject(world, target=101, attack="relation", n_sybils=8, attack_edges=3, seed=4)
    b = hr.attacks.inject(world, target=101, attack="relation", n_sybils=8, attack_edges=3, seed=4)
    assert a.dataset.equals(b.dataset)
    da, db = hr.trust.defend(a.dataset, seed=1), hr.trust.defend(b.dataset, seed=1)
    assert da.dataset.equals(db.dataset)
    np.testing.assert_array_equal(da.account_trust, db.account_trust)
    # the same request from 4 threads at once: the same defended dataset
    with ThreadPoolExecutor(max_workers=4) as pool:
        outs = list(pool.map(lambda _: hr.trust.defend(a.dataset, seed=1).dataset, range(4)))
    assert all(o.equals(da.dataset) for o in outs)


def test_artifact_bytes_are_reproducible(world, fitted, tmp_path):
    """Two saves of one fitted ranker verify with the same checksum and load to the same
    recommendations (what the hot swap's cursor keys rely on)."""
    r = fitted["trust"]
    p1, p2 = r.save(tmp_path / "1.npz"), r.save(tmp_path / "2.npz")
    assert hr.serving.artifact_checksum(p1) == hr.serving.artifact_checksum(p2)
    users = list(world.user_ids[:10])
    np.testing.assert_array_equal(hr.load_ranker(p1).recommend(users, n=5)[0],
                                  hr.load_ranker(Path(p2)).recommend(users, n=5)[0])
