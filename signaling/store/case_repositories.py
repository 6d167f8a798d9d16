"""Repositories of cases, their department tasks, the webhook outbox and the departments'
endpoints.

Same rules as ``repositories``: a short transaction per call. A case is read whole as the
pure :class:`signaling.matters.cases.Case` and saved whole (it has a handful of tasks), and
the outbox rows its change causes are written in the same transaction, so a task is never
stored without its delivery nor a delivery without its task.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from signaling.matters.cases import Case, CaseState, Task, TaskState
from signaling.store.database import Database
from signaling.store.models import (
    Account,
    CaseRecord,
    CaseTask,
    DepartmentEndpoint,
    OutboxEntry,
)


class CaseNumberTaken(Exception):
    """Another case got this number first (two cases opened at once); take the next one."""


@dataclass(frozen=True)
class OutboxItem:
    """An outbox row to add together with a case change."""

    event_id: str
    department: str
    kind: str
    payload: Mapping[str, Any]


def _task(row: CaseTask) -> Task:
    return Task(id=row.id, department=row.department, matters=builtins.list(row.matters),
                submissions=builtins.list(row.submissions), due_at=row.due_at,
                created_at=row.created_at, state=TaskState(row.state),
                decided_at=row.decided_at, decided_by=row.decided_by, reason=row.reason)


def _case(row: CaseRecord, tasks: Iterable[CaseTask]) -> Case:
    return Case(number=row.number, call_id=row.call_id, phone=row.phone,
                partition=row.partition, created_at=row.created_at,
                tasks=[_task(t) for t in sorted(tasks, key=_task_order)],
                closed_at=row.closed_at, receipt_code=row.receipt_code)


def _task_order(row: CaseTask) -> tuple[float, int]:
    return row.created_at, int(row.id.rsplit("-", 1)[1])


def _outbox_row(item: OutboxItem, now: float) -> OutboxEntry:
    return OutboxEntry(event_id=item.event_id, department=item.department, kind=item.kind,
                       payload=dict(item.payload), attempts=0, next_attempt_at=now,
                       created_at=now)


class CaseRepository:
    """Cases and their tasks."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def last_sequence(self, day_prefix: str) -> int:
        """The highest daily sequence of the numbers starting ``<prefix>-<YYYYMMDD>-``."""
        query = select(func.max(CaseRecord.number)).where(
            CaseRecord.number.like(day_prefix.replace("%", "") + "%"))
        async with self._db.session() as session:
            number = await session.scalar(query)
        return int(number.rsplit("-", 1)[1]) if number else 0

    async def insert(self, case: Case) -> None:
        """Store a newly opened case; :class:`CaseNumberTaken` if its number exists."""
        async with self._db.session() as session:
            try:
                async with session.begin():
                    session.add(CaseRecord(
                        number=case.number, call_id=case.call_id, phone=case.phone,
                        partition=case.partition, state=case.state.value,
                        created_at=case.created_at, closed_at=case.closed_at,
                        receipt_code=case.receipt_code))
            except IntegrityError:
                raise CaseNumberTaken(case.number) from None

    async def save(self, case: Case, outbox: Iterable[OutboxItem] = (),
                   now: float = 0.0) -> None:
        """Store the case's state and every task as they are now, and add ``outbox`` rows
        (due at ``now``) in the same transaction."""
        async with self._db.session() as session, session.begin():
            row = await session.scalar(select(CaseRecord).where(
                CaseRecord.number == case.number).with_for_update())
            if row is None:
                raise LookupError(f"no case {case.number}")
            row.state, row.closed_at = case.state.value, case.closed_at
            row.receipt_code = case.receipt_code
            existing = {t.id: t for t in await session.scalars(
                select(CaseTask).where(CaseTask.case_id == row.id))}
            for task in case.tasks:
                stored = existing.get(task.id)
                if stored is None:
                    stored = CaseTask(id=task.id, case_id=row.id, department=task.department,
                                      created_at=task.created_at)
                    session.add(stored)
                stored.matters = builtins.list(task.matters)
                stored.submissions = builtins.list(task.submissions)
                stored.state, stored.due_at = task.state.value, task.due_at
                stored.decided_at, stored.decided_by = task.decided_at, task.decided_by
                stored.reason = task.reason
            session.add_all(_outbox_row(item, now) for item in outbox)

    async def get(self, number: str) -> Case | None:
        async with self._db.session() as session:
            row = await session.scalar(select(CaseRecord).where(CaseRecord.number == number))
            return None if row is None else await self._load(session, row)

    async def for_call(self, call_id: str) -> Case | None:
        """The call's latest case (a call whose case closed may open another)."""
        async with self._db.session() as session:
            row = await session.scalar(
                select(CaseRecord).where(CaseRecord.call_id == call_id)
                .order_by(CaseRecord.id.desc()).limit(1))
            return None if row is None else await self._load(session, row)

    async def for_task(self, task_id: str) -> Case | None:
        """The case a task belongs to."""
        async with self._db.session() as session:
            task = await session.get(CaseTask, task_id)
            if task is None:
                return None
            row = await session.get(CaseRecord, task.case_id)
            return None if row is None else await self._load(session, row)

    async def open_tasks(self, department: str) -> builtins.list[tuple[Case, Task]]:
        """The department's undecided tasks (pending or awaiting a correction) of open
        cases, oldest first, each with its case."""
        query = (select(CaseTask, CaseRecord)
                 .join(CaseRecord, CaseRecord.id == CaseTask.case_id)
                 .where(CaseTask.department == department,
                        CaseTask.state.in_([TaskState.PENDING.value,
                                            TaskState.CORRECTION.value]),
                        CaseRecord.state == CaseState.OPEN.value)
                 .order_by(CaseTask.created_at, CaseTask.id))
        async with self._db.session() as session:
            rows = (await session.execute(query)).all()
            cases: dict[int, Case] = {}
            found = []
            for task_row, case_row in rows:
                if case_row.id not in cases:
                    cases[case_row.id] = await self._load(session, case_row)
                case = cases[case_row.id]
                found.append((case, case.task(task_row.id)))
            return found

    async def overdue_count(self, now: float, partition: str | None = None) -> int:
        """Undecided tasks of open cases past their due time (of one district, or all)."""
        query = (select(func.count()).select_from(CaseTask)
                 .join(CaseRecord, CaseRecord.id == CaseTask.case_id)
                 .where(CaseTask.state.in_([TaskState.PENDING.value,
                                            TaskState.CORRECTION.value]),
                        CaseRecord.state == CaseState.OPEN.value, CaseTask.due_at < now))
        if partition is not None:
            query = query.where(CaseRecord.partition == partition)
        async with self._db.session() as session:
            return int(await session.scalar(query) or 0)

    async def overdue_tasks(self, now: float,
                            limit: int = 200) -> builtins.list[tuple[Case, Task]]:
        """Undecided tasks of open cases past their due time, in every department, the
        oldest due first, each with its case (for supervisors)."""
        query = (select(CaseTask, CaseRecord)
                 .join(CaseRecord, CaseRecord.id == CaseTask.case_id)
                 .where(CaseTask.state.in_([TaskState.PENDING.value,
                                            TaskState.CORRECTION.value]),
                        CaseRecord.state == CaseState.OPEN.value, CaseTask.due_at < now)
                 .order_by(CaseTask.due_at, CaseTask.id).limit(limit))
        async with self._db.session() as session:
            rows = (await session.execute(query)).all()
            cases: dict[int, Case] = {}
            found = []
            for task_row, case_row in rows:
                if case_row.id not in cases:
                    cases[case_row.id] = await self._load(session, case_row)
                found.append((cases[case_row.id], cases[case_row.id].task(task_row.id)))
            return found

    async def overdue_by_department(self, now: float) -> dict[str, int]:
        """How many undecided tasks of open cases are past their due time, by department
        (departments with none are absent)."""
        query = (select(CaseTask.department, func.count())
                 .join(CaseRecord, CaseRecord.id == CaseTask.case_id)
                 .where(CaseTask.state.in_([TaskState.PENDING.value,
                                            TaskState.CORRECTION.value]),
                        CaseRecord.state == CaseState.OPEN.value, CaseTask.due_at < now)
                 .group_by(CaseTask.department))
        async with self._db.session() as session:
            return {department: int(count)
                    for department, count in (await session.execute(query)).all()}

    @staticmethod
    async def _load(session: Any, row: CaseRecord) -> Case:
        tasks = await session.scalars(select(CaseTask).where(CaseTask.case_id == row.id))
        return _case(row, tasks)


