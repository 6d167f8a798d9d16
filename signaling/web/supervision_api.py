"""REST routes for supervisors: what has broken its time promise.

Each matter's catalog entry promises a due time; a department task still undecided (pending
or awaiting a correction) after it, in a case still open, is **overdue**. Supervisors and
admins see every such task across departments, the oldest due first, and every unresolved
ticket past its due time (``signaling.matters.tickets``); agents and reviewers get 403. The
same figure, by department, is the ``cloud_agent_overdue_tasks`` gauge on ``/metrics``.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from ..live.hub import Hub
from ..matters.cases import Case, Task
from ..matters.tickets import Ticket
from ..store.models import Account
from ..store.ticket_repositories import TicketRepository
from .api import HubDep, supervisor

SupervisorDep = Annotated[Account, Depends(supervisor)]

#: at most this many overdue tasks, and tickets, are listed (the oldest due first)
LIMIT = 200


def overdue_task(hub: Hub, case: Case, task: Task, now: float) -> dict[str, Any]:
    """An overdue task as the supervisors' list shows it."""
    side = hub.case_side
    return {"task_id": task.id, "case_number": case.number, "partition": case.partition,
            "department": task.department,
            "department_name": side.department_name(task.department),
            "matters": [{"code": code, "title": side.matter_title(code)}
                        for code in task.matters],
            "state": task.state.value, "created_at": task.created_at,
            "due_at": task.due_at, "overdue_s": round(max(0.0, now - task.due_at))}


def overdue_ticket(hub: Hub, ticket: Ticket, now: float) -> dict[str, Any]:
    """An overdue ticket as the supervisors' list shows it (no phone, no description)."""
    owner: dict[str, Any] = ticket.owner.as_json()
    if ticket.owner.department:
        owner["department_name"] = hub.case_side.department_name(ticket.owner.department)
    return {"number": ticket.number, "kind": ticket.kind.value, "subject": ticket.subject,
            "owner": owner, "state": ticket.state.value, "due_at": ticket.due_at,
            "overdue_s": round(max(0.0, now - ticket.due_at))}


def build_supervision_router() -> APIRouter:
    router = APIRouter()

    @router.get("/api/supervision/overdue")
    async def overdue(account: SupervisorDep, hub: HubDep) -> dict[str, Any]:
        """Every overdue department task and ticket, the oldest due first."""
        now = time.time()
        tasks = await hub.case_side.cases.overdue_tasks(now, LIMIT)
        tickets = [ticket for ticket in await TicketRepository(hub.db).list(
            unresolved_only=True, limit=LIMIT) if ticket.overdue(now)]
        return {"now": now,
                "tasks": [overdue_task(hub, case, task, now) for case, task in tasks],
                "tickets": [overdue_ticket(hub, ticket, now) for ticket in tickets]}

    return router
