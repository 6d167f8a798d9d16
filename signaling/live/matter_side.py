"""The matters side of the hub: forms, identity, materials and screens in a live call.

Both parties' messages come here. This side checks that the sender is a party of the
session, turns the message into an op of the session document (``signaling.matters.
document``), delivers what the document returns to both parties, and does the I/O the
document must not: storing submissions, rendering screens, saving drafts, auditing.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .. import protocol as p
from ..matters import document as doc
from ..matters.catalog import Catalog
from ..matters.forms import validate_values
from ..tokens import sign
from .connection import Connection, Role
from .sessions import HubError, LiveSession
from .state import document_entry

if TYPE_CHECKING:
    from .hub import Hub

log = logging.getLogger(__name__)

#: seconds between draft saves of a session whose document changed
DRAFT_INTERVAL = 3.0
#: lifetime of the signed links to a call's materials and screen pages
ACCESS_TTL = 6 * 3600.0


class CatalogForms:
    """The catalog as the session document needs it (``document.FormSource``)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def form(self, matter: str) -> dict[str, Any] | None:
        if matter not in self.catalog.matters:
            return None
        return self.catalog.form(matter)

    def validate(self, form: Mapping[str, Any], values: Mapping[str, Any], *, now: float,
                 partial: bool) -> dict[str, str]:
        return validate_values(dict(form), dict(values), now=now, partial=partial)


def access_token(secret: bytes, call_id: str, item: str) -> str:
    """A signed, expiring token that lets a party's page load one item of its call (an
    ``<img>`` cannot send headers)."""
    return sign(secret, "call-item", f"{call_id}/{item}", time.time(), ACCESS_TTL)


