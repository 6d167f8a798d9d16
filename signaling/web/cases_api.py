"""REST routes of cases: the reviewers' inbox and decisions, a task in full, a call's case,
and the public look-up by case number and phone.

Who sees what: a reviewer sees and decides only its own department's tasks (another
department's task is "not found"); the case's agent and supervisors may read a task but not
decide it; anyone with a case number **and** the phone on the case sees its states and
times, nothing else, and a wrong phone gets the very answer an unknown number gets.
"""

from __future__ import annotations

import hmac
import re
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from ..live.hub import Hub
from ..live.shared_limits import SharedLookupLimit
from ..matters.cases import MAX_REASON, Case, CaseError, Task
from ..matters.tickets import TicketError, parse_ticket_number
from ..store.models import Account, Role
from ..store.ticket_repositories import TicketRepository
from .api import STRICT_BODY, AccountDep, ApiError, HubDep

#: error codes of ``CaseError`` -> HTTP status
CASE_ERROR_STATUS = {"unknown_task": 404, "wrong_department": 404, "invalid_decision": 422,
                     "reason_required": 422, "reason_too_long": 422,
                     "illegal_transition": 409, "case_closed": 409}
_PHONE = re.compile(r"^1\d{10}$")
#: the one answer for an unknown case number and for a wrong phone
NO_SUCH_CASE = ("not_found", "no case with this number and phone")


class DecisionRequest(BaseModel):
    model_config = STRICT_BODY
    decision: Literal["approve", "reject", "correction"]
    reason: str | None = Field(default=None, max_length=MAX_REASON)


async def reviewer(account: AccountDep) -> Account:
    """A department reviewer (bound to a department)."""
    if account.role != Role.REVIEWER.value or not account.department:
        raise ApiError(403, "forbidden", "department reviewers only")
    return account


ReviewerDep = Annotated[Account, Depends(reviewer)]


def case_error(error: CaseError) -> ApiError:
    return ApiError(CASE_ERROR_STATUS.get(error.code, 409), error.code, error.message)


def inbox_item(hub: Hub, case: Case, task: Task, now: float) -> dict[str, Any]:
    """A task as the inbox lists it: with its case number, age, due time and overdue flag."""
    return {**hub.case_side.task_json(task), "case_number": case.number,
            "case_state": case.state.value, "created_at": task.created_at,
            "age_s": round(max(0.0, now - task.created_at)), "overdue": task.overdue(now)}


def is_ticket_number(number: str) -> bool:
    """A ticket's number (``HY-T-20261130-000001``): looked up among tickets."""
    try:
        parse_ticket_number(number)
    except TicketError:
        return False
    return True


async def agent_of_call(hub: Hub, call_id: str) -> str | None:
    session = hub.sessions.get(call_id)
    if session is not None:
        return session.agent_id
    record = await hub.call_records.get(call_id)
    return record.agent_id if record else None


