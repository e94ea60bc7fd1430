"""The ``hybrid`` strategy: a learned additive ranker over collaborative, trust and context features.

How it is fitted (everything happens inside :meth:`HybridRanker.fit`, on training data only):

1. A validation split is carved from the training data (:func:`haowurank.split.validation_split`,
   ``validation_fraction`` of each user's items).
2. The component models are fitted on the rest: implicit ALS (its size chosen from
   ``als_factors`` by NDCG@20 on the inner validation part, each size compared after
   ``als_choice_iterations`` sweeps), two item-kNN models (binary and
   BM25-weighted interactions), optionally RP3beta (a random-walk item-item model), a
   user-kNN neighbourhood, the ``trust`` ranker (tie strength +
   multi-hop personalized PageRank over the social graph), optionally EASE over the
   ``ease_items`` most popular items (its cubic cost bounded by that number, not by the
   catalogue), and popularity, category and time tables.
3. For a sample of users with validation items, candidate rows are the union of the top
   ``n_candidates`` of ALS, item-kNN, RP3beta, trust and user-kNN (plus ``n_random`` random
   unseen items);
   "the item is in the user's validation part" is the label. Every row gets the features
   below, and a logistic regression (scikit-learn, L2) learns their weights, by default on
   pairs: the difference of a validation item's features and those of another candidate of
   the same user (a RankNet-style pairwise loss), or pointwise on the rows. With
   ``spline_knots`` (default 3) each feature also gets a learned shape: a cubic B-spline on
   quantile knots, fitted in the same regression (a generalised additive model).
4. The components are refitted on all of the training data (or, with ``refit="fold_in"``, the
   held-out rows are folded into the inner CF models); the learned weights are kept.

Features of a (user, item) pair (every one is a function of that pair alone, so scores do not
depend on which other items are ranked, and the dense scoring path and explanations agree):

========================  ======================================================================
``als``                   ALS score (user factors . item factors)
``als_gap``               ALS score minus the user's best ALS score
``knn``                   item-kNN score (similarity to the user's items)
``knn_norm``              item-kNN score divided by the user's best item-kNN score
``knn2``, ``knn2_norm``   the same for the item-kNN on BM25-weighted interaction weights
``rp3``, ``rp3_norm``     the same for RP3beta (0 unless ``rp3beta`` is set)
``ease``                  EASE score restricted to the popular head (0 outside it)
``uknn``                  user-kNN score: similarity-weighted count of the user's nearest
                          neighbours (cosine over item sets) who have the item
``uknn_norm``             user-kNN score divided by the user's best user-kNN score
``trust``                 trust-weighted endorsement score (0 if no trusted account endorsed it)
``trust_log``             ``log1p(10 * trust)``
``friends``               ``log1p`` of the number of friends whose endorsement of the item the
                          user may see (:mod:`haowurank.visibility`; never their purchases)
``friend_share``          that number divided by the user's number of friends (followed
                          accounts)
``popularity``            ``log1p`` of the number of training users who have the item
``popularity_cold``       popularity divided by ``1 + log1p(number of the user's items)``
``category``              share of the user's items in the item's category (0 without metadata)
``merchant``              share of the user's items from the item's merchant (0 without metadata)
``category_popularity``   ``log(1e-4 + P(category | user) * P(item | category))``, both shares
                          of training interactions (a category-aware popularity)
``period_popularity``     ``log1p(sum_b P(period b | user) * count(item, period b))`` over
                          ``n_periods`` equal periods of the training time range: what was
                          popular when the user was active (0 without timestamps)
``time_gap``              ``log1p(|mean time of the user - mean time of the item|)`` in periods
``trust_cold``            ``trust_log / (1 + log1p(number of the user's items))``: lets the
                          social signal weigh more for users with few interactions
``friends_cold``          the same for ``friends``
========================  ======================================================================

Scores are ``intercept + sum_j (w_j * feature_j + f_j(feature_j))`` (``f_j`` the spline; 0 with
``spline_knots=0``). ``score`` computes them for every item (per batch of users: algebraically
from dense blocks for a linear score, through the pair features with splines). ``recommend``
retrieves first, then ranks: the learned score of the union of each component's top
``n_recommend_candidates`` unseen items (within ``items=`` when given); the model was trained on
exactly such candidates (how this compares with ranking every item on validation:
``experiments/hybrid_validation/``). ``n_recommend_candidates=0`` ranks every item.

Cold start: a known user with no interactions but with friends is scored by the same model (its
collaborative features are zero, trust and popularity carry it); an unknown user gets the base
class fallback (popularity).

References
----------
.. [1] Y. Hu, Y. Koren, C. Volinsky. Collaborative Filtering for Implicit Feedback Datasets.
   ICDM 2008.
.. [2] H. Steck. Embarrassingly Shallow Autoencoders for Sparse Data. WWW 2019.
.. [3] P. Covington, J. Adams, E. Sargin. Deep Neural Networks for YouTube Recommendations.
   RecSys 2016 (candidate generation from several sources, then a learned ranker).
.. [4] T.-Y. Liu. Learning to Rank for Information Retrieval. Foundations and Trends in IR 3(3),
   2009 (pointwise learning to rank).
"""

from __future__ import annotations

import copy
import logging
import time
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from .._dataset import Dataset
from .._random import rng as make_rng
from ._base import Ranker, arrays_to_csr, csr_to_arrays, sparse_topk
from ._hybrid_parts import (
    _csr_values,
    _dense,
    _FeatureBlock,
    _FittedParts,
    _group_codes,
    _item_rows,
    _share_matrix,
    _sparse_topn,
    user_neighbours,
)
from ._splines import FeatureSplines

__all__ = ["FEATURES", "HybridRanker"]

log = logging.getLogger(__name__)

#: Feature names, in the order of the learned weights.
FEATURES: tuple[str, ...] = (
    "als", "als_gap", "knn", "knn_norm", "knn2", "knn2_norm", "rp3", "rp3_norm", "ease", "uknn",
    "uknn_norm",
    "trust", "trust_log",
    "friends", "friend_share", "popularity", "popularity_cold", "category", "merchant",
    "category_popularity", "period_popularity", "time_gap", "trust_cold", "friends_cold",
)

_COMPONENTS = {"als": "als", "knn": "item_knn", "knn2": "item_knn", "rp3": "rp3beta",
               "trust": "trust"}
#: Defaults of the components (a caller's dict updates them). Strongly regularised ALS
#: with a high confidence scale and wide item neighbourhoods suit sparse data (chosen on the
#: validation splits of LastFM and Ciao, never their test parts; the choice of ALS's
#: regularisation is in experiments/hybrid_validation/); the second item-kNN weights
#: each user's row by BM25 of the interaction weights (listen counts, ratings), a view the
#: binary models do not have.
COMPONENT_DEFAULTS: dict[str, dict[str, Any]] = {
    "als": {"factors": 32, "alpha": 20.0, "regularization": 100.0},
    "knn": {"K": 200},
    "knn2": {"K": 200, "weighting": "bm25"},
    "rp3": {},
    "trust": {},
}


def _is_int(v: Any, lo: int) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool) and int(v) >= lo


def _is_real(v: Any, lo: float, *, strict: bool = False) -> bool:
    if isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating):
        return False
    return bool(np.isfinite(v) and (v > lo if strict else v >= lo))


