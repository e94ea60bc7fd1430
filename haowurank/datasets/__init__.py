"""Real-data loaders (read from a folder; nothing is downloaded), the seeded synthetic world, and
the dataset registry (:mod:`haowurank.datasets.registry`: which data sets exist, where they lie,
and the one data-root lookup, :func:`data_root`)."""

from . import registry
from ._loaders import load_ciao, load_ciaodvd, load_epinions, load_filmtrust, load_lastfm
from ._synthetic import SyntheticWorld, synthetic
from .registry import DATASETS, data_root, dataset_path

__all__ = [
    "DATASETS",
    "SyntheticWorld",
    "data_root",
    "dataset_path",
    "load_ciao",
    "load_ciaodvd",
    "load_epinions",
    "load_filmtrust",
    "load_lastfm",
    "registry",
    "synthetic",
]
