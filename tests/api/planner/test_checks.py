"""Validation of a draft (the sample's planted defects block), fixing them by edits, and the impact preview
checked against PostGIS queries written independently here."""

from __future__ import annotations

from collections.abc import Callable

import shapely
import shapely.geometry
from shapely.geometry import mapping
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.api.planner.conftest import Draft, problem, published_id
from tests.api.planner.test_edits import adjacent_pair, geom

OVERLAP = ("110101001014001", "110101001014002")
SPLIT_BUILDING = ("1101010000791", "110101017001003")


def validation(draft: Draft) -> dict:
    resp = draft.client.get(f"/api/v1/layouts/{draft.id}/validation", headers=draft.headers)
    assert resp.status_code == 200, resp.text
    return resp.json()


GAP_GRID = "110101009016008"


def fix_planted_defects(draft: Draft) -> None:
    """The three blocking defects of the sample, fixed the way a planner would."""
    # the gap, a 100 m square bitten out of a grid: the grid takes its hole back (no new, unstaffed grid)
    hole = next(shapely.geometry.shape(f["geometry"]) for f in validation(draft)["findings"]["features"]
                if f["properties"]["kind"] == "gap")
    before = draft.grid(GAP_GRID).area
    draft.ok("update_geometry", code=GAP_GRID, snap_m=0,
             geometry=mapping(shapely.union(geom(draft, GAP_GRID), hole, grid_size=1e-7)))
    assert 9_900 < draft.grid(GAP_GRID).area - before < 10_100
    a, b = geom(draft, OVERLAP[0]), geom(draft, OVERLAP[1])
    draft.ok("update_geometry", code=OVERLAP[1], geometry=mapping(shapely.difference(b, a, grid_size=1e-7)), snap_m=0)
    draft.ok("assign_building", building_code=SPLIT_BUILDING[0], code=SPLIT_BUILDING[1])


def test_a_copy_inherits_the_planted_defects_as_known_and_fixing_them_clears_them(draft: Draft) -> None:
    v = validation(draft)
    assert v["blocking"] is False and v["revision"] == 0 and v["against"] == published_id(draft.db)
    assert v["counts"] == {"gap": 1, "overlap": 1, "building_split": 1, "overloaded": 1}
    assert v["blocking_counts"] == {} and v["known_counts"] == {"gap": 1, "overlap": 1, "building_split": 1}
    by_kind = {f["properties"]["kind"]: f["properties"] for f in v["findings"]["features"]}
    assert by_kind["overloaded"]["severity"] == "warning" and by_kind["overloaded"]["codes"] == ["110101015001001"]
    assert by_kind["gap"]["severity"] == "known" and by_kind["gap"]["inherited"] is True
    assert 9_900 < by_kind["gap"]["area_m2"] < 10_100
    assert sorted(by_kind["overlap"]["codes"]) == list(OVERLAP)
    split = by_kind["building_split"]
    assert split["detail"]["building_code"] == SPLIT_BUILDING[0] and "110101017001002" in split["codes"]
    for p in by_kind.values():
        assert p["message_zh"] and p["message_en"] and p["message_zh"] != p["message_en"]
    fix_planted_defects(draft)
    v = validation(draft)
    assert v["blocking"] is False and v["revision"] == 3, v["counts"]
    assert v["blocking_counts"] == {} and v["known_counts"] == {} and v["counts"]["overloaded"] == 1
    assert set(v["counts"]) <= {"overloaded", "underloaded", "code_sequence"}


def test_a_draft_is_blocked_by_what_it_introduces_or_worsens_not_by_what_it_inherits(draft: Draft) -> None:
    a, _b = adjacent_pair(draft.db, draft.id, same_community=True)
    draft.ok("delete", code=a)  # a new gap
    v = validation(draft)
    assert v["blocking"] and v["blocking_counts"]["gap"] == 1
    assert set(v["blocking_counts"]) == {"gap", "building_uncovered"}  # the deleted grid's buildings too
    assert v["known_counts"] == {"gap": 1, "overlap": 1, "building_split": 1}
    assert draft.undo().status_code == 200
    # the planted overlap made 30 m wider: the same finding, worse, blocks again
    x, y = geom(draft, OVERLAP[0]), geom(draft, OVERLAP[1])
    grown = shapely.union(x, shapely.intersection(shapely.buffer(shapely.intersection(x, y), 0.0003), y),
                          grid_size=1e-7)
    draft.ok("update_geometry", code=OVERLAP[0], geometry=mapping(grown), snap_m=0)
    v = validation(draft)
    assert v["blocking_counts"].get("overlap") == 1 and "overlap" not in v["known_counts"], v["counts"]


