"""Social scoring as Spark DataFrame joins: the privacy rule of :mod:`haowurank.visibility`,
friend-endorsement counts, trust-weighted endorsements (visible endorsements of direct follows,
tie strength and a wider circle from public endorsements, truncated personalized PageRank, kind
weights and half-life decay) and top-n per user with a window function.

Every function here mirrors one single-machine function or ranker, named in its docstring, term
by term; the parity tests in ``tests/test_spark.py`` hold them to it.
"""

from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Mapping
from typing import Any

from .._dataset import ENDORSEMENT_KINDS, KINDS
from ..kinds import ENDORSEMENT_STRENGTH, TRUST_EVIDENCE_WEIGHTS
from ._dataset import SparkDataset
from ._session import require_pyspark

require_pyspark()

from pyspark.sql import Column, DataFrame, Window  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

__all__ = [
    "FEED_KIND_WEIGHTS",
    "TRUST_KIND_WEIGHTS",
    "endorsement_table",
    "friend_endorsement_scores",
    "kind_code",
    "kind_weighted_endorsements",
    "popularity",
    "top_n",
    "TrustModel",
    "trust_evidence",
    "trust_rows",
    "trust_scores",
    "visible_endorsements",
]

log = logging.getLogger(__name__)

SECONDS_PER_DAY = 86_400.0

#: Kind weights of the feed (the table itself: :data:`haowurank.kinds.ENDORSEMENT_STRENGTH`).
FEED_KIND_WEIGHTS: dict[str, float] = ENDORSEMENT_STRENGTH
#: Default kind weights of the trust ranker: endorsement kinds only, the table of every
#: per-person social signal (the table itself: :data:`haowurank.kinds.ENDORSEMENT_STRENGTH`).
TRUST_KIND_WEIGHTS: dict[str, float] = ENDORSEMENT_STRENGTH


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------

def kind_code(col: str | Column = "kind") -> Column:
    """The code of a kind name (its position in ``hr.KINDS``), as the single-machine side uses."""
    c = F.col(col) if isinstance(col, str) else col
    return (F.array_position(F.array(*[F.lit(k) for k in KINDS]), c) - 1).cast("int")


def _weight_of_kind(kw: Mapping[str, float], col: str = "kind") -> Column:
    expr = F.lit(0.0)
    for k, w in kw.items():
        expr = F.when(F.col(col) == k, F.lit(float(w))).otherwise(expr)
    return expr.cast("double")


def _check_sds(sds: Any, where: str) -> SparkDataset:
    if not isinstance(sds, SparkDataset):
        raise TypeError(
            f"The 'sds' argument of {where} must be a haowurank.spark.SparkDataset. "
            f"Got {type(sds).__name__} instead."
        )
    return sds


def _nonneg(v: Any) -> bool:
    return (not isinstance(v, bool) and isinstance(v, numbers.Real) and math.isfinite(v)
            and v >= 0)


def _check_kind_weights(kw: Any, name: str, allowed: tuple[str, ...] = KINDS) -> dict[str, float]:
    ok = isinstance(kw, Mapping) and all(k in allowed for k in kw) and all(
        _nonneg(v) for v in kw.values()
    ) and any(v > 0 for v in kw.values())
    if not ok:
        raise ValueError(
            f"The '{name}' parameter must map kinds among {list(allowed)} to finite weights "
            f">= 0, one of them > 0. Got {kw!r} instead."
        )
    return {k: float(v) for k, v in kw.items()}


def _hidden(sds: SparkDataset, mutes: DataFrame | None) -> DataFrame:
    """``user, hidden``: pairs where ``user`` blocked or muted ``hidden``."""
    h = sds.blocks.select("user", F.col("blocked").alias("hidden"))
    if mutes is not None:
        if not isinstance(mutes, DataFrame) or not {"user", "muted"} <= set(mutes.columns):
            raise ValueError(
                "The 'mutes' argument must be a Spark DataFrame with columns user, muted. "
                f"Got {type(mutes).__name__} with columns {getattr(mutes, 'columns', None)}."
            )
        h = h.unionByName(mutes.select("user", F.col("muted").alias("hidden")))
    return h.distinct()


def _strip(df: DataFrame, hidden: DataFrame, a: str, b: str) -> DataFrame:
    """``df`` without the rows whose (a, b) is a hidden (user, hidden) pair."""
    h = hidden.select(F.col("user").alias(a), F.col("hidden").alias(b))
    return df.join(h, [a, b], "left_anti")


def _materialize(df: DataFrame) -> DataFrame:
    """``df`` computed now and stored on the executors (``localCheckpoint``, memory and disk),
    as a frame whose plan is a single leaf.

    The trust model's state is built from long chains of joins (visibility, tie strength, one
    join and window per PageRank hop). Persisting keeps the rows but not a short plan: every
    query on top of persisted frames still carries, analyses and matches against the cache the
    whole chain of each, so the plans of scores, feeds and the hybrid blend grow with every
    step and their size, not the data, dominates driver time and memory. A local checkpoint
    cuts the lineage: later plans start from the stored rows. Its blocks are freed by Spark's
    context cleaner once the frame is no longer referenced; unlike a persisted frame's, they
    are not recomputed when an executor is lost.
    """
    return df.localCheckpoint(eager=True)


def _latest_timestamp(sds: SparkDataset) -> int:
    row = sds.interactions.agg(F.max("timestamp").alias("t")).collect()[0]
    return int(row["t"]) if row["t"] is not None else 0


