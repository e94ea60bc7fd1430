"""Loaders for the real social-recommendation data sets, read from a folder as they lie on disk.

Each loader reads the files of one data set from ``path`` (the folder that holds them, e.g.
``../shared/data/ciao``), repairs the anomalies its ``SOURCE.md`` lists, and returns a validated
:class:`haowurank.Dataset`. Nothing is downloaded. Every repair that drops or merges rows emits a
:class:`haowurank.DataWarning` that says how many rows and why, and is recorded in
``ds.meta["cleaning"]``; ``ds.meta`` also carries the data set's name, citation, provenance and terms,
and ``"purchase_verb"``: what a ``"purchase"`` row means there ("listened", "rated"), which search
explanations use instead of "bought".

Interactions are of kind ``"purchase"``, except that Ciao and Epinions ratings of 4-5 (with the
default ``endorse_min_rating=4``) are ``"recommend"`` endorsements: a user who rates a product 4
or 5 stars on a review site recommends it to the people who trust them, which is what the friends'
feed and search show. Their ``weight`` is the listen count (Last.fm) or the star rating (the rating
sets), so the raw rating stays available as ``ds.interactions["weight"]``; use
``ds.matrix(weight="binary")`` for a plain implicit view or ``min_rating=`` to keep only positive
ratings. Last.fm, FilmTrust and CiaoDVD carry no endorsements.
"""

from __future__ import annotations

import csv
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from .._dataset import Dataset
from .._errors import warn_data

__all__ = ["load_ciao", "load_ciaodvd", "load_epinions", "load_filmtrust", "load_lastfm"]

logger = logging.getLogger(__name__)

Duplicates = Literal["sum", "max", "last", "first", "raise"]

_TANG_CITATION = [
    'J. Tang, H. Gao, H. Liu. "mTrust: Discerning multi-faceted trust in a connected world". '
    "WSDM 2012, pp. 93-102.",
    'J. Tang, H. Gao, H. Liu, A. Das Sarma. "eTrust: Understanding trust evolution in an online '
    'world". KDD 2012, pp. 253-261.',
]

_INFO: dict[str, dict[str, Any]] = {
    "lastfm": {
        "name": "lastfm-hetrec2011",
        "title": "Last.fm HetRec 2011 (hetrec2011-lastfm-2k)",
        "citation": [
            'I. Cantador, P. Brusilovsky, T. Kuflik. "2nd Workshop on Information Heterogeneity and '
            'Fusion in Recommender Systems (HetRec 2011)". Proc. 5th ACM Conf. on Recommender '
            "Systems (RecSys 2011), Chicago, IL, USA.",
            "Last.fm website, http://www.lastfm.com",
        ],
        "url": "http://files.grouplens.org/datasets/hetrec2011/hetrec2011-lastfm-2k.zip",
        "licence": "non-commercial use (readme.txt); commercial use needs Last.fm's permission",
        "interactions": "user-artist listen counts (weight = listening count, implicit feedback)",
        "purchase_verb": "listened",
        "social": "friendships, stored in both directions",
    },
    "ciao": {
        "name": "ciao",
        "title": "Ciao product ratings with trust network (Tang, Gao, Liu)",
        "citation": _TANG_CITATION,
        "url": "https://www.cse.msu.edu/~tangjili/trust.html",
        "licence": "research use only, citation required (no licence stated)",
        "interactions": "product ratings 1-5 (weight = rating)",
        "purchase_verb": "rated it 1-3",
        "social": "directed trust (user trusts friend)",
    },
    "epinions": {
        "name": "epinions",
        "title": "Epinions product ratings with Web of Trust (Tang, Gao, Liu)",
        "citation": _TANG_CITATION,
        "url": "https://www.cse.msu.edu/~tangjili/trust.html",
        "licence": "research use only, citation required (no licence stated)",
        "interactions": "product ratings 1-5 (weight = rating), no timestamps",
        "purchase_verb": "rated it 1-3",
        "social": "directed trust (user trusts friend)",
    },
    "filmtrust": {
        "name": "filmtrust",
        "title": "FilmTrust movie ratings with trust network (Guo, Zhang, Yorke-Smith)",
        "citation": [
            'G. Guo, J. Zhang, N. Yorke-Smith. "A Novel Bayesian Similarity Measure for Recommender '
            'Systems". IJCAI 2013, pp. 2619-2625.',
        ],
        "url": "https://guoguibing.github.io/librec/datasets.html",
        "licence": "research use with citation (Copy Right 2013 Guibing Guo; no licence stated)",
        "interactions": "movie ratings 0.5-4.0 in steps of 0.5 (weight = rating), no timestamps",
        "purchase_verb": "rated",
        "social": "directed trust (user trusts friend)",
    },
    "ciaodvd": {
        "name": "ciaodvd",
        "title": "CiaoDVD movie ratings with trust network (Guo, Zhang, Thalmann, Yorke-Smith)",
        "citation": [
            'G. Guo, J. Zhang, D. Thalmann, N. Yorke-Smith. "ETAF: An Extended Trust Antecedents '
            'Framework for Trust Prediction". ASONAM 2014.',
        ],
        "url": "https://guoguibing.github.io/librec/datasets.html",
        "licence": "research use with citation (no licence stated)",
        "interactions": "DVD ratings 1-5 (weight = rating) with dates (day resolution)",
        "purchase_verb": "rated",
        "social": "directed trust (user trusts friend)",
    },
}

