"""Admission (signaling/live/admission.py): which load readings turn a call request away."""

from __future__ import annotations

import random

from signaling.live.admission import LAG_SAMPLES, Admission, Overload


def admission(**limits: float) -> Admission:
    options = {"max_loop_lag": 0.5, "max_record_backlog": 100, "max_identifying": 4,
               "retry_after_ms": 2000, **limits}
    return Admission(rng=random.Random(7), **options)  # type: ignore[arg-type]


def test_a_lone_pause_sheds_nothing_but_a_loop_that_stays_behind_does() -> None:
    gate = admission()
    gate.observe_loop_lag(3.0)  # one garbage collection
    assert gate.refusal(record_backlog=0) is None

    for _ in range(LAG_SAMPLES):
        gate.observe_loop_lag(0.8)
    assert gate.refusal(record_backlog=0) is Overload.LOOP_LAG

    gate.observe_loop_lag(0.01)  # caught up
    assert gate.refusal(record_backlog=0) is None
    assert gate.refused[Overload.LOOP_LAG] == 1


def test_record_backlog_identifications_and_store_writes_under_way_shed() -> None:
    gate = admission()
    assert gate.refusal(record_backlog=100) is None
    assert gate.refusal(record_backlog=101) is Overload.RECORD_BACKLOG
    gate.identifying = 4
    assert gate.refusal(record_backlog=0) is Overload.IDENTIFYING
    gate.identifying = 0
    assert gate.refusal(record_backlog=0, store_backlog=500) is None
    assert gate.refusal(record_backlog=0, store_backlog=501) is Overload.STORE_BACKLOG


def test_the_retry_hint_is_jittered_around_its_mean() -> None:
    gate = admission()
    hints = [gate.retry_after_ms() for _ in range(200)]
    assert all(1000 <= hint <= 3000 for hint in hints)
    assert len(set(hints)) > 100  # refused callers do not all come back at once
