"""Report intake: an idempotent insert, its routing decision and its case, in one transaction.

Nothing a client sends is dropped: a report outside every grid is stored and routed ``unrouted``
with the reason; a report with only an address is stored and queued (``no_location``). A retry
with the same ``Idempotency-Key`` (or the same ``external_id`` from the same source) returns the
first report, never a second one; the same key with a different body is a 409.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import orjson
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.auth.roles import Can, can, filed_by, row_scope, sees
from api.auth.service import Principal
from api.cases import duplicates, notes
from api.cases.workflow import OPEN_SQL
from api.core.errors import Conflict, GridmapError, InvalidParameter, NotFound, ValidationFailed
from api.core.notify import on_commit
from api.core.observe import ROUTING_DECISIONS, ROUTING_LATENCY
from api.locate.decide import NO_LAYOUT, NO_LOCATION, decide
from api.locate.index import IndexCache
from api.locate.service import normalise
from api.media.service import resolve_refs
from api.people.service import DUTY_WORKER_SQL, mask_phone
from api.reports.schemas import CaseRef, Point, Reporter, ReportIn, ReportOut, RoutingOut

CHANNEL = "gridmap_report"


class IdempotencyConflict(Conflict):
    code, title = "idempotency_key_reused", "Idempotency key reused with a different request"


def request_hash(body: ReportIn) -> str:
    canonical = orjson.dumps(body.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


@dataclass(slots=True)
class Prepared:
    """A report validated and routed, ready to be written: the bind parameters of its one statement and what
    its answer needs. Made in the writer's thread, before anything is written (see :func:`prepare_report`)."""

    body: ReportIn
    idempotency_key: str | None
    principal: Principal
    digest: str
    params: dict[str, Any]
    method: str
    addr: Any = None
    notify: Callable[[str, str], None] | None = None


def create_report(
    session: Session,
    *,
    cache: IndexCache,
    body: ReportIn,
    idempotency_key: str | None,
    principal: Principal,
    tolerance_m: float,
    tz: str,
    duplicate_radius_m: float = 50.0,
    duplicate_window_hours: float = 24.0,
    notify: Callable[[str, str], None] | None = None,
) -> ReportOut:
    """Store, route and open a case for one report (see the module docstring); ``notify`` announces it to the
    live map once the caller's transaction commits."""
    p = prepare_report(session, cache=cache, body=body, idempotency_key=idempotency_key, principal=principal,
                       tolerance_m=tolerance_m, tz=tz, duplicate_radius_m=duplicate_radius_m,
                       duplicate_window_hours=duplicate_window_hours, notify=notify)
    return write_one(session, p)


