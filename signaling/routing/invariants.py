"""The invariants of the routing core, as one check that lists what is broken.

Run after every step by the property tests and every few seconds by the hub's live
self-check ("distribution must never silently stop", DESIGN.md): an agent holds at most
one call, a call is at most at one agent, no waiting call is lost from its queue, no
available agent is allowed to take a call that is waiting, and the derived agent indexes
dispatch reads agree with the agents themselves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .model import Activity, CallStatus
from .tiers import queue_may_match

if TYPE_CHECKING:
    from .engine import Engine


def find_violations(engine: Engine, now: float) -> list[str]:
    """Human-readable descriptions of every broken invariant; empty when healthy."""
    problems: list[str] = engine.index_problems(now)
    holders: dict[str, str] = {}
    for agent in engine.agents.values():
        if agent.activity in (Activity.RESERVED, Activity.BUSY):
            if agent.call_id is None or agent.call_id not in engine.calls:
                problems.append(f"agent {agent.id} is {agent.activity.value} with no call")
                continue
            if agent.call_id in holders:
                problems.append(f"call {agent.call_id} held by {holders[agent.call_id]} "
                                f"and {agent.id}")
            holders[agent.call_id] = agent.id
            call = engine.calls[agent.call_id]
            if call.agent_id != agent.id:
                problems.append(f"agent {agent.id} holds {call.id} owned by {call.agent_id}")
        elif agent.call_id is not None:
            problems.append(f"agent {agent.id} idle yet holds {agent.call_id}")
    queues = engine.queues()
    for call in engine.calls.values():
        if call.status in (CallStatus.RINGING, CallStatus.CONNECTED):
            holder = engine.agents.get(call.agent_id or "")
            if holder is None or holder.call_id != call.id:
                problems.append(f"call {call.id} {call.status.value} without its agent")
        if call.status in (CallStatus.WAITING, CallStatus.RINGING):
            if call not in queues.get(call.queue_key, ()):
                problems.append(f"call {call.id} lost from its queue")
    # Only available agents can break the last rule; there are few of them when the queue
    # is long, so the check stays cheap enough to run live (1,000 calls x 200 agents).
    free = [agent for agent in engine.agents.values() if agent.available(now)]
    best_levels: dict[tuple[str, str], int | None] = {}
    for (partition, skill), queue in queues.items() if free else ():
        if not queue or not queue_may_match(partition, skill,
                                            min(c.enqueued_at for c in queue), free, now,
                                            engine.config):
            continue
        for call in queue:
            if call.status is not CallStatus.WAITING or call.detached_at is not None:
                continue
            for idle in free:
                if engine.eligible(idle, call, now, best_levels):
                    problems.append(f"agent {idle.id} idle while {call.id} waits")
    return problems
