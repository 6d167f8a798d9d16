"""Partition logs when things fail: the leader dies or hangs, Redis restarts, a clock is off.

Real redis-server, real processes: the dead leader is a ``signaling.cluster.holder``
process killed with SIGKILL. Waits are generous bounds on a shared machine, never speed
targets (those are in bench/takeover.py).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import pytest
import redis.asyncio as aioredis

from signaling.cluster.machine import LogUnavailable
from signaling.cluster.throwaway import RedisServer
from signaling.routing import events as ev
from signaling.routing.actions import OfferCall, OfferCancelled
from signaling.routing.model import RoutingConfig
from tests.cluster.conftest import MakeRedis
from tests.cluster.logkit import (
    NS,
    PARTITION,
    Node,
    all_applied,
    eventually,
    log_nodes,
    read_log,
    reasons,
)

CONFIG = RoutingConfig(ring_timeout=0.5, max_no_answer=100)


async def ring_once(node: Node, agent: str, call: str) -> None:
    """An agent ready and a call for it: the offer rings until the leader's tick times it
    out (nobody answers)."""
    await node.send(ev.AgentLogin(agent, {"tax": 1}, "d1"))
    await node.send(ev.AgentSetReady(agent))
    await node.send(ev.CallRequested(call, "tax", partition="d1"))


def timeouts(node: Node) -> int:
    return sum(1 for a in reasons(node, OfferCancelled) if a.reason == "timeout")


async def test_a_killed_leader_is_replaced_and_ticks_go_on(
        throwaway_redis: RedisServer) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-m", "signaling.cluster.holder", throwaway_redis.url, NS,
         PARTITION, "doomed"], stdout=subprocess.PIPE, text=True)
    try:
        async with asyncio.timeout(30):
            ready = await asyncio.to_thread(holder.stdout.readline)  # type: ignore[union-attr]
            leader = await asyncio.to_thread(holder.stdout.readline)  # type: ignore[union-attr]
        assert ready.strip() == "ready" and leader.split()[0] == "leader"
        async with log_nodes(throwaway_redis.url, ["survivor"], CONFIG,
                             first_leads=False) as (node,):
            assert not node.log.is_leader
            holder.kill()  # SIGKILL: the lease is left to expire
            await eventually(lambda: node.log.is_leader, "the survivor takes the lease")
            await ring_once(node, "a1", "c1")
            await eventually(lambda: timeouts(node) >= 2, "the new leader ticks timeouts")
            client = aioredis.from_url(throwaway_redis.url)
            try:
                assert await client.get(f"{NS}:lease:{PARTITION}") == b"survivor"
            finally:
                await client.aclose()
    finally:
        holder.kill()
        holder.wait(10)


async def test_a_leader_whose_renewals_stop_loses_the_lease_to_another(
        throwaway_redis: RedisServer) -> None:
    async with log_nodes(throwaway_redis.url, ["hung", "standby"], CONFIG) as nodes:
        hung, standby = nodes
        assert hung.log.is_leader and not standby.log.is_leader
        for task in asyncio.all_tasks():
            if task.get_name() == f"log-lease {PARTITION}@hung":
                task.cancel()  # the process lives on but renews nothing (a stuck loop)
        await eventually(lambda: standby.log.is_leader, "the standby takes over")
        assert not hung.log.is_leader  # it knows by its own clock, without asking Redis
        assert hung.leadership[0] and not hung.leadership[-1]
        await ring_once(standby, "a1", "c1")
        await eventually(lambda: timeouts(standby) >= 2, "ticks go on from the standby")
        last = await standby.send(ev.Tick())
        await all_applied(nodes, last)
        assert hung.state() == standby.state()  # the hung node still follows


@pytest.mark.parametrize("persistent", [False, True], ids=["data-lost", "data-kept"])
async def test_logs_resync_after_redis_restarts(make_redis: MakeRedis,
                                                persistent: bool) -> None:
    server = make_redis(persistent=persistent)
    async with log_nodes(server.url, ["n0", "n1"], CONFIG) as nodes:
        await nodes[1].send(ev.AgentLogin("a1", {"tax": 1}, "d1"))
        await nodes[0].send(ev.CallRequested("c1", "tax", partition="d1"))
        last = await nodes[1].send(ev.AgentLogin("a2", {"tax": 2}, "d1"))
        await all_applied(nodes, last)
        before = nodes[0].state()
        epoch_before = nodes[0].log._epoch

        server.stop()
        with pytest.raises(LogUnavailable):
            await nodes[0].send(ev.AgentSetReady("a1"))
        await eventually(lambda: not nodes[1].log.available, "n1 notices the outage")
        with pytest.raises(LogUnavailable):  # refused at once while down
            await nodes[1].send(ev.AgentSetReady("a1"))
        await asyncio.to_thread(server.start)

        await eventually(lambda: all(n.log.available for n in nodes), "both resync")
        assert nodes[0].state() == nodes[1].state() == before
        assert (nodes[0].log._epoch == epoch_before) is persistent
        assert nodes[0].log._epoch == nodes[1].log._epoch
        # The log works again: appends from both nodes, ticks from a leader.
        await eventually(lambda: any(n.log.is_leader for n in nodes), "a leader again")
        await nodes[1].send(ev.AgentSetReady("a1"))
        await eventually(lambda: timeouts(nodes[0]) >= 1, "ticks after the restart")
        last = await nodes[0].send(ev.Tick())
        await all_applied(nodes, last)
        assert nodes[0].state() == nodes[1].state()
        assert nodes[0].machine.outcomes[-3:] == nodes[1].machine.outcomes[-3:]


@pytest.mark.parametrize("offset", [5.0, -5.0], ids=["ahead", "behind"])
async def test_a_leader_with_a_skewed_clock_ticks_on_redis_time(
        throwaway_redis: RedisServer, offset: float) -> None:
    """The leader's clock is off by 5 s: ring timeouts still fire on time (not 5 s late),
    and not by a storm of early ticks (one tick each)."""
    clocks = {"skewed": lambda: time.time() + offset}
    async with log_nodes(throwaway_redis.url, ["skewed", "plain"], CONFIG,
                         clocks=clocks) as nodes:
        skewed, plain = nodes
        assert skewed.log.is_leader
        await ring_once(plain, "a1", "c1")
        await eventually(lambda: timeouts(plain) >= 3, "three ring timeouts")
        log = await read_log(throwaway_redis.url)
        outcomes = plain.machine.outcomes
        rung = [(now, a.expires_at) for now, _, actions in outcomes for a in actions
                if isinstance(a, OfferCall)]
        fired = [now for now, _, actions in outcomes
                 if any(isinstance(a, OfferCancelled) for a in actions)]
        for (_, expires_at), fired_at in zip(rung, fired, strict=False):
            assert expires_at <= fired_at < expires_at + abs(offset) / 2
        ticks = sum(1 for _, entry in log if entry["event"]["type"] == "Tick")
        assert ticks <= len(fired) + 2, f"{ticks} ticks for {len(fired)} timeouts"
