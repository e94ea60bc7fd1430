"""A catalogue of bad input across the library and the HTTP service (issue 8).

Every kind of bad input gets a clear, documented answer: an exception of the right type whose
message names the parameter or column, what was expected and what came (``CASES``), or a
documented fallback (``test_fallback_*``). Writes are atomic: a failure in the middle of a write
leaves the destination as it was (absent, or the previous version) and no temporary file behind
(``test_atomic_*``).

The classes of failure of issue 22 (tampered artifacts, destructive writes, edited dataset
folders, numbers that wrap, service inputs, errors that name what failed) have their own tables
in ``tests/test_hardening.py`` and ``tests/test_service.py``.
"""

from __future__ import annotations

import os
import shutil
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import haowurank as hr
from haowurank.feed import CursorError
from haowurank.testing import small_world

ROOT = Path(__file__).resolve().parents[1]
NAN, INF = float("nan"), float("inf")


def _frames():
    return pd.DataFrame({"user": ["a", "b", "b"], "item": ["x", "y", "x"]})


def _with(**cols):
    return _frames().assign(**cols)


def _ds(inter=None, **kw):
    return hr.Dataset.from_frames(_frames() if inter is None else inter, **kw)


@pytest.fixture(scope="module")
def ctx():
    ds = small_world()
    r = hr.rankers.make("popularity").fit(ds)
    return {"ds": ds, "r": r, "si": hr.search.SearchIndex(ds),
            "svc": hr.serving.RankerService(ds, r, max_n=100)}


