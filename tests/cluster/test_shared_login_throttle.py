"""Failed logins and new sockets per address are counted across the cluster (Redis INCR +
PEXPIRE), not per node: an address that spreads its guesses (or its connections) over two
nodes is refused once the limit is reached on either. Real ``redis-server`` and
``cloud-agent serve`` processes."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.cluster.nodes import cluster

#: the nodes share a throwaway PostgreSQL database (tests/cluster/nodes.py)
pytestmark = pytest.mark.postgres


async def test_failed_logins_on_two_nodes_add_up(tmp_path: Path) -> None:
    async with cluster(tmp_path, ["a", "b"], login_max_failures="3") as (_, (a, b)):
        wrong = {"username": "demo-agent-1", "password": "not-the-password"}
        async with httpx.AsyncClient() as client:
            codes = [(await client.post(f"{node.http}/api/login", json=wrong)).status_code
                     for node in (a, b, a)]
            assert codes == [401, 401, 401]
            # Three failures in all, none three on one node: both nodes now refuse.
            for node in (b, a):
                refused = await client.post(f"{node.http}/api/login", json=wrong)
                assert refused.status_code == 429, refused.text
                assert refused.json()["code"] == "too_many_attempts"
                assert int(refused.headers["Retry-After"]) > 0
            # Even the right password waits: the pair is blocked everywhere.
            right = await client.post(f"{b.http}/api/login",
                                      json={"username": "demo-agent-1", "password": "demo"})
            assert right.status_code == 429
            # Another user from the same address is not blocked (pair limit only).
            other = await client.post(f"{b.http}/api/login",
                                      json={"username": "demo-agent-2", "password": "demo"})
            assert other.status_code == 200


async def test_new_sockets_per_address_are_counted_across_nodes(tmp_path: Path) -> None:
    async with cluster(tmp_path, ["a", "b"], new_sockets_per_minute="4") as (_, (a, b)):
        opened = []
        for node in (a, b, a, b):  # four in the minute, two on each node: all admitted
            ws = await connect(f"{node.ws}/ws/caller")
            assert json.loads(await ws.recv())["type"] == "hello"
            opened.append(ws)
        for node in (b, a):  # the fifth and sixth, on either node: refused
            ws = await connect(f"{node.ws}/ws/caller")
            refused = json.loads(await ws.recv())
            assert refused["type"] == "error" and refused["code"] == "too_many_connections"
            await ws.wait_closed()
            assert ws.close_code == 1013
        for ws in opened:
            await ws.close()
