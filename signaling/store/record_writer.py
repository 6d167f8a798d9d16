"""Call-record writes off the routing path: coalesced per call, journaled, written in batches.

The hub writes each phase of every call (queued, offered, answered, ended). One statement
per phase on the pool that routing and REST also use timed that pool out under overload
and lost records (issue 9). The ``RecordWriter`` takes those writes instead:

* ``record(call_id, **fields)`` returns at once. Fields asked for a call that has not been
  written yet are merged into one pending write (later values win).
* A journal task appends everything pending to an append-only journal file
  (``call-records.journal`` in the data dir, one JSON line per call) and fsyncs it, once per
  batch. From then on a crash cannot lose the write: ``start()`` replays the journal.
* A commit task writes what is journaled to the database in batches (up to
  ``MAX_BATCH`` calls per transaction), on an engine of its own with one connection, so it
  never waits for the routing path's pool nor makes it wait. A lone write goes at once;
  writes asked while a batch is under way, or within ``MIN_COMMIT_INTERVAL`` of the last
  one's start, make up the next one (group commit).
* A database that fails (unreachable, locked, pool timeout) is retried with back-off;
  meanwhile journaling goes on and ``backlog()`` grows, which load shedding reads. Once
  nothing is pending the journal is truncated.

Upserts are the repository's (``CallRepository.record``): a write that carries the columns
a row needs inserts it or updates the given columns; other writes update. The writer keeps
each live call's identity columns and adds them to every write of the call, so each
journal line can recreate its row on its own. Phases never go backwards: a final phase
(``ended``, ``interrupted``) is never overwritten by the writer, in memory or in the
database, which also makes replaying a line that was already committed harmless. A write
the database rejects for good (a constraint, or an update for a call it has no row of) is
not dropped: it is appended to ``call-records.rejected`` and logged as an error.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import Table, and_, bindparam, literal_column, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from signaling.store.database import Database
from signaling.store.models import CallPhase, CallRecord
from signaling.store.record_journal import Journal

log = logging.getLogger(__name__)
T = TypeVar("T")

#: the journal's and the rejected writes' file names in the data dir
JOURNAL_NAME = "call-records.journal"
REJECTED_NAME = "call-records.rejected"
#: most calls written in one transaction
MAX_BATCH = 500
#: group commit: at most one transaction per this many seconds (what is asked meanwhile
#: joins the next one). A lone write still goes at once; under load a transaction costs
#: the same CPU whether it carries one call or fifty, so the cost per call falls as the
#: rate rises, and ``ended`` waits at most this much longer.
MIN_COMMIT_INTERVAL = 0.01
#: a journal append slower than this (seconds, lock wait included) is logged: it delays
#: every caller's ``ended`` in the batch
SLOW_JOURNAL = 0.5
#: first and longest pause between attempts while the database fails (seconds)
RETRY_FIRST = 0.05
RETRY_LONGEST = 5.0
#: a journal larger than this, with writes still pending, is rewritten with only those
COMPACT_BYTES = 4 << 20
#: the columns a new row needs (its NOT NULL columns without a default), kept per live call
ROW_COLUMNS = ("skill", "origin", "caller_label", "enqueued_at")
_FINAL = frozenset(phase.value for phase in CallPhase if phase.final)
_COLUMNS = frozenset(CallRecord.__table__.c.keys()) - {"id"}

_table = cast(Table, CallRecord.__table__)
#: a row the writer may still change (no bound parameters, so it works in executemany)
_NOT_FINAL = and_(*(_table.c.phase != literal_column(f"'{phase}'") for phase in sorted(_FINAL)))


class Level(StrEnum):
    """How far a call's writes have got."""

    #: fsynced to the journal: a crash cannot lose them
    JOURNALED = "journaled"
    #: committed to the database: readers see them
    COMMITTED = "committed"
    #: committed, or journaled while the database is failing (what ``ended`` waits for)
    DURABLE = "durable"


@dataclass(frozen=True)
class RecordBacklog:
    """Writes not yet in the database, for load shedding and ``/metrics``."""

    #: calls with a write not yet committed
    calls: int
    #: seconds the oldest of them has waited (0 when none)
    oldest_age: float
    #: the last database attempt failed and the writer is backing off
    database_failing: bool


def merge_fields(older: Mapping[str, Any], newer: Mapping[str, Any]) -> dict[str, Any]:
    """One pending write from two of the same call: later values win, except that a write
    after a final phase is ignored (phases never go backwards)."""
    if older.get("phase") in _FINAL and newer.get("phase") not in _FINAL:
        return dict(older)
    if older.get("phase") in _FINAL and "phase" not in newer:
        return dict(older)
    return {**older, **newer}


