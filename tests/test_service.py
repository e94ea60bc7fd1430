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
    app = service.create_app(art, paths["dataset"], enable_admin=True, admin_token="s3cret")
    with TestClient(app, raise_server_exceptions=False,
                    headers={"Authorization": "Bearer s3cret"}) as c:
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


# ----------------------------------------------------------------------------- hardening (issue 22)
def _forged(path: Path, dst: Path, *, params=None, huge=False) -> Path:
    """A copy of an artifact with a changed parameter (checksum recomputed, as an attacker
    would) or with an array header claiming 8 TiB."""
    import io
    import json
    import zipfile

    from haowurank.rankers._io import checksum

    with np.load(path, allow_pickle=False) as z:
        stored = {k: z[k] for k in z.files}
    meta = json.loads(stored.pop("__meta__").tobytes())
    meta["params"].update(params or {})
    meta["checksum"] = checksum(meta, stored)
    stored["__meta__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **stored)
    if huge:
        out = io.BytesIO()
        with zipfile.ZipFile(buf) as zin, zipfile.ZipFile(out, "w") as zout:
            for info in zin.infolist():
                data = zin.read(info)
                if info.filename == "fallback.npy":
                    hdr = io.BytesIO()
                    np.lib.format.write_array_header_1_0(
                        hdr, {"descr": "<f8", "fortran_order": False, "shape": (2**40,)})
                    data = hdr.getvalue()
                zout.writestr(info.filename, data)
        buf = out
    dst.write_bytes(buf.getvalue())
    return dst


@pytest.mark.parametrize("case,forge,status,text", [
    ("unknown param", {"params": {"no_such_param": 1}}, 409, "unknown parameter"),
    ("invalid param", {"params": {"kind_weights": {"view": -1.0}}}, 409, "kind_weights"),
    ("huge declared size", {"huge": True}, 409, "declares shape"),
])
def test_admin_reload_of_a_bad_artifact_is_409(paths, tmp_path, case, forge, status, text):
    import shutil

    art = tmp_path / "live.npz"
    shutil.copy(paths["artifact"], art)
    app = service.create_app(art, paths["dataset"], enable_admin=True, admin_token="t0k")
    with TestClient(app, raise_server_exceptions=False,
                    headers={"Authorization": "Bearer t0k"}) as c:
        _forged(Path(paths["artifact"]), art, **forge)
        r = c.post("/admin/reload")
        assert r.status_code == status, r.text
        assert text in r.json()["detail"] and str(art) in r.json()["detail"]
        assert c.get("/health").json()["version"] == 1


def test_admin_needs_the_token_from_the_environment(paths, monkeypatch):
    monkeypatch.delenv(service.ADMIN_TOKEN_ENV, raising=False)
    with pytest.raises(ValueError, match=service.ADMIN_TOKEN_ENV):
        service.create_app(paths["artifact"], paths["dataset"], enable_admin=True)
    monkeypatch.setenv(service.ADMIN_TOKEN_ENV, "from-env")
    app = service.create_app(paths["artifact"], paths["dataset"], enable_admin=True)
    with TestClient(app, raise_server_exceptions=False) as c:
        assert c.post("/admin/reload").status_code == 401
        r = c.post("/admin/reload", headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 403 and "wrong" in r.json()["detail"]
        ok = c.post("/admin/reload", headers={"Authorization": "Bearer from-env"})
        assert ok.status_code == 200 and ok.json()["version"] == 2


def test_docs_can_be_turned_off(paths, monkeypatch):
    with TestClient(service.create_app(paths["artifact"], paths["dataset"])) as c:
        assert c.get("/docs").status_code == 200
    with TestClient(service.create_app(paths["artifact"], paths["dataset"], docs=False)) as c:
        assert c.get("/docs").status_code == 404
        assert c.get("/openapi.json").status_code == 404
        assert c.get("/health").status_code == 200
    monkeypatch.setenv(service.DOCS_ENV, "0")
    with TestClient(service.create_app(paths["artifact"], paths["dataset"])) as c:
        assert c.get("/docs").status_code == 404


def _cursor_token(offset: int, now: int, snap: str, key: bytes) -> str:
    import base64
    import hashlib
    import hmac
    import json

    body = json.dumps({"v": 2, "o": offset, "t": now, "s": snap}, separators=(",", ":"),
                      sort_keys=True).encode()
    tag = hmac.new(key, body, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(tag + body).decode().rstrip("=")


@pytest.mark.parametrize("case,offset,now,key,status,text", [
    ("public-key forgery", 0, 0, b"haowurank.feed.cursor", 400, "signature"),
    ("huge offset, leaked secret", 10**30, 0, None, 400, "offset"),
    ("negative offset, leaked secret", -1, 0, None, 400, "offset"),
    ("huge time, leaked secret", 0, 10**30, None, 400, "time"),
])
def test_cursors_are_signed_and_bounded(client, monkeypatch, case, offset, now, key, status,
                                        text):
    from haowurank.feed import _cursor

    page = client.get("/feed", params={"user": "u0", "n": 1}).json()
    real = _cursor.Cursor.decode(page["next_cursor"]) if page["next_cursor"] else None
    snap = real.snapshot if real else "ab" * 12
    token = _cursor_token(offset, now, snap, key or _cursor._secret())
    r = client.get("/feed", params={"user": "u0", "n": 1, "cursor": token})
    assert r.status_code == status, r.text
    assert text in r.json()["detail"]


def test_cursor_secret_comes_from_the_environment(monkeypatch):
    from haowurank.feed import Cursor, CursorError

    monkeypatch.setenv("HAOWURANK_CURSOR_SECRET", "one")
    tok = Cursor(5, 100, "abcd").encode()
    assert Cursor.decode(tok) == Cursor(5, 100, "abcd")
    monkeypatch.setenv("HAOWURANK_CURSOR_SECRET", "two")
    with pytest.raises(CursorError, match="signature"):
        Cursor.decode(tok)


def test_recommend_reads_the_live_snapshot_once(client, monkeypatch):
    svc = client.app.state.service
    reads = {"n": 0}
    cls = type(svc)
    real = cls.snapshot

    def counting(self):
        reads["n"] += 1
        return real.fget(self)

    monkeypatch.setattr(cls, "snapshot", property(counting))
    monkeypatch.setattr(svc, "_snapshot", svc._snapshot)
    r = client.get("/recommend", params={"user": "u1", "n": 3})
    assert r.status_code == 200
    assert reads["n"] == 1


def test_huge_and_odd_query_values_are_4xx(client):
    for params in ({"user": "u" * 5000}, {"user": "u1\x00"}, {"user": "u1", "n": "9" * 5000}):
        r = client.get("/recommend", params=params)
        assert 400 <= r.status_code < 500, (params, r.status_code)
    r = client.get("/search", params={"q": "tea " * 2000})
    assert r.status_code == 422 and "at most" in r.json()["detail"]


def test_fuzz_every_endpoint_of_the_openapi_schema_never_answers_5xx(paths):
    """Hypothesis over the service's own OpenAPI schema: every query parameter of every
    route gets generated values (missing, text, unicode, huge numbers, signed-looking
    cursors); no answer may be a 5xx. Bounded examples: well under a minute."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    app = service.create_app(paths["artifact"], paths["dataset"], max_n=50, enable_admin=True,
                             admin_token="fuzz")
    schema = app.openapi()
    value = st.one_of(
        st.none(), st.text(max_size=40), st.sampled_from(["u0", "u1", "u5", "nobody", ""]),
        st.integers(min_value=-(10**30), max_value=10**30).map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.binary(max_size=64).map(lambda b: __import__("base64").urlsafe_b64encode(b).decode()),
    )
    routes = [(path, method, [p["name"] for p in op.get("parameters", [])
                              if p.get("in") == "query"])
              for path, ops in schema["paths"].items() for method, op in ops.items()]
    assert {"/recommend", "/feed", "/search", "/health", "/admin/reload"} <= {r[0] for r in routes}
    auth = st.sampled_from([None, "Bearer fuzz", "Bearer nope", "junk"])
    request = st.sampled_from(routes).flatmap(
        lambda r: st.tuples(st.just(r), st.fixed_dictionaries({n: value for n in r[2]}), auth))
    with TestClient(app, raise_server_exceptions=False) as c:
        @settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
        @given(request)
        def one(req):
            (path, method, _), params, token = req
            q = {k: v for k, v in params.items() if v is not None}
            h = {"Authorization": token} if token else {}
            r = c.request(method.upper(), path, params=q, headers=h)
            assert r.status_code < 500, (path, q, r.status_code, r.text[:300])

        one()
