"""The agent console in real headless Chromium against a real server on loopback.

Callers are the headless aiortc caller (real media) or a raw protocol socket (when only
signaling matters). Each flow is what an agent does: sign in, go ready, answer, talk,
hang up, wrap up; reject; auto-answer; work by keyboard. Screenshots land in artifacts/.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, WebSocketRoute, expect

from kiosk_client.headless import CallTimings, place_call
from tests.conftest import LiveServer, StartServer
from tests.e2e.a11y import ALL_IMPACTS, assert_accessible
from tests.e2e.conftest import NewPage, remote_video_playing, screenshot
from tests.protocol.wsclient import agent, caller

DESKTOP = {"width": 1920, "height": 1080}


def by_id(page: Page, name: str) -> Any:
    return page.get_by_test_id(name)


async def open_console(page: Page, server: LiveServer) -> None:
    await page.goto(f"{server.http}/console")
    await expect(by_id(page, "login-username")).to_be_visible()


async def sign_in(page: Page, server: LiveServer, username: str = "demo-agent-1",
                  password: str = "demo") -> None:
    """Sign in through the form and wait until the socket is authenticated."""
    await open_console(page, server)
    await by_id(page, "login-username").fill(username)
    await by_id(page, "login-password").fill(password)
    await by_id(page, "login-submit").click()
    await expect(by_id(page, "console-app")).to_be_visible()
    await expect(by_id(page, "connection-status")).to_have_attribute("data-state", "open")
    await expect(by_id(page, "agent-state")).to_have_attribute("data-state", "not_ready")


async def go_ready(page: Page) -> None:
    await by_id(page, "state-ready").click()
    await expect(by_id(page, "agent-state")).to_have_attribute("data-state", "ready")


async def until(condition: Callable[[], Awaitable[bool]], timeout: float = 10.0,
                interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)


async def wait_for_remote_video(page: Page, timeout: float = 15.0) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    while True:
        stats = await remote_video_playing(page)
        if stats["videoWidth"] > 0 and stats["framesDecoded"] > 0:
            return stats
        if time.monotonic() > deadline:
            raise AssertionError(f"remote video not playing: {stats}")
        await asyncio.sleep(0.2)


async def no_horizontal_scroll(page: Page) -> None:
    widths = await page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1], f"horizontal scroll: {widths}"


async def accessible(page: Page, name: str) -> None:
    """The console is held to zero axe violations of any impact, not only serious ones."""
    await assert_accessible(page, name, ALL_IMPACTS)


def page_errors(page: Page) -> list[str]:
    return [m for m in page.console_messages  # type: ignore[attr-defined]
            if m.startswith("pageerror") or m.startswith("error")]


# ---------------------------------------------------------------- page basics


async def test_console_page_headers(live_server: LiveServer) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{live_server.http}/console")
        module = await client.get(f"{live_server.http}/static/console/console.js")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    policy = response.headers["permissions-policy"]
    assert "camera=(self)" in policy and "microphone=(self)" in policy
    assert 'data-testid="login-username"' in response.text
    assert module.status_code == 200
    assert "javascript" in module.headers["content-type"]
    assert module.headers["cache-control"] == "no-cache" and module.headers["etag"]


# ---------------------------------------------------------------- the main flow


@pytest.mark.browser
@pytest.mark.slow
async def test_headless_caller_reaches_console_then_wrap_up_is_recorded(
        live_server: LiveServer, new_page: NewPage) -> None:
    server = live_server
    page = await new_page("agent")
    await open_console(page, server)
    await screenshot(page, "console-login-laptop")
    await accessible(page, "console sign-in")
    await sign_in(page, server)
    await go_ready(page)
    await expect(by_id(page, "queue-panel").get_by_test_id("queue-row").first).to_be_visible()
    await expect(by_id(page, "agent-name")).to_contain_text("演示坐席 1")
    await no_horizontal_scroll(page)
    await screenshot(page, "console-ready-laptop")
    await accessible(page, "console ready, idle")

    started = time.perf_counter()
    call_task: asyncio.Task[CallTimings] = asyncio.create_task(
        place_call(server.http, "water", kiosk_token="demo-kiosk", hold=30))
    try:
        alert = by_id(page, "incoming-call")
        await expect(alert).to_be_visible()
        ring_ms = (time.perf_counter() - started) * 1000
        await expect(by_id(page, "incoming-matter")).to_have_text("供水")
        await expect(by_id(page, "incoming-origin")).to_contain_text("海盐县武原街道")
        await expect(by_id(page, "incoming-origin")).to_contain_text("镇街自助终端")
        await expect(by_id(page, "accept-button")).to_be_focused()
        call_id = await alert.get_attribute("data-call-id")
        assert call_id
        await screenshot(page, "console-ringing-laptop")
        await accessible(page, "console ringing")

        accepted = time.perf_counter()
        await by_id(page, "accept-button").click()
        await expect(alert).to_be_hidden()
        await expect(by_id(page, "call-panel")).to_be_visible()
        stats = await wait_for_remote_video(page)
        first_frame_ms = (time.perf_counter() - accepted) * 1000
        await expect(by_id(page, "agent-state")).to_have_attribute("data-state", "busy")

        timer = by_id(page, "call-timer")
        first = await timer.text_content()
        await expect(timer).not_to_have_text(first or "00:00", timeout=3000)
        await expect(by_id(page, "caller-card")).to_contain_text("海盐县武原街道")
        await expect(by_id(page, "call-quality")).not_to_have_attribute("data-level", "none")
        await no_horizontal_scroll(page)
        await screenshot(page, "console-in-call-laptop")
        await accessible(page, "console in a call")
        await page.set_viewport_size(DESKTOP)
        await screenshot(page, "console-in-call-desktop")
        await page.set_viewport_size({"width": 1366, "height": 768})

        # The console's own socket drops and comes back: `connected` is sent again for
        # the same call, and the running media session is kept (frames keep coming).
        dropped = server.hub.agents["demo-agent-1"]
        frames_before = (await remote_video_playing(page))["framesDecoded"]
        dropped.close(1012, "test: drop the agent socket")

        async def reconnected() -> bool:
            again = server.hub.agents.get("demo-agent-1")
            return again is not None and again is not dropped
        await until(reconnected)
        await expect(by_id(page, "connection-status")).to_have_attribute("data-state", "open")
        await asyncio.sleep(1.0)
        frames_after = (await remote_video_playing(page))["framesDecoded"]
        assert frames_after > frames_before, (frames_before, frames_after)
        await expect(by_id(page, "call-panel")).to_be_visible()
        await expect(by_id(page, "call-timer")).not_to_have_text("00:00")

        await by_id(page, "mute-button").click()
        await expect(by_id(page, "mute-button")).to_have_attribute("aria-pressed", "true")
        await by_id(page, "mute-button").click()

        await by_id(page, "hangup-button").click()
        wrap_up = by_id(page, "wrapup-panel")
        await expect(wrap_up).to_be_visible()
        await expect(by_id(page, "call-panel")).to_be_hidden()
        await expect(by_id(page, "agent-state")).to_have_attribute("data-state", "wrap_up")
        await expect(by_id(page, "wrapup-countdown")).to_contain_text(":")
        timings = await asyncio.wait_for(call_task, 10)
    finally:
        if not call_task.done():
            call_task.cancel()
    assert timings.call_id == call_id
    assert timings.first_remote_frame_ms is not None, "the caller never saw the agent's video"

    notes = "市民咨询水表过户，已告知所需材料。"
    await by_id(page, "wrapup-outcome").select_option("resolved")
    await by_id(page, "wrapup-notes").fill(notes)
    await screenshot(page, "console-wrapup-laptop")
    await accessible(page, "console wrap-up")
    await by_id(page, "wrapup-done").click()
    await expect(by_id(page, "agent-state")).to_have_attribute("data-state", "ready")
    await expect(wrap_up).to_be_hidden()
    await expect(by_id(page, "idle-view")).to_be_visible()

    async def recorded() -> bool:
        record = await server.hub.call_records.get(call_id)
        return record is not None and record.outcome == "resolved"
    await until(recorded)
    record = await server.hub.call_records.get(call_id)
    assert record.notes == notes and record.agent_id == "demo-agent-1"

    row = by_id(page, "recent-calls").locator(f'[data-call-id="{call_id}"]')
    await expect(row).to_be_visible()
    await expect(row).to_contain_text("供水")
    await expect(row.get_by_test_id("recent-call-outcome")).to_have_text("已办结")
    await expect(row.get_by_test_id("recent-call-notes")).to_have_text(notes)
    assert not page_errors(page), page_errors(page)
    print(f"\nconsole: alert {ring_ms:.0f} ms after the call button; first remote frame "
          f"{first_frame_ms:.0f} ms after accept ({stats['framesDecoded']:.0f} frames decoded)")


# ---------------------------------------------------------------- reject and cancel


@pytest.mark.browser
async def test_reject_reoffers_and_caller_hangup_stops_the_ring(
        start_server: StartServer, new_page: NewPage) -> None:
    server = await start_server(reject_delay=0.5)
    page = await new_page("agent")
    await sign_in(page, server)
    await go_ready(page)
    other = await agent(server, "demo-agent-2", ready=False)
    first_caller, first = await caller(server, "water")
    alert = by_id(page, "incoming-call")
    try:
        await expect(alert).to_be_visible()
        await expect(alert).to_have_attribute("data-call-id", first["call_id"])
        await other.send({"type": "set_status", "status": "ready"})
        await other.expect("agent_state", state="ready")

        await by_id(page, "reject-button").click()
        await expect(alert).to_be_hidden(timeout=1000)
        reoffer = await other.expect("offer", call_id=first["call_id"])
        assert reoffer["skill"] == "water"

        # The second agent steps away; the next caller rings on the console and hangs up.
        await other.send({"type": "reject", "call_id": first["call_id"]})
        await other.send({"type": "set_status", "status": "not_ready", "reason": "break"})
        await other.expect("agent_state", state="not_ready")
        await first_caller.send({"type": "hangup"})
        await first_caller.expect("ended")
        await expect(alert).to_be_hidden()

        second_caller, second = await caller(server, "water")
        await expect(alert).to_have_attribute("data-call-id", second["call_id"])
        await expect(alert).to_be_visible()
        hung_up = time.perf_counter()
        await second_caller.send({"type": "hangup"})
        await expect(alert).to_be_hidden(timeout=1000)
        vanished_ms = (time.perf_counter() - hung_up) * 1000
        await expect(by_id(page, "agent-state")).to_have_attribute("data-state", "ready")
        await expect(by_id(page, "toast").last).to_contain_text("来电者已挂断")
        print(f"\nconsole: alert gone {vanished_ms:.0f} ms after the caller hung up")
        await second_caller.close()
    finally:
        await first_caller.close()
        await other.close()
    assert not page_errors(page), page_errors(page)


@pytest.mark.browser
async def test_ring_timeout_says_the_call_goes_back_to_the_queue_and_may_ring_again(
        start_server: StartServer, new_page: NewPage) -> None:
    """With nobody else ready, an unanswered call rings the same agent again: say so."""
    server = await start_server(ring_timeout=2)
    page = await new_page("agent")
    await open_console(page, server)
    footer = by_id(page, "login-footer")
    await expect(footer).to_contain_text("不录音录像")
    await expect(footer).not_to_contain_text("依法记录")
    await sign_in(page, server)
    await go_ready(page)
    waiting, queued = await caller(server, "water")
    try:
        alert = by_id(page, "incoming-call")
        await expect(alert).to_have_attribute("data-call-id", queued["call_id"])
        countdown = by_id(page, "ring-countdown")
        await expect(countdown).to_contain_text("退回队列")
        await expect(countdown).not_to_contain_text("其他坐席")
        notice = by_id(page, "toast").filter(has_text="未接听")
        await expect(notice).to_be_visible(timeout=8000)
        await expect(notice).to_contain_text("已退回队列")
        await expect(notice).not_to_contain_text("转给其他坐席")
        await expect(alert).to_be_visible()
        await expect(alert).to_have_attribute("data-call-id", queued["call_id"])
        await accessible(page, "console ringing again after a timeout")
        await by_id(page, "language-switch").click()
        await expect(countdown).to_contain_text("back to the queue")
        await expect(countdown).not_to_contain_text("another agent")
    finally:
        await waiting.close()


@pytest.mark.browser
async def test_ringing_shows_the_callers_language(live_server: LiveServer,
                                                  new_page: NewPage) -> None:
    page = await new_page("agent")
    await sign_in(page, live_server)
    await go_ready(page)
    waiting, queued = await caller(live_server, "water", language="en")
    try:
        await expect(by_id(page, "incoming-call")).to_have_attribute("data-call-id",
                                                                     queued["call_id"])
        await expect(by_id(page, "incoming-language")).to_have_text("英文")
        await screenshot(page, "console-ringing-english-caller-laptop")
        await accessible(page, "console ringing, English-speaking caller")
    finally:
        await waiting.close()


@pytest.mark.browser
async def test_server_restart_close_shows_a_calm_notice_then_signs_back_in(
        live_server: LiveServer, new_page: NewPage) -> None:
    server = live_server
    page = await new_page("agent")
    restarting = False
    attempts: list[bool] = []

    async def through(route: WebSocketRoute) -> None:
        attempts.append(restarting)
        if restarting:  # the server is not back yet: the connection is refused
            await route.close(code=1006, reason="connection refused")
            return
        route.connect_to_server()
    await page.route_web_socket("**/ws/agent", through)
    await sign_in(page, server)
    await go_ready(page)
    first = server.hub.agents["demo-agent-1"]

    restarting = True
    first.close(1012, "server restart")
    banner = by_id(page, "connection-banner")
    await expect(banner).to_be_visible()
    await expect(banner).to_have_text("系统正在重启，正在重新连接…")
    await expect(by_id(page, "connection-status")).to_have_attribute("data-state", "reconnecting")
    await until(lambda: _now(attempts.count(True) >= 2), timeout=15)
    await expect(banner).to_have_text("系统正在重启，正在重新连接…")  # refused retries keep it
    await screenshot(page, "console-server-restart-laptop")
    await accessible(page, "console while the server restarts")

    restarting = False
    await expect(by_id(page, "connection-status")).to_have_attribute("data-state", "open",
                                                                     timeout=15_000)
    await expect(banner).to_be_hidden()

    async def signed_in_again() -> bool:
        again = server.hub.agents.get("demo-agent-1")
        return again is not None and again is not first
    await until(signed_in_again)
    await expect(by_id(page, "agent-state")).not_to_have_attribute("data-state", "unknown")
    assert not page_errors(page), page_errors(page)


async def _now(value: bool) -> bool:
    return value


# ---------------------------------------------------------------- wrap-up outcome


async def answer_and_hang_up(page: Page, server: LiveServer) -> str:
    """A raw caller rings the (ready) console; the agent answers and hangs up."""
    waiting, queued = await caller(server, "water")
    try:
        await expect(by_id(page, "incoming-call")).to_have_attribute("data-call-id",
                                                                     queued["call_id"])
        await by_id(page, "accept-button").click()
        await waiting.expect("connected", call_id=queued["call_id"])
        await by_id(page, "hangup-button").click()
        await expect(by_id(page, "wrapup-panel")).to_be_visible()
        await waiting.expect("ended")
    finally:
        await waiting.close()
    call_id: str = queued["call_id"]
    return call_id


@pytest.mark.browser
async def test_wrap_up_needs_an_outcome_also_for_late_notes(start_server: StartServer,
                                                            new_page: NewPage) -> None:
    server = await start_server(wrap_up_time=4)
    page = await new_page("agent")
    await sign_in(page, server)
    await go_ready(page)
    state = by_id(page, "agent-state")
    error = by_id(page, "wrapup-outcome-error")

    # "Done" without an outcome explains what is missing and sends nothing.
    first = await answer_and_hang_up(page, server)
    await expect(by_id(page, "wrapup-panel")).to_contain_text("处理结果（必填）")
    await by_id(page, "wrapup-done").click()
    await expect(error).to_be_visible()
    await expect(error).to_have_text("请选择处理结果后再提交")
    await expect(by_id(page, "wrapup-outcome")).to_be_focused()
    await expect(by_id(page, "wrapup-outcome")).to_have_attribute("aria-invalid", "true")
    await expect(state).to_have_attribute("data-state", "wrap_up")
    await accessible(page, "console wrap-up, outcome missing")
    await by_id(page, "wrapup-outcome").select_option("resolved")
    await expect(error).to_be_hidden()
    await by_id(page, "wrapup-done").click()
    await expect(state).to_have_attribute("data-state", "ready")

    async def recorded(call_id: str, outcome: str) -> bool:
        record = await server.hub.call_records.get(call_id)
        return record is not None and record.outcome == outcome
    await until(lambda: recorded(first, "resolved"))

    # The timer ends wrap-up while notes are typed but no outcome is chosen: the panel
    # stays, asks for one, and then files the notes with that call.
    second = await answer_and_hang_up(page, server)
    notes = "市民反映水压低，需安排上门。"
    await by_id(page, "wrapup-notes").fill(notes)
    await expect(state).to_have_attribute("data-state", "ready", timeout=10_000)
    late = by_id(page, "wrapup-late")
    await expect(late).to_be_visible()
    await expect(late).to_contain_text("选择处理结果")
    await expect(error).to_be_visible()
    await expect(by_id(page, "wrapup-notes")).to_have_value(notes)
    await screenshot(page, "console-wrapup-late-laptop")
    await accessible(page, "console late wrap-up")
    await by_id(page, "wrapup-done").click()
    await expect(by_id(page, "wrapup-panel")).to_be_visible()
    await by_id(page, "wrapup-outcome").select_option("follow-up")
    await by_id(page, "wrapup-done").click()
    await expect(by_id(page, "wrapup-panel")).to_be_hidden()
    await expect(by_id(page, "idle-view")).to_be_visible()
    await until(lambda: recorded(second, "follow-up"))
    record = await server.hub.call_records.get(second)
    assert record.notes == notes
    assert not page_errors(page), page_errors(page)


async def test_console_config_says_whether_an_outcome_is_required(
        start_server: StartServer) -> None:
    for required in (True, False):
        server = await start_server(wrap_up_outcome_required=required)
        async with httpx.AsyncClient() as client:
            page = (await client.get(f"{server.http}/console")).text
        assert f'"wrapUpOutcomeRequired": {str(required).lower()}' in page


# ---------------------------------------------------------------- auto-answer


@pytest.mark.browser
@pytest.mark.slow
async def test_auto_answer_connects_without_a_click(live_server: LiveServer,
                                                    new_page: NewPage) -> None:
    server = live_server
    page = await new_page("agent")
    await sign_in(page, server)
    await by_id(page, "auto-answer").check()

    async def auto_answer_on() -> bool:
        known = server.hub.engine.agents.get("demo-agent-1")
        return known is not None and known.auto_answer
    await until(auto_answer_on)
    await go_ready(page)

    started = time.perf_counter()
    call_task = asyncio.create_task(
        place_call(server.http, "electricity", kiosk_token="demo-kiosk", hold=4))
    try:
        await expect(by_id(page, "call-panel")).to_be_visible()
        await wait_for_remote_video(page)
        first_frame_ms = (time.perf_counter() - started) * 1000
        await expect(by_id(page, "accept-button")).to_be_hidden()
        timings = await asyncio.wait_for(call_task, 20)
    finally:
        if not call_task.done():
            call_task.cancel()
    assert timings.first_remote_frame_ms is not None
    await expect(by_id(page, "wrapup-panel")).to_be_visible()
    await expect(by_id(page, "wrapup-panel")).to_contain_text("来电者已挂断")
    await by_id(page, "wrapup-outcome").select_option("resolved")
    await by_id(page, "wrapup-done").click()
    await expect(by_id(page, "agent-state")).to_have_attribute("data-state", "ready")
    await expect(by_id(page, "auto-answer")).to_be_checked()
    print(f"\nconsole auto-answer: call button to first frame on the console "
          f"{first_frame_ms:.0f} ms (caller saw the agent after "
          f"{timings.first_remote_frame_ms:.0f} ms)")
    assert not page_errors(page), page_errors(page)


# ---------------------------------------------------------------- sign-in and keyboard


@pytest.mark.browser
async def test_wrong_password_and_keyboard_only_work(live_server: LiveServer,
                                                     new_page: NewPage) -> None:
    server = live_server
    page = await new_page("agent")
    await open_console(page, server)
    focused = "() => document.activeElement && document.activeElement.dataset.testid"

    assert await page.evaluate(focused) == "login-username"
    await page.keyboard.type("demo-agent-1")
    await page.keyboard.press("Tab")
    assert await page.evaluate(focused) == "login-password"
    await page.keyboard.type("wrong-password")
    await page.keyboard.press("Tab")
    assert await page.evaluate(focused) == "login-submit"
    await page.keyboard.press("Enter")
    error = by_id(page, "login-error")
    await expect(error).to_be_visible()
    await expect(error).to_contain_text("账号或密码错误")
    await expect(by_id(page, "console-app")).to_be_hidden()
    await screenshot(page, "console-login-error-laptop")
    await accessible(page, "console sign-in error")

    await by_id(page, "language-switch").click()
    await expect(by_id(page, "login-submit")).to_have_text("Sign in")
    await expect(error).to_contain_text("Wrong username or password")
    await by_id(page, "language-switch").click()
    await expect(by_id(page, "login-submit")).to_have_text("登录")

    await by_id(page, "login-password").fill("demo")
    await page.keyboard.press("Enter")
    await expect(by_id(page, "agent-state")).to_have_attribute("data-state", "not_ready")
    await accessible(page, "console signed in, not ready")
    await by_id(page, "language-switch").click()
    await expect(by_id(page, "agent-state")).to_contain_text("Not ready")
    await expect(by_id(page, "state-ready")).to_have_text("Ready")
    await no_horizontal_scroll(page)
    await screenshot(page, "console-english-laptop")
    await accessible(page, "console in English")
    await by_id(page, "language-switch").click()
    await expect(by_id(page, "agent-state")).to_contain_text("未就绪")

    # A caller waits while the agent is not ready: the queue panel flags the 2 s target.
    waiting, queued = await caller(server, "water")
    try:
        row = by_id(page, "queue-panel").locator('[data-skill="water"]')
        await expect(row).to_have_attribute("data-waiting", "1")
        await expect(row).to_have_attribute("data-over-target", "true", timeout=6000)
        await screenshot(page, "console-queue-over-target-laptop")

        # The reload keeps the sign-in.
        await page.reload()
        await expect(by_id(page, "console-app")).to_be_visible()
        await expect(by_id(page, "agent-state")).to_have_attribute("data-state", "not_ready")

        # Ready, accept, hang up, wrap up: all by keyboard.
        await page.keyboard.press("Alt+Y")
        await expect(by_id(page, "incoming-call")).to_be_visible()
        await expect(by_id(page, "accept-button")).to_be_focused()
        await page.keyboard.press("Alt+A")
        await expect(by_id(page, "call-panel")).to_be_visible()
        await waiting.expect("connected", call_id=queued["call_id"])
        await page.keyboard.press("Alt+H")
        await expect(by_id(page, "wrapup-panel")).to_be_visible()
        await expect(by_id(page, "wrapup-outcome")).to_be_focused()
        await by_id(page, "wrapup-outcome").select_option("follow-up")
        await page.keyboard.press("Tab")
        assert await page.evaluate(focused) == "wrapup-notes"
        await page.keyboard.type("回访客户")
        await page.keyboard.press("Control+Enter")
        await expect(by_id(page, "agent-state")).to_have_attribute("data-state", "ready")
        await waiting.expect("ended")
    finally:
        await waiting.close()

    async def recorded() -> bool:
        record = await server.hub.call_records.get(queued["call_id"])
        return record is not None and record.outcome == "follow-up"
    await until(recorded)

    await page.keyboard.press("Alt+K")
    await expect(by_id(page, "help-dialog")).to_be_visible()
    await expect(by_id(page, "help-dialog")).to_contain_text("Alt")
    await screenshot(page, "console-help-laptop")
    await accessible(page, "console help dialog")
    await page.keyboard.press("Escape")
    await expect(by_id(page, "help-dialog")).to_be_hidden()

    await by_id(page, "logout-button").click()
    await expect(by_id(page, "login-screen")).to_be_visible()
    await page.reload()
    await expect(by_id(page, "login-screen")).to_be_visible()
    await expect(by_id(page, "console-app")).to_be_hidden()
    assert not [m for m in page_errors(page) if "401" not in m], page_errors(page)


# ---------------------------------------------------------------- invites and callbacks


@pytest.mark.browser
async def test_invite_links_are_short_limited_listed_and_revocable(
        live_server: LiveServer, new_page: NewPage) -> None:
    server = live_server
    page = await new_page("agent")
    await sign_in(page, server)
    panel = by_id(page, "invite-panel")
    await by_id(page, "invite-skill").select_option("tax")
    await by_id(page, "invite-label").fill("某某公司 张先生")
    await by_id(page, "invite-uses").select_option("3")
    await by_id(page, "invite-lifetime").select_option(str(3600))
    await by_id(page, "invite-create").click()
    url = by_id(page, "invite-url")
    await expect(url).to_be_visible()
    value = await url.input_value()
    token = value.split("invite=", 1)[1]
    assert value == f"{server.http}/call?invite={token}" and len(token) == 22, value
    assert "张" not in value and "tax" not in value
    await expect(panel).to_contain_text("只显示这一次")
    async with httpx.AsyncClient() as client:
        invite = (await client.get(f"{server.http}/api/invites/{token}")).json()
    assert invite["skill"] == "tax" and invite["uses_left"] == 3
    assert invite["expires_at"] - time.time() < 3600 + 5
    await by_id(page, "invite-copy").click()
    await expect(by_id(page, "toast").last).to_be_visible()

    item = by_id(page, "invite-list").get_by_test_id("invite-item")
    await expect(item).to_have_count(1)
    await expect(item).to_contain_text("税务")
    await expect(item).to_contain_text("某某公司 张先生")
    await expect(item.get_by_test_id("invite-uses-count")).to_have_text("已用 0/3 次")
    await expect(item.get_by_test_id("invite-state")).to_have_text("有效")
    await screenshot(page, "console-invite-laptop")
    await accessible(page, "console invite panel with a new link")

    await item.get_by_test_id("invite-revoke").click()
    await expect(item).to_have_attribute("data-state", "revoked")
    await expect(item.get_by_test_id("invite-state")).to_have_text("已撤销")
    await expect(item.get_by_test_id("invite-revoke")).to_have_count(0)
    await expect(url).to_be_hidden()
    async with httpx.AsyncClient() as client:
        gone = await client.get(f"{server.http}/api/invites/{token}")
    assert gone.status_code == 404 and gone.json()["code"] == "invalid_invite"

    # The list survives a reload (it comes from the server); the link itself does not.
    await page.reload()
    await expect(by_id(page, "invite-list").get_by_test_id("invite-item")).to_have_count(1)
    await expect(by_id(page, "invite-url")).to_be_hidden()
    await accessible(page, "console invite list")
    assert not page_errors(page), page_errors(page)


@pytest.mark.browser
async def test_callback_completion_records_outcome_and_notes_and_keeps_history(
        live_server: LiveServer, new_page: NewPage) -> None:
    server = live_server
    # A caller with nobody ready takes the callback offer.
    waiting, queued = await caller(server, "gas")
    await waiting.send({"type": "accept_callback", "phone": "13812345678"})
    await waiting.expect("callback_registered")
    await waiting.close()

    page = await new_page("agent")
    await sign_in(page, server)
    panel = by_id(page, "callbacks-panel")
    item = panel.get_by_test_id("callback-item").first
    await expect(item).to_be_visible()
    await expect(item).to_contain_text("燃气")
    await expect(item).not_to_contain_text("13812345678")
    await screenshot(page, "console-callbacks-laptop")
    await accessible(page, "console callbacks, pending")
    await item.get_by_test_id("callback-claim").click()
    phone = panel.get_by_test_id("callback-phone")
    await expect(phone).to_have_text("138 1234 5678")

    # "完成" asks how it went; saving without an outcome explains and sends nothing.
    await panel.get_by_test_id("callback-complete").click()
    outcome = panel.get_by_test_id("callback-outcome")
    await expect(outcome).to_be_focused()
    await panel.get_by_test_id("callback-save").click()
    await expect(panel.get_by_test_id("callback-outcome-error")).to_be_visible()
    await expect(panel.get_by_test_id("callback-item")).to_have_count(1)
    await accessible(page, "console callback completion form")
    await outcome.select_option("no-answer")
    await expect(panel.get_by_test_id("callback-outcome-error")).to_be_hidden()
    notes = "两次拨打无人接听，明早再试。"
    await panel.get_by_test_id("callback-notes").fill(notes)
    await screenshot(page, "console-callback-complete-laptop")
    await panel.get_by_test_id("callback-save").click()
    await expect(panel.get_by_test_id("callback-item")).to_have_count(0)

    async with httpx.AsyncClient() as client:
        token = await page.evaluate(
            "() => JSON.parse(sessionStorage.getItem('cloud-agent.console.login')).token")
        listed = (await client.get(f"{server.http}/api/callbacks",
                                   headers={"Authorization": f"Bearer {token}"})).json()
    assert [(c["outcome"], c["notes"], c["phone"]) for c in listed["history"]] == [
        ("no-answer", notes, "13812345678")]

    # It stays in the history, also after a reload.
    await page.reload()
    history = by_id(page, "callback-history")
    await expect(history).to_be_visible()
    await expect(history).to_contain_text("1")
    await history.locator("summary").click()
    done = history.get_by_test_id("callback-history-item")
    await expect(done).to_have_count(1)
    await expect(done.get_by_test_id("callback-history-outcome")).to_have_text("无人接听")
    await expect(done.get_by_test_id("callback-history-notes")).to_have_text(notes)
    await expect(done).to_contain_text("138 1234 5678")
    await screenshot(page, "console-callback-history-laptop")
    await accessible(page, "console callback history")
    assert not page_errors(page), page_errors(page)
