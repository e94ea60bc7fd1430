"""Attacks on trust-weighted ranking: sybil regions, shilling, review padding, refund fraud, and
how far they move a target item.

Every injector takes a :class:`~haowurank.Dataset` and returns an :class:`AttackResult` whose
``dataset`` is a **new** Dataset (the input is never modified) with the attacker accounts and
their rows added. Attackers are tagged in ``dataset.meta["attack"]`` (ids of every attacker
account and every target, plus a log of the injections), so measurements can exclude them
(:func:`honest_users`) and injections compose (sybils first, then what they endorse).

Threat model (after the shilling-attack and sybil-defence literature [1]_ [2]_ [3]_ [4]_):

- :func:`add_sybils`: ``n_sybils`` fake accounts, densely connected among themselves (each pair
  of sybils is a mutual friendship with probability ``density``), holding ``attack_edges``
  friendships with honest users in all. An *attack edge* is one (honest, sybil) pair; with
  ``direction="mutual"`` (default: the honest user accepted the friendship) it is two social
  rows, with ``"honest_follows"`` one row honest -> sybil (the honest user trusts the sybil),
  with ``"sybil_follows"`` one row sybil -> honest (free to make, and worthless to the
  attacker under trust propagation, which flows from follower to followee).
- :func:`shill`: every attacker endorses the target item and ``n_filler`` filler items. The
  strategies differ in the fillers: ``"random"`` (uniform over the catalogue), ``"average"``
  (drawn by item popularity, each filler row with the item's mean row weight: the profile
  looks like an average user's), ``"bandwagon"`` (the most popular items) and ``"relation"``
  (the fake-friend attack: the items of the honest users the attacker befriended, so the
  attacker also looks similar to its victims). ``filler="random"`` / ``"popular"`` overrides
  the strategy's choice. The endorsement kind is ``"recommend"`` by default.
- :func:`review_padding`: endorsements that claim a purchase (``"recommend_after_purchase"``)
  with no purchase behind them.
- :func:`refund_fraud`: a real purchase of the target (a ``"purchase"`` row with an order id),
  a ``"recommend_after_purchase"``, then a refund. Refunds are recorded as order ids in
  ``dataset.meta["refunded_orders"]`` (:data:`REFUNDS_KEY`), the convention that
  :func:`haowurank.trust.defend` reads.
- :func:`inject`: sybils plus one of the attacks above, the scenario of the robustness
  experiment (``experiments/attack_robustness/run.py``).

Measurements: :func:`target_hits` (is the target in a user's top-``n``), :func:`target_ranks`
(the target's position in each user's full ranking of unseen items), :func:`exposure` (hit
ratio and ranks over honest users) and :func:`evaluate_attack` (a ranker fitted on the clean
and on the attacked data: hit ratio before/after and the rank shift).

References
----------
.. [1] S. K. Lam, J. Riedl. "Shilling Recommender Systems for Fun and Profit". WWW 2004.
.. [2] B. Mobasher, R. Burke, R. Bhaumik, C. Williams. "Toward Trustworthy Recommender Systems:
   An Analysis of Attack Models and Algorithm Robustness". ACM TOIT 7(4), 2007 (random,
   average, bandwagon attacks; filler and selected items).
.. [3] H. Yu, M. Kaminsky, P. B. Gibbons, A. Flaxman. "SybilGuard: Defending Against Sybil
   Attacks via Social Networks". SIGCOMM 2006 (attack edges).
.. [4] Q. Cao, M. Sirivianos, X. Yang, T. Pregueiro. "Aiding the Detection of Fake Accounts in
   Large Scale Social Online Services" (SybilRank). NSDI 2012.

Examples
--------
>>> import haowurank as hr
>>> from haowurank.testing import small_world
>>> ds = small_world()
>>> atk = hr.attacks.inject(ds, target=101, n_sybils=10, attack_edges=2, seed=0)
>>> atk.dataset.n_users - ds.n_users, len(atk.attack_edges)
(10, 2)
>>> len(hr.attacks.honest_users(atk.dataset)) == ds.n_users
True
"""

from ._inject import (
    ATTACK_KEY,
    ATTACKS,
    REFUNDS_KEY,
    STRATEGIES,
    AttackResult,
    add_sybils,
    attacker_ids,
    honest_mask,
    honest_users,
    inject,
    pick_target,
    refund_fraud,
    review_padding,
    shill,
)
from ._measure import evaluate_attack, exposure, target_hits, target_ranks

__all__ = [
    "ATTACKS",
    "ATTACK_KEY",
    "REFUNDS_KEY",
    "STRATEGIES",
    "AttackResult",
    "add_sybils",
    "attacker_ids",
    "evaluate_attack",
    "exposure",
    "honest_mask",
    "honest_users",
    "inject",
    "pick_target",
    "refund_fraud",
    "review_padding",
    "shill",
    "target_hits",
    "target_ranks",
]
