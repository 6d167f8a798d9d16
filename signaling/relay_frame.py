"""The fast path for SDP and ICE: checked as strictly as ``protocol.Sdp``/``protocol.Ice``,
serialized once, forwarded as text.

SDP and ICE are nearly all the messages of a call, and the only ones the server merely
passes on. Validating them through the pydantic union and serializing them again costs
more than everything else the relay does, so ``read_relay`` checks the two small envelopes
by hand and builds the outgoing frame at once. It accepts only what the strict models
accept (same fields, same types, same limits); anything else, even a message the models
might take, returns ``None`` and goes through ``protocol.parse_*_message`` as before, which
gives the exact error. The frame it builds carries the same JSON as the old
``model_dump`` + ``outbound`` did, in the same key order, and byte for byte what
``encode`` would make of it; it is put together from the checked parts (each string
escaped by the json module's own C function) instead of a dict and the encoder, which
cost as much as the parsing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from json.encoder import encode_basestring
from json.scanner import make_scanner
from typing import Any, NamedTuple

from . import protocol as p

#: one encoder for every frame the server writes (``json.dumps`` with arguments builds a
#: new encoder per call)
ENCODER = json.JSONEncoder(ensure_ascii=False)
encode = ENCODER.encode

_CALL_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SDP_KEYS = frozenset({"type", "v", "call_id", "description"})
_ICE_KEYS = frozenset({"type", "v", "call_id", "candidate"})
_DESCRIPTION_KEYS = frozenset({"type", "sdp"})
_CANDIDATE_KEYS = frozenset({"candidate", "sdpMid", "sdpMLineIndex", "usernameFragment"})
_DESCRIPTION_TYPES = frozenset({"offer", "answer"})
_VERSION = p.PROTOCOL_VERSION
_SDP_HEAD = f'{{"type": "sdp", "v": {_VERSION}, "call_id": "'
_ICE_HEAD = f'{{"type": "ice", "v": {_VERSION}, "call_id": "'
_MAX_DEPTH = p.MAX_JSON_DEPTH
#: json's own C scanner, without ``json.loads``' wrapper (a message with whitespace around
#: it is left to the strict path)
_scan: Callable[[str, int], tuple[Any, int]] = make_scanner(
    json.JSONDecoder())  # type: ignore[arg-type]  # (typeshed has the class as its argument)


class RelayFrame(NamedTuple):
    """An SDP or ICE message for the other party: who it is for, and the frame to send
    (a named tuple: one is made per relayed message)."""

    #: ``sdp`` or ``ice``
    type: str
    call_id: str
    #: the outgoing JSON text (``type``, ``v``, ``call_id`` and the payload)
    text: str

    @classmethod
    def from_model(cls, message: p.Sdp | p.Ice) -> RelayFrame:
        """The frame of a message that came through the pydantic models."""
        payload = message.model_dump(exclude={"v"}, exclude_none=message.type == "sdp")
        payload.pop("type")
        return cls(message.type, message.call_id,
                   encode(p.outbound(message.type, **payload)))


def _optional_str(value: Any, limit: int) -> str | None:
    """The JSON of a string up to ``limit`` characters or null; None if it is neither."""
    if value is None:
        return "null"
    if type(value) is str and len(value) <= limit:
        return encode_basestring(value)
    return None


def _candidate(value: Any) -> str | None:
    """The candidate's JSON as it goes out (``null`` for end-of-candidates), ``None`` if
    it is not one the strict model certainly accepts."""
    if value is None:
        return "null"
    if type(value) is not dict or not value.keys() <= _CANDIDATE_KEYS:
        return None
    text = value.get("candidate")
    line = value.get("sdpMLineIndex")
    if type(text) is not str or len(text) > 2048:
        return None
    if line is None:
        line_json = "null"
    elif type(line) is int and 0 <= line <= 64:
        line_json = str(line)
    else:
        return None
    mid = _optional_str(value.get("sdpMid"), 64)
    fragment = _optional_str(value.get("usernameFragment"), 256)
    if mid is None or fragment is None:
        return None
    return (f'{{"candidate": {encode_basestring(text)}, "sdpMid": {mid}, '
            f'"sdpMLineIndex": {line_json}, "usernameFragment": {fragment}}}')


def read_relay(raw: str | bytes, limit: int) -> RelayFrame | None:
    """An SDP or ICE message the strict models certainly accept, as a frame to forward;
    ``None`` for anything else (the caller then parses it the usual way)."""
    if (type(raw) is not str or len(raw) > limit or '"type"' not in raw
            or "\\u" in raw):  # escapes may hide lone surrogates: leave them to pydantic
        return None
    if ('"sdp"' not in raw and '"ice"' not in raw) or (
            not raw.isascii() and len(raw.encode()) > limit):
        return None
    if raw.count("{") + raw.count("[") > _MAX_DEPTH:
        return None
    try:
        data, end = _scan(raw, 0)
    except (ValueError, StopIteration):
        return None
    if type(data) is not dict or end != len(raw):
        return None
    kind = data.get("type")
    call_id = data.get("call_id")
    version = data.get("v", _VERSION)
    if (type(call_id) is not str or _CALL_ID.fullmatch(call_id) is None
            or type(version) is not int or version != _VERSION):
        return None
    # (the call id is letters, digits, _ and -: nothing in it to escape)
    if kind == "sdp":
        description = data.get("description")
        if (not data.keys() <= _SDP_KEYS or type(description) is not dict
                or description.keys() != _DESCRIPTION_KEYS):
            return None
        sdp = description["sdp"]
        if (type(description["type"]) is not str
                or description["type"] not in _DESCRIPTION_TYPES
                or type(sdp) is not str or not 1 <= len(sdp) <= 60_000):
            return None
        return RelayFrame(kind, call_id, (
            f'{_SDP_HEAD}{call_id}", "description": {{"type": "{description["type"]}", '
            f'"sdp": {encode_basestring(sdp)}}}}}'))
    if kind == "ice":
        if not data.keys() <= _ICE_KEYS:
            return None
        candidate = _candidate(data.get("candidate"))
        if candidate is None:
            return None
        return RelayFrame(kind, call_id, f'{_ICE_HEAD}{call_id}", "candidate": {candidate}}}')
    return None
