"""Every WebSocket message, as pydantic models (documented in docs/protocol.md).

Messages are JSON objects with a ``type`` discriminator and an optional protocol version
``v``. Callers and agents have separate endpoints and separate inbound unions, so a
message of the wrong role fails validation before any logic sees it.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from .matters.validators import is_mainland_mobile, is_valid_uscc

PROTOCOL_VERSION = 1

SkillCode = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")]
CallId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
ShortText = Annotated[str, Field(max_length=200)]


class ProtocolError(Exception):
    """A message that cannot be accepted; ``code`` goes on the wire (docs/protocol.md)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


#: every inbound model: unknown fields are errors, and types are strict (``"5"`` is not a
#: score, ``true`` is not 1, ``"yes"`` is not a boolean), as docs/protocol.md promises
STRICT = ConfigDict(extra="forbid", frozen=True, strict=True)

#: JSON nesting deeper than this is refused before parsing (no message needs more than 4)
MAX_JSON_DEPTH = 32


class Message(BaseModel):
    """Base of every message: strict about unknown fields and types, so typos are errors."""

    model_config = STRICT
    v: int = PROTOCOL_VERSION

    @field_validator("v")
    @classmethod
    def _supported_version(cls, value: int) -> int:
        if value != PROTOCOL_VERSION:
            raise ValueError(f"unsupported protocol version {value}; this server speaks "
                             f"{PROTOCOL_VERSION}")
        return value


# ---------------------------------------------------------------- shared pieces


class SessionDescription(BaseModel):
    """An SDP offer or answer, as RTCSessionDescriptionInit."""

    model_config = STRICT
    type: Literal["offer", "answer"]
    sdp: str = Field(min_length=1, max_length=60_000)


class IceCandidate(BaseModel):
    """An ICE candidate, as RTCIceCandidateInit."""

    model_config = STRICT
    candidate: str = Field(max_length=2048)
    sdpMid: str | None = Field(default=None, max_length=64)  # noqa: N815 - WebRTC's name
    sdpMLineIndex: int | None = Field(default=None, ge=0, le=64)  # noqa: N815
    usernameFragment: str | None = Field(default=None, max_length=256)  # noqa: N815


class IceServer(BaseModel):
    """An RTCIceServer entry handed to both parties of a session."""

    urls: list[str]
    username: str | None = None
    credential: str | None = None


class Company(BaseModel):
    """An enterprise caller's details from the guest form."""

    model_config = STRICT
    name: str = Field(min_length=2, max_length=100)
    uscc: str = Field(min_length=18, max_length=18)
    contact_name: str = Field(min_length=1, max_length=50)
    contact_phone: str = Field(min_length=11, max_length=11)

    @field_validator("uscc")
    @classmethod
    def _check_uscc(cls, value: str) -> str:
        value = value.upper()
        if not is_valid_uscc(value):
            raise ValueError("not a valid unified social credit code (GB 32100 check digit)")
        return value

    @field_validator("contact_phone")
    @classmethod
    def _check_phone(cls, value: str) -> str:
        if not is_mainland_mobile(value):
            raise ValueError("not a mainland mobile number")
        return value


# ---------------------------------------------------------------- caller -> server


class CallRequest(Message):
    """Press of the call button. Exactly one of kiosk_token, company, invite says who calls."""

    type: Literal["call_request"]
    skill: SkillCode
    language: Literal["zh-CN", "en"] = "zh-CN"
    priority: bool = False
    kiosk_token: str | None = Field(default=None, max_length=200)
    company: Company | None = None
    invite: str | None = Field(default=None, max_length=1000)
    #: a random id the client picks per call button press (>= 128 random bits: 22+ base64url
    #: or 32+ hex characters); sending the same request again from the same caller (after a
    #: drop before 'queued' arrived) returns the same call instead of a second one
    request_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{22,64}$")
    #: the caller's answer to the recording consent prompt (docs/protocol.md "Recording"):
    #: needed when the server answered ``recording_consent_required``
    recording_consent: bool | None = None
    #: with ``recording_consent: false`` where a refusal means a callback: the number to
    #: call back instead of a live call
    callback_phone: str | None = Field(default=None, min_length=11, max_length=11)

    @field_validator("callback_phone")
    @classmethod
    def _check_callback_phone(cls, value: str | None) -> str | None:
        if value is not None and not is_mainland_mobile(value):
            raise ValueError("not a mainland mobile number")
        return value


