"""The audit log: every write request (who, what, when, from where), queryable by admins.

A pure ASGI middleware (``AuditMiddleware``) records every POST / PUT / PATCH / DELETE under ``/api/`` and
``/open311/`` after it has been answered, whatever the outcome (a refused write is worth knowing about
too; ``status`` says how it ended). It records the principal (``key:<name>`` or ``user:<name>``, set on
``request.state`` by ``get_principal``), its role, method, path, query string (without anything that looks
like a secret), status, client address and user agent. Request bodies are never logged: they may carry
passwords, and the domain tables already keep what was written (cases keep their own event log).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import Request
from sqlalchemy import text
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.core.config import Settings

log = logging.getLogger("gridmap.audit")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
AUDITED_PREFIXES = ("/api/", "/open311/")
_SECRET_WORDS = ("key", "token", "password", "secret")


def client_ip(request: Request, settings: Settings) -> str | None:
    return _client_ip(request.scope, request.headers.get("x-forwarded-for"), settings.trust_forwarded_for)


def _client_ip(scope: Scope, forwarded: str | None, trust_forwarded: bool) -> str | None:
    if trust_forwarded and forwarded:
        return forwarded.split(",")[0].strip()[:64]
    client = scope.get("client")
    return client[0] if client else None


def _clean_query(raw: bytes) -> str | None:
    if not raw:
        return None
    pairs = [(k, "***" if any(w in k.lower() for w in _SECRET_WORDS) else v)
             for k, v in parse_qsl(raw.decode("latin-1"), keep_blank_values=True)]
    return urlencode(pairs)[:2000]


def record(session: Session, *, actor: str, role: str | None, method: str, path: str, query: str | None,
           status: int, ip: str | None, user_agent: str | None) -> None:
    """One audit row. A path may carry a NUL (``/grids/%00``), which PostgreSQL cannot store: written as %00,
    so that the request is still on record."""
    session.execute(text("""
        INSERT INTO audit_log (actor, role, method, path, query, status, client_ip, user_agent)
        VALUES (:actor, :role, :method, :path, :query, :status, :ip, :ua)"""),
        _row(actor=actor, role=role, method=method, path=path, query=query, status=status, ip=ip,
             user_agent=user_agent))


def _row(*, actor: str, role: str | None, method: str, path: str, query: str | None, status: int, ip: str | None,
         user_agent: str | None) -> dict[str, Any]:
    return {"actor": actor[:200], "role": role, "method": method, "path": path.replace("\x00", "%00")[:2000],
            "query": query, "status": status, "ip": ip, "ua": (user_agent or "")[:300] or None}


_RECORD_MANY = text("""
    INSERT INTO audit_log (actor, role, method, path, query, status, client_ip, user_agent)
    SELECT * FROM unnest(CAST(:actor AS text[]), CAST(:role AS text[]), CAST(:method AS text[]),
                         CAST(:path AS text[]), CAST(:query AS text[]), CAST(:status AS int[]),
                         CAST(:ip AS text[]), CAST(:ua AS text[]))""")


def record_many(session: Session, rows: list[dict[str, Any]]) -> list[None]:
    """The rows of a whole batch of requests (``record``'s keyword arguments each) in one statement: the audit
    writer's ``bulk`` (api/core/batch.py). Under intake load that is one INSERT a batch, not one a request."""
    cols: dict[str, list[Any]] = {k: [] for k in ("actor", "role", "method", "path", "query", "status", "ip", "ua")}
    for fields in rows:
        for k, v in _row(**fields).items():
            cols[k].append(v)
    session.execute(_RECORD_MANY, cols)
    return [None] * len(rows)


class AuditMiddleware:
    """Record every write request in ``audit_log`` once it has been answered."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WRITE_METHODS \
                or not scope["path"].startswith(AUDITED_PREFIXES):
            await self.app(scope, receive, send)
            return
        status_holder = {"status": 500}

        async def _send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, _send)
        finally:
            await self._record(scope, status_holder["status"])

    async def _record(self, scope: Scope, status: int) -> None:
        app = scope.get("app")
        if app is None:
            return
        state: dict[str, Any] = scope.get("state") or {}
        principal = state.get("principal")
        actor = principal.actor if principal is not None else state.get("actor", "anonymous")
        role = principal.role if principal is not None else state.get("role")
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        settings: Settings = app.state.settings
        fields = {"actor": actor, "role": role, "method": scope["method"], "path": scope["path"],
                  "query": _clean_query(scope.get("query_string", b"")), "status": status,
                  "ip": _client_ip(scope, headers.get("x-forwarded-for"), settings.trust_forwarded_for),
                  "user_agent": headers.get("user-agent")}
        try:
            factory = await _session_factory(app)
            writer = getattr(app.state, "audit_writer", None)
            if writer is None:  # an app assembled without create_app
                await run_in_threadpool(_write, factory, **fields)
            else:  # many requests' rows in one transaction (api/core/batch.py)
                await writer.run(factory, lambda session: record(session, **fields), prepare=lambda _: fields)
        except Exception:  # the audit log must never turn an answered request into an error
            log.exception("could not write the audit log for %s %s", scope["method"], scope["path"])


async def _session_factory(app: Any) -> Callable[[], AbstractContextManager[Session]]:
    """The app's session factory, honouring a test's dependency override (so tests stay rolled back)."""
    from api.core.deps import get_session_factory

    override = app.dependency_overrides.get(get_session_factory)
    if override is not None:
        return await override()
    return app.state.sessionmaker


def audit_prepare(session: Session) -> None:
    """The answer has been sent; waiting for the audit rows' WAL flush would only hold the writer (and the flush
    queue intake waits on). An OS crash within ~0.6 s could lose the rows; a process crash cannot (the middleware
    returns only once they are committed)."""
    session.execute(text("SET LOCAL synchronous_commit = off"))


def _write(factory: Callable[[], AbstractContextManager[Session]], **fields: Any) -> None:
    with factory() as session:
        audit_prepare(session)
        record(session, **fields)
        session.commit()


def query_log(session: Session, *, actor: str | None, method: str | None, path_prefix: str | None,
              status: int | None, since: datetime | None, until: datetime | None, limit: int,
              offset: int) -> tuple[list[dict[str, Any]], int]:
    where = """WHERE (CAST(:actor AS text) IS NULL OR actor = :actor)
               AND (CAST(:method AS text) IS NULL OR method = :method)
               AND (CAST(:prefix AS text) IS NULL OR starts_with(path, :prefix))
               AND (CAST(:status AS int) IS NULL OR status = :status)
               AND (CAST(:since AS timestamptz) IS NULL OR at >= :since)
               AND (CAST(:until AS timestamptz) IS NULL OR at < :until)"""
    params = {"actor": actor, "method": method, "prefix": path_prefix, "status": status, "since": since,
              "until": until}
    total = session.execute(text(f"SELECT count(*) FROM audit_log {where}"), params).scalar_one()
    rows = session.execute(text(f"""SELECT id, at, actor, role, method, path, query, status, client_ip, user_agent
                                    FROM audit_log {where} ORDER BY at DESC, id DESC LIMIT :limit OFFSET :offset"""),
                           {**params, "limit": limit, "offset": offset}).mappings().all()
    return [dict(r) for r in rows], total
