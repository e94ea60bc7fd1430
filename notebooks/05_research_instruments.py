# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 05 Research instruments: offline vs simulated, exposure logs, off-policy evaluation, A/B tests
#
# A data scientist choosing which ranking strategy to ship has two questions no offline split
# answers: does the offline metric predict what a strategy does to orders, and can a strategy be
# judged from the logs of another one before any A/B test? This notebook walks through the
# instruments haowurank has for both:
#
# 1. **Offline vs simulated verdicts**: the committed study `experiments/offline_vs_sim` (13
#    worlds x 6 strategies), read from its results files, not rerun.
# 2. **Logged exposure with propensities**: a stochastic exposure policy in the simulation and
#    its impression log, `res.impressions`.
# 3. **Off-policy evaluation** (`hr.ope`): a target's click rate estimated from another policy's
#    logs, against the target's own on-policy simulated value.
# 4. **A/B designs under network interference.**
#
# Every world here is small, so the notebook runs in about a minute.

# %%
import logging
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy.stats import kendalltau

import haowurank as hr
from haowurank.sim import ExposurePolicy, SimulationConfig

pd.set_option("display.width", 160)
ROOT = Path.cwd().parent if Path.cwd().name == "notebooks" else Path.cwd()
STUDY = ROOT / "experiments" / "offline_vs_sim" / "results"

# %% [markdown]
# ## 1. Offline vs simulated verdicts
#
# On each of 13 worlds (12 synthetic at two homophily and two social-influence settings, three
# seeds each, and a world built from a sample of the Epinions trust graph), the study scored six
# strategies twice from the same starting state: offline, NDCG@20 on a 80/20 split of the world's
# log; simulated, the orders of a 20-day run with the strategy ranking the product's feed and
# search. Here we read its per-run table and put the two verdicts side by side.

# %%
runs = pd.read_csv(STUDY / "runs.csv")
replicates = pd.read_csv(STUDY / "replicates.csv")
strategies = list(dict.fromkeys(runs["strategy"]))
colors = {s: f"C{j}" for j, s in enumerate(strategies)}


def winners(frame: pd.DataFrame, column: str) -> str:
    best = frame[column].max()
    return " / ".join(sorted(frame.loc[frame[column] == best, "strategy"]))


def short(world: str) -> str:
    """'synthetic homophily=0.1, social_influence=0.3, seed=2' -> 'h=0.1 si=0.3 seed=2'."""
    return (world.replace("synthetic ", "").replace("homophily=", "h=")
            .replace("social_influence=", "si=").replace(",", ""))


per_world = pd.DataFrame([
    {"world": short(w), "offline winner (NDCG@20)": winners(g, "NDCG@20"),
     "simulated winner (orders)": winners(g, "orders"),
     "tau(NDCG@20, orders)": kendalltau(g["NDCG@20"], g["orders"]).statistic,
     "orders spread %": 100 * (g["orders"].max() - g["orders"].min()) / g["orders"].mean()}
    for w, g in runs.groupby("world", sort=False)
])
per_world["flip"] = [not set(a.split(" / ")) & set(b.split(" / ")) for a, b in
                     zip(per_world["offline winner (NDCG@20)"],
                         per_world["simulated winner (orders)"])]
per_world.round(2)

# %% [markdown]
# In every one of the 13 worlds the strategy with the best NDCG@20 is not the one with the most
# simulated orders (`flip` is True in all rows): offline, `hybrid` is best in 9 worlds,
# `popularity` in 3 and `trust` in 1; in simulation `friend_endorsements` has the most orders
# (alone or tied) in 7. The `orders spread %` column shows why one simulated run is a fragile
# judge: the six strategies' orders differ by only 2.3% to 7.5% of their mean in each world, and
# the per-world tau ranges from -0.20 to +0.83.

# %%
def mean_tau_ci(taus: np.ndarray, n_resamples: int = 2000, seed: int = 0) -> tuple:
    """Mean Kendall tau over worlds and its 95% percentile bootstrap interval over worlds."""
    taus = taus[np.isfinite(taus)]
    g = np.random.default_rng(seed)
    boot = g.choice(taus, size=(n_resamples, len(taus)), replace=True).mean(axis=1)
    return taus.mean(), *np.quantile(boot, [0.025, 0.975])


