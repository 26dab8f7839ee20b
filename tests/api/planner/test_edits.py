"""Every edit of a draft, its undo, and every refusal leaving the draft exactly as it was."""

from __future__ import annotations

import json

import httpx
import shapely
import shapely.affinity
from shapely.geometry import mapping, shape
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.api.planner.conftest import Draft, problem, published_id

COMMUNITY = "110101001001"


def geom(draft: Draft, code: str) -> shapely.Geometry:
    wkb = draft.db.execute(text("SELECT ST_AsBinary(boundary) FROM grid WHERE layout_id = :l AND code = :c"),
                           {"l": draft.id, "c": code}).scalar_one()
    return shapely.from_wkb(bytes(wkb))


def adjacent_pair(db: Session, layout_id: int, *, same_community: bool) -> tuple[str, str]:
    """Two grids sharing an edge (longer than 10 m), in the same community or not."""
    return tuple(db.execute(text(f"""
        SELECT a.code, b.code FROM grid a JOIN grid b ON a.layout_id = b.layout_id AND a.code < b.code
          AND a.boundary && b.boundary
        WHERE a.layout_id = :l AND (a.community_code = b.community_code) = :same
          AND ST_Length(CAST(ST_Intersection(ST_Boundary(a.boundary), ST_Boundary(b.boundary)) AS geography)) > 10
          AND a.code NOT LIKE '110101001014%' {'' if same_community else "AND true"}
        ORDER BY a.code, b.code LIMIT 1"""), {"l": layout_id, "same": same_community}).one())


def overlap_m2(db: Session, layout_id: int, code: str) -> float:
    return db.execute(text("""
        SELECT coalesce(sum(ST_Area(CAST(ST_Intersection(a.boundary, b.boundary) AS geography))), 0)
        FROM grid a JOIN grid b ON b.layout_id = a.layout_id AND b.code <> a.code AND a.boundary && b.boundary
        WHERE a.layout_id = :l AND a.code = :c AND ST_Relate(a.boundary, b.boundary, '2********')"""),
        {"l": layout_id, "c": code}).scalar_one()


def test_a_copy_has_the_published_grids_their_staff_and_revision_zero(draft: Draft, db: Session) -> None:
    src = published_id(db)
    same = db.execute(text("""
        SELECT count(*) FROM grid a JOIN grid b ON a.code = b.code AND ST_Equals(a.boundary, b.boundary)
          AND a.households = b.households WHERE a.layout_id = :src AND b.layout_id = :d"""),
        {"src": src, "d": draft.id}).scalar_one()
    total = db.execute(text("SELECT count(*) FROM grid WHERE layout_id = :l"), {"l": src}).scalar_one()
    assert same == total > 500
    body = draft.client.get(f"/api/v1/layouts/{draft.id}", headers=draft.headers).json()
    assert body["status"] == "draft" and body["revision"] == 0 and body["parent_id"] == src
    fc = draft.client.get(f"/api/v1/layouts/{draft.id}/grids", headers=draft.headers).json()
    assert len(fc["features"]) == total and fc["revision"] == 0
    first = fc["features"][0]["properties"]
    staff_db = db.execute(text("""SELECT id FROM person WHERE grid_code = :c AND active
                                  AND role IN ('grid_leader', 'grid_worker') ORDER BY id"""),
                          {"c": first["code"]}).scalars().all()
    assert sorted(s["id"] for s in first["staff"]) == staff_db and staff_db
    buildings = db.execute(text("""SELECT count(*) FROM building b, grid g WHERE g.layout_id = :l AND g.code = :c
                                   AND ST_Covers(g.boundary, ST_PointOnSurface(b.footprint))"""),
                           {"l": draft.id, "c": first["code"]}).scalar_one()
    assert first["buildings"] == buildings > 0


