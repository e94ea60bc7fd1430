"""The one typed configuration of a simulation run, with validation and a JSON / TOML round trip."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._atomic import write_text

__all__ = ["DEFAULT_MESSAGING", "POLICIES", "SEARCH_PARAMS", "SIM_WORLD", "SimulationConfig"]

#: Merchant messaging policies (see :mod:`haowurank.sim._messaging`).
POLICIES: tuple[str, ...] = ("none", "immediate", "timed", "spammer")

#: The default mix of merchants' messaging policies: most merchants message within the rules
#: (order updates at once, or one reminder timed to the repurchase), some never message, and a
#: minority maximise their quota with some marketing content (the behaviour the platform's
#: penalties exist for). A modelling choice, not a measured share; change it with ``messaging``.
DEFAULT_MESSAGING: dict[str, float] = {"immediate": 0.35, "timed": 0.35, "none": 0.2, "spammer": 0.1}

#: Knobs of :func:`haowurank.datasets.synthetic` the simulation's world uses unless the
#: ``world`` field overrides them: more friends and more endorsements than the library's default
#: world, so that friends' feeds are populated (the median active user has ten or more feed
#: candidates on day 30; ``experiments/sim_product`` records the distribution). A modelling
#: choice, not a calibration against data.
SIM_WORLD: dict[str, float] = {
    "mean_degree": 18.0, "p_recommend_after_purchase": 0.45, "p_plain_recommend": 0.2,
}

#: Parameters of :class:`haowurank.search.SearchIndex` the ``search`` field may set.
SEARCH_PARAMS: tuple[str, ...] = (
    "text_weight", "rec_weight", "friend_weight", "min_text_score", "k1", "b", "max_named",
)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _prob(v: Any) -> bool:
    return _is_num(v) and 0.0 <= v <= 1.0


# field name -> (predicate, expectation written for the error message)
_CHECKS: dict[str, tuple[Any, str]] = {
    "n_users": (lambda v: _is_int(v) and v >= 2, "an int >= 2"),
    "n_items": (lambda v: _is_int(v) and v >= 2, "an int >= 2"),
    "days": (lambda v: _is_int(v) and v >= 1, "a positive int"),
    "seed": (lambda v: _is_int(v) and v >= 0, "a non-negative int"),
    "world_seed": (lambda v: v is None or (_is_int(v) and v >= 0), "None or a non-negative int"),
    "world": (lambda v: isinstance(v, dict) and all(isinstance(k, str) for k in v),
              "a dict of keyword arguments for hr.datasets.synthetic"),
    "strategy": (lambda v: isinstance(v, str) and bool(v), "a ranker name"),
    "strategy_params": (lambda v: isinstance(v, dict) and all(isinstance(k, str) for k in v),
                        "a dict of ranker parameters"),
    "refit_every": (lambda v: _is_int(v) and v >= 0, "an int >= 0 (0: never refit)"),
    "fold_in": (lambda v: isinstance(v, bool), "a bool"),
    "feed_size": (lambda v: _is_int(v) and v >= 1, "a positive int"),
    "search_size": (lambda v: _is_int(v) and v >= 1, "a positive int"),
    "feed_window_days": (lambda v: _is_int(v) and v >= 0, "an int >= 0 (0: never expire)"),
    "feed": (lambda v: isinstance(v, dict) and all(isinstance(k, str) for k in v),
             "a dict of hr.feed.FeedConfig parameters"),
    "search": (lambda v: isinstance(v, dict) and all(k in SEARCH_PARAMS for k in v),
               f"a dict of hr.search.SearchIndex parameters among {list(SEARCH_PARAMS)}"),
    "daily_active_rate": (lambda v: _is_num(v) and 0.0 < v <= 1.0, "a float in (0, 1]"),
    "feed_share": (_prob, "a probability in [0, 1]"),
    "position_decay": (lambda v: _is_num(v) and v >= 0, "a float >= 0"),
    "click_base": (_is_num, "a finite float (a logit)"),
    "click_utility": (_is_num, "a finite float"),
    "click_social": (_is_num, "a finite float"),
    "click_bought": (_is_num, "a finite float"),
    "buy_base": (_is_num, "a finite float (a logit)"),
    "buy_utility": (_is_num, "a finite float"),
    "buy_bought": (_is_num, "a finite float"),
    "satisfaction_base": (_is_num, "a finite float (a logit)"),
    "satisfaction_utility": (_is_num, "a finite float"),
    "cancel_rate": (_prob, "a probability in [0, 1]"),
    "return_rate": (_prob, "a probability in [0, 1]"),
    "rap_rate": (_prob, "a probability in [0, 1]"),
    "recommend_rate": (_prob, "a probability in [0, 1]"),
    "follow_rate": (_prob, "a probability in [0, 1]"),
    "form_rate": (_prob, "a probability in [0, 1]"),
    "public_share": (_prob, "a probability in [0, 1]"),
    "ship_delay_mean": (lambda v: _is_num(v) and v >= 1, "a float >= 1 (days)"),
    "transit_mean": (lambda v: _is_num(v) and v >= 1, "a float >= 1 (days)"),
    "repurchase_days": (lambda v: _is_num(v) and v >= 1, "a float >= 1 (days)"),
    "subscription_from_day": (lambda v: v is None or (_is_int(v) and v >= 0),
                              "None (template messages throughout) or a day >= 0"),
    "messages_require_follow": (lambda v: isinstance(v, bool), "a bool"),
    "marketing_rate": (_prob, "a probability in [0, 1]"),
    "optin_rate": (_prob, "a probability in [0, 1]"),
    "message_response": (_prob, "a probability in [0, 1]"),
    "optout_base": (_is_num, "a finite float (a logit)"),
    "optout_per_message": (lambda v: _is_num(v) and v >= 0, "a float >= 0"),
    "complaint_base": (_is_num, "a finite float (a logit)"),
    "complaint_marketing": (lambda v: _is_num(v) and v >= 0, "a float >= 0"),
    "fatigue_free_messages": (lambda v: _is_int(v) and v >= 0, "an int >= 0"),
    "fatigue_activity_drop": (_prob, "a probability in [0, 1]"),
    "complaint_activity_drop": (_prob, "a probability in [0, 1]"),
    "churn_per_complaint": (_prob, "a probability in [0, 1]"),
    "adapt_after_penalties": (lambda v: _is_int(v) and v >= 0,
                              "an int >= 0 (0: merchants never adapt)"),
    "adapt_policy": (lambda v: v in POLICIES, f"one of {list(POLICIES)}"),
    "audit_rate": (_prob, "a probability in [0, 1]"),
    "longtail_top_share": (lambda v: _is_num(v) and 0.0 < v < 1.0, "a float in (0, 1)"),
    "log_impressions": (lambda v: isinstance(v, bool), "a bool"),
    "exposure": (lambda v: v in ("deterministic", "plackett_luce", "epsilon"),
                 "one of ['deterministic', 'plackett_luce', 'epsilon']"),
    "exposure_temperature": (lambda v: _is_num(v) and v > 0, "a finite float > 0"),
    "exposure_epsilon": (_prob, "a probability in [0, 1]"),
    "exposure_pool": (lambda v: _is_int(v) and v >= 1, "an int >= 1"),
    "label": (lambda v: v is None or isinstance(v, str), "None or a str"),
}


@dataclass
class SimulationConfig:
    """Every knob of a simulation run; validated on construction, JSON / TOML round trip.

    Parameters
    ----------
    n_users, n_items : int
        Size of the synthetic world made by :func:`haowurank.datasets.synthetic`.
    days : int
        Number of simulated days.
    seed : int
        Root seed of every random stream of the run (see :class:`~haowurank.sim._streams.Streams`).
    world_seed : int or None
        Seed of the synthetic world (None: ``seed``). Runs that share it share the world.
    world : dict
        Further knobs of :func:`haowurank.datasets.synthetic` (e.g. ``homophily``,
        ``n_merchants``, ``platforms``: the source platforms orders are synced from). They
        override :data:`SIM_WORLD`, the simulation's own defaults (see :meth:`world_knobs`).
    strategy : str
        The platform's ranker, any name in :func:`haowurank.rankers.available`.
    strategy_params : dict
        Keyword arguments for :func:`haowurank.rankers.make`.
    refit_every : int
        The platform refits its ranker on the accumulated log every ``refit_every`` days
        (0: only the initial fit on the world's history).
    fold_in : bool
        Between full refits, fold each finished day's new platform rows into the ranker with its
        ``partial_fit_users`` (ALS-based and other CF rankers: the touched users' state is
        recomputed with the item side fixed), instead of leaving the ranker as last fitted.
        Only for strategies whose ranker has ``partial_fit_users``; a full refit still runs
        every ``refit_every`` days.
    feed_size, search_size : int
        Slate lengths of a friends'-feed session and of a search session.
    feed_window_days : int
        Endorsements older than this many days leave the platform's feed and search state (0:
        they stay; the feed's freshness decay, ``feed["half_life_days"]``, still ages them).
    feed : dict
        Parameters of :class:`haowurank.feed.FeedConfig` (freshness half-life, endorsement
        weight, diversity, merchant and category caps, ...): the simulated feed is
        :func:`haowurank.feed.build` with them. Empty: the product's defaults.
    search : dict
        Parameters of :class:`haowurank.search.SearchIndex` (:data:`SEARCH_PARAMS`): the
        simulated search is its ``query``. Empty: the product's defaults.
    daily_active_rate : float
        Mean share of users active on a day; each user's rate scales with their true activity.
    feed_share : float
        Probability that a session opens the friends' feed rather than search (a user whose
        feed is empty searches).
    position_decay : float
        Examination probability of slate rank ``r`` (0-based) is ``(r + 1) ** -position_decay``.
    click_base, click_utility, click_social, click_bought : float
        Click logit: ``click_base + click_utility * z + click_social * log1p(n_endorsing_friends)
        + click_bought * [a friend bought]`` with ``z`` the standardised true utility.
    buy_base, buy_utility, buy_bought : float
        Purchase logit after a click.
    satisfaction_base, satisfaction_utility : float
        Logit of being satisfied after delivery (plus the item's quality).
    cancel_rate : float
        Probability that an order is refunded before it ships.
    return_rate : float
        Probability that an unsatisfied buyer returns the item (refund after delivery).
    rap_rate : float
        Probability that a satisfied buyer "recommends after purchase".
    recommend_rate : float
        Probability that a clicker who did not buy plainly "recommends" (scaled by utility).
    follow_rate : float
        Probability that a buyer follows the merchant's service account after paying.
    form_rate : float
        Probability that a clicker who did not buy submits a form to the merchant.
    public_share : float
        Share of endorsements with visibility "public" (the rest are "friends").
    ship_delay_mean, transit_mean : float
        Mean days from payment to shipping and from shipping to delivery.
    repurchase_days : float
        Median repurchase cycle of a consumable item (varies by category and item).
    messaging : str or dict
        Merchant messaging policy, one of :data:`POLICIES`, or a dict policy -> share of
        merchants (e.g. ``{"timed": 0.8, "spammer": 0.2}``). Default: the mix
        :data:`DEFAULT_MESSAGING`, so a default run exercises the whole loop.
    subscription_from_day : int or None
        From this day on, template messages (payment and form quotas) are gone and merchants
        may only send one-time subscription messages (one per opt-in, no expiry).
    messages_require_follow : bool
        Template messages reach only followers of the merchant's service account (off by
        default: under the platform's rules template messages need no follow). Following is
        the long-term channel either way: a follower may be asked to opt in to one-time
        subscription messages, which reach them after the template window.
    marketing_rate : float
        Share of a spammer's messages that carry marketing content (a rule violation).
    optin_rate : float
        Probability that a buyer accepts a one-time subscription prompt.
    message_response : float
        Purchase probability of a message that arrives exactly at the repurchase time.
    optout_base, optout_per_message : float
        Opt-out logit per message: ``optout_base + optout_per_message * (messages in 7 days - 1)``
        (messages from that merchant to that user), plus 1 for marketing content. An opt-out
        mutes that merchant's messages for that user. ``optout_base`` = -6.6 (an opt-out
        probability of about 0.14% for a lone message) is the global average unsubscribe rate
        per marketing email of the GDMA Email Benchmark 2024 [1]_ (the typical range is
        0.1-0.5% [2]_). ``optout_per_message`` = 0.4 is derived, not measured: the fifth
        message of a week is then about five times as likely to end in an opt-out as the first,
        the ratio of the shares of smartphone users who say they would disable an app's
        notifications at up to five a week (47%) and at one a week (10%) in Localytics' 2017
        survey [3]_.
    complaint_base, complaint_marketing : float
        Complaint logit per message (plus ``optout_per_message`` per extra message, plus
        ``complaint_marketing`` when the message is marketing). ``complaint_base`` = -7.6 (a
        complaint probability of about 0.05% per message) follows the email benchmarks:
        recipients unsubscribe about three times as often as they complain [4]_, reported
        average spam-complaint rates are 0.02-0.07% (0.04% in e-commerce) [5]_, and large
        mailbox providers require bulk senders to stay below 0.3% [1]_.
        ``complaint_marketing`` = 2.5 (about 0.6% for a marketing message, above that ceiling)
        is an assumption: no published rate of complaints about marketing content in
        transactional messages was found.
    fatigue_free_messages, fatigue_activity_drop : int, float
        Message fatigue: each message a user receives beyond ``fatigue_free_messages`` in 7 days
        (from all merchants together) multiplies the user's activity (their probability of a
        session on a day) by ``1 - fatigue_activity_drop``. ``fatigue_free_messages`` = 1:
        in the Localytics survey [3]_ 10% of users would disable notifications at one a week
        and 37% more at two to five. ``fatigue_activity_drop`` = 0.025 maps the same survey's
        22% who would stop using an app that sends two to five notifications a week onto a
        user who gets about 3.5 messages a week for four weeks (ten tiring messages,
        ``(1 - 0.025) ** 10`` = 0.78); the horizon is an assumption (over one week the same
        share gives about 0.1), so ``experiments/spam_sensitivity`` varies it from 0 to 0.2.
    complaint_activity_drop, churn_per_complaint : float
        Each complaint multiplies the complaining user's activity by
        ``1 - complaint_activity_drop``, and with probability ``churn_per_complaint`` the user
        leaves (no more sessions; a "churn" event). Both are assumptions: no published churn
        rate after a complaint about a message was found. For scale, an unwanted proactive
        contact in a field experiment raised three-month churn from 6.4% to 10.0% [6]_; a user
        who complains is more annoyed than that, so the default churn is 0.1 per complaint,
        and ``experiments/spam_sensitivity`` varies it from 0 to 1.
    adapt_after_penalties, adapt_policy : int, str
        Merchant adaptation: a merchant penalised ``adapt_after_penalties`` times switches its
        messaging policy to ``adapt_policy`` (one of :data:`POLICIES`) on the day of that
        penalty (an "adapt" event); its messages already planned carry no marketing content
        from then on. 0 (the default): merchants keep their policy whatever the penalties, so
        a run's policy mix is the one ``messaging`` names. Deterministic: penalties are.
    audit_rate : float
        Probability that a marketing message is caught by the platform's audit without a complaint.
    longtail_top_share : float
        Merchants outside the largest ``longtail_top_share`` (by size) are the long tail.
    log_impressions : bool
        Log one "impression" event per slate entry (large), and keep the impression log
        ``SimulationResult.impressions`` (one row per shown item with its position, the logging
        policy's propensity and the outcome) with the candidate pools ``candidates``, the
        input of :mod:`haowurank.ope`.
    exposure : {"deterministic", "plackett_luce", "epsilon"}
        How a slate is filled from the product's candidates (see
        :class:`haowurank.sim.ExposurePolicy`). ``"deterministic"`` (the default) shows the
        product's own order; ``"plackett_luce"`` draws the slate slot by slot from a softmax
        over the candidates' standardised scores divided by ``exposure_temperature``;
        ``"epsilon"`` shows, slot by slot, a uniformly random remaining candidate with
        probability ``exposure_epsilon`` and the best remaining one otherwise.
    exposure_temperature : float
        Temperature of ``"plackett_luce"`` (lower: closer to the deterministic order).
    exposure_epsilon : float
        Exploration probability per slot of ``"epsilon"``.
    exposure_pool : int
        A stochastic policy draws from the product's top ``exposure_pool`` times the slate
        length candidates (the deterministic policy from the slate itself).
    label : str or None
        Name of this configuration in :func:`haowurank.sim.compare`.

    References
    ----------
    .. [1] Spotler (2024). "Four unexpected insights from the GDMA Email Benchmark 2024"
       (Global DMA Email Benchmark 2024: unsubscribe and spam-complaint rates; Google's and
       Yahoo's 0.3% complaint ceiling for bulk senders).
       https://spotler.com/en-de/blog/four-unexpected-insights-from-the-gdma-email-benchmark-2024
    .. [2] LINK Mobility (2025). "Benchmark for email marketing unsubscribe rate".
       https://www.linkmobility.com/blog/benchmark-for-email-marketing-unsubscribe-rate
    .. [3] MarketingProfs (2018). "How many mobile push notifications are too many?", on
       Localytics' 2017 survey of 1,000 US smartphone users (the 2015 edition, reported by
       MediaPost, https://www.mediapost.com/publications/article/267101/, found 46% would
       disable notifications at two to five a week and 32% stop using the app at six to ten).
       https://marketingprofs.com/charts/2018/33486/how-many-mobile-push-notifications-are-too-many
    .. [4] Cendyn. "Cendyn CRM: addressing spam reports (complaints)", help centre article.
       https://help.cendyn.com/hc/en-us/articles/27987836277531-Cendyn-CRM-Addressing-Spam-Reports-Complaints
    .. [5] Mailmend (2025). "47 spam complaint statistics every e-commerce brand must know in
       2025"; and GetResponse's average of 0.02% as summarised by ChimpMetrics,
       https://chimpmetrics.com/average-spam-complaint-rate.
       https://mailmend.io/blogs/spam-complaint-statistics
    .. [6] Ascarza, E., Iyengar, R. and Schleicher, M. (2016). "The perils of proactive churn
       prevention using plan recommendations: evidence from a field experiment". Journal of
       Marketing Research 53(1), 46-60. https://doi.org/10.1509/jmr.13.0483
    """

    n_users: int = 2000
    n_items: int = 500
    days: int = 30
    seed: int = 0
    world_seed: int | None = None
    world: dict = field(default_factory=dict)
    strategy: str = "popularity"
    strategy_params: dict = field(default_factory=dict)
    refit_every: int = 7
    fold_in: bool = False
    feed_size: int = 20
    search_size: int = 10
    feed_window_days: int = 0
    feed: dict = field(default_factory=dict)
    search: dict = field(default_factory=dict)
    daily_active_rate: float = 0.1
    feed_share: float = 0.7
    position_decay: float = 0.7
    click_base: float = -4.0
    click_utility: float = 1.0
    click_social: float = 0.5
    click_bought: float = 0.5
    buy_base: float = -3.0
    buy_utility: float = 1.0
    buy_bought: float = 0.5
    satisfaction_base: float = 1.0
    satisfaction_utility: float = 1.0
    cancel_rate: float = 0.02
    return_rate: float = 0.4
    rap_rate: float = 0.3
    recommend_rate: float = 0.05
    follow_rate: float = 0.35
    form_rate: float = 0.05
    public_share: float = 0.3
    ship_delay_mean: float = 1.5
    transit_mean: float = 2.5
    repurchase_days: float = 14.0
    messaging: str | dict = field(default_factory=lambda: dict(DEFAULT_MESSAGING))
    subscription_from_day: int | None = None
    messages_require_follow: bool = False
    marketing_rate: float = 0.3
    optin_rate: float = 0.5
    message_response: float = 0.08
    optout_base: float = -6.6
    optout_per_message: float = 0.4
    complaint_base: float = -7.6
    complaint_marketing: float = 2.5
    fatigue_free_messages: int = 1
    fatigue_activity_drop: float = 0.025
    complaint_activity_drop: float = 0.2
    churn_per_complaint: float = 0.1
    adapt_after_penalties: int = 0
    adapt_policy: str = "timed"
    audit_rate: float = 0.05
    longtail_top_share: float = 0.2
    log_impressions: bool = False
    exposure: str = "deterministic"
    exposure_temperature: float = 1.0
    exposure_epsilon: float = 0.1
    exposure_pool: int = 3
    label: str | None = None

    def __post_init__(self) -> None:
        self.validate()

    # ------------------------------------------------------------------ validation
    def validate(self) -> SimulationConfig:
        """Check every field; raise ``ValueError`` naming the first bad field. Returns self."""
        for name, (ok, expect) in _CHECKS.items():
            value = getattr(self, name)
            if not ok(value):
                raise ValueError(
                    f"The {name!r} field of SimulationConfig must be {expect}. Got {value!r} instead."
                )
        self._validate_messaging()
        self._validate_strategy()
        self._validate_product()
        if "seed" in self.world or "n_users" in self.world or "n_items" in self.world:
            raise ValueError(
                "The 'world' field of SimulationConfig must not set 'seed', 'n_users' or 'n_items'; "
                f"use the fields of the same name. Got keys {sorted(self.world)} instead."
            )
        from ..datasets import SyntheticWorld

        knobs = {f.name for f in dataclasses.fields(SyntheticWorld)}
        unknown = sorted(set(self.world) - knobs)
        if unknown:
            raise ValueError(
                f"The 'world' field of SimulationConfig holds unknown synthetic world knob(s) "
                f"{unknown}. Known knobs: {sorted(knobs - {'n_users', 'n_items'})}."
            )
        return self

    def _validate_messaging(self) -> None:
        m = self.messaging
        if isinstance(m, str):
            if m not in POLICIES:
                raise ValueError(
                    f"The 'messaging' field of SimulationConfig must be one of {list(POLICIES)} or a "
                    f"dict policy -> share. Got {m!r} instead."
                )
            return
        if (
            not isinstance(m, dict) or not m or any(k not in POLICIES for k in m)
            or not all(_is_num(v) and v >= 0 for v in m.values()) or sum(m.values()) <= 0
        ):
            raise ValueError(
                f"The 'messaging' field of SimulationConfig must be one of {list(POLICIES)} or a "
                f"dict from those policies to shares >= 0 with a positive sum. Got {m!r} instead."
            )

    def _validate_product(self) -> None:
        from ..feed import FeedConfig

        try:
            FeedConfig.from_dict(self.feed)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"The 'feed' field of SimulationConfig must hold hr.feed.FeedConfig parameters "
                f"(known: {sorted(FeedConfig().to_dict())}). Got {self.feed!r}: {exc}"
            ) from exc
        bad = {k: v for k, v in self.search.items()
               if isinstance(v, bool) or not _is_num(v) or v < 0}
        if bad:
            raise ValueError(
                f"The 'search' field of SimulationConfig must map SearchIndex parameters to "
                f"finite numbers >= 0. Got {bad!r} instead."
            )

    def _validate_strategy(self) -> None:
        from ..rankers import available

        names = available()
        if self.strategy not in names:
            raise ValueError(
                f"The 'strategy' field of SimulationConfig must be a ranker name from "
                f"hr.rankers.available() {names}. Got {self.strategy!r} instead."
            )

    # ------------------------------------------------------------------ derived
    @property
    def name(self) -> str:
        """The label; without one, ``strategy`` under the default messaging mix, else
        ``strategy/policy`` (``strategy/mix`` for another mix)."""
        if self.label:
            return self.label
        if self.messaging == DEFAULT_MESSAGING:
            return self.strategy
        m = self.messaging if isinstance(self.messaging, str) else "mix"
        return f"{self.strategy}/{m}"

    def world_knobs(self) -> dict[str, Any]:
        """The knobs the synthetic world is built with: :data:`SIM_WORLD` updated by ``world``."""
        return {**SIM_WORLD, **self.world}

    def policy_shares(self) -> dict[str, float]:
        """The messaging field as normalised shares of merchants per policy."""
        if isinstance(self.messaging, str):
            return {self.messaging: 1.0}
        tot = float(sum(self.messaging.values()))
        return {k: float(v) / tot for k, v in self.messaging.items() if v > 0}

    def replace(self, **changes: Any) -> SimulationConfig:
        """A validated copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------------ round trips
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible dict of every field."""
        out = dataclasses.asdict(self)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SimulationConfig:
        """Build from a dict; unknown keys raise ``ValueError`` naming them, missing keys default."""
        if not isinstance(data, dict):
            raise TypeError(f"SimulationConfig.from_dict expects a dict. Got {type(data).__name__}.")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"Unknown SimulationConfig field(s) {unknown}. Known fields: {sorted(known)}."
            )
        return cls(**data)

    def to_json(self, path: str | os.PathLike | None = None, *, overwrite: bool = False) -> str:
        """JSON text of :meth:`to_dict`; with ``path`` also written there (atomically; an
        existing file that is not a config is refused unless ``overwrite=True``)."""
        text = json.dumps(self.to_dict(), indent=1, sort_keys=False)
        if path is not None:
            _write_atomic(path, text, overwrite)
        return text

    @classmethod
    def from_json(cls, text_or_path: str | os.PathLike) -> SimulationConfig:
        """A config from JSON text or from the path of a JSON file (read like
        :meth:`from_toml`: an existing file is always a path)."""
        if isinstance(text_or_path, str) and text_or_path.lstrip().startswith("{") and not (
            "\n" not in text_or_path and Path(text_or_path).is_file()
        ):
            text, where = text_or_path, "the text"
        else:
            text, where = _text_or_file(text_or_path, ".json", "from_json")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"SimulationConfig.from_json: {where} is not valid JSON: {exc}") from exc
        return cls.from_dict(data)

    def to_toml(self, path: str | os.PathLike | None = None, *, overwrite: bool = False) -> str:
        """TOML text (``None`` fields are omitted: they are the defaults); with ``path`` also
        written there like :meth:`to_json`."""
        d = self.to_dict()
        flat = {k: v for k, v in d.items() if not isinstance(v, dict) and v is not None}
        tables = {k: v for k, v in d.items() if isinstance(v, dict)}
        lines = [f"{k} = {_toml_value(v, k)}" for k, v in flat.items()]
        for k, tab in tables.items():
            lines.append("")
            lines.append(f"[{k}]")
            lines.extend(f"{_toml_key(kk)} = {_toml_value(vv, f'{k}.{kk}')}" for kk, vv in tab.items())
        text = "\n".join(lines) + "\n"
        if path is not None:
            _write_atomic(path, text, overwrite)
        return text

    @classmethod
    def from_toml(cls, text_or_path: str | os.PathLike) -> SimulationConfig:
        """A config from TOML text or from the path of a TOML file.

        A ``PathLike``, or a string naming an existing file, is read as a file (so
        ``"run=1.toml"`` is a path when that file exists); a one-line string ending in
        ``.toml`` that names no file raises ``FileNotFoundError``; anything else is TOML text.
        """
        text, where = _text_or_file(text_or_path, ".toml", "from_toml")
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"SimulationConfig.from_toml: {where} is not valid TOML: {exc}") from exc
        return cls.from_dict(data)


def _text_or_file(text_or_path: str | os.PathLike, suffix: str, method: str) -> tuple[str, str]:
    """(text, where) of a ``from_*`` argument that is either the text itself or a file path."""
    if isinstance(text_or_path, os.PathLike):
        p = Path(text_or_path)
    elif isinstance(text_or_path, str):
        s = text_or_path
        one_line = "\n" not in s and len(s) < 4096
        p = Path(s) if one_line and (Path(s).is_file() or s.strip().endswith(suffix)) else None
        if p is None:
            return s, "the text"
    else:
        raise TypeError(
            f"SimulationConfig.{method} expects text or a path. Got {type(text_or_path).__name__}."
        )
    if not p.is_file():
        raise FileNotFoundError(
            f"SimulationConfig.{method}: no file at {str(p)!r} (expected a {suffix} file)."
        )
    try:
        return p.read_text(encoding="utf-8"), repr(str(p))
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"SimulationConfig.{method}: {str(p)!r} must be UTF-8 text; byte {exc.start} is not."
        ) from exc


def _is_config_file(path: Path) -> bool:
    """An existing file that is a SimulationConfig written as JSON or TOML (ours to replace)."""
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if text.lstrip().startswith("{") else tomllib.loads(text)
    except (OSError, ValueError):
        return False
    known = {f.name for f in dataclasses.fields(SimulationConfig)}
    return isinstance(data, dict) and bool(data) and set(data) <= known


def _write_atomic(path: str | os.PathLike, text: str, overwrite: bool = False) -> None:
    """Write ``text`` with the library's one atomic writer: a failed write never leaves a
    half-written config (nor removes the previous one), and an existing file that is not a
    simulation config is refused unless ``overwrite``."""
    write_text(path, text, owned=_is_config_file, overwrite=overwrite, what="simulation config")


def _toml_key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() else json.dumps(k)


def _toml_value(v: Any, where: str) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if _is_int(v):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"The {where!r} value {v!r} cannot be written to TOML.")
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x, where) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(x, where)}" for k, x in v.items()) + "}"
    raise ValueError(f"The {where!r} value {v!r} of type {type(v).__name__} cannot be written to TOML.")
