"""haowurank dashboard: compare ranking strategies offline, in simulation, and for one user.

Run ``make dashboard`` (or ``streamlit run apps/dashboard.py``). It opens on the embedded
synthetic world with no set-up. This file only presents: datasets, evaluation, simulation, feeds
and search all come from the library (``haowurank`` and ``haowurank.report``), cached with
``st.cache_resource`` (datasets, fitted rankers, indices) and ``st.cache_data`` (tables).

The view lives in the URL query parameters (world, knobs, strategies, k, user, the two
strategies of the inspector, the search text, simulation settings), so a link reproduces it.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import streamlit as st

import haowurank as hr
from haowurank import report

st.set_page_config(page_title="haowurank: social-trust ranking", page_icon="🤝", layout="wide")

SYNTHETIC = "synthetic"
ALL_STRATEGIES = hr.rankers.available()
CHEAP = [s for s in ("popularity", "friend_endorsements", "trust") if s in ALL_STRATEGIES]
POLICIES = list(hr.sim.POLICIES)


def _strategies(raw: str) -> list[str]:
    got = [s for s in raw.split(",") if s in ALL_STRATEGIES]
    if not got:
        raise ValueError(raw)
    return list(dict.fromkeys(got))


def _policies(raw: str) -> list[str]:
    got = [s for s in raw.split(",") if s in POLICIES]
    if not got:
        raise ValueError(raw)
    return list(dict.fromkeys(got))


def _bounded(lo: float, hi: float, kind=int):
    def parse(raw: str):
        v = kind(raw)
        if not lo <= v <= hi:
            raise ValueError(raw)
        return v
    return parse


def _choice(options):
    def parse(raw: str):
        for o in options:
            if str(o) == raw:
                return o
        raise ValueError(raw)
    return parse


# key -> (default, parser of the query-parameter text, encoder back to text)
VIEW: dict[str, tuple[Any, Any, Any]] = {
    "world": (SYNTHETIC, str, str),
    "n_users": (2000, _bounded(50, 200_000), str),
    "n_items": (1000, _bounded(20, 100_000), str),
    "seed": (0, _bounded(0, 2**31 - 1), str),
    "homophily": (0.85, _bounded(0.0, 1.0, float), str),
    "k_core": (0, _bounded(0, 100), str),
    "strategies": (CHEAP, _strategies, ",".join),
    "k": (20, _choice([5, 10, 20, 50]), str),
    "user": ("", str, str),
    "a": (CHEAP[0], _choice(ALL_STRATEGIES), str),
    "b": (CHEAP[-1], _choice(ALL_STRATEGIES), str),
    "q": ("", str, str),
    "sim_users": (1000, _bounded(50, 50_000), str),
    "sim_items": (500, _bounded(20, 20_000), str),
    "sim_days": (30, _bounded(1, 365), str),
    "sim_reps": (3, _bounded(1, 20), str),
    "messaging": (["none"], _policies, ",".join),
    "sim": (False, lambda raw: raw == "1", lambda v: "1" if v else "0"),
}


def init_view() -> None:
    """Fill session state from the URL once per session (bad values fall back to defaults).

    Later runs only restore defaults of keys Streamlit dropped with a widget that was not drawn
    (e.g. the synthetic knobs while a real data set is shown).
    """
    if st.session_state.get("_view_ready"):
        for key, (default, _, _) in VIEW.items():
            if key not in st.session_state:
                st.session_state[key] = default
        return
    qp = st.query_params
    for key, (default, parse, _) in VIEW.items():
        raw = qp.get(key)
        try:
            value = parse(raw) if raw is not None else default
        except (TypeError, ValueError):
            value = default
        st.session_state[key] = value
    st.session_state["_view_ready"] = True


def share_view() -> None:
    """Write the current view into the URL query parameters."""
    out = {}
    for key, (default, _, encode) in VIEW.items():
        v = st.session_state.get(key, default)
        if key == "world" or v != default:
            out[key] = encode(v)
    if dict(st.query_params) != out:
        st.query_params.from_dict(out)


# ------------------------------------------------------------------------------------------
# cached library calls (the world key is a plain tuple, so every cache is keyed by value)
# ------------------------------------------------------------------------------------------

def world_key() -> tuple:
    s = st.session_state
    if s["world"] == SYNTHETIC:
        return (SYNTHETIC, s["n_users"], s["n_items"], s["seed"], s["homophily"], s["k_core"])
    return (s["world"], 0, 0, 0, 0.0, s["k_core"])


@st.cache_resource(show_spinner="Building the world...", max_entries=4)
def get_world(wkey: tuple) -> hr.Dataset:
    world, n_users, n_items, seed, homophily, k_core = wkey
    if world == SYNTHETIC:
        return report.load_world(SYNTHETIC, n_users=n_users, n_items=n_items, seed=seed,
                                 homophily=homophily, k_core=k_core)
    return report.load_world(world, k_core=k_core)


@st.cache_resource(show_spinner="Splitting 80/20 per user...", max_entries=4)
def get_split(wkey: tuple):
    return hr.split.random_split(get_world(wkey), test_fraction=0.2, seed=0)


@st.cache_data(show_spinner=False, max_entries=64)
def offline_one(wkey: tuple, strategy: str, k: int):
    train, test = get_split(wkey)
    table, per_user = report.offline_comparison([strategy], train, test, k=(k,), per_user=True)
    return table, per_user[strategy]


@st.cache_resource(show_spinner=False, max_entries=16)
def fitted(wkey: tuple, strategy: str):
    return hr.rankers.make(strategy).fit(get_world(wkey))


@st.cache_resource(show_spinner="Indexing the catalogue for search...", max_entries=4)
def search_index(wkey: tuple):
    return hr.search.SearchIndex(get_world(wkey))


@st.cache_resource(show_spinner=False, max_entries=4)
def feed_index(wkey: tuple):
    return hr.feed.FeedIndex(get_world(wkey))


@st.cache_data(show_spinner=False, max_entries=8)
def users_to_inspect(wkey: tuple) -> pd.DataFrame:
    return report.interesting_users(get_world(wkey), n=50)


@st.cache_resource(show_spinner=False)
def simulation_store() -> dict:
    """Finished simulation studies of this server process, keyed by their settings.

    (Not ``st.cache_data`` on the simulation itself: its progress bar is drawn from the library's
    callback while it runs, and cached functions may not draw into outside elements.)
    """
    return {}


def simulation(base: hr.sim.SimulationConfig, configs: dict, replicates: int, progress):
    key = json.dumps([base.to_dict(), configs, replicates], sort_keys=True)
    store = simulation_store()
    if key not in store:
        store[key] = report.simulate(configs, replicates=replicates, base=base,
                                     callback=progress)
        while len(store) > 8:  # keep the 8 most recent
            store.pop(next(iter(store)))
    return store[key]


# ------------------------------------------------------------------------------------------
# charts (plain Vega-Lite specs: no altair import, which costs seconds on a cold start)
# ------------------------------------------------------------------------------------------

def _color(field: str, domain: list[str]) -> dict:
    return {"field": field, "type": "nominal", "sort": domain, "scale": {"domain": domain},
            "title": None, "legend": {"orient": "bottom", "columns": 3}}


def grouped_bars(title: str, domain: list[str]) -> dict:
    return {
        "title": title,
        "height": 260,
        "mark": {"type": "bar", "tooltip": True},
        "encoding": {
            "x": {"field": "metric", "type": "nominal", "title": None,
                  "axis": {"labelAngle": -20, "labelLimit": 140}},
            "xOffset": {"field": "strategy", "type": "nominal", "sort": domain},
            "y": {"field": "value", "type": "quantitative", "title": None},
            "color": _color("strategy", domain),
        },
    }


def line_chart(title: str, x: str, x_sort: list[str], y: str, domain: list[str]) -> dict:
    return {
        "title": title,
        "height": 260,
        "mark": {"type": "line", "point": True, "tooltip": True},
        "encoding": {
            "x": {"field": x, "type": "nominal", "sort": x_sort, "title": "training items",
                  "axis": {"labelAngle": 0}},
            "y": {"field": y, "type": "quantitative", "title": y},
            "color": _color("strategy", domain),
        },
    }


#: Fixed colours (Tableau 10) for the simulation configs, so one key serves every chart.
PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
           "#ff9da7", "#9c755f", "#bab0ac"]


def config_colors(configs: list[str]) -> dict[str, str]:
    return {c: PALETTE[j % len(PALETTE)] for j, c in enumerate(configs)}


def band_chart(metric: str, configs: list[str], level: float, shown: list[str]) -> dict:
    """Mean line and interval band per config; colours fixed by the order of ``configs``."""
    x = {"field": "day", "type": "quantitative", "title": "day"}
    colors = {c: v for c, v in config_colors(configs).items() if c in shown}
    color = {"field": "config", "type": "nominal", "legend": None,
             "scale": {"domain": list(colors), "range": list(colors.values())}}
    return {
        "title": metric,
        "height": 220,
        "layer": [
            {"mark": {"type": "area", "opacity": 0.2},
             "encoding": {"x": x, "color": color,
                          "y": {"field": "ci_low", "type": "quantitative", "title": None},
                          "y2": {"field": "ci_high"}}},
            {"mark": {"type": "line"},
             "encoding": {
                 "x": x, "color": color,
                 "y": {"field": "mean", "type": "quantitative"},
                 "tooltip": [
                     {"field": "config"}, {"field": "day"},
                     {"field": "mean", "format": ".4g"},
                     {"field": "ci_low", "format": ".4g", "title": f"{level:.0%} low"},
                     {"field": "ci_high", "format": ".4g", "title": f"{level:.0%} high"},
                 ]}},
        ],
    }


NUM = st.column_config.NumberColumn
FEED_FIRST = ["rank", "title", "explanation", "endorsers", "merchant", "score"]
SEARCH_FIRST = ["rank", "title", "explanation", "score", "search_rank", "n_friend_recommenders"]


def first_columns(frame: pd.DataFrame, first: list[str]) -> list[str]:
    """Show the columns people read first (explanations before ids), then the rest."""
    if "title" not in frame:  # data without titles (Ciao, Epinions): the id and category
        first = [first[0], "item", "category", *first[1:]]
    head = [c for c in first if c in frame]
    return head + [c for c in frame.columns if c not in head]


def number_columns(frame: pd.DataFrame) -> dict:
    cfg = {}
    for c in frame.columns:
        if c in ("users", "cold_users", "n", "replicate", "seed", "rank", "search_rank",
                 "n_recommenders", "n_friend_recommenders", "history"):
            continue
        if pd.api.types.is_float_dtype(frame[c]):
            fmt = "%.2f" if c.endswith("_s") else ("%.0f" if "users_per_s" in c else "%.4f")
            cfg[c] = NUM(c, format=fmt)
    return cfg


# ------------------------------------------------------------------------------------------
# page
# ------------------------------------------------------------------------------------------

init_view()
S = st.session_state

with st.sidebar:
    st.header("World")
    kind = st.radio("Data", ["Synthetic world", "Real data set folder"], key="world_kind",
                    index=0 if S["world"] == SYNTHETIC else 1, horizontal=True)
    if kind == "Synthetic world":
        S["world"] = SYNTHETIC
        st.number_input("Users", 50, 200_000, step=500, key="n_users")
        st.number_input("Items", 20, 100_000, step=250, key="n_items")
        st.number_input("Seed", 0, 2**31 - 1, step=1, key="seed")
        st.slider("Homophily (share of friendships inside a taste community)", 0.0, 1.0,
                  step=0.05, key="homophily")
    else:
        root = report.data_root()
        found = sorted(p.name for p in root.glob("*") if p.is_dir()) if root.is_dir() else []
        if S["world"] == SYNTHETIC:
            S["world"] = str(root / "lastfm-hetrec2011") if "lastfm-hetrec2011" in found else ""
        st.text_input("Data set folder (the loader is chosen by its name)", key="world")
        if found:
            st.caption(f"Folders in {root}: " + ", ".join(found))
    st.number_input("k-core (0: keep everything; 5 for Ciao / Epinions)", 0, 100, key="k_core")
    st.header("Strategies")
    st.multiselect("Strategies to compare", ALL_STRATEGIES, key="strategies")
    st.selectbox("List length k", [5, 10, 20, 50], key="k")
    st.caption("Cheap strategies: popularity, friend_endorsements, trust. Matrix factorisation "
               "(als, bpr, social_als) and ease take seconds more on larger worlds.")

st.title("haowurank: friends' good things, ranked")

wkey = world_key()
try:
    ds = get_world(wkey)
except (FileNotFoundError, ValueError, KeyError, TypeError) as exc:
    st.error(f"Could not load the world {S['world']!r}: {exc}")
    share_view()
    st.stop()

n_endorse = int(ds.kind_mask(list(hr.ENDORSEMENT_KINDS)).sum())
st.caption(
    f"**{ds.meta.get('name', 'world')}**: {ds.n_users:,} users, {ds.n_items:,} "
    f"items, {ds.n_interactions:,} interactions ({n_endorse:,} endorsements), "
    f"{ds.n_social:,} follow rows. Offline protocol: per-user random 80/20 split (seed 0), full "
    f"ranking over training items, each user's training items excluded."
)

strategies: list[str] = list(S["strategies"])
k = int(S["k"])
tab_off, tab_sim, tab_user = st.tabs(
    ["Offline comparison", "Simulation over time", "One user: feed and search"]
)

# ---------------------------------------------------------------- offline comparison
with tab_off:
    if not strategies:
        st.info("Choose at least one strategy in the sidebar.")
    else:
        prog = st.progress(0.0, text="Evaluating...")
        tables, per_user = [], {}
        for j, s in enumerate(strategies):
            prog.progress(j / len(strategies), text=f"Evaluating {s}...")
            t, pu = offline_one(wkey, s, k)
            tables.append(t)
            per_user[s] = pu
        prog.empty()
        full = pd.concat(tables, ignore_index=True)
        shown = report.offline_table(full, k)
        st.subheader(f"Offline comparison at k = {k}")
        st.dataframe(shown, hide_index=True, column_config=number_columns(shown),
                     width="stretch")
        long = report.offline_long(full, k)
        c1, c2, c3 = st.columns(3)
        for col, panel, title in ((c1, "accuracy", "Accuracy (all test users)"),
                                  (c2, "cold start", f"Cold-start users (<= 5 training items: "
                                   f"{int(full['cold_users'].iloc[0]):,})"),
                                  (c3, "distribution", "Coverage and exposure Gini")):
            part = long[long["panel"] == panel]
            if len(part):
                col.vega_lite_chart(part, grouped_bars(title, strategies), width="stretch")
        curve = report.cold_start_curve(per_user, k, min_users=10)
        if len(curve):
            order = list(dict.fromkeys(curve["history"]))
            st.vega_lite_chart(
                curve,
                line_chart(f"NDCG@{k} by length of the training history (groups of >= 10 "
                           f"test users)", "history", order, f"NDCG@{k}", strategies),
                width="stretch",
            )
        st.download_button("Download the offline table (CSV)", report.to_csv_bytes(full),
                           file_name="haowurank_offline.csv", mime="text/csv", key="dl_offline")

# ---------------------------------------------------------------- one user
search_slot = None
with tab_user:
    st.subheader("One user's friends' feed and search, under two strategies")
    cand = users_to_inspect(wkey)
    options = [str(u) for u in cand["user"]]
    by_text = {str(u): u for u in cand["user"]}
    if S["user"] and S["user"] not in by_text:
        pos = pd.Index(ds.user_ids.astype(str)).get_indexer([S["user"]])[0]
        if pos >= 0:  # a user from the URL who is not among the suggested ones
            options.insert(0, S["user"])
            by_text[S["user"]] = ds.user_ids[pos]
    if not options:
        st.info("This world has no users.")
    else:
        if S["user"] not in by_text:
            S["user"] = options[0]
        c1, c2, c3 = st.columns([2, 1, 1])
        c1.selectbox("User (most visible friends' endorsements first)", options, key="user")
        c2.selectbox("Strategy A", ALL_STRATEGIES, key="a")
        c3.selectbox("Strategy B", ALL_STRATEGIES, key="b")
        user = by_text[S["user"]]
        row = cand[cand["user"].astype(str) == S["user"]]
        if len(row):
            r0 = row.iloc[0]
            st.caption(f"User {user} follows {int(r0['following'])} users, may see "
                       f"{int(r0['visible_endorsements'])} items their friends endorsed, and has "
                       f"{int(r0['interactions'])} interactions.")
        pair = list(dict.fromkeys([S["a"], S["b"]]))
        with st.spinner("Fitting the strategies on the whole world..."):
            rankers = {s: fitted(wkey, s) for s in pair}
        feeds = report.user_feeds(ds, rankers, user, n=10, index=feed_index(wkey))
        # a search text the app suggested follows the user and world; a typed one stays
        ctx = repr((wkey, S["user"]))
        if not S["q"] or (S.get("_q_auto") == S["q"] and S.get("_q_ctx") != ctx):
            S["q"] = report.default_query(ds, user)
            S["_q_auto"], S["_q_ctx"] = S["q"], ctx
        st.markdown("**Friends' feed**")
        cols = st.columns(len(pair))
        for col, s in zip(cols, pair):
            col.markdown(f"*{s}*")
            f = feeds[s]
            if f.empty:
                col.info("Empty: no friend of this user endorsed anything they may see.")
            else:
                col.dataframe(f, hide_index=True, column_config=number_columns(f),
                              column_order=first_columns(f, FEED_FIRST), width="stretch")
        search_slot = st.container()  # filled last: it imports and indexes the most

# ---------------------------------------------------------------- simulation
with tab_sim:
    st.subheader("Simulated comparison over time")
    st.caption(
        "Each strategy ranks feeds and search for a simulated circle of buyers, endorsers and "
        "messaging merchants. Replicates share worlds and random streams across strategies "
        "(common random numbers); bands are t-intervals across replicates. The simulation runs "
        "on a synthetic world (real data carry no ground truth)."
        + (f" Homophily follows the sidebar ({S['homophily']:.2f})." if S["world"] == SYNTHETIC
           else "")
    )
    with st.form("sim_form"):
        c1, c2, c3, c4 = st.columns(4)
        c1.number_input("Simulated users", 50, 50_000, step=250, key="sim_users")
        c2.number_input("Items", 20, 20_000, step=100, key="sim_items")
        c3.number_input("Days", 1, 365, key="sim_days")
        c4.number_input("Replicates", 1, 20, key="sim_reps")
        st.multiselect("Merchant messaging policies", POLICIES, key="messaging")
        pressed = st.form_submit_button("Run simulation", type="primary")
    if pressed:
        S["sim"] = True
    sim_slot = st.container()

# ---------------------------------------------------------------- search (after everything cheap)
if search_slot is not None:
    with search_slot:
        st.markdown("**Search**")
        st.text_input("Search text", key="q")
        cols = st.columns(len(pair))
        idx = search_index(wkey)
        hits_all = []
        for col, s in zip(cols, pair):
            col.markdown(f"*{s}* (search score blended with the strategy's score)")
            hits = (report.search_with_ranker(idx, rankers[s], S["q"], user, n=10)
                    if S["q"].strip() else pd.DataFrame())
            if hits.empty:
                col.info("No item matches this text.")
            else:
                col.dataframe(hits, hide_index=True, column_config=number_columns(hits),
                              column_order=first_columns(hits, SEARCH_FIRST), width="stretch")
                hits_all.append(hits.assign(strategy=s, list="search"))
        dl = pd.concat(
            [f.assign(strategy=s, list="feed") for s, f in feeds.items()] + hits_all,
            ignore_index=True,
        )
        st.download_button("Download this user's lists (CSV)", report.to_csv_bytes(dl),
                           file_name=f"haowurank_user_{user}.csv", mime="text/csv", key="dl_user")
# ---------------------------------------------------------------- simulation results
with sim_slot:
    if S["sim"] and strategies and S["messaging"]:
        world_knobs = {"homophily": float(S["homophily"])} if S["world"] == SYNTHETIC else {}
        base = hr.sim.SimulationConfig(
            n_users=int(S["sim_users"]), n_items=int(S["sim_items"]), days=int(S["sim_days"]),
            seed=int(S["seed"]) if S["world"] == SYNTHETIC else 0, world=world_knobs,
        )
        policies = list(S["messaging"])
        configs = {
            (s if len(policies) == 1 and policies[0] == "none" else f"{s}/{p}"):
                {"strategy": s, "messaging": p}
            for s in strategies for p in policies
        }
        bar = st.progress(0.0, text="Simulating...")
        study = simulation(base, configs, int(S["sim_reps"]),
                           lambda f, msg: bar.progress(f, text=msg))
        bar.empty()
        labels = study.configs
        groups = report.SIM_CHART_METRICS
        st.markdown(
            " &nbsp; ".join(f'<span style="color:{c}">&#9632;</span> {lab}'
                            for lab, c in config_colors(labels).items()),
            unsafe_allow_html=True,
        )
        t1, t2 = st.columns(2)
        cumulative = t1.toggle("Running totals for counts (orders, GMV, endorsements, ...)",
                               value=True, key="sim_cumulative")
        paired = t2.toggle(f"Differences to {labels[0]} (paired per replicate: sharper)",
                           value=False, key="sim_paired", disabled=len(labels) < 2)
        paired = paired and len(labels) > 1
        shown_labels = labels[1:] if paired else labels
        counts = {"orders", "gmv", "endorsements", "reshares", "messages_sent", "message_orders",
                  "complaints", "opt_outs"}
        for group, metrics in groups.items():
            st.markdown(f"**{group.capitalize()}**")
            cols = st.columns(len(metrics))
            for col, m in zip(cols, metrics):
                b = study.bands([m], cumulative=cumulative and m in counts,
                                paired_to=labels[0] if paired else None)
                col.vega_lite_chart(b, band_chart(m, labels, study.level, shown_labels),
                                    width="stretch")
        st.markdown(f"**Run totals** (mean and {study.level:.0%} interval over "
                    f"{int(S['sim_reps'])} replicates)")
        summary = study.table(report.SIM_KEY_METRICS)
        st.dataframe(summary, hide_index=True, column_config=number_columns(summary),
                     width="stretch")
        if len(labels) > 1:
            with st.expander(f"Paired differences to {labels[0]} (same worlds and random "
                             f"streams; an interval that excludes 0 is a resolved difference)"):
                diffs = study.diff_table(report.SIM_KEY_METRICS)
                st.dataframe(diffs, hide_index=True, column_config=number_columns(diffs),
                             width="stretch")
        d1, d2, d3 = st.columns(3)
        d1.download_button("Summary (CSV)", report.to_csv_bytes(study.summary),
                           file_name="haowurank_sim_summary.csv", mime="text/csv", key="dl_sim")
        d2.download_button("Daily, every replicate (CSV)", report.to_csv_bytes(study.daily),
                           file_name="haowurank_sim_daily.csv", mime="text/csv", key="dl_daily")
        d3.download_button("Runs (CSV)", report.to_csv_bytes(study.runs),
                           file_name="haowurank_sim_runs.csv", mime="text/csv", key="dl_runs")
    elif S["sim"]:
        st.info("Choose at least one strategy and one messaging policy.")
    else:
        st.info("Set the simulation up and press **Run simulation** (the defaults take a few "
                "seconds).")

share_view()
