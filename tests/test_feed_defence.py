"""The feed's defence: sybils' endorsements are neither shown nor counted (issue 8)."""

from __future__ import annotations

import numpy as np
import pytest

import haowurank as hr
from haowurank.feed import FeedIndex
from haowurank.testing import small_world


@pytest.fixture(scope="module")
def base():
    """small_world with every endorsement of one cold item removed: after the attack the item
    is endorsed by sybils only."""
    ds0 = small_world()
    target = hr.attacks.pick_target(ds0, "cold", seed=0)
    inter = ds0.interactions
    endorse = inter["kind"].isin(["recommend", "recommend_after_purchase"])
    ds = ds0.select_interactions(~((inter["item"] == target) & endorse).to_numpy())
    return ds, target


@pytest.fixture(scope="module", params=[0, 1], ids=["non-buyer sybils", "buyer sybils"])
def attacked(base, request):
    ds, target = base
    # cover_purchases=1: each sybil keeps a real purchase, so only the structural defence
    # (SybilRank account trust) can catch it
    atk = hr.attacks.inject(ds, target, attack="bandwagon", n_sybils=10, attack_edges=1,
                            cover_purchases=request.param, seed=0)
    honest = atk.attack_edges["honest"].tolist()
    assert honest, "the attack must hold an attack edge"
    return atk, target, honest[0]


def _items(feed):
    return set(feed["item"])


def _endorsers(feed):
    return {e for row in feed["endorsers"] for e in row}


def test_sybil_only_target_reaches_an_honest_follower_without_the_defence(attacked):
    atk, target, viewer = attacked
    ds = atk.dataset
    feed = hr.feed.build(ds, None, viewer, n=100)
    assert target in _items(feed)  # the attack works on the undefended feed
    row = feed[feed["item"] == target].iloc[0]
    assert set(row["endorsers"]) <= set(atk.attackers)


@pytest.mark.parametrize("how", ["true", "result", "mask", "ids"])
def test_the_defence_keeps_the_target_and_sybils_out_of_the_feed(attacked, how):
    atk, target, viewer = attacked
    ds = atk.dataset
    sybil_mask = np.zeros(ds.n_users, dtype=bool)
    sybil_mask[ds.user_index(atk.attackers)] = True
    defence = {"true": True, "result": hr.trust.defend(ds), "mask": sybil_mask,
               "ids": list(atk.attackers)}[how]
    if how == "result":
        feed = hr.feed.build(ds, None, viewer, n=100, index=FeedIndex(ds, defence=defence))
    else:
        feed = hr.feed.build(ds, None, viewer, n=100, defence=defence)
    assert target not in _items(feed)
    # no sybil is shown (nor counted: every entry's strength comes from honest endorsers)
    assert not (_endorsers(feed) & set(atk.attackers))
    assert len(feed) > 0  # honest friends' endorsements are still there


def test_defended_index_reports_the_suppressed_accounts(attacked):
    atk, _, _ = attacked
    ds = atk.dataset
    idx = FeedIndex(ds, defence=True)
    assert idx.suppressed is not None and idx.suppressed.shape == (ds.n_users,)
    assert idx.suppressed[ds.user_index(atk.attackers)].all()
    assert idx.defence_report["suspicious_accounts"] == int(idx.suppressed.sum())
    assert FeedIndex(ds).suppressed is None
    # a defended feed is a different feed: its cursors are not valid for the undefended one
    assert idx.fingerprint != FeedIndex(ds).fingerprint


def test_the_defence_is_computed_once_not_per_request(attacked, monkeypatch):
    atk, _, viewer = attacked
    ds = atk.dataset.select_interactions(np.ones(atk.dataset.n_interactions, dtype=bool))
    calls = []
    real = hr.trust.defend

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(hr.trust, "defend", counting)
    first = hr.feed.build(ds, None, viewer, n=5, defence=True)
    again = hr.feed.build(ds, None, viewer, n=5, defence=True)
    page2 = hr.feed.build(ds, None, viewer, n=5, defence=True, cursor=first.attrs["next_cursor"])
    assert len(calls) == 1
    assert first["item"].tolist() == again["item"].tolist()
    assert _items(first).isdisjoint(_items(page2))
    idx = hr.feed.index_for(ds, None, True)
    assert idx is hr.feed.index_for(ds, None, True)
    # the single-user path of a service uses the prebuilt index: no defence call either
    idx.page(None, viewer, n=5)
    assert len(calls) == 1


def test_a_cursor_of_the_undefended_feed_is_stale_on_the_defended_one(attacked):
    atk, _, viewer = attacked
    ds = atk.dataset
    page = hr.feed.build(ds, None, viewer, n=2)
    assert page.attrs["next_cursor"] is not None
    with pytest.raises(hr.feed.StaleCursorError):
        hr.feed.build(ds, None, viewer, n=2, defence=True, cursor=page.attrs["next_cursor"])


def test_clean_world_without_suspicious_accounts_keeps_every_endorser(base):
    ds, _ = base
    users = list(ds.user_ids)
    off = hr.feed.build(ds, None, users, n=100)
    on = hr.feed.build(ds, None, users, n=100, defence={"verify": False})
    # nobody is suspicious in the honest world: the same entries and endorsers
    assert FeedIndex(ds, defence={"verify": False}).suppressed.sum() == 0
    assert off[["user", "item"]].equals(on[["user", "item"]])
    assert off["endorsers"].tolist() == on["endorsers"].tolist()


def test_bad_defence_arguments_are_clear_errors(attacked, base):
    atk, _, viewer = attacked
    ds = atk.dataset
    with pytest.raises(TypeError, match="'defence'.*Got str"):
        FeedIndex(ds, defence="yes")
    with pytest.raises(ValueError, match=r"'defence' mask.*shape \(n_users="):
        FeedIndex(ds, defence=np.zeros(3, dtype=bool))
    with pytest.raises(hr.UnknownIdError, match="no_such_user"):
        FeedIndex(ds, defence=["no_such_user"])
    other = hr.trust.defend(base[0])
    with pytest.raises(ValueError, match="another dataset"):
        FeedIndex(ds, defence=other)
    with pytest.raises(ValueError, match="'defence' when building the FeedIndex"):
        hr.feed.build(ds, None, viewer, n=5, index=FeedIndex(ds), defence=True)
    with pytest.raises(ValueError, match="sybil_threshold"):
        FeedIndex(ds, defence={"sybil_threshold": -1})


def test_service_feed_defence(attacked):
    from haowurank.serving import RankerService

    atk, target, viewer = attacked
    ds = atk.dataset
    pop = hr.rankers.make("popularity").fit(ds)
    plain = RankerService(ds, pop)
    guarded = RankerService(ds, pop, feed_defence=True)
    assert target in set(plain.feed_page(viewer, n=100).items)
    page = guarded.feed_page(viewer, n=100)
    assert target not in set(page.items)
    assert not ({e for es in page.endorsers for e in es} & set(atk.attackers))
    # an update recomputes the defence on the new data (the new sybil follower is honest)
    new = guarded.update(social=atk.attack_edges.rename(columns={"honest": "user",
                                                                 "sybil": "friend"}))
    assert target not in set(new.feed_index.page(pop, viewer, 100).items)
    with pytest.raises(TypeError, match="'feed_defence'.*list"):
        RankerService(ds, pop, feed_defence=[1, 2])
