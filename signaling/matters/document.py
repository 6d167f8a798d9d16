"""The session document: everything pushed into one call, and its rules.

Forms with their values and per-field versions, identity, materials and screens are one
piece of state per live call (DESIGN.md "The session document"). This module is pure, in
the sans-I/O style of ``signaling.routing``: ``apply(op, by, now)`` checks the op in full
and then changes the document and returns the messages for both parties, or raises
``DocumentError`` with a wire code and changes nothing. The hub routes ops here, delivers
what comes back, stores submissions, and saves snapshots as drafts.

Concurrent edits converge by per-field versions: an edit names the version of the field it
was made on (``base``); the server takes it only if that is still the current version and
then bumps it. The loser of a race gets ``stale_version`` with the winner's value and
version, which its page shows (last write at the server wins, nobody's keystrokes are
silently merged).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from .ops import (
    ALLOWED,
    AbortSubmit,
    AddMaterial,
    BeginSubmit,
    CloseScreen,
    EditField,
    FinishSubmit,
    Op,
    PushForm,
    PushScreen,
    SetIdentity,
    SetScreenStatus,
    Value,
    WithdrawForm,
)
from .parties import Party
from .validators import is_mainland_mobile, is_valid_resident_id

#: most forms one call may carry (a moving-house call has four or five)
MAX_FORMS = 10
#: most materials and screens one call may carry
MAX_MATERIALS = 30
MAX_SCREENS = 20

__all__ = [
    "ALLOWED", "AbortSubmit", "AddMaterial", "BeginSubmit", "CloseScreen", "DocumentError",
    "EditField", "FinishSubmit", "FormInstance", "FormSource", "FormState", "Op", "Party",
    "PushForm", "PushScreen", "ScreenStatus", "SessionDocument", "SetIdentity",
    "SetScreenStatus", "Value", "WithdrawForm",
]


class FormState(StrEnum):
    """Life of a form in a session."""

    #: pushed; both sides may edit what they are allowed to
    FILLING = "filling"
    #: the caller confirmed; the server is storing the submission (edits are refused)
    SUBMITTING = "submitting"
    #: stored as a submission; read-only
    SUBMITTED = "submitted"
    #: taken back by the agent before submission
    WITHDRAWN = "withdrawn"


class ScreenStatus(StrEnum):
    """What the caller's page did with a pushed screen."""

    #: sent, not yet acknowledged
    PUSHED = "pushed"
    #: shown on the caller's page
    DISPLAYED = "displayed"
    #: hidden by the caller (it can bring it back)
    HIDDEN = "hidden"
    #: the caller's page could not show it
    ERROR = "error"
    #: closed by the agent
    CLOSED = "closed"


