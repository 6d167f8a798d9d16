"""The server's abuse limits, as a caller at the kiosk or on /call meets them.

Each test runs a real server with small limits and fills them with real WebSocket clients
(tests/protocol/wsclient.py); the page must explain the refusal in plain words and stay
usable: back to the start, back to the filled form, or on waiting.
"""

from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import expect

from signaling.matters.validators import uscc_check_character
from tests.conftest import StartServer
from tests.e2e.conftest import KIOSK, LAPTOP, NewPage
from tests.e2e.test_enterprise import GOOD_USCC, fill_form
from tests.e2e.test_flows import kiosk_picks_water
from tests.e2e.test_kiosk import assert_quiet, by_id, eventually, open_kiosk, snap
from tests.protocol.wsclient import JsonClient, caller

pytestmark = pytest.mark.browser

OTHER_USCC = "91330424MA2B3C4D6" + uscc_check_character("91330424MA2B3C4D6")


def company(uscc: str, phone: str = "13912345678") -> dict[str, str]:
    return {"name": "嘉兴某某贸易有限公司", "uscc": uscc, "contact_name": "李强",
            "contact_phone": phone}


async def test_kiosk_that_already_has_a_call_says_so(start_server: StartServer,
                                                     new_page: NewPage) -> None:
    server = await start_server()
    # Another tab of this kiosk still holds a live call on an open socket.
    other, _ = await caller(server, kiosk_token="demo-kiosk")
    page = await open_kiosk(new_page, server, "portrait")
    await kiosk_picks_water(page)
    await expect(by_id(page, "notice-title")).to_have_text("现在暂时不能呼叫")
    await expect(by_id(page, "notice-text")).to_have_text(
        "本终端已有一通通话，请先结束，或稍等片刻再试。")
    await snap(page, "kiosk-refused-kiosk-portrait")
    await by_id(page, "notice-ok").tap()
    await expect(by_id(page, "attract-screen")).to_be_visible()
    assert len(server.hub.callers) == 1
    assert_quiet(page)
    await other.close()


async def test_enterprise_refusals_name_the_company_or_the_network(
        start_server: StartServer, new_page: NewPage) -> None:
    server = await start_server(max_calls_per_company=1, max_calls_per_address=2)
    first, _ = await caller(server, company=company(GOOD_USCC, "13700000001"))
    page = await new_page("enterprise", viewport=LAPTOP)
    await page.goto(f"{server.http}/call")
    await fill_form(page, GOOD_USCC)
    await by_id(page, "matter-tax").click()
    await by_id(page, "call-button").click()
    await expect(by_id(page, "notice-text")).to_have_text(
        "同一单位正在排队的通话过多，请稍后再试。")
    await snap(page, "enterprise-refused-company-laptop")
    await by_id(page, "notice-ok").click()
    await expect(by_id(page, "company-name")).to_have_value("海盐县武原食品有限公司")

    # A second company from the same network fills the address limit (2).
    second, _ = await caller(server, company=company(OTHER_USCC, "13700000002"))
    await by_id(page, "language-switch").click()
    await by_id(page, "uscc").fill("91330424MA2B3C4D7" + uscc_check_character(
        "91330424MA2B3C4D7"))
    await by_id(page, "call-button").click()
    await expect(by_id(page, "notice-title")).to_have_text("You cannot call right now")
    await expect(by_id(page, "notice-text")).to_have_text(
        "Too many calls from this network are waiting right now. Please try again later.")
    await snap(page, "enterprise-refused-address-en-laptop")
    await by_id(page, "notice-ok").click()
    await expect(by_id(page, "call-button")).to_be_visible()
    assert len(server.hub.callers) == 2
    assert_quiet(page)
    await first.close()
    await second.close()


