"""A restored snapshot plus the rest of the log is the engine that saw the whole log.

This is what a cluster node relies on when it starts, or takes over a partition: it loads
the last snapshot (through JSON, as stored in Redis) and replays the entries after it
(through the log's JSON codec).
Random event sequences (with ticks at the engine's own deadlines and illegal events on
purpose) are cut at a random point; the restored twin must emit the same actions (and
refuse the same events) for the rest, and end in the same state.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.strategies import DataObject

from signaling.cluster.codec import decode_event, encode_event
from signaling.routing import events as ev
from signaling.routing import snapshot as snapshots
from signaling.routing.engine import Engine
from signaling.routing.model import (
    Activity,
    Agent,
    Call,
    Origin,
    RoutingConfig,
    RoutingError,
)
from signaling.routing.stats import QueueCounters

pytestmark = pytest.mark.filterwarnings(
    "ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning")

AGENTS = ("a0", "a1", "a2", "a3")
SKILLS = ("s1", "s2")
PARTITIONS = ("p1", "p2")
STEPS = (0.0, 0.25, 1.0, 3.0, 10.0, 40.0)

configs = st.builds(
    RoutingConfig,
    ring_timeout=st.sampled_from([2.0, 15.0]),
    max_no_answer=st.integers(1, 2),
    reject_delay=st.sampled_from([0.0, 5.0]),
    no_answer_delay=st.sampled_from([0.0, 3.0]),
    wrap_up_time=st.sampled_from([0.0, 10.0]),
    widen_to_all_levels_after=st.sampled_from([0.0, 10.0]),
    resume_grace=st.sampled_from([5.0, 30.0]),
    max_wait=st.sampled_from([30.0, 120.0]),
    handle_time_window=st.sampled_from([2, 50]),
)

Outcome = tuple[str, Any]


def draw_event(data: DataObject, engine: Engine, calls: list[str]) -> ev.Event:
    """Mostly events that fit the state; ids drawn from all known ones, so some are not."""
    agent_id = data.draw(st.sampled_from(AGENTS))
    agent = engine.agents.get(agent_id)
    holding = agent.call_id if agent is not None and agent.call_id else None
    call_id = holding or data.draw(st.sampled_from(calls or ["c0"]))
    kind = data.draw(st.sampled_from((
        "call", "call", "call", "accept", "accept", "accept", "reject", "hangup", "hangup",
        "wrap_up", "ready", "ready", "not_ready", "login", "logout", "auto", "agent_away",
        "caller_hangup", "detach", "resume", "callback", "tick", "tick")))
    match kind:
        case "call":
            calls.append(f"c{len(calls) + 1}")
            target = data.draw(st.sampled_from((None, None, None, "a0")))
            return ev.CallRequested(calls[-1], data.draw(st.sampled_from(SKILLS)),
                                    Origin.INVITE if target else Origin.KIOSK,
                                    data.draw(st.sampled_from(PARTITIONS)),
                                    data.draw(st.integers(0, 2)), "label",
                                    target_agent_id=target)
        case "accept":
            return ev.AgentAccept(agent_id, call_id)
        case "reject":
            return ev.AgentReject(agent_id, call_id)
        case "hangup":
            return ev.AgentHangup(agent_id, call_id)
        case "wrap_up":
            return ev.AgentEndWrapUp(agent_id)
        case "ready":
            return ev.AgentSetReady(agent_id)
        case "not_ready":
            return ev.AgentSetNotReady(agent_id, "lunch")
        case "login":
            skills = data.draw(st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 2),
                                               min_size=1))
            return ev.AgentLogin(agent_id, skills, data.draw(st.sampled_from(PARTITIONS)),
                                 data.draw(st.booleans()))
        case "logout":
            return ev.AgentLogout(agent_id)
        case "auto":
            return ev.AgentSetAutoAnswer(agent_id, data.draw(st.booleans()))
        case "agent_away":
            return ev.AgentDetached(agent_id)
        case "caller_hangup":
            return ev.CallerHangup(call_id)
        case "detach":
            return ev.CallerDetached(call_id)
        case "resume":
            return ev.CallerResumed(call_id)
        case "callback":
            return ev.CallbackAccepted(call_id)
        case _:
            return ev.Tick()


def draw_log(data: DataObject, config: RoutingConfig) -> list[tuple[ev.Event, float]]:
    """A log as a cluster writes it: events at non-decreasing times, and the leader's
    ticks at the engine's deadlines (sometimes late, as after a takeover)."""
    driver, now = Engine(config), 0.0
    log: list[tuple[ev.Event, float]] = []
    calls: list[str] = []
    for agent_id in AGENTS[:data.draw(st.integers(1, len(AGENTS)))]:
        log.append((ev.AgentLogin(agent_id, {"s1": 1}, "p1"), now))
        log.append((ev.AgentSetReady(agent_id), now))
    for _ in range(data.draw(st.integers(1, 60))):
        now += data.draw(st.sampled_from(STEPS))
        while (deadline := driver.next_deadline()) is not None and deadline <= now:
            if data.draw(st.integers(0, 3)) == 0:
                break  # nobody ticked: the next event fires the timers itself
            log.append((ev.Tick(), deadline))
        log.append((draw_event(data, driver, calls), now))
        apply(driver, *log[-1])
    return log


