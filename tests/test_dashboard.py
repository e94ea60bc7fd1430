"""The Streamlit dashboard under ``streamlit.testing``: every widget path runs without an exception,
the URL carries the view, and every number shown equals what the library computes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("streamlit")
from conftest import data_dir  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

import haowurank as hr  # noqa: E402
from haowurank import report  # noqa: E402

APP = str(Path(__file__).resolve().parents[1] / "apps" / "dashboard.py")
SMALL = {"n_users": "400", "n_items": "200", "seed": "3"}
ACCURACY = ["users", "NDCG@{k}", "Recall@{k}", "HitRate@{k}", "Coverage@{k}", "Gini@{k}",
            "MerchantGini@{k}", "Novelty@{k}", "cold_users", "cold_NDCG@{k}", "cold_Recall@{k}"]


def _app(**params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    for key, value in {**SMALL, **params}.items():
        at.query_params[key] = value
    return at.run()


def _qp(at: AppTest, key: str) -> str | None:
    """A URL query parameter of the app's current view (one value)."""
    v = at.query_params.get(key)
    return v[0] if isinstance(v, list) else v


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _world(n_users=400, n_items=200, seed=3, homophily=0.85):
    return report.load_world("synthetic", n_users=n_users, n_items=n_items, seed=seed,
                             homophily=homophily)


def _offline_frame(at: AppTest) -> pd.DataFrame:
    frames = [d.value for d in at.dataframe if "NDCG@" in " ".join(map(str, d.value.columns))]
    assert len(frames) == 1
    return frames[0]


def _assert_offline_equals_library(shown: pd.DataFrame, ds, strategies, k) -> None:
    train, test = hr.split.random_split(ds, test_fraction=0.2, seed=0)
    lib = hr.evaluation.compare(strategies, train, test, k=(k,))
    assert list(shown["strategy"]) == list(strategies)
    cols = [c.format(k=k) for c in ACCURACY if c.format(k=k) in lib]
    assert {f"NDCG@{k}", f"Recall@{k}", f"Coverage@{k}", f"Gini@{k}", "cold_users"} <= set(cols)
    for c in cols:
        np.testing.assert_allclose(
            shown[c].to_numpy(dtype=float), lib[c].to_numpy(dtype=float), rtol=1e-9, err_msg=c
        )


def test_default_view_renders_and_numbers_equal_the_library():
    at = _app()
    _ok(at)
    assert at.title[0].value.startswith("haowurank")
    shown = _offline_frame(at)
    _assert_offline_equals_library(shown, _world(), ["popularity", "friend_endorsements", "trust"],
                                   20)
    # the world summary names the world's real sizes
    assert "400 users" in at.caption[0].value and "200 items" in at.caption[0].value
    # downloads are offered for the table and the user's lists
    keys = {b.key for b in at.get("download_button")}
    assert {"dl_offline", "dl_user"} <= keys
    # the view is in the URL
    assert _qp(at, "world") == "synthetic"
    assert _qp(at, "n_users") == "400"


def test_strategy_and_k_choice():
    at = _app()
    at.sidebar.multiselect(key="strategies").set_value(["item_knn", "popularity"])
    at.sidebar.selectbox(key="k").set_value(10)
    at.run()
    _ok(at)
    shown = _offline_frame(at)
    assert "NDCG@10" in shown and "NDCG@20" not in shown
    _assert_offline_equals_library(shown, _world(), ["item_knn", "popularity"], 10)
    assert _qp(at, "strategies") == "item_knn,popularity"
    assert _qp(at, "k") == "10"


def test_world_knobs_change_the_world():
    at = _app()
    at.sidebar.number_input(key="n_users").set_value(300)
    at.sidebar.slider(key="homophily").set_value(0.5)
    at.run()
    _ok(at)
    assert "300 users" in at.caption[0].value
    shown = _offline_frame(at)
    _assert_offline_equals_library(shown, _world(n_users=300, homophily=0.5),
                                   ["popularity", "friend_endorsements", "trust"], 20)
    assert _qp(at, "homophily") == "0.5"


