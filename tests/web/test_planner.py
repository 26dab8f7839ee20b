"""The planner workspace (issue 8) in real headless Chromium: a GeoJSON file of one community's grids is
imported through the page (with field mapping), a grid is split along a line drawn with the mouse through
Leaflet-Geoman, the validation follows the new revision, the impact against the layout in force is
previewed, the draft is published for tomorrow (a planner is refused while findings block; an admin
overrides with a recorded reason), and a point then routes to the new grid as of tomorrow. A bad file and
a bad edit are refused with a clear message and leave everything unchanged; the page speaks both
languages. Screenshots in tests/output/planner/.

The live server shares the test database with the rest of the suite, so every layout the tests make is
deleted afterwards and the layouts that were there get their status and dates back (``restore_layouts``).
Publishing is for tomorrow, so routing "now" never changes for other tests.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, mapping, shape
from shapely.ops import split
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

pytestmark = pytest.mark.browser
BEIJING = ZoneInfo("Asia/Shanghai")


# ---- fixtures ------------------------------------------------------------------------------------------

def _committed_key(engine: Engine, role: str) -> str:
    from api.auth.service import create_key

    with Session(engine) as s:
        _, raw = create_key(s, name=f"planner page {role}", role=role)
        s.commit()
    return raw


@pytest.fixture(scope="module")
def planner_key(engine: Engine) -> str:
    return _committed_key(engine, "planner")


@pytest.fixture(scope="module")
def admin_key(engine: Engine) -> str:
    return _committed_key(engine, "admin")


@pytest.fixture
def restore_layouts(engine: Engine) -> Iterator[None]:
    """Delete the layouts a test made and put the existing ones back as they were (status, dates)."""
    with engine.connect() as c:
        before = c.execute(text("SELECT id, status, effective_from, effective_to FROM grid_layout")).all()
    yield
    keep = [r.id for r in before]
    with engine.begin() as c:
        c.execute(text("DELETE FROM grid_layout WHERE NOT (id = ANY(:keep))"), {"keep": keep})
        for r in before:
            c.execute(text("""UPDATE grid_layout SET status = :status, effective_from = :f, effective_to = :t
                              WHERE id = :id AND (status, effective_from, effective_to)
                                    IS DISTINCT FROM (:status, :f, :t)"""),
                      {"id": r.id, "status": r.status, "f": r.effective_from, "t": r.effective_to})


@pytest.fixture(scope="module")
def community_grids(engine: Engine) -> dict:
    """The grids of one community of the layout in force, as GeoJSON features with non-default field names
    (``grid_code``, ``grid_name``: the page's field mapping must be used), and a grid that a north-south
    line through its middle cuts in exactly two."""
    with Session(engine) as s:
        rows = s.execute(text("""
            WITH cur AS (SELECT id FROM grid_layout WHERE status = 'published' AND effective_from <= now()
                          AND (effective_to IS NULL OR effective_to > now()) ORDER BY effective_from DESC LIMIT 1),
                 per AS (SELECT g.community_code, count(*) AS n FROM grid g JOIN cur ON g.layout_id = cur.id
                         GROUP BY 1 HAVING count(*) BETWEEN 3 AND 12 ORDER BY 2, 1 LIMIT 1)
            SELECT g.code, g.name, g.community_code, ST_AsGeoJSON(g.boundary, 7) AS geom
            FROM grid g JOIN cur ON g.layout_id = cur.id JOIN per USING (community_code) ORDER BY g.code""")).all()
    assert rows, "no community with 3..12 grids in the layout in force"
    with Session(engine) as s:
        community = shape(json.loads(s.execute(text("SELECT ST_AsGeoJSON(boundary) FROM community WHERE code = :c"),
                                               {"c": rows[0].community_code}).scalar_one()))
    by_code = {r.code: shape(json.loads(r.geom)) for r in rows}
    # two grids sharing the longest edge (merge), a vertex of the first off the community boundary (drag)
    pairs = sorted(((by_code[a].intersection(by_code[b]).length, a, b) for a in by_code for b in by_code if a < b),
                   reverse=True)
    _, a_code, b_code = pairs[0]
    a_shape, b_shape = by_code[a_code], by_code[b_code]
    ring = list(a_shape.geoms[0].exterior.coords if a_shape.geom_type == "MultiPolygon" else a_shape.exterior.coords)
    inner_vertex = next(v for v in ring[:-1] if community.boundary.distance(shapely.Point(v)) > 1e-4)
    with Session(engine) as s:
        bld = s.execute(text("""
            SELECT b.code, ST_X(ST_PointOnSurface(b.footprint)) AS x, ST_Y(ST_PointOnSurface(b.footprint)) AS y
            FROM building b WHERE ST_Within(b.footprint, ST_GeomFromText(:a, 4326))
            ORDER BY ST_Distance(b.footprint, ST_Boundary(ST_GeomFromText(:a, 4326))) DESC LIMIT 1"""),
            {"a": a_shape.wkt}).first()
    pair = {"a": a_code, "b": b_code, "a_pt": a_shape.representative_point().coords[0],
            "b_pt": b_shape.representative_point().coords[0], "a_bounds": a_shape.bounds,
            "b_draw": list(b_shape.buffer(2e-5, join_style="mitre").exterior.coords)[:-1],
            "community_bounds": community.bounds, "inner_vertex": inner_vertex,
            "building": (bld.code, bld.x, bld.y) if bld else None}
    features = [{"type": "Feature", "geometry": json.loads(r.geom),
                 "properties": {"grid_code": r.code, "grid_name": r.name, "note": "from the test"}} for r in rows]
    # A grid and a vertical line that cuts it in exactly two (largest grids first).
    shapes = sorted(((shape(f["geometry"]), f["properties"]["grid_code"]) for f in features),
                    key=lambda p: -p[0].area)
    for poly, code in shapes:
        minx, miny, maxx, maxy = poly.bounds
        for frac in (0.5, 0.4, 0.6, 0.3, 0.7):
            x = minx + frac * (maxx - minx)
            pad = (maxy - miny) * 0.15
            line = LineString([(x, maxy + pad), (x, miny - pad)])
            pieces = split(poly, line).geoms
            if len(pieces) == 2 and min(p.area for p in pieces) > poly.area * 0.2:
                east = max(pieces, key=lambda p: p.centroid.x)
                west = min(pieces, key=lambda p: p.centroid.x)
                # A point well inside the eastern part, and a short line wholly inside the grid (a bad split).
                east_pt = east.buffer(-(maxx - minx) * 0.05).representative_point() if not east.buffer(
                    -(maxx - minx) * 0.05).is_empty else east.representative_point()
                inner = poly.buffer(-(maxx - minx) * 0.1)
                c = inner.representative_point()
                short = LineString([(c.x - (maxx - minx) * 0.02, c.y), (c.x + (maxx - minx) * 0.02, c.y)])
                assert poly.contains(short)
                other = next(f for f in features if f["properties"]["grid_code"] != code)
                other_shape = shape(other["geometry"])
                return {"features": features, "code": code, "pair": pair,
                        "other": other["properties"]["grid_code"], "other_bounds": other_shape.bounds,
                        "other_pt": (other_shape.representative_point().x, other_shape.representative_point().y),
                        "line": list(line.coords), "east": (east_pt.x, east_pt.y),
                        "west": (west.representative_point().x, west.representative_point().y),
                        "short": list(short.coords), "community": rows[0].community_code,
                        "bounds": poly.bounds}
    pytest.fail("no grid of that community splits in two along a vertical line")


# ---- helpers -------------------------------------------------------------------------------------------

def _to_gcj02(coords):  # shapely.transform's (n, 2) array in and out
    from geo.crs import wgs84_to_gcj02

    lon, lat = wgs84_to_gcj02(coords[:, 0], coords[:, 1])
    return np.column_stack([lon, lat])


def _api(base: str, key: str, method: str, path: str, **kw) -> httpx.Response:
    return httpx.request(method, f"{base}/api/v1/{path}", headers={"Authorization": f"Bearer {key}"},
                         timeout=60, **kw)


def _layout_ids(base: str, key: str) -> set[int]:
    return {item["id"] for item in _api(base, key, "GET", "layouts").json()["items"]}


def _grids(base: str, key: str, layout: int) -> dict[str, dict]:
    """code -> geometry of a layout's grids, as the server has them."""
    fc = _api(base, key, "GET", f"layouts/{layout}/grids").json()
    return {f["properties"]["code"]: f["geometry"] for f in fc["features"]}


def _open(new_page, live_server: str, key: str, locale: str = "zh-CN", query: str = "", width: int = 1500,
          height: int = 950):
    page = new_page(locale=locale, width=width, height=height)
    page.console_lines = []
    page.on("console", lambda m: page.console_lines.append(f"{m.type}: {m.text}") if m.type in ("error", "warning")
            else None)
    page.goto(f"{live_server}/planner.html{query}#key={key}")
    try:
        page.wait_for_function("window.gridmap && window.gridmap.ready === true", timeout=60_000)
    except Exception as exc:  # say why: the page's errors are the useful part
        msg = page.evaluate("document.getElementById('pl-msg-text')?.textContent")
        raise AssertionError(f"planner page not ready: {msg!r} {page.errors} {page.console_lines}") from exc
    return page


def _px(page, lon: float, lat: float) -> tuple[float, float]:
    """Page coordinates of a WGS84 point on the map."""
    pt = page.evaluate("([lat, lon]) => { const m = window.gridmap.map; const p = m.latLngToContainerPoint([lat, lon]);"
                       " const r = m.getContainer().getBoundingClientRect(); return [r.left + p.x, r.top + p.y]; }",
                       [lat, lon])
    return pt[0], pt[1]


def _zoom_to(page, bounds: tuple[float, float, float, float]) -> None:
    minx, miny, maxx, maxy = bounds
    page.evaluate("(b) => new Promise((done) => { const m = window.gridmap.map; m.once('moveend', () => done());"
                  " m.fitBounds([[b[1], b[0]], [b[3], b[2]]], {padding: [90, 90], animate: false}); })",
                  [minx, miny, maxx, maxy])


def _write_geojson(tmp_path: Path, name: str, features: list[dict]) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False))
    return path


