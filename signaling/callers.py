"""The caller side of the hub: call requests, resume, hang-up, callbacks and ratings.

Who is calling is decided here (a provisioned kiosk, an enterprise guest, or a signed
invite), so the engine only ever sees calls with a known origin and district.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from . import protocol as p
from .connection import Connection
from .routing import events as ev
from .routing.model import CallStatus, Origin, RoutingError
from .sessions import CallerInfo, HubError
from .tokens import TokenError, verify

if TYPE_CHECKING:
    from .hub import Hub


class CallerSide:
    """Everything a caller's socket may ask of the hub."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub


    async def handle(self, conn: Connection, message: p.Message) -> None:
        """Handle one validated caller message; HubError/RoutingError become error replies."""
        handlers: dict[type, Callable[[Connection, Any], Awaitable[None]]] = {
            p.CallRequest: self._call_request, p.Resume: self._resume,
            p.CallerHangup: self._caller_hangup, p.AcceptCallback: self._accept_callback,
            p.Rating: self._rating, p.Sdp: self.hub.relay, p.Ice: self.hub.relay,
            p.Ping: self._ping,
        }
        await handlers[type(message)](conn, message)

    async def _ping(self, conn: Connection, message: p.Ping) -> None:
        conn.send(p.outbound("pong"))

    async def _call_request(self, conn: Connection, message: p.CallRequest) -> None:
        repeated = self.hub.request_ids.get(message.request_id or "")
        if repeated is not None and repeated in self.hub.callers:
            # The same button press again: the first answer was lost with the socket.
            info = self.hub.callers[repeated]
            position = self.hub.engine.position_of(repeated) or (1, 0)
            conn.send(p.outbound("queued", call_id=repeated, resume_token=info.resume_token,
                                 position=position[0], estimated_wait=position[1]))
            await self._resume(conn, p.Resume(type="resume", resume_token=info.resume_token))
            return
        if conn.call_id is not None:
            raise HubError("call_in_progress", "this connection already has a call")
        identities = [x for x in (message.kiosk_token, message.company, message.invite)
                      if x is not None]
        if len(identities) != 1:
            raise HubError("identity_required", "give exactly one of kiosk_token, company "
                           "or invite")
        skill, target, kiosk_id, company = message.skill, None, None, None
        partition = self.hub.settings.partition
        if message.kiosk_token is not None:
            kiosk = await self.hub.kiosks.find_by_token(message.kiosk_token)
            if kiosk is None:
                raise HubError("invalid_kiosk_token", "this kiosk is not provisioned")
            origin, label, kiosk_id, partition = Origin.KIOSK, kiosk.town, kiosk.id, \
                kiosk.partition
        elif message.company is not None:
            origin, label = Origin.ENTERPRISE, message.company.name
            company = message.company.model_dump()
        else:
            try:
                claims = verify(self.hub.secret, "invite", message.invite or "", time.time())
            except TokenError as exc:
                raise HubError("invalid_invite", f"invite link not valid: {exc}") from None
            origin, label, target = Origin.INVITE, str(claims.get("label", "")), claims["sub"]
            partition = str(claims.get("partition", partition))
            skill = str(claims.get("skill", skill))  # the link decides the matter
        if skill not in self.hub.skills:
            raise HubError("unknown_skill", f"no such matter {skill!r}")
        call_id = "c" + secrets.token_hex(8)
        info = CallerInfo(call_id, skill, origin, label, partition,
                          resume_token=secrets.token_urlsafe(24), kiosk_id=kiosk_id,
                          company=company, language=message.language, connection=conn,
                          request_id=message.request_id)
        self.hub.callers[call_id] = info
        self.hub.resume_tokens[info.resume_token] = call_id
        if message.request_id is not None:
            self.hub.request_ids[message.request_id] = call_id
        conn.call_id, conn.language = call_id, message.language
        try:
            # Priority (elderly, disabled: chosen on the kiosk with staff help) is honoured
            # from provisioned kiosks only, so a guest cannot jump the queue.
            priority = 1 if message.priority and origin is Origin.KIOSK else 0
            self.hub.apply(ev.CallRequested(call_id, skill, origin, partition,
                                        priority=priority, label=label,
                                        target_agent_id=target))
        except RoutingError:
            self.hub.callers.pop(call_id)
            self.hub.resume_tokens.pop(info.resume_token)
            self.hub.request_ids.pop(message.request_id or "", None)
            conn.call_id = None
            raise

    async def _resume(self, conn: Connection, message: p.Resume) -> None:
        call_id = self.hub.resume_tokens.get(message.resume_token)
        info = self.hub.callers.get(call_id or "")
        call = self.hub.engine.calls.get(call_id or "")
        if info is None or call is None:
            raise HubError("invalid_resume_token", "nothing to resume: the call has ended")
        if conn.call_id is not None and conn.call_id != call_id:
            raise HubError("call_in_progress", "this connection already has a call")
        old = info.connection
        if old is not None and old is not conn:
            old.call_id = None
            old.close(4000, "resumed on another connection")
        info.connection, conn.call_id, conn.language = conn, call.id, info.language
        position = self.hub.engine.position_of(call.id)
        conn.send(p.outbound(
            "resumed", call_id=call.id, state=call.status.value,
            position=position[0] if position else None,
            estimated_wait=position[1] if position else None))
        if call.detached_at is not None:
            self.hub.apply(ev.CallerResumed(call.id))  # fresh position updates follow
        session = self.hub.sessions.get(call.id)
        if session is not None:
            conn.send(self.hub.connected_for_caller(session))
            self.hub.to_agent(session.agent_id, p.outbound(
                "peer_status", call_id=call.id, status="connected",
                restart=message.restart_media))

    def disconnected(self, conn: Connection) -> None:
        """The socket closed: keep the call for the resume grace."""
        call_id = conn.call_id
        conn.call_id = None
        info = self.hub.callers.get(call_id or "")
        if info is None or info.connection is not conn:
            return
        info.connection = None
        self.hub.apply(ev.CallerDetached(info.call_id))
        session = self.hub.sessions.get(info.call_id)
        if session is not None:
            self.hub.to_agent(session.agent_id, p.outbound(
                "peer_status", call_id=info.call_id, status="reconnecting"))

    async def _caller_hangup(self, conn: Connection, message: p.CallerHangup) -> None:
        if conn.call_id is None:
            raise HubError("no_call", "there is no call to hang up")
        self.hub.apply(ev.CallerHangup(conn.call_id))

    async def _accept_callback(self, conn: Connection, message: p.AcceptCallback) -> None:
        info = self.hub.callers.get(conn.call_id or "")
        if info is None or self.hub.call_status(info.call_id) not in (CallStatus.WAITING,
                                                                  CallStatus.RINGING):
            raise HubError("no_call", "there is no waiting call")
        # Write the callback first: if the store fails, the caller is still in the queue.
        callback = await self.hub.callbacks.create(
            call_id=info.call_id, skill=info.skill, partition=info.partition,
            phone=message.phone, caller_label=info.label, now=time.time())
        if self.hub.call_status(info.call_id) not in (CallStatus.WAITING, CallStatus.RINGING):
            await self.hub.callbacks.discard(callback.id)  # answered while the row was written
            raise HubError("no_call", "the call was answered meanwhile")
        conn.send(p.outbound("callback_registered", call_id=info.call_id,
                             callback_id=callback.id))
        self.hub.apply(ev.CallbackAccepted(info.call_id))

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
