"""Cases over a real server (issue 8): a call submits water transfer and gas transfer, the
case opens with one task per department and both parties see it live; reviewers decide in
the inbox (only their own department's tasks; agents cannot), a correction is resubmitted,
a rejection ends the case; the public look-up needs the right phone."""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx

from signaling.store.case_repositories import set_department
from tests.conftest import LiveServer, StartServer
from tests.protocol.wsclient import JsonClient, agent, caller, login

ID_NUMBER = "330424199001011239"
PHONE = "13800138000"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")
VALUES: dict[str, Any] = {"account_no": "3304240012", "owner_name": "张三",
                          "owner_id_number": ID_NUMBER, "mobile": PHONE, "meter_reading": 1234}


class Call:
    """A connected kiosk call with the demo agent, and helpers to fill and submit forms."""

    def __init__(self, server: LiveServer, console: JsonClient, kiosk: JsonClient,
                 call_id: str, resume_token: str, agent_token: str) -> None:
        self.server, self.console, self.kiosk = server, console, kiosk
        self.call_id, self.resume_token, self.agent_token = call_id, resume_token, agent_token

    async def upload(self, kind: str, *, by_caller: bool) -> str:
        headers = ({"X-Resume-Token": self.resume_token} if by_caller
                   else {"Authorization": f"Bearer {self.agent_token}"})
        source = "signature" if kind == "signature" else (
            "upload" if by_caller else "snapshot")
        async with httpx.AsyncClient(base_url=self.server.http) as http:
            answer = await http.post(f"/api/calls/{self.call_id}/materials",
                                     params={"kind": kind, "source": source}, content=PNG,
                                     headers=headers)
        assert answer.status_code == 200, answer.text
        material_id: str = answer.json()["material"]["id"]
        return material_id

    async def submit(self, matter: str) -> dict[str, Any]:
        """Push ``matter``, fill every field from the side allowed to, submit as the caller;
        the ``case_updated`` both parties then get."""
        await self.console.send({"type": "push_form", "call_id": self.call_id,
                                 "matter": matter})
        form = (await self.kiosk.expect("form_pushed"))["form"]
        assert form["matter"] == matter
        form_id = form["form_id"]
        ui = form["form"]["ui"]["fields"]
        for name in form["form"]["ui"]["order"]:
            hints = ui[name]
            by_caller = bool(hints.get("caller"))
            if hints["type"] in ("material", "signature"):
                value: Any = await self.upload(hints.get("material") or "signature",
                                               by_caller=by_caller)
                value = [value] if hints.get("multiple") else value
            elif name in VALUES:
                value = VALUES[name]
            else:
                continue
            sender = self.kiosk if by_caller else self.console
            await sender.send({"type": "edit_field", "call_id": self.call_id,
                               "form_id": form_id, "field": name, "value": value,
                               "base": form["versions"].get(name, 0)})
            await self.console.expect("field_changed", form_id=form_id, field=name)
        await self.kiosk.send({"type": "submit_form", "call_id": self.call_id,
                               "form_id": form_id})
        await self.kiosk.expect("form_submitted", form_id=form_id, timeout=10)
        seen = await self.kiosk.expect("case_updated", call_id=self.call_id, timeout=10)
        assert (await self.console.expect("case_updated", call_id=self.call_id,
                                          timeout=10))["case"] == seen["case"]
        case: dict[str, Any] = seen["case"]
        return case

    async def close(self) -> None:
        await self.console.close()
        await self.kiosk.close()


async def connected_call(server: LiveServer) -> Call:
    console = await agent(server, "demo-agent-1", auto_answer=True)
    kiosk, queued = await caller(server, "water")
    call_id = queued["call_id"]
    await console.expect("connected", call_id=call_id)
    await kiosk.expect("session_document", call_id=call_id)
    token = await login(server.http, "demo-agent-1")
    return Call(server, console, kiosk, call_id, queued["resume_token"], token)


async def reviewer(server: LiveServer, username: str, department: str) -> dict[str, str]:
    """A reviewer account of ``department`` (as ``admin add-reviewer`` makes) and its login
    header."""
    await server.hub.accounts.create(username, "reviewer-pass-1", role="reviewer",
                                     account_id=username)
    await set_department(server.hub.db, username, department)
    return {"Authorization": "Bearer " + await login(server.http, username,
                                                     "reviewer-pass-1")}


def states(case: dict[str, Any]) -> dict[str, str]:
    return {t["department"]: t["state"] for t in case["tasks"]}


