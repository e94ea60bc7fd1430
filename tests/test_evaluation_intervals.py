"""Intervals for the catalogue metrics (Coverage, Gini, MerchantGini): the per-user frame carries
each user's list, the estimates equal evaluate's, known answers, and bad input named."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import haowurank as hr
from haowurank.evaluation import catalogue_intervals
from haowurank.testing import small_world

Z95 = 1.959963984540054


@pytest.fixture(scope="module")
def parts():
    return hr.split.random_split(small_world(), test_fraction=0.3, seed=0)


@pytest.fixture(scope="module")
def evaluated(parts):
    train, test = parts
    return {s: hr.evaluate(s, train, test, k=(5, 10), per_user=True)
            for s in ("popularity", "trust")}


def _frame(lists) -> pd.DataFrame:
    return pd.DataFrame({"user": range(len(lists)), "top_items": [tuple(x) for x in lists]})


def test_per_user_frame_carries_each_users_list(parts, evaluated):
    train, _ = parts
    _, frame = evaluated["trust"]
    ranker = hr.rankers.make("trust").fit(train)
    ids, _ = ranker.recommend(list(frame["user"]), n=10)
    lengths = set()
    for row, got in zip(ids, frame["top_items"]):
        assert isinstance(got, tuple)
        assert list(got) == [i for i in row if i != -1]  # ids, best first, without the pads
        lengths.add(len(got))
    assert max(lengths) == 10 and min(lengths) < 10  # this world has short trust lists
    assert set(i for t in frame["top_items"] for i in t) <= set(train.item_ids)


@pytest.mark.parametrize("strategy", ["popularity", "trust"])
def test_estimates_equal_evaluate_and_intervals_contain_them(parts, evaluated, strategy):
    train, _ = parts
    row, frame = evaluated[strategy]
    ci = catalogue_intervals(frame, train, k=(5, 10), n_resamples=300)
    assert list(ci["metric"]) == ["Coverage@5", "Gini@5", "MerchantGini@5", "Coverage@10",
                                  "Gini@10", "MerchantGini@10"]
    assert (ci["users"] == row["users"]).all()
    for r in ci.itertuples():
        assert r.estimate == pytest.approx(row[r.metric], abs=1e-12), r.metric
        assert 0.0 <= r.ci_low <= r.estimate <= r.ci_high <= 1.0, r
    assert set(ci["method"]) == {"jackknife over users (normal)",
                                 "bootstrap over users (bias-corrected percentile)"}
    # the Gini family's intervals have width (users differ); a wider level is wider
    gini = ci.set_index("metric").loc["Gini@10"]
    assert gini["ci_high"] > gini["ci_low"]
    wide = catalogue_intervals(frame, train, k=10, level=0.99, n_resamples=300)
    narrow = catalogue_intervals(frame, train, k=10, level=0.5, n_resamples=300)
    for m in ("Gini@10", "Coverage@10"):
        w = wide.set_index("metric").loc[m]
        n = narrow.set_index("metric").loc[m]
        assert w["ci_high"] - w["ci_low"] >= n["ci_high"] - n["ci_low"]


def test_position_weighted_gini_equals_evaluate(parts):
    train, test = parts
    row, frame = hr.evaluate("trust", train, test, k=10, per_user=True, position_weighted=True)
    ci = catalogue_intervals(frame, train, k=10, position_weighted=True, n_resamples=100)
    got = ci.set_index("metric")
    assert got.loc["Gini@10", "estimate"] == pytest.approx(row["Gini@10"], abs=1e-12)
    assert got.loc["MerchantGini@10", "estimate"] == pytest.approx(row["MerchantGini@10"],
                                                                    abs=1e-12)
    plain = catalogue_intervals(frame, train, k=10, n_resamples=100).set_index("metric")
    assert got.loc["Gini@10", "estimate"] != plain.loc["Gini@10", "estimate"]


def test_seeded_and_reproducible(parts, evaluated):
    train, _ = parts
    _, frame = evaluated["trust"]
    a = catalogue_intervals(frame, train, k=10, n_resamples=200, seed=3)
    b = catalogue_intervals(frame, train, k=10, n_resamples=200, seed=3)
    c = catalogue_intervals(frame, train, k=10, n_resamples=200, seed=4)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["ci_low"][1:], c["ci_low"][1:])  # Gini rows use the draws
    # the coverage jackknife uses no draws
    assert a["ci_low"][0] == c["ci_low"][0]


def test_same_list_for_everyone_gives_degenerate_intervals(parts):
    train, _ = parts
    same = list(train.item_ids[:5])
    ci = catalogue_intervals(_frame([same] * 30), train, k=5, n_resamples=200)
    for r in ci.itertuples():
        assert r.ci_low == pytest.approx(r.estimate, abs=1e-12), r.metric
        assert r.ci_high == pytest.approx(r.estimate, abs=1e-12), r.metric
    cov = ci.set_index("metric").loc["Coverage@5"]
    assert cov["estimate"] == pytest.approx(5 / train.n_items)


def test_coverage_jackknife_known_answer(parts):
    """Users A and B share items 0 and 1, user C alone has items 2 and 3: leaving C out drops
    2 items, A or B none; jackknife se = sqrt(2/3 * sum((s - mean s)^2)) = 4 / (3 n_items)."""
    train, _ = parts
    i = list(train.item_ids[:4])
    ci = catalogue_intervals(_frame([[i[0], i[1]], [i[1], i[0]], [i[2], i[3]]]), train, k=2,
                             n_resamples=50)
    cov = ci.set_index("metric").loc["Coverage@2"]
    n_items = train.n_items
    assert cov["estimate"] == pytest.approx(4 / n_items)
    se = 4 / (3 * n_items)
    assert cov["ci_low"] == pytest.approx(4 / n_items - Z95 * se)
    assert cov["ci_high"] == pytest.approx(4 / n_items + Z95 * se)


def test_short_lists_and_cutoff(parts):
    """Lists shorter than k count what they hold; a cutoff below the lists' length cuts them."""
    train, _ = parts
    i = list(train.item_ids[:6])
    frame = _frame([i[:6], i[:2], i[3:5]])
    ci = catalogue_intervals(frame, train, k=(2, 6), n_resamples=50).set_index("metric")
    assert ci.loc["Coverage@2", "estimate"] == pytest.approx(4 / train.n_items)  # {0, 1, 3, 4}
    assert ci.loc["Coverage@6", "estimate"] == pytest.approx(6 / train.n_items)


