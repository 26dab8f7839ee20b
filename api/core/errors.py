"""One exception hierarchy, rendered in one place as RFC 9457 ``application/problem+json``.

Each class carries its HTTP status and a machine-readable ``code`` so that clients (hotline
systems, mini-programs) can branch on ``code`` without parsing English prose.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("gridmap")

PROBLEM_JSON = "application/problem+json"


class GridmapError(Exception):
    """Base of every error the service means to show a client."""

    status: int = 500
    code: str = "internal_error"
    title: str = "Internal error"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"https://gridmap.dev/problems/{self.code}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return body


class BadRequest(GridmapError):
    status, code, title = 400, "bad_request", "Bad request"


class InvalidParameter(BadRequest):
    code, title = "invalid_parameter", "Invalid parameter"


class InvalidGeometry(GridmapError):
    status, code, title = 422, "invalid_geometry", "Invalid geometry"


class ValidationFailed(GridmapError):
    status, code, title = 422, "validation_error", "Request validation failed"


class Unauthorized(GridmapError):
    status, code, title = 401, "unauthorized", "Missing or invalid API key"


class Forbidden(GridmapError):
    status, code, title = 403, "forbidden", "Not allowed for this role"


class NotFound(GridmapError):
    status, code, title = 404, "not_found", "Not found"


class Conflict(GridmapError):
    status, code, title = 409, "conflict", "Conflict"


class IllegalTransition(Conflict):
    """A case cannot go from its status to the one asked for (see api/cases/workflow.py)."""

    code, title = "illegal_transition", "Illegal case transition"


class InvalidCredentials(Unauthorized):
    code, title = "invalid_credentials", "Wrong username or password"


class ServiceUnavailable(GridmapError):
    status, code, title = 503, "service_unavailable", "Service unavailable"


class ImportFailed(GridmapError):
    """A file could not be imported; ``row`` and ``reason`` say where and why."""

    status, code, title = 422, "import_failed", "Import failed"


def problem_response(err: GridmapError, request: Request | None = None) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if err.status == 401 else None
    instance = str(request.url.path) if request is not None else None
    return JSONResponse(
        err.to_problem(instance), status_code=err.status, media_type=PROBLEM_JSON, headers=headers
    )


_HTTP_CODES = {
    400: ("bad_request", "Bad request"),
    401: ("unauthorized", "Unauthorized"),
    403: ("forbidden", "Forbidden"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    406: ("not_acceptable", "Not acceptable"),
    413: ("payload_too_large", "Payload too large"),
    415: ("unsupported_media_type", "Unsupported media type"),
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(GridmapError)
    async def _gridmap(request: Request, exc: GridmapError) -> JSONResponse:
        return problem_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "field": ".".join(str(p) for p in e.get("loc", ()) if p not in ("body",)),
                "message": e.get("msg", ""),
                "type": e.get("type", ""),
            }
            for e in exc.errors()
        ]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or "Invalid request"
        return problem_response(ValidationFailed(detail, errors=errors), request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code, title = _HTTP_CODES.get(exc.status_code, ("http_error", "HTTP error"))
        err = GridmapError(str(exc.detail) if exc.detail else title)
        err.status, err.code, err.title = exc.status_code, code, title
        return problem_response(err, request)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(GridmapError("An unexpected error occurred; it has been logged."), request)