async def test_two_departments_approve_in_parallel_and_both_parties_see_it_live(
        start_server: StartServer) -> None:
    server = await start_server(public_base_url="https://yun.example.gov.cn")
    await server.hub.case_side.endpoints.set("gas-company", "http://127.0.0.1:9/hook",
                                             "s3cret", enabled=True)
    call = await connected_call(server)
    await call.kiosk.send({"type": "set_identity", "call_id": call.call_id,
                           "source": "reader", "identity": {
                               "name": "张三", "id_number": ID_NUMBER, "mobile": PHONE}})
    await call.console.expect("identity_set")
    first = await call.submit("water-transfer")
    number = first["number"]
    assert number.startswith("HY-") and len(number) == len("HY-20261130-000123")
    assert first["state"] == "open" and states(first) == {"water-company": "pending"}
    case = await call.submit("gas-transfer")
    assert case["number"] == number, "one case per call"
    assert states(case) == {"water-company": "pending", "gas-company": "pending"}
    water, gas = case["tasks"]
    assert water["department_name"]["zh"] == "海盐县水务集团"
    assert water["matters"] == ["water-transfer"] and water["due_at"] > 0
    assert case["receipt"] is None

    # The gas company has its own system: a signed delivery waits in the outbox.
    [delivery] = await server.hub.case_side.outbox.list("gas-company")
    assert delivery.kind == "task.created"
    assert delivery.payload["task_id"] == gas["id"]
    assert delivery.payload["case_number"] == number
    assert delivery.payload["callback_url"] == (
        "https://yun.example.gov.cn/api/webhooks/gas-company/decision")
    assert delivery.payload["submissions"][0]["values"]["account_no"] == "3304240012"
    assert await server.hub.case_side.outbox.list("water-company") == []

    water_reviewer = await reviewer(server, "water-1", "water-company")
    gas_reviewer = await reviewer(server, "gas-1", "gas-company")
    agent_auth = {"Authorization": f"Bearer {call.agent_token}"}
    async with httpx.AsyncClient(base_url=server.http) as http:
        inbox = (await http.get("/api/inbox/tasks", headers=water_reviewer)).json()
        assert [t["id"] for t in inbox["tasks"]] == [water["id"]]
        assert inbox["tasks"][0]["case_number"] == number
        assert inbox["tasks"][0]["overdue"] is False and inbox["tasks"][0]["age_s"] >= 0
        gas_inbox = (await http.get("/api/inbox/tasks", headers=gas_reviewer)).json()
        assert [t["id"] for t in gas_inbox["tasks"]] == [gas["id"]]
        assert (await http.get("/api/inbox/tasks", headers=agent_auth)).status_code == 403
        # the water reviewer neither sees nor decides the gas task
        assert (await http.get(f"/api/tasks/{gas['id']}",
                               headers=water_reviewer)).status_code == 404
        refused = await http.post(f"/api/tasks/{gas['id']}/decision",
                                  json={"decision": "approve"}, headers=water_reviewer)
        assert refused.status_code == 404
        # the agent may read the task of its call, not decide it
        detail = (await http.get(f"/api/tasks/{water['id']}", headers=agent_auth)).json()
        assert detail["case"]["number"] == number
        [submission] = detail["submissions"]
        assert submission["values"]["owner_name"] == "张三"
        assert {m["kind"] for m in submission["materials"]} >= {"property-deed"}
        image = await http.get(submission["materials"][0]["url"])
        assert image.status_code == 200
        refused = await http.post(f"/api/tasks/{water['id']}/decision",
                                  json={"decision": "approve"}, headers=agent_auth)
        assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
        # a reason is needed to reject
        refused = await http.post(f"/api/tasks/{water['id']}/decision",
                                  json={"decision": "reject"}, headers=water_reviewer)
        assert (refused.status_code, refused.json()["code"]) == (422, "reason_required")

        decided = await http.post(f"/api/tasks/{water['id']}/decision",
                                  json={"decision": "approve"}, headers=water_reviewer)
        assert decided.status_code == 200, decided.text
        live = await call.kiosk.expect("case_updated", call_id=call.call_id)
        assert states(live["case"]) == {"water-company": "approved", "gas-company": "pending"}
        await call.console.expect("case_updated", call_id=call.call_id)
        again = await http.post(f"/api/tasks/{water['id']}/decision",
                                json={"decision": "approve"}, headers=water_reviewer)
        assert (again.status_code, again.json()["code"]) == (409, "illegal_transition")
        assert (await http.get("/api/inbox/tasks", headers=water_reviewer)).json()[
            "tasks"] == []

        # the gas company answers through the case side (as its webhook callback does)
        await server.hub.case_side.decide(gas["id"], "approve", "webhook:gas-company", None,
                                          time.time(), "webhook", department="gas-company")
        done = await call.kiosk.expect("case_updated", call_id=call.call_id)
        assert done["case"]["state"] == "approved"
        assert set(states(done["case"]).values()) == {"approved"}
        receipt = done["case"]["receipt"]
        assert receipt is not None and receipt["code"]
        assert receipt["url"] == f"/api/cases/{number}/receipt.pdf?code={receipt['code']}"

        # the case's agent and supervisors see it; another agent does not
        mine = await http.get(f"/api/calls/{call.call_id}/case", headers=agent_auth)
        assert mine.json()["case"]["state"] == "approved"
        other = await login(server.http, "demo-agent-2")
        assert (await http.get(f"/api/calls/{call.call_id}/case", headers={
            "Authorization": f"Bearer {other}"})).status_code == 403
        assert (await http.get(f"/api/tasks/{water['id']}", headers={
            "Authorization": f"Bearer {other}"})).status_code == 403

        # the public look-up: the right phone shows states only; a wrong one is a 404
        found = await http.get(f"/api/cases/{number}", params={"phone": PHONE})
        assert found.status_code == 200
        assert found.json()["state"] == "approved"
        assert "matters" not in found.json()["tasks"][0]
        assert "reason" not in found.json()["tasks"][0]
        wrong = await http.get(f"/api/cases/{number}", params={"phone": "13900139000"})
        unknown = await http.get("/api/cases/HY-20000101-000001", params={"phone": PHONE})
        assert wrong.status_code == unknown.status_code == 404
        assert wrong.json() == unknown.json()

    audit = [(e.action, e.actor) for e in reversed(await server.hub.audit_log.recent(200))]
    actions = [a for a, _ in audit]
    for action in ("case_opened", "task_created", "task_decided", "case_closed"):
        assert action in actions
    assert ("task_decided", "water-1") in audit
    assert ("task_decided", "webhook:gas-company") in audit
    await call.close()


