"""Headless WebRTC callers and agents that speak the server's JSON WebSocket protocol.

They exist to prove a call end to end without a browser: a caller queues, an agent answers,
real media crosses an aiortc peer connection and each side measures when things happened.
The CLI prints their milestones as JSON lines; tests and benchmarks use the timings.

Signaling follows docs/protocol.md: the caller is always the SDP offerer and the agent the
answerer. aiortc gathers every ICE candidate before ``setLocalDescription`` returns, so the
SDP sent is complete and nothing is trickled; candidates trickled by the peer are applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError
from aiortc.sdp import candidate_from_sdp
from av import VideoFrame
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from kiosk_client.headless_forms import FormFiller
from kiosk_client.headless_recorder import RecorderCopy, Yuv420Track, wait_connected
from media.stamped import LatencyProbe, stamped_media_source
from media.synthetic import open_media_source

log = logging.getLogger(__name__)

EventCallback = Callable[[str, dict[str, Any]], None]

#: Seconds to wait for the server's ``ended`` after our own hangup.
ENDED_GRACE = 5.0
#: Seconds an agent lingers after its last call to finish wrap-up cleanly.
WRAP_UP_GRACE = 3.0
#: After a dropped socket: first pause, longest pause and total time spent reconnecting
#: (seconds); each pause is jittered by ×0.75–1.25 and doubles.
RECONNECT_FIRST_DELAY = 0.5
RECONNECT_MAX_DELAY = 5.0
RECONNECT_BUDGET = 30.0
#: Close codes the server sends on purpose (logged out, taken over by another socket,
#: replaced, authentication failed): as with the browser pages, no reconnect follows them.
FINAL_CLOSE_CODES = frozenset({1000, 4000, 4001, 4401})


class CallFailed(Exception):
    """The server refused or broke the call; ``code`` is the wire error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass
class CallTimings:
    """Milestones of one call in milliseconds from its start; None when not reached.

    A caller's clock starts when it presses the call button (just before the socket opens);
    an agent's when the offer arrives, so its ``ringing_ms`` is 0 and ``queued_ms`` None.
    """

    call_id: str | None = None
    queued_ms: float | None = None
    ringing_ms: float | None = None
    connected_ms: float | None = None
    first_remote_frame_ms: float | None = None
    frames_received: int = 0
    ended_reason: str | None = None
    #: glass-to-glass latency of the remote video (``LatencyProbe.summary``): present when
    #: the far side sends the stamped test pattern (a headless peer's default)
    glass_to_glass_ms: dict[str, float | int] | None = None


def format_timings(t: CallTimings) -> str:
    """One human-readable line per call."""

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.0f} ms"

    latency = t.glass_to_glass_ms
    glass = "-" if latency is None else (
        f"p50 {latency['p50']:.0f} ms, p95 {latency['p95']:.0f} ms, max {latency['max']:.0f} ms "
        f"over {latency['samples']} frames")
    return (
        f"call {t.call_id or '?'}: queued {ms(t.queued_ms)}, ringing {ms(t.ringing_ms)}, "
        f"connected {ms(t.connected_ms)}, first frame {ms(t.first_remote_frame_ms)}, "
        f"{t.frames_received} frames received, glass-to-glass {glass}, "
        f"ended: {t.ended_reason or '-'}"
    )


def server_list(server: str | Sequence[str]) -> list[str]:
    """Base URLs from ``--server``: one URL, a comma-separated list, or a sequence of them."""
    items = [server] if isinstance(server, str) else list(server)
    servers = [part.strip() for item in items for part in item.split(",") if part.strip()]
    if not servers:
        raise ValueError("give at least one server URL")
    return servers


def websocket_url(server: str, path: str) -> str:
    """``http(s)://host:port[/prefix]`` (or ``ws(s)://``) plus ``path`` as a WebSocket URL."""
    parts = urlsplit(server)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise ValueError(f"server must be an http(s):// or ws(s):// URL, not {server!r}")
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + path, "", ""))


