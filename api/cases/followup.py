"""Follow-up (回访) of a closed case and reopening (重办) after a dissatisfied one (issue 19).

A follow-up records what the resident said when the command centre reached them after the case was closed:
the satisfaction (满意 / 基本满意 / 不满意), whether the problem was solved, how they were reached and a note.
It is one per closing (409 ``already_followed_up`` otherwise): ``followed_up_at`` is set by it and cleared by
a reopening, so a reopened case closed again is due a follow-up again. The verdict is kept on the case
(``cases.satisfaction``, ``followup_resolved``, …, migration 0026), which is what evaluation counts
(api/evaluation/definitions.py), and in the event log (kind ``followup``).

With ``reopen``, a dissatisfied follow-up reopens the case: the transition closed → dispatched of the one
table (api/cases/workflow.py, action ``reopen``), back to the same grid, worker or department, with a new
deadline from the working calendar (``gridmap_deadline`` on the category's time limit, from now) and
``reopen_count`` + 1 (a reopened case is no first-time resolution).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from api.auth.service import Principal
from api.cases import workflow
from api.cases.schemas import SATISFACTIONS, CaseOut, FollowupIn
from api.cases.service import CaseNotClosed, _lock, apply_transition, get_case, record_event
from api.core.errors import Conflict, ValidationFailed

#: A legacy 1-5 follow-up rating as a satisfaction (the old ``POST …/rating``; migration 0026 mapped stored ones
#: the same way).
SATISFACTION_OF_RATING = {5: "satisfied", 4: "satisfied", 3: "basically_satisfied", 2: "dissatisfied",
                          1: "dissatisfied"}
assert set(SATISFACTION_OF_RATING.values()) == set(SATISFACTIONS)


class AlreadyFollowedUp(Conflict):
    code, title = "already_followed_up", "This closing of the case has been followed up already"


class ReopenNeedsDissatisfied(ValidationFailed):
    code, title = "reopen_needs_dissatisfied", "Only a dissatisfied follow-up reopens a case"


def record(session: Session, *, case_id: int, principal: Principal, body: FollowupIn) -> CaseOut:
    case = _lock(session, case_id=case_id, principal=principal)
    if case.status != "closed":
        raise CaseNotClosed(f"case {case_id} is {case.status}: only a closed case is followed up")
    if session.execute(text("SELECT followed_up_at FROM cases WHERE id = :id"), {"id": case_id}).scalar():
        raise AlreadyFollowedUp(f"case {case_id} has been followed up since it was closed")
    if body.reopen and body.satisfaction != "dissatisfied":
        raise ReopenNeedsDissatisfied("reopen=true goes with satisfaction=dissatisfied", field="reopen")
    if body.reopen:  # checked before anything is written: 403 for a role the table does not allow
        workflow.check("closed", "dispatched", principal.role)
    session.execute(text("""
        UPDATE cases SET satisfaction = :s, followup_resolved = :r, followup_channel = :ch, followed_up_at = now(),
                         updated_at = now()
        WHERE id = :id"""), {"s": body.satisfaction, "r": body.resolved, "ch": body.channel, "id": case_id})
    data = {"satisfaction": body.satisfaction, "resolved": body.resolved, "channel": body.channel,
            "reopen": body.reopen}
    record_event(session, case_id=case_id, actor=principal.actor, from_status="closed", to_status="closed",
                 note=body.note, kind="followup", data=data)
    if body.reopen:
        apply_transition(
            session, case=case, principal=principal, to="dispatched", note=body.note, via_ok=True,
            set_sql=""", rating = NULL, reopen_count = reopen_count + 1, followed_up_at = NULL,
                         deadline = (SELECT gridmap_deadline(now(), cat.time_limit_hours, cat.time_limit_unit)
                                     FROM category cat WHERE cat.code = cases.category_code)""",
            data={"action": workflow.REOPEN, "satisfaction": body.satisfaction})
    return get_case(session, case_id=case_id, principal=principal)


def rate(session: Session, *, case_id: int, principal: Principal, rating: int, note: str | None) -> CaseOut:
    """The legacy 1-5 rating: stored as it was, and as the follow-up's satisfaction (no channel, no verdict)."""
    case = _lock(session, case_id=case_id, principal=principal)
    if case.status != "closed":
        raise CaseNotClosed(f"case {case_id} is {case.status}: only a closed case gets a follow-up rating")
    session.execute(text("""UPDATE cases SET rating = :r, satisfaction = :s, followed_up_at = now(), updated_at = now()
                            WHERE id = :id"""), {"r": rating, "s": SATISFACTION_OF_RATING[rating], "id": case_id})
    record_event(session, case_id=case_id, actor=principal.actor, from_status="closed", to_status="closed",
                 note=note, kind="rating", data={"rating": rating})
    return get_case(session, case_id=case_id, principal=principal)
