"""A cluster's harder days (issue 10, 'Tests'): Redis restarted under a live call, and
nodes whose clocks are seconds off. Real ``redis-server`` and ``cloud-agent serve``
processes (tests/cluster/nodes.py).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.nodes import Node, cluster
from tests.cluster.test_live_cluster import SETTINGS, connect_call, end_call, kiosk_call
from tests.protocol.wsclient import JsonClient, agent

#: the nodes share a throwaway PostgreSQL database (tests/cluster/nodes.py)
pytestmark = pytest.mark.postgres


async def request_until_queued(node: Node, token: str, seconds: float) -> tuple[
        JsonClient, dict[str, Any], list[str]]:
    """Ask for a call on ``node`` until it is queued; the error codes seen meanwhile."""
    client = await JsonClient.open(f"{node.ws}/ws/caller")
    codes: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await client.send({"type": "call_request", "skill": "water", "kiosk_token": token})
        reply = await client.recv(10)
        while reply["type"] not in ("queued", "error"):
            reply = await client.recv(10)
        if reply["type"] == "queued":
            return client, reply, codes
        codes.append(reply["code"])
        await asyncio.sleep(0.3)
    raise AssertionError(f"never queued; errors: {codes}")


async def still_up(caller: JsonClient) -> JsonClient:
    """The caller's socket after the resync: still up, never closed with 1012. (It was,
    now and then, when the nodes started cold: the leader declared the other node gone
    because its heartbeat was not back yet in the emptied Redis; the leader now gives
    every node a heartbeat's life after Redis returns.)"""
    await caller.send({"type": "ping"})
    await caller.expect("pong", timeout=10)
    return caller


async def agent_hangs_up(desk: JsonClient, call_id: str) -> None:
    """The agent hangs up, and asks again while its node answers 'service_unavailable';
    the ``ended`` stays in the backlog for ``expect``."""
    for _ in range(100):
        await desk.send({"type": "hangup", "call_id": call_id})
        while (reply := await desk.recv(10))["type"] != "error" and not (
                reply["type"] == "ended" and reply["call_id"] == call_id):
            desk.backlog.append(reply)
        if reply["type"] == "ended":
            desk.backlog.append(reply)
            return
        assert reply["code"] == "service_unavailable", reply
        await asyncio.sleep(0.2)
    raise AssertionError("the hang-up was never taken")


async def test_redis_restart_keeps_the_call_and_new_calls_wait_for_it(tmp_path: Path) -> None:
    async with cluster(tmp_path, ["a", "b"], **SETTINGS) as (redis, (a, b)):
        desk = await agent(b, "demo-agent-1")
        caller, queued = await kiosk_call(a)
        call_id = queued["call_id"]
        await connect_call(caller, desk, call_id)

        await redis.stop()
        other = await JsonClient.open(f"{a.ws}/ws/caller")
        await other.send({"type": "call_request", "skill": "water",
                          "kiosk_token": "demo-kiosk-2"})
        await other.error("service_unavailable", timeout=15)  # a clear refusal, no hang
        await other.close()

        await redis.start()  # empty: no log, no snapshot, no lease
        # The nodes recover by themselves: a new call is taken again.
        second, queued2, _ = await request_until_queued(a, "demo-kiosk-2", 60)
        caller = await still_up(caller)
        # The call that was up all along ends normally on both sides (the agent's node
        # may still be reloading the log a node re-seeded: a console asks again after
        # 'service_unavailable') ...
        await agent_hangs_up(desk, call_id)
        await caller.expect("ended", timeout=10, call_id=call_id)
        await desk.expect("ended", timeout=10, call_id=call_id)
        await desk.send({"type": "end_wrap_up"})
        # ... and the agent, free again, gets the new call across the nodes.
        await connect_call(second, desk, queued2["call_id"])
        await end_call(second, desk, queued2["call_id"])
        for client in (desk, caller, second):
            await client.close()


async def test_skewed_clocks_do_not_move_the_timers(tmp_path: Path) -> None:
    """The leader's clock runs 5 s slow and the other node's 5 s fast: an offer still
    rings its 3 s (a node trusting its own clock would time it out at once, or after 8 s),
    and routing goes on."""
    skew = {"b": {"clock_offset": "-5"}, "a": {"clock_offset": "5"}}
    async with cluster(tmp_path, ["b", "a"], per_node=skew, ring_timeout="3",
                       **SETTINGS) as (_, (b, a)):
        desk = await agent(a, "demo-agent-1")
        caller, queued = await kiosk_call(b)
        call_id = queued["call_id"]
        offer = await desk.expect("offer", timeout=10, call_id=call_id)
        offered = time.monotonic()
        assert 2500 <= offer["ring_timeout_ms"] <= 3000
        cancelled = await desk.expect("offer_cancelled", timeout=20, call_id=call_id)
        rang = time.monotonic() - offered
        assert cancelled["reason"] == "timeout"
        assert 2.5 <= rang < 6.0, rang
        # Not ready after the miss? Ready again, and the call is offered anew.
        await desk.send({"type": "set_status", "status": "ready"})
        await connect_call(caller, desk, call_id)
        await end_call(caller, desk, call_id)
        await desk.close()
        await caller.close()
