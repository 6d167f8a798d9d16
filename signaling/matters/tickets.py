"""Tickets: what cannot be settled in the call, owned by an agent or a department.

Pure, in the style of :mod:`signaling.matters.cases`: a :class:`Ticket` is changed only by
its methods (``create``, ``move``, ``transfer``), each of which checks the move in full,
then changes the ticket and returns the **events** (frozen dataclasses) that the ticket side
stores, audits and tells a live call. An illegal move raises :class:`TicketError` and
changes nothing.

Rules:

- The 12345 hotline's four kinds plus the matter that could not be settled in the call
  (:class:`TicketKind`); the kind sets the due time (:func:`ticket_due_at`), counted in the
  departments' working time like a case task's (:func:`signaling.matters.cases.due_at`).
- A ticket moves by :data:`TICKET_TRANSITIONS`: ``open`` → ``in_progress`` → ``resolved``
  → ``closed``; ``resolved`` → ``in_progress`` (reopened). ``closed`` is final.
- An ``open`` or ``in_progress`` ticket may change owner (a transfer) and stays in its
  state; a resolved or closed ticket may not.
- Every change may carry a note; the notes are the ticket's history.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from .cases import CHINA, WORKDAY_END, WORKDAY_START, due_at

__all__ = [
    "MAX_NOTE", "TICKET_TRANSITIONS", "Owner", "Ticket", "TicketChanged", "TicketCreated",
    "TicketError", "TicketEvent", "TicketKind", "TicketState", "WORKDAY_MINUTES",
    "parse_ticket_number", "ticket_due_at", "ticket_number",
]

#: minutes of one working day (08:30–17:00 China time)
WORKDAY_MINUTES = int((WORKDAY_END - WORKDAY_START).total_seconds() // 60)
MAX_NOTE = 500
MAX_SUBJECT = 100
MAX_DESCRIPTION = 2000


class TicketError(Exception):
    """A move refused by the ticket's rules; ``code`` goes on the wire."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class TicketKind(StrEnum):
    """What the ticket is about."""

    #: 事项: a matter that could not be settled in the call
    MATTER = "matter"
    #: 投诉: a complaint
    COMPLAINT = "complaint"
    #: 咨询: an inquiry
    INQUIRY = "inquiry"
    #: 求助: a request for assistance
    ASSISTANCE = "assistance"
    #: 建议: a suggestion
    SUGGESTION = "suggestion"


class TicketState(StrEnum):
    """Life of a ticket."""

    #: created, nobody working on it yet
    OPEN = "open"
    #: its owner is working on it (also after a reopen)
    IN_PROGRESS = "in_progress"
    #: its owner says it is settled; may be reopened
    RESOLVED = "resolved"
    #: done (final)
    CLOSED = "closed"


#: the only moves: state -> states it may go to; anything else is illegal
TICKET_TRANSITIONS: Mapping[TicketState, frozenset[TicketState]] = {
    TicketState.OPEN: frozenset({TicketState.IN_PROGRESS}),
    TicketState.IN_PROGRESS: frozenset({TicketState.RESOLVED}),
    TicketState.RESOLVED: frozenset({TicketState.CLOSED, TicketState.IN_PROGRESS}),
    TicketState.CLOSED: frozenset(),
}
#: states in which the owner may change
TRANSFERABLE = frozenset({TicketState.OPEN, TicketState.IN_PROGRESS})


@dataclass(frozen=True)
class Owner:
    """Exactly one of an agent (account id) or a department (catalog code)."""

    agent: str | None = None
    department: str | None = None

    def __post_init__(self) -> None:
        if (self.agent is None) == (self.department is None):
            raise TicketError("invalid_owner", "an owner is an agent or a department")

    def as_json(self) -> dict[str, str]:
        return {"agent": self.agent} if self.agent else {"department": str(self.department)}


# ---------------------------------------------------------------- events


@dataclass(frozen=True)
class TicketCreated:
    number: str
    kind: TicketKind
    owner: Owner
    call_id: str | None
    due_at: float
    by: str
    at: float


@dataclass(frozen=True)
class TicketChanged:
    """A state change or (``owner`` set, same state) a transfer."""

    number: str
    before: TicketState
    state: TicketState
    owner: Owner
    previous_owner: Owner | None
    note: str | None
    by: str
    at: float


TicketEvent = TicketCreated | TicketChanged


# ---------------------------------------------------------------- state


def _note(note: str | None) -> str | None:
    note = (note or "").strip() or None
    if note is not None and len(note) > MAX_NOTE:
        raise TicketError("note_too_long", f"a note has at most {MAX_NOTE} characters")
    return note


