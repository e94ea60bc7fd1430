"""The shared ranker contract for the social rankers (friend_endorsements, trust)."""

from haowurank.testing import RankerContract


class TestFriendEndorsementsContract(RankerContract):
    name = "friend_endorsements"
    params = {"kinds": ["recommend", "recommend_after_purchase"]}


class TestFriendEndorsementsPurchasesContract(RankerContract):
    name = "friend_endorsements"
    params = {"kinds": ["purchase", "recommend", "recommend_after_purchase"], "fallback": "none"}


class TestTrustContract(RankerContract):
    name = "trust"
    params = {"max_hops": 3, "trust_weight": 0.5, "half_life_days": 30.0}


class TestTrustFillContract(RankerContract):
    name = "trust"
    params = {"fill": True, "adoption_weight": 1.0, "kind_weights": {"purchase": 1.0, "recommend": 1.0}}
