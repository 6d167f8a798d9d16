"""The call-record writer on both real backends: batched writes keep each call's phases in
order, mean what ``CallRepository.record`` means, survive a database that is away for a
while, and a journal left by a crash is written on start.

Each test gets a database of its own (a SQLite file, or a throwaway PostgreSQL database on
127.0.0.1:5432, which skips without the server or fails under CI=true).
"""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import select

from signaling.store import CallRepository, Database
from signaling.store.models import CallRecord
from signaling.store.record_writer import (
    JOURNAL_NAME,
    REJECTED_NAME,
    Level,
    RecordWriter,
    merge_fields,
)
from tests.store.databases import BACKENDS, PG_SERVER, new_database

IDENTITY = {"skill": "water", "origin": "kiosk", "caller_label": "武原街道",
            "partition": "default", "kiosk_id": "kiosk-1"}


@pytest.fixture(params=BACKENDS)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    async with new_database(request.param, tmp_path) as database:
        await database.create_all()
        yield database


@pytest.fixture
async def writer(db: Database, tmp_path: Path) -> AsyncIterator[RecordWriter]:
    record_writer = RecordWriter(db.url, tmp_path / "data")
    await record_writer.start()
    try:
        yield record_writer
    finally:
        await record_writer.stop()


async def rows(db: Database) -> dict[str, dict[str, Any]]:
    async with db.engine.connect() as connection:
        result = await connection.execute(select(CallRecord.__table__))
        return {row.id: dict(row._mapping) for row in result}


def phases_of_a_call(n: int, rng: random.Random) -> list[dict[str, Any]]:
    """The writes the hub asks for one call: queued, some unanswered offers, then answered
    and ended (or abandoned while waiting)."""
    base = 1000.0 + n
    writes: list[dict[str, Any]] = [{"phase": "queued", "enqueued_at": base, **IDENTITY}]
    for attempt in range(rng.randrange(3)):
        writes.append({"phase": "offered", "offered_to": f"agent-{attempt}",
                       "offered_at": base + attempt + 0.5})
        writes.append({"phase": "queued"})
    if rng.random() < 0.2:
        writes.append({"phase": "ended", "ended_at": base + 9, "end_reason": "caller_hangup",
                       "outcome": "abandoned", "wait_s": 9.0})
        return writes
    writes.append({"phase": "offered", "offered_to": "agent-x", "offered_at": base + 5})
    writes.append({"phase": "answered", "agent_id": "agent-x", "answered_at": base + 6,
                   "wait_s": 6.0})
    writes.append({"phase": "ended", "agent_id": "agent-x", "ended_at": base + 30,
                   "end_reason": "agent_hangup", "talk_s": 24.0, "outcome": None})
    return writes


def is_in_order(seen: list[str], asked: list[str]) -> bool:
    """Whether the phases a reader saw appear in the order they were asked for."""
    remaining = iter(asked)
    return all(any(phase == wanted for wanted in remaining) for phase in seen)


async def test_many_concurrent_calls_are_batched_and_each_keeps_its_order(
        db: Database, tmp_path: Path) -> None:
    writer = RecordWriter(db.url, tmp_path / "data", max_batch=25)  # many transactions
    await writer.start()
    rng = random.Random(9)
    plans = {f"call-{n}": phases_of_a_call(n, rng) for n in range(300)}
    seen: dict[str, list[str]] = {call_id: [] for call_id in plans}
    done = asyncio.Event()

    async def reader() -> None:  # what anybody reading the table meanwhile would see
        while not done.is_set():
            for call_id, row in (await rows(db)).items():
                if not seen[call_id] or seen[call_id][-1] != row["phase"]:
                    seen[call_id].append(row["phase"])
            await asyncio.sleep(0.005)

    async def call(call_id: str, writes: list[dict[str, Any]]) -> None:
        for fields in writes:
            writer.record(call_id, **fields)
            await asyncio.sleep(rng.random() * 0.02)

    watching = asyncio.create_task(reader())
    try:
        await asyncio.gather(*(call(call_id, writes) for call_id, writes in plans.items()))
        await writer.flush()
    finally:
        done.set()
        await watching
        await writer.stop()

    final = await rows(db)
    assert final.keys() == plans.keys()
    for call_id, writes in plans.items():
        expected: dict[str, Any] = {}
        for fields in writes:
            expected.update(fields)
        assert {key: final[call_id][key] for key in expected} == expected, call_id
        assert is_in_order(seen[call_id], [w["phase"] for w in writes]), (call_id, seen[call_id])
    assert any(len(phases) > 1 for phases in seen.values())  # the reader saw calls move on
    assert writer.rows > writer.batches  # several calls' writes shared a transaction
    assert writer.backlog().calls == 0
    assert (writer.journal.path.stat().st_size, writer.journal.size) == (0, 0)


