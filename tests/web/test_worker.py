"""The grid worker's phone screen in real headless Chromium at 390×844: log in, my cases nearest first, a case on a
small map with navigation and call buttons, accept, photograph (tests/data/manhole_after.jpg through the camera
input, uploaded to /api/v1/media), resolve (refused without the after photo its category asks for), and a patrol
report (GPS, photo, category, description); Chinese and English; screenshots in tests/output/."""

from __future__ import annotations

import hashlib
import math
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}
PASSWORD = "worker screen password"
PHOTO = Path(__file__).resolve().parents[1] / "data" / "manhole_after.jpg"  # a real JPEG: EXIF orientation 6 + GPS


@pytest.fixture(scope="module")
def worker_world(engine: Engine) -> dict:
    """A committed worker user and two open cases of its grid (the live server is another process)."""
    from api.users.schemas import UserCreate
    from api.users.service import create_user

    with Session(engine) as s:
        g = s.execute(text("""
            SELECT g.code, g.name, g.name_en, g.layout_id, ST_X(ST_PointOnSurface(g.boundary)) AS lon,
                   ST_Y(ST_PointOnSurface(g.boundary)) AS lat, p.id AS worker, p.name AS person
            FROM grid g JOIN grid_layout l ON l.id = g.layout_id
            JOIN person p ON p.grid_code = g.code AND p.role = 'grid_worker' AND p.on_duty AND p.active
            WHERE l.status = 'published' AND l.effective_to IS NULL ORDER BY g.code DESC LIMIT 1""")).one()
        name = f"worker{datetime.now(UTC):%H%M%S%f}"
        create_user(s, body=UserCreate(username=name, password=PASSWORD, role="worker", person_id=g.worker))
        ids = []
        for metres, desc, hours, cat in ((300, "人行道护栏损坏（较远）", -30, "C01001"),
                                         (12, "路边私搭彩钢棚，占用人行道", 5, "E01001")):
            lon = g.lon + metres / (111_320 * math.cos(math.radians(g.lat)))
            at = datetime.now(UTC) - timedelta(hours=48 + hours)
            rid = s.execute(text("""INSERT INTO report (source, category_code, description, reported_at, location,
                                                        address_text, reporter_name, reporter_phone)
                                    VALUES ('patrol', :c, :d, :at, ST_SetSRID(ST_MakePoint(:x, :y), 4326),
                                            '东城区示例路 8 号', '王女士', '13912345678') RETURNING id"""),
                            {"c": cat, "d": desc, "at": at, "x": lon, "y": g.lat}).scalar_one()
            cid = s.execute(text("""INSERT INTO cases (report_id, layout_id, grid_code, category_code, status,
                                                       assignee_id, deadline)
                                    VALUES (:r, :l, :g, :c, 'dispatched', :w, :dl) RETURNING id"""),
                            {"r": rid, "l": g.layout_id, "g": g.code, "c": cat, "w": g.worker,
                             "dl": at + timedelta(hours=48)}).scalar_one()
            s.execute(text("INSERT INTO case_event (case_id, actor, from_status, to_status) "
                           "VALUES (:c, 'test', NULL, 'dispatched')"), {"c": cid})
            ids.append(cid)
        s.commit()
    return {"username": name, "person": g.person, "lon": g.lon, "lat": g.lat, "far": ids[0], "near": ids[1],
            "grid": g.code, "grid_name": {"zh": g.name, "en": g.name_en}}


def _login(page, base: str, world: dict) -> None:
    page.set_default_timeout(45_000)  # a loaded 2-core CI box is slow to draw the first list
    page.context.grant_permissions(["geolocation"], origin=base)
    page.context.set_geolocation({"latitude": world["lat"], "longitude": world["lon"]})
    page.goto(f"{base}/worker.html")
    _sign_in(page, world["username"], PASSWORD)
    page.wait_for_selector(f'[data-case-id="{world["far"]}"]')


def _sign_in(page, username: str, password: str) -> None:
    """The shared sign-in dialog (web/js/signin.js), as on every page."""
    page.wait_for_selector("#signin[open]")
    page.fill("#signin-username", username)
    page.fill("#signin-password", password)
    page.click("#signin-submit")


