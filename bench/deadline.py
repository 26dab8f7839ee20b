"""Micro-measure of the deadline expression in the intake statement (issue 19), old against new, in one run.

    python -m bench.deadline [--rows N] [--repeat R]

Computes N deadlines per query, alternating the three forms R times on one connection, and prints the median
microseconds per deadline: the clock-hours arithmetic the intake statement had
(``reported_at + make_interval(...)``), ``gridmap_deadline(..., 'hours')`` (what every clock-hours category now
pays) and ``gridmap_deadline(..., 'working_days')`` (3 working days: the calendar walk). Ratios are against
the first, measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import time

from sqlalchemy import text

from api.core.config import get_settings
from api.core.db import make_engine

FORMS = {
    "make_interval (before)": "t + make_interval(secs => 48 * 3600)",
    "gridmap_deadline hours": "gridmap_deadline(t, 48, 'hours')",
    "gridmap_deadline working_days": "gridmap_deadline(t, 3, 'working_days')",
}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=20000)
    p.add_argument("--repeat", type=int, default=7)
    a = p.parse_args()
    engine = make_engine(get_settings(), pool_size=1)
    times: dict[str, list[float]] = {k: [] for k in FORMS}
    with engine.connect() as c:
        for _ in range(a.repeat):
            for name, expr in FORMS.items():
                t0 = time.perf_counter()
                c.execute(text(f"""SELECT max({expr}) FROM (SELECT timestamptz '2026-09-01 10:00+08'
                                   + g * interval '7 min' AS t FROM generate_series(1, :n) g) s"""), {"n": a.rows})
                times[name].append((time.perf_counter() - t0) / a.rows * 1e6)
    base = statistics.median(times["make_interval (before)"])
    for name, ts in times.items():
        m = statistics.median(ts)
        print(f"{name:32s} {m:8.2f} µs/deadline  ×{m / base:6.1f}")


if __name__ == "__main__":
    main()
