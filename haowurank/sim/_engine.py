"""The daily loop of the simulation, vectorised over all agents of a day.

Each day runs three phases, in this order (the event log is chronological):

1. **Logistics**: orders scheduled to ship, be delivered or be refunded today move on. At
   delivery a buyer is satisfied or not (true utility and quality); an unsatisfied buyer may
   return the item (refund a few days later), a satisfied one may "recommend after purchase".
2. **Sessions**: active users (their true activity) open the friends' feed or search. The feed
   holds only items endorsed by friends whose endorsement the user may see (the visibility rule
   of :mod:`haowurank.feed`: "public" to followers, "friends" to mutual friends, never
   "private", nothing from a blocked user), within ``feed_window_days``, ranked by the
   platform's ranker; a search is a query for a category (drawn from the user's taste) ranked
   by the ranker among that category's searchable items. Users examine slate positions with a
   position bias, click and buy with probabilities from true utility, price, and social proof
   (how many friends endorsed, whether one bought). Orders are paid (synced from the merchant's
   source platform), a buyer may follow the merchant's service account and, under the
   subscription regime, opt in to one-time messages; a clicker who did not buy may plainly
   "recommend" or submit a form to the merchant.
3. **Messages**: merchants' proposals for today pass the quota ledger and penalties; a message
   may prompt a repurchase (most likely at the item's repurchase time), annoy (opt-out,
   complaint) or, with marketing content, be caught and penalised.

Endorsements made on a day enter friends' feeds the next day: the word-of-mouth cascade. Each
endorsement records its parent (the friend endorsement through which the user found the item)
so cascade size and depth are measured. The platform refits its ranker on the accumulated log
every ``refit_every`` days.

All randomness comes from :class:`~haowurank.sim._streams.Streams` keyed by (purpose, day,
user, item, ...), so a run is a pure function of its config and seed.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._dataset import KINDS, VISIBILITIES
from .._random import derive_seed
from ._config import POLICIES, SimulationConfig
from ._events import CHANNELS, EventLog
from ._messaging import (
    FORM,
    OPTIN_ASKS,
    PAY,
    PENALTY_BAN_DAYS,
    PENALTY_LADDER,
    QUOTA_LIMIT,
    QUOTA_WINDOW,
    SUB,
    TEMPLATES,
    plan,
)
from ._metrics import DailyMetrics
from ._streams import Streams
from ._world import DAY_SECONDS, World

__all__ = ["Engine"]

log = logging.getLogger(__name__)

_K = {k: i for i, k in enumerate(KINDS)}
_V_PUBLIC = VISIBILITIES.index("public")
_V_FRIENDS = VISIBILITIES.index("friends")
_V_PRIVATE = VISIBILITIES.index("private")
_CH = {c: i for i, c in enumerate(CHANNELS)}
_REC, _RAP = 0, 1  # endorsement kinds inside the engine
_RAP_BASE = float(1 << 20)
_ENC = (1.0, _RAP_BASE)  # one endorsement in the feed count matrices: rec + 2**20 * rap
_DAY_OFF = 1_000_000.0  # LastBuy stores day + offset (so that history days stay positive)
_NEVER = np.iinfo(np.int64).max // 4
#: Dense scoring works on blocks of about this many (user, item) scores (memory bound); results
#: do not depend on it (the tests change it).
SCORE_BLOCK_ELEMENTS = 1 << 22


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _lookup(m: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Values of a CSR matrix at (row, col) pairs (0 where absent)."""
    if len(rows) == 0:
        return np.zeros(0, dtype=m.dtype)
    return np.asarray(m[rows, cols]).ravel()


def _take(a: np.ndarray, idx: np.ndarray, default: Any) -> np.ndarray:
    """``a[idx]`` with ``default`` where ``idx < 0`` (safe on an empty ``a``)."""
    out = np.full(len(idx), default, dtype=a.dtype)
    ok = idx >= 0
    out[ok] = a[idx[ok]]
    return out


def _csr(rows, cols, vals, shape, *, combine: str = "sum") -> sp.csr_matrix:
    """A CSR matrix from coordinates; duplicates summed or their max kept."""
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    vals = np.asarray(vals, dtype=np.float64)
    if combine == "max" and len(rows):
        key = rows * shape[1] + cols
        o = np.lexsort((vals, key))
        last = np.ones(len(o), dtype=bool)
        last[:-1] = key[o][1:] != key[o][:-1]
        o = o[last]
        rows, cols, vals = rows[o], cols[o], vals[o]
    m = sp.csr_matrix((vals, (rows, cols)), shape=shape)
    m.sum_duplicates()
    return m


class _Grow:
    """Named column arrays that grow by appending (amortised doubling)."""

    def __init__(self, **dtypes: Any):
        self.n = 0
        self._cols = {k: np.empty(16, dtype=dt) for k, dt in dtypes.items()}

    def append(self, **cols: Any) -> np.ndarray:
        n = None
        for v in cols.values():
            if np.ndim(v):
                n = len(v)
                break
        if n is None:
            raise ValueError("append needs at least one array column")
        need = self.n + n
        cap = len(next(iter(self._cols.values())))
        if need > cap:
            new_cap = max(need, 2 * cap)
            for k, a in self._cols.items():
                b = np.empty(new_cap, dtype=a.dtype)
                b[: self.n] = a[: self.n]
                self._cols[k] = b
        for k, a in self._cols.items():
            a[self.n:need] = cols[k] if k in cols else 0
        idx = np.arange(self.n, need)
        self.n = need
        return idx

    def __getitem__(self, k: str) -> np.ndarray:
        return self._cols[k][: self.n]

    def __len__(self) -> int:
        return self.n


class _Keys:
    """A set of int64 keys (sorted array) with vectorised membership and insertion."""

    def __init__(self) -> None:
        self.keys = np.empty(0, dtype=np.int64)

    def contains(self, k: np.ndarray) -> np.ndarray:
        if len(self.keys) == 0 or len(k) == 0:
            return np.zeros(len(k), dtype=bool)
        pos = np.searchsorted(self.keys, k)
        pos[pos == len(self.keys)] = 0
        return self.keys[pos] == k

    def add(self, k: np.ndarray) -> None:
        if len(k):
            self.keys = np.union1d(self.keys, k)

    def __len__(self) -> int:
        return len(self.keys)


