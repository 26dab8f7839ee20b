"""The GET /locate shortcut (api/locate/fast.py): same answers as the endpoint, and every other case (errors,
keys it has not seen verified, revoked keys, login tokens) left to the endpoint, so nothing about them changes."""

from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.core.observe import configure_logging
from api.locate.fast import LocateFastPath
from tests.api.test_read_api import assert_problem


def _fast(client) -> LocateFastPath:
    node = client.app.middleware_stack
    while node is not None and not isinstance(node, LocateFastPath):
        node = getattr(node, "app", None)
    assert node is not None, "the shortcut is not in the middleware stack"
    return node


@pytest.fixture
def point(db: Session) -> dict:
    x, y = db.execute(text("""SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(ST_Buffer(boundary, -0.0005)) p
        FROM grid g JOIN grid_layout l ON l.id = g.layout_id WHERE l.status = 'published' ORDER BY code LIMIT 1
        OFFSET 3) t""")).one()
    return {"lon": x, "lat": y, "at": "2026-11-01T09:00:00+08:00"}


def test_the_shortcut_answers_exactly_what_the_endpoint_answered(client, auth, point) -> None:
    h = auth("dispatcher")
    first = client.get("/api/v1/locate", params=point, headers=h)  # the endpoint: builds the index, arms the shortcut
    fast = _fast(client)
    assert first.status_code == 200 and fast.answered == 0 and fast.route is not None
    again = client.get("/api/v1/locate", params=point, headers=h)
    assert fast.answered == 1
    assert again.status_code == 200 and again.content == first.content
    assert again.headers["content-type"] == first.headers["content-type"] == "application/json"
    assert again.headers["content-length"] == first.headers["content-length"]
    assert again.headers["x-request-id"] and again.headers["x-request-id"] != first.headers["x-request-id"]
    # Projected input, an explicit layout and engine=index go the same way.
    lid = first.json()["layout"]["id"]
    by_layout = client.get("/api/v1/locate", params={**point, "layout": lid, "engine": "index"}, headers=h)
    assert fast.answered == 2 and by_layout.json()["grid"] == first.json()["grid"]


@pytest.mark.parametrize("params,status,code", [
    ({"lon": "nan", "lat": 39.9}, 422, "validation_error"),
    ({"lon": 39.9, "lat": 116.4}, 422, "validation_error"),
    ({"lon": "1e999", "lat": 39.9}, 422, "validation_error"),
    ({"lon": 116.4, "lat": 39.9, "crs": "klingon-7"}, 422, "invalid_parameter"),
    ({"lon": 116.4, "lat": 39.9, "at": "yesterday"}, 422, "invalid_parameter"),
    ({"lon": 116.4, "lat": 39.9, "at": ""}, 422, "invalid_parameter"),
    ({"lon": 116.4}, 422, "validation_error"),
    ({"lon": 116.4, "lat": 39.9, "layout": 999999}, 404, "not_found"),
    ({"lon": 116.4, "lat": 39.9, "layout": 0}, 422, "validation_error"),
    ({"lon": 116.4, "lat": 39.9, "engine": "quantum"}, 422, "validation_error"),
])
def test_bad_input_after_the_shortcut_is_armed_is_still_the_endpoints_problem(client, auth, point, params, status,
                                                                               code) -> None:
    h = auth("worker")
    assert client.get("/api/v1/locate", params=point, headers=h).status_code == 200
    fast = _fast(client)
    assert_problem(client.get("/api/v1/locate", params=params, headers=h), status, code)
    assert fast.answered == 0


def test_keys_the_shortcut_does_not_know_go_to_the_endpoint(client, auth, make_key, point) -> None:
    key = make_key("dispatcher")
    assert client.get("/api/v1/locate", params=point, headers={"Authorization": f"Bearer {key}"}).status_code == 200
    fast = _fast(client)
    assert_problem(client.get("/api/v1/locate", params=point), 401, "unauthorized")
    assert_problem(client.get("/api/v1/locate", params=point, headers={"Authorization": "Bearer gm_forged"}),
                   401, "unauthorized")
    assert_problem(client.get("/api/v1/locate", params=point, headers={"Authorization": f"Basic {key}"}),
                   401, "unauthorized")
    assert fast.answered == 0
    # The scheme is case-insensitive and the key may carry blanks, as on the endpoint.
    assert client.get("/api/v1/locate", params=point, headers={"Authorization": f"bearer  {key} "}).status_code == 200
    assert fast.answered == 1


def test_a_revoked_key_is_refused_on_the_shortcut_at_once(client, auth, make_key, point) -> None:
    admin = auth("admin")
    victim = make_key("dispatcher")
    h = {"Authorization": f"Bearer {victim}"}
    assert client.get("/api/v1/locate", params=point, headers=h).status_code == 200
    assert client.get("/api/v1/locate", params=point, headers=h).status_code == 200
    fast = _fast(client)
    assert fast.answered == 1
    key_id = next(k["id"] for k in client.get("/api/v1/keys", headers=admin).json()["items"]
                  if victim.startswith(k["prefix"]) and k["revoked_at"] is None)
    assert client.delete(f"/api/v1/keys/{key_id}", headers=admin).status_code == 204
    assert_problem(client.get("/api/v1/locate", params=point, headers=h), 401, "unauthorized")
    assert fast.answered == 1


def test_shortcut_answers_are_counted_and_logged_like_any_other(client, auth, point) -> None:
    h = auth("intake")
    assert client.get("/api/v1/locate", params=point, headers=h).status_code == 200

    def count() -> float:
        for line in client.get("/metrics").text.splitlines():
            if line.startswith('gridmap_http_requests_total{method="GET",route="/api/v1/locate",status="200"}'):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    before = count()
    buf = io.StringIO()
    configure_logging("json", "INFO", stream=buf)
    try:
        resp = client.get("/api/v1/locate", params=point, headers={**h, "X-Request-ID": "fast-1"})
    finally:
        configure_logging("text", "INFO")
    assert resp.status_code == 200 and _fast(client).answered == 1
    assert count() - before == 1
    line = next(json.loads(x) for x in buf.getvalue().splitlines() if '"fast-1"' in x)
    assert line["route"] == "/api/v1/locate" and line["status"] == 200 and line["principal"] == "key:test intake"
