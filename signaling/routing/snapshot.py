"""The engine's state as plain JSON data, and back (issue 10, state-machine replication).

A cluster node restores an engine from a snapshot and replays the log after it; the
result must be the engine that applied the whole log. So the snapshot holds every piece
of *base* state (agents, calls, queue order, counters, timers, sequence numbers) field by
field, with no pickle, and nothing derived: indexes are rebuilt by the engine after a
restore. Transient per-``handle`` buffers are empty between events and are not kept.
The config and the strategy are the node's settings, not state: every node of a cluster
runs with the same ones.

Timers are written live ones only, in due order. ``next_deadline()`` drops stale timers
from the heap's head, so replicas that asked it at different moments hold different
stale leftovers; a stale timer never fires (and one whose condition comes back is
always scheduled anew), so leaving them out keeps behaviour and makes the snapshots of
equal replicas equal.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from typing import TYPE_CHECKING, Any

from .model import Activity, Agent, AgentCounters, Call, CallStatus, Origin, Presence
from .stats import QueueCounters
from .timers import Timer, TimerHeap, TimerKind

if TYPE_CHECKING:
    from .engine import Engine

SNAPSHOT_VERSION = 1
"""Bumped whenever the layout below changes; an unknown version is refused."""

AGENT_FIELDS = ("id", "skills", "partition", "auto_answer", "detached", "presence",
                "not_ready_reason", "activity", "call_id", "idle_since", "blocked_until",
                "missed_in_row", "wrap_up_until", "wrap_up_queue", "answered_at", "counters")
CALL_FIELDS = ("id", "skill", "partition", "origin", "priority", "enqueued_at", "seq",
               "label", "target_agent_id", "status", "agent_id", "offer_expires_at",
               "answered_at", "detached_at", "callback_offered", "last_position",
               "last_estimate")
COUNTER_FIELDS = ("entered", "answered", "answered_within_sl", "abandoned",
                  "abandoned_short", "abandoned_within_sl", "callbacks", "wait_answered",
                  "wait_abandoned", "handle_times", "handle_time_total", "handled")
"""The fields written, named here so a test can tell when a model gains one unwritten."""


class SnapshotError(ValueError):
    """The data is not a snapshot this code can restore."""


def snapshot(engine: Engine) -> dict[str, Any]:
    """Every piece of base state of ``engine``, as JSON-ready data (lists keep order)."""
    heap = engine._timers
    return {
        "version": SNAPSHOT_VERSION,
        "seq": engine._seq,
        "agents": [_agent(a) for a in engine.agents.values()],
        "calls": [_call(c) for c in engine.calls.values()],
        "queues": [[partition, skill, [c.id for c in queue]]
                   for (partition, skill), queue in engine._queues.items()],
        "counters": [[partition, skill, _counters(c)]
                     for (partition, skill), c in engine._counters.items()],
        "timers": {"seq": heap._seq,
                   "heap": [[t.at, t.seq, t.kind.value, t.key] for t in sorted(heap._heap)
                            if engine._timer_live(t)]},
    }


def restore(engine: Engine, state: dict[str, Any]) -> None:
    """Replace the base state of ``engine`` with ``state`` (from ``snapshot``), in place.

    Raises SnapshotError for a snapshot of another version or shape; the engine is then
    unchanged.
    """
    if state.get("version") != SNAPSHOT_VERSION:
        raise SnapshotError(f"snapshot version {state.get('version')!r} is not "
                            f"{SNAPSHOT_VERSION}")
    try:
        agents = {a.id: a for a in map(_load_agent, state["agents"])}
        calls = {c.id: c for c in map(_load_call, state["calls"])}
        queues = {(str(p), str(s)): [calls[i] for i in ids] for p, s, ids in state["queues"]}
        window = engine.config.handle_time_window
        counters = {(str(p), str(s)): _load_counters(c, window)
                    for p, s, c in state["counters"]}
        timers = TimerHeap()
        timers._seq = int(state["timers"]["seq"])
        timers._heap = [Timer(float(at), int(seq), TimerKind(kind), str(key))
                        for at, seq, kind, key in state["timers"]["heap"]]
        seq = int(state["seq"])
    except (KeyError, TypeError, ValueError) as exc:
        raise SnapshotError(f"malformed snapshot: {exc!r}") from exc
    engine.agents, engine.calls, engine._queues = agents, calls, queues
    engine._counters, engine._timers, engine._seq = counters, timers, seq
    engine._dirty = set()
    engine._out = []


def _agent(agent: Agent) -> dict[str, Any]:
    return {
        "id": agent.id, "skills": dict(agent.skills), "partition": agent.partition,
        "auto_answer": agent.auto_answer, "detached": agent.detached,
        "presence": agent.presence.value, "not_ready_reason": agent.not_ready_reason,
        "activity": agent.activity.value, "call_id": agent.call_id,
        "idle_since": agent.idle_since, "blocked_until": agent.blocked_until,
        "missed_in_row": agent.missed_in_row, "wrap_up_until": agent.wrap_up_until,
        "wrap_up_queue": list(agent.wrap_up_queue) if agent.wrap_up_queue else None,
        "answered_at": agent.answered_at,
        "counters": dataclasses.asdict(agent.counters),
    }


def _load_agent(data: dict[str, Any]) -> Agent:
    queue = data["wrap_up_queue"]
    return Agent(
        id=str(data["id"]), skills={str(k): int(v) for k, v in data["skills"].items()},
        partition=str(data["partition"]), auto_answer=bool(data["auto_answer"]),
        detached=bool(data["detached"]), presence=Presence(data["presence"]),
        not_ready_reason=_opt_str(data["not_ready_reason"]),
        activity=Activity(data["activity"]), call_id=_opt_str(data["call_id"]),
        idle_since=float(data["idle_since"]), blocked_until=float(data["blocked_until"]),
        missed_in_row=int(data["missed_in_row"]),
        wrap_up_until=_opt_float(data["wrap_up_until"]),
        wrap_up_queue=(str(queue[0]), str(queue[1])) if queue is not None else None,
        answered_at=_opt_float(data["answered_at"]),
        counters=AgentCounters(**data["counters"]),
    )


def _call(call: Call) -> dict[str, Any]:
    return {
        "id": call.id, "skill": call.skill, "partition": call.partition,
        "origin": call.origin.value, "priority": call.priority,
        "enqueued_at": call.enqueued_at, "seq": call.seq, "label": call.label,
        "target_agent_id": call.target_agent_id, "status": call.status.value,
        "agent_id": call.agent_id, "offer_expires_at": call.offer_expires_at,
        "answered_at": call.answered_at, "detached_at": call.detached_at,
        "callback_offered": call.callback_offered, "last_position": call.last_position,
        "last_estimate": call.last_estimate,
    }


def _load_call(data: dict[str, Any]) -> Call:
    return Call(
        id=str(data["id"]), skill=str(data["skill"]), partition=str(data["partition"]),
        origin=Origin(data["origin"]), priority=int(data["priority"]),
        enqueued_at=float(data["enqueued_at"]), seq=int(data["seq"]),
        label=str(data["label"]), target_agent_id=_opt_str(data["target_agent_id"]),
        status=CallStatus(data["status"]), agent_id=_opt_str(data["agent_id"]),
        offer_expires_at=_opt_float(data["offer_expires_at"]),
        answered_at=_opt_float(data["answered_at"]),
        detached_at=_opt_float(data["detached_at"]),
        callback_offered=bool(data["callback_offered"]),
        last_position=_opt_int(data["last_position"]),
        last_estimate=_opt_int(data["last_estimate"]),
    )


def _counters(counters: QueueCounters) -> dict[str, Any]:
    return {name: (list(counters.handle_times) if name == "handle_times"
                   else getattr(counters, name)) for name in COUNTER_FIELDS}


def _load_counters(data: dict[str, Any], window: int) -> QueueCounters:
    values = {name: data[name] for name in COUNTER_FIELDS if name != "handle_times"}
    return QueueCounters(**values,
                         handle_times=deque(map(float, data["handle_times"]), maxlen=window))


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)
