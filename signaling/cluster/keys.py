"""Every Redis key and script of the partition log, in one place (STYLE.md, arq).

``ns`` is ``"ca"`` plus the optional ``settings.redis_namespace``, so tests can share a
Redis. Per partition ``p``:

- ``{ns}:log:{p}``   STREAM  the log. Fields ``n`` (the entry's number: 1, 2, 3, ...
                             within an epoch, no gaps, so a reader sees a trimmed-away
                             entry as a gap) and ``e`` (the entry as JSON). The id's
                             milliseconds are the entry's ``now``.
- ``{ns}:seq:{p}``   STRING  the last ``n`` handed out (INCR, in the append script).
- ``{ns}:epoch:{p}`` STRING  a random id of the log's current life. Set once with the
                             first snapshot; gone after Redis lost its data, when the
                             first node back seeds a new epoch from its replica.
                             Appends name the epoch they expect and fail otherwise.
- ``{ns}:snap:{p}``  HASH    the last snapshot: ``id`` (last stream id in it), ``n``,
                             ``epoch``, ``v`` (codec version), ``state`` (JSON).
- ``{ns}:lease:{p}`` STRING  the leader's node id, ``PX`` lease_ms.

Keys must not be evicted (``maxmemory-policy noeviction``, docs/operations.md).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PartitionKeys:
    """The keys of one partition's log."""

    stream: str
    seq: str
    epoch: str
    snapshot: str
    lease: str

    @classmethod
    def of(cls, ns: str, partition: str) -> PartitionKeys:
        return cls(stream=f"{ns}:log:{partition}", seq=f"{ns}:seq:{partition}",
                   epoch=f"{ns}:epoch:{partition}", snapshot=f"{ns}:snap:{partition}",
                   lease=f"{ns}:lease:{partition}")


APPEND = """
-- KEYS: stream, seq, epoch   ARGV: expected epoch, entry JSON
if redis.call('GET', KEYS[3]) ~= ARGV[1] then
  return redis.error_reply('EPOCH the log was re-seeded; resync first')
end
local n = redis.call('INCR', KEYS[2])
return redis.call('XADD', KEYS[1], '*', 'n', n, 'e', ARGV[2])
"""
"""Append with the next entry number, atomically, only within the expected epoch."""

SEED = """
-- KEYS: epoch, stream, seq, snapshot   ARGV: new epoch, snapshot state JSON, codec version
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
redis.call('HSET', KEYS[4], 'id', '0-0', 'n', 0, 'epoch', ARGV[1], 'v', ARGV[3],
           'state', ARGV[2])
redis.call('SET', KEYS[1], ARGV[1])
return 1
"""
"""Start a new epoch from a node's replica, unless another node already did."""

SNAPSHOT = """
-- KEYS: lease, snapshot, stream, epoch
-- ARGV: node id, epoch, n, last id, codec version, state JSON
if redis.call('GET', KEYS[1]) ~= ARGV[1] or redis.call('GET', KEYS[4]) ~= ARGV[2] then
  return 0
end
if tonumber(redis.call('HGET', KEYS[2], 'n') or '-1') >= tonumber(ARGV[3]) then
  return 0
end
local previous = redis.call('HGET', KEYS[2], 'id')
redis.call('HSET', KEYS[2], 'id', ARGV[4], 'n', ARGV[3], 'epoch', ARGV[2], 'v', ARGV[5],
           'state', ARGV[6])
if previous then
  redis.call('XTRIM', KEYS[3], 'MINID', previous)
end
return 1
"""
"""Store a newer snapshot (leader only) and trim the log below the one before it: a
reader up to one snapshot interval behind still finds its next entry."""

LEASE = """
-- KEYS: lease   ARGV: node id, lease ms
-- Returns {-1, seconds, microseconds} when this node holds the lease (taken with
-- SET NX PX, or renewed by compare-and-pexpire), else {pttl of the holder's lease, ...}.
local t = redis.call('TIME')
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {-1, t[1], t[2]}
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {-1, t[1], t[2]}
end
return {redis.call('PTTL', KEYS[1]), t[1], t[2]}
"""
"""Take or renew the lease; Redis's TIME rides along for the clock estimate."""

RELEASE = """
-- KEYS: lease   ARGV: node id
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
"""Give up the lease on clean shutdown (compare-and-delete)."""