def _decay(ts: Column, half_life_days: float | None, now: int) -> Column:
    """``0.5 ** (max(now - ts, 0) / (half_life_days * 86400))`` (``trust.decay_weights``)."""
    if half_life_days is None:
        return F.lit(1.0)
    age_days = F.greatest(F.lit(float(now)) - ts.cast("double"), F.lit(0.0)) / SECONDS_PER_DAY
    return F.pow(F.lit(2.0), -age_days / float(half_life_days))


# --------------------------------------------------------------------------------------------
# the visibility rule
# --------------------------------------------------------------------------------------------

def endorsement_table(sds: SparkDataset) -> DataFrame:
    """Endorsement rows (kinds ``recommend`` / ``recommend_after_purchase``) with a flag
    ``limited`` for those whose (user, item) has an audience list.

    Returns
    -------
    DataFrame
        ``endorser, item, kind, timestamp, visibility, limited``.
    """
    e = sds.interactions.where(F.col("kind").isin(*ENDORSEMENT_KINDS)).select(
        F.col("user").alias("endorser"), "item", "kind", "timestamp", "visibility"
    )
    lim = sds.audiences.select(F.col("user").alias("endorser"), "item").distinct().withColumn(
        "limited", F.lit(True)
    )
    return e.join(lim, ["endorser", "item"], "left").select(
        "endorser", "item", "kind", "timestamp", "visibility",
        F.coalesce(F.col("limited"), F.lit(False)).alias("limited"),
    )


def _only(df: DataFrame, col: str, who: DataFrame | None) -> DataFrame:
    """``df`` restricted to the rows whose ``col`` is a ``user`` of ``who`` (all when None)."""
    if who is None:
        return df
    return df.join(who.select(F.col("user").alias(col)).distinct(), col, "left_semi")


def _follow_edges(sds: SparkDataset, hidden: DataFrame,
                  viewers: DataFrame | None = None) -> DataFrame:
    """``viewer, endorser, trust, mutual``: follows v -> e that are not hidden; ``mutual`` when
    e also follows v (in the raw graph, as the feed reads it). With ``viewers`` (a column
    ``user``) only their follows are read, before any join, so the shuffles see only them."""
    s = _only(sds.social, "user", viewers).select(
        F.col("user").alias("viewer"), F.col("friend").alias("endorser"),
        F.col("weight").alias("trust"))
    back = _only(sds.social, "friend", viewers).select(
        F.col("friend").alias("viewer"), F.col("user").alias("endorser"),
        F.lit(True).alias("mutual"))
    s = s.join(back, ["viewer", "endorser"], "left").withColumn(
        "mutual", F.coalesce(F.col("mutual"), F.lit(False))
    )
    return _strip(s, _only(hidden, "user", viewers), "viewer", "endorser")


def visible_endorsements(
    sds: SparkDataset,
    *,
    kind_weights: Mapping[str, float] | None = None,
    mutes: DataFrame | None = None,
    viewers: DataFrame | None = None,
) -> DataFrame:
    """Every (viewer, endorser, item) the privacy rule of :mod:`haowurank.visibility` lets
    through.

    The same rule as joins: the Spark form of ``haowurank.visibility.EndorsementGraph.triples``
    (API.md, "Feed and search"), parity-tested against it (``tests/test_spark.py``): a
    viewer v sees endorser e's endorsement when v follows e and it is "public", or "friends" and
    e also follows v; "private" is seen by nobody; nothing from a user v blocked (or muted); an
    endorsement with an audience list is seen only by listed viewers who also pass the rule.
    Per (viewer, endorser, item) the strongest visible kind is kept (largest kind weight, then
    the latest timestamp, then the lower kind code).

    Parameters
    ----------
    sds : SparkDataset
    kind_weights : dict, optional
        Weight of ``recommend`` and ``recommend_after_purchase`` (default
        :data:`FEED_KIND_WEIGHTS`: 1 and 2).
    mutes : DataFrame, optional
        ``user, muted``: treated as blocks.
    viewers : DataFrame, optional
        A column ``user``: restrict to these viewers (default all).

    Returns
    -------
    DataFrame
        ``viewer, endorser, item, kind, timestamp, weight`` where ``weight`` is the kind weight
        times the viewer's follow weight (trust) in the endorser.

    Notes
    -----
    Shuffles: the follow edges join their reverse (mutual flag), then the endorsements by
    endorser; audience rows join by (endorser, item) and by (viewer, endorser); the strongest
    kind is picked per (viewer, endorser, item) with one aggregation.
    """
    _check_sds(sds, "visible_endorsements")
    kw = _check_kind_weights(
        FEED_KIND_WEIGHTS if kind_weights is None else kind_weights, "kind_weights",
        ENDORSEMENT_KINDS,
    )
    edges = _follow_edges(sds, _hidden(sds, mutes), viewers)
    e = endorsement_table(sds).withColumn("w", _weight_of_kind(kw)).where(F.col("w") > 0)
    vis_ok = (F.col("visibility") == "public") | (
        (F.col("visibility") == "friends") & F.col("mutual")
    )
    open_rows = edges.join(e.where(~F.col("limited")), "endorser").where(vis_ok)
    aud = sds.audiences.select(F.col("user").alias("endorser"), "item", "viewer")
    lim_rows = (
        e.where(F.col("limited") & (F.col("visibility") != "private"))
        .join(aud, ["endorser", "item"])
        .join(edges, ["viewer", "endorser"])
        .where(vis_ok)
    )
    cols = ["viewer", "endorser", "item", "kind", "timestamp", "w", "trust"]
    rows = open_rows.select(*cols).unionByName(lim_rows.select(*cols))
    best = rows.groupBy("viewer", "endorser", "item").agg(
        F.max(F.struct(
            F.col("w"), F.col("timestamp"), (-kind_code("kind")).alias("nk"), F.col("kind"),
            F.col("trust"),
        )).alias("b")
    )
    return best.select(
        "viewer", "endorser", "item", F.col("b.kind").alias("kind"),
        F.col("b.timestamp").alias("timestamp"),
        # float32 arithmetic, as the single-machine graph stores kind weights and trust
        (F.col("b.w").cast("float") * F.col("b.trust").cast("float")).cast("double")
        .alias("weight"),
    )


