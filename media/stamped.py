"""Stamped synthetic video: the capture time written into the pixels, read back by the receiver.

Glass-to-glass latency is the time from a frame being made (the "camera" glass) to the
decoded picture being available to the far side's screen. Neither RTP timestamps nor
WebRTC stats give it end to end, so the sender writes its wall-clock capture time into
the frame itself and the receiver reads it back and subtracts it from its own clock. The
two clocks must agree: on one machine they are the same clock; across machines they need
NTP (an offset between them shows up one for one in the figure).

The stamp is a grid of ``STAMP_ROWS`` x ``STAMP_COLUMNS`` square blocks, black for 0 and
white for 1, most significant bit first, row by row: a 64-bit capture time in
milliseconds since the Unix epoch followed by a 16-bit checksum (the low 16 bits of the
CRC-32 of the 8 big-endian time bytes). The geometry is a fraction of the picture (block
side = width / ``STAMP_COLUMNS``, grid top = height / 4), so a receiver reads a stamp from
a picture the encoder scaled down; each block is read from its middle, where VP8's
blurring of the block edges does not reach. ``stamp.js`` in the test pages reads the same
layout from a ``<video>`` through a canvas.
"""

from __future__ import annotations

import math
import time
import zlib
from dataclasses import dataclass, field

import numpy as np
from aiortc import MediaStreamTrack
from av import VideoFrame

from media.synthetic import TestPatternVideoTrack, ToneAudioTrack

#: Blocks in a row of the stamp grid.
STAMP_COLUMNS = 20
#: Rows of blocks: 64 time bits + 16 checksum bits = 80 = 4 x 20.
STAMP_ROWS = 4
STAMP_BITS = STAMP_COLUMNS * STAMP_ROWS
TIME_BITS = 64
#: Points sampled per block: an evenly spaced n x n lattice over the block's middle half.
_LATTICE = 3


def stamp_checksum(capture_ms: int) -> int:
    """The 16-bit checksum written after the time: low half of CRC-32 of its 8 bytes."""
    return zlib.crc32(capture_ms.to_bytes(8, "big")) & 0xFFFF


def stamp_bits(capture_ms: int) -> list[int]:
    """The 80 bits of a stamp, most significant first: time, then checksum."""
    if not 0 <= capture_ms < 1 << TIME_BITS:
        raise ValueError("capture time out of the 64-bit range")
    word = capture_ms << 16 | stamp_checksum(capture_ms)
    return [word >> (STAMP_BITS - 1 - index) & 1 for index in range(STAMP_BITS)]


def _grid(width: int, height: int) -> tuple[float, float]:
    """(block side, grid top) in pixels for a picture of this size."""
    return width / STAMP_COLUMNS, height / 4


def draw_stamp(luma_or_rgb: np.ndarray, capture_ms: int) -> None:
    """Write the stamp of ``capture_ms`` into a picture (H x W or H x W x 3), in place."""
    height, width = luma_or_rgb.shape[:2]
    side, top = _grid(width, height)
    if top + STAMP_ROWS * side > height:
        raise ValueError(f"a {width}x{height} picture is too flat for the stamp grid")
    for index, bit in enumerate(stamp_bits(capture_ms)):
        row, column = divmod(index, STAMP_COLUMNS)
        y0, y1 = round(top + row * side), round(top + (row + 1) * side)
        x0, x1 = round(column * side), round((column + 1) * side)
        luma_or_rgb[y0:y1, x0:x1] = 255 if bit else 0


_sample_points: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}


