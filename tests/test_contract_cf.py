"""The shared ranker contract for the collaborative-filtering strategies (small, fast params)."""

from haowurank.testing import RankerContract


class TestALSContract(RankerContract):
    name = "als"
    params = {"factors": 8, "iterations": 5, "random_state": 1, "num_threads": 1}


class TestBPRContract(RankerContract):
    name = "bpr"
    params = {"factors": 8, "iterations": 5, "random_state": 1}


class TestItemKNNContract(RankerContract):
    name = "item_knn"
    params = {"K": 10, "similarity": "cosine", "num_threads": 1}


class TestEaseContract(RankerContract):
    name = "ease"
    params = {"regularization": 50.0}


class TestRP3BetaContract(RankerContract):
    name = "rp3beta"
    params = {"alpha": 0.6, "beta": 0.3, "K": 15}


class TestSocialALSContract(RankerContract):
    name = "social_als"
    params = {
        "factors": 8,
        "iterations": 5,
        "social_weight": 0.5,
        "social_reg": 0.2,
        "random_state": 1,
        "num_threads": 1,
    }
