"""Bring a database to the schema of this code with Alembic, on SQLite and PostgreSQL.

Runs on the caller's connection, inside its transaction (on PostgreSQL also under an
advisory lock, so two servers starting at once migrate one after the other). A database made
before Alembic came in (by the first release, or by the ``create_all`` of the weeks after)
has tables but no ``alembic_version``: it is recognised by its columns and tables, stamped
at the revision it matches, and then upgraded like any other.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect

from signaling.store.models import Base

log = logging.getLogger(__name__)

#: the folder of ``env.py`` and ``versions/``, shipped inside the package
MIGRATIONS = Path(__file__).with_name("migrations")

#: the schema of the first release
BASELINE = "0001"
#: call phases, callback outcomes and addresses, invites
CALL_PHASES = "0002"
#: materials, submissions, session drafts, catalog files
MATTERS = "0003"

FIRST_RELEASE_TABLES = frozenset({"accounts", "kiosks", "skills", "calls", "callbacks", "audit"})
#: what revision 0002 adds to existing tables
CALL_PHASES_COLUMNS = {"calls": {"phase", "offered_to", "offered_at"},
                       "callbacks": {"outcome", "notes", "address"}}
MATTERS_TABLES = frozenset({"materials", "submissions", "session_drafts", "catalog_files"})

#: key of the PostgreSQL advisory lock held while migrating ("cloudagt" in ASCII)
PG_MIGRATION_LOCK = 0x636C6F75646167


class StoreUpgradeError(RuntimeError):
    """The database cannot be brought to this code's schema; nothing was changed."""


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration without an ini file: the packaged scripts, and the connection
    that ``env.py`` is to migrate."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migration scripts"
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision stamped in ``alembic_version``, or ``None`` if there is none."""
    return MigrationContext.configure(connection).get_current_revision()


def unversioned_revision(connection: Connection) -> str | None:
    """The revision that a database without ``alembic_version`` matches, or ``None`` if it
    has none of the store's tables (a fresh database).

    Revision 0002 adds only what is missing, so a database that has only part of it (the
    old start-up added columns one by one) counts as the baseline.
    """
    inspector = inspect(connection)
    tables = set(inspector.get_table_names())
    if not tables & set(Base.metadata.tables):
        return None
    missing = sorted(FIRST_RELEASE_TABLES - tables)
    if missing:
        raise StoreUpgradeError(
            f"the database has some of the store's tables but not {', '.join(missing)}, and "
            "no alembic_version: it was not made by any release; refusing to guess")

    def has_columns(table: str, wanted: set[str]) -> bool:
        return wanted <= {column["name"] for column in inspector.get_columns(table)}

    call_phases = "invites" in tables and all(
        has_columns(table, columns) for table, columns in CALL_PHASES_COLUMNS.items())
    if not call_phases:
        return BASELINE
    if MATTERS_TABLES <= tables:
        return MATTERS
    if MATTERS_TABLES & tables:
        raise StoreUpgradeError(
            "the database has only some of " + ", ".join(sorted(MATTERS_TABLES)) +
            " and no alembic_version; refusing to guess its revision")
    return CALL_PHASES


@contextmanager
def _quiet_alembic() -> Iterator[None]:
    """Alembic logs a dozen INFO lines per run (plugins, "non-transactional DDL", which our
    explicit transaction makes untrue); ours say what happened in one."""
    alembic_log = logging.getLogger("alembic")
    level = alembic_log.level
    alembic_log.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        alembic_log.setLevel(level)


def upgrade(connection: Connection) -> list[str]:
    """Stamp an unversioned database at the revision it matches, then upgrade it to head;
    returns the revisions applied, oldest first (empty if it was at head)."""
    with _quiet_alembic():
        return _upgrade(connection)


def _upgrade(connection: Connection) -> list[str]:
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({PG_MIGRATION_LOCK})")
    config = alembic_config(connection)
    start = current_revision(connection)
    if start is None:
        start = unversioned_revision(connection)
        if start is not None:
            command.stamp(config, start)
            log.info("store: database without alembic_version matches revision %s; stamped",
                     start)
    script = ScriptDirectory.from_config(config)
    pending = [revision.revision
               for revision in script.iterate_revisions("head", start or "base")]
    pending.reverse()
    if pending:
        command.upgrade(config, "head")
        log.info("store: applied migration(s) %s", ", ".join(pending))
    return pending