class Engine:
    """State and daily loop of one run (use :func:`haowurank.sim.run`)."""

    def __init__(self, config: SimulationConfig, world: World):
        self.c = c = config
        self.w = w = world
        self.st = Streams(c.seed)
        self.nu, self.ni, self.nm = w.n_users, w.n_items, w.n_merchants
        self.shape = (self.nu, self.ni)
        self.timings: dict[str, float] = defaultdict(float)
        ds = w.ds
        f = ds._inter
        kind = f["kind"].to_numpy()
        user = f["user"].to_numpy().astype(np.int64)
        item = f["item"].to_numpy().astype(np.int64)
        day = w.day_of(f["timestamp"].to_numpy())

        # ---- initial endorsements: ids 0..K0-1, each the root of its own cascade
        is_end = (kind == _K["recommend"]) | (kind == _K["recommend_after_purchase"])
        vis = f["visibility"].to_numpy().astype(np.int64).copy()
        aud = getattr(ds, "_audiences", None)
        if aud is not None and len(aud):  # audience-limited: kept out of the simulated feeds
            ak = np.unique(aud["user"].to_numpy().astype(np.int64) * self.ni
                           + aud["item"].to_numpy().astype(np.int64))
            limited = np.isin(user * self.ni + item, ak)
            vis[limited & is_end] = _V_PRIVATE
        pos = np.flatnonzero(is_end)
        k0 = len(pos)
        self.end = _Grow(user=np.int64, item=np.int64, kind=np.int8, vis=np.int8, day=np.int64,
                         eid=np.int64, parent=np.int64, cascade=np.int64, depth=np.int64,
                         size=np.int64, maxdepth=np.int64)
        ekind = (kind[pos] == _K["recommend_after_purchase"]).astype(np.int8)
        self.end.append(user=user[pos], item=item[pos], kind=ekind, vis=vis[pos], day=day[pos],
                        eid=np.arange(k0), parent=np.full(k0, -1), cascade=np.arange(k0),
                        depth=np.zeros(k0), size=np.ones(k0), maxdepth=np.zeros(k0))
        self.log = EventLog(first_id=k0)
        self.first_event_id = k0

        # ---- feed state
        self.E_pub = sp.csr_matrix(self.shape, dtype=np.float64)
        self.E_fr = sp.csr_matrix(self.shape, dtype=np.float64)
        self.L_pub = sp.csr_matrix(self.shape, dtype=np.float64)
        self.L_fr = sp.csr_matrix(self.shape, dtype=np.float64)
        self.OwnE = sp.csr_matrix(self.shape, dtype=np.float64)
        self.Seen = sp.csr_matrix(self.shape, dtype=np.float64)
        self.LastBuy = sp.csr_matrix(self.shape, dtype=np.float64)
        self.ring: dict[int, list[np.ndarray]] = {}
        self._apply_endorsements(np.arange(k0), initial=True)
        is_p = kind == _K["purchase"]
        if is_p.any():
            lb = _csr(user[is_p], item[is_p], day[is_p] + _DAY_OFF, self.shape, combine="max")
            self.LastBuy = lb
            self.Seen = self.Seen + (lb > 0).astype(np.float64)
        self.pending_end: list[np.ndarray] = []
        self.pending_keys = _Keys()

        # ---- orders, quota sources, calendar
        self.orders = _Grow(user=np.int64, item=np.int64, merchant=np.int64, day=np.int64,
                            amount=np.float64, eid=np.int64, parent=np.int64, ship=np.int64,
                            deliver=np.int64, refund=np.int64, satisfied=np.int8,
                            refunded=np.bool_)
        self.src = _Grow(kind=np.int8, user=np.int64, item=np.int64, merchant=np.int64,
                         day=np.int64, eid=np.int64, remaining=np.int64, until=np.int64,
                         order=np.int64)
        self.cal: dict[int, dict[str, list]] = defaultdict(lambda: defaultdict(list))
        self.follows = _Keys()
        self.optouts = _Keys()
        self.msg_ring: dict[int, np.ndarray] = {}
        self.level = np.zeros(self.nm, dtype=np.int64)
        self.ban_until = np.full(self.nm, -1, dtype=np.int64)  # banned while day < ban_until
        self.removed = np.zeros((self.nm, len(TEMPLATES)), dtype=bool)
        self.policy = w.merchant_policy

        # ---- the platform: log for refits and the ranker
        base = f[["user", "item", "kind", "weight", "timestamp", "visibility"]]
        self.base_log = {k: base[k].to_numpy() for k in base.columns}
        self.rlog = _Grow(user=np.int32, item=np.int32, kind=np.int8, weight=np.float64,
                          timestamp=np.int64, visibility=np.int8)
        self.ranker = self._make_ranker()
        t = time.perf_counter()
        self.ranker.fit(ds._replace(truth={}) if ds.truth else ds)  # the platform never sees truth
        self._after_fit()
        self.timings["fit"] += time.perf_counter() - t
        self.metrics = DailyMetrics(self)
        self.day = -1
        self.messaging_done = False

    # ------------------------------------------------------------------ platform
    def _make_ranker(self):
        from ..rankers import make

        params = dict(self.c.strategy_params)
        r = make(self.c.strategy, **params)
        names = r._param_names()
        if "random_state" in names and "random_state" not in params:
            r.set_params(random_state=derive_seed(self.c.seed))
        return r

    def _after_fit(self) -> None:
        self._pop_key = self._popularity_key()
        self._item_scores = self._user_independent_scores()
        if self._item_scores is not None:
            k = min(self.c.search_size, self.ni)
            key = np.where(np.isfinite(self._item_scores), self._item_scores, self._pop_key)
            top = np.full((self.w.n_categories, k), -1, dtype=np.int64)
            for qc, cand in enumerate(self.w.category_items):
                if len(cand):
                    best = cand[np.lexsort((cand, -key[cand]))[:k]]
                    top[qc, : len(best)] = best
            self._search_top = top

    def _user_independent_scores(self) -> np.ndarray | None:
        """The ranker's item scores when they provably do not depend on the user, else None.

        A ranker with a learned ``item_scores_`` vector (e.g. popularity) qualifies when its
        dense scores for a probe of users (known, empty and the first and last) equal it.
        """
        s = getattr(self.ranker, "item_scores_", None)
        if s is None or np.shape(s) != (self.ni,):
            return None
        s = np.asarray(s, dtype=np.float32)
        probe = np.unique(np.r_[0, self.nu - 1, np.linspace(0, self.nu - 1, 6).astype(np.int64)])
        dense = self.ranker._score_block(probe)
        same = np.array_equal(dense, np.broadcast_to(s, dense.shape), equal_nan=True)
        return s if same else None

    def _popularity_key(self) -> np.ndarray:
        """Tie-break for items the ranker does not score: fallback popularity in [0, 1e28]."""
        fb = np.asarray(self.ranker.fallback_, dtype=np.float64)
        top = fb.max() if len(fb) and fb.max() > 0 else 1.0
        return (-1e30 + 1e28 * fb / top).astype(np.float32)

    def refit(self, day: int) -> None:
        t = time.perf_counter()
        r = self.rlog
        inter = pd.DataFrame({
            "user": np.concatenate([self.base_log["user"], r["user"]]).astype(np.int32),
            "item": np.concatenate([self.base_log["item"], r["item"]]).astype(np.int32),
            "kind": np.concatenate([self.base_log["kind"], r["kind"]]).astype(np.int8),
            "weight": np.concatenate([self.base_log["weight"], r["weight"]]).astype(np.float64),
            "timestamp": np.concatenate([self.base_log["timestamp"], r["timestamp"]]).astype(np.int64),
            "visibility": np.concatenate([self.base_log["visibility"], r["visibility"]]).astype(np.int8),
        })
        meta = dict(self.w.ds.meta)
        meta["sim_day"] = day
        train = self.w.ds._replace(_inter=inter, truth={}, meta=meta, has_timestamps=True)
        self.ranker.fit(train)
        self._after_fit()
        self.timings["fit"] += time.perf_counter() - t
        log.debug("day %d: refit %s on %d interactions", day, self.c.strategy, len(inter))

    def _rlog(self, users, items, kind: str, day: int, weight=1.0, vis=None) -> None:
        n = len(users)
        if n == 0:
            return
        self.rlog.append(
            user=users, item=items, kind=np.full(n, _K[kind]), weight=np.broadcast_to(weight, (n,)),
            timestamp=np.full(n, self.w.t0 + day * DAY_SECONDS + DAY_SECONDS // 2),
            visibility=np.full(n, _V_FRIENDS) if vis is None else vis,
        )

    # ------------------------------------------------------------------ the day
    def step(self, day: int) -> dict[str, float]:
        self.day = day
        self.metrics.start_day(day)
        self.messaging_done = False
        for phase, fn in (("logistics", self._logistics), ("sessions", self._sessions),
                          ("messages", self._messages), ("end_of_day", self._end_of_day)):
            t = time.perf_counter()
            fn(day)
            self.timings[phase] += time.perf_counter() - t
        return self.metrics.finish_day(day)

    @property
    def template_regime(self) -> bool:
        s = self.c.subscription_from_day
        return s is None or self.day < s

    # ------------------------------------------------------------------ logistics
    def _logistics(self, day: int) -> None:
        todo = self.cal.pop(day, None) or {}
        o = self.orders
        m = self.metrics
        ship = np.sort(np.concatenate(todo["ship"])) if todo.get("ship") else np.empty(0, np.int64)
        if len(ship):
            self.log.add("ship", day, len(ship), user=o["user"][ship], item=o["item"][ship],
                         merchant=o["merchant"][ship], order_id=o["eid"][ship],
                         source=self.w.merchant_platform[o["merchant"][ship]])
        m.add("shipped", len(ship))
        dl = np.sort(np.concatenate(todo["deliver"])) if todo.get("deliver") else np.empty(0, np.int64)
        if len(dl):
            u, i = o["user"][dl], o["item"][dl]
            self.log.add("deliver", day, len(dl), user=u, item=i, merchant=o["merchant"][dl],
                         order_id=o["eid"][dl], source=self.w.merchant_platform[o["merchant"][dl]])
            c = self.c
            z = self.w.z_utility(u, i)
            qz = (self.w.quality[i] - self.w.quality.mean()) / (self.w.quality.std() or 1.0)
            p_sat = _sigmoid(c.satisfaction_base + c.satisfaction_utility * z + 0.5 * qz)
            sat = self.st.uniform("satisfied", day, u, i) < p_sat
            o["satisfied"][dl] = np.where(sat, 1, 0)
            ret = ~sat & (self.st.uniform("return", day, u, i) < c.return_rate)
            if ret.any():
                rd = day + 1 + (self.st.uniform("return_day", day, u[ret], i[ret]) * 3).astype(np.int64)
                o["refund"][dl[ret]] = rd
                self._schedule(rd, "refund", dl[ret])
            rap = sat & (self.st.uniform("rap", day, u, i) < c.rap_rate)
            if rap.any():
                self._endorse(u[rap], i[rap], _RAP, o["parent"][dl[rap]], day,
                              order_eid=o["eid"][dl[rap]])
            m.add("delivered", len(dl))
            m.add("satisfied", int(sat.sum()))
            m.add("returns", int(ret.sum()))
        rf = np.sort(np.concatenate(todo["refund"])) if todo.get("refund") else np.empty(0, np.int64)
        if len(rf):
            self.log.add("refund", day, len(rf), user=o["user"][rf], item=o["item"][rf],
                         merchant=o["merchant"][rf], order_id=o["eid"][rf], amount=o["amount"][rf],
                         source=self.w.merchant_platform[o["merchant"][rf]])
            o["refunded"][rf] = True
            m.add("refunds", len(rf))
            m.add("refund_amount", float(o["amount"][rf].sum()))
        if todo.get("msg"):
            self.cal[day]["msg"] = todo["msg"]  # keep today's proposals for the message phase

    def _schedule(self, days: np.ndarray, what: str, idx: np.ndarray) -> None:
        if len(idx) == 0:
            return
        days = np.asarray(days, dtype=np.int64)
        if days.ndim == 0:
            days = np.full(len(idx), int(days))
        horizon = self.c.days
        keep = days < horizon
        days, idx = days[keep], idx[keep]
        if len(idx) == 0:
            return
        order = np.argsort(days, kind="stable")
        days, idx = days[order], idx[order]
        cut = np.flatnonzero(np.diff(days)) + 1
        for d_chunk, i_chunk in zip(np.split(days, cut), np.split(idx, cut)):
            self.cal[int(d_chunk[0])][what].append(i_chunk)

    # ------------------------------------------------------------------ sessions
    def _sessions(self, day: int) -> None:
        c, w, st, m = self.c, self.w, self.st, self.metrics
        act = np.flatnonzero(st.uniform("active", day, np.arange(self.nu)) < w.p_active)
        m.add("active_users", len(act))
        if len(act) == 0:
            return
        is_feed = st.uniform("session", day, act) < c.feed_share
        Cfull = self.visible_counts(act)
        seen = self.Seen[act]
        seen.data[:] = 1.0
        Cx = (Cfull - Cfull.multiply(seen)).tocsr()
        Cx.eliminate_zeros()
        Cx.sort_indices()
        n_cand = np.diff(Cx.indptr)
        is_feed &= n_cand > 0  # an empty feed sends the user to search
        m.add("feed_sessions", int(is_feed.sum()))
        m.add("search_sessions", int((~is_feed).sum()))
        rows_all = np.repeat(np.arange(len(act)), n_cand)
        fmask = is_feed[rows_all]
        f_r, f_c = rows_all[fmask], Cx.indices[fmask].astype(np.int64)
        f_enc = Cx.data[fmask]
        # search queries: a category drawn from the user's taste
        s_rows = np.flatnonzero(~is_feed)
        logits = 2.0 * (w.user_taste[act[s_rows]] @ w.category_taste.T).astype(np.float64)
        q = st.gumbel_argmax("query", day, logits, act[s_rows]) if len(s_rows) else np.empty(0, np.int64)
        q_of_row = np.full(len(act), -1, dtype=np.int64)
        q_of_row[s_rows] = q

        t = time.perf_counter()
        f_key, s_parts = self._score(act, f_r, f_c, _n_endorsing(f_enc)[0], s_rows, q_of_row)
        self.timings["scoring"] += time.perf_counter() - t

        # feed slates: top feed_size per user by (key desc, item asc)
        o = np.lexsort((f_c, -f_key, f_r))
        f_r, f_c, f_enc = f_r[o], f_c[o], f_enc[o]
        starts = np.searchsorted(f_r, f_r, side="left")
        rank = np.arange(len(f_r)) - starts
        keep = rank < c.feed_size
        f_r, f_c, f_enc, f_rank = f_r[keep], f_c[keep], f_enc[keep], rank[keep]
        if s_parts:
            s_r = np.concatenate([p[0] for p in s_parts])
            s_c = np.concatenate([p[1] for p in s_parts]).astype(np.int64)
            s_rank = np.concatenate([p[2] for p in s_parts])
        else:
            s_r = s_c = s_rank = np.empty(0, dtype=np.int64)
        o = np.lexsort((s_rank, s_r))  # canonical order: by user, then slate rank
        s_r, s_c, s_rank = s_r[o], s_c[o], s_rank[o]
        s_v = _lookup(Cfull, s_r, s_c)
        f_n, f_rap = _n_endorsing(f_enc)
        s_n, s_rap = _n_endorsing(s_v)
        r = np.concatenate([f_r, s_r])
        items = np.concatenate([f_c, s_c])
        ranks = np.concatenate([f_rank, s_rank]).astype(np.int64)
        chan = np.concatenate([np.full(len(f_r), _CH["feed"]), np.full(len(s_r), _CH["search"])])
        n_end = np.concatenate([f_n, s_n])
        n_rap = np.concatenate([f_rap, s_rap])
        users = act[r]
        m.impressions(users, items, chan)
        if c.log_impressions and len(users):
            self.log.add("impression", day, len(users), user=users, item=items,
                         merchant=w.item_merchant[items], channel=chan, rank=ranks)

        # clicks and purchases
        z = w.z_utility(users, items)
        exam = (ranks + 1.0) ** -c.position_decay
        p_click = exam * _sigmoid(c.click_base + c.click_utility * z
                                  + c.click_social * np.log1p(n_end) + c.click_bought * (n_rap > 0))
        click = st.uniform("click", day, users, items) < p_click
        cu, ci, cch, crank = users[click], items[click], chan[click], ranks[click]
        cz, crap = z[click], n_rap[click]
        m.add("clicks", len(cu))
        # attribution: the latest visible friend endorsement behind a feed click
        parent = np.full(len(cu), -1, dtype=np.int64)
        fc = cch == _CH["feed"]
        parent[fc] = self._exposing(cu[fc], ci[fc])
        parent_eid = _take(self.end["eid"], parent, -1)
        if len(cu):
            self.log.add("click", day, len(cu), user=cu, item=ci, merchant=w.item_merchant[ci],
                         channel=cch, rank=crank, ref=parent_eid)
            self._rlog(cu, ci, "click", day)
        p_buy = _sigmoid(c.buy_base + c.buy_utility * cz + c.buy_bought * (crap > 0))
        last = _lookup(self.LastBuy, cu, ci)
        owned = last > 0
        if owned.any():  # a repurchase through search needs a need
            since = day - (last[owned] - _DAY_OFF)
            p_buy[owned] *= _need(since / w.item_cycle[ci[owned]])
        buy = st.uniform("buy", day, cu, ci) < p_buy
        m.session_buyers(cu[buy])
        self._create_orders(cu[buy], ci[buy], day, cch[buy], parent[buy], parent_eid[buy], phase=0)
        # clickers who did not buy: plain recommendation or a form
        nb = ~buy
        rec = nb & (st.uniform("recommend", day, cu, ci) < c.recommend_rate * 2.0 * _sigmoid(cz))
        frm = nb & (st.uniform("form", day, cu, ci) < c.form_rate)
        if frm.any():
            self._forms(cu[frm], ci[frm], day)
        if rec.any():
            self._endorse(cu[rec], ci[rec], _REC, parent[rec], day)

    def visible_counts(self, users: np.ndarray) -> sp.csr_matrix:
        """Friends' live endorsements each user may see: CSR (len(users), n_items), float64.

        An entry encodes ``n_recommend + 2**20 * n_recommend_after_purchase`` over the user's
        visible friends (the visibility rule of :mod:`haowurank.feed`).
        """
        w = self.w
        C = (w.W_pub[users] @ self.E_pub + w.W_fr[users] @ self.E_fr).tocsr()
        C.sort_indices()
        return C

    def _score(self, act, f_r, f_c, f_n, s_rows, q_of_row):
        """Ranker keys of feed pairs, and top ``search_size`` items of each search row.

        A ranker whose scores do not depend on the user (checked at each fit) is read from its
        item scores; any other ranker is scored densely in batches of active users.
        """
        w, k = self.w, min(self.c.search_size, self.ni)
        s_parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        # candidates the ranker does not score rank last, by their number of endorsing friends
        fallback = (-1e30 + 1e24 * np.minimum(f_n, 9e5)).astype(np.float32)
        if self._item_scores is not None:
            v = self._item_scores[f_c]
            f_key = np.where(np.isfinite(v), v, fallback)
            top = self._search_top  # (n_categories, k), -1 padded
            if len(s_rows):
                lists = top[q_of_row[s_rows]]
                rr, rk = np.nonzero(lists >= 0)
                s_parts.append((s_rows[rr], lists[rr, rk], rk))
            return f_key, s_parts
        f_key = np.empty(len(f_r), dtype=np.float32)
        bs = int(np.clip(SCORE_BLOCK_ELEMENTS // max(1, self.ni), 1, 4096))
        f_start = np.searchsorted(f_r, np.arange(0, len(act) + bs, bs))
        for b, b0 in enumerate(range(0, len(act), bs)):
            b1 = min(b0 + bs, len(act))
            S = self.ranker._score_block(act[b0:b1])
            fs, fe = f_start[b], f_start[b + 1]
            if fe > fs:
                v = S[f_r[fs:fe] - b0, f_c[fs:fe]]
                f_key[fs:fe] = np.where(np.isfinite(v), v, fallback[fs:fe])
            sr = s_rows[(s_rows >= b0) & (s_rows < b1)]
            if len(sr):  # rank each query's category (its searchable items) by the ranker
                qs = q_of_row[sr]
                for qc in np.unique(qs):
                    rows_q = sr[qs == qc]
                    cand = w.category_items[qc]
                    if len(cand) == 0:
                        continue
                    vals = S[(rows_q - b0)[:, None], cand[None, :]]
                    bad = ~np.isfinite(vals)
                    if bad.any():
                        np.copyto(vals, np.broadcast_to(self._pop_key[cand], vals.shape), where=bad)
                    kk = min(k, len(cand))
                    part = (np.argpartition(-vals, kk - 1, axis=1)[:, :kk] if kk < len(cand)
                            else np.broadcast_to(np.arange(kk), (len(rows_q), kk)))
                    pv = np.take_along_axis(vals, part, axis=1)
                    pi = cand[part]
                    o = np.lexsort((pi, -pv), axis=1)
                    pi = np.take_along_axis(pi, o, axis=1)
                    rk = np.broadcast_to(np.arange(kk), pi.shape)
                    s_parts.append((np.repeat(rows_q, kk), pi.ravel(), rk.ravel()))
        return f_key, s_parts

    def _exposing(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Serial of the latest endorsement of ``items`` visible to ``users`` (-1: none)."""
        best = np.zeros(len(users), dtype=np.float64)
        if len(users) == 0:
            return best.astype(np.int64) - 1
        for W, L in ((self.w.W_pub, self.L_pub), (self.w.W_fr, self.L_fr)):
            R = W[users]
            pr = np.repeat(np.arange(len(users)), np.diff(R.indptr))
            val = _lookup(L, R.indices.astype(np.int64), items[pr])
            np.maximum.at(best, pr, val)
        return best.astype(np.int64) - 1

    # ------------------------------------------------------------------ orders
    def _create_orders(self, users, items, day, channel, parent, ref_eid, *, phase: int) -> None:
        n = len(users)
        if n == 0:
            return
        c, w, st, m = self.c, self.w, self.st, self.metrics
        mer = w.item_merchant[items]
        qty = 1 + (st.uniform("qty", day, users, items, phase) < 0.15)
        amount = np.round(w.price[items] * qty, 2)
        last = _lookup(self.LastBuy, users, items)
        rep = last > 0
        # same user and item twice in one batch: the second is a repurchase too
        key = users * self.ni + items
        first = np.zeros(n, dtype=bool)
        first[np.unique(key, return_index=True)[1]] = True
        rep |= ~first
        eids = self.log.next_ids(n)  # an order's id is the id of its "pay" event
        self.log.add("pay", day, n, user=users, item=items, merchant=mer, amount=amount,
                     source=w.merchant_platform[mer], channel=channel, ref=ref_eid, order_id=eids)
        ship_d = st.geometric("ship", day, c.ship_delay_mean, users, items, phase)
        transit = st.geometric("transit", day, c.transit_mean, users, items, phase)
        cancel = st.uniform("cancel", day, users, items, phase) < c.cancel_rate
        ship = np.where(cancel, -1, day + ship_d)
        deliver = np.where(cancel, -1, day + ship_d + transit)
        refund = np.where(cancel, day + 1, -1)
        idx = self.orders.append(user=users, item=items, merchant=mer, day=np.full(n, day),
                                 amount=amount, eid=eids, parent=parent, ship=ship,
                                 deliver=deliver, refund=refund, satisfied=np.full(n, -1),
                                 refunded=np.zeros(n, dtype=bool))
        self._schedule(ship[~cancel], "ship", idx[~cancel])
        self._schedule(deliver[~cancel], "deliver", idx[~cancel])
        self._schedule(refund[cancel], "refund", idx[cancel])
        m.orders(users, items, mer, amount, channel, rep)
        self._rlog(users, items, "purchase", day)
        lb = _csr(users, items, np.full(n, day + _DAY_OFF), self.shape, combine="max")
        self.LastBuy = self.LastBuy.maximum(lb).tocsr()
        self.Seen = (self.Seen + (lb > 0).astype(np.float64)).tocsr()
        # follow the merchant's service account
        fk = users * self.nm + mer
        newf = ~self.follows.contains(fk) & (st.uniform("follow", day, users, mer, phase) < c.follow_rate)
        fk_u, fpos = np.unique(fk[newf], return_index=True)
        if len(fk_u):
            fu, fm = users[newf][fpos], mer[newf][fpos]
            self.log.add("follow", day, len(fu), user=fu, merchant=fm)
            self.follows.add(fk_u)
            m.add("follows", len(fu))
        # quota sources: the payment (template regime) or opt-ins (subscription regime)
        if self.template_regime:
            self._sources(PAY, users, items, mer, eids, day, order=idx, deliver=deliver)
        else:
            self._optins(users, items, mer, day, order=idx, phase=phase)

    def _forms(self, users, items, day) -> None:
        mer = self.w.item_merchant[items]
        eids = self.log.next_ids(len(users))  # a form's id is the id of its "form" event
        self.log.add("form", day, len(users), user=users, item=items, merchant=mer, form_id=eids)
        self.metrics.add("forms", len(users))
        self._rlog(users, items, "form", day)
        if self.template_regime:
            self._sources(FORM, users, items, mer, eids, day, order=np.full(len(users), -1))
        else:
            self._optins(users, items, mer, day, order=np.full(len(users), -1), phase=2)

    def _optins(self, users, items, mer, day, *, order, phase) -> None:
        asks = OPTIN_ASKS[self.policy[mer]]
        slot = np.arange(int(OPTIN_ASKS.max()))
        acc = (self.st.uniform("optin", day, users[:, None], items[:, None], slot[None, :], phase)
               < self.c.optin_rate) & (slot[None, :] < asks[:, None])
        r, _ = np.nonzero(acc)
        if len(r) == 0:
            return
        u, i, mm = users[r], items[r], mer[r]
        eids = self.log.next_ids(len(r))  # an opt-in's id is the id of its "subscribe" event
        self.log.add("subscribe", day, len(r), user=u, item=i, merchant=mm, optin_id=eids)
        self.metrics.add("optins", len(r))
        self._sources(SUB, u, i, mm, eids, day, order=order[r])

    def _sources(self, kind, users, items, mer, eids, day, *, order, deliver=None) -> None:
        n = len(users)
        if n == 0:
            return
        window = QUOTA_WINDOW[kind]
        until = np.full(n, _NEVER) if window is None else np.full(n, day + window)
        idx = self.src.append(kind=np.full(n, kind), user=users, item=items, merchant=mer,
                              day=np.full(n, day), eid=eids, remaining=np.full(n, QUOTA_LIMIT[kind]),
                              until=until, order=order)
        pol = self.policy[mer]
        if not (pol != POLICIES.index("none")).any():
            return
        draw = self.st.uniform("marketing", day, users[:, None], items[:, None],
                               np.arange(3)[None, :] + 3 * kind)
        s, d, tpl, mkt = plan(pol, kind, np.full(n, day), self.w.item_cycle[items], deliver, draw,
                              self.c.marketing_rate)
        if self.messaging_done:  # proposals for today made after the message phase wait a day
            d = np.where(d <= day, day + 1, d)
        if kind != SUB:
            ok = d < until[s]
            s, d, tpl, mkt = s[ok], d[ok], tpl[ok], mkt[ok]
        if len(s) == 0:
            return
        order_ = np.argsort(d, kind="stable")
        s, d, tpl, mkt = s[order_], d[order_], tpl[order_], mkt[order_]
        keep = d < self.c.days
        s, d, tpl, mkt = s[keep], d[keep], tpl[keep], mkt[keep]
        cut = np.flatnonzero(np.diff(d)) + 1
        for ss, dd, tt, mk in zip(np.split(s, cut), np.split(d, cut), np.split(tpl, cut),
                                  np.split(mkt, cut)):
            if len(ss):
                self.cal[int(dd[0])]["msg"].append((idx[ss], tt, mk))

    # ------------------------------------------------------------------ endorsements
    def _endorse(self, users, items, kind, parent, day, *, order_eid=None) -> None:
        n = len(users)
        if n == 0:
            return
        st = self.st
        key = (users * self.ni + items) * 2 + kind
        bit = 1 << kind
        done = (_lookup(self.OwnE, users, items).astype(np.int64) & bit) > 0
        done |= self.pending_keys.contains(key)
        first = np.zeros(n, dtype=bool)
        first[np.unique(key, return_index=True)[1]] = True
        ok = ~done & first
        if not ok.any():
            return
        users, items, parent, key = users[ok], items[ok], np.asarray(parent)[ok], key[ok]
        if order_eid is not None:
            order_eid = np.asarray(order_eid)[ok]
        n = len(users)
        vis = np.where(st.uniform("visibility", day, users, items, kind) < self.c.public_share,
                       _V_PUBLIC, _V_FRIENDS)
        e = self.end
        has_p = parent >= 0
        cascade = _take(e["cascade"], parent, -1)
        depth = np.where(has_p, _take(e["depth"], parent, -1) + 1, 0)
        ref = _take(e["eid"], parent, -1)
        typ = "recommend_after_purchase" if kind == _RAP else "recommend"
        eids = self.log.next_ids(n)
        serial = np.arange(e.n, e.n + n)
        root = np.where(has_p, cascade, serial)
        root_eid = np.where(has_p, _take(e["eid"], cascade, -1), eids)
        cols = dict(user=users, item=items, merchant=self.w.item_merchant[items], ref=ref,
                    visibility=vis, depth=depth, cascade=root_eid)
        if order_eid is not None:
            cols["order_id"] = order_eid
        self.log.add(typ, day, n, **cols)
        e.append(user=users, item=items, kind=np.full(n, kind), vis=vis, day=np.full(n, day),
                 eid=eids, parent=parent, cascade=root, depth=depth, size=np.ones(n),
                 maxdepth=np.zeros(n))
        np.add.at(e._cols["size"], root[has_p], 1)
        np.maximum.at(e._cols["maxdepth"], root[has_p], depth[has_p])
        self.pending_end.append(serial)
        self.pending_keys.add(key)
        self.metrics.endorsements(kind, has_p)
        self._rlog(users, items, "recommend_after_purchase" if kind == _RAP else "recommend", day,
                   vis=vis)

    def _apply_endorsements(self, serial: np.ndarray, *, initial: bool = False) -> None:
        """Put endorsements into the feed state (visible from the next day)."""
        if len(serial) == 0:
            return
        e = self.end
        u, i, k = e["user"][serial], e["item"][serial], e["kind"][serial].astype(np.int64)
        v, d = e["vis"][serial], e["day"][serial]
        own = _csr(u, i, (1 << k).astype(np.float64), self.shape)
        self.OwnE = (self.OwnE + own).tocsr()
        self.Seen = (self.Seen + (own > 0).astype(np.float64)).tocsr()
        for vis_code, attr in ((_V_PUBLIC, "pub"), (_V_FRIENDS, "fr")):
            s = v == vis_code
            if not s.any():
                continue
            Lnew = _csr(u[s], i[s], serial[s] + 1.0, self.shape, combine="max")
            setattr(self, f"L_{attr}", getattr(self, f"L_{attr}").maximum(Lnew).tocsr())
        win = self.c.feed_window_days
        live = np.ones(len(serial), dtype=bool) if win == 0 else d + win >= (0 if initial else self.day)
        live &= v != _V_PRIVATE
        if not live.any():
            return
        enc = np.asarray(_ENC)[k]
        for vis_code, attr in ((_V_PUBLIC, "pub"), (_V_FRIENDS, "fr")):
            s = live & (v == vis_code)
            if s.any():
                add = _csr(u[s], i[s], enc[s], self.shape)
                setattr(self, f"E_{attr}", (getattr(self, f"E_{attr}") + add).tocsr())
        if win:
            s = np.flatnonzero(live)
            exp_day = d[s] + win
            for dd in np.unique(exp_day):
                self.ring.setdefault(int(dd), []).append(serial[s[exp_day == dd]])

    def _expire(self, day: int) -> None:
        parts = self.ring.pop(day, None)
        if not parts:
            return
        s = np.concatenate(parts)
        e = self.end
        u, i, k, v = e["user"][s], e["item"][s], e["kind"][s].astype(np.int64), e["vis"][s]
        enc = np.asarray(_ENC)[k]
        for vis_code, attr in ((_V_PUBLIC, "pub"), (_V_FRIENDS, "fr")):
            sel = v == vis_code
            if sel.any():
                sub = _csr(u[sel], i[sel], enc[sel], self.shape)
                E = (getattr(self, f"E_{attr}") - sub).tocsr()
                E.data[np.abs(E.data) < 0.5] = 0.0
                E.eliminate_zeros()
                setattr(self, f"E_{attr}", E)

    # ------------------------------------------------------------------ messages
    def _messages(self, day: int) -> None:
        props = (self.cal.get(day) or {}).pop("msg", None)
        self.messaging_done = True
        m = self.metrics
        s = self.src
        m.quota_available(self._quota_available(day))
        if not props:
            self.cal.pop(day, None)
            return
        self.cal.pop(day, None)
        src = np.concatenate([p[0] for p in props])
        tpl = np.concatenate([p[1] for p in props])
        mkt = np.concatenate([p[2] for p in props])
        o = np.lexsort((tpl, src))
        src, tpl, mkt = src[o], tpl[o], mkt[o]
        kind = s["kind"][src].astype(np.int64)
        u, i, mer = s["user"][src], s["item"][src], s["merchant"][src]
        regime_ok = np.where(kind == SUB, not self.template_regime, self.template_regime)
        window_ok = (day >= s["day"][src]) & (day < s["until"][src])
        ban_ok = day >= self.ban_until[mer]
        tpl_ok = ~self.removed[mer, tpl]
        opt_ok = ~self.optouts.contains(u * self.nm + mer)
        follow_ok = (kind == SUB) | (not self.c.messages_require_follow) | self.follows.contains(
            u * self.nm + mer)
        ok = regime_ok & window_ok & ban_ok & tpl_ok & opt_ok & follow_ok
        # quota ledger: at most `remaining` of each source, in proposal order
        grp_start = np.searchsorted(src[ok], src[ok], side="left")
        rank = np.arange(int(ok.sum())) - grp_start
        within = rank < s["remaining"][src[ok]]
        send = np.zeros(len(src), dtype=bool)
        send[np.flatnonzero(ok)[within]] = True
        m.blocked(regime=~regime_ok | ~window_ok, ban=regime_ok & window_ok & ~ban_ok,
                  template=regime_ok & window_ok & ban_ok & ~tpl_ok,
                  optout=regime_ok & window_ok & ban_ok & tpl_ok & ~opt_ok,
                  follow=regime_ok & window_ok & ban_ok & tpl_ok & opt_ok & ~follow_ok,
                  quota=ok & ~send)
        if not send.any():
            return
        src, tpl, mkt, kind, u, i, mer = (a[send] for a in (src, tpl, mkt, kind, u, i, mer))
        np.subtract.at(s._cols["remaining"], src, 1)
        sref = s["eid"][src]
        n = len(src)
        order_id = np.where(kind == PAY, sref, -1)
        order_idx = s["order"][src]
        has_order = order_idx >= 0
        order_id = np.where(has_order, _take(self.orders["eid"], order_idx, -1), order_id)
        mids = self.log.add(
            "message", day, n, user=u, item=i, merchant=mer, ref=sref, quota=kind, template=tpl,
            marketing=mkt, order_id=order_id, form_id=np.where(kind == FORM, sref, -1),
            optin_id=np.where(kind == SUB, sref, -1),
        )
        m.messages(n, int(mkt.sum()))
        # annoyance: messages from this merchant to this user in the last 7 days
        keys = u * self.nm + mer
        recent = [self.msg_ring[d] for d in range(day - 6, day) if d in self.msg_ring]
        prior = np.concatenate(recent) if recent else np.empty(0, dtype=np.int64)
        prior.sort()
        n_prior = np.searchsorted(prior, keys, side="right") - np.searchsorted(prior, keys, side="left")
        korder = np.argsort(keys, kind="stable")
        ks = keys[korder]
        within_today = np.empty(n, dtype=np.int64)
        within_today[korder] = np.arange(n) - np.searchsorted(ks, ks, side="left")
        n7 = n_prior + within_today + 1
        self.msg_ring[day] = keys.copy()
        self.msg_ring.pop(day - 7, None)
        c, st = self.c, self.st
        p_out = _sigmoid(c.optout_base + c.optout_per_message * (n7 - 1) + 1.0 * mkt)
        p_cmp = _sigmoid(c.complaint_base + c.optout_per_message * (n7 - 1) + c.complaint_marketing * mkt)
        optout = st.uniform("optout", day, u, mer, tpl) < p_out
        complaint = st.uniform("complaint", day, u, mer, tpl) < p_cmp
        # a response: a (re)purchase of the item, most likely at its repurchase time
        z = self.w.z_utility(u, i)
        last = _lookup(self.LastBuy, u, i)
        need = np.where(last > 0, _need((day - (last - _DAY_OFF)) / self.w.item_cycle[i]), 0.6)
        sat = np.where(has_order, _take(self.orders["satisfied"], order_idx, -1), -1)
        refunded = has_order & _take(self.orders["refunded"], order_idx, False)
        sat_f = np.where(sat == 1, 1.0, np.where(sat == 0, 0.1, 0.5))
        sat_f = np.where(refunded, 0.05, sat_f)
        p_resp = c.message_response * need * sat_f * 2.0 * _sigmoid(z) * np.where(mkt, 1.2, 1.0)
        resp = ~optout & ~complaint & (st.uniform("response", day, u, i, tpl) < np.minimum(p_resp, 1.0))
        if complaint.any():
            self.log.add("complaint", day, int(complaint.sum()), user=u[complaint], item=i[complaint],
                         merchant=mer[complaint], ref=mids[complaint], template=tpl[complaint],
                         marketing=mkt[complaint])
        ok_keys = keys[optout]
        new_out = ~self.optouts.contains(ok_keys)
        if new_out.any():
            uk, first = np.unique(ok_keys[new_out], return_index=True)
            sel = np.flatnonzero(optout)[new_out][first]
            self.log.add("opt_out", day, len(sel), user=u[sel], merchant=mer[sel], ref=mids[sel])
            self.optouts.add(uk)
        m.add("complaints", int(complaint.sum()))
        m.add("opt_outs", len(uk) if new_out.any() else 0)
        ru, ri = u[resp], i[resp]
        key = ru * self.ni + ri
        first = np.zeros(len(ru), dtype=bool)
        first[np.unique(key, return_index=True)[1]] = True  # one repurchase per item and day
        self._create_orders(ru[first], ri[first], day, np.full(int(first.sum()), _CH["message"]),
                            np.full(int(first.sum()), -1), mids[resp][first], phase=1)
        # marketing content caught by a complaint or the audit -> penalties
        caught = mkt & (complaint | (st.uniform("audit", day, u, mer, tpl) < c.audit_rate))
        if caught.any():
            cm = mer[caught]
            um, first_pos = np.unique(cm, return_index=True)
            sel = np.flatnonzero(caught)[first_pos]
            self._penalise(um, tpl[sel], mids[sel], day)

    def _penalise(self, merchants, templates, msg_eids, day) -> None:
        lvl = np.minimum(self.level[merchants], len(PENALTY_LADDER) - 1)
        active = self.level[merchants] < len(PENALTY_LADDER)
        merchants, templates, msg_eids, lvl = (a[active] for a in (merchants, templates, msg_eids, lvl))
        if len(merchants) == 0:
            return
        self.level[merchants] += 1
        self.log.add("penalty", day, len(merchants), merchant=merchants, template=templates,
                     penalty=lvl, ref=msg_eids)
        for m_, t_, l_ in zip(merchants.tolist(), templates.tolist(), lvl.tolist()):
            ban = PENALTY_BAN_DAYS[l_]
            if l_ == 0:
                self.removed[m_, t_] = True
            elif ban is None:
                self.ban_until[m_] = _NEVER
            else:
                self.ban_until[m_] = max(self.ban_until[m_], day + 1 + ban)
        self.metrics.add("penalties", len(merchants))

    def _quota_available(self, day: int) -> int:
        s = self.src
        if len(s) == 0:
            return 0
        k = s["kind"]
        live = (s["remaining"] > 0) & (s["day"] <= day) & (s["until"] > day)
        live &= np.where(k == SUB, not self.template_regime, self.template_regime)
        return int(s["remaining"][live].sum())

    # ------------------------------------------------------------------ end of day
    def _end_of_day(self, day: int) -> None:
        if self.pending_end:
            self._apply_endorsements(np.concatenate(self.pending_end))
            self.pending_end = []
            self.pending_keys = _Keys()
        if self.c.feed_window_days:
            self._expire(day)
        self.metrics.merchant_state(self.ban_until, self.level, day)
        if self.c.refit_every and (day + 1) % self.c.refit_every == 0 and day + 1 < self.c.days:
            self.refit(day)


def _n_endorsing(enc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Decode visible-endorsement counts: (endorsements of both kinds, after-purchase ones)."""
    n_rap = np.floor(enc / _RAP_BASE)
    return n_rap + np.round(enc - _RAP_BASE * n_rap), n_rap


def _need(x: np.ndarray) -> np.ndarray:
    """Repurchase need at ``x`` = days since purchase / cycle: 1 at x = 1, log-normal bump."""
    lx = np.log(np.maximum(np.asarray(x, dtype=np.float64), 1e-3))
    return np.exp(-(lx ** 2) / (2 * 0.45 ** 2))


def run_engine(
    config: SimulationConfig,
    world: World,
    *,
    show_progress: bool = False,
    callback: Callable[[int, dict], Any] | None = None,
) -> Engine:
    """Run all days; returns the engine (state, log, metrics)."""
    eng = Engine(config, world)
    days = range(config.days)
    bar = None
    if show_progress:
        from .._progress import tqdm

        bar = tqdm(total=config.days, desc=f"sim {config.name}", unit="day")
    try:
        for d in days:
            row = eng.step(d)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(orders=int(row["orders"]), gmv=f"{row['gmv']:.0f}")
            if callback is not None and callback(d, dict(row)) is False:
                log.info("simulation stopped by the callback after day %d", d)
                break
    finally:
        if bar is not None:
            bar.close()
    return eng