class Resume(Message):
    """Reconnect to a waiting or connected call after a network drop."""

    type: Literal["resume"]
    resume_token: str = Field(min_length=16, max_length=200)
    #: the page lost its peer connection (reload): the agent must start a fresh one
    restart_media: bool = False


class CallerHangup(Message):
    """Cancel while waiting, or hang up in the call."""

    type: Literal["hangup"]


class AcceptCallback(Message):
    """Take the callback offer: leave the queue and be called back on this number."""

    type: Literal["accept_callback"]
    phone: str = Field(min_length=11, max_length=11)

    @field_validator("phone")
    @classmethod
    def _check_phone(cls, value: str) -> str:
        if not is_mainland_mobile(value):
            raise ValueError("not a mainland mobile number")
        return value


class Rating(Message):
    """The caller's 1-5 rating after the call."""

    type: Literal["rating"]
    call_id: CallId
    score: int = Field(ge=1, le=5)
    #: from ``ended``; lets a caller whose socket blipped after the call still rate it
    rating_token: str | None = Field(default=None, max_length=500)


class Sdp(Message):
    """An SDP offer or answer for the other party of the session."""

    type: Literal["sdp"]
    call_id: CallId
    description: SessionDescription


class Ice(Message):
    """A trickled ICE candidate for the other party; null candidate = end of candidates."""

    type: Literal["ice"]
    call_id: CallId
    candidate: IceCandidate | None = None


class Ping(Message):
    """Keep-alive; answered by pong."""

    type: Literal["ping"]


# ---------------------------------------------------------------- forms and screens (both)
# Only the two parties of a live session may send these (docs/protocol.md "Forms and
# screens"); the session document (signaling/matters/document.py) holds the rules.

FormId = Annotated[str, Field(pattern=r"^f[0-9]{1,3}$")]
ScreenId = Annotated[str, Field(pattern=r"^s[0-9]{1,3}$")]
MatterCode = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,63}$")]
FieldName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
MaterialId = Annotated[str, Field(pattern=r"^m-[0-9a-f]{16}$")]


class EditField(Message):
    """A field edit, made on version ``base`` of the field (0 if it was never set)."""

    type: Literal["edit_field"]
    call_id: CallId
    form_id: FormId
    field: FieldName
    value: Annotated[str, Field(max_length=2000)] | int | float | bool | None | Annotated[
        list[MaterialId], Field(max_length=10)]
    base: int = Field(ge=0, le=1_000_000)


class IdentityIn(BaseModel):
    """Identity as the card reader gives it or the agent enters it."""

    model_config = STRICT
    name: str = Field(min_length=1, max_length=50)
    id_number: str = Field(min_length=18, max_length=18)
    address: str | None = Field(default=None, max_length=200)
    mobile: str | None = Field(default=None, min_length=11, max_length=11)


class SetIdentity(Message):
    """Identity checked once per call: from the kiosk's card reader, or by the agent."""

    type: Literal["set_identity"]
    call_id: CallId
    identity: IdentityIn
    source: Literal["reader", "agent"]


class SubmitForm(Message):
    """The caller confirms a form (signed where it asks)."""

    type: Literal["submit_form"]
    call_id: CallId
    form_id: FormId


class ScreenStatusReport(Message):
    """The caller's page displayed, hid or could not show a pushed screen."""

    type: Literal["screen_status"]
    call_id: CallId
    screen_id: ScreenId
    status: Literal["displayed", "hidden", "error"]
    error: str | None = Field(default=None, max_length=200)


class PushForm(Message):
    """The agent puts a matter's form into the call."""

    type: Literal["push_form"]
    call_id: CallId
    matter: MatterCode


class WithdrawForm(Message):
    """The agent takes back a form that was not submitted."""

    type: Literal["withdraw_form"]
    call_id: CallId
    form_id: FormId


class GuidanceScreen(BaseModel):
    model_config = STRICT
    kind: Literal["guidance"]
    matter: MatterCode


class DocumentScreen(BaseModel):
    model_config = STRICT
    kind: Literal["document"]
    material_id: MaterialId


class UrlScreen(BaseModel):
    model_config = STRICT
    kind: Literal["url"]
    url: str = Field(min_length=8, max_length=500, pattern=r"^https?://")


class QrScreen(BaseModel):
    model_config = STRICT
    kind: Literal["qr"]
    text: str = Field(min_length=1, max_length=500)
    title: str | None = Field(default=None, max_length=100)


