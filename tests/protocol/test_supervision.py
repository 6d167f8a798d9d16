"""Overdue tasks for supervisors over a real server (issue 8, "time promises"): a call submits
water transfer and gas transfer, the water task's due time is moved into the past in the
database; supervisors and admins list it (agents and reviewers get 403), the metric counts
it by department, and a decision takes it off both."""

from __future__ import annotations

import time
from typing import Any

import httpx

from signaling.store.ticket_repositories import TicketRepository
from tests.conftest import LiveServer, StartServer
from tests.protocol.test_cases_flow import connected_call, reviewer
from tests.protocol.wsclient import login


async def make_overdue(server: LiveServer, number: str, department: str,
                       seconds: float) -> None:
    """Move the department's task of case ``number`` to have been due ``seconds`` ago, in
    the database, as if the promise had run out."""
    cases = server.hub.case_side.cases
    case = await cases.get(number)
    assert case is not None
    [task] = [t for t in case.tasks if t.department == department]
    task.due_at = time.time() - seconds
    await cases.save(case)


def gauge(metrics: str, department: str) -> float:
    prefix = f'cloud_agent_overdue_tasks{{department="{department}"}} '
    [line] = [line for line in metrics.splitlines() if line.startswith(prefix)]
    return float(line[len(prefix):])


async def test_supervisors_see_overdue_tasks_across_departments_oldest_due_first(
        start_server: StartServer) -> None:
    server = await start_server()
    call = await connected_call(server)
    await call.submit("water-transfer")
    case = await call.submit("gas-transfer")
    number = case["number"]
    water, gas = case["tasks"]
    boss = {"Authorization": "Bearer " + await login(server.http, "demo-supervisor")}
    agent = {"Authorization": f"Bearer {call.agent_token}"}
    water_reviewer = await reviewer(server, "water-1", "water-company")

    async with httpx.AsyncClient(base_url=server.http) as http:
        before = (await http.get("/api/supervision/overdue", headers=boss)).json()
        assert before["tasks"] == [], "nothing is overdue while the promises hold"
        metrics = (await http.get("/metrics")).text
        assert "# TYPE cloud_agent_overdue_tasks gauge" in metrics
        assert gauge(metrics, "water-company") == gauge(metrics, "gas-company") == 0

        await make_overdue(server, number, "water-company", 2 * 3600)
        await make_overdue(server, number, "gas-company", 600)
        answer = await http.get("/api/supervision/overdue", headers=boss)
        assert answer.status_code == 200, answer.text
        tasks: list[dict[str, Any]] = answer.json()["tasks"]
        assert [t["task_id"] for t in tasks] == [water["id"], gas["id"]], "oldest due first"
        first = tasks[0]
        assert first["case_number"] == number
        assert first["department"] == "water-company"
        assert first["department_name"]["zh"] == "海盐县水务集团"
        assert first["department_name"]["en"]
        assert [m["code"] for m in first["matters"]] == ["water-transfer"]
        assert first["matters"][0]["title"]["zh"]
        assert first["state"] == "pending"
        assert 2 * 3600 <= first["overdue_s"] < 2 * 3600 + 60
        assert first["due_at"] < time.time() - 2 * 3600 + 1
        assert 600 <= tasks[1]["overdue_s"] < 660

        for refused in (agent, water_reviewer):
            denied = await http.get("/api/supervision/overdue", headers=refused)
            assert (denied.status_code, denied.json()["code"]) == (403, "forbidden")
        assert (await http.get("/api/supervision/overdue")).status_code == 401

        metrics = (await http.get("/metrics")).text
        assert gauge(metrics, "water-company") == gauge(metrics, "gas-company") == 1

        # Deciding the water task takes it off the list and the gauge.
        decided = await http.post(f"/api/tasks/{water['id']}/decision",
                                  json={"decision": "approve"}, headers=water_reviewer)
        assert decided.status_code == 200, decided.text
        after = (await http.get("/api/supervision/overdue", headers=boss)).json()
        assert [t["task_id"] for t in after["tasks"]] == [gas["id"]]
        metrics = (await http.get("/metrics")).text
        assert gauge(metrics, "water-company") == 0
        assert gauge(metrics, "gas-company") == 1
    await call.close()


async def test_admins_see_them_and_overdue_tickets_are_listed_too(
        start_server: StartServer) -> None:
    server = await start_server()
    agent = {"Authorization": "Bearer " + await login(server.http, "demo-agent-1")}
    await server.hub.accounts.create("chief", "chief-pass-12", role="admin",
                                     account_id="chief")
    admin = {"Authorization": "Bearer " + await login(server.http, "chief", "chief-pass-12")}
    async with httpx.AsyncClient(base_url=server.http) as http:
        made = await http.post("/api/tickets", headers=agent, json={
            "kind": "inquiry", "subject": "过户需要哪些材料",
            "owner": {"department": "gas-company"}})
        assert made.status_code == 200, made.text
        number = made.json()["ticket"]["number"]
        before = (await http.get("/api/supervision/overdue", headers=admin)).json()
        assert before["tickets"] == [] and before["tasks"] == []
        store = TicketRepository(server.hub.db)
        ticket = await store.get(number)
        assert ticket is not None
        ticket.due_at = time.time() - 3 * 86400
        await store.save(ticket)
        answer = (await http.get("/api/supervision/overdue", headers=admin)).json()
        [listed] = answer["tickets"]
        assert listed["number"] == number and listed["kind"] == "inquiry"
        assert listed["owner"]["department"] == "gas-company"
        assert listed["owner"]["department_name"]["zh"]
        assert 3 * 86400 <= listed["overdue_s"] < 3 * 86400 + 60
        assert "phone" not in listed
