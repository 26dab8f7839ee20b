"""Publishing a draft: one transaction, serialised, refused while validation blocks (unless an admin
overrides with a recorded reason).

Order of locks: the publish advisory lock first (one publish at a time in the whole database), then the
layout row (``FOR UPDATE``, the lock edits take too). Inside: the layout in force at ``effective_from``
ends there and this one starts (``api.grids.service.publish_layout``, under the exclusion constraint
on layout periods), open cases are re-routed when asked and the staff lists of the draft applied (both now,
or, for a future date, when the layout comes in force: :func:`apply_due`, run by api/ops/due.py), the
publish is recorded and an audit entry written. Routing reads
layout periods and grids only from committed data, so it sees the old layout or the new one, never half;
the commit fires ``NOTIFY gridmap_layout`` (migration 0002), which drops the routing index and the tile
caches in every process.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.audit.service import record as audit_record
from api.auth.service import Principal
from api.core.config import Settings
from api.core.errors import (
    BlockingFindings,
    Forbidden,
    InvalidParameter,
    NotScheduled,
    PublishConflict,
    UnstaffedGrids,
)
from api.grids.service import layout_in_force, publish_layout
from api.people.service import DUTY_WORKER_ID_SQL
from api.planner.checks import unstaffed_grids, validation
from api.planner.schemas import CancelPublishIn, PublishIn
from api.planner.service import lock_layout

#: pg_advisory_xact_lock key of "a publish is running" (any constant; 'gmpb' in ASCII).
PUBLISH_LOCK = 0x676D7062
PAST_SLACK = timedelta(minutes=5)


def publish_roles(settings: Settings) -> set[str]:
    return {r.strip() for r in settings.publish_roles.split(",") if r.strip()} | {"admin"}


def check_publisher(principal: Principal, settings: Settings) -> None:
    if principal.role not in publish_roles(settings):
        raise Forbidden(f"publishing needs one of the roles {', '.join(sorted(publish_roles(settings)))} "
                        "(GRIDMAP_PUBLISH_ROLES)")


def publish(session: Session, *, layout_id: int, body: PublishIn, principal: Principal, settings: Settings) -> int:
    """Publish a draft; returns the id of the layout it replaced (None when none was in force then)."""
    check_publisher(principal, settings)
    now = session.execute(text("SELECT now()")).scalar_one()
    at = body.effective_from or now
    if at.tzinfo is None:
        at = at.replace(tzinfo=ZoneInfo(settings.timezone))
    if at < now - PAST_SLACK:
        raise InvalidParameter("effective_from is in the past: a publish never rewrites routing history",
                               field="effective_from")
    session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PUBLISH_LOCK})
    lay = lock_layout(session, layout_id, base_revision=body.base_revision)
    latest = session.execute(text("""
        SELECT max(effective_from) FROM grid_layout WHERE status IN ('published', 'retired')""")).scalar()
    if latest is not None and at <= latest:
        raise PublishConflict(
            f"a layout is already published from {latest.isoformat()}; publish from a later moment",
            latest_effective_from=latest.isoformat())
    v = validation(session, layout_id=layout_id, settings=settings)
    reason = (body.override_reason or "").strip() or None
    if v["blocking"]:
        if principal.role != "admin" or reason is None:
            raise BlockingFindings(
                "the layout has blocking findings (gaps, overlaps, split buildings, ...): fix them, or an admin "
                "publishes with an override_reason", counts=v["counts"], blocking_counts=v["blocking_counts"])
    else:
        reason = None if principal.role != "admin" else reason
    unstaffed = unstaffed_grids(session, layout_id=layout_id)
    staff_reason = (body.unstaffed_reason or "").strip() or None
    missing = [g["code"] for g in unstaffed if g["code"] not in set(body.accept_unstaffed)]
    if unstaffed and (missing or staff_reason is None):
        raise UnstaffedGrids(
            f"{len(unstaffed)} grid(s) would have nobody on duty, so their reports would open cases with no "
            "assignee: staff them in the draft, or accept each of them (accept_unstaffed) with unstaffed_reason",
            grids=unstaffed, missing=missing, households=sum(g["households"] for g in unstaffed))
    if not unstaffed:
        staff_reason = None
    previous = layout_in_force(session, at=at)
    publish_layout(session, layout_id=layout_id, effective_from=at)
    apply_due(session)  # layouts whose period has ended are retired, staff moves that are due applied
    applied = at <= now
    # Open cases move to the new grids when the new layout comes in force, not before: until then the old
    # grids' workers are the ones on duty for them.
    rerouted = reroute_open_cases(session, layout_id=layout_id, actor=principal.actor) \
        if body.reroute_open_cases and applied else 0
    staff = staff_moves(session, layout_id=layout_id)
    if applied:
        apply_staff(session, staff)
    session.execute(text("""
        INSERT INTO layout_publish (layout_id, previous_id, revision, effective_from, actor, role, counts,
                                    override_reason, rerouted_cases, staff_pending, staff_applied_at,
                                    reroute_pending, unstaffed, unstaffed_reason)
        VALUES (:l, :p, :rev, :t, :actor, :role, CAST(:counts AS jsonb), :reason, :n, CAST(:staff AS jsonb),
                CASE WHEN :applied THEN now() END, :pending, CAST(:unstaffed AS jsonb), :staff_reason)"""),
        {"l": layout_id, "p": previous, "rev": lay.revision, "t": at, "actor": principal.actor, "role": principal.role,
         "counts": orjson.dumps(v["counts"]).decode(), "reason": reason, "n": rerouted,
         "staff": orjson.dumps(staff).decode(), "applied": applied,
         "pending": bool(body.reroute_open_cases and not applied), "unstaffed": orjson.dumps(unstaffed).decode(),
         "staff_reason": staff_reason})
    query = {"effective_from": at.isoformat(), "revision": lay.revision, "previous": previous or "",
             "reroute_open_cases": body.reroute_open_cases, "rerouted": rerouted}
    if reason:
        query["override_reason"] = reason
    if unstaffed:
        query["unstaffed"] = ",".join(g["code"] for g in unstaffed)
        query["unstaffed_reason"] = staff_reason
    audit_record(session, actor=principal.actor, role=principal.role, method="PUBLISH",
                 path=f"/api/v1/layouts/{layout_id}/publish", query=urlencode(query)[:2000], status=200, ip=None,
                 user_agent=None)
    return previous


def reroute_open_cases(session: Session, *, layout_id: int, actor: str) -> int:
    """Open cases whose point lies in another grid of the new layout: a new routing decision (with this
    layout), the new grid (and its on-duty worker when it has one), and an ``assign`` case event. Cases
    whose point lies in no grid of the new layout keep theirs."""
    session.execute(text("DROP TABLE IF EXISTS _reroute"))
    session.execute(text("""
        CREATE TEMP TABLE _reroute ON COMMIT DROP AS
        SELECT k.id, k.report_id, k.status, k.grid_code AS old_code, n.code AS new_code, n.hits
        FROM cases k JOIN report r ON r.id = k.report_id
        CROSS JOIN LATERAL (
            SELECT min(g.code) AS code, count(*) AS hits FROM grid g
            WHERE g.layout_id = :l AND ST_Intersects(g.boundary, r.location)) n
        WHERE k.status NOT IN ('closed', 'rejected') AND r.location IS NOT NULL AND n.code IS NOT NULL
          AND (k.grid_code IS DISTINCT FROM n.code OR k.layout_id IS DISTINCT FROM :l)"""), {"l": layout_id})
    session.execute(text("""
        INSERT INTO routing (report_id, layout_id, grid_code, method, candidates, reason)
        SELECT report_id, :l, new_code, CASE WHEN hits > 1 THEN 'edge' ELSE 'inside' END, '[]'::jsonb,
               'planner_reroute' FROM _reroute WHERE old_code IS DISTINCT FROM new_code"""), {"l": layout_id})
    session.execute(text("""
        UPDATE cases k SET layout_id = :l, grid_code = x.new_code, updated_at = now(),
               assignee_id = CASE WHEN x.old_code IS DISTINCT FROM x.new_code THEN coalesce(
                   {duty}, k.assignee_id) ELSE k.assignee_id END
        FROM _reroute x WHERE k.id = x.id""".format(duty=DUTY_WORKER_ID_SQL.format(grid="x.new_code"))),
        {"l": layout_id})
    n = session.execute(text("""
        INSERT INTO case_event (case_id, actor, from_status, to_status, note, kind, note_code, note_params)
        SELECT id, :actor, status, status,
               'grid ' || coalesce(old_code, '-') || ' → ' || new_code || ' (layout ' || :l || ' published)', 'assign',
               'rerouted', jsonb_strip_nulls(jsonb_build_object('from', old_code, 'to', new_code,
                                                             'layout', CAST(:l AS bigint)))
        FROM _reroute WHERE old_code IS DISTINCT FROM new_code"""), {"l": layout_id, "actor": actor}).rowcount
    return int(n or 0)


def staff_moves(session: Session, *, layout_id: int) -> list[list[Any]]:
    """[person id, grid code] pairs where the draft's staff lists place someone elsewhere than now."""
    rows = session.execute(text("""
        SELECT s.pid, s.code FROM (
            SELECT g.code, (jsonb_array_elements_text(g.properties -> 'staff'))::bigint AS pid
            FROM grid g WHERE g.layout_id = :l AND g.properties ? 'staff') s
        JOIN person p ON p.id = s.pid WHERE p.grid_code IS DISTINCT FROM s.code ORDER BY s.pid"""),
        {"l": layout_id}).all()
    return [[r.pid, r.code] for r in rows]


