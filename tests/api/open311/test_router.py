"""Open311 GeoReport v2: a 311-style client lists services, posts a request form and reads it back."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session


def test_a_311_client_round_trip(client, make_key, db: Session) -> None:
    key = make_key("intake")
    services = client.get("/open311/v2/services.json", params={"api_key": key}).json()
    codes = {s["service_code"] for s in services}
    assert "E01001" in codes and all(s["type"] == "realtime" and s["metadata"] is False for s in services)
    x, y, code = db.execute(text("""SELECT ST_X(p), ST_Y(p), code FROM (SELECT ST_PointOnSurface(boundary) p, code
                                    FROM grid ORDER BY code LIMIT 1) t""")).one()
    created = client.post("/open311/v2/requests.json", data={
        "api_key": key, "service_code": "E01001", "lat": str(y), "long": str(x), "description": "井盖缺失",
        "first_name": "明", "last_name": "李", "phone": "13900001111", "media_url": "https://example.org/a.jpg"})
    assert created.status_code == 201, created.text
    [ack] = created.json()
    assert code in ack["service_notice"]
    rid = ack["service_request_id"]
    [req] = client.get(f"/open311/v2/requests/{rid}.json", params={"api_key": key}).json()
    assert req["status"] == "open" and req["service_code"] == "E01001" and req["lat"] == y and req["long"] == x
    assert req["extended_attributes"]["grid_code"] == code
    assert req["extended_attributes"]["gridmap_status"] == "reported"
    listed = client.get("/open311/v2/requests.json", params={"api_key": key, "service_request_id": rid}).json()
    assert [r["service_request_id"] for r in listed] == [rid]
    closed = client.get("/open311/v2/requests.json", headers={"Authorization": f"Bearer {make_key('admin')}"},
                        params={"status": "closed"}).json()
    assert closed and all(r["status"] == "closed" for r in closed) and len(closed) <= 1000


def open311_error(resp, status: int, code: str) -> str:
    """A GeoReport v2 error: ``[{"code": <status>, "description": …}]`` with the HTTP status, JSON."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    [err] = resp.json()
    assert err["code"] == status and err["description"] and err["gridmap_code"] == code
    return err["description"]


def test_open311_errors_are_4xx_in_georeport_form(client, make_key) -> None:
    key = make_key("intake")
    open311_error(client.get("/open311/v2/requests.json"), 401, "unauthorized")
    assert client.get("/open311/v2/requests.json").headers["www-authenticate"] == "Bearer"
    open311_error(client.get("/open311/v2/requests.json", params={"api_key": "gm_nope"}), 401, "unauthorized")
    assert "lat" in open311_error(client.post("/open311/v2/requests.json", data={
        "api_key": key, "service_code": "E01001", "lat": "abc", "long": "116.4"}), 422, "validation_error")
    open311_error(client.post("/open311/v2/requests.json", data={"api_key": key}), 422, "validation_error")
    open311_error(client.post("/open311/v2/requests.json", data={"api_key": make_key("viewer"),
                                                                  "service_code": "E01001"}), 403, "forbidden")
    open311_error(client.get("/open311/v2/requests/99999999.json", params={"api_key": key}), 404, "not_found")
    open311_error(client.get("/open311/v2/services/NOPE.json"), 404, "not_found")
    open311_error(client.get("/open311/v2/requests.json", params={"api_key": key, "status": "opened"}), 422,
                  "validation_error")
    open311_error(client.get("/open311/v2/requests.json", params={
        "api_key": key, "start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"}), 400,
        "invalid_parameter")
    open311_error(client.post("/open311/v2/requests.json", params={"api_key": key}, content=b"[" * 3000 + b"]" * 3000,
                              headers={"Content-Type": "application/json"}), 400, "invalid_parameter")
