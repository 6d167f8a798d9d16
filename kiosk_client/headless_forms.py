"""Headless form filling: the headless caller and agent fill pushed forms from prepared
values, so demos and load tests can run the whole flow (push, fill, sign, submit) without
a browser.

Values come from a JSON file: ``{"<matter code>": {"<field>": value, ...}, ...}``. The
caller fills the fields the form lets the caller edit, signs signature fields with a drawn
PNG (uploaded as a material) and submits once every value it holds is in; the agent pushes
the matters it is told to and fills the agent's fields.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

Send = Callable[..., Awaitable[None]]
Emit = Callable[..., None]

#: server errors that concern one form op, not the call: reported, and the call goes on
FORM_ERRORS = {"stale_version", "field_locked", "invalid_value", "form_invalid",
               "unknown_field", "unknown_form", "unknown_matter", "not_saved"}


def signature_png(width: int = 240, height: int = 80) -> bytes:
    """A small black-on-white PNG with a stroke across it: a drawn signature."""
    rows = []
    for y in range(height):
        row = bytearray(b"\x00")  # filter type none
        for x in range(width):
            on_stroke = abs(y - (height // 2 + int(15 * ((x % 60) - 30) / 30))) < 2
            row += b"\x00" if on_stroke else b"\xff"
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(b"IEND", b""))


class FormFiller:
    """Fills the forms of one call as ``party`` ("caller" or "agent")."""

    def __init__(self, party: str, values: dict[str, dict[str, Any]], server: str,
                 send: Send, emit: Emit) -> None:
        self.party = party
        self.values = values
        self.server = server.rstrip("/")
        self.send = send
        self.emit = emit
        self.call_id: str | None = None
        #: caller: X-Resume-Token; agent: Authorization bearer token
        self.credentials: dict[str, str] = {}
        self.forms: dict[str, dict[str, Any]] = {}
        self.submitted: set[str] = set()

    async def on_message(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "session_document":
            for form in message["document"].get("forms", []):
                await self._fill(form)
        elif kind == "form_pushed":
            await self._fill(message["form"])
        elif kind == "field_changed":
            form = self.forms.get(message["form_id"])
            if form is not None:
                form["versions"][message["field"]] = message["version"]
                form["values"][message["field"]] = message["value"]
                await self._maybe_submit(form)
        elif kind == "form_submitted":
            self.submitted.add(message["form_id"])
            self.emit("form_submitted", call_id=self.call_id, form_id=message["form_id"],
                      submission_id=message["submission_id"])

    def handles_error(self, message: dict[str, Any]) -> bool:
        """Whether an ``error`` is about a form op (reported; the call goes on)."""
        if message.get("code") not in FORM_ERRORS:
            return False
        self.emit("form_error", call_id=self.call_id, code=message.get("code"),
                  field=message.get("field"), errors=message.get("errors"))
        form = next((f for f in self.forms.values() if message.get("field") in f["values"]
                     or message.get("field") in f["versions"]), None)
        if message.get("code") == "stale_version" and form is not None:
            form["versions"][message["field"]] = message["version"]
            form["values"][message["field"]] = message.get("value")
        return True

    async def _fill(self, form: dict[str, Any]) -> None:
        form_id = form["form_id"]
        self.forms[form_id] = form
        if form.get("state") != "filling":
            return
        wanted = self.values.get(form["matter"], {})
        fields = form["form"]["ui"]["fields"]
        for name in form["form"]["ui"]["order"]:
            hints = fields[name]
            # The caller fills what the form lets it; the agent what the caller may not.
            mine = bool(hints.get("caller", False)) == (self.party == "caller")
            if not mine:
                continue
            if hints.get("type") == "signature" and self.party == "caller":
                value: Any = await self._upload("signature", "signature")
            elif hints.get("type") == "material" and name not in form["values"] and (
                    wanted.get(name) == "upload" or (name not in wanted
                                                     and hints.get("required", True))):
                # A photo of the document the form needs (a synthetic one): the server
                # attaches it to every empty field of its kind ("materials once").
                await self._upload(str(hints.get("material")), "upload")
                continue
            elif name in wanted:
                value = wanted[name]
            else:
                continue
            if form["values"].get(name) == value:
                continue
            await self.send("edit_field", call_id=self.call_id, form_id=form_id, field=name,
                            value=value, base=form["versions"].get(name, 0))
            form["versions"][name] = form["versions"].get(name, 0) + 1
            form["values"][name] = value
        self.emit("form_filled", call_id=self.call_id, form_id=form_id, matter=form["matter"])
        await self._maybe_submit(form)

    async def _maybe_submit(self, form: dict[str, Any]) -> None:
        """The caller confirms once the values it was given are all in."""
        if self.party != "caller" or form["form_id"] in self.submitted or \
                form.get("state") != "filling" or form["matter"] not in self.values:
            return
        wanted = self.values[form["matter"]]
        fields = form["form"]["ui"]["fields"]
        required = [n for n, h in fields.items() if h.get("required", True)]
        if all(form["values"].get(n) not in (None, "") for n in required) and all(
                form["values"].get(n) == v for n, v in wanted.items() if v != "upload"):
            self.submitted.add(form["form_id"])
            await self.send("submit_form", call_id=self.call_id, form_id=form["form_id"])

    async def _upload(self, kind: str, source: str) -> str:
        """Upload a drawn PNG as a material of ``kind``; its id."""
        async with httpx.AsyncClient(base_url=self.server, timeout=10.0) as http:
            response = await http.post(
                f"/api/calls/{self.call_id}/materials",
                params={"kind": kind, "source": source},
                content=signature_png(), headers=self.credentials)
            if response.status_code != 200:
                raise RuntimeError(f"upload refused: {response.status_code} {response.text}")
            material_id: str = response.json()["material"]["id"]
            return material_id