def rtc_configuration(ice_servers: list[dict[str, Any]] | None,
                      ice_transport_policy: str | None = None) -> RTCConfiguration:
    """The server's RTCIceServer dicts and ICE transport policy as aiortc configuration.

    An empty list stays empty: aiortc would otherwise fall back to a public Google STUN
    server, which a closed government network cannot reach. ``relay`` (the server's
    ``ice_transport_policy`` in ``connected``) gathers only TURN candidates.
    """
    servers = []
    for entry in ice_servers or []:
        urls = entry.get("urls")
        if not urls:
            continue
        servers.append(RTCIceServer(urls=urls, username=entry.get("username"),
                                    credential=entry.get("credential")))
    policy = (RTCIceTransportPolicy.RELAY if ice_transport_policy == "relay"
              else RTCIceTransportPolicy.ALL)
    return RTCConfiguration(iceServers=servers, iceTransportPolicy=policy)


class _Signaling:
    """A JSON message channel over a WebSocket, with deadline-bounded receive.

    When the socket drops and ``resume_message`` gives a message (the call can be taken
    back), a new socket is opened on the next server of ``servers`` (then each in turn,
    with jittered backoff, for up to ``RECONNECT_BUDGET`` s) and that message is sent on it
    first; the caller of ``receive`` then sees the server's reply (``resumed``,
    ``authenticated``, an error) as the next messages. Otherwise ``ConnectionClosed``
    propagates as before.
    """

    def __init__(self, websocket: ClientConnection, servers: list[str], path: str,
                 emit: Callable[..., None]) -> None:
        self.websocket = websocket
        self.servers = servers
        self.path = path
        self.index = 0
        self.emit = emit
        self.resume_message: Callable[[], dict[str, Any] | None] = lambda: None
        self._recovering = asyncio.Lock()

    @property
    def server(self) -> str:
        """The base URL of the server the current socket is open to."""
        return self.servers[self.index]

    async def send(self, type_: str, **fields: Any) -> None:
        """Send; a message that met a dropped socket is sent again on the resumed one."""
        frame = json.dumps({"type": type_, **fields})
        while True:
            websocket = self.websocket
            try:
                await websocket.send(frame)
                return
            except ConnectionClosed as exc:
                await self._recover(websocket, exc)

    async def close(self) -> None:
        await self.websocket.close()

    async def _recover(self, broken: ClientConnection, exc: ConnectionClosed) -> None:
        """Reconnect and send the resume message, or re-raise ``exc`` when there is none."""
        async with self._recovering:
            if self.websocket is not broken:
                return  # another task has reconnected already
            code = exc.rcvd.code if exc.rcvd is not None else None
            message = self.resume_message()
            if message is None or code in FINAL_CLOSE_CODES:
                raise exc
            self.emit("reconnecting", server=self.server, code=code)
            while True:
                await self._reopen()
                try:
                    await self.websocket.send(json.dumps(message))
                    return
                except ConnectionClosed:
                    continue

    async def _reopen(self) -> None:
        loop = asyncio.get_running_loop()
        give_up = loop.time() + RECONNECT_BUDGET
        delay = RECONNECT_FIRST_DELAY
        while True:
            self.index = (self.index + 1) % len(self.servers)
            try:
                websocket = await _open(websocket_url(self.server, self.path),
                                        max(1.0, min(5.0, give_up - loop.time())))
            except CallFailed as failure:
                pause = delay * random.uniform(0.75, 1.25)
                if loop.time() + pause >= give_up:
                    raise CallFailed("connection_closed",
                                     f"no server reachable within {RECONNECT_BUDGET:g} s: "
                                     f"{failure.message}") from failure
                await asyncio.sleep(pause)
                delay = min(delay * 2, RECONNECT_MAX_DELAY)
                continue
            with contextlib.suppress(Exception):
                await self.websocket.close()
            self.websocket = websocket
            return

    async def receive(self, deadline: float) -> dict[str, Any] | None:
        """The next JSON object, or None once the loop time passes ``deadline``."""
        loop = asyncio.get_running_loop()
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            websocket = self.websocket
            try:
                async with asyncio.timeout(remaining):
                    raw = await websocket.recv()
            except TimeoutError:
                return None
            except ConnectionClosed as exc:
                await self._recover(websocket, exc)
                continue
            try:
                message = json.loads(raw)
            except ValueError:
                log.warning("ignoring a frame that is not JSON")
                continue
            if isinstance(message, dict) and isinstance(message.get("type"), str):
                return message
            log.warning("ignoring a JSON value without a type")


