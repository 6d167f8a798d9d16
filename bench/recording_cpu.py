"""CPU cost of recording: CPU seconds per minute of recorded call, and how many concurrent
recordings one core sustains.

Each recording is what the server runs for a consented call: one recorder worker process
(``python -m media.recorder``) answering a copy of the call (two 640x360 VP8 pictures at
15 fps and two Opus voices, as the console sends them) and writing one WebM. The copies
are sent by aiortc peers in this process, so the figures are the workers' alone, read from
``/proc/<pid>/stat`` (user + system time) while they record. ``--concurrency 1,2,3`` runs
that many recordings at once, level by level.

Whether a level kept real time is read from the files: the recorder draws a frame on
every tick of its clock and skips ticks it is late for, so written frames / (seconds x
fps) is the share of real time it kept. One core is 60 CPU s per minute, so "one core
sustains" = 60 / (CPU s per recorded minute of the first level), given that it kept up.
A cost model beside it measures each piece of the work flat out in this process
(``time.process_time``), which other processes' load hardly moves.

    python bench/recording_cpu.py [--seconds 20] [--concurrency 1,2] [--fps 15] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import av  # noqa: E402
import numpy as np  # noqa: E402
from aiortc import (  # noqa: E402
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from av import AudioFrame, VideoFrame  # noqa: E402

from media.recorder import RecordingWriter, _AudioSource, _VideoSource  # noqa: E402
from media.synthetic import TestPatternVideoTrack, ToneAudioTrack  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process (fields 14 and 15 of /proc/pid/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


class Recording:
    """One worker and the aiortc peer that sends it a call's copy."""

    def __init__(self, path: Path, fps: int, panel_height: int) -> None:
        self.path = path
        self.fps = fps
        self.panel_height = panel_height
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[],
                                                     bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
        self.tracks = [ToneAudioTrack(440), ToneAudioTrack(660),
                       TestPatternVideoTrack(label="caller"),
                       TestPatternVideoTrack(label="agent")]
        self.process: asyncio.subprocess.Process | None = None
        self.result: dict[str, Any] = {}

    async def _line(self) -> dict[str, Any]:
        assert self.process is not None and self.process.stdout is not None
        raw = await self.process.stdout.readline()
        if not raw:
            raise RuntimeError("the recorder exited")
        message: dict[str, Any] = json.loads(raw)
        return message

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "media.recorder", "--output", str(self.path),
            "--fps", str(self.fps), "--panel-height", str(self.panel_height),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=ROOT)
        for track in self.tracks:
            self.pc.addTransceiver(track, direction="sendonly")
        await self.pc.setLocalDescription(await self.pc.createOffer())
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps({"type": "offer", "ice_servers": [],
                                              "sdp": self.pc.localDescription.sdp})
                                  + "\n").encode())
        answer = await self._line()
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"],
                                                                 type="answer"))
        if (await self._line()).get("type") != "recording":
            raise RuntimeError("the recorder did not start recording")

    def cpu(self) -> float:
        assert self.process is not None
        return cpu_seconds(self.process.pid)

    async def stop(self) -> None:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(b'{"type": "stop"}\n')
        self.result = await self._line()
        await self.process.wait()
        for track in self.tracks:
            track.stop()
        await self.pc.close()


def frames_in(path: Path) -> tuple[int, float]:
    with av.open(str(path)) as container:
        frames = sum(1 for _ in container.decode(video=0))
        duration = (container.duration or 0) / av.time_base
    return frames, duration


async def level(count: int, seconds: float, fps: int, panel_height: int,
                folder: Path) -> dict[str, Any]:
    recordings = [Recording(folder / f"r{count}-{i}.webm", fps, panel_height)
                  for i in range(count)]
    await asyncio.gather(*(r.start() for r in recordings))
    await asyncio.sleep(2.0)  # past the first key frames and the jitter buffers
    start_cpu = [r.cpu() for r in recordings]
    started = time.monotonic()
    await asyncio.sleep(seconds)
    elapsed = time.monotonic() - started
    used = [r.cpu() - c for r, c in zip(recordings, start_cpu, strict=True)]
    await asyncio.gather(*(r.stop() for r in recordings))
    kept = []
    for recording in recordings:
        frames, duration = frames_in(recording.path)
        kept.append(frames / max(1.0, duration * fps))
    per_minute = [u / elapsed * 60 for u in used]
    mean = sum(per_minute) / len(per_minute)
    return {
        "concurrent": count,
        "seconds": round(elapsed, 1),
        "cpu_s_per_recorded_minute": round(mean, 2),
        "cpu_s_per_recorded_minute_each": [round(x, 2) for x in per_minute],
        "real_time_kept": round(min(kept), 3),
        "file_bytes_per_minute": round(sum(r.result.get("bytes", 0) for r in recordings)
                                       / count / (elapsed + 2.0) * 60),
    }


