"""Upload and import limits (issue 17, defects 4 and 13): zip bombs, oversized files, too many members,
features or vertices are refused quickly, by a problem that names the limit, and nothing is stored."""

from __future__ import annotations

import resource
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import httpx
import numpy as np
import pyogrio
import pytest
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.core.errors import ImportFailed
from api.imports.service import import_layer
from tests.api.conftest import problem
from tests.api.imports.bombs import write_zip
from tests.api.planner.test_layouts import community_grids, upload


def layouts(db: Session) -> int:
    return db.execute(text("SELECT count(*) FROM grid_layout")).scalar_one()


def leftovers() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("gridmap-zip-*")}


@pytest.fixture
def planner(auth) -> dict[str, str]:
    return auth("planner")


@pytest.fixture
def limited(client: httpx.Client) -> Iterator[object]:
    """Change the app's settings for one test: ``limited(upload_max_features=10)``."""
    original = client.app.state.settings

    def set_(**changes: object) -> None:
        client.app.state.settings = original.model_copy(update=changes)

    yield set_
    client.app.state.settings = original


def shapefile_parts(db: Session, tmp_path: Path) -> list[tuple[str, bytes]]:
    """A real zipped-Shapefile's small members (.shx, .dbf, .prj) from the sample grids of one community."""
    pyogrio.write_dataframe(community_grids(db, "wgs84"), tmp_path / "plan.shp", driver="ESRI Shapefile")
    return [(f"plan{ext}", (tmp_path / f"plan{ext}").read_bytes()) for ext in (".shx", ".dbf", ".prj")]


