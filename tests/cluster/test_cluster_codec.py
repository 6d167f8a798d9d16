"""The log's JSON codec: every routing event and action survives the trip exactly, and
anything malformed is refused the same way on every node."""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from signaling.cluster import codec
from signaling.routing import actions as act
from signaling.routing import events as ev

pytestmark = pytest.mark.filterwarnings(
    "ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning")



def defined_in(module: object) -> set[type]:
    return {cls for cls in vars(module).values() if isinstance(cls, type)
            and dataclasses.is_dataclass(cls) and cls.__module__ == module.__name__}  # type: ignore[attr-defined]


def test_every_event_and_action_class_has_a_codec() -> None:
    assert defined_in(ev) == set(codec.EVENT_TYPES.values())
    assert defined_in(act) == set(codec.ACTION_TYPES.values())


@pytest.mark.parametrize("cls", list(codec.EVENT_TYPES.values()), ids=list(codec.EVENT_TYPES))
@settings(max_examples=30, deadline=None, database=None)
@given(data=st.data())
def test_events_round_trip_through_json_text(cls: type, data: st.DataObject) -> None:
    event = data.draw(st.from_type(cls))
    assume(not any(value != value for value in vars(event).values()))  # NaN is never equal
    text = json.dumps(codec.encode_event(event))
    assert codec.decode_event(json.loads(text)) == event


@pytest.mark.parametrize("cls", list(codec.ACTION_TYPES.values()),
                         ids=list(codec.ACTION_TYPES))
@settings(max_examples=30, deadline=None, database=None)
@given(data=st.data())
def test_actions_round_trip_through_json_text(cls: type, data: st.DataObject) -> None:
    action = data.draw(st.from_type(cls))
    assume(not any(value != value for value in vars(action).values()))  # NaN is never equal
    text = json.dumps(codec.encode_action(action))
    assert codec.decode_action(json.loads(text)) == action


def test_a_call_request_reads_as_plain_json() -> None:
    event = ev.CallRequested("c1", "tax", ev.Origin.INVITE, "d1", 2, "Ms Li", "a7")
    assert codec.event_entry(event) == {"kind": "event", "event": {
        "type": "CallRequested", "call_id": "c1", "skill": "tax", "origin": "invite",
        "partition": "d1", "priority": 2, "label": "Ms Li", "target_agent_id": "a7",
        "arrived_at": None}}
    assert codec.decode_event({"type": "CallRequested", "call_id": "c2", "skill": "tax"}) \
        == ev.CallRequested("c2", "tax")  # defaults fill what is left out
    assert codec.tick_entry() == {"kind": "event", "event": {"type": "Tick",
                                                             "reason": "timer"}}


@pytest.mark.parametrize("data", [
    {"type": "Teleport", "agent_id": "a1"},  # unknown type
    {"agent_id": "a1"},  # no type
    {"type": "AgentSetReady"},  # missing field
    {"type": "AgentSetReady", "agent_id": "a1", "extra": 1},  # unknown field
    {"type": "AgentSetReady", "agent_id": 7},  # wrong kind of value
    {"type": "CallRequested", "call_id": "c", "skill": "s", "priority": True},  # bool != int
    {"type": "CallRequested", "call_id": "c", "skill": "s", "origin": "fax"},  # bad enum
    {"type": "AgentLogin", "agent_id": "a", "skills": {"tax": "1"}},  # level not int
    {"type": "AgentSetAutoAnswer", "agent_id": "a", "enabled": 1},  # int != bool
])
def test_malformed_events_are_refused(data: dict[str, object]) -> None:
    with pytest.raises(codec.CodecError):
        codec.decode_event(data)


def test_entries_are_json_objects_with_a_kind() -> None:
    entry = {"kind": "call", "caller": {"call_id": "c1", "language": "zh"}, "n": 1.5}
    assert codec.load_entry(codec.dump_entry(entry)) == entry
    assert codec.load_entry(codec.dump_entry(entry).encode()) == entry
    for bad in ({"no": "kind"}, {"kind": 3}, {"kind": "x", "t": float("nan")},
                {"kind": "x", "s": {1, 2}}):
        with pytest.raises(codec.CodecError):
            codec.dump_entry(bad)
    for text in ("[1]", "{", '"kind"', '{"kind": null}'):
        with pytest.raises(codec.CodecError):
            codec.load_entry(text)
