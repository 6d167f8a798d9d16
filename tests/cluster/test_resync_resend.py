"""After a Redis outage a node that reloads the state tells its sockets their current state
(issue 10: "a client or node that reconnects re-reads the full state"): what it replayed
meanwhile was applied without delivering, so each caller gets ``resumed`` (plus
``connected`` and ``session_document`` in a call) and each agent ``agent_state`` (plus
``connected`` and ``session_document`` in a call) and ``queue_snapshot``, as a reconnect
would. Real ``redis-server`` and ``cloud-agent serve`` processes.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.cluster.nodes import Node, cluster
from tests.cluster.test_cluster_outages import request_until_queued
from tests.cluster.test_leader_kill import replicas_agree
from tests.cluster.test_live_cluster import SETTINGS, connect_call, end_call, kiosk_call
from tests.protocol.wsclient import agent

#: the nodes share a throwaway PostgreSQL database (tests/cluster/nodes.py)
pytestmark = pytest.mark.postgres

RESYNCED = "sockets told their state"


async def resynced_nodes(nodes: list[Node], seconds: float) -> list[Node]:
    """The nodes that reloaded the state after the outage (one seeds, the others load)."""
    for _ in range(int(seconds * 10)):
        found = [n for n in nodes
                 if RESYNCED in (n.workdir / f"{n.name}.log").read_text(errors="replace")]
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError("no node reloaded the state after the outage")


async def test_a_node_that_reloads_after_an_outage_resends_every_sockets_state(
        tmp_path: Path) -> None:
    async with cluster(tmp_path, ["a", "b"], **SETTINGS) as (redis, (a, b)):
        # On a: a caller in a call (with the agent on b) and an agent not ready.
        # On b: the agent in that call and a caller waiting behind it.
        desk = await agent(b, "demo-agent-1")
        talking, queued = await kiosk_call(a)
        call_id = queued["call_id"]
        await connect_call(talking, desk, call_id)
        idle = await agent(a, "demo-agent-3", ready=False)
        waiting, queued2 = await kiosk_call(b, "demo-kiosk-2")
        waiting_id = queued2["call_id"]

        await asyncio.sleep(1.5)  # the agents' periodic queue snapshots went out
        for client in (talking, idle, waiting, desk):  # only what comes after counts
            while True:
                try:
                    await client.recv(0.2)
                except TimeoutError:
                    break
            client.backlog.clear()
        await redis.stop()
        await asyncio.sleep(1.0)
        await redis.start()  # empty: one node seeds a new epoch, the other reloads it
        reloaded = await resynced_nodes([a, b], 60)

        if a in reloaded:
            back = await talking.expect("resumed", timeout=10, call_id=call_id)
            assert back["position"] is None, back
            await talking.expect("connected", timeout=10, call_id=call_id, role="offerer")
            document = await talking.expect("session_document", timeout=10,
                                            call_id=call_id)
            assert "document" in document
            state = await idle.expect("agent_state", timeout=10)
            assert state["state"] == "not_ready", state
            await idle.expect("queue_snapshot", timeout=10)
        if b in reloaded:
            back = await waiting.expect("resumed", timeout=10, call_id=waiting_id)
            assert back["state"] == "waiting" and back["position"] == 1, back
            state = await desk.expect("agent_state", timeout=10)
            assert state["state"] not in ("ready", "offline"), state
            await desk.expect("connected", timeout=10, call_id=call_id, role="answerer")
            await desk.expect("session_document", timeout=10, call_id=call_id)
            snapshot = await desk.expect("queue_snapshot", timeout=10)
            water = [q for q in snapshot["queues"] if q["skill"] == "water"]
            assert water and water[0]["waiting"] == 1, snapshot

        # The call goes on and ends normally; the waiting caller is answered next.
        third, _, _ = await request_until_queued(a, "demo-kiosk-3", 30)  # calls taken again
        await end_call(talking, desk, call_id)
        await connect_call(waiting, desk, waiting_id)
        await end_call(waiting, desk, waiting_id)
        await replicas_agree([a, b])
        for client in (talking, idle, waiting, desk, third):
            await client.close()
