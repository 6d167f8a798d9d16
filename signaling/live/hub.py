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
from collections import deque
from collections.abc import Awaitable, KeysView
from pathlib import Path
from typing import Any

from .. import protocol as p
from ..matters import SHIPPED_CATALOG
from ..matters.catalog import Catalog, load_catalog, load_catalog_files
from ..outbox.worker import OutboxWorker
from ..relay_frame import RelayFrame, encode
from ..routing import actions as act
from ..routing import events as ev
from ..routing.engine import Engine
from ..routing.model import (
    Activity,
    CallStatus,
    Disposition,
    RoutingConfig,
    RoutingError,
)
from ..routing.routers import RouterMap, Routers
from ..settings import Settings
from ..store import (
    AccountRepository,
    AuditRepository,
    CallbackRepository,
    CallRepository,
    CatalogFileRepository,
    CatalogRepository,
    Database,
    DraftRepository,
    InviteRepository,
    KioskRepository,
    MaterialRepository,
    SubmissionRepository,
)
from ..store.directory_repository import DirectoryRepository
from ..store.draft_writer import DraftWriter
from ..store.files import MaterialStore
from ..store.models import CallPhase, CallRecord
from ..store.record_writer import Level, RecordWriter
from ..store.repositories import FINAL_PHASES
from ..tokens import sign
from .admission import Admission, watch_loop_lag
from .agents import AGENT_RECONNECT_GRACE, AgentSide
from .callers import CallerSide
from .case_side import CaseSide
from .connection import Connection
from .directory import Directory
from .ice import ice_servers_for
from .limits import LiveCallLimits, SocketLimits
from .matter_side import MatterSide
from .recording_side import RecordingSide
from .sessions import CallerInfo, HubError, LiveSession
from .state import LiveState, agent_logout_entry, connection_key, event_entry

log = logging.getLogger(__name__)

RATING_WINDOW = 15 * 60.0
#: longest wait for the call's record before the caller gets ``ended`` anyway (seconds)
ENDED_RECORD_WAIT = 2.0
#: longest wait for the call's record before a rating or wrap-up is tried anyway (seconds)
UPDATE_RECORD_WAIT = 5.0
#: how long a caller away when its call ended can still learn so with its resume token
ENDED_TOKEN_TTL = 120.0
#: seconds of record writes every cluster node keeps, leader or not, for a new leader of
#: the router to write again (``replay_recent_records``)
RECENT_RECORDS_SPAN = 15.0
RECENT_RECORDS_MAX = 200_000



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


