"""Signaling sockets negotiate no permessage-deflate, though clients offer it: messages
are small, and each deflate socket would hold ~37 KiB of zlib state (docs/benchmarks.md)."""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path

import httpx
from websockets.asyncio.client import connect

from tests.conftest import LiveServer

ROOT = Path(__file__).resolve().parents[2]


async def extensions_of(url: str) -> str | None:
    """The Sec-WebSocket-Extensions the server answered to a client offering deflate."""
    async with connect(url, compression="deflate") as ws:  # as browsers do
        assert ws.request is not None and ws.response is not None
        assert "permessage-deflate" in ws.request.headers["Sec-WebSocket-Extensions"]
        await ws.recv()  # hello
        return ws.response.headers.get("Sec-WebSocket-Extensions")


async def test_test_server_sockets_negotiate_no_extension(live_server: LiveServer) -> None:
    assert await extensions_of(f"{live_server.ws}/ws/caller") is None
    assert await extensions_of(f"{live_server.ws}/ws/agent") is None


async def test_cloud_agent_serve_negotiates_no_extension(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "signaling", "serve", "--port", str(port), "--data-dir",
        str(tmp_path), "--log-level", "warning", cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(600):
                assert server.returncode is None, "server exited early"
                try:
                    if (await client.get(f"http://127.0.0.1:{port}/healthz")).is_success:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.05)
        assert await extensions_of(f"ws://127.0.0.1:{port}/ws/caller") is None
    finally:
        server.terminate()
        await server.wait()