def prepare_report(
    session: Session,
    *,
    cache: IndexCache,
    body: ReportIn,
    idempotency_key: str | None,
    principal: Principal,
    tolerance_m: float,
    tz: str,
    duplicate_radius_m: float = 50.0,
    duplicate_window_hours: float = 24.0,
    notify: Callable[[str, str], None] | None = None,
) -> Prepared:
    """Everything of intake that can refuse a report or decide its routing, before a row is written: the checks
    (a 4xx here writes nothing), CRS normalisation, the address look-up and routing on the in-memory index. What
    is left may fail only on a database constraint, so that a batch of prepared reports rarely fails as a whole
    (:func:`write_batch`)."""
    if idempotency_key is not None and not (1 <= len(idempotency_key) <= 255):
        raise InvalidParameter("Idempotency-Key must be 1-255 characters", field="Idempotency-Key")
    if (body.lon is None) != (body.lat is None):
        raise ValidationFailed("send both lon and lat, or neither", field="lon/lat")
    if body.lon is None and not body.address:
        raise ValidationFailed("a report needs a place: lon/lat or an address", field="lon/lat")
    if not CATEGORIES.known(session, body.category):
        raise _unknown_category(body.category)
    now = datetime.now(ZoneInfo(tz))
    reported_at = body.reported_at or now
    if reported_at.tzinfo is None:
        reported_at = reported_at.replace(tzinfo=ZoneInfo(tz))
    if reported_at > now + timedelta(minutes=10):
        raise ValidationFailed("reported_at is in the future", field="reported_at")

    lon = lat = None
    crs_assumed = None
    if body.lon is not None:
        pt = normalise(np.array([body.lon]), np.array([body.lat]), body.crs, field="lon/lat")
        lon, lat, crs_assumed = float(pt.lon[0]), float(pt.lat[0]), pt.crs
    addr = None
    if body.address:  # issue 10: the standard address registry gives the point, or queues the report
        from api.addresses.service import ReportAddress

        addr = ReportAddress(session, cache=cache, address=body.address, lon=lon, lat=lat, at=reported_at,
                             tolerance_m=tolerance_m)
        if lon is None and addr.point is not None:
            lon, lat = addr.point

    # Routing runs on the in-memory index before anything is written: the write is then one statement.
    layout_id = grid_code = None
    method, distance, candidates, reason = "unrouted", None, [], NO_LOCATION
    if lon is not None:
        period = cache.layout_at(session, reported_at)
        if period is None:
            reason = NO_LAYOUT
        else:
            li = cache.get(session, period.layout_id)
            layout_id = period.layout_id
            t0 = time.perf_counter()
            routed = li.index.route(np.array([lon]), np.array([lat]), tolerance_m=tolerance_m)
            ROUTING_LATENCY.labels("intake").observe(time.perf_counter() - t0)
            found = decide(routed, li.index.codes)
            method, grid_code, reason = str(found.method[0]), found.grid[0], found.reason[0]
            d = float(found.distance_m[0])
            distance = None if d != d else round(d, 2)
            candidates = found.candidates.get(0, [])
    if addr is not None:
        method, reason, candidates = addr.routing(method, reason, candidates, grid_code)

    digest = request_hash(body)
    reporter = body.reporter or Reporter()
    note = notes.system("received", source=body.source, reason=reason)
    params = {
        "source": body.source, "external_id": body.external_id, "key": idempotency_key, "category": body.category,
        "description": body.description, "x": body.lon, "y": body.lat, "crs": body.crs or "wgs84",
        "address": body.address, "rname": reporter.name, "rphone": reporter.phone,
        "photos": orjson.dumps(resolve_refs(session, principal=principal, refs=body.photos, field="photos")).decode(),
        "reported_at": reported_at,
        "lon": lon, "lat": lat, "hash": digest, "crs_assumed": crs_assumed,
        "layout": layout_id, "grid": grid_code, "method": method, "distance": distance,
        "candidates": orjson.dumps(candidates).decode(), "reason": reason, "actor": principal.actor,
        "filed_by": filed_by(principal),
        "note": note["note"], "note_code": note["note_code"], "note_params": notes.params_json(note["note_params"]),
        "radius": duplicate_radius_m, "window_s": duplicate_window_hours * 3600.0,
    }
    return Prepared(body=body, idempotency_key=idempotency_key, principal=principal, digest=digest, params=params,
                    method=method, addr=addr, notify=notify)


def write_one(session: Session, p: Prepared) -> ReportOut:
    """Write one prepared report with :data:`_INTAKE` (the reference for :func:`write_batch`)."""
    row = session.execute(_INTAKE_SQL, p.params).one()
    if not row.category_ok:
        CATEGORIES.forget()
        raise _unknown_category(p.body.category)
    return _answer(session, p, row)


def _unknown_category(code: str) -> ValidationFailed:
    return ValidationFailed(f"unknown category {code!r}; see GET /api/v1/categories", field="category")


def _answer(session: Session, p: Prepared, row: Any) -> ReportOut:
    """The answer for one report from its row of the intake statement (a retry: the first report's answer)."""
    if row.id is None:
        return _replay(session, body=p.body, idempotency_key=p.idempotency_key, digest=p.digest,
                       principal=p.principal)
    ROUTING_DECISIONS.labels(p.method, "intake").inc()  # a new report's decision as stored (address checks included)

    dups = list(row.duplicates or [])
    if p.notify is not None:
        payload = orjson.dumps({
            "id": row.id, "case_id": row.case_id, "lon": row.lon, "lat": row.lat, "grid": row.grid_code,
            "method": row.method, "category": row.category_code, "source": row.source,
            "reported_at": row.reported_at.isoformat(), "duplicates": dups}).decode()
        send = p.notify
        on_commit(session, lambda: send(CHANNEL, payload))
    addr = p.addr
    review_id = addr.queue(session, report_id=row.id) if addr is not None else None
    out = _to_out(row, unmask=can(p.principal.role, Can.SEE_CALLER))
    out.address_check = addr.summary(review_id) if addr is not None else None
    if out.case is not None:
        out.case.duplicates = dups
    return out