def apply(engine: Engine, event: ev.Event, now: float) -> Outcome:
    """Actions, or the refusal with the actions of the timers that fired anyway."""
    try:
        return ("ok", engine.handle(event, now))
    except RoutingError as error:
        return (error.code, error.actions)


def state_of(engine: Engine, now: float) -> tuple[object, ...]:
    """Everything observable, as text (dataclass reprs list every field)."""
    return (repr(list(engine.agents.values())), repr(list(engine.calls.values())),
            repr(engine.waiting_calls()), repr(engine.queue_stats(now)),
            repr(engine.agent_stats()), engine.next_deadline(), engine.violations(now))


@settings(max_examples=200, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_snapshot_then_replay_equals_the_uninterrupted_run(data: DataObject) -> None:
    config = data.draw(configs)
    log = draw_log(data, config)
    cut = data.draw(st.integers(0, len(log)))

    whole = Engine(config)
    outcomes = [apply(whole, event, now) for event, now in log]

    first = Engine(config)
    for event, now in log[:cut]:
        apply(first, event, now)
    stored = json.loads(json.dumps(first.snapshot()))
    restored = Engine(config)
    restored.restore(stored)
    assert restored.snapshot() == first.snapshot()
    # The rest comes back from the log as JSON text, as a cluster node reads it.
    rest = [(decode_event(json.loads(json.dumps(encode_event(event)))), now)
            for event, now in log[cut:]]
    assert [event for event, _ in rest] == [event for event, _ in log[cut:]]
    replayed = [apply(restored, event, now) for event, now in rest]

    assert replayed == outcomes[cut:]
    end = log[-1][1]
    assert state_of(restored, end) == state_of(whole, end)
    assert restored.snapshot() == whole.snapshot()


def test_a_snapshot_restores_queue_order_identity_and_timers() -> None:
    """Calls in a queue are the very objects in ``calls``, and pending timers still fire."""
    engine = Engine(RoutingConfig(ring_timeout=5.0))
    engine.handle(ev.AgentLogin("a1", {"tax": 1}, "d1"), 0.0)
    engine.handle(ev.AgentSetReady("a1"), 0.0)
    engine.handle(ev.CallRequested("c1", "tax", partition="d1"), 1.0)
    engine.handle(ev.CallRequested("c2", "tax", partition="d1", priority=1), 2.0)
    restored = Engine(RoutingConfig(ring_timeout=5.0))
    restored.restore(json.loads(json.dumps(engine.snapshot())))
    queue = restored.queues()[("d1", "tax")]
    assert [c.id for c in queue] == ["c2", "c1"]  # priority first; c1 rings at a1
    assert all(c is restored.calls[c.id] for c in queue)
    assert restored.next_deadline() == engine.next_deadline() == 6.0
    timed_out = restored.handle(ev.Tick(), 6.0)
    assert timed_out == engine.handle(ev.Tick(), 6.0)
    assert restored.agents["a1"].activity is Activity.RESERVED  # rung again: c2 now
    assert restored.agents["a1"].call_id == "c2"


def test_the_snapshot_writes_every_field_of_the_model() -> None:
    """A field added to Agent, Call or QueueCounters must be added to the snapshot."""
    assert {f.name for f in dataclasses.fields(Agent)} == set(snapshots.AGENT_FIELDS)
    assert {f.name for f in dataclasses.fields(Call)} == set(snapshots.CALL_FIELDS)
    assert {f.name for f in dataclasses.fields(QueueCounters)} == set(
        snapshots.COUNTER_FIELDS)


def test_a_snapshot_of_another_version_is_refused_and_changes_nothing() -> None:
    engine = Engine()
    engine.handle(ev.AgentLogin("a1", {"tax": 1}), 0.0)
    before = engine.snapshot()
    with pytest.raises(snapshots.SnapshotError):
        engine.restore({**before, "version": 99})
    with pytest.raises(snapshots.SnapshotError):
        engine.restore({**before, "agents": [{"id": "a2"}]})
    assert engine.snapshot() == before
