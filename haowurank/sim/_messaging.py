"""Merchant messaging: the quota rules, the merchants' policies, penalties, and a log-only checker.

The rules (the platform's, as merchants live under them):

* **Template messages** (the regime before ``subscription_from_day``): each payment allows at
  most :data:`PAYMENT_QUOTA` (3) template messages to that buyer within
  :data:`PAYMENT_WINDOW_DAYS` (7) days, counting the day of payment as the first; each form
  submission allows at most :data:`FORM_QUOTA` (1) within :data:`FORM_WINDOW_DAYS` (7) days;
  a form id is single-use. With ``messages_require_follow`` template messages reach only
  followers of the merchant's service account.
* **One-time subscription messages** (from ``subscription_from_day``): each opt-in of a user
  allows exactly :data:`SUBSCRIPTION_QUOTA` (1) message, with no expiry.
* **The service account** is the long-term channel: a buyer who follows it may be asked to opt
  in to one-time subscription messages while templates are still in force (the engine plans
  those messages after the template window), so a follow enables later messages beyond the
  template quotas under the subscription rules. It is no gate on template messages, unless a
  run sets ``messages_require_follow``.
* A user who opted out of a merchant gets no more messages from it.
* **Marketing content** in a message breaks the rules. Once caught (a complaint, or the
  platform's audit), penalties escalate per merchant along :data:`PENALTY_LADDER`: the template
  used is removed, then a 7-day ban, a 30-day ban, a permanent ban. A penalty applies from the
  day after it is imposed.

Merchants *propose* messages with their policy (:func:`plan`); the engine's quota ledger
disposes (a proposal beyond the quota, outside its window, from a banned merchant, with a
removed template or to an opted-out user is dropped and counted). :func:`check_quotas` verifies
every rule again from the event log alone.

Policies (:data:`POLICIES`): ``"none"`` sends nothing; ``"immediate"`` confirms the order at
once and announces the delivery when it falls inside the window, replies to a form the same day
and uses an opt-in at once; ``"timed"`` sends one reminder timed to the item's expected
repurchase (inside the 7-day window under templates, at the full cycle under subscriptions);
``"spammer"`` maximises quota (three messages per payment, one per form, asks for three opt-ins
per order), a share ``marketing_rate`` of them with marketing content.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._config import POLICIES

__all__ = [
    "FORM_QUOTA",
    "FORM_WINDOW_DAYS",
    "PAYMENT_QUOTA",
    "PAYMENT_WINDOW_DAYS",
    "PENALTY_BAN_DAYS",
    "PENALTY_LADDER",
    "POLICIES",
    "QUOTA_KINDS",
    "SUBSCRIPTION_QUOTA",
    "TEMPLATES",
    "check_quotas",
    "plan",
]

PAYMENT_QUOTA = 3
PAYMENT_WINDOW_DAYS = 7
FORM_QUOTA = 1
FORM_WINDOW_DAYS = 7
SUBSCRIPTION_QUOTA = 1
#: What a message's quota comes from (the ``quota`` column of a "message" event).
QUOTA_KINDS: tuple[str, ...] = ("payment", "form", "subscription")
QUOTA_LIMIT = (PAYMENT_QUOTA, FORM_QUOTA, SUBSCRIPTION_QUOTA)
QUOTA_WINDOW = (PAYMENT_WINDOW_DAYS, FORM_WINDOW_DAYS, None)
#: Message templates.
TEMPLATES: tuple[str, ...] = (
    "order_update", "delivery_notice", "repurchase_reminder", "form_reply", "subscription_notice",
)
#: Penalties for marketing content, in escalation order.
PENALTY_LADDER: tuple[str, ...] = ("template_removed", "ban_7d", "ban_30d", "ban_permanent")
#: Days a penalty bans all messages (None: forever; 0: no ban).
PENALTY_BAN_DAYS: tuple[int | None, ...] = (0, 7, 30, None)

_T = {t: k for k, t in enumerate(TEMPLATES)}
_P = {p: k for k, p in enumerate(POLICIES)}
PAY, FORM, SUB = 0, 1, 2
#: Opt-in prompts per order, by policy ("none" does not ask).
OPTIN_ASKS = np.array([0, 1, 1, 3], dtype=np.int64)


def plan(
    policy: np.ndarray,
    kind: int,
    created: np.ndarray,
    cycle: np.ndarray,
    deliver_day: np.ndarray | None,
    marketing_draw: np.ndarray,
    marketing_rate: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Messages that merchants propose for new quota sources (orders, forms or opt-ins).

    Parameters
    ----------
    policy : ndarray of shape (n,), int
        Index into :data:`POLICIES` of each source's merchant.
    kind : int
        0 payment, 1 form, 2 subscription (index into :data:`QUOTA_KINDS`).
    created : ndarray of shape (n,), int
        Day of the payment, form or opt-in.
    cycle : ndarray of shape (n,), float
        Expected repurchase cycle of the item, in days.
    deliver_day : ndarray of shape (n,) or None
        Planned delivery day of each order (-1: cancelled); payments only.
    marketing_draw : ndarray of shape (n, 3), float in [0, 1)
        Uniform draws per source and slot; a spammer's slot carries marketing content when its
        draw is below ``marketing_rate``.
    marketing_rate : float

    Returns
    -------
    source, day, template, marketing : ndarrays of the same length
        Row in the input, planned day, template index, marketing flag of every proposal.
    """
    out: list[tuple[np.ndarray, np.ndarray, int | np.ndarray, np.ndarray]] = []
    n = len(policy)
    idx = np.arange(n)
    cyc = np.maximum(1, np.round(cycle)).astype(np.int64)
    no = np.zeros(n, dtype=bool)

    def add(mask: np.ndarray, day: np.ndarray, template: int | np.ndarray, mkt: np.ndarray) -> None:
        if mask.any():
            t = template[mask] if isinstance(template, np.ndarray) else np.full(int(mask.sum()), template)
            out.append((idx[mask], day[mask], t, mkt[mask]))

    imm, timed, spam = policy == _P["immediate"], policy == _P["timed"], policy == _P["spammer"]
    mk = marketing_draw < marketing_rate
    if kind == PAY:
        dd = deliver_day if deliver_day is not None else np.full(n, -1)
        add(imm, created, _T["order_update"], no)
        add(imm & (dd >= created) & (dd < created + PAYMENT_WINDOW_DAYS), dd, _T["delivery_notice"], no)
        add(timed, created + np.minimum(cyc, PAYMENT_WINDOW_DAYS - 1), _T["repurchase_reminder"], no)
        for slot, (off, tpl) in enumerate(
            ((0, "order_update"), (2, "delivery_notice"), (5, "repurchase_reminder"))
        ):
            add(spam, created + off, _T[tpl], mk[:, slot])
    elif kind == FORM:
        add(imm, created, _T["form_reply"], no)
        add(timed, created + 1, _T["form_reply"], no)
        add(spam, created, _T["form_reply"], mk[:, 0])
    else:
        add(imm, created, _T["subscription_notice"], no)
        add(timed, created + cyc, _T["repurchase_reminder"], no)
        add(spam, created, _T["subscription_notice"], mk[:, 0])
    if not out:
        e = np.empty(0, dtype=np.int64)
        return e, e.copy(), e.copy(), np.empty(0, dtype=bool)
    src = np.concatenate([o[0] for o in out])
    day = np.concatenate([o[1] for o in out]).astype(np.int64)
    tpl = np.concatenate([np.asarray(o[2]) for o in out]).astype(np.int64)
    mkt = np.concatenate([o[3] for o in out]).astype(bool)
    return src, day, tpl, mkt


