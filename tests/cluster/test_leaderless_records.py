"""No call record is lost while a router has no leader (issue 10, found by bench/call_rate.py).

Only a router's leader writes call records. A whole call can run while no node acts as
leader: the leader froze (here SIGSTOP; under load, a long stall) and its lease has not run
out. The other node applies every entry of that call without writing; when it takes the
lease it writes the router's recent record writes again, so the call has its record.
And a caller on a node that does not lead is told ``ended`` only once the database says so.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from tests.cluster.nodes import Node, cluster
from tests.cluster.nodes import call_record as record
from tests.cluster.test_live_cluster import SETTINGS
from tests.protocol.wsclient import JsonClient, agent

pytestmark = pytest.mark.postgres


async def whole_call(node: Node, desk: JsonClient, token: str) -> tuple[JsonClient, str]:
    """A kiosk call on ``node``, answered and hung up by ``desk``; the caller's socket."""
    caller = await JsonClient.open(f"{node.ws}/ws/caller")
    await caller.send({"type": "call_request", "skill": "water", "kiosk_token": token})
    call_id = (await caller.expect("queued", timeout=10))["call_id"]
    await desk.expect("offer", timeout=10, call_id=call_id)
    await desk.send({"type": "accept", "call_id": call_id})
    await caller.expect("connected", timeout=10, call_id=call_id)
    await desk.send({"type": "hangup", "call_id": call_id})
    await desk.expect("ended", timeout=10, call_id=call_id)
    return caller, call_id


async def test_a_call_made_while_no_node_leads_keeps_its_record(tmp_path: Path) -> None:
    async with cluster(tmp_path, ["a", "b"], **SETTINGS) as (server, (a, b)):
        redis = aioredis.from_url(server.url)
        desk = await agent(b, "demo-agent-1")
        assert a.process is not None
        try:
            assert await redis.get("ca:lease:default") == b"a"
            a.process.send_signal(signal.SIGSTOP)
            # The frozen leader's lease lasts long enough for a whole call to run on b.
            await redis.pexpire("ca:lease:default", 60_000)
            caller, call_id = await whole_call(b, desk, "demo-kiosk")
            await caller.expect("ended", timeout=10, call_id=call_id)  # after 2 s at most
            assert await redis.get("ca:lease:default") == b"a"
            await redis.delete("ca:lease:default")  # the lease runs out: b takes it
            for _ in range(100):
                if await record(b.database_url, call_id) == ("ended", "agent_hangup"):
                    break
                await asyncio.sleep(0.1)
            assert await record(b.database_url, call_id) == ("ended", "agent_hangup")
            assert await redis.get("ca:lease:default") == b"b"
        finally:
            a.process.send_signal(signal.SIGCONT)
            await redis.aclose()
        await caller.close()
        await desk.close()


async def test_a_caller_on_a_node_that_does_not_lead_is_told_ended_once_recorded(
        tmp_path: Path) -> None:
    async with cluster(tmp_path, ["a", "b"], **SETTINGS) as (server, (a, b)):
        desk = await agent(a, "demo-agent-1")
        for token in ("demo-kiosk", "demo-kiosk-2", "demo-kiosk-3"):
            caller, call_id = await whole_call(b, desk, token)  # b does not lead
            await caller.expect("ended", timeout=10, call_id=call_id)
            assert await record(b.database_url, call_id) == ("ended", "agent_hangup")
            await desk.send({"type": "end_wrap_up"})
            await desk.expect("agent_state", timeout=10, state="ready")
            await caller.close()
        await desk.close()
