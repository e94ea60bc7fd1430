"""Off-policy evaluation (hr.ope) and the exposure policies it evaluates (hr.sim.ExposurePolicy).

Known-answer tests enumerate every slate of a tiny pool, so the target's true value is exact.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

import haowurank as hr
from haowurank.sim import ExposurePolicy

SCORES = np.array([2.0, 1.2, 0.5, -0.3])
#: expected outcome of item a in slot k (a known click model: position bias times appeal)
APPEAL = np.array([0.6, 0.3, 0.5, 0.2])
BIAS = np.array([1.0, 0.5, 0.35])


def _reward(a: int, k: int) -> float:
    return float(APPEAL[a] * BIAS[k])


def _prefix_prob(policy: ExposurePolicy, scores: np.ndarray, slate: tuple[int, ...]) -> float:
    """Probability of a realised slate from the policy's slot probabilities (one slate)."""
    s = scores[None, :]
    valid = np.ones_like(s, dtype=bool)
    return float(np.prod(policy.slot_propensities(s, valid, np.array([slate]))))


def _truth(policy: ExposurePolicy, scores: np.ndarray, k: int) -> float:
    """Exact value per impression of ``policy``: enumerate every ordered slate of length k."""
    tot = 0.0
    for slate in itertools.permutations(range(len(scores)), k):
        tot += _prefix_prob(policy, scores, slate) * sum(_reward(a, j) for j, a in enumerate(slate))
    return tot / k


def _log(slates, logging: ExposurePolicy, scores, rewards=None):
    """Impressions and candidates frames for the given slates (one user and slate each)."""
    rows, cands = [], []
    for s, slate in enumerate(slates):
        p = logging.slot_propensities(scores[None, :], np.ones((1, len(scores)), bool),
                                      np.array([slate]))[0]
        for j, a in enumerate(slate):
            r = _reward(a, j) if rewards is None else rewards[s][j]
            rows.append({"slate": s, "user": f"u{s}", "item": f"i{a}", "position": j,
                         "surface": "feed", "propensity": float(np.prod(p[: j + 1])),
                         "click": r})
        for c, sc in enumerate(scores):
            cands.append({"slate": s, "item": f"i{c}", "score": float(sc), "pool_rank": c})
    return pd.DataFrame(rows), pd.DataFrame(cands)


# ---------------------------------------------------------------------- policies
@pytest.mark.parametrize("policy", [
    ExposurePolicy("plackett_luce", temperature=0.7),
    ExposurePolicy("epsilon", epsilon=0.4),
    ExposurePolicy("deterministic"),
])
def test_sampler_frequencies_match_the_product_formula(policy):
    """Slates drawn by ``sample`` (Gumbel-top-k / slot-wise) occur as often as the product of
    slot probabilities says: the logged propensity is the sampler's probability."""
    n, k = 20000, 2
    g = np.random.default_rng(5)
    scores = np.tile(SCORES, (n, 1))
    valid = np.ones_like(scores, dtype=bool)
    gumbel = g.gumbel(size=scores.shape)
    explore = g.random((n, k))
    shown = policy.sample(scores, valid, k, gumbel, explore)
    counts = pd.Series([tuple(r) for r in shown.tolist()]).value_counts()
    total = 0.0
    for slate in itertools.permutations(range(4), k):
        p = _prefix_prob(policy, SCORES, slate)
        total += p
        freq = counts.get(slate, 0) / n
        assert abs(freq - p) <= 4.5 * np.sqrt(p * (1 - p) / n) + 1e-12, (slate, freq, p)
    assert total == pytest.approx(1.0)


def test_slot_distribution_rules():
    scores = np.array([[1.0, 3.0, 2.0, 0.0]])
    valid = np.array([[True, True, True, False]])
    taken = np.array([[False, True, False, False]])
    det = ExposurePolicy("deterministic").slot_distribution(scores, valid, taken)
    assert det.tolist() == [[0.0, 0.0, 1.0, 0.0]]  # best remaining valid candidate
    eps = ExposurePolicy("epsilon", epsilon=0.3).slot_distribution(scores, valid, taken)
    np.testing.assert_allclose(eps, [[0.15, 0.0, 0.85, 0.0]])
    pl = ExposurePolicy("plackett_luce", temperature=2.0).slot_distribution(scores, valid, taken)
    assert pl[0, 1] == 0 and pl[0, 3] == 0 and pl[0].sum() == pytest.approx(1.0)
    assert pl[0, 2] > pl[0, 0] > 0
    # a higher temperature flattens, a lower one sharpens
    cold = ExposurePolicy("plackett_luce", temperature=0.1).slot_distribution(scores, valid, taken)
    assert cold[0, 2] > pl[0, 2]


