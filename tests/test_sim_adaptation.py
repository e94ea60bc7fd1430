"""Merchant adaptation after penalties, and the consequence sizes' documented defaults."""

from __future__ import annotations

import math

import pandas.testing as pdt
import pytest

import haowurank as hr
from haowurank.sim import SimulationConfig

N_USERS, N_ITEMS = 400, 150


@pytest.fixture(scope="module")
def world():
    return hr.datasets.synthetic(n_users=N_USERS, n_items=N_ITEMS, seed=7, **hr.sim.SIM_WORLD)


def cfg(**kw) -> SimulationConfig:
    base = dict(n_users=N_USERS, n_items=N_ITEMS, days=24, seed=3, world_seed=7, refit_every=0,
                daily_active_rate=0.3, messaging="spammer", marketing_rate=1.0, audit_rate=0.5,
                follow_rate=1.0)
    base.update(kw)
    return SimulationConfig(**base)


@pytest.fixture(scope="module")
def runs(world):
    """The same spamming world with merchants that never adapt and with merchants that switch
    to ``timed`` after their first penalty."""
    stay = hr.sim.run(cfg(), dataset=world)
    adapt = hr.sim.run(cfg(adapt_after_penalties=1, adapt_policy="timed"), dataset=world)
    return stay, adapt


def test_penalised_merchant_changes_behaviour(runs):
    stay, adapt = runs
    ev = adapt.events
    adapted = ev[ev["type"] == "adapt"]
    assert len(adapted) > 0 and adapted["merchant"].is_unique
    assert adapt.daily["merchants_adapted"].sum() == len(adapted)
    assert not (stay.events["type"] == "adapt").any()
    pen = ev[ev["type"] == "penalty"].set_index("event_id")
    # each adaptation refers to the merchant's first penalty, logged the same day
    assert (pen.loc[adapted["ref"], "merchant"].astype(str).to_numpy()
            == adapted["merchant"].astype(str).to_numpy()).all()
    assert (pen.loc[adapted["ref"], "day"].to_numpy() == adapted["day"].to_numpy()).all()
    assert (pen.loc[adapted["ref"], "penalty"].astype(str) == "template_removed").all()
    msgs = ev[ev["type"] == "message"]
    pays = ev[ev["type"] == "pay"]
    for m, day in zip(adapted["merchant"].astype(str), adapted["day"]):
        later = msgs[(msgs["merchant"].astype(str) == m) & (msgs["day"] > day)]
        assert not later["marketing"].any()  # no marketing content after adapting
        # payments after adapting get the timed plan: one repurchase reminder at most
        new_orders = pays.loc[(pays["merchant"].astype(str) == m) & (pays["day"] > day),
                              "order_id"]
        per_order = later[later["quota"].astype(str) == "payment"].groupby("ref").size()
        per_order = per_order[per_order.index.isin(new_orders)]
        assert (per_order <= 1).all()
        sent = later[later["ref"].isin(new_orders) & (later["quota"].astype(str) == "payment")]
        assert (sent["template"].astype(str) == "repurchase_reminder").all()
        # no penalty escalates once the merchant has adapted and its bans have passed
        assert (pen[(pen["merchant"].astype(str) == m)]["day"] <= day).all()
    # adapting merchants collect fewer penalties than merchants that keep spamming
    assert adapt.daily["penalties"].sum() < stay.daily["penalties"].sum()
    assert stay.check_quotas().empty
    assert adapt.check_quotas().empty


def test_adaptation_is_deterministic(world, runs):
    _, adapt = runs
    again = hr.sim.run(adapt.config, dataset=world)
    pdt.assert_frame_equal(adapt.events, again.events)
    pdt.assert_frame_equal(adapt.daily, again.daily)


def test_adapting_to_none_stops_messages(world):
    r = hr.sim.run(cfg(days=16, adapt_after_penalties=2, adapt_policy="none"), dataset=world)
    ev = r.events
    adapted = ev[ev["type"] == "adapt"]
    assert len(adapted) > 0
    pen = ev[ev["type"] == "penalty"].set_index("event_id")
    assert (pen.loc[adapted["ref"], "penalty"].astype(str) == "ban_7d").all()  # second penalty
    pays = ev[ev["type"] == "pay"]
    msgs = ev[ev["type"] == "message"]
    for m, day in zip(adapted["merchant"].astype(str), adapted["day"]):
        new_orders = pays.loc[(pays["merchant"].astype(str) == m) & (pays["day"] > day),
                              "order_id"]
        assert not msgs["ref"].isin(new_orders).any()
    assert r.check_quotas().empty


def test_adaptation_fields_validate_and_round_trip():
    with pytest.raises(ValueError, match="'adapt_policy' field"):
        SimulationConfig(adapt_policy="quiet")
    with pytest.raises(ValueError, match="'adapt_after_penalties' field"):
        SimulationConfig(adapt_after_penalties=-1)
    c = SimulationConfig(adapt_after_penalties=2, adapt_policy="none")
    assert SimulationConfig.from_toml(c.to_toml()) == c
    assert SimulationConfig().adapt_after_penalties == 0  # off by default


def test_default_consequence_sizes_match_their_documented_rates():
    """The defaults are the documented published rates (probabilities of a lone message)."""
    c = SimulationConfig()
    sig = lambda x: 1.0 / (1.0 + math.exp(-x))  # noqa: E731
    assert sig(c.optout_base) == pytest.approx(0.0014, abs=0.0002)  # GDMA 2024 unsubscribe rate
    assert sig(c.complaint_base) == pytest.approx(0.0005, abs=0.0001)
    assert sig(c.complaint_base) < 0.003 < sig(c.complaint_base + c.complaint_marketing)
    assert math.exp(4 * c.optout_per_message) == pytest.approx(0.47 / 0.10, rel=0.1)
    assert (1 - c.fatigue_activity_drop) ** 10 == pytest.approx(0.78, abs=0.01)
    doc = SimulationConfig.__doc__
    for ref in ("GDMA Email Benchmark 2024", "Localytics", "Ascarza", "References"):
        assert ref in doc
