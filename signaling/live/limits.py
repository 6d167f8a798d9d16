"""Abuse limits: one client must not harm the others.

Pure and I/O-free like the routing engine (time is passed in): which network address may
open another socket, and whose call request would exceed the live-call limits. The hub
and the WebSocket transport ask and report; the numbers come from the settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .ratelimit import TokenBucket


class LimitScope(StrEnum):
    """What a refused call request counted against (the ``scope`` of ``too_many_calls``)."""

    #: live calls from one network address
    ADDRESS = "address"
    #: live calls for one unified social credit code
    COMPANY = "company"
    #: a kiosk holds one live call at a time
    KIOSK = "kiosk"


@dataclass(frozen=True)
class CallOwner:
    """Who a live call counts against."""

    address: str
    company: str | None = None
    kiosk_id: str | None = None


class LiveCallLimits:
    """Counts live calls (waiting, ringing or in session) per address, company and kiosk.

    Kiosks are provisioned devices: they are limited to one live call each and do not
    count against their address (a town hall's kiosks share one NAT address).
    """

    def __init__(self, per_address: int, per_company: int) -> None:
        self.per_address = per_address
        self.per_company = per_company
        self._owners: dict[str, CallOwner] = {}
        self._by_address: dict[str, int] = {}
        self._by_company: dict[str, int] = {}
        self._by_kiosk: dict[str, str] = {}

    def refusal(self, owner: CallOwner) -> LimitScope | None:
        """The limit a new call of ``owner`` would break, or None if it may be queued."""
        if owner.kiosk_id is not None:
            return LimitScope.KIOSK if owner.kiosk_id in self._by_kiosk else None
        if self._by_address.get(owner.address, 0) >= self.per_address:
            return LimitScope.ADDRESS
        if owner.company is not None and \
                self._by_company.get(owner.company, 0) >= self.per_company:
            return LimitScope.COMPANY
        return None

    def kiosk_call(self, kiosk_id: str) -> str | None:
        """The live call of a kiosk, if it has one."""
        return self._by_kiosk.get(kiosk_id)

    def add(self, call_id: str, owner: CallOwner) -> None:
        if call_id in self._owners:
            raise ValueError(f"call {call_id} is already counted")
        self._owners[call_id] = owner
        if owner.kiosk_id is not None:
            self._by_kiosk[owner.kiosk_id] = call_id
            return
        self._by_address[owner.address] = self._by_address.get(owner.address, 0) + 1
        if owner.company is not None:
            self._by_company[owner.company] = self._by_company.get(owner.company, 0) + 1

    def remove(self, call_id: str) -> None:
        """The call ended (or never made it into the queue); unknown ids are ignored."""
        owner = self._owners.pop(call_id, None)
        if owner is None:
            return
        if owner.kiosk_id is not None:
            if self._by_kiosk.get(owner.kiosk_id) == call_id:
                del self._by_kiosk[owner.kiosk_id]
            return
        _decrement(self._by_address, owner.address)
        if owner.company is not None:
            _decrement(self._by_company, owner.company)

    def __len__(self) -> int:
        return len(self._owners)

    def owners(self) -> dict[str, CallOwner]:
        """Every live call and whom it counts against (a snapshot of the limits)."""
        return dict(self._owners)

    def clear(self) -> None:
        self._owners.clear()
        self._by_address.clear()
        self._by_company.clear()
        self._by_kiosk.clear()


def _decrement(counts: dict[str, int], key: str) -> None:
    left = counts.get(key, 0) - 1
    if left > 0:
        counts[key] = left
    else:
        counts.pop(key, None)


class SocketLimits:
    """New sockets per address per minute (both endpoints) and open caller sockets per address.

    Buckets of addresses that have been quiet long enough to refill are dropped, so memory
    stays bounded by the addresses active in the last minute.
    """

    def __init__(self, per_minute: int, max_open_callers: int) -> None:
        self.per_minute = per_minute
        self.max_open_callers = max_open_callers
        self._buckets: dict[str, TokenBucket] = {}
        self._open_callers: dict[str, int] = {}
        self._admitted = 0

    def admit(self, address: str, caller: bool, now: float) -> bool:
        """Whether ``address`` may open another socket now; if so, it is counted."""
        if caller and self._open_callers.get(address, 0) >= self.max_open_callers:
            return False
        bucket = self._buckets.get(address)
        if bucket is None:
            bucket = self._buckets[address] = TokenBucket(self.per_minute / 60.0,
                                                           self.per_minute, now)
        if not bucket.allow(now):
            return False
        if caller:
            self._open_callers[address] = self._open_callers.get(address, 0) + 1
        self._admitted += 1
        if self._admitted % 1024 == 0:
            self._prune(now)
        return True

    def closed(self, address: str, caller: bool) -> None:
        """An admitted socket closed."""
        if caller:
            _decrement(self._open_callers, address)

    def _prune(self, now: float) -> None:
        full = 60.0  # a bucket refills completely within a minute
        for address in [a for a, b in self._buckets.items() if now - b.updated > full]:
            del self._buckets[address]


class LookupLimit:
    """At most ``per_minute`` look-ups from one address in any 60 seconds (time passed in)."""

    WINDOW = 60.0

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._times: dict[str, list[float]] = {}

    def allow(self, address: str, now: float) -> float:
        """0 when this look-up may go ahead (and is counted), else seconds to wait."""
        if len(self._times) > 10_000:
            self._times = {a: t for a, t in self._times.items() if now - t[-1] < self.WINDOW}
        times = [t for t in self._times.get(address, []) if now - t < self.WINDOW]
        if len(times) >= self.per_minute:
            self._times[address] = times
            return times[0] + self.WINDOW - now
        times.append(now)
        self._times[address] = times
        return 0.0
