"""Simulation of the order -> recommend -> message loop of a social-commerce circle.

``run(SimulationConfig(...))`` simulates days of users opening their friends' feed or search,
clicking and buying, orders moving through a logistics lifecycle, endorsements spreading friend
to friend, and merchants messaging buyers under the platform's quota rules, with the platform
ranking by any strategy of ``hr.rankers``. ``compare`` runs strategies on identical worlds with
common random numbers and reports means with confidence intervals; ``check_quotas`` verifies the
messaging rules from an event log alone.

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

from ._compare import Comparison, compare
from ._config import POLICIES, SimulationConfig
from ._events import CHANNELS, EVENT_COLUMNS, EVENT_TYPES
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
from ._metrics import SUMMARY_METRICS, gini, summarise
from ._run import SimulationResult, run
from ._streams import Streams
from ._world import World

__all__ = [
    "CHANNELS",
    "EVENT_COLUMNS",
    "EVENT_TYPES",
    "FORM_QUOTA",
    "FORM_WINDOW_DAYS",
    "PAYMENT_QUOTA",
    "PAYMENT_WINDOW_DAYS",
    "PENALTY_LADDER",
    "POLICIES",
    "QUOTA_KINDS",
    "SUBSCRIPTION_QUOTA",
    "SUMMARY_METRICS",
    "TEMPLATES",
    "Comparison",
    "SimulationConfig",
    "SimulationResult",
    "Streams",
    "World",
    "check_quotas",
    "compare",
    "gini",
    "run",
    "summarise",
]
