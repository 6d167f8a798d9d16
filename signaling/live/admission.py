"""Admission of new call requests: shed load with ``busy`` rather than queue what the server
cannot finish (issue 9).

A call request that is queued costs the server work for minutes (offer, session, relay,
records); one refused with ``busy`` and a retry hint costs one reply. So when the server is
behind, new requests are refused early and cheaply, and calls already queued keep their
promise. The signals, each measured, none guessed:

- **event-loop lag**: how late a timer fires. Every frame waits at least this long before
  it is read, so it is the server's own queueing delay. The reading is the smallest of the
  last few samples: a lone pause (a garbage collection, the host taking the CPU away for a
  moment) sheds nothing, a loop that stays behind sheds within a few samples.
- **call-record backlog**: record writes asked for and not yet done. Past the limit, more
  calls would only lengthen the queue of writes the store cannot keep up with.
- **identifications under way**: call requests waiting for the store to say who is calling
  (invite links; kiosks and companies are decided in memory, ``directory.py``).
- **other store writes under way**: session drafts not yet saved (``draft_writer``, on a
  connection of its own: past the limit the database is not keeping up) and the hub's
  background writes (invite uses given back, preferences) waiting for the shared
  connection pool, which past the limit is about to time them out.

Pure like the routing engine: the readings are passed in.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from enum import StrEnum

#: how often the event-loop lag is sampled (seconds). 5 Hz: an idle server wakes 5 times a
#: second for it, not 20 (issue 9's idle CPU). Shedding reacts as fast as it did at 20 Hz
#: with 3 samples: a loop that stays behind by L is seen after LAG_SAMPLES * (interval + L),
#: 2 * (0.2 + 0.5) = 1.4 s at the default 0.5 s limit (it was 3 * (0.05 + 0.5) = 1.65 s).
LAG_SAMPLE_INTERVAL = 0.2
#: samples in a row that must all be late for the loop to count as behind. A pause delays
#: one sample only (the next one starts after it), so 2 still ignore any lone pause.
LAG_SAMPLES = 2


class Overload(StrEnum):
    """Why a call request was refused with ``busy``."""

    #: the event loop runs late: frames already wait before they are read
    LOOP_LAG = "loop_lag"
    #: too many call-record writes are waiting
    RECORD_BACKLOG = "record_backlog"
    #: too many call requests wait for the store to identify the caller
    IDENTIFYING = "identifying"
    #: too many other store writes wait for the connection pool
    STORE_BACKLOG = "store_backlog"


class Admission:
    """Decides, from the server's load readings, whether a new call may be queued."""

    def __init__(self, *, max_loop_lag: float, max_record_backlog: int,
                 max_identifying: int, retry_after_ms: int, max_store_backlog: int = 500,
                 rng: random.Random | None = None) -> None:
        self.max_loop_lag = max_loop_lag
        self.max_record_backlog = max_record_backlog
        self.max_identifying = max_identifying
        self.max_store_backlog = max_store_backlog
        self.retry_after_ms_mean = retry_after_ms
        self._rng = rng or random.Random()
        self._lags: deque[float] = deque([0.0] * LAG_SAMPLES, maxlen=LAG_SAMPLES)
        #: call requests being identified right now
        self.identifying = 0
        #: requests refused so far, by reason (for /metrics)
        self.refused: dict[Overload, int] = {reason: 0 for reason in Overload}

    def observe_loop_lag(self, lag: float) -> None:
        """One lag sample (seconds)."""
        self._lags.append(lag)

    def loop_lag(self) -> float:
        """The lag reading: the smallest of the last ``LAG_SAMPLES`` samples (seconds)."""
        return min(self._lags)

    def refusal(self, record_backlog: int, store_backlog: int = 0) -> Overload | None:
        """Why a new call request must be refused now, or ``None`` to admit it (and count
        the refusal)."""
        reason: Overload | None = None
        if self.loop_lag() > self.max_loop_lag:
            reason = Overload.LOOP_LAG
        elif record_backlog > self.max_record_backlog:
            reason = Overload.RECORD_BACKLOG
        elif self.identifying >= self.max_identifying:
            reason = Overload.IDENTIFYING
        elif store_backlog > self.max_store_backlog:
            reason = Overload.STORE_BACKLOG
        if reason is not None:
            self.refused[reason] += 1
        return reason

    def retry_after_ms(self) -> int:
        """The hint sent with ``busy``: the mean, jittered by ±50 % so that refused
        callers do not all come back at the same moment."""
        return int(self.retry_after_ms_mean * self._rng.uniform(0.5, 1.5))


async def watch_loop_lag(admission: Admission,
                         interval: float = LAG_SAMPLE_INTERVAL) -> None:
    """Sample the event loop's lag every ``interval`` seconds until cancelled."""
    loop = asyncio.get_running_loop()
    while True:
        expected = loop.time() + interval
        await asyncio.sleep(interval)
        admission.observe_loop_lag(max(0.0, loop.time() - expected))