def apply_staff(session: Session, moves: list[list[Any]]) -> None:
    if moves:
        session.execute(text("UPDATE person SET grid_code = :code WHERE id = :pid"),
                        [{"pid": pid, "code": code} for pid, code in moves])


def apply_due(session: Session, *, at: datetime | None = None) -> int:
    """What a future-dated publish leaves for its moment, once the moment (``at``, by default the database's
    now) has come: the layout it replaced is retired, the staff moves of the draft are applied and, when the
    publish asked for it, the open cases re-routed to the new grids. In the order the layouts came in force;
    returns how many publishes were handled. Run every minute by api/ops/due.py, and when layouts are listed
    or published (cheap: nothing to do is the usual case, and partial indexes hold what is pending)."""
    moment = {"at": at}
    session.execute(text("UPDATE grid_layout SET status = 'retired' WHERE status = 'published' "
                         "AND effective_to IS NOT NULL AND effective_to <= coalesce(:at, now())"), moment)
    due = session.execute(text("""
        SELECT id, layout_id, actor, staff_pending, staff_applied_at IS NULL AS staff_due, reroute_pending
        FROM layout_publish
        WHERE (staff_applied_at IS NULL OR reroute_pending) AND cancelled_at IS NULL
          AND effective_from <= coalesce(:at, now())
        ORDER BY effective_from FOR UPDATE SKIP LOCKED"""), moment).all()
    for row in due:
        if row.staff_due:
            apply_staff(session, row.staff_pending or [])
            session.execute(text("UPDATE layout_publish SET staff_applied_at = now() WHERE id = :id"), {"id": row.id})
        if row.reroute_pending:
            n = reroute_open_cases(session, layout_id=row.layout_id, actor=row.actor)
            session.execute(text("""UPDATE layout_publish SET reroute_pending = false, rerouted_cases = :n
                                    WHERE id = :id"""), {"id": row.id, "n": n})
    return len(due)


