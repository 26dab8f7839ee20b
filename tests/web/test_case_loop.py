"""A hotline case carried from call to close through the screens alone (issue 18), in real headless Chromium,
in zh-CN and in English: the operator signs in with a name and password, takes a call (address typed, caller
recorded) and files; the dispatcher signs in on the console, finds the case, registers, dispatches, takes it
up and resolves it on the worker's behalf (the worker's phone flow is tests/web/test_worker.py), verifies,
closes and records the follow-up. No step is an API call made by the test: the users are the sample
district's demo users (sample_data/users.csv), every click is in the page. Screenshots in tests/output/loop_*.png.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from tests.web.people import sign_in

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def address(engine: Engine) -> str:
    """A registry building address, typed as the operator hears it."""
    with Session(engine) as s:
        full = s.execute(text("""
            SELECT a.full_text FROM address a JOIN building b ON b.id = a.building_id
            WHERE a.kind = 'building' AND a.estate IS NOT NULL ORDER BY a.id LIMIT 1""")).scalar()
    assert full
    return full.replace("北京市", "").replace("东城区", "")


def shot(page, output_dir: Path, name: str) -> None:
    page.screenshot(path=str(output_dir / f"loop_{name}.png"), full_page=False)


def click_action(page, action: str, note: str | None = None, fill=None) -> None:
    """Press a step's button in the console, fill its dialog and confirm."""
    before = page.evaluate("window.gridmap.detailLoads")
    page.click(f"#cc-actions [data-action='{action}']")
    page.wait_for_selector("#act-dialog[open]")
    if fill:
        fill(page)
    if note:
        page.fill("#a-note", note)
    page.click("#act-submit")
    page.wait_for_function("!document.querySelector('#act-dialog').open")
    page.wait_for_function(f"window.gridmap.detailLoads > {before}")


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_a_call_is_carried_to_close_through_the_screens(new_page, live_server: str, output_dir: Path, address: str,
                                                         locale: str, engine: Engine) -> None:
    tag = secrets.token_hex(4)
    lang = "zh" if locale == "zh-CN" else "en"
    caller_phone = f"139{secrets.randbelow(10**8):08d}"

    # ---- the operator takes the call -------------------------------------------------------------------
    op = new_page(locale=locale)
    op.goto(f"{live_server}/operator.html")
    sign_in(op, "operator")
    op.wait_for_function("window.gridmap && window.gridmap.ready === true", timeout=60_000)
    assert "李话务" in op.locator("[data-testid=chrome-user]").inner_text()  # the person's name, not a key's
    op.fill("#op-q", address)
    op.press("#op-q", "Enter")
    op.wait_for_function("window.gridmap.answer && window.gridmap.answer.address.status")
    op.press("#op-q", "Enter")  # take the top candidate
    op.wait_for_function("window.gridmap.grid !== null && window.gridmap.grid !== undefined")
    op.wait_for_selector("#op-report:not([hidden])")
    # Grid staff phone numbers are callable for the operator.
    op.wait_for_selector("#op-staff a[href^='tel:']")
    op.fill("#op-caller-name", f"张先生{tag}")
    op.fill("#op-caller-phone", caller_phone)
    # The category picker finds a category by its pinyin initials.
    cats = op.evaluate("""fetch('/api/v1/categories', {headers: {Authorization: 'Bearer ' +
        JSON.parse(localStorage.getItem('gridmap.session')).token}}).then(r => r.json())""")
    cat = next(c for c in cats["items"] if len(c["initials"]) >= 3)
    op.fill("#op-cat-q", cat["initials"])
    assert op.eval_on_selector("#op-category", "s => s.value") in {c["code"] for c in cats["items"]
                                                                     if cat["initials"] in c["initials"]}
    op.select_option("#op-category", cat["code"])
    op.fill("#op-desc", f"楼道堆物 {tag}")
    shot(op, output_dir, f"operator_form_{lang}")
    op.click("#op-submit")
    op.wait_for_function("window.gridmap.report && window.gridmap.report.id")
    report = op.evaluate("window.gridmap.report")
    done = op.locator("#op-report-done")
    assert done.is_visible()
    box = done.bounding_box()
    assert box and box["y"] + box["height"] <= op.viewport_size["height"], "the confirmation is on screen"
    assert str(report["id"]) in done.inner_text()
    assert op.input_value("#op-q") == "" and op.input_value("#op-caller-name") == "", "the form is reset"
    shot(op, output_dir, f"operator_filed_{lang}")
    case_id = report["case"]["id"]

    # ---- the dispatcher works the case on the console ----------------------------------------------------
    cc = new_page(locale=locale)
    cc.goto(f"{live_server}/console.html")
    sign_in(cc, "dispatcher")
    cc.wait_for_function("window.gridmap.ready === true", timeout=60_000)
    user = cc.locator("[data-testid=chrome-user]").inner_text()
    assert "王调度" in user and "gm_" not in user
    cc.wait_for_function("window.gridmap.counts && Object.values(window.gridmap.counts).every(n => n !== undefined)")
    counts = cc.evaluate("window.gridmap.counts")
    shown = cc.eval_on_selector_all(".cc-tab__n", "els => els.map(e => e.textContent.replace(/[^0-9]/g, ''))")
    assert shown == [str(counts[k]) for k in ("reported", "registered", "working", "resolved", "overdue",
                                                "escalated", "done")]
    with Session(engine) as s:
        reported = s.execute(text("SELECT count(*) FROM cases WHERE status = 'reported'")).scalar()
    assert counts["reported"] == reported
    loads = cc.evaluate("window.gridmap.listLoads")
    cc.fill("#f-q", tag)
    cc.wait_for_function(f"window.gridmap.listLoads > {loads}")
    cc.wait_for_selector(f"#cc-rows tr[data-id='{case_id}']")
    assert cc.locator("#cc-rows tr").count() == 1
    cc.locator("#cc-list").focus()
    cc.keyboard.press("Enter")  # keyboard: the first row is active, Enter opens it
    cc.wait_for_function(f"document.querySelector('#cc-title').textContent.includes('{case_id}')")
    facts = cc.locator("#cc-facts").inner_text()
    assert caller_phone in facts, "the dispatcher sees the caller's number in full"
    assert cc.locator(f"#cc-facts a[href='tel:{caller_phone}']").count() == 1
    assert cc.locator(".cc-pin").count() == 1, "the reported point is a pin on the map"
    assert cc.locator("#cc-map path.leaflet-interactive").count() >= 1, "the grid is drawn"
    # Only what the transition table allows is offered: a reported case is registered or rejected.
    offered = set(cc.eval_on_selector_all("#cc-actions [data-action]", "els => els.map(e => e.dataset.action)"))
    assert {"register", "reject"} <= offered and not offered & {"close", "verify", "dispatch"}
    shot(cc, output_dir, f"console_case_{lang}")

    click_action(cc, "register")
    click_action(cc, "dispatch")
    assert cc.locator("#cc-status").inner_text() == ("已派遣" if lang == "zh" else "Dispatched")
    click_action(cc, "accept")
    click_action(cc, "resolve", note=f"已清理 {tag}")
    # Verifying needs nothing more; returning needs a reason: an empty reason is refused in the dialog.
    cc.click("#cc-actions [data-action='return']")
    cc.wait_for_selector("#act-dialog[open]")
    cc.click("#act-submit")
    assert cc.locator("#act-error").is_visible()
    cc.click("#act-cancel")
    shot(cc, output_dir, f"console_resolved_{lang}")
    click_action(cc, "verify", note="核查属实")
    click_action(cc, "close")
    assert {"followup", "reopen"} <= set(cc.eval_on_selector_all("#cc-actions [data-action]",
                                                                  "els => els.map(e => e.dataset.action)"))
    click_action(cc, "followup", note="回访满意",
                 fill=lambda p: (p.check("#a-satisfaction input[value='basically_satisfied']"),
                                 p.select_option("#a-channel", "visit")))
    assert cc.locator("#cc-status").inner_text() == ("已结案" if lang == "zh" else "Closed")
    timeline = cc.locator("#cc-timeline").inner_text()
    assert "王调度" in timeline and "李话务" in timeline, "actors are people's names"
    assert "user:" not in timeline and "key:" not in timeline
    assert ("回访：基本满意（上门）" if lang == "zh" else "Follow-up: Basically satisfied (Visit)") in timeline
    assert ("已核查 → 已结案" if lang == "zh" else "Verified → Closed") in timeline
    assert not cc.locator("#cc-actions [data-action]").count(), "a closed, rated case offers nothing more"
    shot(cc, output_dir, f"console_closed_{lang}")

    with Session(engine) as s:
        row = s.execute(text("SELECT status, satisfaction AS rating FROM cases WHERE id = :i"), {"i": case_id}).one()
        rep = s.execute(text("SELECT reporter_name, reporter_phone FROM report WHERE id = :i"),
                        {"i": report["id"]}).one()
    assert (row.status, row.rating) == ("closed", "basically_satisfied")
    assert (rep.reporter_name, rep.reporter_phone) == (f"张先生{tag}", caller_phone)
    assert not op.errors and not cc.errors, op.errors + cc.errors


