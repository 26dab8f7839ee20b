"""Bulk import of historical reports (a hotline's archive, a migration from another system).

Millions of rows, all or nothing, at COPY speed: rows are checked vectorised (a refusal names the row),
routed with the same in-memory index as live intake (each report against the layout in force at its own
time), and written in time order with one binary COPY per table (api/core/pgcopy.py): report, routing,
cases, case_event; with ``parallel`` the last two and the heat roll-ups on a second connection whose
transaction is prepared and follows the caller's (``_Satellite``).
Ids are allocated up front from the tables' sequences so the four tables link without a round trip.
Re-importing a file is harmless: rows whose (source, external_id) already exist are skipped and
counted.

Where the time went, and what replaced it (issue 4; each phase is timed and told through ``say``):

* the heat roll-ups' statement trigger on ``cases`` is switched off for the import's COPY
  (``gridmap.defer_heat``, migration 0008) and the imported cases are aggregated in numpy and added at the
  end, COPYed in key order into keys the roll-ups do not have yet, upserted into those they have
  (``_add_heat``);
* PostgreSQL's row-by-row foreign-key checks (a keyed lookup and a row lock per row and key) are skipped
  with ``session_replication_role = replica`` when the role may, and every foreign key of the four tables
  is verified set-based instead (``_verify_foreign_keys``); anything else that would be skipped (another
  INSERT trigger, a multi-column key) sends the import down the checked path;
* ids come from one ``nextval`` per row over a sequence looked up once, and only their range crosses the
  wire.
"""

from __future__ import annotations

import contextlib
import math
import queue
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyogrio
import shapely
from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from api.core.errors import GridmapError, ImportFailed, InvalidParameter
from api.core.pgcopy import binary_copy_chunks
from api.imports.service import READABLE
from api.locate.index import build_layout_index
from geo.crs import UnknownCRS, parse_crs, to_wgs84
from geo.routing import METHODS

Say = Callable[[str], None]
#: The heat roll-ups' days are Beijing days (``gridmap_local_day``, migration 0003).
TZ_DAYS = "Asia/Shanghai"
STATUSES = ("reported", "registered", "dispatched", "in_progress", "resolved", "verified", "closed", "escalated",
            "returned", "rejected")
#: How each final status is reached along the case lifecycle, for the event log of imported history.
PATHS = {
    "reported": ["reported"],
    "registered": ["reported", "registered"],
    "dispatched": ["reported", "registered", "dispatched"],
    "in_progress": ["reported", "registered", "dispatched", "in_progress"],
    "resolved": ["reported", "registered", "dispatched", "in_progress", "resolved"],
    "verified": ["reported", "registered", "dispatched", "in_progress", "resolved", "verified"],
    "closed": ["reported", "registered", "dispatched", "in_progress", "resolved", "verified", "closed"],
    "escalated": ["reported", "registered", "dispatched", "escalated"],
    "returned": ["reported", "registered", "dispatched", "in_progress", "resolved", "returned"],
    "rejected": ["reported", "rejected"],
}


@dataclass
class BulkResult:
    rows_read: int = 0
    imported: int = 0
    skipped_existing: int = 0
    routed: int = 0
    unrouted: int = 0
    crs_assumed: str = "wgs84"
    events: int = 0
    #: Seconds spent in each phase, in order (``read``, ``check``, ``existing``, ``route``, ``ids``, then one
    #: per COPY and the heat roll-up): a slow import says where its time went.
    phases: dict[str, float] = field(default_factory=dict)


class _Clock:
    """Times consecutive phases and reports each through ``say`` as it ends (the CLI prints it): a million
    rows take the better part of a minute, and an operator should see it moving and where."""

    def __init__(self, result: BulkResult, say: Say) -> None:
        self.result, self.say, self.t = result, say, time.perf_counter()

    def lap(self, phase: str, message: str) -> None:
        now = time.perf_counter()
        seconds, self.t = now - self.t, now
        self.result.phases[phase] = round(self.result.phases.get(phase, 0.0) + seconds, 3)
        self.say(f"{message} ({seconds:.1f} s)")


def read_reports(path: Path, *, layer: str | None = None) -> pd.DataFrame:
    """CSV with lon/lat (or x/y) columns, or any vector file of points (GeoJSON, GeoPackage, Shapefile)."""
    path = Path(path)
    if not path.exists():
        raise ImportFailed(f"{path} does not exist", reason="file_not_found")
    name = path.name.lower()
    try:
        if name.endswith((".csv", ".csv.gz")):
            df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
            cols = {c.lower(): c for c in df.columns}
            xc = cols.get("lon") or cols.get("longitude") or cols.get("x")
            yc = cols.get("lat") or cols.get("latitude") or cols.get("y")
            if xc is None or yc is None:
                raise ImportFailed(f"{path.name}: a CSV needs lon and lat columns (or x and y)",
                                   reason="missing_column")
            df["_x"] = pd.to_numeric(df[xc], errors="coerce")
            df["_y"] = pd.to_numeric(df[yc], errors="coerce")
            return df
        if path.suffix.lower() not in READABLE:
            raise ImportFailed(f"{path.name}: use CSV, GeoJSON, GeoPackage or a zipped Shapefile",
                               reason="unsupported_format")
        if path.suffix.lower() in (".zip", ".shp"):
            from api.imports.files import check_shapefile

            check_shapefile(path)  # issue 17: a zip within the archive limits, a .dbf's encoding declared
        gdf = pyogrio.read_dataframe(path, layer=layer)
    except GridmapError:  # ImportFailed, or a zip past the archive limits (413)
        raise
    except Exception as exc:  # pandas/pyogrio parse errors
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ImportFailed(f"{path.name} cannot be read: {msg}", reason="unreadable") from None
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    types = shapely.get_type_id(geoms)
    bad = np.flatnonzero(types != 0)
    if bad.size:
        raise ImportFailed(f"row {bad[0] + 1}: a report must be a point", row=int(bad[0] + 1),
                           reason="wrong_geometry_type")
    df = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    df["_x"], df["_y"] = shapely.get_x(geoms), shapely.get_y(geoms)
    if gdf.crs is not None and "crs" not in df.columns:
        df.attrs["file_crs"] = gdf.crs.to_string()
    return df


