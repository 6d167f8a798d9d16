"""The replicated live state: every change to what the hub keeps in memory is an entry.

The hub's sides never mutate the hub's registries (callers, resume tokens, request ids,
sessions, wrap-ups, agent attachments) nor drive the engine themselves: they build an
entry here and ``Hub.submit`` it. ``LiveState.apply`` is the one place an entry changes
state, so applying the same entries with the same ``now`` on every node of a cluster gives
every node the same state (docs/operations.md 'Cluster'); each node then delivers only
the messages whose recipient socket is connected to it.

On one node (no Redis) ``submit`` applies the entry at once, on the event loop, with
``now`` = loop time: today's behaviour. In a cluster it is appended to the partition's
log (``signaling.cluster``) and applied when the log comes back, on every node.

Entries are plain JSON-able dicts: ``kind`` says which applier takes them; ``origin``
(``{"node", "ref"}``) names the node and request that asked, so a refusal reaches only
that request (``LiveState.failures``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import logging
import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .. import protocol as p
from ..cluster.codec import decode_event, encode_event
from ..matters import document as doc
from ..matters import ops as doc_ops
from ..routing import events as ev
from ..routing.model import Origin, RoutingError
from .limits import CallOwner, LimitScope
from .sessions import CallerInfo, HubError, LiveSession

if TYPE_CHECKING:
    from .connection import Connection
    from .hub import Hub

log = logging.getLogger(__name__)

#: the refusal texts of ``too_many_calls`` by scope
REFUSALS = {
    LimitScope.ADDRESS: "too many calls are waiting from your network; try again later",
    LimitScope.COMPANY: "too many calls are waiting for this company; try again later",
    LimitScope.KIOSK: "this kiosk already has a call; end it first",
}

_DOC_OPS: dict[str, type] = {
    cls.__name__: cls for cls in vars(doc_ops).values()
    if isinstance(cls, type) and dataclasses.is_dataclass(cls)
    and cls.__module__ == doc_ops.__name__
}


def encode_op(op: doc.Op) -> dict[str, Any]:
    """A session-document op as JSON (its fields are JSON values already)."""
    fields: dict[str, Any] = {"type": type(op).__name__}
    for f in dataclasses.fields(op):
        value = getattr(op, f.name)
        fields[f.name] = dict(value) if isinstance(value, Mapping) else value
    return fields


def decode_op(data: Mapping[str, Any]) -> doc.Op:
    fields = dict(data)
    op: doc.Op = _DOC_OPS[fields.pop("type")](**fields)
    return op


def caller_fields(info: CallerInfo) -> dict[str, Any]:
    return {"call_id": info.call_id, "skill": info.skill, "origin": info.origin.value,
            "label": info.label, "partition": info.partition,
            "resume_token": info.resume_token, "kiosk_id": info.kiosk_id,
            "company": info.company, "language": info.language,
            "request_id": info.request_id, "identity": info.identity,
            "node": info.node, "conn": info.conn, "recording": info.recording}


def caller_from(fields: Mapping[str, Any]) -> CallerInfo:
    return CallerInfo(**{**fields, "origin": Origin(fields["origin"])})


# ---------------------------------------------------------------- entry constructors

def event_entry(event: ev.Event, *, router: str | None = None) -> dict[str, Any]:
    """``router``: the router whose engine takes the event; needed for a ``Tick`` (an
    event about a call or agent goes to that call's or agent's router)."""
    entry: dict[str, Any] = {"kind": "event", "event": encode_event(event)}
    if router is not None:
        entry["router"] = router
    return entry


def call_entry(info: CallerInfo, owner: CallOwner, *, priority: int,
               target_agent_id: str | None, waited: float = 0.0) -> dict[str, Any]:
    """``waited``: seconds since the request was read off the socket (identification),
    so the call's wait starts at its arrival on any node's clock."""
    return {"kind": "call", "caller": caller_fields(info),
            "owner": dataclasses.asdict(owner), "priority": priority,
            "target_agent_id": target_agent_id, "waited": max(0.0, waited)}


def attach_caller_entry(call_id: str, node: str, conn: str, *,
                        restart_media: bool) -> dict[str, Any]:
    return {"kind": "attach_caller", "call_id": call_id, "node": node, "conn": conn,
            "restart_media": restart_media}


def detach_caller_entry(call_id: str, conn: str) -> dict[str, Any]:
    return {"kind": "detach_caller", "call_id": call_id, "conn": conn}


def agent_login_entry(profile: dict[str, Any], *, account_auto_answer: bool, node: str,
                      conn: str) -> dict[str, Any]:
    return {"kind": "agent_login", "agent": profile,
            "account_auto_answer": account_auto_answer, "node": node, "conn": conn}


def agent_detach_entry(agent_id: str, conn: str) -> dict[str, Any]:
    return {"kind": "agent_detach", "agent_id": agent_id, "conn": conn}


def agent_logout_entry(agent_id: str, conn: str | None) -> dict[str, Any]:
    """The agent logs out (``conn`` = its socket) or its reconnect grace ran out (None)."""
    return {"kind": "agent_logout", "agent_id": agent_id, "conn": conn}


def document_entry(call_id: str, party: doc.Party, op: doc.Op, now: float) -> dict[str, Any]:
    return {"kind": "document", "call_id": call_id, "party": party.value,
            "op": encode_op(op), "at": now}


def node_gone_entry(node: str, router: str) -> dict[str, Any]:
    """A node's heartbeat expired: its sockets are gone (written by each router's leader
    into that router's log, for that router's callers and agents)."""
    return {"kind": "node_gone", "node": node, "router": router}


class RouterState:
    """One router's share of the live state, as the ``StateMachine`` its log drives."""

    def __init__(self, state: LiveState, router: str) -> None:
        self.state = state
        self.router = router

    def apply(self, entry: dict[str, Any], now: float, *, deliver: bool) -> None:
        self.state.apply(entry, now, deliver=deliver, router=self.router)

    def snapshot(self) -> dict[str, Any]:
        return self.state.snapshot(self.router)

    def restore(self, state: dict[str, Any]) -> None:
        self.state.restore(state, self.router)

    def next_deadline(self) -> float | None:
        return self.state.hub.routers.of(self.router).next_deadline()


