"""Friends' feeds in Spark: candidate generation from visible endorsements (joins), relevance
(per-viewer aggregates), diversity re-ranking (the single-machine greedy MMR, vectorised per
partition), explanations, and batch output to Parquet.

Mirrors :func:`haowurank.feed.build` (first page, no item vectors) term by term.
"""

from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._atomic import check_destination
from ._dataset import SparkDataset
from ._scoring import _check_sds, _latest_timestamp, _only, visible_endorsements
from ._session import require_pyspark

require_pyspark()

from pyspark.sql import Column, DataFrame, Window  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402
from pyspark.sql import types as T  # noqa: E402

__all__ = ["build_feeds", "feed_candidates", "write_feeds"]

log = logging.getLogger(__name__)

FEED_COLUMNS = ["user", "item", "score", "rank", "endorsers", "kinds", "explanation"]

Scores = DataFrame | Callable[[DataFrame], DataFrame] | None


def _real(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)


def _count(v: Any, lo: int) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= lo


def _check_config(cfg: dict[str, Any]) -> None:
    def bad(name: str, expect: str) -> ValueError:
        return ValueError(
            f"The {name!r} parameter of build_feeds must be {expect}. Got {cfg[name]!r} instead."
        )

    h = cfg["half_life_days"]
    if h is not None and not (_real(h) and h > 0):
        raise bad("half_life_days", "None or a finite number > 0")
    if not (_real(cfg["endorsement_weight"]) and 0 <= cfg["endorsement_weight"] <= 1):
        raise bad("endorsement_weight", "a number in [0, 1]")
    if not (_real(cfg["diversity"]) and 0 <= cfg["diversity"] <= 1):
        raise bad("diversity", "a number in [0, 1]")
    for cap in ("merchant_cap", "category_cap"):
        if cfg[cap] is not None and not _count(cfg[cap], 1):
            raise bad(cap, "None or an int >= 1")
    for name in ("window", "mmr_pool", "n"):
        if not _count(cfg[name], 1):
            raise bad(name, "an int >= 1")
    if not isinstance(cfg["exclude_endorsed"], bool):
        raise bad("exclude_endorsed", "a bool")
    r = cfg["repurchasable"]
    if r is not None and (isinstance(r, str) or not isinstance(r, Iterable)
                          or not all(isinstance(c, str) for c in r)):
        raise bad("repurchasable", "None or a collection of category names")


def _viewers(users: Any) -> DataFrame | None:
    if users is None or isinstance(users, DataFrame):
        return users
    raise TypeError(
        "The 'users' parameter must be None (every user) or a Spark DataFrame with a column "
        f"'user'. Got {type(users).__name__} instead."
    )


def feed_candidates(
    sds: SparkDataset,
    *,
    users: DataFrame | None = None,
    exclude_endorsed: bool = True,
    repurchasable: Iterable[str] | None = None,
    mutes: DataFrame | None = None,
    kind_weights: dict[str, float] | None = None,
) -> DataFrame:
    """One row per (viewer, item) a feed may show, with its endorsers.

    The visible endorsements (:func:`~haowurank.spark.visible_endorsements`) minus items the
    viewer endorsed (``exclude_endorsed``) and items the viewer bought (``purchase`` or
    ``recommend_after_purchase``) unless their category is ``repurchasable``, grouped by
    (viewer, item).

    Returns
    -------
    DataFrame
        ``user, item, strength`` (sum of kind weight x trust over the visible endorsers),
        ``newest`` (latest visible endorsement time), ``n_friends``, ``n_after_purchase``,
        ``endorsers`` and ``kinds`` (arrays, strongest endorser first: larger weight, then newer,
        then the lower id).
    """
    _check_sds(sds, "feed_candidates")
    v = visible_endorsements(sds, kind_weights=kind_weights, mutes=mutes, viewers=users)
    # only the viewers' own rows are needed for the exclusions (all rows when users is None)
    inter = _only(sds.interactions, "user", users)
    if exclude_endorsed:
        mine = inter.where(F.col("kind").isin("recommend", "recommend_after_purchase")).select(
            F.col("user").alias("viewer"), "item").distinct()
        v = v.join(mine, ["viewer", "item"], "left_anti")
    bought = inter.where(F.col("kind").isin("purchase", "recommend_after_purchase")).select(
        F.col("user").alias("viewer"), "item").distinct()
    if repurchasable is not None:
        cats = sorted({str(c) for c in repurchasable})
        rep = sds.items.where(F.col("category").isin(*cats)).select("item")
        bought = bought.join(rep, "item", "left_anti")
    v = v.join(bought, ["viewer", "item"], "left_anti")
    ordered = F.array_sort(F.collect_list(F.struct(
        (-F.col("weight")).alias("nw"), (-F.col("timestamp")).alias("nt"),
        F.col("endorser"), F.col("kind"),
    )))
    g = v.groupBy("viewer", "item").agg(
        F.sum("weight").alias("strength"),
        F.max("timestamp").alias("newest"),
        F.count(F.lit(1)).alias("n_friends"),
        F.sum((F.col("kind") == "recommend_after_purchase").cast("long")).alias("n_after_purchase"),
        ordered.alias("_e"),
    )
    return g.select(
        F.col("viewer").alias("user"), "item", "strength", "newest", "n_friends",
        "n_after_purchase",
        F.transform("_e", lambda x: x["endorser"]).alias("endorsers"),
        F.transform("_e", lambda x: x["kind"]).alias("kinds"),
    )


