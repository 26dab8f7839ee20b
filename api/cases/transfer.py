"""A case moved to another grid (改派到其他网格): the command centre corrects a case routed to the wrong grid.

The move is a row of the one transition table (``workflow.TRANSITIONS``: a self-edge with the action
``transfer``, made through ``POST /cases/{id}/grid``), so who may make it and from which statuses is said there
only. The case keeps its status and deadline; its grid becomes the new one and its person the new grid's worker
on duty (or the one named). Scope follows the grid (``row_scope``), so the old grid's worker loses sight of the
case in the same commit. The timeline keeps the reason and both grids; the request is in the audit log like
every write.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from api.auth.service import Principal
from api.cases import workflow
from api.cases.schemas import CaseOut, GridChoice, TransferIn
from api.cases.service import _check_staff, _lock, get_case, record_event
from api.core.errors import IllegalTransition, InvalidParameter
from api.people.service import DUTY_WORKER_SQL

_GRID = """SELECT g.code, g.name, g.name_en, cm.name AS community_name, cm.name_en AS community_name_en,
                  w.id AS worker_id, w.name AS worker
           FROM grid g LEFT JOIN community cm ON cm.code = g.community_code
           LEFT JOIN LATERAL ({duty}) w ON true""".format(duty=DUTY_WORKER_SQL.format(grid="g.code"))


def candidates(session: Session, *, case_id: int, principal: Principal, q: str | None, limit: int) -> list[GridChoice]:
    """Grids of the case's layout it may move to, nearest its reported point first; ``q`` matches the start of a
    code or a part of a grid's or community's name (Chinese or English)."""
    get_case(session, case_id=case_id, principal=principal)  # 404 outside the caller's scope
    # nearest in degrees (the GiST index) first, then the few hundred nearest ordered in metres
    rows = session.execute(text(f"""
        SELECT * FROM (
            {_GRID.replace("SELECT g.code,", "SELECT ST_Distance(g.boundary::geography, r.location::geography) "
                                             "AS distance_m, g.code,", 1)}
            JOIN cases c ON c.layout_id = g.layout_id AND c.id = :id
            JOIN report r ON r.id = c.report_id
            WHERE g.code IS DISTINCT FROM c.grid_code
              AND (CAST(:q AS text) IS NULL OR starts_with(g.code, :q) OR strpos(g.name, :q) > 0
                   OR strpos(lower(coalesce(g.name_en, '')), lower(:q)) > 0 OR strpos(coalesce(cm.name, ''), :q) > 0
                   OR strpos(lower(coalesce(cm.name_en, '')), lower(:q)) > 0)
            ORDER BY g.boundary <-> r.location NULLS LAST, g.code LIMIT 300) near
        ORDER BY distance_m NULLS LAST, code LIMIT :limit"""),
        {"id": case_id, "q": q or None, "limit": limit}).all()
    return [GridChoice(code=r.code, name=r.name, name_en=r.name_en, community_name=r.community_name,
                       community_name_en=r.community_name_en, worker=r.worker,
                       distance_m=None if r.distance_m is None else round(float(r.distance_m), 1)) for r in rows]


def transfer(session: Session, *, case_id: int, principal: Principal, body: TransferIn) -> CaseOut:
    """Move the case to ``body.grid_code`` (see the module docstring); 409 from a status the table does not allow,
    422 for the case's own grid, a grid outside its layout or a person outside the new grid."""
    case = _lock(session, case_id=case_id, principal=principal)
    if (case.status, case.status) not in workflow.TRANSITIONS:
        movable = [f for (f, to), rule in workflow.TRANSITIONS.items() if f == to and rule.action == "transfer"]
        raise IllegalTransition(f"a {case.status} case stays in its grid; a case moves to another grid while it is "
                                f"{', '.join(movable)}", from_status=case.status, to_status=case.status, allowed=[])
    workflow.check(case.status, case.status, principal.role)  # 403 for a role the table does not name
    if body.grid_code == case.grid_code:
        raise InvalidParameter(f"case {case_id} is already in grid {case.grid_code}; to give it to another person "
                               "of that grid use POST /api/v1/cases/{id}/assignee", field="grid_code")
    grid: Any = session.execute(text(_GRID + " WHERE g.layout_id = (SELECT layout_id FROM cases WHERE id = :id) "
                                             "AND g.code = :code"), {"id": case_id, "code": body.grid_code}).first()
    if grid is None:
        raise InvalidParameter(f"no grid {body.grid_code} in the layout of case {case_id}", field="grid_code")
    old = session.execute(text("SELECT name, name_en FROM grid WHERE code = :c AND layout_id = "
                               "(SELECT layout_id FROM cases WHERE id = :id)"),
                          {"c": case.grid_code, "id": case_id}).first()
    person = grid.worker_id
    if body.assignee_id is not None:
        person = _check_staff(session, person_id=body.assignee_id, grid_code=body.grid_code).id
    session.execute(text("UPDATE cases SET grid_code = :g, assignee_id = :p, updated_at = now() WHERE id = :id"),
                    {"g": body.grid_code, "p": person, "id": case_id})
    record_event(session, case_id=case_id, actor=principal.actor, from_status=case.status, to_status=case.status,
                 note=body.reason.strip(), kind="assign",
                 data={"from_grid": case.grid_code, "from_grid_name": old and old.name,
                       "from_grid_name_en": old and old.name_en, "to_grid": body.grid_code,
                       "to_grid_name": grid.name, "to_grid_name_en": grid.name_en,
                       "from_person": case.assignee_id, "to_person": person})
    return get_case(session, case_id=case_id, principal=principal)
