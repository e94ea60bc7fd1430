"""Daily metrics of a run, run summaries, and t-based confidence intervals for comparisons.

Daily columns (one row per day):

* traffic: ``active_users``, ``feed_sessions``, ``search_sessions``, ``impressions``,
  ``clicks``, ``ctr`` (clicks / impressions);
* orders: ``orders``, ``orders_feed``, ``orders_search``, ``orders_message``, ``gmv`` (sum of
  paid amounts), ``aov``, ``conversion`` (share of active users who bought in their session),
  ``repurchases`` and ``repurchase_rate`` (orders of an item the user had bought before /
  orders), ``shipped``, ``delivered``, ``satisfied``, ``returns``, ``refunds``,
  ``refund_amount``, ``net_gmv``;
* word of mouth: ``recommend``, ``recommend_after_purchase``, ``endorsements``, ``reshares``
  (endorsements with a parent endorsement) and ``reshare_share``; over all cascades so far,
  ``cascades_grown`` (cascades with at least one reshare), ``cascade_size_mean`` and
  ``cascade_depth_mean`` (over grown cascades), ``cascade_size_max``, ``cascade_depth_max``;
* decentralised distribution: ``merchant_exposure_gini`` (Gini of impressions over all
  merchants, 0 = equal), ``merchants_exposed``, ``longtail_impression_share`` and
  ``longtail_gmv_share`` (merchants outside the largest ``longtail_top_share``);
* messages: ``messages_sent``, ``messages_marketing``, ``quota_available`` (unused allowance
  live at the start of the message phase), ``quota_utilisation`` (sent / available),
  ``blocked_quota``, ``blocked_window``, ``blocked_ban``, ``blocked_template``,
  ``blocked_optout``, ``blocked_follow``, ``message_orders``, ``message_conversion``,
  ``complaints``, ``opt_outs``, ``follows``, ``forms``, ``optins``, ``penalties``,
  ``bans_active`` (merchants banned on that day), ``merchants_banned_permanent``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["DailyMetrics", "SUMMARY_METRICS", "gini", "mean_ci", "summarise"]

_FEED, _SEARCH, _MESSAGE = 0, 1, 2

_COUNTERS = (
    "active_users", "feed_sessions", "search_sessions", "impressions", "clicks", "orders",
    "orders_feed", "orders_search", "orders_message", "gmv", "session_buyers", "repurchases",
    "shipped", "delivered", "satisfied", "returns", "refunds", "refund_amount", "recommend",
    "recommend_after_purchase", "reshares", "messages_sent", "messages_marketing",
    "quota_available", "blocked_quota", "blocked_window", "blocked_ban", "blocked_template",
    "blocked_optout", "blocked_follow", "complaints", "opt_outs", "follows", "forms", "optins",
    "penalties", "longtail_gmv",
)


def gini(x: np.ndarray) -> float:
    """Gini coefficient of non-negative values (0: all equal, -> 1: one holds everything)."""
    x = np.sort(np.asarray(x, dtype=np.float64))
    n, tot = len(x), x.sum()
    if n == 0 or tot <= 0:
        return 0.0
    return float(2.0 * np.sum(np.arange(1, n + 1) * x) / (n * tot) - (n + 1.0) / n)


def _ratio(a: float, b: float) -> float:
    return float(a) / float(b) if b else 0.0


class DailyMetrics:
    """Counters filled during a day by the engine, turned into one row at the end of it."""

    def __init__(self, engine: Any):
        self.eng = engine
        w = engine.w
        self.item_merchant = w.item_merchant
        self.longtail = w.longtail
        self.nm = w.n_merchants
        self.rows: list[dict[str, float]] = []

    def start_day(self, day: int) -> None:
        self.c: dict[str, float] = defaultdict(float)
        self.imp_m = np.zeros(self.nm)
        self.gmv_m = np.zeros(self.nm)

    def add(self, key: str, value: float) -> None:
        self.c[key] += value

    def impressions(self, users: np.ndarray, items: np.ndarray, channel: np.ndarray) -> None:
        self.c["impressions"] += len(items)
        if len(items):
            self.imp_m += np.bincount(self.item_merchant[items], minlength=self.nm)

    def session_buyers(self, users: np.ndarray) -> None:
        self.c["session_buyers"] += len(np.unique(users))

    def orders(self, users, items, merchants, amount, channel, repurchase) -> None:
        self.c["orders"] += len(users)
        self.c["gmv"] += float(amount.sum())
        for name, code in (("orders_feed", _FEED), ("orders_search", _SEARCH),
                           ("orders_message", _MESSAGE)):
            self.c[name] += int((channel == code).sum())
        self.c["repurchases"] += int(np.sum(repurchase))
        if len(users):
            self.gmv_m += np.bincount(merchants, weights=amount, minlength=self.nm)

    def endorsements(self, kind: int, has_parent: np.ndarray) -> None:
        self.c["recommend_after_purchase" if kind == 1 else "recommend"] += len(has_parent)
        self.c["reshares"] += int(has_parent.sum())

    def messages(self, n: int, n_marketing: int) -> None:
        self.c["messages_sent"] += n
        self.c["messages_marketing"] += n_marketing

    def blocked(self, **masks: np.ndarray) -> None:
        names = {"regime": "blocked_window"}
        for k, mask in masks.items():
            self.c[names.get(k, f"blocked_{k}")] += int(np.sum(mask))

    def quota_available(self, n: int) -> None:
        self.c["quota_available"] += n

    def merchant_state(self, ban_until: np.ndarray, level: np.ndarray, day: int) -> None:
        self.c["bans_active"] = int((ban_until > day).sum())
        self.c["merchants_banned_permanent"] = int((level >= 4).sum())

    def finish_day(self, day: int) -> dict[str, float]:
        c = self.c
        row: dict[str, float] = {"day": day}
        for k in _COUNTERS:
            row[k] = float(c.get(k, 0.0))
        row["longtail_gmv"] = float(self.gmv_m[self.longtail].sum())
        row["ctr"] = _ratio(row["clicks"], row["impressions"])
        row["conversion"] = _ratio(row["session_buyers"], row["active_users"])
        row["aov"] = _ratio(row["gmv"], row["orders"])
        row["repurchase_rate"] = _ratio(row["repurchases"], row["orders"])
        row["net_gmv"] = row["gmv"] - row["refund_amount"]
        row["endorsements"] = row["recommend"] + row["recommend_after_purchase"]
        row["reshare_share"] = _ratio(row["reshares"], row["endorsements"])
        e = self.eng.end
        n = len(e)
        roots = e["cascade"] == np.arange(n)
        size, depth = e["size"][roots], e["maxdepth"][roots]
        grown = size >= 2
        row["cascades_grown"] = float(grown.sum())
        row["cascade_size_mean"] = float(size[grown].mean()) if grown.any() else 0.0
        row["cascade_size_max"] = float(size.max()) if len(size) else 0.0
        row["cascade_depth_mean"] = float(depth[grown].mean()) if grown.any() else 0.0
        row["cascade_depth_max"] = float(depth.max()) if len(depth) else 0.0
        row["merchant_exposure_gini"] = gini(self.imp_m)
        row["merchants_exposed"] = float((self.imp_m > 0).sum())
        row["longtail_impression_share"] = _ratio(self.imp_m[self.longtail].sum(), self.imp_m.sum())
        row["longtail_gmv_share"] = _ratio(row["longtail_gmv"], row["gmv"])
        row["quota_utilisation"] = _ratio(row["messages_sent"], row["quota_available"])
        row["messages_blocked"] = sum(row[k] for k in row if k.startswith("blocked_"))
        row["message_orders"] = row["orders_message"]
        row["message_conversion"] = _ratio(row["orders_message"], row["messages_sent"])
        row["bans_active"] = float(c.get("bans_active", 0))
        row["merchants_banned_permanent"] = float(c.get("merchants_banned_permanent", 0))
        row["events"] = float(len(self.eng.log))
        self.rows.append(row)
        return row

    def frame(self) -> pd.DataFrame:
        df = pd.DataFrame(self.rows)
        if len(df):
            df["day"] = df["day"].astype(np.int64)
        return df


#: Run-level metrics reported by :func:`summarise` and compared by ``hr.sim.compare``.
SUMMARY_METRICS: tuple[str, ...] = (
    "orders", "gmv", "net_gmv", "conversion", "ctr", "repurchase_rate", "endorsements",
    "reshare_share", "cascade_size_mean", "cascade_size_max", "cascade_depth_max",
    "merchant_exposure_gini", "longtail_impression_share", "longtail_gmv_share", "messages_sent",
    "quota_utilisation", "message_orders", "message_conversion", "complaints", "opt_outs",
    "penalties", "bans", "refund_rate",
)


def summarise(daily: pd.DataFrame) -> dict[str, float]:
    """Run-level metrics from the daily frame: totals, ratio of totals, means or the last day."""
    if len(daily) == 0:
        return {k: 0.0 for k in SUMMARY_METRICS}
    d = daily
    tot = d.sum(numeric_only=True)
    last = d.iloc[-1]
    return {
        "orders": float(tot["orders"]),
        "gmv": float(tot["gmv"]),
        "net_gmv": float(tot["net_gmv"]),
        "conversion": _ratio(tot["session_buyers"], tot["active_users"]),
        "ctr": _ratio(tot["clicks"], tot["impressions"]),
        "repurchase_rate": _ratio(tot["repurchases"], tot["orders"]),
        "endorsements": float(tot["endorsements"]),
        "reshare_share": _ratio(tot["reshares"], tot["endorsements"]),
        "cascade_size_mean": float(last["cascade_size_mean"]),
        "cascade_size_max": float(last["cascade_size_max"]),
        "cascade_depth_max": float(last["cascade_depth_max"]),
        "merchant_exposure_gini": float(d["merchant_exposure_gini"].mean()),
        "longtail_impression_share": float(d["longtail_impression_share"].mean()),
        "longtail_gmv_share": _ratio(tot["longtail_gmv"], tot["gmv"]),
        "messages_sent": float(tot["messages_sent"]),
        "quota_utilisation": _ratio(tot["messages_sent"], tot["quota_available"]),
        "message_orders": float(tot["message_orders"]),
        "message_conversion": _ratio(tot["message_orders"], tot["messages_sent"]),
        "complaints": float(tot["complaints"]),
        "opt_outs": float(tot["opt_outs"]),
        "penalties": float(tot["penalties"]),
        "bans": float(last["bans_active"]),
        "refund_rate": _ratio(tot["refunds"], tot["orders"]),
    }


def mean_ci(x: np.ndarray, level: float = 0.95) -> tuple[float, float, float, float]:
    """Mean, lower and upper bound of a t-based confidence interval, and the standard deviation.

    With one value the interval is that value (no spread can be estimated).
    """
    from scipy import stats

    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    if n == 0:
        return math.nan, math.nan, math.nan, math.nan
    mu = float(x.mean())
    if n == 1:
        return mu, mu, mu, 0.0
    sd = float(x.std(ddof=1))
    half = float(stats.t.ppf(0.5 + level / 2.0, n - 1)) * sd / math.sqrt(n)
    return mu, mu - half, mu + half, sd
