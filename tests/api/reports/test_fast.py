"""The POST /reports shortcut (api/reports/fast.py): the same answers, headers, audit rows and refusals as the
endpoint, and everything it does not take (bad bodies, login tokens, other roles) left to the endpoint."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.reports.fast import IntakeFastPath
from tests.api.test_read_api import assert_problem


def _fast(client) -> IntakeFastPath:
    node = client.app.middleware_stack
    while node is not None and not isinstance(node, IntakeFastPath):
        node = getattr(node, "app", None)
    assert node is not None, "the shortcut is not in the middleware stack"
    return node


@pytest.fixture
def spot(db: Session) -> tuple[float, float]:
    return db.execute(text("""
        SELECT ST_X(p), ST_Y(p) FROM (
          SELECT ST_PointOnSurface(ST_Buffer(boundary, -0.0005)) p FROM grid g
          JOIN grid_layout l ON l.id = g.layout_id WHERE l.status = 'published' ORDER BY code LIMIT 1 OFFSET 5) t
    """)).one()


def report(spot: tuple[float, float], **extra: object) -> dict:
    return {"source": "field_app", "category": "E01001", "description": "路灯不亮", "lon": spot[0], "lat": spot[1],
            "reporter": {"name": "王五", "phone": "13700137000"}, **extra}


def test_the_shortcut_answers_exactly_what_the_endpoint_answered(client, auth, db: Session, spot) -> None:
    h = auth("intake")
    fast = _fast(client)
    first = client.post("/api/v1/reports", json=report(spot), headers={**h, "Idempotency-Key": "f-1"})
    assert first.status_code == 201 and fast.answered == 0 and fast.route is not None
    again = client.post("/api/v1/reports", json=report(spot), headers={**h, "Idempotency-Key": "f-1"})
    assert fast.answered == 1 and again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["content-type"] == first.headers["content-type"] == "application/json"
    assert {**first.json(), "replayed": True} == again.json()
    new = client.post("/api/v1/reports", json=report(spot, description="又坏了一盏"), headers=h)
    assert fast.answered == 2 and new.status_code == 201 and "idempotent-replayed" not in new.headers
    out = new.json()
    assert new.headers["location"] == f"/api/v1/reports/{out['id']}"
    assert out["case"]["duplicates"] == [first.json()["case"]["id"]] and out["reporter"]["phone"] == "137****7000"
    read = client.get(f"/api/v1/reports/{out['id']}", headers=h).json()
    for k in ("replayed", "address_check"):
        out.pop(k), read.pop(k)
    out["case"].pop("duplicates"), read["case"].pop("duplicates")
    assert out == read
    audit = db.execute(text("""SELECT actor, status FROM audit_log WHERE path = '/api/v1/reports'
                               ORDER BY id DESC LIMIT 3""")).all()
    assert [tuple(a) for a in audit] == [("key:test intake", 201), ("key:test intake", 200),
                                        ("key:test intake", 201)]


def test_refusals_are_the_endpoints_own(client, auth, db: Session, spot) -> None:
    h = auth("intake")
    fast = _fast(client)
    assert client.post("/api/v1/reports", json=report(spot), headers={**h, "Idempotency-Key": "r-1"}).status_code == 201
    # decided after the hand-over to the writer: answered here, by the app's handlers
    reused = client.post("/api/v1/reports", json=report(spot, description="别的事"),
                         headers={**h, "Idempotency-Key": "r-1"})
    assert assert_problem(reused, 409, "idempotency_key_reused")["instance"] == "/api/v1/reports"
    unknown = client.post("/api/v1/reports", json=report(spot, category="ZZ999"), headers=h)
    assert "ZZ999" in assert_problem(unknown, 422, "validation_error")["detail"]
    future = client.post("/api/v1/reports", json=report(spot, reported_at="2099-01-01T00:00:00+08:00"), headers=h)
    assert_problem(future, 422, "validation_error")
    nul = client.post("/api/v1/reports", json=report(spot, description="a\u0000b"), headers=h)
    assert_problem(nul, 422, "invalid_character")
    assert fast.answered == 4
    # not taken: a body that does not validate, a reader's key, no key: the endpoint answers with its body
    bad = client.post("/api/v1/reports", json=report(spot, lon="east"), headers=h)
    assert any(e["field"] == "lon" for e in assert_problem(bad, 422, "validation_error")["errors"])
    assert_problem(client.post("/api/v1/reports", json=report(spot), headers=auth("dispatcher")), 403, "forbidden")
    assert_problem(client.post("/api/v1/reports", json=report(spot)), 401, "unauthorized")
    assert_problem(client.post("/api/v1/reports", content=b"{", headers={**h, "content-type": "application/json"}),
                   400, "malformed_body")  # a body that cannot be parsed at all (README: one status per kind)
    assert fast.answered == 4
    statuses = db.execute(text("""SELECT status FROM audit_log WHERE path = '/api/v1/reports'
                                  ORDER BY id DESC LIMIT 9""")).scalars().all()
    assert statuses == [400, 401, 403, 422, 422, 422, 422, 409, 201]
