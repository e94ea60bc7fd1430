"""Write the experiments index and the README's results table from the results files.

Every study is a folder ``experiments/<study>/`` with a ``run.py``, a ``README.md`` that states
its question and command (``Question: ...`` and ``Command: `...` `` lines) and a ``results/``
folder. This script reads them and writes:

- ``experiments/README.md``: one row per study (study, question, command, last run, headline
  figure), the last run being the latest ``Date:`` in its results files;
- the block between ``<!-- results:begin -->`` and ``<!-- results:end -->`` in the top-level
  ``README.md``: one line per headline study, with a link to the results file it comes from.

Headline figures are read from the results tables here (never typed by hand), so rerunning a
study and then this script updates both. ``--check`` writes nothing and exits 1 when either file
is not what this script would write (``tests/test_experiments_index.py`` runs it).

    .venv/bin/python experiments/make_index.py           # or: make index
    .venv/bin/python experiments/make_index.py --check
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
INDEX = HERE / "README.md"
README = ROOT / "README.md"
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"

#: Studies shown in the top-level README's "results at a glance", in this order.
GLANCE = ["ranking_quality", "social_placebo", "two_stage_serving", "recommend_throughput",
          "feed_scale",
          "sim_scaling", "spam_sensitivity", "offline_vs_sim", "ab_interference", "attack_robustness",
          "defence_cost"]


# ------------------------------------------------------------------------------------------
# reading results
# ------------------------------------------------------------------------------------------

def md_tables(path: Path) -> list[list[dict[str, str]]]:
    """Every pipe table of a Markdown file as a list of rows (header -> cell text)."""
    tables, block = [], []
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        if line.startswith("|"):
            block.append([c.strip() for c in line.strip().strip("|").split("|")])
            continue
        if len(block) >= 2 and set("".join(block[1])) <= set("-: "):
            head = block[0]
            tables.append([dict(zip(head, row, strict=False)) for row in block[2:]])
        block = []
    return tables


def last_run(study: Path) -> str:
    """The latest date (YYYY-MM-DD) on a ``Date`` line of the study's results files."""
    dates = []
    for f in sorted((study / "results").glob("*.md")):
        for m in re.finditer(r"Date:?\**\s*(\d{4}-\d{2}-\d{2})", f.read_text(encoding="utf-8")):
            dates.append(m.group(1))
    return max(dates) if dates else "-"


def _row(table: list[dict[str, str]], col: str, value: str) -> dict[str, str]:
    for r in table:
        if r.get(col, "").strip("* ").lower().startswith(value.lower()):
            return r
    raise KeyError(f"no row with {col} = {value!r}")


def _table_with(path: Path, col: str) -> list[dict[str, str]]:
    for t in md_tables(path):
        if t and col in t[0]:
            return t
    raise KeyError(f"{path}: no table with a column {col!r}")


NAMES = {"lastfm": "LastFM", "ciao": "Ciao", "epinions": "Epinions"}


def _ranking_quality(d: Path) -> tuple[str, str]:
    f = d / "results" / "headline.md"
    t = _table_with(f, "ratio")
    parts = [f"{NAMES.get(r['data'], r['data'])} {float(r['ratio']):.3f}x "
             f"({'met' if r['met'] == 'yes' else 'not met'}, target {float(r['target']):.2f}x)"
             for r in t]
    return "`hybrid` test NDCG@20 / best tuned peer: " + "; ".join(parts), f


def _hybrid_cost(d: Path) -> tuple[str, str]:
    f = d / "results" / "hybrid_cost.md"
    t = _table_with(f, "fit ratio")
    fit = " / ".join(f"{float(r['fit ratio']):.1f}x" for r in t)
    tp = " / ".join(f"{float(r['throughput ratio']):.2f}x" for r in t)
    names = " / ".join(NAMES.get(r["data"], r["data"]) for r in t)
    return (f"`hybrid` against tuned ALS ({names}): fit time {fit}, recommend throughput {tp}",
            f)


