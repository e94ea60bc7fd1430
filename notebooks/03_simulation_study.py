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
# # 03 Simulation study: strategies x merchant messaging
#
# Offline metrics score a ranker on yesterday's log. The simulator asks what happens *over time*
# when the platform ranks with a strategy: users open their friends' feed or search, click, buy,
# receive orders, recommend what satisfied them (which feeds their friends' feeds), and merchants
# message buyers under the platform's quota rules.
#
# We cross three ranking strategies with three merchant messaging policies (`none`, `timed`:
# one message near the repurchase time, `spammer`: every message the quota allows, some of it
# marketing) and run three replicates of each. Replicates share worlds and random streams across
# configurations (common random numbers), so differences are paired and intervals are tight.
#
# The **decentralisation question**: does ranking by friends' endorsements spread exposure and
# sales across many merchants (low merchant exposure Gini, high long-tail share), or concentrate
# them like a popularity chart?

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import haowurank as hr
from haowurank import report, verdict

pd.set_option("display.width", 160)

# %%
base = hr.sim.SimulationConfig(n_users=1000, n_items=400, days=30, seed=0)
strategies = ["popularity", "friend_endorsements", "trust"]
policies = ["none", "timed", "spammer"]
configs = {f"{s}/{p}": {"strategy": s, "messaging": p} for s in strategies for p in policies}
comparison = hr.sim.compare(configs, replicates=3, base=base, keep_daily=True)
study = report.SimStudy.from_comparison(comparison)
print(f"{len(study.runs)} runs (9 configurations x 3 replicates), {len(study.daily)} simulated "
      f"days")

# %% [markdown]
# Each of the 27 runs kept its daily frame, so every number below has an interval over the
# three replicates.

# %% [markdown]
# `hr.sim.compare(..., keep_daily=True)` also keeps every run's daily frame; `report.SimStudy`
# formats it (tables and bands over time). Run totals with 95% intervals over the replicates:

# %%
metrics = ["orders", "gmv", "repurchase_rate", "endorsements", "cascade_size_mean",
           "merchant_exposure_gini", "longtail_impression_share", "messages_sent",
           "complaints", "opt_outs"]
study.table(metrics)[["config", *metrics]].round(3)

# %% [markdown]
# Messaging moves the totals more than the ranking strategy does. Under every strategy `timed`
# messaging adds 4% to 5% orders and lifts the repurchase rate from 0.005 to about 0.05, with
# almost no complaints; `spammer` sends more messages for fewer extra orders (at most 1% more
# than no messaging) and draws about 2 complaints, 3 opt-outs and 16 penalties per run (the
# consequence sizes are the published rates cited in `SimulationConfig`). Without messaging the three strategies differ by at most
# 14 orders (571 to 585), and their concentration and long-tail measures agree to two decimals.

# %% [markdown]
# ## Over time
#
# Cumulative GMV and endorsements, mean and 95% band across replicates (no messaging).

# %%
plain = [f"{s}/none" for s in strategies]
COLORS = {cfg: f"C{j}" for j, cfg in enumerate(plain)}


def plot_bands(ax, bands, metric, configs):
    for cfg in configs:
        b = bands[(bands["metric"] == metric) & (bands["config"] == cfg)]
        ax.plot(b["day"], b["mean"], label=cfg, color=COLORS[cfg])
        ax.fill_between(b["day"], b["ci_low"], b["ci_high"], alpha=0.2, color=COLORS[cfg])
    ax.set(title=verdict.label(metric), xlabel="day")


fig, axes = plt.subplots(1, 3, figsize=(14, 3.4))
cum = study.bands(["gmv", "endorsements"], cumulative=True)
plot_bands(axes[0], cum, "gmv", plain)
axes[0].set_ylabel("cumulative")
plot_bands(axes[1], cum, "endorsements", plain)
plot_bands(axes[2], study.bands(["merchant_exposure_gini"]), "merchant_exposure_gini", plain)
axes[0].legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# The three strategies' curves lie inside each other's bands: the levels cannot tell them
# apart over 30 days.
#
# The bands of the levels are wide because each replicate draws a new world. The comparison
# that matters is paired: each strategy minus popularity, replicate by replicate, on the same
# world and random streams.

# %%
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
plt.show()

# %% [markdown]
# Paired, the picture sharpens: both social strategies' cumulative GMV and endorsements drift
# above popularity's, to about +1,100 GMV and +8 endorsements by day 30. By day 30 the bands lie
# just above zero for both strategies' endorsements and for trust's GMV, while
# friend_endorsements' GMV band still spans zero (the table below gives the intervals of the run
# totals). The merchant exposure concentration difference stays within 0.01 of zero, its bands
# straddling zero throughout.

# %% [markdown]
# ## The decentralisation question
#
# Merchant exposure Gini (0: every merchant seen equally often) and the long-tail share of
# impressions and of GMV (merchants outside the largest 20%), per strategy, with 95% intervals.

