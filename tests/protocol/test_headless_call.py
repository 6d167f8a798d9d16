"""Real media over WebRTC: synthetic tracks in-process, then a headless call through the server.

The loopback test needs no server and proves the synthetic tracks encode, cross a peer
connection and decode with their frame counter intact. The slow test runs the real
server on loopback (conftest's ``live_server``) and a headless caller and agent against it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc.mediastreams import MediaStreamTrack
from av import AudioFrame, VideoFrame

from kiosk_client.headless import answer_calls, format_timings, place_call
from media.synthetic import (
    TestPatternVideoTrack,
    ToneAudioTrack,
    read_frame_counter,
)
from tests.conftest import LiveServer


async def _collect_counters(track: MediaStreamTrack, wanted: int) -> list[int]:
    """Frame counters read from the first ``wanted`` decoded frames of a remote track."""
    counters: list[int] = []
    while len(counters) < wanted:
        frame = await track.recv()
        assert isinstance(frame, VideoFrame)
        counters.append(read_frame_counter(frame.to_ndarray(format="rgb24"), frame.width))
    return counters


async def test_synthetic_tracks_cross_a_loopback_peer_connection() -> None:
    config = RTCConfiguration(iceServers=[])
    caller, agent = RTCPeerConnection(config), RTCPeerConnection(config)
    local_tracks: list[MediaStreamTrack] = [
        TestPatternVideoTrack(label="caller"), ToneAudioTrack(),
        TestPatternVideoTrack(label="agent"), ToneAudioTrack(frequency=660),
    ]
    remote: dict[str, dict[str, MediaStreamTrack]] = {"caller": {}, "agent": {}}
    caller.on("track", lambda track: remote["caller"].__setitem__(track.kind, track))
    agent.on("track", lambda track: remote["agent"].__setitem__(track.kind, track))
    for track in local_tracks[:2]:
        caller.addTrack(track)
    for track in local_tracks[2:]:
        agent.addTrack(track)
    try:
        await caller.setLocalDescription(await caller.createOffer())
        await agent.setRemoteDescription(caller.localDescription)
        await agent.setLocalDescription(await agent.createAnswer())
        await caller.setRemoteDescription(agent.localDescription)

        started = asyncio.get_running_loop().time()
        async with asyncio.timeout(20):
            agent_sees, caller_sees = await asyncio.gather(
                _collect_counters(remote["agent"]["video"], 10),
                _collect_counters(remote["caller"]["video"], 10),
            )
            audio = await remote["agent"]["audio"].recv()
        first_frames_ms = (asyncio.get_running_loop().time() - started) * 1000
    finally:
        for track in local_tracks:
            track.stop()
        await caller.close()
        await agent.close()

    for seen in (agent_sees, caller_sees):
        assert all(a < b for a, b in zip(seen, seen[1:], strict=False)), seen
    assert isinstance(audio, AudioFrame) and audio.sample_rate == 48_000
    print(f"loopback: 10 frames each way decoded in {first_frames_ms:.0f} ms")


# ---------------------------------------------------------------- through the server


@pytest.mark.slow
async def test_headless_caller_and_agent_exchange_video(live_server: LiveServer) -> None:
    server = live_server.http
    events: list[tuple[str, dict[str, Any]]] = []

    def record(name: str, fields: dict[str, Any]) -> None:
        events.append((name, fields))

    # No wait for the agent to go ready: an early caller queues and is offered when it does.
    async with asyncio.TaskGroup() as group:
        agent_task = group.create_task(answer_calls(
            server, "demo-agent-1", "demo", auto_answer=True, calls=1, hold=3,
            on_event=record, timeout=30))
        caller_task = group.create_task(place_call(
            server, "water", kiosk_token="demo-kiosk", hold=2, on_event=record, timeout=30))
    caller, agent_calls = caller_task.result(), agent_task.result()

    print(format_timings(caller))
    print(format_timings(agent_calls[0]))
    assert len(agent_calls) == 1
    agent = agent_calls[0]
    assert agent.call_id == caller.call_id
    assert caller.frames_received > 0
    assert agent.frames_received > 0
    assert caller.queued_ms is not None and caller.connected_ms is not None
    assert caller.first_remote_frame_ms is not None
    assert caller.queued_ms <= caller.connected_ms <= caller.first_remote_frame_ms
    assert agent.first_remote_frame_ms is not None
    assert caller.ended_reason is not None and agent.ended_reason is not None
    names = [name for name, fields in events if fields["role"] == "caller"]
    assert names[0] == "queued" and names[-1] == "ended"
