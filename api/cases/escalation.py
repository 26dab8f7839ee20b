"""Whistles (吹哨报到): escalation of a case to targets that must acknowledge in time and report back.

* ``street`` (街道吹哨、部门报到): the street's command centre summons one or more departments.
* ``community`` (社区吹哨、党员报到): the grid leader (or the command centre) summons the party members
  and volunteers registered to the case's grid (by default all active ones; or a chosen few).

Raising a whistle moves the case to ``escalated`` through the transition table (a second whistle on an
escalated case only adds targets). Every target must acknowledge before ``due_at`` (raised_at +
``ack_minutes``, default ``GRIDMAP_WHISTLE_ACK_MINUTES`` = 30); a target still unacknowledged after it is an
*alert*. The whistle, each acknowledgement and each report-back are case events.

Who acknowledges: for a department, a dispatcher (or admin); a department user (a dispatcher user with a
``department_code``) only for its own department. For a person, the worker user acting for that person,
or the command centre on their behalf (they called in).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from api.auth.roles import Can, can
from api.auth.service import Principal
from api.cases import notes, service
from api.cases.schemas import AlertOut, TargetOut, WhistleIn, WhistleOut
from api.core.errors import Conflict, Forbidden, InvalidParameter, NotFound
from api.media.schemas import PhotoRef
from api.media.service import resolve_refs

SUMMONED_ROLES = ("party_member", "volunteer")


class AlreadyAcknowledged(Conflict):
    code, title = "already_acknowledged", "Already acknowledged"


class NotAcknowledged(Conflict):
    code, title = "not_acknowledged", "Acknowledge before reporting back"


def raise_whistle(session: Session, *, case_id: int, principal: Principal, body: WhistleIn,
                  default_ack_minutes: int) -> WhistleOut:
    if body.level == "street":
        if not can(principal.role, Can.DISPATCH):
            raise Forbidden("the street whistle (街道吹哨) is blown by the command centre")
        if not body.departments or body.people:
            raise InvalidParameter("a street whistle summons departments: send departments, not people",
                                   field="departments")
    else:
        if principal.role == "worker" and principal.person_role != "grid_leader":
            raise Forbidden("the community whistle (社区吹哨) is blown by the grid leader or the command centre")
        if not can(principal.role, Can.ACT_ON_CASES):
            raise Forbidden("the community whistle is blown by the grid leader or the command centre")
        if body.departments:
            raise InvalidParameter("a community whistle summons people: send people, not departments",
                                   field="people")
    case = service._lock(session, case_id=case_id, principal=principal)
    departments = list(dict.fromkeys(body.departments))
    people = list(dict.fromkeys(body.people))
    if body.level == "street":
        known = set(session.execute(text("SELECT code FROM department WHERE code = ANY(CAST(:c AS text[]))"),
                                    {"c": departments}).scalars())
        if missing := [d for d in departments if d not in known]:
            raise InvalidParameter(f"unknown departments: {', '.join(missing)}", field="departments")
    else:
        registered = dict(session.execute(text("""
            SELECT id, name FROM person WHERE grid_code = :g AND active AND role = ANY(CAST(:r AS text[]))"""),
            {"g": case.grid_code, "r": list(SUMMONED_ROLES)}).all())
        if people:
            if missing := [p for p in people if p not in registered]:
                raise InvalidParameter(
                    f"not party members or volunteers registered to grid {case.grid_code}: "
                    + ", ".join(map(str, missing)), field="people")
        else:
            people = sorted(registered)
        if not people:
            raise InvalidParameter(f"no party members or volunteers are registered to grid {case.grid_code}",
                                   field="people")
    minutes = body.ack_minutes or default_ack_minutes
    if case.status != "escalated":
        service.apply_transition(session, case=case, principal=principal, to="escalated", note=body.note,
                                 data={"level": body.level}, via_ok=True)
    whistle_id = session.execute(text("""
        INSERT INTO whistle (case_id, level, raised_by, raised_at, due_at, note)
        VALUES (:c, :l, :by, now(), now() + make_interval(mins => :m), :n) RETURNING id"""),
        {"c": case_id, "l": body.level, "by": principal.actor, "m": minutes, "n": body.note}).scalar_one()
    for d in departments:
        session.execute(text("INSERT INTO whistle_target (whistle_id, department_code) VALUES (:w, :d)"),
                        {"w": whistle_id, "d": d})
    for p in people:
        session.execute(text("INSERT INTO whistle_target (whistle_id, person_id) VALUES (:w, :p)"),
                        {"w": whistle_id, "p": p})
    service.record_event(session, case_id=case_id, actor=principal.actor, from_status="escalated",
                         to_status="escalated", note=body.note, kind="whistle",
                         data={"whistle_id": whistle_id, "level": body.level, "departments": departments,
                               "people": people, "ack_minutes": minutes})
    return get_whistle(session, whistle_id=whistle_id)


_TARGETS = """
    SELECT t.id, t.whistle_id, t.department_code, d.name AS department_name, t.person_id, p.name AS person_name,
           t.acknowledged_at, t.acknowledged_by, t.reported_at, t.report_note,
           (COALESCE(t.acknowledged_at, now()) > w.due_at) AS late
    FROM whistle_target t JOIN whistle w ON w.id = t.whistle_id
    LEFT JOIN department d ON d.code = t.department_code
    LEFT JOIN person p ON p.id = t.person_id