# --------------------------------------------------------------------------------------------
# checking the rules from the event log alone
# --------------------------------------------------------------------------------------------

_VIOLATION_COLUMNS = ["rule", "event_id", "day", "user", "merchant", "ref", "detail"]


def check_quotas(
    events: pd.DataFrame,
    *,
    subscription_from_day: int | None = None,
    require_follow: bool = False,
) -> pd.DataFrame:
    """Verify the messaging rules from an event log alone.

    Parameters
    ----------
    events : DataFrame
        ``SimulationResult.events`` (or a log of the same shape): columns ``event_id``, ``day``,
        ``type``, ``user``, ``merchant``, ``order_id``, ``form_id``, ``optin_id``, ``ref``,
        ``quota``, ``template``, ``penalty``.
    subscription_from_day : int or None
        When given, also check the regime: payment and form quotas only before that day,
        subscription quotas only from it.
    require_follow : bool
        Also check that every payment or form message went to a user who followed the merchant
        earlier in the log.

    Returns
    -------
    DataFrame
        One row per violation: ``rule``, ``event_id``, ``day``, ``user``, ``merchant``, ``ref``,
        ``detail``. Empty when every rule holds. Rules: ``form_id_reused``, ``unknown_ref``,
        ``ref_mismatch``, ``before_trigger``, ``window``, ``over_quota``, ``regime``,
        ``banned``, ``template_removed``, ``opted_out``, ``not_following``.
    """
    need = ["event_id", "day", "type", "user", "merchant", "order_id", "form_id", "optin_id",
            "ref", "quota", "template", "penalty"]
    missing = [c for c in need if c not in events.columns]
    if missing:
        raise ValueError(f"The 'events' frame must have the column(s) {missing} to check quotas.")
    ev = events
    typ = ev["type"].astype(str).to_numpy()
    out: list[pd.DataFrame] = []

    def flag(rows: pd.DataFrame, rule: str, detail: str | pd.Series) -> None:
        if len(rows):
            f = pd.DataFrame({
                "rule": rule, "event_id": rows["event_id"].to_numpy(), "day": rows["day"].to_numpy(),
                "user": rows["user"].to_numpy(), "merchant": rows["merchant"].astype(object).to_numpy(),
                "ref": rows["ref"].to_numpy(),
                "detail": detail if isinstance(detail, str) else np.asarray(detail, dtype=object),
            })
            out.append(f)

    forms = ev[typ == "form"]
    dup = forms["form_id"].duplicated(keep="first")
    flag(forms[dup.to_numpy()], "form_id_reused", "a form id appears in more than one form event")

    msgs = ev[typ == "message"].copy()
    msgs["quota"] = msgs["quota"].astype(str)
    msgs["merchant"] = msgs["merchant"].astype(object)
    triggers = []
    for qk, ttype, col in (("payment", "pay", "order_id"), ("form", "form", "form_id"),
                           ("subscription", "subscribe", "optin_id")):
        t = ev.loc[typ == ttype, ["event_id", "day", "user", "merchant", col]].rename(
            columns={col: "ref", "event_id": "t_event", "day": "t_day", "user": "t_user",
                     "merchant": "t_merchant"})
        t["quota"] = qk
        t["t_merchant"] = t["t_merchant"].astype(object)
        triggers.append(t.drop_duplicates("ref"))
    trig = pd.concat(triggers, ignore_index=True)
    m = msgs.merge(trig, on=["quota", "ref"], how="left", indicator=True)
    unknown = (m["_merge"] == "left_only").to_numpy()
    flag(m[unknown], "unknown_ref", "ref is not a pay / form / subscribe event of the message's quota kind")
    k = m[~unknown]
    bad = (k["t_user"].to_numpy() != k["user"].to_numpy()) | (
        k["t_merchant"].to_numpy() != k["merchant"].to_numpy())
    flag(k[bad], "ref_mismatch", "message user or merchant differs from the payment / form / opt-in")
    early = (k["event_id"].to_numpy() < k["t_event"].to_numpy()) | (
        k["day"].to_numpy() < k["t_day"].to_numpy())
    flag(k[early], "before_trigger", "message logged before its payment / form / opt-in")
    windowed = k["quota"].isin(["payment", "form"]).to_numpy()
    late = windowed & (k["day"].to_numpy() >= k["t_day"].to_numpy() + PAYMENT_WINDOW_DAYS)
    flag(k[late], "window", f"message sent {PAYMENT_WINDOW_DAYS} or more days after its trigger")
    limit = k["quota"].map(dict(zip(QUOTA_KINDS, QUOTA_LIMIT))).to_numpy()
    rank = k.sort_values("event_id").groupby(["quota", "ref"]).cumcount().reindex(k.index).to_numpy()
    over = rank >= limit
    flag(k[over], "over_quota", pd.Series(
        [f"message {r + 1} on a quota of {lim}" for r, lim in zip(rank[over], limit[over])]))
    d = msgs["day"].to_numpy()
    q = msgs["quota"].to_numpy()
    if subscription_from_day is not None:
        wrong = (q != "subscription") & (d >= subscription_from_day)
        flag(msgs[wrong], "regime", f"template quota used after templates ended (subscriptions "
                                    f"from day {subscription_from_day})")
    # while templates are in force, an opt-in is taken only through the service account: the
    # recipient followed the merchant before the opt-in
    early_sub = (q == "subscription") & (
        True if subscription_from_day is None else d < subscription_from_day)
    if early_sub.any():
        fo = ev[typ == "follow"][["event_id", "user", "merchant"]].rename(
            columns={"event_id": "f_event"})
        fo = fo.assign(merchant=fo["merchant"].astype(object)).groupby(
            ["user", "merchant"], as_index=False)["f_event"].min()
        es = msgs[early_sub]
        opt = ev.loc[typ == "subscribe", ["event_id", "optin_id"]].rename(
            columns={"event_id": "o_event", "optin_id": "ref"}).drop_duplicates("ref")
        mf = es[["event_id", "user", "merchant", "ref"]].merge(opt, on="ref", how="left").merge(
            fo, on=["user", "merchant"], how="left")
        ok = mf["f_event"].notna() & (mf["f_event"] < mf["o_event"].fillna(-1))
        ids = set(mf.loc[~ok.to_numpy(), "event_id"].tolist())
        flag(es[es["event_id"].isin(ids).to_numpy()], "regime",
             "subscription message while templates are in force without an opt-in taken through "
             "the service account (no earlier follow)")

    # penalties: bans and removed templates apply from the day after the penalty
    pen = ev[typ == "penalty"]
    if len(pen) and len(msgs):
        p = pen[["day", "merchant", "penalty", "template"]].copy()
        p["merchant"] = p["merchant"].astype(object)
        p["penalty"] = p["penalty"].astype(str)
        ban_days = dict(zip(PENALTY_LADDER, PENALTY_BAN_DAYS))
        bans = p[p["penalty"] != "template_removed"].copy()
        if len(bans):
            dur = bans["penalty"].map(lambda s: ban_days[s])
            bans["start"] = bans["day"] + 1
            bans["end"] = np.where(dur.isna(), np.inf, bans["day"] + 1 + dur.fillna(0).astype(float))
            mb = msgs[["event_id", "day", "merchant"]].merge(bans[["merchant", "start", "end"]],
                                                            on="merchant")
            hit = (mb["day"] >= mb["start"]) & (mb["day"] < mb["end"])
            ids = set(mb.loc[hit, "event_id"].tolist())
            flag(msgs[msgs["event_id"].isin(ids).to_numpy()], "banned",
                 "message sent while the merchant was banned")
        rem = p[p["penalty"] == "template_removed"][["day", "merchant", "template"]].rename(
            columns={"day": "p_day"})
        if len(rem):
            rem["template"] = rem["template"].astype(str)
            mt = msgs[["event_id", "day", "merchant", "template"]].copy()
            mt["template"] = mt["template"].astype(str)
            mr = mt.merge(rem, on=["merchant", "template"])
            ids = set(mr.loc[mr["day"] > mr["p_day"], "event_id"].tolist())
            flag(msgs[msgs["event_id"].isin(ids).to_numpy()], "template_removed",
                 "message used a template removed by an earlier penalty")

    # opt-outs: no message from that merchant to that user after the opt-out
    oo = ev[typ == "opt_out"][["event_id", "user", "merchant"]].rename(columns={"event_id": "o_event"})
    if len(oo) and len(msgs):
        oo = oo.assign(merchant=oo["merchant"].astype(object)).groupby(
            ["user", "merchant"], as_index=False)["o_event"].min()
        mo = msgs[["event_id", "user", "merchant"]].merge(oo, on=["user", "merchant"])
        ids = set(mo.loc[mo["event_id"] > mo["o_event"], "event_id"].tolist())
        flag(msgs[msgs["event_id"].isin(ids).to_numpy()], "opted_out",
             "message sent to a user who had opted out of the merchant")

    if require_follow and len(msgs):
        fo = ev[typ == "follow"][["event_id", "user", "merchant"]].rename(columns={"event_id": "f_event"})
        fo = fo.assign(merchant=fo["merchant"].astype(object)).groupby(
            ["user", "merchant"], as_index=False)["f_event"].min()
        tm = msgs[msgs["quota"].isin(["payment", "form"]).to_numpy()]
        mf = tm[["event_id", "user", "merchant"]].merge(fo, on=["user", "merchant"], how="left")
        ok = mf["f_event"].notna() & (mf["f_event"] < mf["event_id"])
        ids = set(mf.loc[~ok, "event_id"].tolist())
        flag(tm[tm["event_id"].isin(ids).to_numpy()], "not_following",
             "template message to a user who did not follow the merchant's service account")

    if not out:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in _VIOLATION_COLUMNS})
    return pd.concat(out, ignore_index=True).sort_values(["event_id", "rule"]).reset_index(drop=True)