class Hub:
    """Single-node hub over the in-process engine (the memory backend of DESIGN.md)."""

    def __init__(self, settings: Settings, db: Database, secret: bytes) -> None:
        self.settings = settings
        self.db = db
        self.secret = secret
        #: one engine per router (``routing_partitions``; one for every district by default)
        self.routers = Routers(routing_config(settings), RouterMap(settings.routing_partitions))
        #: the router whose entry is being applied (``LiveState.apply``): its engine is
        #: the one ``drive`` feeds
        self.router = self.routers.map.names[0]
        self.accounts = AccountRepository(db)
        self.kiosks = KioskRepository(db)
        self.catalog = CatalogRepository(db)
        self.call_records = CallRepository(db)
        self.callbacks = CallbackRepository(db)
        self.invites = InviteRepository(db)
        self.audit_log = AuditRepository(db)
        self.materials = MaterialRepository(db)
        self.submissions = SubmissionRepository(db)
        self.drafts = DraftRepository(db)
        self.catalog_files = CatalogFileRepository(db)
        #: kiosks, accounts and skills in memory: the routing path never waits for the store
        self.directory = Directory(DirectoryRepository(db), settings.directory_refresh_interval)
        self.admission = Admission(
            max_loop_lag=settings.shed_loop_lag, max_record_backlog=settings.shed_record_backlog,
            max_identifying=settings.shed_identifying,
            max_store_backlog=settings.shed_store_backlog,
            retry_after_ms=settings.busy_retry_after_ms)
        self.material_store = MaterialStore(Path(settings.data_dir) / "materials",
                                            settings.max_material_bytes)
        self.matter_side = MatterSide(self)
        self.case_side = CaseSide(self)
        self.recording_side = RecordingSide(self)
        self.callers: dict[str, CallerInfo] = {}
        self.resume_tokens: dict[str, str] = {}
        #: per router, resume tokens of calls that ended lately: token -> (call id, when),
        #: oldest first, so a caller that was away when its call ended is told ``ended``
        #: on resume, not ``invalid_resume_token`` (kept ``ENDED_TOKEN_TTL``; replicated)
        self.ended_tokens: dict[str, dict[str, tuple[str, float]]] = {
            name: {} for name in self.routers.map.names}
        #: ``request_key`` (router and client request id) -> call id, while live
        self.request_ids: dict[str, str] = {}
        self.sessions: dict[str, LiveSession] = {}
        self.agents: dict[str, Connection] = {}
        self.agent_profiles: dict[str, dict[str, Any]] = {}
        self.wrapping: dict[str, str] = {}  # agent id -> call id of its wrap-up
        #: agent id -> the connection (``state.connection_key``) it is logged in on, on any
        #: node; and agent id -> when its socket went away (the reconnect grace runs)
        self.agent_conns: dict[str, str] = {}
        self.detached_agents: dict[str, float] = {}
        #: the replicated live state: every change above goes through ``submit``
        self.node_id = settings.node_id or f"n{secrets.token_hex(4)}"
        self.state = LiveState(self)
        #: the cluster's log and relay when the node runs with ``--redis`` (else None)
        self.cluster: Any = None
        #: set while an entry is applied: ``quiet`` when it is replayed without delivery
        self.quiet = False
        self.applying = False
        self._local_connections: dict[str, Connection] = {}
        #: live calls per address, company and kiosk, counted per router (each router's
        #: log decides its own calls, so its count must depend on its entries alone)
        self.call_limits: dict[str, LiveCallLimits] = {
            name: LiveCallLimits(settings.max_calls_per_address, settings.max_calls_per_company)
            for name in self.routers.map.names}
        self.socket_limits = SocketLimits(settings.new_sockets_per_minute,
                                          settings.max_caller_sockets_per_address)
        self.caller_side = CallerSide(self)
        self.agent_side = AgentSide(self)
        #: delivers the webhook outbox; the case side calls ``outbox_worker.wake()``
        self.outbox_worker = OutboxWorker(db)
        self._timer: asyncio.TimerHandle | asyncio.Handle | None = None
        #: the deadline ``_timer`` was armed for: uvloop's ``call_at`` of a time already
        #: past returns a plain Handle, which has no ``when()``
        self._timer_at: float | None = None
        self.logout_timers: dict[str, asyncio.TimerHandle] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._snapshot_task: asyncio.Task[None] | None = None
        self._admission_tasks: list[asyncio.Task[None]] = []
        self._last_snapshot: dict[str, Any] | None = None
        self._wall_offset = 0.0
        self._batch_queued: set[str] = set()
        #: (engine time, router, call id, fields) of recent record writes (cluster only)
        self._recent_records: deque[tuple[float, str, str, dict[str, Any]]] = deque()
        #: call-record writes: batched, journaled, on a database engine of their own
        self.record_writer = RecordWriter(db.url, Path(settings.data_dir))
        #: session-draft saves: coalesced per call, batched, on an engine of their own
        self.draft_writer = DraftWriter(db.url)

    # ------------------------------------------------------------------ life cycle

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._wall_offset = time.time() - loop.time()
        await self.directory.load()
        # Writes a crash left in the journal reach the database before anything is judged.
        await self.record_writer.start()
        # One server per database: a record still live was cut off by a crash of the last.
        # (A cluster's live calls outlive any one node: their records stay as they are.)
        interrupted = 0 if self.settings.redis_url else \
            await self.call_records.interrupt_unfinished(now=time.time(),
                                                         reason="server_restart")
        if interrupted:
            log.warning("%d call record(s) left unfinished by the previous run marked "
                        "interrupted", interrupted)
        catalog = await self.active_catalog()
        self.draft_writer.start()
        self.matter_side.start(catalog)
        self.case_side.start(catalog)
        await self.recording_side.start()
        if self.settings.redis_url:
            from .node import ClusterNode

            # Engine time is Redis's clock (epoch seconds) on every node of a cluster.
            self._wall_offset = 0.0
            self.cluster = ClusterNode(self)
            await self.cluster.start()
        self._snapshot_task = asyncio.create_task(self._snapshot_loop())
        self._admission_tasks = [asyncio.create_task(self.directory.run()),
                                 asyncio.create_task(watch_loop_lag(self.admission))]
        await self.outbox_worker.start()

    @property
    def skills(self) -> KeysView[str]:
        """Codes of the catalog's skills (from the directory)."""
        return self.directory.skills.keys()

    async def active_catalog(self) -> Catalog:
        """The service catalog: as last imported (``cloud-agent admin import-catalog``),
        or the one shipped with the server."""
        files = await self.catalog_files.all()
        return load_catalog_files(files) if files else load_catalog(SHIPPED_CATALOG)

    async def stop(self) -> None:
        await self.outbox_worker.stop()
        for task in self._admission_tasks:
            task.cancel()
        await asyncio.gather(*self._admission_tasks, return_exceptions=True)
        if self._snapshot_task:
            self._snapshot_task.cancel()
            await asyncio.gather(self._snapshot_task, return_exceptions=True)
        if self._timer:
            self._timer.cancel()
        for handle in self.logout_timers.values():
            handle.cancel()
        if self.cluster is not None:
            await self.cluster.stop()
        for call_id in self.callers if self.cluster is None else ():
            # live calls end with the process (a cluster's live on in the other nodes)
            self.record_call(call_id, phase=CallPhase.INTERRUPTED.value, ended_at=time.time(),
                             end_reason="server_shutdown")
        await self.recording_side.stop()
        await self.matter_side.stop()
        await self.case_side.stop()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        await self.draft_writer.stop()
        await self.record_writer.stop()

    def now(self) -> float:
        """Engine time: the loop's clock on one node, Redis's clock in a cluster."""
        if self.cluster is not None:
            return float(self.cluster.now())
        return asyncio.get_running_loop().time()

    def wall(self, loop_time: float) -> float:
        return loop_time + self._wall_offset

    # ------------------------------------------------------------------ engine driving

    def apply(self, event: ev.Event) -> None:
        """Submit one engine event from code that cannot wait (see ``submit_soon``)."""
        self.submit_soon(event_entry(event))

    async def submit(self, entry: dict[str, Any]) -> Any:
        """Apply an entry to the live state (on every node of a cluster) and raise the
        refusal of this request, if any; returns what the applier left for it (the messages
        of a document op)."""
        ref = self.state.stamp(entry)
        if self.cluster is None:
            self.state.apply(entry, self.now(), deliver=True)
        else:
            await self.cluster.submit(entry)
        failure = self.state.failures.pop(ref, None)
        if failure is not None:
            raise failure
        return self.state.results.pop(ref, None)

    def submit_soon(self, entry: dict[str, Any]) -> None:
        """``submit`` from code that cannot wait (a closed socket, a timer): applied at
        once on a single node (refusals raise), in the background in a cluster."""
        if self.cluster is None:
            ref = self.state.stamp(entry)
            self.state.apply(entry, self.now(), deliver=True)
            failure = self.state.failures.pop(ref, None)
            self.state.results.pop(ref, None)
            if failure is not None:
                raise failure
            return
        self.background_task(self.submit(entry))

    def local_connection(self, node: str | None, key: str | None) -> Connection | None:
        """The socket an entry names, when it is connected to this node."""
        if node != self.node_id or key is None:
            return None
        return self._local_connections.get(key)

    def connection_key(self, conn: Connection) -> str:
        """Name ``conn`` for entries; it stays findable until it closes (``forget``)."""
        key = connection_key(self.node_id, conn)
        self._local_connections[key] = conn
        return key

    def forget(self, conn: Connection) -> None:
        self._local_connections.pop(connection_key(self.node_id, conn), None)

    def schedule_logout(self, agent_id: str, detached_at: float) -> None:
        """Log a detached agent out when its reconnect grace runs out (on one node: here;
        in a cluster: the leader, which also sweeps after a takeover)."""
        if self.quiet or (self.cluster is not None
                          and not self.cluster.leads(self.router_of_agent(agent_id))):
            return
        self.cancel_logout(agent_id)
        delay = max(0.0, detached_at + AGENT_RECONNECT_GRACE - self.now())
        self.logout_timers[agent_id] = asyncio.get_running_loop().call_later(
            delay, self._logout_after_grace, agent_id, detached_at)

    def cancel_logout(self, agent_id: str) -> None:
        handle = self.logout_timers.pop(agent_id, None)
        if handle is not None:
            handle.cancel()

    def _logout_after_grace(self, agent_id: str, detached_at: float) -> None:
        self.logout_timers.pop(agent_id, None)
        if self.detached_agents.get(agent_id) != detached_at:
            return
        try:
            self.submit_soon(agent_logout_entry(agent_id, None))
        except RoutingError:
            log.exception("logout of %s failed", agent_id)

    @property
    def engine(self) -> Engine:
        """The engine of the router whose entry is being applied."""
        return self.routers.of(self.router)

    def limits_for(self, district: str) -> LiveCallLimits:
        """The live-call limits of the router serving ``district``."""
        return self.call_limits[self.routers.router_of(district)]

    def router_of_call(self, call_id: str) -> str:
        """The router of a live call (its caller's district), or ``default``."""
        info = self.callers.get(call_id)
        if info is not None:
            return self.routers.router_of(info.partition)
        return self.routers.router_of_call(call_id) or self.routers.map.names[0]

    def router_of_agent(self, agent_id: str) -> str:
        """The router of an agent (its account's district when logged in here), or
        ``default``."""
        profile = self.agent_profiles.get(agent_id)
        if profile is not None:
            return self.routers.router_of(profile["partition"])
        return self.routers.router_of_agent(agent_id) or self.routers.map.names[0]

    def request_key(self, info: CallerInfo) -> str:
        """A live call's client request id, qualified by its router (ids are checked
        within a router, whose log alone decides them)."""
        return f"{self.routers.router_of(info.partition)}/{info.request_id}"

    def find_request(self, request_id: str | None) -> str | None:
        """The live call of a client request id, whichever router has it."""
        if not request_id:
            return None
        for router in self.routers.map.names:
            call_id = self.request_ids.get(f"{router}/{request_id}")
            if call_id is not None:
                return call_id
        return None

    def drive(self, event: ev.Event, now: float) -> None:
        """Feed one event to the engine, deliver its actions and re-arm the timer (only
        ever called while an entry is applied)."""
        try:
            actions = self.engine.handle(event, now)
        except RoutingError as exc:
            self.deliver(exc.actions, now)  # type: ignore[arg-type]
            self.arm_timer()
            raise
        self.deliver(actions, now)
        self.arm_timer()

    def arm_timer(self) -> None:
        if self.cluster is not None:
            return  # the partition's leader appends the ticks
        deadline = self.routers.next_deadline()
        if self._timer is not None:
            if deadline is not None and self._timer_at == deadline:
                return
            self._timer.cancel()
            self._timer = None
        if deadline is not None:
            self._timer_at = deadline
            self._timer = asyncio.get_running_loop().call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        """Tick every router whose deadline has come (each router's timers are its own)."""
        self._timer = None
        try:
            now = self.now()
            due = {name: deadline for name, engine in self.routers.engines.items()
                   if (deadline := engine.next_deadline()) is not None}
            ripe = [name for name, deadline in due.items() if deadline <= now] or \
                sorted(due, key=due.__getitem__)[:1]
            for name in ripe:
                self.submit_soon(event_entry(ev.Tick(), router=name))
        except Exception:  # the timer must never die silently (DESIGN.md)
            log.exception("engine tick failed")
            self.arm_timer()

    def self_check(self) -> list[str]:
        """The live invariant check: log violations and repair by dispatching (each
        router by its leader, in a cluster)."""
        now = self.now()
        problems: list[str] = []
        for name, engine in self.routers.engines.items():
            found = engine.violations(now)
            problems.extend(found)
            if found and (self.cluster is None or self.cluster.leads(name)):
                log.error("routing invariant violated in router %s: %s", name, found)
                self.submit_soon(event_entry(ev.Tick(reason="self_check"), router=name))
        return problems

    # ------------------------------------------------------------------ action delivery

    def deliver(self, actions: list[act.Action], now: float) -> None:
        self._batch_queued = {a.call_id for a in actions if isinstance(a, act.CallQueued)}
        for action in actions:
            handler = getattr(self, "_do_" + type(action).__name__)
            handler(action, now)

    def _caller(self, call_id: str) -> Connection | None:
        info = self.callers.get(call_id)
        return info.connection if info else None

    def to_caller(self, call_id: str, message: dict[str, Any]) -> None:
        """Send to the caller's socket if it is on this node. Outside an entry (a relay)
        a caller on another node gets it through that node (``forward_to_caller``)."""
        if self.quiet:
            return
        conn = self._caller(call_id)
        if conn is not None:
            conn.send(message)
        elif self.cluster is not None and not self.applying:
            self.forward_to_caller(call_id, message)

    def to_agent(self, agent_id: str, message: dict[str, Any]) -> None:
        if self.quiet:
            return
        conn = self.agents.get(agent_id)
        if conn is not None:
            conn.send(message)
        elif self.cluster is not None and not self.applying:
            self.forward_to_agent(agent_id, message)

    def forward_to_caller(self, call_id: str, message: dict[str, Any] | str) -> None:
        """A message (or serialized frame) for a caller on another node of the cluster
        goes to that node's relay stream (``node.ClusterNode.forward``)."""
        info = self.callers.get(call_id)
        if self.cluster is not None and info is not None and info.node is not None:
            self.cluster.forward(info.node, {"call_id": call_id}, message)

    def forward_to_agent(self, agent_id: str, message: dict[str, Any] | str) -> None:
        key = self.agent_conns.get(agent_id)
        if self.cluster is not None and key is not None:
            self.cluster.forward(key.split("/", 1)[0], {"agent_id": agent_id}, message)

    def _do_CallQueued(self, action: act.CallQueued, now: float) -> None:  # noqa: N802
        info = self.callers[action.call_id]
        log.info("call %s queued: %s, %s", action.call_id, info.skill, info.origin.value)
        self.record_call(action.call_id, phase=CallPhase.QUEUED.value,
                         enqueued_at=self.wall(now), **self._record_identity(info))
        position = self.routers.position_of(action.call_id) or (1, 0)
        self.to_caller(action.call_id, p.outbound(
            "queued", call_id=action.call_id, resume_token=info.resume_token,
            position=position[0], estimated_wait=position[1]))

    def _do_PositionChanged(self, action: act.PositionChanged, now: float) -> None:  # noqa: N802
        if action.call_id in self._batch_queued:
            return  # already in the 'queued' message
        self.to_caller(action.call_id, p.outbound(
            "position", call_id=action.call_id, position=action.position,
            estimated_wait=action.estimated_wait))

    def _do_OfferCall(self, action: act.OfferCall, now: float) -> None:  # noqa: N802
        info = self.callers[action.call_id]
        self.record_call(action.call_id, phase=CallPhase.OFFERED.value,
                         offered_to=action.agent_id, offered_at=self.wall(now))
        self.to_agent(action.agent_id, p.outbound(
            "offer", call_id=action.call_id, skill=action.skill, origin=action.origin.value,
            label=action.label, company=info.company, language=info.language,
            waited=round(action.waited, 3),
            ring_timeout_ms=int(max(0.0, action.expires_at - now) * 1000),
            auto_answer=action.auto_answer))

    def _do_OfferCancelled(self, action: act.OfferCancelled, now: float) -> None:  # noqa: N802
        self.to_agent(action.agent_id, p.outbound(
            "offer_cancelled", call_id=action.call_id, reason=action.reason))

    def _do_CallRinging(self, action: act.CallRinging, now: float) -> None:  # noqa: N802
        self.to_caller(action.call_id, p.outbound("ringing", call_id=action.call_id))

    def _do_CallRequeued(self, action: act.CallRequeued, now: float) -> None:  # noqa: N802
        self.record_call(action.call_id, phase=CallPhase.QUEUED.value)
        self.to_caller(action.call_id, p.outbound(
            "requeued", call_id=action.call_id, reason=action.reason))

    def _do_CallbackOffered(self, action: act.CallbackOffered, now: float) -> None:  # noqa: N802
        self.to_caller(action.call_id, p.outbound(
            "callback_offer", call_id=action.call_id, reason=action.reason))

    def _do_AgentStateChanged(self, action: act.AgentStateChanged, now: float) -> None:  # noqa: N802
        fields = self.agent_state_fields(action.agent_id, now)
        # The action's state, not the engine's latest: one event may pass through several.
        fields.update(state=action.state.value, reason=action.reason,
                      auto_answer=action.auto_answer)
        if action.state.value != "wrap_up":
            fields.pop("wrap_up_ms", None)
            fields.pop("call_id", None)
        self.to_agent(action.agent_id, p.outbound("agent_state", **fields))

    def agent_state_fields(self, agent_id: str, now: float) -> dict[str, Any]:
        """The agent's state as consoles show it: the system state, what the agent chose
        (presence, which may differ mid-call), and wrap-up time left (None = no limit)."""
        agent = self.routers.agents[agent_id]
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
        log.info("call %s answered by %s", action.call_id, action.agent_id)
        self.record_call(action.call_id, phase=CallPhase.ANSWERED.value,
                         agent_id=action.agent_id, answered_at=self.wall(now),
                         wait_s=action.waited)
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
        self.to_caller(action.call_id, self.connected_for_caller(session))
        self.to_agent(action.agent_id, self.connected_for_agent(session, info))
        document = self.matter_side.snapshot_message(session)
        self.to_caller(action.call_id, document)
        self.to_agent(action.agent_id, document)

    def ice_transport_policy(self, call_id: str) -> str:
        """``relay`` when this call's media must go through TURN (the global setting, or a
        kiosk on a hostile network), else ``all``; both parties get the same policy."""
        info = self.callers.get(call_id)
        if info is not None and info.kiosk_id in self.settings.relay_kiosks:
            return "relay"
        return self.settings.ice_transport_policy

    def connected_for_caller(self, session: LiveSession) -> dict[str, Any]:
        profile = self.agent_profiles.get(session.agent_id, {})
        return p.outbound(
            "connected", call_id=session.call_id, role="offerer", polite=False,
            ice_servers=session.ice_servers["caller"],
            ice_transport_policy=self.ice_transport_policy(session.call_id),
            peer={"display_name": profile.get("display_name", session.agent_id)},
            recording=self.recording_side.connected_field(session.call_id))

    def connected_for_agent(self, session: LiveSession, info: CallerInfo) -> dict[str, Any]:
        return p.outbound(
            "connected", call_id=session.call_id, role="answerer", polite=True,
            ice_servers=session.ice_servers["agent"],
            ice_transport_policy=self.ice_transport_policy(session.call_id),
            answered_at=round(self.wall(session.started_at), 3),
            peer={"origin": info.origin.value, "label": info.label, "skill": info.skill,
                  "company": info.company, "language": info.language},
            recording=self.recording_side.connected_field(session.call_id))

    def _do_CallEnded(self, action: act.CallEnded, now: float) -> None:  # noqa: N802
        info = self.callers.pop(action.call_id, None)
        log.info("call %s ended: %s", action.call_id, action.reason)
        for limits in self.call_limits.values():
            limits.remove(action.call_id)
        self.recording_side.call_ended(action.call_id)
        session = self.sessions.pop(action.call_id, None)
        if session is not None:
            self.matter_side.session_ended(session)
            self.case_side.session_ended(action.call_id)
        message = p.outbound("ended", call_id=action.call_id, reason=action.reason,
                             disposition=action.disposition.value)
        self.record_call(
            action.call_id, phase=CallPhase.ENDED.value,
            **(self._record_identity(info) if info is not None else {}),
            agent_id=action.agent_id, enqueued_at=self.wall(action.enqueued_at),
            answered_at=(None if action.answered_at is None
                         else self.wall(action.answered_at)),
            ended_at=self.wall(action.ended_at), end_reason=action.reason,
            wait_s=((action.answered_at or action.ended_at) - action.enqueued_at),
            talk_s=(None if action.answered_at is None
                    else action.ended_at - action.answered_at),
            outcome=(None if action.disposition is Disposition.COMPLETED
                     else action.disposition.value),
        )
        if info is not None:
            self.resume_tokens.pop(info.resume_token, None)
            self.remember_ended(info, now)
            if info.request_id is not None:
                self.request_ids.pop(self.request_key(info), None)
            if info.connection is not None and not self.quiet:
                rating_token = sign(self.secret, "rating", action.call_id, time.time(),
                                    RATING_WINDOW)
                # Once the caller sees 'ended', the record says so (a crash cannot lose it).
                self.background_task(self._send_when_recorded(
                    info.connection, action.call_id, {**message, "rating_token": rating_token},
                    self.router))
                info.connection.call_id = None
                info.connection.last_call_id = action.call_id
        if action.agent_id is not None:
            self.wrapping[action.agent_id] = action.call_id
            until = self.routers.agents[action.agent_id].wrap_up_until
            self.to_agent(action.agent_id, {
                **message,
                "wrap_up_ms": None if until is None else int(max(0.0, until - now) * 1000)})

    def store_backlog(self) -> int:
        """Store writes under way besides call records (admission reads it): session drafts
        not yet saved (``draft_writer``) and the other background writes."""
        return self.draft_writer.backlog() + len(self._background)

    def background_task(self, coro: Awaitable[Any]) -> asyncio.Task[None]:
        async def run() -> None:
            try:
                await coro
            except Exception:
                log.exception("store write failed")
        task = asyncio.create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    # ------------------------------------------------------------------ call records

    @staticmethod
    def _record_identity(info: CallerInfo) -> dict[str, Any]:
        return {"skill": info.skill, "origin": info.origin.value, "caller_label": info.label,
                "partition": info.partition, "kiosk_id": info.kiosk_id}

    def record_call(self, call_id: str, **fields: Any) -> None:
        """Write these fields to the call's record in the background, never blocking routing
        (``RecordWriter``: journaled, then batched; later values win, in the order asked).
        In a cluster only the partition's leader writes (each entry once; the upserts are
        idempotent).
        """
        if self.quiet:
            return
        if self.cluster is not None:
            router = self.router if self.applying else self.router_of_call(call_id)
            self._remember_record(router, call_id, fields)
            if not self.cluster.leads(router):
                return
        self.record_writer.record(call_id, **fields)

    def _remember_record(self, router: str, call_id: str, fields: dict[str, Any]) -> None:
        recent, now = self._recent_records, self.now()
        recent.append((now, router, call_id, fields))
        while recent and (recent[0][0] < now - RECENT_RECORDS_SPAN
                          or len(recent) > RECENT_RECORDS_MAX):
            recent.popleft()

    def replay_recent_records(self, router: str) -> int:
        """A router's new leader writes again the record writes of its last
        ``RECENT_RECORDS_SPAN`` seconds, in order (idempotent: a final phase is never
        overwritten). Without this, what the router's entries asked for while no node
        held its lease (the last leader's lapsed under load, or it died with writes in
        flight) was never written: calls queued and ended in such a moment had no record
        at all (bench/call_rate.py against a cluster at capacity)."""
        replayed = 0
        for _, owner, call_id, fields in list(self._recent_records):
            if owner == router:
                self.record_writer.record(call_id, **fields)
                replayed += 1
        return replayed

    def rewrite_live_records(self, router: str) -> None:
        """Write every live call's record of ``router`` as the replica has it (its new
        cluster leader: the last one may have died with writes in flight; upserts are
        idempotent)."""
        engine = self.routers.of(router)
        for call_id, info in self.callers.items():
            call = engine.calls.get(call_id)
            if call is None:
                continue
            fields: dict[str, Any] = {**self._record_identity(info),
                                      "enqueued_at": self.wall(call.enqueued_at)}
            if call.answered_at is not None and call.agent_id is not None:
                fields.update(phase=CallPhase.ANSWERED.value, agent_id=call.agent_id,
                              answered_at=self.wall(call.answered_at))
            else:
                fields.update(phase=CallPhase.QUEUED.value)
            self.record_call(call_id, **fields)

    async def interrupt_orphaned_records(self, router: str) -> int:
        """A router's cluster leader: records still live whose call no node holds any more
        (the whole cluster stopped, or Redis lost the log while they were live) are
        marked ``interrupted`` / ``cluster_restart``. Only calls queued more than
        ``cluster_orphan_age`` ago and with no write of ours pending: a call appended a
        moment ago may be recorded by another node before this replica has applied it."""
        before = self.now() - self.settings.cluster_orphan_age
        live = self.routers.of(router).calls
        candidates = await self.call_records.live_enqueued_before(before)
        orphans = [call_id for call_id, district in candidates
                   if self.routers.router_of(district or "default") == router
                   and call_id not in live and not self.record_writer.pending(call_id)]
        if not orphans:
            return 0
        count = await self.call_records.interrupt_unfinished(
            now=time.time(), reason="cluster_restart", call_ids=orphans)
        log.warning("router %s: %d call record(s) left live with no call in the cluster "
                    "marked interrupted", router, count)
        return count

    def relink_connections(self) -> None:
        """After the live state was reloaded from a snapshot: callers whose socket is on
        this node get it back (sockets are never part of the replicated state)."""
        for info in self.callers.values():
            info.connection = self.local_connection(info.node, info.conn)

    def record_backlog(self) -> int:
        """Calls whose record writes are asked for and not yet in the database (admission
        reads it; ``record_writer.backlog()`` also has the oldest one's age)."""
        return self.record_writer.backlog().calls

    async def call_recorded(self, call_id: str) -> None:
        """Wait until every write of the call's record asked for so far is in the database,
        so later updates (rating, wrap-up) find it; at most ``UPDATE_RECORD_WAIT`` (a
        database that is down fails the update then, rather than holding the socket)."""
        try:
            await asyncio.wait_for(self.record_writer.recorded(call_id), UPDATE_RECORD_WAIT)
        except TimeoutError:
            log.warning("record of call %s not in the database within %.0f s", call_id,
                        UPDATE_RECORD_WAIT)

    def remember_ended(self, info: CallerInfo, now: float) -> None:
        """Keep an ended call's resume token for ``ENDED_TOKEN_TTL`` (applied state: the
        pruning goes by the entry's time, the same on every node)."""
        tokens = self.ended_tokens[self.routers.router_of(info.partition)]
        while tokens:
            oldest = next(iter(tokens))
            if tokens[oldest][1] > now - ENDED_TOKEN_TTL:
                break
            del tokens[oldest]
        tokens[info.resume_token] = (info.call_id, now)

    def ended_call(self, resume_token: str) -> str | None:
        """The call a resume token belonged to, if that call ended lately."""
        for tokens in self.ended_tokens.values():
            if resume_token in tokens:
                return tokens[resume_token][0]
        return None

    def tell_ended_unseen(self, conn: Connection, call_id: str) -> None:
        """A caller socket whose call ended while this node replayed the log without
        delivering (after a Redis outage): it gets ``ended`` as the call's record has it
        (the router's leader writes it; waited for up to ``UPDATE_RECORD_WAIT``), with a
        rating token, instead of a reconnect that would find nothing to resume."""
        conn.call_id, conn.last_call_id = None, call_id

        async def tell() -> None:
            record = await self._final_record(call_id, UPDATE_RECORD_WAIT)
            if record is None:  # not final in time: what can be said without it
                reason, disposition = "ended", Disposition.ABANDONED.value
            else:
                reason = record.end_reason or "ended"
                disposition = record.outcome or (
                    Disposition.COMPLETED.value if record.answered_at is not None
                    else Disposition.ABANDONED.value)
            conn.send(p.outbound(
                "ended", call_id=call_id, reason=reason, disposition=disposition,
                rating_token=sign(self.secret, "rating", call_id, time.time(),
                                  RATING_WINDOW)))
        self.background_task(tell())

    async def _final_record(self, call_id: str, wait: float) -> CallRecord | None:
        """The call's record once the database has it ended or interrupted (written by
        whichever node leads its router), polled every 50 ms for up to ``wait`` s."""
        deadline = time.monotonic() + wait
        while True:
            record = await self.call_records.get(call_id)
            if record is not None and record.phase in FINAL_PHASES:
                return record
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(0.05)

    async def _send_when_recorded(self, conn: Connection, call_id: str,
                                  message: dict[str, Any], router: str) -> None:
        """Send the caller's ``ended`` once the call's record is in the database; if the
        database is failing, once it is in the journal (as crash-safe); at most after
        ``ENDED_RECORD_WAIT``. On a cluster node that does not lead the call's router (so
        writes nothing itself), once the database has the record as ended."""
        if self.cluster is not None and not self.cluster.leads(router):
            if await self._final_record(call_id, ENDED_RECORD_WAIT) is None:
                log.warning("record of call %s not ended in the database within %.0f s; "
                            "'ended' sent anyway", call_id, ENDED_RECORD_WAIT)
            conn.send(message)
            return
        level = await self.record_writer.durable(call_id, ENDED_RECORD_WAIT)
        if level is None:
            log.warning("record of call %s not even journaled within %.0f s; 'ended' sent "
                        "anyway", call_id, ENDED_RECORD_WAIT)
        elif level is Level.JOURNALED:  # the writer logs the database's failures
            log.debug("record of call %s journaled, not yet in the database", call_id)
        conn.send(message)

    # ------------------------------------------------------------------ the two sides

    async def caller_message(self, conn: Connection, message: p.Message) -> None:
        """Handle one validated caller message (see ``callers.CallerSide``)."""
        await self.caller_side.handle(conn, message)

    def caller_disconnected(self, conn: Connection) -> None:
        try:
            self.caller_side.disconnected(conn)
        finally:
            self.forget(conn)

    async def session_message(self, conn: Connection, message: p.Message) -> None:
        """Forms, identity and screens of a live session (see ``matter_side``)."""
        await self.matter_side.handle(conn, message)

    async def agent_message(self, conn: Connection, message: p.Message) -> None:
        """Handle one validated agent message (see ``agents.AgentSide``)."""
        await self.agent_side.handle(conn, message)

    def agent_disconnected(self, conn: Connection) -> None:
        try:
            self.agent_side.disconnected(conn)
        finally:
            self.forget(conn)

    async def relay(self, conn: Connection, message: p.Sdp | p.Ice | RelayFrame) -> None:
        """Pass SDP/ICE to the other party of the sender's own session, and nowhere else:
        authorize, then forward the frame as it was serialized once (``relay_frame``)."""
        self.relay_now(conn, message if isinstance(message, RelayFrame)
                       else RelayFrame.from_model(message))

    def relay_now(self, conn: Connection, frame: RelayFrame) -> None:
        """``relay``, synchronously: the transport's fast lane calls it as a frame arrives."""
        session = self.sessions.get(frame.call_id)
        if session is None:
            raise HubError("not_in_session", "no live session with this call id")
        if conn.role == "caller":
            if conn.call_id != session.call_id:
                raise HubError("not_in_session", "you are not a party of this session")
            to = "agent"
        else:
            if conn.agent_id != session.agent_id:
                raise HubError("not_in_session", "you are not a party of this session")
            to = "caller"
        self.deliver_to_party(session, to, frame.text)

    def deliver_to_party(self, session: LiveSession, party: str, frame: str) -> None:
        """Queue an already serialized frame for one party (``caller`` or ``agent``) of a
        session, if its socket is here."""
        conn = self.agents.get(session.agent_id) if party == "agent" else self._caller(
            session.call_id)
        if conn is not None:
            conn.send(frame)
        elif party == "agent":  # on another node of a cluster: that node passes it on
            self.forward_to_agent(session.agent_id, frame)
        else:
            self.forward_to_caller(session.call_id, frame)

    # ------------------------------------------------------------------ invites, stats

    def queue_snapshot(self) -> dict[str, Any]:
        """Waiting calls per skill for the agents' live panel and the wallboard."""
        stats = self.routers.queue_stats(self.now())
        return {
            "queues": [
                {"skill": s.skill, "partition": s.partition, "waiting": s.waiting,
                 "longest_wait": round(s.longest_wait), "ready_agents": s.ready_agents,
                 "staffed_agents": s.staffed_agents}
                for s in stats
            ]
        }

    def send_snapshot(self, conn: Connection) -> None:
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
                    # Serialized once for every agent (it was once per agent: a tenth of
                    # the server's CPU at low call rates, bench/call_rate.py).
                    frame = encode(p.outbound("queue_snapshot", **snapshot))
                    for conn in list(self.agents.values()):
                        conn.send(frame)
                if ticks % 5 == 0:
                    self.self_check()
            except Exception:
                log.exception("snapshot loop iteration failed")

    def call_status(self, call_id: str) -> CallStatus | None:
        call = self.routers.calls.get(call_id)
        return call.status if call else None