# --------------------------------------------------------------------------------------------
# friend endorsements
# --------------------------------------------------------------------------------------------

def _resolve_kinds(sds: SparkDataset, kinds: Any) -> tuple[str, ...]:
    """``FriendEndorsementRanker``'s rule: the endorsement kinds when the data hold any,
    otherwise purchases."""
    if kinds is not None:
        ks = (kinds,) if isinstance(kinds, str) else tuple(kinds)
        bad = [k for k in ks if k not in KINDS]
        if not ks or bad:
            raise ValueError(
                f"The 'kinds' parameter must be None or a non-empty list of kinds among "
                f"{list(KINDS)}. Got {kinds!r} instead."
            )
        return ks
    has = sds.interactions.where(F.col("kind").isin(*ENDORSEMENT_KINDS)).limit(1).count()
    return tuple(ENDORSEMENT_KINDS) if has else ("purchase",)


def friend_endorsement_scores(
    sds: SparkDataset,
    *,
    rule: str = "visibility",
    kinds: Any = None,
    mutes: DataFrame | None = None,
) -> DataFrame:
    """Score = number of the user's friends whose endorsement of the item counts.

    Parameters
    ----------
    sds : SparkDataset
    rule : {"visibility", "follow"}
        ``"visibility"`` (default): the friends whose endorsement (``recommend`` /
        ``recommend_after_purchase``) the user may see by the feed's visibility rule
        (:func:`visible_endorsements`: public, friends-only from a mutual friend, audience
        lists, blocks and mutes): what the single-machine ``friend_endorsements`` ranker
        counts. ``"follow"``: every followed, non-blocked account with a non-private row of
        ``kinds`` counts, whatever its visibility; this is not the privacy rule and must not
        reach a per-person output (kept for comparisons).
    kinds : sequence of str, optional
        Only with ``rule="follow"``: the kinds that count (default: the endorsement kinds when
        the data hold any, otherwise purchases, as the ranker resolves them).
    mutes : DataFrame, optional
        Only with ``rule="visibility"``: ``user, muted`` pairs treated as blocks.

    Returns
    -------
    DataFrame
        ``user, item, score`` (score a double holding an integer count) for every candidate.
    """
    _check_sds(sds, "friend_endorsement_scores")
    if rule == "visibility":
        if kinds is not None:
            raise ValueError(
                "The 'kinds' parameter of friend_endorsement_scores applies to rule='follow' "
                "only; the visibility rule is about endorsements. Got kinds with "
                "rule='visibility'."
            )
        v = visible_endorsements(sds, mutes=mutes)
        return v.groupBy(F.col("viewer").alias("user"), "item").agg(
            F.count(F.lit(1)).cast("double").alias("score")
        )
    if rule != "follow":
        raise ValueError(
            f"The 'rule' parameter of friend_endorsement_scores must be 'visibility' or "
            f"'follow'. Got {rule!r} instead."
        )
    if mutes is not None:
        raise ValueError("The 'mutes' parameter applies to rule='visibility' only.")
    ks = _resolve_kinds(sds, kinds)
    friends = _strip(
        sds.social.select("user", "friend"),
        _hidden(sds, None).select("user", "hidden"), "user", "friend",
    )
    votes = sds.interactions.where(
        F.col("kind").isin(*ks) & (F.col("visibility") != "private")
    ).select(F.col("user").alias("friend"), "item").distinct()
    return friends.join(votes, "friend").groupBy("user", "item").agg(
        F.count(F.lit(1)).cast("double").alias("score")
    )


# --------------------------------------------------------------------------------------------
# trust
# --------------------------------------------------------------------------------------------

