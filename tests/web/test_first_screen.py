"""Browser test of the first web screen (web/index.html) against the real app.

Needs the ``live_server`` (base URL of a uvicorn serving the app on the seeded test
database) and ``dispatcher_key`` fixtures from tests/conftest.py, and Debian's Chromium
(see tests/web/conftest.py). Screenshots go to tests/output/ (git-ignored).
"""

import re

import httpx
import pytest

pytestmark = pytest.mark.browser

READY = 'body[data-ready="1"]'
CJK = re.compile(r"[\u3400-\u9fff]")


def expected_grid_count(base_url: str, key: str) -> int:
    """Number of grids in the layout in force, as the API reports it."""
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        resp = client.get("/api/v1/grids")
        resp.raise_for_status()
        body = resp.json()
        if isinstance(body.get("numberMatched"), int):
            return body["numberMatched"]
        count = len(body["features"])
        while nxt := next((link["href"] for link in body.get("links", []) if link.get("rel") == "next"), None):
            body = client.get(nxt).raise_for_status().json()
            count += len(body["features"])
        return count


def find_grid_on_screen(page) -> dict:
    """A screen point where a grid path (not a control or card) is on top, and that grid's code."""
    hit = page.evaluate(
        """() => {
          const r = document.getElementById('map').getBoundingClientRect();
          for (let ring = 0; ring <= 10; ring++) {
            for (let k = 0; k < Math.max(1, ring * 8); k++) {
              const a = (2 * Math.PI * k) / Math.max(1, ring * 8);
              const x = r.left + r.width / 2 + Math.cos(a) * ring * r.width / 24;
              const y = r.top + r.height / 2 + Math.sin(a) * ring * r.height / 24;
              const el = document.elementFromPoint(x, y);
              if (el && el.matches('path.gm-grid') && el.dataset.code) return {x, y, code: el.dataset.code};
            }
          }
          return null;
        }"""
    )
    assert hit, "no grid polygon found under any probe point of the map"
    return hit


def test_first_screen_draws_grids_and_switches_language(live_server, dispatcher_key, new_page, output_dir):
    expected = expected_grid_count(live_server, dispatcher_key)
    assert expected > 0, "the seeded test database should have grids in the layout in force"

    page = new_page(locale="zh-CN")
    page.goto(f"{live_server}/#key={dispatcher_key}")
    page.wait_for_selector(READY, timeout=30_000)

    # the key came in through the fragment and was removed from the address bar
    href = page.evaluate("location.href")
    assert dispatcher_key not in href
    assert "key=" not in href

    hook = page.evaluate("window.gridmap")
    assert hook["lang"] == "zh-CN"
    assert hook["gridCount"] == expected
    assert page.locator("path.gm-grid").count() > 0
    drawn_codes = page.evaluate(
        "new Set([...document.querySelectorAll('path.gm-grid')].map((p) => p.dataset.code)).size"
    )
    assert drawn_codes == expected
    assert page.locator("path.gm-street").count() > 0
    assert page.locator("path.gm-community").count() > 0

    # Chinese UI
    layers = page.locator(".leaflet-control-layers")
    assert layers.get_by_text("街道边界").is_visible()
    assert page.locator("#legend").get_by_text("符合标准", exact=False).is_visible()
    assert page.locator("#layout-badge").is_visible()
    assert not page.locator("#signin").is_visible()
    page.screenshot(path=str(output_dir / "first_screen_zh.png"))

    # switch to English: labels change, Chinese UI strings are gone
    page.locator(".topbar .lang-switch__btn[data-lang='en']").click()
    page.wait_for_function("window.gridmap.lang === 'en'")
    assert page.evaluate("document.documentElement.lang") == "en"
    assert layers.get_by_text("Street boundaries").is_visible()
    assert page.get_by_text("街道边界").count() == 0
    assert not CJK.search(page.locator("#legend").inner_text())
    assert not CJK.search(layers.inner_text())
    assert page.evaluate("localStorage.getItem('gridmap.lang')") == "en"

    # click a grid: the side panel shows its details
    hit = find_grid_on_screen(page)
    assert re.fullmatch(r"\d{15}", hit["code"]), hit
    page.mouse.click(hit["x"], hit["y"])
    panel = page.locator("#panel")
    panel.wait_for(state="visible")
    assert page.locator("#panel-code").inner_text().strip() == hit["code"]
    page.locator("#panel [data-count='buildings']").wait_for(state="visible")
    panel_text = panel.inner_text().lower()  # section headings are upper-cased by CSS
    assert "households" in panel_text
    assert "grid staff" in panel_text
    assert page.locator("path.gm-grid.is-selected").get_attribute("data-code") == hit["code"]
    page.wait_for_timeout(900)  # let the zoom-to-grid animation finish, for a clean screenshot
    page.screenshot(path=str(output_dir / "first_screen_en.png"))

    # keyboard-closable
    page.keyboard.press("Escape")
    panel.wait_for(state="hidden")
    assert page.locator("path.gm-grid.is-selected").count() == 0

    assert page.errors == []


