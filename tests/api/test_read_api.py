"""The read API against the seeded PostGIS: keys and roles, GeoJSON, paging, bbox, problem+json."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from shapely.geometry import box, shape
from sqlalchemy import text
from sqlalchemy.orm import Session

Auth = Callable[..., dict[str, str]]
PROBLEM = "application/problem+json"


def assert_problem(resp: httpx.Response, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    body = resp.json()
    assert body["status"] == status and body["code"] == code and body["title"] and body["detail"]
    return body


def test_every_api_route_needs_a_key(client: httpx.Client) -> None:
    for path in ("/api/v1/streets", "/api/v1/grids", "/api/v1/layouts", "/api/v1/categories", "/api/v1/keys"):
        resp = client.get(path)
        assert_problem(resp, 401, "unauthorized")
        assert resp.headers["www-authenticate"] == "Bearer"
    assert_problem(client.get("/api/v1/grids", headers={"Authorization": "Bearer gm_not-a-key"}), 401,
                   "unauthorized")


def test_roles_are_enforced(client: httpx.Client, auth: Auth) -> None:
    intake = auth("intake")
    assert_problem(client.get("/api/v1/grids", headers=intake), 403, "forbidden")
    commander = auth("dispatcher")
    assert client.get("/api/v1/grids", headers=commander).status_code == 200
    assert_problem(client.post("/api/v1/keys", json={"name": "x", "role": "admin"}, headers=commander), 403,
                   "forbidden")


def test_admin_issues_and_revokes_keys_that_are_stored_hashed(client: httpx.Client, auth: Auth, db: Session) -> None:
    admin = auth("admin")
    resp = client.post("/api/v1/keys", json={"name": "hotline", "role": "planner"}, headers=admin)
    assert resp.status_code == 201, resp.text
    new = resp.json()
    assert new["key"].startswith("gm_") and new["role"] == "planner"
    stored = db.execute(text("SELECT key_hash FROM api_key WHERE id = :i"), {"i": new["id"]}).scalar_one()
    assert new["key"] not in stored and len(stored) == 64
    planner = {"Authorization": f"Bearer {new['key']}"}
    assert client.get("/api/v1/layouts", headers=planner).status_code == 200
    assert client.delete(f"/api/v1/keys/{new['id']}", headers=admin).status_code == 204
    assert_problem(client.get("/api/v1/layouts", headers=planner), 401, "unauthorized")
    assert_problem(client.post("/api/v1/keys", json={"name": "x", "role": "root"}, headers=admin), 422,
                   "validation_error")


def test_streets_and_communities_are_geojson(client: httpx.Client, auth: Auth, db: Session) -> None:
    h = auth()
    streets = client.get("/api/v1/streets", headers=h)
    assert streets.headers["content-type"] == "application/geo+json"
    fc = streets.json()
    assert fc["type"] == "FeatureCollection"
    assert len(fc["features"]) == db.execute(text("SELECT count(*) FROM street")).scalar_one() >= 8
    first = fc["features"][0]
    assert first["geometry"]["type"] == "MultiPolygon" and first["properties"]["name"].endswith("街道")
    code = first["properties"]["code"]
    comms = client.get("/api/v1/communities", params={"street": code}, headers=h).json()["features"]
    assert comms and all(f["properties"]["street_code"] == code for f in comms)
    assert_problem(client.get("/api/v1/communities", params={"street": "12"}, headers=h), 422, "validation_error")


def test_grids_page_through_the_layout_in_force(client: httpx.Client, auth: Auth, db: Session) -> None:
    h = auth()
    total = db.execute(text("""SELECT count(*) FROM grid g JOIN grid_layout l ON l.id = g.layout_id
                               WHERE l.status = 'published' AND l.effective_to IS NULL""")).scalar_one()
    assert total >= 300
    seen: list[str] = []
    url: str | None = "/api/v1/grids?limit=120"
    while url:
        page = client.get(url, headers=h).json()
        assert page["numberMatched"] == total and page["numberReturned"] == len(page["features"]) <= 120
        seen += [f["id"] for f in page["features"]]
        nxt = [link["href"] for link in page["links"] if link["rel"] == "next"]
        url = nxt[0] if nxt else None
    assert len(seen) == len(set(seen)) == total
    assert all(len(c) == 15 for c in seen)


def test_bbox_filters_and_bad_bboxes_are_4xx(client: httpx.Client, auth: Auth) -> None:
    h = auth()
    all_grids = client.get("/api/v1/grids", params={"limit": 10000}, headers=h).json()["features"]
    minx, miny, maxx, maxy = shape(all_grids[0]["geometry"]).bounds
    query = box(minx, miny, maxx, maxy)
    some = client.get("/api/v1/grids", params={"bbox": f"{minx},{miny},{maxx},{maxy}"}, headers=h).json()
    expected = {f["id"] for f in all_grids if shape(f["geometry"]).intersects(query)}
    assert {f["id"] for f in some["features"]} == expected and 0 < len(expected) < len(all_grids)
    for bad in ("1,2,3", "a,b,c,d", "116.5,39.9,116.4,40.0", "39.9,116.4,40.0,116.5", "nan,1,2,3"):
        body = assert_problem(client.get("/api/v1/grids", params={"bbox": bad}, headers=h), 422, "invalid_parameter")
        assert body["field"] == "bbox"
    assert_problem(client.get("/api/v1/buildings", headers=h), 422, "validation_error")


def test_buildings_by_bbox(client: httpx.Client, auth: Auth) -> None:
    resp = client.get("/api/v1/buildings", params={"bbox": "116.40,39.90,116.41,39.91", "limit": 50},
                      headers=auth())
    fc = resp.json()
    assert 0 < fc["numberReturned"] <= 50 <= fc["numberMatched"]
    assert all(f["geometry"]["type"] == "Polygon" for f in fc["features"])
    assert all(shape(f["geometry"]).intersects(box(116.40, 39.90, 116.41, 39.91)) for f in fc["features"])


def test_grid_detail_has_staff_with_masked_phones_and_counts(client: httpx.Client, auth: Auth, db: Session) -> None:
    code = db.execute(text("SELECT grid_code FROM person WHERE role = 'grid_leader' LIMIT 1")).scalar_one()
    detail = client.get(f"/api/v1/grids/{code}", headers=auth("planner")).json()  # planners see phones masked
    props = detail["properties"]
    assert props["code"] == code and props["community_name"] and props["street_name"]
    assert props["counts"]["buildings"] > 0 and props["counts"]["households"] > 0
    assert {s["role"] for s in props["staff"]} >= {"grid_leader", "grid_worker"}
    assert all("****" in s["phone"] for s in props["staff"] if s["phone"])
    for role in ("admin", "dispatcher", "operator"):  # those who hand a case over by phone (Can.SEE_STAFF_PHONE)
        unmasked = client.get(f"/api/v1/grids/{code}", headers=auth(role)).json()["properties"]["staff"]
        assert any(s["phone"] and "****" not in s["phone"] for s in unmasked), role
    assert_problem(client.get("/api/v1/grids/999999999999999", headers=auth()), 404, "not_found")
    assert_problem(client.get("/api/v1/grids/12ab", headers=auth()), 422, "validation_error")
    assert_problem(client.get(f"/api/v1/grids/{code}?layout=987654", headers=auth()), 404, "not_found")


def test_layouts_mark_the_one_in_force(client: httpx.Client, auth: Auth) -> None:
    items = client.get("/api/v1/layouts", headers=auth()).json()["items"]
    current = [i for i in items if i["current"]]
    assert len(current) == 1 and current[0]["status"] == "published" and current[0]["grid_count"] >= 300


def test_categories_are_data(client: httpx.Client, auth: Auth) -> None:
    items = client.get("/api/v1/categories", headers=auth("intake")).json()["items"]
    kinds = {i["kind"] for i in items}
    assert kinds == {"component", "event", "community"} and all(i["time_limit_hours"] > 0 for i in items)


def test_health_and_unknown_routes(client: httpx.Client) -> None:
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["postgis"].startswith("3.")
    assert_problem(client.get("/api/v1/nothing-here"), 404, "not_found")
    assert_problem(client.delete("/healthz"), 405, "method_not_allowed")


@pytest.mark.parametrize("path", ["/", "/api/docs", "/api/v1/openapi.json"])
def test_front_end_and_docs_are_served(client: httpx.Client, path: str) -> None:
    assert client.get(path).status_code == 200
