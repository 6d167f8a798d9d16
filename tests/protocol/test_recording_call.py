"""Consented recording with aiortc only: a real server, a headless caller and agent.

The agent sends its copy of the call to the server's recorder as the console does; the
file is then opened with PyAV: one VP8 track with the caller's picture on the left and the
agent's on the right (told apart by the label band of the synthetic pattern), one Opus
track, and a duration that matches the call.
"""

from __future__ import annotations

import asyncio
import os
import signal
import zlib
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from kiosk_client.headless import CallFailed, answer_calls, place_call
from signaling.store import RecordingRepository
from signaling.store.recording_models import RecordingState
from tests.conftest import LiveServer, StartServer

pytestmark = pytest.mark.slow


def _label_colour(label: str) -> np.ndarray:
    """The band colour ``TestPatternVideoTrack`` draws for ``label``."""
    return np.frombuffer(zlib.crc32(label.encode()).to_bytes(4, "big")[1:],
                         dtype=np.uint8).astype(int)


async def _finished_recordings(live: LiveServer, call_id: str,
                               count: int = 1) -> list[Any]:
    repository = RecordingRepository(live.hub.db)
    async with asyncio.timeout(30):
        while True:
            rows = await repository.for_call(call_id)
            if len(rows) >= count and all(r.state != RecordingState.RECORDING.value
                                          for r in rows):
                return rows
            await asyncio.sleep(0.2)


async def _call(live: LiveServer, *, hold: float, consent: bool | None = True,
                callback_phone: str | None = None,
                agent_hold: float | None = None) -> tuple[Any, list[Any], list[Any]]:
    events: list[tuple[str, dict[str, Any]]] = []

    def record(name: str, fields: dict[str, Any]) -> None:
        events.append((name, fields))

    async with asyncio.TaskGroup() as group:
        agent_task = group.create_task(answer_calls(
            live.http, "demo-agent-1", "demo", auto_answer=True, calls=1,
            hold=agent_hold or hold + 5, on_event=record, timeout=30))
        caller_task = group.create_task(place_call(
            live.http, "water", kiosk_token="demo-kiosk", hold=hold, on_event=record,
            timeout=30, recording_consent=consent, callback_phone=callback_phone))
    return caller_task.result(), agent_task.result(), events


