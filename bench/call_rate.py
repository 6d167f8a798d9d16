"""Call rate: the highest rate of call requests at which >= 99.9 % are rung within 2 s.

Setup: a real server (``cloud-agent serve --demo``, SQLite, embedded defaults) in its own
process, provisioned with ``--agents`` load agents and ``--kiosks`` load kiosks
(``CLOUD_AGENT_DEMO_LOAD_AGENTS`` / ``_KIOSKS``). One client process holds the agents: each
accepts every offer, answers the caller's SDP offer with an answer and two ICE candidates,
hangs up once the caller's two candidates have arrived, and ends wrap-up. ``--procs``
caller processes place calls open-loop (on a fixed schedule, whether or not earlier calls
were answered), half from kiosks and half from enterprise guests (``--enterprise``), each
on a caller socket that is reused for the next call once the last one has ended.

The ramp goes through ``--rates`` (calls/s), ``--step`` seconds each. A call is *rung*
when its caller receives ``ringing`` (the offer is at an agent); its time is counted from
the moment the caller's process sent ``call_request``. The best rate is the highest step
in which >= 99.9 % of the requests were rung within 2 s, and the load generator kept its
schedule (p99 of sending late <= 250 ms; else the step measured the generator, and is
marked so). Then the same server gets twice
that rate for ``--step`` seconds: busy replies, internal errors, requests without any
answer, and **lost records** (queued calls that have no row in the ``calls`` table after
the server stopped) are counted there.

    python bench/call_rate.py [--rates 50,100,200,300,400,500,600] [--step 8] [--json]

Each step also reports the server's CPU (user + system time of its process, from
``/proc``) per *completed* call (``ended`` reached the caller) and the load generator's
(agents' and callers' processes), and the load average: CPU time is what this machine,
shared with other work, measures well; ``1 / server CPU per call`` is the projected rate
one core carries. ``--py-spy FILE`` records a profile of the (first) server during the
ramp (py-spy's raw format; ``pip install py-spy``).

**One node vs a cluster** (issue 10): ``--redis --nodes 1,3`` runs the same ramp once per
cluster size, side by side in one report. Each size gets its own throwaway
``redis-server`` (``signaling.cluster.throwaway``) and throwaway PostgreSQL database
(``--postgres``), and its nodes are ``cloud-agent serve --demo --redis URL --node-id nK``,
started one after the other (the first seeds and migrates). Agents and callers are spread
over the nodes round-robin (agent *i* on node *i mod N*, each call on the next node in
turn), so most offers, relays and hang-ups cross nodes. Server CPU is the sum over the
nodes (Redis's is reported beside it).

``--server-root DIR`` runs the server from another source tree (a checkout of an older
commit, for before/after figures); agents and kiosks are then seeded straight into its
database before it starts, if it has no load-seeding option.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from signaling.matters.validators import uscc_check_character  # noqa: E402
from signaling.tokens import sign  # noqa: E402

#: rung within this many seconds counts as kept promise
PROMISE = 2.0
#: share of requests that must be rung within PROMISE for a rate to pass
TARGET = 0.999
#: a step whose requests were sent later than this (p99) behind schedule measured the
#: load generator, not the server: it cannot count as passed
GENERATOR_SLACK = 0.25
#: agents logging in at once (a cluster node's Redis pool, 100 connections, ran out with
#: 50 at once: each login appends entries, one connection each while in flight)
LOGIN_BATCH = 20
#: how long a caller waits for any answer / for ``ringing`` / for ``ended`` (seconds)
ANSWER_TIMEOUT = 30.0
SKILLS = ["water", "electricity", "gas", "tax", "social-security", "citizen-card"]
#: frames the load generator need not parse (it reads their type off the frame's start):
#: queue figures, session documents (the largest frames), positions, console states
_SKIPPED = frozenset({"queue_snapshot", "session_document", "position", "pong"})


def frame_type(raw: str | bytes) -> str | None:
    """The ``type`` of a server frame from its first bytes (the server writes ``type``
    first), or ``None`` when it does not start that way."""
    if isinstance(raw, str) and raw.startswith('{"type": "'):
        end = raw.find('"', 10)
        return raw[10:end] if end > 0 else None
    return None
SDP_OFFER = {"type": "offer", "sdp": "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=bench\r\nt=0 0\r\n"}
SDP_ANSWER = {"type": "answer", "sdp": "v=0\r\no=- 2 1 IN IP4 127.0.0.1\r\ns=bench\r\nt=0 0\r\n"}
CANDIDATES = [{"candidate": f"candidate:{n} 1 udp 2122260223 192.0.2.{n} 5{n}000 typ host",
               "sdpMid": "0", "sdpMLineIndex": 0} for n in (1, 2)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def company(number: int) -> dict[str, str]:
    first17 = f"91330424{number:09d}"[:17]
    return {"name": f"压测企业{number}", "uscc": first17 + uscc_check_character(first17),
            "contact_name": "张三", "contact_phone": "13800138000"}


# ---------------------------------------------------------------------------- server

SEED_SCRIPT = """
import asyncio, sys, time
from signaling.store import Database
from signaling.store.models import Account, Kiosk
from signaling.store.passwords import hash_password
from signaling.store.repositories import token_hash

