"""The evaluation harness: protocol, keys, known answers with an oracle, tuning on validation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import haowurank as hr
from haowurank.evaluation import compare, expand_grid, tune
from haowurank.rankers import Ranker
from haowurank.testing import small_world


class _Oracle(Ranker):
    """Scores the items of a given answer matrix 1, everything else 0 (not registered)."""

    name = "oracle"

    def __init__(self, answer=None):
        self.answer = answer

    def _fit(self, ds, *, show_progress, callback):
        self.m_ = self.answer

    def _score(self, uidx):
        return np.asarray(self.m_[uidx].todense(), dtype=np.float32)


@pytest.fixture(scope="module")
def parts():
    return hr.split.random_split(small_world(), test_fraction=0.3, seed=0)


def test_keys_and_ranges(parts):
    train, test = parts
    row = hr.evaluate("popularity", train, test)
    for key in ("strategy", "users", "cold_users", "fit_s", "recommend_s", "users_per_s",
                "test_pairs_untrainable"):
        assert key in row
    for fam in ("Recall", "NDCG", "MAP", "HitRate"):
        for k in (10, 20):
            assert 0.0 <= row[f"{fam}@{k}"] <= 1.0
            assert f"cold_{fam}@{k}" in row
    assert row["Recall@10"] <= row["Recall@20"] + 1e-12
    assert 0.0 < row["Coverage@20"] <= 1.0 and 0.0 <= row["Gini@20"] < 1.0
    assert "MerchantGini@20" in row and row["Novelty@20"] > 0
    assert row["users"] == int((np.diff(test.matrix(weight="binary").indptr) > 0).sum())
    assert row["fit_s"] >= 0 and row["users_per_s"] > 0


def test_oracle_is_perfect(parts):
    train, test = parts
    oracle = _Oracle(answer=test.matrix(weight="binary"))
    row = hr.evaluate(oracle, train, test, k=(5,))
    assert row["NDCG@5"] == pytest.approx(1.0)
    assert row["Recall@5"] == pytest.approx(1.0)
    assert row["MAP@5"] == pytest.approx(1.0)


def test_anti_oracle_is_zero_and_seen_excluded(parts):
    train, test = parts
    # an oracle of the *training* items: they are excluded, so it must score zero hits
    seen = _Oracle(answer=train.matrix(weight="binary"))
    row = hr.evaluate(seen, train, test, k=(5,))
    # after excluding seen items every remaining score is 0, so hits are whatever ties give;
    # what matters: no training item was ever recommended
    r = seen.recommend(list(train.user_ids), n=5)[0]
    inter = train.interactions
    for u, items in zip(train.user_ids, r):
        assert not set(items.tolist()) & set(inter.loc[inter["user"] == u, "item"])
    assert row["users"] > 0


def test_cold_users_are_counted(parts):
    train, test = parts
    row = hr.evaluate("popularity", train, test, cold_start_max=100)
    assert row["cold_users"] == row["users"]
    assert row["cold_NDCG@20"] == pytest.approx(row["NDCG@20"])
    row0 = hr.evaluate("popularity", train, test, cold_start_max=0)
    assert row0["cold_users"] == 0 and np.isnan(row0["cold_NDCG@20"])


def test_untrainable_items_are_removed():
    ds = small_world()
    inter = ds.interactions
    extra = pd.DataFrame({"user": ["u0"], "item": [999], "kind": ["purchase"]})
    ds2 = hr.Dataset.from_frames(
        pd.concat([inter[["user", "item", "kind"]], extra]), ds.social, items=None
    )
    test_mask = (ds2.interactions["item"] == 999).to_numpy()
    train, test = ds2.select_interactions(~test_mask), ds2.select_interactions(test_mask)
    row = hr.evaluate("popularity", train, test)
    assert row["test_pairs_untrainable"] == 1 and row["users"] == 0


def test_per_user_frame_and_users_subset(parts):
    train, test = parts
    users = list(train.user_ids[:10])
    row, frame = hr.evaluate("popularity", train, test, per_user=True, users=users)
    assert set(frame["user"]) <= set(users) and len(frame) == row["users"] <= 10
    assert frame["NDCG@20"].mean() == pytest.approx(row["NDCG@20"])
    assert {"n_train", "cold"} <= set(frame.columns)


def test_fitted_ranker_used_as_is(parts):
    train, test = parts
    r = hr.rankers.make("popularity").fit(train)
    row = hr.evaluate(r, train, test)
    assert np.isnan(row["fit_s"])
    with pytest.raises(ValueError, match="refit=False"):
        hr.evaluate(hr.rankers.make("popularity"), train, test, refit=False)
    with pytest.raises(ValueError, match="conflicting"):
        hr.evaluate(r, train, test, params={"kind_weights": None})


def test_bad_arguments(parts):
    train, test = parts
    with pytest.raises(ValueError, match="'k' parameter"):
        hr.evaluate("popularity", train, test, k=0)
    with pytest.raises(ValueError, match="cold_start_max"):
        hr.evaluate("popularity", train, test, cold_start_max=-1)
    with pytest.raises(TypeError, match="'train' argument"):
        hr.evaluate("popularity", "nope", test)
    with pytest.raises(ValueError, match="Unknown ranker"):
        hr.evaluate("no-such", train, test)


def test_expand_grid():
    assert expand_grid(None) == [{}]
    g = expand_grid({"a": [1, 2], "b": ["x", "y", "z"]})
    assert len(g) == 6 and g[0] == {"a": 1, "b": "x"} and g[-1] == {"a": 2, "b": "z"}
    assert len(expand_grid([{"a": [1]}, {"a": [2, 3]}])) == 3
    with pytest.raises(TypeError, match="list of values"):
        expand_grid({"a": 1})


def test_tune_uses_validation_and_picks_the_best(parts):
    train, _ = parts
    fit, val = hr.split.validation_split(train, seed=1)
    grid = {"kind_weights": [{"view": 1.0}, None, {"purchase": 1.0, "recommend": 2.0}]}
    best, table = tune("popularity", grid, fit, val, metric="NDCG@10")
    assert len(table) == 3 and table["best"].sum() == 1
    assert table.loc[0, "best"] and table["NDCG@10"].iloc[0] == table["NDCG@10"].max()
    # the chosen parameters reproduce the best validation score
    again = hr.evaluate("popularity", fit, val, k=(10,), params=best)
    assert again["NDCG@10"] == pytest.approx(table["NDCG@10"].iloc[0])
    with pytest.raises(ValueError, match="cutoff"):
        tune("popularity", None, fit, val, metric="NDCG")


def test_compare_table(parts):
    train, test = parts
    table = compare(["popularity"], train, test, k=(5, 10))
    assert list(table["strategy"]) == ["popularity"] and "NDCG@10" in table
