"""Imports every built-in strategy so that it registers itself; re-exports the classes."""

from ._cf import ALSRanker, BPRRanker, EaseRanker, ItemKNNRanker  # noqa: F401
from ._cornac import SBPRRanker  # noqa: F401  (registers "sbpr" only when cornac is installed)
from ._hybrid import HybridRanker  # noqa: F401
from ._popularity import PopularityRanker
from ._social import FriendEndorsementRanker, TrustRanker  # noqa: F401
from ._social_als import SocialALSRanker  # noqa: F401

__all__ = ["PopularityRanker"]
