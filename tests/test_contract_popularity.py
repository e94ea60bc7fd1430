from haowurank.testing import RankerContract


class TestPopularityContract(RankerContract):
    name = "popularity"
    params = {"kind_weights": {"purchase": 1.0, "recommend": 2.0}}
