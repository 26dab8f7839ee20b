"""The delivery queue as the workers see it: take due deliveries, record what the receivers said, find overdue
cases, prune what is delivered. Every statement is short and set-based; several workers (processes) share the
queue through ``FOR UPDATE SKIP LOCKED`` and a lease, so a worker that dies mid-send only delays its deliveries
by the lease (at least once: the receiver de-duplicates by event id).

Order per case: a delivery is taken only when no earlier event of the same case is still pending for the same
subscription (delivered or dead ones do not hold it back), so a case's later event never overtakes an earlier.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from api.cases.service import OVERDUE_SQL


@dataclass(slots=True)
class Job:
    delivery_id: int
    subscription_id: int
    event_id: int
    event_type: str
    occurred_at: datetime
    attempts: int
    url: str
    secret: str
    payload: dict[str, Any]
    format: str


@dataclass(slots=True)
class Outcome:
    delivery_id: int
    subscription_id: int
    attempts: int
    ok: bool
    status: int | None
    error: str | None

    @property
    def unreachable(self) -> bool:
        """No answer, or a gateway saying the receiver is down: what a receiver's return makes worth retrying
        at once (a receiver that answers 500 to one event is not "back" for it)."""
        return self.status is None or self.status in (502, 503, 504)


_CLAIM = text("""
WITH due AS (
    SELECT d.id FROM webhook_delivery d
    JOIN webhook_subscription s ON s.id = d.subscription_id AND s.active
    WHERE d.status = 'pending' AND d.next_attempt_at <= now() AND (d.lease_until IS NULL OR d.lease_until < now())
      AND (d.case_id IS NULL OR NOT EXISTS (
          SELECT 1 FROM webhook_delivery p
          WHERE p.subscription_id = d.subscription_id AND p.case_id = d.case_id AND p.status = 'pending'
            AND p.event_id < d.event_id))
    ORDER BY d.next_attempt_at, d.id
    LIMIT :n
    FOR UPDATE OF d SKIP LOCKED)
UPDATE webhook_delivery d SET lease_until = now() + make_interval(secs => :lease)
FROM due, webhook_event e, webhook_subscription s
WHERE d.id = due.id AND e.id = d.event_id AND s.id = d.subscription_id
RETURNING d.id, d.subscription_id, d.event_id, e.type, e.occurred_at, d.attempts, s.url, s.secret, e.payload,
          s.format""")


def claim(session: Session, *, n: int, lease_s: float) -> list[Job]:
    """Lease up to ``n`` due deliveries (committed by the caller at once, so other workers skip them)."""
    rows = session.execute(_CLAIM, {"n": n, "lease": lease_s}).all()
    return [Job(*r) for r in rows]


_DONE = text("""
UPDATE webhook_delivery d SET
    attempts = o.attempts + 1, last_attempt_at = now(), last_status = o.status, last_error = o.error,
    lease_until = NULL,
    status = CASE WHEN o.ok THEN 'delivered' WHEN o.attempts + 1 >= :max THEN 'dead' ELSE 'pending' END,
    delivered_at = CASE WHEN o.ok THEN now() END,
    next_attempt_at = CASE WHEN o.ok THEN d.next_attempt_at ELSE now() + make_interval(secs => o.wait) END
FROM (SELECT * FROM unnest(CAST(:ids AS bigint[]), CAST(:att AS int[]), CAST(:ok AS boolean[]),
                           CAST(:st AS int[]), CAST(:err AS text[]), CAST(:wait AS float8[]))
      AS t(id, attempts, ok, status, error, wait)) o
