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
depend on which other items are ranked, and the dense scoring path and explanations agree), as
the registry of :mod:`._hybrid_features` defines them:

FEATURE_TABLE

Scores are ``intercept + sum_j (w_j * feature_j + f_j(feature_j))`` (``f_j`` the spline; 0 with
``spline_knots=0``). ``score`` computes them for every item (per batch of users: each feature
over the whole block for a linear score, through the pair features with splines). ``recommend``
retrieves first, then ranks: the learned score of the union of each component's top
``n_recommend_candidates`` unseen items (within ``items=`` when given); the model was trained on
exactly such candidates (how this compares with ranking every item on validation:
``experiments/hybrid_validation/``). ``n_recommend_candidates=0`` ranks every item.
``candidates`` (the public contract's retrieval stage) returns the same retrieved lists without
ever ranking the whole catalogue.

Serving is two-stage (``recommend`` without ``items=``, ``candidates``, ``score_pairs_at`` and so
``RankerService`` and the HTTP service): stage 1 reads each user's sources (ALS scores,
item-kNN, RP3beta, user-kNN, trust and visible friends' endorsements; the trust and friend rows
of every user are computed once at fit) in blocks of a few users (at most 64, and a bounded
number of cells: a scratch row per source, never the feature block of the dense path) and
retrieves the candidates above; stage 2 computes the registry's features at those (user,
candidate) pairs only and applies the learned model, skipping features of zero weight
(:mod:`._hybrid_pairs`). The lists equal the dense path's up to float32 rounding. Full ranking, for evaluation:
``set_params(n_recommend_candidates=0)`` (or ``score``). Cost and quality loss against full
ranking: ``experiments/two_stage_serving/``.

Where the code lives:

========================================  ==========================================================
``_hybrid.py``                            :class:`HybridRanker`: parameters, fitting stages,
                                          scoring, the research API, explanations, persistence
``_hybrid_parts.py``                      :class:`~._hybrid_parts.FittedParts` (the components
                                          and tables) and the tables' construction
``_hybrid_neighbours.py``                 user-kNN, item-item rows, the sparse top-n of score rows
``_hybrid_features.py``                   the feature registry (each feature defined once) and
                                          the per-batch sources it reads
``_hybrid_retrieval.py``                  candidate retrieval (dense blocks)
``_hybrid_pairs.py``                      two-stage serving: sparse sources, retrieval and
                                          pair features without dense blocks
``_hybrid_model.py``                      the ranking model: training rows, pairs, fit, scores
========================================  ==========================================================

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
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._checks import is_int, is_real
from .._dataset import Dataset
from .._random import rng as make_rng
from ._base import Ranker, sparse_topk
from ._cf import ALSRanker
from ._hybrid_features import (
    FEATURES,
    FeatureBlock,
    PairInputs,
    chunk_size,
    feature_block,
    feature_table,
    linear_block_scores,
    pair_features,
)
from ._hybrid_model import (
    RankingModel,
    fit_ranking_model,
    model_arrays,
    model_from_arrays,
    pair_differences,
    rank_scores,
    training_rows,
    unused_features,
)
from ._hybrid_pairs import (
    SparsePairInputs,
    pair_block,
    pair_memo,
    pair_sources,
    ranked_features,
    retrieve_pairs,
    small_batch,
    social_rows,
)
from ._hybrid_parts import (
    FittedParts,
    build_parts,
    fold_in_own_history,
    parts_from_arrays,
    saved_binary,
    table_arrays,
)
from ._hybrid_retrieval import retrieve, unseen_pairs
from ._implicit import _blas_controller
from ._memo import MEMO_PAIRS, memo_scores
from ._social_als import SocialALSRanker

__all__ = ["FEATURES", "HybridRanker"]

__doc__ = (__doc__ or "").replace("FEATURE_TABLE", feature_table())  # one source: the registry

log = logging.getLogger(__name__)

_COMPONENTS = {"als": "als", "knn": "item_knn", "knn2": "item_knn", "rp3": "rp3beta",
               "trust": "trust"}