class ScreenShareScreen(BaseModel):
    model_config = STRICT
    kind: Literal["screen_share"]


ScreenSpec = Annotated[GuidanceScreen | DocumentScreen | UrlScreen | QrScreen
                       | ScreenShareScreen, Field(discriminator="kind")]


class PushScreen(Message):
    """The agent shows the caller a guidance page, a document, a URL, a QR code or its
    own screen."""

    type: Literal["push_screen"]
    call_id: CallId
    screen: ScreenSpec


class CloseScreen(Message):
    """The agent closes a screen it pushed."""

    type: Literal["close_screen"]
    call_id: CallId
    screen_id: ScreenId


CallerInbound = Annotated[
    CallRequest | Resume | CallerHangup | AcceptCallback | Rating | Sdp | Ice | Ping
    | EditField | SetIdentity | SubmitForm | ScreenStatusReport,
    Field(discriminator="type"),
]

# ---------------------------------------------------------------- agent -> server


class Auth(Message):
    """First message on the agent socket: the token from POST /api/login."""

    type: Literal["auth"]
    token: str = Field(min_length=1, max_length=1000)


class SetStatus(Message):
    """Go ready, or not-ready with a reason."""

    type: Literal["set_status"]
    status: Literal["ready", "not_ready"]
    reason: str = Field(default="break", min_length=1, max_length=40)


class SetAutoAnswer(Message):
    """Turn auto-answer on or off."""

    type: Literal["set_auto_answer"]
    enabled: bool


class Accept(Message):
    """Answer the ringing offer."""

    type: Literal["accept"]
    call_id: CallId


class Reject(Message):
    """Decline the ringing offer; it goes to the next agent at once."""

    type: Literal["reject"]
    call_id: CallId


class AgentHangup(Message):
    """End the call in progress."""

    type: Literal["hangup"]
    call_id: CallId


class EndWrapUp(Message):
    """Finish after-call work, optionally recording notes and an outcome code."""

    type: Literal["end_wrap_up"]
    call_id: CallId | None = None
    outcome: str | None = Field(default=None, max_length=40)
    notes: str | None = Field(default=None, max_length=4000)


class Logout(Message):
    """Sign out now: offline at once (a dropped socket waits for a reconnect grace)."""

    type: Literal["logout"]


class RecorderOffer(Message):
    """The agent's copy of a consented call for the server's recorder: an SDP offer with
    every candidate in it (audio caller, agent; video caller, agent, screen share)."""

    type: Literal["recorder_offer"]
    call_id: CallId
    description: SessionDescription

    @field_validator("description")
    @classmethod
    def _must_be_offer(cls, value: SessionDescription) -> SessionDescription:
        if value.type != "offer":
            raise ValueError("a recorder_offer carries an SDP offer")
        return value


AgentInbound = Annotated[
    Auth | SetStatus | SetAutoAnswer | Accept | Reject | AgentHangup | EndWrapUp | Sdp | Ice
    | Ping | Logout | PushForm | WithdrawForm | EditField | SetIdentity | PushScreen
    | CloseScreen | RecorderOffer,
    Field(discriminator="type"),
]

_caller_adapter: TypeAdapter[Any] = TypeAdapter(CallerInbound)
_agent_adapter: TypeAdapter[Any] = TypeAdapter(AgentInbound)


