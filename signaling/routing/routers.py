"""One router per district (issue 10): which engine serves a district, and all of them.

A *router* is one ``Engine`` with the districts it serves. By default one router
(``default``) serves every district, as one process always did. ``routing_partitions``
(settings) gives districts routers of their own: ``haiyan`` alone, or ``east=haining+
tongxiang`` for several districts on one router. In a cluster each router has its own
log, lease and leader (``signaling.cluster``), so a district's queue does not wait on
another's and a dead leader stops one router for a second, not the province.

Splitting is safe because no routing rule crosses districts: a call is only ever offered
to agents of its own district (``tiers.may_serve``), and an invite's call takes the
district of the agent who made the link. Everything a router decides depends on its own
events only, which is what lets each one replay its own log deterministically.

Pure and I/O-free, like the engine.
"""

from __future__ import annotations

import re
from collections import ChainMap
from collections.abc import Iterable, Mapping

from .engine import Engine
from .model import Agent, Call, RoutingConfig
from .stats import AgentStats, QueueStats

DEFAULT_ROUTER = "default"
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")


class RouterSpecError(ValueError):
    """A ``routing_partitions`` entry that cannot be read, or a district given twice."""


class RouterMap:
    """Which router serves each district: the parsed ``routing_partitions`` setting."""

    def __init__(self, spec: Iterable[str] = ()) -> None:
        self._router_of: dict[str, str] = {}
        names = [DEFAULT_ROUTER]
        for item in spec:
            item = item.strip()
            if not item:
                continue
            name, equals, members = item.partition("=")
            districts = members.split("+") if equals else [name]
            for text in [name, *districts]:
                if not _NAME.match(text):
                    raise RouterSpecError(f"{text!r} in {item!r}: names are 1-40 letters, "
                                          "digits, '_', '.' or '-'")
            for district in districts:
                if district in self._router_of:
                    raise RouterSpecError(f"district {district!r} is given twice")
                self._router_of[district] = name
            if name not in names:
                names.append(name)
        #: every router's name, ``default`` first
        self.names: tuple[str, ...] = tuple(names)

    def router_of(self, district: str) -> str:
        """The router serving ``district`` (``default`` for any district not named)."""
        return self._router_of.get(district, DEFAULT_ROUTER)

    def spec(self) -> str:
        """A canonical text of the map: nodes of one cluster must agree on it."""
        by_router: dict[str, list[str]] = {}
        for district, router in self._router_of.items():
            by_router.setdefault(router, []).append(district)
        return ",".join(f"{router}={'+'.join(sorted(districts))}"
                        for router, districts in sorted(by_router.items()))


class Routers:
    """Every router's engine, and the read-only views the hub needs across all of them
    (a call or agent lives in exactly one; which one is its district's router)."""

    def __init__(self, config: RoutingConfig | None = None,
                 router_map: RouterMap | None = None) -> None:
        self.map = router_map or RouterMap()
        self.engines: dict[str, Engine] = {name: Engine(config) for name in self.map.names}
        self._single = self.engines[DEFAULT_ROUTER] if len(self.engines) == 1 else None

    def of(self, router: str) -> Engine:
        return self.engines[router]

    def router_of(self, district: str) -> str:
        return self.map.router_of(district)

    @property
    def calls(self) -> Mapping[str, Call]:
        if self._single is not None:
            return self._single.calls
        return ChainMap(*(engine.calls for engine in self.engines.values()))

    @property
    def agents(self) -> Mapping[str, Agent]:
        if self._single is not None:
            return self._single.agents
        return ChainMap(*(engine.agents for engine in self.engines.values()))

    def router_of_call(self, call_id: str) -> str | None:
        for name, engine in self.engines.items():
            if call_id in engine.calls:
                return name
        return None

    def router_of_agent(self, agent_id: str) -> str | None:
        for name, engine in self.engines.items():
            if agent_id in engine.agents:
                return name
        return None

    def position_of(self, call_id: str) -> tuple[int, int] | None:
        router = self.router_of_call(call_id)
        return None if router is None else self.engines[router].position_of(call_id)

    def waiting_calls(self) -> list[Call]:
        return [call for engine in self.engines.values() for call in engine.waiting_calls()]

    def queue_stats(self, now: float) -> list[QueueStats]:
        return [stats for engine in self.engines.values() for stats in engine.queue_stats(now)]

    def agent_stats(self) -> list[AgentStats]:
        return sorted((stats for engine in self.engines.values()
                       for stats in engine.agent_stats()), key=lambda s: s.agent_id)

    def violations(self, now: float) -> list[str]:
        return [problem for engine in self.engines.values()
                for problem in engine.violations(now)]

    def next_deadline(self) -> float | None:
        deadlines = [d for engine in self.engines.values()
                     if (d := engine.next_deadline()) is not None]
        return min(deadlines) if deadlines else None