async def test_same_rows_as_the_repository_and_a_final_phase_stays_final(
        db: Database, writer: RecordWriter) -> None:
    writes = [
        {"phase": "queued", "enqueued_at": 10.0, **IDENTITY},
        {"phase": "offered", "offered_to": "agent-a", "offered_at": 11.0},
        {"phase": "answered", "agent_id": "agent-a", "answered_at": 12.0, "wait_s": 2.0},
        {"phase": "ended", "ended_at": 40.0, "end_reason": "caller_hangup", "talk_s": 28.0,
         "outcome": None, "enqueued_at": 10.0, **IDENTITY},
    ]
    repository = CallRepository(db)
    for fields in writes:
        assert await repository.record(id="by-repository", **fields)
        writer.record("by-writer", **fields)
        await writer.recorded("by-writer")
    both = await rows(db)
    assert {**both["by-writer"], "id": None} == {**both["by-repository"], "id": None}

    # A late write after the end (a crash replaying its journal, a node that lagged) does
    # not take the record back to a live phase, nor touch the caller's rating.
    assert await repository.set_rating("by-writer", 5)
    writer.record("by-writer", phase="answered", agent_id="agent-z", answered_at=99.0)
    writer.record("by-writer", phase="queued", enqueued_at=99.0, **IDENTITY)
    await writer.flush()
    row = (await rows(db))["by-writer"]
    assert (row["phase"], row["agent_id"], row["enqueued_at"], row["rating"]) == (
        "ended", "agent-a", 10.0, 5)


def test_pending_writes_merge_later_values_first_and_never_leave_a_final_phase() -> None:
    queued = {"phase": "queued", "enqueued_at": 1.0, **IDENTITY}
    offered = merge_fields(queued, {"phase": "offered", "offered_to": "a"})
    assert offered == {**queued, "phase": "offered", "offered_to": "a"}
    ended = merge_fields(offered, {"phase": "ended", "end_reason": "caller_hangup"})
    assert ended["phase"] == "ended" and ended["offered_to"] == "a"
    assert merge_fields(ended, {"phase": "queued"}) == ended
    assert merge_fields(ended, {"agent_id": "b"}) == ended
    assert merge_fields(ended, {"phase": "interrupted", "end_reason": "x"})["phase"] == \
        "interrupted"


async def test_a_write_the_database_cannot_take_is_kept_not_dropped(
        db: Database, writer: RecordWriter, tmp_path: Path) -> None:
    # An update for a call the database has no row of (its first write was never made).
    writer.record("ghost", phase="ended", ended_at=5.0, end_reason="caller_hangup")
    writer.record("real", phase="queued", enqueued_at=1.0, **IDENTITY)
    await writer.flush()
    assert set(await rows(db)) == {"real"}
    kept = [json.loads(line) for line in (tmp_path / "data" / REJECTED_NAME).read_text()
            .splitlines()]
    assert [(k["c"], k["f"]["phase"], k["reason"]) for k in kept] == [
        ("ghost", "ended", "no row to update")]
    assert writer.backlog().calls == 0


async def test_updates_of_a_batch_reject_only_the_calls_without_a_row(
        db: Database, tmp_path: Path) -> None:
    # Calls queued by an earlier run: this writer does not know their identity, so their
    # next writes are plain updates (of one shape here, in one batch).
    earlier = RecordWriter(db.url, tmp_path / "data")
    await earlier.start()
    for call_id in ("live-1", "live-2", "over"):
        earlier.record(call_id, phase="queued", enqueued_at=1.0, **IDENTITY)
    earlier.record("over", phase="ended", ended_at=2.0, end_reason="caller_hangup")
    await earlier.stop()
    again = RecordWriter(db.url, tmp_path / "data")
    await again.start()
    try:
        for call_id in ("live-1", "live-2"):  # every row there: no look-up needed
            again.record(call_id, phase="offered", offered_to="agent-1", offered_at=3.0)
        await again.flush()
        for call_id in ("live-1", "over", "ghost"):  # one row there, one final, one missing
            again.record(call_id, phase="answered", agent_id="agent-1", answered_at=4.0)
        await again.flush()
    finally:
        await again.stop()
    stored = await rows(db)
    assert {k: v["phase"] for k, v in stored.items()} == {
        "live-1": "answered", "live-2": "offered", "over": "ended"}
    kept = [json.loads(line) for line in (tmp_path / "data" / REJECTED_NAME).read_text()
            .splitlines()]
    assert [(k["c"], k["reason"]) for k in kept] == [("ghost", "no row to update")]


