"""Whole layers for GIS clients (issue 17, defect 14): GDAL's GeoJSON driver reads one response and follows no
``links.next``, so ``ogr2ogr`` of ``/api/v1/buildings?bbox=…`` copied 1,000 of the buildings without a word.
``limit=all`` streams the whole bounded layer; a page that is not the whole layer says so. Tested with GDAL's
own ``ogr2ogr``/``ogrinfo`` (Debian gdal-bin) against a live uvicorn."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import problem

BBOX = "116.38,39.90,116.42,39.93"  # about 5,300 of the sample district's buildings
pytestmark = pytest.mark.skipif(shutil.which("ogr2ogr") is None, reason="GDAL's ogr2ogr is not installed "
                                "(scripts/setup.sh --test installs gdal-bin)")


def gdal(tool: str, *args: str, key: str) -> str:
    out = subprocess.run([tool, "--config", "GDAL_HTTP_HEADERS", f"Authorization: Bearer {key}", *args],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def feature_count(path_or_url: str, key: str) -> int:
    info = gdal("ogrinfo", "-so", "-al", path_or_url, key=key)
    return int(re.search(r"Feature Count: (\d+)", info).group(1))


def test_ogr2ogr_copies_every_building_of_a_bbox_with_limit_all(live_server: str, dispatcher_key: str,
                                                                tmp_path: Path) -> None:
    head = {"Authorization": f"Bearer {dispatcher_key}"}
    page = httpx.get(f"{live_server}/api/v1/buildings", params={"bbox": BBOX}, headers=head, timeout=60)
    body = page.json()
    matched = body["numberMatched"]
    assert matched > 1_000 and body["numberReturned"] == 1_000 and len(body["features"]) == 1_000
    # the default page says it is partial, in the body, in the headers, and in what GDAL shows
    assert body["partial"] is True and page.headers["X-Partial"] == "true"
    assert page.headers["X-Total-Count"] == str(matched) and 'rel="next"' in page.headers["Link"]
    url = f"GeoJSON:{live_server}/api/v1/buildings?bbox={BBOX}"
    info = gdal("ogrinfo", "-so", "-al", url, key=dispatcher_key)
    assert f"DESCRIPTION=partial: 1,000 of {matched:,} features" in info
    # limit=all: the whole layer, streamed (no Content-Length), and ogr2ogr copies every building
    whole = httpx.get(f"{live_server}/api/v1/buildings", params={"bbox": BBOX, "limit": "all"}, headers=head,
                      timeout=60)
    assert "content-length" not in whole.headers and whole.headers["X-Partial"] == "false"
    assert whole.json()["numberReturned"] == len(whole.json()["features"]) == matched
    out = tmp_path / "buildings.gpkg"
    gdal("ogr2ogr", "-f", "GPKG", str(out), f"{url}&limit=all", key=dispatcher_key)
    assert feature_count(str(out), dispatcher_key) == matched
    codes = {f["properties"]["code"] for f in whole.json()["features"]}
    assert len(codes) == matched  # every building once


def test_ogr2ogr_copies_every_grid_of_the_layout(live_server: str, dispatcher_key: str, tmp_path: Path) -> None:
    head = {"Authorization": f"Bearer {dispatcher_key}"}
    matched = httpx.get(f"{live_server}/api/v1/grids", params={"limit": 1}, headers=head).json()["numberMatched"]
    out = tmp_path / "grids.gpkg"
    gdal("ogr2ogr", "-f", "GPKG", str(out), f"GeoJSON:{live_server}/api/v1/grids?limit=all", key=dispatcher_key)
    assert feature_count(str(out), dispatcher_key) == matched > 500
    small = httpx.get(f"{live_server}/api/v1/grids", params={"limit": 100, "offset": 500}, headers=head).json()
    assert small["partial"] is True and small["numberReturned"] == min(100, matched - 500)


def test_limit_all_is_bounded_and_named_when_refused(client: httpx.Client, auth) -> None:
    head = auth("planner")
    client.app.state.settings = client.app.state.settings.model_copy(update={"max_stream_features": 100})
    body = problem(client.get("/api/v1/buildings", params={"bbox": BBOX, "limit": "all"}, headers=head), 422,
                   "too_many_features")
    assert body["limit"] == 100 and "GRIDMAP_MAX_STREAM_FEATURES" in body["detail"] and body["matched"] > 100
    problem(client.get("/api/v1/grids", params={"limit": "all", "offset": 5}, headers=head), 422,
            "invalid_parameter")
    problem(client.get("/api/v1/grids", params={"limit": "most"}, headers=head), 422, "validation_error")
    # a small bbox: the whole answer, not partial
    fc = client.get("/api/v1/buildings", params={"bbox": "116.400,39.915,116.401,39.916", "limit": "all"},
                    headers=head).json()
    assert fc["partial"] is False and fc["numberReturned"] == fc["numberMatched"] == len(fc["features"]) < 100
