"""The hot path of ``POST /api/v1/reports``: a pure ASGI shortcut past FastAPI's router and dependency solver.

Why (issue 4): with intake's writes grouped into one statement a batch, the server's own CPU per report became
the limit, and most of it was not intake at all: measured in-process (no sockets, 800 reports, 16 at a time),
FastAPI's route matching (the request is matched against every route of the API, some 150) and the solving of
the endpoint's nine dependencies took about half of the event loop's time per report.

What it answers: the plain case only. A JSON body that :class:`ReportIn` accepts, an API key (``gm_…``) this
process verified recently (:func:`api.auth.service.cached_principal`, so revocation behaves as on the regular
path) with a role that may post, and at most one ``Idempotency-Key``. Anything else (no or unknown key, a login
token, another content type, a body that does not validate, a test overriding the principal) goes unchanged to
the regular endpoint, with the body it has read played back, so that endpoint stays the one place that words
every refusal of a request. Once the report is handed to the writer the outcome is the writer's, exactly as on
the regular path: the same :func:`api.reports.intake.submit`, the same back-pressure (token bucket, in-flight
cap), the same headers and body bytes (tests hold them equal), and an error is turned into its problem+json by
the app's own exception handlers.

It sits inside the audit and body-size middlewares (both see it like any request) and becomes active only after
the regular endpoint has answered once in this process (it borrows that route object for the metrics label,
as api/locate/fast.py does).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth.roles import Can, can
from api.core.limits import replay_body
from api.locate.fast import _principal
from api.reports.schemas import ReportIn

PATH = "/api/v1/reports"


class IntakeFastPath:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.route: Any = None  # the regular endpoint's route, learnt from its first answer
        self.answered = 0  # requests answered here, refusals included (the tests check the shortcut was taken)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        if self.route is None:
            await self.app(scope, receive, send)
            if scope.get("route") is not None:
                self.route = scope["route"]
            return
        app = scope.get("app")
        ready = self._ready(app, scope)
        if ready is None:
            await self.app(scope, receive, send)
            return
        principal, key = ready
        body, more = await _read(receive)
        if more is not None:  # the client went away mid-body: nothing to answer
            return
        try:
            report = ReportIn.model_validate_json(body)
        except ValidationError:
            report = None
        if report is None:
            await self.app(scope, replay_body(body, receive), send)
            return
        await self._answer(app, scope, receive, send, principal, key, report)

    def _ready(self, app: Any, scope: Scope) -> tuple[Any, str | None] | None:
        """(principal, Idempotency-Key) when the request is one this path takes, else None."""
        if app is None:
            return None
        from api.auth.deps import get_principal

        if get_principal in app.dependency_overrides:
            return None
        key = None
        json = False
        for name, value in scope.get("headers") or ():
            if name == b"idempotency-key":
                if key is not None:
                    return None
                key = value.decode("latin-1")
            elif name == b"content-type":
                json = value.split(b";", 1)[0].strip().lower() == b"application/json"
        if not json:
            return None
        principal = _principal(scope)
        if principal is None or not can(principal.role, Can.FILE_REPORTS):
            return None
        return principal, key

    async def _answer(self, app: Any, scope: Scope, receive: Receive, send: Send, principal: Any,
                      key: str | None, report: ReportIn) -> None:
        from api.auth.deps import limit_intake
        from api.core.deps import get_session_factory
        from api.reports.intake import submit

        scope["route"] = self.route
        scope.setdefault("state", {})["principal"] = principal  # for the audit log, as get_principal does
        request = Request(scope, receive)
        state = app.state
        self.answered += 1
        try:
            await limit_intake(request, principal)
            try:
                override = app.dependency_overrides.get(get_session_factory)
                factory = await override() if override is not None else state.sessionmaker
                out = await submit(state, factory, body=report, idempotency_key=key, principal=principal)
            finally:
                state.intake_inflight.release()
        except Exception as exc:  # answered by the app's own handler, as the endpoint's would be
            response = await _handler(app, exc)(request, exc)
            await response(scope, receive, send)
            return
        payload = out.model_dump_json().encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
                   (b"location", f"{PATH}/{out.id}".encode())]
        if out.replayed:
            headers.append((b"idempotent-replayed", b"true"))
        await send({"type": "http.response.start", "status": 200 if out.replayed else 201, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


async def _read(receive: Receive) -> tuple[bytes, Message | None]:
    """The whole body; and the message that ended it early (a disconnect), else None."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"", message
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), None


def _handler(app: Any, exc: BaseException) -> Any:
    for cls in type(exc).__mro__:
        handler = app.exception_handlers.get(cls)
        if handler is not None:
            return handler
    raise exc