#: CiaoDVD genre names, as listed in the data set's readme.txt (used if the readme is absent).
_CIAODVD_GENRES: dict[int, str] = {
    1: "Action & Adventure", 2: "Comedy", 3: "Family", 4: "Drama", 5: "Horror",
    6: "Science Fiction & Fantasy", 7: "Thriller & Mystery", 8: "Martial Arts",
    9: "Musicals & Music Films", 10: "War", 11: "Westerns", 12: "Documentaries & Biographies",
    13: "Special Interest", 14: "Sports", 15: "World Cinema", 16: "TV Series", 17: "Anime",
}

_DUPLICATE_POLICIES = ("sum", "max", "last", "first", "raise")


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------

def _files(path: str | os.PathLike, loader: str, required: Sequence[str]) -> dict[str, Path]:
    """Check the folder and the files a loader needs; a clear FileNotFoundError otherwise."""
    if not isinstance(path, str | os.PathLike):
        raise TypeError(
            f"The 'path' parameter of {loader} must be a str or os.PathLike folder. "
            f"Got {type(path).__name__} instead."
        )
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{loader}: the data folder {str(folder)!r} does not exist or is not a folder. "
            f"Pass the folder that holds {list(required)} (nothing is downloaded)."
        )
    out = {}
    for name in required:
        p = folder / name
        if not p.is_file():
            raise FileNotFoundError(
                f"{loader}: the file {name!r} is missing from {str(folder)!r}; expected "
                f"{list(required)} as described in the data set's SOURCE.md (nothing is downloaded)."
            )
        out[name] = p
    return out


_BOMS = (
    (b"\xef\xbb\xbf", "a UTF-8 byte-order mark"),
    (b"\xff\xfe", "a UTF-16 (little-endian) byte-order mark"),
    (b"\xfe\xff", "a UTF-16 (big-endian) byte-order mark"),
)


def _decode_error(path: Path, encoding: str, exc: UnicodeDecodeError) -> ValueError:
    bad = exc.object[exc.start : exc.start + 4] if isinstance(exc.object, bytes) else b""
    return ValueError(
        f"{str(path)!r} must be {encoding} text; byte {exc.start} holds {bad!r}, which is not "
        f"{encoding}. The file may have been re-saved in another encoding (e.g. Latin-1 or "
        f"UTF-16); restore the original file."
    )


def _check_text(path: Path, encoding: str, *, header_sep: str | None = None) -> None:
    """The one check of every text file a loader reads: not empty, no byte-order mark, no NUL
    bytes (UTF-16), decodable in ``encoding``, and (``header_sep``) distinct header names.

    Each failure is a ``ValueError`` naming the file, what was expected and what was found.
    """
    size = path.stat().st_size
    if size == 0:
        raise ValueError(f"{str(path)!r} is empty (0 bytes); expected {encoding} text.")
    with open(path, "rb") as fh:
        data = fh.read()
    for bom, what in _BOMS:
        if data.startswith(bom):
            raise ValueError(
                f"{str(path)!r} must be {encoding} text without a byte-order mark; it starts "
                f"with {what}. Restore the original file (or re-save it as {encoding})."
            )
    nul = data.find(b"\x00")
    if nul >= 0:
        raise ValueError(
            f"{str(path)!r} must be {encoding} text; byte {nul} is a NUL byte (the file looks "
            f"like UTF-16 or binary). Restore the original file."
        )
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise _decode_error(path, encoding, exc) from exc
    if header_sep is not None:
        header = text.split("\n", 1)[0].rstrip("\r").split(header_sep)
        dup = sorted({h for h in header if header.count(h) > 1})
        if dup:
            raise ValueError(
                f"{str(path)!r} must have distinct header column names. Found {dup} more than "
                f"once in the header {header}."
            )


def _check_duplicates(duplicates: Any, loader: str) -> None:
    if duplicates not in _DUPLICATE_POLICIES:
        raise ValueError(
            f"The 'duplicates' parameter of {loader} must be one of {list(_DUPLICATE_POLICIES)}. "
            f"Got {duplicates!r} instead."
        )


def _check_min_rating(min_rating: Any, loader: str) -> float | None:
    if min_rating is None:
        return None
    if isinstance(min_rating, bool) or not isinstance(min_rating, int | float | np.number) or not (
        np.isfinite(min_rating) and min_rating > 0
    ):
        raise ValueError(
            f"The 'min_rating' parameter of {loader} must be None or a finite number > 0. "
            f"Got {min_rating!r} instead."
        )
    return float(min_rating)