class _Categories:
    """The category codes, kept in memory so that intake can refuse an unknown one before its batch is written
    (a batch statement would otherwise carry a row that cannot be stored). Read again on a miss, so a category
    added since is found at once; a removed one (rare: cases refer to it) is still caught by the statement's own
    check (``category_ok``), which then clears this cache."""

    def __init__(self) -> None:
        self._codes: frozenset[str] | None = None

    def known(self, session: Session, code: str) -> bool:
        codes = self._codes
        if codes is not None and code in codes:
            return True
        codes = self._codes = frozenset(session.execute(text("SELECT code FROM category")).scalars())
        return code in codes

    def forget(self) -> None:
        self._codes = None


CATEGORIES = _Categories()


def write_batch(session: Session, batch: list[Prepared]) -> list[ReportOut | Exception]:
    """Write many prepared reports with ONE statement (:data:`_INTAKE_BATCH`) and answer each as
    :func:`write_one` would have, in order: new (with its duplicate candidates, the batch's earlier reports
    included), a retry's replay, or that report's own 409/422 (returned, not raised: the others stand).

    Why: written one by one, every report paid its own planning, its own round trips, a savepoint and a run of
    the heat roll-up trigger (~2 ms of the ~4 ms PostgreSQL spent per report); in one statement the trigger runs
    once with the whole batch in its transition table. Address reports are not batched (their review queue row
    needs the report id); the caller writes those with :func:`write_one`. An error of the statement itself
    (a constraint no check caught) is raised: the caller rolls back and writes the batch one by one."""
    first = batch[0].params
    if any(p.addr is not None or p.params["radius"] != first["radius"] or p.params["window_s"] != first["window_s"]
           for p in batch):
        raise ValueError("write_batch takes reports without an address and with the same duplicate settings")
    # The batch goes as ONE json parameter (orjson, in C) rather than one array per column: psycopg's list
    # dumpers escaped every element in Python, the writer thread's largest cost after the statement itself.
    rows_json = orjson.dumps([{"ord": i, **{name: p.params[name] for name in _BATCH_COLUMNS}}
                              for i, p in enumerate(batch, start=1)]).decode()
    # The statement is prepared (psycopg, from its 5th run) but PostgreSQL kept planning it anew for each batch
    # (~2.5 ms, more than the rows cost in a small batch): its generic plan is as good (the per-report look-ups
    # are index probes whatever the batch size).
    session.execute(_GENERIC_PLANS)
    rows = session.execute(_INTAKE_BATCH_SQL, {"batch": rows_json, "radius": first["radius"],
                                               "window_s": first["window_s"]})
    by_ord = {r.ord: r for r in rows}
    out: list[ReportOut | Exception] = []
    for i, p in enumerate(batch, start=1):
        row = by_ord[i]
        try:
            if not row.category_ok:
                CATEGORIES.forget()
                raise _unknown_category(p.body.category)
            out.append(_answer(session, p, row))
        except GridmapError as exc:  # this report's own refusal (422, 409): the others stand
            out.append(exc)
    return out


