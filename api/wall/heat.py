"""Heatmap bins: cases counted per Web Mercator cell, sized to the zoom, at most ``max_cells`` per view.

A window is cut into at most five parts, each answered from the cheapest exact source:

    [since ... first whole hour)  raw cases      (minutes: a few thousand rows even at 10M cases)
    [... first local midnight)    case_heat_hour (hours of a partial day)
    [... last local midnight)     case_heat_day  (whole days)
    [... last whole hour)         case_heat_hour
    [... until)                   raw cases

so the counts equal a scan of the cases, whatever the window, while a 30-day view reads about a
hundred times fewer rows than the cases it counts. Which roll-ups answer depends on the filters
(``rollup``, migration 0006): unfiltered views read (day|hour, cell) rows only, one filtered dimension
reads its (dimension, value, day|hour, cell) rows, combined filters the full roll-ups. Bins are z17
cells (about 230 m in Beijing) shifted right to a coarser level, chosen so the view spans at most
``max_cells`` cells.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.core.geojson import BBox
from api.wall.filters import TZ, Filters, where

BASE_LEVEL = 17
MAX_CELLS = 20_000
#: Bins about 16 px wide on screen: z + 4 (a z17 cell at zoom 13 is 16 px).
LEVEL_OFFSET = 4


def cell_x(lon: float, level: int = BASE_LEVEL) -> int:
    return int(math.floor((lon + 180.0) / 360.0 * (1 << level)))


def cell_y(lat: float, level: int = BASE_LEVEL) -> int:
    lat = max(min(lat, 85.0511287798), -85.0511287798)
    r = math.radians(lat)
    return int(math.floor((1.0 - math.log(math.tan(r) + 1.0 / math.cos(r)) / math.pi) / 2.0 * (1 << level)))


def choose_level(bbox: BBox, zoom: float, max_cells: int = MAX_CELLS) -> int:
    level = max(0, min(BASE_LEVEL, int(math.floor(zoom)) + LEVEL_OFFSET))
    while level > 0:
        nx = cell_x(bbox.maxx, level) - cell_x(bbox.minx, level) + 1
        ny = cell_y(bbox.miny, level) - cell_y(bbox.maxy, level) + 1
        if nx * ny <= max_cells:
            break
        level -= 1
    return level


def _ceil_hour(t: datetime) -> datetime:
    f = _floor_hour(t)
    return f if f == t else f + timedelta(hours=1)


def _floor_hour(t: datetime) -> datetime:
    """The hour bucket of the roll-ups (whole UTC hours, also for a window given at a +05:30 offset)."""
    return t.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _ceil_day(t: datetime) -> datetime:
    t = t.astimezone(TZ)
    f = t.replace(hour=0, minute=0, second=0, microsecond=0)
    return f if f == t else f + timedelta(days=1)


def _floor_day(t: datetime) -> datetime:
    return t.astimezone(TZ).replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True, slots=True)
class Parts:
    raw: list[tuple[datetime, datetime]]
    hours: list[tuple[datetime, datetime]]
    days: tuple[datetime, datetime] | None


def split_window(t0: datetime, t1: datetime) -> Parts:
    """Cut [t0, t1) into raw minutes, roll-up hours and roll-up days (see the module docstring)."""
    h0, h1 = _ceil_hour(t0), _floor_hour(t1)
    if h0 >= h1:
        return Parts([(t0, t1)], [], None)
    raw = [p for p in ((t0, h0), (h1, t1)) if p[0] < p[1]]
    d0, d1 = _ceil_day(h0), _floor_day(h1)
    if d0 < d1:
        hours = [p for p in ((h0, d0), (d1, h1)) if p[0] < p[1]]
        return Parts(raw, hours, (d0, d1))
    return Parts(raw, [(h0, h1)], None)


@dataclass(frozen=True, slots=True)
class Minutes:
    """How the raw minutes of a window are counted: ``plus`` raw spans, plus whole ``hours`` (single hour
    buckets) of the hourly roll-up minus the ``minus`` raw spans of those hours outside the window."""
    plus: list[tuple[datetime, datetime]]
    minus: list[tuple[datetime, datetime]]
    hours: list[datetime]


def plan_minutes(raw: list[tuple[datetime, datetime]], now: datetime) -> Minutes:
    """For each partial hour, count whichever side reads fewer cases: the minutes inside the window (raw), or
    its whole hour bucket from the roll-up less the minutes outside the window (raw). Cases are not reported
    in the future, so a live window's end (now + 10 minutes) costs one roll-up bucket and an empty range."""
    def cost(a: datetime, b: datetime) -> float:
        return max(0.0, (min(b, now) - a).total_seconds())

    pieces = []
    for a, b in raw:  # one piece per hour bucket
        while a < b:
            end = min(b, _floor_hour(a) + timedelta(hours=1))
            pieces.append((a, end))
            a = end
    out = Minutes([], [], [])
    for a, b in pieces:
        h = _floor_hour(a)
        h2 = h + timedelta(hours=1)
        if cost(h, a) + cost(b, h2) < cost(a, b):
            out.hours.append(h)
            out.minus.extend(p for p in ((h, a), (b, h2)) if p[0] < p[1])
        else:
            out.plus.append((a, b))
    return out


@dataclass(frozen=True, slots=True)
class Rollup:
    """The roll-up pair (day, hour) that answers a filter set, and its condition on their rows."""
    day: str
    hour: str
    cond: str


