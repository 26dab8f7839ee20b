"""The CRS a file declares (issue 17, defect 5): read from its .prj or GeoJSON crs member, refused when it
cannot be read or does not fit the coordinates, and named with where it came from in every answer."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import geopandas as gpd
import httpx
import pyogrio
import pyproj
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.api.conftest import problem
from tests.api.planner.test_layouts import community_grids, upload


@pytest.fixture
def planner(auth) -> dict[str, str]:
    return auth("planner")


def layouts(db: Session) -> int:
    return db.execute(text("SELECT count(*) FROM grid_layout")).scalar_one()


def zipped(gdf: gpd.GeoDataFrame, tmp_path: Path, *, prj: str | None) -> bytes:
    """A zipped Shapefile of ``gdf`` (its coordinates as they are) with ``prj`` as its .prj text."""
    pyogrio.write_dataframe(gdf.set_crs(None, allow_override=True), tmp_path / "plan.shp", driver="ESRI Shapefile")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for ext in (".shp", ".shx", ".dbf"):
            z.write(tmp_path / f"plan{ext}", f"plan{ext}")
        if prj is not None:
            z.writestr("plan.prj", prj)
    return buf.getvalue()


def esri_wkt(epsg: int) -> str:
    return pyproj.CRS.from_epsg(epsg).to_wkt("WKT1_ESRI")


def test_degrees_under_a_prj_of_web_mercator_are_refused_naming_the_crs_and_the_prj(
        client: httpx.Client, db: Session, planner: dict[str, str], tmp_path: Path) -> None:
    n = layouts(db)
    resp = upload(client, planner, zipped(community_grids(db, "wgs84"), tmp_path, prj=esri_wkt(3857)), "plan.zip",
                  name="gulf of guinea", code_field="BM")
    body = problem(resp, 422, "import_failed")
    assert body["reason"] == "coordinates_outside_crs" and body["crs"] == "EPSG:3857"
    assert body["crs_read_from"] == "the .prj file (plan.prj)"
    assert "EPSG:3857" in body["detail"] and "plan.prj" in body["detail"] and "degrees" in body["detail"]
    assert layouts(db) == n


def test_a_garbage_prj_is_refused_instead_of_becoming_wgs84(client: httpx.Client, db: Session,
                                                             planner: dict[str, str], tmp_path: Path) -> None:
    n = layouts(db)
    resp = upload(client, planner, zipped(community_grids(db, "wgs84"), tmp_path, prj="Beijing 1954 (ask Mr Wang)"),
                  "plan.zip", name="garbage", code_field="BM")
    body = problem(resp, 422, "import_failed")
    assert body["reason"] == "unreadable_crs" and "plan.prj" in body["detail"] and "ask Mr Wang" in body["detail"]
    assert layouts(db) == n


def test_a_geojson_crs_member_and_the_crs_parameter_are_held_to_the_coordinates(
        client: httpx.Client, db: Session, planner: dict[str, str]) -> None:
    fc = json.loads(community_grids(db, "wgs84").to_json())
    n = layouts(db)
    fc["crs"] = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3857"}}
    body = problem(upload(client, planner, json.dumps(fc).encode(), "plan.geojson", name="m", code_field="BM"), 422,
                   "import_failed")
    assert body["crs_read_from"] == "the GeoJSON crs member" and "EPSG:3857" in body["detail"]
    fc["crs"] = {"type": "name", "properties": {"name": "no such crs"}}
    body = problem(upload(client, planner, json.dumps(fc).encode(), "plan.geojson", name="m", code_field="BM"), 422,
                   "import_failed")
    assert body["reason"] == "unreadable_crs" and "GeoJSON crs member" in body["detail"]
    del fc["crs"]
    # the CGCS2000 Gauss-Kruger zone of Beijing given by hand to degree coordinates
    body = problem(upload(client, planner, json.dumps(fc).encode(), "plan.geojson", name="m", code_field="BM",
                          crs="EPSG:4548"), 422, "import_failed")
    assert body["crs_read_from"] == "the crs parameter" and "EPSG:4548" in body["detail"]
    assert layouts(db) == n


def test_a_right_prj_is_used_and_the_answer_says_so(client: httpx.Client, db: Session, planner: dict[str, str],
                                                    tmp_path: Path) -> None:
    gdf = community_grids(db, "wgs84").to_crs(4548)  # CGCS2000 3-degree Gauss-Kruger, central meridian 117E
    resp = upload(client, planner, zipped(gdf, tmp_path, prj=esri_wkt(4548)), "plan.zip", name="gk",
                  code_field="BM")
    assert resp.status_code == 201, resp.text
    info = resp.json()["import"]
    assert info["crs_assumed"] == "EPSG:4548" and info["crs_source"] == "file"
    assert info["crs_read_from"] == "the .prj file (plan.prj)"
    # coordinates outside the zone's area of use (Helsinki metres under Beijing's zone) are refused by place
    helsinki = gdf.set_geometry(gdf.geometry.translate(xoff=-2_500_000, yoff=2_300_000))
    body = problem(upload(client, planner, zipped(helsinki, tmp_path, prj=esri_wkt(4548)), "plan.zip", name="h",
                          code_field="BM"), 422, "import_failed")
    assert body["row"] == 1 and "outside the area where EPSG:4548 is used" in body["detail"]
    # no .prj at all: WGS84 assumed, and said
    resp = upload(client, planner, zipped(community_grids(db, "wgs84"), tmp_path, prj=None), "plan.zip", name="d",
                  code_field="BM")
    assert resp.status_code == 201, resp.text
    assert resp.json()["import"]["crs_source"] == "default"
    assert resp.json()["import"]["crs_read_from"] == "no .prj file: WGS84 assumed"
