"""Back-pressure and failure answers (issue 9): per-key rate limit (429), intake slots (503), a database that
is down (503 ``database_unavailable``), statement timeouts, and no acknowledgement before the commit."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import nullcontext

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from api.core.config import get_settings
from api.core.deps import SessionDep, get_session, get_session_factory
from api.core.errors import Overloaded
from api.core.ratelimit import InflightLimit, TokenBucket
from api.main import create_app
from tests.api.errors import error_of

PROBLEM = "application/problem+json"


def _problem(resp: httpx.Response, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.text
    body = error_of(resp)  # problem+json, or GeoReport's error list on /open311
    assert body and body["code"] == code and body["status"] == status, resp.text[:300]
    return body


@pytest.fixture
def app_with(db: Session) -> Iterator[Callable[..., TestClient]]:
    """A client on the real app with some settings changed, bound to the test's rolled-back session."""
    clients: list[TestClient] = []

    def make(**changes: object) -> TestClient:
        app = create_app(get_settings().model_copy(update={"listen": False, **changes}))

        def _session() -> Iterator[Session]:
            yield db
            db.flush()

        async def _factory() -> Callable[[], nullcontext[Session]]:
            return lambda: nullcontext(db)

        app.dependency_overrides[get_session] = _session
        app.dependency_overrides[get_session_factory] = _factory
        c = TestClient(app, raise_server_exceptions=False)
        c.__enter__()
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.__exit__(None, None, None)


def _report(db: Session, n: int) -> dict:
    x, y = db.execute(text("""SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(boundary) p FROM grid g
        JOIN grid_layout l ON l.id = g.layout_id WHERE l.status = 'published' ORDER BY code LIMIT 1) t""")).one()
    return {"source": "hotline_12345", "external_id": f"RL-{n}", "category": "E01001", "description": "限流测试",
            "lon": x, "lat": y}


def test_a_key_over_its_rate_gets_429_with_retry_after_and_nothing_is_written(app_with, auth, db: Session) -> None:
    client = app_with(intake_rate=0.01, intake_burst=2)  # a token a 100 s: no refill during the test
    first, second = auth("intake"), auth("intake")
    before = db.execute(text("SELECT count(*) FROM report")).scalar_one()
    assert client.post("/api/v1/reports", json=_report(db, 1), headers=first).status_code == 201
    assert client.post("/api/v1/reports", json=_report(db, 2), headers=first).status_code == 201
    refused = client.post("/api/v1/reports", json=_report(db, 3), headers=first)
    body = _problem(refused, 429, "rate_limited")
    assert int(refused.headers["retry-after"]) >= 1 and body["limit_per_second"] == 0.01 and body["burst"] == 2
    assert db.execute(text("SELECT count(*) FROM report")).scalar_one() == before + 2
    assert db.execute(text("SELECT count(*) FROM report WHERE external_id = 'RL-3'")).scalar_one() == 0
    # The bucket is per key: another key is not held back by the first one's burst.
    assert client.post("/api/v1/reports", json=_report(db, 3), headers=second).status_code == 201
    # Open311 posts draw on the same bucket.
    key = first["Authorization"].split()[1]
    form = {"api_key": key, "service_code": "E01001", "lat": _report(db, 0)["lat"], "long": _report(db, 0)["lon"],
            "description": "open311"}
    _problem(client.post("/open311/v2/requests.json", data=form), 429, "rate_limited")


