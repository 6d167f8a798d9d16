"""The ticket state machine, fed moves and checked for events (no server, no clock)."""

from __future__ import annotations

from datetime import datetime
from itertools import product

import pytest

from signaling.matters.cases import CHINA
from signaling.matters.tickets import (
    TICKET_TRANSITIONS,
    WORKDAY_MINUTES,
    Owner,
    Ticket,
    TicketChanged,
    TicketCreated,
    TicketError,
    TicketKind,
    TicketState,
    parse_ticket_number,
    ticket_due_at,
    ticket_number,
)

T0 = datetime(2026, 11, 30, 10, 0, tzinfo=CHINA).timestamp()  # a Monday, 10:00
DAYS = {"complaint": 3, "inquiry": 1, "assistance": 1, "suggestion": 5}
ME = Owner(agent="agent-1")
WATER = Owner(department="water-company")
NUMBER = "HY-T-20261130-000001"


def at(day: int, hour: int, minute: int = 0) -> float:
    return datetime(2026, 11 if day >= 30 else 12, day, hour, minute,
                    tzinfo=CHINA).timestamp()


def created(kind: str = "complaint") -> Ticket:
    ticket, events = Ticket.create(NUMBER, kind, " 噪音扰民 ", "夜间施工", "13800138000", ME,
                                   "agent-1", T0 + 100, T0, call_id="call-1",
                                   matter="water-transfer" if kind == "matter" else None)
    assert events == [TicketCreated(NUMBER, TicketKind(kind), ME, "call-1", T0 + 100,
                                    "agent-1", T0)]
    assert ticket.state is TicketState.OPEN and ticket.subject == "噪音扰民"
    assert ticket.notes == [{"at": T0, "by": "agent-1", "text": None, "state": "open"}]
    return ticket


def in_state(state: TicketState) -> Ticket:
    ticket = created()
    path = {TicketState.OPEN: [], TicketState.IN_PROGRESS: ["in_progress"],
            TicketState.RESOLVED: ["in_progress", "resolved"],
            TicketState.CLOSED: ["in_progress", "resolved", "closed"]}[state]
    for step in path:
        ticket.move(step, "agent-1", None, T0 + 1)
    assert ticket.state is state
    return ticket


def test_the_kinds_are_the_hotlines_four_and_a_matter() -> None:
    assert [k.value for k in TicketKind] == ["matter", "complaint", "inquiry", "assistance",
                                             "suggestion"]
    for kind in ("complaint", "inquiry", "assistance", "suggestion", "matter"):
        created(kind)
    with pytest.raises(TicketError) as error:
        Ticket.create(NUMBER, "praise", "s", "", "", ME, "a", T0, T0)
    assert error.value.code == "invalid_kind"


def test_a_ticket_is_checked_when_created() -> None:
    for subject, code in (("  ", "invalid_subject"), ("x" * 101, "invalid_subject")):
        with pytest.raises(TicketError) as error:
            Ticket.create(NUMBER, "inquiry", subject, "", "", ME, "a", T0, T0)
        assert error.value.code == code
    with pytest.raises(TicketError) as error:
        Ticket.create(NUMBER, "inquiry", "s", "x" * 2001, "", ME, "a", T0, T0)
    assert error.value.code == "invalid_description"
    with pytest.raises(TicketError) as error:
        Ticket.create(NUMBER, "matter", "s", "", "", ME, "a", T0, T0)
    assert error.value.code == "matter_required"
    with pytest.raises(TicketError) as error:
        Ticket.create("HY-20261130-000001", "inquiry", "s", "", "", ME, "a", T0, T0)
    assert error.value.code == "invalid_ticket_number"
    with pytest.raises(TicketError) as error:
        Owner()
    assert error.value.code == "invalid_owner"
    with pytest.raises(TicketError):
        Owner(agent="a", department="d")


@pytest.mark.parametrize("before,after", list(product(TicketState, TicketState)))
def test_every_move_is_legal_or_refused_by_the_table(before: TicketState,
                                                     after: TicketState) -> None:
    ticket = in_state(before)
    notes = len(ticket.notes)
    if after in TICKET_TRANSITIONS[before]:
        events = ticket.move(after, "reviewer-1", " 已处理 ", T0 + 50)
        assert events == [TicketChanged(NUMBER, before, after, ME, None, "已处理",
                                        "reviewer-1", T0 + 50)]
        assert ticket.state is after and ticket.updated_at == T0 + 50
        assert ticket.notes[-1] == {"at": T0 + 50, "by": "reviewer-1", "text": "已处理",
                                    "state": after.value}
    else:
        with pytest.raises(TicketError) as error:
            ticket.move(after, "reviewer-1", "x", T0 + 50)
        assert error.value.code == "illegal_transition"
        assert ticket.state is before and len(ticket.notes) == notes


