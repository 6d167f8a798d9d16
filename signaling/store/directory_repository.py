"""What servers keep in memory from the store (``signaling.live.directory``): kiosks, the
accounts' routing profiles and the skill catalog, with the stamp that says when they changed.

Every repository write to those tables calls :func:`bump_directory` in its own transaction,
so a server that polls :meth:`DirectoryRepository.stamp` and sees a new value knows it must
reload; ``cloud-agent admin`` in another process is seen the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import CursorResult, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from signaling.store.database import Database
from signaling.store.models import Account, DirectoryStamp, Kiosk, Skill

#: the one row of ``directory_stamps``
DIRECTORY = "directory"


async def bump_directory(session: AsyncSession) -> None:
    """Count one more change, inside the caller's transaction."""
    result = await session.execute(
        update(DirectoryStamp).where(DirectoryStamp.name == DIRECTORY)
        .values(version=DirectoryStamp.version + 1)
        .execution_options(synchronize_session=False))
    if not isinstance(result, CursorResult) or not result.rowcount:
        session.add(DirectoryStamp(name=DIRECTORY, version=1))


@dataclass(frozen=True)
class DirectorySnapshot:
    """Everything the directory holds, as read at one stamp (the rows are at least as new
    as the stamp: it is read first)."""

    stamp: int
    kiosks: list[Kiosk]
    accounts: list[Account]
    skills: list[Skill]


class DirectoryRepository:
    """The stamp, cheap to poll, and the full read behind a reload."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def stamp(self) -> int:
        async with self._db.session() as session:
            value = await session.scalar(select(DirectoryStamp.version)
                                         .where(DirectoryStamp.name == DIRECTORY))
        return value or 0

    async def snapshot(self) -> DirectorySnapshot:
        async with self._db.session() as session:
            stamp = await session.scalar(select(DirectoryStamp.version)
                                         .where(DirectoryStamp.name == DIRECTORY)) or 0
            kiosks = list(await session.scalars(select(Kiosk)))
            accounts = list(await session.scalars(select(Account)))
            skills = list(await session.scalars(select(Skill).order_by(Skill.sort_order,
                                                                       Skill.code)))
        return DirectorySnapshot(stamp, kiosks, accounts, skills)