def test_sign_in_dialog_without_key(live_server, new_page, output_dir):
    """Nobody signed in: the wall asks for a name and password (never an API key); a wrong password is refused
    in the dialog; the right one gets in, and the sign-in survives a reload (a shift-long session)."""
    page = new_page(locale="zh-CN")
    page.goto(f"{live_server}/")
    dialog = page.locator("#signin")
    dialog.wait_for(state="visible")
    assert ".data/admin-password" in dialog.inner_text()
    assert "API" not in dialog.inner_text() and page.locator("#signin-password").is_visible()
    assert page.evaluate("document.body.dataset.ready") != "1"
    # nothing was drawn without a sign-in
    assert page.locator("path.gm-grid").count() == 0

    # Escape does not dismiss the dialog while nobody is signed in
    page.keyboard.press("Escape")
    assert dialog.is_visible()

    # the dialog is translated too
    dialog.locator(".lang-switch__btn[data-signin-lang='en']").click()
    page.wait_for_function("window.gridmap.lang === 'en'")
    assert "Sign in" in dialog.inner_text()
    # everything but the language switch itself (whose "中文" button is always in Chinese)
    dialog_text = page.evaluate(
        """() => {
          const clone = document.querySelector('#signin').cloneNode(true);
          clone.querySelectorAll('.lang-switch').forEach((el) => el.remove());
          return clone.textContent;
        }"""
    )
    assert not CJK.search(dialog_text)

    # a wrong password is refused (401) and the dialog says so
    page.fill("#signin-username", "demo-dispatcher")
    page.fill("#signin-password", "not-the-password")
    page.press("#signin-password", "Enter")
    page.locator("#signin-error").wait_for(state="visible")
    assert "Wrong user name or password" in page.inner_text("#signin-error")
    assert dialog.is_visible()
    page.screenshot(path=str(output_dir / "first_screen_signin.png"))

    # the right password gets in; the top bar names the person, not a key
    page.fill("#signin-password", "demo-dispatcher-2026")
    page.locator("#signin button[type='submit']").click()
    page.wait_for_selector(READY, timeout=30_000)
    assert not dialog.is_visible()
    assert page.evaluate("window.gridmap.gridCount") > 0
    assert "demo-dispatcher-2026" not in page.evaluate("location.href")
    assert "(demo)" in page.inner_text("[data-testid=chrome-user]") or "演示" in page.inner_text(
        "[data-testid=chrome-user]")
    # a reload keeps the sign-in (localStorage, for the shift); signing out ends it
    page.reload()
    page.wait_for_selector(READY, timeout=30_000)
    assert not dialog.is_visible()
    token = page.evaluate("JSON.parse(localStorage.getItem('gridmap.session')).token")
    page.click("#chrome-signout")
    dialog.wait_for(state="visible")
    assert page.evaluate("localStorage.getItem('gridmap.session')") is None
    import httpx

    r = httpx.get(f"{live_server}/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401, "signing out revokes the token on the server"

    assert page.errors == []


def test_bad_key_in_fragment_shows_sign_in(live_server, new_page):
    page = new_page(locale="en-US")
    page.goto(f"{live_server}/#key=definitely-not-a-key")
    page.locator("#signin-reason.signin__reason--warn").wait_for(state="visible")
    assert page.evaluate("window.gridmap.lang") == "en"
    assert "definitely-not-a-key" not in page.evaluate("location.href")
    assert "invalid" in page.locator("#signin").inner_text()
