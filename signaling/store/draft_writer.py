"""Session-draft saves off the shared pool: coalesced per call, written in batches.

Every live session with changes saves its document every few seconds (``MatterSide``).
One statement per save on the pool that REST and the routing path's rare queries also use
took 13 % of the event loop at 50 calls/s and timed that pool out under load (issue 9).
The ``DraftWriter`` takes those saves instead, in the way the call-record writer
(``record_writer``) takes call records:

* ``save(call_id, document, revision, now)`` returns at once. A save asked for a call that
  has one pending replaces it (the latest document wins; an older revision never replaces
  a newer one).
* One task writes what is pending in batches (up to ``MAX_BATCH`` calls per transaction,
  one multi-row upsert), on an engine of its own with one connection, so it never waits
  for the shared pool nor makes it wait. A lone save goes at once; saves asked while a
  batch is under way make up the next one (group commit).
* A database that fails is retried with back-off (``record_writer``'s); the failed batch
  goes back under any newer saves, and ``backlog()`` grows, which load shedding reads.

There is no journal: a draft is itself the "what a crash loses" bound (docs/operations.md,
"Drafts, and what a crash loses"), and a save that has not reached the database is the
typing of the last round, which the bound already counts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL

from signaling.store.database import Database
from signaling.store.models import SessionDraft
from signaling.store.record_writer import RETRY_FIRST, RETRY_LONGEST

log = logging.getLogger(__name__)

#: most drafts written in one transaction
MAX_BATCH = 200

_table = cast(Table, SessionDraft.__table__)


class DraftWriter:
    """Batched session-draft saves on a database engine of their own (``url``)."""

    def __init__(self, url: str | URL, *, max_batch: int = MAX_BATCH) -> None:
        self.database = Database(url, pool_size=1)
        self.max_batch = max_batch
        #: transactions committed and drafts written by them (for tests and benchmarks)
        self.batches = 0
        self.rows = 0
        self._pending: dict[str, dict[str, Any]] = {}
        self._in_flight = 0
        self._oldest: float | None = None
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="draft-writer")

    async def flush(self) -> None:
        """Wait until every save asked for so far is in the database."""
        while self._pending or self._in_flight:
            self._idle.clear()
            await self._idle.wait()

    async def stop(self, timeout: float = 10.0) -> None:
        """Write what is pending (up to ``timeout``), then close the engine."""
        try:
            await asyncio.wait_for(self.flush(), timeout)
        except TimeoutError:
            log.warning("draft writer stopping with %d draft(s) not saved", self.backlog())
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self.database.dispose()

    def save(self, call_id: str, document: Mapping[str, Any], revision: int,
             now: float) -> None:
        """Ask for the call's draft to be saved; never blocks."""
        previous = self._pending.get(call_id)
        if previous is not None and previous["revision"] > revision:
            return
        if not self._pending and not self._in_flight:
            self._oldest = time.monotonic()
        self._pending[call_id] = {"call_id": call_id, "document": dict(document),
                                  "revision": revision, "updated_at": now}
        self._idle.clear()
        self._wake.set()

    def backlog(self) -> int:
        """Drafts asked for and not yet in the database (admission reads it)."""
        return len(self._pending) + self._in_flight

    @property
    def oldest_age(self) -> float:
        """Seconds the oldest unsaved draft has waited (0 when none)."""
        if self._oldest is None or not self.backlog():
            return 0.0
        return max(0.0, time.monotonic() - self._oldest)

    @property
    def database_failing(self) -> bool:
        return self._failing

    async def _loop(self) -> None:
        delay = RETRY_FIRST
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                ids = list(self._pending)[:self.max_batch]
                batch = [self._pending.pop(call_id) for call_id in ids]
                self._in_flight = len(batch)
                try:
                    await self._write(batch)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self._failing = True
                    log.warning("draft writer: saving %d draft(s) failed (%s: %s); retrying "
                                "in %.2f s", len(batch), type(exc).__name__, exc, delay)
                    for row in batch:  # back, under newer saves
                        newer = self._pending.get(row["call_id"])
                        if newer is None or newer["revision"] < row["revision"]:
                            self._pending[row["call_id"]] = row
                    self._in_flight = 0
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, RETRY_LONGEST)
                    continue
                finally:
                    self._in_flight = 0
                self._failing = False
                delay = RETRY_FIRST
                self._oldest = time.monotonic() if self._pending else None
            self._idle.set()

    async def _write(self, rows: list[dict[str, Any]]) -> None:
        """One transaction: insert each draft, or update it unless the stored one is as new
        or newer (a slow save that lost a race must not undo typing)."""
        insert = sqlite_insert if self.database.engine.dialect.name == "sqlite" else pg_insert
        statement = insert(_table)
        statement = statement.on_conflict_do_update(
            index_elements=[_table.c.call_id],
            set_={"document": statement.excluded.document,
                  "revision": statement.excluded.revision,
                  "updated_at": statement.excluded.updated_at},
            where=_table.c.revision < statement.excluded.revision)
        async with self.database.engine.begin() as connection:
            await connection.execute(statement, rows)
        self.batches += 1
        self.rows += len(rows)
