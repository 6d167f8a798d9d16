"""The signaling protocol against a real server on loopback with real WebSocket clients."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from tests.conftest import LiveServer, StartServer
from tests.protocol.wsclient import JsonClient, agent, caller, login

OFFER_SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"


async def test_healthz_and_login_errors(live_server: LiveServer) -> None:
    async with httpx.AsyncClient() as client:
        health = await client.get(f"{live_server.http}/healthz")
        assert health.status_code == 200 and health.json()["status"] == "ok"
        bad = await client.post(f"{live_server.http}/api/login",
                                json={"username": "demo-agent-1", "password": "wrong"})
        assert bad.status_code == 401
        assert bad.json() == {"type": "error", "code": "invalid_credentials",
                              "message": "wrong username or password"}
        garbage = await client.post(f"{live_server.http}/api/login", content=b"{nope")
        assert garbage.status_code == 422 and garbage.json()["code"] == "invalid_request"


async def test_call_is_queued_offered_accepted_relayed_and_ended(
        live_server: LiveServer) -> None:
    agent1 = await agent(live_server, "demo-agent-1")
    kiosk, queued = await caller(live_server, "water")
    call_id = queued["call_id"]
    assert len(queued["resume_token"]) >= 16

    offer = await agent1.expect("offer", call_id=call_id)
    assert offer["skill"] == "water" and offer["origin"] == "kiosk"
    assert offer["label"] == "海盐县武原街道" and offer["ring_timeout_ms"] > 0
    await kiosk.expect("ringing", call_id=call_id)
    await agent1.expect("agent_state", state="reserved")

    await agent1.send({"type": "accept", "call_id": call_id})
    caller_connected = await kiosk.expect("connected", call_id=call_id)
    agent_connected = await agent1.expect("connected", call_id=call_id)
    assert (caller_connected["role"], agent_connected["role"]) == ("offerer", "answerer")
    assert agent_connected["peer"]["origin"] == "kiosk"

    await kiosk.send({"type": "sdp", "call_id": call_id,
                      "description": {"type": "offer", "sdp": OFFER_SDP}})
    relayed = await agent1.expect("sdp", call_id=call_id)
    assert relayed["description"] == {"type": "offer", "sdp": OFFER_SDP}
    await agent1.send({"type": "sdp", "call_id": call_id,
                       "description": {"type": "answer", "sdp": OFFER_SDP}})
    assert (await kiosk.expect("sdp"))["description"]["type"] == "answer"
    candidate = {"candidate": "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host",
                 "sdpMid": "0", "sdpMLineIndex": 0}
    await kiosk.send({"type": "ice", "call_id": call_id, "candidate": candidate})
    assert (await agent1.expect("ice"))["candidate"]["candidate"] == candidate["candidate"]

    await agent1.send({"type": "hangup", "call_id": call_id})
    assert (await kiosk.expect("ended"))["reason"] == "agent_hangup"
    await agent1.expect("ended", call_id=call_id)
    await agent1.expect("agent_state", state="wrap_up")
    await agent1.send({"type": "end_wrap_up", "call_id": call_id, "outcome": "resolved",
                       "notes": "水表过户已受理"})
    await agent1.expect("wrap_up_saved", call_id=call_id)
    await agent1.expect("agent_state", state="ready")

    await kiosk.send({"type": "rating", "call_id": call_id, "score": 5})
    await kiosk.expect("rating_saved", call_id=call_id)
    record = await live_server.hub.call_records.get(call_id)
    assert (record.rating, record.outcome, record.agent_id) == (5, "resolved", "demo-agent-1")
    await kiosk.close()
    await agent1.close()


async def test_malformed_oversized_and_unknown_messages_get_coded_errors(
        live_server: LiveServer) -> None:
    kiosk = await JsonClient.open(f"{live_server.ws}/ws/caller")
    await kiosk.send("{not json")
    await kiosk.error("bad_json")
    await kiosk.send("[1, 2]")
    await kiosk.error("invalid_message")
    await kiosk.send({"type": "teleport"})
    await kiosk.error("unknown_type")
    await kiosk.send({"type": "call_request", "skill": "WATER!", "kiosk_token": "demo-kiosk"})
    await kiosk.error("invalid_message")
    await kiosk.send({"type": "ping", "v": 7})
    await kiosk.error("unsupported_version")
    await kiosk.send(json.dumps({"type": "ping", "pad": "x" * 70_000}))
    await kiosk.error("message_too_large")
    await kiosk.send({"type": "call_request", "skill": "water", "kiosk_token": "stolen"})
    await kiosk.error("invalid_kiosk_token")
    await kiosk.send({"type": "call_request", "skill": "astrology",
                      "kiosk_token": "demo-kiosk"})
    await kiosk.error("unknown_skill")
    await kiosk.send({"type": "call_request", "skill": "water", "company": {
        "name": "某某公司", "uscc": "91350100M000100Y44", "contact_name": "李四",
        "contact_phone": "13800138000"}})
    error = await kiosk.error("invalid_message")
    assert "uscc" in error["message"]
    # Nothing of the above entered the queue, and the socket still works.
    assert live_server.hub.engine.waiting_calls() == []
    await kiosk.send({"type": "ping"})
    await kiosk.expect("pong")
    await kiosk.close()


async def test_agent_messages_need_auth_and_callers_cannot_act_as_agents(
        live_server: LiveServer) -> None:
    anonymous = await JsonClient.open(f"{live_server.ws}/ws/agent")
    await anonymous.send({"type": "set_status", "status": "ready"})
    await anonymous.error("not_authenticated")
    await anonymous.send({"type": "auth", "token": "forged.token"})
    await anonymous.error("invalid_token")
    await anonymous.close()

    kiosk, queued = await caller(live_server, "gas")
    await kiosk.send({"type": "accept", "call_id": queued["call_id"]})
    await kiosk.error("unknown_type")  # agent-only message on the caller endpoint
    assert [c.id for c in live_server.hub.engine.waiting_calls()] == [queued["call_id"]]
    await kiosk.close()


async def test_relay_only_within_own_session(live_server: LiveServer) -> None:
    agent1 = await agent(live_server, "demo-agent-1", auto_answer=True)
    kiosk1, q1 = await caller(live_server, "water")
    await kiosk1.expect("connected")
    await agent1.expect("connected", call_id=q1["call_id"])
    agent2 = await agent(live_server, "demo-agent-2", ready=False)
    intruder, q2 = await caller(live_server, "tv")

    sdp = {"type": "offer", "sdp": OFFER_SDP}
    await intruder.send({"type": "sdp", "call_id": q1["call_id"], "description": sdp})
    await intruder.error("not_in_session")
    await agent2.send({"type": "sdp", "call_id": q1["call_id"], "description": sdp})
    await agent2.error("not_in_session")
    await agent2.send({"type": "hangup", "call_id": q1["call_id"]})
    await agent2.error("not_in_call")
    await agent2.send({"type": "accept", "call_id": q2["call_id"]})
    await agent2.error("not_offered")
    await agent1.silent({"sdp", "ended"})
    await kiosk1.silent({"sdp", "ended"})
    for client in (agent1, kiosk1, agent2, intruder):
        await client.close()


async def test_ring_timeout_reoffers_to_next_agent(start_server: StartServer) -> None:
    server = await start_server(ring_timeout=0.5, max_no_answer=1)
    slow = await agent(server, "demo-agent-1")
    kiosk, queued = await caller(server, "water")
    await slow.expect("offer", call_id=queued["call_id"])
    fast = await agent(server, "demo-agent-2")  # holds water at some level in the demo
    cancelled = await slow.expect("offer_cancelled", timeout=3)
    assert cancelled["reason"] == "timeout"
    await slow.expect("agent_state", state="not_ready", reason="missed")
    await fast.expect("offer", timeout=15, call_id=queued["call_id"])
    for client in (slow, fast, kiosk):
        await client.close()


async def test_caller_resume_keeps_place_and_call(start_server: StartServer) -> None:
    server = await start_server(resume_grace=5)
    kiosk, first = await caller(server, "water")
    second_kiosk, second = await caller(server, "water")
    assert second["position"] == 2
    await kiosk.close()
    await asyncio.sleep(0.2)
    back = await JsonClient.open(f"{server.ws}/ws/caller")
    await back.send({"type": "resume", "resume_token": first["resume_token"]})
    resumed = await back.expect("resumed")
    assert (resumed["call_id"], resumed["state"], resumed["position"]) == (
        first["call_id"], "waiting", 1)

    agent1 = await agent(server, "demo-agent-1")
    offer = await agent1.expect("offer")
    assert offer["call_id"] == first["call_id"]
    await agent1.send({"type": "accept", "call_id": first["call_id"]})
    await back.expect("connected")
    await back.close()
    await agent1.expect("peer_status", status="reconnecting")
    again = await JsonClient.open(f"{server.ws}/ws/caller")
    await again.send({"type": "resume", "resume_token": first["resume_token"]})
    assert (await again.expect("resumed"))["state"] == "connected"
    assert (await again.expect("connected"))["role"] == "offerer"
    await agent1.expect("peer_status", status="connected")
    for client in (again, second_kiosk, agent1):
        await client.close()


async def test_rate_limit_answers_with_error(start_server: StartServer) -> None:
    server = await start_server(rate_limit_per_second=1, rate_limit_burst=5)
    kiosk = await JsonClient.open(f"{server.ws}/ws/caller")
    for _ in range(8):
        await kiosk.send({"type": "ping"})
    await kiosk.error("rate_limited")
    await kiosk.close()


async def test_no_agent_offers_callback_and_callback_is_recorded(
        live_server: LiveServer) -> None:
    kiosk, queued = await caller(live_server, "tax")
    offer = await kiosk.expect("callback_offer")
    assert offer["reason"] == "no_agents"
    await kiosk.send({"type": "accept_callback", "phone": "13912345678"})
    registered = await kiosk.expect("callback_registered")
    await kiosk.expect("ended", disposition="callback")
    token = await login(live_server.http, "demo-agent-1")
    async with httpx.AsyncClient() as client:
        listed = await client.get(f"{live_server.http}/api/callbacks",
                                  headers={"Authorization": f"Bearer {token}"})
        assert [c["id"] for c in listed.json()["callbacks"]] == [registered["callback_id"]]
        claim = await client.post(
            f"{live_server.http}/api/callbacks/{registered['callback_id']}/claim",
            headers={"Authorization": f"Bearer {token}"})
        assert claim.json()["phone"] == "13912345678"
    await kiosk.close()


async def test_second_login_replaces_first_with_close_code(live_server: LiveServer) -> None:
    first = await agent(live_server, "demo-agent-1", ready=False)
    second = await agent(live_server, "demo-agent-1", ready=False)
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await first.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001
    await second.close()


async def test_invite_link_calls_that_agent_only(live_server: LiveServer) -> None:
    token = await login(live_server.http, "demo-agent-3")
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{live_server.http}/api/invites",
                                      json={"skill": "tax", "label": "税务咨询"},
                                      headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200
        invite = response.json()["token"]
    other = await agent(live_server, "demo-agent-1")
    target = await agent(live_server, "demo-agent-3")
    guest = await JsonClient.open(f"{live_server.ws}/ws/caller")
    await guest.send({"type": "call_request", "skill": "tax", "invite": invite})
    queued = await guest.expect("queued")
    offer = await target.expect("offer", call_id=queued["call_id"])
    assert offer["origin"] == "invite"
    await other.silent({"offer"})
    await guest.send({"type": "call_request", "skill": "tax", "invite": invite + "x"})
    await guest.error("call_in_progress")
    for client in (other, target, guest):
        await client.close()


async def test_rating_and_notes_sent_together_are_both_saved(
        start_server: StartServer) -> None:
    server = await start_server(wrap_up_time=0.3)
    agent1 = await agent(server, "demo-agent-1", auto_answer=True)
    kiosk, queued = await caller(server, "water")
    call_id = queued["call_id"]
    await kiosk.expect("connected")
    await kiosk.send({"type": "hangup"})
    await kiosk.expect("ended")
    await kiosk.send({"type": "rating", "call_id": call_id, "score": 4})
    await agent1.expect("agent_state", state="wrap_up")
    await agent1.expect("agent_state", state="ready", timeout=3)  # the wrap-up timer ran out
    # Notes typed after the timer still land on the call.
    await agent1.send({"type": "end_wrap_up", "call_id": call_id, "outcome": "resolved",
                       "notes": "燃气开户资料已齐"})
    await kiosk.expect("rating_saved")
    await agent1.expect("wrap_up_saved")
    record = await server.hub.call_records.get(call_id)
    assert (record.rating, record.outcome, record.notes) == (4, "resolved", "燃气开户资料已齐")
    await kiosk.close()
    await agent1.close()


async def test_size_limit_counts_bytes_not_characters(live_server: LiveServer) -> None:
    kiosk = await JsonClient.open(f"{live_server.ws}/ws/caller")
    await kiosk.send(json.dumps({"type": "ping", "pad": "水" * 30_000}, ensure_ascii=False))
    await kiosk.error("message_too_large")  # 30,000 characters, 90,000 bytes
    await kiosk.close()


async def test_repeated_bad_auth_closes_with_4401(live_server: LiveServer) -> None:
    console = await JsonClient.open(f"{live_server.ws}/ws/agent")
    for _ in range(3):
        await console.send({"type": "auth", "token": "forged.token"})
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await console.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_agent_reconnect_mid_call_tells_the_caller(live_server: LiveServer) -> None:
    agent1 = await agent(live_server, "demo-agent-1", auto_answer=True)
    kiosk, queued = await caller(live_server, "water")
    await kiosk.expect("connected")
    await agent1.close()
    await kiosk.expect("peer_status", status="reconnecting")
    back = await JsonClient.open(f"{live_server.ws}/ws/agent")
    await back.send({"type": "auth", "token": await login(live_server.http, "demo-agent-1")})
    authenticated = await back.recv()
    assert authenticated["type"] == "authenticated"  # before anything the login causes
    assert authenticated["call_id"] == queued["call_id"] and authenticated["state"] == "busy"
    await back.expect("connected", call_id=queued["call_id"])
    await kiosk.expect("peer_status", status="connected")
    await kiosk.close()
    await back.close()


async def test_enterprise_callers_cannot_jump_the_queue(live_server: LiveServer) -> None:
    company = {"name": "海盐演示企业有限公司", "uscc": "91350100M000100Y43",
               "contact_name": "张三", "contact_phone": "13800138000"}
    first, _ = await caller(live_server, "gas")
    guest = await JsonClient.open(f"{live_server.ws}/ws/caller")
    await guest.send({"type": "call_request", "skill": "gas", "company": company,
                      "priority": True})
    assert (await guest.expect("queued"))["position"] == 2
    elder = await JsonClient.open(f"{live_server.ws}/ws/caller")
    await elder.send({"type": "call_request", "skill": "gas", "kiosk_token": "demo-kiosk-2",
                      "priority": True})
    assert (await elder.expect("queued"))["position"] == 1
    for client in (first, guest, elder):
        await client.close()


async def test_repeated_wrong_passwords_are_throttled(live_server: LiveServer) -> None:
    async with httpx.AsyncClient() as client:
        codes = []
        for _ in range(6):
            response = await client.post(f"{live_server.http}/api/login",
                                         json={"username": "demo-agent-2", "password": "x"})
            codes.append(response.status_code)
        assert codes == [401] * 5 + [429]
        assert response.json()["code"] == "too_many_attempts"
        # Even the right password waits: the guesser must not learn it was right.
        right = await client.post(f"{live_server.http}/api/login",
                                  json={"username": "demo-agent-2", "password": "demo"})
        assert right.status_code == 429


async def test_a_kiosk_can_check_its_own_token(live_server: LiveServer) -> None:
    async with httpx.AsyncClient() as client:
        mine = await client.get(f"{live_server.http}/api/kiosk",
                                headers={"X-Kiosk-Token": "demo-kiosk"})
        assert mine.status_code == 200 and mine.json()["town"] == "海盐县武原街道"
        for headers in ({"X-Kiosk-Token": "revoked"}, {}):
            refused = await client.get(f"{live_server.http}/api/kiosk", headers=headers)
            assert refused.status_code == 401
            assert refused.json()["code"] == "invalid_kiosk_token"


async def test_repeated_call_request_returns_the_same_call(live_server: LiveServer) -> None:
    request = {"type": "call_request", "skill": "water", "kiosk_token": "demo-kiosk",
               "request_id": "a3f9c2e1b7d84f06a3f9c2e1b7d84f06"}
    first = await JsonClient.open(f"{live_server.ws}/ws/caller")
    await first.send(request)
    await first.close()  # gone before reading 'queued': did the server get it?
    await asyncio.sleep(0.2)
    again = await JsonClient.open(f"{live_server.ws}/ws/caller")
    await again.send(request)  # the same button press, sent again
    queued = await again.expect("queued")
    assert (await again.expect("resumed"))["call_id"] == queued["call_id"]
    assert [c.id for c in live_server.hub.engine.waiting_calls()] == [queued["call_id"]]
    await again.send({**request, "request_id": "x" * 8})
    await again.error("invalid_message")  # too short to be unguessable
    await again.close()
