"""Bulk import of historical reports (a hotline's archive, a migration from another system).

Millions of rows, all or nothing, at COPY speed: rows are checked vectorised (a refusal names the row),
routed with the same in-memory index as live intake (each report against the layout in force at its own
time), and written in time order with one binary COPY per table (api/core/pgcopy.py): report, routing,
cases, case_event; with ``parallel`` the last two and the heat roll-ups on a second connection whose
transaction is prepared and follows the caller's (``pgload.Satellite``).
Ids are allocated up front from the tables' sequences so the four tables link without a round trip.
Re-importing a file is harmless: rows whose (source, external_id) already exist are skipped and
counted.

Where the time went, and what replaced it (issue 4; each phase is timed and told through ``say``):

* the heat roll-ups' statement trigger on ``cases`` is switched off for the import's COPY
  (``gridmap.defer_heat``, migration 0008) and the imported cases are aggregated in numpy and added at the
  end, COPYed in key order into keys the roll-ups do not have yet, upserted into those they have
  (``api.wall.rollups.add_heat``);
* PostgreSQL's row-by-row foreign-key checks (a keyed lookup and a row lock per row and key) are skipped
  with ``session_replication_role = replica`` when the role may, and every foreign key of the four tables
  is verified set-based instead (``verify_foreign_keys``); anything else that would be skipped (another
  INSERT trigger, a multi-column key) sends the import down the checked path;
* ids come from one ``nextval`` per row over a sequence looked up once, and only their range crosses the
  wire.

The reading and checking is :mod:`api.reports.archive`; the generic bulk-write machinery (COPY pipeline, ids,
foreign keys, the second connection) :mod:`api.core.pgload`; the heat roll-ups' write side :mod:`api.wall.rollups`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.cases.workflow import PATHS, STATUSES
from api.core import pgload
from api.core.errors import ImportFailed
from api.core.pgload import (
    PhaseClock,
    Satellite,
    allocate_ids,
    ewkb_points,
    prepared_transactions,
    replica_plan,
    set_replica,
    verify_foreign_keys,
)
from api.grids.service import layout_periods
from api.locate.decide import NO_LAYOUT, decide
from api.locate.index import build_layout_index
from api.reports.archive import Rows, check_rows, new_rows, read_reports
from api.wall import rollups

Say = Callable[[str], None]
#: The webhooks' outbox trigger (migration 0025): skipping it loses nothing, the import switches the outbox off.
OUTBOX_TRIGGER = ("case_event", "tr_case_event_outbox")
#: The tables the second connection of a parallel import writes (with the heat roll-ups).
_SATELLITE_TABLES = ("cases", "case_event")


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
    their COPY (migration 0008, :func:`api.wall.rollups.add_heat`) instead of through the per-statement
    trigger; the counts are the same either way, the trigger path is kept for comparison. ``fk_triggers``
    forces PostgreSQL's row-by-row foreign-key checks even when the role could skip them for the set-based
    verification.

    ``parallel`` is for a caller that commits or rolls back ``session`` as soon as this returns (the CLI,
    the benchmark): the cases, their events and the heat roll-ups are then written on a second connection at
    the same time as the reports and routing decisions on this one (:class:`api.core.pgload.Satellite`), and
    that second transaction follows this one's fate (two-phase commit). The cases become visible a moment
    after their reports, never without them for longer than that. Without prepared transactions on the
    server, or on the checked path, everything is written here, one table after the other.

    The phases: read the file, check its rows, set aside those already imported, route each against the
    layout in force at its time, lay out the four tables' rows, write them."""
    result = BulkResult()
    clock = PhaseClock(result.phases, say)
    df = frame if frame is not None else read_reports(path, layer=layer)  # type: ignore[arg-type]
    n = result.rows_read = len(df)
    if frame is None:
        clock.lap("read", f"read {n} rows")
    if n == 0:
        raise ImportFailed("the file has no reports", reason="empty_file")
    rows = check_rows(session, df, crs=crs, source=source, tz=tz)
    result.crs_assumed = rows.wanted.name
    clock.lap("check", f"checked {n} rows")
    idx = new_rows(session, rows)
    m = idx.size
    result.skipped_existing = n - m
    clock.lap("existing", f"{m} to import, {result.skipped_existing} already there")
    if m == 0:
        return result
    routed = _route(session, rows, idx, tolerance_m=tolerance_m)
    result.routed = int(sum(g is not None for g in routed["grid_code"]))
    result.unrouted = m - result.routed
    clock.lap("route", f"routed {result.routed}, unrouted {result.unrouted}")
    # A million rows legitimately take longer than the per-query limit that protects the live API; the
    # aggregations of the heat roll-ups sort millions of rows, in memory rather than in temporary files.
    session.execute(text("SET LOCAL statement_timeout = 0"))
    session.execute(text("SET LOCAL work_mem = '256MB'"))
    session.execute(text("SET LOCAL gridmap.outbox = off"))  # an archive is history, not news (webhooks, 0025)
    report_ids, case_ids = allocate_ids(session, "report", m), allocate_ids(session, "cases", m)
    clock.lap("ids", f"{2 * m} ids allocated")
    frames = _frames(session, rows, idx, routed, report_ids=report_ids, case_ids=case_ids, crs=crs,
                     history=history)
    events = len(frames["case_event"])
    clock.lap("frames", f"{3 * m + events} rows laid out")
    _write(session, rows, idx, frames, own={"report": report_ids, "cases": case_ids}, clock=clock,
           defer_heat=defer_heat, fk_triggers=fk_triggers, parallel=parallel, say=say)
    result.events = events
    result.imported = m
    return result


