"""The admin page (/admin.html) in real headless Chromium, zh-CN and English, through the UI alone: an admin signs
in with a password, creates a user linked to a person picked by name, resets its password, ends its sessions (the
user's open page is signed out at once), makes a machine key (shown once) and revokes it, pairs a wall screen
with a one-time code typed on the wall (no key in any URL) and revokes it (the wall is signed out), adds a person to
a grid's staff with the people picker, and filters the audit log. Screenshots in tests/output/admin_*.png."""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from tests.web.people import demo, sign_in

pytestmark = pytest.mark.browser


def _me(live_server: str, token: str) -> int:
    return httpx.get(f"{live_server}/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code


def _token(page) -> str:
    return page.evaluate("JSON.parse(localStorage.getItem('gridmap.session')).token")


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_admin_manages_people_keys_screens_and_staff(new_page, live_server: str, output_dir: Path, engine: Engine,
                                                     locale: str) -> None:
    lang = "zh" if locale == "zh-CN" else "en"
    tag = secrets.token_hex(3)
    with Session(engine) as s:
        person = s.execute(text("""SELECT name, grid_code FROM person WHERE role = 'grid_worker' AND active
                                   AND length(name) = 3 ORDER BY id DESC LIMIT 1 OFFSET :o"""),
                           {"o": 0 if lang == "zh" else 1}).one()
        other_grid = s.execute(text("SELECT code FROM grid WHERE code <> :g ORDER BY code DESC LIMIT 1"),
                               {"g": person.grid_code}).scalar()

    ad = new_page(locale=locale)
    ad.goto(f"{live_server}/admin.html")
    sign_in(ad, "admin")
    ad.wait_for_function("window.gridmap.ready === true")
    assert "gm_" not in ad.inner_text("[data-testid=chrome-user]")

    # ---- a user linked to a person picked by name -------------------------------------------------------
    username = f"t-{lang}-{tag}"
    ad.fill("#u-username", username)
    ad.fill("#u-display", f"测试 {tag}")
    roles = ad.eval_on_selector_all("#u-role option", "os => os.map(o => o.value)")
    assert "planner" in roles and "admin" in roles  # from the API's schema
    ad.select_option("#u-role", "planner")
    ad.fill("#u-password", "first-password-123")
    ad.fill("#u-person input", person.name[:2])
    ad.wait_for_selector(f"#u-person li:has-text('{person.name}')")
    ad.click(f"#u-person li:has-text('{person.name}')")
    ad.click("#user-form button[type=submit]")
    row = ad.locator(f"#users tr[data-user='{username}']")
    row.wait_for()
    row.locator("td").nth(3).filter(has_text=person.name).wait_for()
    shot = output_dir / f"admin_users_{lang}.png"
    ad.screenshot(path=str(shot))

    # The user signs in elsewhere; the admin resets the password (the old one stops working) ...
    other = new_page(locale=locale)
    other.goto(f"{live_server}/planner.html")
    other.wait_for_selector("#signin[open]")
    other.fill("#signin-username", username)
    other.fill("#signin-password", "first-password-123")
    other.click("#signin-submit")
    other.wait_for_function("localStorage.getItem('gridmap.session') !== null")
    token = _token(other)
    assert _me(live_server, token) == 200
    # ... and ends the sessions: the token is refused at once.
    row.locator("[data-act=sessions]").click()
    ad.locator("#ui-toast", has_text=f"测试 {tag}").wait_for()
    assert _me(live_server, token) == 401
    ad.once("dialog", lambda d: d.accept("second-password-456"))
    with ad.expect_response(lambda r: r.request.method == "PATCH" and "/users/" in r.url):
        row.locator("[data-act=password]").click()
    r = httpx.post(f"{live_server}/api/v1/auth/token", data={"username": username, "password": "first-password-123"})
    assert r.status_code == 401
    r = httpx.post(f"{live_server}/api/v1/auth/token", data={"username": username, "password": "second-password-456"})
    assert r.status_code == 200
    row.locator("[data-act=active]").click()
    ad.locator(f"#users tr.is-inactive[data-user='{username}']").wait_for()
    assert httpx.post(f"{live_server}/api/v1/auth/token",
                      data={"username": username, "password": "second-password-456"}).status_code == 401

    # ---- a machine key: shown once, revoked at once ---------------------------------------------------
    ad.click(".ad-tab[data-tab=keys]")
    ad.fill("#key-name", f"hotline {tag}")
    ad.select_option("#key-role", "intake")
    ad.click("#key-form button[type=submit]")
    key = ad.locator("[data-testid=new-key]").inner_text()
    assert key.startswith("gm_") and _me(live_server, key) == 200
    ad.screenshot(path=str(output_dir / f"admin_keys_{lang}.png"))
    ad.locator(f"#keys tr[data-key='hotline {tag}'] [data-act=revoke]").click()
    ad.locator(f"#keys tr.is-inactive[data-key='hotline {tag}']").wait_for()
    assert _me(live_server, key) == 401

    # ---- a wall screen paired with a one-time code --------------------------------------------------------
    ad.click(".ad-tab[data-tab=kiosks]")
    ad.fill("#k-name", f"大屏 {tag}")
    ad.click("#kiosk-form button[type=submit]")
    code = ad.locator("[data-testid=pairing-code]").inner_text()
    ad.screenshot(path=str(output_dir / f"admin_kiosks_{lang}.png"))
    wall = new_page(locale=locale)
    wall.goto(f"{live_server}/")
    wall.wait_for_selector("#signin[open]")
    wall.click("#signin-mode")
    wall.fill("#signin-code", code)
    wall.click("#signin-submit")
    wall.wait_for_selector('body[data-ready="1"]', timeout=60_000)
    assert code not in wall.url and "key=" not in wall.url
    assert wall.locator("#chrome-signout").count() == 0, "a wall screen has no sign-out for passers-by"
    wall.screenshot(path=str(output_dir / f"admin_paired_wall_{lang}.png"))
    kiosk_token = _token(wall)
    assert _me(live_server, kiosk_token) == 200
    # The code was spent: it pairs no second screen.
    assert httpx.post(f"{live_server}/api/v1/auth/kiosk", json={"code": code}).status_code == 401
    # A viewer writes nothing.
    assert httpx.post(f"{live_server}/api/v1/cases/1/transitions", json={"to": "registered"},
                      headers={"Authorization": f"Bearer {kiosk_token}"}).status_code == 403
    ad.locator(f"#kiosks tr[data-kiosk='大屏 {tag}'] [data-act=revoke]").click()
    ad.locator(f"#kiosks tr.is-inactive[data-kiosk='大屏 {tag}']").wait_for()
    assert _me(live_server, kiosk_token) == 401

    # ---- grid staff with a people picker ---------------------------------------------------------------
    ad.click(".ad-tab[data-tab=staff]")
    ad.fill("#s-grid", other_grid)
    ad.wait_for_function("document.querySelector('#s-grid-name').textContent.length > 0")
    ad.fill("#s-person input", person.name)
    ad.click(f"#s-person li:has-text('{person.name}')")
    ad.click("#s-add")
    ad.locator(f"#staff tr[data-person='{person.name}']").wait_for()
    ad.screenshot(path=str(output_dir / f"admin_staff_{lang}.png"))
    with Session(engine) as s:
        assert s.execute(text("SELECT grid_code FROM person WHERE name = :n AND active ORDER BY id DESC LIMIT 1"),
                         {"n": person.name}).scalar() == other_grid

    # ---- the audit log, filtered ------------------------------------------------------------------------
    ad.click(".ad-tab[data-tab=audit]")
    ad.fill("#a-path", "/api/v1/kiosks")
    ad.wait_for_function("(rows => rows.length > 0 && rows.every(r => r.textContent.includes('/kiosks')))"
                         "([...document.querySelectorAll('#audit tbody tr')])")
    assert f"user:{demo('admin')[0]}" in ad.inner_text("#audit")
    ad.screenshot(path=str(output_dir / f"admin_audit_{lang}.png"))
    assert not ad.errors and not wall.errors, ad.errors + wall.errors
