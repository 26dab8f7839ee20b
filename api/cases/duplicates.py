"""Duplicates (并单): the same problem reported twice becomes one case.

A case's *duplicate candidates* are the other **open** cases (status in ``OPEN_STATUSES``, not themselves
merged) of the **same category** whose reports lie within ``radius_m`` (default 50 m,
``GRIDMAP_DUPLICATE_RADIUS_M``; measured on the spheroid) and were reported within ``window_hours``
(default 24 h, ``GRIDMAP_DUPLICATE_WINDOW_HOURS``) of this case's report, nearest first. Intake computes
them for every new report (``case.duplicates`` in the answer); ``GET /cases/{id}/duplicates`` lists them.

Merging case A into case B links A's report to B (``case_link``), rejects A through the transition table
(so only a ``reported`` or ``registered`` case can be merged) with a ``merge`` note, and records a
``merge`` event on B.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from api.auth.service import Principal
from api.cases import notes, service, workflow
from api.cases.schemas import CaseOut, DuplicateOut
from api.core.errors import Conflict, InvalidParameter

# Driven from the report's GiST index (a box of ``radius`` around the point, widened for the latitude) and
# the reported_at index; the exact spheroidal distance then decides. A geography cast alone would make the
# planner scan every open case of the category (seconds per intake at a million cases).
#: The match itself, over a relation ``me(id, category_code, location, reported_at)``; intake embeds it
#: in its one statement with ``me`` built from the new report's values.
MATCH = f"""
    SELECT o.id AS case_id, o.report_id, o.status, o.category_code AS category,
           ST_Distance(me.location::geography, ro.location::geography) AS distance_m,
           abs(EXTRACT(EPOCH FROM (ro.reported_at - me.reported_at))) / 3600.0 AS hours_apart,
           ro.reported_at, ro.description
    FROM me
    JOIN report ro ON ro.location && ST_Expand(me.location,
                          :radius * 1.01 / (111320.0 * cos(radians(ST_Y(me.location)))), :radius * 1.01 / 110540.0)
      AND ro.reported_at BETWEEN me.reported_at - make_interval(secs => :window_s)
                             AND me.reported_at + make_interval(secs => :window_s)
    JOIN cases o ON o.report_id = ro.id AND o.category_code = me.category_code AND o.id <> me.id
      AND o.status IN ({workflow.OPEN_SQL})
    WHERE ST_DWithin(me.location::geography, ro.location::geography, :radius)
      AND NOT EXISTS (SELECT 1 FROM case_link l WHERE l.case_id = o.id)
    ORDER BY distance_m, o.id
    LIMIT 20
"""
_CANDIDATES = """
    WITH me AS (
        SELECT c.id, c.category_code, r.location, r.reported_at
        FROM cases c JOIN report r ON r.id = c.report_id
        WHERE c.id = :id AND r.location IS NOT NULL)
""" + MATCH


class AlreadyMerged(Conflict):
    code, title = "already_merged", "The case is already merged"


def candidates(session: Session, *, case_id: int, radius_m: float, window_hours: float) -> list[DuplicateOut]:
    rows = session.execute(text(_CANDIDATES), {"id": case_id, "radius": radius_m,
                                               "window_s": window_hours * 3600.0}).all()
    return [DuplicateOut(case_id=r.case_id, report_id=r.report_id, status=r.status, category=r.category,
                         distance_m=round(float(r.distance_m), 1), hours_apart=round(float(r.hours_apart), 2),
                         reported_at=r.reported_at, description=r.description) for r in rows]


def suggest(session: Session, *, case_id: int, principal: Principal, radius_m: float,
            window_hours: float) -> list[DuplicateOut]:
    service.get_case(session, case_id=case_id, principal=principal)  # 404 outside scope
    found = candidates(session, case_id=case_id, radius_m=radius_m, window_hours=window_hours)
    return [d for d in found if principal.role != "worker" or _grid(session, d.case_id) in principal.grid_codes]


def _grid(session: Session, case_id: int) -> str | None:
    return session.execute(text("SELECT grid_code FROM cases WHERE id = :i"), {"i": case_id}).scalar()


def merge(session: Session, *, case_id: int, into: int, principal: Principal, note: str | None) -> CaseOut:
    if case_id == into:
        raise InvalidParameter("a case cannot be merged into itself", field="into")
    # lock both in id order so that two merges never deadlock
    locked = {c: service._lock(session, case_id=c, principal=principal) for c in sorted((case_id, into))}
    dup, keep = locked[case_id], locked[into]
    if session.execute(text("SELECT 1 FROM case_link WHERE case_id = :c"), {"c": case_id}).scalar():
        raise AlreadyMerged(f"case {case_id} is already merged")
    if session.execute(text("SELECT into_case_id FROM case_link WHERE case_id = :c"), {"c": into}).scalar():
        raise AlreadyMerged(f"case {into} is itself merged into another case; merge into that one")
    if keep.status in workflow.TERMINAL:
        raise service.CaseFinal(f"case {into} is {keep.status}; merge into an open case")
    if dup.category_code != keep.category_code:
        raise InvalidParameter(f"case {case_id} ({dup.category_code}) and case {into} ({keep.category_code}) "
                               "are of different categories", field="into")
    service.apply_transition(session, case=dup, principal=principal, to="rejected",
                             **notes.written(note, "merged_into", case=into),
                             data={"merged_into": into})
    session.execute(text("""INSERT INTO case_link (case_id, into_case_id, report_id, linked_by)
                            VALUES (:c, :i, :r, :by)"""),
                    {"c": case_id, "i": into, "r": dup.report_id, "by": principal.actor})
    service.record_event(session, case_id=into, actor=principal.actor, from_status=keep.status,
                         to_status=keep.status, **notes.system("merged_in", case=case_id, report=dup.report_id),
                         kind="merge", data={"case_id": case_id, "report_id": dup.report_id})
    return service.get_case(session, case_id=into, principal=principal)
