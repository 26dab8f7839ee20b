"""What every benchmark shares: the machine it ran on, interleaved timing against a baseline, and the seeded
benchmark database. Its own module so that the bench modules and the runner (bench/run.py) that imports them
do not import each other."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

from sqlalchemy.engine import make_url

from api.core.config import get_settings, sqlalchemy_url


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(), "cpu": cpu, "python": platform.python_version(), "platform": platform.platform(),
        "versions": {p: version(p) for p in ("shapely", "geopandas", "pyogrio", "sqlalchemy", "psycopg", "fastapi")},
    }


def interleaved(ours: Callable[[], object], base: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median seconds of each, alternating runs so that background load hits both equally."""
    ours(), base()  # warm caches and connections
    a, b = [], []
    for _ in range(repeat):
        t = time.perf_counter()
        ours()
        a.append(time.perf_counter() - t)
        t = time.perf_counter()
        base()
        b.append(time.perf_counter() - t)
    return statistics.median(a), statistics.median(b)


def bench_database() -> str:
    from api.devtools.seeded import create_seeded_database

    base = make_url(sqlalchemy_url(get_settings().database_url))
    url = base.set(database=f"{base.database}_bench").render_as_string(hide_password=False)
    create_seeded_database(url)
    return url