#: filter dimension → (the Filters field, its parameter in Filters.params())
_DIMS = {"c": ("categories", "cats"), "s": ("statuses", "stats"), "o": ("sources", "srcs")}


def rollup(f: Filters) -> Rollup:
    """No filter: the (day|hour, cell) roll-ups; filters on exactly one dimension (one or several values):
    the per-dimension roll-ups; filters combined: the full roll-ups of 0003 (category × status × source)."""
    dims = [(d, param) for d, (field, param) in _DIMS.items() if getattr(f, field)]
    if not dims:
        return Rollup("case_heat_cell_day", "case_heat_cell_hour", "TRUE")
    if len(dims) == 1:
        d, param = dims[0]
        return Rollup("case_heat_dim_day", "case_heat_dim_hour", f"dim = '{d}' AND val = ANY(:{param})")
    return Rollup("case_heat_day", "case_heat_hour", where(f, category="category_code", status="status",
                                                           source="source"))


def parts_sql(f: Filters, *, cells: bool) -> tuple[str, dict]:
    """UNION ALL of the window's parts, each giving (cx, cy, n) of z17 cells (or just n)."""
    parts = split_window(f.since, f.until)
    params: dict = f.params()
    selects = []
    cols = "cx, cy, " if cells else ""
    box = " AND cx BETWEEN :x0 AND :x1 AND cy BETWEEN :y0 AND :y1" if cells else ""
    roll = rollup(f)
    minutes = plan_minutes(parts.raw, datetime.now(TZ))
    raw_cols = "gridmap_cell_x(ST_X(r.location)) AS cx, gridmap_cell_y(ST_Y(r.location)) AS cy, " if cells else ""
    raw_where = where(f, category="c.category_code", status="c.status", source="r.source")
    for i, (sign, (a, b)) in enumerate([(1, p) for p in minutes.plus] + [(-1, p) for p in minutes.minus]):
        params[f"r{i}a"], params[f"r{i}b"] = a, b
        selects.append(f"""
            SELECT {raw_cols}{sign} AS n FROM report r JOIN cases c ON c.report_id = r.id
            WHERE r.reported_at >= :r{i}a AND r.reported_at < :r{i}b AND r.location IS NOT NULL AND {raw_where}""")
    if minutes.hours:
        params["hb"] = minutes.hours
        selects.append(f"""
            SELECT {cols}n FROM {roll.hour}
            WHERE {roll.cond} AND hour = ANY(CAST(:hb AS timestamptz[])){box}""")
    for i, (a, b) in enumerate(parts.hours):
        params[f"h{i}a"], params[f"h{i}b"] = a, b
        selects.append(f"""
            SELECT {cols}n FROM {roll.hour}
            WHERE {roll.cond} AND hour >= :h{i}a AND hour < :h{i}b{box}""")
    if parts.days:
        params["d0"], params["d1"] = parts.days[0].date(), parts.days[1].date()
        selects.append(f"""
            SELECT {cols}n FROM {roll.day}
            WHERE {roll.cond} AND day >= :d0 AND day < :d1{box}""")
    return " UNION ALL ".join(selects), params


def _serial(session: Session) -> None:
    """These are small index-only scans: starting parallel workers costs more than it saves (2 cores)."""
    session.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))


def heat_bins(session: Session, f: Filters, bbox: BBox, zoom: float, max_cells: int = MAX_CELLS) -> dict:
    _serial(session)
    level = choose_level(bbox, zoom, max_cells)
    shift = BASE_LEVEL - level
    union, params = parts_sql(f, cells=True)
    x0, x1 = cell_x(bbox.minx), cell_x(bbox.maxx)
    y0, y1 = cell_y(bbox.maxy), cell_y(bbox.miny)
    # Whole bins of the chosen level, so that a bin at the view's edge is not cut in half.
    x0, x1 = (x0 >> shift) << shift, ((x1 >> shift) << shift) + (1 << shift) - 1
    y0, y1 = (y0 >> shift) << shift, ((y1 >> shift) << shift) + (1 << shift) - 1
    params.update(x0=x0, x1=x1, y0=y0, y1=y1)
    rows = session.execute(text(f"""
        SELECT cx >> {shift} AS x, cy >> {shift} AS y, sum(n)::bigint AS n FROM ({union}) AS p
        WHERE cx BETWEEN :x0 AND :x1 AND cy BETWEEN :y0 AND :y1
        GROUP BY 1, 2 HAVING sum(n) > 0"""), params).all()
    if rows:
        arr = np.array(rows, dtype=np.int64)
        size = float(1 << level)
        lon = (arr[:, 0] + 0.5) / size * 360.0 - 180.0
        lat = np.degrees(np.arctan(np.sinh(np.pi * (1.0 - 2.0 * (arr[:, 1] + 0.5) / size))))
        cells = np.column_stack([np.round(lon, 6), np.round(lat, 6), arr[:, 2]]).tolist()
        total, peak = int(arr[:, 2].sum()), int(arr[:, 2].max())
    else:
        cells, total, peak = [], 0, 0
    return {"level": level, "cell_m": round(40075016.686 * math.cos(math.radians((bbox.miny + bbox.maxy) / 2))
                                            / (1 << level), 1),
            "cells": cells, "count": len(cells), "total": total, "max": peak,
            "since": f.since.isoformat(), "until": f.until.isoformat()}


def count_cases(session: Session, f: Filters) -> int:
    _serial(session)
    union, params = parts_sql(f, cells=False)
    return int(session.execute(text(f"SELECT coalesce(sum(n), 0) FROM ({union}) AS p"), params).scalar_one())
