"""The case side of the hub: a call's submissions become a case, departments decide it.

The rules are the pure ``signaling.matters.cases``; this side does their I/O. It opens the
call's case on the first submission (and numbers it), adds one task per department, stores
every change, audits each event, puts a ``task.created`` delivery in the webhook outbox for
departments with an enabled endpoint (in the same transaction as the task), issues the one
receipt when every task is approved, and tells a live call's both parties ``case_updated``.

Decisions come from the reviewers' inbox (REST) and from departments' signed webhook
callbacks; both go through :meth:`CaseSide.decide`. Changes of one call's case run one at a
time (a lock per call), so a reviewer and a webhook deciding at once both count.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from .. import protocol as p
from ..matters import cases as c
from ..matters.catalog import Catalog
from ..store.case_repositories import (
    CaseNumberTaken,
    CaseRepository,
    DepartmentEndpointRepository,
    OutboxItem,
    OutboxRepository,
)
from .sessions import LiveSession

if TYPE_CHECKING:
    from .hub import Hub

log = logging.getLogger(__name__)

#: the audit trail's actor for what the case side does by itself (open, create, close)
SYSTEM_ACTOR = "system:cases"
#: attempts at a fresh daily sequence when two cases are numbered at once
NUMBER_ATTEMPTS = 8


class CaseSide:
    """Cases of calls: opened by submissions, decided by departments."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.cases = CaseRepository(hub.db)
        self.outbox = OutboxRepository(hub.db)
        self.endpoints = DepartmentEndpointRepository(hub.db)
        self.catalog: Catalog | None = None
        #: call id -> its case, while the call is live (``session_document`` carries it)
        self.live: dict[str, c.Case] = {}
        #: the server's address as last seen by a socket (when ``public_base_url`` is unset)
        self.seen_base_url: str | None = None
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    # ------------------------------------------------------------ life cycle

    def start(self, catalog: Catalog) -> None:
        self.catalog = catalog

    async def stop(self) -> None:
        self.live.clear()

    def session_ended(self, call_id: str) -> None:
        """The call is over: its case lives on in the store (``/case``, the inbox)."""
        self.live.pop(call_id, None)

    def learn_base_url(self, url: str) -> None:
        """Remember how clients reach the server (``ws://host/`` -> ``http://host``)."""
        if url.startswith("ws"):
            url = "http" + url[2:]
        self.seen_base_url = url.rstrip("/")

    def base_url(self) -> str:
        """Where departments and receipts link back to: the ``public_base_url`` setting,
        else the address the last client used, else the bound host and port."""
        settings = self.hub.settings
        configured = settings.public_base_url or getattr(settings, "public_url", None)
        if configured:
            return configured.rstrip("/")
        if self.seen_base_url:
            return self.seen_base_url
        return f"http://{settings.host}:{settings.port}"

    # ------------------------------------------------------------ submissions

    async def submitted(self, session: LiveSession, submission_id: str,
                        matter: str) -> c.Case | None:
        """A submission of ``matter`` was stored in the live call ``session``: open the
        call's case if it has none open, add the tasks, tell both parties. A failure here
        is logged, never undoes the stored submission."""
        try:
            return await self._submitted(session, submission_id, matter)
        except Exception:
            log.exception("adding submission %s of call %s to its case failed",
                          submission_id, session.call_id)
            return None

    async def _submitted(self, session: LiveSession, submission_id: str,
                         matter: str) -> c.Case:
        assert self.catalog is not None, "start() loads the catalog first"
        entry = self.catalog.matters[matter]
        async with self._lock(session.call_id):
            now = time.time()
            case = self.live.get(session.call_id) or await self.cases.for_call(
                session.call_id)
            events: list[c.CaseEvent] = []
            if case is None or case.state is not c.CaseState.OPEN:
                case, events = await self._open(session, submission_id, now)
            events += case.add_submission(submission_id, matter, entry.departments,
                                          c.due_at(now, entry.norm_minutes), now)
            outbox = await self._deliveries(case, events)
            await self.cases.save(case, outbox, now)
            if outbox:
                self.hub.outbox_worker.wake()
            self.live[session.call_id] = case
        await self._audit(case, events, SYSTEM_ACTOR, "submission")
        self.notify(case)
        return case

    async def _open(self, session: LiveSession, submission_id: str,
                    now: float) -> tuple[c.Case, list[c.CaseEvent]]:
        info = self.hub.callers.get(session.call_id)
        partition = info.partition if info is not None else self.hub.settings.partition
        phone = self._phone(session, submission_id)
        prefix = self.hub.settings.case_prefix
        day = c.case_number(prefix, now, 1).rsplit("-", 1)[0] + "-"
        for _ in range(NUMBER_ATTEMPTS):
            number = c.case_number(prefix, now, await self.cases.last_sequence(day) + 1)
            case, events = c.Case.open(number, session.call_id, phone, partition, now)
            try:
                await self.cases.insert(case)
            except CaseNumberTaken:
                continue
            return case, events
        raise RuntimeError(f"no free case number for {day} after {NUMBER_ATTEMPTS} tries")

    def _phone(self, session: LiveSession, submission_id: str) -> str:
        """The phone that may look the case up: the identity's mobile, else the form's
        mobile field, else the company contact's phone (empty if none: no lookup)."""
        document = session.document
        if document.identity and document.identity.get("mobile"):
            return str(document.identity["mobile"])
        form = next((f for f in document.forms if f.submission_id == submission_id), None)
        if form is not None:
            for name, hints in form.ui_fields.items():
                if hints.get("type") == "mobile" and form.values.get(name):
                    return str(form.values[name])
        info = self.hub.callers.get(session.call_id)
        if info is not None and info.company and info.company.get("contact_phone"):
            return str(info.company["contact_phone"])
        return ""

    # ------------------------------------------------------------ decisions

    async def decide(self, task_id: str, decision: str, by: str, reason: str | None,
                     now: float, via: str, *, department: str | None = None) -> c.Case:
        """A department's decision on a task, from the inbox (``via="inbox"``, ``by`` the
        reviewer's account id) or its webhook (``via="webhook"``). With ``department``,
        a task of another department is refused (``wrong_department``). Raises
        ``CaseError`` (``unknown_task``, ``illegal_transition``, ``reason_required``,
        ``case_closed`` …) and then changes nothing."""
        found = await self.cases.for_task(task_id)
        if found is None:
            raise c.CaseError("unknown_task", f"no task {task_id!r}")
        async with self._lock(found.call_id):
            case = await self.cases.for_task(task_id)
            assert case is not None
            if department is not None and case.task(task_id).department != department:
                raise c.CaseError("wrong_department", f"task {task_id} is not {department}'s")
            events = case.decide(task_id, decision, by, reason, now)
            if case.state is c.CaseState.APPROVED:
                self._issue_receipt(case, now)
            await self.cases.save(case, (), now)
            if case.call_id in self.live:
                self.live[case.call_id] = case
        await self._audit(case, events, by, via)
        self.notify(case)
        return case

    def _issue_receipt(self, case: c.Case, now: float) -> None:
        """The one receipt of an approved case (``signaling.receipts.issue``), if that
        module is there; its code is kept with the case."""
        try:
            from .. import receipts
        except ImportError:
            log.warning("no receipts module: case %s approved without a receipt", case.number)
            return
        issue = getattr(receipts, "issue", None)
        if issue is None:
            return
        try:
            issued = issue(self.hub, case, now)
        except Exception:
            log.exception("issuing the receipt of case %s failed", case.number)
            return
        case.receipt_code = str(issued["code"] if isinstance(issued, Mapping) else issued)

    # ------------------------------------------------------------ outbox

    async def _deliveries(self, case: c.Case, events: list[c.CaseEvent]) -> list[OutboxItem]:
        """A ``task.created`` (``task.updated`` for a task that got another matter,
        ``task.resubmitted`` after a correction) delivery for each department with an
        enabled endpoint."""
        items = []
        for event in events:
            if not isinstance(event, c.TaskCreated | c.TaskExtended | c.TaskResubmitted):
                continue
            endpoint = await self.endpoints.get(event.department)
            if endpoint is None or not endpoint.enabled:
                continue
            # A corrected task goes back to the department's system as well.
            kind = ("task.created" if isinstance(event, c.TaskCreated) else
                    "task.resubmitted" if isinstance(event, c.TaskResubmitted) else
                    "task.updated")
            event_id = "evt-" + secrets.token_hex(12)
            payload = await self.task_payload(case, case.task(event.task_id), kind, event_id)
            items.append(OutboxItem(event_id, event.department, kind, payload))
        return items

    async def task_payload(self, case: c.Case, task: c.Task, kind: str,
                           event_id: str) -> dict[str, Any]:
        """What a department's system receives about a task (CASES.md)."""
        assert self.catalog is not None
        submissions = []
        for submission_id in task.submissions:
            row = await self.hub.submissions.get(submission_id)
            if row is not None:
                submissions.append({"id": row.id, "matter": row.matter,
                                    "values": dict(row.values)})
        return {"event_id": event_id, "type": kind, "case_number": case.number,
                "task_id": task.id, "department": task.department,
                "matters": [{"code": code, "title": self.matter_title(code)}
                            for code in task.matters],
                "submissions": submissions, "due_at": task.due_at,
                "callback_url": f"{self.base_url()}/api/webhooks/{task.department}/decision"}

    # ------------------------------------------------------------ telling people

    def notify(self, case: c.Case) -> None:
        """``case_updated`` to both parties of the case's call, if it is live."""
        session = self.hub.sessions.get(case.call_id)
        if session is None:
            return
        message = p.outbound("case_updated", call_id=case.call_id, case=self.case_json(case))
        self.hub.to_caller(case.call_id, message)
        self.hub.to_agent(session.agent_id, message)

    def snapshot(self, call_id: str) -> dict[str, Any] | None:
        """The live call's case as ``session_document`` carries it (None before any
        submission)."""
        case = self.live.get(call_id)
        return None if case is None else self.case_json(case)

    def case_json(self, case: c.Case) -> dict[str, Any]:
        """The case as the call's parties, its agent and supervisors see it."""
        return {"number": case.number, "state": case.state.value,
                "created_at": case.created_at, "closed_at": case.closed_at,
                "tasks": [self.task_json(task) for task in case.tasks],
                "receipt": self.receipt_json(case)}

    def task_json(self, task: c.Task) -> dict[str, Any]:
        return {"id": task.id, "department": task.department,
                "department_name": self.department_name(task.department),
                "matters": list(task.matters), "state": task.state.value,
                "reason": task.reason, "due_at": task.due_at, "decided_at": task.decided_at}

    def public_json(self, case: c.Case) -> dict[str, Any]:
        """What anyone with the number and the phone sees: states and times, nothing
        else (no matters' values, no reasons, no names)."""
        return {"number": case.number, "state": case.state.value,
                "created_at": case.created_at, "closed_at": case.closed_at,
                "tasks": [{"department": t.department,
                           "department_name": self.department_name(t.department),
                           "state": t.state.value, "due_at": t.due_at,
                           "decided_at": t.decided_at} for t in case.tasks],
                "receipt": self.receipt_json(case)}

    def receipt_json(self, case: c.Case) -> dict[str, str] | None:
        if case.receipt_code is None:
            return None
        return {"code": case.receipt_code,
                "url": f"/api/cases/{case.number}/receipt.pdf?code={case.receipt_code}"}

    def department_name(self, code: str) -> dict[str, str]:
        department = self.catalog.departments.get(code) if self.catalog else None
        return department.name.as_json() if department else {"zh": code, "en": code}

    def matter_title(self, code: str) -> dict[str, str]:
        matter = self.catalog.matters.get(code) if self.catalog else None
        return matter.title.as_json() if matter else {"zh": code, "en": code}

    async def _audit(self, case: c.Case, events: list[c.CaseEvent], actor: str,
                     via: str) -> None:
        """One audit line per event, in order."""
        for event in events:
            base: dict[str, Any] = {"case": case.number, "call": case.call_id}
            line: tuple[str, str, dict[str, Any]]
            match event:
                case c.CaseOpened():
                    line = (SYSTEM_ACTOR, "case_opened", {**base,
                                                          "partition": event.partition})
                case c.TaskCreated():
                    line = (SYSTEM_ACTOR, "task_created", {
                        **base, "task": event.task_id, "department": event.department,
                        "matters": list(event.matters), "due_at": event.due_at})
                case c.TaskExtended():
                    line = (SYSTEM_ACTOR, "task_extended", {
                        **base, "task": event.task_id, "matter": event.matter,
                        "submission": event.submission_id})
                case c.TaskResubmitted():
                    line = (SYSTEM_ACTOR, "task_resubmitted", {
                        **base, "task": event.task_id, "submission": event.submission_id})
                case c.TaskDecided():
                    line = (actor, "task_decided", {
                        **base, "task": event.task_id, "department": event.department,
                        "decision": event.decision.value, "reason": event.reason,
                        "via": via})
                case c.CaseClosed():
                    line = (SYSTEM_ACTOR, "case_closed", {
                        **base, "state": event.state.value,
                        "receipt": case.receipt_code is not None})
            try:
                await self.hub.audit_log.append(*line, event.at)
            except Exception:
                log.exception("auditing %s of case %s failed", line[1], case.number)

    # ------------------------------------------------------------ one change at a time

    @asynccontextmanager
    async def _lock(self, call_id: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(call_id, (asyncio.Lock(), 0))
        self._locks[call_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[call_id]
            if users <= 1:
                del self._locks[call_id]
            else:
                self._locks[call_id] = (lock, users - 1)
