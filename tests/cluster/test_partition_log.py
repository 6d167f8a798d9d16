"""Partition logs on a real redis-server: nodes converge, snapshots let a node join late.

Each node has its own Redis connections and replica, in this process; what they share is
only the server, as separate processes would.
"""

from __future__ import annotations

import asyncio
import random

import pytest
import redis.asyncio as aioredis

from signaling.cluster.throwaway import RedisServer
from signaling.routing import events as ev
from signaling.routing.actions import CallConnected, CallEnded, OfferCancelled
from signaling.routing.model import RoutingConfig
from tests.cluster.logkit import (
    NS,
    PARTITION,
    Node,
    all_applied,
    eventually,
    log_nodes,
    read_log,
    replay,
    start_node,
    stop_node,
)

CONFIG = RoutingConfig(ring_timeout=0.3, wrap_up_time=0.2, reject_delay=0.1)


async def busy_floor(nodes: list[Node], calls: int, seed: int) -> str:
    """Agents and callers on different nodes, appending at the same time: logins, calls,
    accepts and rejects of whatever rings (read from each node's own replica), hang-ups.
    Returns the id of the last entry."""
    rng = random.Random(seed)
    for i in range(4):
        await nodes[i % len(nodes)].send(ev.AgentLogin(f"a{i}", {"tax": 1}, "d1"))
        await nodes[(i + 1) % len(nodes)].send(ev.AgentSetReady(f"a{i}"))

    async def caller(i: int) -> None:
        node = nodes[i % len(nodes)]
        await node.send(ev.CallRequested(f"c{i}", "tax", partition="d1"))
        await asyncio.sleep(rng.random() * 0.3)
        if rng.random() < 0.3:
            await node.send(ev.CallerHangup(f"c{i}"))

    async def agent(i: int) -> None:
        node = nodes[(i + 2) % len(nodes)]
        for _ in range(12):
            await asyncio.sleep(0.02 + rng.random() * 0.05)
            held = node.machine.engine.agents[f"a{i}"]
            if held.call_id is None:
                continue
            call = node.machine.engine.calls.get(held.call_id)
            if call is None:
                continue
            if call.status.value == "ringing":
                accept = rng.random() < 0.7
                await node.send((ev.AgentAccept if accept else ev.AgentReject)(
                    f"a{i}", call.id))
            elif call.status.value == "connected":
                await node.send(ev.AgentHangup(f"a{i}", call.id))

    await asyncio.gather(*(caller(i) for i in range(calls)), *(agent(i) for i in range(4)))
    return await nodes[0].send(ev.Tick())


@pytest.mark.parametrize("count", [2, 3])
async def test_nodes_on_separate_connections_converge_on_one_state(
        throwaway_redis: RedisServer, count: int) -> None:
    async with log_nodes(throwaway_redis.url, [f"n{i}" for i in range(count)],
                         CONFIG) as nodes:
        last = await busy_floor(nodes, calls=12, seed=count)
        await all_applied(nodes, last)
        # The leader may still append a tick (a ring timeout) while we look: compare the
        # nodes once they have applied the same entries (no await between the wait and
        # the comparisons, so nothing is applied in between).
        await eventually(lambda: len({len(n.machine.outcomes) for n in nodes}) == 1,
                         "nodes at the same entry")
        assert len({node.state() for node in nodes}) == 1
        assert all(n.machine.outcomes == nodes[0].machine.outcomes for n in nodes)
        assert nodes[0].machine.engine.violations(nodes[0].machine.outcomes[-1][0]) == []
        # What every node computed is what one engine computes from the log alone (the log
        # as read, which a later tick may have made longer than what a node has applied).
        log = await read_log(throwaway_redis.url)
        await eventually(lambda: len(nodes[0].machine.outcomes) >= len(log), "log applied")
        assert replay(CONFIG, log) == nodes[0].machine.outcomes[:len(log)]
        # The floor was busy: answers, timeouts (ticked by the leader) and ends happened.
        kinds = {type(a) for _, _, actions in nodes[0].machine.outcomes for a in actions}
        assert {CallConnected, CallEnded, OfferCancelled} <= kinds
        await eventually(lambda: sum(n.log.is_leader for n in nodes) == 1, "one leader")


async def test_a_node_joining_late_loads_the_snapshot_and_replays_the_trimmed_log(
        throwaway_redis: RedisServer) -> None:
    async with log_nodes(throwaway_redis.url, ["n0", "n1"], CONFIG,
                         snapshot_every=15) as nodes:
        last = await busy_floor(nodes, calls=10, seed=7)
        await all_applied(nodes, last)
        client = aioredis.from_url(throwaway_redis.url)
        try:
            await eventually(lambda: nodes[0].machine.applied > 0, "entries applied")
            snapshot_n = int(await client.hget(f"{NS}:snap:{PARTITION}", "n") or 0)
            length = await client.xlen(f"{NS}:log:{PARTITION}")
        finally:
            await client.aclose()
        assert snapshot_n >= 15
        assert length < nodes[0].machine.applied, "the stream was not trimmed"

        late = await start_node(throwaway_redis.url, "late", CONFIG)
        try:
            await all_applied([late], last)
            assert late.machine.resyncs == 1  # restored from the snapshot, not from entry 1
            assert late.state() == nodes[0].state()
            assert late.machine.delivered == []  # replay sends nothing
            # Live entries after the replay are delivered, and agree.
            after = await nodes[1].send(ev.AgentSetNotReady("a0", "lunch"))
            await all_applied([*nodes, late], after)
            assert late.machine.delivered
            assert late.state() == nodes[0].state() == nodes[1].state()
        finally:
            await stop_node(late)


async def test_a_consumer_left_behind_past_the_trim_reloads_instead_of_skipping(
        throwaway_redis: RedisServer) -> None:
    """A node that stopped reading while the leader snapshotted and trimmed twice finds a
    gap in the entry numbers when it reads on, and reloads rather than miss entries."""
    async with log_nodes(throwaway_redis.url, ["leader", "slow"], CONFIG,
                         snapshot_every=5) as (leader, slow):
        first = await leader.send(ev.AgentLogin("a1", {"tax": 1}, "d1"))
        await all_applied([leader, slow], first)
        for task in asyncio.all_tasks():
            if task.get_name() == f"log-follow {PARTITION}@slow":
                task.cancel()  # stuck: reads nothing for a while
        for i in range(40):
            await leader.send(ev.CallRequested(f"c{i}", "tax", partition="d1"))
            await leader.send(ev.CallerHangup(f"c{i}"))
        last = await leader.send(ev.Tick())
        await all_applied([leader], last)
        client = aioredis.from_url(throwaway_redis.url)
        try:
            first_n = int((await client.xrange(f"{NS}:log:{PARTITION}", count=1))[0][1][b"n"])
        finally:
            await client.aclose()
        assert first_n > slow.machine.applied + 1, "the trim did not pass the slow node"
        resyncs = slow.machine.resyncs
        slow.log._tasks.append(asyncio.create_task(slow.log._follow()))  # reads on
        await all_applied([slow], last)
        assert slow.machine.resyncs == resyncs + 1
        assert slow.state() == leader.state()