async def cost_model(fps: int, panel_height: int, folder: Path,
                     frames: int = 300) -> dict[str, float]:
    """CPU seconds (``time.process_time``, so other processes' load does not count) of
    each piece of a recorder's work, measured flat out in this process, and what they add
    up to for one minute at ``fps``: decoding both incoming pictures, composing and
    encoding the recorded one, decoding, mixing and encoding the voices."""
    source = TestPatternVideoTrack(width=640, height=360, fps=30, label="caller")
    encoder: Any = av.CodecContext.create("libvpx", "w")
    encoder.width, encoder.height, encoder.pix_fmt = 640, 360, "yuv420p"
    encoder.bit_rate, encoder.time_base = 600_000, Fraction(1, fps)
    encoder.options = {"deadline": "realtime", "cpu-used": "8"}
    packets = []
    for number in range(frames):
        frame = VideoFrame.from_ndarray(source.render(number), format="rgb24")
        frame.pts = number
        packets.extend(encoder.encode(frame.reformat(format="yuv420p")))
    decoder: Any = av.CodecContext.create("vp8", "r")
    started = time.process_time()
    decoded = [f for p in packets for f in decoder.decode(p)]
    decode_s = (time.process_time() - started) / len(decoded)

    writer = RecordingWriter(folder / "model.webm", fps=fps, panel_height=panel_height)
    for slot in ("caller", "agent"):
        writer._video[slot] = _VideoSource(track=None)  # type: ignore[arg-type]
    started = time.process_time()
    for number in range(frames):
        for slot, video in writer._video.items():
            video.latest = decoded[(number + (slot == "agent") * 7) % len(decoded)]
        out = VideoFrame.from_ndarray(writer.compose(), format="yuv420p")
        out.pts, out.time_base = number, Fraction(1, fps)
        writer._mux(writer._vstream.encode(out))
    compose_encode_s = (time.process_time() - started) / frames

    tone = ToneAudioTrack()
    opus_in: Any = av.CodecContext.create("libopus", "w")
    opus_in.sample_rate, opus_in.layout, opus_in.format = 48_000, "mono", "s16"
    voice = []
    for number in range(250):
        samples = (np.sin(np.arange(960) / 7 + number) * 8000).astype(np.int16)
        frame = AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate, frame.pts = 48_000, number * 960
        voice.extend(opus_in.encode(frame))
    tone.stop()
    opus_out: Any = av.CodecContext.create("opus", "r")
    sources = [_AudioSource(track=None), _AudioSource(track=None)]  # type: ignore[arg-type]
    started = time.process_time()
    ticks = 0
    for packet in voice:
        for audio_frame in opus_out.decode(packet):
            for audio_source in sources:
                for out_frame in audio_source._resampler.resample(audio_frame):
                    audio_source._chunks.append(out_frame.to_ndarray().reshape(-1))
                    audio_source._buffered += out_frame.samples
        writer._mux(writer._astream.encode(writer._audio_frame(ticks, sources)))
        ticks += 1
    audio_s = (time.process_time() - started) / max(1, ticks)
    await writer.stop()
    minute = {
        "decode_pictures": 2 * fps * 60 * decode_s,
        "compose_and_encode": fps * 60 * compose_encode_s,
        "voices": 3000 * audio_s,
    }
    return {**{f"{k}_cpu_s_per_minute": round(v, 2) for k, v in minute.items()},
            "total_cpu_s_per_minute": round(sum(minute.values()), 2),
            "decode_ms_per_frame": round(decode_s * 1000, 2),
            "compose_encode_ms_per_frame": round(compose_encode_s * 1000, 2)}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    levels = []
    with tempfile.TemporaryDirectory(prefix="recording-cpu-") as folder:
        model = await cost_model(args.fps, args.panel_height, Path(folder))
        for count in args.concurrency:
            levels.append(await level(count, args.seconds, args.fps, args.panel_height,
                                      Path(folder)))
    live = levels[0]["cpu_s_per_recorded_minute"]
    return {
        "benchmark": "recording_cpu",
        "fps": args.fps,
        "panel": f"{args.panel_height * 16 // 9 // 2 * 2}x{args.panel_height} x2",
        "cores": os.cpu_count(),
        "load_average": [round(x, 1) for x in os.getloadavg()],
        "cost_model": model,
        "levels": levels,
        # the live worker at the first level (network, decryption, decoding included)
        "cpu_s_per_recorded_minute": live,
        "recordings_per_core": round(60.0 / live, 1) if live else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds a level")
    parser.add_argument("--concurrency", default="1,2",
                        type=lambda text: [int(x) for x in text.split(",")],
                        help="recordings at once, per level (comma-separated)")
    parser.add_argument("--fps", type=int, default=15)
    parser.add_argument("--panel-height", type=int, default=360)
    parser.add_argument("--json", action="store_true", help="print only the JSON report")
    args = parser.parse_args()
    report = asyncio.run(run(args))
    if args.json:
        print(json.dumps(report))
        return
    for item in report["levels"]:
        print(f"{item['concurrent']} at once: {item['cpu_s_per_recorded_minute']} CPU s per "
              f"recorded minute each, real time kept {item['real_time_kept']:.0%}, "
              f"{item['file_bytes_per_minute'] / 1e6:.1f} MB per minute")
    model = report["cost_model"]
    print(f"cost model (process CPU, flat out): {model['total_cpu_s_per_minute']} CPU s per "
          f"recorded minute = pictures decoded {model['decode_pictures_cpu_s_per_minute']} + "
          f"composed and encoded {model['compose_and_encode_cpu_s_per_minute']} + voices "
          f"{model['voices_cpu_s_per_minute']}")
    print(f"one core sustains about {report['recordings_per_core']} recordings "
          f"(load average during the run: {report['load_average']})")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
