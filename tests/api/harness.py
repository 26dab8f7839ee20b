"""Binding an app to a test's rolled-back transaction the way production binds it to the database:
one session per request, committed when the request succeeds and rolled back when it fails.

The ``client`` fixture (tests/conftest.py) shares one session across requests and never rolls a failed
request back, which is right for tests that make one good request after another; the fuzzer and the
injection tests make thousands of bad ones, and a refused request must leave nothing behind (nor an
aborted transaction) for the next.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import nullcontext
from typing import Any

from sqlalchemy.orm import Session


def bind_savepoints(app: Any, db: Session) -> None:
    """Route the app's sessions to ``db`` (a session in ``create_savepoint`` mode): each request's
    commit releases a savepoint and its rollback returns to the state before that request."""
    from api.core.deps import get_session, get_session_factory

    def _session() -> Iterator[Session]:
        try:
            yield db
            db.commit()
        except BaseException:
            db.rollback()
            raise

    async def _factory() -> Callable[[], nullcontext[Session]]:
        return lambda: nullcontext(db)

    app.dependency_overrides[get_session] = _session
    app.dependency_overrides[get_session_factory] = _factory
