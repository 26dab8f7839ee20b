"""Who is calling, and may they: the key or login-token check behind every route (``CurrentUser``) and the
capability dependencies routers name (``require(Can.X)``, ``Dispatcher``, ``Admin``, ...; the role table is
api/auth/roles.py), and intake's back-pressure guard."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractContextManager
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.auth.roles import Can, can, roles_with
from api.auth.service import Principal, cached_principal, verify_key
from api.core.deps import SessionFactory
from api.core.errors import Forbidden, Unauthorized

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer gm_…`")


def _verify(factory: Callable[[], AbstractContextManager[Session]], raw: str) -> Principal | None:
    with factory() as session:
        return verify_key(session, raw=raw)


def _verify_token(factory: Callable[[], AbstractContextManager[Session]], raw: str) -> Principal | None:
    from api.users.service import verify_token

    with factory() as session:
        return verify_token(session, raw=raw)


async def get_principal(
    request: Request,
    factory: SessionFactory,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller, from the key cache when possible (no thread hop, no database round trip).

    Systems send an API key (``gm_…``); people logged in to the web pages send the short-lived token
    from ``POST /api/v1/auth/token`` (``gmt_…``). The principal is kept on ``request.state`` for the
    audit log."""
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthorized("Send an API key as 'Authorization: Bearer <key>'.")
    raw = credentials.credentials
    if raw.startswith("gmt_"):
        from api.users.service import cached_token_principal

        principal = cached_token_principal(raw) or await run_in_threadpool(_verify_token, factory, raw)
        if principal is None:
            raise Unauthorized("The login token is unknown, expired or revoked; log in again.")
        from api.users.service import token_digest

        request.state.token_digest = token_digest(raw)  # a stream ticket names the token by its digest
    else:
        principal = cached_principal(raw) or await run_in_threadpool(_verify, factory, raw)
        if principal is None:
            raise Unauthorized("The API key is unknown or has been revoked.")
    request.state.principal = principal
    return principal


CurrentUser = Annotated[Principal, Depends(get_principal)]


def require(capability: Can) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets through the roles holding ``capability`` in the role table (api/auth/roles.py)."""

    async def _check(principal: CurrentUser) -> Principal:
        if not can(principal.role, capability):
            raise Forbidden(f"This needs one of the roles: {', '.join(roles_with(capability))}.")
        return principal

    return _check


def _needs(capability: Can) -> Any:
    return Annotated[Principal, Depends(require(capability))]


MapReader = _needs(Can.READ_MAP)
WallReader = _needs(Can.READ_WALL)
CoverageReader = _needs(Can.READ_COVERAGE)
Locator = _needs(Can.LOCATE)
AddressSearcher = _needs(Can.SEARCH_ADDRESSES)
AddressReviewer = _needs(Can.REVIEW_ADDRESSES)
ReportFiler = _needs(Can.FILE_REPORTS)
ReportReader = _needs(Can.READ_REPORTS)
CaseReader = _needs(Can.READ_CASES)
CaseActor = _needs(Can.ACT_ON_CASES)
Dispatcher = _needs(Can.DISPATCH)
StaffReader = _needs(Can.READ_STAFF)
StaffManager = _needs(Can.MANAGE_STAFF)
Planner = _needs(Can.PLAN)
Admin = _needs(Can.ADMINISTER)
Evaluator = _needs(Can.READ_EVALUATION)


async def intake_guard(request: Request, principal: CurrentUser) -> AsyncIterator[Principal]:
    """Back-pressure for intake routes (api/core/ratelimit.py): the caller's token bucket (429) and a slot among
    the intake requests in flight (503), held until the endpoint has committed and returned."""
    await limit_intake(request, principal)
    try:
        yield principal
    finally:  # also when the endpoint raised
        request.app.state.intake_inflight.release()


async def limit_intake(request: Request, principal: Principal) -> None:
    """Take a token for ``principal`` and a slot in flight; the caller releases the slot."""
    state = request.app.state
    bucket_key = f"user:{principal.user_id}" if principal.user_id is not None else f"key:{principal.key_id}"
    state.intake_bucket.check(bucket_key)
    await state.intake_inflight.acquire()


IntakeGuard = Annotated[Principal, Depends(intake_guard, scope="function")]