def publishes(session: Session, *, layout_id: int) -> list[dict[str, Any]]:
    rows = session.execute(text("""
        SELECT id, layout_id, previous_id, revision, effective_from, actor, role, at, counts, override_reason,
               rerouted_cases, reroute_pending, staff_applied_at IS NOT NULL AS staff_applied, unstaffed,
               unstaffed_reason, cancelled_at, cancelled_by, cancel_reason
        FROM layout_publish WHERE layout_id = :l ORDER BY at DESC"""), {"l": layout_id}).mappings().all()
    return [{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in r.items()} for r in rows]


def cancel(session: Session, *, layout_id: int, body: CancelPublishIn, principal: Principal,
           settings: Settings) -> None:
    """Withdraw a publish whose moment has not come: the layout goes back to draft (at the revision it was
    published at, so it can be edited and published again), the layout it was to replace runs on as it did
    before (its end moves to where this one would have ended: open, or the start of a later publish), the
    publish's pending staff moves and re-routing are dropped, and the cancel is recorded and audited. Routing
    never saw this layout (it was not in force), so nothing of it changes; the commit's ``NOTIFY gridmap_layout``
    drops the caches that held the future period."""
    check_publisher(principal, settings)
    session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PUBLISH_LOCK})
    lay = lock_layout(session, layout_id, base_revision=None, draft=False)
    row = session.execute(text("""
        SELECT effective_from, effective_to, effective_from > now() AS future FROM grid_layout WHERE id = :id"""),
        {"id": layout_id}).one()
    if lay.status != "published" or not row.future:
        raise NotScheduled(f"layout {layout_id} is {lay.status}"
                           + (" and already in force" if lay.status == "published" else "")
                           + ": only a publish whose effective moment has not come can be cancelled",
                           layout_status=lay.status)
    session.execute(text("""UPDATE grid_layout SET status = 'draft', effective_from = NULL, effective_to = NULL
                            WHERE id = :id"""), {"id": layout_id})
    # this period freed first, then the previous layout's end moves on: periods never overlap
    session.execute(text("""
        UPDATE grid_layout SET effective_to = :end WHERE status = 'published' AND id <> :id AND effective_to = :t"""),
        {"id": layout_id, "t": row.effective_from, "end": row.effective_to})
    reason = (body.reason or "").strip() or None
    session.execute(text("""
        UPDATE layout_publish SET cancelled_at = now(), cancelled_by = :actor, cancel_reason = :reason,
               reroute_pending = false
        WHERE layout_id = :l AND cancelled_at IS NULL AND effective_from = :t"""),
        {"l": layout_id, "t": row.effective_from, "actor": principal.actor, "reason": reason})
    query = {"effective_from": row.effective_from.isoformat(), "revision": lay.revision}
    if reason:
        query["reason"] = reason
    audit_record(session, actor=principal.actor, role=principal.role, method="CANCEL",
                 path=f"/api/v1/layouts/{layout_id}/publish/cancel", query=urlencode(query)[:2000], status=200,
                 ip=None, user_agent=None)