def test_bad_folder_is_an_error_message_not_a_crash(tmp_path):
    at = _app(world=str(tmp_path / "no-such-data"))
    assert at.sidebar.radio(key="world_kind").value == "Real data set folder"
    assert not at.exception
    assert at.error and "no-such-data" in at.error[0].value
    at.sidebar.text_input(key="world").set_value(str(tmp_path)).run()  # exists, unknown name
    assert not at.exception
    assert at.error and "loader" in at.error[0].value


@pytest.mark.slow
def test_real_data_world_lastfm():
    folder = data_dir("lastfm-hetrec2011")
    at = _app(world=str(folder), strategies="popularity,trust")
    _ok(at)
    assert at.sidebar.radio(key="world_kind").value == "Real data set folder"
    shown = _offline_frame(at)
    ds = report.load_world(folder)
    _assert_offline_equals_library(shown, ds, ["popularity", "trust"], 20)
    # Last.fm has no endorsements: the feed says it is empty instead of failing
    assert any("Empty" in i.value for i in at.info)
    # switching back to the synthetic world works and resets the user
    at.sidebar.radio(key="world_kind").set_value("Synthetic world").run()
    _ok(at)
    assert _qp(at, "world") == "synthetic"
    assert str(at.selectbox(key="user").value).startswith("u")


def test_user_inspector_feed_and_search_equal_the_library():
    at = _app()
    _ok(at)
    ds = _world()
    users = report.interesting_users(ds, n=50)
    user = users["user"].iloc[3]
    at.selectbox(key="user").set_value(str(user))
    at.selectbox(key="a").set_value("popularity")
    at.selectbox(key="b").set_value("friend_endorsements")
    at.run()
    _ok(at)
    feeds = [d.value for d in at.dataframe if "endorsers" in d.value]
    assert len(feeds) == 2
    rankers = {s: hr.rankers.make(s).fit(ds) for s in ("popularity", "friend_endorsements")}
    lib = report.user_feeds(ds, rankers, user, n=10)
    for shown, s in zip(feeds, rankers):
        pd.testing.assert_frame_equal(shown.reset_index(drop=True), lib[s], check_dtype=False)
        direct = hr.feed.build(ds, rankers[s], user, n=10)
        assert list(shown["item"]) == list(direct["item"])
        # every cited endorser is someone the user follows
        follows = set(ds.social.loc[ds.social["user"] == user, "friend"])
        cited = {e for row in shown["endorsers"] for e in row.split(", ") if e}
        assert cited and cited <= follows
    # search under both strategies, with a typed query
    at.text_input(key="q").set_value("tea").run()
    _ok(at)
    hits = [d.value for d in at.dataframe if "search_rank" in d.value]
    assert len(hits) == 2
    idx = hr.search.SearchIndex(ds)
    for shown, s in zip(hits, rankers):
        expect = report.search_with_ranker(idx, rankers[s], "tea", user, n=10)
        pd.testing.assert_frame_equal(shown.reset_index(drop=True), expect, check_dtype=False)
    assert _qp(at, "q") == "tea"
    assert _qp(at, "user") == str(user)
    assert _qp(at, "b") == "friend_endorsements"
    assert _qp(at, "a") is None  # the default strategy A is left out of the link


def test_view_is_restored_from_the_url_and_bad_values_fall_back():
    ds = _world()
    user = str(report.interesting_users(ds, n=60)["user"].iloc[55])  # not among the first 50
    at = _app(strategies="trust,popularity,not_a_ranker", k="10", user=user, a="trust",
              b="popularity", q="honey", sim_days="oops", messaging="spammer")
    _ok(at)
    assert at.sidebar.multiselect(key="strategies").value == ["trust", "popularity"]
    assert at.sidebar.selectbox(key="k").value == 10
    assert at.selectbox(key="user").value == user
    assert at.selectbox(key="a").value == "trust"
    assert at.text_input(key="q").value == "honey"
    assert at.number_input(key="sim_days").value == 30  # "oops" fell back to the default
    assert at.multiselect(key="messaging").value == ["spammer"]
    assert list(_offline_frame(at)["strategy"]) == ["trust", "popularity"]