def trust_evidence(
    sds: SparkDataset,
    kind_weights: Mapping[str, float] | None = None,
    half_life_days: float | None = None,
    now: int | None = None,
) -> DataFrame:
    """The public endorsements the trust ranker reads for tie strength and the wider circle.

    The Spark form of ``EndorsementGraph.public_endorsements`` and ``public_events``
    (:mod:`haowurank.visibility`): the endorsement rows with visibility "public" and no audience
    list, which every follower of the endorser may see; per (user, item) the strongest kind by
    :data:`FEED_KIND_WEIGHTS` (then the latest timestamp). Other people's purchases, views and
    clicks, and friends-only, private or audience-limited endorsements never enter.

    Parameters
    ----------
    sds : SparkDataset
    kind_weights : dict, optional
        Weight per endorsement kind of ``e`` (default :data:`TRUST_KIND_WEIGHTS`).
    half_life_days : float, optional
        Decay of ``e`` by age at ``now`` (only when the data carry timestamps).
    now : int seconds, optional
        Reference time of the decay (default the latest interaction).

    Returns
    -------
    DataFrame
        ``user, item, kind, timestamp, e``: one row per (user, item), ``e`` the kind weight of
        ``kind`` times the decay (0 for a kind ``kind_weights`` leaves out).
    """
    _check_sds(sds, "trust_evidence")
    kw = _check_kind_weights(
        TRUST_KIND_WEIGHTS if kind_weights is None else kind_weights, "kind_weights",
        ENDORSEMENT_KINDS,
    )
    h = half_life_days if sds.has_timestamps else None
    if h is not None and now is None:
        now = _latest_timestamp(sds)
    pub = endorsement_table(sds).where((F.col("visibility") == "public") & ~F.col("limited"))
    best = pub.withColumn("w", _weight_of_kind(FEED_KIND_WEIGHTS)).groupBy(
        F.col("endorser").alias("user"), "item"
    ).agg(F.max(F.struct(
        F.col("w"), F.col("timestamp"), (-kind_code("kind")).alias("nk"), F.col("kind"),
    )).alias("b"))
    return best.select(
        "user", "item", F.col("b.kind").alias("kind"), F.col("b.timestamp").alias("timestamp"),
        (_weight_of_kind(kw, "b.kind") * _decay(F.col("b.timestamp"), h, int(now or 0)))
        .alias("e"),
    )


def _tie_strength(
    social: DataFrame,
    ev: DataFrame,
    *,
    kinds: list[str],
    reciprocity_weight: float,
    shared_weight: float,
    adoption_weight: float,
    timed: bool,
    half_life_days: float | None,
    now: int,
    sources: DataFrame | None = None,
) -> DataFrame:
    """Edge trust ``user, friend, w`` exactly as ``trust.tie_strength`` with the TrustRanker's
    inputs: ``s_uf * (1 + rw [mutual] + sw cosine(I_u, I_f) + aw log1p(adoptions))``, where
    ``I_u`` are u's public endorsements of the weighted ``kinds`` (:func:`trust_evidence`) and an
    adoption is u's public recommendation after purchase of an item f publicly endorsed.

    ``sources`` (a column ``user``): only the edges leaving these users (every term of an edge
    reads the edge, its reverse in the whole graph and both endpoints' items, so the weights
    of the kept edges are unchanged)."""
    e = social.select("user", "friend", F.col("weight").alias("s"))
    if sources is not None:
        e = e.join(sources, "user", "left_semi")
    total = F.lit(1.0)
    if reciprocity_weight:
        back = social.select(F.col("friend").alias("user"), F.col("user").alias("friend"),
                             F.lit(1.0).alias("mutual"))
        e = e.join(back, ["user", "friend"], "left").fillna(0.0, ["mutual"])
        total = total + reciprocity_weight * F.col("mutual")
    if shared_weight:
        x = ev.where(F.col("kind").isin(*kinds)).select("user", "item")
        deg = x.groupBy("user").agg(F.count(F.lit(1)).cast("double").alias("deg"))
        common = (
            e.select("user", "friend")
            .join(x, "user")
            .join(x.select(F.col("user").alias("friend"), "item"), ["friend", "item"])
            .groupBy("user", "friend").agg(F.count(F.lit(1)).cast("double").alias("cnt"))
        )
        e = (
            e.join(common, ["user", "friend"], "left").fillna(0.0, ["cnt"])
            .join(deg.select("user", F.col("deg").alias("du")), "user", "left")
            .join(deg.select(F.col("user").alias("friend"), F.col("deg").alias("df")), "friend",
                  "left")
            .fillna(0.0, ["du", "df"])
        )
        den = F.sqrt(F.col("du") * F.col("df"))
        cos = F.when(den > 0, F.col("cnt") / den).otherwise(F.lit(0.0))
        total = total + shared_weight * cos
    if adoption_weight:
        adopt = _adoptions(e.select("user", "friend"), ev, kinds=kinds, timed=timed,
                           half_life_days=half_life_days, now=now)
        e = e.join(adopt, ["user", "friend"], "left").fillna(0.0, ["adopt"])
        total = total + adoption_weight * F.log1p(F.col("adopt"))
    return e.select("user", "friend", (F.col("s") * total).alias("w")).where(F.col("w") != 0)


def _adoptions(
    edges: DataFrame, ev: DataFrame, *, kinds: list[str], timed: bool,
    half_life_days: float | None, now: int,
) -> DataFrame:
    """``trust.adoption_counts`` on the edges, as the TrustRanker feeds it: items whose
    strongest public endorsement by u is a recommendation after purchase and by f one of the
    weighted ``kinds``; with times only when u's is not earlier than f's, decayed by its age at
    ``now``."""
    a = ev.where(F.col("kind") == "recommend_after_purchase").select(
        "user", "item", F.col("timestamp").alias("ta"))
    f = ev.where(F.col("kind").isin(*kinds)).select(
        F.col("user").alias("friend"), "item", F.col("timestamp").alias("tf"))
    j = edges.join(a, "user").join(f, ["friend", "item"])
    if timed:
        val = F.when(F.col("ta") >= F.col("tf"), F.lit(1.0)).otherwise(F.lit(0.0))
        val = val * _decay(F.col("ta"), half_life_days, now)
    else:
        val = F.lit(1.0)
    return j.groupBy("user", "friend").agg(F.sum(val).alias("adopt"))