class OutboxRepository:
    """Webhook deliveries: added with the case change that causes them, taken by the
    outbox worker when due, marked delivered or failed (with the next attempt's time)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, event_id: str, department: str, kind: str,
                  payload: Mapping[str, Any], now: float) -> OutboxEntry:
        """A delivery due at once; ``IntegrityError`` if the event id exists."""
        row = _outbox_row(OutboxItem(event_id, department, kind, payload), now)
        async with self._db.session() as session, session.begin():
            session.add(row)
        return row

    async def due(self, now: float, limit: int = 20) -> builtins.list[OutboxEntry]:
        """Undelivered rows whose next attempt is due, the oldest due first."""
        query = (select(OutboxEntry)
                 .where(OutboxEntry.delivered_at.is_(None),
                        OutboxEntry.next_attempt_at <= now)
                 .order_by(OutboxEntry.next_attempt_at, OutboxEntry.id).limit(limit))
        async with self._db.session() as session:
            return builtins.list(await session.scalars(query))

    async def delivered(self, id: int, now: float) -> bool:
        """Mark a row delivered (counts the attempt); ``False`` if it was already."""
        return await self._update(id, delivered_at=now, last_error=None,
                                  attempts=OutboxEntry.attempts + 1)

    async def failed(self, id: int, error: str, next_attempt_at: float) -> bool:
        """Count a failed attempt and when to try again."""
        return await self._update(id, last_error=error[:2000],
                                  next_attempt_at=next_attempt_at,
                                  attempts=OutboxEntry.attempts + 1)

    async def get(self, event_id: str) -> OutboxEntry | None:
        async with self._db.session() as session:
            return await session.scalar(
                select(OutboxEntry).where(OutboxEntry.event_id == event_id))

    async def list(self, department: str | None = None) -> builtins.list[OutboxEntry]:
        """Every row (of one department), oldest first: for tests and operators."""
        query = select(OutboxEntry).order_by(OutboxEntry.id)
        if department is not None:
            query = query.where(OutboxEntry.department == department)
        async with self._db.session() as session:
            return builtins.list(await session.scalars(query))

    async def _update(self, id: int, **values: Any) -> bool:
        statement = (update(OutboxEntry)
                     .where(OutboxEntry.id == id, OutboxEntry.delivered_at.is_(None))
                     .values(**values))
        async with self._db.session() as session, session.begin():
            result = await session.execute(statement)
        return bool(getattr(result, "rowcount", 0))


class DepartmentEndpointRepository:
    """Departments with their own systems: webhook URL, shared secret, on or off."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, department: str) -> DepartmentEndpoint | None:
        async with self._db.session() as session:
            return await session.get(DepartmentEndpoint, department)

    async def set(self, department: str, url: str, secret: str,
                  enabled: bool = True) -> DepartmentEndpoint:
        """Create or replace the department's endpoint."""
        async with self._db.session() as session, session.begin():
            row = await session.get(DepartmentEndpoint, department)
            if row is None:
                row = DepartmentEndpoint(department=department)
                session.add(row)
            row.webhook_url, row.secret, row.enabled = url, secret, enabled
        return row

    async def list(self) -> builtins.list[DepartmentEndpoint]:
        async with self._db.session() as session:
            return builtins.list(await session.scalars(
                select(DepartmentEndpoint).order_by(DepartmentEndpoint.department)))


async def set_department(db: Database, account_id: str, department: str | None) -> bool:
    """Bind a (reviewer) account to a department; ``False`` if there is no such account."""
    async with db.session() as session, session.begin():
        result = await session.execute(
            update(Account).where(Account.id == account_id).values(department=department))
    return bool(getattr(result, "rowcount", 0))
