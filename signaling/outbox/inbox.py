"""Departments' decision callbacks already acted on, by (department, event id), so that a
redelivered callback has no second effect."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from signaling.store.database import Database
from signaling.store.models import WebhookInboxEntry


class WebhookInbox:
    """The ``webhook_inbox`` table."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def seen(self, department: str, event_id: str) -> WebhookInboxEntry | None:
        """The record of this event, if it was acted on."""
        async with self._db.session() as session:
            return await session.get(WebhookInboxEntry, (department, event_id))

    async def record(self, department: str, event_id: str, task_id: str, now: float) -> bool:
        """Remember an event acted on; ``False`` if it was already."""
        async with self._db.session() as session:
            try:
                async with session.begin():
                    session.add(WebhookInboxEntry(department=department, event_id=event_id,
                                                  task_id=task_id, received_at=now))
            except IntegrityError:
                return False
        return True
