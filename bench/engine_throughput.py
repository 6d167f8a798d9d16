"""Routing engine throughput: events per second and per-event cost at 200 to 5,000 agents.

The pure engine alone (no I/O), seeded, on a simulated floor with a virtual clock: one
district, N agents over 10 skills (three skills each, levels 1-2, a fifth on auto-answer),
a standing queue kept at ``--waiting`` waiting calls, and calls arriving at 95 % of what
the floor can serve (5 % at a higher priority). Agents answer an offer after 0.5-3 s
(7 % reject, 5 % let it time out), talk for 60 s on average (a tenth of the calls are
ended by the caller), and end wrap-up themselves (40 %) or by its 10 s timer; a tenth of
the callers give up while waiting; every agent takes a break about every 20 minutes. The
hub's timer is a Tick at every engine deadline (offer expiry, wrap-up end, widening,
reject delay). The set-up (logins, the first queue, everyone ready) and the first
``--warm-up`` seconds of floor time (until the floor has settled) are not measured.

Only ``Engine.handle`` is timed, so the driver's own bookkeeping does not count:
events/s = events / CPU time of this thread inside it (``time.thread_time_ns``), which a
busy shared machine disturbs far less than wall time; the wall-time rate is reported
too. The run ends with ``Engine.violations()``.

``--baseline REF`` also runs the engine as it was at git ref REF (its ``signaling/routing``
extracted into a temporary package) on the same event stream, in the same process, and
checks that both engines answered every event with the same actions.

    python bench/engine_throughput.py [--agents 200 1000 5000] [--events 30000]
        [--waiting 1000] [--warm-up 120] [--baseline REF] [--json]

``run(agents) -> dict`` is the same measurement for other scripts (bench/run_all.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import heapq
import importlib
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SKILLS = ["water", "electricity", "gas", "transport", "citizen-card", "tv", "tax",
          "social-security", "business-licence", "other"]


@dataclass
class Routing:
    """One version of the routing package: the modules the driver needs."""

    label: str
    engine: ModuleType
    events: ModuleType
    actions: ModuleType
    model: ModuleType


def load_routing(ref: str | None) -> Routing:
    """The working tree's engine (``ref`` None), or the one committed at ``ref``."""
    if ref is None:
        package = "signaling.routing"
    else:
        names = subprocess.run(
            ["git", "ls-tree", "--name-only", ref, "signaling/routing/"], cwd=ROOT,
            check=True, capture_output=True, text=True).stdout.split()
        root = Path(tempfile.mkdtemp(prefix="routing-baseline-"))
        package = "routing_at_" + "".join(c if c.isalnum() else "_" for c in ref)
        (root / package).mkdir()
        for name in names:
            if name.endswith(".py"):
                source = subprocess.run(["git", "show", f"{ref}:{name}"], cwd=ROOT,
                                        check=True, capture_output=True).stdout
                (root / package / Path(name).name).write_bytes(source)
        sys.path.insert(0, str(root))
    return Routing(
        label=ref or "working tree",
        engine=importlib.import_module(f"{package}.engine"),
        events=importlib.import_module(f"{package}.events"),
        actions=importlib.import_module(f"{package}.actions"),
        model=importlib.import_module(f"{package}.model"),
    )