def test_split_keeps_the_code_west_of_a_north_south_line_and_undo_restores(draft: Draft) -> None:
    code = f"{COMMUNITY}001"
    before = draft.checksum()
    g = geom(draft, code)
    old = draft.grid(code)
    c = g.centroid
    y0, y1 = g.bounds[1], g.bounds[3]
    line = {"type": "LineString", "coordinates": [[c.x, y0 - 0.001], [c.x, y1 + 0.001]]}
    body = draft.ok("split", code=code, line=line)
    top = draft.db.execute(text("SELECT max(code) FROM grid WHERE layout_id = :l AND community_code = :c"),
                           {"l": draft.id, "c": COMMUNITY}).scalar_one()
    new_code = body["edit"]["params"]["new_code"]
    assert new_code == top and body["revision"] == 1 and body["removed"] == []
    assert sorted(f["id"] for f in body["changed"]["features"]) == sorted([code, new_code])
    west, east = geom(draft, code), geom(draft, new_code)
    assert west.centroid.x < c.x < east.centroid.x
    assert abs(west.area + east.area - g.area) / g.area < 1e-4  # cut points rounded to 1 cm
    kept, new = draft.grid(code), draft.grid(new_code)
    assert kept.households + new.households == old.households
    assert abs(new.households - old.households * east.area / g.area) <= 1
    assert new.properties["staff"] == [] and kept.properties["staff"] == old.properties["staff"]
    undone = draft.undo()
    assert undone.status_code == 200, undone.text
    assert undone.json()["removed"] == [new_code] and undone.json()["edit"]["op"] == "undo"
    assert draft.checksum() == before and draft.revision == 2


def test_split_of_an_east_west_line_keeps_the_northern_part(draft: Draft) -> None:
    code = f"{COMMUNITY}002"
    g = geom(draft, code)
    c = g.centroid
    line = {"type": "LineString", "coordinates": [[g.bounds[0] - 0.001, c.y], [g.bounds[2] + 0.001, c.y]]}
    new_code = draft.ok("split", code=code, line=line)["edit"]["params"]["new_code"]
    assert geom(draft, code).centroid.y > c.y > geom(draft, new_code).centroid.y


def test_merge_two_neighbours_and_refuse_strangers(draft: Draft) -> None:
    a, b = adjacent_pair(draft.db, draft.id, same_community=True)
    ga, gb = geom(draft, a), geom(draft, b)
    hh = draft.grid(a).households + draft.grid(b).households
    body = draft.ok("merge", codes=[a, b], keep=b)
    assert body["removed"] == [a] and [f["id"] for f in body["changed"]["features"]] == [b]
    merged = geom(draft, b)
    assert abs(merged.area - (ga.area + gb.area)) < 1e-10 and draft.grid(b).households == hh
    before, rev = draft.checksum(), draft.revision
    x, y = adjacent_pair(draft.db, draft.id, same_community=False)
    problem(draft.edit("merge", codes=[x, y], keep=x), 422, "merge_failed")
    far = draft.db.execute(text("""SELECT g.code FROM grid g WHERE g.layout_id = :l AND g.community_code = :c
                                   AND NOT ST_Intersects(g.boundary, (SELECT boundary FROM grid WHERE layout_id = :l
                                                                        AND code = :b)) LIMIT 1"""),
                           {"l": draft.id, "c": b[:12], "b": b}).scalar()
    if far is not None:
        problem(draft.edit("merge", codes=[b, far], keep=b), 422, "merge_failed")
    problem(draft.edit("merge", codes=[b, b], keep=b), 422, "merge_failed")
    assert draft.checksum() == before and draft.revision == rev