both = runs.merge(replicates, on=["world", "strategy"], suffixes=("", "_rep"))
self_tau = np.array([kendalltau(g["orders"], g["orders_rep"]).statistic
                     for _, g in both.groupby("world", sort=False)])
agreement = pd.DataFrame(
    [("offline NDCG@20 vs simulated orders",
      *mean_tau_ci(per_world["tau(NDCG@20, orders)"].to_numpy())),
     ("simulated orders vs a second simulated run", *mean_tau_ci(self_tau))],
    columns=["comparison", "mean tau", "ci_low", "ci_high"])
agreement.round(2)

# %% [markdown]
# Offline NDCG@20 orders the strategies roughly as simulated orders do: the mean Kendall tau over
# worlds is +0.32 (95% bootstrap interval over worlds +0.15 to +0.48, as the study's results file
# reports). But the simulation agrees with itself only at +0.44 (+0.32 to +0.55) when the same
# worlds are run again under another seed, so most of the agreement one run allows is already
# there, and the winner flips are largely the simulation's own noise between near-equal
# strategies.

# %%
rel = runs.assign(
    ndcg_rel=runs.groupby("world")["NDCG@20"].transform(lambda x: 100 * (x / x.mean() - 1)),
    orders_rel=runs.groupby("world")["orders"].transform(lambda x: 100 * (x / x.mean() - 1)),
)
wins_off = pd.Series(0.0, index=strategies)
wins_sim = pd.Series(0.0, index=strategies)
for a, b in zip(per_world["offline winner (NDCG@20)"], per_world["simulated winner (orders)"]):
    for s in a.split(" / "):
        wins_off[s] += 1
    for s in b.split(" / "):
        wins_sim[s] += 1

fig, axes = plt.subplots(1, 2, figsize=(13, 4.2))
for s in strategies:
    part = rel[rel["strategy"] == s]
    axes[0].scatter(part["ndcg_rel"], part["orders_rel"], color=colors[s], label=s, s=28)
axes[0].axhline(0, color="grey", lw=0.8)
axes[0].axvline(0, color="grey", lw=0.8)
axes[0].set(xlabel="offline NDCG@20, % from the world's mean over strategies",
            ylabel="simulated orders, % from the world's mean",
            title="Each point: one strategy in one world")
axes[0].legend(fontsize=8)
x = np.arange(len(strategies))
axes[1].bar(x - 0.2, wins_off.to_numpy(), width=0.4, label="best offline (NDCG@20)")
axes[1].bar(x + 0.2, wins_sim.to_numpy(), width=0.4, label="most simulated orders")
axes[1].set_xticks(x, strategies, rotation=20)
axes[1].set(ylabel="worlds won (ties count for each)", title="Winners over 13 worlds")
axes[1].legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# Left: NDCG@20 separates the strategies by tens of per cent (`als` sits 35% to 75% below the
# world's mean), while their simulated orders all lie within 4% of it; the point cloud tilts
# upward only slightly, the +0.32 above. Right: the offline and simulated
# winners are different strategies: `hybrid` wins offline in 9 worlds and in none by orders,
# `friend_endorsements` never wins offline but has the most orders in 7. The verdicts flip in
# every world, and the replicate run says a single simulated run cannot be trusted to name the
# winner either: the decision needs the simulation's replicates, not one run.

# %% [markdown]
# ## 2. Logged exposure with propensities
#
# By default the simulated product shows each slate in its own order. With
# `exposure="plackett_luce"` the slate is drawn instead: slot by slot, a softmax over the
# remaining candidates' standardised scores divided by a temperature. With `log_impressions=True`
# every item shown is logged with the exact probability the policy gave it.

# %%
small = SimulationConfig(n_users=1000, n_items=200, days=2, seed=0, strategy="trust",
                         exposure="plackett_luce", exposure_temperature=0.7,
                         log_impressions=True)
res = hr.sim.run(small)
imp = res.impressions
print(f"{len(imp):,} impressions in {imp['slate'].nunique():,} slates; by surface:",
      imp["surface"].value_counts().to_dict())
imp.head(8)

# %% [markdown]
# Each row is one item shown: its slate (one feed page, search result page or message), day,
# user, item, surface, 0-based position, the product's score, `slot_propensity` (the item's
# probability in that slot given the items above it) and `propensity` (the probability of the
# whole prefix down to this slot, their running product), with the outcome (`click`, `order`).
# In the first slate the top slot's item had probability 0.88, and the prefix probability is
# already 0.0002 by the fifth slot. `res.candidates` holds every slate's pool with its scores, so
# another policy's probabilities of the same slates can be computed exactly.