@dataclass
class Floor:
    """A simulated floor on a virtual clock: what agents and callers do next, planned in
    a heap and learnt from the engine's actions alone."""

    rng: random.Random
    agents: int
    waiting_target: int
    talk_time: float = 60.0
    plans: list[tuple[float, int, str, str, str]] = field(default_factory=list)
    seq: int = 0
    calls: int = 0
    ringing: dict[str, str] = field(default_factory=dict)  # agent -> call
    talking: dict[str, str] = field(default_factory=dict)  # agent -> call
    wrapping: set[str] = field(default_factory=set)
    waiting: set[str] = field(default_factory=set)

    @property
    def arrival_rate(self) -> float:
        """Calls/s a little under what the floor can serve: the standing queue is kept
        at its target by extra arrivals when it runs short."""
        return 0.95 * self.agents / (self.talk_time + 8.0)

    def plan(self, at: float, kind: str, agent_id: str = "", call_id: str = "") -> None:
        self.seq += 1
        heapq.heappush(self.plans, (at, self.seq, kind, agent_id, call_id))

    def new_call(self, now: float) -> str:
        self.calls += 1
        call_id = f"c{self.calls}"
        self.waiting.add(call_id)
        if self.rng.random() < 0.1:  # a tenth give up after a while
            self.plan(now + self.rng.uniform(5, 120), "abandon", call_id=call_id)
        return call_id

    def follow(self, routing: Routing, actions: list[Any], now: float) -> None:
        a, rng = routing.actions, self.rng
        for action in actions:
            if isinstance(action, a.OfferCall):
                self.ringing[action.agent_id] = action.call_id
                self.waiting.discard(action.call_id)
                if not action.auto_answer:
                    roll = rng.random()
                    if roll < 0.88:
                        self.plan(now + rng.uniform(0.5, 3), "accept", action.agent_id,
                                  action.call_id)
                    elif roll < 0.95:
                        self.plan(now + rng.uniform(0.5, 2), "reject", action.agent_id,
                                  action.call_id)
                    # else: nobody answers; the offer times out
            elif isinstance(action, a.CallConnected):
                self.ringing.pop(action.agent_id, None)
                self.talking[action.agent_id] = action.call_id
                kind = "agent_hangup" if rng.random() < 0.9 else "caller_hangup"
                self.plan(now + rng.expovariate(1 / self.talk_time), kind, action.agent_id,
                          action.call_id)
            elif isinstance(action, a.OfferCancelled):
                self.ringing.pop(action.agent_id, None)
            elif isinstance(action, a.CallRequeued):
                self.waiting.add(action.call_id)
            elif isinstance(action, a.CallEnded):
                self.waiting.discard(action.call_id)
                if action.agent_id is not None:
                    self.talking.pop(action.agent_id, None)
            elif isinstance(action, a.AgentStateChanged):
                if action.state.value == "wrap_up":
                    self.wrapping.add(action.agent_id)
                    if rng.random() < 0.4:  # the rest wait for the wrap-up timer
                        self.plan(now + rng.uniform(2, 8), "end_wrap_up", action.agent_id)
                else:
                    self.wrapping.discard(action.agent_id)


