"""Write the numbered notebooks of this folder (clean: no outputs, no execution counts).

The notebooks are generated from the cells below so that they stay valid JSON, reviewable as
code, and identical whoever regenerates them::

    .venv/bin/python notebooks/make_notebooks.py

``tests/test_notebooks.py`` executes every notebook top to bottom and checks that the files on
disk equal what this script writes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

# A cell is ("md", text) or ("py", code).
Cell = tuple[str, str]

DATA_CELL = '''\
from haowurank import report
from haowurank.datasets import data_root

DATA = data_root()  # $HAOWURANK_DATA, else ../shared/data: the dataset registry's one lookup
print(DATA, sorted(p.name for p in DATA.iterdir()) if DATA.is_dir() else "(missing)")'''

NB01: list[Cell] = [
    ("md", """\
# 01 Quickstart: a world, some rankers, a friends' feed

haowurank ranks products in a *social-commerce circle*: people buy, and recommend what they
bought to their friends ("recommend", or the stronger "recommend_after_purchase"). A user's
**friends' feed** shows only what their friends endorsed; **search** is weighted by
recommendations. This notebook walks the whole path on a small seeded synthetic world in well
under a minute:

1. make a world and look at it,
2. fit a few rankers and read their recommendations and explanations,
3. compare them offline with the standard protocol,
4. build a friends' feed and run a search.

The next notebooks do the same on real data (02), simulate strategies over time (03) and put a
ranker into a service (04)."""),
    ("py", """\
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import haowurank as hr

pd.set_option("display.max_colwidth", 80)
pd.set_option("display.width", 160)
hr.__version__"""),
    ("md", """\
## 1. A synthetic world

`hr.datasets.synthetic` draws users with tastes in communities, a friendship graph with
homophily, merchants and items, purchases (some copied from friends) and endorsements, all from
one seed. It also keeps the ground truth (`ds.truth`) that the simulator uses later."""),
    ("py", """\
ds = hr.datasets.synthetic(n_users=2000, n_items=1000, seed=0)
ds"""),
    ("py", """\
inter = ds.interactions
print(inter["kind"].value_counts().to_string())
ds.items.head()"""),
    ("py", """\
following = np.diff(ds.social_matrix(weighted=False).indptr)
per_user = ds.user_counts()
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
axes[0].hist(following, bins=40)
axes[0].set(title="Users followed per user", xlabel="follows", ylabel="users")
axes[1].hist(per_user, bins=40, log=True)
axes[1].set(title="Interactions per user", xlabel="interactions", ylabel="users (log)")
plt.tight_layout()
plt.show()"""),
    ("md", """\
## 2. Rankers

Every ranker follows one contract: `make(name, **params)` stores the parameters, `fit(ds)`
learns, `recommend(users, n=...)` returns ids and scores, `explain(user, item)` says why. Ids are
always the caller's own ids."""),
    ("py", """\
print(hr.rankers.available())
trust = hr.rankers.make("trust").fit(ds)
pop = hr.rankers.make("popularity").fit(ds)
user = ds.user_ids[10]
trust.recommend_frame(user, n=5)"""),
    ("py", """\
item = trust.recommend(user, n=1)[0][0]
why = trust.explain(user, item)
print(why["text"])
{k: why[k] for k in ("score", "friends", "kinds")}"""),
    ("md", """\
## 3. Offline comparison

`hr.split.random_split` holds out 20% of each user's items; `hr.evaluation.compare` fits every
strategy on the training part and ranks all training items for each test user (their own
training items excluded). Users with at most five training items are the *cold-start* users."""),
    ("py", """\
train, test = hr.split.random_split(ds, test_fraction=0.2, seed=0)
strategies = ["popularity", "friend_endorsements", "trust", "item_knn", "als"]
table = hr.evaluation.compare(strategies, train, test, k=(10, 20))
cols = ["strategy", "NDCG@20", "Recall@20", "Coverage@20", "Gini@20", "cold_users",
        "cold_NDCG@20", "fit_s"]
table[cols].round(4)"""),
    ("py", """\
fig, ax = plt.subplots(figsize=(8, 3.2))
x = np.arange(len(table))
ax.bar(x - 0.2, table["NDCG@20"], width=0.4, label="all test users")
ax.bar(x + 0.2, table["cold_NDCG@20"], width=0.4, label="cold-start users")
ax.set_xticks(x, table["strategy"])
ax.set(ylabel="NDCG@20", title="Accuracy by strategy")
ax.legend()
plt.show()"""),
    ("md", """\
## 4. A friends' feed and a search

The feed only ever holds items endorsed by people the user follows, citing exactly the friends
whose endorsement the user may see (public, or friends-only between mutual friends; never
anyone the user blocked). The ranker's score, the endorsement strength and freshness decide
the order; a diversity step keeps one merchant from filling the page."""),
    ("py", """\
feed = hr.feed.build(ds, trust, user, n=8)
feed.merge(ds.items[["item", "title", "merchant"]], on="item")[
    ["rank", "title", "merchant", "endorsers", "explanation"]]"""),
    ("py", """\
index = hr.search.SearchIndex(ds)
hits = index.query("green tea", user=user, n=5)
hits.merge(ds.items[["item", "title"]], on="item")[["rank", "title", "score", "explanation"]]"""),
]

