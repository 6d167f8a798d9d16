"""A kiosk on a hostile network: its calls are relayed through a real coturn.

The real CLI as a newcomer runs it (``serve``, ``answer``, ``call --json``) with TURN
configured and the demo kiosk listed in ``relay_kiosks``: both parties get
``ice_transport_policy: relay`` and per-session credentials, the media crosses coturn
(its log shows both allocations, released at hang-up, and the bytes relayed), and the
caller's JSON reports the glass-to-glass latency of the agent's stamped test pattern.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from media.turnserver import LoopbackTurnServer
from tests.conftest import free_port
from tests.media.turn_fixture import running_turn_server
from tests.protocol.test_cli import wait_healthy

CLI = [sys.executable, "-m", "signaling"]
SECRET = "turn-test-secret"


@pytest.fixture
def turn() -> Iterator[LoopbackTurnServer]:
    yield from running_turn_server(SECRET)


def relayed_bytes(log: str, user: str) -> int:
    """Bytes coturn relayed from the peer to ``user`` (its 'peer usage' line at close)."""
    pattern = rf"peer usage: realm=<[^>]*>, username=<\d+:{re.escape(user)}>, rp=\d+, rb=(\d+)"
    return sum(int(found) for found in re.findall(pattern, log))


def open_allocations(log: str, user: str) -> set[str]:
    """coturn sessions of ``user`` with no 'peer usage' line yet (not closed)."""
    def sessions(what: str) -> set[str]:
        return set(re.findall(rf"session (\d+): {what}[:,] realm=<[^>]*>, "
                              rf"username=<\d+:{re.escape(user)}>", log))
    return sessions("new") - sessions("peer usage")


async def closed_allocations_log(turn: LoopbackTurnServer, users: tuple[str, ...],
                                 deadline: float = 30.0) -> str:
    """coturn's log once every allocation of ``users`` is closed.

    A client that hangs up sends REFRESH lifetime=0; coturn deletes the allocation (and
    writes its usage lines) on its next timer tick, about a second later. An allocation
    left open would last its 600 s lifetime: the wait gives up long before, and the
    caller's assertion names it.
    """
    loop = asyncio.get_running_loop()
    give_up = loop.time() + deadline
    while True:
        log = turn.log_text()
        if not any(open_allocations(log, user) for user in users) or loop.time() > give_up:
            return log
        await asyncio.sleep(0.2)


@pytest.mark.slow
async def test_kiosk_call_is_relayed_through_coturn_and_reports_glass_to_glass(
        tmp_path: Path, turn: LoopbackTurnServer) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "CLOUD_AGENT_TURN_URLS": turn.url,
           "CLOUD_AGENT_TURN_SECRET": SECRET, "CLOUD_AGENT_RELAY_KIOSKS": "kiosk-demo"}
    server = await asyncio.create_subprocess_exec(
        *CLI, "serve", "--demo", "--port", str(port), "--data-dir", str(tmp_path),
        "--log-level", "warning", stdout=asyncio.subprocess.PIPE, env=env)
    try:
        await wait_healthy(url, server)
        agent = await asyncio.create_subprocess_exec(
            *CLI, "answer", "--server", url, "--user", "demo-agent-1", "--password", "demo",
            "--auto-answer", "--calls", "1", "--hold", "10", "--json",
            stdout=asyncio.subprocess.PIPE)
        call = await asyncio.create_subprocess_exec(
            *CLI, "call", "--server", url, "--skill", "water", "--kiosk-token", "demo-kiosk",
            "--hold", "3", "--json", stdout=asyncio.subprocess.PIPE)
        call_out, _ = await asyncio.wait_for(call.communicate(), 90)
        agent_out, _ = await asyncio.wait_for(agent.communicate(), 60)
    finally:
        server.terminate()
        await server.communicate()
    assert call.returncode == 0 and agent.returncode == 0
    caller = {e["event"]: e for e in map(json.loads, call_out.decode().splitlines())}
    agent_events = {e["event"]: e for e in map(json.loads, agent_out.decode().splitlines())}
    assert caller["connected"]["ice_transport_policy"] == "relay"
    assert agent_events["connected"]["ice_transport_policy"] == "relay"

    latency = caller["ended"]["glass_to_glass_ms"]
    print(f"kiosk (relay) <- agent glass-to-glass: {latency}")
    assert latency is not None and latency["samples"] > 0
    assert 0 < latency["p50"] <= latency["p95"] <= latency["max"] < 5000

    call_id = caller["queued"]["call_id"]
    users = (f"{call_id}-c", "demo-agent-1")
    # Both clients closed their peer connections: every allocation is released (no leak
    # until lifetime expiry), and only then are its relayed bytes in the log.
    log = await closed_allocations_log(turn, users)
    for user in users:
        assert f":{user}>: incoming packet ALLOCATE processed, success" in log, user
        assert not open_allocations(log, user), (user, "allocation not released")
    # Video went through the relay, both ways (a 3 s call carries well over 10 kB).
    assert relayed_bytes(log, f"{call_id}-c") > 10_000
    assert relayed_bytes(log, "demo-agent-1") > 10_000