def _events(seed: int, agents: int, waiting: int, warm_up: float, routing: Routing) -> Any:
    """The event stream of one floor: a generator that yields ``(event, now)`` and is
    sent each event's actions; it yields ``("deadline", now)`` to learn the engine's
    next deadline (sent back), and None once set-up and ``warm_up`` seconds are over."""
    rng = random.Random(seed)
    ev = routing.events
    floor = Floor(rng, agents, waiting)
    now = 0.0
    for n in range(agents):
        skills = {s: rng.choice((1, 1, 2)) for s in rng.sample(SKILLS, 3)}
        floor.follow(routing, (yield ev.AgentLogin(f"a{n}", skills,
                                                   auto_answer=rng.random() < 0.2), now), now)
    for _ in range(waiting):
        event = ev.CallRequested(floor.new_call(now), rng.choice(SKILLS))
        floor.follow(routing, (yield event, now), now)
    for n in range(agents):
        floor.follow(routing, (yield ev.AgentSetReady(f"a{n}"), now), now)
        # Each agent takes a break now and then (about one every 20 minutes).
        floor.plan(now + rng.expovariate(1 / 1200), "break", f"a{n}")
    floor.plan(now + rng.expovariate(floor.arrival_rate), "arrival")
    warm = False
    while True:
        if not warm and now >= warm_up:
            warm = True
            yield None
        deadline = yield ("deadline", now)
        if deadline is not None and deadline <= floor.plans[0][0]:
            now = max(now, deadline)
            floor.follow(routing, (yield ev.Tick(), now), now)
            continue
        at, _, kind, agent_id, call_id = heapq.heappop(floor.plans)
        now = max(now, at)
        event: Any = None
        if kind == "arrival":
            floor.plan(now + rng.expovariate(floor.arrival_rate), "arrival")
            event = ev.CallRequested(floor.new_call(now), rng.choice(SKILLS),
                                     priority=1 if rng.random() < 0.05 else 0)
        elif kind in ("accept", "reject") and floor.ringing.get(agent_id) == call_id:
            event = (ev.AgentAccept if kind == "accept" else ev.AgentReject)(agent_id,
                                                                              call_id)
        elif kind == "agent_hangup" and floor.talking.get(agent_id) == call_id:
            event = ev.AgentHangup(agent_id, call_id)
        elif kind == "caller_hangup" and floor.talking.get(agent_id) == call_id:
            event = ev.CallerHangup(call_id)
        elif kind == "abandon" and call_id in floor.waiting:
            event = ev.CallerHangup(call_id)
        elif kind == "end_wrap_up" and agent_id in floor.wrapping:
            event = ev.AgentEndWrapUp(agent_id)
        elif kind == "break":
            event = ev.AgentSetNotReady(agent_id, "break")
            floor.plan(now + rng.uniform(60, 300), "back", agent_id)
            floor.plan(now + rng.expovariate(1 / 1200), "break", agent_id)
        elif kind == "back":
            event = ev.AgentSetReady(agent_id)
        if event is not None:
            floor.follow(routing, (yield event, now), now)
        while len(floor.waiting) < waiting:  # keep the standing queue at its target
            event = ev.CallRequested(floor.new_call(now), rng.choice(SKILLS))
            floor.follow(routing, (yield event, now), now)


def measure(routings: list[Routing], agents: int, events: int, waiting: int,
            seed: int, warm_up: float = 120.0) -> list[dict[str, Any]]:
    """Drive each routing version with the same stream; figures per version."""
    engines = [r.engine.Engine(r.model.RoutingConfig(wrap_up_time=10, ring_timeout=10,
                                                     max_wait=1e9)) for r in routings]
    timings: list[list[int]] = [[] for _ in routings]
    mix: dict[str, int] = {}
    walls: list[list[int]] = [[] for _ in routings]
    # One stream, driven by the first version's actions; the others must answer alike.
    stream = _events(seed, agents, waiting, warm_up, routings[0])
    item = next(stream)
    measuring = False
    now = 0.0
    while True:
        if item is None:
            measuring = True
            item = next(stream)
            continue
        if item[0] == "deadline":
            item = stream.send(engines[0].next_deadline())
            continue
        event, now = item
        answers = []
        for index, (routing, engine) in enumerate(zip(routings, engines, strict=True)):
            same = _translate(event, routing)
            start_wall, start = time.perf_counter_ns(), time.thread_time_ns()
            try:
                actions = engine.handle(same, now)
            except routing.model.RoutingError as error:
                actions = list(error.actions)
            spent, wall = time.thread_time_ns() - start, time.perf_counter_ns() - start_wall
            if measuring:
                timings[index].append(spent)
                if index == 0:
                    mix[type(event).__name__] = mix.get(type(event).__name__, 0) + 1
                walls[index].append(wall)
            answers.append(actions)
        if len(routings) > 1:
            first = _comparable(answers[0])
            for routing, other in zip(routings[1:], answers[1:], strict=True):
                if _comparable(other) != first:
                    raise AssertionError(f"{routing.label} answered {event} differently")
        if measuring and len(timings[0]) >= events:
            break
        item = stream.send(answers[0])
    results = []
    for routing, engine, spent, wall in zip(routings, engines, timings, walls, strict=True):
        problems = engine.violations(now)
        assert problems == [], problems[:3]
        ordered = sorted(spent)
        results.append({
            "engine": routing.label,
            "agents": agents,
            "events": len(spent),
            "initial_waiting": waiting,
            "final_waiting": len(engine.waiting_calls()),
            "events_per_second": round(len(spent) / (sum(spent) / 1e9)),
            "events_per_second_wall": round(len(wall) / (sum(wall) / 1e9)),
            "p50_ms": round(statistics.median(ordered) / 1e6, 4),
            "p99_ms": round(ordered[int(0.99 * (len(ordered) - 1))] / 1e6, 4),
            "max_ms": round(ordered[-1] / 1e6, 3),
            "share_over_1ms_percent": round(
                100 * sum(t > 1_000_000 for t in ordered) / len(ordered), 2),
            "event_mix": dict(sorted(mix.items(), key=lambda kv: -kv[1])),
        })
    return results