def explanation_column(n_friends: Column, n_after: Column) -> Column:
    """``haowurank.feed.explanation_text`` as a Spark expression."""
    who = F.concat(
        n_friends.cast("string"), F.lit(" friend"),
        F.when(n_friends != 1, F.lit("s")).otherwise(F.lit("")), F.lit(" recommended this"),
    )
    return (
        F.when(n_after == 0, who)
        .when(n_friends == 1, F.concat(who, F.lit(" after buying it")))
        .when(n_after == n_friends,
              F.concat(who, F.lit("; all "), n_friends.cast("string"), F.lit(" after buying it")))
        .otherwise(F.concat(who, F.lit("; "), n_after.cast("string"), F.lit(" after buying it")))
    )


def build_feeds(
    sds: SparkDataset,
    scores: Scores = None,
    *,
    n: int = 20,
    users: DataFrame | None = None,
    fallback: DataFrame | None = None,
    half_life_days: float | None = 14.0,
    endorsement_weight: float = 0.5,
    diversity: float = 0.3,
    merchant_cap: int | None = 2,
    category_cap: int | None = 3,
    window: int = 10,
    mmr_pool: int = 50,
    repurchasable: Iterable[str] | None = None,
    exclude_endorsed: bool = True,
    mutes: DataFrame | None = None,
    kind_weights: dict[str, float] | None = None,
    now: int | None = None,
) -> DataFrame:
    """The first page of every user's friends' feed, as :func:`haowurank.feed.build` ranks it.

    1. Candidates: :func:`feed_candidates` (visibility rule, blocks, mutes, audiences, own
       endorsements and purchases excluded).
    2. Relevance per (viewer, item): ``(1 - endorsement_weight) * rn + endorsement_weight * sn``
       with ``sn`` = strength / the viewer's largest strength and ``rn`` = the ranker score
       min-max scaled over the viewer's candidates (0 where the ranker gives none; 1 for all
       when ``scores`` is None); times ``0.5 ** (age / half_life)`` of the newest visible
       endorsement, rescaled so each viewer's best is 1 (computed in log space); float32.
    3. Order: relevance desc, item id asc; with ``diversity`` or caps, the single-machine greedy
       MMR re-ranker (:func:`haowurank.feed.greedy_rerank`) runs on each viewer's ``mmr_pool + n``
       best candidates, vectorised over the viewers of a partition (``mapInPandas``).

    Parameters
    ----------
    sds : SparkDataset
    scores : DataFrame, callable or None
        The ranker's scores: a DataFrame ``user, item, score`` covering (at least) the candidate
        pairs, or a function from a DataFrame of pairs ``user, item`` to such a DataFrame (e.g.
        :meth:`SparkALS.score_pairs`). None: rank by endorsement strength and freshness.
    n : int
        Page length per user.
    users : DataFrame, optional
        Column ``user``: viewers (default every user).
    fallback : DataFrame, optional
        ``item, score``: the scores of viewers that have no row at all in a DataFrame
        ``scores`` (a ranker's cold start, e.g. :func:`~haowurank.spark.popularity` for the
        social rankers' users without candidates).
    half_life_days, endorsement_weight, diversity, merchant_cap, category_cap, window, mmr_pool,
    repurchasable, exclude_endorsed, mutes, kind_weights, now
        As :func:`haowurank.feed.build` (``repurchasable``: category names only; ``now``: int
        seconds, default the latest timestamp, 0 without timestamps). Item vectors and cursors
        are single-machine features: a batch job writes whole first pages.

    Returns
    -------
    DataFrame
        ``user, item, score, rank, endorsers, kinds, explanation`` (the columns of
        ``hr.feed.build``), at most ``n`` rows per user.
    """
    _check_sds(sds, "build_feeds")
    cfg = dict(
        n=n, half_life_days=half_life_days, endorsement_weight=endorsement_weight,
        diversity=diversity, merchant_cap=merchant_cap, category_cap=category_cap, window=window,
        mmr_pool=mmr_pool, repurchasable=repurchasable, exclude_endorsed=exclude_endorsed,
    )
    _check_config(cfg)
    users = _viewers(users)
    if now is None:
        now = _latest_timestamp(sds) if sds.has_timestamps else 0
    elif not _count(now, -(2**62)):
        raise ValueError(f"The 'now' parameter of build_feeds must be int seconds. Got {now!r}.")
    cand = feed_candidates(
        sds, users=users, exclude_endorsed=exclude_endorsed, repurchasable=repurchasable,
        mutes=mutes, kind_weights=kind_weights,
    )
    per_viewer = Window.partitionBy("user")
    if scores is None:
        rn = F.lit(1.0)
        scored = cand
    else:
        pairs = cand.select("user", "item")
        if isinstance(scores, DataFrame):
            s = scores.select("user", "item", F.col("score").cast("double").alias("r"))
            if fallback is not None:
                has = s.select("user").distinct().withColumn("_has", F.lit(True))
                fb = fallback.select("item", F.col("score").cast("double").alias("_fb"))
                scored = (
                    cand.join(s, ["user", "item"], "left").join(has, "user", "left")
                    .join(F.broadcast(fb), "item", "left")
                    .withColumn("r", F.when(F.col("_has").isNull(), F.col("_fb"))
                                .otherwise(F.col("r")))
                    .drop("_has", "_fb")
                )
            else:
                scored = cand.join(s, ["user", "item"], "left")
        elif callable(scores):
            s = scores(pairs).select("user", "item", F.col("score").cast("double").alias("r"))
            scored = cand.join(s, ["user", "item"], "left")
        else:
            raise TypeError(
                "The 'scores' parameter of build_feeds must be None, a Spark DataFrame (user, "
                f"item, score) or a callable on pairs. Got {type(scores).__name__} instead."
            )
        r = F.when(F.isnan("r") | (F.abs(F.col("r")) == float("inf")), F.lit(None)).otherwise(
            F.col("r"))
        scored = scored.withColumn("r", r)
        rmin = F.min("r").over(per_viewer)
        rmax = F.max("r").over(per_viewer)
        span = rmax - rmin
        rn = F.when(F.col("r").isNull(), F.lit(0.0)).when(
            span > 0, (F.col("r") - rmin) / span).otherwise(F.lit(1.0))
    smax = F.max("strength").over(per_viewer)
    sn = F.col("strength") / F.when(smax > 0, smax).otherwise(F.lit(1.0))
    w = float(endorsement_weight)
    rel = (1.0 - w) * rn + w * sn
    scored = scored.withColumn("_rel", rel)
    if half_life_days is not None:
        age = F.greatest(F.lit(int(now)) - F.col("newest"), F.lit(0)).cast("double")
        logr = F.when(F.col("_rel") > 0, F.log(F.col("_rel"))).otherwise(F.lit(float("-inf")))
        logr = logr - age * (math.log(2.0) / (float(half_life_days) * 86400.0))
        scored = scored.withColumn("_lr", logr)
        top = F.max("_lr").over(per_viewer)
        finite = top > float("-inf")
        scored = scored.withColumn(
            "score", F.when(finite, F.exp(F.col("_lr") - top)).otherwise(F.lit(0.0))
        )
    else:
        top = F.max("_rel").over(per_viewer)
        scored = scored.withColumn(
            "score", F.when(top > 0, F.col("_rel") / top).otherwise(F.lit(0.0))
        )
    scored = scored.withColumn("score", F.col("score").cast("float").cast("double"))
    depth = int(n)
    order = Window.partitionBy("user").orderBy(F.col("score").desc(), F.col("item").asc())
    plain = float(diversity) == 0 and merchant_cap is None and category_cap is None
    if plain:
        page = scored.withColumn("rank", F.row_number().over(order)).where(F.col("rank") <= depth)
    else:
        pool = scored.withColumn("_pos", F.row_number().over(order)).where(
            F.col("_pos") <= int(mmr_pool) + depth
        ).join(sds.items.select("item", "category", "merchant"), "item", "left")
        user_type = sds.interactions.schema["user"].dataType
        item_type = sds.interactions.schema["item"].dataType
        out_schema = T.StructType([
            T.StructField("user", user_type), T.StructField("item", item_type),
            T.StructField("score", T.DoubleType()), T.StructField("rank", T.IntegerType()),
            T.StructField("endorsers", T.ArrayType(user_type)),
            T.StructField("kinds", T.ArrayType(T.StringType())),
            T.StructField("n_friends", T.LongType()),
            T.StructField("n_after_purchase", T.LongType()),
        ])
        params = dict(depth=depth, diversity=float(diversity), merchant_cap=merchant_cap,
                      category_cap=category_cap, window=int(window), mmr_pool=int(mmr_pool))
        page = (
            pool.select("user", "item", "score", "_pos", "category", "merchant", "endorsers",
                        "kinds", "n_friends", "n_after_purchase")
            .repartition("user").sortWithinPartitions("user", "_pos")
            .mapInPandas(_reranker(params), out_schema)
        )
    return page.select(
        "user", "item", "score", F.col("rank").cast("long").alias("rank"), "endorsers", "kinds",
        explanation_column(F.col("n_friends"), F.col("n_after_purchase")).alias("explanation"),
    )