async def main(url, agents, kiosks, skills):
    db = Database(url)
    await db.create_all()
    digest = hash_password("demo")
    async with db.session() as session, session.begin():
        session.add_all(Account(id=f"load-agent-{n}", username=f"load-agent-{n}",
            display_name=f"load {n}", password_hash=digest, role="agent",
            partition="default", skills={s: 1 for s in skills}, auto_answer=False,
            created_at=time.time()) for n in range(1, agents + 1))
        session.add_all(Kiosk(id=f"load-kiosk-{n}", name=f"load {n}", town="bench",
            partition="default", token_hash=token_hash(f"load-kiosk-{n}"),
            created_at=time.time()) for n in range(1, kiosks + 1))
    await db.dispose()

asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4].split(",")))
"""


def proc_cpu(pid: int, task: int | None = None) -> tuple[float, float]:
    """User and system CPU seconds a process (or one of its threads) has used so far
    (0, 0 once it is gone)."""
    path = f"/proc/{pid}/stat" if task is None else f"/proc/{pid}/task/{task}/stat"
    try:
        fields = Path(path).read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


@dataclass
class Server:
    """The server under load: one ``serve`` process, or the nodes of a cluster."""

    processes: list[subprocess.Popen[bytes]]
    ports: list[int]
    data_dir: Path
    secret: str
    database_url: str | None = None  # None: the first node's SQLite file
    redis: Any = None  # a signaling.cluster.throwaway.RedisServer
    drop_database: str | None = None

    @property
    def ws(self) -> list[str]:
        return [f"ws://127.0.0.1:{port}" for port in self.ports]

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self.processes]

    def cpu(self) -> tuple[float, float]:
        """User and system CPU seconds all nodes have used so far."""
        times = [proc_cpu(pid) for pid in self.pids]
        return sum(t[0] for t in times), sum(t[1] for t in times)

    def main_thread_cpu(self) -> float:
        """CPU seconds of the nodes' main threads (the event loops: what one core must
        carry; the journal's and the database driver's threads run beside them)."""
        return sum(sum(proc_cpu(pid, task=pid)) for pid in self.pids)

    def redis_cpu(self) -> float:
        if self.redis is None or self.redis.process is None:
            return 0.0
        return sum(proc_cpu(self.redis.process.pid))


def _wait_listening(process: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if process.poll() is not None:
                raise RuntimeError("the server exited at start") from None
            time.sleep(0.2)
    raise RuntimeError("the server did not start")


def url_of_postgres(database_url: str) -> str:
    """The maintenance database of the server a database URL points to."""
    return "postgresql://" + database_url.split("://", 1)[1].rsplit("/", 1)[0] + "/postgres"


async def _postgres(admin_url: str, statement: str) -> None:
    import asyncpg  # type: ignore[import-untyped]

    connection = await asyncpg.connect(admin_url, timeout=10)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def start_server(args: argparse.Namespace, nodes: int = 1, redis: bool = False) -> Server:
    """One embedded server (SQLite), or with ``redis`` a cluster of ``nodes`` on a
    throwaway Redis and PostgreSQL database."""
    root = Path(args.server_root).resolve() if args.server_root else ROOT
    data_dir = Path(tempfile.mkdtemp(prefix="call-rate-"))
    secret = "bench-" + os.urandom(8).hex()
    env = {**os.environ, "CLOUD_AGENT_SECRET_KEY": secret,
           "CLOUD_AGENT_MAX_WAIT": "100000", "CLOUD_AGENT_RESUME_GRACE": "60",
           "CLOUD_AGENT_RING_TIMEOUT": "30", "CLOUD_AGENT_WRAP_UP_OUTCOME_REQUIRED": "false",
           # every simulated client comes from 127.0.0.1: lift the per-address limits
           "CLOUD_AGENT_MAX_CALLS_PER_ADDRESS": "10000000",
           "CLOUD_AGENT_MAX_CALLER_SOCKETS_PER_ADDRESS": "10000000",
           "CLOUD_AGENT_NEW_SOCKETS_PER_MINUTE": "10000000",
           "CLOUD_AGENT_RATE_LIMIT_BURST": "100000"}
    env.pop("CLOUD_AGENT_CONFIG_FILE", None)
    server = Server([], [], data_dir, secret)
    cluster: list[str] = []
    if redis:
        from signaling.cluster.throwaway import RedisServer

        server.redis = RedisServer()
        server.redis.start()
        name = f"call_rate_{os.getpid()}_{os.urandom(4).hex()}"
        asyncio.run(_postgres(f"postgresql://{args.postgres}/postgres",
                              f'CREATE DATABASE "{name}"'))
        server.drop_database = name
        server.database_url = f"postgresql+asyncpg://{args.postgres}/{name}"
        env["CLOUD_AGENT_DATABASE_URL"] = server.database_url
        cluster = ["--redis", server.redis.url]
    if "demo_load_agents" in (root / "signaling" / "settings.py").read_text():
        env["CLOUD_AGENT_DEMO_LOAD_AGENTS"] = str(args.agents)
        env["CLOUD_AGENT_DEMO_LOAD_KIOSKS"] = str(args.kiosks)
    elif not redis:  # an older tree: seed its database with its own code before it starts
        url = f"sqlite+aiosqlite:///{data_dir / 'cloud-agent.db'}"
        subprocess.run([sys.executable, "-c", SEED_SCRIPT, url, str(args.agents),
                        str(args.kiosks), ",".join(SKILLS)], cwd=root, check=True, env=env)
    else:
        raise RuntimeError("--redis needs a tree with demo_load_agents")
    pin = ["taskset", "-c", args.pin_server] if args.pin_server else []
    for number in range(nodes):
        port = free_port()
        node = ["--node-id", f"n{number + 1}"] if redis else []
        node_dir = data_dir if number == 0 else data_dir / f"n{number + 1}"
        process = subprocess.Popen(
            [*pin, sys.executable, "-m", "signaling", "serve", "--demo", "--port", str(port),
             "--data-dir", str(node_dir), *cluster, *node, "--log-level", "warning"],
            env=env, cwd=root, stdout=subprocess.DEVNULL)
        server.processes.append(process)
        server.ports.append(port)
        try:
            _wait_listening(process, port)  # one after the other: the first seeds
        except RuntimeError:
            stop_server(server)
            drop_database(server)
            raise
    return server


def stop_server(server: Server) -> None:
    for process in server.processes:
        process.terminate()
    for process in server.processes:
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if server.redis is not None:
        server.redis.close()


def drop_database(server: Server) -> None:
    """Drop a cluster's throwaway database (after the run, or a failed start)."""
    if server.database_url is not None and server.drop_database is not None:
        asyncio.run(_postgres(url_of_postgres(server.database_url),
                              f'DROP DATABASE IF EXISTS "{server.drop_database}" WITH (FORCE)'))
        server.drop_database = None


