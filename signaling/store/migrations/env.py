"""Alembic's environment: migrate the connection that ``signaling.store.migrate`` hands over
in ``config.attributes["connection"]``, or, from the ``alembic`` command line (configured by
``[tool.alembic]`` in pyproject.toml), the database of the server's settings."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection

from signaling.store.models import Base


def run_on(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata)
    with context.begin_transaction():
        context.run_migrations()


async def run_from_settings() -> None:
    from signaling.settings import Settings
    from signaling.store.database import Database

    database = Database(Settings.model_validate({}).resolved_database_url())
    try:
        async with database.engine.begin() as connection:
            await connection.run_sync(run_on)
    finally:
        await database.dispose()


given = context.config.attributes.get("connection")
if isinstance(given, Connection):
    run_on(given)
elif context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; migrate a live database")
else:
    asyncio.run(run_from_settings())
