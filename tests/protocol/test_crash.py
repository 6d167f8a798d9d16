"""Nothing lost on a crash: a real ``cloud-agent serve`` process killed with SIGKILL (and
stopped with SIGTERM) while calls are waiting, ringing, answered and just ended, then
started again on the same data directory. The rows are read from the SQLite file itself.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer, free_port
from tests.protocol.wsclient import JsonClient, agent, caller

CLOUD_AGENT = Path(sys.executable).with_name("cloud-agent")
COMPANY = {"name": "海盐演示企业有限公司", "uscc": "91350100M000100Y43", "contact_name": "张三",
           "contact_phone": "13800138000"}


class ServeProcess:
    """``cloud-agent serve --demo`` as a child process on a data dir that outlives it."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.process: asyncio.subprocess.Process | None = None
        self.http = self.ws = ""
        self.starts = 0

    async def start(self) -> None:
        port = free_port()
        self.http, self.ws = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}"
        self.starts += 1
        log = (self.data_dir.parent / f"serve-{self.starts}.log").open("wb")
        self.process = await asyncio.create_subprocess_exec(
            str(CLOUD_AGENT), "serve", "--demo", "--port", str(port), "--data-dir",
            str(self.data_dir), "--log-level", "warning",
            stdout=asyncio.subprocess.DEVNULL, stderr=log)
        log.close()
        async with httpx.AsyncClient() as client:
            for _ in range(300):
                if self.process.returncode is not None:
                    raise AssertionError(f"serve exited with {self.process.returncode}")
                try:
                    if (await client.get(f"{self.http}/healthz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.05)
        raise AssertionError("serve did not become healthy")

    async def stop(self, sig: signal.Signals) -> int:
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(sig)
        return await asyncio.wait_for(self.process.wait(), 30)

    async def reached(self, call_id: str, phase: str) -> None:
        """Wait until the call's row is in ``phase``: phase writes run in the background,
        so a kill a few milliseconds after a change may find the phase before it."""
        for _ in range(200):
            if self.rows().get(call_id, {}).get("phase") == phase:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"call {call_id} never reached {phase}: {self.rows().get(call_id)}")

    def rows(self) -> dict[str, dict[str, Any]]:
        """Every call record in the SQLite file, by id."""
        connection = sqlite3.connect(self.data_dir / "cloud-agent.db")
        connection.row_factory = sqlite3.Row
        try:
            return {row["id"]: dict(row) for row in connection.execute("SELECT * FROM calls")}
        finally:
            connection.close()


@pytest.fixture
async def serve(tmp_path: Path) -> AsyncIterator[ServeProcess]:
    process = ServeProcess(tmp_path / "data")
    try:
        yield process
    finally:
        if process.process is not None and process.process.returncode is None:
            await process.stop(signal.SIGKILL)


async def enterprise_caller(server: ServeProcess | LiveServer,
                            skill: str) -> tuple[JsonClient, str]:
    """An enterprise caller with a call queued (a kiosk holds one live call at a time)."""
    client = await JsonClient.open(f"{server.ws}/ws/caller")
    await client.send({"type": "call_request", "skill": skill, "company": COMPANY})
    queued = await client.expect("queued")
    return client, queued["call_id"]


async def answered_call(server: ServeProcess, username: str, skill: str, *,
                        kiosk: bool = False) -> tuple[JsonClient, JsonClient, str]:
    """A ready agent that took a call of ``skill``: (agent, caller, call id)."""
    console = await agent(server, username)
    if kiosk:
        client, queued = await caller(server, skill)
        call_id: str = queued["call_id"]
    else:
        client, call_id = await enterprise_caller(server, skill)
    await console.expect("offer", call_id=call_id)
    await console.send({"type": "accept", "call_id": call_id})
    await console.expect("connected", call_id=call_id)
    await client.expect("connected", call_id=call_id)
    return console, client, call_id


async def calls_in_every_phase(server: ServeProcess) -> dict[str, Any]:
    """One answered call (demo-agent-3), one ringing (demo-agent-2), one waiting (no agent
    with the skill is logged in), and one that has just ended (demo-agent-5): the caller
    has its ``ended``, and nothing else happens before the kill."""
    _, _, answered = await answered_call(server, "demo-agent-3", "transport", kiosk=True)
    ringing_agent = await agent(server, "demo-agent-2")
    _, ringing = await enterprise_caller(server, "gas")
    await ringing_agent.expect("offer", call_id=ringing)
    _, waiting = await enterprise_caller(server, "tax")
    for call_id, phase in ((answered, "answered"), (ringing, "offered"), (waiting, "queued")):
        await server.reached(call_id, phase)
    _, kiosk, ended = await answered_call(server, "demo-agent-5", "business-licence")
    await kiosk.send({"type": "hangup"})
    ended_message = await kiosk.expect("ended", call_id=ended)  # the kill follows at once
    return {"answered": answered, "ringing": ringing, "waiting": waiting, "ended": ended,
            "rating_token": ended_message["rating_token"]}


async def test_sigkill_in_every_phase_leaves_a_row_for_every_queued_call(
        serve: ServeProcess) -> None:
    await serve.start()
    calls = await calls_in_every_phase(serve)
    assert await serve.stop(signal.SIGKILL) == -signal.SIGKILL
    before = time.time()

    rows = serve.rows()  # as the crash left them, before any restart
    assert rows[calls["waiting"]]["phase"] == "queued"
    assert rows[calls["ringing"]]["phase"] == "offered"
    assert rows[calls["ringing"]]["offered_to"] == "demo-agent-2"
    assert rows[calls["ringing"]]["offered_at"] is not None
    assert rows[calls["answered"]]["phase"] == "answered"
    assert rows[calls["answered"]]["agent_id"] == "demo-agent-3"
    ended = rows[calls["ended"]]
    assert (ended["phase"], ended["end_reason"], ended["agent_id"]) == (
        "ended", "caller_hangup", "demo-agent-5")

    await serve.start()
    rows = serve.rows()
    for name in ("waiting", "ringing", "answered"):
        row = rows[calls[name]]
        assert (row["phase"], row["end_reason"]) == ("interrupted", "server_restart"), name
        assert before <= row["ended_at"] <= time.time(), name
        assert row["enqueued_at"] <= row["ended_at"], name
    assert rows[calls["answered"]]["answered_at"] is not None
    assert rows[calls["ended"]]["phase"] == "ended"

    # The caller whose call had just ended rates it from a new socket on the new process.
    kiosk = await JsonClient.open(f"{serve.ws}/ws/caller")
    await kiosk.send({"type": "rating", "call_id": calls["ended"], "score": 4,
                      "rating_token": calls["rating_token"]})
    await kiosk.expect("rating_saved", call_id=calls["ended"])
    assert serve.rows()[calls["ended"]]["rating"] == 4


async def test_sigterm_marks_live_calls_interrupted(serve: ServeProcess) -> None:
    await serve.start()
    _, _, answered = await answered_call(serve, "demo-agent-3", "transport")
    _, waiting = await enterprise_caller(serve, "tax")
    await serve.reached(answered, "answered")
    assert await serve.stop(signal.SIGTERM) in (0, -signal.SIGTERM)  # uvicorn re-raises it

    rows = serve.rows()  # a clean stop leaves no call in a live phase
    for call_id in (answered, waiting):
        assert (rows[call_id]["phase"], rows[call_id]["end_reason"]) == (
            "interrupted", "server_shutdown")
        assert rows[call_id]["ended_at"] is not None
    await serve.start()
    assert serve.rows() == rows  # nothing left for the restart to repair


async def test_wrap_up_notes_for_the_last_call_are_accepted_after_a_restart(
        serve: ServeProcess) -> None:
    await serve.start()
    console, kiosk, ended = await answered_call(serve, "demo-agent-5", "business-licence")
    await kiosk.send({"type": "hangup"})
    await kiosk.expect("ended", call_id=ended)  # the record says so by now
    await console.expect("agent_state", state="wrap_up")
    _, _, interrupted = await answered_call(serve, "demo-agent-3", "transport")
    await serve.reached(interrupted, "answered")
    await serve.stop(signal.SIGKILL)
    await serve.start()

    # The agent's own last call: ended before the crash, or cut off by it.
    for username, call_id in (("demo-agent-5", ended), ("demo-agent-3", interrupted)):
        console = await agent(serve, username, ready=False)
        await console.send({"type": "end_wrap_up", "call_id": call_id, "outcome": "resolved",
                            "notes": f"{username} 重启后补记"})
        await console.expect("wrap_up_saved", call_id=call_id)
        row = serve.rows()[call_id]
        assert (row["outcome"], row["notes"]) == ("resolved", f"{username} 重启后补记")

    # Someone else's call stays out of reach, record or no record.
    other = await agent(serve, "demo-agent-2", ready=False)
    await other.send({"type": "end_wrap_up", "call_id": ended, "outcome": "x", "notes": "x"})
    await other.error("forbidden")
    assert serve.rows()[ended]["notes"] == "demo-agent-5 重启后补记"


async def test_each_phase_lands_in_order_and_ended_before_the_caller_hears(
        live_server: LiveServer) -> None:
    """Auto-answer puts offer and answer in one breath and the caller hangs up at once:
    the record still ends ``ended``, written before the caller's ``ended`` arrives."""
    console = await agent(live_server, "demo-agent-5", auto_answer=True)
    for _ in range(8):
        client, call_id = await enterprise_caller(live_server, "business-licence")
        await client.expect("connected", call_id=call_id)
        await client.send({"type": "hangup"})
        await client.expect("ended", call_id=call_id)
        record = await live_server.hub.call_records.get(call_id)
        assert (record.phase, record.agent_id, record.offered_to, record.end_reason) == (
            "ended", "demo-agent-5", "demo-agent-5", "caller_hangup")
        assert record.enqueued_at <= record.offered_at <= record.answered_at <= record.ended_at
        await client.close()
        await console.expect("agent_state", state="wrap_up")
        await console.send({"type": "end_wrap_up", "outcome": "resolved"})
        await console.expect("agent_state", state="ready")
