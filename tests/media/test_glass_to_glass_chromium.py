"""Glass-to-glass latency between aiortc and real Chromium, both ways, direct and relayed.

The probes are ``media/chromium_probe.py`` (why a stamped canvas rather than a Y4M fake
camera is said there). Relayed runs put both peers on ``iceTransportPolicy: relay``
against a real coturn; the selected pairs are checked on both ends.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiortc import RTCConfiguration
from playwright.async_api import Browser, Page, async_playwright

from media.chromium_probe import (
    EXTRA_CHROMIUM_ARGS,
    chromium_receives,
    chromium_sends,
    open_probe_page,
)
from media.latency import direct_configuration, relay_configuration
from media.stamped import percentile
from media.turnserver import LoopbackTurnServer
from signaling.live.ice import turn_rest_credential
from tests.conftest import IN_CI
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.media.turn_fixture import running_turn_server

SECRET = "turn-test-secret"

pytestmark = pytest.mark.browser


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    if not Path(CHROMIUM).exists():
        message = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    async with async_playwright() as playwright:
        browser: Browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *EXTRA_CHROMIUM_ARGS],
            headless=True)
        try:
            yield await open_probe_page(browser)
        finally:
            await browser.close()


@pytest.fixture
def turn() -> Iterator[LoopbackTurnServer]:
    yield from running_turn_server(SECRET)


def browser_config(turn: LoopbackTurnServer | None) -> dict[str, Any]:
    if turn is None:
        return {"iceServers": []}
    username, credential = turn_rest_credential(SECRET, "chromium", time.time(), 600)
    return {"iceServers": [{"urls": turn.url, "username": username, "credential": credential}],
            "iceTransportPolicy": "relay"}


def aiortc_config(turn: LoopbackTurnServer | None) -> RTCConfiguration:
    if turn is None:
        return direct_configuration()
    return relay_configuration(turn.url,
                               *turn_rest_credential(SECRET, "aiortc", time.time(), 600))


def summarise(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50": percentile(ordered, 0.5), "max": ordered[-1], "samples": len(ordered)}


def assert_sane(samples: list[float]) -> None:
    assert samples, "no stamped frame was read"
    assert all(0 < sample < 5000 for sample in samples), sorted(samples)[-5:]


async def test_chromium_reads_the_stamp_of_an_aiortc_sender(page: Page) -> None:
    result, pair = await chromium_receives(page, aiortc_config(None), browser_config(None))
    print(f"aiortc -> Chromium direct: {summarise(result['samples'])}, "
          f"unstamped {result['unstamped']}, pair {pair}")
    assert_sane(result["samples"])
    assert pair == "host"


async def test_aiortc_reads_the_stamp_of_a_chromium_canvas(page: Page) -> None:
    probe, pairs = await chromium_sends(page, aiortc_config(None), browser_config(None))
    print(f"Chromium -> aiortc direct: {probe.summary()}, pairs {pairs}")
    assert_sane(probe.samples_ms)
    assert pairs == {"host"}


async def test_chromium_and_aiortc_relayed_through_coturn_both_ways(
        page: Page, turn: LoopbackTurnServer) -> None:
    result, pair = await chromium_receives(page, aiortc_config(turn), browser_config(turn),
                                           frames=15)
    print(f"aiortc -> coturn -> Chromium: {summarise(result['samples'])}, pair {pair}")
    assert_sane(result["samples"])
    assert pair == "relay"
    probe, pairs = await chromium_sends(page, aiortc_config(turn), browser_config(turn),
                                        frames=15)
    print(f"Chromium -> coturn -> aiortc: {probe.summary()}, pairs {pairs}")
    assert_sane(probe.samples_ms)
    assert pairs == {"relay"}
    assert ":chromium>: incoming packet ALLOCATE processed, success" in turn.log_text()
