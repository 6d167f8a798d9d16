"""Stamped test pattern: the capture time survives VP8 and gives glass-to-glass latency.

Real aiortc peers on loopback (no ICE servers); the figures are printed, and only checked
for sanity (present, 0 < latency < 5 s): the machine is shared, so timing is noisy.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from av import VideoFrame

from media.latency import direct_configuration, measure_latency
from media.stamped import (
    LatencyProbe,
    StampedVideoTrack,
    draw_stamp,
    luma_plane,
    read_stamp,
    stamp_bits,
)


def test_stamp_reads_back_from_the_picture_and_from_a_scaled_copy() -> None:
    capture_ms = int(time.time() * 1000)
    picture = StampedVideoTrack(width=640, height=360).render(7)
    draw_stamp(picture, capture_ms)
    assert read_stamp(picture) == capture_ms
    frame = VideoFrame.from_ndarray(picture, format="rgb24")
    # An encoder that drops resolution (Chromium under load) still leaves a readable stamp.
    smaller = frame.reformat(width=320, height=180, format="yuv420p")
    assert read_stamp(luma_plane(smaller)) == capture_ms


def test_a_picture_without_a_stamp_or_with_a_flipped_bit_is_rejected() -> None:
    assert read_stamp(np.full((360, 640), 128, dtype=np.uint8)) is None
    picture = np.zeros((360, 640), dtype=np.uint8)
    draw_stamp(picture, 1_764_500_000_123)
    picture[90:122, 0:32] = 255 - picture[100, 10]  # first block inverted
    assert read_stamp(picture) is None
    assert len(stamp_bits(0)) == 80


async def test_glass_to_glass_latency_between_aiortc_peers() -> None:
    run = await measure_latency(direct_configuration(), direct_configuration(), frames=30)
    summary = run.probe.summary()
    print(f"aiortc -> aiortc direct glass-to-glass: {summary}")
    assert summary is not None and summary["samples"] == 30
    assert summary["unstamped"] == 0
    assert 0 < summary["p50"] <= summary["max"] < 5000
    assert run.sender_paths == {"host"}


@pytest.mark.parametrize("size", [(640, 360), (1280, 720), (320, 240)])
def test_every_supported_size_has_room_for_the_stamp(size: tuple[int, int]) -> None:
    width, height = size
    track = StampedVideoTrack(width=width, height=height)
    frame = VideoFrame.from_ndarray(track.render(0), format="rgb24").reformat(format="yuv420p")
    probe = LatencyProbe()
    assert probe.observe(frame) is not None
    track.stop()