NB02: list[Cell] = [
    ("md", """\
# 02 Trust ranking on real data: Last.fm and Ciao

Two public data sets with a social graph: **Last.fm** (HetRec 2011: users, the artists they
listen to, and their friends) and **Ciao** (product ratings and a directed trust network, here
reduced to its 5-core). They are read from their folders under `../shared/data` (or
`$HAOWURANK_DATA`), never copied. The question: does ranking by what *trusted people* chose beat
collaborative filtering, and above all for **cold-start users** with a short history?

Default parameters throughout (tuned numbers live in `experiments/ranking_quality/results/`); the protocol is
the library's: per-user random 80/20 split (seed 0), full ranking over training items, each
user's training items excluded."""),
    ("py", """\
import matplotlib.pyplot as plt
import pandas as pd

import haowurank as hr

pd.set_option("display.width", 160)
pd.set_option("display.max_colwidth", 90)"""),
    ("py", DATA_CELL),
    ("md", """\
## Last.fm

Every user-artist pair is a positive. There are no explicit endorsements in Last.fm, so the
social strategies read *what friends listened to* (their interactions) through the trust graph."""),
    ("py", """\
lastfm = report.load_world(DATA / "lastfm-hetrec2011")
lastfm"""),
    ("md", """\
The learned blend `hybrid` (trust, item-kNN, ALS and EASE candidates re-ranked by a model fitted
on a validation split) takes 30-45 s more per data set on two cores; set `WITH_HYBRID = True` to
add it to both tables (`haowurank compare` and `experiments/` report it tuned)."""),
    ("py", """\
WITH_HYBRID = False
extra = ["hybrid"] if WITH_HYBRID and "hybrid" in hr.rankers.available() else []
strategies = ["popularity", "friend_endorsements", "trust", "item_knn", "als", *extra]
train, test = hr.split.random_split(lastfm, test_fraction=0.2, seed=0)
lf_table = hr.evaluation.compare(strategies, train, test, k=(10, 20))
report.offline_table(lf_table, 20).round(4)"""),
    ("md", """\
## Ciao (5-core)

Ciao's interactions are ratings of products; the trust network is directed ("u trusts f").
Keeping users and items with at least five interactions gives a denser, still sparse problem."""),
    ("py", """\
ciao = report.load_world(DATA / "ciao", k_core=5)
ciao"""),
    ("py", """\
ciao_strategies = ["popularity", "friend_endorsements", "trust", "als", *extra]
train_c, test_c = hr.split.random_split(ciao, test_fraction=0.2, seed=0)
ciao_table, ciao_users = hr.evaluation.compare(ciao_strategies, train_c, test_c,
                                               k=(10, 20), per_user=True)
report.offline_table(ciao_table, 20).round(4)"""),
    ("md", """\
## Cold-start users

Last.fm lists each user's top artists, so almost every user has a long history (see
`cold_users` above): the cold-start question lives in Ciao. Accuracy by the length of each test
user's training history (groups of at least 20 users). Collaborative filtering needs a
history; a trust graph only needs the people a user trusts."""),
    ("py", """\
curve = report.cold_start_curve(ciao_users, 20, min_users=20)
fig, ax = plt.subplots(figsize=(8, 3.6))
for j, (strategy, g) in enumerate(curve.groupby("strategy", sort=False)):
    ax.plot(g["history"], g["NDCG@20"], marker="o", label=strategy, color=f"C{j}")
ax.set(title="Ciao 5-core", xlabel="training items of the user", ylabel="NDCG@20")
ax.legend(fontsize=8)
plt.show()
curve.pivot(index="history", columns="strategy", values="NDCG@20").loc[
    curve["history"].unique(), ciao_strategies].round(4)"""),
    ("py", """\
cold = pd.concat([
    lf_table.assign(data="Last.fm"), ciao_table.assign(data="Ciao 5-core")
])[["data", "strategy", "users", "cold_users", "NDCG@20", "cold_NDCG@20", "cold_Recall@20"]]
cold.round(4)"""),
    ("md", """\
## Explanations

A trust-based recommendation can say *who*: the trusted people behind the score. Here for a
cold-start Ciao user (at most five training items)."""),
    ("py", """\
trust = hr.rankers.make("trust").fit(train_c)
per_user = ciao_users["trust"]
cold_user = per_user[per_user["cold"]].sort_values("n_train").iloc[0]["user"]
recs = trust.recommend_frame(cold_user, n=5)
recs["why"] = [trust.explain(cold_user, i)["text"] for i in recs["item"]]
recs.merge(ciao.items[["item", "category"]], on="item", how="left")"""),
]

