"""A crash while call records wait in the journal loses none of them: a real
``cloud-agent serve`` whose SQLite file another connection holds locked (so record writes
reach the journal but not the database) is killed with SIGKILL; the next start writes the
journal to the database before it marks cut-off calls interrupted.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from signaling.store.record_writer import JOURNAL_NAME
from tests.protocol.test_crash import ServeProcess, enterprise_caller
from tests.protocol.wsclient import JsonClient, agent, caller


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ServeProcess]:
    process = ServeProcess(tmp_path / "data")
    try:
        yield process
    finally:
        if process.process is not None and process.process.returncode is None:
            await process.stop(signal.SIGKILL)


async def journaled(server: ServeProcess, call_ids: set[str]) -> None:
    """Wait until the journal holds a write of each of ``call_ids`` (journaling runs in the
    background: a write is fsynced there a few milliseconds after it is asked for)."""
    journal = server.data_dir / JOURNAL_NAME
    for _ in range(200):
        lines = journal.read_text().splitlines() if journal.exists() else []
        found = set()
        for line in lines:
            try:
                found.add(json.loads(line)["c"])
            except ValueError:  # a line being written
                pass
        if call_ids <= found:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"not all of {call_ids} reached the journal")


async def answer(console: JsonClient, call_id: str) -> None:
    await console.expect("offer", call_id=call_id)
    await console.send({"type": "accept", "call_id": call_id})
    await console.expect("connected", call_id=call_id)


async def test_sigkill_with_records_only_in_the_journal_loses_none(
        server: ServeProcess) -> None:
    await server.start()
    # Agents log in (which writes to the database) before it is locked.
    talking_agent = await agent(server, "demo-agent-3")
    ending_agent = await agent(server, "demo-agent-5")
    lock = sqlite3.connect(server.data_dir / "cloud-agent.db", isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")  # no other connection can write until it ends
    try:
        _, answered = await enterprise_caller(server, "transport")
        await answer(talking_agent, answered)
        kiosk, queued = await caller(server, "business-licence")
        ended = queued["call_id"]
        await answer(ending_agent, ended)
        await kiosk.expect("connected", call_id=ended)
        await kiosk.send({"type": "hangup"})
        # Sent once the record is journaled (the database would have made it wait 2 s).
        ended_message = await kiosk.expect("ended", call_id=ended, timeout=10)
        waiting_client, waiting = await enterprise_caller(server, "tax")

        await journaled(server, {answered, ended, waiting})
        async with httpx.AsyncClient() as http:  # the backlog load shedding looks at
            metrics = (await http.get(f"{server.http}/metrics")).text
        assert "cloud_agent_record_backlog_calls 3\n" in metrics
        in_database = {row[0] for row in lock.execute("SELECT id FROM calls")}
        assert not {answered, ended, waiting} & in_database  # only in the journal
        assert await server.stop(signal.SIGKILL) == -signal.SIGKILL
        await waiting_client.close()
    finally:
        lock.execute("ROLLBACK")
        lock.close()

    await server.start()
    rows = server.rows()
    assert (rows[ended]["phase"], rows[ended]["end_reason"], rows[ended]["agent_id"]) == (
        "ended", "caller_hangup", "demo-agent-5")
    for call_id in (answered, waiting):  # cut off by the crash, as ever
        assert (rows[call_id]["phase"], rows[call_id]["end_reason"]) == (
            "interrupted", "server_restart")
    assert rows[answered]["agent_id"] == "demo-agent-3"
    assert rows[answered]["answered_at"] is not None
    assert (server.data_dir / JOURNAL_NAME).stat().st_size == 0

    # The caller who saw 'ended' rates the call on the new process.
    rater = await JsonClient.open(f"{server.ws}/ws/caller")
    await rater.send({"type": "rating", "call_id": ended, "score": 5,
                      "rating_token": ended_message["rating_token"]})
    await rater.expect("rating_saved", call_id=ended)
    assert server.rows()[ended]["rating"] == 5
