"""A consented call recorded across two nodes: the caller (aiortc, headless) on node A
gives its consent there, the agent (aiortc, headless) answers on node B, whose recorder
worker records the call. B knows from the replicated call that consent was given, both
parties see the recording indicator, the consent and the recording are stored once, and
with the recordings folder on storage both nodes share (operations.md) either node plays
the file back. Real ``redis-server`` and ``cloud-agent serve`` processes."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from kiosk_client.headless import answer_calls, place_call
from tests.cluster.nodes import Node, cluster
from tests.cluster.test_live_cluster import wait_ready
from tests.protocol.wsclient import login

#: the nodes share a throwaway PostgreSQL database (tests/cluster/nodes.py)
pytestmark = [pytest.mark.postgres, pytest.mark.slow]


async def finished_recordings(node: Node, token: str, call_id: str) -> dict[str, Any]:
    """``GET /api/calls/{id}/recordings`` once its recording is no longer under way."""
    async with httpx.AsyncClient(base_url=node.http,
                                 headers={"Authorization": f"Bearer {token}"}) as http:
        async with asyncio.timeout(40):
            while True:
                answer = await http.get(f"/api/calls/{call_id}/recordings")
                if answer.status_code == 200:
                    listing: dict[str, Any] = answer.json()
                    if listing["recordings"] and all(
                            r["state"] != "recording" for r in listing["recordings"]):
                        return listing
                await asyncio.sleep(0.3)


async def test_a_call_is_recorded_on_the_agents_node_with_the_callers_consent(
        tmp_path: Path) -> None:
    shared = tmp_path / "shared-recordings"  # one folder for both nodes, as on NFS
    shared.mkdir()
    for name in ("a", "b"):
        (tmp_path / f"data-{name}").mkdir(mode=0o700)
        (tmp_path / f"data-{name}" / "recordings").symlink_to(shared)
    async with cluster(tmp_path, ["a", "b"], recording_policy="consent",
                       wrap_up_outcome_required="false") as (_, (a, b)):
        events: list[tuple[str, dict[str, Any]]] = []

        def record(name: str, fields: dict[str, Any]) -> None:
            events.append((name, fields))

        agent_task = asyncio.create_task(answer_calls(
            b.http, "demo-agent-1", "demo", auto_answer=True, calls=1, hold=14,
            on_event=record, timeout=60))
        await wait_ready(b)
        caller = await place_call(a.http, "water", kiosk_token="demo-kiosk", hold=6,
                                  on_event=record, timeout=60, recording_consent=True)
        agent_calls = await agent_task
        assert agent_calls and agent_calls[0].call_id == caller.call_id
        assert caller.call_id is not None
        assert caller.frames_received > 0 and agent_calls[0].frames_received > 0

        # B learnt the consent with the call: its agent got connected.recording and sent
        # the copy; the indicator reached the caller on A through B's relay.
        states = {(fields["role"], fields.get("state")) for name, fields in events
                  if name == "recording_status"}
        assert {("caller", "recording"), ("agent", "recording")} <= states, events
        assert not [fields for name, fields in events if name == "recording_error"]

        token = await login(a.http, "demo-supervisor")
        listing = await finished_recordings(a, token, caller.call_id)
        assert listing["consent"]["consent"] == "granted"
        [row] = listing["recordings"]  # one row, written by B only
        assert row["state"] == "complete", row
        assert row["bytes"] > 10_000
        # Either node plays it back from the shared folder.
        bodies = []
        for node in (a, b):
            again = await finished_recordings(node, token, caller.call_id)
            [item] = again["recordings"]
            assert item["media_url"], item
            async with httpx.AsyncClient(base_url=node.http) as http:
                media = await http.get(item["media_url"])
            assert media.status_code == 200 and media.headers["content-type"] == "video/webm"
            bodies.append(media.content)
        assert bodies[0] == bodies[1] and len(bodies[0]) == row["bytes"]
        assert [p.parent.parent.name for p in shared.rglob("*.webm")] == ["b"]  # B's folder