def test_simulation_run_with_bands_and_library_numbers():
    at = _app(strategies="popularity,trust")
    _ok(at)
    at.number_input(key="sim_users").set_value(150)
    at.number_input(key="sim_items").set_value(60)
    at.number_input(key="sim_days").set_value(4)
    at.number_input(key="sim_reps").set_value(2)
    at.multiselect(key="messaging").set_value(["none", "spammer"])
    at.button[0].click().run()
    _ok(at)
    assert _qp(at, "sim") == "1"
    summary = [d.value for d in at.dataframe if "orders ci_low" in d.value]
    assert len(summary) == 1
    shown = summary[0]
    labels = ["popularity/none", "popularity/spammer", "trust/none", "trust/spammer"]
    assert list(shown["config"]) == labels
    base = hr.sim.SimulationConfig(n_users=150, n_items=60, days=4, seed=3,
                                   world={"homophily": 0.85})
    configs = {f"{s}/{p}": {"strategy": s, "messaging": p}
               for s in ("popularity", "trust") for p in ("none", "spammer")}
    lib = hr.sim.compare(configs, replicates=2, base=base)
    for m in ("orders", "gmv", "endorsements", "merchant_exposure_gini",
              "longtail_impression_share", "messages_sent", "complaints"):
        expect = lib.summary[lib.summary["metric"] == m].set_index("config")
        np.testing.assert_allclose(shown[m].to_numpy(), expect.loc[labels, "mean"].to_numpy(),
                                   rtol=1e-12, err_msg=m)
        np.testing.assert_allclose(shown[f"{m} ci_low"].to_numpy(),
                                   expect.loc[labels, "ci_low"].to_numpy(), rtol=1e-12, err_msg=m)
    # paired differences to the first config, as hr.sim.compare computes them
    diffs = [d.value for d in at.dataframe if "orders diff" in d.value]
    assert len(diffs) == 1 and list(diffs[0]["config"]) == labels[1:]
    expect = lib.summary[lib.summary["metric"] == "orders"].set_index("config").loc[labels[1:]]
    for stat in ("diff", "diff_ci_low", "diff_ci_high"):
        np.testing.assert_allclose(diffs[0][f"orders {stat}"].to_numpy(), expect[stat].to_numpy(),
                                   rtol=1e-12)
    # spammers send messages, the no-messaging configs none
    assert (shown.set_index("config").loc[["popularity/none", "trust/none"], "messages_sent"]
            == 0).all()
    assert {"dl_sim", "dl_daily", "dl_runs"} <= {b.key for b in at.get("download_button")}
    # a rerun (another widget) keeps the simulated view without recomputing it
    at.toggle(key="sim_cumulative").set_value(False).run()
    _ok(at)
    assert len([d for d in at.dataframe if "orders ci_low" in d.value]) == 1


def test_simulation_from_a_shared_link_runs_on_load():
    at = _app(strategies="popularity", sim="1", sim_users="120", sim_items="50", sim_days="3",
              sim_reps="2")
    _ok(at)
    shown = [d.value for d in at.dataframe if "orders ci_low" in d.value]
    assert len(shown) == 1 and list(shown[0]["config"]) == ["popularity"]


def test_simulation_paired_differences_toggle():
    at = _app(strategies="popularity,trust", sim="1", sim_users="120", sim_items="50",
              sim_days="3", sim_reps="2")
    _ok(at)
    at.toggle(key="sim_paired").set_value(True).run()
    _ok(at)
    assert len([d for d in at.dataframe if "orders ci_low" in d.value]) == 1


# ------------------------------------------------------------------------------------------
# haowurank.report: the library side of the dashboard
# ------------------------------------------------------------------------------------------

def test_loader_for_folder():
    assert report.loader_for_folder("../shared/data/lastfm-hetrec2011") == "lastfm"
    assert report.loader_for_folder("/x/ciao") == "ciao"
    assert report.loader_for_folder("/x/CiaoDVD") == "ciaodvd"
    assert report.loader_for_folder("/x/epinions-2024") == "epinions"
    with pytest.raises(ValueError, match="Cannot tell which loader.*lastfm-hetrec2011"):
        report.loader_for_folder("/x/movielens")
    with pytest.raises(FileNotFoundError, match="No data set folder"):
        report.load_world("/no/such/lastfm-hetrec2011")
    with pytest.raises(ValueError, match="'k_core'"):
        report.load_world("synthetic", n_users=60, n_items=30, k_core=-1)