# %%
with tempfile.TemporaryDirectory() as tmp:
    res.to_parquet(Path(tmp) / "run")
    back = hr.sim.SimulationResult.read_parquet(Path(tmp) / "run")
pd.testing.assert_frame_equal(back.impressions, res.impressions)
slates = imp[imp["surface"] != "message"]
by_pos = slates.groupby(["surface", "position"]).agg(
    impressions=("item", "size"), click_rate=("click", "mean"),
    mean_slot_propensity=("slot_propensity", "mean"),
    median_propensity=("propensity", "median")).reset_index()

fig, axes = plt.subplots(1, 2, figsize=(12, 3.6))
for j, (surface, g) in enumerate(by_pos.groupby("surface")):
    g = g[g["impressions"] >= 10]
    axes[0].plot(g["position"], g["median_propensity"], marker="o", color=f"C{j}", label=surface)
    axes[1].plot(g["position"], g["click_rate"], marker="o", color=f"C{j}", label=surface)
axes[0].set(yscale="log", xlabel="position (slot)", ylabel="median prefix propensity",
            title="Probability of the logged prefix")
axes[1].set(xlabel="position (slot)", ylabel="click rate", title="Clicks per impression")
for ax in axes:
    ax.legend(fontsize=8)
plt.tight_layout()
plt.show()
print("Parquet round trip: impressions identical;",
      f"click rate {slates['click'].mean():.3f}, order rate {slates['order'].mean():.4f} "
      "per feed or search impression")
by_pos[by_pos["position"] < 5].round(4)

# %% [markdown]
# The impression log survives a Parquet round trip unchanged. The left panel and the table show
# why off-policy estimates of long slates are hard: the median probability of the logged feed
# prefix falls by about an order of magnitude per slot (0.90, 0.14, 0.016, 0.0019, 0.0002 in
# slots 0 to 4), so importance weights of deep slots are products of many ratios. The right
# panel shows clicks concentrated in the top feed slots (0.185 of impressions in slot 0, 0.022 in
# slot 4); overall this small world logs a click rate of 0.043 and an order rate of 0.0133 per
# feed or search impression.

# %% [markdown]
# ## 3. Off-policy evaluation: a target judged from another policy's logs
#
# The logging policy: `popularity` under Plackett-Luce exposure at temperature 1, one day of a
# 4,000-user world. Two targets:
#
# - **close**: the same strategy at temperature 0.5 (sharper, closer to its own order);
# - **another strategy**: `trust` under the same exposure policy; `hr.ope.ranker_scores` scores the
#   logged pools' candidates with trust's fitted ranker.
#
# Each target's truth is its on-policy click rate per impression in the first five slots of feed
# and search slates: the mean of eight one-day runs with the target as the product's policy on
# the same world (other seeds), with a t-interval over those runs. `hr.ope.estimate` gives IPS,
# self-normalised IPS and doubly robust estimates from the one logged day, with bootstrap
# intervals over users.

# %%
logging.getLogger("haowurank.ope").setLevel(logging.ERROR)  # the low-ESS warning: see `ess`
base = SimulationConfig(n_users=4000, n_items=300, days=1, seed=0, world_seed=0,
                        log_impressions=True, exposure="plackett_luce", exposure_temperature=1.0)
world = hr.datasets.synthetic(n_users=base.n_users, n_items=base.n_items, seed=0,
                              **base.world_knobs())
logged = hr.sim.run(base.replace(strategy="popularity"), dataset=world)
SLOTS = 5


def on_policy(cfg: SimulationConfig, seeds=range(100, 108)) -> tuple[dict, object]:
    """Mean click rate per impression in the first SLOTS slots over seeded runs, with a
    t-interval; and the last run's fitted ranker."""
    rates, ranker = [], None
    for s in seeds:
        r = hr.sim.run(cfg.replace(seed=s), dataset=world)
        i = r.impressions
        i = i[i["surface"].isin(["feed", "search"]) & (i["position"] < SLOTS)]
        rates.append(i["click"].mean())
        ranker = r.ranker
    mu, lo, hi, _ = hr.sim.mean_ci(np.array(rates), 0.95, kind="rate")
    return {"value": mu, "low": lo, "high": hi}, ranker