def _recommend_throughput(d: Path) -> tuple[str, str]:
    f = d / "results" / "recommend_throughput.md"
    t = _table_with(f, "ratio")
    parts = [f"{r['data set']} {r['ratio']}" for r in t]
    return "`als` batch recommend users/s / implicit's best call: " + "; ".join(parts), f


def _serving(d: Path) -> tuple[str, str]:
    f = d / "results" / "serving.md"
    t = _table_with(f, "p99 / implicit p99")
    page = _row(t, "call", "RankerService.feed_page")
    return (f"single-user feed p99 {page['p99 ms']} ms, {page['p99 / implicit p99']} "
            "implicit's recommend p99 (100k users x 50k items)", f)


def _two_stage_serving(d: Path) -> tuple[str, str]:
    f = d / "results" / "two_stage_serving.md"
    t = _table_with(f, "batch users/s / ALS (>= 0.25)")
    names = " / ".join(NAMES.get(r["data"], r["data"]) for r in t)

    def col(head: str, unit: str) -> str:
        return " / ".join(r[head].split(" (")[0] + unit for r in t)

    misses = [f"{NAMES.get(r['data'], r['data'])} {h.split(' (')[0].split(' /')[0]}"
              for r in t for h in r if h != "data" and r[h].endswith("(no)")]
    verdict = "every bar met" if not misses else "not met: " + ", ".join(misses)
    return (f"`hybrid` served in two stages against the peer grid's ALS ({names}): single-user p99 "
            f"{col('hybrid p99 / ALS p99 (<= 3)', 'x')}, batch {col('batch users/s / ALS (>= 0.25)', 'x')}, "
            f"fit {col('fit / ALS (<= 10)', 'x')}, NDCG@20 loss {col('NDCG@20 loss % (<= 1)', '%')}; "
            f"{verdict}", f)


def _feed_scale(d: Path) -> tuple[str, str]:
    f = d / "results" / "feed_scale.md"
    t = _table_with(f, "ms / user")
    parts = [f"{r['users']} users {r['feeds s']} s ({r['ms / user']} ms / user)" for r in t]
    return "friends' feeds for every user on one machine: " + "; ".join(parts), f


def _sim_scaling(d: Path) -> tuple[str, str]:
    f = d / "results" / "sim_scaling.md"
    t = _table_with(f, "sim_cpu_s")
    parts = [f"{r['users']} users x {r['days']} days {r['us_per_user_day_cpu']} us"
             for r in t if r["strategy"] == "trust"]
    # the report's bar lines: "- Bar ... <= B s under `S` (...): W s wall, ...; misses it."
    pattern = (r"^- Bar .*?<= (\d+) s under `(\w+)` \(([^)]*)\): ([\d.]+) s wall.*; "
               r"(meets|misses|meets in CPU time)")
    bars = []
    for bar, strategy, what, wall, verdict in re.findall(pattern, f.read_text(encoding="utf-8"),
                                                         re.M):
        apart = ", without fits" if "without" in what else ""
        met = "met" if verdict == "meets" else "not met"
        bars.append(f"`{strategy}` {wall} s (bar {bar} s{apart}; {met})")
    return ("100,000 users x 90 days, seconds of simulation: " + ", ".join(bars)
            + "; simulation CPU microseconds per user-day (`trust`, fits included): "
            + "; ".join(parts)), f


