"""Live reports for the wall: NOTIFY gridmap_report -> one LISTEN thread -> every SSE subscriber.

``EventSource`` cannot send an ``Authorization`` header, and a long-lived API key must never sit in a
URL (proxies and logs keep URLs). So a client first POSTs, with its key, for a **stream ticket**:
``<key id>.<expiry>.<HMAC-SHA256>`` valid for 60 seconds, signed with the key's stored digest (a signed-in
person or wall screen: ``u<user id>.…``, signed with a live login token's digest). Opening
the stream checks the signature, the expiry and that the key is still not revoked; a leaked ticket is
useless a minute later, and revoking the key stops new streams at once. Tickets work across worker
processes (no per-process secret).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import threading
import time
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.auth.service import Principal
from api.core.deps import READERS
from api.core.errors import Unauthorized

log = logging.getLogger("gridmap.wall")
CHANNEL = "gridmap_report"
TICKET_SECONDS = 60
QUEUE_SIZE = 2000
#: How far back a reconnecting client is caught up, and how many reports at most.
REPLAY_MINUTES = 10
REPLAY_MAX = 1000


def _sign(secret: str, msg: str) -> str:
    mac = hmac.new(secret.encode(), msg.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def issue_ticket(session: Session, principal: Principal, now: float | None = None) -> dict[str, Any]:
    """A ticket for a key (``<key id>.<exp>.<sig>``) or for a signed-in person or wall screen
    (``u<user id>.<exp>.<sig>``, signed with the digest of one of the user's live login tokens, so that signing out
    or an admin's "end sessions" stops new streams at once, as revoking a key does)."""
    exp = int((now or time.time()) + TICKET_SECONDS)
    if principal.user_id is not None:
        digest = session.execute(text("""SELECT token_hash FROM user_token WHERE user_id = :u AND revoked_at IS NULL
                                         AND expires_at > now() ORDER BY id DESC LIMIT 1"""),
                                 {"u": principal.user_id}).scalar()
        if digest is None:
            raise Unauthorized("The login token is unknown, expired or revoked; log in again.")
        msg = f"u{principal.user_id}.{exp}"
        return {"ticket": f"{msg}.{_sign(digest, 'stream:' + msg)}", "expires_in": TICKET_SECONDS}
    digest = session.execute(text("SELECT key_hash FROM api_key WHERE id = :i"), {"i": principal.key_id}).scalar()
    if digest is None:
        raise Unauthorized("The API key is unknown or has been revoked.")
    msg = f"{principal.key_id}.{exp}"
    return {"ticket": f"{msg}.{_sign(digest, 'stream:' + msg)}", "expires_in": TICKET_SECONDS}


def _check_user_ticket(session: Session, user_id: int, exp: int, sig: str, bad: Exception) -> Principal:
    rows = session.execute(text("""
        SELECT t.token_hash, u.username, u.role FROM user_token t JOIN app_user u ON u.id = t.user_id
        WHERE t.user_id = :u AND t.revoked_at IS NULL AND t.expires_at > now() AND u.active"""), {"u": user_id}).all()
    for r in rows:
        if hmac.compare_digest(_sign(r.token_hash, f"stream:u{user_id}.{exp}"), sig):
            if r.role != "admin" and r.role not in READERS:
                raise bad
            return Principal(0, r.username, r.role, user_id=user_id)
    raise bad


def check_ticket(session: Session, ticket: str | None, now: float | None = None) -> Principal:
    bad = Unauthorized("The stream ticket is missing, invalid or expired; POST /api/v1/wall/stream/ticket for one.")
    parts = (ticket or "").split(".")
    if len(parts) == 3 and parts[0][:1] == "u" and parts[0][1:].isdigit() and parts[1].isdigit():
        if int(parts[1]) < (now or time.time()):
            raise bad
        return _check_user_ticket(session, int(parts[0][1:]), int(parts[1]), parts[2], bad)
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        raise bad
    key_id, exp, sig = int(parts[0]), int(parts[1]), parts[2]
    if exp < (now or time.time()):
        raise bad
    row = session.execute(text("SELECT id, name, role, key_hash FROM api_key WHERE id = :i AND revoked_at IS NULL"),
                          {"i": key_id}).first()
    if row is None or not hmac.compare_digest(_sign(row.key_hash, f"stream:{key_id}.{exp}"), sig):
        raise bad
    if row.role != "admin" and row.role not in READERS:
        raise bad
    return Principal(row.id, row.name, row.role)


class Hub:
    """Fans notices out to subscriber queues on the event loop that serves the streams."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._subs: set[asyncio.Queue] = set()
        self._lock = threading.Lock()
        self.delivered = 0

    def subscribe(self) -> asyncio.Queue:
        q: asyncio.Queue = asyncio.Queue(maxsize=QUEUE_SIZE)
        with self._lock:
            self._subs.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue) -> None:
        with self._lock:
            self._subs.discard(q)

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
