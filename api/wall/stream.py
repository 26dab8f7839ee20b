"""Live reports for the wall: NOTIFY gridmap_report -> one LISTEN thread -> every SSE subscriber.

``EventSource`` cannot send an ``Authorization`` header, and a long-lived API key or login token must never
sit in a URL (proxies and logs keep URLs). So a client first POSTs, with its key or token, for a **stream
ticket**: 32 random bytes, stored as a SHA-256 digest with the credential it stands for, valid for 60 seconds
and **used once** (opening the stream deletes it, in whichever process: ``DELETE … RETURNING``). Opening the
stream also checks that the credential is still valid; an open stream is closed when its credential is revoked
(the ``gridmap_auth`` notice, :meth:`Hub.on_auth`), so revocation ends live access at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.auth.roles import Can, can
from api.auth.service import Principal, matches, verify_key_id
from api.core.errors import Unauthorized

log = logging.getLogger("gridmap.wall")
CHANNEL = "gridmap_report"
TICKET_SECONDS = 60
QUEUE_SIZE = 2000
#: How far back a reconnecting client is caught up, and how many reports at most.
REPLAY_MINUTES = 10
REPLAY_MAX = 1000
#: Put in a subscriber's queue when its credential was revoked: the stream says so and ends.
REVOKED = {"event": "revoked", "data": "{}"}


def issue_ticket(session: Session, principal: Principal, token_digest: str | None = None) -> dict[str, Any]:
    """A single-use ticket for ``principal`` (a key, or a login token named by its digest)."""
    raw = secrets.token_urlsafe(32)
    if principal.user_id is None:
        key_id, token = principal.key_id, None
    elif token_digest is not None:
        key_id, token = None, token_digest
    else:  # pragma: no cover - a user principal always comes with its token
        raise Unauthorized("a stream ticket needs an API key or a login token")
    session.execute(text("DELETE FROM stream_ticket WHERE expires_at < now() - interval '1 minute'"))
    session.execute(text("""
        INSERT INTO stream_ticket (ticket_hash, key_id, token_hash, expires_at)
        VALUES (:h, :k, :t, now() + make_interval(secs => :s))"""),
        {"h": hashlib.sha256(raw.encode()).hexdigest(), "k": key_id, "t": token, "s": TICKET_SECONDS})
    return {"ticket": raw, "expires_in": TICKET_SECONDS}


@dataclass(frozen=True)
class StreamHolder:
    """Who holds an open stream: the principal and, for a person, the digest of their login token."""

    principal: Principal
    token_digest: str | None = None


def check_ticket(session: Session, ticket: str | None, now: float | None = None) -> StreamHolder:
    """Use up ``ticket`` and answer who it stands for; 401 when it is missing, used, expired or its credential
    was revoked since."""
    from api.users.service import verify_token_digest

    bad = Unauthorized("The stream ticket is missing, used, invalid or expired; POST /api/v1/wall/stream/ticket "
                       "for one.")
    if not ticket or len(ticket) > 100:
        raise bad
    row = session.execute(text("""
        DELETE FROM stream_ticket WHERE ticket_hash = :h RETURNING key_id, token_hash, expires_at > now() AS live"""),
        {"h": hashlib.sha256(ticket.encode()).hexdigest()}).first()
    session.commit()  # used, whatever follows
    if row is None or not row.live:
        raise bad
    if row.key_id is not None:
        principal, digest = verify_key_id(session, key_id=row.key_id), None
    else:
        principal, digest = verify_token_digest(session, digest=row.token_hash.strip()), row.token_hash.strip()
    if principal is None or not can(principal.role, Can.READ_WALL):
        raise bad
    return StreamHolder(principal, digest)


class Hub:
    """Fans notices out to subscriber queues on the event loop that serves the streams."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._subs: set[asyncio.Queue] = set()
        self._holders: dict[asyncio.Queue, StreamHolder] = {}
        self._lock = threading.Lock()
        self.delivered = 0

    def subscribe(self, holder: StreamHolder | None = None) -> asyncio.Queue:
        q: asyncio.Queue = asyncio.Queue(maxsize=QUEUE_SIZE)
        with self._lock:
            self._subs.add(q)
            if holder is not None:
                self._holders[q] = holder
        return q

    def unsubscribe(self, q: asyncio.Queue) -> None:
        with self._lock:
            self._subs.discard(q)
            self._holders.pop(q, None)

    def on_auth(self, what: str | None) -> None:
        """Called on a listener thread with an auth notice: end the streams of the principal it names. A lost
        connection (None) ends none: the credentials are re-checked when the clients reconnect."""
        if what is None:
            return
        try:
            self.loop.call_soon_threadsafe(self._revoke, what)
        except RuntimeError:  # the loop is closed: shutting down
            pass

    def _revoke(self, what: str) -> None:
        with self._lock:
            doomed = [q for q, h in self._holders.items() if matches(h.principal, what, h.token_digest)]
        for q in doomed:
            while not q.empty():
                q.get_nowait()
            q.put_nowait(REVOKED)

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def on_notice(self, payload: str | None) -> None:
        """Called on the listener thread; ``None`` means "notices may have been lost"."""
        if payload is None:
            event = {"event": "resync", "data": "{}"}
        else:
            try:
                body = orjson.loads(payload)
            except orjson.JSONDecodeError:
                log.warning("ignoring a malformed gridmap_report notice: %.80s", payload)
                return
            body["notified_at"] = round(time.time() * 1000)
            event = {"event": "report", "id": str(body.get("id", "")), "data": orjson.dumps(body).decode()}
        try:
            self.loop.call_soon_threadsafe(self._fanout, event)
        except RuntimeError:  # the loop is closed: shutting down
            pass

    def _fanout(self, event: dict) -> None:
        with self._lock:
            subs = list(self._subs)
        for q in subs:
            if q.full():  # a stalled client: drop its oldest event, tell it to resync
                try:
                    q.get_nowait()
                except asyncio.QueueEmpty:
                    pass
                event = {**event, "event": "resync"} if event["event"] != "report" else event
            q.put_nowait(event)
            self.delivered += 1


