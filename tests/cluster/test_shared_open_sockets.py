"""Open caller sockets per address are counted across the cluster: each node keeps its
count in a Redis hash that lives as long as its heartbeat, and a new caller socket is
admitted while the live nodes' counts sum below ``max_caller_sockets_per_address``. Real
``redis-server`` and ``cloud-agent serve`` processes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from websockets.asyncio.client import ClientConnection, connect

from signaling.live.node import HEARTBEAT_MS
from tests.cluster.nodes import Node, cluster

#: the nodes share a throwaway PostgreSQL database (tests/cluster/nodes.py)
pytestmark = pytest.mark.postgres


async def open_caller(node: Node) -> ClientConnection | None:
    """A caller socket on ``node``, or None when it was refused (``too_many_connections``
    and close 1013, nothing else)."""
    ws = await connect(f"{node.ws}/ws/caller")
    first = json.loads(await ws.recv())
    if first["type"] == "hello":
        return ws
    assert first["type"] == "error" and first["code"] == "too_many_connections", first
    await ws.wait_closed()
    assert ws.close_code == 1013
    return None


async def admitted_within(node: Node, seconds: float) -> ClientConnection:
    """Try every half second until ``node`` admits a caller socket."""
    async with asyncio.timeout(seconds):
        while (ws := await open_caller(node)) is None:
            await asyncio.sleep(0.5)
    return ws


async def test_open_caller_sockets_per_address_add_up_over_nodes(tmp_path: Path) -> None:
    async with cluster(tmp_path, ["a", "b"], max_caller_sockets_per_address="4",
                       new_sockets_per_minute="500") as (_, (a, b)):
        on_a = [await open_caller(a), await open_caller(a)]
        on_b = [await open_caller(b), await open_caller(b)]
        assert None not in on_a + on_b  # two on each node: four in all, the limit
        # Each node holds two (under the limit on its own), yet the fifth is refused on
        # either node.
        assert await open_caller(a) is None
        assert await open_caller(b) is None

        # One closes on a: a new one is admitted on b (the count goes down in the
        # background, so within a moment), and the cluster is full again.
        first = on_a.pop()
        assert first is not None
        await first.close()
        on_b.append(await admitted_within(b, 5))
        assert await open_caller(a) is None

        # b is killed with its three sockets: they stop counting once its heartbeat
        # expires, and a admits three more (one of its own is still open), not four.
        b.kill()
        assert b.process is not None
        await b.process.wait()
        on_a.append(await admitted_within(a, 2 * HEARTBEAT_MS / 1000 + 5))
        on_a.append(await open_caller(a))
        on_a.append(await open_caller(a))
        assert None not in on_a
        assert await open_caller(a) is None
        for ws in on_a:
            assert ws is not None
            await ws.close()
        # Closed on a, so admitted again on a.
        await (await admitted_within(a, 5)).close()


async def test_redis_away_each_node_counts_alone_and_back_the_counts_return(
        tmp_path: Path) -> None:
    async with cluster(tmp_path, ["a", "b"], max_caller_sockets_per_address="4",
                       new_sockets_per_minute="500") as (redis, (a, b)):
        on_a = [await open_caller(a), await open_caller(a)]
        on_b = [await open_caller(b)]
        assert None not in on_a + on_b

        # Redis away: a admits up to its own limit (a socket is never refused because
        # Redis is unreachable), and no further.
        await redis.stop()
        on_a += [await open_caller(a), await open_caller(a)]
        assert None not in on_a
        assert await open_caller(a) is None  # a's own count: 4

        # Redis back, empty: each node writes its count again whole, so the cluster
        # counts a's 4 and b's 1, and both refuse until enough sockets close.
        await redis.start()
        client = aioredis.from_url(redis.url)
        try:
            async with asyncio.timeout(30):
                while (await client.hget("ca:open:a", "127.0.0.1"),
                       await client.hget("ca:open:b", "127.0.0.1")) != (b"4", b"1"):
                    await asyncio.sleep(0.2)
        finally:
            await client.aclose()
        assert await open_caller(b) is None
        for ws in on_a[:2]:
            assert ws is not None
            await ws.close()
        # 2 on a and 1 on b now: one more is admitted, on b, and then no more.
        on_b.append(await admitted_within(b, 5))
        assert await open_caller(a) is None
        for ws in on_a[2:] + on_b:
            assert ws is not None
            await ws.close()
