"""Real-data loaders (read from a folder; nothing is downloaded) and the seeded synthetic world."""

from ._loaders import load_ciao, load_ciaodvd, load_epinions, load_filmtrust, load_lastfm
from ._synthetic import SyntheticWorld, synthetic

__all__ = [
    "SyntheticWorld",
    "load_ciao",
    "load_ciaodvd",
    "load_epinions",
    "load_filmtrust",
    "load_lastfm",
    "synthetic",
]
