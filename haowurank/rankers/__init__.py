"""Ranking strategies behind one public contract: :class:`Ranker`.

Start at :class:`Ranker` (``haowurank/rankers/_base.py``): its docstring is the whole contract
that the feed, search, simulation, evaluation, serving, Spark and the apps use. In short:

- configure and fit: ``make(name, **params)`` or the class itself, then ``fit(train)``;
- rank and score by caller ids: ``recommend``, ``recommend_frame``, ``candidates``, ``score``,
  ``score_pairs``, ``explain``; by index: ``recommend_at``, ``score_rows``, ``score_pairs_at``;
- declared capabilities (class attributes, no probing): ``user_dependent``, ``has_factors``
  (then ``latent_factors()``), ``uses_social``, ``handles_empty_users``;
- persistence: ``save(path)`` and :func:`load_ranker`.

The strategies are the plain table :data:`STRATEGIES` below (name -> class), built here from
explicit imports; nothing registers itself on import. ``available()`` lists the names,
``make(name, **params)`` builds one, and :func:`register` adds a user's own strategy.
:class:`haowurank.testing.RankerContract` is the contract test every strategy runs.

Example
-------
>>> import haowurank as hr
>>> hr.rankers.STRATEGIES["rp3beta"] is hr.rankers.RP3BetaRanker
True
>>> hr.rankers.PopularityRanker.user_dependent, hr.rankers.ALSRanker.has_factors
(False, True)
"""

from __future__ import annotations

from ._base import (
    Ranker,
    available,
    load_ranker,
    load_ranker_checked,
    make,
    partition_topk,
    register,
    shared_topk,
    sparse_topk,
    topk,
)
from ._cf import ALSRanker, BPRRanker, EaseRanker, ItemKNNRanker, RP3BetaRanker
from ._cornac import SBPRRanker, cornac_available
from ._hybrid import HybridRanker
from ._implicit import finish_topk
from ._io import read_artifact_meta
from ._popularity import PopularityRanker
from ._social import FriendEndorsementRanker, TrustRanker
from ._social_als import SocialALSRanker

_BUILT_IN: tuple[type[Ranker], ...] = (
    PopularityRanker, FriendEndorsementRanker, TrustRanker, ItemKNNRanker, EaseRanker,
    RP3BetaRanker, ALSRanker, BPRRanker, SocialALSRanker, SBPRRanker, HybridRanker,
)
#: Fitting needs an optional dependency: name -> whether it is installed.
_NEEDS = {"sbpr": cornac_available()}

#: Every built-in strategy that can be fitted here: name -> class.
STRATEGIES: dict[str, type[Ranker]] = {
    cls.name: cls for cls in _BUILT_IN if _NEEDS.get(cls.name, True)
}
#: Built-in strategies whose fitting needs a missing optional dependency: a saved one still
#: loads with :func:`load_ranker` and serves (name -> class).
LOAD_ONLY: dict[str, type[Ranker]] = {
    cls.name: cls for cls in _BUILT_IN if not _NEEDS.get(cls.name, True)
}

__all__ = [
    "LOAD_ONLY",
    "STRATEGIES",
    "ALSRanker",
    "BPRRanker",
    "EaseRanker",
    "FriendEndorsementRanker",
    "HybridRanker",
    "ItemKNNRanker",
    "PopularityRanker",
    "RP3BetaRanker",
    "Ranker",
    "SBPRRanker",
    "SocialALSRanker",
    "TrustRanker",
    "available",
    "load_ranker",
    "load_ranker_checked",
    "make",
    "read_artifact_meta",
    "register",
    "finish_topk",
    "partition_topk",
    "shared_topk",
    "sparse_topk",
    "topk",
]
