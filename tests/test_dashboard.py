"""The Streamlit dashboard under ``streamlit.testing``: every widget path runs without an exception,
the URL carries the view, and every number shown equals what the library computes."""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("streamlit")
from conftest import data_dir  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

import haowurank as hr  # noqa: E402
from haowurank import report, verdict  # noqa: E402

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


def _charts(at: AppTest) -> list[tuple[dict, pd.DataFrame]]:
    """Every Vega-Lite chart of the page: its spec and its data."""
    import pyarrow as pa

    out = []
    for e in at.get("vega_lite_chart"):
        data = pa.ipc.open_stream(e.proto.data.data).read_all().to_pandas() \
            if e.proto.data.data else pd.DataFrame()
        out.append((json.loads(e.proto.spec), data))
    return out


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
    # Last.fm has no endorsements: the app says so instead of showing an empty feed
    assert any("has no endorsements" in i.value for i in at.info)
    # switching back to the synthetic world works and resets the user
    at.sidebar.radio(key="world_kind").set_value("Synthetic world").run()
    _ok(at)
    assert _qp(at, "world") == "synthetic"
    assert str(at.selectbox(key="user").value).startswith("u")


def _cards(at: AppTest) -> list[list[str]]:
    """The feed cards of the inspector, one list of card HTML per strategy column."""
    blocks = [m.value for m in at.markdown if 'class="hw-card"' in m.value]
    return [b.split('<div class="hw-card">')[1:] for b in blocks]


@pytest.mark.slow
def test_real_data_world_ciao_has_feeds_and_honest_search():
    """Ciao's 4-5 star ratings are 推荐 endorsements: real feeds; search says "rated", never
    "bought", for its other ratings."""
    at = _app(world=str(data_dir("ciao")), k_core="5", strategies="popularity,trust")
    _ok(at)
    cards = _cards(at)
    assert cards and all(cards) and "推荐 ×" in cards[0][0]
    assert "(" in cards[0][0].split("</b>")[0]  # no titles: the id and the category
    hits = [d.value for d in at.dataframe if "search_rank" in d.value]
    assert hits and all("rated it 1-3" in e and "bought" not in e
                        for h in hits for e in h["explanation"])


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
    cards = _cards(at)
    assert len(cards) == 2
    rankers = {s: hr.rankers.make(s).fit(ds) for s in ("popularity", "friend_endorsements")}
    follows = set(ds.social.loc[ds.social["user"] == user, "friend"])
    titles = ds.items.set_index("item")["title"]
    direct = {s: hr.feed.build(ds, rankers[s], user, n=10) for s in rankers}
    for shown, s in zip(cards, rankers):
        lib = direct[s]
        assert len(shown) == len(lib) > 0
        for card, row in zip(shown, lib.itertuples()):
            # title, rank, badges with counts, endorsers by name (plain ids, no numpy reprs)
            assert f"<b>{row.rank}. {html.escape(titles[row.item])}</b>" in card
            kinds = [str(x) for x in row.kinds]
            for kind, badge in (("recommend", "推荐"), ("recommend_after_purchase", "购买后推荐")):
                if kinds.count(kind):
                    assert f"{badge} ×{kinds.count(kind)}</span>" in card
            assert "endorsed by " + ", ".join(str(e) for e in row.endorsers[:5]) in card
            assert "[" not in card.split("endorsed by")[1].split("</span>")[0]
            assert set(row.endorsers) <= follows
    # what moved between A and B is marked on B's entries
    a_items, b_items = list(direct["popularity"]["item"]), list(direct["friend_endorsements"]["item"])
    for j, (card, it) in enumerate(zip(cards[1], b_items)):
        if it not in a_items:
            assert "not in popularity" in card
        elif a_items.index(it) != j:
            assert ("▲" if a_items.index(it) > j else "▼") in card
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


