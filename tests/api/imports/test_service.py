"""Import and export against the real database: whole files or nothing, rows named on refusal."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
from pyproj import Geod
from sqlalchemy import text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from api.core.errors import ImportFailed, InvalidParameter
from api.imports.service import export_layer, import_layer
from geo.crs import wgs84_to_bd09, wgs84_to_gcj02

DATA = Path(__file__).resolve().parents[2] / "data"
GEOD = Geod(ellps="WGS84")


def fingerprint(db: Session, table: str) -> tuple[int, str]:
    return db.execute(text(f"SELECT count(*), md5(coalesce(string_agg(md5(t::text), '' ORDER BY t::text), '')) "
                           f"FROM {table} t")).one()


def failing_import(db: Session, **kwargs) -> ImportFailed:
    """Run an import the way the CLI does (one transaction) and return its error."""
    with pytest.raises(ImportFailed) as info, db.begin_nested():
        import_layer(db, **kwargs)
    return info.value


def test_any_polygons_import_as_grids_numbered_west_to_east_north_to_south(db: Session) -> None:
    res = import_layer(db, layer="grids", path=DATA / "montreal_districts.geojson", name_field="district",
                       code_prefix="110101001001", layout="Montréal districts")
    assert res.rows_imported == 58 and res.crs_assumed == "wgs84" and res.crs_source == "file"
    rows = db.execute(text("""SELECT code, name, community_code, ST_Y(ST_PointOnSurface(boundary)) AS y,
                                     properties FROM grid WHERE layout_id = :l ORDER BY code"""),
                      {"l": res.layout_id}).all()
    assert [r.code for r in rows] == [f"110101001001{i:03d}" for i in range(1, 59)]
    assert rows[0].y > rows[-1].y  # first row is the northern one
    assert all(r.community_code == "110101001001" for r in rows)  # the prefix is a real sample community
    assert any(r.name == "11-Sault-au-Récollet" for r in rows)
    assert all("id" in r.properties for r in rows)  # unmapped fields are kept, not dropped
    status = db.execute(text("SELECT status FROM grid_layout WHERE id = :l"), {"l": res.layout_id}).scalar_one()
    assert status == "draft"


def test_a_broken_building_stops_the_import_naming_the_row_and_leaves_the_database_unchanged(db: Session) -> None:
    before = fingerprint(db, "building")
    err = failing_import(db, layer="buildings", path=DATA / "helsinki_buildings.geojson", code_field="id")
    assert err.extra["row"] == 29 and err.extra["reason"] == "invalid_geometry"
    assert "row 29" in err.detail and "area" in err.detail
    assert fingerprint(db, "building") == before


def test_repairable_footprints_are_repaired_and_reported(db: Session, tmp_path: Path) -> None:
    from geo.validate import check_polygons

    gdf = pyogrio.read_dataframe(DATA / "helsinki_buildings.geojson")
    keep = ~check_polygons(np.asarray(gdf.geometry.values), single=True).refused
    path = tmp_path / "helsinki_ok.geojson"
    gdf[keep].to_file(path)
    res = import_layer(db, layer="buildings", path=path, code_field="id")
    assert res.rows_imported == int(keep.sum()) > 450
    assert res.repaired and all("repaired" in why for _, why in res.repaired)
    stored = db.execute(text("SELECT count(*) FROM building WHERE properties ? 'building'")).scalar_one()
    assert stored == res.rows_imported  # OSM's 'building' tag kept in properties
    # Multi-part footprints can be split on request instead of refused.
    multi = tmp_path / "multi.geojson"
    gdf[gdf.geom_type == "MultiPolygon"].to_file(multi)
    assert failing_import(db, layer="buildings", path=multi, code_field="id").extra["reason"] == "invalid_geometry"
    res = import_layer(db, layer="buildings", path=multi, code_field="id", explode=True)
    assert res.rows_imported >= 2


@pytest.mark.parametrize("crs_name", ["gcj02", "bd09"])
def test_chinese_offsets_are_converted_to_wgs84(db: Session, tmp_path: Path, crs_name: str) -> None:
    truth = shapely.box(116.401, 39.901, 116.404, 39.903)
    forward = wgs84_to_gcj02 if crs_name == "gcj02" else wgs84_to_bd09
    shifted = shapely.transform(truth, lambda c: np.column_stack(forward(c[:, 0], c[:, 1])))
    path = tmp_path / "amap.geojson"
    gpd.GeoDataFrame({"code": ["F9001"], "name": ["测试"], "kind": ["clinic"]},
                     geometry=[shapely.centroid(shifted)], crs=4326).to_file(path)
    res = import_layer(db, layer="facilities", path=path, crs=crs_name)
    assert res.crs_assumed == crs_name and res.crs_source == "option"
    x, y = db.execute(text("SELECT ST_X(location), ST_Y(location) FROM facility WHERE code = 'F9001'")).one()
    c = shapely.centroid(truth)
    _, _, error_m = GEOD.inv(c.x, c.y, x, y)
    assert error_m < 0.5


def test_projected_files_need_their_crs(db: Session, tmp_path: Path) -> None:
    gk = gpd.GeoDataFrame({"code": ["F9002"], "name": ["x"], "kind": ["clinic"]},
                          geometry=[shapely.Point(39_455_000, 4_418_000)], crs=None)
    path = tmp_path / "gk.geojson"
    gk.to_file(path)
    assert failing_import(db, layer="facilities", path=path).extra["reason"] == "coordinates_out_of_range"
    res = import_layer(db, layer="facilities", path=path, crs="EPSG:4527")
    assert res.crs_assumed == "EPSG:4527"
    lon, lat = db.execute(text("SELECT ST_X(location), ST_Y(location) FROM facility WHERE code = 'F9002'")).one()
    assert 116 < lon < 117 and 39 < lat < 41
    with pytest.raises(InvalidParameter):
        import_layer(db, layer="facilities", path=path, crs="EPSG:0")


def test_bad_files_and_bad_rows_are_refused_by_name(db: Session, tmp_path: Path) -> None:
    before = fingerprint(db, "grid"), fingerprint(db, "grid_layout")
    truncated = tmp_path / "truncated.geojson"
    truncated.write_text((DATA / "montreal_districts.geojson").read_text()[:5000])
    assert failing_import(db, layer="grids", path=truncated).extra["reason"] == "unreadable"
    assert failing_import(db, layer="grids", path=tmp_path / "nope.gpkg").extra["reason"] == "file_not_found"
    (tmp_path / "x.csv").write_text("a,b\n")
    assert failing_import(db, layer="grids", path=tmp_path / "x.csv").extra["reason"] == "unsupported_format"

    features = json.loads((DATA / "montreal_districts.geojson").read_text())["features"][:3]
    for i, f in enumerate(features):
        f["properties"]["code"] = f"11010100100190{i}"
    features[2]["properties"]["code"] = features[0]["properties"]["code"]
    dup = tmp_path / "dup.geojson"
    dup.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    err = failing_import(db, layer="grids", path=dup)
    assert err.extra == {"row": 3, "reason": "duplicate_code"}
    features[2]["properties"]["code"] = "11010100100"
    dup.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    assert failing_import(db, layer="grids", path=dup).extra == {"row": 3, "reason": "bad_code"}
    features[2]["properties"]["code"] = "110101001001909"
    features[1]["properties"]["households"] = -4
    dup.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    assert failing_import(db, layer="grids", path=dup).extra == {"row": 2, "reason": "out_of_range"}
    assert (fingerprint(db, "grid"), fingerprint(db, "grid_layout")) == before


def test_existing_codes_need_replace(db: Session, tmp_path: Path) -> None:
    path = tmp_path / "streets.gpkg"
    n = export_layer(db, layer="streets", path=path)
    err = failing_import(db, layer="streets", path=path)
    assert err.extra["reason"] == "already_exists" and err.extra["row"] == 1
    res = import_layer(db, layer="streets", path=path, replace=True)
    assert (res.rows_imported, res.rows_updated) == (0, n)


@pytest.mark.parametrize("suffix", [".geojson", ".gpkg", ".zip"])
def test_export_and_reimport_round_trip(db: Session, tmp_path: Path, suffix: str) -> None:
    lid = db.execute(text("SELECT id FROM grid_layout WHERE status = 'published'")).scalar_one()
    path = tmp_path / f"grids{suffix}"
    n = export_layer(db, layer="grids", path=path, layout_id=lid)
    res = import_layer(db, layer="grids", path=path, layout="round trip")
    assert res.rows_imported == n >= 300
    diff = db.execute(text("""
        SELECT count(*) FROM grid a JOIN grid b USING (code)
        WHERE a.layout_id = :a AND b.layout_id = :b
          AND (a.households <> b.households OR a.community_code IS DISTINCT FROM b.community_code
               OR abs(ST_Area(a.boundary) - ST_Area(b.boundary)) > 1e-12)"""), {"a": lid, "b": res.layout_id})
    assert diff.scalar_one() == 0


def test_grids_never_go_into_a_published_layout(db: Session) -> None:
    lid = db.execute(text("SELECT id FROM grid_layout WHERE status = 'published'")).scalar_one()
    with pytest.raises(InvalidParameter, match="draft"):
        import_layer(db, layer="grids", path=DATA / "montreal_districts.geojson", layout=str(lid),
                     code_prefix="110101001001")


def test_cli_reports_a_refused_file_and_exits_2(tmp_path: Path, engine) -> None:  # fixture
    from api.cli import app

    bad = tmp_path / "bad.geojson"
    bad.write_text('{"type": "FeatureCollection", "features": [')
    result = CliRunner().invoke(app, ["import", "grids", str(bad)])
    assert result.exit_code == 2
    assert "cannot be read" in result.output and "nothing was imported" in result.output


@pytest.mark.parametrize("option", ["code_field", "name_field"])
def test_a_named_field_the_file_lacks_is_refused_even_when_the_default_field_exists(db: Session, tmp_path: Path,
                                                                                    option: str) -> None:
    """Issue 17 #11: ``code_field=NOPE`` on a file that has a ``code`` field was accepted (201) and read the
    ``code`` field instead; a field the caller names must exist, and the refusal names it."""
    features = json.loads((DATA / "montreal_districts.geojson").read_text())["features"][:2]
    for i, f in enumerate(features):
        f["properties"].update(code=f"11010100100190{i}", name=f"网格{i}")
    path = tmp_path / "coded.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    before = fingerprint(db, "grid")
    with pytest.raises(InvalidParameter) as info, db.begin_nested():
        import_layer(db, layer="grids", path=path, **{option: "NOPE"})
    assert info.value.extra["field"] == "NOPE" and "'NOPE'" in info.value.detail
    assert fingerprint(db, "grid") == before