def parse_times(values: pd.Series, *, tz: str) -> pd.Series:
    """ISO 8601 times as naive UTC (the session's zone); those without an offset are read in ``tz``.
    Unparseable values become NaT, for the caller to name."""
    text_values = values.astype("string").str.strip()
    aware = _has_offset(text_values)
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    if aware.any():
        parsed = pd.to_datetime(text_values[aware], errors="coerce", format="ISO8601", utc=True)
        out[aware] = parsed.dt.tz_localize(None).to_numpy()
    naive = ~aware & text_values.notna().to_numpy()
    if naive.any():
        parsed = pd.to_datetime(text_values[naive], errors="coerce", format="ISO8601")
        out[naive] = parsed.dt.tz_localize(ZoneInfo(tz), ambiguous="NaT", nonexistent="NaT").dt.tz_convert(
            "UTC").dt.tz_localize(None).to_numpy()
    return out


def _has_offset(values: pd.Series) -> np.ndarray:
    """Which times end in an offset (``Z``, ``+08:00``, ``-0530``): the regex ``(?:Z|[+-]\\d{2}:?\\d{2})$``
    evaluated on the code points of a fixed-width array, all rows at once (the regex, row by row, was half
    of reading a million times).

    >>> _has_offset(pd.Series(["2026-01-02T03:04Z", "2026-01-02 03:04+08:00", "2026-01-02T03:04-0530",
    ...                        "2026-01-02T03:04", "2026-01-02", None, "Z", "+0800x"], dtype="string")).tolist()
    [True, True, True, False, False, False, True, False]
    """
    s = values.fillna("").to_numpy(dtype=str)
    n, width = len(s), s.dtype.itemsize // 4
    if n == 0 or width == 0:
        return np.zeros(n, dtype=bool)
    points = s.view(np.uint32).reshape(n, width)
    length = np.char.str_len(s)
    rows = np.arange(n)

    def at(k: int) -> np.ndarray:  # the k-th code point from the end (0 where the string is shorter)
        i = length - k
        return np.where(i >= 0, points[rows, np.clip(i, 0, width - 1)], 0)

    def digit(c: np.ndarray) -> np.ndarray:
        return (c >= 48) & (c <= 57)

    sign = (43, 45)  # + -
    d1, d2 = digit(at(1)), digit(at(2))
    colon = np.isin(at(6), sign) & digit(at(5)) & digit(at(4)) & (at(3) == 58) & d2 & d1
    plain = np.isin(at(5), sign) & digit(at(4)) & digit(at(3)) & d2 & d1
    return (at(1) == 90) | colon | plain


def _fail(mask: np.ndarray, message: str, reason: str) -> None:
    idx = np.flatnonzero(mask)
    if idx.size:
        row = int(idx[0]) + 1
        raise ImportFailed(f"row {row}: {message} ({idx.size} rows like it)", row=row, reason=reason)


def _col(df: pd.DataFrame, *names: str) -> pd.Series | None:
    for n in names:
        if n in df.columns:
            return df[n]
    return None


