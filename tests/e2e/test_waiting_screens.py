"""Every screen a caller waits on has a way out, and a server restart is waited out calmly.

A real agent socket that is ready but never answers keeps a call on "正在接通…" (ringing);
the caller must be able to leave it there, on the kiosk and on the enterprise page.
"""

from __future__ import annotations

import asyncio
import socket
from urllib.parse import urlsplit

import pytest
from playwright.async_api import expect

from kiosk_client.headless import answer_calls
from tests.conftest import LiveServer, StartServer
from tests.e2e.conftest import KIOSK, LAPTOP, NewPage
from tests.e2e.test_enterprise import GOOD_USCC, fill_form
from tests.e2e.test_flows import kiosk_picks_water
from tests.e2e.test_kiosk import (
    agent_ready,
    assert_quiet,
    background,
    by_id,
    call_record,
    eventually,
    open_kiosk,
    snap,
    storage,
    video_playing,
)
from tests.e2e.test_touch_targets import small_targets
from tests.protocol.wsclient import agent

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("language", ["zh-CN", "en"])
async def test_kiosk_caller_can_leave_while_an_agent_does_not_answer(
        start_server: StartServer, new_page: NewPage, language: str) -> None:
    server = await start_server(ring_timeout=60)
    silent = await agent(server, "demo-agent-1")  # ready, never answers
    page = await new_page("kiosk", viewport=KIOSK, has_touch=True)
    await page.goto(f"{server.http}/kiosk?token=demo-kiosk")
    if language == "en":
        await by_id(page, "language-switch").tap()
    await kiosk_picks_water(page)
    offer = await silent.expect("offer")
    await expect(by_id(page, "connecting")).to_be_visible()
    cancel = by_id(page, "connecting-cancel")
    await expect(cancel).to_be_visible()
    await expect(cancel).to_have_text("取消呼叫" if language == "zh-CN" else "Cancel call")
    assert await small_targets(page) == [], "connecting screen"
    await snap(page, f"kiosk-connecting-{language}-portrait")

    await cancel.tap()
    await expect(by_id(page, "attract-screen")).to_be_visible()
    await silent.expect("offer_cancelled", call_id=offer["call_id"])
    record = await call_record(server, offer["call_id"])
    assert record.end_reason == "caller_hangup"
    assert await storage(page) == {"local": ["cloud-agent.kiosk-token"], "session": 0}
    assert_quiet(page)
    await silent.close()


async def test_enterprise_caller_can_leave_while_an_agent_does_not_answer(
        start_server: StartServer, new_page: NewPage) -> None:
    server = await start_server(ring_timeout=60)
    silent = await agent(server, "demo-agent-1")
    page = await new_page("enterprise", viewport=LAPTOP)
    await page.goto(f"{server.http}/call")
    await fill_form(page, GOOD_USCC)
    await by_id(page, "matter-water").click()
    await by_id(page, "call-button").click()
    offer = await silent.expect("offer")
    await expect(by_id(page, "connecting-cancel")).to_be_visible()
    await snap(page, "enterprise-connecting-laptop")

    await by_id(page, "connecting-cancel").click()
    await expect(by_id(page, "company-name")).to_have_value("海盐县武原食品有限公司")
    await silent.expect("offer_cancelled", call_id=offer["call_id"])
    record = await call_record(server, offer["call_id"])
    assert record.end_reason == "caller_hangup"
    assert_quiet(page)
    await silent.close()


