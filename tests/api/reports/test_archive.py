"""Reading an archive for the bulk import (api/reports/archive.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def test_the_offset_check_agrees_with_the_regex() -> None:
    import re

    from api.reports.archive import _has_offset

    rng = np.random.default_rng(3)
    alphabet = list("0123456789+-:Z T.z٣")
    samples = ["".join(rng.choice(alphabet, int(rng.integers(0, 12)))) for _ in range(20_000)]
    samples += ["2026-01-02T03:04:05+08:00", "2026-01-02T03:04:05.123Z", "2026-01-02 03:04-0530", "x+08:0"]
    values = pd.Series(samples + [None], dtype="string")
    regex = re.compile(r"(?:Z|[+-][0-9]{2}:?[0-9]{2})$")
    expected = [bool(regex.search(v)) if v is not None else False for v in samples + [None]]
    assert _has_offset(values).tolist() == expected
    assert sum(expected) > 100
