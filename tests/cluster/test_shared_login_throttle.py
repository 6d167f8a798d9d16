"""Failed logins are counted across the cluster (Redis INCR + PEXPIRE), not per node: an
address that spreads its guesses over two nodes is refused once the limit is reached on
either. Real ``redis-server`` and ``cloud-agent serve`` processes."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.cluster.nodes import cluster

#: the nodes share a throwaway PostgreSQL database (tests/cluster/nodes.py)
pytestmark = pytest.mark.postgres


async def test_failed_logins_on_two_nodes_add_up(tmp_path: Path) -> None:
    async with cluster(tmp_path, ["a", "b"], login_max_failures="3") as (_, (a, b)):
        wrong = {"username": "demo-agent-1", "password": "not-the-password"}
        async with httpx.AsyncClient() as client:
            codes = [(await client.post(f"{node.http}/api/login", json=wrong)).status_code
                     for node in (a, b, a)]
            assert codes == [401, 401, 401]
            # Three failures in all, none three on one node: both nodes now refuse.
            for node in (b, a):
                refused = await client.post(f"{node.http}/api/login", json=wrong)
                assert refused.status_code == 429, refused.text
                assert refused.json()["code"] == "too_many_attempts"
                assert int(refused.headers["Retry-After"]) > 0
            # Even the right password waits: the pair is blocked everywhere.
            right = await client.post(f"{b.http}/api/login",
                                      json={"username": "demo-agent-1", "password": "demo"})
            assert right.status_code == 429
            # Another user from the same address is not blocked (pair limit only).
            other = await client.post(f"{b.http}/api/login",
                                      json={"username": "demo-agent-2", "password": "demo"})
            assert other.status_code == 200
