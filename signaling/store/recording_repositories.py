"""Consent answers, recordings and per-kiosk recording policies (``recording_models``)."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, select, update

from signaling.store.database import Database
from signaling.store.recording_models import (
    KioskRecordingPolicy,
    Recording,
    RecordingConsent,
    RecordingState,
)


class RecordingRepository:
    """Rows of the recording tables; the files are the recording side's business."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # ---------------------------------------------------------------- consent

    async def save_consent(self, *, call_id: str, policy: str, sources: Iterable[str],
                           consent: str, on_refusal: str | None, language: str,
                           at: float) -> None:
        async with self._db.session() as session, session.begin():
            session.add(RecordingConsent(call_id=call_id, policy=policy, sources=list(sources),
                                         consent=consent, on_refusal=on_refusal,
                                         language=language, at=at))

    async def consent_for(self, call_id: str) -> RecordingConsent | None:
        async with self._db.session() as session:
            return await session.get(RecordingConsent, call_id)

    # ---------------------------------------------------------------- recordings

    async def start(self, *, call_id: str, agent_id: str, path: str, now: float,
                    recording_id: str | None = None) -> Recording:
        recording = Recording(id=recording_id or f"r-{secrets.token_hex(8)}", call_id=call_id,
                              agent_id=agent_id, path=path,
                              state=RecordingState.RECORDING.value, started_at=now, detail={})
        async with self._db.session() as session, session.begin():
            session.add(recording)
        return recording

    async def finish(self, recording_id: str, *, state: RecordingState, now: float,
                     duration_s: float | None = None, size: int | None = None,
                     failure: str | None = None, detail: dict[str, Any] | None = None
                     ) -> bool:
        """Close a recording that is still ``recording``; ``False`` if it was closed."""
        async with self._db.session() as session, session.begin():
            result = await session.execute(
                update(Recording)
                .where((Recording.id == recording_id)
                       & (Recording.state == RecordingState.RECORDING.value))
                .values(state=state.value, ended_at=now, duration_s=duration_s, bytes=size,
                        failure=failure, detail=detail or {})
                .execution_options(synchronize_session=False))
        return bool(getattr(result, "rowcount", 0))

    async def get(self, recording_id: str) -> Recording | None:
        async with self._db.session() as session:
            return await session.get(Recording, recording_id)

    async def for_call(self, call_id: str) -> list[Recording]:
        async with self._db.session() as session:
            rows = await session.scalars(select(Recording).where(Recording.call_id == call_id)
                                         .order_by(Recording.started_at))
            return list(rows)

    async def recent(self, limit: int = 100) -> list[Recording]:
        """The newest recordings first."""
        async with self._db.session() as session:
            rows = await session.scalars(select(Recording)
                                         .order_by(Recording.started_at.desc()).limit(limit))
            return list(rows)

    async def fail_unfinished(self, *, now: float, reason: str,
                              path_prefix: str = "") -> list[Recording]:
        """Mark recordings left ``recording`` by a previous run as failed (only those whose
        path starts with ``path_prefix``: one node's, in a cluster); returns them."""
        async with self._db.session() as session, session.begin():
            rows = list(await session.scalars(select(Recording).where(
                (Recording.state == RecordingState.RECORDING.value)
                & Recording.path.startswith(path_prefix, autoescape=True))))
            for row in rows:
                row.state, row.ended_at, row.failure = RecordingState.FAILED.value, now, reason
        return rows

    async def older_than(self, before: float, limit: int = 500,
                         path_prefix: str = "") -> list[Recording]:
        """Finished recordings that started before ``before`` (for the retention purge),
        whose path starts with ``path_prefix`` (one node's, in a cluster)."""
        async with self._db.session() as session:
            rows = await session.scalars(
                select(Recording)
                .where((Recording.started_at < before)
                       & (Recording.state != RecordingState.RECORDING.value)
                       & Recording.path.startswith(path_prefix, autoescape=True))
                .order_by(Recording.started_at).limit(limit))
            return list(rows)

    async def delete(self, recording_ids: Iterable[str]) -> int:
        ids = list(recording_ids)
        if not ids:
            return 0
        async with self._db.session() as session, session.begin():
            result = await session.execute(delete(Recording).where(Recording.id.in_(ids)))
        return int(getattr(result, "rowcount", 0))

    # ---------------------------------------------------------------- kiosk policies

    async def kiosk_policies(self) -> dict[str, str]:
        async with self._db.session() as session:
            rows = await session.scalars(select(KioskRecordingPolicy))
            return {row.kiosk_id: row.policy for row in rows}

    async def set_kiosk_policy(self, kiosk_id: str, policy: str, *, by: str,
                               now: float) -> None:
        """Set a kiosk's policy; ``none`` removes its row."""
        async with self._db.session() as session, session.begin():
            row = await session.get(KioskRecordingPolicy, kiosk_id)
            if policy == "none":
                if row is not None:
                    await session.delete(row)
                return
            if row is None:
                session.add(KioskRecordingPolicy(kiosk_id=kiosk_id, policy=policy,
                                                 updated_at=now, updated_by=by))
            else:
                row.policy, row.updated_at, row.updated_by = policy, now, by