class MatterSide:
    """Everything either party may do to the session document."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.forms: CatalogForms | None = None
        self._dirty: set[str] = set()
        self._draft_task: asyncio.Task[None] | None = None
        self._audit_tail: asyncio.Task[None] | None = None

    # ------------------------------------------------------------ life cycle

    def start(self, catalog: Catalog) -> None:
        self.forms = CatalogForms(catalog)
        self._draft_task = asyncio.create_task(self._draft_loop())

    async def stop(self) -> None:
        if self._draft_task is not None:
            self._draft_task.cancel()
            await asyncio.gather(self._draft_task, return_exceptions=True)
        await self.save_drafts()

    def snapshot_message(self, session: LiveSession) -> dict[str, Any]:
        return p.outbound("session_document", call_id=session.call_id,
                          document=self._with_links(session.document.snapshot()),
                          case=self.hub.case_side.snapshot(session.call_id))

    def session_ended(self, session: LiveSession) -> None:
        """The call is over: its document is saved once more, as it ended, unless nothing
        ever happened in it (most calls push no form: a draft of an empty document was a
        database transaction per call for nothing, and ``/submissions`` answers
        ``draft: null`` for it all the same)."""
        self._dirty.discard(session.call_id)
        document = session.document
        if document.revision == 0 and not (document.forms or document.identity
                                           or document.materials or document.screens):
            return
        self._save(session.call_id, document)

    # ------------------------------------------------------------ messages

    async def handle(self, conn: Connection, message: p.Message) -> None:
        session, party = self._party(conn, getattr(message, "call_id", ""))
        match message:
            case p.PushForm(matter=matter):
                await self._apply(session, party, doc.PushForm(matter))
                self._audit(session, "form_pushed", {"matter": matter})
            case p.WithdrawForm(form_id=form_id):
                await self._apply(session, party, doc.WithdrawForm(form_id))
            case p.EditField(form_id=form_id, field=name, value=value, base=base):
                await self._apply(session, party, doc.EditField(form_id, name, value, base))
            case p.SetIdentity(identity=identity, source=source):
                await self._apply(session, party, doc.SetIdentity(
                    identity.name, identity.id_number, source, identity.address,
                    identity.mobile))
                self._audit(session, "identity_set", {"source": source}, party)
            case p.SubmitForm(form_id=form_id):
                await self._submit(session, party, form_id)
            case p.ScreenStatusReport(screen_id=screen_id, status=status, error=error):
                await self._apply(session, party, doc.SetScreenStatus(screen_id, status, error))
            case p.PushScreen(screen=screen):
                rendered = await self._render_screen(session, screen)
                await self._apply(session, party, doc.PushScreen(rendered))
                self._audit(session, "screen_pushed", {"kind": rendered["kind"]})
            case p.CloseScreen(screen_id=screen_id):
                await self._apply(session, party, doc.CloseScreen(screen_id))
            case _:
                raise HubError("unknown_type", f"{getattr(message, 'type', '?')} is not a "
                               "session message")

    def _party(self, conn: Connection, call_id: str) -> tuple[LiveSession, doc.Party]:
        """The sender's session and role in it; nobody acts on another session."""
        session = self.hub.sessions.get(call_id)
        if session is None:
            raise HubError("not_in_session", "no live session with this call id")
        if conn.role is Role.CALLER and conn.call_id == call_id:
            return session, doc.Party.CALLER
        if conn.role is Role.AGENT and conn.agent_id == session.agent_id:
            return session, doc.Party.AGENT
        raise HubError("not_in_session", "you are not a party of this session")

    async def _apply(self, session: LiveSession, party: doc.Party, op: doc.Op,
                     now: float | None = None) -> None:
        """Submit the op to the live state, which applies it (``apply_op``) on every node
        holding the session; a refusal raises here."""
        at = self.hub.wall(self.hub.now()) if now is None else now
        await self.hub.submit(document_entry(session.call_id, party, op, at))

    def apply_op(self, session: LiveSession, party: doc.Party, op: doc.Op,
                 now: float) -> list[dict[str, Any]]:
        """Apply an op to the session document and deliver its messages to the parties
        on this node (called by ``state.LiveState`` only)."""
        assert self.forms is not None, "start() loads the catalog first"
        try:
            messages = session.document.apply(op, party, now, self.forms)
        except doc.DocumentError as exc:
            raise HubError(exc.code, exc.message, **exc.fields) from None
        self.deliver(session, messages)
        return messages

    def deliver(self, session: LiveSession, messages: list[dict[str, Any]]) -> None:
        """The same messages to both parties; the draft is saved soon after."""
        for message in messages:
            if message["type"] == "material_added":
                message["material"] = self.material_links(session.call_id,
                                                           message["material"])
            outbound = p.outbound(message.pop("type"), **message)
            self.hub.to_caller(session.call_id, outbound)
            self.hub.to_agent(session.agent_id, outbound)
        if messages:
            self._dirty.add(session.call_id)

    async def add_material(self, session: LiveSession, party: doc.Party,
                           material: dict[str, Any]) -> None:
        """A stored material joins the call (REST upload, snapshot, signature)."""
        await self._apply(session, party, doc.AddMaterial(material))
        self._audit(session, "material_added", {"material": material["id"],
                                                "kind": material["kind"],
                                                "source": material["source"]}, party)

    # ------------------------------------------------------------ submissions

    async def _submit(self, session: LiveSession, party: doc.Party, form_id: str) -> None:
        """Check in full and freeze, store, then mark submitted; a failed write reopens."""
        try:
            await self._apply(session, party, doc.BeginSubmit(form_id))
        except HubError as exc:
            if exc.code == "form_invalid":  # the agent sees what the caller has to fix
                self.hub.to_agent(session.agent_id, p.outbound(
                    "submit_refused", call_id=session.call_id, **exc.fields))
            raise
        form = session.document.form(form_id)
        submission_id = "s-" + secrets.token_hex(8)
        submitted_at = time.time()
        materials = sorted({str(v) for name, hints in form.ui_fields.items()
                            if hints.get("type") in ("material", "signature")
                            for v in _as_list(form.values.get(name))})
        signature = next((str(form.values[name]) for name, hints in form.ui_fields.items()
                          if hints.get("type") == "signature" and name in form.values), None)
        try:
            await self.hub.submissions.add(
                id=submission_id, call_id=session.call_id, form_id=form_id,
                matter=form.matter, form_version=str(form.definition.get("version")),
                values=dict(form.values), materials=materials,
                filled_by=dict(form.filled_by), signature=signature,
                submitted_at=submitted_at, submitted_by=party.value)
        except Exception:
            log.exception("storing the submission of %s/%s failed", session.call_id, form_id)
            await self._apply(session, party, doc.AbortSubmit(form_id))
            raise HubError("not_saved", "the submission could not be stored; please try "
                           "again") from None
        await self._apply(session, party, doc.FinishSubmit(form_id, submission_id),
                          now=submitted_at)
        self._audit(session, "form_submitted", {"form": form_id, "matter": form.matter,
                                                "submission": submission_id}, party)
        await self.hub.case_side.submitted(session, submission_id, form.matter)

    # ------------------------------------------------------------ screens

    async def _render_screen(self, session: LiveSession, screen: Any) -> dict[str, Any]:
        """Check a screen the agent pushes and add what the caller's page needs to show
        it: links to rendered pages, a QR code as SVG, the guidance page."""
        assert self.forms is not None
        call_id = session.call_id
        if isinstance(screen, p.GuidanceScreen):
            matter = self.forms.catalog.matters.get(screen.matter)
            if matter is None:
                raise HubError("unknown_matter", f"no matter {screen.matter!r}")
            item = f"guidance/{screen.matter}"
            return {"kind": "guidance", "matter": screen.matter,
                    "title": matter.title.as_json(),
                    "url": f"/api/calls/{call_id}/{item}?access="
                           + access_token(self.hub.secret, call_id, item)}
        if isinstance(screen, p.DocumentScreen):
            material = session.document.material(screen.material_id)
            if material is None:
                raise HubError("unknown_material", "no such material in this call")
            pages = await self._document_pages(call_id, material)
            return {"kind": "document", "material_id": screen.material_id,
                    "content_type": material["content_type"],
                    "title": {"zh": "文档", "en": "Document"}, "pages": pages}
        if isinstance(screen, p.UrlScreen):
            allowed = self.hub.settings.screen_url_allowlist
            if not any(screen.url.startswith(prefix) for prefix in allowed):
                raise HubError("url_not_allowed", "this address is not on the centre's "
                               "allow-list")
            return {"kind": "url", "url": screen.url,
                    "title": {"zh": "网页", "en": "Web page"}}
        if isinstance(screen, p.QrScreen):
            from ..matters.render import qr_svg
            title = screen.title or "扫码带走 / Scan to take away"
            return {"kind": "qr", "text": screen.text, "svg": qr_svg(screen.text),
                    "title": {"zh": title, "en": title}}
        return {"kind": "screen_share", "title": {"zh": "坐席屏幕", "en": "Agent's screen"}}

    async def _document_pages(self, call_id: str, material: dict[str, Any]) -> list[str]:
        """Links to the pages of a material as images: an image is its own page; a PDF
        is rendered to PNG pages on the server, so no PDF viewer runs on a kiosk."""
        if material["content_type"] != "application/pdf":
            return [self.material_links(call_id, material)["url"]]
        from ..matters.render import pdf_pages_to_png
        store = self.hub.material_store
        data = await asyncio.to_thread(store.read, material["sha256"])
        try:
            pages = await asyncio.to_thread(pdf_pages_to_png, data)
        except Exception:
            log.warning("rendering material %s failed", material["id"], exc_info=True)
            raise HubError("unreadable", "this document could not be rendered") from None
        links = []
        for png in pages:
            sha = await asyncio.to_thread(store.put, png)
            item = f"pages/{sha}"
            links.append(f"/api/calls/{call_id}/{item}.png?access="
                         + access_token(self.hub.secret, call_id, item))
        return links

    # ------------------------------------------------------------ links, drafts, audit

    def material_links(self, call_id: str, material: dict[str, Any]) -> dict[str, Any]:
        item = f"materials/{material['id']}"
        return {**material, "url": f"/api/calls/{call_id}/{item}?access="
                + access_token(self.hub.secret, call_id, item)}

    def _with_links(self, snapshot: dict[str, Any]) -> dict[str, Any]:
        snapshot["materials"] = [self.material_links(snapshot["call_id"], m)
                                 for m in snapshot["materials"]]
        return snapshot

    async def _draft_loop(self) -> None:
        """Hand changed documents to the draft writer every few seconds: a crash loses at
        most that much typing, plus the writer's batch under way (docs/operations.md)."""
        while True:
            await asyncio.sleep(DRAFT_INTERVAL)
            try:
                await self.save_drafts()
            except Exception:
                log.exception("saving drafts failed")

    async def save_drafts(self) -> None:
        """Hand every changed document to the draft writer (``hub.draft_writer``: coalesced
        per call, batched, on its own connection; it retries a failing database)."""
        dirty, self._dirty = self._dirty, set()
        for call_id in dirty:
            session = self.hub.sessions.get(call_id)
            if session is not None:
                self._save(call_id, session.document)

    def save_soon(self, call_id: str) -> None:
        """Save on reconnect (a page reload) without waiting for the next round."""
        session = self.hub.sessions.get(call_id)
        if session is not None:
            self._dirty.discard(call_id)
            self._save(call_id, session.document)

    def _save(self, call_id: str, document: doc.SessionDocument) -> None:
        self.hub.draft_writer.save(call_id, document.snapshot(), document.revision,
                                   time.time())

    def _audit(self, session: LiveSession, action: str, detail: dict[str, Any],
               party: doc.Party = doc.Party.AGENT) -> None:
        """One audit line; the actor is the agent, or ``caller:<call id>`` for the caller.
        Lines are written in the order asked (one writer after another)."""
        actor = session.agent_id if party is doc.Party.AGENT else f"caller:{session.call_id}"
        entry = (actor, action, {"call": session.call_id, **detail}, time.time())
        previous = self._audit_tail

        async def write() -> None:
            if previous is not None:
                await asyncio.gather(previous, return_exceptions=True)
            await self.hub.audit_log.append(*entry)
        self._audit_tail = self.hub.background_task(write())


def _as_list(value: object) -> list[object]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]