class _PeerSession:
    """One call's peer connection: local tracks out, remote tracks drained and counted."""

    def __init__(self, ice_servers: list[dict[str, Any]] | None, media: str | None,
                 label: str, on_first_frame: Callable[[], None],
                 ice_transport_policy: str | None = None) -> None:
        self.configuration = rtc_configuration(ice_servers, ice_transport_policy)
        self.pc = RTCPeerConnection(configuration=self.configuration)
        self.frames_received = 0
        self.latency = LatencyProbe()
        #: fans the tracks out to the recorder copy (headless_recorder) too
        self.relay = MediaRelay()
        self.local_by_kind: dict[str, MediaStreamTrack] = {}
        self.remote_by_kind: dict[str, MediaStreamTrack] = {}
        self.recorder: RecorderCopy | None = None
        self._on_first_frame = on_first_frame
        self._drains: set[asyncio.Task[None]] = set()
        self._early_candidates: list[dict[str, Any]] = []
        self.local_tracks: list[MediaStreamTrack] = []
        audio, video = (stamped_media_source(label) if media is None
                        else open_media_source(media, label=label))
        for kind, track in (("audio", audio), ("video", video)):
            if track is None:
                self.pc.addTransceiver(kind, direction="recvonly")
            else:
                if kind == "video":
                    track = Yuv420Track(track)
                self.pc.addTrack(self.relay.subscribe(track, buffered=False))
                self.local_tracks.append(track)
                self.local_by_kind[kind] = track
        self.pc.on("track", self._on_track)

    def _on_track(self, track: MediaStreamTrack) -> None:
        self.remote_by_kind[track.kind] = track
        task = asyncio.create_task(self._drain(self.relay.subscribe(track)),
                                   name=f"drain-{track.kind}")
        self._drains.add(task)
        task.add_done_callback(self._drains.discard)

    async def _drain(self, track: MediaStreamTrack) -> None:
        """Decode the remote track until it ends; video frames are counted and their
        stamps read."""
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                if isinstance(frame, VideoFrame):
                    self.latency.observe(frame)
                    self.frames_received += 1
                    if self.frames_received == 1:
                        self._on_first_frame()

    async def create_offer(self) -> dict[str, str]:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self._local_description()

    async def answer(self, offer: dict[str, Any]) -> dict[str, str]:
        await self._set_remote(offer)
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return self._local_description()

    async def apply_answer(self, answer: dict[str, Any]) -> None:
        await self._set_remote(answer)

    async def add_candidate(self, candidate: dict[str, Any] | None) -> None:
        """Apply a trickled candidate; those arriving before the remote SDP wait for it."""
        if candidate is None or not candidate.get("candidate"):
            return  # end-of-candidates: aiortc needs no signal
        if self.pc.remoteDescription is None:
            self._early_candidates.append(candidate)
            return
        text = candidate["candidate"].removeprefix("candidate:")
        ice = candidate_from_sdp(text)
        ice.sdpMid = candidate.get("sdpMid")
        ice.sdpMLineIndex = candidate.get("sdpMLineIndex")
        await self.pc.addIceCandidate(ice)

    async def _set_remote(self, description: dict[str, Any]) -> None:
        await self.pc.setRemoteDescription(
            RTCSessionDescription(sdp=description["sdp"], type=description["type"]))
        early, self._early_candidates = self._early_candidates, []
        for candidate in early:
            await self.add_candidate(candidate)

    def _local_description(self) -> dict[str, str]:
        description = self.pc.localDescription
        return {"type": description.type, "sdp": description.sdp}

    def start_recorder(self, call_id: str, send: Callable[..., Any]) -> None:
        """Once the call is connected, send its copy to the server's recorder."""
        async def attach() -> None:
            if not await wait_connected(self.pc):
                return
            self.recorder = RecorderCopy(call_id, send, self.configuration)
            await self.recorder.start(self.relay, self.remote_by_kind, self.local_by_kind)
        task = asyncio.create_task(attach(), name="recorder-copy")
        self._drains.add(task)
        task.add_done_callback(self._drains.discard)

    async def close(self) -> None:
        if self.recorder is not None:
            await self.recorder.close()
        for track in self.local_tracks:
            track.stop()
        await self.pc.close()
        for task in list(self._drains):
            task.cancel()
        await asyncio.gather(*self._drains, return_exceptions=True)


