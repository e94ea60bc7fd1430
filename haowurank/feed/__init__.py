"""The friends' feed: what a user's friends endorsed, that the user may see, ranked and explained.

Decentralised distribution: a user's feed only ever holds items that users they follow endorsed
(``recommend`` or ``recommend_after_purchase``), and each entry cites exactly the endorsing
friends whose endorsement the viewer may see.

Visibility is the privacy rule of :mod:`haowurank.visibility` (the one place it is written):
follows, "public" / "friends" / "private", audience lists, blocks, and mutes (the ``mutes``
argument: columns ``user``, ``muted``), which act exactly like blocks here and are kept apart from
the Dataset because they are a viewer preference, not data. Nothing from a blocked or muted user
is ever seen, cited or counted (an item whose only visible endorsers are blocked is not in the
feed).

Defence against fake endorsements (opt-in, ``build(..., defence=True)`` or
``FeedIndex(ds, defence=...)``): the endorsements :func:`haowurank.trust.defend` drops (those of
accounts without trust from honest structure, i.e. sybils, of accounts that never bought, over
the rate limit, of refunded orders) are neither shown nor counted; it is computed once per index.

Ranking, diversity, exclusions and pagination are described in :func:`build` and
:class:`FeedConfig`; :class:`FeedIndex` is the prebuilt, thread-safe form that services keep.
"""

from ..visibility import ENDORSEMENT_STRENGTH, EndorsementGraph, visible_endorsements
from ._build import FeedConfig, FeedIndex, build, index_for
from ._cursor import Cursor, CursorError, StaleCursorError
from ._fingerprint import ranker_fingerprint
from ._paging import FeedPage, explanation_text
from ._rerank import greedy_rerank

__all__ = [
    "ENDORSEMENT_STRENGTH",
    "Cursor",
    "CursorError",
    "EndorsementGraph",
    "FeedConfig",
    "FeedIndex",
    "FeedPage",
    "StaleCursorError",
    "build",
    "explanation_text",
    "greedy_rerank",
    "index_for",
    "ranker_fingerprint",
    "visible_endorsements",
]
