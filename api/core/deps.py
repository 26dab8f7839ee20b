"""Typed dependencies shared by every router: the database session and the settings. The calling principal
(the key or token check, the capability each route needs) is api/auth/deps.py: the ground floor imports nothing
above it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from api.core.config import Settings


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