def test_worker_accepts_and_resolves_a_case_on_a_phone(live_server: str, new_page, output_dir, worker_world,
                                                       engine: Engine) -> None:
    page = new_page(locale="zh-CN", **PHONE)
    page.goto(f"{live_server}/worker.html")
    _sign_in(page, worker_world["username"], "wrong password!")
    page.wait_for_selector("#signin-error:visible")
    assert "密码" in page.inner_text("#signin-error")
    box = page.locator("#signin").bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], "the dialog fits the phone"
    page.screenshot(path=str(output_dir / "worker_login_zh.png"))

    _login(page, live_server, worker_world)
    who = page.locator("#chrome [data-testid=chrome-user]")
    assert who.is_visible() and "网格员" in who.inner_text()  # the person's role in the bar, never a key
    bar = page.locator(".bar").bounding_box()
    assert bar and bar["height"] < 70, "the bar stays one line on a 390 px phone"
    page.wait_for_function("document.querySelector('#sort-hint').textContent.includes('距离')")
    page.wait_for_selector(f'[data-case-id="{worker_world["near"]}"] .case__dist')
    order = page.eval_on_selector_all("[data-case-id]", "els => els.map(e => Number(e.dataset.caseId))")
    assert order.index(worker_world["near"]) < order.index(worker_world["far"])  # nearest first
    assert order[0] == worker_world["near"]
    near_card = page.locator(f'[data-case-id="{worker_world["near"]}"]')
    assert "米" in near_card.inner_text() and "超期" in near_card.inner_text()
    page.screenshot(path=str(output_dir / "worker_list_zh.png"))

    near_card.click()
    page.wait_for_selector("#minimap.leaflet-container")
    page.wait_for_selector("#actions [data-to=in_progress]")
    _check_go_buttons(page, worker_world)
    page.fill("#note", "已到现场")
    page.click("#actions [data-to=in_progress]")
    page.wait_for_selector("#confirm:visible")
    assert "已接单" in page.inner_text("#confirm")
    page.wait_for_selector("#actions [data-to=resolved]")
    assert page.is_visible("#photo-req")  # this category asks for an after photo
    page.fill("#note", "违建已拆除")
    page.click("#actions [data-to=resolved]")  # without the photo: refused on the page, nothing sent
    page.wait_for_selector("#act-error:visible")
    assert "处置后照片" in page.inner_text("#act-error")
    _take_photo(page, "#photo", "#photo-thumbs")
    page.screenshot(path=str(output_dir / "worker_photo_zh.png"), full_page=True)
    page.click("#actions [data-to=resolved]")
    page.wait_for_function("document.querySelector('#case-info').textContent.includes('已处置')", timeout=90_000)
    page.wait_for_selector("#confirm:visible")
    assert "已提交处置结果" in page.inner_text("#confirm")
    page.wait_for_selector("#timeline .thumb img[src^='blob:']")  # the after photo, shown through the API
    timeline = page.inner_text("#timeline")  # in words, as on the console: a person's name and role, never an id
    assert "user:" not in timeline and "key:" not in timeline and "处置中 → 已处置" in timeline
    assert f"{worker_world['person']} · 网格员" in timeline
    page.wait_for_selector("#minimap path.grid-outline")  # the grid's boundary around the case
    page.wait_for_timeout(2600)  # let the toast fade
    page.screenshot(path=str(output_dir / "worker_case_zh.png"), full_page=True)
    # a worker does not verify what it resolved itself: no such button, and the server refuses it
    assert page.locator("#actions [data-to=verified]").count() == 0
    box = page.eval_on_selector("#minimap", "e => e.getBoundingClientRect().width")
    assert box <= PHONE["width"]  # no horizontal overflow on a phone
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    with Session(engine) as s:
        rows = s.execute(text("""SELECT actor, from_status, to_status, note, attachments FROM case_event
                                 WHERE case_id = :c ORDER BY id"""), {"c": worker_world["near"]}).all()
        assert [(r.from_status, r.to_status) for r in rows[-2:]] == [("dispatched", "in_progress"),
                                                                      ("in_progress", "resolved")]
        assert rows[-1].actor == f"user:{worker_world['username']}" and rows[-1].note == "违建已拆除"
        [path] = rows[-1].attachments
        media = s.execute(text("SELECT sha256, width, height, uploader FROM media WHERE id = :i"),
                          {"i": int(path.rsplit("/", 1)[1])}).one()
    assert path.startswith("/api/v1/media/")
    assert media.uploader == f"user:{worker_world['username']}" and (media.width, media.height) == (480, 640)
    assert media.sha256 == hashlib.sha256(PHOTO.read_bytes()).hexdigest()

    _patrol(page, live_server, worker_world, engine, output_dir, "zh", "路口私搭简易棚")
    assert page.errors == []


