"""Trust on the social graph, as pure functions on sparse matrices (composed by the rankers).

Edge trust (:func:`tie_strength`) comes from the structure and history of each follow edge:
reciprocity, shared purchases and endorsements, and decayed counts of "u bought what f endorsed"
(after Twitter's WTF and RealGraph). :func:`personalized_pagerank` spreads it a few hops from each
user (truncated, sparse, batched), so friends-of-friends count a little and accounts with no
trusted path count for nothing. :func:`kind_weighted_endorsements` turns interactions into an
endorsement matrix in which a recommendation after purchase counts more than a recommendation,
decayed by age. A trust-weighted score is then ``trust_rows @ E``. :func:`shuffle_social` and
:func:`drop_social` give placebo graphs (degree-preserving random friends, or none) for ablations.

Nothing here mutates its inputs or keeps state.

Examples
--------
>>> import haowurank as hr
>>> from haowurank.testing import small_world
>>> ds = small_world()
>>> P = hr.trust.tie_strength(ds.social_matrix(), ds.matrix(weight="binary"), normalize=True)
>>> T = hr.trust.personalized_pagerank(P, [0, 1], max_hops=2)
>>> E = hr.trust.kind_weighted_endorsements(ds)
>>> (T @ E).shape == (2, ds.n_items)
True
"""

from ..kinds import TRUST_EVIDENCE_WEIGHTS
from ._defence import (
    DEFAULT_DEFENCE,
    Defence,
    account_trust,
    defend,
    defended_training_data,
    defended_views,
    item_popularity,
    non_buyer_rows,
    rate_limited_rows,
    refunded_rows,
    sybil_cut,
    sybil_rank,
    trust_seeds,
    unverified_rows,
    without_endorsements_of,
)
from ._graph import (
    SECONDS_PER_DAY,
    adoption_counts,
    decay_weights,
    decode_kinds,
    edge_dot,
    endorsement_kinds,
    event_times,
    kind_weighted_endorsements,
    reciprocity,
    row_normalize,
    shared_interactions,
    tie_strength,
)
from ._placebo import drop_social, shuffle_social
from ._propagation import (
    check_transition,
    hop_distances,
    hop_weights,
    personalized_pagerank,
    propagate,
    prune_rows,
)

__all__ = [
    "DEFAULT_DEFENCE",
    "TRUST_EVIDENCE_WEIGHTS",
    "Defence",
    "account_trust",
    "defend",
    "defended_training_data",
    "defended_views",
    "item_popularity",
    "non_buyer_rows",
    "rate_limited_rows",
    "refunded_rows",
    "sybil_cut",
    "sybil_rank",
    "trust_seeds",
    "unverified_rows",
    "without_endorsements_of",
    "SECONDS_PER_DAY",
    "adoption_counts",
    "decay_weights",
    "decode_kinds",
    "drop_social",
    "edge_dot",
    "endorsement_kinds",
    "event_times",
    "check_transition",
    "hop_distances",
    "hop_weights",
    "kind_weighted_endorsements",
    "personalized_pagerank",
    "propagate",
    "prune_rows",
    "reciprocity",
    "shuffle_social",
    "row_normalize",
    "shared_interactions",
    "tie_strength",
]
