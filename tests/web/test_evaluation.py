"""The evaluation page (考核评价, issue 19) in real headless Chromium, one flow per language: a dispatcher signs in,
ranks the streets by satisfaction, drills down street → community → grid → the grid's cases in the console,
exports the XLSX and reads it back with openpyxl against the API, and sees a failed load clear the figures
instead of leaving them as if current. Screenshots in tests/output/evaluation_*.png."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import load_workbook

from tests.web.people import sign_in

pytestmark = pytest.mark.browser
API = """(path) => fetch('/api/v1/' + path, {headers: {Authorization: 'Bearer ' +
    JSON.parse(localStorage.getItem('gridmap.session')).token}}).then(r => r.json())"""


def _loaded(page, before: int) -> None:
    page.wait_for_function(f"window.gridmap.loads > {before} && !document.body.classList.contains('is-loading')")


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_rank_drill_down_and_export(new_page, live_server: str, output_dir: Path, locale: str) -> None:
    lang = "zh" if locale == "zh-CN" else "en"
    page = new_page(locale=locale)
    page.goto(f"{live_server}/evaluation.html")
    sign_in(page, "dispatcher")
    page.wait_for_function("window.gridmap && window.gridmap.loads > 0", timeout=60_000)
    period = page.input_value("#ev-month")
    api = page.evaluate(API, f"evaluation/units?level=street&period={period}")
    assert api["total"]["cases"] > 1000, "the sample's last month is not empty"
    kpi = page.locator("[data-kpi=cases] dd").inner_text().replace(",", "")
    assert kpi == str(api["total"]["cases"])
    assert page.locator("#ev-table tbody tr").count() == len(api["items"]) == 17
    defs = page.locator("#ev-defs").inner_text()
    assert ("满意率" in defs and "基本满意" in defs) if lang == "zh" else ("Satisfaction rate" in defs)

    # rank by satisfaction: the column is marked and read best first
    before = page.evaluate("window.gridmap.loads")
    page.select_option("#ev-sort", "satisfaction_rate")
    _loaded(page, before)
    shown = page.eval_on_selector_all("#ev-table tbody td[data-col=satisfaction_rate]",
                                      "els => els.map(e => parseFloat(e.textContent))")
    assert shown == sorted(shown, reverse=True) and len(shown) == 17
    assert page.locator("#ev-table th.is-sorted").inner_text() == ("满意率" if lang == "zh" else "Satisfaction")
    page.screenshot(path=str(output_dir / f"evaluation_{lang}.png"))

    # drill down: street → community → grid → the grid's cases in the console
    street = page.locator("#ev-table tbody button.ev-drill").first.get_attribute("data-code")
    before = page.evaluate("window.gridmap.loads")
    page.locator("#ev-table tbody button.ev-drill").first.click()
    _loaded(page, before)
    codes = page.eval_on_selector_all("#ev-table tbody tr", "els => els.map(e => e.dataset.code)")
    assert codes and all(c.startswith(street) and len(c) == 12 for c in codes)
    before = page.evaluate("window.gridmap.loads")
    page.locator("#ev-table tbody button.ev-drill").first.click()
    _loaded(page, before)
    grids = page.eval_on_selector_all("#ev-table tbody tr", "els => els.map(e => e.dataset.code)")
    assert grids and all(len(c) == 15 and c.startswith(street) for c in grids)
    assert page.locator("#ev-crumbs button").count() == 2  # 全区 › street › (community)
    page.screenshot(path=str(output_dir / f"evaluation_drill_{lang}.png"))
    link = page.locator("#ev-table tbody a.ev-drill").first.get_attribute("href")
    assert link == f"/console.html?grid={grids[0]}&tab=done"

    # export: the workbook holds the same figure as the API, with the period and the definitions
    within = grids[0][:12]
    api = page.evaluate(API, f"evaluation/units?level=grid&period={period}&within={within}&sort=satisfaction_rate")
    with page.expect_download() as dl:
        page.click("#ev-export")
    path = output_dir / f"evaluation_{lang}.xlsx"
    dl.value.save_as(path)
    wb = load_workbook(path)
    rows = list(wb.worksheets[0].iter_rows(values_only=True))
    assert rows[3][1] == period and rows[2][1] == within
    head = next(i for i, r in enumerate(rows) if r[0] == "排名 Rank")
    col = rows[head].index("满意率 Satisfaction rate")
    first = api["items"][0]
    row = next(r for r in rows[head + 1:] if r[1] == first["code"])
    assert row[col] == first["satisfaction_rate"] and row[0] == first["rank"] == 1
    assert any(r[0] == "满意率 Satisfaction rate" for r in wb["定义 Definitions"].iter_rows(values_only=True))

    # a failed load clears the figures and says so (never an old figure as if current)
    page.route("**/api/v1/evaluation/units*", lambda route: route.fulfill(
        status=503, content_type="application/problem+json",
        body='{"type":"about:blank","title":"Service Unavailable","status":503,"code":"database_unavailable",'
             '"detail":"database down"}'))
    before = page.evaluate("window.gridmap.loads")
    page.select_option("#ev-sort", "score")
    _loaded(page, before)
    assert page.locator("#ev-status").get_attribute("data-kind") == "error"
    assert page.locator("#ev-table tbody tr").count() == 0 and page.locator("[data-kpi]").count() == 0
    assert page.is_disabled("#ev-export")
    page.screenshot(path=str(output_dir / f"evaluation_error_{lang}.png"))
    assert not page.errors, page.errors
