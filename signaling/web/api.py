"""REST routes: health, login, catalog, invites, callbacks, call history, statistics.

Errors are JSON ``{"type": "error", "code": ..., "message": ...}`` like on the sockets.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from ..live.hub import Hub
from ..live.shared_limits import SharedLoginThrottle
from ..store import InviteUnusable
from ..store.models import Account, Invite
from ..store.passwords import HashingBusy, HashingGate
from ..store.ticket_repositories import TicketRepository
from ..tokens import TokenError, sign, verify


class ApiError(Exception):
    """An HTTP error with a wire code; rendered by the app's exception handler."""

    def __init__(self, status: int, code: str, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


#: REST bodies are as strict as socket messages: no unknown fields, no coerced types
STRICT_BODY = ConfigDict(extra="forbid", strict=True)


class LoginRequest(BaseModel):
    model_config = STRICT_BODY
    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=200)


class InviteRequest(BaseModel):
    model_config = STRICT_BODY
    skill: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")
    label: str = Field(default="", max_length=100)
    ttl_seconds: float | None = Field(default=None, gt=0, le=7 * 24 * 3600)
    #: calls the link may carry (1 = single use); capped by the ``invite_max_uses`` setting
    max_uses: int = Field(default=1, ge=1, le=1000)


class CallbackDone(BaseModel):
    model_config = STRICT_BODY
    #: the values of ``CallbackOutcome`` (a Literal: strict mode takes no strings for enums)
    outcome: Literal["resolved", "follow-up", "no-answer", "wrong-number", "other"]
    notes: str | None = Field(default=None, max_length=4000)


def get_hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


HubDep = Annotated[Hub, Depends(get_hub)]


async def current_account(hub: HubDep,
                          authorization: Annotated[str | None, Header()] = None) -> Account:
    """The agent or supervisor behind ``Authorization: Bearer <token>``."""
    if not authorization or not authorization.startswith("Bearer "):
        raise ApiError(401, "not_authenticated", "Authorization: Bearer <token> required")
    try:
        claims = verify(hub.secret, "agent", authorization[7:], time.time())
    except TokenError as exc:
        raise ApiError(401, "invalid_token", f"login not valid: {exc}") from None
    account = await hub.accounts.get(claims["sub"])
    if account is None:
        raise ApiError(401, "invalid_token", "no such account")
    return account


AccountDep = Annotated[Account, Depends(current_account)]


async def supervisor(account: AccountDep) -> Account:
    if account.role not in ("supervisor", "admin"):
        raise ApiError(403, "forbidden", "supervisors only")
    return account


