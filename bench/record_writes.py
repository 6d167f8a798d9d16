"""Call-record writes at a given call rate: the RecordWriter against one write per phase.

An open-loop load: ``--rate`` calls a second for ``--seconds``, each asking for the four
writes the hub asks for (queued; offered 50 ms later; answered 100 ms later; ended 500 ms
later, with identity and times as the hub sends them). Two ways to write them, each on a
fresh database of the kind given:

* ``per-phase``: what the hub did before issue 9, one upsert/UPDATE per phase, one
  sequential writer task per call, on the shared pool (SQLAlchemy's 5 + 10 connections);
* ``writer``: ``signaling.store.record_writer.RecordWriter`` (journal + batches, its own
  connection).

Reported per mode: how long "ended asked -> committed" took (p50/p99/max), the most calls
waiting at once, transactions, and how many calls are missing or not ``ended`` at the end
(lost records). A mode that fails to catch up within ``--drain`` seconds says so.

    python bench/record_writes.py [--rate 400] [--seconds 10] [--database sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select, text  # noqa: E402

from signaling.store import CallRepository, Database  # noqa: E402
from signaling.store.models import CallRecord  # noqa: E402
from signaling.store.record_writer import RecordWriter  # noqa: E402

PG_ADMIN = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


class PerPhase:
    """The hub's writes before issue 9 (``Hub.record_call`` / ``_write_record`` at 931e58f)."""

    def __init__(self, db: Database) -> None:
        self.calls = CallRepository(db)
        self.writes: dict[str, asyncio.Task[None]] = {}
        self.pending: dict[str, dict[str, Any]] = {}
        self.failures: dict[str, int] = {}

    def record(self, call_id: str, **fields: Any) -> None:
        self.pending.setdefault(call_id, {}).update(fields)
        if call_id not in self.writes:
            self.writes[call_id] = asyncio.create_task(self._write(call_id))

    async def _write(self, call_id: str) -> None:
        try:
            while (fields := self.pending.pop(call_id, None)) is not None:
                try:
                    if not await self.calls.record(id=call_id, **fields):
                        raise LookupError("no row to update")
                except Exception as exc:
                    name = type(exc).__name__
                    self.failures[name] = self.failures.get(name, 0) + 1
                    newer = self.pending.get(call_id)
                    self.pending[call_id] = {**fields, **(newer or {})}
                    if newer is None:
                        return
        finally:
            self.writes.pop(call_id, None)

    async def recorded(self, call_id: str) -> None:
        while (task := self.writes.get(call_id)) is not None:
            await asyncio.shield(task)

    def backlog(self) -> int:
        return len(self.writes)


async def load(mode: str, db: Database, data_dir: Path, rate: float, seconds: float,
               drain: float) -> dict[str, Any]:
    writer: Any
    if mode == "writer":
        writer = RecordWriter(db.url, data_dir)
        await writer.start()
        backlog = lambda: writer.backlog().calls  # noqa: E731
    else:
        writer = PerPhase(db)
        backlog = writer.backlog
    loop = asyncio.get_running_loop()
    ended_latency: list[float] = []
    waits: list[asyncio.Task[None]] = []
    peak = 0

    async def ended(call_id: str, asked: float) -> None:
        await writer.recorded(call_id)
        ended_latency.append((time.perf_counter() - asked) * 1000)

    def phase(call_id: str, n: int, step: int) -> None:
        nonlocal peak
        base = time.time()
        if step == 0:
            writer.record(call_id, phase="queued", enqueued_at=base, skill="water",
                          origin="kiosk", caller_label="武原街道", partition="default",
                          kiosk_id=f"kiosk-{n % 50}")
        elif step == 1:
            writer.record(call_id, phase="offered", offered_to=f"agent-{n % 600}",
                          offered_at=base)
        elif step == 2:
            writer.record(call_id, phase="answered", agent_id=f"agent-{n % 600}",
                          answered_at=base, wait_s=0.1)
        else:
            writer.record(call_id, phase="ended", skill="water", origin="kiosk",
                          caller_label="武原街道", partition="default",
                          kiosk_id=f"kiosk-{n % 50}", agent_id=f"agent-{n % 600}",
                          enqueued_at=base - 0.5, answered_at=base - 0.4, ended_at=base,
                          end_reason="caller_hangup", wait_s=0.1, talk_s=0.4, outcome=None)
            waits.append(asyncio.create_task(ended(call_id, time.perf_counter())))
        peak = max(peak, backlog())

    total = int(rate * seconds)
    started = loop.time()
    call_ids = []
    for n in range(total):
        call_id = f"bench-{n}"
        call_ids.append(call_id)
        at = started + n / rate
        for step, delay in enumerate((0.0, 0.05, 0.1, 0.5)):
            loop.call_at(at + delay, phase, call_id, n, step)
    await asyncio.sleep(max(0.0, started + seconds + 0.6 - loop.time()))
    drained = True
    try:
        await asyncio.wait_for(asyncio.gather(*waits), drain)
    except TimeoutError:
        drained = False
    async with db.engine.connect() as connection:
        ended_rows = await connection.scalar(
            select(func.count()).select_from(CallRecord).where(CallRecord.phase == "ended"))
    result = {
        "mode": mode, "calls": total, "drained": drained,
        "ended_committed_p50_ms": round(statistics.median(ended_latency), 1)
        if ended_latency else None,
        "ended_committed_p99_ms": round(percentile(ended_latency, 99), 1)
        if ended_latency else None,
        "ended_committed_max_ms": round(max(ended_latency), 1) if ended_latency else None,
        "peak_backlog_calls": peak,
        "not_ended_in_database": total - int(ended_rows or 0),
    }
    if mode == "writer":
        result["transactions"] = writer.batches
        await writer.stop()
    else:
        result["failed_writes"] = writer.failures
        for task in list(writer.writes.values()):
            task.cancel()
    return result


async def fresh_database(kind: str, tmp: Path) -> tuple[Database, str | None]:
    if kind == "sqlite":
        return Database(f"sqlite+aiosqlite:///{tmp / 'bench.db'}"), None
    name = f"bench_records_{secrets.token_hex(4)}"
    admin = Database(PG_ADMIN)
    async with admin.engine.connect() as connection:
        await (await connection.execution_options(isolation_level="AUTOCOMMIT")).execute(
            text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    return Database(PG_ADMIN.rsplit("/", 1)[0] + "/" + name), name


async def drop(name: str) -> None:
    admin = Database(PG_ADMIN)
    async with admin.engine.connect() as connection:
        await (await connection.execution_options(isolation_level="AUTOCOMMIT")).execute(
            text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    results = []
    for mode in args.modes:
        with tempfile.TemporaryDirectory(prefix="record-bench-") as tmp:
            db, name = await fresh_database(args.database, Path(tmp))
            try:
                await db.create_all()
                result = await load(mode, db, Path(tmp) / "data", args.rate, args.seconds,
                                    args.drain)
                results.append({"database": args.database, "rate": args.rate, **result})
            finally:
                await db.dispose()
                if name is not None:
                    await drop(name)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=400.0, help="calls per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--modes", nargs="+", default=["per-phase", "writer"],
                        choices=("per-phase", "writer"))
    parser.add_argument("--drain", type=float, default=60.0,
                        help="seconds to wait for the writes to catch up after the load")
    print(json.dumps(asyncio.run(run(parser.parse_args())), indent=2))


if __name__ == "__main__":
    main()
