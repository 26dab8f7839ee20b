"""The write side of the wall's heat roll-ups: which cell a point falls in, and what a batch of cases adds to
each of the six roll-up tables (migrations 0003, 0006, 0011), computed in numpy and written in key order.

Live intake counts through the statement trigger on ``cases`` (SQL); a bulk import switches that off
(``gridmap.defer_heat``, migration 0008) and adds its cases here in one aggregated step (:func:`add_heat`).
The read side (which roll-ups answer a window) is :mod:`api.wall.heat`.
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC

import numpy as np
import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.core.pgload import copy_frame, copy_frames

#: The heat roll-ups' days are Beijing days (``gridmap_local_day``, migration 0003).
TZ_DAYS = "Asia/Shanghai"
#: Cells are Web Mercator tiles of this zoom (about 230 m in Beijing); coarser bins shift them right.
BASE_LEVEL = 17
#: The statement trigger that counts live cases into the roll-ups; a bulk import does its work itself.
HEAT_TRIGGER = ("cases", "tr_cases_heat_ins")


def cell_x(lon: float, level: int = BASE_LEVEL) -> int:
    """The column of ``lon``'s Web Mercator cell at ``level``, as ``gridmap_cell_x`` (one point)."""
    return int(math.floor((lon + 180.0) / 360.0 * (1 << level)))


def cell_y(lat: float, level: int = BASE_LEVEL) -> int:
    """The row of ``lat``'s Web Mercator cell at ``level``, as ``gridmap_cell_y`` (one point)."""
    lat = max(min(lat, 85.0511287798), -85.0511287798)
    r = math.radians(lat)
    return int(math.floor((1.0 - math.log(math.tan(r) + 1.0 / math.cos(r)) / math.pi) / 2.0 * (1 << level)))


#: PostgreSQL's ``radians()`` multiplies by this constant (float.c); numpy must too, bit for bit.
_RADIANS_PER_DEGREE = 0.0174532925199432957692
_CELLS = 1 << BASE_LEVEL


