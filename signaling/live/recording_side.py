"""The recording side of the hub: consent before a call is queued, and the recorders.

Consent: a call request is checked against the recording policy (``recording_policy``);
when recording is demanded and the request carries no answer, the caller is asked
(``recording_consent_required``) and nothing is queued until it asks again with one. A
refusal where the policy says ``callback`` registers a callback instead of a live call.

Recorders: once the call is connected, the agent's console sends a copy of the call on a
second peer connection (``recorder_offer``); each copy is answered by a worker process
(``media.recorder``) of its own. Nothing here is awaited by the call's own paths: a
recorder that fails to start, crashes or is killed is logged, its row marked ``failed``,
the agent told (``recording_status`` ``failed``), and the call goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import protocol as p
from ..store import RecordingRepository
from ..store.recording_models import RecordingState
from .connection import Connection
from .recording_policy import Consent, RecordingDecision, RecordingPolicy, decide
from .sessions import CallerInfo, HubError

if TYPE_CHECKING:
    from .callers import Caller
    from .hub import Hub

log = logging.getLogger(__name__)

#: seconds the worker has to start and answer the offer
ANSWER_TIMEOUT = 20.0
#: seconds a stopped worker has to finish its file before it is killed
STOP_TIMEOUT = 10.0
#: seconds between re-reads of the kiosks' policies (another process may change them)
POLICY_REFRESH = 10.0
#: seconds between retention purges
PURGE_INTERVAL = 3600.0


@dataclass
class CallRecording:
    """What was decided for one call: the policy and the caller's answer."""

    decision: RecordingDecision
    consent: Consent | None

    def replicated(self) -> dict[str, str] | None:
        """What the other nodes need (``CallerInfo.recording``): None if nothing was asked."""
        if self.consent is None:
            return None
        return {"policy": self.decision.policy.value, "consent": self.consent.value}


@dataclass
class Recorder:
    """One running worker process and its row."""

    recording_id: str
    call_id: str
    agent_id: str
    path: Path
    process: asyncio.subprocess.Process
    state: str = "starting"
    result: dict[str, Any] | None = None


