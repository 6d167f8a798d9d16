"""A kiosk left alone wipes itself: nothing of the last person stays on screen or in storage.

The server's kiosk idle settings are shortened to two seconds so the real timers run.
"""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from kiosk_client.headless import answer_calls
from tests.conftest import StartServer
from tests.e2e.conftest import KIOSK, NewPage
from tests.e2e.test_flows import kiosk_picks_water
from tests.e2e.test_kiosk import agent_ready, background, by_id, call_record, storage
from tests.protocol.wsclient import agent

pytestmark = pytest.mark.browser

IDLE = {"kiosk_idle_seconds": 2, "kiosk_rating_idle_seconds": 2}


async def test_idle_menus_return_to_the_attract_screen(start_server: StartServer,
                                                       new_page: NewPage) -> None:
    server = await start_server(**IDLE)
    page = await new_page("kiosk", viewport=KIOSK, has_touch=True)
    await page.goto(f"{server.http}/kiosk?token=demo-kiosk")
    await by_id(page, "attract-screen").tap()
    await by_id(page, "language-switch").tap()  # the visitor chose English and large text
    await by_id(page, "elder-mode").tap()
    await by_id(page, "call-button").tap()
    await expect(by_id(page, "matter-water")).to_be_visible()
    # Nobody touches the screen: back to the start, in Chinese, normal text.
    await expect(by_id(page, "attract-screen")).to_be_visible(timeout=6_000)
    assert await page.evaluate("document.documentElement.lang") == "zh-CN"
    await expect(by_id(page, "elder-mode")).to_have_attribute("aria-pressed", "false")
    assert await storage(page) == {"local": ["cloud-agent.kiosk-token"], "session": 0}


async def test_unanswered_callback_form_forgets_the_number_but_keeps_the_place(
        start_server: StartServer, new_page: NewPage) -> None:
    # Staffed but nobody ready: after max_wait (1 s) the server offers a callback.
    server = await start_server(max_wait=1, **IDLE)
    away = await agent(server, "demo-agent-2", ready=False)
    page = await new_page("kiosk", viewport=KIOSK, has_touch=True)
    await page.goto(f"{server.http}/kiosk?token=demo-kiosk")
    await kiosk_picks_water(page)
    await expect(by_id(page, "callback-offer")).to_be_visible()
    call_id = next(iter(server.hub.callers))
    for digit in "1391":
        await by_id(page, f"keypad-{digit}").tap()
    await expect(by_id(page, "callback-phone")).not_to_have_value("")
    # They walk away from the form: the number goes, the place in the queue stays.
    await expect(by_id(page, "queue-position")).to_be_visible(timeout=6_000)
    assert call_id in server.hub.callers
    await by_id(page, "callback-reopen").tap()
    await expect(by_id(page, "callback-phone")).to_have_value("")
    await away.close()


async def test_unrated_call_resets_the_kiosk(start_server: StartServer,
                                             new_page: NewPage) -> None:
    server = await start_server(**IDLE)
    async with background(answer_calls(server.http, "demo-agent-1", "demo", auto_answer=True,
                                       calls=1, hold=2)):
        await agent_ready(server, "demo-agent-1")
        page = await new_page("kiosk", viewport=KIOSK, has_touch=True)
        await page.goto(f"{server.http}/kiosk?token=demo-kiosk")
        await kiosk_picks_water(page)
        await expect(by_id(page, "hangup-button")).to_be_visible()
        call_id = next(iter(server.hub.sessions))
        await expect(by_id(page, "rating-5")).to_be_visible(timeout=20_000)
        # The citizen leaves without rating: the screen wipes itself.
        await expect(by_id(page, "attract-screen")).to_be_visible(timeout=6_000)
        assert await storage(page) == {"local": ["cloud-agent.kiosk-token"], "session": 0}
        record = await call_record(server, call_id)
        assert record.rating is None
