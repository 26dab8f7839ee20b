"""Open311 GeoReport v2 endpoints under /open311/v2 (JSON format)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from api.auth.roles import Can, can, grid_scope, roles_with
from api.auth.service import Principal, verify_key
from api.core.deps import SessionDep, SettingsDep, limit_intake
from api.core.errors import Forbidden, InvalidParameter, MalformedBody, Unauthorized
from api.core.params import MAX_BIGINT, IdPath
from api.media.router import absolute_media_urls, store_upload
from api.open311 import service

router = APIRouter(prefix="/open311/v2", tags=["open311"])
_bearer = HTTPBearer(auto_error=False)


async def open311_principal(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Open311 clients send ``api_key`` as a parameter (query or form); a Bearer header works too."""
    raw = credentials.credentials if credentials else request.query_params.get("api_key")
    if raw is None and request.method == "POST":
        raw = (await request.form()).get("api_key")
    if not raw:
        raise Unauthorized("send api_key (Open311) or 'Authorization: Bearer <key>'")
    principal = verify_key(session, raw=str(raw))
    if principal is None:
        raise Unauthorized("The API key is unknown or has been revoked.")
    return principal


Client = Annotated[Principal, Depends(open311_principal)]


async def open311_intake_guard(request: Request, principal: Client) -> AsyncIterator[Principal]:
    """The intake back-pressure of POST /reports (api/core/ratelimit.py) for Open311 posts."""
    await limit_intake(request, principal)
    try:
        yield principal
    finally:  # also when the endpoint raised
        request.app.state.intake_inflight.release()


Open311Intake = Annotated[Principal, Depends(open311_intake_guard, scope="function")]


@router.get("/services.json")
def services(session: SessionDep, _: Client) -> list[dict]:
    """The service list: every report category with its code."""
    return service.services(session)


@router.get("/services/{service_code}.json")
def service_definition(service_code: str, session: SessionDep, _: Client) -> dict:
    return service.service_definition(session, service_code)


@router.post("/requests.json", status_code=status.HTTP_201_CREATED)
async def post_request(
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    principal: Open311Intake,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> list[dict]:
    """Create a service request (form-encoded as GeoReport v2 says, or JSON)."""
    if not can(principal.role, Can.FILE_REPORTS):
        raise Forbidden(f"posting requests needs one of the roles: {', '.join(roles_with(Can.FILE_REPORTS))}")
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            payload = await request.json()
        except ValueError:
            raise MalformedBody("the body is not valid JSON", field="body") from None
        form = {k: str(v) for k, v in payload.items() if v is not None} if isinstance(payload, dict) else {}
    else:
        raw = await request.form()
        form = {k: str(v) for k, v in raw.items() if not isinstance(v, UploadFile)}
        if isinstance(media := raw.get("media"), UploadFile):  # a photo posted with the request (issue 18)
            form["media_url"] = str((await store_upload(request, session, settings, principal, media)).id)
    # The body is read on the event loop; the database work goes to the thread pool, like the sync routes.
    return await run_in_threadpool(
        service.post_request, session, cache=request.app.state.index_cache, form=form, principal=principal,
        idempotency_key=idempotency_key, settings=settings, notify=request.app.state.notifier.send)


@router.get("/requests.json")
def get_requests(
    request: Request,
    session: SessionDep,
    principal: Client,
    service_request_id: Annotated[str | None, Query(pattern=r"^[0-9]+(,[0-9]+)*$")] = None,
    service_code: str | None = None,
    start_date: datetime | None = None,
    end_date: datetime | None = None,
    status_: Annotated[str | None, Query(alias="status", pattern="^(open|closed)$")] = None,
) -> list[dict]:
    ids = [int(i) for i in service_request_id.split(",")] if service_request_id else None
    if ids and max(ids) > MAX_BIGINT:
        raise InvalidParameter("service_request_id: ids are at most 2^63 - 1", field="service_request_id")
    return absolute_media_urls(request, service.get_requests(
        session, ids=ids, service_code=service_code, start=start_date, end=end_date, status=status_,
        scope=_scope(principal)))


@router.get("/requests/{request_id}.json")
def get_request(request_id: IdPath, request: Request, session: SessionDep, principal: Client) -> list[dict]:
    return absolute_media_urls(request, service.get_request(session, request_id=request_id, scope=_scope(principal)))


def _scope(principal: Principal) -> list[str] | None:
    """A worker key sees the requests of its grids only (a key has none: nothing), as on /api/v1/cases."""
    if not can(principal.role, Can.READ_REPORTS):
        raise Forbidden(f"reading requests needs one of the roles: {', '.join(roles_with(Can.READ_REPORTS))}")
    return grid_scope(principal)
