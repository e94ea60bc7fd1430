"""Real-data loaders against the verified counts of each data set's SOURCE.md.

The numbers asserted here are the ones SOURCE.md lists (computed from the files there), plus the
counts that follow from the documented repairs (drops and merges), each derived in a comment.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from conftest import data_dir

import haowurank as hr
from haowurank import DataWarning

pytestmark = pytest.mark.data

LOADERS = {
    "lastfm-hetrec2011": hr.datasets.load_lastfm,
    "ciao": hr.datasets.load_ciao,
    "epinions": hr.datasets.load_epinions,
    "filmtrust": hr.datasets.load_filmtrust,
    "ciaodvd": hr.datasets.load_ciaodvd,
}


def _load(loader, *args, **kwargs):
    """Load once, recording every warning (module fixtures cannot use pytest.warns)."""
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        ds = loader(*args, **kwargs)
    return ds, [w for w in rec if issubclass(w.category, DataWarning)]


def _messages(records) -> str:
    return "\n".join(str(w.message) for w in records)


def _reciprocated(ds: hr.Dataset) -> int:
    s = ds.social_matrix(weighted=False)
    return int(s.multiply(s.T).nnz)


def _social_nodes(ds: hr.Dataset) -> np.ndarray:
    soc = ds.social
    return np.union1d(soc["user"].to_numpy(), soc["friend"].to_numpy())


def _raters(ds: hr.Dataset) -> np.ndarray:
    return ds.user_ids[np.unique(ds._inter["user"].to_numpy())]


def _rating_counts(ds: hr.Dataset) -> dict[float, int]:
    vals, counts = np.unique(ds.interactions["weight"].to_numpy(), return_counts=True)
    return {float(v): int(c) for v, c in zip(vals, counts)}


def _check_merge_against_raw(ds: hr.Dataset, raw: dict[float, int], merged_rows: int) -> None:
    """A merged pair keeps one of its own ratings (max policy), so each rating value loses at
    most the rows merged away, never gains, and the losses add up to the merged rows."""
    got = _rating_counts(ds)
    assert set(got) <= set(raw)
    diff = {v: raw[v] - got.get(v, 0) for v in raw}
    assert all(d >= 0 for d in diff.values()), diff
    assert sum(diff.values()) == merged_rows


# ------------------------------------------------------------------------------ Last.fm

@pytest.fixture(scope="module")
def lastfm():
    return _load(hr.datasets.load_lastfm, data_dir("lastfm-hetrec2011"))


def test_lastfm_counts(lastfm):
    ds, rec = lastfm
    assert rec == []  # a clean release: nothing repaired
    assert ds.n_users == 1892
    assert ds.user_ids.min() == 2 and ds.user_ids.max() == 2100
    assert ds.n_items == 17632
    assert ds.item_ids.min() == 1 and ds.item_ids.max() == 18745
    assert ds.n_interactions == 92834
    assert not ds.has_timestamps
    # listens, not purchases: no endorsements, and search says "listened", not "bought"
    assert (ds.interactions["kind"].astype(str) == "purchase").all()
    assert ds.meta["purchase_verb"] == "listened"
    w = ds.interactions["weight"].to_numpy()
    assert w.min() == 1 and w.max() == 352698
    assert w.sum() == 69_183_975
    per_user = ds.user_counts()
    assert per_user.min() == 1 and per_user.max() == 50 and np.median(per_user) == 50
    # every artist is listened to, every user listens and has friends
    assert (np.diff(ds.matrix().tocsc().indptr) > 0).all()
    assert len(_raters(ds)) == ds.n_users
    assert len(_social_nodes(ds)) == ds.n_users
    assert set(ds.interactions["kind"].astype(str)) == {"purchase"}
    assert ds.meta["name"] == "lastfm-hetrec2011"
    assert "Cantador" in ds.meta["citation"][0]


def test_lastfm_friendships_symmetric(lastfm):
    ds, _ = lastfm
    s = ds.social_matrix(weighted=False)
    assert ds.n_social == 25434 and s.nnz == 25434
    assert (s != s.T).nnz == 0  # fully symmetric: 12,717 friendships
    assert _reciprocated(ds) == 2 * 12717
    assert s.diagonal().sum() == 0
    deg = np.diff(s.indptr)
    assert deg.min() == 1 and deg.max() == 119 and np.median(deg) == 6


def test_lastfm_artist_names_utf8(lastfm):
    ds, _ = lastfm
    titles = ds.items.set_index("item")["title"]
    assert titles[1] == "MALICE MIZER"
    assert titles.notna().all()
    assert "Röyksopp" in set(titles)  # UTF-8 decoded, not mojibake
    assert not titles.str.contains("\ufffd").any()
    # only the two names that are double-encoded in Last.fm's own data (their URLs too)
    assert titles.str.contains("Ã").sum() == 2 and titles[11681] == "BallakÃ© Sissoko"


def test_lastfm_with_tags_latin1():
    with pytest.warns(DataWarning, match=r"ignored 1538 tag assignment\(s\) on 390 artist id"):
        ds = hr.datasets.load_lastfm(data_dir("lastfm-hetrec2011"), with_tags=True)
    cat = ds.items["category"]
    # 12,523 tagged artist ids, 390 of them absent from artists.dat
    assert cat.notna().sum() == 12523 - 390
    assert ds.meta["with_tags"] is True
    assert ds.meta["cleaning"]["tag_assignments_on_unknown_artists_ignored"] == 1538
    # same interactions and friendships as without tags
    assert ds.n_interactions == 92834 and ds.n_social == 25434


# ------------------------------------------------------------------------------ Ciao

@pytest.fixture(scope="module")
def ciao():
    return _load(hr.datasets.load_ciao, data_dir("ciao"))


CIAO_RAW = {5.0: 138_893, 4.0: 88_499, 3.0: 31_294, 2.0: 14_317, 1.0: 11_049}


def test_ciao_counts(ciao):
    ds, rec = ciao
    msgs = _messages(rec)
    assert "dropped 34 rating row(s) equal to 0" in msgs
    # 284,086 rows - 34 zeros = 284,052 rows over 282,619 distinct (user, product) pairs
    assert "merged 1433 duplicated" in msgs
    assert ds.n_interactions == 284_086 - 34 - 1_433 == 282_619
    assert ds.n_users == 7375
    assert ds.user_ids.tolist() == list(range(1, 7376))
    assert ds.user_ids.dtype == np.int64
    assert ds.n_items == 105_114
    # the 18 products whose only ratings were 0 stay in the catalogue without interactions
    assert int((np.diff(ds.matrix().tocsc().indptr) > 0).sum()) == 105_114 - 18
    assert ds.meta["cleaning"]["zero_ratings_dropped"] == 34
    assert ds.meta["cleaning"]["duplicate_interaction_rows_merged"] == 1433
    assert "Tang" in ds.meta["citation"][0]
    _check_merge_against_raw(ds, CIAO_RAW, 1433)


def test_ciao_ratings_4_5_are_recommend_endorsements(ciao):
    """Ratings 4-5 are "recommend" endorsements (weight = the rating); 1-3 stay purchases; the
    counts are those the loader's docstring gives (measured from the files)."""
    ds, _ = ciao
    inter = ds.interactions
    kinds = inter["kind"].astype(str)
    assert (kinds == "recommend").sum() == 226_307
    assert (kinds == "purchase").sum() == 56_312
    assert (inter.loc[kinds == "recommend", "weight"] >= 4).all()
    assert (inter.loc[kinds == "purchase", "weight"] < 4).all()
    assert ds.meta["cleaning"]["endorse_min_rating"] == 4.0
    plain, _ = _load(hr.datasets.load_ciao, data_dir("ciao"), endorse_min_rating=None)
    assert (plain.interactions["kind"].astype(str) == "purchase").all()
    assert plain.n_interactions == ds.n_interactions
    assert (plain.matrix() != ds.matrix()).nnz == 0  # the same ratings, only the kinds differ
    with pytest.raises(ValueError, match="'endorse_min_rating' parameter of load_ciao"):
        hr.datasets.load_ciao(data_dir("ciao"), endorse_min_rating=-1)


