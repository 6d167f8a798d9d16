"""Persistence of records (accounts, kiosks, catalog, call records, callbacks, audit).

Never the live queue: that is the routing engine's, driven by ``signaling.hub``.
"""

from __future__ import annotations

from signaling.store.database import Database
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
    "CatalogRepository",
    "Database",
    "InviteRepository",
    "InviteUnusable",
    "KioskRepository",
]
