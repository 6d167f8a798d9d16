"""Glass-to-glass between an aiortc peer and a real Chromium page, driven by Playwright.

Chromium as receiver: aiortc sends the stamped test pattern and the page reads the stamp
of every frame its ``<video>`` presents (``stamp.js``: a canvas and
``requestVideoFrameCallback``), against ``Date.now()`` on the same machine clock.

Chromium as sender: a canvas stamped with ``Date.now()`` at each draw, sent as its
``captureStream()``, read by aiortc's ``LatencyProbe``. A canvas rather than a Y4M fake
camera: a Y4M file is recorded in advance, so it cannot carry the moment a frame was
captured, and Chromium's fake capturer loops it from a start the page cannot see.

SDP is handed across in process: aiortc gathers everything in ``setLocalDescription`` and
the page waits for ICE gathering to complete, so nothing is trickled. Used by the tests and
by ``bench/glass_to_glass.py`` (Playwright comes with the ``test`` extra).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from av import VideoFrame
from playwright.async_api import Browser, Page

from media.latency import selected_candidate_types
from media.stamped import LatencyProbe, StampedVideoTrack

STAMP_JS = (Path(__file__).resolve().parent / "stamp.js").read_text()
#: aioice resolves Chromium's mDNS host names only with a responder on the network;
#: plain addresses keep direct calls independent of that.
EXTRA_CHROMIUM_ARGS = ["--disable-features=WebRtcHideLocalIpsWithMdns"]

_WAIT_GATHERED = """await new Promise((done) => {
        if (pc.iceGatheringState === "complete") return done();
        pc.addEventListener("icegatheringstatechange",
            () => pc.iceGatheringState === "complete" && done());
    });"""

ANSWER_AND_WATCH = """async ([config, offer]) => {
    const pc = new RTCPeerConnection(config);
    window.pc = pc;
    const video = document.querySelector("video");
    pc.ontrack = (event) => { video.srcObject = new MediaStream([event.track]); };
    window.reader = new GlassStamp.StampReader(video);
    window.reader.start();
    await pc.setRemoteDescription(offer);
    await pc.setLocalDescription(await pc.createAnswer());
    WAIT_GATHERED
    return {type: pc.localDescription.type, sdp: pc.localDescription.sdp};
}""".replace("WAIT_GATHERED", _WAIT_GATHERED)

OFFER_STAMPED_CANVAS = """async ([config, fps]) => {
    const pc = new RTCPeerConnection(config);
    window.pc = pc;
    window.source = new GlassStamp.StampedCanvasSource(640, 360, fps);
    for (const track of window.source.stream.getTracks()) pc.addTrack(track, window.source.stream);
    await pc.setLocalDescription(await pc.createOffer());
    WAIT_GATHERED
    return {type: pc.localDescription.type, sdp: pc.localDescription.sdp};
}""".replace("WAIT_GATHERED", _WAIT_GATHERED)

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


async def open_probe_page(browser: Browser) -> Page:
    """A blank page with a ``<video>`` and ``GlassStamp`` loaded."""
    page = await browser.new_page()
    await page.set_content("<!doctype html><html lang='en'><title>probe</title>"
                           "<video autoplay muted playsinline></video></html>")
    await page.add_script_tag(content=STAMP_JS)
    return page


async def chromium_receives(page: Page, sender_config: RTCConfiguration,
                            browser_config: dict[str, Any], *, frames: int = 30,
                            fps: int = 15) -> tuple[dict[str, Any], str | None]:
    """aiortc sends the stamped pattern to the page: ({samples, unstamped}, the page's
    selected local candidate type)."""
    sender = RTCPeerConnection(sender_config)
    track = StampedVideoTrack(fps=fps, label="aiortc")
    sender.addTrack(track)
    try:
        await sender.setLocalDescription(await sender.createOffer())
        offer = {"type": "offer", "sdp": sender.localDescription.sdp}
        answer = await page.evaluate(ANSWER_AND_WATCH, [browser_config, offer])
        await sender.setRemoteDescription(RTCSessionDescription(**answer))
        await page.wait_for_function(f"window.reader.samples.length >= {frames}",
                                     timeout=60_000)
        result: dict[str, Any] = await page.evaluate("window.reader.stop()")
        pair = await page.evaluate(SELECTED_PAIR_TYPE)
        await page.evaluate("window.pc.close()")
        return result, pair
    finally:
        track.stop()
        await sender.close()


async def chromium_sends(page: Page, receiver_config: RTCConfiguration,
                         browser_config: dict[str, Any], *, frames: int = 30,
                         fps: int = 15) -> tuple[LatencyProbe, set[str]]:
    """The page sends its stamped canvas to aiortc: (the probe, aiortc's pair types)."""
    receiver = RTCPeerConnection(receiver_config)
    remote: asyncio.Future[MediaStreamTrack] = asyncio.get_running_loop().create_future()

    def on_track(incoming: MediaStreamTrack) -> None:
        if incoming.kind == "video" and not remote.done():
            remote.set_result(incoming)

    receiver.on("track", on_track)
    probe = LatencyProbe()
    try:
        offer = await page.evaluate(OFFER_STAMPED_CANVAS, [browser_config, fps])
        await receiver.setRemoteDescription(RTCSessionDescription(**offer))
        await receiver.setLocalDescription(await receiver.createAnswer())
        await page.evaluate("(answer) => window.pc.setRemoteDescription(answer)",
                            {"type": "answer", "sdp": receiver.localDescription.sdp})
        async with asyncio.timeout(60):
            incoming = await remote
            while len(probe.samples_ms) < frames:
                frame = await incoming.recv()
                assert isinstance(frame, VideoFrame)
                probe.observe(frame)
        return probe, selected_candidate_types(receiver)
    finally:
        await page.evaluate("window.source.stop(); window.pc.close()")
        await receiver.close()
