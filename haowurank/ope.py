"""Off-policy evaluation of a slate policy from logged impressions.

From the impressions one exposure policy logged (``SimulationResult.impressions`` with its
candidate pools ``SimulationResult.candidates``, or any frames with the same columns), estimate
what another policy, the *target*, would achieve: its expected outcome (click or order) **per
impression**, that is per slate position filled, averaged over the logged slates' positions. A
target is an :class:`haowurank.sim.ExposurePolicy` applied to a score column of the candidates:
the logging score (``"score"``) under another temperature or exploration rate, or another
strategy's scores of the same candidates added as a column (:func:`ranker_scores` adds a fitted
ranker's).

Estimators
----------
Let slate ``s`` show items ``a_0, a_1, ...`` with outcomes ``r_k``, ``p_k`` the logging
probability of the prefix ``a_0..a_k`` (the logged ``propensity``) and ``q_k`` the target's
probability of the same prefix, computed exactly from the target's scores of the slate's
candidates (the product of its slot probabilities given the items above). With the prefix
weight ``w_k = q_k / p_k`` and ``N`` logged impressions:

``ips``
    ``sum_s sum_k w_k r_k / N``. Unbiased when the outcome in slot ``k`` depends on the user,
    the items in slots ``0..k`` and ``k`` only (the cascade assumption; the simulator's click
    model, where an item's click depends on its own slot only, satisfies it) and the target
    shows nothing the logging policy could not (``p > 0`` wherever ``q > 0``).
``snips``
    Self-normalised IPS per slot: ``sum_s w_k r_k / sum_s w_k`` for each slot ``k``, averaged
    over slots weighted by the slot's logged impressions. Slightly biased, lower variance.
``dr``
    Doubly robust with a reward model ``m(c, k)`` (a logistic regression of the outcome on the
    candidate's standardised score within its pool, its pool rank, the slot and the surface,
    fitted on the logged impressions by this module):
    ``sum_s sum_k [w_{k-1} sum_c pi_t(c | a_0..a_{k-1}) m(c, k) + w_k (r_k - m(a_k, k))] / N``
    with ``w_{-1} = 1`` and ``pi_t(c | ...)`` the target's probability of candidate ``c`` in
    slot ``k`` given the logged items above. Unbiased under the assumptions of ``ips`` for any
    reward model fitted independently of the evaluated impressions; a good model lowers the
    variance. Here the model is fitted on the same impressions (no cross-fitting), which can
    add a small bias.
``logged``
    The plain mean outcome of the logged impressions: the logging policy's own value.

Intervals are percentile bootstrap intervals over users: users are resampled with replacement
(their slates together), the per-user sums are recombined, and the reward model is kept fixed.

References
----------
Horvitz and Thompson (1952), JASA 47(260). Swaminathan and Joachims (2015), "The self-normalized
estimator for counterfactual learning", NeurIPS. Dudik, Langford and Li (2011), "Doubly robust
policy evaluation and learning", ICML. Kiyohara, Saito, Matsuhiro, Narita, Shimizu and Yamamoto
(2022), "Doubly robust off-policy evaluation for ranking policies under the cascade behavior
model", WSDM.

Example
-------
>>> import haowurank as hr
>>> cfg = hr.sim.SimulationConfig(n_users=300, n_items=120, days=2, seed=0,
...                               exposure="epsilon", exposure_epsilon=0.5, log_impressions=True)
>>> res = hr.sim.run(cfg)
>>> target = hr.sim.ExposurePolicy("plackett_luce", temperature=0.5)
>>> est = hr.ope.estimate(res.impressions, res.candidates, target, n_boot=200)
>>> list(est["estimator"])
['logged', 'ips', 'snips', 'dr']
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ._checks import check_fraction, check_int
from ._random import SeedLike, rng
from .sim import SURFACES, ExposurePolicy

__all__ = ["ESTIMATORS", "estimate", "ranker_scores", "target_propensities"]

log = logging.getLogger(__name__)

#: Estimators :func:`estimate` offers (besides the ``logged`` value, always reported).
ESTIMATORS: tuple[str, ...] = ("ips", "snips", "dr")
_IMPRESSION_NEEDS = ("slate", "user", "item", "position", "propensity")
_CANDIDATE_NEEDS = ("slate", "item")


def _check_frame(df: Any, name: str, needs: Sequence[str]) -> None:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"The {name!r} argument of hr.ope must be a pandas DataFrame. "
                        f"Got {type(df).__name__} instead.")
    missing = [c for c in needs if c not in df.columns]
    if missing:
        raise ValueError(f"The {name!r} frame lacks column(s) {missing}. "
                         f"Got columns {list(df.columns)}.")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -35, 35)))


class _Slates:
    """Logged slates as matrices: candidates (n_slates, pool), shown slots (n_slates, K)."""

    def __init__(self, impressions: pd.DataFrame, candidates: pd.DataFrame, score: str,
                 outcome: str, surfaces: Sequence[str] | None, slots: int | None = None):
        _check_frame(impressions, "impressions", (*_IMPRESSION_NEEDS, outcome))
        _check_frame(candidates, "candidates", (*_CANDIDATE_NEEDS, score))
        imp = impressions
        if surfaces is not None:
            if isinstance(surfaces, str):
                surfaces = [surfaces]
            bad = sorted(set(surfaces) - set(SURFACES))
            if bad:
                raise ValueError(
                    f"The 'surfaces' parameter of hr.ope must hold names among {list(SURFACES)}. "
                    f"Got {bad} instead."
                )
            if "surface" in imp.columns:
                imp = imp[imp["surface"].astype(str).isin(list(surfaces))]
        if slots is not None:
            if isinstance(slots, bool) or not isinstance(slots, int | np.integer) or slots < 1:
                raise ValueError(
                    f"The 'slots' parameter of hr.ope must be None or an int >= 1. Got {slots!r}."
                )
            if "position" in imp.columns:
                imp = imp[imp["position"] < slots]
        if len(imp) == 0:
            raise ValueError("hr.ope: no impressions to evaluate (after the 'surfaces' filter).")
        prop = imp["propensity"].to_numpy(dtype=np.float64)
        good = np.isfinite(prop) & (prop > 0) & (prop <= 1)
        if not good.all():
            raise ValueError(
                "The 'propensity' column of impressions must hold probabilities in (0, 1]. "
                f"Got {prop[~good][:3].tolist()} among its values."
            )
        r = pd.to_numeric(imp[outcome]).to_numpy(dtype=np.float64)
        good = np.isfinite(r) & (r >= 0)
        if not good.all():
            raise ValueError(
                f"The {outcome!r} column of impressions (the outcome) must be a bool or a finite "
                f"number >= 0. Got {r[~good][:3].tolist()} among its values."
            )
        pos = imp["position"].to_numpy()
        if not np.issubdtype(pos.dtype, np.integer) or (pos < 0).any():
            raise ValueError(
                "The 'position' column of impressions must hold 0-based int slots. "
                f"Got dtype {pos.dtype} with minimum {pos.min()!r}."
            )
        imp = imp.assign(_r=r).sort_values(["slate", "position"], kind="stable")
        uniq, first, counts = np.unique(imp["slate"].to_numpy(), return_index=True,
                                        return_counts=True)
        srow = np.repeat(np.arange(len(uniq)), counts)
        pos = imp["position"].to_numpy().astype(np.int64)
        expect = np.arange(len(imp)) - np.repeat(first, counts)
        if not np.array_equal(pos, expect):
            raise ValueError(
                "The 'position' column of impressions must number each slate's slots 0, 1, 2, ... "
                "without gaps or repeats (a slate is filled from the top)."
            )
        users = imp["user"].to_numpy()
        if (pd.Series(users).groupby(srow).nunique() > 1).any():
            raise ValueError("The 'user' column of impressions must be constant within a slate.")
        cand = candidates[candidates["slate"].isin(uniq)]
        keys = ["slate", "pool_rank"] if "pool_rank" in cand.columns else ["slate"]
        cand = cand.sort_values(keys, kind="stable")
        csl = cand["slate"].to_numpy()
        missing = np.setdiff1d(uniq, csl)
        if len(missing):
            raise ValueError(
                f"The 'candidates' frame has no pool for {len(missing)} logged slate(s), e.g. "
                f"{missing[:3].tolist()}."
            )
        crow = np.searchsorted(uniq, csl)
        cstart = np.searchsorted(csl, uniq)
        ccol = np.arange(len(cand)) - cstart[crow]
        width = int(ccol.max()) + 1
        n = len(uniq)
        self.valid = np.zeros((n, width), dtype=bool)
        self.valid[crow, ccol] = True
        tgt = cand[score].to_numpy(dtype=np.float64)
        if not np.all(np.isfinite(tgt)):
            raise ValueError(
                f"The {score!r} column of candidates (the target's scores) must be finite. "
                f"Got {tgt[~np.isfinite(tgt)][:3].tolist()} among its values."
            )
        self.scores = np.zeros((n, width))
        self.scores[crow, ccol] = tgt
        base = cand["score"].to_numpy(dtype=np.float64) if "score" in cand.columns else tgt
        self.base = np.zeros((n, width))
        self.base[crow, ccol] = np.nan_to_num(base)
        where = pd.DataFrame({"slate": csl, "item": cand["item"].to_numpy(), "_col": ccol})
        if where.duplicated(["slate", "item"]).any():
            raise ValueError("The 'candidates' frame lists an item twice in one slate's pool.")
        hit = imp[["slate", "item"]].merge(where, on=["slate", "item"], how="left")["_col"]
        if hit.isna().any():
            raise ValueError(
                f"{int(hit.isna().sum())} impression(s) show an item that is not among its "
                "slate's candidates (the 'item' columns of impressions and candidates disagree)."
            )
        k = int(counts.max())
        self.ok = np.arange(k)[None, :] < counts[:, None]
        self.shown = np.full((n, k), -1, dtype=np.int64)
        self.shown[srow, pos] = hit.to_numpy().astype(np.int64)
        self.reward = np.zeros((n, k))
        self.reward[srow, pos] = imp["_r"].to_numpy()
        self.logged = np.ones((n, k))
        self.logged[srow, pos] = imp["propensity"].to_numpy(dtype=np.float64)
        surf = (imp["surface"].astype(str).to_numpy() if "surface" in imp.columns
                else np.full(len(imp), "feed"))
        self.surface = np.zeros(n, dtype=np.int64)
        self.surface[srow] = [SURFACES.index(x) if x in SURFACES else 0 for x in surf]
        self.user_codes = pd.factorize(users[first])[0]
        self.n_users = int(self.user_codes.max()) + 1
        self.n_impressions = len(imp)

    # ------------------------------------------------------------------ reward model
    def features(self) -> np.ndarray:
        """Per candidate features (n_slates, pool, f): standardised base score, log1p pool rank,
        surface indicators; the slot enters separately (log1p slot)."""
        v = self.valid
        cnt = np.maximum(v.sum(axis=1, keepdims=True), 1)
        mean = np.where(v, self.base, 0).sum(axis=1, keepdims=True) / cnt
        sd = np.sqrt(np.where(v, (self.base - mean) ** 2, 0).sum(axis=1, keepdims=True) / cnt)
        z = np.where(sd > 1e-12, (self.base - mean) / np.where(sd > 1e-12, sd, 1.0), 0.0)
        rank = np.log1p(np.broadcast_to(np.arange(v.shape[1])[None, :], v.shape))
        surf = [np.broadcast_to((self.surface == s)[:, None], v.shape).astype(np.float64)
                for s in range(1, len(SURFACES))]
        return np.stack([np.ones(v.shape), z, rank, *surf], axis=-1)

    def fit_reward_model(self, ridge: float = 1e-3) -> tuple[np.ndarray, float, float]:
        """Logistic regression (soft labels, Newton steps) of the outcome on the candidate's
        features and log1p(slot), fitted on the shown items. Returns (coef, slot coef, scale)."""
        feats = self.features()
        rows, cols = np.nonzero(self.ok)
        x = np.column_stack([feats[rows, self.shown[rows, cols]], np.log1p(cols)])
        y = self.reward[rows, cols]
        scale = max(1.0, float(y.max()))
        y = y / scale
        w = np.zeros(x.shape[1])
        mean = y.mean()
        if 0 < mean < 1:
            w[0] = np.log(mean / (1 - mean))
            for _ in range(30):
                p = _sigmoid(x @ w)
                g = x.T @ (p - y) + ridge * w
                h = (x * (p * (1 - p))[:, None]).T @ x + ridge * np.eye(len(w))
                step = np.linalg.solve(h, g)
                w -= step
                if np.max(np.abs(step)) < 1e-8:
                    break
        else:
            w[0] = -40.0 if mean <= 0 else 40.0
        self._feats = feats
        return w[:-1], float(w[-1]), scale

    # ------------------------------------------------------------------ the estimators
    def per_slate(self, target: ExposurePolicy, model: bool) -> dict[str, np.ndarray]:
        """Per slate and slot: target prefix probability, weights, DR terms."""
        n, k = self.shown.shape
        rows = np.arange(n)
        taken = np.zeros(self.valid.shape, dtype=bool)
        q_slot = np.ones((n, k))
        expected = np.zeros((n, k))
        m_shown = np.zeros((n, k))
        if model:
            coef, slot_coef, scale = self.fit_reward_model()
            lin = self._feats @ coef
        for j in range(k):
            dist = target.slot_distribution(self.scores, self.valid, taken)
            ok = self.ok[:, j]
            col = np.maximum(self.shown[:, j], 0)
            q_slot[ok, j] = dist[rows[ok], col[ok]]
            if model:
                m = scale * _sigmoid(lin + slot_coef * np.log1p(j))
                expected[:, j] = np.where(ok, (dist * np.where(self.valid, m, 0.0)).sum(axis=1), 0)
                m_shown[:, j] = np.where(ok, m[rows, col], 0.0)
            taken[rows[ok], col[ok]] = True
        q_prefix = np.cumprod(q_slot, axis=1)
        w = np.where(self.ok, q_prefix / self.logged, 0.0)
        w_prev = np.concatenate([np.ones((n, 1)), w[:, :-1]], axis=1)
        dr = np.where(self.ok, w_prev * expected + w * (self.reward - m_shown), 0.0)
        return {"q": q_prefix, "w": w, "dr": dr}


def target_propensities(
    impressions: pd.DataFrame, candidates: pd.DataFrame, target: ExposurePolicy, *,
    score: str = "score", surfaces: Sequence[str] | None = None,
) -> pd.Series:
    """The target policy's probability of each logged prefix (slots ``0..position``).

    Parameters
    ----------
    impressions, candidates : DataFrame
        As in :func:`estimate`.
    target : haowurank.sim.ExposurePolicy
    score : str
        The candidates' column the target ranks by.
    surfaces : sequence of str or None
        Only impressions of these surfaces (None: all).

    Returns
    -------
    Series
        Indexed like the (filtered) impressions; the counterpart of their ``propensity``.
    """
    _check_target(target)
    imp = impressions
    if surfaces is not None:
        imp = imp[imp["surface"].astype(str).isin([surfaces] if isinstance(surfaces, str)
                                                  else list(surfaces))]
    sl = _Slates(imp, candidates, score, "position", None)
    q = sl.per_slate(target, model=False)["q"]
    order = imp.sort_values(["slate", "position"], kind="stable").index
    return pd.Series(q[sl.ok], index=order, name="target_propensity").reindex(imp.index)


def ranker_scores(
    impressions: pd.DataFrame, candidates: pd.DataFrame, ranker: Any, *,
    column: str = "target_score",
) -> pd.DataFrame:
    """The candidates with a column of another strategy's scores: a target to evaluate.

    Each candidate of a slate is scored for the slate's user with ``ranker.score_pairs``; a
    pair the ranker cannot score (an unknown item: NaN; not among its candidates: -inf) gets
    the lowest finite score of that slate's pool minus 1, so it ranks last.

    Parameters
    ----------
    impressions : DataFrame
        ``slate`` and ``user`` columns (the user of each slate).
    candidates : DataFrame
        ``slate`` and ``item`` columns.
    ranker : fitted haowurank ranker
        The target strategy, e.g. ``hr.rankers.make("als").fit(train)``.
    column : str
        Name of the new column.

    Returns
    -------
    DataFrame
        A copy of ``candidates`` with ``column``; pass ``score=column`` to :func:`estimate`.
    """
    _check_frame(impressions, "impressions", ("slate", "user"))
    _check_frame(candidates, "candidates", ("slate", "item"))
    if not hasattr(ranker, "score_pairs"):
        raise TypeError(
            "The 'ranker' parameter of hr.ope.ranker_scores must be a fitted haowurank ranker "
            f"(with score_pairs). Got {type(ranker).__name__}."
        )
    owner = impressions.drop_duplicates("slate").set_index("slate")["user"]
    users = candidates["slate"].map(owner)
    if users.isna().any():
        raise ValueError(
            f"The 'impressions' frame names no user for {int(users.isna().sum())} candidate "
            "row(s): their slate has no impression."
        )
    s = np.asarray(ranker.score_pairs(users.tolist(), candidates["item"].tolist()),
                   dtype=np.float64)
    finite = pd.Series(np.where(np.isfinite(s), s, np.nan), index=candidates.index)
    low = finite.groupby(candidates["slate"]).transform("min").fillna(0.0) - 1.0
    out = candidates.copy()
    out[column] = np.where(np.isfinite(s), s, low.to_numpy())
    return out


def _check_target(target: Any) -> None:
    if not isinstance(target, ExposurePolicy):
        raise TypeError(
            "The 'target' parameter of hr.ope must be a haowurank.sim.ExposurePolicy, e.g. "
            f"ExposurePolicy('plackett_luce', temperature=0.5). Got {type(target).__name__}."
        )


def estimate(
    impressions: pd.DataFrame,
    candidates: pd.DataFrame,
    target: ExposurePolicy,
    *,
    outcome: str = "click",
    estimators: Sequence[str] = ESTIMATORS,
    score: str = "score",
    surfaces: Sequence[str] | None = ("feed", "search"),
    slots: int | None = None,
    level: float = 0.95,
    n_boot: int = 1000,
    seed: SeedLike = 0,
) -> pd.DataFrame:
    """Estimate a target policy's outcome per impression from another policy's logs.

    Parameters
    ----------
    impressions : DataFrame
        One row per shown item: ``slate``, ``user``, ``item``, ``position`` (0-based, each slate
        filled from slot 0), ``propensity`` (the logging policy's probability of the slate's
        items in slots ``0..position``), the ``outcome`` column and optionally ``surface``
        (``SimulationResult.impressions`` has them all).
    candidates : DataFrame
        The pool of every slate: ``slate``, ``item``, the ``score`` column, optionally
        ``pool_rank`` (``SimulationResult.candidates``).
    target : haowurank.sim.ExposurePolicy
        The policy to evaluate, applied to ``candidates[score]``.
    outcome : str
        The outcome column (bool or a number >= 0), e.g. ``"click"`` or ``"order"``.
    estimators : sequence of {"ips", "snips", "dr"}
    score : str
        The candidates' column the target ranks by (another strategy's scores: add a column).
    surfaces : sequence of str or None
        Evaluate slates of these surfaces only (messages are not ranked slates; None, or
        impressions without a ``surface`` column: all rows).
    slots : int or None
        Evaluate only the first ``slots`` slots of each slate (the value per impression among
        them; the prefix weights of the top slots do not depend on the slots below, so they
        stay small where the full slate's would explode). None: every slot.
    level : float in (0, 1)
        Confidence level of the intervals.
    n_boot : int
        Bootstrap replicates over users (0: no intervals, ``low``/``high``/``se`` NaN).
    seed : int, SeedSequence or Generator
        Seed of the bootstrap.

    Returns
    -------
    DataFrame
        One row per estimator (``logged`` first): ``estimator``, ``outcome``, ``value`` (the
        estimated outcome per impression), ``low``, ``high`` (percentile bootstrap interval over
        users), ``se`` (bootstrap standard deviation), ``n_impressions``, ``n_slates``,
        ``n_users``, ``ess`` (effective sample size of the prefix weights,
        ``(sum w)^2 / sum w^2`` over impressions) and ``max_weight``.
    """
    _check_target(target)
    est = [estimators] if isinstance(estimators, str) else list(estimators)
    bad = [e for e in est if e not in ESTIMATORS]
    if bad or not est:
        raise ValueError(
            f"The 'estimators' parameter of hr.ope.estimate must name some of {list(ESTIMATORS)}. "
            f"Got {estimators!r} instead."
        )
    check_fraction(level, "level", "hr.ope.estimate")
    check_int(n_boot, "n_boot", "hr.ope.estimate", 0)
    sl = _Slates(impressions, candidates, score, outcome, surfaces, slots)
    parts = sl.per_slate(target, model="dr" in est)
    w, r, ok = parts["w"], sl.reward, sl.ok
    n_imp = ok.sum(axis=1).astype(np.float64)
    per_slate = {"logged": np.where(ok, r, 0).sum(axis=1), "ips": (w * r).sum(axis=1),
                 "dr": parts["dr"].sum(axis=1)}
    u, nu = sl.user_codes, sl.n_users

    def by_user(x: np.ndarray) -> np.ndarray:
        if x.ndim == 1:
            return np.bincount(u, weights=x, minlength=nu)
        return np.stack([np.bincount(u, weights=x[:, j], minlength=nu)
                         for j in range(x.shape[1])], axis=1)

    n_u = by_user(n_imp)
    sums = {k: by_user(v) for k, v in per_slate.items()}
    snips_num, snips_den = by_user(w * r), by_user(w)
    slot_n = by_user(ok.astype(np.float64))

    def value(name: str, c: np.ndarray | None) -> np.ndarray:
        """Estimate for user weights ``c`` (n_rep, n_users); None: the sample itself."""
        cw = np.ones((1, nu)) if c is None else c
        if name == "snips":
            num, den, cnt = cw @ snips_num, cw @ snips_den, cw @ slot_n
            per_slot = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
            return (per_slot * cnt).sum(axis=1) / np.maximum(cnt.sum(axis=1), 1e-300)
        return (cw @ sums[name]) / np.maximum(cw @ n_u, 1e-300)

    g = rng(seed)
    reps: dict[str, list[np.ndarray]] = {k: [] for k in ["logged", *est]}
    done = 0
    while done < n_boot:
        b = min(200, n_boot - done)
        c = g.multinomial(nu, np.full(nu, 1.0 / nu), size=b).astype(np.float64)
        for k in reps:
            reps[k].append(value(k, c))
        done += b
    wf = w[ok]
    ess = float(wf.sum() ** 2 / max(float((wf ** 2).sum()), 1e-300))
    rows = []
    alpha = (1.0 - float(level)) / 2.0
    for k in ["logged", *est]:
        v = float(value(k, None)[0])
        if n_boot:
            dist = np.concatenate(reps[k])
            low, high = np.quantile(dist, [alpha, 1.0 - alpha])
            se = float(dist.std(ddof=1)) if len(dist) > 1 else float("nan")
        else:
            low = high = se = float("nan")
        rows.append({"estimator": k, "outcome": outcome, "value": v, "low": float(low),
                     "high": float(high), "se": se, "n_impressions": sl.n_impressions,
                     "n_slates": len(sl.shown), "n_users": nu,
                     "ess": float(sl.n_impressions) if k == "logged" else ess,
                     "max_weight": 1.0 if k == "logged" else float(wf.max())})
    if ess < 0.01 * sl.n_impressions:
        log.warning("hr.ope.estimate: effective sample size %.1f of %d impressions; the target "
                    "is far from the logging policy and the estimates are noisy", ess,
                    sl.n_impressions)
    return pd.DataFrame(rows)