def _read_mat(path: Path, var: str, ncols: int) -> np.ndarray:
    """One 2-D numeric variable from a MATLAB v5 file, as int64 (the trust files are uint16)."""
    from scipy.io import loadmat

    if path.stat().st_size == 0:
        raise ValueError(f"{str(path)!r} is empty (0 bytes); expected a MATLAB v5 file.")
    try:
        mat = loadmat(path, variable_names=[var])
    except Exception as exc:  # scipy raises several types for a corrupt or foreign file
        raise ValueError(f"Could not read {str(path)!r} as a MATLAB file: {exc}") from exc
    if var not in mat:
        found = sorted(k for k in mat if not k.startswith("__"))
        raise ValueError(f"{str(path)!r} has no variable {var!r}; found {found}.")
    arr = np.asarray(mat[var])
    if arr.ndim != 2 or arr.shape[1] < ncols:
        raise ValueError(
            f"The variable {var!r} in {str(path)!r} must be a 2-D array with at least {ncols} "
            f"columns. Got shape {arr.shape}."
        )
    # uint16 ids overflow in arithmetic such as a * n + b: widen before anything else
    return arr.astype(np.int64)


def _n_duplicate_pairs(a: np.ndarray, b: np.ndarray) -> int:
    """Rows that repeat an earlier (a, b) pair (int64 ids, cast before arithmetic)."""
    if len(a) == 0:
        return 0
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    key = np.sort((a - a.min()) * (int(b.max() - b.min()) + 1) + (b - b.min()))
    return int((key[1:] == key[:-1]).sum())


def _majority(item: np.ndarray, value: np.ndarray) -> tuple[pd.DataFrame, int]:
    """For each item its most frequent value (ties: the smallest), and how many items had several."""
    pairs = pd.DataFrame({"item": item, "value": value})
    counts = pairs.groupby(["item", "value"], sort=False).size().rename("n").reset_index()
    n_multi = int((counts.groupby("item", sort=False).size() > 1).sum())
    best = counts.sort_values(["item", "n", "value"], ascending=[True, False, True], kind="stable")
    best = best.drop_duplicates("item").reset_index(drop=True)
    return best[["item", "value"]], n_multi


def _read_catalog(path: Path) -> dict[int, str]:
    """``categoryid name`` lines (space-separated, ASCII) into a dict."""
    out: dict[int, str] = {}
    _check_text(path, "latin-1")
    text = path.read_text(encoding="latin-1")
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        head, _, name = line.partition(" ")
        try:
            out[int(head)] = name.strip()
        except ValueError as exc:
            raise ValueError(
                f"{str(path)!r} line {lineno}: expected 'categoryid name'. Got {line!r}."
            ) from exc
    return out


def _category_names(codes: np.ndarray, names: dict[int, str], where: str) -> np.ndarray:
    unknown = sorted(set(np.unique(codes).tolist()) - set(names))
    if unknown:
        raise ValueError(
            f"{where}: category id(s) {unknown[:5]} are not named in the catalogue "
            f"(known ids {min(names)}-{max(names)})."
        )
    table = np.array([names.get(i) for i in range(max(names) + 1)], dtype=object)
    return table[codes]


def _check_endorse_min_rating(value: Any, loader: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | np.number) or not (
        np.isfinite(value) and value > 0
    ):
        raise ValueError(
            f"The 'endorse_min_rating' parameter of {loader} must be None or a finite number > 0. "
            f"Got {value!r} instead."
        )
    return float(value)


def _endorsement_kinds(
    inter: pd.DataFrame, duplicates: str, endorse_min_rating: float | None, cleaning: dict
) -> pd.DataFrame:
    """Ratings >= ``endorse_min_rating`` become ``"recommend"`` rows (the rating stays the weight).

    The kind follows the (user, item) pair's rating as the ``duplicates`` policy merges it, so
    repeated rows of one pair share one kind and merge as before.
    """
    if endorse_min_rating is None:
        cleaning["endorse_min_rating"] = None
        return inter
    order = ["user", "timestamp", "item"] if "timestamp" in inter else ["user", "item"]
    f = inter.sort_values(order, kind="stable")
    g = f.groupby(["user", "item"], sort=False)["weight"]
    how = {"sum": "sum", "max": "max", "last": "last", "first": "first"}.get(duplicates)
    merged = g.transform(how) if how else f["weight"]
    liked = (merged >= endorse_min_rating).reindex(inter.index).to_numpy()
    cleaning["endorse_min_rating"] = endorse_min_rating
    cleaning["rating_rows_as_recommend"] = int(liked.sum())  # before merging repeats
    return inter.assign(kind=np.where(liked, "recommend", "purchase"))


def _meta(key: str, files: dict[str, Path], cleaning: dict[str, Any], **extra: Any) -> dict:
    info = dict(_INFO[key])
    info["citation"] = list(info["citation"])
    info["files"] = sorted(files)
    info["cleaning"] = cleaning
    info.update(extra)
    return info


def _drop_below(rating: np.ndarray, keep: np.ndarray, what: str, loader: str) -> None:
    """Warn about rows outside the rating scale that are being dropped."""
    n = int((~keep).sum())
    if n:
        warn_data(
            f"{loader}: dropped {n} rating row(s) {what} (outside the rating scale; "
            f"noise in the source data).",
            stacklevel=4,
        )


