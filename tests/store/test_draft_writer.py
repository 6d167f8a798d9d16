"""The session-draft writer on both real backends: many sessions' saves are coalesced per
call (the latest document wins) and written in a few batched transactions on the writer's
own connection; a stored newer revision is never undone by a late older one; saves made
while the database is away wait in the backlog (which load shedding reads) and land later.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from signaling.store import Database
from signaling.store.draft_writer import DraftWriter
from signaling.store.matter_repositories import DraftRepository
from tests.store.databases import BACKENDS, new_database
from tests.store.test_record_writer import Outage


@pytest.fixture(params=BACKENDS)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    async with new_database(request.param, tmp_path) as database:
        await database.create_all()
        yield database


async def test_many_sessions_drafts_are_coalesced_and_written_in_batches(
        db: Database) -> None:
    writer = DraftWriter(db.url, max_batch=50)
    writer.start()
    try:
        sessions = [f"c{n:03d}" for n in range(120)]
        for revision in range(1, 6):  # five rounds of typing in every session
            for call_id in sessions:
                writer.save(call_id, {"call_id": call_id, "typed": "x" * revision},
                            revision, now=float(revision))
        writer.save("c000", {"call_id": "c000", "typed": "late"}, 2, now=9.0)  # older
        assert writer.backlog() == 120  # one pending save per call, not 601
        await writer.flush()
        assert writer.backlog() == 0
        # 120 calls, at most 50 a transaction: 3 batches, each draft written once.
        assert (writer.batches, writer.rows) == (3, 120)
        assert writer.database.engine.pool.size() == 1  # type: ignore[attr-defined]
        drafts = DraftRepository(db)
        for call_id in (sessions[0], sessions[77], sessions[-1]):
            draft = await drafts.get(call_id)
            assert draft is not None
            assert (draft.revision, draft.document) == (5, {"call_id": call_id,
                                                           "typed": "xxxxx"})
    finally:
        await writer.stop()


async def test_a_stored_newer_revision_is_not_undone(db: Database) -> None:
    drafts = DraftRepository(db)
    assert await drafts.save("c1", {"revision": 7}, 7, now=1.0)
    writer = DraftWriter(db.url)
    writer.start()
    try:
        writer.save("c1", {"revision": 3}, 3, now=2.0)
        writer.save("c2", {"revision": 1}, 1, now=2.0)
        await writer.flush()
        kept, new = await drafts.get("c1"), await drafts.get("c2")
        assert kept is not None and (kept.revision, kept.document) == (7, {"revision": 7})
        assert new is not None and new.document == {"revision": 1}
        writer.save("c1", {"revision": 8}, 8, now=3.0)
    finally:
        await writer.stop()  # writes what is pending first
    later = await drafts.get("c1")
    assert later is not None and later.revision == 8


async def test_drafts_saved_while_the_database_is_away_land_later(db: Database) -> None:
    writer = DraftWriter(db.url)
    writer.start()
    try:
        writer.save("before", {"n": 0}, 1, now=1.0)
        await writer.flush()  # the writer's connection is open and in use
        await db.dispose()
        outage = Outage(db)
        await outage.begin()
        try:
            for revision in (1, 2, 3):
                for n in range(30):
                    writer.save(f"away-{n}", {"n": n, "rev": revision}, revision, now=2.0)
            await asyncio.sleep(0.5)
            assert writer.backlog() == 30  # load shedding sees them waiting
        finally:
            await outage.end()
        await asyncio.wait_for(writer.flush(), 60)
        assert writer.backlog() == 0
        drafts = DraftRepository(db)
        for n in (0, 29):
            draft = await drafts.get(f"away-{n}")
            assert draft is not None and draft.document == {"n": n, "rev": 3}
    finally:
        await writer.stop()