@pytest.mark.parametrize("kwargs, field", [
    ({"kind": "softmax"}, "kind"), ({"temperature": 0.0}, "temperature"),
    ({"temperature": float("nan")}, "temperature"), ({"epsilon": 1.5}, "epsilon"),
])
def test_policy_errors_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=f"'{field}'"):
        ExposurePolicy(**kwargs)


# ---------------------------------------------------------------------- known answers
@pytest.mark.parametrize("target", [
    ExposurePolicy("plackett_luce", temperature=0.7),
    ExposurePolicy("plackett_luce", temperature=3.0),
    ExposurePolicy("deterministic"),
    ExposurePolicy("epsilon", epsilon=0.25),
])
def test_known_answer_uniform_logging_full_enumeration(target):
    """A log holding every ordered slate once is exactly what uniform logging expects: every
    estimator recovers the target's enumerated value to rounding."""
    k = 2
    uniform = ExposurePolicy("epsilon", epsilon=1.0)
    slates = list(itertools.permutations(range(4), k))
    imp, cand = _log(slates, uniform, SCORES)
    assert np.allclose(imp["propensity"], np.where(imp["position"] == 0, 1 / 4, 1 / 12))
    truth = _truth(target, SCORES, k)
    est = hr.ope.estimate(imp, cand, target, n_boot=0).set_index("estimator")["value"]
    for name in ("ips", "snips", "dr"):
        assert est[name] == pytest.approx(truth, abs=1e-12), name
    assert est["logged"] == pytest.approx(_truth(uniform, SCORES, k), abs=1e-12)


def test_known_answer_ips_is_unbiased_under_plackett_luce_logging():
    """E over logged slates of the one-slate IPS estimate, weighted by the logging
    probability of each slate (enumerated), equals the target's exact value."""
    k = 3
    logging = ExposurePolicy("plackett_luce", temperature=1.0)
    for target in (ExposurePolicy("plackett_luce", temperature=0.4),
                   ExposurePolicy("deterministic")):
        expected = 0.0
        for slate in itertools.permutations(range(4), k):
            imp, cand = _log([slate], logging, SCORES)
            v = hr.ope.estimate(imp, cand, target, estimators=["ips"], n_boot=0)
            expected += _prefix_prob(logging, SCORES, slate) * v["value"].iloc[1]
        assert expected == pytest.approx(_truth(target, SCORES, k), abs=1e-12)


def test_known_answer_top_slots_only():
    """slots=1 evaluates the first slot alone: exact on the full enumeration of length-3 slates."""
    uniform = ExposurePolicy("epsilon", epsilon=1.0)
    target = ExposurePolicy("plackett_luce", temperature=0.5)
    imp, cand = _log(list(itertools.permutations(range(4), 3)), uniform, SCORES)
    est = hr.ope.estimate(imp, cand, target, slots=1, n_boot=0).set_index("estimator")
    assert est.loc["ips", "n_impressions"] == 24
    assert est.loc["ips", "value"] == pytest.approx(_truth(target, SCORES, 1), abs=1e-12)
    assert est.loc["dr", "value"] == pytest.approx(_truth(target, SCORES, 1), abs=1e-12)
    with pytest.raises(ValueError, match="'slots'"):
        hr.ope.estimate(imp, cand, target, slots=0)


def test_target_propensities_of_the_logging_policy_are_the_logged_ones():
    logging = ExposurePolicy("plackett_luce", temperature=0.8)
    slates = [(0, 1, 2), (3, 2, 0), (1, 0, 3)]
    imp, cand = _log(slates, logging, SCORES)
    tp = hr.ope.target_propensities(imp.iloc[::-1], cand, logging)
    np.testing.assert_allclose(tp.sort_index(), imp["propensity"], rtol=1e-12)


