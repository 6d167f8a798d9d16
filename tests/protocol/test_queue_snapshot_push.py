"""Agents get the queue panel pushed once a second when it changes (``Hub._snapshot_loop``):
the same frame, serialized once, to every agent."""

from __future__ import annotations

from typing import Any

from tests.conftest import StartServer
from tests.protocol.wsclient import JsonClient, agent, caller


async def waiting_for(desk: JsonClient, skill: str, count: int) -> dict[str, Any]:
    """The first pushed ``queue_snapshot`` with ``count`` calls waiting for ``skill``."""
    while True:
        snapshot = await desk.expect("queue_snapshot", timeout=5)
        queues = {q["skill"]: q for q in snapshot["queues"]}
        if queues.get(skill, {}).get("waiting", 0) == count:
            return snapshot


async def test_every_agent_gets_the_changed_queue_pushed(start_server: StartServer) -> None:
    server = await start_server()
    # Not ready: nobody takes the calls, so they wait.
    desks = [await agent(server, f"demo-agent-{n}", ready=False) for n in (1, 2)]
    kiosk, _ = await caller(server, "water")
    other, _ = await caller(server, "water")
    first = [await waiting_for(desk, "water", 2) for desk in desks]
    assert first[0] == first[1]
    water = next(q for q in first[0]["queues"] if q["skill"] == "water")
    assert water["waiting"] == 2 and water["partition"] == "default"
    await kiosk.send({"type": "hangup"})
    for desk in desks:
        await waiting_for(desk, "water", 1)
    for client in (*desks, kiosk, other):
        await client.close()
