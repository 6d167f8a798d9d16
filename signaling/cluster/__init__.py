"""The cluster path (issue 10): one replicated log per partition on a Redis Stream.

- ``codec``: routing events and actions, and log entries, as explicit JSON.
- ``machine``: what a log drives (``StateMachine``), the log interface both logs share,
  ``LogUnavailable``, stream ids.
- ``log``: ``PartitionLog`` on Redis (append, follow, Redis-time clock, lease, leader
  ticks, snapshots and trimming, resync after an outage).
- ``memory``: ``MemoryLog``, the same interface in one process (single-node runs).
- ``keys``: every Redis key and script of the log, named in one place.
- ``throwaway``: a throwaway ``redis-server`` for tests and benchmarks.
"""
