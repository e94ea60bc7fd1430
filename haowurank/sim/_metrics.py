"""Daily metrics of a run, run summaries, and confidence intervals that respect each metric's
range for comparisons.

Daily columns (one row per day):

* traffic: ``active_users``, ``feed_sessions``, ``search_sessions``, ``impressions``,
  ``clicks``, ``ctr`` (clicks / impressions); the distribution over the day's active users of
  their number of feed candidates (distinct items visible friends endorsed, less the items the
  user bought or endorsed): ``feed_candidates_p10``, ``feed_candidates_median``,
  ``feed_candidates_p90``, ``feed_candidates_mean`` and ``feed_empty_share`` (share with none);
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
  merchants, 0 = equal), ``merchant_exposure_gini_normalised`` (Gini over merchants of
  impressions per catalogue item, i.e. exposure share / catalogue share: 0 when every merchant
  is shown in proportion to its catalogue, so a strategy that favours small merchants lowers
  it), ``merchants_exposed``, ``longtail_impression_share`` and ``longtail_gmv_share``
  (merchants outside the largest ``longtail_top_share`` by catalogue size),
  ``longtail_exposure_ratio`` (long-tail impression share / long-tail catalogue share: 1 is
  proportional, above 1 favours the long tail), ``longtail_item_impression_share`` and
  ``longtail_item_gmv_share`` (items outside the ``longtail_top_share`` most popular items of
  the initial world). Both heads are fixed once from the initial world, so every strategy run
  on that world is measured against the same head;
* messages: ``messages_sent``, ``messages_marketing``, ``quota_granted`` (sends allowed by the
  day's new payments, forms and opt-ins), ``quota_available`` (unused allowance live at the
  start of the message phase), ``quota_utilisation`` (sends used / sends granted, both summed
  from day 0 to that day, so a merchant that uses every allowed send scores 1),
  ``blocked_quota``, ``blocked_window``, ``blocked_ban``, ``blocked_template``,
  ``blocked_optout``, ``blocked_follow``, ``message_orders``, ``message_conversion``,
  ``complaints``, ``opt_outs``, ``follows``, ``forms``, ``optins``, ``penalties``,
  ``bans_active`` (merchants banned on that day), ``merchants_banned_permanent``;
* consequences: ``fatigued_messages`` (messages beyond a user's ``fatigue_free_messages`` in 7
  days), ``churned`` (users who left that day after a complaint), ``churned_users`` (so far),
  ``activity_mean`` (mean activity multiplier over users: 1 until fatigue and complaints),
  ``merchants_adapted`` (merchants that switched policy after penalties that day; see
  ``adapt_after_penalties``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["METRIC_KINDS", "SUMMARY_METRICS", "DailyMetrics", "gini", "mean_ci", "summarise"]

_FEED, _SEARCH, _MESSAGE = 0, 1, 2

_COUNTERS = (
    "active_users", "feed_sessions", "search_sessions", "impressions", "clicks", "orders",
    "orders_feed", "orders_search", "orders_message", "gmv", "session_buyers", "repurchases",
    "shipped", "delivered", "satisfied", "returns", "refunds", "refund_amount", "recommend",
    "recommend_after_purchase", "reshares", "messages_sent", "messages_marketing",
    "quota_available", "blocked_quota", "blocked_window", "blocked_ban", "blocked_template",
    "blocked_optout", "blocked_follow", "complaints", "opt_outs", "follows", "forms", "optins",
    "penalties", "longtail_gmv", "quota_granted", "longtail_item_gmv", "churned",
    "fatigued_messages", "merchants_adapted",
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
        self.engine = engine
        world = engine.world
        self.item_merchant = world.item_merchant
        self.longtail = world.longtail
        self.n_merchants = world.n_merchants
        self.catalogue = np.bincount(world.item_merchant, minlength=self.n_merchants).astype(float)
        lt_items = self.catalogue[self.longtail].sum()
        self.longtail_catalogue_share = _ratio(lt_items, self.catalogue.sum())
        self.longtail_item = world.longtail_items
        self.sent_total = 0.0
        self.granted_total = 0.0
        self.rows: list[dict[str, float]] = []

    def start_day(self, day: int) -> None:
        self.counts: dict[str, float] = defaultdict(float)
        self.impressions_by_merchant = np.zeros(self.n_merchants)
        self.gmv_by_merchant = np.zeros(self.n_merchants)
        self.longtail_item_impressions = 0.0
        self.candidates = np.zeros(0, dtype=np.int64)

    def add(self, key: str, value: float) -> None:
        self.counts[key] += value

    def feed_candidates(self, counts: np.ndarray) -> None:
        self.candidates = np.asarray(counts, dtype=np.int64)

    def impressions(self, users: np.ndarray, items: np.ndarray, channel: np.ndarray) -> None:
        self.counts["impressions"] += len(items)
        if len(items):
            self.impressions_by_merchant += np.bincount(self.item_merchant[items],
                                                        minlength=self.n_merchants)
            self.longtail_item_impressions += float(self.longtail_item[items].sum())

    def session_buyers(self, users: np.ndarray) -> None:
        self.counts["session_buyers"] += len(np.unique(users))

    def orders(self, users, items, merchants, amount, channel, repurchase) -> None:
        self.counts["orders"] += len(users)
        self.counts["gmv"] += float(amount.sum())
        for name, code in (("orders_feed", _FEED), ("orders_search", _SEARCH),
                           ("orders_message", _MESSAGE)):
            self.counts[name] += int((channel == code).sum())
        self.counts["repurchases"] += int(np.sum(repurchase))
        if len(users):
            self.gmv_by_merchant += np.bincount(merchants, weights=amount,
                                                minlength=self.n_merchants)
            self.counts["longtail_item_gmv"] += float(amount[self.longtail_item[items]].sum())

    def endorsements(self, kind: int, has_parent: np.ndarray) -> None:
        self.counts["recommend_after_purchase" if kind == 1 else "recommend"] += len(has_parent)
        self.counts["reshares"] += int(has_parent.sum())

    def messages(self, n: int, n_marketing: int) -> None:
        self.counts["messages_sent"] += n
        self.counts["messages_marketing"] += n_marketing

    def blocked(self, **masks: np.ndarray) -> None:
        names = {"regime": "blocked_window"}
        for k, mask in masks.items():
            self.counts[names.get(k, f"blocked_{k}")] += int(np.sum(mask))

    def quota_available(self, n: int) -> None:
        self.counts["quota_available"] += n

    def merchant_state(self, ban_until: np.ndarray, level: np.ndarray, day: int) -> None:
        self.counts["bans_active"] = int((ban_until > day).sum())
        self.counts["merchants_banned_permanent"] = int((level >= 4).sum())

    def finish_day(self, day: int) -> dict[str, float]:
        c = self.counts
        row: dict[str, float] = {"day": day}
        for k in _COUNTERS:
            row[k] = float(c.get(k, 0.0))
        cand = self.candidates
        if len(cand):
            p10, p50, p90 = np.percentile(cand, [10, 50, 90])
            row.update(feed_candidates_p10=float(p10), feed_candidates_median=float(p50),
                       feed_candidates_p90=float(p90), feed_candidates_mean=float(cand.mean()),
                       feed_empty_share=float((cand == 0).mean()))
        else:
            row.update(feed_candidates_p10=0.0, feed_candidates_median=0.0,
                       feed_candidates_p90=0.0, feed_candidates_mean=0.0, feed_empty_share=0.0)
        imp = self.impressions_by_merchant
        row["longtail_gmv"] = float(self.gmv_by_merchant[self.longtail].sum())
        row["ctr"] = _ratio(row["clicks"], row["impressions"])
        row["conversion"] = _ratio(row["session_buyers"], row["active_users"])
        row["aov"] = _ratio(row["gmv"], row["orders"])
        row["repurchase_rate"] = _ratio(row["repurchases"], row["orders"])
        row["net_gmv"] = row["gmv"] - row["refund_amount"]
        row["endorsements"] = row["recommend"] + row["recommend_after_purchase"]
        row["reshare_share"] = _ratio(row["reshares"], row["endorsements"])
        e = self.engine.endorsements
        n = len(e)
        roots = e["cascade"] == np.arange(n)
        size, depth = e["size"][roots], e["maxdepth"][roots]
        grown = size >= 2
        row["cascades_grown"] = float(grown.sum())
        row["cascade_size_mean"] = float(size[grown].mean()) if grown.any() else 0.0
        row["cascade_size_max"] = float(size.max()) if len(size) else 0.0
        row["cascade_depth_mean"] = float(depth[grown].mean()) if grown.any() else 0.0
        row["cascade_depth_max"] = float(depth.max()) if len(depth) else 0.0
        row["merchant_exposure_gini"] = gini(imp)
        has_items = self.catalogue > 0
        row["merchant_exposure_gini_normalised"] = gini(imp[has_items] / self.catalogue[has_items])
        row["merchants_exposed"] = float((imp > 0).sum())
        row["longtail_impression_share"] = _ratio(imp[self.longtail].sum(), imp.sum())
        row["longtail_exposure_ratio"] = _ratio(row["longtail_impression_share"],
                                                self.longtail_catalogue_share)
        row["longtail_gmv_share"] = _ratio(row["longtail_gmv"], row["gmv"])
        row["longtail_item_impression_share"] = _ratio(self.longtail_item_impressions, imp.sum())
        row["longtail_item_gmv_share"] = _ratio(row["longtail_item_gmv"], row["gmv"])
        self.sent_total += row["messages_sent"]
        self.granted_total += row["quota_granted"]
        row["quota_utilisation"] = _ratio(self.sent_total, self.granted_total)
        row["messages_blocked"] = sum(row[k] for k in row if k.startswith("blocked_"))
        row["message_orders"] = row["orders_message"]
        row["message_conversion"] = _ratio(row["orders_message"], row["messages_sent"])
        row["bans_active"] = float(c.get("bans_active", 0))
        row["merchants_banned_permanent"] = float(c.get("merchants_banned_permanent", 0))
        row["churned_users"] = float(self.engine.churned.sum())
        row["activity_mean"] = float(self.engine.activity.mean())
        row["events"] = float(len(self.engine.log))
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
    "feed_candidates_median", "feed_empty_share",
    "merchant_exposure_gini", "merchant_exposure_gini_normalised", "longtail_impression_share",
    "longtail_exposure_ratio", "longtail_gmv_share", "longtail_item_impression_share",
    "longtail_item_gmv_share", "messages_sent", "quota_utilisation", "message_orders",
    "message_conversion", "complaints", "opt_outs", "penalties", "bans", "refund_rate",
    "churned_users",
)

#: The range of each summary metric, which decides its interval (:func:`mean_ci`): ``"count"``
#: (>= 0: counts, sums of amounts, sizes, ratios without an upper bound), ``"rate"`` (in [0, 1])
#: or ``"real"`` (any sign).
METRIC_KINDS: dict[str, str] = {
    "orders": "count", "gmv": "count", "net_gmv": "real", "conversion": "rate", "ctr": "rate",
    "repurchase_rate": "rate", "endorsements": "count", "reshare_share": "rate",
    "cascade_size_mean": "count", "cascade_size_max": "count", "cascade_depth_max": "count",
    "feed_candidates_median": "count", "feed_empty_share": "rate",
    "merchant_exposure_gini": "rate", "merchant_exposure_gini_normalised": "rate",
    "longtail_impression_share": "rate", "longtail_exposure_ratio": "count",
    "longtail_gmv_share": "rate", "longtail_item_impression_share": "rate",
    "longtail_item_gmv_share": "rate", "messages_sent": "count", "quota_utilisation": "rate",
    "message_orders": "count", "message_conversion": "rate", "complaints": "count",
    "opt_outs": "count", "penalties": "count", "bans": "count", "refund_rate": "rate",
    "churned_users": "count",
}


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
        "feed_candidates_median": float(d["feed_candidates_median"].mean()),
        "feed_empty_share": float(d["feed_empty_share"].mean()),
        "merchant_exposure_gini": float(d["merchant_exposure_gini"].mean()),
        "merchant_exposure_gini_normalised": float(d["merchant_exposure_gini_normalised"].mean()),
        "longtail_impression_share": float(d["longtail_impression_share"].mean()),
        "longtail_exposure_ratio": float(d["longtail_exposure_ratio"].mean()),
        "longtail_gmv_share": _ratio(tot["longtail_gmv"], tot["gmv"]),
        "longtail_item_impression_share": float(d["longtail_item_impression_share"].mean()),
        "longtail_item_gmv_share": _ratio(tot["longtail_item_gmv"], tot["gmv"]),
        "messages_sent": float(tot["messages_sent"]),
        "quota_utilisation": _ratio(tot["messages_sent"], tot["quota_granted"]),
        "message_orders": float(tot["message_orders"]),
        "message_conversion": _ratio(tot["message_orders"], tot["messages_sent"]),
        "complaints": float(tot["complaints"]),
        "opt_outs": float(tot["opt_outs"]),
        "penalties": float(tot["penalties"]),
        "bans": float(last["bans_active"]),
        "refund_rate": _ratio(tot["refunds"], tot["orders"]),
        "churned_users": float(last["churned_users"]),
    }


_RATE_EPS = 1e-4


def _to_scale(x: np.ndarray, kind: str) -> np.ndarray:
    if kind == "count":
        return np.sqrt(np.maximum(x, 0.0))
    if kind == "rate":
        p = np.clip(x, _RATE_EPS, 1.0 - _RATE_EPS)
        return np.log(p / (1.0 - p))
    return x


def _from_scale(y: float, kind: str) -> float:
    if kind == "count":
        return float(max(y, 0.0) ** 2)
    if kind == "rate":
        return float(1.0 / (1.0 + math.exp(-y)))
    return float(y)


def mean_ci(
    x: np.ndarray, level: float = 0.95, kind: str = "real"
) -> tuple[float, float, float, float]:
    """Mean, lower and upper bound of a confidence interval, and the standard deviation.

    The interval respects the metric's range (``kind``, see :data:`METRIC_KINDS`):

    - ``"real"``: the t-interval of the mean;
    - ``"count"`` (values >= 0): the t-interval on the square-root scale (variance-stabilising
      for counts), mapped back; never below 0;
    - ``"rate"`` (values in [0, 1]): the t-interval on the logit scale (values clipped to
      ``[1e-4, 1 - 1e-4]``), mapped back; inside [0, 1].

    A transformed interval is widened to contain the arithmetic mean where the back-transform
    would leave it outside. With one value the interval is that value (no spread can be
    estimated).

    Raises
    ------
    ValueError
        ``kind`` is not one of ``"real"``, ``"count"``, ``"rate"``.
    """
    from scipy import stats

    if kind not in ("real", "count", "rate"):
        raise ValueError(
            f"The 'kind' parameter of mean_ci must be 'real', 'count' or 'rate'. Got {kind!r}."
        )
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    if n == 0:
        return math.nan, math.nan, math.nan, math.nan
    mu = float(x.mean())
    if n == 1:
        return mu, mu, mu, 0.0
    sd = float(x.std(ddof=1))
    t = float(stats.t.ppf(0.5 + level / 2.0, n - 1))
    y = _to_scale(x, kind)
    centre, half = float(y.mean()), t * float(y.std(ddof=1)) / math.sqrt(n)
    lo, hi = _from_scale(centre - half, kind), _from_scale(centre + half, kind)
    if kind != "real":
        lo, hi = min(lo, mu), max(hi, mu)
    return mu, lo, hi, sd