def import_reports(
    session: Session,
    *,
    path: Path | None = None,
    frame: pd.DataFrame | None = None,
    layer: str | None = None,
    crs: str | None = None,
    source: str | None = None,
    tolerance_m: float = 50.0,
    tz: str = "Asia/Shanghai",
    history: bool = True,
    defer_heat: bool = True,
    fk_triggers: bool = False,
    parallel: bool = False,
    say: Say = lambda _m: None,
) -> BulkResult:
    """Import reports with their routing decisions, cases and event history, in the caller's transaction.

    ``defer_heat`` (the default) adds the cases to the wall's heat roll-ups in one aggregated step after
    their COPY (migration 0008, ``_add_heat``) instead of through the per-statement trigger; the counts are the
    same either way, the trigger path is kept for comparison. ``fk_triggers`` forces PostgreSQL's
    row-by-row foreign-key checks even when the role could skip them for the set-based verification.

    ``parallel`` is for a caller that commits or rolls back ``session`` as soon as this returns (the CLI,
    the benchmark): the cases, their events and the heat roll-ups are then written on a second connection at
    the same time as the reports and routing decisions on this one (:class:`_Satellite`), and that second
    transaction follows this one's fate (two-phase commit). The cases become visible a moment after their
    reports, never without them for longer than that. Without prepared transactions on the server, or on
    the checked path, everything is written here, one table after the other."""
    result = BulkResult()
    clock = _Clock(result, say)
    df = frame if frame is not None else read_reports(path, layer=layer)  # type: ignore[arg-type]
    n = result.rows_read = len(df)
    if frame is None:
        clock.lap("read", f"read {n} rows")
    if n == 0:
        raise ImportFailed("the file has no reports", reason="empty_file")
    try:
        wanted = parse_crs(crs or df.attrs.get("file_crs"))
    except UnknownCRS as exc:
        raise InvalidParameter(str(exc), field="crs") from None
    result.crs_assumed = wanted.name

    # --- columns and vectorised checks ---------------------------------------------------------
    src = _col(df, "source")
    sources = (src.fillna(source or "") if src is not None else pd.Series([source or ""] * n)).astype(str).to_numpy()
    valid = {s: bool(re.fullmatch(r"[a-z0-9_]{1,32}", s)) for s in pd.unique(sources)}  # a handful of sources
    _fail(~pd.Series(sources).map(valid).to_numpy(dtype=bool),
          "source must be lower_case letters, digits or _ (give a 'source' column or --source)", "bad_source")
    ext = _col(df, "external_id", "id")
    external = ext.astype(object).where(ext.notna(), None).to_numpy() if ext is not None else np.full(n, None)
    cat = _col(df, "category_code", "category")
    if cat is None:
        raise ImportFailed("the file has no category_code column", reason="missing_column")
    categories = cat.astype(str).to_numpy()
    limits = {r.code: (r.time_limit_hours, r.time_limit_unit)
              for r in session.execute(text("SELECT code, time_limit_hours, time_limit_unit FROM category"))}
    _fail(~pd.Series(categories).isin(list(limits)).to_numpy(), "unknown category code", "unknown_category")
    when = _col(df, "reported_at", "requested_datetime")
    if when is None:
        raise ImportFailed("the file has no reported_at column", reason="missing_column")
    reported = parse_times(when, tz=tz)
    _fail(reported.isna().to_numpy(), "reported_at is not an ISO 8601 time", "bad_time")
    x = df["_x"].to_numpy(dtype=float)
    y = df["_y"].to_numpy(dtype=float)
    _fail(~(np.isfinite(x) & np.isfinite(y)), "coordinates are missing or not numbers", "bad_coordinates")
    if wanted.name in ("wgs84", "cgcs2000", "gcj02", "bd09"):
        _fail((np.abs(x) > 180) | (np.abs(y) > 90), "coordinates are not longitude/latitude (swapped? projected?)",
              "bad_coordinates")
    lon, lat = (np.asarray(v, dtype=float) for v in to_wgs84(x, y, wanted))
    status_col = _col(df, "status")
    status = status_col.fillna("reported").astype(str).to_numpy() if status_col is not None else np.full(
        n, "reported", dtype=object)
    _fail(~pd.Series(status).isin(STATUSES).to_numpy(), f"status must be one of {', '.join(STATUSES)}", "bad_status")
    closed_col = _col(df, "closed_at")
    closed = (parse_times(closed_col, tz=tz) if closed_col is not None
              else pd.Series(pd.NaT, index=df.index, dtype="datetime64[ns]"))
    is_closed = status == "closed"
    closed = closed.where(~pd.Series(is_closed, index=df.index) | closed.notna(), reported + pd.Timedelta(days=1))
    closed = closed.where(pd.Series(is_closed, index=df.index))
    rating_col = _col(df, "rating")
    rating = (pd.to_numeric(rating_col, errors="coerce") if rating_col is not None
              else pd.Series(np.nan, index=df.index))
    rating = rating.where(pd.Series(is_closed, index=df.index))
    _fail(rating.notna().to_numpy() & ~rating.between(1, 5).to_numpy(), "rating must be 1-5", "bad_rating")
    desc = _col(df, "description")
    clock.lap("check", f"checked {n} rows")

    # --- skip what is already there (idempotent re-import) -------------------------------------
    keep = np.ones(n, dtype=bool)
    has_ext = pd.notna(external)
    if has_ext.any():
        pairs = pd.DataFrame({"s": sources[has_ext], "e": external[has_ext].astype(str)})
        dup = pairs.duplicated().to_numpy()
        if dup.any():
            rows = np.flatnonzero(has_ext)[dup]
            raise ImportFailed(f"row {rows[0] + 1}: external_id repeats an earlier row of the file",
                               row=int(rows[0] + 1), reason="duplicate_external_id")
        # Only the sources that have rows with an external id can hold one of these: the first import of an
        # archive skips sending a million keys to look up (5 s of the million).
        present = set(session.execute(text("""
            SELECT s FROM unnest(CAST(:s AS text[])) AS u(s)
            WHERE EXISTS (SELECT 1 FROM report WHERE source = u.s AND external_id IS NOT NULL)"""),
            {"s": pd.unique(pairs["s"]).tolist()}).scalars())
        look = has_ext & pd.Series(sources).isin(present).to_numpy()
        if look.any():
            existing = session.execute(text("""
                SELECT source || chr(31) || external_id FROM report
                WHERE (source, external_id) IN (SELECT * FROM unnest(CAST(:s AS text[]), CAST(:e AS text[])))"""),
                {"s": sources[look].tolist(), "e": [str(e) for e in external[look]]}).scalars().all()
            if existing:
                keys = np.array([f"{s}\x1f{e}" for s, e in zip(sources, external, strict=True)], dtype=object)
                keep = ~pd.Series(keys).isin(existing).to_numpy()
    result.skipped_existing = int((~keep).sum())
    # Rows go in in time order (ids follow time, as a live system's do): the time indexes of report and cases
    # and their id keys then grow at their right edge instead of taking each row at a random page.
    idx = np.flatnonzero(keep)
    idx = idx[np.argsort(reported.to_numpy()[idx], kind="stable")]
    m = idx.size
    clock.lap("existing", f"{m} to import, {result.skipped_existing} already there")
    if m == 0:
        return result

    # --- route each report against the layout in force at its time -----------------------------
    grid = np.full(m, None, dtype=object)
    layout = np.full(m, None, dtype=object)
    method = np.full(m, "unrouted", dtype=object)
    distance = np.full(m, np.nan)
    candidates = np.full(m, "[]", dtype=object)
    reason = np.full(m, "no_layout_in_force", dtype=object)
    times = reported.to_numpy()[idx]
    periods = session.execute(text("""SELECT id, effective_from, effective_to FROM grid_layout
                                      WHERE status IN ('published', 'retired')""")).all()
    for pid, start, end in periods:
        sel = (times >= np.datetime64(start.replace(tzinfo=None), "ns")) & (
            True if end is None else times < np.datetime64(end.replace(tzinfo=None), "ns"))
        sel = np.flatnonzero(sel)
        if not sel.size:
            continue
        li = build_layout_index(session, pid)
        routed = li.index.route(lon[idx][sel], lat[idx][sel], tolerance_m=tolerance_m)
        codes = li.index.codes
        got = routed.grid >= 0
        layout[sel] = pid
        grid[sel[got]] = codes[routed.grid[got]]
        method[sel] = np.array(METHODS, dtype=object)[routed.method]
        distance[sel] = routed.distance_m
        reason[sel] = np.where(got, None, "outside_coverage")
        for i, cand in routed.candidates.items():
            candidates[sel[i]] = "[" + ",".join(f'"{codes[c]}"' for c in cand) + "]"
    result.routed = int(sum(g is not None for g in grid))
    result.unrouted = m - result.routed
    clock.lap("route", f"routed {result.routed}, unrouted {result.unrouted}")

    # --- ids up front, then one COPY per table --------------------------------------------------
    # A million rows legitimately take longer than the per-query limit that protects the live API; the
    # aggregations of the heat roll-ups sort millions of rows, in memory rather than in temporary files.
    session.execute(text("SET LOCAL statement_timeout = 0"))
    session.execute(text("SET LOCAL work_mem = '256MB'"))
    session.execute(text("SET LOCAL gridmap.outbox = off"))  # an archive is history, not news (webhooks, 0025)
    report_ids, case_ids = _allocate_ids(session, "report", m), _allocate_ids(session, "cases", m)
    clock.lap("ids", f"{2 * m} ids allocated")
    rep_at = reported.iloc[idx]
    reports = pd.DataFrame({
        "id": report_ids, "source": sources[idx], "external_id": external[idx], "category_code": categories[idx],
        "description": desc.iloc[idx].to_numpy() if desc is not None else None,
        "raw_x": x[idx], "raw_y": y[idx], "raw_crs": crs or wanted.name, "crs_assumed": wanted.name,
        "reported_at": rep_at.to_numpy(), "received_at": rep_at.to_numpy(),
        "location": ewkb_points(lon[idx], lat[idx], hex=True),
    })
    routing = pd.DataFrame({"report_id": report_ids, "layout_id": pd.array(layout, dtype="Int64"), "grid_code": grid,
                            "method": method, "distance_m": np.round(distance, 2), "candidates": candidates,
                            "reason": reason, "decided_at": rep_at.to_numpy()})
    deadline = _deadlines(session, start=rep_at.to_numpy(), categories=categories[idx], limits=limits)
    cl = closed.iloc[idx].to_numpy()
    cases = pd.DataFrame({
        "id": case_ids, "report_id": report_ids, "layout_id": pd.array(layout, dtype="Int64"), "grid_code": grid,
        "category_code": categories[idx], "status": status[idx],
        "deadline": deadline,
        "created_at": rep_at.to_numpy(), "updated_at": np.where(pd.isna(cl), rep_at.to_numpy(), cl),
        "closed_at": cl, "rating": pd.array(rating.iloc[idx].to_numpy(), dtype="Int64"),
    })
    events = _events(case_ids=case_ids, status=status[idx], start=rep_at.to_numpy(), end=cl, history=history)
    frames = {"report": reports, "routing": routing, "cases": cases, "case_event": events}
    own = {"report": report_ids, "cases": case_ids}
    clock.lap("frames", f"{3 * m + len(events)} rows laid out")

    # Row-by-row foreign-key triggers were most of each COPY (a keyed lookup and a row lock per row and
    # key). When the role may, the COPYs run with session_replication_role = replica, which skips them, and
    # every foreign key of the four tables is then verified set-based instead (_verify_foreign_keys); when
    # it may not, or when any other trigger would be skipped, PostgreSQL checks row by row as before.
    fks = None if fk_triggers or not defer_heat else _replica_plan(session, frames)
    if fks is not None:
        _verify_foreign_keys(session, fks, frames, own=own, phase="before")
        role = session.execute(text("SELECT current_setting('session_replication_role')")).scalar_one()
        if not _set_replica(session):
            fks = None
    # The heat roll-ups' statement trigger would turn a million cases into a jsonb array and six upserts;
    # the switch (migration 0008) makes it skip this COPY and one aggregated upsert adds them at the end.
    if defer_heat:
        previous = session.execute(text("SELECT current_setting('gridmap.defer_heat', true)")).scalar_one()
        session.execute(text("SELECT set_config('gridmap.defer_heat', 'on', true)"))
    messages = {"report": f"reports: {m}", "routing": f"routing decisions: {m}", "cases": f"cases: {m}",
                "case_event": f"case events: {len(events)}"}
    heat_args = dict(lon=lon[idx], lat=lat[idx], reported=rep_at.to_numpy(), category=categories[idx],
                     status=status[idx], source=sources[idx])
    satellite = None
    if parallel and fks is not None and defer_heat and prepared_transactions(session):
        satellite = _Satellite(session, frames={t: frames[t] for t in _SATELLITE_TABLES}, all_frames=frames,
                               fks=fks, case_ids=case_ids, heat_args=heat_args, messages=messages, result=result,
                               say=say)
        satellite.start()
        frames = {t: f for t, f in frames.items() if t not in _SATELLITE_TABLES}
    try:
        _copy_frames(session, frames, done=lambda table: clock.lap("events" if table == "case_event" else table,
                                                                   messages[table]))
    except BaseException:
        if satellite is not None:
            satellite.cancel()  # this side failed: the other stops rather than writing on for nothing
        raise
    finally:
        if satellite is not None:
            satellite.join()  # its failure is raised below, after this side's own
    if satellite is not None:
        satellite.raise_failure()
        clock.lap("wait", "the second connection's part prepared (cases, events, heat roll-ups)")
    if fks is not None:
        session.execute(text("SELECT set_config('session_replication_role', :v, true)"), {"v": role})
        mine = [fk for fk in fks if satellite is None or fk.parent not in _SATELLITE_TABLES]
        _verify_foreign_keys(session, mine, {**frames, **(satellite.frames if satellite else {})}, own=own,
                             phase="after")
        clock.lap("verify", f"foreign keys of {3 * m + len(events)} rows verified set-based")
    if defer_heat:
        if satellite is None:
            rows, merged = _add_heat(session, **heat_args)
            clock.lap("heat", f"heat roll-ups: {m} cases added ({rows} aggregated rows, {merged} of them to keys "
                              "already counted)")
        session.execute(text("SELECT set_config('gridmap.defer_heat', :v, true)"), {"v": previous or "off"})
    result.events = len(events)
    result.imported = m
    return result