def _finish(
    loader: str,
    inter: pd.DataFrame,
    social: pd.DataFrame,
    items: pd.DataFrame | None,
    *,
    duplicates: str,
    min_rating: float | None,
    meta: dict,
    t0: float,
) -> Dataset:
    """Build the Dataset, record the merges, apply ``min_rating`` (vocabularies are kept)."""
    cleaning = meta["cleaning"]
    cleaning["duplicate_interaction_rows_merged"] = _n_duplicate_pairs(
        inter["user"].to_numpy(), inter["item"].to_numpy()
    )
    cleaning["duplicates_policy"] = duplicates
    su = social["user"].to_numpy()
    sf = social["friend"].to_numpy()
    not_self = su != sf
    cleaning["self_loops_dropped"] = int((~not_self).sum())
    cleaning["duplicate_social_rows_merged"] = _n_duplicate_pairs(su[not_self], sf[not_self])
    ds = Dataset.from_frames(
        inter, social, items, duplicates=duplicates, self_loops="drop", meta=meta
    )
    raters = np.zeros(ds.n_users, dtype=bool)
    raters[ds.indexed_interactions["user"].to_numpy()] = True
    cleaning["social_only_users"] = int((~raters).sum())
    if min_rating is not None:
        keep = ds.indexed_interactions["weight"].to_numpy() >= min_rating
        cleaning["min_rating"] = min_rating
        cleaning["below_min_rating_removed"] = int((~keep).sum())
        logger.info(
            "%s: kept %d of %d interactions with rating >= %g (vocabularies unchanged)",
            loader, int(keep.sum()), len(keep), min_rating,
        )
        ds = ds.select_interactions(keep)
    logger.info("%s: %r loaded in %.2f s", loader, ds, time.perf_counter() - t0)
    return ds


# --------------------------------------------------------------------------------------------
# Last.fm
# --------------------------------------------------------------------------------------------

def _read_tsv(path: Path, encoding: str, dtype: dict | None = None) -> pd.DataFrame:
    _check_text(path, encoding, header_sep="\t")
    try:
        return pd.read_csv(
            path, sep="\t", header=0, encoding=encoding, quoting=csv.QUOTE_NONE,
            keep_default_na=False, na_values=[], dtype=dtype, engine="c",
        )
    except UnicodeDecodeError as exc:
        raise _decode_error(path, encoding, exc) from exc
    except (ValueError, pd.errors.ParserError) as exc:
        raise ValueError(f"Could not parse {str(path)!r} as tab-separated columns: {exc}") from exc


def load_lastfm(
    path: str | os.PathLike,
    *,
    with_tags: bool = False,
    duplicates: Duplicates = "sum",
) -> Dataset:
    """Load Last.fm HetRec 2011 (``hetrec2011-lastfm-2k``) from its folder.

    Reads ``user_artists.dat`` (listen counts), ``user_friends.dat`` (friendships, both
    directions) and ``artists.dat`` (UTF-8 artist names); with ``with_tags=True`` also
    ``tags.dat`` (Latin-1, not UTF-8) and ``user_taggedartists.dat``.

    Parameters
    ----------
    path : str or os.PathLike
        The folder holding the files, e.g. ``../shared/data/lastfm-hetrec2011``.
    with_tags : bool, default False
        Set each artist's ``category`` to its most often applied tag (ties: the smallest tag
        id); artists never tagged get no category. Tag assignments on artists absent from
        ``artists.dat`` (390 artist ids in this release) are ignored with a warning.
    duplicates : {"sum", "max", "last", "first", "raise"}, default "sum"
        Policy for repeated (user, artist) rows: listen counts add up by default. This release
        has no such rows.

    Returns
    -------
    Dataset
        1,892 users, 17,632 items (artists, ``title`` = artist name), 92,834 interactions of
        kind ``"purchase"`` with ``weight`` = listening count, no timestamps, 25,434 social
        rows (12,717 mutual friendships).

    Raises
    ------
    FileNotFoundError
        The folder or one of the files is missing (the message names it).

    Examples
    --------
    >>> ds = load_lastfm("../shared/data/lastfm-hetrec2011")  # doctest: +SKIP
    >>> ds.n_users, ds.n_items  # doctest: +SKIP
    (1892, 17632)
    """
    loader = "load_lastfm"
    t0 = time.perf_counter()
    _check_duplicates(duplicates, loader)
    names = ["user_artists.dat", "user_friends.dat", "artists.dat"]
    if with_tags:
        names += ["tags.dat", "user_taggedartists.dat"]
    files = _files(path, loader, names)
    ua = _read_tsv(files["user_artists.dat"], "ascii")
    _expect_columns(ua, ["userID", "artistID", "weight"], files["user_artists.dat"])
    _expect_numbers(ua, ["userID", "artistID", "weight"], files["user_artists.dat"])
    uf = _read_tsv(files["user_friends.dat"], "ascii")
    _expect_columns(uf, ["userID", "friendID"], files["user_friends.dat"])
    _expect_numbers(uf, ["userID", "friendID"], files["user_friends.dat"])
    art = _read_tsv(files["artists.dat"], "utf-8", dtype={"name": str, "url": str})
    _expect_columns(art, ["id", "name"], files["artists.dat"])
    inter = pd.DataFrame(
        {
            "user": ua["userID"].to_numpy(np.int64),
            "item": ua["artistID"].to_numpy(np.int64),
            "weight": ua["weight"].to_numpy(np.float64),
            "kind": "purchase",
        }
    )
    social = pd.DataFrame(
        {"user": uf["userID"].to_numpy(np.int64), "friend": uf["friendID"].to_numpy(np.int64)}
    )
    items = pd.DataFrame({"item": art["id"].to_numpy(np.int64), "title": art["name"].to_numpy()})
    cleaning: dict[str, Any] = {}
    if with_tags:
        tags = _read_tsv(files["tags.dat"], "latin-1", dtype={"tagValue": str})
        _expect_columns(tags, ["tagID", "tagValue"], files["tags.dat"])
        uta = _read_tsv(files["user_taggedartists.dat"], "ascii")
        _expect_columns(uta, ["userID", "artistID", "tagID"], files["user_taggedartists.dat"])
        known = np.isin(uta["artistID"].to_numpy(), items["item"].to_numpy())
        n_unknown = int((~known).sum())
        if n_unknown:
            warn_data(
                f"{loader}: ignored {n_unknown} tag assignment(s) on "
                f"{uta.loc[~known, 'artistID'].nunique()} artist id(s) absent from artists.dat."
            )
        uta = uta[known]
        best, _ = _majority(uta["artistID"].to_numpy(), uta["tagID"].to_numpy())
        tag_name = pd.Series(tags["tagValue"].to_numpy(), index=tags["tagID"].to_numpy())
        cat = pd.Series(tag_name.reindex(best["value"].to_numpy()).to_numpy(),
                        index=best["item"].to_numpy())
        items["category"] = cat.reindex(items["item"].to_numpy()).to_numpy()
        cleaning["tag_assignments_on_unknown_artists_ignored"] = n_unknown
        cleaning["category"] = "most often applied tag of the artist"
    meta = _meta(
        "lastfm", files, cleaning,
        weight="listening count", timestamps=False, with_tags=bool(with_tags),
    )
    return _finish(
        loader, inter, social, items, duplicates=duplicates, min_rating=None, meta=meta, t0=t0
    )


