"""Synthetic media for headless calls, load tests and probes.

A headless client has no camera or microphone, yet a call is only proven when real frames
cross the peer connection. These tracks make recognisable media on the fly: colour bars
that move (so an encoder cannot send a still) with the frame number drawn as a row of
binary cells (so a probe can read it back), and a steady sine tone.
"""

from __future__ import annotations

import asyncio
import fractions
import math
import time
import zlib

import numpy as np
from aiortc import MediaStreamTrack
from aiortc.contrib.media import MediaPlayer
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame, VideoFrame

VIDEO_CLOCK_RATE = 90_000
VIDEO_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK_RATE)
AUDIO_PTIME = 0.020
#: Cells in the frame-counter strip: the frame number modulo 2**COUNTER_BITS is drawn.
COUNTER_BITS = 16
CAMERA_DEVICE = "/dev/video0"

# 75 % SMPTE-style bars: white, yellow, cyan, green, magenta, red, blue.
_BAR_COLOURS = np.array(
    [
        [191, 191, 191],
        [191, 191, 0],
        [0, 191, 191],
        [0, 191, 0],
        [191, 0, 191],
        [191, 0, 0],
        [0, 0, 191],
    ],
    dtype=np.uint8,
)


class _Pacer:
    """Hands out pts in ``clock_rate`` units and sleeps so frames leave in real time.

    The first call returns 0 at once; each later call advances by ``step`` and waits until
    the wall-clock moment that pts stands for, like aiortc's ``VideoStreamTrack``.
    """

    def __init__(self, clock_rate: int, step: int) -> None:
        self.clock_rate = clock_rate
        self.step = step
        self._start: float | None = None
        self._pts = 0

    async def next_pts(self) -> int:
        if self._start is None:
            self._start = time.monotonic()
            return 0
        self._pts += self.step
        wait = self._start + self._pts / self.clock_rate - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        return self._pts


class TestPatternVideoTrack(MediaStreamTrack):
    """Moving colour bars with a binary frame counter, as ``rgb24`` frames at ``fps``.

    The counter strip sits in the top-left corner: ``COUNTER_BITS`` square cells, most
    significant bit first, white for 1 and black for 0 (see :func:`read_frame_counter`).
    """

    kind = "video"
    __test__ = False  # not a pytest test class despite the name

    def __init__(self, width: int = 640, height: int = 360, fps: int = 15,
                 label: str = "") -> None:
        super().__init__()
        if width < 2 or height < 2 or width % 2 or height % 2:
            raise ValueError("width and height must be even and at least 2 (yuv420p)")
        if not 1 <= fps <= 60:
            raise ValueError("fps must be between 1 and 60")
        self.width = width
        self.height = height
        self.fps = fps
        self.label = label
        self.frames_sent = 0
        self._pacer = _Pacer(VIDEO_CLOCK_RATE, VIDEO_CLOCK_RATE // fps)
        bar_of_column = np.arange(2 * width) * len(_BAR_COLOURS) // width % len(_BAR_COLOURS)
        row = _BAR_COLOURS[bar_of_column]
        self._bars = np.ascontiguousarray(np.broadcast_to(row, (height, 2 * width, 3)))
        self._cell = max(2, min(width // (COUNTER_BITS + 2), height // 8))
        # A band in a colour derived from the label tells the two sides' pictures apart.
        self._label_colour = (
            np.frombuffer(zlib.crc32(label.encode()).to_bytes(4, "big")[1:], dtype=np.uint8)
            if label else None
        )

    async def recv(self) -> VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        pts = await self._pacer.next_pts()
        frame = VideoFrame.from_ndarray(self.render(self.frames_sent), format="rgb24")
        frame.pts = pts
        frame.time_base = VIDEO_TIME_BASE
        self.frames_sent += 1
        return frame

    def render(self, number: int) -> np.ndarray:
        """The picture for frame ``number``: bars shifted 4 px a frame, counter and label band."""
        offset = (number * 4) % self.width
        image = self._bars[:, offset:offset + self.width].copy()
        cell = self._cell
        pad = cell // 4
        image[: cell + 2 * pad, : COUNTER_BITS * cell + 2 * pad] = 0
        for bit in range(COUNTER_BITS):
            if number >> (COUNTER_BITS - 1 - bit) & 1:
                left = pad + bit * cell
                image[pad:pad + cell, left:left + cell] = 255
        if self._label_colour is not None:
            image[-cell:, :] = self._label_colour
        return image


def read_frame_counter(image: np.ndarray, width: int) -> int:
    """Read the counter strip back from an ``rgb24`` picture of a :class:`TestPatternVideoTrack`.

    Lossy coding blurs cell edges, so each cell is sampled at its centre.
    """
    height = image.shape[0]
    cell = max(2, min(width // (COUNTER_BITS + 2), height // 8))
    pad = cell // 4
    number = 0
    for bit in range(COUNTER_BITS):
        y = pad + cell // 2
        x = pad + bit * cell + cell // 2
        number = number << 1 | int(image[y, x].mean() > 127)
    return number


class ToneAudioTrack(MediaStreamTrack):
    """A continuous sine tone in 20 ms frames of signed 16-bit mono samples."""

    kind = "audio"

    def __init__(self, frequency: float = 440.0, sample_rate: int = 48_000,
                 amplitude: float = 0.25) -> None:
        super().__init__()
        if sample_rate % 50:
            raise ValueError("sample_rate must be a multiple of 50 Hz (20 ms frames)")
        self.frequency = frequency
        self.sample_rate = sample_rate
        self.amplitude = amplitude
        self.samples_per_frame = int(sample_rate * AUDIO_PTIME)
        self._time_base = fractions.Fraction(1, sample_rate)
        self._pacer = _Pacer(sample_rate, self.samples_per_frame)

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        pts = await self._pacer.next_pts()
        index = np.arange(pts, pts + self.samples_per_frame, dtype=np.float64)
        wave = np.sin(2 * math.pi * self.frequency * index / self.sample_rate)
        samples = (wave * self.amplitude * 32767).astype(np.int16).reshape(1, -1)
        frame = AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = self.sample_rate
        frame.pts = pts
        frame.time_base = self._time_base
        return frame


def open_media_source(
    spec: str | None, *, label: str = ""
) -> tuple[MediaStreamTrack | None, MediaStreamTrack | None]:
    """The (audio, video) tracks a headless client sends.

    ``None`` gives synthetic tracks; ``"camera"`` opens ``/dev/video0`` through v4l2, which
    needs a real (or v4l2loopback) capture device on the host; anything else is a media file
    or URL for ffmpeg. A file without audio or video yields ``None`` in that slot. Callers
    must ``stop()`` the tracks they get: a ``MediaPlayer`` closes its input when all its
    tracks are stopped.
    """
    if spec is None:
        return ToneAudioTrack(), TestPatternVideoTrack(label=label)
    if spec == "camera":
        player = MediaPlayer(CAMERA_DEVICE, format="v4l2",
                             options={"video_size": "640x480", "framerate": "15"})
        return None, player.video
    player = MediaPlayer(spec)
    return player.audio, player.video
