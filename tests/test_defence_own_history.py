"""The defence keeps a flagged account's own history for its own recommendations, and nothing a
flagged account did reaches another user's scores (``trust.defended_views``, ``hybrid``)."""

from __future__ import annotations

import numpy as np
import pytest

import haowurank as hr
from haowurank.kinds import ENDORSEMENT_KINDS
from haowurank.rankers._hybrid_parts import withheld_rows
from haowurank.testing import small_world

SMALL = {"als": {"factors": 8, "iterations": 3, "num_threads": 1}, "ease_items": 30,
         "n_candidates": 10, "n_random": 5, "spline_knots": 0}


@pytest.fixture(scope="module", params=[0, 3], ids=["non-buyers", "buyer-sybils"])
def attacked(request):
    """(attack, defence): sybils promoting item 101, without purchases (the non-buyer step
    withholds their endorsements) or with 3 cover purchases each (SybilRank's cut, seeded on
    the honest accounts, withholds them)."""
    world = small_world()
    atk = hr.attacks.inject(world, target=101, n_sybils=10, attack_edges=1,
                            cover_purchases=request.param, seed=0)
    defence = {"seeds": list(world.user_ids)} if request.param else {}
    return atk, defence


def _without_sybil_endorsements(ds, sybils):
    """``ds`` with the sybils' endorsement rows removed by hand."""
    a = ds.interaction_arrays()
    who = np.zeros(ds.n_users, dtype=bool)
    who[sybils] = True
    kinds = [hr.kinds.KINDS.index(k) for k in ENDORSEMENT_KINDS]
    return ds.select_interactions(~(who[a["user"]] & np.isin(a["kind"], kinds)))


def test_own_view_adds_back_only_the_withheld_rows(attacked):
    attacked, defence = attacked
    ds = attacked.dataset
    res = hr.trust.defend(ds, **defence)
    sybils = ds.user_index(attacked.attackers)
    assert res.report["own_history_rows"] > 0
    assert res.own.n_interactions == res.dataset.n_interactions + res.report["own_history_rows"]
    extra = withheld_rows(res.own, res.dataset)
    assert len(extra) == res.report["own_history_rows"]
    assert set(extra["user"]) <= set(attacked.attackers)
    assert (extra["item"] == 101).any()
    shared, own, report = hr.trust.defended_views(ds, defence or True)
    assert shared.equals(res.dataset) and own.equals(res.own)
    assert report == res.report
    # off: no own view; defended_training_data never builds one
    assert hr.trust.defend(ds, own_history=False, **defence).own is None
    assert "own_history_rows" not in hr.trust.defended_training_data(ds, defence or True)[1]
    s2, o2, _ = hr.trust.defended_views(ds, {**defence, "own_history": False})
    assert o2 is s2
    assert res.suspicious[sybils].all()


def test_own_history_parameter_is_checked(attacked):
    with pytest.raises(ValueError, match="'own_history' defence parameter must be a bool"):
        hr.trust.defended_views(attacked[0].dataset, {"own_history": "yes"})


@pytest.fixture(scope="module")
def fits(attacked):
    attacked, defence = attacked
    ds = attacked.dataset
    sybils = ds.user_index(attacked.attackers)
    hand = _without_sybil_endorsements(ds, sybils)
    on = hr.rankers.make("hybrid", **SMALL, defence=defence or True).fit(ds)
    off = hr.rankers.make("hybrid", **SMALL, defence={**defence, "own_history": False}).fit(ds)
    by_hand = hr.rankers.make("hybrid", **SMALL, defence=defence or True).fit(hand)
    return attacked, defence, on, off, by_hand


