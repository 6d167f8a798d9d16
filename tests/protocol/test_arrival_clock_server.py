"""A call's wait starts when its request was read off the socket, before the server
identified the caller (issue 9: statistics said "answered in 4 ms" while callers had waited
seconds for a database look-up). Here the database holds the invite call for a second (its
write lock is taken by another connection); the agent's offer, the answer's speed in
``/api/stats`` and the call record all count that second."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import httpx

from tests.conftest import StartServer
from tests.protocol.wsclient import JsonClient, agent, login

HELD = 1.0


async def test_the_wait_counts_from_arrival_not_from_identification(
        start_server: StartServer, tmp_path: Path) -> None:
    data_dir = tmp_path / "arrival"
    live = await start_server(data_dir=data_dir)
    console = await agent(live, "demo-agent-1")
    token = await login(live.http, "demo-agent-1")
    supervisor = await login(live.http, "demo-supervisor")
    async with httpx.AsyncClient(base_url=live.http, timeout=30) as http:
        invite = (await http.post("/api/invites", json={"skill": "water", "label": "王先生"},
                                  headers={"Authorization": f"Bearer {token}"})).json()

        caller = await JsonClient.open(f"{live.ws}/ws/caller")
        lock = sqlite3.connect(data_dir / "cloud-agent.db", isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")  # the invite's use (an UPDATE) waits for this
        try:
            await caller.send({"type": "call_request", "skill": "water",
                               "invite": invite["token"]})
            await asyncio.sleep(HELD)
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        await caller.expect("queued", timeout=30)
        offer = await console.expect("offer", timeout=30)
        assert offer["waited"] >= HELD
        await console.send({"type": "accept", "call_id": offer["call_id"]})
        await console.expect("connected")

        stats = (await http.get("/api/stats", headers={
            "Authorization": f"Bearer {supervisor}"})).json()
    [water] = [q for q in stats["queues"] if q["skill"] == "water"]
    assert water["answered"] == 1
    assert water["average_speed_of_answer"] >= HELD
    assert water["service_level"] == 100.0  # within T = 2 s, counted from arrival
