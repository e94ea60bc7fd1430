"""Social scoring as Spark DataFrame joins: the feed's visibility rule, friend-endorsement counts,
trust-weighted endorsements (tie strength, truncated personalized PageRank, kind weights and
half-life decay) and top-n per user with a window function.

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
from ._dataset import SparkDataset
from ._session import require_pyspark

require_pyspark()

from pyspark import StorageLevel  # noqa: E402
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
    "trust_rows",
    "trust_scores",
    "visible_endorsements",
]

log = logging.getLogger(__name__)

SECONDS_PER_DAY = 86_400.0

#: Kind weights of the feed's visibility graph (``haowurank.feed._visibility``).
FEED_KIND_WEIGHTS: dict[str, float] = {"recommend": 1.0, "recommend_after_purchase": 2.0}
#: Kind weights of the trust ranker (``haowurank.trust.DEFAULT_KIND_WEIGHTS``).
TRUST_KIND_WEIGHTS: dict[str, float] = {
    "recommend_after_purchase": 2.0,
    "recommend": 1.0,
    "purchase": 0.5,
}


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


def _follow_edges(sds: SparkDataset, hidden: DataFrame) -> DataFrame:
    """``viewer, endorser, trust, mutual``: follows v -> e that are not hidden; ``mutual`` when
    e also follows v (in the raw graph, as the feed reads it)."""
    s = sds.social.select(F.col("user").alias("viewer"), F.col("friend").alias("endorser"),
                          F.col("weight").alias("trust"))
    back = sds.social.select(F.col("friend").alias("viewer"), F.col("user").alias("endorser"),
                             F.lit(True).alias("mutual"))
    s = s.join(back, ["viewer", "endorser"], "left").withColumn(
        "mutual", F.coalesce(F.col("mutual"), F.lit(False))
    )
    return _strip(s, hidden, "viewer", "endorser")


def visible_endorsements(
    sds: SparkDataset,
    *,
    kind_weights: Mapping[str, float] | None = None,
    mutes: DataFrame | None = None,
    viewers: DataFrame | None = None,
) -> DataFrame:
    """Every (viewer, endorser, item) the visibility rule of ``haowurank.feed`` lets through.

    The Spark form of ``haowurank.feed.EndorsementGraph.triples`` (API.md, "Feed and search"): a
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
    hidden = _hidden(sds, mutes)
    edges = _follow_edges(sds, hidden)
    if viewers is not None:
        edges = edges.join(viewers.select(F.col("user").alias("viewer")).distinct(), "viewer",
                           "left_semi")
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
        (F.col("b.w") * F.col("b.trust")).cast("float").cast("double").alias("weight"),
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
        lists, blocks and mutes). ``"follow"``: the rule of the single-machine
        ``friend_endorsements`` ranker: every followed, non-blocked account with a non-private
        row of ``kinds`` counts, whatever its visibility.
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

def _event_pairs(sds: SparkDataset, kinds: list[str], how: str = "last") -> DataFrame:
    """``user, item, t``: who has a non-private row of ``kinds`` on the item, and when (latest
    or earliest), as ``trust.event_times``."""
    agg = F.max if how == "last" else F.min
    return (
        sds.interactions.where(F.col("kind").isin(*kinds) & (F.col("visibility") != "private"))
        .groupBy("user", "item").agg(agg("timestamp").alias("t"))
    )


