"""Overload (issue 9): a burst of call requests beyond what the server can take at once.

Every request gets an answer, ``queued`` or ``busy`` with a retry hint, never
``internal_error`` and never silence; every queued call is answered by an agent, hung up,
and has its record in the ``calls`` table at the end. The shedding limits are set low so
that this small burst overloads the server on any machine (at least the first few are
queued, the rest outrun the record writes); no timing is asserted.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
from sqlalchemy import select
from websockets.asyncio.client import ClientConnection, connect

from signaling.demo import load_agent, load_kiosk
from signaling.matters.validators import uscc_check_character
from signaling.store.models import CallRecord
from signaling.tokens import sign
from tests.conftest import LiveServer, StartServer

SECRET = "overload-test-secret"
AGENTS = 10
KIOSK_CALLS = 150
COMPANY_CALLS = 100
SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"


async def answering_agent(live: LiveServer, number: int, ready: asyncio.Event) -> None:
    """Accept every offer, exchange SDP and ICE with the caller, hang up, end wrap-up."""
    async with connect(f"{live.ws}/ws/agent", compression=None) as ws:
        token = sign(SECRET.encode(), "agent", load_agent(number), time.time(), 3600)
        await ws.send(json.dumps({"type": "auth", "token": token}))
        await ws.send(json.dumps({"type": "set_status", "status": "ready"}))
        async for raw in ws:
            message = json.loads(raw)
            kind, call_id = message["type"], message.get("call_id")
            if kind == "agent_state" and message.get("state") == "ready":
                ready.set()
            elif kind == "offer":
                await ws.send(json.dumps({"type": "accept", "call_id": call_id}))
            elif kind == "sdp":
                for text in (
                    json.dumps({"type": "sdp", "call_id": call_id,
                                "description": {"type": "answer", "sdp": SDP}}),
                    json.dumps({"type": "ice", "call_id": call_id, "candidate": {
                        "candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host",
                        "sdpMid": "0"}}),
                    json.dumps({"type": "hangup", "call_id": call_id}),
                ):
                    await ws.send(text)
            elif kind == "ended":
                await ws.send(json.dumps({"type": "end_wrap_up", "call_id": call_id}))


def company(number: int) -> dict[str, str]:
    first17 = f"91330424MA{number:07d}"
    return {"name": f"压测企业{number}", "uscc": first17 + uscc_check_character(first17),
            "contact_name": "张三", "contact_phone": "13800138000"}


async def first_answer(ws: ClientConnection) -> dict[str, Any]:
    while True:
        message: dict[str, Any] = json.loads(await ws.recv())
        if message["type"] in ("queued", "error"):
            return message


async def place_call(ws: ClientConnection, request: dict[str, Any],
                     go: asyncio.Event) -> tuple[dict[str, Any], list[str]]:
    """Send the request when ``go`` is set; the first answer and, for a queued call, what
    followed until ``ended``."""
    await go.wait()
    await ws.send(json.dumps(request))
    answer = await asyncio.wait_for(first_answer(ws), 30)
    seen: list[str] = []
    if answer["type"] == "queued":
        while not seen or seen[-1] != "ended":
            message = json.loads(await asyncio.wait_for(ws.recv(), 40))
            seen.append(message["type"])
            if message["type"] == "connected":
                await ws.send(json.dumps({"type": "sdp", "call_id": answer["call_id"],
                                          "description": {"type": "offer", "sdp": SDP}}))
    return answer, seen


async def test_a_burst_beyond_capacity_gets_queued_or_busy_and_every_queued_call_is_recorded(
        start_server: StartServer) -> None:
    live = await start_server(
        secret_key=SECRET, demo_load_agents=AGENTS, demo_load_kiosks=KIOSK_CALLS,
        # Shed on the record backlog (the fixture turns the loop-lag signal off: the clients
        # share the server's loop), which a burst of queued calls outruns on any machine.
        shed_record_backlog=20, wrap_up_outcome_required=False,
        max_calls_per_address=100_000, max_caller_sockets_per_address=100_000,
        new_sockets_per_minute=100_000, rate_limit_burst=1000)
    ready = [asyncio.Event() for _ in range(AGENTS)]
    agents = [asyncio.create_task(answering_agent(live, n + 1, ready[n]))
              for n in range(AGENTS)]
    sockets: list[ClientConnection] = []
    try:
        await asyncio.wait_for(asyncio.gather(*(event.wait() for event in ready)), 30)
        requests = [{"type": "call_request", "skill": "water", "kiosk_token": load_kiosk(n)}
                    for n in range(1, KIOSK_CALLS + 1)]
        requests += [{"type": "call_request", "skill": "tax", "company": company(n)}
                     for n in range(COMPANY_CALLS)]
        for _ in requests:
            ws = await connect(f"{live.ws}/ws/caller", compression=None)
            await ws.recv()  # hello
            sockets.append(ws)
        go = asyncio.Event()
        calls = [asyncio.create_task(place_call(ws, request, go))
                 for ws, request in zip(sockets, requests, strict=True)]
        go.set()  # the burst: every request at once
        results = await asyncio.wait_for(asyncio.gather(*calls), 50)
    finally:
        for task in agents:
            task.cancel()
        await asyncio.gather(*agents, return_exceptions=True)
        for ws in sockets:
            await ws.close()

    answers = [answer for answer, _ in results]
    queued = [a["call_id"] for a in answers if a["type"] == "queued"]
    busy = [a for a in answers if a["type"] == "error"]
    assert {(a["code"], a["reason"] in ("loop_lag", "record_backlog", "identifying"))
            for a in busy} <= {("busy", True)}, busy
    assert all(a["retry_after_ms"] > 0 for a in busy)
    assert queued and busy, (len(queued), len(busy))
    assert all(seen[-1] == "ended" and "connected" in seen for _, seen in results if seen)

    async def recorded() -> set[str]:
        async with live.hub.db.session() as session:
            ended = await session.scalars(select(CallRecord.id).where(
                CallRecord.id.in_(queued), CallRecord.phase == "ended"))
            return set(ended)
    for _ in range(300):
        if await recorded() == set(queued):
            break
        await asyncio.sleep(0.1)
    assert await recorded() == set(queued)

    async with httpx.AsyncClient() as http:
        metrics = (await http.get(f"{live.http}/metrics")).text
    assert f'cloud_agent_call_requests_busy_total{{reason="record_backlog"}} {len(busy)}' \
        in metrics
