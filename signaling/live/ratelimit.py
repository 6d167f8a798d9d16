"""Per-connection token bucket, so one noisy socket cannot starve the others, and the
login throttle, so that password guessing stays slow."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from ..settings import Settings

_K = TypeVar("_K")


class TokenBucket:
    """Allows ``burst`` messages at once and ``rate`` per second sustained."""

    def __init__(self, rate: float, burst: int, now: float) -> None:
        if rate <= 0 or burst <= 0:
            raise ValueError("rate and burst must be positive")
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.updated = now

    def allow(self, now: float) -> bool:
        """Take one token if there is one."""
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def take(self, amount: float, now: float) -> float:
        """Spend ``amount`` tokens (bytes, say), going into debt if need be; returns the
        seconds until the bucket is out of debt (0 = within budget). A reader that waits
        that long before its next read holds the sender to ``rate`` through TCP."""
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        self.tokens -= amount
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate


class LoginThrottle:
    """Refuses logins after repeated failures, for a while: per (username, address), and per
    address whatever the usernames.

    The pair limit slows guessing one agent's password and keeps an attacker from locking
    that agent out from another address; the address limit stops one address from trying
    random usernames, each of which costs a full argon2 hash. Time is passed in.
    """

    def __init__(self, max_failures: int = 5, window: float = 300.0,
                 max_failures_per_address: int = 30) -> None:
        self.max_failures = max_failures
        self.max_failures_per_address = max_failures_per_address
        self.window = window
        self._failures: dict[tuple[str, str], list[float]] = {}
        self._by_address: dict[str, list[float]] = {}
        self._next_sweep = 0.0

    @classmethod
    def from_settings(cls, settings: Settings) -> LoginThrottle:
        return cls(settings.login_max_failures, settings.login_failure_window,
                   settings.login_max_failures_per_address)

    def _recent(self, table: dict[_K, list[float]], key: _K, now: float) -> list[float]:
        times = [t for t in table.get(key, []) if now - t < self.window]
        if times:
            table[key] = times
        else:
            table.pop(key, None)
        return times

    def _wait(self, times: list[float], limit: int, now: float) -> float:
        if len(times) < limit:
            return 0.0
        return max(0.0, times[-limit] + self.window - now)

    def blocked_for(self, username: str, address: str, now: float) -> float:
        """Seconds until another attempt is allowed (0 = allowed now)."""
        pair = self._recent(self._failures, (username, address), now)
        by_address = self._recent(self._by_address, address, now)
        return max(self._wait(pair, self.max_failures, now),
                   self._wait(by_address, self.max_failures_per_address, now))

    def failed(self, username: str, address: str, now: float) -> None:
        self._sweep(now)
        self._recent(self._failures, (username, address), now)
        self._failures.setdefault((username, address), []).append(now)
        self._recent(self._by_address, address, now)
        self._by_address.setdefault(address, []).append(now)

    def succeeded(self, username: str, address: str) -> None:
        """Clear the pair's count; the address keeps its count, or one valid account would
        let its holder reset the limit for guessing others."""
        self._failures.pop((username, address), None)

    def _sweep(self, now: float) -> None:
        """Forget expired failures of every key once per window, so that random usernames,
        each tried once, do not pile up in memory."""
        if now < self._next_sweep:
            return
        self._next_sweep = now + self.window
        for pair in list(self._failures):
            self._recent(self._failures, pair, now)
        for address in list(self._by_address):
            self._recent(self._by_address, address, now)

    def tracked(self) -> int:
        """How many (username, address) pairs are remembered."""
        return len(self._failures)
