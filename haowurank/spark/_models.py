"""Spark scorers with one interface: ``fit(sds)``, ``recommend(n)``, ``feeds(n)``,
``write_feeds(path)``; friend endorsements, trust, social ALS (Spark ML) and the hybrid blend.

Hyperparameters of the social rankers and of ``social_als`` are those of the single-machine
classes, validated by them and with their defaults, so the two paths share one vocabulary.
"""

from __future__ import annotations

import logging
import math
import numbers
import time
from typing import Any, ClassVar

from .._errors import NotFittedError
from ._dataset import SparkDataset
from ._feed import build_feeds, write_feeds
from ._scoring import (
    TrustModel,
    _check_sds,
    _hidden,
    _strip,
    endorsement_table,
    friend_endorsement_scores,
    popularity,
    top_n,
    visible_endorsements,
)
from ._session import require_pyspark

require_pyspark()

from pyspark import StorageLevel  # noqa: E402
from pyspark.sql import DataFrame  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

__all__ = [
    "SparkFriendEndorsements",
    "SparkHybrid",
    "SparkModel",
    "SparkSocialALS",
    "SparkTrust",
    "social_als_matrix",
]

log = logging.getLogger(__name__)


class SparkModel:
    """Base class: a fitted Spark scorer that recommends and builds feeds.

    Subclasses implement ``_fit(sds)`` and either set ``scores_`` (a DataFrame ``user, item,
    score`` of every candidate) or override :meth:`score_pairs`.
    """

    name: ClassVar[str] = ""
    #: whether users with no candidate get the popularity fallback (the rankers' cold start)
    uses_fallback: ClassVar[bool] = True

    def fit(self, sds: SparkDataset) -> SparkModel:
        """Learn from a SparkDataset and return ``self`` (a second fit replaces all state)."""
        _check_sds(sds, f"{type(self).__name__}.fit")
        if getattr(self, "sds_", None) is not None:
            self.unpersist()
        t0 = time.perf_counter()
        self.sds_ = sds
        self.scores_: DataFrame | None = None
        self._held: list[DataFrame] = []
        self.popularity_ = self._keep(popularity(sds))
        self._fit(sds)
        self.fit_seconds_ = time.perf_counter() - t0
        log.info("%s: fitted in %.1fs", type(self).__name__, self.fit_seconds_)
        return self

    def _fit(self, sds: SparkDataset) -> None:
        raise NotImplementedError

    def _keep(self, df: DataFrame) -> DataFrame:
        df = df.persist(StorageLevel.MEMORY_AND_DISK)
        self._held.append(df)
        return df

    def _check_fitted(self) -> None:
        if getattr(self, "sds_", None) is None:
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet. Call 'fit' with a SparkDataset "
                f"first."
            )

    def score_pairs(self, pairs: DataFrame) -> DataFrame:
        """Scores of given ``user, item`` pairs: ``user, item, score`` (NaN where the model has
        none; users without any candidate get the popularity fallback)."""
        self._check_fitted()
        p = pairs.select("user", "item")
        s = p.join(self.scores_, ["user", "item"], "left")
        return self._with_fallback(s, lambda: self.scores_.select("user").distinct())

    def _with_fallback(self, s: DataFrame, users_with_scores: Any) -> DataFrame:
        """``user, item, score`` of scored pairs ``s``: NaN where the model has no score, and
        the popularity fallback for users outside ``users_with_scores()`` (when it is used)."""
        if not self.uses_fallback:
            return s.select("user", "item", F.coalesce("score", F.lit(float("nan"))).alias("score"))
        has = users_with_scores().withColumn("_has", F.lit(True))
        fb = self.popularity_.select("item", F.col("score").alias("_fb"))
        return (
            s.join(has, "user", "left").join(F.broadcast(fb), "item", "left")
            .select("user", "item", F.when(F.col("_has").isNull(), F.coalesce("_fb", F.lit(0.0)))
                    .otherwise(F.coalesce("score", F.lit(float("nan")))).alias("score"))
        )

    def recommend(
        self, n: int = 20, *, users: DataFrame | None = None, exclude_seen: bool = True
    ) -> DataFrame:
        """Top-``n`` per user: ``user, item, score, rank``, as the single-machine ranker's
        ``recommend_frame`` (score desc, then item id; seen items excluded; users with no
        candidate get the popularity fallback).

        Parameters
        ----------
        n : int
        users : DataFrame, optional
            Column ``user`` (default every user of the dataset).
        exclude_seen : bool
        """
        self._check_fitted()
        sds = self.sds_
        who = users.select("user").distinct() if users is not None else sds.user_index().select(
            "user")
        return top_n(
            self.scores_, n, exclude=sds.interactions if exclude_seen else None,
            fallback=self.popularity_ if self.uses_fallback else None, users=who,
        )

    def feeds(self, n: int = 20, *, users: DataFrame | None = None, **config: Any) -> DataFrame:
        """Each user's friends' feed ranked with this model (:func:`build_feeds`; ``config``
        takes its parameters)."""
        self._check_fitted()
        if self.scores_ is not None:
            return build_feeds(
                self.sds_, self.scores_, n=n, users=users,
                fallback=self.popularity_ if self.uses_fallback else None, **config,
            )
        return build_feeds(self.sds_, self.score_pairs, n=n, users=users, **config)

    def write_feeds(self, path: str, n: int = 20, *, mode: str = "overwrite",
                    users: DataFrame | None = None, overwrite: bool = False,
                    **config: Any) -> str:
        """Build every user's feed (:meth:`feeds`) and write it to Parquet at ``path`` (an
        existing folder that is not a Spark output is refused unless ``overwrite=True``)."""
        return write_feeds(self.feeds(n, users=users, **config), path, mode=mode,
                           overwrite=overwrite)

    def unpersist(self) -> None:
        """Release the persisted frames."""
        for df in getattr(self, "_held", []):
            df.unpersist()
        self._held = []


