"""/metrics (Prometheus) and structured JSON request logs (issue 9)."""

from __future__ import annotations

import io
import json

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.core.observe import configure_logging


def _samples(client) -> dict[tuple, float]:
    resp = client.get("/metrics")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(resp.text) for s in fam.samples}


def _value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def _inside_point(db: Session) -> tuple[float, float]:
    return db.execute(text("""SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(ST_Buffer(boundary, -0.0005)) p
        FROM grid g JOIN grid_layout l ON l.id = g.layout_id WHERE l.status = 'published' ORDER BY code LIMIT 1) t
    """)).one()


def test_metrics_count_requests_by_route_template_routing_and_intake(client, auth, db: Session) -> None:
    x, y = _inside_point(db)
    before = _samples(client)
    h = auth("intake")
    body = {"source": "hotline_12345", "external_id": "M-1", "category": "E01001", "description": "指标", "lon": x,
            "lat": y}
    created = client.post("/api/v1/reports", json=body, headers=h)
    assert created.status_code == 201
    assert client.post("/api/v1/reports", json=body, headers=h).status_code == 200  # an idempotent replay
    assert client.post("/api/v1/reports", json={**body, "category": "nope"}, headers=h).status_code == 422
    reader = auth("dispatcher")
    rid = created.json()["id"]
    assert client.get(f"/api/v1/reports/{rid}", headers=reader).status_code == 200
    assert client.get(f"/api/v1/locate?lon={x}&lat={y}", headers=reader).status_code == 200
    after = _samples(client)

    def delta(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    route = "/api/v1/reports"
    assert delta("gridmap_http_requests_total", method="POST", route=route, status="201") == 1
    assert delta("gridmap_http_requests_total", method="POST", route=route, status="200") == 1
    assert delta("gridmap_http_requests_total", method="POST", route=route, status="422") == 1
    assert delta("gridmap_http_request_duration_seconds_count", method="POST", route=route) == 3
    # Labelled by the template, never by the id (bounded series).
    assert delta("gridmap_http_requests_total", method="GET", route="/api/v1/reports/{report_id}", status="200") == 1
    assert not any(str(rid) in dict(k[1]).get("route", "") for k in after)
    assert delta("gridmap_intake_reports_total", outcome="accepted", source="api") == 1
    assert delta("gridmap_intake_reports_total", outcome="replayed", source="api") == 1
    assert delta("gridmap_intake_reports_total", outcome="rejected", source="api") == 1
    assert delta("gridmap_intake_duration_seconds_count") == 2
    assert delta("gridmap_routing_decisions_total", method="inside", via="intake") == 1
    assert delta("gridmap_routing_decisions_total", method="inside", via="locate") == 1
    assert delta("gridmap_routing_duration_seconds_count", via="locate") == 1
    assert _value(after, "gridmap_http_requests_in_flight") >= 1  # the /metrics request itself


def test_json_logs_one_object_a_line_with_request_id_route_status_and_principal(client, auth, make_key) -> None:
    buf = io.StringIO()
    configure_logging("json", "INFO", stream=buf)
    try:
        key = make_key("dispatcher")
        resp = client.get("/api/v1/layouts", headers={"Authorization": f"Bearer {key}", "X-Request-ID": "rq-42"})
        assert resp.status_code == 200 and resp.headers["x-request-id"] == "rq-42"
        other = client.get("/api/v1/layouts", headers={"X-Request-ID": "bad id with spaces"})
        assert other.status_code == 401 and other.headers["x-request-id"] != "bad id with spaces"
    finally:
        configure_logging("text", "INFO")
    lines = [json.loads(line) for line in buf.getvalue().splitlines()]  # every line is one JSON object
    access = [r for r in lines if r["logger"] == "gridmap.access"]
    mine = next(r for r in access if r["request_id"] == "rq-42")
    assert mine["route"] == "/api/v1/layouts" and mine["status"] == 200 and mine["method"] == "GET"
    assert mine["principal"] == "key:test dispatcher" and mine["duration_ms"] >= 0 and mine["level"] == "info"
    anon = next(r for r in access if r["request_id"] == other.headers["x-request-id"])
    assert anon["status"] == 401 and anon["principal"] is None
    assert key not in buf.getvalue()  # the key itself is never logged


def test_the_access_log_keeps_errors_slow_writes_and_traced_requests_and_samples_the_rest(db: Session,
                                                                                          make_key) -> None:
    """GRIDMAP_LOG_SAMPLE=0: plain fast successful reads are not logged, everything else is; metrics count all."""
    from contextlib import nullcontext

    from fastapi.testclient import TestClient

    from api.core.config import Settings
    from api.core.deps import get_session, get_session_factory
    from api.main import create_app

    def _session():
        yield db
        db.flush()

    async def _factory():
        return lambda: nullcontext(db)

    def run(sample: float) -> list[dict]:
        app = create_app(Settings(log_sample=sample, log_slow_ms=10_000))
        app.dependency_overrides[get_session] = _session
        app.dependency_overrides[get_session_factory] = _factory
        buf = io.StringIO()
        with TestClient(app, raise_server_exceptions=False) as client:
            configure_logging("json", "INFO", stream=buf)
            try:
                h = {"Authorization": f"Bearer {make_key('admin')}"}
                before = _value(_samples(client), "gridmap_http_requests_total", method="GET",
                                route="/api/v1/layouts", status="200")
                for _ in range(4):
                    assert client.get("/api/v1/layouts", headers=h).status_code == 200
                assert client.get("/api/v1/layouts", headers={**h, "X-Request-ID": "traced-1"}).status_code == 200
                assert client.get("/api/v1/reports/999999999", headers=h).status_code == 404
                assert client.post("/api/v1/keys", json={"name": "x", "role": "nope"}, headers=h).status_code == 422
                counted = _value(_samples(client), "gridmap_http_requests_total", method="GET",
                                 route="/api/v1/layouts", status="200") - before
            finally:
                configure_logging("text", "INFO")
        assert counted == 5  # metrics stay exact whatever is logged
        return [r for r in map(json.loads, buf.getvalue().splitlines()) if r["logger"] == "gridmap.access"]

    none = run(0.0)
    assert [(r["method"], r["status"]) for r in none if r["route"] != "/metrics"] == [
        ("GET", 200), ("GET", 404), ("POST", 422)]
    assert none[0]["request_id"] == "traced-1"
    every = run(1.0)
    assert sum(1 for r in every if r["route"] == "/api/v1/layouts") == 5
    half = run(0.5)
    assert sum(1 for r in half if r["route"] == "/api/v1/layouts" and r["request_id"] != "traced-1") == 2


def test_database_down_503s_are_counted_and_logged_as_503() -> None:
    """Issue 17 defect 7: an app whose PostgreSQL is unreachable (a port nobody listens on) answers 503
    ``database_unavailable``, and /metrics and the access log say 503, not the 500 they used to count (the
    ``Exception`` handler ran outside the metrics middleware, which had recorded a 500 by then)."""
    import socket

    from fastapi.testclient import TestClient

    from api.core.config import Settings
    from api.main import create_app

    with socket.socket() as s:  # a free port, closed again: connections to it are refused
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    app = create_app(Settings(database_url=f"postgresql://gridmap@127.0.0.1:{dead}/gridmap", listen=False,
                              due_interval_s=0))
    buf = io.StringIO()
    with TestClient(app, raise_server_exceptions=True) as client:
        configure_logging("json", "INFO", stream=buf)
        try:
            before = _samples(client)
            for _ in range(3):
                resp = client.get("/api/v1/layouts", headers={"Authorization": "Bearer gm_not_checked_yet"})
                assert resp.status_code == 503, resp.text
                assert resp.json()["code"] == "database_unavailable" and resp.headers["retry-after"]
            after = _samples(client)
        finally:
            configure_logging("text", "INFO")

    def delta(status: str) -> float:
        labels = {"method": "GET", "route": "/api/v1/layouts", "status": status}
        return _value(after, "gridmap_http_requests_total", **labels) - _value(before, "gridmap_http_requests_total",
                                                                            **labels)

    assert delta("503") == 3 and delta("500") == 0
    logged = [r for r in map(json.loads, buf.getvalue().splitlines())
              if r["logger"] == "gridmap.access" and r["route"] == "/api/v1/layouts"]
    assert [r["status"] for r in logged] == [503, 503, 503]
