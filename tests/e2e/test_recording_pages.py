"""Consented recording in the real pages: a Chromium kiosk and a Chromium console.

The kiosk asks for consent before anything is queued; the console sends its copy of the
call to the server's recorder; both show that the call is recorded; the file is checked
with PyAV. Refusals: the call goes on unrecorded and the console says so, or (where the
policy says so) the citizen leaves a number instead. Each prompt is checked with axe.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import av
import pytest
from playwright.async_api import Page, expect

from kiosk_client.headless import answer_calls
from signaling.store import RecordingRepository
from signaling.store.recording_models import Recording
from tests.conftest import LiveServer, StartServer
from tests.e2e.a11y import SERIOUS, axe_violations, describe
from tests.e2e.conftest import NewPage, screenshot
from tests.e2e.test_console import sign_in
from tests.e2e.test_enterprise import GOOD_USCC, fill_form, open_call_page
from tests.e2e.test_flows import console_for, kiosk_picks_water
from tests.e2e.test_kiosk import (
    agent_ready,
    background,
    by_id,
    eventually,
    open_kiosk,
    video_playing,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


async def assert_accessible(page: Page, where: str) -> None:
    found = [v for v in await axe_violations(page) if v["impact"] in SERIOUS]
    assert not found, f"axe on {where}:\n{describe(found)}"


async def recordings_of(server: LiveServer, call_id: str) -> list[Recording]:
    return await RecordingRepository(server.hub.db).for_call(call_id)


async def test_a_consented_kiosk_call_is_recorded_from_the_console(
        start_server: StartServer, new_page: NewPage) -> None:
    server = await start_server(recording_policy="consent", wrap_up_time=2)
    console = await console_for(new_page, server)
    kiosk = await open_kiosk(new_page, server, "portrait")
    await kiosk_picks_water(kiosk)

    prompt = by_id(kiosk, "recording-consent")
    await expect(prompt).to_be_visible()
    await expect(prompt).to_contain_text("本次通话将被录音录像")
    assert server.hub.engine.calls == {}  # nothing is queued before the answer
    box = await by_id(kiosk, "consent-agree").bounding_box()
    assert box is not None and box["height"] >= 60  # a large touch target
    await assert_accessible(kiosk, "the consent prompt")
    await screenshot(kiosk, "recording-consent-kiosk")
    await by_id(kiosk, "consent-language").tap()  # the English switch, inside the prompt
    await expect(prompt).to_contain_text("This call will be recorded")
    await by_id(kiosk, "consent-agree").tap()
    await expect(prompt).to_be_hidden()

    await expect(by_id(console, "incoming-call")).to_be_visible()
    await by_id(console, "accept-button").click()
    await video_playing(console)
    await video_playing(kiosk)
    await expect(by_id(console, "recording-status")).to_have_attribute(
        "data-state", "recording", timeout=20_000)
    await expect(by_id(kiosk, "recording-indicator")).to_be_visible()
    await expect(by_id(kiosk, "recording-indicator")).to_contain_text("Recording")
    await assert_accessible(console, "the console while recording")
    await screenshot(console, "recording-console-in-call")
    await screenshot(kiosk, "recording-kiosk-in-call")
    await assert_accessible(kiosk, "the kiosk while recording")
    call_id = next(iter(server.hub.sessions))
    await asyncio.sleep(4)  # some seconds of recorded call
    await by_id(console, "hangup-button").click()
    await expect(by_id(kiosk, "recording-indicator")).to_be_hidden()

    async def finished() -> bool:
        rows = await recordings_of(server, call_id)
        return bool(rows) and all(r.state != "recording" for r in rows)
    await eventually(finished, 30, "the recording to be finished")
    [row] = await recordings_of(server, call_id)
    assert row.state == "complete", row.failure
    path = Path(server.hub.settings.data_dir) / "recordings" / row.path
    with av.open(str(path)) as container:
        kinds = sorted((s.type, s.codec_context.name) for s in container.streams)
        assert kinds == [("audio", "opus"), ("video", "vp8")]
        assert container.duration is not None
        duration = container.duration / av.time_base
        frames = sum(1 for _ in container.decode(video=0))
    assert 2.0 <= duration <= 60.0 and frames >= 5, (duration, frames)
    frames_by_slot = row.detail["frames"]
    # Both sides' pictures and voices reached the recorder from the console's copy.
    for slot in ("video:caller", "video:agent", "audio:caller", "audio:agent"):
        assert frames_by_slot[slot] > 0, frames_by_slot

    # A supervisor plays it back from the console; the agent has no such panel.
    await expect(by_id(console, "recordings-panel")).to_be_hidden()
    supervisor = await new_page("supervisor")
    await sign_in(supervisor, server, "demo-supervisor", "demo")
    item = supervisor.locator(f'[data-call-id="{call_id}"]')
    await expect(item).to_contain_text("海盐县武原街道")
    await item.get_by_role("button").click()
    player = by_id(supervisor, "recording-player")
    await expect(player).to_be_visible()

    async def loaded() -> bool:
        state = await player.evaluate(
            "(v) => [v.readyState, v.videoWidth, v.error && v.error.code]")
        assert state[2] is None, f"the player failed: {state}"
        return bool(state[0] >= 1 and state[1] == 1280)
    await eventually(loaded, 15, "the recording to load in the player")
    await assert_accessible(supervisor, "the supervisor's recordings panel")
    await screenshot(supervisor, "recording-supervisor-playback")


async def test_refusal_goes_on_unrecorded_and_the_console_says_so(
        start_server: StartServer, new_page: NewPage) -> None:
    server = await start_server(recording_policy="consent")
    console = await console_for(new_page, server)
    kiosk = await open_kiosk(new_page, server, "portrait")
    await kiosk_picks_water(kiosk)
    await by_id(kiosk, "consent-decline").tap()

    await expect(by_id(console, "incoming-call")).to_be_visible()
    await by_id(console, "accept-button").click()
    await video_playing(kiosk)
    status = by_id(console, "recording-status")
    await expect(status).to_have_attribute("data-state", "refused")
    await expect(status).to_contain_text("客户未同意录音录像")
    await expect(by_id(kiosk, "recording-indicator")).to_be_hidden()
    call_id = next(iter(server.hub.sessions))
    await asyncio.sleep(2)
    assert await recordings_of(server, call_id) == []
    await assert_accessible(console, "the console of an unrecorded call")


async def test_refusal_where_recording_is_required_leaves_a_number(
        start_server: StartServer, new_page: NewPage) -> None:
    server = await start_server(recording_policy="consent_or_callback")
    kiosk = await open_kiosk(new_page, server, "portrait")
    await kiosk_picks_water(kiosk)
    await expect(by_id(kiosk, "recording-consent")).to_contain_text("留下手机号码")
    await by_id(kiosk, "consent-decline").tap()
    for digit in "13800138000":
        await by_id(kiosk, f"consent-key-{digit}").tap()
    await assert_accessible(kiosk, "the callback number step")
    await by_id(kiosk, "consent-callback").tap()

    await expect(by_id(kiosk, "recording-consent")).to_be_hidden()

    async def registered() -> bool:
        return bool(await server.hub.callbacks.list_pending("default"))
    await eventually(registered, 10, "the callback")
    pending = await server.hub.callbacks.list_pending("default")
    assert [c.phone for c in pending] == ["13800138000"]
    assert server.hub.engine.calls == {}


async def test_the_recorder_killed_mid_call_the_agent_is_told_the_call_goes_on(
        start_server: StartServer, new_page: NewPage) -> None:
    server = await start_server(recording_policy="consent")
    console = await console_for(new_page, server)
    kiosk = await open_kiosk(new_page, server, "portrait")
    await kiosk_picks_water(kiosk)
    await by_id(kiosk, "consent-agree").tap()
    await by_id(console, "accept-button").click()
    status = by_id(console, "recording-status")
    await expect(status).to_have_attribute("data-state", "recording", timeout=20_000)
    await expect(by_id(kiosk, "recording-indicator")).to_be_visible()
    call_id = next(iter(server.hub.sessions))

    [recorder] = server.hub.recording_side.recorders.values()
    os.kill(recorder.process.pid, signal.SIGKILL)

    await expect(status).to_have_attribute("data-state", "failed")
    await expect(status).to_contain_text("录像中断，通话照常进行")
    await expect(by_id(kiosk, "recording-indicator")).to_be_hidden()
    # The call is still up, and pictures still arrive on both sides.
    before = (await video_playing(console))["framesDecoded"]
    kiosk_before = (await video_playing(kiosk))["framesDecoded"]

    async def still_flowing() -> bool:
        return ((await video_playing(console))["framesDecoded"] > before + 10
                and (await video_playing(kiosk))["framesDecoded"] > kiosk_before + 10)
    await eventually(still_flowing, 15, "video after the recorder died")
    assert call_id in server.hub.sessions
    [row] = await recordings_of(server, call_id)
    assert (row.state, row.failure) == ("failed", "recorder_exited")
    await assert_accessible(console, "the console after the recorder failed")


async def test_the_enterprise_page_asks_too_and_shows_the_recording(
        start_server: StartServer, new_page: NewPage) -> None:
    server = await start_server(recording_policy="consent")
    async with background(answer_calls(server.http, "demo-agent-1", "demo", auto_answer=True,
                                       calls=1, hold=30)):
        await agent_ready(server, "demo-agent-1")
        page = await open_call_page(new_page, server)
        await fill_form(page, GOOD_USCC)
        await by_id(page, "matter-business-licence").click()
        await by_id(page, "call-button").click()
        prompt = by_id(page, "recording-consent")
        await expect(prompt).to_be_visible()
        await expect(prompt).to_contain_text("本次通话将被录音录像")
        await assert_accessible(page, "the consent prompt on /call")
        await by_id(page, "consent-agree").click()
        await video_playing(page)
        # The headless agent sends its copy like the console does.
        await expect(by_id(page, "recording-indicator")).to_be_visible(timeout=20_000)
        await expect(by_id(page, "recording-indicator")).to_contain_text("录音录像中")
        await assert_accessible(page, "/call while recording")
        await by_id(page, "hangup-button").click()
        await expect(by_id(page, "recording-indicator")).to_be_hidden()
