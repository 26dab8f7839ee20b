"""Subscriptions, their delivery log and the replay of dead letters (the admin's side of issue 19's webhooks).

The events themselves are written by the database (migration 0025) and sent by api/webhooks/worker.py.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from api.core.errors import NotFound, ValidationFailed
from api.webhooks.events import CHANNEL, EVENT_TYPES
from api.webhooks.schemas import (
    Counts,
    DeliveryOut,
    Filters,
    SubscriptionCreated,
    SubscriptionIn,
    SubscriptionOut,
    SubscriptionPatch,
)

_FILTERS = ("streets", "communities", "grids", "categories")
#: Where each filter's codes must exist (a code nobody has would silently match nothing).
_KNOWN = {"streets": "SELECT code FROM street WHERE code = ANY(:v)",
          "communities": "SELECT code FROM community WHERE code = ANY(:v)",
          "grids": "SELECT DISTINCT code FROM grid WHERE code = ANY(:v)",
          "categories": "SELECT code FROM category WHERE code = ANY(:v)"}
_SELECT = """
    SELECT s.*, coalesce(d.pending, 0) AS pending, coalesce(d.delivered, 0) AS delivered, coalesce(d.dead, 0) AS dead
    FROM webhook_subscription s
    LEFT JOIN LATERAL (
        SELECT count(*) FILTER (WHERE status = 'pending') AS pending,
               count(*) FILTER (WHERE status = 'delivered') AS delivered,
               count(*) FILTER (WHERE status = 'dead') AS dead
        FROM webhook_delivery WHERE subscription_id = s.id) d ON true"""


def _check_filters(session: Session, filters: Filters) -> None:
    for name in _FILTERS:
        wanted = getattr(filters, name)
        if wanted:
            found = set(session.execute(text(_KNOWN[name]), {"v": wanted}).scalars())
            missing = [c for c in wanted if c not in found]
            if missing:
                raise ValidationFailed(f"unknown {name}: {', '.join(missing[:5])}", field=f"filters.{name}")


def _out(r: Any) -> SubscriptionOut:
    return SubscriptionOut(
        id=r.id, url=r.url, description=r.description, event_types=list(r.event_types),
        filters=Filters(**{n: getattr(r, n) for n in _FILTERS}), format=r.format, active=r.active,
        created_by=r.created_by, created_at=r.created_at, updated_at=r.updated_at, failing_since=r.failing_since,
        deliveries=Counts(pending=r.pending, delivered=r.delivered, dead=r.dead))


def _get_row(session: Session, sub_id: int) -> Any:
    row = session.execute(text(_SELECT + " WHERE s.id = :id"), {"id": sub_id}).first()
    if row is None:
        raise NotFound(f"no webhook subscription with id {sub_id}")
    return row


def create(session: Session, *, body: SubscriptionIn, actor: str) -> SubscriptionCreated:
    """A new subscription with a fresh secret (returned this once: only its receiver needs it)."""
    _check_filters(session, body.filters)
    secret = secrets.token_hex(32)
    sub_id = session.execute(text("""
        INSERT INTO webhook_subscription (url, description, event_types, streets, communities, grids, categories,
                                          format, secret, active, created_by)
        VALUES (:url, :d, :t, :st, :co, :gr, :ca, :f, :secret, :active, :by) RETURNING id"""),
        {"url": body.url, "d": body.description, "t": sorted(set(body.event_types)), "st": body.filters.streets,
         "co": body.filters.communities, "gr": body.filters.grids, "ca": body.filters.categories,
         "f": body.format, "secret": secret, "active": body.active, "by": actor}).scalar_one()
    return SubscriptionCreated(**_out(_get_row(session, sub_id)).model_dump(), secret=secret)


def list_subscriptions(session: Session) -> list[SubscriptionOut]:
    return [_out(r) for r in session.execute(text(_SELECT + " ORDER BY s.id")).all()]


def get(session: Session, *, sub_id: int) -> SubscriptionOut:
    return _out(_get_row(session, sub_id))


def update(session: Session, *, sub_id: int, body: SubscriptionPatch) -> SubscriptionOut:
    _get_row(session, sub_id)
    sets, params = [], {"id": sub_id}
    fields = body.model_dump(exclude_unset=True)
    for name in ("url", "description", "format", "active"):
        if name in fields and (fields[name] is not None or name == "description"):
            sets.append(f"{name} = :{name}")
            params[name] = fields[name]
    if body.event_types is not None:
        sets.append("event_types = :t")
        params["t"] = sorted(set(body.event_types))
    if body.filters is not None:
        _check_filters(session, body.filters)
        for name in _FILTERS:
            sets.append(f"{name} = :{name}")
            params[name] = getattr(body.filters, name)
    if sets:
        session.execute(text(f"UPDATE webhook_subscription SET {', '.join(sets)}, updated_at = now() "
                             "WHERE id = :id"), params)
    return get(session, sub_id=sub_id)


def delete(session: Session, *, sub_id: int) -> None:
    """The subscription and its delivery log (events no other subscription needs go with the retention sweep)."""
    if session.execute(text("DELETE FROM webhook_subscription WHERE id = :id RETURNING id"),
                       {"id": sub_id}).first() is None:
        raise NotFound(f"no webhook subscription with id {sub_id}")


def deliveries(session: Session, *, sub_id: int, status: str | None, limit: int,
               offset: int) -> tuple[list[DeliveryOut], int]:
    """The subscription's delivery log, newest first."""
    _get_row(session, sub_id)
    where = "d.subscription_id = :id AND (CAST(:st AS text) IS NULL OR d.status = :st)"
    params = {"id": sub_id, "st": status}
    total = session.execute(text(f"SELECT count(*) FROM webhook_delivery d WHERE {where}"), params).scalar_one()
    rows = session.execute(text(f"""
        SELECT d.*, e.type AS event_type, e.occurred_at
        FROM webhook_delivery d JOIN webhook_event e ON e.id = d.event_id
        WHERE {where} ORDER BY d.id DESC LIMIT :limit OFFSET :offset"""),
        {**params, "limit": limit, "offset": offset}).all()
    return [DeliveryOut(id=r.id, event_id=r.event_id, event_type=r.event_type, case_id=r.case_id,
                        occurred_at=r.occurred_at, status=r.status, attempts=r.attempts,
                        next_attempt_at=r.next_attempt_at if r.status == "pending" else None,
                        last_attempt_at=r.last_attempt_at, last_status=r.last_status, last_error=r.last_error,
                        delivered_at=r.delivered_at) for r in rows], total


