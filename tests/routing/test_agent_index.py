"""The engine's index of idle agents and staffing (agent_index.py), through the engine.

Dispatch reads the index instead of scanning every agent, so these tests check that the
index picks exactly whom the rules pick (longest idle first, best level first, the wider
tiers as the call waits), that an agent leaves it and comes back at the right place on
every way out, and that drift from the agents is caught by ``violations()``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest

from signaling.routing import events as ev
from signaling.routing.actions import Action, OfferCall
from signaling.routing.agent_index import AgentIndex
from signaling.routing.engine import Engine
from signaling.routing.model import Presence, RoutingConfig
from signaling.routing.strategies import fewest_calls

SKILL = "tax"
QUIET = RoutingConfig(widen_to_all_levels_after=1000, widen_to_partition_after=2000,
                      max_wait=5000, wrap_up_time=0)


def offers(actions: list[Action]) -> list[tuple[str, str]]:
    return [(a.agent_id, a.call_id) for a in actions if isinstance(a, OfferCall)]


def ready(engine: Engine, agent_id: str, skills: dict[str, int], now: float,
          partition: str = "default") -> None:
    engine.handle(ev.AgentLogin(agent_id, skills, partition), now)
    engine.handle(ev.AgentSetReady(agent_id), now)


def idle_line(engine: Engine, skill: str = SKILL, level: int = 1,
              partition: str = "default") -> list[str]:
    """Who the index holds idle at this level, in the order they would be offered."""
    line = engine._index.idle_by_level(partition, skill).get(level)
    return [agent.id for agent in line] if line is not None else []


def request(engine: Engine, call_id: str, now: float, skill: str = SKILL,
            partition: str = "default") -> list[tuple[str, str]]:
    return offers(engine.handle(ev.CallRequested(call_id, skill, partition=partition), now))


def test_longest_idle_first_and_ties_go_to_the_smaller_id() -> None:
    engine = Engine(QUIET)
    for agent_id, since in (("d", 1.0), ("c", 1.0), ("a", 2.0), ("b", 3.0)):
        ready(engine, agent_id, {SKILL: 1}, since)

    assert idle_line(engine) == ["c", "d", "a", "b"]
    assert [request(engine, f"call{n}", 10.0 + n) for n in range(4)] == [
        [("c", "call0")], [("d", "call1")], [("a", "call2")], [("b", "call3")]]
    assert idle_line(engine) == []
    assert engine.violations(14.0) == []


def test_any_strategy_chooses_among_the_same_tier() -> None:
    engine = Engine(QUIET, strategy=fewest_calls)
    ready(engine, "veteran", {SKILL: 1}, 0.0)
    ready(engine, "second", {SKILL: 1}, 1.0)
    assert request(engine, "c1", 2.0) == [("veteran", "c1")]
    engine.handle(ev.AgentAccept("veteran", "c1"), 3.0)
    engine.handle(ev.AgentHangup("veteran", "c1"), 4.0)  # wrap-up 0: idle again at 4
    engine.handle(ev.AgentEndWrapUp("veteran"), 4.0)

    assert idle_line(engine) == ["second", "veteran"]
    # Longest idle would pick "second" anyway; make the veteran the longest idle instead.
    engine.handle(ev.AgentSetNotReady("second"), 5.0)
    engine.handle(ev.AgentSetReady("second"), 6.0)
    assert idle_line(engine) == ["veteran", "second"]
    assert request(engine, "c2", 7.0) == [("second", "c2")]  # fewer calls answered


def test_the_second_level_waits_for_widening_then_the_best_level_still_comes_first() -> None:
    engine = Engine(RoutingConfig(widen_to_all_levels_after=10, widen_to_partition_after=60,
                                  max_wait=1000, wrap_up_time=0))
    ready(engine, "one", {SKILL: 1}, 0.0)
    ready(engine, "two-old", {SKILL: 2}, 0.0)
    ready(engine, "two-new", {SKILL: 2}, 1.0)
    assert request(engine, "first", 2.0) == [("one", "first")]
    engine.handle(ev.AgentAccept("one", "first"), 2.0)

    assert request(engine, "c", 3.0) == []  # a level-1 agent is logged in: wait for it
    assert idle_line(engine, level=2) == ["two-old", "two-new"]
    assert offers(engine.handle(ev.Tick(), 13.0)) == [("two-old", "c")]

    engine.handle(ev.AgentHangup("one", "first"), 14.0)
    engine.handle(ev.AgentEndWrapUp("one"), 14.0)  # idle again, newest of all
    assert request(engine, "d", 15.0) == [("one", "d")]


def test_after_widening_the_best_idle_level_still_comes_before_the_longest_idle() -> None:
    engine = Engine(RoutingConfig(widen_to_all_levels_after=0, max_wait=1000))
    ready(engine, "two", {SKILL: 2}, 0.0)
    ready(engine, "one", {SKILL: 1}, 5.0)
    assert idle_line(engine, level=2) == ["two"] and idle_line(engine, level=1) == ["one"]
    assert request(engine, "c", 6.0) == [("one", "c")]


def test_the_district_takes_over_after_the_partition_wait_longest_idle_first() -> None:
    engine = Engine(RoutingConfig(widen_to_all_levels_after=10, widen_to_partition_after=60,
                                  max_wait=1000))
    ready(engine, "holder-busy", {SKILL: 1}, 0.0)
    assert request(engine, "first", 0.0) == [("holder-busy", "first")]
    engine.handle(ev.AgentAccept("holder-busy", "first"), 0.0)
    ready(engine, "other-new", {"water": 1}, 2.0)
    ready(engine, "other-old", {"gas": 1}, 1.0)
    ready(engine, "elsewhere", {"water": 1}, 0.0, partition="north")

    assert request(engine, "c", 5.0) == []
    assert [a.id for a in engine._index.idle_in("default")] == ["other-old", "other-new"]
    assert offers(engine.handle(ev.Tick(), 64.9)) == []
    assert offers(engine.handle(ev.Tick(), 65.0)) == [("other-old", "c")]
    assert engine.violations(65.0) == []


def _out_by_not_ready(engine: Engine, now: float) -> None:
    engine.handle(ev.AgentSetNotReady("x", "lunch"), now)


def _back_by_ready(engine: Engine, now: float) -> None:
    engine.handle(ev.AgentSetReady("x"), now)


def _out_by_offer(engine: Engine, now: float) -> None:
    assert request(engine, "offered", now) == [("x", "offered")]


def _back_by_caller_hangup(engine: Engine, now: float) -> None:
    engine.handle(ev.CallerHangup("offered"), now)


def _out_by_call(engine: Engine, now: float) -> None:
    _out_by_offer(engine, now)
    engine.handle(ev.AgentAccept("x", "offered"), now)
    engine.handle(ev.AgentHangup("x", "offered"), now)  # wrap-up, until the agent ends it


def _back_by_end_wrap_up(engine: Engine, now: float) -> None:
    engine.handle(ev.AgentEndWrapUp("x"), now)


def _out_by_detach(engine: Engine, now: float) -> None:
    engine.handle(ev.AgentDetached("x"), now)


def _back_by_login(engine: Engine, now: float) -> None:
    engine.handle(ev.AgentLogin("x", {SKILL: 1}), now)


def _out_by_logout(engine: Engine, now: float) -> None:
    engine.handle(ev.AgentLogout("x"), now)


def _back_by_login_and_ready(engine: Engine, now: float) -> None:
    ready(engine, "x", {SKILL: 1}, now)


@pytest.mark.parametrize(("leave", "come_back", "place"), [
    (_out_by_not_ready, _back_by_ready, ["early", "late", "x"]),
    (_out_by_offer, _back_by_caller_hangup, ["x", "early", "late"]),  # keeps its idle time
    (_out_by_call, _back_by_end_wrap_up, ["early", "late", "x"]),
    (_out_by_detach, _back_by_login, ["x", "early", "late"]),  # keeps its idle time
    (_out_by_logout, _back_by_login_and_ready, ["early", "late", "x"]),
], ids=["not_ready", "offer", "wrap_up", "detached", "logout"])
def test_an_agent_leaves_the_idle_line_and_comes_back_at_its_place(
        leave: Callable[[Engine, float], None], come_back: Callable[[Engine, float], None],
        place: list[str]) -> None:
    engine = Engine(QUIET)  # wrap-up lasts until the agent ends it
    ready(engine, "x", {SKILL: 1}, 0.0)
    leave(engine, 1.0)
    assert "x" not in idle_line(engine)
    assert engine.violations(1.0) == []
    ready(engine, "early", {SKILL: 1}, 2.0)
    ready(engine, "late", {SKILL: 1}, 3.0)
    come_back(engine, 4.0)

    assert idle_line(engine) == place
    assert engine.violations(4.0) == []
    assert request(engine, "next", 5.0) == [(place[0], "next")]


def test_a_rejecting_agent_stays_filed_but_is_skipped_until_its_delay_is_over() -> None:
    engine = Engine(RoutingConfig(reject_delay=5, widen_to_all_levels_after=1000,
                                  widen_to_partition_after=2000, max_wait=5000))
    ready(engine, "r", {SKILL: 1}, 0.0)
    ready(engine, "s", {SKILL: 1}, 1.0)
    assert request(engine, "c1", 2.0) == [("r", "c1")]
    assert offers(engine.handle(ev.AgentReject("r", "c1"), 3.0)) == [("s", "c1")]
    assert request(engine, "c2", 4.0) == []

    assert idle_line(engine) == ["r"]
    assert engine._index.idle_unblocked(4.0) == 0
    assert engine.violations(4.0) == []
    assert offers(engine.handle(ev.Tick(), 8.0)) == [("r", "c2")]


def test_staffing_follows_logins_refreshes_and_logouts() -> None:
    engine = Engine(QUIET)
    ready(engine, "a", {SKILL: 2, "water": 1}, 0.0)
    engine.handle(ev.AgentLogin("b", {SKILL: 1}), 0.0)  # logged in, not ready

    stats = {(s.partition, s.skill): s for s in engine.queue_stats(0.0)}
    assert (stats[("default", SKILL)].staffed_agents,
            stats[("default", SKILL)].ready_agents) == (2, 1)
    assert engine._index.best_level("default", SKILL) == 1

    engine.handle(ev.AgentLogin("b", {SKILL: 3}, "north"), 1.0)  # refreshed elsewhere
    assert engine._index.best_level("default", SKILL) == 2
    assert engine._index.staffed("north", SKILL) == 1
    engine.handle(ev.AgentLogout("a"), 2.0)
    assert engine._index.staffed("default", SKILL) == 0
    assert {(s.partition, s.skill) for s in engine.queue_stats(2.0)} == {("north", SKILL)}
    assert engine.violations(2.0) == []


def test_a_change_behind_the_engines_back_is_reported_and_a_rebuild_mends_it() -> None:
    engine = Engine(QUIET)
    ready(engine, "a", {SKILL: 1}, 0.0)
    engine.agents["a"].presence = Presence.NOT_READY  # not through an event

    assert any("index" in problem for problem in engine.violations(1.0))
    engine._rebuild_indexes()
    assert engine.violations(1.0) == []
    assert request(engine, "c", 2.0) == []


def test_an_engine_given_its_agents_from_elsewhere_routes_alike_after_a_rebuild() -> None:
    original = Engine(QUIET)
    for n, since in enumerate((5.0, 2.0, 9.0, 2.0)):
        ready(original, f"a{n}", {SKILL: 1 + n % 2, "water": 1}, since)
    restored = Engine(QUIET)
    restored.agents = copy.deepcopy(original.agents)
    assert restored.violations(10.0) != []  # the agents came without their index
    restored._rebuild_indexes()
    assert restored.violations(10.0) == []

    for engine in (original, restored):
        assert [request(engine, f"c{n}", 10.0 + n, skill=skill)
                for n, skill in enumerate((SKILL, "water", "water", SKILL))] == [
            [("a0", "c0")], [("a1", "c1")], [("a3", "c2")], [("a2", "c3")]]


def test_an_index_built_at_once_equals_one_kept_up_event_by_event() -> None:
    engine = Engine(QUIET)
    for n in range(30):
        ready(engine, f"a{n}", {SKILL: 1 + n % 3, "water": 1 + n % 2}, float(n % 7))
    for n in range(10):
        request(engine, f"c{n}", 10.0, skill=(SKILL, "water")[n % 2])
    engine.handle(ev.AgentSetNotReady("a5"), 11.0)

    assert engine.index_problems(11.0) == []
    fresh = AgentIndex.build(engine.agents.values())
    for skill in (SKILL, "water"):
        for level in (1, 2, 3):
            line = fresh.idle_by_level("default", skill).get(level)
            expected = sorted((a for a in line or ()), key=lambda a: (a.idle_since, a.id))
            assert idle_line(engine, skill, level) == [a.id for a in expected]
