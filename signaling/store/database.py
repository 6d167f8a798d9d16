"""The store's connection: one async engine and its session factory, for SQLite or PostgreSQL.

Nothing connects at import or construction; the first session does. SQLite gets a busy
timeout and WAL so that several writers (two agents claiming one callback) wait for each
other instead of failing with "database is locked".
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Connection, Index, MetaData, Table, event, inspect, literal
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.schema import CreateColumn

from signaling.store.models import Base

log = logging.getLogger(__name__)

#: seconds a SQLite connection waits for another writer's lock
SQLITE_BUSY_TIMEOUT = 30


def _is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"


def _sqlite_file(url: URL) -> Path | None:
    """The database file of a SQLite URL, or ``None`` for an in-memory database."""
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def _enable_wal(dbapi_connection: Any, _connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
    finally:
        cursor.close()


class StoreUpgradeError(RuntimeError):
    """An existing table lacks a column that cannot be added in place; nothing was changed."""


def _added_column_ddl(column: Column[Any], connection: Connection) -> str | None:
    """The ``ADD COLUMN`` clause for ``column``, or ``None`` if existing rows would get no
    value for it (NOT NULL without a default, or part of the primary key)."""
    spec = str(CreateColumn(column).compile(dialect=connection.dialect))
    if column.primary_key:
        return None
    if column.nullable or column.server_default is not None:
        return spec
    default = column.default
    if default is not None and default.is_scalar:
        value = literal(default.arg, column.type).compile(  # type: ignore[attr-defined]
            dialect=connection.dialect, compile_kwargs={"literal_binds": True})
        return f"{spec} DEFAULT {value}"
    return None


def upgrade_tables(connection: Connection, metadata: MetaData) -> list[str]:
    """Add to existing tables the columns of ``metadata`` they lack, with their indexes.

    The whole of the store's migrations: columns are only ever added, and only nullable or
    defaulted ones, with ``ALTER TABLE … ADD COLUMN`` (SQLite and PostgreSQL alike).
    Returns ``table.column`` for each column added; raises :class:`StoreUpgradeError`
    before changing anything if a missing column cannot be added.
    """
    inspector = inspect(connection)
    existing = set(inspector.get_table_names())
    plan: list[tuple[Table, Column[Any], str]] = []
    impossible: list[str] = []
    for table in metadata.sorted_tables:
        if table.name not in existing:
            continue
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            ddl = _added_column_ddl(column, connection)
            if ddl is None:
                impossible.append(f"{table.name}.{column.name}")
            else:
                plan.append((table, column, ddl))
    if impossible:
        raise StoreUpgradeError(
            "cannot add column(s) " + ", ".join(impossible) + " to existing rows: they are "
            "NOT NULL without a default. Give them a server default or migrate by hand.")
    preparer = connection.dialect.identifier_preparer
    added: list[str] = []
    for table, column, ddl in plan:
        connection.exec_driver_sql(f"ALTER TABLE {preparer.format_table(table)} ADD COLUMN {ddl}")
        added.append(f"{table.name}.{column.name}")
        log.info("store upgrade: added column %s.%s", table.name, column.name)
    for table in {table for table, _, _ in plan}:
        new_columns = {column.name for t, column, _ in plan if t is table}
        indexes = {index["name"] for index in inspector.get_indexes(table.name)}
        wanted = [index for index in table.indexes
                  if index.name not in indexes and new_columns & set(index.columns.keys())]
        wanted += [Index(f"uq_{table.name}_{column.name}", column, unique=True)
                   for t, column, _ in plan if t is table and column.unique]
        for index in wanted:
            index.create(connection)
            log.info("store upgrade: created index %s", index.name)
    return added


class Database:
    """An async engine plus sessions; ``dispose()`` must be awaited to close its connections."""

    def __init__(self, url: str) -> None:
        self.url = make_url(url)
        options: dict[str, Any] = {}
        if _is_sqlite(self.url):
            path = _sqlite_file(self.url)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            options["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT}
        self.engine: AsyncEngine = create_async_engine(self.url, **options)
        if _is_sqlite(self.url):
            event.listen(self.engine.sync_engine, "connect", _enable_wal)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    async def create_all(self) -> list[str]:
        """Create missing tables, and add missing nullable or defaulted columns to existing
        ones (:func:`upgrade_tables`); returns the columns added."""
        async with self.engine.begin() as connection:
            added = await connection.run_sync(upgrade_tables, Base.metadata)
            await connection.run_sync(Base.metadata.create_all)
        return added

    def session(self) -> AsyncSession:
        """A new session, to be used as ``async with db.session() as session``."""
        return self._sessions()

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
