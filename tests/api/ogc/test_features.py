"""/ogc in process (issue 23): Part 1 documents and items, the same scoping and masking as the API, Part 2 CRS and
Part 3 CQL2 filters, each held against the API's own answer or the database."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from pyproj import Transformer
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.api.conftest import Grid, problem

pytestmark = pytest.mark.usefixtures("quiet_app")
EPSG = "http://www.opengis.net/def/crs/EPSG/0/"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"


def _items(client: httpx.Client, headers: dict, coll: str, **params: object) -> dict:
    resp = client.get(f"/ogc/collections/{coll}/items", headers=headers, params=params)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/geo+json")
    return resp.json()


def test_landing_conformance_and_api_definition(client: httpx.Client) -> None:
    landing = client.get("/ogc").json()
    rels = {lk["rel"] for lk in landing["links"]}
    assert {"self", "service-desc", "service-doc", "conformance", "data"} <= rels
    desc = next(lk for lk in landing["links"] if lk["rel"] == "service-desc")
    api = client.get(desc["href"].replace("http://testserver", ""))
    assert api.headers["content-type"].startswith("application/vnd.oai.openapi+json")
    assert api.json()["openapi"].startswith("3.0")
    assert "/collections/{collectionId}/items" in api.json()["paths"]
    conf = client.get("/ogc/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in conf
    html = client.get("/ogc", params={"f": "html"})
    assert html.headers["content-type"].startswith("text/html") and "gridmap OGC API" in html.text


def test_every_collection_counts_what_the_database_holds(client: httpx.Client, auth: Callable, db: Session) -> None:
    admin = auth("admin")
    ids = [c["id"] for c in client.get("/ogc/collections", headers=admin).json()["collections"]]
    assert {"streets", "communities", "grids", "buildings", "facilities", "addresses", "cases"} <= set(ids)
    in_force = db.execute(text("""SELECT id FROM grid_layout WHERE status = 'published' AND effective_from <= now()
                                  AND (effective_to IS NULL OR effective_to > now())""")).scalar_one()
    expected = {
        "streets": "SELECT count(*) FROM street", "communities": "SELECT count(*) FROM community",
        "grids": f"SELECT count(*) FROM grid WHERE layout_id = {in_force}",
        f"grids-layout-{in_force}": f"SELECT count(*) FROM grid WHERE layout_id = {in_force}",
        "buildings": "SELECT count(*) FROM building", "facilities": "SELECT count(*) FROM facility",
        "addresses": "SELECT count(*) FROM address", "cases": "SELECT count(*) FROM cases",
    }
    for coll, sql in expected.items():
        page = _items(client, admin, coll, limit=3)
        assert page["numberMatched"] == db.execute(text(sql)).scalar_one(), coll
        assert page["numberReturned"] == len(page["features"]) == 3, coll
    api = client.get("/api/v1/grids", headers=admin, params={"limit": 1}).json()
    assert _items(client, admin, "grids", limit=1)["numberMatched"] == api["numberMatched"]


def test_next_links_walk_every_feature_once(client: httpx.Client, auth: Callable) -> None:
    admin = auth("admin")
    page = _items(client, admin, "communities", limit=40)
    seen = [f["id"] for f in page["features"]]
    while (nxt := next((lk["href"] for lk in page["links"] if lk["rel"] == "next"), None)) is not None:
        page = client.get(nxt.replace("http://testserver", ""), headers=admin).json()
        seen += [f["id"] for f in page["features"]]
    assert len(seen) == len(set(seen)) == page["numberMatched"]


def _link(page: dict, rel: str) -> str | None:
    href = next((lk["href"] for lk in page["links"] if lk["rel"] == rel), None)
    return None if href is None else href.replace("http://testserver", "")


def test_keyset_links_keep_the_filter_and_walk_both_ways(client: httpx.Client, auth: Callable, db: Session) -> None:
    """next/prev carry a cursor over the id (no offset), the filter, the limit and numberMatched on every page."""
    admin = auth("admin")
    want = db.execute(text("SELECT id FROM building WHERE kind = 'residential' ORDER BY id")).scalars().all()
    assert len(want) > 25
    page = _items(client, admin, "buildings", kind="residential", limit=10)
    pages, seen = [page], [f["id"] for f in page["features"]]
    assert _link(page, "prev") is None
    while (nxt := _link(page, "next")) is not None:
        assert "cursor=" in nxt and "offset=" not in nxt and "kind=residential" in nxt and "limit=10" in nxt
        page = client.get(nxt, headers=admin).json()
        assert page["numberMatched"] == len(want) and page["numberReturned"] == len(page["features"]) <= 10
        pages.append(page)
        seen += [f["id"] for f in page["features"]]
    assert seen == want
    back = [f["id"] for f in page["features"]]
    while (prev := _link(page, "prev")) is not None:
        page = client.get(prev, headers=admin).json()
        assert len(page["features"]) == 10
        back = [f["id"] for f in page["features"]] + back
    assert back == want and _link(page, "next") is not None
    # an offset start pages on by cursor from where it stands, and has a way back
    mid = _items(client, admin, "buildings", kind="residential", limit=10, offset=5)
    assert [f["id"] for f in mid["features"]] == want[5:15] and _link(mid, "prev") is not None
    assert [f["id"] for f in client.get(_link(mid, "next"), headers=admin).json()["features"]] == want[15:25]
    assert [f["id"] for f in client.get(_link(mid, "prev"), headers=admin).json()["features"]] == want[:5]


def test_a_cursor_no_link_carries_is_a_400(client: httpx.Client, auth: Callable) -> None:
    admin = auth("admin")
    grids_next = _link(_items(client, admin, "grids", limit=2), "next")
    token = grids_next.split("cursor=")[1].split("&")[0]
    for bad in ("%%%", "bm90IGpzb24", token):  # not base64, not JSON, a grid code where buildings have numbers
        problem(client.get("/ogc/collections/buildings/items", headers=admin, params={"cursor": bad}), 400,
                "invalid_parameter")
    assert _items(client, admin, "grids", cursor=token, limit=2)["numberReturned"] == 2


def test_single_item_and_its_404(client: httpx.Client, auth: Callable) -> None:
    admin = auth("admin")
    first = _items(client, admin, "grids", limit=1)["features"][0]
    one = client.get(f"/ogc/collections/grids/items/{first['id']}", headers=admin)
    assert one.status_code == 200 and one.json()["properties"] == first["properties"]
    problem(client.get("/ogc/collections/grids/items/999999999999999", headers=admin), 404, "not_found")
    problem(client.get("/ogc/collections/buildings/items/abc", headers=admin), 404, "not_found")
    problem(client.get("/ogc/collections/nothing", headers=admin), 404, "not_found")


def test_bbox_and_unknown_parameters(client: httpx.Client, auth: Callable, db: Session) -> None:
    admin = auth("admin")
    box = (116.40, 39.90, 116.41, 39.91)
    want = db.execute(text("SELECT count(*) FROM building WHERE ST_Intersects(footprint, "
                           "ST_MakeEnvelope(:a, :b, :c, :d, 4326))"), dict(zip("abcd", box, strict=True))).scalar_one()
    assert 0 < _items(client, admin, "buildings", bbox=",".join(map(str, box)), limit=1)["numberMatched"] == want
    # the same box in EPSG:4326's own axis order (latitude first)
    latlon = f"{box[1]},{box[0]},{box[3]},{box[2]}"
    assert _items(client, admin, "buildings", bbox=latlon, **{"bbox-crs": EPSG + "4326"})["numberMatched"] == want
    problem(client.get("/ogc/collections/buildings/items", headers=admin, params={"bbox": "1,2,3"}), 400,
            "invalid_parameter")
    problem(client.get("/ogc/collections/buildings/items", headers=admin, params={"colour": "red"}), 400,
            "invalid_parameter")
    assert _items(client, admin, "buildings", kind="school", limit=1)["numberMatched"] == db.execute(
        text("SELECT count(*) FROM building WHERE kind = 'school'")).scalar_one()


def test_datetime_selects_the_layout_in_force_then(client: httpx.Client, auth: Callable) -> None:
    admin = auth("admin")
    assert _items(client, admin, "grids", datetime="1990-01-01T00:00:00Z")["numberMatched"] == 0
    assert _items(client, admin, "grids", datetime="2026-12-01T12:00:00+08:00")["numberMatched"] > 0
    problem(client.get("/ogc/collections/grids/items", headers=admin, params={"datetime": "2026-01-01/.."}), 400,
            "invalid_parameter")


def test_a_worker_sees_its_grids_cases_and_no_reporter(client: httpx.Client, login: Callable, grid_a: Grid,
                                                     grid_b: Grid, make_case: Callable, auth: Callable) -> None:
    mine, other = make_case(grid_a), make_case(grid_b)
    worker = login("worker", person_id=grid_a.worker_id)
    page = _items(client, worker, "cases", limit=1000)
    ids = {f["id"] for f in page["features"]}
    assert mine in ids and other not in ids
    assert {f["properties"]["grid_code"] for f in page["features"]} == {grid_a.code}
    api_total = client.get("/api/v1/cases", headers=worker, params={"limit": 1}).json()["total"]
    assert page["numberMatched"] == api_total
    problem(client.get(f"/ogc/collections/cases/items/{other}", headers=worker), 404, "not_found")
    assert "reporter_phone" not in page["features"][0]["properties"]
    full = client.get(f"/ogc/collections/cases/items/{mine}", headers=auth("dispatcher")).json()
    assert "reporter_phone" in full["properties"]
    queryables = client.get("/ogc/collections/cases/queryables", headers=worker).json()["properties"]
    assert "reporter_name" not in queryables and "status" in queryables
    problem(client.get("/ogc/collections/cases/items", headers=worker, params={"filter": "reporter_phone IS NULL"}),
            400, "invalid_filter")


def test_drafts_only_for_planners_and_intake_nowhere(client: httpx.Client, auth: Callable, db: Session) -> None:
    draft = db.execute(text("""INSERT INTO grid_layout (name, status) VALUES ('ogc draft', 'draft')
                               RETURNING id""")).scalar_one()
    planner = [c["id"] for c in client.get("/ogc/collections", headers=auth("planner")).json()["collections"]]
    commander = [c["id"] for c in client.get("/ogc/collections", headers=auth("dispatcher")).json()["collections"]]
    assert f"grids-layout-{draft}" in planner and f"grids-layout-{draft}" not in commander
    problem(client.get(f"/ogc/collections/grids-layout-{draft}/items", headers=auth("dispatcher")), 404, "not_found")
    problem(client.get("/ogc/collections/grids/items", headers=auth("intake")), 403, "forbidden")
    viewer = auth("viewer")  # the wall's kiosk: the map, never the cases
    assert "cases" not in [c["id"] for c in client.get("/ogc/collections", headers=viewer).json()["collections"]]
    assert client.get("/ogc/collections/grids/items", headers=viewer, params={"limit": 1}).status_code == 200
    problem(client.get("/ogc/collections/cases/items", headers=viewer), 403, "forbidden")
    problem(client.get("/ogc/collections"), 401, "unauthorized")


def test_a_setting_opens_chosen_collections(client: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client.app.state.settings, "ogc_public_collections", "streets,grids")
    assert client.get("/ogc/collections/streets/items").status_code == 200
    assert [c["id"] for c in client.get("/ogc/collections").json()["collections"]] == ["streets", "grids"]
    problem(client.get("/ogc/collections/cases/items"), 401, "unauthorized")
    problem(client.get("/ogc/collections/buildings"), 401, "unauthorized")


@pytest.mark.parametrize("code", [4326, 4490, 3857, 4548])
def test_crs_axis_order_against_pyproj(client: httpx.Client, auth: Callable, code: int) -> None:
    admin = auth("admin")
    base = _items(client, admin, "facilities", limit=1)
    lon, lat = base["features"][0]["geometry"]["coordinates"]
    resp = client.get("/ogc/collections/facilities/items", headers=admin, params={"limit": 1, "crs": f"{EPSG}{code}"})
    assert resp.headers["content-crs"] == f"<{EPSG}{code}>"
    got = resp.json()["features"][0]["geometry"]["coordinates"]
    # pyproj in the CRS's own axis order (always_xy=False): lat/lon for 4326 and 4490, northing first for 4548
    want = Transformer.from_crs("EPSG:4326", f"EPSG:{code}").transform(lat, lon)
    assert got == pytest.approx(list(want), abs=1e-6 if code in (4326, 4490) else 0.05)
    if code in (4326, 4490):
        assert got[0] == pytest.approx(lat) and got[1] == pytest.approx(lon)
    assert base["features"][0]["geometry"]["coordinates"][0] == pytest.approx(lon)


def test_an_unserved_crs_is_a_400(client: httpx.Client, auth: Callable) -> None:
    problem(client.get("/ogc/collections/streets/items", headers=auth("admin"), params={"crs": f"{EPSG}2000"}), 400,
            "invalid_parameter")


def test_cql2_text_and_json_match_the_api(client: httpx.Client, auth: Callable, db: Session) -> None:
    dispatcher = auth("dispatcher")
    community = db.execute(text("""SELECT left(grid_code, 12) FROM cases WHERE status NOT IN ('closed', 'rejected')
                                   AND deadline < now() GROUP BY 1 ORDER BY count(*) DESC LIMIT 1""")).scalar_one()
    api = client.get("/api/v1/cases", headers=dispatcher,
                     params={"overdue": "true", "area": community, "limit": 1}).json()["total"]
    cql_text = f"overdue = true AND community_code = '{community}'"
    cql_json = ('{"op": "and", "args": [{"op": "=", "args": [{"property": "overdue"}, true]}, '
                f'{{"op": "=", "args": [{{"property": "community_code"}}, "{community}"]}}]}}')
    for params in ({"filter": cql_text}, {"filter": cql_json, "filter-lang": "cql2-json"}):
        assert 0 < _items(client, dispatcher, "cases", limit=1, **params)["numberMatched"] == api


def test_cql2_operators_spatial_and_injection(client: httpx.Client, auth: Callable, db: Session) -> None:
    admin = auth("admin")
    box = "116.40,39.90,116.41,39.91"
    by_bbox = _items(client, admin, "buildings", bbox=box, limit=1)["numberMatched"]
    assert _items(client, admin, "buildings", filter=f"S_INTERSECTS(geometry, BBOX({box}))")["numberMatched"] == by_bbox
    assert _items(client, admin, "buildings", filter='{"op": "s_intersects", "args": [{"property": "geometry"}, '
                  f'{{"bbox": [{box}]}}]}}')["numberMatched"] == by_bbox
    want = db.execute(text("SELECT count(*) FROM building WHERE floors BETWEEN 5 AND 9 AND kind IN "
                           "('residential', 'school') AND address LIKE '%号楼'")).scalar_one()
    got = _items(client, admin, "buildings", filter="floors BETWEEN 5 AND 9 AND kind IN ('residential', 'school') "
                 "AND address LIKE '%号楼'")["numberMatched"]
    assert got == want > 0
    for hostile in ("code = '1); DROP TABLE building; --'",
                    '{"op": "=", "args": [{"property": "code"}, "x\' OR \'1\'=\'1"]}'):
        assert _items(client, admin, "buildings", filter=hostile)["numberMatched"] == 0
    assert db.execute(text("SELECT count(*) FROM building")).scalar_one() > 0
    for bad, code in (("nosuch = 1", "invalid_filter"), ("floors = 'three'", "invalid_filter"),
                      ("floors ==", "invalid_filter")):
        problem(client.get("/ogc/collections/buildings/items", headers=admin, params={"filter": bad}), 400, code)


def test_tiles_metadata_points_at_the_apis_own_tiles(client: httpx.Client, auth: Callable) -> None:
    import mapbox_vector_tile
    import morecantile

    admin = auth("admin")
    sets = client.get("/ogc/collections/grids/tiles", headers=admin).json()["tilesets"]
    assert sets[0]["tileMatrixSetURI"].endswith("/WebMercatorQuad")
    tileset = client.get("/ogc/collections/grids/tiles/WebMercatorQuad", headers=admin).json()
    template = next(lk["href"] for lk in tileset["links"] if lk["rel"] == "item")
    tile = morecantile.tms.get("WebMercatorQuad").tile(116.41, 39.92, 15)
    url = template.format(tileMatrix=tile.z, tileCol=tile.x, tileRow=tile.y).replace("http://testserver", "")
    got = client.get(url, headers=admin)
    assert got.status_code == 200 and got.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    layer = mapbox_vector_tile.decode(got.content)["grids"]
    assert len(layer["features"]) > 0
    assert set(layer["features"][0]["properties"]) == set(tileset["layers"][0]["propertiesSchema"]["properties"])
    tj = client.get("/ogc/collections/grids/tiles/WebMercatorQuad/tilejson.json", headers=admin).json()
    assert tj["tilejson"] == "3.0.0" and tj["vector_layers"][0]["id"] == "grids"
    xyz = tj["tiles"][0].format(z=tile.z, x=tile.x, y=tile.y).replace("http://testserver", "")
    assert client.get(xyz, headers=admin).content == got.content
    ogc_path = f"/ogc/collections/grids/tiles/WebMercatorQuad/{tile.z}/{tile.y}/{tile.x}"
    assert client.get(ogc_path, headers=admin).content == got.content
    assert client.get("/ogc/tileMatrixSets/WebMercatorQuad").json()["id"] == "WebMercatorQuad"
    problem(client.get("/ogc/collections/streets/tiles", headers=admin), 404, "not_found")


def test_inputs_found_by_probing_are_400s(client: httpx.Client, auth: Callable) -> None:
    admin = auth("admin")
    # PostGIS refused this box ("outside of projection domain", a 500); pyproj bounds it in degrees now
    huge = {"bbox": "-1e8,-1e8,1e8,1e8", "bbox-crs": f"{EPSG}4544", "limit": 1}
    assert client.get("/ogc/collections/buildings/items", headers=admin, params=huge).status_code == 200
    for params in ({"filter": "floors = 9999999999999999999999"},  # beyond bigint
                   {"filter": "S_INTERSECTS(geometry, POINT(1 2))", "filter-crs": f"{EPSG}3857"}):
        resp = client.get("/ogc/collections/buildings/items", headers=admin, params=params)
        assert resp.status_code == 400, (params, resp.text)
    # a Gauss-Krüger box (northing first) around the sample finds what the same box in degrees finds
    gk = Transformer.from_crs("EPSG:4326", "EPSG:4548")
    n0, e0 = gk.transform(39.90, 116.40)
    n1, e1 = gk.transform(39.91, 116.41)
    by_gk = _items(client, admin, "buildings", bbox=f"{n0},{e0},{n1},{e1}", **{"bbox-crs": f"{EPSG}4548"})
    by_deg = _items(client, admin, "buildings", bbox="116.40,39.90,116.41,39.91")
    assert abs(by_gk["numberMatched"] - by_deg["numberMatched"]) <= by_deg["numberMatched"] * 0.05