def _pair_index(
    y: np.ndarray, groups: np.ndarray, gen: np.random.Generator, n_pairs: int
) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (pos, neg): ``n_pairs`` random negatives of the same user per positive."""
    order = np.argsort(groups, kind="stable")
    g = groups[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    ends = np.r_[starts[1:], len(g)]
    pos_out, neg_out = [], []
    for s0, e0 in zip(starts, ends):
        idx = order[s0:e0]
        pos, neg = idx[y[idx]], idx[~y[idx]]
        if not len(pos) or not len(neg):
            continue
        pick = neg[gen.integers(0, len(neg), size=(len(pos), n_pairs))]
        pos_out.append(np.repeat(pos, n_pairs))
        neg_out.append(pick.ravel())
    if not pos_out:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    return np.concatenate(pos_out), np.concatenate(neg_out)


def _pair_differences(
    Z: np.ndarray, y: np.ndarray, groups: np.ndarray, gen: np.random.Generator, n_pairs: int
) -> np.ndarray:
    """Rows ``Z[pos] - Z[neg]`` for ``n_pairs`` random negatives of the same user per positive."""
    pos, neg = _pair_index(y, groups, gen, n_pairs)
    return Z[pos] - Z[neg]


class HybridRanker(Ranker):
    """Learned additive ranker over ALS, item-kNN, RP3beta, head-EASE, trust, friend and context
    features.

    See the module docstring for the features and the fitting procedure.

    Parameters
    ----------
    als, item_knn, item_knn_weighted, trust : dict or None
        Parameters of the component rankers; they update :data:`COMPONENT_DEFAULTS` (ALS with
        32 factors, alpha 20, regularization 100; item-kNN with 200 neighbours on the binary
        matrix; item-kNN with 200 neighbours on the BM25-weighted matrix; the trust ranker's
        defaults).
    rp3beta : bool or dict, default False
        The RP3beta component (:class:`~haowurank.rankers.RP3BetaRanker`): True for its
        defaults (alpha 0.4, beta 0.3, 1,000 neighbours), a dict of its parameters, False to
        leave it out (its features are then 0 and it retrieves nothing). Off by default: beside
        the two item-kNN models it adds little on validation for extra fit time
        (``experiments/hybrid_validation/``).
    als_factors : tuple of int, default (32, 128)
        When ``als`` does not set ``factors``: the ALS sizes to choose from inside ``fit``, by
        NDCG@20 of ALS alone on the inner validation split (the users sampled for the ranking
        model); the chosen size is kept in ``als_factors_`` (the sizes chosen on the real
        data sets are recorded in ``experiments/hybrid_cost/``). One value: no choice.
    als_choice_iterations : int or None, default 5
        Compare the ``als_factors`` sizes after this many ALS sweeps instead of the
        component's own (cheaper; the chosen size is then fitted in full). None: full fits,
        and the chosen inner model is reused (the comparison with full fits is in
        ``experiments/hybrid_validation/``).
    refit : {"full", "fold_in"}, default "full"
        After the ranking model is learned on the inner split: ``"full"`` refits every
        component on all the training data; ``"fold_in"`` folds the held-out rows into the
        inner ALS and item-kNN models (:meth:`~haowurank.rankers.CFRanker.partial_fit_users`:
        user factors re-solved, item factors and similarities kept) and rebuilds only the cheap
        parts (trust, user-kNN, tables). Cheaper, but less accurate on validation
        (``experiments/hybrid_validation/``), so the default refits.
    ease_items : int, default 0
        Fit EASE on this many most popular items as one more feature (0: off, the default: on
        the data sets measured it added nothing once the other features were in); its dense
        inverse costs ``O(ease_items**3)``, independent of the catalogue size.
    ease_regularization : float, default 300.0
        EASE's ``lambda``.
    user_knn_k : int, default 50
        Neighbours per user of the user-kNN feature (cosine over item sets; 0 disables it).
    n_periods : int, default 12
        Equal periods of the training time range for the time features (0 disables them; data
        without timestamps have none).
    n_candidates : int, default 50
        Training rows per user and component: each component's top ``n_candidates``.
    n_recommend_candidates : int, default 100
        ``recommend`` ranks the union of each component's top ``max(this, n)`` unseen items
        (retrieval, then the learned ranking), which is much faster than scoring the whole
        catalogue; 0 scores every item. ``score``, ``explain`` and ``recommend`` with
        ``items=`` or ``exclude_seen=False`` always score every item they are asked about.
    n_random : int, default 0
        Random unseen items added to each training user's candidates (0: the model learns to
        order retrieved candidates only, which is what ``recommend`` ranks; measured better on
        validation than adding random items).
    max_train_users : int or None, default 5000
        Users sampled for the ranking model (None: every user with validation items).
    validation_fraction : float, default 0.2
        Share of each user's training items held out to fit the ranking model.
    C : float, default 1.0
        Inverse L2 strength of the logistic regression (on standardised features).
    objective : {"pairwise", "pointwise"}, default "pairwise"
        Pointwise: classify validation items among the candidate rows. Pairwise: classify
        which of two candidates of the same user is the validation item (a RankNet-style
        logistic loss on feature differences; per-user constants cancel).
    n_pairs : int, default 20
        Negatives drawn per positive for the pairwise objective.
    spline_knots : int, default 3
        ``k >= 2``: besides its linear weight, each feature gets a cubic B-spline term with
        knots at ``k`` quantiles of its training values (an additive, GAM-style score,
        :class:`~haowurank.rankers._splines.FeatureSplines`), fitted in the same pairwise
        regression; explanations stay per feature. 0: a linear score. Pairwise objective only.
        The choice of 3 knots against the linear score is in ``experiments/hybrid_validation/``.
    random_state : int or None, default 0
        Seeds the validation split, the samples and the components.
    defence : bool, dict or None, default True
        Clean the training data with :func:`haowurank.trust.defend` before anything is fitted
        (refunds, unverified purchase claims, endorsement rate limits, SybilRank-style account
        trust); ``True`` uses :data:`haowurank.trust.DEFAULT_DEFENCE`, a dict overrides some
        of its keys, None or False turns it off. Every component and the popularity fallback
        see the cleaned data.

    Attributes
    ----------
    weights_ : ndarray of shape (n_features,)
        Weight of each raw feature in the score (the logistic regression's coefficients
        divided by the feature's standard deviation).
    intercept_ : float
        Score offset.
    coef_ : ndarray of shape (n_features,)
        Coefficients on standardised features (comparable across features).
    feature_mean_, feature_scale_ : ndarray of shape (n_features,)
        Standardisation of the training rows.
    splines_ : FeatureSplines or None
        The features' spline bases (None with ``spline_knots=0``).
    spline_coef_ : ndarray
        Coefficients of the spline bases on the raw feature scale (empty without splines).
    fit_info_ : dict
        Rows, positives, seconds per stage and the validation AUC of the ranking model.
    training_rows_ : tuple of (X, y, groups, items)
        Only when :attr:`keep_training_rows` is True: the rows the ranking model was fitted on
        (candidates of the inner validation split), as arrays of shapes (m, n_features)
        float32 (columns :data:`FEATURES`), (m,) bool (the item is in the user's inner
        validation part), (m,) int64 user indices and (m,) int64 item indices of the inner fit
        part. Not saved with the ranker.

    Examples
    --------
    >>> import haowurank as hr
    >>> from haowurank.testing import small_world
    >>> r = hr.rankers.make("hybrid", als={"factors": 8, "iterations": 3}).fit(small_world())
    >>> ids, scores = r.recommend("u0", n=3)
    >>> sorted(r.explain("u0", ids[0])["terms"])[:2]
    ['als', 'als_gap']
    """

    name = "hybrid"
    uses_social = True
    handles_empty_users = True
    batch_size: ClassVar[int] = 256
    #: Whether ``fit`` keeps the ranking model's training rows in ``training_rows_`` (set it
    #: on a subclass or on an instance before ``fit``; for studying the ranking model).
    keep_training_rows: ClassVar[bool] = False

    def __init__(
        self,
        als: dict[str, Any] | None = None,
        item_knn: dict[str, Any] | None = None,
        item_knn_weighted: dict[str, Any] | None = None,
        trust: dict[str, Any] | None = None,
        rp3beta: dict[str, Any] | bool = False,
        als_factors: tuple[int, ...] | list[int] = (32, 128),
        als_choice_iterations: int | None = 5,
        refit: str = "full",
        ease_items: int = 0,
        ease_regularization: float = 300.0,
        user_knn_k: int = 50,
        n_periods: int = 12,
        n_candidates: int = 50,
        n_recommend_candidates: int = 100,
        n_random: int = 0,
        max_train_users: int | None = 5000,
        validation_fraction: float = 0.2,
        C: float = 1.0,
        objective: str = "pairwise",
        n_pairs: int = 20,
        spline_knots: int = 3,
        random_state: int | None = 0,
        defence: bool | dict | None = True,
    ):
        self.als = als
        self.item_knn = item_knn
        self.item_knn_weighted = item_knn_weighted
        self.trust = trust
        self.rp3beta = rp3beta
        self.als_factors = als_factors
        self.als_choice_iterations = als_choice_iterations
        self.refit = refit
        self.ease_items = ease_items
        self.ease_regularization = ease_regularization
        self.user_knn_k = user_knn_k
        self.n_periods = n_periods
        self.n_candidates = n_candidates
        self.n_recommend_candidates = n_recommend_candidates
        self.n_random = n_random
        self.max_train_users = max_train_users
        self.validation_fraction = validation_fraction
        self.C = C
        self.objective = objective
        self.n_pairs = n_pairs
        self.spline_knots = spline_knots
        self.random_state = random_state
        self.defence = defence

    # ------------------------------------------------------------------ parameters
    def _validate_params(self) -> None:
        for p in ("als", "item_knn", "item_knn_weighted", "trust"):
            self._check_param(p, getattr(self, p) is None or isinstance(getattr(self, p), dict),
                              "None or a dict of the component's parameters")
        self._check_param("rp3beta", isinstance(self.rp3beta, bool | dict),
                          "False (off), True (its defaults) or a dict of its parameters")
        af = self.als_factors
        self._check_param("als_factors", isinstance(af, tuple | list) and len(af) > 0
                          and all(_is_int(f, 1) for f in af),
                          "a non-empty tuple of positive ints")
        self._check_param("als_choice_iterations", self.als_choice_iterations is None
                          or _is_int(self.als_choice_iterations, 1), "None or a positive int")
        self._check_param("refit", self.refit in ("full", "fold_in"), "'full' or 'fold_in'")
        self._check_param("ease_items", _is_int(self.ease_items, 0), "an int >= 0 (0: no EASE)")
        self._check_param("ease_regularization", _is_real(self.ease_regularization, 0.0,
                                                          strict=True), "a finite float > 0")
        self._check_param("user_knn_k", _is_int(self.user_knn_k, 0), "an int >= 0 (0: off)")
        self._check_param("n_periods", _is_int(self.n_periods, 0), "an int >= 0 (0: no time)")
        self._check_param("n_candidates", _is_int(self.n_candidates, 1), "a positive int")
        self._check_param("n_recommend_candidates", _is_int(self.n_recommend_candidates, 0),
                          "an int >= 0 (0: rank every item)")
        self._check_param("n_random", _is_int(self.n_random, 0), "an int >= 0")
        self._check_param("max_train_users",
                          self.max_train_users is None or _is_int(self.max_train_users, 1),
                          "None or a positive int")
        vf = self.validation_fraction
        self._check_param("validation_fraction", _is_real(vf, 0.0, strict=True) and vf < 1,
                          "a float in (0, 1)")
        self._check_param("C", _is_real(self.C, 0.0, strict=True), "a finite float > 0")
        self._check_param("objective", self.objective in ("pointwise", "pairwise"),
                          "'pointwise' or 'pairwise'")
        self._check_param("n_pairs", _is_int(self.n_pairs, 1), "a positive int")
        sk = self.spline_knots
        self._check_param("spline_knots", _is_int(sk, 0) and int(sk) != 1,
                          "0 (a linear score) or an int >= 2")
        if sk and self.objective != "pairwise":
            self._check_param("spline_knots", False,
                              "0 unless objective='pairwise' (splines are fitted on pairs)")
        self._check_param("random_state",
                          self.random_state is None or _is_int(self.random_state, 0),
                          "None or a non-negative int")
        self._check_param("defence", self.defence is None or isinstance(self.defence, bool | dict),
                          "None, a bool or a dict of haowurank.trust.defend parameters")
        # components validate their own parameters on construction + fit
        from ._base import make

        for key, reg in self._components().items():
            params = self._component_params(key)
            make(reg, **params)._validate_params()

    def _components(self) -> dict[str, str]:
        """The components in use (key: registry name); RP3beta only with ``rp3beta`` set."""
        if self.rp3beta is False:
            return {k: v for k, v in _COMPONENTS.items() if k != "rp3"}
        return dict(_COMPONENTS)

    def _component_params(self, key: str, als_factors: int | None = None) -> dict[str, Any]:
        rp3 = self.rp3beta if isinstance(self.rp3beta, dict) else None
        given = {"als": self.als, "knn": self.item_knn, "knn2": self.item_knn_weighted,
                 "rp3": rp3, "trust": self.trust}[key]
        params = {**COMPONENT_DEFAULTS[key], **(copy.deepcopy(given) if given else {})}
        if key == "als" and als_factors is not None:
            params["factors"] = int(als_factors)
        if key == "als" and "random_state" not in params and self.random_state is not None:
            params["random_state"] = int(self.random_state)
        return params

    # ------------------------------------------------------------------ components
    def _fit_parts(
        self, ds: Dataset, *, show_progress: bool = False, als_factors: int | None = None,
        fitted: dict[str, Ranker] | None = None,
    ) -> _FittedParts:
        """Components and tables on ``ds``; components in ``fitted`` (by key) are used as given."""
        from ._base import make

        t0 = time.perf_counter()
        binary = ds.matrix(weight="binary")
        comps = dict(fitted or {})
        for key, reg in self._components().items():
            if key in comps:
                continue
            comps[key] = make(reg, **self._component_params(key, als_factors)).fit(
                ds, show_progress=show_progress
            )
        pop = np.asarray(binary.sum(axis=0)).ravel().astype(np.float32)
        ease_idx, ease_B = self._fit_ease(binary, pop)
        uknn = (user_neighbours(binary, int(self.user_knn_k)) if self.user_knn_k
                else sp.csr_matrix((binary.shape[0], binary.shape[0]), dtype=np.float32))
        friends = sp.csr_matrix(ds.social_matrix(weighted=False), dtype=np.float32)
        blocked = ds.block_matrix()
        if blocked.nnz:
            b = sp.csr_matrix(blocked, dtype=np.float32)
            friends = sp.csr_matrix(friends - friends.multiply(b))
            friends.eliminate_zeros()
        cat = _group_codes(ds, "category")
        mer = _group_codes(ds, "merchant")
        cat_count = np.bincount(cat[cat >= 0], weights=pop[cat >= 0]) if (cat >= 0).any() else (
            np.zeros(0))
        category_rate = np.zeros(len(pop), dtype=np.float32)
        if len(cat_count):
            known = cat >= 0
            category_rate[known] = pop[known] / np.maximum(cat_count[cat[known]], 1.0)
        periods = self._periods(ds)
        parts = _FittedParts(
            als=comps["als"], knn=comps["knn"], knn2=comps["knn2"], rp3=comps.get("rp3"),
            trust=comps["trust"], binary=binary,
            popularity=pop, ease_idx=ease_idx, ease_B=ease_B, friends=friends, uknn=uknn,
            category=cat, user_category=_share_matrix(binary, cat),
            merchant=mer, user_merchant=_share_matrix(binary, mer), category_rate=category_rate,
            **periods,
        )
        log.info("hybrid: components fitted in %.2fs", time.perf_counter() - t0)
        return parts

    def _periods(self, ds: Dataset) -> dict[str, np.ndarray]:
        """Time tables: users' shares and items' counts per period, mean times (in periods)."""
        n_u, n_i = ds.n_users, ds.n_items
        p = int(self.n_periods)
        if not ds.has_timestamps or ds.n_interactions == 0 or p == 0:
            return dict(user_period=np.zeros((n_u, 0), np.float32),
                        item_period=np.zeros((n_i, 0), np.float32),
                        user_time=np.zeros(n_u, np.float32), item_time=np.zeros(n_i, np.float32))
        a = ds.interaction_arrays()
        t = a["timestamp"].astype(np.float64)
        lo, hi = float(t.min()), float(t.max())
        width = (hi - lo) / p if hi > lo else 1.0
        pos = (t - lo) / width  # time in periods
        b = np.minimum(pos.astype(np.int64), p - 1)
        u, i = a["user"].astype(np.int64), a["item"].astype(np.int64)
        up = np.zeros((n_u, p))
        np.add.at(up, (u, b), 1.0)
        up /= np.maximum(up.sum(axis=1, keepdims=True), 1.0)
        ip = np.zeros((n_i, p))
        np.add.at(ip, (i, b), 1.0)
        mean = float(pos.mean())

        def mean_time(idx: np.ndarray, n: int) -> np.ndarray:
            cnt = np.bincount(idx, minlength=n)
            tot = np.bincount(idx, weights=pos, minlength=n)
            return np.where(cnt > 0, tot / np.maximum(cnt, 1), mean).astype(np.float32)

        return dict(user_period=up.astype(np.float32), item_period=ip.astype(np.float32),
                    user_time=mean_time(u, n_u), item_time=mean_time(i, n_i))

    def _fit_ease(self, binary: sp.csr_matrix, pop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from ._cf import ease_weights

        p = min(int(self.ease_items), binary.shape[1])
        if p < 2 or binary.nnz == 0:
            return np.empty(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
        order = np.lexsort((np.arange(len(pop)), -pop))[:p]
        idx = np.sort(order).astype(np.int64)
        B = ease_weights(binary[:, idx], float(self.ease_regularization))
        return idx, B

    # ------------------------------------------------------------------ features
    def _blocks(self, parts: _FittedParts, uidx: np.ndarray) -> _FeatureBlock:
        """Per-batch building blocks of the features for users ``uidx``.

        Dense (len(uidx), n_items) float32 arrays of the ALS, item-kNN (both), user-kNN, trust
        and friend scores, dense EASE scores over the head items, and per-user statistics;
        the sparse item-kNN, trust and user-kNN rows are kept too (``*_sp``), for retrieval.
        Callers bound ``len(uidx) * n_items`` (see :meth:`_chunk`).
        """
        u = np.asarray(uidx, dtype=np.int64)
        sa = np.asarray(parts.als._score(u), dtype=np.float32)
        kp, kp2 = _item_rows(parts.knn, u), _item_rows(parts.knn2, u)
        sk, sk2 = _dense(kp), _dense(kp2)
        zeros = np.zeros(len(u), dtype=np.float32)
        kmax = np.maximum(sk.max(axis=1), 0) if sk.shape[1] else zeros
        k2max = np.maximum(sk2.max(axis=1), 0) if sk2.shape[1] else zeros
        if parts.rp3 is not None:
            rp = _item_rows(parts.rp3, u)
            srp = _dense(rp)
            rpmax = np.maximum(srp.max(axis=1), 0) if srp.shape[1] else zeros
        else:  # rp3beta=False: the features are 0
            rp, srp, rpmax = None, None, zeros
        if len(parts.ease_idx):
            ease = np.asarray(parts.binary[u][:, parts.ease_idx] @ parts.ease_B, dtype=np.float32)
        else:
            ease = np.zeros((len(u), 0), dtype=np.float32)
        tr = sp.csr_matrix(parts.trust._candidates(u), dtype=np.float32)
        tr.data = np.maximum(tr.data, 0)
        uk = sp.csr_matrix(parts.uknn[u] @ parts.binary, dtype=np.float32)
        ukd = _dense(uk)
        ukmax = np.maximum(ukd.max(axis=1), 0) if ukd.shape[1] else zeros
        return _FeatureBlock(
            uidx=u, als=sa, als_max=sa.max(axis=1) if sa.shape[1] else np.zeros(len(u)),
            knn=sk, knn_max=np.where(kmax > 0, kmax, 1.0).astype(np.float32), ease=ease,
            knn2=sk2, knn2_max=np.where(k2max > 0, k2max, 1.0).astype(np.float32),
            rp3=srp, rp3_max=np.where(rpmax > 0, rpmax, 1.0).astype(np.float32), rp3_sp=rp,
            trust=_dense(tr), friends=_dense(parts.trust.graph_.visible(u).counts()), uknn=ukd,
            uknn_max=np.where(ukmax > 0, ukmax, 1.0).astype(np.float32),
            knn_sp=kp, trust_sp=tr, uknn_sp=uk,
            n_friends=np.maximum(np.diff(parts.friends.indptr)[u], 1).astype(np.float32),
            activity=np.log1p(np.diff(parts.binary.indptr)[u]).astype(np.float32),
            user_category=None if parts.user_category is None else parts.user_category[u],
            user_merchant=None if parts.user_merchant is None else parts.user_merchant[u],
            user_period=parts.user_period[u], user_time=parts.user_time[u],
        )

    @staticmethod
    def _chunk(n_items: int) -> int:
        """Users per block: about 6 dense float32 (users, items) arrays within ~200 MB."""
        return int(max(1, min(256, 8_000_000 // max(n_items, 1))))

    def _pair_features(self, parts: _FittedParts, blk: _FeatureBlock, r: np.ndarray, c: np.ndarray) -> np.ndarray:
        """Features (len(r), n_features) of the pairs (blk.uidx[r], c): the definition of
        :data:`FEATURES` that training, explanations and tests use."""
        n = len(r)
        X = np.zeros((n, len(FEATURES)), dtype=np.float32)
        col = {name: j for j, name in enumerate(FEATURES)}
        X[:, col["als"]] = blk.als[r, c]
        X[:, col["als_gap"]] = blk.als[r, c] - blk.als_max[r]
        k1 = blk.knn[r, c]
        k2 = blk.knn2[r, c]
        X[:, col["knn"]] = k1
        X[:, col["knn_norm"]] = k1 / blk.knn_max[r]
        X[:, col["knn2"]] = k2
        X[:, col["knn2_norm"]] = k2 / blk.knn2_max[r]
        if blk.rp3 is not None:
            rp = blk.rp3[r, c]
            X[:, col["rp3"]] = rp
            X[:, col["rp3_norm"]] = rp / blk.rp3_max[r]
        if len(parts.ease_idx):
            pos = np.full(parts.binary.shape[1], -1, dtype=np.int64)
            pos[parts.ease_idx] = np.arange(len(parts.ease_idx))
            pc = pos[c]
            head = pc >= 0
            X[head, col["ease"]] = blk.ease[r[head], pc[head]]
        uk = blk.uknn[r, c]
        X[:, col["uknn"]] = uk
        X[:, col["uknn_norm"]] = uk / blk.uknn_max[r]
        t = blk.trust[r, c]
        X[:, col["trust"]] = t
        X[:, col["trust_log"]] = np.log1p(10.0 * t)
        f = blk.friends[r, c]
        X[:, col["friends"]] = np.log1p(f)
        X[:, col["friend_share"]] = f / blk.n_friends[r]
        cold = 1.0 / (1.0 + blk.activity[r])
        X[:, col["trust_cold"]] = X[:, col["trust_log"]] * cold
        X[:, col["friends_cold"]] = X[:, col["friends"]] * cold
        pop = np.log1p(parts.popularity[c])
        X[:, col["popularity"]] = pop
        X[:, col["popularity_cold"]] = pop / (1.0 + blk.activity[r])
        for name in ("category", "merchant"):
            share = getattr(blk, f"user_{name}")
            if share is None:
                continue
            codes = getattr(parts, name)[c]
            ok = codes >= 0
            X[ok, col[name]] = _csr_values(share, r[ok], codes[ok])
        X[:, col["category_popularity"]] = np.log(
            np.float32(1e-4) + X[:, col["category"]] * parts.category_rate[c]
        )
        if parts.item_period.shape[1]:
            X[:, col["period_popularity"]] = np.log1p(
                np.einsum("ij,ij->i", blk.user_period[r], parts.item_period[c])
            )
        X[:, col["time_gap"]] = np.log1p(np.abs(blk.user_time[r] - parts.item_time[c]))
        return X

    def _score_with(self, parts: _FittedParts, uidx: np.ndarray) -> np.ndarray:
        """Dense scores of every item for users ``uidx``: a linear score combined algebraically
        from the blocks (equal to :meth:`_pair_features` at every pair, within float32
        rounding); with splines, through the pair features (:meth:`_score_pairs`)."""
        blk = self._blocks(parts, uidx)
        if self.splines_ is not None:
            return self._score_pairs(parts, blk)
        w = {name: np.float32(self.weights_[j]) for j, name in enumerate(FEATURES)}
        out = blk.als
        out *= w["als"] + w["als_gap"]
        out += (np.float32(self.intercept_) - w["als_gap"] * blk.als_max)[:, None]
        out += blk.knn * (w["knn"] + w["knn_norm"] / blk.knn_max)[:, None]
        out += blk.knn2 * (w["knn2"] + w["knn2_norm"] / blk.knn2_max)[:, None]
        if blk.rp3 is not None:
            out += blk.rp3 * (w["rp3"] + w["rp3_norm"] / blk.rp3_max)[:, None]
        if len(parts.ease_idx) and w["ease"]:
            out[:, parts.ease_idx] += w["ease"] * blk.ease
        cold = (1.0 / (1.0 + blk.activity))[:, None].astype(np.float32)
        out += blk.uknn * (w["uknn"] + w["uknn_norm"] / blk.uknn_max)[:, None]
        if blk.trust.any():
            out += w["trust"] * blk.trust
            out += np.log1p(np.float32(10.0) * blk.trust) * (w["trust_log"] + w["trust_cold"] * cold)
        if blk.friends.any():
            out += np.log1p(blk.friends) * (w["friends"] + w["friends_cold"] * cold)
            out += blk.friends * (w["friend_share"] / blk.n_friends)[:, None]
        pop = np.log1p(parts.popularity).astype(np.float32)
        out += pop[None, :] * (w["popularity"] + w["popularity_cold"] / (1.0 + blk.activity))[:, None]
        m = out.shape[1]
        for name in ("category", "merchant"):
            share = getattr(blk, f"user_{name}")
            wc = w["category_popularity"] if name == "category" else np.float32(0)
            if share is None:
                if wc:
                    out += wc * np.float32(np.log(np.float32(1e-4)))
                continue
            codes = getattr(parts, name)
            known = np.flatnonzero(codes >= 0)
            dense = np.asarray(share.toarray(), dtype=np.float32)
            vals = np.zeros((len(uidx), m), dtype=np.float32)
            vals[:, known] = dense[:, codes[known]]
            if w[name]:
                out += w[name] * vals
            if wc:
                vals *= parts.category_rate[None, :]
                vals += np.float32(1e-4)
                out += wc * np.log(vals)
        if parts.item_period.shape[1] and w["period_popularity"]:
            out += w["period_popularity"] * np.log1p(blk.user_period @ parts.item_period.T)
        if w["time_gap"]:
            out += w["time_gap"] * np.log1p(np.abs(blk.user_time[:, None] - parts.item_time[None, :]))
        return out

    def _score_pairs(self, parts: _FittedParts, blk: _FeatureBlock) -> np.ndarray:
        """Dense scores of a batch through :meth:`_pair_features` at every (user, item) pair,
        in slices of about a million pairs (the spline terms are not algebraic in the blocks)."""
        n_users, n_items = len(blk.uidx), parts.binary.shape[1]
        out = np.empty((n_users, n_items), dtype=np.float32)
        step = max(1, 1_000_000 // max(n_items, 1))
        for s0 in range(0, n_users, step):
            s1 = min(s0 + step, n_users)
            r = np.repeat(np.arange(s0, s1), n_items)
            c = np.tile(np.arange(n_items), s1 - s0)
            out[s0:s1] = self._rank_scores(self._pair_features(parts, blk, r, c)).reshape(
                s1 - s0, n_items)
        return out

    def _candidates(
        self, parts: _FittedParts, blk: _FeatureBlock, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Candidate pairs (local rows, items) of a batch: the union of the top ``k`` unseen
        items of ALS (implicit's own top k), item-kNN, trust, user-kNN, RP3beta (and the head EASE),
        among the ``allowed`` items (a boolean mask over items; None: all)."""
        u = blk.uidx
        n_items = parts.binary.shape[1]
        k = min(int(k), n_items)
        seen = _dense(parts.binary[u]) > 0
        if allowed is not None:
            seen |= ~np.asarray(allowed, dtype=bool)[None, :]
        cand = np.zeros((len(u), n_items), dtype=bool)
        top, _ = parts.als._recommend_idx(u, k, True, allowed)
        rows = np.broadcast_to(np.arange(len(u))[:, None], top.shape)
        cand[rows[top >= 0], top[top >= 0]] = True
        sources = [blk.knn_sp, blk.trust_sp, blk.uknn_sp]
        if blk.rp3_sp is not None:
            sources.append(blk.rp3_sp)
        if len(parts.ease_idx):
            e = np.zeros((len(u), n_items), dtype=np.float32)
            e[:, parts.ease_idx] = blk.ease
            sources.append(sp.csr_matrix(e))
        for m in sources:
            rr, cc = _sparse_topn(m, k, drop=seen)  # seen items out before the top k is taken
            cand[rr, cc] = True
        cand &= ~seen
        return np.nonzero(cand)

    def _training_rows(
        self, parts: _FittedParts, val: sp.csr_matrix, users: np.ndarray, gen: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Feature rows, labels, users (groups) and items of the candidates of ``users``."""
        n_items = parts.binary.shape[1]
        X_parts, y_parts, g_parts, i_parts = [], [], [], []
        bs = self._chunk(n_items)
        for s0 in range(0, len(users), bs):
            u = users[s0 : s0 + bs]
            blk = self._blocks(parts, u)
            r, c = self._candidates(parts, blk, int(self.n_candidates))
            if self.n_random:
                rr = np.repeat(np.arange(len(u)), int(self.n_random))
                cc = gen.integers(0, n_items, size=len(rr))
                keys = np.unique(np.concatenate([r * n_items + c, rr * n_items + cc]))
                r, c = keys // n_items, keys % n_items
                unseen = _csr_values(parts.binary[u], r, c) == 0
                r, c = r[unseen], c[unseen]
            X_parts.append(self._pair_features(parts, blk, r, c))
            y_parts.append(_csr_values(val[u], r, c) > 0)
            g_parts.append(u[r])
            i_parts.append(c)
        if not X_parts:
            empty = np.zeros(0, dtype=np.int64)
            return (np.zeros((0, len(FEATURES)), dtype=np.float32), np.zeros(0, dtype=bool),
                    empty, empty)
        return (np.vstack(X_parts), np.concatenate(y_parts), np.concatenate(g_parts),
                np.concatenate(i_parts))

    # ------------------------------------------------------------------ fitting
    def _choose_als(
        self, fit_part: Dataset, val: sp.csr_matrix, users: np.ndarray
    ) -> tuple[Ranker | None, int, dict[str, float]]:
        """The ALS component fitted on ``fit_part`` with the size in ``als_factors`` whose top
        20 (seen items excluded) has the best NDCG@20 on ``val`` over ``users`` (ties: the
        smaller). Returns (model, factors, {factors: NDCG@20}); no choice when ``als`` sets
        ``factors`` or ``als_factors`` has one value (the model is then fitted later).

        With ``als_choice_iterations`` set, the sizes are compared after that many ALS sweeps
        (cheaper) and no model is returned: the chosen size is fitted with the component's
        own iterations later."""
        from ..metrics import ndcg_at_k
        from ._base import make

        sizes = sorted({int(f) for f in self.als_factors})
        if self.als and "factors" in self.als:
            return None, int(self.als["factors"]), {}
        if len(sizes) == 1:
            return None, sizes[0], {}
        best, scores = None, {}
        short = self.als_choice_iterations
        for f in sizes:
            params = self._component_params("als", f)
            if short is not None:
                own = make("als", **params).get_params()["iterations"]  # the ALS default
                params["iterations"] = min(int(short), int(own))
            m = make("als", **params).fit(fit_part)
            if len(users):
                top = np.concatenate([
                    m._recommend_idx(users[s0 : s0 + 1024], 20, True, None)[0]
                    for s0 in range(0, len(users), 1024)
                ])
                scores[str(f)] = float(np.nanmean(ndcg_at_k(top, val[users], 20)))
            else:
                scores[str(f)] = 0.0
            if best is None or scores[str(f)] > scores[str(best[1])]:
                best = (m, f)
        log.info("hybrid: ALS size by inner validation NDCG@20: %s -> %d", scores, best[1])
        return (best[0] if short is None else None), best[1], scores

    def _fit(self, ds: Dataset, *, show_progress: bool, callback: Any) -> None:
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import roc_auc_score

        from .. import split
        from ..trust import defended_training_data, item_popularity

        ds, self.defence_report_ = defended_training_data(ds, self.defence)
        if self.defence_report_:
            self.fallback_ = item_popularity(ds)
        info: dict[str, Any] = {}
        t0 = time.perf_counter()
        seed = 0 if self.random_state is None else int(self.random_state)
        gen = make_rng(self.random_state)
        fit_part, val_part = split.validation_split(
            ds, fraction=float(self.validation_fraction), seed=seed + 1
        )
        val = val_part.matrix(weight="binary")
        users = np.flatnonzero(np.diff(val.indptr) > 0)
        if self.max_train_users is not None and len(users) > self.max_train_users:
            users = np.sort(gen.choice(users, int(self.max_train_users), replace=False))
        als, self.als_factors_, info["als_choice"] = self._choose_als(fit_part, val, users)
        parts = self._fit_parts(fit_part, show_progress=show_progress,
                                als_factors=self.als_factors_,
                                fitted=None if als is None else {"als": als})
        info["inner_fit_s"] = time.perf_counter() - t0
        if callback is not None:
            callback("hybrid: inner components", 0.3)
        t1 = time.perf_counter()
        rows = self._training_rows(parts, val, users, gen)
        if self.keep_training_rows:
            self.training_rows_ = rows
        X, y, groups, _ = rows
        info.update(rows=int(len(y)), positives=int(y.sum()), users=int(len(users)),
                    features_s=time.perf_counter() - t1)
        n_f = len(FEATURES)
        splines, spline_coef = None, np.zeros(0)
        one_class = y.sum() == 0 or y.sum() == len(y)
        if one_class:
            log.warning(
                "hybrid: the inner validation split gave %s; falling back to fixed weights "
                "(ALS + trust + popularity).", "no positives" if y.sum() == 0 else "no negatives",
            )
            coef = np.zeros(n_f)
            for name, w in (("als", 1.0), ("trust_log", 1.0), ("popularity", 0.5)):
                coef[FEATURES.index(name)] = w
            mean, scale, intercept = np.zeros(n_f), np.ones(n_f), 0.0
            info["auc"] = float("nan")
        else:
            X = X.astype(np.float64)
            mean = X.mean(axis=0)
            scale = X.std(axis=0)
            constant = scale <= 1e-9 * (1.0 + np.abs(mean))
            scale[constant] = 1.0
            Z = (X - mean) / scale
            Z[:, constant] = 0.0
            t2 = time.perf_counter()
            if self.objective == "pairwise":
                pos, neg = _pair_index(y, groups, gen, int(self.n_pairs))
                D = Z[pos] - Z[neg]
                if self.spline_knots:
                    splines = FeatureSplines.from_quantiles(X, int(self.spline_knots))
                    D, spline_scale = self._with_spline_differences(D, X, pos, neg, splines)
                flip = gen.random(len(D)) < 0.5
                D[flip] *= -1.0
                # with splines (~150 columns) Newton steps converge in a few iterations where
                # L-BFGS takes hundreds; the linear model keeps its solver
                solver = "newton-cholesky" if self.spline_knots else "lbfgs"
                lr = LogisticRegression(C=float(self.C), fit_intercept=False, max_iter=500,
                                        solver=solver)
                with threadpool_limits(1):
                    lr.fit(D, ~flip)
                intercept = 0.0
            else:
                lr = LogisticRegression(C=float(self.C), max_iter=500)
                with threadpool_limits(1):
                    lr.fit(Z, y)
                intercept = float(lr.intercept_[0])
            coef = lr.coef_[0][:n_f].astype(np.float64)
            coef[constant] = 0.0
            if splines is not None:
                spline_coef = lr.coef_[0][n_f:].astype(np.float64) / spline_scale
            info["model_s"] = time.perf_counter() - t2
        self.coef_ = coef
        self.feature_mean_ = mean
        self.feature_scale_ = scale
        self.weights_ = (coef / scale).astype(np.float64)
        self.intercept_ = float(intercept - (mean * self.weights_).sum())
        self.splines_, self.spline_coef_ = splines, spline_coef
        if not one_class:
            info["auc"] = float(roc_auc_score(y, self._rank_scores(X)))
        if callback is not None:
            callback("hybrid: ranking model", 0.6)
        t3 = time.perf_counter()
        fitted = None
        if self.refit == "fold_in":
            # the held-out rows are folded into the inner CF components (ALS user factors
            # re-solved with item factors fixed; item-kNN rows replaced, similarities kept);
            # the cheap parts (trust, user-kNN, tables) are rebuilt on all of ``ds``
            rows = val_part.interactions
            fitted = {key: getattr(parts, key) for key in ("als", "knn", "knn2", "rp3")
                      if getattr(parts, key) is not None}
            if len(rows):
                for comp in fitted.values():
                    comp.partial_fit_users(rows)
        del parts
        self.parts_ = self._fit_parts(ds, show_progress=show_progress,
                                      als_factors=self.als_factors_, fitted=fitted)
        info["refit_s"] = time.perf_counter() - t3
        info["fit_s"] = time.perf_counter() - t0
        self.fit_info_ = info
        log.info("hybrid: %s", info)
        if callback is not None:
            callback("hybrid: refit", 1.0)

    @staticmethod
    def _with_spline_differences(
        D: np.ndarray, X: np.ndarray, pos: np.ndarray, neg: np.ndarray, splines: FeatureSplines
    ) -> tuple[np.ndarray, np.ndarray]:
        """``D`` with the differences of the pairs' spline bases appended (each basis column
        divided by its standard deviation over the rows in pairs), and those deviations."""
        rows = np.unique(np.r_[pos, neg])
        B = splines.basis(X[rows])
        scale = B.std(axis=0)
        scale[scale <= 1e-9] = np.inf  # a column without spread gets no weight
        B /= scale
        at = np.searchsorted(rows, pos), np.searchsorted(rows, neg)
        return np.hstack([D, B[at[0]] - B[at[1]]]), scale

    def _rank_scores(self, X: np.ndarray) -> np.ndarray:
        """The ranking model's score of feature rows ``X`` (float64): the linear terms plus,
        with ``spline_knots``, every feature's spline term."""
        out = self.intercept_ + np.asarray(X, dtype=np.float64) @ self.weights_
        if self.splines_ is not None:
            out += self.splines_.terms(X, self.spline_coef_).sum(axis=1)
        return out

    # ------------------------------------------------------------------ scoring
    def _score(self, uidx: np.ndarray) -> np.ndarray:
        uidx = np.asarray(uidx, dtype=np.int64)
        bs = self._chunk(len(self.item_ids_))
        if len(uidx) <= bs:
            return self._score_with(self.parts_, uidx)
        out = np.empty((len(uidx), len(self.item_ids_)), dtype=np.float32)
        for s0 in range(0, len(uidx), bs):
            out[s0 : s0 + bs] = self._score_with(self.parts_, uidx[s0 : s0 + bs])
        return out

    def _recommend_idx(
        self, uidx: np.ndarray, n: int, exclude_seen: bool, cand: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-n by retrieval then ranking: the learned score of the union of the components'
        top ``n_recommend_candidates`` unseen items (see :meth:`_candidates`).

        A candidate set (``items=``, a boolean mask ``cand``) restricts retrieval to those
        items. ``exclude_seen=False``, unknown users and users with fewer than ``n`` retrieved
        items take the base class's full dense ranking.
        """
        if not exclude_seen or not self.n_recommend_candidates:
            return super()._recommend_idx(uidx, n, exclude_seen, cand)
        b = len(uidx)
        out_i = np.full((b, n), -1, dtype=np.int64)
        out_s = np.full((b, n), -np.inf, dtype=np.float32)
        known = np.flatnonzero(uidx >= 0)
        dense_rows = np.flatnonzero(uidx < 0)
        bs = self._chunk(len(self.item_ids_))
        short_rows = []
        for s0 in range(0, len(known), bs):
            kn = known[s0 : s0 + bs]
            parts = self.parts_
            blk = self._blocks(parts, uidx[kn])
            k = max(int(self.n_recommend_candidates), n)
            r, c = self._candidates(parts, blk, k, cand)
            counts = np.bincount(r, minlength=len(kn))
            short = counts < n
            if short.any():
                short_rows.append(kn[short])
                keep = ~short[r]
                r, c = r[keep], c[keep]
            if len(r):
                X = self._pair_features(parts, blk, r, c)
                sc = self._rank_scores(X).astype(np.float32)
                top_i, top_s = sparse_topk(r, c, sc, len(kn), n)  # the one top-k kernel
                got = np.bincount(r, minlength=len(kn)) > 0
                out_i[kn[got]], out_s[kn[got]] = top_i[got], top_s[got]
        if short_rows:
            dense_rows = np.concatenate([dense_rows, *short_rows])
        if len(dense_rows):
            dense_rows = np.sort(dense_rows)
            i, sc = super()._recommend_idx(uidx[dense_rows], n, exclude_seen, cand)
            out_i[dense_rows], out_s[dense_rows] = i, sc
        return out_i, out_s

    def candidate_features(
        self, uidx: Any, n_candidates: int | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The candidates ``recommend`` retrieves for known users (by index) and their features.

        Retrieval is :meth:`recommend`'s: the union of the top ``n_candidates`` unseen items of
        each component (ALS, both item-kNN models, trust, user-kNN, RP3beta and the head EASE
        when fitted). The feature rows are the ones the ranking model scores (its linear part
        is ``intercept_ + X @ weights_``), for studying that model on held-out data.

        Parameters
        ----------
        uidx : int array of shape (k,)
            Positions in ``user_ids_`` of known users (no -1).
        n_candidates : int, optional
            Items retrieved per component (None: ``n_recommend_candidates``; 0: every unseen
            item is a candidate).

        Returns
        -------
        rows : ndarray of shape (m,), int64
            Position in ``uidx`` of each candidate pair, ascending (then by item).
        items : ndarray of shape (m,), int64
            Item index of each pair.
        X : ndarray of shape (m, len(FEATURES)), float32
            The pairs' features, columns in the order of :data:`FEATURES`.
        """
        self._check_fitted()
        u = self._index_array(uidx, len(self.user_ids_), "uidx", "candidate_features")
        if len(u) and u.min() < 0:
            raise ValueError(
                f"The 'uidx' parameter of HybridRanker.candidate_features must hold known users "
                f"(indices >= 0). Got {int((u < 0).sum())} unknown user(s) (-1)."
            )
        k = self.n_recommend_candidates if n_candidates is None else n_candidates
        if not _is_int(k, 0):
            raise ValueError(
                f"The 'n_candidates' parameter of HybridRanker.candidate_features must be None "
                f"or an int >= 0. Got {n_candidates!r} instead."
            )
        parts = self.parts_
        n_items = parts.binary.shape[1]
        bs = self._chunk(n_items)
        R, C, X = [], [], []
        for s0 in range(0, len(u), bs):
            blk = self._blocks(parts, u[s0 : s0 + bs])
            if k:
                r, c = self._candidates(parts, blk, int(k))
            else:
                r, c = np.nonzero(_dense(parts.binary[blk.uidx]) == 0)
            X.append(self._pair_features(parts, blk, r, c))
            R.append(np.asarray(r, dtype=np.int64) + s0)
            C.append(np.asarray(c, dtype=np.int64))
        if not X:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, np.zeros((0, len(FEATURES)), dtype=np.float32)
        return np.concatenate(R), np.concatenate(C), np.vstack(X)

    def pair_features_at(self, uidx: Any, iidx: Any) -> np.ndarray:
        """Features of arbitrary (user index, item index) pairs of known users.

        The batch counterpart of :meth:`feature_values` by index, for pairs ``recommend``
        would not retrieve (another model's candidates, say).

        Parameters
        ----------
        uidx, iidx : int arrays of shape (m,)
            Pair ``k`` is (``user_ids_[uidx[k]]``, ``item_ids_[iidx[k]]``); users must be known
            (no -1).

        Returns
        -------
        ndarray of shape (m, len(FEATURES)), float32
            Columns in the order of :data:`FEATURES`.
        """
        self._check_fitted()
        u = self._index_array(uidx, len(self.user_ids_), "uidx", "pair_features_at")
        i = self._index_array(iidx, len(self.item_ids_), "iidx", "pair_features_at")
        if len(u) != len(i):
            raise ValueError(
                f"The 'uidx' and 'iidx' parameters of HybridRanker.pair_features_at must have "
                f"the same length. Got {len(u)} and {len(i)}."
            )
        if len(u) and (u.min() < 0 or i.min() < 0):
            raise ValueError(
                "The 'uidx' and 'iidx' parameters of HybridRanker.pair_features_at must hold "
                f"known users and items (indices >= 0). Got {int((u < 0).sum())} user(s) and "
                f"{int((i < 0).sum())} item(s) of -1."
            )
        X = np.zeros((len(u), len(FEATURES)), dtype=np.float32)
        if not len(u):
            return X
        parts = self.parts_
        uq, inv = np.unique(u, return_inverse=True)
        bs = self._chunk(parts.binary.shape[1])
        for s0 in range(0, len(uq), bs):
            sel = np.flatnonzero((inv >= s0) & (inv < s0 + bs))
            blk = self._blocks(parts, uq[s0 : s0 + bs])
            X[sel] = self._pair_features(parts, blk, inv[sel] - s0, i[sel])
        return X

    @staticmethod
    def pair_differences(
        Z: np.ndarray, y: np.ndarray, groups: np.ndarray, rng: np.random.Generator, n_pairs: int
    ) -> np.ndarray:
        """The rows of the pairwise objective: ``Z[pos] - Z[neg]``.

        For every positive row (``y`` True), ``n_pairs`` negatives of the same group (user) are
        drawn with ``rng``, uniformly with replacement; groups without a positive or without a
        negative give no rows. ``fit`` draws its pairs this way (from standardised features,
        before the spline columns and the random sign flips).

        Parameters
        ----------
        Z : ndarray of shape (m, f)
        y : bool ndarray of shape (m,)
        groups : int ndarray of shape (m,)
        rng : numpy.random.Generator
        n_pairs : int

        Returns
        -------
        ndarray of shape (n_positives_kept * n_pairs, f)
        """
        return _pair_differences(Z, y, groups, rng, n_pairs)

    def feature_values(self, user: Any, items: Any) -> pd.DataFrame:
        """The raw feature values of one known user against the given items (rows: items)."""
        from .._errors import UnknownIdError

        uidx, _ = self._user_indices(user)
        if uidx[0] < 0:
            raise UnknownIdError(f"Unknown user id {user!r} for HybridRanker.feature_values.")
        items = list(items)
        iidx = np.asarray(pd.Index(self.item_ids_).get_indexer(np.asarray(items, dtype=object)))
        if (iidx < 0).any():
            raise UnknownIdError(f"Unknown item id(s) for HybridRanker.feature_values: {items!r}.")
        blk = self._blocks(self.parts_, uidx[:1])
        X = self._pair_features(self.parts_, blk, np.zeros(len(iidx), dtype=np.int64), iidx)
        return pd.DataFrame(X.astype(np.float64), columns=list(FEATURES),
                            index=pd.Index(items, name="item"))

    def _explain(self, u: int, i: int) -> dict[str, Any]:
        vals = self.feature_values(self.user_ids_[u], [self.item_ids_[i]]).iloc[0]
        x = vals.to_numpy(dtype=np.float64)[None, :]
        linear = self.weights_ * (x[0] - self.feature_mean_)
        if self.splines_ is not None:  # each spline relative to its mean row
            linear = linear + (self.splines_.terms(x, self.spline_coef_)[0]
                               - self.splines_.terms(self.feature_mean_[None, :],
                                                     self.spline_coef_)[0])
        contrib = {name: float(linear[j]) for j, name in enumerate(FEATURES)}
        top = sorted(contrib.items(), key=lambda kv: -abs(kv[1]))[:3]
        trust_e = self.parts_.trust._explain(u, i) if vals["trust"] > 0 else {}
        friends = trust_e.get("friends", []) if not trust_e.get("fallback") else []
        parts = ", ".join(f"{k} {v:+.2f}" for k, v in top)
        how = "weights and feature shapes" if self.splines_ is not None else "weights"
        text = f"Hybrid score from learned {how}; strongest terms: {parts}."
        if vals["trust"] > 0 and trust_e.get("text"):
            text += " " + trust_e["text"]
        # user-kNN is aggregate evidence: a count, never names
        nb = self.parts_.uknn[u]
        similar = int(self.parts_.binary[nb.indices][:, [i]].nnz) if nb.nnz else 0
        if similar:
            text += f" Liked by {similar} {'person' if similar == 1 else 'people'} with similar taste."
        return {
            "terms": contrib,
            "features": {k: float(v) for k, v in vals.items()},
            "friends": friends,
            "n_similar_users": similar,
            "kinds": trust_e.get("kinds", {}) if not trust_e.get("fallback") else {},
            "text": text,
        }

    # ------------------------------------------------------------------ persistence
    def _state(self) -> dict[str, np.ndarray]:
        p = self.parts_
        out: dict[str, np.ndarray] = {
            "hy.coef": self.coef_,
            "hy.mean": self.feature_mean_,
            "hy.scale": self.feature_scale_,
            "hy.weights": self.weights_,
            "hy.intercept": np.asarray([self.intercept_]),
            "hy.features": np.asarray(FEATURES, dtype=str),
            "hy.als_factors": np.asarray([self.als_factors_], dtype=np.int64),
            **({} if self.splines_ is None else {
                **{f"hy.spline_{k}": v for k, v in self.splines_.to_arrays().items()},
                "hy.spline_coef": self.spline_coef_}),
            "hy.ease_idx": p.ease_idx,
            "hy.ease_B": p.ease_B,
            "hy.category": p.category,
            "hy.merchant": p.merchant,
            **csr_to_arrays("hy.friends", p.friends),
            **csr_to_arrays("hy.uknn", p.uknn),
            "hy.category_rate": p.category_rate,
            "hy.popularity": p.popularity,
            "hy.user_period": p.user_period,
            "hy.item_period": p.item_period,
            "hy.user_time": p.user_time,
            "hy.item_time": p.item_time,
        }
        seen = sp.csr_matrix(self.seen_)
        same = (p.binary.shape == seen.shape and p.binary.nnz == seen.nnz
                and np.array_equal(p.binary.indptr, seen.indptr)
                and np.array_equal(p.binary.indices, seen.indices))
        if not same:  # e.g. a defence removed rows: the components saw other data than seen_
            out.update(csr_to_arrays("hy.binary", p.binary))
        for name in ("user_category", "user_merchant"):
            m = getattr(p, name)
            if m is not None:
                out.update(csr_to_arrays(f"hy.{name}", m))
        for key in self._components():
            for k, v in getattr(p, key)._state().items():
                out[f"{key}/{k}"] = v
        return out

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        from ._base import make

        stored = tuple(arrays["hy.features"].tolist())
        if stored != FEATURES:
            from .._errors import ArtifactError

            raise ArtifactError(
                f"This hybrid artifact has features {stored}; this haowurank computes {FEATURES}."
            )
        self.coef_ = arrays["hy.coef"]
        self.feature_mean_ = arrays["hy.mean"]
        self.feature_scale_ = arrays["hy.scale"]
        self.weights_ = arrays["hy.weights"]
        self.intercept_ = float(arrays["hy.intercept"][0])
        self.als_factors_ = int(arrays["hy.als_factors"][0])
        if "hy.spline_coef" in arrays:
            self.splines_ = FeatureSplines.from_arrays(arrays["hy.spline_knots"],
                                                       arrays["hy.spline_knot_ptr"])
            self.spline_coef_ = arrays["hy.spline_coef"]
            if self.splines_.n_basis != len(self.spline_coef_):
                from .._errors import ArtifactError

                raise ArtifactError(
                    f"This hybrid artifact has {len(self.spline_coef_)} spline coefficients for "
                    f"{self.splines_.n_basis} basis functions."
                )
        else:
            self.splines_, self.spline_coef_ = None, np.zeros(0)
        binary = arrays_to_csr("hy.binary", arrays) if "hy.binary.data" in arrays else self.seen_
        popularity = arrays["hy.popularity"]
        comps = {}
        for key, reg in self._components().items():
            if not any(k.startswith(f"{key}/") for k in arrays):
                from .._errors import ArtifactError

                raise ArtifactError(f"This hybrid artifact has no arrays of its {key!r} component.")
            r = make(reg, **self._component_params(key, self.als_factors_))
            r.user_ids_, r.item_ids_ = self.user_ids_, self.item_ids_
            r.seen_, r.fallback_ = binary, popularity
            prefix = f"{key}/"
            r._set_state({k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)})
            comps[key] = r
        self.parts_ = _FittedParts(
            als=comps["als"], knn=comps["knn"], knn2=comps["knn2"], rp3=comps.get("rp3"),
            trust=comps["trust"], binary=binary, popularity=popularity,
            ease_idx=arrays["hy.ease_idx"], ease_B=arrays["hy.ease_B"],
            friends=arrays_to_csr("hy.friends", arrays), uknn=arrays_to_csr("hy.uknn", arrays),
            category_rate=arrays["hy.category_rate"], user_period=arrays["hy.user_period"],
            item_period=arrays["hy.item_period"], user_time=arrays["hy.user_time"],
            item_time=arrays["hy.item_time"],
            category=arrays["hy.category"], merchant=arrays["hy.merchant"],
            user_category=(arrays_to_csr("hy.user_category", arrays)
                           if "hy.user_category.data" in arrays else None),
            user_merchant=(arrays_to_csr("hy.user_merchant", arrays)
                           if "hy.user_merchant.data" in arrays else None),
        )
        self.fit_info_ = {}