#: Parameters of ``social_als`` that plain ``als`` lacks: an ``als`` dict naming one of them
#: makes the ALS component :class:`~haowurank.rankers.SocialALSRanker`.
SOCIAL_ALS_PARAMS = tuple(p for p in SocialALSRanker.param_names()
                          if p not in ALSRanker.param_names())
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


#: Users per block at most when the two-stage path runs on several threads: a pool thread's
#: allocator returns larger scratch blocks to the OS, and every block page-faults them in again.
THREAD_BATCH = 32


def _each(fn: Any, args: Any) -> None:
    """``fn(a)`` for every ``a`` of ``args``, in order."""
    for a in args:
        fn(a)


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
        defaults). An ``als`` dict that names a parameter of
        :class:`~haowurank.rankers.SocialALSRanker` (:data:`SOCIAL_ALS_PARAMS`, e.g.
        ``{"social_reg": 0.2, "social_weight": 0.0}``) makes the ALS component that social ALS
        (friends' factors as a regulariser, visible endorsements as confidence); the social
        parameters it does not name take that class's defaults. Off by default; the validation
        search of ``experiments/ranking_quality/`` picks it per data set.
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
    n_popular_candidates : int, default 0
        ``recommend``, ``candidates`` and ``candidate_features`` also retrieve this many
        most popular training items (unseen ones; 0: off). Training rows are unaffected. What
        it does to the two-stage lists against full ranking:
        ``experiments/two_stage_serving/``.
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
        of its keys, None or False turns it off. Everything that reaches another user's scores
        (the ranking model's training rows, item factors, item-item similarities, EASE,
        popularity and the fallback, the user-kNN neighbours and the rows read from them, the
        trust and endorsement graphs) is fitted on the cleaned data. With the defence's
        ``"own_history"`` (default True) a flagged account's own user-side state also reads
        the rows the defence withheld from everyone else (:func:`haowurank.trust.defended_views`):
        its ALS user factors (re-solved with item factors fixed), the item-kNN / RP3beta rows
        it is scored from, its EASE row, seen items, activity, category, merchant and period
        shares, and its own user-kNN neighbours (chosen by its full history among the cleaned
        rows of others). ``{"own_history": False}``: the account is scored from the cleaned
        data alone.

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
    #: Users per batch of the two-stage path at most (:meth:`recommend` without ``items=`` and
    #: :meth:`candidates` batch by the smaller of this and
    #: :func:`~._hybrid_pairs.small_batch`; :meth:`score_pairs_at` by this), which builds no
    #: dense feature block.
    serve_batch_size: ClassVar[int] = 1024
    #: Threads over which the two-stage path of :meth:`recommend` and :meth:`candidates`
    #: spreads its batches of users (1: the caller's thread only). The batches are independent
    #: and write disjoint rows of the result, so the lists equal the single-threaded ones; the
    #: heavy steps (BLAS, scipy's sparse products, numpy's sorts) release the GIL.
    serve_threads: ClassVar[int] = 2
    #: Pairs whose scores :meth:`score_pairs_at` keeps per fit at most (about 12 bytes each;
    #: 0: none kept; see :mod:`~._memo`).
    score_memo_pairs: ClassVar[int] = MEMO_PAIRS

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
        n_popular_candidates: int = 0,
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
        self.n_popular_candidates = n_popular_candidates
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
                          and all(is_int(f, 1) for f in af),
                          "a non-empty tuple of positive ints")
        self._check_param("als_choice_iterations", self.als_choice_iterations is None
                          or is_int(self.als_choice_iterations, 1), "None or a positive int")
        self._check_param("refit", self.refit in ("full", "fold_in"), "'full' or 'fold_in'")
        self._check_param("ease_items", is_int(self.ease_items, 0), "an int >= 0 (0: no EASE)")
        self._check_param("ease_regularization", is_real(self.ease_regularization, 0.0,
                                                          strict=True), "a finite float > 0")
        self._check_param("user_knn_k", is_int(self.user_knn_k, 0), "an int >= 0 (0: off)")
        self._check_param("n_periods", is_int(self.n_periods, 0), "an int >= 0 (0: no time)")
        self._check_param("n_candidates", is_int(self.n_candidates, 1), "a positive int")
        self._check_param("n_recommend_candidates", is_int(self.n_recommend_candidates, 0),
                          "an int >= 0 (0: rank every item)")
        self._check_param("n_popular_candidates", is_int(self.n_popular_candidates, 0),
                          "an int >= 0 (0: no popular items among the candidates)")
        self._check_param("n_random", is_int(self.n_random, 0), "an int >= 0")
        self._check_param("max_train_users",
                          self.max_train_users is None or is_int(self.max_train_users, 1),
                          "None or a positive int")
        vf = self.validation_fraction
        self._check_param("validation_fraction", is_real(vf, 0.0, strict=True) and vf < 1,
                          "a float in (0, 1)")
        self._check_param("C", is_real(self.C, 0.0, strict=True), "a finite float > 0")
        self._check_param("objective", self.objective in ("pointwise", "pairwise"),
                          "'pointwise' or 'pairwise'")
        self._check_param("n_pairs", is_int(self.n_pairs, 1), "a positive int")
        sk = self.spline_knots
        self._check_param("spline_knots", is_int(sk, 0) and int(sk) != 1,
                          "0 (a linear score) or an int >= 2")
        if sk and self.objective != "pairwise":
            self._check_param("spline_knots", False,
                              "0 unless objective='pairwise' (splines are fitted on pairs)")
        self._check_param("random_state",
                          self.random_state is None or is_int(self.random_state, 0),
                          "None or a non-negative int")
        self._check_param("defence", self.defence is None or isinstance(self.defence, bool | dict),
                          "None, a bool or a dict of haowurank.trust.defend parameters")
        # components validate their own parameters on construction + fit
        from ._base import make

        for key, reg in self._components().items():
            params = self._component_params(key)
            make(reg, **params)._validate_params()

    def _components(self) -> dict[str, str]:
        """The components in use (key: registry name); RP3beta only with ``rp3beta`` set,
        ``social_als`` for ALS when ``als`` names one of :data:`SOCIAL_ALS_PARAMS`."""
        comps = dict(_COMPONENTS)
        if self.rp3beta is False:
            del comps["rp3"]
        if self.als and any(k in self.als for k in SOCIAL_ALS_PARAMS):
            comps["als"] = "social_als"
        return comps

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
        fitted: dict[str, Ranker] | None = None, own: Dataset | None = None,
    ) -> FittedParts:
        """Components and tables on ``ds``; components in ``fitted`` (by key) are used as given.
        With ``own`` (each account's own view, :func:`haowurank.trust.defended_views`), the rows
        it has beyond ``ds`` are folded into the user side of the CF components and the
        user-side tables of their accounts (:func:`~._hybrid_parts.build_parts`)."""
        from ._base import make

        t0 = time.perf_counter()
        comps = dict(fitted or {})
        for key, reg in self._components().items():
            if key in comps:
                continue
            comps[key] = make(reg, **self._component_params(key, als_factors)).fit(
                ds, show_progress=show_progress
            )
        fold_in_own_history(comps, own, ds)
        parts = build_parts(
            ds, comps, ease_items=int(self.ease_items),
            ease_regularization=float(self.ease_regularization),
            user_knn_k=int(self.user_knn_k), n_periods=int(self.n_periods), own=own,
        )
        log.info("hybrid: components fitted in %.2fs", time.perf_counter() - t0)
        return parts

    def _training_rows(
        self, parts: FittedParts, val: sp.csr_matrix, users: np.ndarray, gen: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Feature rows, labels, users (groups) and items of the candidates of ``users``
        (:func:`~._hybrid_model.training_rows` with this ranker's ``n_candidates`` and
        ``n_random``); ``fit`` calls it once, on the inner split."""
        return training_rows(parts, val, users, gen, n_candidates=int(self.n_candidates),
                             n_random=int(self.n_random))

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
        kind = self._components()["als"]
        for f in sizes:
            params = self._component_params("als", f)
            if short is not None:
                own = make(kind, **params).get_params()["iterations"]  # the ALS default
                params["iterations"] = min(int(short), int(own))
            m = make(kind, **params).fit(fit_part)
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
        from .. import split
        from ..trust import defended_views, item_popularity

        # ``ds``: the shared data, which everything another user sees is fitted on; ``own``:
        # each account's own view (the rows the defence withheld from everyone else, for that
        # account's own user-side state only; ``ds`` itself when nothing was withheld)
        ds, own, self.defence_report_ = defended_views(ds, self.defence)
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
        model, model_info = fit_ranking_model(
            X, y, groups, gen, objective=self.objective, C=float(self.C),
            n_pairs=int(self.n_pairs), spline_knots=int(self.spline_knots),
        )
        info.update(model_info)
        self._set_model(model)
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
                                      als_factors=self.als_factors_, fitted=fitted, own=own)
        social_rows(self.parts_)  # every user's trust and friend rows, for serving
        info["refit_s"] = time.perf_counter() - t3
        info["fit_s"] = time.perf_counter() - t0
        self.fit_info_ = info
        log.info("hybrid: %s", info)
        if callback is not None:
            callback("hybrid: refit", 1.0)

    def _set_model(self, model: RankingModel) -> None:
        """Keep a fitted ranking model in the public attributes (``coef_``, ``weights_``, ...)."""
        self.coef_ = model.coef
        self.feature_mean_ = model.mean
        self.feature_scale_ = model.scale
        self.weights_ = model.weights
        self.intercept_ = model.intercept
        self.splines_, self.spline_coef_ = model.splines, model.spline_coef

    def _rank_scores(self, X: np.ndarray, *, table: bool = False) -> np.ndarray:
        """The ranking model's score of feature rows ``X`` (float64): the linear terms plus,
        with ``spline_knots``, every feature's spline term (``table``: see
        :func:`~._hybrid_model.rank_scores`)."""
        return rank_scores(X, self.weights_, self.intercept_, self.splines_, self.spline_coef_,
                           table=table)

    # ------------------------------------------------------------------ scoring
    def _score(self, uidx: np.ndarray) -> np.ndarray:
        uidx = np.asarray(uidx, dtype=np.int64)
        bs = chunk_size(len(self.item_ids_))
        if len(uidx) <= bs:
            return self._score_with(self.parts_, uidx)
        out = np.empty((len(uidx), len(self.item_ids_)), dtype=np.float32)
        for s0 in range(0, len(uidx), bs):
            out[s0 : s0 + bs] = self._score_with(self.parts_, uidx[s0 : s0 + bs])
        return out

    def _score_with(self, parts: FittedParts, uidx: np.ndarray) -> np.ndarray:
        """Dense scores of every item for users ``uidx``: a linear score summed from the
        registry's block values (:func:`~._hybrid_features.linear_block_scores`); with splines,
        through the pair features at every pair (:meth:`_score_pairs`)."""
        blk = feature_block(parts, uidx)
        if self.splines_ is not None:
            return self._score_pairs(parts, blk)
        return linear_block_scores(parts, blk, self.weights_, self.intercept_)

    def _score_at(self, uidx: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """The learned score at (row of ``uidx``, item) pairs, the features at the pairs only
        (what :meth:`score_pairs_at`, and so the feed, read).

        Small batches (at most :func:`~._hybrid_pairs.small_batch` users, a single-user
        request above all) take :func:`~._hybrid_pairs.pair_block`'s dense scratch rows.
        Larger ones read the sources at the pairs (:func:`~._hybrid_pairs.pair_sources`), and
        the scores of batches of more than :data:`~._memo.MEMO_MIN_USERS` users are kept in
        the fitted parts' memo (:func:`~._hybrid_pairs.pair_memo`, at most
        :attr:`score_memo_pairs` pairs), so a pair asked for again (a feed rebuilt day after
        day between refits) is not scored again."""
        u = np.asarray(uidx, dtype=np.int64)
        parts, skip = self.parts_, unused_features(self._model())

        def score(blk, r: np.ndarray, c: np.ndarray) -> np.ndarray:
            X = ranked_features(parts, blk, np.asarray(r), np.asarray(c), skip, SparsePairInputs)
            return self._rank_scores(X).astype(np.float32)

        if len(u) <= small_batch(parts.n_items):
            return score(pair_block(parts, u, 1), rows, cols)
        # the scores belong to these parts and this ranking model: a new model empties the memo
        memo = pair_memo(parts).bound_to(self.weights_, self.intercept_, self.splines_,
                                         self.spline_coef_)
        return memo_scores(memo, self.score_memo_pairs, u, rows, cols,
                           lambda users, r, c: score(pair_sources(parts, users), r, c))

    def _score_at_users(self) -> int:
        return self.serve_batch_size

    def _score_pairs(self, parts: FittedParts, blk: FeatureBlock) -> np.ndarray:
        """Dense scores of a batch through :func:`~._hybrid_features.pair_features` at every
        (user, item) pair, in slices of about a million pairs (the spline terms are not
        algebraic in the blocks)."""
        n_users, n_items = len(blk.uidx), parts.n_items
        out = np.empty((n_users, n_items), dtype=np.float32)
        step = max(1, 1_000_000 // max(n_items, 1))
        for s0 in range(0, n_users, step):
            s1 = min(s0 + step, n_users)
            r = np.repeat(np.arange(s0, s1), n_items)
            c = np.tile(np.arange(n_items), s1 - s0)
            out[s0:s1] = self._rank_scores(pair_features(parts, blk, r, c)).reshape(
                s1 - s0, n_items)
        return out

    def _retrieve_and_rank(
        self, uidx: np.ndarray, n: int, cand: np.ndarray | None, *, keep_short: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Retrieval, then the learned ranking, for known users ``uidx`` (no -1): the top ``n``
        of the union of each component's top ``max(n_recommend_candidates, n)`` unseen items
        (within the mask ``cand``). Returns (idx, scores) with -1 / -inf pads and a boolean
        mask of the rows that retrieved fewer than ``n`` items (those rows hold their items
        with ``keep_short``, nothing otherwise)."""
        b = len(uidx)
        out_i = np.full((b, n), -1, dtype=np.int64)
        out_s = np.full((b, n), -np.inf, dtype=np.float32)
        short_all = np.zeros(b, dtype=bool)
        bs = chunk_size(len(self.item_ids_))
        parts = self.parts_
        k = max(int(self.n_recommend_candidates), n)
        skip = unused_features(self._model())
        if cand is None:  # two-stage: sparse sources, features at the candidate pairs only
            bs = min(self.serve_batch_size, small_batch(len(self.item_ids_)))
            if self.serve_threads > 1 and b > bs:  # smaller blocks on several threads
                bs = min(bs, THREAD_BATCH)

        def block(s0: int) -> None:
            u = uidx[s0 : s0 + bs]
            if cand is None:
                blk = pair_block(parts, u, k)
                r, c = retrieve_pairs(parts, blk, k, int(self.n_popular_candidates))
                inputs = SparsePairInputs
            else:
                blk = feature_block(parts, u)
                r, c = retrieve(parts, blk, k, cand, int(self.n_popular_candidates))
                inputs = PairInputs
            short = np.bincount(r, minlength=len(u)) < n
            short_all[s0 : s0 + len(u)] = short
            if not keep_short:
                keep = ~short[r]
                r, c = r[keep], c[keep]
            if len(r):
                X = ranked_features(parts, blk, r, c, skip, inputs)
                sc = self._rank_scores(X, table=True).astype(np.float32)
                top_i, top_s = sparse_topk(r, c, sc, len(u), n)  # the one top-k kernel
                got = np.bincount(r, minlength=len(u)) > 0
                out_i[s0 : s0 + len(u)][got] = top_i[got]
                out_s[s0 : s0 + len(u)][got] = top_s[got]

        starts = range(0, b, bs)
        if cand is not None or len(starts) == 1:
            for s0 in starts:
                block(s0)
            return out_i, out_s, short_all
        # several two-stage batches: one BLAS thread each (their products are small, and
        # BLAS's own threads would only contend with the batches'), spread over serve_threads
        threads = min(max(int(self.serve_threads), 1), len(starts))
        social_rows(parts)  # built once here, not by each thread
        with _blas_controller().limit(limits=1, user_api="blas"):
            if threads > 1:  # every threads-th block per thread, the caller's thread one
                with ThreadPoolExecutor(threads - 1) as pool:
                    done = [pool.submit(_each, block, starts[j::threads])
                            for j in range(1, threads)]
                    _each(block, starts[0::threads])
                    for f in done:
                        f.result()
            else:
                _each(block, starts)
        return out_i, out_s, short_all

    def _recommend_idx(
        self, uidx: np.ndarray, n: int, exclude_seen: bool, cand: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-n by retrieval then ranking (:meth:`_retrieve_and_rank`).

        A candidate set (``items=``, a boolean mask ``cand``) restricts retrieval to those
        items. ``exclude_seen=False``, unknown users and users with fewer than ``n`` retrieved
        items take the base class's full dense ranking.
        """
        if not exclude_seen or not self.n_recommend_candidates:
            return super()._recommend_idx(uidx, n, exclude_seen, cand)
        out_i = np.full((len(uidx), n), -1, dtype=np.int64)
        out_s = np.full((len(uidx), n), -np.inf, dtype=np.float32)
        known = np.flatnonzero(uidx >= 0)
        dense_rows = np.flatnonzero(uidx < 0)
        if len(known):
            i, sc, short = self._retrieve_and_rank(uidx[known], n, cand, keep_short=False)
            out_i[known], out_s[known] = i, sc
            dense_rows = np.sort(np.concatenate([dense_rows, known[short]]))
        if len(dense_rows):
            i, sc = super()._recommend_idx(uidx[dense_rows], n, exclude_seen, cand)
            out_i[dense_rows], out_s[dense_rows] = i, sc
        return out_i, out_s

    def candidates(
        self, users: Any, n: int = 100, *, exclude_seen: bool = True, items: Any = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The retrieval stage for one user or a batch: up to ``n`` retrieved items and scores.

        Retrieval is :meth:`recommend`'s: the union of each component's top
        ``max(n_recommend_candidates, n)`` unseen items (within ``items`` when given), ordered
        by the learned score, the best ``n`` kept: the same lists as :meth:`recommend`, but a
        user whose retrieval finds fewer than ``n`` items (ALS retrieves any unseen item, so
        only when fewer than ``n`` allowed items are unseen) gets those items ranked by the
        learned score, padded with -1 / "" and -inf, and never a dense ranking of the
        catalogue. Unknown users get the cold-start fallback. With ``exclude_seen=False`` or ``n_recommend_candidates=0`` (no retrieval
        stage) this is :meth:`recommend`.

        Parameters
        ----------
        users : id or sequence of ids
        n : int
        exclude_seen : bool
        items : sequence of ids, optional

        Returns
        -------
        ids, scores : ndarrays of shape (n,) or (n_users, n)
            As :meth:`recommend` returns them.
        """
        if not exclude_seen or not self.n_recommend_candidates:
            return super().candidates(users, n, exclude_seen=exclude_seen, items=items)
        self._check_fitted()
        n = self._check_n(n, "candidates")
        uidx, single = self._user_indices(users)
        cand = self._candidate_mask(items)
        out_i = np.full((len(uidx), n), -1, dtype=np.int64)
        out_s = np.full((len(uidx), n), -np.inf, dtype=np.float32)
        fb = self._fallback_mask(uidx)
        retrieved = np.flatnonzero(~fb)
        if len(retrieved):
            out_i[retrieved], out_s[retrieved], _ = self._retrieve_and_rank(
                uidx[retrieved], n, cand, keep_short=True)
        if fb.any():
            rows = np.flatnonzero(fb)
            out_i[rows], out_s[rows] = super()._recommend_idx(uidx[rows], n, True, cand)
        ids = self._idx_to_ids(out_i)
        if single:
            return ids[0], out_s[0]
        return ids, out_s

    # ------------------------------------------------------------------ research API
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
        if not is_int(k, 0):
            raise ValueError(
                f"The 'n_candidates' parameter of HybridRanker.candidate_features must be None "
                f"or an int >= 0. Got {n_candidates!r} instead."
            )
        parts = self.parts_
        bs = chunk_size(parts.n_items)
        R, C, X = [], [], []
        for s0 in range(0, len(u), bs):
            blk = feature_block(parts, u[s0 : s0 + bs])
            r, c = (retrieve(parts, blk, int(k), n_popular=int(self.n_popular_candidates))
                    if k else unseen_pairs(parts, blk))
            X.append(pair_features(parts, blk, r, c))
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
        u, i = self._pair_arrays(uidx, iidx, "pair_features_at")
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
        bs = chunk_size(parts.n_items)
        for s0 in range(0, len(uq), bs):
            sel = np.flatnonzero((inv >= s0) & (inv < s0 + bs))
            blk = feature_block(parts, uq[s0 : s0 + bs])
            X[sel] = pair_features(parts, blk, inv[sel] - s0, i[sel])
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
        return pair_differences(Z, y, groups, rng, n_pairs)

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
        blk = feature_block(self.parts_, uidx[:1])
        X = pair_features(self.parts_, blk, np.zeros(len(iidx), dtype=np.int64), iidx)
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
        similar = int(self.parts_.neighbour_rows[nb.indices][:, [i]].nnz) if nb.nnz else 0
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
    def _model(self) -> RankingModel:
        """The ranking model held in the public attributes (``coef_``, ``weights_``, ...)."""
        return RankingModel(
            coef=self.coef_, mean=self.feature_mean_, scale=self.feature_scale_,
            weights=self.weights_, intercept=self.intercept_, splines=self.splines_,
            spline_coef=self.spline_coef_,
        )

    def _state(self) -> dict[str, np.ndarray]:
        p = self.parts_
        out: dict[str, np.ndarray] = {
            **model_arrays(self._model()),
            "hy.features": np.asarray(FEATURES, dtype=str),
            "hy.als_factors": np.asarray([self.als_factors_], dtype=np.int64),
            **table_arrays(p, self.seen_),
        }
        for key in self._components():
            for k, v in getattr(p, key)._state().items():
                out[f"{key}/{k}"] = v
        return out

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        from .._errors import ArtifactError
        from ._base import make

        stored = tuple(arrays["hy.features"].tolist())
        if stored != FEATURES:
            raise ArtifactError(
                f"This hybrid artifact has features {stored}; this haowurank computes {FEATURES}."
            )
        self._set_model(model_from_arrays(arrays))
        self.als_factors_ = int(arrays["hy.als_factors"][0])
        binary = saved_binary(arrays, self.seen_)
        comps = {}
        for key, reg in self._components().items():
            if not any(k.startswith(f"{key}/") for k in arrays):
                raise ArtifactError(f"This hybrid artifact has no arrays of its {key!r} component.")
            r = make(reg, **self._component_params(key, self.als_factors_))
            r.user_ids_, r.item_ids_ = self.user_ids_, self.item_ids_
            r.seen_, r.fallback_ = binary, arrays["hy.popularity"]
            prefix = f"{key}/"
            r._set_state({k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)})
            comps[key] = r
        self.parts_ = parts_from_arrays(comps, binary, arrays)
        self.fit_info_ = {}
