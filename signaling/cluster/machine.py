"""What a partition log drives, and the interface both logs offer.

State-machine replication: every node applies the same entries, in the same order, with
the same ``now`` to its own replica, so every replica is the same. ``PartitionLog``
(Redis) and ``MemoryLog`` (one process) both implement ``EntryLog``, so the hub runs one
code path with or without a cluster.
"""

from __future__ import annotations

from typing import Any, Protocol


class LogUnavailable(Exception):
    """The log cannot take an entry now (Redis is down or this node is resyncing).

    The entry was not appended; the caller answers its client ``service_unavailable``.
    """


class StateMachine(Protocol):
    """The replicated state a log drives (the hub's live state implements it)."""

    def apply(self, entry: dict[str, Any], now: float, *, deliver: bool) -> None:
        """Apply one entry at ``now``, the same on every node. ``deliver`` is False while
        replaying (at start and after a resync): change state, send nothing. Must not
        raise for an entry it refuses; an exception is logged and the log goes on."""

    def snapshot(self) -> dict[str, Any]:
        """The whole state as JSON-ready data."""

    def restore(self, state: dict[str, Any]) -> None:
        """Replace the whole state with a ``snapshot()`` (possibly another node's)."""

    def next_deadline(self) -> float | None:
        """When a ``Tick`` entry is next needed (engine time); None when never."""


class EntryLog(Protocol):
    """One partition's ordered log of entries (``PartitionLog`` or ``MemoryLog``)."""

    @property
    def is_leader(self) -> bool:
        """Whether this node holds the partition's lease (its single-writer duties)."""

    async def start(self) -> None:
        """Load and replay the state, then follow the log and take part in the lease."""

    async def append(self, entry: dict[str, Any]) -> str:
        """Append ``entry``; its stream id. Raises LogUnavailable when it cannot."""

    async def applied(self, entry_id: str) -> None:
        """Return once the entry ``entry_id`` (and all before it) is applied here."""

    def now(self) -> float:
        """This node's best estimate of the log's clock (engine time), for reading
        state between entries, e.g. a queue's longest wait on the wallboard."""

    async def stop(self) -> None:
        """Stop following and give up the lease."""


StreamId = tuple[int, int]


def parse_id(entry_id: str | bytes) -> StreamId:
    """A Redis stream id ``"<ms>-<seq>"`` as a comparable pair."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def format_id(entry_id: StreamId) -> str:
    return f"{entry_id[0]}-{entry_id[1]}"


def id_time(entry_id: StreamId) -> float:
    """The ``now`` of an entry: its id's milliseconds (Redis's clock), in seconds."""
    return entry_id[0] / 1000.0