def _state(page) -> dict:
    return page.evaluate("({rev: window.gridmap.revision, n: window.gridmap.gridCount, saved: window.gridmap.saved,"
                         " failed: window.gridmap.failed, layout: window.gridmap.layoutId})")


def _draw_line(page, coords: list[tuple[float, float]]) -> None:
    """Draw a polyline with the mouse (Leaflet-Geoman's Line mode): click each vertex, double-click the last."""
    *head, last = coords
    for lon, lat in head:
        x, y = _px(page, lon, lat)
        page.mouse.click(x, y)
        page.wait_for_timeout(120)
    x, y = _px(page, *last)
    page.mouse.dblclick(x, y)


# ---- the whole workflow ------------------------------------------------------------------------------

def test_planner_import_split_validate_preview_publish_route(
        new_page, live_server: str, planner_key: str, admin_key: str, community_grids: dict,
        restore_layouts: None, tmp_path: Path, output_dir: Path) -> None:
    out = output_dir / "planner"
    out.mkdir(parents=True, exist_ok=True)
    cg = community_grids
    layouts_before = _layout_ids(live_server, planner_key)

    page = _open(new_page, live_server, planner_key)
    assert page.locator("#tab-layouts").inner_text() == "方案"

    # -- a bad file: refused in place, nothing created ----------------------------------------------
    bad = tmp_path / "broken.geojson"
    bad.write_text('{"type": "FeatureCollection", "features": [ {"type": "Feature", ')
    page.set_input_files("#import-file", str(bad))
    page.fill("#import-name", "坏文件")
    page.click("#import-submit")
    page.wait_for_selector("#import-error:not([hidden])")
    assert "import_failed" in page.inner_text("#import-error")
    assert _layout_ids(live_server, planner_key) == layouts_before
    page.screenshot(path=str(out / "bad_file.png"))

    # -- import one community's grids, in GCJ-02 (as Amap exports them), mapping the code and name fields ----
    good = _write_geojson(tmp_path, "community_gcj02.geojson", [
        {**f, "geometry": mapping(shapely.transform(shape(f["geometry"]), _to_gcj02))} for f in cg["features"]])
    page.set_input_files("#import-file", str(good))
    # the page reads the GeoJSON's fields and maps code and name to them
    page.wait_for_function("document.getElementById('import-code-field').value === 'grid_code'")
    assert page.input_value("#import-name-field") == "grid_name"
    assert "grid_code" in page.inner_text("#import-fields-hint")
    page.fill("#import-name", "测试导入方案")
    page.select_option("#import-crs", "gcj02")
    page.click("#import-submit")
    page.wait_for_function(f"window.gridmap.layoutId && !{sorted(layouts_before)}.includes(window.gridmap.layoutId)"
                           " && window.gridmap.status === 'draft'", timeout=60_000)
    draft = page.evaluate("window.gridmap.layoutId")
    assert page.evaluate("window.gridmap.gridCount") == len(cg["features"])
    assert "gcj02" in page.inner_text("#pl-msg-text")
    stored = _grids(live_server, planner_key, draft)
    for f in cg["features"]:  # back in WGS84 where they came from (to ~1 cm)
        assert shape(stored[f["properties"]["grid_code"]]).hausdorff_distance(shape(f["geometry"])) < 2e-7
    page.wait_for_function("window.gridmap.validation && window.gridmap.validation.revision === 0", timeout=60_000)
    assert page.locator("#pl-msg").get_attribute("data-kind") == "ok"
    page.screenshot(path=str(out / "imported.png"))

    # -- a bad edit: a line wholly inside the grid does not cut it -------------------------------------
    _zoom_to(page, cg["bounds"])
    x, y = _px(page, *cg["west"])
    page.mouse.click(x, y)  # select the grid
    page.wait_for_function(f"document.getElementById('attr-code-now').textContent === '{cg['code']}'")
    page.uncheck("#snap")
    page.click(".pl-tool[data-mode='split']")
    before = _state(page)
    _draw_line(page, cg["short"])
    page.wait_for_function(f"window.gridmap.failed > {before['failed']}", timeout=30_000)
    assert page.locator("#pl-msg").get_attribute("data-kind") == "error"
    msg = page.inner_text("#pl-msg-text")
    assert "split_failed" in msg and "草稿未改动" in msg
    after = _state(page)
    assert (after["rev"], after["n"]) == (before["rev"], before["n"])
    server = _api(live_server, planner_key, "GET", f"layouts/{draft}/grids").json()
    assert server["revision"] == before["rev"] and len(server["features"]) == before["n"]
    page.screenshot(path=str(out / "bad_edit.png"))

    # -- split the grid along a line drawn with the mouse --------------------------------------------------
    page.click(".pl-tool[data-mode='select']")
    page.mouse.click(*_px(page, *cg["west"]))
    page.wait_for_function(f"document.getElementById('attr-code-now').textContent === '{cg['code']}'")
    page.click(".pl-tool[data-mode='split']")
    _draw_line(page, cg["line"])
    page.wait_for_function(f"window.gridmap.revision === {before['rev'] + 1}", timeout=30_000)
    assert page.evaluate("window.gridmap.gridCount") == before["n"] + 1
    assert page.locator("#pl-msg").get_attribute("data-kind") == "ok"
    # the validation follows the new revision
    page.wait_for_function(f"window.gridmap.validation && window.gridmap.validation.revision === {before['rev'] + 1}",
                           timeout=60_000)
    page.click("#tab-validation")
    assert f"{before['rev'] + 1}" in page.inner_text("#val-verdict")
    grids = _api(live_server, planner_key, "GET", f"layouts/{draft}/grids").json()
    codes = {f["properties"]["code"] for f in grids["features"]}
    new_codes = codes - {f["properties"]["grid_code"] for f in cg["features"]}
    assert len(new_codes) == 1, new_codes
    new_code = new_codes.pop()
    east = shapely.Point(cg["east"])
    holder = [f["properties"]["code"] for f in grids["features"] if shape(f["geometry"]).contains(east)]
    assert holder == [new_code], "the eastern part of a north-south split gets the new code"
    page.screenshot(path=str(out / "split_validation.png"))

    # -- delete another grid: its area becomes a gap, and the validation blocks ---------------------------
    _zoom_to(page, cg["other_bounds"])
    page.click("#tab-edit")
    page.mouse.click(*_px(page, *cg["other_pt"]))
    page.wait_for_function(f"document.getElementById('attr-code-now').textContent === '{cg['other']}'")
    page.click("#attr-delete")
    assert page.inner_text("#attr-delete") == "确认删除此网格？"  # two steps, no accidental delete
    page.click("#attr-delete")
    page.wait_for_function(f"window.gridmap.revision === {before['rev'] + 2}", timeout=30_000)
    page.wait_for_function(f"window.gridmap.validation && window.gridmap.validation.revision === {before['rev'] + 2}",
                           timeout=60_000)
    assert page.evaluate("window.gridmap.validation.blocking") is True
    assert page.evaluate("window.gridmap.validation.blocking_counts.gap") >= 1
    page.click("#tab-validation")
    assert "阻断" in page.inner_text("#val-verdict")
    page.click(".pl-finding-item[data-kind='gap']")  # zooms to it
    page.screenshot(path=str(out / "gap_blocking.png"))

    # -- the impact against the layout in force ------------------------------------------------------
    page.click("#tab-impact")
    page.click("#impact-run")
    page.wait_for_function("window.gridmap.impact !== null", timeout=60_000)
    assert page.locator(f"#impact-rows tr[data-code='{new_code}']").count() == 1
    assert "新增" in page.inner_text(f"#impact-rows tr[data-code='{new_code}']")
    assert int(page.inner_text("#impact-summary [data-k='buildings'] dd").replace(",", "")) > 0
    page.screenshot(path=str(out / "impact.png"))

    # -- publish for tomorrow: a planner is refused while findings block -----------------------------------
    tomorrow = (datetime.now(BEIJING) + timedelta(days=1)).date().isoformat()
    page.click("#btn-publish")
    assert page.input_value("#publish-date") == tomorrow
    assert page.get_attribute("#publish-date", "min") == datetime.now(BEIJING).date().isoformat()
    assert page.locator("#publish-override").is_hidden()  # a planner cannot override
    # the split's new grid has nobody on duty: listed in the dialog before anything is sent
    assert page.locator("#publish-unstaffed").is_visible()
    assert page.locator(f"#publish-unstaffed-list li[data-code='{new_code}']").count() == 1
    page.click("#publish-submit")
    page.wait_for_selector("#publish-refusal:not([hidden])")
    assert "阻断" in page.inner_text("#publish-refusal") and "空白区域" in page.inner_text("#publish-refusal")
    assert page.evaluate("window.gridmap.lastError.code") == "blocking_findings"
    page.screenshot(path=str(out / "publish_refused.png"))
    assert _api(live_server, planner_key, "GET", f"layouts/{draft}").json()["status"] == "draft"
    page.click("#publish-cancel")

    # -- an admin overrides with a recorded reason --------------------------------------------------------
    page.click("#signin-open")  # the shared chrome's "switch user": the admin signs in with a password
    page.fill("#signin-username", "demo-admin")
    page.fill("#signin-password", "demo-admin-2026")
    page.click("#signin-form button[type=submit]")
    page.wait_for_function(f"window.gridmap.loads === 2 && window.gridmap.layoutId === {draft}", timeout=60_000)
    page.wait_for_function("!document.getElementById('btn-publish').hidden")
    page.click("#btn-publish")
    assert page.locator("#publish-override").is_visible()
    page.fill("#publish-reason", "测试：越权发布")
    page.uncheck("#publish-accept-unstaffed")
    page.click("#publish-submit")
    # refused again: nobody is on duty in the new grid and it was not accepted
    page.wait_for_function("window.gridmap.lastError && window.gridmap.lastError.code === 'unstaffed_grids'",
                           timeout=60_000)
    assert "无在岗人员" in page.inner_text("#publish-refusal")
    assert _api(live_server, planner_key, "GET", f"layouts/{draft}").json()["status"] == "draft"
    page.check("#publish-accept-unstaffed")
    page.click("#publish-submit")  # ticked, but no reason: refused in the page, nothing sent
    assert "理由" in page.inner_text("#publish-refusal")
    page.fill("#publish-unstaffed-reason", "新网格员下周到岗，期间由原网格代管")
    page.click("#publish-submit")
    page.wait_for_function("window.gridmap.status === 'published'", timeout=60_000)
    page.screenshot(path=str(out / "published.png"))
    published = _api(live_server, planner_key, "GET", f"layouts/{draft}").json()
    assert published["status"] == "published"
    starts = datetime.fromisoformat(published["effective_from"].replace("Z", "+00:00")).astimezone(BEIJING)
    assert (starts.date().isoformat(), starts.hour, starts.minute) == (tomorrow, 0, 0)  # Beijing midnight
    record = _api(live_server, admin_key, "GET", f"layouts/{draft}/publishes")
    assert record.status_code == 200, record.text
    assert [p["override_reason"] for p in record.json()["items"]] == ["测试：越权发布"]
    assert [g["code"] for g in record.json()["items"][0]["unstaffed"]] == [new_code]
    assert record.json()["items"][0]["unstaffed_reason"] == "新网格员下周到岗，期间由原网格代管"

    # -- route a point: the new grid as of tomorrow, the old one today ----------------------------------------
    at = f"{tomorrow}T12:00:00"
    lon, lat = cg["east"]
    r = _api(live_server, planner_key, "GET", "locate", params={"lon": lon, "lat": lat, "at": at}).json()
    assert r["grid"]["code"] == new_code and r["layout"]["id"] == draft
    now = _api(live_server, planner_key, "GET", "locate", params={"lon": lon, "lat": lat}).json()
    assert now["grid"]["code"] == cg["code"] and now["layout"]["id"] != draft
    # and through the page's history panel
    page.click("#tab-history")
    page.fill("#route-lon", f"{lon:.7f}")
    page.fill("#route-lat", f"{lat:.7f}")
    page.fill("#route-at", tomorrow)
    page.click("#route-form button[type=submit]")
    page.wait_for_function(f"window.gridmap.route && window.gridmap.route.code === '{new_code}'", timeout=30_000)
    assert new_code in page.inner_text("#route-out")
    page.screenshot(path=str(out / "route.png"))

    # -- withdraw the scheduled publish before its moment: a draft again, routing as it was -------------
    assert page.locator("#btn-cancel-publish").is_visible() and page.locator("#btn-publish").is_hidden()
    page.click("#btn-cancel-publish")
    page.fill("#cancel-reason", "测试：推迟发布")
    page.click("#cancel-submit")
    page.wait_for_function("window.gridmap.status === 'draft'", timeout=60_000)
    assert page.locator("#btn-cancel-publish").is_hidden() and page.locator("#btn-publish").is_visible()
    assert _api(live_server, planner_key, "GET", f"layouts/{draft}").json()["status"] == "draft"
    r = _api(live_server, planner_key, "GET", "locate", params={"lon": lon, "lat": lat, "at": at}).json()
    assert r["layout"]["id"] != draft and r["grid"]["code"] == cg["code"]
    items = _api(live_server, admin_key, "GET", f"layouts/{draft}/publishes").json()["items"]
    assert items[0]["cancelled_at"] and items[0]["cancel_reason"] == "测试：推迟发布"
    assert page.errors == []