def _social_placebo(d: Path) -> tuple[str, str]:
    """Real graph over shuffled graphs per strategy and data set (all test users), the
    endorsement rankers' own run taking precedence over the main run's rows."""
    rows: dict[tuple[str, str], dict[str, str]] = {}
    for name in ("social_placebo.csv", "endorsement_rankers.csv"):
        f = d / "results" / name
        if f.is_file():
            with f.open(encoding="utf-8") as fh:
                for r in csv.DictReader(fh):
                    if r["population"] == "all" and r["lift_vs_shuffled"]:
                        rows[(r["strategy"], r["dataset"])] = r
    parts = []
    for strategy in dict.fromkeys(k[0] for k in rows):
        mine = [r for (s_, _), r in rows.items() if s_ == strategy]
        met = sum(r["meets_bar"] == "True" for r in mine)
        below = any(float(r["lift_vs_shuffled_hi"]) < 0 for r in mine)
        lifts = ", ".join(f"{NAMES.get(r['dataset'], r['dataset'])} "
                          f"{100 * float(r['lift_vs_shuffled']):+.3g}%" for r in mine)
        verdict = "met" if met >= 2 and not below else "not met"
        parts.append(f"`{strategy}` {lifts} ({verdict})")
    return ("test NDCG@20, real social graph over degree-preserving shuffled graphs (bar: +2%, "
            "interval above 0, on two of three data sets, never below): " + "; ".join(parts)), (
        d / "results" / "endorsement_rankers.md")


def _spam_sensitivity(d: Path) -> tuple[str, str]:
    f = d / "results" / "spam_sensitivity.md"
    t = _table_with(f, "answer")
    return t[0]["answer"], d / "results" / "spam_sensitivity.png"


def _attack_robustness(d: Path) -> tuple[str, str]:
    f = d / "results" / "attack_robustness.md"
    t = _table_with(f, "hit ratio attacked")
    parts = [f"`{r['strategy']}` {r['hit ratio attacked']}"
             for r in t if r["strategy"] in ("trust", "hybrid")]
    return ("honest LastFM users with the promoted item in their top 20 under 100 sybils, "
            "defences on: " + ", ".join(parts)), f


def _defence_cost(d: Path) -> tuple[str, str]:
    f = d / "results" / "ciao_defence_cost.md"
    t = _table_with(f, "NDCG@20")
    parts = []
    for s in ("trust", "hybrid"):
        off, on = _row(t, "strategy", f"{s} (defence off)"), _row(t, "strategy", f"{s} (defence on)")
        parts.append(f"`{s}` {float(on['NDCG@20']) / float(off['NDCG@20']):.3f}x")
    return "Ciao test NDCG@20 with the default defence / without: " + ", ".join(parts), f


def _trust_rankers(d: Path) -> tuple[str, str]:
    f = d / "results" / "trust_rankers.md"
    t = _table_with(f, "NDCG@20")
    parts = [f"{NAMES.get(r['dataset'], r['dataset'])} {r['NDCG@20']}"
             for r in t if r["strategy"] == "trust (tuned)"] or [
        f"{NAMES.get(r['dataset'], r['dataset'])} {r['NDCG@20']}" for r in t
        if r["strategy"] == "trust"]
    return "`trust` test NDCG@20: " + ", ".join(parts), f


def _scoring_paths(d: Path) -> tuple[str, str]:
    f = d / "results" / "scoring_paths.md"
    t = _table_with(f, "ratio (new over reference)")
    parts = [f"{r['what'].split(', ')[0]} {r['ratio (new over reference)']}" for r in t]
    return "new path over the path it replaces (same outputs): " + "; ".join(parts), f


def _synthetic_world(d: Path) -> tuple[str, str]:
    f = d / "results" / "synthetic_world.md"
    t = _table_with(f, "build s")
    parts = [f"{r['users']} users {r['build s']} s, {r['peak RSS MB']} MB" for r in t]
    return "build time and peak memory: " + "; ".join(parts), f


def _loaders(d: Path) -> tuple[str, str]:
    f = d / "results" / "loaders.md"
    t = _table_with(f, "best s")
    parts = [f"{r['data set']} {r['best s']} s" for r in t]
    return "load time (best of the repeats): " + "; ".join(parts), f


def _dashboard_timing(d: Path) -> tuple[str, str]:
    f = d / "results" / "dashboard_timing.md"
    t = _table_with(f, "seconds")
    r = t[0]
    return f"{r['what']}: {r['seconds']} s", f


