"""TrustRanker keeps the wider-circle rows it walked until the next fit: scores are unchanged."""
from __future__ import annotations

import numpy as np

import haowurank as hr
from haowurank.rankers import _social


def _pairs(r, users):
    n = len(r.item_ids_)
    return np.repeat(users, n), np.tile(np.arange(n), len(users))


def test_kept_rows_give_the_scores_of_a_fresh_walk(monkeypatch):
    ds = hr.datasets.synthetic(n_users=400, n_items=150, seed=3)
    users = np.array([5, 17, 5, 300, 42, 17], dtype=np.int64)  # repeats, unsorted
    fresh = hr.rankers.make("trust").fit(ds)
    want = fresh.score_pairs_at(*_pairs(fresh, users))
    r = hr.rankers.make("trust").fit(ds)
    r.score_pairs_at(*_pairs(r, users[:3]))  # walks 5 and 17 and keeps them
    got = r.score_pairs_at(*_pairs(r, users))  # 5 and 17 from the kept rows
    np.testing.assert_array_equal(got, want)
    assert r.score_pairs_at(*_pairs(r, users)).tobytes() == want.tobytes()
    # a refit on other data forgets the rows: scores equal a fresh fit's on that data
    other = hr.datasets.synthetic(n_users=400, n_items=150, seed=4)
    r.fit(other)
    ref = hr.rankers.make("trust").fit(other)
    np.testing.assert_array_equal(r.score_pairs_at(*_pairs(r, users)),
                                  ref.score_pairs_at(*_pairs(ref, users)))
    # a full store keeps nothing more, and scores stay the same
    monkeypatch.setattr(_social, "WIDER_ROWS_KEPT", 0)
    r2 = hr.rankers.make("trust").fit(ds)
    np.testing.assert_array_equal(r2.score_pairs_at(*_pairs(r2, users)), want)
    assert not r2.__dict__["_wider_kept"][1]
