"""Heatmap bins: cases counted per Web Mercator cell, sized to the zoom, at most ``max_cells`` per view.

A window is cut into at most five parts, each answered from the cheapest exact source:

    [since ... first whole hour)  raw cases      (minutes: a few thousand rows even at 10M cases)
    [... first local midnight)    case_heat_hour (hours of a partial day)
    [... last local midnight)     case_heat_day  (whole days)
    [... last whole hour)         case_heat_hour
    [... until)                   raw cases

so the counts equal a scan of the cases, whatever the window, while a 30-day view reads about a
hundred times fewer rows than the cases it counts. The hourly roll-ups cover a recent horizon only
(``heat_hourly_horizon.since``, migration 0011: ``GRIDMAP_HEAT_HOURLY_DAYS`` days, more than any preset
window reaches back): a partial day before it is counted from the raw cases (at most a day of cases per
window edge, by the ``reported_at`` index), still exact. Which roll-ups answer depends on the filters
(``rollup``, migration 0006): unfiltered views read (day|hour, cell) rows only, one filtered dimension
reads its (dimension, value, day|hour, cell) rows, combined filters the full roll-ups. Bins are z17
cells (about 230 m in Beijing) shifted right to a coarser level, chosen so the view spans at most
``max_cells`` cells.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.core.geojson import BBox
from api.wall.filters import TZ, Filters, where
from api.wall.rollups import BASE_LEVEL, cell_x, cell_y

MAX_CELLS = 20_000
#: Bins about 16 px wide on screen: z + 4 (a z17 cell at zoom 13 is 16 px).
LEVEL_OFFSET = 4


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
    #: Whole hours before the hourly horizon: counted from the raw cases (no hour roll-up rows there).
    old: list[tuple[datetime, datetime]] = field(default_factory=list)


def split_window(t0: datetime, t1: datetime, since: datetime | None = None) -> Parts:
    """Cut [t0, t1) into raw minutes, roll-up hours and roll-up days (see the module docstring); hours before
    ``since`` (the hourly horizon; None: no horizon) go to ``old``, for the raw cases to answer."""
    h0, h1 = _ceil_hour(t0), _floor_hour(t1)
    if h0 >= h1:
        return Parts([(t0, t1)], [], None)
    raw = [p for p in ((t0, h0), (h1, t1)) if p[0] < p[1]]
    d0, d1 = _ceil_day(h0), _floor_day(h1)
    if d0 < d1:
        hours, days = [p for p in ((h0, d0), (d1, h1)) if p[0] < p[1]], (d0, d1)
    else:
        hours, days = [(h0, h1)], None
    if since is None:
        return Parts(raw, hours, days)
    since = _ceil_hour(since)  # whole hour buckets from here on are complete
    old = [(a, min(b, since)) for a, b in hours if a < since]
    recent = [(max(a, since), b) for a, b in hours if b > since]
    return Parts(raw, recent, days, old)


@dataclass(frozen=True, slots=True)
class Minutes:
    """How the raw minutes of a window are counted: ``plus`` raw spans, plus whole ``hours`` (single hour
    buckets) of the hourly roll-up minus the ``minus`` raw spans of those hours outside the window."""
    plus: list[tuple[datetime, datetime]]
    minus: list[tuple[datetime, datetime]]
    hours: list[datetime]


def plan_minutes(raw: list[tuple[datetime, datetime]], now: datetime, since: datetime | None = None) -> Minutes:
    """For each partial hour, count whichever side reads fewer cases: the minutes inside the window (raw), or
    its whole hour bucket from the roll-up less the minutes outside the window (raw). Cases are not reported
    in the future, so a live window's end (now + 10 minutes) costs one roll-up bucket and an empty range.
    An hour before ``since`` (the hourly horizon) has no roll-up bucket: its minutes are counted raw."""
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
        if (since is None or h >= since) and cost(h, a) + cost(b, h2) < cost(a, b):
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


def hourly_since(session: Session) -> datetime | None:
    """The hourly horizon (migration 0011): hour roll-ups are complete from it on; None when they all are.
    Read for every query, never cached: the rows before a horizon are deleted one due-work round after it
    moves, and a stale horizon would read hours that are gone."""
    return session.execute(text("SELECT CASE WHEN isfinite(since) THEN since END FROM heat_hourly_horizon")
                           ).scalar_one()


def hourly_target(days: int, now: datetime | None = None) -> datetime:
    """Where the hourly horizon should be: the local midnight ``days`` days before ``now``."""
    return _floor_day((now or datetime.now(TZ)) - timedelta(days=days))


def advance_hourly_horizon(session: Session, *, days: int, now: datetime | None = None) -> datetime | None:
    """Move the hourly horizon forward to :func:`hourly_target` (never back) and delete the hour rows before
    the horizon the previous call set (``gridmap_heat_prune_hours``, migration 0011), in the caller's
    transaction. Returns the horizon, or None when another transaction holds it (try again later)."""
    return session.execute(text("SELECT gridmap_heat_prune_hours(:t)"),
                           {"t": hourly_target(days, now)}).scalar_one()


def parts_sql(f: Filters, *, cells: bool, since: datetime | None = None) -> tuple[str, dict]:
    """UNION ALL of the window's parts, each giving (cx, cy, n) of z17 cells (or just n); ``since`` is the
    hourly horizon (:func:`hourly_since`)."""
    parts = split_window(f.since, f.until, since)
    params: dict = f.params()
    selects = []
    cols = "cx, cy, " if cells else ""
    box = " AND cx BETWEEN :x0 AND :x1 AND cy BETWEEN :y0 AND :y1" if cells else ""
    roll = rollup(f)
    minutes = plan_minutes(parts.raw, datetime.now(TZ), None if since is None else _ceil_hour(since))
    raw_cols = "gridmap_cell_x(ST_X(r.location)) AS cx, gridmap_cell_y(ST_Y(r.location)) AS cy, " if cells else ""
    raw_where = where(f, category="c.category_code", status="c.status", source="r.source")
    for i, (sign, (a, b)) in enumerate([(1, p) for p in minutes.plus + parts.old] + [(-1, p) for p in minutes.minus]):
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
    union, params = parts_sql(f, cells=True, since=hourly_since(session))
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
    union, params = parts_sql(f, cells=False, since=hourly_since(session))
    return int(session.execute(text(f"SELECT coalesce(sum(n), 0) FROM ({union}) AS p"), params).scalar_one())
