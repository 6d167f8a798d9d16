"""The record store against both real backends: SQLite in a temp dir and PostgreSQL.

PostgreSQL is the server on 127.0.0.1:5432; one throwaway database is created for the test
session and dropped afterwards. Without the server the PostgreSQL cases skip, or fail in CI.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import select

from signaling.demo import DEMO_SKILLS, ensure_admin, seed_demo
from signaling.store import (
    AccountExists,
    AccountRepository,
    AuditRepository,
    CallbackRepository,
    CallRepository,
    CatalogRepository,
    Database,
    KioskRepository,
)
from signaling.store.models import Account, Base, Kiosk

PG_SERVER = "postgres@127.0.0.1:5432"


async def _admin(statement: str) -> None:
    connection = await asyncpg.connect(f"postgresql://{PG_SERVER}/postgres", timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str | None]:
    """Name of a fresh PostgreSQL database for this session, or ``None`` if unreachable."""
    name = f"cloud_agent_test_{os.getpid()}_{secrets.token_hex(4)}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError, TimeoutError):
        yield None
        return
    yield name
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
async def db(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_database: str | None
) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'data' / 'store.sqlite3'}"
    else:
        if postgres_database is None:
            message = f"PostgreSQL is not reachable at {PG_SERVER}"
            if os.environ.get("CI") == "true":
                pytest.fail(message)
            pytest.skip(message)
        url = f"postgresql+asyncpg://{PG_SERVER}/{postgres_database}"
    database = Database(url)
    try:
        await database.create_all()
        yield database
    finally:
        if request.param == "postgresql":
            async with database.engine.begin() as connection:
                await connection.run_sync(Base.metadata.drop_all)
                await connection.exec_driver_sql("DROP TABLE alembic_version")
        await database.dispose()


async def test_sqlite_file_and_its_directory_are_created(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "store.sqlite3"
    database = Database(f"sqlite+aiosqlite:///{path}")
    try:
        await database.create_all()
        async with database.engine.connect() as connection:
            mode = (await connection.exec_driver_sql("PRAGMA journal_mode")).scalar()
    finally:
        await database.dispose()
    assert path.exists()
    assert mode == "wal"


async def test_login_needs_the_right_password(db: Database) -> None:
    accounts = AccountRepository(db)
    created = await accounts.create("alice", "correct horse", display_name="Alice")

    account = await accounts.authenticate("alice", "correct horse")
    assert account is not None
    assert account.id == created.id
    assert account.role == "agent"
    assert await accounts.authenticate("alice", "wrong") is None
    assert await accounts.authenticate("nobody", "correct horse") is None


async def test_password_is_not_stored_in_clear(db: Database) -> None:
    await AccountRepository(db).create("alice", "correct horse")
    async with db.session() as session:
        stored = await session.scalar(select(Account.password_hash))
    assert stored is not None
    assert "correct horse" not in stored
    assert stored.startswith("$argon2id$")


async def test_duplicate_username_is_rejected(db: Database) -> None:
    accounts = AccountRepository(db)
    await accounts.create("alice", "one")
    with pytest.raises(AccountExists):
        await accounts.create("alice", "two", role="supervisor")
    assert await accounts.count() == 1
    assert await accounts.authenticate("alice", "one") is not None


async def test_accounts_listed_by_role_and_auto_answer_saved(db: Database) -> None:
    accounts = AccountRepository(db)
    agent = await accounts.create("alice", "pw", skills={"water": 1})
    await accounts.create("bob", "pw", role="supervisor")

    assert [a.username for a in await accounts.list(role="supervisor")] == ["bob"]
    assert [a.username for a in await accounts.list()] == ["alice", "bob"]
    assert await accounts.set_auto_answer(agent.id, True)
    stored = await accounts.get(agent.id)
    assert stored is not None and stored.auto_answer and stored.skills == {"water": 1}
    assert not await accounts.set_auto_answer("agent-missing", True)


async def test_kiosk_found_by_token_which_is_not_stored(db: Database) -> None:
    kiosks = KioskRepository(db)
    created = await kiosks.create("s3cret-device-token", name="K1", town="武原街道")

    found = await kiosks.find_by_token("s3cret-device-token")
    assert found is not None and found.id == created.id and found.town == "武原街道"
    assert await kiosks.find_by_token("other-token") is None
    async with db.session() as session:
        row = (await session.execute(select(Kiosk.__table__))).one()
    assert all("s3cret-device-token" not in str(value) for value in row)


async def test_catalog_upsert_updates_and_orders(db: Database) -> None:
    catalog = CatalogRepository(db)
    await catalog.upsert_skills(
        [
            {"code": "gas", "name_zh": "燃气", "name_en": "Gas", "icon": "flame", "sort_order": 2},
            {"code": "water", "name_zh": "水", "name_en": "W", "icon": "water", "sort_order": 1},
        ]
    )
    await catalog.upsert_skills(
        [{"code": "water", "name_zh": "供水", "name_en": "Water", "icon": "water", "sort_order": 1}]
    )
    assert [s.code for s in await catalog.list_skills()] == ["water", "gas"]
    water = await catalog.get("water")
    assert water is not None and water.name_zh == "供水"


async def test_two_agents_claiming_one_callback_yield_one_winner(db: Database) -> None:
    callbacks = CallbackRepository(db)
    callback = await callbacks.create(
        call_id="c1", skill="water", partition="default", phone="13800000000",
        caller_label="武原街道", now=100.0,
    )
    agents = [f"agent-{n}" for n in range(4)]

    results = await asyncio.gather(
        *(callbacks.claim(callback.id, agent, now=110.0) for agent in agents)
    )

    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert winners[0].status == "claimed" and winners[0].claimed_by in agents
    assert await callbacks.list_pending("default") == []


async def test_callback_completed_only_by_its_claimer(db: Database) -> None:
    callbacks = CallbackRepository(db)
    older = await callbacks.create(
        call_id="c1", skill="water", partition="default", phone="1", caller_label="A", now=1.0
    )
    newer = await callbacks.create(
        call_id="c2", skill="gas", partition="default", phone="2", caller_label="B", now=2.0
    )
    assert [c.id for c in await callbacks.list_pending("default")] == [older.id, newer.id]
    assert await callbacks.list_pending("elsewhere") == []

    assert not await callbacks.complete(older.id, "agent-a", now=3.0)  # not claimed yet
    assert await callbacks.claim(older.id, "agent-a", now=4.0) is not None
    assert not await callbacks.complete(older.id, "agent-b", now=5.0)
    assert await callbacks.complete(older.id, "agent-a", now=6.0)
    assert not await callbacks.complete(older.id, "agent-a", now=7.0)
    assert [c.id for c in await callbacks.list_pending("default")] == [newer.id]


async def _ended_call(calls: CallRepository, call_id: str, agent_id: str, at: float) -> None:
    await calls.record(
        id=call_id, skill="water", origin="kiosk", caller_label="武原街道", partition="default",
        kiosk_id="kiosk-1", agent_id=agent_id, enqueued_at=at, answered_at=at + 3,
        ended_at=at + 63, end_reason="hangup", wait_s=3.0, talk_s=60.0,
    )


async def test_call_record_merges_and_wrap_up_only_by_its_agent(db: Database) -> None:
    calls = CallRepository(db)
    await calls.record(
        id="c1", skill="water", origin="kiosk", caller_label="武原街道", enqueued_at=10.0
    )
    await _ended_call(calls, "c1", "agent-a", 10.0)

    assert not await calls.set_wrap_up("c1", agent_id="agent-b", outcome="x", notes="x")
    assert await calls.set_wrap_up("c1", agent_id="agent-a", outcome="solved", notes="换表")
    assert not await calls.set_wrap_up("missing", agent_id="agent-a", outcome="x", notes=None)
    record = await calls.get("c1")
    assert record is not None
    assert (record.outcome, record.notes, record.talk_s) == ("solved", "换表", 60.0)

    await calls.record(id="c1", end_reason="transfer")
    record = await calls.get("c1")
    assert record is not None and record.end_reason == "transfer" and record.outcome == "solved"


async def test_rating_must_be_one_to_five(db: Database) -> None:
    calls = CallRepository(db)
    await _ended_call(calls, "c1", "agent-a", 10.0)
    for bad in (0, 6, -1, True):
        with pytest.raises(ValueError):
            await calls.set_rating("c1", bad)
    assert await calls.set_rating("c1", 5)
    record = await calls.get("c1")
    assert record is not None and record.rating == 5


async def test_recent_calls_of_an_agent_newest_first(db: Database) -> None:
    calls = CallRepository(db)
    for n in range(5):
        await _ended_call(calls, f"c{n}", "agent-a", float(n * 100))
    await _ended_call(calls, "other", "agent-b", 1000.0)

    recent = await calls.recent_for_agent("agent-a", limit=3)
    assert [c.id for c in recent] == ["c4", "c3", "c2"]


async def test_audit_trail_newest_first(db: Database) -> None:
    audit = AuditRepository(db)
    await audit.append("admin", "account.create", {"username": "alice"}, now=1.0)
    await audit.append("admin", "kiosk.create", {"id": "k1", "town": "武原"}, now=2.0)
    entries = await audit.recent(10)
    assert [(e.action, e.detail) for e in entries] == [
        ("kiosk.create", {"id": "k1", "town": "武原"}),
        ("account.create", {"username": "alice"}),
    ]


async def test_seed_demo_is_idempotent(db: Database) -> None:
    await seed_demo(db)
    await seed_demo(db)

    accounts = AccountRepository(db)
    agents = await accounts.list(role="agent")
    assert [a.username for a in agents] == [f"demo-agent-{n}" for n in range(1, 6)]
    every_skill = {s["code"] for s in DEMO_SKILLS}
    assert agents[0].skills == dict.fromkeys(every_skill, 1)
    assert set().union(*(a.skills for a in agents[1:])) == every_skill
    assert len(await accounts.list(role="supervisor")) == 1
    assert await accounts.authenticate("demo-agent-3", "demo") is not None
    assert await accounts.authenticate("demo-supervisor", "demo") is not None
    kiosk = await KioskRepository(db).find_by_token("demo-kiosk")
    assert kiosk is not None and kiosk.town == "海盐县武原街道"
    assert len(await CatalogRepository(db).list_skills()) == len(DEMO_SKILLS)


async def test_ensure_admin_creates_one_admin_once(db: Database) -> None:
    password = await ensure_admin(db)
    assert password is not None
    assert await ensure_admin(db) is None

    accounts = AccountRepository(db)
    admin = await accounts.authenticate("admin", password)
    assert admin is not None and admin.role == "admin"
    assert len(await accounts.list(role="admin")) == 1
    assert len(await CatalogRepository(db).list_skills()) == len(DEMO_SKILLS)