# One round trip writes the report, its routing decision, its case and the case's first event, finds the
# duplicate candidates (other open cases: the new one is not visible to its own statement) and returns every
# column the answer needs, so nothing is read back. The live map hears of it after the commit (see
# api/core/notify.py for why not inside the transaction). The heat roll-ups follow from
# the statement trigger on ``cases``. Nothing is written when the category is unknown (``category_ok`` false)
# or the report is a retry (``id`` null: the unique keys matched; the caller replays the first answer).
_INTAKE = f"""
WITH cat AS (SELECT code, time_limit_hours, time_limit_unit FROM category WHERE code = :category),
ins AS (
    INSERT INTO report (source, external_id, idempotency_key, category_code, description, raw_x, raw_y, raw_crs,
                        address_text, reporter_name, reporter_phone, photos, reported_at, location,
                        request_hash, crs_assumed, filed_by)
    SELECT :source, :external_id, :key, cat.code, :description, :x, :y, :crs, :address, :rname, :rphone,
           CAST(:photos AS jsonb), :reported_at,
           CASE WHEN CAST(:lon AS float8) IS NULL THEN NULL ELSE ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) END,
           :hash, :crs_assumed, :filed_by
    FROM cat
    ON CONFLICT DO NOTHING
    RETURNING *),
rt AS (
    INSERT INTO routing (report_id, layout_id, grid_code, method, distance_m, candidates, reason)
    SELECT id, :layout, :grid, :method, :distance, CAST(:candidates AS jsonb), :reason FROM ins
    RETURNING *),
who AS ({DUTY_WORKER_SQL.format(grid='CAST(:grid AS text)')}),
cs AS (
    INSERT INTO cases (report_id, layout_id, grid_code, category_code, status, deadline, created_at, updated_at,
                       assignee_id)
    SELECT ins.id, :layout, CAST(:grid AS text), cat.code, 'reported',
           gridmap_deadline(ins.reported_at, cat.time_limit_hours, cat.time_limit_unit), now(), now(),
           (SELECT id FROM who)
    FROM ins, cat
    RETURNING *),
ev AS (
    INSERT INTO case_event (case_id, actor, from_status, to_status, note, note_code, note_params)
    SELECT id, :actor, NULL, 'reported', :note, :note_code, CAST(:note_params AS jsonb) FROM cs),
me AS (
    SELECT 0::bigint AS id, cat.code AS category_code, ins.location, ins.reported_at
    FROM ins, cat WHERE ins.location IS NOT NULL),
dup AS ({duplicates.MATCH}),
dups AS (SELECT coalesce(array_agg(case_id ORDER BY distance_m, case_id), '{{}}') AS ids FROM dup)
SELECT EXISTS (SELECT 1 FROM cat) AS category_ok,
       ins.id, ins.source, ins.external_id, ins.category_code, ins.description, ins.address_text, ins.reported_at,
       ins.received_at, ST_X(ins.location) AS lon, ST_Y(ins.location) AS lat, ins.raw_x, ins.raw_y, ins.raw_crs,
       ins.crs_assumed, ins.photos, ins.reporter_name, ins.reporter_phone,
       rt.layout_id, rt.grid_code, g.name AS grid_name, rt.method, rt.distance_m, rt.candidates, rt.reason,
       cs.id AS case_id, cs.status, cs.deadline, (SELECT name FROM who) AS assignee,
       dups.ids AS duplicates
FROM (SELECT 1) one
LEFT JOIN ins ON true
LEFT JOIN rt ON true
LEFT JOIN cs ON true
LEFT JOIN dups ON ins.id IS NOT NULL
LEFT JOIN grid g ON g.layout_id = rt.layout_id AND g.code = rt.grid_code
"""
_INTAKE_SQL = text(_INTAKE)

#: The fields of :data:`_INTAKE_BATCH`'s json records (one per report) and their types.
_BATCH_TYPES = {
    "source": "text", "external_id": "text", "key": "text", "category": "text", "description": "text",
    "x": "float8", "y": "float8", "crs": "text", "rname": "text", "rphone": "text", "photos": "text",
    "reported_at": "timestamptz", "lon": "float8", "lat": "float8", "hash": "text", "crs_assumed": "text",
    "layout": "bigint", "grid": "text", "method": "text", "distance": "float8", "candidates": "text",
    "reason": "text", "actor": "text", "note": "text", "filed_by": "text", "note_code": "text", "note_params": "text",
}
_BATCH_COLUMNS = tuple(_BATCH_TYPES)
_BATCH_RECORD = ", ".join(f"{c} {t}" for c, t in _BATCH_TYPES.items())

