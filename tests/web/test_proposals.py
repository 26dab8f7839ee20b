"""Proposed layouts in the planner page (issue 20), in real headless Chromium: a draft copied from the layout in
force, three alternatives for the sample's overloaded community shown side by side with their scores, one
previewed on the map and applied as one edit (the draft's revision moves by one, the 921-household grid is
gone), then undone with the page's Undo button. Screenshots in tests/output/proposals/."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.web.test_planner import _api, _open, planner_key, restore_layouts  # noqa: F401 - fixtures

pytestmark = pytest.mark.browser
COMMUNITY = "110101015001"


def test_alternatives_side_by_side_apply_and_undo(new_page, live_server: str, planner_key: str,  # noqa: F811
                                                  restore_layouts: None, output_dir: Path) -> None:  # noqa: F811
    out = output_dir / "proposals"
    out.mkdir(parents=True, exist_ok=True)
    draft = _api(live_server, planner_key, "POST", "layouts", json={"name": "proposals page test"}).json()["id"]
    page = _open(new_page, live_server, planner_key, locale="zh-CN", query=f"?layout={draft}")
    page.wait_for_function(f"window.gridmap.layoutId === {draft} && window.gridmap.status === 'draft'",
                           timeout=60_000)
    page.click("#tab-proposals")
    page.fill("#pp-community", COMMUNITY)
    page.click("#pp-submit")
    page.wait_for_function("window.gridmap.proposals && window.gridmap.proposals.proposals.length === 3",
                           timeout=120_000)
    cards = page.locator(".pp-card")
    assert cards.count() == 3
    boxes = [cards.nth(i).bounding_box() for i in range(3)]
    assert boxes[0]["y"] == boxes[1]["y"] == boxes[2]["y"] and boxes[0]["x"] < boxes[1]["x"] < boxes[2]["x"]
    assert page.locator(".pp-card .pp-thumb path").count() >= 6
    assert "现状" in page.locator(".pp-now").inner_text() and "921" in page.locator(".pp-now").inner_text()
    page.click("[data-preview='0']")
    page.wait_for_function("window.gridmap.proposalPreview === 0")
    # the form, the alternatives and their buttons all within the side panel: nothing scrolled off or cut on the left
    side = page.locator(".pl-side").bounding_box()
    form = page.locator("#pp-form").bounding_box()
    assert page.evaluate("(s => s.scrollWidth <= s.clientWidth && s.scrollLeft === 0)"
                         "(document.querySelector('.pl-side'))")
    assert side["x"] < form["x"] and form["x"] + form["width"] < side["x"] + side["width"]
    assert form["x"] == boxes[0]["x"] or abs(form["x"] - boxes[0]["x"]) < 1  # aligned with the cards
    assert form["y"] >= page.locator(".pl-tabs").bounding_box()["y"] + 40, "the form is not under the tabs"
    # Under load Chromium rasters the page in 256 px tiles as it can: a viewport screenshot may catch tiles not yet
    # painted (blank rectangles over the form and cards, or the map). full_page captures beyond the viewport, which
    # paints the whole page for the capture.
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(500)
    page.screenshot(path=str(out / "alternatives.png"), full_page=True)
    page.click(".lang-switch__btn[data-lang='en']")
    page.wait_for_function("window.gridmap.lang === 'en'")
    assert page.locator(".pp-card").first.locator("header").inner_text() == "Alternative 1"
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(1500)  # the map repaints its labels in the new language (slow on a loaded machine)
    page.evaluate("new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")
    page.screenshot(path=str(out / "alternatives_en.png"), full_page=True)
    # the 15-minute walk along the roads for the same community: network method, isochrones on the map
    page.fill("#wk-per", "kindergarten:5")
    page.click("#wk-run")
    page.wait_for_function("window.gridmap.walk && window.gridmap.walk.kinds.length > 0", timeout=120_000)
    assert page.locator("#wk-method").inner_text() == "Method: walking distance along the roads."
    assert page.locator(".wk-table tbody tr").count() == len(page.evaluate("window.gridmap.walk.kinds"))
    page.select_option("#wk-kind", "clinic")
    page.wait_for_timeout(500)
    page.screenshot(path=str(out / "walk_en.png"))

    page.click(".pp-card [data-apply]")
    page.wait_for_function("window.gridmap.proposalApplied === 1 && window.gridmap.revision === 1", timeout=60_000)
    grids = _api(live_server, planner_key, "GET", f"layouts/{draft}/grids").json()["features"]
    mine = [f["properties"] for f in grids if f["properties"]["code"].startswith(COMMUNITY)]
    assert mine and all(300 <= p["households"] <= 500 for p in mine), mine
    page.screenshot(path=str(out / "applied.png"))
    page.click("#btn-undo")
    page.wait_for_function("window.gridmap.revision === 2", timeout=60_000)
    grids = _api(live_server, planner_key, "GET", f"layouts/{draft}/grids").json()["features"]
    assert any(f["properties"]["households"] == 921 for f in grids if f["properties"]["code"].startswith(COMMUNITY))
