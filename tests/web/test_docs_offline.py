"""/api/docs (Swagger UI) and /redoc (ReDoc) render in Chromium with every other host unreachable: their
scripts, styles and fonts are gridmap's own (web/vendor/), as an intranet without internet needs; and each draws
every operation of the document (walked one by one, not counted).
Screenshots: tests/output/docs_swagger.png, docs_swagger_operations.png, docs_redoc.png."""

from __future__ import annotations

from urllib.parse import urlparse

import httpx
import pytest

pytestmark = pytest.mark.browser
METHODS = ("get", "put", "post", "delete", "patch")


def operations(base: str) -> set[tuple[str, str]]:
    """(method, path) of every operation in the served OpenAPI document."""
    doc = httpx.get(f"{base}/api/v1/openapi.json", timeout=30).json()
    return {(m, path) for path, ops in doc["paths"].items() for m in ops if m in METHODS}


def offline(page, base: str) -> list[str]:
    """Abort every request to a host other than the live server's; return the list of those attempted."""
    own = urlparse(base).netloc
    foreign: list[str] = []

    def handle(route):
        if urlparse(route.request.url).netloc == own or route.request.url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            foreign.append(route.request.url)
            route.abort()

    page.route("**/*", handle)
    return foreign


def swagger_operations(page) -> set[tuple[str, str]]:
    """Every operation Swagger UI draws, read while scrolling the page from top to bottom.

    From 150 tags and operations on (we have more), Swagger UI 5 draws the list *virtualised*: only the rows near
    the viewport are in the DOM (its ``components_operations``: ``L.length >= 150``), so counting ``.opblock``
    elements sees a screenful, never the document. Each step scrolls three quarters of the viewport and waits two
    animation frames, the time the virtualiser takes to draw the rows now in view."""
    seen: set[tuple[str, str]] = set()
    page.evaluate("window.scrollTo(0, 0)")
    while True:
        # A deprecated operation's path carries its own class (`opblock-summary-path__deprecated`).
        seen |= {tuple(op) for op in page.evaluate("""() => [...document.querySelectorAll('.swagger-ui .opblock')]
            .map(b => [b.querySelector('.opblock-summary-method').innerText.toLowerCase(),
                       b.querySelector('.opblock-summary-path, .opblock-summary-path__deprecated').dataset.path])""")}
        if page.evaluate("window.scrollY + window.innerHeight >= document.documentElement.scrollHeight - 2"):
            return seen
        page.evaluate("window.scrollBy(0, window.innerHeight * 0.75)")
        page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")


def test_swagger_ui_renders_offline(live_server, new_page, output_dir):
    page = new_page(locale="en", width=1440, height=1000)
    foreign = offline(page, live_server)
    page.goto(f"{live_server}/api/docs")
    page.wait_for_selector(".swagger-ui .opblock", timeout=30_000)
    page.screenshot(path=str(output_dir / "docs_swagger.png"))
    missing = operations(live_server) - swagger_operations(page)
    assert not missing, f"Swagger UI does not draw {sorted(missing)}"
    page.evaluate("window.scrollTo(0, 0)")
    page.locator(".swagger-ui .opblock-tag").first.evaluate("tag => window.scrollTo(0, tag.offsetTop - 20)")
    page.wait_for_selector(".swagger-ui .opblock")
    page.screenshot(path=str(output_dir / "docs_swagger_operations.png"))
    assert page.evaluate("ui.errSelectors.allErrors().size") == 0  # Swagger UI's own error store (the page's const)
    info = page.locator(".swagger-ui .info").inner_text()
    assert "Authentication" in info and "problem+json" in info and "Idempotency-Key" in info
    assert page.locator(".swagger-ui .info table td code", has_text="invalid_parameter").count() == 1
    assert foreign == [] and page.errors == []


def test_redoc_renders_offline(live_server, new_page, output_dir):
    page = new_page(locale="en", width=1440, height=1000)
    foreign = offline(page, live_server)
    page.goto(f"{live_server}/redoc")
    page.wait_for_selector("text=Coordinates", timeout=60_000)
    page.wait_for_selector("[role=menuitem], .menu-content li", timeout=30_000)
    # ReDoc draws every operation as a section (lazyRendering is off); a $ref it cannot resolve stops it at the
    # first operation that uses it, with only a console error (the Open311 422 in issue 24)
    drawn = page.evaluate("""() => [...document.querySelectorAll('[data-section-id^="operation/"]')]
        .map(s => s.getAttribute('data-section-id'))""")
    assert len(set(drawn)) == len(operations(live_server)), drawn[-3:]
    body = page.locator("body").inner_text()
    assert "problem+json" in body and "Idempotency" in body
    page.screenshot(path=str(output_dir / "docs_redoc.png"))
    assert foreign == [] and page.errors == []