def _prune(df: DataFrame, key: str, node: str, val: str, tol: float, top_k: int | None) -> DataFrame:
    """``trust.prune_rows``: entries >= tol (and != 0), at most ``top_k`` largest per key,
    ties by the lower node id (= the lower user index)."""
    out = df.where((F.col(val) >= tol) & (F.col(val) != 0))
    if top_k is not None:
        w = Window.partitionBy(key).orderBy(F.col(val).desc(), F.col(node).asc())
        out = out.withColumn("_rk", F.row_number().over(w)).where(F.col("_rk") <= top_k).drop("_rk")
    return out


def _trust_ranker_params(params: dict[str, Any], where: str) -> dict[str, Any]:
    """Validate TrustRanker hyperparameters with the ranker's own checks and fill its defaults,
    so that the Spark path and the single-machine ranker can never drift apart silently."""
    from ..rankers import TrustRanker

    known = set(TrustRanker.param_names())
    unknown = sorted(set(params) - known)
    if unknown:
        raise ValueError(
            f"{where} takes the hyperparameters of TrustRanker {sorted(known)}. Got unknown "
            f"{unknown}."
        )
    if params.get("defence"):
        raise ValueError(
            f"The 'defence' parameter of {where} must be None or False: the Spark path does not "
            f"run haowurank.trust.defend, so its scores are those of TrustRanker(defence=None). "
            f"Clean the data first (e.g. defend() on a sample, then filter the Spark tables). "
            f"Got {params['defence']!r}."
        )
    r = TrustRanker(**{**params, "defence": None})
    r.validate_params()
    p = r.get_params()
    if p.get("fill"):
        raise ValueError(
            f"The 'fill' parameter of {where} must be False: making every item a candidate of "
            f"every user is a dense (n_users x n_items) option with no place in a Spark job."
        )
    kw = TRUST_KIND_WEIGHTS if p["kind_weights"] is None else p["kind_weights"]
    p["kw"] = {k: float(v) for k, v in kw.items() if v > 0}
    a, mh = float(p["alpha"]), int(p["max_hops"])
    p["hop_w"] = [0.0, 1.0] + [float(p["trust_weight"]) * (1.0 - a) ** (k - 1)
                               for k in range(2, mh + 1)]
    return p