def _tie_strength(
    sds: SparkDataset,
    social: DataFrame,
    kinds: list[str],
    *,
    reciprocity_weight: float,
    shared_weight: float,
    adoption_weight: float,
    half_life_days: float | None,
    now: int,
) -> DataFrame:
    """Edge trust ``user, friend, w`` exactly as ``trust.tie_strength`` with the TrustRanker's
    inputs: ``s_uf * (1 + rw [mutual] + sw cosine(I_u, I_f) + aw log1p(adoptions))``."""
    timed = sds.has_timestamps
    e = social.select("user", "friend", F.col("weight").alias("s"))
    total = F.lit(1.0)
    if reciprocity_weight:
        back = social.select(F.col("friend").alias("user"), F.col("user").alias("friend"),
                             F.lit(1.0).alias("mutual"))
        e = e.join(back, ["user", "friend"], "left").fillna(0.0, ["mutual"])
        total = total + reciprocity_weight * F.col("mutual")
    if shared_weight:
        x = _event_pairs(sds, kinds).select("user", "item")
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
        adopt = _adoptions(sds, e.select("user", "friend"), kinds, timed=timed,
                           half_life_days=half_life_days, now=now)
        e = e.join(adopt, ["user", "friend"], "left").fillna(0.0, ["adopt"])
        total = total + adoption_weight * F.log1p(F.col("adopt"))
    return e.select("user", "friend", (F.col("s") * total).alias("w")).where(F.col("w") != 0)


def _adoptions(
    sds: SparkDataset, edges: DataFrame, kinds: list[str], *, timed: bool,
    half_life_days: float | None, now: int,
) -> DataFrame:
    """``trust.adoption_counts`` on the edges: items u bought (purchase or recommend after
    purchase, latest time) that f endorsed (``kinds``, earliest time); with times only when u's
    purchase is not earlier, decayed by its age at ``now``."""
    a = _event_pairs(sds, ["purchase", "recommend_after_purchase"], "last").select(
        "user", "item", F.col("t").alias("ta"))
    f = _event_pairs(sds, kinds, "first").select(F.col("user").alias("friend"), "item",
                                                 F.col("t").alias("tf"))
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


def trust_rows(
    sds: SparkDataset,
    *,
    kind_weights: Mapping[str, float] | None = None,
    half_life_days: float | None = None,
    reciprocity_weight: float = 1.0,
    shared_weight: float = 4.0,
    adoption_weight: float = 0.0,
    alpha: float = 0.15,
    max_hops: int = 2,
    trust_weight: float = 0.3,
    max_endorsers: int | None = 2000,
    users: DataFrame | None = None,
    persist: bool = True,
) -> DataFrame:
    """Multi-hop trust of each user in other accounts, as ``TrustRanker.trust_rows``.

    Edge trust by tie strength (:func:`haowurank.trust.tie_strength` terms) on the follow graph
    without blocked accounts, row-normalised into a transition matrix ``P``, then truncated
    personalized PageRank from every user with hop weights ``[0, 1, trust_weight (1 - alpha),
    trust_weight (1 - alpha)^2, ...]``: after each hop the frontier is pruned to entries >= 1e-9
    and to the ``max_endorsers`` largest per user (ties by the lower user id), the seed's own
    entry is dropped, the result pruned the same way, and accounts the user blocked removed.

    Parameters
    ----------
    sds : SparkDataset
    kind_weights, half_life_days, reciprocity_weight, shared_weight, adoption_weight, alpha,
    max_hops, trust_weight, max_endorsers
        As :class:`haowurank.rankers.TrustRanker`.
    users : DataFrame, optional
        Column ``user``: seeds to compute (default every user with a follow edge).
    persist : bool
        Persist each hop's frontier (keeps the query plan short; recommended).

    Returns
    -------
    DataFrame
        ``user, endorser, trust`` (double), only positive entries.

    References
    ----------
    .. [1] G. Jeh, J. Widom. "Scaling Personalized Web Search". WWW 2003.
    .. [2] P. Gupta et al. "WTF: The Who to Follow Service at Twitter". WWW 2013.
    """
    _check_sds(sds, "trust_rows")
    p = _trust_params(kind_weights, half_life_days, reciprocity_weight, shared_weight,
                      adoption_weight, alpha, max_hops, trust_weight, max_endorsers)
    return _trust_rows(sds, p, users=users, persist=persist)[0]


