"""One router per district (issue 10): each has its own log, lease and leader.

Three real ``cloud-agent serve --redis`` nodes with ``routing_partitions=haiyan``: calls
and agents of 海盐 (provisioned by the real admin CLI) are routed by the ``haiyan``
router, everything else by ``default``. Each router's entries go to its own stream only;
the leases spread over the nodes; the leader of one router killed with SIGKILL stops
nothing of the other router, and its own router is taken over with no call lost.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from tests.cluster.nodes import CLI, Node, cluster
from tests.protocol.wsclient import JsonClient, agent, login

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "haiyan-desk-1"
SETTINGS = {"wrap_up_outcome_required": "false", "routing_partitions": "haiyan",
            "directory_refresh_interval": "0.2"}
SDP_OFFER = {"type": "sdp", "description": {"type": "offer", "sdp": "v=0\r\no=- 1 1 IN\r\n"}}


async def admin(node: Node, *args: str) -> str:
    """``cloud-agent admin`` on the cluster's database, as an operator runs it."""
    env = {**os.environ, "CLOUD_AGENT_DATABASE_URL": node.database_url,
           "CLOUD_AGENT_SECRET_KEY": node.secret}
    env.pop("CLOUD_AGENT_CONFIG_FILE", None)
    process = await asyncio.create_subprocess_exec(
        *CLI, "admin", *args, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, output.decode()
    return output.decode()


async def provision_haiyan(node: Node) -> str:
    """A 海盐 water agent (``hy-desk``) and kiosk; the kiosk's token."""
    await admin(node, "add-agent", "hy-desk", "--skills", "water:1", "--partition", "haiyan",
                "--password", PASSWORD)
    output = await admin(node, "add-kiosk", "--name", "海盐1号", "--town", "武原街道",
                         "--partition", "haiyan")
    return output.split("/kiosk?token=")[1].strip()


async def haiyan_desk(node: Node) -> JsonClient:
    """``hy-desk`` logged in on ``node`` and ready (once the node's directory has it)."""
    for _ in range(100):
        try:
            token = await login(node.http, "hy-desk", PASSWORD)
            break
        except httpx.HTTPStatusError:
            await asyncio.sleep(0.1)
    else:
        raise AssertionError("hy-desk never could log in")
    client = await JsonClient.open(f"{node.ws}/ws/agent")
    await client.send({"type": "auth", "token": token})
    authenticated = await client.expect("authenticated", timeout=10)
    assert authenticated["agent"]["partition"] == "haiyan"
    await client.send({"type": "set_status", "status": "ready"})
    await client.expect("agent_state", timeout=10, state="ready")
    return client


async def kiosk_call(node: Node, token: str) -> tuple[JsonClient, str]:
    for _ in range(100):  # the node's directory learns the new kiosk within 0.2 s
        client = await JsonClient.open(f"{node.ws}/ws/caller")
        await client.send({"type": "call_request", "skill": "water", "kiosk_token": token})
        while (answer := await client.recv(timeout=10))["type"] not in ("queued", "error"):
            pass
        if answer["type"] == "queued":
            return client, answer["call_id"]
        assert answer["code"] == "invalid_kiosk_token", answer
        await client.close()
        await asyncio.sleep(0.1)
    raise AssertionError("the kiosk was never accepted")


async def answer(caller: JsonClient, desk: JsonClient, call_id: str) -> None:
    offer = await desk.expect("offer", timeout=10, call_id=call_id)
    await desk.send({"type": "accept", "call_id": offer["call_id"]})
    await caller.expect("connected", timeout=10, call_id=call_id)
    await desk.expect("connected", timeout=10, call_id=call_id)
    await caller.send({**SDP_OFFER, "call_id": call_id})
    relayed = await desk.expect("sdp", timeout=10, call_id=call_id)
    assert relayed["description"] == SDP_OFFER["description"]


async def stream_call_ids(redis: aioredis.Redis, stream: str) -> set[str]:
    """Every call id named by an entry of a log stream."""
    found: set[str] = set()
    for _, fields in await redis.xrange(stream):
        entry: dict[str, Any] = json.loads(fields[b"e"])
        for where in (entry, entry.get("event") or {}, entry.get("caller") or {}):
            if isinstance(where.get("call_id"), str):
                found.add(where["call_id"])
    return found


async def replicas(nodes: list[Node]) -> list[dict[str, Any]]:
    """Each node's replica once all have applied the same entries of every router."""
    async with httpx.AsyncClient() as client:
        token = await login(nodes[0].http, "demo-supervisor")
        headers = {"Authorization": f"Bearer {token}"}
        for _ in range(100):
            reports = [(await client.get(f"{n.http}/api/replica", headers=headers)).json()
                       for n in nodes]
            if len({r["last_id"] for r in reports}) == 1 and \
                    len({r["digest"] for r in reports}) == 1:
                return reports
            await asyncio.sleep(0.1)
    raise AssertionError(f"the replicas never agreed: {reports}")


async def leaders(redis: aioredis.Redis) -> dict[str, str]:
    held = {}
    for router in ("default", "haiyan"):
        holder = await redis.get(f"ca:lease:{router}")
        if holder is not None:
            held[router] = holder.decode()
    return held


async def test_each_district_has_its_own_router_log_and_leader(tmp_path: Path) -> None:
    async with cluster(tmp_path, ["a", "b", "c"], **SETTINGS) as (server, (a, b, c)):
        redis = aioredis.from_url(server.url)
        try:
            token = await provision_haiyan(a)
            hy_desk = await haiyan_desk(c)
            desk = await agent(b, "demo-agent-1")
            hy_caller, hy_call = await kiosk_call(a, token)
            await answer(hy_caller, hy_desk, hy_call)
            caller, call = await kiosk_call(a, "demo-kiosk")
            await answer(caller, desk, call)

            # Each router's entries are in its own stream, and only there.
            haiyan_calls = await stream_call_ids(redis, "ca:log:haiyan")
            default_calls = await stream_call_ids(redis, "ca:log:default")
            assert hy_call in haiyan_calls and hy_call not in default_calls
            assert call in default_calls and call not in haiyan_calls

            # Leadership spreads: two routers on three nodes, one each within a few
            # seconds (the first node started led both).
            for _ in range(100):
                held = await leaders(redis)
                if len(held) == 2 and held["default"] != held["haiyan"]:
                    break
                await asyncio.sleep(0.1)
            assert len(held) == 2 and held["default"] != held["haiyan"], held

            reports = await replicas([a, b, c])
            for report in reports:
                assert report["violations"] == []
                assert set(report["routers"]) == {"default", "haiyan"}
                assert [r["leader"] for r in report["routers"].values()].count(True) == \
                    sum(node == report["node"] for node in held.values())

            for desk_, caller_, call_id in ((hy_desk, hy_caller, hy_call),
                                            (desk, caller, call)):
                await desk_.send({"type": "hangup", "call_id": call_id})
                await caller_.expect("ended", timeout=10, call_id=call_id)
        finally:
            await redis.aclose()


async def test_one_routers_leader_killed_leaves_the_other_router_untouched(
        tmp_path: Path) -> None:
    async with cluster(tmp_path, ["a", "b", "c"], **SETTINGS) as (server, nodes):
        redis = aioredis.from_url(server.url)
        try:
            token = await provision_haiyan(nodes[0])
            for _ in range(100):  # wait for the leases to spread
                held = await leaders(redis)
                if len(held) == 2 and held["default"] != held["haiyan"]:
                    break
                await asyncio.sleep(0.1)
            assert held["default"] != held["haiyan"], held
            by_name = {node.name: node for node in nodes}
            hy_leader = by_name[held["haiyan"]]
            default_leader = by_name[held["default"]]
            spare = next(n for n in nodes if n not in (hy_leader, default_leader))

            # Calls of both districts are live on the survivors, the 海盐 one answered.
            hy_desk = await haiyan_desk(spare)
            desk = await agent(default_leader, "demo-agent-1")
            hy_caller, hy_call = await kiosk_call(default_leader, token)
            await answer(hy_caller, hy_desk, hy_call)
            caller, call = await kiosk_call(spare, "demo-kiosk")
            await answer(caller, desk, call)

            hy_leader.kill()
            # The default router keeps its leader throughout; haiyan's lease moves.
            for _ in range(100):
                held = await leaders(redis)
                if held.get("haiyan") not in (None, hy_leader.name):
                    break
                await asyncio.sleep(0.05)
            assert held["haiyan"] != hy_leader.name and held["default"] == default_leader.name

            # Both calls are still connected; a new 海盐 call is routed by the new leader.
            await hy_caller.send({**SDP_OFFER, "call_id": hy_call})
            await hy_desk.expect("sdp", timeout=10, call_id=hy_call)
            await caller.send({**SDP_OFFER, "call_id": call})
            await desk.expect("sdp", timeout=10, call_id=call)
            await hy_desk.send({"type": "hangup", "call_id": hy_call})
            await hy_caller.expect("ended", timeout=10, call_id=hy_call)
            await hy_desk.send({"type": "end_wrap_up"})
            await hy_desk.expect("agent_state", timeout=10, state="ready")
            second, second_call = await kiosk_call(spare, token)
            await answer(second, hy_desk, second_call)

            survivors = [n for n in nodes if n is not hy_leader]
            reports = await replicas(survivors)
            assert all(r["violations"] == [] for r in reports)
            assert held["default"] == (await leaders(redis))["default"]
        finally:
            await redis.aclose()


async def test_a_node_with_another_router_map_refuses_to_start(tmp_path: Path) -> None:
    async with cluster(tmp_path, ["a"], **SETTINGS) as (server, (a,)):
        other = Node("b", server.url, a.database_url, a.secret, tmp_path,
                     **{**SETTINGS, "routing_partitions": "haining"})
        with pytest.raises(AssertionError) as refused:
            await other.start()
        assert "routing_partitions" in str(refused.value)
        await other.stop()


def test_cli_exits_with_a_clear_message_for_an_unreadable_router_list(
        tmp_path: Path) -> None:
    import subprocess

    done = subprocess.run(
        [sys.executable, "-m", "signaling", "serve", "--data-dir", str(tmp_path)],
        env={**os.environ, "CLOUD_AGENT_ROUTING_PARTITIONS": "haiyan,east=haiyan+x"},
        capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode != 0
    assert "haiyan" in done.stderr and "twice" in done.stderr