#: The tables the second connection of a parallel import writes (with the heat roll-ups).
_SATELLITE_TABLES = ("cases", "case_event")
#: Names of the transactions a parallel import prepares: ``gridmap-import:<the caller's xid>:<random>``.
PREPARED_PREFIX = "gridmap-import"


def prepared_transactions(session: Session) -> bool:
    """Whether the server lets a transaction be prepared (``max_prepared_transactions`` above 0)."""
    return int(session.execute(text("SELECT current_setting('max_prepared_transactions')")).scalar_one()) > 0


def _engine_of(session: Session) -> Engine:
    bind = session.get_bind()
    return bind.engine if isinstance(bind, Connection) else bind


class _Satellite(threading.Thread):
    """The cases, their events and the heat roll-ups, written on a connection of their own while the caller's
    writes the reports and routing decisions: PostgreSQL gives each connection one backend process, so the
    import's two halves run on two cores instead of one after the other (the COPYs are PostgreSQL-bound).

    The two halves must commit together. This one is prepared (``PREPARE TRANSACTION``) under a name that
    carries the caller's transaction id, and is then committed or rolled back as that transaction ended
    (:func:`resolve_prepared_imports`): right after the caller's commit or rollback (session events), or, if
    the process died in between, by the next import, the API's due-work thread or ``gridmap import``. Its rows
    stay invisible until then, and a prepared transaction survives a server restart.

    Foreign keys are verified as on one connection: the rows this side refers to but does not write
    (categories, layouts) are locked and counted here too, the cases its events refer to are counted here,
    and the reports the cases refer to are counted on the caller's side, which wrote them."""

    def __init__(self, session: Session, *, frames: dict[str, pd.DataFrame], all_frames: dict[str, pd.DataFrame],
                 fks: list[_ForeignKey], case_ids: np.ndarray, heat_args: dict, messages: dict[str, str],
                 result: BulkResult, say: Say) -> None:
        super().__init__(name="gridmap-import-satellite", daemon=True)
        self.frames, self.all_frames, self.fks, self.case_ids = frames, all_frames, fks, case_ids
        self.heat_args, self.messages, self.result, self.say = heat_args, messages, result, say
        self.engine = _engine_of(session)
        xid = session.execute(text("SELECT pg_current_xact_id()::text")).scalar_one()
        self.gid = f"{PREPARED_PREFIX}:{xid}:{uuid.uuid4().hex[:12]}"
        self.failure: BaseException | None = None
        self.pid: int | None = None
        self._cancelled = threading.Event()
        self._resolve_after(session)

    def run(self) -> None:
        clock = _Clock(self.result, self.say)
        try:
            with self.engine.connect() as conn:
                side = Session(bind=conn)
                try:
                    self.pid = side.execute(text("SELECT pg_backend_pid()")).scalar_one()
                    self._check()
                    side.execute(text("SET LOCAL statement_timeout = 0; SET LOCAL work_mem = '256MB'"))
                    side.execute(text("SET LOCAL session_replication_role = replica"))
                    mine = [fk for fk in self.fks if fk.table in self.frames]
                    # The reports are the caller's, invisible here: counted there, never looked up here.
                    own = {"cases": self.case_ids, "report": None}
                    _verify_foreign_keys(side, mine, self.all_frames, own=own, phase="before")
                    _copy_frames(side, self.frames, done=lambda t: clock.lap(
                        "events" if t == "case_event" else t, self.messages[t]))
                    self._check()
                    side.execute(text("SET LOCAL session_replication_role = origin"))
                    _verify_foreign_keys(side, [fk for fk in mine if fk.parent == "cases"], self.all_frames,
                                         own=own, phase="after")
                    rows, merged = _add_heat(side, **self.heat_args)
                    self._check()
                    clock.lap("heat", f"heat roll-ups: {len(self.case_ids)} cases added ({rows} aggregated rows, "
                                      f"{merged} of them to keys already counted)")
                    # PREPARE ends the transaction on the server: SQLAlchemy, which would roll back what it
                    # believes open, never sees this connection again.
                    side.connection().connection.driver_connection.execute(f"PREPARE TRANSACTION '{self.gid}'")
                    conn.invalidate()
                finally:
                    side.close()
        except BaseException as exc:  # noqa: BLE001 - raised on the caller's thread (raise_failure)
            self.failure = exc

    def raise_failure(self) -> None:
        if self.failure is not None:
            raise self.failure

    def cancel(self) -> None:
        """Stop: at the next step, or at once by cancelling the statement in progress (a COPY, say)."""
        self._cancelled.set()
        if self.pid is not None and self.is_alive():
            with contextlib.suppress(Exception), self.engine.connect() as c:
                c.execute(text("SELECT pg_cancel_backend(:p)"), {"p": self.pid})

    def _check(self) -> None:
        if self._cancelled.is_set():
            raise ImportFailed("the import's other connection failed", reason="cancelled")

    def _resolve_after(self, session: Session) -> None:
        """Commit or roll back the prepared half as soon as the caller's transaction has ended: the session's
        commit and rollback events (which also fire for savepoints: the resolver leaves a half whose caller's
        transaction is still in progress, and listens on)."""
        engine, gid = self.engine, self.gid
        settled = False

        def resolve(_session: Session, *_args: object) -> None:
            nonlocal settled  # the listeners stay (removing one while the session dispatches is refused)
            if not settled:
                settled = bool(resolve_prepared_imports(engine, only=gid)) or not _pending(engine, gid)

        event.listen(session, "after_commit", resolve)
        event.listen(session, "after_rollback", resolve)