# %%
s = study.summary
dec = ["merchant_exposure_gini", "longtail_impression_share", "longtail_gmv_share"]
fig, axes = plt.subplots(1, 3, figsize=(14, 3.4))
for ax, m in zip(axes, dec):
    rows = s[(s["metric"] == m) & s["config"].isin(plain)].set_index("config").loc[plain]
    err = np.vstack([rows["mean"] - rows["ci_low"], rows["ci_high"] - rows["mean"]])
    ax.bar(strategies, rows["mean"], yerr=err, capsize=4, color=["C0", "C1", "C2"])
    ax.set(title=verdict.label(m))
    ax.tick_params(axis="x", labelrotation=15)
plt.tight_layout()
plt.show()

# %% [markdown]
# The three decentralisation measures are practically identical across strategies
# (merchant exposure Gini 0.59, long-tail impressions 0.43, long-tail GMV 0.49), with intervals
# that overlap almost entirely.

# %% [markdown]
# Paired differences to `popularity/none` (same worlds, same random streams in each replicate):
# an interval that excludes 0 is a difference this many replicates can resolve; one that
# straddles 0 says "no detectable difference", not "equal". More replicates narrow them.

# %%
d = s[s["metric"].isin(["orders", "gmv", "endorsements", *dec]) & s["config"].isin(plain[1:])]
d[["config", "metric", "mean", "diff", "diff_ci_low", "diff_ci_high"]].round(4)

# %% [markdown]
# In this table only volume rows have intervals that exclude zero: friend_endorsements' orders
# and endorsements, trust's GMV and endorsements. Every decentralisation row's interval includes
# zero.

# %% [markdown]
# ## The answer
#
# The verdict per decentralisation metric, from the paired differences to popularity without
# messaging (a lower merchant exposure Gini and higher long-tail shares are more decentralised):

# %%
no_msg = s[s["config"].isin(plain)]
for m in [*dec, "gmv"]:
    print("-", verdict.sentence(verdict.sim_verdict(no_msg, m), m, "popularity/none",
                                unit="replicates"))

# %% [markdown]
# **Answer.** In this simulated world, ranking by friends' endorsements does *not* measurably
# decentralise exposure or sales: against popularity, the merchant exposure Gini changes by
# -0.1% (95% interval -0.5% to +0.2%), the long-tail impression share by +0.2% (-0.6% to +0.9%)
# and the long-tail GMV share by +1.0% (-7.2% to +9.2%); every interval includes zero. What the
# social strategies do change is volume, and only in part resolved (the paired table above):
# both add about 8 endorsements per run (friend_endorsements +8.3, interval +0.3 to +16.3;
# trust +8.3, +0.7 to +15.9), trust adds 1,100 GMV (+118 to +2,082) and friend_endorsements 14
# orders (+11.5 to +16.5), while friend_endorsements' GMV (+1,169, -877 to +3,215) and trust's
# orders (+10.7, -5.3 to +26.6) are not resolved (the GMV verdict printed above names that
# +4.0% and says so). More replicates would narrow the decentralisation intervals; with three,
# the answer is "no detectable effect".

# %% [markdown]
# ## Messaging: orders against complaints
#
# Messages bring orders back (repurchases) but cost complaints and opt-outs; spammers also draw
# penalties. Per policy, averaged over strategies:

# %%
runs = study.runs.assign(policy=study.runs["config"].str.split("/").str[1])
by_policy = runs.groupby("policy")[["messages_sent", "message_orders", "complaints",
                                    "opt_outs", "penalties", "gmv"]].mean().loc[policies]
fig, ax = plt.subplots(figsize=(7, 3.2))
shown = ["message_orders", "complaints", "opt_outs"]
by_policy[shown].rename(columns=verdict.label).plot.bar(ax=ax, rot=0)
ax.set(title="Per run (30 days, 1,000 users)", ylabel="count")
ax.tick_params(axis="x", labelrotation=0)
plt.tight_layout()
plt.show()
by_policy.round(1)

# %% [markdown]
# Per run, `timed` messaging turns about 612 messages into 29 orders with under one complaint
# and one opt-out, while `spammer` turns 994 messages into 11 orders with 2 complaints, 3 opt-outs
# and 16 penalties, and less GMV than `timed`: the spammer's extra messages bring fewer orders
# back and cost penalties.

# %% [markdown]
# Every run's event log is enough to verify the messaging rules (quota per order and per form,
# windows, follows) after the fact:

# %%
res = hr.sim.run(base.replace(strategy="trust", messaging="spammer", days=10))
violations = res.check_quotas()
print(res)
print("quota violations:", len(violations))
res.events[res.events["type"] == "message"].head()

# %% [markdown]
# The spammer's run has no quota violations: every message row's `ref` names the order or form
# whose quota it used, so the rules can be checked from the event log alone.