class SparkFriendEndorsements(SparkModel):
    """Friend-endorsement counts (:func:`friend_endorsement_scores`) as a model.

    Parameters
    ----------
    rule : {"visibility", "follow"}
        ``"visibility"``: friends whose endorsement the user may see (the privacy rule of
        :mod:`haowurank.visibility`; what the single-machine ``friend_endorsements`` ranker
        counts). ``"follow"``: every followed account's non-private rows; not the privacy rule,
        kept for comparisons only.
    kinds : sequence of str, optional
        With ``rule="follow"``: the kinds that count.
    fallback : {"popularity", "none"}
        What a user with no candidate gets in :meth:`recommend`.
    """

    name = "friend_endorsements"

    def __init__(self, rule: str = "visibility", kinds: Any = None, fallback: str = "popularity"):
        self.rule = rule
        self.kinds = kinds
        self.fallback = fallback

    def _fit(self, sds: SparkDataset) -> None:
        if self.fallback not in ("popularity", "none"):
            raise ValueError(
                f"The 'fallback' parameter of SparkFriendEndorsements must be 'popularity' or "
                f"'none'. Got {self.fallback!r} instead."
            )
        self.scores_ = self._keep(friend_endorsement_scores(sds, rule=self.rule, kinds=self.kinds))

    @property
    def uses_fallback(self) -> bool:  # type: ignore[override]
        return self.fallback == "popularity"


