"""Invariants of the routing engine under random event sequences (hypothesis).

A ``Floor`` drives one engine with events drawn against its current state (accepts
mostly name the call actually ringing, hang-ups the call actually connected, and a share
of every kind is illegal on purpose) and checks after every step what the design
promises: ``violations()`` is empty; no call is lost or ended twice; no agent holds two
offers or calls and no call sits at two agents; every ring is stopped by an action (no
zombie legs); priority then FIFO within a queue; no free eligible agent while a call
waits (checked against the rules written out again here, not only the engine's own);
published positions are right; reject and no-answer delays hold; ``max_no_answer``
misses make an agent not-ready; only the agent raises its presence or leaves a not-ready
it chose; a refused event changes nothing.

Two clocks: the hub's (a Tick at every ``next_deadline()`` before time moves past it,
and nothing may be overdue in between), and a late one where events arrive after
deadlines nobody ticked, as when a console message beats the hub's timer callback.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.strategies import DataObject

from signaling.routing import events as ev
from signaling.routing.actions import (
    Action,
    CallbackOffered,
    CallConnected,
    CallEnded,
    CallQueued,
    OfferCall,
    OfferCancelled,
)
from signaling.routing.engine import Engine
from signaling.routing.model import (
    Activity,
    Agent,
    Call,
    CallStatus,
    Origin,
    Presence,
    RoutingConfig,
    RoutingError,
)

# Hypothesis's failure report reads mypy_extensions.TypedDict; under the suite's
# "warnings are errors" that deprecation turns a falsifying example into an INTERNALERROR.
pytestmark = pytest.mark.filterwarnings(
    "ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning")

AGENT_IDS = ("a0", "a1", "a2", "a3", "a4")
SKILLS = ("s1", "s2", "s3")
CALL_SKILLS = (*SKILLS, "s4")  # nobody ever holds s4
PARTITIONS = ("p1", "p2")
STEPS = (0.0, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)  # coarse, so timers often coincide
KINDS = (  # repeated kinds are drawn more often
    "call", "call", "call", "accept", "accept", "accept", "accept", "accept", "accept",
    "reject", "reject", "agent_hangup", "agent_hangup", "agent_hangup", "end_wrap_up",
    "ready", "ready", "not_ready", "login", "logout", "auto_answer", "agent_detached",
    "caller_hangup", "detach", "resume", "callback", "tick", "tick", "tick",
)

configs = st.builds(
    RoutingConfig,
    ring_timeout=st.sampled_from([5.0, 15.0]),
    max_no_answer=st.integers(1, 3),
    reject_delay=st.sampled_from([0.0, 5.0]),
    no_answer_delay=st.sampled_from([0.0, 3.0]),
    wrap_up_time=st.sampled_from([0.0, 10.0]),
    widen_to_all_levels_after=st.sampled_from([0.0, 10.0]),
    widen_to_partition_after=st.sampled_from([20.0, 60.0]),
    resume_grace=st.sampled_from([10.0, 30.0]),
    max_wait=st.sampled_from([30.0, 120.0]),
)
skill_levels = st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 3), max_size=3)


def may_serve(engine: Engine, agent: Agent, call: Call, now: float) -> bool:
    """The routing rules of DESIGN.md, written out again: may this agent take this call
    now, whether or not it is free at the moment."""
    config = engine.config
    if agent.presence is Presence.OFFLINE:
        return False
    if call.target_agent_id is not None:  # an invite follows its agent to any district
        return agent.id == call.target_agent_id
    if agent.partition != call.partition:
        return False
    waited = now - call.enqueued_at
    level = agent.skills.get(call.skill)
    if level is None:
        return waited >= config.widen_to_partition_after
    if waited >= config.widen_to_all_levels_after:
        return True
    best = min(a.skills[call.skill] for a in engine.agents.values()
               if a.presence is not Presence.OFFLINE and a.partition == call.partition
               and call.skill in a.skills)
    return level <= best


def free(agent: Agent, now: float) -> bool:
    """Ready, connected, idle and past any reject or no-answer delay."""
    return (agent.presence is Presence.READY and not agent.detached
            and agent.activity is Activity.IDLE and agent.blocked_until <= now)


def snapshot(engine: Engine, now: float) -> tuple[str, str, str, str, float | None]:
    """Everything observable, as text, so in-place changes are seen too."""
    return (repr(engine.agents), repr(engine.calls), repr(engine.waiting_calls()),
            repr(engine.queue_stats(now)), engine.next_deadline())


@dataclass
class Floor:
    """One engine plus what its actions told the outside world so far."""

    engine: Engine
    late_events: bool = False
    now: float = 0.0
    requested: set[str] = field(default_factory=set)
    ended: Counter[str] = field(default_factory=Counter)
    holding: dict[str, str] = field(default_factory=dict)  # agent -> call rung or talking
    holder: dict[str, str] = field(default_factory=dict)  # call -> agent
    callbacks: set[str] = field(default_factory=set)
    arrival: dict[str, int] = field(default_factory=dict)  # call -> order of CallQueued
    arrivals: int = 0
    missed_in_row: Counter[str] = field(default_factory=Counter)
    blocked_until: dict[str, float] = field(default_factory=dict)
    next_call: int = 0

    # ------------------------------------------------------------------ driving

    def at(self, event: ev.Event, now: float) -> None:
        """Feed ``event`` at ``now``; with the hub clock, first tick every deadline on the
        way and check that nothing is overdue in between."""
        if not self.late_events:
            while (deadline := self.engine.next_deadline()) is not None and deadline <= now:
                self.feed(ev.Tick(), max(deadline, self.now))
            self.check_nothing_overdue(now)
        self.feed(event, now)

    def feed(self, event: ev.Event, now: float) -> None:
        engine = self.engine
        # A refused event changes nothing, but timers due by ``now`` fire all the same:
        # what they alone do is what a twin engine does with a bare Tick.
        twin = copy.deepcopy(engine) if self.late_events else engine
        timers_only = twin.handle(ev.Tick(), now) if self.late_events else []
        expected = snapshot(twin, now)
        presence_before = {a.id: (a.presence, a.not_ready_reason)
                           for a in engine.agents.values()}
        try:
            actions = engine.handle(event, now)
        except RoutingError as error:
            assert error.actions == timers_only, f"{event} refused with other actions"
            assert snapshot(engine, now) == expected, f"{event} refused but changed the state"
            actions = cast(list[Action], error.actions)
        else:
            self.follow_agent_choice(event, now, presence_before)
        self.now = now
        self.observe(actions, now)
        self.check(event, presence_before)

    def follow_agent_choice(self, event: ev.Event, now: float,
                            presence_before: dict[str, tuple[Presence, str | None]]) -> None:
        """Misses in a row and reject delays, as the design defines them. With the hub
        clock an event's step fires no timers, so its effect precedes the step's offers."""
        config = self.engine.config
        match event:
            case ev.AgentReject(agent_id=agent_id) if config.reject_delay > 0:
                self.blocked_until[agent_id] = now + config.reject_delay
            case ev.AgentSetReady(agent_id=agent_id):  # a reject delay outlives a click
                self.missed_in_row[agent_id] = 0
            case ev.AgentLogin(agent_id=agent_id) if presence_before.get(
                    agent_id, (Presence.OFFLINE, None))[0] is Presence.OFFLINE:
                self.missed_in_row[agent_id] = 0
            case _:
                pass

    # ------------------------------------------------------------------ checks

    def observe(self, actions: Sequence[Action], now: float) -> None:
        """Follow offers and sessions through the actions alone."""
        for action in actions:
            match action:
                case CallQueued(call_id=call_id):  # the id may be that of an ended call
                    self.requested.add(call_id)
                    self.arrivals += 1
                    self.arrival[call_id] = self.arrivals
                    self.ended[call_id] = 0
                    self.callbacks.discard(call_id)
                case OfferCall(agent_id=agent_id, call_id=call_id):
                    assert agent_id not in self.holding, (
                        f"{agent_id} offered {call_id} while holding {self.holding[agent_id]}")
                    assert call_id not in self.holder, (
                        f"{call_id} offered to {agent_id} while at {self.holder[call_id]}")
                    self.holding[agent_id] = call_id
                    self.holder[call_id] = agent_id
                    self.check_offer(agent_id, call_id, now)
                case CallConnected(agent_id=agent_id, call_id=call_id):
                    assert self.holding.get(agent_id) == call_id
                    self.missed_in_row[agent_id] = 0
                case OfferCancelled(agent_id=agent_id, call_id=call_id, reason=reason):
                    assert self.holding.get(agent_id) == call_id
                    del self.holding[agent_id], self.holder[call_id]
                    if reason == "timeout":
                        self.missed_in_row[agent_id] += 1
                        if self.engine.config.no_answer_delay > 0:
                            self.blocked_until[agent_id] = (
                                now + self.engine.config.no_answer_delay)
                case CallEnded(agent_id=agent_id, call_id=call_id):
                    self.ended[call_id] += 1
                    assert self.ended[call_id] == 1, f"{call_id} ended twice"
                    if agent_id is None:
                        assert call_id not in self.holder, f"{call_id} ended still ringing"
                    else:
                        assert self.holding.get(agent_id) == call_id
                        del self.holding[agent_id], self.holder[call_id]
                case CallbackOffered(call_id=call_id):
                    assert call_id not in self.callbacks, f"callback offered twice to {call_id}"
                    self.callbacks.add(call_id)
                case _:
                    pass

    def turn(self, call: Call) -> tuple[int, int]:
        """Service order by the design's rule: higher priority first, then arrival."""
        return (-call.priority, self.arrival[call.id])

    def check_offer(self, agent_id: str, call_id: str, now: float) -> None:
        """Offers are only made in the final dispatch of handle(), so the state after it
        is the state they were made in."""
        engine = self.engine
        agent, call = engine.agents[agent_id], engine.calls[call_id]
        assert agent.presence is Presence.READY, f"{call_id} offered to {agent.state} {agent_id}"
        assert not agent.detached, f"{call_id} offered to {agent_id}, whose console is gone"
        assert may_serve(engine, agent, call, now), f"{agent_id} may not serve {call_id}"
        assert call.detached_at is None, f"{call_id} offered while its caller is away"
        if not self.late_events:
            assert now >= self.blocked_until.get(agent_id, 0), (
                f"{agent_id} offered {call_id} inside its reject or no-answer delay")
        for older in engine.waiting_calls():
            if (older.queue_key == call.queue_key and self.turn(older) < self.turn(call)
                    and older.status is CallStatus.WAITING and older.detached_at is None):
                assert not may_serve(engine, agent, older, now), (
                    f"{call_id} offered to {agent_id} ahead of {older.id}")

    def check(self, event: ev.Event, presence_before: dict[str, tuple[Presence, str | None]],
              ) -> None:
        engine, now = self.engine, self.now
        assert engine.violations(now) == []

        assert set(engine.calls) <= self.requested
        for call_id in self.requested:
            if call_id in engine.calls:
                assert self.ended[call_id] == 0
                assert engine.calls[call_id].status is not CallStatus.ENDED
            else:
                assert self.ended[call_id] == 1, f"{call_id} lost without CallEnded"

        busy = {a.id: a.call_id for a in engine.agents.values()
                if a.activity in (Activity.RESERVED, Activity.BUSY)}
        assert busy == self.holding, "actions and agent states disagree (a zombie ring?)"
        for agent_id, call_id in self.holding.items():
            call = engine.calls[call_id]
            assert call.agent_id == agent_id
            expected = (CallStatus.RINGING if engine.agents[agent_id].activity
                        is Activity.RESERVED else CallStatus.CONNECTED)
            assert call.status is expected

        self.check_no_stall(now)

        queues: dict[tuple[str, str], list[Call]] = {}
        for call in engine.waiting_calls():
            queues.setdefault(call.queue_key, []).append(call)
        for queue in queues.values():
            assert [self.turn(c) for c in queue] == sorted(self.turn(c) for c in queue)
            waiting = [c for c in queue if c.status is CallStatus.WAITING]
            for position, call in enumerate(waiting, start=1):
                published = engine.position_of(call.id)
                assert published is not None and published[0] == position, (
                    f"{call.id} is at {position}, published {published}")

        for agent in engine.agents.values():
            if not self.late_events and (
                    self.missed_in_row[agent.id] >= engine.config.max_no_answer):
                assert agent.presence is not Presence.READY, (
                    f"{agent.id} still ready after {self.missed_in_row[agent.id]} misses")
            was, reason = presence_before.get(agent.id, (Presence.OFFLINE, None))
            if agent.presence is Presence.READY and was is not Presence.READY:
                assert event == ev.AgentSetReady(agent.id), f"system made {agent.id} ready"
            chosen_away = was is Presence.NOT_READY and reason != "missed"
            agent_acted = (isinstance(event, ev.AgentSetReady | ev.AgentSetNotReady
                                      | ev.AgentLogout) and event.agent_id == agent.id)
            if chosen_away and not agent_acted:
                assert (agent.presence, agent.not_ready_reason) == (was, reason), (
                    f"{agent.id}'s own not-ready was overridden")

    def check_no_stall(self, now: float) -> None:
        """Distribution never silently stops: no free agent may serve a waiting call."""
        engine = self.engine
        for call in engine.waiting_calls():
            if call.status is not CallStatus.WAITING or call.detached_at is not None:
                continue
            for agent in engine.agents.values():
                assert not (free(agent, now) and may_serve(engine, agent, call, now)), (
                    f"{agent.id} idles while {call.id} waits")

    def check_nothing_overdue(self, now: float) -> None:
        """Between events (all deadlines up to ``now`` ticked) nothing may be overdue."""
        assert self.engine.violations(now) == []
        self.check_no_stall(now)
        for call in self.engine.waiting_calls():
            if (call.status is CallStatus.WAITING
                    and now - call.enqueued_at >= self.engine.config.max_wait):
                assert call.id in self.callbacks, f"{call.id} waited past max_wait"


