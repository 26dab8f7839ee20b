"""Test set-up: a throwaway PostGIS database seeded from sample_data/, one rolled-back
transaction per test, an HTTP client on the real app, and a live server for the browser tests.

The seeded database is built once into a template (keyed on a fingerprint of the migrations,
the sample data and the loader) and each run clones it, so a run after the first starts in about
a second. The test database is never the one ``make run`` serves: it is ``<name>_test``, or
``GRIDMAP_TEST_DATABASE_URL``.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
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
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return base.set(database=f"{base.database}_test{('_' + worker) if worker else ''}").render_as_string(
        hide_password=False)


TEST_URL = _test_url()
# The app and the CLI read their settings from the environment: point them at the test database
# before anything imports api.main.
os.environ["GRIDMAP_DATABASE_URL"] = TEST_URL
os.environ.pop("DATABASE_URL", None)


def _fingerprint() -> str:
    h = hashlib.sha256()
    paths = sorted((ROOT / "migrations" / "versions").glob("*.py")) + sorted((ROOT / "api" / "imports").glob("*.py"))
    paths += [ROOT / "sample_data" / n for n in ("dongcheng.gpkg.zip", "people.csv.gz", "categories.csv",
                                                  "departments.csv")]
    for p in paths:
        h.update(p.name.encode())
        h.update(p.read_bytes() if p.exists() else b"missing")
    return h.hexdigest()[:16]


def _admin_engine(url: str) -> Engine:
    return create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")


def _build_template(url: str, template: str, fingerprint: str) -> None:
    from alembic import command
    from alembic.config import Config

    from api.core.config import get_settings
    from api.core.db import make_engine, make_sessionmaker, session_scope
    from api.imports.sample import load_sample

    admin = _admin_engine(url)
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)'))
        c.execute(text(f'CREATE DATABASE "{template}"'))
    tpl_url = make_url(url).set(database=template).render_as_string(hide_password=False)
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.attributes["url"] = tpl_url
    command.upgrade(cfg, "head")
    engine = make_engine(get_settings(), url=tpl_url, pool_size=1)
    with session_scope(make_sessionmaker(engine)) as s:
        load_sample(s)
    engine.dispose()
    with admin.connect() as c:
        c.execute(text(f"COMMENT ON DATABASE \"{template}\" IS 'gridmap-test {fingerprint}'"))
    admin.dispose()


def create_test_database(url: str = TEST_URL) -> None:
    """(Re)create the test database as a clone of an up-to-date seeded template."""
    name = make_url(url).database
    base = name.split("_test")[0]
    template = f"{base}_test_template"
    fingerprint = _fingerprint()
    admin = _admin_engine(url)
    with admin.connect() as c:
        comment = c.execute(text(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = :n"), {"n": template}
        ).scalar()
    if comment != f"gridmap-test {fingerprint}":
        lock = ROOT / ".data" / "test-template.lock"
        lock.parent.mkdir(exist_ok=True)
        import fcntl

        with open(lock, "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            with admin.connect() as c:
                comment = c.execute(text(
                    "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = :n"),
                    {"n": template}).scalar()
            if comment != f"gridmap-test {fingerprint}":
                _build_template(url, template, fingerprint)
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        c.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    admin.dispose()


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    from api.core.config import get_settings
    from api.core.db import make_engine

    create_test_database()
    eng = make_engine(get_settings(), url=TEST_URL, pool_size=5)
    yield eng
    eng.dispose()


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
    from fastapi.testclient import TestClient

    from api.core.deps import get_session
    from api.main import create_app

    app = create_app()

    def _session() -> Iterator[Session]:
        yield db
        db.flush()

    app.dependency_overrides[get_session] = _session
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
    return lambda role="commander": {"Authorization": f"Bearer {make_key(role)}"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def commander_key(engine: Engine) -> str:
    """A committed commander key (the live server runs in another process and must see it)."""
    from api.auth.service import create_key

    with Session(engine) as s:
        _, raw = create_key(s, name="browser tests", role="commander")
        s.commit()
    return raw


@pytest.fixture(scope="session")
def live_server(engine: Engine) -> Iterator[str]:
    """A real uvicorn serving the app against the seeded test database."""
    port = _free_port()
    env = {**os.environ, "GRIDMAP_DATABASE_URL": TEST_URL}
    log = open(ROOT / ".data" / "live-server.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1", "--port", str(port),
         "--no-access-log"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"live server did not start; see {log.name}")
        time.sleep(0.2)
    yield base
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()