def json_depth_exceeds(raw: str | bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether brackets nest deeper than ``limit`` (outside strings); a linear scan, so a
    hostile 6 KB frame of 3,000 ``[`` is refused before ``json.loads`` recurses into it."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    if text.count("[") + text.count("{") <= limit:
        return False  # the usual case, at C speed: too few brackets to nest that deep
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def loads_bounded(raw: str | bytes, limit: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` that refuses deep nesting with ValueError instead of RecursionError."""
    if json_depth_exceeds(raw, limit):
        raise ValueError(f"JSON nested deeper than {limit} levels")
    try:
        return json.loads(raw)
    except RecursionError:  # belt and braces: the scan above should have caught it
        raise ValueError(f"JSON nested deeper than {limit} levels") from None


def _parse(adapter: TypeAdapter[Any], raw: str | bytes, limit: int) -> Message:
    size = len(raw.encode()) if isinstance(raw, str) else len(raw)
    if size > limit:
        raise ProtocolError("message_too_large", f"message over {limit} bytes")
    try:
        data = loads_bounded(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError("bad_json", f"not JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise ProtocolError("invalid_message", "a message is a JSON object with a 'type'")
    try:
        message: Message = adapter.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["type"] == "union_tag_invalid":
            raise ProtocolError("unknown_type", f"unknown message type {data['type']!r} "
                                "for this endpoint") from None
        if first["loc"] and first["loc"][-1] == "v" and first["type"] != "int_type":
            raise ProtocolError("unsupported_version", str(first["msg"])) from None
        where = ".".join(str(part) for part in first["loc"][1:])
        raise ProtocolError("invalid_message", f"{where}: {first['msg']}") from None
    return message


def parse_caller_message(raw: str | bytes, limit: int = 64 * 1024) -> Message:
    """Validate one caller message, or raise ProtocolError with its wire code."""
    return _parse(_caller_adapter, raw, limit)


def parse_agent_message(raw: str | bytes, limit: int = 64 * 1024) -> Message:
    """Validate one agent message, or raise ProtocolError with its wire code."""
    return _parse(_agent_adapter, raw, limit)


# ---------------------------------------------------------------- server -> client
# Outbound messages are built as plain dicts by ``outbound()`` so the hub stays cheap;
# their shapes are listed here for docs/protocol.md and the clients.

OUTBOUND_TYPES = {
    "hello": "first message on every socket: protocol version and endpoint role",
    "queued": "call accepted into the queue: call_id, resume_token, position, estimated_wait",
    "position": "new place in the queue and estimated wait (seconds)",
    "ringing": "an agent is being rung",
    "requeued": "the offer ended unanswered; back in the queue, same place",
    "callback_offer": "offer to be called back (reason no_agents or max_wait)",
    "callback_registered": "the callback was recorded; 'ended' (disposition callback) follows",
    "connected": "session start: call_id, role (offerer/answerer), ice_servers, "
                 "ice_transport_policy (all/relay), peer info",
    "sdp": "relayed SDP from the other party",
    "ice": "relayed ICE candidate from the other party",
    "peer_status": "the other party dropped (reconnecting) or came back (connected)",
    "ended": "the call is over: reason; callers then may send a rating",
    "resumed": "the resume token was accepted; current state follows",
    "authenticated": "agent login accepted: profile and state",
    "agent_state": "state, reason, presence (the agent's choice), auto-answer, wrap-up left",
    "offer": "an incoming call for the agent: call details and ring deadline",
    "offer_cancelled": "stop ringing: reason timeout, rejected, caller_abandoned, ...",
    "queue_snapshot": "waiting calls and longest wait per skill (agents' live panel)",
    "rating_saved": "the caller's rating was stored",
    "wrap_up_saved": "the agent's notes and outcome were stored",
    "pong": "answer to ping",
    "session_document": "the whole session document (forms, identity, materials, screens)",
    "case_updated": "the call's case changed: number, state, tasks per department, receipt",
    "ticket_created": "a ticket was made in this call: number, kind, subject, state, due_at",
    "form_pushed": "a form joined the call, with its definition and prefilled values",
    "form_withdrawn": "the agent took a form back",
    "field_changed": "a field's new value and version, who set it, the form's errors",
    "form_submitting": "the caller confirmed; the submission is being stored",
    "form_submitted": "the submission is stored: submission_id",
    "form_reopened": "storing the submission failed; the form is editable again",
    "submit_refused": "to the agent: the caller's submit was refused; errors per field",
    "identity_set": "identity checked for this call (prefilled fields follow)",
    "material_added": "a material joined the call",
    "screen_pushed": "a screen for the caller: guidance, document, url, qr, screen_share",
    "screen_status": "what the caller's page did with a screen",
    "screen_closed": "the agent closed a screen",
    "recording_consent_required": "this call must be recorded: ask the caller, then send "
    "call_request again with recording_consent (on_refusal: continue or callback)",
    "recorder_answer": "to the agent: the recorder's SDP answer to its recorder_offer",
    "recording_status": "recording of the call: starting, recording, stopped or failed",
    "error": "code and message; the connection stays open unless a close follows",
}


def outbound(type_: str, **fields: Any) -> dict[str, Any]:
    """A server message: ``type``, ``v`` and the fields given."""
    if type_ not in OUTBOUND_TYPES:
        raise ValueError(f"undocumented outbound message {type_!r}")
    return {"type": type_, "v": PROTOCOL_VERSION, **fields}


def error(code: str, message: str, **fields: Any) -> dict[str, Any]:
    """An error message as it crosses the wire."""
    return outbound("error", code=code, message=message, **fields)