# ---------------------------------------------------------------------------- drawing


def pick(data: DataObject, likely: Collection[str], anything: Collection[str]) -> str:
    """Mostly a name that makes the event legal, sometimes any name at all."""
    if likely and data.draw(st.integers(0, 4)) > 0:
        return data.draw(st.sampled_from(sorted(likely)))
    return data.draw(st.sampled_from(sorted(anything)))


def draw_login(data: DataObject, agent_id: str) -> ev.AgentLogin:
    auto_answer = data.draw(st.integers(0, 3)) == 0
    return ev.AgentLogin(agent_id, data.draw(skill_levels),
                         data.draw(st.sampled_from(PARTITIONS)), auto_answer)


def draw_event(data: DataObject, floor: Floor, agent_ids: Sequence[str]) -> ev.Event:
    engine = floor.engine
    kind = data.draw(st.sampled_from(KINDS))
    agents = [*agent_ids, "ghost"]
    any_call = [*floor.requested, "nope"]
    live = list(engine.calls)
    if kind == "call":
        if live and data.draw(st.integers(0, 9)) == 0:
            call_id = data.draw(st.sampled_from(sorted(live)))  # a duplicate
        else:
            floor.next_call += 1
            call_id = f"c{floor.next_call}"
        partition = data.draw(st.sampled_from(PARTITIONS))
        staffed = {skill for a in engine.agents.values()
                   if a.partition == partition and a.presence is not Presence.OFFLINE
                   for skill in a.skills}
        skill = pick(data, staffed, CALL_SKILLS)
        targeted = data.draw(st.integers(0, 5)) == 0
        return ev.CallRequested(
            call_id, skill, Origin.INVITE if targeted else Origin.KIOSK, partition,
            data.draw(st.integers(0, 2)),
            target_agent_id=data.draw(st.sampled_from(agents)) if targeted else None)
    if kind in ("accept", "reject", "agent_hangup"):
        wanted = Activity.BUSY if kind == "agent_hangup" else Activity.RESERVED
        holders = [a.id for a in engine.agents.values()
                   if a.activity is wanted and a.id in agent_ids]
        agent_id = pick(data, holders, agents)
        agent = engine.agents.get(agent_id)
        call_id = pick(data, [agent.call_id] if agent and agent.call_id else [], any_call)
        if kind == "accept":
            return ev.AgentAccept(agent_id, call_id)
        if kind == "reject":
            return ev.AgentReject(agent_id, call_id)
        return ev.AgentHangup(agent_id, call_id)
    if kind in ("caller_hangup", "detach", "resume", "callback"):
        if kind == "resume":
            likely = [c.id for c in engine.calls.values() if c.detached_at is not None]
        else:
            likely = live
        call_id = pick(data, likely, any_call)
        match kind:
            case "caller_hangup":
                return ev.CallerHangup(call_id)
            case "detach":
                return ev.CallerDetached(call_id)
            case "resume":
                return ev.CallerResumed(call_id)
            case _:
                return ev.CallbackAccepted(call_id)
    if kind == "tick":
        return ev.Tick()
    if kind == "end_wrap_up":
        in_wrap_up = [a.id for a in engine.agents.values()
                      if a.activity is Activity.WRAP_UP and a.id in agent_ids]
        return ev.AgentEndWrapUp(pick(data, in_wrap_up, agents))
    agent_id = data.draw(st.sampled_from(agents))
    match kind:
        case "login":
            return draw_login(data, agent_id)
        case "logout":
            return ev.AgentLogout(agent_id)
        case "agent_detached":
            return ev.AgentDetached(agent_id)
        case "ready":
            return ev.AgentSetReady(agent_id)
        case "not_ready":
            return ev.AgentSetNotReady(agent_id, data.draw(st.sampled_from(["break", "lunch"])))
        case _:
            return ev.AgentSetAutoAnswer(agent_id, data.draw(st.booleans()))


