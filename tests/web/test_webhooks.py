"""The admin page's Webhooks section in real headless Chromium (zh-CN, then English): subscribe a URL (the secret is
shown once), see the delivery log with a dead letter, replay it. Screenshots in tests/output/webhooks_*.png."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from tests.web.people import sign_in

pytestmark = pytest.mark.browser


def test_admin_subscribes_reads_the_log_and_replays_a_dead_letter(new_page, live_server: str, output_dir: Path,
                                                                   engine: Engine) -> None:
    url = f"http://127.0.0.1:9/gridmap-{secrets.token_hex(3)}"
    with Session(engine) as s:
        case_id, grid = s.execute(text("SELECT id, grid_code FROM cases WHERE grid_code IS NOT NULL "
                                       "ORDER BY id DESC LIMIT 1")).one()
    page = new_page(locale="zh-CN")
    page.goto(f"{live_server}/admin.html")
    sign_in(page, "admin")
    page.wait_for_function("window.gridmap.ready === true")
    page.click(".ad-tab[data-tab=webhooks]")
    page.wait_for_selector("#webhook-form input[name=wh-type][value='case.overdue']")
    page.fill("input[name=wh-url]", url)
    page.fill("input[name=wh-grids]", grid)
    page.check("input[name=wh-type][value='case.overdue']")
    page.click("#webhook-form button[type=submit]")
    secret = page.wait_for_selector("[data-testid=webhook-secret] code").inner_text()
    assert re.fullmatch(r"[0-9a-f]{64}", secret)
    try:
        with Session(engine) as s:
            sub = s.execute(text("SELECT id, event_types, grids FROM webhook_subscription WHERE url = :u"),
                            {"u": url}).one()
            assert sorted(sub.event_types) == ["case.overdue", "case.transitioned", "report.created"]
            assert sub.grids == [grid]
            event = s.execute(text("""INSERT INTO webhook_event (type, case_id, grid_code, payload)
                                      VALUES ('case.overdue', :c, :g, '{}') RETURNING id"""),
                              {"c": case_id, "g": grid}).scalar_one()
            s.execute(text("""UPDATE webhook_delivery SET status = 'dead', attempts = 12, last_error =
                              'ClientConnectorError: Cannot connect to host 127.0.0.1:9' WHERE event_id = :e"""),
                      {"e": event})
            s.commit()
        page.click(".ad-tab[data-tab=webhooks]")  # the section reloads
        row = page.locator(f"#webhooks tr[data-sub='{sub.id}']")
        row.locator("[data-testid=dead-count]", has_text="失败 1").wait_for()
        row.locator("[data-act=log]").click()
        dead = page.locator("#webhook-log tr.wh-deadrow")
        dead.wait_for()
        assert "Cannot connect" in dead.inner_text() and "案件超期" in dead.inner_text()
        assert page.is_visible("[data-testid=webhook-secret]")  # still shown until the page is left
        page.screenshot(path=str(output_dir / "webhooks_zh.png"), full_page=True)
        dead.locator("[data-act=replay-one]").click()
        page.locator("#webhook-log tr", has_text="待投递").first.wait_for()
        with Session(engine) as s:
            assert s.execute(text("SELECT status, attempts FROM webhook_delivery WHERE event_id = :e"),
                             {"e": event}).one() == ("pending", 0)
        page.click("#chrome [data-lang=en]")
        page.locator("#webhook-log h2", has_text="Delivery log").wait_for()
        page.locator("#webhook-log tr", has_text="pending").first.wait_for()
        page.screenshot(path=str(output_dir / "webhooks_en.png"), full_page=True)
    finally:
        with Session(engine) as s:
            ids = s.execute(text("DELETE FROM webhook_subscription WHERE url = :u RETURNING id"), {"u": url}).all()
            s.execute(text("DELETE FROM webhook_event e WHERE NOT EXISTS "
                           "(SELECT 1 FROM webhook_delivery d WHERE d.event_id = e.id)"))
            s.commit()
            assert ids
