"""The agent side of the hub: login on the socket, state, offers, wrap-up, reconnects.

An agent's socket may drop and come back within a grace without losing its state or its
call; only the agent (or that grace running out) logs it out.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from .. import protocol as p
from ..routing import events as ev
from ..routing.model import Activity, RoutingError
from ..tokens import TokenError, verify
from .connection import Connection
from .directory import AccountEntry
from .sessions import HubError
from .state import agent_detach_entry, agent_login_entry, agent_logout_entry, event_entry

if TYPE_CHECKING:
    from .hub import Hub

log = logging.getLogger(__name__)

AGENT_RECONNECT_GRACE = 10.0
#: how long after a call ended its agent may still save notes on it by ``call_id`` when
#: this process does not know the agent's last call (it was restarted meanwhile)
NOTES_AFTER_RESTART_WINDOW = 24 * 3600.0


class AgentSide:
    """Everything an agent's socket may ask of the hub."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub


    async def handle(self, conn: Connection, message: p.Message) -> None:
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
                await self.hub.submit(event_entry(ev.AgentSetReady(agent_id)))
            case p.SetStatus(reason=reason):
                await self.hub.submit(event_entry(ev.AgentSetNotReady(agent_id, reason)))
            case p.SetAutoAnswer(enabled=enabled):
                await self.hub.submit(event_entry(ev.AgentSetAutoAnswer(agent_id, enabled)))
                self.hub.directory.set_auto_answer(agent_id, enabled)
                self.hub.background_task(self.hub.accounts.set_auto_answer(agent_id, enabled))
            case p.Accept(call_id=call_id):
                await self.hub.submit(event_entry(ev.AgentAccept(agent_id, call_id)))
            case p.Reject(call_id=call_id):
                await self.hub.submit(event_entry(ev.AgentReject(agent_id, call_id)))
            case p.AgentHangup(call_id=call_id):
                await self.hub.submit(event_entry(ev.AgentHangup(agent_id, call_id)))
            case p.EndWrapUp(outcome=outcome):
                if not outcome and self.hub.settings.wrap_up_outcome_required:
                    raise HubError("outcome_required", "choose an outcome for the call "
                                   "before ending wrap-up")
                await self._end_wrap_up(conn, agent_id, message)
            case p.RecorderOffer():
                await self.hub.recording_side.recorder_offer(conn, agent_id, message)
            case p.Sdp() | p.Ice():
                await self.hub.relay(conn, message)
            case p.PushForm() | p.WithdrawForm() | p.EditField() | p.SetIdentity() \
                    | p.PushScreen() | p.CloseScreen():
                await self.hub.session_message(conn, message)
            case p.Ping():
                conn.send(p.outbound("pong"))
            case p.Logout():
                self.hub.agents.pop(agent_id, None)
                conn.agent_id = None
                await self.hub.submit(agent_logout_entry(agent_id,
                                                         self.hub.connection_key(conn)))
                conn.close(1000, "logged out")

    async def _auth(self, conn: Connection, message: p.Auth) -> None:
        try:
            claims = verify(self.hub.secret, "agent", message.token, time.time())
        except TokenError as exc:
            raise HubError("invalid_token", f"login not valid: {exc}") from None
        account = await self._account(claims["sub"])
        if account is None or account.role not in ("agent", "supervisor"):
            raise HubError("invalid_token", "no such agent")
        profile = {"id": account.id, "display_name": account.display_name,
                   "skills": dict(account.skills), "partition": account.partition,
                   "role": account.role}
        # Logged in by the live state (state.LiveState._apply_agent_login): an older
        # socket of the agent, on any node, is closed; 'authenticated', the state and the
        # agent's live call follow on this one.
        await self.hub.submit(agent_login_entry(
            profile, account_auto_answer=account.auto_answer, node=self.hub.node_id,
            conn=self.hub.connection_key(conn)))

    async def _account(self, account_id: str) -> AccountEntry | None:
        """The account from the directory; the store is asked only on a miss (an account
        made by another process since the last reload: the token is signed, so only real
        accounts get this far)."""
        account = self.hub.directory.account(account_id)
        if account is not None:
            return account
        stored = await self.hub.accounts.get(account_id)
        if stored is None:
            return None
        account = AccountEntry(stored.id, stored.username, stored.display_name, stored.role,
                               stored.partition, dict(stored.skills or {}),
                               bool(stored.auto_answer))
        self.hub.directory.remember_account(account)
        return account

    async def _end_wrap_up(self, conn: Connection, agent_id: str, message: p.EndWrapUp) -> None:
        """End wrap-up and keep the notes; notes for the last call are kept even when the
        wrap-up timer ended first (the agent was still typing)."""
        call_id = self.hub.wrapping.get(agent_id)
        if message.call_id is not None and message.call_id != call_id:
            if call_id is not None or not await self._last_call_on_record(agent_id,
                                                                          message.call_id):
                raise HubError("forbidden", "that is not your last call")
            call_id = message.call_id
        agent = self.hub.routers.agents.get(agent_id)
        try:
            if agent is None or agent.activity is not Activity.WRAP_UP:
                raise RoutingError("not_in_wrap_up", "you are not in wrap-up")
            await self.hub.submit(event_entry(ev.AgentEndWrapUp(agent_id)))
        except RoutingError as exc:
            # The timer may have ended wrap-up first (even within this very event);
            # notes that name the last call are still wanted.
            if exc.code != "not_in_wrap_up" or message.call_id is None:
                raise
        if call_id is not None and (message.outcome or message.notes):
            await self.hub.call_recorded(call_id)
            saved = await self.hub.call_records.set_wrap_up(
                call_id, agent_id=agent_id, outcome=message.outcome or None,
                notes=message.notes or None)
            if not saved:
                raise HubError("not_saved", "the call record was not found; notes not saved")
            conn.send(p.outbound("wrap_up_saved", call_id=call_id))

    async def _last_call_on_record(self, agent_id: str, call_id: str) -> bool:
        """Whether the store says ``call_id`` is the agent's latest call that is over and
        ended within the window; asked only when memory has no last call for the agent."""
        record = await self.hub.call_records.last_for_agent(agent_id)
        return (record is not None and record.id == call_id and record.ended_at is not None
                and time.time() - record.ended_at <= NOTES_AFTER_RESTART_WINDOW)

    def disconnected(self, conn: Connection) -> None:
        """The console went away: log the agent out unless it is back within a grace."""
        agent_id = conn.agent_id
        if agent_id is None or self.hub.agents.get(agent_id) is not conn:
            return
        del self.hub.agents[agent_id]
        # Detached by the live state; the hub logs the agent out after the reconnect grace
        # (Hub.schedule_logout) unless it is back, on any node, by then.
        self.hub.submit_soon(agent_detach_entry(agent_id, self.hub.connection_key(conn)))
