"""Materials, submissions, session drafts and catalog files against both real backends."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from signaling.store import (
    CatalogFileRepository,
    Database,
    DraftRepository,
    MaterialRepository,
    SubmissionRepository,
)
from tests.store.databases import BACKENDS, new_database


@pytest.fixture(params=BACKENDS)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    async with new_database(request.param, tmp_path) as database:
        await database.create_all()
        yield database


async def add_snapshot(materials: MaterialRepository, material_id: str, call_id: str,
                       at: float) -> None:
    await materials.add(id=material_id, call_id=call_id, kind="id-card",
                        content_type="image/jpeg", size=1234, sha256="ab" * 32,
                        source="snapshot", by="agent", at=at)


async def test_materials_of_a_call_in_the_order_collected(db: Database) -> None:
    materials = MaterialRepository(db)
    await add_snapshot(materials, "m-0000000000000002", "c1", at=20.0)
    await add_snapshot(materials, "m-0000000000000001", "c1", at=10.0)
    await add_snapshot(materials, "m-0000000000000003", "c2", at=5.0)

    assert [m.id for m in await materials.list_for_call("c1")] == [
        "m-0000000000000001", "m-0000000000000002"]
    found = await materials.get("m-0000000000000003")
    assert found is not None
    assert (found.call_id, found.by_role, found.created_at, found.source) == (
        "c2", "agent", 5.0, "snapshot")
    assert await materials.get("m-ffffffffffffffff") is None
    with pytest.raises(IntegrityError):
        await add_snapshot(materials, "m-0000000000000003", "c2", at=6.0)


async def test_a_submission_keeps_values_materials_and_who_filled_what(db: Database) -> None:
    submissions = SubmissionRepository(db)
    await submissions.add(
        id="s-01", call_id="c1", form_id="f1", matter="water-transfer",
        form_version="water.toml@3",
        values={"name": "张三", "account_no": "12345678", "agree": True, "rooms": 3},
        materials=["m-0000000000000001"], filled_by={"name": "prefill", "account_no": "caller"},
        signature="m-0000000000000002", submitted_at=50.0, submitted_by="caller")
    await submissions.add(
        id="s-02", call_id="c1", form_id="f2", matter="power-rename", form_version="power.toml@1",
        values={}, materials=[], filled_by={}, signature=None, submitted_at=40.0,
        submitted_by="demo-agent-1")

    assert [s.id for s in await submissions.list_for_call("c1")] == ["s-02", "s-01"]
    assert await submissions.list_for_call("c2") == []
    stored = await submissions.get("s-01")
    assert stored is not None
    assert stored.values == {"name": "张三", "account_no": "12345678", "agree": True, "rooms": 3}
    assert (stored.materials, stored.filled_by["account_no"], stored.signature) == (
        ["m-0000000000000001"], "caller", "m-0000000000000002")


async def test_a_draft_never_goes_back_to_an_older_revision(db: Database) -> None:
    drafts = DraftRepository(db)
    assert await drafts.save("c1", {"revision": 2, "forms": []}, 2, now=1.0)
    assert not await drafts.save("c1", {"revision": 1}, 1, now=2.0)
    assert not await drafts.save("c1", {"revision": 2, "late": True}, 2, now=3.0)
    draft = await drafts.get("c1")
    assert draft is not None
    assert (draft.revision, draft.document, draft.updated_at) == (
        2, {"revision": 2, "forms": []}, 1.0)

    assert await drafts.save("c1", {"revision": 3}, 3, now=4.0)
    assert await drafts.delete("c1")
    assert await drafts.get("c1") is None
    assert not await drafts.delete("c1")


async def test_racing_draft_saves_end_with_the_newest(db: Database) -> None:
    drafts = DraftRepository(db)
    revisions = list(range(1, 21))
    random.Random(7).shuffle(revisions)

    await asyncio.gather(*(drafts.save("c1", {"revision": r}, r, now=float(r))
                           for r in revisions))

    draft = await drafts.get("c1")
    assert draft is not None and (draft.revision, draft.document) == (20, {"revision": 20})


async def test_catalog_files_are_replaced_as_a_whole(db: Database) -> None:
    files = CatalogFileRepository(db)
    assert await files.all() == {}
    water = 'version = 3\n[category]\ncode = "water"\n'
    gas = 'version = 1\n[category]\ncode = "gas"\n'
    await files.replace_all({"water.toml": water, "gas.toml": gas}, now=1.0)
    assert await files.all() == {"gas.toml": gas, "water.toml": water}
    assert await files.versions() == {"gas.toml": 1, "water.toml": 3}

    materials = '[[materials]]\ncode = "id-card"\n'
    await files.replace_all({"water.toml": water, "materials.toml": materials}, now=2.0)
    assert await files.all() == {"materials.toml": materials, "water.toml": water}

    with pytest.raises(ValueError, match="tv.toml"):
        await files.replace_all({"gas.toml": gas, "tv.toml": "version = "}, now=3.0)
    assert set(await files.all()) == {"materials.toml", "water.toml"}  # nothing changed