async def test_correction_resubmission_and_a_rejection_that_ends_the_case(
        start_server: StartServer) -> None:
    server = await start_server()
    # The water company also has its own system: it must hear of the resubmission too.
    await server.hub.case_side.endpoints.set("water-company", "http://127.0.0.1:9/hook",
                                             "water-secret", True)
    call = await connected_call(server)
    case = await call.submit("water-transfer")
    case = await call.submit("gas-transfer")
    water, gas = case["tasks"]
    water_reviewer = await reviewer(server, "water-2", "water-company")
    gas_reviewer = await reviewer(server, "gas-2", "gas-company")
    async with httpx.AsyncClient(base_url=server.http) as http:
        asked = await http.post(f"/api/tasks/{water['id']}/decision", json={
            "decision": "correction", "reason": "请补充房产证第二页"}, headers=water_reviewer)
        assert asked.status_code == 200, asked.text
        live = (await call.kiosk.expect("case_updated"))["case"]
        assert (await call.console.expect("case_updated"))["case"] == live
        assert states(live)["water-company"] == "correction"
        assert live["tasks"][0]["reason"] == "请补充房产证第二页"
        # the caller corrects: a new submission of the matter resubmits the task
        case = await call.submit("water-transfer")
        assert states(case) == {"water-company": "pending", "gas-company": "pending"}
        assert len(case["tasks"]) == 2
        kinds = [d.kind for d in await server.hub.case_side.outbox.list("water-company")]
        assert kinds == ["task.created", "task.resubmitted"]
        # a reconnecting party gets the case with the session document
        session = server.hub.sessions[call.call_id]
        assert states(server.hub.matter_side.snapshot_message(session)["case"]) == states(case)
        rejected = await http.post(f"/api/tasks/{gas['id']}/decision", json={
            "decision": "reject", "reason": "燃气户号不存在"}, headers=gas_reviewer)
        assert rejected.status_code == 200
        ended = (await call.kiosk.expect("case_updated"))["case"]
        assert ended["state"] == "rejected" and ended["receipt"] is None
        assert ended["closed_at"] is not None
        assert ended["tasks"][1]["reason"] == "燃气户号不存在"
        late = await http.post(f"/api/tasks/{water['id']}/decision",
                               json={"decision": "approve"}, headers=water_reviewer)
        assert (late.status_code, late.json()["code"]) == (409, "case_closed")
        assert (await http.get("/api/inbox/tasks", headers=water_reviewer)).json()[
            "tasks"] == []
    await call.close()