# ---------------------------------------------------------------------- unbiased within intervals
def test_uniform_logging_makes_ips_unbiased_within_its_interval():
    """Many seeded logs of Bernoulli outcomes under uniformly random slates: the IPS estimates
    centre on the enumerated truth and their 90% bootstrap intervals cover it about 90% of the
    time."""
    k, n_users, n_seeds = 3, 150, 60
    uniform = ExposurePolicy("epsilon", epsilon=1.0)
    target = ExposurePolicy("plackett_luce", temperature=0.5)
    truth = _truth(target, SCORES, k)
    slates = list(itertools.permutations(range(4), k))
    slates = np.asarray(slates)
    n_pool = len(SCORES)
    prefix = np.cumprod(1.0 / (n_pool - np.arange(k)))  # uniform logging, slots 0..j
    np.testing.assert_allclose(prefix, np.cumprod(uniform.slot_propensities(
        SCORES[None, :], np.ones((1, n_pool), bool), slates[:1])[0]))
    cand = pd.DataFrame({"slate": np.repeat(np.arange(n_users), n_pool),
                         "item": np.tile(np.arange(n_pool), n_users),
                         "score": np.tile(SCORES, n_users)})
    p_click = APPEAL[slates] * BIAS[:k][None, :]  # (n_slates, k)
    estimates, covered = [], 0
    for seed in range(n_seeds):
        g = np.random.default_rng(seed)
        pick = g.integers(0, len(slates), n_users)
        imp = pd.DataFrame({
            "slate": np.repeat(np.arange(n_users), k), "user": np.repeat(np.arange(n_users), k),
            "item": slates[pick].ravel(), "position": np.tile(np.arange(k), n_users),
            "propensity": np.tile(prefix, n_users),
            "click": (g.random((n_users, k)) < p_click[pick]).ravel(),
        })
        row = hr.ope.estimate(imp, cand, target, estimators=["ips"], level=0.9, n_boot=300,
                              seed=seed).set_index("estimator").loc["ips"]
        estimates.append(row["value"])
        covered += row["low"] <= truth <= row["high"]
    estimates = np.asarray(estimates)
    se = estimates.std(ddof=1) / np.sqrt(n_seeds)
    assert abs(estimates.mean() - truth) < 3.5 * se
    assert 0.75 <= covered / n_seeds <= 1.0


# ---------------------------------------------------------------------- bad input
def _small():
    return _log([(0, 1), (2, 3)], ExposurePolicy("epsilon", epsilon=1.0), SCORES)


def test_bad_input_names_the_field():
    imp, cand = _small()
    target = ExposurePolicy("deterministic")
    with pytest.raises(ValueError, match="'propensity'"):
        hr.ope.estimate(imp.drop(columns="propensity"), cand, target)
    with pytest.raises(ValueError, match="'propensity'"):
        hr.ope.estimate(imp.assign(propensity=0.0), cand, target)
    with pytest.raises(ValueError, match="'order'"):
        hr.ope.estimate(imp, cand, target, outcome="order")
    with pytest.raises(ValueError, match="'click'"):
        hr.ope.estimate(imp.assign(click=-1.0), cand, target)
    with pytest.raises(ValueError, match="'position'"):
        hr.ope.estimate(imp.assign(position=imp["position"] + 1), cand, target)
    with pytest.raises(ValueError, match="'target_score'"):
        hr.ope.estimate(imp, cand, target, score="target_score")
    with pytest.raises(ValueError, match="not among its slate's candidates"):
        hr.ope.estimate(imp, cand[cand["item"] != "i3"], target)
    with pytest.raises(ValueError, match="'candidates'"):
        hr.ope.estimate(imp, cand[cand["slate"] == 0], target)
    with pytest.raises(TypeError, match="'target'"):
        hr.ope.estimate(imp, cand, "plackett_luce")
    with pytest.raises(ValueError, match="'estimators'"):
        hr.ope.estimate(imp, cand, target, estimators=["ipw"])
    with pytest.raises(ValueError, match="'surfaces'"):
        hr.ope.estimate(imp, cand, target, surfaces=["banner"])
    with pytest.raises(ValueError, match="'n_boot'"):
        hr.ope.estimate(imp, cand, target, n_boot=-1)
    with pytest.raises(ValueError, match="'level'"):
        hr.ope.estimate(imp, cand, target, level=95)


def test_another_score_column_is_a_target_strategy():
    """A target ranking by another column of the candidates (another strategy's scores)."""
    imp, cand = _log(list(itertools.permutations(range(4), 2)),
                     ExposurePolicy("epsilon", epsilon=1.0), SCORES)
    reversed_scores = -cand["score"]
    est = hr.ope.estimate(imp, cand.assign(other=reversed_scores), ExposurePolicy("deterministic"),
                          score="other", n_boot=0).set_index("estimator")["value"]
    # deterministic on the reversed scores shows items 3 then 2
    assert est["ips"] == pytest.approx((_reward(3, 0) + _reward(2, 1)) / 2, abs=1e-12)