class _Clock:
    """Milliseconds since a start moment, on the event loop's monotonic clock."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.start = self.loop.time()

    def now(self) -> float:
        return self.loop.time()

    def ms(self) -> float:
        return (self.loop.time() - self.start) * 1000.0


def _emitter(on_event: EventCallback | None, role: str) -> Callable[..., None]:
    def emit(name: str, **fields: Any) -> None:
        if on_event is not None:
            on_event(name, {"role": role, **fields})

    return emit


async def _open(url: str, timeout: float) -> ClientConnection:
    """Open the socket, reporting an unreachable or refusing server as ``CallFailed``."""
    try:
        return await connect(url, open_timeout=timeout)
    except (OSError, TimeoutError, InvalidHandshake) as exc:
        raise CallFailed("connection_failed", f"cannot open {url}: {exc}") from exc


@contextlib.asynccontextmanager
async def _signaling(servers: list[str], path: str, timeout: float,
                     emit: Callable[..., None]) -> AsyncIterator[_Signaling]:
    """A signaling channel opened to the first server; closed on leaving."""
    signaling = _Signaling(await _open(websocket_url(servers[0], path), timeout),
                           servers, path, emit)
    try:
        yield signaling
    finally:
        signaling.resume_message = lambda: None
        await signaling.close()


def _raise_error(message: dict[str, Any]) -> None:
    raise CallFailed(str(message.get("code", "error")), str(message.get("message", "")))


async def place_call(
    server: str | Sequence[str],
    skill: str,
    *,
    kiosk_token: str | None = None,
    company: dict[str, str] | None = None,
    hold: float = 5.0,
    media: str | None = None,
    on_event: EventCallback | None = None,
    timeout: float = 60.0,
    form_values: dict[str, dict[str, Any]] | None = None,
    recording_consent: bool | None = True,
    callback_phone: str | None = None,
) -> CallTimings:
    """Call ``skill`` as a kiosk or enterprise caller, talk for ``hold`` s, and hang up.

    With ``form_values`` (matter code -> field -> value) the caller fills the forms the
    agent pushes, signs them and submits them (``headless_forms``).

    ``timeout`` bounds the wait from the call button to ``connected``; a caller that is
    never connected hangs up (leaves the queue) and raises ``CallFailed("timeout", ...)``.
    A ``callback_offer`` is ignored: a headless caller keeps waiting. Asked for recording
    consent, it answers ``recording_consent`` (None: fails with ``consent_required``); a
    refusal answered by a callback ends the call with ``ended_reason`` ``callback``.

    ``server`` may list several base URLs (comma-separated): the socket opens to the first;
    if it drops once the call is queued, the caller reconnects to the next ones in turn and
    resumes its call with its resume token, keeping its peer connection (``reconnecting``
    and ``resumed`` events). A resume refused (``invalid_resume_token``) raises as a
    dropped socket did before; a call that ended meanwhile ends with the server's reason.
    """
    if (kiosk_token is None) == (company is None):
        raise ValueError("give exactly one of kiosk_token and company")
    servers = server_list(server)
    emit = _emitter(on_event, "caller")
    clock = _Clock()
    timings = CallTimings()
    session: _PeerSession | None = None
    hangup_at: float | None = None
    ended_deadline: float | None = None
    finished = False
    resume_token: str | None = None

    def resume_message() -> dict[str, Any] | None:
        if resume_token is None or ended_deadline is not None or finished:
            return None  # nothing to resume yet, or hanging up anyway
        return {"type": "resume", "resume_token": resume_token, "restart_media": False}

    def first_frame() -> None:
        timings.first_remote_frame_ms = clock.ms()
        emit("first_remote_frame", call_id=timings.call_id, ms=timings.first_remote_frame_ms)

    who: dict[str, Any] = {"kiosk_token": kiosk_token} if kiosk_token else {"company": company}
    async with _signaling(servers, "/ws/caller", timeout, emit) as signaling:
        signaling.resume_message = resume_message
        filler = FormFiller("caller", form_values or {}, servers[0], signaling.send, emit) \
            if form_values is not None else None
        try:
            await signaling.send("call_request", skill=skill, **who)
            while True:
                if ended_deadline is not None:
                    deadline = ended_deadline
                elif hangup_at is not None:
                    deadline = hangup_at
                else:
                    deadline = clock.start + timeout
                message = await signaling.receive(deadline)
                if message is None:
                    if hangup_at is None:
                        raise CallFailed("timeout", f"not connected within {timeout:g} s")
                    if ended_deadline is None:
                        await signaling.send("hangup")
                        ended_deadline = clock.now() + ENDED_GRACE
                        continue
                    timings.ended_reason = "no_ended_from_server"
                    finished = True
                    break
                kind = message["type"]
                if filler is not None:
                    if kind == "error" and filler.handles_error(message):
                        continue
                    await filler.on_message(message)
                if kind == "queued":
                    timings.call_id = message.get("call_id")
                    resume_token = message.get("resume_token")
                    if filler is not None:
                        filler.call_id = timings.call_id
                        filler.credentials = {"X-Resume-Token": message["resume_token"]}
                    timings.queued_ms = clock.ms()
                    emit("queued", call_id=timings.call_id, ms=timings.queued_ms,
                         position=message.get("position"),
                         estimated_wait=message.get("estimated_wait"))
                elif kind == "recording_consent_required":
                    if recording_consent is None:
                        raise CallFailed("consent_required", "recording consent was asked")
                    emit("recording_consent", consent=recording_consent,
                         on_refusal=message.get("on_refusal"))
                    await signaling.send("call_request", skill=skill,
                                         recording_consent=recording_consent, **who,
                                         **({"callback_phone": callback_phone}
                                            if callback_phone else {}))
                elif kind == "callback_registered" and timings.call_id is None:
                    timings.call_id = message.get("call_id")
                    timings.ended_reason = "callback"
                    emit("callback_registered", call_id=timings.call_id,
                         reason=message.get("reason"))
                    finished = True
                    break
                elif kind == "recording_status":
                    emit("recording_status", call_id=message.get("call_id"),
                         state=message.get("state"), reason=message.get("reason"))
                elif kind == "ringing":
                    timings.ringing_ms = clock.ms()
                    emit("ringing", call_id=timings.call_id, ms=timings.ringing_ms)
                elif kind == "resumed":
                    emit("resumed", call_id=message.get("call_id"), server=signaling.server,
                         state=message.get("state"))
                    if filler is not None:
                        filler.server = signaling.server.rstrip("/")
                elif kind == "connected" and session is not None:
                    pass  # again after a resume: the peer connection and its media live on
                elif kind == "connected":
                    timings.call_id = message.get("call_id", timings.call_id)
                    timings.connected_ms = clock.ms()
                    emit("connected", call_id=timings.call_id, ms=timings.connected_ms,
                         peer=message.get("peer"),
                         ice_transport_policy=message.get("ice_transport_policy", "all"))
                    hangup_at = clock.now() + hold
                    session = _PeerSession(message.get("ice_servers"), media, "caller",
                                           first_frame, message.get("ice_transport_policy"))
                    offer = await session.create_offer()
                    await signaling.send("sdp", call_id=timings.call_id, description=offer)
                elif kind == "sdp" and session is not None:
                    description = message.get("description") or {}
                    if description.get("type") == "answer":
                        await session.apply_answer(description)
                elif kind == "ice" and session is not None:
                    await session.add_candidate(message.get("candidate"))
                elif kind == "ended":
                    timings.ended_reason = str(message.get("reason", "ended"))
                    finished = True
                    break
                elif kind == "error" and message.get("code") == "busy" \
                        and timings.call_id is None:
                    # Overloaded server: ask again after its (jittered) hint, as the pages do.
                    retry_ms = float(message.get("retry_after_ms") or 3000)
                    emit("busy", retry_after_ms=retry_ms)
                    await asyncio.sleep(retry_ms / 1000)
                    await signaling.send("call_request", skill=skill, **who)
                elif kind == "error":
                    _raise_error(message)
                # hello, position, requeued, callback_offer, peer_status, ...: keep waiting.
        except ConnectionClosed as exc:
            if ended_deadline is None:
                raise CallFailed("connection_closed", f"server closed the socket: {exc}") from exc
            timings.ended_reason = "closed_after_hangup"
            finished = True
        finally:
            if session is not None:
                timings.frames_received = session.frames_received
                timings.glass_to_glass_ms = session.latency.summary()
                await session.close()
            if not finished:
                # Leave the queue or the call now rather than after the resume grace.
                signaling.resume_message = lambda: None
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(1.0):
                        await signaling.send("hangup")
    emit("ended", call_id=timings.call_id, ms=clock.ms(), reason=timings.ended_reason,
         frames_received=timings.frames_received, glass_to_glass_ms=timings.glass_to_glass_ms)
    return timings


async def login(server: str, user: str, password: str, *, timeout: float = 10.0) -> str:
    """An agent session token from ``POST /api/login``, or ``CallFailed`` on refusal."""
    async with httpx.AsyncClient(timeout=timeout) as client:
        try:
            response = await client.post(f"{server.rstrip('/')}/api/login",
                                         json={"username": user, "password": password})
        except httpx.HTTPError as exc:
            raise CallFailed("login_failed", f"cannot reach {server}: {exc}") from exc
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200 or not isinstance(body, dict) or "token" not in body:
        body = body if isinstance(body, dict) else {}
        detail = body.get("message") or body.get("detail") or response.text
        raise CallFailed(str(body.get("code", "login_failed")),
                         f"HTTP {response.status_code}: {detail}")
    return str(body["token"])


@dataclass
class _AgentCall:
    """The call an agent is being offered or is in."""

    call_id: str
    clock: _Clock
    timings: CallTimings
    session: _PeerSession | None = None
    hangup_at: float | None = None
    ended_deadline: float | None = None


async def answer_calls(
    server: str | Sequence[str],
    user: str,
    password: str,
    *,
    auto_answer: bool = False,
    calls: int = 1,
    hold: float = 5.0,
    media: str | None = None,
    on_event: EventCallback | None = None,
    timeout: float = 60.0,
    push: tuple[str, ...] = (),
    form_values: dict[str, dict[str, Any]] | None = None,
) -> list[CallTimings]:
    """Log in as an agent, go ready, and answer ``calls`` calls of ``hold`` s each.

    In each call the agent pushes the forms of the ``push`` matters and fills the agent's
    fields from ``form_values`` (``headless_forms``).

    ``timeout`` bounds each wait for an offer and each ring; running out raises
    ``CallFailed("timeout", ...)``. Wrap-up is ended at once so the next call can come.

    ``server`` may list several base URLs (comma-separated): login and socket go to the
    first; if the socket drops, the agent reconnects to the next ones in turn and sends
    ``auth`` again (logging in again over HTTP there if the token is refused), keeping its
    peer connection (``reconnecting`` and ``resumed`` events). A call that ended meanwhile
    ends with reason ``ended_while_away``.
    """
    servers = server_list(server)
    token = await login(servers[0], user, password, timeout=min(timeout, 10.0))
    emit = _emitter(on_event, "agent")
    loop = asyncio.get_running_loop()
    completed: list[CallTimings] = []
    current: _AgentCall | None = None
    idle_deadline = loop.time() + timeout
    finish_deadline: float | None = None
    last_call_id: str | None = None
    wrapped_up: set[str | None] = set()
    #: after a reconnect, until ``authenticated``: whether the token was renewed already
    reauth: dict[str, bool] = {}

    def auth_message() -> dict[str, Any] | None:
        if finish_deadline is not None:
            return None  # the last call is over: leave as before
        reauth["renewed"] = False
        return {"type": "auth", "token": token}

    async with _signaling(servers, "/ws/agent", timeout, emit) as signaling:
        signaling.resume_message = auth_message
        filler: FormFiller | None = None
        try:
            await signaling.send("auth", token=token)
            while True:
                message = await signaling.receive(idle_deadline)
                if message is None:
                    raise CallFailed("timeout", f"not authenticated within {timeout:g} s")
                if message["type"] == "error":
                    _raise_error(message)
                if message["type"] == "authenticated":
                    reauth.clear()
                    break
            await signaling.send("set_auto_answer", enabled=auto_answer)
            await signaling.send("set_status", status="ready")
            idle_deadline = loop.time() + timeout

            while True:
                if finish_deadline is not None:
                    deadline = finish_deadline
                elif current is None:
                    deadline = idle_deadline
                elif current.ended_deadline is not None:
                    deadline = current.ended_deadline
                elif current.hangup_at is not None:
                    deadline = current.hangup_at
                else:
                    deadline = current.clock.start + timeout
                message = await signaling.receive(deadline)

                if message is None:
                    if finish_deadline is not None:
                        break
                    if current is None or current.hangup_at is None:
                        raise CallFailed("timeout", f"no call connected within {timeout:g} s")
                    if current.ended_deadline is None:
                        await signaling.send("hangup", call_id=current.call_id)
                        current.ended_deadline = loop.time() + ENDED_GRACE
                        continue
                    message = {"type": "ended", "call_id": current.call_id,
                               "reason": "no_ended_from_server"}

                if message["type"] == "authenticated" and "renewed" in reauth:
                    # Logged in again on a new socket: the server says which call we are in.
                    del reauth["renewed"]
                    emit("resumed", call_id=message.get("call_id"), server=signaling.server,
                         state=message.get("state"))
                    if filler is not None:
                        filler.server = signaling.server.rstrip("/")
                    if current is None and message.get("presence") != "ready":
                        await signaling.send("set_auto_answer", enabled=auto_answer)
                        await signaling.send("set_status", status="ready")
                    if current is None or message.get("call_id") == current.call_id:
                        continue
                    if current.session is None:  # its offer was cancelled when we dropped
                        current = None
                        idle_deadline = loop.time() + timeout
                        continue
                    message = {"type": "ended", "call_id": current.call_id,
                               "reason": "ended_while_away"}
                elif message["type"] == "error" and reauth.get("renewed") is False \
                        and message.get("code") == "invalid_token":
                    # The token is not good on this server: log in there and try once more.
                    reauth["renewed"] = True
                    token = await login(signaling.server, user, password,
                                        timeout=min(timeout, 10.0))
                    if filler is not None:
                        filler.credentials = {"Authorization": f"Bearer {token}"}
                    await signaling.send("auth", token=token)
                    continue

                kind = message["type"]
                call_id = message.get("call_id")
                if filler is not None and current is not None:
                    if kind == "error" and filler.handles_error(message):
                        continue
                    if call_id == current.call_id:
                        await filler.on_message(message)
                if kind == "offer" and current is None and call_id:
                    current = _AgentCall(str(call_id), _Clock(), CallTimings(call_id=call_id))
                    current.timings.ringing_ms = 0.0
                    emit("ringing", call_id=call_id, ms=0.0, skill=message.get("skill"),
                         label=message.get("label"), waited=message.get("waited"))
                    if not message.get("auto_answer", auto_answer):
                        await signaling.send("accept", call_id=call_id)
                elif kind == "offer_cancelled" and current and call_id == current.call_id:
                    if current.session is None:
                        current = None
                        idle_deadline = loop.time() + timeout
                elif kind == "connected" and current and call_id == current.call_id \
                        and current.session is not None:
                    pass  # again after a re-auth: the peer connection and its media live on
                elif kind == "connected" and current and call_id == current.call_id:
                    call = current
                    call.timings.connected_ms = call.clock.ms()
                    emit("connected", call_id=call_id, ms=call.timings.connected_ms,
                         peer=message.get("peer"),
                         ice_transport_policy=message.get("ice_transport_policy", "all"))
                    call.hangup_at = loop.time() + hold

                    def first_frame(call: _AgentCall = call) -> None:
                        call.timings.first_remote_frame_ms = call.clock.ms()
                        emit("first_remote_frame", call_id=call.call_id,
                             ms=call.timings.first_remote_frame_ms)

                    call.session = _PeerSession(message.get("ice_servers"), media, "agent",
                                                first_frame,
                                                message.get("ice_transport_policy"))
                    if (message.get("recording") or {}).get("consent") == "granted":
                        call.session.start_recorder(call.call_id, signaling.send)
                    if push or form_values:
                        filler = FormFiller("agent", form_values or {}, signaling.server,
                                            signaling.send, emit)
                        filler.call_id = call.call_id
                        filler.credentials = {"Authorization": f"Bearer {token}"}
                        for matter in push:
                            await signaling.send("push_form", call_id=call.call_id,
                                                 matter=matter)
                elif kind == "sdp" and current and current.session and call_id == current.call_id:
                    description = message.get("description") or {}
                    if description.get("type") == "offer":
                        answer = await current.session.answer(description)
                        await signaling.send("sdp", call_id=current.call_id, description=answer)
                elif kind == "ice" and current and current.session and call_id == current.call_id:
                    await current.session.add_candidate(message.get("candidate"))
                elif kind == "recorder_answer" and current and current.session \
                        and current.session.recorder and call_id == current.call_id:
                    await current.session.recorder.on_answer(message.get("description") or {})
                elif kind == "recording_status":
                    emit("recording_status", call_id=call_id, state=message.get("state"),
                         reason=message.get("reason"),
                         recording_id=message.get("recording_id"))
                elif kind == "error" and str(message.get("code", "")).startswith("record"):
                    # the recording's trouble, never the call's
                    emit("recording_error", code=message.get("code"),
                         message=message.get("message"))
                elif kind == "ended" and current and call_id == current.call_id:
                    call, current = current, None
                    call.timings.ended_reason = str(message.get("reason", "ended"))
                    if call.session is not None:
                        call.timings.frames_received = call.session.frames_received
                        call.timings.glass_to_glass_ms = call.session.latency.summary()
                        await call.session.close()
                        call.session = None
                    completed.append(call.timings)
                    last_call_id = call.call_id
                    emit("ended", call_id=call.call_id, ms=call.clock.ms(),
                         reason=call.timings.ended_reason,
                         frames_received=call.timings.frames_received,
                         glass_to_glass_ms=call.timings.glass_to_glass_ms)
                    idle_deadline = loop.time() + timeout
                    if len(completed) >= calls:
                        if call.call_id in wrapped_up:
                            break
                        finish_deadline = loop.time() + WRAP_UP_GRACE
                elif kind == "agent_state" and message.get("state") == "wrap_up":
                    wrap_call = message.get("call_id") or (
                        current.call_id if current else last_call_id)
                    if wrap_call not in wrapped_up:
                        # Wrap-up needs an outcome; a headless agent handled nothing.
                        await signaling.send("end_wrap_up", call_id=wrap_call,
                                             outcome="other")
                        wrapped_up.add(wrap_call)
                    if finish_deadline is not None:
                        break
                elif kind == "agent_state" and finish_deadline is not None and (
                        message.get("state") in ("ready", "not_ready")):
                    break
                elif kind == "error":
                    _raise_error(message)
                # hello, queue_snapshot, agent_state ready/busy/..., unknown types: ignored.
        except ConnectionClosed as exc:
            if finish_deadline is None:
                raise CallFailed("connection_closed", f"server closed the socket: {exc}") from exc
        finally:
            signaling.resume_message = lambda: None
            if current is not None and current.session is not None:
                await current.session.close()
                with contextlib.suppress(Exception):  # end the call, not just the socket
                    async with asyncio.timeout(1.0):
                        await signaling.send("hangup", call_id=current.call_id)
    return completed
