"""The grid worker's phone screen in real headless Chromium: log in, my cases nearest first, a case on a
small map, accept and resolve with a note and a photo URL; Chinese and English; screenshots in tests/output/."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}
PASSWORD = "worker screen password"


@pytest.fixture(scope="module")
def worker_world(engine: Engine) -> dict:
    """A committed worker user and two open cases of its grid (the live server is another process)."""
    from api.users.schemas import UserCreate
    from api.users.service import create_user

    with Session(engine) as s:
        g = s.execute(text("""
            SELECT g.code, g.layout_id, ST_X(ST_PointOnSurface(g.boundary)) AS lon,
                   ST_Y(ST_PointOnSurface(g.boundary)) AS lat, p.id AS worker
            FROM grid g JOIN grid_layout l ON l.id = g.layout_id
            JOIN person p ON p.grid_code = g.code AND p.role = 'grid_worker' AND p.on_duty AND p.active
            WHERE l.status = 'published' AND l.effective_to IS NULL ORDER BY g.code DESC LIMIT 1""")).one()
        name = f"worker{datetime.now(UTC):%H%M%S%f}"
        create_user(s, body=UserCreate(username=name, password=PASSWORD, role="worker", person_id=g.worker))
        ids = []
        for metres, desc, hours in ((300, "人行道护栏损坏（较远）", -30), (12, "井盖松动，行人易绊倒", 5)):
            lon = g.lon + metres / (111_320 * math.cos(math.radians(g.lat)))
            at = datetime.now(UTC) - timedelta(hours=48 + hours)
            rid = s.execute(text("""INSERT INTO report (source, category_code, description, reported_at, location,
                                                        address_text)
                                    VALUES ('patrol', 'C01001', :d, :at, ST_SetSRID(ST_MakePoint(:x, :y), 4326),
                                            '东城区示例路 8 号') RETURNING id"""),
                            {"d": desc, "at": at, "x": lon, "y": g.lat}).scalar_one()
            cid = s.execute(text("""INSERT INTO cases (report_id, layout_id, grid_code, category_code, status,
                                                       assignee_id, deadline)
                                    VALUES (:r, :l, :g, 'C01001', 'dispatched', :w, :dl) RETURNING id"""),
                            {"r": rid, "l": g.layout_id, "g": g.code, "w": g.worker,
                             "dl": at + timedelta(hours=48)}).scalar_one()
            s.execute(text("INSERT INTO case_event (case_id, actor, from_status, to_status) "
                           "VALUES (:c, 'test', NULL, 'dispatched')"), {"c": cid})
            ids.append(cid)
        s.commit()
    return {"username": name, "lon": g.lon, "lat": g.lat, "far": ids[0], "near": ids[1]}


def _login(page, base: str, world: dict) -> None:
    page.set_default_timeout(45_000)  # a loaded 2-core CI box is slow to draw the first list
    page.context.grant_permissions(["geolocation"], origin=base)
    page.context.set_geolocation({"latitude": world["lat"], "longitude": world["lon"]})
    page.goto(f"{base}/worker.html")
    page.wait_for_selector("#login-form:visible")
    page.fill("#username", world["username"])
    page.fill("#password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector(f'[data-case-id="{world["far"]}"]')


def test_worker_accepts_and_resolves_a_case_on_a_phone(live_server: str, new_page, output_dir, worker_world,
                                                       engine: Engine) -> None:
    page = new_page(locale="zh-CN", **PHONE)
    page.goto(f"{live_server}/worker.html")
    page.wait_for_selector("#login-form:visible")
    page.fill("#username", worker_world["username"])
    page.fill("#password", "wrong password!")
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#login-error:visible")
    assert "密码错误" in page.inner_text("#login-error")
    page.screenshot(path=str(output_dir / "worker_login_zh.png"))

    _login(page, live_server, worker_world)
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
    page.fill("#note", "已到现场")
    page.click("#actions [data-to=in_progress]")
    page.wait_for_selector("#actions [data-to=resolved]")
    page.fill("#note", "已更换井盖")
    page.fill("#photo", "https://img.example.cn/manhole-fixed.jpg")
    page.click("#actions [data-to=resolved]")
    page.wait_for_function("document.querySelector('#case-info').textContent.includes('已处置')", timeout=90_000)
    page.wait_for_selector("#timeline a[href='https://img.example.cn/manhole-fixed.jpg']")
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
    assert rows[-1].actor == f"user:{worker_world['username']}" and rows[-1].note == "已更换井盖"
    assert rows[-1].attachments == ["https://img.example.cn/manhole-fixed.jpg"]
    assert page.errors == []


def test_worker_screen_in_english(live_server: str, new_page, output_dir, worker_world) -> None:
    page = new_page(locale="en-US", **PHONE)
    _login(page, live_server, worker_world)
    assert page.inner_text("#title") == "My cases"
    page.screenshot(path=str(output_dir / "worker_list_en.png"))
    page.click(f'[data-case-id="{worker_world["far"]}"]')
    page.wait_for_selector("#actions [data-to=in_progress]")
    assert page.inner_text("#actions [data-to=in_progress]") == "Accept"
    page.fill("#note", "")
    page.click("#actions [data-to=note]")
    page.wait_for_selector("#act-error:visible")
    assert "write what was done" in page.inner_text("#act-error")
    page.wait_for_selector("#minimap path.grid-outline")
    assert page.inner_text("#case-info h2").startswith("Water supply manhole cover")
    page.screenshot(path=str(output_dir / "worker_case_en.png"), full_page=True)
    page.click("#logout")
    page.wait_for_selector("#login-form:visible")
    assert page.errors == []
