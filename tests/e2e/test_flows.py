"""Whole journeys across two browsers: a Chromium kiosk and a Chromium agent console.

The kiosk is a citizen at a portrait touch screen; the console an agent at a laptop. Both
use Chromium's fake camera, so each side must decode the other's real video.
"""

from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import Page, WebSocketRoute, expect

from tests.conftest import LiveServer, StartServer
from tests.e2e.conftest import KIOSK, LAPTOP, NewPage, screenshot
from tests.e2e.test_console import go_ready, sign_in
from tests.e2e.test_kiosk import (
    assert_quiet,
    by_id,
    call_record,
    eventually,
    open_kiosk,
    storage,
    video_playing,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


async def kiosk_picks_water(page: Page) -> None:
    await by_id(page, "attract-screen").tap()
    await by_id(page, "call-button").tap()
    await by_id(page, "matter-water").tap()


async def console_for(new_page: NewPage, server: LiveServer) -> Page:
    console = await new_page("console", viewport=LAPTOP)
    await sign_in(console, server)
    await go_ready(console)
    return console


async def test_kiosk_call_rings_console_both_play_video_then_rating_and_wrap_up(
        start_server: StartServer, new_page: NewPage) -> None:
    server = await start_server(wrap_up_time=4)
    console = await console_for(new_page, server)
    kiosk = await open_kiosk(new_page, server, "portrait")
    await kiosk_picks_water(kiosk)

    alert = by_id(console, "incoming-call")
    await expect(alert).to_be_visible()
    await expect(by_id(console, "incoming-matter")).to_contain_text("供水")
    await expect(by_id(console, "incoming-origin")).to_contain_text("海盐县武原街道")
    await screenshot(console, "flow-console-ringing")
    await by_id(console, "accept-button").click()

    console_video = await video_playing(console)
    kiosk_video = await video_playing(kiosk)
    assert console_video["videoWidth"] > 0 and console_video["framesDecoded"] > 0
    assert kiosk_video["videoWidth"] > 0 and kiosk_video["framesDecoded"] > 0
    await screenshot(console, "flow-console-in-call")
    await screenshot(kiosk, "flow-kiosk-in-call")
    call_id = next(iter(server.hub.sessions))

    await by_id(console, "hangup-button").click()
    await expect(by_id(kiosk, "rating-1")).to_be_visible()
    await expect(by_id(console, "wrapup-panel")).to_be_visible()
    await expect(by_id(console, "agent-state")).to_have_attribute("data-state", "wrap_up")
    await by_id(kiosk, "rating-4").tap()
    await expect(by_id(kiosk, "attract-screen")).to_be_visible(timeout=15_000)
    assert (await storage(kiosk)) == {"local": ["cloud-agent.kiosk-token"], "session": 0}
    # The wrap-up timer (4 s) returns the agent to ready without a click.
    await expect(by_id(console, "agent-state")).to_have_attribute("data-state", "ready",
                                                                  timeout=10_000)
    record = await call_record(server, call_id)
    assert (record.agent_id, record.rating, record.end_reason) == ("demo-agent-1", 4,
                                                                    "agent_hangup")
    assert_quiet(kiosk)


async def test_kiosk_keeps_its_place_and_its_call_across_socket_drops(
        start_server: StartServer, new_page: NewPage) -> None:
    server = await start_server(resume_grace=20)
    # An agent is signed in but away, so the caller waits (no "nobody here" callback offer).
    console = await new_page("console", viewport=LAPTOP)
    await sign_in(console, server)
    # Hold the kiosk's sockets in our hands so we can cut them like a network blip.
    kiosk = await new_page("kiosk", viewport=KIOSK, has_touch=True)
    sockets: list[tuple[WebSocketRoute, WebSocketRoute]] = []
    offline = False

    async def through(route: WebSocketRoute) -> None:
        if offline:  # the network is still down: the attempt fails
            await route.close(code=1006, reason="no network")
            return
        sockets.append((route, route.connect_to_server()))

    async def blip() -> None:
        """Cut the link the way a dead network does: both ends see it closed."""
        connection = server.hub.callers[call_id].connection
        assert connection is not None
        connection.close(1001, "network blip")
    await kiosk.route_web_socket("**/ws/caller", through)
    await kiosk.goto(f"{server.http}/kiosk?token=demo-kiosk")
    await kiosk_picks_water(kiosk)
    await expect(by_id(kiosk, "queue-position")).to_be_visible()
    await expect(by_id(kiosk, "queue-position")).to_contain_text("1")
    call_id = next(iter(server.hub.callers))

    # Drop while waiting: the page says so, comes back by itself, keeps place 1.
    await blip()
    await eventually(lambda: _resolved(len(sockets) >= 2), 10, "a reconnect")
    await expect(by_id(kiosk, "queue-position")).to_be_visible()
    await expect(by_id(kiosk, "queue-position")).to_contain_text("1")
    assert server.hub.callers[call_id].connection is not None
    assert next(iter(server.hub.callers)) == call_id

    # The agent comes back and answers; then drop again in the call: the call survives.
    await by_id(console, "state-ready").click()
    await expect(by_id(console, "incoming-call")).to_be_visible()  # rings at once
    await by_id(console, "accept-button").click()
    await video_playing(kiosk)
    await video_playing(console)
    before = (await kiosk.evaluate("window.__callStats()"))["framesDecoded"]
    offline = True
    await blip()
    await expect(by_id(console, "peer-reconnecting")).to_be_visible()
    await expect(by_id(kiosk, "reconnecting-banner")).to_be_visible()
    offline = False
    await eventually(lambda: _resolved(len(sockets) >= 3), 15, "a second reconnect")
    await expect(by_id(console, "peer-reconnecting")).to_be_hidden()
    assert call_id in server.hub.sessions

    async def frames_grow() -> bool:
        stats = await kiosk.evaluate("window.__callStats()")
        return bool(stats["framesDecoded"] > before + 10)
    await eventually(frames_grow, 10, "video to keep flowing")
    await by_id(kiosk, "hangup-button").tap()
    await expect(by_id(console, "wrapup-panel")).to_be_visible()


async def _resolved(value: bool) -> bool:
    await asyncio.sleep(0)
    return value


async def test_elder_mode_call_is_served_first(live_server: LiveServer,
                                                new_page: NewPage) -> None:
    from tests.protocol.wsclient import agent, caller

    away = await agent(live_server, "demo-agent-2", ready=False)  # staffed: no callback offer
    # Another kiosk: the one opened below (demo-kiosk) may hold only one live call.
    earlier, queued = await caller(live_server, "water", kiosk_token="demo-kiosk-2")
    assert queued["position"] == 1
    kiosk = await open_kiosk(new_page, live_server, "portrait")
    await by_id(kiosk, "elder-mode").tap()
    await kiosk_picks_water(kiosk)
    await expect(by_id(kiosk, "queue-position")).to_be_visible()
    await expect(by_id(kiosk, "queue-position")).to_contain_text("1")
    await earlier.expect("position", position=2)
    await earlier.close()
    await away.close()
