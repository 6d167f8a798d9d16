"""The case and task state machine, fed moves and checked for events (no server, no clock)."""

from __future__ import annotations

from datetime import datetime

import pytest

from signaling.matters import cases as c
from signaling.matters.cases import (
    CHINA,
    TASK_TRANSITIONS,
    Case,
    CaseClosed,
    CaseError,
    CaseOpened,
    CaseState,
    Decision,
    TaskCreated,
    TaskDecided,
    TaskExtended,
    TaskResubmitted,
    TaskState,
)

T0 = datetime(2026, 11, 30, 10, 0, tzinfo=CHINA).timestamp()  # a Monday, 10:00


def opened(number: str = "HY-20261130-000001") -> Case:
    case, events = Case.open(number, "call-1", "13800138000", "haiyan", T0)
    assert events == [CaseOpened(number, "call-1", "13800138000", "haiyan", T0)]
    assert case.state is CaseState.OPEN and case.tasks == []
    return case


def water_and_gas() -> Case:
    case = opened()
    case.add_submission("s-1", "water-transfer", ["water-company"], T0 + 600, T0)
    case.add_submission("s-2", "gas-transfer", ["gas-company"], T0 + 900, T0 + 1)
    return case


def test_each_department_gets_one_task_started_at_once() -> None:
    case = opened()
    events = case.add_submission("s-1", "water-transfer", ["water-company"], T0 + 600, T0)
    assert events == [TaskCreated(case.number, f"{case.number}-1", "water-company",
                                  ("water-transfer",), ("s-1",), T0 + 600, T0)]
    events = case.add_submission("s-2", "gas-transfer", ["gas-company"], T0 + 900, T0 + 1)
    assert [type(e) for e in events] == [TaskCreated]
    assert [(t.department, t.state) for t in case.tasks] == [
        ("water-company", TaskState.PENDING), ("gas-company", TaskState.PENDING)]
    assert case.state is CaseState.OPEN


def test_a_department_named_by_two_matters_gets_one_task_listing_both() -> None:
    case = opened()
    case.add_submission("s-1", "house-move", ["water-company", "gas-company"], T0 + 600, T0)
    events = case.add_submission("s-2", "water-transfer", ["water-company"], T0 + 1200, T0)
    assert events == [TaskExtended(case.number, f"{case.number}-1", "water-company",
                                   "water-transfer", "s-2", T0 + 1200, T0)]
    water = case.tasks[0]
    assert water.matters == ["house-move", "water-transfer"]
    assert water.submissions == ["s-1", "s-2"]
    assert water.due_at == T0 + 1200, "the slowest matter sets the due time"
    assert len(case.tasks) == 2


def test_a_later_matter_for_a_decided_department_gets_a_new_task() -> None:
    case = water_and_gas()
    case.decide(case.tasks[0].id, "approve", "rev-w", None, T0 + 10)
    events = case.add_submission("s-3", "water-meter", ["water-company"], T0 + 99, T0 + 11)
    assert [type(e) for e in events] == [TaskCreated]
    assert len(case.tasks) == 3 and case.tasks[2].department == "water-company"


def test_every_task_approved_approves_the_case() -> None:
    case = water_and_gas()
    water, gas = case.tasks
    events = case.decide(gas.id, Decision.APPROVE, "webhook:gas-company", None, T0 + 20)
    assert events == [TaskDecided(case.number, gas.id, "gas-company", Decision.APPROVE,
                                  TaskState.APPROVED, "webhook:gas-company", None, T0 + 20)]
    assert case.state is CaseState.OPEN and case.closed_at is None
    events = case.decide(water.id, "approve", "rev-w", "", T0 + 30)
    assert events[-1] == CaseClosed(case.number, CaseState.APPROVED, (), T0 + 30)
    assert c.case_state(case.tasks) is CaseState.APPROVED and case.closed_at == T0 + 30
    assert water.decided_by == "rev-w" and water.decided_at == T0 + 30


