"""The shared ranker contract for the social rankers (friend_endorsements, trust)."""

import pytest

import haowurank as hr
from haowurank.testing import RankerContract, small_world


class TestFriendEndorsementsContract(RankerContract):
    name = "friend_endorsements"
    params = {"kinds": ["recommend", "recommend_after_purchase"]}


class TestFriendEndorsementsStrictContract(RankerContract):
    name = "friend_endorsements"
    params = {"kinds": ["recommend_after_purchase"], "fallback": "none"}


def test_social_rankers_refuse_other_peoples_purchases():
    """The privacy rule: friends' purchases are no per-person signal (they used to count)."""
    ds = small_world()
    with pytest.raises(ValueError, match=r"'kinds' parameter of FriendEndorsementRanker.*privacy"):
        hr.rankers.make("friend_endorsements", kinds=["purchase", "recommend"]).fit(ds)
    with pytest.raises(ValueError, match=r"'kind_weights' parameter of TrustRanker.*privacy"):
        hr.rankers.make("trust", kind_weights={"purchase": 0.5, "recommend": 1.0}).fit(ds)


class TestTrustContract(RankerContract):
    name = "trust"
    params = {"max_hops": 3, "trust_weight": 0.5, "half_life_days": 30.0}


class TestTrustFillContract(RankerContract):
    name = "trust"
    params = {"fill": True, "adoption_weight": 1.0, "kind_weights": {"recommend_after_purchase": 1.0, "recommend": 1.0}}