def _trust_params(kind_weights, half_life_days, reciprocity_weight, shared_weight,
                  adoption_weight, alpha, max_hops, trust_weight, max_endorsers) -> dict:
    kw = _check_kind_weights(
        TRUST_KIND_WEIGHTS if kind_weights is None else kind_weights, "kind_weights"
    )
    kw = {k: v for k, v in kw.items() if v > 0}
    for name, v in (("reciprocity_weight", reciprocity_weight), ("shared_weight", shared_weight),
                    ("adoption_weight", adoption_weight), ("trust_weight", trust_weight)):
        if not _nonneg(v):
            raise ValueError(f"The '{name}' parameter must be a finite number >= 0. Got {v!r}.")
    if half_life_days is not None and not (_nonneg(half_life_days) and half_life_days > 0):
        raise ValueError(
            f"The 'half_life_days' parameter must be None or a number > 0. Got {half_life_days!r}."
        )
    if not (_nonneg(alpha) and 0 < alpha <= 1):
        raise ValueError(f"The 'alpha' parameter must be a number in (0, 1]. Got {alpha!r}.")
    if isinstance(max_hops, bool) or not isinstance(max_hops, numbers.Integral) or not (
        1 <= max_hops <= 10
    ):
        raise ValueError(f"The 'max_hops' parameter must be an int in [1, 10]. Got {max_hops!r}.")
    if max_endorsers is not None and (
        isinstance(max_endorsers, bool) or not isinstance(max_endorsers, numbers.Integral)
        or max_endorsers < 1
    ):
        raise ValueError(
            f"The 'max_endorsers' parameter must be None or an int >= 1. Got {max_endorsers!r}."
        )
    hop_w = [0.0, 1.0] + [float(trust_weight) * (1.0 - float(alpha)) ** (k - 1)
                          for k in range(2, max_hops + 1)]
    return dict(kw=kw, half_life_days=None if half_life_days is None else float(half_life_days),
                rw=float(reciprocity_weight), sw=float(shared_weight), aw=float(adoption_weight),
                max_hops=int(max_hops), hop_w=hop_w, top_k=max_endorsers)


def _trust_rows(sds: SparkDataset, p: dict, *, users: DataFrame | None, persist: bool
                ) -> tuple[DataFrame, int]:
    timed = sds.has_timestamps
    now = _latest_timestamp(sds)
    hidden = _hidden(sds, None)
    social = _strip(sds.social, hidden, "user", "friend")
    w = _tie_strength(
        sds, social, list(p["kw"]), reciprocity_weight=p["rw"], shared_weight=p["sw"],
        adoption_weight=p["aw"], half_life_days=p["half_life_days"] if timed else None, now=now,
    )
    rowsum = w.groupBy("user").agg(F.sum("w").alias("_rs"))
    P = (
        w.join(rowsum, "user").select(F.col("user").alias("node"), F.col("friend").alias("next"),
                                      (F.col("w") / F.col("_rs")).alias("p"))
        .where(F.col("p") > 0)
    )
    if persist:
        P = P.persist(StorageLevel.MEMORY_AND_DISK)
    tol = 1e-9
    seeds = (users.select(F.col("user").alias("seed")).distinct() if users is not None
             else P.select(F.col("node").alias("seed")).distinct())
    frontier = seeds.select("seed", F.col("seed").alias("node"), F.lit(1.0).alias("m"))
    result = None
    held: list[DataFrame] = []
    for k in range(1, p["max_hops"] + 1):
        step = (
            frontier.join(P, "node")
            .groupBy("seed", F.col("next").alias("node"))
            .agg(F.sum(F.col("m") * F.col("p")).alias("m"))
        )
        frontier = _prune(step, "seed", "node", "m", tol, p["top_k"])
        if persist:
            frontier = frontier.persist(StorageLevel.MEMORY_AND_DISK)
            held.append(frontier)
        wk = p["hop_w"][k]
        if wk:
            part = frontier.select("seed", "node", (F.col("m") * wk).alias("m"))
            result = part if result is None else result.unionByName(part)
    if result is None:
        out = frontier.limit(0).select(F.col("seed").alias("user"), F.col("node").alias("endorser"),
                                       F.col("m").alias("trust"))
        return out, now
    result = result.groupBy("seed", "node").agg(F.sum("m").alias("m")).where(
        F.col("seed") != F.col("node")
    )
    result = _prune(result, "seed", "node", "m", tol, p["top_k"])
    out = _strip(
        result.select(F.col("seed").alias("user"), F.col("node").alias("endorser"),
                      F.col("m").alias("trust")),
        hidden, "user", "endorser",
    )
    if persist:
        out = out.persist(StorageLevel.MEMORY_AND_DISK)
        out.count()
        for h in held:
            h.unpersist()
        P.unpersist()
    return out, now