def build_router() -> APIRouter:
    router = APIRouter()

    @router.get("/healthz")
    async def healthz(hub: HubDep) -> dict[str, Any]:
        return {"status": "ok", "agents_online": len(hub.agents),
                "calls_in_queue": len(hub.routers.waiting_calls()),
                "sessions": len(hub.sessions)}

    @router.get("/api/replica")
    async def replica(hub: HubDep, _: Annotated[Account, Depends(supervisor)]
                      ) -> dict[str, Any]:
        """This node's live state (supervisors): broken routing invariants, the digest
        of the replicated state and the last log entry applied (docs/operations.md)."""
        return hub.state.report()

    @router.post("/api/login")
    async def login(body: LoginRequest, hub: HubDep, request: Request) -> dict[str, Any]:
        """Check a password, at most ``password_hash_concurrency`` at once (each check is a
        64 MiB argon2 hash); refuse at once when too many wait, or after repeated failures."""
        address = request.client.host if request.client else "?"
        throttle: SharedLoginThrottle = request.app.state.login_throttle
        hashing: HashingGate = request.app.state.password_hashing
        wait = await throttle.blocked_for(body.username, address, time.time())
        if wait > 0:
            seconds = int(wait) + 1
            raise ApiError(429, "too_many_attempts",
                           f"too many failed logins; try again in {seconds} s",
                           headers={"Retry-After": str(seconds)})
        try:
            async with hashing.turn():
                account = await hub.accounts.authenticate(body.username, body.password)
        except HashingBusy as busy:
            raise ApiError(503, "busy", f"too many logins at once; try again in "
                           f"{busy.retry_after} s",
                           headers={"Retry-After": str(busy.retry_after)}) from None
        if account is None:
            await throttle.failed(body.username, address, time.time())
            await hub.audit_log.append(body.username, "login_failed", {"address": address})
            raise ApiError(401, "invalid_credentials", "wrong username or password")
        await throttle.succeeded(body.username, address)
        await hub.audit_log.append(account.id, "login", {"username": account.username,
                                                         "address": address})
        token = sign(hub.secret, "agent", account.id, time.time(),
                     hub.settings.agent_token_ttl)
        return {"token": token, "expires_in": hub.settings.agent_token_ttl,
                "agent": {"id": account.id, "username": account.username,
                          "display_name": account.display_name, "role": account.role,
                          "skills": account.skills, "partition": account.partition}}

    @router.get("/api/kiosk")
    async def this_kiosk(hub: HubDep,
                         x_kiosk_token: Annotated[str | None, Header()] = None
                         ) -> dict[str, Any]:
        """Which kiosk this device token belongs to: the page checks it at start-up, so a
        revoked or mistyped token is found before a citizen presses the call button."""
        kiosk = hub.directory.kiosk_for_token(x_kiosk_token) if x_kiosk_token else None
        if kiosk is None:
            raise ApiError(401, "invalid_kiosk_token", "this kiosk is not provisioned")
        return {"id": kiosk.id, "name": kiosk.name, "town": kiosk.town,
                "partition": kiosk.partition}

    @router.get("/api/skills")
    async def skills(hub: HubDep) -> dict[str, Any]:
        return {"skills": [
            {"code": s.code, "name_zh": s.name_zh, "name_en": s.name_en, "icon": s.icon}
            for s in hub.directory.skills.values()
        ]}

    @router.post("/api/invites")
    async def create_invite(body: InviteRequest, account: AccountDep,
                            hub: HubDep, request: Request) -> dict[str, Any]:
        """A short opaque link that calls this agent directly, for a number of uses."""
        if body.skill not in hub.skills:
            raise ApiError(422, "unknown_skill", f"no such matter {body.skill!r}")
        if body.max_uses > hub.settings.invite_max_uses:
            raise ApiError(422, "invalid_request", "max_uses: at most "
                           f"{hub.settings.invite_max_uses}")
        now = time.time()
        invite, token = await hub.invites.create(
            agent_id=account.id, partition=account.partition, skill=body.skill,
            label=body.label, ttl=body.ttl_seconds or hub.settings.invite_ttl,
            max_uses=body.max_uses, now=now)
        await hub.audit_log.append(account.id, "invite_created", {
            "invite": invite.id, "skill": invite.skill, "max_uses": invite.max_uses,
            "expires_at": int(invite.expires_at)}, now)
        return {**invite_fields(invite, now), "token": token,
                "url": str(request.base_url) + f"call?invite={token}"}

    @router.get("/api/invites")
    async def list_invites(account: AccountDep, hub: HubDep) -> dict[str, Any]:
        """The agent's own invites (the links themselves are shown only at creation)."""
        now = time.time()
        return {"invites": [invite_fields(i, now)
                            for i in await hub.invites.list_for_agent(account.id)]}

    @router.delete("/api/invites/{invite_id}")
    async def revoke_invite(invite_id: str, account: AccountDep,
                            hub: HubDep) -> dict[str, Any]:
        now = time.time()
        if not await hub.invites.revoke(invite_id, account.id, now):
            raise ApiError(404, "not_found", "no such invite of yours")
        await hub.audit_log.append(account.id, "invite_revoked", {"invite": invite_id}, now)
        return {"id": invite_id, "revoked": True}

    @router.get("/api/invites/{token}")
    async def read_invite(token: str, hub: HubDep) -> dict[str, Any]:
        """What the invited person sees before calling: whom and for which matter."""
        try:
            invite = await hub.invites.usable(token, time.time())
        except InviteUnusable as exc:
            raise ApiError(404, "invalid_invite", f"invite link not valid: {exc.reason}"
                           ) from None
        account = await hub.accounts.get(invite.agent_id)
        return {"agent": {"id": invite.agent_id,
                          "display_name": account.display_name if account
                          else invite.agent_id},
                "skill": invite.skill, "label": invite.label,
                "expires_at": int(invite.expires_at),
                "uses_left": invite.max_uses - invite.uses}

    @router.get("/api/calls/recent")
    async def recent_calls(account: AccountDep, hub: HubDep) -> dict[str, Any]:
        records = await hub.call_records.recent_for_agent(account.id, limit=20)
        return {"calls": [
            {"id": r.id, "skill": r.skill, "origin": r.origin, "caller_label": r.caller_label,
             "enqueued_at": r.enqueued_at, "answered_at": r.answered_at,
             "ended_at": r.ended_at, "talk_s": r.talk_s, "wait_s": r.wait_s,
             "end_reason": r.end_reason, "rating": r.rating, "outcome": r.outcome,
             "notes": r.notes, "phase": r.phase}
            for r in records
        ]}

    @router.get("/api/callbacks")
    async def callbacks(account: AccountDep, hub: HubDep) -> dict[str, Any]:
        """Pending callbacks the agent may take (phone masked until claimed), and the
        ones it has claimed and not completed (phone shown)."""
        pending = await hub.callbacks.list_pending(account.partition)
        mine = await hub.callbacks.list_claimed_by(account.id)

        def item(c: Any, masked: bool) -> dict[str, Any]:
            phone = c.phone[:3] + "****" + c.phone[-4:] if masked else c.phone
            return {"id": c.id, "skill": c.skill, "phone": phone,
                    "caller_label": c.caller_label, "created_at": c.created_at,
                    "status": c.status}
        history = await hub.callbacks.list_done_by(account.id)
        return {"callbacks": [item(c, True) for c in pending
                              if c.skill in account.skills or account.role != "agent"]
                + [item(c, False) for c in mine],
                "history": [{**item(c, False), "outcome": c.outcome, "notes": c.notes,
                             "claimed_at": c.claimed_at, "done_at": c.done_at}
                            for c in history]}

    @router.post("/api/callbacks/{callback_id}/claim")
    async def claim_callback(callback_id: str, account: AccountDep,
                             hub: HubDep) -> dict[str, Any]:
        pending = {c.id: c for c in await hub.callbacks.list_pending(account.partition)}
        wanted = pending.get(callback_id)
        if wanted is None:
            raise ApiError(409, "already_claimed", "this callback is taken or gone")
        if account.role == "agent" and wanted.skill not in account.skills:
            raise ApiError(403, "forbidden", "this callback needs a skill you do not hold")
        now = time.time()
        item = await hub.callbacks.claim(callback_id, account.id, now)
        if item is None:
            raise ApiError(409, "already_claimed", "this callback is taken or gone")
        # Claiming reveals a full phone number: who saw whose number is audited.
        await hub.audit_log.append(account.id, "callback_claimed", {
            "callback": item.id, "call": item.call_id}, now)
        return {"id": item.id, "phone": item.phone, "status": item.status}

    @router.post("/api/callbacks/{callback_id}/complete")
    async def complete_callback(callback_id: str, body: CallbackDone, account: AccountDep,
                                hub: HubDep) -> dict[str, Any]:
        """Finish a claimed callback with how it went; it stays in the agent's history."""
        now = time.time()
        notes = (body.notes or "").strip() or None
        if not await hub.callbacks.complete(callback_id, account.id, now,
                                            outcome=body.outcome, notes=notes):
            raise ApiError(409, "not_yours", "only the agent who claimed it can complete it")
        await hub.audit_log.append(account.id, "callback_completed", {
            "callback": callback_id, "outcome": body.outcome}, now)
        return {"id": callback_id, "status": "done", "outcome": body.outcome,
                "notes": notes}

    @router.get("/api/stats")
    async def stats(account: Annotated[Account, Depends(supervisor)],
                    hub: HubDep) -> dict[str, Any]:
        now = hub.now()
        return {"threshold_seconds": hub.settings.service_level_threshold,
                "queues": [asdict(q) for q in hub.routers.queue_stats(now)],
                "agents": [asdict(a) for a in hub.routers.agent_stats()],
                "overdue_tasks": await hub.case_side.cases.overdue_count(time.time()),
                "overdue_tickets": await TicketRepository(hub.db).overdue_count(time.time())}

    @router.get("/api/audit")
    async def audit(account: Annotated[Account, Depends(supervisor)], hub: HubDep,
                    limit: Annotated[int, Query(ge=1, le=200)] = 50) -> dict[str, Any]:
        """The audit trail, newest first: logins, account and kiosk changes, invites,
        callback claims."""
        return {"entries": [
            {"id": entry.id, "at": entry.at, "actor": entry.actor, "action": entry.action,
             "detail": entry.detail}
            for entry in await hub.audit_log.recent(limit)
        ]}

    @router.get("/metrics", response_class=PlainTextResponse)
    async def metrics(hub: HubDep) -> str:
        return render_metrics(hub, await hub.case_side.cases.overdue_by_department(time.time()))

    return router


