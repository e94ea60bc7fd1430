"""Messaging quota rules checked from the event log alone, with Hypothesis over random configs,
and the checker itself shown to catch each kind of violation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import haowurank as hr
from haowurank.sim import PAYMENT_QUOTA, SimulationConfig, check_quotas

_WORLDS: dict[int, hr.Dataset] = {}


def _world(seed: int) -> hr.Dataset:
    if seed not in _WORLDS:
        _WORLDS[seed] = hr.datasets.synthetic(n_users=250, n_items=90, seed=seed)
    return _WORLDS[seed]


policies = st.one_of(
    st.sampled_from(hr.sim.POLICIES),
    st.dictionaries(st.sampled_from(hr.sim.POLICIES), st.floats(0.1, 1.0), min_size=1, max_size=4),
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    world_seed=st.integers(0, 2),
    seed=st.integers(0, 10_000),
    days=st.integers(4, 14),
    messaging=policies,
    sub_day=st.one_of(st.none(), st.integers(0, 12)),
    marketing=st.floats(0.0, 1.0),
    audit=st.floats(0.0, 1.0),
    require_follow=st.booleans(),
    follow_rate=st.floats(0.0, 1.0),
    optin_rate=st.floats(0.0, 1.0),
    active=st.floats(0.1, 0.6),
)
def test_quota_invariants_hold_in_every_run(world_seed, seed, days, messaging, sub_day, marketing,
                                            audit, require_follow, follow_rate, optin_rate, active):
    cfg = SimulationConfig(
        n_users=250, n_items=90, days=days, seed=seed, world_seed=world_seed, messaging=messaging,
        subscription_from_day=sub_day, marketing_rate=marketing, audit_rate=audit,
        messages_require_follow=require_follow, follow_rate=follow_rate, optin_rate=optin_rate,
        daily_active_rate=active, refit_every=5,
    )
    res = hr.sim.run(cfg, dataset=_world(world_seed))
    ev = res.events
    bad = check_quotas(ev, subscription_from_day=sub_day, require_follow=require_follow)
    assert bad.empty, bad.head().to_string()
    msg = ev[ev["type"] == "message"]
    # the ledger's own bookkeeping agrees with the log
    assert len(msg) == res.daily["messages_sent"].sum()
    assert (res.daily["messages_sent"] <= res.daily["quota_available"]).all()
    if (isinstance(messaging, str) and messaging == "none") or (
        isinstance(messaging, dict) and set(messaging) == {"none"}):
        assert msg.empty
    if not marketing:
        assert not msg["marketing"].any() and (ev["type"] != "penalty").all()
    forms = ev[ev["type"] == "form"]
    assert forms["form_id"].is_unique and (forms["form_id"] == forms["event_id"]).all()


# ------------------------------------------------------------------------------ the checker
@pytest.fixture(scope="module")
def spam_log():
    cfg = SimulationConfig(n_users=250, n_items=90, days=12, seed=5, world_seed=0,
                           messaging="spammer", marketing_rate=0.5, audit_rate=0.5,
                           messages_require_follow=False, daily_active_rate=0.4)
    res = hr.sim.run(cfg, dataset=_world(0))
    ev = res.events
    assert check_quotas(ev).empty
    assert ((ev["type"] == "message") & (ev["quota"] == "payment")).sum() > 10
    return ev


def _append(ev: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    rows = rows.copy()
    rows["event_id"] = ev["event_id"].max() + 1 + np.arange(len(rows))
    return pd.concat([ev, rows], ignore_index=True)


def test_checker_flags_a_fourth_payment_message(spam_log):
    ev = spam_log
    msg = ev[(ev["type"] == "message") & (ev["quota"] == "payment")]
    counts = msg.groupby("ref").size()
    full = counts[counts == PAYMENT_QUOTA].index
    assert len(full), "the spammer never used a full payment quota"
    extra = msg[msg["ref"] == full[0]].tail(1)
    bad = check_quotas(_append(ev, extra))
    assert "over_quota" in set(bad["rule"])


def test_checker_flags_a_late_message(spam_log):
    ev = spam_log
    msg = ev[(ev["type"] == "message") & (ev["quota"] == "payment")].head(1).copy()
    pay_day = ev.loc[ev["event_id"] == msg["ref"].iloc[0], "day"].iloc[0]
    msg["day"] = pay_day + 7
    bad = check_quotas(_append(ev, msg))
    assert "window" in set(bad["rule"])


def test_checker_flags_a_reused_form_id(spam_log):
    ev = spam_log
    forms = ev[ev["type"] == "form"]
    assert len(forms)
    bad = check_quotas(_append(ev, forms.head(1)))
    assert "form_id_reused" in set(bad["rule"])


def test_checker_flags_a_second_form_message_and_unknown_refs(spam_log):
    ev = spam_log
    fm = ev[(ev["type"] == "message") & (ev["quota"] == "form")]
    assert len(fm)
    bad = check_quotas(_append(ev, fm.head(1)))
    assert "over_quota" in set(bad["rule"])
    ghost = fm.head(1).copy()
    ghost["ref"] = 10**12
    assert "unknown_ref" in set(check_quotas(_append(ev, ghost))["rule"])


def test_checker_flags_wrong_recipient(spam_log):
    ev = spam_log
    msg = ev[ev["type"] == "message"].head(1).copy()
    users = ev["user"].dropna().unique()
    msg["user"] = next(u for u in users if u != msg["user"].iloc[0])
    assert "ref_mismatch" in set(check_quotas(_append(ev, msg))["rule"])


def test_checker_flags_messages_during_a_ban_and_removed_templates(spam_log):
    ev = spam_log
    pen = ev[ev["type"] == "penalty"]
    msg = ev[ev["type"] == "message"]
    assert len(pen)
    first = pen.iloc[0]
    later = msg[(msg["merchant"] == first["merchant"])].tail(1).copy()
    # a message with the removed template on the day after the removal
    later["template"] = first["template"]
    later["day"] = first["day"] + 1
    assert "template_removed" in set(check_quotas(_append(ev, later))["rule"])
    ban = first.to_frame().T.astype(ev.dtypes.to_dict())
    ban["penalty"] = "ban_7d"
    ban["day"] = int(later["day"].iloc[0]) - 1
    ev2 = _append(ev, ban)
    assert "banned" in set(check_quotas(_append(ev2, later))["rule"])


def test_checker_flags_regime_and_opt_out(spam_log):
    ev = spam_log
    msg = ev[ev["type"] == "message"]
    assert "regime" in set(check_quotas(ev, subscription_from_day=0)["rule"])
    m = msg.head(1)
    oo = m.copy()
    oo["type"] = "opt_out"
    again = m.copy()
    bad = check_quotas(_append(_append(ev, oo), again))
    assert "opted_out" in set(bad["rule"])


def test_checker_flags_missing_follow(spam_log):
    ev = spam_log  # run with messages_require_follow=False: some recipients never followed
    bad = check_quotas(ev, require_follow=True)
    assert "not_following" in set(bad["rule"])


def test_checker_needs_columns():
    with pytest.raises(ValueError, match="column"):
        check_quotas(pd.DataFrame({"day": [0]}))
