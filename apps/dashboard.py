"""haowurank dashboard: which ranking strategy wins, by how much, offline, in simulation and for
one user.

Run ``make dashboard`` (or ``streamlit run apps/dashboard.py``). It opens on the embedded
synthetic world with no set-up. This file only presents: datasets, evaluation, simulation, feeds,
search and the verdicts (best strategy, change against a baseline, intervals) all come from the
library (``haowurank``, ``haowurank.report``, ``haowurank.verdict``).

Caching: one ``st.cache_resource`` entry per world (:class:`World`) holds the dataset together
with everything built from it (split, feed index, search index, fitted rankers), so an index can
never meet a world it was not built for; tables are ``st.cache_data`` keyed by the world's key.
Each tab renders inside its own error boundary (:func:`boundary`): a failure shows a readable
message in that tab and the other tabs still render.

The simulation tab says in sentences what its study shows (the best strategy under each
messaging policy, each policy's paired change, with intervals) and sets the offline and simulated
verdicts of the same strategies side by side, saying which strategy wins where when they disagree.

The view lives in the URL query parameters (world, knobs, strategies, baseline, k, user, the two
strategies of the inspector, the search text, simulation settings), so a link reproduces it.
"""

from __future__ import annotations

import contextlib
import html
import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

import haowurank as hr
from haowurank import report, verdict

st.set_page_config(page_title="haowurank: social-trust ranking", page_icon="🤝", layout="wide")

log = logging.getLogger("haowurank.dashboard")

SYNTHETIC = "synthetic"
ALL_STRATEGIES = hr.rankers.available()
CHEAP = [s for s in ("popularity", "friend_endorsements", "trust") if s in ALL_STRATEGIES]
POLICIES = list(hr.sim.POLICIES)
HEADLINE_OFFLINE = ("NDCG", "Recall", "HitRate")
HEADLINE_SIM = ("gmv", "orders", "endorsements", "longtail_gmv_share", "merchant_exposure_gini")
LEVEL = 0.95
N_RESAMPLES = 1000

#: One fixed colour per strategy (Tableau colours; the cheap strategies and hybrid get the most
#: distinct ones), used by every chart and legend of the page.
PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
           "#ff9da7", "#9c755f", "#bab0ac", "#17becf", "#8c564b", "#bcbd22", "#1f77b4"]
_COLOR_ORDER = [*CHEAP, "hybrid", "als", "item_knn", "ease", "social_als", "bpr", "rp3beta",
                "sbpr"]
STRATEGY_COLORS = {s: PALETTE[j % len(PALETTE)] for j, s in enumerate(
    dict.fromkeys([s for s in _COLOR_ORDER if s in ALL_STRATEGIES] + ALL_STRATEGIES))}
BADGES = {"recommend": "推荐", "recommend_after_purchase": "购买后推荐"}


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
    "baseline": (CHEAP[0], _choice(ALL_STRATEGIES), str),
    "k": (20, _choice([5, 10, 20, 50]), str),
    "metric": ("NDCG", _choice(HEADLINE_OFFLINE), str),
    "user": ("", str, str),
    "a": (CHEAP[0], _choice(ALL_STRATEGIES), str),
    "b": (CHEAP[-1], _choice(ALL_STRATEGIES), str),
    "q": ("", str, str),
    "sim_users": (1000, _bounded(50, 50_000), str),
    "sim_items": (500, _bounded(20, 20_000), str),
    "sim_days": (30, _bounded(1, 365), str),
    "sim_reps": (3, _bounded(1, 20), str),
    "messaging": (["none", "timed", "spammer"], _policies, ",".join),
    "sim_metric": ("orders", _choice(HEADLINE_SIM), str),
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


@contextlib.contextmanager
def boundary(what: str) -> Iterator[None]:
    """Render one part of the page; an error becomes a readable message in that part only.

    Streamlit's own control flow (``st.stop``, reruns) derives from ``BaseException`` and passes
    through. The traceback goes to the log, not to the page.
    """
    try:
        yield
    except Exception as exc:
        log.exception("dashboard: the %s view failed", what)
        st.error(
            f"The {what} view could not be drawn: {type(exc).__name__}: {exc}. "
            f"The other views still work; change a setting or reload the page to try again."
        )


# ------------------------------------------------------------------------------------------
# one cache entry per world: the dataset and everything built from it
# ------------------------------------------------------------------------------------------

def world_key() -> tuple:
    s = st.session_state
    if s["world"] == SYNTHETIC:
        return (SYNTHETIC, s["n_users"], s["n_items"], s["seed"], s["homophily"], s["k_core"])
    return (s["world"], 0, 0, 0, 0.0, s["k_core"])


class World:
    """A dataset with its split, feed and search indices and fitted rankers, built on first use.

    Everything here is derived from ``self.ds`` and lives in the same cache entry, so evicting
    the world evicts them too (no index outlives the dataset it was built for). A lock makes
    concurrent sessions build each part once.
    """

    def __init__(self, key: tuple) -> None:
        world, n_users, n_items, seed, homophily, k_core = key
        self.key = key
        if world == SYNTHETIC:
            self.ds = report.load_world(SYNTHETIC, n_users=n_users, n_items=n_items, seed=seed,
                                        homophily=homophily, k_core=k_core)
        else:
            self.ds = report.load_world(world, k_core=k_core)
        self._lock = threading.RLock()
        self._parts: dict[Any, Any] = {}

    def _part(self, name: Any, build) -> Any:
        with self._lock:
            if name not in self._parts:
                self._parts[name] = build()
            return self._parts[name]

    def split(self) -> tuple[hr.Dataset, hr.Dataset]:
        return self._part("split", lambda: hr.split.random_split(self.ds, test_fraction=0.2,
                                                                 seed=0))

    def feed_index(self) -> Any:
        return self._part("feed_index", lambda: hr.feed.FeedIndex(self.ds))

    def search_index(self) -> hr.search.SearchIndex:
        return self._part("search_index", lambda: hr.search.SearchIndex(self.ds))

    def ranker(self, strategy: str) -> Any:
        return self._part(("ranker", strategy), lambda: hr.rankers.make(strategy).fit(self.ds))

    def users(self) -> pd.DataFrame:
        return self._part("users", lambda: report.interesting_users(self.ds, n=50))

    @property
    def n_endorsements(self) -> int:
        return self._part("n_endorse",
                          lambda: int(self.ds.kind_mask(list(hr.ENDORSEMENT_KINDS)).sum()))


