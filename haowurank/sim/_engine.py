"""The daily loop of the simulation, vectorised over all agents of a day.

The simulated platform *is* the product: each day it holds the log it has seen so far (the
world's history plus every simulated purchase, endorsement, click and form) as a
:class:`~haowurank.Dataset`, and a user's friends' feed is exactly :func:`haowurank.feed.build`
on that dataset (its visibility rule, ranking blend, diversity, caps and freshness, with the
run's :class:`~haowurank.feed.FeedConfig`), and a search is exactly
:meth:`haowurank.search.SearchIndex.query` (BM25 over titles and categories blended with
recommendation counts and the searcher's visible friends). The ranker enters only through the
feed's public scoring of its candidates; nothing scores a dense row per active user.

Each day runs three phases, in this order (the event log is chronological):

1. **Logistics**: orders scheduled to ship, be delivered or be refunded today move on. At
   delivery a buyer is satisfied or not (true utility and quality); an unsatisfied buyer may
   return the item (refund a few days later), a satisfied one may "recommend after purchase".
2. **Sessions**: active users (their true activity) open the friends' feed or search. A user
   whose feed has no candidate searches; a search is a query for a category's name, drawn from
   the user's taste. Users examine slate positions with a position bias, click and buy with
   probabilities from true utility and the social proof the slate shows (how many visible
   friends endorsed; whether the feed says one bought it). Orders are paid (synced from the
   merchant's source platform); a buyer may follow the merchant's service account, the
   long-term channel: merchants may then ask a follower to opt in to one-time subscription
   messages, which reach the buyer after the template window. Under the subscription regime
   every buyer is asked. A clicker who did not buy may plainly "recommend" or submit a form.
3. **Messages**: merchants' proposals for today pass the quota ledger and penalties; a message
   may prompt a repurchase (most likely at the item's repurchase time), annoy (opt-out,
   complaint) or, with marketing content, be caught and penalised.

Endorsements made on a day enter the platform's log, and so friends' feeds, the next day: the
word-of-mouth cascade. Each endorsement records its parent (the latest endorsement, among those
the feed cited, through which the user found the item) so cascade size and depth are measured.
The platform refits its ranker on its log every ``refit_every`` days; with ``fold_in`` the
days between are folded into it (``partial_fit_users``).

All randomness comes from :class:`~haowurank.sim._streams.Streams` keyed by (purpose, day,
user, item, ...), and the product's feed and search are deterministic, so a run is a pure
function of its config and seed.
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

from .. import ENDORSEMENT_KINDS, KINDS, VISIBILITIES
from .._arrays import union_sorted
from .._random import derive_seed
from ._config import POLICIES, SimulationConfig
from ._events import CHANNELS, EventLog
from ._exposure import ImpressionLog
from ._messaging import (
    FORM,
    OPTIN_ASKS,
    PAY,
    PAYMENT_WINDOW_DAYS,
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

__all__ = ["Engine", "run_engine"]

log = logging.getLogger(__name__)

_KIND_CODE = {k: i for i, k in enumerate(KINDS)}
_V_PUBLIC = VISIBILITIES.index("public")
_V_FRIENDS = VISIBILITIES.index("friends")
_CHANNEL = {c: i for i, c in enumerate(CHANNELS)}
#: Endorsement kinds inside the engine (index into ``ENDORSEMENT_KINDS``).
_RECOMMEND, _AFTER_PURCHASE = 0, 1
_ENDORSEMENT_KIND_NAME = {_RECOMMEND: "recommend", _AFTER_PURCHASE: "recommend_after_purchase"}
_DAY_OFFSET = 1_000_000.0  # last_buy stores day + offset (so that history days stay positive)
_NEVER = np.iinfo(np.int64).max // 4
#: Viewers per vectorised step of the product's feed (results do not depend on it).
FEED_BATCH_SIZE = 1024
#: The interaction kinds the product's feed and search read (:class:`haowurank.feed.FeedIndex`,
#: :class:`haowurank.search.SearchIndex`): their state holds these rows of the platform's log.
PRODUCT_KINDS = ("purchase", *ENDORSEMENT_KINDS)


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
        order = np.lexsort((vals, key))
        last = np.ones(len(order), dtype=bool)
        last[:-1] = key[order][1:] != key[order][:-1]
        order = order[last]
        rows, cols, vals = rows[order], cols[order], vals[order]
    matrix = sp.csr_matrix((vals, (rows, cols)), shape=shape)
    matrix.sum_duplicates()
    return matrix


def _first_of_each(keys: np.ndarray) -> np.ndarray:
    """Boolean mask of the first occurrence of each key."""
    first = np.zeros(len(keys), dtype=bool)
    first[np.unique(keys, return_index=True)[1]] = True
    return first


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

    def column(self, k: str) -> np.ndarray:
        """The whole backing array of a column (for in-place updates such as ``np.add.at``)."""
        return self._cols[k]

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
        """Insert keys (the set's sorted array gains the new distinct ones; no re-sort of the
        held keys, which grow with the run)."""
        if len(k):
            self.keys = union_sorted(self.keys, np.asarray(k, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.keys)


class _PlatformLog:
    """Rows the platform logs during a day, appended to its Dataset at the end of the day."""

    def __init__(self) -> None:
        self.parts: list[dict[str, np.ndarray]] = []

    def add(self, users, items, kind: str, timestamp: int, *, visibility=None, order_id=None,
            source=None, amount=None) -> None:
        n = len(users)
        if n == 0:
            return
        self.parts.append({
            "user": np.asarray(users, dtype=np.int64), "item": np.asarray(items, dtype=np.int64),
            "kind": np.full(n, _KIND_CODE[kind], dtype=np.int64),
            "timestamp": np.full(n, timestamp, dtype=np.int64),
            "visibility": (np.full(n, _V_FRIENDS, dtype=np.int64) if visibility is None
                           else np.asarray(visibility, dtype=np.int64)),
            "order_id": (np.full(n, None, dtype=object) if order_id is None
                         else np.asarray([f"sim-{k}" for k in np.asarray(order_id).tolist()],
                                         dtype=object)),
            "source": np.full(n, None, dtype=object) if source is None else np.asarray(source, dtype=object),
            "amount": np.full(n, np.nan) if amount is None else np.asarray(amount, dtype=np.float64),
        })

    def take(self) -> dict[str, np.ndarray] | None:
        """Today's rows as index-level columns, or None when nothing was logged; then empties
        the log."""
        if not self.parts:
            return None
        cols = {k: np.concatenate([p[k] for p in self.parts]) for k in self.parts[0]}
        self.parts = []
        return cols

    @staticmethod
    def frame(cols: dict[str, np.ndarray], user_ids: np.ndarray,
              item_ids: np.ndarray) -> pd.DataFrame:
        """Rows of :meth:`take` with caller ids (the columns ``Dataset.from_frames`` reads)."""
        return pd.DataFrame({
            "user": user_ids[cols["user"]], "item": item_ids[cols["item"]],
            "kind": pd.Categorical.from_codes(cols["kind"], categories=list(KINDS)),
            "timestamp": cols["timestamp"],
            "visibility": pd.Categorical.from_codes(cols["visibility"], categories=list(VISIBILITIES)),
            "order_id": cols["order_id"], "source": cols["source"], "amount": cols["amount"],
        })


#: Row order of the rows one ``Dataset.add_interactions`` call appends (its ``from_frames``).
_ADDED_ROW_ORDER = ["user", "timestamp", "item", "kind", "order_id"]


def _append_rows(ds, cols: dict[str, np.ndarray], *, left_out: tuple[str, ...] = ()):
    """``ds`` with the platform's index-level rows ``cols`` appended: the Dataset
    ``ds.add_interactions`` makes of the same rows (which repeat no key of ``ds``: the engine
    logs each click and form once, endorsements once per kind, purchases under new order ids),
    without validating and re-indexing rows the engine made itself. ``left_out``: columns
    ``ds`` is kept without (the product's state)."""
    add = pd.DataFrame({
        "user": cols["user"].astype(np.int32), "item": cols["item"].astype(np.int32),
        "kind": cols["kind"].astype(np.int8), "weight": np.ones(len(cols["user"])),
        "timestamp": cols["timestamp"].astype(np.int64),
        "visibility": cols["visibility"].astype(np.int8),
        # object columns with None where missing, as the Dataset keeps them
        "order_id": pd.Series(cols["order_id"], dtype=object),
        "source": pd.Series(cols["source"], dtype=object),
        "amount": cols["amount"].astype(np.float64),
    })
    old = ds.indexed_interactions
    if set(old.columns) != set(add.columns) - set(left_out):  # other columns: validate
        return ds.add_interactions(_PlatformLog.frame(cols, ds.user_ids, ds.item_ids),
                                   duplicates="raise")
    add = add.sort_values(_ADDED_ROW_ORDER, kind="stable")[list(old.columns)]
    # the object columns are concatenated apart, once (missing stays None: in the frame's
    # concat an all-None part would give NaN)
    obj = [c for c in ("order_id", "source") if c in old.columns]
    frame = pd.concat([old.drop(columns=obj), add.drop(columns=obj)], ignore_index=True)
    for col in obj:
        frame[col] = pd.concat([old[col], add[col]], ignore_index=True)
    return ds.replace(indexed_interactions=frame[list(old.columns)])


#: Interaction columns that neither the feed nor search reads; the product's state leaves them
#: out, so the rows appended to it each day copy less (``order_id`` stays: it keeps repeated
#: purchases of one item apart, as the Dataset's key).
_UNREAD_COLUMNS = ("source", "amount")


def _without_unread_columns(ds):
    """``ds`` without the columns of :data:`_UNREAD_COLUMNS`."""
    f = ds.indexed_interactions
    drop = [c for c in _UNREAD_COLUMNS if c in f.columns]
    return ds.replace(indexed_interactions=f.drop(columns=drop)) if drop else ds


class Engine:
    """State and daily loop of one run (use :func:`haowurank.sim.run`).

    Attributes
    ----------
    config : SimulationConfig
    world : World
    platform : Dataset
        What the platform has logged so far (the world's history without its ground truth, plus
        the simulated days up to the end of the last finished day); rankers fit on it.
    feed_dataset : Dataset or None
        The state the product read for the latest day's sessions: the rows of ``platform`` of
        the kinds feed and search read (:data:`PRODUCT_KINDS`; the other kinds change neither),
        less the endorsements older than ``feed_window_days`` when a window is set, without
        the ``source`` and ``amount`` columns, which neither reads.
    feed_index, search_index : FeedIndex, SearchIndex or None
        The product's feed and search over ``feed_dataset``.
    last_sessions : dict
        The latest day's sessions: ``day``, ``now`` (the feed's reference time), ``feed_users``
        and ``search_users`` (user indices) and ``queries`` (the query text of each searcher).
    """

    def __init__(self, config: SimulationConfig, world: World, arms: Any = None):
        from ..feed import FeedConfig

        self.config = cfg = config
        self.world = world
        self.arms = arms  # per-user arms (haowurank.sim._ab.Arms) or None: one strategy for all
        self.streams = Streams(cfg.seed)
        self.exposure = ImpressionLog(cfg, self.streams)  # slates from pools; impression log
        self.n_users, self.n_items, self.n_merchants = world.n_users, world.n_items, world.n_merchants
        self.shape = (self.n_users, self.n_items)
        self.timings: dict[str, float] = defaultdict(float)
        self.feed_config = FeedConfig.from_dict(cfg.feed)
        ds = world.ds
        history = ds.interaction_arrays()
        kind = history["kind"].astype(np.int64)
        user = history["user"].astype(np.int64)
        item = history["item"].astype(np.int64)
        day = world.day_of(history["timestamp"])

        # ---- initial endorsements: ids 0..K0-1, each the root of its own cascade
        is_endorsement = np.isin(kind, [_KIND_CODE[k] for k in ENDORSEMENT_KINDS])
        pos = np.flatnonzero(is_endorsement)
        k0 = len(pos)
        self.endorsements = _Grow(user=np.int64, item=np.int64, kind=np.int8, vis=np.int8,
                                  day=np.int64, eid=np.int64, parent=np.int64, cascade=np.int64,
                                  depth=np.int64, size=np.int64, maxdepth=np.int64)
        ekind = (kind[pos] == _KIND_CODE["recommend_after_purchase"]).astype(np.int8)
        self.endorsements.append(
            user=user[pos], item=item[pos], kind=ekind, vis=history["visibility"][pos],
            day=day[pos], eid=np.arange(k0), parent=np.full(k0, -1), cascade=np.arange(k0),
            depth=np.zeros(k0), size=np.ones(k0), maxdepth=np.zeros(k0))
        self.log = EventLog(first_id=k0)
        self.first_event_id = k0

        # ---- per-user state the behaviour model reads
        # own_endorsed: bit k set when the user made an endorsement of kind k of the item (a
        # user may have both kinds of one item, and one kind in several rows)
        bits = (user[pos] * self.n_items + item[pos]) * 2 + ekind
        bits = np.unique(bits)
        self.own_endorsed = _csr(bits // 2 // self.n_items, bits // 2 % self.n_items,
                                 (1 << (bits % 2)).astype(np.float64), self.shape)
        # serial + 1 of each (endorser, item) endorsement, one matrix per endorsement kind
        self.endorsement_serial = [
            _csr(user[pos][ekind == k], item[pos][ekind == k], np.flatnonzero(ekind == k) + 1.0,
                 self.shape, combine="max")
            for k in (_RECOMMEND, _AFTER_PURCHASE)
        ]
        is_purchase = kind == _KIND_CODE["purchase"]
        self.last_buy = (_csr(user[is_purchase], item[is_purchase], day[is_purchase] + _DAY_OFFSET,
                              self.shape, combine="max") if is_purchase.any()
                         else sp.csr_matrix(self.shape, dtype=np.float64))
        self.pending_endorsements: list[np.ndarray] = []
        self.pending_keys = _Keys()

        # ---- orders, quota sources, calendar
        self.orders = _Grow(user=np.int64, item=np.int64, merchant=np.int64, day=np.int64,
                            amount=np.float64, eid=np.int64, parent=np.int64, ship=np.int64,
                            deliver=np.int64, refund=np.int64, satisfied=np.int8,
                            refunded=np.bool_)
        self.sources = _Grow(kind=np.int8, user=np.int64, item=np.int64, merchant=np.int64,
                             day=np.int64, eid=np.int64, remaining=np.int64, until=np.int64,
                             order=np.int64)
        self.calendar: dict[int, dict[str, list]] = defaultdict(lambda: defaultdict(list))
        self.follows = _Keys()
        self.optouts = _Keys()
        self.messages_by_day: dict[int, np.ndarray] = {}
        self.penalty_level = np.zeros(self.n_merchants, dtype=np.int64)
        self.ban_until = np.full(self.n_merchants, -1, dtype=np.int64)  # banned while day < ban_until
        self.template_removed = np.zeros((self.n_merchants, len(TEMPLATES)), dtype=bool)
        # merchants' policies (a copy: adaptation changes them, never the world's)
        self.policy = world.merchant_policy.copy()
        self.adapted = np.zeros(self.n_merchants, dtype=bool)
        # consequences of messages: a user's activity multiplier (fatigue, complaints; 0: left)
        self.activity = np.ones(self.n_users, dtype=np.float64)
        self.churned = np.zeros(self.n_users, dtype=bool)

        # ---- the platform: its log (a Dataset without ground truth) and its ranker. The
        # finished days' rows join the log's Dataset when it is read (a refit, ``platform``);
        # the product's state (the rows of the kinds feed and search read) grows every day.
        self._platform = ds.select_interactions(np.ones(ds.n_interactions, dtype=bool))
        self._platform.truth = {}  # the platform never sees the ground truth
        self._platform_rows: list[dict[str, np.ndarray]] = []  # finished days' index-level rows
        self._product_state = _without_unread_columns(self._platform.select_interactions(
            np.isin(kind, [_KIND_CODE[k] for k in PRODUCT_KINDS])))
        self.platform_log = _PlatformLog()
        # clicks and forms are logged once per (user, item, kind): the platform's log has no
        # repeated rows (a Dataset merges them)
        self.logged_once = _Keys()
        once = np.isin(kind, [_KIND_CODE["click"], _KIND_CODE["form"]])
        self.logged_once.add(np.unique((user[once] * self.n_items + item[once]) * len(KINDS)
                                       + kind[once]))
        # with arms, one ranker per arm (``ranker`` is then arm name -> ranker), fitted together
        self.arm_rankers = (None if arms is None else
                            [self._make_ranker(s, p) for s, p in zip(arms.strategies, arms.params)])
        self.ranker = (self._make_ranker() if arms is None
                       else dict(zip(arms.names, self.arm_rankers)))
        self.fits = 0
        self.folds = 0  # fold-ins since the last full fit (config.fold_in)
        if cfg.fold_in:
            lacking = sorted({type(r).__name__ for r in self._rankers()
                              if not callable(getattr(r, "partial_fit_users", None))})
            if lacking:
                raise ValueError(
                    f"The 'fold_in' field of SimulationConfig needs a ranker with "
                    f"partial_fit_users (the CF rankers, e.g. 'als', 'social_als'). Got "
                    f"strategy {cfg.strategy!r} ({', '.join(lacking)}) instead."
                )
        self._fit()
        self.feed_dataset = None
        self.feed_index = None
        self.search_index = None
        self._product_day = -1
        self.last_sessions: dict[str, Any] = {}
        self.metrics = DailyMetrics(self)
        self.day = -1
        self.messaging_done = False

    # ------------------------------------------------------------------ platform
    @property
    def platform(self):
        """What the platform has logged so far, as a Dataset (the finished days' rows appended
        when it is read)."""
        if self._platform_rows:
            t = time.perf_counter()
            parts, self._platform_rows = self._platform_rows, []
            cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
            # the Dataset add_interactions makes of these rows, without validating them again
            self._platform = _append_rows(self._platform, cols)
            self.timings["platform_log"] += time.perf_counter() - t
        return self._platform

    def _make_ranker(self, strategy: str | None = None, params: dict | None = None):
        from ..rankers import make

        params = dict(self.config.strategy_params if params is None else params)
        ranker = make(self.config.strategy if strategy is None else strategy, **params)
        if "random_state" in ranker.get_params() and "random_state" not in params:
            ranker.set_params(random_state=derive_seed(self.config.seed))
        return ranker

    def _fit(self) -> None:
        t, c = time.perf_counter(), time.process_time()
        for ranker in self.arm_rankers or [self.ranker]:
            ranker.fit(self.platform)
        self.fits += 1
        self.folds = 0
        self.timings["fit"] += time.perf_counter() - t
        self.timings["fit_cpu"] += time.process_time() - c

    def _rankers(self) -> list:
        """The platform's ranker(s): one, or one per arm."""
        return getattr(self, "arm_rankers", None) or [self.ranker]

    def fold_in(self, rows: pd.DataFrame, day: int) -> None:
        """Fold a finished day's platform rows into the ranker(s) without a full refit
        (``partial_fit_users``: the touched users' state is recomputed, the item side kept)."""
        t, c = time.perf_counter(), time.process_time()
        for ranker in self._rankers():
            ranker.partial_fit_users(rows)
        self.folds += 1
        self.timings["fold_in"] += time.perf_counter() - t
        self.timings["fold_in_cpu"] += time.process_time() - c
        log.debug("day %d: folded %d rows into %s", day, len(rows), self.config.strategy)

    def refit(self, day: int) -> None:
        """Refit the platform's ranker on its log (called after the day's rows are logged)."""
        self._fit()
        log.debug("day %d: refit %s on %d interactions", day, self.config.strategy,
                  self.platform.n_interactions)

    def now(self, day: int) -> int:
        """Unix seconds of the middle of ``day``: when its sessions and events happen."""
        return int(self.world.t0 + day * DAY_SECONDS + DAY_SECONDS // 2)

    def prepare_product(self, day: int) -> None:
        """Build the product's feed and search over the platform's state for ``day``
        (``feed_dataset``, ``feed_index``, ``search_index``); once per day."""
        if self._product_day == day:
            return
        from ..feed import FeedIndex
        from ..search import SearchIndex

        t = time.perf_counter()
        state = self._product_state
        window = self.config.feed_window_days
        if window:
            a = state.interaction_arrays()
            old = np.isin(a["kind"], [_KIND_CODE[k] for k in ENDORSEMENT_KINDS]) & (
                self.world.day_of(a["timestamp"]) < day - window)
            if old.any():
                state = state.select_interactions(~old)
        self.feed_dataset = state
        # the state grows by the finished day's rows: yesterday's index is extended (it builds
        # again when rows left the state, e.g. with a feed window)
        self.feed_index = (FeedIndex(state) if self.feed_index is None
                           else self.feed_index.appended(state))
        # titles do not change: yesterday's search index is extended by the day's rows (its
        # text part reused; built again when rows left the state)
        self.search_index = (
            SearchIndex(state, graph=self.feed_index.graph, **self.config.search)
            if self.search_index is None
            else self.search_index.appended(state, graph=self.feed_index.graph))
        self._product_day = day
        self.timings["product_index"] += time.perf_counter() - t

    def _log_platform(self, users, items, kind: str, day: int, **cols: Any) -> None:
        """Log rows the platform sees (they join its Dataset at the end of the day)."""
        users = np.asarray(users, dtype=np.int64)
        items = np.asarray(items, dtype=np.int64)
        if kind in ("click", "form"):
            key = (users * self.n_items + items) * len(KINDS) + _KIND_CODE[kind]
            new = ~self.logged_once.contains(key) & _first_of_each(key)
            if not new.all():
                users, items = users[new], items[new]
                cols = {k: np.asarray(v)[new] for k, v in cols.items()}
            self.logged_once.add(key[new])
        self.platform_log.add(users, items, kind, self.now(day), **cols)

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
        start = self.config.subscription_from_day
        return start is None or self.day < start

    # ------------------------------------------------------------------ logistics
    def _logistics(self, day: int) -> None:
        todo = self.calendar.pop(day, None) or {}
        orders, metrics, world, streams = self.orders, self.metrics, self.world, self.streams
        ship = np.sort(np.concatenate(todo["ship"])) if todo.get("ship") else np.empty(0, np.int64)
        if len(ship):
            self.log.add("ship", day, len(ship), user=orders["user"][ship],
                         item=orders["item"][ship], merchant=orders["merchant"][ship],
                         order_id=orders["eid"][ship],
                         source=world.merchant_platform[orders["merchant"][ship]])
        metrics.add("shipped", len(ship))
        delivered = (np.sort(np.concatenate(todo["deliver"])) if todo.get("deliver")
                     else np.empty(0, np.int64))
        if len(delivered):
            users, items = orders["user"][delivered], orders["item"][delivered]
            self.log.add("deliver", day, len(delivered), user=users, item=items,
                         merchant=orders["merchant"][delivered], order_id=orders["eid"][delivered],
                         source=world.merchant_platform[orders["merchant"][delivered]])
            cfg = self.config
            z = world.z_utility(users, items)
            quality_z = (world.quality[items] - world.quality.mean()) / (world.quality.std() or 1.0)
            p_satisfied = _sigmoid(cfg.satisfaction_base + cfg.satisfaction_utility * z
                                   + 0.5 * quality_z)
            satisfied = streams.uniform("satisfied", day, users, items) < p_satisfied
            orders["satisfied"][delivered] = np.where(satisfied, 1, 0)
            returned = ~satisfied & (streams.uniform("return", day, users, items) < cfg.return_rate)
            if returned.any():
                refund_day = day + 1 + (streams.uniform("return_day", day, users[returned],
                                                        items[returned]) * 3).astype(np.int64)
                orders["refund"][delivered[returned]] = refund_day
                self._schedule(refund_day, "refund", delivered[returned])
            recommends = satisfied & (streams.uniform("rap", day, users, items) < cfg.rap_rate)
            if recommends.any():
                self._endorse(users[recommends], items[recommends], _AFTER_PURCHASE,
                              orders["parent"][delivered[recommends]], day,
                              order_eid=orders["eid"][delivered[recommends]])
            metrics.add("delivered", len(delivered))
            metrics.add("satisfied", int(satisfied.sum()))
            metrics.add("returns", int(returned.sum()))
        refunds = (np.sort(np.concatenate(todo["refund"])) if todo.get("refund")
                   else np.empty(0, np.int64))
        if len(refunds):
            self.log.add("refund", day, len(refunds), user=orders["user"][refunds],
                         item=orders["item"][refunds], merchant=orders["merchant"][refunds],
                         order_id=orders["eid"][refunds], amount=orders["amount"][refunds],
                         source=world.merchant_platform[orders["merchant"][refunds]])
            orders["refunded"][refunds] = True
            metrics.add("refunds", len(refunds))
            metrics.add("refund_amount", float(orders["amount"][refunds].sum()))
        if todo.get("msg"):
            self.calendar[day]["msg"] = todo["msg"]  # keep today's proposals for the message phase

    def _schedule(self, days: np.ndarray, what: str, idx: np.ndarray) -> None:
        if len(idx) == 0:
            return
        days = np.asarray(days, dtype=np.int64)
        if days.ndim == 0:
            days = np.full(len(idx), int(days))
        keep = days < self.config.days
        days, idx = days[keep], idx[keep]
        if len(idx) == 0:
            return
        order = np.argsort(days, kind="stable")
        days, idx = days[order], idx[order]
        cut = np.flatnonzero(np.diff(days)) + 1
        for day_chunk, idx_chunk in zip(np.split(days, cut), np.split(idx, cut)):
            self.calendar[int(day_chunk[0])][what].append(idx_chunk)

    # ------------------------------------------------------------------ sessions
    def _sessions(self, day: int) -> None:
        cfg, world, streams, metrics = self.config, self.world, self.streams, self.metrics
        active = np.flatnonzero(streams.uniform("active", day, np.arange(self.n_users))
                                < world.p_active * self.activity)
        metrics.add("active_users", len(active))
        if len(active) == 0:
            self.last_sessions = {"day": day, "now": self.now(day), "feed_users": active,
                                  "search_users": active, "queries": []}
            return
        wants_feed = streams.uniform("session", day, active) < cfg.feed_share
        self.prepare_product(day)
        t = time.perf_counter()
        candidates = self.feed_candidates(active)
        metrics.feed_candidates(candidates)
        is_feed = wants_feed & (candidates > 0)  # an empty feed sends the user to search
        metrics.add("feed_sessions", int(is_feed.sum()))
        metrics.add("search_sessions", int((~is_feed).sum()))
        feed_users, search_users = active[is_feed], active[~is_feed]
        # search queries: a category's name, the category drawn from the user's taste
        logits = 2.0 * (world.user_taste[search_users] @ world.category_taste.T).astype(np.float64)
        query_category = (streams.gumbel_argmax("query", day, logits, search_users)
                          if len(search_users) else np.empty(0, dtype=np.int64))
        queries = [world.category_query[q] for q in query_category.tolist()]
        self.last_sessions = {"day": day, "now": self.now(day), "feed_users": feed_users,
                              "search_users": search_users, "queries": queries}
        feed = self._feed_slates(feed_users, day)
        self.timings["feed"] += time.perf_counter() - t
        t = time.perf_counter()
        search = self._search_slates(search_users, queries)
        feed = self.exposure.expose(day, "feed", feed, cfg.feed_size)
        search = self.exposure.expose(day, "search", search, cfg.search_size)
        self.timings["search"] += time.perf_counter() - t

        users = np.concatenate([feed["user"], search["user"]])
        items = np.concatenate([feed["item"], search["item"]])
        ranks = np.concatenate([feed["rank"], search["rank"]])
        channel = np.concatenate([np.full(len(feed["user"]), _CHANNEL["feed"]),
                                  np.full(len(search["user"]), _CHANNEL["search"])])
        n_endorsing = np.concatenate([feed["n_endorsing"], search["n_endorsing"]])
        n_after_purchase = np.concatenate([feed["n_after_purchase"],
                                           np.zeros(len(search["user"]), dtype=np.int64)])
        exposing = np.concatenate([feed["exposing"], np.full(len(search["user"]), -1)])
        metrics.impressions(users, items, channel)
        if cfg.log_impressions and len(users):
            self.log.add("impression", day, len(users), user=users, item=items,
                         merchant=world.item_merchant[items], channel=channel, rank=ranks)

        # clicks and purchases
        z = world.z_utility(users, items)
        examined = (ranks + 1.0) ** -cfg.position_decay
        p_click = examined * _sigmoid(cfg.click_base + cfg.click_utility * z
                                      + cfg.click_social * np.log1p(n_endorsing)
                                      + cfg.click_bought * (n_after_purchase > 0))
        click = streams.uniform("click", day, users, items) < p_click
        click_user, click_item = users[click], items[click]
        click_channel, click_rank = channel[click], ranks[click]
        click_z, click_after_purchase = z[click], n_after_purchase[click]
        metrics.add("clicks", len(click_user))
        # attribution: the latest endorsement, among those the feed cited, behind a feed click
        parent = exposing[click]
        parent_eid = _take(self.endorsements["eid"], parent, -1)
        if len(click_user):
            self.log.add("click", day, len(click_user), user=click_user, item=click_item,
                         merchant=world.item_merchant[click_item], channel=click_channel,
                         rank=click_rank, ref=parent_eid)
            self._log_platform(click_user, click_item, "click", day)
        p_buy = _sigmoid(cfg.buy_base + cfg.buy_utility * click_z
                         + cfg.buy_bought * (click_after_purchase > 0))
        last = _lookup(self.last_buy, click_user, click_item)
        owned = last > 0
        if owned.any():  # buying an item again needs a need
            since = day - (last[owned] - _DAY_OFFSET)
            p_buy[owned] *= _need(since / world.item_cycle[click_item[owned]])
        buy = streams.uniform("buy", day, click_user, click_item) < p_buy
        metrics.session_buyers(click_user[buy])
        self.exposure.outcomes(day, users, items, ranks, click, buy)
        self._create_orders(click_user[buy], click_item[buy], day, click_channel[buy], parent[buy],
                            parent_eid[buy], phase=0)
        # clickers who did not buy: plain recommendation or a form
        no_buy = ~buy
        recommend = no_buy & (streams.uniform("recommend", day, click_user, click_item)
                              < cfg.recommend_rate * 2.0 * _sigmoid(click_z))
        form = no_buy & (streams.uniform("form", day, click_user, click_item) < cfg.form_rate)
        if form.any():
            self._forms(click_user[form], click_item[form], day)
        if recommend.any():
            self._endorse(click_user[recommend], click_item[recommend], _RECOMMEND,
                          parent[recommend], day)

    def feed_candidates(self, users: np.ndarray) -> np.ndarray:
        """Number of feed candidates of each user on the current day: distinct items that
        friends endorsed in a way the user may see (:mod:`haowurank.visibility`, through the
        product's feed index), less the items the user bought or endorsed."""
        counts = self.feed_index.graph.visible(users).counts()
        counts.data[:] = 1.0
        own = (self.own_endorsed[users] + self.last_buy[users]).tocsr()
        own.data[:] = 1.0
        overlap = counts.multiply(own).tocsr()
        return (np.diff(counts.indptr) - np.diff(overlap.indptr)).astype(np.int64)

    def _feed_slates(self, users: np.ndarray, day: int) -> dict[str, np.ndarray]:
        """The product's feed of each user: ``hr.feed`` on the platform's state of the day."""
        empty = np.empty(0, dtype=np.int64)
        if len(users) == 0:
            return {"user": empty, "item": empty, "rank": empty, "n_endorsing": empty,
                    "n_after_purchase": empty, "exposing": empty, "score": empty * 1.0}
        groups = ([(self.ranker, users, "")] if self.arms is None else
                  [(r, users[self.arms.of_user[users] == k], f"-arm{k}")
                   for k, r in enumerate(self.arm_rankers)])
        # the feed's rows as indices (FeedIndex.build_indices: no id columns to map back)
        pages = [self.feed_index.build_indices(
            ranker, group, n=self.exposure.pool_size(self.config.feed_size),
            config=self.feed_config, now=self.now(day), ranker_key=f"sim-fit-{self.fits}.{self.folds}{key}",
            batch_size=FEED_BATCH_SIZE,
        ) for ranker, group, key in groups if len(group)]
        page = pages[0] if len(pages) == 1 else _indices_in_user_order(pages, users)
        row_user, row_item = page["user"], page["item"]
        n_endorsing = np.diff(page["offsets"])
        row_of = np.repeat(np.arange(len(row_user), dtype=np.int64), n_endorsing)
        flat_endorser = page["endorser"]
        flat_after_purchase = page["kind"] == _KIND_CODE["recommend_after_purchase"]
        n_after_purchase = np.bincount(row_of[flat_after_purchase], minlength=len(row_user))
        # serial of each cited endorsement (its kind as the feed reports it); the latest per row
        serial = np.where(
            flat_after_purchase,
            _lookup(self.endorsement_serial[_AFTER_PURCHASE], flat_endorser, row_item[row_of]),
            _lookup(self.endorsement_serial[_RECOMMEND], flat_endorser, row_item[row_of]),
        )
        exposing = np.zeros(len(row_user), dtype=np.float64)
        np.maximum.at(exposing, row_of, serial)
        return {"user": row_user, "item": row_item,
                "rank": page["rank"] - 1,
                "n_endorsing": n_endorsing, "n_after_purchase": n_after_purchase.astype(np.int64),
                "exposing": exposing.astype(np.int64) - 1,
                "score": page["score"]}

    def _search_slates(self, users: np.ndarray, queries: list[str]) -> dict[str, np.ndarray]:
        """The product's search for each user's query: ``hr.search`` on the day's state
        (:meth:`~haowurank.search.SearchIndex.query_indices`: the rows of ``query_many``, which
        equals one ``query`` per user, as indices)."""
        empty = np.empty(0, dtype=np.int64)
        if len(users) == 0:
            return {"user": empty, "item": empty, "rank": empty, "n_endorsing": empty,
                    "score": empty * 1.0}
        hits = self.search_index.query_indices(
            queries, users, n=self.exposure.pool_size(self.config.search_size))
        return {"user": users[hits["query"]], "item": hits["item"], "rank": hits["rank"] - 1,
                "n_endorsing": hits["n_friend_recommenders"], "score": hits["score"]}

    # ------------------------------------------------------------------ orders
    def _create_orders(self, users, items, day, channel, parent, ref_eid, *, phase: int) -> None:
        n = len(users)
        if n == 0:
            return
        cfg, world, streams, metrics = self.config, self.world, self.streams, self.metrics
        merchants = world.item_merchant[items]
        quantity = 1 + (streams.uniform("qty", day, users, items, phase) < 0.15)
        amount = np.round(world.price[items] * quantity, 2)
        repurchase = _lookup(self.last_buy, users, items) > 0
        # the same user and item twice in one batch: the second is a repurchase too
        repurchase |= ~_first_of_each(users * self.n_items + items)
        eids = self.log.next_ids(n)  # an order's id is the id of its "pay" event
        source = world.merchant_platform[merchants]
        self.log.add("pay", day, n, user=users, item=items, merchant=merchants, amount=amount,
                     source=source, channel=channel, ref=ref_eid, order_id=eids)
        ship_delay = streams.geometric("ship", day, cfg.ship_delay_mean, users, items, phase)
        transit = streams.geometric("transit", day, cfg.transit_mean, users, items, phase)
        cancel = streams.uniform("cancel", day, users, items, phase) < cfg.cancel_rate
        ship = np.where(cancel, -1, day + ship_delay)
        deliver = np.where(cancel, -1, day + ship_delay + transit)
        refund = np.where(cancel, day + 1, -1)
        idx = self.orders.append(user=users, item=items, merchant=merchants, day=np.full(n, day),
                                 amount=amount, eid=eids, parent=parent, ship=ship,
                                 deliver=deliver, refund=refund, satisfied=np.full(n, -1),
                                 refunded=np.zeros(n, dtype=bool))
        self._schedule(ship[~cancel], "ship", idx[~cancel])
        self._schedule(deliver[~cancel], "deliver", idx[~cancel])
        self._schedule(refund[cancel], "refund", idx[cancel])
        metrics.orders(users, items, merchants, amount, channel, repurchase)
        self._log_platform(users, items, "purchase", day, order_id=eids,
                           source=world.platforms[source], amount=amount)
        bought = _csr(users, items, np.full(n, day + _DAY_OFFSET), self.shape, combine="max")
        self.last_buy = self.last_buy.maximum(bought).tocsr()
        # follow the merchant's service account: the long-term channel
        follow_key = users * self.n_merchants + merchants
        already = self.follows.contains(follow_key)
        new_follow = ~already & (streams.uniform("follow", day, users, merchants, phase)
                                 < cfg.follow_rate)
        keys, first = np.unique(follow_key[new_follow], return_index=True)
        if len(keys):
            fu, fm = users[new_follow][first], merchants[new_follow][first]
            self.log.add("follow", day, len(fu), user=fu, merchant=fm)
            self.follows.add(keys)
            metrics.add("follows", len(fu))
        # quota sources: the payment (template regime) or opt-ins (subscription regime); under
        # templates a follower may also be asked to opt in through the service account
        if self.template_regime:
            self._sources(PAY, users, items, merchants, eids, day, order=idx, deliver=deliver)
            follower = already | new_follow
            if follower.any():
                self._optins(users[follower], items[follower], merchants[follower], day,
                             order=idx[follower], phase=phase)
        else:
            self._optins(users, items, merchants, day, order=idx, phase=phase)

    def _forms(self, users, items, day) -> None:
        merchants = self.world.item_merchant[items]
        eids = self.log.next_ids(len(users))  # a form's id is the id of its "form" event
        self.log.add("form", day, len(users), user=users, item=items, merchant=merchants,
                     form_id=eids)
        self.metrics.add("forms", len(users))
        self._log_platform(users, items, "form", day)
        if self.template_regime:
            self._sources(FORM, users, items, merchants, eids, day, order=np.full(len(users), -1))
        else:
            self._optins(users, items, merchants, day, order=np.full(len(users), -1), phase=2)

    def _optins(self, users, items, merchants, day, *, order, phase) -> None:
        asks = OPTIN_ASKS[self.policy[merchants]]
        slot = np.arange(int(OPTIN_ASKS.max()))
        accepted = (self.streams.uniform("optin", day, users[:, None], items[:, None],
                                         slot[None, :], phase)
                    < self.config.optin_rate) & (slot[None, :] < asks[:, None])
        rows, _ = np.nonzero(accepted)
        if len(rows) == 0:
            return
        users, items, merchants = users[rows], items[rows], merchants[rows]
        eids = self.log.next_ids(len(rows))  # an opt-in's id is the id of its "subscribe" event
        self.log.add("subscribe", day, len(rows), user=users, item=items, merchant=merchants,
                     optin_id=eids)
        self.metrics.add("optins", len(rows))
        self._sources(SUB, users, items, merchants, eids, day, order=order[rows])

    def _sources(self, kind, users, items, merchants, eids, day, *, order, deliver=None) -> None:
        """Register quota sources (a payment, a form or an opt-in) and the merchants' plans."""
        n = len(users)
        if n == 0:
            return
        window = QUOTA_WINDOW[kind]
        until = np.full(n, _NEVER) if window is None else np.full(n, day + window)
        idx = self.sources.append(kind=np.full(n, kind), user=users, item=items,
                                  merchant=merchants, day=np.full(n, day), eid=eids,
                                  remaining=np.full(n, QUOTA_LIMIT[kind]), until=until,
                                  order=order)
        self.metrics.add("quota_granted", n * QUOTA_LIMIT[kind])
        policy = self.policy[merchants]
        if not (policy != POLICIES.index("none")).any():
            return
        draw = self.streams.uniform("marketing", day, users[:, None], items[:, None],
                                    np.arange(3)[None, :] + 3 * kind)
        src, send_day, template, marketing = plan(
            policy, kind, np.full(n, day), self.world.item_cycle[items], deliver, draw,
            self.config.marketing_rate)
        if kind == SUB and self.template_regime:
            # an opt-in through the service account carries messages beyond the template window
            send_day = np.maximum(send_day, day + PAYMENT_WINDOW_DAYS)
        if self.messaging_done:  # proposals for today made after the message phase wait a day
            send_day = np.where(send_day <= day, day + 1, send_day)
        if kind != SUB:
            ok = send_day < until[src]
            src, send_day, template, marketing = src[ok], send_day[ok], template[ok], marketing[ok]
        if len(src) == 0:
            return
        order_ = np.argsort(send_day, kind="stable")
        src, send_day, template, marketing = (a[order_] for a in (src, send_day, template, marketing))
        keep = send_day < self.config.days
        src, send_day, template, marketing = src[keep], send_day[keep], template[keep], marketing[keep]
        cut = np.flatnonzero(np.diff(send_day)) + 1
        for s, d, t, mk in zip(np.split(src, cut), np.split(send_day, cut), np.split(template, cut),
                               np.split(marketing, cut)):
            if len(s):
                self.calendar[int(d[0])]["msg"].append((idx[s], t, mk))

    # ------------------------------------------------------------------ endorsements
    def _endorse(self, users, items, kind, parent, day, *, order_eid=None) -> None:
        n = len(users)
        if n == 0:
            return
        key = (users * self.n_items + items) * 2 + kind
        done = (_lookup(self.own_endorsed, users, items).astype(np.int64) & (1 << kind)) > 0
        done |= self.pending_keys.contains(key)
        ok = ~done & _first_of_each(key)
        if not ok.any():
            return
        users, items, parent, key = users[ok], items[ok], np.asarray(parent)[ok], key[ok]
        if order_eid is not None:
            order_eid = np.asarray(order_eid)[ok]
        n = len(users)
        visibility = np.where(self.streams.uniform("visibility", day, users, items, kind)
                              < self.config.public_share, _V_PUBLIC, _V_FRIENDS)
        e = self.endorsements
        has_parent = parent >= 0
        cascade = _take(e["cascade"], parent, -1)
        depth = np.where(has_parent, _take(e["depth"], parent, -1) + 1, 0)
        ref = _take(e["eid"], parent, -1)
        kind_name = _ENDORSEMENT_KIND_NAME[kind]
        eids = self.log.next_ids(n)
        serial = np.arange(e.n, e.n + n)
        root = np.where(has_parent, cascade, serial)
        root_eid = np.where(has_parent, _take(e["eid"], cascade, -1), eids)
        cols = dict(user=users, item=items, merchant=self.world.item_merchant[items], ref=ref,
                    visibility=visibility, depth=depth, cascade=root_eid)
        if order_eid is not None:
            cols["order_id"] = order_eid
        self.log.add(kind_name, day, n, **cols)
        e.append(user=users, item=items, kind=np.full(n, kind), vis=visibility,
                 day=np.full(n, day), eid=eids, parent=parent, cascade=root, depth=depth,
                 size=np.ones(n), maxdepth=np.zeros(n))
        np.add.at(e.column("size"), root[has_parent], 1)
        np.maximum.at(e.column("maxdepth"), root[has_parent], depth[has_parent])
        self.pending_endorsements.append(serial)
        self.pending_keys.add(key)
        self.metrics.endorsements(kind, has_parent)
        self._log_platform(users, items, kind_name, day, visibility=visibility)

    def _apply_endorsements(self, serial: np.ndarray) -> None:
        """Record the day's endorsements as the endorsers' own (the platform logs them too)."""
        if len(serial) == 0:
            return
        e = self.endorsements
        users, items = e["user"][serial], e["item"][serial]
        kinds = e["kind"][serial].astype(np.int64)
        own = _csr(users, items, (1 << kinds).astype(np.float64), self.shape)
        self.own_endorsed = (self.own_endorsed + own).tocsr()
        for k in (_RECOMMEND, _AFTER_PURCHASE):
            s = kinds == k
            if s.any():
                new = _csr(users[s], items[s], serial[s] + 1.0, self.shape, combine="max")
                self.endorsement_serial[k] = self.endorsement_serial[k].maximum(new).tocsr()

    # ------------------------------------------------------------------ messages
    def _messages(self, day: int) -> None:
        proposals = (self.calendar.get(day) or {}).pop("msg", None)
        self.messaging_done = True
        metrics, sources = self.metrics, self.sources
        metrics.quota_available(self._quota_available(day))
        self.calendar.pop(day, None)
        if not proposals:
            return
        src = np.concatenate([p[0] for p in proposals])
        template = np.concatenate([p[1] for p in proposals])
        marketing = np.concatenate([p[2] for p in proposals])
        if self.adapted.any():  # an adapted merchant's planned messages carry no marketing
            marketing = marketing & ~self.adapted[self.sources["merchant"][src]]
        order = np.lexsort((template, src))
        src, template, marketing = src[order], template[order], marketing[order]
        kind = sources["kind"][src].astype(np.int64)
        users, items = sources["user"][src], sources["item"][src]
        merchants = sources["merchant"][src]
        follow_key = users * self.n_merchants + merchants
        # templates only while they are in force; opt-ins (one-time subscription messages)
        # always, those taken while templates are in force came through the service account
        regime_ok = (kind == SUB) | self.template_regime
        window_ok = (day >= sources["day"][src]) & (day < sources["until"][src])
        ban_ok = day >= self.ban_until[merchants]
        template_ok = ~self.template_removed[merchants, template]
        optout_ok = ~self.optouts.contains(follow_key)
        follow_ok = (kind == SUB) | (not self.config.messages_require_follow) | self.follows.contains(
            follow_key)
        ok = regime_ok & window_ok & ban_ok & template_ok & optout_ok & follow_ok
        # quota ledger: at most `remaining` of each source, in proposal order
        group_start = np.searchsorted(src[ok], src[ok], side="left")
        rank = np.arange(int(ok.sum())) - group_start
        within = rank < sources["remaining"][src[ok]]
        send = np.zeros(len(src), dtype=bool)
        send[np.flatnonzero(ok)[within]] = True
        passed = regime_ok & window_ok
        metrics.blocked(regime=~passed, ban=passed & ~ban_ok,
                        template=passed & ban_ok & ~template_ok,
                        optout=passed & ban_ok & template_ok & ~optout_ok,
                        follow=passed & ban_ok & template_ok & optout_ok & ~follow_ok,
                        quota=ok & ~send)
        if not send.any():
            return
        src, template, marketing, kind, users, items, merchants = (
            a[send] for a in (src, template, marketing, kind, users, items, merchants))
        np.subtract.at(sources.column("remaining"), src, 1)
        source_eid = sources["eid"][src]
        n = len(src)
        order_idx = sources["order"][src]
        has_order = order_idx >= 0
        order_id = np.where(kind == PAY, source_eid, -1)
        order_id = np.where(has_order, _take(self.orders["eid"], order_idx, -1), order_id)
        message_ids = self.log.add(
            "message", day, n, user=users, item=items, merchant=merchants, ref=source_eid,
            quota=kind, template=template, marketing=marketing, order_id=order_id,
            form_id=np.where(kind == FORM, source_eid, -1),
            optin_id=np.where(kind == SUB, source_eid, -1),
        )
        metrics.messages(n, int(marketing.sum()))
        # annoyance: messages from this merchant to this user in the last 7 days
        keys = users * self.n_merchants + merchants
        recent = [self.messages_by_day[d] for d in range(day - 6, day) if d in self.messages_by_day]
        prior = np.concatenate(recent) if recent else np.empty(0, dtype=np.int64)
        prior.sort()
        n_prior = (np.searchsorted(prior, keys, side="right")
                   - np.searchsorted(prior, keys, side="left"))
        key_order = np.argsort(keys, kind="stable")
        sorted_keys = keys[key_order]
        earlier_today = np.empty(n, dtype=np.int64)
        earlier_today[key_order] = np.arange(n) - np.searchsorted(sorted_keys, sorted_keys,
                                                                  side="left")
        in_7_days = n_prior + earlier_today + 1
        self.messages_by_day[day] = keys.copy()
        self.messages_by_day.pop(day - 7, None)
        cfg, streams = self.config, self.streams
        p_optout = _sigmoid(cfg.optout_base + cfg.optout_per_message * (in_7_days - 1)
                            + 1.0 * marketing)
        p_complaint = _sigmoid(cfg.complaint_base + cfg.optout_per_message * (in_7_days - 1)
                               + cfg.complaint_marketing * marketing)
        optout = streams.uniform("optout", day, users, merchants, template) < p_optout
        complaint = streams.uniform("complaint", day, users, merchants, template) < p_complaint
        # a response: a (re)purchase of the item, most likely at its repurchase time
        z = self.world.z_utility(users, items)
        last = _lookup(self.last_buy, users, items)
        need = np.where(last > 0, _need((day - (last - _DAY_OFFSET)) / self.world.item_cycle[items]),
                        0.6)
        satisfied = np.where(has_order, _take(self.orders["satisfied"], order_idx, -1), -1)
        refunded = has_order & _take(self.orders["refunded"], order_idx, False)
        satisfaction = np.where(satisfied == 1, 1.0, np.where(satisfied == 0, 0.1, 0.5))
        satisfaction = np.where(refunded, 0.05, satisfaction)
        p_response = (cfg.message_response * need * satisfaction * 2.0 * _sigmoid(z)
                      * np.where(marketing, 1.2, 1.0))
        respond = ~optout & ~complaint & ~self.churned[users] & (
            streams.uniform("response", day, users, items, template) < np.minimum(p_response, 1.0))
        self.exposure.messages(day, users, items, respond)
        if complaint.any():
            self.log.add("complaint", day, int(complaint.sum()), user=users[complaint],
                         item=items[complaint], merchant=merchants[complaint],
                         ref=message_ids[complaint], template=template[complaint],
                         marketing=marketing[complaint])
        optout_keys = keys[optout]
        new_optout = ~self.optouts.contains(optout_keys)
        n_new_optouts = 0
        if new_optout.any():
            unique_keys, first = np.unique(optout_keys[new_optout], return_index=True)
            sel = np.flatnonzero(optout)[new_optout][first]
            self.log.add("opt_out", day, len(sel), user=users[sel], merchant=merchants[sel],
                         ref=message_ids[sel])
            self.optouts.add(unique_keys)
            n_new_optouts = len(unique_keys)
        metrics.add("complaints", int(complaint.sum()))
        metrics.add("opt_outs", n_new_optouts)
        self._consequences(day, users, keys // self.n_merchants, complaint, message_ids)
        ru, ri = users[respond], items[respond]
        first = _first_of_each(ru * self.n_items + ri)  # one repurchase per item and day
        n_first = int(first.sum())
        self._create_orders(ru[first], ri[first], day, np.full(n_first, _CHANNEL["message"]),
                            np.full(n_first, -1), message_ids[respond][first], phase=1)
        # marketing content caught by a complaint or the audit -> penalties
        caught = marketing & (complaint | (streams.uniform("audit", day, users, merchants, template)
                                           < cfg.audit_rate))
        if caught.any():
            caught_merchants, first_pos = np.unique(merchants[caught], return_index=True)
            sel = np.flatnonzero(caught)[first_pos]
            self._penalise(caught_merchants, template[sel], message_ids[sel], day)

    def _consequences(self, day, users, user_keys, complaint, message_ids) -> None:
        """Fatigue and complaints lower the recipients' activity; a complaint may churn."""
        cfg, metrics = self.config, self.metrics
        # messages each user received in the last 7 days (all merchants), this one included
        recent = [self.messages_by_day[d] // self.n_merchants
                  for d in range(day - 6, day + 1) if d in self.messages_by_day]
        received = np.sort(np.concatenate(recent)) if recent else np.empty(0, dtype=np.int64)
        order = np.argsort(user_keys, kind="stable")
        rank_today = np.empty(len(users), dtype=np.int64)
        sorted_users = user_keys[order]
        rank_today[order] = np.arange(len(users)) - np.searchsorted(sorted_users, sorted_users,
                                                                    side="left")
        today = np.searchsorted(sorted_users, user_keys, side="right") - np.searchsorted(
            sorted_users, user_keys, side="left")
        in_window = (np.searchsorted(received, user_keys, side="right")
                     - np.searchsorted(received, user_keys, side="left"))
        nth = in_window - today + rank_today + 1  # this message is the user's nth in 7 days
        tiring = nth > cfg.fatigue_free_messages
        factor = np.where(tiring, 1.0 - cfg.fatigue_activity_drop, 1.0)
        factor = np.where(complaint, factor * (1.0 - cfg.complaint_activity_drop), factor)
        np.multiply.at(self.activity, users, factor)
        leave = complaint & ~self.churned[users] & (
            self.streams.uniform("churn", day, users, message_ids) < cfg.churn_per_complaint)
        n_gone = 0
        if leave.any():
            gone, first = np.unique(users[leave], return_index=True)
            self.log.add("churn", day, len(gone), user=gone, ref=message_ids[leave][first])
            self.churned[gone] = True
            self.activity[gone] = 0.0
            n_gone = len(gone)
        metrics.add("churned", n_gone)
        metrics.add("fatigued_messages", int(tiring.sum()))

    def _penalise(self, merchants, templates, message_eids, day) -> None:
        level = np.minimum(self.penalty_level[merchants], len(PENALTY_LADDER) - 1)
        active = self.penalty_level[merchants] < len(PENALTY_LADDER)
        merchants, templates, message_eids, level = (
            a[active] for a in (merchants, templates, message_eids, level))
        if len(merchants) == 0:
            return
        self.penalty_level[merchants] += 1
        penalty_eids = self.log.add("penalty", day, len(merchants), merchant=merchants,
                                    template=templates, penalty=level, ref=message_eids)
        for merchant, template, lvl in zip(merchants.tolist(), templates.tolist(), level.tolist()):
            ban = PENALTY_BAN_DAYS[lvl]
            if lvl == 0:
                self.template_removed[merchant, template] = True
            elif ban is None:
                self.ban_until[merchant] = _NEVER
            else:
                self.ban_until[merchant] = max(self.ban_until[merchant], day + 1 + ban)
        self.metrics.add("penalties", len(merchants))
        self._adapt(merchants, penalty_eids, day)

    def _adapt(self, merchants, penalty_eids, day) -> None:
        """Merchants penalised ``adapt_after_penalties`` times switch to ``adapt_policy``."""
        cfg = self.config
        if not cfg.adapt_after_penalties:
            return
        turn = (self.penalty_level[merchants] >= cfg.adapt_after_penalties) & ~self.adapted[merchants]
        if not turn.any():
            return
        merchants, penalty_eids = merchants[turn], penalty_eids[turn]
        self.policy[merchants] = POLICIES.index(cfg.adapt_policy)
        self.adapted[merchants] = True
        self.log.add("adapt", day, len(merchants), merchant=merchants, ref=penalty_eids)
        self.metrics.add("merchants_adapted", len(merchants))

    def _quota_available(self, day: int) -> int:
        s = self.sources
        if len(s) == 0:
            return 0
        live = (s["remaining"] > 0) & (s["day"] <= day) & (s["until"] > day)
        live &= (s["kind"] == SUB) | self.template_regime
        return int(s["remaining"][live].sum())

    # ------------------------------------------------------------------ end of day
    def _end_of_day(self, day: int) -> None:
        if self.pending_endorsements:
            self._apply_endorsements(np.concatenate(self.pending_endorsements))
            self.pending_endorsements = []
            self.pending_keys = _Keys()
        t = time.perf_counter()
        cols = self.platform_log.take()
        rows = None
        if cols is not None:
            self._platform_rows.append(cols)
            if self.config.fold_in:  # partial_fit_users reads the rows with caller ids
                rows = _PlatformLog.frame(cols, self._platform.user_ids, self._platform.item_ids)
            product = np.isin(cols["kind"], [_KIND_CODE[k] for k in PRODUCT_KINDS])
            if product.any():
                self._product_state = _append_rows(
                    self._product_state, {k: v[product] for k, v in cols.items()},
                    left_out=_UNREAD_COLUMNS)
        self.timings["platform_log"] += time.perf_counter() - t
        self.metrics.merchant_state(self.ban_until, self.penalty_level, day)
        every = self.config.refit_every
        if every and (day + 1) % every == 0 and day + 1 < self.config.days:
            self.refit(day)
        elif self.config.fold_in and rows is not None and day + 1 < self.config.days:
            self.fold_in(rows, day)


def _need(x: np.ndarray) -> np.ndarray:
    """Repurchase need at ``x`` = days since purchase / cycle: 1 at x = 1, log-normal bump."""
    lx = np.log(np.maximum(np.asarray(x, dtype=np.float64), 1e-3))
    return np.exp(-(lx ** 2) / (2 * 0.45 ** 2))


def _indices_in_user_order(pages: list[dict[str, np.ndarray]],
                           users: np.ndarray) -> dict[str, np.ndarray]:
    """Feed rows of several arms' pages (``FeedIndex.build_indices``) in the order of
    ``users`` (each user's rows kept in their page order), as one page over all users lists
    them, with their endorsers."""
    lens = np.concatenate([np.diff(p["offsets"]) for p in pages])
    start = np.concatenate([p["offsets"][:-1] + base for p, base in zip(
        pages, np.cumsum([0] + [len(p["endorser"]) for p in pages[:-1]]))])
    row = {k: np.concatenate([p[k] for p in pages]) for k in ("user", "item", "score", "rank")}
    flat = {k: np.concatenate([p[k] for p in pages]) for k in ("endorser", "kind")}
    position = np.empty(int(users.max()) + 1, dtype=np.int64)
    position[users] = np.arange(len(users))
    order = np.argsort(position[row["user"]], kind="stable")
    out = {k: v[order] for k, v in row.items()}
    lens, start = lens[order], start[order]
    out["offsets"] = np.r_[0, np.cumsum(lens)].astype(np.int64)
    at = np.repeat(start - (out["offsets"][:-1]), lens) + np.arange(int(lens.sum()))
    out.update({k: v[at] for k, v in flat.items()})
    return out


def run_engine(
    config: SimulationConfig,
    world: World,
    *,
    show_progress: bool = False,
    callback: Callable[[int, dict], Any] | None = None,
    arms: Any = None,
) -> Engine:
    """Run all days; returns the engine (state, log, metrics). ``arms``: per-user rankers
    (:func:`haowurank.sim._ab.resolve_arms`) or None."""
    engine = Engine(config, world, arms)
    bar = None
    if show_progress:
        from .._progress import tqdm

        bar = tqdm(total=config.days, desc=f"sim {config.name}", unit="day")
    try:
        for day in range(config.days):
            row = engine.step(day)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(orders=int(row["orders"]), gmv=f"{row['gmv']:.0f}")
            if callback is not None and callback(day, dict(row)) is False:
                log.info("simulation stopped by the callback after day %d", day)
                break
    finally:
        if bar is not None:
            bar.close()
    return engine
