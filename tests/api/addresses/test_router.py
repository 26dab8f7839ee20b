"""Address search, locate-by-address, reverse lookup, report intake with an address, the review queue,
and the registry import, against the seeded sample registry."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.api.test_read_api import assert_problem


@pytest.fixture
def unit_address(db: Session):
    """A residential building with ≥ 2 units: its registry rows and its grid in the published layout."""
    return db.execute(text("""
        SELECT a.id, a.estate, a.building_no, b.code AS building_code, ST_X(a.location) AS lon, ST_Y(a.location) AS lat,
               (SELECT g.code FROM grid g JOIN grid_layout l ON l.id = g.layout_id AND l.status = 'published'
                WHERE ST_Covers(g.boundary, a.location) LIMIT 1) AS grid_code
        FROM address a JOIN building b ON b.id = a.building_id
        WHERE a.kind = 'building' AND a.estate IS NOT NULL AND b.units >= 2
        ORDER BY a.id LIMIT 1 OFFSET 40""")).one()


def test_the_sample_registry_covers_every_building(db: Session) -> None:
    missing = db.execute(text("""SELECT count(*) FROM building b WHERE NOT EXISTS
                                 (SELECT 1 FROM address a WHERE a.building_id = b.id AND a.kind = 'building')""")
                         ).scalar()
    assert missing == 0
    units = db.execute(text("SELECT count(*) FROM address WHERE kind = 'unit'")).scalar()
    assert units > 10_000
    # the generator's 15 corridors, among the sample's road network (issue 20: sample_data/roads.gpkg, 161 roads)
    assert db.execute(text("SELECT count(*) FROM road WHERE kind = 'primary'")).scalar() == 15
    assert db.execute(text("SELECT count(*) FROM road")).scalar() == 161


def test_search_resolves_hotline_variants_to_the_unit(client, auth, unit_address) -> None:
    a = unit_address
    for q in (f"{a.estate}{a.building_no}号楼2单元门口", f"北京市东城区{a.estate}{a.building_no}栋二门附近",
              f"{a.estate}{a.building_no}-2-301"):
        body = client.get("/api/v1/addresses/search", params={"q": q}, headers=auth()).json()
        assert body["status"] == "matched", (q, body)
        best = body["candidates"][0]
        assert best["building_code"] == a.building_code and best["kind"] == "unit"
        assert best["matched"]["unit"] == "2" and body["score"] >= 0.9


def test_a_typo_still_matches_and_a_missing_level_is_ambiguous(client, auth, db: Session) -> None:
    row = db.execute(text("""SELECT estate, building_no, b.code FROM address a JOIN building b ON b.id = a.building_id
                             WHERE estate = '安德里家园' AND building_no = '13' AND a.kind = 'building'""")).one()
    body = client.get("/api/v1/addresses/search", params={"q": "安德力家园13号楼"}, headers=auth()).json()
    assert body["status"] == "matched" and body["candidates"][0]["building_code"] == row.code
    assert body["candidates"][0]["matched"]["name"] == "sound"  # 力 and 里 are both lì (issue 24)
    body = client.get("/api/v1/addresses/search", params={"q": "和平里12号楼"}, headers=auth()).json()
    assert body["status"] == "ambiguous" and len(body["candidates"]) >= 2
    body = client.get("/api/v1/addresses/search", params={"q": "火星路99号"}, headers=auth()).json()
    assert body["status"] in ("not_found", "ambiguous") and body["status"] != "matched"
    pg = client.get("/api/v1/addresses/search", params={"q": "安德里家园13号楼", "engine": "postgis"},
                    headers=auth()).json()
    assert pg["engine"] == "postgis" and pg["candidates"][0]["building_code"] == row.code


def test_landmarks_and_old_names_are_aliases(client, auth, db: Session) -> None:
    name, address = db.execute(text("SELECT name, address FROM facility WHERE kind = 'school' ORDER BY code LIMIT 1")
                               ).one()
    body = client.get("/api/v1/addresses/search", params={"q": f"{name}门口"}, headers=auth()).json()
    assert body["status"] == "matched" and body["candidates"][0]["full_text"] == address
    door = db.execute(text("SELECT road, door_number FROM address WHERE road LIKE '%条' ORDER BY id LIMIT 1")).one()
    body = client.get("/api/v1/addresses/search", params={"q": f"{door.road}胡同{door.door_number}号"},
                      headers=auth()).json()
    assert body["status"] == "matched" and body["candidates"][0]["matched"].get("alias")


def test_locate_by_address_gives_the_grid_with_method_address(client, auth, unit_address) -> None:
    a = unit_address
    q = f"{a.estate}{a.building_no}号楼2单元门口"
    body = client.get("/api/v1/locate", params={"address": q}, headers=auth()).json()
    assert body["method"] == "address" and body["grid"]["code"] == a.grid_code and body["score"] >= 0.9
    assert body["grid"]["staff_on_duty"] and body["address"]["status"] == "matched"
    posted = client.post("/api/v1/locate", json={"address": q}, headers=auth()).json()
    assert posted["grid"]["code"] == a.grid_code
    batch = client.post("/api/v1/locate", json={"addresses": [q, "和平里12号楼"]}, headers=auth()).json()
    assert batch["count"] == 2 and batch["results"][0]["method"] == "address"
    amb = batch["results"][1]
    assert amb["method"] == "unrouted" and amb["reason"] == "address_ambiguous" and amb["address"]["candidates"]
    assert all("grid" in c for c in amb["address"]["candidates"])
    # coordinates and address together: the point decides, the distance between them is reported
    both = client.get("/api/v1/locate", params={"address": q, "lon": a.lon + 0.01, "lat": a.lat},
                      headers=auth()).json()
    assert both["address"]["disagrees"] is True and both["address"]["distance_m"] > 800
    assert_problem(client.get("/api/v1/locate", params={"lat": 39.9}, headers=auth()), 422, "validation_error")


def test_an_intersection_resolves_to_the_crossing(client, auth) -> None:
    body = client.get("/api/v1/locate", params={"address": "光明路与天坛东路交叉口东北角"}, headers=auth()).json()
    assert body["address"]["intersection"]["point"] == {"lon": pytest.approx(116.422), "lat": pytest.approx(39.8825)}
    assert body["point"]["lon"] == pytest.approx(116.422)
    unknown = client.get("/api/v1/addresses/search", params={"q": "光明路与建设街交叉口"}, headers=auth()).json()
    assert unknown["status"] == "not_found" and "建设街" in unknown["reason"]


def test_reverse_gives_the_building_and_nearest_addresses(client, auth, unit_address) -> None:
    a = unit_address
    body = client.get("/api/v1/addresses/reverse", params={"lon": a.lon, "lat": a.lat}, headers=auth()).json()
    assert body["building"]["code"] == a.building_code
    assert body["addresses"][0]["building_code"] == a.building_code and body["addresses"][0]["distance_m"] < 1


def _report(client, auth, **kw):
    body = {"source": "hotline_12345", "category": "E01001", **kw}
    return client.post("/api/v1/reports", json=body, headers=auth("intake"))


def test_report_with_a_confident_address_routes_by_address(client, auth, unit_address) -> None:
    a = unit_address
    r = _report(client, auth, address=f"{a.estate}{a.building_no}号楼2单元门口")
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["routing"]["method"] == "address" and out["routing"]["grid_code"] == a.grid_code
    assert out["point"]["lon"] == pytest.approx(a.lon) and out["address_check"]["status"] == "matched"


def test_ambiguous_report_is_stored_queued_and_confirmed_by_an_operator(client, auth, db: Session) -> None:
    r = _report(client, auth, address="和平里12号楼", description="楼道堆物")
    assert r.status_code == 201
    out = r.json()
    assert out["routing"]["method"] == "unrouted" and out["routing"]["reason"] == "address_ambiguous"
    review_id = out["address_check"]["review_id"]
    queue = client.get("/api/v1/addresses/reviews", headers=auth()).json()
    item = next(i for i in queue["items"] if i["id"] == review_id)
    assert item["report_id"] == out["id"] and len(item["candidates"]) >= 2
    pick = item["candidates"][1]
    assert_problem(client.post(f"/api/v1/addresses/reviews/{review_id}", json={"address_id": pick["id"]},
                               headers=auth("worker")), 403, "forbidden")
    done = client.post(f"/api/v1/addresses/reviews/{review_id}", json={"address_id": pick["id"]},
                       headers=auth("dispatcher")).json()
    assert done["status"] == "confirmed" and done["routing"]["method"] == "address"
    report = client.get(f"/api/v1/reports/{out['id']}", headers=auth()).json()
    assert report["routing"]["method"] == "address" and report["routing"]["grid_code"] == done["routing"]["grid_code"]
    grid = db.execute(text("SELECT grid_code FROM cases WHERE report_id = :r"), {"r": out["id"]}).scalar()
    assert grid == done["routing"]["grid_code"]
    again = client.post(f"/api/v1/addresses/reviews/{review_id}", json={"address_id": pick["id"]}, headers=auth())
    assert_problem(again, 409, "conflict")


def test_report_whose_address_disagrees_with_its_point_is_flagged(client, auth, unit_address) -> None:
    a = unit_address
    r = _report(client, auth, address=f"{a.estate}{a.building_no}号楼", lon=a.lon + 0.01, lat=a.lat)
    out = r.json()
    assert out["routing"]["method"] in ("inside", "edge", "nearest")
    assert out["address_check"]["disagrees"] is True and out["address_check"]["review_id"]
    near = _report(client, auth, address=f"{a.estate}{a.building_no}号楼", lon=a.lon + 0.0002, lat=a.lat).json()
    assert near["address_check"]["disagrees"] is False and near["address_check"]["review_id"] is None


def test_unknown_address_report_is_kept_and_queued(client, auth) -> None:
    out = _report(client, auth, address="火星路99号").json()
    assert out["routing"]["method"] == "unrouted" and out["routing"]["reason"].startswith("address_")
    assert out["address_check"]["review_id"]


def test_import_csv_lands_whole_or_names_the_row(db: Session, tmp_path) -> None:
    from api.addresses.service import import_addresses
    from api.core.errors import ImportFailed

    code = db.execute(text("SELECT code FROM building ORDER BY code LIMIT 1")).scalar()
    good = tmp_path / "a.csv"
    good.write_text("code,kind,building_code,road,door_number,full_text,aliases,lon,lat\n"
                    f"X-1,building,{code},测试胡同,1,北京市东城区测试胡同1号,老测试胡同1号|测试大院,,\n"
                    "X-2,landmark,,,,东城区测试广场,,116.41,39.91\n", encoding="utf-8")
    res = import_addresses(db, path=good)
    assert res["rows_imported"] == 2
    loc = db.execute(text("SELECT location IS NOT NULL FROM address WHERE code = 'X-1'")).scalar()
    assert loc is True
    bad = tmp_path / "b.csv"
    bad.write_text("code,building_code,full_text\nY-1,,东城区某地1号\nY-2,nope,东城区某地2号\n", encoding="utf-8")
    with pytest.raises(ImportFailed) as exc:
        import_addresses(db, path=bad)
    assert exc.value.extra["row"] == 2
    assert db.execute(text("SELECT count(*) FROM address WHERE code LIKE 'Y-%'")).scalar() == 0
    with pytest.raises(ImportFailed):
        import_addresses(db, path=good)  # codes exist: refused without replace
    assert import_addresses(db, path=good, replace=True)["rows_updated"] == 2
