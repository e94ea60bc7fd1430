"""haowurank on Apache Spark: the heavy paths of the library as Spark SQL / DataFrame jobs.

This subpackage is the only place that uses pyspark (the optional extra ``spark``); importing
``haowurank`` or ``haowurank.spark`` does not import pyspark, the names below load it on first
use. Every job mirrors a single-machine function or ranker term by term, and the parity tests
(``tests/test_spark.py``) hold the two paths to the same scores, lists and feeds.

What is here
------------
:func:`spark_session`
    A SparkSession configured for haowurank (UTC, Arrow, small shuffles in local mode).
:class:`SparkDataset`
    The columns and validation rules of :class:`haowurank.Dataset` on Spark DataFrames or
    Parquet, with bad rows counted per rule (``report``), kept aside (``rejected(table)``) and
    dropped, or raised on with ``strict=True``.
:func:`visible_endorsements`, :func:`friend_endorsement_scores`, :class:`TrustModel`,
:func:`trust_scores`, :func:`top_n`
    The privacy rule of :mod:`haowurank.visibility` as joins, friend-endorsement counts,
    trust-weighted endorsements (visible endorsements of direct follows, tie strength and a
    wider circle from public endorsements, truncated personalized PageRank, kind weights,
    half-life decay, blocks) and top-n per user with a window function.
:func:`build_feeds`, :func:`write_feeds`
    Friends' feeds for every user (the single-machine relevance and greedy MMR re-ranking),
    written to Parquet.
:class:`SparkFriendEndorsements`, :class:`SparkTrust`, :class:`SparkSocialALS`, :class:`SparkHybrid`
    Models with ``fit(sds)``, ``recommend(n)``, ``feeds(n)``, ``write_feeds(path)``;
    ``SparkSocialALS`` runs Spark ML's ``ALS(implicitPrefs=True)`` on exactly the
    endorsement-augmented matrix of ``social_als``; ``SparkHybrid`` is a documented linear blend
    (:func:`linear_blend`) of normalised CF and trust scores.

How the job runs on a cluster
-----------------------------
Submit a driver script that calls ``spark_session(master=None)`` (the master comes from
``spark-submit``), reads ``SparkDataset.from_parquet(spark, "s3://.../world")`` and writes
``model.write_feeds("s3://.../feeds/2024-06-01")``. Executors need Python with haowurank, numpy
and pandas installed (the feed re-ranking runs ``mapInPandas`` there); everything else is
JVM-side SQL. Set ``spark.sql.shuffle.partitions`` to a few times the executor cores and keep
adaptive execution on (``spark_session`` turns it off only in local mode).

Partitioning and shuffles, stage by stage (``U`` users, ``I`` items, ``N`` interactions, ``S``
follow edges, ``d`` the mean out-degree, so ``S = U d``):

1. Validation (``SparkDataset.from_frames``): narrow per-row rules, one aggregation per table
   for the report (no shuffle beyond a partial aggregate), then one shuffle of the interactions
   by (user, item, kind, order_id) to merge duplicates, and of the social rows by (user,
   friend). Dense user / item indices (for ALS only) come from a range partitioning of the
   distinct ids.
2. Visibility (``visible_endorsements``): the follow edges are joined with their reverse (shuffle
   of ``S`` rows by the pair) to flag mutual follows, anti-joined with blocks, then joined with
   the endorsements by endorser (shuffle of ``S`` and of the endorsement rows by endorser). The
   output has sum over edges of the friend's endorsement count rows, about ``S`` times the
   mean number of endorsements per user: it grows linearly with users at a fixed degree and
   linearly with friends per user. A hot endorser (an account followed by millions) is a skewed
   key: adaptive execution splits it, or salt the endorser key.
3. Trust (``TrustModel``), under the privacy rule as the single-machine ranker applies it: one
   aggregation of the public endorsements (no audience list) by (user, item); tie strength
   joins each edge with the user's and the friend's public endorsements (shuffles by user, then
   by (friend, item): ``O(S x endorsements per user)`` rows); each PageRank hop joins the
   frontier with the transition matrix by node (shuffle) and repartitions by seed user, which
   serves both the aggregation and the ``max_endorsers`` pruning window, so a hop costs two
   shuffles. Frontier rows per user grow like ``d^hops`` until ``max_endorsers`` caps them:
   with ``max_hops=2`` the work is ``U d^2``, the term that grows fastest with friends. Direct
   trust joins the visible endorsements (step 2) with the transition matrix by (user, follow);
   the wider circle (paths of 2 or more follows) joins its trust rows with the public
   endorsements by endorser: ``U x wider accounts x endorsements per account`` rows before the
   (user, item) aggregation.
4. Ranking: ``top_n`` and the feeds rank with a window partitioned by user (one shuffle by user,
   a sort within partitions); the feed's diversity re-ranking runs per partition in Python on
   the ``mmr_pool + n`` best candidates of each user (``mapInPandas``), so its cost is linear in
   users and independent of friends.
5. ALS (``SparkSocialALS``): building the augmented matrix joins the normalised follow matrix
   with the endorsements by friend (like step 2); Spark ML's ALS partitions users and items into
   blocks (``numUserBlocks`` / ``numItemBlocks``) and shuffles factor blocks each half-iteration:
   ``O(N k)`` data per iteration, ``k`` the number of factors; ``recommendForAllUsers``
   cross-joins user and item factor blocks (``O(U I k)`` work, the dominant cost at scale, so
   feeds score only their candidate pairs).

Everything is per-user independent after the joins: users are the unit of parallelism, so
doubling users doubles the work and the output at a fixed degree, while doubling friends per
user doubles steps 2 and 5 and quadruples the 2-hop trust frontier (bounded by
``max_endorsers``). Measured figures: ``experiments/spark_scale/``.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "spark_session": "_session",
    "require_pyspark": "_session",
    "SparkDataset": "_dataset",
    "FEED_KIND_WEIGHTS": "_scoring",
    "TRUST_KIND_WEIGHTS": "_scoring",
    "TrustModel": "_scoring",
    "endorsement_table": "_scoring",
    "friend_endorsement_scores": "_scoring",
    "kind_code": "_scoring",
    "kind_weighted_endorsements": "_scoring",
    "popularity": "_scoring",
    "top_n": "_scoring",
    "trust_evidence": "_scoring",
    "trust_rows": "_scoring",
    "trust_scores": "_scoring",
    "visible_endorsements": "_scoring",
    "build_feeds": "_feed",
    "feed_candidates": "_feed",
    "write_feeds": "_feed",
    "SparkModel": "_models",
    "SparkFriendEndorsements": "_models",
    "SparkTrust": "_models",
    "SparkSocialALS": "_models",
    "SparkHybrid": "_models",
    "social_als_matrix": "_models",
    "linear_blend": "_blend",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'haowurank.spark' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
