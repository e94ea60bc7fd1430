"""``social_als``: implicit ALS on a user x item matrix augmented with friends' endorsements.

What it does, precisely
-----------------------
1. ``X`` = the user's own CF matrix, exactly as ``als`` builds it (``kind_weights``, then
   ``weighting``).
2. ``A`` = the social graph (``A[u, f]`` = weight of ``u`` follows ``f``) without the edges to users
   ``u`` has blocked; ``W`` = ``A`` row-normalised (each user's friends' weights sum to 1).
3. The friends term follows the privacy rule of :mod:`haowurank.visibility`: ``T[u, i] = sum_f
   W[u, f] * endorsement_weights[k]`` over the friends ``f`` whose endorsement of ``i`` ``u`` may
   see (public, or "friends" from a friend who follows ``u`` back, within its audience list),
   ``k`` the strongest kind ``u`` may see. With ``hops=2``, ``hop_decay * W2 @ E_pub`` is added,
   ``W2 = W @ W`` without the diagonal and without blocked users, ``E_pub`` the public
   endorsements without audience list: friends of friends contribute in aggregate only.
4. Only endorsement kinds count: other people's purchases, views and clicks are no per-person
   signal (they enter the model only through their own rows of ``X``, in the aggregate fit).
5. ``C = X + social_weight * s * T`` with ``s`` = mean stored value of ``X`` (so
   ``social_weight=1`` makes an item endorsed by all of a user's friends count like an average
   own interaction, whatever the weighting scheme). With ``social_weight=0`` ``C`` is ``X``
   exactly and the ranker is ``als`` exactly (same seed, same factors, same scores).
6. implicit ALS is fitted on ``C`` (confidence ``alpha * C``). A user with no interactions of
   their own but friends who endorsed things has a non-empty row in ``C`` and gets personalised
   factors (social cold start); a user whose row of ``C`` is empty gets the popularity fallback.
   implicit's ALS takes every stored entry of ``C`` as preference 1 and its value only as
   confidence, so however small ``social_weight`` is, every friend-endorsed item becomes a
   (weakly weighted) positive of the user. What ``social_weight`` and ``social_reg`` add on
   the validation splits of the real data sets is recorded in the tuning tables of
   ``experiments/ranking_quality/`` and in ``experiments/factor_frontier/``.
7. Optional social regularisation of user factors, applied once after fitting:
   ``U[u] <- (1 - social_reg) * U[u] + social_reg * sum_f W[u, f] U[f]`` for users with at
   least one (unblocked) friend; other users keep their factors. ``social_reg=0`` skips it.

References
----------
Y. Hu, Y. Koren, C. Volinsky. Collaborative Filtering for Implicit Feedback Datasets. ICDM 2008.
H. Ma, D. Zhou, C. Liu, M. R. Lyu, I. King. Recommender Systems with Social Regularization.
WSDM 2011 (the factor smoothing of step 7 is a post-hoc variant of their social term).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._arrays import csr_positions
from .._checks import is_real
from .._dataset import ENDORSEMENT_KINDS, KINDS, VISIBILITIES, Dataset
from .._errors import warn_data
from ..kinds import ENDORSEMENT_STRENGTH
from ..visibility import EndorsementGraph
from ._base import arrays_to_csr, csr_to_arrays
from ._cf import ALSRanker
from ._implicit import replace_rows

__all__ = [
    "DEFAULT_ENDORSEMENT_WEIGHTS",
    "SocialALSRanker",
    "social_weights",
]

log = logging.getLogger(__name__)

#: The friends term's kind weights: :data:`haowurank.visibility.ENDORSEMENT_STRENGTH`.
DEFAULT_ENDORSEMENT_WEIGHTS: dict[str, float] = ENDORSEMENT_STRENGTH


# ---------------------------------------------------------------------------------------------
# pure functions on sparse matrices
# ---------------------------------------------------------------------------------------------

def _drop_blocked(A: sp.csr_matrix, blocks: sp.spmatrix | None) -> sp.csr_matrix:
    if blocks is None or blocks.nnz == 0:
        return A
    Bk = sp.csr_matrix(blocks, dtype=np.float32, shape=A.shape)
    Bk.data[:] = 1.0
    out = (A - A.multiply(Bk)).tocsr()
    out.eliminate_zeros()
    return out


def _row_normalise(A: sp.csr_matrix) -> sp.csr_matrix:
    s = np.asarray(A.sum(axis=1), dtype=np.float64).ravel()
    inv = np.divide(1.0, s, out=np.zeros_like(s), where=s > 0)
    W = sp.csr_matrix(sp.diags(inv) @ A, dtype=np.float32)
    W.sort_indices()
    return W


def social_weights(
    S: sp.csr_matrix, blocks: sp.spmatrix | None = None
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """``W`` (row-normalised follows without blocked users) and ``W_mut`` (``W`` where the friend
    follows back), both users x users float32."""
    A = _drop_blocked(sp.csr_matrix(S, dtype=np.float32), blocks)
    W = _row_normalise(A)
    back = sp.csr_matrix(S, dtype=np.float32).T.tocsr()
    back.data[:] = 1.0
    W_mut = W.multiply(back).tocsr()
    W_mut.eliminate_zeros()
    return W, W_mut


# ---------------------------------------------------------------------------------------------
# the ranker
# ---------------------------------------------------------------------------------------------

class SocialALSRanker(ALSRanker):
    """Implicit ALS over own interactions plus friends' endorsements as weighted implicit
    feedback, with optional social regularisation of user factors (module docstring: exact
    definition).

    Parameters
    ----------
    social_weight : float
        Weight of the friends term relative to the mean own confidence (0: plain ``als``).
    endorsement_weights : dict or None
        Weight of each endorsement kind in the friends term (None:
        ``{"recommend": 1, "recommend_after_purchase": 2}``). Only "recommend" and
        "recommend_after_purchase" may be named: friends' purchases and listens are no
        per-person signal (the privacy rule of :mod:`haowurank.visibility`).
    hops : {1, 2}
        Use friends only, or also friends of friends (public endorsements, ``hop_decay``).
    hop_decay : float
        Weight of the second hop.
    social_reg : float in [0, 1]
        Blend of each user's factors with the trust-weighted mean of their friends' factors after
        fitting (0: none).
    factors, regularization, alpha, iterations, weighting, kind_weights, bm25_k1, bm25_b,
    random_state, num_threads
        As in :class:`~haowurank.rankers.ALSRanker` (the own-interaction part and the model).

    Attributes
    ----------
    own_ : csr_matrix of shape (n_users, n_items)
        The weighted own-interaction matrix (what ``als`` fits on).
    cf_ : csr_matrix of shape (n_users, n_items)
        The augmented matrix ``C`` the model was fitted on.
    social_scale_ : float
        ``s``, the mean stored value of ``own_`` at fit time.

    References
    ----------
    Y. Hu, Y. Koren, C. Volinsky. Collaborative Filtering for Implicit Feedback Datasets.
    ICDM 2008.
    H. Ma, D. Zhou, C. Liu, M. R. Lyu, I. King. Recommender Systems with Social Regularization.
    WSDM 2011.
    """

    name = "social_als"
    uses_social = True

    def __init__(
        self,
        social_weight: float = 0.5,
        endorsement_weights: dict[str, float] | None = None,
        hops: int = 1,
        hop_decay: float = 0.5,
        social_reg: float = 0.0,
        factors: int = 64,
        regularization: float = 0.1,
        alpha: float = 5.0,
        iterations: int = 15,
        weighting: str = "binary",
        kind_weights: dict[str, float] | None = None,
        bm25_k1: float = 100.0,
        bm25_b: float = 0.8,
        random_state: int | None = 0,
        num_threads: int = 0,
    ):
        super().__init__(
            factors=factors, regularization=regularization, alpha=alpha, iterations=iterations,
            weighting=weighting, kind_weights=kind_weights, bm25_k1=bm25_k1, bm25_b=bm25_b,
            random_state=random_state, num_threads=num_threads,
        )
        self.social_weight = social_weight
        self.endorsement_weights = endorsement_weights
        self.hops = hops
        self.hop_decay = hop_decay
        self.social_reg = social_reg

    # ---------------------------------------------------------------- parameters
    def _validate_params(self) -> None:
        super()._validate_params()
        self._check_param("social_weight", is_real(self.social_weight, 0.0), "a finite float >= 0")
        ew = self.endorsement_weights
        self._check_param(
            "endorsement_weights",
            ew is None or (
                isinstance(ew, dict) and len(ew) > 0 and all(k in ENDORSEMENT_KINDS for k in ew)
                and all(is_real(v, 0.0) for v in ew.values())
            ),
            f"None or a non-empty dict from endorsement kinds {list(ENDORSEMENT_KINDS)} to finite "
            "weights >= 0 (other people's purchases, views and clicks may enter only aggregate "
            "models: the privacy rule of haowurank.visibility)",
        )
        self._check_param("hops", self.hops in (1, 2) and not isinstance(self.hops, bool), "1 or 2")
        self._check_param("hop_decay", is_real(self.hop_decay, 0.0), "a finite float >= 0")
        self._check_param(
            "social_reg", is_real(self.social_reg, 0.0) and self.social_reg <= 1, "a float in [0, 1]"
        )

    def _endorsement_weights(self) -> dict[str, float]:
        ew = DEFAULT_ENDORSEMENT_WEIGHTS if self.endorsement_weights is None else self.endorsement_weights
        return {k: float(v) for k, v in ew.items()}

    # ---------------------------------------------------------------- fitting
    def _build_cf(self, ds: Dataset) -> None:
        super()._build_cf(ds)  # cf_raw_, weighting_, cf_ = own weighted
        self.own_ = self.cf_
        a = ds.interaction_arrays()
        ew = self._endorsement_weights()
        codes = [KINDS.index(k) for k, w in ew.items() if w > 0]
        m = np.isin(a["kind"], codes) & (a["visibility"] != VISIBILITIES.index("private"))
        self.endorse_user_ = a["user"][m].astype(np.int64)
        self.endorse_item_ = a["item"][m].astype(np.int64)
        self.endorse_kind_ = a["kind"][m].astype(np.int8)
        self.endorse_vis_ = a["visibility"][m].astype(np.int8)
        self.endorse_ts_ = a["timestamp"][m].astype(np.int64)
        aud = ds.indexed_audiences
        self.audiences_ = np.stack(
            [aud[c].to_numpy().astype(np.int64) for c in ("user", "item", "viewer")]
        ) if len(aud) else np.zeros((3, 0), dtype=np.int64)
        self.social_ = ds.social_matrix()
        self.blocks_ = sp.csr_matrix(ds.block_matrix(), dtype=np.float32)
        self._set_graph()
        self.social_scale_ = float(self.own_.data.mean()) if self.own_.nnz else 1.0
        if self.social_weight > 0 and (m.sum() == 0 or self.social_.nnz == 0):
            what = "no social rows" if self.social_.nnz == 0 else (
                f"no visible endorsement of the kinds {sorted(ew)}"
            )
            hint = "" if self.social_.nnz == 0 else (
                f" (endorsement kinds in the data: "
                f"{sorted({KINDS[c] for c in np.unique(a['kind'])} & set(ENDORSEMENT_KINDS))}; "
                f"friends' purchases never count: the privacy rule of haowurank.visibility)"
            )
            warn_data(
                f"SocialALSRanker: the data set has {what}, so the friends term is empty and "
                f"social_als reduces to als{hint}."
            )
        self.cf_ = self._augment(np.arange(ds.n_users))

    def _set_graph(self) -> None:
        """The visibility graph of the kept endorsement rows, follows, blocks and audiences."""
        n_users, n_items = self.social_.shape[0], len(self.item_ids_)
        self.graph_ = EndorsementGraph.from_parts(
            n_users, n_items, social=self.social_, blocks=self.blocks_,
            endorsements={"user": self.endorse_user_, "item": self.endorse_item_,
                          "kind": self.endorse_kind_, "timestamp": self.endorse_ts_,
                          "visibility": self.endorse_vis_},
            audiences=dict(zip(("user", "item", "viewer"), self.audiences_)),
        )

    def social_term(self, users: np.ndarray) -> sp.csr_matrix:
        """Rows ``users`` (indices) of the friends term ``T`` (module docstring, step 3).

        Returns
        -------
        csr_matrix of float32, shape (len(users), n_items)
        """
        users = np.asarray(users, dtype=np.int64)
        ew = {k: w for k, w in self._endorsement_weights().items() if w > 0}
        n_items = len(self.item_ids_)
        if not ew:
            return sp.csr_matrix((len(users), n_items), dtype=np.float32)
        W, _ = social_weights(self.social_, self.blocks_)
        W.sort_indices()
        v = self.graph_.visible(users)
        pos, hit = csr_positions(W, users[v.viewer], v.endorser)
        tie = np.zeros(len(v))
        tie[hit] = W.data[pos[hit]]
        T = v.strength(ew, endorser_weights=tie)
        if self.hops == 2 and self.hop_decay > 0:
            W2 = sp.csr_matrix(W[users] @ W).tolil()
            for r, u in enumerate(users):
                W2[r, u] = 0.0
            W2 = _drop_blocked(W2.tocsr(), self.blocks_[users])
            T = T + self.hop_decay * (W2 @ self.graph_.public_endorsements(ew))
        T = sp.csr_matrix(T, dtype=np.float32)
        T.eliminate_zeros()
        T.sort_indices()
        return T

    def _augment(self, users: np.ndarray) -> sp.csr_matrix:
        """Rows ``users`` of ``C = own_ + social_weight * s * T``."""
        own = self.own_[users]
        if not self.social_weight:
            return own
        T = self.social_term(users)
        C = sp.csr_matrix(own + (self.social_weight * self.social_scale_) * T, dtype=np.float32)
        C.eliminate_zeros()
        C.sort_indices()
        return C

    def _fit(self, ds: Dataset, *, show_progress: bool, callback: Any) -> None:
        super()._fit(ds, show_progress=show_progress, callback=callback)
        if self.social_reg:
            self._smooth_factors(np.arange(ds.n_users))

    def _smooth_factors(self, users: np.ndarray) -> None:
        """Step 7 of the module docstring for ``users``."""
        W, _ = social_weights(self.social_, self.blocks_)
        W = W[users]
        has = np.diff(W.indptr) > 0
        if not has.any():
            return
        U = self.model_.user_factors
        mean = np.asarray(W[has] @ U, dtype=np.float32)
        r = float(self.social_reg)
        new = (1.0 - r) * U[users[has]] + r * mean
        self.model_.set_user_factors(users[has], new)

    # ---------------------------------------------------------------- fold-in
    def partial_fit_users(
        self, interactions: pd.DataFrame, social: pd.DataFrame | None = None
    ) -> SocialALSRanker:
        """Fold new interaction rows (and new follow rows) in without a full refit.

        As :meth:`~haowurank.rankers._cf.CFRanker.partial_fit_users`, plus: ``social`` rows
        (``user``, ``friend``, optional ``weight``) are added to the graph; endorsements in the new
        rows join the friends term. Every user whose augmented row can change is refolded: the
        users with new rows or new follows, the followers of users with new endorsements (and
        their followers with ``hops=2``). Their factors are recomputed by implicit's
        ``recalculate_user`` on the new augmented rows, then smoothed with ``social_reg``.
        """
        self._check_fitted()
        if social is not None and len(social):
            new = Dataset.from_frames(interactions, social)
        else:
            new = Dataset.from_frames(interactions)
        arrays = self._map_rows(new)
        touched: list[np.ndarray] = []
        if arrays is not None:
            self._apply_rows(arrays)
            touched.append(np.unique(arrays["user"]))
            ew = self._endorsement_weights()
            codes = [KINDS.index(k) for k, w in ew.items() if w > 0]
            m = np.isin(arrays["kind"], codes) & (
                arrays["visibility"] != VISIBILITIES.index("private")
            )
            if m.any():
                self.endorse_user_ = np.concatenate([self.endorse_user_, arrays["user"][m]])
                self.endorse_item_ = np.concatenate([self.endorse_item_, arrays["item"][m]])
                self.endorse_kind_ = np.concatenate(
                    [self.endorse_kind_, arrays["kind"][m].astype(np.int8)])
                self.endorse_vis_ = np.concatenate(
                    [self.endorse_vis_, arrays["visibility"][m].astype(np.int8)])
                self.endorse_ts_ = np.concatenate(
                    [self.endorse_ts_, arrays["timestamp"][m].astype(np.int64)])
                touched.append(self._followers(np.unique(arrays["user"][m])))
        if new.n_social:
            s = new.indexed_social
            su = self._grow_users(new.user_ids[s["user"].to_numpy()])
            sf = self._grow_users(new.user_ids[s["friend"].to_numpy()])
            n = len(self.user_ids_)
            add = sp.csr_matrix((s["weight"].to_numpy(), (su, sf)), shape=(n, n), dtype=np.float32)
            S = self.social_.maximum(add).tocsr()  # a repeated follow keeps the larger weight
            S.sort_indices()
            self.social_ = S
            touched.append(np.unique(su))
            touched.append(np.unique(sf))  # a new follow back can reveal friends-only endorsements
        if not touched:
            return self
        users = np.unique(np.concatenate(touched)).astype(np.int64)
        self._set_graph()
        self._refresh_rows(users)
        return self

    def _followers(self, users: np.ndarray) -> np.ndarray:
        col = sp.csr_matrix(self.social_).tocsc()[:, users]
        f1 = np.unique(col.tocoo().row)
        if self.hops == 2 and len(f1):
            f2 = np.unique(sp.csr_matrix(self.social_).tocsc()[:, f1].tocoo().row)
            f1 = np.union1d(f1, f2)
        return f1.astype(np.int64)

    def _grow_user_state(self, n_users: int) -> None:
        super()._grow_user_state(n_users)
        if self.own_.shape[0] < n_users:
            extra = sp.csr_matrix((n_users - self.own_.shape[0], self.own_.shape[1]),
                                  dtype=np.float32)
            self.own_ = sp.vstack([self.own_, extra]).tocsr()
        for name in ("social_", "blocks_"):
            M = getattr(self, name)
            if M.shape[0] < n_users:
                M = sp.csr_matrix((M.data, M.indices, np.concatenate(
                    [M.indptr, np.full(n_users - M.shape[0], M.indptr[-1])])),
                    shape=(n_users, n_users))
                setattr(self, name, M)

    def _refresh_rows(self, users: np.ndarray) -> None:
        self.own_ = replace_rows(self.own_, users, self.weighting_.transform(self.cf_raw_[users]))
        self.cf_ = replace_rows(self.cf_, users, self._augment(users))
        self._fold_in(users)
        if self.social_reg:
            self._smooth_factors(users)

    # ---------------------------------------------------------------- explanations
    def visible_endorsers(self, u: int, i: int) -> tuple[np.ndarray, dict[str, int]]:
        """Friends of user index ``u`` (indices) whose endorsement of item index ``i`` ``u`` may
        see (:mod:`haowurank.visibility`), and the count of those endorsers by strongest kind."""
        ew = self._endorsement_weights()
        v = self.graph_.visible(np.asarray([u]))
        codes = [KINDS.index(k) for k, w in ew.items() if w > 0]
        m = (v.item == i) & np.isin(v.kind, codes)
        order = np.argsort(v.endorser[m], kind="stable")
        who = v.endorser[m][order].astype(np.int64)
        kinds: dict[str, int] = {}
        for k in v.kind[m][order]:
            kinds[KINDS[int(k)]] = kinds.get(KINDS[int(k)], 0) + 1
        return who, kinds

    def _explain(self, u: int, i: int) -> dict[str, Any]:
        out = super()._explain(u, i)
        who, kinds = self.visible_endorsers(u, i)
        friends = [self.user_ids_[f] for f in who]
        own = float(self.own_[u, i])
        aug = float(self.cf_[u, i])
        contrib = out.get("contributions", [])
        iidx = pd.Index(self.item_ids_)
        sources = []
        for item, _ in contrib:
            j = int(iidx.get_loc(item))
            sources.append("own" if self.own_[u, j] > 0 else "friends")
        out["contribution_sources"] = sources
        out["terms"] = {
            **out["terms"],
            "own_confidence": own,
            "friends_confidence": aug - own,
        }
        out["friends"] = friends
        out["kinds"] = kinds
        text = out["text"].replace("ALS:", "Social ALS (own + friends' endorsements):", 1)
        if friends:
            shown = ", ".join(str(f) for f in friends[:3])
            more = f" and {len(friends) - 3} more" if len(friends) > 3 else ""
            text += f" Endorsed by your friends {shown}{more}."
        if self.social_reg:
            text += f" Your factors are blended with your friends' (social_reg={self.social_reg})."
        out["text"] = text
        return out

    # ---------------------------------------------------------------- persistence
    def _state(self) -> dict[str, np.ndarray]:
        return {
            **super()._state(),
            **csr_to_arrays("own", self.own_),
            **csr_to_arrays("social", self.social_),
            **csr_to_arrays("blocks", self.blocks_),
            "endorse.user": self.endorse_user_,
            "endorse.item": self.endorse_item_,
            "endorse.kind": self.endorse_kind_,
            "endorse.vis": self.endorse_vis_,
            "endorse.ts": self.endorse_ts_,
            "audiences": self.audiences_,
            "social_scale": np.asarray([self.social_scale_], dtype=np.float64),
        }

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        super()._set_state(arrays)
        self.own_ = arrays_to_csr("own", arrays)
        self.social_ = arrays_to_csr("social", arrays)
        self.blocks_ = arrays_to_csr("blocks", arrays)
        self.endorse_user_ = arrays["endorse.user"]
        self.endorse_item_ = arrays["endorse.item"]
        self.endorse_kind_ = arrays["endorse.kind"]
        self.endorse_vis_ = arrays["endorse.vis"]
        self.endorse_ts_ = arrays["endorse.ts"]
        self.audiences_ = arrays["audiences"]
        self.social_scale_ = float(arrays["social_scale"][0])
        self._set_graph()

