"""The webhook outbox end to end with real parts: a real ``cloud-agent serve`` process that
is killed (SIGKILL) between attempts and started again, a real ``cloud-agent webhook-sim``
that fails the first deliveries, and the department's signed callback deciding the task."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from signaling.matters import cases as c
from signaling.outbox.signing import SIGNATURE_HEADER, sign
from signaling.outbox.worker import backoff
from signaling.store import AuditRepository, Database
from signaling.store.case_repositories import (
    CaseRepository,
    DepartmentEndpointRepository,
    OutboxItem,
    OutboxRepository,
)
from tests.conftest import LiveServer, StartServer, free_port
from tests.outbox.test_webhook_sim import start_sim
from tests.protocol.test_cli import wait_healthy

CLI = [sys.executable, "-m", "signaling"]
SECRET = "sim-secret-for-tests"  # the one start_sim gives the receiver
GAS, WATER = "gas-company", "water-company"


async def open_case(db: Database, base_url: str, departments: list[str],
                    webhooks: set[str]) -> c.Case:
    """A case with one task per department, stored as the case side stores it: a
    ``task.created`` outbox row for each department in ``webhooks``, in the same
    transaction as the tasks."""
    now = time.time()
    cases = CaseRepository(db)
    number = c.case_number("HY", now, await cases.last_sequence(
        c.case_number("HY", now, 1)[:-6]) + 1)
    case, _ = c.Case.open(number, f"call-{secrets.token_hex(4)}", "13800138000", "default",
                          now)
    await cases.insert(case)
    events = case.add_submission("sub-1", "gas-transfer", departments, now + 86400, now)
    outbox = []
    for event in events:
        if isinstance(event, c.TaskCreated) and event.department in webhooks:
            event_id = "evt-" + secrets.token_hex(12)
            outbox.append(OutboxItem(event_id, event.department, "task.created", {
                "event_id": event_id, "type": "task.created", "case_number": number,
                "task_id": event.task_id, "department": event.department,
                "matters": [{"code": "gas-transfer", "title": {"zh": "燃气过户",
                                                                "en": "Gas transfer"}}],
                "submissions": [{"matter": "gas-transfer", "values": {"户号": "G-0042"}}],
                "due_at": event.due_at,
                "callback_url": f"{base_url}/api/webhooks/{event.department}/decision"}))
    await cases.save(case, outbox, now)
    return case


async def task_state(db: Database, task_id: str) -> str:
    case = await CaseRepository(db).for_task(task_id)
    assert case is not None
    return case.task(task_id).state.value


async def deliveries(sim_url: str) -> dict[str, Any]:
    async with httpx.AsyncClient() as client:
        listing: dict[str, Any] = (await client.get(f"{sim_url}/deliveries")).json()
        return listing


async def until(check: Any, what: str, timeout: float = 60.0) -> Any:
    """Poll ``await check()`` until it is truthy (a condition, never a timing assertion)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def serve(port: int, data: Path) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        *CLI, "serve", "--demo", "--port", str(port), "--data-dir", str(data),
        "--log-level", "warning", stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    await wait_healthy(f"http://127.0.0.1:{port}", process)
    return process


@pytest.fixture
async def sim_failing_3() -> AsyncIterator[str]:
    sim, url = await start_sim("--fail-first", "3", "--delay", "0")
    yield url
    sim.terminate()
    await asyncio.wait_for(sim.wait(), 15)


