"""The store's connection: one async engine and its session factory, for SQLite or PostgreSQL.

Nothing connects at import or construction; the first session does. SQLite gets a busy
timeout and WAL so that several writers (two agents claiming one callback) wait for each
other instead of failing with "database is locked".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from signaling.store.migrate import upgrade

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


class Database:
    """An async engine plus sessions; ``dispose()`` must be awaited to close its connections."""

    def __init__(self, url: str | URL, *, pool_size: int | None = None) -> None:
        """``pool_size``: a pool of exactly that many connections (no overflow), for a user
        of its own such as the call-record writer; else SQLAlchemy's default pool."""
        self.url = make_url(url)
        options: dict[str, Any] = {}
        if pool_size is not None:
            options.update(pool_size=pool_size, max_overflow=0)
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
        """Bring the schema to this code's with the Alembic migrations
        (:func:`signaling.store.migrate.upgrade`): a fresh database gets every table, an
        older one is upgraded with its rows kept. Returns the revisions applied.

        All of it is one transaction, so a migration that fails leaves the database as it
        was: PostgreSQL has transactional DDL, and SQLite gets it here by an explicit
        ``BEGIN IMMEDIATE`` (which also makes a second starting server wait its turn).
        """
        async with self.engine.connect() as connection:
            if not _is_sqlite(self.url):
                async with connection.begin():
                    return await connection.run_sync(upgrade)
            manual = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await manual.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                applied = await manual.run_sync(upgrade)
            except BaseException:
                await manual.exec_driver_sql("ROLLBACK")
                raise
            await manual.exec_driver_sql("COMMIT")
            return applied

    def session(self) -> AsyncSession:
        """A new session, to be used as ``async with db.session() as session``."""
        return self._sessions()

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
