"""GET and POST /api/v1/locate: answers, CRS handling, versions, and bad input as problem+json."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.crs import wgs84_to_bd09, wgs84_to_gcj02
from tests.api.test_read_api import assert_problem


@pytest.fixture
def inside(db: Session) -> tuple[float, float, str]:
    """A point well inside a grid of the published layout, with that grid's code."""
    x, y, code = db.execute(text("""
        SELECT ST_X(p), ST_Y(p), code FROM (
          SELECT ST_PointOnSurface(ST_Buffer(boundary, -0.0005)) p, code FROM grid g
          JOIN grid_layout l ON l.id = g.layout_id WHERE l.status = 'published' ORDER BY code LIMIT 1 OFFSET 7) t
    """)).one()
    return x, y, code


def test_locate_a_point_with_its_grid_community_street_and_staff(client, auth, inside) -> None:
    x, y, code = inside
    body = client.get("/api/v1/locate", params={"lon": x, "lat": y}, headers=auth("intake")).json()
    assert body["method"] == "inside" and body["distance_m"] == 0 and body["crs_assumed"] == "wgs84"
    grid = body["grid"]
    assert grid["code"] == code and grid["community"]["code"] == code[:12] and grid["street"]["code"] == code[:9]
    assert grid["staff_on_duty"] and all("****" in s["phone"] for s in grid["staff_on_duty"])
    assert body["point"] == {"lon": pytest.approx(x), "lat": pytest.approx(y)}


@pytest.mark.parametrize("crs,forward", [("gcj02", wgs84_to_gcj02), ("bd09", wgs84_to_bd09)])
def test_chinese_app_coordinates_land_in_the_same_grid(client, auth, inside, crs, forward) -> None:
    x, y, code = inside
    fx, fy = forward(x, y)
    body = client.get("/api/v1/locate", params={"lon": float(fx), "lat": float(fy), "crs": crs},
                      headers=auth()).json()
    assert body["crs_assumed"] == crs and body["grid"]["code"] == code
    assert abs(body["point"]["lon"] - x) < 1e-6 and abs(body["point"]["lat"] - y) < 1e-6


def test_versions_at_a_time_and_a_named_draft(client, auth, db: Session, inside) -> None:
    x, y, _ = inside
    h = auth()
    assert_problem(client.get("/api/v1/locate", params={"lon": x, "lat": y, "at": "2020-01-01T00:00"}, headers=h),
                   404, "not_found")
    draft = db.execute(text("INSERT INTO grid_layout (name) VALUES ('draft') RETURNING id")).scalar_one()
    db.execute(text("""INSERT INTO grid (layout_id, code, name, boundary) VALUES (:l, '110101001001777', '草案网格',
                       ST_Multi(ST_Buffer(ST_SetSRID(ST_MakePoint(:x, :y), 4326), 0.01)))"""),
               {"l": draft, "x": x, "y": y})
    body = client.get("/api/v1/locate", params={"lon": x, "lat": y, "layout": draft}, headers=h).json()
    assert body["grid"]["code"] == "110101001001777" and body["layout"]["id"] == draft
    now = client.get("/api/v1/locate", params={"lon": x, "lat": y, "at": "2026-06-01T12:00:00+08:00"}, headers=h)
    assert now.json()["grid"]["code"] != "110101001001777"


def test_outside_coverage_is_an_answer_not_an_error(client, auth) -> None:
    body = client.get("/api/v1/locate", params={"lon": 121.47, "lat": 31.23}, headers=auth()).json()
    assert body["method"] == "unrouted" and body["grid"] is None and body["reason"] == "outside_coverage"


