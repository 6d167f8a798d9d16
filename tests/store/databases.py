"""Throwaway databases for the store's tests, and the schema of the first release.

Each database is new: a SQLite file in a temp dir, or a PostgreSQL database of its own on
127.0.0.1:5432, created with ``CREATE DATABASE`` on the ``postgres`` database and dropped
afterwards. Without the PostgreSQL server its cases skip, or fail under ``CI=true``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import inspect, text

from signaling.store import Database

PG_SERVER = "postgres@127.0.0.1:5432"

#: the two real backends, as ``params`` of a fixture
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


async def _pg_admin(statement: str) -> None:
    connection = await asyncpg.connect(f"postgresql://{PG_SERVER}/postgres", timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@asynccontextmanager
async def new_database(backend: str, tmp_path: Path) -> AsyncIterator[Database]:
    """An empty database (no tables) of ``backend``, disposed (and dropped) afterwards."""
    if backend == "sqlite":
        database = Database(f"sqlite+aiosqlite:///{tmp_path / 'store.sqlite3'}")
        try:
            yield database
        finally:
            await database.dispose()
        return
    name = f"cloud_agent_migrate_{os.getpid()}_{secrets.token_hex(4)}"
    try:
        await _pg_admin(f'CREATE DATABASE "{name}"')
    except (OSError, asyncpg.PostgresError, TimeoutError):
        message = f"PostgreSQL is not reachable at {PG_SERVER}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    database = Database(f"postgresql+asyncpg://{PG_SERVER}/{name}")
    try:
        yield database
    finally:
        await database.dispose()
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


#: the tables of the first release (96b9ccd) exactly as its ``create_all`` made them;
#: ``{serial}`` is ``INTEGER`` on SQLite and ``SERIAL`` on PostgreSQL
FIRST_RELEASE = [
    """CREATE TABLE accounts (
        id VARCHAR NOT NULL, username VARCHAR NOT NULL, display_name VARCHAR NOT NULL,
        password_hash VARCHAR NOT NULL, role VARCHAR NOT NULL, partition VARCHAR NOT NULL,
        skills JSON NOT NULL, auto_answer BOOLEAN NOT NULL, created_at FLOAT NOT NULL,
        PRIMARY KEY (id))""",
    "CREATE UNIQUE INDEX ix_accounts_username ON accounts (username)",
    """CREATE TABLE audit (
        id {serial} NOT NULL, at FLOAT NOT NULL, actor VARCHAR NOT NULL,
        action VARCHAR NOT NULL, detail JSON NOT NULL, PRIMARY KEY (id))""",
    """CREATE TABLE callbacks (
        id VARCHAR NOT NULL, call_id VARCHAR NOT NULL, skill VARCHAR NOT NULL,
        partition VARCHAR NOT NULL, phone VARCHAR NOT NULL, caller_label VARCHAR NOT NULL,
        created_at FLOAT NOT NULL, status VARCHAR NOT NULL, claimed_by VARCHAR,
        claimed_at FLOAT, done_at FLOAT, PRIMARY KEY (id))""",
    "CREATE INDEX ix_callbacks_partition ON callbacks (partition)",
    """CREATE TABLE calls (
        id VARCHAR NOT NULL, skill VARCHAR NOT NULL, origin VARCHAR NOT NULL,
        caller_label VARCHAR NOT NULL, partition VARCHAR NOT NULL, kiosk_id VARCHAR,
        agent_id VARCHAR, enqueued_at FLOAT NOT NULL, answered_at FLOAT, ended_at FLOAT,
        end_reason VARCHAR, wait_s FLOAT, talk_s FLOAT, rating INTEGER, outcome VARCHAR,
        notes TEXT, PRIMARY KEY (id))""",
    "CREATE INDEX ix_calls_kiosk_id ON calls (kiosk_id)",
    "CREATE INDEX ix_calls_agent_id ON calls (agent_id)",
    """CREATE TABLE kiosks (
        id VARCHAR NOT NULL, name VARCHAR NOT NULL, town VARCHAR NOT NULL,
        partition VARCHAR NOT NULL, token_hash VARCHAR NOT NULL, created_at FLOAT NOT NULL,
        PRIMARY KEY (id), UNIQUE (token_hash))""",
    """CREATE TABLE skills (
        code VARCHAR NOT NULL, name_zh VARCHAR NOT NULL, name_en VARCHAR NOT NULL,
        icon VARCHAR NOT NULL, sort_order INTEGER NOT NULL, PRIMARY KEY (code))""",
]


async def make_first_release(db: Database) -> None:
    """Give ``db`` the first release's tables (no ``alembic_version``)."""
    serial = "SERIAL" if db.engine.dialect.name == "postgresql" else "INTEGER"
    async with db.engine.begin() as connection:
        for statement in FIRST_RELEASE:
            await connection.execute(text(statement.format(serial=serial)))


async def columns(db: Database, table: str) -> set[str]:
    async with db.engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: {c["name"] for c in inspect(sync).get_columns(table)})


async def tables(db: Database) -> set[str]:
    async with db.engine.connect() as connection:
        return await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
