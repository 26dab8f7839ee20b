"""The delivery queue's rules on the database, without HTTP (the test's rolled-back transaction): a case's later
event waits for its earlier one, a leased delivery is not taken twice, failures back off and die after the last
attempt, and a receiver that answers again brings forward what waited for it."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from api.webhooks import queue


def _setup(db: Session) -> tuple[int, list[int]]:
    sub = db.execute(text("""INSERT INTO webhook_subscription (url, event_types, secret, created_by)
                             VALUES ('http://127.0.0.1:9/q', '{case.note}', 'q-secret-0123456789', 'test')
                             RETURNING id""")).scalar_one()
    events = [db.execute(text("""INSERT INTO webhook_event (type, case_id, payload)
                                 VALUES ('case.note', :c, '{}') RETURNING id"""), {"c": c}).scalar_one()
              for c in (-1, -2, -1)]  # case -1 twice, case -2 once
    return sub, events


def _outcome(job: queue.Job, ok: bool, status: int | None) -> queue.Outcome:
    return queue.Outcome(job.delivery_id, job.subscription_id, job.attempts, ok, status, None if ok else "down")


def test_order_per_case_leases_backoff_and_dead_letters(db: Session) -> None:
    sub, (a1, b1, a2) = _setup(db)
    jobs = [j for j in queue.claim(db, n=10, lease_s=30) if j.subscription_id == sub]
    assert sorted(j.event_id for j in jobs) == [a1, b1]  # a2 waits for a1
    assert [j for j in queue.claim(db, n=10, lease_s=30) if j.subscription_id == sub] == []  # leased
    by_event = {j.event_id: j for j in jobs}
    queue.complete(db, [_outcome(by_event[a1], False, None), _outcome(by_event[b1], False, 500)],
                   max_attempts=2, base_s=5, max_s=60)
    rows = dict(db.execute(text("""SELECT event_id, next_attempt_at - now() < interval '7 s'
                                      AND next_attempt_at - now() > interval '3 s'
                                   FROM webhook_delivery WHERE subscription_id = :s AND status = 'pending'"""),
                           {"s": sub}).all())
    assert rows[a1] and rows[b1]  # the first retry within 10 s (5 s ± 20 %)
    assert db.execute(text("SELECT failing_since IS NOT NULL FROM webhook_subscription WHERE id = :s"),
                      {"s": sub}).scalar_one()
    # the receiver answers again (another event of another subscription would do): what failed for want of an
    # answer is due at once, the one refused with a 500 keeps its backoff
    db.execute(text("UPDATE webhook_delivery SET next_attempt_at = now() WHERE event_id = :e"), {"e": b1})
    again = {j.event_id: j for j in queue.claim(db, n=10, lease_s=30) if j.subscription_id == sub}
    assert set(again) == {b1}
    queue.complete(db, [_outcome(again[b1], True, 204)], max_attempts=2, base_s=5, max_s=60)
    assert db.execute(text("SELECT failing_since FROM webhook_subscription WHERE id = :s"), {"s": sub}).scalar() is None
    due = {j.event_id: j for j in queue.claim(db, n=10, lease_s=30) if j.subscription_id == sub}
    assert set(due) == {a1}  # brought forward; a2 still waits behind it
    queue.complete(db, [_outcome(due[a1], False, 503)], max_attempts=2, base_s=5, max_s=60)
    status = dict(db.execute(text("SELECT event_id, status FROM webhook_delivery WHERE subscription_id = :s"),
                             {"s": sub}).all())
    assert status == {a1: "dead", b1: "delivered", a2: "pending"}
    # a dead letter no longer holds its case back
    assert [j.event_id for j in queue.claim(db, n=10, lease_s=30) if j.subscription_id == sub] == [a2]


def test_overdue_sweep_announces_each_passed_deadline_once(db: Session) -> None:
    sub = db.execute(text("""INSERT INTO webhook_subscription (url, event_types, secret, created_by)
                             VALUES ('http://127.0.0.1:9/o', '{case.overdue}', 'o-secret-0123456789', 'test')
                             RETURNING id""")).scalar_one()
    db.execute(text("UPDATE webhook_state SET overdue_swept_to = now() - interval '1 hour'"))
    case = db.execute(text("""SELECT id FROM cases WHERE status = 'registered' AND suspended_at IS NULL
                              ORDER BY id LIMIT 1""")).scalar_one()
    db.execute(text("UPDATE cases SET deadline = now() - interval '10 minutes' WHERE id = :c"), {"c": case})
    queue.sweep_overdue(db)
    queue.sweep_overdue(db)  # the second sweep looks only at deadlines passed since the first
    got = db.execute(text("""SELECT e.case_id FROM webhook_delivery d JOIN webhook_event e ON e.id = d.event_id
                             WHERE d.subscription_id = :s"""), {"s": sub}).scalars().all()
    assert case in got and got.count(case) == 1
