"""The Spark path (``haowurank.spark``) against the single-machine path, in local mode.

One SparkSession (``local[2]``, 4 shuffle partitions, no UI) serves every test. The parity world
is a small synthetic world with one-way follows, all three visibilities, blocks and audience
lists, so every branch of the visibility rule is exercised.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import haowurank as hr

pytest.importorskip("pyspark")
if shutil.which("java") is None:  # pragma: no cover - environment dependent
    pytest.skip("Spark needs a Java runtime (java not on PATH)", allow_module_level=True)

from haowurank.spark import (  # noqa: E402
    SparkDataset,
    SparkFriendEndorsements,
    SparkHybrid,
    SparkSocialALS,
    SparkTrust,
    build_feeds,
    feed_candidates,
    friend_endorsement_scores,
    linear_blend,
    popularity,
    social_als_matrix,
    spark_session,
    top_n,
    visible_endorsements,
    write_feeds,
)

pytestmark = pytest.mark.filterwarnings(
    "ignore:PySpark does not yet fully support pandas:FutureWarning",
    "ignore::haowurank.DataWarning",
    "ignore:The copy keyword is deprecated",
)

#: Trust hyperparameters that exercise decay, pruning (a tiny endorser cap), three hops and
#: endorser normalisation on top of the ranker's defaults.
TRUST = {"half_life_days": 30.0, "max_endorsers": 5, "max_hops": 3, "endorser_norm": 0.5}


# --------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def spark():
    # a short-lived test JVM: the C1 compiler only warms up faster (about 20% here)
    jvm = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
    # 2g: with 1g, the lazily planned trust scores made test_hybrid_blend_equals_numpy_reference
    # run out of Java heap in one full-suite run (it passes alone); the trust state is now
    # checkpointed, so later plans stay short (test_trust_state_is_checkpointed_...)
    s = spark_session("local[2]", shuffle_partitions=4, driver_memory="2g", app_name="hr-tests",
                      conf={"spark.driver.extraJavaOptions": jvm})
    yield s


def _world() -> hr.Dataset:
    ds = hr.datasets.synthetic(n_users=150, n_items=80, seed=3, blocks_rate=0.05)
    inter = ds.interactions
    rng = np.random.default_rng(7)
    endorse = inter[inter["kind"].astype(str).isin(hr.ENDORSEMENT_KINDS)]
    pick = endorse.drop_duplicates(["user", "item"]).sample(20, random_state=1)
    soc = ds.social
    rows = []
    for u, i in zip(pick["user"], pick["item"]):
        followers = soc.loc[soc["friend"] == u, "user"].tolist()
        if followers:
            rows.append((u, i, followers[0]))
        rows.append((u, i, ds.user_ids[rng.integers(ds.n_users)]))
    aud = pd.DataFrame(rows, columns=["user", "item", "viewer"]).drop_duplicates()
    aud = aud[aud["user"] != aud["viewer"]]
    return hr.Dataset.from_frames(
        inter, soc, items=ds.items, blocks=ds.blocks, audiences=aud, meta=ds.meta
    )


@pytest.fixture(scope="module")
def world() -> hr.Dataset:
    return _world()


@pytest.fixture(scope="module")
def sds(spark, world):
    return SparkDataset.from_dataset(spark, world)


@pytest.fixture(scope="module")
def trust_pair(world, sds):
    """The single-machine trust ranker and its Spark counterpart, same hyperparameters."""
    r = hr.rankers.make("trust", **TRUST).fit(world)
    m = SparkTrust(**TRUST).fit(sds)
    return r, m


@pytest.fixture(scope="module")
def trust_feed(sds):
    """Feeds of a fresh Spark trust model (default diversity and caps: the MMR path), computed
    once for every user (so from the model's persisted ``scores_``)."""
    m = SparkTrust(**TRUST).fit(sds)
    frame = m.feeds(10).persist()
    yield frame, frame.toPandas(), m
    frame.unpersist()
    m.unpersist()


@pytest.fixture(scope="module")
def als_model(sds):
    return SparkSocialALS(factors=4, iterations=3).fit(sds)


def _sparse_scores(ranker, ds) -> pd.DataFrame:
    """The candidates of a social ranker with their float32 scores, caller ids."""
    c = ranker._candidates(np.arange(ds.n_users))
    vals = ranker._candidate_values(c)
    rows = np.repeat(np.arange(ds.n_users), np.diff(c.indptr))
    return pd.DataFrame(
        {"user": ds.user_ids[rows], "item": ds.item_ids[c.indices], "ref": vals.astype(np.float64)}
    )


def _lists(frame: pd.DataFrame) -> dict:
    f = frame.sort_values(["user", "rank"])
    return f.groupby("user", sort=False)["item"].apply(list).to_dict()


# --------------------------------------------------------------------------------------------
# packaging
# --------------------------------------------------------------------------------------------

def test_importing_haowurank_does_not_import_pyspark():
    code = (
        "import sys, haowurank, haowurank.rankers, haowurank.spark; "
        "haowurank.rankers.available(); "
        "assert 'pyspark' not in sys.modules, 'pyspark imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_session_settings(spark):
    assert spark.conf.get("spark.sql.shuffle.partitions") == "4"
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
    assert spark.sparkContext.master == "local[2]"
    with pytest.raises(ValueError, match="'shuffle_partitions'"):
        spark_session(shuffle_partitions=0)


# --------------------------------------------------------------------------------------------
# SparkDataset: same columns and rules as hr.Dataset, bad rows reported
# --------------------------------------------------------------------------------------------

def test_from_dataset_round_trip(sds, world):
    back = sds.to_dataset()
    assert back.equals(world)
    ui = sds.user_index().toPandas().sort_values("uidx")
    assert ui["user"].tolist() == list(world.user_ids)
    assert ui["uidx"].tolist() == list(range(world.n_users))


def _bad_frames(spark):
    inter = pd.DataFrame(
        {
            "user": [1.0, 2.0, np.nan, 4.0, 4.0, 5.0, 6.0, 7.0, 1.0, 1.0],
            "item": [10, 11, 12, 13, 13, 14, -1, 16, 10, 17],
            "weight": [1.0, -1.0, 1.0, np.nan, 2.0, np.inf, 1.0, 1.0, 2.0, 1.0],
            "kind": ["purchase", "purchase", "view", "view", "view", "bogus", "view", "recommend",
                     "purchase", "recommend"],
            "visibility": ["friends", "friends", "public", "public", "public", "public", "public",
                           "secret", "friends", "public"],
            "timestamp": [5, 6, 7, 8, 9, 10, 11, 12, 13, 14],
        }
    )
    social = pd.DataFrame({"user": [1, 1, 2, 3, 3], "friend": [1, 2, 1, 4, 4],
                           "weight": [1.0, 1.0, 0.0, 1.0, 2.0]})
    blocks = pd.DataFrame({"user": [1, 2], "blocked": [1, 4]})
    aud = pd.DataFrame({"user": [1, 1], "item": [17, 10], "viewer": [2, 3]})
    return inter, social, blocks, aud, {
        "interactions": spark.createDataFrame(inter),
        "social": spark.createDataFrame(social),
        "blocks": spark.createDataFrame(blocks),
        "audiences": spark.createDataFrame(aud),
    }


def test_bad_rows_reported_per_rule_and_kept_aside(spark):
    inter, social, blocks, aud, sdf = _bad_frames(spark)
    with pytest.warns(hr.DataWarning, match="dropped"):
        s = SparkDataset.from_frames(
            spark, sdf["interactions"], sdf["social"], blocks=sdf["blocks"],
            audiences=sdf["audiences"],
        )
    rep = s.report.set_index(["table", "column", "rule"])["rows"].to_dict()
    assert rep[("interactions", "user", "missing")] == 1
    assert rep[("interactions", "weight", "non_positive_or_non_finite")] == 3  # -1, NaN, inf
    assert rep[("interactions", "kind", "unknown_value")] == 1
    assert rep[("interactions", "visibility", "unknown_value")] == 1
    assert rep[("interactions", "item", "reserved_id")] == 1
    assert rep[("interactions", "*", "duplicate")] == 1  # (1, 10, purchase) twice: merged
    assert rep[("social", "friend", "self_follow")] == 1
    assert rep[("social", "weight", "non_positive_or_non_finite")] == 1
    assert rep[("social", "*", "duplicate")] == 1
    assert rep[("blocks", "blocked", "self_block")] == 1
    assert rep[("audiences", "item", "no_endorsement")] == 1  # (1, 10) is a purchase only
    summary = s.summary()
    assert summary["interactions.weight:non_positive_or_non_finite"] == 3
    rejected = s.rejected("interactions").toPandas()
    assert len(rejected) == 6  # rows 1, 2, 3, 5, 6, 7 each broke at least one rule
    assert any("weight:non_positive_or_non_finite" in list(r) for r in rejected["rules"])
    # what is left is exactly what hr.Dataset accepts from the good rows
    good = inter.iloc[[0, 4, 8, 9]]
    ref = hr.Dataset.from_frames(
        good.assign(user=good["user"].astype(np.int64)), social.iloc[[1, 3, 4]],
        blocks=blocks.iloc[[1]], audiences=aud.iloc[[0]],
    )
    assert s.to_dataset().equals(ref)
    merged = s.interactions.where("user = 1 AND item = 10").toPandas()
    assert merged["weight"].tolist() == [3.0]  # duplicates='sum', as hr.Dataset


def test_strict_raises_naming_column_and_count(spark):
    _, _, _, _, sdf = _bad_frames(spark)
    only_weights = sdf["interactions"].where(
        "user IS NOT NULL AND kind != 'bogus' AND visibility != 'secret' AND item != -1")
    with pytest.raises(ValueError, match=r"The column 'weight' of interactions must be finite "
                                         r"and > 0. Found 2 bad row"):
        SparkDataset.from_frames(spark, only_weights, strict=True)


def test_schema_errors_raise_at_once(spark):
    df = spark.createDataFrame(pd.DataFrame({"user": [1], "item": [2]}))
    with pytest.raises(ValueError, match=r"missing \['item'\]"):
        SparkDataset.from_frames(spark, df.drop("item"))
    with pytest.raises(TypeError, match="'weight' of interactions must be numeric"):
        SparkDataset.from_frames(spark, df.selectExpr("user", "item", "'x' AS weight"))
    with pytest.raises(TypeError, match="int or str ids. Got booleans"):
        SparkDataset.from_frames(spark, df.selectExpr("user = 1 AS user", "item"))
    soc = spark.createDataFrame(pd.DataFrame({"user": ["a"], "friend": ["b"]}))
    with pytest.raises(TypeError, match="one type"):
        SparkDataset.from_frames(spark, df, soc)
    with pytest.raises(TypeError, match="pyspark.sql.DataFrame"):
        SparkDataset.from_frames(spark, pd.DataFrame({"user": [1], "item": [2]}))


def test_datetimes_and_optional_columns_as_hr_dataset(spark, tmp_path):
    # one format for all strings: pandas >= 2 infers the format from the first element
    pdf = pd.DataFrame({
        "user": ["a", "b", "a"], "item": ["x", "y", "y"],
        "timestamp": pd.to_datetime(["2024-01-01 10:00:00", "2024-01-02 00:00:00",
                                     "2024-01-03 00:00:01"]),
        "kind": ["purchase", "recommend", "purchase"],
        "order_id": ["o1", None, "o2"], "amount": [3.5, np.nan, 0.0],
    })
    social = pd.DataFrame({"user": ["a"], "friend": ["b"], "weight": [0.5]})
    s = SparkDataset.from_frames(spark, spark.createDataFrame(pdf), spark.createDataFrame(social))
    assert len(s.report) == 0 and s.has_timestamps
    assert s.interactions.where("user = 'a' AND item = 'x'").first()["timestamp"] == 1704103200
    assert s.to_dataset().equals(hr.Dataset.from_frames(pdf, social))

    # optional columns given but all missing stay in the Dataset (as hr.Dataset keeps them),
    # also after a Parquet round trip; columns not given stay out
    empty = pdf.assign(order_id=pd.Series([None] * 3, dtype=object), amount=np.nan)
    sdf = spark.createDataFrame(empty, "user string, item string, timestamp timestamp, "
                                      "kind string, order_id string, amount double")
    want = hr.Dataset.from_frames(empty, social)
    assert {"order_id", "amount"} <= set(want.interactions.columns)
    s = SparkDataset.from_frames(spark, sdf, spark.createDataFrame(social))
    assert s.optional_columns == ("order_id", "amount")
    assert s.to_dataset().equals(want)
    s.to_parquet(tmp_path / "sp")
    assert SparkDataset.from_parquet(spark, tmp_path / "sp").to_dataset().equals(want)
    bare = hr.Dataset.from_frames(pdf.drop(columns=["order_id", "amount"]), social)
    back = SparkDataset.from_dataset(spark, bare)
    assert back.optional_columns == () and back.to_dataset().equals(bare)


def test_parquet_layouts(spark, world, tmp_path):
    world.to_parquet(tmp_path / "hr")
    a = SparkDataset.from_parquet(spark, tmp_path / "hr")
    assert a.to_dataset().equals(world)
    a.to_parquet(tmp_path / "spark")
    b = SparkDataset.from_parquet(spark, tmp_path / "spark")
    assert len(b.report) == 0
    assert b.to_dataset().equals(world)
    with pytest.raises(FileNotFoundError):
        SparkDataset.from_parquet(spark, tmp_path / "nothing")


# --------------------------------------------------------------------------------------------
# scoring parity
# --------------------------------------------------------------------------------------------

def test_visible_endorsements_equal_the_privacy_rule(sds, world):
    """Spark's joins are the same rule as haowurank.visibility (parity on a small world)."""
    got = visible_endorsements(sds).toPandas()
    ref = hr.visibility.visible_endorsements(world)
    key = ["viewer", "endorser", "item"]
    m = ref.merge(got, on=key, how="outer", suffixes=("_ref", ""), indicator=True)
    assert (m["_merge"] == "both").all(), m[m["_merge"] != "both"].head()
    assert (m["kind_ref"] == m["kind"]).all()
    assert (m["timestamp_ref"] == m["timestamp"]).all()
    # the world exercises every branch: one-way follows, audiences, blocks, private rows
    assert world.n_social > 0 and len(world.audiences) and len(world.blocks)


def test_viewer_subset_equals_the_whole_restricted(spark, sds, world):
    """visible_endorsements / feed_candidates for some viewers (their follows, blocks and own
    rows are read before the joins) equal the whole tables restricted to those viewers."""
    # viewers with a block, one who is on an audience list, and one who follows nobody
    blockers = list(world.blocks["user"].unique()[:3])
    listed = list(world.audiences["viewer"].unique()[:3])
    lonely = [u for u in world.user_ids if u not in set(world.social["user"])][:1]
    some = sorted(set(blockers + listed + lonely))
    users = spark.createDataFrame(pd.DataFrame({"user": some}))
    key = ["viewer", "endorser", "item"]
    full = visible_endorsements(sds).toPandas()
    full = full[full["viewer"].isin(some)].sort_values(key).reset_index(drop=True)
    got = visible_endorsements(sds, viewers=users).toPandas().sort_values(key)
    assert len(got) > 0
    pd.testing.assert_frame_equal(got.reset_index(drop=True), full)
    k2 = ["user", "item"]
    fc = feed_candidates(sds).toPandas()
    fc = fc[fc["user"].isin(some)].sort_values(k2).reset_index(drop=True)
    gc = feed_candidates(sds, users=users).toPandas().sort_values(k2).reset_index(drop=True)
    assert len(gc) > 0
    for col in ["endorsers", "kinds"]:
        fc[col] = fc[col].map(list)
        gc[col] = gc[col].map(list)
    pd.testing.assert_frame_equal(gc, fc)


def test_friend_endorsement_scores_equal_single_machine(sds, world):
    follow = friend_endorsement_scores(sds, rule="follow").toPandas()
    vis = friend_endorsement_scores(sds).toPandas()
    # the single-machine ranker counts what the viewer may see: the "visibility" rule
    ref = _sparse_scores(hr.rankers.make("friend_endorsements").fit(world), world)
    m = ref.merge(vis, on=["user", "item"], how="outer")
    assert m["score"].notna().all() and m["ref"].notna().all()
    np.testing.assert_array_equal(m["score"], m["ref"])
    counts = hr.feed.visible_endorsements(world).groupby(["viewer", "item"]).size()
    counts = counts.rename("ref").reset_index().rename(columns={"viewer": "user"})
    m = counts.merge(vis, on=["user", "item"], how="outer")
    assert m["score"].notna().all() and m["ref"].notna().all()
    np.testing.assert_array_equal(m["score"], m["ref"])
    # the visibility rule is stricter than following: it never counts more
    both = follow.merge(vis, on=["user", "item"], suffixes=("_f", "_v"))
    assert (both["score_v"] <= both["score_f"]).all() and len(vis) < len(follow)


def test_trust_scores_equal_trust_ranker(trust_pair, world):
    r, m = trust_pair
    got = m.scores_.toPandas()
    ref = _sparse_scores(r, world)
    j = ref.merge(got, on=["user", "item"], how="outer")
    assert j["score"].notna().all() and j["ref"].notna().all() and len(j) > 500
    np.testing.assert_allclose(j["score"], j["ref"], rtol=2e-6, atol=1e-7)
    # pruning was active: some users reach more than max_endorsers accounts without the cap
    assert m.trust_.groupBy("user").count().agg({"count": "max"}).collect()[0][0] == 5
    # the privacy rule: direct trust names only endorsements the user may see, and the wider
    # circle reads only public endorsements without an audience list
    vis = hr.visibility.visible_endorsements(world)
    allowed = set(zip(vis["viewer"], vis["endorser"], vis["item"]))
    direct = m.model_.direct_.toPandas()
    assert len(direct) and all(t in allowed for t in zip(direct["user"], direct["endorser"],
                                                         direct["item"]))
    inter = world.interactions
    limited = set(zip(world.audiences["user"], world.audiences["item"]))
    public = inter[inter["kind"].astype(str).isin(hr.ENDORSEMENT_KINDS)
                   & (inter["visibility"].astype(str) == "public")]
    open_pub = {p for p in zip(public["user"], public["item"]) if p not in limited}
    wide = m.model_.endorsements_.toPandas()
    assert len(wide) and set(zip(wide["user"], wide["item"])) <= open_pub


def test_trust_params_validated_by_the_ranker(sds):
    with pytest.raises(ValueError, match="'alpha' parameter of TrustRanker"):
        SparkTrust(alpha=2.0).fit(sds)
    with pytest.raises(ValueError, match="'fill' parameter"):
        SparkTrust(fill=True).fit(sds)
    with pytest.raises(ValueError, match="unknown"):
        SparkTrust(bogus=1).fit(sds)


def test_recommend_equals_ranker_recommend(trust_pair, world):
    r, m = trust_pair
    got = _lists(m.recommend(8).toPandas())
    ids, sc = r.recommend(list(world.user_ids), n=8)
    for k, u in enumerate(world.user_ids):
        want = ids[k][np.isfinite(sc[k])].tolist()
        assert got.get(u, []) == want, u


def test_top_n_window_ties_and_exclusion(spark):
    s = spark.createDataFrame(pd.DataFrame(
        {"user": [1, 1, 1, 1, 2], "item": [5, 3, 4, 9, 3], "score": [1.0, 2.0, 2.0, 0.5, 1.0]}))
    seen = spark.createDataFrame(pd.DataFrame({"user": [1], "item": [4]}))
    users = spark.createDataFrame(pd.DataFrame({"user": [1, 2, 3]}))
    fb = spark.createDataFrame(pd.DataFrame({"item": [7, 3], "score": [10.0, 5.0]}))
    out = top_n(s, 2, exclude=seen, fallback=fb, users=users).toPandas()
    assert _lists(out) == {1: [3, 5], 2: [3], 3: [7, 3]}
    with pytest.raises(ValueError, match="'n' parameter"):
        top_n(s, 0)


# --------------------------------------------------------------------------------------------
# feeds
# --------------------------------------------------------------------------------------------

def _assert_same_feed(got: pd.DataFrame, ref: pd.DataFrame) -> None:
    got = got.sort_values(["user", "rank"]).reset_index(drop=True)
    ref = ref.sort_values(["user", "rank"]).reset_index(drop=True)
    assert len(got) == len(ref) > 0
    assert got["user"].tolist() == ref["user"].tolist()
    assert got["item"].tolist() == ref["item"].tolist()
    assert got["rank"].tolist() == ref["rank"].tolist()
    np.testing.assert_allclose(got["score"], ref["score"], rtol=1e-5, atol=1e-6)
    assert [list(e) for e in got["endorsers"]] == [list(e) for e in ref["endorsers"]]
    assert [list(k) for k in got["kinds"]] == [list(k) for k in ref["kinds"]]
    assert got["explanation"].tolist() == ref["explanation"].tolist()


def test_feeds_equal_single_machine_feeds_with_trust(trust_pair, trust_feed, world):
    r, _ = trust_pair
    ref = hr.feed.build(world, r, list(world.user_ids), n=10)
    _assert_same_feed(trust_feed[1], ref)
    # a feed for every user reads the persisted candidate scores
    assert trust_feed[2].model_._scores is not None


def test_trust_for_some_users_equals_the_ranker_on_those_users(spark, sds, trust_pair, world):
    """SparkTrust(users=...): the trust rows, scores, lists and feeds of those users equal the
    single-machine ranker's, while only the transition rows their walks can read are built."""
    r, full = trust_pair
    # the 10 users who follow the fewest accounts: their 2-hop neighbourhood (max_hops=3 reads
    # transition rows up to 2 follows away) misses part of the graph
    deg = world.social.groupby("user").size().reindex(world.user_ids, fill_value=0)
    some = sorted(world.user_ids, key=lambda u: (deg[u], u))[:10]
    users = spark.createDataFrame(pd.DataFrame({"user": some}))
    m = SparkTrust(users=users, **TRUST).fit(sds)
    try:
        # transition rows: those of the accounts within max_hops - 1 follows, same values
        got_p = m.model_.transition_.toPandas()
        all_p = full.model_.transition_.toPandas()
        assert 0 < len(got_p) < len(all_p)
        j = got_p.merge(all_p, on=["node", "next"], how="left", suffixes=("", "_all"))
        np.testing.assert_allclose(j["p"], j["p_all"], rtol=1e-12)
        # trust rows of exactly those users, as the ranker's trust_rows
        uidx = world.user_index(some)
        t = r.trust_rows(uidx).tocoo()
        ref_t = pd.DataFrame({"user": np.asarray(some)[t.row],
                              "endorser": world.user_ids[t.col], "ref": t.data})
        got_t = m.trust_.toPandas()
        assert set(got_t["user"]) <= set(some)
        jt = ref_t.merge(got_t, on=["user", "endorser"], how="outer")
        assert jt["trust"].notna().all() and jt["ref"].notna().all()
        np.testing.assert_allclose(jt["trust"], jt["ref"], rtol=2e-6)  # float32 inside
        # feeds for some of the fitted users: only their candidate pairs are scored
        part = spark.createDataFrame(pd.DataFrame({"user": some[:4]}))
        feed = m.feeds(10, users=part).toPandas()
        assert m.model_._scores is None
        _assert_same_feed(feed, hr.feed.build(world, r, some[:4], n=10))
        # for all of them: from the persisted scores of every candidate
        feed = m.feeds(10).toPandas()
        assert m.model_._scores is not None
        _assert_same_feed(feed, hr.feed.build(world, r, some, n=10))
        # every candidate's score, computed on demand
        ref = _sparse_scores(r, world)
        ref = ref[ref["user"].isin(some)]
        js = ref.merge(m.scores_.toPandas(), on=["user", "item"], how="outer")
        assert js["score"].notna().all() and js["ref"].notna().all()
        np.testing.assert_allclose(js["score"], js["ref"], rtol=2e-6, atol=1e-7)
        # lists; a request for other users is restricted to the fitted ones
        got = _lists(m.recommend(8).toPandas())
        ids, sc = r.recommend(some, n=8)
        for k, u in enumerate(some):
            assert got.get(u, []) == ids[k][np.isfinite(sc[k])].tolist(), u
        other = spark.createDataFrame(pd.DataFrame({"user": list(world.user_ids[:10])}))
        asked = set(m.recommend(3, users=other).toPandas()["user"])
        assert asked == set(world.user_ids[:10]) & set(some)
    finally:
        m.unpersist()


def test_feeds_without_ranker_plain_order(sds, world):
    got = build_feeds(sds, None, n=6, diversity=0.0, merchant_cap=None, category_cap=None,
                      half_life_days=None, repurchasable=["tea"]).toPandas()
    ref = hr.feed.build(world, None, list(world.user_ids), n=6, diversity=0.0,
                        merchant_cap=None, category_cap=None, half_life_days=None,
                        repurchasable=["tea"])
    _assert_same_feed(got, ref)


def test_feed_never_cites_an_invisible_endorsement(trust_feed, world):
    feed = trust_feed[1]
    vis = hr.feed.visible_endorsements(world)
    allowed = set(zip(vis["viewer"], vis["endorser"], vis["item"]))
    blocked = set(zip(world.blocks["user"], world.blocks["blocked"]))
    for u, i, ends in zip(feed["user"], feed["item"], feed["endorsers"]):
        assert ends.size and all((u, e, i) in allowed for e in ends)
        assert not any((u, e) in blocked for e in ends)


def test_write_feeds_parquet(trust_feed, tmp_path):
    frame, ref, _ = trust_feed
    path = write_feeds(frame, str(tmp_path / "feeds"), partitions=2)
    back = pd.read_parquet(path)
    assert list(back.columns) == ["user", "item", "score", "rank", "endorsers", "kinds",
                                  "explanation"]
    _assert_same_feed(back, ref)
    with pytest.raises(ValueError, match="missing"):
        write_feeds(frame.drop("kinds"), str(tmp_path / "x"))


# --------------------------------------------------------------------------------------------
# ALS and the hybrid blend
# --------------------------------------------------------------------------------------------

def test_social_als_matrix_equals_single_machine(sds, world):
    r = hr.rankers.make("social_als", factors=4, iterations=1).fit(world)
    got = social_als_matrix(sds).toPandas()
    c = r.cf_.tocoo()
    ref = pd.DataFrame({"user": world.user_ids[c.row], "item": world.item_ids[c.col],
                        "ref": c.data.astype(np.float64)})
    j = ref.merge(got, on=["user", "item"], how="outer")
    assert j["c"].notna().all() and j["ref"].notna().all()
    np.testing.assert_allclose(j["c"], j["ref"], rtol=1e-5)


def _recall_at(lists: dict, test: hr.Dataset, k: int = 20) -> float:
    t = test.interactions.groupby("user")["item"].apply(set)
    return float(np.mean([len(set(lists.get(u, [])[:k]) & s) / min(len(s), k) for u, s in t.items()]))


@pytest.mark.slow
def test_spark_als_quality_within_tolerance_of_implicit(spark):
    ds = hr.datasets.synthetic(n_users=400, n_items=200, seed=2)
    train, test = hr.split.random_split(ds, test_fraction=0.2, seed=0)
    params = {"social_weight": 0.5, "factors": 16, "iterations": 8}
    imp = hr.rankers.make("social_als", **params).fit(train)
    users = list(train.user_ids)
    ids, sc = imp.recommend(users, n=20)
    r_imp = _recall_at({u: ids[k][np.isfinite(sc[k])].tolist() for k, u in enumerate(users)}, test)
    sds = SparkDataset.from_dataset(spark, train)
    m = SparkSocialALS(**params).fit(sds)
    recs = m.recommend(20).toPandas()
    r_spark = _recall_at(_lists(recs), test)
    assert recs.groupby("user").size().max() == 20
    seen = set(zip(train.interactions["user"], train.interactions["item"]))
    assert not any((u, i) in seen for u, i in zip(recs["user"], recs["item"]))
    # the stated tolerance: Spark's ALS within 15% of implicit's Recall@20 (same matrix,
    # different confidence, regularisation and solver conventions)
    assert r_spark >= 0.85 * r_imp, (r_spark, r_imp)
    # the hybrid's recommend path over the same components
    h = SparkHybrid(trust_weight=0.5, n_candidates=30).fit(
        sds, components=(m, SparkTrust(max_hops=1).fit(sds)))
    top = h.recommend(10).toPandas()
    assert top.groupby("user")["rank"].max().max() == 10
    assert not any((u, i) in seen for u, i in zip(top["user"], top["item"]))


def test_hybrid_blend_equals_numpy_reference(trust_pair, als_model):
    _, trust = trust_pair
    h = SparkHybrid(trust_weight=0.4).fit(trust.sds_, components=(als_model, trust))
    pairs = trust.scores_.select("user", "item").limit(300)
    got = h.score_pairs(pairs).toPandas()
    want = linear_blend(got["cf"].to_numpy(), got["trust"].fillna(0).to_numpy(),
                        got["cf_top"].fillna(0).to_numpy(), got["trust_top"].fillna(0).to_numpy(),
                        0.4)
    np.testing.assert_allclose(got["score"], want, rtol=1e-9)
    assert got["trust"].notna().all() and (got["cf_top"] > 0).any()
    # cf_top bounds every CF score of the user
    assert (got["cf"].abs() <= got["cf_top"] * (1 + 1e-5) + 1e-6).all()
    with pytest.raises(TypeError, match="components"):
        SparkHybrid().fit(trust.sds_, components=(trust, als_model))


def _analyzed_plan_lines(df, capsys) -> int:
    """Lines of the analysed logical plan of ``df`` (from ``explain(extended=True)``)."""
    capsys.readouterr()
    df.explain(extended=True)
    text = capsys.readouterr().out
    part = text.split("== Analyzed Logical Plan ==")[1].split("== Optimized Logical Plan ==")[0]
    return len([ln for ln in part.splitlines()[1:] if ln.strip()])


def test_trust_state_is_checkpointed_so_later_plans_stay_short(trust_pair, als_model, capsys):
    """The trust model keeps its state as local checkpoints: each frame's plan is one leaf, so a
    hybrid blend over the trust scores plans a few hundred nodes, not the whole chain of
    visibility, tie-strength and PageRank joins again for every frame it reads."""
    _, trust = trust_pair
    tm = trust.model_
    for name in ("transition_", "trust_", "wider_", "direct_", "endorsements_", "prior_",
                 "scores_"):
        plan = _analyzed_plan_lines(getattr(tm, name), capsys)
        assert plan <= 2, (name, plan)
    h = SparkHybrid(trust_weight=0.4).fit(trust.sds_, components=(als_model, trust))
    blend = h.score_pairs(trust.scores_.select("user", "item").limit(300))
    assert _analyzed_plan_lines(blend, capsys) < 1000


def test_not_fitted(sds):
    with pytest.raises(hr.NotFittedError, match="not fitted"):
        SparkTrust().recommend(5)


def test_popularity_is_the_rankers_fallback(sds, world):
    pop = popularity(sds).toPandas().set_index("item")["score"]
    r = hr.rankers.make("popularity").fit(world)
    np.testing.assert_array_equal(pop.reindex(world.item_ids).fillna(0).to_numpy(),
                                  r.fallback_.astype(np.float64))


def test_friend_model_recommend(sds, world):
    m = SparkFriendEndorsements().fit(sds)  # the visibility rule, as the ranker
    got = _lists(m.recommend(5).toPandas())
    r = hr.rankers.make("friend_endorsements").fit(world)
    ids, sc = r.recommend(list(world.user_ids), n=5)
    for k, u in enumerate(world.user_ids):
        assert got.get(u, []) == ids[k][np.isfinite(sc[k])].tolist()



def _exact_als_top(m, n: int, users=None) -> pd.DataFrame:
    """Reference for SparkSocialALS.recommend: Spark ML asked for every item of every user,
    seen items dropped, ``top_n`` (score desc, item id)."""
    from pyspark.sql import functions as F

    sds = m.sds_
    ui, ii = sds.user_index(), sds.item_index()
    recs = m.model_.recommendForAllUsers(m.item_factors_.count()).select(
        "uidx", F.explode("recommendations").alias("r")).select(
        "uidx", F.col("r.iidx").alias("iidx"), F.col("r.rating").cast("double").alias("score"))
    recs = recs.join(ui, "uidx").join(ii, "iidx").select("user", "item", "score")
    who = users if users is not None else ui.select("user")
    got = top_n(recs, n, exclude=sds.interactions, fallback=m.popularity_, users=who)
    return got.toPandas().sort_values(["user", "rank"]).reset_index(drop=True)


def test_als_recommend_with_one_heavy_user_equals_every_item_asked(spark, caplog):
    # one user has seen 66 of 80 items, far above every other user: the first Spark ML call asks
    # n + the 99th percentile of seen counts, so this user (and any tie at the cut) is asked again
    ds = hr.datasets.synthetic(n_users=150, n_items=80, seed=3)
    inter = ds.interactions
    heavy = ds.user_ids[0]
    extra = pd.concat([inter[inter["kind"] == "view"].iloc[[0]]] * 66, ignore_index=True)
    extra["user"] = heavy
    extra["item"] = list(ds.item_ids[:66])
    world = hr.Dataset.from_frames(pd.concat([inter, extra], ignore_index=True), ds.social,
                                   items=ds.items, meta=ds.meta)
    counts = world.interactions.drop_duplicates(["user", "item"]).groupby("user").size()
    assert counts[heavy] >= 66 and counts[heavy] > counts.quantile(0.99) + 20
    sds = SparkDataset.from_dataset(spark, world)
    m = SparkSocialALS(factors=4, iterations=3).fit(sds)
    n = 10
    want = _exact_als_top(m, n)
    cols = ["user", "item", "score", "rank"]
    with caplog.at_level("INFO", logger="haowurank.spark._models"):
        got = m.recommend(n).toPandas().sort_values(["user", "rank"]).reset_index(drop=True)
    assert "asked again" in caplog.text  # the heavy user took the second call
    pd.testing.assert_frame_equal(got[cols], want[cols])
    assert len(got[got["user"] == heavy]) == n
    seen = set(zip(world.interactions["user"], world.interactions["item"]))
    assert not any((u, i) in seen for u, i in zip(got["user"], got["item"]))
    # a user subset (recommendForUserSubset), with a user the dataset does not know, and a
    # first count so small that every user is asked again (several rounds): same lists
    m.seen_quantile = 0.0
    who = spark.createDataFrame(pd.DataFrame({"user": [heavy, ds.user_ids[5], "nobody"]}))
    want_s = _exact_als_top(m, n, users=who)
    got_s = m.recommend(n, users=who).toPandas().sort_values(["user", "rank"]).reset_index(
        drop=True)
    pd.testing.assert_frame_equal(got_s[cols], want_s[cols])
    assert set(got_s["user"]) == {heavy, ds.user_ids[5], "nobody"}
    m.unpersist()


def test_spark_trust_refuses_the_defence_it_does_not_run():
    """The Spark path computes TrustRanker(defence=None) scores; asking it for a defence is an
    error that says so, not a silently ignored parameter (no Spark session needed)."""
    from haowurank.spark._scoring import _trust_ranker_params

    with pytest.raises(ValueError, match="'defence'.*defence=None"):
        _trust_ranker_params({"defence": True}, "SparkTrust")
    assert _trust_ranker_params({"defence": None}, "SparkTrust")["defence"] is None
    assert _trust_ranker_params({}, "SparkTrust")["defence"] is None
