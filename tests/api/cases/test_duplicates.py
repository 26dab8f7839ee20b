"""Duplicates (并单): suggested on intake and on request within 50 m / 24 h, same category, open; merged."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.api.conftest import problem

pytestmark = pytest.mark.usefixtures("quiet_app")
T0 = datetime.fromisoformat("2026-11-20T10:00:00+08:00")


def east(lon: float, lat: float, metres: float) -> float:
    return lon + metres / (111_320.0 * math.cos(math.radians(lat)))


def _report(client: httpx.Client, h: dict, grid, *, metres: float, at: datetime, category: str = "C01001") -> dict:
    r = client.post("/api/v1/reports", json={"source": "mini_program", "category": category,
                                             "lon": east(grid.lon, grid.lat, metres), "lat": grid.lat,
                                             "reported_at": at.isoformat()}, headers=h)
    assert r.status_code == 201, r.text
    return r.json()["case"]


def test_intake_suggests_open_same_category_cases_nearby(client: httpx.Client, auth, make_case, grid_a) -> None:
    first = make_case(grid_a, "registered", reported_at=T0)
    closed = make_case(grid_a, "closed", reported_at=T0)
    other_cat = make_case(grid_a, "registered", reported_at=T0, category="C01002")
    old = make_case(grid_a, "registered", reported_at=T0 - timedelta(hours=30))
    h = auth("intake")
    near = _report(client, h, grid_a, metres=20, at=T0 + timedelta(hours=3))
    assert first in near["duplicates"] and old not in near["duplicates"]
    assert closed not in near["duplicates"] and other_cat not in near["duplicates"]
    far = _report(client, h, grid_a, metres=80, at=T0 + timedelta(hours=3))
    assert first not in far["duplicates"]
    later = _report(client, h, grid_a, metres=10, at=T0 + timedelta(hours=25))
    assert first not in later["duplicates"]


def test_duplicates_endpoint_and_merge(client: httpx.Client, auth, make_case, grid_a, db: Session) -> None:
    keep = make_case(grid_a, "dispatched", reported_at=T0)
    dup = make_case(grid_a, "reported", reported_at=T0 + timedelta(hours=2),
                    lon=east(grid_a.lon, grid_a.lat, 30), lat=grid_a.lat)
    cmd = auth("dispatcher")
    r = client.get(f"/api/v1/cases/{dup}/duplicates", headers=cmd)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["radius_m"] == 50 and body["window_hours"] == 24
    found = {d["case_id"]: d for d in body["items"]}
    assert keep in found and 29 < found[keep]["distance_m"] < 31 and found[keep]["hours_apart"] == 2
    narrow = client.get(f"/api/v1/cases/{dup}/duplicates", params={"radius_m": 10}, headers=cmd).json()
    assert keep not in {d["case_id"] for d in narrow["items"]}
    problem(client.get(f"/api/v1/cases/{dup}/duplicates", params={"radius_m": -1}, headers=cmd), 422,
            "validation_error")

    problem(client.post(f"/api/v1/cases/{dup}/merge", json={"into": keep}, headers=auth("worker")), 403, "forbidden")
    problem(client.post(f"/api/v1/cases/{dup}/merge", json={"into": dup}, headers=cmd), 422, "invalid_parameter")
    r = client.post(f"/api/v1/cases/{dup}/merge", json={"into": keep}, headers=cmd)
    assert r.status_code == 200, r.text and r.json()["id"] == keep
    merged = client.get(f"/api/v1/cases/{dup}", headers=cmd).json()
    assert merged["status"] == "rejected" and merged["merged_into"] == keep
    link = db.execute(text("SELECT into_case_id, report_id FROM case_link WHERE case_id = :c"), {"c": dup}).one()
    assert link.into_case_id == keep and link.report_id == merged["report_id"]
    assert db.execute(text("SELECT data FROM case_event WHERE case_id = :c AND kind = 'merge'"),
                      {"c": keep}).scalar_one()["case_id"] == dup
    problem(client.post(f"/api/v1/cases/{dup}/merge", json={"into": keep}, headers=cmd), 409, "already_merged")
    # a merged (rejected) case is no longer a candidate
    again = make_case(grid_a, "reported", reported_at=T0 + timedelta(hours=3))
    ids = {d["case_id"] for d in client.get(f"/api/v1/cases/{again}/duplicates", headers=cmd).json()["items"]}
    assert keep in ids and dup not in ids


def test_merge_refusals(client: httpx.Client, auth, make_case, grid_a) -> None:
    cmd = auth("dispatcher")
    keep = make_case(grid_a, "dispatched", reported_at=T0)
    handled = make_case(grid_a, "in_progress", reported_at=T0)
    problem(client.post(f"/api/v1/cases/{handled}/merge", json={"into": keep}, headers=cmd), 409,
            "illegal_transition")
    closed = make_case(grid_a, "closed", reported_at=T0)
    fresh = make_case(grid_a, "reported", reported_at=T0)
    problem(client.post(f"/api/v1/cases/{fresh}/merge", json={"into": closed}, headers=cmd), 409, "case_final")
    other = make_case(grid_a, "reported", reported_at=T0, category="C01002")
    problem(client.post(f"/api/v1/cases/{other}/merge", json={"into": keep}, headers=cmd), 422, "invalid_parameter")
    problem(client.post(f"/api/v1/cases/{fresh}/merge", json={"into": 99999999}, headers=cmd), 404, "not_found")
