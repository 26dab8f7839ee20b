"""Fixtures for the browser tests: a headless Chromium driven by Playwright.

Uses Debian's ``chromium`` package (``/usr/bin/chromium``, or ``$GRIDMAP_CHROMIUM``);
Playwright's own browser downloads are never used. The tests skip cleanly when the
browser or the Playwright package is missing.
"""

import os
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("GRIDMAP_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
OUTPUT_DIR = Path(__file__).resolve().parents[1] / "output"


@pytest.fixture(scope="session")
def chromium_browser():
    """One headless Chromium for the whole session (a fresh context per test)."""
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium, or set GRIDMAP_CHROMIUM)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def new_page(chromium_browser):
    """Factory for pages in fresh browser contexts; collects uncaught page errors in ``page.errors``."""
    contexts = []

    def make(locale: str = "zh-CN", width: int = 1440, height: int = 900):
        ctx = chromium_browser.new_context(viewport={"width": width, "height": height}, locale=locale)
        ctx.set_default_timeout(20_000)
        contexts.append(ctx)
        page = ctx.new_page()
        page.errors = []
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))
        return page

    yield make
    for ctx in contexts:
        ctx.close()


@pytest.fixture(scope="session")
def output_dir() -> Path:
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    return OUTPUT_DIR
