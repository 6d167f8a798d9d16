"""Every control a citizen can touch on the kiosk is at least 48 x 48 CSS pixels."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.conftest import LiveServer
from tests.e2e.conftest import NewPage
from tests.e2e.test_kiosk import by_id, open_kiosk

pytestmark = pytest.mark.browser

MIN_TARGET = 48

SMALL_TARGETS = """(min) => [...document.querySelectorAll(
        'button, a[href], input, select, textarea, [role=button], [tabindex="0"]')]
    .filter((el) => el.offsetParent !== null && !el.closest('[hidden]'))
    .map((el) => ({el, box: el.getBoundingClientRect()}))
    .filter(({box}) => box.width > 0 && box.height > 0)
    .filter(({box}) => box.width < min || box.height < min)
    .map(({el, box}) => `${el.dataset.testid || el.tagName + '.' + el.className}: `
                        + `${Math.round(box.width)}x${Math.round(box.height)}`)"""


async def small_targets(page: Page) -> list[str]:
    result: list[str] = await page.evaluate(SMALL_TARGETS, MIN_TARGET)
    return result


@pytest.mark.parametrize("size", ["portrait", "landscape"])
async def test_kiosk_touch_targets_are_at_least_48_px(live_server: LiveServer,
                                                      new_page: NewPage, size: str) -> None:
    page = await open_kiosk(new_page, live_server, size)
    assert await small_targets(page) == [], "attract screen"
    await by_id(page, "attract-screen").tap()
    await expect(by_id(page, "call-button")).to_be_visible()
    assert await small_targets(page) == [], "home screen"
    await by_id(page, "call-button").tap()
    await expect(by_id(page, "matter-water")).to_be_visible()
    assert await small_targets(page) == [], "matter picker"
    await by_id(page, "matter-tv").tap()  # nobody is logged in: queue, then callback offer
    await expect(by_id(page, "callback-offer")).to_be_visible()
    assert await small_targets(page) == [], "callback offer with keypad"
    await by_id(page, "callback-keep-waiting").tap()
    await expect(by_id(page, "queue-position")).to_be_visible()
    assert await small_targets(page) == [], "queue screen"
    await by_id(page, "cancel-button").tap()
    await expect(by_id(page, "attract-screen")).to_be_visible()
