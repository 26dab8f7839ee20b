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
from sqlalchemy.exc import DataError
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
        # Extension members never replace the standard ones: a client branches on `status` and `code`.
        body.update({k: v for k, v in self.extra.items() if k not in body})
        return body


class BadRequest(GridmapError):
    status, code, title = 400, "bad_request", "Bad request"


class MalformedBody(BadRequest):
    """The body cannot be read at all (not JSON, not the declared form encoding): 400, as opposed to a body
    that parses but breaks a rule (422 ``validation_error``); see README "Errors"."""

    code, title = "malformed_body", "The body cannot be parsed"


class InvalidEncoding(MalformedBody):
    code, title = "invalid_encoding", "The body is not in its declared character set"


class NestingTooDeep(MalformedBody):
    code, title = "nesting_too_deep", "The JSON body is nested too deeply"


class UnsupportedMediaType(GridmapError):
    status, code, title = 415, "unsupported_media_type", "Unsupported media type"


class InvalidParameter(GridmapError):
    """A parameter or field that parses but breaks a rule: 422, like every such refusal (README "Errors")."""

    status, code, title = 422, "invalid_parameter", "Invalid parameter"


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


class AccountLocked(InvalidCredentials):
    code, title = "account_locked", "The account is locked for a few minutes"


class ServiceUnavailable(GridmapError):
    status, code, title = 503, "service_unavailable", "Service unavailable"


class DatabaseUnavailable(ServiceUnavailable):
    """PostgreSQL cannot be reached (restarting, failing over, out of connections). Nothing was written: the
    request is safe to retry, and ``Retry-After`` says when."""

    code, title = "database_unavailable", "Database unavailable"
    retry_after: int = 2


class QueryTimeout(ServiceUnavailable):
    """A query ran past ``GRIDMAP_STATEMENT_TIMEOUT_MS`` and was cancelled by the server (nothing was written)."""

    code, title = "query_timeout", "Query timed out"
    retry_after: int = 5


class Overloaded(ServiceUnavailable):
    """More intake requests are in flight than ``GRIDMAP_INTAKE_MAX_INFLIGHT``: the request was refused before
    any work, to keep connections free for the map wall and the other pages."""

    code, title = "overloaded", "Intake is saturated"
    retry_after: int = 1


class RateLimited(GridmapError):
    """A key (or login token) posted faster than ``GRIDMAP_INTAKE_RATE`` allows (see api/core/ratelimit.py)."""

    status, code, title = 429, "rate_limited", "Too many requests"
    retry_after: int = 1


class InvalidCharacter(GridmapError):
    """Text with a NUL character: PostgreSQL cannot store one, whichever field or parameter it came in."""

    status, code, title = 422, "invalid_character", "Text contains a character that cannot be stored"


class ImportFailed(GridmapError):
    """A file could not be imported; ``row`` and ``reason`` say where and why."""

    status, code, title = 422, "import_failed", "Import failed"


class EditRefused(GridmapError):
    """A planner's edit of a draft layout that cannot be made (api/planner); the draft is unchanged."""

    status, code, title = 422, "edit_failed", "Edit refused"


class OutsideCommunity(EditRefused):
    code, title = "outside_community", "Grid outside its community"


class SplitFailed(EditRefused):
    code, title = "split_failed", "The line does not split the grid"


class MergeFailed(EditRefused):
    code, title = "merge_failed", "The grids cannot be merged"


class BadCode(EditRefused):
    code, title = "bad_code", "Bad grid code"


class DuplicateCode(Conflict):
    code, title = "duplicate_code", "Grid code already used in this layout"


class RevisionConflict(Conflict):
    """The edit was made against an older revision of the draft; ``revision`` is the current one."""

    code, title = "revision_conflict", "The draft has changed since you loaded it"


class LayoutNotDraft(Conflict):
    code, title = "layout_not_draft", "The layout is not a draft"


class NothingToUndo(Conflict):
    code, title = "nothing_to_undo", "Nothing to undo"


class BlockingFindings(Conflict):
    code, title = "blocking_findings", "The layout has blocking findings"


class PublishConflict(Conflict):
    code, title = "publish_conflict", "Another layout is published from that moment or later"


class UnstaffedGrids(Conflict):
    """Grids of the layout with nobody on duty; ``grids`` lists them (accept them with a reason, or staff them)."""

    code, title = "unstaffed_grids", "Grids with nobody on duty"