class SparkTrust(SparkModel):
    """Trust-weighted endorsements (:class:`~haowurank.spark.TrustModel`) as a model.

    Parameters
    ----------
    users : DataFrame, optional
        Column ``user``: fit for these users only (their trust rows, and the tie strength of
        the accounts their walks can reach); :meth:`recommend` and :meth:`feeds` then serve
        these users (a request for others is restricted to them). The scores of these users are
        exactly those of a fit on every user.
    **params
        Hyperparameters of :class:`haowurank.rankers.TrustRanker` (its defaults); its
        ``fallback`` decides the cold start of :meth:`recommend`. ``defence`` must be None or
        False: the Spark path does not run :func:`haowurank.trust.defend`, so its scores are
        those of ``TrustRanker(defence=None)`` (clean the tables first).

    Notes
    -----
    Fitting materialises the trust rows; the scores of every candidate (:attr:`scores_`) are
    computed on first use (:meth:`recommend`, :class:`SparkHybrid`), while :meth:`feeds` scores
    only the feed's candidate pairs (:meth:`score_pairs`).
    """

    name = "trust"

    def __init__(self, users: DataFrame | None = None, **params: Any):
        self.users = users
        self.params = dict(params)

    def _fit(self, sds: SparkDataset) -> None:
        p = {k: v for k, v in self.params.items() if k != "fallback"}
        self.model_ = TrustModel(sds, users=self.users, **p)
        self._held.extend(self.model_._held)
        self.trust_ = self.model_.trust_

    @property  # type: ignore[override]
    def scores_(self) -> DataFrame | None:
        m = getattr(self, "model_", None)
        if m is None or getattr(self, "sds_", None) is None:
            return None
        return m.scores_

    @scores_.setter
    def scores_(self, value: DataFrame | None) -> None:
        # SparkModel.fit clears the state with None; the scores live in model_
        if value is not None:
            raise AttributeError("SparkTrust.scores_ is computed by its TrustModel.")
        self.__dict__.pop("model_", None)

    @property
    def uses_fallback(self) -> bool:  # type: ignore[override]
        return self.params.get("fallback", "popularity") == "popularity"

    def _who(self, users: DataFrame | None) -> DataFrame | None:
        fitted = self.model_.users_
        if users is None:
            return fitted
        u = users.select("user").distinct()
        return u if fitted is None else u.join(fitted, "user", "left_semi")

    def score_pairs(self, pairs: DataFrame) -> DataFrame:
        """Scores of given ``user, item`` pairs (NaN where not a candidate; users without any
        candidate get the popularity fallback with ``fallback="popularity"``), computed for
        these pairs only."""
        self._check_fitted()
        p = pairs.select("user", "item")
        s = p.join(self.model_.score_pairs(p), ["user", "item"], "left")
        return self._with_fallback(s, lambda: self.model_.users_with_candidates_)

    def recommend(
        self, n: int = 20, *, users: DataFrame | None = None, exclude_seen: bool = True
    ) -> DataFrame:
        self._check_fitted()
        return super().recommend(n, users=self._who(users), exclude_seen=exclude_seen)

    recommend.__doc__ = SparkModel.recommend.__doc__

    def feeds(self, n: int = 20, *, users: DataFrame | None = None, **config: Any) -> DataFrame:
        """Each user's friends' feed ranked by trust (:func:`build_feeds`; ``config`` takes its
        parameters).

        For every fitted user (``users`` None) the model first computes and keeps all their
        candidate scores (:attr:`scores_`), which the feed joins: the sums are aggregated
        before any shuffle, where scoring only the feed's pairs must shuffle every trust row x
        endorsement to find them (the two ways are timed in ``experiments/spark_scale/``). For some
        users only their feed's candidate pairs are scored.
        """
        self._check_fitted()
        if users is None:
            self.model_.scores_  # noqa: B018 - computed and kept before the feed reads it
        return build_feeds(self.sds_, self.score_pairs, n=n, users=self._who(users), **config)

    def unpersist(self) -> None:
        """Release the persisted frames (also those computed after the fit); the trust
        model's checkpoints are freed by Spark once nothing references this model or its
        frames (:meth:`TrustModel.unpersist`)."""
        super().unpersist()
        m = getattr(self, "model_", None)
        if m is not None:
            m.unpersist()


# --------------------------------------------------------------------------------------------
# social ALS: the augmented matrix and Spark ML's ALS
# --------------------------------------------------------------------------------------------

def _social_als_params(params: dict[str, Any], where: str) -> dict[str, Any]:
    from ..rankers import SocialALSRanker

    known = set(SocialALSRanker.param_names())
    unknown = sorted(set(params) - known)
    if unknown:
        raise ValueError(
            f"{where} takes the hyperparameters of SocialALSRanker {sorted(known)}. Got unknown "
            f"{unknown}."
        )
    r = SocialALSRanker(**params)
    r.validate_params()
    return r.get_params()


def social_als_matrix(sds: SparkDataset, **params: Any) -> DataFrame:
    """The matrix ``social_als`` fits ALS on, ``C = X + social_weight * s * T``, in Spark.

    Term by term as :class:`haowurank.rankers.SocialALSRanker` (module docstring of
    ``haowurank.rankers._social_als``):

    - ``X``: own interactions, ``kind_weights`` (``als`` defaults) and ``weighting``: with
      ``"binary"`` the largest kind weight of the user's kinds for the item; otherwise the sum
      of ``weight * kind_weight`` transformed by ``raw`` / ``log`` (log1p) / ``bm25`` / ``tfidf``
      (implicit's formulas on the items x users matrix; entries <= 0 dropped); float32.
    - ``W``: follows without blocked accounts, row-normalised;
      ``T[u, i] = sum_f W[u, f] * endorsement_weights[k]`` over the visible endorsements
      (:func:`~haowurank.spark.visible_endorsements`: the rule of :mod:`haowurank.visibility`
      as joins; ``k`` the strongest visible kind), ``+ hop_decay * W2 @ E_pub`` with
      ``hops=2`` (``W2 = W @ W`` without the diagonal and blocked accounts, ``E_pub`` the public
      endorsements without audience list).
    - ``s``: the mean stored value of ``X``.

    Returns
    -------
    DataFrame
        ``user, item, c`` (float32 values as doubles; no zeros).
    """
    _check_sds(sds, "social_als_matrix")
    p = _social_als_params(params, "social_als_matrix")
    return _augmented(sds, p)[0]