@pytest.mark.parametrize("params,status,code", [
    ({"lon": "nan", "lat": 39.9}, 422, "validation_error"),
    ({"lon": 39.9, "lat": 116.4}, 422, "validation_error"),
    ({"lon": 500, "lat": 39.9}, 422, "validation_error"),
    ({"lon": 116.4, "lat": 39.9, "crs": "klingon-7"}, 422, "invalid_parameter"),
    ({"lon": 116.4, "lat": 39.9, "at": "yesterday"}, 422, "invalid_parameter"),
    ({"lon": 116.4}, 422, "validation_error"),
    ({"lon": 116.4, "lat": 39.9, "layout": 999999}, 404, "not_found"),
])
def test_bad_input_is_a_4xx_problem(client, auth, params, status, code) -> None:
    body = assert_problem(client.get("/api/v1/locate", params=params, headers=auth()), status, code)
    if params.get("lat") == 116.4:
        assert "longitude first" in body["detail"]


def test_batch_returns_results_in_input_order(client, auth, db: Session) -> None:
    pts = np.array(db.execute(text("SELECT ST_X(location), ST_Y(location) FROM report ORDER BY id")).all())
    rng = np.random.default_rng(5)
    pts = pts[rng.integers(0, len(pts), 100_000)]
    resp = client.post("/api/v1/locate", json={"points": pts.tolist()}, headers=auth())
    assert resp.status_code == 200
    body = resp.json()
    assert body["count"] == 100_000 and [r["i"] for r in body["results"][:5]] == [0, 1, 2, 3, 4]
    assert len(body["results"]) == 100_000
    # Spot checks against PostGIS (the whole relation is compared in test_index.py).
    sample = rng.integers(0, 100_000, 200)
    for k in sample:
        x, y = pts[k]
        row = db.execute(text("""SELECT min(code) FROM grid g JOIN grid_layout l ON l.id = g.layout_id
                                 WHERE l.status = 'published'
                                   AND ST_Covers(boundary, ST_SetSRID(ST_MakePoint(:x, :y), 4326))"""),
                         {"x": x, "y": y}).scalar()
        if row is not None:
            assert body["results"][k]["grid"] == row


def test_batch_takes_geojson_and_names_the_bad_point(client, auth) -> None:
    fc = {"type": "FeatureCollection", "crs": "gcj02", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [116.41, 39.92]}, "properties": {}}]}
    body = client.post("/api/v1/locate", json=fc, headers=auth()).json()
    assert body["crs_assumed"] == "gcj02" and body["results"][0]["grid"]
    bad = client.post("/api/v1/locate", json={"points": [[116.4, 39.9], [116.4, "x"]]}, headers=auth())
    assert assert_problem(bad, 422, "validation_error")["index"] == 1
    assert_problem(client.post("/api/v1/locate", content=b"{nope", headers=auth()), 400, "malformed_body")
    fc["features"][0]["geometry"]["type"] = "LineString"
    assert assert_problem(client.post("/api/v1/locate", json=fc, headers=auth()), 422, "validation_error")["index"] == 0


def test_the_postgis_reference_path_gives_the_same_answers(client, auth, db: Session) -> None:
    h = auth()
    rows = db.execute(text("""
        SELECT ST_X(p), ST_Y(p) FROM (
          SELECT (ST_DumpPoints(boundary)).geom p FROM grid g JOIN grid_layout l ON l.id = g.layout_id
          WHERE l.status = 'published' ORDER BY g.code LIMIT 60) t
        UNION ALL SELECT ST_X(location), ST_Y(location) FROM (SELECT location FROM report ORDER BY id LIMIT 60) r
        UNION ALL SELECT 116.3, 39.9""")).all()
    for x, y in rows:
        ours = client.get("/api/v1/locate", params={"lon": x, "lat": y}, headers=h).json()
        ref = client.get("/api/v1/locate", params={"lon": x, "lat": y, "engine": "postgis"}, headers=h).json()
        assert ref.pop("engine") == "postgis"
        ours.pop("at"), ref.pop("at")
        if ours["distance_m"] and ref["distance_m"]:
            assert abs(ours.pop("distance_m") - ref.pop("distance_m")) < 0.05
        assert ours == ref
