"""The three commands a newcomer runs, as real processes: serve, answer and call."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port

CLI = [sys.executable, "-m", "signaling"]


async def wait_healthy(url: str, server: asyncio.subprocess.Process) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            if server.returncode is not None:
                raise AssertionError("server exited early")
            try:
                if (await client.get(f"{url}/healthz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("server did not become healthy")


@pytest.mark.slow
async def test_cli_call_reaches_cli_agent_with_video_both_ways(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = await asyncio.create_subprocess_exec(
        *CLI, "serve", "--demo", "--port", str(port), "--data-dir", str(tmp_path),
        "--log-level", "warning", stdout=asyncio.subprocess.PIPE)
    try:
        await wait_healthy(url, server)
        agent = await asyncio.create_subprocess_exec(
            *CLI, "answer", "--server", url, "--user", "demo-agent-1", "--password", "demo",
            "--auto-answer", "--calls", "1", "--hold", "10", "--json",
            stdout=asyncio.subprocess.PIPE)
        await asyncio.sleep(1.5)  # logged in and ready before the call
        call = await asyncio.create_subprocess_exec(
            *CLI, "call", "--server", url, "--skill", "water", "--kiosk-token", "demo-kiosk",
            "--hold", "2", "--json", stdout=asyncio.subprocess.PIPE)
        call_out, _ = await asyncio.wait_for(call.communicate(), 60)
        agent_out, _ = await asyncio.wait_for(agent.communicate(), 60)
        assert call.returncode == 0 and agent.returncode == 0
        caller_events = {e["event"]: e for e in map(json.loads, call_out.decode().splitlines())}
        agent_events = {e["event"]: e for e in map(json.loads, agent_out.decode().splitlines())}
        assert set(caller_events) >= {"queued", "ringing", "connected", "first_remote_frame",
                                      "ended"}
        assert "first_remote_frame" in agent_events
        assert (caller_events["queued"]["ms"] <= caller_events["connected"]["ms"]
                <= caller_events["first_remote_frame"]["ms"])
        assert caller_events["ended"]["frames_received"] > 0
        assert agent_events["ended"]["frames_received"] > 0
    finally:
        server.terminate()
        output, _ = await server.communicate()
    assert b"/kiosk?token=demo-kiosk" in output  # serve --demo prints its URLs
