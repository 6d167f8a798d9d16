"""Ops on the session document: what each party may ask of it.

Frozen dataclasses, one per op, and which party may send which; the rules that decide
whether an op is taken live in ``document.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .parties import Party

Value = str | int | float | bool | list[str] | None


@dataclass(frozen=True)
class PushForm:
    """The agent puts a matter's form into the call."""

    matter: str


@dataclass(frozen=True)
class WithdrawForm:
    """The agent takes back a form that was not submitted."""

    form_id: str


@dataclass(frozen=True)
class EditField:
    """A field edit made on version ``base`` of that field."""

    form_id: str
    field: str
    value: Value
    base: int


@dataclass(frozen=True)
class BeginSubmit:
    """The caller confirms a form: it is checked in full and frozen while it is stored."""

    form_id: str


@dataclass(frozen=True)
class FinishSubmit:
    """The submission was stored under ``submission_id``."""

    form_id: str
    submission_id: str


@dataclass(frozen=True)
class AbortSubmit:
    """Storing the submission failed: the form is editable again."""

    form_id: str


@dataclass(frozen=True)
class SetIdentity:
    """Identity checked once: from the kiosk's card reader, or entered by the agent."""

    name: str
    id_number: str
    source: str
    address: str | None = None
    mobile: str | None = None


@dataclass(frozen=True)
class AddMaterial:
    """A stored material (upload, snapshot, document camera, signature) joins the call."""

    material: Mapping[str, Any]


@dataclass(frozen=True)
class PushScreen:
    """The agent shows the caller a screen; ``screen`` is already checked and rendered."""

    screen: Mapping[str, Any]


@dataclass(frozen=True)
class SetScreenStatus:
    """The caller's page displayed, hid or failed to show a screen."""

    screen_id: str
    status: str
    error: str | None = None


@dataclass(frozen=True)
class CloseScreen:
    """The agent closes a screen."""

    screen_id: str


Op = (PushForm | WithdrawForm | EditField | BeginSubmit | FinishSubmit | AbortSubmit
      | SetIdentity | AddMaterial | PushScreen | SetScreenStatus | CloseScreen)

#: which party may send which op (FinishSubmit/AbortSubmit come from the hub, as the agent
#: or caller who began it: both allowed)
ALLOWED: dict[type, frozenset[Party]] = {
    PushForm: frozenset({Party.AGENT}),
    WithdrawForm: frozenset({Party.AGENT}),
    EditField: frozenset({Party.AGENT, Party.CALLER}),
    BeginSubmit: frozenset({Party.CALLER}),
    FinishSubmit: frozenset({Party.AGENT, Party.CALLER}),
    AbortSubmit: frozenset({Party.AGENT, Party.CALLER}),
    SetIdentity: frozenset({Party.AGENT, Party.CALLER}),
    AddMaterial: frozenset({Party.AGENT, Party.CALLER}),
    PushScreen: frozenset({Party.AGENT}),
    SetScreenStatus: frozenset({Party.CALLER}),
    CloseScreen: frozenset({Party.AGENT}),
}

