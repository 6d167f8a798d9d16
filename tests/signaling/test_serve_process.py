"""``cloud-agent serve`` as a real process: its files, its logs, and what it prints."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.conftest import free_port
from tests.protocol.test_cli import wait_healthy
from tests.protocol.wsclient import agent, caller

CLI = [sys.executable, "-m", "signaling"]


@dataclass
class Served:
    http: str
    ws: str


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_serve_keeps_its_files_private_redacts_tokens_and_logs_calls(
        tmp_path: Path) -> None:
    port = free_port()
    data = tmp_path / "data"
    served = Served(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}")
    server = await asyncio.create_subprocess_exec(
        *CLI, "serve", "--demo", "--port", str(port), "--data-dir", str(data),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        await wait_healthy(served.http, server)
        async with httpx.AsyncClient() as client:
            await client.get(f"{served.http}/kiosk?token=demo-kiosk")
            await client.get(f"{served.http}/call?invite=Sekr1t-Invite_Token22&lang=en")
            await client.get(f"{served.http}/api/invites/Sekr1t-Invite_Token22")
        desk = await agent(served, "demo-agent-1")
        kiosk, queued = await caller(served, "water")
        call_id = queued["call_id"]
        await desk.expect("offer", call_id=call_id)
        await desk.send({"type": "accept", "call_id": call_id})
        await kiosk.expect("connected", call_id=call_id)
        await kiosk.send({"type": "hangup"})
        await kiosk.expect("ended", call_id=call_id)
        await desk.close()
        await kiosk.close()

        assert _mode(data) == 0o700
        for name in ("cloud-agent.db", "cloud-agent.db-wal", "cloud-agent.db-shm",
                     "secret.key"):
            assert _mode(data / name) == 0o600, name
    finally:
        server.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(server.communicate(), 30)
    stdout, stderr = out.decode(), err.decode()

    access = [line for line in stdout.splitlines() if '"GET ' in line]
    assert any("/kiosk?token=*** " in line for line in access), stdout
    assert any("/call?invite=***&lang=en " in line for line in access), stdout
    assert any("/api/invites/*** " in line for line in access), stdout
    assert "demo-kiosk" not in "\n".join(access) and "Sekr1t" not in stdout + stderr

    assert "Created administrator" not in stdout  # --demo makes no admin
    for event in (rf"call {call_id} queued: water, kiosk", rf"call {call_id} answered by "
                  r"demo-agent-1", rf"call {call_id} ended: "):
        assert re.search(rf"INFO signaling\.live\.hub: {event}", stderr), (event, stderr)