async def test_too_many_connections_waits_at_least_5_s_then_gets_through(
        start_server: StartServer, new_page: NewPage) -> None:
    server = await start_server(max_caller_sockets_per_address=1)
    page = await open_kiosk(new_page, server, "portrait")
    attempts: list[float] = []
    loop = asyncio.get_running_loop()
    page.on("websocket", lambda _ws: attempts.append(loop.time()))
    # The gaps are measured where the page opens its sockets: Playwright's events reach
    # this process a few ms late, and unevenly on a loaded machine (4.988 s seen for 5 s).
    await page.evaluate("""() => {
        const Native = window.WebSocket;
        window.__socketsOpened = [];
        window.WebSocket = class extends Native {
            constructor(...args) { window.__socketsOpened.push(performance.now()); super(...args); }
        };
    }""")
    holder = await JsonClient.open(f"{server.ws}/ws/caller")  # the address's one socket

    await kiosk_picks_water(page)
    status = by_id(page, "queue-link-status")
    await expect(status).to_have_text("现在呼叫的人很多，几秒后自动再试…")
    await expect(status).to_have_attribute("data-reason", "link_busy")
    await expect(by_id(page, "cancel-button")).to_be_visible()
    await snap(page, "kiosk-queue-busy-portrait")
    await eventually(lambda: asyncio.sleep(0, len(attempts) >= 2), 20, "a second attempt")
    assert server.hub.callers == {}

    await holder.close()
    await expect(by_id(page, "callback-offer")).to_be_visible(timeout=30_000)
    assert len(server.hub.callers) == 1
    opened = await page.evaluate("window.__socketsOpened")
    assert len(opened) >= 3, opened
    gaps = [(b - a) / 1000 for a, b in zip(opened, opened[1:], strict=False)]
    assert min(gaps) >= 5.0, gaps
    await by_id(page, "callback-keep-waiting").tap()
    await expect(status).to_be_hidden()
    await by_id(page, "cancel-button").tap()
    await expect(by_id(page, "attract-screen")).to_be_visible()
    assert_quiet(page)


async def test_callback_limits_are_explained_and_a_booked_number_is_recognised(
        start_server: StartServer, new_page: NewPage) -> None:
    server = await start_server(max_callbacks_per_day=1)
    # Nobody is on duty: every caller is offered a callback. One takes today's only slot.
    booked, _ = await caller(server, kiosk_token="demo-kiosk-2")
    await booked.expect("callback_offer")
    await booked.send({"type": "accept_callback", "phone": "13900139000"})
    await booked.expect("callback_registered", duplicate=False)

    page = await new_page("kiosk", viewport=KIOSK, has_touch=True)
    await page.goto(f"{server.http}/kiosk?token=demo-kiosk")
    await kiosk_picks_water(page)
    await expect(by_id(page, "callback-offer")).to_be_visible()
    for digit in "13800138000":
        await by_id(page, f"keypad-{digit}").tap()
    await by_id(page, "callback-accept").tap()
    error = by_id(page, "callback-phone-error")
    await expect(error).to_have_text("今天的回电名额已满。请继续排队等待，或明天再试。")
    await snap(page, "kiosk-callback-refused-portrait")
    assert len(server.hub.callers) == 1  # the kiosk's call still waits (the first one left)

    # The number that already has a pending callback is recognised, not booked twice.
    await by_id(page, "keypad-clear").tap()
    for digit in "13900139000":
        await by_id(page, f"keypad-{digit}").tap()
    await by_id(page, "callback-accept").tap()
    await expect(by_id(page, "callback-confirmation")).to_be_visible()
    done = page.locator("[data-callback-done-text]")
    await expect(done).to_contain_text("139****9000")
    await expect(done).to_contain_text("该号码已登记回拨，请保持电话畅通。")
    await snap(page, "kiosk-callback-duplicate-portrait")
    pending = await server.hub.callbacks.list_pending("default")
    assert [c.phone for c in pending] == ["13900139000"]
    await by_id(page, "done-button").tap()
    await expect(by_id(page, "attract-screen")).to_be_visible()
    assert_quiet(page)
    await booked.close()
