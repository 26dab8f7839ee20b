"""Cases: reads scoped to the caller, transitions through the one table in workflow.py, assignment and
notes (the follow-up: followup.py). Every change writes a ``case_event`` (who, when, from, to, note, attachments).

Scope: a ``worker`` principal sees and acts on cases of its own grids only (``Principal.grid_codes``: the
grid of the person it acts for plus any extra grids on its user); a case outside them is a 404, as if it
did not exist; an operator sees the cases of the reports it filed (api/auth/roles.py row_scope). Personal data:
reporters' names and phones in full to the roles with ``Can.SEE_CALLER`` (admin, dispatcher, operator: they
call residents back), staff phones to ``Can.SEE_STAFF_PHONE``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from api.auth.roles import Can, can, filer_scope, grid_scope, row_scope, sees
from api.auth.service import Principal
from api.cases import notes, workflow
from api.cases.schemas import CaseDetail, CaseEventOut, CaseOut, Staff, TransitionIn
from api.core.errors import Conflict, Forbidden, InvalidParameter, NotFound, ValidationFailed
from api.media.schemas import PhotoRef
from api.media.service import resolve_refs
from api.people.service import mask_name, mask_phone
from api.reports.schemas import Point, Reporter
from geo import crs

STAFF_ROLES = ("grid_worker", "grid_leader")
#: A case (alias ``c``) is overdue: open and past its deadline. The one SQL form of the rule (lists, /ogc).
OVERDUE_SQL = f"(c.status IN ({workflow.OPEN_SQL}) AND c.deadline IS NOT NULL AND c.deadline < now())"

CASE_SELECT = f"""
    SELECT c.id, c.report_id, c.status, c.category_code, cat.name AS category_name, cat.name_en AS category_name_en,
           cat.time_limit_hours, cat.after_photo_required, c.grid_code, g.name AS grid_name,
           g.name_en AS grid_name_en, c.layout_id,
           c.assignee_id, p.name AS assignee_name,
           p.role AS assignee_role, p.phone AS assignee_phone, c.department_code, c.deadline,
           {OVERDUE_SQL} AS overdue,
           c.created_at, c.updated_at, c.closed_at, c.rating, c.suspended_at, c.satisfaction, c.followup_resolved,
           c.followup_channel, c.followed_up_at, c.reopen_count,
           ST_X(r.location) AS lon, ST_Y(r.location) AS lat, r.address_text, r.description, r.source,
           r.reported_at, r.reporter_name, r.reporter_phone, r.photos, r.filed_by, l.into_case_id AS merged_into
    FROM cases c
    JOIN report r ON r.id = c.report_id
    LEFT JOIN category cat ON cat.code = c.category_code
    LEFT JOIN grid g ON g.layout_id = c.layout_id AND g.code = c.grid_code
    LEFT JOIN person p ON p.id = c.assignee_id
    LEFT JOIN case_link l ON l.case_id = c.id
