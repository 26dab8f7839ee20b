"""The hot path of ``GET /api/v1/locate``: a pure ASGI shortcut past FastAPI's router and dependency solver.

Why: profiling a live server under ``hey`` (1,000 req/s) showed a located point costing about 1.1 ms of CPU,
of which the routing itself (``RoutingIndex.route``) was 6 % and FastAPI's route matching (some 60 routes),
dependency solving and query validation over a third. For the one request that a hotline bridge or a
dispatch screen sends thousands of times a minute that overhead *is* the latency.

What it answers: only the plain case that the regular endpoint would answer from memory with 200:
well-formed ``lon``/``lat`` (optionally ``crs``, ``at``, ``layout``, ``engine=index``), an API key (``gm_…``)
that the process verified recently (:func:`api.auth.service.cached_principal`, so revocation behaves exactly as
on the regular path), and a layout whose index is already built. Everything else (no or unknown key, a login
token, an address, ``engine=postgis``, a cache miss, a parameter that does not parse, any error at all) is
handed unchanged to the regular FastAPI endpoint, which therefore stays the single place that decides every
error (problem+json and its ``code``). The answer is built by the same :func:`api.locate.service.locate_one`,
so both paths return the same bytes; tests hold them equal.

The shortcut sits inside :class:`api.core.observe.ObserveMiddleware`: metrics (with the same route label),
the request id and the access log treat its answers like any other. It becomes active only after the regular
endpoint has answered once in this process (it borrows that route object for the metrics label), and it
stands aside while a test overrides the principal dependency.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from api.auth.service import cached_principal
from api.core.params import MAX_BIGINT
from api.locate import service

PATH = "/api/v1/locate"
_NUMBER = re.compile(r"^[+-]?[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?$")
_ID = re.compile(r"^[1-9][0-9]{0,18}$")
_KNOWN = frozenset({"lon", "lat", "crs", "at", "layout", "engine"})
_HEADERS = [(b"content-type", b"application/json")]


class LocateFastPath:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.route: Any = None  # the regular endpoint's route, learnt from its first answer
        self.answered = 0  # requests answered here (the tests check that the shortcut was taken)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        if self.route is not None:
            body = self._answer(scope)
            if body is not None:
                scope["route"] = self.route
                self.answered += 1
                await send({"type": "http.response.start", "status": 200,
                            "headers": [*_HEADERS, (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
        if self.route is None and scope.get("route") is not None:
            self.route = scope["route"]

    def _answer(self, scope: Scope) -> bytes | None:
        """The answer's body, or None when the regular endpoint must decide."""
        app = scope.get("app")
        if app is None:
            return None
        from api.auth.deps import get_principal

        if get_principal in app.dependency_overrides:
            return None
        principal = _principal(scope)
        if principal is None:
            return None
        params = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        query = dict(params)
        if len(query) != len(params) or not query.keys() <= _KNOWN:
            return None
        lon, lat, layout = query.get("lon"), query.get("lat"), query.get("layout")
        if lon is None or lat is None or not _NUMBER.match(lon) or not _NUMBER.match(lat):
            return None
        if query.get("engine", "index") != "index":
            return None
        layout_id = None
        if layout is not None:
            if not _ID.match(layout) or int(layout) > MAX_BIGINT:
                return None
            layout_id = int(layout)
        settings = app.state.settings
        try:
            when = service.parse_time(query.get("at"), tz=settings.timezone)
            found = service.locate_one(app.state.index_cache, None, x=float(lon), y=float(lat),
                                       crs=query.get("crs"), at=when, layout_id=layout_id,
                                       tolerance_m=settings.routing_tolerance_m)
        except Exception:  # every error is the regular endpoint's to answer (same problem+json)
            return None
        if found is None:
            return None
        scope.setdefault("state", {})["principal"] = principal
        return orjson.dumps(found)


def _principal(scope: Scope) -> Any:
    for name, value in scope.get("headers") or ():
        if name == b"authorization":
            scheme, _, raw = value.decode("latin-1").partition(" ")
            raw = raw.strip()  # as fastapi.security.utils.get_authorization_scheme_param reads it
            if scheme.lower() != "bearer" or not raw.startswith("gm_"):
                return None
            return cached_principal(raw)
    return None