def _check_go_buttons(page, world: dict) -> None:
    """Navigation links carry the point in each app's datum; the reporter's number is masked for a worker, so
    no call button."""
    from geo import crs

    amap = page.get_attribute("#nav-amap", "href")
    baidu = page.get_attribute("#nav-baidu", "href")
    geo = page.get_attribute("#nav-geo", "href")
    lon = world["lon"] + 12 / (111_320 * math.cos(math.radians(world["lat"])))
    gx, gy = crs.wgs84_to_gcj02(np.array([lon]), np.array([world["lat"]]))
    bx, by = crs.wgs84_to_bd09(np.array([lon]), np.array([world["lat"]]))
    def num(pattern: str, url: str) -> float:
        found = re.search(pattern, url)
        assert found, (pattern, url)
        return float(found.group(1))

    assert amap.startswith("amapuri://route/plan/") and "dev=0" in amap  # dev=0: already GCJ-02, no offset
    assert abs(num(r"dlat=([0-9.]+)", amap) - gy[0]) < 1e-6 and abs(num(r"dlon=([0-9.]+)", amap) - gx[0]) < 1e-6
    assert baidu.startswith("baidumap://map/direction") and "coord_type=bd09ll" in baidu
    assert abs(num(r"latlng:([0-9.]+),", baidu) - by[0]) < 1e-6
    assert abs(num(r"latlng:[0-9.]+,([0-9.]+)", baidu) - bx[0]) < 1e-6
    assert abs(num(r"^geo:([0-9.]+),", geo) - world["lat"]) < 1e-6
    assert abs(num(r"^geo:[0-9.]+,([0-9.]+)", geo) - lon) < 1e-6
    assert abs(gx[0] - lon) > 1e-4  # the offsets are real (hundreds of metres in Beijing), not a copy
    assert page.is_hidden("#call") and "*" in page.inner_text("#case-info")


def _take_photo(page, input_sel: str, thumbs_sel: str) -> None:
    """What a phone's camera hands the page: a JPEG file (tests/data), through the capture input."""
    page.set_input_files(input_sel, str(PHOTO))
    page.wait_for_selector(f"{thumbs_sel} .thumb img[src^='blob:']")


def _patrol(page, base: str, world: dict, engine: Engine, output_dir, lang: str, description: str) -> None:
    """A patrol report (巡查上报): the phone's GPS (set by Playwright), a category, a description, a photo."""
    page.click("#back")
    page.wait_for_selector("#patrol-open:visible")
    page.click("#patrol-open")
    page.wait_for_selector("#patrol-form:visible")
    page.wait_for_function("document.querySelector('#patrol-loc').textContent.includes(',')")
    page.wait_for_selector("#patrol-category option[value='E01001']", state="attached")
    page.click("#patrol-submit")  # no category yet: refused on the page
    page.wait_for_selector("#patrol-error:visible")
    page.select_option("#patrol-category", "E01001")
    page.fill("#patrol-desc", description)
    _take_photo(page, "#patrol-photo", "#patrol-thumbs")
    page.wait_for_function("document.querySelector('#patrol-loc').textContent.includes('·')")  # the grid, located
    assert world["grid_name"][lang] in page.inner_text("#patrol-loc")  # located in the worker's grid before sending
    first, second = page.inner_text("#patrol-loc").split(" ")[:2]
    lon, lat = float(first.rstrip(",")), float(second)
    assert abs(lon - world["lon"]) < 1e-5 and abs(lat - world["lat"]) < 1e-5  # the phone's GPS, as Playwright set it
    page.screenshot(path=str(output_dir / f"worker_patrol_form_{lang}.png"), full_page=True)
    page.click("#patrol-submit")
    page.wait_for_selector("#patrol-done:visible")
    case_id = int(page.get_attribute("#patrol-done [data-case-link]", "data-case-link"))
    page.wait_for_timeout(2600)
    page.screenshot(path=str(output_dir / f"worker_patrol_done_{lang}.png"), full_page=True)
    with Session(engine) as s:
        r = s.execute(text("""SELECT r.source, r.category_code, r.description, r.photos, ST_X(r.location) AS lon,
                                     ST_Y(r.location) AS lat, c.grid_code, c.status
                              FROM cases c JOIN report r ON r.id = c.report_id WHERE c.id = :c"""),
                      {"c": case_id}).one()
    assert (r.source, r.category_code, r.description) == ("patrol", "E01001", description)
    assert abs(r.lon - world["lon"]) < 1e-6 and abs(r.lat - world["lat"]) < 1e-6 and r.grid_code == world["grid"]
    assert len(r.photos) == 1 and r.photos[0].startswith("/api/v1/media/")
    page.click("#patrol-done [data-case-link]")  # the new case of the worker's own grid opens
    page.wait_for_selector("#before .thumb img[src^='blob:']")


