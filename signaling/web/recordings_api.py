"""REST routes of consented recording: supervisors list and play recordings, admins set a
kiosk's recording policy (docs/protocol.md "Recording").

Playback: the listing (a supervisor's bearer token) gives each recording a link with a
short-lived token bound to that recording and that supervisor, because a ``<video>``
element cannot send an Authorization header. The file is served with HTTP ranges, so a
player can seek. Agents (of that call or any other), reviewers and callers get no listing
and cannot mint a link; every playback is audited.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict

from ..live.hub import Hub
from ..store.models import Account
from ..store.recording_models import Recording
from ..tokens import TokenError, sign, verify
from .api import AccountDep, ApiError, HubDep, supervisor

SupervisorDep = Annotated[Account, Depends(supervisor)]

#: seconds a playback link works
PLAYBACK_TTL = 15 * 60.0
#: most recordings one listing returns
LIMIT = 100


class KioskRecordingBody(BaseModel):
    """A kiosk's own recording policy (``none`` removes it)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    policy: Literal["none", "consent", "consent_or_callback"]


def _may_see(account: Account, partition: str | None) -> bool:
    return account.role == "admin" or partition == account.partition


def _item(hub: Hub, row: Recording, account: Account, now: float) -> dict[str, Any]:
    playable = hub.recording_side.file_of(row.path) is not None
    token = sign(hub.secret, "recording", row.id, now, PLAYBACK_TTL, by=account.id)
    return {"id": row.id, "call_id": row.call_id, "agent_id": row.agent_id,
            "state": row.state, "started_at": row.started_at, "ended_at": row.ended_at,
            "duration_s": row.duration_s, "bytes": row.bytes, "failure": row.failure,
            "media_url": f"/api/recordings/{row.id}/media?token={token}" if playable else None}


def build_recordings_router() -> APIRouter:
    router = APIRouter()

    @router.get("/api/recordings")
    async def recent_recordings(account: SupervisorDep, hub: HubDep) -> dict[str, Any]:
        """The newest recordings of the supervisor's district, each with its call record."""
        now = time.time()
        items: list[dict[str, Any]] = []
        for row in await hub.recording_side.recordings.recent(LIMIT * 2):
            call = await hub.call_records.get(row.call_id)
            if call is None or not _may_see(account, call.partition):
                continue
            items.append({**_item(hub, row, account, now), "call": {
                "skill": call.skill, "origin": call.origin, "caller_label": call.caller_label,
                "agent_id": call.agent_id, "answered_at": call.answered_at,
                "ended_at": call.ended_at, "talk_s": call.talk_s}})
            if len(items) >= LIMIT:
                break
        return {"recordings": items}

    @router.get("/api/calls/{call_id}/recordings")
    async def call_recordings(call_id: str, account: SupervisorDep,
                              hub: HubDep) -> dict[str, Any]:
        """The consent answer and the recordings of one call (linked by its id)."""
        call = await hub.call_records.get(call_id)
        if call is None:
            raise ApiError(404, "not_found", "no such call")
        if not _may_see(account, call.partition):
            raise ApiError(403, "forbidden", "that call is another district's")
        side = hub.recording_side
        consent = await side.recordings.consent_for(call_id)
        now = time.time()
        return {
            "call_id": call_id,
            "consent": None if consent is None else {
                "consent": consent.consent, "policy": consent.policy,
                "sources": consent.sources, "on_refusal": consent.on_refusal,
                "at": consent.at},
            "recordings": [_item(hub, row, account, now)
                           for row in await side.recordings.for_call(call_id)],
        }

    @router.get("/api/recordings/{recording_id}/media")
    async def recording_media(recording_id: str, request: Request, hub: HubDep,
                              token: str = "") -> FileResponse:
        """The WebM file, range-capable, for a link minted by a listing."""
        try:
            claims = verify(hub.secret, "recording", token, time.time())
        except TokenError:
            raise ApiError(403, "forbidden", "this playback link is not valid") from None
        if claims.get("sub") != recording_id:
            raise ApiError(403, "forbidden", "this playback link is for another recording")
        side = hub.recording_side
        row = await side.recordings.get(recording_id)
        path = None if row is None else side.file_of(row.path)
        if row is None or path is None:
            raise ApiError(404, "recording_gone", "the recording is not there (purged?)")
        if request.headers.get("range", "bytes=0-") in ("bytes=0-", ""):
            await hub.audit_log.append(str(claims.get("by", "?")), "recording_played", {
                "recording": row.id, "call": row.call_id})
        return FileResponse(path, media_type="video/webm",
                            headers={"Cache-Control": "private, no-store"})

    @router.put("/api/kiosks/{kiosk_id}/recording")
    async def set_kiosk_recording(kiosk_id: str, body: KioskRecordingBody,
                                  account: AccountDep, hub: HubDep) -> dict[str, Any]:
        """Set a kiosk's own recording policy (admins)."""
        if account.role != "admin":
            raise ApiError(403, "forbidden", "admins only")
        if await hub.kiosks.get(kiosk_id) is None:
            raise ApiError(404, "not_found", "no such kiosk")
        now = time.time()
        await hub.recording_side.recordings.set_kiosk_policy(kiosk_id, body.policy,
                                                             by=account.id, now=now)
        await hub.recording_side.refresh_policies()
        await hub.audit_log.append(account.id, "kiosk_recording_policy", {
            "kiosk": kiosk_id, "policy": body.policy}, now)
        return {"kiosk_id": kiosk_id, "policy": body.policy}

    return router
