"""Endorsement-weighted product search: BM25 text relevance over title and category, blended with
how many people recommended an item and which of the searcher's friends did.

Text is tokenised for mixed Chinese / English titles without a segmenter: runs of CJK characters
(Han, kana, Hangul) give character unigrams and bigrams, other runs of letters and digits give
lower-cased words with a light plural stemmer ("shoes" -> "shoe"). Text is NFKC-normalised first,
so full-width Latin letters and digits match their ASCII forms.

Score of an item for a query (every term in [0, 1])::

    score = text_weight   * bm25(query, item) / max bm25 over the hits
          + rec_weight    * log1p(n_recommenders) / log1p(max n_recommenders over all items)
          + friend_weight * log1p(n_friend_recommenders) / log1p(max over the hits)

Only items with a text match of at least ``min_text_score`` times the best match are hits; items a
merchant marked unsearchable never appear. ``n_recommenders`` counts distinct users with a
non-private endorsement (a private endorsement is seen by nobody, not even as a count);
``n_friend_recommenders`` counts only the friends whose endorsement the searcher may see (the
rule of :mod:`haowurank.feed`, blocks and mutes included), and only they are named.

References
----------
Robertson, S. and Zaragoza, H. (2009). The probabilistic relevance framework: BM25 and beyond.
Foundations and Trends in Information Retrieval 3(4), 333-389.
"""

from __future__ import annotations

import copy
import logging
import math
import re
import unicodedata
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer

from ._arrays import union_sorted, unique_sorted
from ._checks import check_indices, check_int
from ._dataset import KINDS, VISIBILITIES, Dataset
from ._errors import UnknownIdError
from .visibility import EndorsementGraph

__all__ = ["SearchIndex", "analyze"]

log = logging.getLogger(__name__)

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_TOKEN = re.compile(f"(?P<cjk>[{_CJK}]+)|(?P<word>[^\\W_{_CJK}]+)")
_COLUMNS = ["item", "score", "rank", "n_recommenders", "n_friend_recommenders", "explanation"]


