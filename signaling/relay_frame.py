"""The fast path for SDP and ICE: checked as strictly as ``protocol.Sdp``/``protocol.Ice``,
serialized once, forwarded as text.

SDP and ICE are nearly all the messages of a call, and the only ones the server merely
passes on. Validating them through the pydantic union and serializing them again costs
more than everything else the relay does, so ``read_relay`` checks the two small envelopes
by hand and builds the outgoing frame at once. It accepts only what the strict models
accept (same fields, same types, same limits); anything else, even a message the models
might take, returns ``None`` and goes through ``protocol.parse_*_message`` as before, which
gives the exact error. The frame it builds carries the same JSON as the old
``model_dump`` + ``outbound`` did, in the same key order.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

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


@dataclass(frozen=True, slots=True)
class RelayFrame:
    """An SDP or ICE message for the other party: who it is for, and the frame to send."""

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


def _optional_str(value: Any, limit: int) -> bool:
    return value is None or (type(value) is str and len(value) <= limit)


def _candidate(value: Any) -> dict[str, Any] | None | bool:
    """The candidate as it goes out, ``None`` for end-of-candidates, ``False`` if it is
    not one the strict model certainly accepts."""
    if value is None:
        return None
    if type(value) is not dict or not value.keys() <= _CANDIDATE_KEYS:
        return False
    text = value.get("candidate")
    line = value.get("sdpMLineIndex")
    if (type(text) is not str or len(text) > 2048
            or not _optional_str(value.get("sdpMid"), 64)
            or not (line is None or (type(line) is int and 0 <= line <= 64))
            or not _optional_str(value.get("usernameFragment"), 256)):
        return False
    return {"candidate": text, "sdpMid": value.get("sdpMid"), "sdpMLineIndex": line,
            "usernameFragment": value.get("usernameFragment")}


def read_relay(raw: str | bytes, limit: int) -> RelayFrame | None:
    """An SDP or ICE message the strict models certainly accept, as a frame to forward;
    ``None`` for anything else (the caller then parses it the usual way)."""
    if (type(raw) is not str or len(raw) > limit or '"type"' not in raw
            or "\\u" in raw):  # escapes may hide lone surrogates: leave them to pydantic
        return None
    if ('"sdp"' not in raw and '"ice"' not in raw) or (
            not raw.isascii() and len(raw.encode()) > limit):
        return None
    if raw.count("{") + raw.count("[") > p.MAX_JSON_DEPTH:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if type(data) is not dict:
        return None
    kind = data.get("type")
    call_id = data.get("call_id")
    version = data.get("v", p.PROTOCOL_VERSION)
    if (type(call_id) is not str or _CALL_ID.fullmatch(call_id) is None
            or type(version) is not int or version != p.PROTOCOL_VERSION):
        return None
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
        out: dict[str, Any] = {"type": "sdp", "v": p.PROTOCOL_VERSION, "call_id": call_id,
                               "description": {"type": description["type"], "sdp": sdp}}
    elif kind == "ice":
        if not data.keys() <= _ICE_KEYS:
            return None
        candidate = _candidate(data.get("candidate"))
        if candidate is False:
            return None
        out = {"type": "ice", "v": p.PROTOCOL_VERSION, "call_id": call_id,
               "candidate": candidate}
    else:
        return None
    return RelayFrame(kind, call_id, encode(out))
