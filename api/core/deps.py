"""Typed dependencies shared by every router: the database session and the calling principal."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractContextManager
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.auth.roles import Can, can, roles_with
from api.auth.service import Principal, cached_principal, verify_key
from api.core.config import Settings
from api.core.errors import Forbidden, Unauthorized


def get_session(request: Request) -> Iterator[Session]:
    """A session per request, committed when the endpoint returns and *before* the response is sent (see
    ``SessionDep``): a client never holds an acknowledgement of a write that was not committed."""
    session: Session = request.app.state.sessionmaker()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


async def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_session_factory(request: Request) -> Callable[[], AbstractContextManager[Session]]:
    """Sessions on demand, for hot paths that usually need no database (answered from memory) and
    open a session only on a cache miss. Async, so that resolving it costs no thread hop."""
    return request.app.state.sessionmaker


#: ``scope="function"``: FastAPI's default runs a yield dependency's exit *after* the response has gone out, so
#: a commit that failed there (PostgreSQL restarting, a deferred constraint) would leave the client holding a
#: 201 for a rolled-back report, the one thing intake must never do. Committing before the response turns
#: such a failure into a 503 problem (``database_unavailable``) that the client retries.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
SessionFactory = Annotated[Callable[[], AbstractContextManager[Session]], Depends(get_session_factory)]

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


def require_role(*roles: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets through only the given roles (admin always passes). Prefer :func:`require`:
    a capability says why; this is for a route whose rule is not (yet) a line of the role table."""

    async def _check(principal: CurrentUser) -> Principal:
        if principal.role != "admin" and principal.role not in roles:
            raise Forbidden(f"This needs one of the roles: {', '.join(('admin', *roles))}.")
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
