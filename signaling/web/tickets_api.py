"""REST routes of tickets: create one (in a call or not), list mine, change its state or owner.

What cannot be settled in the call becomes a ticket (``signaling.matters.tickets``) owned by
an agent or a department. Who may do what:

- agents and supervisors create tickets; a ticket naming a call must be the caller's agent's
  (or a supervisor's); the owner defaults to the creating account;
- an agent lists the tickets it owns, a reviewer its department's, a supervisor every ticket
  not closed;
- the owner (the agent, or any reviewer of the owning department) or a supervisor changes the
  state or transfers the ticket; anyone else gets 403 ``not_owner``.

Every change is audited (``ticket_created``, ``ticket_changed``). A ticket made in a live call
is told to both parties (``ticket_created``), so the caller can note its number; anyone with
the number and the phone on the ticket may look it up like a case (``/api/cases/{number}``,
``/case``).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from .. import protocol as p
from ..live.hub import Hub
from ..matters import tickets as t
from ..store.models import Account, Role
from ..store.ticket_repositories import TicketNumberTaken, TicketRepository
from .api import STRICT_BODY, AccountDep, ApiError, HubDep
from .cases_api import agent_of_call

log = logging.getLogger(__name__)

#: error codes of ``TicketError`` -> HTTP status
TICKET_ERROR_STATUS = {"illegal_transition": 409, "same_owner": 409}
NUMBER_ATTEMPTS = 8
STAFF = (Role.SUPERVISOR.value, Role.ADMIN.value)


class OwnerBody(BaseModel):
    model_config = STRICT_BODY
    agent: str | None = Field(default=None, max_length=64)
    department: str | None = Field(default=None, max_length=64)


class TicketRequest(BaseModel):
    model_config = STRICT_BODY
    kind: str = Field(max_length=20)
    subject: str = Field(max_length=t.MAX_SUBJECT)
    description: str = Field(default="", max_length=t.MAX_DESCRIPTION)
    phone: str | None = Field(default=None, max_length=20)
    call_id: str | None = Field(default=None, max_length=64)
    matter: str | None = Field(default=None, max_length=64)
    owner: OwnerBody | None = None


class TicketChange(BaseModel):
    model_config = STRICT_BODY
    state: str | None = Field(default=None, max_length=20)
    owner: OwnerBody | None = None
    note: str | None = Field(default=None, max_length=t.MAX_NOTE)


def working_days(hub: Hub) -> dict[str, int]:
    """Due times of the four hotline kinds, in working days (settings)."""
    settings = hub.settings
    return {"complaint": settings.ticket_due_days_complaint,
            "inquiry": settings.ticket_due_days_inquiry,
            "assistance": settings.ticket_due_days_assistance,
            "suggestion": settings.ticket_due_days_suggestion}


def ticket_error(error: t.TicketError) -> ApiError:
    return ApiError(TICKET_ERROR_STATUS.get(error.code, 422), error.code, error.message)


class TicketSide:
    """Creating, changing and telling tickets: the I/O around the pure core."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.tickets = TicketRepository(hub.db)

    def department_name(self, code: str) -> dict[str, str]:
        return self.hub.case_side.department_name(code)

    def known_department(self, code: str) -> bool:
        catalog = self.hub.case_side.catalog
        return catalog is not None and code in catalog.departments

    async def owner(self, body: OwnerBody | None, account: Account) -> t.Owner:
        """The owner a request names (checked), or the creating account."""
        if body is None:
            return t.Owner(agent=account.id)
        try:
            owner = t.Owner(agent=body.agent, department=body.department)
        except t.TicketError as error:
            raise ticket_error(error) from None
        if owner.agent is not None:
            named = await self.hub.accounts.get(owner.agent)
            if named is None or named.role not in (Role.AGENT.value, *STAFF):
                raise ApiError(422, "invalid_owner", "no such agent")
        elif not self.known_department(str(owner.department)):
            raise ApiError(422, "invalid_owner", "no such department")
        return owner

    def json(self, ticket: t.Ticket, now: float) -> dict[str, Any]:
        """A ticket as its owners and supervisors see it."""
        owner: dict[str, Any] = ticket.owner.as_json()
        if ticket.owner.department:
            owner["department_name"] = self.department_name(ticket.owner.department)
        return {"number": ticket.number, "kind": ticket.kind.value, "matter": ticket.matter,
                "subject": ticket.subject, "description": ticket.description,
                "phone": ticket.phone, "call_id": ticket.call_id, "owner": owner,
                "state": ticket.state.value, "due_at": ticket.due_at,
                "created_at": ticket.created_at, "updated_at": ticket.updated_at,
                "resolved_at": ticket.resolved_at, "notes": ticket.notes,
                "overdue": ticket.overdue(now)}

    def default_phone(self, call_id: str | None) -> str:
        """The call's identity mobile, else the phone on the call's case."""
        if call_id is None:
            return ""
        session = self.hub.sessions.get(call_id)
        identity = session.document.identity if session is not None else None
        if identity and identity.get("mobile"):
            return str(identity["mobile"])
        case = self.hub.case_side.live.get(call_id)
        return case.phone if case is not None else ""

    async def create(self, body: TicketRequest, account: Account) -> t.Ticket:
        hub = self.hub
        if body.call_id is not None and account.role not in STAFF and (
                account.id != await agent_of_call(hub, body.call_id)):
            raise ApiError(403, "forbidden", "not your call")
        owner = await self.owner(body.owner, account)
        norm: int | None = None
        if body.matter is not None:
            catalog = hub.case_side.catalog
            entry = catalog.matters.get(body.matter) if catalog else None
            if entry is None:
                raise ApiError(422, "unknown_matter", "no such matter")
            norm = entry.norm_minutes
        phone = body.phone if body.phone is not None else self.default_phone(body.call_id)
        if phone and not (len(phone) == 11 and phone.isdigit() and phone.startswith("1")):
            raise ApiError(422, "invalid_phone", "a phone is an 11-digit mobile number")
        now = time.time()
        try:
            kind = t.TicketKind(body.kind)
        except ValueError:
            raise ApiError(422, "invalid_kind", f"{body.kind!r} is not a ticket kind") from None
        try:
            due = t.ticket_due_at(kind, now, working_days(hub), norm)
        except t.TicketError as error:
            raise ticket_error(error) from None
        prefix = hub.settings.case_prefix
        day = t.ticket_number(prefix, now, 1).rsplit("-", 1)[0] + "-"
        for _ in range(NUMBER_ATTEMPTS):
            number = t.ticket_number(prefix, now, await self.tickets.last_sequence(day) + 1)
            try:
                ticket, events = t.Ticket.create(
                    number, kind, body.subject, body.description, phone, owner, account.id,
                    due, now, call_id=body.call_id, matter=body.matter)
            except t.TicketError as error:
                raise ticket_error(error) from None
            try:
                await self.tickets.insert(ticket)
            except TicketNumberTaken:
                continue
            break
        else:
            raise RuntimeError(f"no free ticket number for {day}")
        await self.audit(ticket, events)
        self.tell_call(ticket)
        return ticket

    def may_change(self, ticket: t.Ticket, account: Account) -> bool:
        if account.role in STAFF:
            return True
        if account.role == Role.REVIEWER.value:
            return bool(account.department) and ticket.owner.department == account.department
        return ticket.owner.agent == account.id

    async def change(self, number: str, body: TicketChange, account: Account) -> t.Ticket:
        ticket = await self.tickets.get(number) if len(number) <= 40 else None
        if ticket is None:
            raise ApiError(404, "not_found", "no such ticket")
        if not self.may_change(ticket, account):
            raise ApiError(403, "not_owner", "only the ticket's owner or a supervisor may "
                           "change it")
        if (body.state is None) == (body.owner is None):
            raise ApiError(422, "invalid_request", "give a state or an owner")
        now = time.time()
        try:
            if body.owner is not None:
                events = ticket.transfer(await self.owner(body.owner, account), account.id,
                                         body.note, now)
            else:
                events = ticket.move(str(body.state), account.id, body.note, now)
        except t.TicketError as error:
            raise ticket_error(error) from None
        await self.tickets.save(ticket)
        await self.audit(ticket, events)
        return ticket

    def tell_call(self, ticket: t.Ticket) -> None:
        """``ticket_created`` to both parties of the ticket's call, if it is live."""
        session = self.hub.sessions.get(ticket.call_id) if ticket.call_id else None
        if session is None or ticket.call_id is None:
            return
        message = p.outbound("ticket_created", call_id=ticket.call_id, ticket={
            "number": ticket.number, "kind": ticket.kind.value, "subject": ticket.subject,
            "state": ticket.state.value, "due_at": ticket.due_at})
        self.hub.to_caller(ticket.call_id, message)
        self.hub.to_agent(session.agent_id, message)

    async def audit(self, ticket: t.Ticket, events: list[t.TicketEvent]) -> None:
        for event in events:
            line: tuple[str, str, dict[str, Any]]
            match event:
                case t.TicketCreated():
                    line = (event.by, "ticket_created", {
                        "ticket": ticket.number, "kind": event.kind.value,
                        "owner": event.owner.as_json(), "call": event.call_id,
                        "due_at": event.due_at})
                case t.TicketChanged():
                    detail: dict[str, Any] = {"ticket": ticket.number,
                                              "from": event.before.value,
                                              "state": event.state.value, "note": event.note}
                    if event.previous_owner is not None:
                        detail["owner"] = event.owner.as_json()
                        detail["previous_owner"] = event.previous_owner.as_json()
                    line = (event.by, "ticket_changed", detail)
            try:
                await self.hub.audit_log.append(*line, event.at)
            except Exception:
                log.exception("auditing %s of ticket %s failed", line[1], ticket.number)


