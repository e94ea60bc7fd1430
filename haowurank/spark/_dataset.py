"""The Spark-side dataset: the columns and validation rules of :class:`haowurank.Dataset`, with bad
rows reported (counted per rule, kept aside for inspection) instead of raising on the first one.

Tables hold the caller's own ids (never dense indices) so that they join with the caller's other
data; dense indices, needed only by Spark ML's ALS, are derived on demand by :meth:`user_index` /
:meth:`item_index` in the same sorted order as ``hr.Dataset``'s vocabularies.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from .._atomic import check_destination, has_manifest, write_text
from .._dataset import ENDORSEMENT_KINDS, KINDS, VISIBILITIES, Dataset
from .._errors import warn_data
from ._session import require_pyspark

require_pyspark()

from pyspark import StorageLevel  # noqa: E402
from pyspark.sql import Column, DataFrame, SparkSession  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402
from pyspark.sql import types as T  # noqa: E402

__all__ = ["SparkDataset"]

log = logging.getLogger(__name__)

_FORMAT = "haowurank.SparkDataset"
_FORMAT_VERSION = 1
_INTERACTION_COLUMNS = (
    "user", "item", "weight", "timestamp", "kind", "order_id", "source", "visibility", "amount",
)
_ITEM_COLUMNS = ("item", "title", "category", "merchant", "price", "searchable")
_INT_TYPES = (T.ByteType, T.ShortType, T.IntegerType, T.LongType)
_FLOAT_TYPES = (T.FloatType, T.DoubleType, T.DecimalType)
_DUPLICATE_POLICIES = ("sum", "max", "last", "raise")
_INF = float("inf")
_OPTIONAL_COLUMNS = ("order_id", "source", "amount")

#: Output schemas of the clean tables (ids typed per data set: long or string).
INTERACTION_FIELDS = (
    "user", "item", "kind", "weight", "timestamp", "visibility", "order_id", "source", "amount",
)


@dataclass
class _Rule:
    table: str
    column: str
    rule: str
    expect: str
    cond: Column
    action: str = "dropped"


@dataclass
class _Checked:
    """A table after type normalisation, with the rules to count."""

    frame: DataFrame
    rules: list[_Rule] = field(default_factory=list)
    id_kinds: dict[str, str] = field(default_factory=dict)
    cols: dict[str, Column] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# column normalisation: type checks raise (a wrong type is a schema error, not a bad row);
# value checks become rules
# --------------------------------------------------------------------------------------------

def _type_of(df: DataFrame, col: str) -> T.DataType:
    return df.schema[col].dataType


def _require_frame(obj: Any, name: str) -> DataFrame:
    if not isinstance(obj, DataFrame):
        raise TypeError(
            f"The '{name}' argument must be a pyspark.sql.DataFrame. Got {type(obj).__name__} "
            f"instead."
        )
    return obj


def _require_columns(df: DataFrame, name: str, required: tuple[str, ...]) -> None:
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(
            f"The '{name}' frame must have the column(s) {list(required)}; missing {missing}. "
            f"Found columns {df.columns}."
        )


def _id_column(df: DataFrame, table: str, col: str, out: _Checked) -> Column:
    """An id column as long or string; rules for missing, non-integral and empty ids."""
    dt = _type_of(df, col)
    c = F.col(col)
    where = f"'{col}' of {table}"
    out.rules.append(_Rule(table, col, "missing", "an id (int or str), not null/NaN", c.isNull()
                           | (F.isnan(c) if isinstance(dt, _FLOAT_TYPES) else F.lit(False))))
    if isinstance(dt, T.BooleanType):
        raise TypeError(f"The column {where} must hold int or str ids. Got booleans instead.")
    if isinstance(dt, _INT_TYPES):
        out.id_kinds[col] = "int"
        return c.cast("long")
    if isinstance(dt, _FLOAT_TYPES):
        out.id_kinds[col] = "int"
        cd = c.cast("double")
        out.rules.append(_Rule(
            table, col, "non_integral", "an integral id",
            c.isNotNull() & ~F.isnan(cd) & ((F.abs(cd) == _INF) | (cd != F.floor(cd))),
        ))
        return cd.cast("long")
    if isinstance(dt, T.StringType):
        out.id_kinds[col] = "str"
        out.rules.append(_Rule(table, col, "empty", "a non-empty id", c == F.lit("")))
        return c
    raise TypeError(f"The column {where} must hold int or str ids. Got Spark type {dt.simpleString()}.")


def _numeric(df: DataFrame, table: str, col: str) -> Column:
    dt = _type_of(df, col)
    if not isinstance(dt, _INT_TYPES + _FLOAT_TYPES):
        raise TypeError(
            f"The column '{col}' of {table} must be numeric. Got Spark type {dt.simpleString()}."
        )
    return F.col(col).cast("double")


def _positive(df: DataFrame, table: str, col: str, out: _Checked) -> Column:
    c = _numeric(df, table, col)
    out.rules.append(_Rule(
        table, col, "non_positive_or_non_finite", "finite and > 0",
        c.isNull() | F.isnan(c) | (F.abs(c) == _INF) | (c <= 0),
    ))
    return c


def _non_negative_or_null(df: DataFrame, table: str, col: str, out: _Checked) -> Column:
    """NaN and null both mean "not given" (as in hr.Dataset); negative or infinite is bad."""
    c = _numeric(df, table, col)
    out.rules.append(_Rule(
        table, col, "negative_or_non_finite", "finite and >= 0 (or missing)",
        c.isNotNull() & ~F.isnan(c) & ((F.abs(c) == _INF) | (c < 0)),
    ))
    return F.when(F.isnan(c), F.lit(None).cast("double")).otherwise(c)


def _category(df: DataFrame, table: str, col: str, allowed: tuple[str, ...], out: _Checked) -> Column:
    c = F.col(col).cast("string")
    out.rules.append(_Rule(
        table, col, "unknown_value", f"one of {list(allowed)}",
        c.isNull() | ~c.isin(*allowed),
    ))
    return c


def _timestamp(df: DataFrame, table: str, col: str, out: _Checked) -> Column:
    dt = _type_of(df, col)
    c = F.col(col)
    if isinstance(dt, _INT_TYPES):
        out.rules.append(_Rule(table, col, "missing", "int seconds or a datetime", c.isNull()))
        return c.cast("long")
    if isinstance(dt, _FLOAT_TYPES):
        cd = c.cast("double")
        out.rules.append(_Rule(
            table, col, "missing_or_non_finite", "finite seconds",
            c.isNull() | F.isnan(cd) | (F.abs(cd) == _INF),
        ))
        return F.floor(cd).cast("long")
    if isinstance(dt, T.TimestampType | T.TimestampNTZType | T.DateType):
        out.rules.append(_Rule(table, col, "missing", "int seconds or a datetime", c.isNull()))
        # naive datetimes are read as UTC (the session time zone set by spark_session)
        return F.unix_seconds(c.cast("timestamp"))
    raise TypeError(
        f"The column '{col}' of {table} must hold int seconds or timestamps. Got Spark type "
        f"{dt.simpleString()}."
    )


def _unify(kinds: list[tuple[str, str]], what: str) -> str:
    found = {k for _, k in kinds}
    if len(found) > 1:
        detail = ", ".join(f"{name}: {k}" for name, k in kinds)
        raise TypeError(f"All {what} ids must be of one type (all int or all str). Found {detail}.")
    return found.pop() if found else "int"


# --------------------------------------------------------------------------------------------
# the dataset
# --------------------------------------------------------------------------------------------

class SparkDataset:
    """Validated social-commerce tables in Spark, with the columns of :class:`haowurank.Dataset`.

    Build it with :meth:`from_frames`, :meth:`from_parquet` or :meth:`from_dataset`.

    Attributes
    ----------
    spark : SparkSession
    interactions : pyspark DataFrame
        ``user, item, kind, weight, timestamp, visibility, order_id, source, amount``; kinds and
        visibilities as strings, timestamps as int seconds (0 when none were given), one row per
        (user, item, kind, order_id) after merging duplicates.
    social : pyspark DataFrame
        ``user, friend, weight``: ``user`` follows ``friend``; one row per pair.
    blocks : pyspark DataFrame
        ``user, blocked``: ``user`` never sees what ``blocked`` endorsed.
    audiences : pyspark DataFrame
        ``user, item, viewer``: the endorsement of ``item`` by ``user`` is limited to the listed
        viewers (who must also pass the visibility rule); one row per triple.
    items : pyspark DataFrame
        ``item, title, category, merchant, price, searchable`` for items given in the item
        metadata (items known only from interactions have no row; :meth:`item_index` covers all).
    report : pandas DataFrame
        One row per validation rule that matched: ``table, column, rule, expected, rows,
        example, action`` (``action`` is ``"dropped"`` for bad rows, ``"merged"`` for
        duplicates). Empty when the input was clean.
    has_timestamps : bool
    optional_columns : tuple of str or None
        Which of ``order_id``, ``source``, ``amount`` the input interactions had (the tables
        always carry all three, null where not given); :meth:`to_dataset` keeps exactly these,
        as ``hr.Dataset`` keeps a given column even when all its values are missing. ``None``
        when unknown (Parquet written by an older haowurank): all-null columns are then dropped.
    user_id_type, item_id_type : {"int", "str"}
    """

    def __init__(
        self,
        spark: SparkSession,
        interactions: DataFrame,
        social: DataFrame,
        blocks: DataFrame,
        items: DataFrame,
        audiences: DataFrame | None = None,
        *,
        report: pd.DataFrame | None = None,
        rejected: dict[str, DataFrame] | None = None,
        has_timestamps: bool = False,
        optional_columns: tuple[str, ...] | None = None,
        user_id_type: str = "int",
        item_id_type: str = "int",
        meta: dict | None = None,
    ):
        self.spark = spark
        self.interactions = interactions
        self.social = social
        self.blocks = blocks
        self.items = items
        self.audiences = audiences if audiences is not None else spark.createDataFrame(
            [], _audience_schema(user_id_type, item_id_type)
        )
        self.report = report if report is not None else _empty_report()
        self._rejected = rejected or {}
        self.has_timestamps = has_timestamps
        self.optional_columns = None if optional_columns is None else tuple(optional_columns)
        self.user_id_type = user_id_type
        self.item_id_type = item_id_type
        self.meta = dict(meta or {})
        self._cache: dict[str, Any] = {}

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_frames(
        cls,
        spark: SparkSession,
        interactions: DataFrame,
        social: DataFrame | None = None,
        items: DataFrame | None = None,
        blocks: DataFrame | None = None,
        audiences: DataFrame | None = None,
        *,
        strict: bool = False,
        validate: bool = True,
        duplicates: Literal["sum", "max", "last", "raise"] = "sum",
        persist: bool = True,
        meta: dict | None = None,
    ) -> SparkDataset:
        """Validate Spark DataFrames and build a SparkDataset.

        The columns and the rules are those of :meth:`haowurank.Dataset.from_frames`. A wrong
        column *type* (e.g. a string weight, boolean ids, ids of int type in one table and str
        in another) or a missing column raises at once, since no row could be right. A bad
        *value* is counted per rule in :attr:`report`, its row is kept aside
        (:meth:`rejected`), and the clean rows go on; ``strict=True`` raises instead.

        Parameters
        ----------
        spark : SparkSession
        interactions : pyspark DataFrame
            Columns ``user``, ``item``; optional ``weight`` (> 0, default 1), ``timestamp`` (int
            seconds, or a timestamp / date read in UTC), ``kind`` (one of ``hr.KINDS``, default
            ``"purchase"``), ``visibility`` (one of ``hr.VISIBILITIES``, default ``"friends"``),
            ``order_id``, ``source``, ``amount`` (>= 0 or null).
        social : pyspark DataFrame, optional
            Columns ``user``, ``friend``; optional ``weight`` (> 0). Self-follows are bad rows.
        items : pyspark DataFrame, optional
            Columns ``item``; optional ``title``, ``category``, ``merchant``, ``price`` (>= 0 or
            null), ``searchable`` (boolean, not null). An item listed twice is a bad row (one row
            of it is kept).
        blocks : pyspark DataFrame, optional
            Columns ``user``, ``blocked``. Self-blocks are bad rows.
        audiences : pyspark DataFrame, optional
            Columns ``user``, ``item``, ``viewer``: an endorsement limited to listed viewers.
            Rows whose (user, item) has no endorsement are dropped and reported (as
            ``hr.Dataset`` drops them with a warning); repeated rows are merged.
        strict : bool
            Raise ``ValueError`` naming the column, the rule and the number of bad rows
            (``hr.Dataset``'s behaviour) instead of reporting them.
        duplicates : {"sum", "max", "last", "raise"}
            Rows with the same (user, item, kind, order_id): weights summed (the other fields
            from the latest row), max weight, or the latest row kept; ``"raise"`` raises.
            Duplicated social rows keep the max weight and duplicated blocks are dropped, as in
            ``hr.Dataset``. Merges are reported with ``action="merged"``.
        validate : bool
            Count the rules and the merges (a few Spark jobs over the input). With ``False``
            nothing runs now: rows that break a rule are still filtered out and duplicates
            merged, lazily, but nothing is counted or reported (for input that is valid by
            construction, e.g. :meth:`from_dataset`); ``strict`` then has no effect.
        persist : bool
            Persist the clean tables (memory and disk) so that validation runs once.

        Raises
        ------
        TypeError
            A frame is not a Spark DataFrame, or a column has an unsupported type.
        ValueError
            A missing column; with ``strict=True``, any bad row; with ``duplicates="raise"``,
            a duplicated interaction.
        """
        if duplicates not in _DUPLICATE_POLICIES:
            raise ValueError(
                f"The 'duplicates' parameter of SparkDataset.from_frames must be one of "
                f"{list(_DUPLICATE_POLICIES)}. Got {duplicates!r} instead."
            )
        inter = _require_frame(interactions, "interactions")
        _require_columns(inter, "interactions", ("user", "item"))
        extra = [c for c in inter.columns if c not in _INTERACTION_COLUMNS]
        if extra:
            warn_data(
                f"interactions: ignoring unknown column(s) {extra}; known columns are "
                f"{list(_INTERACTION_COLUMNS)}."
            )
        checked: dict[str, _Checked] = {"interactions": _check_interactions(inter)}
        if social is not None:
            soc = _require_frame(social, "social")
            _require_columns(soc, "social", ("user", "friend"))
            checked["social"] = _check_social(soc)
        if blocks is not None:
            blk = _require_frame(blocks, "blocks")
            _require_columns(blk, "blocks", ("user", "blocked"))
            checked["blocks"] = _check_blocks(blk)
        if audiences is not None:
            aud = _require_frame(audiences, "audiences")
            _require_columns(aud, "audiences", ("user", "item", "viewer"))
            checked["audiences"] = _check_audiences(aud)
        if items is not None:
            itf = _require_frame(items, "items")
            _require_columns(itf, "items", ("item",))
            checked["items"] = _check_items(itf)

        user_kind = _unify(
            [(f"{t}.{c}", k) for t, ch in checked.items() if t != "items"
             for c, k in ch.id_kinds.items() if c != "item"], "user",
        )
        item_kind = _unify(
            [(f"{t}.item", ch.id_kinds["item"]) for t, ch in checked.items() if "item" in ch.id_kinds],
            "item",
        )
        reserved = F.lit("") if item_kind == "str" else F.lit(-1)
        for t in ("interactions", "items"):
            if t in checked:
                checked[t].rules.append(_Rule(
                    t, "item", "reserved_id",
                    f"not the padding id {'' if item_kind == 'str' else -1!r}",
                    checked[t].cols["item"] == reserved,
                ))

        # one pass per table counts every rule and keeps an example value
        rows: list[dict] = []
        clean: dict[str, DataFrame] = {}
        rejected: dict[str, DataFrame] = {}
        n_clean: dict[str, int] = {}
        for t, ch in checked.items():
            df = ch.frame
            flags = [F.coalesce(r.cond, F.lit(True)).alias(f"_r{k}") for k, r in enumerate(ch.rules)]
            flagged = df.select("*", *flags)
            bad_any = F.lit(False)
            for k in range(len(ch.rules)):
                bad_any = bad_any | F.col(f"_r{k}")
            aggs = [F.count(F.lit(1)).alias("_n"), F.sum(bad_any.cast("long")).alias("_bad")]
            for k, r in enumerate(ch.rules):
                aggs.append(F.sum(F.col(f"_r{k}").cast("long")).alias(f"_c{k}"))
                aggs.append(
                    F.first(F.when(F.col(f"_r{k}"), F.col(r.column).cast("string")),
                            ignorenulls=True).alias(f"_e{k}")
                )
            if not validate:
                clean[t] = df.select(*[c.alias(name) for name, c in ch.cols.items()])
                continue
            counts = flagged.agg(*aggs).collect()[0]
            n_clean[t] = int(counts["_n"]) - int(counts["_bad"] or 0)
            for k, r in enumerate(ch.rules):
                n_bad = int(counts[f"_c{k}"] or 0)
                if n_bad:
                    rows.append(dict(table=t, column=r.column, rule=r.rule, expected=r.expect,
                                     rows=n_bad, example=counts[f"_e{k}"], action=r.action))
            rule_names = F.array_compact(F.array(*[
                F.when(F.col(f"_r{k}"), F.lit(f"{r.column}:{r.rule}")) for k, r in enumerate(ch.rules)
            ])) if ch.rules else F.array().cast("array<string>")
            rejected[t] = flagged.where(bad_any).select(*df.columns, rule_names.alias("rules"))
            clean[t] = flagged.where(~bad_any).select(
                *[c.alias(name) for name, c in ch.cols.items()]
            )

        report = pd.DataFrame(rows, columns=list(_empty_report().columns))
        if strict and len(report):
            first = report.iloc[0]
            raise ValueError(
                f"The column '{first['column']}' of {first['table']} must be {first['expected']}. "
                f"Found {first['rows']} bad row(s) (rule {first['rule']!r}), e.g. {first['example']!r}."
                + (f" {len(report) - 1} more rule(s) failed: "
                   + "; ".join(f"{r.table}.{r.column} {r.rule}: {r.rows}"
                               for r in report.iloc[1:].itertuples()) if len(report) > 1 else "")
            )

        # duplicates: merged like hr.Dataset, and counted
        inter_c = clean["interactions"]
        keys = ["user", "item", "kind", "order_id"]
        merged = _merge_interactions(inter_c, keys, duplicates)
        soc_c = clean.get("social")
        if soc_c is None:
            soc_c = spark.createDataFrame([], _pair_schema("user", "friend", user_kind, weight=True))
        soc_m = soc_c.groupBy("user", "friend").agg(F.max("weight").alias("weight"))
        blk_c = clean.get("blocks")
        if blk_c is None:
            blk_c = spark.createDataFrame([], _pair_schema("user", "blocked", user_kind))
        blk_m = blk_c.dropDuplicates(["user", "blocked"])
        aud_c = clean.get("audiences")
        if aud_c is None:
            aud_c = spark.createDataFrame([], _audience_schema(user_kind, item_kind))
        endorsed = merged.where(F.col("kind").isin(*ENDORSEMENT_KINDS)).select("user", "item")
        aud_m = aud_c.dropDuplicates(["user", "item", "viewer"])
        aud_e = aud_m.join(endorsed.distinct(), ["user", "item"], "left_semi")
        it_c = clean.get("items")
        if it_c is None:
            it_c = spark.createDataFrame([], _items_schema(item_kind))
        it_m = it_c.groupBy("item").agg(
            F.count(F.lit(1)).alias("_n"),
            F.max(F.struct(*[c for c in _ITEM_COLUMNS[1:]])).alias("_s"),
        )
        if persist:
            merged = merged.persist(StorageLevel.MEMORY_AND_DISK)
            soc_m = soc_m.persist(StorageLevel.MEMORY_AND_DISK)
            blk_m = blk_m.persist(StorageLevel.MEMORY_AND_DISK)
            it_m = it_m.persist(StorageLevel.MEMORY_AND_DISK)
            aud_e = aud_e.persist(StorageLevel.MEMORY_AND_DISK)
        items_out = it_m.select("item", *[F.col(f"_s.{c}").alias(c) for c in _ITEM_COLUMNS[1:]])
        has_ts = "timestamp" in inter.columns
        given = tuple(c for c in _OPTIONAL_COLUMNS if c in inter.columns)
        if not validate:
            return cls(
                spark, merged, soc_m, blk_m, items_out, aud_e, has_timestamps=has_ts,
                optional_columns=given, user_id_type=user_kind, item_id_type=item_kind, meta=meta,
            )
        n_in = {t: n_clean.get(t, 0) for t in ("interactions", "social", "blocks", "audiences")}
        # every count in one Spark job
        parts = [("interactions", merged), ("social", soc_m), ("blocks", blk_m),
                 ("audiences_unique", aud_m), ("audiences", aud_e)]
        counted = None
        for name, frame in parts:
            c = frame.agg(F.count(F.lit(1)).alias("n")).select(F.lit(name).alias("t"), "n")
            counted = c if counted is None else counted.unionByName(c)
        dup = it_m.where(F.col("_n") > 1).agg(
            F.count(F.lit(1)).alias("n"), F.sum(F.col("_n") - 1).alias("extra"),
            F.first(F.col("item").cast("string")).alias("ex"),
        )
        counted = counted.select("t", "n", F.lit(None).cast("long").alias("extra"),
                                 F.lit(None).cast("string").alias("ex")).unionByName(
            dup.select(F.lit("items_dup").alias("t"), "n", "extra", "ex")
        )
        got = {r["t"]: r for r in counted.collect()}
        n_out = {t: int(got[t]["n"]) for t in ("interactions", "social", "blocks")}
        dup_items = {"k": int(got["items_dup"]["n"]), "extra": got["items_dup"]["extra"],
                     "ex": got["items_dup"]["ex"]}
        if "audiences" in checked:
            n_aud_unique = int(got["audiences_unique"]["n"])
            n_out["audiences"] = n_aud_unique
            n_aud_kept = int(got["audiences"]["n"])
            if n_aud_unique - n_aud_kept:
                rows.append(dict(
                    table="audiences", column="item", rule="no_endorsement",
                    expected="an endorsement (recommend / recommend_after_purchase) of item by "
                             "user in the interactions",
                    rows=n_aud_unique - n_aud_kept, example=None, action="dropped",
                ))
        for t, what, act in (
            ("interactions", "duplicated (user, item, kind, order_id)", f"merged ({duplicates})"),
            ("social", "duplicated (user, friend)", "merged (max weight)"),
            ("blocks", "duplicated (user, blocked)", "merged (dropped repeats)"),
            ("audiences", "duplicated (user, item, viewer)", "merged (dropped repeats)"),
        ):
            if t not in n_out:
                continue
            d = n_in[t] - n_out[t]
            if d:
                if t == "interactions" and duplicates == "raise":
                    raise ValueError(
                        f"interactions: {d} row(s) repeat an earlier (user, item, kind, order_id); "
                        f"pass duplicates='sum'|'max'|'last' to merge them."
                    )
                rows.append(dict(table=t, column="*", rule="duplicate", expected=f"no {what}",
                                 rows=d, example=None, action=act))
        if dup_items["k"]:
            n_extra = int(dup_items["extra"])
            if strict:
                raise ValueError(
                    f"The 'items' frame must list each item once. Found {int(dup_items['k'])} "
                    f"duplicated item id(s) ({n_extra} extra row(s)), e.g. {dup_items['ex']!r}."
                )
            rows.append(dict(table="items", column="item", rule="duplicate",
                             expected="each item listed once", rows=n_extra,
                             example=dup_items["ex"], action="dropped"))
        report = pd.DataFrame(rows, columns=list(_empty_report().columns))
        dropped = report[report["action"] == "dropped"]
        merged_rows = report[report["action"] != "dropped"]
        if len(dropped):
            warn_data(
                "SparkDataset: " + "; ".join(
                    f"{r.table}.{r.column} {r.rule}: {r.rows} row(s) dropped"
                    for r in dropped.itertuples()
                ) + ". See SparkDataset.report and .rejected(table); pass strict=True to raise.",
                stacklevel=2,
            )
        if len(merged_rows):
            warn_data(
                "SparkDataset: " + "; ".join(
                    f"{r.table}: {r.rows} {r.rule} row(s) {r.action}" for r in merged_rows.itertuples()
                ) + ".",
                stacklevel=2,
            )
        return cls(
            spark, merged, soc_m, blk_m, items_out, aud_e, report=report, rejected=rejected,
            has_timestamps=has_ts, optional_columns=given, user_id_type=user_kind,
            item_id_type=item_kind, meta=meta,
        )

    @classmethod
    def from_dataset(cls, spark: SparkSession, ds: Dataset, **kwargs: Any) -> SparkDataset:
        """Convert a single-machine :class:`haowurank.Dataset` (tests, parity, small worlds).

        Keyword arguments go to :meth:`from_frames`; ``validate`` defaults to ``False`` here
        (the Dataset was validated when it was built).
        """
        if not isinstance(ds, Dataset):
            raise TypeError(
                f"The 'ds' argument of SparkDataset.from_dataset must be a haowurank.Dataset. "
                f"Got {type(ds).__name__} instead."
            )
        uk = "str" if ds.user_ids.dtype == object else "int"
        ik = "str" if ds.item_ids.dtype == object else "int"
        inter = ds.interactions
        pdf = pd.DataFrame({
            "user": _pd_ids(inter["user"], uk),
            "item": _pd_ids(inter["item"], ik),
            "kind": inter["kind"].astype(str).to_numpy(dtype=object),
            "weight": inter["weight"].to_numpy(dtype=np.float64),
            "timestamp": (inter["timestamp"].to_numpy(dtype=np.int64) if ds.has_timestamps
                          else np.zeros(len(inter), dtype=np.int64)),
            "visibility": inter["visibility"].astype(str).to_numpy(dtype=object),
            "order_id": _pd_strs(inter["order_id"]) if "order_id" in inter else None,
            "source": _pd_strs(inter["source"]) if "source" in inter else None,
            "amount": (_pd_float(inter["amount"]) if "amount" in inter
                       else np.full(len(inter), None, dtype=object)),
        })
        sdf_inter = _create(spark, pdf, _interactions_schema(uk, ik))
        if not ds.has_timestamps:
            sdf_inter = sdf_inter.drop("timestamp")
        sdf_inter = sdf_inter.drop(*[c for c in _OPTIONAL_COLUMNS if c not in inter])
        soc = ds.social
        sdf_soc = _create(
            spark,
            pd.DataFrame({"user": _pd_ids(soc["user"], uk), "friend": _pd_ids(soc["friend"], uk),
                          "weight": soc["weight"].to_numpy(dtype=np.float64)}),
            _pair_schema("user", "friend", uk, weight=True),
        )
        blk = ds.blocks
        sdf_blk = _create(
            spark,
            pd.DataFrame({"user": _pd_ids(blk["user"], uk), "blocked": _pd_ids(blk["blocked"], uk)}),
            _pair_schema("user", "blocked", uk),
        )
        aud = ds.audiences
        sdf_aud = _create(
            spark,
            pd.DataFrame({"user": _pd_ids(aud["user"], uk), "item": _pd_ids(aud["item"], ik),
                          "viewer": _pd_ids(aud["viewer"], uk)}),
            _audience_schema(uk, ik),
        )
        it = ds.items
        sdf_items = _create(
            spark,
            pd.DataFrame({
                "item": _pd_ids(it["item"], ik),
                "title": _pd_strs(it["title"]), "category": _pd_strs(it["category"]),
                "merchant": _pd_strs(it["merchant"]), "price": _pd_float(it["price"]),
                "searchable": it["searchable"].to_numpy(dtype=bool),
            }),
            _items_schema(ik),
        )
        kwargs.setdefault("meta", dict(ds.meta))
        kwargs.setdefault("validate", False)  # a Dataset is valid by construction
        return cls.from_frames(
            spark, sdf_inter, sdf_soc, items=sdf_items, blocks=sdf_blk, audiences=sdf_aud, **kwargs
        )

    @classmethod
    def from_parquet(cls, spark: SparkSession, path: str | os.PathLike, **kwargs: Any) -> SparkDataset:
        """Read a data set from Parquet and validate it.

        ``path`` is a folder holding either

        * a :meth:`to_parquet` layout (``interactions/``, ``social/``, ``blocks/``, ``items/``,
          ``audiences/`` Parquet directories with caller ids and ``meta.json``), or any folder
          with Parquet files or directories named like those tables (with or
          without a ``.parquet`` suffix) in the columns of :meth:`from_frames`; or
        * an ``hr.Dataset.to_parquet`` folder (index-level tables plus vocabularies), whose
          indices are mapped back to caller ids through the vocabularies (read on the driver:
          that format is single-machine by nature).

        Keyword arguments go to :meth:`from_frames`.
        """
        src = Path(path)
        if not src.is_dir():
            raise FileNotFoundError(f"No data set folder at {src}.")
        info: dict = {}
        if (src / "meta.json").is_file():
            try:
                info = json.loads((src / "meta.json").read_text())
            except json.JSONDecodeError as exc:
                raise ValueError(f"{src / 'meta.json'} is not valid JSON: {exc}") from exc
        if info.get("format") == "haowurank.Dataset":
            return cls.from_dataset(spark, Dataset.read_parquet(src), **kwargs)
        if info and info.get("format") == _FORMAT and info.get("format_version") != _FORMAT_VERSION:
            raise ValueError(
                f"{src} has SparkDataset format version {info.get('format_version')!r}; this "
                f"haowurank reads version {_FORMAT_VERSION}."
            )

        def part(name: str) -> DataFrame | None:
            for cand in (src / name, src / f"{name}.parquet"):
                if cand.exists():
                    return spark.read.parquet(str(cand))
            return None

        inter = part("interactions")
        if inter is None:
            raise FileNotFoundError(
                f"No interactions at {src}: expected 'interactions' or 'interactions.parquet'."
            )
        if info.get("format") == _FORMAT and not info.get("has_timestamps", True):
            inter = inter.drop("timestamp")
        if info.get("format") == _FORMAT and info.get("optional_columns") is not None:
            inter = inter.drop(*[c for c in _OPTIONAL_COLUMNS
                                 if c not in info["optional_columns"]])
        kwargs.setdefault("meta", info.get("meta", {}))
        out = cls.from_frames(
            spark, inter, part("social"), items=part("items"), blocks=part("blocks"),
            audiences=part("audiences"), **kwargs
        )
        if info.get("format") == _FORMAT and info.get("optional_columns") is None:
            out.optional_columns = None  # written before the columns were recorded: unknown
        return out

    # ---------------------------------------------------------------- output
    def to_parquet(
        self, path: str | os.PathLike, mode: str = "overwrite", *, overwrite: bool = False
    ) -> Path:
        """Write the clean tables (caller ids) as Parquet directories plus ``meta.json``.

        ``mode`` is Spark's write mode for each table. The destination follows the library's
        one writer rule (:mod:`haowurank._atomic`): an existing folder is written into only
        when it is empty or a dataset written by this method (its ``meta.json``); anything else
        raises ``FileExistsError`` unless ``overwrite=True``. ``meta.json`` is written last,
        atomically, so a folder without it is an unfinished write.
        """
        dest = check_destination(
            path, kind="dir", overwrite=overwrite, what="Spark dataset",
            owned=has_manifest(_FORMAT, files=("interactions", "social", "blocks", "items",
                                                 "audiences")),
        )
        if overwrite and dest.exists() and not dest.is_dir():
            dest.unlink()
        dest.mkdir(parents=True, exist_ok=True)
        for name in ("interactions", "social", "blocks", "items", "audiences"):
            getattr(self, name).write.mode(mode).parquet(str(dest / name))
        info = {
            "format": _FORMAT, "format_version": _FORMAT_VERSION,
            "has_timestamps": self.has_timestamps,
            "optional_columns": (None if self.optional_columns is None
                                 else list(self.optional_columns)),
            "user_id_type": self.user_id_type,
            "item_id_type": self.item_id_type, "meta": self.meta,
        }
        write_text(dest / "meta.json", json.dumps(info, indent=1, default=str), overwrite=True)
        return dest

    def to_dataset(self) -> Dataset:
        """Collect into a single-machine :class:`haowurank.Dataset` (small data only)."""
        inter = self.interactions.toPandas()
        if not self.has_timestamps:
            inter = inter.drop(columns=["timestamp"])
        for col in _OPTIONAL_COLUMNS:
            given = (col in self.optional_columns if self.optional_columns is not None
                     else not inter[col].isna().all())
            if not given:
                inter = inter.drop(columns=[col])
        soc = self.social.toPandas()
        blk = self.blocks.toPandas()
        items = self.items.toPandas()
        aud = self.audiences.toPandas()
        return Dataset.from_frames(
            inter, soc, items=items if len(items) else None, blocks=blk if len(blk) else None,
            audiences=aud if len(aud) else None,
            meta=dict(self.meta),
        )

    # ---------------------------------------------------------------- inspection
    def rejected(self, table: str = "interactions") -> DataFrame:
        """Rows of ``table`` that broke a rule: the raw columns plus ``rules`` (array of str)."""
        if table not in ("interactions", "social", "blocks", "items", "audiences"):
            raise ValueError(
                f"The 'table' parameter must be one of 'interactions', 'social', 'blocks', "
                f"'items', 'audiences'. Got {table!r} instead."
            )
        if table not in self._rejected:
            return self.spark.createDataFrame([], "rules array<string>")
        return self._rejected[table]

    def summary(self) -> dict[str, int]:
        """Counts of rows, users, items, and of each reported rule (``"table.column:rule"``)."""
        out = {
            "interactions": self.interactions.count(),
            "social_rows": self.social.count(),
            "blocks": self.blocks.count(),
            "audiences": self.audiences.count(),
            "users": self.user_index().count(),
            "items": self.item_index().count(),
        }
        for r in self.report.itertuples():
            out[f"{r.table}.{r.column}:{r.rule}"] = int(r.rows)
        return out

    def user_index(self) -> DataFrame:
        """``user, uidx``: every user id (interactions, social, blocks) and its dense index.

        Indices follow the sorted id order, as ``hr.Dataset.user_ids`` does, so index ``k``
        means the same user in both. Built with a distributed sort and ``zipWithIndex``.
        """
        if "users" not in self._cache:
            ids = (
                self.interactions.select(F.col("user").alias("id"))
                .union(self.social.select(F.col("user").alias("id")))
                .union(self.social.select(F.col("friend").alias("id")))
                .union(self.blocks.select(F.col("user").alias("id")))
                .union(self.blocks.select(F.col("blocked").alias("id")))
                .union(self.audiences.select(F.col("viewer").alias("id")))
                .distinct()
            )
            self._cache["users"] = _indexed(ids, "user", "uidx")
        return self._cache["users"]

    def item_index(self) -> DataFrame:
        """``item, iidx``: every item id (interactions and item metadata), sorted, indexed."""
        if "items" not in self._cache:
            ids = (
                self.interactions.select(F.col("item").alias("id"))
                .union(self.items.select(F.col("item").alias("id")))
                .distinct()
            )
            self._cache["items"] = _indexed(ids, "item", "iidx")
        return self._cache["items"]

    def unpersist(self) -> None:
        """Release the persisted tables."""
        for df in (self.interactions, self.social, self.blocks, self.items, self.audiences,
                   *self._cache.values()):
            if isinstance(df, DataFrame):
                df.unpersist()

    def __repr__(self) -> str:
        bad = int(self.report.loc[self.report["action"] == "dropped", "rows"].sum())
        return (
            f"SparkDataset({self.meta.get('name', '')!s}{' ' if self.meta.get('name') else ''}"
            f"{bad} bad row(s) dropped, ids: users {self.user_id_type}, items {self.item_id_type})"
        )


# --------------------------------------------------------------------------------------------
# per-table checks
# --------------------------------------------------------------------------------------------

def _check_interactions(df: DataFrame) -> _Checked:
    out = _Checked(df)
    t = "interactions"
    out.cols = {
        "user": _id_column(df, t, "user", out),
        "item": _id_column(df, t, "item", out),
        "kind": (_category(df, t, "kind", KINDS, out) if "kind" in df.columns
                 else F.lit("purchase")),
        "weight": _positive(df, t, "weight", out) if "weight" in df.columns else F.lit(1.0),
        "timestamp": (_timestamp(df, t, "timestamp", out) if "timestamp" in df.columns
                      else F.lit(0).cast("long")),
        "visibility": (_category(df, t, "visibility", VISIBILITIES, out)
                       if "visibility" in df.columns else F.lit("friends")),
        "order_id": (F.col("order_id").cast("string") if "order_id" in df.columns
                     else F.lit(None).cast("string")),
        "source": (F.col("source").cast("string") if "source" in df.columns
                   else F.lit(None).cast("string")),
        "amount": (_non_negative_or_null(df, t, "amount", out) if "amount" in df.columns
                   else F.lit(None).cast("double")),
    }
    return out


def _check_social(df: DataFrame) -> _Checked:
    out = _Checked(df)
    t = "social"
    out.cols = {
        "user": _id_column(df, t, "user", out),
        "friend": _id_column(df, t, "friend", out),
        "weight": _positive(df, t, "weight", out) if "weight" in df.columns else F.lit(1.0),
    }
    out.rules.append(_Rule(t, "friend", "self_follow", "a friend other than the user",
                           out.cols["user"] == out.cols["friend"]))
    return out


def _check_blocks(df: DataFrame) -> _Checked:
    out = _Checked(df)
    t = "blocks"
    out.cols = {
        "user": _id_column(df, t, "user", out),
        "blocked": _id_column(df, t, "blocked", out),
    }
    out.rules.append(_Rule(t, "blocked", "self_block", "a user other than the blocker",
                           out.cols["user"] == out.cols["blocked"]))
    return out


def _check_audiences(df: DataFrame) -> _Checked:
    out = _Checked(df)
    t = "audiences"
    out.cols = {
        "user": _id_column(df, t, "user", out),
        "item": _id_column(df, t, "item", out),
        "viewer": _id_column(df, t, "viewer", out),
    }
    return out


def _check_items(df: DataFrame) -> _Checked:
    out = _Checked(df)
    t = "items"
    cols: dict[str, Column] = {"item": _id_column(df, t, "item", out)}
    for c in ("title", "category", "merchant"):
        cols[c] = F.col(c).cast("string") if c in df.columns else F.lit(None).cast("string")
    cols["price"] = (_non_negative_or_null(df, t, "price", out) if "price" in df.columns
                     else F.lit(None).cast("double"))
    if "searchable" in df.columns:
        dt = _type_of(df, "searchable")
        if not isinstance(dt, T.BooleanType):
            raise TypeError(
                f"The column 'searchable' of items must be boolean. Got Spark type "
                f"{dt.simpleString()}."
            )
        out.rules.append(
            _Rule(t, "searchable", "missing", "true or false", F.col("searchable").isNull())
        )
        cols["searchable"] = F.col("searchable")
    else:
        cols["searchable"] = F.lit(True)
    out.cols = cols
    return out


def _empty_report() -> pd.DataFrame:
    return pd.DataFrame(
        {"table": pd.Series(dtype=object), "column": pd.Series(dtype=object),
         "rule": pd.Series(dtype=object), "expected": pd.Series(dtype=object),
         "rows": pd.Series(dtype=np.int64), "example": pd.Series(dtype=object),
         "action": pd.Series(dtype=object)}
    )


# --------------------------------------------------------------------------------------------
# merging, schemas, conversions, indexing
# --------------------------------------------------------------------------------------------

def _merge_interactions(df: DataFrame, keys: list[str], policy: str) -> DataFrame:
    """One row per key, as ``hr.Dataset``: weights summed (or max, or the latest row's), the other
    fields from the latest row (by timestamp; exact timestamp ties by the larger field values,
    where hr.Dataset keeps input order, which Spark does not have)."""
    latest = F.max(F.struct("timestamp", "visibility", "source", "amount", "weight")).alias("_l")
    if policy == "sum":
        w = F.sum("weight")
    elif policy == "max":
        w = F.max("weight")
    else:  # last (and raise, which has no duplicates left to merge)
        w = F.lit(None)
    g = df.groupBy(*keys).agg(latest, w.alias("_w"))
    weight = F.col("_l.weight") if policy not in ("sum", "max") else F.col("_w")
    return g.select(
        "user", "item", "kind", weight.cast("double").alias("weight"),
        F.col("_l.timestamp").alias("timestamp"), F.col("_l.visibility").alias("visibility"),
        "order_id", F.col("_l.source").alias("source"), F.col("_l.amount").alias("amount"),
    )


def _id_type(kind: str) -> T.DataType:
    return T.StringType() if kind == "str" else T.LongType()


def _pair_schema(a: str, b: str, kind: str, weight: bool = False) -> T.StructType:
    fields = [T.StructField(a, _id_type(kind)), T.StructField(b, _id_type(kind))]
    if weight:
        fields.append(T.StructField("weight", T.DoubleType()))
    return T.StructType(fields)


def _items_schema(kind: str) -> T.StructType:
    return T.StructType([
        T.StructField("item", _id_type(kind)), T.StructField("title", T.StringType()),
        T.StructField("category", T.StringType()), T.StructField("merchant", T.StringType()),
        T.StructField("price", T.DoubleType()), T.StructField("searchable", T.BooleanType()),
    ])


def _audience_schema(user_kind: str, item_kind: str) -> T.StructType:
    return T.StructType([
        T.StructField("user", _id_type(user_kind)), T.StructField("item", _id_type(item_kind)),
        T.StructField("viewer", _id_type(user_kind)),
    ])


def _interactions_schema(user_kind: str, item_kind: str) -> T.StructType:
    return T.StructType([
        T.StructField("user", _id_type(user_kind)), T.StructField("item", _id_type(item_kind)),
        T.StructField("kind", T.StringType()), T.StructField("weight", T.DoubleType()),
        T.StructField("timestamp", T.LongType()), T.StructField("visibility", T.StringType()),
        T.StructField("order_id", T.StringType()), T.StructField("source", T.StringType()),
        T.StructField("amount", T.DoubleType()),
    ])


def _create(spark: SparkSession, pdf: pd.DataFrame, schema: T.StructType) -> DataFrame:
    if not len(pdf):
        return spark.createDataFrame([], schema)
    return spark.createDataFrame(pdf[[f.name for f in schema.fields]], schema=schema)


def _pd_ids(s: pd.Series, kind: str) -> np.ndarray:
    if kind == "str":
        return s.astype(object).to_numpy(dtype=object)
    return s.to_numpy(dtype=np.int64)


def _pd_strs(s: pd.Series) -> np.ndarray:
    arr = s.to_numpy(dtype=object).copy()
    arr[pd.isna(s).to_numpy()] = None
    return arr


def _pd_float(s: pd.Series) -> np.ndarray:
    arr = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64)
    out = arr.astype(object)
    out[np.isnan(arr)] = None
    return out


def _indexed(ids: DataFrame, name: str, idx_name: str) -> DataFrame:
    """Dense 0-based indices in sorted id order, without collecting ids to the driver.

    A range partitioning sorts the ids across partitions; ``monotonically_increasing_id`` holds
    the partition number in its upper bits and the row number below, so the index is the row
    number plus the number of ids in the earlier partitions (one small aggregate).
    """
    spark = ids.sparkSession
    s = (
        ids.repartitionByRange("id").sortWithinPartitions("id")
        .select("id", F.spark_partition_id().alias("_p"),
                F.monotonically_increasing_id().alias("_m"))
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    counts = sorted((int(r["_p"]), int(r["count"])) for r in s.groupBy("_p").count().collect())
    offsets, total = [], 0
    for p, c in counts:
        offsets.append((p, total))
        total += c
    off = spark.createDataFrame(offsets or [(0, 0)], "_p int, _off long")
    out = (
        s.join(F.broadcast(off), "_p")
        .select(F.col("id").alias(name),
                (F.col("_m") - F.shiftleft(F.col("_p").cast("long"), 33) + F.col("_off"))
                .cast("int").alias(idx_name))
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    out.count()
    s.unpersist()
    return out
