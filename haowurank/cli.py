"""Command line: ``haowurank compare ...`` and ``haowurank run experiments/<study>/<name>.toml``.

``compare`` evaluates every registered strategy (or those named) on one data set with the
standard protocol (per-user random 80/20 split, seed 0; full ranking over training items, seen
excluded) and prints the table; ``--tune light`` first tunes a few key parameters of each
strategy on a validation split carved from train. ``run`` executes an experiment TOML file and
writes its report into ``results/`` beside the TOML file (or ``--out-dir``). ``strategies``
lists the registered names.

Examples::

    haowurank compare --dataset synthetic
    haowurank compare --dataset synthetic --world data/default_world.toml
    haowurank compare --dataset lastfm --data-dir ../shared/data/lastfm-hetrec2011
    haowurank run experiments/ranking_quality/lastfm.toml
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
from collections.abc import Sequence

from .datasets.registry import DATASETS, DEFAULT_WORLD, read_world
from .studies import (
    DatasetConfig,
    EvaluationConfig,
    ExperimentConfig,
    PreprocessConfig,
    SplitConfig,
    StrategyConfig,
    TargetConfig,
    cold_columns,
    format_table,
    run_experiment,
    summary_columns,
)

__all__ = ["DEFAULT_ORDER", "LIGHT_GRIDS", "PEERS", "build_compare_config", "main"]

#: Display order of the strategies (others follow alphabetically).
DEFAULT_ORDER = (
    "popularity", "friend_endorsements", "trust", "item_knn", "bpr", "als", "ease", "social_als",
    "hybrid",
)
#: Strategies that are outside baselines ("peers") for the target ratio.
PEERS = ("als", "ease", "bpr", "item_knn", "sbpr")
#: A light grid per strategy for ``--tune light`` (a few points on the parameters that matter).
LIGHT_GRIDS: dict[str, dict[str, list]] = {
    "als": {"factors": [32, 64], "regularization": [0.01, 0.1]},
    "bpr": {"factors": [32, 64]},
    "item_knn": {"K": [50, 200]},
    "ease": {"regularization": [100.0, 500.0]},
    "social_als": {"factors": [32, 64]},
}
#: Protocol defaults per data set (positives and k-core, as in the headline experiments).
DATASET_DEFAULTS: dict[str, dict] = {
    "lastfm": {"k_core": 0},
    "ciao": {"k_core": 5},
    "epinions": {"k_core": 5},
    "filmtrust": {"k_core": 0},
    "ciaodvd": {"k_core": 5},
    "synthetic": {"k_core": 0},
}
#: The embedded demo world (``data/default_world.toml``; the registry's ``DEFAULT_WORLD``).
SYNTHETIC_DEFAULTS: dict = DEFAULT_WORLD
TARGET_RATIOS = {"lastfm": 1.05, "ciao": 1.10, "epinions": 1.10}


def _ordered(names: Sequence[str]) -> list[str]:
    first = [n for n in DEFAULT_ORDER if n in names]
    return first + sorted(n for n in names if n not in first)


def _valid_light_grid(name: str) -> dict[str, list] | None:
    grid = LIGHT_GRIDS.get(name)
    if not grid:
        return None
    from .rankers import make

    params = make(name).get_params()
    grid = {k: v for k, v in grid.items() if k in params}
    return grid or None


def build_compare_config(args: argparse.Namespace) -> ExperimentConfig:
    """The experiment that ``compare`` runs, from its command-line arguments."""
    from .rankers import available

    names = available()
    chosen = list(args.strategies) if args.strategies else _ordered(names)
    unknown = [s for s in chosen if s not in names]
    if unknown:
        raise SystemExit(f"haowurank compare: unknown strategies {unknown}; available: {names}")
    params: dict = {}
    if getattr(args, "world", None) and args.dataset != "synthetic":
        raise SystemExit(
            f"haowurank compare: --world describes a synthetic world; it cannot be combined "
            f"with --dataset {args.dataset}"
        )
    if args.dataset == "synthetic":
        params = read_world(args.world) if getattr(args, "world", None) else dict(SYNTHETIC_DEFAULTS)
        for key in ("n_users", "n_items", "seed"):
            v = getattr(args, key)
            if v is not None:
                params[key] = v
    defaults = DATASET_DEFAULTS.get(args.dataset, {})
    k_core = args.k_core if args.k_core is not None else defaults.get("k_core", 0)
    strategies = []
    for s in chosen:
        grid = _valid_light_grid(s) if args.tune == "light" else None
        strategies.append(StrategyConfig(name=s, grid=grid, peer=s in PEERS))
    ratio = TARGET_RATIOS.get(args.dataset)
    return ExperimentConfig(
        name=args.name or f"compare-{args.dataset}",
        description=f"haowurank compare on {args.dataset}"
        + (" (light tuning)" if args.tune == "light" else " (default parameters)"),
        dataset=DatasetConfig(name=args.dataset, data_dir=args.data_dir, params=params),
        preprocess=PreprocessConfig(min_weight=args.min_weight or 0.0, k_core=k_core),
        split=SplitConfig(seed=args.seed_split),
        evaluation=EvaluationConfig(k=sorted(set(args.k)), metric=f"NDCG@{max(args.k)}"),
        target=TargetConfig(metric=f"NDCG@{max(args.k)}", ratio=ratio) if ratio else None,
        strategies=strategies,
    )


def _print_result(result, out) -> None:
    cfg = result.config
    metric = cfg.evaluation.metric
    d = result.data_summary
    t = result.table
    n_users = int(t["users"].iloc[0]) if len(t) else 0
    n_cold = int(t["cold_users"].iloc[0]) if len(t) else 0
    print(
        f"{cfg.name}: {d['users']:,} users, {d['items']:,} items, {d['distinct_pairs']:,} pairs; "
        f"{n_users:,} test users ({n_cold:,} cold-start); "
        f"full ranking over training items, seen excluded; k = {cfg.evaluation.k}",
        file=out,
    )
    print(format_table(result.table, summary_columns(result.table, metric, cfg.evaluation.k)),
          file=out)
    print(f"\ncold-start users (<= {cfg.evaluation.cold_start_max} training items):", file=out)
    print(format_table(result.table, ["cold_users", *cold_columns(cfg.evaluation.k)]), file=out)
    tuned = {s: p for s, p in result.best_params.items() if p}
    if tuned:
        print("\nparameters used:", file=out)
        for s, p in tuned.items():
            print(f"  {s}: {json.dumps(p, sort_keys=True)}", file=out)
    if result.files:
        print("\nwrote " + ", ".join(result.files), file=out)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="haowurank", description=__doc__.split("\n\n")[0])
    p.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("compare", help="evaluate the strategies on one data set and print a table")
    c.add_argument("--dataset", required=True, choices=[*DATASETS, "synthetic"])
    c.add_argument("--data-dir", help="folder holding the data set's files")
    c.add_argument("--strategies", nargs="+", help="names (default: every registered strategy)")
    c.add_argument("--tune", choices=["none", "light"], default="none",
                   help="tune a light grid per strategy on validation (default: defaults only)")
    c.add_argument("--k", type=int, nargs="+", default=[10, 20], help="cutoffs (default 10 20)")
    c.add_argument("--k-core", type=int, help="k-core filtering (default per data set)")
    c.add_argument("--min-weight", type=float, help="positive threshold on interaction weight")
    c.add_argument("--world", help="synthetic world: a world TOML file (data/default_world.toml)")
    c.add_argument("--n-users", type=int, help="synthetic world: users")
    c.add_argument("--n-items", type=int, help="synthetic world: items")
    c.add_argument("--seed", type=int, help="synthetic world: seed")
    c.add_argument("--seed-split", type=int, default=0, help="seed of the 80/20 split (default 0)")
    c.add_argument("--name", help="experiment name (result file names)")
    c.add_argument("--out-dir", help="also write <name>.md/.csv into this folder")
    c.add_argument("--no-progress", action="store_true", help="no progress bars")

    r = sub.add_parser("run", help="run an experiment TOML file and write its report")
    r.add_argument("config", help="path of the experiment TOML file")
    r.add_argument("--strategies", nargs="+", help="run only these strategies")
    r.add_argument("--out-dir", default=None,
                   help="where reports go (default: results/ beside the TOML file)")
    r.add_argument("--no-write", action="store_true", help="print only, write nothing")
    r.add_argument("--reuse", action="store_true",
                   help="with --strategies: keep the other strategies' rows of the last run")
    r.add_argument("--no-progress", action="store_true", help="no progress bars")

    sub.add_parser("strategies", help="list the registered strategies")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``haowurank`` command; returns the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(args_list)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    out = sys.stdout
    command = "haowurank " + " ".join(shlex.quote(a) for a in args_list)
    if args.command == "strategies":
        from .rankers import available

        for name in _ordered(available()):
            print(name, file=out)
        return 0
    if args.command == "compare":
        if any(k < 1 for k in args.k):
            raise SystemExit(f"haowurank compare: --k must be positive ints, got {args.k}")
        cfg = build_compare_config(args)
        result = run_experiment(
            cfg, out_dir=args.out_dir, command=command, show_progress=not args.no_progress,
            write=args.out_dir is not None,
        )
    else:
        result = run_experiment(
            args.config, out_dir=args.out_dir, strategies=args.strategies, command=command,
            show_progress=not args.no_progress, write=not args.no_write, reuse=args.reuse,
        )
    _print_result(result, out)
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised through subprocess in tests
    sys.exit(main())
