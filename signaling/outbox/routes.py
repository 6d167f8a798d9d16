"""``POST /api/webhooks/{department}/decision``: a department's system answers a task.

The body is ``{event_id, task_id, decision, reason?}``, signed like our deliveries
(``X-CloudAgent-Signature``, the department's secret from ``department_endpoints``). A bad
or stale signature is refused with 401 ``bad_signature`` before the body is even parsed; a
task of another department is 403 ``wrong_department``. A callback whose event id was
already acted on is answered 200 ``duplicate: true`` and changes nothing, so the department
may retry until it gets a 2xx. The decision itself goes through ``hub.case_side.decide``
like a reviewer's in the inbox.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, ValidationError

from signaling.matters.cases import TASK_TRANSITIONS, CaseError, TaskState
from signaling.store.case_repositories import DepartmentEndpointRepository
from signaling.web.api import STRICT_BODY, ApiError, HubDep

from .inbox import WebhookInbox
from .signing import SIGNATURE_HEADER, SignatureError, verify

log = logging.getLogger(__name__)

#: largest callback body read (bytes); a decision is a few hundred
MAX_CALLBACK_BYTES = 16 * 1024
DEPARTMENT_CODE = r"^[a-z0-9][a-z0-9-]{0,39}$"

#: HTTP status of each refusal of the case side
CASE_ERROR_STATUS = {"unknown_task": 404, "wrong_department": 403,
                     "illegal_transition": 409, "case_closed": 409}


class DecisionCallback(BaseModel):
    model_config = STRICT_BODY
    #: the department's own id of this callback; a retry carries the same one
    event_id: str = Field(min_length=1, max_length=200)
    task_id: str = Field(min_length=1, max_length=100)
    decision: Literal["approve", "reject", "correction"]
    reason: str | None = Field(default=None, max_length=500)


def build_webhook_router() -> APIRouter:
    router = APIRouter()
    #: one callback of a department at a time, so a retry racing its original is a duplicate
    locks: dict[str, asyncio.Lock] = {}

    @router.post("/api/webhooks/{department}/decision")
    async def decision_callback(department: str, request: Request,
                                hub: HubDep) -> dict[str, Any]:
        endpoint = await DepartmentEndpointRepository(hub.db).get(department)
        if endpoint is None or not endpoint.enabled:
            raise ApiError(404, "no_webhook", "this department has no enabled webhook")
        body = await _read_body(request)
        try:
            verify(endpoint.secret, body, request.headers.get(SIGNATURE_HEADER), time.time())
        except SignatureError as exc:
            log.warning("webhook callback of %s refused: %s signature", department,
                        exc.fault.value)
            raise ApiError(401, "bad_signature", "X-CloudAgent-Signature is missing, wrong "
                           "or too old (more than 300 s)") from None
        callback = _parse(body)
        by = f"webhook:{department}"
        inbox = WebhookInbox(hub.db)
        async with locks.setdefault(department, asyncio.Lock()):
            seen = await inbox.seen(department, callback.event_id)
            if seen is not None:
                return {"ok": True, "duplicate": True, "task_id": seen.task_id}
            now = time.time()
            try:
                case = await hub.case_side.decide(
                    callback.task_id, callback.decision, by, callback.reason, now,
                    "webhook", department=department)
            except CaseError as exc:
                if not await _already_decided(hub, callback, by, exc):
                    raise ApiError(CASE_ERROR_STATUS.get(exc.code, 422), exc.code,
                                   exc.message) from None
                await inbox.record(department, callback.event_id, callback.task_id, now)
                return {"ok": True, "duplicate": True, "task_id": callback.task_id}
            await inbox.record(department, callback.event_id, callback.task_id, now)
        task = case.task(callback.task_id)
        return {"ok": True, "duplicate": False, "task_id": task.id,
                "task_state": task.state.value, "case_state": case.state.value}

    return router


async def _read_body(request: Request) -> bytes:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_CALLBACK_BYTES:
            raise ApiError(413, "too_large", f"a callback has at most {MAX_CALLBACK_BYTES} "
                           "bytes")
    return body


def _parse(body: bytes) -> DecisionCallback:
    try:
        return DecisionCallback.model_validate(json.loads(body))
    except (ValueError, ValidationError) as exc:
        raise ApiError(422, "invalid_request", "expected {event_id, task_id, decision, "
                       f"reason?}}: {str(exc).splitlines()[0]}") from None


async def _already_decided(hub: HubDep, callback: DecisionCallback, by: str,
                           error: CaseError) -> bool:
    """Whether a refused callback repeats the decision this department's webhook already
    made (the server stopped after deciding but before remembering the event id)."""
    if error.code not in ("illegal_transition", "case_closed"):
        return False
    case = await hub.case_side.cases.for_task(callback.task_id)
    if case is None:
        return False
    task = case.task(callback.task_id)
    target = TASK_TRANSITIONS[TaskState.PENDING].get(callback.decision)
    return task.decided_by == by and task.state is target