class RecordingSide:
    """Consent decisions, recorder workers, and the retention purge."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.recordings = RecordingRepository(hub.db)
        self.folder = Path(hub.settings.data_dir) / "recordings"
        self.calls: dict[str, CallRecording] = {}
        self.recorders: dict[str, Recorder] = {}  # call id -> its current recorder
        self.kiosk_policies: dict[str, RecordingPolicy] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop_task: asyncio.Task[None] | None = None

    @property
    def node_folder(self) -> str:
        """In a cluster each node records under a folder of its own name (``b/2026-…/``),
        so nodes can share one recordings folder and each fails only its own leftovers."""
        return f"{self.hub.node_id}/" if self.hub.settings.redis_url else ""

    # ---------------------------------------------------------------- life cycle

    async def start(self) -> None:
        await self.refresh_policies()
        failed = await self.recordings.fail_unfinished(now=time.time(), reason="server_restart",
                                                       path_prefix=self.node_folder)
        if failed:
            log.warning("%d recording(s) cut off by the previous run marked failed",
                        len(failed))
        self._loop_task = asyncio.create_task(self._housekeeping())

    async def stop(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
        for call_id in list(self.recorders):
            self.call_ended(call_id)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def refresh_policies(self) -> None:
        self.kiosk_policies = {kiosk: RecordingPolicy(policy) for kiosk, policy
                               in (await self.recordings.kiosk_policies()).items()}

    async def _housekeeping(self) -> None:
        last_purge: float | None = None  # purge once at start, then every interval
        while True:
            try:
                await self.refresh_policies()
                if last_purge is None or time.monotonic() - last_purge >= PURGE_INTERVAL:
                    last_purge = time.monotonic()
                    await self.purge(time.time())
            except Exception:
                log.exception("recording housekeeping failed")
            await asyncio.sleep(POLICY_REFRESH)

    # ---------------------------------------------------------------- consent

    def decision_for(self, skill: str, kiosk_id: str | None) -> RecordingDecision:
        """The recording policy of a call to ``skill`` (a category) from ``kiosk_id``."""
        forms = self.hub.matter_side.forms
        matters = [] if forms is None else [
            (m.code, RecordingPolicy(m.recording)) for m in forms.catalog.matters.values()
            if m.category == skill and m.recording != "none"]
        kiosk = None if kiosk_id is None else self.kiosk_policies.get(
            kiosk_id, RecordingPolicy.NONE)
        return decide(RecordingPolicy(self.hub.settings.recording_policy), kiosk, matters)

    async def admit(self, conn: Connection, caller: Caller,
                    message: p.CallRequest) -> CallRecording | None:
        """What recording the new call gets; None when the request stops here (the caller
        is being asked, or got a callback instead of a live call)."""
        decision = self.decision_for(caller.skill, caller.kiosk_id)
        if not decision.asks_consent:
            return CallRecording(decision, None)
        if message.recording_consent is None:
            conn.send(p.outbound("recording_consent_required", skill=caller.skill,
                                 policy=decision.policy.value,
                                 on_refusal=decision.on_refusal))
            return None
        if message.recording_consent:
            return CallRecording(decision, Consent.GRANTED)
        if decision.on_refusal == "continue":
            return CallRecording(decision, Consent.REFUSED)
        if message.callback_phone is None:
            raise HubError("callback_phone_required", "this matter is served with recording "
                           "only; give callback_phone to be called back instead")
        await self._callback_instead(conn, caller, message, decision)
        return None

    async def _callback_instead(self, conn: Connection, caller: Caller,
                                message: p.CallRequest, decision: RecordingDecision) -> None:
        """Consent refused where that means a callback: no call is queued; the number is
        put on the callback list under a fresh call id (``ended`` never follows)."""
        call_id = "c" + secrets.token_hex(8)
        info = CallerInfo(call_id, caller.skill, caller.origin, caller.label,
                          caller.partition, resume_token="", kiosk_id=caller.kiosk_id,
                          company=caller.company, language=message.language,
                          identity=caller.identity)
        caller_side = self.hub.caller_side
        async with caller_side._callback_lock:  # the callback limits count every request
            callback_id, duplicate = await caller_side._register_callback(
                conn, info, message.callback_phone or "")
        await self._save_consent(call_id, caller, message.language,
                                 CallRecording(decision, Consent.REFUSED))
        conn.send(p.outbound("callback_registered", call_id=call_id, callback_id=callback_id,
                             duplicate=duplicate, reason="recording_refused"))

    def queued(self, call_id: str, caller: Caller, language: str,
               recording: CallRecording) -> None:
        """Remember the decision for the queued call and store the caller's answer."""
        self.calls[call_id] = recording
        if recording.consent is not None:
            self.hub.background_task(self._save_consent(call_id, caller, language, recording))

    async def _save_consent(self, call_id: str, caller: Caller, language: str,
                            recording: CallRecording) -> None:
        assert recording.consent is not None
        decision = recording.decision
        on_refusal = None if recording.consent is Consent.GRANTED else decision.on_refusal
        now = time.time()
        await self.recordings.save_consent(
            call_id=call_id, policy=decision.policy.value, sources=decision.sources,
            consent=recording.consent.value, on_refusal=on_refusal, language=language, at=now)
        await self.hub.audit_log.append(caller.identity, "recording_consent", {
            "call": call_id, "consent": recording.consent.value,
            "policy": decision.policy.value, "sources": list(decision.sources),
            "on_refusal": on_refusal}, now)

    def recording_of(self, call_id: str) -> dict[str, str] | None:
        """The call's policy and consent (None: nothing was asked), on any node: the
        caller's node decided it, and it travels with the replicated call, so the agent's
        node (which runs the recorder) knows it too."""
        info = self.hub.callers.get(call_id)
        if info is not None and info.recording is not None:
            return info.recording
        recording = self.calls.get(call_id)  # decided here, the call not yet applied
        return None if recording is None else recording.replicated()

    def connected_field(self, call_id: str) -> dict[str, Any] | None:
        """``connected.recording``: the policy and consent (None: nothing was asked)."""
        recording = self.recording_of(call_id)
        if recording is None:
            return None
        recorder = self.recorders.get(call_id)
        return {"policy": recording["policy"], "consent": recording["consent"],
                "state": recorder.state if recorder is not None else None}

    # ---------------------------------------------------------------- recorders

    async def recorder_offer(self, conn: Connection, agent_id: str,
                             message: p.RecorderOffer) -> None:
        """Start a worker for the agent's copy of its own consented call."""
        session = self.hub.sessions.get(message.call_id)
        if session is None or session.agent_id != agent_id:
            raise HubError("not_in_session", "you are not a party of this session")
        recording = self.recording_of(message.call_id)
        if recording is None or recording["consent"] != Consent.GRANTED.value:
            raise HubError("recording_not_consented", "this call is not to be recorded")
        current = self.recorders.get(message.call_id)
        if current is not None and current.state in ("starting", "recording"):
            raise HubError("recorder_busy", "this call is already being recorded")
        task = asyncio.create_task(self._run(message.call_id, agent_id,
                                             message.description.sdp,
                                             session.ice_servers.get("agent", [])))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _status(self, recorder: Recorder, state: str, **fields: Any) -> None:
        recorder.state = state
        message = p.outbound("recording_status", call_id=recorder.call_id,
                             recording_id=recorder.recording_id, state=state, **fields)
        if recorder.call_id in self.hub.sessions:
            self.hub.to_agent(recorder.agent_id, message)
            self.hub.to_caller(recorder.call_id, message)

    async def _run(self, call_id: str, agent_id: str, sdp: str,
                   ice_servers: list[dict[str, Any]]) -> None:
        """One recorder from offer to file: never raises (its failures are the recording's,
        not the call's)."""
        recording_id = f"r-{secrets.token_hex(8)}"
        day = time.strftime("%Y-%m-%d", time.gmtime())
        relative = f"{self.node_folder}{day}/{call_id}-{recording_id}.webm"
        path = self.folder / relative
        settings = self.hub.settings
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "media.recorder", "--output", str(path),
                "--fps", str(settings.recording_fps),
                "--panel-height", str(settings.recording_panel_height),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        except Exception as exc:
            log.exception("recorder for call %s could not start", call_id)
            self.hub.to_agent(agent_id, p.outbound(
                "recording_status", call_id=call_id, recording_id=None, state="failed",
                reason="recorder_unavailable", message=str(exc)[:200]))
            return
        recorder = Recorder(recording_id, call_id, agent_id, path, process)
        self.recorders[call_id] = recorder
        try:
            await self.recordings.start(call_id=call_id, agent_id=agent_id, path=relative,
                                        now=time.time(), recording_id=recording_id)
            self._status(recorder, "starting")
            await self._send(recorder, {"type": "offer", "sdp": sdp,
                                        "ice_servers": ice_servers})
            answer = await asyncio.wait_for(self._next(recorder), ANSWER_TIMEOUT)
            if answer is None or answer.get("type") != "answer":
                raise RecorderFailed((answer or {}).get("reason", "recorder_exited"))
            self.hub.to_agent(agent_id, p.outbound(
                "recorder_answer", call_id=call_id,
                description={"type": "answer", "sdp": answer["sdp"]}))
            while (line := await self._next(recorder)) is not None:
                kind = line.get("type")
                if kind == "recording":
                    self._status(recorder, "recording")
                    await self.hub.audit_log.append(agent_id, "recording_started", {
                        "call": call_id, "recording": recording_id})
                elif kind in ("finished", "failed"):
                    recorder.result = line
            await process.wait()
            result = recorder.result
            if result is None:
                raise RecorderFailed("recorder_exited", returncode=process.returncode)
            if result["type"] == "failed":
                raise RecorderFailed(str(result.get("reason", "failed")), **result)
            await self.recordings.finish(
                recording_id, state=RecordingState.COMPLETE, now=time.time(),
                duration_s=result.get("duration_s"), size=result.get("bytes"),
                detail={"frames": result.get("frames_by_slot", {})})
            self._status(recorder, "stopped", duration_s=result.get("duration_s"))
        except (RecorderFailed, TimeoutError, OSError, ValueError) as exc:
            reason = exc.reason if isinstance(exc, RecorderFailed) else (
                "answer_timeout" if isinstance(exc, TimeoutError) else "recorder_error")
            detail = exc.detail if isinstance(exc, RecorderFailed) else {"error": str(exc)}
            await self._failed(recorder, reason, detail)
        except Exception as exc:  # the recording fails, never the call
            log.exception("recorder of call %s broke", call_id)
            await self._failed(recorder, "recorder_error", {"error": str(exc)[:200]})
        finally:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
            if self.recorders.get(call_id) is recorder and call_id not in self.hub.sessions:
                del self.recorders[call_id]

    async def _failed(self, recorder: Recorder, reason: str, detail: dict[str, Any]) -> None:
        log.error("recording %s of call %s failed: %s %s", recorder.recording_id,
                  recorder.call_id, reason, detail)
        size = recorder.path.stat().st_size if recorder.path.exists() else None
        duration = detail.get("duration_s")
        with contextlib.suppress(Exception):
            await self.recordings.finish(recorder.recording_id, state=RecordingState.FAILED,
                                         now=time.time(), duration_s=duration, size=size,
                                         failure=reason, detail={
                                             k: v for k, v in detail.items()
                                             if isinstance(v, (int, float, str))})
            await self.hub.audit_log.append(recorder.agent_id, "recording_failed", {
                "call": recorder.call_id, "recording": recorder.recording_id,
                "reason": reason})
        self._status(recorder, "failed", reason=reason)

    async def _send(self, recorder: Recorder, message: dict[str, Any]) -> None:
        stdin = recorder.process.stdin
        assert stdin is not None
        stdin.write((json.dumps(message) + "\n").encode())
        await stdin.drain()

    async def _next(self, recorder: Recorder) -> dict[str, Any] | None:
        stdout = recorder.process.stdout
        assert stdout is not None
        while True:
            raw = await stdout.readline()
            if not raw:
                return None
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            if isinstance(line, dict):
                return line

    def call_ended(self, call_id: str) -> None:
        """The call is over: its recorder finishes its file (in the background)."""
        self.calls.pop(call_id, None)
        recorder = self.recorders.pop(call_id, None)
        if recorder is None or recorder.process.returncode is not None:
            return
        task = asyncio.create_task(self._stop(recorder))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _stop(self, recorder: Recorder) -> None:
        with contextlib.suppress(Exception):
            await self._send(recorder, {"type": "stop"})
        try:
            await asyncio.wait_for(recorder.process.wait(), STOP_TIMEOUT)
        except TimeoutError:
            log.error("recorder of call %s did not stop; killed", recorder.call_id)
            with contextlib.suppress(ProcessLookupError):
                recorder.process.kill()

    # ---------------------------------------------------------------- retention

    def file_of(self, relative: str) -> Path | None:
        """The file of a recording row, if it is inside the recordings folder and exists."""
        path = (self.folder / relative).resolve()
        if not path.is_relative_to(self.folder.resolve()) or not path.is_file():
            return None
        return path

    async def purge(self, now: float) -> int:
        """Delete recordings (files, then rows) older than the retention; returns how many.
        In a cluster each node purges the recordings it made (another node may not see
        their files, and a row must not go while its file stays)."""
        before = now - self.hub.settings.recording_retention_days * 86400.0
        purged = 0
        while rows := await self.recordings.older_than(before, path_prefix=self.node_folder):
            for row in rows:
                path = self.file_of(row.path)
                if path is not None:
                    path.unlink(missing_ok=True)
            deleted = await self.recordings.delete(row.id for row in rows)
            purged += deleted
            if not deleted:
                break
        if purged:
            await self.hub.audit_log.append("system", "recordings_purged", {
                "count": purged, "before": before}, now)
            log.info("retention purge removed %d recording(s)", purged)
        return purged


class RecorderFailed(Exception):
    """The worker said it failed, or went away; ``reason`` goes to the agent."""

    def __init__(self, reason: str, **detail: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail
