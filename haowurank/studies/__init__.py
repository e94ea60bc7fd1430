"""Studies: the experiment runner (a TOML file names the data, the split, the strategies and their
grids), its reports, and the provenance every script under ``experiments/`` records.

Every strategy is tuned on a validation split carved from the training part (never on the
test part), refitted on the whole training part with its best parameters, and evaluated on the
test part with :func:`haowurank.evaluate`. The runner writes ``<out_dir>/<name>.md`` (the table,
the protocol, the chosen hyperparameters, targets, date, machine and the exact command),
``<name>.csv`` (one row per strategy) and ``<name>.tuning.csv`` (every grid point); ``out_dir``
defaults to ``results/`` beside the TOML file (``experiments/<study>/results/``).

A configuration file looks like this::

    name = "lastfm"
    description = "Last.fm HetRec 2011: every user-artist pair is a positive"

    [dataset]
    name = "lastfm"                      # lastfm | ciao | epinions | filmtrust | ciaodvd | synthetic
    data_dir = "lastfm-hetrec2011"       # relative: cwd, then the TOML's folder, then the data root
    # params = {min_rating = 1}          # loader keyword arguments / synthetic world knobs

    [preprocess]
    k_core = 0                           # keep users and items with >= k interactions
    min_weight = 0                       # positive threshold on the interaction weight (0: all)

    [split]
    method = "random"                    # per-user random holdout
    test_fraction = 0.2
    seed = 0
    validation_fraction = 0.2            # carved from train for tuning
    validation_seed = 1

    [evaluation]
    k = [10, 20]
    metric = "NDCG@20"                   # what tuning maximises
    cold_start_max = 5

    [target]
    metric = "NDCG@20"
    ratio = 1.05                         # best haowurank strategy / best peer
    # max_fit_ratio = 5.0                # optional: its fit seconds / tuned ALS's, at most
    # min_throughput_ratio = 0.7         # optional: its users/s / tuned ALS's, at least

    [[strategies]]
    name = "als"
    peer = true                          # a baseline the target is measured against
    params = {iterations = 15}
    grid = {factors = [32, 64, 128], regularization = [0.01, 0.1, 1.0]}

    [[strategies]]
    name = "als"
    label = "als (staged)"
    peer = true
    # a staged search: each stage starts from the best point so far; {times = [...]} scales
    # that point's value (see StrategyConfig)
    stages = [
        {factors = [128], regularization = [1.0, 10.0, 100.0], alpha = [1.0, 10.0]},
        {factors = {times = [2, 4]}},
        {regularization = {times = [0.5, 2.0]}},
    ]

The data root for relative ``data_dir`` values is
:func:`haowurank.datasets.registry.data_root` (``$HAOWURANK_DATA`` or ``../shared/data``).

Modules: ``_config`` (the dataclasses, :func:`load_config`, :func:`load_dataset`,
:func:`preprocess`), ``_runner`` (:func:`run_experiment`), ``_report`` (Markdown tables and the
result files), ``_provenance`` (:func:`provenance`: command, date, commit, machine, versions).
"""

from __future__ import annotations

from ._config import (
    DatasetConfig,
    EvaluationConfig,
    ExperimentConfig,
    PreprocessConfig,
    SplitConfig,
    StrategyConfig,
    TargetConfig,
    load_config,
    load_dataset,
    preprocess,
)
from ._provenance import (
    git_commit,
    kept_provenance,
    machine,
    provenance,
    provenance_lines,
    versions,
)
from ._report import (
    cold_columns,
    format_table,
    main_columns,
    render_markdown,
    summary_columns,
    write_results,
)
from ._runner import ExperimentResult, default_out_dir, run_experiment

__all__ = [
    "DatasetConfig",
    "EvaluationConfig",
    "ExperimentConfig",
    "ExperimentResult",
    "PreprocessConfig",
    "SplitConfig",
    "StrategyConfig",
    "TargetConfig",
    "cold_columns",
    "default_out_dir",
    "format_table",
    "git_commit",
    "kept_provenance",
    "load_config",
    "load_dataset",
    "machine",
    "main_columns",
    "preprocess",
    "provenance",
    "provenance_lines",
    "render_markdown",
    "run_experiment",
    "summary_columns",
    "versions",
    "write_results",
]