def test_ciao_trust(ciao):
    ds, _ = ciao
    s = ds.social_matrix()
    assert ds.n_social == s.nnz == 111_781
    assert s.diagonal().sum() == 0
    assert _reciprocated(ds) == 53_152
    nodes = _social_nodes(ds)
    assert len(nodes) == 7317
    assert ds.social["user"].nunique() == 6792
    assert len(np.setdiff1d(nodes, _raters(ds))) == 0  # every trust node has ratings
    assert len(np.setdiff1d(_raters(ds), nodes)) == 58
    assert ds.meta["cleaning"]["social_only_users"] == 0


def test_ciao_timestamps_and_categories(ciao):
    ds, _ = ciao
    assert ds.has_timestamps
    ts = ds.interactions["timestamp"].to_numpy()
    day = pd.to_datetime(ts, unit="s")
    assert str(day.min().date()) == "2000-05-30" and str(day.max().date()) == "2011-04-12"
    assert (ts % 86400 == 7 * 3600).all()  # all at 07:00:00 UTC
    cats = ds.items["category"]
    assert cats.notna().all()
    assert cats.nunique() == 28
    assert "Ciao Café" in set(cats) and "Ciao Caf?" not in set(cats)
    assert ds.meta["cleaning"]["items_with_several_categories"] == 101


