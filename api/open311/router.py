"""Open311 GeoReport v2 under /open311/v2, in JSON and XML (``….json`` / ``….xml``), plus discovery and
mySociety's ``servicerequestupdates``. Errors are GeoReport's (api/open311/formats.py).

Keys: ``api_key`` as a parameter (GeoReport's way), ``Authorization: Bearer <key>``, or HTTP Basic with the key
as password (so a client that cannot add a parameter, such as ``georeport`` through a ``.netrc``, can send one).
Discovery and the service catalogue are public (no personal data: a city's list of categories); reading
requests needs a key unless ``GRIDMAP_OPEN311_PUBLIC_READ`` publishes them (masked, coarse).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from api.auth.deps import limit_intake
from api.auth.roles import Can, can, roles_with, row_scope
from api.auth.service import Principal, verify_key
from api.core.deps import SessionDep, SettingsDep
from api.core.errors import Forbidden, InvalidParameter, MalformedBody, Unauthorized
from api.core.params import MAX_BIGINT, IdPath
from api.media.router import absolute_media_urls, store_upload
from api.open311 import service
from api.open311.formats import FORMATS, Open311Route, render, responses

router = APIRouter(prefix="/open311/v2", tags=["open311"], route_class=Open311Route)
_bearer = HTTPBearer(auto_error=False, description="An API key (or send it as the api_key parameter)")

#: Who reads published requests without a key (``GRIDMAP_OPEN311_PUBLIC_READ``).
PUBLIC = Principal(key_id=0, name="public", role="public")


async def _raw_key(request: Request, credentials: HTTPAuthorizationCredentials | None) -> str | None:
    if credentials is not None:
        return credentials.credentials
    header = request.headers.get("authorization", "")
    if header[:6].lower() == "basic ":
        try:
            return base64.b64decode(header[6:], validate=True).decode().partition(":")[2] or None
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthorized("the Basic credentials are not base64 'user:key'") from None
    raw = request.query_params.get("api_key")
    if raw is None and request.method == "POST":
        raw = (await request.form()).get("api_key")
    return str(raw) if raw else None


def _verify(session: Any, raw: str) -> Principal:
    principal = verify_key(session, raw=raw)
    if principal is None:
        raise Unauthorized("The API key is unknown or has been revoked.")
    return principal


async def open311_principal(
    request: Request, session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller's key (api_key, Bearer or Basic); required."""
    raw = await _raw_key(request, credentials)
    if not raw:
        raise Unauthorized("send api_key (Open311) or 'Authorization: Bearer <key>'")
    return _verify(session, raw)