def kind_weighted_endorsements(
    sds: SparkDataset,
    kind_weights: Mapping[str, float] | None = None,
    half_life_days: float | None = None,
    now: int | None = None,
) -> DataFrame:
    """``trust.kind_weighted_endorsements``: per (user, item) the max over non-private rows of
    ``kind_weights[kind] * decay(age)``.

    Returns
    -------
    DataFrame
        ``user, item, e`` (double > 0).
    """
    kw = _check_kind_weights(
        TRUST_KIND_WEIGHTS if kind_weights is None else kind_weights, "kind_weights"
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


def trust_scores(
    sds: SparkDataset,
    *,
    kind_weights: Mapping[str, float] | None = None,
    half_life_days: float | None = None,
    reciprocity_weight: float = 1.0,
    shared_weight: float = 4.0,
    adoption_weight: float = 0.0,
    alpha: float = 0.15,
    max_hops: int = 2,
    trust_weight: float = 0.3,
    max_endorsers: int | None = 2000,
    prior_weight: float = 0.01,
    users: DataFrame | None = None,
    persist: bool = True,
) -> DataFrame:
    """Trust-weighted endorsement scores, as :class:`haowurank.rankers.TrustRanker` scores its
    candidates: ``score(u, i) = sum_e trust(u, e) * E[e, i] + prior_weight * prior[i]``.

    ``trust`` is :func:`trust_rows`; ``E`` is :func:`kind_weighted_endorsements` (max per
    (user, item) of the kind weight times the half-life decay; private rows never count);
    ``prior`` is the column sum of ``E`` scaled to [0, 1]. Only candidates (items some trusted
    account endorsed) are returned; the ranker's ``fill=True`` (every item a candidate) is a
    dense option that has no place at this scale and is not offered.

    Parameters
    ----------
    sds : SparkDataset
    kind_weights, half_life_days, reciprocity_weight, shared_weight, adoption_weight, alpha,
    max_hops, trust_weight, max_endorsers, prior_weight
        As :class:`haowurank.rankers.TrustRanker` (same defaults).
    users : DataFrame, optional
        Column ``user``: score only these users.
    persist : bool
        Persist intermediate frontiers and the trust rows.

    Returns
    -------
    DataFrame
        ``user, item, score``; ``score`` is rounded to float32 as the ranker's scores are.
    """
    _check_sds(sds, "trust_scores")
    if not _nonneg(prior_weight):
        raise ValueError(f"The 'prior_weight' parameter must be a finite number >= 0. "
                         f"Got {prior_weight!r}.")
    p = _trust_params(kind_weights, half_life_days, reciprocity_weight, shared_weight,
                      adoption_weight, alpha, max_hops, trust_weight, max_endorsers)
    t, now = _trust_rows(sds, p, users=users, persist=persist)
    E = kind_weighted_endorsements(sds, p["kw"], p["half_life_days"], now)
    cand = (
        t.join(E.withColumnRenamed("user", "endorser"), "endorser")
        .groupBy("user", "item").agg(F.sum(F.col("trust") * F.col("e")).alias("score"))
    )
    if prior_weight:
        pop = E.groupBy("item").agg(F.sum("e").alias("pop"))
        top = pop.agg(F.max("pop").alias("mx"))
        prior = pop.crossJoin(F.broadcast(top)).select(
            "item", F.when(F.col("mx") > 0, F.col("pop") / F.col("mx")).otherwise(0.0).alias("pr")
        )
        cand = cand.join(prior, "item", "left").fillna(0.0, ["pr"]).select(
            "user", "item", (F.col("score") + float(prior_weight) * F.col("pr")).alias("score")
        )
    return cand.select("user", "item", F.col("score").cast("float").cast("double").alias("score"))


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
