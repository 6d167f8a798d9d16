"""The kiosk page in real headless Chromium: a citizen's whole visit, at both screen sizes.

A headless aiortc agent (kiosk_client.headless.answer_calls) answers; the browser's fake
camera is the citizen. Each visible screen is saved to artifacts/ as
``kiosk-<screen>-<portrait|landscape>.png``.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, WebSocketRoute, expect

from kiosk_client.headless import answer_calls
from tests.conftest import LiveServer, StartServer
from tests.e2e.a11y import ALL_IMPACTS, assert_accessible
from tests.e2e.conftest import KIOSK, LAPTOP, NewPage, remote_video_playing, screenshot

pytestmark = pytest.mark.browser

SIZES = {"portrait": KIOSK, "landscape": LAPTOP}
TOKEN_KEY = "cloud-agent.kiosk-token"


def by_id(page: Page, name: str) -> Any:
    return page.get_by_test_id(name)


async def snap(page: Page, name: str) -> None:
    """Screenshot a screen after checking it does not scroll sideways and that axe-core
    finds no violation on it (of any impact: the caller pages are clean)."""
    widths = await page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1], f"{name}: horizontal scroll {widths}"
    await screenshot(page, name)
    await assert_accessible(page, name, ALL_IMPACTS)


def assert_quiet(page: Page, allow: tuple[str, ...] = ()) -> None:
    """No script error, CSP violation or failed request was logged by the page (other than
    messages containing one of ``allow``, e.g. a refused socket while a server restarts)."""
    messages: list[str] = page.console_messages  # type: ignore[attr-defined]
    assert [m for m in messages if m.startswith(("error", "pageerror"))
            and not any(text in m for text in allow)] == []


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 15.0,
                     what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def agent_ready(server: LiveServer, agent_id: str) -> None:
    async def ready() -> bool:
        agent = server.hub.engine.agents.get(agent_id)
        return agent is not None and agent.state.value == "ready" and agent.auto_answer
    await eventually(ready, 10, f"{agent_id} ready")


async def video_playing(page: Page) -> dict[str, float]:
    figures: dict[str, float] = {}

    async def playing() -> bool:
        figures.update(await remote_video_playing(page))
        return figures["videoWidth"] > 0 and figures["framesDecoded"] > 0
    await eventually(playing, 15, "remote video frames")
    return figures


async def call_record(server: LiveServer, call_id: str | None) -> Any:
    """The stored record of a call once it says the call is over (the hub writes each
    phase in the background)."""
    async def written() -> bool:
        record = await server.hub.call_records.get(call_id)
        return record is not None and record.phase in ("ended", "interrupted")
    await eventually(written, 5, f"the record of call {call_id}")
    return await server.hub.call_records.get(call_id)


async def storage(page: Page) -> dict[str, Any]:
    result: dict[str, Any] = await page.evaluate(
        "({local: Object.keys(localStorage), session: sessionStorage.length})")
    return result


@contextlib.asynccontextmanager
async def background(coro: Awaitable[Any]) -> AsyncIterator[asyncio.Task[Any]]:
    task: asyncio.Task[Any] = asyncio.ensure_future(coro)
    try:
        yield task
    finally:
        if not task.done():
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def open_kiosk(new_page: NewPage, server: LiveServer, size: str) -> Page:
    page = await new_page(f"kiosk-{size}", viewport=SIZES[size], has_touch=True)
    await page.goto(f"{server.http}/kiosk?token=demo-kiosk")
    await expect(by_id(page, "attract-screen")).to_be_visible()
    return page


@pytest.mark.parametrize("size", ["portrait", "landscape"])
async def test_citizen_calls_rates_and_the_kiosk_forgets_them(
        start_server: StartServer, new_page: NewPage, size: str) -> None:
    server = await start_server()
    async with background(answer_calls(server.http, "demo-agent-1", "demo", auto_answer=True,
                                       calls=1, hold=4)) as agent:
        await agent_ready(server, "demo-agent-1")
        page = await open_kiosk(new_page, server, size)
        assert "token" not in page.url
        assert (await storage(page))["local"] == [TOKEN_KEY]
        await snap(page, f"kiosk-attract-{size}")

        await by_id(page, "attract-screen").tap()
        await expect(by_id(page, "call-button")).to_be_visible()
        await snap(page, f"kiosk-home-{size}")
        await by_id(page, "call-button").tap()
        await expect(by_id(page, "matter-water")).to_be_visible()
        await expect(by_id(page, "matter-tax")).to_have_count(0)
        await snap(page, f"kiosk-matters-{size}")
        pressed = asyncio.get_running_loop().time()
        await by_id(page, "matter-water").tap()

        await expect(by_id(page, "remote-video")).to_be_visible()
        figures = await video_playing(page)
        first_frame_s = asyncio.get_running_loop().time() - pressed
        await expect(by_id(page, "hangup-button")).to_be_visible()
        await snap(page, f"kiosk-in-call-{size}")

        # The agent hangs up after its hold time; the citizen is asked for a rating.
        await expect(by_id(page, "rating-5")).to_be_visible(timeout=20_000)
        await snap(page, f"kiosk-rating-{size}")
        await by_id(page, "rating-5").tap()
        await expect(by_id(page, "thanks")).to_be_visible()
        await snap(page, f"kiosk-thanks-{size}")

        await expect(by_id(page, "attract-screen")).to_be_visible(timeout=10_000)
        assert await storage(page) == {"local": [TOKEN_KEY], "session": 0}
        assert await page.evaluate("document.querySelector('[data-testid=remote-video]')"
                                   ".srcObject") is None
        timings = await asyncio.wait_for(agent, 20)
        assert_quiet(page)

    call_id = timings[0].call_id
    record = await call_record(server, call_id)
    assert record.rating == 5 and record.agent_id == "demo-agent-1"
    print(f"{size}: call button to remote video playing {first_frame_s * 1000:.0f} ms; "
          f"{figures}")


async def test_signaling_drop_shows_the_banner_and_the_call_goes_on(
        start_server: StartServer, new_page: NewPage) -> None:
    server = await start_server()
    page = await new_page("kiosk-reconnect", viewport=KIOSK, has_touch=True)
    sockets: list[tuple[WebSocketRoute, Any]] = []
    online = asyncio.Event()
    online.set()

    async def through(ws: WebSocketRoute) -> None:
        await online.wait()  # the network is down while this is clear
        sockets.append((ws, ws.connect_to_server()))
    await page.route_web_socket(re.compile(r"/ws/caller$"), through)

    async with background(answer_calls(server.http, "demo-agent-1", "demo", auto_answer=True,
                                       calls=1, hold=60)) as agent:
        await agent_ready(server, "demo-agent-1")
        await page.goto(f"{server.http}/kiosk?token=demo-kiosk")
        await by_id(page, "attract-screen").tap()
        await by_id(page, "call-button").tap()
        await by_id(page, "matter-gas").tap()
        before = await video_playing(page)

        online.clear()
        page_side, server_side = sockets[-1]
        await server_side.close(code=1001, reason="network gone")
        await page_side.close(code=4002, reason="network gone")
        await expect(by_id(page, "reconnecting-banner")).to_be_visible()
        await snap(page, "kiosk-reconnecting-portrait")
        online.set()
        await expect(by_id(page, "reconnecting-banner")).to_be_hidden()
        assert len(sockets) == 2

        async def still_decoding() -> bool:
            figures = await remote_video_playing(page)
            return figures["framesDecoded"] > before["framesDecoded"] + 10
        await eventually(still_decoding, 10, "frames after the reconnect")
        await by_id(page, "hangup-button").tap()
        await expect(by_id(page, "rating-3")).to_be_visible()
        await by_id(page, "rating-3").tap()
        await expect(by_id(page, "attract-screen")).to_be_visible(timeout=10_000)
        timings = await asyncio.wait_for(agent, 20)

    record = await call_record(server, timings[0].call_id)
    assert record.end_reason == "caller_hangup" and record.rating == 3


@pytest.mark.parametrize("size", ["portrait", "landscape"])
async def test_no_agent_offers_a_callback(live_server: LiveServer, new_page: NewPage,
                                          size: str) -> None:
    page = await open_kiosk(new_page, live_server, size)
    await by_id(page, "attract-screen").tap()
    await by_id(page, "call-button").tap()
    await by_id(page, "matter-tv").tap()

    await expect(by_id(page, "callback-offer")).to_be_visible()
    await snap(page, f"kiosk-callback-{size}")
    await by_id(page, "callback-keep-waiting").tap()
    await expect(by_id(page, "queue-position")).to_have_text("1")
    await expect(by_id(page, "queue-live")).to_contain_text("1")
    await snap(page, f"kiosk-queue-{size}")

    await by_id(page, "callback-reopen").tap()
    for digit in "12345678901":  # 12… is no mainland mobile number
        await by_id(page, f"keypad-{digit}").tap()
    await by_id(page, "callback-accept").tap()
    await expect(by_id(page, "callback-phone-error")).to_be_visible()
    await by_id(page, "keypad-clear").tap()
    for digit in "13800138000":
        await by_id(page, f"keypad-{digit}").tap()
    await expect(by_id(page, "callback-phone")).to_have_value("13800138000")
    await by_id(page, "callback-accept").tap()

    await expect(by_id(page, "callback-confirmation")).to_be_visible()
    await expect(page.get_by_text("138****8000")).to_be_visible()
    await snap(page, f"kiosk-callback-done-{size}")
    pending = await live_server.hub.callbacks.list_pending("default")
    assert [(c.phone, c.skill) for c in pending] == [("13800138000", "tv")]

    await by_id(page, "done-button").tap()
    await expect(by_id(page, "attract-screen")).to_be_visible()
    assert await storage(page) == {"local": [TOKEN_KEY], "session": 0}
    assert_quiet(page)


async def test_elder_mode_and_english_until_the_privacy_reset(
        live_server: LiveServer, new_page: NewPage) -> None:
    page = await open_kiosk(new_page, live_server, "portrait")
    font_size = "parseFloat(getComputedStyle(document.documentElement).fontSize)"
    normal = await page.evaluate(font_size)

    await by_id(page, "elder-mode").tap()
    await expect(by_id(page, "elder-mode")).to_have_attribute("aria-pressed", "true")
    assert await page.evaluate(font_size) >= normal * 1.25
    await by_id(page, "language-switch").tap()
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(by_id(page, "attract-screen")).to_contain_text("Touch the screen to start")
    await snap(page, "kiosk-attract-english-elder-portrait")
    await by_id(page, "attract-screen").tap()
    await expect(by_id(page, "call-button")).to_contain_text("Call now")
    await by_id(page, "call-button").tap()
    await expect(by_id(page, "matter-water")).to_contain_text("Water")
    await snap(page, "kiosk-matters-english-elder-portrait")

    await by_id(page, "back-button").tap()
    await by_id(page, "home-button").tap()  # the visitor leaves: privacy reset
    await expect(by_id(page, "attract-screen")).to_contain_text("请轻触屏幕开始")
    await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    await expect(by_id(page, "elder-mode")).to_have_attribute("aria-pressed", "false")
    assert await page.evaluate(font_size) == normal

    await page.set_viewport_size(LAPTOP)
    await by_id(page, "elder-mode").tap()
    await by_id(page, "attract-screen").tap()
    await by_id(page, "call-button").tap()
    await expect(by_id(page, "matter-other")).to_be_visible()
    await snap(page, "kiosk-matters-elder-landscape")


async def test_unprovisioned_kiosk_tells_the_technician(live_server: LiveServer,
                                                        new_page: NewPage) -> None:
    page = await new_page("kiosk-unprovisioned", viewport=KIOSK, has_touch=True)
    await page.goto(f"{live_server.http}/kiosk")
    await expect(by_id(page, "not-provisioned")).to_be_visible()
    await expect(page.get_by_text("token")).to_be_visible()
    await snap(page, "kiosk-not-provisioned-portrait")

    # A token the server does not know is found out when the page starts.
    await page.goto(f"{live_server.http}/kiosk?token=revoked-kiosk")
    await expect(by_id(page, "not-provisioned")).to_be_visible()
    assert live_server.hub.callers == {}


async def test_reload_while_waiting_keeps_the_place(live_server: LiveServer,
                                                    new_page: NewPage) -> None:
    page = await open_kiosk(new_page, live_server, "portrait")
    await by_id(page, "attract-screen").tap()
    await by_id(page, "call-button").tap()
    await by_id(page, "matter-electricity").tap()
    await by_id(page, "callback-keep-waiting").tap()
    await expect(by_id(page, "queue-position")).to_have_text("1")
    (call_id,) = live_server.hub.callers

    await page.reload()
    await expect(by_id(page, "queue-position")).to_have_text("1")
    await by_id(page, "cancel-button").tap()
    await expect(by_id(page, "attract-screen")).to_be_visible()
    assert await storage(page) == {"local": [TOKEN_KEY], "session": 0}
    record = await call_record(live_server, call_id)
    assert record.end_reason == "caller_hangup"


async def test_pages_are_not_cached_and_may_use_the_camera(live_server: LiveServer,
                                                           new_page: NewPage) -> None:
    page = await new_page("headers")
    for path in ("/kiosk", "/call"):
        response = await page.goto(f"{live_server.http}{path}")
        assert response is not None and response.ok
        headers = await response.all_headers()
        assert headers["cache-control"] == "no-store"
        assert "camera=(self)" in headers["permissions-policy"]
        assert "microphone=(self)" in headers["permissions-policy"]


async def test_pages_connect_only_to_their_own_origin(live_server: LiveServer,
                                                      new_page: NewPage) -> None:
    host = live_server.http.removeprefix("http://")
    for path in ("/kiosk", "/call"):
        async with httpx.AsyncClient(base_url=live_server.http) as client:
            csp = (await client.get(path)).headers["content-security-policy"]
        directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
        assert directives["connect-src"] == f"'self' ws://{host}", path
        # Behind the documented nginx (a trusted proxy on 127.0.0.1): the HTTPS origin only.
        async with httpx.AsyncClient(base_url=live_server.http) as client:
            proxied = await client.get(path, headers={"Host": "video.example.gov.cn",
                                                      "X-Forwarded-Proto": "https"})
        assert "connect-src 'self' wss://video.example.gov.cn;" in (
            proxied.headers["content-security-policy"])
    # A hostile Host header does not get into the policy.
    async with httpx.AsyncClient(base_url=live_server.http) as client:
        odd = await client.get("/kiosk", headers={"Host": "a.example; script-src *"})
    assert "connect-src 'self';" in odd.headers["content-security-policy"]

    # Under that policy the page still reaches its own server.
    page = await open_kiosk(new_page, live_server, "landscape")
    await by_id(page, "attract-screen").tap()
    await by_id(page, "call-button").tap()
    await by_id(page, "matter-tv").tap()
    await expect(by_id(page, "callback-offer")).to_be_visible()
    assert_quiet(page)