@st.cache_resource(show_spinner="Building the world...", max_entries=4)
def get_world(wkey: tuple) -> World:
    return World(wkey)


@st.cache_data(show_spinner=False, max_entries=64)
def offline_one(wkey: tuple, strategy: str, k: int):
    """One strategy's evaluation row and per-user frame on the world's 80/20 split."""
    train, test = get_world(wkey).split()
    row, per_user = hr.evaluation.evaluate(strategy, train, test, k=(k,), per_user=True)
    return pd.DataFrame([row]), per_user


@st.cache_data(show_spinner=False, max_entries=64)
def offline_catalogue(wkey: tuple, strategies: tuple, k: int) -> pd.DataFrame:
    """Coverage, Gini and MerchantGini at ``k`` with the library's intervals, one row per
    strategy and metric (:func:`haowurank.evaluation.catalogue_intervals`)."""
    train, _ = get_world(wkey).split()
    parts = []
    for s in strategies:
        ci = hr.evaluation.catalogue_intervals(offline_one(wkey, s, k)[1], train, k=k,
                                               level=LEVEL, n_resamples=N_RESAMPLES, seed=0)
        parts.append(ci.assign(strategy=s))
    return pd.concat(parts, ignore_index=True)


@st.cache_data(show_spinner=False, max_entries=64)
def offline_verdict(wkey: tuple, strategies: tuple, k: int, metric: str, baseline: str):
    per_user = {s: offline_one(wkey, s, k)[1] for s in strategies}
    return verdict.offline_verdict(per_user, metric, baseline=baseline, level=LEVEL,
                                   n_resamples=N_RESAMPLES, seed=0)


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
        n_runs = max(1, len(configs) * replicates)
        done = []

        def on_run(label: str, replicate: int, _summary: dict) -> None:
            done.append(label)
            if progress is not None:
                progress(min(1.0, len(done) / n_runs),
                         f"{label}: replicate {replicate + 1}/{replicates}")

        cmp = hr.sim.compare(configs, replicates=replicates, base=base, keep_daily=True,
                             callback=on_run)
        store[key] = report.SimStudy.from_comparison(cmp)
        while len(store) > 8:  # keep the 8 most recent
            store.pop(next(iter(store)))
    return store[key]


# ------------------------------------------------------------------------------------------
# charts (plain Vega-Lite specs: no altair import, which costs seconds on a cold start)
# ------------------------------------------------------------------------------------------

def strategy_color(names: list[str], field: str = "strategy", legend: bool = True) -> dict:
    """Colour encoding with each strategy's fixed colour."""
    names = list(dict.fromkeys(names))
    enc = {"field": field, "type": "nominal", "title": None, "sort": names,
           "scale": {"domain": names, "range": [STRATEGY_COLORS.get(n, "#888888")
                                                for n in names]}}
    enc["legend"] = {"orient": "bottom", "columns": 4} if legend else None
    return enc


def forest_chart(frame: pd.DataFrame, *, y: str, x: str, lo: str, hi: str, x_title: str,
                 title: str, names: list[str], y_sort: list[str], zero: bool = True,
                 offset: str | None = None) -> dict:
    """Point and interval per row (a forest plot), coloured by strategy, with a rule at 0."""
    enc_y = {"field": y, "type": "nominal", "sort": y_sort, "title": None,
             "axis": {"labelLimit": 260}}
    base = {"y": enc_y, "color": strategy_color(names)}
    if offset:
        base["yOffset"] = {"field": offset, "type": "nominal"}
    tooltip = [{"field": y}, {"field": "config" if offset else "strategy"},
               {"field": x, "format": ".4g", "title": "estimate"},
               {"field": lo, "format": ".4g", "title": f"{LEVEL:.0%} low"},
               {"field": hi, "format": ".4g", "title": f"{LEVEL:.0%} high"}]
    layers = [
        {"mark": {"type": "rule", "strokeWidth": 2},
         "encoding": {**base, "x": {"field": lo, "type": "quantitative", "title": x_title},
                      "x2": {"field": hi}}},
        {"mark": {"type": "point", "filled": True, "size": 80},
         "encoding": {**base, "x": {"field": x, "type": "quantitative"}, "tooltip": tooltip}},
    ]
    if zero:
        layers.append({"mark": {"type": "rule", "color": "#555", "strokeDash": [4, 4]},
                       "encoding": {"x": {"datum": 0}}})
    step = 14 * frame[offset].nunique() + 8 if offset else 28
    return {"title": title, "height": {"step": step}, "layer": layers}


def bar_chart(frame: pd.DataFrame, metric: str, names: list[str]) -> dict:
    better = "higher" if verdict.higher_is_better(metric) else "lower"
    return {
        "title": {"text": verdict.label(metric), "subtitle": f"{better} is better"},
        "height": {"step": 22},
        "mark": {"type": "bar", "tooltip": True},
        "encoding": {
            "y": {"field": "strategy", "type": "nominal", "sort": names, "title": None,
                  "axis": {"labelLimit": 200}},
            "x": {"field": metric, "type": "quantitative", "title": None},
            "color": strategy_color(names, legend=False),
        },
    }


def line_chart(title: str | dict, x: str, x_sort: list[str], y: str, names: list[str]) -> dict:
    return {
        "title": title,
        "height": 260,
        "mark": {"type": "line", "point": True, "tooltip": True},
        "encoding": {
            "x": {"field": x, "type": "nominal", "sort": x_sort, "title": "training items",
                  "axis": {"labelAngle": 0}},
            "y": {"field": y, "type": "quantitative", "title": y},
            "color": strategy_color(names),
        },
    }