class TrustModel:
    """The trust ranker's learned state as Spark DataFrames, each computed once and kept as a
    local checkpoint (:func:`_materialize`: a one-leaf plan, so queries on top stay short).

    ``TrustModel(sds, users=None, **params)`` computes, with
    :class:`haowurank.rankers.TrustRanker`'s hyperparameters (validated by that class, with its
    defaults), under the privacy rule of :mod:`haowurank.visibility` as the ranker applies it:

    ``evidence_``
        :func:`trust_evidence`: the public endorsements without audience list (the only
        endorsements of other people that tie strength and the wider circle read);
    ``transition_``
        ``node, next, p``: tie strength on the follow graph without blocked accounts
        (reciprocity, cosine of public endorsements, adoptions of public endorsements),
        row-normalised (``trust.tie_strength`` and ``trust.row_normalize``); with ``users``, only
        the rows of the accounts within ``max_hops - 1`` follows of them (the rows the
        PageRank walk from them can read);
    ``trust_``
        ``user, endorser, trust``: truncated personalized PageRank with hop weights ``[0, 1,
        trust_weight (1 - alpha), ...]``, frontier and result pruned to entries >= 1e-9 and the
        ``max_endorsers`` largest per user (ties by the lower id), the user's own entry and the
        accounts they blocked removed (``TrustRanker.trust_rows``); with ``users``, their rows
        only;
    ``wider_``
        ``user, endorser, trust``: the same walk over paths of 2 to ``max_hops`` follows only,
        pruned on its own (the ranker's wider circle);
    ``direct_``
        ``user, endorser, item, kind, contribution``: every endorsement of a direct follow the
        user may see (:func:`visible_endorsements`), its contribution ``p(user, endorser) x
        kind weight x decay``, divided by the total of what the user sees of that endorser to
        the power ``endorser_norm``;
    ``endorsements_``
        ``user, item, e``: the public endorsements (``e`` of :attr:`evidence_`, zeros dropped),
        each endorser's row divided by its sum to the power ``endorser_norm``: what the wider
        circle contributes in aggregate;
    ``prior_``
        ``item, prior``: column sums of :func:`kind_weighted_endorsements` (every non-private
        endorsement, an aggregate over all users) scaled to [0, 1], also with ``users``;
    ``scores_``
        ``user, item, score``: ``sum(direct_) + wider_ @ endorsements_ + prior_weight *
        prior_`` over every candidate, rounded to float32 (the ranker's ``_candidate_values``).
        Computed (and checkpointed) on first access: a feed needs the scores of its candidate pairs
        only (:meth:`score_pairs`), a few percent of the candidates.

    Every restriction above is exact: the rows kept are the rows the single-machine ranker
    computes for the same users (``tests/test_spark.py``).

    Shuffles: one aggregation of the public endorsements; the tie-strength joins (edges x own
    items x friend's items for the shared and adoption terms, both grow with sum over edges of
    the user's public endorsement count); per hop one join of the frontier with ``P`` by node
    and one repartition by user that serves the aggregation and the pruning window; the joins
    of :func:`visible_endorsements` and of their triples with ``P``; the final join of the wider
    circle's trust rows with the public endorsements by endorser. Frontier size per user grows
    like degree^hops until ``max_endorsers`` caps it.

    References
    ----------
    .. [1] G. Jeh, J. Widom. "Scaling Personalized Web Search". WWW 2003.
    .. [2] P. Gupta et al. "WTF: The Who to Follow Service at Twitter". WWW 2013.
    .. [3] K. Kamath et al. "RealGraph: User Interaction Prediction at Twitter". KDD 2014.
    """

    def __init__(self, sds: SparkDataset, *, users: DataFrame | None = None, **params: Any):
        _check_sds(sds, "TrustModel")
        p = _trust_ranker_params(params, "TrustModel")
        self.params = {k: v for k, v in p.items() if k not in ("kw", "hop_w")}
        self.sds = sds
        self._held: list[DataFrame] = []
        self._scores: DataFrame | None = None
        self._has: DataFrame | None = None
        kw = p["kw"]
        now = _latest_timestamp(sds)
        self.now_ = now
        timed = bool(sds.has_timestamps)
        h = p["half_life_days"] if timed else None
        ev = self._keep(trust_evidence(sds, kw, h, now))
        self.evidence_ = ev
        hidden = _hidden(sds, None)
        social = _strip(sds.social, hidden, "user", "friend")
        self.users_ = None
        sources = None
        if users is not None:
            if not isinstance(users, DataFrame) or "user" not in users.columns:
                raise ValueError(
                    "The 'users' argument of TrustModel must be a Spark DataFrame with a column "
                    f"'user'. Got {type(users).__name__}."
                )
            self.users_ = self._keep(users.select("user").distinct())
            sources = self._reach(social, self.users_, int(p["max_hops"]) - 1)
        w = _tie_strength(
            social, ev, kinds=list(kw), reciprocity_weight=float(p["reciprocity_weight"]),
            shared_weight=float(p["shared_weight"]), adoption_weight=float(p["adoption_weight"]),
            timed=timed, half_life_days=h, now=now, sources=sources,
        )
        rowsum = w.groupBy("user").agg(F.sum("w").alias("_rs"))
        self.transition_ = self._keep(
            w.join(rowsum, "user")
            .select(F.col("user").alias("node"), F.col("friend").alias("next"),
                    (F.col("w") / F.col("_rs")).alias("p"))
            .where(F.col("p") > 0)
        )
        self.trust_, self.wider_ = self._ppr(p, hidden, self.users_)
        self.direct_ = self._keep(self._direct(kw, h, now, float(p["endorser_norm"] or 0.0)))
        pub = ev.where(F.col("e") != 0).select("user", "item", "e")
        self.endorsements_ = self._keep(
            _row_normalize(pub, "user", "e", float(p["endorser_norm"] or 0.0))
        )
        votes = kind_weighted_endorsements(sds, kw, h, now)
        pop = votes.groupBy("item").agg(F.sum("e").alias("pop"))
        top = pop.agg(F.max("pop").alias("mx"))
        self.prior_ = self._keep(pop.crossJoin(F.broadcast(top)).select(
            "item",
            F.when(F.col("mx") > 0, F.col("pop") / F.col("mx")).otherwise(0.0).alias("prior"),
        ))
        self._prior_weight = float(p["prior_weight"])

    def _reach(self, social: DataFrame, users: DataFrame, hops: int) -> DataFrame:
        """``user``: ``users`` and every account within ``hops`` follows of them."""
        reach = users
        front = users
        for _ in range(max(hops, 0)):
            nxt = social.join(front, "user", "left_semi").select(F.col("friend").alias("user"))
            front = self._keep(nxt.distinct().join(reach, "user", "left_anti"))
            reach = self._keep(reach.unionByName(front))
        return reach

    def _direct(self, kw: Mapping[str, float], h: float | None, now: int,
                norm: float) -> DataFrame:
        """The endorsements of direct follows each user may see and their contributions
        (``TrustRanker._direct``)."""
        v = visible_endorsements(self.sds, viewers=self.users_)
        val = _weight_of_kind(kw) * _decay(F.col("timestamp"), h, now)
        d = v.select(F.col("viewer").alias("user"), "endorser", "item", "kind", val.alias("v"))
        if norm:
            tot = d.groupBy("user", "endorser").agg(F.sum("v").alias("_tot"))
            d = d.join(tot, ["user", "endorser"]).withColumn(
                "v", F.when(F.col("_tot") > 0, F.col("v") / F.pow(F.col("_tot"), norm))
                .otherwise(F.lit(0.0))
            ).drop("_tot")
        tie = self.transition_.select(F.col("node").alias("user"),
                                      F.col("next").alias("endorser"), F.col("p").alias("tie"))
        return d.join(tie, ["user", "endorser"]).select(
            "user", "endorser", "item", "kind", (F.col("tie") * F.col("v")).alias("contribution")
        ).where(F.col("contribution") != 0)

    def _score(self, pairs: DataFrame | None) -> DataFrame:
        wide = self.wider_.join(self.endorsements_.withColumnRenamed("user", "endorser"),
                                "endorser").select("user", "item",
                                                   (F.col("trust") * F.col("e")).alias("v"))
        direct = self.direct_.select("user", "item", F.col("contribution").alias("v"))
        cand = direct.unionByName(wide)
        if pairs is not None:
            cand = cand.join(pairs.select("user", "item").distinct(), ["user", "item"],
                             "left_semi")
        cand = cand.groupBy("user", "item").agg(F.sum("v").alias("score"))
        pw = self._prior_weight
        if pw:
            cand = cand.join(F.broadcast(self.prior_), "item", "left").fillna(0.0, ["prior"])
            cand = cand.select("user", "item", (F.col("score") + pw * F.col("prior")).alias("score"))
        return cand.select("user", "item", F.col("score").cast("float").cast("double")
                           .alias("score"))

    @property
    def scores_(self) -> DataFrame:
        if self._scores is None:
            self._scores = self._keep(self._score(None))
        return self._scores

    def score_pairs(self, pairs: DataFrame) -> DataFrame:
        """``user, item, score`` of the given pairs that are candidates (the others have no
        row), as :attr:`scores_` holds them, without scoring the other candidates."""
        if self._scores is not None:
            return self._scores.join(pairs.select("user", "item").distinct(), ["user", "item"],
                                     "left_semi")
        return self._score(pairs)

    @property
    def users_with_candidates_(self) -> DataFrame:
        """``user``: the users with at least one candidate (a visible endorsement of a direct
        follow, or a wider-circle account with a public endorsement); the others get the
        ranker's cold start."""
        if self._has is None:
            if self._scores is not None:
                has = self._scores.select("user").distinct()
            else:
                endorsers = self.endorsements_.select(F.col("user").alias("endorser")).distinct()
                has = self.direct_.select("user").unionByName(
                    self.wider_.join(endorsers, "endorser", "left_semi").select("user")
                ).distinct()
            self._has = self._keep(has)
        return self._has

    def _keep(self, df: DataFrame) -> DataFrame:
        """Compute ``df`` now and keep its rows (:func:`_materialize`)."""
        df = _materialize(df)
        self._held.append(df)
        return df

    def _ppr(self, p: dict, hidden: DataFrame,
             users: DataFrame | None) -> tuple[DataFrame, DataFrame]:
        """(all hops, hops >= 2) of the truncated personalized PageRank from each user
        (``TrustRanker.trust_rows`` and ``TrustRanker._wider_rows``): one walk, two sums."""
        P = self.transition_
        tol = 1e-9
        top_k = p["max_endorsers"]
        seeds = (users.select(F.col("user").alias("seed")).distinct() if users is not None
                 else P.select(F.col("node").alias("seed")).distinct())
        frontier = seeds.select("seed", F.col("seed").alias("node"), F.lit(1.0).alias("m"))
        hop_frames: list[DataFrame] = []
        for _ in range(1, int(p["max_hops"]) + 1):
            step = (
                frontier.join(P, "node")
                .repartition("seed")  # serves the aggregation and the pruning window
                .groupBy("seed", F.col("next").alias("node"))
                .agg(F.sum(F.col("m") * F.col("p")).alias("m"))
            )
            frontier = _materialize(_prune(step, "seed", "node", "m", tol, top_k))
            hop_frames.append(frontier)
        wider_w = list(p["hop_w"])
        wider_w[1] = 0.0
        out = []
        for weights in (p["hop_w"], wider_w):
            out.append(self._keep(self._walk_sum(hop_frames, weights, hidden, tol, top_k)))
        return out[0], out[1]

    @staticmethod
    def _walk_sum(hop_frames: list[DataFrame], weights: list[float], hidden: DataFrame,
                  tol: float, top_k: int | None) -> DataFrame:
        """``user, endorser, trust``: ``sum_k weights[k] x hop k`` without the seed itself,
        pruned, blocked accounts removed (``propagate`` with those hop weights)."""
        parts = [f.select("seed", "node", (F.col("m") * w).alias("m"))
                 for f, w in zip(hop_frames, weights[1:]) if w]
        if not parts:
            return hop_frames[-1].limit(0).select(F.col("seed").alias("user"),
                                                  F.col("node").alias("endorser"),
                                                  F.col("m").alias("trust"))
        result = parts[0]
        for part in parts[1:]:
            result = result.unionByName(part)
        result = (
            result.repartition("seed").groupBy("seed", "node").agg(F.sum("m").alias("m"))
            .where(F.col("seed") != F.col("node"))
        )
        result = _prune(result, "seed", "node", "m", tol, top_k)
        return _strip(
            result.select(F.col("seed").alias("user"), F.col("node").alias("endorser"),
                          F.col("m").alias("trust")),
            hidden, "user", "endorser",
        )

    def unpersist(self) -> None:
        """Forget the scores computed after the fit and the list of kept frames. The frames are
        local checkpoints (:func:`_materialize`): Spark's context cleaner frees their blocks
        once nothing references them, this model's attributes included, so drop the model too
        to free them; until then they stay usable."""
        for df in self._held:
            df.unpersist()
        self._held = []
        self._scores = None
        self._has = None