class NotScheduled(Conflict):
    """Only a publish whose moment has not come can be cancelled; ``layout_status`` says what the layout is."""

    code, title = "publish_not_scheduled", "The layout has no publish waiting to take effect"


def problem_response(err: GridmapError, request: Request | None = None) -> JSONResponse:
    headers: dict[str, str] = {}
    if err.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    retry_after = getattr(err, "retry_after", None)
    if retry_after is not None:  # RFC 9110 §10.2.3: whole seconds; clients back off at least this long
        headers["Retry-After"] = str(max(1, int(retry_after)))
    instance = str(request.url.path) if request is not None else None
    return JSONResponse(
        err.to_problem(instance), status_code=err.status, media_type=PROBLEM_JSON, headers=headers or None
    )


def database_error(exc: BaseException) -> GridmapError | None:
    """The problem to show for a database failure, or None when it is a bug (a 500 worth logging).

    A lost or refused connection is a 503 ``database_unavailable`` and a cancelled statement a 503
    ``query_timeout``: both leave nothing written, so clients may retry them with the same Idempotency-Key."""
    import psycopg
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    if isinstance(exc, PoolTimeout):
        return DatabaseUnavailable("no database connection came free in time; retry shortly")
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    if isinstance(orig, psycopg.errors.QueryCanceled):
        return QueryTimeout("the query ran past the statement timeout and was cancelled")
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return DatabaseUnavailable("the database connection was lost; retry shortly")
    if isinstance(orig, psycopg.OperationalError | psycopg.errors.AdminShutdown | psycopg.errors.CannotConnectNow):
        return DatabaseUnavailable("the database is not reachable; retry shortly")
    return None


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


def validation_problem(raw: Any) -> GridmapError:
    """The problem for pydantic's (or FastAPI's) validation errors: a 422 ``validation_error`` listing each field,
    or a 400 ``malformed_body`` when the body was not JSON at all (README "Errors": one status per kind)."""
    errors = [
        {
            "field": ".".join(str(p) for p in e.get("loc", ()) if p not in ("body",)),
            "message": e.get("msg", ""),
            "type": e.get("type", ""),
        }
        for e in raw
    ]
    detail = "; ".join(f"{e['field'] or 'body'}: {e['message']}" for e in errors) or "Invalid request"
    if errors and all(e["type"] == "json_invalid" for e in errors):
        return MalformedBody(f"the body is not valid JSON: {detail}", field="body")
    return ValidationFailed(detail, errors=errors)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(GridmapError)
    async def _gridmap(request: Request, exc: GridmapError) -> JSONResponse:
        return problem_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(validation_problem(exc.errors()), request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code, title = _HTTP_CODES.get(exc.status_code, ("http_error", "HTTP error"))
        err = GridmapError(str(exc.detail) if exc.detail else title)
        err.status, err.code, err.title = exc.status_code, code, title
        if exc.status_code == 400 and exc.detail == "There was an error parsing the body":  # FastAPI's own
            err = MalformedBody("the body cannot be parsed", field="body")
        resp = problem_response(err, request)
        for name, value in (exc.headers or {}).items():  # Allow on a 405 (RFC 9110 §15.5.6), WWW-Authenticate…
            resp.headers[name] = value
        return resp

    @app.exception_handler(DataError)
    async def _data(request: Request, exc: DataError) -> JSONResponse:
        # psycopg refuses NUL before the query is sent; any parameter or body field may carry one (found by
        # tests/api/test_injection.py). Other data errors are bugs of ours: logged, 500.
        if "NUL (0x00)" in str(exc.orig):
            return problem_response(InvalidCharacter(
                "a text parameter or field contains a NUL (\\u0000) character, which cannot be stored"), request)
        return await _unexpected(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return unexpected_response(request, exc)


def unexpected_response(request: Request, exc: BaseException) -> JSONResponse:
    """The answer to an exception no handler took: a 503 for a database that is down or a cancelled query
    (:func:`database_error`), else a logged 500. Starlette calls the ``Exception`` handler from its outermost
    middleware, *outside* the metrics and access log (api/core/observe.py), so that middleware renders the
    answer itself with this function and counts the status the client really got (issue 17: database-down
    503s were counted as 500)."""
    mapped = database_error(exc)
    if mapped is not None:
        log.warning("%s on %s %s: %s", mapped.code, request.method, request.url.path, exc)
        return problem_response(mapped, request)
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(GridmapError("An unexpected error occurred; it has been logged."), request)
