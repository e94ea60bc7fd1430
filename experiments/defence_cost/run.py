"""Defence cost: what does the default defence (``hr.trust.DEFAULT_DEFENCE``) cost `trust` and
`hybrid` on clean data?

Runs ``config.toml`` beside this script with the experiment runner (Ciao, the headline protocol;
each strategy once with ``defence=None`` and once with its default ``defence=True``) and writes
``results/ciao_defence_cost.md`` / ``.csv``. The same as ``haowurank run
experiments/defence_cost/config.toml``.

    .venv/bin/python experiments/defence_cost/run.py
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from haowurank.studies import run_experiment

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    run_experiment(HERE / "config.toml", out_dir=HERE / "results")
    return 0


if __name__ == "__main__":
    sys.exit(main())
