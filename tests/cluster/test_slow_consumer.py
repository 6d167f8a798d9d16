"""A slow consumer (issue 10, 'Tests'): one node of three is frozen with SIGSTOP for longer
than its heartbeat lives, while calls ring and connect on the others.

The cluster keeps routing; the frozen node, once SIGCONT'd, catches up with the log (or
reloads the snapshot if the log was trimmed past it) and ends with the same replicated
state as the others; its clients are told to reconnect (1012: the leader declared the
node gone meanwhile) and, resuming or logging in again, get the current state.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed

from tests.cluster.nodes import Node, cluster
from tests.cluster.test_leader_kill import replicas_agree
from tests.cluster.test_live_cluster import SETTINGS, connect_call, end_call
from tests.protocol.wsclient import JsonClient, agent

#: the nodes share a throwaway PostgreSQL database (tests/cluster/nodes.py)
pytestmark = pytest.mark.postgres

#: longer than a heartbeat lives (signaling/live/node.py HEARTBEAT_MS = 6 s) plus the
#: leader's two checks a second apart
STALL = 9.0


async def call(node: Node, skill: str, token: str) -> tuple[JsonClient, dict]:
    client = await JsonClient.open(f"{node.ws}/ws/caller")
    await client.send({"type": "call_request", "skill": skill, "kiosk_token": token})
    return client, await client.expect("queued", timeout=10)


async def closed_code(client: JsonClient, seconds: float) -> int | None:
    """Read until the server closes the socket; its close code."""
    try:
        while True:
            await client.recv(seconds)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else None


async def test_a_frozen_node_catches_up_and_its_clients_resume(tmp_path: Path) -> None:
    async with cluster(tmp_path, ["a", "b", "c"], **SETTINGS) as (_, (a, b, c)):
        assert c.process is not None
        # On the node to be frozen: a caller waiting for a skill nobody serves yet, and
        # an agent signed in but not ready.
        waiting, queued = await call(c, "tax", "demo-kiosk-3")
        waiting_id = queued["call_id"]
        frozen_desk = await agent(c, "demo-agent-2", ready=False)
        desk = await agent(b, "demo-agent-3")  # transport, on a live node

        c.process.send_signal(signal.SIGSTOP)
        stopped = time.monotonic()
        try:
            # The others keep routing: two calls from a reach the agent on b.
            for token in ("demo-kiosk-4", "demo-kiosk-5"):
                caller, queued2 = await call(a, "transport", token)
                await connect_call(caller, desk, queued2["call_id"])
                await end_call(caller, desk, queued2["call_id"])
                await caller.close()
            await asyncio.sleep(max(0.0, STALL - (time.monotonic() - stopped)))
        finally:
            c.process.send_signal(signal.SIGCONT)

        # The leader took c for gone: c, alive again, closes its sockets with 1012.
        assert await closed_code(waiting, 30) == 1012, waiting.seen
        assert await closed_code(frozen_desk, 30) == 1012, frozen_desk.seen
        # Whatever c sent before closing was about this call only, never another's.
        assert all(m.get("call_id") in (None, waiting_id) for m in waiting.seen)

        # Its caller resumes (on c itself) and is still first in the tax queue ...
        resumed = await JsonClient.open(f"{c.ws}/ws/caller")
        await resumed.send({"type": "resume", "resume_token": queued["resume_token"]})
        reply = await resumed.expect("resumed", timeout=10, call_id=waiting_id)
        assert reply["state"] == "waiting" and reply["position"] == 1, reply
        # ... its agent logs in again on c, not ready, with no call ...
        again = await agent(c, "demo-agent-2", ready=False)
        state = again.seen[-1]
        assert state["type"] == "authenticated" and state.get("call_id") is None, state
        # ... and, made ready, takes the waiting call (demo-agent-2 does not serve tax:
        # demo-agent-4 does, signed in on a).
        tax_desk = await agent(a, "demo-agent-4")
        await connect_call(resumed, tax_desk, waiting_id)
        await end_call(resumed, tax_desk, waiting_id)

        reports = await replicas_agree([a, b, c])
        assert {r["node"] for r in reports} == {"a", "b", "c"}
        for client in (resumed, again, desk, tax_desk):
            await client.close()