def test_worker_screen_in_english(live_server: str, new_page, output_dir, worker_world, engine: Engine) -> None:
    page = new_page(locale="en-US", **PHONE)
    _login(page, live_server, worker_world)
    assert page.inner_text("#title") == "My cases"
    page.screenshot(path=str(output_dir / "worker_list_en.png"))
    page.click(f'[data-case-id="{worker_world["far"]}"]')
    page.wait_for_selector("#actions [data-to=in_progress]")
    assert page.inner_text("#actions [data-to=in_progress]") == "Accept"
    assert page.inner_text("#nav-amap") == "Amap" and page.inner_text("#nav-baidu") == "Baidu Maps"
    page.fill("#note", "")
    page.click("#actions [data-to=note]")
    page.wait_for_selector("#act-error:visible")
    assert "write what was done" in page.inner_text("#act-error")
    page.wait_for_selector("#minimap path.grid-outline")
    assert page.inner_text("#case-info h2").startswith("Water supply manhole cover")
    page.click("#actions [data-to=in_progress]")
    page.wait_for_selector("#actions [data-to=resolved]")
    assert page.is_hidden("#photo-req")  # a manhole cover's category asks for no after photo; one is taken anyway
    _take_photo(page, "#photo", "#photo-thumbs")
    page.fill("#note", "Cover replaced")
    page.click("#actions [data-to=resolved]")
    page.wait_for_function("document.querySelector('#confirm').textContent.includes('Resolved')", timeout=90_000)
    page.wait_for_selector("#timeline .thumb img[src^='blob:']")
    page.wait_for_timeout(2600)
    page.screenshot(path=str(output_dir / "worker_case_en.png"), full_page=True)
    _patrol(page, live_server, worker_world, engine, output_dir, "en", "Shed built on the pavement")
    page.click("#chrome-signout")
    page.wait_for_selector("#signin[open]")
    assert page.errors == []


def test_the_reporter_is_callable_where_the_role_sees_the_number(live_server: str, new_page, output_dir,
                                                                 worker_world, engine: Engine) -> None:
    """A worker sees the reporter's number masked and gets no call button (above); a role that sees it whole
    (here admin, as the command centre would) gets a tel: link."""
    from api.users.schemas import UserCreate
    from api.users.service import create_user

    name = f"admin{datetime.now(UTC):%H%M%S%f}"
    with Session(engine) as s:
        create_user(s, body=UserCreate(username=name, password=PASSWORD, role="admin"))
        s.commit()
    page = new_page(locale="zh-CN", **PHONE)
    page.set_default_timeout(45_000)
    page.goto(f"{live_server}/worker.html")
    _sign_in(page, name, PASSWORD)
    page.wait_for_selector("#list:visible")
    page.evaluate(f"window.location.hash = '#/case/{worker_world['far']}'")
    page.wait_for_selector("#call:visible")
    assert page.get_attribute("#call", "href") == "tel:13912345678"
    assert "13912345678" in page.inner_text("#call")
    assert page.errors == []