def replay_after(session: Session, after: int, now_minutes: int = REPLAY_MINUTES) -> list[dict] | None:
    """The ``report`` events of the reports after report ``after``, as the intake notice has them, oldest
    first; None (resynchronise instead) when more than ``REPLAY_MAX`` were missed or the client has been away
    longer than ``REPLAY_MINUTES``. Read newest first from the primary key, so an old ``after`` costs no more
    than a recent one."""
    rows = session.execute(text("""
        SELECT r.id, k.id AS case_id, ST_X(r.location) AS lon, ST_Y(r.location) AS lat, rt.grid_code AS grid,
               rt.method, r.category_code AS category, r.source, r.reported_at,
               r.received_at > now() - make_interval(mins => :mins) AS recent
        FROM report r
        JOIN LATERAL (SELECT grid_code, method FROM routing x WHERE x.report_id = r.id ORDER BY x.id LIMIT 1) rt
          ON true
        LEFT JOIN LATERAL (SELECT id FROM cases c WHERE c.report_id = r.id ORDER BY c.id LIMIT 1) k ON true
        WHERE r.id > :after
        ORDER BY r.id DESC LIMIT :lim"""), {"after": after, "mins": now_minutes, "lim": REPLAY_MAX + 1}).all()
    if len(rows) > REPLAY_MAX or not all(r.recent for r in rows):
        return None
    rows.reverse()
    now = round(time.time() * 1000)
    return [{"event": "report", "id": str(r.id), "data": orjson.dumps({
        "id": r.id, "case_id": r.case_id, "lon": r.lon, "lat": r.lat, "grid": r.grid, "method": r.method,
        "category": r.category, "source": r.source, "reported_at": r.reported_at.isoformat(), "duplicates": [],
        "notified_at": now, "replayed": True}).decode()} for r in rows]
