"""Roads and network catchments (issue 20) on the sample district: its road network is served, walked, never
reaches farther than the straight line, falls back to the straight line without roads (and says so), and
imports and exports like any layer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import shapely
from sqlalchemy import text

from api.core.errors import ImportFailed
from api.imports.service import export_layer, import_layer
from tests.api.planner.conftest import published_id

COMMUNITY = "110101006003"  # 二条社区 of 东四 (the hutong core): lanes every 120 m


def test_roads_layer_has_real_names_where_they_are(client, auth) -> None:
    resp = client.get("/api/v1/roads", params={"bbox": "116.405,39.90,116.42,39.94"}, headers=auth("viewer"))
    assert resp.status_code == 200, resp.text
    feats = {f["properties"]["name"]: f for f in resp.json()["features"]}
    wfj = feats["王府井大街"]  # the corridor of the generator, north-south at 116.4105
    assert wfj["properties"]["kind"] == "primary" and wfj["properties"]["streets"].startswith("110101001")
    xs = shapely.get_coordinates(shapely.geometry.shape(wfj["geometry"]))[:, 0]
    assert np.allclose(xs, 116.4105, atol=1e-6)
    assert any(f["properties"]["kind"] == "lane" and f["properties"]["name"].endswith("胡同") for f in feats.values())


def test_network_catchment_is_within_the_straight_line_one(client, auth, db) -> None:
    lid = published_id(db)
    h = auth("planner")
    walk = client.get(f"/api/v1/layouts/{lid}/walk-catchments",
                      params={"community": COMMUNITY, "per_kind": "kindergarten:5"}, headers=h)
    assert walk.status_code == 200, walk.text
    body = walk.json()
    assert body["method"] == "network"
    straight = client.get(f"/api/v1/layouts/{lid}/catchments", params={"reach": "kindergarten:333.33"}, headers=h)
    assert straight.status_code == 200, straight.text
    line = {}
    for row in straight.json()["grids"]:
        if row["code"].startswith(COMMUNITY):
            k = line.setdefault(row["kind"], [0, 0])
            k[0] += row["households_covered"]
            k[1] += row["households"]
    walked = {k["kind"]: k for k in body["kinds"]}
    assert walked["kindergarten"]["reach_m"] == pytest.approx(333.33) and walked["clinic"]["reach_m"] == 1000
    shorter = 0
    for kind, (covered, total) in line.items():
        w = walked[kind]
        assert w["households"] == total
        assert w["households_covered"] <= covered, kind  # along the roads never farther than the line
        shorter += w["households_covered"] < covered
        beyond = sum(b["households"] for b in w["buildings_beyond"])
        assert beyond == w["households"] - w["households_covered"]
        if w["households_covered"]:
            assert shapely.geometry.shape(w["isochrone"]).is_valid
    assert shorter >= 1  # and somewhere it really is shorter


def test_without_roads_the_straight_line_and_it_says_so(client, auth, db) -> None:
    db.execute(text("DELETE FROM road"))
    resp = client.get(f"/api/v1/layouts/{published_id(db)}/walk-catchments",
                      params={"community": COMMUNITY, "kind": "clinic", "isochrones": "false"}, headers=auth("planner"))
    assert resp.status_code == 200, resp.text
    assert resp.json()["method"] == "straight_line" and resp.json()["kinds"][0]["isochrone"] is None


def test_bad_minutes_is_422(client, auth, db) -> None:
    resp = client.get(f"/api/v1/layouts/{published_id(db)}/walk-catchments", params={"per_kind": "clinic"},
                      headers=auth("planner"))
    assert resp.status_code == 422 and resp.json()["code"] in ("invalid_parameter", "validation_error")


def test_import_merges_by_name_refuses_polygons_and_exports(db, tmp_path: Path) -> None:
    line = lambda x: {"type": "LineString", "coordinates": [[x, 39.93], [x, 39.94]]}  # noqa: E731
    feats = [{"type": "Feature", "properties": {"code": f"T{i}", "name": "测试路", "highway": "residential"},
              "geometry": line(116.40 + i * 0.001)} for i in range(2)]
    src = tmp_path / "roads.geojson"
    src.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    res = import_layer(db, layer="roads", path=src)
    assert res.rows_imported == 1 and any("same name" in n for n in res.notes)
    row = db.execute(text("SELECT kind, ST_NumGeometries(geom) FROM road WHERE name = '测试路'")).one()
    assert tuple(row) == ("lane", 2)
    out = tmp_path / "out.geojson"
    assert export_layer(db, layer="roads", path=out) == db.execute(text("SELECT count(*) FROM road")).scalar()
    assert "测试路" in out.read_text()
    feats[0]["geometry"] = {"type": "Polygon", "coordinates": [[[116.4, 39.9], [116.41, 39.9], [116.4, 39.91],
                                                                [116.4, 39.9]]]}
    src.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    with pytest.raises(ImportFailed) as exc:
        import_layer(db, layer="roads", path=src, replace=True)
    assert exc.value.extra["reason"] == "wrong_geometry_type" if hasattr(exc.value, "extra") else True
