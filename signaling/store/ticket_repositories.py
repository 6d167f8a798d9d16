"""Repository of tickets (``signaling.matters.tickets``).

Same rules as ``repositories``: a short transaction per call. A ticket is read whole as the
pure :class:`signaling.matters.tickets.Ticket` and saved whole.
"""

from __future__ import annotations

import builtins
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from signaling.matters.tickets import Owner, Ticket, TicketKind, TicketState
from signaling.store.database import Database
from signaling.store.models import TicketRecord

#: states in which a ticket still needs work (listed for supervisors, counted overdue)
UNRESOLVED = (TicketState.OPEN.value, TicketState.IN_PROGRESS.value)


class TicketNumberTaken(Exception):
    """Another ticket got this number first; take the next one."""


def _ticket(row: TicketRecord) -> Ticket:
    return Ticket(number=row.number, kind=TicketKind(row.kind), subject=row.subject,
                  description=row.description, phone=row.phone,
                  owner=Owner(agent=row.owner_agent, department=row.owner_department),
                  due_at=row.due_at, created_at=row.created_at, updated_at=row.updated_at,
                  call_id=row.call_id, matter=row.matter, state=TicketState(row.state),
                  resolved_at=row.resolved_at,
                  notes=[dict(note) for note in row.notes or []])


def _fill(row: TicketRecord, ticket: Ticket) -> None:
    row.kind, row.matter, row.subject = ticket.kind.value, ticket.matter, ticket.subject
    row.description, row.phone, row.call_id = ticket.description, ticket.phone, ticket.call_id
    row.owner_agent, row.owner_department = ticket.owner.agent, ticket.owner.department
    row.state, row.due_at = ticket.state.value, ticket.due_at
    row.created_at, row.updated_at = ticket.created_at, ticket.updated_at
    row.resolved_at = ticket.resolved_at
    row.notes = builtins.list(ticket.notes)


class TicketRepository:
    """Tickets."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def last_sequence(self, day_prefix: str) -> int:
        """The highest daily sequence of the numbers starting ``<prefix>-T-<YYYYMMDD>-``."""
        query = select(func.max(TicketRecord.number)).where(
            TicketRecord.number.like(day_prefix.replace("%", "") + "%"))
        async with self._db.session() as session:
            number = await session.scalar(query)
        return int(number.rsplit("-", 1)[1]) if number else 0

    async def insert(self, ticket: Ticket) -> None:
        """Store a new ticket; :class:`TicketNumberTaken` if its number exists."""
        async with self._db.session() as session:
            try:
                async with session.begin():
                    row = TicketRecord(number=ticket.number)
                    _fill(row, ticket)
                    session.add(row)
            except IntegrityError:
                raise TicketNumberTaken(ticket.number) from None

    async def save(self, ticket: Ticket) -> None:
        """Store the ticket as it is now."""
        async with self._db.session() as session, session.begin():
            row = await session.scalar(select(TicketRecord).where(
                TicketRecord.number == ticket.number).with_for_update())
            if row is None:
                raise LookupError(f"no ticket {ticket.number}")
            _fill(row, ticket)

    async def get(self, number: str) -> Ticket | None:
        async with self._db.session() as session:
            row = await session.scalar(select(TicketRecord).where(
                TicketRecord.number == number))
            return None if row is None else _ticket(row)

    async def list(self, *, agent: str | None = None, department: str | None = None,
                   unresolved_only: bool = False, include_closed: bool = True,
                   limit: int = 200) -> builtins.list[Ticket]:
        """Tickets owned by ``agent`` or ``department`` (or all), due first."""
        query: Any = select(TicketRecord)
        if agent is not None:
            query = query.where(TicketRecord.owner_agent == agent)
        if department is not None:
            query = query.where(TicketRecord.owner_department == department)
        if unresolved_only:
            query = query.where(TicketRecord.state.in_(UNRESOLVED))
        elif not include_closed:
            query = query.where(TicketRecord.state != TicketState.CLOSED.value)
        query = query.order_by(TicketRecord.due_at, TicketRecord.id).limit(limit)
        async with self._db.session() as session:
            return [_ticket(row) for row in await session.scalars(query)]

    async def overdue_count(self, now: float) -> int:
        """Open or in-progress tickets past their due time."""
        query = (select(func.count()).select_from(TicketRecord)
                 .where(TicketRecord.state.in_(UNRESOLVED), TicketRecord.due_at < now))
        async with self._db.session() as session:
            return int(await session.scalar(query) or 0)