def _expect_numbers(df: pd.DataFrame, cols: Sequence[str], path: Path) -> None:
    """Every value of ``cols`` parses as a number (a damaged or truncated file says where)."""
    for c in cols:
        if pd.api.types.is_numeric_dtype(df[c].dtype) and not df[c].isna().any():
            continue
        bad = np.flatnonzero(pd.to_numeric(df[c], errors="coerce").isna().to_numpy())
        if len(bad):
            raise ValueError(
                f"{str(path)!r}: the column {c!r} must hold a number on every line; line "
                f"{int(bad[0]) + 2} holds {df[c].iloc[bad[0]]!r} ({len(bad)} bad line(s)). The "
                f"file may be truncated or damaged."
            )


def _expect_columns(df: pd.DataFrame, cols: Sequence[str], path: Path) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(
            f"{str(path)!r} must have the header column(s) {list(cols)}; missing {missing}. "
            f"Found {list(map(str, df.columns))}."
        )


# --------------------------------------------------------------------------------------------
# Tang's Ciao and Epinions (.mat)
# --------------------------------------------------------------------------------------------

def _tang_items(product: np.ndarray, category: np.ndarray, names: dict[int, str], where: str
                ) -> tuple[pd.DataFrame, int]:
    best, n_multi = _majority(product, category)
    items = pd.DataFrame(
        {
            "item": best["item"].to_numpy(np.int64),
            "category": _category_names(best["value"].to_numpy(np.int64), names, where),
        }
    )
    return items, n_multi