def _route(session: Session, rows: Rows, idx: np.ndarray, *, tolerance_m: float) -> dict[str, np.ndarray]:
    """Each report routed against the layout in force at its own time: the routing table's columns."""
    m = idx.size
    grid = np.full(m, None, dtype=object)
    layout = np.full(m, None, dtype=object)
    method = np.full(m, "unrouted", dtype=object)
    distance = np.full(m, np.nan)
    candidates = np.full(m, "[]", dtype=object)
    reason = np.full(m, NO_LAYOUT, dtype=object)
    times = rows.reported.to_numpy()[idx]
    for pid, _name, start, end in layout_periods(session):
        sel = (times >= np.datetime64(start.replace(tzinfo=None), "ns")) & (
            True if end is None else times < np.datetime64(end.replace(tzinfo=None), "ns"))
        sel = np.flatnonzero(sel)
        if not sel.size:
            continue
        li = build_layout_index(session, pid)
        found = decide(li.index.route(rows.lon[idx][sel], rows.lat[idx][sel], tolerance_m=tolerance_m),
                       li.index.codes)
        layout[sel] = pid
        grid[sel] = found.grid
        method[sel] = found.method
        distance[sel] = found.distance_m
        reason[sel] = found.reason
        for i, cand in found.candidates.items():
            candidates[sel[i]] = "[" + ",".join(f'"{c}"' for c in cand) + "]"
    return {"layout_id": layout, "grid_code": grid, "method": method, "distance_m": distance,
            "candidates": candidates, "reason": reason}


def _frames(session: Session, rows: Rows, idx: np.ndarray, routed: dict[str, np.ndarray], *,
            report_ids: np.ndarray, case_ids: np.ndarray, crs: str | None, history: bool) -> dict[str, pd.DataFrame]:
    """The rows of the four tables, in the order they are written: report, routing, cases, case_event."""
    rep_at = rows.reported.iloc[idx]
    layout = pd.array(routed["layout_id"], dtype="Int64")
    reports = pd.DataFrame({
        "id": report_ids, "source": rows.sources[idx], "external_id": rows.external[idx],
        "category_code": rows.categories[idx],
        "description": rows.desc.iloc[idx].to_numpy() if rows.desc is not None else None,
        "raw_x": rows.x[idx], "raw_y": rows.y[idx], "raw_crs": crs or rows.wanted.name,
        "crs_assumed": rows.wanted.name,
        "reported_at": rep_at.to_numpy(), "received_at": rep_at.to_numpy(),
        "location": ewkb_points(rows.lon[idx], rows.lat[idx], hex=True),
    })
    routing = pd.DataFrame({"report_id": report_ids, "layout_id": layout, "grid_code": routed["grid_code"],
                            "method": routed["method"], "distance_m": np.round(routed["distance_m"], 2),
                            "candidates": routed["candidates"], "reason": routed["reason"],
                            "decided_at": rep_at.to_numpy()})
    deadline = _deadlines(session, start=rep_at.to_numpy(), categories=rows.categories[idx], limits=rows.limits)
    cl = rows.closed.iloc[idx].to_numpy()
    cases = pd.DataFrame({
        "id": case_ids, "report_id": report_ids, "layout_id": layout, "grid_code": routed["grid_code"],
        "category_code": rows.categories[idx], "status": rows.status[idx],
        "deadline": deadline,
        "created_at": rep_at.to_numpy(), "updated_at": np.where(pd.isna(cl), rep_at.to_numpy(), cl),
        "closed_at": cl, "rating": pd.array(rows.rating.iloc[idx].to_numpy(), dtype="Int64"),
    })
    events = _events(case_ids=case_ids, status=rows.status[idx], start=rep_at.to_numpy(), end=cl, history=history)
    return {"report": reports, "routing": routing, "cases": cases, "case_event": events}


