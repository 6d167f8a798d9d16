"""The store across versions and crashes, on both real backends: a first-release database is
migrated to the schema the code now has, and call records move through their phases.

Each test gets a database of its own: a SQLite file in a temp dir, or a throwaway
PostgreSQL database on 127.0.0.1:5432 (the PostgreSQL cases skip without it, or fail in CI).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from signaling.store import CallRepository, Database
from signaling.store.models import Base
from tests.store.databases import make_first_release, new_database

#: rows of calls and callbacks as the first release wrote them, before phases, callback
#: outcomes and addresses existed
OLD_ROWS = [
    """INSERT INTO calls (id, skill, origin, caller_label, partition, agent_id, enqueued_at,
        answered_at, ended_at, end_reason, rating)
        VALUES ('c-old', 'water', 'kiosk', '武原街道', 'default', 'agent-a', 10, 13, 73,
                'caller_hangup', 5)""",
    """INSERT INTO callbacks (id, call_id, skill, partition, phone, caller_label, created_at,
        status) VALUES ('cb-old', 'c-x', 'gas', 'default', '13800000000', 'A', 1, 'pending')""",
]


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
async def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A database with no tables yet (nothing created)."""
    async with new_database(request.param, tmp_path) as database:
        yield database


async def _columns(db: Database, table: str) -> set[str]:
    async with db.engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: {c["name"] for c in inspect(sync).get_columns(table)})


async def test_old_tables_gain_the_new_columns_and_keep_their_rows(empty_db: Database) -> None:
    await make_first_release(empty_db)
    async with empty_db.engine.begin() as connection:
        for statement in OLD_ROWS:
            await connection.execute(text(statement))

    # every revision after the first release's baseline, in order
    versions = Path(__file__).resolve().parents[2] / "signaling/store/migrations/versions"
    later = sorted(path.name[:4] for path in versions.glob("0[0-9][0-9][0-9]_*.py"))[1:]
    assert later[:2] == ["0002", "0003"]
    assert await empty_db.create_all() == later

    for table in ("calls", "callbacks", "accounts"):
        assert await _columns(empty_db, table) == set(Base.metadata.tables[table].c.keys())
    calls = CallRepository(empty_db)
    old = await calls.get("c-old")
    assert old is not None
    # Rows from before phases were stored were written when their call ended.
    assert (old.phase, old.rating, old.end_reason) == ("ended", 5, "caller_hangup")
    assert [r.id for r in await calls.recent_for_agent("agent-a")] == ["c-old"]
    async with empty_db.engine.connect() as connection:
        status = await connection.scalar(text("SELECT status FROM callbacks"))
    assert status == "pending"
    assert await empty_db.create_all() == []  # a second start changes nothing


async def test_live_records_are_interrupted_and_only_final_ones_listed(
        empty_db: Database) -> None:
    await empty_db.create_all()
    calls = CallRepository(empty_db)
    base = {"skill": "water", "origin": "kiosk", "caller_label": "武原街道",
            "partition": "default", "enqueued_at": 10.0}
    await calls.record(id="waiting", phase="queued", **base)
    await calls.record(id="talking", phase="answered", agent_id="agent-a", answered_at=12.0,
                       **base)
    await calls.record(id="done", phase="ended", agent_id="agent-a", answered_at=11.0,
                       ended_at=50.0, end_reason="caller_hangup", **base)
    assert [r.id for r in await calls.recent_for_agent("agent-a")] == ["done"]
    last = await calls.last_for_agent("agent-a")
    assert last is not None and last.id == "done"

    assert await calls.interrupt_unfinished(now=99.0, reason="server_shutdown",
                                            call_ids=["talking"]) == 1
    assert await calls.interrupt_unfinished(now=100.0, reason="server_restart") == 1
    rows = {r: await calls.get(r) for r in ("waiting", "talking", "done")}
    assert {r: (c.phase, c.end_reason, c.ended_at) for r, c in rows.items() if c} == {
        "waiting": ("interrupted", "server_restart", 100.0),
        "talking": ("interrupted", "server_shutdown", 99.0),
        "done": ("ended", "caller_hangup", 50.0),
    }
    last = await calls.last_for_agent("agent-a")
    assert last is not None and last.id == "talking"  # the latest to be over
