"""One client must not harm the others: floods, takeovers and loose input (issue 6, items
1, 2, 4, 5, 6). A real server on loopback; distinct client addresses come through
X-Forwarded-For, which the server trusts from loopback as it does behind a local nginx."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from signaling.matters.validators import uscc_check_character
from tests.conftest import LiveServer, StartServer
from tests.protocol.wsclient import JsonClient, agent, caller, login


def uscc(serial: int) -> str:
    """A valid unified social credit code, different for each serial (as a flooder would
    compute them)."""
    first17 = f"91330424MA{serial:07d}"
    return first17 + uscc_check_character(first17)


def company(serial: int, phone: str = "13800138000") -> dict[str, str]:
    return {"name": f"海盐测试企业{serial}有限公司", "uscc": uscc(serial),
            "contact_name": "张三", "contact_phone": phone}


async def enterprise_call(server: LiveServer, address: str, details: dict[str, str],
                          **extra: Any) -> tuple[JsonClient, dict[str, Any]]:
    client = await JsonClient.open(f"{server.ws}/ws/caller", address)
    await client.send({"type": "call_request", "skill": "water", "company": details, **extra})
    reply = await client.recv()
    return client, reply


async def test_a_flood_from_one_address_cannot_push_a_kiosk_down_the_queue(
        start_server: StartServer) -> None:
    server = await start_server(max_calls_per_address=3, max_calls_per_company=100)
    clients = []
    replies = []
    for serial in range(8):  # the flooder computes a fresh USCC for each call
        client, reply = await enterprise_call(server, "203.0.113.9", company(serial))
        clients.append(client)
        replies.append(reply)
    assert [r["type"] for r in replies] == ["queued"] * 3 + ["error"] * 5
    refused = replies[3]
    assert (refused["code"], refused["scope"], refused["in_reply_to"]) == (
        "too_many_calls", "address", "call_request")
    other, reply = await enterprise_call(server, "198.51.100.7", company(99))
    assert reply["type"] == "queued"  # another network is not affected
    kiosk, queued = await caller(server, "water")
    assert queued["position"] == 5  # behind 3 + 1 calls, not behind the flood
    # A call that ends frees its place in the address's allowance.
    await clients[0].send({"type": "hangup"})
    await clients[0].expect("ended")
    again, reply = await enterprise_call(server, "203.0.113.9", company(50))
    assert reply["type"] == "queued"
    for client in [*clients, other, kiosk, again]:
        await client.close()


async def test_one_company_has_a_bounded_number_of_live_calls(
        start_server: StartServer) -> None:
    server = await start_server(max_calls_per_company=2)
    results = [await enterprise_call(server, f"192.0.2.{n}", company(7)) for n in range(3)]
    assert [r["type"] for _, r in results] == ["queued", "queued", "error"]
    assert (results[2][1]["code"], results[2][1]["scope"]) == ("too_many_calls", "company")
    for client, _ in results:
        await client.close()


async def test_a_kiosk_holds_one_live_call_and_a_reloaded_kiosk_frees_its_old_one(
        live_server: LiveServer) -> None:
    first, queued = await caller(live_server, "water", kiosk_token="demo-kiosk")
    second = await JsonClient.open(f"{live_server.ws}/ws/caller")
    await second.send({"type": "call_request", "skill": "gas", "kiosk_token": "demo-kiosk"})
    refused = await second.error("too_many_calls")
    assert refused["scope"] == "kiosk"
    # The page reloads and forgets its resume token: the old socket is gone, the new
    # press ends the orphaned call instead of being refused for the resume grace.
    await first.close()
    await asyncio.sleep(0.2)
    await second.send({"type": "call_request", "skill": "gas", "kiosk_token": "demo-kiosk"})
    fresh = await second.expect("queued")
    assert fresh["position"] == 1
    assert [c.id for c in live_server.hub.engine.waiting_calls()] == [fresh["call_id"]]
    assert queued["call_id"] not in live_server.hub.callers
    await second.close()


async def refused(url: str, address: str) -> tuple[dict[str, Any], int | None]:
    """Open a socket that the server should refuse: its one frame and its close code."""
    async with connect(url, additional_headers={"X-Forwarded-For": address}) as ws:
        frame = json.loads(await ws.recv())
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    return frame, closed.value.rcvd.code if closed.value.rcvd else None


async def test_new_sockets_per_address_are_limited(start_server: StartServer) -> None:
    server = await start_server(new_sockets_per_minute=4, max_caller_sockets_per_address=100)
    opened = [await JsonClient.open(f"{server.ws}/ws/caller", "203.0.113.5")
              for _ in range(4)]
    frame, code = await refused(f"{server.ws}/ws/caller", "203.0.113.5")
    assert (frame["code"], code) == ("too_many_connections", 1013)
    frame, code = await refused(f"{server.ws}/ws/agent", "203.0.113.5")
    assert (frame["code"], code) == ("too_many_connections", 1013)  # both endpoints count
    elsewhere = await JsonClient.open(f"{server.ws}/ws/caller", "198.51.100.1")
    await elsewhere.send({"type": "ping"})
    await elsewhere.expect("pong")
    for client in [*opened, elsewhere]:
        await client.close()


async def test_open_caller_sockets_per_address_are_limited(start_server: StartServer) -> None:
    server = await start_server(new_sockets_per_minute=1000, max_caller_sockets_per_address=3)
    opened = [await JsonClient.open(f"{server.ws}/ws/caller", "203.0.113.6")
              for _ in range(3)]
    frame, code = await refused(f"{server.ws}/ws/caller", "203.0.113.6")
    assert (frame["code"], code) == ("too_many_connections", 1013)
    await opened[0].close()
    await asyncio.sleep(0.2)
    admitted = await JsonClient.open(f"{server.ws}/ws/caller", "203.0.113.6")
    await admitted.send({"type": "ping"})
    await admitted.expect("pong")
    for client in [*opened[1:], admitted]:
        await client.close()


async def callback_request(server: LiveServer, address: str, phone: str,
                           serial: int) -> dict[str, Any]:
    """Queue an enterprise call (no agent is logged in) and ask for a callback."""
    client, reply = await enterprise_call(server, address, company(serial))
    assert reply["type"] == "queued", reply
    await client.send({"type": "accept_callback", "phone": phone})
    while True:
        message = await client.recv()
        if message["type"] in ("callback_registered", "error"):
            await client.close()
            return message


async def test_a_pending_number_is_called_back_once(live_server: LiveServer) -> None:
    first = await callback_request(live_server, "192.0.2.1", "13900139000", 1)
    again = await callback_request(live_server, "192.0.2.2", "13900139000", 2)
    assert first["type"] == again["type"] == "callback_registered"
    assert (first["duplicate"], again["duplicate"]) == (False, True)
    assert again["callback_id"] == first["callback_id"]
    assert len(await live_server.hub.callbacks.list_pending("default")) == 1


async def test_callbacks_are_limited_per_address_phone_and_day(
        start_server: StartServer) -> None:
    server = await start_server(max_callbacks_per_address=2, max_callbacks_per_phone=1,
                                max_callbacks_per_day=4, max_calls_per_address=100)
    by_address = [await callback_request(server, "203.0.113.1", f"1390000000{n}", n)
                  for n in range(3)]
    assert [m["type"] for m in by_address] == ["callback_registered"] * 2 + ["error"]
    assert (by_address[2]["code"], by_address[2]["scope"]) == ("too_many_callbacks", "address")

    # A number whose callback was already taken may not ask again today.
    token = await login(server.http, "demo-agent-1")
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
        claimed = await http.post(
            f"{server.http}/api/callbacks/{by_address[0]['callback_id']}/claim")
        assert claimed.status_code == 200
    by_phone = await callback_request(server, "203.0.113.2", "13900000000", 10)
    assert (by_phone["code"], by_phone["scope"]) == ("too_many_callbacks", "phone")

    day = [await callback_request(server, f"198.51.100.{n}", f"1370000000{n}", 20 + n)
           for n in range(3)]
    assert [m["type"] for m in day] == ["callback_registered"] * 2 + ["error"]
    assert (day[2]["code"], day[2]["scope"]) == ("too_many_callbacks", "day")
    # Refused callers are still in the queue, not silently dropped.
    assert len(server.hub.engine.waiting_calls()) == 3


async def test_a_repeated_request_id_belongs_to_its_caller(live_server: LiveServer) -> None:
    request_id = "q7Z2mB9xK4pL8wR1tY6nV3cF"
    victim, queued = await enterprise_call(live_server, "192.0.2.10", company(1),
                                           request_id=request_id)
    assert queued["type"] == "queued"
    # Another network repeats the id with its own identity: refused, nothing of the
    # victim's call is sent.
    thief, reply = await enterprise_call(live_server, "192.0.2.66", company(2),
                                         request_id=request_id)
    assert (reply["type"], reply["code"]) == ("error", "request_id_in_use")
    assert queued["resume_token"] not in json.dumps(thief.seen)
    # A socket that already has a call never receives another caller's frame either.
    busy, own = await enterprise_call(live_server, "192.0.2.66", company(3))
    await busy.send({"type": "call_request", "skill": "water", "company": company(1),
                     "request_id": request_id})
    await busy.error("call_in_progress")
    assert queued["call_id"] not in json.dumps(busy.seen)
    # The victim's own retry from its own address still returns its call.
    retry, again = await enterprise_call(live_server, "192.0.2.10", company(1),
                                         request_id=request_id)
    assert again["call_id"] == queued["call_id"]
    for client in (victim, thief, busy, retry):
        await client.close()


async def test_short_request_ids_are_refused(live_server: LiveServer) -> None:
    client = await JsonClient.open(f"{live_server.ws}/ws/caller")
    await client.send({"type": "call_request", "skill": "water", "kiosk_token": "demo-kiosk",
                       "request_id": "a3f9c2e1b7d84f06"})  # 64 bits: guessable
    await client.error("invalid_message")
    await client.close()


async def test_deep_json_gets_bad_json_and_one_log_line(
        live_server: LiveServer, caplog: pytest.LogCaptureFixture) -> None:
    client = await JsonClient.open(f"{live_server.ws}/ws/caller")
    deep = '{"type":"ping","x":' + "[" * 3000 + "]" * 3000 + "}"
    with caplog.at_level(logging.INFO):
        await client.send(deep)
        await client.error("bad_json")
        await client.send({"type": "ping"})
        await client.expect("pong")  # the socket lives on
    assert not [r for r in caplog.records if r.exc_info], "no traceback for bad input"
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{live_server.http}/api/login", content=deep.encode(),
                                   headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_request"
    await client.close()


@pytest.mark.parametrize("frame", [
    {"type": "ping", "v": "1"},
    {"type": "rating", "call_id": "c1", "score": "5"},
    {"type": "rating", "call_id": "c1", "score": True},
    {"type": "call_request", "skill": "water", "kiosk_token": "demo-kiosk",
     "priority": "yes"},
    {"type": "call_request", "skill": "water", "kiosk_token": "demo-kiosk",
     "language": "zh-CN", "priority": 1},
])
async def test_caller_frames_are_strictly_typed(live_server: LiveServer,
                                                frame: dict[str, Any]) -> None:
    client = await JsonClient.open(f"{live_server.ws}/ws/caller")
    await client.send(frame)
    await client.error("invalid_message")
    assert live_server.hub.engine.waiting_calls() == []
    await client.close()


async def test_agent_frames_and_rest_bodies_are_strictly_typed(
        live_server: LiveServer) -> None:
    agent1 = await agent(live_server, "demo-agent-3", ready=False)
    await agent1.send({"type": "set_auto_answer", "enabled": "yes"})
    await agent1.error("invalid_message")
    await agent1.send({"type": "set_auto_answer", "enabled": 1})
    await agent1.error("invalid_message")
    await asyncio.sleep(0.2)
    account = await live_server.hub.accounts.get("demo-agent-3")
    assert account is not None and account.auto_answer is False  # nothing was saved
    token = await login(live_server.http, "demo-agent-3")
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
        for body in ({"skill": "water", "ttl_seconds": "600"},
                     {"skill": "water", "max_uses": True},
                     {"skill": "water", "label": 5}):
            response = await http.post(f"{live_server.http}/api/invites", json=body)
            assert response.status_code == 422, body
            assert response.json()["code"] == "invalid_request"
        bad_login = await http.post(f"{live_server.http}/api/login",
                                    json={"username": "demo-agent-3", "password": 1234})
        assert bad_login.status_code == 422
    await agent1.close()


async def test_bytes_per_second_are_capped_per_connection(start_server: StartServer) -> None:
    """Fifteen 60 KB frames are within the message budget but far over the byte budget:
    the sender is told to slow down, held back, and cut off; others are untouched."""
    server = await start_server(rate_limit_bytes_per_second=64 * 1024,
                                rate_limit_bytes_burst=128 * 1024)
    noisy = await JsonClient.open(f"{server.ws}/ws/caller", "203.0.113.77")
    neighbour = await JsonClient.open(f"{server.ws}/ws/caller", "198.51.100.77")
    junk = "x" * 60_000
    with pytest.raises(ConnectionClosed) as closed:
        for _ in range(15):
            await noisy.send(junk)
        while True:
            await noisy.recv(timeout=15)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    limited = [m for m in noisy.seen if m.get("code") == "rate_limited"]
    assert len(limited) >= 10 and all(m["retry_after_ms"] > 0 for m in limited)
    await neighbour.send({"type": "ping"})
    await neighbour.expect("pong")
    await neighbour.close()
