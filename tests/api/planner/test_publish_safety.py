"""Issue 24, the planner's safe publishing: grids with nobody on duty are listed and refused unless accepted
with a reason; a scheduled publish is cancelled before its moment (routing untouched); a split keeps the
buildings it crosses whole unless asked to cut them; the people picker's name search."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import shapely
from shapely.geometry import mapping
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.planner.publish import apply_due
from tests.api.planner.conftest import Draft, problem, published_id
from tests.api.planner.test_checks import fix_planted_defects, validation
from tests.api.planner.test_edits import geom
from tests.api.planner.test_publish import now, publish, staff_from_elsewhere


def split_in_two(draft: Draft, code: str) -> str:
    g = geom(draft, code)
    c = g.centroid
    line = {"type": "LineString", "coordinates": [[c.x, g.bounds[1] - 0.001], [c.x, g.bounds[3] + 0.001]]}
    return draft.ok("split", code=code, line=line, cut_buildings=True)["edit"]["params"]["new_code"]


def test_a_grid_with_nobody_on_duty_is_listed_and_refused_unless_accepted_with_a_reason(draft: Draft) -> None:
    fix_planted_defects(draft)
    new_code = split_in_two(draft, "110101001001001")
    v = validation(draft)
    assert [g["code"] for g in v["unstaffed"]] == [new_code]
    body = problem(publish(draft), 409, "unstaffed_grids")
    assert [g["code"] for g in body["grids"]] == [new_code] and body["missing"] == [new_code]
    assert body["grids"][0]["households"] == draft.grid(new_code).households > 0
    problem(publish(draft, accept_unstaffed=[new_code]), 409, "unstaffed_grids")  # no reason
    problem(publish(draft, accept_unstaffed=[new_code], unstaffed_reason="  "), 409, "unstaffed_grids")
    problem(publish(draft, accept_unstaffed=["110101001001002"], unstaffed_reason="x"), 409, "unstaffed_grids")
    resp = publish(draft, accept_unstaffed=[new_code], unstaffed_reason="新网格员12月10日到岗，期间由第1网格代管")
    assert resp.status_code == 200, resp.text
    rec = draft.db.execute(text("SELECT unstaffed, unstaffed_reason FROM layout_publish WHERE layout_id = :l"),
                           {"l": draft.id}).one()
    assert [g["code"] for g in rec.unstaffed] == [new_code] and rec.unstaffed_reason.startswith("新网格员")
    audit = draft.db.execute(text("SELECT query FROM audit_log WHERE method = 'PUBLISH' AND path = :p"),
                             {"p": f"/api/v1/layouts/{draft.id}/publish"}).scalar_one()
    assert f"unstaffed={new_code}" in audit and "unstaffed_reason=" in audit


def test_staffing_the_new_grid_lets_it_publish_without_a_reason(draft: Draft, db: Session) -> None:
    fix_planted_defects(draft)
    new_code = split_in_two(draft, "110101001001001")
    worker = db.execute(text("SELECT id FROM person WHERE role = 'grid_worker' AND active ORDER BY id LIMIT 1")
                        ).scalar_one()
    draft.ok("update_attrs", code=new_code, staff=[worker])
    assert validation(draft)["unstaffed"] == []
    assert publish(draft).status_code == 200


def test_a_scheduled_publish_is_cancelled_before_its_moment_and_routing_is_untouched(
        draft: Draft, db: Session, auth: Callable[[str], dict[str, str]]) -> None:
    fix_planted_defects(draft)
    code = "110101001001001"
    person = staff_from_elsewhere(draft, code)
    old = published_id(db)
    x, y = db.execute(text("""SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(boundary) p FROM grid
                              WHERE layout_id = :l AND code = :c) t"""), {"l": old, "c": code}).one()
    t = now(db) + timedelta(days=1)
    rev = draft.revision
    assert publish(draft, effective_from=t.isoformat(), reroute_open_cases=True).status_code == 200
    cancel = f"/api/v1/layouts/{draft.id}/publish/cancel"
    problem(draft.client.post(cancel, json={}, headers=auth("dispatcher")), 403, "forbidden")
    resp = draft.client.post(cancel, json={"reason": "区里要求推迟"}, headers=draft.headers)
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["status"] == "draft" and out["effective_from"] is None and out["revision"] == rev
    prev = db.execute(text("SELECT status, effective_to FROM grid_layout WHERE id = :id"), {"id": old}).one()
    assert prev.status == "published" and prev.effective_to is None  # runs on as before
    at = (t + timedelta(hours=1)).isoformat()
    routed = draft.client.get("/api/v1/locate", params={"lon": x, "lat": y, "at": at}, headers=draft.headers).json()
    assert routed["layout"]["id"] == old
    rec = db.execute(text("""SELECT cancelled_at, cancelled_by, cancel_reason, reroute_pending FROM layout_publish
                             WHERE layout_id = :l"""), {"l": draft.id}).one()
    assert rec.cancelled_at is not None and rec.cancel_reason == "区里要求推迟" and rec.reroute_pending is False
    audit = db.execute(text("SELECT actor, query FROM audit_log WHERE method = 'CANCEL' AND path = :p"),
                       {"p": cancel}).one()
    assert audit.actor.startswith("key:") and "reason=" in audit.query
    # the moment passes: the cancelled publish's staff move is never applied
    apply_due(db, at=t + timedelta(hours=2))
    assert db.execute(text("SELECT grid_code FROM person WHERE id = :p"), {"p": person}).scalar_one() != code
    problem(draft.client.post(cancel, json={}, headers=draft.headers), 409, "publish_not_scheduled")
    listed = draft.client.get(f"/api/v1/layouts/{draft.id}/publishes", headers=draft.headers).json()["items"]
    assert listed[0]["cancelled_by"] == audit.actor
    # a draft again: it can be published once more
    assert publish(draft, effective_from=t.isoformat()).status_code == 200


def test_the_layout_in_force_cannot_be_cancelled(draft: Draft) -> None:
    resp = draft.client.post(f"/api/v1/layouts/{published_id(draft.db)}/publish/cancel", json={},
                             headers=draft.headers)
    body = problem(resp, 409, "publish_not_scheduled")
    assert body["layout_status"] == "published"
    problem(draft.client.post(f"/api/v1/layouts/{draft.id}/publish/cancel", json={}, headers=draft.headers),
            409, "publish_not_scheduled")


def crossed_building(draft: Draft, code: str) -> tuple[str, shapely.Geometry, dict]:
    """A building of grid ``code`` and a north-south line through it, 30 % from its western edge."""
    bcode, wkb = draft.db.execute(text("""
        SELECT b.code, ST_AsBinary(b.footprint) FROM building b JOIN grid g ON ST_Covers(g.boundary, b.footprint)
        WHERE g.layout_id = :l AND g.code = :c ORDER BY ST_Area(b.footprint) DESC LIMIT 1"""),
        {"l": draft.id, "c": code}).one()
    fp = shapely.from_wkb(bytes(wkb))
    g = geom(draft, code)
    x = fp.bounds[0] + 0.3 * (fp.bounds[2] - fp.bounds[0])
    return bcode, fp, {"type": "LineString", "coordinates": [[x, g.bounds[1] - 0.001], [x, g.bounds[3] + 0.001]]}


def test_a_split_keeps_a_crossed_building_whole_on_the_side_holding_most_of_it(draft: Draft) -> None:
    code = "110101001001001"
    bcode, fp, line = crossed_building(draft, code)
    body = draft.ok("split", code=code, line=line)
    params = body["edit"]["params"]
    new_code = params["new_code"]
    kept = {k["building_code"]: k for k in params["buildings_kept_whole"]}
    assert kept[bcode]["code"] == new_code and kept[bcode]["share"] > 0.5  # 70 % lay east of the line
    assert shapely.covers(geom(draft, new_code).buffer(1e-7), fp) and not geom(draft, code).intersection(fp).area
    v = validation(draft)
    assert "building_split" not in v["blocking_counts"], v["blocking_counts"]
    # cutting through is an option: the building is then split, a new blocking finding
    assert draft.undo().status_code == 200
    body = draft.ok("split", code=code, line=line, cut_buildings=True)
    assert body["edit"]["params"]["buildings_kept_whole"] == []
    v = validation(draft)
    assert v["blocking_counts"].get("building_split", 0) >= 1
    assert any(f["properties"]["codes"][0] == bcode for f in v["findings"]["features"]
               if f["properties"]["kind"] == "building_split" and f["properties"]["severity"] == "blocking")


def test_a_split_line_drawn_short_of_both_edges_is_carried_to_the_boundary(draft: Draft) -> None:
    code = "110101001001002"
    g = geom(draft, code)
    c = g.centroid
    h = (g.bounds[3] - g.bounds[1]) * 0.1  # the line covers only the middle fifth of the grid
    line = {"type": "LineString", "coordinates": [[c.x, c.y - h], [c.x, c.y + h]]}
    if not shapely.contains(g, shapely.geometry.shape(line)):
        line = mapping(shapely.LineString([(c.x, c.y - h / 10), (c.x, c.y + h / 10)]))
    body = draft.ok("split", code=code, line=line, cut_buildings=True)
    a, b = geom(draft, code), geom(draft, body["edit"]["params"]["new_code"])
    assert abs(a.area + b.area - g.area) / g.area < 1e-4 and a.centroid.x < b.centroid.x


def test_people_are_found_by_part_of_their_name(client, auth, db: Session) -> None:
    name = db.execute(text("SELECT name FROM person WHERE active AND role = 'grid_worker' ORDER BY id LIMIT 1")
                      ).scalar_one()
    resp = client.get("/api/v1/people", params={"q": name[1:], "role": "grid_worker"}, headers=auth("planner"))
    assert resp.status_code == 200, resp.text
    items = resp.json()["items"]
    assert items and all(name[1:] in p["name"] and p["role"] == "grid_worker" for p in items)
    assert name in [p["name"] for p in items]
    expected = db.execute(text("SELECT count(*) FROM person WHERE active AND role = 'grid_worker' "
                               "AND strpos(name, :q) > 0"), {"q": name[1:]}).scalar_one()
    assert resp.json()["total"] == expected
    assert client.get("/api/v1/people", params={"q": "x" * 51}, headers=auth("planner")).status_code in (400, 422)
