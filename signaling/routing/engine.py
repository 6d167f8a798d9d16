"""The routing engine: ``Engine.handle(event, now) -> list[Action]``, no I/O, no clock.

Transition rules (the only place agent activity and call status change):

    call   WAITING   --offer-->           RINGING    (agent IDLE -> RESERVED)
    call   RINGING   --accept/auto-->     CONNECTED  (agent RESERVED -> BUSY)
    call   RINGING   --reject/timeout/caller drop/agent away--> WAITING, same place
                                                     (agent RESERVED -> IDLE)
    call   WAITING|RINGING --caller hangup/grace over--> ENDED abandoned
    call   WAITING|RINGING --callback accepted-->     ENDED callback
    call   CONNECTED --either hangup, agent lost, caller grace over--> ENDED completed
                                                     (agent BUSY -> WRAP_UP)
    agent  WRAP_UP   --timer or agent-->  IDLE

Every change to an agent ends in ``_agent_changed``, which files the agent again in the
derived indexes (idle agents by district, skill and level in longest-idle order, staffing
by level: ``agent_index.py``) and announces its state; every change to a call's status
or connection ends in ``_call_changed``, which files it in the waiting lines
(``call_index.py``). Dispatch and the published positions read those indexes, so the
cost of an event does not grow with the number of agents, nor with ringing calls.

Presence (the agent's choice) is changed by the agent, except one system move: after
``max_no_answer`` missed offers in a row the agent is set not-ready("missed"). The system
never sets anyone ready.

After every event the engine fires due timers, then dispatches: waiting calls in order
(priority, then arrival) each take the best eligible available agent. Hence the invariant
checked by ``violations()``: no available agent is eligible for a waiting call.
"""

from __future__ import annotations

