"""Proposals for the sample's overloaded community (grid 110101015001001 holds 921 households against a 300-500
norm): proposed, applied as one edit, validated with no blocking finding added, previewed, undone."""

from __future__ import annotations

import shapely
from shapely.geometry import shape
from sqlalchemy import text

from tests.api.planner.conftest import Draft, problem

OVERLOADED = "110101015001001"
COMMUNITY = OVERLOADED[:12]
BODY = {"community": COMMUNITY, "households_min": 300, "households_max": 500, "alternatives": 3}


def propose(draft: Draft, **changes) -> dict:
    resp = draft.client.post(f"/api/v1/layouts/{draft.id}/proposals", json={**BODY, **changes}, headers=draft.headers)
    assert resp.status_code == 200, resp.text
    return resp.json()


def get(draft: Draft, what: str) -> dict:
    resp = draft.client.get(f"/api/v1/layouts/{draft.id}/{what}", headers=draft.headers)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_propose_apply_validate_undo(draft: Draft) -> None:
    before = draft.checksum()
    v0 = get(draft, "validation")
    assert v0["counts"]["overloaded"] == 1
    doc = propose(draft)
    assert len(doc["proposals"]) == 3 and len({p["id"] for p in doc["proposals"]}) == 3
    community = shapely.from_wkt(draft.db.execute(text("SELECT ST_AsText(boundary) FROM community WHERE code = :c"),
                                                  {"c": COMMUNITY}).scalar_one())
    hh_total = draft.db.execute(text("""SELECT sum(b.households) FROM building b, community c
                                        WHERE c.code = :c AND ST_Covers(c.boundary, b.rep_point)"""),
                                {"c": COMMUNITY}).scalar_one()
    for p in doc["proposals"]:
        feats = p["grids"]["features"]
        geoms = [shape(f["geometry"]) for f in feats]
        assert shapely.area(shapely.symmetric_difference(shapely.union_all(geoms), community)) < 1e-10
        assert sum(f["properties"]["households"] for f in feats) == hh_total
        for f in feats:
            pr = f["properties"]
            assert pr["code"].startswith(COMMUNITY) and pr["name"] and pr["buildings"] >= 0
            assert 300 <= pr["households"] <= 500 or pr["oversize"], pr
        s = p["scores"]
        assert s["split_buildings"] == 0 and s["cv"] < doc["baseline"]["cv"]
        assert s["households"]["max"] <= 500 or any(f["properties"]["oversize"] for f in feats)
        assert set(s["cases_per_month"]) == {f["properties"]["code"] for f in feats}
    assert doc["current"]["households"]["max"] == 921
    assert 0 <= doc["proposals"][0]["scores"]["boundary_on_roads"] <= 1  # the sample has roads (issue 20)

    best = doc["proposals"][0]
    resp = draft.client.post(f"/api/v1/layouts/{draft.id}/proposals/{best['id']}/apply", headers=draft.headers)
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["edit"]["op"] == "apply_proposal" and out["revision"] == 1
    rows = draft.db.execute(text("""SELECT code, households FROM grid WHERE layout_id = :l AND left(code, 12) = :c
                                     ORDER BY code"""), {"l": draft.id, "c": COMMUNITY}).all()
    assert [r.code for r in rows] == sorted(f["properties"]["code"] for f in best["grids"]["features"])
    assert all(300 <= r.households <= 500 for r in rows), rows

    v1 = get(draft, "validation")
    assert v1["blocking_counts"] == v0["blocking_counts"], (v0["blocking_counts"], v1["blocking_counts"])
    assert "overloaded" not in v1["counts"]
    impact = get(draft, "impact")
    assert impact is not None

    # a proposal made against revision 0 is stale now
    stale = draft.client.post(f"/api/v1/layouts/{draft.id}/proposals/{best['id']}/apply", headers=draft.headers)
    problem(stale, 409, "revision_conflict")
    assert draft.undo().status_code == 200
    assert draft.checksum() == before


def test_a_street_code_proposes_for_all_its_communities(draft: Draft) -> None:
    street = "110101014"  # 龙潭: ten communities, the fewest buildings of the sample's streets
    doc = propose(draft, community=street, alternatives=1)
    comms = draft.db.execute(text("SELECT code FROM community WHERE street_code = :s ORDER BY code"),
                             {"s": street}).scalars().all()
    assert doc["communities"] == comms and len(comms) > 1
    p = doc["proposals"][0]
    assert {f["properties"]["code"][:12] for f in p["grids"]["features"]} == set(comms)
    assert p["scores"]["split_buildings"] == 0 and p["scores"]["grids"] == len(p["grids"]["features"])
    before = draft.checksum()
    resp = draft.client.post(f"/api/v1/layouts/{draft.id}/proposals/{p['id']}/apply", headers=draft.headers)
    assert resp.status_code == 200, resp.text
    codes = draft.db.execute(text("SELECT code FROM grid WHERE layout_id = :l AND left(code, 9) = :s ORDER BY code"),
                             {"l": draft.id, "s": street}).scalars().all()
    assert codes == sorted(f["properties"]["code"] for f in p["grids"]["features"])
    assert draft.undo().status_code == 200 and draft.checksum() == before  # one edit for the whole street


def test_bad_requests(draft: Draft) -> None:
    bad = draft.client.post(f"/api/v1/layouts/{draft.id}/proposals/nonsense/apply", headers=draft.headers)
    problem(bad, 422, "invalid_parameter")
    missing = draft.client.post(f"/api/v1/layouts/{draft.id}/proposals", json={**BODY, "community": "110101999999"},
                                headers=draft.headers)
    problem(missing, 404, "not_found")
    band = draft.client.post(f"/api/v1/layouts/{draft.id}/proposals",
                             json={**BODY, "households_min": 600}, headers=draft.headers)
    assert band.status_code == 422 and band.headers["content-type"].startswith("application/problem+json")
    pub = draft.db.execute(text("SELECT id FROM grid_layout WHERE status = 'published' LIMIT 1")).scalar_one()
    resp = draft.client.post(f"/api/v1/layouts/{pub}/proposals", json=BODY, headers=draft.headers)
    problem(resp, 409, "layout_not_draft")
