"""Test set-up: a throwaway PostGIS database seeded from sample_data/, one rolled-back
transaction per test, an HTTP client on the real app, and a live server for the browser tests.

The seeded database is built once into a template (keyed on a fingerprint of the migrations,
the sample data and the loader) and each run clones it, so a run after the first starts in about
a second. The test database is never the one ``make run`` serves: it is ``<name>_test_<pid>``
(dropped at the end, so that concurrent runs never meet), or ``GRIDMAP_TEST_DATABASE_URL``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[1]


def _test_url() -> str:
    from api.core.config import LOCAL_DATABASE_URL, sqlalchemy_url

    explicit = os.environ.get("GRIDMAP_TEST_DATABASE_URL")
    if explicit:
        return sqlalchemy_url(explicit)
    base = make_url(sqlalchemy_url(
        os.environ.get("GRIDMAP_DATABASE_URL") or os.environ.get("DATABASE_URL") or LOCAL_DATABASE_URL))
    return base.set(database=f"{base.database}_test_{os.getpid()}").render_as_string(hide_password=False)


TEST_URL = _test_url()
# The app and the CLI read their settings from the environment: point them at the test database
# before anything imports api.main.
os.environ["GRIDMAP_DATABASE_URL"] = TEST_URL
os.environ.pop("DATABASE_URL", None)
# No app the tests start runs the due-work thread (api/ops/due.py): it commits into the shared test database on
# its own clock (moving the hourly heat horizon and, a round later, deleting the hour roll-ups before it; applying
# due publishes), under the feet of the tests that set those states in their own transactions. A test app living
# over a minute (the fuzz suite's) did exactly that. tests/api/ops/test_due.py drives DueWork itself.
os.environ["GRIDMAP_DUE_INTERVAL_S"] = "0"
# Nor the webhook delivery worker (api/webhooks/worker.py), for the same reason: tests/api/webhooks drives its own.
os.environ["GRIDMAP_WEBHOOK_WORKER"] = "false"
# Photos the tests upload (api/media) go to a directory of this run, never the developer's .data/media.
os.environ["GRIDMAP_MEDIA_DIR"] = tempfile.mkdtemp(prefix="gridmap-media-")


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    from api.core.config import get_settings
    from api.core.db import make_engine
    from api.devtools.seeded import create_seeded_database, drop_database, drop_stale_test_databases

    if not os.environ.get("GRIDMAP_TEST_DATABASE_URL"):
        name = make_url(TEST_URL).database
        drop_stale_test_databases(TEST_URL, name[: name.rindex("_") + 1])
    create_seeded_database(TEST_URL)
    eng = make_engine(get_settings(), url=TEST_URL, pool_size=5)
    yield eng
    eng.dispose()
    if not os.environ.get("GRIDMAP_TEST_DATABASE_URL"):
        drop_database(TEST_URL)


@pytest.fixture
def db(engine: Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test, whatever it did."""
    conn = engine.connect()
    trans = conn.begin()
    session = Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield session
    finally:
        session.close()
        trans.rollback()
        conn.close()


@pytest.fixture
def client(db: Session) -> Iterator[httpx.Client]:
    """The real app over ASGI, its database session bound to the test's rolled-back transaction."""
    from contextlib import nullcontext

    from fastapi.testclient import TestClient

    from api.core.deps import get_session, get_session_factory
    from api.main import create_app

    app = create_app()

    def _session() -> Iterator[Session]:
        yield db
        db.flush()

    async def _factory() -> Callable[[], nullcontext[Session]]:
        return lambda: nullcontext(db)

    app.dependency_overrides[get_session] = _session
    app.dependency_overrides[get_session_factory] = _factory
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def make_key(db: Session) -> Callable[[str], str]:
    """Create an API key of a role inside the test's transaction; returns the raw key."""
    from api.auth.service import create_key

    def _make(role: str) -> str:
        _, raw = create_key(db, name=f"test {role}", role=role)
        db.flush()
        return raw

    return _make


@pytest.fixture
def auth(make_key: Callable[[str], str]) -> Callable[[str], dict[str, str]]:
    return lambda role="dispatcher": {"Authorization": f"Bearer {make_key(role)}"}


@pytest.fixture(scope="session")
def dispatcher_key(engine: Engine) -> str:
    """A committed dispatcher key (the live server runs in another process and must see it)."""
    from api.auth.service import create_key

    with Session(engine) as s:
        _, raw = create_key(s, name="browser tests", role="dispatcher")
        s.commit()
    return raw


@pytest.fixture(scope="session")
def live_server(engine: Engine) -> Iterator[str]:
    """A real uvicorn serving the app against the seeded test database (without the due-work thread: see
    ``GRIDMAP_DUE_INTERVAL_S`` above; the server inherits the environment)."""
    from api.devtools.server import LiveServer

    with LiveServer(TEST_URL, log_path=ROOT / ".data" / "live-server.log", timeout=120) as server:
        yield server.base
