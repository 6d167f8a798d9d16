"""The waiting calls of each queue, in service order, without the ringing ones.

Derived state, like ``agent_index.py``: it follows from the calls' own fields and can be
rebuilt from them (``WaitingIndex.build``). A queue in ``Engine.queues()`` also holds its
ringing calls, which keep their place in case the offer fails; dispatch and the published
positions only care about the calls that are waiting, so they read these lines instead
and never step over the ringing ones (there can be as many as there are agents).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Iterator

from .model import Call, CallStatus

OrderKey = tuple[int, float, int]
"""``Call.order_key``: higher priority first, then arrival, then the engine's sequence."""
QueueKey = tuple[str, str]


class WaitingLine:
    """One queue's waiting calls in service order."""

    __slots__ = ("keys", "_calls")

    def __init__(self) -> None:
        self.keys: list[OrderKey] = []
        self._calls: list[Call] = []  # in step with ``keys``

    def __len__(self) -> int:
        return len(self.keys)

    def __iter__(self) -> Iterator[Call]:
        return iter(self._calls)

    def calls_from(self, start: int) -> list[Call]:
        """Calls from place ``start`` (0-based) on."""
        return self._calls[start:]

    def call_at(self, index: int) -> Call:
        return self._calls[index]

    def add(self, key: OrderKey, call: Call) -> int:
        """File ``call`` under ``key``; its place in the line."""
        index = bisect_left(self.keys, key)
        self.keys.insert(index, key)
        self._calls.insert(index, call)
        return index

    def remove(self, key: OrderKey) -> int:
        """Take the call filed under ``key`` out; the place it had."""
        index = self.index_of(key)
        del self.keys[index]
        del self._calls[index]
        return index

    def index_of(self, key: OrderKey) -> int:
        index = bisect_left(self.keys, key)
        if index == len(self.keys) or self.keys[index] != key:
            raise KeyError(key)
        return index

    def next_priority(self, index: int) -> int:
        """The first place after ``index`` holding a call of a lower priority."""
        return bisect_left(self.keys, (self.keys[index][0] + 1, -math.inf, -1), lo=index)


class WaitingIndex:
    """Waiting calls per queue key; a call is filed while its status is WAITING."""

    def __init__(self) -> None:
        self._filed: dict[str, tuple[QueueKey, OrderKey]] = {}
        self._lines: dict[QueueKey, WaitingLine] = {}

    @classmethod
    def build(cls, calls: Iterable[Call]) -> WaitingIndex:
        index = cls()
        for call in calls:
            index.update(call)
        return index

    def update(self, call: Call) -> int | None:
        """File or unfile ``call`` after a change; the place in its line that changed
        (None when nothing did)."""
        filed = self._filed.get(call.id)
        if call.status is CallStatus.WAITING:
            if filed is not None:
                return None
            key = call.order_key
            line = self._lines.get(call.queue_key)
            if line is None:
                line = self._lines[call.queue_key] = WaitingLine()
            self._filed[call.id] = (call.queue_key, key)
            return line.add(key, call)
        if filed is None:
            return None
        del self._filed[call.id]
        queue_key, key = filed
        line = self._lines[queue_key]
        index = line.remove(key)
        if not line:
            del self._lines[queue_key]
        return index

    def lines(self) -> Iterator[tuple[QueueKey, WaitingLine]]:
        """Every queue with a waiting call, with its line."""
        return iter(self._lines.items())

    def line(self, queue_key: QueueKey) -> WaitingLine | None:
        return self._lines.get(queue_key)

    def index_of(self, call: Call) -> int | None:
        """The waiting call's place (0-based) in its line; None if it is not waiting."""
        filed = self._filed.get(call.id)
        return None if filed is None else self._lines[filed[0]].index_of(filed[1])

    def problems(self, calls: Iterable[Call]) -> list[str]:
        """How this index differs from one rebuilt from ``calls``; empty when in step."""
        fresh = WaitingIndex.build(calls)
        found: list[str] = []
        if self._filed != fresh._filed:
            wrong = sorted(self._filed.keys() ^ fresh._filed.keys()) or sorted(
                c for c in self._filed if self._filed[c] != fresh._filed[c])
            found.append(f"waiting-call index out of step with the calls at {wrong[:5]}")
        mine = {key: line.keys for key, line in self._lines.items()}
        if mine != {key: line.keys for key, line in fresh._lines.items()}:
            found.append("waiting lines out of step with the calls")
        return found