class LiveState:
    """Applies entries to the hub's registries and its engine (the ``StateMachine`` of
    ``signaling.cluster``): the only writer of ``hub.callers``, ``hub.resume_tokens``,
    ``hub.request_ids``, ``hub.sessions``, ``hub.wrapping``, ``hub.agent_profiles``,
    ``hub.agent_conns``, ``hub.detached_agents`` and ``hub.call_limits``."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        #: refusals of requests made on this node, by ``origin.ref``, until collected
        self.failures: dict[str, Exception] = {}
        #: document-op results for requests made on this node (the op's messages)
        self.results: dict[str, Any] = {}
        self._refs = itertools.count(1)

    def stamp(self, entry: dict[str, Any]) -> str:
        """Name this node as the entry's origin; returns the reference of the request."""
        ref = f"{self.hub.node_id}:{next(self._refs)}"
        entry["origin"] = {"node": self.hub.node_id, "ref": ref}
        return ref

    # ------------------------------------------------------------ the StateMachine

    def router_of(self, entry: dict[str, Any]) -> str:
        """The router whose log takes ``entry``: the district's router of the call or
        agent it is about (an entry about neither names its router)."""
        hub = self.hub
        if "router" in entry:
            return str(entry["router"])
        kind = entry["kind"]
        if kind == "call":
            return hub.routers.router_of(entry["caller"]["partition"])
        if kind == "agent_login":
            return hub.routers.router_of(entry["agent"]["partition"])
        if kind in ("agent_detach", "agent_logout"):
            return hub.router_of_agent(entry["agent_id"])
        if kind == "event":
            fields = entry["event"]
            if "partition" in fields:
                return hub.routers.router_of(fields["partition"])
            if "call_id" in fields:
                return hub.router_of_call(fields["call_id"])
            if "agent_id" in fields:
                return hub.router_of_agent(fields["agent_id"])
        elif "call_id" in entry:  # attach_caller, detach_caller, document
            return hub.router_of_call(entry["call_id"])
        return hub.routers.map.names[0]

    def apply(self, entry: dict[str, Any], now: float, *, deliver: bool,
              router: str | None = None) -> None:
        """Apply ``entry`` of ``router``'s log (on one node: the router it names)."""
        hub = self.hub
        hub.router = self.router_of(entry) if router is None else router
        hub.quiet, hub.applying = not deliver, True
        origin = entry.get("origin") or {}
        try:
            getattr(self, "_apply_" + entry["kind"])(entry, now)
        except (HubError, RoutingError, doc.DocumentError) as exc:
            if origin.get("node") == hub.node_id:
                self.failures[origin["ref"]] = exc
            else:
                log.debug("entry %s refused: %s", entry["kind"], exc)
        except Exception:  # one bad entry must not stop the log for everyone
            log.exception("applying a %s entry failed", entry.get("kind"))
        finally:
            hub.quiet, hub.applying = False, False

    def next_deadline(self) -> float | None:
        return self.hub.routers.next_deadline()

    # ------------------------------------------------------------ one router's share

    def _callers_of(self, router: str) -> list[CallerInfo]:
        routers = self.hub.routers
        return [info for info in self.hub.callers.values()
                if routers.router_of(info.partition) == router]

    def _agents_of(self, router: str) -> set[str]:
        """Agents whose registries belong to ``router``: those its engine knows, and any
        logged-in profile of its districts."""
        hub = self.hub
        agents = set(hub.routers.of(router).agents)
        agents.update(agent_id for agent_id, profile in hub.agent_profiles.items()
                      if hub.routers.router_of(profile["partition"]) == router)
        return agents

    def snapshot(self, router: str | None = None) -> dict[str, Any]:
        """``router``'s engine and registries as JSON-ready data (sockets are not state);
        every router's, by name, when ``router`` is None."""
        hub = self.hub
        if router is None:
            return {name: self.snapshot(name) for name in hub.routers.map.names}
        callers = self._callers_of(router)
        calls = {info.call_id for info in callers}
        agents = self._agents_of(router)
        return {
            "engine": hub.routers.of(router).snapshot(),
            "callers": [caller_fields(info) for info in callers],
            "owners": {call_id: dataclasses.asdict(owner)
                       for call_id, owner in hub.call_limits[router].owners().items()},
            "sessions": [{"call_id": s.call_id, "agent_id": s.agent_id,
                          "started_at": s.started_at, "ice_servers": s.ice_servers,
                          "document": s.document.snapshot()}
                         for s in hub.sessions.values() if s.call_id in calls],
            "ended_tokens": [[token, *ended]
                             for token, ended in hub.ended_tokens[router].items()],
            "wrapping": {a: c for a, c in hub.wrapping.items() if a in agents},
            "agent_profiles": {a: p for a, p in hub.agent_profiles.items() if a in agents},
            "agent_conns": {a: c for a, c in hub.agent_conns.items() if a in agents},
            "detached_agents": {a: t for a, t in hub.detached_agents.items() if a in agents},
        }

    def digest(self, router: str | None = None) -> str:
        """SHA-256 of the replicated state (``snapshot`` as canonical JSON): nodes that
        applied the same entries hold the same digest."""
        text = json.dumps(self.snapshot(router), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def report(self) -> dict[str, Any]:
        """This node's replica for supervisors and tests: the engines' broken invariants
        at the replica's time, the state digest and the last entry applied, in all and
        per router (``leader`` and ``last_id`` at the top are the default router's)."""
        hub = self.hub
        cluster = hub.cluster
        now = hub.now()
        routers = {
            name: {"leader": True if cluster is None else bool(cluster.leads(name)),
                   "last_id": None if cluster is None else str(cluster.logs[name].last_id),
                   "violations": hub.routers.of(name).violations(now),
                   "digest": self.digest(name)}
            for name in hub.routers.map.names}
        first = routers[hub.routers.map.names[0]]
        return {"node": hub.node_id, "leader": first["leader"],
                "last_id": (None if cluster is None else
                            ",".join(str(r["last_id"]) for r in routers.values())),
                "violations": hub.routers.violations(now),
                "digest": self.digest(), "routers": routers}

    def resend_state(self, router: str | None = None) -> int:
        """After a resync (the state was reloaded from a snapshot and the log replayed
        without delivering): tell every socket of this node its current state, as a
        reconnect would, since what it missed meanwhile was never sent. Callers get
        ``resumed`` (and ``connected`` + ``session_document`` in a session); agents
        ``agent_state`` (and ``connected`` + ``session_document`` in a session) and
        ``queue_snapshot``. A socket the reloaded state no longer places here (a caller
        whose call moved or ended, an agent whose login is gone) is closed with 1012:
        reconnect and resume or log in again. Only ``router``'s callers and agents when
        given (the router whose log was reloaded). Returns the sockets told."""
        hub = self.hub
        if hub.quiet:
            return 0
        callers = self._callers_of(router) if router is not None else \
            list(hub.callers.values())
        agents = self._agents_of(router) if router is not None else set(hub.agents)
        now = hub.now()
        told = 0
        linked = {id(info.connection) for info in hub.callers.values()
                  if info.connection is not None}
        for local in list(hub._local_connections.values()):
            if local.call_id is None or id(local) in linked:
                continue
            if local.call_id not in hub.callers:
                # Its call ended while this node could not follow (the hang-up was in the
                # log it replayed quietly): 'ended' as the record has it, not a reconnect
                # that could only find nothing to resume.
                hub.tell_ended_unseen(local, local.call_id)
                continue
            if router is None or self._local_call_router(local.call_id) == router:
                # Declared gone, or resumed on another socket: reconnect and resume.
                local.call_id = None
                local.close(1012, "reconnect and resume")
        for info in callers:
            conn, call = info.connection, hub.routers.calls.get(info.call_id)
            if conn is None or call is None:
                continue
            position = hub.routers.position_of(info.call_id)
            conn.send(p.outbound(
                "resumed", call_id=info.call_id, state=call.status.value,
                position=position[0] if position else None,
                estimated_wait=position[1] if position else None))
            session = hub.sessions.get(info.call_id)
            if session is not None:
                conn.send(hub.connected_for_caller(session))
                conn.send(hub.matter_side.snapshot_message(session))
            told += 1
        for agent_id, conn in list(hub.agents.items()):
            if agent_id not in agents:
                continue
            if hub.agent_conns.get(agent_id) != connection_key(hub.node_id, conn) or \
                    agent_id not in hub.routers.agents:
                del hub.agents[agent_id]
                conn.agent_id = None
                conn.close(1012, "reconnect and log in again")
                continue
            conn.send(p.outbound("agent_state", **hub.agent_state_fields(agent_id, now)))
            session = next((s for s in hub.sessions.values() if s.agent_id == agent_id),
                           None)
            if session is not None and session.call_id in hub.callers:
                conn.send(hub.connected_for_agent(session, hub.callers[session.call_id]))
                conn.send(hub.matter_side.snapshot_message(session))
            hub.send_snapshot(conn)
            told += 1
        return told

    def _local_call_router(self, call_id: str) -> str | None:
        info = self.hub.callers.get(call_id)
        return None if info is None else self.hub.routers.router_of(info.partition)

    def restore(self, state: Mapping[str, Any], router: str | None = None) -> None:
        """Replace ``router``'s share of the state with ``state`` (a ``snapshot(router)``,
        possibly another node's); every router's (``snapshot()``) when None."""
        hub = self.hub
        if router is None:
            for name in hub.routers.map.names:
                self.restore(state[name], name)
            return
        for info in self._callers_of(router):
            del hub.callers[info.call_id]
            hub.resume_tokens.pop(info.resume_token, None)
            if info.request_id is not None:
                hub.request_ids.pop(hub.request_key(info), None)
            hub.sessions.pop(info.call_id, None)
        for agent_id in self._agents_of(router):
            for registry in (hub.wrapping, hub.agent_profiles, hub.agent_conns,
                             hub.detached_agents):
                registry.pop(agent_id, None)
        hub.call_limits[router].clear()
        hub.routers.of(router).restore(state["engine"])
        for fields in state.get("callers", []):
            info = caller_from(fields)
            hub.callers[info.call_id] = info
            hub.resume_tokens[info.resume_token] = info.call_id
            if info.request_id is not None:
                hub.request_ids[hub.request_key(info)] = info.call_id
        for call_id, owner in state.get("owners", {}).items():
            hub.call_limits[router].add(call_id, CallOwner(**owner))
        hub.ended_tokens[router] = {token: (call_id, at)
                                    for token, call_id, at in state.get("ended_tokens", [])}
        for s in state.get("sessions", []):
            session = LiveSession(s["call_id"], s["agent_id"], s["started_at"],
                                  ice_servers=s["ice_servers"])
            session.document = doc.SessionDocument.from_snapshot(s["document"])
            hub.sessions[session.call_id] = session
        hub.wrapping.update(state.get("wrapping", {}))
        hub.agent_profiles.update(state.get("agent_profiles", {}))
        hub.agent_conns.update(state.get("agent_conns", {}))
        hub.detached_agents.update(state.get("detached_agents", {}))

    # ------------------------------------------------------------ appliers

    def _apply_event(self, entry: dict[str, Any], now: float) -> None:
        self.hub.drive(decode_event(entry["event"]), now)

    def _apply_call(self, entry: dict[str, Any], now: float) -> None:
        hub = self.hub
        info = caller_from(entry["caller"])
        owner = CallOwner(**entry["owner"])
        limits = hub.call_limits[hub.router]
        if info.request_id is not None and hub.request_key(info) in hub.request_ids:
            raise HubError("request_id_in_use", "this request id belongs to another "
                           "caller; send a new random one")
        refused = limits.refusal(owner)
        if refused is not None:  # another node's request took the last place meanwhile
            raise HubError("too_many_calls", REFUSALS[refused], scope=refused.value)
        hub.callers[info.call_id] = info
        hub.resume_tokens[info.resume_token] = info.call_id
        if info.request_id is not None:
            hub.request_ids[hub.request_key(info)] = info.call_id
        limits.add(info.call_id, owner)
        info.connection = hub.local_connection(info.node, info.conn)
        try:
            hub.drive(ev.CallRequested(info.call_id, info.skill, info.origin, info.partition,
                                       priority=entry["priority"], label=info.label,
                                       target_agent_id=entry["target_agent_id"],
                                       arrived_at=now - entry.get("waited", 0.0)), now)
        except RoutingError:
            hub.callers.pop(info.call_id)
            hub.resume_tokens.pop(info.resume_token)
            hub.request_ids.pop(hub.request_key(info), None)
            limits.remove(info.call_id)
            raise

    def _apply_attach_caller(self, entry: dict[str, Any], now: float) -> None:
        """A caller's socket (maybe on another node) takes over its call (``resume``)."""
        hub = self.hub
        call_id = entry["call_id"]
        info = hub.callers.get(call_id)
        call = hub.routers.calls.get(call_id)
        if info is None or call is None:
            raise HubError("invalid_resume_token", "nothing to resume: the call has ended")
        new = hub.local_connection(entry["node"], entry["conn"])
        old = info.connection
        if old is not None and old is not new:
            old.call_id = None
            old.close(4000, "resumed on another connection")
        info.node, info.conn, info.connection = entry["node"], entry["conn"], new
        if new is not None:
            new.call_id, new.language = call_id, info.language
        position = hub.routers.position_of(call_id)
        hub.to_caller(call_id, p.outbound(
            "resumed", call_id=call_id, state=call.status.value,
            position=position[0] if position else None,
            estimated_wait=position[1] if position else None))
        if call.detached_at is not None:
            hub.drive(ev.CallerResumed(call_id), now)  # fresh position updates follow
        session = hub.sessions.get(call_id)
        if session is not None:
            hub.to_caller(call_id, hub.connected_for_caller(session))
            hub.to_caller(call_id, hub.matter_side.snapshot_message(session))
            if new is not None:
                hub.matter_side.save_soon(call_id)
            hub.to_agent(session.agent_id, p.outbound(
                "peer_status", call_id=call_id, status="connected",
                restart=entry["restart_media"]))

    def _apply_detach_caller(self, entry: dict[str, Any], now: float) -> None:
        hub = self.hub
        info = hub.callers.get(entry["call_id"])
        if info is None or info.conn != entry["conn"]:
            return  # the call ended, or its caller is back on another socket already
        self._detach_caller(info, now)

    def _detach_caller(self, info: CallerInfo, now: float) -> None:
        hub = self.hub
        info.node = info.conn = info.connection = None
        hub.drive(ev.CallerDetached(info.call_id), now)
        session = hub.sessions.get(info.call_id)
        if session is not None:
            hub.to_agent(session.agent_id, p.outbound(
                "peer_status", call_id=info.call_id, status="reconnecting"))

    def _apply_agent_login(self, entry: dict[str, Any], now: float) -> None:
        hub = self.hub
        profile = entry["agent"]
        agent_id = profile["id"]
        conn = hub.local_connection(entry["node"], entry["conn"])
        previous = hub.agents.get(agent_id)
        if previous is not None and previous is not conn:
            previous.agent_id = None
            previous.close(4001, "replaced by a newer login")
            del hub.agents[agent_id]
        hub.detached_agents.pop(agent_id, None)
        hub.cancel_logout(agent_id)
        hub.agent_conns[agent_id] = entry["conn"]
        if conn is not None:
            conn.agent_id = agent_id
            hub.agents[agent_id] = conn
        hub.agent_profiles[agent_id] = profile
        known = hub.routers.agents.get(agent_id)
        auto_answer = known.auto_answer if known is not None and \
            known.presence.value != "offline" else entry["account_auto_answer"]
        actions = hub.engine.handle(ev.AgentLogin(agent_id, dict(profile["skills"]),
                                                  profile["partition"], auto_answer), now)
        agent = hub.routers.agents[agent_id]
        current = agent.call_id if agent.call_id in hub.sessions else None
        # 'authenticated' first, then whatever the login caused (state, maybe an offer).
        fields = hub.agent_state_fields(agent_id, now)
        hub.to_agent(agent_id, p.outbound(
            "authenticated", agent=profile,
            **{**fields, "call_id": current or fields.get("call_id")}))
        hub.deliver(actions, now)
        hub.arm_timer()
        if current is not None:
            session = hub.sessions[current]
            hub.to_agent(agent_id, hub.connected_for_agent(session, hub.callers[current]))
            hub.to_agent(agent_id, hub.matter_side.snapshot_message(session))
            if conn is not None:
                hub.matter_side.save_soon(current)
            hub.to_caller(current, p.outbound("peer_status", call_id=current,
                                              status="connected"))
        if conn is not None and not hub.quiet:
            hub.send_snapshot(conn)

    def _apply_agent_detach(self, entry: dict[str, Any], now: float) -> None:
        hub = self.hub
        agent_id = entry["agent_id"]
        if hub.agent_conns.get(agent_id) != entry["conn"]:
            return  # logged in again since, maybe on another node
        self._detach_agent(agent_id, now)

    def _detach_agent(self, agent_id: str, now: float) -> None:
        hub = self.hub
        hub.agent_conns.pop(agent_id, None)
        local = hub.agents.pop(agent_id, None)
        if local is not None:
            local.agent_id = None
        if agent_id not in hub.routers.agents:
            return
        hub.drive(ev.AgentDetached(agent_id), now)
        hub.detached_agents[agent_id] = now
        hub.schedule_logout(agent_id, now)
        session = next((s for s in hub.sessions.values() if s.agent_id == agent_id), None)
        if session is not None:
            hub.to_caller(session.call_id, p.outbound(
                "peer_status", call_id=session.call_id, status="reconnecting"))

    def _apply_agent_logout(self, entry: dict[str, Any], now: float) -> None:
        hub = self.hub
        agent_id = entry["agent_id"]
        if entry["conn"] is None and agent_id not in hub.detached_agents:
            return  # the grace ran out on one node while the agent came back on another
        if entry["conn"] is not None and hub.agent_conns.get(agent_id) != entry["conn"]:
            raise HubError("not_authenticated", "this connection is not logged in")
        hub.detached_agents.pop(agent_id, None)
        hub.cancel_logout(agent_id)
        hub.agent_conns.pop(agent_id, None)
        local = hub.agents.pop(agent_id, None)
        if local is not None:
            local.agent_id = None
        if agent_id in hub.routers.agents:
            hub.drive(ev.AgentLogout(agent_id), now)

    def _apply_document(self, entry: dict[str, Any], now: float) -> None:
        hub = self.hub
        session = hub.sessions.get(entry["call_id"])
        if session is None:
            raise HubError("not_in_session", "no live session with this call id")
        messages = hub.matter_side.apply_op(session, doc.Party(entry["party"]),
                                            decode_op(entry["op"]), entry["at"])
        origin = entry.get("origin") or {}
        if origin.get("node") == hub.node_id:
            self.results[origin["ref"]] = messages

    def _apply_node_gone(self, entry: dict[str, Any], now: float) -> None:
        """Every party of a dead node is detached, as if its sockets had closed."""
        hub = self.hub
        node, router = entry["node"], hub.router
        if node == hub.node_id:  # presumed dead, but alive: its sockets reconnect, resume
            for info in self._callers_of(router):
                if info.node == node and info.connection is not None:
                    info.connection.close(1012, "reconnect and resume")
            agents = self._agents_of(router)
            for agent_id, conn in list(hub.agents.items()):
                if agent_id in agents:
                    conn.close(1012, "reconnect and log in again")
        for info in [i for i in self._callers_of(router) if i.node == node]:
            self._detach_caller(info, now)
        prefix = f"{node}/"
        agents = self._agents_of(router)
        for agent_id in [a for a, c in hub.agent_conns.items()
                         if c.startswith(prefix) and a in agents]:
            self._detach_agent(agent_id, now)


#: this process's run, in every connection key: a node restarted under the same
#: ``node_id`` numbers its sockets from 1 again, and must never be taken for the sockets
#: its previous run left in the replicated state
_RUN = secrets.token_hex(4)


def connection_key(node: str, conn: Connection) -> str:
    """A connection's name across the cluster: its node, this run of it, its number."""
    return f"{node}/{_RUN}.{conn.id}"
