"""``sbpr``: Social Bayesian Personalized Ranking, Cornac's ``SBPR``, as a peer model.

Cornac (``pip install "haowurank[peers]"``) is needed to *fit* only. After fitting, the learned
user factors, item factors and item biases are copied into plain numpy arrays in haowurank's own
user and item order; scoring, ``recommend``, ``explain`` and ``save``/``load`` use those arrays
alone (no cornac at run time, nothing unpickled: the artifact is the usual ``.npz``).

The strategy table of :mod:`haowurank.rankers` lists ``sbpr`` only when cornac is installed
(:func:`cornac_available`, ``importlib.util.find_spec``; cornac itself, which pulls matplotlib,
is imported lazily by ``fit`` so that ``available()`` stays cheap). Without cornac it is not
listed by ``available()``, but a saved model still loads with ``hr.load_ranker`` and serves.

Cornac 3.0.1's ``SBPR.fit`` does not run as shipped: it calls ``_prepare_data()`` and
``_prepare_social_data()`` without the train set they require (``TypeError``), and the latter
calls ``np.in1d``, which numpy 2.4 removed. :func:`_sbpr_class` subclasses ``SBPR`` to hand
``_prepare_data`` ``self.train_set`` and to build the social positives with :func:`social_items`
(the same arrays, one sparse product, plus a sentinel that keeps the SGD kernel's read of
``social_item_ids[indptr[u]]`` in bounds for users without social items). The SGD kernel itself
(``SBPR._fit_sgd``) is cornac's, unchanged.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import scipy.sparse as sp

from .._checks import is_int, is_real
from .._dataset import Dataset
from .._errors import NumericalError, warn_data
from .._random import derive_seed
from ..visibility import EndorsementGraph
from ._base import Ranker, arrays_to_csr, csr_to_arrays

__all__ = ["SBPRRanker", "cornac_available", "fit_cornac_sbpr", "social_items"]


def cornac_available() -> bool:
    """Whether cornac is installed (the ``peers`` extra)."""
    return importlib.util.find_spec("cornac") is not None


_SBPR_CLASS: type | None = None


def _sbpr_class() -> type:
    """Cornac's ``SBPR`` with the two data-preparation calls of its ``fit`` repaired."""
    global _SBPR_CLASS
    if _SBPR_CLASS is not None:
        return _SBPR_CLASS
    try:
        from cornac.models import SBPR
    except ImportError as exc:  # pragma: no cover - registration checks find_spec first
        raise ImportError(
            "The 'sbpr' ranker needs cornac to fit: pip install 'haowurank[peers]' "
            f"(importing cornac failed: {exc})."
        ) from exc

    class _SBPR(SBPR):
        def _prepare_data(self, train_set=None):
            return super()._prepare_data(self.train_set if train_set is None else train_set)

        def _prepare_social_data(self, train_set=None):
            ts = self.train_set if train_set is None else train_set
            return social_items(ts, positives=getattr(self, "social_positives", None))

    _SBPR_CLASS = _SBPR
    return _SBPR