def build_cases_router() -> APIRouter:
    router = APIRouter()

    @router.get("/api/inbox/tasks")
    async def inbox(account: ReviewerDep, hub: HubDep) -> dict[str, Any]:
        """The reviewer's department's undecided tasks, oldest first."""
        assert account.department is not None
        now = time.time()
        found = await hub.case_side.cases.open_tasks(account.department)
        return {"department": account.department,
                "department_name": hub.case_side.department_name(account.department),
                "tasks": [inbox_item(hub, case, task, now) for case, task in found]}

    @router.get("/api/tasks/{task_id}")
    async def task_detail(task_id: str, account: AccountDep, hub: HubDep) -> dict[str, Any]:
        """A task with its case number and the submissions' values and material links:
        for the department's reviewers, the case's agent and supervisors."""
        case = await hub.case_side.cases.for_task(task_id)
        if case is None:
            raise ApiError(404, "not_found", "no such task")
        task = case.task(task_id)
        if account.role == Role.REVIEWER.value:
            if account.department != task.department:
                raise ApiError(404, "not_found", "no such task")
        elif account.role == Role.AGENT.value:
            if account.id != await agent_of_call(hub, case.call_id):
                raise ApiError(403, "forbidden", "not your call's case")
        elif account.role not in (Role.SUPERVISOR.value, Role.ADMIN.value):
            raise ApiError(403, "forbidden", "not allowed")
        now = time.time()
        submissions = []
        for submission_id in task.submissions:
            row = await hub.submissions.get(submission_id)
            if row is None:
                continue
            materials = [hub.matter_side.material_links(case.call_id, {
                "id": m.id, "kind": m.kind, "content_type": m.content_type, "pages": m.pages})
                for m in [await hub.materials.get(mid) for mid in row.materials] if m]
            submissions.append({"id": row.id, "matter": row.matter,
                                "title": hub.case_side.matter_title(row.matter),
                                "values": row.values, "filled_by": row.filled_by,
                                "submitted_at": row.submitted_at, "materials": materials})
        return {"task": inbox_item(hub, case, task, now),
                "case": {"number": case.number, "state": case.state.value,
                         "call_id": case.call_id, "created_at": case.created_at},
                "submissions": submissions}

    @router.post("/api/tasks/{task_id}/decision")
    async def decide(task_id: str, body: DecisionRequest, account: AccountDep,
                     hub: HubDep) -> dict[str, Any]:
        """A reviewer's decision on its department's task; agents and supervisors cannot."""
        if account.role != Role.REVIEWER.value or not account.department:
            raise ApiError(403, "forbidden", "only the department's reviewers decide tasks")
        try:
            case = await hub.case_side.decide(task_id, body.decision, account.id,
                                              body.reason, time.time(), "inbox",
                                              department=account.department)
        except CaseError as error:
            raise case_error(error) from None
        return {"task": hub.case_side.task_json(case.task(task_id)),
                "case": hub.case_side.case_json(case)}

    @router.get("/api/calls/{call_id}/case")
    async def call_case(call_id: str, account: AccountDep, hub: HubDep) -> dict[str, Any]:
        """The call's case: its agent, or a supervisor."""
        if account.role not in (Role.SUPERVISOR.value, Role.ADMIN.value) and (
                account.id != await agent_of_call(hub, call_id)):
            raise ApiError(403, "forbidden", "not your call")
        case = hub.case_side.live.get(call_id) or await hub.case_side.cases.for_call(call_id)
        if case is None:
            raise ApiError(404, "not_found", "this call has no case")
        return {"call_id": call_id, "case": hub.case_side.case_json(case)}

    @router.get("/api/cases/{number}")
    async def look_up(number: str, request: Request, hub: HubDep,
                      phone: str = "") -> dict[str, Any]:
        """A case's states and times for its number and the phone on it (no login)."""
        limit: SharedLookupLimit = request.app.state.case_lookup_limit
        address = request.client.host if request.client else "?"
        wait = await limit.allow(address, time.monotonic())
        if wait:
            seconds = max(1, round(wait))
            raise ApiError(429, "too_many_lookups", f"too many look-ups; try again in "
                           f"{seconds} s", headers={"Retry-After": str(seconds)})
        if len(number) <= 40 and is_ticket_number(number):
            ticket = await TicketRepository(hub.db).get(number)
            if ticket is None or not ticket.phone or not _PHONE.match(phone) or not (
                    hmac.compare_digest(ticket.phone.encode(), phone.encode())):
                raise ApiError(404, *NO_SUCH_CASE)
            return ticket.public_json()
        case = await hub.case_side.cases.get(number) if len(number) <= 40 else None
        if case is None or not case.phone or not _PHONE.match(phone) or not (
                hmac.compare_digest(case.phone.encode(), phone.encode())):
            raise ApiError(404, *NO_SUCH_CASE)
        return hub.case_side.public_json(case)

    return router