def _pending(engine: Engine, gid: str) -> bool:
    with engine.connect() as c:
        return c.execute(text("SELECT EXISTS (SELECT 1 FROM pg_prepared_xacts WHERE gid = :g)"), {"g": gid}).scalar()


def resolve_prepared_imports(engine: Engine, *, only: str | None = None) -> list[tuple[str, str]]:
    """Commit each half a parallel import prepared whose caller's transaction committed, and roll back each
    whose caller's transaction aborted (or never finished: a crash); leave those still in progress. Returns
    ``(name, 'committed' | 'rolled back')`` for what it did."""
    done = []
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        rows = conn.execute(text("""
            SELECT gid, pg_xact_status(CAST(split_part(gid, ':', 2) AS xid8)) AS status
            FROM pg_prepared_xacts
            WHERE gid LIKE :prefix AND database = current_database() AND (CAST(:only AS text) IS NULL OR gid = :only)
            """), {"prefix": f"{PREPARED_PREFIX}:%", "only": only}).all()
        for gid, status in rows:
            if status == "committed":
                conn.exec_driver_sql(f"COMMIT PREPARED '{gid}'")
                done.append((gid, "committed"))
            elif status == "aborted":
                conn.exec_driver_sql(f"ROLLBACK PREPARED '{gid}'")
                done.append((gid, "rolled back"))
    return done