def test_validation_follows_every_revision(draft: Draft) -> None:
    assert validation(draft)["counts"].get("gap") == 1
    a, b = adjacent_pair(draft.db, draft.id, same_community=True)
    draft.ok("delete", code=a)  # a hole the size of a grid
    v = validation(draft)
    assert v["revision"] == 1 and v["counts"]["gap"] == 2 and v["blocking"]
    assert draft.undo().status_code == 200
    assert validation(draft)["counts"]["gap"] == 1


def independent_moves(db: Session, against: int, layout: int) -> tuple[int, int]:
    """Buildings whose representative point changes grid (smallest code on a shared edge), and their households."""
    return tuple(db.execute(text("""
        WITH pts AS (SELECT id, households, ST_PointOnSurface(footprint) AS p FROM building),
        before AS (SELECT pts.id, min(g.code) AS code FROM pts JOIN grid g ON g.layout_id = :a
                   AND ST_Covers(g.boundary, pts.p) GROUP BY pts.id),
        after AS (SELECT pts.id, min(g.code) AS code FROM pts JOIN grid g ON g.layout_id = :d
                  AND ST_Covers(g.boundary, pts.p) GROUP BY pts.id)
        SELECT count(*), coalesce(sum(pts.households), 0) FROM pts
        LEFT JOIN before ON before.id = pts.id LEFT JOIN after ON after.id = pts.id
        WHERE before.code IS DISTINCT FROM after.code"""), {"a": against, "d": layout}).one())


def test_impact_matches_postgis(draft: Draft, make_case: Callable[..., int], grid_a) -> None:
    db = draft.db
    pub = published_id(db)
    a, b = adjacent_pair(db, draft.id, same_community=True)
    draft.ok("merge", codes=[a, b], keep=a)
    draft.ok("assign_building", building_code=SPLIT_BUILDING[0], code="110101017001002")
    x, y = db.execute(text("""SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(boundary) p FROM grid
                              WHERE layout_id = :l AND code = :b) t"""), {"l": pub, "b": b}).one()
    grid_b = type(grid_a)(b, pub, x, y, grid_a.worker_id, grid_a.leader_id, None)
    case_id = make_case(grid_b, "dispatched")
    resp = draft.client.get(f"/api/v1/layouts/{draft.id}/impact", headers=draft.headers)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["against"] == pub
    n, hh = independent_moves(db, pub, draft.id)
    assert (body["summary"]["buildings"], body["summary"]["households"]) == (n, hh) and n > 10
    open_moves = db.execute(text("""
        SELECT count(*) FROM cases k JOIN report r ON r.id = k.report_id
        CROSS JOIN LATERAL (SELECT min(g.code) AS code FROM grid g WHERE g.layout_id = :d
                            AND ST_Covers(g.boundary, r.location)) n
        WHERE k.status NOT IN ('closed', 'rejected') AND n.code IS NOT NULL AND n.code <> k.grid_code"""),
        {"d": draft.id}).scalar_one()
    assert body["summary"]["open_cases"] == open_moves >= 1
    moves = body["moves"]["features"]
    mine = [f for f in moves if f["properties"]["kind"] == "open_case" and f["properties"]["id"] == case_id]
    assert mine and (mine[0]["properties"]["from_code"], mine[0]["properties"]["to_code"]) == (b, a)
    rows = {g["code"]: g for g in body["grids"]}
    assert rows[b]["status"] == "removed" and rows[a]["status"] == "changed" and rows[b]["households_after"] == 0
    assert rows[a]["households_after"] == rows[a]["households_before"] + rows[b]["households_before"]
    assert rows[a]["open_cases_after"] >= rows[b]["open_cases_before"] >= 1
    same = [g for g in body["grids"] if g["status"] == "same"]
    assert same and all(g["households_before"] == g["households_after"] for g in same[:50])
    assert {f["properties"]["kind"] for f in moves} >= {"building", "open_case"}
    problem(draft.client.get(f"/api/v1/layouts/{draft.id}/impact", params={"against": 999999},
                             headers=draft.headers), 404, "not_found")


def test_a_grid_redrawn_a_metre_over_its_hole_leaves_no_sliver_gap(draft: Draft) -> None:
    """Drawn with the default 2 m snapping just beyond the hole a deleted grid left: the new grid fills the hole
    exactly (no gap along its edges from vertices bent onto nearby building corners)."""
    code = "110101001001003"  # buildings stand within 2 m of its edges
    hole = geom(draft, code)
    draft.ok("delete", code=code)
    drawn = shapely.buffer(hole, 0.00001, join_style="mitre")  # ~1 m beyond every edge
    new_code = draft.ok("create", geometry=mapping(drawn))["edit"]["params"]["code"]
    assert shapely.symmetric_difference(geom(draft, new_code), hole).area / hole.area < 1e-4
    v = validation(draft)
    assert v["counts"].get("gap") == 1 and v["counts"].get("overlap") == 1  # the sample's own, nothing new

