"""hr.attacks (sybil regions, shilling, review padding, refund fraud, exposure) and the defences of
hr.trust (refunds, verified purchases, rate limits, SybilRank-style account trust)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

import haowurank as hr
from haowurank.testing import small_world


@pytest.fixture(scope="module")
def world():
    return small_world()


@pytest.fixture(scope="module")
def world_copy(world):
    """An independent copy, to check that injectors never modify their input."""
    return hr.Dataset.from_frames(world.interactions, world.social, items=world.items)


@pytest.fixture(scope="module")
def synth():
    """A small synthetic world (str ids, timestamps, orders, truth) where top-20 is a real cut."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", hr.DataWarning)
        return hr.datasets.synthetic(n_users=1000, n_items=600, seed=3)


def _rebuilt(ds: hr.Dataset) -> hr.Dataset:
    """The validated construction of the same data (what the index-level build must equal)."""
    return hr.Dataset.from_frames(
        ds.interactions, ds.social, items=ds.items,
        blocks=ds.blocks if len(ds.blocks) else None,
        audiences=ds.audiences if len(ds.audiences) else None, meta=ds.meta,
    )


# ----------------------------------------------------------------------------- sybil regions
@pytest.mark.parametrize("n_sybils,edges,density", [(10, 3, 1.0), (25, 0, 0.5), (4, 200, 1.0)])
def test_add_sybils_counts_exactly(world, world_copy, n_sybils, edges, density):
    atk = hr.attacks.add_sybils(world, n_sybils, edges, density=density, seed=1)
    d = atk.dataset
    assert d.n_users == world.n_users + n_sybils
    assert len(atk.attackers) == n_sybils and len(set(atk.attackers.tolist())) == n_sybils
    assert not set(atk.attackers.tolist()) & set(world.user_ids.tolist())
    soc = d.social
    syb = set(atk.attackers.tolist())
    s_in = soc["user"].isin(syb).to_numpy()
    f_in = soc["friend"].isin(syb).to_numpy()
    internal = s_in & f_in
    if density == 1.0:
        assert internal.sum() == n_sybils * (n_sybils - 1)
    else:
        assert 0 < internal.sum() < n_sybils * (n_sybils - 1)
        assert internal.sum() % 2 == 0  # mutual pairs
    # attack edges: exactly `edges` distinct (honest, sybil) pairs, each mutual
    assert len(atk.attack_edges) == edges
    assert not atk.attack_edges.duplicated().any()
    cross = soc[s_in ^ f_in]
    assert len(cross) == 2 * edges
    if edges:
        per_sybil = atk.attack_edges["sybil"].value_counts()
        assert per_sybil.max() - per_sybil.min() <= 1 or len(per_sybil) < n_sybils
    # honest part untouched; input untouched
    honest_soc = soc[~s_in & ~f_in].reset_index(drop=True)
    pd.testing.assert_frame_equal(honest_soc, world.social.reset_index(drop=True))
    assert world.equals(world_copy) and "attack" not in world.meta
    assert d.equals(_rebuilt(d))


@pytest.mark.parametrize("direction,rows", [("honest_follows", ("honest", "sybil")),
                                            ("sybil_follows", ("sybil", "honest"))])
def test_attack_edge_direction(world, direction, rows):
    atk = hr.attacks.add_sybils(world, 5, 4, direction=direction, seed=0)
    soc = atk.dataset.social
    syb = set(atk.attackers.tolist())
    cross = soc[soc["user"].isin(syb) ^ soc["friend"].isin(syb)]
    assert len(cross) == 4
    src, dst = rows
    want = set(zip(atk.attack_edges[src], atk.attack_edges[dst]))
    assert set(zip(cross["user"], cross["friend"])) == want


def test_int_vocabulary_gets_fresh_int_ids_and_victims_can_be_named():
    ds = hr.Dataset.from_frames(
        pd.DataFrame({"user": [1, 2, 3, 3], "item": [10, 11, 10, 12]}),
        pd.DataFrame({"user": [1, 2], "friend": [2, 1]}),
    )
    atk = hr.attacks.add_sybils(ds, 3, 2, victims=[2], seed=0)
    assert atk.attackers.tolist() == [4, 5, 6]
    assert set(atk.attack_edges["honest"]) == {2}
    assert atk.dataset.equals(_rebuilt(atk.dataset))