async def test_a_delivery_survives_a_kill_and_its_callback_approves_the_task(
        tmp_path: Path, sim_failing_3: str) -> None:
    port = free_port()
    data = tmp_path / "data"
    db = Database(f"sqlite+aiosqlite:///{(data / 'cloud-agent.db').resolve()}")
    await db.create_all()
    await DepartmentEndpointRepository(db).set(GAS, f"{sim_failing_3}/hooks/gas", SECRET)
    case = await open_case(db, f"http://127.0.0.1:{port}", [GAS], {GAS})
    task_id = case.tasks[0].id
    (row,) = await OutboxRepository(db).list()

    server = await serve(port, data)
    try:
        # The first delivery fails (500) ...
        await until(lambda: _received(sim_failing_3, 1), "a first delivery")
        server.send_signal(signal.SIGKILL)
        await server.wait()
        before = await deliveries(sim_failing_3)
        assert before["deliveries"][0]["accepted"] == 0  # nothing succeeded before the kill
        stored = await OutboxRepository(db).get(row.event_id)
        assert stored is not None and stored.delivered_at is None and stored.attempts >= 1
        assert stored.last_error is not None and "HTTP 500" in stored.last_error

        # ... and the server started again on the same data carries on from the row.
        server = await serve(port, data)
        await until(lambda: _called_back(sim_failing_3), "the department's callback")
        await until(lambda: _approved(db, task_id), "the task approved")
    finally:
        server.send_signal(signal.SIGINT)
        await asyncio.wait_for(server.wait(), 30)

    (event,) = (await deliveries(sim_failing_3))["deliveries"]
    assert event["event_id"] == row.event_id and event["task_id"] == task_id
    assert event["accepted"] == 1 and event["failed"] == 3  # delivered exactly once
    assert event["received"] == event["failed"] + event["accepted"] + event["duplicates"]
    assert event["callback_status"] == 200
    delivered = await OutboxRepository(db).get(row.event_id)
    assert delivered is not None and delivered.delivered_at is not None
    assert delivered.attempts == event["received"] and delivered.last_error is None
    decided = await CaseRepository(db).for_task(task_id)
    assert decided is not None and decided.state is c.CaseState.APPROVED
    assert decided.task(task_id).decided_by == f"webhook:{GAS}"
    audit = [e for e in await AuditRepository(db).recent() if e.action == "task_decided"]
    assert [(e.actor, e.detail["via"]) for e in audit] == [(f"webhook:{GAS}", "webhook")]
    await db.dispose()


async def _received(sim_url: str, count: int) -> bool:
    listing = await deliveries(sim_url)
    return bool(listing["received"] >= count)


async def _called_back(sim_url: str) -> bool:
    events = (await deliveries(sim_url))["deliveries"]
    return bool(events and events[0]["callback_status"] is not None)


async def _approved(db: Database, task_id: str) -> bool:
    return await task_state(db, task_id) == "approved"


# ------------------------------------------------------------------ the callback route


def signed_callback(body: dict[str, Any], secret: str = SECRET,
                    at: float | None = None) -> dict[str, Any]:
    raw = json.dumps(body).encode()
    return {"content": raw, "headers": {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(secret, raw, time.time() if at is None else at)}}


@pytest.fixture
async def two_departments(start_server: StartServer) -> tuple[LiveServer, c.Case]:
    live = await start_server()
    endpoints = DepartmentEndpointRepository(live.hub.db)
    await endpoints.set(GAS, "http://127.0.0.1:9/unused", SECRET)
    await endpoints.set(WATER, "http://127.0.0.1:9/unused", "water-secret")
    return live, await open_case(live.hub.db, live.http, [GAS, WATER], set())


async def test_a_bad_or_stale_signature_is_refused_and_changes_nothing(
        two_departments: tuple[LiveServer, c.Case]) -> None:
    live, case = two_departments
    gas_task = case.tasks[0].id
    url = f"{live.http}/api/webhooks/{GAS}/decision"
    body = {"event_id": "gas-1", "task_id": gas_task, "decision": "approve"}
    async with httpx.AsyncClient() as client:
        wrong_secret = await client.post(url, **signed_callback(body, "water-secret"))
        stale = await client.post(url, **signed_callback(body, at=time.time() - 301))
        unsigned = await client.post(url, json=body)
        good = signed_callback(body)
        tampered = await client.post(url, content=good["content"].replace(b"approve",
                                                                          b"reject "),
                                     headers=good["headers"])
    for refused in (wrong_secret, stale, unsigned, tampered):
        assert refused.status_code == 401, refused.text
        assert refused.json()["code"] == "bad_signature"
    assert await task_state(live.hub.db, gas_task) == "pending"
    assert not [e for e in await AuditRepository(live.hub.db).recent()
                if e.action == "task_decided"]

    async with httpx.AsyncClient() as client:  # the same event, signed: now it counts
        accepted = await client.post(url, **signed_callback(body))
    assert accepted.status_code == 200 and accepted.json()["task_state"] == "approved"


