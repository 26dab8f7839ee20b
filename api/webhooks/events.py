"""What gridmap pushes out: the event types, the body of a delivery and its signature (issue 19).

Events are written by the database, not by Python: migration 0025's trigger on ``case_event`` turns every case
event into an outbox row in the same transaction (its type from ``gridmap_webhook_type(kind, from_status)``), and
the overdue sweep (api/webhooks/service.py) adds ``case.overdue``. This module names the types a subscription may
ask for; tests/api/webhooks checks that every case event kind the database allows has its type here.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Any

import orjson

#: Every event type, with what it means (the admin page and the API documentation show these).
EVENT_TYPES: dict[str, str] = {
    "report.created": "a report arrived and opened a case (every intake path)",
    "case.transitioned": "a case changed status (register, dispatch, accept, resolve, verify, close, reject, ...)",
    "case.overdue": "an open case passed its deadline",
    "whistle.raised": "a whistle (吹哨) summoned departments or party members; the case is escalated",
    "whistle.acknowledged": "a summoned department or person acknowledged a whistle (报到)",
    "whistle.reported_back": "a summoned department or person reported back",
    "case.assign": "a case was reassigned to another worker of its grid",
    "case.merge": "a duplicate report was merged into a case (并单)",
    "case.rating": "a closed case got its follow-up rating",
    "case.followup": "a closed case was followed up (回访): satisfaction, solved or not, how the resident was "
                     "reached; a reopening (重办) follows as a case.transitioned closed → dispatched",
    "case.note": "a progress note (and photos) without a status change",
    "case.suspend": "a case was suspended (挂起)",
    "case.resume": "a suspended case was resumed",
    "case.extend": "a case's deadline was extended (延期)",
}
#: NOTIFY channel the outbox's fan-out trigger signals (one notice per transaction that wrote deliveries).
CHANNEL = "gridmap_webhook"
SIGNATURE_HEADER = "X-Gridmap-Signature"
EVENT_HEADER = "X-Gridmap-Event-Id"


def sign(secret: str, body: bytes) -> str:
    """The ``X-Gridmap-Signature`` value: HMAC-SHA256 of the raw body with the subscription's secret.

    >>> sign("0123456789abcdef", b"{}")[:7], len(sign("0123456789abcdef", b"{}"))
    ('sha256=', 71)
    """
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """What a receiver does (in constant time); used by the tests' receiver and shown in the README."""
    return header is not None and hmac.compare_digest(sign(secret, body), header)


def body(*, event_id: int, etype: str, occurred_at: datetime, payload: dict[str, Any]) -> bytes:
    """The JSON body of a delivery: the event id (for de-duplication), its type and time, then the case and
    the change as the outbox row recorded them."""
    return orjson.dumps({"id": event_id, "type": etype, "occurred_at": occurred_at, **payload})
