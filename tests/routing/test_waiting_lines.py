"""The waiting lines (call_index.py): the engine's waiting calls per queue, in service
order, without the ringing ones, read by dispatch and by the published positions."""

from __future__ import annotations

from signaling.routing import events as ev
from signaling.routing.actions import Action, OfferCall, PositionChanged
from signaling.routing.engine import Engine
from signaling.routing.model import CallStatus, RoutingConfig

SKILL = "tax"


def offers(actions: list[Action]) -> list[tuple[str, str]]:
    return [(a.agent_id, a.call_id) for a in actions if isinstance(a, OfferCall)]


def places(actions: list[Action]) -> dict[str, int]:
    return {a.call_id: a.position for a in actions if isinstance(a, PositionChanged)}


def test_a_call_nobody_may_take_yet_does_not_hold_up_an_older_one_of_lower_priority() -> None:
    engine = Engine(RoutingConfig(widen_to_all_levels_after=10, widen_to_partition_after=60,
                                  max_wait=1000))
    engine.handle(ev.AgentLogin("best", {SKILL: 1}), 0.0)  # staffed but away
    engine.handle(ev.AgentLogin("second", {SKILL: 2}), 0.0)
    engine.handle(ev.CallRequested("old", SKILL), 0.0)
    engine.handle(ev.CallRequested("urgent-1", SKILL, priority=1), 15.0)
    engine.handle(ev.CallRequested("urgent-2", SKILL, priority=1), 16.0)

    # Only the old call has waited long enough for the second level; the urgent ones
    # come first in the queue but the second-level agent may not take them yet.
    assert offers(engine.handle(ev.AgentSetReady("second"), 17.0)) == [("second", "old")]
    assert engine.violations(17.0) == []


def test_ringing_calls_keep_their_place_but_do_not_count_in_positions() -> None:
    engine = Engine(RoutingConfig(widen_to_all_levels_after=0, max_wait=1000))
    engine.handle(ev.AgentLogin("a", {SKILL: 1}), 0.0)
    for n in range(4):
        engine.handle(ev.CallRequested(f"c{n}", SKILL), float(n))
    rung = engine.handle(ev.AgentSetReady("a"), 5.0)
    assert offers(rung) == [("a", "c0")]
    assert places(rung) == {"c1": 1, "c2": 2, "c3": 3}

    back = engine.handle(ev.AgentReject("a", "c0"), 6.0)  # back to its place, at the head
    assert places(back) == {"c1": 2, "c2": 3, "c3": 4}  # c0 still knows it is first
    assert (engine.position_of("c0") or (0, 0))[0] == 1
    assert [c.id for c in engine.waiting_calls()] == ["c0", "c1", "c2", "c3"]
    assert engine.violations(6.0) == []


def test_a_caller_leaving_from_the_middle_moves_only_those_behind() -> None:
    engine = Engine()
    engine.handle(ev.AgentLogin("a", {SKILL: 1}), 0.0)
    for n in range(5):
        engine.handle(ev.CallRequested(f"c{n}", SKILL), 1.0)

    assert places(engine.handle(ev.CallerHangup("c2"), 2.0)) == {"c3": 3, "c4": 4}
    assert [(engine.position_of(f"c{n}") or (0, 0))[0] for n in (0, 1, 3, 4)] == [1, 2, 3, 4]


def test_a_resumed_caller_is_told_its_place_again() -> None:
    engine = Engine()
    engine.handle(ev.AgentLogin("a", {SKILL: 1}), 0.0)
    for n in range(3):
        engine.handle(ev.CallRequested(f"c{n}", SKILL), 1.0)
    assert places(engine.handle(ev.CallerDetached("c1"), 2.0)) == {}

    assert places(engine.handle(ev.CallerResumed("c1"), 3.0)) == {"c1": 2}


def test_a_status_changed_behind_the_engines_back_is_reported_and_a_rebuild_mends_it() -> None:
    engine = Engine()
    engine.handle(ev.AgentLogin("a", {SKILL: 1}), 0.0)
    engine.handle(ev.CallRequested("c", SKILL), 1.0)
    engine.calls["c"].status = CallStatus.CONNECTED  # not through an event

    assert any("waiting" in problem for problem in engine.violations(2.0))
    engine.calls["c"].status = CallStatus.WAITING
    engine._waiting = type(engine._waiting)()  # the lines lost, as after a restore
    assert engine.violations(2.0) != []
    engine._rebuild_indexes()
    assert engine.violations(2.0) == []
