"""Fingerprints of fitted rankers: the cache key of a ranker's view in a feed index and part of a
feed cursor's snapshot."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np


def _sample_digest(h: Any, a: np.ndarray) -> None:
    a = np.asarray(a)
    h.update(str((a.dtype.str, a.shape)).encode())
    flat = a.reshape(-1)
    step = max(1, len(flat) // 65536)
    h.update(np.ascontiguousarray(flat[::step]).tobytes())


def ranker_fingerprint(ranker: Any) -> str:
    """A digest of a fitted ranker: name, parameters, and a strided sample of its arrays.

    Two different fits practically never collide; an in-place update that touches few values can,
    so callers that update rankers in place pass their own ``ranker_key`` to :meth:`FeedIndex.build`
    (``haowurank.serving`` does).
    """
    if ranker is None:
        return "none"
    h = hashlib.blake2b(digest_size=12)
    h.update(str(getattr(ranker, "name", type(ranker).__name__)).encode())
    try:
        h.update(json.dumps(ranker.get_params(), sort_keys=True, default=str).encode())
    except (AttributeError, TypeError):
        pass
    for a in ranker.learned_arrays().values():
        _sample_digest(h, a)
    _sample_digest(h, np.asarray(ranker.user_ids_).astype(str))
    return h.hexdigest()