# :data:`_INTAKE` for a whole batch of reports (without address) in one statement, one row out per report
# (``ord``, its place in the batch). Ids are drawn in batch order, and each report's duplicate candidates are
# the open cases already stored (as in _INTAKE) plus the batch's *earlier* new reports of the same category within
# the radius and window: exactly what the reports written one after the other would have found. Two reports of
# the batch with the same key: the first is written, ON CONFLICT skips the second (``id`` null: a retry, replayed
# by the caller, as it would have been one statement later). The heat roll-up trigger runs once, for all cases.
_INTAKE_BATCH = f"""
WITH u AS (
    SELECT * FROM json_to_recordset(CAST(:batch AS json)) AS u({_BATCH_RECORD}, ord bigint)),
src AS MATERIALIZED (
    SELECT o.*, CASE WHEN o.cat_code IS NOT NULL THEN nextval(pg_get_serial_sequence('report', 'id')) END AS rid,
           CASE WHEN o.cat_code IS NOT NULL THEN nextval(pg_get_serial_sequence('cases', 'id')) END AS cid
    FROM (SELECT u.*, c.code AS cat_code, c.time_limit_hours, c.time_limit_unit
          FROM u LEFT JOIN category c ON c.code = u.category ORDER BY u.ord OFFSET 0) o),
ins AS (
    INSERT INTO report (id, source, external_id, idempotency_key, category_code, description, raw_x, raw_y, raw_crs,
                        reporter_name, reporter_phone, photos, reported_at, location, request_hash, crs_assumed,
                        filed_by)
    SELECT rid, source, external_id, key, cat_code, description, x, y, crs, rname, rphone, CAST(photos AS jsonb),
           reported_at, CASE WHEN lon IS NULL THEN NULL ELSE ST_SetSRID(ST_MakePoint(lon, lat), 4326) END,
           hash, crs_assumed, filed_by
    FROM src WHERE rid IS NOT NULL ORDER BY ord
    ON CONFLICT DO NOTHING
    RETURNING *),
new AS MATERIALIZED (
    SELECT src.ord, src.cid, src.cat_code, src.time_limit_hours, src.time_limit_unit, src.layout, src.grid,
           src.method, src.distance,
           src.candidates, src.reason, src.actor, src.note, src.note_code, src.note_params, ins.id, ins.location,
           ins.reported_at
    FROM src JOIN ins ON ins.id = src.rid),
rt AS (
    INSERT INTO routing (report_id, layout_id, grid_code, method, distance_m, candidates, reason)
    SELECT id, layout, grid, method, distance, CAST(candidates AS jsonb), reason FROM new ORDER BY ord
    RETURNING *),
cs AS (
    INSERT INTO cases (id, report_id, layout_id, grid_code, category_code, status, deadline, created_at, updated_at,
                       assignee_id)
    SELECT new.cid, new.id, new.layout, new.grid, new.cat_code, 'reported',
           gridmap_deadline(new.reported_at, new.time_limit_hours, new.time_limit_unit), now(), now(), who.id
    FROM new LEFT JOIN LATERAL ({DUTY_WORKER_SQL.format(grid='new.grid')}) who ON true
    ORDER BY new.ord
    RETURNING *),
ev AS (
    INSERT INTO case_event (case_id, actor, from_status, to_status, note, note_code, note_params)
    SELECT cs.id, new.actor, NULL, 'reported', new.note, new.note_code, CAST(new.note_params AS jsonb)
    FROM cs JOIN new ON new.cid = cs.id ORDER BY new.ord),
dup_stored AS (
    SELECT new.ord, m.case_id, m.distance_m
    FROM new CROSS JOIN LATERAL (
        SELECT o.id AS case_id, ST_Distance(new.location::geography, ro.location::geography) AS distance_m
        FROM report ro
        JOIN cases o ON o.report_id = ro.id AND o.category_code = new.cat_code
          AND o.status IN ({OPEN_SQL})
        WHERE ro.location && ST_Expand(new.location, :radius * 1.01 / (111320.0 * cos(radians(ST_Y(new.location)))),
                                       :radius * 1.01 / 110540.0)
          -- the window as a filter, not an index condition: a batch's estimates led the planner to AND the
          -- location index with the reported_at one, reading every report of the last day for each row
          AND ro.reported_at - new.reported_at BETWEEN -make_interval(secs => :window_s)
                                                   AND make_interval(secs => :window_s)
          AND ST_DWithin(new.location::geography, ro.location::geography, :radius)
          AND NOT EXISTS (SELECT 1 FROM case_link l WHERE l.case_id = o.id)
        ORDER BY distance_m, o.id
        LIMIT 20) m
    WHERE new.location IS NOT NULL),
dup_batch AS (
    SELECT me.ord, e.cid AS case_id, ST_Distance(me.location::geography, e.location::geography) AS distance_m
    FROM new me JOIN new e ON e.ord < me.ord AND e.cat_code = me.cat_code
      AND e.reported_at BETWEEN me.reported_at - make_interval(secs => :window_s)
                            AND me.reported_at + make_interval(secs => :window_s)
      AND ST_DWithin(me.location::geography, e.location::geography, :radius)
    WHERE me.location IS NOT NULL AND e.location IS NOT NULL),
dups AS (
    SELECT ord, array_agg(case_id ORDER BY distance_m, case_id) AS ids
    FROM (SELECT d.*, row_number() OVER (PARTITION BY ord ORDER BY distance_m, case_id) AS n
          FROM (SELECT * FROM dup_stored UNION ALL SELECT * FROM dup_batch) d) d
    WHERE n <= 20
    GROUP BY ord)
SELECT src.ord, src.cat_code IS NOT NULL AS category_ok,
       ins.id, ins.source, ins.external_id, ins.category_code, ins.description, ins.address_text, ins.reported_at,
       ins.received_at, ST_X(ins.location) AS lon, ST_Y(ins.location) AS lat, ins.raw_x, ins.raw_y, ins.raw_crs,
       ins.crs_assumed, ins.photos, ins.reporter_name, ins.reporter_phone,
       rt.layout_id, rt.grid_code, g.name AS grid_name, rt.method, rt.distance_m, rt.candidates, rt.reason,
       cs.id AS case_id, cs.status, cs.deadline, p.name AS assignee,
       CASE WHEN ins.id IS NOT NULL THEN coalesce(dups.ids, '{{}}') END AS duplicates
FROM src
LEFT JOIN ins ON ins.id = src.rid
LEFT JOIN rt ON rt.report_id = ins.id
LEFT JOIN cs ON cs.report_id = ins.id
LEFT JOIN person p ON p.id = cs.assignee_id
LEFT JOIN dups ON dups.ord = src.ord
LEFT JOIN grid g ON g.layout_id = rt.layout_id AND g.code = rt.grid_code
"""
_INTAKE_BATCH_SQL = text(_INTAKE_BATCH)
_GENERIC_PLANS = text("SET LOCAL plan_cache_mode = force_generic_plan")


