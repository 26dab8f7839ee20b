"""/ogc Part 4 on draft layouts (issue 23): every write is an edit of the planner's log (undo works on it),
validation refuses what the planner page refuses, ETags catch a stale write, published layouts are read-only."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import shapely
from shapely.geometry import mapping, shape

from tests.api.conftest import problem
from tests.api.planner.conftest import Draft, published_id


def _url(d: Draft, code: str = "") -> str:
    return f"/ogc/collections/grids-layout-{d.id}/items" + (f"/{code}" if code else "")


def _first(d: Draft) -> dict:
    return d.client.get(_url(d), headers=d.headers, params={"limit": 1}).json()["features"][0]


def test_patch_with_etag_is_an_edit_that_undo_reverts(draft: Draft) -> None:
    feature = _first(draft)
    code, old_name = feature["id"], feature["properties"]["name"]
    read = draft.client.get(_url(draft, code), headers=draft.headers)
    etag, rev = read.headers["etag"], draft.revision
    resp = draft.client.patch(_url(draft, code), headers={**draft.headers, "If-Match": etag},
                              json={"type": "Feature", "properties": {"name": "QGIS 改名", "households": 321}})
    assert resp.status_code == 204, resp.text
    assert resp.headers["etag"] != etag and draft.revision == rev + 1
    after = draft.client.get(_url(draft, code), headers=draft.headers).json()["properties"]
    assert (after["name"], after["households"]) == ("QGIS 改名", 321)
    log = draft.client.get(f"/api/v1/layouts/{draft.id}/edits", headers=draft.headers).json()["items"][0]
    assert log["op"] == "update_attrs" and log["codes"] == [code]
    stale = draft.client.patch(_url(draft, code), headers={**draft.headers, "If-Match": etag},
                               json={"properties": {"name": "lost update"}})
    before = draft.checksum()
    problem(stale, 412, "precondition_failed")
    assert draft.checksum() == before
    assert draft.undo().status_code == 200
    assert draft.client.get(_url(draft, code), headers=draft.headers).json()["properties"]["name"] == old_name


def test_put_geometry_is_validated_like_the_planner_page(draft: Draft) -> None:
    feature = _first(draft)
    code = feature["id"]
    smaller = shape(feature["geometry"]).buffer(-0.00005)
    before = draft.checksum()
    far = shapely.affinity.translate(smaller, 0.5, 0.5)  # outside every community
    problem(draft.client.put(_url(draft, code), headers=draft.headers,
                             json={"type": "Feature", "geometry": mapping(far), "properties": {}}),
            422, "outside_community")
    assert draft.checksum() == before
    ok = draft.client.put(_url(draft, code), headers=draft.headers,
                          json={"type": "Feature", "geometry": mapping(smaller), "properties": feature["properties"]})
    assert ok.status_code == 204, ok.text
    assert draft.checksum() != before
    problem(draft.client.put(_url(draft, code), headers=draft.headers, json={"properties": {}}), 400,
            "invalid_parameter")
    problem(draft.client.patch(_url(draft, code), headers=draft.headers, json={"properties": {"colour": "red"}}),
            400, "invalid_parameter")


def test_delete_then_create_in_the_freed_space(draft: Draft) -> None:
    feature = _first(draft)
    code = feature["id"]
    assert draft.client.delete(_url(draft, code), headers=draft.headers).status_code == 204
    problem(draft.client.get(_url(draft, code), headers=draft.headers), 404, "not_found")
    created = draft.client.post(_url(draft), headers=draft.headers,
                                json={"type": "Feature", "geometry": feature["geometry"],
                                      "properties": {"name": "新网格", "population": 12}})
    assert created.status_code == 201, created.text
    got = draft.client.get(created.headers["location"].replace("http://testserver", ""), headers=draft.headers)
    assert got.status_code == 200 and got.json()["properties"]["name"] == "新网格"
    assert got.json()["properties"]["population"] == 12 and got.headers["etag"] == created.headers["etag"]


def test_published_layouts_are_read_only_and_writes_are_the_planners(draft: Draft, auth: Callable) -> None:
    published = published_id(draft.db)
    code = _first(draft)["id"]
    problem(draft.client.delete(f"/ogc/collections/grids-layout-{published}/items/{code}", headers=draft.headers),
            405, "read_only")
    problem(draft.client.delete(f"/ogc/collections/grids/items/{code}", headers=draft.headers), 405, "read_only")
    problem(draft.client.delete(_url(draft, code), headers=auth("dispatcher")), 403, "forbidden")


def test_conformance_declares_part4(client: httpx.Client) -> None:
    conf = client.get("/ogc/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete" in conf
