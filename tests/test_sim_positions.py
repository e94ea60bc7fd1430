"""The engine maps the product's ids back to indices the same way from numpy and pyarrow."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from haowurank.sim._engine import _ids_of, _positions


def test_positions_agree_across_id_containers():
    vocab = np.array([f"u{i:04d}" for i in range(50)], dtype=object)
    ids = vocab[np.random.default_rng(0).integers(0, 50, 200)]
    want = np.array([int(x[1:]) for x in ids])
    np.testing.assert_array_equal(_positions(vocab, ids), want)
    col = pd.Series(list(ids))  # a pandas 3 string column: pyarrow behind it
    np.testing.assert_array_equal(_positions(vocab, _ids_of(col)), want)
    flat = pc.list_flatten(pa.array([list(ids[:3]), [], list(ids[3:])]))
    np.testing.assert_array_equal(_positions(vocab, flat), want)
    # int vocabularies, plain (0..n-1) or not
    np.testing.assert_array_equal(_positions(np.arange(5), _ids_of(pd.Series([3, 0]))), [3, 0])
    np.testing.assert_array_equal(_positions(np.array([7, 9]), np.array([9, 7])), [1, 0])
    # a vocabulary pyarrow cannot hold (not all str) is looked up as objects
    mixed = np.array(["a", 5], dtype=object)
    np.testing.assert_array_equal(_positions(mixed, pa.array(["a"])), [0])
    with pytest.raises(KeyError, match="zz"):
        _positions(vocab, _ids_of(pd.Series(["u0001", "zz"])))
