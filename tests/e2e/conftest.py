"""Real headless Chromium (Debian's /usr/bin/chromium) driven by Playwright, fake media.

Browser tests fail, never skip, when CI=true and Chromium is missing. Every page a test
leaves open is checked with axe-core when the test ends (``a11y.py``): a serious or
critical violation on the final screen fails the test.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from tests.conftest import IN_CI
from tests.e2e.a11y import SERIOUS, axe_violations, describe

CHROMIUM = os.environ.get("CLOUD_AGENT_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
CHROMIUM_ARGS = [
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--autoplay-policy=no-user-gesture-required",
]

KIOSK = {"width": 1080, "height": 1920}
LAPTOP = {"width": 1366, "height": 768}


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        message = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    async with async_playwright() as playwright:
        instance = await playwright.chromium.launch(executable_path=CHROMIUM,
                                                    args=CHROMIUM_ARGS, headless=True)
        try:
            yield instance
        finally:
            await instance.close()


NewPage = Callable[..., Awaitable[Page]]


@pytest.fixture
async def new_page(browser: Browser, request: pytest.FixtureRequest) -> AsyncIterator[NewPage]:
    """Factory for pages in fresh contexts; a failed test leaves screenshots in artifacts/.

    When the test passed, each page still open is checked with axe (serious and critical).
    """
    contexts: list[tuple[str, BrowserContext, Page]] = []

    async def make(name: str, viewport: dict[str, int] | None = None,
                   has_touch: bool = False) -> Page:
        context = await browser.new_context(viewport=viewport or LAPTOP, has_touch=has_touch,
                                            locale="zh-CN")
        page = await context.new_page()
        page.set_default_timeout(15_000)
        messages: list[str] = []
        page.on("console", lambda msg: messages.append(f"{msg.type}: {msg.text}"))
        page.on("pageerror", lambda exc: messages.append(f"pageerror: {exc}"))
        page.console_messages = messages  # type: ignore[attr-defined]
        contexts.append((name, context, page))
        return page

    yield make
    report = getattr(request.node, "rep_call", None)
    test = re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name)
    problems: list[str] = []
    if report is not None and report.passed:
        for name, _, page in contexts:
            if page.is_closed() or not page.url.startswith("http"):
                continue
            found = [v for v in await axe_violations(page) if v["impact"] in SERIOUS]
            if found:
                problems.append(f"{name} ({page.url}):\n{describe(found)}")
                ARTIFACTS.mkdir(exist_ok=True)
                await page.screenshot(path=str(ARTIFACTS / f"AXE-{test}-{name}.png"))
    if report is not None and report.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        for name, _, page in contexts:
            try:
                await page.screenshot(path=str(ARTIFACTS / f"FAILED-{test}-{name}.png"))
                (ARTIFACTS / f"FAILED-{test}-{name}.log").write_text(
                    "\n".join(page.console_messages))  # type: ignore[attr-defined]
            except Exception:
                pass
    for _, context, _ in contexts:
        await context.close()
    if problems:
        pytest.fail("axe: serious or critical violations on the final screen of "
                    + "; ".join(problems), pytrace=False)


async def screenshot(page: Page, name: str) -> Path:
    """Save a screenshot to artifacts/ (ignored by git) and return its path."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path))
    return path


async def remote_video_playing(page: Page, testid: str = "remote-video") -> dict[str, float]:
    """videoWidth and inbound framesDecoded of the page's remote video, via getStats()."""
    result: dict[str, float] = await page.evaluate(
        """async (testid) => {
            const video = document.querySelector(`[data-testid="${testid}"]`);
            const stats = window.__callStats ? await window.__callStats() : {framesDecoded: 0};
            return {videoWidth: video ? video.videoWidth : 0,
                    framesDecoded: stats.framesDecoded || 0};
        }""",
        testid,
    )
    return result