def journaled_calls(data_dir: Path) -> dict[str, str | None]:
    """call id -> last phase of the writes left in the nodes' call-record journals (what a
    node stopped with, not yet in the database: its next start writes them)."""
    found: dict[str, str | None] = {}
    for path in data_dir.rglob("call-records.journal"):
        for line in path.read_bytes().splitlines():
            try:
                entry = json.loads(line)
                found[entry["c"]] = entry["f"].get("phase", found.get(entry["c"]))
            except (ValueError, KeyError, TypeError):
                continue
    return found


def stored_calls(server: Server) -> dict[str, str | None]:
    """call id -> phase of every row of the calls table."""
    database_url = server.database_url
    if database_url is not None:
        import asyncpg

        async def read() -> dict[str, str | None]:
            url = database_url.replace("postgresql+asyncpg://", "postgresql://")
            connection = await asyncpg.connect(url, timeout=10)
            try:
                rows = await connection.fetch("SELECT id, phase FROM calls")
            finally:
                await connection.close()
            return {row["id"]: row["phase"] for row in rows}
        return asyncio.run(read())
    with sqlite3.connect(server.data_dir / "cloud-agent.db") as db:
        columns = {row[1] for row in db.execute("PRAGMA table_info(calls)")}
        query = "SELECT id, phase FROM calls" if "phase" in columns else \
            "SELECT id, NULL FROM calls"
        return dict(db.execute(query).fetchall())