def _own_matrix(sds: SparkDataset, p: dict[str, Any]) -> DataFrame:
    from ..kinds import CF_KIND_WEIGHTS

    kw = CF_KIND_WEIGHTS if p["kind_weights"] is None else p["kind_weights"]
    kw = {k: float(v) for k, v in kw.items() if v}
    inter = sds.interactions.where(F.col("kind").isin(*kw)) if kw else sds.interactions.limit(0)
    w = F.lit(0.0)
    for k, v in kw.items():
        w = F.when(F.col("kind") == k, F.lit(v)).otherwise(w)
    scheme = p["weighting"]
    if scheme == "binary":
        x = inter.where(w > 0).groupBy("user", "item").agg(F.max(w).alias("x"))
    else:
        x = inter.groupBy("user", "item").agg(F.sum(F.col("weight") * w).alias("x"))
    x = x.where(F.col("x") != 0).select("user", "item", F.col("x").cast("float").cast("double")
                                        .alias("x"))
    if scheme in ("raw", "binary"):
        return x
    if scheme == "log":
        return x.select("user", "item", F.log1p("x").cast("float").cast("double").alias("x"))
    n_items = sds.item_index().count()
    cnt = x.groupBy("user").agg(F.count(F.lit(1)).cast("double").alias("_cnt"))
    idf = math.log(float(n_items)) - F.log1p(F.col("_cnt"))
    x = x.join(cnt, "user")
    if scheme == "bm25":
        k1, b = float(p["bm25_k1"]), float(p["bm25_b"])
        isum = x.groupBy("item").agg(F.sum("x").alias("_isum"))
        avg = isum.agg((F.sum("_isum") / F.lit(float(n_items))).alias("_avg"))
        x = x.join(isum, "item").crossJoin(F.broadcast(avg))
        ln = (1.0 - b) + b * F.col("_isum") / F.when(F.col("_avg") > 0, F.col("_avg")).otherwise(1.0)
        val = F.col("x") * (k1 + 1.0) / (k1 * ln + F.col("x")) * idf
    else:  # tfidf
        val = F.sqrt(F.col("x")) * idf
    return x.select("user", "item", val.cast("float").cast("double").alias("x")).where(
        F.col("x") > 0)


def _augmented(sds: SparkDataset, p: dict[str, Any]) -> tuple[DataFrame, DataFrame]:
    """(C, own X) as DataFrames ``user, item, c`` and ``user, item, x``."""
    x = _own_matrix(sds, p).persist(StorageLevel.MEMORY_AND_DISK)
    sw = float(p["social_weight"])
    if not sw:
        return x.select("user", "item", F.col("x").alias("c")), x
    ew = p["endorsement_weights"]
    if ew is None:
        from ..kinds import ENDORSEMENT_STRENGTH as ew
    ew = {k: float(v) for k, v in ew.items() if v > 0}
    kwc = F.lit(0.0)
    for k, v in ew.items():
        kwc = F.when(F.col("kind") == k, F.lit(v)).otherwise(kwc)
    hidden = _hidden(sds, None)
    a = _strip(sds.social.select("user", "friend", F.col("weight").cast("float").cast("double")
                                 .alias("a")), hidden, "user", "friend")
    rs = a.groupBy("user").agg(F.sum("a").alias("_rs"))
    W = a.join(rs, "user").select(
        "user", "friend", (F.col("a") / F.col("_rs")).cast("float").cast("double").alias("w")
    ).persist(StorageLevel.MEMORY_AND_DISK)
    # the friends term: the same rule as haowurank.visibility, as joins (visible_endorsements)
    vis = visible_endorsements(sds).where(F.col("kind").isin(*ew))
    t1 = vis.join(W.select(F.col("user").alias("viewer"), F.col("friend").alias("endorser"), "w"),
                  ["viewer", "endorser"]).select(
        F.col("viewer").alias("user"), "item", (F.col("w") * kwc).alias("t"))
    if int(p["hops"]) == 2 and float(p["hop_decay"]) > 0:
        w2 = (
            W.select("user", F.col("friend").alias("mid"), F.col("w").alias("w1"))
            .join(W.select(F.col("user").alias("mid"), "friend", F.col("w").alias("w2")), "mid")
            .groupBy("user", "friend").agg(F.sum(F.col("w1") * F.col("w2")).alias("w"))
            .where(F.col("user") != F.col("friend"))
        )
        w2 = _strip(w2, hidden, "user", "friend")
        # public endorsements without audience list, strongest kind per (endorser, item)
        ef = (endorsement_table(sds).where((F.col("visibility") == "public") & ~F.col("limited"))
              .where(F.col("kind").isin(*ew))
              .groupBy(F.col("endorser").alias("friend"), "item").agg(F.max(kwc).alias("e")))
        t2 = w2.join(ef, "friend").select(
            "user", "item", (float(p["hop_decay"]) * F.col("w") * F.col("e")).alias("t"))
        t1 = t1.unionByName(t2)
    T = t1.groupBy("user", "item").agg(F.sum("t").cast("float").cast("double").alias("t"))
    s = x.agg(F.avg("x").alias("s")).collect()[0]["s"]
    scale = sw * (float(s) if s is not None else 1.0)
    c = (
        x.join(T, ["user", "item"], "full")
        .select("user", "item", (F.coalesce("x", F.lit(0.0)) + scale * F.coalesce("t", F.lit(0.0)))
                .cast("float").cast("double").alias("c"))
        .where(F.col("c") != 0)
    )
    return c, x


