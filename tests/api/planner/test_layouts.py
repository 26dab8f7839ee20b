"""Making drafts: a copy of a layout, or an imported file (GeoJSON / GeoPackage in GCJ-02, BD-09...)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import httpx
import numpy as np
import pyogrio
import pytest
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.crs import wgs84_to_bd09, wgs84_to_gcj02
from tests.api.planner.conftest import problem, published_id

COMMUNITY = "110101001001"
SHIFT = {"gcj02": wgs84_to_gcj02, "bd09": wgs84_to_bd09}


def community_grids(db: Session, crs: str) -> gpd.GeoDataFrame:
    """The published grids of one community, with their fields renamed and coordinates shifted to ``crs``."""
    rows = db.execute(text("""SELECT code, name, ST_AsBinary(boundary) AS wkb FROM grid
                              WHERE layout_id = :l AND community_code = :c ORDER BY code"""),
                      {"l": published_id(db), "c": COMMUNITY}).all()
    geoms = shapely.from_wkb([bytes(r.wkb) for r in rows])
    if crs in SHIFT:
        def fn(c: np.ndarray) -> np.ndarray:
            return np.column_stack(SHIFT[crs](c[:, 0], c[:, 1]))

        geoms = shapely.transform(geoms, fn)
    # labelled WGS84 whatever the coordinates are: what digitising tools do with GCJ-02 and BD-09 data
    return gpd.GeoDataFrame({"BM": [r.code for r in rows], "MC": [r.name for r in rows]}, geometry=list(geoms),
                            crs="EPSG:4326")


def upload(client: httpx.Client, headers: dict[str, str], content: bytes, filename: str, **fields: str
           ) -> httpx.Response:
    return client.post("/api/v1/layouts", headers=headers, data=fields, files={"file": (filename, content)})


def layouts(db: Session) -> int:
    return db.execute(text("SELECT count(*) FROM grid_layout")).scalar_one()


@pytest.mark.parametrize(("crs", "suffix"), [("gcj02", ".geojson"), ("bd09", ".gpkg")])
def test_import_a_file_in_a_chinese_crs_as_a_draft(client: httpx.Client, db: Session, planner: dict[str, str],
                                                   quiet_app: None, tmp_path: Path, crs: str, suffix: str) -> None:
    gdf = community_grids(db, crs)
    path = tmp_path / f"plan{suffix}"
    pyogrio.write_dataframe(gdf, path, driver="GeoJSON" if suffix == ".geojson" else "GPKG")
    resp = upload(client, planner, path.read_bytes(), path.name, name="2027 规划", crs=crs, code_field="BM",
                  name_field="MC")
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["status"] == "draft" and body["name"] == "2027 规划" and body["grid_count"] == len(gdf)
    assert body["import"]["rows"] == len(gdf) and body["import"]["crs_assumed"] == crs
    # back in WGS84 within centimetres of where the published grids are
    far = db.execute(text("""
        SELECT max(ST_HausdorffDistance(CAST(a.boundary AS geography)::geometry, b.boundary)) FROM grid a
        JOIN grid b ON b.code = a.code AND b.layout_id = :pub WHERE a.layout_id = :new"""),
        {"pub": published_id(db), "new": body["id"]}).scalar_one()
    assert far < 1e-6  # degrees, ~10 cm
    names = db.execute(text("SELECT array_agg(name ORDER BY code) FROM grid WHERE layout_id = :l"),
                       {"l": body["id"]}).scalar_one()
    assert names == list(gdf["MC"])


def test_a_bad_file_is_refused_with_its_row_and_nothing_is_created(client: httpx.Client, db: Session,
                                                                   planner: dict[str, str], quiet_app: None) -> None:
    gdf = community_grids(db, "wgs84")
    x0, y0, x1, y1 = gdf.geometry.iloc[1].bounds
    gdf.loc[1, "geometry"] = shapely.Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1)])  # a bow-tie
    fc = json.loads(gdf.to_json())
    n = layouts(db)
    resp = upload(client, planner, json.dumps(fc).encode(), "bad.geojson", name="bad", code_field="BM")
    body = problem(resp, 422, "import_failed")
    assert body["row"] == 2 and body["reason"] == "invalid_geometry"
    assert layouts(db) == n
    body = problem(upload(client, planner, b"PK\x03\x04 not really", "规划 v2.zip", name="z"), 422, "import_failed")
    assert "v2.zip" in body["detail"]  # the file the planner sent, not a temporary name
    problem(upload(client, planner, b"hello", "notes.txt", name="t"), 422, "import_failed")
    good = community_grids(db, "wgs84").to_json().encode()
    problem(upload(client, planner, good, "x.geojson", name="f", code_field="NOPE"), 422,
            "invalid_parameter")
    problem(client.post("/api/v1/layouts", headers=planner, data={"name": "no file"}), 415, "unsupported_media_type")
    assert layouts(db) == n


def test_copy_of_a_given_layout_and_json_refusals(client: httpx.Client, draft, planner: dict[str, str]) -> None:
    draft.ok("delete", code=f"{COMMUNITY}001")
    resp = client.post("/api/v1/layouts", headers=planner, json={"name": "copy of the draft", "copy_of": draft.id})
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["parent_id"] == draft.id and body["grid_count"] == 568 and body["revision"] == 0
    problem(client.post("/api/v1/layouts", headers=planner, json={"name": "x", "copy_of": 99999}), 404, "not_found")
    problem(client.post("/api/v1/layouts", headers=planner, json={"name": ""}), 422, "validation_error")
    problem(client.post("/api/v1/layouts", headers=planner, content=b"{not json"), 400, "malformed_body")
    listed = client.get("/api/v1/layouts", headers=planner).json()["items"]
    mine = next(i for i in listed if i["id"] == body["id"])
    assert mine["revision"] == 0 and mine["parent_id"] == draft.id and mine["created_at"]


def test_compare_two_layouts(draft, auth: Callable[[str], dict[str, str]]) -> None:
    from tests.api.planner.test_edits import adjacent_pair

    a, b = adjacent_pair(draft.db, draft.id, same_community=True)
    draft.ok("merge", codes=[a, b], keep=a)
    draft.ok("update_attrs", code=f"{COMMUNITY}001", name="renamed only")
    pub = published_id(draft.db)
    body = draft.client.get("/api/v1/layouts/compare", params={"a": pub, "b": draft.id}, headers=draft.headers).json()
    assert body["summary"] == {"added": 0, "removed": 1, "changed": 1, "same": 567}
    by_code = {g["code"]: g for g in body["grids"]}
    assert by_code[b]["status"] == "removed" and by_code[a]["status"] == "changed"
    area_b = draft.db.execute(text("SELECT ST_Area(CAST(boundary AS geography)) FROM grid WHERE layout_id = :l "
                                   "AND code = :c"), {"l": pub, "c": b}).scalar_one()
    assert abs(by_code[a]["area_change_m2"] - area_b) < 1.0
    assert {f["id"] for f in body["changes"]["features"]} == {a, b}
    problem(draft.client.get("/api/v1/layouts/compare", params={"a": pub, "b": pub}, headers=draft.headers), 422,
            "invalid_parameter")
