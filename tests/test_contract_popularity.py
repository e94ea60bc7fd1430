"""The popularity ranker: the shared contract and its shared-ranking recommend path."""

import numpy as np
import pytest

import haowurank as hr
from haowurank.rankers._base import Ranker
from haowurank.testing import RankerContract, small_world


class TestPopularityContract(RankerContract):
    name = "popularity"
    params = {"kind_weights": {"purchase": 1.0, "recommend": 2.0}}


@pytest.mark.parametrize("exclude_seen", [True, False])
@pytest.mark.parametrize("with_cand", [False, True])
@pytest.mark.parametrize("n", [1, 7, 60])
def test_shared_ranking_path_equals_the_dense_path(exclude_seen, with_cand, n):
    """Walking the one popularity order and skipping seen items gives exactly the base class's
    dense top-n (ties by lower index, -1/-inf pads), with a candidate set or without."""
    ds = small_world()
    r = hr.rankers.make("popularity", kind_weights={"purchase": 1.0}).fit(ds)  # many ties
    assert len(np.unique(r.item_scores_)) < len(r.item_scores_)
    uidx = np.arange(ds.n_users)
    cand = (np.arange(ds.n_items) % 3 != 0) if with_cand else None
    fast = r._recommend_idx(uidx, n, exclude_seen, cand)
    dense = Ranker._recommend_idx(r, uidx, n, exclude_seen, cand)
    np.testing.assert_array_equal(fast[0], dense[0])
    np.testing.assert_array_equal(fast[1], dense[1])
    if exclude_seen:
        got = fast[0][fast[0] >= 0]
        rows = np.nonzero(fast[0] >= 0)[0]
        assert not np.asarray(r.seen_[rows, got]).any()
    # a batch with an unknown user takes the dense path for everyone, with the same known rows
    mixed = r._recommend_idx(np.r_[uidx[:3], -1], n, exclude_seen, cand)
    np.testing.assert_array_equal(mixed[0][:3], dense[0][:3])