class DocumentError(Exception):
    """An op refused by the document's rules; ``code`` and ``fields`` go on the wire."""

    def __init__(self, code: str, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = fields


class FormSource(Protocol):
    """Where form definitions come from and how values are checked (the catalog)."""

    def form(self, matter: str) -> dict[str, Any] | None:
        """``{"matter", "version", "schema", "ui"}`` of a matter, or None if unknown."""

    def validate(self, form: Mapping[str, Any], values: Mapping[str, Any], *, now: float,
                 partial: bool) -> dict[str, str]:
        """Field name -> error code (empty when valid)."""


#: identity fields a form field may be prefilled from (``prefill = "identity.<name>"``)
IDENTITY_FIELDS = ("name", "id_number", "address", "mobile")


# ---------------------------------------------------------------- state


@dataclass
class FormInstance:
    """One pushed form: its definition, values, per-field versions and who filled what."""

    form_id: str
    matter: str
    definition: dict[str, Any]
    state: FormState = FormState.FILLING
    values: dict[str, Value] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    filled_by: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    submission_id: str | None = None

    @property
    def ui_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = self.definition.get("ui", {}).get("fields", {})
        return fields

    def as_json(self, with_definition: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "form_id": self.form_id, "matter": self.matter,
            "version": self.definition.get("version"), "state": self.state.value,
            "values": copy.deepcopy(self.values), "versions": dict(self.versions),
            "filled_by": dict(self.filled_by), "errors": dict(self.errors),
            "submission_id": self.submission_id,
        }
        if with_definition:
            data["form"] = {"schema": self.definition.get("schema"),
                            "ui": self.definition.get("ui")}
        return data


@dataclass
class SessionDocument:
    """The state of one call's forms, identity, materials and screens."""

    call_id: str
    forms: list[FormInstance] = field(default_factory=list)
    identity: dict[str, Any] | None = None
    materials: list[dict[str, Any]] = field(default_factory=list)
    screens: list[dict[str, Any]] = field(default_factory=list)
    revision: int = 0

    # ------------------------------------------------------------ reading

    def form(self, form_id: str) -> FormInstance:
        for form in self.forms:
            if form.form_id == form_id:
                return form
        raise DocumentError("unknown_form", f"no form {form_id!r} in this call")

    def screen(self, screen_id: str) -> dict[str, Any]:
        for screen in self.screens:
            if screen["screen_id"] == screen_id:
                return screen
        raise DocumentError("unknown_screen", f"no screen {screen_id!r} in this call")

    def material(self, material_id: str) -> dict[str, Any] | None:
        return next((m for m in self.materials if m["id"] == material_id), None)

    def snapshot(self) -> dict[str, Any]:
        """The whole document as both parties, the draft store and another node see it."""
        return {"call_id": self.call_id, "revision": self.revision,
                "identity": copy.deepcopy(self.identity),
                "materials": copy.deepcopy(self.materials),
                "forms": [f.as_json() for f in self.forms],
                "screens": copy.deepcopy(self.screens)}

    @classmethod
    def from_snapshot(cls, data: Mapping[str, Any]) -> SessionDocument:
        """Rebuild a document from ``snapshot()`` (a draft, or another node's copy)."""
        forms = [FormInstance(
            form_id=f["form_id"], matter=f["matter"],
            definition={"matter": f["matter"], "version": f.get("version"),
                        **(f.get("form") or {})},
            state=FormState(f["state"]), values=dict(f["values"]),
            versions=dict(f["versions"]), filled_by=dict(f["filled_by"]),
            errors=dict(f["errors"]), submission_id=f.get("submission_id"))
            for f in data.get("forms", [])]
        # A submission that was being stored when the snapshot was taken is editable again.
        for form in forms:
            if form.state is FormState.SUBMITTING:
                form.state = FormState.FILLING
        return cls(call_id=data["call_id"], forms=forms, identity=data.get("identity"),
                   materials=list(data.get("materials", [])),
                   screens=list(data.get("screens", [])), revision=int(data["revision"]))

    # ------------------------------------------------------------ the one place state changes

    def apply(self, op: Op, by: Party, now: float, forms: FormSource) -> list[dict[str, Any]]:
        """Apply ``op`` sent by ``by``; the messages for both parties, or DocumentError."""
        if by not in ALLOWED[type(op)]:
            raise DocumentError("forbidden", f"the {by.value} may not {_op_name(op)}")
        handler: Callable[[Any, Party, float, FormSource], list[dict[str, Any]]] = getattr(
            self, "_" + type(op).__name__)
        messages = handler(op, by, now, forms)
        self.revision += 1
        for message in messages:
            message.setdefault("call_id", self.call_id)
            message["revision"] = self.revision
        return messages

    # ------------------------------------------------------------ forms

    def _PushForm(self, op: PushForm, by: Party, now: float,  # noqa: N802
                  forms: FormSource) -> list[dict[str, Any]]:
        definition = forms.form(op.matter)
        if definition is None:
            raise DocumentError("unknown_matter", f"no matter {op.matter!r} in the catalog")
        if len([f for f in self.forms if f.state is not FormState.WITHDRAWN]) >= MAX_FORMS:
            raise DocumentError("too_many_forms", f"at most {MAX_FORMS} forms in one call")
        form = FormInstance(f"f{len(self.forms) + 1}", op.matter, definition)
        self._prefill_identity(form)
        self._prefill_materials(form)
        form.errors = forms.validate(definition, _present(form.values), now=now, partial=True)
        self.forms.append(form)
        return [{"type": "form_pushed", "form": form.as_json()}]

    def _WithdrawForm(self, op: WithdrawForm, by: Party, now: float,  # noqa: N802
                      forms: FormSource) -> list[dict[str, Any]]:
        form = self.form(op.form_id)
        if form.state is not FormState.FILLING:
            raise DocumentError("field_locked", f"form {form.form_id} is {form.state.value}")
        form.state = FormState.WITHDRAWN
        return [{"type": "form_withdrawn", "form_id": form.form_id}]

    def _EditField(self, op: EditField, by: Party, now: float,  # noqa: N802
                   forms: FormSource) -> list[dict[str, Any]]:
        form = self.form(op.form_id)
        hints = form.ui_fields.get(op.field)
        if hints is None:
            raise DocumentError("unknown_field", f"form {form.form_id} has no field "
                                f"{op.field!r}", field=op.field)
        if form.state is not FormState.FILLING:
            raise DocumentError("field_locked", f"form {form.form_id} is {form.state.value}",
                                field=op.field)
        kind = hints.get("type")
        if by is Party.CALLER and not hints.get("caller", False):
            raise DocumentError("field_locked", f"the agent fills {op.field!r}", field=op.field)
        if by is Party.AGENT and kind == "signature":
            raise DocumentError("field_locked", "only the caller signs", field=op.field)
        current = form.versions.get(op.field, 0)
        if op.base != current:
            raise DocumentError("stale_version", f"{op.field!r} changed meanwhile",
                                field=op.field, value=form.values.get(op.field),
                                version=current)
        problem = _shape_problem(kind, op.value, hints)
        if problem is None and kind in ("material", "signature") and op.value is not None:
            ids = op.value if isinstance(op.value, list) else [op.value]
            if any(self.material(str(i)) is None for i in ids):
                problem = "unknown_material"
        if problem is not None:
            raise DocumentError("invalid_value", f"{op.field!r}: {problem}", field=op.field,
                                reason=problem)
        return [self._set_field(form, op.field, op.value, by.value, now, forms)]

    def _set_field(self, form: FormInstance, name: str, value: Value, by: str, now: float,
                   forms: FormSource) -> dict[str, Any]:
        if value is None or value == "" or value == []:
            form.values.pop(name, None)
            form.filled_by.pop(name, None)
        else:
            form.values[name] = value
            form.filled_by[name] = by
        form.versions[name] = form.versions.get(name, 0) + 1
        form.errors = forms.validate(form.definition, _present(form.values), now=now,
                                     partial=True)
        return {"type": "field_changed", "form_id": form.form_id, "field": name,
                "value": form.values.get(name), "version": form.versions[name], "by": by,
                "errors": dict(form.errors)}

    def _BeginSubmit(self, op: BeginSubmit, by: Party, now: float,  # noqa: N802
                     forms: FormSource) -> list[dict[str, Any]]:
        form = self.form(op.form_id)
        if form.state is not FormState.FILLING:
            raise DocumentError("field_locked", f"form {form.form_id} is {form.state.value}")
        errors = forms.validate(form.definition, _present(form.values), now=now,
                                partial=False)
        if errors:  # nothing changes: the refusal itself tells both parties what is missing
            raise DocumentError("form_invalid", "some fields need attention", errors=errors,
                                form_id=form.form_id)
        form.state = FormState.SUBMITTING
        form.errors = {}
        return [{"type": "form_submitting", "form_id": form.form_id}]

    def _FinishSubmit(self, op: FinishSubmit, by: Party, now: float,  # noqa: N802
                      forms: FormSource) -> list[dict[str, Any]]:
        form = self.form(op.form_id)
        if form.state is not FormState.SUBMITTING:
            raise DocumentError("field_locked", f"form {form.form_id} is {form.state.value}")
        form.state = FormState.SUBMITTED
        form.submission_id = op.submission_id
        return [{"type": "form_submitted", "form_id": form.form_id,
                 "submission_id": op.submission_id, "submitted_at": now}]

    def _AbortSubmit(self, op: AbortSubmit, by: Party, now: float,  # noqa: N802
                     forms: FormSource) -> list[dict[str, Any]]:
        form = self.form(op.form_id)
        if form.state is FormState.SUBMITTING:
            form.state = FormState.FILLING
        return [{"type": "form_reopened", "form_id": form.form_id}]

    # ------------------------------------------------------------ identity and materials

    def _SetIdentity(self, op: SetIdentity, by: Party, now: float,  # noqa: N802
                     forms: FormSource) -> list[dict[str, Any]]:
        if op.source not in ("reader", "agent"):
            raise DocumentError("invalid_identity", "source is reader or agent")
        if by is Party.CALLER and op.source != "reader":
            raise DocumentError("forbidden", "a caller's identity comes from the card reader")
        name = op.name.strip()
        if not 1 <= len(name) <= 50:
            raise DocumentError("invalid_identity", "name: 1 to 50 characters")
        if not is_valid_resident_id(op.id_number):
            raise DocumentError("invalid_identity", "id_number: not a valid resident ID "
                                "number (GB 11643)")
        if op.mobile is not None and not is_mainland_mobile(op.mobile):
            raise DocumentError("invalid_identity", "mobile: not a mainland mobile number")
        self.identity = {"name": name, "id_number": op.id_number.upper(),
                         "address": (op.address or "").strip() or None, "mobile": op.mobile,
                         "source": op.source, "by": by.value, "at": now}
        messages: list[dict[str, Any]] = [{"type": "identity_set",
                                           "identity": dict(self.identity)}]
        for form in self.forms:
            if form.state is FormState.FILLING:
                messages.extend(self._prefill_identity(form, now, forms))
        return messages

    def _prefill_identity(self, form: FormInstance, now: float = 0.0,
                          forms: FormSource | None = None) -> list[dict[str, Any]]:
        """Fill empty (or earlier prefilled) fields that say ``prefill = identity.x``."""
        if self.identity is None:
            return []
        messages = []
        for name, hints in form.ui_fields.items():
            source = str(hints.get("prefill") or "")
            if not source.startswith("identity."):
                continue
            value = self.identity.get(source.removeprefix("identity."))
            if not value or (name in form.values and form.filled_by.get(name) != "prefill"):
                continue  # nothing to give, or someone typed it: theirs stays
            if forms is None:  # a new form, validated by the caller of this
                form.values[name] = value
                form.filled_by[name] = "prefill"
                form.versions[name] = form.versions.get(name, 0) + 1
            elif form.values.get(name) != value:
                messages.append(self._set_field(form, name, value, "prefill", now, forms))
        return messages

    def _AddMaterial(self, op: AddMaterial, by: Party, now: float,  # noqa: N802
                     forms: FormSource) -> list[dict[str, Any]]:
        if len(self.materials) >= MAX_MATERIALS:
            raise DocumentError("too_many_materials", f"at most {MAX_MATERIALS} materials "
                                "in one call")
        material = dict(op.material)
        if self.material(material["id"]) is not None:
            return []  # the same upload twice: nothing new
        self.materials.append(material)
        messages: list[dict[str, Any]] = [{"type": "material_added", "material": material}]
        # Materials once: every form of the call that needs this kind gets it.
        for form in self.forms:
            if form.state is not FormState.FILLING:
                continue
            for name, hints in form.ui_fields.items():
                if hints.get("type") == "material" and hints.get("material") == \
                        material.get("kind") and name not in form.values:
                    messages.append(self._set_field(form, name, material["id"], "reuse", now,
                                                    forms))
        return messages

    def _prefill_materials(self, form: FormInstance) -> None:
        for name, hints in form.ui_fields.items():
            if hints.get("type") != "material":
                continue
            match = next((m for m in reversed(self.materials)
                          if m.get("kind") == hints.get("material")), None)
            if match is not None and name not in form.values:
                form.values[name] = match["id"]
                form.filled_by[name] = "reuse"
                form.versions[name] = form.versions.get(name, 0) + 1

    # ------------------------------------------------------------ screens

    def _PushScreen(self, op: PushScreen, by: Party, now: float,  # noqa: N802
                    forms: FormSource) -> list[dict[str, Any]]:
        if len(self.screens) >= MAX_SCREENS:
            raise DocumentError("too_many_screens", f"at most {MAX_SCREENS} screens in one "
                                "call")
        if op.screen.get("kind") == "document" and \
                self.material(str(op.screen.get("material_id"))) is None:
            raise DocumentError("unknown_material", "no such material in this call")
        screen = {**op.screen, "screen_id": f"s{len(self.screens) + 1}",
                  "status": ScreenStatus.PUSHED.value, "error": None, "pushed_at": now}
        messages: list[dict[str, Any]] = []
        if screen.get("kind") == "screen_share":
            for other in self.screens:  # one screen share at a time
                if other.get("kind") == "screen_share" and \
                        other["status"] != ScreenStatus.CLOSED.value:
                    other["status"] = ScreenStatus.CLOSED.value
                    messages.append({"type": "screen_closed", "screen_id": other["screen_id"]})
        self.screens.append(screen)
        return [*messages, {"type": "screen_pushed", "screen": dict(screen)}]

    def _SetScreenStatus(self, op: SetScreenStatus, by: Party, now: float,  # noqa: N802
                         forms: FormSource) -> list[dict[str, Any]]:
        screen = self.screen(op.screen_id)
        if op.status not in (ScreenStatus.DISPLAYED, ScreenStatus.HIDDEN, ScreenStatus.ERROR):
            raise DocumentError("invalid_value", "status is displayed, hidden or error")
        if screen["status"] == ScreenStatus.CLOSED.value:
            raise DocumentError("unknown_screen", "that screen was closed")
        screen["status"] = op.status
        screen["error"] = op.error if op.status == ScreenStatus.ERROR else None
        return [{"type": "screen_status", "screen_id": op.screen_id, "status": op.status,
                 "error": screen["error"]}]

    def _CloseScreen(self, op: CloseScreen, by: Party, now: float,  # noqa: N802
                     forms: FormSource) -> list[dict[str, Any]]:
        screen = self.screen(op.screen_id)
        screen["status"] = ScreenStatus.CLOSED.value
        return [{"type": "screen_closed", "screen_id": op.screen_id}]


def _op_name(op: Op) -> str:
    return type(op).__name__


def _present(values: Mapping[str, Value]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _shape_problem(kind: object, value: Value, hints: Mapping[str, Any]) -> str | None:
    """A value of the wrong JSON type for its field (refused outright, unlike a value of
    the right type that does not validate yet, which is kept and shown with its error)."""
    if value is None:
        return None
    if kind in ("number",):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok and isinstance(value, str):
            ok = True  # digits being keyed in; validation says whether it is a number
        return None if ok else "expected a number"
    if kind == "yesno":
        return None if isinstance(value, bool) else "expected true or false"
    if kind == "material" and hints.get("multiple"):
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return None if len(value) <= 10 else "at most 10 materials"
        return "expected a list of material ids"
    if isinstance(value, str):
        return None if len(value) <= 2000 else "too long"
    return "expected text"
