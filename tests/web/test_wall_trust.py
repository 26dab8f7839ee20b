"""The wall people can trust (issue 24), in real headless Chromium against the live server: failures shown
(banner, light, greyed "as of" figures, figures of another window cleared) with the API blocked; the heat
layer's toggle, palette and scaling; wall-mode type sizes measured; paged, cycling lists; replay and the case
pin; exports downloaded and opened; the printable report. Screenshots go to tests/output/wall_trust_*.png.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from openpyxl import load_workbook

from tests.web import test_wall
from tests.web.test_wall import WALL_READY, api_get, open_wall, post

keys = test_wall.keys  # the intake key and report spots fixture, shared

pytestmark = pytest.mark.browser

GREY = "rgb(123, 135, 148)"  # .dash.is-stale figures (web/css/wall.css)
RED_DOT = "rgb(239, 68, 68)"
AMBER_DOT = "rgb(245, 158, 11)"


def light(page) -> dict:
    return page.evaluate("""() => ({ state: document.getElementById('live').dataset.state,
        text: document.getElementById('live-text').textContent,
        dot: getComputedStyle(document.querySelector('#live .live__dot')).backgroundColor })""")


def test_failures_are_visible_and_figures_never_sit_under_the_wrong_label(live_server, dispatcher_key, keys,
                                                                           new_page, output_dir):
    page = new_page(locale="zh-CN", width=1920, height=1080)
    open_wall(page, live_server, dispatcher_key)
    # the default window is the last 24 hours, shown as chosen, with its own label
    assert page.locator("#f-window button[data-window='24h']").get_attribute("aria-pressed") == "true"
    assert page.locator("#kpi-new-label").inner_text() == "近24小时新增"
    day = api_get(live_server, dispatcher_key, "wall/summary")
    assert day["window"] == "24h"
    assert page.locator("#kpi-new").get_attribute("data-value") == str(day["totals"]["new"])
    assert light(page)["state"] == "on" and page.locator("#wall-alert").is_hidden()
    open_before = page.locator("#kpi-open").inner_text()

    # the API goes away; the operator clicks 近7天
    page.route("**/api/v1/**", lambda route: route.abort())
    page.locator("#f-window button[data-window='7d']").click()
    page.wait_for_selector("#wall-alert:not([hidden])", timeout=5000)
    assert page.locator("#wall-alert-title").inner_text() == "数据更新失败"
    assert "无法连接" in page.locator("#wall-alert-detail").inner_text() or "网络" in page.locator(
        "#wall-alert-detail").inner_text() or "gridmap" in page.locator("#wall-alert-detail").inner_text()
    lt = light(page)
    assert lt["state"] == "stale" and lt["text"] == "数据未更新" and lt["dot"] == RED_DOT, lt
    # the 24-hour figures are not left under the 7-day button: new and closed and the trend are cleared ...
    assert page.locator("#kpi-new").inner_text() == "–"
    assert page.locator("#kpi-closed").inner_text() == "–"
    assert page.locator("#trend svg").count() == 0
    assert page.locator("#kpi-new-label").inner_text() == "近7天新增"
    # ... the window-independent ones stay, greyed, under "as of hh:mm"
    assert page.locator("#kpi-open").inner_text() == open_before
    assert page.evaluate("getComputedStyle(document.getElementById('kpi-open')).color") == GREY
    asof = page.locator("#dash-asof")
    assert asof.is_visible() and re.fullmatch(r"截至 \d\d:\d\d", asof.inner_text()), asof.inner_text()
    page.screenshot(path=str(output_dir / "wall_trust_api_blocked_zh.png"))

    # back: the retry button brings the 7-day figures and a green light
    page.unroute("**/api/v1/**")
    page.locator("#wall-alert-retry").click()
    page.wait_for_selector("#wall-alert", state="hidden", timeout=10_000)
    page.wait_for_function("document.getElementById('live').dataset.state === 'on'")
    week = api_get(live_server, dispatcher_key, "wall/summary", window="7d")
    assert page.locator("#kpi-new").get_attribute("data-value") == str(week["totals"]["new"])
    assert page.evaluate("getComputedStyle(document.getElementById('kpi-open')).color") != GREY
    assert page.locator("#dash-asof").is_hidden()

    # a refresh that fails with the same filters keeps every figure, greyed, in English too
    page.locator(".topbar .lang-switch__btn[data-lang='en']").click()
    page.wait_for_function("window.gridmap.lang === 'en'")
    page.route("**/api/v1/**", lambda route: route.abort())
    page.evaluate("window.gridmap.wall.refreshAll()")
    page.wait_for_selector("#wall-alert:not([hidden])", timeout=5000)
    assert page.locator("#kpi-new").get_attribute("data-value") == str(week["totals"]["new"])
    assert page.evaluate("getComputedStyle(document.getElementById('kpi-new')).color") == GREY
    assert "Figures on screen are as of" in page.locator("#wall-alert-detail").inner_text()
    assert light(page)["text"] == "Not updating"
    page.screenshot(path=str(output_dir / "wall_trust_api_blocked_en.png"))
    page.unroute("**/api/v1/**")
    page.evaluate("window.gridmap.wall.refreshAll()")
    page.wait_for_function("document.getElementById('live').dataset.state === 'on'", timeout=10_000)

    # a late answer: amber light and a "slow" banner while it is awaited
    held = []
    page.route("**/api/v1/wall/summary*", lambda route: held.append(route))
    page.evaluate("window.gridmap.wall.refreshAll()")
    page.wait_for_function("document.getElementById('live').dataset.state === 'slow'", timeout=9000)
    assert light(page)["dot"] == AMBER_DOT
    assert page.locator("#wall-alert").get_attribute("data-level") == "warn"
    assert held  # the summary request is still unanswered
    page.unroute("**/api/v1/wall/summary*")
    page.evaluate("window.gridmap.wall.refreshAll()")
    page.wait_for_function("document.getElementById('live').dataset.state === 'on'", timeout=10_000)

    # the live stream drops; a report arrives meanwhile; on reconnect the page catches up
    page.route("**/api/v1/wall/stream/ticket", lambda route: route.abort())
    page.evaluate("() => { const w = window.gridmap.wall; w.es.close(); w.es.onerror(new Event('error')); }")
    page.wait_for_function("window.gridmap.live === 'off'")
    assert light(page)["state"] == "off"
    assert page.locator("#wall-alert-title").inner_text() == "Live feed interrupted"
    missed = post(live_server, keys["intake"], keys["spots"][3])
    page.unroute("**/api/v1/wall/stream/ticket")
    page.wait_for_function("window.gridmap.live === 'on'", timeout=15_000)
    page.wait_for_function(f"window.gridmap.pulses.some((p) => p.id === {missed['id']})", timeout=10_000)
    page.wait_for_function("window.gridmap.reconnects >= 1")
    page.wait_for_selector("#wall-alert", state="hidden")
    assert page.errors == []


def test_heat_layer_toggles_has_its_own_palette_and_scales_to_the_window(live_server, dispatcher_key, new_page,
                                                                          output_dir):
    page = new_page(locale="zh-CN", width=1920, height=1080)
    open_wall(page, live_server, dispatcher_key)
    page.locator(".leaflet-control-layers").hover()
    box = page.locator(".leaflet-control-layers-overlays label", has_text="案件热力").locator("input")
    assert box.is_enabled() and box.is_checked()
    box.uncheck()
    assert page.locator("canvas.leaflet-heatmap-layer").count() == 0
    assert page.locator("#heat-legend").is_hidden() and page.locator("#heat-info").is_hidden()
    box.check()
    assert page.locator("canvas.leaflet-heatmap-layer").count() == 1
    assert page.locator("#heat-legend").is_visible()

    # palettes: heat hues are violet/magenta, every choropleth colour is elsewhere on the wheel
    hues = page.evaluate("""async () => {
        const { HEAT_GRADIENT } = await import('/js/heat.js');
        const hue = (c) => { const el = document.createElement('i'); el.style.color = c; document.body.append(el);
            const [r, g, b] = getComputedStyle(el).color.match(/\\d+/g).map(Number).map((v) => v / 255); el.remove();
            const mx = Math.max(r, g, b), mn = Math.min(r, g, b), d = mx - mn; if (!d) return null;
            let h = mx === r ? ((g - b) / d) % 6 : mx === g ? (b - r) / d + 2 : (r - g) / d + 4;
            return { h: (h * 60 + 360) % 360, s: d }; };
        const css = getComputedStyle(document.documentElement);
        const choro = ['--c1', '--c2', '--c3', '--c4', '--under', '--within', '--over']
            .map((v) => hue(css.getPropertyValue(v).trim()));
        return { heat: Object.values(HEAT_GRADIENT).map(hue), choro }; }""")
    for c in hues["heat"]:
        assert c is None or c["s"] < 0.05 or 255 <= c["h"] <= 300, hues
    for c in hues["choro"]:
        assert not (250 <= c["h"] <= 310), hues

    def saturation() -> dict:
        return page.evaluate("""() => {
            const c = document.querySelector('canvas.leaflet-heatmap-layer');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let painted = 0, full = 0, all = 0;
            for (let i = 3; i < d.length; i += 4 * 4) { all++; if (d[i] > 8) painted++; if (d[i] > 230) full++; }
            return { painted: painted / all, full: full / Math.max(painted, 1) }; }""")

    for window in ("24h", "7d", "30d"):
        page.locator(f"#f-window button[data-window='{window}']").click()
        page.wait_for_selector(WALL_READY)
        page.wait_for_timeout(400)
        sat = saturation()
        print(f"\nheat {window}: painted {sat['painted']:.1%} of the map, full colour {sat['full']:.1%} of that")
        # hotspots, not a district drowned in one colour: under a third of the map painted, a small top share
        assert sat["painted"] < 0.35 and sat["full"] < 0.25, (window, sat)
        assert re.search(r"按本时段最热处 [\d,]+ 件着色", page.locator("#heat-info").inner_text())
        if window == "30d":
            page.screenshot(path=str(output_dir / "wall_trust_heat_30d_zh.png"))
    assert page.errors == []


def test_wall_mode_is_legible_lists_page_themselves_and_labels_do_not_collide(live_server, dispatcher_key,
                                                                            new_page, output_dir):
    for lang in ("zh-CN", "en"):
        page = new_page(locale=lang, width=1920, height=1080)
        open_wall(page, live_server, dispatcher_key)
        page.locator("#wall-toggle").click()
        page.wait_for_function("document.body.classList.contains('wall')")
        page.wait_for_timeout(500)
        sizes = page.evaluate("""() => {
            // the computed size is the rendered one: nothing on the wall is scaled by a CSS transform
            const scaled = [...document.querySelectorAll('#dash, #legend, .gm-label')]
                .some((el) => getComputedStyle(el).transform !== 'none' && !el.classList.contains('gm-label'));
            const min = (sel) => { const px = [...document.querySelectorAll(sel)].filter((el) => el.offsetParent
                && el.textContent.trim()).map((el) => parseFloat(getComputedStyle(el).fontSize));
                return px.length ? Math.min(...px) : null; };
            if (scaled) return { scaled };
            return { cases: min('#overdue-list .case span, #escalated-list .case span'),
                     ranks: min('#top-grids .rank__name, #top-grids .rank__n'),
                     legend: min('#legend li, #legend .legend__title, #legend .legend__heat span'),
                     kpiLabels: min('.kpi-tile__label'), kpis: min('.kpi-tile__value'),
                     labels: min('.gm-label:not(.is-hidden) .gm-label__text'),
                     titles: min('.dash__title') }; }""")
        print(f"\nwall mode {lang}: smallest rendered text (px) {sizes}")
        for key in ("cases", "ranks", "legend", "kpiLabels", "titles"):
            assert sizes[key] is not None and sizes[key] >= 20, (key, sizes)
        assert sizes["kpis"] >= 40 and (sizes["labels"] is None or sizes["labels"] >= 18), sizes

        # overdue reads in days and hours
        late = page.locator("#overdue-list .case__late").first.inner_text()
        pattern = r"超期 \d+ 天 \d+ 小时|超期 \d+ 小时" if lang == "zh-CN" else r"\d+ d \d+ h overdue|\d+ h overdue"
        assert re.fullmatch(pattern, late), late
        # names are never cut: no element of the lists hides an overflowing end
        cut = page.evaluate("""() => [...document.querySelectorAll(
                '.case span, .rank__name, .ticker__where, .kpi-tile__value, .kpi-tile__label')]
            .filter((el) => el.scrollWidth > el.clientWidth + 1 || getComputedStyle(el).textOverflow === 'ellipsis')
            .map((el) => el.textContent)""")
        assert cut == [], cut

        # all overdue cases are reachable: pages, and in wall mode they turn by themselves
        total = int(page.locator("#overdue-list-count").inner_text().replace(",", ""))
        if total > 5:
            pager = page.locator("#overdue-page").inner_text()
            pages = -(-total // 5)
            assert pager == (f"第 1/{pages:,} 页" if lang == "zh-CN" else f"Page 1 of {pages:,}"), pager
            first = page.locator("#overdue-list .case").first.get_attribute("data-case")
            page.wait_for_function("document.getElementById('overdue-list').dataset.page === '1'", timeout=12_000)
            assert page.locator("#overdue-list .case").first.get_attribute("data-case") != first
            api_page = api_get(live_server, dispatcher_key, "wall/lists/overdue", limit=5, offset=5)
            assert [int(x) for x in page.locator("#overdue-list .case").evaluate_all(
                "els => els.map((e) => e.dataset.case)")] == [r["id"] for r in api_page["items"]]

        # map labels: the shown ones never overlap
        overlaps = page.evaluate("""() => {
            const r = [...document.querySelectorAll('.gm-label:not(.is-hidden) .gm-label__text')]
                .map((el) => el.getBoundingClientRect()).filter((b) => b.width > 0);
            let n = 0;
            for (let i = 0; i < r.length; i++) for (let j = i + 1; j < r.length; j++) {
                const a = r[i], b = r[j];
                if (a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1) n++;
            }
            return { n, shown: r.length }; }""")
        assert overlaps["n"] == 0, overlaps
        page.screenshot(path=str(output_dir / f"wall_trust_wall_mode_{'zh' if lang == 'zh-CN' else 'en'}.png"))
        assert page.errors == []


def test_replay_says_what_the_panel_shows_and_a_case_has_its_pin(live_server, dispatcher_key, new_page, output_dir):
    page = new_page(locale="zh-CN", width=1920, height=1080)
    open_wall(page, live_server, dispatcher_key)
    yesterday = (datetime.now(ZoneInfo("Asia/Shanghai")) - timedelta(days=1)).date().isoformat()
    page.fill("#replay-day", yesterday)
    page.dispatch_event("#replay-day", "change")
    page.wait_for_function("window.gridmap.replay && window.gridmap.replay.total > 0")
    page.locator("#replay-slider").fill("720")
    page.dispatch_event("#replay-slider", "input")
    page.wait_for_function("window.gridmap.replay && window.gridmap.replay.minute === 720")
    assert page.locator("#dash-replay").is_visible() and page.evaluate("window.gridmap.replay.shown") > 0
    assert "看板仍为实时数据" in page.locator("#dash-replay").inner_text()
    shown = page.evaluate("window.gridmap.replay.shown")
    assert page.locator("#heat-info").inner_text().startswith(f"回放 12:00：已上报 {shown:,} 件")
    assert light(page)["state"] == "replay"
    page.screenshot(path=str(output_dir / "wall_trust_replay_zh.png"))

    # a case opened while replaying: pinned where it was reported, its grid above the replay bar
    page.locator("#overdue-list button").first.click()
    page.locator("#panel[data-kind='case'] .events li").first.wait_for()
    pin = page.evaluate("window.gridmap.casePin")
    case = api_get(live_server, dispatcher_key, f"wall/cases/{pin['id']}")
    assert (pin["lat"], pin["lon"]) == (case["lat"], case["lon"])
    page.wait_for_timeout(900)  # the fly-to
    geom = page.evaluate("""() => { const pin = document.querySelector('.gm-case-pin').getBoundingClientRect();
        const bar = document.getElementById('replay').getBoundingClientRect();
        const sel = [...document.querySelectorAll('path.gm-grid.is-selected')].map((p) => p.getBoundingClientRect());
        return { pinBottom: pin.bottom, barTop: bar.top, gridBottom: Math.max(...sel.map((b) => b.bottom)) }; }""")
    assert geom["pinBottom"] < geom["barTop"] and geom["gridBottom"] < geom["barTop"], geom
    # timeline notes in the page's language, never gridmap's stored English
    text = page.locator("#panel").inner_text()
    assert "imported report" not in text and "received from" not in text, text
    codes = page.locator("#panel .events [data-note-code]").evaluate_all("els => els.map((e) => e.textContent)")
    assert codes and all(re.search(r"[\u4e00-\u9fff]", c) for c in codes), codes
    page.screenshot(path=str(output_dir / "wall_trust_case_pin_zh.png"))
    # the same timeline in English: the codes' English strings, not the stored text passed through
    page.locator(".topbar .lang-switch__btn[data-lang='en']").click()
    page.wait_for_function("window.gridmap.lang === 'en'")
    notes = page.locator("#panel .events [data-note-code]").evaluate_all(
        "els => els.map((e) => [e.dataset.noteCode, e.textContent])")
    english = {"imported": "Imported report", "received": "Received from "}
    assert notes and all(text.startswith(english.get(code, "")) and not re.search(r"[\u4e00-\u9fff]", text)
                         for code, text in notes), notes
    page.screenshot(path=str(output_dir / "wall_trust_case_pin_en.png"))
    page.locator("#panel-close").click()
    assert page.locator(".gm-case-pin").count() == 0
    page.locator("#replay-exit").click()
    assert page.locator("#dash-replay").is_hidden()
    assert page.errors == []


def _header(rows: list[list]) -> dict[str, str]:
    return {str(r[0]): str(r[1]) for r in rows[1:6] if r and len(r) > 1}


def test_exports_download_and_open_and_the_report_prints(live_server, dispatcher_key, new_page, output_dir):
    page = new_page(locale="zh-CN", width=1920, height=1080)
    open_wall(page, live_server, dispatcher_key)
    total = api_get(live_server, dispatcher_key, "wall/summary")["totals"]["overdue"]

    with page.expect_download() as dl:
        page.locator("[data-export='overdue'][data-format='csv']").click()
    path = dl.value.path()
    raw = open(path, "rb").read()
    assert raw.startswith(b"\xef\xbb\xbf"), raw[:10]  # Excel opens the Chinese right
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == ["超期案件清单"]
    head = _header(rows)
    assert head["时间范围"].startswith("近24小时: ") and head["类别"] == "全部" and head["状态"] == "全部"
    titles = rows[7]
    assert titles[:4] == ["案件编号", "类别编码", "类别", "状态"]
    body = rows[8:]
    assert len(body) == total and all(re.fullmatch(r"超期 (\d+ 天 )?\d+ 小时", r[9]) for r in body)

    # the filtered cases, as XLSX, in English: the filters are written in the file
    page.locator(".topbar .lang-switch__btn[data-lang='en']").click()
    page.wait_for_function("window.gridmap.lang === 'en'")
    page.select_option("#f-source", "hotline_12345")
    page.wait_for_selector(WALL_READY)
    with page.expect_download() as dl:
        page.locator("[data-export='cases'][data-format='xlsx']").click()
    assert dl.value.suggested_filename.endswith(".xlsx")
    ws = load_workbook(io.BytesIO(open(dl.value.path(), "rb").read())).active
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    assert rows[0][0] == "Cases (filtered)"
    head = _header(rows)
    assert head["Source"] == "12345 hotline" and head["Time window"].startswith("24 hours: ")
    body = [r for r in rows[8:] if r[0] is not None]
    expected = api_get(live_server, dispatcher_key, "wall/lists/cases", source="hotline_12345", limit=1)["total"]
    assert len(body) == expected and all(r[6] == "12345 hotline" for r in body)

    # the printable report, both languages, as a page and as a PDF
    for lang in ("zh-CN", "en"):
        rep = new_page(locale=lang, width=1280, height=1600)
        # a fixed shift (a rolling window moves between the page's request and this one)
        end = datetime.now(ZoneInfo("Asia/Shanghai")).replace(second=0, microsecond=0, tzinfo=None)
        shift = {"window": "custom", "since": (end - timedelta(hours=24)).isoformat(), "until": end.isoformat()}
        rep.goto(f"{live_server}/report.html?window=custom&since={shift['since']}&until={shift['until']}"
                 f"&lang={lang}#key={dispatcher_key}")
        rep.wait_for_selector('body[data-ready="1"]', timeout=30_000)
        s = api_get(live_server, dispatcher_key, "wall/summary", **shift)
        kpis = rep.locator("#rep-kpis dd").all_inner_texts()
        assert [int(k.replace(",", "")) for k in kpis] == [s["totals"][k] for k in
                                                            ("new", "open", "overdue", "escalated", "closed")]
        assert rep.locator("#rep-map path[data-code]").count() > 500
        assert rep.locator("#rep-trend svg").count() == 1
        assert rep.locator("#rep-overdue tbody tr").count() == min(50, s["totals"]["overdue"])
        assert rep.locator("#rep-top tbody tr").count() == min(10, len(s["top_grids"]))
        title = rep.locator(".rep-title").inner_text()
        assert title == ("网格化治理值班报告" if lang == "zh-CN" else "Grid governance shift report")
        tag = "zh" if lang == "zh-CN" else "en"
        rep.screenshot(path=str(output_dir / f"wall_trust_report_{tag}.png"), full_page=True)
        rep.emulate_media(media="print")
        assert rep.locator("#rep-print").is_hidden()
        rep.set_viewport_size({"width": 794, "height": 1123})  # A4 at 96 dpi: how the printed page lays out
        rep.screenshot(path=str(output_dir / f"wall_trust_report_{tag}_print.png"))
        pdf = rep.pdf(path=str(output_dir / f"wall_trust_report_{tag}.pdf"), format="A4")
        assert pdf.startswith(b"%PDF") and len(pdf) > 20_000
        assert rep.errors == []
    assert page.errors == []


def test_the_export_refuses_an_unknown_list(live_server, dispatcher_key):
    r = httpx.get(f"{live_server}/api/v1/wall/export/everything.csv",
                  headers={"Authorization": f"Bearer {dispatcher_key}"})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
