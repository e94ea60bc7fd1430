"""One named kind-weight table per purpose, in haowurank.kinds, and nowhere else."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

import haowurank as hr
from haowurank import kinds
from haowurank.testing import small_world

ROOT = Path(__file__).resolve().parents[1]


def test_tables_name_known_kinds_with_weights():
    for name in ("ENDORSEMENT_STRENGTH", "TRUST_EVIDENCE_WEIGHTS", "CF_KIND_WEIGHTS",
                 "POPULARITY_KIND_WEIGHTS"):
        table = getattr(kinds, name)
        assert table and set(table) <= set(kinds.KINDS), name
        assert all(isinstance(v, float) and v >= 0 for v in table.values()), name
    # per-person social signals read endorsements only (the privacy rule)
    assert set(kinds.ENDORSEMENT_STRENGTH) <= set(kinds.ENDORSEMENT_KINDS)


def test_no_other_kind_weight_table_in_the_library():
    offenders = []
    for path in (ROOT / "haowurank").rglob("*.py"):
        text = path.read_text()
        if "DEFAULT_KIND_WEIGHTS" in text:
            offenders.append(str(path.relative_to(ROOT)))
        if path.name != "kinds.py" and re.search(
                r'^\w*KIND\w*WEIGHTS\w*(: dict\[str, float\])? = \{', text, re.M):
            offenders.append(str(path.relative_to(ROOT)) + " (a table literal)")
    assert offenders == []


def test_users_of_the_tables_take_them_as_defaults():
    ds = small_world()
    a = hr.rankers.make("popularity").fit(ds)
    b = hr.rankers.make("popularity", kind_weights=dict(kinds.POPULARITY_KIND_WEIGHTS)).fit(ds)
    np.testing.assert_array_equal(a.shared_scores(), b.shared_scores())
    c = hr.rankers.make("popularity", kind_weights={"purchase": 1.0}).fit(ds)
    assert not np.array_equal(a.shared_scores(), c.shared_scores())
    assert hr.feed.ENDORSEMENT_STRENGTH is kinds.ENDORSEMENT_STRENGTH
    assert hr.trust.TRUST_EVIDENCE_WEIGHTS is kinds.TRUST_EVIDENCE_WEIGHTS
