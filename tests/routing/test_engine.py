"""The routing rules, one at a time: feed events at explicit times, check the actions.

Plain synchronous tests in the sans-I/O style (h11): no server, no clock, no sleeps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TypeVar

import pytest

from signaling.routing import events as ev
from signaling.routing.actions import (
    Action,
    AgentStateChanged,
    CallbackOffered,
    CallConnected,
    CallEnded,
    CallQueued,
    CallRequeued,
    CallRinging,
    OfferCall,
    OfferCancelled,
    PositionChanged,
)
from signaling.routing.engine import Engine
from signaling.routing.model import (
    AgentState,
    CallStatus,
    Disposition,
    Origin,
    RoutingConfig,
    RoutingError,
)

ActionT = TypeVar("ActionT")

SKILL = "tax"
QUIET = RoutingConfig(widen_to_all_levels_after=0, widen_to_partition_after=1000,
                      max_wait=1000)
"""No tier or max-wait timers due soon, so next_deadline() shows the timer under test."""


# ---------------------------------------------------------------------------- helpers


def of(kind: type[ActionT], actions: Iterable[Action]) -> list[ActionT]:
    """The actions of one kind, in order."""
    return [action for action in actions if isinstance(action, kind)]


def offers(actions: Iterable[Action]) -> list[tuple[str, str]]:
    """(agent, call) of every OfferCall, in order."""
    return [(offer.agent_id, offer.call_id) for offer in of(OfferCall, actions)]


def login(engine: Engine, agent_id: str, skills: dict[str, int], now: float, *,
          ready: bool = True, partition: str = "default",
          auto_answer: bool = False) -> list[Action]:
    """Log an agent in and, unless told otherwise, make it ready at the same moment."""
    actions = engine.handle(ev.AgentLogin(agent_id, skills, partition, auto_answer), now)
    if ready:
        actions += engine.handle(ev.AgentSetReady(agent_id), now)
    return actions


def request(engine: Engine, call_id: str, now: float, *, skill: str = SKILL,
            priority: int = 0, target_agent_id: str | None = None) -> list[Action]:
    return engine.handle(ev.CallRequested(call_id, skill, priority=priority,
                                          target_agent_id=target_agent_id), now)


def state(engine: Engine, agent_id: str) -> AgentState:
    return engine.agents[agent_id].state


def tick(engine: Engine, now: float) -> list[Action]:
    return engine.handle(ev.Tick(), now)


def run_clock(engine: Engine, until: float) -> list[Action]:
    """Tick at every deadline up to ``until`` (as the hub's timer does); all actions."""
    actions: list[Action] = []
    while (deadline := engine.next_deadline()) is not None and deadline <= until:
        actions += tick(engine, deadline)
    return actions + tick(engine, until)


def serve(engine: Engine, agent_id: str, call_id: str, now: float) -> list[Action]:
    """Accept, hang up and end wrap-up at once, leaving the agent ready for the next call."""
    actions = engine.handle(ev.AgentAccept(agent_id, call_id), now)
    actions += engine.handle(ev.AgentHangup(agent_id, call_id), now)
    actions += engine.handle(ev.AgentEndWrapUp(agent_id), now)
    return actions


def snapshot(engine: Engine, now: float) -> tuple[str, str, str, str, str, float | None]:
    """Everything observable, as text, so in-place changes are seen too."""
    return (repr(engine.agent_stats()), repr(engine.agents), repr(engine.waiting_calls()),
            repr(engine.calls), repr(engine.queue_stats(now)), engine.next_deadline())


# ---------------------------------------------------------------------------- picking


def test_longest_idle_agent_of_the_best_level_gets_the_call() -> None:
    engine = Engine()
    login(engine, "x2", {SKILL: 2}, now=0)  # idle longest, but a worse level
    login(engine, "a1", {SKILL: 1}, now=1, ready=False)
    login(engine, "b1", {SKILL: 1}, now=1, ready=False)
    engine.handle(ev.AgentSetReady("b1"), 2)
    engine.handle(ev.AgentSetReady("a1"), 5)

    assert offers(request(engine, "c1", 10)) == [("b1", "c1")]
    assert offers(request(engine, "c2", 11)) == [("a1", "c2")]


@pytest.mark.parametrize("away_as", ["busy", "ringing", "not_ready", "wrap_up"])
def test_level_two_agent_waits_while_a_level_one_agent_is_logged_in(away_as: str) -> None:
    engine = Engine(RoutingConfig(widen_to_all_levels_after=10, wrap_up_time=1000))
    login(engine, "a1", {SKILL: 1}, now=0, ready=away_as != "not_ready")
    if away_as != "not_ready":
        assert offers(request(engine, "first", 0)) == [("a1", "first")]
        if away_as in ("busy", "wrap_up"):
            engine.handle(ev.AgentAccept("a1", "first"), 1)
        if away_as == "wrap_up":
            engine.handle(ev.AgentHangup("a1", "first"), 1)
    login(engine, "a2", {SKILL: 2}, now=1)

    assert offers(request(engine, "c", 2)) == []
    assert offers(tick(engine, 11.9)) == []
    assert engine.next_deadline() == 12
    assert offers(tick(engine, 12)) == [("a2", "c")]


def test_agent_without_the_skill_is_offered_only_after_widen_to_partition_after() -> None:
    engine = Engine(RoutingConfig(widen_to_all_levels_after=10, widen_to_partition_after=60))
    login(engine, "holder", {SKILL: 1}, now=0, ready=False)
    login(engine, "generalist", {"water": 1}, now=0)
    login(engine, "other-district", {SKILL: 1}, now=0, partition="north")

    actions = request(engine, "c", 0)
    actions += run_clock(engine, until=59.9)
    assert offers(actions) == []
    assert engine.next_deadline() == 60
    assert offers(tick(engine, 60)) == [("generalist", "c")]


def test_tier_is_skipped_at_once_when_no_level_one_agent_is_logged_in() -> None:
    engine = Engine(RoutingConfig(widen_to_all_levels_after=10))
    login(engine, "x3", {SKILL: 3}, now=0)
    login(engine, "a1", {SKILL: 1}, now=0)
    engine.handle(ev.AgentLogout("a1"), 1)
    login(engine, "a2", {SKILL: 2}, now=1)

    assert offers(request(engine, "c", 2)) == [("a2", "c")]


# ---------------------------------------------------------------------------- ordering


def test_higher_priority_first_then_first_come_first_served() -> None:
    engine = Engine(RoutingConfig(wrap_up_time=0))
    login(engine, "a", {SKILL: 1}, now=0, ready=False)
    for t, (call_id, priority) in enumerate(
            [("p0-first", 0), ("p1-first", 1), ("p0-second", 0), ("p1-second", 1),
             ("p2", 2)], start=1):
        request(engine, call_id, t, priority=priority)
    expected = ["p2", "p1-first", "p1-second", "p0-first", "p0-second"]
    assert [engine.position_of(c) for c in expected] == [
        (1, 90), (2, 270), (3, 450), (4, 630), (5, 810)]

    served: list[str] = []
    actions = engine.handle(ev.AgentSetReady("a"), 10)
    for t in range(11, 16):
        [(_, call_id)] = offers(actions)
        served.append(call_id)
        actions = serve(engine, "a", call_id, t)
    assert served == expected


# ---------------------------------------------------------------------------- no answer


def test_ring_timeout_reoffers_at_once_to_the_next_agent() -> None:
    """Even with no no-answer delay the agent who just missed is not rung again first."""
    engine = Engine(replace(QUIET, ring_timeout=15, no_answer_delay=0))
    login(engine, "a1", {SKILL: 1}, now=0)
    login(engine, "a2", {SKILL: 1}, now=5)
    [offer] = of(OfferCall, request(engine, "c", 10))
    assert (offer.agent_id, offer.expires_at) == ("a1", 25)
    assert engine.next_deadline() == 25
    assert tick(engine, 24.9) == []

    actions = tick(engine, 25)
    assert of(OfferCancelled, actions) == [OfferCancelled("a1", "c", "timeout")]
    assert of(CallRequeued, actions) == [CallRequeued("c", "timeout")]
    assert offers(actions) == [("a2", "c")]
    assert engine.agent_stats()[0].missed == 1


def test_timed_out_caller_keeps_its_place_ahead_of_later_callers() -> None:
    engine = Engine(RoutingConfig(ring_timeout=15, no_answer_delay=5))
    login(engine, "a1", {SKILL: 1}, now=0)
    login(engine, "a2", {SKILL: 1}, now=0, ready=False)
    assert offers(request(engine, "c1", 0)) == [("a1", "c1")]
    request(engine, "c2", 1)
    request(engine, "c3", 2)
    assert engine.position_of("c2") == (1, 45)

    actions = tick(engine, 15)
    assert offers(actions) == []  # a1 sits out its no-answer delay, a2 is away
    assert {(p.call_id, p.position) for p in of(PositionChanged, actions)} == {
        ("c1", 1), ("c2", 2), ("c3", 3)}
    assert offers(engine.handle(ev.AgentSetReady("a2"), 16)) == [("a2", "c1")]


def test_max_no_answer_sets_agent_not_ready_missed_and_never_back_to_ready() -> None:
    engine = Engine(RoutingConfig(ring_timeout=15, max_no_answer=2))
    login(engine, "a", {SKILL: 1}, now=0)
    login(engine, "b", {SKILL: 1}, now=0, ready=False)
    assert offers(request(engine, "c", 0)) == [("a", "c")]
    assert offers(tick(engine, 15)) == [("a", "c")]  # first miss: still ready

    actions = tick(engine, 30)
    assert offers(actions) == []
    assert of(AgentStateChanged, actions)[-1] == AgentStateChanged(
        "a", AgentState.NOT_READY, "missed", False)
    assert engine.agent_stats()[0].reason == "missed"

    later = run_clock(engine, until=400)
    later += engine.handle(ev.AgentLogin("a", {SKILL: 1}), 401)  # console reconnects
    later += request(engine, "c2", 402)
    later += engine.handle(ev.AgentLogout("b"), 403)
    later += run_clock(engine, until=1000)
    assert offers(later) == []
    assert [s for s in of(AgentStateChanged, later) if s.agent_id == "a"
            and s.state is not AgentState.NOT_READY] == []
    assert state(engine, "a") is AgentState.NOT_READY
    assert engine.agent_stats()[0].missed == 2

    assert offers(engine.handle(ev.AgentSetReady("a"), 1001)) == [("a", "c")]


# ---------------------------------------------------------------------------- reject


def test_reject_reoffers_at_once_and_rejecter_waits_out_reject_delay() -> None:
    engine = Engine(RoutingConfig(reject_delay=5))
    login(engine, "a1", {SKILL: 1}, now=0)
    login(engine, "a2", {SKILL: 1}, now=1)
    assert offers(request(engine, "c", 2)) == [("a1", "c")]

    actions = engine.handle(ev.AgentReject("a1", "c"), 3)
    assert of(OfferCancelled, actions) == [OfferCancelled("a1", "c", "rejected")]
    assert offers(actions) == [("a2", "c")]

    assert offers(engine.handle(ev.AgentReject("a2", "c"), 4)) == []
    assert engine.next_deadline() == 8
    assert offers(tick(engine, 7.9)) == []
    assert offers(tick(engine, 8)) == [("a1", "c")]
    assert [s.rejected for s in engine.agent_stats()] == [1, 1]


# ---------------------------------------------------------------------------- answering


def test_auto_answer_connects_in_the_same_handle_call() -> None:
    engine = Engine()
    login(engine, "a", {SKILL: 1}, now=0, auto_answer=True)

    actions = request(engine, "c", 3)
    assert [type(a) for a in actions[:6]] == [
        CallQueued, OfferCall, CallRinging, AgentStateChanged, CallConnected, AgentStateChanged]
    assert of(OfferCall, actions)[0].auto_answer is True
    assert of(CallConnected, actions) == [CallConnected("c", "a", 0)]
    assert state(engine, "a") is AgentState.BUSY
    assert engine.calls["c"].status is CallStatus.CONNECTED


def test_auto_answer_can_be_switched_on_by_the_agent() -> None:
    engine = Engine()
    login(engine, "a", {SKILL: 1}, now=0)
    engine.handle(ev.AgentSetAutoAnswer("a", True), 1)
    assert of(CallConnected, request(engine, "c", 2)) == [CallConnected("c", "a", 0)]


# ---------------------------------------------------------------------------- wrap-up


WRAP_UP_30 = replace(QUIET, wrap_up_time=30, ring_timeout=100)


def _in_wrap_up(config: RoutingConfig) -> Engine:
    """Agent "a" hung up c1 at 40 and is in wrap-up; c2 has been waiting since 5."""
    engine = Engine(config)
    login(engine, "a", {SKILL: 1}, now=0)
    request(engine, "c1", 0)
    engine.handle(ev.AgentAccept("a", "c1"), 1)
    request(engine, "c2", 5)
    actions = engine.handle(ev.AgentHangup("a", "c1"), 40)
    assert of(CallEnded, actions)[0].reason == "agent_hangup"
    assert state(engine, "a") is AgentState.WRAP_UP
    return engine


def test_wrap_up_timer_ends_and_agent_is_ready_for_the_next_call() -> None:
    engine = _in_wrap_up(WRAP_UP_30)
    assert engine.next_deadline() == 70
    assert offers(tick(engine, 69.9)) == []
    actions = tick(engine, 70)
    assert AgentStateChanged("a", AgentState.READY, None, False) in actions
    assert offers(actions) == [("a", "c2")]


def test_agent_can_end_wrap_up_early() -> None:
    engine = _in_wrap_up(WRAP_UP_30)
    assert offers(engine.handle(ev.AgentEndWrapUp("a"), 50)) == [("a", "c2")]
    assert offers(tick(engine, 70)) == []


def test_wrap_up_time_zero_lasts_until_the_agent_ends_it() -> None:
    engine = _in_wrap_up(RoutingConfig(wrap_up_time=0))
    assert offers(run_clock(engine, until=10_000)) == []
    assert state(engine, "a") is AgentState.WRAP_UP
    assert offers(engine.handle(ev.AgentEndWrapUp("a"), 10_001)) == [("a", "c2")]


@pytest.mark.parametrize("chosen_during", ["call", "wrap_up"])
def test_not_ready_chosen_by_the_agent_survives_wrap_up(chosen_during: str) -> None:
    engine = Engine(RoutingConfig(wrap_up_time=30))
    login(engine, "a", {SKILL: 1}, now=0)
    request(engine, "c1", 0)
    engine.handle(ev.AgentAccept("a", "c1"), 1)
    request(engine, "c2", 5)
    if chosen_during == "call":
        engine.handle(ev.AgentSetNotReady("a", "lunch"), 20)
        assert state(engine, "a") is AgentState.BUSY
    engine.handle(ev.AgentHangup("a", "c1"), 40)
    if chosen_during == "wrap_up":
        engine.handle(ev.AgentSetNotReady("a", "lunch"), 45)

    actions = run_clock(engine, until=500)
    assert offers(actions) == []
    assert state(engine, "a") is AgentState.NOT_READY
    assert engine.agents["a"].not_ready_reason == "lunch"


# ---------------------------------------------------------------------------- callers


def test_caller_hangup_while_ringing_cancels_the_offer_at_once_and_frees_the_agent() -> None:
    engine = Engine()
    login(engine, "a", {SKILL: 1}, now=0)
    request(engine, "c1", 1)
    request(engine, "c2", 2)

    actions = engine.handle(ev.CallerHangup("c1"), 3)
    assert of(OfferCancelled, actions) == [OfferCancelled("a", "c1", "caller_abandoned")]
    assert of(CallRequeued, actions) == []
    [ended] = of(CallEnded, actions)
    assert (ended.call_id, ended.agent_id, ended.disposition) == (
        "c1", None, Disposition.ABANDONED)
    assert offers(actions) == [("a", "c2")]
    assert "c1" not in engine.calls


def test_detached_waiting_caller_keeps_its_place_and_resume_gets_it_back() -> None:
    engine = Engine(RoutingConfig(resume_grace=30))
    login(engine, "a", {SKILL: 1}, now=0, ready=False)
    request(engine, "c1", 0)
    request(engine, "c2", 1)

    actions = engine.handle(ev.CallerDetached("c1"), 5)
    assert of(CallEnded, actions) == [] and of(PositionChanged, actions) == []
    assert [c.id for c in engine.waiting_calls()] == ["c1", "c2"]

    actions = engine.handle(ev.CallerResumed("c1"), 20)
    assert of(PositionChanged, actions) == [PositionChanged("c1", 1, 90)]
    assert offers(engine.handle(ev.AgentSetReady("a"), 21)) == [("a", "c1")]
    assert offers(tick(engine, 35)) == []  # the grace timer died with the resume


def test_detached_caller_is_not_offered_while_away_but_is_not_overtaken_for_good() -> None:
    engine = Engine(RoutingConfig(resume_grace=30))
    login(engine, "a", {SKILL: 1}, now=0, ready=False)
    login(engine, "b", {SKILL: 1}, now=0, ready=False)
    request(engine, "c1", 0)
    request(engine, "c2", 1)
    request(engine, "c3", 2)
    engine.handle(ev.CallerDetached("c1"), 5)

    assert offers(engine.handle(ev.AgentSetReady("a"), 10)) == [("a", "c2")]
    engine.handle(ev.CallerResumed("c1"), 11)
    assert offers(engine.handle(ev.AgentSetReady("b"), 12)) == [("b", "c1")]


def test_detached_waiting_caller_is_abandoned_when_the_grace_expires() -> None:
    engine = Engine(replace(QUIET, resume_grace=30))
    login(engine, "a", {SKILL: 1}, now=0, ready=False)
    request(engine, "c1", 0)
    request(engine, "c2", 1)
    engine.handle(ev.CallerDetached("c1"), 5)

    assert engine.next_deadline() == 35
    assert tick(engine, 34.9) == []
    actions = tick(engine, 35)
    [ended] = of(CallEnded, actions)
    assert (ended.call_id, ended.agent_id, ended.reason, ended.disposition) == (
        "c1", None, "caller_lost", Disposition.ABANDONED)
    assert of(PositionChanged, actions) == [PositionChanged("c2", 1, 90)]


def _connected(config: RoutingConfig) -> Engine:
    engine = Engine(config)
    login(engine, "a", {SKILL: 1}, now=0)
    request(engine, "c", 0)
    engine.handle(ev.AgentAccept("a", "c"), 1)
    return engine


def test_detach_while_connected_then_resume_keeps_the_call() -> None:
    engine = _connected(RoutingConfig(resume_grace=30))
    assert engine.handle(ev.CallerDetached("c"), 5) == []
    engine.handle(ev.CallerResumed("c"), 20)

    assert of(CallEnded, run_clock(engine, until=500)) == []
    assert engine.calls["c"].status is CallStatus.CONNECTED
    assert state(engine, "a") is AgentState.BUSY


def test_detach_while_connected_ends_the_call_as_caller_lost_when_grace_expires() -> None:
    engine = _connected(RoutingConfig(resume_grace=30))
    engine.handle(ev.CallerDetached("c"), 5)
    assert engine.next_deadline() == 35

    [ended] = of(CallEnded, tick(engine, 35))
    assert (ended.agent_id, ended.reason, ended.disposition) == (
        "a", "caller_lost", Disposition.COMPLETED)
    assert state(engine, "a") is AgentState.WRAP_UP


# ---------------------------------------------------------------------------- callbacks


def test_callback_offered_at_enqueue_when_nobody_with_the_skill_is_logged_in() -> None:
    engine = Engine()
    login(engine, "water-agent", {"water": 1}, now=0)
    actions = request(engine, "c", 1)
    assert of(CallbackOffered, actions) == [CallbackOffered("c", "no_agents")]
    assert [c.id for c in engine.waiting_calls()] == ["c"]  # the caller may still wait


def test_callback_offered_after_max_wait_once() -> None:
    engine = Engine(RoutingConfig(max_wait=120))
    login(engine, "a", {SKILL: 1}, now=0, ready=False)
    assert of(CallbackOffered, request(engine, "c", 0)) == []
    assert of(CallbackOffered, run_clock(engine, until=119.9)) == []
    assert of(CallbackOffered, tick(engine, 120)) == [CallbackOffered("c", "max_wait")]
    assert of(CallbackOffered, run_clock(engine, until=1000)) == []


def test_callback_offered_when_the_last_staffed_agent_logs_out() -> None:
    engine = Engine()
    login(engine, "a1", {SKILL: 1}, now=0, ready=False)
    login(engine, "a2", {SKILL: 2, "water": 1}, now=0, ready=False)
    request(engine, "c", 0)
    assert of(CallbackOffered, engine.handle(ev.AgentLogout("a1"), 1)) == []
    assert of(CallbackOffered, engine.handle(ev.AgentLogout("a2"), 2)) == [
        CallbackOffered("c", "no_agents")]


@pytest.mark.parametrize("refresh", [
    ev.AgentLogin("a", {"water": 1}),
    ev.AgentLogin("a", {SKILL: 1}, partition="north"),
], ids=["skill-removed", "partition-changed"])
def test_callback_offered_when_a_login_refresh_leaves_the_queue_unstaffed(
        refresh: ev.AgentLogin) -> None:
    engine = Engine()
    login(engine, "a", {SKILL: 1}, now=0, ready=False)
    request(engine, "c", 1)
    assert of(CallbackOffered, engine.handle(refresh, 2)) == [
        CallbackOffered("c", "no_agents")]


def test_accepted_callback_ends_the_call_and_is_not_an_abandon() -> None:
    engine = Engine()
    login(engine, "a", {SKILL: 1}, now=0, ready=False)
    request(engine, "c", 0)

    [ended] = of(CallEnded, engine.handle(ev.CallbackAccepted("c"), 30))
    assert (ended.agent_id, ended.reason, ended.disposition) == (
        None, "callback", Disposition.CALLBACK)
    [stats] = engine.queue_stats(31)
    assert (stats.entered, stats.callbacks, stats.abandoned, stats.abandoned_short) == (
        1, 1, 0, 0)
    assert stats.abandonment_rate == 0.0
    assert stats.waiting == 0


def test_callback_accepted_while_ringing_stops_the_ring() -> None:
    engine = Engine()
    login(engine, "a", {SKILL: 1}, now=0)
    request(engine, "c", 0)
    actions = engine.handle(ev.CallbackAccepted("c"), 3)
    assert of(OfferCancelled, actions) == [OfferCancelled("a", "c", "callback")]
    assert of(CallEnded, actions)[0].disposition is Disposition.CALLBACK
    assert state(engine, "a") is AgentState.READY


# ---------------------------------------------------------------------------- positions


def test_position_and_estimate_published_only_when_they_change() -> None:
    engine = Engine(RoutingConfig(default_handle_time=180))
    login(engine, "a", {SKILL: 1}, now=0, ready=False)

    assert of(PositionChanged, request(engine, "c1", 0)) == [PositionChanged("c1", 1, 90)]
    assert of(PositionChanged, request(engine, "c2", 1)) == [PositionChanged("c2", 2, 270)]
    assert of(PositionChanged, tick(engine, 2)) == []
    assert of(PositionChanged, login(engine, "b", {SKILL: 1}, now=3, ready=False)) == [
        PositionChanged("c1", 1, 45), PositionChanged("c2", 2, 135)]
    assert of(PositionChanged, engine.handle(ev.CallerHangup("c1"), 4)) == [
        PositionChanged("c2", 1, 45)]
    assert of(PositionChanged, engine.handle(ev.AgentSetNotReady("a", "break"), 5)) == []
    assert engine.position_of("c2") == (1, 45)


# ---------------------------------------------------------------------------- invites


def test_invite_call_goes_only_to_its_agent() -> None:
    engine = Engine(RoutingConfig(wrap_up_time=0))
    login(engine, "a1", {SKILL: 1}, now=0)
    login(engine, "a2", {SKILL: 1}, now=1)
    assert offers(request(engine, "invite1", 2, target_agent_id="a2")) == [("a2", "invite1")]
    engine.handle(ev.AgentAccept("a2", "invite1"), 3)

    actions = request(engine, "invite2", 4, target_agent_id="a2")
    actions += run_clock(engine, until=500)
    assert offers(actions) == []
    assert offers(request(engine, "ordinary", 501)) == [("a1", "ordinary")]

    engine.handle(ev.AgentHangup("a2", "invite1"), 502)
    assert offers(engine.handle(ev.AgentEndWrapUp("a2"), 503)) == [("a2", "invite2")]


def test_invite_to_an_agent_now_in_another_partition_does_not_wait_silently() -> None:
    engine = Engine()
    login(engine, "a", {SKILL: 1}, now=0, partition="north")
    actions = engine.handle(ev.CallRequested("c", SKILL, Origin.INVITE, "default",
                                             target_agent_id="a"), 1)
    assert offers(actions) == [("a", "c")] or of(CallbackOffered, actions) == [
        CallbackOffered("c", "no_agents")]


# ---------------------------------------------------------------------------- logout


def test_agent_logout_while_ringing_reoffers_the_call() -> None:
    engine = Engine()
    login(engine, "a1", {SKILL: 1}, now=0)
    login(engine, "a2", {SKILL: 1}, now=1)
    assert offers(request(engine, "c", 2)) == [("a1", "c")]

    actions = engine.handle(ev.AgentLogout("a1"), 3)
    assert of(OfferCancelled, actions) == [OfferCancelled("a1", "c", "agent_offline")]
    assert offers(actions) == [("a2", "c")]
    assert state(engine, "a1") is AgentState.OFFLINE


def test_agent_logout_while_busy_ends_the_call_as_agent_lost() -> None:
    engine = _connected(RoutingConfig())
    actions = engine.handle(ev.AgentLogout("a"), 10)
    [ended] = of(CallEnded, actions)
    assert (ended.call_id, ended.agent_id, ended.reason) == ("c", "a", "agent_lost")
    assert state(engine, "a") is AgentState.OFFLINE
    assert engine.calls == {}


# ---------------------------------------------------------------------------- illegal events


def _busy_floor() -> Engine:
    """a1 talks on c1, c2 rings at a2, c3 waits (a3 away), a4 wraps up, "gone" logged out,
    c0 has ended."""
    engine = Engine(RoutingConfig(wrap_up_time=30))
    request(engine, "c0", 0)
    engine.handle(ev.CallerHangup("c0"), 0)
    login(engine, "gone", {SKILL: 1}, now=0, ready=False)
    engine.handle(ev.AgentLogout("gone"), 0)
    login(engine, "a1", {SKILL: 1}, now=0)
    request(engine, "c1", 1)
    engine.handle(ev.AgentAccept("a1", "c1"), 2)
    login(engine, "a2", {SKILL: 1}, now=3)
    request(engine, "c2", 4)
    login(engine, "a4", {SKILL: 1}, now=5)
    request(engine, "c4", 5)
    engine.handle(ev.AgentAccept("a4", "c4"), 6)
    engine.handle(ev.AgentHangup("a4", "c4"), 7)
    login(engine, "a3", {SKILL: 1}, now=8, ready=False)
    request(engine, "c3", 9)
    assert [state(engine, a) for a in ("a1", "a2", "a3", "a4", "gone")] == [
        AgentState.BUSY, AgentState.RESERVED, AgentState.NOT_READY, AgentState.WRAP_UP,
        AgentState.OFFLINE]
    return engine


@pytest.mark.parametrize(("event", "code"), [
    (ev.AgentAccept("a1", "c2"), "not_offered"),
    (ev.AgentAccept("a2", "c1"), "not_offered"),
    (ev.AgentAccept("a3", "c3"), "not_offered"),
    (ev.AgentReject("a3", "c2"), "not_offered"),
    (ev.AgentHangup("a2", "c1"), "not_in_call"),
    (ev.AgentHangup("a2", "c2"), "not_in_call"),
    (ev.AgentHangup("a1", "c3"), "not_in_call"),
    (ev.AgentHangup("a1", "c0"), "unknown_call"),
    (ev.AgentAccept("a2", "c0"), "unknown_call"),
    (ev.CallRequested("c1", SKILL), "duplicate_call"),
    (ev.CallRequested("c3", SKILL), "duplicate_call"),
    (ev.AgentSetReady("ghost"), "unknown_agent"),
    (ev.AgentLogout("ghost"), "unknown_agent"),
    (ev.AgentAccept("ghost", "c2"), "unknown_agent"),
    (ev.AgentEndWrapUp("ghost"), "unknown_agent"),
    (ev.AgentSetReady("gone"), "not_logged_in"),
    (ev.AgentSetNotReady("gone"), "not_logged_in"),
    (ev.AgentLogout("gone"), "not_logged_in"),
    (ev.AgentDetached("gone"), "not_logged_in"),
    (ev.CallerHangup("c0"), "unknown_call"),
    (ev.CallerDetached("nope"), "unknown_call"),
    (ev.CallbackAccepted("c1"), "not_waiting"),
    (ev.AgentEndWrapUp("a1"), "not_in_wrap_up"),
    (ev.AgentLogin("a5", {SKILL: 0}), "invalid_skill_level"),
], ids=repr)
def test_illegal_event_raises_and_changes_nothing(event: ev.Event, code: str) -> None:
    engine = _busy_floor()
    before = snapshot(engine, 10)
    with pytest.raises(RoutingError) as raised:
        engine.handle(event, 10)
    assert raised.value.code == code
    assert raised.value.actions == []
    assert snapshot(engine, 10) == before
    assert engine.violations(10) == []


def test_logged_out_agent_cannot_set_itself_ready() -> None:
    """A stale console message after logout must not put a ghost agent on the floor."""
    engine = Engine()
    login(engine, "a", {SKILL: 1}, now=0)
    engine.handle(ev.AgentLogout("a"), 1)
    with pytest.raises(RoutingError):
        engine.handle(ev.AgentSetReady("a"), 2)
    assert offers(request(engine, "c", 3)) == []
    assert state(engine, "a") is AgentState.OFFLINE


# ---------------------------------------------------------------------------- agent detached


def test_detached_agent_is_not_offered_until_it_is_back_with_the_status_it_chose() -> None:
    engine = Engine()
    login(engine, "a1", {SKILL: 1}, now=0)
    login(engine, "a2", {SKILL: 1}, now=1)
    assert offers(request(engine, "c1", 2)) == [("a1", "c1")]

    actions = engine.handle(ev.AgentDetached("a1"), 3)
    assert of(OfferCancelled, actions) == [OfferCancelled("a1", "c1", "agent_detached")]
    assert offers(actions) == [("a2", "c1")]
    assert offers(request(engine, "c2", 4)) == []

    actions = engine.handle(ev.AgentLogin("a1", {SKILL: 1}), 5)  # the console reconnects
    assert offers(actions) == [("a1", "c2")]


# ---------------------------------------------------------------------------- late events


def _ringing_until_15() -> Engine:
    engine = Engine(RoutingConfig(ring_timeout=15, max_no_answer=1))
    login(engine, "a", {SKILL: 1}, now=0)
    request(engine, "c", 0)
    return engine


def _waiting_caller_detached_until_35() -> Engine:
    engine = Engine(RoutingConfig(resume_grace=30))
    login(engine, "a", {SKILL: 1}, now=0, ready=False)
    request(engine, "c", 0)
    engine.handle(ev.CallerDetached("c"), 5)
    return engine


def _talking_caller_detached_until_35() -> Engine:
    engine = _connected(RoutingConfig(resume_grace=30))
    engine.handle(ev.CallerDetached("c"), 5)
    return engine


_TIMED_OUT = OfferCancelled("a", "c", "timeout")
_LOST_WAITING = CallEnded("c", None, "caller_lost", Disposition.ABANDONED, 0, None, 36)
_LOST_TALKING = CallEnded("c", "a", "caller_lost", Disposition.COMPLETED, 0, 1, 36)


@pytest.mark.parametrize(("setup", "event", "at", "code", "timer_action"), [
    (_ringing_until_15, ev.AgentAccept("a", "c"), 16, "not_offered", _TIMED_OUT),
    (_ringing_until_15, ev.AgentReject("a", "c"), 16, "not_offered", _TIMED_OUT),
    (_waiting_caller_detached_until_35, ev.CallerHangup("c"), 36, "unknown_call",
     _LOST_WAITING),
    (_waiting_caller_detached_until_35, ev.CallerResumed("c"), 36, "unknown_call",
     _LOST_WAITING),
    (_waiting_caller_detached_until_35, ev.CallbackAccepted("c"), 36, "unknown_call",
     _LOST_WAITING),
    (_talking_caller_detached_until_35, ev.AgentHangup("a", "c"), 36, "unknown_call",
     _LOST_TALKING),
], ids=["accept", "reject", "caller-hangup", "caller-resumed", "callback", "agent-hangup"])
def test_event_arriving_after_a_deadline_before_its_tick_is_judged_after_the_timers(
        setup: Callable[[], Engine], event: ev.Event, at: float, code: str,
        timer_action: Action) -> None:
    """The hub's timer can run after a console message that came in past the deadline."""
    engine = setup()
    with pytest.raises(RoutingError) as raised:
        engine.handle(event, at)
    assert raised.value.code == code
    assert timer_action in raised.value.actions
    assert engine.violations(at) == []
    assert tick(engine, at) == []


# ---------------------------------------------------------------------------- timers


def test_next_deadline_is_the_earliest_pending_timer() -> None:
    engine = Engine(RoutingConfig(ring_timeout=15, wrap_up_time=30, max_wait=120,
                                  widen_to_all_levels_after=10, widen_to_partition_after=60))
    assert engine.next_deadline() is None
    login(engine, "a", {SKILL: 1}, now=0, ready=False)
    assert engine.next_deadline() is None

    request(engine, "c", 0)
    assert engine.next_deadline() == 10
    tick(engine, 10)
    assert engine.next_deadline() == 60
    tick(engine, 60)
    assert engine.next_deadline() == 120
    engine.handle(ev.AgentSetReady("a"), 70)
    assert engine.next_deadline() == 85
    engine.handle(ev.AgentAccept("a", "c"), 71)
    assert engine.next_deadline() is None
    engine.handle(ev.AgentHangup("a", "c"), 80)
    assert engine.next_deadline() == 110


def test_widening_timer_survives_a_ring_that_ends_in_requeue() -> None:
    engine = Engine(RoutingConfig(widen_to_all_levels_after=10, reject_delay=20))
    login(engine, "a1", {SKILL: 1}, now=0)
    login(engine, "a2", {SKILL: 2}, now=0)
    assert offers(request(engine, "c", 0)) == [("a1", "c")]
    engine.next_deadline()  # the hub asks after every event, while the call rings
    assert offers(engine.handle(ev.AgentReject("a1", "c"), 5)) == []

    assert engine.next_deadline() == 10
    assert offers(tick(engine, 10)) == [("a2", "c")]


def test_call_ringing_at_its_max_wait_is_offered_a_callback_once_it_waits_again() -> None:
    engine = Engine(RoutingConfig(max_wait=20, ring_timeout=15, max_no_answer=1))
    login(engine, "a", {SKILL: 1}, now=0, ready=False)
    request(engine, "c", 0)
    assert offers(engine.handle(ev.AgentSetReady("a"), 10)) == [("a", "c")]
    assert of(CallbackOffered, tick(engine, 20)) == []  # still ringing

    actions = tick(engine, 25)
    assert state(engine, "a") is AgentState.NOT_READY
    assert of(CallbackOffered, actions) == [CallbackOffered("c", "max_wait")]


# ---------------------------------------------------------------------------- statistics


def test_statistics_of_a_small_scripted_day() -> None:
    engine = Engine(RoutingConfig(wrap_up_time=10, service_level_threshold=2,
                                  short_abandon_threshold=5, max_wait=1000))
    login(engine, "a", {SKILL: 1}, now=0)
    request(engine, "c1", 0)
    engine.handle(ev.AgentAccept("a", "c1"), 1)       # answered after 1 s (within SL)
    request(engine, "c2", 10)
    request(engine, "c3", 20)
    engine.handle(ev.CallerHangup("c3"), 21)          # short abandon after 1 s
    request(engine, "c4", 30)
    request(engine, "c5", 40)
    engine.handle(ev.CallbackAccepted("c5"), 45)      # callback: not an abandon
    engine.handle(ev.CallerHangup("c4"), 50)          # abandon after 20 s
    engine.handle(ev.AgentHangup("a", "c1"), 61)
    assert offers(tick(engine, 71)) == [("a", "c2")]  # wrap-up over: handle 70 s
    engine.handle(ev.AgentAccept("a", "c2"), 73)      # answered after 63 s
    engine.handle(ev.AgentHangup("a", "c2"), 103)
    engine.handle(ev.AgentEndWrapUp("a"), 108)        # handle 35 s
    request(engine, "c6", 110)
    engine.handle(ev.AgentAccept("a", "c6"), 111.5)   # answered after 1.5 s (within SL)
    engine.handle(ev.AgentHangup("a", "c6"), 120)
    tick(engine, 130)                                 # handle 18.5 s

    [stats] = engine.queue_stats(130)
    assert (stats.partition, stats.skill) == ("default", SKILL)
    assert (stats.entered, stats.answered, stats.abandoned, stats.abandoned_short,
            stats.callbacks, stats.waiting) == (6, 3, 1, 1, 1, 0)
    assert stats.service_level == pytest.approx(100 * 2 / 3)
    assert stats.service_level_2 == pytest.approx(100 * (2 + 1) / (3 + 2))
    assert stats.abandonment_rate == pytest.approx(100 * 1 / (6 - 1))
    assert stats.average_speed_of_answer == pytest.approx((1 + 63 + 1.5) / 3)
    assert stats.average_abandon_wait == pytest.approx((1 + 20) / 2)
    assert stats.average_handle_time == pytest.approx((70 + 35 + 18.5) / 3)

    [agent] = engine.agent_stats()
    assert (agent.offered, agent.answered, agent.rejected, agent.missed) == (3, 3, 0, 0)
    assert agent.talk_time == pytest.approx(60 + 30 + 8.5)
    assert agent.average_handle_time == pytest.approx((70 + 35 + 18.5) / 3)


def test_statistics_are_empty_rather_than_zero_before_any_call() -> None:
    engine = Engine()
    login(engine, "a", {SKILL: 1}, now=0)
    [stats] = engine.queue_stats(5)
    assert (stats.staffed_agents, stats.ready_agents, stats.entered) == (1, 1, 0)
    assert (stats.service_level, stats.service_level_2, stats.abandonment_rate,
            stats.average_speed_of_answer, stats.average_handle_time) == (
        None, None, None, None, None)
