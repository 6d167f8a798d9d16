"""``cloud-agent webhook-sim`` as a real process: it verifies, fails the first N deliveries,
dedupes by event id, and calls back once, signed, with its decision."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from signaling.outbox.signing import EVENT_HEADER, SIGNATURE_HEADER, sign, verify
from tests.conftest import free_port

CLI = [sys.executable, "-m", "signaling"]
SECRET = "sim-secret-for-tests"


@dataclass
class CallbackEnd:
    """The server's side of the callback, as far as this test needs one: it records the
    signed requests it gets."""

    url: str
    received: asyncio.Queue[tuple[bytes, str | None]] = field(default_factory=asyncio.Queue)


@pytest.fixture
async def callback_end() -> AsyncIterator[CallbackEnd]:
    port = free_port()
    end = CallbackEnd(f"http://127.0.0.1:{port}/api/webhooks/gas-company/decision")

    async def decision(request: Request) -> JSONResponse:
        end.received.put_nowait((await request.body(), request.headers.get(SIGNATURE_HEADER)))
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/api/webhooks/gas-company/decision", decision,
                                  methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    yield end
    server.should_exit = True
    await asyncio.wait_for(task, 10)


async def start_sim(*args: str) -> tuple[asyncio.subprocess.Process, str]:
    port = free_port()
    sim = await asyncio.create_subprocess_exec(
        *CLI, "webhook-sim", "--port", str(port), "--secret", SECRET, *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            if sim.returncode is not None:
                raise AssertionError("webhook-sim exited early")
            try:
                if (await client.get(f"{url}/deliveries")).status_code == 200:
                    return sim, url
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("webhook-sim did not start")


def signed(payload: Mapping[str, object], secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    return body, {"Content-Type": "application/json", EVENT_HEADER: str(payload["event_id"]),
                  SIGNATURE_HEADER: sign(secret, body, time.time())}


async def test_sim_fails_first_n_dedupes_and_calls_back_once_signed(
        callback_end: CallbackEnd) -> None:
    sim, url = await start_sim("--fail-first", "1", "--delay", "0", "--decision", "reject",
                               "--reason", "缺少房产证")
    try:
        payload = {"event_id": "evt-0001", "type": "task.created", "task_id": "task-7",
                   "department": "gas-company", "callback_url": callback_end.url}
        body, headers = signed(payload)
        async with httpx.AsyncClient() as client:
            forged = await client.post(f"{url}/hook", content=body, headers={
                **headers, SIGNATURE_HEADER: sign("not-the-secret", body, time.time())})
            statuses = [(await client.post(f"{url}/hook", content=body, headers=headers))
                        .status_code for _ in range(3)]
            callback_body, signature = await asyncio.wait_for(callback_end.received.get(), 30)
            for _ in range(300):  # the sim records the callback's answer after it came
                listing = (await client.get(f"{url}/deliveries")).json()
                if listing["deliveries"][0]["callback_status"] is not None:
                    break
                await asyncio.sleep(0.1)

        assert forged.status_code == 401 and forged.json() == {"code": "bad_signature"}
        assert statuses == [500, 200, 200]
        verify(SECRET, callback_body, signature, time.time())
        decision = json.loads(callback_body)
        assert decision["task_id"] == "task-7" and decision["decision"] == "reject"
        assert decision["reason"] == "缺少房产证" and decision["event_id"] != "evt-0001"
        assert listing["refused"] == 1 and listing["received"] == 3
        assert listing["deliveries"] == [{
            "event_id": "evt-0001", "type": "task.created", "task_id": "task-7",
            "received": 3, "failed": 1, "accepted": 1, "duplicates": 1,
            "callback_status": 200}]
    finally:
        sim.terminate()
        out, _ = await asyncio.wait_for(sim.communicate(), 15)
    lines = [json.loads(line) for line in out.decode().splitlines()]
    assert [line["event"] for line in lines] == [
        "listening", "refused", "delivery", "delivery", "delivery", "callback"]
    assert [line.get("status") for line in lines[2:]] == [500, 200, 200, 200]
