"""Cases, tasks, the outbox and department endpoints against both real backends (SQLite and
PostgreSQL; without PostgreSQL this fails under CI=true, skips otherwise)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from signaling.matters.cases import Case, CaseState, TaskState, case_number
from signaling.store import AccountRepository, Database
from signaling.store.case_repositories import (
    CaseNumberTaken,
    CaseRepository,
    DepartmentEndpointRepository,
    OutboxItem,
    OutboxRepository,
    set_department,
)
from tests.store.databases import BACKENDS, new_database

NOW = 1_796_000_000.0  # 2026-11-30 in China


@pytest.fixture(params=BACKENDS)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    async with new_database(request.param, tmp_path) as database:
        await database.create_all()
        yield database


async def opened(cases: CaseRepository, call_id: str, sequence: int = 1) -> Case:
    case, _ = Case.open(case_number("HY", NOW, sequence), call_id, "13800138000", "haiyan",
                        NOW)
    await cases.insert(case)
    return case


async def test_a_case_and_its_tasks_round_trip_with_the_outbox_in_one_save(
        db: Database) -> None:
    cases, outbox = CaseRepository(db), OutboxRepository(db)
    case = await opened(cases, "call-1")
    case.add_submission("s-1", "water-transfer", ["water-company"], NOW + 600, NOW)
    case.add_submission("s-2", "gas-transfer", ["gas-company"], NOW + 900, NOW + 1)
    await cases.save(case, [OutboxItem("evt-1", "gas-company", "task.created",
                                       {"task_id": case.tasks[1].id, "values": {"a": "水"}})],
                     NOW + 1)
    loaded = await cases.get(case.number)
    assert loaded == case
    assert await cases.for_call("call-1") == case
    assert await cases.for_task(case.tasks[1].id) == case
    assert await cases.get("HY-20000101-000001") is None
    [row] = await outbox.due(NOW + 1)
    assert (row.event_id, row.kind, row.attempts) == ("evt-1", "task.created", 0)
    assert row.payload["values"] == {"a": "水"}

    case.decide(case.tasks[0].id, "approve", "rev-w", None, NOW + 10)
    case.decide(case.tasks[1].id, "approve", "webhook:gas-company", None, NOW + 11)
    case.receipt_code = "code-1"
    await cases.save(case, (), NOW + 11)
    loaded = await cases.get(case.number)
    assert loaded is not None and loaded.state is CaseState.APPROVED
    assert loaded.closed_at == NOW + 11 and loaded.receipt_code == "code-1"
    assert loaded.tasks[1].decided_by == "webhook:gas-company"


async def test_a_taken_case_number_is_refused(db: Database) -> None:
    cases = CaseRepository(db)
    day = case_number("HY", NOW, 1).rsplit("-", 1)[0] + "-"
    assert await cases.last_sequence(day) == 0
    await opened(cases, "call-1", 1)
    await opened(cases, "call-2", 2)
    assert await cases.last_sequence(day) == 2
    with pytest.raises(CaseNumberTaken):
        await opened(cases, "call-3", 2)


async def test_the_inbox_lists_a_department_s_undecided_tasks_oldest_first(
        db: Database) -> None:
    cases = CaseRepository(db)
    first = await opened(cases, "call-1", 1)
    first.add_submission("s-1", "water-transfer", ["water-company"], NOW + 60, NOW)
    await cases.save(first)
    second = await opened(cases, "call-2", 2)
    second.add_submission("s-2", "water-new-connection", ["water-company", "gas-company"],
                          NOW + 7200, NOW + 5)
    await cases.save(second)
    water = await cases.open_tasks("water-company")
    assert [(c.number, t.id) for c, t in water] == [
        (first.number, first.tasks[0].id), (second.number, second.tasks[0].id)]
    assert [t.id for _, t in await cases.open_tasks("gas-company")] == [second.tasks[1].id]
    assert await cases.overdue_count(NOW + 120) == 1
    assert await cases.overdue_count(NOW + 120, partition="elsewhere") == 0
    # a correction stays in the inbox; a rejection ends the case and empties it
    first.decide(first.tasks[0].id, "correction", "rev", "缺签名", NOW + 6)
    await cases.save(first)
    assert [t.state for _, t in await cases.open_tasks("water-company")] == [
        TaskState.CORRECTION, TaskState.PENDING]
    second.decide(second.tasks[1].id, "reject", "rev-g", "不符", NOW + 7)
    await cases.save(second)
    assert [c.number for c, _ in await cases.open_tasks("water-company")] == [first.number]
    assert await cases.open_tasks("gas-company") == []


async def test_outbox_delivery_bookkeeping(db: Database) -> None:
    outbox = OutboxRepository(db)
    first = await outbox.add("evt-1", "gas-company", "task.created", {"n": 1}, NOW)
    await outbox.add("evt-2", "gas-company", "task.created", {"n": 2}, NOW + 1)
    with pytest.raises(IntegrityError):
        await outbox.add("evt-1", "gas-company", "task.created", {"n": 3}, NOW + 2)
    assert [r.event_id for r in await outbox.due(NOW)] == ["evt-1"]
    assert await outbox.failed(first.id, "HTTP 500", NOW + 5)
    assert [r.event_id for r in await outbox.due(NOW + 2)] == ["evt-2"]
    again = await outbox.get("evt-1")
    assert again is not None and (again.attempts, again.last_error) == (1, "HTTP 500")
    assert await outbox.delivered(first.id, NOW + 6)
    assert not await outbox.delivered(first.id, NOW + 7), "delivered once"
    done = await outbox.get("evt-1")
    assert done is not None and (done.attempts, done.delivered_at) == (2, NOW + 6)
    assert [r.event_id for r in await outbox.due(NOW + 100)] == ["evt-2"]


async def test_department_endpoints_and_reviewers(db: Database) -> None:
    endpoints = DepartmentEndpointRepository(db)
    assert await endpoints.get("gas-company") is None
    await endpoints.set("gas-company", "https://gas.example/hook", "s1")
    await endpoints.set("gas-company", "https://gas.example/v2", "s2", enabled=False)
    row = await endpoints.get("gas-company")
    assert row is not None
    assert (row.webhook_url, row.secret, row.enabled) == ("https://gas.example/v2", "s2", False)
    assert [e.department for e in await endpoints.list()] == ["gas-company"]

    accounts = AccountRepository(db)
    await accounts.create("water-1", "pass-word-1", role="reviewer", account_id="water-1")
    assert await set_department(db, "water-1", "water-company")
    assert not await set_department(db, "nobody", "water-company")
    reviewer = await accounts.get("water-1")
    assert reviewer is not None and (reviewer.role, reviewer.department) == (
        "reviewer", "water-company")


async def test_concurrent_saves_of_two_cases_keep_both(db: Database) -> None:
    cases = CaseRepository(db)
    one, two = await opened(cases, "call-1", 1), await opened(cases, "call-2", 2)
    for n, case in enumerate((one, two)):
        case.add_submission(f"s-{n}", "water-transfer", ["water-company"], NOW + 60, NOW)
    await asyncio.gather(cases.save(one), cases.save(two))
    assert len(await cases.open_tasks("water-company")) == 2