def social_items(
    train_set: Any, positives: sp.spmatrix | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SBPR's social positives in cornac's index: for each user ``u``, the items that the users
    ``u`` follows interacted with and ``u`` did not, with how many of them did (CSR arrays
    ``ids, counts, indptr``; ids ascending within a user).

    The same result as cornac's ``SBPR._prepare_social_data`` (a per-user loop that calls
    ``np.in1d``, which numpy 2.4 removed), computed as one sparse product; ``ids`` and ``counts``
    carry one sentinel past the end, because the SGD kernel reads ``social_item_ids[indptr[u]]``
    even for a user without social items (it never uses the value then; no item has id -1).

    With ``positives`` (a raw-index user x item matrix of counts, e.g. of the endorsements each
    user may see, :mod:`haowurank.visibility`), those counts replace the followees' items.
    """
    X = sp.csr_matrix(train_set.matrix)
    n_users = train_set.num_users
    if positives is not None:
        P = sp.coo_matrix(positives)
        umap = np.full(P.shape[0], -1, dtype=np.int64)
        imap = np.full(P.shape[1], -1, dtype=np.int64)
        umap[np.fromiter(train_set.uid_map.keys(), dtype=np.int64)] = np.fromiter(
            train_set.uid_map.values(), dtype=np.int64)
        imap[np.fromiter(train_set.iid_map.keys(), dtype=np.int64)] = np.fromiter(
            train_set.iid_map.values(), dtype=np.int64)
        r, c = umap[P.row], imap[P.col]
        ok = (r >= 0) & (c >= 0)
        C = sp.csr_matrix((P.data[ok].astype(np.float64), (r[ok], c[ok])), shape=X.shape)
        Xb = X.copy()
        Xb.data = np.ones_like(Xb.data, dtype=np.float64)
        C = sp.csr_matrix(C - C.multiply(Xb))
        C.eliminate_zeros()
        C.sort_indices()
        dt = X.indices.dtype
        ids = np.concatenate([C.indices.astype(dt), np.full(1, -1, dtype=dt)])
        counts = np.concatenate([np.rint(C.data).astype(dt), np.zeros(1, dtype=dt)])
        return ids, counts, C.indptr.astype(dt)
    rid, cid, _ = train_set.user_graph.get_train_triplet(
        set(train_set.uir_tuple[0]), set(train_set.uir_tuple[0])
    )
    Y = sp.csr_matrix(
        (np.ones(len(rid), dtype=np.float64), (np.asarray(rid, dtype=np.int64),
                                                np.asarray(cid, dtype=np.int64))),
        shape=(n_users, n_users),
    )
    Y.data[:] = 1.0  # who u follows (structure only, as cornac's Y[u].indices)
    Xb = X.copy()
    Xb.data = np.ones_like(Xb.data, dtype=np.float64)
    C = sp.csr_matrix(Y @ Xb)  # C[u, i]: how many of u's followees interacted with i
    C = sp.csr_matrix(C - C.multiply(Xb))  # drop u's own items
    C.eliminate_zeros()
    C.sort_indices()
    dt = X.indices.dtype
    ids = np.concatenate([C.indices.astype(dt), np.full(1, -1, dtype=dt)])
    counts = np.concatenate([np.rint(C.data).astype(dt), np.zeros(1, dtype=dt)])
    return ids, counts, C.indptr.astype(dt)


def fit_cornac_sbpr(
    X: sp.csr_matrix,
    S: sp.csr_matrix,
    *,
    k: int,
    max_iter: int,
    learning_rate: float,
    lambda_reg: float,
    seed: int,
    positives: sp.spmatrix | None = None,
) -> tuple[Any, Any]:
    """Fit cornac's SBPR on a binary user x item matrix ``X`` and a user x user graph ``S``.

    Raw cornac ids are haowurank's integer indices (rows of ``X`` and ``S``, columns of ``X``);
    cornac re-indexes them (``train_set.uid_map`` / ``iid_map``: raw index -> cornac index).
    ``S[u, f] != 0`` makes ``f``'s items social positives of ``u``, unless ``positives`` (a
    user x item count matrix in the same raw index) gives them. Returns ``(model, train_set)``.
    """
    from cornac.data import Dataset as CornacDataset
    from cornac.data import GraphModality

    X = sp.coo_matrix(X)
    triples = list(zip(X.row.tolist(), X.col.tolist(), [1.0] * X.nnz))
    train_set = CornacDataset.build(triples, fmt="UIR", seed=seed)
    S = sp.coo_matrix(S)
    keep = S.row != S.col
    graph = GraphModality(
        data=list(zip(S.row[keep].tolist(), S.col[keep].tolist(), [1.0] * int(keep.sum())))
    )
    graph.build(id_map=train_set.uid_map)
    train_set.add_modalities(user_graph=graph)
    model = _sbpr_class()(
        k=k, max_iter=max_iter, learning_rate=learning_rate,
        lambda_u=lambda_reg, lambda_v=lambda_reg, lambda_b=lambda_reg,
        use_bias=True, num_threads=1, verbose=False, seed=seed,
    )
    model.social_positives = positives
    model.fit(train_set)
    return model, train_set


def factors_in_haowurank_order(
    model: Any, train_set: Any, n_users: int, n_items: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The model's (user_factors, item_factors, item_bias) indexed by haowurank user/item index.

    Users and items cornac never saw (no training interaction) get zero factors; such items get
    the lowest learned bias (finite: they stay candidates, ranked below the learned items that
    the user's factors do not favour).
    """
    k = model.u_factors.shape[1]
    U = np.zeros((n_users, k), dtype=np.float32)
    V = np.zeros((n_items, k), dtype=np.float32)
    b = np.zeros(n_items, dtype=np.float32)
    raw_u = np.fromiter(train_set.uid_map.keys(), dtype=np.int64, count=len(train_set.uid_map))
    cu = np.fromiter(train_set.uid_map.values(), dtype=np.int64, count=len(train_set.uid_map))
    raw_i = np.fromiter(train_set.iid_map.keys(), dtype=np.int64, count=len(train_set.iid_map))
    ci = np.fromiter(train_set.iid_map.values(), dtype=np.int64, count=len(train_set.iid_map))
    U[raw_u] = np.asarray(model.u_factors, dtype=np.float32)[cu]
    V[raw_i] = np.asarray(model.i_factors, dtype=np.float32)[ci]
    bias = np.asarray(model.i_biases, dtype=np.float32)
    learned = np.zeros(n_items, dtype=bool)
    learned[raw_i] = True
    b[raw_i] = bias[ci]
    if (~learned).any() and learned.any():
        b[~learned] = b[learned].min()
    return U, V, b