# ---------------------------------------------------------------------------- agents

async def run_agents(ws_bases: list[str], secret: str, count: int, compression: str | None,
                     ready: Any, stop: Any) -> None:
    from websockets.asyncio.client import connect

    async def agent(number: int, logged_in: asyncio.Event) -> None:
        candidates: Counter[str] = Counter()
        ws_base = ws_bases[(number - 1) % len(ws_bases)]  # round-robin over the nodes
        async with connect(f"{ws_base}/ws/agent", compression=compression,
                           max_size=1 << 22, open_timeout=60) as ws:
            token = sign(secret.encode(), "agent", f"load-agent-{number}", time.time(), 7200)
            await ws.send(json.dumps({"type": "auth", "token": token}))
            await ws.send(json.dumps({"type": "set_status", "status": "ready"}))
            async for raw in ws:
                if frame_type(raw) in _SKIPPED:
                    continue  # nothing to do with it: a leaner generator
                message = json.loads(raw)
                kind = message["type"]
                call_id = message.get("call_id")
                if kind == "offer":
                    await ws.send(json.dumps({"type": "accept", "call_id": call_id}))
                elif kind == "sdp":
                    await ws.send(json.dumps({"type": "sdp", "call_id": call_id,
                                              "description": SDP_ANSWER}))
                    for candidate in CANDIDATES:
                        await ws.send(json.dumps({"type": "ice", "call_id": call_id,
                                                  "candidate": candidate}))
                elif kind == "ice":
                    candidates[call_id] += 1
                    if candidates[call_id] == len(CANDIDATES):
                        del candidates[call_id]
                        await ws.send(json.dumps({"type": "hangup", "call_id": call_id}))
                elif kind == "ended":
                    candidates.pop(call_id, None)
                    await ws.send(json.dumps({"type": "end_wrap_up", "call_id": call_id}))
                elif kind == "agent_state" and message.get("state") == "ready":
                    logged_in.set()

    events = [asyncio.Event() for _ in range(count)]
    tasks: list[asyncio.Task[None]] = []
    for start in range(0, count, LOGIN_BATCH):  # no thundering herd of logins: a batch
        batch = range(start, min(count, start + LOGIN_BATCH))  # at a time, each ready
        tasks.extend(asyncio.create_task(agent(number + 1, events[number]))
                     for number in batch)
        waiting: list[asyncio.Future[Any]] = [
            asyncio.gather(*(events[number].wait() for number in batch)), *tasks]
        await asyncio.wait(waiting, timeout=120, return_when=asyncio.FIRST_COMPLETED)
        failed = [t for t in tasks if t.done()]
        if failed:
            failed[0].result()  # an agent socket died while logging in: surface why
            raise RuntimeError("an agent socket closed while logging in")
        if not all(events[number].is_set() for number in batch):
            raise TimeoutError("agents did not log in within 120 s")
    ready.set()
    while not stop.is_set():
        await asyncio.sleep(0.2)
        failed = [t for t in tasks if t.done()]
        if failed:
            failed[0].result()  # an agent socket died: surface why
            raise RuntimeError("an agent socket closed")
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def agents_process(ws_bases: list[str], secret: str, count: int, compression: str | None,
                   ready: Any, stop: Any) -> None:
    asyncio.run(run_agents(ws_bases, secret, count, compression, ready, stop))


# ---------------------------------------------------------------------------- callers

@dataclass
class CallResult:
    step: int
    kind: str
    sent: float
    late: float  # how far behind its schedule the generator started the request
    answer: str = "silent"  # queued | busy | error:<code> | silent | connect_failed
    call_id: str | None = None
    rung_after: float | None = None
    ended: bool = False


@dataclass
class Plan:
    """What one caller process does: its share of each step's rate."""

    index: int
    procs: int
    rates: list[float]
    step_seconds: float
    start_at: float  # time.monotonic() of the first request (same clock for all processes)
    kiosks: list[str]
    enterprise_share: float
    company_base: int
    compression: str | None = None
    results: list[CallResult] = field(default_factory=list)