NB03: list[Cell] = [
    ("md", """\
# 03 Simulation study: strategies x merchant messaging

Offline metrics score a ranker on yesterday's log. The simulator asks what happens *over time*
when the platform ranks with a strategy: users open their friends' feed or search, click, buy,
receive orders, recommend what satisfied them (which feeds their friends' feeds), and merchants
message buyers under the platform's quota rules.

We cross three ranking strategies with three merchant messaging policies (`none`, `timed`:
one message near the repurchase time, `spammer`: every message the quota allows, some of it
marketing) and run three replicates of each. Replicates share worlds and random streams across
configurations (common random numbers), so differences are paired and intervals are tight.

The **decentralisation question**: does ranking by friends' endorsements spread exposure and
sales across many merchants (low merchant exposure Gini, high long-tail share), or concentrate
them like a popularity chart?"""),
    ("py", """\
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import haowurank as hr
from haowurank import report

pd.set_option("display.width", 160)"""),
    ("py", """\
base = hr.sim.SimulationConfig(n_users=1000, n_items=400, days=30, seed=0)
strategies = ["popularity", "friend_endorsements", "trust"]
policies = ["none", "timed", "spammer"]
configs = {f"{s}/{p}": {"strategy": s, "messaging": p} for s in strategies for p in policies}
comparison = hr.sim.compare(configs, replicates=3, base=base, keep_daily=True)
study = report.SimStudy.from_comparison(comparison)
study.runs.shape, study.daily.shape"""),
    ("md", """\
`hr.sim.compare(..., keep_daily=True)` also keeps every run's daily frame; `report.SimStudy`
formats it (tables and bands over time). Run totals with 95% intervals over the replicates:"""),
    ("py", """\
metrics = ["orders", "gmv", "repurchase_rate", "endorsements", "cascade_size_mean",
           "merchant_exposure_gini", "longtail_impression_share", "messages_sent",
           "complaints", "opt_outs"]
study.table(metrics)[["config", *metrics]].round(3)"""),
    ("md", """\
## Over time

Cumulative GMV and endorsements, mean and 95% band across replicates (no messaging)."""),
    ("py", """\
plain = [f"{s}/none" for s in strategies]
COLORS = {cfg: f"C{j}" for j, cfg in enumerate(plain)}


def plot_bands(ax, bands, metric, configs):
    for cfg in configs:
        b = bands[(bands["metric"] == metric) & (bands["config"] == cfg)]
        ax.plot(b["day"], b["mean"], label=cfg, color=COLORS[cfg])
        ax.fill_between(b["day"], b["ci_low"], b["ci_high"], alpha=0.2, color=COLORS[cfg])
    ax.set(title=metric, xlabel="day")


fig, axes = plt.subplots(1, 3, figsize=(14, 3.4))
cum = study.bands(["gmv", "endorsements"], cumulative=True)
plot_bands(axes[0], cum, "gmv", plain)
axes[0].set_ylabel("cumulative")
plot_bands(axes[1], cum, "endorsements", plain)
plot_bands(axes[2], study.bands(["merchant_exposure_gini"]), "merchant_exposure_gini", plain)
axes[0].legend(fontsize=8)
plt.tight_layout()
plt.show()"""),
    ("md", """\
The bands of the levels are wide because each replicate draws a new world. The comparison
that matters is paired: each strategy minus popularity, replicate by replicate, on the same
world and random streams."""),
    ("py", """\
fig, axes = plt.subplots(1, 3, figsize=(14, 3.4))
pb = study.bands(["gmv", "endorsements"], cumulative=True, paired_to="popularity/none")
pg = study.bands(["merchant_exposure_gini"], paired_to="popularity/none")
plot_bands(axes[0], pb, "gmv", plain[1:])
plot_bands(axes[1], pb, "endorsements", plain[1:])
plot_bands(axes[2], pg, "merchant_exposure_gini", plain[1:])
for ax in axes:
    ax.axhline(0, color="grey", lw=0.8)
axes[0].set_ylabel("difference to popularity")
axes[0].legend(fontsize=8)
plt.tight_layout()
plt.show()"""),
    ("md", """\
## The decentralisation question

Merchant exposure Gini (0: every merchant seen equally often) and the long-tail share of
impressions and of GMV (merchants outside the largest 20%), per strategy, with 95% intervals."""),
    ("py", """\
s = study.summary
dec = ["merchant_exposure_gini", "longtail_impression_share", "longtail_gmv_share"]
fig, axes = plt.subplots(1, 3, figsize=(14, 3.4))
for ax, m in zip(axes, dec):
    rows = s[(s["metric"] == m) & s["config"].isin(plain)].set_index("config").loc[plain]
    err = np.vstack([rows["mean"] - rows["ci_low"], rows["ci_high"] - rows["mean"]])
    ax.bar(strategies, rows["mean"], yerr=err, capsize=4, color=["C0", "C1", "C2"])
    ax.set(title=m)
plt.tight_layout()
plt.show()"""),
    ("md", """\
Paired differences to `popularity/none` (same worlds, same random streams in each replicate):
an interval that excludes 0 is a difference this many replicates can resolve; one that
straddles 0 says "no detectable difference", not "equal". More replicates narrow them."""),
    ("py", """\
d = s[s["metric"].isin(["orders", "gmv", *dec]) & s["config"].isin(plain[1:])]
d[["config", "metric", "mean", "diff", "diff_ci_low", "diff_ci_high"]].round(4)"""),
    ("md", """\
## Messaging: orders against complaints

Messages bring orders back (repurchases) but cost complaints and opt-outs; spammers also draw
penalties. Per policy, averaged over strategies:"""),
    ("py", """\
runs = study.runs.assign(policy=study.runs["config"].str.split("/").str[1])
by_policy = runs.groupby("policy")[["messages_sent", "message_orders", "complaints",
                                    "opt_outs", "penalties", "gmv"]].mean().loc[policies]
fig, ax = plt.subplots(figsize=(7, 3.2))
by_policy[["message_orders", "complaints", "opt_outs"]].plot.bar(ax=ax, rot=0)
ax.set(title="Per run (30 days, 1,000 users)", ylabel="count")
plt.show()
by_policy.round(1)"""),
    ("md", """\
Every run's event log is enough to verify the messaging rules (quota per order and per form,
windows, follows) after the fact:"""),
    ("py", """\
res = hr.sim.run(base.replace(strategy="trust", messaging="spammer", days=10))
violations = res.check_quotas()
print(res)
print("quota violations:", len(violations))
res.events[res.events["type"] == "message"].head()"""),
]