def _factor_frontier(d: Path) -> tuple[str, str]:
    f = d / "results" / "factor_frontier.md"
    t = _table_with(f, "lastfm")
    r = _row(t, "", "best factor model within the cost bars")
    parts = [f"{NAMES[k]} {r[k].split(';')[0]})" for k in ("lastfm", "ciao", "epinions") if k in r]
    return ("best factor model inside the cost bars, validation NDCG@20 (x best peer): "
            + ", ".join(parts)), f


def _spark_scale(d: Path) -> tuple[str, str]:
    f = d / "results" / "spark_scale.md"
    t = _table_with(f, "Spark / single")
    sums = [r for r in t if r.get("step", "").startswith("**sum")]
    parts = [f"{r['step'].strip('*')}: {r['Spark / single'].strip('*')}" for r in sums]
    return "Spark `local[2]` / single machine, 100k users: " + "; ".join(parts), f


def _defence_flags(d: Path) -> tuple[str, str]:
    f = d / "results" / "defence_flags.md"
    t = _table_with(f, "share of judged")
    default = t[0]["threshold"], t[0]["reference"]  # the script's first cut is the default
    parts = [f"{NAMES.get(r['dataset'], r['dataset'])} {r['share of judged']}"
             for r in t if r["dataset"] in NAMES and (r["threshold"], r["reference"]) == default]
    return (f"judged accounts the SybilRank step flags on clean data at the default cut "
            f"({default[0]} x the {default[1]} judged account): " + ", ".join(parts)), f


def _hybrid_ease_bound(d: Path) -> tuple[str, str]:
    f = d / "results" / "hybrid_ease_bound_epinions.md"
    t = _table_with(f, "vs hybrid")
    r = _row(t, "variant", "hybrid + EASE features (its candidates)")
    return f"Epinions validation NDCG@20 with exact EASE features: {r['vs hybrid']} `hybrid`'s", f


def _hybrid_ranking_model(d: Path) -> tuple[str, str]:
    f = d / "results" / "hybrid_ranking_model.md"
    t = _table_with(f, "vs hybrid")
    best = max(t, key=lambda r: float(r["vs hybrid"].rstrip("x")))
    return (f"best learner: {best['learner']} on {NAMES.get(best['data'], best['data'])}, "
            f"{best['vs hybrid']} `hybrid`'s validation NDCG@20"), f


def _catalogue_intervals(d: Path) -> tuple[str, str]:
    f = d / "results" / "catalogue_intervals.md"
    t = [r for r in _table_with(f, "share containing the target")
         if r["method"] == "hr.evaluation.catalogue_intervals"]
    names = list(dict.fromkeys(r["strategy"] for r in t))
    parts = [f"{m} " + " / ".join(r["share containing the target"] for r in t if r["metric"] == m)
             for m in dict.fromkeys(r["metric"] for r in t)]
    return (f"share of `catalogue_intervals`' 95% intervals containing the simulated value "
            f"({' / '.join(names)}): " + "; ".join(parts)), f


def _offline_vs_sim(d: Path) -> tuple[str, str]:
    f = d / "results" / "offline_vs_sim.md"
    return _table_with(f, "answer")[0]["answer"], f


def _ab_interference(d: Path) -> tuple[str, str]:
    f = d / "results" / "ab_interference.md"
    return _table_with(f, "answer")[0]["answer"], f


HEADLINES: dict[str, Callable[[Path], tuple[str, str]]] = {
    "ab_interference": _ab_interference,
    "offline_vs_sim": _offline_vs_sim,
    "catalogue_intervals": _catalogue_intervals,
    "factor_frontier": _factor_frontier,
    "spark_scale": _spark_scale,
    "defence_flags": _defence_flags,
    "hybrid_ease_bound": _hybrid_ease_bound,
    "hybrid_ranking_model": _hybrid_ranking_model,
    "ranking_quality": _ranking_quality,
    "hybrid_cost": _hybrid_cost,
    "recommend_throughput": _recommend_throughput,
    "serving": _serving,
    "two_stage_serving": _two_stage_serving,
    "feed_scale": _feed_scale,
    "sim_scaling": _sim_scaling,
    "spam_sensitivity": _spam_sensitivity,
    "social_placebo": _social_placebo,
    "attack_robustness": _attack_robustness,
    "defence_cost": _defence_cost,
    "trust_rankers": _trust_rankers,
    "scoring_paths": _scoring_paths,
    "synthetic_world": _synthetic_world,
    "loaders": _loaders,
    "dashboard_timing": _dashboard_timing,
}