async def run_callers(ws_bases: list[str], plan: Plan) -> list[CallResult]:
    from websockets.asyncio.client import ClientConnection, connect

    free_kiosks = deque(plan.kiosks)
    idle: list[list[ClientConnection]] = [[] for _ in ws_bases]  # per node
    turn = iter(range(plan.index, 1 << 62))  # the node of each call, round-robin
    rng = random.Random(plan.index)
    companies = iter(range(plan.company_base, plan.company_base + 10_000_000))
    tasks: set[asyncio.Task[None]] = set()
    results: list[CallResult] = []

    async def socket_(node: int) -> ClientConnection:
        if idle[node]:
            return idle[node].pop()
        ws = await connect(f"{ws_bases[node]}/ws/caller", compression=plan.compression,
                           open_timeout=ANSWER_TIMEOUT)
        await asyncio.wait_for(ws.recv(), ANSWER_TIMEOUT)  # hello
        return ws

    async def call(step: int, due: float) -> None:
        # Late is measured here, before a socket is taken: a server slow to open sockets
        # delays the request, and that delay is the server's (it counts in the ring time
        # only from the send; a socket not taken in 30 s counts as unanswered).
        late = time.monotonic() - due
        kiosk = None
        if rng.random() >= plan.enterprise_share and free_kiosks:
            kiosk = free_kiosks.popleft()
        request: dict[str, Any] = {"type": "call_request", "skill": rng.choice(SKILLS)}
        if kiosk is not None:
            request["kiosk_token"] = kiosk
        else:
            request["company"] = company(next(companies))
        kind = "kiosk" if kiosk else "enterprise"
        node = next(turn) % len(ws_bases)
        try:
            ws = await socket_(node)
        except Exception:  # the server did not even take the socket: counts as unanswered
            results.append(CallResult(step, kind, time.monotonic(), late, "connect_failed"))
            if kiosk is not None:
                free_kiosks.append(kiosk)
            return
        sent = time.monotonic()
        result = CallResult(step, kind, sent, late)
        results.append(result)
        reusable = False
        try:
            await ws.send(json.dumps(request))
            deadline = sent + ANSWER_TIMEOUT
            while True:
                raw = await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.monotonic()))
                if frame_type(raw) in _SKIPPED or frame_type(raw) in ("sdp", "ice"):
                    continue
                message = json.loads(raw)
                kind = message["type"]
                if kind == "queued":
                    result.answer, result.call_id = "queued", message["call_id"]
                    deadline = time.monotonic() + ANSWER_TIMEOUT
                elif kind == "error":
                    code = message.get("code")
                    result.answer = "busy" if code == "busy" else f"error:{code}"
                    reusable = True
                    break
                elif kind == "ringing" and result.rung_after is None:
                    result.rung_after = time.monotonic() - sent
                    deadline = time.monotonic() + ANSWER_TIMEOUT
                elif kind == "connected":
                    await ws.send(json.dumps({"type": "sdp", "call_id": result.call_id,
                                              "description": SDP_OFFER}))
                    for candidate in CANDIDATES:
                        await ws.send(json.dumps({"type": "ice", "call_id": result.call_id,
                                                  "candidate": candidate}))
                elif kind == "ended":
                    result.ended = reusable = True
                    break
        except (TimeoutError, OSError, Exception):
            reusable = False
        finally:
            if kiosk is not None:
                free_kiosks.append(kiosk)
            if reusable:
                idle[node].append(ws)
            else:
                await ws.close()

    loop_start = plan.start_at
    await asyncio.sleep(max(0.0, loop_start - time.monotonic()))
    step_start = loop_start
    for step, rate in enumerate(plan.rates):
        share = rate / plan.procs
        count = int(round(share * plan.step_seconds))
        for n in range(count):
            due = step_start + (n + rng.random()) / share
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(call(step, due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        step_start += plan.step_seconds
    if tasks:
        await asyncio.wait(set(tasks), timeout=ANSWER_TIMEOUT * 3)
    for sockets in idle:
        for ws in sockets:
            await ws.close()
    return results


def callers_process(ws_bases: list[str], plan: Plan, out: Any) -> None:
    results = asyncio.run(run_callers(ws_bases, plan))
    out.put([r.__dict__ for r in results])


@dataclass
class StepCpu:
    """CPU seconds used during one step."""

    server_user: float
    server_system: float
    server_main_thread: float
    generator: float  # the agents' and callers' processes together
    redis: float
    load_average: float  # 1-minute load average at the step's end

    @property
    def server(self) -> float:
        return self.server_user + self.server_system


def run_phase(ctx: Any, args: argparse.Namespace, rates: list[float], server: Server,
              phase: int, agents_pid: int) -> tuple[list[CallResult], list[StepCpu]]:
    """Run the callers of one phase (a ramp or one rate); results and the CPU seconds of
    the server, the load generator and Redis per step."""
    out = ctx.Queue()
    start_at = time.monotonic() + 3.0
    kiosks = [f"load-kiosk-{n}" for n in range(1, args.kiosks + 1)]
    processes = []
    for index in range(args.procs):
        plan = Plan(index, args.procs, rates, args.step, start_at, kiosks[index::args.procs],
                    args.enterprise, (phase * args.procs + index) * 10_000_000,
                    compression=args.compression)
        processes.append(ctx.Process(target=callers_process, args=(server.ws, plan, out)))
    for process in processes:
        process.start()
        if args.pin_generator:
            subprocess.run(["taskset", "-a", "-p", "-c", args.pin_generator,
                            str(process.pid)], check=True, stdout=subprocess.DEVNULL)

    def reading() -> tuple[float, float, float, float, float]:
        user, system = server.cpu()
        generator = sum(sum(proc_cpu(pid)) for pid in
                        [agents_pid, *(p.pid for p in processes if p.pid)])
        return user, system, server.main_thread_cpu(), generator, server.redis_cpu()

    cpu: list[StepCpu] = []
    time.sleep(max(0.0, start_at - time.monotonic()))
    before = reading()
    for step in range(len(rates)):
        time.sleep(max(0.0, start_at + (step + 1) * args.step - time.monotonic()))
        now = reading()
        user, system, main, generator, redis = (a - b for a, b in zip(now, before,
                                                                        strict=True))
        cpu.append(StepCpu(user, system, main, generator, redis, os.getloadavg()[0]))
        before = now
    results: list[CallResult] = []
    for _ in processes:
        results.extend(CallResult(**r) for r in out.get())
    for process in processes:
        process.join()
    return results, cpu


def summarize(results: list[CallResult], rate: float, cpu: StepCpu,
              step_seconds: float) -> dict[str, Any]:
    answers = Counter(r.answer for r in results)
    rung = [r.rung_after for r in results if r.rung_after is not None]
    within = sum(1 for t in rung if t <= PROMISE)
    late = [r.late for r in results]
    ended = sum(1 for r in results if r.ended)

    def per_call(seconds: float) -> float | None:
        return round(1000 * seconds / ended, 3) if ended else None
    return {
        "rate": rate, "requests": len(results),
        "rung_within_2s": within,
        "rung_within_2s_share": round(within / len(results), 5) if results else None,
        "ring_p50_ms": None if not rung else round(statistics.median(rung) * 1000, 1),
        "ring_p99_ms": None if not rung else round(percentile(rung, 99) * 1000, 1),
        "ring_max_ms": None if not rung else round(max(rung) * 1000, 1),
        "queued": answers["queued"], "busy": answers["busy"], "silent": answers["silent"],
        "connect_failed": answers["connect_failed"],
        "errors": {k: v for k, v in answers.items() if k.startswith("error:")},
        "ended": ended,
        "kiosk": sum(1 for r in results if r.kind == "kiosk"),
        "enterprise": sum(1 for r in results if r.kind == "enterprise"),
        "generator_late_p99_ms": round((percentile(late, 99) or 0) * 1000, 1),
        # the load generator sent its requests on time: the step measured the server
        "generator_on_time": (percentile(late, 99) or 0) <= GENERATOR_SLACK,
        "server_cpu_share": round(cpu.server / step_seconds, 3),
        "server_cpu_ms_per_request": round(1000 * cpu.server / len(results), 3)
        if results else None,
        # per call that went all the way (queued, rung, connected, relayed, ended)
        "server_cpu_ms_per_call": per_call(cpu.server),
        "server_user_ms_per_call": per_call(cpu.server_user),
        "server_system_ms_per_call": per_call(cpu.server_system),
        "server_main_thread_ms_per_call": per_call(cpu.server_main_thread),
        "generator_cpu_share": round(cpu.generator / step_seconds, 3),
        "generator_cpu_ms_per_call": per_call(cpu.generator),
        "redis_cpu_ms_per_call": per_call(cpu.redis),
        "load_average": round(cpu.load_average, 2),
    }


def marginal_cpu(steps: list[dict[str, Any]], step_seconds: float) -> float | None:
    """Server CPU ms per extra completed call: the least-squares slope of CPU seconds
    against completed calls over the steps that ran no ``busy`` (the fixed costs, such
    as queue snapshots to every agent each second, fall out)."""
    points = [(float(s["ended"]), float(s["server_cpu_share"]) * step_seconds)
              for s in steps if s["ended"] and not s["busy"]]
    if len(points) < 2:
        return None
    mean_x = statistics.fmean(x for x, _ in points)
    mean_y = statistics.fmean(y for _, y in points)
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    if not spread:
        return None
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread
    return round(1000 * slope, 3)


def run_ramp(args: argparse.Namespace, nodes: int, redis: bool) -> dict[str, Any]:
    """The ramp (and the overload step) against a fresh server or cluster."""
    ctx = multiprocessing.get_context("spawn")
    load_before = os.getloadavg()
    server = start_server(args, nodes, redis)
    try:
        return ramp_on(server, args, ctx, load_before)
    finally:
        drop_database(server)


def ramp_on(server: Server, args: argparse.Namespace, ctx: Any,
            load_before: tuple[float, float, float]) -> dict[str, Any]:
    nodes, redis = len(server.processes), server.redis is not None
    ready, stop = ctx.Event(), ctx.Event()
    agents = ctx.Process(target=agents_process, args=(server.ws, server.secret, args.agents,
                                                      args.compression, ready, stop))
    agents.start()
    profiler: subprocess.Popen[bytes] | None = None
    try:
        if not ready.wait(180):
            raise RuntimeError("the agents did not log in")
        assert agents.pid is not None
        if args.pin_generator:
            subprocess.run(["taskset", "-a", "-p", "-c", args.pin_generator, str(agents.pid)],
                           check=True, stdout=subprocess.DEVNULL)
        rates = [float(r) for r in args.rates.split(",")]
        if args.py_spy:
            profiler = subprocess.Popen(
                [str(Path(sys.executable).parent / "py-spy"), "record", "-p",
                 str(server.pids[0]), "-r", "100", "--nonblocking", "--format", "raw",
                 "-d", str(int(len(rates) * args.step + 3)), "-o", args.py_spy],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ramp, cpu = run_phase(ctx, args, rates, server, 0, agents.pid)
        steps = [summarize([r for r in ramp if r.step == n], rate, cpu[n], args.step)
                 for n, rate in enumerate(rates)]
        passing = [s["rate"] for s in steps if s["requests"] and s["generator_on_time"]
                   and (s["rung_within_2s_share"] or 0) >= TARGET]
        best = max(passing, default=0.0)
        overload: dict[str, Any] | None = None
        results = list(ramp)
        if best and not args.no_overload:
            time.sleep(args.step)  # let the ramp's last calls finish
            double, cpu2 = run_phase(ctx, args, [2 * best], server, 1, agents.pid)
            overload = summarize(double, 2 * best, cpu2[0], args.step)
            results += double
    finally:
        stop.set()
        agents.join(30)
        if agents.is_alive():
            agents.terminate()
        if profiler is not None:
            profiler.wait(60)
        stop_server(server)
    stored = stored_calls(server)
    queued = [r.call_id for r in results if r.answer == "queued" and r.call_id]
    lost = [c for c in queued if c not in stored]
    unfinished = [c for c in queued if c in stored and stored[c] not in (None, "ended")]
    journaled = journaled_calls(server.data_dir)
    marginal = marginal_cpu(steps, args.step)
    return {
        "nodes": nodes, "redis": redis,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "steps": steps, "best_rate": best, "overload": overload,
        "server_marginal_cpu_ms_per_call": marginal,
        # one core's worth of calls at the marginal cost (fixed costs left out)
        "projected_calls_per_core": round(1000 / marginal) if marginal else None,
        "queued_total": len(queued), "lost_records": len(lost),
        "records_not_ended": len(unfinished),
        # by phase: 'interrupted' is a call still live when the server stopped (recorded as
        # such at the stop); a live phase would be a record the stop left unfinished
        "records_not_ended_by_phase": dict(Counter(str(stored[c]) for c in unfinished)),
        # of those, still in a node's call-record journal (the next start writes them)
        "lost_records_in_journal": sum(1 for c in lost if c in journaled),
        "not_ended_in_journal": sum(1 for c in unfinished if journaled.get(c) == "ended"),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    sizes = [int(n) for n in str(args.nodes).split(",")]
    if not args.redis and sizes != [1]:
        raise SystemExit("--nodes other than 1 needs --redis (a cluster)")
    runs = [run_ramp(args, nodes, args.redis) for nodes in sizes]
    report: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "server_root": str(Path(args.server_root).resolve()) if args.server_root else None,
        "agents": args.agents, "kiosks": args.kiosks, "caller_processes": args.procs,
        "enterprise_share": args.enterprise, "step_seconds": args.step,
        "compression": args.compression or "off",
        "pin_server": args.pin_server, "pin_generator": args.pin_generator,
        **runs[0],
    }
    if len(runs) > 1 or args.redis:
        report["runs"] = runs
    return report


def print_table(report: dict[str, Any]) -> None:
    for run_ in report.get("runs", [report]):
        where = (f"cluster of {run_['nodes']} node(s) on Redis" if run_["redis"]
                 else "one embedded server")
        print(f"{where}; load average before {run_['load_average_before']}, after "
              f"{run_['load_average_after']}")
        print(f"{'rate/s':>7} {'requests':>8} {'rung<=2s':>9} {'p50 ms':>8} {'p99 ms':>8} "
              f"{'busy':>6} {'errors':>7} {'silent':>6} {'ended':>6} {'srv cpu':>7} "
              f"{'ms/call':>7} {'gen cpu':>7} {'gen ms':>7} {'gen late':>8} {'load':>5}")
        rows = run_["steps"] + ([run_["overload"]] if run_["overload"] else [])
        for s in rows:
            share = 100 * (s["rung_within_2s_share"] or 0)
            print(f"{s['rate']:>7.0f} {s['requests']:>8} {share:>8.2f}% "
                  f"{s['ring_p50_ms'] or 0:>8} {s['ring_p99_ms'] or 0:>8} {s['busy']:>6} "
                  f"{sum(s['errors'].values()):>7} {s['silent']:>6} {s['ended']:>6} "
                  f"{s['server_cpu_share']:>7} {s['server_cpu_ms_per_call'] or 0:>7} "
                  f"{s['generator_cpu_share']:>7} {s['generator_cpu_ms_per_call'] or 0:>7} "
                  f"{s['generator_late_p99_ms']:>8} {s['load_average']:>5}"
                  + ("" if s["generator_on_time"] else "  (generator late)"))
        print(f"best rate with >= 99.9 % rung within 2 s: {run_['best_rate']:.0f}/s; "
              f"server CPU per extra call {run_['server_marginal_cpu_ms_per_call']} ms "
              f"(one core: ~{run_['projected_calls_per_core']} calls/s); "
              f"lost records: {run_['lost_records']} of {run_['queued_total']} queued "
              f"({run_['lost_records_in_journal']} in a journal); "
              f"not ended: {run_['records_not_ended']} "
              f"({run_['not_ended_in_journal']} ended in a journal)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="50,100,200,300,400,500,600",
                        help="calls/s of each ramp step")
    parser.add_argument("--step", type=float, default=8.0, help="seconds per step")
    parser.add_argument("--agents", type=int, default=600)
    parser.add_argument("--kiosks", type=int, default=3000)
    parser.add_argument("--procs", type=int, default=2, help="caller processes")
    parser.add_argument("--enterprise", type=float, default=0.5,
                        help="share of enterprise (guest) callers")
    parser.add_argument("--compression", choices=["deflate"], default=None,
                        help="offer permessage-deflate from the clients (default: off)")
    parser.add_argument("--no-overload", action="store_true",
                        help="skip the run at twice the best rate")
    parser.add_argument("--server-root", help="source tree to run the server from")
    parser.add_argument("--redis", action="store_true",
                        help="run the server as a cluster on a throwaway redis-server")
    parser.add_argument("--nodes", default="1",
                        help="with --redis: cluster sizes to run side by side, e.g. 1,3")
    parser.add_argument("--postgres", default="postgres@127.0.0.1:5432",
                        help="with --redis: user@host:port of a PostgreSQL server where "
                        "a throwaway database is made for the nodes")
    parser.add_argument("--pin-server", metavar="CPUS",
                        help="run the server(s) on these CPUs (taskset -c), e.g. 0")
    parser.add_argument("--pin-generator", metavar="CPUS",
                        help="run the agents' process on these CPUs, e.g. 1")
    parser.add_argument("--py-spy", metavar="FILE",
                        help="record a py-spy profile (raw format) of the first server "
                        "during the ramp")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args()
    report = run(args)
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        print_table(report)


if __name__ == "__main__":
    main()
