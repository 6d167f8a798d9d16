"""Routing events, routing actions and log entries as explicit JSON (no pickle).

An event or action is ``{"type": <class name>, <field>: <value>, ...}``: every field of
its dataclass, enums by value, mappings as objects. Decoding checks each field against
the dataclass's annotation and refuses anything else (an unknown type, a missing or
extra field, a value of the wrong kind) with ``CodecError``, so a malformed entry is
rejected on every node alike instead of half-applied.

A log entry is a JSON object with a string ``kind``; the log carries it without looking
inside. ``event_entry`` builds the one kind defined here, ``{"kind": "event", "event":
<encoded event>}``, which the leader's ``Tick`` entries use too; every other kind
belongs to the hub (``signaling/live/state.py``).
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from enum import Enum
from typing import Any

from ..routing import actions as act
from ..routing import events as ev

CODEC_VERSION = 1
"""Written into snapshots; a node refuses a snapshot of another codec version."""

EVENT_KIND = "event"
"""The entry kind of a routing event: ``{"kind": "event", "event": {...}}``."""

EVENT_TYPES: dict[str, type] = {cls.__name__: cls for cls in typing.get_args(ev.Event)}
ACTION_TYPES: dict[str, type] = {cls.__name__: cls for cls in typing.get_args(act.Action)}


class CodecError(ValueError):
    """The JSON is not a valid event, action or entry."""


# ---------------------------------------------------------------------------- events


def encode_event(event: ev.Event) -> dict[str, Any]:
    """A routing event as JSON-ready data."""
    return _encode(event, EVENT_TYPES)


def decode_event(data: Mapping[str, Any]) -> ev.Event:
    """The routing event ``encode_event`` wrote; raises CodecError for anything else."""
    event: ev.Event = _decode(data, EVENT_TYPES)
    return event


def encode_action(action: act.Action) -> dict[str, Any]:
    """A routing action as JSON-ready data."""
    return _encode(action, ACTION_TYPES)


def decode_action(data: Mapping[str, Any]) -> act.Action:
    """The routing action ``encode_action`` wrote; raises CodecError for anything else."""
    action: act.Action = _decode(data, ACTION_TYPES)
    return action


# ---------------------------------------------------------------------------- entries


def event_entry(event: ev.Event) -> dict[str, Any]:
    """The log entry that feeds ``event`` to the partition's engine."""
    return {"kind": EVENT_KIND, "event": encode_event(event)}


def tick_entry() -> dict[str, Any]:
    """The entry the leader appends when the machine's next deadline has passed."""
    return event_entry(ev.Tick())


def dump_entry(entry: Mapping[str, Any]) -> str:
    """An entry as compact JSON text, checked to be a JSON object with a string kind."""
    check_entry(entry)
    try:
        return json.dumps(entry, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise CodecError(f"entry is not JSON: {exc}") from exc


def load_entry(text: str | bytes) -> dict[str, Any]:
    """The entry ``dump_entry`` wrote; raises CodecError for anything else."""
    try:
        entry = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CodecError(f"entry is not JSON: {exc}") from exc
    check_entry(entry)
    result: dict[str, Any] = entry
    return result


def check_entry(entry: object) -> None:
    if not isinstance(entry, dict) or not isinstance(entry.get("kind"), str):
        raise CodecError("an entry is a JSON object with a string 'kind'")


# ---------------------------------------------------------------------------- machinery


def _encode(value: ev.Event | act.Action, registry: dict[str, type]) -> dict[str, Any]:
    name = type(value).__name__
    if registry.get(name) is not type(value):
        raise CodecError(f"{name} is not a known type")
    data: dict[str, Any] = {"type": name}
    for field in dataclasses.fields(value):
        data[field.name] = _to_json(getattr(value, field.name))
    return data


def _to_json(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): _to_json(v) for k, v in value.items()}
    return value


def _decode(data: Mapping[str, Any], registry: dict[str, type]) -> Any:
    if not isinstance(data, Mapping):
        raise CodecError("expected a JSON object")
    fields = dict(data)
    name = fields.pop("type", None)
    cls = registry.get(name) if isinstance(name, str) else None
    if cls is None:
        raise CodecError(f"unknown type {name!r}")
    hints = _hints(cls)
    unknown = set(fields) - set(hints)
    if unknown:
        raise CodecError(f"{name}: unknown fields {sorted(unknown)}")
    values = {}
    for field in dataclasses.fields(cls):
        if field.name in fields:
            values[field.name] = _from_json(fields[field.name], hints[field.name],
                                            f"{name}.{field.name}")
        elif (field.default is dataclasses.MISSING
              and field.default_factory is dataclasses.MISSING):
            raise CodecError(f"{name}: missing field {field.name!r}")
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise CodecError(f"{name}: {exc}") from exc


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _from_json(value: Any, hint: Any, where: str) -> Any:
    """``value`` checked against (and converted to) the annotation ``hint``."""
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            try:
                return _from_json(value, option, where)
            except CodecError:
                continue
        raise CodecError(f"{where}: {value!r} fits none of {hint}")
    if origin in (Mapping, dict, typing.Mapping):
        key_hint, value_hint = typing.get_args(hint)
        if not isinstance(value, Mapping):
            raise CodecError(f"{where}: expected an object")
        return {_from_json(k, key_hint, where): _from_json(v, value_hint, where)
                for k, v in value.items()}
    if isinstance(hint, type) and issubclass(hint, Enum):
        try:
            return hint(value)
        except ValueError as exc:
            raise CodecError(f"{where}: {exc}") from exc
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            return value
    else:
        raise CodecError(f"{where}: no JSON rule for {hint}")
    raise CodecError(f"{where}: expected {hint.__name__}, got {type(value).__name__}")