class SBPRRanker(Ranker):
    """Social BPR (Zhao, McAuley & King, CIKM 2014) through Cornac's ``SBPR``: a peer model.

    Every interaction is a positive (the binary user x item matrix); the items that friends
    endorsed where the user may see it (:mod:`haowurank.visibility`; never their purchases) and
    the user did not interact with are *social* positives, ranked between the user's own
    positives and the negatives (SBPR-2: ``x_ui >= x_uk`` weighted by ``1 / (1 + s_uk)``, with
    ``s_uk`` the number of such friends for ``k``; ``x_uk >= x_uj``). Users without social items
    are trained by plain BPR. ``score(u, i) = U[u] . V[i] + b[i]``.

    Parameters
    ----------
    k : int
        Latent dimension.
    max_iter : int
        SGD epochs (each draws as many samples as there are training pairs).
    learning_rate : float
        SGD step size.
    lambda_reg : float
        L2 penalty on user factors, item factors and item biases (cornac's ``lambda_u``,
        ``lambda_v`` and ``lambda_b``).
    random_state : int or None
        Seeds cornac (a plain int derived once); the same value gives the same model. Cornac then
        trains on one thread. None draws fresh entropy on every fit.

    The defaults (``k=64, max_iter=50, learning_rate=0.05``) were the better of the settings
    tried on the Ciao 5-core validation split; a smaller ``learning_rate`` needs more epochs
    (``0.01`` wants about 200), so tune the two together.

    Attributes
    ----------
    user_factors_ : ndarray of shape (n_users, k), float32
        Zero rows for users without training interactions (they get the popularity fallback).
    item_factors_ : ndarray of shape (n_items, k), float32
    item_bias_ : ndarray of shape (n_items,), float32
    graph_ : EndorsementGraph
        Who may see whose endorsement (:mod:`haowurank.visibility`): explanations name only
        friends whose endorsement of the item the user may see.
    social_ : csr_matrix of shape (n_users, n_users)
        Who follows whom (binary), kept for explanations.

    Notes
    -----
    Cold start: the base-class contract (unknown users and users without interactions get the
    popularity fallback). Needs cornac to fit only; a saved model loads and serves without it.

    References
    ----------
    T. Zhao, J. McAuley, I. King. Leveraging Social Connections to Improve Personalized Ranking
    for Collaborative Filtering. CIKM 2014.
    A. Salah, Q.-T. Truong, H. W. Lauw. Cornac: A Comparative Framework for Multimodal
    Recommender Systems. JMLR 21(95), 2020.
    """

    name = "sbpr"
    has_factors = True
    uses_social = True
    batch_size = 1024

    def __init__(
        self,
        k: int = 64,
        max_iter: int = 50,
        learning_rate: float = 0.05,
        lambda_reg: float = 0.01,
        random_state: int | None = 0,
    ):
        self.k = k
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.lambda_reg = lambda_reg
        self.random_state = random_state

    def _validate_params(self) -> None:
        self._check_param("k", is_int(self.k, 1), "a positive int")
        self._check_param("max_iter", is_int(self.max_iter, 1), "a positive int")
        self._check_param("learning_rate", is_real(self.learning_rate, 0.0, strict=True),
                          "a finite float > 0")
        self._check_param("lambda_reg", is_real(self.lambda_reg, 0.0), "a finite float >= 0")
        self._check_param(
            "random_state",
            self.random_state is None or is_int(self.random_state, 0),
            "None or a non-negative int",
        )

    def _fit(self, ds: Dataset, *, show_progress: bool, callback: Any) -> None:
        X = self.seen_
        social = sp.csr_matrix(ds.social_matrix(weighted=False), dtype=np.float32)
        social.data[:] = 1.0
        self.social_ = social
        self.graph_ = EndorsementGraph(ds)
        n_users, n_items = X.shape
        if X.nnz == 0:
            warn_data(f"{type(self).__name__}: no interactions; every user gets the popularity "
                      f"fallback.")
            self.user_factors_ = np.zeros((n_users, self.k), dtype=np.float32)
            self.item_factors_ = np.zeros((n_items, self.k), dtype=np.float32)
            self.item_bias_ = np.zeros(n_items, dtype=np.float32)
            return
        seed = derive_seed(None if self.random_state is None else int(self.random_state))
        model, train_set = fit_cornac_sbpr(
            X, social, k=int(self.k), max_iter=int(self.max_iter),
            learning_rate=float(self.learning_rate), lambda_reg=float(self.lambda_reg), seed=seed,
            positives=self.graph_.visible(np.arange(n_users)).counts(),
        )
        U, V, b = factors_in_haowurank_order(model, train_set, n_users, n_items)
        if not (np.isfinite(U).all() and np.isfinite(V).all() and np.isfinite(b).all()):
            raise NumericalError(
                f"{type(self).__name__}: the fitted factors hold NaN or inf. Lower the "
                f"learning_rate or raise lambda_reg."
            )
        self.user_factors_, self.item_factors_, self.item_bias_ = U, V, b
        if callback is not None:
            callback("sbpr: fit", 1.0)

    def latent_factors(self) -> tuple[np.ndarray, np.ndarray]:
        """``(user_factors_ | 1, item_factors_ | item_bias_)``: the item bias as one more
        factor, so that the dot product is the score."""
        self._check_fitted()
        learned = (self.user_factors_, self.item_factors_, self.item_bias_)
        hit = self.__dict__.get("_latent_cache")
        if hit is None or any(a is not b for a, b in zip(hit[0], learned)):
            ones = np.ones((len(self.user_factors_), 1), dtype=np.float32)
            hit = (learned, (
                np.hstack([self.user_factors_, ones]).astype(np.float32),
                np.hstack([self.item_factors_, self.item_bias_.reshape(-1, 1)]).astype(np.float32),
            ))
            self.__dict__["_latent_cache"] = hit  # the same arrays while the fit stands
        return hit[1]

    def _score(self, uidx: np.ndarray) -> np.ndarray:
        s = self.user_factors_[uidx] @ self.item_factors_.T
        s += self.item_bias_
        return s.astype(np.float32, copy=False)

    def _item_label(self, i: int) -> str:
        v = self.item_ids_[i]
        return repr(v.item() if hasattr(v, "item") else v)

    def _explain(self, u: int, i: int, n: int = 5) -> dict[str, Any]:
        pu, qi, bi = self.user_factors_[u], self.item_factors_[i], float(self.item_bias_[i])
        per_factor = pu * qi
        dot = float(per_factor.sum())
        order = np.argsort(-np.abs(per_factor), kind="stable")[:n]
        factor_terms = [(int(f), float(per_factor[f])) for f in order]
        liked = self.seen_[u].indices
        contrib: list[tuple[int, float]] = []
        if len(liked):
            a = self.item_factors_[liked]
            cos = (a @ qi) / (np.linalg.norm(a, axis=1) * np.linalg.norm(qi) + 1e-12)
            top = np.argsort(-cos, kind="stable")[:n]
            contrib = [(int(liked[o]), float(cos[o])) for o in top]
        # only people whose endorsement of the item u may see (haowurank.visibility)
        v = self.graph_.visible(np.asarray([u]))
        endorsers = np.unique(v.endorser[v.item == i])
        friends = [self.user_ids_[f] for f in endorsers]
        text = f"SBPR: user factors . item factors {dot:.3g} + item bias {bi:.3g}."
        if contrib:
            text += " Closest to your items " + ", ".join(
                f"{self._item_label(j)} ({s:.3g})" for j, s in contrib[:3]
            ) + " (cosine)."
        if friends:
            shown = ", ".join(str(f) for f in friends[:3])
            more = f" and {len(friends) - 3} more" if len(friends) > 3 else ""
            text += f" Friends who endorsed it: {shown}{more}."
        return {
            "terms": {"dot": dot, "item_bias": bi},
            "factor_terms": factor_terms,
            "contributions": [(self.item_ids_[j], s) for j, s in contrib],
            "friends": friends,
            "text": text,
        }

    def _state(self) -> dict[str, np.ndarray]:
        return {
            "user_factors": np.ascontiguousarray(self.user_factors_),
            "item_factors": np.ascontiguousarray(self.item_factors_),
            "item_bias": np.ascontiguousarray(self.item_bias_),
            **csr_to_arrays("social", self.social_),
            **self.graph_.to_arrays(),
        }

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.user_factors_ = np.ascontiguousarray(arrays["user_factors"], dtype=np.float32)
        self.item_factors_ = np.ascontiguousarray(arrays["item_factors"], dtype=np.float32)
        self.item_bias_ = np.ascontiguousarray(arrays["item_bias"], dtype=np.float32)
        self.social_ = arrays_to_csr("social", arrays)
        self.graph_ = EndorsementGraph.from_arrays(arrays)