def test_injected_synthetic_world_keeps_truth_aligned(synth):
    atk = hr.attacks.inject(synth, n_sybils=7, attack_edges=3, seed=0)
    d = atk.dataset
    assert d.equals(_rebuilt(d))
    for k, v in synth.truth.items():
        if k.startswith("user"):
            assert d.truth[k].shape[0] == d.n_users
            pos = d.user_index(synth.user_ids)
            np.testing.assert_array_equal(d.truth[k][pos], v)
        else:
            np.testing.assert_array_equal(d.truth[k], v)
    # the attacked dataset round-trips through Parquet with its attack log
    assert json.loads(json.dumps(d.meta["attack"]))["attackers"] == atk.attackers.tolist()


# ----------------------------------------------------------------------------- endorsements
@pytest.mark.parametrize("strategy", hr.attacks.STRATEGIES)
def test_shill_counts_and_fillers(synth, strategy):
    syb = hr.attacks.add_sybils(synth, 12, 4, seed=2)
    target = hr.attacks.pick_target(synth, "cold", seed=0)
    atk = hr.attacks.shill(syb.dataset, target, syb.attackers, strategy=strategy, n_filler=6,
                           seed=5)
    d = atk.dataset
    assert atk.info["endorsement_rows"] == 12 * 7
    inter = d.interactions
    added = inter[inter["user"].isin(set(syb.attackers.tolist()))]
    assert len(added) == 12 * 7
    assert (added["kind"] == "recommend").all() and (added["visibility"] == "public").all()
    assert (added.groupby("user")["item"].nunique() == 7).all()
    assert set(added.loc[added["item"] == target, "user"]) == set(syb.attackers.tolist())
    fillers = added[added["item"] != target]
    assert len(fillers) == 12 * 6
    pop = np.diff(synth.matrix(weight="binary").tocsc().indptr)
    top = set(synth.item_ids[np.lexsort((np.arange(len(pop)), -pop))[:50]].tolist())
    if strategy == "bandwagon":
        assert set(fillers["item"]) <= top
    if strategy == "average":
        mean_w = synth.interactions.groupby("item", observed=True)["weight"].mean()
        np.testing.assert_allclose(fillers["weight"], mean_w.loc[fillers["item"]].to_numpy())
    if strategy == "relation":  # fake friends copy the items of the honest users they befriended
        victims_items = set(synth.interactions.loc[
            synth.interactions["user"].isin(set(syb.attack_edges["honest"])), "item"])
        holders = set(syb.attack_edges["sybil"])
        copied = fillers[fillers["user"].isin(holders)]
        assert len(copied) and copied["item"].isin(victims_items | top).all()
        assert copied["item"].isin(victims_items).mean() > 0.5
    assert d.equals(_rebuilt(d))
    assert hr.attacks.honest_users(d).tolist() == synth.user_ids.tolist()


def test_review_padding_and_refund_fraud(synth):
    syb = hr.attacks.add_sybils(synth, 5, 2, seed=0)
    target = hr.attacks.pick_target(synth, seed=1)
    pad = hr.attacks.review_padding(syb.dataset, target, syb.attackers, n_filler=2)
    added = pad.dataset.interactions
    added = added[added["user"].isin(set(syb.attackers.tolist()))]
    assert len(added) == 15 and (added["kind"] == "recommend_after_purchase").all()
    ref = hr.attacks.refund_fraud(syb.dataset, target, syb.attackers)
    d = ref.dataset
    rows = d.interactions[d.interactions["user"].isin(set(syb.attackers.tolist()))]
    buys = rows[rows["kind"] == "purchase"]
    assert len(buys) == 5 and (buys["item"] == target).all()
    assert sorted(buys["order_id"]) == sorted(d.meta["refunded_orders"])
    assert (rows["kind"] == "recommend_after_purchase").sum() == 5
    assert d.equals(_rebuilt(d))


def test_injection_is_deterministic_and_composes(synth):
    a = hr.attacks.inject(synth, attack="relation", n_sybils=20, attack_edges=5, seed=11)
    b = hr.attacks.inject(synth, attack="relation", n_sybils=20, attack_edges=5, seed=11)
    c = hr.attacks.inject(synth, attack="relation", n_sybils=20, attack_edges=5, seed=12)
    assert a.dataset.equals(b.dataset) and a.target == b.target
    assert not a.dataset.equals(c.dataset)
    # a second attack on the attacked data: the log accumulates, both sets of sybils are tagged
    d = hr.attacks.inject(a.dataset, attack="refund", n_sybils=3, attack_edges=1, seed=1)
    tagged = set(hr.attacks.attacker_ids(d.dataset).tolist())
    assert tagged == set(a.attackers.tolist()) | set(d.attackers.tolist())
    assert len(d.dataset.meta["attack"]["injections"]) == 4
    assert len(hr.attacks.honest_users(d.dataset)) == synth.n_users