def test_too_few_users_gives_nan_intervals(parts):
    train, _ = parts
    one = catalogue_intervals(_frame([list(train.item_ids[:3])]), train, k=3)
    assert one["estimate"].notna().all()
    assert one["ci_low"].isna().all() and one["ci_high"].isna().all()
    none = catalogue_intervals(_frame([]), train, k=3)
    assert len(none) and none["estimate"].isna().all() and (none["users"] == 0).all()


def test_no_merchants_no_merchant_rows():
    ds = hr.Dataset.from_frames(
        interactions=pd.DataFrame({"user": [1, 1, 2, 2, 3], "item": [10, 11, 11, 12, 10]}))
    ci = catalogue_intervals(_frame([[10, 11], [11, 12], [12, 10]]), ds, k=2, n_resamples=20)
    assert list(ci["metric"]) == ["Coverage@2", "Gini@2"]
    assert ci.set_index("metric").loc["Coverage@2", "estimate"] == 1.0


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"k": 0}, ValueError, r"'k' parameter of catalogue_intervals"),
        ({"k": 20, "level": 1.5}, ValueError, r"'level' parameter .* \(0, 1\)\. Got 1\.5"),
        ({"k": 20, "level": True}, ValueError, r"'level' parameter"),
        ({"k": 20, "n_resamples": 0}, ValueError, r"'n_resamples' parameter .* Got 0"),
    ],
)
def test_bad_parameters_are_named(parts, evaluated, kwargs, exc, match):
    train, _ = parts
    with pytest.raises(exc, match=match):
        catalogue_intervals(evaluated["trust"][1], train, **kwargs)


def test_bad_inputs_are_named(parts, evaluated):
    train, _ = parts
    frame = evaluated["trust"][1]
    with pytest.raises(TypeError, match=r"'per_user' argument .* Got dict"):
        catalogue_intervals({"top_items": []}, train)
    with pytest.raises(KeyError, match=r"lacks the column 'top_items'"):
        catalogue_intervals(frame.drop(columns="top_items"), train)
    with pytest.raises(TypeError, match=r"'train' argument .* Got DataFrame"):
        catalogue_intervals(frame, frame)
    with pytest.raises(ValueError, match=r"names item 'nope', which is not an item of 'train'"):
        catalogue_intervals(_frame([["nope"]]), train, k=1)
    i = train.item_ids[0]
    with pytest.raises(ValueError, match=r"repeats an item within one list \(row 1"):
        catalogue_intervals(_frame([[i], [i, i]]), train, k=2)
    with pytest.raises(TypeError, match=r"one sequence of item ids per user. Got str"):
        catalogue_intervals(pd.DataFrame({"top_items": ["abc"]}), train, k=1)
    assert not math.isnan(catalogue_intervals(frame, train, k=10)["estimate"][0])