def test_a_rejected_task_ends_the_case_with_what_to_fix() -> None:
    case = water_and_gas()
    water, gas = case.tasks
    events = case.decide(water.id, "reject", "rev-w", " 户号与户名不符 ", T0 + 5)
    assert events[0].state is TaskState.REJECTED  # type: ignore[union-attr]
    assert events[1] == CaseClosed(case.number, CaseState.REJECTED,
                                   (("water-company", "户号与户名不符"),), T0 + 5)
    assert case.state is CaseState.REJECTED
    with pytest.raises(CaseError) as refused:
        case.decide(gas.id, "approve", "rev-g", None, T0 + 6)
    assert refused.value.code == "case_closed"
    with pytest.raises(CaseError) as refused:
        case.add_submission("s-9", "gas-transfer", ["gas-company"], T0, T0 + 7)
    assert refused.value.code == "case_closed"
    assert gas.state is TaskState.PENDING


def test_correction_then_resubmission_then_approval() -> None:
    case = water_and_gas()
    water, gas = case.tasks
    case.decide(water.id, "correction", "rev-w", "请补充房产证第二页", T0 + 5)
    assert water.state is TaskState.CORRECTION and water.reason == "请补充房产证第二页"
    assert case.state is CaseState.OPEN
    # the caller corrects the form in a call: the new submission resubmits the task
    events = case.add_submission("s-3", "water-transfer", ["water-company"], T0 + 700, T0 + 9)
    assert events == [TaskResubmitted(case.number, water.id, "water-company", "s-3", T0 + 9)]
    assert case.task(water.id).state is TaskState.PENDING and water.reason is None
    assert water.submissions == ["s-1", "s-3"]
    case.decide(water.id, "approve", "rev-w", None, T0 + 10)
    case.decide(gas.id, "approve", "rev-g", None, T0 + 11)
    assert case.state is CaseState.APPROVED


def test_resubmitted_moves_a_task_in_correction_back_to_pending() -> None:
    case = water_and_gas()
    water = case.tasks[0]
    case.decide(water.id, "correction", "rev-w", "缺少签名", T0 + 5)
    assert case.resubmitted(water.id, T0 + 6) == [
        TaskResubmitted(case.number, water.id, "water-company", None, T0 + 6)]
    assert water.state is TaskState.PENDING


def test_a_task_in_correction_may_still_be_rejected() -> None:
    case = water_and_gas()
    water = case.tasks[0]
    case.decide(water.id, "correction", "rev-w", "缺少签名", T0 + 5)
    case.decide(water.id, "reject", "rev-w", "逾期未补正", T0 + 6)
    assert case.state is CaseState.REJECTED


# ---------------------------------------------------------------- every move of the table

MOVES = ("approve", "reject", "correction", "resubmit")


def task_in(state: TaskState) -> tuple[Case, str]:
    """A case whose first task is in ``state`` (and a second task keeps the case open)."""
    case = water_and_gas()
    task_id = case.tasks[0].id
    case.tasks[0].state = state
    return case, task_id


def move(case: Case, task_id: str, name: str) -> list[c.CaseEvent]:
    if name == "resubmit":
        return case.resubmitted(task_id, T0 + 50)
    return case.decide(task_id, name, "rev", "理由", T0 + 50)


@pytest.mark.parametrize("state", list(TaskState))
@pytest.mark.parametrize("name", MOVES)
def test_every_move_from_every_state(state: TaskState, name: str) -> None:
    """The table is the whole truth: a listed move lands where it says, any other raises
    ``illegal_transition`` and changes nothing."""
    case, task_id = task_in(state)
    expected = TASK_TRANSITIONS[state].get(name)
    if expected is None:
        with pytest.raises(CaseError) as refused:
            move(case, task_id, name)
        assert refused.value.code == "illegal_transition"
        assert case.task(task_id).state is state and case.task(task_id).decided_at is None
    else:
        events = move(case, task_id, name)
        assert case.task(task_id).state is expected
        assert events


def test_the_table_matches_the_contract() -> None:
    assert {s: dict(m) for s, m in TASK_TRANSITIONS.items()} == {
        TaskState.PENDING: {"approve": TaskState.APPROVED, "reject": TaskState.REJECTED,
                            "correction": TaskState.CORRECTION},
        TaskState.CORRECTION: {"resubmit": TaskState.PENDING, "reject": TaskState.REJECTED},
        TaskState.APPROVED: {}, TaskState.REJECTED: {}}


@pytest.mark.parametrize("decision", ["reject", "correction"])
@pytest.mark.parametrize("reason", [None, "", "   "])
def test_reject_and_correction_need_a_reason(decision: str, reason: str | None) -> None:
    case = water_and_gas()
    with pytest.raises(CaseError) as refused:
        case.decide(case.tasks[0].id, decision, "rev", reason, T0)
    assert refused.value.code == "reason_required"
    assert case.tasks[0].state is TaskState.PENDING


