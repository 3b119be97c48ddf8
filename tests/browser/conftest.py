"""Headless Chromium from Debian (``/usr/bin/chromium``); no browser is downloaded.

The browser is module-scoped: Playwright's sync API keeps an event loop running in the
main thread while it is open, which would break the anyio tests collected after it.
"""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: `apt-get install chromium` (make test does)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser: Browser) -> Iterator[Callable[..., Page]]:
    """Open pages, each in a fresh context (``Browser.new_context`` options); none may
    raise a JavaScript error."""
    opened: list[tuple[BrowserContext, list[str]]] = []

    def make(**options: Any) -> Page:
        context = browser.new_context(viewport={"width": 1280, "height": 900}, **options)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        opened.append((context, errors))
        return page

    yield make
    for context, _ in opened:
        context.close()
    errors = [error for _, seen in opened for error in seen]
    assert errors == [], f"JavaScript errors on the page: {errors}"


@pytest.fixture
def page(new_page: Callable[..., Page]) -> Page:
    """A page under the app's own Content-Security-Policy, as people get it."""
    return new_page()
