"""The headless clients run the whole forms flow without a browser: the agent pushes a
matter and fills its fields, the caller fills its own, uploads the document photo, signs and
submits; the submission is stored with its materials (issue 7, headless clients)."""

from __future__ import annotations

import asyncio
from typing import Any

from kiosk_client.headless import answer_calls, place_call
from tests.conftest import StartServer

VALUES: dict[str, dict[str, Any]] = {
    "water-transfer": {"account_no": "3304240012", "owner_name": "张三",
                       "owner_id_number": "330424199001011239", "mobile": "13800138000",
                       "meter_reading": 1234},
}


async def test_headless_agent_and_caller_fill_sign_and_submit(
        start_server: StartServer) -> None:
    server = await start_server()
    events: list[tuple[str, str, dict[str, Any]]] = []

    def recorder(who: str) -> Any:
        return lambda name, fields: events.append((who, name, fields))

    agent = asyncio.create_task(answer_calls(
        server.http, "demo-agent-1", "demo", auto_answer=True, calls=1, hold=6.0,
        timeout=30, push=("water-transfer",), form_values=VALUES,
        on_event=recorder("agent")))
    await asyncio.sleep(1.0)  # the agent is ready
    timings = await place_call(server.http, "water", kiosk_token="demo-kiosk", hold=8.0,
                               timeout=30, form_values=VALUES, on_event=recorder("caller"))
    await agent
    submitted = [f for who, name, f in events if (who, name) == ("caller", "form_submitted")]
    assert len(submitted) == 1, "\n".join(map(str, events))
    [submission] = await server.hub.submissions.list_for_call(timings.call_id)
    assert submission.matter == "water-transfer"
    assert submission.values["meter_reading"] == 1234
    assert submission.values["owner_id_number"] == "330424199001011239"
    assert submission.filled_by["owner_name"] == "agent"
    assert submission.filled_by["meter_reading"] == "caller"
    assert submission.signature is not None and submission.signature in submission.materials
    assert len(submission.materials) == 2  # the deed photo and the signature
    stored = [await server.hub.materials.get(m) for m in submission.materials]
    assert {m.kind for m in stored if m is not None} == {"property-deed", "signature"}
    assert not [f for who, name, f in events if name == "form_error"], events