def test_delete_then_create_over_the_hole_fills_exactly_the_free_space(draft: Draft) -> None:
    code = f"{COMMUNITY}003"
    hole = geom(draft, code)
    assert draft.ok("delete", code=code)["removed"] == [code]
    top = draft.db.execute(text("SELECT max(code) FROM grid WHERE layout_id = :l AND community_code = :c"),
                           {"l": draft.id, "c": COMMUNITY}).scalar_one()
    drawn = shapely.buffer(hole, 0.0003, join_style="mitre")  # ~30 m beyond, over the neighbours
    body = draft.ok("create", geometry=mapping(drawn))
    new_code = body["edit"]["params"]["code"]
    assert new_code == f"{COMMUNITY}{int(top[12:]) + 1:03d}"
    created = geom(draft, new_code)
    area = draft.grid(new_code).area
    hole_area = draft.db.execute(text("SELECT ST_Area(CAST(ST_GeomFromWKB(:w, 4326) AS geography))"),
                                 {"w": shapely.to_wkb(hole)}).scalar_one()
    assert abs(area - hole_area) / hole_area < 0.001
    assert overlap_m2(draft.db, draft.id, new_code) < 1.0
    assert shapely.symmetric_difference(created, hole).area / hole.area < 0.001
    props = body["changed"]["features"][0]["properties"]
    assert props["community_code"] == COMMUNITY and "网格" in props["name"] and props["buildings"] > 0


def test_update_geometry_snaps_a_nudged_vertex_back_onto_the_neighbours(draft: Draft) -> None:
    a, b = adjacent_pair(draft.db, draft.id, same_community=True)
    ga, gb = geom(draft, a), geom(draft, b)
    common = sorted({tuple(c) for c in shapely.get_coordinates(ga)} & {tuple(c) for c in shapely.get_coordinates(gb)})
    assert common
    pt = common[len(common) // 2]
    coords = shapely.get_coordinates(ga)
    moved = coords.copy()
    hit = (abs(coords[:, 0] - pt[0]) < 1e-12) & (abs(coords[:, 1] - pt[1]) < 1e-12)
    moved[hit] += [0.000012, 0.0]  # ~1 m east
    nudged = shapely.set_coordinates(ga, moved)
    draft.ok("update_geometry", code=a, geometry=mapping(nudged), snap_m=2)
    assert shapely.equals(geom(draft, a), ga) or shapely.hausdorff_distance(geom(draft, a), ga) < 2e-7
    draft.ok("update_geometry", code=a, geometry=mapping(nudged), snap_m=0)
    assert shapely.hausdorff_distance(geom(draft, a), ga) > 1e-5
    # two grids moved together: one edit, one undo
    rev = draft.revision
    body = draft.ok("update_geometry", grids=[{"code": a, "geometry": mapping(ga)},
                                              {"code": b, "geometry": mapping(gb)}])
    assert body["revision"] == rev + 1 and sorted(body["edit"]["codes"]) == sorted([a, b])


def test_update_attrs_and_staff(draft: Draft, db: Session) -> None:
    code = f"{COMMUNITY}001"
    person = db.execute(text("SELECT id FROM person WHERE role = 'grid_worker' AND grid_code <> :c LIMIT 1"),
                        {"c": code}).scalar_one()
    body = draft.ok("update_attrs", code=code, name="新名字", name_en="New name", households=333, staff=[person])
    p = body["changed"]["features"][0]["properties"]
    assert (p["name"], p["name_en"], p["households"]) == ("新名字", "New name", 333)
    assert [s["id"] for s in p["staff"]] == [person]
    # the person is not moved in the live data until a publish
    assert db.execute(text("SELECT grid_code FROM person WHERE id = :p"), {"p": person}).scalar_one() != code
    free = f"{COMMUNITY}099"
    body = draft.ok("update_attrs", code=code, new_code=free)
    assert body["removed"] == [code] and body["changed"]["features"][0]["id"] == free


REFUSALS = [
    ("self-intersecting", 422, "invalid_geometry"),
    ("outside community", 422, "outside_community"),
    ("duplicate code", 409, "duplicate_code"),
    ("foreign code", 422, "bad_code"),
    ("line misses", 422, "split_failed"),
    ("unknown grid", 404, "not_found"),
    ("unknown person", 404, "not_found"),
    ("not a polygon", 422, "invalid_geometry"),
    ("bad body", 422, "validation_error"),
    ("create over covered land", 422, "edit_failed"),
    ("stale revision", 409, "revision_conflict"),
]


def test_every_refused_edit_leaves_the_draft_unchanged(draft: Draft) -> None:
    grid = f"{COMMUNITY}001"
    g = geom(draft, grid)
    x0, y0, x1, y1 = g.bounds
    draft.ok("update_attrs", code=grid, name="rev 1")  # so that a stale revision exists
    before, rev = draft.checksum(), draft.revision
    bowtie = {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y1], [x1, y0], [x0, y1], [x0, y0]]]}
    attempts = {
        "self-intersecting": lambda: draft.edit("update_geometry", code=grid, geometry=bowtie),
        "outside community": lambda: draft.edit("update_geometry", code=grid, snap_m=0, geometry=mapping(
            shapely.affinity.translate(g, xoff=(x1 - x0) * 0.6))),
        "duplicate code": lambda: draft.edit("update_attrs", code=grid, new_code=f"{COMMUNITY}002"),
        "foreign code": lambda: draft.edit("update_attrs", code=grid, new_code="110101001002077"),
        "line misses": lambda: draft.edit("split", code=grid, line={
            "type": "LineString", "coordinates": [[x1 + 0.01, y0], [x1 + 0.01, y1]]}),
        "unknown grid": lambda: draft.edit("delete", code="110101001001987"),
        "unknown person": lambda: draft.edit("update_attrs", code=grid, staff=[999_999_999]),
        "not a polygon": lambda: draft.edit("update_geometry", code=grid,
                                            geometry={"type": "Point", "coordinates": [x0, y0]}),
        "bad body": lambda: draft.edit("split", code=grid),
        "create over covered land": lambda: draft.edit("create", geometry=mapping(shapely.buffer(g, -0.0003))),
        "stale revision": lambda: draft.edit("delete", code=grid, base=rev - 1),
    }
    assert set(attempts) == {r[0] for r in REFUSALS}
    for case, status, code in REFUSALS:
        body = problem(attempts[case](), status, code)
        if code == "revision_conflict":
            assert body["revision"] == rev
        assert draft.checksum() == before and draft.revision == rev, case