@pytest.fixture(scope="module")
def study():
    base = hr.sim.SimulationConfig(n_users=150, n_items=60, days=4, seed=5)
    return base, report.simulate(["popularity", "trust"], replicates=3, base=base)


def test_simulate_equals_sim_compare_and_keeps_the_days(study):
    base, st = study
    lib = hr.sim.compare(["popularity", "trust"], replicates=3, base=base)
    pd.testing.assert_frame_equal(st.summary, lib.summary)
    pd.testing.assert_frame_equal(st.runs, lib.runs)
    assert len(st.daily) == 2 * 3 * 4
    # the run totals are the sums of the kept days
    tot = st.daily.groupby(["config", "replicate"])["orders"].sum()
    runs = st.runs.set_index(["config", "replicate"])["orders"]
    np.testing.assert_allclose(tot.loc[runs.index].to_numpy(), runs.to_numpy())


def test_bands_levels_cumulative_and_paired(study):
    _, st = study
    d = st.daily
    b = st.bands(["orders"], cumulative=True)
    last = b[(b["config"] == "trust") & (b["day"] == 3)].iloc[0]
    per_rep = d[d["config"] == "trust"].groupby("replicate")["orders"].sum()
    assert last["mean"] == pytest.approx(per_rep.mean())
    assert last["ci_low"] <= last["mean"] <= last["ci_high"] and last["n"] == 3
    p = st.bands(["orders"], cumulative=True, paired_to="popularity")
    assert set(p["config"]) == {"trust"}
    ref = d[d["config"] == "popularity"].groupby("replicate")["orders"].sum()
    assert p[p["day"] == 3]["mean"].iloc[0] == pytest.approx((per_rep - ref).mean())
    with pytest.raises(ValueError, match="'paired_to'"):
        st.bands(["orders"], paired_to="nope")
    with pytest.raises(KeyError, match="Unknown daily metric"):
        st.bands(["no_such_metric"])
    diffs = st.diff_table(["orders"])
    s = st.summary[(st.summary["config"] == "trust") & (st.summary["metric"] == "orders")].iloc[0]
    assert diffs["orders diff"].iloc[0] == pytest.approx(s["diff"])


def test_cold_start_curve_buckets():
    frame = pd.DataFrame({"user": range(6), "n_train": [0, 2, 3, 5, 6, 60],
                          "NDCG@5": [1.0, 0.0, 0.5, 0.5, 0.2, 0.4],
                          "Recall@5": [1.0, 0.0, 1.0, 0.0, 0.5, 0.5]})
    c = report.cold_start_curve({"s": frame}, 5)
    assert list(c["history"]) == ["0-2", "3-5", "6-10", ">50"]
    assert list(c["users"]) == [2, 2, 1, 1]
    assert c["NDCG@5"].tolist() == pytest.approx([0.5, 0.5, 0.2, 0.4])
    assert list(report.cold_start_curve({"s": frame}, 5, min_users=2)["history"]) == ["0-2", "3-5"]


def test_inspector_helpers_follow_the_library():
    ds = _world()
    users = report.interesting_users(ds, n=20)
    vis = hr.feed.visible_endorsements(ds, list(users["user"]))
    counts = vis.groupby("viewer")["item"].nunique()
    got = users.set_index("user")["visible_endorsements"]
    assert (counts.reindex(got.index).fillna(0).astype(int) == got).all()
    assert got.is_monotonic_decreasing
    user = users["user"].iloc[0]
    q = report.default_query(ds, user)
    assert q and "_" not in q
    idx = hr.search.SearchIndex(ds)
    r = hr.rankers.make("trust").fit(ds)
    plain = report.search_with_ranker(idx, r, q, user, n=10, ranker_weight=0.0)
    assert list(plain["item"]) == list(idx.query(q, user=user, n=10)["item"])
    blended = report.search_with_ranker(idx, r, q, user, n=10, ranker_weight=1.0)
    assert set(blended["item"]) <= set(idx.query(q, user=user, n=100)["item"])
    assert blended["score"].is_monotonic_decreasing
    with pytest.raises(ValueError, match="'ranker_weight'"):
        report.search_with_ranker(idx, r, q, user, ranker_weight=2)