def build_tickets_router() -> APIRouter:
    router = APIRouter()
    sides: dict[int, TicketSide] = {}

    def side(hub: Hub) -> TicketSide:
        found = sides.get(id(hub))
        if found is None or found.hub is not hub:
            found = sides[id(hub)] = TicketSide(hub)
        return found

    @router.post("/api/tickets")
    async def create(body: TicketRequest, account: AccountDep,
                     hub: HubDep) -> dict[str, Any]:
        """A new ticket (agents and supervisors)."""
        if account.role not in (Role.AGENT.value, *STAFF):
            raise ApiError(403, "forbidden", "agents and supervisors create tickets")
        tickets = side(hub)
        ticket = await tickets.create(body, account)
        return {"ticket": tickets.json(ticket, time.time())}

    @router.get("/api/tickets")
    async def listing(account: AccountDep, hub: HubDep) -> dict[str, Any]:
        """Mine (agent), my department's (reviewer), or every ticket not closed
        (supervisor); due first, each with ``overdue``."""
        tickets = side(hub)
        if account.role in STAFF:
            found = await tickets.tickets.list(include_closed=False)
        elif account.role == Role.REVIEWER.value and account.department:
            found = await tickets.tickets.list(department=account.department)
        elif account.role == Role.AGENT.value:
            found = await tickets.tickets.list(agent=account.id)
        else:
            raise ApiError(403, "forbidden", "not allowed")
        now = time.time()
        return {"tickets": [tickets.json(ticket, now) for ticket in found]}

    @router.post("/api/tickets/{number}/status")
    async def change(number: str, body: TicketChange, account: AccountDep,
                     hub: HubDep) -> dict[str, Any]:
        """A state change ``{state, note}`` or a transfer ``{owner, note}``."""
        tickets = side(hub)
        ticket = await tickets.change(number, body, account)
        return {"ticket": tickets.json(ticket, time.time())}

    return router