def _reranker(params: dict[str, Any]) -> Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]]:
    """A ``mapInPandas`` function: rows arrive sorted by (user, position) within a partition;
    each complete user's candidates go through ``greedy_rerank`` in vectorised chunks."""

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        carry: pd.DataFrame | None = None
        for pdf in batches:
            if carry is not None and len(carry):
                pdf = pd.concat([carry, pdf], ignore_index=True)
            if not len(pdf):
                continue
            last = pdf["user"].iloc[-1]
            tail = (pdf["user"] == last).to_numpy()
            carry = pdf[tail]
            done = pdf[~tail]
            if len(done):
                yield _rerank_chunk(done, params)
        if carry is not None and len(carry):
            yield _rerank_chunk(carry, params)

    return run


def _rerank_chunk(pdf: pd.DataFrame, p: dict[str, Any]) -> pd.DataFrame:
    from ..feed import greedy_rerank

    pdf = pdf.reset_index(drop=True)
    users = pdf["user"].to_numpy()
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    counts = np.diff(np.r_[starts, len(pdf)])
    b = len(starts)
    g = np.repeat(np.arange(b), counts)
    pos = np.arange(len(pdf)) - np.repeat(starts, counts)
    width = int(counts.max())
    cols = np.arange(width)
    rel2 = np.full((b, width), -np.inf, dtype=np.float32)
    rel2[g, pos] = pdf["score"].to_numpy(dtype=np.float32)

    def codes(col: str) -> np.ndarray:
        vals = pdf[col].to_numpy(dtype=object)
        isna = pd.isna(vals)
        c, _ = pd.factorize(pd.Series(vals, dtype=object), use_na_sentinel=True)
        c = c.astype(np.int64)
        c[isna] = -1
        grid = np.broadcast_to(-2 - cols, (b, width)).copy()
        grid[g, pos] = c
        return np.where(grid == -1, -2 - cols - width, grid)

    placed = greedy_rerank(
        rel2, codes("category"), codes("merchant"), p["depth"], diversity=p["diversity"],
        merchant_cap=p["merchant_cap"], category_cap=p["category_cap"], window=p["window"],
        mmr_pool=p["mmr_pool"],
    )
    rb, rp = np.nonzero(placed >= 0)
    src = starts[rb] + placed[rb, rp]
    out = pdf.iloc[src][["user", "item", "score", "endorsers", "kinds", "n_friends",
                         "n_after_purchase"]].reset_index(drop=True)
    out.insert(3, "rank", (rp + 1).astype(np.int32))
    return out