def _points(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices (STAMP_BITS x LATTICE**2) of the pixels read for each bit."""
    key = (width, height)
    if key not in _sample_points:
        side, top = _grid(width, height)
        offsets = (np.arange(_LATTICE) + 0.5) / _LATTICE * 0.5 + 0.25  # inside the middle half
        ys = np.empty((STAMP_BITS, _LATTICE * _LATTICE), dtype=np.intp)
        xs = np.empty_like(ys)
        for index in range(STAMP_BITS):
            row, column = divmod(index, STAMP_COLUMNS)
            by = top + (row + offsets) * side
            bx = (column + offsets) * side
            ys[index] = np.repeat(by, _LATTICE).astype(np.intp)
            xs[index] = np.tile(bx, _LATTICE).astype(np.intp)
        np.clip(ys, 0, height - 1, out=ys)
        np.clip(xs, 0, width - 1, out=xs)
        _sample_points[key] = (ys, xs)
    return _sample_points[key]


def read_stamp(picture: np.ndarray) -> int | None:
    """The capture time (ms) stamped into a picture, or None when there is no valid stamp.

    ``picture`` is a luma plane (H x W) or an ``rgb24`` array (H x W x 3). A picture that
    is not a stamped test pattern (a real camera, a torn frame) fails the checksum.
    """
    height, width = picture.shape[:2]
    side, top = _grid(width, height)
    if side < 2 or top + STAMP_ROWS * side > height:
        return None
    ys, xs = _points(width, height)
    samples = picture[ys, xs]
    if samples.ndim == 3:
        samples = samples.mean(axis=2)
    levels = samples.mean(axis=1)
    word = 0
    for level in levels:
        word = word << 1 | int(level > 127)
    capture_ms, checksum = word >> 16, word & 0xFFFF
    return capture_ms if stamp_checksum(capture_ms) == checksum else None


def luma_plane(frame: VideoFrame) -> np.ndarray:
    """The Y plane of a decoded frame, without a colour conversion (cheap per frame)."""
    if frame.format.name not in ("yuv420p", "yuvj420p", "nv12"):
        return frame.to_ndarray(format="gray")
    plane = frame.planes[0]
    rows: np.ndarray = np.frombuffer(memoryview(plane), dtype=np.uint8)
    return rows.reshape(plane.height, plane.line_size)[:, : plane.width]


def wall_ms() -> float:
    """The wall clock in milliseconds, the clock stamps are written and read on."""
    return time.time() * 1000.0


class StampedVideoTrack(TestPatternVideoTrack):
    """The moving test pattern with its capture time stamped in, in a band below the counter.

    The time is read just before the frame leaves ``recv()`` for the encoder: the moment a
    camera would have delivered it.
    """

    def render(self, number: int) -> np.ndarray:
        image = super().render(number)
        draw_stamp(image, int(wall_ms()))
        return image


def stamped_media_source(label: str = "") -> tuple[MediaStreamTrack, MediaStreamTrack]:
    """(audio, video): a steady tone and the stamped test pattern."""
    return ToneAudioTrack(), StampedVideoTrack(label=label)


def percentile(ordered: list[float], share: float) -> float:
    """Nearest-rank percentile of an ascending list (share in 0..1)."""
    if not ordered:
        raise ValueError("no samples")
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


@dataclass
class LatencyProbe:
    """Collects glass-to-glass samples from received frames.

    ``observe`` reads the stamp of each decoded frame; frames without a valid stamp are
    counted as ``unstamped`` (a real camera on the far side gives only those).
    """

    samples_ms: list[float] = field(default_factory=list)
    unstamped: int = 0

    def observe(self, frame: VideoFrame, received_ms: float | None = None) -> float | None:
        """Read one frame; its latency in ms, or None when it carries no stamp."""
        now = wall_ms() if received_ms is None else received_ms
        capture_ms = read_stamp(luma_plane(frame))
        if capture_ms is None:
            self.unstamped += 1
            return None
        latency = now - capture_ms
        self.samples_ms.append(latency)
        return latency

    def summary(self) -> dict[str, float | int] | None:
        """p50, p95, p99 and max in ms, and the sample count; None without samples."""
        if not self.samples_ms:
            return None
        ordered = sorted(self.samples_ms)
        return {
            "p50": round(percentile(ordered, 0.50), 1),
            "p95": round(percentile(ordered, 0.95), 1),
            "p99": round(percentile(ordered, 0.99), 1),
            "max": round(ordered[-1], 1),
            "samples": len(ordered),
            "unstamped": self.unstamped,
        }