_HEX = np.frombuffer(b"0123456789ABCDEF", dtype=np.uint8)


def ewkb_points(x: np.ndarray, y: np.ndarray, *, srid: int = 4326, hex: bool = False) -> np.ndarray:  # noqa: A002
    """Points as PostGIS EWKB (little-endian, with SRID), laid out in numpy: one 25-byte record per point
    (shapely's ``points``, ``set_srid`` and ``to_wkb`` take 4 s for a million). ``hex`` gives the hex text
    PostGIS reads in a CSV COPY. The coordinates must be finite (the import checks them first).

    >>> ewkb_points(np.array([116.5]), np.array([39.9]), hex=True)[0] == shapely.to_wkb(
    ...     shapely.set_srid(shapely.Point(116.5, 39.9), 4326), hex=True, include_srid=True)
    True
    """
    rec = np.zeros(len(x), dtype=[("order", "u1"), ("type", "<u4"), ("srid", "<u4"), ("x", "<f8"), ("y", "<f8")])
    rec["order"], rec["type"], rec["srid"], rec["x"], rec["y"] = 1, 0x20000001, srid, x, y
    raw = rec.view(np.uint8).reshape(len(x), 25)
    if not hex:
        return raw.copy().view("S25").ravel()
    out = np.empty((len(x), 50), dtype=np.uint8)
    out[:, 0::2], out[:, 1::2] = _HEX[raw >> 4], _HEX[raw & 15]
    return out.view("S50").ravel().astype("U50").astype(object)


#: PostgreSQL's ``radians()`` multiplies by this constant (float.c); numpy must too, bit for bit.
_RADIANS_PER_DEGREE = 0.0174532925199432957692
_CELLS = 1 << 17


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


def _add_heat(session: Session, *, lon: np.ndarray, lat: np.ndarray, reported: np.ndarray, category: np.ndarray,
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
        known = _known_prefixes(session, table, frame)
        direct[table], merge[table] = frame[~known], frame[known]
    try:
        with session.begin_nested():
            _copy_frames(session, {t: f for t, f in direct.items() if len(f)})
    except Exception as exc:  # noqa: BLE001 - only a duplicate key is expected here
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
        _copy_frame(session, stage, frame)
        session.execute(text(f"""
            INSERT INTO {table} AS h ({keys}, n) SELECT {keys}, n FROM {stage} ORDER BY {keys}
            ON CONFLICT ({keys}) DO UPDATE SET n = h.n + excluded.n;
            DROP TABLE {stage}"""))
    return sum(len(f) for f in rows.values()), sum(len(f) for f in merge.values())


def _known_prefixes(session: Session, table: str, frame: pd.DataFrame) -> np.ndarray:
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


def _allocate_ids(session: Session, table: str, m: int) -> np.ndarray:
    """``m`` ids from ``table``'s sequence, in order. Only their range crosses the wire when they are
    consecutive (as they are unless another session draws from the sequence meanwhile); a million ids
    fetched as rows took seconds."""
    # The sequence is looked up once: pg_get_serial_sequence per row was most of the time.
    seq = session.execute(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table}).scalar_one()
    lo, hi, listed = session.execute(text("""
        SELECT min(v), max(v), CASE WHEN max(v) - min(v) + 1 = count(*) THEN NULL ELSE array_agg(v ORDER BY v) END
        FROM (SELECT nextval(CAST(:seq AS regclass)) AS v FROM generate_series(1, :n)) t"""),
        {"seq": seq, "n": m}).one()
    return np.arange(lo, hi + 1, dtype=np.int64) if listed is None else np.array(listed, dtype=np.int64)


