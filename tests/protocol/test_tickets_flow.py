"""Tickets over a real server: an agent in a call turns a complaint into a ticket owned by a
department, both parties are told its number, the public look-up needs the right phone, a
reviewer of the owning department works it through, another agent cannot touch it, and every
change is audited."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import StartServer
from tests.protocol.test_cases_flow import ID_NUMBER, PHONE, connected_call, reviewer
from tests.protocol.wsclient import login


async def test_a_complaint_in_a_call_becomes_a_department_ticket(
        start_server: StartServer) -> None:
    server = await start_server()
    call = await connected_call(server)
    await call.kiosk.send({"type": "set_identity", "call_id": call.call_id,
                           "source": "reader", "identity": {
                               "name": "张三", "id_number": ID_NUMBER, "mobile": PHONE}})
    await call.console.expect("identity_set")
    agent = {"Authorization": f"Bearer {call.agent_token}"}
    water = await reviewer(server, "water-1", "water-company")
    gas = await reviewer(server, "gas-1", "gas-company")
    other = {"Authorization": "Bearer " + await login(server.http, "demo-agent-2")}
    boss = {"Authorization": "Bearer " + await login(server.http, "demo-supervisor")}

    async with httpx.AsyncClient(base_url=server.http) as http:
        answer = await http.post("/api/tickets", headers=agent, json={
            "kind": "complaint", "subject": "抄表读数有误", "description": "连续两月读数偏高",
            "call_id": call.call_id, "owner": {"department": "water-company"}})
        assert answer.status_code == 200, answer.text
        ticket: dict[str, Any] = answer.json()["ticket"]
        number = ticket["number"]
        assert number.startswith("HY-T-") and len(number) == len("HY-T-20261130-000001")
        assert ticket["phone"] == PHONE, "the phone defaults to the call's identity mobile"
        assert ticket["state"] == "open" and ticket["overdue"] is False
        assert ticket["owner"] == {"department": "water-company",
                                   "department_name": {"zh": "海盐县水务集团",
                                                       "en": ticket["owner"][
                                                           "department_name"]["en"]}}
        told = {"number": number, "kind": "complaint", "subject": "抄表读数有误",
                "state": "open", "due_at": ticket["due_at"]}
        for party in (call.kiosk, call.console):
            seen = await party.expect("ticket_created", call_id=call.call_id)
            assert seen["ticket"] == told

        # Public look-up: kind, state, due, last update; a wrong phone is "not found".
        found = await http.get(f"/api/cases/{number}", params={"phone": PHONE})
        assert found.status_code == 200
        assert found.json() == {"number": number, "ticket": True, "kind": "complaint",
                                "state": "open", "due_at": ticket["due_at"],
                                "updated_at": ticket["updated_at"]}
        wrong = await http.get(f"/api/cases/{number}", params={"phone": "13900139000"})
        unknown = await http.get("/api/cases/HY-T-20000101-000001", params={"phone": PHONE})
        assert wrong.status_code == unknown.status_code == 404
        assert wrong.json() == unknown.json()
        page = await http.post("/case", data={"number": number, "phone": PHONE})
        assert page.status_code == 200 and number in page.text and "投诉" in page.text
        assert "抄表读数有误" not in page.text, "the page shows no subject"
        wrong_page = await http.post("/case", data={"number": number, "phone": "13900139000"})
        assert wrong_page.status_code == 404

        # Lists: the department's reviewers see it; the agent does not own it any more.
        assert [t["number"] for t in (await http.get("/api/tickets", headers=water)).json()[
            "tickets"]] == [number]
        assert (await http.get("/api/tickets", headers=gas)).json()["tickets"] == []
        assert (await http.get("/api/tickets", headers=agent)).json()["tickets"] == []
        assert number in [t["number"] for t in (await http.get(
            "/api/tickets", headers=boss)).json()["tickets"]]

        # Neither another agent, the creating agent, nor another department may change it.
        for outsider in (other, agent, gas):
            refused = await http.post(f"/api/tickets/{number}/status", headers=outsider,
                                      json={"state": "in_progress"})
            assert refused.status_code == 403 and refused.json()["code"] == "not_owner"

        # An illegal move is refused; the water reviewer works it through.
        skip = await http.post(f"/api/tickets/{number}/status", headers=water,
                               json={"state": "closed"})
        assert skip.status_code == 409 and skip.json()["code"] == "illegal_transition"
        for state, note in (("in_progress", "已派人复核"), ("resolved", "读数已更正")):
            moved = await http.post(f"/api/tickets/{number}/status", headers=water,
                                    json={"state": state, "note": note})
            assert moved.status_code == 200, moved.text
            assert moved.json()["ticket"]["state"] == state
        resolved = moved.json()["ticket"]
        assert resolved["resolved_at"] and resolved["notes"][-1]["text"] == "读数已更正"
        transfer = await http.post(f"/api/tickets/{number}/status", headers=water,
                                   json={"owner": {"department": "gas-company"}})
        assert transfer.status_code == 409, "a resolved ticket keeps its owner"
        after = (await http.get(f"/api/cases/{number}", params={"phone": PHONE})).json()
        assert after["state"] == "resolved" and after["updated_at"] > ticket["updated_at"]

        stats = (await http.get("/api/stats", headers=boss)).json()
        assert stats["overdue_tickets"] == 0

        # An agent's own ticket (owner defaults to its creator), transferred to gas.
        mine = await http.post("/api/tickets", headers=agent, json={
            "kind": "inquiry", "subject": "缴费方式", "phone": PHONE})
        mine_number = mine.json()["ticket"]["number"]
        assert mine.json()["ticket"]["owner"] == {"agent": "demo-agent-1"}
        assert [t["number"] for t in (await http.get("/api/tickets", headers=agent)).json()[
            "tickets"]] == [mine_number]
        moved = await http.post(f"/api/tickets/{mine_number}/status", headers=agent,
                                json={"owner": {"department": "gas-company"}, "note": "转燃气"})
        assert moved.status_code == 200 and moved.json()["ticket"]["state"] == "open"
        bad = await http.post("/api/tickets", headers=agent, json={
            "kind": "praise", "subject": "x"})
        assert bad.status_code == 422 and bad.json()["code"] == "invalid_kind"
        not_mine = await http.post("/api/tickets", headers=other, json={
            "kind": "inquiry", "subject": "x", "call_id": call.call_id})
        assert not_mine.status_code == 403

    audit = [(e.action, e.actor, e.detail) for e in reversed(
        await server.hub.audit_log.recent(200))]
    lines = [(action, actor, detail.get("state"), detail.get("ticket"))
             for action, actor, detail in audit if action.startswith("ticket_")]
    assert lines == [("ticket_created", "demo-agent-1", None, number),
                     ("ticket_changed", "water-1", "in_progress", number),
                     ("ticket_changed", "water-1", "resolved", number),
                     ("ticket_created", "demo-agent-1", None, mine_number),
                     ("ticket_changed", "demo-agent-1", "open", mine_number)]
    await call.close()
