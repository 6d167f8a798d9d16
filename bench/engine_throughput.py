"""Routing engine throughput: events per second and per-event cost, no I/O at all.

A simulated busy district: 200 agents over 10 skills (levels 1-2), a standing queue of
about 1,000 waiting calls, and a stream of arrivals, accepts, hang-ups, wrap-up ends,
abandons and rejects driven by a seeded random generator on a virtual clock. Reports
events/s and the p50/p99 of one ``Engine.handle`` call, and the share of events that were
slower than 1 ms.

    python bench/engine_throughput.py [--events 50000] [--agents 200] [--waiting 1000]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from signaling.routing import events as ev  # noqa: E402
from signaling.routing.actions import CallConnected, CallEnded, OfferCall  # noqa: E402
from signaling.routing.engine import Engine  # noqa: E402
from signaling.routing.model import RoutingConfig, RoutingError  # noqa: E402

SKILLS = ["water", "electricity", "gas", "transport", "citizen-card", "tv", "tax",
          "social-security", "business-licence", "other"]


def run(events: int, agents: int, waiting: int, seed: int) -> dict[str, float | int]:
    rng = random.Random(seed)
    engine = Engine(RoutingConfig(wrap_up_time=5, ring_timeout=10, max_wait=1e9))
    now = 0.0
    offers: dict[str, str] = {}  # agent -> ringing call
    talking: dict[str, str] = {}  # agent -> connected call
    waiting_ids: list[str] = []
    timings: list[float] = []
    counter = 0

    def handle(event: ev.Event) -> None:
        nonlocal now
        start = time.perf_counter_ns()
        try:
            actions = engine.handle(event, now)
        except RoutingError:
            return
        finally:
            timings.append((time.perf_counter_ns() - start) / 1e6)
        for action in actions:
            if isinstance(action, OfferCall):
                offers[action.agent_id] = action.call_id
            elif isinstance(action, CallConnected):
                offers.pop(action.agent_id, None)
                talking[action.agent_id] = action.call_id
            elif isinstance(action, CallEnded):
                if action.agent_id is not None:
                    talking.pop(action.agent_id, None)
                for agent_id, call_id in list(offers.items()):
                    if call_id == action.call_id:
                        del offers[agent_id]

    for n in range(agents):
        skills = {s: rng.choice((1, 1, 2)) for s in rng.sample(SKILLS, 3)}
        handle(ev.AgentLogin(f"a{n}", skills))
    for _ in range(waiting):
        counter += 1
        waiting_ids.append(f"c{counter}")
        handle(ev.CallRequested(f"c{counter}", rng.choice(SKILLS)))
    for n in range(agents):
        handle(ev.AgentSetReady(f"a{n}"))
    timings.clear()

    started = time.perf_counter()
    while len(timings) < events:
        now += rng.expovariate(200.0)
        roll = rng.random()
        # Keep the standing queue near its initial length: arrivals when it is short.
        if roll < 0.30 or len(engine.calls) - len(talking) < waiting:
            counter += 1
            waiting_ids.append(f"c{counter}")
            handle(ev.CallRequested(f"c{counter}", rng.choice(SKILLS),
                                    priority=1 if rng.random() < 0.05 else 0))
        elif roll < 0.55 and offers:
            agent_id = rng.choice(list(offers))
            call_id = offers[agent_id]
            if rng.random() < 0.9:
                handle(ev.AgentAccept(agent_id, call_id))
            else:
                offers.pop(agent_id)
                handle(ev.AgentReject(agent_id, call_id))
        elif roll < 0.80 and talking:
            agent_id = rng.choice(list(talking))
            handle(ev.AgentHangup(agent_id, talking[agent_id]))
        elif roll < 0.85 and waiting_ids:
            call_id = waiting_ids.pop(rng.randrange(len(waiting_ids)))
            if call_id in engine.calls:
                handle(ev.CallerHangup(call_id))
        else:
            deadline = engine.next_deadline()
            if deadline is not None and deadline > now:
                now = deadline
            handle(ev.Tick())
    elapsed = time.perf_counter() - started
    ordered = sorted(timings)
    assert engine.violations(now) == [], engine.violations(now)[:3]
    return {
        "events": len(timings),
        "agents": agents,
        "initial_waiting": waiting,
        "final_waiting": len(engine.waiting_calls()),
        "events_per_second": round(len(timings) / elapsed),
        "p50_ms": round(statistics.median(ordered), 4),
        "p99_ms": round(ordered[int(0.99 * (len(ordered) - 1))], 4),
        "max_ms": round(ordered[-1], 3),
        "share_over_1ms_percent": round(100 * sum(t > 1 for t in ordered) / len(ordered), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--waiting", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(json.dumps(run(args.events, args.agents, args.waiting, args.seed), indent=2))


if __name__ == "__main__":
    main()