class Outage:
    """Takes the writer's database away and gives it back: an exclusive transaction of
    another connection on the SQLite file, or PostgreSQL refusing connections to it."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.lock: sqlite3.Connection | None = None

    async def begin(self) -> None:
        if self.db.engine.dialect.name == "sqlite":
            assert self.db.url.database is not None
            self.lock = sqlite3.connect(self.db.url.database, isolation_level=None)
            self.lock.execute("BEGIN EXCLUSIVE")
            return
        name = self.db.url.database
        await self._admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false',
                          "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          f"WHERE datname = '{name}' AND pid <> pg_backend_pid()")

    async def end(self) -> None:
        if self.lock is not None:
            self.lock.execute("ROLLBACK")
            self.lock.close()
            return
        await self._admin(f'ALTER DATABASE "{self.db.url.database}" ALLOW_CONNECTIONS true')

    @staticmethod
    async def _admin(*statements: str) -> None:
        connection = await asyncpg.connect(f"postgresql://{PG_SERVER}/postgres", timeout=5)
        try:
            for statement in statements:
                await connection.execute(statement)
        finally:
            await connection.close()


async def test_writes_while_the_database_is_away_land_later_none_lost(
        db: Database, writer: RecordWriter) -> None:
    writer.record("before", phase="queued", enqueued_at=1.0, **IDENTITY)
    await writer.recorded("before")  # the writer's connection is open and in use
    await db.dispose()  # (the test's own reader must not hold PostgreSQL open)
    outage = Outage(db)
    await outage.begin()
    try:
        for n in range(40):
            writer.record(f"away-{n}", phase="queued", enqueued_at=2.0 + n, **IDENTITY)
            writer.record(f"away-{n}", phase="ended", ended_at=3.0 + n,
                          end_reason="caller_hangup", outcome="abandoned")
        writer.record("before", phase="ended", ended_at=9.0, end_reason="agent_hangup")
        # 'ended' for the caller: the record is crash-safe in the journal, not yet committed.
        assert await writer.durable("away-39", timeout=1.0) is Level.JOURNALED
        assert writer.backlog().calls == 41
        journal = (writer.journal.path.read_text()).splitlines()
        assert {json.loads(line)["c"] for line in journal} >= {"before", "away-0", "away-39"}
        await asyncio.sleep(0.5)
    finally:
        await outage.end()
    await asyncio.wait_for(writer.flush(), 60)

    final = await rows(db)
    assert final["before"]["phase"] == "ended"
    for n in range(40):
        assert (final[f"away-{n}"]["phase"], final[f"away-{n}"]["ended_at"]) == (
            "ended", 3.0 + n)
    assert writer.backlog() .calls == 0 and not writer.backlog().database_failing
    assert writer.journal.path.stat().st_size == 0


async def test_a_journal_left_by_a_crash_is_written_on_start(
        db: Database, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    lines = [
        {"c": "a", "f": {"phase": "queued", "enqueued_at": 1.0, **IDENTITY}},
        {"c": "b", "f": {"phase": "queued", "enqueued_at": 2.0, **IDENTITY}},
        {"c": "a", "f": {"phase": "answered", "agent_id": "agent-a", "answered_at": 3.0,
                         "enqueued_at": 1.0, **IDENTITY}},
    ]
    text = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
    torn = '{"c": "b", "f": {"phase": "ended", "ended_'  # the process died mid-write
    (data / JOURNAL_NAME).write_text(text + torn)

    record_writer = RecordWriter(db.url, data)
    assert await record_writer.start() == 2
    try:
        final = await rows(db)
        assert (final["a"]["phase"], final["a"]["agent_id"]) == ("answered", "agent-a")
        assert final["b"]["phase"] == "queued"  # the torn line is not half-applied
        assert (data / JOURNAL_NAME).stat().st_size == 0
    finally:
        await record_writer.stop()


async def test_a_slow_journal_sync_is_logged_and_the_wait_reports_it(
        db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A stalled fsync delays every ``ended`` of its batch: the writer says so, with how
    long it took and where (an ``ended`` sent 'not even journaled' is otherwise a mystery,
    as the call-rate bench found)."""
    import signaling.store.record_journal as record_journal

    writer = RecordWriter(db.url, tmp_path / "data")
    await writer.start()
    real_sync = record_journal.os.fdatasync

    def stalled_sync(fd: int) -> None:
        time.sleep(0.7)  # (in the journal's thread, as a disk flushing would)
        real_sync(fd)

    monkeypatch.setattr(record_journal.os, "fdatasync", stalled_sync)
    try:
        writer.record("slow", phase="queued", enqueued_at=1.0, **IDENTITY)
        assert await writer.durable("slow", timeout=0.2) is None  # not even journaled yet
        assert await writer.durable("slow", timeout=5.0) is Level.COMMITTED
    finally:
        monkeypatch.undo()
        await writer.stop()
    slow = [r.getMessage() for r in caplog.records if "took" in r.getMessage()]
    assert len(slow) == 1 and slow[0].startswith("call-record journal: appending 1 call(s) took")
    assert "s writing and syncing" in slow[0]
