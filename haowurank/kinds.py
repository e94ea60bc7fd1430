"""Interaction kinds and how much each one weighs, one named table per purpose.

Every table the library uses to weigh interaction kinds lives here, named for what it is for;
the rankers, the feed, the visibility rule, trust and the Spark path import them from here.
Each is the default of a ``kind_weights`` (or ``endorsement_weights``) parameter; passing a
dict overrides it for one call or one ranker. Kinds not named in a table weigh 0.

- :data:`ENDORSEMENT_STRENGTH`: one endorsement's strength in every per-person social signal
  (the feed, ``friend_endorsements``, the friends term of ``social_als``). Endorsement kinds
  only: other people's purchases, views and clicks are no per-person signal
  (:mod:`haowurank.visibility`).
- :data:`TRUST_EVIDENCE_WEIGHTS`: how much an interaction counts as trust evidence in the
  trust graph (:func:`haowurank.trust.kind_weighted_matrix` and the ``trust`` ranker).
- :data:`CF_KIND_WEIGHTS`: the entries of the aggregate collaborative-filtering matrix (ALS,
  BPR, item-kNN, EASE, RP3beta) fitted over all users.
- :data:`POPULARITY_KIND_WEIGHTS`: how much each kind adds to an item's popularity score.
"""

from __future__ import annotations

from ._dataset import ENDORSEMENT_KINDS, KINDS

__all__ = [
    "CF_KIND_WEIGHTS",
    "ENDORSEMENT_KINDS",
    "ENDORSEMENT_STRENGTH",
    "KINDS",
    "POPULARITY_KIND_WEIGHTS",
    "TRUST_EVIDENCE_WEIGHTS",
]

#: Strength of one endorsement by kind, the table of every per-person social signal: a
#: recommendation after buying counts double.
ENDORSEMENT_STRENGTH: dict[str, float] = {"recommend": 1.0, "recommend_after_purchase": 2.0}

#: Weight of each interaction kind as trust evidence. A recommendation made after buying is the
#: strongest signal (the endorser paid for it and still vouches for it), a plain recommendation
#: a weaker one, and a purchase alone half a recommendation: revealed preference that nobody
#: vouched for. Purchases are included so that trust is meaningful on data sets whose only kind
#: is "purchase" (LastFM, Ciao, Epinions); there the weights are a uniform scale and do not
#: change rankings. Views, clicks and forms are no evidence (0).
TRUST_EVIDENCE_WEIGHTS: dict[str, float] = {
    "recommend_after_purchase": 2.0,
    "recommend": 1.0,
    "purchase": 0.5,
}

#: Entries of the collaborative-filtering matrix: every kind counts fully except the weak
#: browsing signals (a view or a click says much less than a purchase or an endorsement).
CF_KIND_WEIGHTS: dict[str, float] = {
    "purchase": 1.0,
    "recommend": 1.0,
    "recommend_after_purchase": 1.0,
    "view": 0.1,
    "click": 0.25,
    "form": 1.0,
}

#: Popularity score per interaction: a recommendation after purchase counts more than a plain
#: recommendation, which counts more than a purchase alone, which counts more than a view.
POPULARITY_KIND_WEIGHTS: dict[str, float] = {
    "purchase": 1.0,
    "recommend": 1.5,
    "recommend_after_purchase": 3.0,
    "view": 0.1,
    "click": 0.2,
    "form": 0.5,
}
