"""The Spark path at scale: synthetic worlds of 100k and 1M users through ``haowurank.spark`` in
local mode on 2 cores, with time and memory per step.

For each size two fresh child processes run: *prep* builds the world with
``hr.datasets.synthetic(n_users, n_items=min(n_users // 2, 500_000), seed=0)`` and writes it as
caller-id Parquet files (``interactions``, ``social``, ``blocks``, ``items``); *run* starts a
Spark session (``local[2]``) and times, one after the other:

1. ``load``: ``SparkDataset.from_parquet`` with full validation (rules counted, duplicates
   merged, tables persisted);
2. ``friend``: ``SparkFriendEndorsements(rule="follow")`` (the single-machine ranker's rule,
   equal scores in tests/test_spark.py) fit and top-20 for every user, written to Parquet;
3. ``als``: ``SparkSocialALS`` (social_als's matrix; 32 factors, ``--als-iterations``,
   default 10) fit, then
   ``recommend(20)`` for every user written to Parquet (100k only: ``recommendForAllUsers``
   is ``O(users x items x factors)``, 1.6e13 multiply-adds at 1M users, hours on 2 cores);
4. ``trust``: ``SparkTrust`` fit with the ``trust`` ranker's defaults (tie strength with
   reciprocity, shared items and adoptions; 2-hop personalized PageRank capped at 2000
   endorsers): the trust rows are materialised, the scores of every candidate are not (since
   the change that made them lazy; before it, this step also scored every candidate);
5. ``feeds``: every user's friends' feed (20 entries, trust-ranked, default diversity and caps:
   the greedy MMR re-ranking in ``mapInPandas``), written to Parquet; the trust model scores
   the feed's candidate pairs only.

``--sample-users K`` (one value, or one per size; 0 = every user): the trust and feeds steps
run for K users drawn at random (``numpy.random.default_rng(seed)``, without replacement) in
both paths: ``SparkTrust(users=...)`` builds the trust rows of those users and the tie
strength of the accounts their walks reach, the feeds are those users' feeds. Load and the
world are whole. ``--single-feeds-all`` adds a single-machine step ``feeds_all``: the feeds
of every user (a scale reference for the sampled Spark step).

*Single machine* (``--single-max-users``, default 100k): a third child runs the same steps
with the single-machine path on the same world, in one process: ``hr.Dataset.read_parquet``;
the ``friend_endorsements`` ranker fit + ``recommend(all users, 20)``; ``social_als`` (same
factors and iterations) fit + recommend for every user (where Spark recommends too); the
``trust`` ranker fit (its defaults, with ``defence=None`` as on Spark); ``hr.feed.build`` for
every user with that ranker. The table gives each Spark step's time as a ratio of the single-machine step's, measured minutes
apart on the same machine (the load is noted). Steps do not split the same way in the two
paths (the single-machine trust ranker scores lazily inside ``feed.build``; Spark's
``SparkTrust.fit`` scores every candidate), so the sum over steps is the fairer comparison.

Memory: the driver's Python process and the JVM (in local mode the executor runs inside the
driver JVM, so JVM RSS is driver + executor memory) are sampled every 0.5 s; the table gives
each step's peak RSS. ``spark.driver.memory`` bounds the JVM heap.

Run from the repository root (niced: the machine is shared)::

    nice -n 10 .venv/bin/python experiments/spark_scale/run.py
    nice -n 10 .venv/bin/python experiments/spark_scale/run.py --sizes 100000   # quicker

It prints a Markdown table and writes it, with the command, the git commit and the cluster
note, to ``experiments/spark_scale/results/spark_scale.md``, and every row to ``spark_scale.csv``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from haowurank.studies import git_commit, machine, versions

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent  # this study's folder
DEFAULT_OUT = HERE / "results" / "spark_scale.md"  # and .csv beside it
STEPS = ("load", "friend", "als", "trust", "feeds")


def n_items_for(n_users: int) -> int:
    return min(n_users // 2, 500_000)


# --------------------------------------------------------------------------------------------
# child: prep
# --------------------------------------------------------------------------------------------

def prep(n_users: int, seed: int, folder: Path, sample: int = 0) -> dict:
    import numpy as np
    import pandas as pd

    import haowurank as hr

    t = time.perf_counter()
    ds = hr.datasets.synthetic(n_users=n_users, n_items=n_items_for(n_users), seed=seed,
                               show_progress=False)
    build_s = time.perf_counter() - t
    folder.mkdir(parents=True, exist_ok=True)
    inter = ds.interactions
    inter["kind"] = inter["kind"].astype(str)
    inter["visibility"] = inter["visibility"].astype(str)
    cols = ["user", "item", "kind", "weight", "timestamp", "visibility", "order_id", "source",
            "amount"]
    inter[[c for c in cols if c in inter]].to_parquet(folder / "interactions.parquet", index=False)
    ds.social.to_parquet(folder / "social.parquet", index=False)
    ds.blocks.to_parquet(folder / "blocks.parquet", index=False)
    items = ds.items[["item", "title", "category", "merchant", "price", "searchable"]]
    items.to_parquet(folder / "items.parquet", index=False)
    ds.to_parquet(folder / "hr")  # the single-machine layout, for the --child single run
    if 0 < sample < ds.n_users:
        pick = np.random.default_rng(seed).choice(ds.n_users, sample, replace=False)
        pd.DataFrame({"user": ds.user_ids[np.sort(pick)]}).to_parquet(
            folder / "sample_users.parquet", index=False)
    s = ds.summary()
    return {
        "users": ds.n_users, "items": ds.n_items, "interactions": ds.n_interactions,
        "endorsements": s.get("kind:recommend", 0) + s.get("kind:recommend_after_purchase", 0),
        "social_rows": ds.n_social, "blocks": s["blocks"], "build_s": build_s,
        "sample_users": sample if 0 < sample < ds.n_users else 0,
    }


# --------------------------------------------------------------------------------------------
# child: run
# --------------------------------------------------------------------------------------------

class RSSSampler:
    """Peak RSS (MB) of this process and of its java child, sampled in a thread."""

    def __init__(self, every: float = 0.5):
        import psutil

        self.proc = psutil.Process()
        self.every = every
        self.peak_py = 0.0
        self.peak_jvm = 0.0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _jvm(self):
        for c in self.proc.children(recursive=True):
            try:
                if "java" in c.name():
                    return c
            except Exception:  # noqa: BLE001 - a process may vanish while we look
                continue
        return None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak_py = max(self.peak_py, self.proc.memory_info().rss / 2**20)
                j = self._jvm()
                if j is not None:
                    self.peak_jvm = max(self.peak_jvm, j.memory_info().rss / 2**20)
            except Exception:  # noqa: BLE001
                pass
            self._stop.wait(self.every)

    def reset(self) -> None:
        self.peak_py = self.proc.memory_info().rss / 2**20
        j = self._jvm()
        self.peak_jvm = j.memory_info().rss / 2**20 if j is not None else 0.0

    def stop(self) -> None:
        self._stop.set()
        self._t.join()

    def step(self, rows: list[dict], name: str, fn, *, jvm: bool = True) -> None:
        """Run ``fn`` as the step ``name``: seconds, peak RSS (JVM too if ``jvm``) and the load
        before, plus what ``fn`` returns, appended to ``rows`` and printed to stderr."""
        self.reset()
        load1 = os.getloadavg()[0]
        t = time.perf_counter()
        info = fn() or {}
        rows.append({"step": name, "seconds": time.perf_counter() - t,
                     "py_rss_mb": self.peak_py, "jvm_rss_mb": self.peak_jvm if jvm else 0.0,
                     "load1_before": load1, **info})
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)


def run(folder: Path, out: Path, steps: list[str], driver_memory: str, partitions: int,
        als: bool, n: int, als_iterations: int = 10) -> list[dict]:
    import warnings

    warnings.simplefilter("ignore")
    from haowurank.spark import (
        SparkDataset,
        SparkFriendEndorsements,
        SparkSocialALS,
        SparkTrust,
        spark_session,
        write_feeds,
    )

    sampler = RSSSampler()
    rows: list[dict] = []

    t0 = time.perf_counter()
    spark = spark_session("local[2]", shuffle_partitions=partitions, driver_memory=driver_memory,
                          app_name="bench_spark",
                          conf={"spark.local.dir": str(out / "spark-tmp")})
    rows.append({"step": "session", "seconds": time.perf_counter() - t0,
                 "py_rss_mb": sampler.peak_py, "jvm_rss_mb": sampler.peak_jvm})
    print(json.dumps(rows[-1]), file=sys.stderr, flush=True)  # kept if a later step times out
    state: dict = {}
    sample_path = folder / "sample_users.parquet"
    sample = spark.read.parquet(str(sample_path)).persist() if sample_path.exists() else None
    who = f"{sample.count():,} sampled users" if sample is not None else "every user"

    def load():
        sds = SparkDataset.from_parquet(spark, folder)
        state["sds"] = sds
        return {"rows_out": int(sds.interactions.count()),
                "note": f"{int(sds.report['rows'].sum()) if len(sds.report) else 0} rows "
                        f"reported by validation"}

    def friend():
        m = SparkFriendEndorsements(rule="follow").fit(state["sds"])
        recs = m.recommend(n)
        recs.write.mode("overwrite").parquet(str(out / "friend_top"))
        got = spark.read.parquet(str(out / "friend_top")).count()
        m.unpersist()
        return {"rows_out": int(got), "note": f"top-{n} per user (friend counts, follow rule)"}

    def trust():
        m = SparkTrust(users=sample).fit(state["sds"])
        state["trust"] = m
        return {"rows_out": int(m.trust_.count()),
                "note": f"trust rows of {who} (fit: scores not computed); "
                        f"{int(m.model_.transition_.count()):,} transition rows"}

    def feeds():
        m = state["trust"]
        path = write_feeds(m.feeds(n), str(out / "feeds"))
        got = spark.read.parquet(path).count()
        m.unpersist()
        return {"rows_out": int(got), "note": f"{n}-entry feeds of {who}, trust-ranked (every "
                                              f"candidate of those users scored), MMR + caps"}

    def als_step():
        m = SparkSocialALS(factors=32, iterations=als_iterations).fit(state["sds"])
        info = {"note": f"{als_iterations} iterations; fit only (recommendForAllUsers skipped "
                        f"at this size)"}
        if als:
            t = time.perf_counter()
            m.recommend(n).write.mode("overwrite").parquet(str(out / "als_top"))
            got = spark.read.parquet(str(out / "als_top")).count()
            info = {"rows_out": int(got),
                    "note": f"{als_iterations} iterations: fit {m.fit_seconds_:.0f} s + "
                            f"recommendForAllUsers top-{n} "
                            f"{time.perf_counter() - t:.0f} s"}
        m.unpersist()
        return info

    funcs = {"load": load, "friend": friend, "trust": trust, "feeds": feeds, "als": als_step}
    for name in steps:
        if name in ("friend", "trust", "feeds", "als") and "sds" not in state:
            continue
        if name == "feeds" and "trust" not in state:
            continue
        sampler.step(rows, name, funcs[name])
    sampler.stop()
    spark.stop()
    return rows


def run_single(folder: Path, steps: list[str], als: bool, n: int,
               als_iterations: int = 10, feeds_all: bool = False) -> list[dict]:
    """The same steps on the single-machine path (one process, numpy / scipy / implicit)."""
    import warnings

    warnings.simplefilter("ignore")
    import numpy as np

    import haowurank as hr

    sampler = RSSSampler()
    rows: list[dict] = []
    state: dict = {}

    sample_path = folder / "sample_users.parquet"

    def load():
        import pandas as pd

        ds = hr.Dataset.read_parquet(folder / "hr")
        state["ds"] = ds
        state["users"] = list(ds.user_ids)
        state["sample"] = (list(pd.read_parquet(sample_path)["user"]) if sample_path.exists()
                           else state["users"])
        return {"rows_out": ds.n_interactions, "note": "hr.Dataset.read_parquet"}

    def _recommend_all(r) -> int:
        ids, sc = r.recommend(state["users"], n=n)
        return int(np.isfinite(np.asarray(sc)).sum())

    def friend():
        r = hr.rankers.make("friend_endorsements").fit(state["ds"])
        return {"rows_out": _recommend_all(r), "note": f"ranker fit + recommend top-{n}, all users"}

    def als_step():
        r = hr.rankers.make("social_als", factors=32, iterations=als_iterations).fit(state["ds"])
        if not als:
            return {"note": f"{als_iterations} iterations; fit only"}
        return {"rows_out": _recommend_all(r),
                "note": f"{als_iterations} iterations: fit + recommend top-{n}, all users"}

    def trust():
        # defence=None: the Spark path does not run the defence (SparkTrust refuses it)
        state["trust"] = hr.rankers.make("trust", defence=None).fit(state["ds"])
        return {"note": "trust ranker fit (scores candidates lazily, in recommend / feed.build)"}

    def feeds():
        who = state["sample"]
        f = hr.feed.build(state["ds"], state["trust"], who, n=n)
        what = "all users" if len(who) == len(state["users"]) else f"{len(who):,} sampled users"
        return {"rows_out": len(f), "note": f"hr.feed.build, {n} entries, {what}"}

    def feeds_all():
        f = hr.feed.build(state["ds"], state["trust"], state["users"], n=n)
        return {"rows_out": len(f), "note": f"hr.feed.build, {n} entries, all users"}

    funcs = {"load": load, "friend": friend, "trust": trust, "feeds": feeds, "als": als_step,
             "feeds_all": feeds_all}
    todo = list(steps)
    if feeds_all and "feeds" in todo and sample_path.exists():
        todo.insert(todo.index("feeds") + 1, "feeds_all")
    for name in todo:
        if name != "load" and "ds" not in state:
            continue
        if name in ("feeds", "feeds_all") and "trust" not in state:
            continue
        sampler.step(rows, name, funcs[name], jvm=False)
    sampler.stop()
    return rows


# --------------------------------------------------------------------------------------------
# parent
# --------------------------------------------------------------------------------------------

def _child(args: list[str], timeout: float | None) -> tuple[object, str]:
    cmd = [sys.executable, __file__, *args]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        return None, f"timed out after {timeout:.0f} s\n{err}"
    if p.returncode != 0:
        return None, f"exit code {p.returncode}\n{p.stderr[-4000:]}"
    return json.loads(p.stdout.strip().splitlines()[-1]), p.stderr


def _partial(stderr: str) -> list[dict]:
    rows = []
    for line in stderr.splitlines():
        line = line.strip()
        if line.startswith("{") and '"step"' in line:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    return rows


def _ratio(spark_s: float | None, single_s: float | None) -> str:
    if not spark_s or not single_s:
        return ""
    return f"{spark_s / single_s:.1f}x"


def csv_rows(results: list[dict]) -> list[dict]:
    out = []
    for r in results:
        w = r["world"]
        for path, steps in (("spark", r["steps"]), ("single", r.get("single", []))):
            for s in steps:
                out.append({
                    "n_users": r["n_users"], "items": w.get("items", ""),
                    "interactions": w.get("interactions", ""),
                    "social_rows": w.get("social_rows", ""), "path": path, "step": s["step"],
                    "seconds": round(s["seconds"], 2), "rows_out": s.get("rows_out", ""),
                    "py_rss_mb": round(s.get("py_rss_mb", 0)),
                    "jvm_rss_mb": round(s.get("jvm_rss_mb", 0)),
                    "load1_before": round(s.get("load1_before", float("nan")), 1),
                    "note": s.get("note", ""),
                })
        for what in ("failure", "single_failure"):
            if r.get(what):
                out.append({"n_users": r["n_users"], "path": "spark" if what == "failure"
                            else "single", "step": "stopped", "note": r[what]})
    return out


def render(results: list[dict], command: str, when: str, load: tuple, commit: str = "",
           extra_notes: list[str] | None = None) -> str:
    lines = [
        "# The Spark path at scale (local mode, 2 cores)",
        "",
        "Synthetic worlds (`hr.datasets.synthetic(n_users, n_items=min(n_users // 2, 500_000), "
        "seed=0)`) written as Parquet and run through `haowurank.spark` in `local[2]`, one fresh "
        "process per size (see the docstring of `experiments/spark_scale/run.py` for each step). "
        "*Python RSS* is the driver process, *JVM RSS* the Spark JVM (driver and executor in "
        "one process in local mode; heap bounded by `spark.driver.memory`); both are the peak "
        "sampled during the step.",
        "",
        "*Single s* and *single RSS* are the single-machine path's step on the same world (one "
        "Python process; see the docstring), and *Spark / single* the ratio of the two times.",
        "",
        "| users | items | interactions | social rows | step | Spark s | rows out | Python RSS MB "
        "| JVM RSS MB | single s | single RSS MB | Spark / single | note |",
        "|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        w = r["world"]
        single = {s["step"]: s for s in r.get("single", [])}
        done = {s["step"] for s in r["steps"]}
        # steps only the single-machine path finished get a row too (Spark's cells empty)
        shown = r["steps"] + [{"step": k, "seconds": None,
                               "note": ("single machine only: every user's feed (the Spark and "
                                        "single feeds rows above are for the sample)"
                                        if k == "feeds_all" else "not reached by Spark")}
                              for k in single if k not in done]
        for s in shown:
            o = single.get(s["step"])
            other = (f"{o['seconds']:.1f} | {o.get('py_rss_mb', 0):,.0f} | "
                     f"{_ratio(s['seconds'], o['seconds'])}" if o else " | | ")
            lines.append(
                f"| {w.get('users', r['n_users']):,} | {w.get('items', 0):,} | "
                f"{w.get('interactions', 0):,} | {w.get('social_rows', 0):,} | {s['step']} | "
                + (f"{s['seconds']:.1f} | {s.get('rows_out', '')!s} | {s.get('py_rss_mb', 0):,.0f} "
                   f"| {s.get('jvm_rss_mb', 0):,.0f} | " if s["seconds"] is not None
                   else f" | {o.get('rows_out', '')!s} | | | ")
                + f"{other} | {s.get('note', '')} |"
            )
        if single:
            common = [s for s in r["steps"] if s["step"] in single]
            sp = sum(s["seconds"] for s in common)
            si = sum(single[s["step"]]["seconds"] for s in common)
            lines.append(
                f"| {r['n_users']:,} | | | | **sum of " + ", ".join(s["step"] for s in common)
                + f"** | **{sp:.1f}** | | | | **{si:.1f}** | | **{_ratio(sp, si)}** | Spark "
                f"session start-up not included |"
            )
        if r.get("single_failure"):
            lines.append(f"| {r['n_users']:,} | | | | single machine **stopped** | | | | | | | | "
                         f"{r['single_failure']} |")
        if r.get("failure"):
            lines.append(
                f"| {r['n_users']:,} | | | | **stopped** | | | | | | | | {r['failure']} |"
            )
    lines += [
        "",
        f"- Command: `{command}` (from the repository root)",
        f"- Date: {when}; git commit {commit}",
        f"- Software: {versions(('pyspark',))}",
        f"- Machine: {machine()}, Spark in `local[2]`. The machine is shared with other jobs "
        f"(other engineers' experiments ran at the same time): the 1-minute load average was "
        f"{load[0]:.1f} before and {load[1]:.1f} after the run (per step in the CSV), so times are "
        f"noisy and on a quiet machine lower.",
        *[f"- {x}" for x in (extra_notes or [])],
        "- World build (numpy, not Spark) seconds: "
        + ", ".join(f"{r['n_users']:,} users {r['world'].get('build_s', float('nan')):.0f} s"
                    for r in results),
        "",
        "## How the same job runs on a cluster",
        "",
        "The driver script is the same; `spark_session(master=None)` takes the master from "
        "`spark-submit`, the data set is read from Parquet on shared storage and the feeds are "
        "written there. What is partitioned by what, and where the shuffles are:",
        "",
        "- *Validation*: per-row rules are narrow; the report is one partial aggregation per "
        "table; merging duplicates shuffles interactions by (user, item, kind, order_id).",
        "- *Visibility and friend endorsements*: follow edges join their reverse (mutual flag) "
        "and then the endorsements by endorser: two shuffles of the edges and one of the "
        "endorsements. Output rows = sum over edges of the friend's endorsements, linear in users "
        "at a fixed degree and linear in friends per user. Very popular endorsers are skewed join "
        "keys (adaptive execution splits them).",
        "- *Trust*: one aggregation of interactions by (user, item); tie strength joins edges "
        "with both endpoints' items (rows ~ edges x items per user); each PageRank hop is a join "
        "of the frontier with the transition matrix by node plus one repartition by user that "
        "serves both the sum and the `max_endorsers` window. The 2-hop frontier has ~ users x "
        "degree^2 rows (capped per user by `max_endorsers`): the term that grows fastest with "
        "friends. Scores join trust rows with endorsements by endorser.",
        "- *Ranking and feeds*: one window partitioned by user (shuffle by user, sort within "
        "partitions); the MMR re-ranking runs per partition in Python workers on each user's "
        "`mmr_pool + n` best candidates (linear in users, independent of friends).",
        "- *ALS*: Spark ML blocks users and items and shuffles factor blocks every half "
        "iteration (~ interactions x factors per iteration); `recommendForAllUsers` is a blocked "
        "cross join of user and item factors, users x items x factors work, the one step that "
        "does not scale linearly with users at a fixed catalogue and the reason feeds score "
        "only their candidate pairs.",
        "- Users are the unit of parallelism throughout: doubling users at a fixed degree doubles "
        "work and output; doubling friends doubles the visibility and ALS-matrix joins and "
        "quadruples the 2-hop trust frontier until the cap. On a cluster, set "
        "`spark.sql.shuffle.partitions` to a few times the executor cores, keep adaptive "
        "execution on, and give executors Python with haowurank, numpy and pandas installed.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--steps", nargs="+", default=list(STEPS), choices=STEPS)
    ap.add_argument("--driver-memory", default="8g")
    ap.add_argument("--partitions", type=int, default=16)
    ap.add_argument("--als-recommend-max-users", type=int, default=200_000,
                    help="run recommendForAllUsers only up to this many users")
    ap.add_argument("--als-iterations", type=int, nargs="+", default=[10],
                    help="ALS iterations: one value for every size, or one per size")
    ap.add_argument("--single-max-users", type=int, default=100_000,
                    help="run the single-machine path too, up to this many users")
    ap.add_argument("--timeout", type=float, nargs="+", default=[4 * 3600],
                    help="seconds allowed for one size's Spark run (and its single-machine "
                         "run): one value, or one per size")
    ap.add_argument("--sample-users", type=int, nargs="+", default=[0],
                    help="trust and feeds for this many random users (0: every user): one "
                         "value, or one per size")
    ap.add_argument("--single-feeds-all", action="store_true",
                    help="the single-machine path also times feeds for every user")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--child", choices=["prep", "run", "single"], default=None)
    ap.add_argument("--folder", type=Path, default=None)
    ap.add_argument("--als", action="store_true")
    args = ap.parse_args()

    if args.child == "prep":
        print(json.dumps(prep(args.sizes[0], args.seed, args.folder, args.sample_users[0])))
        return
    if args.child == "run":
        rows = run(args.folder, args.folder.parent / f"out-{args.sizes[0]}", args.steps,
                   args.driver_memory, args.partitions, args.als, args.n, args.als_iterations[0])
        print(json.dumps(rows))
        return
    if args.child == "single":
        rows = run_single(args.folder, args.steps, args.als, args.n, args.als_iterations[0],
                          args.single_feeds_all)
        print(json.dumps(rows))
        return

    def per_size(values: list, k: int, what: str):
        if len(values) == 1:
            return values[0]
        if len(values) != len(args.sizes):
            ap.error(f"{what} takes one value or one per size ({len(args.sizes)}); got {values}")
        return values[k]

    command = "nice -n 10 .venv/bin/python experiments/spark_scale/run.py " + " ".join(sys.argv[1:])
    load0 = os.getloadavg()[0]
    start = dt.datetime.now(dt.UTC)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="hr-bench-spark-"))
    results = []
    commit = git_commit()
    try:
        for k, n_users in enumerate(args.sizes):
            iters = per_size(args.als_iterations, k, "--als-iterations")
            timeout = per_size(args.timeout, k, "--timeout")
            sample = per_size(args.sample_users, k, "--sample-users")
            folder = work / f"world-{n_users}"
            world, err = _child(["--child", "prep", "--sizes", str(n_users), "--seed",
                                 str(args.seed), "--folder", str(folder), "--sample-users",
                                 str(sample)], timeout)
            if world is None:
                results.append({"n_users": n_users, "world": {}, "steps": [],
                                "failure": f"world build failed: {err.splitlines()[0]}"})
                continue
            print(f"{n_users:,} users: world {world}", flush=True)
            run_args = ["--child", "run", "--sizes", str(n_users), "--folder", str(folder),
                        "--driver-memory", args.driver_memory, "--partitions",
                        str(args.partitions), "--n", str(args.n), "--als-iterations",
                        str(iters), "--steps", *args.steps]
            if n_users <= args.als_recommend_max_users:
                run_args.append("--als")
            steps, err = _child(run_args, timeout)
            entry = {"n_users": n_users, "world": world}
            if steps is None:
                entry["steps"] = _partial(err)
                done = [s["step"] for s in entry["steps"]]
                left = [s for s in args.steps if s not in done]
                entry["failure"] = (f"{err.splitlines()[0]}; unfinished: {', '.join(left)}"
                                    if err else "failed")
            else:
                entry["steps"] = steps
            if n_users <= args.single_max_users:
                single_args = ["--child", "single", "--sizes", str(n_users), "--folder",
                               str(folder), "--n", str(args.n), "--als-iterations", str(iters),
                               "--steps", *args.steps]
                if n_users <= args.als_recommend_max_users:
                    single_args.append("--als")
                if args.single_feeds_all:
                    single_args.append("--single-feeds-all")
                single, err = _child(single_args, timeout)
                if single is None:
                    entry["single"] = _partial(err)
                    entry["single_failure"] = err.splitlines()[0] if err else "failed"
                else:
                    entry["single"] = single
            results.append(entry)
            for s in entry["steps"]:
                print(f"  {s['step']:8s} {s['seconds']:8.1f} s  py {s.get('py_rss_mb', 0):7.0f} MB"
                      f"  jvm {s.get('jvm_rss_mb', 0):7.0f} MB  {s.get('note', '')}", flush=True)
            if entry.get("failure"):
                print(f"  stopped: {entry['failure']}", flush=True)
            for s in entry.get("single", []):
                print(f"  single {s['step']:8s} {s['seconds']:8.1f} s  py "
                      f"{s.get('py_rss_mb', 0):7.0f} MB  {s.get('note', '')}", flush=True)
            if entry.get("single_failure"):
                print(f"  single stopped: {entry['single_failure']}", flush=True)
            shutil.rmtree(folder.parent / f"out-{n_users}", ignore_errors=True)
            shutil.rmtree(folder, ignore_errors=True)
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    notes = [
        f"At {r['n_users']:,} users the trust and feeds steps ran for "
        f"{r['world']['sample_users']:,} users drawn at random (seed {args.seed}) in both paths: "
        f"Spark's trust rows and feeds, the single machine's feed.build; load and the "
        f"single-machine trust fit are whole."
        for r in results if r["world"].get("sample_users")
    ]
    end = dt.datetime.now(dt.UTC)
    when = f"{start:%Y-%m-%d %H:%M} to {end:%H:%M} UTC"
    text = render(results, command, when, (load0, os.getloadavg()[0]), commit, notes)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    rows = csv_rows(results)
    if rows:
        import csv

        fields = list(dict.fromkeys(k for r in rows for k in r))
        with args.out.with_suffix(".csv").open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=fields)
            w.writeheader()
            w.writerows(rows)


if __name__ == "__main__":
    main()