def invite_fields(invite: Invite, now: float) -> dict[str, Any]:
    """An invite as the console lists it (never its token)."""
    return {"id": invite.id, "skill": invite.skill, "label": invite.label,
            "created_at": int(invite.created_at), "expires_at": int(invite.expires_at),
            "max_uses": invite.max_uses, "uses": invite.uses,
            "revoked": invite.revoked_at is not None,
            "active": invite.revoked_at is None and invite.expires_at >= now
            and invite.uses < invite.max_uses}


def render_metrics(hub: Hub, overdue: dict[str, int] | None = None) -> str:
    """Prometheus text exposition of queue and agent-state figures, and of the overdue
    department tasks (``overdue``: counts by department; every catalog department is shown,
    0 when it has none, so an alert clears)."""
    lines: list[str] = []

    def metric(name: str, kind: str, help_: str,
               samples: list[tuple[dict[str, str], float | None]]) -> None:
        lines.append(f"# HELP cloud_agent_{name} {help_}")
        lines.append(f"# TYPE cloud_agent_{name} {kind}")
        for labels, value in samples:
            if value is None:
                continue
            text = ",".join(f'{k}="{v}"' for k, v in labels.items())
            lines.append(f"cloud_agent_{name}{{{text}}} {value}" if text
                         else f"cloud_agent_{name} {value}")

    queues = hub.routers.queue_stats(hub.now())
    q = [({"partition": s.partition, "skill": s.skill}, s) for s in queues]
    metric("queue_waiting", "gauge", "Calls in the queue.", [(lb, s.waiting) for lb, s in q])
    metric("queue_longest_wait_seconds", "gauge", "Wait of the oldest call in the queue.",
           [(lb, s.longest_wait) for lb, s in q])
    metric("queue_entered_total", "counter", "Calls that entered the queue.",
           [(lb, s.entered) for lb, s in q])
    metric("queue_answered_total", "counter", "Calls answered.",
           [(lb, s.answered) for lb, s in q])
    metric("queue_abandoned_total", "counter", "Calls abandoned (short abandons excluded).",
           [(lb, s.abandoned) for lb, s in q])
    metric("queue_callbacks_total", "counter", "Calls converted to callbacks.",
           [(lb, s.callbacks) for lb, s in q])
    metric("queue_service_level_percent", "gauge", "Answered within T / answered x 100.",
           [(lb, s.service_level) for lb, s in q])
    metric("queue_service_level2_percent", "gauge",
           "(Answered + abandoned within T) / (answered + abandoned) x 100.",
           [(lb, s.service_level_2) for lb, s in q])
    metric("queue_abandonment_rate_percent", "gauge", "Abandoned / queued x 100.",
           [(lb, s.abandonment_rate) for lb, s in q])
    metric("queue_average_speed_of_answer_seconds", "gauge", "Mean wait of answered calls.",
           [(lb, s.average_speed_of_answer) for lb, s in q])
    states: dict[str, int] = {}
    for agent in hub.routers.agents.values():
        states[agent.state.value] = states.get(agent.state.value, 0) + 1
    metric("agents", "gauge", "Agents by state.",
           [({"state": state}, count) for state, count in sorted(states.items())])
    backlog = hub.record_writer.backlog()
    metric("record_backlog_calls", "gauge",
           "Calls with a call-record write not yet in the database (journaled or about to be).",
           [({}, backlog.calls)])
    metric("record_backlog_oldest_seconds", "gauge",
           "How long the oldest call-record write not yet in the database has waited.",
           [({}, round(backlog.oldest_age, 3))])
    metric("call_requests_busy_total", "counter",
           "New call requests refused with 'busy' (load shedding), by reason.",
           [({"reason": reason.value}, count)
            for reason, count in hub.admission.refused.items()])
    metric("event_loop_lag_seconds", "gauge",
           "The event loop's lag as load shedding reads it (smallest of the last samples).",
           [({}, round(hub.admission.loop_lag(), 4))])
    if overdue is not None:
        catalog = hub.case_side.catalog
        departments = sorted({*(catalog.departments if catalog else ()), *overdue})
        metric("overdue_tasks", "gauge", "Undecided department tasks past their due time.",
               [({"department": d}, overdue.get(d, 0)) for d in departments])
    return "\n".join(lines) + "\n"
