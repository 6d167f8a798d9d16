"""The recorder's picture: caller left, agent right; a live screen share takes the agent's
half with the agent's camera inset; a side that sent nothing is a grey panel."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from av import VideoFrame

from media.recorder import RecordingWriter, _VideoSource

RED, GREEN, BLUE = (200, 30, 30), (30, 200, 30), (30, 30, 200)


def _source(colour: tuple[int, int, int], width: int = 320, height: int = 240) -> _VideoSource:
    source = _VideoSource(track=None)  # type: ignore[arg-type]  # fed by hand, no track
    image = np.empty((height, width, 3), dtype=np.uint8)
    image[:] = colour
    source.latest = VideoFrame.from_ndarray(image, format="rgb24")
    source.updated_at = time.monotonic()
    return source


def _picture(writer: RecordingWriter) -> np.ndarray:
    picture: np.ndarray = VideoFrame.from_ndarray(writer.compose(), format="yuv420p") \
        .to_ndarray(format="rgb24")
    return picture


def _near(pixel: np.ndarray, colour: tuple[int, int, int]) -> bool:
    return bool(np.abs(pixel.astype(int) - np.array(colour)).max() < 24)


async def test_caller_left_agent_right_and_the_screen_share_with_an_inset(
        tmp_path: Path) -> None:
    writer = RecordingWriter(tmp_path / "r.webm", panel_height=180)
    assert writer.panel == (320, 180)
    writer._video["caller"] = _source(RED)
    picture = _picture(writer)
    assert picture.shape == (180, 640, 3)
    assert _near(picture[90, 160], RED)
    assert np.abs(picture[90, 480].astype(int) - 32).max() < 16  # nothing from the agent yet

    writer._video["agent"] = _source(GREEN)
    picture = _picture(writer)
    assert _near(picture[90, 160], RED) and _near(picture[90, 480], GREEN)

    writer._video["screen"] = _source(BLUE, 1280, 720)
    picture = _picture(writer)
    assert _near(picture[90, 160], RED)
    assert _near(picture[40, 400], BLUE)  # the shared screen fills the agent's half
    assert _near(picture[175, 630], GREEN)  # with the agent's camera in the corner

    writer._video["screen"].updated_at -= 10  # the share stopped: the camera comes back
    assert _near(_picture(writer)[40, 400], GREEN)
    await writer.stop()
