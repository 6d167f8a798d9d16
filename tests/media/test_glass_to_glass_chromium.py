"""Glass-to-glass latency between aiortc and real Chromium, both ways, direct and relayed.

Chromium as receiver: an aiortc peer sends the stamped test pattern; the page reads the
stamp of every frame its ``<video>`` presents (``media/stamp.js``: canvas + the
``requestVideoFrameCallback``) and subtracts it from ``Date.now()`` (the same machine clock).

Chromium as sender: a canvas stamped with ``Date.now()`` at each draw, sent as its
``captureStream()``; aiortc reads the stamps (``LatencyProbe``). A canvas rather than a Y4M
fake camera: a Y4M file is recorded in advance, so it cannot carry the moment a frame was
captured, and Chromium's fake capturer loops it from a start time the page cannot see. The
canvas is drawn at capture time, which is what glass-to-glass needs.

The SDP is handed across by the test (no server): aiortc gathers everything before
``setLocalDescription`` returns, and the page waits for ICE gathering to complete. Relayed
runs put both peers on ``iceTransportPolicy: relay`` against a real coturn.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from av import VideoFrame
from playwright.async_api import Browser, Page, async_playwright

from media.latency import direct_configuration, relay_configuration, selected_candidate_types
from media.stamped import LatencyProbe, StampedVideoTrack, percentile
from media.turnserver import LoopbackTurnServer
from signaling.live.ice import turn_rest_credential
from tests.conftest import IN_CI
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.media.turn_fixture import running_turn_server

STAMP_JS = (Path(__file__).resolve().parents[2] / "media" / "stamp.js").read_text()
SECRET = "turn-test-secret"
#: aioice resolves Chromium's mDNS host names only with a responder on the network;
#: plain addresses keep the direct runs independent of that.
ARGS = [*CHROMIUM_ARGS, "--disable-features=WebRtcHideLocalIpsWithMdns"]

pytestmark = pytest.mark.browser


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    if not Path(CHROMIUM).exists():
        message = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    async with async_playwright() as playwright:
        browser: Browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = await browser.new_page()
            await page.set_content("<!doctype html><html lang='en'><title>probe</title>"
                                   "<video autoplay muted playsinline></video></html>")
            await page.add_script_tag(content=STAMP_JS)
            yield page
        finally:
            await browser.close()


@pytest.fixture
def turn() -> Iterator[LoopbackTurnServer]:
    yield from running_turn_server(SECRET)


def browser_config(turn: LoopbackTurnServer | None) -> dict[str, Any]:
    if turn is None:
        return {"iceServers": []}
    username, credential = turn_rest_credential(SECRET, "chromium", time.time(), 600)
    return {"iceServers": [{"urls": turn.url, "username": username, "credential": credential}],
            "iceTransportPolicy": "relay"}


def aiortc_peer(turn: LoopbackTurnServer | None) -> RTCPeerConnection:
    if turn is None:
        return RTCPeerConnection(direct_configuration())
    return RTCPeerConnection(relay_configuration(
        turn.url, *turn_rest_credential(SECRET, "aiortc", time.time(), 600)))


ANSWER_AND_WATCH = """async ([config, offer]) => {
    const pc = new RTCPeerConnection(config);
    window.pc = pc;
    const video = document.querySelector("video");
    pc.ontrack = (event) => { video.srcObject = new MediaStream([event.track]); };
    window.reader = new GlassStamp.StampReader(video);
    window.reader.start();
    await pc.setRemoteDescription(offer);
    await pc.setLocalDescription(await pc.createAnswer());
    await new Promise((done) => {
        if (pc.iceGatheringState === "complete") return done();
        pc.addEventListener("icegatheringstatechange",
            () => pc.iceGatheringState === "complete" && done());
    });
    return {type: pc.localDescription.type, sdp: pc.localDescription.sdp};
}"""

OFFER_STAMPED_CANVAS = """async (config) => {
    const pc = new RTCPeerConnection(config);
    window.pc = pc;
    window.source = new GlassStamp.StampedCanvasSource(640, 360, 15);
    for (const track of window.source.stream.getTracks()) pc.addTrack(track, window.source.stream);
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise((done) => {
        if (pc.iceGatheringState === "complete") return done();
        pc.addEventListener("icegatheringstatechange",
            () => pc.iceGatheringState === "complete" && done());
    });
    return {type: pc.localDescription.type, sdp: pc.localDescription.sdp};
}"""

SELECTED_PAIR_TYPE = """async () => {
    const stats = await window.pc.getStats();
    for (const report of stats.values()) {
        if (report.type === "transport" && report.selectedCandidatePairId) {
            const pair = stats.get(report.selectedCandidatePairId);
            return stats.get(pair.localCandidateId).candidateType;
        }
    }
    return null;
}"""


def summarise(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50": percentile(ordered, 0.5), "max": ordered[-1], "samples": len(ordered)}


async def chromium_receives(page: Page, turn: LoopbackTurnServer | None,
                            frames: int = 30) -> tuple[dict[str, Any], str | None]:
    """aiortc sends the stamped pattern; the page's reader measures. (stats, pair type)."""
    sender = aiortc_peer(turn)
    track = StampedVideoTrack(fps=15, label="aiortc")
    sender.addTrack(track)
    try:
        await sender.setLocalDescription(await sender.createOffer())
        offer = {"type": "offer", "sdp": sender.localDescription.sdp}
        answer = await page.evaluate(ANSWER_AND_WATCH, [browser_config(turn), offer])
        await sender.setRemoteDescription(RTCSessionDescription(**answer))
        await page.wait_for_function(f"window.reader.samples.length >= {frames}",
                                     timeout=30_000)
        result: dict[str, Any] = await page.evaluate("window.reader.stop()")
        pair = await page.evaluate(SELECTED_PAIR_TYPE)
        return result, pair
    finally:
        track.stop()
        await sender.close()


