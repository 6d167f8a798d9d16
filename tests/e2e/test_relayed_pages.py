"""The walkthrough of docs/operations.md in Chromium: a kiosk on a hostile network calls,
and the call's media goes through a real coturn.

The server mints TURN credentials per session and lists the demo kiosk in
``relay_kiosks``; the kiosk page and the console put ``iceTransportPolicy: "relay"`` in
their RTCPeerConnection, so they can only meet through the relay. coturn's log shows both
parties' allocations and, after hang-up, the bytes it relayed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.async_api import expect

from media.turnserver import LoopbackTurnServer
from tests.conftest import StartServer
from tests.e2e.conftest import NewPage
from tests.e2e.test_flows import console_for, kiosk_picks_water
from tests.e2e.test_kiosk import by_id, eventually, open_kiosk, video_playing
from tests.media.turn_fixture import running_turn_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SECRET = "turn-test-secret"


@pytest.fixture
def turn() -> Iterator[LoopbackTurnServer]:
    yield from running_turn_server(SECRET)


def relayed_bytes(log: str, user: str) -> int:
    pattern = rf"peer usage: realm=<[^>]*>, username=<\d+:{re.escape(user)}>, rp=\d+, rb=(\d+)"
    return sum(int(found) for found in re.findall(pattern, log))


async def test_relay_kiosk_and_console_meet_only_through_coturn(
        start_server: StartServer, new_page: NewPage, turn: LoopbackTurnServer) -> None:
    server = await start_server(turn_urls=[turn.url], turn_secret=SECRET,
                                relay_kiosks=["kiosk-demo"])
    console = await console_for(new_page, server)
    kiosk = await open_kiosk(new_page, server, "portrait")
    await kiosk_picks_water(kiosk)
    await expect(by_id(console, "incoming-call")).to_be_visible()
    await by_id(console, "accept-button").click()
    call_id = next(iter(server.hub.sessions))
    assert server.hub.ice_transport_policy(call_id) == "relay"

    assert (await video_playing(kiosk))["framesDecoded"] > 0
    assert (await video_playing(console))["framesDecoded"] > 0
    log = turn.log_text()
    for user in (f"{call_id}-c", "demo-agent-1"):
        assert f":{user}>: incoming packet ALLOCATE processed, success" in log, user

    await by_id(console, "hangup-button").click()
    await expect(by_id(kiosk, "rating-1")).to_be_visible()

    async def usage_logged() -> bool:
        log = turn.log_text()
        return relayed_bytes(log, f"{call_id}-c") > 0 and relayed_bytes(log, "demo-agent-1") > 0
    await eventually(usage_logged, 15, "coturn to log the relayed bytes of both parties")
