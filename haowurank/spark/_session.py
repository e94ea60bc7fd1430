"""The Spark session helper and the one place that checks pyspark is installed."""

from __future__ import annotations

import importlib
import logging
import os
import sys
from typing import Any

__all__ = ["require_pyspark", "spark_session"]

log = logging.getLogger(__name__)

#: Settings every haowurank Spark job relies on. UTC makes datetime -> seconds conversions equal
#: to the single-machine ones (which read naive datetimes as UTC); Arrow speeds pandas transfers.
BASE_CONF: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.execution.arrow.pyspark.fallback.enabled": "true",
}

#: Extra settings for local mode (tests, notebooks, the benchmark on one machine).
LOCAL_CONF: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    # small local jobs are dominated by per-stage overhead, which adaptive execution multiplies
    # (one job per query stage); clusters keep Spark's default (on)
    "spark.sql.adaptive.enabled": "false",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
}


def require_pyspark() -> Any:
    """Import and return ``pyspark``; a clear ImportError names the extra when it is missing."""
    try:
        return importlib.import_module("pyspark")
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "haowurank.spark needs pyspark (and Java 17). Install the extra: "
            "pip install 'haowurank[spark]'."
        ) from exc


def spark_session(
    master: str | None = "local[2]",
    *,
    app_name: str = "haowurank",
    shuffle_partitions: int = 4,
    driver_memory: str = "2g",
    log_level: str = "WARN",
    conf: dict[str, str] | None = None,
) -> Any:
    """Get or create a SparkSession configured for haowurank.

    Parameters
    ----------
    master : str or None
        Spark master URL. ``"local[2]"`` (default) runs in this process on two cores; ``None``
        leaves the master to ``spark-submit`` / the cluster configuration.
    app_name : str
        Application name.
    shuffle_partitions : int
        ``spark.sql.shuffle.partitions``: small for local runs (4), a few times the number of
        executor cores on a cluster.
    driver_memory : str
        ``spark.driver.memory``; only effective when this call starts the JVM.
    log_level : str
        Log level of the Spark context (``"WARN"`` keeps test output quiet).
    conf : dict, optional
        More Spark settings; they override the defaults above.

    Returns
    -------
    pyspark.sql.SparkSession

    Notes
    -----
    In local mode the Python workers run this interpreter (``sys.executable``) unless
    ``PYSPARK_PYTHON`` says otherwise; on a cluster, haowurank (with numpy and pandas) must be
    installed in the executors' Python, since the feed re-ranking runs there.
    An already running session is reused (``getOrCreate``) and given the SQL settings again;
    JVM-level settings (memory, master) of a running session cannot change.
    """
    require_pyspark()
    from pyspark.sql import SparkSession

    if isinstance(shuffle_partitions, bool) or not isinstance(shuffle_partitions, int) or (
        shuffle_partitions < 1
    ):
        raise ValueError(
            "The 'shuffle_partitions' parameter of spark_session must be a positive int. "
            f"Got {shuffle_partitions!r} instead."
        )
    settings = dict(BASE_CONF)
    if master is not None and master.startswith("local"):
        settings.update(LOCAL_CONF)
        # Python workers (mapInPandas) must run the interpreter that has haowurank installed
        # (pyspark reads it from the environment when it starts the context)
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    settings["spark.sql.shuffle.partitions"] = str(shuffle_partitions)
    settings["spark.driver.memory"] = driver_memory
    settings.update(conf or {})
    builder = SparkSession.builder.appName(app_name)
    if master is not None:
        builder = builder.master(master)
    for k, v in settings.items():
        builder = builder.config(k, v)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(log_level)
    for k, v in settings.items():
        if k.startswith("spark.sql."):
            spark.conf.set(k, v)
    log.info("Spark %s session %r on %s", spark.version, app_name, spark.sparkContext.master)
    return spark