def load_ciao(
    path: str | os.PathLike,
    *,
    timestamps: bool = True,
    min_rating: float | None = None,
    duplicates: Duplicates = "max",
    endorse_min_rating: float | None = 4,
) -> Dataset:
    """Load Tang's Ciao product ratings and trust network from its folder.

    Reads ``rating_with_timestamp.mat`` (or ``rating.mat`` with ``timestamps=False``; both hold
    the same 284,086 ratings), ``trustnetwork.mat`` (uint16 ids, widened to int64 before any
    arithmetic) and ``catalog_ciao.txt`` (category names). Helpfulness is dropped.

    Cleaning, each counted in ``meta["cleaning"]``:

    - The 34 ratings equal to 0 (outside the 1-5 scale) are dropped with a ``DataWarning``.
    - Repeated (user, product) pairs (1,433 rows after dropping zeros) are merged with
      ``duplicates``; the default ``"max"`` keeps the highest rating, the strongest opinion the
      user stated, with the timestamp of the latest of the repeated rows.
    - A product listed under several categories (101 products) gets its most frequent one
      (ties: the smallest category id). Category 10 is spelled "Ciao Café" (the source file
      lost the accent).

    The item vocabulary is the whole catalogue of rated products (105,114), so the 18 products
    whose only ratings were 0 are kept as items with no interactions.

    Parameters
    ----------
    path : str or os.PathLike
        The folder holding the files, e.g. ``../shared/data/ciao``.
    timestamps : bool, default True
        Read ``rating_with_timestamp.mat`` (Unix seconds, day resolution, 2000-2011); False reads
        Tang's original ``rating.mat``, which has none.
    min_rating : float or None, default None
        Keep only interactions whose (merged) rating is >= this, e.g. 4 for "liked". None keeps
        every rating > 0. Vocabularies are unchanged: users without kept ratings stay as users
        with no interactions.
    duplicates : {"sum", "max", "last", "first", "raise"}, default "max"
        Policy for repeated (user, product) rows (see :meth:`haowurank.Dataset.from_frames`).
    endorse_min_rating : float or None, default 4
        (User, product) pairs whose (merged) rating is >= this are ``"recommend"`` endorsements
        (weight = the rating); the others stay ``"purchase"``. None makes every rating a
        purchase.

    Returns
    -------
    Dataset
        7,375 users, 105,114 items (``category`` = category name), 282,619 interactions with
        ``weight`` = rating 1-5: 226,307 of kind ``"recommend"`` (rating 4-5) and 56,312 of kind
        ``"purchase"`` (rating 1-3; all 282,619 are purchases with ``endorse_min_rating=None``),
        111,781 directed trust rows.

    Raises
    ------
    FileNotFoundError
        The folder or one of the files is missing (the message names it).
    """
    loader = "load_ciao"
    t0 = time.perf_counter()
    _check_duplicates(duplicates, loader)
    min_rating = _check_min_rating(min_rating, loader)
    endorse_min_rating = _check_endorse_min_rating(endorse_min_rating, loader)
    rating_file = "rating_with_timestamp.mat" if timestamps else "rating.mat"
    files = _files(path, loader, [rating_file, "trustnetwork.mat", "catalog_ciao.txt"])
    R = _read_mat(files[rating_file], "rating", 6 if timestamps else 5)
    T = _read_mat(files["trustnetwork.mat"], "trustnetwork", 2)
    names = _read_catalog(files["catalog_ciao.txt"])
    fixed = {k: v for k, v in names.items() if v == "Ciao Caf?"}
    for k in fixed:
        names[k] = "Ciao Café"
    items, n_multi = _tang_items(R[:, 1], R[:, 2], names, loader)
    rating = R[:, 3]
    keep = rating > 0
    _drop_below(rating, keep, "equal to 0", loader)
    R = R[keep]
    inter = pd.DataFrame(
        {
            "user": R[:, 0],
            "item": R[:, 1],
            "weight": R[:, 3].astype(np.float64),
            "kind": "purchase",
        }
    )
    if timestamps:
        inter["timestamp"] = R[:, 5]
    social = pd.DataFrame({"user": T[:, 0], "friend": T[:, 1]})
    cleaning = {
        "zero_ratings_dropped": int((~keep).sum()),
        "items_with_several_categories": n_multi,
        "category_rule": "most frequent category of the product (ties: smallest id)",
        "category_names_repaired": {str(k): "Ciao Caf? -> Ciao Café" for k in fixed},
        "helpfulness": "dropped",
    }
    inter = _endorsement_kinds(inter, duplicates, endorse_min_rating, cleaning)
    meta = _meta(loader[5:], files, cleaning, weight="rating", timestamps=bool(timestamps))
    return _finish(
        loader, inter, social, items, duplicates=duplicates, min_rating=min_rating, meta=meta,
        t0=t0,
    )