def _replay(session: Session, *, body: ReportIn, idempotency_key: str | None, digest: str,
            principal: Principal) -> ReportOut:
    row = session.execute(text("""
        SELECT r.id, r.request_hash, r.idempotency_key, r.filed_by, rt.grid_code FROM report r
        LEFT JOIN LATERAL (SELECT grid_code FROM routing x WHERE x.report_id = r.id ORDER BY x.id DESC LIMIT 1) rt
            ON true
        WHERE source = :s AND (idempotency_key = :k OR (CAST(:e AS text) IS NOT NULL AND external_id = :e))
        ORDER BY (idempotency_key = :k) DESC NULLS LAST LIMIT 1"""),
        {"s": body.source, "k": idempotency_key, "e": body.external_id}).first()
    if row is None:  # pragma: no cover - a conflict means one of the unique keys matched
        raise Conflict("the report conflicts with another one")
    if not sees(principal, grid_code=row.grid_code, filer=row.filed_by):
        # Another sender's report under the same source and key (issue 17, defect 1): refused without a word of
        # it (not its id, not its content), where it used to be answered with that report.
        raise Conflict("the Idempotency-Key or external_id was already used by another sender of this source")
    if row.request_hash is not None and row.request_hash != digest:
        what = "Idempotency-Key" if idempotency_key and row.idempotency_key == idempotency_key else "external_id"
        raise IdempotencyConflict(
            f"{what} was already used for report {row.id} with a different request", report_id=row.id, field=what)
    # The first answer again, to a retry by whoever may read it: the unique keys (source + key or external id) matched.
    out = report_out(session, report_id=row.id, unmask=can(principal.role, Can.SEE_CALLER))
    out.replayed = True
    return out


REPORT_SELECT = """
    SELECT r.id, r.source, r.external_id, r.category_code, r.description, r.address_text, r.reported_at,
           r.received_at, ST_X(r.location) AS lon, ST_Y(r.location) AS lat, r.raw_x, r.raw_y, r.raw_crs,
           r.crs_assumed, r.photos, r.reporter_name, r.reporter_phone,
           rt.layout_id, rt.grid_code, g.name AS grid_name, rt.method, rt.distance_m, rt.candidates, rt.reason,
           k.id AS case_id, k.status, k.deadline, p.name AS assignee
    FROM report r
    LEFT JOIN LATERAL (SELECT * FROM routing x WHERE x.report_id = r.id ORDER BY x.id DESC LIMIT 1) rt ON true
    LEFT JOIN grid g ON g.layout_id = rt.layout_id AND g.code = rt.grid_code
    LEFT JOIN LATERAL (SELECT * FROM cases c WHERE c.report_id = r.id ORDER BY c.id LIMIT 1) k ON true
    LEFT JOIN person p ON p.id = k.assignee_id
"""


