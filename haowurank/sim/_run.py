"""``run``: one simulation; ``SimulationResult``: its daily metrics, event log and Parquet export."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._atomic import atomic_dir, has_manifest
from .._dataset import Dataset
from ._ab import per_user_frame, resolve_arms
from ._config import SimulationConfig
from ._engine import run_engine
from ._events import EVENT_COLUMNS
from ._messaging import check_quotas
from ._metrics import summarise
from ._world import World, make_dataset

__all__ = ["SimulationResult", "run"]

log = logging.getLogger(__name__)
_FORMAT = "haowurank.SimulationResult"
_FORMAT_VERSION = 1


@dataclass(eq=False)
class SimulationResult:
    """What a run produced.

    Attributes
    ----------
    config : SimulationConfig
    daily : DataFrame
        One row per simulated day (see :mod:`haowurank.sim._metrics` for every column).
    events : DataFrame
        One row per event, in chronological order, with columns :data:`EVENT_COLUMNS`:
        ``event_id``, ``day``, ``type``, ``user``, ``item``, ``merchant``, ``order_id``,
        ``form_id``, ``optin_id``, ``ref``, ``template``, ``quota``, ``penalty``, ``marketing``,
        ``source``, ``channel``, ``visibility``, ``amount``, ``cascade``, ``depth``, ``rank``.
        Ids are integers, -1 where absent. An order's id is the ``event_id`` of its "pay" row
        (also its ``order_id``); ship / deliver / refund rows carry it. A form's id is its
        "form" row's ``event_id`` (``form_id``), an opt-in's its "subscribe" row's
        (``optin_id``). A "message" row's ``ref`` is the order, form or opt-in id whose quota
        it uses (``quota`` says which). ``ref`` of a click, pay or endorsement row is the
        endorsement (or, for ``channel == "message"``, the message) that led to it; ``cascade``
        is the id of an endorsement's cascade root and ``depth`` its distance from it.
    initial_endorsements : DataFrame
        Endorsements of the world before day 0 (``id`` below ``first_event_id``), which
        ``ref`` and ``cascade`` may point to.
    first_event_id : int
    world : dict
        Sizes of the world and merchants per messaging policy.
    timings : dict
        Seconds spent per phase (``fit``, ``scoring``, ``sessions``, ...) and in total.
    impressions : DataFrame or None
        With ``config.log_impressions``: one row per item shown, sorted by ``slate`` and
        ``position`` (columns :data:`~haowurank.sim.IMPRESSION_COLUMNS`): ``slate`` (id of the
        slate: one feed page, one search result page or one message), ``day``, ``user``,
        ``item``, ``surface`` ("feed", "search" or "message"), ``position`` (0-based slot),
        ``score`` (the product's score of the item, NaN for a message), ``propensity`` (the
        probability that the run's exposure policy filled slots ``0..position`` of this slate
        with exactly the items shown there, given the slate's candidates: the product of
        ``slot_propensity`` down to this slot; 1 under the deterministic policy and for
        messages), ``slot_propensity`` (the probability of this item in this slot given the
        items above it), ``click`` and ``order`` (the user clicked; the click led to an order;
        for a message both are the response, a purchase). None otherwise.
    candidates : DataFrame or None
        With ``config.log_impressions``: the pool each slate was drawn from, one row per
        candidate (columns :data:`~haowurank.sim.CANDIDATE_COLUMNS`): ``slate``, ``item``,
        ``score`` and ``pool_rank`` (0-based position in the product's order). Under the
        deterministic policy the pool is the slate.
    per_user : DataFrame or None
        One row per user of the world, in its user order (columns
        :data:`~haowurank.sim.PER_USER_COLUMNS`): ``user``, ``arm`` (the user's arm, or the
        run's strategy when the run had no arms), ``clicks``, ``orders``, ``gmv``,
        ``refund_amount``, ``net_gmv`` and ``endorsements`` over the run's days, counted from
        ``events``. None for a result read from a folder written without it.
    arms : dict or None
        With per-user arms: arm name -> ``{"strategy": ..., "strategy_params": ...}``; ``ranker``
        is then a dict arm name -> fitted ranker.
    """

    config: SimulationConfig
    daily: pd.DataFrame
    events: pd.DataFrame
    initial_endorsements: pd.DataFrame
    first_event_id: int
    world: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    ranker: Any = None
    impressions: pd.DataFrame | None = None
    candidates: pd.DataFrame | None = None
    per_user: pd.DataFrame | None = None
    arms: dict | None = None

    def summary(self) -> dict[str, float]:
        """Run-level metrics (totals and ratios of totals, see ``SUMMARY_METRICS``)."""
        return summarise(self.daily)

    def check_quotas(self) -> pd.DataFrame:
        """Violations of the messaging rules found in ``events`` (empty frame: none)."""
        return check_quotas(
            self.events, subscription_from_day=self.config.subscription_from_day,
            require_follow=self.config.messages_require_follow,
        )

    def orders(self) -> pd.DataFrame:
        """The synced order log: one row per order with its lifecycle days and refund."""
        ev = self.events
        t = ev["type"]
        pay = ev[t == "pay"][["order_id", "day", "user", "item", "merchant", "source", "amount",
                              "channel"]].rename(columns={"day": "paid_day"})
        for what in ("ship", "deliver", "refund"):
            d = ev[t == what][["order_id", "day"]].rename(columns={"day": f"{what}_day"})
            pay = pay.merge(d.drop_duplicates("order_id"), on="order_id", how="left")
        status = np.where(pay["refund_day"].notna(), "refunded",
                          np.where(pay["deliver_day"].notna(), "delivered",
                                   np.where(pay["ship_day"].notna(), "shipped", "paid")))
        pay["status"] = status
        return pay.reset_index(drop=True)

    # ------------------------------------------------------------------ persistence
    def to_parquet(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write ``daily.parquet``, ``events.parquet``, ``initial_endorsements.parquet``
        (``impressions.parquet`` and ``candidates.parquet`` when impressions were logged) and
        ``meta.json`` (config, world, timings) to a folder, atomically (temporary folder, rename).

        An existing destination is replaced only when it is a simulation result or an empty
        folder; anything else raises ``FileExistsError`` unless ``overwrite=True``.
        """
        dest = Path(path)
        with atomic_dir(dest, owned=has_manifest(_FORMAT), overwrite=overwrite,
                        what="simulation result") as tmp:
            self.daily.to_parquet(tmp / "daily.parquet", index=False)
            self.events.to_parquet(tmp / "events.parquet", index=False)
            self.initial_endorsements.to_parquet(tmp / "initial_endorsements.parquet", index=False)
            if self.impressions is not None:
                self.impressions.to_parquet(tmp / "impressions.parquet", index=False)
            if self.candidates is not None:
                self.candidates.to_parquet(tmp / "candidates.parquet", index=False)
            if self.per_user is not None:
                self.per_user.to_parquet(tmp / "per_user.parquet", index=False)
            meta = {
                "format": _FORMAT, "format_version": _FORMAT_VERSION,
                "config": self.config.to_dict(), "first_event_id": self.first_event_id,
                "world": self.world, "timings": self.timings,
            }
            if self.arms is not None:
                meta["arms"] = self.arms
            (tmp / "meta.json").write_text(json.dumps(meta, indent=1, default=float))
        return dest

    @classmethod
    def read_parquet(cls, path: str | os.PathLike) -> SimulationResult:
        """Read a result written by :meth:`to_parquet` (no pickle involved)."""
        src = Path(path)
        meta_file = src / "meta.json"
        if not meta_file.is_file():
            raise FileNotFoundError(f"No simulation result at {src}: meta.json is missing.")
        meta = json.loads(meta_file.read_text())
        if meta.get("format") != _FORMAT or meta.get("format_version") != _FORMAT_VERSION:
            raise ValueError(
                f"{src} is not a simulation result of format version {_FORMAT_VERSION} "
                f"(found {meta.get('format')!r} version {meta.get('format_version')!r})."
            )
        return cls(
            config=SimulationConfig.from_dict(meta["config"]),
            daily=pd.read_parquet(src / "daily.parquet"),
            events=pd.read_parquet(src / "events.parquet"),
            initial_endorsements=pd.read_parquet(src / "initial_endorsements.parquet"),
            first_event_id=int(meta["first_event_id"]), world=meta.get("world", {}),
            timings=meta.get("timings", {}),
            impressions=(pd.read_parquet(src / "impressions.parquet")
                         if (src / "impressions.parquet").is_file() else None),
            candidates=(pd.read_parquet(src / "candidates.parquet")
                        if (src / "candidates.parquet").is_file() else None),
            per_user=(pd.read_parquet(src / "per_user.parquet")
                      if (src / "per_user.parquet").is_file() else None),
            arms=meta.get("arms"),
        )

    def __repr__(self) -> str:
        s = self.summary()
        return (
            f"SimulationResult({self.config.name}: {len(self.daily)} days, {len(self.events)} events, "
            f"{s['orders']:.0f} orders, GMV {s['gmv']:.0f}, {s['endorsements']:.0f} endorsements, "
            f"{s['messages_sent']:.0f} messages)"
        )


def run(
    config: SimulationConfig,
    *,
    dataset: Dataset | None = None,
    show_progress: bool = False,
    callback: Callable[[int, dict[str, float]], Any] | None = None,
    arms: Mapping[str, Any] | None = None,
    assignment: pd.Series | Sequence | np.ndarray | None = None,
) -> SimulationResult:
    """Simulate ``config.days`` days of the social-commerce circle.

    Parameters
    ----------
    config : SimulationConfig
    dataset : Dataset, optional
        The initial world; by default ``hr.datasets.synthetic(n_users, n_items,
        seed=world_seed or seed, **config.world_knobs())``. It must carry the synthetic ground truth.
    show_progress : bool
        A tqdm bar over days.
    callback : callable(day, metrics) or None
        Called after each day with that day's metrics (a dict); returning ``False`` stops the
        run early.
    arms : dict or None
        Per-user strategies inside one world (an A/B test): arm name -> a ranker name, or
        ``{"strategy": name, "strategy_params": {...}}``. Each user's feed is ranked by the
        ranker of the user's arm; everything else (friends, endorsements, purchases, merchants,
        messages, search, the platform's log that every arm's ranker is fitted on at the same
        refits) is shared, so an arm reaches the other arm's users through endorsements.
        ``config.strategy`` is then unused. None: ``config.strategy`` for every user.
    assignment : Series or array, required with ``arms``
        User id -> arm name for every user of the world (e.g. :func:`user_randomised` or
        :func:`cluster_randomised`), or an array of arm names in the world's user order.

    Returns
    -------
    SimulationResult

    Examples
    --------
    >>> import haowurank as hr
    >>> res = hr.sim.run(hr.sim.SimulationConfig(n_users=300, n_items=120, days=5, seed=1))
    >>> len(res.daily), bool(res.check_quotas().empty)
    (5, True)
    """
    if not isinstance(config, SimulationConfig):
        raise TypeError(f"run expects a SimulationConfig. Got {type(config).__name__}.")
    config.validate()
    if (arms is None) != (assignment is None):
        raise ValueError(
            "The 'arms' and 'assignment' parameters of hr.sim.run go together: give both or "
            f"neither. Got arms={'None' if arms is None else 'a value'} and "
            f"assignment={'None' if assignment is None else 'a value'}."
        )
    t0 = time.perf_counter()
    ds = make_dataset(config) if dataset is None else dataset
    resolved = None if arms is None else resolve_arms(arms, assignment, ds.user_ids)
    t_world = time.perf_counter() - t0
    world = World.from_dataset(ds, config)
    eng = run_engine(config, world, show_progress=show_progress, callback=callback,
                     arms=resolved)
    t1 = time.perf_counter()
    events = eng.log.frame(ds.user_ids, ds.item_ids, world.merchant_names, world.platforms)
    assert tuple(events.columns) == EVENT_COLUMNS
    e = eng.endorsements
    k0 = eng.first_event_id
    from ._events import _ids

    initial = pd.DataFrame({
        "id": np.arange(k0, dtype=np.int64),
        "user": _ids(ds.user_ids, e["user"][:k0]),
        "item": _ids(ds.item_ids, e["item"][:k0]),
        "kind": pd.Categorical.from_codes(e["kind"][:k0].astype(np.int64),
                                          categories=["recommend", "recommend_after_purchase"]),
        "day": e["day"][:k0],
        "reshares": e["size"][:k0] - 1,
    })
    impressions, candidates = eng.exposure.frames(ds.user_ids, ds.item_ids)
    per_user = per_user_frame(events, ds.user_ids, config.strategy if resolved is None
                              else np.asarray(resolved.names, dtype=object)[resolved.of_user],
                              user_index=eng.log.column("user"))
    timings = {k: round(v, 4) for k, v in eng.timings.items()}
    timings["world"] = round(t_world, 4)
    timings["frames"] = round(time.perf_counter() - t1, 4)
    timings["total"] = round(time.perf_counter() - t0, 4)
    return SimulationResult(
        config=config, daily=eng.metrics.frame(), events=events, initial_endorsements=initial,
        first_event_id=k0, world=world.summary(), timings=timings, ranker=eng.ranker,
        impressions=impressions, candidates=candidates, per_user=per_user,
        arms=None if resolved is None else resolved.to_dict(),
    )