class SparkSocialALS(SparkModel):
    """Implicit-feedback ALS at scale: Spark ML's ``ALS(implicitPrefs=True)`` fitted on the
    ``social_als`` matrix (:func:`social_als_matrix`; ``social_weight=0`` is plain ``als``).

    Parameters
    ----------
    **params
        Hyperparameters of :class:`haowurank.rankers.SocialALSRanker` (its defaults): the matrix
        (``social_weight``, ``endorsement_weights``, ``hops``, ``hop_decay``, ``weighting``,
        ``kind_weights``, ``bm25_k1``, ``bm25_b``) is built exactly; the model maps ``factors`` to
        ``rank``, ``iterations`` to ``maxIter``, ``alpha`` to ``alpha``, ``regularization`` to
        ``regParam``, ``random_state`` to ``seed``; ``social_reg`` smooths user factors after the
        fit as the ranker does; ``num_threads`` is ignored (Spark's parallelism decides).

    Notes
    -----
    Spark's and implicit's ALS are the same model (Hu, Koren & Volinsky 2008) with different
    conventions: Spark's confidence is ``1 + alpha * c`` (implicit: ``alpha * c``, with ``c``
    the entry itself as the preference weight), Spark scales the L2 penalty of each factor by
    its number of ratings (ALS-WR), and initialisation and solver differ (Spark: Cholesky or
    NNLS on normal equations per block; implicit: conjugate gradient). Factors are not equal;
    ranking quality is compared in the tests and the benchmark (Recall@20 on a holdout).

    References
    ----------
    .. [1] Y. Hu, Y. Koren, C. Volinsky. Collaborative Filtering for Implicit Feedback Datasets.
       ICDM 2008.
    .. [2] Y. Zhou, D. Wilkinson, R. Schreiber, R. Pan. Large-Scale Parallel Collaborative
       Filtering for the Netflix Prize. AAIM 2008 (ALS-WR, Spark's regularisation).
    """

    name = "social_als"

    def __init__(self, **params: Any):
        self.params = dict(params)

    def _fit(self, sds: SparkDataset) -> None:
        from pyspark.ml.recommendation import ALS

        p = _social_als_params(self.params, "SparkSocialALS")
        self.effective_params_ = p
        c, x = _augmented(sds, p)
        ui, ii = sds.user_index(), sds.item_index()
        ratings = self._keep(
            c.join(ui, "user").join(ii, "item").select("uidx", "iidx", F.col("c").cast("float"))
        )
        seed = p["random_state"]
        als = ALS(
            rank=int(p["factors"]), maxIter=int(p["iterations"]),
            regParam=float(p["regularization"]), alpha=float(p["alpha"]), implicitPrefs=True,
            userCol="uidx", itemCol="iidx", ratingCol="c", nonnegative=False,
            coldStartStrategy="nan", seed=0 if seed is None else int(seed),
            intermediateStorageLevel="MEMORY_AND_DISK", finalStorageLevel="MEMORY_AND_DISK",
        )
        self.model_ = als.fit(ratings)
        uf = self.model_.userFactors.select(F.col("id").alias("uidx"), F.col("features").alias("uf"))
        itf = self.model_.itemFactors.select(F.col("id").alias("iidx"),
                                             F.col("features").alias("itf"))
        uf = uf.join(ui, "uidx").select("user", "uf")
        if float(p["social_reg"]):
            uf = self._smooth(sds, uf, float(p["social_reg"]))
        self.user_factors_ = self._keep(uf)
        self.item_factors_ = self._keep(itf.join(ii, "iidx").select("item", "itf"))
        self.n_factors_ = int(p["factors"])
        x.unpersist()

    def _smooth(self, sds: SparkDataset, uf: DataFrame, r: float) -> DataFrame:
        """``U[u] <- (1 - r) U[u] + r sum_f W[u, f] U[f]`` for users with an unblocked friend."""
        a = _strip(sds.social.select("user", "friend", F.col("weight").cast("float")
                                     .cast("double").alias("a")), _hidden(sds, None),
                   "user", "friend")
        rs = a.groupBy("user").agg(F.sum("a").alias("_rs"))
        W = a.join(rs, "user").select("user", "friend", (F.col("a") / F.col("_rs")).alias("w"))
        fu = uf.select(F.col("user").alias("friend"), F.col("uf").alias("ff"))
        k = self.effective_params_["factors"]
        mean = (
            W.join(fu, "friend")
            .select("user", F.posexplode("ff").alias("pos", "v"), "w")
            .groupBy("user", "pos").agg(F.sum(F.col("w") * F.col("v")).alias("v"))
            .groupBy("user").agg(F.array_sort(F.collect_list(F.struct("pos", "v"))).alias("_m"))
            .select("user", F.transform("_m", lambda s: s["v"]).alias("mf"))
        )
        has = uf.join(mean, "user", "left")
        blended = F.zip_with("uf", "mf", lambda a, b: (1.0 - r) * a + r * b)
        return has.select("user", F.when(F.col("mf").isNull() | (F.size("mf") != k), F.col("uf"))
                          .otherwise(blended).alias("uf"))

    @staticmethod
    def _dot(a: str, b: str) -> Any:
        return F.aggregate(F.zip_with(a, b, lambda x, y: x * y), F.lit(0.0).cast("float"),
                           lambda acc, v: acc + v)

    def score_pairs(self, pairs: DataFrame) -> DataFrame:
        """``user, item, score``: user factors . item factors; users with no factors (an empty
        row of the matrix) get item popularity, items with none NaN."""
        self._check_fitted()
        fb = self.popularity_.select("item", F.col("score").alias("_fb"))
        j = (
            pairs.select("user", "item")
            .join(self.user_factors_, "user", "left")
            .join(self.item_factors_, "item", "left")
            .join(F.broadcast(fb), "item", "left")
        )
        score = (
            F.when(F.col("uf").isNull(), F.coalesce("_fb", F.lit(0.0)))
            .when(F.col("itf").isNull(), F.lit(float("nan")))
            .otherwise(self._dot("uf", "itf").cast("double"))
        )
        return j.select("user", "item", score.alias("score"))

    #: share of users whose first ``recommendForAllUsers`` call asks for ``n`` plus their seen
    #: count (a high quantile of seen counts sets the count asked of every user)
    seen_quantile: ClassVar[float] = 0.99

    def recommend(
        self, n: int = 20, *, users: DataFrame | None = None, exclude_seen: bool = True
    ) -> DataFrame:
        """Top-``n`` per user from all items (score desc, then item id; seen items excluded);
        users without factors get the popularity fallback.

        Spark ML's ``recommendForAllUsers`` (``recommendForUserSubset`` with ``users``) is asked
        for ``n + q`` items per user, ``q`` the 99th percentile of seen counts, not ``n`` plus the
        largest seen count (one heavy user made every list that long). A user's list is exact
        when Spark returned fewer than asked or at least ``n`` unseen candidates score above the
        last one returned (so no item left out can enter the top ``n``, ties included); the few
        other users (more seen items than ``q``, or a tie at the cut) are asked again with
        ``max(2k, n + their largest seen count)`` items, until exact or every item is asked for.
        The persisted candidate frames are released by :meth:`unpersist`.
        """
        self._check_fitted()
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
            raise ValueError(f"The 'n' parameter of recommend must be a positive int. Got {n!r}.")
        n = int(n)
        sds = self.sds_
        ui, ii = sds.user_index(), sds.item_index()
        who = users.select("user").distinct() if users is not None else ui.select("user")
        subset = who.join(ui, "user").select("uidx") if users is not None else None

        def ask(k: int, sub: DataFrame | None) -> DataFrame:
            raw = (self.model_.recommendForAllUsers(k) if sub is None
                   else self.model_.recommendForUserSubset(sub, k))
            recs = raw.select(F.col("uidx"), F.explode("recommendations").alias("r")).select(
                "uidx", F.col("r.iidx").alias("iidx"), F.col("r.rating").cast("double")
                .alias("score"))
            return recs.join(ui, "uidx").join(ii, "iidx").select("uidx", "user", "item", "score")

        if not exclude_seen:
            return top_n(ask(n, subset).drop("uidx"), n, fallback=self.popularity_, users=who)
        seen = sds.interactions.select("user", "item").distinct()
        counts = seen.groupBy("user").agg(F.count(F.lit(1)).alias("_seen"))
        if subset is not None:
            counts = counts.join(who, "user", "left_semi")
        row = counts.agg(F.percentile_approx("_seen", self.seen_quantile, 10_000).alias("q"))\
            .collect()[0]
        n_items = self.item_factors_.count()
        k = min(n + int(row["q"] or 0), max(n_items, 1))
        parts: list[DataFrame] = []
        pending = subset
        while True:
            cand = self._keep(ask(k, pending))
            if k >= n_items:  # every item of every pending user: exact
                parts.append(cand)
                break
            stats = cand.groupBy("user").agg(F.count(F.lit(1)).alias("_cnt"),
                                             F.min("score").alias("_min"))
            above = (
                cand.join(seen, ["user", "item"], "left_anti").join(stats, "user")
                .where(F.col("score") > F.col("_min")).groupBy("user")
                .agg(F.count(F.lit(1)).alias("_above"))
            )
            flag = stats.join(above, "user", "left").select(
                "user", ((F.col("_cnt") < k) | (F.coalesce("_above", F.lit(0)) >= n)).alias("_ok"))
            parts.append(cand.join(flag.where("_ok"), "user", "left_semi"))
            again = (
                flag.where(~F.col("_ok")).join(counts, "user", "left")
                .join(ui, "user").select("uidx", F.coalesce("_seen", F.lit(0)).alias("_seen"))
            )
            left = again.agg(F.count(F.lit(1)).alias("c"), F.max("_seen").alias("m")).collect()[0]
            if not left["c"]:
                break
            log.info("SparkSocialALS.recommend: %d users asked again (k=%d was short)",
                     left["c"], k)
            pending = self._keep(again.select("uidx"))
            k = min(max(2 * k, n + int(left["m"] or 0)), n_items)
        recs = parts[0]
        for extra in parts[1:]:
            recs = recs.unionByName(extra)
        return top_n(recs.drop("uidx"), n, exclude=sds.interactions, fallback=self.popularity_,
                     users=who)