WHERE d.id = o.id""")


_RNG = random.Random()


def backoff(attempts: int, *, base_s: float, max_s: float, rng: random.Random = _RNG) -> float:
    """Seconds before the next try after ``attempts`` failed ones: base × 2^(attempts-1), ±20 %, capped.

    >>> all(4 <= backoff(1, base_s=5, max_s=3600) <= 6 for _ in range(100)), backoff(12, base_s=5, max_s=3600)
    (True, 3600)
    """
    return min(max_s, base_s * 2 ** min(attempts - 1, 40) * rng.uniform(0.8, 1.2))


def complete(session: Session, outcomes: list[Outcome], *, max_attempts: int, base_s: float, max_s: float) -> None:
    """Record a round of attempts. A subscription whose receiver answers again after being unreachable gets its
    waiting deliveries (those that failed for want of an answer) tried at once instead of at their backoff."""
    if not outcomes:
        return
    session.execute(_DONE, {
        "ids": [o.delivery_id for o in outcomes], "att": [o.attempts for o in outcomes],
        "ok": [o.ok for o in outcomes], "st": [o.status for o in outcomes],
        "err": [o.error[:500] if o.error else None for o in outcomes],
        "wait": [0.0 if o.ok else backoff(o.attempts + 1, base_s=base_s, max_s=max_s) for o in outcomes],
        "max": max_attempts})
    down = sorted({o.subscription_id for o in outcomes if not o.ok and o.unreachable})
    up = sorted({o.subscription_id for o in outcomes if o.ok or not o.unreachable} - set(down))
    if down:
        session.execute(text("""UPDATE webhook_subscription SET failing_since = now()
                                WHERE id = ANY(:s) AND failing_since IS NULL"""), {"s": down})
    if up:
        back = session.execute(text("""UPDATE webhook_subscription SET failing_since = NULL
                                       WHERE id = ANY(:s) AND failing_since IS NOT NULL RETURNING id"""),
                               {"s": up}).scalars().all()
        if back:
            session.execute(text("""
                UPDATE webhook_delivery SET next_attempt_at = now()
                WHERE subscription_id = ANY(:s) AND status = 'pending' AND attempts > 0 AND next_attempt_at > now()
                  AND (last_status IS NULL OR last_status IN (502, 503, 504))"""), {"s": list(back)})


def sweep_overdue(session: Session) -> int:
    """``case.overdue`` for every open case whose deadline passed since the last sweep (any process's): one event
    per deadline passed, so an extended case that runs late again is announced again. Through the same outbox and
    fan-out as every other event (written only when a subscription wants it)."""
    since = session.execute(text("SELECT overdue_swept_to FROM webhook_state FOR UPDATE")).scalar_one()
    n = session.execute(text(f"""
        INSERT INTO webhook_event (type, occurred_at, case_id, grid_code, community_code, street_code, category_code,
                                   payload)
        SELECT 'case.overdue', c.deadline, v.case_id, v.grid_code, v.community_code, v.street_code,
               v.category_code, jsonb_build_object('case', v.body, 'change', jsonb_build_object(
                   'kind', 'overdue', 'deadline', c.deadline, 'at', c.deadline))
        FROM cases c JOIN webhook_case v ON v.case_id = c.id
        WHERE {OVERDUE_SQL} AND c.deadline > :since
          AND EXISTS (SELECT 1 FROM webhook_subscription s
                      WHERE gridmap_webhook_wants(s, 'case.overdue', v.street_code, v.community_code, v.grid_code,
                                                  v.category_code))
        ORDER BY c.deadline, c.id"""), {"since": since}).rowcount
    session.execute(text("UPDATE webhook_state SET overdue_swept_to = greatest(overdue_swept_to, now())"))
    return n


def prune(session: Session, *, days: float) -> int:
    """Delivered deliveries older than ``days``, then the events no delivery refers to any more."""
    n = session.execute(text("""
        DELETE FROM webhook_delivery
        WHERE status = 'delivered' AND delivered_at < now() - CAST(:d AS float8) * interval '1 day'"""),
        {"d": days}).rowcount
    session.execute(text("""
        DELETE FROM webhook_event e WHERE e.occurred_at < now() - CAST(:d AS float8) * interval '1 day'
          AND NOT EXISTS (SELECT 1 FROM webhook_delivery d WHERE d.event_id = e.id)"""), {"d": days})
    return n
