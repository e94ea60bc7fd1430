"""Experiment configuration: typed dataclasses that round-trip through TOML and JSON, and the
data loading and preprocessing they describe (see :mod:`haowurank.studies` for the layout)."""

from __future__ import annotations

import dataclasses
import logging
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._dataset import Dataset
from ..datasets.registry import DATASETS, data_root

log = logging.getLogger("haowurank.studies")

_DATASETS = (*DATASETS, "synthetic")


def _known_keys(cls, raw: Mapping[str, Any], where: str) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise TypeError(f"The [{where}] section must be a table. Got {type(raw).__name__}.")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = [k for k in raw if k not in names]
    if unknown:
        raise ValueError(
            f"Unknown key(s) {unknown} in the [{where}] section; known keys: {sorted(names)}."
        )
    return dict(raw)


@dataclass
class DatasetConfig:
    """Which data: a real data set read from ``data_dir``, or the synthetic world."""

    name: str = "synthetic"
    data_dir: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.name not in _DATASETS:
            raise ValueError(
                f"The dataset 'name' must be one of {list(_DATASETS)}. Got {self.name!r} instead."
            )


@dataclass
class PreprocessConfig:
    """Positive threshold and k-core filtering, applied before the split."""

    min_weight: float = 0.0
    k_core: int = 0

    def __post_init__(self):
        if not isinstance(self.k_core, int) or isinstance(self.k_core, bool) or self.k_core < 0:
            raise ValueError(f"The 'k_core' key must be an int >= 0. Got {self.k_core!r} instead.")
        if not isinstance(self.min_weight, int | float) or self.min_weight < 0:
            raise ValueError(
                f"The 'min_weight' key must be a number >= 0. Got {self.min_weight!r} instead."
            )


@dataclass
class SplitConfig:
    """The outer per-user random split and the validation split carved from its train part."""

    method: str = "random"
    test_fraction: float = 0.2
    seed: int = 0
    validation_fraction: float = 0.2
    validation_seed: int = 1

    def __post_init__(self):
        if self.method != "random":
            raise ValueError(
                f"The split 'method' must be 'random' (per-user random holdout). "
                f"Got {self.method!r} instead."
            )


@dataclass
class EvaluationConfig:
    k: list[int] = field(default_factory=lambda: [10, 20])
    metric: str = "NDCG@20"
    cold_start_max: int = 5
    #: Validate on at most this many users when tuning (a seeded sample); 0: all.
    validation_users: int = 0


@dataclass
class TargetConfig:
    """What the best haowurank strategy is measured against: ``ratio`` is the least
    ``metric`` / best peer's; ``max_fit_ratio`` and ``min_throughput_ratio`` (optional) bound
    its fit seconds and recommend users/s against tuned ALS's, timed in the same run."""

    metric: str = "NDCG@20"
    ratio: float = 1.0
    max_fit_ratio: float | None = None
    min_throughput_ratio: float | None = None


@dataclass
class StrategyConfig:
    """One strategy: a registered ranker name, fixed params and an optional grid, or a staged
    search (``stages``).

    ``stages`` is a list of grids searched one after the other on validation: each stage runs
    with the fixed params updated by the best point found so far, so a stage varies only the
    keys it names. A key's value in a stage is a list of values, or ``{times = [...]}``: the
    best value so far (or the fixed param) times each factor, rounded when that value is an int
    (e.g. ``regularization = {times = [0.3, 1.0, 3.0]}`` centres the grid on the earlier best).
    The pick is the best validation point over all stages. ``grid`` and ``stages`` exclude each
    other.
    """

    name: str
    label: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, list[Any]] | list[dict[str, list[Any]]] | None = None
    peer: bool = False
    stages: list[dict[str, Any]] | None = None

    def __post_init__(self):
        if self.stages is None:
            return
        where = f"strategy {self.label or self.name!r}"
        if self.grid:
            raise ValueError(
                f"The {where} has both 'grid' and 'stages'; expected one of them (a single "
                f"grid is a one-stage search)."
            )
        if not isinstance(self.stages, list) or not self.stages:
            raise ValueError(
                f"The 'stages' key of the {where} must be a non-empty list of grids. "
                f"Got {self.stages!r} instead."
            )
        for j, stage in enumerate(self.stages):
            if not isinstance(stage, Mapping) or not stage:
                raise ValueError(
                    f"Stage {j} of the {where} must be a non-empty table of key = list of "
                    f"values. Got {stage!r} instead."
                )
            for key, v in stage.items():
                if isinstance(v, Mapping):
                    f = v.get("times")
                    if (set(v) != {"times"} or not isinstance(f, list) or not f
                            or not all(_is_factor(x) for x in f)):
                        raise ValueError(
                            f"Stage {j} key {key!r} of the {where} must be a list of values or "
                            f"{{times = [positive numbers]}}. Got {v!r} instead."
                        )
                elif isinstance(v, str) or not isinstance(v, list) or not v:
                    raise ValueError(
                        f"Stage {j} key {key!r} of the {where} must be a non-empty list of "
                        f"values or {{times = [...]}}. Got {v!r} instead."
                    )

    @property
    def display(self) -> str:
        return self.label or self.name


