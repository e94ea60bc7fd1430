"""The reference HTTP service: FastAPI TestClient for every route and error, and one real uvicorn
server process on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import haowurank as hr
from haowurank.testing import small_world

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

fastapi = pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")
from fastapi.testclient import TestClient  # noqa: E402

import apps.service as service  # noqa: E402


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    d = tmp_path_factory.mktemp("svc")
    ds = small_world()
    ds.to_parquet(d / "ds")
    r = hr.rankers.make("popularity").fit(ds)
    r2 = hr.rankers.make("popularity", kind_weights={"view": 3.0}).fit(ds)
    return {"ds": ds, "ranker": r, "r2": r2, "artifact": r.save(d / "r.npz"),
            "artifact2": r2.save(d / "r2.npz"), "dataset": d / "ds", "dir": d}


@pytest.fixture(scope="module")
def client(paths):
    app = service.create_app(paths["artifact"], paths["dataset"], max_n=50)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def test_health(client):
    r = client.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["ranker"] == "popularity" and body["version"] == 1


def test_recommend_matches_the_library(client, paths):
    r = client.get("/recommend", params={"user": "u3", "n": 7})
    assert r.status_code == 200
    body = r.json()
    ids, sc = paths["ranker"].recommend("u3", n=7)
    assert [x["item"] for x in body["items"]] == ids.tolist()
    np.testing.assert_allclose([x["score"] for x in body["items"]], sc, rtol=1e-6)
    assert [x["rank"] for x in body["items"]] == list(range(1, 8))


def test_feed_pages_and_cursor(client, paths):
    ds, rk = paths["ds"], paths["ranker"]
    full = hr.feed.build(ds, rk, "u0", n=50)
    got, cursor = [], None
    for _ in range(20):
        params = {"user": "u0", "n": 3}
        if cursor:
            params["cursor"] = cursor
        r = client.get("/feed", params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        got += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert [x["item"] for x in got] == full["item"].tolist()
    assert [x["endorsers"] for x in got] == [list(e) for e in full["endorsers"]]
    assert all(isinstance(x["explanation"], str) and x["explanation"] for x in got)


def test_search(client):
    r = client.get("/search", params={"q": "tea", "user": "u0", "n": 5})
    assert r.status_code == 200
    items = r.json()["items"]
    assert 0 < len(items) <= 5 and {"n_recommenders", "explanation"} <= set(items[0])
    anon = client.get("/search", params={"q": "shoes"})
    assert anon.status_code == 200 and anon.json()["user"] is None


@pytest.mark.parametrize(
    "path,params,status,text",
    [
        ("/recommend", {}, 422, "'user' parameter is required"),
        ("/recommend", {"user": ""}, 422, "'user' parameter is required"),
        ("/recommend", {"user": "nobody"}, 404, "nobody"),
        ("/recommend", {"user": "u1", "n": "0"}, 422, "'n' parameter"),
        ("/recommend", {"user": "u1", "n": "-3"}, 422, "'n' parameter"),
        ("/recommend", {"user": "u1", "n": "abc"}, 422, "'n' parameter"),
        ("/recommend", {"user": "u1", "n": "51"}, 422, "[1, 50]"),
        ("/recommend", {"user": "u1", "n": "1e9"}, 422, "'n' parameter"),
        ("/feed", {"user": "nobody"}, 404, "nobody"),
        ("/feed", {"user": "u1", "n": "2.5"}, 422, "'n' parameter"),
        ("/feed", {"user": "u1", "cursor": "garbage"}, 400, "cursor"),
        ("/feed", {"user": "u1", "cursor": "x" * 600}, 400, "cursor"),
        ("/search", {}, 422, "'q' parameter"),
        ("/search", {"q": "   "}, 422, "'q' parameter"),
        ("/search", {"q": "tea", "user": "nobody"}, 404, "nobody"),
        ("/search", {"q": "tea", "n": "0"}, 422, "'n' parameter"),
        ("/nope", {}, 404, ""),
    ],
)
def test_bad_input_is_a_clear_4xx(client, path, params, status, text):
    r = client.get(path, params=params)
    assert r.status_code == status, r.text
    assert 400 <= r.status_code < 500
    assert text in r.json()["detail"]


def test_int_user_ids_are_parsed(tmp_path):
    inter = pd.DataFrame({"user": [1, 2, 2], "item": [10, 10, 11],
                          "kind": ["recommend", "purchase", "recommend"]})
    social = pd.DataFrame({"user": [2, 1], "friend": [1, 2]})
    ds = hr.Dataset.from_frames(inter, social)
    ds.to_parquet(tmp_path / "ds")
    art = hr.rankers.make("popularity").fit(ds).save(tmp_path / "p.npz")
    with TestClient(service.create_app(art, tmp_path / "ds"), raise_server_exceptions=False) as c:
        assert c.get("/recommend", params={"user": "1", "n": 2}).status_code == 200
        r = c.get("/recommend", params={"user": "abc"})
        assert r.status_code == 422 and "integer id" in r.json()["detail"]
        assert c.get("/recommend", params={"user": "99"}).status_code == 404
        f = c.get("/feed", params={"user": "2"}).json()
        assert f["items"] == [] or all(e == [1] for x in f["items"] for e in [x["endorsers"]])


def test_admin_reload_swaps_and_stale_cursor_is_410(paths, tmp_path):
    import shutil

    art = tmp_path / "live.npz"
    shutil.copy(paths["artifact"], art)
    app = service.create_app(art, paths["dataset"], enable_admin=True)
    with TestClient(app, raise_server_exceptions=False) as c:
        page = c.get("/feed", params={"user": "u0", "n": 2}).json()
        before = c.get("/recommend", params={"user": "u5", "n": 10}).json()["items"]
        shutil.copy(paths["artifact2"], art)
        r = c.post("/admin/reload")
        assert r.status_code == 200 and r.json()["version"] == 2
        after = c.get("/recommend", params={"user": "u5", "n": 10}).json()["items"]
        assert after != before
        assert [x["item"] for x in after] == paths["r2"].recommend("u5", n=10)[0].tolist()
        stale = c.get("/feed", params={"user": "u0", "n": 2, "cursor": page["next_cursor"]})
        assert stale.status_code == 410 and "changed" in stale.json()["detail"]
        art.write_bytes(b"broken")
        bad = c.post("/admin/reload")
        assert bad.status_code == 409 and "previous artifact" in bad.json()["detail"]
        assert c.get("/health").json()["version"] == 2
    plain = service.create_app(paths["artifact"], paths["dataset"])
    with TestClient(plain) as c:
        assert c.post("/admin/reload").status_code in (404, 405)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_real_uvicorn_server(paths):
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        [sys.executable, "-m", "apps.service", "--artifact", str(paths["artifact"]),
         "--dataset", str(paths["dataset"]), "--port", str(port), "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                out = proc.stdout.read().decode(errors="replace")
                pytest.fail(f"server exited with {proc.returncode}:\n{out[-3000:]}")
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("server did not become healthy within 90 s")
            time.sleep(0.3)
        r = httpx.get(f"{base}/recommend", params={"user": "u2", "n": 5}, timeout=10)
        assert r.status_code == 200
        assert [x["item"] for x in r.json()["items"]] == paths["ranker"].recommend(
            "u2", n=5)[0].tolist()
        f = httpx.get(f"{base}/feed", params={"user": "u2", "n": 4}, timeout=10)
        want = hr.feed.build(paths["ds"], paths["ranker"], "u2", n=4)
        assert [x["item"] for x in f.json()["items"]] == want["item"].tolist()
        s = httpx.get(f"{base}/search", params={"q": "tea", "n": 3}, timeout=10)
        assert s.status_code == 200 and len(s.json()["items"]) == 3
        bad = httpx.get(f"{base}/recommend", params={"user": "nobody"}, timeout=10)
        assert bad.status_code == 404 and "nobody" in bad.json()["detail"]
        bad = httpx.get(f"{base}/feed", params={"user": "u2", "n": "zero"}, timeout=10)
        assert bad.status_code == 422
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