def _deadlines(session: Session, *, start: np.ndarray, categories: np.ndarray,
               limits: dict[str, tuple[float, str]]) -> np.ndarray:
    """Each case's deadline (naive UTC) from its category's time limit: clock hours in numpy, working time by
    the one SQL rule (``gridmap_deadline``, migration 0024) in one statement for the rows that need it."""
    amount = np.array([limits[c][0] for c in categories], dtype=float)
    unit = np.array([limits[c][1] for c in categories], dtype=object)
    out = start + (amount * 3600e9).astype("timedelta64[ns]")
    working = np.flatnonzero(unit != "hours")
    if len(working):
        rows = session.execute(text("""
            SELECT gridmap_deadline(t AT TIME ZONE 'UTC', a, u) AT TIME ZONE 'UTC'
            FROM unnest(CAST(:t AS timestamp[]), CAST(:a AS float8[]), CAST(:u AS text[])) WITH ORDINALITY
                 AS x(t, a, u, n) ORDER BY n"""),
            {"t": [str(v) for v in start[working]], "a": amount[working].tolist(),
             "u": unit[working].tolist()}).scalars().all()
        out[working] = np.array(rows, dtype="datetime64[ns]")
    return out


def _events(*, case_ids: np.ndarray, status: np.ndarray, start: np.ndarray, end: np.ndarray,
            history: bool) -> pd.DataFrame:
    """The case log: the lifecycle path to each final status, spread between report and close. Laid out
    by array indexing over a (status, step) table of the paths, not path by path (a million cases)."""
    paths = [PATHS[s] if history else [s] for s in STATUSES]
    width = max(len(p) for p in paths)
    to_table = np.full((len(paths), width), None, dtype=object)
    from_table = np.full((len(paths), width), None, dtype=object)
    for i, p in enumerate(paths):
        to_table[i, :len(p)] = p
        from_table[i, 1:len(p)] = p[:-1]
    code = pd.Categorical(status, categories=STATUSES).codes.astype(np.int64)
    counts = np.array([len(p) for p in paths])[code]
    case = np.repeat(case_ids, counts)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    k = np.arange(int(counts.sum())) - first
    rows = np.repeat(code, counts)
    total = np.repeat(counts, counts)
    t0 = np.repeat(start, counts)
    default_end = start + np.timedelta64(6, "h")
    t1 = np.repeat(np.where(pd.isna(end), default_end, end), counts)
    frac = np.where(total > 1, k / np.maximum(total - 1, 1), 0.0)
    at = t0 + ((t1 - t0).astype("timedelta64[ns]").astype(np.int64) * frac).astype("timedelta64[ns]")
    to_status = to_table[rows, k]
    from_status = from_table[rows, k]
    return pd.DataFrame({"case_id": case, "at": at, "actor": np.where(k == 0, "import", "import-history"),
                         "from_status": from_status, "to_status": to_status,
                         "note": np.where(k == 0, "imported report", None)})


@dataclass(frozen=True)
class _ForeignKey:
    name: str
    table: str
    column: str
    parent: str
    parent_column: str
    parent_type: str


def _replica_plan(session: Session, frames: dict[str, pd.DataFrame]) -> list[_ForeignKey] | None:
    """The foreign keys to verify set-based if the COPYs skip triggers, or None when skipping them would
    skip anything else: a trigger firing on INSERT other than the heat roll-up's (which the import does
    itself), an internal trigger that is not a foreign-key check (a deferrable unique key), a foreign key
    over several columns, or one on a column the import leaves to a default it cannot see."""
    tables = list(frames)
    triggers = session.execute(text("""
        SELECT t.tgrelid::regclass::text AS tbl, t.tgname, t.tgisinternal, c.contype
        FROM pg_trigger t LEFT JOIN pg_constraint c ON c.oid = t.tgconstraint
        WHERE t.tgrelid = ANY(CAST(:t AS regclass[])) AND t.tgenabled = 'O' AND (t.tgtype & 4) <> 0"""),
        {"t": tables}).all()
    for t in triggers:
        if t.tgisinternal and t.contype == "f":
            continue
        if (t.tbl, t.tgname) in (("cases", "tr_cases_heat_ins"),
                                 ("case_event", "tr_case_event_outbox")):  # the import switches the outbox off
            continue
        return None
    fks = []
    for r in session.execute(text("""
        SELECT c.conname, c.conrelid::regclass::text AS tbl, a.attname, a.atthasdef,
               c.confrelid::regclass::text AS parent, af.attname AS parent_column,
               format_type(af.atttypid, af.atttypmod) AS parent_type, cardinality(c.conkey) AS k
        FROM pg_constraint c
        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
        JOIN pg_attribute af ON af.attrelid = c.confrelid AND af.attnum = c.confkey[1]
        WHERE c.contype = 'f' AND c.conrelid = ANY(CAST(:t AS regclass[]))
        ORDER BY c.conrelid, c.conname"""), {"t": tables}).all():
        if r.k != 1 or (r.attname not in frames[r.tbl].columns and r.atthasdef):
            return None
        if r.attname in frames[r.tbl].columns:  # a column not written is NULL: nothing to check
            fks.append(_ForeignKey(r.conname, r.tbl, r.attname, r.parent, r.parent_column, r.parent_type))
    return fks