NB04: list[Cell] = [
    ("md", """\
# 04 The ranker in a service: save, load, serve, measure

A production service imports the ranker; it does not retrain it. This notebook fits a ranker,
saves it as an artifact (NumPy arrays + JSON metadata, no pickle), loads it back as a service
would, checks that it recommends exactly the same, and measures latency: single-user calls,
batches, and the thread-safe `hr.serving.RankerService` that answers recommend / feed / search
from one snapshot (the FastAPI app in `apps/service.py` is a thin layer over it)."""),
    ("py", """\
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import haowurank as hr

ds = hr.datasets.synthetic(n_users=5000, n_items=2000, seed=1)
ds"""),
    ("md", "## Save and load"),
    ("py", """\
workdir = Path(tempfile.mkdtemp(prefix="haowurank-nb04-"))
ranker = hr.rankers.make("trust").fit(ds)
path = ranker.save(str(workdir / "trust.npz"))
loaded = hr.load_ranker(path)
users = ds.user_ids[:500]
a_ids, a_scores = ranker.recommend(users, n=20)
b_ids, b_scores = loaded.recommend(users, n=20)
assert (a_ids == b_ids).all() and np.array_equal(a_scores, b_scores)
print(f"{Path(path).name}: {Path(path).stat().st_size / 1e6:.2f} MB, identical recommendations "
      f"for {len(users)} users")"""),
    ("md", """\
## Latency of the ranker itself

One user per call (what a request does) and batches (what a nightly job does)."""),
    ("py", """\
def timed(fn, repeat):
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return np.asarray(out) * 1000  # ms


rng = np.random.default_rng(0)
picks = rng.choice(ds.user_ids, 300)
it = iter(picks)
single = timed(lambda: loaded.recommend(next(it), n=20), len(picks))
batch = timed(lambda: loaded.recommend(ds.user_ids[:1000], n=20), 5)
print(f"single user: p50 {np.percentile(single, 50):.2f} ms, p95 {np.percentile(single, 95):.2f} ms")
print(f"batch of 1000: {batch.mean():.0f} ms ({1000 / batch.mean() * 1000:,.0f} users/s)")"""),
    ("md", "## A service around it"),
    ("py", """\
svc = hr.serving.RankerService(ds, path)
u = ds.user_ids[42]
print(svc.health())
svc.feed(u, n=5)[["item", "rank", "endorsers", "explanation"]]"""),
    ("py", """\
ops = {
    "recommend": lambda v: svc.recommend(v, n=20),
    "feed": lambda v: svc.feed(v, n=20),
    "search": lambda v: svc.search("green tea", user=v, n=20),
}
lat = {}
for name, op in ops.items():
    it = iter(rng.choice(ds.user_ids, 200))
    lat[name] = timed(lambda op=op, it=it: op(next(it)), 200)
summary = pd.DataFrame({name: {"p50 ms": np.percentile(v, 50), "p95 ms": np.percentile(v, 95),
                               "p99 ms": np.percentile(v, 99)} for name, v in lat.items()}).T
fig, ax = plt.subplots(figsize=(7, 3))
ax.boxplot(list(lat.values()), showfliers=False)
ax.set_xticks(range(1, len(lat) + 1), list(lat))
ax.set(ylabel="ms per request", title="RankerService latency (one user per request)")
plt.show()
summary.round(2)"""),
    ("md", """\
## Updating without a restart

New orders and endorsements arrive all day. `update` adds them and publishes a new snapshot
atomically (requests in flight finish on the old one); `swap` loads a newly trained artifact
the same way."""),
    ("py", """\
new_user = "new-user-1"
friend = ds.user_ids[42]
now = int(ds.interactions["timestamp"].max()) + 3600  # an hour after the last event
rows = pd.DataFrame({"user": [friend, friend], "item": ds.item_ids[:2],
                     "kind": ["purchase", "recommend_after_purchase"],
                     "timestamp": [now, now + 60], "visibility": ["friends", "friends"]})
follows = pd.DataFrame({"user": [new_user, friend], "friend": [friend, new_user]})
snap = svc.update(rows, social=follows)
print("snapshot", snap.version)
svc.feed(new_user, n=5)[["item", "endorsers", "explanation"]]"""),
    ("py", """\
retrained = hr.rankers.make("trust", half_life_days=90.0).fit(snap.dataset)
path2 = retrained.save(str(workdir / "trust-v2.npz"))
print("snapshot", svc.swap(path2).version, svc.health()["ranker"])"""),
]

NOTEBOOKS: dict[str, list[Cell]] = {
    "01_quickstart.ipynb": NB01,
    "02_trust_ranking_real_data.ipynb": NB02,
    "03_simulation_study.ipynb": NB03,
    "04_ranker_in_a_service.ipynb": NB04,
}


def build(cells: list[Cell]) -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for j, (kind, text) in enumerate(cells):
        cell = new_markdown_cell(text) if kind == "md" else new_code_cell(text)
        cell["id"] = f"c{j:02d}"
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def render(name: str) -> str:
    return nbformat.writes(build(NOTEBOOKS[name])) + "\n"


def main(argv: list[str] | None = None) -> int:
    check = "--check" in (argv if argv is not None else sys.argv[1:])
    stale = []
    for name in NOTEBOOKS:
        path = HERE / name
        text = render(name)
        if check:
            if not path.is_file() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        print("out of date (run notebooks/make_notebooks.py):", ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
