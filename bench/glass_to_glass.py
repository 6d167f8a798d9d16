"""Glass-to-glass latency, direct and through a real coturn, side by side in one run.

A stamped test pattern (``media/stamped.py``: the capture time in the pixels) crosses a real
peer connection on loopback and every decoded frame's stamp is read back against the same
clock. Each path is measured in ``--rounds`` alternating rounds (direct, relay, direct, …)
so that load from other processes falls on both alike:

- ``aiortc->aiortc``: two aiortc peers; ``direct`` = host candidates only, ``relay`` =
  ``iceTransportPolicy: relay`` on both with credentials minted by the server's code.
- ``aiortc->chromium`` and ``chromium->aiortc`` (``--chromium``): real headless Chromium
  receiving (stamp read from its ``<video>``) or sending (a stamped canvas).

coturn (``turnserver``, Debian package coturn) must be installed. The first frames of
each run (key frame, jitter buffer settling) are left out.

    python bench/glass_to_glass.py [--frames 150] [--rounds 3] [--chromium] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aiortc import RTCConfiguration  # noqa: E402

from media.latency import (  # noqa: E402
    direct_configuration,
    measure_latency,
    relay_configuration,
)
from media.stamped import percentile  # noqa: E402
from media.turnserver import LoopbackTurnServer  # noqa: E402
from signaling.live.ice import turn_rest_credential  # noqa: E402

SECRET = "bench-turn-secret"
CHROMIUM = "/usr/bin/chromium"


def figures(samples: list[float], paths: set[str]) -> dict[str, Any]:
    ordered = sorted(samples)
    return {
        "samples": len(ordered),
        "p50_ms": round(percentile(ordered, 0.50), 1),
        "p95_ms": round(percentile(ordered, 0.95), 1),
        "p99_ms": round(percentile(ordered, 0.99), 1),
        "max_ms": round(ordered[-1], 1),
        "paths": sorted(paths),
    }


async def aiortc_pair(turn: LoopbackTurnServer, mode: str, frames: int,
                      fps: int) -> tuple[list[float], set[str]]:
    run = await measure_latency(aiortc_config(turn, mode), aiortc_config(turn, mode),
                                frames=frames, fps=fps, timeout=120)
    return run.probe.samples_ms, run.sender_paths | run.receiver_paths


def aiortc_config(turn: LoopbackTurnServer, mode: str) -> RTCConfiguration:
    if mode == "direct":
        return direct_configuration()
    return relay_configuration(turn.url,
                               *turn_rest_credential(SECRET, "aiortc", time.time(), 600))


def browser_config(turn: LoopbackTurnServer, mode: str) -> dict[str, Any]:
    if mode == "direct":
        return {"iceServers": []}
    username, credential = turn_rest_credential(SECRET, "chromium", time.time(), 600)
    return {"iceServers": [{"urls": turn.url, "username": username,
                            "credential": credential}], "iceTransportPolicy": "relay"}


async def chromium_runs(turn: LoopbackTurnServer, args: argparse.Namespace,
                        pooled: dict[str, dict[str, list[float]]],
                        paths: dict[str, dict[str, set[str]]]) -> None:
    from playwright.async_api import async_playwright

    from media.chromium_probe import (
        EXTRA_CHROMIUM_ARGS,
        chromium_receives,
        chromium_sends,
        open_probe_page,
    )

    args_chromium = ["--use-fake-ui-for-media-stream", "--no-sandbox", "--disable-gpu",
                     "--autoplay-policy=no-user-gesture-required", *EXTRA_CHROMIUM_ARGS]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM,
                                                   args=args_chromium, headless=True)
        try:
            page = await open_probe_page(browser)
            for _ in range(args.rounds):
                for mode in ("direct", "relay"):
                    result, pair = await chromium_receives(
                        page, aiortc_config(turn, mode), browser_config(turn, mode),
                        frames=args.frames, fps=args.fps)
                    pooled["aiortc->chromium"][mode] += result["samples"][5:]
                    paths["aiortc->chromium"][mode].add(str(pair))
                    probe, pairs = await chromium_sends(
                        page, aiortc_config(turn, mode), browser_config(turn, mode),
                        frames=args.frames, fps=args.fps)
                    pooled["chromium->aiortc"][mode] += probe.samples_ms[5:]
                    paths["chromium->aiortc"][mode] |= pairs
        finally:
            await browser.close()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    links = ["aiortc->aiortc"] + (["aiortc->chromium", "chromium->aiortc"]
                                  if args.chromium else [])
    pooled: dict[str, dict[str, list[float]]] = {
        link: {"direct": [], "relay": []} for link in links}
    paths: dict[str, dict[str, set[str]]] = {
        link: {"direct": set(), "relay": set()} for link in links}
    with LoopbackTurnServer(secrets=(SECRET,)) as turn:
        for _ in range(args.rounds):
            for mode in ("direct", "relay"):
                samples, used = await aiortc_pair(turn, mode, args.frames, args.fps)
                pooled["aiortc->aiortc"][mode] += samples
                paths["aiortc->aiortc"][mode] |= used
        if args.chromium:
            await chromium_runs(turn, args, pooled, paths)
    report: dict[str, Any] = {
        "benchmark": "glass_to_glass", "fps": args.fps, "frames_per_run": args.frames,
        "rounds": args.rounds, "resolution": "640x360", "links": {}}
    for link in links:
        direct = figures(pooled[link]["direct"], paths[link]["direct"])
        relay = figures(pooled[link]["relay"], paths[link]["relay"])
        report["links"][link] = {
            "direct": direct, "relay": relay,
            "relay_extra_p50_ms": round(relay["p50_ms"] - direct["p50_ms"], 1)}
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=150, help="stamped frames per run")
    parser.add_argument("--rounds", type=int, default=3, help="direct+relay rounds")
    parser.add_argument("--fps", type=int, default=15, help="frames per second sent")
    parser.add_argument("--chromium", action="store_true",
                        help="also aiortc<->Chromium, both ways (needs /usr/bin/chromium)")
    parser.add_argument("--json", action="store_true", help="print only the JSON report")
    args = parser.parse_args()
    report = asyncio.run(run(args))
    if args.json:
        print(json.dumps(report))
        return
    print(f"glass-to-glass, 640x360 VP8 at {args.fps} fps, {args.rounds} rounds of "
          f"{args.frames} frames per path (ms)")
    print(f"{'link':<18}{'path':<8}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}{'n':>6}  pairs")
    for link, both in report["links"].items():
        for mode in ("direct", "relay"):
            row = both[mode]
            print(f"{link:<18}{mode:<8}{row['p50_ms']:>8}{row['p95_ms']:>8}{row['p99_ms']:>8}"
                  f"{row['max_ms']:>8}{row['samples']:>6}  {','.join(row['paths'])}")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
