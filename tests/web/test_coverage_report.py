"""The HTML coverage report opens with no network: every request but file:// is blocked and none is made."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def report_file(engine, tmp_path_factory) -> Path:
    from api.coverage import service
    from api.coverage.report import build_report
    from geo.coverage import Tolerances

    with Session(engine) as s:
        lid = s.execute(text("SELECT id FROM grid_layout WHERE status = 'published' ORDER BY id LIMIT 1")).scalar_one()
        row = service.layout_row(s, lid)
        data = service.load_layout(s, layout_id=lid)
    res = service.run(data, Tolerances())
    path = tmp_path_factory.mktemp("report") / "coverage.html"
    path.write_text(build_report(res, layout=row, communities=data.communities, grids=data.grids,
                                 generated_at="2026-11-22 09:00 +0800"), encoding="utf-8")
    return path


def test_the_report_opens_offline_and_draws_every_finding(report_file: Path, new_page, output_dir: Path) -> None:
    page = new_page(locale="zh-CN", width=1440, height=1100)
    left: list[str] = []

    def guard(route) -> None:
        url = route.request.url
        if url.startswith(("file://", "data:", "about:")):
            route.continue_()
        else:
            left.append(url)
            route.abort()

    page.context.route("**/*", guard)
    page.goto(report_file.as_uri())
    page.wait_for_selector('body[data-ready="1"]')
    assert left == [], f"the report tried the network: {left}"
    assert page.errors == []
    assert page.locator("#gm-findings tr[data-n]").count() == 4
    assert page.locator("#gm-count").inner_text() == "4"
    # every finding is drawn: its polygon, or a ring for the small ones
    assert page.locator("path.gm-finding").count() == 4
    assert page.locator("path.gm-finding-ring").count() == 3  # gap, overlap, split building: ringed
    legend = page.locator(".leaflet-container #gm-legend")
    assert legend.is_visible()
    for text_ in ("空白区域 Gap", "交叉重叠 Overlap", "跨网格楼栋 Building split across grids",
                  "超负荷网格 Over-loaded grid"):
        assert text_ in legend.inner_text()
    assert page.evaluate("typeof L") == "object" and page.evaluate("L.version") == "1.9.4"
    page.screenshot(path=str(output_dir / "coverage_report.png"), full_page=True)
    # a table row zooms the map to its finding
    name = page.evaluate('Object.keys(window).find(k => k.startsWith("map_"))')
    zoom = page.evaluate(f"{name}.getZoom()")
    page.locator('#gm-findings tr[data-n="1"]').click()
    page.wait_for_timeout(600)
    assert page.evaluate(f"{name}.getZoom()") > zoom
    page.screenshot(path=str(output_dir / "coverage_report_zoom.png"))
    assert left == []
