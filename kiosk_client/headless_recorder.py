"""The headless agent's copy of a consented call for the server's recorder.

It does what the console does in the browser (agent_console/static/recorder.js): once the
call's own peer connection is connected, it opens a second one to the server and sends on
it the caller's audio and video as received and its own as sent, in the order the recorder
expects (audio caller, agent; video caller, agent). Tracks are fanned out with
``MediaRelay``, so the call's own connection loses nothing; the copy's failure is reported
and never ends the call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiortc import (
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.contrib.media import MediaRelay
from av import VideoFrame

log = logging.getLogger(__name__)

Send = Callable[..., Awaitable[None]]
#: seconds the call's own connection has to connect before the copy gives up
CONNECT_WAIT = 20.0


class RecorderCopy:
    """The second peer connection of one call; ``start`` once, ``close`` at the end."""

    def __init__(self, call_id: str, send: Send, configuration: RTCConfiguration) -> None:
        self.call_id = call_id
        self._send = send
        # max-bundle, as the recorder (media.recorder.rtc_configuration) asks
        self.pc = RTCPeerConnection(configuration=RTCConfiguration(
            iceServers=configuration.iceServers, bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
        self.state: str | None = None
        self.offered = False

    async def start(self, relay: MediaRelay, caller: dict[str, MediaStreamTrack],
                    agent: dict[str, MediaStreamTrack]) -> None:
        """Offer the copy: ``caller``/``agent`` map kind -> track (missing kinds skipped)."""
        for kind in ("audio", "video"):
            for side in (caller, agent):
                track = side.get(kind)
                # addTransceiver, not addTrack: aiortc's addTrack would fill an empty
                # transceiver of the kind and shift the sides
                self.pc.addTransceiver(kind if track is None else
                                       relay.subscribe(track, buffered=False),
                                       direction="sendonly")
        await self.pc.setLocalDescription(await self.pc.createOffer())
        description = self.pc.localDescription
        await self._send("recorder_offer", call_id=self.call_id,
                         description={"type": description.type, "sdp": description.sdp})
        self.offered = True

    async def on_answer(self, description: dict[str, Any]) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(
            sdp=str(description.get("sdp", "")), type="answer"))

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.pc.close()


async def wait_connected(pc: RTCPeerConnection, timeout: float = CONNECT_WAIT) -> bool:
    """Whether ``pc`` reaches ``connected`` within ``timeout`` (the copy attaches after)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while pc.connectionState != "connected":
        if pc.connectionState in ("failed", "closed") or loop.time() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


class Yuv420Track(MediaStreamTrack):
    """A local video track's frames converted to yuv420p once, before they are fanned out.

    Two encoders (the call's and the copy's) would otherwise each convert the same frame
    in their own thread, and PyAV's per-frame converter is not safe for that."""

    kind = "video"

    def __init__(self, source: MediaStreamTrack) -> None:
        super().__init__()
        self.source = source

    async def recv(self) -> Any:
        frame = await self.source.recv()
        if isinstance(frame, VideoFrame) and frame.format.name != "yuv420p":
            converted = frame.reformat(format="yuv420p")
            converted.pts, converted.time_base = frame.pts, frame.time_base
            return converted
        return frame

    def stop(self) -> None:
        super().stop()
        self.source.stop()