@dataclass
class Ticket:
    """A ticket: its number, kind, owner, due time and history of notes."""

    number: str
    kind: TicketKind
    subject: str
    description: str
    phone: str
    owner: Owner
    due_at: float
    created_at: float
    updated_at: float
    call_id: str | None = None
    matter: str | None = None
    state: TicketState = TicketState.OPEN
    resolved_at: float | None = None
    #: ``{at, by, text, state}`` per change, oldest first
    notes: list[dict[str, Any]] = field(default_factory=list)

    def overdue(self, now: float) -> bool:
        """Not yet resolved after its due time."""
        return self.state in TRANSFERABLE and now > self.due_at

    @classmethod
    def create(cls, number: str, kind: TicketKind | str, subject: str, description: str,
               phone: str, owner: Owner, by: str, due: float, now: float, *,
               call_id: str | None = None, matter: str | None = None,
               ) -> tuple[Ticket, list[TicketEvent]]:
        """A new ``open`` ticket (``due`` from :func:`ticket_due_at`)."""
        parse_ticket_number(number)
        try:
            kind = TicketKind(kind)
        except ValueError:
            raise TicketError("invalid_kind", f"{kind!r} is not a ticket kind") from None
        subject, description = subject.strip(), description.strip()
        if not subject or len(subject) > MAX_SUBJECT:
            raise TicketError("invalid_subject", f"a subject has 1..{MAX_SUBJECT} characters")
        if len(description) > MAX_DESCRIPTION:
            raise TicketError("invalid_description",
                              f"a description has at most {MAX_DESCRIPTION} characters")
        if kind is TicketKind.MATTER and not matter:
            raise TicketError("matter_required", "a matter ticket names its matter")
        ticket = cls(number=number, kind=kind, subject=subject, description=description,
                     phone=phone, owner=owner, due_at=due, created_at=now, updated_at=now,
                     call_id=call_id, matter=matter)
        ticket.notes.append({"at": now, "by": by, "text": None, "state": ticket.state.value})
        return ticket, [TicketCreated(number, kind, owner, call_id, due, by, now)]

    def move(self, state: TicketState | str, by: str, note: str | None,
             now: float) -> list[TicketEvent]:
        """A state change by :data:`TICKET_TRANSITIONS`."""
        try:
            state = TicketState(state)
        except ValueError:
            raise TicketError("invalid_state", f"{state!r} is not a ticket state") from None
        if state not in TICKET_TRANSITIONS[self.state]:
            raise TicketError("illegal_transition", f"ticket {self.number} is "
                              f"{self.state.value}; it cannot become {state.value}")
        note = _note(note)
        before, self.state, self.updated_at = self.state, state, now
        if state is TicketState.RESOLVED:
            self.resolved_at = now
        elif state is TicketState.IN_PROGRESS:
            self.resolved_at = None
        self.notes.append({"at": now, "by": by, "text": note, "state": state.value})
        return [TicketChanged(self.number, before, state, self.owner, None, note, by, now)]

    def transfer(self, owner: Owner, by: str, note: str | None,
                 now: float) -> list[TicketEvent]:
        """A new owner for an open or in-progress ticket; its state stays."""
        if self.state not in TRANSFERABLE:
            raise TicketError("illegal_transition", f"ticket {self.number} is "
                              f"{self.state.value}; it cannot change owner")
        if owner == self.owner:
            raise TicketError("same_owner", "the ticket already has this owner")
        note = _note(note)
        previous, self.owner, self.updated_at = self.owner, owner, now
        self.notes.append({"at": now, "by": by, "text": note, "state": self.state.value,
                           "owner": owner.as_json()})
        return [TicketChanged(self.number, self.state, self.state, owner, previous, note,
                              by, now)]

    def public_json(self) -> dict[str, Any]:
        """What anyone with the number and the phone sees: kind, state, due time and last
        update; nothing else."""
        return {"number": self.number, "ticket": True, "kind": self.kind.value,
                "state": self.state.value, "due_at": self.due_at,
                "updated_at": self.updated_at}


# ---------------------------------------------------------------- numbers and times


def ticket_number(prefix: str, now: float, sequence: int) -> str:
    """``HY-T-20261130-000123``: prefix, ``T``, the China date of ``now``, the sequence."""
    if not 1 <= sequence <= 999_999:
        raise ValueError(f"daily sequence {sequence} out of 1..999999")
    day = datetime.fromtimestamp(now, CHINA).strftime("%Y%m%d")
    return f"{prefix}-T-{day}-{sequence:06d}"


def parse_ticket_number(number: str) -> tuple[str, str, int]:
    """``(prefix, YYYYMMDD, sequence)``; ``TicketError`` if it is not a ticket number."""
    parts = number.split("-")
    if not (len(parts) == 4 and parts[0].isalnum() and parts[0].isascii()
            and parts[1] == "T" and len(parts[2]) == 8 and parts[2].isdigit()
            and parts[2].isascii() and len(parts[3]) == 6 and parts[3].isdigit()
            and parts[3].isascii()):
        raise TicketError("invalid_ticket_number", f"{number!r} is not a ticket number")
    return parts[0], parts[2], int(parts[3])


def ticket_due_at(kind: TicketKind | str, now: float, working_days: Mapping[str, int],
                  norm_minutes: int | None = None) -> float:
    """When a ticket of ``kind`` created at ``now`` is due: ``working_days[kind]`` working
    days (of :data:`WORKDAY_MINUTES`), or for a matter its norm time in working minutes."""
    kind = TicketKind(kind)
    if kind is TicketKind.MATTER:
        if norm_minutes is None:
            raise TicketError("matter_required", "a matter ticket needs the matter's norm time")
        return due_at(now, norm_minutes)
    return due_at(now, working_days[kind.value] * WORKDAY_MINUTES)
