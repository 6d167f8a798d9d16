"""Routers per district (issue 10): each router's share of the live state depends on its
own entries only, which is what lets each router have its own log.

Two hubs apply the same entries of two routers in different interleavings (each
router's entries in its own order, as each log delivers them) and end with the same
state per router; one router's snapshot restored into a third hub leaves the other
router's state there as it was.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from signaling.live.hub import Hub
from signaling.live.limits import CallOwner
from signaling.live.sessions import CallerInfo
from signaling.live.state import agent_login_entry, call_entry, event_entry
from signaling.routing import events as ev
from signaling.routing.model import Origin
from signaling.routing.routers import RouterMap, RouterSpecError
from signaling.settings import Settings
from signaling.store import Database


def test_router_map_reads_single_districts_and_groups() -> None:
    routers = RouterMap(["haiyan", " east=haining+tongxiang ", ""])
    assert routers.names == ("default", "haiyan", "east")
    assert routers.router_of("haiyan") == "haiyan"
    assert routers.router_of("tongxiang") == "east"
    assert routers.router_of("pinghu") == "default"
    assert routers.spec() == "east=haining+tongxiang,haiyan=haiyan"
    assert RouterMap().names == ("default",) and RouterMap().spec() == ""


@pytest.mark.parametrize("spec, reason", [
    (["haiyan", "x=haiyan"], "given twice"),
    (["bad name"], "names are"),
    (["east="], "names are"),
])
def test_router_map_refuses_what_it_cannot_read(spec: list[str], reason: str) -> None:
    with pytest.raises(RouterSpecError, match=reason):
        RouterMap(spec)


def _hub(tmp_path: Path, name: str) -> Hub:
    settings = Settings(data_dir=tmp_path / name, routing_partitions=["haiyan"],
                        max_calls_per_address=2)
    return Hub(settings, Database(settings.resolved_database_url()), b"secret")


def _entries(district: str, seed: int) -> list[tuple[float, dict[str, Any]]]:
    """A morning of one district: agents log in and get ready, calls arrive from a shared
    address (so the live-call limit bites), some are accepted, time passes in ticks."""
    rng = random.Random(seed)
    router = "haiyan" if district == "haiyan" else "default"
    out: list[tuple[float, dict[str, Any]]] = []
    now = 100.0
    agents = [f"{district}-agent-{n}" for n in range(3)]
    for agent_id in agents:
        profile = {"id": agent_id, "display_name": agent_id, "skills": {"water": 1},
                   "partition": district, "role": "agent"}
        out.append((now, agent_login_entry(profile, account_auto_answer=False, node="n1",
                                           conn=f"n1/{agent_id}")))
        out.append((now, event_entry(ev.AgentSetReady(agent_id))))
    for n in range(12):
        now += rng.uniform(0.1, 3.0)
        call_id = f"{district}-call-{n}"
        info = CallerInfo(call_id, "water", Origin.ENTERPRISE, "某公司", district,
                          resume_token=f"token-{call_id}", request_id=f"request-{n:022d}",
                          identity="company", node="n1", conn=f"n1/{call_id}")
        # The same request ids in both districts, and one address for every caller.
        out.append((now, call_entry(info, CallOwner("10.0.0.9", company="91330000X"),
                                    priority=0, target_agent_id=None)))
        if rng.random() < 0.6:
            out.append((now + 0.5, event_entry(ev.AgentAccept(rng.choice(agents), call_id))))
        if rng.random() < 0.3:
            out.append((now + 1.0, event_entry(ev.CallerHangup(call_id))))
        out.append((now + 20.0, event_entry(ev.Tick(), router=router)))
        now += 1.0
    return out


def _apply(hub: Hub, entries: list[tuple[float, dict[str, Any]]]) -> None:
    for now, entry in entries:
        hub.state.apply(dict(entry), now, deliver=False)


def _interleave(a: list[Any], b: list[Any], rng: random.Random) -> list[Any]:
    """A random merge of two sequences, each kept in its own order."""
    merged, i, j = [], 0, 0
    while i < len(a) or j < len(b):
        if j == len(b) or (i < len(a) and rng.random() < 0.5):
            merged.append(a[i])
            i += 1
        else:
            merged.append(b[j])
            j += 1
    return merged


@pytest.mark.parametrize("seed", range(5))
def test_each_routers_state_depends_on_its_own_entries_only(tmp_path: Path,
                                                            seed: int) -> None:
    haiyan, default = _entries("haiyan", seed), _entries("default", seed + 100)
    first, second = _hub(tmp_path, "first"), _hub(tmp_path, "second")
    _apply(first, haiyan + default)
    _apply(second, _interleave(haiyan, default, random.Random(seed)))
    for router in ("default", "haiyan"):
        assert first.state.digest(router) == second.state.digest(router), router
    assert first.routers.violations(1e9) == []
    # Each router saw its own calls only, limits included: both districts queued calls
    # from the one address up to the limit, each on its own count.
    for router, district in (("default", "default"), ("haiyan", "haiyan")):
        calls = first.routers.of(router).calls
        assert calls and all(call_id.startswith(district) for call_id in calls)
        assert len(first.call_limits[router]) <= 2


def test_one_routers_snapshot_restores_that_router_alone(tmp_path: Path) -> None:
    source, target = _hub(tmp_path, "source"), _hub(tmp_path, "target")
    _apply(source, _entries("haiyan", 7) + _entries("default", 8))
    _apply(target, _entries("default", 9))
    default_before = target.state.digest("default")
    target.state.restore(source.state.snapshot("haiyan"), "haiyan")
    assert target.state.digest("haiyan") == source.state.digest("haiyan")
    assert target.state.digest("default") == default_before
    # And a whole replica (every router) restores as a whole.
    target.state.restore(source.state.snapshot())
    assert target.state.digest() == source.state.digest()
