"""Observability: Prometheus metrics at ``/metrics`` and one structured log line per request.

One pure ASGI middleware (:class:`ObserveMiddleware`, the outermost) times every request, labels it with its
*route template* (``/api/v1/reports/{report_id}``, never the raw path, so the number of series stays bounded),
counts it by status, gives it a request id (the client's ``X-Request-ID`` when it is sane, else a new one,
echoed in the response) and logs it: request id, method, route, status, duration and the principal's name
(``key:<name>`` / ``user:<name>``, never the key). Domain counters (routing decisions by method, intake
outcomes) are incremented where the decision is made (api/reports/service.py, api/locate).

The metrics live in the process (prometheus-client's default registry, with its process_* collectors): run
one uvicorn worker per host, or scrape each. ``/metrics`` needs no key, as scrapers expect; it tells request
counts and latencies, nothing about reports. Put it behind the proxy's allow-list when that matters, or set
``GRIDMAP_METRICS=false`` to turn it off.
"""

from __future__ import annotations

import contextvars
import functools
import itertools
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import IO, Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("gridmap.access")

#: The current request's id, for every log line written while it is handled (threads included: anyio copies
#: the context into the worker thread of a sync endpoint).
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("gridmap_request_id", default=None)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

HTTP_REQUESTS = Counter("gridmap_http_requests_total", "HTTP requests answered, by route template and status",
                        ["method", "route", "status"])
HTTP_LATENCY = Histogram("gridmap_http_request_duration_seconds", "Time to answer, by route template",
                         ["method", "route"], buckets=LATENCY_BUCKETS)
HTTP_INFLIGHT = Gauge("gridmap_http_requests_in_flight", "HTTP requests being answered now")
ROUTING_DECISIONS = Counter("gridmap_routing_decisions_total",
                            "Points routed to grids, by method (inside, edge, nearest, unrouted) and caller",
                            ["method", "via"])
ROUTING_LATENCY = Histogram("gridmap_routing_duration_seconds", "Time of one routing call (single or batch)",
                            ["via"], buckets=(0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0))
INTAKE = Counter("gridmap_intake_reports_total",
                 "Report intake outcomes: accepted (new), replayed (idempotent retry), rejected (4xx), "
                 "rate_limited (429), unavailable (503: overloaded, database down)", ["outcome", "source"])
INTAKE_LATENCY = Histogram("gridmap_intake_duration_seconds", "Time to store, route and open a report (committed)",
                           buckets=LATENCY_BUCKETS)

def record_routing(methods: Any, *, via: str, seconds: float) -> None:
    """Count a routing call's decisions by method (``methods``: the method codes of geo.routing, one a point)."""
    import numpy as np

    from geo.routing import METHODS

    arr = np.asarray(methods, dtype=np.int64).ravel()
    if arr.size == 1:  # one located point (GET /locate): no bincount, one cached child
        _routing_child(METHODS[int(arr[0])], via).inc()
        _routing_latency_child(via).observe(seconds)
        return
    counts = np.bincount(arr, minlength=len(METHODS))
    for i, n in enumerate(counts):
        if n:
            ROUTING_DECISIONS.labels(METHODS[i], via).inc(int(n))
    ROUTING_LATENCY.labels(via).observe(seconds)


@functools.cache
def _routing_child(method: str, via: str) -> Any:
    return ROUTING_DECISIONS.labels(method, via)


@functools.cache
def _routing_latency_child(via: str) -> Any:
    return ROUTING_LATENCY.labels(via)


