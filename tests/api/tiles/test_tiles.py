"""Vector tiles of grids and buildings: decodable, clipped to the tile, cached and invalidated on change."""

from __future__ import annotations

import mapbox_vector_tile
import morecantile
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.api.test_read_api import assert_problem

TMS = morecantile.tms.get("WebMercatorQuad")


def busy_tile(db: Session, z: int) -> morecantile.Tile:
    lon, lat = db.execute(text("SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(ST_Collect(boundary)) c "
                               "FROM grid) t")).one()
    return TMS.tile(lon, lat, z)


def test_grid_tile_decodes_with_the_grids_under_it(client, auth, db: Session) -> None:
    t = busy_tile(db, 14)
    resp = client.get(f"/api/v1/tiles/grids/{t.z}/{t.x}/{t.y}.mvt", headers=auth())
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    layer = mapbox_vector_tile.decode(resp.content)["grids"]
    assert layer["extent"] == 4096
    codes = {f["properties"]["code"] for f in layer["features"]}
    b = TMS.bounds(t)
    expected = set(db.execute(text("""
        SELECT g.code FROM grid g JOIN grid_layout l ON l.id = g.layout_id AND l.status = 'published'
        WHERE ST_Intersects(g.boundary, ST_MakeEnvelope(:w, :s, :e, :n, 4326))"""),
        {"w": b.left, "s": b.bottom, "e": b.right, "n": b.top}).scalars())
    assert expected and expected <= codes
    f = layer["features"][0]
    assert {"code", "name", "households"} <= set(f["properties"])
    assert f["geometry"]["type"] in ("Polygon", "MultiPolygon")

    # the same tile again comes from the cache with the same ETag, and a revalidation is a 304
    again = client.get(f"/api/v1/tiles/grids/{t.z}/{t.x}/{t.y}.mvt", headers=auth())
    assert again.content == resp.content and again.headers["etag"] == resp.headers["etag"]
    cached = client.get(f"/api/v1/tiles/grids/{t.z}/{t.x}/{t.y}.mvt",
                        headers={**auth(), "If-None-Match": resp.headers["etag"]})
    assert cached.status_code == 304


def test_building_tiles_only_at_close_zoom(client, auth, db: Session) -> None:
    h = auth()
    far = busy_tile(db, 12)
    assert client.get(f"/api/v1/tiles/buildings/{far.z}/{far.x}/{far.y}.mvt", headers=h).content == b""
    near = busy_tile(db, 16)
    body = client.get(f"/api/v1/tiles/buildings/{near.z}/{near.x}/{near.y}.mvt", headers=h).content
    feats = mapbox_vector_tile.decode(body)["buildings"]["features"]
    assert feats and {"code", "floors", "households"} <= set(feats[0]["properties"])


def test_the_cache_is_dropped_when_the_layout_changes(client, auth, db: Session) -> None:
    cache = client.app.state.tile_cache
    t = busy_tile(db, 15)
    url = f"/api/v1/tiles/grids/{t.z}/{t.x}/{t.y}.mvt"
    client.get(url, headers=auth())
    hits = cache.hits
    client.get(url, headers=auth())
    assert cache.hits == hits + 1
    cache.on_layout_notice("*")  # what the listener does on NOTIFY gridmap_layout
    misses = cache.misses
    client.get(url, headers=auth())
    assert cache.misses == misses + 1


def test_bad_tiles_are_problems(client, auth) -> None:
    h = auth()
    assert_problem(client.get("/api/v1/tiles/roads/14/1/1.mvt", headers=h), 404, "not_found")
    assert_problem(client.get("/api/v1/tiles/grids/3/8/1.mvt", headers=h), 422, "invalid_parameter")
    assert_problem(client.get("/api/v1/tiles/grids/30/1/1.mvt", headers=h), 422, "invalid_parameter")
    assert_problem(client.get("/api/v1/tiles/grids/x/1/1.mvt", headers=h), 422, "validation_error")
    assert_problem(client.get("/api/v1/tiles/grids/14/1/1.mvt"), 401, "unauthorized")