def test_the_legal_moves_are_exactly_the_lifecycle() -> None:
    legal = {(b.value, a.value) for b, targets in TICKET_TRANSITIONS.items() for a in targets}
    assert legal == {("open", "in_progress"), ("in_progress", "resolved"),
                     ("resolved", "closed"), ("resolved", "in_progress")}


def test_resolving_and_reopening_keep_the_resolution_time() -> None:
    ticket = in_state(TicketState.IN_PROGRESS)
    ticket.move("resolved", "a", None, T0 + 10)
    assert ticket.resolved_at == T0 + 10
    ticket.move("in_progress", "a", "caller says it is not fixed", T0 + 20)
    assert ticket.resolved_at is None and ticket.state is TicketState.IN_PROGRESS


def test_unknown_state_and_long_note_are_refused() -> None:
    ticket = created()
    with pytest.raises(TicketError) as error:
        ticket.move("done", "a", None, T0)
    assert error.value.code == "invalid_state"
    with pytest.raises(TicketError) as error:
        ticket.move("in_progress", "a", "x" * 501, T0)
    assert error.value.code == "note_too_long" and ticket.state is TicketState.OPEN


@pytest.mark.parametrize("state", list(TicketState))
def test_open_and_in_progress_tickets_change_owner_and_keep_their_state(
        state: TicketState) -> None:
    ticket = in_state(state)
    if state in (TicketState.OPEN, TicketState.IN_PROGRESS):
        events = ticket.transfer(WATER, "agent-1", "供水问题", T0 + 5)
        assert events == [TicketChanged(NUMBER, state, state, WATER, ME, "供水问题",
                                        "agent-1", T0 + 5)]
        assert ticket.owner == WATER and ticket.state is state
        assert ticket.notes[-1]["owner"] == {"department": "water-company"}
        with pytest.raises(TicketError) as error:
            ticket.transfer(WATER, "agent-1", None, T0 + 6)
        assert error.value.code == "same_owner"
    else:
        with pytest.raises(TicketError) as error:
            ticket.transfer(WATER, "agent-1", None, T0 + 5)
        assert error.value.code == "illegal_transition" and ticket.owner == ME


def test_overdue_only_while_unresolved() -> None:
    ticket = created()
    assert not ticket.overdue(ticket.due_at) and ticket.overdue(ticket.due_at + 1)
    ticket.move("in_progress", "a", None, T0)
    assert ticket.overdue(ticket.due_at + 1)
    ticket.move("resolved", "a", None, T0)
    assert not ticket.overdue(ticket.due_at + 1)


def test_due_times_count_working_days_by_kind() -> None:
    assert WORKDAY_MINUTES == 510
    assert ticket_due_at("inquiry", T0, DAYS) == at(1, 10)  # Tuesday 10:00
    assert ticket_due_at("assistance", T0, DAYS) == at(1, 10)
    assert ticket_due_at("complaint", T0, DAYS) == at(3, 10)  # Thursday
    assert ticket_due_at("suggestion", T0, DAYS) == at(7, 10)  # next Monday (weekend skipped)
    friday = datetime(2026, 12, 4, 16, 0, tzinfo=CHINA).timestamp()
    assert ticket_due_at("inquiry", friday, DAYS) == at(7, 16)
    assert ticket_due_at("matter", T0, DAYS, norm_minutes=30) == at(30, 10, 30)
    with pytest.raises(TicketError):
        ticket_due_at("matter", T0, DAYS)


def test_numbers() -> None:
    assert ticket_number("HY", T0, 12) == "HY-T-20261130-000012"
    assert parse_ticket_number("HY-T-20261130-000012") == ("HY", "20261130", 12)
    for bad in ("HY-20261130-000012", "HY-T-2026113-000012", "HY-X-20261130-000012",
                "HY-T-20261130-00001２", "-T-20261130-000012"):
        with pytest.raises(TicketError):
            parse_ticket_number(bad)
    with pytest.raises(ValueError):
        ticket_number("HY", T0, 1_000_000)


def test_the_public_view_is_kind_state_due_and_last_update() -> None:
    ticket = created()
    assert ticket.public_json() == {"number": NUMBER, "ticket": True, "kind": "complaint",
                                    "state": "open", "due_at": T0 + 100, "updated_at": T0}
