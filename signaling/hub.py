"""The hub: drives the routing engine, delivers its actions, and relays session messages.

It owns the live state the engine does not: which socket is which caller or agent, live
sessions (the two parties of a call), resume tokens, and the engine's timer. It enforces
that nobody acts outside their role or session. All engine calls happen on the event
loop thread, one at a time, so the engine needs no locks.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from . import protocol as p
from .connection import Connection
from .ice import ice_servers_for
from .ratelimit import LoginThrottle
from .routing import actions as act
from .routing import events as ev
from .routing.engine import Engine
from .routing.model import (
    Activity,
    CallStatus,
    Disposition,
    Origin,
    Presence,
    RoutingConfig,
    RoutingError,
)
from .settings import Settings
from .store import (
    AccountRepository,
    CallbackRepository,
    CallRepository,
    CatalogRepository,
    Database,
    KioskRepository,
)
from .tokens import TokenError, sign, verify

log = logging.getLogger(__name__)

AGENT_RECONNECT_GRACE = 10.0
RATING_WINDOW = 15 * 60.0


def routing_config(settings: Settings) -> RoutingConfig:
    """The engine's rules from the server settings."""
    return RoutingConfig(
        ring_timeout=settings.ring_timeout, max_no_answer=settings.max_no_answer,
        reject_delay=settings.reject_delay, no_answer_delay=settings.no_answer_delay,
        wrap_up_time=settings.wrap_up_time,
        widen_to_all_levels_after=settings.widen_to_all_levels_after,
        widen_to_partition_after=settings.widen_to_partition_after,
        resume_grace=settings.resume_grace, max_wait=settings.max_wait,
        service_level_threshold=settings.service_level_threshold,
        short_abandon_threshold=settings.short_abandon_threshold,
        default_handle_time=settings.default_handle_time,
    )


@dataclass
class CallerInfo:
    """Who is behind a call, kept for the call's life (and shown to the agent)."""

    call_id: str
    skill: str
    origin: Origin
    label: str
    partition: str
    resume_token: str
    kiosk_id: str | None = None
    company: dict[str, str] | None = None
    language: str = "zh-CN"
    connection: Connection | None = None


@dataclass
class LiveSession:
    """A connected call: exactly two parties, the only ones allowed to relay to each other."""

    call_id: str
    agent_id: str
    started_at: float
    ice_servers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