# ------------------------------------------------------------------------------------------
# (kind of bad input, call, exception type, message pattern)
# ------------------------------------------------------------------------------------------
CASES = [
    # --- Dataset: frames, ids, numbers, kinds
    ("interactions not a frame", lambda c: hr.Dataset.from_frames([("a", "x")]),
     TypeError, "'interactions' argument must be a pandas DataFrame. Got list"),
    ("missing column", lambda c: _ds(_frames()[["user"]]),
     ValueError, r"must have the column\(s\) \['user', 'item'\]; missing \['item'\]"),
    ("NaN user id", lambda c: _ds(_frames().assign(user=["a", None, "b"])),
     ValueError, "'user' of interactions must hold ids .* NaN/None in 1 row"),
    ("NaN item id (float)", lambda c: _ds(pd.DataFrame({"user": [1, 2], "item": [1.0, NAN]})),
     ValueError, "'item' of interactions .* NaN/None"),
    ("fractional float id", lambda c: _ds(pd.DataFrame({"user": [1.5, 2.0], "item": [1, 2]})),
     TypeError, "non-integral floats"),
    ("bool ids", lambda c: _ds(pd.DataFrame({"user": [True, False], "item": [1, 2]})),
     TypeError, "Got booleans"),
    ("mixed int and str ids", lambda c: _ds(pd.DataFrame({"user": ["a", 1], "item": [1, 2]})),
     TypeError, "one type"),
    ("int users here, str users in social", lambda c: _ds(
        pd.DataFrame({"user": [1, 2], "item": [1, 2]}),
        social=pd.DataFrame({"user": ["a"], "friend": ["b"]})),
     TypeError, "All user ids must be of one type"),
    ("empty string id", lambda c: _ds(_frames().assign(item=["x", "", "y"])),
     ValueError, "non-empty ids"),
    ("padding item id -1", lambda c: _ds(pd.DataFrame({"user": [1], "item": [-1]})),
     ValueError, "reserved as the padding id"),
    ("NaN weight", lambda c: _ds(_with(weight=[1.0, NAN, 2.0])),
     ValueError, "'weight' of interactions must be finite and > 0. Found nan"),
    ("inf weight", lambda c: _ds(_with(weight=[1.0, INF, 2.0])),
     ValueError, "'weight' of interactions must be finite and > 0. Found inf"),
    ("negative weight", lambda c: _ds(_with(weight=[1.0, -2.0, 2.0])),
     ValueError, "must be finite and > 0. Found -2.0"),
    ("zero weight", lambda c: _ds(_with(weight=[0.0, 1.0, 2.0])),
     ValueError, "must be finite and > 0. Found 0.0"),
    ("text weight", lambda c: _ds(_with(weight=["1", "heavy", "2"])),
     TypeError, "'weight' of interactions must be numeric"),
    ("unknown kind", lambda c: _ds(_with(kind=["purchase", "like", "view"])),
     ValueError, r"'kind' of interactions must be one of .* unknown value\(s\) \['like'\]"),
    ("unknown visibility", lambda c: _ds(_with(visibility=["public", "secret", "friends"])),
     ValueError, r"'visibility' .* unknown value\(s\) \['secret'\]"),
    ("NaN timestamp", lambda c: _ds(_with(timestamp=[1.0, NAN, 2.0])),
     ValueError, "'timestamp' of interactions .* missing values"),
    ("text timestamp", lambda c: _ds(_with(timestamp=["monday", "x", "y"])),
     TypeError, "'timestamp' of interactions must hold int seconds or datetime64"),
    ("negative amount", lambda c: _ds(_with(amount=[1.0, -5.0, 2.0])),
     ValueError, "'amount' of interactions must be finite and >= 0"),
    ("duplicated rows with duplicates='raise'", lambda c: _ds(
        pd.concat([_frames(), _frames()]), duplicates="raise"),
     ValueError, r"3 row\(s\) repeat an earlier \(user, item, kind\)"),
    ("unknown duplicates policy", lambda c: _ds(duplicates="average"),
     ValueError, "'duplicates' parameter must be one of"),
    ("social edge to itself", lambda c: _ds(social=pd.DataFrame({"user": ["a"], "friend": ["a"]})),
     ValueError, "must not contain self-follows .* self_loops='drop'"),
    ("social weight inf", lambda c: _ds(
        social=pd.DataFrame({"user": ["a"], "friend": ["b"], "weight": [INF]})),
     ValueError, "'weight' of social must be finite and > 0"),
    ("user blocking themself", lambda c: _ds(blocks=pd.DataFrame({"user": ["a"], "blocked": ["a"]})),
     ValueError, "blocking themself"),
    ("duplicated item metadata", lambda c: _ds(items=pd.DataFrame({"item": ["x", "x"]})),
     ValueError, "list each item once"),
    ("infinite price", lambda c: _ds(items=pd.DataFrame({"item": ["x"], "price": [INF]})),
     ValueError, "'price' of items must be finite and >= 0"),
    ("non-bool searchable", lambda c: _ds(items=pd.DataFrame({"item": ["x"], "searchable": ["yes"]})),
     TypeError, "'searchable' of items must be boolean"),
    ("unknown user id lookup", lambda c: c["ds"].user_index(["nobody"]),
     hr.UnknownIdError, r"Unknown user id\(s\) \['nobody'\]"),
    ("bad interaction mask", lambda c: c["ds"].select_interactions(np.ones(3)),
     ValueError, "'mask' must be a boolean array of shape"),
    ("k-core k=0", lambda c: c["ds"].k_core(0), ValueError, "'k' parameter must be a positive int"),
    # --- loaders and the synthetic world
    ("loader: missing folder", lambda c: hr.datasets.load_lastfm("/nonexistent/lastfm"),
     FileNotFoundError, "does not exist or is not a folder"),
    ("synthetic: zero users", lambda c: hr.datasets.synthetic(n_users=0, n_items=5),
     ValueError, "'n_users' knob of SyntheticWorld must be an int >= 2. Got 0"),
    ("synthetic: fractional users", lambda c: hr.datasets.synthetic(n_users=1.5, n_items=5),
     TypeError, "'n_users' knob .* Got 1.5"),
    ("synthetic: NaN knob", lambda c: hr.datasets.synthetic(n_users=10, n_items=5, homophily=NAN),
     ValueError, "'homophily' knob"),
    ("synthetic: unknown knob", lambda c: hr.datasets.synthetic(n_users=10, n_items=5, colour=1),
     TypeError, r"Unknown synthetic world knob\(s\) \['colour'\]"),
    # --- splits and evaluation
    ("split fraction > 1", lambda c: hr.split.random_split(c["ds"], test_fraction=1.5),
     ValueError, "'test_fraction' .* open interval \\(0, 1\\). Got 1.5"),
    ("split fraction NaN", lambda c: hr.split.random_split(c["ds"], test_fraction=NAN),
     ValueError, "'test_fraction' .* Got nan"),
    ("negative seed", lambda c: hr.split.random_split(c["ds"], seed=-1),
     TypeError, "'seed' parameter must be a non-negative int"),
    ("evaluate k=0", lambda c: hr.evaluate(c["r"], c["ds"], c["ds"], k=0),
     ValueError, "'k' parameter of evaluate must be a positive int"),
    # --- rankers
    ("unknown ranker", lambda c: hr.rankers.make("magic"), ValueError, "Unknown ranker 'magic'"),
    ("fit on a frame", lambda c: hr.rankers.make("popularity").fit(c["ds"].interactions),
     TypeError, "fit expects a haowurank.Dataset. Got DataFrame"),
    ("fit on an empty dataset", lambda c: hr.rankers.make("trust").fit(_ds(_frames().iloc[:0])),
     ValueError, "needs at least one item"),
    ("negative factors", lambda c: hr.rankers.make("als", factors=-1).fit(c["ds"]),
     ValueError, "'factors' parameter of ALSRanker must be a positive int. Got -1"),
    ("NaN alpha", lambda c: hr.rankers.make("trust", alpha=NAN).fit(c["ds"]),
     ValueError, "'alpha' parameter of TrustRanker must be a number in \\(0, 1\\]. Got nan"),
    ("inf learning rate", lambda c: hr.rankers.make("bpr", learning_rate=INF).fit(c["ds"]),
     ValueError, "'learning_rate' parameter of BPRRanker"),
    ("bad defence", lambda c: hr.rankers.make("trust", defence=[1]).fit(c["ds"]),
     ValueError, "'defence' parameter of TrustRanker must be None, a bool or a dict"),
    ("unknown defence key", lambda c: hr.rankers.make("trust", defence={"strict": 1}).fit(c["ds"]),
     ValueError, r"Unknown defence parameter\(s\) \['strict'\]"),
    ("recommend before fit", lambda c: hr.rankers.make("als").recommend("u0"),
     hr.NotFittedError, "not fitted yet"),
    ("n = 0", lambda c: c["r"].recommend("u0", n=0),
     ValueError, "'n' parameter of PopularityRanker.recommend must be a positive int. Got 0"),
    ("n = 2.5", lambda c: c["r"].recommend("u0", n=2.5), ValueError, "positive int. Got 2.5"),
    ("n = True", lambda c: c["r"].recommend("u0", n=True), ValueError, "positive int. Got True"),
    ("huge n", lambda c: c["r"].recommend("u0", n=10**9),
     ValueError, "'n' parameter .* at most max\\(n_items, 10000\\) = 10000. Got 1000000000"),
    ("users=None", lambda c: c["r"].recommend(None),
     TypeError, "'users' parameter of PopularityRanker must be a user id or a sequence"),
    ("unknown candidate item", lambda c: c["r"].recommend("u0", items=[999]),
     hr.UnknownIdError, "'items' parameter holds 1 id"),
    ("explain an unknown item", lambda c: c["r"].explain("u0", 999),
     hr.UnknownIdError, "Unknown item id 999"),
    ("truncated artifact", lambda c: hr.load_ranker(_truncated_artifact(c)),
     hr.ArtifactError, "not a readable haowurank artifact"),
    ("a text file as artifact", lambda c: hr.load_ranker(__file__),
     hr.ArtifactError, "not a readable haowurank artifact"),
    ("missing artifact", lambda c: hr.load_ranker("/nonexistent/model.npz"),
     FileNotFoundError, "No ranker artifact"),
    # --- persistence of datasets
    ("truncated Parquet file", lambda c: hr.Dataset.read_parquet(_truncated_parquet(c)),
     ValueError, "Could not read the dataset at"),
    ("no dataset folder", lambda c: hr.Dataset.read_parquet("/nonexistent/ds"),
     FileNotFoundError, "meta.json is missing"),
    ("corrupt indices in Parquet", lambda c: hr.Dataset.read_parquet(_corrupt_parquet(c)),
     ValueError, "Corrupt dataset: social.user holds indices outside"),
    # --- trust functions
    ("NaN transition matrix", lambda c: hr.trust.personalized_pagerank(
        sp.csr_matrix(np.array([[0.0, NAN], [1.0, 0.0]])), [0]),
     ValueError, "'P' matrix must hold finite values"),
    ("non-square social matrix", lambda c: hr.trust.tie_strength(sp.csr_matrix(np.ones((2, 3)))),
     ValueError, "'social' matrix must be square"),
    ("seed outside the graph", lambda c: hr.trust.sybil_rank(c["ds"].social_matrix(), [10**6]),
     ValueError, "'seeds' parameter of trust.sybil_rank must hold user indices"),
    # --- attacks
    ("attack: unknown target", lambda c: hr.attacks.inject(c["ds"], target="no-item"),
     hr.UnknownIdError, "'target' parameter of attacks.inject"),
    ("attack: negative attack edges", lambda c: hr.attacks.add_sybils(c["ds"], 5, -1),
     ValueError, "'attack_edges' parameter of attacks.add_sybils must be an int >= 0"),
    # --- feed
    ("feed: unknown user", lambda c: hr.feed.build(c["ds"], c["r"], "nobody"),
     hr.UnknownIdError, r"Unknown user id\(s\) \['nobody'\]"),
    ("feed: one unknown among many", lambda c: hr.feed.build(c["ds"], c["r"], ["u0", "zz"]),
     hr.UnknownIdError, r"\['zz'\] \(1 of 2\)"),
    ("feed: NaN n", lambda c: hr.feed.build(c["ds"], c["r"], "u0", n=NAN),
     ValueError, "'n' parameter of hr.feed.build must be a positive int. Got nan"),
    ("feed: garbage cursor", lambda c: hr.feed.build(c["ds"], c["r"], "u0", cursor="garbage!!"),
     CursorError, "not a feed cursor"),
    ("feed: diversity 2", lambda c: hr.feed.FeedConfig(diversity=2),
     ValueError, "'diversity' parameter of hr.feed.build must be a number in \\[0, 1\\]"),
    ("feed: NaN half-life", lambda c: hr.feed.FeedConfig(half_life_days=NAN),
     ValueError, "'half_life_days' .* Got nan"),
    ("feed: unfitted ranker", lambda c: hr.feed.build(c["ds"], hr.rankers.make("popularity"), "u0"),
     hr.NotFittedError, "not fitted yet"),
    # --- search
    ("search: empty query", lambda c: c["si"].query(""),
     ValueError, "'text' parameter of SearchIndex.query must be a non-empty string"),
    ("search: None query", lambda c: c["si"].query(None), ValueError, "non-empty string. Got None"),
    ("search: n = -1", lambda c: c["si"].query("tea", n=-1), ValueError, "'n' parameter"),
    ("search: unknown user", lambda c: c["si"].query("tea", user="nobody"),
     hr.UnknownIdError, "Unknown user id 'nobody'"),
    ("search: NaN weight", lambda c: hr.search.SearchIndex(c["ds"], text_weight=NAN),
     ValueError, "'text_weight' parameter of SearchIndex must be a finite number"),
    ("search: not a dataset", lambda c: hr.search.SearchIndex(c["ds"].interactions),
     TypeError, "SearchIndex expects a haowurank.Dataset"),
    # --- simulation config
    ("sim: negative users", lambda c: hr.sim.SimulationConfig(n_users=-5),
     ValueError, "'n_users' field of SimulationConfig must be an int >= 2. Got -5"),
    ("sim: NaN days", lambda c: hr.sim.SimulationConfig(days=NAN),
     ValueError, "'days' field of SimulationConfig must be a positive int. Got nan"),
    ("sim: unknown strategy", lambda c: hr.sim.SimulationConfig(strategy="magic"),
     ValueError, "'strategy' field of SimulationConfig must be a ranker name"),
    ("sim: unknown field", lambda c: hr.sim.SimulationConfig.from_dict({"n_userz": 3}),
     ValueError, r"Unknown SimulationConfig field\(s\) \['n_userz'\]"),
    ("sim: seed inside world", lambda c: hr.sim.SimulationConfig(world={"seed": 1}),
     ValueError, "'world' field of SimulationConfig must not set 'seed'"),
    ("sim: malformed TOML", lambda c: hr.sim.SimulationConfig.from_toml("n_users = = 3"),
     ValueError, "Invalid value"),
    # --- serving
    ("service: unknown user", lambda c: c["svc"].recommend("nobody"),
     hr.UnknownIdError, r"Unknown user id\(s\) \['nobody'\]"),
    ("service: huge n", lambda c: c["svc"].recommend("u0", n=10**9),
     ValueError, "'n' parameter must be an int in \\[1, 100\\]"),
    ("service: self-follow update", lambda c: c["svc"].update(
        social=pd.DataFrame({"user": ["u0"], "friend": ["u0"]})),
     ValueError, "must not contain self-follows"),
    ("service: NaN weight update", lambda c: c["svc"].update(pd.DataFrame(
        {"user": ["u0"], "item": [101], "weight": [NAN], "timestamp": [5]})),
     ValueError, "'weight' of interactions must be finite and > 0"),
    ("service: not a dataset", lambda c: hr.serving.RankerService(c["ds"].interactions, c["r"]),
     TypeError, "RankerService expects a haowurank.Dataset"),
]