def test_revision_conflict_between_two_clients_loses_no_edit(draft: Draft, auth) -> None:
    other = auth("planner")
    code_a, code_b = f"{COMMUNITY}001", f"{COMMUNITY}002"
    base = draft.revision
    first = draft.client.post(f"/api/v1/layouts/{draft.id}/edits", headers=draft.headers, json={
        "base_revision": base, "op": "update_attrs", "code": code_a, "name": "A's name"})
    assert first.status_code == 200
    after_first = draft.checksum()
    second = draft.client.post(f"/api/v1/layouts/{draft.id}/edits", headers=other, json={
        "base_revision": base, "op": "update_attrs", "code": code_b, "name": "B's name"})
    assert problem(second, 409, "revision_conflict")["revision"] == base + 1
    assert draft.checksum() == after_first and draft.grid(code_a).name == "A's name"
    retry = draft.client.post(f"/api/v1/layouts/{draft.id}/edits", headers=other, json={
        "base_revision": base + 1, "op": "update_attrs", "code": code_b, "name": "B's name"})
    assert retry.status_code == 200 and draft.grid(code_a).name == "A's name" and draft.grid(code_b).name == "B's name"


def test_undo_walks_back_every_edit_and_history_lists_them(draft: Draft) -> None:
    original = draft.checksum()
    draft.ok("update_attrs", code=f"{COMMUNITY}001", population=1)
    draft.ok("delete", code=f"{COMMUNITY}002")
    a, b = adjacent_pair(draft.db, draft.id, same_community=True)
    draft.ok("merge", codes=[a, b], keep=a)
    for _ in range(3):
        assert draft.undo().status_code == 200
    assert draft.checksum() == original and draft.revision == 6
    problem(draft.undo(), 409, "nothing_to_undo")
    hist = draft.client.get(f"/api/v1/layouts/{draft.id}/edits", headers=draft.headers).json()
    assert [i["op"] for i in hist["items"]] == ["undo"] * 3 + ["merge", "delete", "update_attrs"]
    undone = {i["id"]: i["undone_by"] for i in hist["items"]}
    assert all(undone[i["id"]] is not None for i in hist["items"][3:])
    assert hist["items"][5]["codes"] == [f"{COMMUNITY}001"]


