"""An overloaded server answers a call request with ``busy`` and a retry hint (issue 9): the
kiosk and /call pages say so in plain words, in Chinese or English, and ask again by
themselves after the hint; once the server has room the caller is in the queue without
touching anything.

The server is made to refuse by setting its real admission limit at run time (an event-loop
lag limit below zero: every new call request is over it), then given room again.
"""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.conftest import LiveServer, StartServer
from tests.e2e.conftest import LAPTOP, NewPage
from tests.e2e.test_enterprise import GOOD_USCC, fill_form
from tests.e2e.test_flows import kiosk_picks_water
from tests.e2e.test_kiosk import assert_quiet, by_id, eventually, open_kiosk, snap

pytestmark = pytest.mark.browser

BUSY_ZH = "现在呼叫的人很多，几秒后自动为您再试，请稍候…"
BUSY_EN = "Many people are calling right now. We will try again for you in a few seconds…"


async def busy_server(start_server: StartServer) -> LiveServer:
    server = await start_server(busy_retry_after_ms=1000)
    server.hub.admission.max_loop_lag = -1.0  # every new call request gets 'busy'
    return server


async def room_again(server: LiveServer) -> None:
    refused = sum(server.hub.admission.refused.values())
    assert refused >= 1
    server.hub.admission.max_loop_lag = 3600.0

    async def queued() -> bool:
        return len(server.hub.callers) == 1
    await eventually(queued, what="the retried request to be queued")


async def test_the_kiosk_says_it_is_busy_and_queues_by_itself(
        start_server: StartServer, new_page: NewPage) -> None:
    server = await busy_server(start_server)
    page = await open_kiosk(new_page, server, "portrait")
    await kiosk_picks_water(page)
    note = page.locator("[data-queue-note]")
    await expect(note).to_have_text(BUSY_ZH)
    await expect(by_id(page, "queue-live")).to_have_text(BUSY_ZH)
    await snap(page, "kiosk-busy-portrait")

    await room_again(server)
    await expect(note).to_be_hidden()
    await expect(by_id(page, "queue-position")).to_have_text("1")
    assert_quiet(page)


async def test_the_call_page_says_it_in_english_and_queues_by_itself(
        start_server: StartServer, new_page: NewPage) -> None:
    server = await busy_server(start_server)
    page = await new_page("enterprise", viewport=LAPTOP)
    await page.goto(f"{server.http}/call")
    await by_id(page, "language-switch").click()
    await fill_form(page, GOOD_USCC)
    await by_id(page, "matter-tax").click()
    await by_id(page, "call-button").click()
    note = page.locator("[data-queue-note]")
    await expect(note).to_have_text(BUSY_EN)
    await snap(page, "enterprise-busy-en-laptop")

    await room_again(server)
    await expect(note).to_be_hidden()
    await expect(by_id(page, "queue-position")).to_have_text("1")
    assert_quiet(page)