def _write(session: Session, rows: Rows, idx: np.ndarray, frames: dict[str, pd.DataFrame], *,
           own: dict[str, np.ndarray], clock: PhaseClock, defer_heat: bool, fk_triggers: bool, parallel: bool,
           say: Say) -> None:
    """One COPY per table (the cases and events on a second connection when ``parallel``), foreign keys
    verified set-based when the triggers were skipped, then the heat roll-ups."""
    m = idx.size
    events = len(frames["case_event"])
    # Row-by-row foreign-key triggers were most of each COPY (a keyed lookup and a row lock per row and
    # key). When the role may, the COPYs run with session_replication_role = replica, which skips them, and
    # every foreign key of the four tables is then verified set-based instead (verify_foreign_keys); when
    # it may not, or when any other trigger would be skipped, PostgreSQL checks row by row as before.
    skipped = [rollups.HEAT_TRIGGER, OUTBOX_TRIGGER]  # the triggers whose work the import does (or switches off)
    fks = None if fk_triggers or not defer_heat else replica_plan(session, frames, handled=skipped)
    if fks is not None:
        verify_foreign_keys(session, fks, frames, own=own, phase="before")
        role = session.execute(text("SELECT current_setting('session_replication_role')")).scalar_one()
        if not set_replica(session):
            fks = None
    # The heat roll-ups' statement trigger would turn a million cases into a jsonb array and six upserts;
    # the switch (migration 0008) makes it skip this COPY and one aggregated upsert adds them at the end.
    if defer_heat:
        previous = session.execute(text("SELECT current_setting('gridmap.defer_heat', true)")).scalar_one()
        session.execute(text("SELECT set_config('gridmap.defer_heat', 'on', true)"))
    messages = {"report": f"reports: {m}", "routing": f"routing decisions: {m}", "cases": f"cases: {m}",
                "case_event": f"case events: {events}"}
    heat_args = dict(lon=rows.lon[idx], lat=rows.lat[idx], reported=rows.reported.iloc[idx].to_numpy(),
                     category=rows.categories[idx], status=rows.status[idx], source=rows.sources[idx])

    def add_heat(side: Session, lap: PhaseClock) -> None:
        added, merged = rollups.add_heat(side, **heat_args)
        lap.lap("heat", f"heat roll-ups: {m} cases added ({added} aggregated rows, {merged} of them to keys "
                        "already counted)")

    def phase(table: str) -> str:
        return "events" if table == "case_event" else table

    satellite = None
    if parallel and fks is not None and defer_heat and prepared_transactions(session):
        # The reports are the caller's, invisible on the second connection: counted here, never looked up there.
        satellite = Satellite(session, frames={t: frames[t] for t in _SATELLITE_TABLES}, all_frames=frames,
                              fks=fks, own={"cases": own["cases"], "report": None}, finish=add_heat,
                              messages=messages, phase=phase, phases=clock.phases, say=say)
        satellite.start()
    mine = {t: f for t, f in frames.items() if satellite is None or t not in _SATELLITE_TABLES}
    try:
        pgload.copy_frames(session, mine, done=lambda table: clock.lap(phase(table), messages[table]))
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
        checked = [fk for fk in fks if satellite is None or fk.parent not in _SATELLITE_TABLES]
        verify_foreign_keys(session, checked, frames, own=own, phase="after")
        clock.lap("verify", f"foreign keys of {3 * m + events} rows verified set-based")
    if defer_heat:
        if satellite is None:
            add_heat(session, clock)
        session.execute(text("SELECT set_config('gridmap.defer_heat', :v, true)"), {"v": previous or "off"})


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
                         "note": np.where(k == 0, "imported report", None),
                         "note_code": np.where(k == 0, "imported", None)})  # api/cases/notes.py