class SparkHybrid(SparkModel):
    """The hybrid blend applied in Spark: a linear blend of per-user normalised CF and trust
    scores (:func:`haowurank.spark.linear_blend`)::

        score(u, i) = (1 - trust_weight) * cf(u, i) / cf_top(u)
                      + trust_weight * trust(u, i) / trust_top(u)

    with ``cf`` from :class:`SparkSocialALS`, ``trust`` from :class:`SparkTrust` (0 where no
    trusted account endorsed the item), ``cf_top(u) = ||u|| * max_i ||v_i||`` (an upper bound of
    the user's CF scores, so the CF term lies in [-1, 1]; computing the exact top-1 would cost
    a users x items product) and ``trust_top(u)`` the user's largest trust score (<= 0 or
    missing: 1). Candidates of :meth:`recommend` are the union of each
    user's ``n_candidates`` best CF items and their trust candidates.

    Parameters
    ----------
    trust_weight : float in [0, 1]
        Share of the trust term (0: CF only; 1: trust only).
    n_candidates : int
        CF candidates per user.
    als : dict, optional
        Hyperparameters of :class:`SparkSocialALS` (``SocialALSRanker``'s).
    trust : dict, optional
        Hyperparameters of :class:`SparkTrust` (``TrustRanker``'s).

    Notes
    -----
    The single-machine ``hybrid`` ranker (``haowurank.rankers._hybrid``) is a pairwise logistic
    regression over 22 features (ALS, item-kNN, EASE on the popular head, user-kNN, trust,
    friend counts, popularity, category, merchant and time features), each with a learned
    spline shape, fitted on a validation split inside ``fit``. Its ALS features come from
    implicit's factors and its weights are learned on their scale, and item-kNN, EASE and user-kNN have no Spark counterpart here, so that model
    is not mirrored: the Spark path offers this documented linear blend instead, whose
    single-machine reference is :func:`haowurank.spark.linear_blend` (the parity test checks the
    Spark result against it on the same component scores).
    """

    name = "hybrid"

    def __init__(self, trust_weight: float = 0.5, n_candidates: int = 100,
                 als: dict | None = None, trust: dict | None = None):
        self.trust_weight = trust_weight
        self.n_candidates = n_candidates
        self.als = als
        self.trust = trust

    def fit(self, sds: SparkDataset, *, components: tuple | None = None) -> SparkHybrid:
        """Fit the CF and trust components (or reuse fitted ones) and the per-user scales.

        Parameters
        ----------
        sds : SparkDataset
        components : (SparkSocialALS, SparkTrust), optional
            Components already fitted on ``sds`` (e.g. to try several ``trust_weight`` values
            without refitting ALS); their persisted frames stay theirs.
        """
        if components is not None:
            cf, tr = components
            if not (isinstance(cf, SparkSocialALS) and isinstance(tr, SparkTrust)):
                raise TypeError(
                    "The 'components' parameter of SparkHybrid.fit must be a pair "
                    f"(SparkSocialALS, SparkTrust). Got {type(cf).__name__}, "
                    f"{type(tr).__name__}."
                )
            if cf.sds_ is not sds or tr.sds_ is not sds:
                raise ValueError("The 'components' were fitted on another SparkDataset.")
        self._components = components
        return super().fit(sds)

    def _fit(self, sds: SparkDataset) -> None:
        w = self.trust_weight
        if isinstance(w, bool) or not isinstance(w, numbers.Real) or not 0 <= w <= 1:
            raise ValueError(
                f"The 'trust_weight' parameter of SparkHybrid must be a number in [0, 1]. "
                f"Got {w!r} instead."
            )
        nc = self.n_candidates
        if isinstance(nc, bool) or not isinstance(nc, numbers.Integral) or nc < 1:
            raise ValueError(
                f"The 'n_candidates' parameter of SparkHybrid must be a positive int. "
                f"Got {nc!r} instead."
            )
        if self._components is not None:
            self.cf_model_, self.trust_model_ = self._components
        else:
            self.cf_model_ = SparkSocialALS(**(self.als or {})).fit(sds)
            self.trust_model_ = SparkTrust(**(self.trust or {})).fit(sds)
            self._held.extend(self.cf_model_._held + self.trust_model_._held)
        # cf_top(u) = ||u|| * max_i ||v_i||: an upper bound of every CF score of u (Cauchy-Schwarz),
        # O(users x factors) where the exact top-1 would need every (user, item) product
        def norm(col: str) -> Any:
            sq = F.aggregate(F.transform(col, lambda x: x * x), F.lit(0.0).cast("float"),
                             lambda a, x: a + x)
            return F.sqrt(sq.cast("double"))

        vmax = self.cf_model_.item_factors_.agg(F.max(norm("itf")).alias("vmax")).collect()[0][
            "vmax"] or 0.0
        self.cf_top_ = self._keep(self.cf_model_.user_factors_.select(
            "user", (norm("uf") * float(vmax)).alias("cf_top")))
        self.trust_top_ = self._keep(self.trust_model_.scores_.groupBy("user").agg(
            F.max("score").alias("trust_top")))

    def score_pairs(self, pairs: DataFrame) -> DataFrame:
        """``user, item, score``: the blend of the pair's CF and trust scores; users the CF
        model has no factors for get the CF model's popularity fallback as their CF term."""
        self._check_fitted()
        cf = self.cf_model_.score_pairs(pairs).withColumnRenamed("score", "cf")
        tr = self.trust_model_.scores_.withColumnRenamed("score", "tr")
        w = float(self.trust_weight)
        j = (
            cf.join(tr, ["user", "item"], "left")
            .join(self.cf_top_, "user", "left").join(self.trust_top_, "user", "left")
        )
        cf_s = F.when(F.col("cf_top") > 0, F.col("cf_top")).otherwise(F.lit(1.0))
        tr_s = F.when(F.col("trust_top") > 0, F.col("trust_top")).otherwise(F.lit(1.0))
        score = (1.0 - w) * F.col("cf") / cf_s + w * F.coalesce("tr", F.lit(0.0)) / tr_s
        return j.select("user", "item", score.alias("score"), "cf", F.col("tr").alias("trust"),
                        "cf_top", "trust_top")

    def recommend(
        self, n: int = 20, *, users: DataFrame | None = None, exclude_seen: bool = True
    ) -> DataFrame:
        """Top-``n`` per user over the candidates (CF top ``n_candidates`` plus trust
        candidates), seen items excluded, blended scores."""
        self._check_fitted()
        cf_c = self.cf_model_.recommend(int(self.n_candidates), users=users,
                                        exclude_seen=exclude_seen).select("user", "item")
        tr_c = self.trust_model_.scores_.select("user", "item")
        if users is not None:
            tr_c = tr_c.join(users.select("user").distinct(), "user", "left_semi")
        pairs = cf_c.unionByName(tr_c).distinct()
        scored = self.score_pairs(pairs).select("user", "item", "score")
        who = users.select("user").distinct() if users is not None else self.sds_.user_index(
        ).select("user")
        return top_n(scored, n, exclude=self.sds_.interactions if exclude_seen else None,
                     users=who)

    def feeds(self, n: int = 20, *, users: DataFrame | None = None, **config: Any) -> DataFrame:
        self._check_fitted()
        return build_feeds(self.sds_, lambda p: self.score_pairs(p).select("user", "item", "score"),
                           n=n, users=users, **config)