def test_offline_kpi_cards_equal_the_library():
    at = _app(strategies="popularity,trust,item_knn", baseline="popularity")
    _ok(at)
    ds = _world()
    train, test = hr.split.random_split(ds, test_fraction=0.2, seed=0)
    per_user, rows = {}, {}
    for s in ("popularity", "trust", "item_knn"):
        rows[s], per_user[s] = hr.evaluation.evaluate(s, train, test, k=(20,), per_user=True)
    v = verdict.offline_verdict(per_user, "NDCG@20", baseline="popularity", n_resamples=1000,
                                seed=0)
    # the verdict's means are the library's NDCG@20
    np.testing.assert_allclose(v["mean"], [rows[s]["NDCG@20"] for s in v["strategy"]],
                               rtol=1e-9)
    top = verdict.best(v, "NDCG@20")
    cards = {m.label: m.value for m in at.metric}
    assert cards["Best strategy"] == top["strategy"]
    shown = top if top["strategy"] != "popularity" else verdict.best(
        v[v["strategy"] != "popularity"], "NDCG@20")
    assert cards["Change vs popularity"].endswith(f"{shown['change_pct']:+.1f}%")
    assert cards["95% interval of the change"] == (
        f"{shown['change_ci_low_pct']:+.1f}% to {shown['change_ci_high_pct']:+.1f}%")
    assert cards["Interval excludes zero"] == ("yes" if shown["excludes_zero"] else "no")
    assert any(m.value == verdict.sentence(v, "NDCG@20", "popularity") for m in at.markdown)
    # another baseline and headline metric move the cards with them
    at.sidebar.selectbox(key="baseline").set_value("trust").run()
    at.selectbox(key="metric").set_value("Recall").run()
    _ok(at)
    v2 = verdict.offline_verdict(per_user, "Recall@20", baseline="trust", n_resamples=1000,
                                 seed=0)
    assert {m.label: m.value for m in at.metric}["Best strategy"] == \
        verdict.best(v2, "Recall@20")["strategy"]
    assert _qp(at, "baseline") == "trust" and _qp(at, "metric") == "Recall"


def test_offline_catalogue_intervals_equal_the_library():
    at = _app(strategies="popularity,trust", k="10")
    _ok(at)
    train, test = hr.split.random_split(_world(), test_fraction=0.2, seed=0)
    parts = []
    for s in ("popularity", "trust"):
        row, users = hr.evaluation.evaluate(s, train, test, k=(10,), per_user=True)
        ci = hr.evaluation.catalogue_intervals(users, train, k=10, level=0.95, n_resamples=1000,
                                               seed=0)
        np.testing.assert_allclose(ci["estimate"], [row[m] for m in ci["metric"]], rtol=1e-12)
        parts.append(ci.assign(strategy=s))
    lib = pd.concat(parts, ignore_index=True)
    assert set(lib["metric"]) == {"Coverage@10", "Gini@10", "MerchantGini@10"}
    tables = [d.value for d in at.dataframe if "method" in d.value.columns]
    assert len(tables) == 1
    shown = tables[0]
    assert list(shown["strategy"]) == list(lib["strategy"])
    assert list(shown["label"]) == [verdict.label(m) for m in lib["metric"]]
    np.testing.assert_allclose(shown["estimate"], lib["estimate"], rtol=1e-12)
    assert list(shown["interval"]) == [f"{a:.4f} to {b:.4f}"
                                       for a, b in zip(lib["ci_low"], lib["ci_high"])]
    assert list(shown["method"]) == list(lib["method"])
    # each catalogue metric is a forest plot of the same points and intervals
    for m in ("Coverage@10", "Gini@10", "MerchantGini@10"):
        found = [d for spec, d in _charts(at)
                 if isinstance(spec.get("title"), dict)
                 and spec["title"].get("text") == verdict.label(m)]
        assert len(found) == 1, m
        want = lib[lib["metric"] == m]
        np.testing.assert_allclose(found[0]["estimate"], want["estimate"], rtol=1e-12)
        np.testing.assert_allclose(found[0]["ci_low"], want["ci_low"], rtol=1e-12)
        np.testing.assert_allclose(found[0]["ci_high"], want["ci_high"], rtol=1e-12)
        assert (found[0]["ci_low"] <= found[0]["estimate"]).all()
        assert (found[0]["estimate"] <= found[0]["ci_high"]).all()