"""


def _whistles(session: Session, where: str, params: dict[str, Any]) -> list[WhistleOut]:
    ws = session.execute(text(f"SELECT * FROM whistle w WHERE {where} ORDER BY w.raised_at, w.id"), params).all()
    if not ws:
        return []
    targets: dict[int, list[TargetOut]] = {}
    for t in session.execute(text(_TARGETS + " WHERE t.whistle_id = ANY(:ids) ORDER BY t.id"),
                             {"ids": [w.id for w in ws]}).all():
        targets.setdefault(t.whistle_id, []).append(TargetOut(
            id=t.id, department_code=t.department_code, department_name=t.department_name, person_id=t.person_id,
            person_name=t.person_name, acknowledged_at=t.acknowledged_at, acknowledged_by=t.acknowledged_by,
            reported_at=t.reported_at, report_note=t.report_note, late=bool(t.late)))
    return [WhistleOut(id=w.id, case_id=w.case_id, level=w.level, raised_by=w.raised_by, raised_at=w.raised_at,
                       due_at=w.due_at, note=w.note, targets=targets.get(w.id, [])) for w in ws]


def get_whistle(session: Session, *, whistle_id: int) -> WhistleOut:
    found = _whistles(session, "w.id = :id", {"id": whistle_id})
    if not found:
        raise NotFound(f"no whistle with id {whistle_id}")
    return found[0]


def case_whistles(session: Session, *, case_id: int, principal: Principal) -> list[WhistleOut]:
    service.get_case(session, case_id=case_id, principal=principal)  # 404 outside the caller's scope
    return _whistles(session, "w.case_id = :c", {"c": case_id})


def _target_for_update(session: Session, *, target_id: int, principal: Principal) -> Any:
    t = session.execute(text("""
        SELECT t.*, w.case_id, w.due_at, w.level, c.grid_code, c.status AS case_status
        FROM whistle_target t JOIN whistle w ON w.id = t.whistle_id JOIN cases c ON c.id = w.case_id
        WHERE t.id = :id FOR UPDATE OF t"""), {"id": target_id}).first()
    if t is None:
        raise NotFound(f"no whistle target with id {target_id}")
    if t.department_code is not None:
        if not can(principal.role, Can.DISPATCH):
            raise Forbidden("a department's summons is acknowledged by that department (a dispatcher user)")
        if principal.department_code is not None and principal.department_code != t.department_code:
            raise Forbidden(f"you answer for department {principal.department_code}, not {t.department_code}")
    elif principal.role == "worker":
        if principal.person_id != t.person_id:
            raise Forbidden("only the summoned person (or the command centre) acknowledges this summons")
    elif not can(principal.role, Can.DISPATCH):
        raise Forbidden("only the summoned person (or the command centre) acknowledges this summons")
    return t


def _who(t: Any) -> str:
    return f"department {t.department_code}" if t.department_code else f"person {t.person_id}"


def acknowledge(session: Session, *, target_id: int, principal: Principal, note: str | None) -> WhistleOut:
    t = _target_for_update(session, target_id=target_id, principal=principal)
    if t.acknowledged_at is not None:
        raise AlreadyAcknowledged(f"{_who(t)} acknowledged at {t.acknowledged_at.isoformat()}")
    now = session.execute(text("""UPDATE whistle_target SET acknowledged_at = now(), acknowledged_by = :by
                                  WHERE id = :id RETURNING acknowledged_at"""),
                          {"by": principal.actor, "id": target_id}).scalar_one()
    late = now > t.due_at
    service.record_event(session, case_id=t.case_id, actor=principal.actor, from_status=t.case_status,
                         to_status=t.case_status, **notes.written(note, "reported_back", department=t.department_code,
                                                                  person=t.person_id, late=late), kind="acknowledge",
                         data={"whistle_id": t.whistle_id, "target_id": target_id,
                               "department_code": t.department_code, "person_id": t.person_id, "late": late})
    return get_whistle(session, whistle_id=t.whistle_id)


def report_back(session: Session, *, target_id: int, principal: Principal, note: str,
                attachments: Sequence[PhotoRef]) -> WhistleOut:
    t = _target_for_update(session, target_id=target_id, principal=principal)
    attachments = resolve_refs(session, principal=principal, refs=attachments, field="attachments")
    if t.acknowledged_at is None:
        raise NotAcknowledged(f"{_who(t)} has not acknowledged the whistle yet")
    session.execute(text("UPDATE whistle_target SET reported_at = now(), report_note = :n WHERE id = :id"),
                    {"n": note, "id": target_id})
    service.record_event(session, case_id=t.case_id, actor=principal.actor, from_status=t.case_status,
                         to_status=t.case_status, note=note, attachments=attachments, kind="report_back",
                         data={"whistle_id": t.whistle_id, "target_id": target_id,
                               "department_code": t.department_code, "person_id": t.person_id})
    return get_whistle(session, whistle_id=t.whistle_id)


def alerts(session: Session, *, principal: Principal, now: datetime | None = None) -> list[AlertOut]:
    """Targets that have not acknowledged by their due time, most overdue first."""
    scope, params = service.scope_sql(principal)
    rows = session.execute(text(f"""
        SELECT t.id AS target_id, w.id AS whistle_id, w.case_id, c.grid_code, w.level, t.department_code,
               d.name AS department_name, t.person_id, p.name AS person_name, w.raised_at, w.due_at,
               EXTRACT(EPOCH FROM (CAST(:now AS timestamptz) - w.due_at)) / 60.0 AS minutes_late
        FROM whistle_target t JOIN whistle w ON w.id = t.whistle_id JOIN cases c ON c.id = w.case_id
        LEFT JOIN department d ON d.code = t.department_code
        LEFT JOIN person p ON p.id = t.person_id
        WHERE t.acknowledged_at IS NULL AND w.due_at < CAST(:now AS timestamptz) AND {scope}
        ORDER BY w.due_at, t.id"""), {**params, "now": now or datetime.now(UTC)}).all()
    out = []
    for r in rows:
        out.append(AlertOut(**{**r._asdict(), "minutes_late": round(float(r.minutes_late), 1)}))
    return out


