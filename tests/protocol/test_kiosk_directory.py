"""The directory (signaling/live/directory.py): call requests are identified from memory, and
kiosks changed by the real ``cloud-agent admin`` CLI in another process are seen by a
running server after its next directory refresh."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import event

from tests.conftest import LiveServer, StartServer
from tests.protocol.wsclient import JsonClient

CLI = [sys.executable, "-m", "signaling"]
ROOT = Path(__file__).resolve().parents[2]


async def admin(data_dir: Path, *args: str) -> str:
    """Run ``cloud-agent admin`` as an operator would, in its own process."""
    process = await asyncio.create_subprocess_exec(
        *CLI, "admin", "--data-dir", str(data_dir), *args, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, output.decode()
    return output.decode()


async def next_reload(live: LiveServer, stamp: int) -> None:
    """Wait until the server's directory was reloaded past ``stamp``."""
    while live.hub.directory.stamp <= stamp:
        await asyncio.sleep(0.05)


async def request(live: LiveServer, token: str) -> tuple[JsonClient, dict[str, Any]]:
    """A kiosk call request; the server's first answer to it (``queued`` or ``error``)."""
    client = await JsonClient.open(f"{live.ws}/ws/caller")
    await client.send({"type": "call_request", "skill": "water", "kiosk_token": token})
    while True:
        message = await client.recv()
        if message["type"] in ("queued", "error"):
            return client, message


async def test_a_kiosk_added_then_revoked_by_the_cli_is_taken_then_refused(
        start_server: StartServer, tmp_path: Path) -> None:
    data_dir = tmp_path / "shared-data"
    live = await start_server(data_dir=data_dir, directory_refresh_interval=0.2)
    stamp = live.hub.directory.stamp

    output = await admin(data_dir, "add-kiosk", "--name", "武原2号", "--town", "武原街道")
    token = output.split("/kiosk?token=")[1].strip()
    kiosk_id = output.split("kiosk ")[1].split(" ")[0]
    await asyncio.wait_for(next_reload(live, stamp), 10)

    caller, answer = await request(live, token)
    assert answer["type"] == "queued"
    await caller.send({"type": "hangup"})
    await caller.expect("ended")

    stamp = live.hub.directory.stamp
    assert "revoked" in await admin(data_dir, "revoke-kiosk", kiosk_id)
    await asyncio.wait_for(next_reload(live, stamp), 10)

    _, answer = await request(live, token)
    assert answer["type"] == "error" and answer["code"] == "invalid_kiosk_token"
    assert kiosk_id not in await admin(data_dir, "list-kiosks")


async def test_call_requests_do_not_read_kiosks_from_the_database(
        start_server: StartServer) -> None:
    live = await start_server()
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)
    engine = live.hub.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        for token in ("demo-kiosk", "demo-kiosk-2", "no-such-kiosk"):
            await request(live, token)
    finally:
        event.remove(engine, "before_cursor_execute", seen)

    assert not [s for s in statements if "FROM kiosks" in s]