def test_a_failing_view_is_a_message_in_its_tab_and_the_rest_renders(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("inspector exploded")

    monkeypatch.setattr(report, "interesting_users", broken)
    at = _app(n_users="350")  # a world no other test caches
    assert not at.exception
    assert any("one-user inspector view could not be drawn" in e.value
               and "inspector exploded" in e.value for e in at.error)
    assert at.metric and at.metric[0].label == "Best strategy"  # the offline tab still renders


def test_moving_the_world_away_and_back_keeps_every_cache_consistent():
    at = _app()
    _ok(at)
    for h in (0.8, 0.75, 0.7, 0.65, 0.6, 0.55):  # more worlds than the cache holds
        at.sidebar.slider(key="homophily").set_value(h).run()
        _ok(at)
    fresh = _app()  # the shared default link, reloaded
    _ok(fresh)
    assert _cards(fresh)


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
    at = _app(strategies="popularity,trust", n_users="150", n_items="60")
    _ok(at)
    assert not at.get("number_input") or "sim_users" not in {
        w.key for w in at.get("number_input")}  # the sidebar's world is the simulated one
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
        lo, hi = verdict.valid_range(m)  # intervals are shown clipped to what can happen
        np.testing.assert_allclose(shown[f"{m} ci_low"].to_numpy(),
                                   expect.loc[labels, "ci_low"].clip(lo, hi).to_numpy(),
                                   rtol=1e-12, err_msg=m)
        assert (shown[f"{m} ci_high"] <= hi).all() and (shown[f"{m} ci_low"] >= lo).all()
    # the simulated world is the sidebar's world
    assert any("Simulated world: 150 users, 60 items" in c.value for c in at.caption)
    # the verdict cards of the simulation equal the library's paired differences (the
    # headline metric defaults to orders)
    assert at.selectbox(key="sim_metric").value == "orders"
    v = verdict.sim_verdict(lib.summary, "orders")
    top = verdict.best(v, "orders")
    cards = [(m.label, m.value) for m in at.metric][4:]
    assert cards[0] == ("Best strategy", top["strategy"])
    shown_row = top if top["strategy"] != labels[0] else verdict.best(v.iloc[1:], "orders")
    assert cards[1][1].endswith(f"{shown_row['change_pct']:+.1f}%")
    assert cards[3][1] == ("yes" if shown_row["excludes_zero"] else "no")
    # offline and simulated verdicts side by side, with a sentence on whether they agree
    ds = _world(n_users=150, n_items=60)
    train, test = hr.split.random_split(ds, test_fraction=0.2, seed=0)
    per_user = {s: hr.evaluation.evaluate(s, train, test, k=(20,), per_user=True)[1]
                for s in ("popularity", "trust")}
    _assert_side_by_side(at, per_user, lib.summary, {"popularity": "popularity/none",
                                                     "trust": "trust/none"})
    # the forest plot of run totals, and bands clipped to what can happen (rates in [0, 1],
    # counts >= 0), one small chart per config with more than three configs
    charts = _charts(at)
    assert any("Run totals: paired difference to popularity/none" in json.dumps(spec["title"])
               for spec, _ in charts)
    bands = [(spec, d) for spec, d in charts if {"ci_low", "day", "metric"} <= set(d.columns)]
    assert bands
    for spec, d in bands:
        lo, hi = verdict.valid_range(d["metric"].iloc[0])
        assert (d["ci_low"] >= lo).all() and (d["ci_high"] <= hi).all(), d["metric"].iloc[0]
        assert "facet" in spec  # 4 configs
    assert any(d["metric"].iloc[0] in verdict.RATE_METRICS for _, d in bands)
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
    at = _app(strategies="popularity", sim="1", n_users="120", n_items="50", sim_days="3",
              sim_reps="2", messaging="none")
    _ok(at)
    shown = [d.value for d in at.dataframe if "orders ci_low" in d.value]
    assert len(shown) == 1 and list(shown[0]["config"]) == ["popularity"]
    # no messaging: the message metrics are all zero, so their charts are hidden with a note
    note = [c.value for c in at.caption if c.value.startswith("Not shown (zero in every config)")]
    assert note and "merchant messages" in note[0]
    assert not any(d["metric"].iloc[0] == "messages_sent" for _, d in _charts(at)
                   if "metric" in d)


def _assert_side_by_side(at: AppTest, per_user: dict, summary: pd.DataFrame,
                         labels: dict[str, str], off_metric: str = "NDCG@20",
                         sim_metric: str = "orders") -> None:
    """The offline-vs-simulated view: its table equals the library's offline means and simulated
    means with their ranks (1 = best), and its sentence names both winners or says they agree."""
    off = verdict.offline_verdict(per_user, off_metric, baseline=next(iter(per_user))
                                  ).set_index("strategy")
    sim = summary[summary["metric"] == sim_metric].set_index("config")
    tables = [d.value for d in at.dataframe if "offline rank" in d.value.columns]
    assert len(tables) == 1
    shown = tables[0].set_index("strategy")
    assert list(shown.index) == list(per_user)
    np.testing.assert_allclose(shown[off_metric], off.loc[shown.index, "mean"], rtol=1e-12)
    np.testing.assert_allclose(shown[sim_metric], [sim.loc[labels[s], "mean"]
                                                   for s in shown.index], rtol=1e-12)
    off_rank = (-off.loc[shown.index, "mean"]).rank(method="min").astype(int)
    sim_rank = pd.Series([-sim.loc[labels[s], "mean"] for s in shown.index],
                         index=shown.index).rank(method="min").astype(int)
    assert list(shown["offline rank"]) == list(off_rank)
    assert list(shown["simulated rank"]) == list(sim_rank)
    best_off = sorted(off_rank[off_rank == 1].index)
    best_sim = sorted(sim_rank[sim_rank == 1].index)
    if set(best_off) & set(best_sim):
        said = [x.value for x in at.success if x.value.startswith("Offline and simulated "
                                                                  "verdicts agree")]
        assert len(said) == 1 and any(f"**{s}**" in said[0] for s in best_off)
    else:
        said = [w.value for w in at.warning if w.value.startswith("Offline and simulated "
                                                                  "verdicts disagree")]
        assert len(said) == 1, [w.value for w in at.warning]
        # which strategy wins offline, which in simulation, and how far apart they are
        assert f"offline, **{best_off[0]}**" in said[0]
        assert f"in simulation, **{best_sim[0]}**" in said[0]
        assert "minus" in said[0] and "interval" in said[0]


def test_offline_vs_simulated_view_and_what_the_study_shows():
    """The default simulation crosses the strategies with three messaging policies; the tab
    says in words what that shows (the best strategy per policy, each policy's change, with
    intervals) and sets the offline and simulated verdicts side by side."""
    at = _app(strategies="popularity,friend_endorsements,trust", n_users="160", n_items="70",
              sim="1", sim_days="4", sim_reps="2")
    _ok(at)
    assert at.multiselect(key="messaging").value == ["none", "timed", "spammer"]
    strategies = ["popularity", "friend_endorsements", "trust"]
    base = hr.sim.SimulationConfig(n_users=160, n_items=70, days=4, seed=3,
                                   world={"homophily": 0.85})
    configs = {f"{s}/{p}": {"strategy": s, "messaging": p}
               for s in strategies for p in ("none", "timed", "spammer")}
    lib = hr.sim.compare(configs, replicates=2, base=base)
    shows = [m.value for m in at.markdown if m.value.startswith("**What this study shows.**")]
    assert len(shows) == 1
    s = lib.summary[lib.summary["metric"] == "orders"].set_index("config")
    for p in ("none", "timed", "spammer"):
        rows = s.loc[[f"{x}/{p}" for x in strategies]]
        top = rows.index[int(np.argmax(rows["mean"].to_numpy()))]
        assert (f"under `{p}` messaging it is {top.split('/')[0]}, {rows.loc[top, 'mean']:,.1f} "
                f"(95% interval {rows.loc[top, 'ci_low']:,.1f} to "
                f"{rows.loc[top, 'ci_high']:,.1f})") in shows[0]
    for p in ("timed", "spammer"):
        assert f"`{p}` messaging changes orders by" in shows[0]
    ds = _world(n_users=160, n_items=70)
    train, test = hr.split.random_split(ds, test_fraction=0.2, seed=0)
    per_user = {x: hr.evaluation.evaluate(x, train, test, k=(20,), per_user=True)[1]
                for x in strategies}
    _assert_side_by_side(at, per_user, lib.summary, {x: f"{x}/none" for x in strategies})
    assert any("Offline: NDCG@20 on the sidebar world's 80/20 split" in c.value
               for c in at.caption)


def test_offline_vs_simulated_view_failing_is_a_message_not_a_crash(monkeypatch):
    import scipy.stats

    def broken(*args, **kwargs):
        raise RuntimeError("tau exploded")

    monkeypatch.setattr(scipy.stats, "kendalltau", broken)
    at = _app(strategies="popularity,trust", n_users="130", n_items="50", sim="1",
              sim_days="3", sim_reps="2", messaging="none")
    assert not at.exception
    assert any("offline vs simulated verdicts view could not be drawn" in e.value
               and "tau exploded" in e.value for e in at.error)
    # the rest of the simulation tab still renders
    assert len([d for d in at.dataframe if "orders ci_low" in d.value]) == 1


def test_simulation_paired_differences_toggle():
    at = _app(strategies="popularity,trust", sim="1", n_users="120", n_items="50",
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
    cmp = hr.sim.compare(["popularity", "trust"], replicates=3, base=base, keep_daily=True)
    return base, report.SimStudy.from_comparison(cmp)


def test_study_formats_sim_compare_and_keeps_the_days(study):
    base, st = study
    lib = hr.sim.compare(["popularity", "trust"], replicates=3, base=base)
    assert lib.daily is None
    pd.testing.assert_frame_equal(st.summary, lib.summary)
    pd.testing.assert_frame_equal(st.runs, lib.runs)
    assert len(st.daily) == 2 * 3 * 4
    assert list(st.daily.columns[:3]) == ["config", "replicate", "seed"]
    with pytest.raises(ValueError, match="keep_daily=True"):
        report.SimStudy.from_comparison(lib)
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


# ------------------------------------------------------------------------------------------
# haowurank.verdict: the verdict layer the dashboard shows
# ------------------------------------------------------------------------------------------

def test_offline_verdict_is_a_paired_bootstrap_over_users():
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 1, 300)
    per_user = {
        "base": pd.DataFrame({"user": range(300), "NDCG@10": base}),
        "better": pd.DataFrame({"user": range(300)[::-1], "NDCG@10": (base + 0.1)[::-1]}),
        "same": pd.DataFrame({"user": range(300), "NDCG@10": base + rng.normal(0, 1e-3, 300)}),
    }
    v = verdict.offline_verdict(per_user, "NDCG@10", baseline="base", n_resamples=500)
    row = v.set_index("strategy")
    assert row.loc["better", "diff"] == pytest.approx(0.1)
    # paired: every resample moves both means together, so the difference is exactly 0.1
    assert row.loc["better", "diff_ci_low"] == pytest.approx(0.1)
    assert row.loc["better", "excludes_zero"] and not row.loc["base", "excludes_zero"]
    assert row.loc["better", "change_pct"] == pytest.approx(100 * 0.1 / base.mean())
    assert row.loc["base", "ci_low"] < base.mean() < row.loc["base", "ci_high"]
    assert verdict.best(v)["strategy"] == "better"
    assert verdict.best(v, "Gini@10")["strategy"] == "base"  # lower is better there
    assert verdict.bootstrap_mean_ci(base, n_resamples=500)[1] == pytest.approx(
        row.loc["base", "ci_low"], abs=0.02)
    with pytest.raises(ValueError, match="'baseline' parameter of offline_verdict"):
        verdict.offline_verdict(per_user, "NDCG@10", baseline="nope")
    with pytest.raises(KeyError, match="lacks the columns"):
        verdict.offline_verdict(per_user, "NDCG@20", baseline="base")


def test_sim_verdict_follows_the_comparison_summary(study):
    _, st = study
    v = verdict.sim_verdict(st.summary, "orders")
    s = st.summary[st.summary["metric"] == "orders"].set_index("config")
    assert list(v["strategy"]) == ["popularity", "trust"]
    np.testing.assert_allclose(v["diff"], s.loc[["popularity", "trust"], "diff"])
    assert v["change_pct"].iloc[1] == pytest.approx(
        100 * s.loc["trust", "diff"] / s.loc["popularity", "mean"])
    with pytest.raises(KeyError, match="no metric 'nope'"):
        verdict.sim_verdict(st.summary, "nope")


def test_labels_glossary_and_ranges():
    assert verdict.label("NDCG@20") == "ranking accuracy (NDCG@20)"
    assert verdict.label("cold_Recall@5").endswith("short histories (Recall@5)")
    assert verdict.label("no_such") == "no_such"
    assert not verdict.higher_is_better("MerchantGini@20") and verdict.higher_is_better("gmv")
    g = verdict.glossary_table(["NDCG@20", "Gini@20", "unknown"])
    assert list(g["better"]) == ["higher", "lower"]
    assert verdict.valid_range("repurchase_rate") == (0.0, 1.0)
    assert verdict.valid_range("orders")[0] == 0.0