def trust_rows(
    sds: SparkDataset, *, users: DataFrame | None = None, **params: Any
) -> DataFrame:
    """``user, endorser, trust``: :attr:`TrustModel.trust_` (``TrustRanker.trust_rows``) with
    :class:`haowurank.rankers.TrustRanker`'s hyperparameters and defaults."""
    return TrustModel(sds, users=users, **params).trust_


def kind_weighted_endorsements(
    sds: SparkDataset,
    kind_weights: Mapping[str, float] | None = None,
    half_life_days: float | None = None,
    now: int | None = None,
) -> DataFrame:
    """``trust.kind_weighted_endorsements``: per (user, item) the max over non-private rows of
    ``kind_weights[kind] * decay(age)`` (decay only when the data carry timestamps); default
    weights :data:`haowurank.kinds.TRUST_EVIDENCE_WEIGHTS`, as there. An aggregate over all
    users (the trust ranker's popularity prior), never a per-person signal.

    Returns
    -------
    DataFrame
        ``user, item, e`` (double > 0).
    """
    kw = _check_kind_weights(
        TRUST_EVIDENCE_WEIGHTS if kind_weights is None else kind_weights, "kind_weights"
    )
    kw = {k: v for k, v in kw.items() if v > 0}
    rows = sds.interactions.where(
        F.col("kind").isin(*kw) & (F.col("visibility") != "private")
    )
    h = half_life_days if sds.has_timestamps else None
    if h is not None and now is None:
        now = _latest_timestamp(sds)
    val = _weight_of_kind(kw) * _decay(F.col("timestamp"), h, int(now or 0))
    return rows.groupBy("user", "item").agg(F.max(val).alias("e")).where(F.col("e") != 0)


