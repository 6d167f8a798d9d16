"""The outbox worker: delivers the ``outbox`` table's rows to the departments' webhooks.

The rows are the truth. A row is marked delivered only after a 2xx answer, so a crash
between the POST and the mark delivers it again (at least once; receivers dedupe by the
``X-CloudAgent-Event`` id), and a restart simply carries on with the rows left. Each
department gets its rows one at a time in the order they were created: a row waiting for a
retry holds back the department's later rows, never another department's.

Every failed attempt (no endpoint, a network error, a timeout, any non-2xx status) is
counted with its ``last_error`` and retried after :func:`backoff` seconds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from signaling.store.case_repositories import DepartmentEndpointRepository, OutboxRepository
from signaling.store.database import Database
from signaling.store.models import OutboxEntry

from .signing import EVENT_HEADER, SIGNATURE_HEADER, sign

log = logging.getLogger(__name__)

#: longest sleep between looks at the table: the worker sleeps until the earliest due retry
#: or until woken (a new row, a delivery done); this safety poll only catches rows added
#: by another process (``cloud-agent admin``, another node)
POLL_INTERVAL = 30.0
#: seconds a department's system has to answer one delivery
DELIVERY_TIMEOUT = 10.0
#: first retry delay; doubled after each failed attempt
FIRST_BACKOFF = 1.0
#: longest retry delay (seconds)
MAX_BACKOFF = 300.0
#: each delay is scaled by a random factor in 1 ± JITTER, so retries of many rows spread out
JITTER = 0.2
#: characters of a failed answer's body kept in ``last_error``
ERROR_BODY = 300


def backoff(failed_attempts: int, rng: Callable[[], float] = random.random) -> float:
    """Seconds to wait after the ``failed_attempts``-th failure in a row (1, 2, 4 … capped
    at :data:`MAX_BACKOFF`, each jittered by ±20 %)."""
    base = FIRST_BACKOFF * 2.0 ** min(max(failed_attempts - 1, 0), 30)
    return min(MAX_BACKOFF, base * (1.0 + JITTER * (2.0 * rng() - 1.0)))


def payload_body(payload: dict[str, Any]) -> bytes:
    """The bytes that are signed and sent: compact JSON, UTF-8, non-ASCII kept."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


class OutboxWorker:
    """One per server (started and stopped by the hub). :meth:`wake` makes it look at the
    table at once, e.g. right after the case side added a row."""

    def __init__(self, db: Database, *, poll_interval: float = POLL_INTERVAL,
                 timeout: float = DELIVERY_TIMEOUT,
                 clock: Callable[[], float] = time.time,
                 rng: Callable[[], float] = random.random) -> None:
        self.db = db
        self.outbox = OutboxRepository(db)
        self.endpoints = DepartmentEndpointRepository(db)
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.clock = clock
        self.rng = rng
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None
        #: department -> its delivery in progress
        self._in_flight: dict[str, asyncio.Task[None]] = {}

    def wake(self) -> None:
        """Look for due rows now instead of at the next poll."""
        self._wake.set()

    async def start(self) -> None:
        # httpx logs every request URL at INFO; a department URL may carry a secret.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        if self._loop_task is not None:
            return
        self._client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False,
                                         headers={"User-Agent": "cloud-agent-outbox"})
        self._loop_task = asyncio.create_task(self._run(), name="outbox-worker")

    async def stop(self) -> None:
        """Stop polling and abandon deliveries in flight (their rows stay undelivered and
        are sent again by the next start)."""
        tasks = [t for t in (self._loop_task, *self._in_flight.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._loop_task = None
        self._in_flight.clear()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            sleep = self.poll_interval
            try:
                next_due = await self.dispatch_due()
                if next_due is not None:
                    sleep = min(sleep, max(0.0, next_due - self.clock()))
            except Exception:
                log.exception("outbox: could not read the due rows; trying again")
                sleep = min(sleep, 1.0)
            try:
                await asyncio.wait_for(self._wake.wait(), sleep)
            except TimeoutError:
                pass

    async def dispatch_due(self) -> float | None:
        """Start a delivery for each department whose oldest undelivered row is due and
        that has no delivery in flight; return when the earliest head not yet due is due
        (``None``: no such row; a delivery in flight wakes the worker when it is done)."""
        now = self.clock()
        next_due: float | None = None
        for row in await department_heads(self.db, None):
            if row.department in self._in_flight:
                continue
            if row.next_attempt_at > now:
                next_due = row.next_attempt_at if next_due is None \
                    else min(next_due, row.next_attempt_at)
                continue
            task = asyncio.create_task(self._deliver(row), name=f"outbox-{row.event_id}")
            self._in_flight[row.department] = task
            task.add_done_callback(self._finished)
        return next_due

    def _finished(self, task: asyncio.Task[None]) -> None:
        for department, running in list(self._in_flight.items()):
            if running is task:
                del self._in_flight[department]
        self.wake()  # the department's next row may be due already

    async def _deliver(self, row: OutboxEntry) -> None:
        try:
            error = await self._post(row)
            if error is None:
                await self.outbox.delivered(row.id, self.clock())
                log.info("outbox: %s %s delivered to %s (attempt %d)", row.kind, row.event_id,
                         row.department, row.attempts + 1)
                return
            delay = backoff(row.attempts + 1, self.rng)
            await self.outbox.failed(row.id, error, self.clock() + delay)
            log.warning("outbox: %s %s to %s failed (attempt %d): %s; next try in %.1f s",
                        row.kind, row.event_id, row.department, row.attempts + 1, error,
                        delay)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("outbox: delivery of %s failed unexpectedly", row.event_id)

    async def _post(self, row: OutboxEntry) -> str | None:
        """One attempt; ``None`` on a 2xx answer, else what went wrong."""
        endpoint = await self.endpoints.get(row.department)
        if endpoint is None or not endpoint.enabled:
            return f"no enabled webhook for department {row.department}"
        assert self._client is not None
        body = payload_body(row.payload)
        headers = {"Content-Type": "application/json; charset=utf-8",
                   SIGNATURE_HEADER: sign(endpoint.secret, body, self.clock()),
                   EVENT_HEADER: row.event_id}
        try:
            response = await self._client.post(endpoint.webhook_url, content=body,
                                                headers=headers)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}".rstrip(": ")
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}: {response.text[:ERROR_BODY]}"


async def department_heads(db: Database, now: float | None) -> list[OutboxEntry]:
    """Each department's oldest undelivered row, if it is due (``next_attempt_at <= now``;
    ``now=None``: due or not)."""
    earlier = aliased(OutboxEntry)
    oldest = (select(func.min(earlier.id))
              .where(earlier.department == OutboxEntry.department,
                     earlier.delivered_at.is_(None))
              .scalar_subquery())
    query = (select(OutboxEntry)
             .where(OutboxEntry.delivered_at.is_(None), OutboxEntry.id == oldest)
             .order_by(OutboxEntry.id))
    if now is not None:
        query = query.where(OutboxEntry.next_attempt_at <= now)
    async with db.session() as session:
        return list(await session.scalars(query))
