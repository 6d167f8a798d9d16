"""Repositories of the matters handled in calls: materials, submissions, session drafts and
the imported catalog files. Same rules as ``repositories``: a short transaction per call,
and what must hold under concurrency is one statement (a draft never goes back in time).
"""

from __future__ import annotations

import builtins
import tomllib
from collections.abc import Mapping
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from signaling.store.database import Database
from signaling.store.models import CatalogFile, Material, SessionDraft, Submission


class MaterialRepository:
    """What each collected material is; its bytes are in ``files.MaterialStore``."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, *, id: str, call_id: str, kind: str, content_type: str, size: int,
                  sha256: str, source: str, by: str, at: float, pages: int = 1) -> Material:
        """Store a material; the keywords are those of the session document's entry
        (``by`` the party's role, ``at`` when it was collected)."""
        material = Material(id=id, call_id=call_id, kind=kind, content_type=content_type,
                            size=size, sha256=sha256, source=source, by_role=by,
                            created_at=at, pages=pages)
        async with self._db.session() as session, session.begin():
            session.add(material)
        return material

    async def get(self, material_id: str) -> Material | None:
        async with self._db.session() as session:
            return await session.get(Material, material_id)

    async def list_for_call(self, call_id: str) -> list[Material]:
        """The call's materials in the order they were collected."""
        query = (select(Material).where(Material.call_id == call_id)
                 .order_by(Material.created_at, Material.id))
        async with self._db.session() as session:
            return builtins.list(await session.scalars(query))


class SubmissionRepository:
    """Submitted forms; written once, never changed."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, *, id: str, call_id: str, form_id: str, matter: str,
                  form_version: str, values: Mapping[str, Any], materials: list[str],
                  filled_by: Mapping[str, str], signature: str | None, submitted_at: float,
                  submitted_by: str) -> Submission:
        submission = Submission(
            id=id, call_id=call_id, form_id=form_id, matter=matter, form_version=form_version,
            values=dict(values), materials=builtins.list(materials),
            filled_by=dict(filled_by), signature=signature, submitted_at=submitted_at,
            submitted_by=submitted_by)
        async with self._db.session() as session, session.begin():
            session.add(submission)
        return submission

    async def get(self, submission_id: str) -> Submission | None:
        async with self._db.session() as session:
            return await session.get(Submission, submission_id)

    async def list_for_call(self, call_id: str) -> list[Submission]:
        """The call's submissions, oldest first."""
        query = (select(Submission).where(Submission.call_id == call_id)
                 .order_by(Submission.submitted_at, Submission.id))
        async with self._db.session() as session:
            return builtins.list(await session.scalars(query))


class DraftRepository:
    """The last saved session document of each live call."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def save(self, call_id: str, document: Mapping[str, Any], revision: int,
                   now: float) -> bool:
        """Keep ``document`` unless a newer or equal revision is stored already (a slow
        save that lost a race must not undo typing); ``True`` if it was stored."""
        insert = sqlite_insert if self._db.engine.dialect.name == "sqlite" else pg_insert
        statement = insert(SessionDraft).values(
            call_id=call_id, document=dict(document), revision=revision, updated_at=now)
        statement = statement.on_conflict_do_update(
            index_elements=[SessionDraft.call_id],
            set_={"document": statement.excluded.document,
                  "revision": statement.excluded.revision,
                  "updated_at": statement.excluded.updated_at},
            where=SessionDraft.revision < statement.excluded.revision)
        async with self._db.session() as session, session.begin():
            result = await session.execute(statement)
        return bool(cast(CursorResult[Any], result).rowcount)

    async def get(self, call_id: str) -> SessionDraft | None:
        async with self._db.session() as session:
            return await session.get(SessionDraft, call_id)

    async def delete(self, call_id: str) -> bool:
        """Forget the draft of a call that is over; ``False`` if there was none."""
        async with self._db.session() as session, session.begin():
            result = await session.execute(
                delete(SessionDraft).where(SessionDraft.call_id == call_id))
        return bool(cast(CursorResult[Any], result).rowcount)


class CatalogFileRepository:
    """The catalog as imported by ``cloud-agent admin import-catalog``: one row per file."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def replace_all(self, files: Mapping[str, str], now: float) -> None:
        """Make ``files`` (name -> TOML text) the whole stored catalog, in one transaction:
        a reader sees the old catalog or the new one, never a mix. Each row keeps the
        file's top-level ``version``; raises ``ValueError`` for text that is not TOML."""
        rows = []
        for name, content in files.items():
            try:
                version = tomllib.loads(content).get("version", 0)
            except tomllib.TOMLDecodeError as error:
                raise ValueError(f"{name}: not TOML: {error}") from None
            if isinstance(version, bool) or not isinstance(version, int):
                raise ValueError(f"{name}: version must be an integer, not {version!r}")
            rows.append(CatalogFile(name=name, version=version, content=content,
                                    imported_at=now))
        async with self._db.session() as session, session.begin():
            await session.execute(delete(CatalogFile))
            session.add_all(rows)

    async def all(self) -> dict[str, str]:
        """Every stored file, name -> text; empty if no catalog was ever imported."""
        async with self._db.session() as session:
            rows = await session.scalars(select(CatalogFile).order_by(CatalogFile.name))
            return {row.name: row.content for row in rows}

    async def versions(self) -> dict[str, int]:
        """Name -> ``version`` of every stored file (for export and status)."""
        async with self._db.session() as session:
            rows = await session.scalars(select(CatalogFile).order_by(CatalogFile.name))
            return {row.name: row.version for row in rows}
