"""``cloud-agent call`` (the headless kiosk caller) meets ``busy`` like the pages do: it
waits out the retry hint and asks again, and is connected once the server has room."""

from __future__ import annotations

import asyncio
from typing import Any

from kiosk_client.headless import answer_calls, place_call
from tests.conftest import StartServer


async def test_the_headless_caller_retries_after_busy_and_is_connected(
        start_server: StartServer) -> None:
    live = await start_server(busy_retry_after_ms=500)
    live.hub.admission.max_loop_lag = -1.0  # every new call request gets 'busy'
    events: list[tuple[str, dict[str, Any]]] = []

    def record(name: str, fields: dict[str, Any]) -> None:
        events.append((name, fields))
        if name == "busy":
            live.hub.admission.max_loop_lag = 3600.0  # room again

    async with asyncio.TaskGroup() as group:
        agent = group.create_task(answer_calls(
            live.http, "demo-agent-1", "demo", auto_answer=True, calls=1, hold=1,
            on_event=record, timeout=30))
        caller = group.create_task(place_call(
            live.http, "water", kiosk_token="demo-kiosk", hold=0.5, on_event=record,
            timeout=30))
    names = [name for name, _ in events]
    assert "busy" in names and names.index("busy") < names.index("queued")
    assert caller.result().call_id == agent.result()[0].call_id
