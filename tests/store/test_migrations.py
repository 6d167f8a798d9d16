"""Alembic migrations on both real backends: a fresh database, one of the first release with
its rows, one made by the pre-Alembic ``create_all``, and the models agreeing with head."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from signaling.store import (
    AccountRepository,
    AuditRepository,
    CallbackRepository,
    CallRepository,
    CatalogRepository,
    Database,
    KioskRepository,
)
from signaling.store.migrate import (
    FIRST_RELEASE_TABLES,
    StoreUpgradeError,
    current_revision,
    head_revision,
)
from signaling.store.models import Base
from tests.store.databases import BACKENDS, columns, make_first_release, new_database, tables

STORE_TABLES = set(Base.metadata.tables)
MATTERS_TABLES = {"materials", "submissions", "session_drafts", "catalog_files"}
#: every revision up to this code's head, in order (ids are zero-padded numbers)
ALL_REVISIONS = [f"{n:04d}" for n in range(1, int(head_revision()) + 1)]


@pytest.fixture(params=BACKENDS)
async def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    async with new_database(request.param, tmp_path) as database:
        yield database


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def schema_differences(db: Database) -> list[Any]:
    """What ``alembic check`` would report: the models against the database."""
    async with db.engine.connect() as connection:
        return await connection.run_sync(_differences)


async def revision(db: Database) -> str | None:
    async with db.engine.connect() as connection:
        return await connection.run_sync(current_revision)


async def test_a_fresh_database_gets_every_table_at_head(empty_db: Database) -> None:
    assert await empty_db.create_all() == ALL_REVISIONS

    assert await tables(empty_db) == STORE_TABLES | {"alembic_version"}
    assert await revision(empty_db) == head_revision() == ALL_REVISIONS[-1]
    assert await empty_db.create_all() == []  # a second start changes nothing


async def test_models_and_head_agree(empty_db: Database) -> None:
    await empty_db.create_all()

    assert await schema_differences(empty_db) == []


FIRST_RELEASE_ROWS = [
    """INSERT INTO accounts (id, username, display_name, password_hash, role, partition,
        skills, auto_answer, created_at)
        VALUES ('agent-a', 'wang', '王芳', 'x', 'agent', 'default', '{"water": 1}', false, 1)""",
    """INSERT INTO kiosks (id, name, town, partition, token_hash, created_at)
        VALUES ('kiosk-1', '武原街道便民服务中心', '武原街道', 'default',
                '5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8', 1)""",
    """INSERT INTO skills (code, name_zh, name_en, icon, sort_order)
        VALUES ('water', '供水', 'Water', 'water', 10)""",
    """INSERT INTO calls (id, skill, origin, caller_label, partition, kiosk_id, agent_id,
        enqueued_at, answered_at, ended_at, end_reason, rating)
        VALUES ('c-old', 'water', 'kiosk', '武原街道', 'default', 'kiosk-1', 'agent-a', 10, 13,
                73, 'caller_hangup', 5)""",
    """INSERT INTO callbacks (id, call_id, skill, partition, phone, caller_label, created_at,
        status) VALUES ('cb-old', 'c-x', 'water', 'default', '13800000000', 'A', 1, 'pending')""",
    """INSERT INTO audit (at, actor, action, detail)
        VALUES (2, 'admin', 'add-agent', '{"username": "wang"}')""",
]


async def test_a_first_release_database_is_upgraded_with_its_rows(empty_db: Database) -> None:
    await make_first_release(empty_db)
    async with empty_db.engine.begin() as connection:
        for statement in FIRST_RELEASE_ROWS:
            await connection.execute(text(statement))

    assert await empty_db.create_all() == ALL_REVISIONS[1:]

    assert await revision(empty_db) == ALL_REVISIONS[-1]
    assert await schema_differences(empty_db) == []
    account = await AccountRepository(empty_db).get("agent-a")
    assert account is not None and (account.display_name, account.skills) == ("王芳", {"water": 1})
    assert [skill.code for skill in await CatalogRepository(empty_db).list_skills()] == ["water"]
    kiosk = await KioskRepository(empty_db).get("kiosk-1")
    assert kiosk is not None and kiosk.town == "武原街道"
    calls = CallRepository(empty_db)
    old = await calls.get("c-old")
    # Rows from before phases were stored were written when their call ended.
    assert old is not None and (old.phase, old.rating, old.offered_to) == ("ended", 5, None)
    assert [r.id for r in await calls.recent_for_agent("agent-a")] == ["c-old"]
    assert [c.id for c in await CallbackRepository(empty_db).list_pending("default")] == [
        "cb-old"]
    audit = AuditRepository(empty_db)
    await audit.append("admin", "add-kiosk", {"id": "kiosk-2"}, now=3.0)
    assert [(e.id, e.action) for e in await audit.recent()] == [
        (2, "add-kiosk"), (1, "add-agent")]  # the ids go on where the old rows stopped


async def test_a_database_of_the_old_create_all_is_stamped_and_gets_the_new_tables(
        empty_db: Database) -> None:
    morning = [table for name, table in Base.metadata.tables.items()
               if name in FIRST_RELEASE_TABLES | {"invites"}]
    async with empty_db.engine.begin() as connection:
        await connection.run_sync(lambda sync: Base.metadata.create_all(sync, tables=morning))
        # accounts.department came with revision 0004, long after create_all went
        await connection.execute(text("ALTER TABLE accounts DROP COLUMN department"))
        await connection.execute(text(
            "INSERT INTO invites (id, token_hash, agent_id, partition, skill, label, "
            "created_at, expires_at, max_uses, uses) "
            "VALUES ('i-1', 'h', 'agent-a', 'default', 'water', '', 1, 2, 1, 0)"))

    assert await empty_db.create_all() == ALL_REVISIONS[2:]

    assert await schema_differences(empty_db) == []
    async with empty_db.engine.connect() as connection:
        assert await connection.scalar(text("SELECT id FROM invites")) == "i-1"


async def test_a_half_upgraded_database_gets_the_rest(empty_db: Database) -> None:
    # The first day of the old in-place upgrade: calls had their phase, nothing else yet.
    await make_first_release(empty_db)
    async with empty_db.engine.begin() as connection:
        await connection.execute(text(
            "ALTER TABLE calls ADD COLUMN phase VARCHAR DEFAULT 'ended' NOT NULL"))
        await connection.execute(text("CREATE INDEX ix_calls_phase ON calls (phase)"))

    assert await empty_db.create_all() == ALL_REVISIONS[1:]

    assert await schema_differences(empty_db) == []


async def test_a_database_no_release_made_is_refused_unchanged(empty_db: Database) -> None:
    async with empty_db.engine.begin() as connection:
        await connection.execute(text("CREATE TABLE calls (id VARCHAR PRIMARY KEY)"))

    with pytest.raises(StoreUpgradeError, match="accounts, audit, callbacks, kiosks, skills"):
        await empty_db.create_all()

    assert await tables(empty_db) == {"calls"}
    assert await columns(empty_db, "calls") == {"id"}


async def test_a_migration_that_fails_leaves_the_database_as_it_was(
        empty_db: Database) -> None:
    # A stray table where revision 0003 creates one: 0002 runs, then 0003 fails.
    await make_first_release(empty_db)
    async with empty_db.engine.begin() as connection:
        await connection.execute(text("CREATE TABLE materials (id VARCHAR PRIMARY KEY)"))
    before = {table: await columns(empty_db, table) for table in await tables(empty_db)}

    with pytest.raises(DBAPIError):
        await empty_db.create_all()

    assert {table: await columns(empty_db, table) for table in await tables(empty_db)} == before