def _is_factor(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and 0 < x < float("inf")


@dataclass
class ExperimentConfig:
    """A whole experiment (see the module docstring for the TOML layout)."""

    name: str
    description: str = ""
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    target: TargetConfig | None = None
    strategies: list[StrategyConfig] = field(default_factory=list)
    notes: str = ""
    source: str | None = None  # the TOML file it came from

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], source: str | None = None) -> ExperimentConfig:
        raw = _known_keys(cls, raw, "top level")
        if "name" not in raw:
            raise ValueError("An experiment needs a 'name' (used for the result file names).")
        strategies = raw.get("strategies", [])
        if not isinstance(strategies, list) or not strategies:
            raise ValueError("An experiment needs at least one [[strategies]] entry.")
        return cls(
            name=str(raw["name"]),
            description=str(raw.get("description", "")),
            dataset=DatasetConfig(**_known_keys(DatasetConfig, raw.get("dataset", {}), "dataset")),
            preprocess=PreprocessConfig(
                **_known_keys(PreprocessConfig, raw.get("preprocess", {}), "preprocess")
            ),
            split=SplitConfig(**_known_keys(SplitConfig, raw.get("split", {}), "split")),
            evaluation=EvaluationConfig(
                **_known_keys(EvaluationConfig, raw.get("evaluation", {}), "evaluation")
            ),
            target=(
                TargetConfig(**_known_keys(TargetConfig, raw["target"], "target"))
                if "target" in raw else None
            ),
            strategies=[
                StrategyConfig(**_known_keys(StrategyConfig, s, "strategies")) for s in strategies
            ],
            notes=str(raw.get("notes", "")),
            source=source or raw.get("source"),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data that round-trips through :meth:`from_dict` (and JSON)."""
        d = dataclasses.asdict(self)
        if d["target"] is None:
            d.pop("target")
        return d


def load_config(path: str | os.PathLike) -> ExperimentConfig:
    """Read an experiment TOML file."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"No experiment file at {p}.")
    with open(p, "rb") as fh:
        try:
            raw = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{p} is not valid TOML: {exc}") from exc
    return ExperimentConfig.from_dict(raw, source=str(p))


# ------------------------------------------------------------------------------------------
# data
# ------------------------------------------------------------------------------------------

def _resolve_dir(cfg: DatasetConfig, source: str | None) -> Path:
    folder = cfg.data_dir or DATASETS[cfg.name].folder
    p = Path(folder).expanduser()
    candidates = [p] if p.is_absolute() else [
        Path.cwd() / p,
        *([Path(source).resolve().parent / p] if source else []),
        data_root() / p,
    ]
    for c in candidates:
        if c.is_dir():
            return c
    raise FileNotFoundError(
        f"Data folder for {cfg.name!r} not found; looked in {[str(c) for c in candidates]}. "
        f"Pass data_dir (or --data-dir) pointing at the folder that holds its files."
    )


def load_dataset(cfg: DatasetConfig, source: str | None = None) -> Dataset:
    """Load a real data set from its folder or make the synthetic world."""
    from .. import datasets

    if cfg.name == "synthetic":
        world = datasets.synthetic(**cfg.params)
        return world if isinstance(world, Dataset) else world.dataset
    path = _resolve_dir(cfg, source)
    loader = getattr(datasets, f"load_{cfg.name}")
    return loader(path, **cfg.params)


def preprocess(ds: Dataset, cfg: PreprocessConfig) -> Dataset:
    """Apply the positive threshold, then k-core filtering."""
    if cfg.min_weight > 0:
        keep = ds.interaction_arrays()["weight"] >= cfg.min_weight
        log.info("preprocess: %d of %d rows have weight >= %s", keep.sum(), len(keep), cfg.min_weight)
        ds = ds.select_interactions(keep)
    if cfg.k_core > 1:
        ds = ds.k_core(cfg.k_core)
    return ds


# ------------------------------------------------------------------------------------------
# running
# ------------------------------------------------------------------------------------------

