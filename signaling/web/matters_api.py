"""REST routes of the matters: the catalog, a call's materials, screen pages, guidance and
submissions.

A call's items are for its two parties only: the agent of the session (``Authorization:
Bearer``), the caller (``X-Resume-Token``), or a page element holding a signed, expiring
``access`` link from the session document (an ``<img>`` cannot send headers).
"""

from __future__ import annotations

import html
import secrets
import time
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import HTMLResponse, Response

from ..live.hub import Hub
from ..live.sessions import HubError, LiveSession
from ..matters import document as doc
from ..store.files import MaterialRejected
from ..tokens import TokenError, verify
from .api import ApiError, HubDep, current_account

#: material kinds a party may upload besides the catalog's (a drawn signature)
EXTRA_KINDS = {"signature", "other"}
SOURCES = {"upload", "snapshot", "document_camera", "signature"}

#: headers of every item served from a call: never sniffed, never framed by others, no
#: script even if a hostile file slipped through the content check
ITEM_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store",
                "Content-Security-Policy": "default-src 'none'; img-src 'self'; "
                                           "style-src 'unsafe-inline'; sandbox",
                "Referrer-Policy": "no-referrer"}


async def _party(hub: Hub, call_id: str, authorization: str | None,
                 resume_token: str | None) -> tuple[LiveSession, doc.Party]:
    """The live session and which of its parties is asking; 403 for anybody else."""
    session = hub.sessions.get(call_id)
    if session is None:
        raise ApiError(404, "not_in_session", "no live session with this call id")
    if resume_token is not None:
        if hub.resume_tokens.get(resume_token) == call_id:
            return session, doc.Party.CALLER
        raise ApiError(403, "forbidden", "not your call")
    account = await current_account(hub, authorization)
    if account.id != session.agent_id:
        raise ApiError(403, "forbidden", "not your call")
    return session, doc.Party.AGENT


def _check_access(hub: Hub, call_id: str, item: str, access: str | None) -> None:
    try:
        claims = verify(hub.secret, "call-item", access or "", time.time())
    except TokenError:
        raise ApiError(403, "forbidden", "this link is not valid (or expired)") from None
    if claims.get("sub") != f"{call_id}/{item}":
        raise ApiError(403, "forbidden", "this link is for another item")