@dataclass
class _Call:
    """What the writer tracks of one call while it has writes not yet committed."""

    asked: int = 0  # writes asked for so far
    journaled: int = 0  # of those, how many are in the journal
    committed: int = 0  # ... and in the database
    waiters: list[tuple[int, Level, asyncio.Future[None]]] = field(default_factory=list)


class RecordWriter:
    """Batched, journaled call-record writes on a database engine of their own.

    ``url`` is the database's (the writer opens its own one-connection engine on it);
    ``data_dir`` holds the journal. ``start()`` replays a journal left by a crash and must
    come before anything reads the records as final (the hub's ``interrupt_unfinished``).
    """

    def __init__(self, url: str | URL, data_dir: Path, *, max_batch: int = MAX_BATCH) -> None:
        self.database = Database(url, pool_size=1)
        self.journal = Journal(Path(data_dir) / JOURNAL_NAME)
        self.rejected_path = Path(data_dir) / REJECTED_NAME
        self.max_batch = max_batch
        #: transactions committed and calls written by them (for tests and benchmarks)
        self.batches = 0
        self.rows = 0
        self._calls: dict[str, _Call] = {}
        self._identity: dict[str, dict[str, Any]] = {}  # live calls' row columns
        self._unjournaled: dict[str, tuple[dict[str, Any], int]] = {}
        self._uncommitted: dict[str, tuple[dict[str, Any], int]] = {}
        self._pending_since: OrderedDict[str, float] = OrderedDict()
        self._journal_lock = asyncio.Lock()
        self._journal_wake = asyncio.Event()
        self._commit_wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._failing = False
        self._retry_delay = RETRY_FIRST
        self._statements: dict[tuple[str, tuple[str, ...]], Any] = {}
        self._connection: AsyncConnection | None = None
        # Journal I/O on a thread of its own: never queued behind other work's threads.
        self._journal_thread = ThreadPoolExecutor(1, thread_name_prefix="record-journal")

    # ------------------------------------------------------------------ life cycle

    async def start(self, *, replay_timeout: float = 60.0) -> int:
        """Open the journal, write what it holds to the database (waiting up to
        ``replay_timeout`` for a failing database, then raising ``TimeoutError``), and
        start writing. Returns how many calls were replayed."""
        entries = await self._in_journal_thread(self.journal.open)
        for call_id, fields in entries:
            previous = self._uncommitted.get(call_id)
            merged = fields if previous is None else merge_fields(previous[0], fields)
            state = self._calls.setdefault(call_id, _Call())
            state.asked = state.journaled = 1
            self._uncommitted[call_id] = (merged, 1)
            self._pending_since.setdefault(call_id, time.monotonic())
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._journal_loop(), name="record-journal"),
                       loop.create_task(self._commit_loop(), name="record-commit")]
        if self._uncommitted:
            log.warning("call-record journal: replaying %d call(s) left by the previous run",
                        len(self._uncommitted))
            self._commit_wake.set()
            try:
                await asyncio.wait_for(self.flush(), replay_timeout)
            except TimeoutError:
                await self._close()
                raise RuntimeError(
                    f"the call-record journal {self.journal.path} could not be written to "
                    f"the database within {replay_timeout:.0f} s; it is kept") from None
            await self._tidy_journal()  # replayed: empty, not whenever the commit task gets to it
        return len({call_id for call_id, _ in entries})

    async def flush(self) -> None:
        """Wait until every write asked for so far is committed (or rejected)."""
        targets = [(call_id, state.asked) for call_id, state in self._calls.items()]
        for call_id, asked in targets:
            await self._wait(call_id, asked, Level.COMMITTED)

    async def stop(self, timeout: float = 10.0) -> None:
        """Commit what is pending (up to ``timeout``; what is left stays in the journal for
        the next start), then close the journal and the engine."""
        try:
            await asyncio.wait_for(self.flush(), timeout)
        except TimeoutError:
            log.warning("call-record writer stopping with %d call(s) not yet in the "
                        "database; they stay in the journal", self.backlog().calls)
        else:
            # Empty the journal here rather than trust the commit task to have done it: the
            # task may still be on its way to the truncation when it is cancelled below,
            # and a journal left full after a clean stop is replayed (harmlessly, but with
            # a warning about calls "left by the previous run") at the next start.
            await self._tidy_journal()
        await self._close()

    async def _close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self._in_journal_thread(self.journal.close)
        self._journal_thread.shutdown(wait=False)
        await self._drop_connection()
        await self.database.dispose()

    async def _in_journal_thread(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(
            self._journal_thread, function, *args)

    # ------------------------------------------------------------------ writes and waits

    def record(self, call_id: str, **fields: Any) -> None:
        """Ask for these fields to be written to the call's record; never blocks."""
        unknown = fields.keys() - _COLUMNS
        if unknown:  # a bug, but routing goes on: those fields could never be written
            log.error("call-record writer: %s are not columns of calls; not written for %s",
                      sorted(unknown), call_id)
            fields = {key: value for key, value in fields.items() if key in _COLUMNS}
        identity = self._identity.get(call_id)
        if identity is None and all(column in fields for column in ROW_COLUMNS):
            identity = self._identity[call_id] = {c: fields[c] for c in ROW_COLUMNS}
        if identity is not None:
            fields = {**identity, **fields}
            if fields.get("phase") in _FINAL:
                del self._identity[call_id]
        state = self._calls.get(call_id)
        if state is None:
            state = self._calls[call_id] = _Call()
            self._pending_since[call_id] = time.monotonic()
        state.asked += 1
        previous = self._unjournaled.get(call_id)
        merged = fields if previous is None else merge_fields(previous[0], fields)
        self._unjournaled[call_id] = (merged, state.asked)
        self._journal_wake.set()

    def pending(self, call_id: str) -> bool:
        """Whether writes of the call are asked for and not yet in the database."""
        return call_id in self._calls

    async def recorded(self, call_id: str) -> None:
        """Wait until every write of the call asked for so far is in the database, so that
        later updates (rating, wrap-up) find it."""
        state = self._calls.get(call_id)
        if state is not None:
            await self._wait(call_id, state.asked, Level.COMMITTED)

    async def durable(self, call_id: str, timeout: float) -> Level | None:
        """Wait until the call's writes so far are committed, or journaled while the
        database is failing, for at most ``timeout`` seconds. Returns how far they got
        (``None``: not even journaled)."""
        state = self._calls.get(call_id)
        if state is None:
            return Level.COMMITTED
        asked = state.asked
        try:
            async with asyncio.timeout(timeout):  # no extra task per call, as wait_for has
                await self._wait(call_id, asked, Level.DURABLE)
        except TimeoutError:
            pass
        state = self._calls.get(call_id)
        if state is None or state.committed >= asked:
            return Level.COMMITTED
        return Level.JOURNALED if state.journaled >= asked else None

    def backlog(self) -> RecordBacklog:
        oldest = next(iter(self._pending_since.values()), None)
        return RecordBacklog(
            calls=len(self._pending_since),
            oldest_age=0.0 if oldest is None else max(0.0, time.monotonic() - oldest),
            database_failing=self._failing)

    async def _wait(self, call_id: str, target: int, level: Level) -> None:
        state = self._calls.get(call_id)
        if state is None or self._reached(state, target, level):
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        state.waiters.append((target, level, future))
        try:
            await asyncio.shield(future)
        finally:
            if not future.done():
                future.cancel()
            if (current := self._calls.get(call_id)) is not None:
                current.waiters = [w for w in current.waiters if w[2] is not future]
                self._forget_if_done(call_id, current)

    def _reached(self, state: _Call, target: int, level: Level) -> bool:
        if state.committed >= target:
            return True
        if level is Level.JOURNALED or (level is Level.DURABLE and self._failing):
            return state.journaled >= target
        return False

    def _settle(self, call_id: str, state: _Call) -> None:
        still = []
        for waiter in state.waiters:
            target, level, future = waiter
            if future.done():
                continue
            if self._reached(state, target, level):
                future.set_result(None)
            else:
                still.append(waiter)
        state.waiters = still
        self._forget_if_done(call_id, state)

    def _forget_if_done(self, call_id: str, state: _Call) -> None:
        if state.committed >= state.asked and not state.waiters:
            if self._calls.get(call_id) is state:
                del self._calls[call_id]
            self._pending_since.pop(call_id, None)

    def _set_failing(self, failing: bool) -> None:
        if failing == self._failing:
            return
        self._failing = failing
        if failing:  # journaled writes now count as durable
            for call_id, state in list(self._calls.items()):
                if state.waiters:
                    self._settle(call_id, state)

    # ------------------------------------------------------------------ journal task

    async def _journal_loop(self) -> None:
        delay = RETRY_FIRST
        while True:
            await self._journal_wake.wait()
            self._journal_wake.clear()
            batch, self._unjournaled = self._unjournaled, {}
            if not batch:
                continue
            began = time.monotonic()
            try:
                async with self._journal_lock:
                    locked = time.monotonic()
                    await self._in_journal_thread(
                        self.journal.append,
                        [(call_id, fields) for call_id, (fields, _) in batch.items()])
                    self._journaled(batch)
                    took = time.monotonic() - began
                    if took > SLOW_JOURNAL:
                        log.warning("call-record journal: appending %d call(s) took %.2f s "
                                    "(%.2f s waiting for the journal, %.2f s writing and "
                                    "syncing)", len(batch), took, locked - began,
                                    time.monotonic() - locked)
            except OSError:
                log.exception("call-record journal: append failed; retrying in %.2f s", delay)
                for call_id, (fields, asked) in batch.items():  # back, under newer writes
                    newer = self._unjournaled.get(call_id)
                    self._unjournaled[call_id] = (
                        (fields, asked) if newer is None
                        else (merge_fields(fields, newer[0]), newer[1]))
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_LONGEST)
                self._journal_wake.set()
                continue
            delay = RETRY_FIRST
            self._commit_wake.set()

    def _journaled(self, batch: dict[str, tuple[dict[str, Any], int]]) -> None:
        """``batch`` is in the journal: it joins what the commit task writes (under the
        journal lock, so the journal always holds everything not yet committed)."""
        for call_id, (fields, asked) in batch.items():
            previous = self._uncommitted.get(call_id)
            merged = fields if previous is None else merge_fields(previous[0], fields)
            self._uncommitted[call_id] = (merged, asked)
            if (state := self._calls.get(call_id)) is not None:
                state.journaled = max(state.journaled, asked)
                self._settle(call_id, state)

    # ------------------------------------------------------------------ commit task

    async def _commit_loop(self) -> None:
        loop = asyncio.get_running_loop()
        last_commit = -MIN_COMMIT_INTERVAL
        while True:
            await self._commit_wake.wait()
            self._commit_wake.clear()
            while self._uncommitted:
                pause = last_commit + MIN_COMMIT_INTERVAL - loop.time()
                if pause > 0 and len(self._uncommitted) < self.max_batch:
                    await asyncio.sleep(pause)  # the writes asked meanwhile come along
                last_commit = loop.time()
                chunk = dict(list(self._uncommitted.items())[:self.max_batch])
                try:
                    await self._commit(chunk)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self._set_failing(True)
                    log.warning("call-record writer: database write of %d call(s) failed "
                                "(%s: %s); retrying in %.2f s", len(chunk),
                                type(exc).__name__, exc, self._retry_delay)
                    await asyncio.sleep(self._retry_delay)
                    self._retry_delay = min(self._retry_delay * 2, RETRY_LONGEST)
                    continue
                self._set_failing(False)
                self._retry_delay = RETRY_FIRST
                self._committed(chunk)
                await self._tidy_journal()

    async def _commit(self, chunk: dict[str, tuple[dict[str, Any], int]]) -> None:
        """Write ``chunk`` in one transaction; calls the database refuses for good are
        set aside (the rest of the chunk is written without them)."""
        entries = {call_id: fields for call_id, (fields, _) in chunk.items()}
        try:
            rejected = await self._write(entries)
        except (IntegrityError, DataError):
            rejected = {}
            for call_id, fields in entries.items():  # one at a time, to find the culprit
                try:
                    rejected.update(await self._write({call_id: fields}))
                except (IntegrityError, DataError) as exc:
                    rejected[call_id] = f"{type(exc).__name__}: {exc.orig}"
        if rejected:
            await self._reject({call_id: (entries[call_id], reason)
                                for call_id, reason in rejected.items()})

    async def _write(self, entries: dict[str, dict[str, Any]]) -> dict[str, str]:
        """One transaction of upserts and updates; returns the calls that have no row to
        update (not written), with the reason."""
        upserts: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        updates: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for call_id, fields in entries.items():
            shape = tuple(sorted(fields))
            target = upserts if all(c in fields for c in ROW_COLUMNS) else updates
            target.setdefault(shape, []).append({"id": call_id, **fields})
        missing: dict[str, str] = {}
        connection = await self._connection_for_writes()
        try:
            await connection.begin()
        except Exception:
            await self._drop_connection()
            raise
        try:
            for shape, rows in upserts.items():
                await connection.execute(self._upsert(shape), rows)
            # Updates go first and the rows are looked for only when fewer rows changed
            # than were asked for (a row missing, or a final one left alone): one
            # statement less per batch in the usual case, where every row is there.
            unsure: list[str] = []
            for shape, rows in updates.items():
                result = await connection.execute(
                    self._update(shape),
                    [{("call_id" if k == "id" else k): v for k, v in row.items()}
                     for row in rows])
                sane = (result.supports_sane_rowcount() if len(rows) == 1
                        else result.supports_sane_multi_rowcount())
                if not (sane and result.rowcount == len(rows)):
                    unsure.extend(row["id"] for row in rows)
            if unsure:
                found = await self._existing(connection, unsure)
                missing.update({call_id: "no row to update" for call_id in unsure
                                if call_id not in found})
            await connection.commit()
        except BaseException:
            # Not reused after a failure (it may be broken, or the database gone): the
            # next attempt connects anew.
            await self._drop_connection()
            raise
        self.batches += 1
        self.rows += len(entries) - len(missing)
        return missing

    async def _connection_for_writes(self) -> AsyncConnection:
        """The writer's one connection, kept between transactions: checking it out of a
        pool and resetting it for each batch cost a round trip more per transaction."""
        if self._connection is None:
            self._connection = await self.database.engine.connect()
        return self._connection

    async def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                await connection.close()
            except Exception:  # already broken: it only has to go
                log.debug("call-record writer: closing a failed connection failed",
                          exc_info=True)

    def _upsert(self, shape: tuple[str, ...]) -> Any:
        """The upsert of rows with these columns, built once per shape (a call's phases
        have a handful of shapes): building and hashing a statement for each batch cost
        more than running it."""
        statement = self._statements.get(("upsert", shape))
        if statement is None:
            insert = (sqlite_insert if self.database.engine.dialect.name == "sqlite"
                      else pg_insert)
            new = insert(_table)
            statement = self._statements[("upsert", shape)] = new.on_conflict_do_update(
                index_elements=[_table.c.id],
                set_={column: new.excluded[column] for column in shape},
                where=_NOT_FINAL)
        return statement

    def _update(self, shape: tuple[str, ...]) -> Any:
        statement = self._statements.get(("update", shape))
        if statement is None:
            statement = self._statements[("update", shape)] = (
                update(_table)
                .where(_table.c.id == bindparam("call_id"), _NOT_FINAL)
                .values({column: bindparam(column) for column in shape}))
        return statement

    @staticmethod
    async def _existing(connection: AsyncConnection, call_ids: list[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(call_ids), 500):
            result = await connection.execute(
                select(_table.c.id).where(_table.c.id.in_(call_ids[start:start + 500])))
            found.update(result.scalars())
        return found

    async def _reject(self, rejected: dict[str, tuple[dict[str, Any], str]]) -> None:
        """Keep writes the database refuses in the rejected file (never dropped)."""
        for call_id, (fields, reason) in rejected.items():
            log.error("call-record writer: write of call %s refused (%s); kept in %s: %s",
                      call_id, reason, self.rejected_path, fields)
        lines = b"".join(
            json.dumps({"c": call_id, "f": fields, "reason": reason, "at": time.time()},
                       ensure_ascii=False).encode() + b"\n"
            for call_id, (fields, reason) in rejected.items())

        def append() -> None:
            fd = os.open(self.rejected_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, lines)
                os.fdatasync(fd)
            finally:
                os.close(fd)
        await self._in_journal_thread(append)

    def _committed(self, chunk: dict[str, tuple[dict[str, Any], int]]) -> None:
        for call_id, (_, asked) in chunk.items():
            current = self._uncommitted.get(call_id)
            if current is not None and current[1] == asked:
                del self._uncommitted[call_id]
            if (state := self._calls.get(call_id)) is not None:
                state.committed = max(state.committed, asked)
                self._settle(call_id, state)

    async def _tidy_journal(self) -> None:
        """Empty the journal once everything in it is committed; rewrite it with only the
        pending writes when it has grown large."""
        async with self._journal_lock:
            try:
                if not self._uncommitted:
                    if self.journal.size:
                        await self._in_journal_thread(self.journal.truncate)
                elif self.journal.size > COMPACT_BYTES:
                    await self._in_journal_thread(
                        self.journal.rewrite,
                        [(call_id, fields) for call_id, (fields, _) in self._uncommitted.items()])
            except OSError:
                log.exception("call-record journal: could not shorten it (it only grows)")
