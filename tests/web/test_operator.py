"""The hotline operator's screen (issue 10) in real headless Chromium: an address typed as a caller says it
resolves to its building and grid, an ambiguous one lists several candidates to choose from with the
keyboard, the screen speaks both languages, a report is filed by the operator's own sign-in (method ``address``),
and an ambiguous report is confirmed from the review queue. Screenshots in tests/output/operator_*.png."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from tests.web.people import sign_in

pytestmark = pytest.mark.browser
DIGITS = "零一二三四五六七八九"
AMBIGUOUS = "幸福里小区3号楼2单元门口"


def chinese(n: int) -> str:
    """1..99 in Chinese numerals: 3 → 三, 12 → 十二, 20 → 二十."""
    tens, ones = divmod(n, 10)
    if not tens:
        return DIGITS[ones]
    return ("" if tens == 1 else DIGITS[tens]) + "十" + (DIGITS[ones] if ones else "")


def test_chinese_numerals() -> None:
    assert [chinese(n) for n in (3, 10, 12, 20, 35)] == ["三", "十", "十二", "二十", "三十五"]


def _get(base: str, key: str, path: str, **params: str) -> dict:
    r = httpx.get(f"{base}/api/v1/{path}", params=params, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture(scope="module")
def spoken(engine: Engine, live_server: str, dispatcher_key: str) -> dict:
    """A registry building address said the way a caller would: Chinese numerals and 门口 appended."""
    with Session(engine) as s:
        rows = s.execute(text("""
            SELECT a.id, a.full_text, a.building_no, b.code AS building_code FROM address a
            JOIN building b ON b.id = a.building_id
            WHERE a.kind = 'building' AND a.estate IS NOT NULL AND a.building_no ~ '^[1-9][0-9]?$'
              AND a.full_text LIKE '%' || a.building_no || '号楼'
            ORDER BY a.id LIMIT 40""")).all()
    assert rows, "the sample registry has no estate buildings"
    for r in rows:
        said = r.full_text.replace(f"{r.building_no}号楼", f"{chinese(int(r.building_no))}号楼") + "门口"
        found = _get(live_server, dispatcher_key, "locate", address=said)
        cands = found["address"]["candidates"]
        if found["address"]["status"] == "matched" and cands and cands[0]["id"] == r.id and found["grid"]:
            return {"said": said, "id": r.id, "building_code": r.building_code, "full_text": r.full_text,
                    "grid": found["grid"]["code"]}
    pytest.fail("no sample building address resolves with Chinese numerals")


def _open(new_page, live_server: str, locale: str = "zh-CN"):
    """The operator's seat: one sign-in (the demo operator's name and password) searches and files."""
    page = new_page(locale=locale)
    page.goto(f"{live_server}/operator.html")
    sign_in(page, "operator")
    page.wait_for_function("window.gridmap && window.gridmap.ready === true", timeout=60_000)
    return page


def _type(page, q: str) -> None:
    before = page.evaluate("window.gridmap.searches")
    page.fill("#op-q", "")
    page.type("#op-q", q, delay=5)
    page.wait_for_function(f"window.gridmap.searches > {before} && window.gridmap.answer"
                           f" && window.gridmap.answer.address.query === {q!r}")


def test_operator_locates_a_spoken_address_and_files_a_report(
        new_page, live_server: str, dispatcher_key: str, spoken: dict, engine: Engine, output_dir) -> None:
    page = _open(new_page, live_server)
    assert page.title() == "gridmap · 热线地址定位"
    _type(page, spoken["said"])
    # matched: the top candidate is that building, picked at once, and its grid is what /locate says
    page.wait_for_function("window.gridmap.grid !== null")
    assert page.get_attribute("#op-state", "data-state") == "matched"
    picked = page.evaluate("window.gridmap.picked")
    assert picked["id"] == spoken["id"] and picked["building_code"] == spoken["building_code"]
    first = page.locator(".op-cand").first
    assert "is-picked" in first.get_attribute("class")
    assert spoken["full_text"].removeprefix("北京市").removeprefix("东城区") in first.inner_text()
    assert "100%" in first.inner_text() or "%" in first.inner_text()
    api = _get(live_server, dispatcher_key, "locate", address=spoken["said"])
    assert page.evaluate("window.gridmap.grid.code") == api["grid"]["code"] == spoken["grid"]
    assert page.text_content("#op-grid-code") == api["grid"]["code"]
    assert page.text_content("#op-grid-title") == api["grid"]["name"]
    assert page.text_content("#op-grid-community") == api["grid"]["community"]["name"]
    staff = page.locator(".op-staff__row")
    assert staff.count() == len(api["grid"]["staff_on_duty"])
    if api["grid"]["staff_on_duty"]:
        # The operator may call the grid's staff: full numbers as tel: links (GET /grids/{code}).
        page.wait_for_selector(".op-staff__row a[href^='tel:']")
        assert "*" not in staff.first.inner_text()
    # the candidate is drawn on the map and its grid selected
    assert page.locator(".op-pin--picked").count() == 1
    assert page.locator("path.gm-grid.is-selected").count() >= 1
    page.wait_for_timeout(700)  # let the map fly in
    page.screenshot(path=str(output_dir / "operator_matched.png"))

    # the same sign-in files the report (no second key)
    page.select_option("#op-category", index=1)
    category = page.eval_on_selector("#op-category", "el => el.value")
    page.fill("#op-desc", "楼门口垃圾堆放多日无人清运")
    page.click("#op-submit")
    page.wait_for_function("window.gridmap.report !== null")
    report = page.evaluate("window.gridmap.report")
    assert report["routing"]["method"] == "address"
    assert report["routing"]["grid_code"] == spoken["grid"]
    assert page.is_visible("#op-report-done")
    done = page.text_content("#op-report-done")
    assert f"#{report['id']}" in done
    # The routing method in words, with the address match's score filled in (it once read "匹配度 {score}").
    assert "{" not in done and f"{round(report['address_check']['score'] * 100)}%" in done, done
    with Session(engine) as s:
        row = s.execute(text("""
            SELECT r.category_code, r.address_text, r.description, r.source, t.method, t.grid_code
            FROM report r JOIN routing t ON t.report_id = r.id WHERE r.id = :id
            ORDER BY t.id DESC LIMIT 1"""), {"id": report["id"]}).one()
    assert (row.method, row.grid_code, row.category_code, row.source) == (
        "address", spoken["grid"], category, "hotline_12345")
    assert row.address_text == spoken["full_text"]
    assert spoken["said"] in row.description  # what the caller said is kept
    page.screenshot(path=str(output_dir / "operator_filed.png"), full_page=False)
    assert not page.errors, page.errors


def test_operator_ambiguous_keyboard_language_and_review_queue(
        new_page, live_server: str, dispatcher_key: str, engine: Engine, output_dir) -> None:
    api = _get(live_server, dispatcher_key, "locate", address=AMBIGUOUS)
    assert api["address"]["status"] == "ambiguous" and len(api["address"]["candidates"]) >= 2
    page = _open(new_page, live_server)
    _type(page, AMBIGUOUS)
    # ambiguous: several candidates, none picked for the operator
    assert page.get_attribute("#op-state", "data-state") == "ambiguous"
    assert page.locator(".op-cand").count() == len(api["address"]["candidates"])
    assert page.locator(".op-pin").count() == len(api["address"]["candidates"])
    assert page.evaluate("window.gridmap.picked") is None
    assert page.is_hidden("#op-grid")
    assert "请向来电人核实" in page.text_content("#op-state-title")
    assert page.is_visible("#op-report-queue")  # filing now would queue the report
    page.screenshot(path=str(output_dir / "operator_ambiguous.png"))

    # keyboard: ↓ then Enter picks the second candidate; its grid is where its point routes
    page.focus("#op-q")
    page.keyboard.press("ArrowDown")
    assert "is-active" in page.locator(".op-cand").nth(1).get_attribute("class")
    page.keyboard.press("Enter")
    page.wait_for_function("window.gridmap.grid !== null")
    second = api["address"]["candidates"][1]
    assert page.evaluate("window.gridmap.picked.id") == second["id"]
    assert page.evaluate("window.gridmap.grid.code") == second["grid"]["code"]
    assert "is-picked" in page.locator(".op-cand").nth(1).get_attribute("class")

    # English
    page.click(".topbar .lang-switch__btn[data-lang='en']")
    page.wait_for_function("window.gridmap.lang === 'en'")
    assert page.text_content("#tab-search") == "Find address"
    assert "similar addresses" in page.text_content("#op-state-title")
    assert page.text_content("#op-report-title") == "File a report"
    assert page.title() == "gridmap · Hotline address desk"
    page.screenshot(path=str(output_dir / "operator_en.png"))
    # not found, in English
    _type(page, "火星基地九十九号")
    assert page.get_attribute("#op-state", "data-state") == "not_found"
    assert "Not in the standard address registry" in page.text_content("#op-state-title")
    assert page.locator(".op-cand").count() == 0
    page.click(".topbar .lang-switch__btn[data-lang='zh-CN']")
    page.wait_for_function("window.gridmap.lang === 'zh-CN'")
    assert page.text_content("#op-state-title") == "标准地址库中查无此址"

    # an ambiguous report filed without a pick is queued, then confirmed from the queue
    _type(page, AMBIGUOUS)
    page.select_option("#op-category", index=2)
    page.click("#op-submit")
    page.wait_for_function("window.gridmap.report !== null")
    report = page.evaluate("window.gridmap.report")
    review_id = report["address_check"]["review_id"]
    assert review_id and report["routing"]["method"] == "unrouted"
    # the command centre confirms addresses: a dispatcher takes the seat (the shared "switch user")
    page.click("#signin-open")
    page.fill("#signin-username", "demo-dispatcher")
    page.fill("#signin-password", "demo-dispatcher-2026")
    page.click("#signin-submit")
    page.wait_for_function("document.querySelector('[data-testid=chrome-user]').textContent.includes('王调度')")
    page.click("#tab-reviews")
    entry = page.locator(f".op-review[data-review='{review_id}']")
    entry.wait_for()
    entry.locator(".op-review__main").click()
    entry.locator(".op-cand").first.wait_for()
    assert entry.locator(".op-cand").count() == len(api["address"]["candidates"])
    page.wait_for_timeout(600)
    page.screenshot(path=str(output_dir / "operator_reviews.png"))
    first_id = api["address"]["candidates"][0]["id"]
    entry.locator(f"[data-confirm='{first_id}']").click()
    page.wait_for_function("window.gridmap.lastDecision && window.gridmap.lastDecision.status === 'confirmed'")
    decision = page.evaluate("window.gridmap.lastDecision")
    assert decision["routing"]["method"] == "address"
    # The queue re-renders after the decision lands: wait for the entry to go rather than race it.
    page.locator(f".op-review[data-review='{review_id}']").wait_for(state="detached", timeout=10_000)
    with Session(engine) as s:
        st = s.execute(text("SELECT status, address_id FROM address_review WHERE id = :i"), {"i": review_id}).one()
        method = s.execute(text("SELECT method FROM routing WHERE report_id = :r ORDER BY id DESC LIMIT 1"),
                           {"r": report["id"]}).scalar_one()
    assert (st.status, st.address_id, method) == ("confirmed", first_id, "address")
    assert not page.errors, page.errors