@pytest.mark.parametrize("call,exc,match", [
    (lambda w: hr.attacks.add_sybils(w, 0, 1), ValueError, "'n_sybils'.*int >= 1"),
    (lambda w: hr.attacks.add_sybils(w, 3, -1), ValueError, "'attack_edges'.*int >= 0"),
    (lambda w: hr.attacks.add_sybils(w, 2, 10**6), ValueError, "at most n_honest"),
    (lambda w: hr.attacks.add_sybils(w, 3, 1, density=1.5), ValueError, "'density'"),
    (lambda w: hr.attacks.add_sybils(w, 3, 1, direction="both"), ValueError, "'direction'"),
    (lambda w: hr.attacks.add_sybils(w, 3, 1, victims=["nobody"]), hr.UnknownIdError, "victims"),
    (lambda w: hr.attacks.inject(w, target="no-such-item"), hr.UnknownIdError, "'target'"),
    (lambda w: hr.attacks.inject(w, target=101, attack="sneaky"), ValueError, "'attack'"),
    (lambda w: hr.attacks.shill(w, 101, ["u1"], n_filler=-2), ValueError, "'n_filler'"),
    (lambda w: hr.attacks.shill(w, 101, ["u1", "u1"]), ValueError, "repeats"),
    (lambda w: hr.attacks.shill(w, 101, []), ValueError, "at least one"),
    (lambda w: hr.attacks.shill(w, 101, ["u1"], kind="view"), ValueError, "'kind'"),
    (lambda w: hr.attacks.add_sybils(w.interactions, 3, 1), TypeError, "Dataset"),
])
def test_bad_parameters(world, call, exc, match):
    with pytest.raises(exc, match=match):
        call(world)


# ----------------------------------------------------------------------------- measurement
def test_exposure_measures_hits_and_ranks(world):
    r = hr.rankers.make("popularity").fit(world)
    users = list(world.user_ids)
    ids, _ = r.recommend(users, n=5)
    target = ids[0][0]
    e = hr.attacks.exposure(r, target, users, n=5)
    assert e["hits"] == sum(target in row for row in ids)
    # the rank agrees with the list: rank <= 5 exactly when the target is in the top 5
    assert ((e["rank"] <= 5) == np.array([target in row for row in ids])).all()
    with pytest.raises(hr.UnknownIdError, match="'target'"):
        hr.attacks.target_ranks(r, users, "nope")
    with pytest.raises(hr.NotFittedError, match="fitted"):
        hr.attacks.target_hits(hr.rankers.make("popularity"), users, target)


def test_evaluate_attack_reports_the_shift(synth):
    atk = hr.attacks.inject(synth, attack="bandwagon", n_sybils=60, attack_edges=5, seed=0)
    users = hr.attacks.honest_users(atk.dataset)[:300]
    out = hr.attacks.evaluate_attack("popularity", synth, atk, users=users)
    assert out["users"] == 300
    assert out["hit_ratio_attacked"] >= out["hit_ratio_clean"]
    assert out["median_rank_attacked"] < out["median_rank_clean"]
    assert out["rank_shift"] > 0


# ----------------------------------------------------------------------------- defences
def _tiny():
    inter = pd.DataFrame({
        "user": ["a", "a", "b", "b", "c", "c", "c", "c"],
        "item": ["x", "x", "y", "y", "x", "y", "z", "w"],
        "kind": ["purchase", "recommend_after_purchase", "recommend_after_purchase", "view",
                 "recommend", "recommend", "recommend", "recommend"],
        "timestamp": [0, 10, 20, 30, 100, 200, 300, 86_400 + 5],
        "order_id": ["o1", None, None, None, None, None, None, None],
    })
    social = pd.DataFrame({"user": ["a", "b", "c"], "friend": ["b", "c", "a"]})
    return hr.Dataset.from_frames(inter, social)