targets = {
    "popularity, T=0.5 (close)": base.replace(strategy="popularity", exposure_temperature=0.5),
    "trust, T=1 (another strategy)": base.replace(strategy="trust"),
}
rows = []
for name, cfg in targets.items():
    truth, ranker = on_policy(cfg)
    policy = ExposurePolicy("plackett_luce", temperature=cfg.exposure_temperature)
    cand, column = logged.candidates, "score"
    if cfg.strategy != "popularity":
        cand, column = hr.ope.ranker_scores(logged.impressions, cand, ranker), "target_score"
    est = hr.ope.estimate(logged.impressions, cand, policy, score=column, outcome="click",
                          slots=SLOTS, n_boot=300, seed=0)
    rows.append({"target": name, "estimator": "on-policy truth", **truth})
    rows += [{"target": name, "estimator": r.estimator, "value": r.value, "low": r.low,
              "high": r.high, "ess_share": r.ess / r.n_impressions}
             for r in est.itertuples()]
ope = pd.DataFrame(rows)
ope.round(4)

# %% [markdown]
# `logged` is the logging policy's own click rate, 0.0788 (the same for both targets). For the
# close target the effective sample size is 43% of the impressions (`ess_share` 0.43) and the
# estimates are within 5% of the on-policy truth of 0.0801: IPS 0.0762 (0.0595 to 0.0953), SNIPS
# 0.0772, DR 0.0770, every interval containing the truth. For `trust` the share is 0.021 (2% of
# the impressions' worth of information), and the estimates land 24% to 31% below its truth of
# 0.0760 (IPS 0.0556, SNIPS 0.0522, DR 0.0575); their wide intervals (IPS 0.0404 to 0.0762)
# only just reach it. Part of that miss is structural: the estimators can only reweight what
# popularity's pools contained, while trust's own runs draw from pools of trust's top
# candidates.

# %%
fig, axes = plt.subplots(1, len(targets), figsize=(12, 3.6), sharey=True)
for ax, (name, g) in zip(axes, ope.groupby("target", sort=False)):
    t = g[g["estimator"] == "on-policy truth"].iloc[0]
    ax.axhspan(t["low"], t["high"], color="grey", alpha=0.25, label="on-policy truth (95%)")
    ax.axhline(t["value"], color="grey", lw=1)
    e = g[g["estimator"] != "on-policy truth"].reset_index(drop=True)
    for j, r in e.iterrows():
        own = r["estimator"] == "logged"
        ax.errorbar([j], [r["value"]], yerr=[[r["value"] - r["low"]], [r["high"] - r["value"]]],
                    fmt="o", capsize=4, color="C1" if own else "C0",
                    label=("logging policy's own rate" if own else
                           "estimate from popularity's logs") if j < 2 else None)
    ax.set_xticks(np.arange(len(e)), e["estimator"])
    ax.set(title=name, ylabel="clicks per impression (first 5 slots)")
axes[0].legend(fontsize=8, loc="upper left")
plt.tight_layout()
plt.show()

# %% [markdown]
# Each panel sets the estimates from popularity's logs (blue, with 95% bootstrap intervals over
# users) and the logging policy's own rate (orange) beside the target's on-policy truth (grey
# band, 95% over eight runs): the close target's estimates sit on the band; the other strategy's
# sit well below it, and here the logging policy's own rate (0.0788) would have been the better
# guess of trust's rate (0.0760). The table above quotes the numbers;
# `experiments/ope_validation` repeats the exercise for exposure policies of one strategy, over
# 50 logged runs per pair, and finds the same rule: the effective sample size share, not the
# slate length, predicts whether an off-policy estimate can be trusted (targets at 0.2 or more
# within about 8%; below 0.1 the intervals' coverage drops, to 0.26 in the worst case). Before
# an A/B test, read `ess` first.

# %% [markdown]
# ## 4. A/B designs under network interference
#
# An A/B test inside one social world is not two separate worlds: treated users' purchases and
# endorsements reach control users through their friends' feeds, and both arms' rankers are
# refitted on one shared log. `hr.sim.run(config, arms=..., assignment=...)` runs such a test:
# each user's feed and search are ranked by their arm's strategy while everything else is shared.
# We compare two designs, `trust` (A) against `popularity` (B), in one 800-user world with strong
# word of mouth (three times the recommendation rate, twice the weight of friends' endorsements
# in clicks):
#
# - **user-randomised**: half the users on each arm (`hr.sim.user_randomised`), estimated by the
#   difference in means with Neyman's interval;
# - **cluster-randomised**: half the Louvain communities of the social graph on each arm
#   (`hr.sim.graph_clusters`, `hr.sim.cluster_randomised`), the difference in means with a
#   cluster-robust interval;
#
# against the **global effect**, the difference between two whole-world runs (every user on A,
# every user on B). All four runs share one seed, so each design's error splits exactly into
# interference (how much the test moved each arm's users away from their own whole-world run)
# and randomisation (which users landed in which arm).

