"""Glass-to-glass latency between two in-process aiortc peers: direct, or through TURN.

A stamped test pattern (``media.stamped``) is sent one way over a real peer connection on
this machine and every decoded frame's stamp is read back. The SDP is handed across in
process (aiortc gathers all candidates before ``setLocalDescription`` returns, so there
is nothing to trickle). Used by the tests and by ``bench/glass_to_glass.py``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
)
from aiortc.mediastreams import MediaStreamTrack
from av import VideoFrame

from media.stamped import LatencyProbe, StampedVideoTrack


def relay_configuration(url: str, username: str, credential: str) -> RTCConfiguration:
    """Only our TURN server, and only relayed candidates (``iceTransportPolicy: relay``).

    aioice then gathers no host or server-reflexive candidates and ignores the peer's
    mDNS ones, so every pair it can form runs through the relay.
    """
    return RTCConfiguration(
        iceServers=[RTCIceServer(urls=url, username=username, credential=credential)],
        iceTransportPolicy=RTCIceTransportPolicy.RELAY)


def direct_configuration() -> RTCConfiguration:
    """No ICE servers at all: host candidates only (aiortc would otherwise ask Google)."""
    return RTCConfiguration(iceServers=[])


def selected_candidate_types(pc: RTCPeerConnection) -> set[str]:
    """Types (host, srflx, prflx, relay) of the local candidates of the nominated pairs.

    aiortc exposes no getStats() for the selected pair, so this reads aioice's nominated
    pairs through the transceivers' DTLS -> ICE transports.
    """
    types: set[str] = set()
    for transceiver in pc.getTransceivers():
        dtls = transceiver.sender.transport
        if dtls is None:
            continue
        connection = dtls.transport.iceGatherer._connection
        for pair in connection._nominated.values():
            types.add(pair.local_candidate.type)
    return types


@dataclass
class LatencyRun:
    """What one measured stream gave: the samples and how each side's media travelled."""

    probe: LatencyProbe
    sender_paths: set[str]
    receiver_paths: set[str]


async def _read_frames(track: MediaStreamTrack, probe: LatencyProbe, frames: int) -> None:
    received = 0
    while received < frames:
        frame = await track.recv()
        assert isinstance(frame, VideoFrame)
        probe.observe(frame)
        received += 1


async def measure_latency(
    sender_config: RTCConfiguration,
    receiver_config: RTCConfiguration,
    *,
    frames: int = 60,
    fps: int = 15,
    timeout: float = 30.0,
    skip: int = 5,
) -> LatencyRun:
    """Send ``frames`` stamped frames one way and read them back.

    The first ``skip`` frames are dropped from the figures: they wait for the first key
    frame and the jitter buffer to settle, which is start-up time, not latency.
    """
    sender, receiver = RTCPeerConnection(sender_config), RTCPeerConnection(receiver_config)
    track = StampedVideoTrack(fps=fps, label="probe")
    remote: asyncio.Future[MediaStreamTrack] = asyncio.get_running_loop().create_future()

    def on_track(incoming: MediaStreamTrack) -> None:
        if incoming.kind == "video" and not remote.done():
            remote.set_result(incoming)

    receiver.on("track", on_track)
    sender.addTrack(track)
    probe = LatencyProbe()
    try:
        async with asyncio.timeout(timeout):
            await sender.setLocalDescription(await sender.createOffer())
            await receiver.setRemoteDescription(sender.localDescription)
            await receiver.setLocalDescription(await receiver.createAnswer())
            await sender.setRemoteDescription(receiver.localDescription)
            incoming = await remote
            await _read_frames(incoming, LatencyProbe(), skip)
            await _read_frames(incoming, probe, frames)
        return LatencyRun(probe, selected_candidate_types(sender),
                          selected_candidate_types(receiver))
    finally:
        track.stop()
        await sender.close()
        await receiver.close()