def _comparable(actions: list[Any]) -> tuple[list[str], list[str]]:
    """Actions as text; position updates of different queues may come in any order."""
    positions = sorted(repr(a) for a in actions if type(a).__name__ == "PositionChanged")
    return [repr(a) for a in actions if type(a).__name__ != "PositionChanged"], positions


def _translate(event: Any, routing: Routing) -> Any:
    """The same event as an instance of ``routing``'s own event classes."""
    cls = getattr(routing.events, type(event).__name__)
    if cls is type(event):
        return event
    known = {f.name for f in dataclasses.fields(cls)}
    fields = {name: value for name, value in vars(event).items()
              if name in known or value is not None}  # newer fields left at their default
    if "origin" in fields:
        fields["origin"] = routing.model.Origin(fields["origin"].value)
    return cls(**fields)


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"python": platform.python_version(), "cpu": cpu, "cores": os.cpu_count(),
            "load_average_1min": os.getloadavg()[0]}


def run(agents: list[int], *, events: int = 30_000, waiting: int = 1000, seed: int = 7,
        warm_up: float = 120.0, baseline: str | None = None) -> dict[str, Any]:
    """Events/s at each floor size in ``agents``; with ``baseline``, side by side with the
    engine at that git ref (and ``speedup`` = working tree / baseline)."""
    routings = [load_routing(None)]
    if baseline is not None:
        routings.append(load_routing(baseline))
    rows = []
    for size in agents:
        results = measure(routings, size, events, waiting, seed, warm_up)
        row: dict[str, Any] = {"agents": size, "engine": results[0]}
        if baseline is not None:
            row["baseline"] = results[1]
            row["speedup"] = round(results[0]["events_per_second"]
                                   / results[1]["events_per_second"], 1)
        rows.append(row)
    return {"benchmark": "engine_throughput", "baseline_ref": baseline, "events": events,
            "waiting": waiting, "warm_up_seconds": warm_up, "seed": seed,
            "machine": machine(), "results": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, nargs="+", default=[200, 1000, 5000])
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--waiting", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--warm-up", type=float, default=120.0,
                        help="seconds of floor time before measuring")
    parser.add_argument("--baseline", metavar="REF", default=None,
                        help="also run the engine at this git ref, side by side")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    report = run(args.agents, events=args.events, waiting=args.waiting, seed=args.seed,
                 warm_up=args.warm_up, baseline=args.baseline)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"machine: {report['machine']}")
    print("| agents | engine | events/s (CPU) | events/s (wall) | p50 ms | p99 ms | max ms "
          "| > 1 ms |")
    print("|---|---|---|---|---|---|---|---|")
    for row in report["results"]:
        for key in ("engine", "baseline"):
            if key in row:
                r = row[key]
                print(f"| {row['agents']} | {r['engine']} | {r['events_per_second']:,} | "
                      f"{r['events_per_second_wall']:,} | "
                      f"{r['p50_ms']} | {r['p99_ms']} | {r['max_ms']} | "
                      f"{r['share_over_1ms_percent']} % |")
        if "speedup" in row:
            print(f"| {row['agents']} | speed-up | {row['speedup']}x | | | | | |")


if __name__ == "__main__":
    main()