@pytest.mark.slow
def test_ciao_without_timestamps_same_ratings(ciao):
    """rating.mat holds the same ratings as rating_with_timestamp.mat (in another row order,
    with more exact duplicates); with the max policy both give the same matrix."""
    ds, _ = ciao
    ds2, rec = _load(hr.datasets.load_ciao, data_dir("ciao"), timestamps=False)
    assert not ds2.has_timestamps
    assert "dropped 34 rating row(s)" in _messages(rec)
    assert np.array_equal(ds.user_ids, ds2.user_ids)
    assert np.array_equal(ds.item_ids, ds2.item_ids)
    assert (ds.matrix() != ds2.matrix()).nnz == 0
    assert ds.items["category"].equals(ds2.items["category"])


def test_ciao_min_rating_keeps_vocabularies(ciao):
    ds, _ = ciao
    liked, _ = _load(hr.datasets.load_ciao, data_dir("ciao"), min_rating=4)
    w = ds.interactions["weight"].to_numpy()
    assert liked.n_interactions == int((w >= 4).sum())
    assert liked.interactions["weight"].min() >= 4
    assert np.array_equal(liked.user_ids, ds.user_ids)
    assert np.array_equal(liked.item_ids, ds.item_ids)
    assert liked.meta["cleaning"]["below_min_rating_removed"] == int((w < 4).sum())


# ------------------------------------------------------------------------------ Epinions

@pytest.fixture(scope="module")
def epinions():
    return _load(hr.datasets.load_epinions, data_dir("epinions"))


@pytest.mark.slow
def test_epinions_counts(epinions):
    ds, rec = epinions
    msgs = _messages(rec)
    assert "dropped 224 self-follow row(s)" in msgs
    assert "merged 27 duplicated (user, friend) row(s)" in msgs
    # 922,267 rows over 912,441 distinct (user, product) pairs
    assert "merged 9826 duplicated" in msgs
    assert ds.n_interactions == 922_267 - 9_826 == 912_441
    raters = _raters(ds)
    assert len(raters) == 22_164
    assert raters.min() == 1 and raters.max() == 22_166
    assert ds.n_users == 22_164 + 1  # the one trust node with no rating is kept
    assert ds.meta["cleaning"]["social_only_users"] == 1
    assert ds.n_items == 296_277
    assert ds.item_ids.tolist() == list(range(1, 296_278))
    assert not ds.has_timestamps
    assert ds.items["category"].nunique() == 27
    assert ds.meta["cleaning"]["items_with_several_categories"] == 577
    _check_merge_against_raw(
        ds, {5.0: 389_778, 4.0: 290_952, 3.0: 119_763, 2.0: 68_807, 1.0: 52_967}, 9826
    )
    kinds = ds.interactions["kind"].astype(str)
    assert (kinds == "recommend").sum() == 673_930  # ratings 4-5 (merged pairs)
    assert (kinds == "purchase").sum() == 238_511


@pytest.mark.slow
def test_epinions_trust(epinions):
    ds, _ = epinions
    s = ds.social_matrix()
    # 355,754 rows = 355,727 distinct edges + 27 repeats; 224 of the distinct are self-loops
    assert ds.n_social == s.nnz == 355_727 - 224
    assert s.diagonal().sum() == 0
    assert _reciprocated(ds) == 136_942
    assert ds.meta["cleaning"]["self_loops_dropped"] == 224
    assert ds.meta["cleaning"]["duplicate_social_rows_merged"] == 27


@pytest.mark.slow
def test_epinions_alt_trust():
    ds, rec = _load(hr.datasets.load_epinions, data_dir("epinions"), trust="alt-trust-2012-07")
    msgs = _messages(rec)
    assert "dropped 224 self-follow row(s)" in msgs
    assert "merged 596 duplicated (user, friend) row(s)" in msgs
    # 355,813 rows, 355,217 distinct, 224 self-loops
    assert ds.n_social == 355_217 - 224
    assert ds.meta["cleaning"]["trust_file"] == "alt-trust-2012-07/trust.mat"


