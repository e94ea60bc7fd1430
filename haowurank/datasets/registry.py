"""The dataset registry and the one data-root lookup.

Every real data set the library reads is one row of :data:`DATASETS`: its registry name, the
folder it lies in under the data root, the other folder names it is known by, the loader that
reads it, the citation its ``SOURCE.md`` asks for, and the counts of its source files. Nothing
is downloaded and nothing is copied into the repository: :func:`data_root` finds the shared
folder, and :func:`dataset_path` finds one data set in it.

The data root is, in this order:

1. ``$HAOWURANK_DATA`` when it is set (used as given, even when the folder is absent);
2. ``../shared/data`` next to the repository that holds this package (a source checkout);
3. ``shared/data`` in the working directory or in one of its parents (an installed package run
   from inside a checkout's folder tree, e.g. ``notebooks/``).

When none of these exists, the second is returned, so that a message can name where the data
was expected. ``data/README.md`` at the repository's top level documents this table (a test
checks the two agree), and ``data/default_world.toml`` holds :data:`DEFAULT_WORLD`, the seeded
synthetic world that ``make demo`` and ``haowurank compare --dataset synthetic`` build.

Example
-------
>>> from haowurank.datasets import registry
>>> registry.DATASETS["lastfm"].folder
'lastfm-hetrec2011'
>>> registry.dataset_for_folder("/anywhere/CiaoDVD")
'ciaodvd'
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "DATASETS",
    "DATASET_FOLDERS",
    "DEFAULT_WORLD",
    "DEFAULT_WORLD_FILE",
    "ENV_VAR",
    "DatasetInfo",
    "data_root",
    "dataset_for_folder",
    "dataset_path",
    "load",
    "read_world",
]

#: Environment variable that overrides the data root.
ENV_VAR = "HAOWURANK_DATA"

#: The embedded default world: the seeded synthetic world that ``make demo`` and
#: ``haowurank compare --dataset synthetic`` build; every other knob of
#: :class:`haowurank.datasets.SyntheticWorld` keeps its default. ``data/default_world.toml``
#: writes the same world out in full (a test checks they agree).
DEFAULT_WORLD: dict[str, int] = {"n_users": 2000, "n_items": 1000, "seed": 0}

#: Where the default world's TOML lies in a source checkout (absent in an installed package).
DEFAULT_WORLD_FILE = Path(__file__).resolve().parents[2] / "data" / "default_world.toml"


@dataclass(frozen=True)
class DatasetInfo:
    """One real data set of the registry.

    Parameters
    ----------
    name : str
        Registry name (``hr.datasets.load_<name>`` reads it).
    folder : str
        Folder name under :func:`data_root`.
    aliases : tuple of str
        Other folder names the data set is known by (lower case), e.g. the archive's own name.
    loader : str
        Name of the loader function in :mod:`haowurank.datasets`.
    citation : str
        The reference its ``SOURCE.md`` asks users to cite.
    users, items : int
        Distinct users and items of the source's interaction file.
    interactions : int
        Rows of the source's interaction file (before the loader's repairs).
    social : int
        Rows of the source's social (friend / trust) file.
    timestamps : bool
        Whether the interactions carry dates.
    """

    name: str
    folder: str
    aliases: tuple[str, ...]
    loader: str
    citation: str
    users: int
    items: int
    interactions: int
    social: int
    timestamps: bool

    @property
    def folder_names(self) -> tuple[str, ...]:
        """The folder name under the data root, then the aliases."""
        return (self.folder, *self.aliases)


_TANG = ("J. Tang, H. Gao, H. Liu. mTrust: Discerning multi-faceted trust in a connected "
         "world. WSDM 2012; J. Tang, H. Gao, H. Liu, A. Das Sarma. eTrust: Understanding trust "
         "evolution in an online world. KDD 2012")

#: Registry name -> :class:`DatasetInfo`, one row per real data set (counts from each
#: folder's ``SOURCE.md``).
DATASETS: dict[str, DatasetInfo] = {
    d.name: d
    for d in (
        DatasetInfo(
            "lastfm", "lastfm-hetrec2011", ("lastfm", "hetrec2011-lastfm-2k"), "load_lastfm",
            "I. Cantador, P. Brusilovsky, T. Kuflik. 2nd Workshop on Information Heterogeneity "
            "and Fusion in Recommender Systems (HetRec 2011). RecSys 2011",
            users=1892, items=17632, interactions=92834, social=25434, timestamps=False,
        ),
        DatasetInfo(
            "ciao", "ciao", (), "load_ciao", _TANG,
            users=7375, items=105114, interactions=284086, social=111781, timestamps=True,
        ),
        DatasetInfo(
            "epinions", "epinions", ("epinions-trustlet",), "load_epinions", _TANG,
            users=22164, items=296277, interactions=922267, social=355754, timestamps=False,
        ),
        DatasetInfo(
            "filmtrust", "filmtrust", (), "load_filmtrust",
            "G. Guo, J. Zhang, N. Yorke-Smith. A Novel Bayesian Similarity Measure for "
            "Recommender Systems. IJCAI 2013",
            users=1508, items=2071, interactions=35497, social=1853, timestamps=False,
        ),
        DatasetInfo(
            "ciaodvd", "ciaodvd", ("ciao-dvd",), "load_ciaodvd",
            "G. Guo, J. Zhang, D. Thalmann, N. Yorke-Smith. ETAF: An Extended Trust "
            "Antecedents Framework for Trust Prediction. ASONAM 2014",
            users=17615, items=16121, interactions=72665, social=40133, timestamps=True,
        ),
    )
}

#: Registry name -> folder name under :func:`data_root`.
DATASET_FOLDERS: dict[str, str] = {name: d.folder for name, d in DATASETS.items()}


def data_root() -> Path:
    """The folder that holds the real data sets (see the module docstring for the order).

    Returns
    -------
    Path
        ``$HAOWURANK_DATA`` if set; else the first existing of ``../shared/data`` next to the
        repository and ``shared/data`` in the working directory or its parents; else the
        repository's ``../shared/data`` (which then does not exist).
    """
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    beside_repo = Path(__file__).resolve().parents[3] / "shared" / "data"
    if beside_repo.is_dir():
        return beside_repo
    cwd = Path.cwd().resolve()
    for base in (cwd, *cwd.parents):
        if (base / "shared" / "data").is_dir():
            return base / "shared" / "data"
    return beside_repo


def _info(name: str) -> DatasetInfo:
    if not isinstance(name, str):
        raise TypeError(f"The data set 'name' must be a str. Got {type(name).__name__}.")
    try:
        return DATASETS[name]
    except KeyError:
        raise KeyError(
            f"Unknown data set {name!r}; the registry knows {sorted(DATASETS)}."
        ) from None


def dataset_path(name: str, *, must_exist: bool = False) -> Path:
    """Folder of the registered data set ``name`` under :func:`data_root`.

    Parameters
    ----------
    name : str
        A key of :data:`DATASETS`.
    must_exist : bool, default False
        Raise ``FileNotFoundError`` (naming the folder and ``$HAOWURANK_DATA``) when the
        folder is absent.

    Raises
    ------
    KeyError
        ``name`` is not registered.
    """
    path = data_root() / _info(name).folder
    if must_exist and not path.is_dir():
        raise FileNotFoundError(
            f"The data set {name!r} is not at {str(path)!r}. Put its folder there or set "
            f"${ENV_VAR} to the folder that holds {_info(name).folder!r}."
        )
    return path


def dataset_for_folder(path: str | os.PathLike) -> str:
    """The registry name of the data set a folder holds, chosen by the folder's name.

    ``".../lastfm-hetrec2011"`` -> ``"lastfm"``, ``".../ciao"`` -> ``"ciao"``, ``"CiaoDVD"`` ->
    ``"ciaodvd"``; a name that starts with a registry name (``"epinions-2024"``) counts too.

    Raises
    ------
    ValueError
        Nothing matches; the message names the known folder names.
    """
    folder = Path(path).name.lower()
    for name, info in DATASETS.items():
        if folder in info.folder_names:
            return name
    # longest registry name first, so "ciaodvd-2013" is CiaoDVD and not Ciao
    squashed = folder.replace("-", "").replace("_", "")
    for name in sorted(DATASETS, key=len, reverse=True):
        if squashed.startswith(name):
            return name
    known = sorted({f for d in DATASETS.values() for f in d.folder_names})
    raise ValueError(
        f"Cannot tell which loader reads the folder {str(path)!r}: its name should be one of "
        f"{known} (or start with a registry name: {list(DATASETS)})."
    )


def load(name: str, path: str | os.PathLike | None = None, **loader_kwargs: Any):
    """Load a registered data set with its loader.

    Parameters
    ----------
    name : str
        A key of :data:`DATASETS`.
    path : path, optional
        The data set's folder; default :func:`dataset_path` ``(name, must_exist=True)``.
    **loader_kwargs
        Passed to the loader (e.g. ``min_rating=4``).

    Returns
    -------
    Dataset
    """
    from . import _loaders

    info = _info(name)
    folder = dataset_path(name, must_exist=True) if path is None else Path(path)
    return getattr(_loaders, info.loader)(folder, **loader_kwargs)


def read_world(path: str | os.PathLike | None = None) -> dict[str, Any]:
    """Keyword arguments of :func:`haowurank.datasets.synthetic` from a world TOML file.

    The file has a top-level ``seed`` and a ``[world]`` table of
    :class:`haowurank.datasets.SyntheticWorld` knobs (see ``data/default_world.toml``).

    Parameters
    ----------
    path : path, optional
        The TOML file; default :data:`DEFAULT_WORLD_FILE`.

    Returns
    -------
    dict
        ``seed`` and every knob in the file (TOML arrays as tuples).

    Raises
    ------
    FileNotFoundError, ValueError
        The file is absent, is not TOML, or has keys other than ``seed`` and ``world``.
    """
    p = Path(DEFAULT_WORLD_FILE if path is None else path)
    with open(p, "rb") as fh:
        try:
            raw = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"The world file {str(p)!r} is not valid TOML: {exc}") from exc
    unknown = sorted(set(raw) - {"seed", "world"})
    if unknown:
        raise ValueError(
            f"The world file {str(p)!r} may hold only 'seed' and a [world] table. Got {unknown}."
        )
    world = raw.get("world", {})
    if not isinstance(world, Mapping):
        raise ValueError(f"The [world] of {str(p)!r} must be a table. Got {world!r}.")
    # TOML arrays become tuples, as SyntheticWorld declares them
    knobs = {k: tuple(v) if isinstance(v, list) else v for k, v in world.items()}
    return {"seed": raw.get("seed", 0), **knobs}