def load_epinions(
    path: str | os.PathLike,
    *,
    trust: Literal["trustnetwork", "alt-trust-2012-07"] = "trustnetwork",
    min_rating: float | None = None,
    duplicates: Duplicates = "max",
    endorse_min_rating: float | None = 4,
) -> Dataset:
    """Load Tang's Epinions product ratings and Web of Trust from its folder.

    Reads ``rating.mat`` (4 columns ``userid, productid, categoryid, rating``; the bundled
    README wrongly describes 5), ``trustnetwork.mat`` (uint16 ids, widened to int64 before any
    arithmetic) and ``catalog_epinion.txt``. This release has no timestamps.

    Cleaning, each counted in ``meta["cleaning"]``:

    - The 224 trust self-loops are dropped and the 27 repeated trust rows merged, each with a
      ``DataWarning`` that counts them.
    - Repeated (user, product) pairs (9,826 rows) are merged with ``duplicates``; the default
      ``"max"`` keeps the highest rating.
    - A product listed under several categories (577 products) gets its most frequent one
      (ties: the smallest category id).

    The one trust node with no rating is kept as a user with no interactions.

    Parameters
    ----------
    path : str or os.PathLike
        The folder holding the files, e.g. ``../shared/data/epinions``.
    trust : {"trustnetwork", "alt-trust-2012-07"}, default "trustnetwork"
        The trust snapshot: Tang's ``trustnetwork.mat`` (Feb 2012), or the later
        ``alt-trust-2012-07/trust.mat`` (Jul 2012; 355,813 rows, 596 duplicates, 224 self-loops) in the
        same user-id space.
    min_rating : float or None, default None
        Keep only interactions whose (merged) rating is >= this. None keeps every rating.
    duplicates : {"sum", "max", "last", "first", "raise"}, default "max"
        Policy for repeated (user, product) rows.
    endorse_min_rating : float or None, default 4
        (User, product) pairs whose (merged) rating is >= this are ``"recommend"`` endorsements
        (weight = the rating); the others stay ``"purchase"``. None makes every rating a
        purchase.

    Returns
    -------
    Dataset
        22,165 users, 296,277 items (``category`` = category name), 912,441 interactions with
        ``weight`` = rating 1-5: 673,930 of kind ``"recommend"`` (rating 4-5) and 238,511 of kind
        ``"purchase"`` (rating 1-3; all 912,441 are purchases with ``endorse_min_rating=None``),
        355,503 directed trust rows.

    Raises
    ------
    FileNotFoundError
        The folder or one of the files is missing (the message names it).
    """
    loader = "load_epinions"
    t0 = time.perf_counter()
    _check_duplicates(duplicates, loader)
    min_rating = _check_min_rating(min_rating, loader)
    endorse_min_rating = _check_endorse_min_rating(endorse_min_rating, loader)
    trust_files = {"trustnetwork": ("trustnetwork.mat", "trustnetwork"),
                   "alt-trust-2012-07": ("alt-trust-2012-07/trust.mat", "trust")}
    if trust not in trust_files:
        raise ValueError(
            f"The 'trust' parameter of {loader} must be one of {list(trust_files)}. "
            f"Got {trust!r} instead."
        )
    trust_file, trust_var = trust_files[trust]
    files = _files(path, loader, ["rating.mat", trust_file, "catalog_epinion.txt"])
    R = _read_mat(files["rating.mat"], "rating", 4)
    T = _read_mat(files[trust_file], trust_var, 2)
    names = _read_catalog(files["catalog_epinion.txt"])
    items, n_multi = _tang_items(R[:, 1], R[:, 2], names, loader)
    rating = R[:, 3]
    keep = rating > 0
    _drop_below(rating, keep, "<= 0", loader)
    R = R[keep]
    inter = pd.DataFrame(
        {"user": R[:, 0], "item": R[:, 1], "weight": R[:, 3].astype(np.float64),
         "kind": "purchase"}
    )
    social = pd.DataFrame({"user": T[:, 0], "friend": T[:, 1]})
    cleaning = {
        "nonpositive_ratings_dropped": int((~keep).sum()),
        "items_with_several_categories": n_multi,
        "category_rule": "most frequent category of the product (ties: smallest id)",
        "trust_file": trust_file,
    }
    inter = _endorsement_kinds(inter, duplicates, endorse_min_rating, cleaning)
    meta = _meta(loader[5:], files, cleaning, weight="rating", timestamps=False)
    return _finish(
        loader, inter, social, items, duplicates=duplicates, min_rating=min_rating, meta=meta,
        t0=t0,
    )


# --------------------------------------------------------------------------------------------
# Guo's FilmTrust and CiaoDVD (text)
# --------------------------------------------------------------------------------------------

def _read_text(path: Path, sep: str, names: list[str], dtype: dict) -> pd.DataFrame:
    _check_text(path, "ascii")
    try:
        return pd.read_csv(
            path, sep=sep, header=None, names=names, dtype=dtype, engine="c", encoding="ascii",
        )
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"Could not parse {str(path)!r} as columns {names}: {exc}") from exc


def load_filmtrust(
    path: str | os.PathLike,
    *,
    min_rating: float | None = None,
    duplicates: Duplicates = "max",
) -> Dataset:
    """Load FilmTrust movie ratings and trust network from its folder.

    Reads ``ratings.txt`` (``user item rating``, ratings 0.5-4.0 in steps of 0.5) and
    ``trust.txt`` (``trustor trustee value``, value always 1, kept as the edge weight).
    User 308's 3 repeated (user, item) pairs are merged with ``duplicates``; the default
    ``"max"`` keeps the highest rating (2 of the 3 pairs disagree). The 134 trust nodes with no
    rating (ids up to 1642) are kept as users with no interactions. No timestamps.

    Parameters
    ----------
    path : str or os.PathLike
        The folder holding the files, e.g. ``../shared/data/filmtrust``.
    min_rating : float or None, default None
        Keep only interactions whose (merged) rating is >= this. None keeps every rating.
    duplicates : {"sum", "max", "last", "first", "raise"}, default "max"
        Policy for repeated (user, item) rows.

    Returns
    -------
    Dataset
        1,642 users, 2,071 items, 35,494 interactions of kind ``"purchase"`` with ``weight`` =
        rating, 1,853 directed trust rows.

    Raises
    ------
    FileNotFoundError
        The folder or one of the files is missing (the message names it).
    """
    loader = "load_filmtrust"
    t0 = time.perf_counter()
    _check_duplicates(duplicates, loader)
    min_rating = _check_min_rating(min_rating, loader)
    files = _files(path, loader, ["ratings.txt", "trust.txt"])
    r = _read_text(files["ratings.txt"], r"\s+", ["user", "item", "weight"],
                   {"user": np.int64, "item": np.int64, "weight": np.float64})
    t = _read_text(files["trust.txt"], r"\s+", ["user", "friend", "weight"],
                   {"user": np.int64, "friend": np.int64, "weight": np.float64})
    r["kind"] = "purchase"
    meta = _meta(loader[5:], files, {}, weight="rating", timestamps=False)
    return _finish(
        loader, r, t, None, duplicates=duplicates, min_rating=min_rating, meta=meta, t0=t0
    )


