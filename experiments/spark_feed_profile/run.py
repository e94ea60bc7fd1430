"""Where the time of a Spark trust feed for a sample of viewers goes (local mode).

Builds ``hr.datasets.synthetic(users, n_items=users // 2, seed=0)``, fits
``SparkTrust(users=sample)`` for ``--sample`` random viewers (seed 0) and times, one after the
other, each stage of ``SparkTrust.feeds`` with its input persisted, so each time is that stage
alone:

1. ``fit``: the trust rows of the sample (``trust_`` counted);
2. ``candidates``: ``feed_candidates`` for the sample (visibility rule, exclusions);
3. ``score_pairs``: the trust scores of those candidate pairs;
4. ``feeds``: the whole ``feeds(n)`` written to Parquet (recomputes 2 and 3, plus ranking and
   the MMR re-ranker).

``all_scores`` (off by default) then computes every candidate score of the sample
(``scores_``, persisted) and times ``feeds`` again, which then joins those scores instead of
scoring its pairs.

``score_pairs_by_item`` (off by default) times an alternative order of the pair scoring: each
pair joined with its item's public endorsers, then with the user's wider-circle trust rows,
plus the pair's direct contributions (visible endorsements of direct follows). It is exact but
was measured slower at 100k users, before the privacy rule (popular items have many
endorsers), so the library keeps ``trust rows x endorsements``, then the pairs; see
``results/spark_feed_profile.md``.

Run from the repository root::

    python experiments/spark_feed_profile/run.py --users 100000 --sample 5000
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import haowurank as hr  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--sample", type=int, default=5_000)
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--driver-memory", default="4g")
    ap.add_argument("--partitions", type=int, default=16)
    ap.add_argument("--stages", nargs="+", default=["candidates", "score_pairs", "feeds"],
                    choices=["candidates", "score_pairs", "score_pairs_by_item", "feeds",
                             "all_scores"],
                    help="stages after the fit (score_pairs_by_item: see the docstring)")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    from haowurank.spark import SparkDataset, SparkTrust, feed_candidates, spark_session

    t = time.perf_counter()
    ds = hr.datasets.synthetic(args.users, n_items=args.users // 2, seed=0)
    print(f"world: {ds} in {time.perf_counter() - t:.1f} s", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="profile_spark_"))
    spark = spark_session("local[2]", shuffle_partitions=args.partitions,
                          driver_memory=args.driver_memory, app_name="profile_spark_feeds",
                          conf={"spark.local.dir": str(tmp / "spark-tmp")})
    SparkDataset.from_dataset(spark, ds).to_parquet(tmp / "world")
    sds = SparkDataset.from_parquet(spark, tmp / "world")
    sds.interactions.count()
    pick = np.sort(np.random.default_rng(0).choice(ds.n_users, args.sample, replace=False))
    users = spark.createDataFrame(pd.DataFrame({"user": ds.user_ids[pick]})).persist()
    users.count()
    times: dict[str, float] = {}

    def timed(name, fn):
        t0 = time.perf_counter()
        out = fn()
        times[name] = time.perf_counter() - t0
        print(json.dumps({"stage": name, "seconds": round(times[name], 2), "rows": out}),
              flush=True)

    m = SparkTrust(users=users)
    timed("fit", lambda: int(m.fit(sds).trust_.count()))
    cand = feed_candidates(sds, users=m.model_.users_).persist()
    timed("candidates", lambda: int(cand.count()))
    pairs = cand.select("user", "item")
    if "score_pairs" in args.stages:
        timed("score_pairs", lambda: int(m.score_pairs(pairs).count()))
    if "score_pairs_by_item" in args.stages:
        from pyspark.sql import functions as F
        tm = m.model_

        def alt():
            e = tm.endorsements_.withColumnRenamed("user", "endorser")
            p = pairs.distinct()
            wide = (p.join(e, "item").join(tm.wider_, ["user", "endorser"])
                    .select("user", "item", (F.col("trust") * F.col("e")).alias("v")))
            direct = tm.direct_.join(p, ["user", "item"], "left_semi").select(
                "user", "item", F.col("contribution").alias("v"))
            c = wide.unionByName(direct).groupBy("user", "item").agg(F.sum("v").alias("score"))
            return int(c.count())
        timed("score_pairs_by_item", alt)
    if "feeds" in args.stages:
        timed("feeds", lambda: int(
            spark.read.parquet(m.write_feeds(str(tmp / "feeds"), args.n)).count()))
    if "all_scores" in args.stages:
        # every candidate score of the sample, persisted; a feed then joins them
        timed("all_scores", lambda: int(m.scores_.count()))
        timed("feeds_from_all_scores", lambda: int(
            spark.read.parquet(m.write_feeds(str(tmp / "feeds2"), args.n)).count()))
    print(json.dumps({"users": args.users, "sample": args.sample, "seconds": times}))
    spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