"""


class CaseNotClosed(Conflict):
    code, title = "case_not_closed", "The case is not closed"


class CaseFinal(Conflict):
    code, title = "case_final", "The case is closed or rejected"


class CaseSuspended(Conflict):
    code, title = "case_suspended", "The case is suspended (挂起)"


class AfterPhotoRequired(ValidationFailed):
    code, title = "after_photo_required", "This category is resolved only with an after photo"


def scope_sql(principal: Principal, alias: str = "c") -> tuple[str, dict[str, Any]]:
    """A WHERE fragment limiting cases to what the principal may see."""
    return row_scope(principal, grid=f"{alias}.grid_code",
                     filer=f"(SELECT filed_by FROM report WHERE id = {alias}.report_id)")


_WHERE_SCOPED = " among the cases you may see"


def _scoped(principal: Principal) -> bool:
    return grid_scope(principal) is not None or filer_scope(principal) is not None


def in_scope(principal: Principal, grid_code: str | None, filer: str | None) -> bool:
    return sees(principal, grid_code=grid_code, filer=filer)


def _to_out(r: Any, principal: Principal, distance: float | None = None) -> CaseOut:
    unmask_rep = can(principal.role, Can.SEE_CALLER)
    reporter = None
    if r.reporter_name or r.reporter_phone:
        reporter = Reporter(name=r.reporter_name if unmask_rep else mask_name(r.reporter_name),
                            phone=r.reporter_phone if unmask_rep else mask_phone(r.reporter_phone))
    assignee = None
    unmask_staff = can(principal.role, Can.SEE_STAFF_PHONE)
    acts = in_scope(principal, r.grid_code, r.filed_by)
    if r.assignee_id is not None:
        assignee = Staff(id=r.assignee_id, name=r.assignee_name, role=r.assignee_role,
                         phone=r.assignee_phone if unmask_staff else mask_phone(r.assignee_phone))
    return CaseOut(
        id=r.id, report_id=r.report_id, status=r.status, category=r.category_code, category_name=r.category_name,
        category_name_en=r.category_name_en, grid_name_en=r.grid_name_en, time_limit_hours=r.time_limit_hours,
        after_photo_required=bool(r.after_photo_required),
        grid_code=r.grid_code, grid_name=r.grid_name, assignee=assignee,
        department_code=r.department_code, deadline=r.deadline, overdue=bool(r.overdue), created_at=r.created_at,
        updated_at=r.updated_at, closed_at=r.closed_at, rating=r.rating, suspended_at=r.suspended_at,
        satisfaction=r.satisfaction, followup_resolved=r.followup_resolved, followup_channel=r.followup_channel,
        followed_up_at=r.followed_up_at, reopen_count=r.reopen_count,
        point=Point(lon=r.lon, lat=r.lat) if r.lon is not None else None, address=r.address_text,
        description=r.description, source=r.source, reported_at=r.reported_at, reporter=reporter,
        photos=list(r.photos or []), merged_into=r.merged_into,
        distance_m=None if distance is None else round(float(distance), 1),
        next=workflow.next_statuses(r.status, principal.role) if acts else [],
        actions=workflow.actions(r.status, principal.role) if acts else [],
    )


def get_case(session: Session, *, case_id: int, principal: Principal, with_events: bool = False) -> CaseOut:
    row = session.execute(text(CASE_SELECT + " WHERE c.id = :id"), {"id": case_id}).first()
    if row is None or not in_scope(principal, row.grid_code, row.filed_by):
        raise NotFound(f"no case with id {case_id}" + (_WHERE_SCOPED if _scoped(principal) else ""))
    out = _to_out(row, principal)
    if with_events:
        boundary = session.execute(text("""
            SELECT ST_AsGeoJSON(g.boundary, 6)::json FROM cases c
            JOIN grid g ON g.layout_id = c.layout_id AND g.code = c.grid_code WHERE c.id = :id"""),
            {"id": case_id}).scalar()
        return CaseDetail(**out.model_dump(), events=list_events(session, case_id=case_id), grid_boundary=boundary,
                          navigation=navigation(out.point))
    return out


def navigation(point: Point | None) -> dict[str, Point] | None:
    """The case's point for navigation apps, each in the datum it expects: Amap (高德) GCJ-02, Baidu BD-09, a
    plain ``geo:`` URI (RFC 5870) WGS84. Converted here, with geo/crs.py, so the page holds no second copy."""
    if point is None:
        return None
    lon, lat = np.array([point.lon]), np.array([point.lat])
    gx, gy = crs.wgs84_to_gcj02(lon, lat)
    bx, by = crs.wgs84_to_bd09(lon, lat)
    return {"wgs84": point, "gcj02": Point(lon=round(float(gx[0]), 7), lat=round(float(gy[0]), 7)),
            "bd09": Point(lon=round(float(bx[0]), 7), lat=round(float(by[0]), 7))}


def list_events(session: Session, *, case_id: int) -> list[CaseEventOut]:
    rows = session.execute(text("""
        SELECT e.id, e.at, e.actor, e.kind, e.from_status, e.to_status, e.note, e.note_code, e.note_params,
               e.attachments, e.data,
               coalesce(p.name, u.display_name, u.username) AS actor_name, u.role AS actor_role
        FROM case_event e
        LEFT JOIN app_user u ON starts_with(e.actor, 'user:') AND u.username = substr(e.actor, 6)
        LEFT JOIN person p ON p.id = u.person_id
        WHERE e.case_id = :c ORDER BY e.at, e.id"""), {"c": case_id}).all()
    return [CaseEventOut(id=r.id, at=r.at, actor=r.actor, actor_name=r.actor_name, actor_role=r.actor_role,
                         kind=r.kind, from_status=r.from_status,
                         to_status=r.to_status, note=r.note, note_code=r.note_code, note_params=r.note_params,
                         attachments=list(r.attachments or []), data=r.data)
            for r in rows]


def parse_near(raw: str | None) -> tuple[float, float] | None:
    if not raw:
        return None
    parts = raw.split(",")
    try:
        lon, lat = (float(p) for p in parts)
    except ValueError:
        raise InvalidParameter("near must be lon,lat in WGS84 degrees", field="near") from None
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidParameter("near is outside longitude [-180, 180] / latitude [-90, 90]", field="near")
    return lon, lat


def parse_statuses(raw: str | None) -> list[str] | None:
    if not raw:
        return None
    out: list[str] = []
    for s in raw.split(","):
        s = s.strip()
        if s == "open":
            out.extend(workflow.OPEN_STATUSES)
        elif s in workflow.STATUSES:
            out.append(s)
        else:
            raise InvalidParameter(f"unknown status {s!r}; use {', '.join(workflow.STATUSES)} or open",
                                   field="status")
    return out


def list_cases(
    session: Session,
    *,
    principal: Principal,
    statuses: list[str] | None = None,
    grid: str | None = None,
    area: str | None = None,
    category: str | None = None,
    overdue: bool | None = None,
    mine: bool = False,
    near: tuple[float, float] | None = None,
    source: str | None = None,
    q: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[CaseOut], int]:
    """Cases the principal may see, filtered; nearest first with ``near``, else earliest deadline first.

    ``area`` is a street (9 digits) or community (12 digits) code: grid codes start with both."""
    scope, params = scope_sql(principal)
    if mine and principal.person_id is None:
        raise InvalidParameter("mine=true needs a logged-in worker (a person); this principal has none",
                               field="mine")
    where = f"""WHERE {scope}
        AND (CAST(:statuses AS text[]) IS NULL OR c.status = ANY(CAST(:statuses AS text[])))
        AND (CAST(:grid AS text) IS NULL OR c.grid_code = :grid)
        AND (CAST(:area AS text) IS NULL OR starts_with(c.grid_code, :area))
        AND (CAST(:category AS text) IS NULL OR c.category_code = :category)
        AND (CAST(:overdue AS boolean) IS NULL OR {OVERDUE_SQL} = :overdue)
        AND (NOT :mine OR c.assignee_id = :person)
        AND (CAST(:source AS text) IS NULL
             OR EXISTS (SELECT 1 FROM report rs WHERE rs.id = c.report_id AND rs.source = :source))
        AND (CAST(:q AS text) IS NULL OR CAST(c.id AS text) = :q
             OR EXISTS (SELECT 1 FROM report rq WHERE rq.id = c.report_id
                        AND strpos(coalesce(rq.description, '') || ' ' || coalesce(rq.address_text, ''), :q) > 0))"""
    params.update({"statuses": statuses, "grid": grid, "area": area, "category": category, "overdue": overdue,
                   "mine": mine, "person": principal.person_id, "source": source, "q": q or None})
    total = session.execute(text(f"SELECT count(*) FROM cases c {where}"), params).scalar_one()
    if near is not None:
        dist = "ST_Distance(r.location::geography, ST_SetSRID(ST_MakePoint(:nlon, :nlat), 4326)::geography)"
        order = "r.location <-> ST_SetSRID(ST_MakePoint(:nlon, :nlat), 4326) NULLS LAST, c.id"
        params.update({"nlon": near[0], "nlat": near[1]})
    else:
        dist, order = "NULL::float8", "c.deadline NULLS LAST, c.id"
    sql = (CASE_SELECT.replace("SELECT c.id,", f"SELECT {dist} AS distance_m, c.id,", 1)
           + f" {where} ORDER BY {order} LIMIT :limit OFFSET :offset")
    rows = session.execute(text(sql), {**params, "limit": limit, "offset": offset}).all()
    return [_to_out(r, principal, r.distance_m) for r in rows], total


def _lock(session: Session, *, case_id: int, principal: Principal) -> Any:
    row = session.execute(text("""SELECT id, status, grid_code, category_code, assignee_id, report_id, suspended_at,
                                         (SELECT filed_by FROM report WHERE id = cases.report_id) AS filed_by
                                  FROM cases WHERE id = :id FOR UPDATE"""), {"id": case_id}).first()
    if row is None or not in_scope(principal, row.grid_code, row.filed_by):
        raise NotFound(f"no case with id {case_id}" + (_WHERE_SCOPED if _scoped(principal) else ""))
    return row


def record_event(session: Session, *, case_id: int, actor: str, from_status: str | None, to_status: str,
                 note: str | None = None, attachments: list[str] | None = None, kind: str = "transition",
                 data: dict | None = None, note_code: str | None = None, note_params: dict | None = None) -> None:
    """Append one event; a note gridmap writes itself comes with its code (api/cases/notes.py)."""
    session.execute(text("""
        INSERT INTO case_event (case_id, actor, from_status, to_status, note, attachments, kind, data, note_code,
                                note_params)
        VALUES (:c, :a, :f, :t, :n, CAST(:att AS jsonb), :k, CAST(:d AS jsonb), :nc, CAST(:np AS jsonb))"""),
        {"c": case_id, "a": actor, "f": from_status, "t": to_status, "n": note,
         "nc": note_code, "np": notes.params_json(note_params),
         "att": orjson.dumps(attachments or []).decode(), "k": kind,
         "d": None if data is None else orjson.dumps(data).decode()})


def _check_staff(session: Session, *, person_id: int, grid_code: str | None) -> Any:
    person = session.execute(text("SELECT id, name, role, grid_code FROM person WHERE id = :i AND active"),
                             {"i": person_id}).first()
    if person is None:
        raise InvalidParameter(f"no active person with id {person_id}", field="person_id")
    if person.role not in STAFF_ROLES or person.grid_code != grid_code:
        raise InvalidParameter(f"person {person_id} is not a grid worker or leader of grid {grid_code}",
                               field="person_id")
    return person


def apply_transition(session: Session, *, case: Any, principal: Principal, to: str, note: str | None,
                     attachments: list[str] | None = None, set_sql: str = "", params: dict | None = None,
                     data: dict | None = None, via_ok: bool = False, note_code: str | None = None,
                     note_params: dict | None = None) -> None:
    """Move a locked case to ``to`` if the table allows it for the principal; write the event.

    Every status change in gridmap goes through here (the transitions endpoint, whistles, merges)."""
    rule = workflow.check(case.status, to, principal.role)
    if case.suspended_at is not None:
        raise CaseSuspended(f"case {case.id} is suspended since {case.suspended_at:%Y-%m-%d %H:%M}: resume it first")
    if rule.via and not via_ok:
        raise InvalidParameter(f"to {rule.action} a case use {rule.via}", field="to")
    session.execute(text(f"""
        UPDATE cases SET status = CAST(:to AS text), updated_at = now(),
                         closed_at = CASE WHEN CAST(:to AS text) = 'closed' THEN now() ELSE NULL END {set_sql}
        WHERE id = :id"""), {"to": to, "id": case.id, **(params or {})})
    record_event(session, case_id=case.id, actor=principal.actor, from_status=case.status, to_status=to, note=note,
                 attachments=attachments, data=data, note_code=note_code, note_params=note_params)


def transition(session: Session, *, case_id: int, principal: Principal, body: TransitionIn) -> CaseOut:
    case = _lock(session, case_id=case_id, principal=principal)
    set_sql, params, data = "", {}, {}
    if (body.department_code or body.assignee_id) and body.to != "dispatched":
        raise InvalidParameter("department_code and assignee_id go with to=dispatched only", field="to")
    if body.to == "dispatched":
        if body.department_code is not None:
            if session.execute(text("SELECT 1 FROM department WHERE code = :c"),
                               {"c": body.department_code}).scalar() is None:
                raise InvalidParameter(f"unknown department {body.department_code!r}", field="department_code")
            set_sql += ", department_code = :dept"
            params["dept"] = data["department_code"] = body.department_code
        if body.assignee_id is not None:
            _check_staff(session, person_id=body.assignee_id, grid_code=case.grid_code)
            set_sql += ", assignee_id = :assignee"
            params["assignee"] = data["assignee_id"] = body.assignee_id
    elif body.to in ("verified", "returned") and principal.role == "worker" and _resolved_by(session, case_id) \
            == principal.actor:
        raise Forbidden("a case is verified by someone other than the worker who resolved it")
    elif body.to == "in_progress" and principal.role == "worker" and principal.person_id is not None:
        set_sql += ", assignee_id = :assignee"  # the worker who accepts a case handles it
        params["assignee"] = principal.person_id
    attachments = resolve_refs(session, principal=principal, refs=body.attachments, field="attachments")
    if body.to == "resolved" and not attachments and _after_photo_required(session, case.category_code):
        raise AfterPhotoRequired(f"a case of category {case.category_code} is resolved with an after photo "
                                 "(处置后照片): upload it to POST /api/v1/media and send its id in attachments",
                                 field="attachments")
    apply_transition(session, case=case, principal=principal, to=body.to, note=body.note,
                     attachments=attachments, set_sql=set_sql, params=params, data=data or None)
    return get_case(session, case_id=case_id, principal=principal)


def _after_photo_required(session: Session, category: str | None) -> bool:
    return bool(category) and bool(session.execute(
        text("SELECT after_photo_required FROM category WHERE code = :c"), {"c": category}).scalar())


def _resolved_by(session: Session, case_id: int) -> str | None:
    return session.execute(text("""SELECT actor FROM case_event WHERE case_id = :c AND to_status = 'resolved'
                                   AND kind = 'transition' ORDER BY at DESC, id DESC LIMIT 1"""),
                           {"c": case_id}).scalar()


def assign(session: Session, *, case_id: int, principal: Principal, person_id: int, note: str | None) -> CaseOut:
    """Reassign within the case's grid: the command centre, or the grid leader of that grid."""
    if principal.role == "worker" and principal.person_role != "grid_leader":
        raise Forbidden("only the grid leader (or the command centre) reassigns a case")
    if not can(principal.role, Can.ACT_ON_CASES):
        raise Forbidden("only the grid leader (or the command centre) reassigns a case")
    case = _lock(session, case_id=case_id, principal=principal)
    if case.status in workflow.TERMINAL:
        raise CaseFinal(f"case {case_id} is {case.status}; it can no longer be reassigned")
    person = _check_staff(session, person_id=person_id, grid_code=case.grid_code)
    session.execute(text("UPDATE cases SET assignee_id = :p, updated_at = now() WHERE id = :id"),
                    {"p": person_id, "id": case_id})
    record_event(session, case_id=case_id, actor=principal.actor, from_status=case.status, to_status=case.status,
                 **notes.written(note, "reassigned", name=person.name), kind="assign",
                 data={"from_person": case.assignee_id, "to_person": person_id})
    return get_case(session, case_id=case_id, principal=principal)


def add_note(session: Session, *, case_id: int, principal: Principal, note: str,
             attachments: Sequence[PhotoRef]) -> CaseOut:
    """A progress update (note and photos) without a status change."""
    case = _lock(session, case_id=case_id, principal=principal)
    if case.status in workflow.TERMINAL:
        raise CaseFinal(f"case {case_id} is {case.status}")
    attachments = resolve_refs(session, principal=principal, refs=attachments, field="attachments")
    record_event(session, case_id=case_id, actor=principal.actor, from_status=case.status, to_status=case.status,
                 note=note, attachments=attachments, kind="note")
    return get_case(session, case_id=case_id, principal=principal)


def departments(session: Session) -> list[Any]:
    from api.cases.models import Department

    return list(session.scalars(select(Department).order_by(Department.code)))
