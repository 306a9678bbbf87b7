"""Browser tests: the web client in a real headless Chromium (Debian's, by
executable_path: Playwright's own browser download is not used) against a live hub."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from tests import services


@pytest.fixture
def store() -> str:
    """The embedded store: these tests are about the client, not the database."""
    return "sqlite"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    services.need("chromium")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=services.CHROMIUM,
            headless=True,
            # Root in a container: Chromium's sandbox needs user namespaces it lacks.
            args=["--no-sandbox", "--disable-dev-shm-usage"],
        )
        try:
            yield launched
        finally:
            await launched.close()


async def new_page(
    browser: Browser,
    *,
    locale: str = "en-US",
    tablet: bool = False,
    size: tuple[int, int] | None = None,
    timezone: str | None = None,
) -> Page:
    """A page in a fresh context: its own storage, so its own login. `size` (width,
    height) overrides the screen; `timezone` is the browser's (the machine's otherwise)."""
    width, height = size or ((1024, 768) if tablet else (1366, 900))
    context: BrowserContext = await browser.new_context(
        locale=locale,
        viewport={"width": width, "height": height},
        has_touch=tablet,
        timezone_id=timezone,
    )
    page = await context.new_page()
    page.set_default_timeout(10_000)
    return page