_REPLAY = """
    UPDATE webhook_delivery SET status = 'pending', attempts = 0, next_attempt_at = now(), lease_until = NULL
    WHERE status = 'dead' AND {where} RETURNING id"""


def replay(session: Session, *, sub_id: int, delivery_id: int | None = None) -> int:
    """Put a subscription's dead letters (or one of them) back in the queue, tried at once. A replayed event is
    sent again with its own id, so a receiver that got it after all recognises it."""
    _get_row(session, sub_id)
    if delivery_id is None:
        rows = session.execute(text(_REPLAY.format(where="subscription_id = :s")), {"s": sub_id}).all()
    else:
        found = session.execute(text("SELECT status FROM webhook_delivery WHERE id = :d AND subscription_id = :s"),
                                {"d": delivery_id, "s": sub_id}).scalar()
        if found is None:
            raise NotFound(f"no delivery {delivery_id} of webhook subscription {sub_id}")
        rows = session.execute(text(_REPLAY.format(where="id = :d")), {"d": delivery_id}).all()
    if rows:
        session.execute(text("SELECT pg_notify(:c, '')"), {"c": CHANNEL})
    return len(rows)


def event_types() -> list[dict[str, str]]:
    return [{"type": t, "description": d} for t, d in EVENT_TYPES.items()]
