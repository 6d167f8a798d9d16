"""``cloud-agent webhook-sim``: a department's system in miniature, for tests and demos.

It receives the server's webhook deliveries (``POST`` on any path) and behaves like a
careful receiver: it verifies ``X-CloudAgent-Signature`` (401 ``bad_signature`` if wrong or
stale), dedupes by ``X-CloudAgent-Event``, answers 500 to the first ``--fail-first N``
deliveries (to show the server's retries), then 200; for each new ``task.created`` it waits
``--delay`` seconds and POSTs its ``--decision`` to the payload's ``callback_url``, signed
with the same secret (retrying that a few times if the server is down). ``GET /deliveries``
lists the event ids received, with counts. What it does is printed as JSON lines.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass
from typing import Any, TextIO

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..outbox.signing import EVENT_HEADER, SIGNATURE_HEADER, SignatureError, sign, verify

DECISIONS = ("approve", "reject", "correction")
#: reasons given when none is on the command line (reject and correction need one)
DEFAULT_REASONS = {"reject": "材料不符合要求（模拟部门）/ Materials do not qualify (simulated)",
                   "correction": "请补正材料（模拟部门）/ Please correct the materials "
                                 "(simulated)"}
#: seconds between the tries of a callback the server did not take (then it gives up)
CALLBACK_RETRIES = (1.0, 2.0, 4.0, 8.0, 16.0)


@dataclass
class Received:
    """What happened to one event id."""

    event_id: str
    type: str | None
    task_id: str | None
    #: deliveries with a good signature (every retry counts)
    received: int = 0
    #: of those, answered 500 (``--fail-first``)
    failed: int = 0
    #: answered 200 as new: 0 or 1
    accepted: int = 0
    #: answered 200 as an event already accepted
    duplicates: int = 0
    #: HTTP status of our decision callback, once sent
    callback_status: int | None = None


class Receiver:
    """The receiving end; :meth:`app` serves it. ``out`` gets one JSON object per line."""

    def __init__(self, secret: str, *, decision: str = "approve", reason: str | None = None,
                 delay: float = 2.0, fail_first: int = 0, out: TextIO = sys.stdout,
                 clock: Callable[[], float] = time.time) -> None:
        if decision not in DECISIONS:
            raise ValueError(f"decision must be one of {DECISIONS}")
        self.secret = secret
        self.decision = decision
        self.reason = reason if reason is not None else DEFAULT_REASONS.get(decision)
        self.delay = delay
        self.fail_first = fail_first
        self.out = out
        self.clock = clock
        self.events: dict[str, Received] = {}
        self.deliveries = 0
        self.refused = 0
        self._client: httpx.AsyncClient | None = None
        self._callbacks: set[asyncio.Task[None]] = set()

    def log(self, event: str, **fields: Any) -> None:
        print(json.dumps({"event": event, "t": round(self.clock(), 3), **fields},
                         ensure_ascii=False), file=self.out, flush=True)

    async def deliver(self, request: Request) -> JSONResponse:
        body = await request.body()
        try:
            verify(self.secret, body, request.headers.get(SIGNATURE_HEADER), self.clock())
        except SignatureError as exc:
            self.refused += 1
            self.log("refused", fault=exc.fault.value, path=request.url.path)
            return JSONResponse({"code": "bad_signature"}, status_code=401)
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        event_id = request.headers.get(EVENT_HEADER, "")
        if (not isinstance(payload, dict) or not event_id
                or payload.get("event_id") != event_id):
            self.log("refused", fault="bad_payload", event_id=event_id)
            return JSONResponse({"code": "bad_payload"}, status_code=400)
        self.deliveries += 1
        record = self.events.setdefault(event_id, Received(
            event_id, _text(payload.get("type")), _text(payload.get("task_id"))))
        record.received += 1
        if self.deliveries <= self.fail_first:
            record.failed += 1
            self.log("delivery", event_id=event_id, status=500, attempt=record.received,
                     note=f"failing {self.deliveries} of the first {self.fail_first}")
            return JSONResponse({"code": "simulated_failure"}, status_code=500)
        if record.accepted:
            record.duplicates += 1
            self.log("delivery", event_id=event_id, status=200, attempt=record.received,
                     duplicate=True)
            return JSONResponse({"ok": True, "duplicate": True})
        record.accepted = 1
        self.log("delivery", event_id=event_id, status=200, attempt=record.received,
                 type=record.type, task_id=record.task_id)
        callback_url = payload.get("callback_url")
        if record.type == "task.created" and isinstance(callback_url, str) and record.task_id:
            task = asyncio.create_task(self._call_back(record, callback_url))
            self._callbacks.add(task)
            task.add_done_callback(self._callbacks.discard)
        return JSONResponse({"ok": True})

    async def _call_back(self, record: Received, url: str) -> None:
        await asyncio.sleep(self.delay)
        decision: dict[str, Any] = {"event_id": f"sim-{uuid.uuid4().hex}",
                                    "task_id": record.task_id, "decision": self.decision}
        if self.reason is not None and self.decision != "approve":
            decision["reason"] = self.reason
        body = json.dumps(decision, ensure_ascii=False).encode()
        assert self._client is not None
        for pause in (*CALLBACK_RETRIES, None):
            headers = {"Content-Type": "application/json",
                       SIGNATURE_HEADER: sign(self.secret, body, self.clock())}
            try:
                response = await self._client.post(url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                status, answer = None, f"{type(exc).__name__}: {exc}"
            else:
                status, answer = response.status_code, response.text[:500]
            self.log("callback", task_id=record.task_id, decision=self.decision,
                     callback_event_id=decision["event_id"], status=status, answer=answer)
            if status is not None and status < 500:
                record.callback_status = status
                return
            if pause is None:
                return
            await asyncio.sleep(pause)

    async def list_deliveries(self, request: Request) -> JSONResponse:
        return JSONResponse({"deliveries": [asdict(r) for r in self.events.values()],
                             "received": self.deliveries, "refused": self.refused})

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=10.0) as client:
            self._client = client
            try:
                yield
            finally:
                for task in list(self._callbacks):
                    task.cancel()
                await asyncio.gather(*self._callbacks, return_exceptions=True)
                self._client = None

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/deliveries", self.list_deliveries, methods=["GET"]),
            Route("/{path:path}", self.deliver, methods=["POST"]),
        ], lifespan=self._lifespan)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind [127.0.0.1]")
    parser.add_argument("--port", type=int, required=True, help="port to bind")
    parser.add_argument("--secret", required=True,
                        help="the department's webhook secret (from 'admin set-webhook')")
    parser.add_argument("--delay", type=float, default=2.0,
                        help="seconds from a new task to the decision callback [2]")
    parser.add_argument("--decision", choices=DECISIONS, default="approve",
                        help="what the department decides [approve]")
    parser.add_argument("--reason", help="reason sent with reject or correction")
    parser.add_argument("--fail-first", type=int, default=0, metavar="N",
                        help="answer 500 to the first N deliveries [0]")


def main(args: argparse.Namespace) -> int:
    import uvicorn

    receiver = Receiver(args.secret, decision=args.decision, reason=args.reason,
                        delay=args.delay, fail_first=args.fail_first)
    receiver.log("listening", url=f"http://{args.host}:{args.port}/",
                 decision=args.decision, delay=args.delay, fail_first=args.fail_first)
    uvicorn.run(receiver.app(), host=args.host, port=args.port, log_level="warning")
    return 0