def test_refund_and_verification_rules():
    ds = _tiny()
    assert hr.trust.unverified_rows(ds).sum() == 1  # b's claim has no purchase behind it
    refunded = ds._replace(meta={"refunded_orders": ["o1"]})
    ref = hr.trust.refunded_rows(refunded)
    assert ref.sum() == 1
    # once the order is refunded, a's claim is no longer verified either
    assert hr.trust.unverified_rows(refunded, ~ref).sum() == 2
    res = hr.trust.defend(refunded, sybil_threshold=None, max_endorsements_per_day=None,
                          min_purchases=None)
    kinds = res.dataset.interactions.groupby("user", observed=True)["kind"].apply(
        lambda s: sorted(map(str, s)))
    assert kinds["a"] == ["recommend"] and kinds["b"] == ["recommend", "view"]
    assert res.report["refunded_rows"] == 1 and res.report["demoted_unverified"] == 2
    with pytest.raises(TypeError, match="single string"):
        hr.trust.refunded_rows(ds, "o1")


def test_accounts_that_never_bought_lose_their_endorsements():
    ds = _tiny()  # a bought x; b and c never bought anything
    rows = ds.interactions[hr.trust.non_buyer_rows(ds)]
    assert set(rows["user"]) == {"b", "c"} and len(rows) == 5
    assert (rows["kind"] != "view").all()  # only endorsements go
    refunded = ds._replace(meta={"refunded_orders": ["o1"]})
    keep = ~hr.trust.refunded_rows(refunded)
    assert set(ds.interactions[hr.trust.non_buyer_rows(refunded, keep=keep)]["user"]) == {
        "a", "b", "c"}  # a refunded purchase is no purchase
    assert not hr.trust.non_buyer_rows(ds, 1, keep=np.zeros(ds.n_interactions, bool)).any()
    res = hr.trust.defend(ds, sybil_threshold=None)
    assert res.report["non_buyer_rows_dropped"] == 5
    assert res.dataset.interactions["user"].tolist().count("c") == 0
    with pytest.raises(ValueError, match="'min_purchases'"):
        hr.trust.non_buyer_rows(ds, 0)


def test_non_buyer_step_judges_only_data_whose_purchases_are_purchases():
    """On rating data (Ciao/Epinions: 'purchase' = a rating of 1-3, 'recommend' = 4-5) an
    account that never rated below 4 is no review padder: the default 'auto' skips the step;
    an explicit int still applies it; data that record purchases keep the step."""
    ds = _tiny()
    assert hr.trust.defend(ds, sybil_threshold=None).report["min_purchases"] == 1
    rated = ds._replace(meta={"purchase_verb": "rated it 1-3"})
    res = hr.trust.defend(rated, sybil_threshold=None)
    assert res.report["min_purchases"] is None and "non_buyer_rows_dropped" not in res.report
    assert res.dataset.interactions["user"].tolist().count("c") > 0
    explicit = hr.trust.defend(rated, sybil_threshold=None, min_purchases=1)
    assert explicit.report["non_buyer_rows_dropped"] == 5
    bought = ds._replace(meta={"purchase_verb": "bought"})
    assert hr.trust.defend(bought, sybil_threshold=None).report["non_buyer_rows_dropped"] == 5
    _, rep = hr.trust.defended_training_data(rated, {"sybil_threshold": None})
    assert rep["min_purchases"] is None
    with pytest.raises(ValueError, match="'min_purchases'.*'auto'"):
        hr.trust.defend(ds, min_purchases="always")