# %%
ab = SimulationConfig(n_users=800, n_items=250, days=15, refit_every=7, seed=0,
                      recommend_rate=0.15, rap_rate=0.6, click_social=1.5, click_bought=1.5)
ab_world = hr.datasets.synthetic(n_users=ab.n_users, n_items=ab.n_items, seed=0,
                                 **ab.world_knobs())
arms = {"A": "trust", "B": "popularity"}
whole = {a: hr.sim.run(ab.replace(strategy=s), dataset=ab_world).per_user.set_index("user")
         for a, s in arms.items()}
global_effect = whole["A"]["orders"].mean() - whole["B"]["orders"].mean()
clusters = hr.sim.graph_clusters(ab_world, seed=0)
designs = {"user-randomised": hr.sim.user_randomised(ab_world, seed=0),
           "cluster-randomised": hr.sim.cluster_randomised(clusters, seed=0)}
rows = []
for name, assignment in designs.items():
    per_user = hr.sim.run(ab, arms=arms, assignment=assignment, dataset=ab_world).per_user
    est = (hr.sim.difference_in_means(per_user, "orders") if name == "user-randomised"
           else hr.sim.cluster_difference(per_user, clusters, "orders"))
    pu = per_user.set_index("user")
    in_a = pu["arm"] == "A"
    spill_a = (pu.loc[in_a, "orders"] - whole["A"].loc[pu.index[in_a], "orders"]).mean()
    spill_b = (pu.loc[~in_a, "orders"] - whole["B"].loc[pu.index[~in_a], "orders"]).mean()
    error = est.effect - global_effect
    rows.append({"design": name, "estimate": est.effect, "low": est.low, "high": est.high,
                 "global effect": global_effect, "error": error,
                 "interference": spill_a - spill_b,
                 "randomisation": error - (spill_a - spill_b)})
ab_table = pd.DataFrame(rows)
print(f"{clusters.nunique()} Louvain communities; orders per user: every user on trust "
      f"{whole['A']['orders'].mean():.4f}, every user on popularity "
      f"{whole['B']['orders'].mean():.4f}")
ab_table.round(4)

# %% [markdown]
# Switching every user from popularity to trust changes orders per user by only +0.011 over 15
# days in this world. Both designs' 95% intervals contain that global effect, and both estimates
# miss it by far more than interference explains: the user-randomised test's error of +0.051 is
# +0.0025 interference and +0.049 randomisation, the cluster-randomised test's error of +0.029 is
# -0.0025 interference and +0.031 randomisation.

# %%
fig, ax = plt.subplots(figsize=(8, 2.6))
y = np.arange(len(ab_table))
ax.errorbar(ab_table["estimate"], y,
            xerr=[ab_table["estimate"] - ab_table["low"], ab_table["high"] - ab_table["estimate"]],
            fmt="o", capsize=4, label="A/B estimate (95% interval)")
ax.axvline(global_effect, color="C1", label="global effect (two whole-world runs)")
ax.axvline(0, color="grey", lw=0.8, ls="--")
ax.set_yticks(y, ab_table["design"])
ax.set(xlabel="orders per user, trust minus popularity", ylim=(-0.6, len(ab_table) - 0.4))
ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
plt.tight_layout()
plt.show()

# %% [markdown]
# The plot sets each design's estimate and interval against the global effect: in one small
# world the intervals are about twenty times wider than the effect (0.23 and 0.30 orders per
# user against +0.011), and the cluster design's is the wider one: 7 communities are far fewer
# independent units than 800 users. What one world cannot show is how large the interference
# part is on average and how it grows with word of mouth; `experiments/ab_interference` answers
# that over 8 worlds and three levels of social influence: under strong word of mouth the
# user-randomised test understates the global net-GMV effect by about 40% through interference,
# and cluster randomisation removes most of that bias at a higher variance.