def port_closed(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


async def stop(server: LiveServer) -> int:
    """Shut ``server`` down as a SIGTERM does (uvicorn closes every socket with 1012)."""
    server.server.should_exit = True
    port = urlsplit(server.http).port
    assert port is not None
    await eventually(lambda: asyncio.sleep(0, port_closed(port)), 15, "the port to close")
    return port


async def test_server_restart_while_waiting_is_explained_and_the_call_comes_back(
        start_server: StartServer, new_page: NewPage) -> None:
    server = await start_server()
    page = await open_kiosk(new_page, server, "portrait")
    attempts: list[float] = []
    loop = asyncio.get_running_loop()
    page.on("websocket", lambda _ws: attempts.append(loop.time()))
    await by_id(page, "attract-screen").tap()
    await by_id(page, "call-button").tap()
    await by_id(page, "matter-tv").tap()  # nobody on duty: a callback is offered first
    await by_id(page, "callback-keep-waiting").tap()
    await expect(by_id(page, "queue-position")).to_have_text("1")
    (old_call,) = server.hub.callers

    port = await stop(server)
    status = by_id(page, "queue-link-status")
    await expect(status).to_have_text("系统正在重启，正在重新连接…请稍候")
    await expect(by_id(page, "cancel-button")).to_be_visible()
    await snap(page, "kiosk-queue-restarting-portrait")
    await by_id(page, "language-switch").tap()
    await expect(status).to_have_text("The system is restarting, reconnecting… please wait")
    await by_id(page, "language-switch").tap()
    # While the server is away the page keeps trying, a second or more apart.
    before = len(attempts)
    await eventually(lambda: asyncio.sleep(0, len(attempts) >= before + 2), 20,
                     "two reconnect attempts")
    gaps = [b - a for a, b in zip(attempts[before - 1:], attempts[before:], strict=False)]
    assert min(gaps) >= 0.7, gaps

    # The server comes back (same port, same data). It did not know the call any more:
    # the page asked again and is back in the queue (nobody on duty: callback offer first).
    restarted = await start_server(port=port, data_dir=server.app.state.settings.data_dir)
    await expect(by_id(page, "callback-offer")).to_be_visible(timeout=20_000)
    await by_id(page, "callback-keep-waiting").tap()
    await expect(by_id(page, "queue-position")).to_have_text("1")
    await expect(status).to_be_hidden()
    await expect(page.get_by_text("系统刚刚重启，已为您重新排队")).to_be_visible()
    await snap(page, "kiosk-queue-after-restart-portrait")
    (new_call,) = restarted.hub.callers
    assert new_call != old_call

    await by_id(page, "cancel-button").tap()
    await expect(by_id(page, "attract-screen")).to_be_visible()
    record = await call_record(restarted, new_call)
    assert record.end_reason == "caller_hangup"
    assert_quiet(page, allow=("ERR_CONNECTION_REFUSED",))


async def test_enterprise_queue_and_callback_screens_lead_back_to_the_form(
        start_server: StartServer, new_page: NewPage) -> None:
    server = await start_server()
    page = await new_page("enterprise", viewport=LAPTOP)
    await page.goto(f"{server.http}/call")
    await fill_form(page, GOOD_USCC)
    await by_id(page, "matter-tax").click()
    await by_id(page, "call-button").click()
    # Nobody on duty: the callback offer, prefilled with the contact's mobile.
    await expect(by_id(page, "callback-phone")).to_have_value("13912345678")
    await snap(page, "enterprise-callback-laptop")
    await by_id(page, "callback-keep-waiting").click()
    await expect(by_id(page, "queue-position")).to_have_text("1")
    await snap(page, "enterprise-queue-laptop")
    (call_id,) = server.hub.callers
    await by_id(page, "cancel-button").click()
    await expect(by_id(page, "company-name")).to_have_value("海盐县武原食品有限公司")
    record = await call_record(server, call_id)
    assert record.end_reason == "caller_hangup"
    assert_quiet(page)


async def test_server_restart_during_a_call_shows_the_banner_then_the_rating(
        start_server: StartServer, new_page: NewPage) -> None:
    server = await start_server()
    async with background(answer_calls(server.http, "demo-agent-1", "demo", auto_answer=True,
                                       calls=1, hold=120)):
        await agent_ready(server, "demo-agent-1")
        page = await open_kiosk(new_page, server, "portrait")
        await kiosk_picks_water(page)
        await video_playing(page)

        port = await stop(server)
        banner = by_id(page, "reconnecting-banner")
        await expect(banner).to_have_text("系统正在重启，正在重新连接…请不要离开")
        await expect(by_id(page, "hangup-button")).to_be_visible()
        await snap(page, "kiosk-in-call-restarting-portrait")

    # The restarted server cannot carry the call on: the page says the call is over and
    # asks for the rating as after any answered call.
    await start_server(port=port, data_dir=server.app.state.settings.data_dir)
    await expect(by_id(page, "rating-5")).to_be_visible(timeout=20_000)
    await by_id(page, "rating-skip").tap()
    await expect(by_id(page, "attract-screen")).to_be_visible()
    assert_quiet(page, allow=("ERR_CONNECTION_REFUSED",))