def _truncated_artifact(c) -> Path:
    d = Path(c["tmp"])
    full = Path(c["r"].save(d / "full.npz")).read_bytes()
    p = d / "truncated.npz"
    p.write_bytes(full[: len(full) // 2])
    return p


def _truncated_parquet(c) -> Path:
    d = Path(c["tmp"]) / "trunc_ds"
    c["ds"].to_parquet(d)
    f = d / "interactions.parquet"
    f.write_bytes(f.read_bytes()[:200])
    return d


def _corrupt_parquet(c) -> Path:
    d = Path(c["tmp"]) / "corrupt_ds"
    c["ds"].to_parquet(d)
    soc = pd.read_parquet(d / "social.parquet")
    soc.loc[0, "user"] = 10**6
    soc.to_parquet(d / "social.parquet", index=False)
    return d


def test_the_catalogue_is_large_enough():
    assert len(CASES) >= 40
    assert len({name for name, *_ in CASES}) == len(CASES)


@pytest.mark.parametrize("name,call,exc,match", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gives_a_clear_error(ctx, tmp_path, name, call, exc, match):
    c = dict(ctx, tmp=tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", hr.DataWarning)
        with pytest.raises(exc, match=match):
            call(c)


def test_a_failed_service_update_changes_nothing(ctx):
    svc = ctx["svc"]
    before = svc.snapshot
    with pytest.raises(ValueError):
        svc.update(pd.DataFrame({"user": ["u0"], "item": [101], "weight": [-1.0],
                                 "timestamp": [5]}))
    assert svc.snapshot is before


# ------------------------------------------------------------------------------------------
# documented fallbacks (no error, a defined answer)
# ------------------------------------------------------------------------------------------
def test_fallback_unknown_user_gets_popularity(ctx):
    r = ctx["r"]
    for who in ("nobody", "用户", NAN, 10**18):
        ids, scores = r.recommend(who, n=5)
        np.testing.assert_array_equal(ids, r.recommend("never-seen", n=5)[0])
        assert np.isfinite(scores).all()


def test_fallback_unicode_ids_round_trip(tmp_path):
    inter = pd.DataFrame({"user": ["用户一", "😀", "Ünïcødé"], "item": ["跑步鞋", "x", "x"],
                          "kind": ["purchase", "recommend", "purchase"]})
    social = pd.DataFrame({"user": ["用户一", "😀"], "friend": ["😀", "用户一"]})
    items = pd.DataFrame({"item": ["跑步鞋", "x"], "title": ["新款跑步鞋 running shoes", "茶 tea"]})
    ds = hr.Dataset.from_frames(inter, social, items=items)
    back = hr.Dataset.read_parquet(ds.to_parquet(tmp_path / "uni"))
    assert back.equals(ds) and set(back.user_ids) == {"用户一", "😀", "Ünïcødé"}
    r = hr.rankers.make("trust").fit(ds)
    r2 = hr.load_ranker(r.save(tmp_path / "uni.npz"))
    for a, b in zip(r.recommend(["用户一", "😀"], n=2), r2.recommend(["用户一", "😀"], n=2)):
        np.testing.assert_array_equal(a, b)
    assert hr.search.SearchIndex(ds).query("跑步鞋", user="😀", n=3)["item"].tolist() == ["跑步鞋"]


def test_fallback_duplicates_and_self_follows_are_repaired_with_a_warning():
    with pytest.warns(hr.DataWarning, match=r"merged 3 duplicated \(user, item, kind\) row"):
        ds = hr.Dataset.from_frames(pd.concat([_frames(), _frames()]))
    assert ds.n_interactions == 3 and ds.interactions["weight"].tolist() == [2.0, 2.0, 2.0]
    with pytest.warns(hr.DataWarning, match=r"dropped 1 self-follow row"):
        ds = _ds(social=pd.DataFrame({"user": ["a", "a"], "friend": ["a", "b"]}),
                 self_loops="drop")
    assert ds.n_social == 1
    with pytest.warns(hr.DataWarning, match=r"merged 1 duplicated \(user, friend\) row"):
        _ds(social=pd.DataFrame({"user": ["a", "a"], "friend": ["b", "b"]}))


def test_fallback_empty_frames_and_no_matches(ctx):
    empty = _ds(_frames().iloc[:0])
    assert (empty.n_users, empty.n_items, empty.n_interactions) == (0, 0, 0)
    hits = ctx["si"].query("😀 zzzz-no-such-word")
    assert len(hits) == 0 and list(hits.columns)[:3] == ["item", "score", "rank"]
    # a user with no friends has an empty friends' feed, not an error
    ds = hr.Dataset.from_frames(_frames())
    r = hr.rankers.make("popularity").fit(ds)
    assert len(hr.feed.build(ds, r, "a")) == 0
    # lists longer than the candidates are padded with the documented pad id and -inf
    ids, scores = r.recommend("a", n=4)
    assert ids.tolist()[-2:] == ["", ""] and np.isneginf(scores[-2:]).all()


def test_fallback_huge_n_in_feed_and_search_is_bounded_by_the_candidates(ctx):
    f = hr.feed.build(ctx["ds"], ctx["r"], ["u0", "u1"], n=10**9)
    assert 0 < len(f) <= 2 * ctx["ds"].n_items
    assert len(ctx["si"].query("shoes", n=10**9)) <= ctx["ds"].n_items


def test_fallback_attack_tags_survive_parquet(ctx, tmp_path):
    atk = hr.attacks.inject(ctx["ds"], target=101, n_sybils=5, attack_edges=2, attack="refund")
    back = hr.Dataset.read_parquet(atk.dataset.to_parquet(tmp_path / "atk"))
    assert set(hr.attacks.attacker_ids(back).tolist()) == set(atk.attackers.tolist())
    assert hr.trust.refunded_rows(back).sum() == 5


# ------------------------------------------------------------------------------------------
# HTTP service
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def client(tmp_path_factory):
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    from fastapi.testclient import TestClient

    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import apps.service as service

    d = tmp_path_factory.mktemp("svc")
    inter = pd.DataFrame({"user": [1, 2, 2, 3], "item": [10, 10, 11, 12],
                          "kind": ["purchase", "recommend", "purchase", "purchase"]})
    ds = hr.Dataset.from_frames(inter, pd.DataFrame({"user": [1, 2], "friend": [2, 1]}))
    ds.to_parquet(d / "ds")
    art = hr.rankers.make("popularity").fit(ds).save(d / "r.npz")
    app = service.create_app(art, d / "ds", max_n=50)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.mark.parametrize("path,params,status,text", [
    ("/recommend", {"user": "abc"}, 422, "must be an integer id"),
    ("/recommend", {"user": "用户"}, 422, "must be an integer id"),
    ("/recommend", {"user": "99"}, 404, "99"),
    ("/recommend", {"user": "1", "n": "NaN"}, 422, "'n' parameter"),
    ("/recommend", {"user": "1", "n": "inf"}, 422, "'n' parameter"),
    ("/recommend", {"user": "1", "n": str(10**12)}, 422, "[1, 50]"),
    ("/feed", {"user": "1", "cursor": "%%%"}, 400, "cursor"),
    ("/search", {"q": "😀"}, 200, ""),
])
def test_http_bad_input(client, path, params, status, text):
    r = client.get(path, params=params)
    assert r.status_code == status, r.text
    if status != 200:
        assert text in r.json()["detail"]
    else:
        assert r.json()["items"] == []


def test_http_service_refuses_a_truncated_artifact_or_dataset(tmp_path):
    pytest.importorskip("fastapi")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import apps.service as service

    ds = small_world()
    ds.to_parquet(tmp_path / "ds")
    art = Path(hr.rankers.make("popularity").fit(ds).save(tmp_path / "r.npz"))
    bad = tmp_path / "bad.npz"
    bad.write_bytes(art.read_bytes()[:300])
    with pytest.raises(hr.ArtifactError, match="not a readable haowurank artifact"):
        service.create_app(bad, tmp_path / "ds")
    (tmp_path / "ds" / "users.parquet").write_bytes(b"PAR1garbage")
    with pytest.raises(ValueError, match="Could not read the dataset"):
        service.create_app(art, tmp_path / "ds")


# ------------------------------------------------------------------------------------------
# atomic writes: a failure in the middle leaves nothing half-written
# ------------------------------------------------------------------------------------------
def _leftovers(folder: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


def test_atomic_dataset_write_new_destination(tmp_path, monkeypatch):
    ds = small_world()
    calls = {"n": 0}
    real = pd.DataFrame.to_parquet

    def failing(self, *a, **kw):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full (simulated)")
        return real(self, *a, **kw)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", failing)
    with pytest.raises(OSError, match="disk full"):
        ds.to_parquet(tmp_path / "ds")
    assert not (tmp_path / "ds").exists()
    assert _leftovers(tmp_path, set()) == []


def test_atomic_dataset_overwrite_keeps_the_old_version(tmp_path, monkeypatch):
    old = small_world(seed=1)
    old.to_parquet(tmp_path / "ds")
    new = small_world(seed=2)
    real_replace = os.replace

    def failing_replace(src, dst):
        if Path(dst) == tmp_path / "ds" and ".old-" not in Path(src).name:  # publishing
            raise OSError("rename failed (simulated)")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="rename failed"):
        new.to_parquet(tmp_path / "ds")
    monkeypatch.undo()
    assert hr.Dataset.read_parquet(tmp_path / "ds").equals(old)
    assert _leftovers(tmp_path, {"ds"}) == []


def test_atomic_ranker_save(tmp_path, monkeypatch):
    ds = small_world()
    r = hr.rankers.make("popularity").fit(ds)
    good = Path(r.save(tmp_path / "r.npz"))
    before = good.read_bytes()
    r2 = hr.rankers.make("popularity", kind_weights={"view": 2.0}).fit(ds)
    import haowurank.rankers._io as io

    def half_then_fail(fh, **arrays):
        fh.write(b"PK\x03\x04 half an archive")
        raise OSError("killed mid-write (simulated)")

    monkeypatch.setattr(io.np, "savez", half_then_fail)
    with pytest.raises(OSError, match="killed mid-write"):
        r2.save(tmp_path / "r.npz")
    with pytest.raises(OSError, match="killed mid-write"):
        r2.save(tmp_path / "fresh.npz")
    monkeypatch.undo()
    assert good.read_bytes() == before
    assert not (tmp_path / "fresh.npz").exists()
    assert _leftovers(tmp_path, {"r.npz"}) == []
    np.testing.assert_array_equal(hr.load_ranker(good).recommend("u0", n=5)[0],
                                  r.recommend("u0", n=5)[0])


def test_atomic_simulation_config_write(tmp_path, monkeypatch):
    cfg = hr.sim.SimulationConfig(n_users=50, n_items=20, days=2)
    path = tmp_path / "run.json"
    cfg.to_json(path)
    before = path.read_text()
    monkeypatch.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(OSError("boom")))
    with pytest.raises(OSError, match="boom"):
        cfg.replace(days=3).to_json(path)
    with pytest.raises(OSError, match="boom"):
        cfg.to_toml(tmp_path / "run.toml")
    monkeypatch.undo()
    assert path.read_text() == before
    assert _leftovers(tmp_path, {"run.json"}) == []


def test_atomic_simulation_result_write(tmp_path, monkeypatch):
    res = hr.sim.run(hr.sim.SimulationConfig(n_users=40, n_items=20, days=2, seed=0,
                                             strategy="popularity"))
    res.to_parquet(tmp_path / "res")
    real_replace = os.replace

    def failing_replace(src, dst):
        if Path(dst) == tmp_path / "res" and ".old-" not in Path(src).name:  # publishing
            raise OSError("rename failed (simulated)")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="rename failed"):
        res.to_parquet(tmp_path / "res")
    monkeypatch.undo()
    back = hr.sim.SimulationResult.read_parquet(tmp_path / "res")
    pd.testing.assert_frame_equal(back.daily, res.daily)
    assert _leftovers(tmp_path, {"res"}) == []
    shutil.rmtree(tmp_path / "res")