def _to_out(r: Any, *, unmask: bool) -> ReportOut:
    reporter = None
    if r.reporter_name or r.reporter_phone:
        name = r.reporter_name
        if not unmask and name:
            name = name[0] + "*" * max(1, len(name) - 1)
        reporter = Reporter(name=name, phone=r.reporter_phone if unmask else mask_phone(r.reporter_phone))
    return ReportOut(
        id=r.id, source=r.source, external_id=r.external_id, category=r.category_code, description=r.description,
        address=r.address_text, reported_at=r.reported_at, received_at=r.received_at,
        point=Point(lon=r.lon, lat=r.lat) if r.lon is not None else None,
        input={"x": r.raw_x, "y": r.raw_y, "crs": r.raw_crs} if r.raw_x is not None else None,
        crs_assumed=r.crs_assumed, photos=list(r.photos or []), reporter=reporter,
        routing=RoutingOut(layout_id=r.layout_id, grid_code=r.grid_code, grid_name=r.grid_name, method=r.method,
                           distance_m=r.distance_m, candidates=list(r.candidates or []), reason=r.reason)
        if r.method else None,
        case=CaseRef(id=r.case_id, status=r.status, deadline=r.deadline, assignee=r.assignee) if r.case_id else None,
    )


def get_report(session: Session, *, report_id: int, principal: Principal) -> ReportOut:
    """One report, if ``principal`` may read it (api/auth/roles.py row_scope); otherwise 404, as if absent."""
    scope, params = _scope(principal)
    row = session.execute(text(REPORT_SELECT + f" WHERE r.id = :id AND {scope}"), {**params, "id": report_id}).first()
    if row is None:
        raise NotFound(f"no report with id {report_id}")
    return _to_out(row, unmask=can(principal.role, Can.SEE_CALLER))


def report_out(session: Session, *, report_id: int, unmask: bool) -> ReportOut:
    """One report for a caller already known to be entitled to it (the wall's case detail, a retry's replay)."""
    return _to_out(session.execute(text(REPORT_SELECT + " WHERE r.id = :id"), {"id": report_id}).one(),
                   unmask=unmask)


def _scope(principal: Principal) -> tuple[str, dict[str, object]]:
    return row_scope(principal, grid="rt.grid_code", filer="r.filed_by")


def list_reports(
    session: Session,
    *,
    source: str | None,
    category: str | None,
    grid: str | None,
    status: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    offset: int,
    principal: Principal,
) -> tuple[list[ReportOut], int]:
    scope, scope_params = _scope(principal)
    where = f"""WHERE (CAST(:source AS text) IS NULL OR r.source = :source)
               AND (CAST(:category AS text) IS NULL OR r.category_code = :category)
               AND (CAST(:grid AS text) IS NULL OR rt.grid_code = :grid)
               AND (CAST(:status AS text) IS NULL OR k.status = :status)
               AND (CAST(:since AS timestamptz) IS NULL OR r.reported_at >= :since)
               AND (CAST(:until AS timestamptz) IS NULL OR r.reported_at < :until)
               AND {scope}"""
    params = {"source": source, "category": category, "grid": grid, "status": status, "since": since,
              "until": until, **scope_params}
    total = session.execute(text(f"SELECT count(*) FROM ({REPORT_SELECT} {where}) t"), params).scalar_one()
    rows = session.execute(text(f"{REPORT_SELECT} {where} ORDER BY r.reported_at DESC, r.id DESC "
                                "LIMIT :limit OFFSET :offset"), {**params, "limit": limit, "offset": offset}).all()
    unmask = can(principal.role, Can.SEE_CALLER)
    return [_to_out(r, unmask=unmask) for r in rows], total


@lru_cache(maxsize=4096)
def initials(name: str) -> str:
    """Pinyin initials of a Chinese name (垃圾堆放 → ljdf): operators type them to find a category fast."""
    from pypinyin import Style, lazy_pinyin

    return "".join(p[:1] for p in lazy_pinyin(name, style=Style.FIRST_LETTER) if p and p[0].isalnum()).lower()