def test_planner_copy_edit_undo_conflict_and_language(
        new_page, live_server: str, planner_key: str, community_grids: dict, restore_layouts: None,
        output_dir: Path) -> None:
    out = output_dir / "planner"
    out.mkdir(parents=True, exist_ok=True)
    cg = community_grids
    page = _open(new_page, live_server, planner_key, locale="en-GB")
    # English from the browser's language; the switch goes both ways
    assert page.locator("#tab-layouts").inner_text() == "Layouts"
    assert "Grid planning" in page.title()
    page.click(".lang-switch__btn[data-lang='zh-CN']")
    page.wait_for_function("window.gridmap.lang === 'zh-CN'")
    assert page.locator("#tab-layouts").inner_text() == "方案"
    assert "网格规划" in page.title()
    page.click(".lang-switch__btn[data-lang='en']")
    page.wait_for_function("window.gridmap.lang === 'en'")

    # a draft copied from the layout in force
    page.fill("#copy-name", "copy for the page test")
    page.click("#copy-submit")
    page.wait_for_function("window.gridmap.status === 'draft'", timeout=60_000)
    draft = page.evaluate("window.gridmap.layoutId")
    n0 = page.evaluate("window.gridmap.gridCount")
    assert n0 == _api(live_server, planner_key, "GET", f"layouts/{draft}").json()["grid_count"]

    # rename a grid through the attribute form
    _zoom_to(page, cg["bounds"])
    page.mouse.click(*_px(page, *cg["west"]))
    page.wait_for_function(f"document.getElementById('attr-code-now').textContent === '{cg['code']}'")
    page.fill("#attr-name", "改名后的网格")
    page.click("#attr-save")
    page.wait_for_function("window.gridmap.revision === 1", timeout=30_000)
    got = _api(live_server, planner_key, "GET", f"layouts/{draft}/grids").json()
    assert {f["properties"]["code"]: f["properties"]["name"] for f in got["features"]}[cg["code"]] == "改名后的网格"

    # a bad attribute edit (a code outside the community) is refused in place; nothing changes
    page.fill("#attr-code", "999999999999001")
    page.click("#attr-save")
    page.wait_for_selector("#attr-error:not([hidden])")
    assert "bad_code" in page.inner_text("#attr-error") or "duplicate_code" in page.inner_text("#attr-error")
    assert page.evaluate("window.gridmap.revision") == 1

    # undo puts the old name back (a new revision)
    page.click("#btn-undo")
    page.wait_for_function("window.gridmap.revision === 2", timeout=30_000)
    got = _api(live_server, planner_key, "GET", f"layouts/{draft}/grids").json()
    assert {f["properties"]["code"]: f["properties"]["name"] for f in got["features"]}[cg["code"]] != "改名后的网格"

    # someone else edits the draft meanwhile: the page says so and reloads
    other = _api(live_server, planner_key, "POST", f"layouts/{draft}/edits",
                 json={"base_revision": 2, "op": "update_attrs", "code": cg["code"], "name_en": "Edited elsewhere"})
    assert other.status_code == 200, other.text
    page.fill("#attr-name", "另一个名字")
    page.fill("#attr-code", cg["code"])
    page.click("#attr-save")
    page.wait_for_selector("#pl-msg-reload:not([hidden])")
    assert "Someone else changed this draft" in page.inner_text("#pl-msg-text")
    page.wait_for_function("window.gridmap.revision === 3", timeout=30_000)
    page.screenshot(path=str(out / "conflict_en.png"))

    # merge two neighbouring grids: select one, the merge tool, click the other
    pair = cg["pair"]
    page.click("#pl-msg-close")
    _zoom_to(page, cg["pair"]["community_bounds"])
    page.click(".pl-tool[data-mode='select']")
    page.mouse.click(*_px(page, *pair["a_pt"]))
    page.wait_for_function(f"document.getElementById('attr-code-now').textContent === '{pair['a']}'")
    page.click(".pl-tool[data-mode='merge']")
    page.mouse.click(*_px(page, *pair["b_pt"]))
    page.wait_for_function("window.gridmap.revision === 4", timeout=30_000)
    assert page.evaluate("window.gridmap.gridCount") == n0 - 1
    codes = set(_grids(live_server, planner_key, draft))
    assert pair["a"] in codes and pair["b"] not in codes
    # Ctrl+Z undoes it
    page.locator("#map").focus()
    page.keyboard.press("Control+z")
    page.wait_for_function("window.gridmap.revision === 5", timeout=30_000)
    assert page.evaluate("window.gridmap.gridCount") == n0

    # delete a grid, then draw a new one over the gap: it takes the free space
    # (the copied sample layout has planted gaps of its own: count the gaps before and after)
    gaps_before = page.evaluate("window.gridmap.validation.counts.gap || 0")
    _zoom_to(page, cg["pair"]["community_bounds"])
    page.click(".pl-tool[data-mode='select']")
    page.mouse.click(*_px(page, *pair["b_pt"]))
    page.wait_for_function(f"document.getElementById('attr-code-now').textContent === '{pair['b']}'")
    page.click("#attr-delete")
    page.click("#attr-delete")
    page.wait_for_function("window.gridmap.revision === 6", timeout=30_000)
    page.wait_for_function("window.gridmap.validation && window.gridmap.validation.revision === 6", timeout=60_000)
    assert page.evaluate("window.gridmap.validation.counts.gap") == gaps_before + 1
    without_b = set(_grids(live_server, planner_key, draft))
    # drawn ~2 m over the hole, no snapping: the server keeps exactly the free space
    page.uncheck("#snap")
    page.click(".pl-tool[data-mode='draw']")
    pts = pair["b_draw"]
    for lon, lat in pts:
        page.mouse.click(*_px(page, lon, lat))
        page.wait_for_timeout(100)
    page.mouse.click(*_px(page, *pts[0]))  # back on the first vertex closes the polygon
    page.wait_for_function("window.gridmap.revision === 7", timeout=30_000)
    assert page.evaluate("window.gridmap.gridCount") == n0
    added = set(_grids(live_server, planner_key, draft)) - without_b
    assert len(added) == 1  # a new grid in the deleted one's place
    drawn = added.pop()
    page.wait_for_function("window.gridmap.validation && window.gridmap.validation.revision === 7", timeout=60_000)
    page.screenshot(path=str(out / "drawn_en.png"))
    assert page.evaluate("window.gridmap.validation.counts.gap || 0") == gaps_before, "the drawn grid fills the gap"

    # move a vertex (Leaflet-Geoman's vertex marker dragged with the mouse): saved as update_geometry
    page.wait_for_function("window.gridmap.validation && window.gridmap.validation.revision === 7", timeout=60_000)
    base = page.evaluate("window.gridmap.validation.counts")
    base_gaps_overlaps = base.get("gap", 0) + base.get("overlap", 0)
    page.click(".pl-tool[data-mode='select']")
    page.mouse.click(*_px(page, *pair["a_pt"]))
    page.wait_for_function(f"document.getElementById('attr-code-now').textContent === '{pair['a']}'")
    page.check("#snap")
    page.click(".pl-tool[data-mode='vertices']")
    page.wait_for_selector(".leaflet-marker-pane .marker-icon:not(.marker-icon-middle)")
    before_geom = _grids(live_server, planner_key, draft)[pair["a"]]
    x, y = _px(page, *pair["inner_vertex"])
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 10, y + 6, steps=4)
    page.mouse.move(x + 22, y + 12, steps=4)
    page.mouse.up()
    page.wait_for_function("window.gridmap.revision === 8", timeout=30_000)
    after_geom = _grids(live_server, planner_key, draft)[pair["a"]]
    assert after_geom != before_geom
    page.wait_for_function("window.gridmap.validation && window.gridmap.validation.revision === 8", timeout=60_000)
    counts = page.evaluate("window.gridmap.validation.counts")
    assert counts.get("gap", 0) + counts.get("overlap", 0) > base_gaps_overlaps, counts  # the neighbour stayed
    page.screenshot(path=str(out / "vertex_moved_en.png"))
    page.keyboard.press("Escape")

    # reassigning a building to a grid it does not touch is refused, nothing changes
    if pair["building"]:
        bcode, bx, by = pair["building"]
        _zoom_to(page, pair["a_bounds"])
        page.evaluate("(c) => window.gridmap.map.setView(c, Math.max(window.gridmap.map.getZoom(), 16.5),"
                      " {animate: false})", [by, bx])
        page.click(".pl-tool[data-mode='building']")
        page.wait_for_function("window.gridmap.buildings > 0", timeout=30_000)
        page.mouse.click(*_px(page, bx, by))
        page.wait_for_function(f"document.getElementById('building-code').textContent === '{bcode}'")
        page.select_option("#building-grid", drawn)
        page.click("#building-assign")
        page.wait_for_function("window.gridmap.lastError && window.gridmap.lastError.code === 'edit_failed'",
                               timeout=30_000)
        assert "does not touch" in page.inner_text("#pl-msg-text")
        assert page.evaluate("window.gridmap.revision") == 8
        page.screenshot(path=str(out / "building_refused_en.png"))
        page.click(".pl-tool[data-mode='select']")

    # the history lists the edits, and compares the draft (B) with the layout in force (A)
    page.click("#tab-history")
    page.wait_for_function("window.gridmap.edits >= 8", timeout=30_000)
    assert page.locator("#edits li").count() >= 8
    assert page.input_value("#compare-b") == str(draft)
    page.click("#compare-form button[type=submit]")
    page.wait_for_function("window.gridmap.compare !== null", timeout=60_000)
    summary = page.evaluate("window.gridmap.compare")
    assert summary["changed"] >= 1, summary  # the grid whose vertex moved
    assert summary["same"] + summary["changed"] + summary["added"] == n0
    assert pair["a"] in page.inner_text("#compare-out")
    page.screenshot(path=str(out / "compare_en.png"))
    assert page.errors == []


