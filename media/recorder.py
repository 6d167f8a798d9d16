"""The call recorder: an aiortc peer that receives a copy of a call and writes one WebM file.

The agent's console sends what it sends and what it receives (its camera and microphone,
the caller's camera and microphone, and its screen share when it shares) on a second peer
connection; this module is the far end of that connection. It writes one standard file
any browser plays: a single VP8 video track with the caller on the left and the agent on
the right (the screen share takes the agent's half while it is live, the agent's camera
then inset), and a single Opus track with both voices mixed. One video and one audio
track, because players show only the first track of each kind.

It runs as a worker process per recording (``python -m media.recorder``), so its decoding
and encoding never run on the signaling server's event loop, and killing it loses the
recording but never the call. The server speaks to it in JSON lines on stdin/stdout:

  in:  {"type": "offer", "sdp": "...", "ice_servers": [...]}   then  {"type": "stop"}
  out: {"type": "answer", "sdp": "..."}, {"type": "recording"},
       {"type": "finished", "duration_s": ..., "bytes": ...} or {"type": "failed", ...}

The offer's media sections are taken by kind, in order: audio caller then agent; video
caller, agent, then (optionally) the screen share.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fractions
import json
import logging
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
from aiortc import (
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame, VideoFrame

log = logging.getLogger(__name__)

SAMPLE_RATE = 48_000
#: samples per 20 ms audio frame at 48 kHz
AUDIO_FRAME = 960
AUDIO_TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)
#: an audio source more than this far ahead of the mix is trimmed (seconds), so a burst
#: after a network stall cannot push one voice late for the rest of the call
MAX_AUDIO_LAG = 0.3
#: a screen share whose last frame is older than this is taken as stopped (seconds)
SCREEN_STALE = 2.0
VIDEO_SLOTS = ("caller", "agent", "screen")
AUDIO_SLOTS = ("caller", "agent")
#: the luma of an empty panel (dark grey)
_BACKGROUND_Y = 43


@dataclass(frozen=True)
class RecordingSummary:
    """What was written: seconds of media, file size, and frames per track."""

    duration_s: float
    bytes: int
    video_frames: int
    audio_frames: int
    #: frames received per slot ("video:caller": 87, ...)
    frames_by_slot: dict[str, int]


class _VideoSource:
    """Keeps the newest decoded frame of one remote video track."""

    def __init__(self, track: MediaStreamTrack) -> None:
        self.track = track
        self.latest: VideoFrame | None = None
        self.updated_at = 0.0
        self.frames = 0

    async def drain(self) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await self.track.recv()
                if isinstance(frame, VideoFrame):
                    self.latest = frame
                    self.updated_at = time.monotonic()
                    self.frames += 1


class _AudioSource:
    """Buffers one remote audio track as 48 kHz mono samples for the mixer."""

    def __init__(self, track: MediaStreamTrack) -> None:
        self.track = track
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        self._chunks: deque[np.ndarray] = deque()
        self._buffered = 0
        self.frames = 0

    async def drain(self) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await self.track.recv()
                if not isinstance(frame, AudioFrame):
                    continue
                self.frames += 1
                for out in self._resampler.resample(frame):
                    samples = out.to_ndarray().reshape(-1).astype(np.int16)
                    self._chunks.append(samples)
                    self._buffered += samples.size
                excess = self._buffered - int(MAX_AUDIO_LAG * SAMPLE_RATE)
                while excess > 0 and self._chunks:
                    dropped = self._chunks.popleft()
                    self._buffered -= dropped.size
                    excess -= dropped.size

    def take(self, count: int) -> np.ndarray:
        """``count`` samples, padded with silence when the track is behind."""
        out = np.zeros(count, dtype=np.int16)
        filled = 0
        while filled < count and self._chunks:
            chunk = self._chunks[0]
            used = min(count - filled, chunk.size)
            out[filled:filled + used] = chunk[:used]
            filled += used
            if used == chunk.size:
                self._chunks.popleft()
            else:
                self._chunks[0] = chunk[used:]
            self._buffered -= used
        return out


class RecordingWriter:
    """Composes the call's tracks into one WebM (VP8 side by side + Opus mix) in real time.

    Both loops run on one clock from :meth:`start`, so picture and sound stay in step
    whatever each track's RTP timestamps were; a track that has not sent anything yet is
    a grey panel or silence.
    """

    def __init__(self, path: Path, *, fps: int = 15, panel_height: int = 360,
                 video_bitrate: int = 600_000) -> None:
        if not 1 <= fps <= 30:
            raise ValueError("fps must be between 1 and 30")
        if panel_height < 90 or panel_height % 2:
            raise ValueError("panel_height must be even and at least 90")
        self.path = path
        self.fps = fps
        self.panel = (panel_height * 16 // 9 // 2 * 2, panel_height)
        self._video: dict[str, _VideoSource] = {}
        self._audio: dict[str, _AudioSource] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._loops: list[asyncio.Task[None]] = []
        self._stopping = False
        self._container: Any = av.open(str(path), mode="w", format="webm")
        width, height = self.panel
        # Options given here reach libvpx (set later they are ignored): realtime mode
        # costs a fraction of the CPU of the default "good" deadline.
        self._vstream: Any = self._container.add_stream(
            "libvpx", rate=fps,
            options={"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"})
        self._vstream.width, self._vstream.height = 2 * width, height
        self._vstream.pix_fmt = "yuv420p"
        self._vstream.bit_rate = video_bitrate
        # One thread: each recording is a process of its own, and libvpx's own threads
        # cost ten times the CPU on a busy machine (3 ms a frame against 30-50 ms).
        self._vstream.codec_context.thread_count = 1
        self._astream: Any = self._container.add_stream("libopus", rate=SAMPLE_RATE)
        self._astream.layout = "mono"
        self._astream.bit_rate = 48_000
        self._video_ticks = 0
        self._audio_ticks = 0
        self._started_at: float | None = None
        self._closed = False

    def add_video(self, slot: str, track: MediaStreamTrack) -> None:
        if slot not in VIDEO_SLOTS or slot in self._video:
            raise ValueError(f"bad or repeated video slot {slot!r}")
        self._video[slot] = _VideoSource(track)

    def add_audio(self, slot: str, track: MediaStreamTrack) -> None:
        if slot not in AUDIO_SLOTS or slot in self._audio:
            raise ValueError(f"bad or repeated audio slot {slot!r}")
        self._audio[slot] = _AudioSource(track)

    @property
    def started(self) -> bool:
        return self._started_at is not None

    async def start(self) -> None:
        if self._started_at is not None:
            return
        self._started_at = asyncio.get_running_loop().time()
        sources: list[_VideoSource | _AudioSource] = [*self._video.values(),
                                                      *self._audio.values()]
        self._tasks = [asyncio.create_task(source.drain()) for source in sources]
        self._loops = [asyncio.create_task(self._video_loop()),
                       asyncio.create_task(self._audio_loop())]

    async def stop(self) -> RecordingSummary:
        """Stop the loops, flush the encoders and close the file (once).

        The loops are asked to stop, not cancelled: a video encode runs in a thread, and
        flushing the encoder while it still runs would hang in libvpx."""
        self._stopping = True
        if self._loops:
            await asyncio.wait(self._loops)
            self._loops = []
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if not self._closed:
            self._closed = True
            if self._audio_ticks == 0:
                self._mux(self._astream.encode(self._audio_frame(0, [])))
                self._audio_ticks = 1
            for stream in (self._vstream, self._astream):
                with contextlib.suppress(av.error.FFmpegError):
                    self._mux(stream.encode(None))
            self._container.close()
        size = self.path.stat().st_size if self.path.exists() else 0
        return RecordingSummary(
            duration_s=round(max(self._video_ticks / self.fps,
                                 self._audio_ticks * AUDIO_FRAME / SAMPLE_RATE), 3),
            bytes=size,
            video_frames=sum(s.frames for s in self._video.values()),
            audio_frames=sum(s.frames for s in self._audio.values()),
            frames_by_slot={**{f"video:{k}": s.frames for k, s in self._video.items()},
                            **{f"audio:{k}": s.frames for k, s in self._audio.items()}})

    def _mux(self, packets: list[Any]) -> None:
        for packet in packets:
            self._container.mux(packet)

    async def _video_loop(self) -> None:
        assert self._started_at is not None
        loop = asyncio.get_running_loop()
        while not self._stopping:
            tick = self._video_ticks
            wait = self._started_at + tick / self.fps - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
                if self._stopping:
                    return
            elif wait < -1.0 / self.fps:  # behind: skip the ticks missed, keep the clock
                tick = int((loop.time() - self._started_at) * self.fps)
            frame = VideoFrame.from_ndarray(self.compose(), format="yuv420p")
            frame.pts = tick
            frame.time_base = fractions.Fraction(1, self.fps)
            packets = await asyncio.to_thread(self._vstream.encode, frame)
            self._mux(packets)
            self._video_ticks = tick + 1

    def compose(self) -> np.ndarray:
        """The picture now as a ``yuv420p`` array: caller | agent (or the screen share with
        the agent inset). Composed plane by plane, so no frame passes through RGB."""
        width, height = self.panel
        now = time.monotonic()
        screen = self._video.get("screen")
        sharing = screen is not None and screen.latest is not None and \
            now - screen.updated_at < SCREEN_STALE
        left = self._planes(self._video.get("caller"), width, height)
        if sharing:
            right = tuple(plane.copy() for plane in self._planes(screen, width, height))
            agent = self._video.get("agent")
            if agent is not None and agent.latest is not None:
                inset = self._planes(agent, width // 4 // 2 * 2, height // 4 // 2 * 2)
                for target, part in zip(right, inset, strict=True):
                    target[-part.shape[0]:, -part.shape[1]:] = part
        else:
            right = self._planes(self._video.get("agent"), width, height)
        planes = [np.hstack((a, b)) for a, b in zip(left, right, strict=True)]
        return np.concatenate([plane.reshape(-1) for plane in planes]).reshape(
            height * 3 // 2, 2 * width)

    @staticmethod
    def _planes(source: _VideoSource | None, width: int,
                height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Y, U and V of the source's newest frame scaled to ``width`` x ``height``."""
        if source is None or source.latest is None:
            return (np.full((height, width), _BACKGROUND_Y, dtype=np.uint8),
                    np.full((height // 2, width // 2), 128, dtype=np.uint8),
                    np.full((height // 2, width // 2), 128, dtype=np.uint8))
        flat = source.latest.reformat(width=width, height=height,
                                      format="yuv420p").to_ndarray().reshape(-1)
        luma, chroma = width * height, width * height // 4
        return (flat[:luma].reshape(height, width),
                flat[luma:luma + chroma].reshape(height // 2, width // 2),
                flat[luma + chroma:luma + 2 * chroma].reshape(height // 2, width // 2))

    async def _audio_loop(self) -> None:
        assert self._started_at is not None
        loop = asyncio.get_running_loop()
        step = AUDIO_FRAME / SAMPLE_RATE
        while not self._stopping:
            due = self._started_at + self._audio_ticks * step
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            # Audio is continuous: when behind, catch up frame by frame.
            frame = self._audio_frame(self._audio_ticks, list(self._audio.values()))
            self._mux(self._astream.encode(frame))
            self._audio_ticks += 1

    @staticmethod
    def _audio_frame(tick: int, sources: list[_AudioSource]) -> AudioFrame:
        mixed = np.zeros(AUDIO_FRAME, dtype=np.int32)
        for source in sources:
            mixed += source.take(AUDIO_FRAME)
        samples = np.clip(mixed, -32768, 32767).astype(np.int16).reshape(1, -1)
        frame = AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = tick * AUDIO_FRAME
        frame.time_base = AUDIO_TIME_BASE
        return frame


def rtc_configuration(ice_servers: list[dict[str, Any]] | None) -> RTCConfiguration:
    """RTCIceServer dicts as aiortc configuration; an empty list stays empty (no public
    STUN fallback). Max-bundle: with the default policy aiortc 1.16 leaves the second
    section of a kind that does not come first in the offer without a transport, and
    that track never arrives."""
    servers = [RTCIceServer(urls=entry["urls"], username=entry.get("username"),
                            credential=entry.get("credential"))
               for entry in ice_servers or [] if entry.get("urls")]
    return RTCConfiguration(iceServers=servers, bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)


class RecorderPeer:
    """The receiving end of the agent's copy: answers its offer and feeds a writer."""

    def __init__(self, writer: RecordingWriter, ice_servers: list[dict[str, Any]] | None
                 ) -> None:
        self.writer = writer
        self.pc = RTCPeerConnection(rtc_configuration(ice_servers))
        self.connected = asyncio.Event()
        self.failed = asyncio.Event()

        @self.pc.on("connectionstatechange")
        def _state() -> None:
            state = self.pc.connectionState
            if state == "connected":
                self.connected.set()
            elif state in ("failed", "closed"):
                self.failed.set()

    async def answer(self, sdp: str) -> str:
        """Take the offer, bind its tracks to the writer's slots, and answer."""
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        counts = {"audio": 0, "video": 0}
        for transceiver in self.pc.getTransceivers():
            kind = transceiver.kind
            slots = AUDIO_SLOTS if kind == "audio" else VIDEO_SLOTS
            index = counts[kind]
            counts[kind] += 1
            transceiver.direction = "recvonly"
            if index >= len(slots):
                continue
            track = transceiver.receiver.track
            if kind == "audio":
                self.writer.add_audio(slots[index], track)
            else:
                self.writer.add_video(slots[index], track)
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return str(self.pc.localDescription.sdp)

    async def close(self) -> None:
        await self.pc.close()


# ---------------------------------------------------------------- worker process


async def _lines(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    raw = await reader.readline()
    if not raw:
        return None
    try:
        message = json.loads(raw)
    except ValueError:
        return {"type": "invalid"}
    return message if isinstance(message, dict) else {"type": "invalid"}


def _say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def run_worker(output: Path, *, fps: int, panel_height: int,
                     connect_timeout: float) -> int:
    """Serve one recording over stdin/stdout (see the module docstring); exit code 0 when
    the file was finished, 1 when recording failed."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    first = await _lines(reader)
    if first is None or first.get("type") != "offer" or not isinstance(first.get("sdp"), str):
        _say({"type": "failed", "reason": "no_offer"})
        return 1
    output.parent.mkdir(parents=True, exist_ok=True)
    writer = RecordingWriter(output, fps=fps, panel_height=panel_height)
    peer = RecorderPeer(writer, first.get("ice_servers"))
    try:
        _say({"type": "answer", "sdp": await peer.answer(first["sdp"])})
    except Exception as exc:  # a malformed offer: say why, write nothing
        _say({"type": "failed", "reason": "bad_offer", "detail": str(exc)[:200]})
        await peer.close()
        await writer.stop()
        output.unlink(missing_ok=True)
        return 1

    stop_asked = asyncio.create_task(_wait_for_stop(reader))
    connected = asyncio.create_task(peer.connected.wait())
    failed = asyncio.create_task(peer.failed.wait())
    reason: str | None = None
    try:
        done, _ = await asyncio.wait({stop_asked, connected, failed}, timeout=connect_timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        if connected in done:
            await writer.start()
            _say({"type": "recording"})
            done, _ = await asyncio.wait({stop_asked, failed},
                                         return_when=asyncio.FIRST_COMPLETED)
            if failed in done and stop_asked not in done:
                reason = "peer_connection_failed"
        elif stop_asked not in done:
            reason = "peer_connection_failed" if failed in done else "connect_timeout"
    finally:
        for task in (stop_asked, connected, failed):
            task.cancel()
        summary = await writer.stop()
        await peer.close()
    if not writer.started:
        output.unlink(missing_ok=True)
        _say({"type": "failed", "reason": reason or "stopped_before_media"})
        return 1
    result = {"duration_s": summary.duration_s, "bytes": summary.bytes,
              "video_frames": summary.video_frames, "audio_frames": summary.audio_frames,
              "frames_by_slot": summary.frames_by_slot}
    if reason is not None:
        _say({"type": "failed", "reason": reason, **result})
        return 1
    _say({"type": "finished", **result})
    return 0


async def _wait_for_stop(reader: asyncio.StreamReader) -> None:
    """Until the server says stop, or its end of the pipe closes (the server is gone)."""
    while True:
        message = await _lines(reader)
        if message is None or message.get("type") == "stop":
            return


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m media.recorder",
                                     description="Record one call copy to WebM.")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--fps", type=int, default=15)
    parser.add_argument("--panel-height", type=int, default=360)
    parser.add_argument("--connect-timeout", type=float, default=20.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    return asyncio.run(run_worker(args.output, fps=args.fps, panel_height=args.panel_height,
                                  connect_timeout=args.connect_timeout))


if __name__ == "__main__":
    sys.exit(main())