def band_chart(metric: str, names: list[str], facet: bool, dashed: bool) -> dict:
    """Mean line and interval band per config, coloured by strategy (dashed by messaging policy
    when there are several), one small chart per config when ``facet``."""
    x = {"field": "day", "type": "quantitative", "title": "day"}
    color = strategy_color(names, legend=not facet)
    extra = {"strokeDash": {"field": "policy", "type": "nominal", "title": "messaging"}} \
        if dashed else {}
    layer = [
        {"mark": {"type": "area", "opacity": 0.2},
         "encoding": {"x": x, "color": color, "detail": {"field": "config"},
                      "y": {"field": "ci_low", "type": "quantitative", "title": None},
                      "y2": {"field": "ci_high"}}},
        {"mark": {"type": "line"},
         "encoding": {
             "x": x, "color": color, "detail": {"field": "config"}, **extra,
             "y": {"field": "mean", "type": "quantitative"},
             "tooltip": [
                 {"field": "config"}, {"field": "day"},
                 {"field": "mean", "format": ".4g"},
                 {"field": "ci_low", "format": ".4g", "title": f"{LEVEL:.0%} low"},
                 {"field": "ci_high", "format": ".4g", "title": f"{LEVEL:.0%} high"},
             ]}},
    ]
    title = verdict.label(metric)
    if facet:
        return {"title": title, "facet": {"field": "config", "type": "nominal", "title": None},
                "columns": 3, "spec": {"height": 120, "width": 220, "layer": layer}}
    return {"title": title, "height": 220, "layer": layer}


def wrap_css() -> None:
    """Feed cards wrap inside their column (no horizontal scrolling); CJK text gets a CJK-capable
    font stack."""
    st.markdown(
        """<style>
        .hw-card {border: 1px solid #ddd; border-radius: 6px; padding: 6px 10px; margin: 4px 0;
                  overflow-wrap: anywhere; white-space: normal;
                  font-family: "Source Sans Pro", "Source Sans 3", "Noto Sans CJK SC",
                               "Noto Sans SC", "WenQuanYi Micro Hei", sans-serif;}
        .hw-badge {display: inline-block; background: #fdecea; color: #a61b1b; border-radius: 4px;
                   padding: 0 6px; margin-right: 4px; font-size: 0.85em;}
        .hw-badge.after {background: #e6f4ea; color: #1e6b34;}
        .hw-moved {display: inline-block; border-radius: 4px; padding: 0 6px; font-size: 0.8em;
                   background: #eef; color: #334; margin-left: 4px;}
        .hw-small {color: #555; font-size: 0.85em;}
        </style>""",
        unsafe_allow_html=True,
    )


def _kind_name(kind: Any) -> str:
    return str(getattr(kind, "value", kind))


def feed_card(row: Any, moved: str, shown_endorsers: int = 5) -> str:
    """One feed entry as HTML: rank and title, 推荐 / 购买后推荐 badges with counts, what moved
    against the other strategy, the endorsers by name and the explanation."""
    title = row.get("title") if isinstance(row.get("title"), str) and row.get("title") else None
    category = row.get("category") if isinstance(row.get("category"), str) else None
    head = html.escape(title or f"item {row['item']}" + (f" ({category})" if category else ""))
    kinds = [_kind_name(k) for k in row["kinds"]]
    badges = "".join(
        f'<span class="hw-badge{" after" if kind == "recommend_after_purchase" else ""}">'
        f"{badge} ×{kinds.count(kind)}</span>"
        for kind, badge in BADGES.items() if kinds.count(kind)
    )
    names = [str(e) for e in row["endorsers"]]
    who = ", ".join(html.escape(n) for n in names[:shown_endorsers])
    if len(names) > shown_endorsers:
        who += f" and {len(names) - shown_endorsers} more"
    mark = f'<span class="hw-moved">{html.escape(moved)}</span>' if moved else ""
    return (
        f'<div class="hw-card"><b>{int(row["rank"])}. {head}</b>{mark}<br>{badges}'
        f'<span class="hw-small">endorsed by {who}</span><br>'
        f'<span class="hw-small">{html.escape(str(row["explanation"]))}</span></div>'
    )


def moved_marks(items: list[Any], other: list[Any], other_name: str) -> list[str]:
    """Per entry: how its rank differs from the other strategy's list ("new" when absent)."""
    pos = {it: j for j, it in enumerate(other)}
    out = []
    for j, it in enumerate(items):
        if it not in pos:
            out.append(f"not in {other_name}")
        elif pos[it] > j:
            out.append(f"▲ {pos[it] - j} vs {other_name}")
        elif pos[it] < j:
            out.append(f"▼ {j - pos[it]} vs {other_name}")
        else:
            out.append("")
    return out


