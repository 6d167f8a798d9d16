"""Calls that go on when a camera or microphone is missing, busy or unplugged, that come
back after the network breaks, and the network indicator on both call screens.

The browser's refusal is simulated where the browser gives it: an init script wraps
``navigator.mediaDevices.getUserMedia`` to throw the DOMException Chromium throws for a
missing (NotFoundError) or busy (NotReadableError) device, and ``__unplug(kind)`` ends a
live track the way an unplugged USB camera does (the track stops and fires ``ended``);
``__replug(kind)`` lets the device be opened again and fires ``devicechange``. Everything
after that is our code, in two real Chromium pages (a kiosk and the console).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.async_api import Page, expect

from media.turnserver import LoopbackTurnServer
from tests.conftest import LiveServer, StartServer
from tests.e2e.conftest import KIOSK, LAPTOP, NewPage, screenshot
from tests.e2e.test_console import go_ready, sign_in
from tests.e2e.test_enterprise import GOOD_USCC, fill_form
from tests.e2e.test_flows import console_for, kiosk_picks_water
from tests.e2e.test_kiosk import by_id, eventually, video_playing
from tests.media.turn_fixture import running_turn_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DEVICES = """
(() => {
  const refuse = %s;
  const opened = [];
  const real = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = async (constraints) => {
    for (const kind of ["video", "audio"]) {
      if (constraints && constraints[kind] && refuse[kind]) {
        throw new DOMException(`${kind} refused (test device)`, refuse[kind]);
      }
    }
    const stream = await real(constraints);
    opened.push(...stream.getTracks());
    return stream;
  };
  window.__unplug = (kind) => {
    refuse[kind] = "NotFoundError";
    for (const track of opened) {
      if (track.kind === kind && track.readyState === "live") {
        track.stop();
        track.dispatchEvent(new Event("ended"));
      }
    }
  };
  window.__replug = (kind) => {
    refuse[kind] = null;
    navigator.mediaDevices.dispatchEvent(new Event("devicechange"));
  };
})();
"""


def devices(video: str | None = None, audio: str | None = None) -> str:
    """The init script with the browser refusing video and/or audio with these errors."""
    return DEVICES % json.dumps({"video": video, "audio": audio})


async def kiosk_with(new_page: NewPage, server: LiveServer, script: str) -> Page:
    page = await new_page("kiosk", viewport=KIOSK, has_touch=True)
    await page.add_init_script(script)
    await page.goto(f"{server.http}/kiosk?token=demo-kiosk")
    await expect(by_id(page, "attract-screen")).to_be_visible()
    return page


async def media_figures(page: Page) -> dict[str, Any]:
    """Inbound/outbound packets per kind, video frames decoded, ICE restarts and state."""
    result: dict[str, Any] = await page.evaluate("""async () => {
        const session = window.__mediaSession && window.__mediaSession();
        const out = {audioIn: 0, videoIn: 0, framesDecoded: 0, audioOut: 0, videoOut: 0,
                     restarts: 0, ice: null, remote: null, ufrag: null};
        if (!session) return out;
        out.restarts = session.iceRestarts;
        out.ice = session.pc.iceConnectionState;
        out.remote = session.remoteMedia();
        const sdp = session.pc.localDescription ? session.pc.localDescription.sdp : "";
        const match = sdp.match(/a=ice-ufrag:(\\S+)/);
        out.ufrag = match ? match[1] : null;
        (await session.pc.getStats()).forEach((s) => {
            if (s.type === "inbound-rtp") {
                out[s.kind + "In"] += s.packetsReceived || 0;
                if (s.kind === "video") out.framesDecoded += s.framesDecoded || 0;
            }
            if (s.type === "outbound-rtp") out[s.kind + "Out"] += s.packetsSent || 0;
        });
        return out;
    }""")
    return result


async def grows(page: Page, field: str, by: int, what: str, timeout: float = 15) -> None:
    before = (await media_figures(page))[field]

    async def more() -> bool:
        return bool((await media_figures(page))[field] > before + by)
    await eventually(more, timeout, what)


async def answer(console: Page) -> None:
    await expect(by_id(console, "incoming-call")).to_be_visible()
    await by_id(console, "accept-button").click()
    await expect(by_id(console, "call-panel")).to_be_visible()


async def test_kiosk_without_camera_talks_audio_only_and_the_agent_sees_a_placeholder(
        start_server: StartServer, new_page: NewPage) -> None:
    server = await start_server()
    console = await console_for(new_page, server)
    kiosk = await kiosk_with(new_page, server, devices(video="NotFoundError"))
    await kiosk_picks_water(kiosk)
    await answer(console)
    call_id = next(iter(server.hub.sessions))

    # The caller is told plainly, and sees and hears the agent.
    await expect(by_id(kiosk, "media-notice")).to_contain_text("没有找到摄像头，通话继续")
    await expect(by_id(kiosk, "camera-button")).to_be_disabled()
    await expect(by_id(kiosk, "mute-button")).to_be_enabled()
    assert (await video_playing(kiosk))["framesDecoded"] > 0
    # The agent gets a placeholder instead of a black box, and the caller's voice.
    await expect(by_id(console, "peer-placeholder")).to_be_visible()
    await expect(by_id(console, "peer-placeholder")).to_contain_text("对方未开启摄像头")
    await expect(by_id(console, "peer-no-microphone")).to_be_hidden()
    await grows(console, "audioIn", 20, "the caller's audio at the console")
    figures = await media_figures(console)
    assert figures["remote"] == {"camera": False, "microphone": True}
    assert figures["videoIn"] == 0
    # A clean loopback call reads as a good network on both screens.
    await expect(by_id(kiosk, "net-quality")).to_have_attribute("data-level", "good")
    await expect(by_id(kiosk, "net-quality")).to_contain_text("网络良好")
    await expect(by_id(console, "call-quality")).to_have_attribute("data-level", "good")
    await expect(by_id(console, "call-quality-live")).to_have_text("网络 良好")
    await screenshot(kiosk, "devices-kiosk-no-camera")
    await screenshot(console, "devices-console-caller-no-camera")
    assert call_id in server.hub.sessions
    await by_id(console, "hangup-button").click()
    await expect(by_id(kiosk, "rating-1")).to_be_visible()


async def test_busy_microphone_and_busy_camera_go_on_with_the_other_half(
        start_server: StartServer, new_page: NewPage) -> None:
    """The kiosk's microphone and the agent's camera are held by other programs."""
    server = await start_server()
    console = await new_page("console")
    await console.add_init_script(devices(video="NotReadableError"))
    await sign_in(console, server)
    await go_ready(console)
    kiosk = await kiosk_with(new_page, server, devices(audio="NotReadableError"))
    await kiosk_picks_water(kiosk)
    await answer(console)

    await expect(by_id(kiosk, "media-notice")).to_contain_text("麦克风正被其他程序占用")
    await expect(by_id(console, "toast-region")).to_contain_text("摄像头被其他程序占用：通话继续")
    # Video-only from the kiosk: the agent sees the caller and is told there is no voice.
    assert (await video_playing(console))["framesDecoded"] > 0
    await expect(by_id(console, "peer-no-microphone")).to_be_visible()
    await expect(by_id(console, "peer-placeholder")).to_be_hidden()
    # Audio-only from the agent: the kiosk shows the agent's placeholder and hears them.
    await expect(by_id(kiosk, "peer-placeholder")).to_be_visible()
    await expect(by_id(kiosk, "peer-placeholder")).to_contain_text("工作人员没有开启摄像头")
    await grows(kiosk, "audioIn", 20, "the agent's audio at the kiosk")
    assert (await media_figures(kiosk))["remote"] == {"camera": False, "microphone": True}
    assert (await media_figures(console))["remote"] == {"camera": True, "microphone": False}
    await screenshot(kiosk, "devices-kiosk-mic-busy-agent-no-camera")
    await screenshot(console, "devices-console-camera-busy-caller-no-mic")
    await by_id(kiosk, "hangup-button").tap()
    await expect(by_id(console, "wrapup-panel")).to_be_visible()


async def test_call_page_with_a_busy_camera_says_so_before_and_during_the_call(
        start_server: StartServer, new_page: NewPage) -> None:
    server = await start_server()
    console = await console_for(new_page, server)
    page = await new_page("enterprise", viewport=LAPTOP)
    await page.add_init_script(devices(video="NotReadableError"))
    await page.goto(f"{server.http}/call")
    await fill_form(page, GOOD_USCC)
    await by_id(page, "device-check-button").click()
    await expect(by_id(page, "device-status")).to_have_attribute("data-state", "ok")
    await expect(by_id(page, "device-status")).to_contain_text("摄像头正被其他程序")
    await screenshot(page, "devices-call-page-check-camera-busy")
    await by_id(page, "matter-business-licence").click()
    await by_id(page, "call-button").click()
    await answer(console)

    await expect(by_id(page, "media-notice")).to_contain_text("摄像头正被其他程序占用，通话继续")
    await expect(by_id(console, "peer-placeholder")).to_be_visible()
    await grows(console, "audioIn", 20, "the caller's audio at the console")
    assert (await video_playing(page))["framesDecoded"] > 0
    await screenshot(page, "devices-call-page-in-call-camera-busy")
    await by_id(page, "hangup-button").click()
    await expect(by_id(page, "rating-4")).to_be_visible()


async def test_camera_unplugged_mid_call_keeps_the_call_and_comes_back(
        start_server: StartServer, new_page: NewPage) -> None:
    server = await start_server()
    console = await console_for(new_page, server)
    kiosk = await kiosk_with(new_page, server, devices())
    await kiosk_picks_water(kiosk)
    await answer(console)
    assert (await video_playing(console))["framesDecoded"] > 0
    await expect(by_id(console, "peer-placeholder")).to_be_hidden()
    call_id = next(iter(server.hub.sessions))

    await kiosk.evaluate("window.__unplug('video')")
    await expect(by_id(kiosk, "media-notice")).to_contain_text("摄像头断开了，通话继续")
    await expect(by_id(kiosk, "camera-button")).to_be_disabled()
    await expect(by_id(console, "peer-placeholder")).to_be_visible()
    await grows(console, "audioIn", 20, "the caller's audio after the camera went")
    assert call_id in server.hub.sessions
    await screenshot(kiosk, "devices-kiosk-camera-unplugged")
    await screenshot(console, "devices-console-caller-camera-unplugged")

    # Plugged in again: the picture comes back by itself, the notice goes.
    await kiosk.evaluate("window.__replug('video')")
    await expect(by_id(console, "peer-placeholder")).to_be_hidden()
    await expect(by_id(kiosk, "media-notice")).to_be_hidden()
    await expect(by_id(kiosk, "camera-button")).to_be_enabled()
    await grows(console, "framesDecoded", 10, "the caller's video after replugging")
    assert call_id in server.hub.sessions

    # The microphone goes the same way: the agent is told it hears nothing, video goes on.
    await kiosk.evaluate("window.__unplug('audio')")
    await expect(by_id(kiosk, "media-notice")).to_contain_text("麦克风断开了，通话继续")
    await expect(by_id(console, "peer-no-microphone")).to_be_visible()
    await grows(console, "framesDecoded", 10, "the caller's video without a microphone")
    assert call_id in server.hub.sessions
    await by_id(console, "hangup-button").click()
    await expect(by_id(kiosk, "rating-1")).to_be_visible()


async def test_forced_ice_restart_keeps_the_video_flowing(
        start_server: StartServer, new_page: NewPage) -> None:
    server = await start_server()
    console = await console_for(new_page, server)
    kiosk = await kiosk_with(new_page, server, devices())
    await kiosk_picks_water(kiosk)
    await answer(console)
    await video_playing(kiosk)
    await video_playing(console)
    before = await media_figures(kiosk)

    await kiosk.evaluate("window.__mediaSession().restartIce()")

    async def restarted() -> bool:
        now = await media_figures(kiosk)
        return bool(now["ufrag"] != before["ufrag"] and now["ice"] in ("connected", "completed"))
    await eventually(restarted, 15, "new ICE credentials, connected again")
    assert (await media_figures(kiosk))["restarts"] == before["restarts"] + 1
    await grows(kiosk, "framesDecoded", 10, "the agent's video after the restart")
    await grows(console, "framesDecoded", 10, "the caller's video after the restart")
    await by_id(console, "hangup-button").click()
    await expect(by_id(kiosk, "rating-1")).to_be_visible()


SECRET = "turn-devices-secret"


@pytest.fixture
def turn() -> Iterator[LoopbackTurnServer]:
    yield from running_turn_server(SECRET)


async def test_relay_lost_mid_call_the_pages_say_so_and_an_ice_restart_recovers(
        start_server: StartServer, new_page: NewPage, turn: LoopbackTurnServer) -> None:
    """Relay-only call; coturn dies (the only media path is gone) and comes back on the
    same port: the kiosk says the network is down, restarts ICE until the new relay
    answers, and the video flows again without the call being dropped."""
    server = await start_server(turn_urls=[turn.url], turn_secret=SECRET,
                                relay_kiosks=["kiosk-demo"])
    console = await console_for(new_page, server)
    kiosk = await kiosk_with(new_page, server, devices())
    await kiosk_picks_water(kiosk)
    await answer(console)
    await video_playing(kiosk)
    await video_playing(console)
    call_id = next(iter(server.hub.sessions))
    before = await media_figures(kiosk)

    turn.stop()
    await expect(by_id(kiosk, "reconnecting-banner")).to_be_visible(timeout=30_000)
    await expect(by_id(kiosk, "reconnecting-banner")).to_contain_text("网络中断，正在重新连接")
    await expect(by_id(console, "call-overlay")).to_contain_text("网络中断，正在重新连接")
    await expect(by_id(kiosk, "net-quality")).to_have_attribute("data-level", "poor")
    await screenshot(kiosk, "devices-kiosk-network-lost")
    await screenshot(console, "devices-console-network-lost")

    turn.start()
    await expect(by_id(kiosk, "reconnecting-banner")).to_be_hidden(timeout=40_000)
    await grows(kiosk, "framesDecoded", 10, "the agent's video through the new relay")
    await grows(console, "framesDecoded", 10, "the caller's video through the new relay")
    assert (await media_figures(kiosk))["restarts"] > before["restarts"]
    assert call_id in server.hub.sessions
    await expect(by_id(console, "call-overlay")).to_be_hidden()
    await by_id(console, "hangup-button").click()
    await expect(by_id(kiosk, "rating-1")).to_be_visible()
