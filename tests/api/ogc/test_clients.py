"""/ogc read by the real clients (issue 23): GDAL's OAPIF driver (Debian gdal-bin: ``ogrinfo``) and OWSLib's OGC API
Features client, against a live uvicorn on the seeded test database. Every count is held against the API's own.

GDAL sends the key through ``GDAL_HTTP_HEADERS``, as a user would. Debian 12's GDAL (3.6) has no ``CRS`` open option
for OAPIF (it came in 3.7), so the CGCS2000 output is read through OWSLib and checked against pyproj.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

OGRINFO = shutil.which("ogrinfo")
COLLECTIONS = ("streets", "communities", "grids", "buildings", "facilities", "addresses", "cases")
EPSG4490 = "http://www.opengis.net/def/crs/EPSG/0/4490"
pytestmark = pytest.mark.skipif(OGRINFO is None, reason="GDAL's ogrinfo is missing (scripts/setup.sh --test)")


@pytest.fixture(scope="module")
def admin_key(engine: Engine) -> str:
    from api.auth.service import create_key

    with Session(engine) as s:
        _, raw = create_key(s, name="ogc client tests", role="admin")
        s.commit()
    return raw


@pytest.fixture(scope="module")
def worker_token(engine: Engine, live_server: str) -> Iterator[tuple[str, str]]:
    """A logged-in worker user (committed: the server is another process), removed afterwards."""
    from api.users.schemas import UserCreate
    from api.users.service import create_user

    with Session(engine) as s:
        person_id, grid = s.execute(text("""
            SELECT p.id, p.grid_code FROM person p JOIN cases c ON c.grid_code = p.grid_code
            WHERE p.role = 'grid_worker' AND p.active GROUP BY 1, 2 ORDER BY count(*) DESC, 1 LIMIT 1""")).one()
        user = create_user(s, body=UserCreate(username="ogc-worker", password="ogc worker password", role="worker",
                                              person_id=person_id))
        s.commit()
        user_id = user.id
    resp = httpx.post(f"{live_server}/api/v1/auth/token",
                      data={"username": "ogc-worker", "password": "ogc worker password"})
    assert resp.status_code == 200, resp.text
    yield resp.json()["access_token"], grid
    with Session(engine) as s:
        s.execute(text("DELETE FROM app_user WHERE id = :id"), {"id": user_id})
        s.commit()


def _ogrinfo(base: str, key: str, *args: str) -> str:
    env = {**os.environ, "GDAL_HTTP_HEADERS": f"Authorization: Bearer {key}", "GDAL_HTTP_TIMEOUT": "60"}
    done = subprocess.run([OGRINFO, "-ro", *args], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _gdal_count(base: str, key: str, collection: str, *args: str) -> tuple[int, int]:
    """Features GDAL read, walking the next links itself, and how many distinct ids (FIDs or the ``id`` field)."""
    out = _ogrinfo(base, key, "-al", "-q", "-geom=NO", *args, f"OAPIF:{base}/ogc/collections/{collection}")
    fids = re.findall(r"^OGRFeature\([^)]*\):(\d+)$", out, re.M)
    ids = re.findall(r"^\s+id \(String\) = (.*)$", out, re.M)
    return len(fids), len(set(ids) if ids else set(fids))


def _api_count(base: str, key: str, collection: str) -> int:
    resp = httpx.get(f"{base}/ogc/collections/{collection}/items", params={"limit": 1},
                     headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 200, resp.text
    return resp.json()["numberMatched"]


def test_gdal_lists_the_collections(live_server: str, admin_key: str) -> None:
    out = _ogrinfo(live_server, admin_key, "-so", f"OAPIF:{live_server}/ogc")
    layers = re.findall(r"^\d+: (\S+) ", out, re.M)
    assert set(COLLECTIONS) <= set(layers) and any(name.startswith("grids-layout-") for name in layers)


@pytest.mark.parametrize("collection", COLLECTIONS)
def test_gdal_reads_every_feature(live_server: str, admin_key: str, collection: str) -> None:
    # Small collections at GDAL's own page size (10: many next links), large ones at the server's maximum.
    page = [] if collection in ("streets", "communities") else ["-oo", "PAGE_SIZE=10000"]
    fields = [] if collection in ("streets", "communities", "grids", "facilities") else ["-fields=NO"]
    read, distinct = _gdal_count(live_server, admin_key, collection, *page, *fields)
    assert read == distinct == _api_count(live_server, admin_key, collection) > 0


def test_gdal_as_a_worker_reads_its_grids_cases_only(live_server: str, worker_token: tuple[str, str]) -> None:
    token, grid = worker_token
    out = _ogrinfo(live_server, token, "-al", "-q", "-geom=NO", "-oo", "PAGE_SIZE=10000",
                   f"OAPIF:{live_server}/ogc/collections/cases")
    grids = set(re.findall(r"^\s+grid_code \(String\) = (.*)$", out, re.M))
    assert grids == {grid}
    assert "reporter_phone" not in out
    api = httpx.get(f"{live_server}/api/v1/cases", params={"limit": 1},
                    headers={"Authorization": f"Bearer {token}"}).json()["total"]
    assert len(re.findall(r"^OGRFeature", out, re.M)) == api > 0


def test_gdal_attribute_filter_matches_the_api(live_server: str, admin_key: str) -> None:
    out = _ogrinfo(live_server, admin_key, "-al", "-q", "-geom=NO", "-fields=NO", "-oo", "PAGE_SIZE=10000",
                   "-where", "status = 'dispatched' AND overdue = 0", f"OAPIF:{live_server}/ogc/collections/cases")
    api = httpx.get(f"{live_server}/api/v1/cases", params={"limit": 1, "status": "dispatched", "overdue": "false"},
                    headers={"Authorization": f"Bearer {admin_key}"}).json()["total"]
    assert len(re.findall(r"^OGRFeature", out, re.M)) == api > 0


def test_owslib_reads_collections_items_and_cgcs2000(live_server: str, admin_key: str, engine: Engine) -> None:
    from owslib.ogcapi.features import Features

    api = Features(f"{live_server}/ogc", headers={"Authorization": f"Bearer {admin_key}"})
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in api.conformance()["conformsTo"]
    ids = [c["id"] for c in api.collections()["collections"]]
    assert set(COLLECTIONS) <= set(ids)
    assert api.collection("grids")["id"] == "grids"
    for collection in ("grids", "facilities", "cases"):
        page = api.collection_items(collection, limit=5)
        assert page["numberMatched"] == _api_count(live_server, admin_key, collection)
        assert len(page["features"]) == 5
    assert "households" in api.collection_queryables("grids")["properties"]
    # A known point: the first facility, from the database; CGCS2000 by URI is latitude first.
    with Session(engine) as s:
        code, lon, lat = s.execute(text("SELECT code, ST_X(location), ST_Y(location) FROM facility "
                                        "ORDER BY code LIMIT 1")).one()
    cgcs = api.collection_items("facilities", limit=1, crs=EPSG4490)["features"][0]
    assert cgcs["id"] == code
    assert cgcs["geometry"]["coordinates"] == pytest.approx([lat, lon], abs=1e-6)
    filtered = api.collection_items("cases", limit=1, filter="status = 'closed' AND overdue = false")
    total = httpx.get(f"{live_server}/api/v1/cases", params={"limit": 1, "status": "closed", "overdue": "false"},
                      headers={"Authorization": f"Bearer {admin_key}"}).json()["total"]
    assert filtered["numberMatched"] == total > 0