async def chromium_sends(page: Page, turn: LoopbackTurnServer | None,
                         frames: int = 30) -> tuple[LatencyProbe, set[str]]:
    """The page sends its stamped canvas; aiortc reads the stamps. (probe, pair types)."""
    receiver = aiortc_peer(turn)
    remote: asyncio.Future[MediaStreamTrack] = asyncio.get_running_loop().create_future()
    receiver.on("track", lambda incoming: remote.done() or remote.set_result(incoming))
    probe = LatencyProbe()
    try:
        offer = await page.evaluate(OFFER_STAMPED_CANVAS, browser_config(turn))
        await receiver.setRemoteDescription(RTCSessionDescription(**offer))
        await receiver.setLocalDescription(await receiver.createAnswer())
        await page.evaluate("(answer) => window.pc.setRemoteDescription(answer)",
                            {"type": "answer", "sdp": receiver.localDescription.sdp})
        async with asyncio.timeout(30):
            incoming = await remote
            while len(probe.samples_ms) < frames:
                frame = await incoming.recv()
                assert isinstance(frame, VideoFrame)
                probe.observe(frame)
        return probe, selected_candidate_types(receiver)
    finally:
        await page.evaluate("window.source.stop()")
        await receiver.close()


def assert_sane(samples: list[float]) -> None:
    assert samples, "no stamped frame was read"
    assert all(0 < sample < 5000 for sample in samples), sorted(samples)[-5:]


async def test_chromium_reads_the_stamp_of_an_aiortc_sender(page: Page) -> None:
    result, pair = await chromium_receives(page, None)
    print(f"aiortc -> Chromium direct: {summarise(result['samples'])}, "
          f"unstamped {result['unstamped']}, pair {pair}")
    assert_sane(result["samples"])
    assert pair == "host"


async def test_aiortc_reads_the_stamp_of_a_chromium_canvas(page: Page) -> None:
    probe, pairs = await chromium_sends(page, None)
    print(f"Chromium -> aiortc direct: {probe.summary()}, pairs {pairs}")
    assert_sane(probe.samples_ms)
    assert pairs == {"host"}


async def test_chromium_and_aiortc_relayed_through_coturn_both_ways(
        page: Page, turn: LoopbackTurnServer) -> None:
    result, pair = await chromium_receives(page, turn, frames=15)
    print(f"aiortc -> coturn -> Chromium: {summarise(result['samples'])}, pair {pair}")
    assert_sane(result["samples"])
    assert pair == "relay"
    await page.evaluate("window.pc.close()")
    probe, pairs = await chromium_sends(page, turn, frames=15)
    print(f"Chromium -> coturn -> aiortc: {probe.summary()}, pairs {pairs}")
    assert_sane(probe.samples_ms)
    assert pairs == {"relay"}
    assert ":chromium>: incoming packet ALLOCATE processed, success" in turn.log_text()