def _ciaodvd_genres(readme: Path) -> dict[int, str]:
    """Genre names from the CiaoDVD readme (GBK-encoded, CRLF), or the built-in table."""
    if not readme.is_file():
        logger.info("load_ciaodvd: %s absent; using the built-in genre names", readme)
        return dict(_CIAODVD_GENRES)
    import re

    text = readme.read_text(encoding="gbk")
    found = {
        int(m.group(1)): m.group(2).strip()
        for m in re.finditer(r"^\s*(\d+)\)\s*([^:\r\n]+?):\s*http://dvd\.ciao", text, re.M)
    }
    if set(found) != set(_CIAODVD_GENRES):
        logger.warning(
            "load_ciaodvd: could not read the 17 genre names from %s; using the built-in names",
            readme,
        )
        return dict(_CIAODVD_GENRES)
    return found


def load_ciaodvd(
    path: str | os.PathLike,
    *,
    min_rating: float | None = None,
    duplicates: Duplicates = "max",
) -> Dataset:
    """Load CiaoDVD (Guo's dvd.ciao.co.uk crawl) ratings and trust network from its folder.

    Reads ``movie-ratings.txt`` (``userID, movieID, genreID, reviewID, movieRating, date``),
    ``trusts.txt`` (``trustor, trustee, value``; value always 1, kept as the edge weight) and,
    for the genre names, ``readme.txt`` (GBK-encoded; built-in names are used if it is absent).
    Dates become Unix seconds at 00:00 UTC. The genre name is the item ``category``; review ids
    are dropped.

    Some users reviewed the same movie more than once (320 repeated (user, movie) rows); they
    are merged with ``duplicates``: the default ``"max"`` keeps the highest rating, with the
    date of the latest review. Trust ids extend beyond the rater range: the 1,918 trust nodes
    with no rating are kept as users with no interactions.

    Parameters
    ----------
    path : str or os.PathLike
        The folder holding the files, e.g. ``../shared/data/ciaodvd``.
    min_rating : float or None, default None
        Keep only interactions whose (merged) rating is >= this. None keeps every rating.
    duplicates : {"sum", "max", "last", "first", "raise"}, default "max"
        Policy for repeated (user, movie) rows.

    Returns
    -------
    Dataset
        19,533 users, 16,121 items, 72,345 interactions of kind ``"purchase"`` with ``weight`` =
        rating 1-5 and timestamps, 40,133 directed trust rows.

    Raises
    ------
    FileNotFoundError
        The folder or one of the files is missing (the message names it).
    """
    loader = "load_ciaodvd"
    t0 = time.perf_counter()
    _check_duplicates(duplicates, loader)
    min_rating = _check_min_rating(min_rating, loader)
    files = _files(path, loader, ["movie-ratings.txt", "trusts.txt"])
    cols = ["user", "item", "genre", "review", "weight", "date"]
    r = _read_text(files["movie-ratings.txt"], ",", cols,
                   {"user": np.int64, "item": np.int64, "genre": np.int64, "review": np.int64,
                    "weight": np.float64, "date": str})
    t = _read_text(files["trusts.txt"], ",", ["user", "friend", "weight"],
                   {"user": np.int64, "friend": np.int64, "weight": np.float64})
    try:
        dates = pd.to_datetime(r["date"], format="%Y-%m-%d")
    except ValueError as exc:
        raise ValueError(
            f"The 'date' column of {str(files['movie-ratings.txt'])!r} must be YYYY-MM-DD: {exc}"
        ) from exc
    genres = _ciaodvd_genres(Path(path).expanduser() / "readme.txt")
    item_genre, n_multi = _majority(r["item"].to_numpy(), r["genre"].to_numpy())
    items = pd.DataFrame(
        {
            "item": item_genre["item"].to_numpy(np.int64),
            "category": _category_names(item_genre["value"].to_numpy(np.int64), genres, loader),
        }
    )
    inter = pd.DataFrame(
        {
            "user": r["user"].to_numpy(),
            "item": r["item"].to_numpy(),
            "weight": r["weight"].to_numpy(),
            "timestamp": dates.to_numpy().astype("datetime64[s]").astype(np.int64),
            "kind": "purchase",
        }
    )
    cleaning = {"items_with_several_genres": n_multi, "review_ids": "dropped"}
    meta = _meta(loader[5:], files, cleaning, weight="rating", timestamps=True)
    return _finish(
        loader, inter, t, items, duplicates=duplicates, min_rating=min_rating, meta=meta, t0=t0
    )