# ------------------------------------------------------------------------------------------
# studies
# ------------------------------------------------------------------------------------------

def studies() -> list[Path]:
    """Every study folder (a folder of experiments/ with a run.py), sorted by name."""
    return sorted(p.parent for p in HERE.glob("*/run.py"))


def describe(study: Path) -> dict[str, str]:
    """Question and command from the study's README.md ('-' where it states none)."""
    readme = study / "README.md"
    text = readme.read_text(encoding="utf-8") if readme.is_file() else ""
    q = re.search(r"^Question:\s*(.+)$", text, re.M)
    c = re.search(r"^Command:\s*`([^`]+)`", text, re.M)
    return {
        "question": q.group(1).strip() if q else "- (no README.md with a Question: line)",
        "command": c.group(1).strip() if c else f".venv/bin/python experiments/{study.name}/run.py",
    }


def headline(study: Path, link_from: Path) -> str:
    """The study's headline figure with a relative link to its results file ('' if none)."""
    fn = HEADLINES.get(study.name)
    if fn is None:
        return ""
    text, f = fn(study)
    rel = Path(f).resolve().relative_to(link_from.resolve().parent)
    return f"{text} ([{Path(f).name}]({rel.as_posix()}))"


def render_index() -> str:
    lines = [
        "# Experiments",
        "",
        "<!-- Generated by experiments/make_index.py from the studies' README.md and results "
        "files; edit those, then run `make index`. -->",
        "",
        "One folder per question: `experiments/<study>/` holds `run.py`, its configuration "
        "(`*.toml`, where it has one), a `README.md` (question, command, answer) and `results/` "
        "(each results file says how it was produced: command, date, machine; runs since the "
        "provenance helper `haowurank.studies.provenance` also the commit and versions). "
        "`make results STUDY=<study>` reruns one study; `make index` rewrites this page and the "
        "results table of the top-level README.",
        "",
        "The machine these ran on had 2 cores shared with other jobs: absolute times are upper "
        "bounds; ratios against `implicit` or ALS were measured in the same run.",
        "",
        "| study | question | command | last run | headline |",
        "|---|---|---|---|---|",
    ]
    for s in studies():
        d = describe(s)
        cells = [f"[{s.name}]({s.name}/README.md)", d["question"], f"`{d['command']}`",
                 last_run(s), headline(s, INDEX)]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def render_glance() -> str:
    lines = [BEGIN, "", "| study | latest result |", "|---|---|"]
    for name in GLANCE:
        s = HERE / name
        if s.is_dir():
            lines.append(f"| [{name}](experiments/{name}/README.md) | {headline(s, README)} |")
    lines += ["", END]
    return "\n".join(lines)


def readme_with_glance(text: str) -> str:
    if BEGIN not in text or END not in text:
        raise ValueError(f"README.md has no {BEGIN} ... {END} block for the results table.")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return head + render_glance() + tail


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true",
                    help="write nothing; exit 1 if experiments/README.md or README.md is stale")
    args = ap.parse_args(argv)
    index = render_index()
    readme = readme_with_glance(README.read_text(encoding="utf-8"))
    stale = [p for p, text in ((INDEX, index), (README, readme))
             if not p.is_file() or p.read_text(encoding="utf-8") != text]
    if args.check:
        for p in stale:
            print(f"{p.relative_to(ROOT)} is stale: run `make index`", file=sys.stderr)
        return 1 if stale else 0
    INDEX.write_text(index, encoding="utf-8")
    README.write_text(readme, encoding="utf-8")
    print(f"wrote {INDEX.relative_to(ROOT)} and the results table of README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