def fmt_pct(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{x:+.1f}%"


def kpi_cards(table: pd.DataFrame, metric: str, baseline: str, unit: str) -> pd.Series:
    """The four verdict cards: best strategy, change against the baseline, its interval, and
    whether that interval excludes zero. Returns the best row."""
    top = verdict.best(table, metric)
    better = "higher" if verdict.higher_is_better(metric) else "lower"
    c1, c2 = st.columns(2)  # two by two: long strategy names stay readable
    c3, c4 = st.columns(2)
    c1.metric("Best strategy", str(top["strategy"]),
              help=f"Best {verdict.label(metric)} ({better} is better): {top['mean']:.4g}.")
    shown = top
    if top["strategy"] == baseline:  # the runner-up's change says by how much the baseline wins
        rest = table[table["strategy"] != baseline]
        shown = verdict.best(rest, metric) if len(rest) else top
    who = "" if shown is top else f"next best, {shown['strategy']}: "
    c2.metric(f"Change vs {baseline}", who + fmt_pct(shown["change_pct"]),
              help=f"{shown['strategy']} against the baseline {baseline}, in percent of the "
                   f"baseline's mean.")
    c3.metric(f"{LEVEL:.0%} interval of the change",
              f"{fmt_pct(shown['change_ci_low_pct'])} to {fmt_pct(shown['change_ci_high_pct'])}",
              help=f"Paired interval over {int(shown['users'])} {unit}.")
    c4.metric("Interval excludes zero", "yes" if shown["excludes_zero"] else "no",
              help="Yes: the difference to the baseline is resolved at this sample size. "
                   "No: it could be noise.")
    return top


def glossary(metrics: list[str]) -> None:
    with st.expander("What the metrics mean (and which direction is better)"):
        g = verdict.glossary_table(metrics)
        st.dataframe(g[["label", "metric", "better", "meaning"]], hide_index=True,
                     width="stretch")


def config_label(strategy: str, policy: str, policies: list[str]) -> str:
    """The simulation's config label of a strategy under a messaging policy (the bare strategy
    when the only policy is "none")."""
    return strategy if policies == ["none"] else f"{strategy}/{policy}"


def ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def fmt_value(metric: str, x: float) -> str:
    return f"{x:,.1f}" if metric in verdict.COUNT_METRICS else f"{x:.4g}"


def paired_diff(runs: pd.DataFrame, a: str, b: str, metric: str,
                level: float) -> tuple[float, float, float, int]:
    """Mean and interval of config ``a`` minus config ``b`` over the replicates they share
    (paired through common random numbers), with the number of replicates."""
    x = runs[runs["config"] == a].set_index("replicate")[metric]
    y = runs[runs["config"] == b].set_index("replicate")[metric]
    d = (x - y.reindex(x.index)).dropna().to_numpy(dtype=np.float64)
    mu, lo, hi, _ = hr.sim.mean_ci(d, level)
    return float(mu), float(lo), float(hi), len(d)


def side_by_side(offline: pd.DataFrame, off_metric: str, study: report.SimStudy,
                 labels: dict[str, str], sim_metric: str) -> tuple[pd.DataFrame, str, bool]:
    """Offline and simulated verdicts of the same strategies: one row per strategy with its
    offline mean and rank and its simulated mean, interval and rank, a sentence that says
    whether the two verdicts name the same best strategy, and whether they do.

    ``offline`` is an :func:`haowurank.verdict.offline_verdict` table; ``labels`` maps each
    strategy to its config label in ``study``.
    """
    sim = study.summary[study.summary["metric"] == sim_metric].set_index("config")
    names = [s for s in offline["strategy"] if s in labels and labels[s] in sim.index]
    off = offline.set_index("strategy").loc[names]
    s_rows = sim.loc[[labels[s] for s in names]]
    lo_ok, hi_ok = verdict.valid_range(sim_metric)
    sign_off = 1.0 if verdict.higher_is_better(off_metric) else -1.0
    sign_sim = 1.0 if verdict.higher_is_better(sim_metric) else -1.0
    table = pd.DataFrame({
        "strategy": names,
        off_metric: off["mean"].to_numpy(dtype=np.float64),
        "offline rank": (-sign_off * off["mean"]).rank(method="min", na_option="bottom")
        .astype(int).to_numpy(),
        sim_metric: s_rows["mean"].to_numpy(dtype=np.float64),
        "interval": [f"{fmt_value(sim_metric, max(a, lo_ok))} to "
                     f"{fmt_value(sim_metric, min(b, hi_ok))}"
                     for a, b in zip(s_rows["ci_low"], s_rows["ci_high"])],
        "simulated rank": (-sign_sim * s_rows["mean"]).rank(method="min", na_option="bottom")
        .astype(int).to_numpy(),
    })
    n = len(table)
    if n < 2:
        return table, "", True
    from scipy.stats import kendalltau

    tau = kendalltau(sign_off * table[off_metric], sign_sim * table[sim_metric]).statistic
    tau_text = (f"Across the {n} strategies the two orders agree with Kendall tau {tau:+.2f} "
                f"(+1: the same order, -1: reversed)." if np.isfinite(tau) else "")
    best_off = table.loc[table["offline rank"] == 1, "strategy"].tolist()
    best_sim = table.loc[table["simulated rank"] == 1, "strategy"].tolist()
    off_row = table.set_index("strategy").loc[best_off[0]]
    lab_off, lab_sim = verdict.label(off_metric), verdict.label(sim_metric)
    if set(best_off) & set(best_sim):
        both = next(s for s in best_off if s in best_sim)
        r = table.set_index("strategy").loc[both]
        text = (f"Offline and simulated verdicts agree: **{both}** has the best {lab_off} "
                f"offline, {r[off_metric]:.4f}, and the best simulated {lab_sim}, "
                f"{fmt_value(sim_metric, r[sim_metric])} ({study.level:.0%} interval "
                f"{r['interval']}). {tau_text}")
        return table, text.strip(), True
    winner = best_sim[0]
    tied = f" (tied with {', '.join(best_sim[1:])})" if len(best_sim) > 1 else ""
    w_row = table.set_index("strategy").loc[winner]
    mu, lo, hi, reps = paired_diff(study.runs, labels[winner], labels[best_off[0]], sim_metric,
                                   study.level)
    if reps >= 2:
        resolved = lo > 0 or hi < 0
        diff = (f"{winner} minus {best_off[0]}: {fmt_value(sim_metric, mu)} "
                f"({study.level:.0%} interval {fmt_value(sim_metric, lo)} to "
                f"{fmt_value(sim_metric, hi)} over {reps} paired replicates; "
                + ("resolved" if resolved else "not resolved: the interval includes zero")
                + ")")
    else:
        diff = f"{winner} minus {best_off[0]}: {fmt_value(sim_metric, mu)} (one replicate: no interval)"
    text = (f"Offline and simulated verdicts disagree: offline, **{best_off[0]}** has the best "
            f"{lab_off}, {off_row[off_metric]:.4f}; in simulation, **{winner}**{tied} has the "
            f"best {lab_sim}, {fmt_value(sim_metric, w_row[sim_metric])} ({study.level:.0%} "
            f"interval {w_row['interval']}), and {best_off[0]} comes "
            f"{ordinal(int(off_row['simulated rank']))} of {n} "
            f"({fmt_value(sim_metric, off_row[sim_metric])}); {diff}. {tau_text}")
    return table, text.strip(), False


def design_sentence(study: report.SimStudy, strategies: list[str], policies: list[str],
                    metric: str) -> str:
    """What a strategies x messaging policies study shows, in words: the best strategy under
    each policy and each policy's paired change against the first one, with intervals."""
    s = study.summary[study.summary["metric"] == metric].set_index("config")
    lab = verdict.label(metric)
    sign = 1.0 if verdict.higher_is_better(metric) else -1.0
    parts = []
    for p in policies:
        rows = s.loc[[config_label(x, p, policies) for x in strategies]]
        top = rows.index[int(np.argmax(sign * rows["mean"].to_numpy()))]
        r = rows.loc[top]
        who = top.split("/")[0]
        parts.append(f"under `{p}` messaging it is {who}, {fmt_value(metric, r['mean'])} "
                     f"({study.level:.0%} interval {fmt_value(metric, r['ci_low'])} to "
                     f"{fmt_value(metric, r['ci_high'])})")
    text = (f"The strategy with the best {lab}: " + "; ".join(parts) + "."
            if len(strategies) > 1 else "")
    if len(policies) > 1:
        ref = policies[0]
        for p in policies[1:]:
            pct, resolved = [], 0
            for x in strategies:
                a, b = config_label(x, p, policies), config_label(x, ref, policies)
                mu, lo, hi, reps = paired_diff(study.runs, a, b, metric, study.level)
                base = float(s.loc[b, "mean"])
                if base > 0:
                    pct.append(100.0 * mu / base)
                resolved += int(reps >= 2 and (lo > 0 or hi < 0))
            if pct:
                span = (f"{min(pct):+.1f}%" if np.isclose(min(pct), max(pct))
                        else f"{min(pct):+.1f}% to {max(pct):+.1f}%")
                text += (f" `{p}` messaging changes {lab} by {span} against `{ref}` across "
                         f"the strategies; the paired interval excludes zero for {resolved} of "
                         f"{len(strategies)}.")
    return text.strip()


# ------------------------------------------------------------------------------------------
# page
# ------------------------------------------------------------------------------------------

init_view()
S = st.session_state
wrap_css()

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
    if S["strategies"] and S["baseline"] not in S["strategies"]:
        S["baseline"] = S["strategies"][0]
    st.selectbox("Baseline (changes are measured against it)", S["strategies"] or CHEAP[:1],
                 key="baseline")
    st.selectbox("List length k", [5, 10, 20, 50], key="k")
    st.caption("Cheap strategies: popularity, friend_endorsements, trust. Matrix factorisation "
               "(als, bpr, social_als), ease and hybrid take seconds more on larger worlds.")
    st.markdown(" ".join(f'<span style="color:{STRATEGY_COLORS[s]}">&#9632;</span> {s}'
                         for s in S["strategies"]), unsafe_allow_html=True)

st.title("haowurank: friends' good things, ranked")

wkey = world_key()
try:
    W = get_world(wkey)
except (FileNotFoundError, ValueError, KeyError, TypeError) as exc:
    st.error(f"Could not load the world {S['world']!r}: {exc}")
    share_view()
    st.stop()
ds = W.ds

st.caption(
    f"**{ds.meta.get('name', 'world')}**: {ds.n_users:,} users, {ds.n_items:,} "
    f"items, {ds.n_interactions:,} interactions ({W.n_endorsements:,} endorsements), "
    f"{ds.n_social:,} follow rows. Offline protocol: per-user random 80/20 split (seed 0), full "
    f"ranking over training items, each user's training items excluded."
)

strategies: list[str] = list(S["strategies"])
baseline: str = S["baseline"] if S["baseline"] in strategies else (strategies or CHEAP)[0]
k = int(S["k"])
tab_off, tab_sim, tab_user = st.tabs(
    ["Offline comparison", "Simulation over time", "One user: feed and search"]
)
offline_metric = f"{S['metric']}@{k}"

# ---------------------------------------------------------------- offline comparison
with tab_off, boundary("offline comparison"):
    if not strategies:
        st.info("Choose at least one strategy in the sidebar.")
    else:
        prog = st.progress(0.0, text="Evaluating...")
        rows, per_user = [], {}
        for j, s in enumerate(strategies):
            prog.progress(j / len(strategies), text=f"Evaluating {s}...")
            row, pu = offline_one(wkey, s, k)
            rows.append(row)
            per_user[s] = pu
        prog.empty()
        full = pd.concat(rows, ignore_index=True)
        st.subheader(f"Offline comparison at k = {k}")
        st.selectbox("Headline metric", HEADLINE_OFFLINE, key="metric",
                     format_func=lambda m: verdict.label(f"{m}@{k}"))
        metric = f"{S['metric']}@{k}"
        table = offline_verdict(wkey, tuple(strategies), k, metric, baseline)
        top = kpi_cards(table, metric, baseline, "test users")
        st.markdown(verdict.sentence(table, metric, baseline, level=LEVEL))
        shown_metrics = [f"{m}@{k}" for m in ("NDCG", "Recall", "HitRate", "Coverage", "Gini",
                                               "MerchantGini", "Novelty")]
        glossary(shown_metrics + [f"cold_NDCG@{k}"])
        view = table.assign(
            change=[fmt_pct(x) for x in table["change_pct"]],
            interval=[f"{fmt_pct(a)} to {fmt_pct(b)}" if s != baseline else "baseline"
                      for s, a, b in zip(table["strategy"], table["change_ci_low_pct"],
                                         table["change_ci_high_pct"])],
            resolved=["baseline" if s == baseline else ("yes" if e else "no")
                      for s, e in zip(table["strategy"], table["excludes_zero"])],
        )
        st.vega_lite_chart(
            table,
            forest_chart(table, y="strategy", x="mean", lo="ci_low", hi="ci_high",
                         x_title=verdict.label(metric), names=strategies, y_sort=strategies,
                         zero=False, title=f"{verdict.label(metric)}: mean and {LEVEL:.0%} "
                                           f"interval (bootstrap over test users)"),
            width="stretch",
        )
        st.dataframe(
            view[["strategy", "mean", "change", "interval", "resolved"]], hide_index=True,
            width="stretch",
            column_config={"mean": st.column_config.NumberColumn(verdict.label(metric),
                                                                 format="%.4f"),
                           "change": st.column_config.TextColumn(f"vs {baseline}"),
                           "interval": st.column_config.TextColumn(f"{LEVEL:.0%} interval"),
                           "resolved": st.column_config.TextColumn("excludes 0")},
        )
        catalogue = offline_catalogue(wkey, tuple(strategies), k)
        cols = st.columns(2) + st.columns(2)
        for col, m in zip(cols, [f"{x}@{k}" for x in ("Coverage", "Gini", "MerchantGini")]):
            part = catalogue[catalogue["metric"] == m]
            if len(part):
                better = "higher" if verdict.higher_is_better(m) else "lower"
                col.vega_lite_chart(
                    part,
                    forest_chart(part, y="strategy", x="estimate", lo="ci_low", hi="ci_high",
                                 x_title=None, names=strategies, y_sort=strategies, zero=False,
                                 title={"text": verdict.label(m),
                                        "subtitle": f"{better} is better; {LEVEL:.0%} interval"}),
                    width="stretch",
                )
        if f"Novelty@{k}" in full:
            cols[3].vega_lite_chart(full[["strategy", f"Novelty@{k}"]],
                                    bar_chart(full, f"Novelty@{k}", strategies), width="stretch")
        st.dataframe(
            catalogue.assign(
                label=[verdict.label(m) for m in catalogue["metric"]],
                interval=[f"{a:.4f} to {b:.4f}" if np.isfinite(a) and np.isfinite(b) else "n/a"
                          for a, b in zip(catalogue["ci_low"], catalogue["ci_high"])],
            )[["strategy", "label", "estimate", "interval", "method"]],
            hide_index=True, width="stretch",
            column_config={"label": st.column_config.TextColumn("catalogue metric"),
                           "estimate": st.column_config.NumberColumn("all test users",
                                                                     format="%.4f"),
                           "interval": st.column_config.TextColumn(f"{LEVEL:.0%} interval"),
                           "method": st.column_config.TextColumn("interval by")},
        )
        st.caption(
            "Coverage and the Gini family are computed from all test users' lists together, "
            "not as a mean over users, and they grow or shrink with the number of users; the "
            "interval is for another sample of as many users. Coverage: jackknife over users "
            "(a plain bootstrap over users is biased low for it); Gini: bootstrap over users, "
            "bias-corrected. See experiments/catalogue_intervals."
        )
        curve = report.cold_start_curve(per_user, k, min_users=10)
        if len(curve):
            order = list(dict.fromkeys(curve["history"]))
            st.vega_lite_chart(
                curve,
                line_chart({"text": f"{verdict.label(f'NDCG@{k}')} by length of the training "
                                    f"history", "subtitle": "groups of >= 10 test users"},
                           "history", order, f"NDCG@{k}", strategies),
                width="stretch",
            )
        with st.expander("Every metric of the evaluation (library names)"):
            shown = report.offline_table(full, k)
            st.dataframe(shown, hide_index=True, width="stretch",
                         column_config={c: st.column_config.NumberColumn(
                             c, help=verdict.label(c), format="%.4f")
                             for c in shown.columns if pd.api.types.is_float_dtype(shown[c])})
        st.download_button("Download the offline table (CSV)", report.to_csv_bytes(full),
                           file_name="haowurank_offline.csv", mime="text/csv", key="dl_offline")

# ---------------------------------------------------------------- one user
search_slot = None
pair: list[str] = []
with tab_user, boundary("one-user inspector"):
    st.subheader("One user's friends' feed and search, under two strategies")
    cand = W.users()
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
            rankers = {s: W.ranker(s) for s in pair}
        raw = {s: hr.feed.build(ds, rankers[s], user, n=10, index=W.feed_index())
               for s in pair}
        # a search text the app suggested follows the user and world; a typed one stays
        ctx = repr((wkey, S["user"]))
        if not S["q"] or (S.get("_q_auto") == S["q"] and S.get("_q_ctx") != ctx):
            S["q"] = report.default_query(ds, user)
            S["_q_auto"], S["_q_ctx"] = S["q"], ctx
        st.markdown("**Friends' feed** (badges: 推荐 = recommended, 购买后推荐 = recommended "
                    "after buying; ▲/▼ = moved up/down against the other strategy)")
        if W.n_endorsements == 0:
            st.info("This data set has no endorsements (no 推荐 or 购买后推荐 rows: its "
                    "interactions are listens, ratings or purchases), so nobody has a friends' "
                    "feed here. The offline comparison and search still work; pick a data set "
                    "with endorsements or the synthetic world to see feeds.")
        else:
            cols = st.columns(len(pair))
            for j, (col, s) in enumerate(zip(cols, pair)):
                col.markdown(f'<span style="color:{STRATEGY_COLORS[s]}">&#9632;</span> '
                             f"*{s}*", unsafe_allow_html=True)
                f = raw[s]
                if f.empty:
                    col.info("Empty: no friend of this user endorsed anything they may see.")
                    continue
                other = pair[1 - j] if len(pair) == 2 else None
                marks = (moved_marks(list(f["item"]), list(raw[other]["item"]), other)
                         if other else [""] * len(f))
                meta = [c for c in ("item", "title", "category") if c in ds.items]
                items = f.merge(ds.items[meta], on="item", how="left")
                col.markdown("".join(feed_card(r, m) for r, m in
                                     zip(items.to_dict("records"), marks)),
                             unsafe_allow_html=True)
        search_slot = st.container()  # filled last: it imports and indexes the most

# ---------------------------------------------------------------- simulation (set-up)
sim_slot = None
with tab_sim, boundary("simulation"):
    st.subheader("Simulated comparison over time")
    synthetic_world = S["world"] == SYNTHETIC
    st.caption(
        "Each strategy ranks the product's feeds and search for a simulated circle of buyers, "
        "endorsers and messaging merchants. Replicates share worlds and random streams across "
        "strategies (common random numbers), so differences are paired per replicate; intervals "
        "are t-intervals across replicates. "
        + (f"The simulated world is the sidebar's synthetic world ({S['n_users']:,} users, "
           f"{S['n_items']:,} items, seed {S['seed']}, homophily {S['homophily']:.2f})."
           if synthetic_world else
           "Real data carry no ground truth, so the simulation runs on a synthetic world of the "
           "size set below.")
    )
    with st.form("sim_form"):
        c = st.columns(4 if not synthetic_world else 2)
        if not synthetic_world:
            c[0].number_input("Simulated users", 50, 50_000, step=250, key="sim_users")
            c[1].number_input("Items", 20, 20_000, step=100, key="sim_items")
        c[-2].number_input("Days", 1, 365, key="sim_days")
        c[-1].number_input("Replicates", 1, 20, key="sim_reps")
        st.multiselect("Merchant messaging policies", POLICIES, key="messaging")
        pressed = st.form_submit_button("Run simulation", type="primary")
    if pressed:
        S["sim"] = True
    sim_slot = st.container()

# ---------------------------------------------------------------- search (after everything cheap)
if search_slot is not None:
    with search_slot, boundary("search"):
        st.markdown("**Search** (the search score blended with each strategy's score)")
        st.text_input("Search text", key="q")
        cols = st.columns(len(pair))
        idx = W.search_index()
        hits_all = []
        for col, s in zip(cols, pair):
            col.markdown(f'<span style="color:{STRATEGY_COLORS[s]}">&#9632;</span> *{s}*',
                         unsafe_allow_html=True)
            hits = (report.search_with_ranker(idx, rankers[s], S["q"], user, n=10)
                    if S["q"].strip() else pd.DataFrame())
            if hits.empty:
                col.info("No item matches this text.")
            else:
                first = [c for c in ("rank", "title" if "title" in hits else "item",
                                     "explanation", "score") if c in hits]
                col.dataframe(hits, hide_index=True, column_order=first, width="stretch",
                              column_config={
                                  "score": st.column_config.NumberColumn(format="%.3f"),
                                  "explanation": st.column_config.TextColumn(width="large")})
                hits_all.append(hits.assign(strategy=s, list="search"))
        dl = pd.concat(
            [f.assign(strategy=s, list="feed",
                      endorsers=f["endorsers"].map(lambda xs: ", ".join(map(str, xs))),
                      kinds=f["kinds"].map(lambda xs: ", ".join(map(_kind_name, xs))))
             for s, f in raw.items()] + hits_all,
            ignore_index=True,
        )
        st.download_button("Download this user's lists (CSV)", report.to_csv_bytes(dl),
                           file_name=f"haowurank_user_{user}.csv", mime="text/csv", key="dl_user")


# ---------------------------------------------------------------- simulation results
def config_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Add the strategy and messaging policy of each config label ("trust/spammer")."""
    parts = frame["config"].astype(str).str.split("/", n=1, expand=True)
    policy = parts[1] if parts.shape[1] > 1 else "none"
    return frame.assign(strategy=parts[0], policy=policy)


def clipped(bands: pd.DataFrame, metric: str) -> pd.DataFrame:
    lo, hi = verdict.valid_range(metric)
    return bands.assign(ci_low=bands["ci_low"].clip(lo, hi), ci_high=bands["ci_high"].clip(lo, hi))


if sim_slot is not None:
    with sim_slot, boundary("simulation results"):
        if S["sim"] and strategies and S["messaging"]:
            world_knobs = {"homophily": float(S["homophily"])} if synthetic_world else {}
            n_users = int(S["n_users"]) if synthetic_world else int(S["sim_users"])
            n_items = int(S["n_items"]) if synthetic_world else int(S["sim_items"])
            base = hr.sim.SimulationConfig(
                n_users=n_users, n_items=n_items, days=int(S["sim_days"]),
                seed=int(S["seed"]) if synthetic_world else 0, world=world_knobs,
            )
            policies = list(S["messaging"])
            ordered = [baseline] + [s for s in strategies if s != baseline]
            configs = {config_label(s, p, policies): {"strategy": s, "messaging": p}
                       for s in ordered for p in policies}
            bar = st.progress(0.0, text="Simulating...")
            study = simulation(base, configs, int(S["sim_reps"]),
                               lambda f, msg: bar.progress(f, text=msg))
            bar.empty()
            labels = study.configs
            ref = labels[0]
            st.caption(f"Simulated world: {n_users:,} users, {n_items:,} items, "
                       f"{int(S['sim_days'])} days, {int(S['sim_reps'])} replicates; baseline "
                       f"config: {ref}.")
            st.selectbox("Headline metric", HEADLINE_SIM, key="sim_metric",
                         format_func=verdict.label)
            sm = S["sim_metric"]
            if len(labels) > 1:
                vt = verdict.sim_verdict(study.summary, sm)
                top = kpi_cards(vt, sm, ref, "replicates")
                st.markdown(verdict.sentence(vt, sm, ref, level=study.level,
                                             unit="replicates"))
                design = design_sentence(study, ordered, policies, sm)
                if design:
                    st.markdown(f"**What this study shows.** {design}")
            else:
                st.info("Choose at least two strategies (or policies) for a verdict against "
                        "the baseline.")
            if strategies:
                with boundary("offline vs simulated verdicts"):
                    st.markdown(f"**Offline vs simulated verdicts**: "
                                f"{verdict.label(offline_metric)} on the split against simulated "
                                f"{verdict.label(sm)}, for the same strategies")
                    off_table = offline_verdict(wkey, tuple(strategies), k, offline_metric,
                                                baseline)
                    sbs, said, agree = side_by_side(
                        off_table, offline_metric, study,
                        {s: config_label(s, policies[0], policies) for s in ordered}, sm)
                    if said:
                        (st.success if agree else st.warning)(said)
                    st.dataframe(
                        sbs, hide_index=True, width="stretch", key="offline_vs_sim",
                        column_config={
                            offline_metric: st.column_config.NumberColumn(
                                f"offline {offline_metric}", format="%.4f"),
                            sm: st.column_config.NumberColumn(
                                f"simulated {sm}",
                                format="%.1f" if sm in verdict.COUNT_METRICS else "%.4f"),
                            "interval": st.column_config.TextColumn(
                                f"{study.level:.0%} interval")})
                    st.caption(
                        f"Offline: {offline_metric} on the sidebar world's 80/20 split, mean "
                        f"over test users. Simulated: the same strategies under "
                        f"`{policies[0]}` messaging, mean and interval over "
                        f"{int(S['sim_reps'])} replicates"
                        + (" of worlds with the sidebar's size, seed and homophily and the "
                           "simulation's other world defaults." if synthetic_world else
                           " of a synthetic world: real data carry no ground truth to "
                           "simulate, so the two verdicts come from different worlds.")
                        + " Rank 1 is best. The offline test scores what users did in the past; "
                          "the simulation scores what the product's feed and search make happen.")
            level_tab = study.summary
            keys = list(report.SIM_KEY_METRICS)
            zero = [m for m in keys
                    if np.allclose(level_tab.loc[level_tab["metric"] == m, "mean"], 0.0)]
            keys = [m for m in keys if m not in zero]
            if zero:
                st.caption("Not shown (zero in every config): "
                           + ", ".join(verdict.label(m) for m in zero) + ".")
            if len(labels) > 1:
                diffs = study.summary[study.summary["metric"].isin(keys)
                                      & (study.summary["config"] != ref)].copy()
                base_mean = (study.summary[study.summary["config"] == ref]
                             .set_index("metric")["mean"])
                scale = 100.0 / diffs["metric"].map(base_mean)
                diffs = diffs[np.isfinite(scale) & (diffs["metric"].map(base_mean) > 0)]
                scale = scale.loc[diffs.index]
                diffs = config_frame(diffs.assign(
                    pct=diffs["diff"] * scale, pct_low=diffs["diff_ci_low"] * scale,
                    pct_high=diffs["diff_ci_high"] * scale,
                    label=diffs["metric"].map(verdict.label)))
                st.vega_lite_chart(
                    diffs,
                    forest_chart(diffs, y="label", x="pct", lo="pct_low", hi="pct_high",
                                 x_title=f"change against {ref}, % of its run total",
                                 names=list(dict.fromkeys(diffs["strategy"])),
                                 y_sort=[verdict.label(m) for m in keys], offset="config",
                                 title=f"Run totals: paired difference to {ref} with "
                                       f"{study.level:.0%} interval"),
                    width="stretch",
                )
            glossary(keys)
            st.markdown(f"**Run totals** (mean and {study.level:.0%} interval over "
                        f"{int(S['sim_reps'])} replicates)")
            summary = study.table(report.SIM_KEY_METRICS)
            for m in report.SIM_KEY_METRICS:  # intervals clipped to what can happen
                lo, hi = verdict.valid_range(m)
                for c in (f"{m} ci_low", f"{m} ci_high"):
                    if c in summary:
                        summary[c] = summary[c].clip(lo, hi)

            def cell(m: str, r: pd.Series) -> str:
                f = ".1f" if m in verdict.COUNT_METRICS else ".3f"
                return f"{r[m]:{f}} ({r[f'{m} ci_low']:{f}} to {r[f'{m} ci_high']:{f}})"

            readable = pd.DataFrame(
                {r["config"]: [cell(m, r) for m in keys] for _, r in summary.iterrows()},
                index=[verdict.label(m) for m in keys])
            st.dataframe(readable, width="stretch")
            with st.expander("Run totals as numbers (one column per statistic)"):
                fmt = {c: st.column_config.NumberColumn(
                    c, format="%.1f" if c.split(" ")[0] in verdict.COUNT_METRICS else "%.3f")
                    for c in summary.columns if c != "config"}
                st.dataframe(summary, hide_index=True, column_config=fmt, width="stretch")
            if len(labels) > 1:
                with st.expander(f"Paired differences to {ref} (same worlds and random "
                                 f"streams; an interval that excludes 0 is a resolved "
                                 f"difference)"):
                    dt = study.diff_table(report.SIM_KEY_METRICS)
                    st.dataframe(dt, hide_index=True, width="stretch",
                                 column_config={c: st.column_config.NumberColumn(format="%.3f")
                                                for c in dt.columns if c != "config"})
            with st.expander("Curves over time"):
                t1, t2 = st.columns(2)
                cumulative = t1.toggle("Running totals for counts", value=True,
                                       key="sim_cumulative")
                paired = t2.toggle(f"Differences to {ref} (paired per replicate: sharper)",
                                   value=False, key="sim_paired", disabled=len(labels) < 2)
                paired = paired and len(labels) > 1
                shown_labels = labels[1:] if paired else labels
                facet = len(shown_labels) > 3
                for group, metrics in report.SIM_CHART_METRICS.items():
                    metrics = [m for m in metrics if m not in zero]
                    if not metrics:
                        continue
                    st.markdown(f"**{group.capitalize()}**")
                    cols = st.columns(1 if facet else len(metrics))
                    for j, m in enumerate(metrics):
                        b = study.bands([m], cumulative=cumulative and m in verdict.COUNT_METRICS,
                                        paired_to=ref if paired else None)
                        if not paired:
                            b = clipped(b, m)
                        b = config_frame(b)
                        cols[0 if facet else j].vega_lite_chart(
                            b, band_chart(m, list(dict.fromkeys(b["strategy"])), facet,
                                          len(policies) > 1),
                            width="stretch" if not facet else "content")
            d1, d2, d3 = st.columns(3)
            d1.download_button("Summary (CSV)", report.to_csv_bytes(study.summary),
                               file_name="haowurank_sim_summary.csv", mime="text/csv",
                               key="dl_sim")
            d2.download_button("Daily, every replicate (CSV)", report.to_csv_bytes(study.daily),
                               file_name="haowurank_sim_daily.csv", mime="text/csv",
                               key="dl_daily")
            d3.download_button("Runs (CSV)", report.to_csv_bytes(study.runs),
                               file_name="haowurank_sim_runs.csv", mime="text/csv",
                               key="dl_runs")
        elif S["sim"]:
            st.info("Choose at least one strategy and one messaging policy.")
        else:
            n_runs = len(strategies) * len(S["messaging"]) * int(S["sim_reps"])
            st.info(f"Set the simulation up and press **Run simulation**: {len(strategies)} "
                    f"strategies x {len(S['messaging'])} messaging policies x "
                    f"{int(S['sim_reps'])} replicates = {n_runs} runs (each a few seconds at "
                    f"the default size). The tab then says which strategy is best under each "
                    f"policy, what each policy changes, and whether the offline and simulated "
                    f"verdicts agree.")

share_view()
