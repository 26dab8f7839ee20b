"""The case's clock: suspension (挂起) and extension (延期), each with an approval and a reason.

A suspended case has no running deadline: ``deadline`` is NULL while it is suspended (so every "overdue"
rule — lists, the wall, /ogc — leaves it out without knowing about suspension) and the deadline it had is
kept in ``suspended_deadline``. On resume the deadline moves on by the working time that passed while
suspended (``gridmap_working_hours``, migration 0024). An extension sets a new deadline. Each is a case event
(kinds ``suspend``, ``resume``, ``extend``) written by api/cases/service.py's ``record_event``; a suspended
case makes no status transition until it is resumed (service.apply_transition refuses it).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from api.auth.service import Principal
from api.cases import workflow
from api.cases.schemas import ApprovalIn, CaseOut, ExtensionIn
from api.cases.service import CaseSuspended, _lock, get_case, record_event
from api.core.errors import Conflict, InvalidParameter


class CaseNotOpen(Conflict):
    code, title = "case_not_open", "The case is not open"


class CaseNotSuspended(Conflict):
    code, title = "case_not_suspended", "The case is not suspended"


def _open_unsuspended(session: Session, *, case_id: int, principal: Principal):
    case = _lock(session, case_id=case_id, principal=principal)
    if case.status not in workflow.OPEN_STATUSES:
        raise CaseNotOpen(f"case {case_id} is {case.status}: only an open case's clock can be changed")
    if case.suspended_at is not None:
        raise CaseSuspended(f"case {case_id} is already suspended since {case.suspended_at:%Y-%m-%d %H:%M}")
    return case


def suspend(session: Session, *, case_id: int, principal: Principal, body: ApprovalIn) -> CaseOut:
    case = _open_unsuspended(session, case_id=case_id, principal=principal)
    old = session.execute(text("""
        UPDATE cases SET suspended_at = now(), suspended_deadline = deadline, deadline = NULL, updated_at = now()
        WHERE id = :id RETURNING suspended_deadline"""), {"id": case_id}).scalar()
    record_event(session, case_id=case_id, actor=principal.actor, from_status=case.status, to_status=case.status,
                 note=body.reason, kind="suspend",
                 data={"approved_by": body.approved_by, "deadline": old.isoformat() if old else None})
    return get_case(session, case_id=case_id, principal=principal)


def resume(session: Session, *, case_id: int, principal: Principal, note: str | None) -> CaseOut:
    case = _lock(session, case_id=case_id, principal=principal)
    if case.suspended_at is None:
        raise CaseNotSuspended(f"case {case_id} is not suspended")
    row = session.execute(text("""
        WITH s AS (SELECT gridmap_working_hours(suspended_at, now()) AS h, suspended_deadline FROM cases WHERE id = :id)
        UPDATE cases SET deadline = gridmap_deadline(s.suspended_deadline, s.h, 'working_hours'),
                         suspended_at = NULL, suspended_deadline = NULL, updated_at = now()
        FROM s WHERE id = :id RETURNING s.h, cases.deadline"""), {"id": case_id}).first()
    record_event(session, case_id=case_id, actor=principal.actor, from_status=case.status, to_status=case.status,
                 note=note, kind="resume",
                 data={"suspended_working_hours": round(row.h, 2),
                       "deadline": row.deadline.isoformat() if row.deadline else None})
    return get_case(session, case_id=case_id, principal=principal)


def extend(session: Session, *, case_id: int, principal: Principal, body: ExtensionIn) -> CaseOut:
    if (body.deadline is None) == (body.amount is None):
        raise InvalidParameter("give either a new deadline or an amount (with its unit) to add", field="deadline")
    case = _open_unsuspended(session, case_id=case_id, principal=principal)
    row = session.execute(text("""
        SELECT deadline AS old,
               coalesce(CAST(:new AS timestamptz), gridmap_deadline(coalesce(deadline, now()), :amount, :unit)) AS new
        FROM cases WHERE id = :id"""),
        {"id": case_id, "new": body.deadline, "amount": body.amount, "unit": body.unit}).first()
    if row.old is not None and row.new <= row.old:
        raise InvalidParameter(f"an extension moves the deadline later than {row.old.isoformat()}", field="deadline")
    session.execute(text("UPDATE cases SET deadline = :d, updated_at = now() WHERE id = :id"),
                    {"d": row.new, "id": case_id})
    record_event(session, case_id=case_id, actor=principal.actor, from_status=case.status, to_status=case.status,
                 note=body.reason, kind="extend",
                 data={"approved_by": body.approved_by, "from_deadline": row.old.isoformat() if row.old else None,
                       "to_deadline": row.new.isoformat()})
    return get_case(session, case_id=case_id, principal=principal)