def test_trust_seeds_count_purchases_only_where_purchase_rows_are_purchases(synth):
    """On rating data ('purchase' = a rating of 1-3) seeds are drawn from the accounts most
    active in any kind, not from those who rated most items below 4."""
    arr = synth.interaction_arrays()
    followed = np.diff(synth.social_matrix(weighted=False).tocsc().indptr) > 0

    def pool(rows):
        n = synth.n_items
        pairs = np.unique(arr["user"][rows].astype(np.int64) * n + arr["item"][rows])
        counts = np.bincount(pairs // n, minlength=synth.n_users)
        ok = (counts > 0) & followed
        return np.flatnonzero(ok & (counts >= np.median(counts[ok])))

    everything = np.ones(synth.n_interactions, dtype=bool)
    by_purchase = pool(arr["kind"] == hr.KINDS.index("purchase"))
    by_activity = pool(everything)
    assert not np.array_equal(by_purchase, by_activity)  # the two rules differ on this world
    big = synth.n_users  # n_seeds >= the pool: the whole pool comes back
    np.testing.assert_array_equal(hr.trust.trust_seeds(synth, big), by_purchase)
    rated = synth._replace(meta={**synth.meta, "purchase_verb": "rated it 1-3"})
    np.testing.assert_array_equal(hr.trust.trust_seeds(rated, big), by_activity)
    bought = synth._replace(meta={**synth.meta, "purchase_verb": "bought"})
    np.testing.assert_array_equal(hr.trust.trust_seeds(bought, big), by_purchase)


def test_defend_applies_the_daily_rate_limit_only_to_data_with_timestamps():
    """Without timestamps there are no days: the limit would cap each account's endorsements
    for life (it dropped about 69k rows of Epinions' 5-core), so defend leaves it off there."""
    ds = _tiny()
    assert ds.has_timestamps
    assert hr.trust.defend(ds, max_endorsements_per_day=2, sybil_threshold=None,
                           min_purchases=None).report["rate_limited_rows"] == 1
    flat = hr.Dataset.from_frames(ds.interactions.drop(columns="timestamp"), ds.social,
                                  items=ds.items)
    assert not flat.has_timestamps
    assert hr.trust.rate_limited_rows(flat, 2).sum() > 0  # the row-level function still counts
    res = hr.trust.defend(flat, max_endorsements_per_day=2, sybil_threshold=None,
                          min_purchases=None)
    assert res.report["rate_limited_rows"] == 0 and "timestamps" in res.report["rate_limit"]
    assert res.dataset.n_interactions == flat.n_interactions


def test_cover_purchases_make_sybils_look_like_buyers(synth):
    atk = hr.attacks.inject(synth, n_sybils=6, attack_edges=2, cover_purchases=2, seed=0)
    rows = atk.dataset.interactions
    rows = rows[rows["user"].isin(set(atk.attackers.tolist()))]
    buys = rows[rows["kind"] == "purchase"]
    assert len(buys) == 12 and buys["order_id"].notna().all()
    assert (buys.groupby("user")["item"].nunique() == 2).all()
    assert not set(buys["order_id"]) & set(atk.dataset.meta.get("refunded_orders", []))
    assert not hr.trust.non_buyer_rows(atk.dataset)[
        atk.dataset.interactions["user"].isin(set(atk.attackers.tolist())).to_numpy()].any()
    assert atk.dataset.equals(_rebuilt(atk.dataset))


def test_rate_limit_keeps_the_earliest_per_day():
    ds = _tiny()
    over = hr.trust.rate_limited_rows(ds, 2)
    rows = ds.interactions[over]
    assert rows["user"].tolist() == ["c"] and rows["item"].tolist() == ["z"]  # 3rd on day 0
    assert not hr.trust.rate_limited_rows(ds, 3).any()
    with pytest.raises(ValueError, match="'max_per_day'"):
        hr.trust.rate_limited_rows(ds, 0)


def test_sybil_rank_bounds_trust_behind_few_attack_edges(synth):
    atk = hr.attacks.inject(synth, n_sybils=50, attack_edges=3, seed=0)
    d = atk.dataset
    t = hr.trust.account_trust(d, seed=0)
    syb = d.user_index(atk.attackers)
    honest = hr.attacks.honest_mask(d)
    reached = honest & (t > 0)
    assert np.median(t[syb]) < 0.05 < 0.5 < np.median(t[reached])
    # with many attack edges the sybils look honest: the defence is bounded by attack edges
    many = hr.attacks.inject(synth, n_sybils=50, attack_edges=400, seed=0)
    t2 = hr.trust.account_trust(many.dataset, seed=0)
    assert np.median(t2[many.dataset.user_index(many.attackers)]) > 10 * np.median(t[syb])
    with pytest.raises(ValueError, match="'seeds'"):
        hr.trust.sybil_rank(d.social_matrix(), [d.n_users + 5])


def test_defend_drops_sybil_endorsements_only(synth):
    atk = hr.attacks.inject(synth, n_sybils=40, attack_edges=2, seed=0)
    res = hr.trust.defend(atk.dataset)
    d = res.dataset
    syb = atk.dataset.user_index(atk.attackers)
    assert res.suspicious[syb].all()
    inter = d.interactions
    assert not inter["user"].isin(set(atk.attackers.tolist())).any()
    # honest purchases are all kept; only endorsements of suspicious accounts may go
    before = atk.dataset.interactions
    hb = before[~before["user"].isin(set(atk.attackers.tolist()))]
    assert (inter["kind"] == "purchase").sum() == (hb["kind"] == "purchase").sum()
    rep = res.report
    assert rep["non_buyer_rows_dropped"] + rep["suspicious_rows_dropped"] >= 40 * 11
    # the structural layer alone (sybils that look like buyers are still caught by SybilRank)
    alone = hr.trust.defend(atk.dataset, min_purchases=None)
    assert alone.report["suspicious_rows_dropped"] >= 40 * 11
    assert alone.dataset.equals(d)
    assert d.social.equals(atk.dataset.social) and d.n_users == atk.dataset.n_users
    assert d.equals(_rebuilt(d))
    with pytest.raises(ValueError, match="Unknown defence parameter"):
        hr.trust.defended_training_data(synth, {"sybil_treshold": 0.1})
    with pytest.raises(ValueError, match="'drop'"):
        hr.trust.defend(synth, drop="some")


def test_defend_flags_no_account_the_graph_says_nothing_about(synth):
    """No follow graph: the sybil step cannot judge and flags no one (it flagged every account);
    accounts nobody follows (no follow row, or only follows of their own) are never flagged,
    since the walk cannot reach them; sybils with edges are."""
    bare = hr.Dataset.from_frames(synth.interactions, None, items=synth.items)
    assert bare.n_social == 0
    atk0 = hr.attacks.inject(synth, n_sybils=40, attack_edges=2, seed=0)
    with_graph = hr.trust.defend(atk0.dataset, min_purchases=None)
    assert with_graph.report["suspicious_accounts"] >= 40  # with its graph: judged
    res = hr.trust.defend(bare, min_purchases=None)
    assert not res.suspicious.any()
    assert res.report["suspicious_accounts"] == 0 and res.report["suspicious_rows_dropped"] == 0
    assert res.report["unjudged_accounts"] == bare.n_users
    # among a graph: an account with no follow row, and one that follows others but has no
    # follower, are not judged; the sybils behind 2 edges still are
    d = atk0.dataset
    honest = np.flatnonzero(hr.attacks.honest_mask(d))
    lonely_id, follower_only_id = d.user_ids[honest[0]], d.user_ids[honest[1]]
    soc = d.social[(d.social["user"] != lonely_id) & (d.social["friend"] != lonely_id)
                   & (d.social["friend"] != follower_only_id)]
    assert (soc["user"] == follower_only_id).any()
    d = hr.Dataset.from_frames(d.interactions, soc, items=d.items)
    s = d.social_matrix(weighted=False).tocsc()
    nobody_follows = np.diff(s.indptr) == 0
    lonely, follower_only = d.user_index([lonely_id, follower_only_id])
    assert nobody_follows[[lonely, follower_only]].all()
    res = hr.trust.defend(d)
    assert (res.account_trust[nobody_follows] == 0).all()
    assert not res.suspicious[nobody_follows].any()
    assert res.report["unjudged_accounts"] == int(nobody_follows.sum())
    assert res.suspicious[d.user_index(atk0.attackers)].all()
    # the old rule (every account with a follow row judged) flags the follower-only account
    t = res.account_trust
    assert t[follower_only] < hr.trust.sybil_cut(t, ~nobody_follows, 0.25)


def _one_way_hub_world(n: int = 300, hubs: int = 10, seed: int = 0) -> hr.Dataset:
    """An Epinions-like trust graph: a mutual clique of hubs that most accounts follow one way,
    plus a few one-way follows among the others; honest trust sits far below the even-spread
    level there."""
    g = np.random.default_rng(seed)
    rows = [(h, k) for h in range(hubs) for k in range(hubs) if h != k]
    for u in range(hubs, n):
        rows += [(u, int(h)) for h in g.choice(hubs, 3, replace=False)]
        rows += [(u, int(v)) for v in g.choice(np.arange(hubs, n), 2, replace=False) if v != u]
        if g.random() < 0.1:
            rows.append((int(g.integers(hubs)), u))
    social = pd.DataFrame(rows, columns=["user", "friend"]).drop_duplicates()
    inter = pd.concat([
        pd.DataFrame({"user": np.repeat(np.arange(n), 5), "item": g.integers(0, 50, 5 * n),
                      "kind": "recommend"}),
        pd.DataFrame({"user": np.arange(n), "item": g.integers(0, 50, n), "kind": "purchase"}),
    ]).drop_duplicates(["user", "item", "kind"])
    return hr.Dataset.from_frames(inter, social)


def test_sybil_cut_follows_the_median_judged_account():
    """On a one-way trust graph a typical honest account holds a fraction of the even-spread
    level: a cut in those units flags half the honest accounts; the default unit (the median
    judged account) flags far fewer and still every sybil behind one attack edge."""
    atk = hr.attacks.inject(_one_way_hub_world(), n_sybils=30, attack_edges=1, seed=0)
    d = atk.dataset
    syb, honest = d.user_index(atk.attackers), hr.attacks.honest_mask(d)
    med = hr.trust.defend(d)
    even = hr.trust.defend(d, sybil_reference="even")
    judged = np.diff(d.social_matrix(weighted=False).tocsc().indptr) > 0
    t = med.account_trust
    assert np.median(t[judged]) < 0.5  # honest trust well below the even-spread level
    cut = hr.trust.sybil_cut(t, judged, hr.trust.DEFAULT_DEFENCE["sybil_threshold"])
    assert med.report["sybil_cut"] == pytest.approx(cut) and cut < even.report["sybil_cut"]
    np.testing.assert_array_equal(med.suspicious, judged & (t < cut))
    assert med.suspicious[syb].all() and even.suspicious[syb].all()
    assert med.suspicious[honest].mean() < 0.5 * even.suspicious[honest].mean()
    # the reference is capped at the even-spread level, and nothing judged means no cut
    assert hr.trust.sybil_cut(np.array([3.0, 4.0]), np.array([True, True]), 0.2) == pytest.approx(0.2)
    assert hr.trust.sybil_cut(np.array([0.4, 0.2]), np.array([True, True]), 0.5) == pytest.approx(0.15)
    assert hr.trust.sybil_cut(np.array([0.4, 0.2]), np.array([False, False]), 0.5) == 0.0
    assert hr.trust.sybil_cut(np.array([0.4, 0.2]), np.array([True, True]), 0.5, "even") == 0.5
    with pytest.raises(ValueError, match="'sybil_reference'.*'median' or 'even'"):
        hr.trust.defend(d, sybil_reference="mean")


def test_defended_ranker_round_trips(synth, tmp_path):
    atk = hr.attacks.inject(synth, n_sybils=30, attack_edges=2, seed=0)
    r = hr.rankers.make("trust", defence={"sybil_threshold": 0.1}).fit(atk.dataset)
    assert r.defence_report_["suspicious_accounts"] >= 30
    users = list(hr.attacks.honest_users(atk.dataset)[:50])
    r2 = hr.load_ranker(r.save(tmp_path / "t.npz"))
    a, b = r.recommend(users, n=10), r2.recommend(users, n=10)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    # the popularity fallback counts the cleaned data: sybil endorsements do not inflate it
    t = atk.dataset.item_index([atk.target])[0]
    plain = hr.rankers.make("trust", defence=None).fit(atk.dataset)
    assert r.fallback_[t] < plain.fallback_[t]
    with pytest.raises(ValueError, match="'defence'"):
        hr.rankers.make("trust", defence="yes").fit(synth)


# ----------------------------------------------------------------------------- robustness
def test_trust_resists_a_sybil_promotion_that_fools_popularity(synth):
    """100 sybils with 5 attack edges all recommend one cold item (and popular fillers)."""
    atk = hr.attacks.inject(synth, attack="review_padding", n_sybils=100, attack_edges=5,
                            n_filler=10, seed=0)
    users = hr.attacks.honest_users(atk.dataset)
    hits = {}
    for name, params in [("popularity", {}), ("trust", {}), ("trust", {"defence": True})]:
        for data in ("clean", "attacked"):
            r = hr.rankers.make(name, **params).fit(synth if data == "clean" else atk.dataset)
            hits[(name, bool(params), data)] = hr.attacks.exposure(
                r, atk.target, users, ranks=False)["hits"]
    n = len(users)
    gain = {k[:2]: (hits[(*k[:2], "attacked")] - hits[(*k[:2], "clean")]) / n for k in hits}
    assert gain[("popularity", False)] > 0.5  # the attack works on a non-social ranker
    assert gain[("trust", False)] < 0.05  # trust: only users next to the attack edges
    assert gain[("trust", True)] <= 0.002  # with the defences: next to nothing
    assert gain[("trust", True)] <= gain[("trust", False)] < gain[("popularity", False)] / 10