def test_an_unknown_address_is_located_by_a_pin(new_page, live_server: str, output_dir: Path, engine: Engine) -> None:
    """The address is not in the registry: the operator drops a pin where the caller says, and the report is
    located by the pin (the confirmation says so); the caller's words stay in the description."""
    tag = secrets.token_hex(4)
    op = new_page(locale="zh-CN")
    op.goto(f"{live_server}/operator.html")
    sign_in(op, "operator")
    op.wait_for_function("window.gridmap && window.gridmap.ready === true", timeout=60_000)
    said = f"不存在的路{tag}号院"
    op.fill("#op-q", said)
    op.press("#op-q", "Enter")
    op.wait_for_function("window.gridmap.answer && window.gridmap.answer.address.status")
    op.wait_for_selector("#op-report:not([hidden])")
    op.click("#op-pin")
    assert "地图" in op.inner_text("#op-pin-state")
    box = op.locator("#map").bounding_box()
    op.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    op.wait_for_function("window.gridmap.pin")
    pin = op.evaluate("window.gridmap.pin")
    op.select_option("#op-category", index=1)
    op.fill("#op-caller-phone", "13700000000")
    op.screenshot(path=str(output_dir / "loop_operator_pin_zh.png"))
    op.click("#op-submit")
    op.wait_for_function("window.gridmap.report && window.gridmap.report.id")
    assert "按地图标点定位" in op.inner_text("#op-report-done")
    report_id = op.evaluate("window.gridmap.report.id")
    with Session(engine) as s:
        r = s.execute(text("""SELECT ST_X(location) AS lon, ST_Y(location) AS lat, description, address_text
                              FROM report WHERE id = :i"""), {"i": report_id}).one()
    assert abs(r.lon - pin["lon"]) < 1e-6 and abs(r.lat - pin["lat"]) < 1e-6
    assert said in r.description
    assert not op.errors, op.errors