def test_other_users_scores_are_bit_identical_without_the_flagged_rows(fits):
    attacked, _, on, off, by_hand = fits
    ds = attacked.dataset
    sybils = ds.user_index(attacked.attackers)
    honest = list(np.delete(ds.user_ids, sybils))
    s_on = on.score(honest)
    np.testing.assert_array_equal(s_on, by_hand.score(honest))
    np.testing.assert_array_equal(s_on, off.score(honest))
    np.testing.assert_array_equal(on.recommend(honest, n=10)[0],
                                  by_hand.recommend(honest, n=10)[0])
    # the two-stage serving path agrees as well (pair scores at the served candidates)
    np.testing.assert_array_equal(on.recommend(honest[:5], n=5)[1],
                                  by_hand.recommend(honest[:5], n=5)[1])
    # the target reaches no honest user's top 10 through the sybils
    assert not (on.recommend(honest, n=10)[0] == ds.item_index([101])[0]).any()


def test_flagged_account_is_scored_from_its_own_history(fits):
    attacked, defence, on, off, _ = fits
    ds = attacked.dataset
    sybils = ds.user_index(attacked.attackers)
    ids = list(attacked.attackers)
    # its list differs from the fully dropped variant, and never repeats what it endorsed
    assert not np.array_equal(on.recommend(ids, n=5)[0], off.recommend(ids, n=5)[0])
    target = ds.item_index([101])[0]
    assert not (on.recommend(ids, n=5)[0] == target).any()
    assert (on.parts_.binary[sybils][:, target].toarray() == 1).all()
    assert (on.parts_.neighbour_rows[sybils][:, target].toarray() == 0).all()
    # it matches the fully dropped model with the withheld rows folded into its user side
    shared, own, _ = hr.trust.defended_views(ds, defence or True)
    off.parts_.als.partial_fit_users(withheld_rows(own, shared))
    np.testing.assert_allclose(on.parts_.als.model_.user_factors[sybils],
                               off.parts_.als.model_.user_factors[sybils], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(on.parts_.als.model_.item_factors,
                                  off.parts_.als.model_.item_factors)


def test_save_load_keeps_the_neighbour_pool(fits, tmp_path):
    attacked, _, on, _, _ = fits
    assert on.parts_.pool is not None
    r2 = hr.load_ranker(on.save(tmp_path / "h.npz"))
    users = list(attacked.dataset.user_ids)
    np.testing.assert_array_equal(on.recommend(users, n=6)[0], r2.recommend(users, n=6)[0])
    np.testing.assert_array_equal(on.score(users), r2.score(users))


def test_own_neighbours_equal_user_knn_on_the_users_shared_rows():
    from haowurank.rankers._hybrid_neighbours import user_neighbours
    from haowurank.rankers._hybrid_parts import own_neighbours

    binary = small_world().matrix(weight="binary")
    users = np.array([0, 3, 7, 20])
    got = own_neighbours(binary[users], users, binary, 5, chunk=3)
    want = user_neighbours(binary, 5)[users]
    np.testing.assert_array_equal(got.indptr, want.indptr)
    np.testing.assert_array_equal(got.indices, want.indices)
    np.testing.assert_allclose(got.data, want.data, rtol=1e-6)
    assert not got[np.arange(len(users)), users].any()  # never the user itself


def test_fold_in_refit_and_rp3beta_keep_other_users_scores(attacked):
    attacked, defence = attacked
    ds = attacked.dataset
    sybils = ds.user_index(attacked.attackers)
    params = {**SMALL, "refit": "fold_in", "rp3beta": {"K": 20}, "defence": defence or True}
    on = hr.rankers.make("hybrid", **params).fit(ds)
    by_hand = hr.rankers.make("hybrid", **params).fit(_without_sybil_endorsements(ds, sybils))
    honest = list(np.delete(ds.user_ids, sybils))
    np.testing.assert_array_equal(on.score(honest), by_hand.score(honest))
    # the flagged accounts' own rows reach their own RP3beta rows
    target = ds.item_index([101])[0]
    assert (on.parts_.rp3.cf_[sybils][:, target].toarray() > 0).all()
    assert (by_hand.parts_.rp3.cf_[sybils][:, target].toarray() == 0).all()