def test_planner_known_findings_unstaffed_picker_and_cancel_in_both_languages(
        new_page, live_server: str, planner_key: str, community_grids: dict, restore_layouts: None,
        output_dir: Path, engine: Engine) -> None:
    """At 1600×900: a copy of the layout in force shows its inherited defects as known (not blocking); a split
    keeps the buildings it crosses whole; the publish dialog lists the new grid with nobody on duty; the staff
    picker finds a worker by name and staffs it, so the publish goes through; the scheduled publish is then
    cancelled. Screenshots in Chinese and English."""
    out = output_dir / "planner"
    out.mkdir(parents=True, exist_ok=True)
    cg = community_grids
    copy = _api(live_server, planner_key, "POST", "layouts", json={"name": "安全发布测试", "copy_of": None}).json()
    draft = copy["id"]
    split = _api(live_server, planner_key, "POST", f"layouts/{draft}/edits", json={
        "base_revision": 0, "op": "split", "code": cg["code"],
        "line": {"type": "LineString", "coordinates": cg["line"]}})
    assert split.status_code == 200, split.text
    new_code = split.json()["edit"]["params"]["new_code"]
    for lang, locale in (("en", "en-GB"), ("zh", "zh-CN")):
        page = _open(new_page, live_server, planner_key, locale=locale, query=f"?layout={draft}", width=1600,
                     height=900)
        page.wait_for_function("window.gridmap.validation && window.gridmap.validation.revision === 1",
                               timeout=90_000)
        v = page.evaluate("window.gridmap.validation")
        assert v["blocking"] is False and v["known_counts"] == {"gap": 1, "overlap": 1, "building_split": 1}
        assert v["unstaffed"] == [new_code]
        page.click("#tab-validation")
        assert page.locator("#val-known").is_visible() and page.locator("#val-unstaffed").is_visible()
        assert page.locator(".pl-finding-item--known").count() == 3
        assert page.locator(".pl-finding-item--blocking").count() == 0
        page.screenshot(path=str(out / f"known_findings_{lang}.png"))
        page.click("#btn-publish")
        assert page.locator(f"#publish-unstaffed-list li[data-code='{new_code}']").count() == 1
        page.screenshot(path=str(out / f"publish_unstaffed_{lang}.png"))
        page.click("#publish-cancel")
        if lang == "zh":
            # staff the new grid by name through the people picker
            name = _api(live_server, planner_key, "GET", "people",
                        params={"role": "grid_worker", "limit": 1}).json()["items"][0]["name"]
            page.click("#tab-edit")
            _zoom_to(page, cg["bounds"])
            with engine.connect() as c:  # a point of the new grid clear of buildings (they take the clicks)
                px, py = c.execute(text("""
                    SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(ST_Difference(g.boundary, coalesce(
                        (SELECT ST_Union(ST_Buffer(b.footprint, 0.0002)) FROM building b
                          WHERE b.footprint && g.boundary), 'POLYGON EMPTY'::geometry))) AS p
                    FROM grid g WHERE g.layout_id = :l AND g.code = :c) t"""), {"l": draft, "c": new_code}).one()
            page.mouse.click(*_px(page, px, py))
            page.wait_for_function(f"document.getElementById('attr-code-now').textContent === '{new_code}'")
            assert page.locator("#attr-staff .pp__none").is_visible()
            page.fill("#attr-staff .pp__input", name)
            page.wait_for_selector("#attr-staff .pp__option")
            assert name in page.inner_text("#attr-staff .pp__list")
            page.screenshot(path=str(out / "people_picker_zh.png"))
            page.keyboard.press("Enter")
            assert page.locator("#attr-staff .pp__chip").count() == 1
            page.click("#attr-save")
            page.wait_for_function("window.gridmap.revision === 2", timeout=30_000)
            staff = [s["name"] for s in _grids_props(live_server, planner_key, draft)[new_code]["staff"]]
            assert staff == [name]
            page.wait_for_function("window.gridmap.validation && window.gridmap.validation.revision === 2",
                                   timeout=90_000)
            assert page.evaluate("window.gridmap.validation.unstaffed") == []
            page.click("#btn-publish")
            assert page.locator("#publish-unstaffed").is_hidden()
            page.click("#publish-submit")
            page.wait_for_function("window.gridmap.status === 'published'", timeout=60_000)
            assert page.locator("#btn-cancel-publish").is_visible()
            page.click("#btn-cancel-publish")
            page.screenshot(path=str(out / "cancel_publish_zh.png"))
            page.click("#cancel-submit")
            page.wait_for_function("window.gridmap.status === 'draft'", timeout=60_000)
            assert page.locator("#pl-msg").get_attribute("data-kind") == "ok"
            page.screenshot(path=str(out / "cancelled_zh.png"))
        assert page.errors == []


def _grids_props(base: str, key: str, layout: int) -> dict[str, dict]:
    fc = _api(base, key, "GET", f"layouts/{layout}/grids").json()
    return {f["properties"]["code"]: f["properties"] for f in fc["features"]}
