"""Helpers of the partition-log tests: log nodes in this process, waiting, reading back."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis

from signaling.cluster.codec import event_entry, load_entry
from signaling.cluster.engine_machine import EngineMachine, Outcome
from signaling.cluster.log import PartitionLog
from signaling.cluster.machine import id_time, parse_id
from signaling.routing import events as ev
from signaling.routing.engine import Engine
from signaling.routing.model import RoutingConfig, RoutingError

NS = "ca-test"
PARTITION = "d1"


@dataclass
class Node:
    """One log node: its own Redis client, replica and log."""

    name: str
    client: aioredis.Redis
    machine: EngineMachine
    log: PartitionLog
    leadership: list[bool] = field(default_factory=list)

    async def send(self, event: ev.Event) -> str:
        return await self.log.append(event_entry(event))

    def state(self) -> str:
        return json.dumps(self.machine.snapshot()["engine"], sort_keys=True)


@asynccontextmanager
async def log_nodes(url: str, names: list[str], config: RoutingConfig, *,
                    clocks: dict[str, Callable[[], float]] | None = None,
                    first_leads: bool = True, **options: Any) -> AsyncIterator[list[Node]]:
    """Start a log node per name, in order (the first takes the lease, unless another
    process holds it: ``first_leads=False``); stop them after."""
    nodes: list[Node] = []
    try:
        for name in names:
            nodes.append(await start_node(url, name, config,
                                          clock=(clocks or {}).get(name, time.time),
                                          **options))
            if len(nodes) == 1 and first_leads:
                await eventually(lambda: nodes[0].log.is_leader, "the first node leads")
        yield nodes
    finally:
        for node in nodes:
            await stop_node(node)


async def start_node(url: str, name: str, config: RoutingConfig, **options: Any) -> Node:
    client = aioredis.from_url(url, socket_connect_timeout=2)
    machine = EngineMachine(config)
    leadership: list[bool] = []
    log = PartitionLog(client, NS, PARTITION, name, machine,
                       on_leadership=leadership.append, **options)
    await log.start()
    return Node(name, client, machine, log, leadership)


async def stop_node(node: Node) -> None:
    await node.log.stop()
    await node.client.aclose()


async def eventually(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    """Wait until ``condition()`` holds (a generous bound: the machine is shared)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not condition():
        if loop.time() > end:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.01)


async def all_applied(nodes: list[Node], entry_id: str) -> None:
    async with asyncio.timeout(15):
        await asyncio.gather(*(n.log.applied(entry_id) for n in nodes))


async def read_log(url: str) -> list[tuple[float, dict[str, Any]]]:
    """The whole stream as (now, entry)."""
    client = aioredis.from_url(url)
    try:
        items: Any = await client.xrange(f"{NS}:log:{PARTITION}")
    finally:
        await client.aclose()
    return [(id_time(parse_id(raw_id)), load_entry(fields[b"e"])) for raw_id, fields in items]


def replay(config: RoutingConfig, log: list[tuple[float, dict[str, Any]]]) -> list[Outcome]:
    """The uninterrupted run: one engine fed the log in order, as a single node would."""
    from signaling.cluster.codec import decode_event

    engine, outcomes = Engine(config), []
    for now, entry in log:
        try:
            outcomes.append((now, "ok", engine.handle(decode_event(entry["event"]), now)))
        except RoutingError as error:
            outcomes.append((now, error.code, list(error.actions)))  # type: ignore[arg-type]
    return outcomes


def reasons(node: Node, kind: type) -> list[Any]:
    """Every action of ``kind`` the node's replica produced, in order."""
    return [a for _, _, actions in node.machine.outcomes for a in actions
            if isinstance(a, kind)]