INTAKE_PATHS = {("POST", "/api/v1/reports"), ("POST", "/open311/v2/requests.json"),
                ("POST", "/open311/v2/requests.xml")}
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def route_label(scope: Scope) -> str:
    """The matched route's full template, e.g. ``/api/v1/reports/{report_id}``.

    FastAPI keeps an included router's routes with their own path (``/reports/{report_id}``) and the prefix
    apart, so the prefix is recovered from the request path: the longest tail the route's pattern matches."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path is None:
        return "unmatched"
    if path == "":
        return "static"  # the web front end, mounted at "/"
    regex = getattr(route, "path_regex", None)
    full = scope.get("path", "")
    if regex is not None and not regex.match(full):
        for i, ch in enumerate(full):
            if ch == "/" and i and regex.match(full[i:]):
                return full[:i] + path
    return path


def intake_outcome(status: int) -> str:
    if status == 201:
        return "accepted"
    if status == 200:
        return "replayed"
    if status == 429:
        return "rate_limited"
    if status >= 500:
        return "unavailable" if status == 503 else "error"
    return "rejected"


_PROCESS_PREFIX = uuid.uuid4().hex[:12]
_counter = itertools.count(1)


def new_request_id() -> str:
    """A request id unique across processes and restarts: a random per-process prefix and a counter. Cheaper
    than a uuid4 a request (no ``os.urandom`` system call on the hot path), and as unique; it is a correlation
    id, not a secret."""
    return f"{_PROCESS_PREFIX}{next(_counter):08x}"


class _Series:
    """Label children of the per-request metrics, looked up once per (method, route, status): prometheus-client's
    ``labels()`` takes a lock and builds a tuple on every call, a measurable share of a 1 ms request."""

    def __init__(self) -> None:
        self._requests: dict[tuple[str, str, int], Any] = {}
        self._latency: dict[tuple[str, str], Any] = {}

    def requests(self, method: str, route: str, status: int) -> Any:
        key = (method, route, status)
        child = self._requests.get(key)
        if child is None:
            child = self._requests[key] = HTTP_REQUESTS.labels(method, route, str(status))
        return child

    def latency(self, method: str, route: str) -> Any:
        key = (method, route)
        child = self._latency.get(key)
        if child is None:
            child = self._latency[key] = HTTP_LATENCY.labels(method, route)
        return child


_SERIES = _Series()
_READS = frozenset({"GET", "HEAD", "OPTIONS"})


class ObserveMiddleware:
    """Metrics for every request (exact), a request id for every request, and the access log line.

    The log line is written for every request that is worth reading later: any answer of 400 or more, any
    request slower than ``log_slow_ms``, every write (POST/PUT/PATCH/DELETE), and every request whose client
    sent its own ``X-Request-ID`` (it is tracing that request). Of the rest, plain fast successful reads, a
    fraction ``log_sample`` is logged (1.0: all; 0: none). At 1,000 located points a second one line each was
    about 4 % of the server's CPU and a log volume nobody reads; the metrics still count every request.
    """

    def __init__(self, app: ASGIApp, *, log_sample: float = 1.0, log_slow_ms: float = 500.0) -> None:
        self.app = app
        self.log_sample = log_sample
        self.log_slow_s = log_slow_ms / 1000.0
        self._sample_every = 0 if log_sample <= 0 else max(1, round(1.0 / min(1.0, log_sample)))
        self._reads = itertools.count()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = None
        for name, value in scope.get("headers") or ():
            if name == b"x-request-id":
                given = value.decode("latin-1")
                break
        traced = given is not None and _REQUEST_ID.match(given) is not None
        rid = given if traced else new_request_id()
        token = request_id_var.set(rid)
        status = 500
        status_sent = False
        start = time.perf_counter()
        rid_header = (b"x-request-id", rid.encode())

        async def _send(message: Message) -> None:
            nonlocal status, status_sent
            if message["type"] == "http.response.start":
                status, status_sent = message["status"], True
                message["headers"] = [*message.get("headers", ()), rid_header]
            await send(message)

        HTTP_INFLIGHT.inc()
        try:
            await self.app(scope, receive, _send)
        except Exception as exc:
            # Unhandled here means Starlette's ServerErrorMiddleware (outside this one) would answer it, and
            # this middleware would count whatever that answer is as a 500, database-down 503s included. So
            # the answer is rendered here, by the app's own rule (api/core/errors.py), and its real status
            # counted and logged; a genuine bug is re-raised after its 500 so that the server logs it.
            if status_sent:
                raise
            from api.core.errors import unexpected_response

            answer = unexpected_response(Request(scope), exc)
            await answer(scope, receive, _send)
            if answer.status_code == 500:
                raise
        finally:
            HTTP_INFLIGHT.dec()
            elapsed = time.perf_counter() - start
            method, path, route = scope["method"], scope["path"], route_label(scope)
            _SERIES.requests(method, route, status).inc()
            _SERIES.latency(method, route).observe(elapsed)
            if (method, path) in INTAKE_PATHS:
                INTAKE.labels(intake_outcome(status), "open311" if "open311" in path else "api").inc()
                if status in (200, 201):
                    INTAKE_LATENCY.observe(elapsed)
            if self._log_this(method, status, elapsed, traced):
                principal = (scope.get("state") or {}).get("principal")
                log.info("%s %s %s", method, path, status, extra={
                    "request_id": rid, "method": method, "route": route, "path": path, "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "principal": principal.actor if principal is not None else None})
            request_id_var.reset(token)

    def _log_this(self, method: str, status: int, elapsed: float, traced: bool) -> bool:
        if status >= 400 or elapsed >= self.log_slow_s or traced or method not in _READS:
            return True
        # Every n-th plain read rather than a random draw: deterministic, and no RNG call a request.
        return self._sample_every > 0 and next(self._reads) % self._sample_every == 0


def metrics_endpoint(_: Request) -> Response:
    """Prometheus text exposition of this process's metrics."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


# ------------------------------------------------------------------------------------------------ logging

_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, the request id when inside a
    request, any ``extra={...}`` fields, and the traceback as ``exc``."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage(),
        }
        rid = request_id_var.get()
        if rid is not None:
            out["request_id"] = rid
        for k, v in vars(record).items():
            if k not in _RESERVED and not k.startswith("_"):
                out[k] = v
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        rid = request_id_var.get()
        return f"{line} [{rid}]" if rid else line


def configure_logging(fmt: str = "text", level: str = "INFO", *, stream: IO[str] | None = None) -> logging.Handler:
    """Send gridmap's and uvicorn's loggers to one handler on the root logger, as JSON lines or text.

    Idempotent (create_app may run several times in a process): the handler installed before is replaced,
    any other handler (pytest's capture, an operator's own) is left alone."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler._gridmap = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if fmt == "json" else
                         _TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_gridmap", False):
            root.removeHandler(h)
    root.addHandler(handler)
    # gridmap's own level; the root stays where it was, so libraries (httpx, asyncio) do not get chattier.
    logging.getLogger("gridmap").setLevel(level.upper())
    if fmt == "json":  # uvicorn installs its own text handlers: route its records through ours instead
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
            lg = logging.getLogger(name)
            lg.handlers.clear()
            lg.propagate = True
    return handler