def test_refused_inputs() -> None:
    case = water_and_gas()
    for task_id, decision, reason, code in [
            ("HY-20261130-000001-9", "approve", None, "unknown_task"),
            (case.tasks[0].id, "maybe", None, "invalid_decision"),
            (case.tasks[0].id, "reject", "长" * 501, "reason_too_long")]:
        with pytest.raises(CaseError) as refused:
            case.decide(task_id, decision, "rev", reason, T0)
        assert refused.value.code == code
    with pytest.raises(CaseError) as refused:
        case.add_submission("s-1", "water-transfer", ["water-company"], T0, T0)
    assert refused.value.code == "duplicate_submission"
    with pytest.raises(CaseError) as refused:
        case.add_submission("s-5", "water-transfer", [], T0, T0)
    assert refused.value.code == "no_departments"
    assert [t.state for t in case.tasks] == [TaskState.PENDING, TaskState.PENDING]


def test_case_state_is_derived_from_the_tasks() -> None:
    case = water_and_gas()
    water, gas = case.tasks
    assert c.case_state([]) is CaseState.OPEN
    for states, expected in [
            ((TaskState.APPROVED, TaskState.PENDING), CaseState.OPEN),
            ((TaskState.APPROVED, TaskState.CORRECTION), CaseState.OPEN),
            ((TaskState.APPROVED, TaskState.APPROVED), CaseState.APPROVED),
            ((TaskState.REJECTED, TaskState.PENDING), CaseState.REJECTED),
            ((TaskState.APPROVED, TaskState.REJECTED), CaseState.REJECTED)]:
        water.state, gas.state = states
        assert c.case_state(case.tasks) is expected and case.state is expected


def test_overdue_is_an_undecided_task_past_its_due_time() -> None:
    case = water_and_gas()
    water = case.tasks[0]
    assert not water.overdue(water.due_at) and water.overdue(water.due_at + 1)
    water.state = TaskState.CORRECTION
    assert water.overdue(water.due_at + 1)
    water.state = TaskState.APPROVED
    assert not water.overdue(water.due_at + 1)


# ---------------------------------------------------------------- numbers and due times


def test_case_numbers_use_the_china_date_and_a_daily_sequence() -> None:
    late_utc = datetime(2026, 11, 29, 16, 30, tzinfo=CHINA).timestamp() + 8 * 3600
    assert c.case_number("HY", late_utc, 123) == "HY-20261130-000123"
    assert c.parse_case_number("HY-20261130-000123") == ("HY", "20261130", 123)
    for wrong in ("HY-2026113-000123", "HY-20261130-12", "20261130-000123", "HY-x-000001"):
        with pytest.raises(CaseError):
            c.parse_case_number(wrong)
    with pytest.raises(ValueError):
        c.case_number("HY", T0, 1_000_000)
    with pytest.raises(CaseError):
        Case.open("not-a-number", "call-1", "", "p", T0)


def at(day: int, hour: int, minute: int = 0) -> float:
    return datetime(2026, 11, day, hour, minute, tzinfo=CHINA).timestamp()


def test_due_times_within_a_working_day() -> None:
    assert c.due_at(at(30, 10), 8) == at(30, 10, 8)


def test_due_times_skip_evenings_nights_and_weekends() -> None:
    monday_1655 = at(30, 16, 55)
    assert c.due_at(monday_1655, 10) == datetime(2026, 12, 1, 8, 35, tzinfo=CHINA).timestamp()
    monday_night = at(30, 22)
    assert c.due_at(monday_night, 8) == datetime(2026, 12, 1, 8, 38,
                                                 tzinfo=CHINA).timestamp()
    early = at(30, 6)
    assert c.due_at(early, 8) == at(30, 8, 38)
    saturday = at(28, 11)
    assert c.due_at(saturday, 8) == at(30, 8, 38)
    friday_late = at(27, 16, 50)
    assert c.due_at(friday_late, 30) == at(30, 8, 50)
    assert c.due_at(at(30, 8, 30), 8 * 60 + 30) == at(30, 17)
    assert c.due_at(at(30, 8, 30), 9 * 60 + 30) == datetime(2026, 12, 1, 9, 30,
                                                            tzinfo=CHINA).timestamp()
