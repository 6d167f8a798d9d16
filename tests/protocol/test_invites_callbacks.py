"""Invite links as short opaque tokens, callbacks with an outcome and a history, wrap-up
with an outcome, the caller's language on the offer, 1012 on shutdown (issue 6, items 15,
19, 20, 22 and the restart close code)."""

from __future__ import annotations

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from tests.conftest import LiveServer, StartServer
from tests.protocol.wsclient import JsonClient, agent, caller, login


async def invite_call(server: LiveServer, token: str) -> dict[str, object]:
    client = await JsonClient.open(f"{server.ws}/ws/caller")
    await client.send({"type": "call_request", "skill": "water", "invite": token})
    reply = await client.recv()
    await client.close()
    return reply


async def test_invites_are_short_opaque_limited_and_revocable(
        live_server: LiveServer) -> None:
    token = await login(live_server.http, "demo-agent-2")
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=live_server.http, headers=auth) as http:
        made = (await http.post("/api/invites", json={
            "skill": "transport", "label": "海盐某某公司 李四", "max_uses": 2})).json()
        assert len(made["token"]) == 22 and made["url"].endswith(f"call?invite={made['token']}")
        assert len(made["url"]) < 80
        assert "李四" not in made["url"] and "demo-agent-2" not in made["url"]
        assert (made["max_uses"], made["uses"], made["active"]) == (2, 0, True)
        public = (await http.get(f"/api/invites/{made['token']}")).json()
        assert public["agent"]["id"] == "demo-agent-2" and public["uses_left"] == 2

        # Two uses, then the link is spent.
        first = await invite_call(live_server, made["token"])
        second = await invite_call(live_server, made["token"])
        third = await invite_call(live_server, made["token"])
        assert [first["type"], second["type"], third["type"]] == ["queued", "queued", "error"]
        assert third["code"] == "invalid_invite" and "used" in str(third["message"])
        listed = (await http.get("/api/invites")).json()["invites"]
        assert [(i["id"], i["uses"], i["active"]) for i in listed] == [(made["id"], 2, False)]
        assert "token" not in listed[0]

        # A second link, revoked by its agent, stops working at once.
        other = (await http.post("/api/invites", json={"skill": "water"})).json()
        assert other["max_uses"] == 1
        revoked = await http.delete(f"/api/invites/{other['id']}")
        assert revoked.json() == {"id": other["id"], "revoked": True}
        assert (await invite_call(live_server, other["token"]))["code"] == "invalid_invite"
        gone = await http.get(f"/api/invites/{other['token']}")
        assert (gone.status_code, gone.json()["code"]) == (404, "invalid_invite")
        assert (await http.get("/api/invites/" + "A" * 22)).status_code == 404
        too_many = await http.post("/api/invites", json={"skill": "water", "max_uses": 51})
        assert too_many.status_code == 422

    # Nobody revokes another agent's invite.
    other_token = await login(live_server.http, "demo-agent-3")
    async with httpx.AsyncClient(base_url=live_server.http,
                                 headers={"Authorization": f"Bearer {other_token}"}) as http:
        assert (await http.delete(f"/api/invites/{made['id']}")).status_code == 404
        assert (await http.get("/api/invites")).json()["invites"] == []
    audit = [e.action for e in await live_server.hub.audit_log.recent()]
    assert audit.count("invite_created") == 2 and "invite_revoked" in audit


async def test_an_invite_used_before_expiry_still_rings_its_agent(
        live_server: LiveServer) -> None:
    target = await agent(live_server, "demo-agent-4")
    token = await login(live_server.http, "demo-agent-4")
    async with httpx.AsyncClient(base_url=live_server.http,
                                 headers={"Authorization": f"Bearer {token}"}) as http:
        made = (await http.post("/api/invites", json={"skill": "tax",
                                                      "label": "某公司"})).json()
    client = await JsonClient.open(f"{live_server.ws}/ws/caller")
    await client.send({"type": "call_request", "skill": "water", "invite": made["token"]})
    queued = await client.expect("queued")
    offer = await target.expect("offer", call_id=queued["call_id"])
    assert (offer["skill"], offer["origin"], offer["label"]) == ("tax", "invite", "某公司")
    await client.close()
    await target.close()


async def test_a_completed_callback_keeps_its_outcome_and_notes_in_history(
        live_server: LiveServer) -> None:
    kiosk, queued = await caller(live_server, "water")
    await kiosk.send({"type": "accept_callback", "phone": "13912345678"})
    registered = await kiosk.expect("callback_registered")
    token = await login(live_server.http, "demo-agent-1")
    async with httpx.AsyncClient(base_url=live_server.http,
                                 headers={"Authorization": f"Bearer {token}"}) as http:
        callback_id = registered["callback_id"]
        assert (await http.post(f"/api/callbacks/{callback_id}/claim")).status_code == 200
        no_outcome = await http.post(f"/api/callbacks/{callback_id}/complete", json={})
        assert no_outcome.status_code == 422
        wrong = await http.post(f"/api/callbacks/{callback_id}/complete",
                                json={"outcome": "teleported"})
        assert wrong.status_code == 422
        done = await http.post(f"/api/callbacks/{callback_id}/complete",
                               json={"outcome": "follow-up", "notes": "需补交房产证复印件"})
        assert done.json()["outcome"] == "follow-up"
        listing = (await http.get("/api/callbacks")).json()
        assert listing["callbacks"] == []
        [item] = listing["history"]
        assert (item["id"], item["phone"], item["outcome"], item["notes"]) == (
            callback_id, "13912345678", "follow-up", "需补交房产证复印件")
        assert item["done_at"] >= item["claimed_at"]
    actions = [e.action for e in await live_server.hub.audit_log.recent()]
    assert "callback_claimed" in actions and "callback_completed" in actions
    await kiosk.close()


async def test_wrap_up_needs_an_outcome_unless_the_centre_says_otherwise(
        start_server: StartServer) -> None:
    for required in (True, False):
        server = await start_server(wrap_up_time=0, wrap_up_outcome_required=required)
        console = await agent(server, "demo-agent-1", auto_answer=True)
        kiosk, queued = await caller(server, "water", language="en")
        call_id = queued["call_id"]
        offer = await console.expect("offer", call_id=call_id)
        assert offer["language"] == "en"  # shown while ringing, not only after answering
        await console.expect("connected", call_id=call_id)
        await console.send({"type": "hangup", "call_id": call_id})
        await console.expect("agent_state", state="wrap_up")
        await console.send({"type": "end_wrap_up", "call_id": call_id, "notes": "已办结"})
        if required:
            refused = await console.error("outcome_required")
            assert refused["in_reply_to"] == "end_wrap_up"
            assert server.hub.engine.agents["demo-agent-1"].activity.value == "wrap_up"
            await console.send({"type": "end_wrap_up", "call_id": call_id,
                                "outcome": "resolved", "notes": "已办结"})
            await console.expect("wrap_up_saved", call_id=call_id)
        await console.expect("agent_state", state="ready")
        await kiosk.close()
        await console.close()


async def test_sockets_close_with_1012_when_the_server_restarts(
        start_server: StartServer) -> None:
    server = await start_server()
    kiosk, _ = await caller(server, "water")
    console = await agent(server, "demo-agent-2", ready=False)
    server.server.should_exit = True
    for client in (kiosk, console):
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await client.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