def test_assign_building_heals_the_planted_split_building(draft: Draft) -> None:
    building = "1101010000791"
    resp = draft.edit("assign_building", building_code=building, code="110101017001003")
    assert resp.status_code == 200, resp.text
    shares = draft.db.execute(text("""
        SELECT g.code, ST_Area(ST_Intersection(g.boundary, b.footprint)) / ST_Area(b.footprint) AS share
        FROM grid g, building b WHERE g.layout_id = :l AND b.code = :b AND ST_Intersects(g.boundary, b.footprint)
          AND ST_Area(ST_Intersection(g.boundary, b.footprint)) > 0"""), {"l": draft.id, "b": building}).all()
    assert [(s.code, round(s.share, 6)) for s in shares] == [("110101017001003", 1.0)]
    assert sorted(resp.json()["edit"]["codes"]) == ["110101017001002", "110101017001003"]
    v = draft.client.get(f"/api/v1/layouts/{draft.id}/validation", headers=draft.headers).json()
    assert "building_split" not in v["counts"] and v["revision"] == draft.revision


def test_edits_of_a_published_layout_and_of_nothing_are_refused(draft: Draft, db: Session) -> None:
    pub = published_id(db)
    resp = draft.client.post(f"/api/v1/layouts/{pub}/edits", headers=draft.headers, json={
        "base_revision": 0, "op": "delete", "code": f"{COMMUNITY}001"})
    problem(resp, 409, "layout_not_draft")
    problem(draft.client.post("/api/v1/layouts/999999/edits", headers=draft.headers, json={
        "base_revision": 0, "op": "delete", "code": f"{COMMUNITY}001"}), 404, "not_found")
    problem(draft.client.delete(f"/api/v1/layouts/{pub}", headers=draft.headers), 409, "layout_not_draft")


def test_roles(draft: Draft, auth, client: httpx.Client) -> None:
    for role in ("dispatcher", "operator", "viewer", "worker", "intake"):
        resp = client.post(f"/api/v1/layouts/{draft.id}/edits", headers=auth(role), json={
            "base_revision": 0, "op": "delete", "code": f"{COMMUNITY}001"})
        problem(resp, 403, "forbidden")
    assert client.post(f"/api/v1/layouts/{draft.id}/edits", headers=auth("admin"), json={
        "base_revision": 0, "op": "delete", "code": f"{COMMUNITY}001"}).status_code == 200


def test_delete_a_draft(draft: Draft) -> None:
    draft.ok("delete", code=f"{COMMUNITY}001")
    assert draft.client.delete(f"/api/v1/layouts/{draft.id}", headers=draft.headers).status_code == 204
    assert draft.db.execute(text("SELECT count(*) FROM layout_edit WHERE layout_id = :l"),
                            {"l": draft.id}).scalar_one() == 0
    problem(draft.client.get(f"/api/v1/layouts/{draft.id}", headers=draft.headers), 404, "not_found")


def test_geojson_in_the_edit_answer_is_what_grids_serves(draft: Draft) -> None:
    code = f"{COMMUNITY}003"
    body = draft.ok("update_attrs", code=code, name="x")
    fc = draft.client.get(f"/api/v1/layouts/{draft.id}/grids", headers=draft.headers).json()
    served = next(f for f in fc["features"] if f["id"] == code)
    assert json.dumps(served, sort_keys=True) == json.dumps(body["changed"]["features"][0], sort_keys=True)
    assert shape(served["geometry"]).is_valid
