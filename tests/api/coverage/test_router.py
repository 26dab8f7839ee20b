"""Coverage routes on the seeded sample district: the four planted defects and nothing else."""

from __future__ import annotations

import csv
import io

import httpx
import pytest
import shapely.geometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.api.test_read_api import assert_problem

GAP_GRID, GAP_COMMUNITY = "110101009016008", "110101009016"
OVERLAP = ["110101001014001", "110101001014002"]
SPLIT_BUILDING, SPLIT_GRIDS = "1101010000791", ["110101017001002", "110101017001003"]
OVERLOADED = "110101015001001"


@pytest.fixture
def layout(db: Session) -> int:
    return db.execute(text("SELECT id FROM grid_layout WHERE status = 'published' ORDER BY id LIMIT 1")).scalar_one()


def by_kind(body: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for f in body["findings"]["features"]:
        out.setdefault(f["properties"]["kind"], []).append(f)
    return out


def test_the_sample_has_exactly_the_four_planted_defects(client: httpx.Client, auth, layout: int) -> None:
    resp = client.get(f"/api/v1/layouts/{layout}/coverage", headers=auth("planner"))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    found = by_kind(body)
    assert sorted(found) == ["building_split", "gap", "overlap", "overloaded"], found.keys()
    assert all(len(v) == 1 for v in found.values())

    gap = found["gap"][0]
    assert gap["properties"]["community_code"] == GAP_COMMUNITY
    assert abs(gap["properties"]["area_m2"] - 10_000) < 50  # a 100 m square
    hole = shapely.geometry.shape(gap["geometry"])
    assert hole.geom_type == "Polygon"
    assert abs(hole.centroid.x - 116.443012) < 1e-5 and abs(hole.centroid.y - 39.930802) < 1e-5

    ov = found["overlap"][0]["properties"]
    assert ov["codes"] == OVERLAP and abs(ov["area_m2"] - 5107) < 10

    split = found["building_split"][0]["properties"]
    assert split["codes"] == [SPLIT_BUILDING, *SPLIT_GRIDS]
    shares = split["detail"]["shares"]
    assert abs(shares[SPLIT_GRIDS[1]] - 0.6) < 0.01 and abs(shares[SPLIT_GRIDS[0]] - 0.4) < 0.01
    assert split["detail"]["counted_in"] == SPLIT_GRIDS[1] and split["detail"]["households"] == 24

    over = found["overloaded"][0]["properties"]
    assert over["codes"] == [OVERLOADED] and over["value"] == 921

    s = body["summary"]
    assert s["grids"] == 569 and s["findings"] == 4
    assert all(v["count"] == 0 for v in s["slivers"].values()), s["slivers"]
    assert s["households"] == 227_235 and s["households_source"] == "buildings"
    assert s["balance"]["index"] == "cv" and 0 < s["balance"]["cv"] < 1
    assert body["layout"]["id"] == layout


@pytest.mark.parametrize(("community", "kinds"), [
    (GAP_COMMUNITY, ["gap"]),
    (OVERLAP[0][:12], ["overlap"]),
    (SPLIT_GRIDS[0][:12], ["building_split"]),
    (OVERLOADED[:12], ["overloaded"]),
    ("110101001001", []),
])
def test_one_community(client: httpx.Client, auth, layout: int, community: str, kinds: list[str]) -> None:
    resp = client.get(f"/api/v1/layouts/{layout}/communities/{community}/coverage", headers=auth())
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert sorted(by_kind(body)) == kinds
    assert body["community"] == community
    grids = body["summary"]["grids"]
    assert 1 <= grids <= 20


def test_a_draft_layout_with_misnumbered_and_misplaced_grids(client: httpx.Client, auth, db: Session) -> None:
    draft = db.execute(text("INSERT INTO grid_layout (name) VALUES ('draft test') RETURNING id")).scalar_one()
    # community 110101001001 as published, but grids 1 and 3 swap codes, and grid 2 is moved 300 m east
    db.execute(text("""
        INSERT INTO grid (layout_id, code, name, community_code, households, population, boundary)
        SELECT :d, CASE g.code WHEN '110101001001001' THEN '110101001001003'
                             WHEN '110101001001003' THEN '110101001001001' ELSE g.code END,
               g.name, g.community_code, g.households, g.population,
               CASE g.code WHEN '110101001001002' THEN ST_Translate(g.boundary, 0.0035, 0) ELSE g.boundary END
        FROM grid g JOIN grid_layout l ON l.id = g.layout_id
        WHERE l.status = 'published' AND g.community_code = '110101001001'"""), {"d": draft})
    db.flush()
    body = client.get(f"/api/v1/layouts/{draft}/coverage", headers=auth()).json()
    found = by_kind(body)
    assert "code_sequence" in found
    assert "110101001001001" in found["code_sequence"][0]["properties"]["codes"]
    assert "gap" in found  # where grid 2 was
    assert "grid_crosses_community" in found or "grid_outside_communities" in found
    assert {f["properties"]["codes"][0] for k in ("grid_crosses_community", "grid_outside_communities")
            for f in found.get(k, [])} == {"110101001001002"}


def test_workload_json(client: httpx.Client, auth, layout: int) -> None:
    resp = client.get(f"/api/v1/layouts/{layout}/workload", params={"period": "week"}, headers=auth("planner"))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["norm"] == [300, 500] and body["period"] == "week"
    rows = {r["code"]: r for r in body["grids"]}
    assert len(rows) == 569
    over = rows[OVERLOADED]
    assert over["households"] == 921 and over["norm_status"] == "above" and over["deviation"] == 421
    assert sum(r["households"] for r in rows.values()) == 227_235
    assert sum(r["buildings"] for r in rows.values()) == 24_425
    assert sum(r["facilities"] for r in rows.values()) == 333
    assert sum(r["reports"] for r in rows.values()) > 40_000
    busy = max(rows.values(), key=lambda r: r["reports"])
    assert sum(busy["reports_by_category"].values()) == busy["reports"]
    assert sum(n for p in busy["reports_by_period"].values() for n in p.values()) == busy["reports"]
    assert all("-W" in p for p in busy["reports_by_period"])


@pytest.mark.parametrize("path", ["workload?format=csv", "workload.csv"])
def test_workload_csv(client: httpx.Client, auth, layout: int, path: str) -> None:
    resp = client.get(f"/api/v1/layouts/{layout}/{path}", headers=auth())
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/csv")
    assert "attachment" in resp.headers["content-disposition"]
    assert resp.content.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(resp.content.decode("utf-8-sig"))))
    assert len(rows) == 569
    over = next(r for r in rows if r["code"] == OVERLOADED)
    assert over["households"] == "921" and over["name"] == "东厅社区第1网格"
    assert {"facility_clinic", "reports_E04", "norm_status", "deviation"} <= set(rows[0])