def _row_normalize(df: DataFrame, key: str, val: str, power: float) -> DataFrame:
    """``trust.row_normalize(m, power)``: each row divided by its sum to ``power``."""
    if not power:
        return df
    sums = df.groupBy(key).agg(F.sum(val).alias("_sum"))
    return df.join(sums, key).withColumn(
        val, F.col(val) * F.when(F.col("_sum") > 0, F.pow(F.col("_sum"), -float(power)))
        .otherwise(F.lit(0.0))
    ).drop("_sum")


def trust_scores(
    sds: SparkDataset, *, users: DataFrame | None = None, **params: Any
) -> DataFrame:
    """Trust-weighted endorsement scores ``user, item, score`` as
    :class:`haowurank.rankers.TrustRanker` scores its candidates: the visible endorsements of
    direct follows weighted by tie strength, plus the wider circle's public endorsements in
    aggregate, plus ``prior_weight * prior[i]`` (see :class:`TrustModel`).

    Parameters
    ----------
    sds : SparkDataset
    users : DataFrame, optional
        Column ``user``: score only these users.
    **params
        Hyperparameters of :class:`haowurank.rankers.TrustRanker`, validated by the ranker and
        with its defaults (``fill=True`` is refused: a dense option).
    """
    return TrustModel(sds, users=users, **params).scores_


# --------------------------------------------------------------------------------------------
# ranking
# --------------------------------------------------------------------------------------------

def popularity(sds: SparkDataset) -> DataFrame:
    """``item, score``: number of distinct users who interacted with the item (any kind), the
    rankers' cold-start fallback (``Ranker.fallback_``)."""
    return sds.interactions.select("user", "item").distinct().groupBy("item").agg(
        F.count(F.lit(1)).cast("double").alias("score")
    )


def top_n(
    scores: DataFrame,
    n: int,
    *,
    exclude: DataFrame | None = None,
    fallback: DataFrame | None = None,
    users: DataFrame | None = None,
) -> DataFrame:
    """Top ``n`` items per user by score, ties broken by the lower item id.

    Parameters
    ----------
    scores : DataFrame
        ``user, item, score``.
    n : int
        List length.
    exclude : DataFrame, optional
        ``user, item`` pairs never recommended (e.g. ``sds.interactions``: items already seen).
    fallback : DataFrame, optional
        ``item, score`` (e.g. :func:`popularity`): the list of every user in ``users`` who has
        no candidate at all in ``scores`` (before exclusion), as the rankers' cold start.
    users : DataFrame, optional
        Column ``user``: the users to rank (default: those in ``scores``). Needed for the
        fallback.

    Returns
    -------
    DataFrame
        ``user, item, score, rank`` (rank 1-based), at most ``n`` rows per user. The ranking is
        a window function partitioned by user and ordered by score desc, item asc: one shuffle
        by user.
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"The 'n' parameter of top_n must be a positive int. Got {n!r} instead.")
    s = scores.select("user", "item", F.col("score").cast("double").alias("score"))
    if users is not None:
        s = s.join(users.select("user").distinct(), "user", "left_semi")
    if fallback is not None:
        if users is None:
            raise ValueError("The 'fallback' parameter of top_n needs 'users' (who to fill).")
        lonely = users.select("user").distinct().join(s.select("user").distinct(), "user",
                                                      "left_anti")
        extra = 0
        if exclude is not None:
            row = exclude.select("user", "item").distinct().groupBy("user").count().agg(
                F.max("count").alias("m")).collect()[0]
            extra = int(row["m"] or 0)
        head = fallback.select("item", F.col("score").cast("double").alias("score"))
        wf = Window.orderBy(F.col("score").desc(), F.col("item").asc())
        head = head.withColumn("_r", F.row_number().over(wf)).where(
            F.col("_r") <= int(n) + extra).drop("_r")
        s = s.unionByName(lonely.crossJoin(F.broadcast(head)).select("user", "item", "score"))
    if exclude is not None:
        s = s.join(exclude.select("user", "item").distinct(), ["user", "item"], "left_anti")
    w = Window.partitionBy("user").orderBy(F.col("score").desc(), F.col("item").asc())
    return s.withColumn("rank", F.row_number().over(w)).where(F.col("rank") <= int(n))
