"""Persistence of records (accounts, kiosks, catalog, call records, callbacks, audit,
materials, submissions, session drafts).

Never the live queue: that is the routing engine's, driven by ``signaling.live.hub``.
"""

from __future__ import annotations

from signaling.store.database import Database
from signaling.store.matter_repositories import (
    CatalogFileRepository,
    DraftRepository,
    MaterialRepository,
    SubmissionRepository,
)
from signaling.store.recording_repositories import RecordingRepository
from signaling.store.repositories import (
    AccountExists,
    AccountRepository,
    AuditRepository,
    CallbackRepository,
    CallRepository,
    CatalogRepository,
    InviteRepository,
    InviteUnusable,
    KioskRepository,
)

__all__ = [
    "AccountExists",
    "AccountRepository",
    "AuditRepository",
    "CallRepository",
    "CallbackRepository",
    "CatalogFileRepository",
    "CatalogRepository",
    "Database",
    "DraftRepository",
    "InviteRepository",
    "InviteUnusable",
    "KioskRepository",
    "MaterialRepository",
    "RecordingRepository",
    "SubmissionRepository",
]
