"""Per-connection token bucket, so one noisy socket cannot starve the others."""

from __future__ import annotations


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


class LoginThrottle:
    """Refuses logins for a (username, address) after repeated failures, for a while.

    Password guessing against argon2 is slow already; this makes it slower still and
    keeps one attacker from locking a real agent out from another address.
    """

    def __init__(self, max_failures: int = 5, window: float = 300.0) -> None:
        self.max_failures = max_failures
        self.window = window
        self._failures: dict[tuple[str, str], list[float]] = {}

    def _recent(self, key: tuple[str, str], now: float) -> list[float]:
        times = [t for t in self._failures.get(key, []) if now - t < self.window]
        if times:
            self._failures[key] = times
        else:
            self._failures.pop(key, None)
        return times

    def blocked_for(self, username: str, address: str, now: float) -> float:
        """Seconds until another attempt is allowed (0 = allowed now)."""
        times = self._recent((username, address), now)
        if len(times) < self.max_failures:
            return 0.0
        return max(0.0, times[0] + self.window - now)

    def failed(self, username: str, address: str, now: float) -> None:
        self._recent((username, address), now)
        self._failures.setdefault((username, address), []).append(now)

    def succeeded(self, username: str, address: str) -> None:
        self._failures.pop((username, address), None)
