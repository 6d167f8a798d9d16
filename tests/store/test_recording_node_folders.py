"""In a cluster each node records under ``<node id>/`` and handles only its own rows: at
start it marks only its own leftovers failed, and the retention purge lists only its own
recordings (another node may not see their files, and a row must not go while its file
stays). A node id may hold ``_``, a LIKE wildcard: ``n_1`` must not take ``nx1``'s rows.
Both real backends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from signaling.store import Database, RecordingRepository
from signaling.store.recording_models import RecordingState
from tests.store.databases import BACKENDS, new_database


@pytest.fixture(params=BACKENDS)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    async with new_database(request.param, tmp_path) as database:
        await database.create_all()
        yield database


async def test_a_node_fails_and_purges_only_its_own_recordings(db: Database) -> None:
    recordings = RecordingRepository(db)
    for recording_id, path in [("r-mine", "n_1/2026-01-01/c1-r-mine.webm"),
                               ("r-other", "nx1/2026-01-01/c2-r-other.webm"),
                               ("r-alone", "2026-01-01/c3-r-alone.webm")]:
        await recordings.start(call_id=f"c-{recording_id}", agent_id="a1", path=path,
                               now=100.0, recording_id=recording_id)

    failed = await recordings.fail_unfinished(now=200.0, reason="server_restart",
                                              path_prefix="n_1/")
    assert [row.id for row in failed] == ["r-mine"]
    states = {rid: (await recordings.get(rid)).state  # type: ignore[union-attr]
              for rid in ("r-mine", "r-other", "r-alone")}
    assert states == {"r-mine": RecordingState.FAILED.value,
                      "r-other": RecordingState.RECORDING.value,
                      "r-alone": RecordingState.RECORDING.value}

    for rid in ("r-other", "r-alone"):
        await recordings.finish(rid, state=RecordingState.COMPLETE, now=300.0)
    assert [r.id for r in await recordings.older_than(1000.0, path_prefix="n_1/")] == [
        "r-mine"]
    assert [r.id for r in await recordings.older_than(1000.0, path_prefix="nx1/")] == [
        "r-other"]
    # One node alone (no prefix) handles every row, as before.
    assert {r.id for r in await recordings.older_than(1000.0)} == {
        "r-mine", "r-other", "r-alone"}
