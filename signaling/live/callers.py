"""The caller side of the hub: call requests, resume, hang-up, callbacks and ratings.

Who is calling is decided here (a provisioned kiosk, an enterprise guest, or a signed
invite), so the engine only ever sees calls with a known origin and district.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import protocol as p
from ..routing import events as ev
from ..routing.model import CallStatus, Origin, RoutingError
from ..store import InviteUnusable
from ..tokens import TokenError, verify
from .connection import Connection
from .limits import CallOwner, LimitScope
from .sessions import CallerInfo, HubError
from .shared_limits import ClusterLock
from .state import attach_caller_entry, call_entry, detach_caller_entry, event_entry

if TYPE_CHECKING:
    from .hub import Hub


_REFUSALS = {
    LimitScope.ADDRESS: "too many calls are waiting from your network; try again later",
    LimitScope.COMPANY: "too many calls are waiting for this company; try again later",
    LimitScope.KIOSK: "this kiosk already has a call; end it first",
}

#: a day, the window of the callback limits
DAY = 24 * 3600.0


@dataclass(frozen=True)
class Caller:
    """Who is calling, as decided from a call request before anything is queued."""

    #: a repeated request id returns the call only to the same identity
    identity: str
    origin: Origin
    label: str
    partition: str
    skill: str
    owner: CallOwner
    kiosk_id: str | None = None
    company: dict[str, str] | None = None
    target_agent_id: str | None = None
    invite_id: str | None = None


class CallerSide:
    """Everything a caller's socket may ask of the hub."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        #: over all nodes of a cluster (Redis), so the limits count every request
        self._callback_lock = ClusterLock(hub, "callbacks")


    async def handle(self, conn: Connection, message: p.Message) -> None:
        """Handle one validated caller message; HubError/RoutingError become error replies."""
        handlers: dict[type, Callable[[Connection, Any], Awaitable[None]]] = {
            p.CallRequest: self._call_request, p.Resume: self._resume,
            p.CallerHangup: self._caller_hangup, p.AcceptCallback: self._accept_callback,
            p.Rating: self._rating, p.Sdp: self.hub.relay, p.Ice: self.hub.relay,
            p.Ping: self._ping, p.EditField: self.hub.session_message,
            p.SetIdentity: self.hub.session_message, p.SubmitForm: self.hub.session_message,
            p.ScreenStatusReport: self.hub.session_message,
        }
        await handlers[type(message)](conn, message)

    async def _ping(self, conn: Connection, message: p.Ping) -> None:
        conn.send(p.outbound("pong"))

    async def _identify(self, conn: Connection, message: p.CallRequest) -> Caller:
        """Who is calling: a provisioned kiosk, an enterprise guest or an invite link."""
        identities = [x for x in (message.kiosk_token, message.company, message.invite)
                      if x is not None]
        if len(identities) != 1:
            raise HubError("identity_required", "give exactly one of kiosk_token, company "
                           "or invite")
        settings = self.hub.settings
        if message.kiosk_token is not None:
            kiosk = self.hub.directory.kiosk_for_token(message.kiosk_token)
            if kiosk is None:
                raise HubError("invalid_kiosk_token", "this kiosk is not provisioned")
            return Caller(f"kiosk:{kiosk.id}", Origin.KIOSK, kiosk.town, kiosk.partition,
                          message.skill, CallOwner(conn.address, kiosk_id=kiosk.id),
                          kiosk_id=kiosk.id)
        if message.company is not None:
            company = message.company
            return Caller(
                f"company:{company.uscc}:{company.contact_phone}@{conn.address}",
                Origin.ENTERPRISE, company.name, settings.partition, message.skill,
                CallOwner(conn.address, company=company.uscc),
                company=company.model_dump())
        admission = self.hub.admission
        admission.identifying += 1
        try:
            invite = await self.hub.invites.usable(message.invite or "", time.time())
        except InviteUnusable as exc:
            raise HubError("invalid_invite", f"invite link not valid: {exc.reason}") from None
        finally:
            admission.identifying -= 1
        # The link decides the matter, the district and the agent.
        return Caller(f"invite:{invite.id}@{conn.address}", Origin.INVITE, invite.label,
                      invite.partition, invite.skill, CallOwner(conn.address),
                      target_agent_id=invite.agent_id, invite_id=invite.id)

    async def _call_request(self, conn: Connection, message: p.CallRequest) -> None:
        # When the frame was read, before any look-up: the call's wait starts there
        # (measured on the loop's clock, which reads frames; the engine's may be Redis's).
        read_at = conn.received_at or asyncio.get_running_loop().time()
        repeated = self.hub.find_request(message.request_id)
        if conn.call_id is not None and conn.call_id != repeated:
            raise HubError("call_in_progress", "this connection already has a call")
        if repeated is None:
            self._admit()
        caller = await self._identify(conn, message)
        if repeated is not None and repeated in self.hub.callers:
            info = self.hub.callers[repeated]
            if info.identity != caller.identity:
                # Someone else's id: never hand over their call or even their frame.
                raise HubError("request_id_in_use", "this request id belongs to another "
                               "caller; send a new random one")
            # The same button press again: the first answer was lost with the socket.
            position = self.hub.routers.position_of(repeated) or (1, 0)
            conn.send(p.outbound("queued", call_id=repeated, resume_token=info.resume_token,
                                 position=position[0], estimated_wait=position[1]))
            await self._resume(conn, p.Resume(type="resume", resume_token=info.resume_token))
            return
        if conn.call_id is not None:
            raise HubError("call_in_progress", "this connection already has a call")
        await self._free_abandoned_kiosk_call(caller)
        refused = self.hub.limits_for(caller.partition).refusal(caller.owner)
        if refused is not None:
            raise HubError("too_many_calls", _REFUSALS[refused], scope=refused.value)
        if caller.skill not in self.hub.skills:
            raise HubError("unknown_skill", f"no such matter {caller.skill!r}")
        recording = await self.hub.recording_side.admit(conn, caller, message)
        if recording is None:
            return  # the caller is asked for consent first, or got a callback instead
        if caller.invite_id is not None and \
                not await self.hub.invites.use(caller.invite_id, time.time()):
            raise HubError("invalid_invite", "invite link not valid: already used")
        call_id = "c" + secrets.token_hex(8)
        # Known before queueing: an auto-answered call is connected within the queueing.
        self.hub.recording_side.queued(call_id, caller, message.language, recording)
        info = CallerInfo(call_id, caller.skill, caller.origin, caller.label,
                          caller.partition, resume_token=secrets.token_urlsafe(24),
                          kiosk_id=caller.kiosk_id, company=caller.company,
                          language=message.language,
                          request_id=message.request_id, identity=caller.identity,
                          node=self.hub.node_id, conn=self.hub.connection_key(conn),
                          recording=recording.replicated())
        conn.call_id, conn.language = call_id, message.language
        # Priority (elderly, disabled: chosen on the kiosk with staff help) is honoured
        # from provisioned kiosks only, so a guest cannot jump the queue.
        priority = 1 if message.priority and caller.origin is Origin.KIOSK else 0
        try:
            # Registered and queued by the live state (state.LiveState._apply_call).
            await self.hub.submit(call_entry(info, caller.owner, priority=priority,
                                             target_agent_id=caller.target_agent_id,
                                             waited=asyncio.get_running_loop().time()
                                             - read_at))
        except (HubError, RoutingError):
            conn.call_id = None
            if caller.invite_id is not None:
                self.hub.background_task(self.hub.invites.give_back(caller.invite_id))
            raise

    def _admit(self) -> None:
        """Refuse a new call with ``busy`` (and a jittered retry hint) while the server is
        overloaded (``admission.py``); a repeated request of a queued call always passes."""
        hub = self.hub
        overload = hub.admission.refusal(hub.record_backlog(), hub.store_backlog())
        if overload is not None:
            raise HubError("busy", "the service is busy; trying again shortly",
                           retry_after_ms=hub.admission.retry_after_ms(),
                           reason=overload.value)

    async def _free_abandoned_kiosk_call(self, caller: Caller) -> None:
        """A kiosk has one live call; if that call's page is gone (a reload that lost the
        resume token), the new press ends it instead of being refused for the grace."""
        if caller.kiosk_id is None:
            return
        old = self.hub.limits_for(caller.partition).kiosk_call(caller.kiosk_id)
        info = self.hub.callers.get(old or "")
        if old is not None and info is not None and info.node is None:
            await self.hub.submit(event_entry(ev.CallerHangup(old)))

    async def _resume(self, conn: Connection, message: p.Resume) -> None:
        call_id = self.hub.resume_tokens.get(message.resume_token)
        info = self.hub.callers.get(call_id or "")
        call = self.hub.routers.calls.get(call_id or "")
        if info is None or call is None:
            ended = self.hub.ended_call(message.resume_token)
            if ended is not None and conn.call_id is None:
                # The call ended while the caller was away: say so (and let it rate).
                self.hub.tell_ended_unseen(conn, ended)
                return
            raise HubError("invalid_resume_token", "nothing to resume: the call has ended")
        if conn.call_id is not None and conn.call_id != call_id:
            raise HubError("call_in_progress", "this connection already has a call")
        # The socket takes the call over (state.LiveState._apply_attach_caller): any older
        # socket of the call, on any node, is closed; 'resumed' and the session follow.
        await self.hub.submit(attach_caller_entry(
            call.id, self.hub.node_id, self.hub.connection_key(conn),
            restart_media=message.restart_media))

    def disconnected(self, conn: Connection) -> None:
        """The socket closed: keep the call for the resume grace."""
        call_id = conn.call_id
        conn.call_id = None
        info = self.hub.callers.get(call_id or "")
        if call_id is None or (self.hub.cluster is None and
                               (info is None or info.connection is not conn)):
            return
        # Ignored if the call is gone or back on another socket by the time it applies.
        self.hub.submit_soon(detach_caller_entry(call_id, self.hub.connection_key(conn)))

    async def _caller_hangup(self, conn: Connection, message: p.CallerHangup) -> None:
        if conn.call_id is None:
            raise HubError("no_call", "there is no call to hang up")
        await self.hub.submit(event_entry(ev.CallerHangup(conn.call_id)))

    async def _accept_callback(self, conn: Connection, message: p.AcceptCallback) -> None:
        info = self.hub.callers.get(conn.call_id or "")
        if info is None or self.hub.call_status(info.call_id) not in (CallStatus.WAITING,
                                                                      CallStatus.RINGING):
            raise HubError("no_call", "there is no waiting call")
        async with self._callback_lock:  # one at a time, so the limits count every request
            callback_id, duplicate = await self._register_callback(conn, info, message.phone)
            if self.hub.call_status(info.call_id) not in (CallStatus.WAITING,
                                                          CallStatus.RINGING):
                if not duplicate:  # answered while the row was written
                    await self.hub.callbacks.discard(callback_id)
                raise HubError("no_call", "the call was answered meanwhile")
        conn.send(p.outbound("callback_registered", call_id=info.call_id,
                             callback_id=callback_id, duplicate=duplicate))
        await self.hub.submit(event_entry(ev.CallbackAccepted(info.call_id)))

    async def _register_callback(self, conn: Connection, info: CallerInfo,
                                 phone: str) -> tuple[str, bool]:
        """The callback for this number: the pending one if there is one (so a number is
        called back once), else a new one within the day's limits. Written before the
        call leaves the queue: if the store fails, the caller still waits."""
        callbacks, settings = self.hub.callbacks, self.hub.settings
        pending = await callbacks.pending_for_phone(phone, info.partition)
        if pending is not None:
            return pending.id, True
        now = time.time()
        since = now - DAY
        if await callbacks.count_since(since, phone=phone) >= settings.max_callbacks_per_phone:
            raise HubError("too_many_callbacks", "this number has asked for too many "
                           "callbacks today", scope="phone")
        # A town hall's kiosks share one address: kiosks are limited per device instead
        # (one live call each).
        if info.kiosk_id is None and await callbacks.count_since(
                since, address=conn.address) >= settings.max_callbacks_per_address:
            raise HubError("too_many_callbacks", "too many callbacks were requested from "
                           "your network today", scope="address")
        if await callbacks.count_since(since, partition=info.partition) \
                >= settings.max_callbacks_per_day:
            raise HubError("too_many_callbacks", "the callback list is full for today",
                           scope="day")
        callback = await callbacks.create(
            call_id=info.call_id, skill=info.skill, partition=info.partition, phone=phone,
            caller_label=info.label, now=now, address=conn.address)
        return callback.id, False

    async def _rating(self, conn: Connection, message: p.Rating) -> None:
        if message.call_id != conn.last_call_id:
            try:
                claims = verify(self.hub.secret, "rating", message.rating_token or "", time.time())
            except TokenError:
                claims = {}
            if claims.get("sub") != message.call_id:
                raise HubError("forbidden", "you can only rate your own last call")
        await self.hub.call_recorded(message.call_id)
        if not await self.hub.call_records.set_rating(message.call_id, message.score):
            raise HubError("not_saved", "the call record was not found; rating not saved")
        conn.send(p.outbound("rating_saved", call_id=message.call_id))