async def test_a_replayed_callback_has_no_second_effect(
        two_departments: tuple[LiveServer, c.Case]) -> None:
    live, case = two_departments
    gas_task = case.tasks[0].id
    url = f"{live.http}/api/webhooks/{GAS}/decision"
    correction = {"event_id": "gas-7", "task_id": gas_task, "decision": "correction",
                  "reason": "请补充燃气表照片"}
    async with httpx.AsyncClient() as client:
        first = await client.post(url, **signed_callback(correction))
        replay = await client.post(url, **signed_callback(correction))
        # Same event id, another body: still the event already acted on.
        reworded = await client.post(url, **signed_callback({**correction,
                                                            "decision": "reject"}))
    assert first.status_code == 200 and first.json()["task_state"] == "correction"
    assert replay.status_code == 200 and replay.json()["duplicate"] is True
    assert reworded.status_code == 200 and reworded.json()["duplicate"] is True
    assert await task_state(live.hub.db, gas_task) == "correction"
    decided = [e for e in await AuditRepository(live.hub.db).recent()
               if e.action == "task_decided"]
    assert len(decided) == 1 and decided[0].detail["decision"] == "correction"


async def test_a_department_cannot_decide_another_departments_task(
        two_departments: tuple[LiveServer, c.Case]) -> None:
    live, case = two_departments
    water_task = case.tasks[1].id
    async with httpx.AsyncClient() as client:
        other = await client.post(f"{live.http}/api/webhooks/{GAS}/decision",
                                  **signed_callback({"event_id": "gas-9", "task_id": water_task,
                                                     "decision": "approve"}))
        unknown = await client.post(f"{live.http}/api/webhooks/{GAS}/decision",
                                    **signed_callback({"event_id": "gas-10",
                                                       "task_id": "HY-20000101-000001-1",
                                                       "decision": "approve"}))
        no_webhook = await client.post(f"{live.http}/api/webhooks/tax-bureau/decision",
                                       **signed_callback({"event_id": "t-1",
                                                          "task_id": water_task,
                                                          "decision": "approve"}))
    assert other.status_code == 403 and other.json()["code"] == "wrong_department"
    assert unknown.status_code == 404 and unknown.json()["code"] == "unknown_task"
    assert no_webhook.status_code == 404 and no_webhook.json()["code"] == "no_webhook"
    assert await task_state(live.hub.db, water_task) == "pending"


def test_backoff_doubles_from_one_second_with_jitter_up_to_five_minutes() -> None:
    low, high = (lambda: 0.0), (lambda: 1.0)
    assert [backoff(n, lambda: 0.5) for n in range(1, 6)] == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert backoff(1, low) == pytest.approx(0.8) and backoff(1, high) == pytest.approx(1.2)
    assert backoff(9, lambda: 0.5) == 256.0
    assert backoff(10, high) == backoff(50, high) == 300.0 and backoff(10, low) == 300.0 * 1


async def test_a_department_gets_its_deliveries_one_at_a_time_in_order(
        start_server: StartServer) -> None:
    sim, sim_url = await start_sim("--fail-first", "1", "--delay", "3600")
    try:
        live = await start_server()
        db = live.hub.db
        await DepartmentEndpointRepository(db).set(GAS, f"{sim_url}/gas", SECRET)
        first = await open_case(db, live.http, [GAS], {GAS})
        second = await open_case(db, live.http, [GAS], {GAS})
        live.hub.outbox_worker.wake()

        async def both_delivered() -> bool:
            return all(row.delivered_at for row in await OutboxRepository(db).list())
        await until(both_delivered, "both deliveries")
    finally:
        sim.terminate()
        await asyncio.wait_for(sim.wait(), 15)

    rows = await OutboxRepository(db).list()
    assert [row.payload["task_id"] for row in rows] == [first.tasks[0].id,
                                                         second.tasks[0].id]
    # The first row failed once and was retried; the second waited for it, not beside it.
    assert [row.attempts for row in rows] == [2, 1]
    assert rows[0].delivered_at is not None and rows[1].delivered_at is not None
    assert rows[0].delivered_at <= rows[1].delivered_at
