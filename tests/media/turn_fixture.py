"""A real coturn for the TURN tests: fails (never skips) when CI=true and it is missing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from media.turnserver import LoopbackTurnServer, TurnServerMissing
from tests.conftest import IN_CI


def running_turn_server(*secrets: str,
                        in_database: bool = False) -> Iterator[LoopbackTurnServer]:
    """Start coturn with these shared secrets; skip locally, fail in CI, if absent."""
    server = LoopbackTurnServer(secrets=secrets or ("turn-test-secret",),
                                secrets_in_database=in_database)
    try:
        server.start()
    except TurnServerMissing as exc:
        if IN_CI:
            pytest.fail(f"{exc}: CI must apt-get install coturn")
        pytest.skip(str(exc))
    try:
        yield server
    finally:
        server.stop()