def test_catchments(client: httpx.Client, auth, layout: int) -> None:
    resp = client.get(f"/api/v1/layouts/{layout}/catchments", params={"reach": "kindergarten:300"}, headers=auth())
    assert resp.status_code == 200, resp.text
    body = resp.json()
    kinds = {k["kind"]: k for k in body["kinds"]}
    assert set(kinds) == {"clinic", "elderly_care", "kindergarten", "market", "party_mass_center", "police",
                          "school"}
    assert kinds["kindergarten"]["reach_m"] == 300 and kinds["clinic"]["reach_m"] == 1000
    for k in kinds.values():
        assert k["households"] == 227_235 and 0 < k["households_covered"] <= k["households"]
    # one police station per street: most grids are beyond 1 km of one
    assert len(kinds["police"]["underserved_grids"]) > len(kinds["clinic"]["underserved_grids"])
    assert len(body["grids"]) == 569 * 7
    narrow = client.get(f"/api/v1/layouts/{layout}/catchments", params={"kind": "clinic", "distance_m": 100},
                        headers=auth()).json()
    assert [k["kind"] for k in narrow["kinds"]] == ["clinic"]
    assert narrow["kinds"][0]["households_covered"] < kinds["clinic"]["households_covered"]


def test_bad_input(client: httpx.Client, auth, layout: int) -> None:
    h = auth()
    assert_problem(client.get("/api/v1/layouts/999999/coverage", headers=h), 404, "not_found")
    assert_problem(client.get("/api/v1/layouts/999999/workload.csv", headers=h), 404, "not_found")
    assert_problem(client.get("/api/v1/layouts/999999/catchments", headers=h), 404, "not_found")
    assert_problem(client.get(f"/api/v1/layouts/{layout}/communities/110101999999/coverage", headers=h), 404,
                   "not_found")
    assert_problem(client.get(f"/api/v1/layouts/{layout}/communities/12ab/coverage", headers=h), 422,
                   "validation_error")
    assert_problem(client.get("/api/v1/layouts/0/coverage", headers=h), 422, "validation_error")
    assert_problem(client.get(f"/api/v1/layouts/{layout}/coverage?min_area_m2=-1", headers=h), 422,
                   "validation_error")
    assert_problem(client.get(f"/api/v1/layouts/{layout}/coverage?norm_min=600&norm_max=500", headers=h), 422,
                   "invalid_parameter")
    assert_problem(client.get(f"/api/v1/layouts/{layout}/workload?since=2026-10-01&until=2026-09-01", headers=h),
                   422, "invalid_parameter")
    assert_problem(client.get(f"/api/v1/layouts/{layout}/workload?format=xml", headers=h), 422, "validation_error")
    assert_problem(client.get(f"/api/v1/layouts/{layout}/workload?period=year", headers=h), 422, "validation_error")
    assert_problem(client.get(f"/api/v1/layouts/{layout}/catchments?reach=clinic", headers=h), 422,
                   "invalid_parameter")
    assert_problem(client.get(f"/api/v1/layouts/{layout}/catchments?distance_m=0", headers=h), 422,
                   "validation_error")
    assert_problem(client.get(f"/api/v1/layouts/{layout}/coverage"), 401, "unauthorized")
    assert_problem(client.get(f"/api/v1/layouts/{layout}/coverage", headers=auth("intake")), 403, "forbidden")