def test_a_zip_bomb_is_refused_from_its_directory_in_a_second_and_nothing_is_stored(
        client: httpx.Client, db: Session, planner: dict[str, str], tmp_path: Path) -> None:
    # 2 MB on disk, a 2 GiB .shp inside: the defect took 18-28 s and 3 GB before an "index 0" riddle
    bomb = write_zip(tmp_path / "plan.zip", [("plan.shp", 2048), *shapefile_parts(db, tmp_path)])
    assert bomb.stat().st_size < 3 * 1024 * 1024
    n, before, rss = layouts(db), leftovers(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    resp = upload(client, planner, bomb.read_bytes(), "plan.zip", name="bomb")
    elapsed = time.perf_counter() - t0
    body = problem(resp, 413, "archive_too_large")
    assert "GRIDMAP_ARCHIVE_MAX_BYTES" in body["detail"] and "2,048 MiB" in body["detail"]
    assert body["setting"] == "GRIDMAP_ARCHIVE_MAX_BYTES" and body["limit"] == 512 * 1024 * 1024
    assert elapsed < 2.0, elapsed
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss < 200 * 1024  # KiB: no gigabytes inflated
    assert layouts(db) == n and leftovers() == before


def test_ratio_member_count_and_lying_headers_are_refused(client: httpx.Client, db: Session, planner: dict[str, str],
                                                          tmp_path: Path) -> None:
    parts = shapefile_parts(db, tmp_path)
    n = layouts(db)
    # under the total cap, but 300 MiB from 300 KiB
    ratio = write_zip(tmp_path / "r.zip", [("plan.shp", 300), *parts])
    body = problem(upload(client, planner, ratio.read_bytes(), "r.zip", name="r"), 413, "archive_too_large")
    assert body["setting"] == "GRIDMAP_ARCHIVE_MAX_RATIO" and "plan.shp" in body["detail"]
    many = write_zip(tmp_path / "m.zip", [*parts, *[(f"x{i}.prj", b"") for i in range(100)]])
    body = problem(upload(client, planner, many.read_bytes(), "m.zip", name="m"), 413, "archive_too_large")
    assert body["setting"] == "GRIDMAP_ARCHIVE_MAX_MEMBERS" and "103 members" in body["detail"]
    # a header declaring 1 KiB over 1 GiB of data: extraction stops at the declared size, the CRC fails
    liar = write_zip(tmp_path / "l.zip", [("plan.shp", 1024), *parts], declared={"plan.shp": 1024})
    t0 = time.perf_counter()
    body = problem(upload(client, planner, liar.read_bytes(), "l.zip", name="l"), 422, "import_failed")
    assert time.perf_counter() - t0 < 2.0 and body["reason"] == "unreadable" and "l.zip" in body["detail"]
    assert layouts(db) == n


def test_the_uploaded_file_and_its_features_are_capped(client: httpx.Client, db: Session, planner: dict[str, str],
                                                       limited) -> None:
    good = community_grids(db, "wgs84").to_json().encode()
    n = layouts(db)
    limited(upload_max_bytes=len(good) - 1)
    body = problem(upload(client, planner, good, "plan.geojson", name="big", code_field="BM"), 413,
                   "payload_too_large")
    assert body["setting"] == "GRIDMAP_UPLOAD_MAX_BYTES" and body["limit"] == len(good) - 1
    limited(upload_max_features=2)
    body = problem(upload(client, planner, good, "plan.geojson", name="many", code_field="BM"), 422, "import_failed")
    assert body["reason"] == "too_many_features" and "more than 2 features" in body["detail"]
    assert body["setting"] == "GRIDMAP_UPLOAD_MAX_FEATURES"
    assert layouts(db) == n


def test_a_million_vertex_grid_is_refused_naming_its_row_and_the_limit(client: httpx.Client, db: Session,
                                                                       planner: dict[str, str],
                                                                       tmp_path: Path) -> None:
    gdf = community_grids(db, "wgs84")
    x0, y0, x1, y1 = gdf.geometry.iloc[2].bounds
    t = np.linspace(0, 2 * np.pi, 1_000_000, endpoint=False)
    ring = np.column_stack([(x0 + x1) / 2 + (x1 - x0) / 2 * np.cos(t), (y0 + y1) / 2 + (y1 - y0) / 2 * np.sin(t)])
    gdf.loc[2, "geometry"] = shapely.Polygon(ring)
    path = tmp_path / "dense.gpkg"
    pyogrio.write_dataframe(gpd.GeoDataFrame(gdf), path, driver="GPKG")
    n = layouts(db)
    t0 = time.perf_counter()
    body = problem(upload(client, planner, path.read_bytes(), "dense.gpkg", name="dense", code_field="BM"), 422,
                   "import_failed")
    assert time.perf_counter() - t0 < 5.0
    assert body["reason"] == "too_many_vertices" and body["row"] == 3 and body["limit"] == 50_000
    assert "row 3" in body["detail"] and "1,000,001 vertices" in body["detail"] and "50,000" in body["detail"]
    assert layouts(db) == n


def test_the_command_line_import_has_the_archive_and_vertex_caps_but_no_feature_cap(db: Session,
                                                                                     tmp_path: Path) -> None:
    from api.imports.files import ArchiveTooLarge, FileLimits

    bomb = write_zip(tmp_path / "b.zip", [("b.shp", 64), ("b.shx", b""), ("b.dbf", b"")])
    small = FileLimits(archive_bytes=32 * 1024 * 1024, archive_members=8, archive_ratio=1e9, max_vertices=4)
    with pytest.raises(ArchiveTooLarge, match="GRIDMAP_ARCHIVE_MAX_BYTES"):
        import_layer(db, layer="grids", path=bomb, layout="b", limits=small)
    grids = community_grids(db, "wgs84")
    path = tmp_path / "g.geojson"
    path.write_text(grids.to_json())
    with pytest.raises(ImportFailed, match="at most 4 are accepted"):
        import_layer(db, layer="grids", path=path, code_field="BM", layout="g", limits=small)


def test_a_drawn_grid_past_the_vertex_limit_is_refused_too(client: httpx.Client, db: Session,
                                                           planner: dict[str, str]) -> None:
    draft = client.post("/api/v1/layouts", headers=planner, json={"name": "dense edit"}).json()["id"]
    code = "110101001001001"
    grid = shapely.from_wkt(db.execute(text("SELECT ST_AsText(boundary) FROM grid WHERE layout_id = :l AND code = :c"),
                                       {"l": draft, "c": code}).scalar_one())
    c, r = grid.centroid, 0.2 * min(grid.bounds[2] - grid.bounds[0], grid.bounds[3] - grid.bounds[1])
    t = np.linspace(0, 2 * np.pi, 60_000, endpoint=False)
    ring = np.column_stack([c.x + r * np.cos(t), c.y + r * np.sin(t)])
    dense = shapely.geometry.mapping(shapely.Polygon(ring))
    resp = client.post(f"/api/v1/layouts/{draft}/edits", headers=planner,
                       json={"base_revision": 0, "op": "update_geometry", "code": code, "geometry": dense,
                             "snap_m": 0})
    body = problem(resp, 422, "invalid_geometry")
    assert body["reason"] == "too_many_vertices" and code in body["detail"] and "50,000" in body["detail"]


def test_the_report_import_checks_a_zip_before_gdal_reads_it(tmp_path: Path) -> None:
    from api.imports.files import ArchiveTooLarge
    from api.reports.archive import read_reports

    bomb = write_zip(tmp_path / "reports.zip", [("reports.shp", 300), ("reports.shx", b""), ("reports.dbf", b"")])
    t0 = time.perf_counter()
    with pytest.raises(ArchiveTooLarge, match="GRIDMAP_ARCHIVE_MAX_RATIO"):
        read_reports(bomb)
    assert time.perf_counter() - t0 < 2.0