def heat_cells(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The z17 cell of each point exactly as ``gridmap_cell_x/y`` (migration 0003) computes it in SQL.

    numpy's vectorised ``tan``/``cos``/``log`` may differ from the C library's in the last bit, which only
    matters for a value within a hair of a cell edge: those few are recomputed with :mod:`math` (the C
    library, as PostgreSQL), in PostgreSQL's order of operations.

    >>> heat_cells(np.array([116.391]), np.array([39.907]))
    (array([107912]), array([49665]))
    """
    zx = (lon + 180.0) / 360.0 * _CELLS
    r = lat * _RADIANS_PER_DEGREE
    with np.errstate(all="ignore"):
        zy = (1.0 - np.log(np.tan(r) + 1.0 / np.cos(r)) / math.pi) / 2.0 * _CELLS
    for z, f in ((zx, lambda i: (float(lon[i]) + 180.0) / 360.0 * _CELLS),
                 (zy, lambda i: (1.0 - math.log(math.tan(float(lat[i]) * _RADIANS_PER_DEGREE) + 1.0 / math.cos(
                     float(lat[i]) * _RADIANS_PER_DEGREE)) / math.pi) / 2.0 * _CELLS)):
        for i in np.flatnonzero(np.abs(z - np.round(z)) < 1e-6):
            z[i] = f(i)
    return np.floor(zx).astype(np.int64), np.floor(zy).astype(np.int64)


#: The six heat roll-ups (migrations 0003, 0006): their key columns in primary-key order, and whether they are
#: hourly (written only from the hourly horizon on, migration 0011).
HEAT_TABLES: dict[str, tuple[tuple[str, ...], bool]] = {
    "case_heat_day": (("day", "cx", "cy", "category_code", "status", "source"), False),
    "case_heat_hour": (("hour", "cx", "cy", "category_code", "status", "source"), True),
    "case_heat_cell_day": (("day", "cx", "cy"), False),
    "case_heat_cell_hour": (("hour", "cx", "cy"), True),
    "case_heat_dim_day": (("dim", "val", "day", "cx", "cy"), False),
    "case_heat_dim_hour": (("dim", "val", "hour", "cx", "cy"), True),
}
#: The dimensions of the ``dim`` roll-ups, in PostgreSQL's order of the ``"char"`` codes.
_DIMS = (("c", "category_code"), ("o", "source"), ("s", "status"))


def heat_rows(*, lon: np.ndarray, lat: np.ndarray, reported: np.ndarray, category: np.ndarray,
              status: np.ndarray, source: np.ndarray, since: np.datetime64 | None) -> dict[str, pd.DataFrame]:
    """What the cases add to each heat roll-up: one row per key with its count, aggregated in numpy and sorted in
    the table's primary-key order, so that PostgreSQL takes them in at the right edge of each key range rather
    than at a random page each (a million cases: 2.3 million roll-up rows, sorted 6.5 s, shuffled 16 s).

    ``reported`` is naive UTC; days are Beijing days (``gridmap_local_day``); hour rows only for cases at or
    after ``since`` (none when it is None: ``-infinity`` counts as no horizon and is passed as the minimum).

    >>> rows = heat_rows(lon=np.array([116.391, 116.391, 116.5]), lat=np.array([39.907, 39.907, 39.9]),
    ...                  reported=np.array(["2026-03-01T17:00", "2026-03-01T15:59", "2026-03-01T10:00"],
    ...                                    dtype="datetime64[us]"),
    ...                  category=np.array(["noise", "noise", "litter"], dtype=object),
    ...                  status=np.array(["closed"] * 3, dtype=object), source=np.array(["hotline"] * 3, dtype=object),
    ...                  since=np.datetime64("2026-03-01T16:00"))
    >>> rows["case_heat_cell_day"].values.tolist()  # 17:00 UTC is the next Beijing day
    [['2026-03-01', 107912, 49665, 1], ['2026-03-01', 107952, 49668, 1], ['2026-03-02', 107912, 49665, 1]]
    >>> len(rows["case_heat_hour"]), rows["case_heat_dim_day"][["dim", "val", "n"]].values.tolist()[:3]
    (1, [['c', 'litter', 1], ['c', 'noise', 1], ['c', 'noise', 1]])
    """
    at = reported.astype("datetime64[us]")
    local = pd.DatetimeIndex(at).tz_localize("UTC").tz_convert(TZ_DAYS).tz_localize(None)
    day = local.normalize().to_numpy().astype("datetime64[D]").astype(np.int64)
    hour = at.astype("datetime64[h]").astype(np.int64)
    recent = np.ones(len(at), dtype=bool) if since is None else hour >= since.astype("datetime64[h]").astype(np.int64)
    cx, cy = heat_cells(lon, lat)
    # Text keys as ranks of their sorted values: a sort on the ranks is PostgreSQL's order of the text (code
    # points: the C.UTF-8 or C collation the database is made with).
    text_keys = {}
    for name, values in (("category_code", category), ("status", status), ("source", source)):
        codes, uniques = pd.factorize(np.asarray(values, dtype=object))
        order = np.argsort(np.asarray(uniques, dtype=str), kind="stable")
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        text_keys[name] = (rank[codes], np.asarray(uniques, dtype=object)[order])
    base = pd.DataFrame({"day": day, "hour": hour, "cx": cx, "cy": cy,
                         **{name: codes for name, (codes, _) in text_keys.items()}})

    def rolled(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
        return frame.groupby(keys, sort=True).size().reset_index(name="n")

    def labelled(frame: pd.DataFrame) -> pd.DataFrame:
        out = {}
        for col in frame.columns:
            values = frame[col].to_numpy()
            if col in text_keys:
                out[col] = text_keys[col][1][values]
            elif col == "day":
                out[col] = np.datetime_as_string(values.astype("datetime64[D]"))
            elif col == "hour":
                out[col] = values.astype("datetime64[h]").astype("datetime64[us]")
            else:
                out[col] = values
        return pd.DataFrame(out)

    out = {}
    for table, (keys, hourly) in HEAT_TABLES.items():
        frame = base[recent] if hourly else base
        if table.startswith("case_heat_dim"):
            when = keys[2]
            parts = []
            for dim, col in _DIMS:
                part = labelled(rolled(frame, [col, when, "cx", "cy"])).rename(columns={col: "val"})
                part.insert(0, "dim", dim)
                parts.append(part)
            out[table] = pd.concat(parts, ignore_index=True)
        else:
            out[table] = labelled(rolled(frame, list(keys)))
    return out


def add_heat(session: Session, *, lon: np.ndarray, lat: np.ndarray, reported: np.ndarray, category: np.ndarray,
              status: np.ndarray, source: np.ndarray) -> tuple[int, int]:
    """Add the imported cases to the six heat roll-ups, from the arrays the import already holds (no join of a
    million cases back to their reports in SQL). Returns the number of roll-up rows written or added to, and
    how many of them went through the upserts.

    A roll-up row's key begins with its day or hour (after ``dim, val`` in the ``dim`` tables). Rows under a
    key prefix that the table already has (the days a live system has counted, say) are added with an upsert;
    the others, the bulk of a history, are new keys and are COPYed in directly, in key order. Should a live
    report count one of those keys first (a race with today's intake), PostgreSQL refuses the COPY as a
    duplicate key and everything is added with the upserts instead."""
    since = session.execute(text("SELECT CASE WHEN isfinite(since) THEN since END FROM heat_hourly_horizon")
                            ).scalar_one()
    cut = None if since is None else np.datetime64(since.astimezone(UTC).replace(tzinfo=None), "us")
    rows = heat_rows(lon=lon, lat=lat, reported=reported, category=category, status=status, source=source,
                     since=cut)
    direct, merge = {}, {}
    for table, frame in rows.items():
        if frame.empty:
            continue
        known = known_prefixes(session, table, frame)
        direct[table], merge[table] = frame[~known], frame[known]
    try:
        with session.begin_nested():
            copy_frames(session, {t: f for t, f in direct.items() if len(f)})
    except Exception as exc:  # only a duplicate key is expected here
        if getattr(exc, "sqlstate", None) != "23505":
            raise
        merge = {t: pd.concat([direct[t], merge[t]], ignore_index=True) for t in direct}
    for table, frame in merge.items():
        if frame.empty:
            continue
        # A staging table of its own rather than a temporary one: a parallel import prepares this transaction
        # (PREPARE TRANSACTION), which PostgreSQL refuses after any use of a temporary table.
        keys, stage = ", ".join(HEAT_TABLES[table][0]), f"gridmap_heat_stage_{uuid.uuid4().hex[:12]}"
        session.execute(text(f"CREATE UNLOGGED TABLE {stage} (LIKE {table})"))
        copy_frame(session, stage, frame)
        session.execute(text(f"""
            INSERT INTO {table} AS h ({keys}, n) SELECT {keys}, n FROM {stage} ORDER BY {keys}
            ON CONFLICT ({keys}) DO UPDATE SET n = h.n + excluded.n;
            DROP TABLE {stage}"""))
    return sum(len(f) for f in rows.values()), sum(len(f) for f in merge.values())


def known_prefixes(session: Session, table: str, frame: pd.DataFrame) -> np.ndarray:
    """Which rows of ``frame`` fall under a key prefix (day or hour, with ``dim, val`` first in the dim tables)
    that ``table`` already has: a probe of the primary key per distinct prefix (a few thousand for a year)."""
    keys = HEAT_TABLES[table][0]
    prefix = list(keys[:3] if keys[0] == "dim" else keys[:1])
    distinct = frame[prefix].drop_duplicates()
    casts = {"dim": '"char"', "val": "text", "day": "date", "hour": "timestamptz"}
    params = {c: (distinct[c].to_numpy().astype("datetime64[us]").astype(str).tolist() if c == "hour"
                  else distinct[c].tolist()) for c in prefix}
    unnest = ", ".join(f"CAST(:{c} AS {casts[c]}[])" for c in prefix)
    match = " AND ".join(f"h.{c} = u.{c}" for c in prefix)
    found = session.execute(text(
        f"SELECT {', '.join(f'u.{c}' for c in prefix)} FROM unnest({unnest}) AS u({', '.join(prefix)}) "
        f"WHERE EXISTS (SELECT 1 FROM {table} h WHERE {match})"), params).all()
    if not found:
        return np.zeros(len(frame), dtype=bool)
    have = pd.DataFrame(found, columns=prefix)
    if "day" in prefix:
        have["day"] = have["day"].astype(str)
    if "hour" in prefix:
        have["hour"] = pd.to_datetime(have["hour"], utc=True).dt.tz_localize(None).astype("datetime64[us]")
    have["_known"] = True
    return frame[prefix].merge(have, how="left", on=prefix)["_known"].notna().to_numpy()


