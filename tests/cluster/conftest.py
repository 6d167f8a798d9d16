"""Fixtures of the cluster tests: throwaway ``redis-server`` processes of the test's own.

Without ``redis-server`` the tests skip on a developer's machine and FAIL in CI
(``CI=true``), where it must be installed (apt package ``redis-server``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from signaling.cluster.throwaway import RedisServer, RedisServerMissing
from tests.conftest import IN_CI

MakeRedis = Callable[..., RedisServer]


@pytest.fixture
def make_redis() -> Iterator[MakeRedis]:
    """Factory: ``make_redis(persistent=True)`` starts a ``redis-server`` on a free
    loopback port (``persistent``: append-only file, so a restart keeps the data)."""
    servers: list[RedisServer] = []

    def make(*, persistent: bool = False) -> RedisServer:
        try:
            server = RedisServer(persistent=persistent)
        except RedisServerMissing as exc:
            if IN_CI:
                pytest.fail(f"{exc}: CI must install it")
            pytest.skip(str(exc))
        servers.append(server)
        server.start()
        return server

    yield make
    for server in servers:
        server.close()


@pytest.fixture
def throwaway_redis(make_redis: MakeRedis) -> RedisServer:
    """A fresh ``redis-server`` on a free loopback port, no persistence; killed after."""
    return make_redis()
