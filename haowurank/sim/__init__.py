"""Simulation of the order -> recommend -> message loop of a social-commerce circle.

``run(SimulationConfig(...))`` simulates days of users opening their friends' feed or search,
clicking and buying, orders moving through a logistics lifecycle, endorsements spreading friend
to friend, and merchants messaging buyers under the platform's quota rules. The simulated
platform is the product: its feed is :func:`haowurank.feed.build` and its search
:class:`haowurank.search.SearchIndex` on what the platform has logged so far, with the feed
ranked by any strategy of ``hr.rankers``. ``compare`` runs strategies on identical worlds with
common random numbers and reports means with intervals that respect each metric's range;
``check_quotas`` verifies the messaging rules from an event log alone. With
``exposure="plackett_luce"`` or ``"epsilon"`` the slates are drawn from the product's candidates
by an :class:`ExposurePolicy`, and ``log_impressions=True`` keeps every impression with its
propensity and outcome (``res.impressions``, ``res.candidates``), the input of
:mod:`haowurank.ope`. ``run(config, arms=..., assignment=...)`` ranks each user's feed by the
strategy of the user's arm inside one shared world (an A/B test under network interference):
``user_randomised`` and ``cluster_randomised`` (over ``graph_clusters``, communities of the
social graph) make the assignment, ``difference_in_means`` and ``cluster_difference`` estimate
the effect from ``res.per_user``.

Example
-------
>>> import haowurank as hr
>>> cfg = hr.sim.SimulationConfig(n_users=300, n_items=120, days=4, messaging="spammer", seed=3)
>>> res = hr.sim.run(cfg)
>>> list(res.daily.columns[:3])
['day', 'active_users', 'feed_sessions']
>>> hr.sim.check_quotas(res.events).empty
True
"""

from ._ab import (
    AB_ARMS,
    PER_USER_COLUMNS,
    ABEstimate,
    cluster_difference,
    cluster_randomised,
    difference_in_means,
    graph_clusters,
    user_randomised,
)
from ._compare import Comparison, compare
from ._config import DEFAULT_MESSAGING, POLICIES, SEARCH_PARAMS, SIM_WORLD, SimulationConfig
from ._events import CHANNELS, EVENT_COLUMNS, EVENT_TYPES
from ._exposure import CANDIDATE_COLUMNS, EXPOSURES, IMPRESSION_COLUMNS, SURFACES, ExposurePolicy
from ._from_data import snowball_users, world_from_dataset
from ._messaging import (
    FORM_QUOTA,
    FORM_WINDOW_DAYS,
    PAYMENT_QUOTA,
    PAYMENT_WINDOW_DAYS,
    PENALTY_LADDER,
    QUOTA_KINDS,
    SUBSCRIPTION_QUOTA,
    TEMPLATES,
    check_quotas,
)
from ._metrics import METRIC_KINDS, SUMMARY_METRICS, gini, mean_ci, summarise
from ._run import SimulationResult, run
from ._streams import Streams
from ._world import World

__all__ = [
    "AB_ARMS",
    "CANDIDATE_COLUMNS",
    "CHANNELS",
    "DEFAULT_MESSAGING",
    "EVENT_COLUMNS",
    "EVENT_TYPES",
    "EXPOSURES",
    "FORM_QUOTA",
    "FORM_WINDOW_DAYS",
    "IMPRESSION_COLUMNS",
    "METRIC_KINDS",
    "PAYMENT_QUOTA",
    "PAYMENT_WINDOW_DAYS",
    "PENALTY_LADDER",
    "PER_USER_COLUMNS",
    "POLICIES",
    "QUOTA_KINDS",
    "SEARCH_PARAMS",
    "SIM_WORLD",
    "SUBSCRIPTION_QUOTA",
    "SUMMARY_METRICS",
    "SURFACES",
    "TEMPLATES",
    "ABEstimate",
    "Comparison",
    "ExposurePolicy",
    "SimulationConfig",
    "SimulationResult",
    "Streams",
    "World",
    "check_quotas",
    "cluster_difference",
    "cluster_randomised",
    "compare",
    "difference_in_means",
    "gini",
    "graph_clusters",
    "mean_ci",
    "run",
    "snowball_users",
    "summarise",
    "user_randomised",
    "world_from_dataset",
]