import bisect
import heapq
import math
import sys
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from . import events as ev
from . import snapshot as snapshots
from .actions import (
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
from .agent_index import AgentIndex, IdleLine
from .call_index import WaitingIndex, WaitingLine
from .invariants import find_violations
from .model import (
    Activity,
    Agent,
    AgentState,
    Call,
    CallStatus,
    Disposition,
    Presence,
    RoutingConfig,
    RoutingError,
)
from .stats import AgentStats, QueueCounters, QueueStats, queue_snapshot
from .strategies import Strategy, longest_idle
from .tiers import may_serve, serving_levels, widened_to_partition
from .timers import Timer, TimerHeap, TimerKind


class Engine:
    """One partition group's queue: agents, waiting calls, offers, sessions and statistics."""

    def __init__(self, config: RoutingConfig | None = None,
                 strategy: Strategy = longest_idle) -> None:
        self.config = config or RoutingConfig()
        self.strategy = strategy
        self.agents: dict[str, Agent] = {}
        self.calls: dict[str, Call] = {}
        self._queues: dict[tuple[str, str], list[Call]] = {}
        self._counters: dict[tuple[str, str], QueueCounters] = {}
        self._timers = TimerHeap()
        self._seq = 0
        # Queues whose published places may be stale and, for some, the first place
        # (0-based) that moved; a dirty queue not in _moved_from only needs its rate checked.
        self._dirty: set[tuple[str, str]] = set()
        self._moved_from: dict[tuple[str, str], int] = {}
        self._rates: dict[tuple[str, str], float] = {}  # rate each queue was published at
        self._out: list[Action] = []
        self._index = AgentIndex()
        self._waiting = WaitingIndex()
        self._rebuild_indexes()
        self._handlers: dict[type, Callable[[object, float], None]] = {
            ev.AgentLogin: self._on_agent_login,  # type: ignore[dict-item]
            ev.AgentLogout: self._on_agent_logout,  # type: ignore[dict-item]
            ev.AgentDetached: self._on_agent_detached,  # type: ignore[dict-item]
            ev.AgentSetReady: self._on_set_ready,  # type: ignore[dict-item]
            ev.AgentSetNotReady: self._on_set_not_ready,  # type: ignore[dict-item]
            ev.AgentSetAutoAnswer: self._on_set_auto_answer,  # type: ignore[dict-item]
            ev.AgentAccept: self._on_accept,  # type: ignore[dict-item]
            ev.AgentReject: self._on_reject,  # type: ignore[dict-item]
            ev.AgentHangup: self._on_agent_hangup,  # type: ignore[dict-item]
            ev.AgentEndWrapUp: self._on_end_wrap_up,  # type: ignore[dict-item]
            ev.CallRequested: self._on_call_requested,  # type: ignore[dict-item]
            ev.CallerHangup: self._on_caller_hangup,  # type: ignore[dict-item]
            ev.CallerDetached: self._on_caller_detached,  # type: ignore[dict-item]
            ev.CallerResumed: self._on_caller_resumed,  # type: ignore[dict-item]
            ev.CallbackAccepted: self._on_callback_accepted,  # type: ignore[dict-item]
            ev.Tick: lambda event, now: None,
        }

    # ------------------------------------------------------------------ public API

    def handle(self, event: ev.Event, now: float) -> list[Action]:
        """Apply one event at time ``now``; return what the outside world must do.

        Due timers fire first, so the event is judged against the state at ``now``. Raises
        RoutingError when the event is illegal then; the event changes nothing, and the
        timers' actions travel on the exception.
        """
        handler = self._handlers.get(type(event))
        if handler is None:
            raise RoutingError("unknown_event", f"unknown event {type(event).__name__}")
        self._out = []
        self._fire_due_timers(now)
        try:
            self._validate(event)
        except RoutingError as exc:
            self._dispatch(now)
            self._publish_positions(now)
            exc.actions, self._out = list(self._out), []
            raise
        handler(event, now)
        self._dispatch(now)
        self._publish_positions(now)
        out, self._out = self._out, []
        return out

    def next_deadline(self) -> float | None:
        """When to send the next Tick; None when no timer is pending."""
        while (head := self._timers.peek()) is not None and not self._timer_live(head):
            self._timers.pop()
        return head.at if head is not None else None

    def snapshot(self) -> dict[str, Any]:
        """The base state as JSON-ready data (signaling/routing/snapshot.py)."""
        return snapshots.snapshot(self)

    def restore(self, state: dict[str, Any]) -> None:
        """Replace the state with a ``snapshot()``; derived indexes are rebuilt from it."""
        snapshots.restore(self, state)
        self._rebuild_indexes()

    def waiting_calls(self, partition: str | None = None) -> list[Call]:
        """Calls in the queue (waiting or ringing), in service order within each queue."""
        return [
            call
            for key, queue in self._queues.items()
            if partition is None or key[0] == partition
            for call in queue
        ]

    def position_of(self, call_id: str) -> tuple[int, int] | None:
        """(position, estimated wait) of a waiting call, as last published."""
        call = self.calls.get(call_id)
        if call is None or call.last_position is None or call.last_estimate is None:
            return None
        return call.last_position, call.last_estimate

    def queue_stats(self, now: float) -> list[QueueStats]:
        """Statistics of every queue that has seen a call or has staffed agents."""
        keys = set(self._counters) | self._index.staffed_queues()
        result = []
        for partition, skill in sorted(keys):
            if skill.startswith("@"):
                continue
            queue = self._queues.get((partition, skill), [])
            result.append(queue_snapshot(
                partition, skill, self._counters.get((partition, skill), QueueCounters()),
                waiting=len(queue),
                longest_wait=max((now - c.enqueued_at for c in queue), default=0.0),
                staffed_agents=self._index.staffed(partition, skill),
                ready_agents=self._index.ready(partition, skill, now),
            ))
        return result

    def agent_stats(self) -> list[AgentStats]:
        """Statistics of every known agent."""
        return [
            AgentStats(
                agent_id=a.id, state=a.state.value, reason=a.not_ready_reason,
                partition=a.partition, skills=dict(a.skills), auto_answer=a.auto_answer,
                offered=a.counters.offered, answered=a.counters.answered,
                rejected=a.counters.rejected, missed=a.counters.missed,
                average_handle_time=(a.counters.handle_time / a.counters.handled
                                     if a.counters.handled else None),
                talk_time=a.counters.talk_time,
            )
            for a in sorted(self.agents.values(), key=lambda a: a.id)
        ]

    def violations(self, now: float) -> list[str]:
        """Broken invariants, empty when healthy. Run by tests and by the live self-check."""
        return find_violations(self, now)

    def index_problems(self, now: float) -> list[str]:
        """How the derived agent indexes differ from the agents; empty when in step."""
        return (self._index.problems(self.agents.values(), now)
                + self._waiting.problems(self.calls.values()))

    def queues(self) -> Mapping[tuple[str, str], Sequence[Call]]:
        """Calls in each queue ((district, skill) or (district, "@agent")), in order."""
        return self._queues

    def eligible(self, agent: Agent, call: Call, now: float,
                 best_levels: dict[tuple[str, str], int | None] | None = None) -> bool:
        """Whether ``agent`` is available and allowed to take ``call`` right now.

        ``best_levels`` caches each queue's best staffed level across many questions
        asked at one instant.
        """
        return self._eligible(agent, call, now, best_levels)

    def _rebuild_indexes(self) -> None:
        """Derive the agent and waiting-call indexes from ``agents`` and ``calls`` afresh
        (at construction, and after they are restored from elsewhere)."""
        self._index = AgentIndex.build(self.agents.values())
        self._waiting = WaitingIndex.build(self.calls.values())
        self._rates = {}

    # ------------------------------------------------------------------ validation

    def _agent(self, agent_id: str) -> Agent:
        agent = self.agents.get(agent_id)
        if agent is None:
            raise RoutingError("unknown_agent", f"agent {agent_id} is not logged in")
        return agent

    def _call(self, call_id: str) -> Call:
        call = self.calls.get(call_id)
        if call is None or call.status is CallStatus.ENDED:
            raise RoutingError("unknown_call", f"call {call_id} does not exist or has ended")
        return call

    def _validate(self, event: ev.Event) -> None:
        """Check legality before anything changes, so a RoutingError leaves no trace."""
        match event:
            case ev.AgentLogin(skills=skills):
                if any(level < 1 for level in skills.values()):
                    raise RoutingError("invalid_skill_level", "skill levels start at 1")
            case ev.AgentLogout(agent_id=a) | ev.AgentDetached(agent_id=a) | \
                    ev.AgentSetReady(agent_id=a) | \
                    ev.AgentSetNotReady(agent_id=a) | ev.AgentSetAutoAnswer(agent_id=a):
                if self._agent(a).presence is Presence.OFFLINE:
                    raise RoutingError("not_logged_in", f"agent {a} is logged out")
            case ev.AgentAccept(agent_id=a, call_id=c) | ev.AgentReject(agent_id=a, call_id=c):
                agent, call = self._agent(a), self._call(c)
                if (agent.activity is not Activity.RESERVED or agent.call_id != c
                        or call.status is not CallStatus.RINGING or call.agent_id != a):
                    raise RoutingError("not_offered", f"call {c} is not ringing at {a}")
            case ev.AgentHangup(agent_id=a, call_id=c):
                agent, call = self._agent(a), self._call(c)
                if call.status is not CallStatus.CONNECTED or call.agent_id != a:
                    raise RoutingError("not_in_call", f"agent {a} is not in call {c}")
            case ev.AgentEndWrapUp(agent_id=a):
                if self._agent(a).activity is not Activity.WRAP_UP:
                    raise RoutingError("not_in_wrap_up", f"agent {a} is not in wrap-up")
            case ev.CallRequested(call_id=c):
                if c in self.calls:
                    raise RoutingError("duplicate_call", f"call {c} already exists")
            case ev.CallerHangup(call_id=c) | ev.CallerDetached(call_id=c) | \
                    ev.CallerResumed(call_id=c):
                self._call(c)
            case ev.CallbackAccepted(call_id=c):
                if self._call(c).status not in (CallStatus.WAITING, CallStatus.RINGING):
                    raise RoutingError("not_waiting", f"call {c} is no longer waiting")
            case _:
                pass

    # ------------------------------------------------------------------ agent events

    def _on_agent_login(self, event: ev.AgentLogin, now: float) -> None:
        agent = self.agents.get(event.agent_id)
        if agent is None:
            agent = Agent(id=event.agent_id, skills=dict(event.skills),
                          partition=event.partition, idle_since=now)
            self.agents[agent.id] = agent
        before = (agent.partition, set(agent.skills))
        self._mark_agent_queues_dirty(agent)
        agent.skills = dict(event.skills)
        agent.partition = event.partition
        agent.auto_answer = event.auto_answer
        agent.detached = False
        if agent.presence is Presence.OFFLINE:
            agent.presence = Presence.NOT_READY
            agent.not_ready_reason = "login"
            agent.idle_since = now
            agent.missed_in_row = 0
        self._mark_agent_queues_dirty(agent)
        self._agent_changed(agent)
        if before != (agent.partition, set(agent.skills)):
            # A refresh may have left a queue with nobody to serve it.
            self._offer_callbacks_where_unstaffed(before[0])

    def _on_agent_logout(self, event: ev.AgentLogout, now: float) -> None:
        agent = self.agents[event.agent_id]
        if agent.activity is Activity.RESERVED:
            self._cancel_offer(agent, now, reason="agent_offline", block=0.0)
        elif agent.activity is Activity.BUSY:
            self._end_connected(self.calls[agent.call_id or ""], now, reason="agent_lost")
        if agent.activity is Activity.WRAP_UP:
            self._finish_wrap_up(agent, now)
        agent.presence = Presence.OFFLINE
        agent.not_ready_reason = None
        agent.detached = False
        self._mark_agent_queues_dirty(agent)
        self._agent_changed(agent)
        self._offer_callbacks_where_unstaffed(agent.partition)

    def _on_agent_detached(self, event: ev.AgentDetached, now: float) -> None:
        agent = self.agents[event.agent_id]
        agent.detached = True
        if agent.activity is Activity.RESERVED:
            self._cancel_offer(agent, now, reason="agent_detached", block=0.0)
        self._agent_changed(agent, announce=False)

    def _on_set_ready(self, event: ev.AgentSetReady, now: float) -> None:
        agent = self.agents[event.agent_id]
        if agent.presence is not Presence.READY and agent.activity is Activity.IDLE:
            agent.idle_since = now
        agent.presence = Presence.READY
        agent.not_ready_reason = None
        agent.missed_in_row = 0  # the reject/no-answer delay still runs its course
        self._agent_changed(agent)

    def _on_set_not_ready(self, event: ev.AgentSetNotReady, now: float) -> None:
        agent = self.agents[event.agent_id]
        if agent.activity is Activity.RESERVED:
            self._cancel_offer(agent, now, reason="agent_not_ready", block=0.0)
        agent.presence = Presence.NOT_READY
        agent.not_ready_reason = event.reason
        self._agent_changed(agent)

    def _on_set_auto_answer(self, event: ev.AgentSetAutoAnswer, now: float) -> None:
        agent = self.agents[event.agent_id]
        agent.auto_answer = event.enabled
        self._agent_changed(agent)

    def _on_accept(self, event: ev.AgentAccept, now: float) -> None:
        self._connect(self.calls[event.call_id], self.agents[event.agent_id], now)

    def _on_reject(self, event: ev.AgentReject, now: float) -> None:
        agent = self.agents[event.agent_id]
        agent.counters.rejected += 1
        agent.idle_since = now
        self._cancel_offer(agent, now, reason="rejected", block=self.config.reject_delay)

    def _on_agent_hangup(self, event: ev.AgentHangup, now: float) -> None:
        self._end_connected(self.calls[event.call_id], now, reason="agent_hangup")

    def _on_end_wrap_up(self, event: ev.AgentEndWrapUp, now: float) -> None:
        self._finish_wrap_up(self.agents[event.agent_id], now)

    # ------------------------------------------------------------------ caller events

    def _on_call_requested(self, event: ev.CallRequested, now: float) -> None:
        self._seq += 1
        arrived = event.arrived_at
        enqueued_at = now if arrived is None or not math.isfinite(arrived) else min(arrived,
                                                                                     now)
        call = Call(id=event.call_id, skill=event.skill, partition=event.partition,
                    origin=event.origin, priority=event.priority, enqueued_at=enqueued_at,
                    seq=self._seq, label=event.label, target_agent_id=event.target_agent_id)
        self.calls[call.id] = call
        queue = self._queues.setdefault(call.queue_key, [])
        # Insert keeping (priority, arrival) order; arrivals are mostly at the tail.
        index = len(queue)
        while index > 0 and queue[index - 1].order_key > call.order_key:
            index -= 1
        queue.insert(index, call)
        self._counter(call).entered += 1
        self._call_changed(call)
        self._out.append(CallQueued(call.id))
        # Tiers already widened before the request got here need no timer: the dispatch
        # after this event sees them.
        for delay in (self.config.widen_to_all_levels_after,
                      self.config.widen_to_partition_after):
            if enqueued_at + delay > now:
                self._schedule(enqueued_at + delay, TimerKind.TIER_WIDENS, call.id)
        if enqueued_at + self.config.max_wait > now:
            self._schedule(enqueued_at + self.config.max_wait, TimerKind.MAX_WAIT, call.id)
        else:
            self._offer_callback(call, "max_wait")
        if not self._anyone_staffed_for(call):
            self._offer_callback(call, "no_agents")

    def _on_caller_hangup(self, event: ev.CallerHangup, now: float) -> None:
        call = self.calls[event.call_id]
        if call.status is CallStatus.CONNECTED:
            self._end_connected(call, now, reason="caller_hangup")
        else:
            self._end_unanswered(call, now, reason="caller_hangup",
                                 disposition=Disposition.ABANDONED)

    def _on_caller_detached(self, event: ev.CallerDetached, now: float) -> None:
        call = self.calls[event.call_id]
        if call.detached_at is not None:
            return
        call.detached_at = now
        self._schedule(now + self.config.resume_grace, TimerKind.GRACE_ENDS, call.id)
        if call.status is CallStatus.RINGING:
            self._cancel_offer(self.agents[call.agent_id or ""], now,
                               reason="caller_detached", block=0.0)
        self._call_changed(call)

    def _on_caller_resumed(self, event: ev.CallerResumed, now: float) -> None:
        call = self.calls[event.call_id]
        call.detached_at = None
        self._call_changed(call)
        place = self._waiting.index_of(call)
        if place is not None:
            # Publish the place again: the resumed connection has not seen it.
            call.last_position = None
            self._mark_dirty(call.queue_key, place)

    def _on_callback_accepted(self, event: ev.CallbackAccepted, now: float) -> None:
        self._end_unanswered(self.calls[event.call_id], now, reason="callback",
                             disposition=Disposition.CALLBACK)

    # ------------------------------------------------------------------ transitions

    def _offer(self, call: Call, agent: Agent, now: float) -> None:
        call.status = CallStatus.RINGING
        call.agent_id = agent.id
        call.offer_expires_at = now + self.config.ring_timeout
        agent.activity = Activity.RESERVED
        agent.call_id = call.id
        agent.counters.offered += 1
        self._call_changed(call)
        self._out.append(OfferCall(
            agent_id=agent.id, call_id=call.id, skill=call.skill, origin=call.origin,
            label=call.label, waited=now - call.enqueued_at, expires_at=call.offer_expires_at,
            auto_answer=agent.auto_answer,
        ))
        self._out.append(CallRinging(call.id, agent.id))
        self._agent_changed(agent)
        if agent.auto_answer:
            self._connect(call, agent, now)
        else:
            self._schedule(call.offer_expires_at, TimerKind.OFFER_EXPIRES, call.id)

    def _connect(self, call: Call, agent: Agent, now: float) -> None:
        self._remove_from_queue(call)
        call.status = CallStatus.CONNECTED
        call.answered_at = now
        call.offer_expires_at = None
        self._call_changed(call)
        agent.activity = Activity.BUSY
        agent.answered_at = now
        agent.missed_in_row = 0
        agent.counters.answered += 1
        waited = now - call.enqueued_at
        counters = self._counter(call)
        counters.answered += 1
        counters.wait_answered += waited
        if waited <= self.config.service_level_threshold:
            counters.answered_within_sl += 1
        self._out.append(CallConnected(call.id, agent.id, waited))
        self._agent_changed(agent)

    def _cancel_offer(self, agent: Agent, now: float, *, reason: str, block: float,
                      requeue: bool = True) -> None:
        """End a ringing offer without an answer; the call goes back to its place."""
        call = self.calls[agent.call_id or ""]
        call.status = CallStatus.WAITING
        call.agent_id = None
        call.offer_expires_at = None
        agent.activity = Activity.IDLE
        agent.call_id = None
        if block > 0:
            agent.blocked_until = now + block
            self._schedule(agent.blocked_until, TimerKind.AGENT_UNBLOCKED, agent.id)
        self._call_changed(call)
        self._out.append(OfferCancelled(agent.id, call.id, reason))
        if requeue:
            self._out.append(CallRequeued(call.id, reason))
            if now - call.enqueued_at >= self.config.max_wait:
                self._offer_callback(call, "max_wait")  # its timer fired while ringing
        self._agent_changed(agent)

    def _time_out_offer(self, call: Call, now: float) -> None:
        agent = self.agents[call.agent_id or ""]
        agent.counters.missed += 1
        agent.missed_in_row += 1
        agent.idle_since = now  # the next offer goes to someone else if anyone is free
        self._cancel_offer(agent, now, reason="timeout", block=self.config.no_answer_delay)
        if agent.missed_in_row >= self.config.max_no_answer:
            agent.presence = Presence.NOT_READY
            agent.not_ready_reason = "missed"
            self._agent_changed(agent)

    def _end_unanswered(self, call: Call, now: float, *, reason: str,
                        disposition: Disposition) -> None:
        if call.status is CallStatus.RINGING:
            self._cancel_offer(self.agents[call.agent_id or ""], now,
                               reason="caller_abandoned" if disposition is
                               Disposition.ABANDONED else "callback", block=0.0,
                               requeue=False)
        self._remove_from_queue(call)
        call.status = CallStatus.ENDED
        self._call_changed(call)
        counters = self._counter(call)
        waited = now - call.enqueued_at
        if disposition is Disposition.CALLBACK:
            counters.callbacks += 1
        else:
            if waited < self.config.short_abandon_threshold:
                counters.abandoned_short += 1
            else:
                counters.abandoned += 1
            counters.wait_abandoned += waited
            if waited <= self.config.service_level_threshold:
                counters.abandoned_within_sl += 1
        self._out.append(CallEnded(call.id, None, reason, disposition, call.enqueued_at,
                                   None, now))
        del self.calls[call.id]

    def _end_connected(self, call: Call, now: float, *, reason: str) -> None:
        agent = self.agents[call.agent_id or ""]
        call.status = CallStatus.ENDED
        self._call_changed(call)
        talk = now - (call.answered_at or now)
        agent.counters.talk_time += talk
        agent.activity = Activity.WRAP_UP
        if self.config.wrap_up_time > 0:
            agent.wrap_up_until = now + self.config.wrap_up_time
            self._schedule(agent.wrap_up_until, TimerKind.WRAP_UP_ENDS, agent.id)
        else:
            agent.wrap_up_until = None
        agent.call_id = None
        agent.wrap_up_queue = (call.partition, call.skill)
        self._out.append(CallEnded(call.id, agent.id, reason, Disposition.COMPLETED,
                                   call.enqueued_at, call.answered_at, now))
        self._agent_changed(agent)
        del self.calls[call.id]

    def _finish_wrap_up(self, agent: Agent, now: float) -> None:
        if agent.wrap_up_queue is not None and agent.answered_at is not None:
            handle = now - agent.answered_at
            counters = self._counters.setdefault(agent.wrap_up_queue, self._new_counters())
            counters.handle_times.append(handle)
            counters.handle_time_total += handle
            counters.handled += 1
            agent.counters.handle_time += handle
            agent.counters.handled += 1
            self._mark_dirty(agent.wrap_up_queue)
        agent.activity = Activity.IDLE
        agent.wrap_up_queue = None
        agent.answered_at = None
        agent.wrap_up_until = None
        agent.idle_since = now
        self._agent_changed(agent)

    # ------------------------------------------------------------------ dispatch

    def _dispatch(self, now: float) -> None:
        """Give each waiting call, in service order, the best eligible available agent.

        The waiting lines of the queues idle agents might serve are merged in service
        order. When a call finds nobody, neither will the calls after it of the same
        queue and priority: they arrived later, so no tier has widened further for them,
        and agents only leave the idle pool during a dispatch. Those are skipped at once.
        """
        free = self._index.idle_unblocked(now)
        if not free:
            return
        best_levels: dict[tuple[str, str], int | None] = {}
        lines: list[WaitingLine] = []
        heads: list[tuple[tuple[int, float, int], int]] = []
        for key, line in self._waiting.lines():
            if self._queue_may_match(key, now):
                heads.append((line.keys[0], len(lines)))
                lines.append(line)
        heapq.heapify(heads)
        places = [0] * len(lines)
        while heads:
            _, number = heapq.heappop(heads)
            line, place = lines[number], places[number]
            call = line.call_at(place)
            if call.detached_at is not None:
                place += 1
            else:
                agent = self._choose(call, now, best_levels)
                if agent is None:
                    place = line.next_priority(place)
                else:
                    self._offer(call, agent, now)  # leaves the line: the next moves up
                    free -= 1
                    if not free:
                        return
            places[number] = place
            if place < len(line):
                heapq.heappush(heads, (line.keys[place], number))

    def _queue_may_match(self, key: tuple[str, str], now: float) -> bool:
        """Cheap pre-filter: could any idle agent serve some call of this queue now?"""
        partition, skill = key
        if skill.startswith("@"):
            target = self.agents.get(skill[1:])
            return target is not None and target.available(now)
        return bool(self._index.idle_by_level(partition, skill)) or \
            bool(self._index.idle_in(partition))

    def _eligible(self, agent: Agent, call: Call, now: float,
                  best_levels: dict[tuple[str, str], int | None] | None = None) -> bool:
        """Available now and allowed by the tiers (best levels cached per dispatch)."""
        if not agent.available(now):
            return False
        return may_serve(agent, call, now, self.config, self._best_level(call, best_levels))

    def _best_level(self, call: Call,
                    best_levels: dict[tuple[str, str], int | None] | None) -> int | None:
        key = (call.partition, call.skill)
        if best_levels is not None and key in best_levels:
            return best_levels[key]
        best = self._index.best_level(*key)
        if best_levels is not None:
            best_levels[key] = best
        return best

    def _choose(self, call: Call, now: float,
                best_levels: dict[tuple[str, str], int | None]) -> Agent | None:
        """The agent for ``call`` now, if any: skill holders before others, best level
        first; the strategy breaks ties among the idle agents of that tier."""
        if call.target_agent_id is not None:
            target = self.agents.get(call.target_agent_id)
            return target if target is not None and target.available(now) else None
        by_level = self._index.idle_by_level(call.partition, call.skill)
        if by_level:
            best = self._best_level(call, best_levels)
            for level in serving_levels(call, now, self.config, best, by_level.keys()):
                agent = self._pick(by_level[level], now, None)
                if agent is not None:
                    return agent
        if widened_to_partition(call, now, self.config):
            return self._pick(self._index.idle_in(call.partition), now, call.skill)
        return None

    def _pick(self, line: IdleLine, now: float, lacking: str | None) -> Agent | None:
        """The strategy's choice among ``line``'s agents past their delay (and, with
        ``lacking``, without that skill); the line is in longest-idle order already."""
        if self.strategy is longest_idle:
            for agent in line:
                if agent.blocked_until <= now and (lacking is None
                                                   or lacking not in agent.skills):
                    return agent
            return None
        tier = [agent for agent in line if agent.blocked_until <= now
                and (lacking is None or lacking not in agent.skills)]
        return self.strategy(tier) if tier else None

    # ------------------------------------------------------------------ timers

    def _schedule(self, at: float, kind: TimerKind, key: str) -> None:
        self._timers.schedule(at, kind, key)

    def _timer_live(self, timer: Timer) -> bool:
        """Whether a timer still means something; stale ones are dropped unfired."""
        if timer.kind in (TimerKind.WRAP_UP_ENDS, TimerKind.AGENT_UNBLOCKED):
            agent = self.agents.get(timer.key)
            if agent is None:
                return False
            if timer.kind is TimerKind.WRAP_UP_ENDS:
                return agent.activity is Activity.WRAP_UP and agent.wrap_up_until == timer.at
            return agent.blocked_until == timer.at
        call = self.calls.get(timer.key)
        if call is None:
            return False
        if timer.kind is TimerKind.OFFER_EXPIRES:
            return call.status is CallStatus.RINGING and call.offer_expires_at == timer.at
        if timer.kind is TimerKind.GRACE_ENDS:
            return (call.detached_at is not None
                    and call.detached_at + self.config.resume_grace == timer.at)
        # A ringing call may come back to the queue, so its tier and max-wait timers stay.
        if timer.kind is TimerKind.MAX_WAIT:
            return call.status in (CallStatus.WAITING, CallStatus.RINGING) and \
                not call.callback_offered
        return call.status in (CallStatus.WAITING, CallStatus.RINGING)

    def _fire_due_timers(self, now: float) -> None:
        while (timer := self._timers.pop_due(now)) is not None:
            if not self._timer_live(timer):
                continue
            if timer.kind is TimerKind.OFFER_EXPIRES:
                self._time_out_offer(self.calls[timer.key], now)
            elif timer.kind is TimerKind.WRAP_UP_ENDS:
                self._finish_wrap_up(self.agents[timer.key], now)
            elif timer.kind is TimerKind.GRACE_ENDS:
                call = self.calls[timer.key]
                if call.status is CallStatus.CONNECTED:
                    self._end_connected(call, now, reason="caller_lost")
                else:
                    self._end_unanswered(call, now, reason="caller_lost",
                                         disposition=Disposition.ABANDONED)
            elif timer.kind is TimerKind.MAX_WAIT:
                self._offer_callback(self.calls[timer.key], "max_wait")
            # AGENT_UNBLOCKED and TIER_WIDENS only need the dispatch that follows.

    # ------------------------------------------------------------------ queue helpers

    def _remove_from_queue(self, call: Call) -> None:
        queue = self._queues.get(call.queue_key)
        if queue is None:
            return
        # Found by its order (queues are kept sorted), not by a scan: a queue also
        # holds every call ringing at an agent, which can be thousands.
        index = bisect.bisect_left(queue, call.order_key, key=lambda c: c.order_key)
        if index < len(queue) and queue[index] is call:
            del queue[index]
            self._mark_dirty(call.queue_key)
            if not queue:
                del self._queues[call.queue_key]

    def _counter(self, call: Call) -> QueueCounters:
        key = (call.partition, call.skill)
        counters = self._counters.get(key)
        if counters is None:
            counters = self._counters[key] = self._new_counters()
        return counters

    def _new_counters(self) -> QueueCounters:
        return QueueCounters(handle_times=deque(maxlen=self.config.handle_time_window))

    def _anyone_staffed_for(self, call: Call) -> bool:
        if call.target_agent_id is not None:
            agent = self.agents.get(call.target_agent_id)
            return agent is not None and agent.presence is not Presence.OFFLINE
        return self._index.staffed(call.partition, call.skill) > 0

    def _offer_callback(self, call: Call, reason: str) -> None:
        if call.callback_offered or call.status is not CallStatus.WAITING:
            return
        call.callback_offered = True
        self._out.append(CallbackOffered(call.id, reason))

    def _offer_callbacks_where_unstaffed(self, partition: str) -> None:
        for (queue_partition, _), queue in list(self._queues.items()):
            if queue_partition != partition:
                continue
            for call in queue:
                if call.status is CallStatus.WAITING and not self._anyone_staffed_for(call):
                    self._offer_callback(call, "no_agents")

    def _mark_agent_queues_dirty(self, agent: Agent) -> None:
        """Staffing changed, so wait estimates of the agent's queues may change."""
        for skill in agent.skills:
            if (agent.partition, skill) in self._queues:
                self._mark_dirty((agent.partition, skill))

    def _mark_dirty(self, key: tuple[str, str], place: int | None = None) -> None:
        """Places from ``place`` on may have moved in queue ``key``; without ``place``,
        only the wait estimate's rate may have changed."""
        self._dirty.add(key)
        if place is not None:
            self._moved_from[key] = min(place, self._moved_from.get(key, place))

    def _call_changed(self, call: Call) -> None:
        """File ``call`` again in the waiting lines after a change of its status or
        connection: every such change ends here."""
        place = self._waiting.update(call)
        if place is not None:
            self._mark_dirty(call.queue_key, place)

    def _wait_rate(self, key: tuple[str, str]) -> float:
        """Seconds of expected wait per place in the queue: mean recent handle time over
        staffed agents (Asterisk's holdtime estimate, without its smoothing)."""
        partition, skill = key
        if skill.startswith("@"):
            return self.config.default_handle_time
        staffed = max(1, self._index.staffed(partition, skill))
        times = self._counters[key].handle_times if key in self._counters else None
        handle = (sum(times) / len(times)) if times else self.config.default_handle_time
        return handle / staffed

    def _publish_positions(self, now: float) -> None:
        """Tell each waiting caller of a changed queue its place and estimate, if new.

        The estimate is (position - 1/2) x wait rate: the half stands for the residual
        of the calls in progress.
        """
        for key in self._dirty:
            start = self._moved_from.get(key, sys.maxsize)
            line = self._waiting.line(key)
            if line is None:
                self._rates.pop(key, None)
                continue
            rate = self._wait_rate(key)
            if self._rates.get(key) != rate:
                self._rates[key] = rate
                start = 0
            # Places before ``start`` did not move and the rate is the one they were
            # published at, so only the rest can have news.
            ceil, out = math.ceil, self._out
            for position, call in enumerate(line.calls_from(start), start=start + 1):
                estimate = ceil((position - 0.5) * rate)
                if call.last_position != position or call.last_estimate != estimate:
                    call.last_position, call.last_estimate = position, estimate
                    out.append(PositionChanged(call.id, position, estimate))
        self._dirty.clear()
        self._moved_from.clear()

    def _agent_changed(self, agent: Agent, *, announce: bool = True) -> None:
        """File ``agent`` again in the indexes after a change and, unless told not to,
        announce its state: every change to an agent ends here."""
        self._index.update(agent)
        if announce:
            self._emit_agent_state(agent)

    def _emit_agent_state(self, agent: Agent) -> None:
        self._out.append(AgentStateChanged(agent.id, agent.state, agent.not_ready_reason
                                           if agent.state is AgentState.NOT_READY else None,
                                           agent.auto_answer))
