"""MemoryLog: the single node's log applies inside append and ticks on the loop's clock."""

from __future__ import annotations

import asyncio

import pytest

from signaling.cluster.codec import event_entry
from signaling.cluster.engine_machine import EngineMachine
from signaling.cluster.machine import LogUnavailable
from signaling.cluster.memory import MemoryLog
from signaling.routing import events as ev
from signaling.routing.actions import OfferCall, OfferCancelled
from signaling.routing.model import RoutingConfig


async def test_append_applies_before_it_returns_and_ticks_fire_on_loop_time() -> None:
    machine = EngineMachine(RoutingConfig(ring_timeout=0.2, max_no_answer=100))
    log = MemoryLog(machine)
    await log.start()
    try:
        assert log.is_leader
        await log.append(event_entry(ev.AgentLogin("a1", {"tax": 1}, "d1")))
        await log.append(event_entry(ev.AgentSetReady("a1")))
        entry_id = await log.append(event_entry(ev.CallRequested("c1", "tax", partition="d1")))
        # Applied already: the offer is out, with no await in between.
        offer = [a for a in machine.delivered if isinstance(a, OfferCall)]
        assert [o.call_id for o in offer] == ["c1"]
        await log.applied(entry_id)
        loop = asyncio.get_running_loop()
        assert abs(machine.outcomes[-1][0] - loop.time()) < 1.0  # engine time = loop time
        for _ in range(500):  # the ring timeout fires by itself, ticked by the log
            if any(isinstance(a, OfferCancelled) for a in machine.delivered):
                break
            await asyncio.sleep(0.01)
        cancelled = [a for a in machine.delivered if isinstance(a, OfferCancelled)]
        assert cancelled and cancelled[0].reason == "timeout"
        assert cancelled_at(machine) >= offer[0].expires_at
    finally:
        await log.stop()
    with pytest.raises(LogUnavailable):
        await log.append(event_entry(ev.Tick()))


def cancelled_at(machine: EngineMachine) -> float:
    return next(now for now, _, actions in machine.outcomes
                if any(isinstance(a, OfferCancelled) for a in actions))


async def test_an_entry_the_machine_refuses_leaves_the_log_going() -> None:
    machine = EngineMachine()
    log = MemoryLog(machine, clock=lambda: 100.0)
    await log.start()
    try:
        await log.append(event_entry(ev.AgentSetReady("ghost")))  # unknown agent: refused
        await log.append({"kind": "hub_thing", "x": 1})  # not the engine's: passed over
        await log.append(event_entry(ev.AgentLogin("a1", {"tax": 1})))
        assert [code for _, code, _ in machine.outcomes] == ["unknown_agent", "ok"]
        assert machine.applied == 3
        assert machine.engine.agents["a1"].idle_since == 100.0
    finally:
        await log.stop()