class HubError(Exception):
    """A request refused by the hub; ``code`` goes on the wire."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Hub:
    """Single-node hub over the in-process engine (the memory backend of DESIGN.md)."""

    def __init__(self, settings: Settings, db: Database, secret: bytes) -> None:
        self.settings = settings
        self.db = db
        self.secret = secret
        self.engine = Engine(routing_config(settings))
        self.accounts = AccountRepository(db)
        self.kiosks = KioskRepository(db)
        self.catalog = CatalogRepository(db)
        self.call_records = CallRepository(db)
        self.callbacks = CallbackRepository(db)
        self.callers: dict[str, CallerInfo] = {}
        self.resume_tokens: dict[str, str] = {}
        self.sessions: dict[str, LiveSession] = {}
        self.agents: dict[str, Connection] = {}
        self.agent_profiles: dict[str, dict[str, Any]] = {}
        self.wrapping: dict[str, str] = {}  # agent id -> call id of its wrap-up
        self.skills: set[str] = set()
        self.login_throttle = LoginThrottle()
        self._timer: asyncio.TimerHandle | None = None
        self._logout_timers: dict[str, asyncio.TimerHandle] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._snapshot_task: asyncio.Task[None] | None = None
        self._last_snapshot: dict[str, Any] | None = None
        self._wall_offset = 0.0
        self._batch_queued: set[str] = set()
        self._record_writes: dict[str, asyncio.Task[None]] = {}

    # ------------------------------------------------------------------ life cycle

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._wall_offset = time.time() - loop.time()
        self.skills = {s.code for s in await self.catalog.list_skills()}
        self._snapshot_task = asyncio.create_task(self._snapshot_loop())

    async def stop(self) -> None:
        if self._snapshot_task:
            self._snapshot_task.cancel()
            await asyncio.gather(self._snapshot_task, return_exceptions=True)
        if self._timer:
            self._timer.cancel()
        for handle in self._logout_timers.values():
            handle.cancel()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def wall(self, loop_time: float) -> float:
        return loop_time + self._wall_offset

    # ------------------------------------------------------------------ engine driving

    def apply(self, event: ev.Event) -> None:
        """Feed one event to the engine, deliver its actions and re-arm the timer."""
        now = self.now()
        try:
            actions = self.engine.handle(event, now)
        except RoutingError as exc:
            self._deliver(exc.actions, now)  # type: ignore[arg-type]
            self._arm_timer()
            raise
        self._deliver(actions, now)
        self._arm_timer()

    def _arm_timer(self) -> None:
        deadline = self.engine.next_deadline()
        if self._timer is not None:
            if deadline is not None and self._timer.when() == deadline:
                return
            self._timer.cancel()
            self._timer = None
        if deadline is not None:
            self._timer = asyncio.get_running_loop().call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        try:
            self.apply(ev.Tick())
        except Exception:  # the timer must never die silently (DESIGN.md)
            log.exception("engine tick failed")
            self._arm_timer()

    def self_check(self) -> list[str]:
        """The live invariant check: log violations and repair by dispatching."""
        problems = self.engine.violations(self.now())
        if problems:
            log.error("routing invariant violated: %s", problems)
            self.apply(ev.Tick(reason="self_check"))
        return problems

    # ------------------------------------------------------------------ action delivery

    def _deliver(self, actions: list[act.Action], now: float) -> None:
        self._batch_queued = {a.call_id for a in actions if isinstance(a, act.CallQueued)}
        for action in actions:
            handler = getattr(self, "_do_" + type(action).__name__)
            handler(action, now)

    def _caller(self, call_id: str) -> Connection | None:
        info = self.callers.get(call_id)
        return info.connection if info else None

    def _to_caller(self, call_id: str, message: dict[str, Any]) -> None:
        conn = self._caller(call_id)
        if conn is not None:
            conn.send(message)

    def _to_agent(self, agent_id: str, message: dict[str, Any]) -> None:
        conn = self.agents.get(agent_id)
        if conn is not None:
            conn.send(message)

    def _do_CallQueued(self, action: act.CallQueued, now: float) -> None:  # noqa: N802
        info = self.callers[action.call_id]
        position = self.engine.position_of(action.call_id) or (1, 0)
        self._to_caller(action.call_id, p.outbound(
            "queued", call_id=action.call_id, resume_token=info.resume_token,
            position=position[0], estimated_wait=position[1]))

    def _do_PositionChanged(self, action: act.PositionChanged, now: float) -> None:  # noqa: N802
        if action.call_id in self._batch_queued:
            return  # already in the 'queued' message
        self._to_caller(action.call_id, p.outbound(
            "position", call_id=action.call_id, position=action.position,
            estimated_wait=action.estimated_wait))

    def _do_OfferCall(self, action: act.OfferCall, now: float) -> None:  # noqa: N802
        info = self.callers[action.call_id]
        self._to_agent(action.agent_id, p.outbound(
            "offer", call_id=action.call_id, skill=action.skill, origin=action.origin.value,
            label=action.label, company=info.company, waited=round(action.waited, 3),
            ring_timeout_ms=int(max(0.0, action.expires_at - now) * 1000),
            auto_answer=action.auto_answer))

    def _do_OfferCancelled(self, action: act.OfferCancelled, now: float) -> None:  # noqa: N802
        self._to_agent(action.agent_id, p.outbound(
            "offer_cancelled", call_id=action.call_id, reason=action.reason))

    def _do_CallRinging(self, action: act.CallRinging, now: float) -> None:  # noqa: N802
        self._to_caller(action.call_id, p.outbound("ringing", call_id=action.call_id))

    def _do_CallRequeued(self, action: act.CallRequeued, now: float) -> None:  # noqa: N802
        self._to_caller(action.call_id, p.outbound(
            "requeued", call_id=action.call_id, reason=action.reason))

    def _do_CallbackOffered(self, action: act.CallbackOffered, now: float) -> None:  # noqa: N802
        self._to_caller(action.call_id, p.outbound(
            "callback_offer", call_id=action.call_id, reason=action.reason))

    def _do_AgentStateChanged(self, action: act.AgentStateChanged, now: float) -> None:  # noqa: N802
        fields = self._agent_state_fields(action.agent_id, now)
        # The action's state, not the engine's latest: one event may pass through several.
        fields.update(state=action.state.value, reason=action.reason,
                      auto_answer=action.auto_answer)
        if action.state.value != "wrap_up":
            fields.pop("wrap_up_ms", None)
            fields.pop("call_id", None)
        self._to_agent(action.agent_id, p.outbound("agent_state", **fields))

    def _agent_state_fields(self, agent_id: str, now: float) -> dict[str, Any]:
        """The agent's state as consoles show it: the system state, what the agent chose
        (presence, which may differ mid-call), and wrap-up time left (None = no limit)."""
        agent = self.engine.agents[agent_id]
        fields: dict[str, Any] = {
            "state": agent.state.value,
            "reason": agent.not_ready_reason if agent.state.value == "not_ready" else None,
            "presence": agent.presence.value, "presence_reason": agent.not_ready_reason,
            "auto_answer": agent.auto_answer,
        }
        if agent.activity is Activity.WRAP_UP:
            fields["call_id"] = self.wrapping.get(agent_id)
            fields["wrap_up_ms"] = (None if agent.wrap_up_until is None
                                    else int(max(0.0, agent.wrap_up_until - now) * 1000))
        return fields

    def _do_CallConnected(self, action: act.CallConnected, now: float) -> None:  # noqa: N802
        info = self.callers[action.call_id]
        session = LiveSession(action.call_id, action.agent_id, now)
        wall = self.wall(now)
        for party, user in (("caller", f"{action.call_id}-c"), ("agent", action.agent_id)):
            session.ice_servers[party] = [
                server.model_dump(exclude_none=True) for server in ice_servers_for(
                    stun_urls=self.settings.stun_urls, turn_urls=self.settings.turn_urls,
                    turn_secret=self.settings.turn_secret, user_id=user, now=wall,
                    ttl=self.settings.turn_ttl)
            ]
        self.sessions[action.call_id] = session
        self._to_caller(action.call_id, self._connected_for_caller(session))
        self._to_agent(action.agent_id, self._connected_for_agent(session, info))

    def _connected_for_caller(self, session: LiveSession) -> dict[str, Any]:
        profile = self.agent_profiles.get(session.agent_id, {})
        return p.outbound(
            "connected", call_id=session.call_id, role="offerer", polite=False,
            ice_servers=session.ice_servers["caller"],
            peer={"display_name": profile.get("display_name", session.agent_id)})

    def _connected_for_agent(self, session: LiveSession, info: CallerInfo) -> dict[str, Any]:
        return p.outbound(
            "connected", call_id=session.call_id, role="answerer", polite=True,
            ice_servers=session.ice_servers["agent"],
            answered_at=round(self.wall(session.started_at), 3),
            peer={"origin": info.origin.value, "label": info.label, "skill": info.skill,
                  "company": info.company, "language": info.language})

    def _do_CallEnded(self, action: act.CallEnded, now: float) -> None:  # noqa: N802
        info = self.callers.pop(action.call_id, None)
        self.sessions.pop(action.call_id, None)
        message = p.outbound("ended", call_id=action.call_id, reason=action.reason,
                             disposition=action.disposition.value)
        if info is not None:
            self.resume_tokens.pop(info.resume_token, None)
            if info.connection is not None:
                rating_token = sign(self.secret, "rating", action.call_id, time.time(),
                                    RATING_WINDOW)
                info.connection.send({**message, "rating_token": rating_token})
                info.connection.call_id = None
                info.connection.last_call_id = action.call_id
        if action.agent_id is not None:
            self.wrapping[action.agent_id] = action.call_id
            until = self.engine.agents[action.agent_id].wrap_up_until
            self._to_agent(action.agent_id, {
                **message,
                "wrap_up_ms": None if until is None else int(max(0.0, until - now) * 1000)})
        if info is not None:
            task = self._background_task(self.call_records.record(
                id=action.call_id, skill=info.skill, origin=info.origin.value,
                caller_label=info.label, partition=info.partition, kiosk_id=info.kiosk_id,
                agent_id=action.agent_id, enqueued_at=self.wall(action.enqueued_at),
                answered_at=(None if action.answered_at is None
                             else self.wall(action.answered_at)),
                ended_at=self.wall(action.ended_at), end_reason=action.reason,
                wait_s=((action.answered_at or action.ended_at) - action.enqueued_at),
                talk_s=(None if action.answered_at is None
                        else action.ended_at - action.answered_at),
                outcome=(None if action.disposition is Disposition.COMPLETED
                         else action.disposition.value),
            ))
            self._record_writes[action.call_id] = task
            task.add_done_callback(lambda _: self._record_writes.pop(action.call_id, None))

    def _background_task(self, coro: Awaitable[Any]) -> asyncio.Task[None]:
        async def run() -> None:
            try:
                await coro
            except Exception:
                log.exception("store write failed")
        task = asyncio.create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def _call_recorded(self, call_id: str) -> None:
        """Wait until the call's record is written, so later updates find it."""
        task = self._record_writes.get(call_id)
        if task is not None:
            await asyncio.shield(task)

    # ------------------------------------------------------------------ callers

    async def caller_message(self, conn: Connection, message: p.Message) -> None:
        """Handle one validated caller message; HubError/RoutingError become error replies."""
        handlers: dict[type, Callable[[Connection, Any], Awaitable[None]]] = {
            p.CallRequest: self._call_request, p.Resume: self._resume,
            p.CallerHangup: self._caller_hangup, p.AcceptCallback: self._accept_callback,
            p.Rating: self._rating, p.Sdp: self._relay, p.Ice: self._relay,
            p.Ping: self._ping,
        }
        await handlers[type(message)](conn, message)

    async def _ping(self, conn: Connection, message: p.Ping) -> None:
        conn.send(p.outbound("pong"))

    async def _call_request(self, conn: Connection, message: p.CallRequest) -> None:
        if conn.call_id is not None:
            raise HubError("call_in_progress", "this connection already has a call")
        identities = [x for x in (message.kiosk_token, message.company, message.invite)
                      if x is not None]
        if len(identities) != 1:
            raise HubError("identity_required", "give exactly one of kiosk_token, company "
                           "or invite")
        skill, target, kiosk_id, company = message.skill, None, None, None
        partition = self.settings.partition
        if message.kiosk_token is not None:
            kiosk = await self.kiosks.find_by_token(message.kiosk_token)
            if kiosk is None:
                raise HubError("invalid_kiosk_token", "this kiosk is not provisioned")
            origin, label, kiosk_id, partition = Origin.KIOSK, kiosk.town, kiosk.id, \
                kiosk.partition
        elif message.company is not None:
            origin, label = Origin.ENTERPRISE, message.company.name
            company = message.company.model_dump()
        else:
            try:
                claims = verify(self.secret, "invite", message.invite or "", time.time())
            except TokenError as exc:
                raise HubError("invalid_invite", f"invite link not valid: {exc}") from None
            origin, label, target = Origin.INVITE, str(claims.get("label", "")), claims["sub"]
            partition = str(claims.get("partition", partition))
            skill = str(claims.get("skill", skill))  # the link decides the matter
        if skill not in self.skills:
            raise HubError("unknown_skill", f"no such matter {skill!r}")
        call_id = "c" + secrets.token_hex(8)
        info = CallerInfo(call_id, skill, origin, label, partition,
                          resume_token=secrets.token_urlsafe(24), kiosk_id=kiosk_id,
                          company=company, language=message.language, connection=conn)
        self.callers[call_id] = info
        self.resume_tokens[info.resume_token] = call_id
        conn.call_id, conn.language = call_id, message.language
        try:
            # Priority (elderly, disabled: chosen on the kiosk with staff help) is honoured
            # from provisioned kiosks only, so a guest cannot jump the queue.
            priority = 1 if message.priority and origin is Origin.KIOSK else 0
            self.apply(ev.CallRequested(call_id, skill, origin, partition,
                                        priority=priority, label=label,
                                        target_agent_id=target))
        except RoutingError:
            self.callers.pop(call_id)
            self.resume_tokens.pop(info.resume_token)
            conn.call_id = None
            raise

    async def _resume(self, conn: Connection, message: p.Resume) -> None:
        call_id = self.resume_tokens.get(message.resume_token)
        info = self.callers.get(call_id or "")
        call = self.engine.calls.get(call_id or "")
        if info is None or call is None:
            raise HubError("invalid_resume_token", "nothing to resume: the call has ended")
        if conn.call_id is not None and conn.call_id != call_id:
            raise HubError("call_in_progress", "this connection already has a call")
        old = info.connection
        if old is not None and old is not conn:
            old.call_id = None
            old.close(4000, "resumed on another connection")
        info.connection, conn.call_id, conn.language = conn, call.id, info.language
        position = self.engine.position_of(call.id)
        conn.send(p.outbound(
            "resumed", call_id=call.id, state=call.status.value,
            position=position[0] if position else None,
            estimated_wait=position[1] if position else None))
        if call.detached_at is not None:
            self.apply(ev.CallerResumed(call.id))  # fresh position updates follow
        session = self.sessions.get(call.id)
        if session is not None:
            conn.send(self._connected_for_caller(session))
            self._to_agent(session.agent_id, p.outbound(
                "peer_status", call_id=call.id, status="connected",
                restart=message.restart_media))

    def caller_disconnected(self, conn: Connection) -> None:
        """The socket closed: keep the call for the resume grace."""
        call_id = conn.call_id
        conn.call_id = None
        info = self.callers.get(call_id or "")
        if info is None or info.connection is not conn:
            return
        info.connection = None
        self.apply(ev.CallerDetached(info.call_id))
        session = self.sessions.get(info.call_id)
        if session is not None:
            self._to_agent(session.agent_id, p.outbound(
                "peer_status", call_id=info.call_id, status="reconnecting"))

    async def _caller_hangup(self, conn: Connection, message: p.CallerHangup) -> None:
        if conn.call_id is None:
            raise HubError("no_call", "there is no call to hang up")
        self.apply(ev.CallerHangup(conn.call_id))

    async def _accept_callback(self, conn: Connection, message: p.AcceptCallback) -> None:
        info = self.callers.get(conn.call_id or "")
        if info is None or self.call_status(info.call_id) not in (CallStatus.WAITING,
                                                                  CallStatus.RINGING):
            raise HubError("no_call", "there is no waiting call")
        # Write the callback first: if the store fails, the caller is still in the queue.
        callback = await self.callbacks.create(
            call_id=info.call_id, skill=info.skill, partition=info.partition,
            phone=message.phone, caller_label=info.label, now=time.time())
        if self.call_status(info.call_id) not in (CallStatus.WAITING, CallStatus.RINGING):
            await self.callbacks.discard(callback.id)  # answered while the row was written
            raise HubError("no_call", "the call was answered meanwhile")
        conn.send(p.outbound("callback_registered", call_id=info.call_id,
                             callback_id=callback.id))
        self.apply(ev.CallbackAccepted(info.call_id))

    async def _rating(self, conn: Connection, message: p.Rating) -> None:
        if message.call_id != conn.last_call_id:
            try:
                claims = verify(self.secret, "rating", message.rating_token or "", time.time())
            except TokenError:
                claims = {}
            if claims.get("sub") != message.call_id:
                raise HubError("forbidden", "you can only rate your own last call")
        await self._call_recorded(message.call_id)
        if not await self.call_records.set_rating(message.call_id, message.score):
            raise HubError("not_saved", "the call record was not found; rating not saved")
        conn.send(p.outbound("rating_saved", call_id=message.call_id))

    async def _relay(self, conn: Connection, message: p.Sdp | p.Ice) -> None:
        """Pass SDP/ICE to the other party of the sender's own session, and nowhere else."""
        session = self.sessions.get(message.call_id)
        if session is None:
            raise HubError("not_in_session", "no live session with this call id")
        payload = message.model_dump(exclude={"v"}, exclude_none=message.type == "sdp")
        payload.pop("type")
        if conn.role == "caller":
            if conn.call_id != session.call_id:
                raise HubError("not_in_session", "you are not a party of this session")
            self._to_agent(session.agent_id, p.outbound(message.type, **payload))
        else:
            if conn.agent_id != session.agent_id:
                raise HubError("not_in_session", "you are not a party of this session")
            self._to_caller(session.call_id, p.outbound(message.type, **payload))

    # ------------------------------------------------------------------ agents

    async def agent_message(self, conn: Connection, message: p.Message) -> None:
        """Handle one validated agent message; only ``auth`` before authentication."""
        if conn.agent_id is None:
            if not isinstance(message, p.Auth):
                raise HubError("not_authenticated", "send auth first")
            await self._auth(conn, message)
            return
        agent_id = conn.agent_id
        match message:
            case p.Auth():
                raise HubError("already_authenticated", "this connection is logged in")
            case p.SetStatus(status="ready"):
                self.apply(ev.AgentSetReady(agent_id))
            case p.SetStatus(reason=reason):
                self.apply(ev.AgentSetNotReady(agent_id, reason))
            case p.SetAutoAnswer(enabled=enabled):
                self.apply(ev.AgentSetAutoAnswer(agent_id, enabled))
                self._background_task(self.accounts.set_auto_answer(agent_id, enabled))
            case p.Accept(call_id=call_id):
                self.apply(ev.AgentAccept(agent_id, call_id))
            case p.Reject(call_id=call_id):
                self.apply(ev.AgentReject(agent_id, call_id))
            case p.AgentHangup(call_id=call_id):
                self.apply(ev.AgentHangup(agent_id, call_id))
            case p.EndWrapUp():
                await self._end_wrap_up(conn, agent_id, message)
            case p.Sdp() | p.Ice():
                await self._relay(conn, message)
            case p.Ping():
                conn.send(p.outbound("pong"))
            case p.Logout():
                self.agents.pop(agent_id, None)
                conn.agent_id = None
                self.apply(ev.AgentLogout(agent_id))
                conn.close(1000, "logged out")

    async def _auth(self, conn: Connection, message: p.Auth) -> None:
        try:
            claims = verify(self.secret, "agent", message.token, time.time())
        except TokenError as exc:
            raise HubError("invalid_token", f"login not valid: {exc}") from None
        account = await self.accounts.get(claims["sub"])
        if account is None or account.role not in ("agent", "supervisor"):
            raise HubError("invalid_token", "no such agent")
        previous = self.agents.get(account.id)
        if previous is not None and previous is not conn:
            previous.agent_id = None
            previous.close(4001, "replaced by a newer login")
        pending = self._logout_timers.pop(account.id, None)
        if pending is not None:
            pending.cancel()
        conn.agent_id = account.id
        self.agents[account.id] = conn
        self.agent_profiles[account.id] = {
            "id": account.id, "display_name": account.display_name,
            "skills": dict(account.skills), "partition": account.partition,
            "role": account.role,
        }
        known = self.engine.agents.get(account.id)
        auto_answer = known.auto_answer if known is not None and \
            known.presence is not Presence.OFFLINE else account.auto_answer
        now = self.now()
        actions = self.engine.handle(ev.AgentLogin(account.id, dict(account.skills),
                                                   account.partition, auto_answer), now)
        agent = self.engine.agents[account.id]
        current = agent.call_id if agent.call_id in self.sessions else None
        # 'authenticated' first, then whatever the login caused (state, maybe an offer).
        conn.send(p.outbound(
            "authenticated", agent=self.agent_profiles[account.id],
            **{**self._agent_state_fields(account.id, now), "call_id": current
               or self._agent_state_fields(account.id, now).get("call_id")}))
        self._deliver(actions, now)
        self._arm_timer()
        if current is not None:
            session = self.sessions[current]
            conn.send(self._connected_for_agent(session, self.callers[current]))
            self._to_caller(current, p.outbound("peer_status", call_id=current,
                                                status="connected"))
        self._send_snapshot(conn)

    async def _end_wrap_up(self, conn: Connection, agent_id: str, message: p.EndWrapUp) -> None:
        """End wrap-up and keep the notes; notes for the last call are kept even when the
        wrap-up timer ended first (the agent was still typing)."""
        call_id = self.wrapping.get(agent_id)
        if message.call_id is not None and message.call_id != call_id:
            raise HubError("forbidden", "that is not your last call")
        agent = self.engine.agents.get(agent_id)
        try:
            if agent is None or agent.activity is not Activity.WRAP_UP:
                raise RoutingError("not_in_wrap_up", "you are not in wrap-up")
            self.apply(ev.AgentEndWrapUp(agent_id))
        except RoutingError as exc:
            # The timer may have ended wrap-up first (even within this very event);
            # notes that name the last call are still wanted.
            if exc.code != "not_in_wrap_up" or message.call_id is None:
                raise
        if call_id is not None and (message.outcome or message.notes):
            await self._call_recorded(call_id)
            saved = await self.call_records.set_wrap_up(
                call_id, agent_id=agent_id, outcome=message.outcome or None,
                notes=message.notes or None)
            if not saved:
                raise HubError("not_saved", "the call record was not found; notes not saved")
            conn.send(p.outbound("wrap_up_saved", call_id=call_id))

    def agent_disconnected(self, conn: Connection) -> None:
        """The console went away: log the agent out unless it is back within a grace."""
        agent_id = conn.agent_id
        if agent_id is None or self.agents.get(agent_id) is not conn:
            return
        del self.agents[agent_id]
        if agent_id in self.engine.agents:
            self.apply(ev.AgentDetached(agent_id))
        loop = asyncio.get_running_loop()
        self._logout_timers[agent_id] = loop.call_later(
            AGENT_RECONNECT_GRACE, self._logout_after_grace, agent_id)
        session = next((s for s in self.sessions.values() if s.agent_id == agent_id), None)
        if session is not None:
            self._to_caller(session.call_id, p.outbound(
                "peer_status", call_id=session.call_id, status="reconnecting"))

    def _logout_after_grace(self, agent_id: str) -> None:
        self._logout_timers.pop(agent_id, None)
        if agent_id in self.agents or agent_id not in self.engine.agents:
            return
        try:
            self.apply(ev.AgentLogout(agent_id))
        except RoutingError:
            log.exception("logout of %s failed", agent_id)

    # ------------------------------------------------------------------ invites, stats

    def make_invite(self, agent_id: str, partition: str, skill: str, label: str,
                    ttl: float | None) -> str:
        """A signed link token that calls ``agent_id`` directly (reusable until expiry)."""
        return sign(self.secret, "invite", agent_id, time.time(),
                    ttl or self.settings.invite_ttl, skill=skill, label=label,
                    partition=partition)

    def queue_snapshot(self) -> dict[str, Any]:
        """Waiting calls per skill for the agents' live panel and the wallboard."""
        stats = self.engine.queue_stats(self.now())
        return {
            "queues": [
                {"skill": s.skill, "partition": s.partition, "waiting": s.waiting,
                 "longest_wait": round(s.longest_wait), "ready_agents": s.ready_agents,
                 "staffed_agents": s.staffed_agents}
                for s in stats
            ]
        }

    def _send_snapshot(self, conn: Connection) -> None:
        conn.send(p.outbound("queue_snapshot", **self.queue_snapshot()))

    async def _snapshot_loop(self) -> None:
        """Push queue snapshots to agents once a second when they change; self-check."""
        ticks = 0
        while True:
            await asyncio.sleep(1.0)
            ticks += 1
            try:
                snapshot = self.queue_snapshot()
                if snapshot != self._last_snapshot:
                    self._last_snapshot = snapshot
                    for conn in list(self.agents.values()):
                        conn.send(p.outbound("queue_snapshot", **snapshot))
                if ticks % 5 == 0:
                    self.self_check()
            except Exception:
                log.exception("snapshot loop iteration failed")

    def call_status(self, call_id: str) -> CallStatus | None:
        call = self.engine.calls.get(call_id)
        return call.status if call else None
