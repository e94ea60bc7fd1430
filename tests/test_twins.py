"""One implementation per concern: report formats, evaluation and sim compare."""

from __future__ import annotations

import pandas as pd

import haowurank as hr
from haowurank import report
from haowurank.testing import small_world


def test_report_only_formats():
    for twin in ("simulate", "offline_comparison", "DATASET_FOLDERS"):
        assert not hasattr(report, twin), twin
    assert "simulate" not in report.__all__ and "offline_comparison" not in report.__all__


def test_evaluation_compare_per_user():
    ds = small_world()
    train, test = hr.split.random_split(ds, seed=0)
    table, frames = hr.evaluation.compare(["popularity", "trust"], train, test, k=(5,),
                                          per_user=True)
    assert list(table["strategy"]) == ["popularity", "trust"] and set(frames) == {"popularity",
                                                                                   "trust"}
    for name, frame in frames.items():
        row = table.set_index("strategy").loc[name]
        assert len(frame) == row["users"]
        assert frame["NDCG@5"].mean() == row["NDCG@5"]
    plain = hr.evaluation.compare(["popularity", "trust"], train, test, k=(5,))
    cols = [c for c in plain.columns if not c.endswith("_s") and c != "users_per_s"]
    pd.testing.assert_frame_equal(plain[cols], table[cols])
    curve = report.cold_start_curve(frames, 5, min_users=1)
    assert set(curve["strategy"]) == {"popularity", "trust"}


def test_one_topk_kernel():
    """topk (dense) and sparse_topk (triples) are one kernel: same lists, same tie-break."""
    import numpy as np

    from haowurank.rankers import sparse_topk, topk

    rng = np.random.default_rng(3)
    for n_items, n in ((40, 5), (3000, 7)):
        s = rng.integers(0, 6, size=(9, n_items)).astype(np.float32)  # many ties
        s[s == 0] = -np.inf
        s[4] = -np.inf  # a row without candidates
        r, c = np.nonzero(np.isfinite(s))
        i1, v1 = topk(s, n)
        i2, v2 = sparse_topk(r, c, s[r, c], s.shape[0], n)
        np.testing.assert_array_equal(i1, i2)
        np.testing.assert_array_equal(v1, v2)
        assert (i1[4] == -1).all()
        for row in range(9):  # ties by the lower item index
            fin = i1[row] >= 0
            key = list(zip(-v1[row][fin], i1[row][fin]))
            assert key == sorted(key)


def test_one_parameter_wording():
    """Parameter checks of different parts share one helper, so one wording."""
    import numpy as np
    import pytest

    from haowurank import _checks

    assert _checks.is_int(np.int64(3), 1) and not _checks.is_int(True) and not _checks.is_int(2.0)
    assert _checks.is_real(np.float32(0.5), 0.0, strict=True) and not _checks.is_real(float("nan"))
    assert not _checks.is_real(0.0, 0.0, strict=True) and _checks.is_real(0, 0.0)
    train = small_world()
    with pytest.raises(ValueError, match=r"^The 'n_resamples' parameter of catalogue_intervals "
                                         r"must be an int >= 1\. Got 0 instead\.$"):
        hr.evaluation.catalogue_intervals(pd.DataFrame(), train, k=5, n_resamples=0)
    with pytest.raises(ValueError, match=r"^The 'n_sybils' parameter of attacks\.add_sybils "
                                         r"must be an int >= 1\. Got True instead\.$"):
        hr.attacks.add_sybils(train, n_sybils=True, attack_edges=1)
    with pytest.raises(ValueError, match=r"^The 'factors' parameter of world_from_dataset must "
                                         r"be an int >= 1\. Got 0 instead\.$"):
        hr.sim.world_from_dataset(train, factors=0)
    with pytest.raises(ValueError, match=r"^The 'level' parameter of catalogue_intervals must be "
                                         r"a float in \(0, 1\)\. Got 1\.0 instead\.$"):
        hr.evaluation.catalogue_intervals(pd.DataFrame(), train, k=5, level=1.0)
    with pytest.raises(TypeError, match=r"'train' argument of catalogue_intervals must be a "
                                        r"haowurank Dataset\. Got list instead"):
        hr.evaluation.catalogue_intervals(pd.DataFrame(), [], k=5)
    # index arrays: the feed's and search's index paths share one check
    idx = hr.feed.index_for(train)
    for call in (lambda u: idx.build_indices(None, u, n=3),
                 lambda u: hr.search.SearchIndex(train).query_indices(["x"] * len(u), u, n=3)):
        with pytest.raises(IndexError, match=rf"user indices in \[0, {train.n_users}\)\. "
                                             r"Got values from -1 to 0 instead\.$"):
            call(np.array([0, -1]))
        with pytest.raises(ValueError, match=r"1-d array of (2 )?user indices\. Got an array "
                                             r"of dtype float64 and shape \(2,\) instead\.$"):
            call(np.array([0.0, 1.0]))