# ------------------------------------------------------------------------------ FilmTrust

@pytest.fixture(scope="module")
def filmtrust():
    return _load(hr.datasets.load_filmtrust, data_dir("filmtrust"))


def test_filmtrust_counts(filmtrust):
    ds, rec = filmtrust
    assert "merged 3 duplicated" in _messages(rec)
    assert len(rec) == 1
    assert ds.n_interactions == 35_497 - 3 == 35_494
    raters = _raters(ds)
    assert raters.tolist() == list(range(1, 1509))
    assert ds.n_items == 2071 and ds.item_ids.tolist() == list(range(1, 2072))
    raw = {0.5: 1060, 1.0: 1141, 1.5: 1601, 2.0: 3113, 2.5: 4392, 3.0: 7877, 3.5: 7142, 4.0: 9171}
    _check_merge_against_raw(ds, raw, 3)
    # the repeats are all user 308's
    assert ds.user_counts()[ds.user_index(308)[0]] == len(
        ds.interactions.query("user == 308")["item"].unique()
    )


def test_filmtrust_trust(filmtrust):
    ds, _ = filmtrust
    assert ds.n_social == 1853
    assert _reciprocated(ds) == 1088
    nodes = _social_nodes(ds)
    assert len(nodes) == 874 and nodes.min() == 2 and nodes.max() == 1642
    # 134 trust nodes have no ratings: kept as users with no interactions
    assert ds.n_users == 1508 + 134
    assert ds.meta["cleaning"]["social_only_users"] == 134
    assert len(np.setdiff1d(_raters(ds), nodes)) == 768
    assert (ds.social["weight"] == 1).all()


def test_filmtrust_duplicate_policies():
    path = data_dir("filmtrust")
    with pytest.warns(DataWarning, match=r"merged 3 duplicated .* duplicates='sum'"):
        summed = hr.datasets.load_filmtrust(path, duplicates="sum")
    with pytest.warns(DataWarning, match=r"merged 3 duplicated .* duplicates='max'"):
        maxed = hr.datasets.load_filmtrust(path)
    with pytest.raises(ValueError, match="3 row"):
        hr.datasets.load_filmtrust(path, duplicates="raise")
    # sums exceed maxima exactly on user 308's three repeated pairs
    diff = summed.matrix() - maxed.matrix()
    diff.eliminate_zeros()
    assert diff.nnz == 3
    assert set(diff.tocoo().row.tolist()) == {int(maxed.user_index(308)[0])}


# ------------------------------------------------------------------------------ CiaoDVD

@pytest.fixture(scope="module")
def ciaodvd():
    return _load(hr.datasets.load_ciaodvd, data_dir("ciaodvd"))


def test_ciaodvd_counts(ciaodvd):
    ds, rec = ciaodvd
    # 72,665 reviews over 72,345 distinct (user, movie) pairs
    assert "merged 320 duplicated" in _messages(rec)
    assert ds.n_interactions == 72_665 - 320 == 72_345
    raters = _raters(ds)
    assert raters.tolist() == list(range(1, 17_616))
    assert ds.n_items == 16_121
    _check_merge_against_raw(
        ds, {5.0: 32_695, 4.0: 22_560, 3.0: 10_074, 2.0: 4_685, 1.0: 2_651}, 320
    )
    assert ds.has_timestamps
    ts = ds.interactions["timestamp"].to_numpy()
    assert (ts % 86400 == 0).all()
    day = pd.to_datetime(ts, unit="s")
    assert str(day.min().date()) == "2000-05-31" and str(day.max().date()) == "2013-11-28"
    genres = ds.items["category"]
    assert genres.notna().all() and genres.nunique() == 17
    assert ds.items.set_index("item")["category"][1] == "Action & Adventure"
    assert "ETAF" in ds.meta["citation"][0]


def test_ciaodvd_trust(ciaodvd):
    ds, _ = ciaodvd
    assert ds.n_social == 40_133
    assert _reciprocated(ds) == 14_034
    nodes = _social_nodes(ds)
    assert len(nodes) == 4658 and nodes.min() == 19 and nodes.max() == 30_444
    # trust ids beyond the rater range: 1,918 users with no interactions
    assert ds.n_users == 17_615 + 1_918
    assert ds.meta["cleaning"]["social_only_users"] == 1918
    assert len(np.setdiff1d(_raters(ds), nodes)) == 14_875