def test_bulk_dispatch_and_a_whistle_with_report_ins(new_page, live_server: str, output_dir: Path,
                                                      engine: Engine) -> None:
    """The dispatcher selects two cases to dispatch in one go, then blows a street whistle on one and records a
    department's report-in; the acknowledgement is tracked on the case."""
    cc = new_page(locale="zh-CN")
    cc.goto(f"{live_server}/console.html")
    sign_in(cc, "dispatcher")
    cc.wait_for_function("window.gridmap.ready === true", timeout=60_000)
    loads = cc.evaluate("window.gridmap.listLoads")
    cc.click(".cc-tab[data-tab='registered']")
    cc.wait_for_function(f"window.gridmap.listLoads > {loads}")
    rows = cc.locator("#cc-rows tr")
    ids = [int(rows.nth(i).get_attribute("data-id")) for i in range(2)]
    for i in range(2):
        rows.nth(i).locator("input[type=checkbox]").check()
    assert "2" in cc.inner_text("#cc-bulk-dispatch")
    loads = cc.evaluate("window.gridmap.listLoads")
    cc.click("#cc-bulk-dispatch")
    cc.wait_for_function(f"window.gridmap.listLoads > {loads}")
    with Session(engine) as s:
        statuses = s.execute(text("SELECT status FROM cases WHERE id = ANY(:i)"), {"i": ids}).scalars().all()
    assert statuses == ["dispatched", "dispatched"]

    # A whistle on the first: the street summons a department, which reports in by phone.
    cc.fill("#f-q", str(ids[0]))
    cc.click(".cc-tab[data-tab='working']")
    cc.wait_for_selector(f"#cc-rows tr[data-id='{ids[0]}']")
    cc.click(f"#cc-rows tr[data-id='{ids[0]}']")
    cc.wait_for_function(f"document.querySelector('#cc-title').textContent.includes('{ids[0]}')")
    before = cc.evaluate("window.gridmap.detailLoads")
    cc.click("#cc-actions [data-action='whistle']")
    cc.wait_for_selector("#act-dialog[open]")
    cc.click("#act-submit")  # no department, no reason: refused in the dialog
    assert cc.locator("#act-error").is_visible()
    cc.locator("#a-depts input[type=checkbox]").first.check()
    cc.fill("#a-note", "占道施工需城管、交通协同处置")
    cc.click("#act-submit")
    cc.wait_for_function(f"window.gridmap.detailLoads > {before}")
    assert cc.locator("#cc-status").inner_text() == "已吹哨"
    assert "待报到" in cc.inner_text("#cc-whistles")
    before = cc.evaluate("window.gridmap.detailLoads")
    cc.locator("#cc-whistles [data-ack]").first.click()
    cc.wait_for_function(f"window.gridmap.detailLoads > {before}")
    assert "已报到" in cc.inner_text("#cc-whistles") and cc.locator("#cc-whistles [data-ack]").count() == 0
    assert "吹哨" in cc.inner_text("#cc-timeline") and "被召集方报到" in cc.inner_text("#cc-timeline")
    cc.screenshot(path=str(output_dir / "loop_console_whistle_zh.png"))
    with Session(engine) as s:
        acked = s.execute(text("""SELECT count(*) FROM whistle_target t JOIN whistle w ON w.id = t.whistle_id
                                  WHERE w.case_id = :c AND t.acknowledged_at IS NOT NULL"""), {"c": ids[0]}).scalar()
    assert acked == 1

    # The second goes to another grid (改派): found by name in the dialog's grid picker, with a reason.
    cc.fill("#f-q", str(ids[1]))
    cc.wait_for_selector(f"#cc-rows tr[data-id='{ids[1]}']")
    cc.click(f"#cc-rows tr[data-id='{ids[1]}']")
    cc.wait_for_function(f"document.querySelector('#cc-title').textContent.includes('{ids[1]}')")
    with Session(engine) as s:
        old_grid = s.execute(text("SELECT grid_code FROM cases WHERE id = :c"), {"c": ids[1]}).scalar_one()
    cc.click("#cc-actions [data-action='reassign']")
    cc.wait_for_selector("#act-dialog[open]")
    cc.wait_for_function("window.gridmap.gridLoads >= 1 && document.querySelectorAll('#a-grid option').length > 2")
    options = cc.eval_on_selector_all("#a-grid option", "os => os.map(o => o.value)")
    assert options[0] == old_grid and old_grid not in options[1:]  # its own grid first, then the nearest others
    target = options[2]
    with Session(engine) as s:
        name, duty = s.execute(text("""
            SELECT g.name, (SELECT id FROM person p WHERE p.grid_code = g.code AND p.role = 'grid_worker' AND p.active
                            ORDER BY p.on_duty DESC, p.id LIMIT 1)
            FROM grid g JOIN cases c ON c.layout_id = g.layout_id WHERE c.id = :c AND g.code = :g"""),
            {"c": ids[1], "g": target}).one()
    loads = cc.evaluate("window.gridmap.gridLoads")
    cc.fill("#a-grid-q", name)
    cc.wait_for_function(f"window.gridmap.gridLoads > {loads}")
    assert cc.eval_on_selector("#a-grid", "s => s.options[1].value") == target
    cc.select_option("#a-grid", target)
    cc.wait_for_function("document.querySelector('#a-person').options[0].value === ''")  # its worker on duty
    cc.click("#act-submit")  # another grid needs a reason: refused in the dialog
    assert cc.locator("#act-error").is_visible()
    cc.fill("#a-note", "地址属相邻网格")
    cc.screenshot(path=str(output_dir / "loop_console_transfer_zh.png"))
    before = cc.evaluate("window.gridmap.detailLoads")
    cc.click("#act-submit")
    cc.wait_for_function(f"window.gridmap.detailLoads > {before}")
    assert target in cc.inner_text("#cc-facts")
    assert f"改派至网格 {name}" in cc.inner_text("#cc-timeline") and "王调度" in cc.inner_text("#cc-timeline")
    with Session(engine) as s:
        row = s.execute(text("SELECT grid_code, assignee_id, status FROM cases WHERE id = :c"), {"c": ids[1]}).one()
    assert (row.grid_code, row.assignee_id, row.status) == (target, duty, "dispatched")
    assert not cc.errors, cc.errors