def _stem(word: str) -> str:
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("es") and word[:-2].endswith(("s", "x", "ch", "sh", "z")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def analyze(text: str) -> list[str]:
    """Tokens of a mixed Chinese / English text (the analyzer of :class:`SearchIndex`).

    Examples
    --------
    >>> analyze("Nike 跑步鞋 Running Shoes")
    ['nike', '跑', '步', '鞋', '跑步', '步鞋', 'running', 'shoe']
    """
    if not text:
        return []
    text = unicodedata.normalize("NFKC", str(text)).lower()
    out: list[str] = []
    for m in _TOKEN.finditer(text):
        run = m.group("cjk")
        if run:
            out.extend(run)
            out.extend(run[k : k + 2] for k in range(len(run) - 1))
        else:
            out.append(_stem(m.group("word")))
    return out


def _people(n: int, noun: str, plural: str) -> str:
    return f"{n} {noun if n == 1 else plural}"


class SearchIndex:
    """Search items by text, weighted by recommendations and the searcher's friends.

    Parameters
    ----------
    ds : Dataset
        Items (title, category, searchable), endorsements, purchases, follows, blocks, audiences.
    text_weight, rec_weight, friend_weight : float >= 0
        The blend (see the module docstring); not all zero.
    min_text_score : float in [0, 1]
        A hit needs a text score of at least this fraction of the query's best one.
    k1, b : float
        BM25 term-frequency saturation and length normalisation.
    mutes : DataFrame, optional
        Columns ``user``, ``muted``; muted users neither boost nor are named (like blocks).
    graph : EndorsementGraph, optional
        A prebuilt visibility graph of ``ds`` (e.g. a :class:`~haowurank.feed.FeedIndex`'s),
        instead of building one.
    max_named : int
        How many visible friends the explanation names before "and N more".
    text_from : SearchIndex, optional
        An index over a Dataset with the same items (e.g. the previous day's state of a growing
        log) whose text part (vectorizer, BM25 weights) is reused instead of tokenising every
        title again; it must have the same ``k1`` and ``b``. Counts and friends come from ``ds``.

    Attributes
    ----------
    vectorizer_ : CountVectorizer
        scikit-learn's vectorizer with :func:`analyze` as its analyzer.
    n_recommenders_, n_bought_ : ndarray of int of shape (n_items,)
    purchase_verb_ : str
        The word explanations use for ``n_bought_``: ``ds.meta["purchase_verb"]`` where the
        loader says what a purchase row means there ("listened", "rated"), else "bought".

    Examples
    --------
    >>> import haowurank as hr
    >>> from haowurank.testing import small_world
    >>> hits = hr.search.SearchIndex(small_world()).query("shoes", n=3)
    >>> list(hits.columns)
    ['item', 'score', 'rank', 'n_recommenders', 'n_friend_recommenders', 'explanation']
    """

    def __init__(
        self,
        ds: Dataset,
        *,
        text_weight: float = 1.0,
        rec_weight: float = 0.3,
        friend_weight: float = 0.5,
        min_text_score: float = 0.25,
        k1: float = 1.2,
        b: float = 0.75,
        mutes: pd.DataFrame | None = None,
        graph: EndorsementGraph | None = None,
        max_named: int = 3,
        text_from: SearchIndex | None = None,
    ):
        if not isinstance(ds, Dataset):
            raise TypeError(f"SearchIndex expects a haowurank.Dataset. Got {type(ds).__name__}.")
        self.text_weight = text_weight
        self.rec_weight = rec_weight
        self.friend_weight = friend_weight
        self.min_text_score = min_text_score
        self.k1 = k1
        self.b = b
        self.max_named = max_named
        self._validate()
        if graph is not None and (graph.n_users, graph.n_items) != (ds.n_users, ds.n_items):
            raise ValueError("The 'graph' was built for another Dataset than 'ds'.")
        if graph is not None and mutes is not None:
            raise ValueError("Pass 'mutes' or a prebuilt 'graph', not both.")
        self.ds = ds
        self._mutes = mutes
        self.graph_ = graph if graph is not None else EndorsementGraph(ds, mutes=mutes)
        if text_from is not None:
            self._reuse_text(text_from)
        else:
            self._build_text()
        # global counts: distinct (user, item) keys of public endorsements and of purchases
        f = ds.indexed_interactions
        self._public_keys, self._bought_keys = _count_keys(
            ds.n_items, *(f[c].to_numpy() for c in _COUNT_COLUMNS))
        self._set_counts()
        self._user_index = pd.Index(ds.user_ids)
        log.info("SearchIndex: %d searchable items, %d terms", len(self._rows), len(self._vocab))

    def _set_counts(self) -> None:
        ni = self.ds.n_items
        self.n_recommenders_ = np.bincount(self._public_keys % ni, minlength=ni).astype(np.int64)
        self.n_bought_ = np.bincount(self._bought_keys % ni, minlength=ni).astype(np.int64)
        # what a purchase row means in this data ("listened" on Last.fm, "rated" on rating sets)
        self.purchase_verb_ = str((self.ds.meta or {}).get("purchase_verb", "bought"))
        top = self.n_recommenders_[self.searchable_].max() if self.searchable_.any() else 0
        self._rec_norm = math.log1p(top) if top > 0 else 1.0

    def appended(self, ds: Dataset, *, graph: EndorsementGraph | None = None) -> SearchIndex:
        """The index of ``ds``, a Dataset holding this index's interaction rows followed by
        new ones (the same users, items and item metadata, e.g. a log that grows by
        :meth:`Dataset.add_interactions`).

        Equal to ``SearchIndex(ds, ...)`` with this index's parameters (the same hits), built
        from this one: the text part is reused and the recommender and buyer counts are
        extended by the new rows instead of being counted again over the whole log. ``graph``:
        a prebuilt visibility graph of ``ds``, as in the constructor (otherwise this index's
        graph is extended). When ``ds`` is not such a Dataset, or this index has mutes, the
        index is built again from ``ds`` (reusing the text part).
        """
        if not isinstance(ds, Dataset):
            raise TypeError(
                f"SearchIndex.appended expects a haowurank.Dataset. Got {type(ds).__name__}.")
        if graph is not None and (graph.n_users, graph.n_items) != (ds.n_users, ds.n_items):
            raise ValueError("The 'graph' was built for another Dataset than 'ds'.")
        old = self.ds
        n0 = old.n_interactions
        same = (
            self._mutes is None and n0 <= ds.n_interactions
            and all(getattr(ds, a) is getattr(old, a) for a in (
                "user_ids", "item_ids", "item_metadata", "indexed_social", "indexed_blocks",
                "indexed_audiences"))
        )
        f = ds.indexed_interactions
        if same:
            f0 = old.indexed_interactions
            cols = _COUNT_COLUMNS if graph is not None else (*_COUNT_COLUMNS, "timestamp")
            same = all(np.array_equal(f[c].to_numpy()[:n0], f0[c].to_numpy()) for c in cols)
        if same and graph is None:
            cols = ("user", "item", "kind", "timestamp", "visibility")
            try:
                graph = self.graph_.appended({c: f[c].to_numpy()[n0:] for c in cols})
            except ValueError:
                same = False
        if not same:
            items_kept = ds.item_ids is old.item_ids and ds.item_metadata is old.item_metadata
            return SearchIndex(
                ds, text_weight=self.text_weight, rec_weight=self.rec_weight,
                friend_weight=self.friend_weight, min_text_score=self.min_text_score, k1=self.k1,
                b=self.b, mutes=self._mutes, graph=None if self._mutes is not None else graph,
                max_named=self.max_named, text_from=self if items_kept else None)
        out = copy.copy(self)
        out.ds, out.graph_ = ds, graph
        public, bought = _count_keys(ds.n_items, *(f[c].to_numpy()[n0:] for c in _COUNT_COLUMNS))
        out._public_keys = union_sorted(self._public_keys, public)
        out._bought_keys = union_sorted(self._bought_keys, bought)
        out._set_counts()
        return out

    def _build_text(self) -> None:
        items = self.ds.item_metadata
        self.searchable_ = items["searchable"].to_numpy(dtype=bool)
        docs = [
            " ".join(str(x) for x in (t, c) if x is not None and not _isnan(x))
            for t, c in zip(items["title"].to_numpy(dtype=object),
                            items["category"].to_numpy(dtype=object))
        ]
        self.vectorizer_ = CountVectorizer(analyzer=analyze, dtype=np.float32)
        self._rows = np.flatnonzero(self.searchable_)
        if len(self._rows):
            try:
                X = self.vectorizer_.fit_transform([docs[r] for r in self._rows]).tocsr()
            except ValueError:  # no token in any searchable item
                X = sp.csr_matrix((len(self._rows), 0), dtype=np.float32)
                self.vectorizer_ = None
        else:
            X = sp.csr_matrix((0, 0), dtype=np.float32)
            self.vectorizer_ = None
        self._vocab = self.vectorizer_.vocabulary_ if self.vectorizer_ is not None else {}
        self.bm25_ = self._bm25(X).tocsc()

    def _reuse_text(self, other: SearchIndex) -> None:
        if not isinstance(other, SearchIndex):
            raise TypeError(
                f"The 'text_from' parameter must be a SearchIndex. Got {type(other).__name__}.")
        mine, theirs = self.ds.item_metadata, other.ds.item_metadata
        same_items = mine is theirs or (
            np.array_equal(self.ds.item_ids, other.ds.item_ids)
            and mine[["title", "category", "searchable"]].equals(
                theirs[["title", "category", "searchable"]]))
        if not same_items or (other.k1, other.b) != (self.k1, self.b):
            raise ValueError(
                "The 'text_from' index must be built on the same items with the same k1 and b. "
                f"Got items {'equal' if same_items else 'different'}, k1={other.k1}, "
                f"b={other.b} (this index: k1={self.k1}, b={self.b}).")
        self.searchable_ = other.searchable_
        self.vectorizer_ = other.vectorizer_
        self._rows, self._vocab, self.bm25_ = other._rows, other._vocab, other.bm25_

    # ------------------------------------------------------------------ construction helpers
    def _validate(self) -> None:
        def real(name: str, lo: float, hi: float = math.inf) -> None:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not (lo <= v <= hi) or (
                not math.isfinite(v)
            ):
                bound = f"in [{lo}, {hi}]" if math.isfinite(hi) else f">= {lo}"
                raise ValueError(
                    f"The {name!r} parameter of SearchIndex must be a finite number {bound}. "
                    f"Got {v!r} instead."
                )

        for name in ("text_weight", "rec_weight", "friend_weight", "k1"):
            real(name, 0.0)
        real("b", 0.0, 1.0)
        real("min_text_score", 0.0, 1.0)
        if self.text_weight + self.rec_weight + self.friend_weight <= 0:
            raise ValueError("SearchIndex needs at least one of the blend weights > 0. Got all 0.")
        if isinstance(self.max_named, bool) or not isinstance(self.max_named, int) or (
            self.max_named < 0
        ):
            raise ValueError(
                f"The 'max_named' parameter of SearchIndex must be an int >= 0. "
                f"Got {self.max_named!r} instead."
            )

    def _bm25(self, X: sp.csr_matrix) -> sp.csr_matrix:
        n_docs = X.shape[0]
        if X.nnz == 0:
            return X.astype(np.float32)
        df = np.bincount(X.indices, minlength=X.shape[1]).astype(np.float64)
        idf = np.log1p((n_docs - df + 0.5) / (df + 0.5))
        dl = np.asarray(X.sum(axis=1)).ravel()
        avgdl = dl.mean() if dl.mean() > 0 else 1.0
        rows = np.repeat(np.arange(n_docs), np.diff(X.indptr))
        tf = X.data.astype(np.float64)
        denom = tf + self.k1 * (1 - self.b + self.b * dl[rows] / avgdl)
        W = X.copy().astype(np.float32)
        W.data = (idf[X.indices] * tf * (self.k1 + 1) / denom).astype(np.float32)
        return W

    # ------------------------------------------------------------------ querying
    def text_scores(self, text: str) -> np.ndarray:
        """BM25 score of every item for ``text`` (float32, shape (n_items,); 0 when unsearchable)."""
        out = np.zeros(self.ds.n_items, dtype=np.float32)
        terms: dict[int, int] = {}
        for tok in analyze(text):
            col = self._vocab.get(tok)
            if col is not None:
                terms[col] = terms.get(col, 0) + 1
        if not terms:
            return out
        cols = np.fromiter(terms, dtype=np.int64)
        qtf = np.fromiter(terms.values(), dtype=np.float32)
        out[self._rows] = self.bm25_[:, cols] @ qtf
        return out

    def query(self, text: str, user: Any = None, n: int = 20) -> pd.DataFrame:
        """The ``n`` best hits for ``text``, personalised for ``user`` when given.

        Parameters
        ----------
        text : str
            The query (any mix of Chinese and English).
        user : id, optional
            The searcher; their visible friends' endorsements boost items and are named.
            Unknown ids raise :class:`~haowurank.UnknownIdError`.
        n : int
            Number of hits.

        Returns
        -------
        DataFrame
            Columns ``item``, ``score``, ``rank`` (1-based), ``n_recommenders``,
            ``n_friend_recommenders``, ``explanation`` ("12 people recommended, 30 bought; your
            friends u3, u7 recommended it"). Best first; ties by item order.
        """
        if not isinstance(text, str) or not text.strip():
            raise ValueError(
                f"The 'text' parameter of SearchIndex.query must be a non-empty string. "
                f"Got {text!r} instead."
            )
        check_int(n, "n", "SearchIndex.query", 1)
        vidx = None
        if user is not None:
            pos = self._user_index.get_indexer(np.asarray([user], dtype=object))[0]
            if pos < 0:
                raise UnknownIdError(
                    f"Unknown user id {user!r} in the 'user' of SearchIndex.query: not in the "
                    f"dataset's user vocabulary."
                )
            vidx = int(pos)
        out = self._ranked([text], None if vidx is None else np.asarray([vidx]), int(n))
        return out.drop(columns="query")

    def query_many(self, texts: Any, users: Any = None, n: int = 20) -> pd.DataFrame:
        """The ``n`` best hits of many queries at once (batch form of :meth:`query`).

        Parameters
        ----------
        texts : sequence of str
            One query per row.
        users : sequence of ids, optional
            The searcher of each row (same length as ``texts``); None: no searcher.
        n : int
            Number of hits per query.

        Returns
        -------
        DataFrame
            Column ``query`` (the row's position in ``texts``), then the columns of
            :meth:`query`; the rows of each query are exactly what ``query(texts[k], users[k],
            n)`` returns, in the order of ``texts``.
        """
        texts = _checked_texts(texts, n, "query_many")
        vidx = None
        if users is not None:
            ulist = list(users)
            if len(ulist) != len(texts):
                raise ValueError(
                    f"The 'users' of SearchIndex.query_many must give one searcher per text "
                    f"({len(texts)}). Got {len(ulist)}."
                )
            vidx = self._user_index.get_indexer(np.asarray(ulist, dtype=object)).astype(np.int64)
            if (vidx < 0).any():
                unknown = [ulist[k] for k in np.flatnonzero(vidx < 0)[:5]]
                raise UnknownIdError(
                    f"Unknown user id(s) {unknown} in the 'users' of SearchIndex.query_many: "
                    f"not in the dataset's user vocabulary."
                )
        return self._ranked(texts, vidx, int(n))

    def query_indices(self, texts: Any, users: Any = None, n: int = 20) -> dict[str, np.ndarray]:
        """The hits of :meth:`query_many` as index arrays, without ids or explanation texts
        (what a simulation of many searches reads).

        Parameters
        ----------
        texts : sequence of str
            One query per row.
        users : int array-like, optional
            The searcher of each row as a user index of the dataset; None: no searcher.
        n : int
            Number of hits per query.

        Returns
        -------
        dict of ndarray
            ``query`` (the row's position in ``texts``), ``item`` (item indices), ``rank``
            (1-based), ``score`` and ``n_friend_recommenders``: the rows of ``query_many(texts,
            ds.user_ids[users], n)`` in the same order.
        """
        texts = _checked_texts(texts, n, "query_indices")
        vidx = None if users is None else check_indices(
            users, "users", "SearchIndex.query_indices", self.ds.n_users, length=len(texts))
        return _flat(self._per_row(texts, vidx, int(n), explain=False))

    def _ranked(self, texts: list[str], vidx: np.ndarray | None, n: int) -> pd.DataFrame:
        """Hits of each (text, viewer index) row as query_many's frame."""
        per_row = self._per_row(texts, vidx, n, explain=True)
        if not per_row:
            return _empty(self.ds).assign(query=pd.Series([], dtype=np.int64))[
                ["query", *_COLUMNS]]
        hits = _flat(per_row)
        return pd.DataFrame(
            {
                "query": hits["query"],
                "item": self.ds.item_ids[hits["item"]],
                "score": hits["score"],
                "rank": hits["rank"],
                "n_recommenders": self.n_recommenders_[hits["item"]],
                "n_friend_recommenders": hits["n_friend_recommenders"],
                "explanation": pd.Series([x for r in sorted(per_row) for x in per_row[r][3]],
                                         dtype=object),
            }
        )

    def _per_row(
        self, texts: list[str], vidx: np.ndarray | None, n: int, *, explain: bool
    ) -> dict[int, tuple]:
        """Hits of each (text, viewer index) row, the one ranking behind query, query_many and
        query_indices: row -> (item indices, scores, friends' counts, explanations or None)."""
        by_text: dict[str, list[int]] = {}
        for k, t in enumerate(texts):
            by_text.setdefault(t, []).append(k)
        per_row: dict[int, tuple] = {}
        uids = self.ds.user_ids
        for text, rows in by_text.items():
            ts = self.text_scores(text)
            best = float(ts.max()) if len(ts) else 0.0
            if best <= 0:
                continue
            hits = np.flatnonzero((ts > 0) & (ts >= self.min_text_score * best))
            base = self.text_weight * ts[hits].astype(np.float64) / best
            base += self.rec_weight * np.log1p(self.n_recommenders_[hits]) / self._rec_norm
            score = np.tile(base, (len(rows), 1))
            nfriend = np.zeros((len(rows), len(hits)), dtype=np.int64)
            named: dict[tuple[int, int], list] = {}
            if vidx is not None:
                t = self.graph_.triples(vidx[np.asarray(rows)])
                on_hit = np.isin(t["item"], hits)
                if on_hit.any():
                    v, it = t["viewer"][on_hit], t["item"][on_hit]
                    pos = np.searchsorted(hits, it)
                    np.add.at(nfriend, (v, pos), 1)
                    if explain:  # the friends each explanation names, strongest first
                        en, w = t["endorser"][on_hit], t["weight"][on_hit]
                        order = np.lexsort((en, -w, it, v))
                        for r, p, e in zip(v[order].tolist(), pos[order].tolist(),
                                           en[order].tolist()):
                            named.setdefault((r, p), []).append(uids[e])
                    for r, top in enumerate(nfriend.max(axis=1).tolist()):
                        if top > 0:
                            score[r] += self.friend_weight * np.log1p(nfriend[r]) / math.log1p(top)
            from .rankers import topk  # the library's one top-k kernel (ties: item order)

            # rows without a friend's boost all score ``base``: one top-k and one list of
            # explanations serve them all (topk ranks each row on its own)
            k_top = min(n, score.shape[1])
            boosted = nfriend.max(axis=1) > 0 if nfriend.size else np.zeros(len(rows), bool)
            ranked = np.empty((len(rows), k_top), dtype=np.int64)
            if (~boosted).any():
                ranked[~boosted] = topk(base[None, :], k_top)[0][0]
            if boosted.any():
                ranked[boosted] = topk(score[boosted], k_top)[0]
            plain_expl = None
            for r, row in enumerate(rows):
                order = ranked[r]
                sel = hits[order]
                if not explain:
                    per_row[row] = (sel, score[r, order], nfriend[r, order], None)
                    continue
                if not boosted[r] and plain_expl is not None:
                    per_row[row] = (sel, score[r, order], nfriend[r, order], plain_expl)
                    continue
                expl = []
                for k, it in zip(order.tolist(), sel.tolist()):
                    txt = (
                        f"{_people(int(self.n_recommenders_[it]), 'person', 'people')} "
                        f"recommended, {int(self.n_bought_[it])} {self.purchase_verb_}"
                    )
                    friends = named.get((r, k))
                    if friends:
                        shown = ", ".join(str(f) for f in friends[: self.max_named])
                        more = len(friends) - self.max_named
                        noun = "your friend" if len(friends) == 1 else "your friends"
                        txt += f"; {noun} {shown}" + (f" and {more} more" if more > 0 else "")
                        txt += " recommended it"
                    expl.append(txt)
                if not boosted[r]:
                    plain_expl = expl
                per_row[row] = (sel, score[r, order], nfriend[r, order], expl)
        return per_row


def _flat(per_row: dict[int, tuple]) -> dict[str, np.ndarray]:
    """The hits of ``SearchIndex._per_row`` as flat arrays, rows in order (``query`` the row,
    ``rank`` 1-based within it)."""
    rows = sorted(per_row)
    lens = np.asarray([len(per_row[r][0]) for r in rows], dtype=np.int64)
    if not rows:
        z = np.empty(0, dtype=np.int64)
        return {"query": z, "item": z, "rank": z, "score": np.empty(0),
                "n_friend_recommenders": z}
    return {
        "query": np.repeat(np.asarray(rows, dtype=np.int64), lens),
        "item": np.concatenate([per_row[r][0] for r in rows]).astype(np.int64),
        "rank": np.arange(int(lens.sum()), dtype=np.int64) - np.repeat(np.cumsum(lens) - lens,
                                                                        lens) + 1,
        "score": np.concatenate([per_row[r][1] for r in rows]).astype(np.float64),
        "n_friend_recommenders": np.concatenate([per_row[r][2] for r in rows]).astype(np.int64),
    }


def _checked_texts(texts: Any, n: Any, method: str) -> list[str]:
    """``texts`` as a list of non-empty strings, and ``n`` checked to be a positive int."""
    texts = [texts] if isinstance(texts, str) else list(texts)
    bad = [t for t in texts if not isinstance(t, str) or not t.strip()]
    if bad:
        raise ValueError(
            f"The 'texts' parameter of SearchIndex.{method} must hold non-empty strings. "
            f"Got {bad[0]!r} among them."
        )
    check_int(n, "n", f"SearchIndex.{method}", 1)
    return texts


_COUNT_COLUMNS = ("user", "item", "kind", "visibility")


def _count_keys(ni: int, user: np.ndarray, item: np.ndarray, kind: np.ndarray,
                visibility: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct ``user * ni + item`` keys of the public endorsements and the purchases
    among the rows."""
    u, i = user.astype(np.int64), item.astype(np.int64)
    endorse = np.isin(kind, [KINDS.index("recommend"), KINDS.index("recommend_after_purchase")])
    public = endorse & (visibility != VISIBILITIES.index("private"))
    bought = np.isin(kind, [KINDS.index("purchase"), KINDS.index("recommend_after_purchase")])
    return unique_sorted(u[public] * ni + i[public]), unique_sorted(u[bought] * ni + i[bought])


def _isnan(x: Any) -> bool:
    return isinstance(x, float) and math.isnan(x)


def _empty(ds: Dataset) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "item": pd.Series([], dtype=ds.item_ids.dtype),
            "score": pd.Series([], dtype=np.float64),
            "rank": pd.Series([], dtype=np.int64),
            "n_recommenders": pd.Series([], dtype=np.int64),
            "n_friend_recommenders": pd.Series([], dtype=np.int64),
            "explanation": pd.Series([], dtype=object),
        }
    )
