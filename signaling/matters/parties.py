"""The two parties of a live session, as the session document tells them apart."""

from __future__ import annotations

from enum import StrEnum


class Party(StrEnum):
    """Who sent an op."""

    #: the caller (kiosk or enterprise page)
    CALLER = "caller"
    #: the agent of the session
    AGENT = "agent"