def test_the_token_bucket_refills_at_its_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=2.0, burst=3, clock=lambda: now[0])
    assert [bucket.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take("a") == pytest.approx(0.5)
    now[0] = 0.5  # one token back after half a second
    assert bucket.take("a") == 0.0 and bucket.take("a") > 0
    now[0] = 100.0  # never more than the burst
    assert [bucket.take("a") for _ in range(4)][-1] > 0
    small = TokenBucket(rate=1.0, burst=1, max_keys=2, clock=lambda: now[0])
    for k in "xyz":
        small.take(k)
    assert list(small._state) == ["y", "z"]  # memory stays bounded: the longest idle key is forgotten


def test_intake_slots_refuse_past_the_limit_and_free_on_release() -> None:
    async def scenario() -> None:
        limit = InflightLimit(2, wait_s=0.05)
        await limit.acquire()
        await limit.acquire()
        with pytest.raises(Overloaded) as refused:
            await limit.acquire()
        assert refused.value.status == 503 and refused.value.retry_after >= 1
        limit.release()
        await limit.acquire()  # a freed slot is taken again
        assert limit.inflight == 2
        waiter = asyncio.create_task(limit.acquire())  # waits, and gets the slot released meanwhile
        await asyncio.sleep(0.01)
        limit.release()
        await waiter
        assert limit.inflight == 2

    asyncio.run(scenario())


def test_overloaded_intake_is_503_problem_with_retry_after(app_with, auth, db: Session) -> None:
    client = app_with(intake_max_inflight=1, intake_queue_wait_s=0.01)

    async def hold() -> None:
        await client.app.state.intake_inflight.acquire()

    client.portal.call(hold)  # one slot taken, as by a slow transaction
    resp = client.post("/api/v1/reports", json=_report(db, 9), headers=auth("intake"))
    _problem(resp, 503, "overloaded")
    assert resp.headers["retry-after"] == "1"
    client.app.state.intake_inflight.release()
    assert client.post("/api/v1/reports", json=_report(db, 9), headers=auth("intake")).status_code == 201


def test_a_database_that_is_down_is_503_database_unavailable_with_retry_after(engine: Engine) -> None:
    url = "postgresql+psycopg://gridmap@127.0.0.1:1/gridmap?connect_timeout=2"  # nothing listens on port 1
    app = create_app(get_settings().model_copy(update={"database_url": url, "listen": False}))
    with TestClient(app, raise_server_exceptions=False) as client:
        resp = client.get("/api/v1/layouts", headers={"Authorization": "Bearer gm_not_cached"})
        _problem(resp, 503, "database_unavailable")
        assert int(resp.headers["retry-after"]) >= 1
        _problem(client.get("/healthz"), 503, "service_unavailable")


def test_every_connection_carries_the_statement_timeout_and_a_timeout_is_503(dispatcher_key: str) -> None:
    app = create_app(get_settings().model_copy(update={"statement_timeout_ms": 1234, "listen": False}))
    with TestClient(app, raise_server_exceptions=False):
        with app.state.engine.connect() as conn:
            assert conn.execute(text("SHOW statement_timeout")).scalar_one() == "1234ms"
    slow = create_app(get_settings().model_copy(update={"statement_timeout_ms": 1, "listen": False}))
    with TestClient(slow, raise_server_exceptions=False) as client:
        resp = client.get("/api/v1/grids?limit=10000", headers={"Authorization": f"Bearer {dispatcher_key}"})
        _problem(resp, 503, "query_timeout")


def test_a_write_is_acknowledged_only_after_its_commit(engine: Engine) -> None:
    """A commit that fails must not leave the client holding a 2xx (FastAPI runs yield dependencies' exit
    after the response by default; SessionDep commits before it)."""
    app: FastAPI = create_app(get_settings().model_copy(update={"listen": False}))

    @app.post("/api/v1/_commit_fails")
    def _fails_at_commit(session: SessionDep) -> dict:
        session.execute(text("CREATE TEMP TABLE t_defer (id int PRIMARY KEY, parent int REFERENCES t_defer (id) "
                             "DEFERRABLE INITIALLY DEFERRED)"))
        session.execute(text("INSERT INTO t_defer VALUES (1, 2)"))  # violates only at COMMIT
        return {"ok": True}

    app.router.routes.insert(0, app.router.routes.pop())  # before the static files mount
    with TestClient(app, raise_server_exceptions=False) as client:
        resp = client.post("/api/v1/_commit_fails")
        assert resp.status_code == 500 and resp.headers["content-type"].startswith(PROBLEM), resp.text
