"""A node restarted under its old name, and a whole cluster restarted (issue 10).

- A node SIGKILLed and started again at once with the same ``--node-id`` finds its
  previous run's callers in the replicated state. Their sockets died with that run: it
  detaches them itself (they resume, on it or elsewhere), and a new socket of the new run
  never receives what was meant for an old one (connection keys carry the run).
- The whole cluster stopped and Redis emptied: records of calls that were live stay
  live in the database with no call behind them; the router's leader marks them
  ``interrupted`` / ``cluster_restart`` after ``cluster_orphan_age``, and leaves the calls
  that are live now alone.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from tests.cluster.nodes import call_record, cluster
from tests.cluster.test_live_cluster import SETTINGS
from tests.protocol.wsclient import JsonClient, agent

pytestmark = pytest.mark.postgres


async def queued_call(ws: str, token: str) -> tuple[JsonClient, dict[str, Any]]:
    client = await JsonClient.open(f"{ws}/ws/caller")
    await client.send({"type": "call_request", "skill": "water", "kiosk_token": token})
    return client, await client.expect("queued", timeout=10)


async def record(database_url: str, call_id: str) -> tuple[str, str | None]:
    found = await call_record(database_url, call_id)
    assert found is not None, call_id
    return found


async def test_a_node_restarted_under_its_name_lets_go_of_its_previous_runs_callers(
        tmp_path: Path) -> None:
    async with cluster(tmp_path, ["b", "a"], **SETTINGS) as (_, (b, a)):
        old, first = await queued_call(a.ws, "demo-kiosk")
        a.kill()
        await a.process.wait()  # type: ignore[union-attr]
        await a.start()  # the same name, at once: its old heartbeat has not even expired

        # A new caller on the new run: sockets are numbered from 1 again there.
        fresh, second = await queued_call(a.ws, "demo-kiosk-2")
        # The old call is detached (waiting for its caller, unoffered): an agent is rung
        # for the caller who is there, not for a socket that died with the last run.
        desk = await agent(b, "demo-agent-1")
        offer = await desk.expect("offer", timeout=10)
        assert offer["call_id"] == second["call_id"]
        await desk.send({"type": "accept", "call_id": second["call_id"]})
        await fresh.expect("connected", timeout=10, call_id=second["call_id"])
        # The old caller comes back (as the page does) on the restarted node: its place
        # kept, first in the queue.
        back = await JsonClient.open(f"{a.ws}/ws/caller")
        await back.send({"type": "resume", "resume_token": first["resume_token"]})
        resumed = await back.expect("resumed", timeout=10, call_id=first["call_id"])
        assert (resumed["state"], resumed["position"]) == ("waiting", 1)
        await desk.send({"type": "hangup", "call_id": second["call_id"]})
        await fresh.expect("ended", timeout=10, call_id=second["call_id"])
        await desk.send({"type": "end_wrap_up"})
        offer = await desk.expect("offer", timeout=10, call_id=first["call_id"])
        await desk.send({"type": "accept", "call_id": first["call_id"]})
        await back.expect("connected", timeout=10, call_id=first["call_id"])
        # Nothing of the old call ever reached the new run's other socket.
        await asyncio.sleep(1.0)
        try:
            while True:
                await fresh.recv(timeout=0.2)
        except TimeoutError:
            pass
        leaked = [m for m in fresh.seen if m.get("call_id") == first["call_id"]]
        assert leaked == [], leaked
        assert all(m.get("call_id") in (None, second["call_id"]) for m in fresh.seen), \
            fresh.seen
        await desk.send({"type": "hangup", "call_id": first["call_id"]})
        await back.expect("ended", timeout=10, call_id=first["call_id"])
        for client in (back, fresh, desk):
            await client.close()
        await old.close()


async def test_records_the_whole_cluster_left_live_are_closed_by_the_leader(
        tmp_path: Path) -> None:
    settings = {**SETTINGS, "cluster_orphan_age": "2"}
    async with cluster(tmp_path, ["a"], **settings) as (redis, (a,)):
        _, lost = await queued_call(a.ws, "demo-kiosk")
        await asyncio.sleep(0.5)  # the queued phase is written
        assert (await record(a.database_url, lost["call_id"]))[0] == "queued"
        a.kill()  # the whole cluster is gone ...
        await a.process.wait()  # type: ignore[union-attr]
        client = aioredis.from_url(redis.url)
        await client.flushall()  # ... and so is what Redis held
        await client.aclose()

        await a.start()
        live, kept = await queued_call(a.ws, "demo-kiosk-2")
        for _ in range(150):
            phase, reason = await record(a.database_url, lost["call_id"])
            if phase == "interrupted":
                break
            await asyncio.sleep(0.1)
        assert (phase, reason) == ("interrupted", "cluster_restart")
        # The call live now is older than the orphan age too, and untouched.
        await asyncio.sleep(2.5)
        assert (await record(a.database_url, kept["call_id"]))[0] == "queued"
        await live.send({"type": "ping"})
        await live.expect("pong", timeout=10)
        await live.close()
