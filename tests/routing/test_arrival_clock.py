"""The queue's clock starts when the request reached the server (``CallRequested.arrived_at``).

A request can spend time in look-ups before the engine sees it; the caller was waiting all
along, so waits, service level, speed of answer, widening, max_wait and the order of equal
priorities count from the arrival, never from the moment the event is handled.
"""

from __future__ import annotations

from signaling.routing import events as ev
from signaling.routing.actions import (
    Action,
    CallbackOffered,
    CallConnected,
    CallEnded,
    OfferCall,
    PositionChanged,
)
from signaling.routing.engine import Engine
from signaling.routing.model import RoutingConfig

SKILL = "tax"


def offers(actions: list[Action]) -> list[tuple[str, str]]:
    return [(a.agent_id, a.call_id) for a in actions if isinstance(a, OfferCall)]


def arrive(engine: Engine, call_id: str, arrived_at: float | None, now: float,
           priority: int = 0) -> list[Action]:
    return engine.handle(ev.CallRequested(call_id, SKILL, priority=priority,
                                          arrived_at=arrived_at), now)


def test_the_wait_and_service_level_count_the_time_before_the_engine_saw_the_request() -> None:
    engine = Engine(RoutingConfig(service_level_threshold=2.0))
    engine.handle(ev.AgentLogin("a", {SKILL: 1}), 0.0)
    engine.handle(ev.AgentSetReady("a"), 0.0)

    assert offers(arrive(engine, "c", arrived_at=7.5, now=10.0)) == [("a", "c")]
    connected = [a for a in engine.handle(ev.AgentAccept("a", "c"), 10.5)
                 if isinstance(a, CallConnected)]
    assert [c.waited for c in connected] == [3.0]
    ended = [a for a in engine.handle(ev.AgentHangup("a", "c"), 20.0)
             if isinstance(a, CallEnded)]
    assert [e.enqueued_at for e in ended] == [7.5]
    stats = next(s for s in engine.queue_stats(20.0) if s.skill == SKILL)
    assert (stats.service_level, stats.average_speed_of_answer) == (0.0, 3.0)


def test_an_abandon_counts_its_wait_from_the_arrival() -> None:
    engine = Engine()
    engine.handle(ev.AgentLogin("a", {SKILL: 1}), 0.0)  # staffed, not ready
    arrive(engine, "c", arrived_at=1.0, now=4.0)
    engine.handle(ev.CallerHangup("c"), 7.0)

    stats = next(s for s in engine.queue_stats(7.0) if s.skill == SKILL)
    assert (stats.abandoned, stats.abandoned_short, stats.average_abandon_wait) == (1, 0, 6.0)


def test_an_arrival_after_now_counts_as_now() -> None:
    engine = Engine()
    engine.handle(ev.AgentLogin("a", {SKILL: 1}), 0.0)
    arrive(engine, "late-stamp", arrived_at=12.0, now=10.0)
    arrive(engine, "no-stamp", arrived_at=None, now=10.0)

    assert [c.enqueued_at for c in engine.waiting_calls()] == [10.0, 10.0]


def test_equal_priorities_are_served_in_order_of_arrival_and_told_their_place() -> None:
    engine = Engine()
    engine.handle(ev.AgentLogin("a", {SKILL: 1}), 0.0)
    arrive(engine, "quick-lookup", arrived_at=5.0, now=5.1)
    moved = arrive(engine, "slow-lookup", arrived_at=4.0, now=6.0)
    arrive(engine, "urgent", arrived_at=6.5, now=6.5, priority=1)

    assert [c.id for c in engine.waiting_calls()] == ["urgent", "slow-lookup", "quick-lookup"]
    assert {(p.call_id, p.position) for p in moved if isinstance(p, PositionChanged)} == {
        ("slow-lookup", 1), ("quick-lookup", 2)}
    assert engine.position_of("quick-lookup") is not None
    assert engine.position_of("quick-lookup")[0] == 3  # type: ignore[index]
    assert offers(engine.handle(ev.AgentSetReady("a"), 7.0)) == [("a", "urgent")]


def test_widening_counts_from_the_arrival() -> None:
    engine = Engine(RoutingConfig(widen_to_all_levels_after=10, widen_to_partition_after=60))
    engine.handle(ev.AgentLogin("best", {SKILL: 1}), 0.0)  # staffed, away
    engine.handle(ev.AgentLogin("second", {SKILL: 2}), 0.0)
    engine.handle(ev.AgentSetReady("second"), 0.0)

    assert offers(arrive(engine, "soon", arrived_at=1.0, now=9.0)) == []
    assert engine.next_deadline() == 11.0
    assert offers(engine.handle(ev.Tick(), 11.0)) == [("second", "soon")]

    engine.handle(ev.AgentLogin("third", {SKILL: 2}), 12.0)
    engine.handle(ev.AgentSetReady("third"), 12.0)
    assert offers(arrive(engine, "already", arrived_at=0.0, now=12.0)) == [("third", "already")]


def test_max_wait_counts_from_the_arrival() -> None:
    engine = Engine(RoutingConfig(max_wait=30, widen_to_all_levels_after=0,
                                  widen_to_partition_after=1000))
    engine.handle(ev.AgentLogin("a", {SKILL: 1}), 0.0)

    arrive(engine, "c1", arrived_at=5.0, now=8.0)
    assert engine.next_deadline() == 35.0
    assert [a.call_id for a in engine.handle(ev.Tick(), 35.0)
            if isinstance(a, CallbackOffered)] == ["c1"]
    over = [a for a in arrive(engine, "c2", arrived_at=0.0, now=40.0)
            if isinstance(a, CallbackOffered)]
    assert [(a.call_id, a.reason) for a in over] == [("c2", "max_wait")]
    assert engine.violations(40.0) == []