def test_ciaodvd_genres_without_readme(tmp_path, ciaodvd):
    """The GBK readme is read for the genre names; without it the built-in names agree."""
    ds, _ = ciaodvd
    src = data_dir("ciaodvd")
    for name in ("movie-ratings.txt", "trusts.txt"):
        os.symlink(src / name, tmp_path / name)
    ds2, _ = _load(hr.datasets.load_ciaodvd, tmp_path)
    assert ds2.items["category"].equals(ds.items["category"])
    assert ds2.equals(ds)


# ------------------------------------------------------------------------------ all loaders

@pytest.mark.parametrize("name", sorted(LOADERS))
def test_missing_folder(tmp_path, name):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        LOADERS[name](tmp_path / "nowhere")


@pytest.mark.parametrize(
    "name, present, missing",
    [
        ("lastfm-hetrec2011", ["user_artists.dat", "artists.dat"], "user_friends.dat"),
        ("ciao", ["rating_with_timestamp.mat", "catalog_ciao.txt"], "trustnetwork.mat"),
        ("epinions", ["trustnetwork.mat", "catalog_epinion.txt"], "rating.mat"),
        ("filmtrust", ["ratings.txt"], "trust.txt"),
        ("ciaodvd", ["trusts.txt"], "movie-ratings.txt"),
    ],
)
def test_missing_file_named(tmp_path, name, present, missing):
    src = data_dir(name)
    for f in present:
        os.symlink(src / f, tmp_path / f)
    with pytest.raises(FileNotFoundError, match=missing.replace(".", r"\.")):
        LOADERS[name](tmp_path)


def test_lastfm_tags_files_required_only_with_tags(tmp_path):
    src = data_dir("lastfm-hetrec2011")
    for f in ("user_artists.dat", "user_friends.dat", "artists.dat"):
        os.symlink(src / f, tmp_path / f)
    assert hr.datasets.load_lastfm(tmp_path).n_users == 1892
    with pytest.raises(FileNotFoundError, match=r"tags\.dat"):
        hr.datasets.load_lastfm(tmp_path, with_tags=True)


def test_bad_loader_parameters():
    ft = data_dir("filmtrust")
    with pytest.raises(TypeError, match="'path' parameter of load_filmtrust"):
        hr.datasets.load_filmtrust(123)
    with pytest.raises(ValueError, match="'duplicates' parameter of load_filmtrust"):
        hr.datasets.load_filmtrust(ft, duplicates="mean")
    with pytest.raises(ValueError, match="'min_rating' parameter of load_filmtrust"):
        hr.datasets.load_filmtrust(ft, min_rating=-1)
    with pytest.raises(ValueError, match="'min_rating' parameter"):
        hr.datasets.load_filmtrust(ft, min_rating=float("nan"))
    with pytest.raises(ValueError, match="'trust' parameter of load_epinions"):
        hr.datasets.load_epinions(data_dir("epinions"), trust="2013")


def test_loader_warning_points_at_caller(tmp_path):
    """Loader repairs warn at the caller's line, so the default filter shows them usefully."""
    with pytest.warns(DataWarning, match=r"dropped 34 rating row|merged 1433 duplicated") as rec:
        hr.datasets.load_ciao(data_dir("ciao"))
    zero = [w for w in rec if "dropped 34" in str(w.message)]
    assert Path(zero[0].filename).resolve() == Path(__file__).resolve()


def test_meta_survives_parquet_round_trip(tmp_path, filmtrust):
    ds, _ = filmtrust
    back = hr.Dataset.read_parquet(ds.to_parquet(tmp_path / "ft"))
    assert back.equals(ds)
    assert back.meta["citation"] == ds.meta["citation"]
    assert back.meta["cleaning"]["duplicate_interaction_rows_merged"] == 3


def test_min_rating_on_half_stars(filmtrust):
    ds, _ = filmtrust
    liked, _ = _load(
        hr.datasets.load_filmtrust, data_dir("filmtrust"), min_rating=3.5, duplicates="first"
    )
    assert liked.interactions["weight"].min() == 3.5
    assert liked.n_users == ds.n_users and liked.n_items == ds.n_items
    assert sp.issparse(liked.matrix()) and liked.matrix().nnz == liked.n_interactions