async def test_a_consented_call_is_recorded_to_one_webm(start_server: StartServer) -> None:
    live = await start_server(recording_policy="consent")
    caller, agent_calls, events = await _call(live, hold=6)

    assert agent_calls and agent_calls[0].call_id == caller.call_id
    assert caller.frames_received > 0 and agent_calls[0].frames_received > 0
    [row] = await _finished_recordings(live, caller.call_id)
    assert row.state == RecordingState.COMPLETE.value, (row.failure, row.detail)
    states = {(fields["role"], fields.get("state")) for name, fields in events
              if name == "recording_status"}
    assert {("caller", "recording"), ("agent", "recording")} <= states

    path = Path(live.hub.settings.data_dir) / "recordings" / row.path
    assert path.stat().st_size == row.bytes > 10_000
    with av.open(str(path)) as container:
        kinds = sorted((s.type, s.codec_context.name) for s in container.streams)
        assert kinds == [("audio", "opus"), ("video", "vp8")]
        video = container.streams.video[0]
        assert (video.codec_context.width, video.codec_context.height) == (1280, 360)
        assert container.duration is not None
        duration = container.duration / av.time_base
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    # The copy attaches after the call connects and stops when it ends: most of the 6 s.
    assert 2.0 <= duration <= 12.0, duration
    assert abs(duration - row.duration_s) < 1.5
    assert len(frames) >= 5  # how many depends on the machine's load: the picture is checked
    middle = frames[len(frames) // 2]
    band = middle[-20:]  # the label band along the bottom of each half
    left, right = band[:, :640].reshape(-1, 3).mean(axis=0), band[:, 640:].reshape(
        -1, 3).mean(axis=0)
    assert np.abs(left - _label_colour("caller")).max() < 40, left
    assert np.abs(right - _label_colour("agent")).max() < 40, right

    consent = await RecordingRepository(live.hub.db).consent_for(caller.call_id)
    assert consent is not None and (consent.consent, consent.policy) == ("granted", "consent")
    actions = [e.action for e in await live.hub.audit_log.recent(50)]
    assert "recording_consent" in actions and "recording_started" in actions


async def test_refused_consent_goes_on_unrecorded(start_server: StartServer) -> None:
    live = await start_server(recording_policy="consent")
    caller, agent_calls, events = await _call(live, hold=2, consent=False)

    assert caller.frames_received > 0 and agent_calls[0].frames_received > 0
    assert await RecordingRepository(live.hub.db).for_call(caller.call_id) == []
    assert not list((Path(live.hub.settings.data_dir) / "recordings").rglob("*.webm"))
    consent = await RecordingRepository(live.hub.db).consent_for(caller.call_id)
    assert consent is not None and (consent.consent, consent.on_refusal) == (
        "refused", "continue")
    assert not [name for name, _ in events if name.startswith("record")
                and name != "recording_consent"]


async def test_refused_consent_gets_a_callback_instead_of_a_call(
        start_server: StartServer) -> None:
    live = await start_server(recording_policy="consent_or_callback")
    events: list[tuple[str, dict[str, Any]]] = []
    timings = await place_call(
        live.http, "water", kiosk_token="demo-kiosk", hold=1, timeout=15,
        recording_consent=False, callback_phone="13800138000",
        on_event=lambda name, fields: events.append((name, fields)))

    assert timings.ended_reason == "callback" and timings.connected_ms is None
    assert ("callback_registered", "recording_refused") in [
        (name, fields.get("reason")) for name, fields in events]
    pending = await live.hub.callbacks.list_pending("default")
    assert [(c.call_id, c.phone) for c in pending] == [(timings.call_id, "13800138000")]
    assert live.hub.engine.calls == {}  # nothing was queued
    assert not list((Path(live.hub.settings.data_dir) / "recordings").rglob("*.webm"))
    consent = await RecordingRepository(live.hub.db).consent_for(timings.call_id or "")
    assert consent is not None and consent.on_refusal == "callback"

    with pytest.raises(CallFailed) as refused:  # without a number there is nothing to do
        await place_call(live.http, "water", kiosk_token="demo-kiosk", hold=1, timeout=10,
                         recording_consent=False)
    assert refused.value.code == "callback_phone_required"


async def test_killing_the_recorder_mid_call_leaves_the_call_going(
        start_server: StartServer) -> None:
    live = await start_server(recording_policy="consent")
    killed: list[int] = []

    async def kill_when_recording() -> None:
        side = live.hub.recording_side
        while True:
            for recorder in list(side.recorders.values()):
                if recorder.state == "recording":
                    await asyncio.sleep(1.0)
                    os.kill(recorder.process.pid, signal.SIGKILL)
                    killed.append(recorder.process.pid)
                    return
            await asyncio.sleep(0.1)

    killer = asyncio.create_task(kill_when_recording())
    caller, agent_calls, events = await _call(live, hold=7)
    killer.cancel()

    assert killed, "the recorder never started"
    [row] = await _finished_recordings(live, caller.call_id)
    assert (row.state, row.failure) == (RecordingState.FAILED.value, "recorder_exited")
    notices = [fields for name, fields in events
               if name == "recording_status" and fields["role"] == "agent"]
    assert notices[-1]["state"] == "failed" and notices[-1]["reason"] == "recorder_exited"
    # The call itself went its full length and ended normally, media flowing both ways.
    assert caller.ended_reason not in (None, "connection_closed")
    assert agent_calls[0].ended_reason == caller.ended_reason
    assert caller.frames_received > 5 * 10 and agent_calls[0].frames_received > 5 * 10
