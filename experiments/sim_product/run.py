"""The simulation runs the product: feed candidates of the default world and the cost of a run.

Question: with the default ``SimulationConfig`` (the simulated feed is ``hr.feed.build`` and the
search ``hr.search``), how full are users' feeds, does the loop log messages, and what does a
5,000-user x 40-day run under ``trust`` cost?

Two runs, each in this process, single-threaded BLAS (``threadpoolctl``):

* ``default``: ``SimulationConfig(days=31, seed=0)`` (every other field at its default; the
  issue's check: median feed candidates on day 30);
* ``trust_5000x40``: ``SimulationConfig(n_users=5000, days=40, strategy="trust", seed=0)``.

For each it records the feed-candidate distribution over active users (p10 / median / p90 on
selected days), orders, messages, quota violations and seconds per phase.

Run from the repository root::

    .venv/bin/python experiments/sim_product/run.py
    .venv/bin/python experiments/sim_product/run.py --repo /tmp/old-checkout --label before

``--render`` only rewrites the Markdown from the JSON. ``--repo`` imports ``haowurank`` from
another checkout (e.g. a ``git worktree`` of an older
commit) so a "before" row is measured by the same script; ``--label`` names the rows. Results
are appended to ``experiments/sim_product/results/sim_product.json`` (one entry per label and
case, replaced when rerun) and rendered to ``results/sim_product.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
RAW = RESULTS / "sim_product.json"
OUT = RESULTS / "sim_product.md"
DAYS_SHOWN = (0, 10, 20, 30, 39)


def case(name: str, **fields) -> dict:
    import threadpoolctl

    import haowurank as hr

    cfg = hr.sim.SimulationConfig(**fields)
    load_before = os.getloadavg()[0]
    with threadpoolctl.threadpool_limits(1):
        t, c = time.perf_counter(), time.process_time()
        res = hr.sim.run(cfg)
        seconds, cpu = time.perf_counter() - t, time.process_time() - c
    d = res.daily
    s = res.summary()
    row = {
        "case": name, "config": {k: v for k, v in fields.items()}, "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu, 2),
        "load": [round(load_before, 1), round(os.getloadavg()[0], 1)],
        "timings": {k: round(float(v), 2) for k, v in res.timings.items()},
        "orders": int(s["orders"]), "messages": int(s["messages_sent"]),
        "quota_violations": int(len(res.check_quotas())),
    }
    cols = [c for c in ("feed_candidates_p10", "feed_candidates_median", "feed_candidates_p90",
                        "feed_empty_share") if c in d.columns]
    row["feed_candidates"] = {
        int(day): {c: float(d.loc[day, c]) for c in cols} for day in DAYS_SHOWN if day < len(d)
    }
    return row


def render(entries: list[dict]) -> str:
    lines = ["# The simulation runs the product: feed candidates and cost", ""]
    lines += ["Written by `experiments/sim_product/run.py` (see its docstring for the command); "
              "single-threaded BLAS; seconds are wall time of `hr.sim.run` including the world "
              "build and every fit; `cpu s` is its process CPU time and `load` the machine's "
              "1-minute load average before / after (rows measured since both were recorded; "
              "the machine is shared, so wall seconds are upper bounds).", ""]
    lines += ["| label | case | commit | seconds | cpu s | load | fit s | orders | messages | "
              "quota violations |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for e in entries:
        load = " / ".join(str(x) for x in e["load"]) if "load" in e else ""
        lines.append(f"| {e['label']} | {e['case']} | {e['commit']} | {e['seconds']} | "
                     f"{e.get('cpu_seconds', '')} | {load} | "
                     f"{e['timings'].get('fit', '')} | {e['orders']} | {e['messages']} | "
                     f"{e['quota_violations']} |")
    lines += ["", "Feed candidates per active user (p10 / median / p90; share with none):", "",
              "| label | case | day | p10 | median | p90 | empty share |", "|---|---|---|---|---|---|---|"]
    for e in entries:
        for day, v in e["feed_candidates"].items():
            if v:
                lines.append(f"| {e['label']} | {e['case']} | {day} | {v['feed_candidates_p10']:g} "
                             f"| {v['feed_candidates_median']:g} | {v['feed_candidates_p90']:g} | "
                             f"{v['feed_empty_share']:.3f} |")
    lines += ["", "Provenance of each entry:", ""]
    for e in entries:
        lines += [f"- {e['label']} / {e['case']}: Command: `{e['command']}`; Git: {e['commit']}; "
                  f"Machine: {e['machine']}", f"  - Date: {e['date']}"]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repo", default=None, help="import haowurank from this checkout")
    ap.add_argument("--label", default="after")
    ap.add_argument("--cases", nargs="*", default=["default", "trust_5000x40"])
    ap.add_argument("--render", action="store_true",
                    help="only rewrite results/sim_product.md from results/sim_product.json")
    args = ap.parse_args()
    if args.render:
        OUT.write_text(render(json.loads(RAW.read_text())))
        return
    if args.repo:
        sys.path.insert(0, str(Path(args.repo).resolve()))
    import datetime as dt
    import platform
    import subprocess

    import haowurank as hr

    repo = Path(hr.__file__).resolve().parents[1]
    commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "haowurank"],
                           capture_output=True, text=True).stdout.strip()
    cases = {
        "default": dict(days=31, seed=0),
        "trust_5000x40": dict(n_users=5000, days=40, strategy="trust", seed=0),
    }
    entries = json.loads(RAW.read_text()) if RAW.is_file() else []
    for name in args.cases:
        row = case(name, **cases[name])
        row.update(label=args.label, commit=commit + ("+dirty" if dirty else ""),
                   command=" ".join([".venv/bin/python experiments/sim_product/run.py",
                                     *sys.argv[1:]]),
                   machine=f"{platform.machine()} {platform.processor() or ''}".strip(),
                   date=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
        print(json.dumps(row))
        entries = [e for e in entries if (e["label"], e["case"]) != (args.label, name)] + [row]
    RESULTS.mkdir(parents=True, exist_ok=True)
    RAW.write_text(json.dumps(entries, indent=1) + "\n")
    OUT.write_text(render(entries))
    print(render(entries))


if __name__ == "__main__":
    main()