async def open311_reader(
    request: Request, session: SessionDep, settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller's key; without one, :data:`PUBLIC` when the city publishes its requests, else 401."""
    raw = await _raw_key(request, credentials)
    if raw:
        return _verify(session, raw)
    if settings.open311_public_read:
        return PUBLIC
    raise Unauthorized("send api_key (Open311) or 'Authorization: Bearer <key>'")


Client = Annotated[Principal, Depends(open311_principal)]
Reader = Annotated[Principal, Depends(open311_reader)]


def _scope(principal: Principal) -> tuple[tuple[str, dict[str, object]], bool]:
    """The reports' one read rule (api/auth/roles.py row_scope: an intake key reads the reports it filed, a worker
    its grids' ...) as a SQL condition; the public reads everything, published."""
    if principal is PUBLIC:
        return ("TRUE", {}), True
    if not can(principal.role, Can.READ_REPORTS):
        raise Forbidden(f"reading requests needs one of the roles: {', '.join(roles_with(Can.READ_REPORTS))}")
    return row_scope(principal, grid="rt.grid_code", filer="r.filed_by"), False


async def open311_intake_guard(request: Request, principal: Client) -> AsyncIterator[Principal]:
    """The intake back-pressure of POST /reports (api/core/ratelimit.py) for Open311 posts."""
    await limit_intake(request, principal)
    try:
        yield principal
    finally:  # also when the endpoint raised
        request.app.state.intake_inflight.release()


Open311Intake = Annotated[Principal, Depends(open311_intake_guard, scope="function")]
Jurisdiction = Annotated[str | None, Query(max_length=100, description="accepted and ignored: one jurisdiction")]
CommaStatus = Annotated[str | None, Query(alias="status", pattern=r"^(open|closed)(,(open|closed))*$",
                                          description="open, closed, or both comma-separated")]
CommaCodes = Annotated[str | None, Query(max_length=2000, pattern=r"^[^,]{1,16}(,[^,]{1,16})*$",
                                         description="one service_code or several, comma-separated")]
CommaIds = Annotated[str | None, Query(pattern=r"^[0-9]+(,[0-9]+)*$", max_length=20_000,
                                       description="request ids, comma-separated; overrides the other filters")]


def discovery(request: Request, settings: SettingsDep, jurisdiction_id: Jurisdiction = None) -> Response:
    """GeoReport v2 discovery: the endpoint, its formats and how to get a key."""
    base = str(request.base_url).rstrip("/") + router.prefix
    return render(request, service.discovery(base=base, public_read=settings.open311_public_read),
                  root="discovery")


def services(request: Request, session: SessionDep, jurisdiction_id: Jurisdiction = None) -> Response:
    """The service list: every report category with its code (public: no personal data)."""
    return render(request, service.services(session), root="services", item="service")


def service_definition(request: Request, service_code: str, session: SessionDep,
                       jurisdiction_id: Jurisdiction = None) -> Response:
    """A service's definition (gridmap's services have no extra attributes)."""
    return render(request, service.service_definition(session, service_code), root="service_definition")


async def post_request(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: Open311Intake,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> Response:
    """Create a service request (form-encoded as GeoReport v2 says, or JSON)."""
    if not can(principal.role, Can.FILE_REPORTS):
        raise Forbidden(f"posting requests needs one of the roles: {', '.join(roles_with(Can.FILE_REPORTS))}")
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            payload = await request.json()
        except (ValueError, RecursionError):
            raise MalformedBody("the body is not valid JSON", field="body") from None
        if not isinstance(payload, dict):
            raise InvalidParameter("the body must be a JSON object of GeoReport fields", field="body")
        form = {k: str(v) for k, v in payload.items() if v is not None}
    else:
        raw = await request.form()
        form = {k: str(v) for k, v in raw.items() if not isinstance(v, UploadFile)}
        if isinstance(media := raw.get("media"), UploadFile):  # a photo posted with the request (issue 18)
            form["media_url"] = str((await store_upload(request, session, settings, principal, media)).id)
    # The body is read on the event loop; the database work goes to the thread pool, like the sync routes.
    out = await run_in_threadpool(
        service.post_request, session, cache=request.app.state.index_cache, form=form, principal=principal,
        idempotency_key=idempotency_key, settings=settings, notify=request.app.state.notifier.send)
    return render(request, out, root="service_requests", item="request", status=status.HTTP_201_CREATED)


def get_requests(
    request: Request,
    session: SessionDep,
    principal: Reader,
    service_request_id: CommaIds = None,
    service_code: CommaCodes = None,
    start_date: datetime | None = None,
    end_date: datetime | None = None,
    status_: CommaStatus = None,
    jurisdiction_id: Jurisdiction = None,
) -> Response:
    """Requests the caller may read (an intake key: the ones it posted), newest first, at most 1,000; without
    dates the last 90 days."""
    ids = [int(i) for i in service_request_id.split(",")] if service_request_id else None
    if ids and max(ids) > MAX_BIGINT:
        raise InvalidParameter("service_request_id: ids are at most 2^63 - 1", field="service_request_id")
    scope, public = _scope(principal)
    found = service.get_requests(session, ids=ids, service_codes=service_code.split(",") if service_code else None,
                                 start=start_date, end=end_date, statuses=status_.split(",") if status_ else None,
                                 scope=scope, public=public)
    return render(request, absolute_media_urls(request, found), root="service_requests", item="request")


def get_request(request: Request, request_id: IdPath, session: SessionDep, principal: Reader,
                jurisdiction_id: Jurisdiction = None) -> Response:
    """One request, if the caller may read it; 404 otherwise (as if it did not exist)."""
    scope, public = _scope(principal)
    found = service.get_request(session, request_id=request_id, scope=scope, public=public)
    return render(request, absolute_media_urls(request, found), root="service_requests", item="request")


def get_updates(
    request: Request,
    session: SessionDep,
    principal: Reader,
    start_date: datetime | None = None,
    end_date: datetime | None = None,
    jurisdiction_id: Jurisdiction = None,
) -> Response:
    """mySociety's extension: status changes of the requests the caller may read, in a window (default the
    last 24 hours, at most 90 days), oldest first, at most 1,000: poll with ``start_date`` = the last
    ``updated_datetime`` seen."""
    scope, public = _scope(principal)
    found = service.get_updates(session, start=start_date, end=end_date, scope=scope, public=public)
    return render(request, found, root="service_requests_updates", item="request_update")


_ROUTES: list[tuple[str, str, Callable[..., Any], str, str | None, int]] = [
    ("GET", "/discovery", discovery, "discovery", None, 200),
    ("GET", "/services", services, "services", "service", 200),
    ("GET", "/services/{service_code}", service_definition, "service_definition", None, 200),
    # The PyPI `open311` client (1.1) asks for service/… (singular); the same definition.
    ("GET", "/service/{service_code}", service_definition, "service_definition", None, 200),
    ("POST", "/requests", post_request, "service_requests", "request", 201),
    ("GET", "/requests", get_requests, "service_requests", "request", 200),
    ("GET", "/requests/{request_id}", get_request, "service_requests", "request", 200),
    ("GET", "/servicerequestupdates", get_updates, "service_requests_updates", "request_update", 200),
]
for _method, _path, _endpoint, _root, _item, _status in _ROUTES:
    for _fmt in FORMATS:
        router.add_api_route(f"{_path}.{_fmt}", _endpoint, methods=[_method], status_code=_status,
                             response_class=Response, responses=responses(_root, _item, _status),
                             name=f"{_endpoint.__name__}_{_fmt}", summary=(_endpoint.__doc__ or "").split("\n")[0])