def _is_spark_output(path: Path) -> bool:
    """A folder holding only what a Spark Parquet write leaves (part files, markers, CRCs)."""
    try:
        names = [p.name for p in path.iterdir()]
    except OSError:
        return False
    return bool(names) and all(
        n.startswith(("part-", "_SUCCESS", "_committed", "_started", ".part-", "._SUCCESS"))
        for n in names
    )


def write_feeds(feeds: DataFrame, path: str, *, mode: str = "overwrite",
                partitions: int | None = None, overwrite: bool = False) -> str:
    """Write feed rows to Parquet (one directory; ``endorsers`` and ``kinds`` as list columns).

    The destination follows the library's one writer rule (:mod:`haowurank._atomic`): an
    existing folder is replaced only when it is empty or a Spark Parquet output; anything else
    raises ``FileExistsError`` unless ``overwrite=True``.

    Parameters
    ----------
    feeds : DataFrame
        What :func:`build_feeds` returns.
    path : str
        Output directory.
    mode : str
        Spark save mode (``"overwrite"``, ``"error"``, ``"append"``, ``"ignore"``).
    partitions : int, optional
        Number of output files (``repartition`` by user first); default: as computed.
    """
    missing = [c for c in FEED_COLUMNS if c not in feeds.columns]
    if missing:
        raise ValueError(
            f"The 'feeds' frame must have the columns {FEED_COLUMNS}; missing {missing}."
        )
    check_destination(path, kind="dir", owned=_is_spark_output, overwrite=overwrite,
                      what="feed output")
    out = feeds.select(*FEED_COLUMNS)
    if partitions is not None:
        out = out.repartition(int(partitions), "user")
    out.sortWithinPartitions("user", "rank").write.mode(mode).parquet(str(path))
    return str(path)