def run_floor(data: DataObject, *, late_events: bool) -> None:
    floor = Floor(Engine(data.draw(configs)), late_events=late_events)
    agent_ids = AGENT_IDS[:data.draw(st.integers(2, len(AGENT_IDS)))]
    for agent_id in agent_ids:
        floor.at(draw_login(data, agent_id), 0.0)
        if data.draw(st.booleans()):
            floor.at(ev.AgentSetReady(agent_id), 0.0)
    for _ in range(data.draw(st.integers(1, 80))):
        event = draw_event(data, floor, agent_ids)
        deadline = floor.engine.next_deadline()
        if isinstance(event, ev.Tick) and data.draw(st.booleans()) and deadline is not None:
            now = max(deadline, floor.now)  # a Tick right at the next deadline
        else:
            now = floor.now + data.draw(st.sampled_from(STEPS))
        floor.at(event, now)


# ---------------------------------------------------------------------------- properties


@settings(max_examples=300, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_invariants_hold_under_random_events_with_the_hub_clock(data: DataObject) -> None:
    run_floor(data, late_events=False)


@settings(max_examples=200, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_invariants_hold_when_events_arrive_after_their_deadline(data: DataObject) -> None:
    """The hub's timer may run after a message that arrived past a deadline."""
    run_floor(data, late_events=True)