def _set_replica(session: Session) -> bool:
    """Skip triggers for the rest of the import if the role may (a superuser, or PostgreSQL 15's
    ``GRANT SET ON PARAMETER session_replication_role``)."""
    try:
        with session.begin_nested():
            session.execute(text("SET LOCAL session_replication_role = replica"))
    except DBAPIError:
        return False
    return True


def _verify_foreign_keys(session: Session, fks: list[_ForeignKey], frames: dict[str, pd.DataFrame], *,
                         own: dict[str, np.ndarray], phase: str) -> None:
    """What the skipped row-by-row checks guaranteed, set-based. ``before`` the COPYs, the rows the import
    refers to but does not write (categories, layouts) are locked ``FOR KEY SHARE`` (as each row's check
    would have), so none can go away before the commit, and counted. ``after`` them, the rows the import
    wrote itself and refers to (reports from routing and cases, cases from their events; invisible to other
    sessions until the commit, so nothing to lock) are counted: a range count when the referenced ids are
    consecutive, an index lookup of each otherwise. A missing row refuses the import, naming it."""
    for fk in fks:
        if (fk.parent in own) != (phase == "after"):
            continue
        col = frames[fk.table][fk.column]
        values = pd.unique(col[col.notna()].to_numpy())
        if values.size == 0:
            continue
        vals = values.tolist() if fk.parent not in own or values.size < 1000 else None
        cast = f"CAST(:v AS {fk.parent_type}[])"
        if fk.parent not in own:
            found = session.execute(text(
                f"SELECT count(*) FROM (SELECT 1 FROM {fk.parent} WHERE {fk.parent_column} = ANY({cast}) "
                "FOR KEY SHARE) t"), {"v": vals}).scalar_one()
        elif np.issubdtype(values.dtype, np.integer) and int(values.max()) - int(values.min()) + 1 == values.size:
            found = session.execute(text(
                f"SELECT count(*) FROM {fk.parent} WHERE {fk.parent_column} BETWEEN :lo AND :hi"),
                {"lo": int(values.min()), "hi": int(values.max())}).scalar_one()
        else:
            vals = values.tolist()
            found = session.execute(text(
                f"SELECT count(*) FROM {fk.parent} WHERE {fk.parent_column} = ANY({cast})"), {"v": vals}).scalar_one()
        if found != values.size:
            vals = values.tolist()
            missing = session.execute(text(
                f"SELECT v FROM unnest({cast}) AS u(v) WHERE NOT EXISTS "
                f"(SELECT 1 FROM {fk.parent} p WHERE p.{fk.parent_column} = u.v) LIMIT 1"), {"v": vals}).scalar()
            raise ImportFailed(f"{fk.table}.{fk.column} {missing!r} has no row in {fk.parent} ({fk.name})",
                               reason="foreign_key")


#: Rows per chunk of a pipelined COPY (a few MB).
COPY_CHUNK = 50_000


def _column_types(session: Session, table: str, columns: list[str]) -> dict[str, str]:
    """Each column's type as the catalog names it (``format_type``), for the binary COPY."""
    found = dict(session.execute(text("""
        SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
        WHERE attrelid = CAST(:t AS regclass) AND attnum > 0 AND NOT attisdropped"""), {"t": table}).all())
    return {c: found[c] for c in columns}


def _copy_frame(session: Session, table: str, frame: pd.DataFrame) -> None:
    """One binary COPY of ``frame``."""
    _copy_frames(session, {table: frame})


def _copy_frames(session: Session, frames: dict[str, pd.DataFrame], *,
                 done: Callable[[str], None] = lambda _t: None) -> None:
    """One COPY per frame, in order, pipelined, in PostgreSQL's binary format (api/core/pgcopy.py): a thread
    encodes chunk after chunk while this one sends them, so PostgreSQL ingests one chunk while numpy lays out
    the next. (The CSV text pandas wrote took 26 s of Python for the million reports' four tables, and
    PostgreSQL twice as long to parse it: 4.4 s against 1.7 s for the reports without their indexes.)
    ``done(table)`` is called as each COPY ends. A failure on either side stops both and is raised here; the
    transaction is the caller's."""
    types = {table: _column_types(session, table, list(frame.columns)) for table, frame in frames.items()}
    chunks: queue.Queue = queue.Queue(maxsize=3)
    stop = threading.Event()

    def produce() -> None:
        try:
            for table, frame in frames.items():
                for chunk in binary_copy_chunks(frame, types[table], rows_per_chunk=COPY_CHUNK):
                    if stop.is_set():
                        return
                    chunks.put((table, chunk))
                chunks.put((table, None))  # this table's end
            chunks.put(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the sending thread, which raises it
            chunks.put(exc)

    conn = session.connection().connection.driver_connection
    worker = threading.Thread(target=produce, name="gridmap-copy-encode", daemon=True)
    worker.start()
    copy = None
    try:
        with contextlib.ExitStack() as open_copy:  # the COPY in progress: ended with the error, if any
            while (item := chunks.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                table, data = item
                if data is None:
                    open_copy.close()  # ends the COPY (and raises what PostgreSQL refused)
                    copy = None
                    done(table)
                    continue
                if copy is None:  # a table's first chunk: its COPY starts
                    cur = open_copy.enter_context(conn.cursor())
                    cols = ", ".join(frames[table].columns)
                    copy = open_copy.enter_context(cur.copy(f"COPY {table} ({cols}) FROM STDIN (FORMAT binary)"))
                copy.write(data)
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                chunks.get(timeout=0.05)
            except queue.Empty:
                pass
        worker.join()
