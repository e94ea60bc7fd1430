"""``SimulationConfig.fold_in``: between full refits the engine folds each finished day's
platform rows into a CF ranker (``partial_fit_users``); the folded model stays close to a full
refit on the same log, runs are deterministic, and rankers without fold-in are refused."""

from __future__ import annotations

import numpy as np
import pytest

import haowurank as hr
from haowurank.sim import SimulationConfig
from haowurank.sim._engine import Engine
from haowurank.sim._world import World

N_USERS, N_ITEMS = 500, 150


@pytest.fixture(scope="module")
def world():
    return hr.datasets.synthetic(n_users=N_USERS, n_items=N_ITEMS, seed=5, **hr.sim.SIM_WORLD)


def cfg(**kw) -> SimulationConfig:
    base = dict(n_users=N_USERS, n_items=N_ITEMS, days=5, seed=2, world_seed=5, refit_every=0,
                daily_active_rate=0.4, strategy="als", fold_in=True,
                strategy_params={"factors": 16, "iterations": 10})
    base.update(kw)
    return SimulationConfig(**base)


def _engine(c: SimulationConfig, world: hr.Dataset) -> Engine:
    eng = Engine(c, World.from_dataset(world, c))
    for d in range(c.days):
        eng.step(d)
    return eng


def _row_corr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    return (a * b).sum(axis=1) / np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))


@pytest.mark.parametrize("strategy", ["als", "social_als"])
def test_fold_in_approximates_a_full_refit_on_the_folded_users(world, strategy):
    c = cfg(strategy=strategy)
    eng = _engine(c, world)
    assert eng.fits == 1 and eng.folds == c.days - 1  # the last day has no later session
    assert eng.timings["fold_in"] > 0
    platform = eng.platform
    # the users whose rows the folds touched: rows logged after the initial fit
    n0 = world.n_interactions
    touched = np.unique(platform.interaction_arrays()["user"][n0:])
    assert len(touched) > 20
    # the same platform minus the rows logged on the last day (never folded: no later session)
    last = eng.now(c.days - 1)
    a = platform.interaction_arrays()
    folded_log = platform.select_interactions(a["timestamp"] < last)
    touched = np.unique(folded_log.interaction_arrays()["user"][n0:])
    full = hr.rankers.make(strategy, **c.strategy_params)
    full.set_params(random_state=eng.ranker.random_state)
    full.fit(folded_log)
    stale = hr.rankers.make(strategy, **c.strategy_params)
    stale.set_params(random_state=eng.ranker.random_state)
    stale.fit(world.select_interactions(np.ones(world.n_interactions, dtype=bool)))
    ids = platform.user_ids[touched]
    s_fold, s_full, s_stale = (r.score(ids) for r in (eng.ranker, full, stale))
    c_fold = np.nanmean(_row_corr(s_fold, s_full))
    c_stale = np.nanmean(_row_corr(s_stale, s_full))
    # the folded model agrees with the full refit on its users, and better than no update
    assert c_fold > 0.8, c_fold
    assert c_fold > c_stale, (c_fold, c_stale)


def test_fold_in_is_deterministic_and_keeps_quotas():
    c = cfg(n_users=300, n_items=100, days=4, world_seed=None, seed=4)
    a, b = hr.sim.run(c), hr.sim.run(c)
    assert a.timings["fold_in"] > 0
    assert a.summary() == b.summary()
    assert a.events.equals(b.events)
    assert len(a.check_quotas()) == 0


def test_fold_in_with_periodic_refits_folds_only_between_them(world):
    eng = _engine(cfg(days=6, refit_every=3), world)
    # day 2 refits; days 0, 1, 3, 4 fold; day 5 is the last
    assert eng.fits == 2
    assert eng.folds == 2  # the count since the latest full fit (days 3 and 4)


@pytest.mark.parametrize("strategy", ["trust", "popularity"])
def test_fold_in_needs_a_ranker_with_partial_fit_users(world, strategy):
    c = cfg(strategy=strategy, strategy_params={})
    with pytest.raises(ValueError, match="'fold_in'.*partial_fit_users.*" + strategy):
        Engine(c, World.from_dataset(world, c))


def test_fold_in_must_be_a_bool():
    with pytest.raises(ValueError, match="'fold_in' field of SimulationConfig must be a bool"):
        SimulationConfig(fold_in=1)
