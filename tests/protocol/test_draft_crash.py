"""A half-filled form survives a SIGKILL: a real ``cloud-agent serve`` hands the session's
document to its draft writer within one draft round (``DRAFT_INTERVAL``) of the typing, the
writer commits it on its own connection, and a kill after that finds it in the SQLite file
(docs/operations.md, "Drafts, and what a crash loses"). A second start keeps the draft for
the agent to look up.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from signaling.live.matter_side import DRAFT_INTERVAL
from tests.protocol.test_crash import ServeProcess
from tests.protocol.wsclient import agent, caller


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ServeProcess]:
    process = ServeProcess(tmp_path / "data")
    try:
        yield process
    finally:
        if process.process is not None and process.process.returncode is None:
            await process.stop(signal.SIGKILL)


def stored_draft(server: ServeProcess, call_id: str) -> dict[str, Any] | None:
    connection = sqlite3.connect(server.data_dir / "cloud-agent.db")
    try:
        row = connection.execute("SELECT document, revision FROM session_drafts "
                                 "WHERE call_id = ?", (call_id,)).fetchone()
    finally:
        connection.close()
    if row is None:
        return None
    document = row[0] if isinstance(row[0], dict) else json.loads(row[0])
    return {"document": document, "revision": row[1]}


async def test_typing_in_a_form_survives_a_sigkill_after_one_draft_round(
        server: ServeProcess) -> None:
    await server.start()
    console = await agent(server, "demo-agent-2", auto_answer=True)
    kiosk, queued = await caller(server, "water")
    call_id = queued["call_id"]
    await kiosk.expect("connected", call_id=call_id)
    await console.send({"type": "push_form", "call_id": call_id, "matter": "water-transfer"})
    form = (await kiosk.expect("form_pushed"))["form"]
    ui = form["form"]["ui"]
    name = next(n for n in ui["order"]
                if not ui["fields"][n].get("caller") and ui["fields"][n]["type"] == "text")
    await console.send({"type": "edit_field", "call_id": call_id, "form_id": form["form_id"],
                        "field": name, "value": "崩溃前输入的内容", "base": 0})
    changed = await kiosk.expect("field_changed", field=name)
    typed_at = time.monotonic()

    # The next draft round hands the document to the writer; the writer commits it.
    draft = None
    for _ in range(int(DRAFT_INTERVAL * 10) + 300):
        draft = stored_draft(server, call_id)
        if draft is not None and draft["document"]["forms"] \
                and draft["document"]["forms"][0]["values"].get(name):
            break
        await asyncio.sleep(0.1)
    saved_after = time.monotonic() - typed_at
    assert await server.stop(signal.SIGKILL) == -signal.SIGKILL
    print(f"draft in the database {saved_after:.2f} s after the edit "
          f"(round {DRAFT_INTERVAL} s)")

    draft = stored_draft(server, call_id)
    assert draft is not None, "the draft was not saved before the kill"
    assert draft["document"]["forms"][0]["values"][name] == "崩溃前输入的内容"
    assert draft["revision"] >= changed.get("revision", 1)

    await server.start()  # the draft outlives the restart too
    again = stored_draft(server, call_id)
    assert again is not None and again["document"] == draft["document"]
