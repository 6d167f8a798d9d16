"""Tables of consented recording: the caller's answer per call, the recordings themselves,
and the per-kiosk recording policy. A module of its own, on the store's ``Base`` (the
package ``__init__`` imports it, so every user of the metadata sees these tables)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Float, String
from sqlalchemy.orm import Mapped, mapped_column

from signaling.store.models import Base


class RecordingState(StrEnum):
    """Life of one recording file; only ``RecordingRepository`` moves it."""

    #: the recorder is writing
    RECORDING = "recording"
    #: finished normally at the end of the call; the file is complete
    COMPLETE = "complete"
    #: the recorder failed or was killed; whatever was written is kept (may be cut short)
    FAILED = "failed"


class RecordingConsent(Base):
    """The consent prompt's outcome for one call (linked from the call record by id)."""

    __tablename__ = "recording_consents"

    call_id: Mapped[str] = mapped_column(String, primary_key=True)
    #: the policy that applied (``RecordingPolicy``) and the places that demanded it
    policy: Mapped[str] = mapped_column(String)
    sources: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: ``granted`` or ``refused``
    consent: Mapped[str] = mapped_column(String)
    #: what followed a refusal: ``continue`` (unrecorded) or ``callback``; null if granted
    on_refusal: Mapped[str | None] = mapped_column(String)
    language: Mapped[str] = mapped_column(String)
    at: Mapped[float] = mapped_column(Float)


class Recording(Base):
    """One recorded file of a call (a call whose recorder failed and was restarted has
    several), under ``<data_dir>/recordings``."""

    __tablename__ = "recordings"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    call_id: Mapped[str] = mapped_column(String, index=True)
    agent_id: Mapped[str] = mapped_column(String)
    #: path relative to the recordings folder
    path: Mapped[str] = mapped_column(String)
    #: a ``RecordingState``
    state: Mapped[str] = mapped_column(String)
    started_at: Mapped[float] = mapped_column(Float, index=True)
    ended_at: Mapped[float | None] = mapped_column(Float)
    duration_s: Mapped[float | None] = mapped_column(Float)
    bytes: Mapped[int | None] = mapped_column()
    #: why it failed (``recorder_exited``, ``peer_connection_failed``, ...)
    failure: Mapped[str | None] = mapped_column(String)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class KioskRecordingPolicy(Base):
    """A kiosk's own recording policy (``RecordingPolicy``); no row means ``none``."""

    __tablename__ = "kiosk_recording_policies"

    kiosk_id: Mapped[str] = mapped_column(String, primary_key=True)
    policy: Mapped[str] = mapped_column(String)
    updated_at: Mapped[float] = mapped_column(Float)
    updated_by: Mapped[str] = mapped_column(String)
