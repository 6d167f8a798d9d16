"""Cases: the submissions of one call, approved in parallel by one task per department.

Pure, in the sans-I/O style of ``signaling.routing`` and ``document``: a :class:`Case` is
changed only by its methods (``open``, ``add_submission``, ``decide``, ``resubmitted``),
each of which checks the move in full, then changes the case and returns the **events**
(frozen dataclasses) that the case side stores, audits, puts in the webhook outbox and
tells the live call. An illegal move raises :class:`CaseError` and changes nothing.

Rules:

- A task moves by :data:`TASK_TRANSITIONS`: ``pending`` → ``approved`` | ``rejected`` |
  ``correction``; ``correction`` → ``pending`` (the caller corrected and resubmitted) |
  ``rejected``. ``approved`` and ``rejected`` are final.
- The case state is never stored on its own: :func:`case_state` derives it from the tasks.
  Any rejected task ends the case ``rejected`` (with the list of what to fix); every task
  approved ends it ``approved`` (a receipt is issued); otherwise it is ``open``.
- A closed case takes no more submissions or decisions (``case_closed``).
- One task per department: a department named by two matters of the case gets one task
  listing both. A later submission joins that department's task while it is pending (or
  resubmits it when it awaits a correction); a final task means a new task.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any

__all__ = [
    "CHINA", "TASK_TRANSITIONS", "Case", "CaseClosed", "CaseError", "CaseEvent", "CaseOpened",
    "CaseState", "Decision", "Task", "TaskCreated", "TaskDecided", "TaskExtended",
    "TaskResubmitted", "TaskState", "case_number", "case_state", "due_at", "parse_case_number",
]

#: China Standard Time (no daylight saving): case numbers and working hours use its dates
CHINA = timezone(timedelta(hours=8), "CST")
#: a department's working day, China time, Monday to Friday (holidays are not modelled)
WORKDAY_START = timedelta(hours=8, minutes=30)
WORKDAY_END = timedelta(hours=17)


class CaseError(Exception):
    """A move refused by the case's rules; ``code`` goes on the wire."""

    def __init__(self, code: str, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = fields


class TaskState(StrEnum):
    """Life of one department's task."""

    #: waiting for the department's decision
    PENDING = "pending"
    #: the department approved its part (final)
    APPROVED = "approved"
    #: the department refused; the case ends (final)
    REJECTED = "rejected"
    #: the department asked the caller to correct something; a resubmission makes it pending
    CORRECTION = "correction"

    @property
    def final(self) -> bool:
        return self in (TaskState.APPROVED, TaskState.REJECTED)


class CaseState(StrEnum):
    """Life of a case, derived from its tasks by :func:`case_state`."""

    #: some task is pending or awaiting a correction
    OPEN = "open"
    #: every task approved; one receipt is issued
    APPROVED = "approved"
    #: a task was rejected; the case ends with the list of what to fix
    REJECTED = "rejected"


class Decision(StrEnum):
    """What a department (inbox reviewer or webhook) answers for a task."""

    #: the part is approved
    APPROVE = "approve"
    #: refused, with a reason
    REJECT = "reject"
    #: the caller must correct something (the reason says what)
    CORRECTION = "correction"


#: the only moves of a task: state -> {move: next state}; anything else is illegal
TASK_TRANSITIONS: Mapping[TaskState, Mapping[str, TaskState]] = {
    TaskState.PENDING: {Decision.APPROVE.value: TaskState.APPROVED,
                        Decision.REJECT.value: TaskState.REJECTED,
                        Decision.CORRECTION.value: TaskState.CORRECTION},
    TaskState.CORRECTION: {"resubmit": TaskState.PENDING,
                           Decision.REJECT.value: TaskState.REJECTED},
    TaskState.APPROVED: {},
    TaskState.REJECTED: {},
}
#: decisions that need a reason (what to fix)
REASON_REQUIRED = frozenset({Decision.REJECT, Decision.CORRECTION})
MAX_REASON = 500


def _next_state(task: Task, move: str) -> TaskState:
    try:
        return TASK_TRANSITIONS[task.state][move]
    except KeyError:
        raise CaseError("illegal_transition", f"task {task.id} is {task.state.value}; "
                        f"{move} is not allowed", task_id=task.id,
                        state=task.state.value) from None


# ---------------------------------------------------------------- events


@dataclass(frozen=True)
class CaseOpened:
    number: str
    call_id: str
    phone: str
    partition: str
    at: float


@dataclass(frozen=True)
class TaskCreated:
    case_number: str
    task_id: str
    department: str
    matters: tuple[str, ...]
    submissions: tuple[str, ...]
    due_at: float
    at: float


@dataclass(frozen=True)
class TaskExtended:
    """A later submission joined a pending task (its department gets the fuller task)."""

    case_number: str
    task_id: str
    department: str
    matter: str
    submission_id: str
    due_at: float
    at: float


@dataclass(frozen=True)
class TaskDecided:
    case_number: str
    task_id: str
    department: str
    decision: Decision
    state: TaskState
    by: str
    reason: str | None
    at: float


@dataclass(frozen=True)
class TaskResubmitted:
    """The caller corrected what a ``correction`` asked for; the task is pending again."""

    case_number: str
    task_id: str
    department: str
    submission_id: str | None
    at: float


@dataclass(frozen=True)
class CaseClosed:
    number: str
    state: CaseState
    #: department -> reason of each rejected task (what to fix); empty when approved
    to_fix: tuple[tuple[str, str], ...]
    at: float


CaseEvent = CaseOpened | TaskCreated | TaskExtended | TaskDecided | TaskResubmitted | CaseClosed


# ---------------------------------------------------------------- state


@dataclass
class Task:
    """One department's part of a case."""

    id: str
    department: str
    matters: list[str]
    submissions: list[str]
    due_at: float
    created_at: float
    state: TaskState = TaskState.PENDING
    decided_at: float | None = None
    decided_by: str | None = None
    reason: str | None = None

    def overdue(self, now: float) -> bool:
        """Not decided (pending or awaiting a correction) after its due time."""
        return not self.state.final and now > self.due_at


def case_state(tasks: Iterable[Task]) -> CaseState:
    """The one place a case's state comes from: its tasks."""
    states = [task.state for task in tasks]
    if TaskState.REJECTED in states:
        return CaseState.REJECTED
    if states and all(state is TaskState.APPROVED for state in states):
        return CaseState.APPROVED
    return CaseState.OPEN


@dataclass
class Case:
    """The case of one call: its number, the phone that may look it up, its tasks."""

    number: str
    call_id: str
    phone: str
    partition: str
    created_at: float
    tasks: list[Task] = field(default_factory=list)
    closed_at: float | None = None
    receipt_code: str | None = None

    @property
    def state(self) -> CaseState:
        return case_state(self.tasks)

    @classmethod
    def open(cls, number: str, call_id: str, phone: str, partition: str,
             now: float) -> tuple[Case, list[CaseEvent]]:
        """A new case without tasks (``add_submission`` adds them)."""
        parse_case_number(number)
        case = cls(number=number, call_id=call_id, phone=phone, partition=partition,
                   created_at=now)
        return case, [CaseOpened(number, call_id, phone, partition, now)]

    def task(self, task_id: str) -> Task:
        for task in self.tasks:
            if task.id == task_id:
                return task
        raise CaseError("unknown_task", f"case {self.number} has no task {task_id!r}")

    # ------------------------------------------------------------ moves

    def add_submission(self, submission_id: str, matter: str, departments: Sequence[str],
                       due_at: float, now: float) -> list[CaseEvent]:
        """A stored submission of ``matter`` joins the case: one task per department."""
        self._check_open()
        if not departments:
            raise CaseError("no_departments", f"matter {matter!r} names no department")
        if any(submission_id in task.submissions for task in self.tasks):
            raise CaseError("duplicate_submission", f"{submission_id} is already in the case")
        events: list[CaseEvent] = []
        for department in dict.fromkeys(departments):
            task = next((t for t in self.tasks
                         if t.department == department and not t.state.final), None)
            if task is None:
                task = Task(id=f"{self.number}-{len(self.tasks) + 1}", department=department,
                            matters=[matter], submissions=[submission_id], due_at=due_at,
                            created_at=now)
                self.tasks.append(task)
                events.append(TaskCreated(self.number, task.id, department, (matter,),
                                          (submission_id,), due_at, now))
                continue
            if matter not in task.matters:
                task.matters.append(matter)
            task.submissions.append(submission_id)
            task.due_at = max(task.due_at, due_at)
            if task.state is TaskState.CORRECTION:
                events.extend(self._resubmit(task, submission_id, now))
            else:
                events.append(TaskExtended(self.number, task.id, department, matter,
                                           submission_id, task.due_at, now))
        return events

    def decide(self, task_id: str, decision: Decision | str, by: str, reason: str | None,
               now: float) -> list[CaseEvent]:
        """A department's decision on its task; closes the case when that ends it."""
        task = self.task(task_id)
        try:
            decision = Decision(decision)
        except ValueError:
            raise CaseError("invalid_decision", f"{decision!r} is not approve, reject or "
                            "correction") from None
        reason = (reason or "").strip() or None
        if decision in REASON_REQUIRED and reason is None:
            raise CaseError("reason_required", f"{decision.value} needs a reason")
        if reason is not None and len(reason) > MAX_REASON:
            raise CaseError("reason_too_long", f"a reason has at most {MAX_REASON} characters")
        state = _next_state(task, decision.value)
        self._check_open()
        task.state = state
        task.decided_at, task.decided_by, task.reason = now, by, reason
        events: list[CaseEvent] = [TaskDecided(self.number, task.id, task.department,
                                               decision, task.state, by, reason, now)]
        return events + self._close_if_done(now)

    def resubmitted(self, task_id: str, now: float,
                    submission_id: str | None = None) -> list[CaseEvent]:
        """The caller corrected a task in ``correction``; it is pending again."""
        task = self.task(task_id)
        _next_state(task, "resubmit")
        self._check_open()
        return self._resubmit(task, submission_id, now)

    # ------------------------------------------------------------ helpers

    def _resubmit(self, task: Task, submission_id: str | None, now: float) -> list[CaseEvent]:
        task.state = _next_state(task, "resubmit")
        task.decided_at = task.decided_by = task.reason = None
        return [TaskResubmitted(self.number, task.id, task.department, submission_id, now)]

    def _check_open(self) -> None:
        if self.state is not CaseState.OPEN:
            raise CaseError("case_closed", f"case {self.number} is {self.state.value}")

    def _close_if_done(self, now: float) -> list[CaseEvent]:
        state = self.state
        if state is CaseState.OPEN:
            return []
        self.closed_at = now
        to_fix = tuple((t.department, t.reason or "") for t in self.tasks
                       if t.state is TaskState.REJECTED)
        return [CaseClosed(self.number, state, to_fix, now)]


# ---------------------------------------------------------------- numbers and times


def case_number(prefix: str, now: float, sequence: int) -> str:
    """``HY-20261130-000123``: prefix, the China date of ``now``, the day's sequence."""
    if not 1 <= sequence <= 999_999:
        raise ValueError(f"daily sequence {sequence} out of 1..999999")
    day = datetime.fromtimestamp(now, CHINA).strftime("%Y%m%d")
    return f"{prefix}-{day}-{sequence:06d}"


def parse_case_number(number: str) -> tuple[str, str, int]:
    """``(prefix, YYYYMMDD, sequence)`` of a case number; ``CaseError`` if it is not one."""
    prefix, _, rest = number.rpartition("-")
    prefix, _, day = prefix.rpartition("-")
    if not (prefix and len(day) == 8 and day.isdigit() and len(rest) == 6 and rest.isdigit()
            and prefix.replace("-", "").isalnum()):
        raise CaseError("invalid_case_number", f"{number!r} is not a case number")
    return prefix, day, int(rest)


def due_at(start: float, minutes: int) -> float:
    """When a task started at ``start`` with ``minutes`` of work is due, counting only the
    department's working time (:data:`WORKDAY_START`–:data:`WORKDAY_END` China time,
    Monday to Friday; public holidays and make-up working days are not modelled)."""
    moment = datetime.fromtimestamp(start, CHINA)
    remaining = timedelta(minutes=minutes)
    while True:
        day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        opens, closes = day + WORKDAY_START, day + WORKDAY_END
        if moment.weekday() >= 5 or moment >= closes:
            moment = day + timedelta(days=1) + WORKDAY_START
            continue
        moment = max(moment, opens)
        if moment + remaining <= closes:
            return (moment + remaining).astimezone(UTC).timestamp()
        remaining -= closes - moment
        moment = day + timedelta(days=1) + WORKDAY_START