def build_matters_router() -> APIRouter:
    router = APIRouter()

    @router.get("/api/catalog")
    async def catalog(hub: HubDep) -> dict[str, Any]:
        """Categories with their matters, materials and departments, for the console."""
        assert hub.matter_side.forms is not None
        return hub.matter_side.forms.catalog.to_json()

    @router.get("/api/catalog/matters/{code}/form")
    async def matter_form(code: str, hub: HubDep) -> dict[str, Any]:
        assert hub.matter_side.forms is not None
        form = hub.matter_side.forms.form(code)
        if form is None:
            raise ApiError(404, "unknown_matter", f"no matter {code!r}")
        return form

    @router.post("/api/calls/{call_id}/materials")
    async def upload_material(
            call_id: str, request: Request, hub: HubDep,
            kind: Annotated[str, Query(max_length=40)],
            source: Annotated[str, Query(max_length=20)] = "upload",
            authorization: Annotated[str | None, Header()] = None,
            x_resume_token: Annotated[str | None, Header()] = None) -> dict[str, Any]:
        """A material for the call: the body is the file itself (image or PDF)."""
        session, party = await _party(hub, call_id, authorization, x_resume_token)
        assert hub.matter_side.forms is not None
        if kind not in hub.matter_side.forms.catalog.materials and kind not in EXTRA_KINDS:
            raise ApiError(422, "unknown_material_kind", f"no material kind {kind!r}")
        if source not in SOURCES:
            raise ApiError(422, "invalid_request", f"source is one of {sorted(SOURCES)}")
        if source == "snapshot" and party is not doc.Party.AGENT:
            raise ApiError(403, "forbidden", "snapshots of the video are the agent's")
        if len(session.document.materials) >= doc.MAX_MATERIALS:  # before anything is stored
            raise ApiError(409, "too_many_materials", f"at most {doc.MAX_MATERIALS} "
                           "materials in one call")
        limit = hub.settings.max_material_bytes
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ApiError(413, "too_large", f"a material is at most {limit} bytes")
            chunks.append(chunk)
        data = b"".join(chunks)
        store = hub.material_store
        try:
            content_type = store.check(data)
            pages = store.pages(data, content_type)
        except MaterialRejected as exc:
            raise ApiError(422, exc.code, exc.message) from None
        sha = store.put(data)
        material: dict[str, Any] = {"id": "m-" + secrets.token_hex(8), "kind": kind,
                    "content_type": content_type, "size": size, "sha256": sha,
                    "source": source, "by": party.value, "at": time.time(), "pages": pages}
        await hub.materials.add(call_id=call_id, **material)
        try:
            await hub.matter_side.add_material(session, party, material)
        except HubError as exc:  # e.g. the call's last allowed material raced this one
            raise ApiError(409, exc.code, exc.message) from None
        return {"material": hub.matter_side.material_links(call_id, material)}

    @router.get("/api/calls/{call_id}/materials/{material_id}")
    async def material_file(call_id: str, material_id: str, hub: HubDep,
                            access: str | None = None) -> Response:
        _check_access(hub, call_id, f"materials/{material_id}", access)
        material = await hub.materials.get(material_id)
        if material is None or material.call_id != call_id:
            raise ApiError(404, "not_found", "no such material")
        data = hub.material_store.read(material.sha256)
        return Response(data, media_type=material.content_type, headers=ITEM_HEADERS)

    @router.get("/api/calls/{call_id}/pages/{sha}.png")
    async def screen_page(call_id: str, sha: str, hub: HubDep,
                          access: str | None = None) -> Response:
        _check_access(hub, call_id, f"pages/{sha}", access)
        try:
            data = hub.material_store.read(sha)
        except (FileNotFoundError, ValueError):
            raise ApiError(404, "not_found", "no such page") from None
        return Response(data, media_type="image/png", headers=ITEM_HEADERS)

    @router.get("/api/calls/{call_id}/guidance/{matter}")
    async def guidance(call_id: str, matter: str, hub: HubDep, lang: str = "zh",
                       access: str | None = None) -> HTMLResponse:
        """The matter's guidance as a small page (autoescaped) for the caller's frame."""
        _check_access(hub, call_id, f"guidance/{matter}", access)
        assert hub.matter_side.forms is not None
        found = hub.matter_side.forms.catalog.matters.get(matter)
        if found is None:
            raise ApiError(404, "unknown_matter", f"no matter {matter!r}")
        return HTMLResponse(render_guidance(found, lang), headers=GUIDANCE_HEADERS)

    @router.get("/api/calls/{call_id}/submissions")
    async def submissions(call_id: str, hub: HubDep,
                          authorization: Annotated[str | None, Header()] = None
                          ) -> dict[str, Any]:
        """The call's stored submissions and last draft: its agent, or a supervisor."""
        account = await current_account(hub, authorization)
        record = await hub.call_records.get(call_id)
        session = hub.sessions.get(call_id)
        agent_id = session.agent_id if session else (record.agent_id if record else None)
        if account.role == "agent" and account.id != agent_id:
            raise ApiError(403, "forbidden", "not your call")
        items = await hub.submissions.list_for_call(call_id)
        # The last saved state of the call's forms: what was typed but not submitted
        # survives a dropped call or a server restart here.
        draft = await hub.drafts.get(call_id)
        return {"submissions": [submission_json(s) for s in items],
                "draft": None if draft is None else {
                    "revision": draft.revision, "updated_at": draft.updated_at,
                    "document": draft.document}}

    return router


GUIDANCE_HEADERS = {**ITEM_HEADERS,
                    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"}


def render_guidance(matter: Any, lang: str) -> str:
    """The guidance page: title, paragraphs and the materials to bring; every text is
    escaped (catalog files are admin input)."""
    english = lang == "en"
    title = matter.title.en if english else matter.title.zh
    text = matter.guidance.en if english else matter.guidance.zh
    paragraphs = "".join(f"<p>{html.escape(part.strip())}</p>"
                         for part in text.split("\n\n") if part.strip())
    return (f'<!doctype html><html lang="{"en" if english else "zh-CN"}"><head>'
            '<meta charset="utf-8"><meta name="viewport" content="width=device-width">'
            f"<title>{html.escape(title)}</title><style>"
            "body{font:22px/1.6 system-ui,sans-serif;color:#1a1a1a;background:#fff;"
            "margin:0;padding:24px}h1{font-size:28px;margin:0 0 16px}</style></head>"
            f"<body><main><h1>{html.escape(title)}</h1>{paragraphs}</main></body></html>")


def submission_json(item: Any) -> dict[str, Any]:
    return {"id": item.id, "call_id": item.call_id, "form_id": item.form_id,
            "matter": item.matter, "form_version": item.form_version, "values": item.values,
            "materials": item.materials, "filled_by": item.filled_by,
            "signature": item.signature, "submitted_at": item.submitted_at,
            "submitted_by": item.submitted_by}
