"""Several ``cloud-agent serve --redis`` processes serve one queue (issue 10, 'Done when').

A kiosk on one node reaches an agent signed in on another; SDP goes node to node; a node
killed with SIGKILL mid-call leaves the others serving: the party on the dead node comes
back on a surviving node with its resume token (or its login) and keeps its call.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from tests.cluster.nodes import CLI, Node, cluster
from tests.protocol.wsclient import JsonClient, agent

#: the nodes share a throwaway PostgreSQL database (tests/cluster/nodes.py)
pytestmark = pytest.mark.postgres

SDP_OFFER = {"type": "sdp", "description": {"type": "offer", "sdp": "v=0\r\no=- 1 1 IN\r\n"}}
SDP_ANSWER = {"type": "sdp", "description": {"type": "answer", "sdp": "v=0\r\no=- 2 1 IN\r\n"}}
#: no wrap-up timer to wait out; agents end wrap-up themselves in these tests
SETTINGS = {"wrap_up_outcome_required": "false"}


async def kiosk_call(node: Node, token: str = "demo-kiosk") -> tuple[JsonClient, dict]:
    client = await JsonClient.open(f"{node.ws}/ws/caller")
    await client.send({"type": "call_request", "skill": "water", "kiosk_token": token})
    return client, await client.expect("queued", timeout=10)


async def connect_call(caller: JsonClient, desk: JsonClient, call_id: str) -> None:
    """The agent takes the offer; both sides get 'connected'; SDP crosses both ways."""
    offer = await desk.expect("offer", timeout=10, call_id=call_id)
    await desk.send({"type": "accept", "call_id": offer["call_id"]})
    await caller.expect("connected", timeout=10, call_id=call_id, role="offerer")
    await desk.expect("connected", timeout=10, call_id=call_id, role="answerer")
    await caller.send({**SDP_OFFER, "call_id": call_id})
    relayed = await desk.expect("sdp", timeout=10, call_id=call_id)
    assert relayed["description"] == SDP_OFFER["description"]
    await desk.send({**SDP_ANSWER, "call_id": call_id})
    answered = await caller.expect("sdp", timeout=10, call_id=call_id)
    assert answered["description"] == SDP_ANSWER["description"]


async def end_call(caller: JsonClient, desk: JsonClient, call_id: str) -> None:
    await desk.send({"type": "hangup", "call_id": call_id})
    await caller.expect("ended", timeout=10, call_id=call_id)
    await desk.expect("ended", timeout=10, call_id=call_id)
    await desk.send({"type": "end_wrap_up"})
    await desk.expect("agent_state", timeout=10, state="ready")


async def test_kiosk_on_one_node_reaches_agent_on_another_and_survives_its_node(
        tmp_path: Path) -> None:
    async with cluster(tmp_path, ["a", "b"], **SETTINGS) as (_, (a, b)):
        desk = await agent(b, "demo-agent-1")
        caller, queued = await kiosk_call(a)
        call_id = queued["call_id"]
        await connect_call(caller, desk, call_id)

        # Node A (the caller's, and the first leader) dies mid-call.
        a.kill()
        await desk.expect("peer_status", timeout=15, call_id=call_id, status="reconnecting")
        back = await JsonClient.open(f"{b.ws}/ws/caller")
        await back.send({"type": "resume", "resume_token": queued["resume_token"],
                         "restart_media": True})
        resumed = await back.expect("resumed", timeout=10, call_id=call_id)
        assert resumed["state"] == "connected"
        await back.expect("connected", timeout=10, call_id=call_id)
        await desk.expect("peer_status", timeout=10, call_id=call_id, status="connected")
        await end_call(back, desk, call_id)

        # B alone still serves new calls.
        caller2, queued2 = await kiosk_call(b, "demo-kiosk-2")
        await connect_call(caller2, desk, queued2["call_id"])
        await end_call(caller2, desk, queued2["call_id"])
        for client in (desk, caller, back, caller2):
            await client.close()


async def test_killing_the_agents_node_mid_call_keeps_the_call_and_the_queue(
        tmp_path: Path) -> None:
    async with cluster(tmp_path, ["a", "b"], **SETTINGS) as (_, (a, b)):
        desk = await agent(b, "demo-agent-1")
        caller, queued = await kiosk_call(a)
        call_id = queued["call_id"]
        await connect_call(caller, desk, call_id)

        # Node B (the agent's) dies mid-call; the console logs in again on A.
        b.kill()
        await caller.expect("peer_status", timeout=15, call_id=call_id, status="reconnecting")
        desk2 = await agent(a, "demo-agent-1", ready=False)
        await desk2.expect("connected", timeout=10, call_id=call_id)
        await caller.expect("peer_status", timeout=10, call_id=call_id, status="connected")
        await caller.send({**SDP_OFFER, "call_id": call_id})  # an ICE restart's offer
        await desk2.expect("sdp", timeout=10, call_id=call_id)
        await end_call(caller, desk2, call_id)

        caller2, queued2 = await kiosk_call(a, "demo-kiosk-2")
        await connect_call(caller2, desk2, queued2["call_id"])
        await end_call(caller2, desk2, queued2["call_id"])
        for client in (desk, desk2, caller, caller2):
            await client.close()
        await asyncio.sleep(0)


@pytest.mark.slow
async def test_media_flows_between_a_caller_and_an_agent_on_different_nodes(
        tmp_path: Path) -> None:
    """The headless caller (aiortc) on node A and the headless agent on node B: video
    frames arrive both ways, so SDP and ICE crossed the nodes' relay streams."""
    async with cluster(tmp_path, ["a", "b"], **SETTINGS) as (_, (a, b)):
        answer = await asyncio.create_subprocess_exec(
            *CLI, "answer", "--server", b.http, "--user", "demo-agent-1", "--password",
            "demo", "--auto-answer", "--calls", "1", "--hold", "6", "--json",
            stdout=asyncio.subprocess.PIPE)
        await wait_ready(b)
        call = await asyncio.create_subprocess_exec(
            *CLI, "call", "--server", a.http, "--skill", "water", "--kiosk-token",
            "demo-kiosk", "--hold", "3", "--json", stdout=asyncio.subprocess.PIPE)
        call_out, _ = await asyncio.wait_for(call.communicate(), 90)
        answer_out, _ = await asyncio.wait_for(answer.communicate(), 90)
        assert call.returncode == 0 and answer.returncode == 0
        caller_events = {e["event"]: e for e in map(json.loads, call_out.decode().splitlines())}
        agent_events = {e["event"]: e for e in map(json.loads,
                                                   answer_out.decode().splitlines())}
        assert {"connected", "first_remote_frame", "ended"} <= set(caller_events)
        assert "first_remote_frame" in agent_events
        assert caller_events["ended"]["frames_received"] > 0
        assert agent_events["ended"]["frames_received"] > 0


async def wait_ready(node: Node) -> None:
    """Until an agent is signed in on ``node`` (the headless agent logs in by itself)."""
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            if (await client.get(f"{node.http}/healthz")).json()["agents_online"] >= 1:
                await asyncio.sleep(0.5)  # and has said it is ready
                return
            await asyncio.sleep(0.1)
    raise AssertionError("the headless agent did not sign in")
